"""PATCH answers: 200 with the resource, or 204 for groups too large to list (RFC 7644 §3.5.2)."""

from __future__ import annotations

from gateway.app import create_app
from tenants import services
from tenants.db import database
from tests.conftest import Scim, TenantCredentials


def test_patch_of_a_group_above_the_member_limit_answers_204_unless_attributes_are_asked(database_url):
    """A one-member change must not cost a list of every member: 204, as RFC 7644 §3.5.2 allows."""
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "PATCH_RESPONSE_MAX_MEMBERS": 2})
    with database.connection_context():
        _, token = services.create_tenant("big")
    scim = Scim(app.test_client(), TenantCredentials("big", token.secret))
    ids = [scim.create_user(f"m{i}@example.com")["id"] for i in range(4)]
    small = scim.create_group("Small", ids[:1])
    big = scim.create_group("Big", ids[:3])
    add = [{"op": "add", "path": "members", "value": [{"value": ids[3]}]}]
    assert scim.patch(f"/Groups/{small['id']}", add).status_code == 200
    answered = scim.patch(f"/Groups/{big['id']}", add)
    assert answered.status_code == 204 and answered.data == b"" and answered.headers["ETag"] == 'W/"2"'
    members = scim.get(f"/Groups/{big['id']}").get_json()["members"]
    assert sorted(m["value"] for m in members) == sorted(ids)
    asked = scim.patch(f"/Groups/{big['id']}?attributes=displayName",
                       [{"op": "replace", "path": "displayName", "value": "Bigger"}])
    assert asked.status_code == 200 and asked.get_json()["displayName"] == "Bigger"
