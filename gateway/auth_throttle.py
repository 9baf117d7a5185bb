"""Failed authentication is rate limited per client address.

Every ``401`` answered on a path that checks a credential (the SCIM API, the admin API,
the console's sign-in form) counts one failure against the client's address. Once an
address has ``AUTH_FAILURES_PER_MINUTE`` failures in the last minute (a moving window),
each further request of it whose credential is missing or wrong is answered ``429`` with
``Retry-After`` instead of ``401``, until the oldest failure leaves the window; other
addresses are never affected. The surfaces call :func:`refuse_if_blocked` where they are
about to answer ``401``, so each answers in its own error shape (a SCIM error body, the
admin API's JSON, the console's page), and a request with a current credential never
touches the counters at all.

So a current token or admin key still gets through from a blocked address. Identity
providers provision many customers from a few shared egress addresses (Microsoft
Entra's provisioning service among them): one customer's revoked token must not lock
every other tenant behind that address out. This gives a guesser nothing: tokens and
admin keys carry 256 random bits, so online guessing is hopeless whatever the answer
says, and the limit's job is to keep floods of bad credentials cheap (one indexed
lookup, then ``429``), not to hide which guesses are right.

The address is the socket's peer, or the client named in ``X-Forwarded-For`` when
``TRUSTED_PROXIES`` says a proxy sets it (``gateway.app``): behind a proxy that is not
trusted, every client shares the proxy's address and so shares one budget.

Counters are the ``limits`` moving windows of :mod:`gateway.ratelimit` (process memory,
or Redis with ``REDIS_URL`` so every worker and host sees the same count); if the store
fails, requests are let through and the failure is logged (fail open, as there).
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app, g, request
from limits import RateLimitItemPerMinute
from werkzeug.exceptions import TooManyRequests

from . import ratelimit
from .flask_app import request_globals
from .openapi import is_scim_path

NAMESPACE = "auth-failures"
EXTENSION = "scim_gateway.auth_failures"
log = logging.getLogger(__name__)


def checks_credentials() -> bool:
    """True if the current request is one whose credential the gateway checks."""
    path = request.path
    return (is_scim_path(path) or path == "/admin/v1" or path.startswith("/admin/v1/")
            or (request.endpoint == "console.login" and request.method == "POST"))


def _limit() -> RateLimitItemPerMinute | None:
    return current_app.extensions[EXTENSION]


def refuse_if_blocked() -> None:
    """Raise ``429`` (``TooManyRequests``) if the client's address is over its failure budget.

    Call it where a request is about to be answered ``401``; with no limit configured, or
    when the counter store fails (logged, fail open), it does nothing.
    """
    item = _limit()
    if item is None:
        return
    address = request.remote_addr or "-"
    limiter = ratelimit.limiter()
    try:
        if limiter.test(item, NAMESPACE, address):
            return
        reset = limiter.get_window_stats(item, NAMESPACE, address).reset_time
    except Exception:  # the counter store (Redis) is down: fail open, as for tenant rates
        log.exception("Rate-limit storage failed; failed-authentication check skipped")
        return
    g.auth_retry_after = max(1, math.ceil(reset - time.time()))
    detail = ("Too many failed authentications from your address; retry after the time in Retry-After. "
              "Check the bearer token or admin key you send.")
    error = TooManyRequests(description=detail)
    error.data = {"message": detail}  # the admin API's JSON error shows ``message``
    raise error


def _count_failure(response):
    """``after_request``: a 401 on a checked path counts; a throttled answer says when to retry."""
    retry_after = request_globals().get("auth_retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if response.status_code != 401:
        return response
    item = _limit()
    if item is not None and checks_credentials():
        try:
            ratelimit.limiter().hit(item, NAMESPACE, request.remote_addr or "-")
        except Exception:
            log.exception("Rate-limit storage failed; a failed authentication was not counted")
    return response


def init_app(app: Flask, per_minute: int) -> None:
    """Allow each address ``per_minute`` failed authentications in ``app`` (0: no limit).

    Call it after :func:`gateway.ratelimit.init_app`, whose counters it shares.
    """
    app.extensions[EXTENSION] = RateLimitItemPerMinute(per_minute) if per_minute else None
    app.after_request(_count_failure)
