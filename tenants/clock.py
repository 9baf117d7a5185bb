"""Timestamps: naive UTC datetimes in the database, ISO 8601 with ``Z`` on the wire."""

from __future__ import annotations

import datetime as dt
import time

_EPOCH = dt.datetime(1970, 1, 1)


def utcnow() -> dt.datetime:
    """The current time as a naive UTC datetime with millisecond precision (what we store).

    Built as the epoch plus whole milliseconds: one datetime made instead of three
    (``now(utc)``, then dropping the zone and the sub-millisecond part), and a write
    request asks for the time several times.
    """
    return _EPOCH + dt.timedelta(milliseconds=time.time_ns() // 1_000_000)


def isoformat(value: dt.datetime) -> str:
    """Render a stored naive-UTC datetime as RFC 3339, e.g. ``2026-11-29T08:55:43.123Z``."""
    return value.isoformat(timespec="milliseconds") + "Z"
