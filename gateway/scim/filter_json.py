"""Filters on attributes kept in a resource's ``extra`` JSON column, compiled to SQL.

A tenant whose mapping stores more than the dedicated columns (``displayName``,
``emails``, enterprise ``department``...) keeps those attributes in ``extra``. Filters on
them still run in the database, through each engine's JSON functions:

* single-valued: SQLite ``json_extract(extra, '$."a"."b"')``, PostgreSQL
  ``CAST(extra AS jsonb) #>> '{a,b}'``;
* multi-valued (``emails.value co "x"``, ``emails[type eq "work" and value co "x"]``):
  ``EXISTS`` over the array's elements (``json_each`` / ``jsonb_array_elements``), so
  every term of a value filter must hold for the *same* element.

Without an index these scan the tenant's rows (bounded by the tenant index); the
attributes with dedicated, indexed columns are the ones identity providers filter on.
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import SQL, Cast, Expression, Field, NodeList, fn

from tenants.db import is_sqlite

from .filter_sql import Column
from .schema import Attribute, ResourceSchema

ELEMENT = SQL("je.value")


def _kind(attribute: Attribute) -> str:
    if attribute.type == "boolean":
        return "boolean"
    return "exact" if attribute.case_exact else "text"


def _scalar(source, keys: list[str], attribute: Attribute):
    """The value at ``keys`` inside the JSON ``source`` (a column, or an array element)."""
    if is_sqlite():
        return fn.json_extract(source, "$." + ".".join(f'"{key}"' for key in keys))
    if source is ELEMENT:
        value = Expression(ELEMENT, "->>", keys[0])
    else:
        value = Expression(Cast(source, "jsonb"), "#>>", "{" + ",".join(keys) + "}")
    return Cast(value, "boolean") if attribute.type == "boolean" else value


def _elements(extra: Field, keys: list[str]):
    if is_sqlite():
        return fn.json_each(extra, "$." + ".".join(f'"{key}"' for key in keys))
    return fn.jsonb_array_elements(Expression(Cast(extra, "jsonb"), "#>", "{" + ",".join(keys) + "}"))


@dataclass(frozen=True)
class ExtraAttributes:
    """The attributes a tenant stores in ``extra`` for one resource type."""

    extra: Field
    stored: ResourceSchema

    def _locate(self, uri: str | None, attr: str) -> tuple[list[str], Attribute] | None:
        schema = self.stored.core
        if uri is not None:
            schema = self.stored.extension(uri) if uri != self.stored.core.id.lower() else schema
            if schema is None:
                return None
        attribute = schema.attribute(attr)
        if attribute is None:
            return None
        keys = [attribute.name] if schema is self.stored.core else [schema.id, attribute.name]
        return keys, attribute

    def column(self, uri: str | None, attr: str, sub: str | None) -> Column | None:
        """A single-valued attribute (or sub-attribute of a complex one) as a JSON column."""
        located = self._locate(uri, attr)
        if located is None:
            return None
        keys, attribute = located
        if attribute.multi_valued:
            return self.element_column(uri, attr, sub or "value", exists=True)
        if sub is not None:
            child = attribute.child(sub)
            if child is None or not attribute.is_complex:
                return None
            keys, attribute = [*keys, child.name], child
        elif attribute.is_complex:
            return Column(_scalar(self.extra, keys, attribute), "complex")
        return Column(_scalar(self.extra, keys, attribute), _kind(attribute))

    def element_column(self, uri: str | None, attr: str, sub: str, exists: bool = False) -> Column | None:
        """A sub-attribute of the elements of a multi-valued attribute.

        With ``exists`` the column wraps its condition in an EXISTS over the elements
        itself (``emails.value eq "x"``); otherwise the caller wraps a whole value filter
        with :meth:`exists`.
        """
        located = self._locate(uri, attr)
        if located is None or not located[1].multi_valued:
            return None
        keys, attribute = located
        child = attribute.child(sub)
        if child is None:
            return None
        column = Column(_scalar(ELEMENT, [child.name], child), _kind(child))
        if exists:
            return Column(column.field, column.kind, related=lambda condition: self.exists(keys, condition))
        return column

    def is_multi_valued(self, uri: str | None, attr: str) -> bool:
        """True when ``attr`` is a multi-valued attribute kept in ``extra``."""
        located = self._locate(uri, attr)
        return located is not None and located[1].multi_valued

    def keys(self, uri: str | None, attr: str) -> list[str]:
        """The JSON keys leading to ``attr``."""
        return self._locate(uri, attr)[0]

    def exists(self, keys: list[str], condition) -> NodeList:
        """``EXISTS (an element of the array at keys satisfies condition)``."""
        return NodeList((SQL("EXISTS (SELECT 1 FROM"), _elements(self.extra, keys), SQL("AS je WHERE"),
                         condition, SQL(")")))
