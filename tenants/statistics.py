"""PostgreSQL: analyse the gateway's tables once they have grown, autovacuum or not.

PostgreSQL plans from statistics that ``ANALYZE`` gathers, normally autovacuum's (after a
table's first 50 changed rows, then after each further 10%, with up to a minute's delay).
Where autovacuum is off, or behind a table an initial sync fills at hundreds of rows a
second, the planner sees no statistics and guesses: then every query of a tenant's live
users looked equally cheap through any index that leads with the tenant, and PostgreSQL
read users by id, by userName and by externalId by walking the tenant's whole index (an
initial sync of 100,000 users slowed down with every user: 153 requests/s where it ran
232 with statistics; ``benchmarks/README.md``).

So each process counts the rows it adds to the tables that grow with a tenant (users,
groups, memberships) and, once they reach :data:`MIN_GROWTH` rows and
:data:`GROWTH_SHARE` of what the table held at the last ``ANALYZE`` this process ran or saw,
runs ``ANALYZE`` on that table: after the response has been sent, never inside a
request's transaction. ``ANALYZE`` samples at most 30,000 rows (tens of milliseconds at
100,000 users) and two processes analysing at once only do the work twice. SQLite needs
none of this: the gateway's list queries steer its planner explicitly
(``tenants.repositories``).
"""

from __future__ import annotations

import logging
import threading

from .db import database, is_sqlite

log = logging.getLogger(__name__)

#: Rows a process adds to a table before it considers analysing it.
MIN_GROWTH = 1000
#: ... and the share of the table's size at its last ANALYZE they must reach (autovacuum's default).
GROWTH_SHARE = 0.10
#: The tables that grow with a tenant's users and groups.
TABLES = ("scim_user", "scim_group", "membership")

_lock = threading.Lock()
_added = dict.fromkeys(TABLES, 0)
_size_at_analyze: dict[str, float] = {}


def added(table: str, rows: int) -> None:
    """Note that this process wrote ``rows`` new rows to ``table`` (one of :data:`TABLES`)."""
    with _lock:
        _added[table] += rows


def _due() -> list[str]:
    with _lock:
        return [table for table, rows in _added.items()
                if rows >= MIN_GROWTH and rows >= GROWTH_SHARE * _size_at_analyze.get(table, 0)]


def analyse_if_grown() -> list[str]:
    """Run ``ANALYZE`` on each table this process has grown enough; returns those analysed.

    Never raises (a failure is logged; the rows stay counted, so the next call retries).
    Does nothing on SQLite.
    """
    if is_sqlite():
        return []
    due = _due()
    if not due:
        return []
    analysed = []
    try:
        opened = database.connect(reuse_if_open=True)
    except Exception:  # noqa: BLE001 - as below
        log.exception("Could not connect to ANALYZE %s", ", ".join(due))
        return []
    try:
        for table in due:
            try:
                database.execute_sql(f'ANALYZE "{table}"')
                (size,) = database.execute_sql("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                                               (table,)).fetchone()
            except Exception:  # noqa: BLE001 - statistics are an optimisation; the request is already answered
                log.exception("Could not ANALYZE %s", table)
                continue
            with _lock:
                _added[table] = 0
                _size_at_analyze[table] = max(float(size), 0.0)
            analysed.append(table)
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
