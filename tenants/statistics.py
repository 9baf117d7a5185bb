"""PostgreSQL: analyse the gateway's tables once they have grown, autovacuum or not.

PostgreSQL plans from statistics that ``ANALYZE`` gathers, normally autovacuum's (after a
table's first 50 changed rows, then after each further 10%, checked once a minute).
Where autovacuum is off, or behind a table an initial sync fills at hundreds of rows a
second, the planner sees no statistics and guesses: then every query of a tenant's live
users looked equally cheap through any index that leads with the tenant, and PostgreSQL
read users by id, by userName and by externalId by walking the tenant's whole index (an
initial sync of 100,000 users slowed down with every user: 153 requests/s where it ran
232 with statistics; ``benchmarks/README.md``).

So each process counts the rows it adds to the tables that grow with a tenant (users,
groups, memberships) and, once they reach :data:`MIN_GROWTH` rows and
:data:`GROWTH_SHARE` of the table's size at its last ``ANALYZE``, analyses that table:
after the response has been sent, never inside a request's transaction.

How often matters as much as whether. ``ANALYZE`` reads up to 30,000 rows (25 ms for a
20,000-row table on an idle 2-core machine, 60 to 220 ms during a sync), and what the
planner needs from it here is a first picture: afterwards PostgreSQL scales its row
estimates by the table's current size on disk, and the gateway's tables keep their shape
(one tenant value, unique ids and names) as they grow. Analysing after every 10% of growth,
in every process and on several of a process's threads at once, ran 71 ANALYZEs during a
10,000-user benchmark sync, queued requests' threads behind one another's table locks and
made most of PostgreSQL's CPU and the p99 of adding members. Now:

- a process claims a due table before analysing it, so its other threads do not repeat it;
- it skips the table when another process (or autovacuum) has analysed it since at least
  the growth this process knows of (``pg_class.reltuples``, for a table analysed before);
- ``ANALYZE (SKIP_LOCKED)`` passes over a table another session is analysing right now;
- a table is due again only after it has grown by half (:data:`GROWTH_SHARE`).

SQLite needs none of this: the gateway's list queries steer its planner explicitly
(``tenants.repositories``).
"""

from __future__ import annotations

import logging
import threading
import time

from .db import database, is_sqlite

log = logging.getLogger(__name__)

#: Rows a process adds to a table before it considers analysing it.
MIN_GROWTH = 1000
#: ... and the share of the table's size at its last ANALYZE they must reach.
GROWTH_SHARE = 0.5
#: The tables that grow with a tenant's users and groups.
TABLES = ("scim_user", "scim_group", "membership")

_lock = threading.Lock()
_added = dict.fromkeys(TABLES, 0)
_size_at_analyze: dict[str, float] = {}


def added(table: str, rows: int) -> None:
    """Note that this process wrote ``rows`` new rows to ``table`` (one of :data:`TABLES`)."""
    with _lock:
        _added[table] += rows


def _claim_due() -> dict[str, int]:
    """``{table: rows added}`` for each due table, whose count this call takes (so no other
    thread of this process analyses it at the same time)."""
    with _lock:
        due = {table: rows for table, rows in _added.items()
               if rows >= MIN_GROWTH and rows >= GROWTH_SHARE * _size_at_analyze.get(table, 0)}
        for table in due:
            _added[table] = 0
        return due


def _state(table: str) -> tuple[float, object]:
    """``(rows as of the last ANALYZE or VACUUM, time of the last ANALYZE by anyone or None)``."""
    size, analysed = database.execute_sql(
        "SELECT reltuples, GREATEST(pg_stat_get_last_analyze_time(oid), pg_stat_get_last_autoanalyze_time(oid)) "
        "FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()
    return float(size), analysed


def _analyse(table: str, rows: int) -> bool:
    """Analyse ``table`` unless someone did since it grew by the ``rows`` this process added.

    Returns whether this call ran ``ANALYZE``. ``reltuples`` alone does not tell: VACUUM and
    CREATE INDEX set it too (migration 0009 did, on tables never analysed).
    """
    known = _size_at_analyze.get(table, 0.0)
    size, analysed = _state(table)
    ran = False
    if analysed is None or size < known + rows:  # nobody has analysed it since it reached that size
        started = time.perf_counter()
        database.execute_sql(f'ANALYZE (SKIP_LOCKED) "{table}"')
        size, analysed_now = _state(table)
        ran = analysed_now is not None and analysed_now != analysed  # not skipped for a lock
        if ran:
            log.info("Analysed %s (about %d rows) in %.0f ms", table, size, (time.perf_counter() - started) * 1000)
    with _lock:
        _size_at_analyze[table] = max(size, 0.0) if ran else max(size, known + rows, 0.0)
    return ran


def analyse_if_grown() -> list[str]:
    """Run ``ANALYZE`` on each table this process has grown enough; returns those analysed.

    Never raises (a failure is logged and the rows stay counted, so a later call retries).
    Does nothing on SQLite.
    """
    if is_sqlite():
        return []
    due = _claim_due()
    if not due:
        return []
    analysed = []
    try:
        opened = database.connect(reuse_if_open=True)
    except Exception:  # noqa: BLE001 - as below
        log.exception("Could not connect to ANALYZE %s", ", ".join(due))
        for table, rows in due.items():
            added(table, rows)  # counted again: a later call retries
        return []
    try:
        for table, rows in due.items():
            try:
                if _analyse(table, rows):
                    analysed.append(table)
            except Exception:  # noqa: BLE001 - statistics are an optimisation; the request is already answered
                log.exception("Could not ANALYZE %s", table)
                added(table, rows)  # counted again: a later call retries
    finally:
        if opened:
            database.close()
    return analysed


def reset() -> None:
    """Forget what this process counted (a new app, or a forked worker, starts afresh)."""
    with _lock:
        for table in TABLES:
            _added[table] = 0
        _size_at_analyze.clear()
