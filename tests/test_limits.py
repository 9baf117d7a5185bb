"""Limits on what one SCIM request may carry: just under each passes, just over gets its
SCIM error and stores nothing, and each is configurable and advertised where SCIM can.

The app of this module runs with small limits so that "just over" is a small request.
Limits tested elsewhere: the request body size (``MAX_CONTENT_LENGTH``, 413) in
``test_errors.py``; the Bulk limits (``BULK_MAX_OPERATIONS``/``BULK_MAX_PAYLOAD_SIZE``, 413,
advertised in ``bulk``) in ``test_bulk.py``; ``count`` above ``MAX_PAGE_SIZE`` is clamped
to it (RFC 7644 §3.4.2.4 lets the server return fewer) and advertised as
``filter.maxResults`` in ``test_discovery.py``.
"""

from __future__ import annotations


import pytest

from gateway.app import create_app
from gateway.config import DEFAULTS
from tenants.db import database

from .conftest import PATCH_SCHEMA, Scim, assert_scim_error, body_of
from .snapshot import snapshot

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIMITS = {"MAX_JSON_DEPTH": 6, "PATCH_MAX_OPERATIONS": 3, "MAX_MEMBERS_PER_REQUEST": 3,
          "MAX_VALUES_PER_ATTRIBUTE": 2, "MAX_STRING_LENGTH": 40}
STORES_MORE = {"plugins": {"attribute-mapping": {"options": {"user_attributes": ["displayName", "emails"]}},
                           "uniqueness": {"options": {"require_email": False}}}}


@pytest.fixture(scope="module")
def app(module_database_url):
    """One app with small limits for the module; each test gets its own tenant."""
    application = create_app({"TESTING": True, "DATABASE_URL": module_database_url, **LIMITS})
    yield application
    if not database.is_closed():
        database.close()


@pytest.fixture
def scim(client, make_tenant):
    return Scim(client, make_tenant(settings=STORES_MORE))


def _user(user_name: str, **attributes) -> dict:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}


def _patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def _refused(scim: Scim, response, status: int, scim_type: str | None, before: tuple) -> dict:
    body = assert_scim_error(response, status, scim_type)
    assert snapshot(scim) == before
    return body


def test_defaults_are_documented_values_and_the_environment_sets_them(monkeypatch, module_database_url):
    assert {key: DEFAULTS[key] for key in LIMITS} == {
        "MAX_JSON_DEPTH": 32, "PATCH_MAX_OPERATIONS": 1000, "MAX_MEMBERS_PER_REQUEST": 10_000,
        "MAX_VALUES_PER_ATTRIBUTE": 100, "MAX_STRING_LENGTH": 2048}
    monkeypatch.setenv("SCIM_GATEWAY_PATCH_MAX_OPERATIONS", "7")
    monkeypatch.setenv("SCIM_GATEWAY_MAX_STRING_LENGTH", "99")
    configured = create_app({"TESTING": True, "DATABASE_URL": module_database_url, "AUTO_MIGRATE": False})
    assert configured.config["PATCH_MAX_OPERATIONS"] == 7
    assert configured.config["MAX_STRING_LENGTH"] == 99


# --- JSON nesting depth: 400 invalidSyntax ----------------------------------------------------


def _nested(levels: int) -> list:
    """``levels`` arrays inside each other: ``[[...]]``."""
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_json_nested_to_the_limit_passes_one_more_level_is_400(scim):
    # The body object is level 1, so "x" may hold MAX_JSON_DEPTH - 1 levels.
    ok = scim.post("/Users", _user("deep@example.com", x=_nested(LIMITS["MAX_JSON_DEPTH"] - 1)))
    assert body_of(ok, 201)["userName"] == "deep@example.com"
    before = snapshot(scim)
    body = _refused(scim, scim.post("/Users", _user("deeper@example.com", x=_nested(LIMITS["MAX_JSON_DEPTH"]))),
                    400, "invalidSyntax", before)
    assert f"deeper than {LIMITS['MAX_JSON_DEPTH']} levels" in body["detail"]


def test_json_nested_far_past_the_parser_is_400_with_the_same_message(scim):
    before = snapshot(scim)
    raw = '{"userName": "x@example.com", "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    body = _refused(scim, scim.post("/Users", raw=raw), 400, "invalidSyntax", before)
    assert f"deeper than {LIMITS['MAX_JSON_DEPTH']} levels" in body["detail"]


# --- PATCH operations: 413 --------------------------------------------------------------------


def test_patch_with_the_most_operations_passes_one_more_is_413(scim):
    user = scim.create_user("ops@example.com")
    allowed = [{"op": "replace", "path": "displayName", "value": f"Name {i}"}
               for i in range(LIMITS["PATCH_MAX_OPERATIONS"])]
    assert body_of(scim.patch(f"/Users/{user['id']}", allowed), 200)["displayName"] == "Name 2"
    before = snapshot(scim)
    too_many = [*allowed, {"op": "replace", "path": "displayName", "value": "Too many"}]
    body = _refused(scim, scim.patch(f"/Users/{user['id']}", too_many), 413, None, before)
    assert "PATCH_MAX_OPERATIONS" in body["detail"] and str(LIMITS["PATCH_MAX_OPERATIONS"]) in body["detail"]


# --- members per request, summed over a PATCH's operations: 413 ------------------------------


@pytest.fixture
def people(scim) -> list[str]:
    return [scim.create_user(f"member{i}@example.com")["id"] for i in range(LIMITS["MAX_MEMBERS_PER_REQUEST"] + 1)]


def _members(ids) -> list[dict]:
    return [{"value": member} for member in ids]


def test_members_summed_over_patch_operations_up_to_the_limit_pass_one_more_is_413(scim, people):
    group = scim.create_group("Crowd")
    limit = LIMITS["MAX_MEMBERS_PER_REQUEST"]
    before = snapshot(scim)
    over = _patch({"op": "add", "path": "members", "value": _members(people[:2])},
                  {"op": "add", "path": "members", "value": _members(people[2:limit + 1])})
    body = _refused(scim, scim.patch(f"/Groups/{group['id']}", body=over), 413, None, before)
    assert "MAX_MEMBERS_PER_REQUEST" in body["detail"]
    under = _patch({"op": "add", "path": "members", "value": _members(people[:2])},
                   {"op": "remove", "path": "members", "value": _members(people[2:limit])})
    body_of(scim.patch(f"/Groups/{group['id']}", body=under), 200)
    members = body_of(scim.get(f"/Groups/{group['id']}"), 200)["members"]
    assert sorted(m["value"] for m in members) == sorted(people[:2])


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_members_in_a_post_or_put_over_the_limit_are_413(scim, people, method):
    path = "/Groups" if method == "POST" else f"/Groups/{scim.create_group('Team')['id']}"
    before = snapshot(scim)
    body = {"schemas": [GROUP_SCHEMA], "displayName": f"{method} team", "members": _members(people)}
    _refused(scim, scim.request(method, path, body), 413, None, before)
    body["members"] = _members(people[:LIMITS["MAX_MEMBERS_PER_REQUEST"]])
    assert len(body_of(scim.request(method, path, body), 201 if method == "POST" else 200)["members"]) == 3


# --- values of one multi-valued attribute: 400 invalidValue ----------------------------------


def test_values_of_one_attribute_up_to_the_limit_pass_one_more_is_400(scim):
    emails = [{"value": f"e{i}@example.com", "type": "work"} for i in range(LIMITS["MAX_VALUES_PER_ATTRIBUTE"] + 1)]
    before = snapshot(scim)
    _refused(scim, scim.post("/Users", _user("many@example.com", emails=emails)), 400, "invalidValue", before)
    created = body_of(scim.post("/Users", _user("many@example.com", emails=emails[:-1])), 201)
    assert [e["value"] for e in created["emails"]] == ["e0@example.com", "e1@example.com"]
    before = snapshot(scim)
    add = {"op": "add", "path": "emails", "value": [emails[-1]]}
    _refused(scim, scim.patch(f"/Users/{created['id']}", [add]), 400, "invalidValue", before)


# --- string lengths: 400 invalidValue -------------------------------------------------------


def test_strings_up_to_max_string_length_pass_one_more_is_400(scim):
    limit = LIMITS["MAX_STRING_LENGTH"]
    user = body_of(scim.post("/Users", _user("long@example.com", displayName="d" * limit)), 201)
    assert user["displayName"] == "d" * limit
    before = snapshot(scim)
    body = _refused(scim, scim.post("/Users", _user("longer@example.com", displayName="d" * (limit + 1))),
                    400, "invalidValue", before)
    assert f"the limit is {limit}" in body["detail"]
    replace = {"op": "replace", "path": "displayName", "value": "d" * (limit + 1)}
    _refused(scim, scim.patch(f"/Users/{user['id']}", [replace]), 400, "invalidValue", before)


def _email(length: int) -> str:
    """A syntactically valid address of exactly ``length`` characters (>= 80)."""
    domain_labels = ["a" * 63, "b" * 63]
    local = "l" * 64
    rest = length - len(local) - 1 - len(".".join(domain_labels)) - len(".com") - 1
    return f"{local}@{'.'.join(domain_labels)}.{'c' * rest}.com"


@pytest.mark.parametrize("limit, make_body", [
    (255, lambda n: _user("u" * n)),
    (255, lambda n: _user("x@example.com", externalId="x" * n)),
    (255, lambda n: _user("g@example.com", name={"givenName": "g" * n})),
    (254, lambda n: _user("e@example.com", emails=[{"value": _email(n)}])),
], ids=["userName", "externalId", "name.givenName", "emails.value"])
def test_column_and_standard_lengths_hold_whatever_max_string_length_says(scim, app, monkeypatch, limit, make_body):
    monkeypatch.setitem(app.config, "MAX_STRING_LENGTH", 4096)
    before = snapshot(scim)
    detail = _refused(scim, scim.post("/Users", make_body(limit + 1)), 400, "invalidValue", before)["detail"]
    assert f"the limit is {limit}" in detail
    body_of(scim.post("/Users", make_body(limit)), 201)


def test_group_display_name_and_member_values_stop_at_the_column_width(scim, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_STRING_LENGTH", 4096)
    group = scim.create_group("g" * 255)
    before = snapshot(scim)
    _refused(scim, scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "h" * 256}),
             400, "invalidValue", before)
    add = {"op": "add", "path": "members", "value": [{"value": "v" * 256}]}
    _refused(scim, scim.patch(f"/Groups/{group['id']}", [add]), 400, "invalidValue", before)


# --- where the limits are advertised -----------------------------------------------------------


def test_fixed_lengths_are_advertised_in_the_schema_descriptions(scim):
    user_schema = body_of(scim.get(f"/Schemas/{USER_SCHEMA}"), 200)
    attributes = {a["name"]: a for a in user_schema["attributes"]}
    assert attributes["userName"]["description"].endswith("At most 255 characters.")
    assert "invisible" in attributes["userName"]["description"]
    emails = {a["name"]: a for a in attributes["emails"]["subAttributes"]}
    assert emails["value"]["description"].endswith("At most 254 characters.")
    group_schema = body_of(scim.get(f"/Schemas/{GROUP_SCHEMA}"), 200)
    display_name = next(a for a in group_schema["attributes"] if a["name"] == "displayName")
    assert display_name["description"].endswith("At most 255 characters.")
