"""PostgreSQL databases for tests: a fresh one, dropped afterwards, or one lent from a pool.

Tests that need an empty, migrated PostgreSQL database in either run take the
``postgres_database_url`` fixture (``tests/conftest.py``), lent by :class:`TemplateDatabases`
below. Tests that need a truly new one (migrations, a database that goes away, other
``CREATE DATABASE`` options) use :func:`fresh_postgres_url`::

    with fresh_postgres_url() as url:       # postgresql://postgres@127.0.0.1:5432/scimgw_test_1a2b...
        app = create_app({"TESTING": True, "DATABASE_URL": url})
        ...

It connects to the server's maintenance database (``SCIM_GATEWAY_TEST_POSTGRES``, by
default ``postgresql://postgres@127.0.0.1:5432/postgres``, the local server with trust
auth), creates a uniquely named database, yields its URL and drops it (``WITH (FORCE)``,
so connections a test left open do not keep it alive). A server that cannot be reached
**fails** the test with a message saying what to start or set: the PostgreSQL half of the
suite is a requirement, never silently skipped.

The whole suite also runs on PostgreSQL (``SCIM_GATEWAY_TEST_DATABASE=postgresql``, see
``tests/conftest.py``): :class:`TemplateDatabases` migrates one template database per
session (per pytest-xdist worker, on first use) and lends each test a database in the
template's state.
Creating a copy (``CREATE DATABASE ... TEMPLATE``, ~150 ms) and dropping it (0.3 to 0.8 s
on a busy machine) cost more than most tests, so a lent database is taken back (the
sessions still on it ended, the request counts this process buffers for it forgotten),
emptied (``DELETE`` of every table with triggers off, sequences restarted: ~10 ms, where
``TRUNCATE`` took 300 ms) and lent again, as long as it then looks exactly like the
template (:data:`_STATE_SQL`: schema, statistics, what the migrations recorded) and has not
grown much. A test that changed the schema, analysed or vacuumed a table, or filled it
gets its database dropped afterwards, and the next test a new copy.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from psycopg2 import sql

#: The server's maintenance database; the fresh databases are created next to it.
POSTGRES_ADMIN_URL = os.environ.get("SCIM_GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
#: Every database made here starts with this prefix, so a leftover one is easy to spot.
DATABASE_PREFIX = "scimgw_test_"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _end_sessions(connection, name: str) -> None:
    """End every session still connected to ``name`` (a pool a test left open), waiting up to
    5 s for each to be gone; first drop the request counts this process still buffers:
    flushed later, they would go to a database that is gone, or lent to another test."""
    from tenants import stats

    stats.reset()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def _drop_database(connection, name: str) -> None:
    """End every session still connected to ``name``, then drop it."""
    _end_sessions(connection, name)
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _admin_connection(admin_url: str):
    try:
        connection = psycopg2.connect(admin_url, connect_timeout=5)
    except psycopg2.Error as error:
        reason = " ".join(str(error).split())
    else:
        connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        return connection
    pytest.fail(
        f"PostgreSQL is required for this test but {admin_url} cannot be reached ({reason}). "
        "Start the server (127.0.0.1:5432, user postgres, trust auth) or point "
        "SCIM_GATEWAY_TEST_POSTGRES at one.",
        pytrace=False,
    )


@contextlib.contextmanager
def fresh_postgres_url(admin_url: str = POSTGRES_ADMIN_URL, *, options: str = "") -> Iterator[str]:
    """Create an empty, uniquely named database; yield its URL; drop it afterwards.

    ``options`` is appended to ``CREATE DATABASE`` as written (trusted test code only),
    e.g. ``"TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"`` for a database
    whose default collation is not ``C``.
    """
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
    connection = _admin_connection(admin_url)
    try:
        with connection.cursor() as cursor:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if options:
                statement = sql.SQL(" ").join([statement, sql.SQL(options)])
            cursor.execute(statement)
        try:
            yield _with_database(admin_url, name)
        finally:
            _drop_database(connection, name)
    finally:
        connection.close()


#: How much a lent database may have grown (bytes, every relation's main fork) and still be
#: emptied and lent again: ``DELETE`` leaves the pages behind, and the planner sizes tables by
#: their pages, so a test gets tables about as small as a new copy's.
MAX_GROWTH = 1 << 20

_USER_NAMESPACES = "(SELECT oid FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema')"

#: ``(digest, bytes)`` of the connected database's state outside its tables' rows: every
#: schema object, table options and statistics (``reltuples``/``relpages`` change with
#: ANALYZE and VACUUM), database settings and sequence values; ``{rows}`` adds the rows of
#: the tables the migrations filled. Two databases with one digest plan and answer alike.
_STATE_SQL = """
SELECT md5(string_agg(item, E'\\n' ORDER BY item)),
       (SELECT sum(pg_relation_size(oid)) FROM pg_class WHERE relnamespace IN {namespaces})
FROM (
    SELECT format('namespace %s', nspname) FROM pg_namespace WHERE oid IN {namespaces}
    UNION ALL
    SELECT format('relation %s %s %s %s %s %s', oid::regclass, relkind, relpersistence, reloptions, reltuples, relpages)
      FROM pg_class WHERE relnamespace IN {namespaces}
    UNION ALL
    SELECT format('column %s %s %s %s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relnamespace IN {namespaces}
    UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
      FROM pg_constraint WHERE connamespace IN {namespaces}
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace IN {namespaces}
    UNION ALL
    SELECT format('trigger %s %s', pg_get_triggerdef(oid), tgenabled) FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT format('function %s(%s) %s', oid::regproc, pg_get_function_identity_arguments(oid),
                  md5(pg_get_functiondef(oid)))
      FROM pg_proc WHERE pronamespace IN {namespaces}
    UNION ALL
    SELECT format('view %s %s', oid::regclass, pg_get_viewdef(oid))
      FROM pg_class WHERE relkind IN ('v', 'm') AND relnamespace IN {namespaces}
    UNION ALL
    SELECT format('sequence %s.%s %s %s %s %s %s', schemaname, sequencename, start_value, increment_by,
                  min_value, max_value, last_value)
      FROM pg_sequences
    UNION ALL
    SELECT format('type %s %s', oid::regtype, typtype) FROM pg_type WHERE typnamespace IN {namespaces}
    UNION ALL
    SELECT format('extension %s %s', extname, extversion) FROM pg_extension
    UNION ALL
    SELECT format('event trigger %s %s', evtname, evtenabled) FROM pg_event_trigger
    UNION ALL
    SELECT format('statistics %s %s', s.starelid::regclass, s.staattnum)
      FROM pg_statistic s JOIN pg_class c ON c.oid = s.starelid WHERE c.relnamespace IN {namespaces}
    UNION ALL
    SELECT format('extended statistics %s', stxname) FROM pg_statistic_ext
    UNION ALL
    SELECT format('policy %s %s', polrelid::regclass, polname) FROM pg_policy
    UNION ALL
    SELECT format('setting %s', setconfig) FROM pg_db_role_setting
     WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    {rows}
) AS state(item)
""".replace("{namespaces}", _USER_NAMESPACES)


class TemplateDatabases:
    """One migrated template database, and the databases :meth:`lend` copies from it.

    ``CREATE DATABASE ... TEMPLATE`` refuses a template that has open sessions, so the
    migrations (and the look at what they made) run on connections closed before the
    first copy. :meth:`close` drops the copies and the template (call it once, at the end
    of the session).
    """

    def __init__(self, admin_url: str = POSTGRES_ADMIN_URL):
        from tenants.db import close_pool, open_database
        from tenants.migrate import migrate

        self.admin_url = admin_url
        self.name = f"{DATABASE_PREFIX}tmpl_{uuid.uuid4().hex[:16]}"
        self._idle: list[str] = []  # copies in the template's state, ready to lend
        self._connection = _admin_connection(admin_url)
        with self._connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        try:
            database = open_database(_with_database(admin_url, self.name))
            try:
                migrate(database)
            finally:
                close_pool(database)
            self._empty, self._inspect = self._statements()
            self._state = self._state_of(self.name)
        except BaseException:
            self.close()
            raise

    def _statements(self) -> tuple[sql.Composed, sql.Composed]:
        """``(empty, inspect)`` for a copy of the template: ``empty`` deletes the rows of every
        table the migrations left empty, with triggers and foreign keys off (they would only
        slow it down: every table is emptied), and restarts their sequences; ``inspect`` is
        :data:`_STATE_SQL` with the rows of the other tables (what the migrations recorded)."""
        connection = psycopg2.connect(_with_database(self.admin_url, self.name))
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(f"SELECT oid::regclass::text FROM pg_class WHERE relkind = 'r' "
                               f"AND relnamespace IN {_USER_NAMESPACES} ORDER BY 1")
                tables = [sql.SQL(name) for (name,) in cursor.fetchall()]  # regclass text: quoted as needed
                filled = []
                for table in tables:
                    cursor.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(table))
                    filled += [table] if cursor.fetchone()[0] else []
        finally:
            connection.close()
        emptied = [table for table in tables if table not in filled]
        empty = sql.SQL("SET LOCAL session_replication_role = replica; {deletes}; "
                        "SELECT setval(seqrelid, seqstart, false) FROM pg_sequence s JOIN pg_depend d "
                        "ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.deptype IN ('a', 'i') "
                        "WHERE d.refobjid = ANY(ARRAY[{tables}]::regclass[]); SELECT pg_stat_reset()").format(
            deletes=sql.SQL("; ").join(sql.SQL("DELETE FROM {}").format(table) for table in emptied),
            tables=sql.SQL(", ").join(sql.Literal(table.string) for table in emptied))
        rows = sql.SQL("").join(
            sql.SQL(" UNION ALL SELECT format('row %s %s', {name}, t) FROM {table} AS t").format(
                name=sql.Literal(table.string), table=table) for table in filled)
        return empty, sql.SQL(_STATE_SQL).format(rows=rows)

    def _state_of(self, name: str, *, empty: bool = False) -> tuple[str, int]:
        """``(digest, bytes)`` of database ``name`` (:data:`_STATE_SQL`), emptied first if ``empty``."""
        connection = psycopg2.connect(_with_database(self.admin_url, name))
        try:
            with connection, connection.cursor() as cursor:
                if empty:
                    cursor.execute(self._empty)
                cursor.execute(self._inspect)
                return cursor.fetchone()
        finally:
            connection.close()

    def _copy(self) -> str:
        """Create a new copy of the template; return its name."""
        name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
        with self._connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.name)))
        return name

    def _reusable(self, name: str) -> bool:
        """End the sessions on a database a test is done with and empty it; True if it now
        looks exactly like the template and has not grown by more than :data:`MAX_GROWTH`."""
        _end_sessions(self._connection, name)
        digest, size = self._state_of(name, empty=True)
        return digest == self._state[0] and size <= self._state[1] + MAX_GROWTH

    @contextlib.contextmanager
    def lend(self) -> Iterator[str]:
        """A database in the template's state, an emptied one or a new copy: yield its URL;
        afterwards keep it for the next test if :meth:`_reusable`, else drop it."""
        name = self._idle.pop() if self._idle else self._copy()
        reusable = False
        try:
            yield _with_database(self.admin_url, name)
            reusable = self._reusable(name)
        finally:
            if reusable:
                self._idle.append(name)
            else:
                _drop_database(self._connection, name)

    def close(self) -> None:
        """Drop the idle copies and the template, and close the admin connection."""
        if self._connection.closed:
            return
        try:
            for name in self._idle + [self.name]:
                _drop_database(self._connection, name)
        finally:
            self._connection.close()
