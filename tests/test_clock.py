"""``tenants.clock``: stored times are naive UTC to the millisecond."""

from __future__ import annotations

import datetime as dt

from tenants.clock import isoformat, utcnow


def test_utcnow_is_naive_utc_in_whole_milliseconds():
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    now = utcnow()
    after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert now.tzinfo is None and now.microsecond % 1000 == 0
    assert before - dt.timedelta(milliseconds=1) <= now <= after


def test_isoformat_is_rfc3339_with_z():
    assert isoformat(dt.datetime(2026, 11, 29, 8, 55, 43, 123000)) == "2026-11-29T08:55:43.123Z"
