"""The PATCH engine (RFC 7644 §3.5.2): PatchOp body -> a validated plan -> applied by the caller.

Planning is pure: every operation is parsed and validated, and the new document
computed, before anything touches the database; the caller then writes the document
and runs the member operations inside one transaction, so one bad operation leaves
nothing changed.

Group membership never goes through the document: ``members`` operations become
:class:`MemberOp` values (add these ids, remove these ids, replace all, remove those
matching a filter) that touch only the membership rows they name, whatever the group's
size. Attributes the tenant does not store are accepted and ignored (Entra sends
``emails[type eq "work"].value`` and enterprise-extension paths to every application).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidPathError, InvalidSyntaxError, InvalidValueError, MutabilityError, NoTargetError
from . import filters as ast
from .documents import coerce, resolve_name
from .schema import PATCH_OP_SCHEMA, Attribute, Schema

OPERATIONS = ("add", "replace", "remove")
READ_ONLY = frozenset({"id", "meta", "schemas"})
MAX_OPERATIONS = 1000


@dataclass(frozen=True)
class Operation:
    """One parsed PATCH operation: lower-cased ``op``, the parsed ``path`` and ``value``."""

    op: str
    path: ast.PatchPath | None
    value: Any


@dataclass(frozen=True)
class MemberOp:
    """A change to a group's membership rows.

    ``action`` is ``add``, ``remove`` (the ``members``' ids), ``replace`` (the members
    become exactly ``members``), or ``remove_where`` (members matching ``where``, a
    filter on members). ``members`` maps each user id to the ``display`` the client sent.
    """

    action: str
    members: dict[str, str | None] = field(default_factory=dict)
    where: ast.Filter | None = None

    @property
    def ids(self) -> frozenset[str]:
        """The user ids this operation names."""
        return frozenset(self.members)


@dataclass
class PatchPlan:
    """What a PATCH request will do: the new document and the member operations, in order."""

    document: dict
    member_ops: list[MemberOp] = field(default_factory=list)
    changed: bool = False


def parse_request(body: Any) -> list[Operation]:
    """Validate a PatchOp message and parse its operations (no side effects)."""
    if not isinstance(body, dict):
        raise InvalidSyntaxError("A PATCH body must be a JSON object (a PatchOp message).")
    schemas = body.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or PATCH_OP_SCHEMA.lower() not in {str(s).lower() for s in schemas}
    ):
        raise InvalidSyntaxError(f"A PATCH body's schemas must contain {PATCH_OP_SCHEMA}.")
    operations = _case_insensitive(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntaxError("A PATCH body needs a non-empty 'Operations' array.")
    if len(operations) > MAX_OPERATIONS:
        raise InvalidSyntaxError(f"A PATCH body may carry at most {MAX_OPERATIONS} operations.")
    return [_parse_operation(index, item) for index, item in enumerate(operations)]


def _case_insensitive(mapping: dict, key: str) -> Any:
    for candidate, value in mapping.items():
        if isinstance(candidate, str) and candidate.lower() == key.lower():
            return value
    return None


def _parse_operation(index: int, item: Any) -> Operation:
    if not isinstance(item, dict):
        raise InvalidSyntaxError(f"Operation {index} must be a JSON object.")
    op = _case_insensitive(item, "op")
    if not isinstance(op, str) or op.lower() not in OPERATIONS:
        raise InvalidSyntaxError(f"Operation {index}: 'op' must be one of add, replace, remove; got {op!r}.")
    op = op.lower()
    path = _case_insensitive(item, "path")
    value = _case_insensitive(item, "value")
    if path is not None and not isinstance(path, str):
        raise InvalidPathError(f"Operation {index}: 'path' must be a string.")
    parsed = ast.parse_patch_path(path) if path not in (None, "") else None
    if parsed is not None and _names_whole_schema(parsed):
        parsed = None  # "path": "<schema URN>" addresses the whole resource, like no path
    if parsed is None and op == "remove":
        raise NoTargetError(f"Operation {index}: a remove operation needs a 'path'.")
    if parsed is None and not isinstance(value, dict):
        raise InvalidValueError(f"Operation {index}: without a 'path', 'value' must be a JSON object.")
    if op != "remove" and "value" not in {k.lower() for k in item if isinstance(k, str)}:
        raise InvalidValueError(f"Operation {index}: '{op}' needs a 'value'.")
    return Operation(op, parsed, value)


def _names_whole_schema(path: ast.PatchPath) -> bool:
    uri, attr, sub = path.path.key
    return uri is not None and sub is None and path.value_filter is None and f"{uri}:{attr}".startswith(
        "urn:ietf:params:scim:schemas:core:2.0:"
    )


def plan(schema: Schema, document: dict, operations: list[Operation]) -> PatchPlan:
    """Apply ``operations`` to a copy of ``document``; collect member operations."""
    result = PatchPlan(document=copy.deepcopy(document))
    for operation in operations:
        if operation.path is None:
            for key, value in operation.value.items():
                _apply_key(schema, result, operation.op, key, value)
        else:
            _apply_path(schema, result, operation)
    for attribute in schema.attributes:
        if attribute.required and result.document.get(attribute.name) in (None, ""):
            raise InvalidValueError(f"'{attribute.name}' is required and cannot be removed or emptied.")
    result.changed = result.changed or result.document != document
    return result


def _apply_key(schema: Schema, result: PatchPlan, op: str, key: str, value: Any) -> None:
    if not isinstance(key, str):
        return
    if key.lower() in READ_ONLY:
        raise MutabilityError(f"'{key}' is read-only and cannot be modified.")
    attribute, sub = resolve_name(schema, key)
    if attribute is None:
        return
    if attribute.name == "members":
        _member_values(result, op, None, value)
    else:
        _set(result.document, attribute, sub, value, op)


def _apply_path(schema: Schema, result: PatchPlan, operation: Operation) -> None:
    target = operation.path
    uri, attr, sub = target.path.key
    if uri is not None and uri != schema.id.lower():
        return  # an extension this tenant does not store
    if attr in READ_ONLY:
        raise MutabilityError(f"'{target.path.attr}' is read-only and cannot be modified.")
    key = target.path.attr if sub is None else f"{target.path.attr}.{target.path.sub_attr}"
    attribute, sub_name = resolve_name(schema, key)
    if attribute is None:
        return
    if attribute.name == "members":
        _member_path(result, operation)
        return
    if target.value_filter is not None:
        raise InvalidPathError(f"'{attribute.name}' is not multi-valued: it cannot take a value filter.")
    if operation.op == "remove":
        _remove(result.document, attribute, sub_name)
    else:
        _set(result.document, attribute, sub_name, operation.value, operation.op)


def _check_writable(attribute: Attribute, label: str) -> None:
    if not attribute.writable:
        raise MutabilityError(f"'{label}' is {attribute.mutability} and cannot be modified.")


def _set(document: dict, attribute: Attribute, sub: str | None, value: Any, op: str) -> None:
    if sub is not None:
        child = attribute.child(sub)
        _check_writable(child, f"{attribute.name}.{sub}")
        nested = dict(document.get(attribute.name) or {})
        coerced = coerce(child, value, label=f"{attribute.name}.{sub}")
        if coerced is None:
            nested.pop(child.name, None)
        else:
            nested[child.name] = coerced
        _store(document, attribute.name, nested)
        return
    _check_writable(attribute, attribute.name)
    coerced = coerce(attribute, value)
    if attribute.is_complex and not attribute.multi_valued and coerced is not None:
        # RFC 7644 §3.5.2.1/3: sub-attributes not given are left unchanged.
        coerced = {**(document.get(attribute.name) or {}), **coerced}
        coerced = {k: v for k, v in coerced.items() if v is not None}
    if attribute.multi_valued and op == "add" and coerced is not None:
        existing = list(document.get(attribute.name) or [])
        coerced = existing + [item for item in coerced if item not in existing]
    _store(document, attribute.name, coerced)


def _store(document: dict, name: str, value: Any) -> None:
    if value in (None, {}, []):
        document.pop(name, None)
    else:
        document[name] = value


def _remove(document: dict, attribute: Attribute, sub: str | None) -> None:
    if sub is not None:
        child = attribute.child(sub)
        _check_writable(child, f"{attribute.name}.{sub}")
        nested = dict(document.get(attribute.name) or {})
        nested.pop(child.name, None)
        _store(document, attribute.name, nested)
        return
    _check_writable(attribute, attribute.name)
    document.pop(attribute.name, None)


def member_values(value: Any) -> dict[str, str | None]:
    """``{user id: display}`` of a ``members`` value (one member object or a list of them)."""
    items = value if isinstance(value, list) else [value]
    members: dict[str, str | None] = {}
    for item in items:
        member = item.get("value") if isinstance(item, dict) else None
        if member is None and isinstance(item, dict):
            member = _case_insensitive(item, "value")
        if not isinstance(member, str) or not member:
            raise InvalidValueError("Each member must be an object with a string 'value' (the member's id).")
        member_type = _case_insensitive(item, "type")
        if isinstance(member_type, str) and member_type.lower() == "group":
            raise InvalidValueError("Nested groups are not supported: members must be users.")
        if len(member) > 255:
            raise InvalidValueError("A member value is longer than 255 characters.")
        display = _case_insensitive(item, "display")
        members[member] = display if isinstance(display, str) and display else None
    return members


def _member_values(result: PatchPlan, op: str, where: ast.Filter | None, value: Any) -> None:
    if op == "add":
        result.member_ops.append(MemberOp("add", member_values(value)))
    elif op == "replace":
        if where is not None:
            result.member_ops.append(MemberOp("remove_where", where=where))
            result.member_ops.append(MemberOp("add", member_values(value)))
        else:
            result.member_ops.append(MemberOp("replace", member_values(value) if value is not None else {}))
    elif where is not None:
        ids = _ids_from_filter(where)
        result.member_ops.append(
            MemberOp("remove", dict.fromkeys(ids)) if ids is not None else MemberOp("remove_where", where=where)
        )
    elif value is not None and value != []:
        # Entra: {"op": "Remove", "path": "members", "value": [{"value": "<id>"}]} removes only those.
        result.member_ops.append(MemberOp("remove", member_values(value)))
    else:
        result.member_ops.append(MemberOp("replace", {}))


def _member_path(result: PatchPlan, operation: Operation) -> None:
    target = operation.path
    if target.path.sub_attr is not None or target.sub_attr is not None:
        if operation.op != "remove":
            raise MutabilityError("Member sub-attributes are immutable: add or remove whole members instead.")
    _member_values(result, operation.op, target.value_filter, operation.value)


def _ids_from_filter(node: ast.Filter) -> frozenset[str] | None:
    """The member ids a ``value eq "x" [or value eq "y" ...]`` filter names, else ``None``."""
    if isinstance(node, ast.Or):
        left, right = _ids_from_filter(node.left), _ids_from_filter(node.right)
        return None if left is None or right is None else left | right
    if (
        isinstance(node, ast.Compare)
        and node.op == "eq"
        and node.path.key[1:] == ("value", None)
        and isinstance(node.value, str)
    ):
        return frozenset({node.value})
    return None
