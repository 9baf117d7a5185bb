"""Queries whose SQL peewee builds once per database dialect, then runs with new values.

Building SQL is most of peewee's cost on the gateway's hottest paths: in a profile of an
Entra sync, ``Context.sql`` was 37% of a request's CPU, while SQLite ran the statements in
6%. Token authentication and reading one resource by id run the same statement on every
request with other values, so :class:`Prepared` renders it once and binds the values
itself. Rows come back as the driver returns them (tuples in the query's column order);
callers make records or model instances of them (:mod:`tenants.records`), which is also
cheaper than peewee's cursor wrappers.

peewee has no such cache (its SQL is rebuilt from the query tree on every execution), so
this is a small one: the query is built with sentinel values in place of the arguments,
and each sentinel's position in the rendered parameter list says where an argument goes.
Arguments must reach the driver as given: strings, integers or ``None`` compared with
plain columns (a field whose ``db_value`` changes them cannot be prepared, and says so).

An argument may also be a list (``column.in_(ids)``, the rows of an INSERT): its SQL is
built once per *bucket* of lengths (1, 2, 4, ... :data:`MAX_LIST_LENGTH`), and a shorter
list is padded with its last item. A repeated value changes neither an ``IN (...)`` test
nor an ``INSERT ... ON CONFLICT DO NOTHING``, which are what lists are for here; callers
send longer lists in chunks (:func:`chunks`). :class:`PreparedInsert` does the same for
one-row INSERTs (a user, a group, an audit event), whose values it converts itself.
"""

from __future__ import annotations

from typing import Any, Callable

from peewee import BaseQuery, Model, Value

from .db import database, execute_later
from .statements import SERVER_STATEMENTS

_STRING = "\x00prepared-{}\x00"
_INTEGER_BASE = -(2 ** 62)
#: The longest list argument: 512 rows of 3 values stay far below SQLite's 32,766 variables.
MAX_LIST_LENGTH = 512


def chunks(values: list, size: int = MAX_LIST_LENGTH):
    """``values`` in consecutive slices of at most ``size`` items (lists for a prepared query)."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sentinel(index: int, integer: bool):
    """A value no real argument has: an integer or a string, as the argument is."""
    return _INTEGER_BASE - index if integer else _STRING.format(index)


def _bucket(length: int) -> int:
    """The smallest power of two >= ``length``: the list length a template is built for."""
    if not 0 < length <= MAX_LIST_LENGTH:
        raise ValueError(f"A prepared list argument holds 1 to {MAX_LIST_LENGTH} values, not {length}.")
    return 1 << (length - 1).bit_length()


def _kind(arg: Any) -> tuple:
    """What a template depends on for one argument: integer or not, and a list's bucket."""
    if isinstance(arg, list):
        return ("list", _bucket(len(arg)), _is_integer(arg[0]))
    return ("value", _is_integer(arg))


#: :func:`_kind` of the usual scalar arguments, by exact type, without a call per argument.
_SCALAR_KINDS = {type(sample): _kind(sample) for sample in ("", 0, False, None)}


class Prepared:
    """A query with ``build(*arguments)`` as its shape, rendered once per dialect.

    ``build`` must use each argument as a bound value exactly as given (see the module
    docstring) and return a peewee query; :meth:`execute` runs it with new arguments.
    Two threads may render the same template at once: both get the same.

    ``server_side``: on PostgreSQL (unless ``DB_SERVER_PREPARE`` is off) the statement is
    PREPAREd once per pooled connection and run with ``EXECUTE`` (:mod:`tenants.statements`);
    only for statements whose best plan does not depend on the values.
    """

    def __init__(self, build: Callable[..., BaseQuery], server_side: bool = False):
        self.build = build
        self.server_side = server_side
        self._cache: dict[tuple, tuple[BaseQuery, str, list]] = {}

    def _template(self, args: tuple) -> tuple[BaseQuery, str, list]:
        kinds = tuple([_SCALAR_KINDS.get(type(arg)) or _kind(arg) for arg in args])
        key = (type(database.obj), kinds)
        template = self._cache.get(key)
        if template is None:
            where = {}  # sentinel -> (argument index, list position or None)
            arguments = []
            for index, kind in enumerate(kinds):
                if kind[0] == "list":
                    items = [_sentinel(len(where) + position, kind[2]) for position in range(kind[1])]
                    where.update({item: (index, position) for position, item in enumerate(items)})
                    arguments.append(items)
                else:
                    arguments.append(_sentinel(len(where), kind[1]))
                    where[arguments[-1]] = (index, None)
            query = self.build(*arguments)
            sql, params = query.sql()
            # Per rendered parameter: ("arg", (index, position)) or ("const", value).
            slots = [("arg", where[param]) if _hashable(param) and param in where else ("const", param)
                     for param in params]
            if {value for kind, value in slots if kind == "arg"} != set(where.values()):
                raise ValueError(f"{self.build.__qualname__}: every argument must be bound unchanged exactly "
                                 "as given (one was converted or left out).")
            template = self._cache[key] = (query, sql, slots)
        return template

    def execute(self, *args):
        """Execute with ``args``; the driver's own cursor (rows as the driver returns them)."""
        sql, params = self._bound(args)
        if self._on_server():
            return SERVER_STATEMENTS.execute(database.obj, sql, params)
        return database.obj.execute_sql(sql, params)

    def execute_later(self, *args) -> None:
        """Execute with ``args`` as a write whose result is never read: on PostgreSQL inside
        a transaction it goes with the transaction's next statement (:func:`tenants.db.execute_later`)."""
        sql, params = self._bound(args)
        if self._on_server():
            SERVER_STATEMENTS.execute_later(database.obj, sql, params)
        else:
            execute_later(sql, params)

    def _on_server(self) -> bool:
        """True if this statement runs prepared on the server (PostgreSQL, ``server_prepare`` on)."""
        return self.server_side and getattr(database.obj, "server_prepare", False)

    def _bound(self, args: tuple) -> tuple[str, list]:
        _, sql, slots = self._template(args)
        return sql, [_bind(args, value) if kind == "arg" else value for kind, value in slots]


class _PerColumns:
    """One-row statements on ``model`` whose SQL is built once per dialect and set of
    columns; each column's value is converted by its field's ``db_value`` here, as peewee
    would before sending it, and reaches the driver as it is. A one-row statement's plan
    never depends on its values, so they are ``server_side``."""

    def __init__(self, model: type[Model]):
        self.model = model
        self._by_columns: dict[tuple[str, ...], tuple[list, Prepared]] = {}

    def _statement(self, assignments: dict, args: tuple) -> BaseQuery:
        """The query for ``assignments`` ({field: bound value}); ``args`` are every argument."""
        raise NotImplementedError

    def _execute(self, names: tuple[str, ...], values: dict[str, Any], *extra, later: bool = False):
        """Run the statement of columns ``names`` with ``values`` (the model's values by
        field name) and ``extra`` arguments after them; the driver's cursor. ``later``: a
        write whose result is never read (:meth:`Prepared.execute_later`), ``None``."""
        prepared = self._by_columns.get(names)
        if prepared is None:
            fields = [self.model._meta.fields[name] for name in names]
            # Value(..., converter=False): the argument is bound as given, not through db_value again.
            statement = Prepared(lambda *args: self._statement(
                {field: Value(arg, converter=False) for field, arg in zip(fields, args)}, args), server_side=True)
            prepared = self._by_columns[names] = (fields, statement)
        fields, statement = prepared
        arguments = [field.db_value(values[field.name]) for field in fields]
        if later:
            return statement.execute_later(*arguments, *extra)
        return statement.execute(*arguments, *extra)


class PreparedInsert(_PerColumns):
    """One-row INSERTs into ``model`` (see :class:`_PerColumns`); so a JSON field or a
    timestamp can be inserted, which a :class:`Prepared` argument cannot be.

    ``unless_taken``: the fields of a UNIQUE index; a row whose values there are taken is
    not inserted (``ON CONFLICT (...) DO NOTHING``) and :meth:`execute` returns False,
    without an error that on PostgreSQL would abort the transaction. Any other
    constraint still raises.
    """

    def __init__(self, model: type[Model], unless_taken: tuple = ()):
        super().__init__(model)
        self.unless_taken = unless_taken

    def _statement(self, assignments: dict, args: tuple) -> BaseQuery:
        insert = self.model.insert(assignments)
        if not self.unless_taken:
            return insert
        return insert.on_conflict(conflict_target=self.unless_taken, action="NOTHING")

    def execute(self, values: dict[str, Any]) -> bool:
        """INSERT one row: ``values`` maps field names to the values a model instance holds.

        Returns whether the row was inserted (False: its ``unless_taken`` values are taken).
        """
        return self._execute(tuple(values), values).rowcount == 1

    def execute_later(self, values: dict[str, Any]) -> None:
        """INSERT one row as :meth:`execute` does, as a write whose result is never read: on
        PostgreSQL it goes with the transaction's next statement (:mod:`tenants.round_trips`)."""
        self._execute(tuple(values), values, later=True)

    def save(self, row: Model) -> bool:
        """INSERT a new ``row`` (every value it holds, defaults included) and mark it saved,
        as ``row.save(force_insert=True)`` does; an auto-increment id is not read back.

        Returns whether it was inserted (see ``unless_taken``).
        """
        inserted = self.execute(row.__data__)
        if inserted:
            row._dirty.clear()  # peewee's own record of unsaved fields (Model.save clears it too)
        return inserted


class PreparedUpdate(_PerColumns):
    """UPDATEs of one row of ``model`` by primary key (see :class:`_PerColumns`).

    What ``row.save(only=row.dirty_fields)`` does, without peewee building the statement
    again on every write (a sixth of a PATCH's CPU): the key left out of the columns set,
    the row marked saved after.
    """

    def _statement(self, assignments: dict, args: tuple) -> BaseQuery:
        return self.model.update(assignments).where(self.model._meta.primary_key == args[-1])

    def _changed(self, row: Model) -> tuple[str, ...]:
        """The columns of ``row`` set since it was read, its key left out."""
        key = self.model._meta.primary_key.name
        return tuple(sorted(field.name for field in row.dirty_fields if field.name != key))

    def save(self, row: Model) -> int:
        """UPDATE the columns of ``row`` set since it was read; returns the rows updated
        (0 when nothing was set: no statement is sent)."""
        names = self._changed(row)
        updated = self._execute(names, row.__data__, row.get_id()).rowcount if names else 0
        row._dirty.clear()  # peewee's own record of unsaved fields (Model.save clears it too)
        return updated

    def save_later(self, row: Model) -> None:
        """As :meth:`save`, for an update no constraint can refuse (no UNIQUE column changed)
        whose count is not needed: on PostgreSQL the UPDATE goes with the transaction's next
        statement (:mod:`tenants.round_trips`)."""
        names = self._changed(row)
        if names:
            self._execute(names, row.__data__, row.get_id(), later=True)
        row._dirty.clear()


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, type(None)))


def _bind(args: tuple, slot: tuple[int, int | None]):
    """The value for one parameter: an argument, or an item of a list argument (the last one
    again where the list is shorter than its template)."""
    index, position = slot
    if position is None:
        return args[index]
    items = args[index]
    return items[min(position, len(items) - 1)]
