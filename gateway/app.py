"""The application factory."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from tenants import db as tenant_db
from tenants.migrate import migrate

from . import access_log, auth_throttle, config, errors, plugin_manager, ratelimit, redact
from .flask_app import GatewayFlask, current_request, request_globals
from .openapi import init_app as init_api
from .openapi import is_scim_path, scim_error_response
from . import request_id
from tenants import stats, statistics

log = logging.getLogger(__name__)


def _init_database(app: Flask) -> None:
    if not isinstance(app.config["DB_SERVER_PREPARE"], bool):
        raise ValueError(f"DB_SERVER_PREPARE must be true or false, not {app.config['DB_SERVER_PREPARE']!r}.")
    database = tenant_db.bind(app.config["DATABASE_URL"], pool_size=app.config["DB_POOL_SIZE"],
                              server_prepare=app.config["DB_SERVER_PREPARE"])
    if app.config["AUTO_MIGRATE"]:
        migrate(database)
        # Keep no connection from start-up: a server's master forks its workers next.
        tenant_db.close_pool(database)

    @app.before_request
    def _connect():
        if not (current_request().endpoint or "").startswith("ops."):
            tenant_db.database.obj.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(_exc):
        bound = tenant_db.database.obj  # not through the proxy: each of its reads raises and catches
        if not bound.is_closed():
            bound.close()


def _init_request_stats(app: Flask) -> None:
    """Count every authenticated SCIM request per tenant and minute (:mod:`tenants.stats`).

    A status >= 400 counts as an error; a request whose token did not authenticate has
    no tenant and is not counted. The buffered counts are written, when due, once the
    response has been sent (``call_on_close``), never while the client waits.
    """
    stats.reset()
    statistics.reset()

    @app.after_request
    def _count_scim_request(response):
        tenant = request_globals().get("tenant")
        req = current_request()
        if tenant is not None and is_scim_path(req.path):
            stats.count(tenant.id, response.status_code >= 400, defer=True)
            response.call_on_close(stats.flush_if_due)
            if req.method != "GET":  # PostgreSQL: ANALYZE the tables this process grew (tenants.statistics)
                response.call_on_close(statistics.analyse_if_grown)
        return response


def _whole_number(app: Flask, key: str) -> int:
    """The setting ``key`` as an int >= 0, or a start-up error naming it."""
    value = app.config[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} must be a whole number >= 0, not {value!r}.")
    return value


def _trust_proxies(app: Flask) -> None:
    """Honour ``X-Forwarded-For/-Proto/-Host/-Port/-Prefix`` only from ``TRUSTED_PROXIES`` hops.

    werkzeug's ProxyFix takes the *last* N values of each header (those the trusted
    proxies appended), so a client cannot choose its own address or host by sending the
    headers itself. With 0 (the default) the headers are ignored: Tenant URLs,
    ``meta.location``, the client address in the logs and the failed-authentication
    throttle all come from the request line and the socket.
    """
    hops = _whole_number(app, "TRUSTED_PROXIES")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)


def _init_errors(app: Flask) -> None:
    @app.errorhandler(errors.ScimError)
    def _scim_error(error: errors.ScimError):
        return scim_error_response(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        if is_scim_path(request.path):
            return scim_error_response(errors.InternalError())
        return {"code": 500, "status": "Internal Server Error",
                "message": "The server could not complete the request; see the server log."}, 500


def create_app(test_config: dict | None = None) -> Flask:
    """Build the gateway: configuration, database (migrated), OpenAPI, blueprints, errors.

    :param test_config: settings that override defaults and the environment (tests).
    """
    app = GatewayFlask(__name__, instance_relative_config=True)
    config.load(app, test_config)
    _trust_proxies(app)
    access_log.init_app(app)  # first: it times the whole request and logs its final status
    request_id.init_app(app)  # every answer, even a failed start of a request, has one
    redact.init_app(app)
    _init_request_stats(app)
    _init_database(app)
    app.extensions["scim_gateway"] = plugin_manager.from_environment()
    ratelimit.init_app(app)
    auth_throttle.init_app(app, _whole_number(app, "AUTH_FAILURES_PER_MINUTE"))
    api = init_api(app)

    from .admin import init_app as init_admin
    from .ops import blp as ops_blp
    from .scim.views import blp as scim_blp

    api.register_blueprint(ops_blp)
    api.register_blueprint(
        scim_blp,
        url_prefix="/tenants/<tenant>/scim/v2",
        name="scim-tenant",
        parameters=[{"in": "path", "name": "tenant", "required": True, "schema": {"type": "string"},
                     "description": "The tenant's slug, as in its Tenant URL."}],
    )
    api.register_blueprint(scim_blp, url_prefix="/scim/v2", name="scim-shared")
    init_admin(api)
    from .console import init_app as init_console  # the web console, /console
    init_console(app)
    _init_errors(app)
    return app
