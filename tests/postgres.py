"""A fresh PostgreSQL database per test (or per module), dropped afterwards.

Tests that need PostgreSQL use :func:`fresh_postgres_url`::

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
session and copies it for each test (``CREATE DATABASE ... TEMPLATE``), which is much
faster than migrating an empty database every time.
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


def _drop_database(connection, name: str) -> None:
    """End every session still connected to ``name`` (a pool a test left open), then drop it.

    Request counts this process still buffers are dropped first: flushed at exit, they
    would go to a database that no longer exists (and log a warning).
    """
    from tenants import stats

    stats.reset()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
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


class TemplateDatabases:
    """One migrated template database; :meth:`clone` copies it into a fresh test database.

    ``CREATE DATABASE ... TEMPLATE`` refuses a template that has open sessions, so the
    migrations run on a connection that is closed before the first copy. :meth:`close`
    drops the template (call it once, at the end of the session).
    """

    def __init__(self, admin_url: str = POSTGRES_ADMIN_URL):
        from tenants.db import close_pool, open_database
        from tenants.migrate import migrate

        self.admin_url = admin_url
        self.name = f"{DATABASE_PREFIX}tmpl_{uuid.uuid4().hex[:16]}"
        self._connection = _admin_connection(admin_url)
        with self._connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        try:
            database = open_database(_with_database(admin_url, self.name))
            try:
                migrate(database)
            finally:
                close_pool(database)
        except BaseException:
            self.close()
            raise

    @contextlib.contextmanager
    def clone(self) -> Iterator[str]:
        """A new database with the template's (migrated) schema: yield its URL, drop it after."""
        name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
        with self._connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.name)))
        try:
            yield _with_database(self.admin_url, name)
        finally:
            _drop_database(self._connection, name)

    def close(self) -> None:
        """Drop the template and close the admin connection."""
        if self._connection.closed:
            return
        try:
            _drop_database(self._connection, self.name)
        finally:
            self._connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database URL for one test (import this fixture into a test module)."""
    with fresh_postgres_url() as url:
        yield url
