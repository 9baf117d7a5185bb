"""Where a deep page of a tenant's users begins, without skipping every user before it.

SCIM pages by position (``startIndex``), and ``OFFSET n`` reads the n rows it skips: paging
through 100,000 users read 5,000,000 index entries, and a page near the end cost 25 to 35
ms on PostgreSQL. This module keeps, per process and per tenant, *anchors*: the paging key
``(created, id)`` of every :data:`SPACING`-th live user, in paging order. A page at offset
n then starts after the nearest anchor before it and skips fewer than :data:`SPACING` rows.

Anchors hold only while the ordered set of live users is exactly what it was when they
were read. ``user_tally.changes`` (migration 0010, kept by triggers) counts every change
to that set and only grows, so anchors are stored with the count they were read at and
used only while the tally still says so; every request reads the tally anyway (for
``totalResults``). Nothing is shared between processes, so nothing can go stale in
another one. While a tenant's users keep changing (an initial sync), rebuilding anchors
on every deep page would cost more than the OFFSET it saves: a tenant's anchors are
rebuilt at most once per :data:`REBUILD_INTERVAL`, by one thread at a time, and pages in
between use OFFSET.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Hashable, Sequence

#: Users between two anchors: at most this many rows are skipped per page.
SPACING = 1000
#: Seconds before a tenant whose users changed gets new anchors.
REBUILD_INTERVAL = 2.0
#: Tenants whose anchors a process keeps (least recently used go first).
MAX_TENANTS = 256

_lock = threading.Lock()
# tenant key -> (tally changes the anchors were read at, anchors, monotonic time read)
_anchors: OrderedDict[Hashable, tuple[int, Sequence[tuple], float]] = OrderedDict()
_reading: set[Hashable] = set()  # tenants whose anchors a thread of this process is reading


def start(tenant: Hashable, changes: int, offset: int,
          read: Callable[[], tuple[Sequence[tuple], int]]) -> tuple[int, tuple] | None:
    """``(position, key)`` to page from for ``offset``: the paging key of the user at
    0-based position ``position - 1``, with ``position <= offset``; ``None``: use OFFSET.

    ``tenant`` must name one tenant for the life of the process: its id with its creation
    time, since a tenant deleted and created again can get the same id and, after as many
    changes, the same tally.

    ``changes`` is the tenant's tally now. ``read()`` returns ``(anchors, changes)``: the
    key of every :data:`SPACING`-th live user, read from the database, and the tally after
    reading them. Anchors read while the set changed match no state: they are not used,
    and only the time of the reading is kept (for :data:`REBUILD_INTERVAL`).
    """
    if offset < SPACING:
        return None
    now = time.monotonic()
    with _lock:
        kept = _anchors.get(tenant)
        if kept is not None:
            _anchors.move_to_end(tenant)
        if kept is not None and kept[0] == changes:
            anchors = kept[1]
        elif tenant in _reading or (kept is not None and now - kept[2] < REBUILD_INTERVAL):
            return None  # another thread is reading them, or they were read a moment ago
        else:
            anchors = None
            _reading.add(tenant)
    if anchors is None:
        try:
            anchors, changes_after = read()
        finally:
            with _lock:
                _reading.discard(tenant)
        consistent = changes_after == changes  # else the set changed while they were read: they match no count
        with _lock:
            _anchors[tenant] = (changes if consistent else -1, anchors, now)  # -1: kept for the interval only
            _anchors.move_to_end(tenant)
            while len(_anchors) > MAX_TENANTS:
                _anchors.popitem(last=False)
        if not consistent:
            return None
    index = min(offset // SPACING, len(anchors))
    if index == 0:
        return None
    return index * SPACING, anchors[index - 1]


def forget() -> None:
    """Drop every tenant's anchors (tests; a new app)."""
    with _lock:
        _anchors.clear()
        _reading.clear()
