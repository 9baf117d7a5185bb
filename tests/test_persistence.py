"""A restart on the same SQLite file: every row is still there, and no migration runs twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import create_app
from tenants import services
from tenants.db import database
from tenants.migrate import MIGRATIONS_DIR, migrate, pending

from .conftest import Scim, TenantCredentials

SHARED_BASE = "/scim/v2"


def _new_app(database_url: str, **config):
    return create_app({"TESTING": True, "DATABASE_URL": database_url, **config})


def _migration_names() -> list[str]:
    return sorted(p.stem for p in Path(MIGRATIONS_DIR).glob("[0-9]*.py"))


def _history() -> list[tuple]:
    with database.connection_context():
        return list(database.execute_sql("SELECT name, applied FROM schema_migration ORDER BY name").fetchall())


def _everything(client, tenant: TenantCredentials) -> dict:
    """What a SCIM client of ``tenant`` can see, through both URLs."""
    result = {}
    for base in (tenant.base, SHARED_BASE):
        scim = Scim(client, tenant, base)
        users = scim.get("/Users?count=1000")
        groups = scim.get("/Groups?count=1000")
        assert users.status_code == groups.status_code == 200
        result[base] = {"users": users.get_json(), "groups": groups.get_json()}
        for kind, listing in (("Users", users), ("Groups", groups)):
            for resource in listing.get_json()["Resources"]:
                single = scim.get(f"/{kind}/{resource['id']}")
                assert single.status_code == 200
                result[base][resource["id"]] = single.get_json()
    return result


@pytest.fixture
def provisioned(app, client, make_tenant):
    """Two tenants, users (one disabled, one renamed), a group with members, a rotated token."""
    acme, beta = make_tenant("acme", "Acme Corp"), make_tenant("beta")
    scim = Scim(client, acme)
    ann = scim.create_user("Ann@Example.com", externalId="ext-ann", name={"givenName": "Ann", "familyName": "Lee"})
    bob = scim.create_user("bob@example.com", name={"givenName": "Bob"})
    cid = scim.create_user("cid@example.com", active=False)
    group = scim.create_group("Sales", [ann["id"], bob["id"]], externalId="ext-sales")
    empty = scim.create_group("Empty")
    assert scim.patch(f"/Users/{bob['id']}", [
        {"op": "replace", "path": "name.familyName", "value": "Brown"}]).status_code == 200
    assert scim.patch(f"/Groups/{group['id']}", [
        {"op": "add", "path": "members", "value": [{"value": cid["id"]}]},
        {"op": "remove", "path": f'members[value eq "{ann["id"]}"]'},
    ]).status_code == 200
    Scim(client, beta).create_user("zed@beta.example")
    with database.connection_context():
        rotated = services.issue_token("acme", grace_seconds=3600).secret
        services.set_enabled("beta", False)
    return {"acme": acme, "beta": beta, "rotated": rotated, "group": group["id"], "empty": empty["id"],
            "ann": ann["id"], "bob": bob["id"], "cid": cid["id"]}


def test_restart_keeps_everything(database_url, client, provisioned):
    acme = provisioned["acme"]
    before = _everything(client, acme)
    history_before = _history()

    restarted = _new_app(database_url).test_client()
    after = _everything(restarted, acme)
    assert after == before  # same ids, values, versions, timestamps, memberships

    tenant_view = after[acme.base]
    users = {u["id"]: u for u in tenant_view["users"]["Resources"]}
    assert set(users) == {provisioned["ann"], provisioned["bob"], provisioned["cid"]}
    assert users[provisioned["bob"]]["name"] == {"givenName": "Bob", "familyName": "Brown"}
    assert users[provisioned["bob"]]["meta"]["version"] == 'W/"2"'
    assert users[provisioned["cid"]]["active"] is False
    assert users[provisioned["ann"]]["userName"] == "Ann@Example.com"
    assert users[provisioned["ann"]]["externalId"] == "ext-ann"
    group = tenant_view[provisioned["group"]]
    assert sorted(m["value"] for m in group["members"]) == sorted([provisioned["bob"], provisioned["cid"]])
    assert group["externalId"] == "ext-sales"
    assert tenant_view[provisioned["empty"]].get("members", []) == []

    # Uniqueness (case-insensitive) still holds after the restart.
    scim = Scim(restarted, acme)
    duplicate = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                     "userName": "ann@example.COM"})
    assert duplicate.status_code == 409
    # Filters and membership checks work on the restarted app.
    check = scim.get(f'/Groups?filter=id eq "{provisioned["group"]}" and members eq "{provisioned["cid"]}"'
                     "&attributes=id")
    assert check.get_json()["totalResults"] == 1

    # Tokens, the rotated one, and the Enabled toggle survived too.
    rotated = TenantCredentials("acme", provisioned["rotated"])
    assert Scim(restarted, rotated).get("/Users").status_code == 200
    assert Scim(restarted, provisioned["beta"]).get("/Users").status_code == 403

    assert _history() == history_before


def test_writes_after_restart_continue_versions(database_url, client, provisioned):
    acme = provisioned["acme"]
    restarted = _new_app(database_url).test_client()
    scim = Scim(restarted, acme)
    response = scim.patch(f"/Users/{provisioned['bob']}", [{"op": "replace", "path": "active", "value": False}])
    assert response.status_code == 200
    assert response.get_json()["meta"]["version"] == 'W/"3"'
    # A third start sees the write made by the second.
    third = Scim(_new_app(database_url).test_client(), acme)
    assert third.get(f"/Users/{provisioned['bob']}").get_json()["active"] is False


def test_migrations_are_recorded_once_and_not_reapplied(database_url, app):
    names = _migration_names()
    assert names, "no migration scripts found"
    history = _history()
    assert [name for name, _ in history] == names

    for _ in range(2):
        _new_app(database_url)
    assert _history() == history  # one row per migration, same applied time

    with database.connection_context():
        assert pending(database.obj) == []
        assert migrate(database.obj) == []
        assert pending(database.obj) == []
    assert _history() == history


def test_start_without_auto_migrate_on_a_migrated_file(database_url, client, provisioned):
    acme = provisioned["acme"]
    before = _everything(client, acme)
    restarted = _new_app(database_url, AUTO_MIGRATE=False).test_client()
    assert _everything(restarted, acme) == before
    assert restarted.get("/readyz").status_code == 200


def test_fresh_file_is_migrated_on_start(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh/gateway.db"
    _new_app(url)
    assert (tmp_path / "fresh" / "gateway.db").exists()
    assert [name for name, _ in _history()] == _migration_names()
    with database.connection_context():
        assert pending(database.obj) == []
        journal = database.execute_sql("PRAGMA journal_mode").fetchone()[0]
    assert journal.lower() == "wal"
