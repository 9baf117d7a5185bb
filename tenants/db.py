"""Database binding: one :class:`peewee.DatabaseProxy` initialised from ``DATABASE_URL``.

SQLite (the embedded default) gets the pragmas that make it a good server database: WAL
journal, foreign keys, a busy timeout so concurrent writers wait instead of failing, and a
larger page cache. Any other URL goes through :func:`playhouse.db_url.connect`, so
``postgresql://...`` needs no code change.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, SqliteDatabase
from playhouse.db_url import connect as connect_url

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
    "cache_size": -32_000,
    "case_sensitive_like": 1,
}


def sqlite_path(url: str) -> str | None:
    """The file path of a ``sqlite:///path`` URL, or ``None`` for any other URL."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        return None
    return parsed.path[1:] if parsed.path.startswith("//") else parsed.path


def open_database(url: str) -> Database:
    """Build (but do not connect) the peewee database that ``url`` names."""
    path = sqlite_path(url)
    if path is not None:
        if path in ("", ":memory:"):
            raise ValueError(
                "In-memory SQLite is not supported: every connection would see its own "
                "empty database. Use a file, e.g. sqlite:////var/lib/scim-gateway/gw.db."
            )
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        db = SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, autoconnect=False)
        # SQLite's built-in lower() folds ASCII only; PostgreSQL's folds all of Unicode.
        db.register_function(unicode_lower, "lower", 1, deterministic=True)
        return db
    return connect_url(url, autoconnect=False)


def unicode_lower(text):
    """``LOWER()`` for SQLite connections: Python's Unicode lower-casing, like PostgreSQL's."""
    return text.lower() if isinstance(text, str) else text


def bind(url: str) -> Database:
    """Point the module-level :data:`database` proxy at the database ``url`` names."""
    db = open_database(url)
    database.initialize(db)
    return db


def is_sqlite() -> bool:
    """True when the bound database is SQLite (lock modes differ from PostgreSQL)."""
    return isinstance(database.obj, SqliteDatabase)


def write_transaction():
    """A transaction for one write request.

    On SQLite it begins IMMEDIATE, taking the write lock up front, so two concurrent
    writers queue on the busy timeout instead of one failing at commit with "database is
    locked". PostgreSQL takes its default isolation level.
    """
    if is_sqlite():
        return database.atomic("IMMEDIATE")
    return database.atomic()
