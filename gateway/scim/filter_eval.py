"""Evaluate a SCIM filter against one value of a multi-valued attribute, in Python.

Used only inside a PATCH value path (``emails[type eq "work"]``) on the values of one
resource: a bounded list, never a table. Resource filters compile to SQL instead
(:mod:`gateway.scim.filter_sql`). String comparisons follow the sub-attribute's
``caseExact``.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidFilterError
from . import filters as ast
from .schema import Attribute


def _value(item: dict, attribute: Attribute, path: ast.AttrPath) -> tuple[Attribute | None, Any]:
    name = path.attr if path.sub_attr is None else None
    sub = attribute.child(name) if name else None
    if sub is None:
        return None, None
    return sub, item.get(sub.name)


def _compare(sub: Attribute, actual: Any, op: str, expected: Any) -> bool:
    if actual is None:
        return op == "ne" and expected is not None
    if isinstance(actual, bool) or isinstance(expected, bool):
        if op not in ("eq", "ne"):
            raise InvalidFilterError(f"Operator '{op}' is not defined for the boolean '{sub.name}'.")
        return (actual == expected) == (op == "eq")
    if isinstance(actual, str) and isinstance(expected, str):
        if not sub.case_exact:
            actual, expected = actual.lower(), expected.lower()
        checks = {
            "eq": actual == expected, "ne": actual != expected, "co": expected in actual,
            "sw": actual.startswith(expected), "ew": actual.endswith(expected),
            "gt": actual > expected, "ge": actual >= expected, "lt": actual < expected, "le": actual <= expected,
        }
        return checks[op]
    return op == "ne"


def matches(node: ast.Filter, item: Any, attribute: Attribute) -> bool:
    """True if the value ``item`` of multi-valued ``attribute`` satisfies ``node``."""
    if not isinstance(item, dict):
        return False
    if isinstance(node, ast.And):
        return matches(node.left, item, attribute) and matches(node.right, item, attribute)
    if isinstance(node, ast.Or):
        return matches(node.left, item, attribute) or matches(node.right, item, attribute)
    if isinstance(node, ast.Not):
        return not matches(node.expr, item, attribute)
    if isinstance(node, ast.ValuePath):
        raise InvalidFilterError("Value filters cannot be nested.")
    sub, actual = _value(item, attribute, node.path)
    if sub is None:
        return False
    if isinstance(node, ast.Present):
        return actual not in (None, "", [], {})
    return _compare(sub, actual, node.op, node.value)


def template(node: ast.Filter, attribute: Attribute) -> dict | None:
    """The value a filter of ``sub eq "literal"`` terms (joined by ``and``) describes, else None.

    Entra sends ``emails[type eq "work"].value`` with add or replace even when the user
    has no work email yet; the new value is then built from the filter.
    """
    if isinstance(node, ast.And):
        left, right = template(node.left, attribute), template(node.right, attribute)
        return None if left is None or right is None else {**left, **right}
    if isinstance(node, ast.Compare) and node.op == "eq" and node.path.sub_attr is None:
        sub = attribute.child(node.path.attr)
        if sub is not None and node.value is not None:
            return {sub.name: node.value}
    return None
