"""The flask-smorest ``Api``: OpenAPI 3 for every path, SCIM-shaped errors, an offline ``/docs``.

Swagger UI's JavaScript and CSS come from the ``swagger-ui-bundle`` package and are served
by the gateway itself at ``/docs-assets/``, so ``/docs`` works on a machine with no
internet access.
"""

from __future__ import annotations

import re

import swagger_ui_bundle
from flask import Blueprint, Flask, send_from_directory
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from . import errors
from .scim.http import scim_response

SCIM_PATH = re.compile(r"^/(?:tenants/[^/]+/)?scim/v2(?:/|$)")

_HTTP_TO_SCIM = {
    400: errors.InvalidSyntaxError,
    404: errors.NotFoundError,
    405: errors.MethodNotAllowedError,
    413: errors.PayloadTooLargeError,
    415: errors.UnsupportedMediaTypeError,
    501: errors.NotImplementedScimError,
}


def is_scim_path(path: str) -> bool:
    """True for paths under a SCIM base URL (per-tenant or shared)."""
    return bool(SCIM_PATH.match(path))


def scim_error_response(error: errors.ScimError):
    """The HTTP response of a SCIM error: its body, status and headers."""
    return scim_response(error.to_body(), error.status, error.headers)


def scim_error_from_http(error: HTTPException) -> errors.ScimError:
    """The SCIM error equivalent to a werkzeug HTTP exception (routing, size limits...).

    Headers werkzeug sets (``Allow`` on 405) are kept.
    """
    cls = _HTTP_TO_SCIM.get(error.code)
    if cls is not None:
        detail = {
            404: "No such endpoint under this SCIM base URL.",
            405: "This endpoint does not support that HTTP method.",
        }.get(error.code, error.description)
        scim_error = cls(detail)
    else:
        scim_error = errors.ScimError(error.description)
        scim_error.status = error.code or 500
    kept = {name: value for name, value in error.get_headers() if name.lower() == "allow"}
    scim_error.headers = {**scim_error.headers, **kept}
    return scim_error


class GatewayApi(Api):
    """flask-smorest's Api, answering HTTP errors under SCIM paths in the SCIM shape."""

    def handle_http_exception(self, error):
        """SCIM error body for SCIM paths; flask-smorest's JSON error elsewhere (admin API)."""
        from flask import request

        if is_scim_path(request.path):
            return scim_error_response(scim_error_from_http(error))
        return super().handle_http_exception(error)


def init_app(app: Flask) -> GatewayApi:
    """Build the Api for ``app``, register the docs assets, and return it."""
    api = GatewayApi(app, spec_kwargs={
        "info": {
            "description": (
                "Multi-tenant SCIM 2.0 provisioning gateway. Each tenant has a Tenant URL "
                "(/tenants/{tenant}/scim/v2) and a Secret token sent as a bearer token; the "
                "shared URL /scim/v2 picks the tenant from the token alone. Errors under SCIM "
                "paths are RFC 7644 §3.12 error bodies."
            )
        },
    })
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "The tenant's Secret token."}
    )
    api.spec.options["security"] = [{"bearer": []}]
    assets = Blueprint("docs_assets", __name__)

    @assets.route("/docs-assets/<path:filename>")
    def docs_asset(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    app.register_blueprint(assets)
    return api
