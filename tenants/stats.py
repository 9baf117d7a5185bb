"""SCIM request statistics: per-minute counts, the last request per tenant, provisioning status.

Counting must not cost a write per request, so :func:`count` only adds to a process-local
buffer (a dict under a lock, safe for threaded workers) and the buffer is written at most
once per :data:`FLUSH_INTERVAL` per process: one multi-row UPSERT into ``request_stat``
(``requests = requests + excluded.requests`` on the UNIQUE ``(tenant, minute)``) and one
into ``tenant_activity`` (the later ``last_request`` wins). Several processes and hosts
add into the same rows, so nothing is lost or double counted.

A flush happens on the first :func:`count` (or :func:`flush_if_due`) after the interval,
when :func:`status` or :func:`series` read (so a process sees its own counts at once),
and at exit. What a process buffered during its last second of activity is written by
its next request or when it exits. A flush that fails (database unreachable) puts its
counts back for the next one; counts of a tenant deleted meanwhile are dropped.

Rows older than :data:`RETENTION_DAYS` are pruned, at most hourly per process, for the
tenants being flushed.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import threading
import time
from typing import Iterator

from peewee import EXCLUDED, Case, IntegrityError, fn

from .clock import isoformat, utcnow
from .db import database, write_transaction
from .models import Group, RequestStat, Tenant, TenantActivity, User

log = logging.getLogger(__name__)

#: Seconds between two flushes of one process's buffer.
FLUSH_INTERVAL = 1.0
#: The longest series :func:`series` returns (and the window of :func:`status`): 24 hours.
SERIES_MAX_MINUTES = 1440
#: Per-minute rows are kept this long.
RETENTION_DAYS = 7
#: Seconds between two prunes by one process.
PRUNE_INTERVAL = 3600.0
#: Rows per INSERT statement.
_CHUNK = 200


def minute_of(moment: dt.datetime) -> dt.datetime:
    """``moment`` (naive UTC) truncated to its minute."""
    return moment.replace(second=0, microsecond=0)


class _Buffer:
    """Counts not yet written, owned by one process (a forked child starts empty)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.counts: dict[tuple[int, dt.datetime], list[int]] = {}
        self.last_seen: dict[int, dt.datetime] = {}
        self.last_flush = 0.0  # time.monotonic() of the last flush; 0: never
        self.last_prune = 0.0
        self.pid = os.getpid()

    def check_pid(self) -> None:
        """Forget what a parent process buffered before it forked this one (caller holds the lock)."""
        if self.pid != os.getpid():
            self.clear()

    def take(self) -> tuple[dict, dict]:
        """Empty the buffer and return what it held (caller holds the lock)."""
        counts, last_seen = self.counts, self.last_seen
        self.counts, self.last_seen = {}, {}
        self.last_flush = time.monotonic()
        return counts, last_seen

    def put_back(self, counts: dict, last_seen: dict) -> None:
        """Merge counts a failed flush could not write back into the buffer."""
        with self.lock:
            for key, (requests, errors) in counts.items():
                entry = self.counts.setdefault(key, [0, 0])
                entry[0] += requests
                entry[1] += errors
            for tenant_id, seen in last_seen.items():
                if tenant_id not in self.last_seen or self.last_seen[tenant_id] < seen:
                    self.last_seen[tenant_id] = seen


_buffer = _Buffer()


def reset() -> None:
    """Drop everything buffered (the app factory calls it: a new app, maybe a new database)."""
    with _buffer.lock:
        _buffer.clear()


def count(tenant_id: int, is_error: bool, *, defer: bool = False, now: dt.datetime | None = None) -> None:
    """Count one SCIM request of a tenant (an error if ``is_error``) in the current minute.

    Also remembers it as the tenant's last request. Writes nothing unless a flush is due
    (at most once per :data:`FLUSH_INTERVAL`); with ``defer=True`` never writes, and the
    caller runs :func:`flush_if_due` later (the gateway does it once the response is sent).

    :param now: the request's time (naive UTC); default: now.
    """
    now = now or utcnow()
    key = (int(tenant_id), minute_of(now))
    with _buffer.lock:
        _buffer.check_pid()
        entry = _buffer.counts.setdefault(key, [0, 0])
        entry[0] += 1
        if is_error:
            entry[1] += 1
        seen = _buffer.last_seen.get(key[0])
        if seen is None or seen < now:
            _buffer.last_seen[key[0]] = now
    if not defer:
        flush_if_due()


def pending() -> bool:
    """True if this process holds counts not written yet."""
    with _buffer.lock:
        _buffer.check_pid()
        return bool(_buffer.counts or _buffer.last_seen)


def flush_if_due() -> int:
    """Write the buffer if it holds counts and the last flush was :data:`FLUSH_INTERVAL` ago."""
    with _buffer.lock:
        due = (_buffer.counts or _buffer.last_seen) and time.monotonic() - _buffer.last_flush >= FLUSH_INTERVAL
    return flush() if due else 0


@contextlib.contextmanager
def _connection() -> Iterator[None]:
    """The thread's connection, opened (and closed afterwards) if it is not open."""
    opened = database.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened:
            database.close()


def flush(*, at_exit: bool = False) -> int:
    """Write this process's buffered counts now; returns the number of minute rows written.

    Never raises: a failure is logged and the counts are kept for the next flush (at exit,
    one line without the traceback: the counts are lost).
    """
    with _buffer.lock:
        _buffer.check_pid()
        if not (_buffer.counts or _buffer.last_seen):
            return 0
        counts, last_seen = _buffer.take()
        prune = time.monotonic() - _buffer.last_prune >= PRUNE_INTERVAL
        if prune:
            _buffer.last_prune = time.monotonic()
    if database.obj is None:
        _buffer.put_back(counts, last_seen)
        return 0
    try:
        with _connection():
            return _write(counts, last_seen, prune)
    except Exception as error:  # the database is down or locked: keep the counts, answer the request
        if at_exit:
            log.warning("Could not write SCIM request statistics at exit (%s: %s).", type(error).__name__,
                        str(error).strip().splitlines()[-1] if str(error).strip() else "")
            return 0
        log.warning("Could not write SCIM request statistics; keeping them for the next flush.", exc_info=True)
        _buffer.put_back(counts, last_seen)
        return 0


def _upsert(rows: list[dict], activity: list[dict]) -> None:
    for start in range(0, len(rows), _CHUNK):
        (RequestStat.insert_many(rows[start:start + _CHUNK])
         .on_conflict(conflict_target=[RequestStat.tenant, RequestStat.minute],
                      update={RequestStat.requests: RequestStat.requests + EXCLUDED.requests,
                              RequestStat.errors: RequestStat.errors + EXCLUDED.errors})
         .execute())
    later = Case(None, [(EXCLUDED.last_request > TenantActivity.last_request, EXCLUDED.last_request)],
                 TenantActivity.last_request)
    for start in range(0, len(activity), _CHUNK):
        (TenantActivity.insert_many(activity[start:start + _CHUNK])
         .on_conflict(conflict_target=[TenantActivity.tenant], update={TenantActivity.last_request: later})
         .execute())


def _write(counts: dict, last_seen: dict, prune: bool) -> int:
    # Sorted, so concurrent flushes of several processes lock rows in the same order.
    rows = [{"tenant": tenant_id, "minute": minute, "requests": requests, "errors": errors}
            for (tenant_id, minute), (requests, errors) in sorted(counts.items())]
    activity = [{"tenant": tenant_id, "last_request": seen} for tenant_id, seen in sorted(last_seen.items())]
    tenant_ids = sorted({row["tenant"] for row in rows} | set(last_seen))
    with write_transaction():
        try:
            with database.atomic():
                _upsert(rows, activity)
        except IntegrityError:  # a tenant was deleted since: drop its counts
            alive = {row.id for row in Tenant.select(Tenant.id).where(Tenant.id.in_(tenant_ids))}
            rows = [row for row in rows if row["tenant"] in alive]
            activity = [row for row in activity if row["tenant"] in alive]
            _upsert(rows, activity)
        if prune and tenant_ids:
            cutoff = minute_of(utcnow()) - dt.timedelta(days=RETENTION_DAYS)
            RequestStat.delete().where(RequestStat.tenant.in_(tenant_ids) & (RequestStat.minute < cutoff)).execute()
    return len(rows)


@atexit.register
def _flush_at_exit() -> None:
    if pending():
        flush(at_exit=True)


# -- reading ---------------------------------------------------------------------------------


def _tenant_id(tenant: Tenant | int) -> int:
    return tenant if isinstance(tenant, int) else tenant.id


def _window_start(minutes: int, now: dt.datetime | None = None) -> dt.datetime:
    """The first minute of a window of ``minutes`` minutes ending with the current one."""
    return minute_of(now or utcnow()) - dt.timedelta(minutes=minutes - 1)


def status(tenant: Tenant | int) -> dict:
    """Provisioning status of a tenant: four indexed queries (after flushing this process).

    ``{"users": {"total", "active", "disabled"}, "groups": {"total"},
    "last_scim_request": ISO 8601 or None, "requests_24h", "errors_24h"}``. Users deleted
    but kept as tombstones are not counted; ``disabled`` are those with ``active`` false.
    The 24 hours are the last 1440 minutes, the current one included.
    """
    tenant_id = _tenant_id(tenant)
    flush()
    total, disabled = (
        User.select(fn.COUNT(User.id), fn.SUM(Case(None, [(User.active == False, 1)], 0)))  # noqa: E712
        .where((User.tenant == tenant_id) & User.deleted_at.is_null())
        .tuples().get()
    )
    groups = Group.select().where(Group.tenant == tenant_id).count()
    requests, errors = (
        RequestStat.select(fn.SUM(RequestStat.requests), fn.SUM(RequestStat.errors))
        .where((RequestStat.tenant == tenant_id) & (RequestStat.minute >= _window_start(SERIES_MAX_MINUTES)))
        .tuples().get()
    )
    activity = TenantActivity.get_or_none(TenantActivity.tenant == tenant_id)
    total, disabled = int(total or 0), int(disabled or 0)
    return {
        "users": {"total": total, "active": total - disabled, "disabled": disabled},
        "groups": {"total": int(groups)},
        "last_scim_request": isoformat(activity.last_request) if activity is not None else None,
        "requests_24h": int(requests or 0),
        "errors_24h": int(errors or 0),
    }


def series(tenant: Tenant | int, minutes: int = SERIES_MAX_MINUTES) -> list[tuple[dt.datetime, int, int]]:
    """``[(minute, requests, errors)]`` of the last ``minutes`` minutes (at most 1440), oldest first.

    Only minutes with requests are listed (the caller fills the gaps); minutes are naive
    UTC datetimes. One query reading at most 1440 rows of the ``(tenant, minute)`` index.
    """
    minutes = max(1, min(int(minutes), SERIES_MAX_MINUTES))
    flush()
    rows = (RequestStat.select(RequestStat.minute, RequestStat.requests, RequestStat.errors)
            .where((RequestStat.tenant == _tenant_id(tenant)) & (RequestStat.minute >= _window_start(minutes)))
            .order_by(RequestStat.minute)
            .limit(minutes)
            .tuples())
    return [(minute, int(requests), int(errors)) for minute, requests, errors in rows]
