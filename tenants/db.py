"""Database binding: one :class:`peewee.DatabaseProxy` initialised from ``DATABASE_URL``.

SQLite (the embedded default) gets the pragmas that make it a good server database: WAL
journal, foreign keys, a busy timeout so concurrent writers wait instead of failing, and a
larger page cache; its connections are pooled per process as well, and the gateway's
write transactions queue on a :class:`WriteLock` rather than in SQLite's busy back-off.

PostgreSQL (``postgresql://`` or ``postgres://``) gets a connection pool
(:class:`playhouse.pool.PooledPostgresqlDatabase`): a request checks a connection out in
``before_request`` and ``close()`` at teardown returns it to the pool, so a request does
not pay for a TCP connection and authentication. A pool belongs to one process: after
``fork()`` the child forgets the connections it inherited (they are its parent's
sessions) and opens its own, so gunicorn workers never share a socket with the master.
A checkout costs no round trip unless the connection looks ended (:class:`PostgresqlPool`).

Any other URL goes through :func:`playhouse.db_url.connect`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import threading
import weakref
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, InterfaceError, InternalError, SqliteDatabase
from playhouse.db_url import connect as connect_url
from playhouse.db_url import parse as parse_url
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase, PooledSqliteDatabase

from .checkpoints import BACKSTOP_PAGES, Checkpointer
from .statements import SERVER_STATEMENTS

#: Connections each gateway process keeps open to PostgreSQL (``SCIM_GATEWAY_DB_POOL_SIZE``).
DEFAULT_POOL_SIZE = 8
#: A pooled connection older than this (seconds) is closed and replaced when next used.
POOL_STALE_TIMEOUT = 300
#: How long (seconds) a request waits for a free pooled connection before failing.
POOL_WAIT_TIMEOUT = 10
POSTGRES_SCHEMES = {"postgres": "postgres+pool", "postgresql": "postgresql+pool"}

database = DatabaseProxy()
#: peewee's query log: a statement sent later is logged when queued.
_QUERY_LOG = logging.getLogger("peewee")

SQLITE_PRAGMAS = {  # in order: busy_timeout first, so that switching to WAL waits for a lock too
    "busy_timeout": 10_000,
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    # KiB per pooled connection (negative: KiB, not pages). The pool keeps up to
    # DB_POOL_SIZE connections per process and each fills its cache on a large tenant:
    # at 32 MB a gunicorn worker reached 200 MB RSS after a 100,000-user sync. The
    # operating system's file cache, shared by all, keeps the rest of the file warm.
    "cache_size": -8_000,
    "case_sensitive_like": 1,
    # Checkpoints run on a thread of their own (tenants.checkpoints), not inside a COMMIT
    # that holds the write lock; SQLite's own is only a backstop.
    "wal_autocheckpoint": BACKSTOP_PAGES,
}


def sqlite_path(url: str) -> str | None:
    """The file path of a ``sqlite:///path`` URL, or ``None`` for any other URL."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        return None
    return parsed.path[1:] if parsed.path.startswith("//") else parsed.path


def open_database(url: str, *, pool_size: int | None = None, server_prepare: bool = True) -> Database:
    """Build (but do not connect) the peewee database that ``url`` names.

    ``pool_size`` caps the connections the pool opens in this process
    (:data:`DEFAULT_POOL_SIZE` when ``None``). ``server_prepare``: on PostgreSQL, run the
    hottest statements as server-side prepared statements (:mod:`tenants.statements`).
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
        db = SqlitePool(path, pragmas=SQLITE_PRAGMAS, autoconnect=False, check_same_thread=False,
                        max_connections=int(pool_size or DEFAULT_POOL_SIZE),
                        stale_timeout=POOL_STALE_TIMEOUT, timeout=POOL_WAIT_TIMEOUT)
        _POOLS.add(db)
        # SQLite's built-in lower() folds ASCII only; PostgreSQL's folds all of Unicode.
        db.register_function(unicode_lower, "lower", 1, deterministic=True)
        return db
    scheme = urlparse(url).scheme
    if scheme in POSTGRES_SCHEMES or scheme in POSTGRES_SCHEMES.values():
        from .round_trips import BatchingConnection  # psycopg2 is an optional dependency

        db = PostgresqlPool(
            **parse_url(url, unquote_user=True, unquote_password=True), autoconnect=False,
            connection_factory=BatchingConnection,
            max_connections=int(pool_size or DEFAULT_POOL_SIZE),
            stale_timeout=POOL_STALE_TIMEOUT, timeout=POOL_WAIT_TIMEOUT,
        )
        db.server_prepare = bool(server_prepare)
        _POOLS.add(db)
        return db
    return connect_url(url, autoconnect=False)


class SqlitePool(PooledSqliteDatabase):
    """The pooled SQLite database, with a :class:`WriteLock` next to the file and the
    process's :class:`~tenants.checkpoints.Checkpointer` for it."""

    def __init__(self, database, **kwargs):
        super().__init__(database, **kwargs)
        self.write_lock = WriteLock(os.path.abspath(database) + ".write-lock")  # like migrate.py's .migrate-lock
        self.checkpoints = Checkpointer(os.path.abspath(database))

    def close_all(self):
        """Close the pooled connections and end this process's checkpoint thread."""
        self.checkpoints.stop()
        super().close_all()


class WriteLock:
    """Lets one write transaction at a time begin on a SQLite file, without back-off sleeps.

    SQLite makes a second writer wait in its busy handler, which polls with sleeps of up to
    100 ms: under 8 concurrent writers a request could wait seconds (the profile showed
    writers queueing in ``BEGIN IMMEDIATE``, and p99s up to 1.9 s). Here writers queue on
    locks that wake the next one as soon as the lock is free: a thread lock among one
    process's threads, then ``flock()`` on a lock file among processes (each process opens
    its own descriptor, as flock locks belong to it). SQLite's own lock still guards the
    data: writers that do not go through :func:`write_transaction` (migrations, other
    programs) wait on the busy timeout as before.
    """

    def __init__(self, path: str):
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = os.getpid()

    @contextlib.contextmanager
    def held(self):
        """Hold the lock for the ``with`` block."""
        if self._pid != os.getpid():  # forked: the parent's descriptor shares its flock state
            self._threads, self._fd, self._pid = threading.Lock(), None, os.getpid()
        with self._threads:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


class PostgresqlPool(PooledPostgresqlDatabase):
    """The PostgreSQL pool, without a ``SELECT 1`` round trip on every checkout; with
    ``server_prepare`` its connections run ``server_side`` statements prepared
    (:mod:`tenants.statements`); its transactions send ``BEGIN`` with their first
    statement and writes nobody reads with the next one (:mod:`tenants.round_trips`).

    peewee pings each connection it takes from the pool: a round trip that was 17% of a
    request's CPU in the profile. A server that ends a session (restart, idle timeout,
    ``pg_terminate_backend``) sends an error and closes the socket, so an idle pooled
    connection whose socket has nothing to read is still open: that is checked locally
    (``poll()``, no round trip). Only a connection with something to read, or not idle, is
    pinged as before (and discarded if the ping fails).
    """

    server_prepare = True

    def _is_closed(self, conn):
        if conn.closed:
            return True
        if conn.pending:  # left in a transaction: never handed out again
            return True
        if self._adapter.txn_status(conn) == self._adapter.txn_idle and not _readable(conn.fileno()):
            return False
        return super()._is_closed(conn)

    def _open_connection(self):
        """This thread's connection; never opens one (as peewee's own ``cursor()`` with autoconnect off)."""
        if self.is_closed():
            raise InterfaceError("Error, database connection not opened.")
        return self._state.conn

    def execute_sql(self, sql, params=None):
        """peewee's ``execute_sql``; an error saying the session lost a prepared statement makes
        every statement be prepared again, and inside a transaction is :class:`StatementsLost`."""
        try:
            return super().execute_sql(sql, params)
        except Exception as error:
            if self._state.conn is not None:
                SERVER_STATEMENTS.raise_if_lost(self._state.conn, error)
            raise

    def begin(self, isolation_level=None):
        """Queue ``BEGIN`` (sent at once only with an isolation level of its own)."""
        if isolation_level is not None or self._isolation_level:
            return super().begin(isolation_level)
        self._open_connection().begin_later()
        return None

    def commit(self):
        """``COMMIT``, pending statements in front of it; nothing if the transaction sent nothing.

        A pending ``EXECUTE`` whose statement the session lost raises
        :class:`~tenants.statements.StatementsLost` here, as it would have when run; a
        transaction aborted by an earlier error raises rather than being rolled back silently.
        """
        connection = self._open_connection()
        if connection.nothing_sent():
            connection.drop_pending()
            return None
        if connection.failed():
            raise InternalError("The transaction was aborted by an earlier error; nothing was committed.")
        try:
            return super().commit()
        except Exception as error:
            SERVER_STATEMENTS.raise_if_lost(connection, error)
            raise

    def rollback(self):
        """``ROLLBACK``, dropping pending writes; nothing if the server never saw a ``BEGIN``."""
        if self._open_connection().drop_pending():
            return super().rollback()
        return None

    def execute_later(self, sql: str, params=()) -> None:
        """Run ``sql`` as part of the open transaction, sent with its next statement or its
        ``COMMIT``; its result is never read. At once outside a transaction."""
        if self.in_transaction():
            _QUERY_LOG.debug((sql, params))  # logged now, as peewee logs what it runs
            self._open_connection().queue(sql, params)
        else:
            self.execute_sql(sql, params)


def _readable(fd: int) -> bool:
    """True if the socket ``fd`` has data or end-of-file waiting (it never blocks)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def unicode_lower(text):
    """``LOWER()`` for SQLite connections: Python's Unicode lower-casing, like PostgreSQL's."""
    return text.lower() if isinstance(text, str) else text


def bind(url: str, *, pool_size: int | None = None, server_prepare: bool = True) -> Database:
    """Point the module-level :data:`database` proxy at the database ``url`` names.

    The connections of a database bound before are closed: nothing uses them any more.
    """
    if database.obj is not None:
        close_pool(database.obj)
    db = open_database(url, pool_size=pool_size, server_prepare=server_prepare)
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
        if isinstance(db, SqlitePool):
            db.checkpoints.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connections)


def execute_later(sql: str, params=()) -> None:
    """Run a write whose result is never read: on PostgreSQL, inside a transaction, it goes
    with the transaction's next statement (:mod:`tenants.round_trips`); elsewhere at once."""
    db = database.obj
    if isinstance(db, PostgresqlPool):
        db.execute_later(sql, params)
    else:
        db.execute_sql(sql, params)


def is_sqlite() -> bool:
    """True when the bound database is SQLite (lock modes differ from PostgreSQL)."""
    return isinstance(database.obj, SqliteDatabase)


def write_transaction():
    """A transaction for one write request.

    On SQLite it begins IMMEDIATE, taking the write lock up front, so two concurrent
    writers queue instead of one failing at commit with "database is locked"; the
    gateway's own writers queue on the database's :class:`WriteLock` first. Inside a
    transaction already open it is a savepoint, as ``atomic()`` is. PostgreSQL takes its
    default isolation level.
    """
    db = database.obj
    if isinstance(db, SqlitePool) and not db.in_transaction():
        return _locked_transaction(db)
    if is_sqlite():
        return database.atomic("IMMEDIATE")
    return database.atomic()


@contextlib.contextmanager
def _locked_transaction(db: SqlitePool):
    with db.write_lock.held(), db.atomic("IMMEDIATE") as transaction:
        yield transaction
    db.checkpoints.wrote()  # committed: the checkpoint thread copies it to the file soon after
