"""SCIM errors through HTTP: bad bodies, media types, size limits, unknown ids and paths,
methods discovery endpoints do not support, invalid filters.

Every error must be an RFC 7644 §3.12 body with ``Content-Type: application/scim+json``;
no rejected write may leave anything behind, and no request here may produce a 500.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest
from flask import got_request_exception, request_finished

from gateway.app import create_app
from tenants import services
from tenants.db import database

from .conftest import PATCH_SCHEMA, Scim, TenantCredentials, assert_scim_error

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
SHARED_BASE = "/scim/v2"
DISCOVERY = ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas")


@pytest.fixture(autouse=True)
def no_server_errors():
    """Fail the test if any request it makes ends in a 5xx or an unhandled exception."""
    seen: list[str] = []

    def finished(sender, response, **_):
        if response.status_code >= 500:
            seen.append(f"{response.status_code}: {response.get_data(as_text=True)[:300]}")

    def crashed(sender, exception, **_):
        seen.append(f"unhandled {type(exception).__name__}: {exception}")

    request_finished.connect(finished)
    got_request_exception.connect(crashed)
    try:
        yield
    finally:
        request_finished.disconnect(finished)
        got_request_exception.disconnect(crashed)
    assert not seen, seen


@pytest.fixture
def populated(scim):
    """The tenant with one user in one group, so "unchanged" means something."""
    user = scim.create_user("ann@example.com", name={"givenName": "Ann", "familyName": "Lee"})
    group = scim.create_group("Sales", [user["id"]])
    return {"user": user, "group": group}


def _state(scim: Scim) -> tuple:
    """Everything the tenant holds, as its SCIM client sees it."""
    users = scim.get("/Users?count=1000")
    groups = scim.get("/Groups?count=1000")
    assert users.status_code == groups.status_code == 200
    return users.get_json(), groups.get_json()


def _write_targets(populated) -> list[tuple[str, str]]:
    user_id, group_id = populated["user"]["id"], populated["group"]["id"]
    return [
        ("POST", "/Users"),
        ("POST", "/Groups"),
        ("PUT", f"/Users/{user_id}"),
        ("PUT", f"/Groups/{group_id}"),
        ("PATCH", f"/Users/{user_id}"),
        ("PATCH", f"/Groups/{group_id}"),
    ]


def _valid_body(method: str, path: str) -> dict:
    if method == "PATCH":
        value = {"displayName": "Renamed"} if "Groups" in path else {"active": False}
        return {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": value}]}
    if "Groups" in path:
        return {"schemas": [GROUP_SCHEMA], "displayName": "Renamed", "members": []}
    return {"schemas": [USER_SCHEMA], "userName": "renamed@example.com", "active": False}


# --- bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    "{",
    '{"userName": "x@example.com",}',
    "{'userName': 'x@example.com'}",
    "not json at all",
    '{"userName": "x@example.com"} trailing',
    "",
    "NaN-ish {",
])
def test_malformed_json_is_400_invalid_syntax(scim, populated, raw):
    before = _state(scim)
    for method, path in _write_targets(populated):
        response = scim.request(method, path, raw=raw)
        assert_scim_error(response, 400, "invalidSyntax")
    assert _state(scim) == before


@pytest.mark.parametrize("raw", ["[]", '[{"userName": "x@example.com"}]', '"x@example.com"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_400(scim, populated, raw):
    before = _state(scim)
    for method, path in _write_targets(populated):
        response = scim.request(method, path, raw=raw)
        assert_scim_error(response, 400, "invalidSyntax")
    assert _state(scim) == before


def test_invalid_utf8_and_unknown_charset_are_400(scim, populated):
    before = _state(scim)
    for method, path in _write_targets(populated):
        body = json.dumps(_valid_body(method, path))
        bad_bytes = body.encode().replace(b'"schemas"', b'"sch\xff\xfeemas"')
        assert bad_bytes != body.encode()
        assert_scim_error(scim.request(method, path, raw=bad_bytes), 400, "invalidSyntax")
        assert_scim_error(
            scim.request(method, path, raw=body, content_type="application/scim+json; charset=no-such-charset"),
            400, "invalidSyntax",
        )
    assert _state(scim) == before


def test_deeply_nested_json_is_400_not_a_crash(scim, populated):
    before = _state(scim)
    deep = '{"userName": "x@example.com", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    for method, path in _write_targets(populated):
        response = scim.request(method, path, raw=deep)
        assert_scim_error(response, 400, "invalidSyntax")
    assert _state(scim) == before


@pytest.mark.parametrize("body, scim_type", [
    ({"schemas": [USER_SCHEMA]}, "invalidValue"),
    ({"schemas": [USER_SCHEMA], "userName": ""}, "invalidValue"),
    ({"schemas": [USER_SCHEMA], "userName": 42}, "invalidValue"),
    ({"schemas": [USER_SCHEMA], "userName": ["a@example.com"]}, "invalidValue"),
    ({"schemas": [USER_SCHEMA], "userName": "a@example.com", "active": "maybe"}, "invalidValue"),
    ({"schemas": [USER_SCHEMA], "userName": "a@example.com", "name": "Ann Lee"}, "invalidValue"),
    ({"schemas": [USER_SCHEMA], "userName": "a" * 300 + "@example.com"}, "invalidValue"),
])
def test_invalid_user_values_are_400_and_nothing_is_created(scim, populated, body, scim_type):
    before = _state(scim)
    assert_scim_error(scim.post("/Users", body), 400, scim_type)
    assert_scim_error(scim.put(f"/Users/{populated['user']['id']}", body), 400, scim_type)
    assert _state(scim) == before


@pytest.mark.parametrize("body", [
    {"Operations": "replace"},
    {"schemas": [PATCH_SCHEMA], "Operations": []},
    {"schemas": [PATCH_SCHEMA]},
    {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "frobnicate", "path": "active", "value": False}]},
    {"schemas": [PATCH_SCHEMA], "Operations": ["replace"]},
    {"schemas": [USER_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": False}]},
])
def test_malformed_patch_messages_are_400_and_change_nothing(scim, populated, body):
    before = _state(scim)
    for path in (f"/Users/{populated['user']['id']}", f"/Groups/{populated['group']['id']}"):
        response = scim.patch(path, body=body)
        assert_scim_error(response, 400, "invalidSyntax")
    assert _state(scim) == before


def test_patch_that_fails_midway_changes_nothing(scim, populated):
    """One bad operation after good ones: the good ones are not applied either."""
    before = _state(scim)
    user_id = populated["user"]["id"]
    response = scim.patch(f"/Users/{user_id}", [
        {"op": "replace", "path": "name.givenName", "value": "Changed"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "path": "active", "value": "not-a-boolean"},
    ])
    assert_scim_error(response, 400, "invalidValue")
    group_id = populated["group"]["id"]
    response = scim.patch(f"/Groups/{group_id}", [
        {"op": "remove", "path": "members"},
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "add", "path": "members", "value": [{"value": str(uuid.uuid4())}]},
    ])
    assert_scim_error(response, 400, "invalidValue")
    assert _state(scim) == before


# --- media types ---------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/xml",
    "multipart/form-data; boundary=x",
    None,
])
def test_wrong_content_type_is_415(scim, populated, content_type):
    before = _state(scim)
    for method, path in _write_targets(populated):
        body = json.dumps(_valid_body(method, path))
        if content_type is None:
            response = scim.client.open(scim.base + path, method=method, data=body.encode(),
                                        headers=scim.headers())
            assert "Content-Type" not in response.request.headers
        else:
            response = scim.request(method, path, raw=body, content_type=content_type)
        assert_scim_error(response, 415)
    assert _state(scim) == before


@pytest.mark.parametrize("content_type", [
    "application/scim+json",
    "application/json",
    "application/scim+json; charset=utf-8",
    "application/json; charset=utf-8",
    "Application/SCIM+JSON",
])
def test_json_and_scim_json_are_both_accepted(scim, content_type):
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ann@example.com"},
                         content_type=content_type)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    user = response.get_json()
    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Sales"}, content_type=content_type)
    assert group.status_code == 201, group.get_data(as_text=True)
    put = scim.put(f"/Users/{user['id']}", {"schemas": [USER_SCHEMA], "userName": "ann@example.com",
                                           "name": {"givenName": "Ann"}}, content_type=content_type)
    assert put.status_code == 200, put.get_data(as_text=True)
    patch = scim.request("PATCH", f"/Users/{user['id']}", {
        "schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": False}]},
        content_type=content_type)
    assert patch.status_code == 200, patch.get_data(as_text=True)
    assert patch.get_json()["active"] is False
    assert patch.get_json()["name"] == {"givenName": "Ann"}


# --- size limit ----------------------------------------------------------------------------


def _padded_user(size: int) -> str:
    body = {"schemas": [USER_SCHEMA], "userName": "big@example.com", "padding": ""}
    body["padding"] = "x" * (size - len(json.dumps(body)))
    text = json.dumps(body)
    assert len(text) == size
    return text


def test_body_over_the_default_limit_is_413(scim, populated):
    before = _state(scim)
    limit = scim.client.application.config["MAX_CONTENT_LENGTH"]
    assert limit == 1024 * 1024
    raw = _padded_user(limit + 1)
    for method, path in _write_targets(populated):
        assert_scim_error(scim.request(method, path, raw=raw), 413)
    assert _state(scim) == before
    # Just under the limit is fine (the padding attribute is disregarded).
    assert scim.post("/Users", raw=_padded_user(limit - 10)).status_code == 201


@pytest.fixture
def small_app(database_url):
    application = create_app({"TESTING": True, "DATABASE_URL": database_url, "MAX_CONTENT_LENGTH": 2048})
    yield application
    if not database.is_closed():
        database.close()


def test_configured_limit_is_enforced_on_both_urls(small_app):
    with database.connection_context():
        _, token = services.create_tenant("acme")
    tenant = TenantCredentials("acme", token.secret)
    client = small_app.test_client()
    for base in (tenant.base, SHARED_BASE):
        scim = Scim(client, tenant, base)
        before = _state(scim)
        for content_type in ("application/scim+json", "application/json"):
            response = scim.post("/Users", raw=_padded_user(2049), content_type=content_type)
            assert_scim_error(response, 413)
        assert _state(scim) == before
        assert scim.post("/Users", raw=_padded_user(2000)).status_code == 201
        scim.delete(f"/Users/{scim.get('/Users').get_json()['Resources'][0]['id']}")


# --- unknown ids and paths -----------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
def test_unknown_id_is_404(client, tenant, populated, shared, endpoint):
    scim = Scim(client, tenant, SHARED_BASE if shared else None)
    before = _state(scim)
    for unknown in (str(uuid.uuid4()), "not-a-uuid", "0", "%20", "a" * 300):
        path = f"/{endpoint}/{unknown}"
        body = _valid_body("PUT", path)
        patch = _valid_body("PATCH", path)
        for method, payload in (("GET", None), ("PUT", body), ("PATCH", patch), ("DELETE", None)):
            body_out = assert_scim_error(scim.request(method, path, payload), 404)
            assert "not found" in body_out["detail"].lower()
    assert _state(scim) == before


UNKNOWN_PATHS = ("/Nope", "/users-typo", "/Users/a/b", "/Groups/a/members", "/Schemas/a/b", "", "/", "/v3/Users",
                 "/Bulk/x")


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_unknown_path_under_a_scim_base_is_a_scim_404(client, tenant, shared):
    scim = Scim(client, tenant, SHARED_BASE if shared else None)
    for path in UNKNOWN_PATHS:
        for method in ("GET", "POST", "DELETE"):
            body = {"schemas": [USER_SCHEMA], "userName": "x@example.com"} if method == "POST" else None
            response = scim.request(method, path, body)
            assert response.status_code == 404, (method, path)
            assert_scim_error(response, 404)
    assert scim.get("/Users").get_json()["totalResults"] == 0


def test_unknown_path_without_token_is_a_scim_error(client, tenant):
    for base in (tenant.base, SHARED_BASE):
        response = client.get(f"{base}/Nope")
        assert response.status_code in (401, 404)
        assert_scim_error(response, response.status_code)


# --- methods -------------------------------------------------------------------------------


DISCOVERY_PATHS = (*DISCOVERY, "/ResourceTypes/User", "/ResourceTypes/Group",
                   f"/Schemas/{USER_SCHEMA}", f"/Schemas/{GROUP_SCHEMA}")


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_writes_to_discovery_endpoints_are_405(client, tenant, populated, shared):
    scim = Scim(client, tenant, SHARED_BASE if shared else None)
    before = _state(scim)
    body = {"schemas": [USER_SCHEMA], "userName": "x@example.com"}
    for path in DISCOVERY_PATHS:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for payload in (body, None):
                response = scim.request(method, path, payload)
                assert response.status_code == 405, (method, path)
                assert_scim_error(response, 405)
        assert scim.get(path).status_code == 200
    assert _state(scim) == before


@pytest.mark.parametrize("method, path", [
    ("PUT", "/Users"), ("PATCH", "/Users"), ("DELETE", "/Users"),
    ("PUT", "/Groups"), ("PATCH", "/Groups"), ("DELETE", "/Groups"),
    ("POST", "/Users/{user}"), ("POST", "/Groups/{group}"),
])
def test_unsupported_methods_on_resources_are_405(scim, populated, method, path):
    before = _state(scim)
    path = path.format(user=populated["user"]["id"], group=populated["group"]["id"])
    body = {"schemas": [USER_SCHEMA], "userName": "x@example.com"}
    assert_scim_error(scim.request(method, path, body), 405)
    assert _state(scim) == before


@pytest.mark.parametrize("path, allowed", [
    ("/ServiceProviderConfig", {"GET"}),
    ("/ResourceTypes", {"GET"}),
    ("/Schemas", {"GET"}),
    ("/Users", {"GET", "POST"}),
])
def test_405_names_the_allowed_methods(scim, path, allowed):
    """RFC 9110 §15.5.6: a 405 response MUST carry an Allow header."""
    response = scim.request("DELETE", path)
    assert_scim_error(response, 405)
    assert "Allow" in response.headers, dict(response.headers)
    advertised = {m.strip().upper() for m in response.headers["Allow"].split(",")}
    assert allowed <= advertised
    assert "DELETE" not in advertised


# --- filters -------------------------------------------------------------------------------


INVALID_FILTERS = (
    ("Users", "userName eq"),
    ("Users", 'userName xx "a"'),
    ("Users", 'userName eq "unterminated'),
    ("Users", "(userName eq \"a\""),
    ("Users", 'userName eq "a" and'),
    ("Users", 'eq "a"'),
    ("Users", "userName eq a@example.com"),
    ("Groups", 'displayName eq "x" or or'),
    ("Groups", "members[value eq"),
    ("Groups", 'displayName eq "x"))'),
)


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_invalid_filter_is_400_invalid_filter(client, tenant, populated, shared):
    scim = Scim(client, tenant, SHARED_BASE if shared else None)
    for endpoint, filter_text in INVALID_FILTERS:
        response = scim.get(f"/{endpoint}?filter={quote(filter_text)}")
        assert response.status_code == 400, (endpoint, filter_text)
        assert_scim_error(response, 400, "invalidFilter")


def test_invalid_paging_parameters_are_400(scim, populated):
    for query in ("count=abc", "startIndex=x", "count=1.5"):
        assert_scim_error(scim.get(f"/Users?{query}"), 400, "invalidValue")


# --- shape of every error ------------------------------------------------------------------


def test_every_error_shape(client, tenant, populated):
    """A sample of every kind of failure: the body and headers a SCIM client parses."""
    scim = Scim(client, tenant)
    user_id = populated["user"]["id"]
    responses = [
        client.get(f"{tenant.base}/Users"),
        client.get(f"{tenant.base}/Users", headers={"Authorization": "Bearer nope"}),
        scim.post("/Users", raw="{"),
        scim.post("/Users", raw="{}", content_type="text/plain"),
        scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ann@example.com"}),
        scim.get(f"/Users/{uuid.uuid4()}"),
        scim.get("/Nope"),
        scim.request("DELETE", "/Schemas"),
        scim.get("/Users?filter=userName%20eq"),
        scim.patch(f"/Users/{user_id}", [{"op": "replace", "path": "id", "value": "x"}]),
        scim.patch(f"/Users/{user_id}", [{"op": "replace", "path": "name[", "value": "x"}]),
    ]
    for response in responses:
        assert 400 <= response.status_code < 500
        assert response.mimetype == "application/scim+json"
        body = response.get_json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert body["status"] == str(response.status_code)
        assert isinstance(body["status"], str)
        assert isinstance(body["detail"], str) and body["detail"].strip()
        if "scimType" in body:
            assert body["scimType"] in {
                "invalidFilter", "tooMany", "uniqueness", "mutability", "invalidSyntax",
                "invalidPath", "noTarget", "invalidValue", "invalidVers", "sensitive",
            }
    assert responses[4].status_code == 409 and responses[4].get_json()["scimType"] == "uniqueness"
    assert responses[9].get_json()["scimType"] == "mutability"
    assert responses[10].get_json()["scimType"] == "invalidPath"


# --- through a real server -----------------------------------------------------------------


@pytest.mark.live
def test_chunked_body_over_the_limit_is_413_on_a_real_server(live_server):
    """A body sent with Transfer-Encoding: chunked (no Content-Length) obeys the same limit."""
    import requests

    created = live_server.create_tenant("acme")
    url = created["tenant_url"]
    headers = {"Authorization": f"Bearer {created['token']}", "Content-Type": "application/scim+json"}

    def chunks(data: bytes):
        for start in range(0, len(data), 65536):
            yield data[start:start + 65536]

    small = json.dumps({"schemas": [USER_SCHEMA], "userName": "small@example.com"}).encode()
    response = requests.post(f"{url}/Users", headers=headers, data=chunks(small), timeout=30)
    assert response.status_code == 201, response.text

    big = _padded_user(2 * 1024 * 1024).encode()
    response = requests.post(f"{url}/Users", headers=headers, data=chunks(big), timeout=30)
    assert response.status_code == 413, response.text
    assert response.headers["Content-Type"].startswith("application/scim+json")
    body = response.json()
    assert body["status"] == "413" and body["detail"]
    listed = requests.get(f"{url}/Users", headers=headers, timeout=10).json()
    assert [u["userName"] for u in listed["Resources"]] == ["small@example.com"]
