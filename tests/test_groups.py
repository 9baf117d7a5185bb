"""SCIM /Groups through HTTP: members, uniqueness, projections, PATCH of members, PUT, DELETE.

Every write is read back with GET; every rejected write checks that the group (members
and version included) is exactly as before, or was not created.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import body_of, url, Scim, assert_scim_error

SCIM_MEDIA_TYPE = "application/scim+json"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


# One app and database per module keeps the suite fast (building an app costs ~60 ms); every
# test still gets a tenant of its own, so tests see only their own users and groups.
@pytest.fixture(scope="module")
def app(module_app):
    return module_app


@pytest.fixture
def tenant(make_tenant):
    """A fresh tenant for each test."""
    return make_tenant()


@pytest.fixture
def users(scim):
    """Four users of the test's tenant: ``users[i]`` is the created resource."""
    return [scim.create_user(f"user{i}@example.com") for i in range(4)]




def group_body(display_name, members=(), **attributes) -> dict:
    return {"schemas": [GROUP_SCHEMA], "displayName": display_name,
            "members": [{"value": m} for m in members], **attributes}


def get_group(scim: Scim, group_id: str) -> dict:
    response = scim.get(f"/Groups/{group_id}")
    body = body_of(response, 200)
    assert response.headers["ETag"] == body["meta"]["version"]
    return body


def all_groups(scim: Scim) -> list[dict]:
    return body_of(scim.get("/Groups"), 200)["Resources"]


def values(group: dict) -> set[str]:
    return {member["value"] for member in group.get("members", [])}


def ids(page: dict) -> list[str]:
    return [resource["id"] for resource in page.get("Resources", [])]


def patch_ok(scim: Scim, group_id: str, *operations) -> dict:
    response = scim.patch(f"/Groups/{group_id}", list(operations))
    body = body_of(response, 200)
    assert response.headers["ETag"] == body["meta"]["version"]
    assert get_group(scim, group_id) == body
    return body


def expected_member(scim: Scim, user: dict) -> dict:
    return {"value": user["id"], "$ref": f"http://localhost{scim.base}/Users/{user['id']}",
            "display": user["userName"], "type": "User"}


# --------------------------------------------------------------------------- POST


def test_post_group_with_members_returns_them_with_ref_and_display(scim, users):
    response = scim.post("/Groups", group_body("Engineering", [users[0]["id"], users[1]["id"]], externalId="eng"))
    created = body_of(response, 201)
    assert created["schemas"] == [GROUP_SCHEMA]
    assert created["displayName"] == "Engineering"
    assert created["externalId"] == "eng"
    members = sorted(created["members"], key=lambda m: m["display"])
    assert members == [expected_member(scim, users[0]), expected_member(scim, users[1])]
    meta = created["meta"]
    assert meta["resourceType"] == "Group"
    assert meta["location"] == f"http://localhost{scim.base}/Groups/{created['id']}"
    assert response.headers["Location"] == meta["location"]
    assert response.headers["ETag"] == meta["version"]
    assert meta["created"] == meta["lastModified"]
    assert get_group(scim, created["id"]) == created


def test_post_group_without_members_has_empty_member_list(scim):
    created = body_of(scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Empty"}), 201)
    assert created["members"] == []
    assert get_group(scim, created["id"])["members"] == []


def test_member_ref_follows_to_the_user(scim, users):
    group = scim.create_group("Refs", [users[2]["id"]])
    ref = group["members"][0]["$ref"]
    assert ref.startswith("http://localhost")
    user = body_of(scim.get(ref[len(f"http://localhost{scim.base}"):]), 200)
    assert user["id"] == users[2]["id"] and user["meta"]["location"] == ref


def test_member_display_follows_a_username_change(scim, users):
    group = scim.create_group("Renames", [users[0]["id"]])
    assert group["members"][0]["display"] == "user0@example.com"
    scim.patch(f"/Users/{users[0]['id']}", [{"op": "replace", "path": "userName", "value": "renamed@example.com"}])
    assert get_group(scim, group["id"])["members"][0]["display"] == "renamed@example.com"


def test_member_display_sent_by_the_client_is_returned_as_sent(scim, users):
    created = body_of(scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Displays",
                                            "members": [{"value": users[0]["id"], "display": "Zero, User"}]}), 201)
    assert created["members"][0]["display"] == "Zero, User"
    assert get_group(scim, created["id"])["members"][0]["display"] == "Zero, User"


def test_post_group_ignores_client_id_meta_and_unknown_attributes(scim):
    created = body_of(scim.post("/Groups", {
        "schemas": [GROUP_SCHEMA], "displayName": "Ignore", "id": "mine", "meta": {"version": 'W/"5"'},
        "description": "not stored", "urn:example:ext:Group:tag": "x"}), 201)
    assert created["id"] != "mine"
    assert created["meta"]["version"] == 'W/"1"'
    assert set(created) <= {"schemas", "id", "externalId", "displayName", "members", "meta"}
    assert "description" not in get_group(scim, created["id"])


def test_post_duplicate_display_name_case_insensitively_is_409_and_nothing_created(scim, users):
    first = scim.create_group("Sales", [users[0]["id"]])
    for name in ("sales", "SALES", " Sales "):
        error = assert_scim_error(scim.post("/Groups", group_body(name, [users[1]["id"]])), 409, "uniqueness")
        assert "displayName" in error["detail"]
    assert ids({"Resources": all_groups(scim)}) == [first["id"]]
    assert get_group(scim, first["id"]) == first


def test_same_display_name_in_two_tenants_is_allowed(client, scim, make_tenant):
    other = Scim(client, make_tenant())
    scim.create_group("Shared name")
    other.create_group("shared NAME")
    assert len(all_groups(scim)) == len(all_groups(other)) == 1


@pytest.mark.parametrize("body", [
    {"schemas": [GROUP_SCHEMA]},
    {"schemas": [GROUP_SCHEMA], "displayName": ""},
    {"schemas": [GROUP_SCHEMA], "displayName": 5},
    {"schemas": [GROUP_SCHEMA], "displayName": "Bad members", "members": "nobody"},
    {"schemas": [GROUP_SCHEMA], "displayName": "Bad member", "members": [{"display": "no value"}]},
], ids=["no-displayName", "empty-displayName", "number-displayName", "members-string", "member-without-value"])
def test_post_invalid_group_is_400_invalid_value_and_nothing_created(scim, body):
    assert_scim_error(scim.post("/Groups", body), 400, "invalidValue")
    assert all_groups(scim) == []


def test_post_with_unknown_member_is_400_invalid_value_and_group_not_created(scim, users):
    response = scim.post("/Groups", group_body("Ghosts", [users[0]["id"], UNKNOWN_ID]))
    error = assert_scim_error(response, 400, "invalidValue")
    assert UNKNOWN_ID in error["detail"]
    assert all_groups(scim) == []
    page = body_of(scim.get(url('/Groups?filter=displayName eq "Ghosts"')), 200)
    assert page["totalResults"] == 0
    # The name is still free: nothing half-written holds it.
    assert scim.create_group("Ghosts", [users[0]["id"]])["displayName"] == "Ghosts"


def test_post_with_member_of_another_tenant_is_400_and_group_not_created(client, scim, make_tenant, users):
    other = Scim(client, make_tenant())
    foreign = other.create_user("foreign@example.com")
    response = scim.post("/Groups", group_body("Mixed", [users[0]["id"], foreign["id"]]))
    error = assert_scim_error(response, 400, "invalidValue")
    assert "foreign@example.com" not in error["detail"]  # nothing about the other tenant leaks
    assert all_groups(scim) == []
    assert all_groups(other) == []
    assert body_of(other.get(f"/Users/{foreign['id']}"), 200) == foreign


def test_post_with_nested_group_member_is_400(scim):
    inner = scim.create_group("Inner")
    response = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Outer",
                                     "members": [{"value": inner["id"], "type": "Group"}]})
    assert_scim_error(response, 400, "invalidValue")
    assert [g["displayName"] for g in all_groups(scim)] == ["Inner"]


# --------------------------------------------------------------------------- GET and projections


def test_get_unknown_group_is_404(scim):
    assert_scim_error(scim.get(f"/Groups/{UNKNOWN_ID}"), 404)


def test_get_group_of_another_tenant_is_404(client, scim, make_tenant):
    other = Scim(client, make_tenant())
    theirs = other.create_group("Theirs")
    assert_scim_error(scim.get(f"/Groups/{theirs['id']}"), 404)
    assert_scim_error(scim.patch(f"/Groups/{theirs['id']}", [{"op": "replace", "path": "displayName",
                                                              "value": "Mine"}]), 404)
    assert_scim_error(scim.delete(f"/Groups/{theirs['id']}"), 404)
    assert get_group(other, theirs["id"]) == theirs


def test_excluded_attributes_members_leaves_out_the_members_key(scim, users):
    group = scim.create_group("Excluded", [users[0]["id"]], externalId="ex")
    single = body_of(scim.get(f"/Groups/{group['id']}?excludedAttributes=members"), 200)
    assert "members" not in single
    assert single == {k: v for k, v in group.items() if k != "members"}
    page = body_of(scim.get("/Groups?excludedAttributes=members"), 200)
    assert page["Resources"] == [single]


def test_attributes_display_name_returns_id_schemas_and_display_name_only(scim, users):
    group = scim.create_group("Projected", [users[0]["id"]], externalId="p")
    single = body_of(scim.get(f"/Groups/{group['id']}?attributes=displayName"), 200)
    assert single == {"schemas": [GROUP_SCHEMA], "id": group["id"], "displayName": "Projected"}
    page = body_of(scim.get("/Groups?attributes=displayName"), 200)
    assert page["Resources"] == [single]


def test_attributes_members_value_returns_only_member_values(scim, users):
    group = scim.create_group("Values only", [users[0]["id"]])
    single = body_of(scim.get(f"/Groups/{group['id']}?attributes=members.value"), 200)
    assert single == {"schemas": [GROUP_SCHEMA], "id": group["id"], "members": [{"value": users[0]["id"]}]}


def test_list_groups_pages_without_overlap(scim):
    created = {scim.create_group(f"Group {i}")["id"] for i in range(5)}
    first = body_of(scim.get("/Groups?startIndex=1&count=2"), 200)
    second = body_of(scim.get("/Groups?startIndex=3&count=2"), 200)
    third = body_of(scim.get("/Groups?startIndex=5&count=2"), 200)
    assert first["schemas"] == [LIST_SCHEMA]
    assert [p["totalResults"] for p in (first, second, third)] == [5, 5, 5]
    assert [p["itemsPerPage"] for p in (first, second, third)] == [2, 2, 1]
    assert [p["startIndex"] for p in (first, second, third)] == [1, 3, 5]
    seen = ids(first) + ids(second) + ids(third)
    assert len(seen) == len(set(seen)) and set(seen) == created


# --------------------------------------------------------------------------- filters


def test_filter_display_name_eq_is_case_insensitive(scim):
    target = scim.create_group("Finance Team")
    scim.create_group("Finance")
    for value in ("Finance Team", "finance team", "FINANCE TEAM"):
        page = body_of(scim.get(url(f'/Groups?filter=displayName eq "{value}"')), 200)
        assert ids(page) == [target["id"]]
        assert page["Resources"][0]["displayName"] == "Finance Team"


def test_filter_members_eq_finds_the_groups_of_a_user(scim, users):
    a = scim.create_group("A", [users[0]["id"], users[1]["id"]])
    b = scim.create_group("B", [users[0]["id"]])
    scim.create_group("C", [users[1]["id"]])
    page = body_of(scim.get(url(f'/Groups?filter=members eq "{users[0]["id"]}"&excludedAttributes=members')), 200)
    assert sorted(ids(page)) == sorted([a["id"], b["id"]])
    assert all("members" not in r for r in page["Resources"])
    value_page = body_of(scim.get(url(f'/Groups?filter=members[value eq "{users[0]["id"]}"]')), 200)
    assert sorted(ids(value_page)) == sorted([a["id"], b["id"]])
    assert body_of(scim.get(url(f'/Groups?filter=members eq "{users[3]["id"]}"')), 200)["totalResults"] == 0


def test_filter_id_and_members_is_the_membership_check(scim, users):
    group = scim.create_group("Check", [users[0]["id"]])
    query = '/Groups?filter=id eq "{g}" and members eq "{u}"&attributes=id'
    assert body_of(scim.get(url(query.format(g=group["id"], u=users[0]["id"]))), 200)["totalResults"] == 1
    assert body_of(scim.get(url(query.format(g=group["id"], u=users[1]["id"]))), 200)["totalResults"] == 0


# --------------------------------------------------------------------------- PATCH members


def test_patch_add_members_is_a_union_and_re_adding_is_harmless(scim, users):
    u0, u1, u2 = (u["id"] for u in users[:3])
    group = scim.create_group("Union", [u0])
    added = patch_ok(scim, group["id"], {"op": "add", "path": "members", "value": [{"value": u1}, {"value": u2}]})
    assert values(added) == {u0, u1, u2}
    assert added["meta"]["version"] != group["meta"]["version"]
    again = patch_ok(scim, group["id"], {"op": "add", "path": "members", "value": [{"value": u0}, {"value": u1}]})
    assert values(again) == {u0, u1, u2}
    assert len(again["members"]) == 3
    assert again["meta"]["version"] == added["meta"]["version"]  # nothing changed


def test_patch_add_members_without_path(scim, users):
    group = scim.create_group("No path", [users[0]["id"]])
    patched = patch_ok(scim, group["id"], {"op": "add", "value": {"members": [{"value": users[1]["id"]}]}})
    assert values(patched) == {users[0]["id"], users[1]["id"]}


def test_patch_remove_members_by_value_list(scim, users):
    u0, u1, u2, u3 = (u["id"] for u in users)
    group = scim.create_group("Remove list", [u0, u1, u2, u3])
    patched = patch_ok(scim, group["id"], {"op": "remove", "path": "members",
                                           "value": [{"value": u1}, {"value": u3}]})
    assert values(patched) == {u0, u2}


def test_patch_remove_members_by_filter(scim, users):
    u0, u1, u2, u3 = (u["id"] for u in users)
    group = scim.create_group("Remove filter", [u0, u1, u2, u3])
    patched = patch_ok(scim, group["id"], {"op": "remove", "path": f'members[value eq "{u2}"]'})
    assert values(patched) == {u0, u1, u3}
    patched = patch_ok(scim, group["id"], {"op": "remove", "path": f'members[value eq "{u0}" or value eq "{u3}"]'})
    assert values(patched) == {u1}


def test_patch_remove_members_by_display_filter(scim, users):
    group = scim.create_group("Remove display", [u["id"] for u in users])
    patched = patch_ok(scim, group["id"], {"op": "remove", "path": 'members[display eq "USER2@example.com"]'})
    assert values(patched) == {users[0]["id"], users[1]["id"], users[3]["id"]}


def test_patch_remove_members_by_display_filter_matches_the_display_the_group_returns(scim, users):
    created = body_of(scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Sent displays", "members": [
        {"value": users[0]["id"], "display": "Zero, User"}, {"value": users[1]["id"]}]}), 201)
    shown = {m["value"]: m["display"] for m in created["members"]}
    assert shown == {users[0]["id"]: "Zero, User", users[1]["id"]: "user1@example.com"}
    patched = patch_ok(scim, created["id"], {"op": "remove", "path": 'members[display eq "Zero, User"]'})
    assert values(patched) == {users[1]["id"]}


def test_filter_members_display_matches_the_display_the_group_returns(scim, users):
    group = body_of(scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Display filter", "members": [
        {"value": users[0]["id"], "display": "Zero, User"}]}), 201)
    assert group["members"][0]["display"] == "Zero, User"
    page = body_of(scim.get(url('/Groups?filter=members.display eq "Zero, User"')), 200)
    assert ids(page) == [group["id"]]


def test_patch_remove_of_a_non_member_is_harmless(scim, users):
    group = scim.create_group("Not a member", [users[0]["id"]])
    patched = patch_ok(scim, group["id"], {"op": "remove", "path": f'members[value eq "{users[1]["id"]}"]'})
    assert values(patched) == {users[0]["id"]}
    assert patched["meta"]["version"] == group["meta"]["version"]


def test_patch_remove_all_members(scim, users):
    group = scim.create_group("Remove all", [u["id"] for u in users])
    patched = patch_ok(scim, group["id"], {"op": "remove", "path": "members"})
    assert patched["members"] == []
    for user in users:  # the users themselves stay
        body_of(scim.get(f"/Users/{user['id']}"), 200)


def test_patch_replace_members_with_a_list(scim, users):
    u0, u1, u2, u3 = (u["id"] for u in users)
    group = scim.create_group("Replace", [u0, u1])
    patched = patch_ok(scim, group["id"], {"op": "replace", "path": "members", "value": [{"value": u1}, {"value": u2},
                                                                                           {"value": u3}]})
    assert values(patched) == {u1, u2, u3}
    emptied = patch_ok(scim, group["id"], {"op": "replace", "path": "members", "value": []})
    assert emptied["members"] == []


def test_patch_replace_display_name(scim, users):
    group = scim.create_group("Old name", [users[0]["id"]])
    patched = patch_ok(scim, group["id"], {"op": "replace", "path": "displayName", "value": "New name"})
    assert patched["displayName"] == "New name"
    assert values(patched) == {users[0]["id"]}
    assert body_of(scim.get(url('/Groups?filter=displayName eq "old name"')), 200)["totalResults"] == 0
    assert ids(body_of(scim.get(url('/Groups?filter=displayName eq "new name"')), 200)) == [group["id"]]


def test_patch_rename_to_a_taken_display_name_is_409_and_nothing_changes(scim, users):
    scim.create_group("Taken")
    group = scim.create_group("Mine", [users[0]["id"]])
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "add", "path": "members", "value": [{"value": users[1]["id"]}]},
        {"op": "replace", "path": "displayName", "value": "TAKEN"},
    ])
    assert_scim_error(response, 409, "uniqueness")
    assert get_group(scim, group["id"]) == group


def test_patch_with_member_of_another_tenant_is_400_and_not_added(client, scim, make_tenant, users):
    other = Scim(client, make_tenant())
    foreign = other.create_user("foreign@example.com")
    group = scim.create_group("Guarded", [users[0]["id"]])
    response = scim.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members",
                                                      "value": [{"value": foreign["id"]}]}])
    assert_scim_error(response, 400, "invalidValue")
    assert get_group(scim, group["id"]) == group
    page = body_of(scim.get(url(f'/Groups?filter=members eq "{foreign["id"]}"')), 200)
    assert page["totalResults"] == 0


def test_several_operations_are_atomic_when_the_last_one_is_invalid(scim, users):
    u0, u1, u2 = (u["id"] for u in users[:3])
    group = scim.create_group("Atomic", [u0, u1], externalId="before")
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "replace", "path": "displayName", "value": "Atomic renamed"},
        {"op": "remove", "path": f'members[value eq "{u0}"]'},
        {"op": "add", "path": "members", "value": [{"value": u2}]},
        {"op": "replace", "path": "externalId", "value": "after"},
        {"op": "add", "path": "members", "value": [{"value": UNKNOWN_ID}]},
    ])
    assert_scim_error(response, 400, "invalidValue")
    assert get_group(scim, group["id"]) == group
    assert body_of(scim.get(url('/Groups?filter=displayName eq "Atomic renamed"')), 200)["totalResults"] == 0


def test_several_operations_are_atomic_when_the_last_one_is_malformed(scim, users):
    group = scim.create_group("Atomic syntax", [users[0]["id"]])
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "remove", "path": "members"},
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "remove", "path": "members[value eq"},
    ])
    assert_scim_error(response, 400, "invalidPath")
    assert get_group(scim, group["id"]) == group


def test_patch_member_sub_attribute_is_400_mutability(scim, users):
    group = scim.create_group("Immutable members", [users[0]["id"]])
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "replace", "path": f'members[value eq "{users[0]["id"]}"].value', "value": users[1]["id"]}])
    assert_scim_error(response, 400, "mutability")
    assert get_group(scim, group["id"]) == group


def test_patch_remove_display_name_is_400_and_nothing_changes(scim):
    group = scim.create_group("Required")
    assert_scim_error(scim.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": "displayName"}]),
                      400, "invalidValue")
    assert get_group(scim, group["id"]) == group


def test_patch_unknown_group_is_404(scim):
    assert_scim_error(scim.patch(f"/Groups/{UNKNOWN_ID}", [{"op": "remove", "path": "members"}]), 404)


def test_patch_group_version_increments_on_member_change(scim, users):
    group = scim.create_group("Versioned")
    assert group["meta"]["version"] == 'W/"1"'
    time.sleep(0.01)
    added = patch_ok(scim, group["id"], {"op": "add", "path": "members", "value": [{"value": users[0]["id"]}]})
    assert added["meta"]["version"] == 'W/"2"'
    assert added["meta"]["lastModified"] > group["meta"]["lastModified"]
    assert added["meta"]["created"] == group["meta"]["created"]
    removed = patch_ok(scim, group["id"], {"op": "remove", "path": "members"})
    assert removed["meta"]["version"] == 'W/"3"'


# --------------------------------------------------------------------------- PUT


def test_put_replaces_display_name_and_members(scim, users):
    u0, u1, u2, _ = (u["id"] for u in users)
    group = scim.create_group("Before PUT", [u0, u1], externalId="old")
    response = scim.put(f"/Groups/{group['id']}", group_body("After PUT", [u1, u2]))
    replaced = body_of(response, 200)
    assert response.headers["ETag"] == replaced["meta"]["version"]
    assert replaced["id"] == group["id"]
    assert replaced["displayName"] == "After PUT"
    assert values(replaced) == {u1, u2}
    assert "externalId" not in replaced
    assert replaced["meta"]["version"] != group["meta"]["version"]
    assert replaced["meta"]["created"] == group["meta"]["created"]
    assert get_group(scim, group["id"]) == replaced


def test_put_with_empty_members_clears_them(scim, users):
    group = scim.create_group("Clear by PUT", [users[0]["id"]])
    replaced = body_of(scim.put(f"/Groups/{group['id']}", group_body("Clear by PUT", [])), 200)
    assert replaced["members"] == []
    assert get_group(scim, group["id"])["members"] == []


def test_put_with_unknown_member_is_400_and_nothing_changes(scim, users):
    group = scim.create_group("PUT guarded", [users[0]["id"]])
    response = scim.put(f"/Groups/{group['id']}", group_body("PUT renamed", [users[1]["id"], UNKNOWN_ID]))
    assert_scim_error(response, 400, "invalidValue")
    assert get_group(scim, group["id"]) == group


def test_put_to_a_taken_display_name_is_409_and_nothing_changes(scim, users):
    scim.create_group("Occupied")
    group = scim.create_group("Free", [users[0]["id"]])
    assert_scim_error(scim.put(f"/Groups/{group['id']}", group_body("occupied", [users[1]["id"]])), 409, "uniqueness")
    assert get_group(scim, group["id"]) == group


def test_put_unknown_group_is_404_and_creates_nothing(scim):
    assert_scim_error(scim.put(f"/Groups/{UNKNOWN_ID}", group_body("Nope")), 404)
    assert all_groups(scim) == []


# --------------------------------------------------------------------------- DELETE


def test_delete_group_is_204_and_leaves_its_users_in_place(scim, users):
    group = scim.create_group("Doomed", [u["id"] for u in users])
    other = scim.create_group("Survivor", [users[0]["id"]])
    body_of(scim.delete(f"/Groups/{group['id']}"), 204)
    assert_scim_error(scim.get(f"/Groups/{group['id']}"), 404)
    assert_scim_error(scim.delete(f"/Groups/{group['id']}"), 404)
    for user in users:
        assert body_of(scim.get(f"/Users/{user['id']}"), 200) == user
    assert get_group(scim, other["id"]) == other
    page = body_of(scim.get(url(f'/Groups?filter=members eq "{users[1]["id"]}"')), 200)
    assert page["totalResults"] == 0


def test_deleted_display_name_can_be_used_again(scim):
    group = scim.create_group("Recycled")
    body_of(scim.delete(f"/Groups/{group['id']}"), 204)
    assert scim.create_group("recycled")["id"] != group["id"]

