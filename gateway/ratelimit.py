"""Per-tenant request rate limiting for the SCIM API (issue: fair sharing).

The rate comes from the tenant's ``scim_rate_limit`` policy (the built-in ``rate-limit``
plugin). If the counter store fails (Redis down), requests are let through and the
failure is logged: fail open, because refusing every tenant is worse than not limiting.
Counters use a moving window from the ``limits`` library (the engine behind
flask-limiter; used directly because the tenant is only known after authentication,
which runs in the SCIM blueprint, after flask-limiter's app-level check). They live in
process memory, or in Redis when ``REDIS_URL`` is set so that every worker and host
shares them. The same limiter counts failed authentications (:mod:`gateway.auth_throttle`).
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .errors import TooManyRequestsError
from .plugin_manager import TenantHooks

EXTENSION = "scim_gateway.rate_limiter"
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Create the app's limiter on memory or on ``REDIS_URL``."""
    storage = storage_from_string(app.config.get("REDIS_URL") or "memory://")
    app.extensions[EXTENSION] = MovingWindowRateLimiter(storage)


def limiter() -> MovingWindowRateLimiter:
    """The current app's moving-window limiter (memory or Redis)."""
    return current_app.extensions[EXTENSION]


def check(hooks: TenantHooks, slug: str) -> None:
    """Count one request of tenant ``slug``; raise 429 with Retry-After when over its rate."""
    rate = hooks.rate_limit()
    if not rate:
        return
    items = hooks.memo.get(("rate_items", rate))
    if items is None:
        items = hooks.memo[("rate_items", rate)] = parse_many(rate)
    counters = limiter()
    for item in items:
        try:
            allowed = counters.hit(item, "scim-tenant", slug)
        except Exception:  # the counter store (Redis) is down: serve rather than refuse everyone
            log.exception("Rate-limit storage failed; request of tenant %r allowed", slug)
            return
        if not allowed:
            reset = counters.get_window_stats(item, "scim-tenant", slug).reset_time
            raise TooManyRequestsError(
                f"Tenant {slug!r} exceeded its rate limit of {rate}; retry after the time in Retry-After.",
                retry_after=math.ceil(reset - time.time()),
            )
