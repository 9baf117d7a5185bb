"""POST /Bulk (RFC 7644 §3.7) through HTTP: bulkId references, failOnErrors, limits, isolation.

Every bulk is checked twice: in its BulkResponse, and by reading the tenant back with GET,
so "succeeded" means stored and "failed" or "not run" means nothing of it is stored.
"""

from __future__ import annotations

import io
import json

import pytest

from tests.conftest import Scim, assert_scim_error

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
SHARED_BASE = "/scim/v2"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def bulk_body(*operations, **extra) -> dict:
    return {"schemas": [BULK_REQUEST], **extra, "Operations": list(operations)}


def post_user(bulk_id: str, user_name: str, **attributes) -> dict:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id,
            "data": {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}}


def post_group(bulk_id: str, display_name: str, members=()) -> dict:
    return {"method": "POST", "path": "/Groups", "bulkId": bulk_id,
            "data": {"schemas": [GROUP_SCHEMA], "displayName": display_name,
                     "members": [{"type": "User", "value": value} for value in members]}}


def patch_op(path: str, *operations) -> dict:
    return {"method": "PATCH", "path": path, "data": {"schemas": [PATCH_OP], "Operations": list(operations)}}


def run(scim: Scim, body) -> list[dict]:
    """POST ``body`` to /Bulk, assert a 200 BulkResponse, return its Operations."""
    response = scim.post("/Bulk", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    payload = response.get_json()
    assert payload["schemas"] == [BULK_RESPONSE]
    for result in payload["Operations"]:
        assert isinstance(result["status"], str)
        if int(result["status"]) >= 400:
            error = result["response"]
            assert error["schemas"] == [ERROR_SCHEMA] and error["status"] == result["status"] and error["detail"]
    return payload["Operations"]


def state(scim: Scim) -> dict:
    """Every user and group of the tenant (members included), keyed by id."""
    users = scim.get("/Users?count=1000").get_json()["Resources"]
    groups = scim.get("/Groups?count=1000").get_json()["Resources"]
    return {resource["id"]: resource for resource in users + groups}


def user_names(scim: Scim) -> set[str]:
    return {user["userName"] for user in scim.get("/Users?count=1000").get_json()["Resources"]}


def group_names(scim: Scim) -> set[str]:
    return {group["displayName"] for group in scim.get("/Groups?count=1000").get_json()["Resources"]}


def path_of(location: str) -> str:
    """The path under the SCIM base of an absolute ``location``."""
    return location[location.index("/scim/v2/") + len("/scim/v2"):]


# --- references ------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["tenant-url", "shared-url"])
def test_rfc_example_user_and_group_referencing_it_by_bulk_id(client, tenant, shared):
    """RFC 7644 §3.7.2: a new user, and a new group whose members reference it by bulkId."""
    scim = Scim(client, tenant, SHARED_BASE if shared else None)
    results = run(scim, bulk_body(
        post_user("qwerty", "alice@example.com"),
        post_group("ytrewq", "Tour Guides", ["bulkId:qwerty"]),
    ))
    assert [(r["method"], r["bulkId"], r["status"]) for r in results] == [
        ("POST", "qwerty", "201"), ("POST", "ytrewq", "201")]
    user_result, group_result = results
    for result in results:
        assert result["location"].startswith("http://localhost" + scim.base + "/")
        assert result["version"].startswith('W/"')
        assert "response" not in result

    user = scim.get(path_of(user_result["location"])).get_json()
    assert user["userName"] == "alice@example.com"
    assert user["meta"]["location"] == user_result["location"]
    assert user["meta"]["version"] == user_result["version"]
    group = scim.get(path_of(group_result["location"])).get_json()
    assert group["displayName"] == "Tour Guides"
    assert [member["value"] for member in group["members"]] == [user["id"]]
    assert group["meta"]["version"] == group_result["version"]
    assert len(state(scim)) == 2


def test_an_operation_waits_for_the_later_post_whose_bulk_id_it_references(scim):
    results = run(scim, bulk_body(
        post_group("g", "Early Group", ["bulkId:u1", "bulkId:u2"]),
        patch_op("/Users/bulkId:u1", {"op": "replace", "path": "name.givenName", "value": "Ann"}),
        post_user("u1", "ann@example.com"),
        post_user("u2", "bob@example.com"),
    ))
    # Results are listed in request order, whatever order the operations ran in.
    assert [(r["method"], r.get("bulkId"), r["status"]) for r in results] == [
        ("POST", "g", "201"), ("PATCH", None, "200"), ("POST", "u1", "201"), ("POST", "u2", "201")]
    ann = scim.get(path_of(results[2]["location"])).get_json()
    bob = scim.get(path_of(results[3]["location"])).get_json()
    assert results[1]["location"] == ann["meta"]["location"]
    assert ann["name"]["givenName"] == "Ann"
    group = scim.get(path_of(results[0]["location"])).get_json()
    assert sorted(m["value"] for m in group["members"]) == sorted([ann["id"], bob["id"]])


def test_bulk_id_references_in_patch_values_and_paths(scim):
    existing = scim.create_group("Existing")
    results = run(scim, bulk_body(
        post_user("new", "carol@example.com"),
        patch_op(f"/Groups/{existing['id']}", {"op": "add", "path": "members", "value": [{"value": "bulkId:new"}]}),
        {"method": "DELETE", "path": "/Users/bulkId:new"},
    ))
    assert [r["status"] for r in results] == ["201", "200", "204"]
    user_id = path_of(results[0]["location"]).rsplit("/", 1)[1]
    assert results[2]["location"] == results[0]["location"]
    assert scim.get(f"/Users/{user_id}").status_code == 404
    # The user was a member when the PATCH ran; deleting the user removed the membership.
    assert scim.get(f"/Groups/{existing['id']}").get_json().get("members", []) == []


def test_unknown_bulk_id_reference_is_409_for_that_operation_only(scim):
    known = scim.create_user("known@example.com")
    results = run(scim, bulk_body(
        post_group("g", "Ghost Members", ["bulkId:nobody"]),
        patch_op("/Users/bulkId:nobody", {"op": "replace", "path": "active", "value": False}),
        {"method": "DELETE", "path": "/Users/bulkId:nobody"},
        post_user("ok", "fine@example.com"),
        patch_op(f"/Users/{known['id']}", {"op": "add", "path": "externalId", "value": "bulkId:nobody"}),
    ))
    assert [r["status"] for r in results] == ["409", "409", "409", "201", "409"]
    for result in results[:3] + results[4:]:
        assert "nobody" in result["response"]["detail"]
    for result in results[:3]:
        assert "location" not in result  # the path could not be resolved
    assert results[4]["location"] == known["meta"]["location"]
    assert "scimType" not in results[0]["response"]
    assert group_names(scim) == set()
    assert user_names(scim) == {"known@example.com", "fine@example.com"}
    assert scim.get(f"/Users/{known['id']}").get_json().get("active") is not False


def test_reference_to_a_failed_post_is_409(scim):
    scim.create_user("taken@example.com")
    results = run(scim, bulk_body(
        post_user("dup", "TAKEN@example.com"),
        post_group("g", "Needs Dup", ["bulkId:dup"]),
    ))
    assert [r["status"] for r in results] == ["409", "409"]
    assert results[0]["response"]["scimType"] == "uniqueness"
    assert "'dup'" in results[1]["response"]["detail"] and "failed" in results[1]["response"]["detail"]
    assert group_names(scim) == set()


def test_circular_references_end_in_409_without_hanging(scim):
    results = run(scim, bulk_body(
        post_user("a", "a@example.com", externalId="bulkId:b"),
        post_user("b", "b@example.com", externalId="bulkId:a"),
        post_user("self", "self@example.com", externalId="bulkId:self"),
        post_group("behind", "Behind The Cycle", ["bulkId:a"]),
        post_user("free", "free@example.com"),
        post_user("c", "c@example.com", externalId="bulkId:d"),
        post_user("d", "d@example.com", externalId="bulkId:e"),
        post_user("e", "e@example.com", externalId="bulkId:c"),
    ))
    statuses = {r["bulkId"]: r["status"] for r in results}
    assert statuses == {"a": "409", "b": "409", "self": "409", "behind": "409", "free": "201",
                        "c": "409", "d": "409", "e": "409"}
    details = {r["bulkId"]: r["response"]["detail"] for r in results if r["status"] == "409"}
    for bulk_id in ("a", "b", "self", "c", "d", "e"):
        assert "ircular" in details[bulk_id], details[bulk_id]
    assert "'a'" in details["behind"]
    assert user_names(scim) == {"free@example.com"}
    assert group_names(scim) == set()


# --- methods and per-operation errors ---------------------------------------------------------


def test_mixed_post_put_patch_delete(scim):
    keep = scim.create_user("keep@example.com", name={"givenName": "Old"})
    drop = scim.create_user("drop@example.com")
    group = scim.create_group("Team", [keep["id"], drop["id"]])
    old_group = scim.get(f"/Groups/{group['id']}").get_json()
    doomed = scim.create_group("Doomed")
    results = run(scim, bulk_body(
        post_user("new", "new@example.com"),
        {"method": "put", "path": f"/Users/{keep['id']}", "version": keep["meta"]["version"],
         "data": {"schemas": [USER_SCHEMA], "userName": "keep@example.com", "name": {"givenName": "New"}}},
        {"method": "Patch", "path": f"/Groups/{group['id']}",
         "data": {"schemas": [PATCH_OP], "Operations": [
             {"op": "add", "path": "members", "value": [{"value": "bulkId:new"}]},
             {"op": "remove", "path": f'members[value eq "{drop["id"]}"]'}]}},
        {"method": "delete", "path": f"/Users/{drop['id']}"},
        {"method": "DELETE", "path": f"/Groups/{doomed['id']}"},
    ))
    assert [(r["method"], r["status"]) for r in results] == [
        ("POST", "201"), ("PUT", "200"), ("PATCH", "200"), ("DELETE", "204"), ("DELETE", "204")]
    new_id = path_of(results[0]["location"]).rsplit("/", 1)[1]
    kept = scim.get(f"/Users/{keep['id']}").get_json()
    assert kept["name"]["givenName"] == "New"
    assert results[1]["version"] == kept["meta"]["version"] != keep["meta"]["version"]
    assert results[1]["location"] == kept["meta"]["location"]
    team = scim.get(f"/Groups/{group['id']}").get_json()
    assert sorted(m["value"] for m in team["members"]) == sorted([keep["id"], new_id])
    assert results[2]["version"] == team["meta"]["version"] != old_group["meta"]["version"]
    assert results[3]["location"].endswith(f"/Users/{drop['id']}") and "version" not in results[3]
    assert scim.get(f"/Users/{drop['id']}").status_code == 404
    assert scim.get(f"/Groups/{doomed['id']}").status_code == 404
    assert user_names(scim) == {"keep@example.com", "new@example.com"}


def test_a_failing_operation_does_not_stop_the_others(scim):
    scim.create_user("bjensen@example.com")
    results = run(scim, bulk_body(
        post_user("one", "one@example.com"),
        post_user("dup", "BJensen@Example.com"),
        post_user("two", "two@example.com"),
        post_user("bad", "not-an-email"),
        {"method": "PUT", "path": f"/Users/{UNKNOWN_ID}",
         "data": {"schemas": [USER_SCHEMA], "userName": "ghost@example.com"}},
        patch_op(f"/Groups/{UNKNOWN_ID}", {"op": "replace", "path": "displayName", "value": "x"}),
        {"method": "DELETE", "path": f"/Users/{UNKNOWN_ID}"},
        post_group("g", "Fine Group"),
    ))
    assert [r["status"] for r in results] == ["201", "409", "201", "400", "404", "404", "404", "201"]
    dup = results[1]
    assert dup["bulkId"] == "dup" and "location" not in dup and "version" not in dup
    assert dup["response"]["scimType"] == "uniqueness"
    assert results[3]["response"]["scimType"] == "invalidValue"
    for result in results[4:7]:
        assert result["location"].endswith(UNKNOWN_ID)
        assert "not found" in result["response"]["detail"]
    assert user_names(scim) == {"bjensen@example.com", "one@example.com", "two@example.com"}
    assert group_names(scim) == {"Fine Group"}


def test_invalid_patch_inside_a_bulk_is_that_operation_s_400(scim):
    user = scim.create_user("patchme@example.com")
    results = run(scim, bulk_body(
        {"method": "PATCH", "path": f"/Users/{user['id']}", "data": {"schemas": [PATCH_OP], "Operations": []}},
        patch_op(f"/Users/{user['id']}", {"op": "replace", "path": "id", "value": "x"}),
        patch_op(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False}),
    ))
    assert [r["status"] for r in results] == ["400", "400", "200"]
    assert results[0]["response"]["scimType"] == "invalidSyntax"
    assert results[1]["response"]["scimType"] == "mutability"
    assert scim.get(f"/Users/{user['id']}").get_json()["active"] is False


def test_version_is_each_operation_s_if_match(scim):
    user = scim.create_user("versioned@example.com")
    group = scim.create_group("Versioned")
    current, stale = user["meta"]["version"], 'W/"999"'
    results = run(scim, bulk_body(
        {**patch_op(f"/Users/{user['id']}", {"op": "replace", "path": "name.givenName", "value": "Stale"}),
         "version": stale},
        {**patch_op(f"/Users/{user['id']}", {"op": "replace", "path": "name.givenName", "value": "Fresh"}),
         "version": current},
        {"method": "DELETE", "path": f"/Groups/{group['id']}", "version": stale},
        {"method": "PUT", "path": f"/Users/{user['id']}", "version": current,  # stale by now
         "data": {"schemas": [USER_SCHEMA], "userName": "versioned@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "p", "version": stale,  # no If-Match for a POST
         "data": {"schemas": [USER_SCHEMA], "userName": "posted@example.com"}},
    ))
    assert [r["status"] for r in results] == ["412", "200", "412", "412", "201"]
    stored = scim.get(f"/Users/{user['id']}").get_json()
    assert stored["name"]["givenName"] == "Fresh" and stored["meta"]["version"] == results[1]["version"]
    assert scim.get(f"/Groups/{group['id']}").status_code == 200


def test_an_if_match_header_on_the_bulk_itself_applies_to_no_operation(scim):
    user = scim.create_user("header@example.com")
    response = scim.post("/Bulk", bulk_body(
        patch_op(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False})),
        headers={"If-Match": 'W/"999"'})
    assert response.status_code == 200, response.get_json()
    assert [r["status"] for r in response.get_json()["Operations"]] == ["200"]
    assert scim.get(f"/Users/{user['id']}").get_json()["active"] is False


def test_fail_on_errors_stops_after_that_many_errors(scim):
    scim.create_user("taken@example.com")
    results = run(scim, bulk_body(
        post_user("first", "first@example.com"),
        post_user("dup", "taken@example.com"),
        post_user("later", "later@example.com"),
        post_group("later-group", "Later Group", ["bulkId:first"]),
        failOnErrors=1,
    ))
    assert [(r["bulkId"], r["status"]) for r in results] == [("first", "201"), ("dup", "409")]
    assert user_names(scim) == {"taken@example.com", "first@example.com"}
    assert group_names(scim) == set()


def test_fail_on_errors_counts_errors_before_stopping(scim):
    scim.create_user("taken@example.com")
    results = run(scim, bulk_body(
        post_user("dup1", "taken@example.com"),
        post_user("ok", "ok@example.com"),
        post_user("dup2", "TAKEN@example.com"),
        post_user("never", "never@example.com"),
        failOnErrors=2,
    ))
    assert [(r["bulkId"], r["status"]) for r in results] == [("dup1", "409"), ("ok", "201"), ("dup2", "409")]
    assert user_names(scim) == {"taken@example.com", "ok@example.com"}


def test_fail_on_errors_counts_unresolved_references(scim):
    results = run(scim, bulk_body(
        post_group("g", "Ghosts", ["bulkId:missing"]),
        post_user("never", "never@example.com"),
        failOnErrors=1,
    ))
    assert [(r["bulkId"], r["status"]) for r in results] == [("g", "409")]
    assert user_names(scim) == set() and group_names(scim) == set()


# --- limits ----------------------------------------------------------------------------------


def test_more_operations_than_max_operations_is_413_and_nothing_is_done(scim, app):
    app.config["BULK_MAX_OPERATIONS"] = 3
    too_many = bulk_body(*(post_user(f"u{i}", f"u{i}@example.com") for i in range(4)))
    body = assert_scim_error(scim.post("/Bulk", too_many), 413)
    assert "maxOperations" in body["detail"] and "3" in body["detail"] and "4" in body["detail"]
    assert state(scim) == {}
    # Exactly the limit is accepted.
    results = run(scim, bulk_body(*(post_user(f"u{i}", f"u{i}@example.com") for i in range(3))))
    assert [r["status"] for r in results] == ["201"] * 3


def test_default_limits_are_1000_operations_and_1_mib(scim, app):
    assert app.config["BULK_MAX_OPERATIONS"] == 1000
    assert app.config["BULK_MAX_PAYLOAD_SIZE"] == 1024 * 1024
    too_many = bulk_body(*({"method": "DELETE", "path": f"/Users/{UNKNOWN_ID}"} for _ in range(1001)))
    assert_scim_error(scim.post("/Bulk", too_many), 413)


def _padded_bulk(size: int) -> str:
    """A valid BulkRequest of exactly ``size`` bytes (one POST with a disregarded attribute)."""
    body = bulk_body(post_user("big", "big@example.com", padding=""))
    text = json.dumps(body)
    padding = size - len(text)
    assert padding >= 0
    body["Operations"][0]["data"]["padding"] = "x" * padding
    text = json.dumps(body)
    assert len(text) == size
    return text


def test_body_larger_than_max_payload_size_is_413_and_nothing_is_done(scim, app):
    app.config["BULK_MAX_PAYLOAD_SIZE"] = 2048
    body = assert_scim_error(scim.post("/Bulk", raw=_padded_bulk(2049)), 413)
    assert "maxPayloadSize" in body["detail"] and "2048" in body["detail"] and "2049" in body["detail"]
    assert state(scim) == {}
    # The size is checked before parsing: an over-size body that is not even JSON is a 413 too.
    assert_scim_error(scim.post("/Bulk", raw="{" * 4096), 413)
    # At the limit it runs.
    assert [r["status"] for r in run(scim, json.loads(_padded_bulk(2048)))] == ["201"]


def test_chunked_body_over_max_payload_size_is_413(scim, app):
    app.config["BULK_MAX_PAYLOAD_SIZE"] = 2048
    raw = _padded_bulk(4096).encode()
    response = scim.client.post(
        scim.base + "/Bulk", input_stream=io.BytesIO(raw), content_type="application/scim+json",
        headers={**scim.headers(), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    body = assert_scim_error(response, 413)
    assert "maxPayloadSize" in body["detail"]
    assert state(scim) == {}


def test_bulk_limit_is_its_own_not_the_app_wide_body_limit(scim, app):
    """A deployment may accept larger Bulk bodies than single-resource bodies."""
    app.config["MAX_CONTENT_LENGTH"] = 2048
    app.config["BULK_MAX_PAYLOAD_SIZE"] = 16 * 1024
    assert [r["status"] for r in run(scim, json.loads(_padded_bulk(8 * 1024)))] == ["201"]
    assert_scim_error(scim.post("/Users", raw=json.dumps(
        {"schemas": [USER_SCHEMA], "userName": "x@example.com", "padding": "x" * 4096})), 413)


# --- malformed BulkRequests -----------------------------------------------------------------


VALID_OP = post_user("ok", "valid@example.com")
INVALID_BODIES = {
    "array": [VALID_OP],
    "string": "Operations",
    "no-schemas": {"Operations": [VALID_OP]},
    "wrong-schemas": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [VALID_OP]},
    "schemas-not-a-list": {"schemas": BULK_REQUEST, "Operations": [VALID_OP]},
    "no-operations": {"schemas": [BULK_REQUEST]},
    "operations-not-a-list": {"schemas": [BULK_REQUEST], "Operations": VALID_OP},
    "operation-not-an-object": bulk_body(VALID_OP, "DELETE /Users/x"),
    "get-method": bulk_body(VALID_OP, {"method": "GET", "path": "/Users"}),
    "no-method": bulk_body(VALID_OP, {"path": f"/Users/{UNKNOWN_ID}"}),
    "no-path": bulk_body(VALID_OP, {"method": "DELETE"}),
    "unknown-endpoint": bulk_body(VALID_OP, {"method": "DELETE", "path": f"/Roles/{UNKNOWN_ID}"}),
    "nested-path": bulk_body(VALID_OP, {"method": "DELETE", "path": f"/Groups/{UNKNOWN_ID}/members"}),
    "post-to-an-id": bulk_body(VALID_OP, {**post_user("x", "x@example.com"), "path": f"/Users/{UNKNOWN_ID}"}),
    "put-without-id": bulk_body(VALID_OP, {"method": "PUT", "path": "/Users", "data": {"userName": "y@e.com"}}),
    "post-without-bulk-id": bulk_body(VALID_OP, {"method": "POST", "path": "/Users",
                                                 "data": {"userName": "z@example.com"}}),
    "empty-bulk-id": bulk_body(VALID_OP, {**post_user("", "z@example.com")}),
    "duplicate-bulk-ids": bulk_body(VALID_OP, post_user("ok", "other@example.com")),
    "data-not-an-object": bulk_body(VALID_OP, {"method": "PATCH", "path": f"/Users/{UNKNOWN_ID}", "data": []}),
    "post-without-data": bulk_body(VALID_OP, {"method": "POST", "path": "/Users", "bulkId": "n"}),
    "fail-on-errors-zero": bulk_body(VALID_OP, failOnErrors=0),
    "fail-on-errors-string": bulk_body(VALID_OP, failOnErrors="1"),
    "fail-on-errors-bool": bulk_body(VALID_OP, failOnErrors=True),
}


@pytest.mark.parametrize("name", list(INVALID_BODIES))
def test_malformed_bulk_request_is_400_invalid_syntax_and_runs_nothing(scim, name):
    body = assert_scim_error(scim.post("/Bulk", INVALID_BODIES[name]), 400, "invalidSyntax")
    assert body["detail"]
    assert state(scim) == {}  # not even the valid operation before the bad one ran


def test_not_json_and_wrong_media_type(scim):
    assert_scim_error(scim.post("/Bulk", raw="null"), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Bulk", raw="{not json"), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Bulk", bulk_body(VALID_OP), content_type="text/plain"), 415)
    assert state(scim) == {}


def test_keys_and_methods_are_case_insensitive(scim):
    results = run(scim, {"SCHEMAS": [BULK_REQUEST.upper()], "failonerrors": 5, "operations": [
        {"METHOD": "post", "PATH": "/Users", "BULKID": "u", "DATA": {"userName": "case@example.com"}}]})
    assert [(r["method"], r["bulkId"], r["status"]) for r in results] == [("POST", "u", "201")]


def test_empty_operations_is_an_empty_response(scim):
    assert run(scim, bulk_body()) == []


# --- tenants, auth, discovery, docs ----------------------------------------------------------


def test_a_bulk_in_one_tenant_cannot_touch_another_tenant_s_resources(client, make_tenant):
    a = Scim(client, make_tenant("tenant-a"))
    b = Scim(client, make_tenant("tenant-b"))
    user = a.create_user("owner@example.com")
    group = a.create_group("A Team", [user["id"]])
    before = state(a)
    for scim in (b, Scim(client, b.tenant, SHARED_BASE)):
        results = run(scim, bulk_body(
            {"method": "PUT", "path": f"/Users/{user['id']}",
             "data": {"schemas": [USER_SCHEMA], "userName": "stolen@example.com"}},
            patch_op(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": False}),
            patch_op(f"/Groups/{group['id']}", {"op": "remove", "path": "members"}),
            {"method": "DELETE", "path": f"/Users/{user['id']}"},
            {"method": "DELETE", "path": f"/Groups/{group['id']}"},
            post_group("b-group", "B Team", [user["id"]]),
        ))
        assert [r["status"] for r in results] == ["404", "404", "404", "404", "404", "400"]
        assert results[5]["response"]["scimType"] == "invalidValue"
        for result in results[:5]:
            assert result["location"].startswith("http://localhost" + scim.base + "/")
    assert state(a) == before
    assert state(b) == {}


def test_bulk_needs_the_tenant_s_token(client, make_tenant):
    a = make_tenant("tenant-a")
    b = make_tenant("tenant-b")
    body = json.dumps(bulk_body(VALID_OP))
    for base in (a.base, SHARED_BASE):
        assert_scim_error(client.post(base + "/Bulk", data=body, content_type="application/scim+json"), 401)
    wrong = client.post(a.base + "/Bulk", data=body, content_type="application/scim+json",
                        headers={"Authorization": f"Bearer {b.token}"})
    assert_scim_error(wrong, 401)
    assert state(Scim(client, a)) == {} and state(Scim(client, b)) == {}


def test_only_post_on_bulk(scim):
    assert_scim_error(scim.get("/Bulk"), 405)
    assert_scim_error(scim.post("/Bulk/x", bulk_body(VALID_OP)), 404)


def test_service_provider_config_advertises_the_real_limits(scim, app):
    bulk = scim.get("/ServiceProviderConfig").get_json()["bulk"]
    assert bulk == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1024 * 1024}
    app.config.update(BULK_MAX_OPERATIONS=50, BULK_MAX_PAYLOAD_SIZE=4096)
    bulk = scim.get("/ServiceProviderConfig").get_json()["bulk"]
    assert bulk == {"supported": True, "maxOperations": 50, "maxPayloadSize": 4096}
    shared = Scim(scim.client, scim.tenant, SHARED_BASE)
    assert shared.get("/ServiceProviderConfig").get_json()["bulk"] == bulk


def test_bulk_can_be_turned_off(scim, app):
    app.config["BULK_MAX_OPERATIONS"] = 0
    assert scim.get("/ServiceProviderConfig").get_json()["bulk"]["supported"] is False
    assert_scim_error(scim.post("/Bulk", bulk_body(VALID_OP)), 501)
    assert state(scim) == {}


def test_bulk_is_in_the_openapi_document_under_both_bases(client):
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for base in ("/tenants/{tenant}/scim/v2", "/scim/v2"):
        operation = spec["paths"][base + "/Bulk"]["post"]
        assert operation["summary"]
        content = operation["requestBody"]["content"]["application/scim+json"]
        assert content["example"]["schemas"] == [BULK_REQUEST]
        request_schema = schemas[content["schema"]["$ref"].rsplit("/", 1)[1]]
        assert {"schemas", "Operations", "failOnErrors"} <= set(request_schema["properties"])
        responses = operation["responses"]
        assert {"200", "400", "401", "403", "413", "415"} <= set(responses)
        ok = responses["200"]["content"]["application/scim+json"]
        assert ok["example"]["schemas"] == [BULK_RESPONSE]
        response_schema = schemas[ok["schema"]["$ref"].rsplit("/", 1)[1]]
        assert "Operations" in response_schema["properties"]
