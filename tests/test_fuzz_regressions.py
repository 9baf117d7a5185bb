"""Regression tests for what the OpenAPI fuzzer (tests/test_fuzz_openapi.py) found.

Each test replays one concrete request the fuzzer generated and validates the answer with
the same schemathesis checks, against the gateway's own ``/openapi.json``.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import create_app
from tenants import admin_keys, services
from tenants import roles as catalog
from tenants.db import database
from tenants.models import AuditEvent, UserPermission

from .conftest import Scim, assert_scim_error

CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def app(module_app):
    """One app and database for the module (conftest's ``app`` is one per test); each test
    gets its own tenant."""
    return module_app


@pytest.fixture
def tenant(make_tenant):
    """A new tenant for each test, in the module's database."""
    return make_tenant()


@pytest.fixture(scope="module")
def admin_headers(module_app):
    """An admin key valid for every tenant, as request headers."""
    with database.connection_context():
        return {"Authorization": f"Bearer {admin_keys.create('regressions')[1]}"}


def replay(app, path: str, method: str, **case):
    """Send one request of the documented operation ``method path``; return its response
    after checking it against the operation's documented answers."""
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method]
    request = operation.Case(**case)
    response = request.call()
    request.validate_response(response, checks=CONFORMANCE)
    return response


def documented_response(app, path: str, method: str, status: str) -> dict:
    """The OpenAPI response object of ``method path`` for ``status`` (``$ref`` not followed)."""
    spec = app.test_client().get("/openapi.json").get_json()
    return spec["paths"][path][method]["responses"][status]


@pytest.mark.parametrize("base", ["/tenants/{tenant}/scim/v2", "/scim/v2"])
@pytest.mark.parametrize("attributes", ["id", "meta", "externalId"])
def test_a_projected_user_matches_its_documented_schema(app, scim, tenant, base, attributes):
    """Found: ``GET /Users/{id}?attributes=id`` answered a User without ``userName``, which the
    response schema required. Responses now require only ``id`` and ``schemas`` (returned
    "always", RFC 7643 §2.4); request bodies still require ``userName``."""
    user = scim.create_user("ada@example.com")
    path = f"{base}/Users/{{resource_id}}"
    response = replay(app, path, "GET", path_parameters={"tenant": tenant.slug, "resource_id": user["id"]},
                      query={"attributes": attributes}, headers=scim.headers())
    body = response.json()
    assert response.status_code == 200
    assert "userName" not in body and body["id"] == user["id"]


def test_projected_list_and_search_pages_match_their_documented_schemas(app, scim, tenant):
    """Found: ``GET /Users?attributes=id`` and ``POST /Groups/.search`` with ``attributes``
    answered resources the list schemas called invalid (no ``userName``/``displayName``)."""
    user = scim.create_user("ada@example.com")
    scim.create_group("Finance", [user["id"]])
    listed = replay(app, "/scim/v2/Users", "GET", query={"attributes": "id"}, headers=scim.headers())
    assert listed.json()["Resources"] == [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                          "id": user["id"]}]
    searched = replay(app, "/tenants/{tenant}/scim/v2/Groups/.search", "POST",
                      path_parameters={"tenant": tenant.slug}, headers=scim.headers(),
                      body={"attributes": ["members"]}, media_type="application/scim+json")
    (group,) = searched.json()["Resources"]
    assert "displayName" not in group and group["members"][0]["value"] == user["id"]


def test_request_bodies_still_require_username_and_displayname(app):
    spec = app.test_client().get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert "userName" in schemas["UserResource"]["required"]
    assert "displayName" in schemas["GroupResource"]["required"]
    assert set(schemas["UserResponse"]["required"]) == {"id", "schemas"}
    assert set(schemas["GroupResponse"]["required"]) == {"id", "schemas"}


@pytest.fixture
def throttled_app(module_database_url):
    """An app on the module's database that allows one failed authentication per address
    and minute (its counters are its own: other tests' failures do not count)."""
    application = create_app({"TESTING": True, "DATABASE_URL": module_database_url,
                              "AUTH_FAILURES_PER_MINUTE": 1})
    yield application
    if not database.is_closed():
        database.close()


def test_scim_429_is_documented_in_the_scim_error_shape(throttled_app):
    """Found: a 429 (failed-authentication throttle) under a SCIM path was not documented, and
    the catch-all ``default`` response said ``application/json``; the answer is a SCIM error."""
    first = replay(throttled_app, "/scim/v2/Users", "GET", headers={"Authorization": "Bearer wrong"})
    assert first.status_code == 401
    response = replay(throttled_app, "/scim/v2/Users", "GET", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 429
    assert response.headers["content-type"] == ["application/scim+json"]
    assert response.json()["status"] == "429"
    assert int(response.headers["retry-after"][0]) >= 1
    documented = documented_response(throttled_app, "/scim/v2/Users", "get", "429")
    assert documented["content"] == {"application/scim+json": {"schema": {"$ref": "#/components/schemas/ScimErrorBody"}}}
    assert "Retry-After" in documented["headers"]


def test_admin_429_is_documented_in_the_admin_error_shape(throttled_app):
    """The same throttle under ``/admin/v1`` answers flask-smorest's JSON error, as documented."""
    first = replay(throttled_app, "/admin/v1/tenants", "GET", headers={"Authorization": "Bearer wrong"})
    assert first.status_code == 401
    response = replay(throttled_app, "/admin/v1/tenants", "GET", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 429
    assert response.json()["code"] == 429
    documented = documented_response(throttled_app, "/admin/v1/tenants", "get", "429")
    assert documented["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def test_no_operation_hides_its_statuses_behind_a_default_response(app):
    """Found: every operation had flask-smorest's ``default`` response, which made any status
    "documented" (and said ``application/json`` under SCIM paths). Now each SCIM and admin
    operation lists its statuses, 429 and 500 included, with the right media type."""
    spec = app.test_client().get("/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "default" not in responses, (method, path)
            if path.startswith(("/admin/", "/scim/", "/tenants/")):
                assert {"401", "429", "500"} <= set(responses), (method, path, list(responses))
                media = "application/json" if path.startswith("/admin/") else "application/scim+json"
                for status in ("429", "500"):
                    assert list(responses[status]["content"]) == [media], (method, path, status)


def test_me_answers_its_documented_501(app, scim, tenant):
    """``GET /Me`` is the one 5xx by design (RFC 7644 §3.11); the fuzzer checks it stays 501."""
    response = replay(app, "/tenants/{tenant}/scim/v2/Me", "GET", path_parameters={"tenant": tenant.slug},
                      headers=scim.headers())
    assert response.status_code == 501
    assert_scim_error(Scim(app.test_client(), tenant).get("/Me"), 501)



@pytest.mark.parametrize("path", ["/admin/v1/tenants/{slug}", "/admin/v1/tenants/{slug}/roles/{role_id}"])
def test_an_admin_patch_without_its_required_body_is_400_and_changes_nothing(app, tenant, admin_headers, path):
    """Found (negative_data_rejection): ``PATCH`` with no body answered 200 as if ``{}`` was
    sent, though the document says the body is required. Now 400; ``{}`` stays a no-op."""
    with database.connection_context():
        role = catalog.create_role(services.get_tenant(tenant.slug), "Viewer", ["reports.read"])
    headers = admin_headers
    parameters = {"slug": tenant.slug, "role_id": role.id}
    events = _audit_count()
    response = replay(app, path, "PATCH", path_parameters=parameters, headers=headers)
    assert response.status_code == 400
    assert "JSON body" in response.json()["message"]
    assert _audit_count() == events
    unchanged = replay(app, path, "PATCH", path_parameters=parameters, headers=headers, body={},
                       media_type="application/json")
    assert unchanged.status_code == 200
    assert _audit_count() == events


def _audit_count() -> int:
    with database.connection_context():
        return AuditEvent.select().count()


UNSTORABLE = ["nul\x00inside", "lone \ud800 surrogate"]


@pytest.mark.parametrize("text", UNSTORABLE)
def test_admin_role_ids_names_and_searches_that_cannot_be_stored_are_400(app, tenant, admin_headers, text):
    """Found on PostgreSQL: ``PUT .../groups/{id}/roles`` with a role id holding a NUL was a 500
    (psycopg2 refuses NUL in text; lone surrogates fail to encode on both databases). Every
    text input of the admin API is now checked first: 400 naming the field, nothing stored."""
    scim = Scim(app.test_client(), tenant)
    group = scim.create_group("Finance")
    events = _audit_count()
    cases = [
        ("/admin/v1/tenants/{slug}/groups/{group_id}/roles", "PUT", {"roles": [text]}),
        ("/admin/v1/tenants/{slug}/roles", "POST", {"name": text, "permissions": []}),
        ("/admin/v1/tenants", "POST", {"slug": "ok-slug", "name": text}),
    ]
    for path, method, body in cases:
        response = replay(app, path, method, path_parameters={"slug": tenant.slug, "group_id": group["id"]},
                          headers=admin_headers, body=body, media_type="application/json")
        assert response.status_code == 400, (path, response.text)
        assert "NUL" in response.json()["message"], response.text
    queries = [("/admin/v1/tenants/{slug}/users", {"q": text}), ("/admin/v1/tenants/{slug}/audit", {"actor": text})]
    for path, query in queries if "\x00" in text else []:  # a URL cannot carry a lone surrogate
        response = replay(app, path, "GET", path_parameters={"slug": tenant.slug}, headers=admin_headers,
                          query=query)
        assert response.status_code == 400, (path, response.text)
    assert _audit_count() == events


@pytest.mark.parametrize("path", ["/admin/v1/tenants/{slug}/roles/{role_id}",
                                  "/admin/v1/tenants/{slug}/users/{user_id}"])
def test_an_admin_path_holding_a_nul_is_404(app, tenant, admin_headers, path):
    """A NUL in a path id (``%00``) would reach the database the same way; no such id exists."""
    response = replay(app, path, "GET", path_parameters={"slug": tenant.slug, "role_id": "x\x00",
                                                          "user_id": "x\x00"}, headers=admin_headers)
    assert response.status_code == 404
    nul_slug = replay(app, "/admin/v1/tenants/{slug}", "GET", path_parameters={"slug": "a\x00"},
                      headers=admin_headers)
    assert nul_slug.status_code == 404


def test_a_permission_with_a_trailing_newline_is_400(app, tenant, admin_headers):
    """``PERMISSION_PATTERN.match`` let ``"reports.read\\n"`` through (``$`` matches before a
    final newline); the admin API now requires the whole string to match."""
    user = Scim(app.test_client(), tenant).create_user("ada@example.com")
    response = replay(app, "/admin/v1/tenants/{slug}/users/{user_id}/permissions", "PUT",
                      path_parameters={"slug": tenant.slug, "user_id": user["id"]}, headers=admin_headers,
                      body={"permissions": ["reports.read\n"]}, media_type="application/json")
    assert response.status_code == 400
    with database.connection_context():
        assert UserPermission.select().where(UserPermission.user == user["id"]).count() == 0


@pytest.mark.parametrize("permission", ["reports.read\n", "reports.read\nadmin", "\nreports.read"])
def test_the_service_layer_refuses_a_permission_with_a_newline(permission):
    """The CLI and the console go through ``check_permissions`` too, not only the admin API."""
    with pytest.raises(catalog.RoleError, match="Invalid permission"):
        catalog.check_permissions([permission])
    assert catalog.check_permissions(["reports.read"]) == ["reports.read"]
