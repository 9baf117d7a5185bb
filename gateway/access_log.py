"""One structured log line per request, and the gateway's log output (JSON or text).

Every answer, 404s, 401s, 429s and 500s included, is logged once on the
``scim_gateway.access`` logger (level INFO) with these fields:

``request_id``
    as returned in ``X-Request-ID`` and recorded with the request's audit events;
``tenant``
    the authenticated tenant's slug, ``null`` when no tenant was authenticated (a slug
    taken from an unauthenticated URL is never logged);
``method``, ``route``
    the HTTP method and the route *pattern* that matched, e.g.
    ``/tenants/<tenant>/scim/v2/Users/<string:resource_id>`` (``null`` when no route matched);
``status``, ``duration_ms``
    the status code and the time spent in the app, in milliseconds;
``client``
    the client's address (the socket's, or the forwarded one behind a trusted proxy);
``actor``
    who authenticated, as the audit log names it: ``token:<display prefix>`` or
    ``admin:<key name>``; ``null`` otherwise.

What is never logged: the raw path (it holds resource ids, and whatever a caller typed
into it), the query string (SCIM filters carry userNames and emails), headers and
bodies. So a token or key sent in the wrong place does not reach the log; and both
formatters redact secret-shaped strings from every record (:mod:`gateway.redact`), e.g.
from an exception's message.

``LOG_FORMAT`` chooses the output: ``json`` writes every record of the process (these
lines, the gateway's warnings and errors) as one JSON object per line on stderr;
``text`` writes them as plain lines; empty (the default of :func:`gateway.app.create_app`)
installs no handler, so an embedding application's logging decides. ``scim-gateway
serve`` uses ``json`` unless told otherwise. The JSON formatter is a dozen lines
(:func:`tenants.json_text.dumps`) rather than a dependency (python-json-logger) for one flat object.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time

from flask import Flask

from tenants.audit import admin_actor, token_actor
from tenants.json_text import dumps

from .flask_app import current_request, request_globals
from .redact import scrub
from .request_id import RequestIdFilter, current

LOGGER = "scim_gateway.access"
HANDLER_NAME = "scim-gateway"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
FORMATS = ("json", "text")
#: The message of an access record (its ``fields`` hold the same values, one key each).
ACCESS_MESSAGE = "%s %s %s %sms tenant=%s client=%s actor=%s"

access_log = logging.getLogger(LOGGER)


class TextFormatter(logging.Formatter):
    """A record as one plain line (:data:`TEXT_FORMAT`), secret-shaped strings redacted."""

    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, request id, its ``fields``;
    secret-shaped strings redacted (:func:`gateway.redact.scrub`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return scrub(dumps(entry, default=str))


def configure(log_format: str) -> None:
    """Send the process's log records to stderr as ``json`` or ``text`` (one handler, on root).

    Calling it again replaces the handler it installed before, so records are never
    written twice.
    """
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)} (or empty), not {log_format!r}.")
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if handler.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)


def request_fields(status: int) -> dict:
    """The access-log fields of the request being answered with ``status``."""
    state, req = request_globals(), current_request()
    started = state.get("access_started")  # get(): a missing attribute of g raises twice
    tenant = state.get("tenant")
    key = state.get("admin_key")
    prefix = state.get("token_prefix")
    actor = None
    if prefix:
        actor = token_actor(prefix)
    elif key is not None:
        actor = admin_actor(key.name)
    rule = req.url_rule
    return {
        "request_id": current(),
        "tenant": tenant.slug if tenant is not None else None,
        "method": req.method,
        "route": rule.rule if rule is not None else None,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started is not None else None,
        "client": req.remote_addr,
        "actor": actor,
    }


def _start() -> None:
    request_globals().access_started = time.perf_counter()


def _log(response):
    """``after_request``: hand the request's record to the access logger's handlers.

    The record is made here rather than by ``access_log.info``: that would also look up
    the calling frame (``findCaller``) and let :class:`RequestIdFilter` find the request
    id again, together a quarter of the line's cost on every request.
    """
    if not access_log.isEnabledFor(logging.INFO):
        return response
    fields = request_fields(response.status_code)
    args = (fields["method"], fields["route"] or "-", fields["status"], fields["duration_ms"],
            fields["tenant"] or "-", fields["client"] or "-", fields["actor"] or "-")
    record = access_log.makeRecord(LOGGER, logging.INFO, __file__, 0, ACCESS_MESSAGE, args, None,
                                   func="_log", extra={"fields": fields, "request_id": fields["request_id"]})
    access_log.handle(record)
    return response


def init_app(app: Flask) -> None:
    """Log every request of ``app``; install the ``LOG_FORMAT`` handler if one is set.

    Call it before any other ``before_request``/``after_request`` registration: its timer
    starts first and, as after-request functions run in reverse order, its line is
    written last, with the final status.
    """
    if app.config["LOG_FORMAT"]:
        configure(app.config["LOG_FORMAT"])
    if access_log.level == logging.NOTSET:
        access_log.setLevel(logging.INFO)
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_log)
