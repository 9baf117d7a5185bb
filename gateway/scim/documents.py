"""Inbound SCIM JSON -> a canonical document of the attributes a schema defines.

A *document* is a plain dict keyed by the schema's canonical attribute names
(``userName``, ``name`` -> ``{"givenName": ...}``), holding only attributes the schema
defines, with values coerced to their declared types. Everything else a client sends
(``emails``, enterprise extension attributes, custom extensions) is disregarded without
error, as the product promises. Client dialects are absorbed here, once:

* attribute names in any case (RFC 7643 §2.1);
* URN-qualified keys (``urn:...:core:2.0:User:userName``) and Entra's dotted keys
  (``"name.givenName": "Ann"``);
* booleans sent as the strings ``"True"``/``"False"`` (Entra).
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidValueError
from .schema import EXTERNAL_ID, Attribute, Schema, find

MAX_STRING_LENGTH = 255
IGNORED_ON_WRITE = frozenset({"schemas", "id", "meta"})


def coerce(attribute: Attribute, value: Any, *, label: str | None = None) -> Any:
    """``value`` converted to ``attribute``'s type, or :class:`InvalidValueError`.

    ``None`` stays ``None`` (RFC 7643 §2.5: null is "unassigned"). Multi-valued attributes
    accept a single value as a one-element list.
    """
    label = label or attribute.name
    if value is None:
        return None
    if attribute.multi_valued:
        items = value if isinstance(value, list) else [value]
        single = Attribute(**{**attribute.__dict__, "multi_valued": False})
        return [coerce(single, item, label=label) for item in items if item is not None]
    if attribute.is_complex:
        if not isinstance(value, dict):
            raise InvalidValueError(f"Attribute '{label}' must be a JSON object.")
        return _complex(attribute.sub_attributes, value, label)
    if attribute.type == "boolean":
        return _boolean(value, label)
    if attribute.type in ("string", "reference", "dateTime", "binary"):
        if not isinstance(value, str):
            raise InvalidValueError(f"Attribute '{label}' must be a string, got {type(value).__name__}.")
        if "\x00" in value:
            raise InvalidValueError(f"Attribute '{label}' must not contain NUL characters.")
        if len(value) > MAX_STRING_LENGTH:
            raise InvalidValueError(
                f"Attribute '{label}' is {len(value)} characters long; the limit is {MAX_STRING_LENGTH}."
            )
        return value
    if attribute.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueError(f"Attribute '{label}' must be an integer.")
        return value
    return value


def _boolean(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidValueError(f"Attribute '{label}' must be a boolean (true or false), got {value!r}.")


def _complex(sub_attributes: tuple[Attribute, ...], value: dict, label: str) -> dict:
    result = {}
    for key, item in value.items():
        sub = find(sub_attributes, key)
        if sub is not None:
            result[sub.name] = coerce(sub, item, label=f"{label}.{sub.name}")
    return result


def resolve_name(schema: Schema, key: str) -> tuple[Attribute | None, str | None]:
    """Map a request key to ``(top-level attribute, sub-attribute name)``.

    Accepts ``userName``, ``name.givenName``, ``urn:...:User:name.givenName`` and
    ``externalId``, in any case. Returns ``(None, None)`` for anything this schema does
    not store (the caller disregards it).
    """
    prefix = schema.id.lower() + ":"
    if key.lower().startswith(prefix):
        key = key[len(prefix):]
    elif key.lower().startswith("urn:"):
        return None, None
    head, _, sub = key.partition(".")
    attribute = EXTERNAL_ID if head.lower() == "externalid" else schema.attribute(head)
    if attribute is None:
        return None, None
    if sub:
        child = attribute.child(sub)
        if child is None:
            return None, None
        return attribute, child.name
    return attribute, None


def document(schema: Schema, body: dict) -> dict:
    """The canonical document of a POST/PUT body (see the module docstring).

    ``schemas``, ``id`` and ``meta`` are ignored (they are the server's to set).
    """
    result: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str) or key.lower() in IGNORED_ON_WRITE:
            continue
        attribute, sub = resolve_name(schema, key)
        if attribute is None:
            continue
        if sub is None:
            result[attribute.name] = coerce(attribute, value)
        else:
            child = attribute.child(sub)
            nested = result.setdefault(attribute.name, {}) or {}
            nested[sub] = coerce(child, value, label=f"{attribute.name}.{sub}")
            result[attribute.name] = nested
    return result
