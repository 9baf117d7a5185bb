"""sortBy/sortOrder (RFC 7644 §3.4.2.3) and ETags (RFC 7644 §3.14)."""

from __future__ import annotations

import pytest

from tests.conftest import assert_scim_error


@pytest.fixture
def people(scim):
    users = [
        scim.create_user("carol@example.com", name={"givenName": "carol", "familyName": "Zed"}),
        scim.create_user("Alice@example.com", name={"givenName": "Bob"}),
        scim.create_user("bob@example.com", name={"givenName": "alice", "familyName": "Young"}),
    ]
    return {user["userName"]: user["id"] for user in users}


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [resource["userName"] for resource in response.get_json()["Resources"]]


def test_sort_by_username_ascending_and_descending_case_insensitively(scim, people):
    ascending = names(scim.get("/Users?sortBy=userName"))
    assert ascending == ["Alice@example.com", "bob@example.com", "carol@example.com"]
    descending = names(scim.get("/Users?sortBy=userName&sortOrder=descending"))
    assert descending == list(reversed(ascending))


def test_sort_by_sub_attribute_puts_unassigned_values_last_in_both_orders(scim, people):
    assert names(scim.get("/Users?sortBy=name.familyName")) == [
        "bob@example.com", "carol@example.com", "Alice@example.com"]
    assert names(scim.get("/Users?sortBy=name.familyName&sortOrder=descending")) == [
        "carol@example.com", "bob@example.com", "Alice@example.com"]


def test_sort_with_paging_never_repeats_or_skips(scim, people):
    first = names(scim.get("/Users?sortBy=name.givenName&count=2&startIndex=1"))
    second = names(scim.get("/Users?sortBy=name.givenName&count=2&startIndex=3"))
    assert first + second == ["bob@example.com", "Alice@example.com", "carol@example.com"]


def test_sort_in_a_search_request_body(scim, people):
    response = scim.post("/Users/.search", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "sortBy": "userName", "sortOrder": "descending", "count": 2})
    assert names(response) == ["carol@example.com", "bob@example.com"]


def test_unsortable_attribute_keeps_the_default_order(scim, people):
    assert names(scim.get("/Users?sortBy=emails.value")) == names(scim.get("/Users"))


def test_bad_sort_order_is_invalid_value(scim, people):
    assert_scim_error(scim.get("/Users?sortBy=userName&sortOrder=sideways"), 400, "invalidValue")


def test_service_provider_config_advertises_sort_and_etag(scim):
    config = scim.get("/ServiceProviderConfig").get_json()
    assert config["sort"] == {"supported": True} and config["etag"] == {"supported": True}


def test_etag_header_matches_meta_version_and_changes_with_each_write(scim):
    user = scim.create_user("e@example.com")
    read = scim.get(f"/Users/{user['id']}")
    assert read.headers["ETag"] == read.get_json()["meta"]["version"] == 'W/"1"'
    patched = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": False}])
    assert patched.headers["ETag"] == 'W/"2"'


def test_if_none_match_on_get_answers_304_until_the_resource_changes(scim):
    user = scim.create_user("n@example.com")
    same = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": 'W/"1"'})
    assert same.status_code == 304 and same.data == b""
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "name.givenName", "value": "N"}])
    changed = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": 'W/"1"'})
    assert changed.status_code == 200 and changed.get_json()["name"] == {"givenName": "N"}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_with_a_stale_version_is_412_and_changes_nothing(scim, method):
    user = scim.create_user("m@example.com")
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "name.givenName", "value": "v2"}])
    body = {
        "PUT": {"userName": "m@example.com", "name": {"givenName": "put"}},
        "PATCH": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                  "Operations": [{"op": "replace", "path": "name.givenName", "value": "patch"}]},
        "DELETE": None,
    }[method]
    stale = scim.request(method, f"/Users/{user['id']}", body, headers={"If-Match": 'W/"1"'})
    assert_scim_error(stale, 412)
    after = scim.get(f"/Users/{user['id']}").get_json()
    assert after["name"] == {"givenName": "v2"} and after["meta"]["version"] == 'W/"2"'


@pytest.mark.parametrize("tag", ['W/"2"', '"2"', "*"])
def test_if_match_with_the_current_version_or_star_succeeds(scim, tag):
    group = scim.create_group("Team")
    scim.patch(f"/Groups/{group['id']}", [{"op": "replace", "path": "displayName", "value": "Team 2"}])
    response = scim.patch(f"/Groups/{group['id']}", [{"op": "replace", "path": "displayName", "value": "Team 3"}],
                          headers={"If-Match": tag})
    assert response.status_code == 200 and response.get_json()["displayName"] == "Team 3"
