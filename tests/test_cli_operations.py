"""`scim-gateway sweep` and `scim-gateway plugins`, run as real subprocesses."""

from __future__ import annotations

import datetime as dt
import json

from gateway.app import create_app
from tenants import services
from tenants.clock import utcnow
from tenants.db import database
from tenants.models import User
from tests.conftest import Scim, TenantCredentials, run_cli


def test_plugins_lists_the_built_ins_and_the_installed_example(tmp_path):
    listed = {p["name"]: p for p in json.loads(run_cli(f"sqlite:///{tmp_path}/gw.db", "plugins", "--json"))}
    assert {"attribute-mapping", "uniqueness", "role-assignment", "deprovisioning", "domain-policy"} <= set(listed)
    assert listed["attribute-mapping"]["essential"] is True
    assert listed["uniqueness"]["enabled_by_default"] is True and listed["uniqueness"]["essential"] is False
    assert listed["domain-policy"]["enabled_by_default"] is False
    assert "scim_validate_resource" in listed["domain-policy"]["hooks"]


def test_sweep_applies_each_tenants_retention(tmp_path):
    url = f"sqlite:///{tmp_path}/gw.db"
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    settings = {"plugins": {"deprovisioning": {"options": {"tombstone_days": 1}}}}
    with database.connection_context():
        _, token = services.create_tenant("retain")
        services.update_tenant("retain", settings=app.extensions["scim_gateway"].validate_settings(settings))
    scim = Scim(app.test_client(), TenantCredentials("retain", token.secret))
    user = scim.create_user("gone@example.com")
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    with database.connection_context():  # the tombstone is two days old
        User.update(deleted_at=utcnow() - dt.timedelta(days=2)).where(User.id == user["id"]).execute()
    assert json.loads(run_cli(url, "sweep", "--json")) == [{"slug": "retain", "tombstones": 1, "disabled": 0}]
    with database.connection_context():
        assert not User.select().where(User.id == user["id"]).exists()
