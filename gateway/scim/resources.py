"""The two SCIM resource types and how each maps to its table.

A :class:`ResourceKind` ties a schema to its repository and to a column map: which SCIM
attribute path is stored in which column. Rendering (row -> SCIM JSON) and storing
(canonical document -> columns) both read that one map, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from peewee import fn

from tenants.clock import isoformat
from tenants.models import Group, Membership, User
from tenants.repositories import GroupRepository, UserRepository

from .catalog import ENTERPRISE_USER_CATALOG, GROUP_CATALOG, USER_CATALOG
from .filter_sql import Column, FilterTarget
from .schema import ResourceSchema


@dataclass(frozen=True)
class ResourceKind:
    """One resource type (RFC 7643 §6): its schema, storage and column map."""

    name: str
    endpoint: str
    catalog: ResourceSchema
    repository: type
    columns: dict[str, str]  # SCIM path ("name.givenName") -> model column; the rest go to ``extra``
    filter_target: FilterTarget = field(repr=False)
    # Attributes a PUT that omits them leaves as they are (a PUT never re-enables a user).
    kept_on_replace: tuple[str, ...] = ()

    @property
    def has_members(self) -> bool:
        """True for resource types with a ``members`` attribute (Groups)."""
        return self.catalog.core.attribute("members") is not None

    def to_columns(self, document: dict) -> dict[str, Any]:
        """Column values for a canonical document; paths absent from it become NULL.

        Attributes without a column of their own are kept in ``extra`` (JSON).
        """
        values = {}
        extra = {key: (dict(value) if isinstance(value, dict) else value) for key, value in document.items()}
        for path, column in self.columns.items():
            head, _, sub = path.partition(".")
            value = document.get(head)
            if sub:
                value = (value or {}).get(sub)
                nested = extra.get(head)
                if isinstance(nested, dict):
                    nested.pop(sub, None)
                    if not nested:
                        extra.pop(head)
            else:
                extra.pop(head, None)
            values[column] = value
        values["extra"] = extra
        return values

    def to_document(self, row) -> dict:
        """The canonical document of a stored row (unassigned attributes omitted)."""
        document: dict[str, Any] = {}
        for key, value in (row.extra or {}).items():
            document[key] = dict(value) if isinstance(value, dict) else value
        for path, column in self.columns.items():
            value = getattr(row, column)
            if value is None:
                continue
            head, _, sub = path.partition(".")
            if sub:
                document.setdefault(head, {})[sub] = value
            else:
                document[head] = value
        return document

    def location(self, base_url: str, resource_id: str) -> str:
        """The resource's absolute URL: ``meta.location`` and the 201's ``Location``."""
        return f"{base_url}/{self.endpoint}/{resource_id}"

    def render(self, row, base_url: str, members: list[tuple[str, str]] | None = None) -> dict:
        """The SCIM representation of ``row``; ``members`` as ``(user id, display)`` pairs."""
        document = self.to_document(row)
        extensions = [schema.id for schema in self.catalog.extensions if schema.id in document]
        extensions += [key for key in document if key.startswith("urn:") and key not in extensions]
        resource: dict[str, Any] = {"schemas": [self.catalog.core.id, *extensions], "id": row.id}
        resource.update(document)
        if members is not None:
            resource["members"] = [
                {"value": user_id, "$ref": f"{base_url}/Users/{user_id}", "display": user_name, "type": "User"}
                for user_id, user_name in members
            ]
        resource["meta"] = {
            "resourceType": self.name,
            "created": isoformat(row.created),
            "lastModified": isoformat(row.last_modified),
            "location": self.location(base_url, row.id),
            "version": etag(row),
        }
        return resource


def etag(row) -> str:
    """The weak entity tag of a row's current version, e.g. ``W/"3"``."""
    return f'W/"{row.version}"'


def _common_columns(model) -> dict[tuple[str, str | None], Column]:
    return {
        ("id", None): Column(model.id),
        ("externalid", None): Column(model.external_id),
        ("meta", "created"): Column(model.created, "datetime"),
        ("meta", "lastmodified"): Column(model.last_modified, "datetime"),
    }


def _group_member_condition(condition):
    members = Membership.select(Membership.group).join(User, on=(Membership.user == User.id)).where(condition)
    return Group.id.in_(members)


USERS = ResourceKind(
    name="User",
    endpoint="Users",
    catalog=ResourceSchema(USER_CATALOG, (ENTERPRISE_USER_CATALOG,)),
    repository=UserRepository,
    columns={
        "userName": "user_name",
        "name.givenName": "given_name",
        "name.familyName": "family_name",
        "externalId": "external_id",
        "active": "active",
    },
    kept_on_replace=("active",),
    filter_target=FilterTarget(
        schemas=frozenset({USER_CATALOG.id.lower()}),
        columns={
            **_common_columns(User),
            ("username", None): Column(User.user_name_key, "folded"),
            ("name", "givenname"): Column(User.given_name, "text"),
            ("name", "familyname"): Column(User.family_name, "text"),
            ("active", None): Column(User.active, "boolean"),
        },
    ),
)

_MEMBER_VALUE = Column(Membership.user, "exact", related=_group_member_condition)

GROUPS = ResourceKind(
    name="Group",
    endpoint="Groups",
    catalog=ResourceSchema(GROUP_CATALOG),
    repository=GroupRepository,
    columns={"displayName": "display_name", "externalId": "external_id"},
    filter_target=FilterTarget(
        schemas=frozenset({GROUP_CATALOG.id.lower()}),
        columns={
            **_common_columns(Group),
            ("displayname", None): Column(Group.display_name_key, "folded"),
            ("members", None): _MEMBER_VALUE,
            ("members", "value"): _MEMBER_VALUE,
            ("members", "display"): Column(fn.COALESCE(Membership.display, User.user_name), "text",
                                           related=_group_member_condition),
        },
    ),
)

KINDS = {kind.endpoint: kind for kind in (USERS, GROUPS)}


def kind_named(name: str) -> ResourceKind | None:
    """The resource kind whose ResourceType name is ``name`` (``User``, ``Group``), or ``None``."""
    return next((kind for kind in KINDS.values() if kind.name == name), None)
