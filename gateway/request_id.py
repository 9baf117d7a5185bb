"""Request ids: one per request, echoed in ``X-Request-ID``, in the logs and the audit log.

A client's ``X-Request-ID`` is kept when it is 1-64 characters of ``[A-Za-z0-9._-]``
(so a load balancer's or an identity provider's id follows the request through); anything
else is replaced by a new id (32 random hex digits, as a uuid4's hex), and so is a value holding ``scimgw_``, the start of
every token and admin key: a secret pasted into the wrong header is never echoed, logged
or written to the audit log. The id is in ``g.request_id`` for the whole request
and in the response header of every answer, errors and 404s included. Log records get it
as ``record.request_id`` (``-`` outside a request) through :class:`RequestIdFilter`.
"""

from __future__ import annotations

import logging
import os
import re

from flask import Flask, has_request_context
from flask.logging import default_handler

from tenants.secrets import SECRET_PREFIX

from .flask_app import current_request, request_globals

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def new_id() -> str:
    """A fresh request id: 128 random bits as hex (``uuid4().hex`` cost 4x more for 122)."""
    return os.urandom(16).hex()


def accept(value: str | None) -> str:
    """The client's id if it is acceptable (and cannot be a secret), else a new one."""
    if value and _VALID.fullmatch(value) and SECRET_PREFIX not in value:
        return value
    return new_id()


def current() -> str | None:
    """The id of the request being handled, or ``None`` outside a request."""
    if not has_request_context():
        return None
    state = request_globals()
    known = state.get("request_id")
    if known is None:
        known = state.request_id = accept(current_request().headers.get(HEADER))
    return known


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (``-`` outside a request); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current() or "-"
        return True


def install_log_filter() -> None:
    """Add :class:`RequestIdFilter` to the handlers that exist now (root, gunicorn, Flask's)."""
    handlers = [*logging.getLogger().handlers, *logging.getLogger("gunicorn.error").handlers, default_handler]
    for handler in handlers:
        if not any(isinstance(existing, RequestIdFilter) for existing in handler.filters):
            handler.addFilter(RequestIdFilter())


def init_app(app: Flask) -> None:
    """Give every request of ``app`` an id, before anything else runs, and echo it."""

    def assign():
        current()

    def echo(response):
        response.headers[HEADER] = current()
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, assign)
    app.after_request(echo)
    install_log_filter()
