"""SQLite: copy the write-ahead log back into the database on a thread of its own.

In WAL mode a COMMIT appends the changed pages to the ``-wal`` file; a *checkpoint*
copies them back into the database file and syncs it. By default SQLite checkpoints
inside the COMMIT that finds the log longer than ``wal_autocheckpoint`` pages (1,000), so
one write in every few dozen also pays for copying and syncing what the others wrote.
The gateway's writers queue on one lock (:class:`tenants.db.WriteLock`), so every writer
queued behind that COMMIT waited for the copy too. Measured in-process on a 100,000-user
tenant (50-member ``Add`` PATCHes growing one group, one thread): COMMIT p95 5.64 ms
with SQLite's own checkpoints, 0.61 ms with this thread; the PATCH's p95 7.70 -> 3.31 ms,
its p99 not better (a COMMIT during the thread's sync of the file waits for the disk;
``benchmarks/README.md``, "Fifth round").

So each process that writes runs a :class:`Checkpointer`: a daemon thread with its own
connection that, once a write has committed, waits :data:`INTERVAL` seconds (so the
writes of that time share one copy of each page they changed) and runs
``PRAGMA wal_checkpoint(PASSIVE)``. A passive checkpoint never takes the write lock and
never waits for readers or writers: SQLite copies what no reader still needs and leaves
the rest for the next one, while writers go on appending. An idle gateway's thread
sleeps until the next write.

The gateway's connections keep SQLite's own checkpoint as a backstop, at
:data:`BACKSTOP_PAGES` instead of 1,000. It still fires under sustained writes: SQLite
counts the pages in the log since the log last started afresh, and a writer starts it
afresh only when everything in it has been copied at the moment its transaction
begins, which commits landing between two runs of the thread prevent. Then one COMMIT
in every 10,000 pages of log copies what came since the thread's last run (at most a
quarter of a second of writes, not 1,000 pages), and the log starts over; its file keeps
its largest size (about 40 MB at most) and is reused. Writers that do not go through
:func:`tenants.db.write_transaction` (migrations, a tenant made by the CLI) never wake
the thread: for them the backstop, and the checkpoint SQLite runs when the last
connection to the file closes, do the copying.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

#: ``wal_autocheckpoint`` of the gateway's connections (pages; 40 MB at 4 KiB pages).
BACKSTOP_PAGES = 10_000
#: Seconds a checkpointer lets writes gather after the first one it sees before copying them.
INTERVAL = 0.25


class Checkpointer:
    """The checkpoint thread of one process for one SQLite file (started by the first write)."""

    def __init__(self, path: str, interval: float = INTERVAL):
        self.path = path
        self.interval = interval
        self.runs = 0  #: checkpoints this process ran (for tests and logs)
        self.last: tuple[int, int, int] | None = None  #: ``(busy, log pages, pages copied)`` of the last one
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wrote = threading.Event()
        self._stop = threading.Event()

    def wrote(self) -> None:
        """Note that a write transaction committed; start this process's thread if it has none.

        Costs an attribute check and an ``Event.set()`` once the thread runs. Never raises:
        the write has committed, and a thread that cannot start (the interpreter shutting
        down, no threads left) only leaves the copying to SQLite's backstop.
        """
        try:
            if self._thread is None or not self._thread.is_alive():
                self._start()
            self._wrote.set()
        except Exception:  # noqa: BLE001 - see the docstring
            log.warning("Could not start the checkpoint thread of %s", self.path, exc_info=True)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            wrote, stop = threading.Event(), threading.Event()
            thread = threading.Thread(target=self._run, args=(wrote, stop), name="sqlite-checkpoint", daemon=True)
            thread.start()
            self._wrote, self._stop, self._thread = wrote, stop, thread

    def after_fork(self) -> None:
        """In a forked child: forget the parent's thread (threads do not survive ``fork()``),
        its lock and its counts; the child's first write starts its own thread."""
        self._lock = threading.Lock()
        self._thread = None
        self.runs, self.last = 0, None

    def stop(self) -> None:
        """End this process's thread (the pool is closing) and wait for it; a later write restarts it."""
        with self._lock:
            thread, stop, wrote = self._thread, self._stop, self._wrote
            if thread is None:
                return
            self._thread = None
        stop.set()
        wrote.set()
        thread.join(timeout=10)
        if thread.is_alive():
            log.warning("The checkpoint thread of %s did not end within 10 s", self.path)

    def _run(self, wrote: threading.Event, stop: threading.Event) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        except sqlite3.Error:
            log.exception("Could not open %s to checkpoint its write-ahead log", self.path)
            return
        try:
            while True:
                wrote.wait()
                if stop.wait(self.interval):  # let the writes of this interval gather
                    return
                wrote.clear()
                self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        """One passive checkpoint on ``connection``; never raises (a failure is logged, the next write retries)."""
        try:
            busy, pages, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            log.exception("Checkpoint of %s failed", self.path)
            return
        self.last = (busy, pages, copied)
        self.runs += 1
