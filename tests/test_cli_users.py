"""CLI parity for users and roles: list, show with effective roles, permissions, role update/delete."""

from __future__ import annotations

import json

from gateway.app import create_app
from tenants import audit, services
from tenants import roles as catalog
from tenants.db import database
from tests.conftest import Scim, TenantCredentials, run_cli


def test_users_and_roles_from_the_cli(tmp_path):
    url = f"sqlite:///{tmp_path}/gw.db"
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    with database.connection_context():
        tenant, token = services.create_tenant("acme")
        role = catalog.create_role(tenant, "Viewer", ["read"])
    scim = Scim(app.test_client(), TenantCredentials("acme", token.secret))
    ann = scim.create_user("ann@example.com", name={"givenName": "Ann"})
    group = scim.create_group("Team", [ann["id"]])
    with database.connection_context():
        catalog.set_group_roles(tenant, catalog.get_group(tenant, group["id"]), [role.id])

    listed = json.loads(run_cli(url, "users", "list", "acme", "--search", "ANN", "--json"))
    assert [u["userName"] for u in listed["items"]] == ["ann@example.com"] and listed["total"] == 1
    shown = json.loads(run_cli(url, "users", "show", "acme", ann["id"], "--json"))
    assert shown["roles"] == [{"id": role.id, "name": "Viewer", "granted_by": [group["id"]]}]
    run_cli(url, "users", "permissions", "acme", ann["id"], "reports.read", "reports.export")
    assert json.loads(run_cli(url, "users", "show", "acme", ann["id"], "--json"))["permissions"] == [
        "reports.export", "reports.read"]

    updated = json.loads(run_cli(url, "roles", "update", "acme", role.id, "--name", "Reader", "--permission", "read"))
    assert updated["name"] == "Reader"
    run_cli(url, "roles", "delete", "acme", role.id)
    assert json.loads(run_cli(url, "users", "show", "acme", ann["id"], "--json"))["roles"] == []
    with database.connection_context():
        total, events = audit.list_events(tenant, actor="cli")
    assert [e["action"] for e in reversed(events)] == ["permissions_set", "role_updated", "role_deleted"]
