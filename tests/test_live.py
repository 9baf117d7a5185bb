"""End to end: `scim-gateway serve` as a real process (gunicorn, 2 workers) on a loopback port."""

from __future__ import annotations

import time

import pytest
import requests

from tenants import services

pytestmark = pytest.mark.live

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_provisioning_through_a_real_server_process(live_server):
    tenant = live_server.create_tenant("contoso")
    assert tenant["tenant_url"] == f"{live_server.url}/tenants/contoso/scim/v2"
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {tenant['token']}",
                            "Content-Type": "application/scim+json"})
    base = tenant["tenant_url"]

    probe = session.get(f"{base}/Users", params={"filter": 'userName eq "nobody@contoso.com"'})
    assert probe.status_code == 200 and probe.json()["totalResults"] == 0
    assert probe.headers["Content-Type"].startswith("application/scim+json")

    user_ids = []
    for name in ("ann", "bob", "cyd"):
        created = session.post(f"{base}/Users", json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"{name}@contoso.com", "externalId": name,
            "name": {"givenName": name.title(), "familyName": "Doe"},
            "emails": [{"value": f"{name}@contoso.com", "type": "work", "primary": True}],
            "active": True,
        })
        assert created.status_code == 201, created.text
        assert created.headers["Location"] == created.json()["meta"]["location"]
        assert "emails" not in created.json()
        user_ids.append(created.json()["id"])

    group = session.post(f"{base}/Groups", json={"displayName": "Sales", "members": [{"value": u} for u in user_ids]})
    assert group.status_code == 201
    group_id = group.json()["id"]

    removed = session.patch(f"{base}/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": user_ids[0]}]}]})
    assert removed.status_code == 200
    assert sorted(m["value"] for m in removed.json()["members"]) == sorted(user_ids[1:])

    disabled = session.patch(f"{base}/Users/{user_ids[1]}", json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]})
    assert disabled.status_code == 200 and disabled.json()["active"] is False

    by_external = session.get(f"{base}/Users", params={"filter": 'externalId eq "bob"'}).json()
    assert [r["id"] for r in by_external["Resources"]] == [user_ids[1]]

    assert session.delete(f"{base}/Users/{user_ids[2]}").status_code == 204
    assert session.get(f"{base}/Users/{user_ids[2]}").status_code == 404
    remaining = session.get(f"{base}/Groups/{group_id}").json()["members"]
    assert [m["value"] for m in remaining] == [user_ids[1]]

    shared = session.get(f"{live_server.url}/scim/v2/Users", params={"count": 10}).json()
    assert shared["totalResults"] == 2

    live_server.cli("tenants", "disable", "contoso")
    time.sleep(services.TRUST_SECONDS)  # how long a worker may still trust the row it read
    refused = session.get(f"{base}/Users")
    assert refused.status_code == 403 and "disabled" in refused.json()["detail"]
    live_server.cli("tenants", "enable", "contoso")
    time.sleep(services.TRUST_SECONDS)
    assert session.get(f"{base}/Users").status_code == 200
