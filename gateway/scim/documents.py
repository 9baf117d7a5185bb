"""Inbound SCIM JSON -> a canonical document; documents -> what a schema set keeps.

A *document* is a plain dict keyed by canonical attribute names (``userName``, ``name``
-> ``{"givenName": ...}``), extension attributes nested under their schema URN as in
SCIM JSON, holding only attributes the schema set defines, with values coerced to their
declared types. Client dialects are absorbed here, once:

* attribute names in any case (RFC 7643 §2.1);
* URN-qualified keys (``urn:...:core:2.0:User:userName``) and Entra's dotted keys
  (``"name.givenName": "Ann"``);
* booleans sent as the strings ``"True"``/``"False"`` (Entra);
* ``null`` meaning "unassigned" (RFC 7643 §2.5).

Limits are checked here too, before anything is stored: a multi-valued attribute holds
at most ``MAX_VALUES_PER_ATTRIBUTE`` values (``members``: ``MAX_MEMBERS_PER_REQUEST``, a
413), a string at most its attribute's fixed length or ``MAX_STRING_LENGTH`` characters,
never NUL or a lone surrogate (neither can be stored), and userName and group
displayName only the names :mod:`tenants.keys` accepts.
"""

from __future__ import annotations

from typing import Any

from tenants.keys import UnsafeName, check_free_form, check_identifier

from ..errors import InvalidValueError, PayloadTooLargeError
from ..flask_app import app_config
from .schema import Attribute, ResourceSchema, Schema

PROFILES = {"identifier": check_identifier, "free-form": check_free_form}
IGNORED_ON_WRITE = frozenset({"schemas", "id", "meta"})


def coerce(attribute: Attribute, value: Any, *, label: str | None = None) -> Any:
    """``value`` converted to ``attribute``'s type, or :class:`InvalidValueError`.

    ``None`` stays ``None``. Multi-valued attributes accept a single value as a
    one-element list.
    """
    label = label or attribute.name
    if value is None:
        return None
    if attribute.multi_valued:
        items = value if isinstance(value, list) else [value]
        if attribute.name == "members":
            check_member_count(len(items))
        else:
            check_value_count(label, len(items))
        single = attribute.single_valued
        return [coerce(single, item, label=label) for item in items if item is not None]
    if attribute.is_complex:
        if not isinstance(value, dict):
            raise InvalidValueError(f"Attribute '{label}' must be a JSON object.")
        return _complex(attribute, value, label)
    if attribute.type == "boolean":
        return _boolean(value, label)
    if attribute.type in ("string", "reference", "dateTime", "binary"):
        return _string(attribute, value, label)
    if attribute.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueError(f"Attribute '{label}' must be an integer.")
        return value
    return value


def check_value_count(label: str, count: int) -> None:
    """400 ``invalidValue`` when a multi-valued attribute holds more than ``MAX_VALUES_PER_ATTRIBUTE``."""
    limit = app_config()["MAX_VALUES_PER_ATTRIBUTE"]
    if count > limit:
        raise InvalidValueError(f"Attribute '{label}' has {count} values; the limit is {limit}.")


def check_member_count(count: int) -> None:
    """413 when one request names more than ``MAX_MEMBERS_PER_REQUEST`` members."""
    limit = app_config()["MAX_MEMBERS_PER_REQUEST"]
    if count > limit:
        raise PayloadTooLargeError(
            f"The request names {count} members; at most {limit} are accepted in one request "
            "(MAX_MEMBERS_PER_REQUEST): send larger changes in several PATCH requests."
        )


def text(value: str, label: str, max_length: int | None = None) -> str:
    """``value`` if it can be stored as text: no NUL, no lone surrogate, not too long."""
    limit = app_config()["MAX_STRING_LENGTH"]
    if max_length is not None:
        limit = min(limit, max_length)
    if len(value) > limit:
        raise InvalidValueError(f"Attribute '{label}' is {len(value)} characters long; the limit is {limit}.")
    if "\x00" in value:
        raise InvalidValueError(f"Attribute '{label}' must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \\uD800 escapes can produce
        raise InvalidValueError(f"Attribute '{label}' contains a lone UTF-16 surrogate: send valid Unicode text.") \
            from None
    return value


def _string(attribute: Attribute, value: Any, label: str) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(f"Attribute '{label}' must be a string, got {type(value).__name__}.")
    text(value, label, attribute.max_length)
    if attribute.profile is not None:
        try:
            PROFILES[attribute.profile](value)
        except UnsafeName as reason:
            raise InvalidValueError(f"Attribute '{label}' is refused: {reason}.") from None
    return value


def _boolean(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidValueError(f"Attribute '{label}' must be a boolean (true or false), got {value!r}.")


def _complex(attribute: Attribute, value: dict, label: str) -> dict:
    result = {}
    for key, item in value.items():
        sub = attribute.child(key) if isinstance(key, str) else None
        if sub is not None:
            coerced = coerce(sub, item, label=f"{label}.{sub.name}")
            if coerced is not None:
                result[sub.name] = coerced
    return result


def container(document: dict, schema: Schema, core: Schema) -> dict:
    """The dict holding ``schema``'s attributes: the document, or its extension object."""
    if schema is core:
        return document
    return document.setdefault(schema.id, {})


def put(document: dict, schemas: ResourceSchema, key: str, value: Any) -> None:
    """Set one inbound key (any accepted form) in ``document``; unknown keys are disregarded."""
    schema, attribute, sub = schemas.resolve(key)
    if attribute is None:
        return
    target = container(document, schema, schemas.core)
    if sub is None:
        coerced = coerce(attribute, value)
        if attribute.is_complex and not attribute.multi_valued and isinstance(target.get(attribute.name), dict):
            coerced = {**target[attribute.name], **(coerced or {})}
        target[attribute.name] = coerced
    else:
        nested = target.get(attribute.name) if isinstance(target.get(attribute.name), dict) else {}
        nested[sub] = coerce(attribute.child(sub), value, label=f"{attribute.name}.{sub}")
        target[attribute.name] = nested


def document(schemas: ResourceSchema, body: dict) -> dict:
    """The canonical document of a POST/PUT body (see the module docstring).

    ``schemas``, ``id`` and ``meta`` are ignored (they are the server's to set).
    """
    result: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str) or key.lower() in IGNORED_ON_WRITE:
            continue
        extension = schemas.extension(key)
        if extension is not None:
            if not isinstance(value, dict):
                raise InvalidValueError(f"'{key}' must be a JSON object of extension attributes.")
            for name, item in value.items():
                if isinstance(name, str):
                    put(result, schemas, f"{extension.id}:{name}", item)
            continue
        put(result, schemas, key, value)
    return prune(result)


def prune(document: dict) -> dict:
    """``document`` without unassigned values: ``None``, empty objects and empty lists."""
    result = {}
    for key, value in document.items():
        if isinstance(value, dict):
            value = prune(value)
        if value not in (None, {}, []):
            result[key] = value
    return result


def project(document: dict, schemas: ResourceSchema) -> dict:
    """Only the parts of ``document`` that ``schemas`` defines (what a tenant stores)."""
    result: dict[str, Any] = {}
    for key, value in document.items():
        extension = schemas.extension(key)
        if extension is not None and isinstance(value, dict):
            kept = _project_attributes(value, extension)
            if kept:
                result[extension.id] = kept
            continue
        attribute = schemas.core.attribute(key) or (schemas.resolve(key)[1] if key == "externalId" else None)
        if attribute is not None:
            result[attribute.name] = _project_value(attribute, value)
    return prune(result)


def _project_attributes(values: dict, schema: Schema) -> dict:
    return {
        attribute.name: _project_value(attribute, values[key])
        for key in values
        if (attribute := schema.attribute(key)) is not None
    }


def _project_value(attribute: Attribute, value: Any) -> Any:
    if not attribute.is_complex:
        return value
    names = {sub.name for sub in attribute.sub_attributes}
    if attribute.multi_valued and isinstance(value, list):
        return [{k: v for k, v in item.items() if k in names} for item in value if isinstance(item, dict)]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in names}
    return value
