"""The vendor's Entra guide (shared/seeds/000_e27c7b42ca3f97a8.txt), as scenarios over HTTP.

One story, told through the SCIM API (what Entra sends) and the admin API (what the
MSP's admin does in the portal), checking each behaviour the guide promises:

* provisioned groups appear in the Group Mapping list, where the admin maps them to roles;
* members of a mapped group hold its roles; individually assigned users hold none, and
  roles cannot be added by hand to a SCIM user (individual permissions can);
* removing a user from a group strips the roles mapped to that group;
* users set ``active: "False"`` hold no roles; users and groups removed in Entra are
  removed (the last user loses the role with the group).
"""

from __future__ import annotations

import json

import pytest

from tenants import admin_keys
from tenants.db import database

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def admin(client):
    """The MSP's admin API, with an unscoped admin key."""
    with database.connection_context():
        _, key = admin_keys.create("msp-admin")

    def call(method: str, path: str, body=None):
        response = client.open(f"/admin/v1{path}", method=method, headers={"Authorization": f"Bearer {key}"},
                               data=json.dumps(body) if body is not None else None,
                               content_type="application/json" if body is not None else None)
        return response

    return call


def roles_of(admin, slug: str, user_id: str) -> dict[str, list[str]]:
    response = admin("GET", f"/tenants/{slug}/users/{user_id}")
    assert response.status_code == 200, response.get_json()
    return {role["name"]: role["granted_by"] for role in response.get_json()["roles"]}


def entra_patch(scim, path: str, *operations):
    response = scim.patch(path, list(operations))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_seed_story_end_to_end(scim, tenant, admin):
    slug = tenant.slug
    # Entra provisions a group with three users, and one user assigned individually.
    ann, bob, cyd = (scim.create_user(f"{n}@contoso.com", name={"givenName": n.title(), "familyName": "Doe"},
                                      emails=[{"value": f"{n}@contoso.com", "type": "work"}])
                     for n in ("ann", "bob", "cyd"))
    solo = scim.create_user("solo@contoso.com")
    sales = scim.create_group("Sales", [ann["id"], bob["id"], cyd["id"]])

    # The group appears in the Group Mapping list, unmapped; the admin creates a role and maps it.
    mapping = admin("GET", f"/tenants/{slug}/groups").get_json()["items"]
    assert [(g["id"], g["displayName"], g["roles"]) for g in mapping] == [(sales["id"], "Sales", [])]
    role = admin("POST", f"/tenants/{slug}/roles", {"name": "Approver", "permissions": ["approve"]}).get_json()
    mapped = admin("PUT", f"/tenants/{slug}/groups/{sales['id']}/roles", {"roles": [role["id"]]})
    assert mapped.status_code == 200
    assert [r["name"] for r in mapped.get_json()["roles"]] == ["Approver"]

    # All three hold the role, granted by the group; the individually assigned user holds none.
    for user in (ann, bob, cyd):
        assert roles_of(admin, slug, user["id"]) == {"Approver": [sales["id"]]}
    assert roles_of(admin, slug, solo["id"]) == {}

    # Roles cannot be added by hand to a SCIM user; individual permissions can.
    refused = admin("PUT", f"/tenants/{slug}/users/{solo['id']}/roles", {"roles": [role["id"]]})
    assert refused.status_code == 409 and "SCIM" in refused.get_json()["message"]
    assert roles_of(admin, slug, solo["id"]) == {}
    granted = admin("PUT", f"/tenants/{slug}/users/{solo['id']}/permissions", {"permissions": ["reports.read"]})
    assert granted.status_code == 200 and granted.get_json()["permissions"] == ["reports.read"]

    # Entra removes ann from the group (she is not deleted): she loses the group's role.
    entra_patch(scim, f"/Groups/{sales['id']}",
                {"op": "Remove", "path": "members", "value": [{"value": ann["id"]}]})
    assert roles_of(admin, slug, ann["id"]) == {}
    assert scim.get(f"/Users/{ann['id']}").status_code == 200

    # Entra disables bob with a string boolean: kept, returned, holding no role.
    disabled = entra_patch(scim, f"/Users/{bob['id']}", {"op": "Replace", "path": "active", "value": "False"})
    assert disabled["active"] is False
    assert roles_of(admin, slug, bob["id"]) == {}
    assert scim.get("/Users?filter=" + 'userName eq "bob@contoso.com"').get_json()["totalResults"] == 1

    # Entra deletes bob: he is removed from the portal.
    assert scim.delete(f"/Users/{bob['id']}").status_code == 204
    assert scim.get(f"/Users/{bob['id']}").status_code == 404
    assert admin("GET", f"/tenants/{slug}/users/{bob['id']}").status_code == 404

    # cyd still holds the role until Entra deletes the group: then the last user loses it.
    assert roles_of(admin, slug, cyd["id"]) == {"Approver": [sales["id"]]}
    assert scim.delete(f"/Groups/{sales['id']}").status_code == 204
    assert roles_of(admin, slug, cyd["id"]) == {}
    assert admin("GET", f"/tenants/{slug}/groups").get_json()["items"] == []
    assert scim.get(f"/Users/{cyd['id']}").status_code == 200


def test_a_role_granted_by_two_groups_survives_leaving_one(scim, tenant, admin):
    slug = tenant.slug
    dee = scim.create_user("dee@contoso.com")
    first, second = scim.create_group("First", [dee["id"]]), scim.create_group("Second", [dee["id"]])
    role = admin("POST", f"/tenants/{slug}/roles", {"name": "Viewer", "permissions": []}).get_json()
    only_first = admin("POST", f"/tenants/{slug}/roles", {"name": "Editor", "permissions": []}).get_json()
    admin("PUT", f"/tenants/{slug}/groups/{first['id']}/roles", {"roles": [role["id"], only_first["id"]]})
    admin("PUT", f"/tenants/{slug}/groups/{second['id']}/roles", {"roles": [role["id"]]})
    assert roles_of(admin, slug, dee["id"]) == {"Editor": [first["id"]],
                                                "Viewer": sorted([first["id"], second["id"]])}
    entra_patch(scim, f"/Groups/{first['id']}", {"op": "Remove", "path": f'members[value eq "{dee["id"]}"]'})
    assert roles_of(admin, slug, dee["id"]) == {"Viewer": [second["id"]]}


def test_the_enabled_toggle_is_what_makes_entra_test_connection_fail(scim, tenant, admin):
    probe = '/Users?filter=userName eq "00000000-0000-0000-0000-000000000000"'
    assert scim.get(probe).status_code == 200
    assert admin("PATCH", f"/tenants/{tenant.slug}", {"enabled": False}).status_code == 200
    refused = scim.get(probe)
    assert refused.status_code == 403 and "disabled" in refused.get_json()["detail"].lower()
    admin("PATCH", f"/tenants/{tenant.slug}", {"enabled": True})
    assert scim.get(probe).status_code == 200
