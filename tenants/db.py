"""Database binding: one :class:`peewee.DatabaseProxy` initialised from ``DATABASE_URL``.

SQLite (the embedded default) gets the pragmas that make it a good server database: WAL
journal, foreign keys, a busy timeout so concurrent writers wait instead of failing, and a
larger page cache; its connections are pooled per process as well.

PostgreSQL (``postgresql://`` or ``postgres://``) gets a connection pool
(:class:`playhouse.pool.PooledPostgresqlDatabase`): a request checks a connection out in
``before_request`` and ``close()`` at teardown returns it to the pool, so a request does
not pay for a TCP connection and authentication. A pool belongs to one process: after
``fork()`` the child forgets the connections it inherited (they are its parent's
sessions) and opens its own, so gunicorn workers never share a socket with the master.

Any other URL goes through :func:`playhouse.db_url.connect`.
"""

from __future__ import annotations

import os
import threading
import weakref
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, SqliteDatabase
from playhouse.db_url import connect as connect_url
from playhouse.pool import PooledDatabase, PooledSqliteDatabase

#: Connections each gateway process keeps open to PostgreSQL (``SCIM_GATEWAY_DB_POOL_SIZE``).
DEFAULT_POOL_SIZE = 8
#: A pooled connection older than this (seconds) is closed and replaced when next used.
POOL_STALE_TIMEOUT = 300
#: How long (seconds) a request waits for a free pooled connection before failing.
POOL_WAIT_TIMEOUT = 10
POSTGRES_SCHEMES = {"postgres": "postgres+pool", "postgresql": "postgresql+pool"}

database = DatabaseProxy()

SQLITE_PRAGMAS = {  # in order: busy_timeout first, so that switching to WAL waits for a lock too
    "busy_timeout": 10_000,
    "journal_mode": "wal",
    "foreign_keys": 1,
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


def open_database(url: str, *, pool_size: int | None = None) -> Database:
    """Build (but do not connect) the peewee database that ``url`` names.

    ``pool_size`` caps the connections the pool opens in this process
    (:data:`DEFAULT_POOL_SIZE` when ``None``).
    """
    path = sqlite_path(url)
    if path is not None:
        if path in ("", ":memory:"):
            raise ValueError(
                "In-memory SQLite is not supported: every connection would see its own "
                "empty database. Use a file, e.g. sqlite:////var/lib/scim-gateway/gw.db."
            )
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # Pooled too: opening a connection per request (its pragmas, and the WAL
        # checkpoint when the last one closes) was ~29% of a request's CPU. A pooled
        # connection moves between gunicorn's threads, one at a time (check_same_thread).
        db = PooledSqliteDatabase(path, pragmas=SQLITE_PRAGMAS, autoconnect=False, check_same_thread=False,
                                  max_connections=int(pool_size or DEFAULT_POOL_SIZE),
                                  stale_timeout=POOL_STALE_TIMEOUT, timeout=POOL_WAIT_TIMEOUT)
        _POOLS.add(db)
        # SQLite's built-in lower() folds ASCII only; PostgreSQL's folds all of Unicode.
        db.register_function(unicode_lower, "lower", 1, deterministic=True)
        return db
    scheme = urlparse(url).scheme
    if scheme in POSTGRES_SCHEMES or scheme in POSTGRES_SCHEMES.values():
        db = connect_url(
            POSTGRES_SCHEMES.get(scheme, scheme) + url[len(scheme):],
            unquote_user=True, unquote_password=True, autoconnect=False,
            max_connections=int(pool_size or DEFAULT_POOL_SIZE),
            stale_timeout=POOL_STALE_TIMEOUT, timeout=POOL_WAIT_TIMEOUT,
        )
        _POOLS.add(db)
        return db
    return connect_url(url, autoconnect=False)


def unicode_lower(text):
    """``LOWER()`` for SQLite connections: Python's Unicode lower-casing, like PostgreSQL's."""
    return text.lower() if isinstance(text, str) else text


def bind(url: str, *, pool_size: int | None = None) -> Database:
    """Point the module-level :data:`database` proxy at the database ``url`` names.

    The connections of a database bound before are closed: nothing uses them any more.
    """
    if database.obj is not None:
        close_pool(database.obj)
    db = open_database(url, pool_size=pool_size)
    database.initialize(db)
    return db


def close_pool(db: Database | None = None) -> None:
    """Close every connection ``db`` (default: the bound database) holds, pooled or not.

    Call it where a process is done with the database for now, e.g. after migrating in a
    server's master before it forks workers: nothing stays open to be inherited.
    """
    db = db if db is not None else database.obj
    if isinstance(db, PooledDatabase):
        db.close_all()
    elif db is not None and not db.is_closed():
        db.close()


# Pools made by open_database, so a forked child can drop what it inherited.
_POOLS: "weakref.WeakSet[PooledDatabase]" = weakref.WeakSet()
# Connections inherited across fork(): kept referenced and never closed in the child,
# since closing one would end the parent's session on the shared socket.
_INHERITED: list = []


def _forget_inherited_connections() -> None:
    for db in list(_POOLS):
        _INHERITED.extend(conn for _, _, conn in db._connections)
        _INHERITED.extend(pooled.connection for pooled in db._in_use.values())
        if db._state.conn is not None:
            _INHERITED.append(db._state.conn)
        db._connections, db._in_use = [], {}
        db._state.reset()
        # A lock another thread of the parent held at fork time would never be released.
        db._pool_lock = threading.RLock()
        db._pool_available = threading.Condition(db._pool_lock)
        if isinstance(db._lock, type(threading.Lock())):
            db._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connections)


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
