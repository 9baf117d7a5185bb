"""``scim-gateway admin-keys``, ``roles`` and ``groups``, run in this process (``conftest.invoke_cli``).

The CLI and an app under test share one database, so a key the CLI prints is tried
against the admin API of that app, and what the CLI changes is read back over HTTP.
"""

from __future__ import annotations

import json

import pytest

from tenants.db import database
from tenants.models import AdminKey

from .conftest import CliResult, Scim


def _ok(result: CliResult) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def _admin_get(client, key: str, path: str):
    return client.get("/admin/v1" + path, headers={"Authorization": f"Bearer {key}"})


def _fails(result) -> str:
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_admin_keys_create_json_is_the_contract_and_the_key_works(cli, client, tenant):
    created = json.loads(_ok(cli("admin-keys", "create", "ops", "--json")))
    assert set(created) == {"name", "key"} and created["name"] == "ops"
    assert created["key"].startswith("scimgw_admin_")
    with database.connection_context():
        row = AdminKey.get(AdminKey.name == "ops")
    assert created["key"] not in (row.digest, row.prefix) and created["key"].startswith(row.prefix)
    response = _admin_get(client, created["key"], "/tenants")
    assert response.status_code == 200
    assert [t["slug"] for t in response.get_json()["items"]] == ["acme"]


def test_admin_keys_create_for_a_person_says_it_is_shown_once(cli, client, tenant):
    out = _ok(cli("admin-keys", "create", "alice"))
    assert "shown only now" in out and "every tenant" in out
    secret = next(word for word in out.split() if word.startswith("scimgw_admin_"))
    assert _admin_get(client, secret, "/tenants/acme").status_code == 200


def test_a_key_created_for_some_tenants_sees_only_them(cli, client, make_tenant):
    make_tenant("mine"), make_tenant("yours"), make_tenant("theirs")
    key = json.loads(_ok(cli("admin-keys", "create", "msp-team", "--tenant", "mine", "--tenant", "yours",
                             "--json")))["key"]
    listed = _admin_get(client, key, "/tenants").get_json()
    assert [t["slug"] for t in listed["items"]] == ["mine", "yours"]
    assert _admin_get(client, key, "/tenants/theirs").status_code == 404
    assert client.post("/admin/v1/tenants", json={"slug": "new"},
                       headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_admin_keys_list_never_prints_the_secret(cli, app):
    first = json.loads(_ok(cli("admin-keys", "create", "ops", "--json")))["key"]
    second = json.loads(_ok(cli("admin-keys", "create", "scoped", "--tenant", "acme", "--json")))["key"]
    _ok(cli("admin-keys", "revoke", "ops"))
    listed = json.loads(_ok(cli("admin-keys", "list", "--json")))
    assert [row["name"] for row in listed] == ["ops", "scoped"]
    assert set(listed[0]) == {"name", "prefix", "tenants", "created", "revoked"}
    assert listed[0]["tenants"] is None and listed[0]["revoked"] is not None
    assert listed[1]["tenants"] == ["acme"] and listed[1]["revoked"] is None
    assert first.startswith(listed[0]["prefix"]) and second.startswith(listed[1]["prefix"])
    human = _ok(cli("admin-keys", "list"))
    assert "ops" in human and "scoped" in human and "revoked" in human and "all tenants" in human
    for output in (json.dumps(listed), human):
        assert first not in output and second not in output
        assert first[len(listed[0]["prefix"]):] not in output


def test_admin_keys_revoke_makes_the_key_401(cli, client, tenant):
    key = json.loads(_ok(cli("admin-keys", "create", "temp", "--json")))["key"]
    assert _admin_get(client, key, "/tenants").status_code == 200
    assert "revoked" in _ok(cli("admin-keys", "revoke", "temp"))
    response = _admin_get(client, key, "/tenants")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("args, words", [
    (("admin-keys", "create", "bad name"), "invalid key name"),
    (("admin-keys", "create", "ok", "--tenant", "Not A Slug"), "invalid tenant slug"),
    (("admin-keys", "revoke", "nobody"), "no admin key"),
])
def test_admin_keys_errors_are_clear_and_change_nothing(cli, app, args, words):
    assert words in _fails(cli(*args)).lower()
    with database.connection_context():
        assert AdminKey.select().count() == 0


def test_duplicate_admin_key_name_is_refused(cli, app):
    _ok(cli("admin-keys", "create", "ops", "--json"))
    assert "already exists" in _fails(cli("admin-keys", "create", "ops", "--json"))
    with database.connection_context():
        assert AdminKey.select().count() == 1


def test_roles_and_group_mappings_through_the_cli(cli, client, scim):
    ada = scim.create_user("ada@example.com")
    finance = scim.create_group("Finance", members=[ada["id"]])
    role = json.loads(_ok(cli("roles", "create", "acme", "Viewer", "--permission", "reports.read", "--json")))
    assert role["name"] == "Viewer" and role["permissions"] == ["reports.read"]
    assert "already exists" in _fails(cli("roles", "create", "acme", "viewer"))
    assert [r["id"] for r in json.loads(_ok(cli("roles", "list", "acme", "--json")))] == [role["id"]]
    assert "Viewer" in _ok(cli("roles", "list", "acme"))

    assert json.loads(_ok(cli("groups", "list", "acme", "--json"))) == [
        {"id": finance["id"], "displayName": "Finance", "roles": []}]
    _ok(cli("groups", "map", "acme", finance["id"], role["id"]))
    assert json.loads(_ok(cli("groups", "list", "acme", "--json")))[0]["roles"] == [
        {"id": role["id"], "name": "Viewer"}]
    assert "Finance" in _ok(cli("groups", "list", "acme")) and "Viewer" in _ok(cli("groups", "list", "acme"))

    key = json.loads(_ok(cli("admin-keys", "create", "ops", "--json")))["key"]
    detail = _admin_get(client, key, f"/tenants/acme/users/{ada['id']}").get_json()
    assert detail["roles"] == [{"id": role["id"], "name": "Viewer", "granted_by": [finance["id"]]}]

    assert "no such roles" in _fails(cli("groups", "map", "acme", finance["id"], "nope")).lower()
    assert "no group" in _fails(cli("groups", "map", "acme", "nope", role["id"])).lower()
    assert "no tenant" in _fails(cli("roles", "list", "nowhere")).lower()
    assert json.loads(_ok(cli("groups", "list", "acme", "--json")))[0]["roles"] == [
        {"id": role["id"], "name": "Viewer"}]
    _ok(cli("groups", "map", "acme", finance["id"]))
    assert json.loads(_ok(cli("groups", "list", "acme", "--json")))[0]["roles"] == []
    assert Scim(client, scim.tenant).get("/Users").status_code == 200


def test_existing_commands_still_work(cli, app):
    created = json.loads(_ok(cli("tenants", "create", "contoso", "--json")))
    assert {"slug", "tenant_url", "token"} <= set(created)
    assert [t["slug"] for t in json.loads(_ok(cli("tenants", "list", "--json")))] == ["contoso"]
