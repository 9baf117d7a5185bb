"""Compile a parsed SCIM filter (:mod:`gateway.scim.filters`) into a peewee expression.

An explicit map from attribute path to :class:`Column` drives the compiler; values stay
apart from SQL (peewee binds them). Case handling follows each attribute's
``caseExact``: folded columns (userName, displayName) compare against
:func:`tenants.keys.fold` of the value and so use the per-tenant UNIQUE index; case-exact
columns (id, externalId) compare as sent; other strings compare through ``LOWER``.
``LIKE`` is case-sensitive on both databases (SQLite gets ``case_sensitive_like``), and
its wildcards in values are escaped.

A filter on an attribute this tenant does not store matches nothing rather than failing
(Entra and other clients probe with such filters); ``and``/``or``/``not`` keep their
meaning because the unknown comparison compiles to FALSE, never to "dropped", so an
unknown attribute can never widen a result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from peewee import SQL, Expression, Field, Node, NodeList, Value, fn

from tenants.db import is_sqlite
from tenants.keys import fold

from ..errors import InvalidFilterError
from . import filters as ast

if TYPE_CHECKING:
    from .filter_json import ExtraAttributes

FALSE = SQL("(1 = 0)")
TRUE = SQL("(1 = 1)")
ORDERING = ("gt", "ge", "lt", "le")


@dataclass(frozen=True)
class Column:
    """How one SCIM attribute path maps to SQL.

    ``kind``: ``folded`` (compare against the folded-key column), ``exact`` (as sent),
    ``text`` (case-insensitive through LOWER), ``boolean`` or ``datetime``.
    ``related`` marks a multi-valued attribute kept in another table (group
    ``members``): it receives the compiled condition on that table and returns the
    condition on the resource (an ``IN (subquery)``).
    """

    field: Field | None
    kind: str = "exact"
    related: Callable[[Expression], Expression] | None = None


ColumnMap = Mapping[tuple[str, str | None], Column]


@dataclass(frozen=True)
class FilterTarget:
    """What a filter can address on one resource type: its schema URNs and columns.

    ``columns`` is keyed by lower-cased ``(attribute, sub-attribute or None)``.
    """

    schemas: frozenset[str]
    columns: ColumnMap
    extra: "ExtraAttributes | None" = None  # a tenant's attributes kept in JSON (filter_json)

    def column(self, path: ast.AttrPath, prefix: tuple[str | None, str] | None = None) -> Column | None:
        """The column ``path`` names (inside the value path ``prefix`` if given), or ``None``."""
        uri, attr, sub = path.key
        if prefix is not None:
            (uri, attr), sub = prefix, attr
        core = uri is None or uri in self.schemas
        column = self.columns.get((attr, sub)) if core else None
        has_columns = core and any(name == attr for name, _ in self.columns)
        if column is None and self.extra is not None and not (has_columns and sub is None):
            if prefix is not None and self.extra.is_multi_valued(uri, attr):
                return self.extra.element_column(uri, attr, sub)
            column = self.extra.column(uri, attr, sub)
        return column


def _like(field, op: str, value: str) -> Expression:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = {"co": f"%{escaped}%", "sw": f"{escaped}%", "ew": f"%{escaped}"}[op]
    return NodeList((field, SQL("LIKE"), Value(pattern), SQL("ESCAPE '\\'")))


def _datetime(value, label: str) -> dt.datetime:
    if not isinstance(value, str):
        raise InvalidFilterError(f"'{label}' is a dateTime: compare it with a quoted RFC 3339 date.")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise InvalidFilterError(f"{value!r} is not an RFC 3339 dateTime (comparing '{label}').") from None
    return parsed


def bytewise(field):
    """``field`` compared and sorted by code point on both engines.

    SQLite compares text with BINARY; PostgreSQL would use the database's linguistic
    collation, so gt/lt and sortBy would answer differently: ``COLLATE "C"`` aligns them.
    """
    return field if is_sqlite() else NodeList((field, SQL('COLLATE "C"')))


def _ordered(field, op: str, value) -> Expression:
    if op == "eq":
        return field == value
    field = bytewise(field) if isinstance(value, str) else field
    return {"gt": field > value, "ge": field >= value, "lt": field < value, "le": field <= value}[op]


def compare(column: Column, op: str, value, label: str) -> Expression:
    """The SQL condition for ``<attribute> <op> <value>`` on one column."""
    field = column.field
    if value is None:
        if op == "eq":
            return field.is_null()
        if op == "ne":
            return field.is_null(False)
        raise InvalidFilterError(f"Operator '{op}' cannot compare '{label}' with null.")
    if column.kind == "complex":
        raise InvalidFilterError(f"'{label}' is a complex attribute: compare one of its sub-attributes.")
    if column.kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidFilterError(f"'{label}' is a boolean: compare it with true or false.")
        if op in ("eq", "ne"):
            return (field == value) if op == "eq" else ((field != value) | field.is_null())
        raise InvalidFilterError(f"Operator '{op}' is not defined for the boolean '{label}'.")
    if column.kind == "datetime":
        if op in ("co", "sw", "ew"):
            raise InvalidFilterError(f"Operator '{op}' is not defined for the dateTime '{label}'.")
        when = _datetime(value, label)
        return (field != when) if op == "ne" else _ordered(field, op, when)
    if not isinstance(value, str):
        raise InvalidFilterError(f"'{label}' is a string: compare it with a quoted value.")
    if "\x00" in value:
        raise InvalidFilterError("Filter values must not contain NUL characters.")
    if column.kind == "folded":
        value = fold(value)
    elif column.kind == "text":
        field, value = fn.LOWER(field), value.lower()
    if op == "ne":
        return (field != value) | column.field.is_null()
    if op in ("co", "sw", "ew"):
        return _like(field, op, value)
    return _ordered(field, op, value)


def present(column: Column) -> Expression:
    """The SQL condition for ``<attribute> pr``: has a non-empty value."""
    if column.kind in ("boolean", "datetime", "complex"):
        return column.field.is_null(False)
    return column.field.is_null(False) & (column.field != "")


def compile_filter(node: ast.Filter, target: FilterTarget, *, prefix: tuple[str | None, str] | None = None,
                   wrap: bool = True) -> Expression:
    """The peewee condition equivalent to ``node`` over ``target``'s columns.

    ``prefix`` compiles the inside of a value path (``members[value eq "x"]`` is
    ``members.value eq "x"``); there, ``wrap`` is False and the whole inner condition is
    put in one ``IN``/``EXISTS`` by the caller, so every term holds for the same value.

    Multi-valued attributes match when one of their values does: an attribute with no
    values matches no comparison, ``ne`` included. A single-valued attribute without a
    value matches ``ne`` and ``not (...)`` (RFC 7643 §2.5: unassigned).
    """
    def again(child):
        return compile_filter(child, target, prefix=prefix, wrap=wrap)

    if isinstance(node, ast.And):
        return again(node.left) & again(node.right)
    if isinstance(node, ast.Or):
        return again(node.left) | again(node.right)
    if isinstance(node, ast.Not):
        # SQL's NULL would make "not" drop rows lacking the attribute; RFC 7644 keeps them.
        return ~fn.COALESCE(again(node.expr), False)
    if isinstance(node, ast.ValuePath):
        if prefix is not None:
            raise InvalidFilterError("Value filters cannot be nested.")
        uri, attr, _ = node.path.key
        inner = compile_filter(node.filter, target, prefix=(uri, attr), wrap=False)
        holder = target.column(ast.AttrPath(uri=None, attr=attr, sub_attr="value")) \
            if uri is None or uri in target.schemas else None
        if holder is not None and holder.related is not None:
            return holder.related(inner)
        if target.extra is not None and target.extra.is_multi_valued(uri, attr):
            return target.extra.exists(target.extra.keys(uri, attr), inner)
        return inner
    column = target.column(node.path, prefix)
    if column is None:
        return _complex_present(node, target) if isinstance(node, ast.Present) else FALSE
    label = node.path.attr if prefix is None else f"{prefix[1]}.{node.path.attr}"
    if isinstance(node, ast.Present):
        condition = present(column)
    else:
        condition = compare(column, node.op, node.value, label)
    return column.related(condition) if column.related is not None and wrap else condition


def _has_own_index(field) -> bool:
    """True if an equality on ``field`` finds its rows through an index that starts with it
    (a primary or unique key, an indexed foreign key) or with the tenant and it (the
    models' ``Meta.indexes``, which the migrations keep in step)."""
    if not isinstance(field, Field):
        return False
    if field.primary_key or field.unique or field.index:
        return True
    return any(not isinstance(index, Node) and tuple(index[0]) == ("tenant", field.name)
               for index in field.model._meta.indexes)


def selective(node: ast.Filter, target: FilterTarget, prefix: tuple[str | None, str] | None = None) -> bool:
    """True if ``node`` pins its rows with ``eq`` on an attribute that has an index of its own.

    ``externalId eq "x"``, ``id eq``, ``userName eq``, ``displayName eq``, ``members.value eq``
    (and an ``and`` holding one, or an ``or`` of them) match a handful of rows whatever the
    tenant's size. The list query then lets that index find them
    (:meth:`tenants.repositories._Repository.page`), rather than the paging index.
    """
    if isinstance(node, ast.And):
        return selective(node.left, target, prefix) or selective(node.right, target, prefix)
    if isinstance(node, ast.Or):
        return selective(node.left, target, prefix) and selective(node.right, target, prefix)
    if isinstance(node, ast.ValuePath):
        uri, attr, _ = node.path.key
        return prefix is None and selective(node.filter, target, prefix=(uri, attr))
    if not isinstance(node, ast.Compare) or node.op != "eq" or node.value is None:
        return False
    column = target.column(node.path, prefix)
    return column is not None and column.kind in ("exact", "folded") and _has_own_index(column.field)


def _complex_present(node: ast.Present, target: FilterTarget) -> Expression:
    """``name pr``: a complex attribute is present when one of its sub-attributes is."""
    uri, attr, sub = node.path.key
    if sub is not None or (uri is not None and uri not in target.schemas):
        return FALSE
    parts = [present(column) for (name, part), column in target.columns.items()
             if name == attr and part is not None and column.related is None]
    in_json = target.extra.column(uri, attr, None) if target.extra is not None else None
    if in_json is not None and in_json.kind == "complex":
        parts.append(present(in_json))  # sub-attributes kept in JSON (name.formatted...)
    condition = FALSE
    for part in parts:
        condition = condition | part
    return condition
