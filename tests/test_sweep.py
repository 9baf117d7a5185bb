"""The retention sweep removes tombstones and long-disabled users, per tenant policy."""

from __future__ import annotations

import datetime as dt

from gateway.sweep import sweep_all
from tenants.clock import utcnow
from tenants.db import database
from tenants.models import Membership, User
from tests.conftest import Scim

RETAIN = {"plugins": {"deprovisioning": {"options": {"tombstone_days": 30, "remove_disabled_after_days": 7}}}}


def rows(tenant_slug: str) -> dict[str, User]:
    with database.connection_context():
        return {u.user_name: u for u in User.select().join_from(User, User.tenant.rel_model)
                .where(User.tenant.rel_model.slug == tenant_slug)}


def test_sweep_removes_only_what_each_tenants_retention_allows(app, client, make_tenant):
    keep = Scim(client, make_tenant("keep"))
    retain = Scim(client, make_tenant("retain", settings=RETAIN))
    for scim in (keep, retain):
        gone = scim.create_user("gone@example.com")
        off = scim.create_user("off@example.com")
        scim.create_user("on@example.com")
        group = scim.create_group("Team", [gone["id"], off["id"]])
        assert scim.delete(f"/Users/{gone['id']}").status_code == 204
        assert scim.patch(f"/Users/{off['id']}", [{"op": "replace", "path": "active", "value": False}]).status_code == 200
        assert scim.get(f"/Users/{gone['id']}").status_code == 404
        members = scim.get(f"/Groups/{group['id']}").get_json()["members"]
        assert [m["value"] for m in members] == [off["id"]]

    # "keep" deleted for real; "retain" kept a hidden tombstone whose userName is free again.
    assert "gone@example.com" not in rows("keep")
    assert rows("retain")["gone@example.com"].deleted_at is not None
    again = retain.create_user("gone@example.com")
    assert retain.delete(f"/Users/{again['id']}").status_code == 204

    with app.app_context(), database.connection_context():
        soon = sweep_all(utcnow() + dt.timedelta(days=8))
        assert {r.slug: (r.tombstones, r.disabled) for r in soon} == {"keep": (0, 0), "retain": (0, 1)}
        later = sweep_all(utcnow() + dt.timedelta(days=31))
        assert {r.slug: (r.tombstones, r.disabled) for r in later} == {"keep": (0, 0), "retain": (2, 0)}

    assert set(rows("retain")) == {"on@example.com"}
    assert set(rows("keep")) == {"off@example.com", "on@example.com"}
    with database.connection_context():
        assert Membership.select().join(User).where(User.user_name == "off@example.com").count() == 1


def test_a_group_that_loses_members_to_the_sweep_gets_a_new_version(app, client, make_tenant):
    """A sweep that deletes a long-disabled member changes the group: a client holding
    its old ETag must not get 304 or pass If-Match; a group without swept members keeps its version."""
    scim = Scim(client, make_tenant("retain", settings=RETAIN))
    off = scim.create_user("off@example.com")
    on = scim.create_user("on@example.com")
    team = scim.create_group("Team", [off["id"], on["id"]])
    other = scim.create_group("Other", [on["id"]])
    assert scim.patch(f"/Users/{off['id']}", [{"op": "replace", "path": "active", "value": False}]).status_code == 200
    before = scim.get(f"/Groups/{team['id']}")
    untouched = scim.get(f"/Groups/{other['id']}").headers["ETag"]

    with app.app_context(), database.connection_context():
        assert [(r.slug, r.disabled) for r in sweep_all(utcnow() + dt.timedelta(days=8))] == [("retain", 1)]

    after = scim.get(f"/Groups/{team['id']}")
    assert [m["value"] for m in after.get_json()["members"]] == [on["id"]]
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.get_json()["meta"]["lastModified"] >= before.get_json()["meta"]["lastModified"]
    assert scim.get(f"/Groups/{team['id']}", headers={"If-None-Match": before.headers["ETag"]}).status_code == 200
    stale = scim.patch(f"/Groups/{team['id']}", [{"op": "add", "path": "members", "value": [{"value": off["id"]}]}],
                       headers={"If-Match": before.headers["ETag"]})
    assert stale.status_code == 412
    assert scim.get(f"/Groups/{other['id']}").headers["ETag"] == untouched
