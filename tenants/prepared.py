"""Queries whose SQL peewee builds once per database dialect, then runs with new values.

Building SQL is most of peewee's cost on the gateway's hottest paths: in a profile of an
Entra sync, ``Context.sql`` was 37% of a request's CPU, while SQLite ran the statements in
6%. Token authentication and reading one resource by id run the same statement on every
request with other values, so :class:`Prepared` renders it once and binds the values
itself. Rows still come back through peewee's own cursor wrappers (model instances, joins,
tuples), so callers see exactly what the peewee query would have returned.

peewee has no such cache (its SQL is rebuilt from the query tree on every execution), so
this is a small one: the query is built with sentinel values in place of the arguments,
and each sentinel's position in the rendered parameter list says where an argument goes.
Arguments must reach the driver as given: strings, integers or ``None`` compared with
plain columns (a field whose ``db_value`` changes them cannot be prepared, and says so).
"""

from __future__ import annotations

from typing import Any, Callable

from peewee import BaseQuery

from .db import database

_STRING = "\x00prepared-{}\x00"
_INTEGER_BASE = -(2 ** 62)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sentinel(index: int, integer: bool):
    """A value no real argument has: an integer or a string, as the argument is."""
    return _INTEGER_BASE - index if integer else _STRING.format(index)


class Prepared:
    """A query with ``build(*arguments)`` as its shape, rendered once per dialect.

    ``build`` must use each argument as a bound value exactly as given (see the module
    docstring) and return a peewee query; :meth:`cursor` and :meth:`first` run it with
    new arguments. Two threads may render the same template at once: both get the same.
    """

    def __init__(self, build: Callable[..., BaseQuery]):
        self.build = build
        self._cache: dict[tuple, tuple[BaseQuery, str, list]] = {}

    def _template(self, args: tuple) -> tuple[BaseQuery, str, list]:
        kinds = tuple(_is_integer(arg) for arg in args)
        key = (type(database.obj), kinds)
        template = self._cache.get(key)
        if template is None:
            sentinels = [_sentinel(index, integer) for index, integer in enumerate(kinds)]
            query = self.build(*sentinels)
            sql, params = query.sql()
            slots = []  # per rendered parameter: ("arg", index) or ("const", value)
            for param in params:
                index = sentinels.index(param) if param in sentinels else None
                slots.append(("arg", index) if index is not None else ("const", param))
            used = sorted({index for kind, index in slots if kind == "arg"})
            if used != list(range(len(args))):
                raise ValueError(f"{self.build.__qualname__}: every argument must be bound unchanged exactly "
                                 "as given (one was converted or left out).")
            template = self._cache[key] = (query, sql, slots)
        return template

    def cursor(self, *args):
        """Execute with ``args``; the peewee cursor wrapper over the result (iterable, indexable)."""
        query, sql, slots = self._template(args)
        params = [args[value] if kind == "arg" else value for kind, value in slots]
        return query._get_cursor_wrapper(database.execute_sql(sql, params))

    def first(self, *args):
        """The first row for ``args`` (as the query returns rows), or ``None``.

        Every row is read, so the statement is finished: give the query a ``LIMIT 1``.
        """
        rows = list(self.cursor(*args))
        return rows[0] if rows else None
