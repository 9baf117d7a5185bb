"""Schema migrations: numbered scripts in ``tenants/migrations`` run by playhouse.migrations.

Several processes may start at once (gunicorn workers, or hosts sharing one PostgreSQL),
so the run is serialised: PostgreSQL by a session advisory lock, SQLite by an exclusive
``flock`` on a file next to the database. Applied migrations are recorded in the
``schema_migration`` table, so a second start applies nothing and keeps every row.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.migrations import Runner

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
ADVISORY_LOCK_KEY = 0x5C1A_6A7E  # any constant unique to this application


@contextlib.contextmanager
def _migration_lock(db: Database):
    if isinstance(db, SqliteDatabase):
        with open(os.path.abspath(db.database) + ".migrate-lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif isinstance(db, PostgresqlDatabase):
        db.execute_sql("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            yield
        finally:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    else:
        yield


def runner(db: Database) -> Runner:
    """A playhouse migrations runner over this project's migration scripts."""
    return Runner(db, str(MIGRATIONS_DIR))


def migrate(db: Database) -> list[str]:
    """Apply every pending migration to ``db``; return the names applied (empty if none)."""
    if isinstance(db, SqliteDatabase):
        with _migration_lock(db), _connected(db):  # the file lock first: connecting sets WAL mode
            return runner(db).up()
    with _connected(db), _migration_lock(db):  # PostgreSQL's advisory lock needs the connection
        return runner(db).up()


@contextlib.contextmanager
def _connected(db: Database):
    """A connection for the block; closed afterwards only if this opened it."""
    opened = db.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened:
            db.close()


def pending(db: Database) -> list[str]:
    """Names of migrations not yet applied to ``db``."""
    return [m.name for m in runner(db).status() if m.path is not None and not m.applied]
