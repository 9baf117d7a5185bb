"""Edge cases found in review, on SQLite and PostgreSQL: each once answered wrongly or 500."""

from __future__ import annotations

import pytest

from tests.conftest import Scim, assert_scim_error

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/gateway.db"
    else:
        yield request.getfixturevalue("postgres_database_url")


def test_urn_qualified_patch_paths_address_the_attribute_not_the_resource(scim):
    user = scim.create_user("urn@example.com", externalId="x1")
    response = scim.patch(f"/Users/{user['id']}", [
        {"op": "replace", "path": f"{CORE_USER}:active", "value": False},
        {"op": "replace", "path": f"{CORE_USER}:userName", "value": "urn2@example.com"},
        {"op": "remove", "path": f"{CORE_USER}:externalId"},
    ])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["active"] is False and body["userName"] == "urn2@example.com" and "externalId" not in body
    group = scim.create_group("Old", [user["id"]])
    renamed = scim.patch(f"/Groups/{group['id']}", [{"op": "replace", "path": f"{CORE_GROUP}:displayName",
                                                     "value": "New"}])
    assert renamed.get_json()["displayName"] == "New"


@pytest.mark.parametrize("path", ["members.display", 'members[value eq "{id}"].display'])
def test_removing_a_member_sub_attribute_never_drops_members(scim, path):
    users = [scim.create_user(f"m{i}@example.com")["id"] for i in range(2)]
    group = scim.create_group("Keep", users)
    response = scim.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": path.format(id=users[0])}])
    assert_scim_error(response, 400, "mutability")
    assert len(scim.get(f"/Groups/{group['id']}").get_json()["members"]) == 2


def test_a_group_can_be_created_and_replaced_with_more_than_a_hundred_members(scim):
    users = [scim.create_user(f"bulk{i}@example.com")["id"] for i in range(120)]
    group = scim.create_group("Big", users)
    assert len(group["members"]) == 120
    replaced = scim.put(f"/Groups/{group['id']}", {"displayName": "Big", "members": [{"value": u} for u in users[:110]]})
    assert replaced.status_code == 200 and len(replaced.get_json()["members"]) == 110


@pytest.mark.parametrize("sort_by", ["active", "meta.created", "meta.lastModified", "userName", "name.givenName"])
def test_sort_by_every_column_kind(scim, sort_by):
    scim.create_user("b@example.com", active=False, name={"givenName": "B"})
    scim.create_user("a@example.com", name={"givenName": "a"})
    response = scim.get(f"/Users?sortBy={sort_by}&sortOrder=descending")
    assert response.status_code == 200 and response.get_json()["totalResults"] == 2


@pytest.mark.parametrize("bad_filter", ['meta.created gt "0001-01-01T00:00:00+14:00"',
                                        'meta.lastModified lt "9999-12-31T23:59:59-14:00"'])
def test_dates_that_overflow_are_invalid_filters(scim, bad_filter):
    assert_scim_error(scim.get("/Users", query_string={"filter": bad_filter}), 400, "invalidFilter")


def test_ids_no_gateway_ever_issued_are_404(scim):
    for bad in ("nul\x00id", "x" * 200):
        assert_scim_error(scim.get(f"/Users/{bad}"), 404)


@pytest.mark.parametrize("member", [{"value": "nul\x00id"}, {"value": "id", "display": "d" * 300}])
def test_hostile_member_values_are_invalid_values(scim, member):
    assert_scim_error(scim.post("/Groups", {"displayName": "G", "members": [member]}), 400, "invalidValue")
    assert scim.get("/Groups").get_json()["totalResults"] == 0


def test_a_name_that_grows_when_case_folded_is_an_invalid_value(scim):
    assert_scim_error(scim.post("/Groups", {"displayName": "ß" * 200}), 400, "invalidValue")


def test_name_formatted_is_filterable_when_the_tenant_keeps_it(client, make_tenant):
    keep = {"plugins": {"attribute-mapping": {"options": {"user_attributes": ["name.formatted"]}}}}
    scim = Scim(client, make_tenant("formatted", settings=keep))
    scim.create_user("ann@example.com", name={"formatted": "Ann Smith"})
    scim.create_user("bob@example.com")
    names = lambda f: [r["userName"] for r in scim.get("/Users", query_string={"filter": f}).get_json()["Resources"]]
    assert names('name.formatted eq "ann smith"') == ["ann@example.com"]
    assert names("name pr") == ["ann@example.com"]


def test_deleting_a_member_changes_the_groups_version(scim):
    user = scim.create_user("leaver@example.com")
    group = scim.create_group("Team", [user["id"]])
    before = scim.get(f"/Groups/{group['id']}").headers["ETag"]
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    after = scim.get(f"/Groups/{group['id']}", headers={"If-None-Match": before})
    assert after.status_code == 200 and after.get_json()["members"] == []
