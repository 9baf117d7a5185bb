"""The ``scim-gateway`` console script on a real SQLite file (or the run's PostgreSQL database).

The commands run in this process (``conftest.invoke_cli``: a process costs about a second
each), and tenants that a test merely needs to exist are made with ``make_tenant`` on the
same database; SCIM checks go through the Flask test client. One test runs the command as
a real process on a database it has not migrated yet, with an environment variable set.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from gateway.app import create_app
from tenants import services
from tenants.db import database
from tenants.models import Group, Membership, Tenant, TenantToken, User

from .conftest import CliResult, Scim, TenantCredentials, assert_scim_error, cli_environment

ROOT = Path(__file__).resolve().parent.parent
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


def _ok(result: CliResult | subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def _failed(result: CliResult) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    return (result.stdout + result.stderr).lower()


def _scim_status(client, base: str, token: str) -> int:
    return client.get(f"{base}/Users", headers={"Authorization": f"Bearer {token}"}).status_code


# --- tenants create ------------------------------------------------------------------------


def test_create_json_prints_one_object_whose_token_works(cli, client):
    stdout = _ok(cli("tenants", "create", "acme", "--name", "Acme Corp", "--json"))
    created = json.loads(stdout)  # exactly one JSON document, nothing else on stdout
    assert isinstance(created, dict)
    assert created["slug"] == "acme"
    token = created["token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{50,}", token)
    url = urlsplit(created["tenant_url"])
    assert url.scheme in ("http", "https") and url.netloc
    assert url.path == "/tenants/acme/scim/v2"

    assert _scim_status(client, url.path, token) == 200
    scim = Scim(client, TenantCredentials("acme", token))
    user = scim.create_user("ann@example.com")
    shared = Scim(client, TenantCredentials("acme", token), "/scim/v2")
    assert [u["id"] for u in shared.get("/Users").get_json()["Resources"]] == [user["id"]]
    assert _scim_status(client, url.path, token + "x") == 401


def test_create_prints_tenant_url_and_secret_token_for_a_person(cli, client):
    stdout = _ok(cli("tenants", "create", "globex"))
    url = re.search(r"^Tenant URL:\s*(\S+)\s*$", stdout, re.MULTILINE)
    token = re.search(r"^Secret token:\s*(\S+)\s*$", stdout, re.MULTILINE)
    assert url and token, stdout
    assert url.group(1).endswith("/tenants/globex/scim/v2")
    assert urlsplit(url.group(1)).scheme in ("http", "https")
    assert _scim_status(client, urlsplit(url.group(1)).path, token.group(1)) == 200
    assert not stdout.lstrip().startswith("{")


def test_create_refuses_duplicate_and_invalid_slugs(cli, make_tenant):
    make_tenant("acme")
    output = _failed(cli("tenants", "create", "acme", "--json"))
    assert "acme" in output and "already exists" in output
    assert "scimgw_" not in output

    output = _failed(cli("tenants", "create", "Not_A_Slug!"))
    assert "invalid" in output and "slug" in output
    assert "scimgw_" not in output

    listed = json.loads(_ok(cli("tenants", "list", "--json")))
    assert [row["slug"] for row in listed] == ["acme"]
    with database.connection_context():
        assert TenantToken.select().count() == 1


# --- list and show -------------------------------------------------------------------------


def test_list_shows_every_tenant_and_no_secret(cli, make_tenant):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    with database.connection_context():
        services.set_enabled("beta", False)

    rows = json.loads(_ok(cli("tenants", "list", "--json")))
    assert [row["slug"] for row in rows] == ["acme", "beta"]
    assert [row["enabled"] for row in rows] == [True, False]
    for row in rows:
        assert row["tenant_url"].endswith(f"/tenants/{row['slug']}/scim/v2")
        assert "token" not in row

    text = _ok(cli("tenants", "list"))
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 2
    assert "acme" in lines[0] and "enabled" in lines[0]
    assert "beta" in lines[1] and "disabled" in lines[1]
    for secret in (acme.token, beta.token):
        assert secret not in text


def test_show_never_prints_a_secret(cli, make_tenant):
    acme = make_tenant("acme")
    random_part = acme.token[len("scimgw_"):]
    text = _ok(cli("tenants", "show", "acme"))
    assert "acme" in text and "/tenants/acme/scim/v2" in text
    assert acme.token not in text and random_part[8:] not in text

    shown = json.loads(_ok(cli("tenants", "show", "acme", "--json")))
    assert shown["slug"] == "acme" and shown["enabled"] is True
    assert shown["tenant_url"].endswith("/tenants/acme/scim/v2")
    dumped = json.dumps(shown)
    assert acme.token not in dumped and random_part[8:] not in dumped
    assert "token" not in shown

    output = _failed(cli("tenants", "show", "no-such-tenant"))
    assert "no-such-tenant" in output


# --- enable and disable --------------------------------------------------------------------


def test_disable_and_enable(cli, make_tenant, client):
    acme = make_tenant("acme")
    _ok(cli("tenants", "disable", "acme"))
    for base in (acme.base, "/scim/v2"):
        response = client.get(f"{base}/Users", headers={"Authorization": f"Bearer {acme.token}"})
        body = assert_scim_error(response, 403)
        assert "provisioning is disabled" in body["detail"].lower()

    _ok(cli("tenants", "enable", "acme"))
    for base in (acme.base, "/scim/v2"):
        assert _scim_status(client, base, acme.token) == 200


# --- rotate-token --------------------------------------------------------------------------


def test_rotate_token_without_grace(cli, make_tenant, client):
    acme, other = make_tenant("acme"), make_tenant("other")
    rotated = json.loads(_ok(cli("tenants", "rotate-token", "acme", "--grace-seconds", "0", "--json")))
    new = rotated["token"]
    assert new != acme.token
    assert rotated["tenant_url"].endswith("/tenants/acme/scim/v2")
    for base in (acme.base, "/scim/v2"):
        assert_scim_error(client.get(f"{base}/Users", headers={"Authorization": f"Bearer {acme.token}"}), 401)
        assert _scim_status(client, base, new) == 200
    assert _scim_status(client, other.base, other.token) == 200


def test_rotate_token_with_grace_keeps_the_old_one(cli, make_tenant, client):
    acme = make_tenant("acme")
    stdout = _ok(cli("tenants", "rotate-token", "acme", "--grace-seconds", "3600"))
    new = re.search(r"^Secret token:\s*(\S+)\s*$", stdout, re.MULTILINE).group(1)
    assert _scim_status(client, acme.base, acme.token) == 200
    assert _scim_status(client, acme.base, new) == 200


# --- delete --------------------------------------------------------------------------------


def _rows_of(slug: str) -> dict:
    with database.connection_context():
        tenant = Tenant.get_or_none(Tenant.slug == slug)
        if tenant is None:
            return {"tenant": 0}
        return {
            "tenant": 1,
            "tokens": TenantToken.select().where(TenantToken.tenant == tenant).count(),
            "users": User.select().where(User.tenant == tenant).count(),
            "groups": Group.select().where(Group.tenant == tenant).count(),
            "memberships": Membership.select().join(Group).where(Group.tenant == tenant).count(),
        }


def test_delete_removes_the_tenant_and_all_its_data(cli, make_tenant, client):
    acme, other = make_tenant("acme"), make_tenant("other")
    scim = Scim(client, acme)
    ann = scim.create_user("ann@example.com")
    scim.create_group("Sales", [ann["id"]])
    other_scim = Scim(client, other)
    bob = other_scim.create_user("bob@example.com")
    other_scim.create_group("Ops", [bob["id"]])
    assert _rows_of("acme") == {"tenant": 1, "tokens": 1, "users": 1, "groups": 1, "memberships": 1}

    # Without --yes it asks, and "no" keeps everything.
    output = _failed(cli("tenants", "delete", "acme", input="n\n"))
    assert "abort" in output
    assert _rows_of("acme")["users"] == 1

    _ok(cli("tenants", "delete", "acme", "--yes"))
    assert _rows_of("acme") == {"tenant": 0}
    with database.connection_context():
        assert User.get_or_none(User.id == ann["id"]) is None
    assert_scim_error(client.get(f"{acme.base}/Users", headers={"Authorization": f"Bearer {acme.token}"}), 401)
    assert_scim_error(client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {acme.token}"}), 401)
    # The other tenant is untouched.
    assert _rows_of("other") == {"tenant": 1, "tokens": 1, "users": 1, "groups": 1, "memberships": 1}
    assert _scim_status(client, other.base, other.token) == 200

    output = _failed(cli("tenants", "delete", "acme", "--yes"))
    assert "acme" in output


# --- public URL ----------------------------------------------------------------------------


def test_public_url_changes_the_printed_tenant_url_on_a_fresh_database(tmp_path):
    """The CLI migrates a database file it finds empty; SCIM_GATEWAY_PUBLIC_URL is the URL base."""
    url = f"sqlite:///{tmp_path}/fresh/cli.db"
    env = cli_environment(url, SCIM_GATEWAY_PUBLIC_URL="https://scim.example.com/")
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "tenants", "create", "acme", "--json"],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    created = json.loads(_ok(result))
    assert created["tenant_url"] == "https://scim.example.com/tenants/acme/scim/v2"
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    client = app.test_client()
    assert _scim_status(client, "/tenants/acme/scim/v2", created["token"]) == 200
    if not database.is_closed():
        database.close()


def test_commands_on_an_unknown_tenant_fail_clearly(cli):
    output = _failed(cli("tenants", "enable", "ghost"))
    assert "ghost" in output and "no tenant" in output


# --- against a real server -----------------------------------------------------------------


@pytest.mark.live
def test_created_tenant_url_and_token_work_against_a_live_server(live_server):
    created = live_server.create_tenant("acme")
    assert created["tenant_url"] == f"{live_server.url}/tenants/acme/scim/v2"
    headers = {"Authorization": f"Bearer {created['token']}", "Content-Type": "application/scim+json"}
    response = requests.post(f"{created['tenant_url']}/Users", headers=headers, timeout=10,
                             data=json.dumps({"schemas": [USER_SCHEMA], "userName": "ann@example.com"}))
    assert response.status_code == 201, response.text
    assert response.headers["Location"].startswith(created["tenant_url"] + "/Users/")
    listed = requests.get(f"{live_server.url}/scim/v2/Users", headers=headers, timeout=10).json()
    assert listed["totalResults"] == 1
    wrong = requests.get(f"{created['tenant_url']}/Users", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    assert wrong.headers["Content-Type"].startswith("application/scim+json")


@pytest.mark.parametrize("variable", ["DATABASE_URL", "SCIM_GATEWAY_DATABASE_URL"])
def test_a_database_url_set_but_empty_means_the_default_sqlite_file(tmp_path, monkeypatch, variable):
    """``SCIM_GATEWAY_DATABASE_URL=`` (or ``DATABASE_URL=``) in a unit file or an .env made
    ``serve`` fail with a driver traceback; it now means what leaving it out means."""
    from flask import Flask

    from gateway import config

    monkeypatch.setenv(variable, "")
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    config.load(app, None)
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'instance' / 'scim-gateway.db'}"
    monkeypatch.setenv(variable, f"sqlite:///{tmp_path / 'chosen.db'}")
    chosen = Flask(__name__, instance_path=str(tmp_path / "instance"))
    config.load(chosen, None)
    assert chosen.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'chosen.db'}"
