"""The flask-smorest ``Api``: OpenAPI 3 for every path, SCIM-shaped errors, an offline ``/docs``.

Swagger UI's JavaScript and CSS come from the ``swagger-ui-bundle`` package and are served
by the gateway itself at ``/docs-assets/``, so ``/docs`` works on a machine with no
internet access.
"""

from __future__ import annotations

import re

import swagger_ui_bundle
from apispec import BasePlugin
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


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
_ANY_REQUEST = {
    429: ("Too many requests: the tenant is over its rate, or this address made too many failed "
          "authentications. Retry after the seconds in Retry-After.", _RETRY_AFTER),
    500: ("The server could not complete the request; nothing was changed.", None),
}


def _error_response(description: str, media_type: str, schema: str, headers: dict | None) -> dict:
    response = {"description": description,
                "content": {media_type: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}
    if headers:
        response["headers"] = headers
    return response


class AnyRequestErrors(BasePlugin):
    """apispec plugin: document on every SCIM and admin operation the errors any request may get.

    flask-smorest's catch-all ``default`` response is turned off (it would make every status
    code "documented", in the admin API's JSON shape even under SCIM paths), so each status
    an operation answers is listed with its real media type and body: 429 (rate limits,
    with ``Retry-After``) and 500 on every operation, in the SCIM error shape under SCIM
    paths and in flask-smorest's shape under ``/admin/v1``.
    """

    def operation_helper(self, path=None, operations=None, **kwargs):
        """Add the any-request errors to each operation of ``path``."""
        if is_scim_path(path or ""):
            shape = ("application/scim+json", "ScimErrorBody")
        elif (path or "").startswith("/admin/"):
            shape = ("application/json", "Error")
        else:
            return
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            for code, (description, headers) in _ANY_REQUEST.items():
                responses.setdefault(str(code), _error_response(description, *shape, headers))


class GatewayApi(Api):
    """flask-smorest's Api, answering HTTP errors under SCIM paths in the SCIM shape.

    Operations list the statuses they answer; there is no catch-all ``default`` response
    (see :class:`AnyRequestErrors`).
    """

    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error):
        """SCIM error body for SCIM paths; flask-smorest's JSON error elsewhere (admin API)."""
        from flask import request

        if is_scim_path(request.path):
            return scim_error_response(scim_error_from_http(error))
        return super().handle_http_exception(error)


def init_app(app: Flask) -> GatewayApi:
    """Build the Api for ``app``, register the docs assets, and return it."""
    api = GatewayApi(app, spec_kwargs={
        "extra_plugins": [AnyRequestErrors()],
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
