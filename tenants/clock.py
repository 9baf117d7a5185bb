"""Timestamps: naive UTC datetimes in the database, ISO 8601 with ``Z`` on the wire."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time as a naive UTC datetime with millisecond precision (what we store)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def isoformat(value: dt.datetime) -> str:
    """Render a stored naive-UTC datetime as RFC 3339, e.g. ``2026-11-29T08:55:43.123Z``."""
    return value.isoformat(timespec="milliseconds") + "Z"
