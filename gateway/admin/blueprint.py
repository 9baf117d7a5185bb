"""The ``/admin/v1`` blueprint: admin-key authentication, tenant scoping, input and errors.

Every request is authenticated in ``before_request`` (one indexed lookup of the key's
digest), and a ``<slug>`` in the URL is resolved there too, so no view can forget the
scope check: a key limited to some tenants gets the same 404 for another tenant as for a
tenant that does not exist. Errors keep flask-smorest's JSON shape
(``{"code", "status", "message", "errors"?}``); invalid input is a 400 whose ``message``
names each bad field and whose ``errors`` maps location and field to messages.
"""

from __future__ import annotations

import functools
from http import HTTPStatus

from flask import current_app, g, request
from flask_smorest import Blueprint, abort
from flask_smorest.error_handler import ErrorSchema
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from tenants import admin_keys
from tenants.models import Tenant

from ..auth import bearer_token
from ..auth_throttle import refuse_if_blocked
from ..errors import ScimError
from ..plugin_manager import TenantHooks
from ..scim.operations import lookup_for
from .schemas import storable

SECURITY_SCHEME = "adminKey"
WWW_AUTHENTICATE = 'Bearer realm="scim-gateway admin"'

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `message` names each bad field, `errors` maps field to messages. Nothing changed.",
    401: "Missing, wrong or revoked admin key (a tenant's SCIM token is not an admin key).",
    403: "The admin key is limited to some tenants and may not do this.",
    404: "No such tenant (or not one this admin key may see), or no such resource in the tenant.",
    409: "Conflicts with the current state; `message` says why. Nothing changed.",
    415: "The body must be JSON (Content-Type: application/json).",
}


def fail(status: int, message: str, errors: dict | None = None, headers: dict | None = None):
    """Stop the request with flask-smorest's JSON error body."""
    extra = {"errors": errors} if errors else {}
    if headers:
        extra["headers"] = headers
    abort(status, message=message, **extra)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _flatten(messages, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        return [line for key, value in messages.items()
                for line in _flatten(value, _join(prefix, "body" if key == "_schema" else str(key)))]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        text = " ".join(message.rstrip(".") + "." for message in messages)
        return [f"{prefix}: {text}" if prefix else text]
    if isinstance(messages, list):
        return [line for index, value in enumerate(messages) for line in _flatten(value, f"{prefix}.{index}")]
    return [f"{prefix}: {messages}"]


def invalid(errors: dict, lead: str = "Invalid input") -> None:
    """A 400 whose message lists each field's errors.

    ``errors`` is shaped as webargs shapes it (``{"json": {field: [messages]}}``); the
    message names body fields by their path (``settings.plugins.x``) and query
    parameters as ``query.<name>``.
    """
    lines = []
    for location, messages in errors.items():
        lines += _flatten(messages, "" if location == "json" else str(location))
    fail(400, f"{lead}: " + " ".join(line if line.endswith(".") else line + "." for line in lines), errors=errors)


class AdminParser(FlaskParser):
    """webargs' Flask parser, answering bad input with 400 and a readable ``message``.

    A body that is not declared as JSON is refused (415) instead of being read as empty,
    so ``PATCH`` with the wrong Content-Type cannot silently change nothing.
    """

    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):
        """The JSON body, ``missing`` when there is none, 415 for a body of another type."""
        if not is_json_request(req):
            if req.get_data(cache=True):
                fail(415, "Send the body as JSON with 'Content-Type: application/json'.")
            return core.missing
        return core.parse_json(req.get_data(cache=True))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        """A body that does not parse as JSON: 400."""
        fail(400, "The body is not valid JSON.", errors={"json": ["Invalid JSON body."]})

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        """A validation error: 400 naming each bad field (see :func:`invalid`)."""
        invalid(error.messages)


class AdminBlueprint(Blueprint):
    """A smorest Blueprint whose operations all document the admin-key security scheme."""

    ARGUMENTS_PARSER = AdminParser()

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        """flask-smorest's ``arguments``; a JSON body documented as required must be sent.

        Without this, a PATCH with no body parsed as ``{}`` and answered 200 having changed
        nothing, though the document says the body is required (found by the OpenAPI fuzzer).
        """
        decorate = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json" or not required:
            return decorate

        def wrap(function):
            parsed = decorate(function)

            @functools.wraps(parsed)
            def view(*args, **view_kwargs):
                if not request.get_data(cache=True):
                    fail(400, "Send a JSON body (Content-Type: application/json).",
                         errors={"json": ["A JSON body is required."]})
                return parsed(*args, **view_kwargs)

            return view

        return wrap

    def _store_endpoint_docs(self, endpoint, obj, parameters, tags, **options):
        """Store a view's docs as flask-smorest does, adding ``security: [adminKey]``."""
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        for method, doc in self._docs[endpoint].items():
            if method != "parameters":
                doc.setdefault("manual_doc", {}).setdefault("security", [{SECURITY_SCHEME: []}])


blp = AdminBlueprint(
    "admin",
    __name__,
    url_prefix="/admin/v1",
    description=("MSP administration: tenants, tokens, the role catalog, group mappings, users, "
                 "individual permissions. Send 'Authorization: Bearer <admin key>'."),
)


def errors(*codes: int):
    """Document error answers of a view (flask-smorest's error body) with ``alt_response``."""

    def decorate(function):
        for code in codes:
            function = blp.alt_response(
                code, schema=ErrorSchema, description=ERROR_DESCRIPTIONS[code],
                example={"code": code, "status": HTTPStatus(code).phrase, "message": "..."},
            )(function)
        return function

    return decorate


@blp.url_value_preprocessor
def _pop_slug(endpoint, values):
    g.admin_slug = values.pop("slug", None) if values else None


@blp.before_request
def _authenticate():
    """Authenticate the admin key and resolve the tenant of a ``<slug>`` path."""
    secret = bearer_token()
    if secret is None:
        refuse_if_blocked()
        fail(401, "Missing admin key: send 'Authorization: Bearer <admin key>'.",
             headers={"WWW-Authenticate": WWW_AUTHENTICATE})
    key = admin_keys.authenticate(secret)
    if key is None:
        refuse_if_blocked()
        fail(401, "The admin key is not valid (wrong, revoked, or not an admin key).",
             headers={"WWW-Authenticate": WWW_AUTHENTICATE + ', error="invalid_token"'})
    g.admin_key = key
    slug = g.get("admin_slug")
    if not all(storable(str(value)) for value in [slug or "", *(request.view_args or {}).values()]):
        fail(404, "No such tenant or resource: the path holds a NUL or a lone surrogate.")
    g.tenant = None
    if slug is not None:
        tenant = Tenant.get_or_none(Tenant.slug == slug) if admin_keys.may_administer(key, slug) else None
        if tenant is None:
            fail(404, f"No tenant {slug!r}.")
        g.tenant = tenant


@blp.errorhandler(ScimError)
def _policy_error(error: ScimError):
    """A policy's refusal (e.g. the role-assignment plugin's 409), in the admin error shape."""
    return {"code": error.status, "status": HTTPStatus(error.status).phrase, "message": error.detail}, error.status


def unscoped_only(function):
    """Let only keys valid for every tenant run this view (checked before the body is read)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if admin_keys.scope_of(g.admin_key) is not None:
            fail(403, "This admin key is limited to some tenants and cannot do this; use an unscoped key.")
        return function(*args, **kwargs)

    return wrapper


def allowed_slugs() -> list[str] | None:
    """The tenants the request's key may see (``None``: all)."""
    return admin_keys.scope_of(g.admin_key)


def hooks_for(tenant: Tenant) -> TenantHooks:
    """The tenant's plugin hooks, exactly as its SCIM requests get them."""
    return current_app.extensions["scim_gateway"].for_tenant(
        tenant.slug, tenant.name, tenant.settings, tenant.updated, lookup_for(tenant)
    )


def page_of(args: dict, total: int, items: list) -> dict:
    """The paged answer ``{"items", "total", "page", "per_page"}``."""
    return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


def offset_of(args: dict) -> tuple[int, int]:
    """``(offset, limit)`` of ``?page=&per_page=``."""
    return (args["page"] - 1) * args["per_page"], args["per_page"]
