"""Failed authentication is rate limited per client address.

Every ``401`` answered on a path that checks a credential (the SCIM API, the admin API,
the console's sign-in form) counts one failure against the client's address. Once an
address has ``AUTH_FAILURES_PER_MINUTE`` failures in the last minute (a moving window),
every request it makes to those paths **without a current credential** is answered
``429`` with ``Retry-After`` until the oldest failure leaves the window; other
addresses are never affected. Each surface answers in its own error shape (a SCIM
error body under SCIM paths, the admin API's JSON, the console's error page).

Requests that carry a current token or admin key still get through from a blocked
address. Identity providers provision many customers from a few shared egress
addresses (Microsoft Entra's provisioning service among them): one customer's revoked
token must not lock every other tenant behind that address out. This gives a guesser
nothing: tokens and admin keys carry 256 random bits, so online guessing is hopeless
whatever the answer says, and the limit's job is to keep floods of bad credentials
cheap (one indexed lookup, then ``429``), not to hide which guesses are right.

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

from tenants import admin_keys, services

from . import ratelimit
from .auth import bearer_token
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


def _presents_current_credential() -> bool:
    """True if the request carries a current token (SCIM) or admin key (admin API, console sign-in)."""
    if request.endpoint == "console.login":
        secret = (request.form.get("key") or "").strip()
    else:
        secret = bearer_token()
    if not secret:
        return False
    if is_scim_path(request.path):
        return services.authenticate(secret) is not None
    return admin_keys.authenticate(secret) is not None


def _refuse_if_blocked() -> None:
    """``before_request``: 429 for an address that is over its failure budget."""
    item = _limit()
    if item is None or not checks_credentials():
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
    if _presents_current_credential():
        return
    g.auth_retry_after = max(1, math.ceil(reset - time.time()))
    detail = ("Too many failed authentications from your address; retry after the time in Retry-After. "
              "Check the bearer token or admin key you send.")
    error = TooManyRequests(description=detail)
    error.data = {"message": detail}  # the admin API's JSON error shows ``message``
    raise error


def _count_failure(response):
    """``after_request``: a 401 on a checked path counts; a throttled answer says when to retry."""
    retry_after = g.get("auth_retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    item = _limit()
    if item is not None and response.status_code == 401 and checks_credentials():
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
    app.before_request(_refuse_if_blocked)
    app.after_request(_count_failure)
