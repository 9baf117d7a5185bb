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

from ..errors import (
    InvalidPathError,
    InvalidSyntaxError,
    InvalidValueError,
    MutabilityError,
    NoTargetError,
    PayloadTooLargeError,
)
from ..flask_app import app_config
from . import filters as ast
from .documents import check_member_count, check_value_count, coerce, container, prune, text
from .filter_eval import matches, template
from .schema import COLUMN_LENGTH, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA, Attribute, ResourceSchema

OPERATIONS = ("add", "replace", "remove")
READ_ONLY = frozenset({"id", "meta", "schemas"})


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
    limit = app_config()["PATCH_MAX_OPERATIONS"]
    if len(operations) > limit:
        raise PayloadTooLargeError(
            f"The PATCH carries {len(operations)} operations; at most {limit} are accepted in one request "
            "(PATCH_MAX_OPERATIONS): split it into several PATCH requests."
        )
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


CORE_SCHEMAS = frozenset({USER_SCHEMA.lower(), GROUP_SCHEMA.lower()})


def _names_whole_schema(path: ast.PatchPath) -> bool:
    """True for a path that is exactly a core schema URN (``urn:...:core:2.0:User``)."""
    uri, attr, sub = path.path.key
    return (uri is not None and sub is None and path.value_filter is None and path.sub_attr is None
            and f"{uri}:{attr}" in CORE_SCHEMAS)


def plan(schemas: ResourceSchema, document: dict, operations: list[Operation],
         resource_id: str | None = None) -> PatchPlan:
    """Apply ``operations`` to a copy of ``document``; collect member operations.

    A path-less value may repeat the resource's own ``id`` (Okta sends it when renaming a
    pushed group); that is accepted and ignored, any other ``id`` is a mutability error.
    """
    result = PatchPlan(document=copy.deepcopy(document))
    for operation in operations:
        if operation.path is None:
            for key, value in operation.value.items():
                if isinstance(key, str) and key.lower() == "id" and value == resource_id:
                    continue
                extension = schemas.extension(key) if isinstance(key, str) else None
                if extension is not None and isinstance(value, dict):
                    for name, item in value.items():
                        _apply_key(schemas, result, operation.op, f"{extension.id}:{name}", item)
                else:
                    _apply_key(schemas, result, operation.op, key, value)
        else:
            _apply_path(schemas, result, operation)
    check_member_count(sum(len(op.members) for op in result.member_ops))
    result.document = prune(result.document)
    for attribute in schemas.core.attributes:
        if attribute.required and result.document.get(attribute.name) in (None, ""):
            raise InvalidValueError(f"'{attribute.name}' is required and cannot be removed or emptied.")
    result.changed = result.changed or result.document != document
    return result


def _apply_key(schemas: ResourceSchema, result: PatchPlan, op: str, key: Any, value: Any) -> None:
    if not isinstance(key, str):
        return
    if key.lower() in READ_ONLY:
        raise MutabilityError(f"'{key}' is read-only and cannot be modified.")
    schema, attribute, sub = schemas.resolve(key)
    if attribute is None:
        return
    if attribute.name == "members":
        _member_values(result, op, None, value)
    else:
        _set(container(result.document, schema, schemas.core), attribute, sub, value, op)


def _path_key(path: ast.AttrPath) -> str:
    key = path.attr if path.sub_attr is None else f"{path.attr}.{path.sub_attr}"
    return f"{path.uri}:{key}" if path.uri else key


def _apply_path(schemas: ResourceSchema, result: PatchPlan, operation: Operation) -> None:
    target = operation.path
    if target.path.key[1] in READ_ONLY and (target.path.uri is None or target.path.uri.lower() == schemas.core.id.lower()):
        raise MutabilityError(f"'{target.path.attr}' is read-only and cannot be modified.")
    schema, attribute, sub = schemas.resolve(_path_key(target.path))
    if attribute is None:
        return  # an attribute this tenant does not store: accepted and disregarded
    if attribute.name == "members":
        _member_path(result, operation)
        return
    holder = container(result.document, schema, schemas.core)
    if target.value_filter is not None:
        if not attribute.multi_valued:
            raise InvalidPathError(f"'{attribute.name}' is not multi-valued: it cannot take a value filter.")
        _apply_filtered(holder, attribute, target.value_filter, target.sub_attr, operation)
    elif attribute.multi_valued and sub is not None:
        _apply_filtered(holder, attribute, None, sub, operation)
    elif operation.op == "remove":
        _remove(holder, attribute, sub)
    else:
        _set(holder, attribute, sub, operation.value, operation.op)


def _apply_filtered(holder: dict, attribute: Attribute, where, sub: str | None, operation: Operation) -> None:
    """add/replace/remove on the values of a multi-valued attribute that match ``where``."""
    child = attribute.child(sub) if sub else None
    if sub and child is None:
        return  # a sub-attribute this tenant does not store
    if child is not None:
        _check_writable(child, f"{attribute.name}.{child.name}")
    items = [dict(item) for item in holder.get(attribute.name) or []]
    hits = [i for i, item in enumerate(items) if where is None or matches(where, item, attribute)]
    if operation.op == "remove":
        if child is None:
            items = [item for i, item in enumerate(items) if i not in hits]
        else:
            for i in hits:
                items[i].pop(child.name, None)
    else:
        single = attribute.single_valued
        if child is not None:
            value = coerce(child, operation.value, label=f"{attribute.name}.{child.name}")
            update = {child.name: value}
        else:
            update = coerce(single, operation.value)
            if update is None:
                raise InvalidValueError(f"'{attribute.name}' values chosen by a filter are replaced by a JSON "
                                        "object, not null: to delete them, use 'remove'.")
        if not hits:
            base = template(where, attribute) if where is not None else None
            if base is None:
                raise NoTargetError(f"No value of '{attribute.name}' matches the path's filter.")
            items.append({**base, **update})
            check_value_count(attribute.name, len(items))
        for i in hits:
            items[i] = {**items[i], **update}
    holder[attribute.name] = [item for item in (prune(item) for item in items) if item]


def _check_writable(attribute: Attribute, label: str) -> None:
    if not attribute.writable:
        raise MutabilityError(f"'{label}' is {attribute.mutability} and cannot be modified.")


def _set(document: dict, attribute: Attribute, sub: str | None, value: Any, op: str) -> None:
    if sub is not None:
        child = attribute.child(sub)
        _check_writable(child, f"{attribute.name}.{sub}")
        nested = dict(document.get(attribute.name) or {})
        nested[child.name] = coerce(child, value, label=f"{attribute.name}.{sub}")
        document[attribute.name] = nested
        return
    _check_writable(attribute, attribute.name)
    coerced = coerce(attribute, value)
    if attribute.is_complex and not attribute.multi_valued and coerced is not None:
        # RFC 7644 §3.5.2.1/3: sub-attributes not given are left unchanged.
        coerced = {**(document.get(attribute.name) or {}), **coerced}
    if attribute.multi_valued and op == "add" and coerced is not None:
        existing = list(document.get(attribute.name) or [])
        coerced = existing + [item for item in coerced if item not in existing]
        check_value_count(attribute.name, len(coerced))
    document[attribute.name] = coerced


def _remove(document: dict, attribute: Attribute, sub: str | None) -> None:
    if sub is not None:
        child = attribute.child(sub)
        _check_writable(child, f"{attribute.name}.{sub}")
        nested = dict(document.get(attribute.name) or {})
        nested.pop(child.name, None)
        document[attribute.name] = nested
        return
    _check_writable(attribute, attribute.name)
    document.pop(attribute.name, None)


def member_values(value: Any) -> dict[str, str | None]:
    """``{user id: display}`` of a ``members`` value (one member object or a list of them)."""
    items = value if isinstance(value, list) else [value]
    check_member_count(len(items))
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
        text(member, "members.value", COLUMN_LENGTH)
        display = _case_insensitive(item, "display")
        if isinstance(display, str):
            text(display, "members.display", COLUMN_LENGTH)
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
        # members.display or members[...].value: never a reason to drop whole members.
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
