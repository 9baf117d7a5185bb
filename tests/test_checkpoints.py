"""SQLite write-ahead log checkpoints run on a thread of their own, never inside a COMMIT.

These tests name their own SQLite file (the PostgreSQL run included): checkpoints are
SQLite's. They read the database file itself to tell whether a checkpoint copied the log
into it.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import time
from pathlib import Path

from gateway.app import create_app
from tenants import checkpoints
from tenants import db as tenant_db
from tenants.db import close_pool, database

from .conftest import Scim, TenantCredentials

ROW = 4000  # bytes per filler row: about one 4 KiB page each


def _app(tmp_path: Path):
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db"})


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _fill(rows: int) -> None:
    """One committed write transaction adding ``rows`` pages of filler."""
    with tenant_db.write_transaction():
        for _ in range(rows):
            database.execute_sql("INSERT INTO filler (b) VALUES (randomblob(?))", (ROW,))


def test_the_gateways_connections_leave_checkpoints_to_the_thread(tmp_path):
    _app(tmp_path)
    with database.connection_context():
        assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (checkpoints.BACKSTOP_PAGES,)
        assert database.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
    close_pool()


def test_commits_past_sqlites_own_checkpoint_size_leave_the_database_file_alone(tmp_path):
    """1,500 pages committed in five write transactions: SQLite's default would have copied
    the log into the file inside the fourth COMMIT (1,000 pages), under the write lock."""
    _app(tmp_path)
    file = tmp_path / "gw.db"
    pool = database.obj
    pool.checkpoints.interval = 3600  # the thread waits: only a COMMIT could checkpoint now
    with database.connection_context():
        database.execute_sql("CREATE TABLE filler (b BLOB)")
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # start from an empty log
        before = _digest(file)
        for _ in range(5):
            _fill(300)
        assert _digest(file) == before  # nothing copied into the file yet
        assert (tmp_path / "gw.db-wal").stat().st_size > 1500 * ROW
        assert pool.checkpoints.runs == 0
    close_pool()  # ends the thread; closing the last connection checkpoints, as SQLite always does
    assert _digest(file) != before


def test_the_thread_copies_the_log_soon_after_a_write_and_ends_with_the_pool(tmp_path):
    app = _app(tmp_path)
    pool = database.obj
    file = tmp_path / "gw.db"
    with database.connection_context():
        from tenants import services

        _, token = services.create_tenant("acme")
    assert pool.checkpoints._thread is None  # no SCIM write yet: no thread
    scim = Scim(app.test_client(), TenantCredentials("acme", token.secret))
    scim.create_user("first@example.com")
    thread = pool.checkpoints._thread
    assert thread is not None and thread.is_alive() and thread.name == "sqlite-checkpoint"
    assert _wait_for(lambda: pool.checkpoints.runs >= 1)
    with database.connection_context():
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty log, so the next run's size is ours
    before, runs = _digest(file), pool.checkpoints.runs

    for index in range(20):
        scim.create_user(f"user{index}@example.com")
    assert _wait_for(lambda: pool.checkpoints.runs > runs)
    busy, pages, copied = pool.checkpoints.last
    assert (busy, copied) == (0, pages) and pages > 0  # no reader held it back: all of it copied
    assert _digest(file) != before  # the users are in the database file, not only in the log

    close_pool()
    assert not thread.is_alive()
    assert pool.checkpoints._thread is None


def test_a_forked_worker_starts_its_own_thread_on_its_first_write(tmp_path):
    _app(tmp_path)
    pool = database.obj
    with database.connection_context():
        database.execute_sql("CREATE TABLE filler (b BLOB)")
        _fill(1)
    parent_thread = pool.checkpoints._thread
    assert parent_thread is not None and parent_thread.is_alive()
    # Fork while the thread waits for writes, not while it is inside SQLite: a child forked
    # mid-call would inherit SQLite's locked mutexes. (scim-gateway serve closes the pool,
    # ending the thread, before gunicorn forks its workers.)
    assert _wait_for(lambda: pool.checkpoints.runs >= 1)
    time.sleep(0.05)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            report = [pool.checkpoints._thread is None and pool.checkpoints.runs == 0]  # nothing of the parent's
            with database.connection_context():
                _fill(3)
            own = pool.checkpoints._thread
            report.append(own is not None and own is not parent_thread and own.is_alive())
            report.append(_wait_for(lambda: pool.checkpoints.runs >= 1))
            os.write(write, ",".join(str(item) for item in report).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert select.select([read], [], [], 30)[0], "the child did not answer within 30 s"
        with os.fdopen(read, "rb") as pipe:
            answer = pipe.read().decode()
    finally:
        if os.waitpid(child, os.WNOHANG) == (0, 0):
            os.kill(child, signal.SIGKILL)  # the child this test forked, by its PID
            os.waitpid(child, 0)
    assert answer == "True,True,True"
    assert parent_thread.is_alive()
    close_pool()
    with database.connection_context():
        assert database.execute_sql("SELECT count(*) FROM filler").fetchone() == (4,)
    close_pool()


def test_a_thread_that_cannot_start_does_not_fail_the_write_that_committed(tmp_path, monkeypatch, caplog):
    """The write has committed when the thread is started: a failure to start it (e.g. at
    interpreter shutdown) is logged, the write returns normally, and a later write starts it."""
    import threading

    _app(tmp_path)
    pool = database.obj
    real_start = threading.Thread.start

    def refuse(thread):
        if thread.name == "sqlite-checkpoint":
            raise RuntimeError("can't create new thread at interpreter shutdown")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with database.connection_context():
        database.execute_sql("CREATE TABLE filler (b BLOB)")
        _fill(2)  # no exception
        assert database.execute_sql("SELECT count(*) FROM filler").fetchone() == (2,)
    assert pool.checkpoints._thread is None
    assert "Could not start the checkpoint thread" in caplog.text

    monkeypatch.setattr(threading.Thread, "start", real_start)
    with database.connection_context():
        _fill(1)
    assert pool.checkpoints._thread is not None and pool.checkpoints._thread.is_alive()
    assert _wait_for(lambda: pool.checkpoints.runs >= 1)
    close_pool()
