"""Property: any request body gets a SCIM-shaped 2xx or 4xx, never a 500, and a 4xx changes nothing.

Hypothesis sends arbitrary JSON (resource-like objects with known and unknown keys and
values of any shape, and any JSON at all) to POST/PUT Users and Groups, POST .search and
POST /Bulk, and arbitrary bytes to every write endpoint, through the Flask test client.
Examples are derandomized and bounded. Raw inputs that a JSON reader must refuse
(invalid UTF-8, NaN, duplicate member names, integers past Python's digit limit) are
pinned as explicit examples.
"""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tenants import services
from tenants.db import database

from .conftest import Scim, TenantCredentials, assert_scim_error, body_of
from .scim_strategies import (  # noqa: F401  (crashes is a fixture)
    ENTERPRISE,
    KEYS,
    PROPERTY_SETTINGS,
    WIDE_SETTINGS,
    assert_scim_answer,
    crashes,
    json_values,
    plausible_values,
)
from .snapshot import snapshot

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ADDRESSES = ["x@example.com", "j\u00f6@b\u00fccher.de"]


@pytest.fixture(scope="module")
def world(module_app):
    """One tenant with a user and a group to PUT, and ids to use as members."""
    with database.connection_context():
        _, token = services.create_tenant("bodies", None)
        services.update_tenant("bodies", settings=module_app.extensions["scim_gateway"].validate_settings(
            WIDE_SETTINGS))
    scim = Scim(module_app.test_client(), TenantCredentials("bodies", token.secret))
    people = [scim.create_user(f"b{i}@example.com")["id"] for i in range(2)]
    user = scim.create_user("put-target@example.com")
    group = scim.create_group("Put target", people[:1])
    return {"scim": scim, "user": user["id"], "group": group["id"], "ids": [*people, "no-such-id"]}


def resources(ids: list[str]):
    """User- or Group-like objects: schemas, a name, then known and unknown keys with any values."""
    name = st.text(min_size=1, max_size=16) | st.sampled_from(["ann@example.com", "Team"]) | json_values(ids)
    return st.builds(
        lambda schemas, name_key, name_value, rest: {"schemas": schemas, name_key: name_value, **rest},
        st.sampled_from([[USER_SCHEMA], [GROUP_SCHEMA], [USER_SCHEMA, ENTERPRISE], []]),
        st.sampled_from(["userName", "displayName", "USERNAME", f"{USER_SCHEMA}:userName"]),
        name,
        st.dictionaries(KEYS | st.sampled_from(["externalId", "name", "emails", "members", ENTERPRISE, "active"]),
                        plausible_values(ids), max_size=4),
    )


def typed_resources(ids: list[str]):
    """Users and Groups whose attributes have the right JSON types and any text in them."""
    text = st.text(min_size=1, max_size=16) | st.from_regex(r"[a-z][a-z0-9.]{0,11}", fullmatch=True)
    user = st.fixed_dictionaries({"schemas": st.just([USER_SCHEMA]), "userName": text}, optional={
        "name": st.fixed_dictionaries({}, optional={"givenName": text, "familyName": text, "formatted": text}),
        "emails": st.lists(st.fixed_dictionaries({"value": text | st.sampled_from(ADDRESSES)},
                                                 optional={"type": text, "primary": st.booleans()}), max_size=3),
        "active": st.booleans() | st.sampled_from(["True", "False"]),
        "externalId": text, "displayName": text, "title": text,
        ENTERPRISE: st.fixed_dictionaries({}, optional={"department": text, "manager": st.fixed_dictionaries(
            {"value": text})}),
    })
    group = st.fixed_dictionaries({"schemas": st.just([GROUP_SCHEMA]), "displayName": text}, optional={
        "members": st.lists(st.fixed_dictionaries({"value": st.sampled_from(ids)}), max_size=3),
        "externalId": text,
    })
    return user | group


def searches(ids: list[str]):
    """SearchRequest-like objects with any values for each known parameter."""
    return st.fixed_dictionaries({"schemas": st.just([SEARCH_SCHEMA])}, optional={
        "filter": st.sampled_from(['userName eq "b0@example.com"', 'displayName sw "P"', "members pr",
                                   'emails[type eq "work"]', "userName eq", "((("]) | json_values(ids),
        "startIndex": st.integers() | json_values(ids),
        "count": st.integers() | json_values(ids),
        "attributes": st.lists(st.sampled_from(["userName", "members", "emails.value", "nope"])) | json_values(ids),
        "excludedAttributes": st.sampled_from(["members", ["members"], 3]),
        "sortBy": st.sampled_from(["userName", "name.givenName", "meta.created", "members", "x["]) | json_values(ids),
        "sortOrder": st.sampled_from(["ascending", "descending", "sideways"]) | json_values(ids),
    })


def bulk_requests(ids: list[str]):
    """BulkRequest-like objects with operations of any method, path and data."""
    operation = st.fixed_dictionaries(
        {"method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET", "post"]) | json_values(ids)},
        optional={"path": st.sampled_from(["/Users", "/Groups", "/Users/no-such-id", "/Nope", "/Users/bulkId:a"])
                  | st.text(max_size=12),
                  "bulkId": st.sampled_from(["a", "b"]) | json_values(ids),
                  "data": typed_resources(ids) | resources(ids) | json_values(ids),
                  "version": st.text(max_size=6)},
    )
    create = st.fixed_dictionaries({"method": st.just("POST"), "path": st.sampled_from(["/Users", "/Groups"]),
                                    "bulkId": st.sampled_from(["a", "b", "c"]), "data": typed_resources(ids)})
    return st.fixed_dictionaries({"schemas": st.just([BULK_SCHEMA]),
                                  "Operations": st.lists(create, min_size=1, max_size=3,
                                                         unique_by=lambda o: o["bulkId"])
                                  | st.lists(create | operation, max_size=4) | json_values(ids)},
                                 optional={"failOnErrors": st.integers() | json_values(ids)})


def _send(world: dict, crashes: list, method: str, path: str, **kwargs):
    scim: Scim = world["scim"]
    before = snapshot(scim)
    response = scim.request(method, path, **kwargs)
    event(f"{method} {path.split('/')[1]} {response.status_code}")
    assert not crashes, crashes
    assert_scim_answer(response)
    if response.status_code >= 400:
        assert snapshot(scim) == before
    return response


@settings(PROPERTY_SETTINGS, max_examples=120)
@given(data=st.data())
def test_any_resource_body_is_a_scim_answer_and_a_refusal_changes_nothing(world, crashes, data):
    method, path = data.draw(st.sampled_from([
        ("POST", "/Users"), ("POST", "/Groups"), ("PUT", f"/Users/{world['user']}"),
        ("PUT", f"/Groups/{world['group']}")]), label="target")
    body = data.draw(typed_resources(world["ids"]) | resources(world["ids"]) | json_values(world["ids"]),
                     label="body")
    response = _send(world, crashes, method, path, body=body)
    assert response.status_code in (200, 201) or response.status_code >= 400


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data())
def test_any_search_body_is_a_scim_answer(world, crashes, data):
    path = data.draw(st.sampled_from(["/Users/.search", "/Groups/.search", "/.search"]), label="path")
    body = data.draw(searches(world["ids"]) | json_values(world["ids"]), label="body")
    response = _send(world, crashes, "POST", path, body=body)
    if response.status_code == 200:
        page = response.get_json()
        assert page["totalResults"] >= len(page["Resources"]) == page["itemsPerPage"]


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data())
def test_any_bulk_body_is_a_scim_answer_with_scim_shaped_results(world, crashes, data):
    body = data.draw(bulk_requests(world["ids"]) | json_values(world["ids"]), label="body")
    response = _send(world, crashes, "POST", "/Bulk", body=body)
    if response.status_code == 200:
        for result in response.get_json()["Operations"]:
            assert 200 <= int(result["status"]) < 500, result


WRITE_TARGETS = [("POST", "/Users"), ("POST", "/Groups"), ("POST", "/Users/.search"), ("POST", "/Bulk"),
                 ("PUT", "/Users/{user}"), ("PATCH", "/Users/{user}"), ("PATCH", "/Groups/{group}")]


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data())
def test_any_bytes_are_a_scim_answer_and_change_nothing(world, crashes, data):
    method, path = data.draw(st.sampled_from(WRITE_TARGETS), label="target")
    raw = data.draw(st.binary(max_size=64) | st.text(max_size=64).map(str.encode), label="raw")
    response = _send(world, crashes, method, path.format(**world), raw=raw)
    assert response.status_code >= 400 or raw.strip()  # only a real JSON document can succeed


@pytest.mark.parametrize("raw", [
    pytest.param(b'{"userName": "\xff\xfe@example.com"}', id="invalid-utf8"),
    pytest.param(b'{"userName": "a@example.com", "x": NaN}', id="nan"),
    pytest.param(b'{"userName": "a@example.com", "x": -Infinity}', id="infinity"),
    pytest.param(b'{"userName": "a@example.com", "userName": "b@example.com"}', id="duplicate-key"),
    pytest.param(b'{"userName": "a@example.com", "x": ' + b"9" * 5000 + b"}", id="huge-integer"),
    pytest.param(b'\xef\xbb\xbf{"userName": "a@example.com"}', id="utf8-bom"),
])
@pytest.mark.parametrize("method, path", WRITE_TARGETS)
def test_raw_bodies_that_are_not_json_are_400_invalid_syntax(world, crashes, method, path, raw):
    scim: Scim = world["scim"]
    before = snapshot(scim)
    assert_scim_error(scim.request(method, path.format(**world), raw=raw), 400, "invalidSyntax")
    assert not crashes, crashes
    assert snapshot(scim) == before


@pytest.mark.parametrize("method, path", [("POST", "/Users"), ("PUT", "/Users/{user}")])
def test_a_lone_surrogate_is_never_stored(world, crashes, method, path):
    scim: Scim = world["scim"]
    before = snapshot(scim)
    raw = b'{"schemas": ["' + USER_SCHEMA.encode() + b'"], "userName": "s@example.com", "title": "a\\ud800b"}'
    assert_scim_error(scim.request(method, path.format(**world), raw=raw), 400, "invalidValue")
    assert not crashes, crashes
    assert snapshot(scim) == before


def test_duplicate_member_names_are_refused_with_the_name(world):
    raw = b'{"schemas": ["' + USER_SCHEMA.encode() + b'"], "userName": "a@example.com", "userName": "b@example.com"}'
    body = assert_scim_error(world["scim"].post("/Users", raw=raw), 400, "invalidSyntax")
    assert "'userName' appears twice" in body["detail"]


def test_case_variants_of_a_name_are_not_duplicates(world):
    created = body_of(world["scim"].post("/Users", {"schemas": [USER_SCHEMA], "userName": "first@example.com",
                                                    "USERNAME": "case-variant@example.com"}), 201)
    assert created["userName"] == "case-variant@example.com"  # the later spelling wins, as before
