"""SCIM schema definitions (RFC 7643 §2, §7) for what this gateway stores and returns.

An :class:`Attribute` carries the characteristics discovery advertises and that the
request parser, the PATCH engine and the filter compiler obey: type, multi-valuedness,
case-exactness, mutability. Attribute names are matched case-insensitively everywhere
(RFC 7643 §2.1), so lookups go through :meth:`Schema.attribute` and :meth:`Attribute.child`.

Definitions are frozen and looked up on every attribute of every request, so what a
lookup derives from one (lower-cased names, the attributes by name) is worked out once
per definition (``functools.cached_property``, kept beside the fields, never compared).
Derive a changed definition with :func:`dataclasses.replace`, which copies fields only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SERVICE_PROVIDER_CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


@dataclass(frozen=True)
class Attribute:
    """One attribute definition with its RFC 7643 §2.2 characteristics."""

    name: str
    type: str = "string"
    description: str = ""
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    sub_attributes: tuple["Attribute", ...] = field(default_factory=tuple)
    reference_types: tuple[str, ...] = ()
    canonical_values: tuple[str, ...] = ()
    #: Longest string value, in characters, when fixed by storage (a database column) or a
    #: standard; ``None``: the gateway-wide ``MAX_STRING_LENGTH``. Shown in the description.
    max_length: int | None = None
    #: Which names a string may hold (:mod:`tenants.keys`): ``"identifier"`` (userName),
    #: ``"free-form"`` (group displayName) or ``None`` (any text without NUL or surrogates).
    profile: str | None = None

    @cached_property
    def key(self) -> str:
        """The lower-cased name used for case-insensitive matching."""
        return self.name.lower()

    @cached_property
    def single_valued(self) -> "Attribute":
        """This attribute as one of its values is: the same, not multi-valued."""
        return replace(self, multi_valued=False) if self.multi_valued else self

    @cached_property
    def _sub_attributes_by_key(self) -> dict[str, "Attribute"]:
        return _by_key(self.sub_attributes)

    @property
    def is_complex(self) -> bool:
        """True for attributes whose values are objects with sub-attributes."""
        return self.type == "complex"

    @property
    def writable(self) -> bool:
        """True if a client may set this attribute."""
        return self.mutability in ("readWrite", "writeOnly", "immutable")

    @property
    def description_text(self) -> str:
        """The description, with the length limit when it is fixed (SCIM has no field for it)."""
        if self.max_length is None:
            return self.description
        return f"{self.description} At most {self.max_length} characters."

    def child(self, name: str) -> "Attribute | None":
        """The sub-attribute called ``name`` (any case), or ``None``."""
        return self._sub_attributes_by_key.get(name.lower())

    def to_scim(self) -> dict:
        """The attribute as it appears in a ``/Schemas`` resource."""
        body = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description_text,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.type == "reference":
            body["referenceTypes"] = list(self.reference_types)
        if self.canonical_values:
            body["canonicalValues"] = list(self.canonical_values)
        if self.sub_attributes:
            body["subAttributes"] = [sub.to_scim() for sub in self.sub_attributes]
        return body


def _by_key(attributes: tuple[Attribute, ...]) -> dict[str, Attribute]:
    """``attributes`` by lower-cased name; of two with one name, the first."""
    found: dict[str, Attribute] = {}
    for attribute in attributes:
        found.setdefault(attribute.key, attribute)
    return found


@dataclass(frozen=True)
class Schema:
    """A SCIM schema: its URN, a name, a description and its attributes."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]

    def attribute(self, name: str) -> Attribute | None:
        """The top-level attribute called ``name`` (any case), or ``None``."""
        return self._attributes_by_key.get(name.lower())

    @cached_property
    def _attributes_by_key(self) -> dict[str, Attribute]:
        return _by_key(self.attributes)

    def to_scim(self, base_url: str) -> dict:
        """The schema as a ``/Schemas/<id>`` resource (RFC 7643 §7)."""
        return {
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [attribute.to_scim() for attribute in self.attributes],
            "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{self.id}"},
        }


#: Width of the database columns that hold userName, externalId, name.givenName,
#: name.familyName, group displayName and member ids: their values' longest length.
COLUMN_LENGTH = 255

EXTERNAL_ID = Attribute(
    "externalId",
    description="An identifier for the resource as defined by the provisioning client.",
    case_exact=True,
    max_length=COLUMN_LENGTH,
)


@dataclass(frozen=True)
class ResourceSchema:
    """A resource type's core schema with its extensions, as one tenant sees them."""

    core: Schema
    extensions: tuple[Schema, ...] = ()

    @cached_property
    def all(self) -> tuple[Schema, ...]:
        """The core schema followed by the extensions."""
        return (self.core, *self.extensions)

    def extension(self, urn: str) -> Schema | None:
        """The extension schema with id ``urn`` (any case), or ``None``."""
        return self._extensions_by_id.get(urn.lower())

    @cached_property
    def _extensions_by_id(self) -> dict[str, Schema]:
        found: dict[str, Schema] = {}
        for schema in self.extensions:
            found.setdefault(schema.id.lower(), schema)
        return found

    @cached_property
    def _prefixes(self) -> tuple[tuple[str, Schema], ...]:
        """Each schema's lower-cased URN with the colon that ends it, in :attr:`all`'s order."""
        return tuple((schema.id.lower() + ":", schema) for schema in self.all)

    def resolve(self, key: str) -> tuple[Schema | None, Attribute | None, str | None]:
        """Map a request key or path to ``(schema, top-level attribute, sub-attribute name)``.

        Accepts ``userName``, ``name.givenName``, ``externalId`` and URN-qualified forms
        (``urn:...:core:2.0:User:userName``, ``urn:...:enterprise:2.0:User:manager.value``),
        in any case. Anything this schema set does not define gives ``(None, None, None)``.
        """
        lowered = key.lower()
        schema = self.core
        for prefix, candidate in self._prefixes:
            if lowered.startswith(prefix):
                schema, key = candidate, key[len(prefix):]
                break
        else:
            if lowered.startswith("urn:"):
                return None, None, None
        head, _, sub = key.partition(".")
        attribute = schema.attribute(head)
        if attribute is None and schema is self.core and head.lower() == "externalid":
            attribute = EXTERNAL_ID
        if attribute is None:
            return None, None, None
        if not sub:
            return schema, attribute, None
        child = attribute.child(sub)
        return (schema, attribute, child.name) if child is not None else (None, None, None)
