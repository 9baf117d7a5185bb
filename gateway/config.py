"""Configuration: defaults, then ``SCIM_GATEWAY_*`` environment variables, then test overrides.

``DATABASE_URL`` (unprefixed, the common convention) selects the database; without it the
gateway uses SQLite in the Flask instance folder.
"""

from __future__ import annotations

import os

from flask import Flask

DEFAULTS = {
    # Public base URL (scheme://host[:port]) used for Tenant URLs and meta.location.
    # Empty: taken from each request's host.
    "PUBLIC_URL": "",
    # Largest request body accepted, in bytes (413 above it).
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # Page size used when a list request has no ``count``, and the largest allowed.
    "DEFAULT_PAGE_SIZE": 100,
    "MAX_PAGE_SIZE": 1000,
    # POST /Bulk (RFC 7644 §3.7): most operations per request (0 turns Bulk off) and the
    # largest BulkRequest body in bytes; both advertised in ServiceProviderConfig, 413 above.
    "BULK_MAX_OPERATIONS": 1000,
    "BULK_MAX_PAYLOAD_SIZE": 1024 * 1024,
    # A PATCH of a group with more members than this answers 204 instead of listing them
    # all (RFC 7644 §3.5.2 allows either), unless the request names attributes to return.
    # Entra and Okta ignore the answer to a member PATCH (Microsoft's own examples answer
    # 204): listing 1,000 members was 100 KB and most of the CPU of each member change.
    "PATCH_RESPONSE_MAX_MEMBERS": 100,
    # Limits on what one SCIM request may carry; each is refused with a SCIM error before
    # anything is stored (docs/identity.md lists them with their errors):
    # JSON nested deeper than this many levels: 400 invalidSyntax.
    "MAX_JSON_DEPTH": 32,
    # More operations in one PATCH: 413.
    "PATCH_MAX_OPERATIONS": 1000,
    # More member values in one POST/PUT/PATCH (summed over a PATCH's operations): 413.
    "MAX_MEMBERS_PER_REQUEST": 10_000,
    # More values in one multi-valued attribute other than members (emails...): 400 invalidValue.
    "MAX_VALUES_PER_ATTRIBUTE": 100,
    # Longer strings, in characters: 400 invalidValue. Attributes kept in a database column
    # (userName, externalId, name.givenName/familyName, displayName, members) stop at 255,
    # emails[].value at 254, whatever this says.
    "MAX_STRING_LENGTH": 2048,
    # Run pending schema migrations when the app starts.
    "AUTO_MIGRATE": True,
    # PostgreSQL: connections each process keeps in its pool (requests wait for a free one).
    "DB_POOL_SIZE": 8,
    # PostgreSQL: PREPARE the hottest statements once per pooled connection (tenants.statements);
    # turn off behind a pooler in transaction mode (PgBouncer pool_mode = transaction).
    "DB_SERVER_PREPARE": True,
    # OpenAPI / docs (flask-smorest)
    "API_TITLE": "SCIM gateway",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs-assets/",
    # No online validator: /docs must not send the spec's URL to a third-party site.
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
    "JSON_SORT_KEYS": False,
    # Logs (gateway.access_log): "json" (one JSON object a line) or "text" on stderr; empty:
    # the gateway adds no handler and the host's logging decides (`serve` defaults to json).
    "LOG_FORMAT": "",
    # Reverse proxies in front of the gateway whose X-Forwarded-For/-Proto/-Host/-Port/-Prefix
    # are trusted (werkzeug ProxyFix); 0: those headers are ignored.
    "TRUSTED_PROXIES": 0,
    # Failed authentications (401s) one client address may cause per minute before its
    # requests without a current credential get 429 (gateway.auth_throttle); 0: no limit.
    "AUTH_FAILURES_PER_MINUTE": 20,
}


def default_database_url(app: Flask) -> str:
    """SQLite in the instance folder: ``<instance>/scim-gateway.db``."""
    return "sqlite:///" + os.path.join(app.instance_path, "scim-gateway.db")


def load(app: Flask, overrides: dict | None) -> None:
    """Fill ``app.config`` from defaults, the environment and ``overrides`` (in that order)."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("SCIM_GATEWAY")
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if os.environ.get("REDIS_URL"):
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    if overrides:
        app.config.update(overrides)
    if not app.config.get("DATABASE_URL"):  # unset, or set but empty (SCIM_GATEWAY_DATABASE_URL=)
        app.config["DATABASE_URL"] = default_database_url(app)
    app.config["PUBLIC_URL"] = app.config["PUBLIC_URL"].rstrip("/")
