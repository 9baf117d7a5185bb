"""SCIM /Users through HTTP: create, read, list, filter, project, replace, patch, delete.

Every write test reads the user back with GET; every rejected write checks that nothing
was stored or changed (the whole resource, version included, is as before).
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import body_of, url, PATCH_SCHEMA, Scim, assert_scim_error

SCIM_MEDIA_TYPE = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_KEYS = {"schemas", "id", "externalId", "userName", "name", "active", "meta"}


# One app and database per module keeps the suite fast (building an app costs ~60 ms); every
# test still gets a tenant of its own, so tests see only their own users and groups.
@pytest.fixture(scope="module")
def app(module_app):
    return module_app


@pytest.fixture
def tenant(make_tenant):
    """A fresh tenant for each test."""
    return make_tenant()




def user_body(user_name, **attributes) -> dict:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}


def get_user(scim: Scim, user_id: str) -> dict:
    response = scim.get(f"/Users/{user_id}")
    body = body_of(response, 200)
    assert response.headers["ETag"] == body["meta"]["version"]
    return body


def all_users(scim: Scim) -> list[dict]:
    return body_of(scim.get("/Users"), 200)["Resources"]


def filtered(scim: Scim, expression: str, **params) -> dict:
    query = f"/Users?filter={expression}" + "".join(f"&{k}={v}" for k, v in params.items())
    return body_of(scim.get(url(query)), 200)


def ids(page: dict) -> list[str]:
    return [resource["id"] for resource in page.get("Resources", [])]


def patch_ok(scim: Scim, user_id: str, *operations) -> dict:
    response = scim.patch(f"/Users/{user_id}", list(operations))
    body = body_of(response, 200)
    assert response.headers["ETag"] == body["meta"]["version"]
    return body


# --------------------------------------------------------------------------- POST


def test_post_user_returns_201_with_location_equal_to_meta_location_and_etag(scim):
    response = scim.post("/Users", user_body("ann@example.com", externalId="ext-ann",
                                             name={"givenName": "Ann", "familyName": "Lee"}))
    created = body_of(response, 201)
    assert created["schemas"] == [USER_SCHEMA]
    assert created["id"]
    assert created["userName"] == "ann@example.com"
    assert created["externalId"] == "ext-ann"
    assert created["name"] == {"givenName": "Ann", "familyName": "Lee"}
    meta = created["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"http://localhost{scim.base}/Users/{created['id']}"
    assert response.headers["Location"] == meta["location"]
    assert response.headers["ETag"] == meta["version"]
    assert meta["created"] == meta["lastModified"]
    assert meta["created"].endswith("Z")
    assert get_user(scim, created["id"]) == created


def test_post_user_without_active_is_not_disabled(scim):
    # The brief asked for a default of true; commit b2376c5 made ``active`` unassigned until sent
    # (scim2-tester). Either way a new user must never come out disabled.
    created = body_of(scim.post("/Users", user_body("default.active@example.com")), 201)
    assert created.get("active", True) is True
    assert get_user(scim, created["id"]).get("active", True) is True
    assert body_of(scim.get(url("/Users?filter=active eq false")), 200)["totalResults"] == 0


def test_post_user_keeps_active_false_when_sent(scim):
    created = body_of(scim.post("/Users", user_body("inactive@example.com", active=False)), 201)
    assert created["active"] is False
    assert get_user(scim, created["id"])["active"] is False


def test_post_user_accepts_application_json(scim):
    response = scim.post("/Users", user_body("plain.json@example.com"), content_type="application/json")
    created = body_of(response, 201)
    assert get_user(scim, created["id"])["userName"] == "plain.json@example.com"


def test_post_user_disregards_attributes_the_tenant_does_not_store(scim):
    body = user_body(
        "extras@example.com",
        displayName="Extra Person",
        nickName="Ex",
        title="Boss",
        name={"givenName": "Ex", "familyName": "Tra", "formatted": "Ex Tra", "middleName": "M"},
        emails=[{"value": "extras@example.com", "type": "work", "primary": True}],
        phoneNumbers=[{"value": "+1 555 0100", "type": "work"}],
        roles=[{"value": "Admin", "primary": True}],
        **{ENTERPRISE_SCHEMA: {"employeeNumber": "42", "department": "R&D"},
           "urn:example:custom:2.0:User:tag": "x"},
    )
    body["schemas"] = [USER_SCHEMA, ENTERPRISE_SCHEMA]
    created = body_of(scim.post("/Users", body), 201)
    for resource in (created, get_user(scim, created["id"])):
        assert set(resource) <= USER_KEYS, set(resource) - USER_KEYS
        assert "externalId" not in resource
        assert resource["schemas"] == [USER_SCHEMA]
        assert resource["name"] == {"givenName": "Ex", "familyName": "Tra"}
        assert resource["userName"] == "extras@example.com"
    assert body_of(scim.get(url('/Users?filter=emails.value eq "extras@example.com"')), 200)["totalResults"] == 0


def test_post_user_ignores_client_supplied_id_and_meta(scim):
    created = body_of(scim.post("/Users", user_body(
        "given.id@example.com", id="client-chosen-id",
        meta={"resourceType": "Group", "version": 'W/"99"', "created": "2001-01-01T00:00:00Z",
              "location": "http://evil.example/Users/x"},
    )), 201)
    assert created["id"] != "client-chosen-id"
    assert created["meta"]["resourceType"] == "User"
    assert created["meta"]["version"] != 'W/"99"'
    assert not created["meta"]["created"].startswith("2001")
    assert created["meta"]["location"].startswith(f"http://localhost{scim.base}/Users/")
    assert_scim_error(scim.get("/Users/client-chosen-id"), 404)


def test_post_duplicate_username_differing_only_in_case_is_409_uniqueness(scim):
    first = scim.create_user("ann@x.com", externalId="first")
    error = assert_scim_error(scim.post("/Users", user_body("Ann@X.com", externalId="second")), 409, "uniqueness")
    assert "userName" in error["detail"]
    users = all_users(scim)
    assert [u["id"] for u in users] == [first["id"]]
    assert get_user(scim, first["id"]) == first


def test_post_duplicate_username_the_other_way_round_is_409(scim):
    first = scim.create_user("Ann@X.com")
    assert_scim_error(scim.post("/Users", user_body("ann@x.com")), 409, "uniqueness")
    assert [u["userName"] for u in all_users(scim)] == ["Ann@X.com"]
    assert get_user(scim, first["id"]) == first


def test_same_username_in_two_tenants_is_allowed(client, scim, make_tenant):
    other = Scim(client, make_tenant())
    scim.create_user("shared.name@example.com")
    other.create_user("Shared.Name@example.com")
    assert len(all_users(scim)) == 1
    assert len(all_users(other)) == 1


@pytest.mark.parametrize("body", [
    {"schemas": [USER_SCHEMA]},
    {"schemas": [USER_SCHEMA], "userName": ""},
    {"schemas": [USER_SCHEMA], "userName": None},
    {"schemas": [USER_SCHEMA], "name": {"givenName": "No", "familyName": "Name"}},
], ids=["absent", "empty", "null", "only-name"])
def test_post_without_username_is_400_invalid_value_and_nothing_is_created(scim, body):
    error = assert_scim_error(scim.post("/Users", body), 400, "invalidValue")
    assert "userName" in error["detail"]
    assert all_users(scim) == []


@pytest.mark.parametrize("attributes", [
    {"userName": 12345},
    {"userName": ["a@example.com"]},
    {"userName": "typed@example.com", "active": "maybe"},
    {"userName": "typed@example.com", "active": 1},
    {"userName": "typed@example.com", "name": "Ann Lee"},
    {"userName": "typed@example.com", "name": {"givenName": 7}},
    {"userName": "typed@example.com", "externalId": 42},
], ids=["userName-number", "userName-list", "active-maybe", "active-int", "name-string",
        "givenName-number", "externalId-number"])
def test_post_with_wrong_types_is_400_invalid_value_and_nothing_is_created(scim, attributes):
    assert_scim_error(scim.post("/Users", {"schemas": [USER_SCHEMA], **attributes}), 400, "invalidValue")
    assert all_users(scim) == []


def test_post_malformed_json_is_400_invalid_syntax(scim):
    assert_scim_error(scim.post("/Users", raw='{"userName": "broken@example.com"'), 400, "invalidSyntax")
    assert all_users(scim) == []


# --------------------------------------------------------------------------- GET


def test_get_user_by_id_returns_the_user_with_etag(scim):
    created = scim.create_user("get.me@example.com", name={"givenName": "Get"})
    response = scim.get(f"/Users/{created['id']}")
    found = body_of(response, 200)
    assert found == created
    assert response.headers["ETag"] == found["meta"]["version"]


def test_get_unknown_user_is_404_scim_error(scim):
    scim.create_user("exists@example.com")
    error = assert_scim_error(scim.get("/Users/00000000-0000-4000-8000-000000000000"), 404)
    assert error["status"] == "404"


def test_get_user_of_another_tenant_is_404(client, scim, make_tenant):
    other = Scim(client, make_tenant())
    theirs = other.create_user("theirs@example.com")
    assert_scim_error(scim.get(f"/Users/{theirs['id']}"), 404)
    assert_scim_error(scim.delete(f"/Users/{theirs['id']}"), 404)
    assert get_user(other, theirs["id"]) == theirs


# --------------------------------------------------------------------------- list and paging


def test_list_pages_with_start_index_and_count_without_overlap(scim):
    created = [scim.create_user(f"page{i:02d}@example.com")["id"] for i in range(7)]
    seen = []
    for start in (1, 4, 7):
        page = body_of(scim.get(f"/Users?startIndex={start}&count=3"), 200)
        assert page["schemas"] == [LIST_SCHEMA]
        assert page["totalResults"] == 7
        assert page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"])
        seen.extend(ids(page))
    assert [body_of(scim.get(f"/Users?startIndex={s}&count=3"), 200)["itemsPerPage"] for s in (1, 4, 7)] == [3, 3, 1]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == set(created)


def test_list_without_paging_returns_every_user(scim):
    created = {scim.create_user(f"all{i}@example.com")["id"] for i in range(3)}
    page = body_of(scim.get("/Users"), 200)
    assert page["totalResults"] == page["itemsPerPage"] == 3
    assert page["startIndex"] == 1
    assert set(ids(page)) == created
    for resource in page["Resources"]:
        assert resource["schemas"] == [USER_SCHEMA]
        assert resource["meta"]["location"].endswith(f"/Users/{resource['id']}")


def test_list_with_count_zero_gives_total_and_no_resources(scim):
    for i in range(3):
        scim.create_user(f"zero{i}@example.com")
    page = body_of(scim.get("/Users?count=0"), 200)
    assert page["totalResults"] == 3
    assert page["itemsPerPage"] == 0
    assert page.get("Resources", []) == []


def test_list_start_index_past_the_end_is_empty_page(scim):
    scim.create_user("only@example.com")
    page = body_of(scim.get("/Users?startIndex=5&count=10"), 200)
    assert page["totalResults"] == 1
    assert page.get("Resources", []) == []
    assert page["startIndex"] == 5


def test_list_start_index_below_one_is_treated_as_one(scim):
    user = scim.create_user("first.page@example.com")
    page = body_of(scim.get("/Users?startIndex=0"), 200)
    assert page["startIndex"] == 1
    assert ids(page) == [user["id"]]


def test_list_with_non_integer_count_is_400(scim):
    assert_scim_error(scim.get("/Users?count=ten"), 400, "invalidValue")


# --------------------------------------------------------------------------- filters


def test_filter_username_eq_is_case_insensitive(scim):
    ann = scim.create_user("Ann@X.com")
    scim.create_user("bob@x.com")
    for value in ("ann@x.com", "ANN@X.COM", "Ann@X.com"):
        page = filtered(scim, f'userName eq "{value}"')
        assert page["totalResults"] == 1
        assert ids(page) == [ann["id"]]
        assert page["Resources"][0]["userName"] == "Ann@X.com"


def test_filter_external_id_eq_is_case_exact(scim):
    upper = scim.create_user("up@example.com", externalId="ABC-1")
    lower = scim.create_user("low@example.com", externalId="abc-1")
    assert ids(filtered(scim, 'externalId eq "ABC-1"')) == [upper["id"]]
    assert ids(filtered(scim, 'externalId eq "abc-1"')) == [lower["id"]]
    assert filtered(scim, 'externalId eq "Abc-1"')["totalResults"] == 0


def test_filter_id_eq(scim):
    target = scim.create_user("by.id@example.com")
    scim.create_user("not.me@example.com")
    assert ids(filtered(scim, f'id eq "{target["id"]}"')) == [target["id"]]
    assert filtered(scim, 'id eq "00000000-0000-4000-8000-000000000000"')["totalResults"] == 0


def test_filter_and_requires_both_conditions(scim):
    match = scim.create_user("and1@example.com", externalId="e1")
    scim.create_user("and2@example.com", externalId="e2")
    assert ids(filtered(scim, 'userName eq "AND1@example.com" and externalId eq "e1"')) == [match["id"]]
    assert filtered(scim, 'userName eq "and1@example.com" and externalId eq "e2"')["totalResults"] == 0


def test_filter_is_combined_with_paging(scim):
    for i in range(5):
        scim.create_user(f"fp{i}@example.com", active=(i % 2 == 0))
    page = filtered(scim, "active eq true", count=2)
    assert page["totalResults"] == 3
    assert page["itemsPerPage"] == 2
    assert all(r["active"] is True for r in page["Resources"])


def test_filter_with_invalid_syntax_is_400_invalid_filter(scim):
    assert_scim_error(scim.get(url('/Users?filter=userName eq')), 400, "invalidFilter")
    assert_scim_error(scim.get(url('/Users?filter=userName zz "a"')), 400, "invalidFilter")


def test_filter_never_reveals_users_of_another_tenant(client, scim, make_tenant):
    other = Scim(client, make_tenant())
    other.create_user("hidden@example.com", externalId="hidden")
    assert filtered(scim, 'userName eq "hidden@example.com"')["totalResults"] == 0
    assert filtered(scim, 'externalId eq "hidden"')["totalResults"] == 0


# --------------------------------------------------------------------------- projections


def test_attributes_username_returns_only_id_schemas_and_username(scim):
    user = scim.create_user("proj@example.com", externalId="p", name={"givenName": "P", "familyName": "J"})
    single = body_of(scim.get(f"/Users/{user['id']}?attributes=userName"), 200)
    assert single == {"schemas": [USER_SCHEMA], "id": user["id"], "userName": "proj@example.com"}
    page = body_of(scim.get("/Users?attributes=userName"), 200)
    assert page["Resources"] == [single]


def test_attributes_sub_attribute_returns_only_that_sub_attribute(scim):
    user = scim.create_user("proj.sub@example.com", name={"givenName": "P", "familyName": "J"})
    single = body_of(scim.get(f"/Users/{user['id']}?attributes=name.familyName"), 200)
    assert single == {"schemas": [USER_SCHEMA], "id": user["id"], "name": {"familyName": "J"}}


def test_excluded_attributes_name_leaves_out_name_only(scim):
    user = scim.create_user("excl@example.com", externalId="x", name={"givenName": "E", "familyName": "X"})
    single = body_of(scim.get(f"/Users/{user['id']}?excludedAttributes=name"), 200)
    assert "name" not in single
    expected = {k: v for k, v in user.items() if k != "name"}
    assert single == expected
    page = body_of(scim.get("/Users?excludedAttributes=name"), 200)
    assert page["Resources"] == [expected]


def test_id_and_schemas_cannot_be_excluded(scim):
    user = scim.create_user("always@example.com")
    single = body_of(scim.get(f"/Users/{user['id']}?excludedAttributes=id,schemas,userName"), 200)
    assert single["id"] == user["id"]
    assert single["schemas"] == [USER_SCHEMA]
    assert "userName" not in single


def test_attributes_apply_to_post_response(scim):
    response = scim.post("/Users?attributes=userName", user_body("post.proj@example.com", externalId="pp"))
    created = body_of(response, 201)
    assert set(created) == {"schemas", "id", "userName"}
    assert response.headers["Location"].endswith(f"/Users/{created['id']}")
    assert get_user(scim, created["id"])["externalId"] == "pp"


# --------------------------------------------------------------------------- PUT


def test_put_replaces_the_user_and_clears_omitted_attributes(scim):
    user = scim.create_user("put@example.com", externalId="old-ext", name={"givenName": "Old", "familyName": "Name"})
    response = scim.put(f"/Users/{user['id']}", user_body("Put.Renamed@example.com"))
    replaced = body_of(response, 200)
    assert response.headers["ETag"] == replaced["meta"]["version"]
    assert replaced["userName"] == "Put.Renamed@example.com"
    assert "name" not in replaced
    assert "externalId" not in replaced
    assert replaced["id"] == user["id"]
    assert replaced["meta"]["created"] == user["meta"]["created"]
    assert replaced["meta"]["version"] != user["meta"]["version"]
    assert get_user(scim, user["id"]) == replaced
    assert ids(filtered(scim, 'userName eq "put.renamed@example.com"')) == [user["id"]]
    assert filtered(scim, 'userName eq "put@example.com"')["totalResults"] == 0


def test_put_sets_sent_attributes(scim):
    user = scim.create_user("put.set@example.com")
    replaced = body_of(scim.put(f"/Users/{user['id']}", user_body(
        "put.set@example.com", externalId="new", name={"givenName": "New", "familyName": "Person"},
        emails=[{"value": "x@example.com"}])), 200)
    assert replaced["name"] == {"givenName": "New", "familyName": "Person"}
    assert replaced["externalId"] == "new"
    assert "emails" not in replaced
    assert get_user(scim, user["id"]) == replaced


def test_put_without_active_keeps_the_current_value(scim):
    user = scim.create_user("put.disabled@example.com", active=False)
    replaced = body_of(scim.put(f"/Users/{user['id']}", user_body("put.disabled@example.com",
                                                                   name={"givenName": "D"})), 200)
    assert replaced["active"] is False
    assert get_user(scim, user["id"])["active"] is False
    enabled = scim.create_user("put.enabled@example.com", active=True)
    assert body_of(scim.put(f"/Users/{enabled['id']}", user_body("put.enabled@example.com")), 200)["active"] is True


def test_put_with_active_sets_it(scim):
    user = scim.create_user("put.active@example.com", active=False)
    assert body_of(scim.put(f"/Users/{user['id']}", user_body("put.active@example.com", active=True)),
                   200)["active"] is True
    assert get_user(scim, user["id"])["active"] is True


def test_put_ignores_id_and_meta_in_the_body(scim):
    user = scim.create_user("put.id@example.com")
    replaced = body_of(scim.put(f"/Users/{user['id']}", user_body(
        "put.id@example.com", id="something-else", meta={"version": 'W/"77"'})), 200)
    assert replaced["id"] == user["id"]
    assert replaced["meta"]["version"] != 'W/"77"'
    assert_scim_error(scim.get("/Users/something-else"), 404)


def test_put_to_a_username_taken_case_insensitively_is_409_and_nothing_changes(scim):
    scim.create_user("ann@x.com")
    bob = scim.create_user("bob@x.com", externalId="bob", name={"givenName": "Bob"})
    error = assert_scim_error(scim.put(f"/Users/{bob['id']}", user_body("Ann@X.com", externalId="changed")),
                              409, "uniqueness")
    assert error["detail"]
    assert get_user(scim, bob["id"]) == bob


def test_put_without_username_is_400_and_nothing_changes(scim):
    user = scim.create_user("put.nouser@example.com", name={"givenName": "K"})
    assert_scim_error(scim.put(f"/Users/{user['id']}", {"schemas": [USER_SCHEMA], "name": {"givenName": "X"}}),
                      400, "invalidValue")
    assert get_user(scim, user["id"]) == user


def test_put_with_wrong_type_is_400_and_nothing_changes(scim):
    user = scim.create_user("put.type@example.com")
    assert_scim_error(scim.put(f"/Users/{user['id']}", user_body("put.type@example.com", active="maybe")),
                      400, "invalidValue")
    assert get_user(scim, user["id"]) == user


def test_put_unknown_user_is_404_and_creates_nothing(scim):
    assert_scim_error(scim.put("/Users/00000000-0000-4000-8000-000000000000", user_body("ghost@example.com")), 404)
    assert all_users(scim) == []


def test_changing_only_the_case_of_ones_own_username_is_allowed(scim):
    user = scim.create_user("case.change@example.com")
    replaced = body_of(scim.put(f"/Users/{user['id']}", user_body("Case.Change@Example.com")), 200)
    assert replaced["userName"] == "Case.Change@Example.com"
    patched = patch_ok(scim, user["id"], {"op": "replace", "path": "userName", "value": "CASE.CHANGE@example.com"})
    assert patched["userName"] == "CASE.CHANGE@example.com"
    assert get_user(scim, user["id"])["userName"] == "CASE.CHANGE@example.com"


# --------------------------------------------------------------------------- PATCH


def test_patch_add_with_path_sets_attribute(scim):
    user = scim.create_user("patch.add@example.com")
    patched = patch_ok(scim, user["id"], {"op": "add", "path": "name.givenName", "value": "Added"},
                       {"op": "add", "path": "externalId", "value": "ext-added"})
    assert patched["name"] == {"givenName": "Added"}
    assert patched["externalId"] == "ext-added"
    assert get_user(scim, user["id"]) == patched


def test_patch_replace_with_path_changes_only_that_attribute(scim):
    user = scim.create_user("patch.replace@example.com", externalId="e", name={"givenName": "A", "familyName": "B"})
    patched = patch_ok(scim, user["id"], {"op": "replace", "path": "name.familyName", "value": "C"})
    assert patched["name"] == {"givenName": "A", "familyName": "C"}
    assert patched["externalId"] == "e" and patched["userName"] == "patch.replace@example.com"
    assert get_user(scim, user["id"]) == patched


def test_patch_replace_complex_attribute_by_path_keeps_unsent_sub_attributes(scim):
    user = scim.create_user("patch.complex@example.com", name={"givenName": "A", "familyName": "B"})
    patched = patch_ok(scim, user["id"], {"op": "replace", "path": "name", "value": {"givenName": "Z"}})
    assert patched["name"] == {"givenName": "Z", "familyName": "B"}
    assert get_user(scim, user["id"])["name"] == {"givenName": "Z", "familyName": "B"}


def test_patch_remove_with_path_clears_attribute(scim):
    user = scim.create_user("patch.remove@example.com", externalId="gone", name={"givenName": "A", "familyName": "B"})
    patched = patch_ok(scim, user["id"], {"op": "remove", "path": "externalId"},
                       {"op": "remove", "path": "name.givenName"})
    assert "externalId" not in patched
    assert patched["name"] == {"familyName": "B"}
    stored = get_user(scim, user["id"])
    assert stored == patched
    assert filtered(scim, 'externalId eq "gone"')["totalResults"] == 0


def test_patch_remove_whole_complex_attribute(scim):
    user = scim.create_user("patch.remove.name@example.com", name={"givenName": "A", "familyName": "B"})
    patched = patch_ok(scim, user["id"], {"op": "remove", "path": "name"})
    assert "name" not in patched
    assert "name" not in get_user(scim, user["id"])


def test_patch_add_without_path_merges_value_object(scim):
    user = scim.create_user("patch.nopath@example.com", name={"givenName": "A", "familyName": "B"})
    patched = patch_ok(scim, user["id"], {"op": "add", "value": {"externalId": "np", "name": {"givenName": "N"}}})
    assert patched["externalId"] == "np"
    assert patched["name"] == {"givenName": "N", "familyName": "B"}
    assert get_user(scim, user["id"]) == patched


def test_patch_replace_without_path_sets_each_attribute(scim):
    user = scim.create_user("patch.replace.nopath@example.com")
    patched = patch_ok(scim, user["id"], {"op": "replace", "value": {
        "userName": "patch.renamed@example.com", "active": False, "name": {"familyName": "F"}, "emails": []}})
    assert patched["userName"] == "patch.renamed@example.com"
    assert patched["active"] is False
    assert patched["name"] == {"familyName": "F"}
    assert set(patched) <= USER_KEYS
    assert get_user(scim, user["id"]) == patched


def test_patch_with_urn_qualified_path(scim):
    user = scim.create_user("patch.urn@example.com")
    patched = patch_ok(scim, user["id"], {"op": "replace", "path": f"{USER_SCHEMA}:name.givenName", "value": "U"})
    assert patched["name"] == {"givenName": "U"}


def test_patch_with_several_operations_applies_them_in_order(scim):
    user = scim.create_user("patch.order@example.com")
    patched = patch_ok(scim, user["id"], {"op": "add", "path": "externalId", "value": "first"},
                       {"op": "replace", "path": "externalId", "value": "second"},
                       {"op": "add", "path": "name.givenName", "value": "G"},
                       {"op": "remove", "path": "name.givenName"})
    assert patched["externalId"] == "second"
    assert "name" not in patched


def test_patch_to_a_username_taken_case_insensitively_is_409_and_nothing_changes(scim):
    scim.create_user("ann@x.com")
    bob = scim.create_user("bob@x.com", externalId="bob")
    for operations in (
        [{"op": "replace", "path": "userName", "value": "Ann@X.com"}],
        [{"op": "replace", "value": {"userName": "ANN@x.com"}}],
        [{"op": "replace", "path": "externalId", "value": "changed"},
         {"op": "replace", "path": "userName", "value": "ann@X.COM"}],
    ):
        assert_scim_error(scim.patch(f"/Users/{bob['id']}", operations), 409, "uniqueness")
        assert get_user(scim, bob["id"]) == bob


def test_patch_remove_username_is_400_and_nothing_changes(scim):
    user = scim.create_user("keep.username@example.com", externalId="k")
    for operations in (
        [{"op": "remove", "path": "userName"}],
        [{"op": "replace", "path": "externalId", "value": "changed"}, {"op": "remove", "path": "userName"}],
        [{"op": "replace", "path": "userName", "value": ""}],
        [{"op": "replace", "path": "userName", "value": None}],
    ):
        assert_scim_error(scim.patch(f"/Users/{user['id']}", operations), 400, "invalidValue")
        assert get_user(scim, user["id"]) == user


@pytest.mark.parametrize("operation", [
    {"op": "replace", "path": "id", "value": "new-id"},
    {"op": "replace", "value": {"id": "new-id"}},
    {"op": "remove", "path": "id"},
    {"op": "replace", "path": "meta", "value": {"version": 'W/"9"'}},
    {"op": "replace", "path": "meta.lastModified", "value": "2000-01-01T00:00:00Z"},
    {"op": "add", "value": {"meta": {"created": "2000-01-01T00:00:00Z"}}},
], ids=["id-path", "id-nopath", "id-remove", "meta-path", "meta-sub-path", "meta-nopath"])
def test_patch_of_id_or_meta_is_400_mutability_and_nothing_changes(scim, operation):
    user = scim.create_user("readonly@example.com", externalId="r")
    operations = [{"op": "replace", "path": "externalId", "value": "changed"}, operation]
    assert_scim_error(scim.patch(f"/Users/{user['id']}", operations), 400, "mutability")
    assert get_user(scim, user["id"]) == user


@pytest.mark.parametrize("op", ["delete", "update", "", None, 3])
def test_patch_with_invalid_op_is_400_invalid_syntax(scim, op):
    user = scim.create_user("bad.op@example.com")
    response = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "externalId", "value": "x"},
                                                   {"op": op, "path": "externalId", "value": "y"}])
    assert_scim_error(response, 400, "invalidSyntax")
    assert get_user(scim, user["id"]) == user


@pytest.mark.parametrize("body", [
    {"schemas": [PATCH_SCHEMA]},
    {"schemas": [PATCH_SCHEMA], "Operations": []},
    {"schemas": [PATCH_SCHEMA], "Operations": {"op": "add"}},
    {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [
        {"op": "replace", "path": "externalId", "value": "x"}]},
], ids=["no-operations", "empty-operations", "operations-object", "wrong-schema"])
def test_patch_with_malformed_message_is_400_invalid_syntax(scim, body):
    user = scim.create_user("bad.message@example.com")
    assert_scim_error(scim.patch(f"/Users/{user['id']}", body=body), 400, "invalidSyntax")
    assert get_user(scim, user["id"]) == user


@pytest.mark.parametrize("path", ["name..givenName", "1name", 'emails[type eq "work"', "userName]", "a b"])
def test_patch_with_malformed_path_is_400_invalid_path(scim, path):
    user = scim.create_user("bad.path@example.com")
    response = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "externalId", "value": "x"},
                                                   {"op": "replace", "path": path, "value": "y"}])
    assert_scim_error(response, 400, "invalidPath")
    assert get_user(scim, user["id"]) == user


def test_patch_value_filter_on_single_valued_attribute_is_400_invalid_path(scim):
    user = scim.create_user("vf.single@example.com", name={"givenName": "A"})
    response = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": 'name[givenName eq "A"]', "value": "B"}])
    assert_scim_error(response, 400, "invalidPath")
    assert get_user(scim, user["id"]) == user


def test_patch_remove_without_path_is_400_no_target(scim):
    user = scim.create_user("no.target@example.com", externalId="nt")
    response = scim.patch(f"/Users/{user['id']}", [{"op": "remove", "value": {"externalId": "nt"}}])
    assert_scim_error(response, 400, "noTarget")
    assert get_user(scim, user["id"]) == user


def test_patch_add_without_value_is_400_and_nothing_changes(scim):
    user = scim.create_user("no.value@example.com")
    response = scim.patch(f"/Users/{user['id']}", [{"op": "add", "path": "externalId"}])
    assert_scim_error(response, 400, "invalidValue")
    assert get_user(scim, user["id"]) == user


def test_patch_with_wrong_value_type_is_400_invalid_value_and_nothing_changes(scim):
    user = scim.create_user("patch.type@example.com")
    for operation in ({"op": "replace", "path": "active", "value": "maybe"},
                      {"op": "replace", "path": "userName", "value": 7},
                      {"op": "replace", "value": {"name": "not an object"}}):
        response = scim.patch(f"/Users/{user['id']}", [{"op": "add", "path": "externalId", "value": "x"}, operation])
        assert_scim_error(response, 400, "invalidValue")
        assert get_user(scim, user["id"]) == user


def test_patch_unknown_user_is_404(scim):
    response = scim.patch("/Users/00000000-0000-4000-8000-000000000000",
                          [{"op": "replace", "path": "active", "value": False}])
    assert_scim_error(response, 404)


# --------------------------------------------------------------------------- versions


def test_meta_version_increments_and_last_modified_moves_on_each_change(scim):
    user = scim.create_user("versions@example.com")
    assert user["meta"]["version"] == 'W/"1"'
    time.sleep(0.01)
    patched = patch_ok(scim, user["id"], {"op": "replace", "path": "externalId", "value": "v2"})
    assert patched["meta"]["version"] == 'W/"2"'
    assert patched["meta"]["lastModified"] > user["meta"]["lastModified"]
    assert patched["meta"]["created"] == user["meta"]["created"]
    time.sleep(0.01)
    replaced = body_of(scim.put(f"/Users/{user['id']}", user_body("versions@example.com", externalId="v3")), 200)
    assert replaced["meta"]["version"] == 'W/"3"'
    assert replaced["meta"]["lastModified"] > patched["meta"]["lastModified"]
    assert replaced["meta"]["created"] == user["meta"]["created"]
    stored = get_user(scim, user["id"])
    assert stored["meta"] == replaced["meta"]


def test_rejected_write_does_not_bump_version(scim):
    user = scim.create_user("versions.rejected@example.com")
    scim.create_user("taken@example.com")
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "userName", "value": "taken@example.com"}])
    scim.put(f"/Users/{user['id']}", user_body("TAKEN@example.com"))
    scim.patch(f"/Users/{user['id']}", [{"op": "bogus"}])
    assert get_user(scim, user["id"])["meta"] == user["meta"]


# --------------------------------------------------------------------------- DELETE


def test_delete_user_is_204_then_get_is_404_and_second_delete_is_404(scim):
    user = scim.create_user("delete.me@example.com")
    keep = scim.create_user("keep.me@example.com")
    response = scim.delete(f"/Users/{user['id']}")
    body_of(response, 204)
    assert_scim_error(scim.get(f"/Users/{user['id']}"), 404)
    assert_scim_error(scim.delete(f"/Users/{user['id']}"), 404)
    assert filtered(scim, 'userName eq "delete.me@example.com"')["totalResults"] == 0
    assert ids(body_of(scim.get("/Users"), 200)) == [keep["id"]]


def test_deleted_username_can_be_provisioned_again(scim):
    user = scim.create_user("again@example.com")
    body_of(scim.delete(f"/Users/{user['id']}"), 204)
    again = scim.create_user("Again@example.com")
    assert again["id"] != user["id"]


def test_delete_user_removes_it_from_its_groups(scim):
    leaving = scim.create_user("leaving@example.com")
    staying = scim.create_user("staying@example.com")
    first = scim.create_group("First", [leaving["id"], staying["id"]])
    second = scim.create_group("Second", [leaving["id"]])
    body_of(scim.delete(f"/Users/{leaving['id']}"), 204)
    first_now = body_of(scim.get(f"/Groups/{first['id']}"), 200)
    assert [m["value"] for m in first_now["members"]] == [staying["id"]]
    assert body_of(scim.get(f"/Groups/{second['id']}"), 200)["members"] == []
    page = body_of(scim.get(url(f'/Groups?filter=members eq "{leaving["id"]}"')), 200)
    assert page["totalResults"] == 0
