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
    "PATCH_RESPONSE_MAX_MEMBERS": 1000,
    # Run pending schema migrations when the app starts.
    "AUTO_MIGRATE": True,
    # PostgreSQL: connections each process keeps in its pool (requests wait for a free one).
    "DB_POOL_SIZE": 8,
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
    app.config.setdefault("DATABASE_URL", default_database_url(app))
    app.config["PUBLIC_URL"] = app.config["PUBLIC_URL"].rstrip("/")
