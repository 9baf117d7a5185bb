"""Plugins: every hook really changes the outcome, for the tenant that enables it only.

Each ``test_hook_<name>`` registers a small plugin on the test's own app
(``app.extensions["scim_gateway"].register(obj, name=...)``, gone with the app), enables
it for one tenant through that tenant's settings, and checks over HTTP that this tenant
gets the plugin's behaviour while a second tenant in the same process keeps the default.
``test_every_hook_has_a_test`` keeps it that way when a hook is added.

The role hooks are checked through the admin API (``/admin/v1``), which shows a user's
effective roles and assigns roles by hand; ``scim_retention`` through the tenant's hook
facade (:class:`gateway.plugin_manager.TenantHooks`) and the retention sweep.

The example third-party package ``tests/example_plugin`` (``scim-gateway-domain-policy``)
must be installed (``pip install -e tests/example_plugin``): it is loaded through the
``scim_gateway`` entry-point group like any published plugin.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import importlib
import importlib.metadata
import inspect
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from marshmallow import Schema, fields, validate

from gateway import ConflictError, Retention, RoleGrant, RoleInfo
from gateway import hookspecs
from gateway.app import create_app
from gateway.plugin_manager import PluginManager, SettingsError
from gateway.scim.operations import lookup_for
from gateway.scim.schema import Attribute
from gateway.scim.schema import Schema as ScimSchema
from tenants import admin_keys, services
from tenants.clock import utcnow
from tenants.db import database
from tenants.models import GroupRole, Membership, User
from tenants.repositories import UserRepository

from .conftest import Scim, TenantCredentials, assert_scim_error
# docs:start testing-a-plugin
from gateway import InvalidValueError, hookimpl


class NoContractors:
    """A throwaway plugin: refuse contractors' accounts (userNames starting with ``ext-``)."""

    @hookimpl
    def scim_validate_resource(self, resource_type, resource):
        if resource_type == "User" and resource.get("userName", "").startswith("ext-"):
            raise InvalidValueError("Contractors are provisioned by another application.")


def test_a_plugin_changes_one_tenant_only(app, client, make_tenant):
    app.extensions["scim_gateway"].register(NoContractors(), name="no-contractors")
    strict = make_tenant("strict", settings={"plugins": {"no-contractors": {"enabled": True}}})
    relaxed = make_tenant("relaxed")
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ext-jo@example.com"}

    for tenant, status in ((strict, 400), (relaxed, 201)):
        response = client.post(f"/tenants/{tenant.slug}/scim/v2/Users", json=user,
                               headers={"Authorization": f"Bearer {tenant.token}"})
        assert response.status_code == status, response.get_json()
# docs:end testing-a-plugin


ROOT = Path(__file__).resolve().parent.parent
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ESSENTIAL = ("attribute-mapping", "role-assignment", "deprovisioning")


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def manager(app) -> PluginManager:
    """The plugin manager of the test's app."""
    return app.extensions["scim_gateway"]


@pytest.fixture
def two_tenants(client, make_tenant, manager):
    """Factory: register ``plugin`` as ``name`` (if given), then ``(on, off)`` SCIM clients.

    ``on`` is tenant ``on`` with ``settings`` and the plugin enabled (with ``options``);
    ``off`` is tenant ``off`` with the default settings (or ``off_settings``).
    """

    def make(plugin=None, name: str = "", options: dict | None = None, settings: dict | None = None,
             off_settings: dict | None = None) -> tuple[Scim, Scim]:
        if plugin is not None:
            manager.register(plugin, name=name)
        entry = {"enabled": True} if options is None else {"enabled": True, "options": options}
        plugins = {**((settings or {}).get("plugins", {})), **({name: entry} if plugin is not None else {})}
        on = make_tenant("on", settings={"plugins": plugins})
        off = make_tenant("off", settings=off_settings)
        return Scim(client, on), Scim(client, off)

    return make


@pytest.fixture
def admin(client):
    """``admin(method, path, body)``: a call to ``/admin/v1`` with an admin key for every tenant."""
    with database.connection_context():
        _, key = admin_keys.create("plugin-tests")

    def call(method: str, path: str, body=None):
        return client.open(f"/admin/v1{path}", method=method, json=body,
                           headers={"Authorization": f"Bearer {key}"})

    return call


def hooks_for(app, slug: str):
    """The :class:`TenantHooks` of tenant ``slug``, exactly as a SCIM request gets them."""
    with app.app_context(), database.connection_context():
        tenant = services.get_tenant(slug)
        return app.extensions["scim_gateway"].for_tenant(tenant.slug, tenant.name, tenant.settings,
                                                         tenant.updated, lookup_for(tenant))


def count_users(scim: Scim, user_name: str) -> int:
    """How many users of the tenant have ``user_name`` (a SCIM filter query)."""
    response = scim.get(f'/Users?filter=userName eq "{user_name}"')
    assert response.status_code == 200, response.get_json()
    return response.get_json()["totalResults"]


def schema_ids(scim: Scim) -> set[str]:
    """The schema URNs the tenant's ``/Schemas`` lists."""
    response = scim.get("/Schemas")
    assert response.status_code == 200, response.get_json()
    return {schema["id"] for schema in response.get_json()["Resources"]}


def attribute_names(scim: Scim, urn: str) -> set[str]:
    """The attribute names of schema ``urn`` in the tenant's ``/Schemas``."""
    response = scim.get(f"/Schemas/{urn}")
    assert response.status_code == 200, response.get_json()
    return {attribute["name"] for attribute in response.get_json()["attributes"]}


def member_ids(scim: Scim, group_id: str) -> set[str]:
    response = scim.get(f"/Groups/{group_id}")
    assert response.status_code == 200, response.get_json()
    return {member["value"] for member in response.get_json().get("members", [])}


def remove_member(scim: Scim, group_id: str, user_id: str):
    return scim.patch(f"/Groups/{group_id}", [{"op": "remove", "path": f'members[value eq "{user_id}"]'}])


# -- the example third-party package ------------------------------------------------------------


@pytest.fixture
def domain_policy():
    """The installed ``scim-gateway-domain-policy`` module, its in-memory record cleared."""
    try:
        importlib.metadata.distribution("scim-gateway-domain-policy")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("The example plugin is not installed: run `pip install -e tests/example_plugin`.")
    module = importlib.import_module("scim_gateway_domain_policy")
    module.RECENT_CHANGES.clear()
    yield module
    module.RECENT_CHANGES.clear()


def test_example_plugin_is_loaded_from_its_entry_point(domain_policy):
    info = {plugin.name: plugin for plugin in PluginManager().plugins()}["domain-policy"]

    assert info.version == importlib.metadata.version("scim-gateway-domain-policy") == "0.1.0"
    assert info.hooks == ("scim_after_change", "scim_map_resource", "scim_plugin_options",
                          "scim_validate_resource")
    assert not info.enabled_by_default and not info.essential
    entry_point, = [ep for ep in importlib.metadata.entry_points(group="scim_gateway") if ep.name == "domain-policy"]
    assert entry_point.load() is domain_policy


def test_example_plugin_imports_only_the_public_plugin_api(domain_policy):
    tree = ast.parse(Path(domain_policy.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}

    assert {name.partition(".")[0] for name in imported} <= {"__future__", "collections", "re", "marshmallow",
                                                             "gateway"}
    assert {name for name in imported if name.startswith("gateway")} == {"gateway"}


def test_example_plugin_changes_behaviour_for_the_tenant_that_enables_it(domain_policy, two_tenants):
    acme, globex = two_tenants(settings={"plugins": {"domain-policy": {
        "enabled": True, "options": {"allowed_domains": ["acme.example"]}}}})

    outsider = {"schemas": [USER_SCHEMA], "userName": "jane@elsewhere.example"}
    body = assert_scim_error(acme.post("/Users", outsider), 400, "invalidValue")
    assert "jane@elsewhere.example" in body["detail"] and "acme.example" in body["detail"]
    assert count_users(acme, "jane@elsewhere.example") == 0
    assert globex.post("/Users", outsider).status_code == 201

    assert acme.create_user("Jane.Doe@ACME.Example")["userName"] == "Jane.Doe@acme.example"
    assert globex.create_user("Jane.Doe@ACME.Example")["userName"] == "Jane.Doe@ACME.Example"

    recorded = [(slug, change.action, change.resource_type) for slug, change in domain_policy.RECENT_CHANGES]
    assert recorded == [("on", "create", "User")]  # not the rejected request, not the other tenant


def test_example_plugin_takes_effect_when_a_tenant_turns_it_on(domain_policy, client, make_tenant, app):
    tenant = make_tenant("acme")
    scim = Scim(client, tenant)
    early = scim.create_user("old.timer@elsewhere.example")

    with database.connection_context():
        services.update_tenant("acme", settings=app.extensions["scim_gateway"].validate_settings(
            {"plugins": {"domain-policy": {"enabled": True, "options": {"allowed_domains": ["acme.example"]}}}}))

    assert_scim_error(scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "new@elsewhere.example"}),
                      400, "invalidValue")
    # A user provisioned before keeps working until its userName changes.
    rename = scim.patch(f"/Users/{early['id']}", [{"op": "replace", "path": "name.givenName", "value": "Old"}])
    assert rename.status_code == 200, rename.get_json()
    moved = scim.patch(f"/Users/{early['id']}", [{"op": "replace", "path": "userName",
                                                  "value": "still@elsewhere.example"}])
    assert_scim_error(moved, 400, "invalidValue")
    assert scim.get(f"/Users/{early['id']}").get_json()["userName"] == "old.timer@elsewhere.example"


@pytest.mark.parametrize("options, field", [
    ({}, "allowed_domains"),
    ({"allowed_domains": []}, "allowed_domains"),
    ({"allowed_domains": ["not a domain"]}, "allowed_domains"),
    ({"allowed_domains": "acme.example"}, "allowed_domains"),
    ({"allowed_domains": ["acme.example"], "lowercase_domain": "sometimes"}, "lowercase_domain"),
    ({"allowed_domains": ["acme.example"], "allowed_domain": ["typo.example"]}, "allowed_domain"),
])
def test_example_plugin_rejects_bad_options_with_a_field_error(domain_policy, manager, options, field):
    with pytest.raises(SettingsError) as raised:
        manager.validate_settings({"plugins": {"domain-policy": {"enabled": True, "options": options}}})

    assert list(raised.value.messages) == ["plugins.domain-policy.options"]
    assert field in raised.value.messages["plugins.domain-policy.options"]


def test_example_plugin_options_are_checked_by_the_admin_api(domain_policy, make_tenant, admin, client):
    tenant = make_tenant("acme")
    bad = {"plugins": {"domain-policy": {"enabled": True, "options": {"allowed_domains": ["no way"]}}}}
    good = {"plugins": {"domain-policy": {"enabled": True, "options": {"allowed_domains": ["acme.example"]}}}}

    refused = admin("PATCH", "/tenants/acme", {"settings": bad})
    assert refused.status_code == 400, refused.get_json()
    assert "allowed_domains" in str(refused.get_json()["errors"]["json"]["settings"]["plugins.domain-policy.options"])
    outsider = {"schemas": [USER_SCHEMA], "userName": "jo@elsewhere.example"}
    assert Scim(client, tenant).post("/Users", outsider).status_code == 201  # still the old settings

    accepted = admin("PATCH", "/tenants/acme", {"settings": good})
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["settings"] == good
    assert_scim_error(Scim(client, tenant).post("/Users", {**outsider, "userName": "al@elsewhere.example"}),
                      400, "invalidValue")


def test_example_plugin_bad_options_are_refused_by_the_cli(domain_policy, app, make_tenant, database_url):
    make_tenant("acme")
    settings = '{"plugins": {"domain-policy": {"enabled": true, "options": {"allowed_domains": ["no way"]}}}}'
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCIM_GATEWAY_")}
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "tenants", "configure", "acme", settings],
                            env={**env, "DATABASE_URL": database_url}, cwd=ROOT, capture_output=True,
                            text=True, timeout=60)

    assert result.returncode != 0
    assert "plugins.domain-policy.options" in result.stderr and "allowed_domains" in result.stderr
    with database.connection_context():
        assert services.get_tenant("acme").settings in ({}, None)


# -- one test per hook -----------------------------------------------------------------------


class LimitsOptions(Schema):
    max_length = fields.Integer(required=True, validate=validate.Range(min=1))
    message = fields.String(load_default="userName is too long")


class UserNameLimit:
    """Reject userNames longer than the tenant's ``max_length`` option."""

    @hookimpl
    def scim_plugin_options(self):
        return LimitsOptions

    @hookimpl
    def scim_validate_resource(self, tenant, resource_type, resource):
        options = tenant.options_for("limits")
        if resource_type == "User" and len(resource["userName"]) > options["max_length"]:
            raise InvalidValueError(f"{options['message']} (at most {options['max_length']} characters).")


def test_hook_scim_plugin_options(two_tenants, manager, app):
    on, off = two_tenants(UserNameLimit(), "limits", options={"max_length": 12})

    assert manager.option_schemas()["limits"].__class__ is LimitsOptions
    assert hooks_for(app, "on").context.options_for("limits") == {"max_length": 12,
                                                                  "message": "userName is too long"}
    assert hooks_for(app, "off").context.options_for("limits") == {}
    long_name = {"schemas": [USER_SCHEMA], "userName": "long.name@example.com"}
    body = assert_scim_error(on.post("/Users", long_name), 400, "invalidValue")
    assert body["detail"] == "userName is too long (at most 12 characters)."
    assert off.post("/Users", long_name).status_code == 201
    assert on.post("/Users", {"schemas": [USER_SCHEMA], "userName": "jo@ex.com"}).status_code == 201

    for options, field in (({}, "max_length"), ({"max_length": 0}, "max_length"),
                           ({"max_length": "twelve"}, "max_length"), ({"max_length": 3, "colour": "red"}, "colour")):
        with pytest.raises(SettingsError) as raised:
            manager.validate_settings({"plugins": {"limits": {"enabled": True, "options": options}}})
        assert field in raised.value.messages["plugins.limits.options"]


def test_a_plugin_without_options_refuses_options(manager):
    manager.register(NoContractors(), name="no-contractors")

    with pytest.raises(SettingsError) as raised:
        manager.validate_settings({"plugins": {"no-contractors": {"enabled": True, "options": {"x": 1}}}})
    assert "plugins.no-contractors.options" in raised.value.messages


def test_settings_naming_an_unknown_plugin_are_refused(manager):
    with pytest.raises(SettingsError) as raised:
        manager.validate_settings({"plugins": {"no-such-plugin": {"enabled": True}}})
    assert "plugins.no-such-plugin" in raised.value.messages


class KeepEmails:
    """Store and return ``emails`` as well as the seed's attributes."""

    @hookimpl
    def scim_stored_attributes(self, resource_type):
        if resource_type == "User":
            return ["userName", "name.givenName", "name.familyName", "active", "emails"]
        return None


def _user_with_extras(user_name: str) -> dict:
    return {"schemas": [USER_SCHEMA, ENTERPRISE], "userName": user_name,
            "name": {"givenName": "Jane", "familyName": "Doe"}, "title": "Engineer",
            "emails": [{"value": user_name, "type": "work", "primary": True}],
            ENTERPRISE: {"department": "R&D", "costCenter": "42"}}


def _stored_extra(user_id: str) -> dict:
    with database.connection_context():
        return User.get_by_id(user_id).extra


def test_hook_scim_stored_attributes(two_tenants):
    on, off = two_tenants(KeepEmails(), "keep-emails")

    kept = on.post("/Users", _user_with_extras("jane@example.com"))
    assert kept.status_code == 201, kept.get_json()
    assert kept.get_json()["emails"] == [{"value": "jane@example.com", "type": "work", "primary": True}]
    assert on.get(f"/Users/{kept.get_json()['id']}").get_json()["emails"][0]["value"] == "jane@example.com"
    assert "title" not in kept.get_json() and ENTERPRISE not in kept.get_json()
    assert "emails" in attribute_names(on, USER_SCHEMA)

    dropped = off.post("/Users", _user_with_extras("jane@example.com"))
    assert dropped.status_code == 201, dropped.get_json()
    assert "emails" not in dropped.get_json()
    assert "emails" not in _stored_extra(dropped.get_json()["id"])
    assert "emails" not in attribute_names(off, USER_SCHEMA)
    assert attribute_names(off, USER_SCHEMA) == {"userName", "name", "active"}


def test_attribute_mapping_option_user_attributes_widens_what_is_stored(two_tenants):
    on, off = two_tenants(settings={"plugins": {"attribute-mapping": {
        "options": {"user_attributes": ["emails", f"{ENTERPRISE}:department"]}}}})

    kept = on.post("/Users", _user_with_extras("jane@example.com")).get_json()
    assert kept["emails"][0]["value"] == "jane@example.com"
    assert kept[ENTERPRISE] == {"department": "R&D"}  # costCenter is not on the list
    assert ENTERPRISE in kept["schemas"]
    assert "emails" in attribute_names(on, USER_SCHEMA)
    assert attribute_names(on, ENTERPRISE) == {"department"}
    extensions = on.get("/ResourceTypes/User").get_json()["schemaExtensions"]
    assert [extension["schema"] for extension in extensions] == [ENTERPRISE]

    default = off.post("/Users", _user_with_extras("jane@example.com")).get_json()
    assert "emails" not in default and ENTERPRISE not in default and "title" not in default
    assert _stored_extra(default["id"]) == {}
    assert ENTERPRISE not in schema_ids(off)
    assert off.get("/ResourceTypes/User").get_json()["schemaExtensions"] == []


class DeriveNames:
    """Fill name.givenName and name.familyName from a ``first.last@`` userName."""

    def __init__(self):
        self.stored_attributes = []

    @hookimpl
    def scim_map_resource(self, resource_type, resource, stored_attributes):
        self.stored_attributes.append(list(stored_attributes))
        if resource_type != "User" or resource.get("name"):
            return None
        given, _, family = resource["userName"].partition("@")[0].partition(".")
        return {**resource, "name": {"givenName": given.title(), "familyName": family.title()},
                "title": "not stored: the core drops what the tenant does not keep"}


def test_hook_scim_map_resource(two_tenants):
    plugin = DeriveNames()
    on, off = two_tenants(plugin, "derive-names")

    created = on.create_user("jane.doe@example.com")
    assert created["name"] == {"givenName": "Jane", "familyName": "Doe"}
    assert "title" not in created and "title" not in _stored_extra(created["id"])
    assert plugin.stored_attributes[0] == ["userName", "name.givenName", "name.familyName", "active"]
    replaced = on.put(f"/Users/{created['id']}", {"schemas": [USER_SCHEMA], "userName": "john.roe@example.com"})
    assert replaced.get_json()["name"] == {"givenName": "John", "familyName": "Roe"}
    given = on.create_user("ann.lee@example.com", name={"givenName": "Annie"})
    assert given["name"] == {"givenName": "Annie"}  # the plugin answered None: the built-in mapping

    assert "name" not in off.create_user("jane.doe@example.com")


BADGE_URN = "urn:example:params:scim:schemas:extension:badges:2.0:User"
BADGES = ScimSchema(
    id=BADGE_URN, name="Badge", description="The user's door badge.",
    attributes=(Attribute("badgeNumber", description="Printed on the badge."),
                Attribute("floor", type="integer", description="Where the badge opens doors.")),
)


class Badges:
    """Contribute a Badge extension to Users."""

    @hookimpl
    def scim_schema_extensions(self, resource_type):
        return [BADGES] if resource_type == "User" else None


def test_hook_scim_schema_extensions(two_tenants):
    on, off = two_tenants(Badges(), "badges")
    body = {"schemas": [USER_SCHEMA, BADGE_URN], "userName": "jane@example.com",
            BADGE_URN: {"badgeNumber": "B-7", "floor": 3}}

    assert BADGE_URN in schema_ids(on)
    assert attribute_names(on, BADGE_URN) == {"badgeNumber", "floor"}
    assert {"schema": BADGE_URN, "required": False} in on.get("/ResourceTypes/User").get_json()["schemaExtensions"]
    assert BADGE_URN not in {e["schema"] for e in on.get("/ResourceTypes/Group").get_json()["schemaExtensions"]}
    created = on.post("/Users", body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()[BADGE_URN] == {"badgeNumber": "B-7", "floor": 3}
    assert BADGE_URN in created.get_json()["schemas"]
    user_id = created.get_json()["id"]
    patched = on.patch(f"/Users/{user_id}", [{"op": "replace", "path": f"{BADGE_URN}:badgeNumber", "value": "B-8"}])
    assert patched.status_code == 200, patched.get_json()
    assert on.get(f"/Users/{user_id}").get_json()[BADGE_URN] == {"badgeNumber": "B-8", "floor": 3}

    assert BADGE_URN not in schema_ids(off)
    assert off.get(f"/Schemas/{BADGE_URN}").status_code == 404
    plain = off.post("/Users", body)
    assert plain.status_code == 201, plain.get_json()
    assert BADGE_URN not in plain.get_json() and BADGE_URN not in plain.get_json()["schemas"]
    assert _stored_extra(plain.get_json()["id"]) == {}


class RequireFamilyName:
    """Users must have a family name; records ``current`` for each call."""

    def __init__(self):
        self.currents = []

    @hookimpl
    def scim_validate_resource(self, resource_type, resource, current):
        self.currents.append(current)
        if resource_type == "User" and not (resource.get("name") or {}).get("familyName"):
            raise InvalidValueError("name.familyName is required in this tenant.")


def test_hook_scim_validate_resource(two_tenants):
    plugin = RequireFamilyName()
    on, off = two_tenants(plugin, "require-family-name")
    nameless = {"schemas": [USER_SCHEMA], "userName": "jane@example.com"}

    body = assert_scim_error(on.post("/Users", nameless), 400, "invalidValue")
    assert body["detail"] == "name.familyName is required in this tenant."
    assert count_users(on, "jane@example.com") == 0
    assert plugin.currents == [None]

    user = on.create_user("jane@example.com", name={"familyName": "Doe"})
    removal = on.patch(f"/Users/{user['id']}", [{"op": "remove", "path": "name.familyName"}])
    assert_scim_error(removal, 400, "invalidValue")
    after = on.get(f"/Users/{user['id']}").get_json()
    assert after["name"] == {"familyName": "Doe"} and after["meta"]["version"] == user["meta"]["version"]
    assert plugin.currents[-1]["id"] == user["id"] and plugin.currents[-1]["name"] == {"familyName": "Doe"}

    assert off.post("/Users", nameless).status_code == 201
    assert len(plugin.currents) == 3  # the other tenant never asked it


def test_built_in_uniqueness_rejects_a_non_email_and_a_duplicate_in_any_case(two_tenants):
    relaxed, default = two_tenants(settings={"plugins": {"uniqueness": {"options": {"require_email": False}}}})

    assert relaxed.post("/Users", {"schemas": [USER_SCHEMA], "userName": "jdoe"}).status_code == 201
    assert_scim_error(default.post("/Users", {"schemas": [USER_SCHEMA], "userName": "jdoe"}), 400, "invalidValue")
    default.create_user("jane@example.com")
    assert_scim_error(default.post("/Users", {"schemas": [USER_SCHEMA], "userName": "JANE@example.com"}),
                      409, "uniqueness")


VIEWER = RoleInfo(id="viewer", name="viewer", permissions=("reports:read",))


class EveryoneViews:
    """Every enabled user also holds ``viewer``; roles from groups as usual."""

    @hookimpl
    def scim_effective_roles(self, user, groups, group_roles):
        if user.disabled:
            return []
        grants: dict[str, RoleGrant] = {VIEWER.id: RoleGrant(VIEWER)}
        for group in groups:
            for role in group_roles.get(group.id, []):
                previous = grants.get(role.id, RoleGrant(role))
                grants[role.id] = RoleGrant(role, tuple(sorted({*previous.granted_by, group.id})))
        return sorted(grants.values(), key=lambda grant: grant.role.name)


def _role(admin, slug: str, name: str, permissions: list[str]) -> dict:
    response = admin("POST", f"/tenants/{slug}/roles", {"name": name, "permissions": permissions})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _roles_of(admin, slug: str, user_id: str) -> dict[str, list[str]]:
    """``{role name: granting group ids}`` of a user, from the admin API."""
    response = admin("GET", f"/tenants/{slug}/users/{user_id}")
    assert response.status_code == 200, response.get_json()
    return {role["name"]: role["granted_by"] for role in response.get_json()["roles"]}


def test_hook_scim_effective_roles(two_tenants, admin):
    on, off = two_tenants(EveryoneViews(), "everyone-views")
    users = {}
    for scim in (on, off):
        slug = scim.tenant.slug
        member, individual = (scim.create_user(f"{name}@example.com")["id"] for name in ("member", "individual"))
        group = scim.create_group("Editors", [member])
        editor = _role(admin, slug, "editor", ["reports:write"])
        mapped = admin("PUT", f"/tenants/{slug}/groups/{group['id']}/roles", {"roles": [editor["id"]]})
        assert mapped.status_code == 200, mapped.get_json()
        users[slug] = member, individual, group["id"]

    member, individual, group_id = users["on"]
    assert _roles_of(admin, "on", member) == {"editor": [group_id], "viewer": []}
    assert _roles_of(admin, "on", individual) == {"viewer": []}
    member, individual, group_id = users["off"]
    assert _roles_of(admin, "off", member) == {"editor": [group_id]}
    assert _roles_of(admin, "off", individual) == {}


class NoPowerByHand:
    """Refuse hand-given roles carrying a ``*:write`` permission, whoever the user is."""

    @hookimpl
    def scim_check_manual_roles(self, roles):
        for role in roles:
            if any(permission.endswith(":write") for permission in role.permissions):
                raise ConflictError(f"Role {role.name} grants write access: map a group to it instead.")


def _manual_user(slug: str, user_name: str) -> str:
    """A user made by hand in the portal (no admin endpoint makes one yet)."""
    with database.connection_context():
        tenant = services.get_tenant(slug)
        return UserRepository(tenant).create({"user_name": user_name, "source": "manual", "active": True}).id


def test_hook_scim_check_manual_roles(two_tenants, admin):
    on, off = two_tenants(NoPowerByHand(), "no-power-by-hand")

    for scim, refused in ((on, True), (off, False)):
        slug = scim.tenant.slug
        reader = _role(admin, slug, "reader", ["reports:read"])
        writer = _role(admin, slug, "writer", ["reports:write"])
        manual = _manual_user(slug, "temp@example.com")
        assert admin("PUT", f"/tenants/{slug}/users/{manual}/roles", {"roles": [reader["id"]]}).status_code == 200
        both = admin("PUT", f"/tenants/{slug}/users/{manual}/roles", {"roles": [reader["id"], writer["id"]]})
        if refused:
            assert both.status_code == 409, both.get_json()
            assert "writer grants write access" in both.get_json()["message"]
            assert _roles_of(admin, slug, manual) == {"reader": []}  # nothing changed
        else:
            assert both.status_code == 200, both.get_json()
            assert _roles_of(admin, slug, manual) == {"reader": [], "writer": []}
        # the built-in rule still holds for SCIM-provisioned users, in both tenants
        provisioned = scim.create_user("jane@example.com")["id"]
        by_hand = admin("PUT", f"/tenants/{slug}/users/{provisioned}/roles", {"roles": [reader["id"]]})
        assert by_hand.status_code == 409 and "provisioned by SCIM" in by_hand.get_json()["message"]


class DeleteWhenDeactivated:
    """``active: false`` removes the user instead of disabling it."""

    def __init__(self):
        self.events = []

    @hookimpl
    def scim_deprovision(self, event):
        self.events.append(event)
        return "delete" if event.kind == "user_deactivated" else None


def test_hook_scim_deprovision(two_tenants):
    plugin = DeleteWhenDeactivated()
    on, off = two_tenants(plugin, "delete-when-deactivated")
    deactivate = [{"op": "replace", "path": "active", "value": False}]

    user = on.create_user("jane@example.com")
    assert on.patch(f"/Users/{user['id']}", deactivate).status_code == 200
    assert on.get(f"/Users/{user['id']}").status_code == 404
    assert [(event.kind, event.user.id) for event in plugin.events] == [("user_deactivated", user["id"])]
    on.create_user("jane@example.com")  # the userName is free again

    user = off.create_user("jane@example.com")
    assert off.patch(f"/Users/{user['id']}", deactivate).status_code == 200
    after = off.get(f"/Users/{user['id']}")
    assert after.status_code == 200 and after.get_json()["active"] is False
    assert len(plugin.events) == 1


def test_deprovision_option_tombstone_days_keeps_a_hidden_row(two_tenants):
    on, off = two_tenants(settings={"plugins": {"deprovisioning": {"options": {"tombstone_days": 30}}}})

    for scim, tombstoned in ((on, True), (off, False)):
        user = scim.create_user("jane@example.com")
        group = scim.create_group("Staff", [user["id"]])
        assert scim.delete(f"/Users/{user['id']}").status_code == 204
        assert scim.get(f"/Users/{user['id']}").status_code == 404
        assert count_users(scim, "jane@example.com") == 0
        assert member_ids(scim, group["id"]) == set()
        again = scim.create_user("JANE@example.com")
        assert again["id"] != user["id"]
        with database.connection_context():
            row = User.get_or_none(User.id == user["id"])
            if tombstoned:
                assert row is not None and row.deleted_at is not None and row.active is False
                assert Membership.select().where(Membership.user == user["id"]).count() == 0
            else:
                assert row is None


class DisableMembersOfDeletedGroups:
    @hookimpl
    def scim_deprovision(self, event):
        return "delete_and_disable_members" if event.kind == "group_deleted" else None


def test_deprovision_group_deleted_can_disable_its_members(two_tenants, admin):
    on, off = two_tenants(DisableMembersOfDeletedGroups(), "disable-members-of-deleted-groups")

    for scim, active in ((on, False), (off, True)):
        slug = scim.tenant.slug
        members = [scim.create_user(f"user{i}@example.com")["id"] for i in range(2)]
        outsider = scim.create_user("outsider@example.com")["id"]
        group = scim.create_group("Staff", members)
        staff = _role(admin, slug, "staff", ["reports:read"])
        admin("PUT", f"/tenants/{slug}/groups/{group['id']}/roles", {"roles": [staff["id"]]})
        assert _roles_of(admin, slug, members[0]) == {"staff": [group["id"]]}

        assert scim.delete(f"/Groups/{group['id']}").status_code == 204
        assert scim.get(f"/Groups/{group['id']}").status_code == 404
        assert [scim.get(f"/Users/{m}").get_json().get("active", True) for m in members] == [active, active]
        assert scim.get(f"/Users/{outsider}").get_json().get("active", True) is True
        assert _roles_of(admin, slug, members[0]) == {}  # the group's mapping went with it
        with database.connection_context():
            assert GroupRole.select().where(GroupRole.group == group["id"]).count() == 0


def test_deprovision_option_disable_users_removed_from_groups(two_tenants):
    on, off = two_tenants(settings={"plugins": {"deprovisioning": {
        "options": {"disable_users_removed_from_groups": True}}}})

    for scim, active in ((on, False), (off, True)):
        leaver, stayer = (scim.create_user(f"{name}@example.com")["id"] for name in ("leaver", "stayer"))
        group = scim.create_group("Staff", [leaver, stayer])
        assert remove_member(scim, group["id"], leaver).status_code in (200, 204)
        assert member_ids(scim, group["id"]) == {stayer}
        assert scim.get(f"/Users/{leaver}").get_json().get("active", True) is active
        assert scim.get(f"/Users/{stayer}").get_json().get("active", True) is True


class UnknownAction:
    @hookimpl
    def scim_deprovision(self, event):
        return "shred"


def test_deprovision_answering_an_unknown_action_changes_nothing(two_tenants, caplog):
    on, off = two_tenants(UnknownAction(), "unknown-action")

    user = on.create_user("jane@example.com")
    assert_scim_error(on.delete(f"/Users/{user['id']}"), 500)
    assert on.get(f"/Users/{user['id']}").status_code == 200
    assert "shred" in caplog.text
    user = off.create_user("jane@example.com")
    assert off.delete(f"/Users/{user['id']}").status_code == 204


class TinyRate:
    @hookimpl
    def scim_rate_limit(self):
        return "2/minute"


def test_hook_scim_rate_limit(two_tenants):
    on, off = two_tenants(TinyRate(), "tiny-rate")
    assert [on.get("/Users").status_code for _ in range(3)] == [200, 200, 429]
    assert [off.get("/Users").status_code for _ in range(3)] == [200, 200, 200]


class KeepTombstonesAWeek:
    @hookimpl
    def scim_retention(self):
        return Retention(tombstone_days=7, disabled_days=30)


def test_hook_scim_retention(two_tenants, app):
    tombstones = {"plugins": {"deprovisioning": {"options": {"tombstone_days": 60}}}}
    on, off = two_tenants(KeepTombstonesAWeek(), "keep-tombstones-a-week", settings=tombstones,
                          off_settings=tombstones)

    assert hooks_for(app, "on").retention() == Retention(tombstone_days=7, disabled_days=30)
    assert hooks_for(app, "off").retention() == Retention(tombstone_days=60, disabled_days=None)
    for scim in (on, off):
        user = scim.create_user("jane@example.com")
        assert scim.delete(f"/Users/{user['id']}").status_code == 204

    from gateway.sweep import sweep_tenant

    with app.app_context(), database.connection_context():
        later = utcnow() + dt.timedelta(days=8)
        results = {slug: sweep_tenant(services.get_tenant(slug), now=later) for slug in ("on", "off")}
        left = {slug: User.select().where(User.tenant == services.get_tenant(slug).id).count()
                for slug in ("on", "off")}
    assert (results["on"].tombstones, results["off"].tombstones) == (1, 0)
    assert left == {"on": 0, "off": 1}


def test_built_in_retention_reads_the_deprovisioning_options(make_tenant, app):
    make_tenant("retains", settings={"plugins": {"deprovisioning": {"options": {
        "tombstone_days": 10, "remove_disabled_after_days": 20}}}})
    make_tenant("default")

    assert hooks_for(app, "retains").retention() == Retention(tombstone_days=10, disabled_days=20)
    assert hooks_for(app, "default").retention() == Retention()


class Recorder:
    """Record each change with whether another connection already sees its row."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.events = []

    def _committed(self, table: str, resource_id: str) -> bool:
        if self.database_url.startswith("sqlite:///"):
            with contextlib.closing(sqlite3.connect(self.database_url.removeprefix("sqlite:///"))) as other:
                return other.execute(f"SELECT COUNT(*) FROM {table} WHERE id = ?", (resource_id,)).fetchone()[0] == 1
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.database_url)) as other, other.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE id = %s", (resource_id,))
            return cursor.fetchone()[0] == 1

    @hookimpl
    def scim_after_change(self, tenant, change):
        table = "scim_user" if change.resource_type == "User" else "scim_group"
        self.events.append((tenant.slug, change.action, change.resource_type, change.resource_id,
                            self._committed(table, change.resource_id), dict(change.summary)))


def test_hook_scim_after_change(two_tenants, database_url):
    plugin = Recorder(database_url)
    on, off = two_tenants(plugin, "recorder")

    user = on.create_user("jane@example.com", name={"givenName": "Jane"})
    assert plugin.events == [("on", "create", "User", user["id"], True,
                              {"attributes": ["name", "userName"], "members_added": []})]
    assert_scim_error(on.post("/Users", {"schemas": [USER_SCHEMA], "userName": "JANE@example.com"}),
                      409, "uniqueness")
    assert_scim_error(on.post("/Users", {"schemas": [USER_SCHEMA], "userName": "not-an-email"}),
                      400, "invalidValue")
    assert len(plugin.events) == 1  # rejected requests change nothing and tell nobody

    on.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "name.familyName", "value": "Doe"}])
    group = on.create_group("Staff", [user["id"]])
    assert on.delete(f"/Users/{user['id']}").status_code == 204
    assert [event[2:5] for event in plugin.events[1:]] == [
        ("User", user["id"], True),
        ("Group", group["id"], True),
        ("User", user["id"], False),  # committed: the row is already gone
    ]
    assert [event[1] for event in plugin.events[2:]] == ["create", "delete"]
    assert plugin.events[1][5]["attributes"] == ["name"]
    assert plugin.events[2][5]["members_added"] == [user["id"]]

    off.create_user("jane@example.com")
    assert all(event[0] == "on" for event in plugin.events)


def test_after_change_tells_a_patch_from_a_replace(two_tenants, database_url):
    plugin = Recorder(database_url)
    on, _ = two_tenants(plugin, "recorder")
    user = on.create_user("jane@example.com")
    group = on.create_group("Staff")

    on.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "name.familyName", "value": "Doe"}])
    on.put(f"/Users/{user['id']}", {"schemas": [USER_SCHEMA], "userName": "jane@example.com"})
    on.patch(f"/Groups/{group['id']}", [{"op": "replace", "path": "displayName", "value": "All staff"}])
    on.put(f"/Groups/{group['id']}", {"schemas": [GROUP_SCHEMA], "displayName": "Staff"})

    assert [event[1:3] for event in plugin.events[2:]] == [
        ("patch", "User"), ("replace", "User"), ("patch", "Group"), ("replace", "Group")]


# -- failures --------------------------------------------------------------------------------


class Boom:
    """Raise a plain exception from one hook (``where``), with internals in the message.

    ``resource_type``, ``kind`` and ``changes_only`` narrow when it raises: for one resource
    type, one deprovisioning event kind, or only when an existing resource changes.
    """

    def __init__(self, where: str, resource_type: str | None = None, kind: str | None = None,
                 changes_only: bool = False):
        self.where, self.resource_type, self.kind = where, resource_type, kind
        self.changes_only = changes_only

    def _boom(self, hook: str):
        if hook == self.where:
            raise RuntimeError("connection string postgres://secret@db/internal")

    @hookimpl
    def scim_map_resource(self, resource_type):
        if self.resource_type in (None, resource_type):
            self._boom("scim_map_resource")

    @hookimpl
    def scim_validate_resource(self, resource_type, current):
        if self.resource_type in (None, resource_type) and (current is not None or not self.changes_only):
            self._boom("scim_validate_resource")

    @hookimpl
    def scim_deprovision(self, event):
        if self.kind in (None, event.kind):
            self._boom("scim_deprovision")

    @hookimpl
    def scim_after_change(self):
        self._boom("scim_after_change")


def _assert_plugin_named_in_log(caplog, plugin: str, hook: str) -> None:
    failures = [record for record in caplog.records
                if record.levelno >= logging.ERROR and plugin in record.getMessage()]
    assert failures, caplog.text
    assert hook in failures[0].getMessage() and failures[0].exc_info is not None


def _assert_no_internals(response) -> None:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret" not in text and "RuntimeError" not in text


@pytest.mark.parametrize("hook", ["scim_map_resource", "scim_validate_resource"])
def test_a_crashing_plugin_gives_a_scim_500_naming_it_in_the_log_and_writes_nothing(two_tenants, caplog, hook):
    on, off = two_tenants(Boom(hook), "boom")

    with caplog.at_level(logging.ERROR):
        response = on.post("/Users", {"schemas": [USER_SCHEMA], "userName": "jane@example.com"})
    body = assert_scim_error(response, 500)
    _assert_no_internals(response)
    assert "boom" in body["detail"]
    _assert_plugin_named_in_log(caplog, "'boom'", hook)
    assert count_users(on, "jane@example.com") == 0
    assert off.post("/Users", {"schemas": [USER_SCHEMA], "userName": "jane@example.com"}).status_code == 201


def test_a_crash_during_a_group_patch_leaves_the_members_as_they_were(two_tenants, client, make_tenant, caplog):
    on, _ = two_tenants(Boom("scim_validate_resource", resource_type="Group", changes_only=True), "boom")
    alice, bob = (on.create_user(f"{name}@example.com")["id"] for name in ("alice", "bob"))
    group = on.create_group("Staff", [alice])

    response = on.patch(f"/Groups/{group['id']}", [
        {"op": "add", "path": "members", "value": [{"value": bob}]},
        {"op": "remove", "path": f'members[value eq "{alice}"]'},
        {"op": "replace", "path": "displayName", "value": "Everyone"},
    ])
    assert_scim_error(response, 500)
    _assert_no_internals(response)
    after = on.get(f"/Groups/{group['id']}").get_json()
    assert {member["value"] for member in after["members"]} == {alice}
    assert after["displayName"] == "Staff" and after["meta"]["version"] == group["meta"]["version"]
    _assert_plugin_named_in_log(caplog, "'boom'", "scim_validate_resource")


def test_a_crash_deciding_on_removed_members_keeps_them(two_tenants, caplog):
    on, off = two_tenants(Boom("scim_deprovision", kind="members_removed"), "boom")

    for scim, status in ((on, 500), (off, 200)):
        alice = scim.create_user("alice@example.com")["id"]
        group = scim.create_group("Staff", [alice])
        response = remove_member(scim, group["id"], alice)
        if status == 500:
            assert_scim_error(response, 500)
            assert member_ids(scim, group["id"]) == {alice}
        else:
            assert response.status_code in (200, 204)
            assert member_ids(scim, group["id"]) == set()
    _assert_plugin_named_in_log(caplog, "'boom'", "scim_deprovision")


def test_a_crashing_listener_is_logged_and_the_change_stands(two_tenants, caplog):
    on, _ = two_tenants(Boom("scim_after_change"), "boom")

    with caplog.at_level(logging.ERROR):
        user = on.create_user("jane@example.com")
    assert on.get(f"/Users/{user['id']}").status_code == 200
    _assert_plugin_named_in_log(caplog, "'boom'", "scim_after_change")


# -- the manager -------------------------------------------------------------------------------


def test_every_hook_has_a_test():
    tests = {name for name, value in globals().items() if name.startswith("test_hook_") and callable(value)}

    assert set(hookspecs.HOOK_NAMES) == {
        name for name, value in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("scim_")}
    missing = sorted(f"test_hook_{hook}" for hook in hookspecs.HOOK_NAMES if f"test_hook_{hook}" not in tests)
    assert not missing, f"hooks without a test in {__name__}: {missing}"


def test_every_registered_hookimpl_has_a_spec():
    PluginManager().pm.check_pending()


def test_a_plugin_with_a_misspelled_hook_is_refused(manager):
    class Misspelled:
        @hookimpl
        def scim_validate_resources(self, resource):
            """One letter too many: pluggy has no spec for it."""

    with pytest.raises(Exception, match="scim_validate_resources"):
        manager.register(Misspelled(), name="misspelled")
    assert "misspelled" not in {plugin.name for plugin in manager.plugins()}
    manager.register(NoContractors(), name="no-contractors")  # the refusal leaves nothing behind


def test_a_plugin_asking_for_an_argument_the_hook_lacks_is_refused(manager):
    class WrongArgument:
        @hookimpl
        def scim_retention(self, tenant, user):
            """scim_retention gets no user."""

    with pytest.raises(Exception, match="user"):
        manager.register(WrongArgument(), name="wrong-argument")
    assert "wrong-argument" not in {plugin.name for plugin in manager.plugins()}


def test_built_in_plugins_are_listed_as_enabled_by_default():
    listed = {plugin.name: plugin for plugin in PluginManager().plugins()}

    for name in ("attribute-mapping", "uniqueness", "role-assignment", "deprovisioning"):
        assert listed[name].enabled_by_default and listed[name].version
    assert {name for name, plugin in listed.items() if plugin.essential} == set(ESSENTIAL)


class Shout:
    """Enabled by default: stores familyName upper-cased."""

    ENABLED_BY_DEFAULT = True

    @hookimpl
    def scim_map_resource(self, resource_type, resource):
        if resource_type == "User" and (resource.get("name") or {}).get("familyName"):
            return {**resource, "name": {**resource["name"], "familyName": resource["name"]["familyName"].upper()}}
        return None


def test_a_plugin_enabled_by_default_can_be_turned_off_per_tenant(manager, make_tenant, client):
    manager.register(Shout(), name="shout")
    default = Scim(client, make_tenant("default"))
    quiet = Scim(client, make_tenant("quiet", settings={"plugins": {"shout": {"enabled": False}}}))

    assert default.create_user("jane@example.com", name={"familyName": "Doe"})["name"]["familyName"] == "DOE"
    assert quiet.create_user("jane@example.com", name={"familyName": "Doe"})["name"]["familyName"] == "Doe"


def test_unregistering_a_plugin_takes_effect_on_the_next_request(manager, make_tenant, client):
    manager.register(Shout(), name="shout")
    scim = Scim(client, make_tenant("acme"))
    assert scim.create_user("a@example.com", name={"familyName": "Doe"})["name"]["familyName"] == "DOE"

    manager.unregister("shout")
    assert scim.create_user("b@example.com", name={"familyName": "Doe"})["name"]["familyName"] == "Doe"


@pytest.mark.parametrize("name", ESSENTIAL)
def test_essential_plugins_cannot_be_disabled_for_a_tenant(manager, name):
    with pytest.raises(SettingsError) as raised:
        manager.validate_settings({"plugins": {name: {"enabled": False}}})

    assert list(raised.value.messages) == [f"plugins.{name}.enabled"]
    assert "essential" in raised.value.messages[f"plugins.{name}.enabled"][0]


@pytest.mark.parametrize("name", ESSENTIAL)
def test_essential_plugins_cannot_be_blocked(name):
    with pytest.raises(RuntimeError, match="essential"):
        PluginManager(blocked=(name,))


def test_essential_plugins_cannot_be_blocked_from_the_environment(monkeypatch, database_url):
    monkeypatch.setenv("SCIM_GATEWAY_DISABLED_PLUGINS", "uniqueness, deprovisioning")

    with pytest.raises(RuntimeError, match="deprovisioning"):
        create_app({"TESTING": True, "DATABASE_URL": database_url})


def test_disabled_plugins_turns_the_email_rule_off_for_every_tenant(monkeypatch, database_url):
    monkeypatch.setenv("SCIM_GATEWAY_DISABLED_PLUGINS", "uniqueness")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    client = app.test_client()
    manager = app.extensions["scim_gateway"]

    assert "uniqueness" not in {plugin.name for plugin in manager.plugins()}
    for slug in ("acme", "globex"):
        with database.connection_context():
            _, token = services.create_tenant(slug)
        scim = Scim(client, TenantCredentials(slug=slug, token=token.secret))
        assert scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "jdoe"}).status_code == 201
        # the database still keeps userName unique, whatever the plugins
        assert_scim_error(scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "JDOE"}), 409, "uniqueness")
    with pytest.raises(SettingsError) as raised:
        manager.validate_settings({"plugins": {"uniqueness": {"options": {"require_email": True}}}})
    assert "plugins.uniqueness" in raised.value.messages


def test_trace_hooks_logs_every_hook_call(monkeypatch, database_url, caplog):
    monkeypatch.setenv("SCIM_GATEWAY_TRACE_HOOKS", "1")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    with database.connection_context():
        _, token = services.create_tenant("acme")
    client = app.test_client()

    with caplog.at_level(logging.INFO, logger="gateway.plugin_manager"):
        response = client.post("/tenants/acme/scim/v2/Users", json={"schemas": [USER_SCHEMA],
                                                                    "userName": "jane@example.com"},
                               headers={"Authorization": f"Bearer {token.secret}"})
    assert response.status_code == 201
    traced = caplog.text
    for hook in ("scim_stored_attributes", "scim_map_resource", "scim_validate_resource", "scim_after_change"):
        assert f"hook {hook}" in traced
    assert "uniqueness" in traced and "attribute-mapping" in traced
