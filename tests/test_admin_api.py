"""The admin API, ``/admin/v1``, over HTTP on a real SQLite file.

Every write is read back from the database, every refusal is checked to have changed
nothing, and the shapes the contract table in DESIGN.md fixes are compared exactly.
"""

from __future__ import annotations

import json
import uuid

import pytest
from tenants import admin_keys, services
from tenants.clock import utcnow
from tenants.db import database
from tenants.models import GroupRole, Role, Tenant, TenantToken, User, UserPermission, UserRole
from tenants.repositories import UserRepository

from .conftest import Scim, TenantCredentials, assert_scim_error

TENANT_KEYS = {"slug", "name", "enabled", "tenant_url", "settings"}
USER_KEYS = {"id", "userName", "name", "active", "source"}
PAGE_KEYS = {"items", "total", "page", "per_page"}
NOT_A_ROLE = "00000000-0000-0000-0000-000000000000"


def make_key(name: str | None = None, tenants: list[str] | None = None, revoked: bool = False) -> str:
    """An admin key made through the service layer; returns its secret."""
    with database.connection_context():
        _, secret = admin_keys.create(name or f"key-{uuid.uuid4().hex[:8]}", tenants)
        if revoked:
            admin_keys.revoke(_.name)
    return secret


class Admin:
    """A client of the admin API with one bearer credential."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.key = key

    def request(self, method: str, path: str, body=None, **kwargs):
        headers = {"Authorization": f"Bearer {self.key}"} if self.key is not None else {}
        if body is not None:
            kwargs.setdefault("data", json.dumps(body))
            kwargs.setdefault("content_type", "application/json")
        return self.client.open("/admin/v1" + path, method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def admin(client):
    """An admin client with a key valid for every tenant."""
    return Admin(client, make_key("root"))


def ok(response, status: int = 200):
    """The JSON body of ``response`` after checking its status."""
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def assert_error(response, status: int, *words: str) -> dict:
    """Assert flask-smorest's JSON error shape with ``status``; the message mentions ``words``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    for word in words:
        assert word.lower() in body["message"].lower(), body["message"]
    return body


def stored_tenant(slug: str) -> Tenant | None:
    with database.connection_context():
        return Tenant.get_or_none(Tenant.slug == slug)


def count(model, *where) -> int:
    with database.connection_context():
        query = model.select()
        return (query.where(*where) if where else query).count()


# -- tenants ------------------------------------------------------------------------------------


def test_create_tenant_answers_the_contract_and_its_token_works(admin, client):
    body = ok(admin.post("/tenants", {"slug": "contoso", "name": "Contoso Ltd"}), 201)
    assert set(body) == TENANT_KEYS | {"token"}
    assert body["slug"] == "contoso" and body["name"] == "Contoso Ltd" and body["enabled"] is True
    assert body["tenant_url"] == "http://localhost/tenants/contoso/scim/v2"
    assert body["settings"] == {}
    tenant = stored_tenant("contoso")
    assert tenant.name == "Contoso Ltd" and tenant.enabled
    with database.connection_context():
        tokens = list(TenantToken.select().where(TenantToken.tenant == tenant))
    assert len(tokens) == 1 and body["token"] not in (tokens[0].digest, tokens[0].prefix)
    assert body["token"].startswith(tokens[0].prefix)
    scim = Scim(client, services_credentials("contoso", body["token"]))
    assert scim.get("/Users").status_code == 200


def services_credentials(slug: str, token: str) -> TenantCredentials:
    """Credentials for a tenant whose token came from the admin API."""
    return TenantCredentials(slug=slug, token=token)


def test_create_tenant_name_defaults_to_slug(admin):
    assert ok(admin.post("/tenants", {"slug": "fabrikam"}), 201)["name"] == "fabrikam"


def test_tenant_url_uses_the_configured_public_url(database_url):
    from gateway.app import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "PUBLIC_URL": "https://gw.example.com/"})
    admin = Admin(app.test_client(), make_key())
    body = ok(admin.post("/tenants", {"slug": "contoso"}), 201)
    assert body["tenant_url"] == "https://gw.example.com/tenants/contoso/scim/v2"


def test_get_tenant_answers_exactly_the_contract_fields(admin, make_tenant):
    make_tenant("acme", name="Acme Inc")
    body = ok(admin.get("/tenants/acme"))
    assert body == {"slug": "acme", "name": "Acme Inc", "enabled": True,
                    "tenant_url": "http://localhost/tenants/acme/scim/v2", "settings": {}}


def test_list_tenants_is_paged_by_slug(admin, make_tenant):
    for slug in ("delta", "alpha", "charlie", "bravo", "echo"):
        make_tenant(slug)
    first = ok(admin.get("/tenants?per_page=2"))
    assert set(first) == PAGE_KEYS
    assert (first["total"], first["page"], first["per_page"]) == (5, 1, 2)
    assert [t["slug"] for t in first["items"]] == ["alpha", "bravo"]
    assert all(set(item) == TENANT_KEYS for item in first["items"])
    third = ok(admin.get("/tenants?per_page=2&page=3"))
    assert [t["slug"] for t in third["items"]] == ["echo"]
    beyond = ok(admin.get("/tenants?per_page=2&page=9"))
    assert beyond["items"] == [] and beyond["total"] == 5
    default = ok(admin.get("/tenants"))
    assert default["per_page"] == 50 and default["page"] == 1 and len(default["items"]) == 5


@pytest.mark.parametrize("query, field", [
    ("per_page=501", "per_page"), ("per_page=0", "per_page"), ("page=0", "page"),
    ("page=x", "page"), ("per_page=1.5", "per_page"),
])
def test_list_tenants_rejects_bad_paging(admin, query, field):
    body = assert_error(admin.get(f"/tenants?{query}"), 400, field)
    assert field in body["errors"]["query"]


def test_patch_tenant_changes_name_enabled_and_settings(admin, make_tenant):
    make_tenant("acme")
    settings = {"plugins": {"uniqueness": {"options": {"require_email": False}}}}
    body = ok(admin.patch("/tenants/acme", {"name": "Acme Renamed", "enabled": False, "settings": settings}))
    assert set(body) == TENANT_KEYS
    normalised = {"plugins": {"uniqueness": {"enabled": True, "options": {"require_email": False}}}}
    assert body["name"] == "Acme Renamed" and body["enabled"] is False and body["settings"] == normalised
    tenant = stored_tenant("acme")
    assert (tenant.name, tenant.enabled, tenant.settings) == ("Acme Renamed", False, normalised)
    assert ok(admin.get("/tenants/acme")) == body


def test_patch_settings_takes_effect_on_the_next_scim_request(admin, scim):
    assert_scim_error(scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                           "userName": "not-an-email"}), 400, "invalidValue")
    ok(admin.patch("/tenants/acme", {"settings": {"plugins": {"uniqueness": {"options": {"require_email": False}}}}}))
    scim.create_user("not-an-email")


def test_disabling_a_tenant_refuses_its_scim_calls_on_the_very_next_request(admin, scim):
    assert scim.get("/Users").status_code == 200
    ok(admin.patch("/tenants/acme", {"enabled": False}))
    assert_scim_error(scim.get("/Users"), 403)
    ok(admin.patch("/tenants/acme", {"enabled": True}))
    assert scim.get("/Users").status_code == 200


def test_empty_patch_changes_nothing(admin, make_tenant):
    make_tenant("acme")
    before = stored_tenant("acme").updated
    assert ok(admin.patch("/tenants/acme", {}))["slug"] == "acme"
    assert stored_tenant("acme").updated == before


@pytest.mark.parametrize("settings, field", [
    ({"plugins": {"role-assignment": {"enabled": False}}}, "plugins.role-assignment.enabled"),
    ({"plugins": {"no-such-plugin": {"enabled": True}}}, "plugins.no-such-plugin"),
    ({"plugins": {"uniqueness": {"options": {"require_email": "maybe"}}}}, "plugins.uniqueness.options"),
    ({"plugins": {"uniqueness": {"options": {"nope": 1}}}}, "plugins.uniqueness.options"),
    ({"colour": "blue"}, "colour"),
    ({"plugins": []}, "plugins"),
])
def test_invalid_settings_are_400_listing_the_field_and_change_nothing(admin, make_tenant, settings, field):
    make_tenant("acme")
    before = stored_tenant("acme")
    body = assert_error(admin.patch("/tenants/acme", {"name": "Changed", "settings": settings}), 400, field)
    assert field in body["errors"]["json"]["settings"]
    after = stored_tenant("acme")
    assert (after.name, after.settings, after.updated) == (before.name, before.settings, before.updated)


@pytest.mark.parametrize("body, field", [
    ({"enabled": "false"}, "enabled"),
    ({"enabled": 0}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"name": 42}, "name"),
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"settings": "{}"}, "settings"),
    ({"slug": "renamed"}, "slug"),
    ({"name": "Ok", "colour": "blue"}, "colour"),
])
def test_patch_tenant_rejects_bad_input_and_changes_nothing(admin, make_tenant, body, field):
    make_tenant("acme")
    before = stored_tenant("acme")
    answer = assert_error(admin.patch("/tenants/acme", body), 400, field)
    assert field in answer["errors"]["json"]
    after = stored_tenant("acme")
    assert (after.name, after.enabled, after.settings, after.updated) == \
        (before.name, before.enabled, before.settings, before.updated)


def test_a_body_that_is_not_json_is_refused(admin, make_tenant):
    make_tenant("acme")
    assert_error(admin.patch("/tenants/acme", data="enabled=false", content_type="application/x-www-form-urlencoded"),
                 415, "json")
    assert_error(admin.patch("/tenants/acme", data="{not json", content_type="application/json"), 400, "json")
    assert_error(admin.patch("/tenants/acme", [{"enabled": False}]), 400)
    assert stored_tenant("acme").enabled is True


@pytest.mark.parametrize("body, field", [
    ({}, "slug"),
    ({"name": "No slug"}, "slug"),
    ({"slug": 7}, "slug"),
    ({"slug": "Not A Slug"}, "slug"),
    ({"slug": "-bad-"}, "slug"),
    ({"slug": "ok", "name": ["x"]}, "name"),
    ({"slug": "ok", "enabled": False}, "enabled"),
])
def test_create_tenant_rejects_bad_input_and_creates_nothing(admin, body, field):
    answer = assert_error(admin.post("/tenants", body), 400, field)
    assert field in answer["errors"]["json"]
    assert count(Tenant) == 0


def test_create_existing_tenant_is_409(admin, make_tenant):
    make_tenant("acme", name="Original")
    assert_error(admin.post("/tenants", {"slug": "acme", "name": "Other"}), 409, "acme", "already exists")
    assert stored_tenant("acme").name == "Original"
    assert count(Tenant) == 1


def test_delete_tenant_removes_it_with_its_data(admin, scim, make_tenant):
    other = make_tenant("other")
    user = scim.create_user("ada@example.com")
    scim.create_group("Finance", members=[user["id"]])
    role = ok(admin.post("/tenants/acme/roles", {"name": "Viewer", "permissions": ["reports.read"]}), 201)
    assert admin.delete("/tenants/acme").status_code == 204
    assert stored_tenant("acme") is None
    with database.connection_context():
        assert not User.select().where(User.id == user["id"]).exists()
        assert not Role.select().where(Role.id == role["id"]).exists()
        assert not TenantToken.select().join(Tenant).where(Tenant.slug == "acme").exists()
    assert_error(admin.get("/tenants/acme"), 404, "acme")
    assert_error(admin.delete("/tenants/acme"), 404)
    assert_scim_error(scim.get("/Users"), 401)
    assert Scim(scim.client, other).get("/Users").status_code == 200


# -- tokens ------------------------------------------------------------------------------------


def test_new_token_without_grace_keeps_older_tokens(admin, scim, tenant):
    body = ok(admin.post("/tenants/acme/tokens"), 201)
    assert set(body) == {"token", "prefix"}
    assert body["token"].startswith(body["prefix"]) and len(body["prefix"]) < len(body["token"])
    assert count(TenantToken, TenantToken.prefix == body["prefix"]) == 1
    assert scim.get("/Users").status_code == 200
    new = Scim(scim.client, services_credentials("acme", body["token"]))
    assert new.get("/Users").status_code == 200


def test_rotation_with_zero_grace_kills_the_old_token_at_once(admin, scim):
    body = ok(admin.post("/tenants/acme/tokens", {"grace_seconds": 0}), 201)
    assert_scim_error(scim.get("/Users"), 401)
    assert Scim(scim.client, services_credentials("acme", body["token"])).get("/Users").status_code == 200


def test_rotation_with_grace_keeps_the_old_token_for_the_grace(admin, scim):
    ok(admin.post("/tenants/acme/tokens", {"grace_seconds": 3600}), 201)
    assert scim.get("/Users").status_code == 200
    with database.connection_context():
        rows = list(TenantToken.select().join(Tenant).where(Tenant.slug == "acme").order_by(TenantToken.created))
    old, new = rows
    assert new.expires is None
    remaining = (old.expires - utcnow()).total_seconds()
    assert 3500 < remaining <= 3600


@pytest.mark.parametrize("body", [
    {"grace_seconds": -1}, {"grace_seconds": "60"}, {"grace_seconds": 1.5}, {"grace_seconds": None},
    {"grace_seconds": 10 ** 12}, {"grace": 60},
])
def test_token_rejects_bad_grace_and_issues_nothing(admin, scim, body):
    answer = assert_error(admin.post("/tenants/acme/tokens", body), 400)
    assert answer["errors"]["json"]
    assert count(TenantToken) == 1
    assert scim.get("/Users").status_code == 200


# -- roles -------------------------------------------------------------------------------------


def test_role_catalog_create_list_show_change_delete(admin, tenant):
    created = ok(admin.post("/tenants/acme/roles", {"name": "Report viewer", "permissions": ["reports.read"],
                                                   "description": "Reads reports"}), 201)
    assert set(created) == {"id", "name", "description", "permissions"}
    assert created["name"] == "Report viewer" and created["permissions"] == ["reports.read"]
    with database.connection_context():
        row = Role.get_by_id(created["id"])
    assert (row.name, row.permissions, row.description) == ("Report viewer", ["reports.read"], "Reads reports")
    ok(admin.post("/tenants/acme/roles", {"name": "Admin", "permissions": []}), 201)
    listed = ok(admin.get("/tenants/acme/roles"))
    assert [role["name"] for role in listed] == ["Admin", "Report viewer"]
    assert ok(admin.get(f"/tenants/acme/roles/{created['id']}")) == created
    changed = ok(admin.patch(f"/tenants/acme/roles/{created['id']}",
                             {"permissions": ["reports.read", "reports.export"]}))
    assert changed["permissions"] == ["reports.export", "reports.read"]
    with database.connection_context():
        assert Role.get_by_id(created["id"]).permissions == ["reports.export", "reports.read"]
    assert admin.delete(f"/tenants/acme/roles/{created['id']}").status_code == 204
    assert count(Role, Role.id == created["id"]) == 0
    assert_error(admin.get(f"/tenants/acme/roles/{created['id']}"), 404)


def test_duplicate_role_name_is_409_case_insensitively(admin, tenant):
    first = ok(admin.post("/tenants/acme/roles", {"name": "Viewer", "permissions": ["a"]}), 201)
    assert_error(admin.post("/tenants/acme/roles", {"name": "VIEWER", "permissions": ["b"]}), 409, "already exists")
    other = ok(admin.post("/tenants/acme/roles", {"name": "Editor", "permissions": []}), 201)
    assert_error(admin.patch(f"/tenants/acme/roles/{other['id']}", {"name": "viewer"}), 409)
    with database.connection_context():
        assert [r.name for r in Role.select().order_by(Role.name)] == ["Editor", "Viewer"]
        assert Role.get_by_id(first["id"]).permissions == ["a"]


def test_same_role_name_in_two_tenants_is_fine(admin, make_tenant):
    make_tenant("one"), make_tenant("two")
    ok(admin.post("/tenants/one/roles", {"name": "Viewer", "permissions": []}), 201)
    ok(admin.post("/tenants/two/roles", {"name": "Viewer", "permissions": []}), 201)
    assert [r["name"] for r in ok(admin.get("/tenants/two/roles"))] == ["Viewer"]


@pytest.mark.parametrize("body, field", [
    ({"permissions": []}, "name"),
    ({"name": "Viewer"}, "permissions"),
    ({"name": "", "permissions": []}, "name"),
    ({"name": "   ", "permissions": []}, "name"),
    ({"name": 5, "permissions": []}, "name"),
    ({"name": "Viewer", "permissions": "reports.read"}, "permissions"),
    ({"name": "Viewer", "permissions": ["has space"]}, "permissions"),
    ({"name": "Viewer", "permissions": [1]}, "permissions"),
    ({"name": "Viewer", "permissions": [], "colour": "red"}, "colour"),
])
def test_create_role_rejects_bad_input_and_creates_nothing(admin, tenant, body, field):
    answer = assert_error(admin.post("/tenants/acme/roles", body), 400, field)
    assert field in answer["errors"]["json"]
    assert count(Role) == 0


def test_role_of_another_tenant_is_404(admin, make_tenant):
    make_tenant("one"), make_tenant("two")
    role = ok(admin.post("/tenants/one/roles", {"name": "Viewer", "permissions": []}), 201)
    assert_error(admin.get(f"/tenants/two/roles/{role['id']}"), 404)
    assert_error(admin.delete(f"/tenants/two/roles/{role['id']}"), 404)
    assert count(Role) == 1


# -- group mappings -----------------------------------------------------------------------------


def _role(admin, name: str, slug: str = "acme") -> dict:
    permission = name.lower().replace(" ", "-") + ".use"
    return ok(admin.post(f"/tenants/{slug}/roles", {"name": name, "permissions": [permission]}), 201)


def test_group_mapping_list_and_mapping_a_group(admin, scim):
    finance = scim.create_group("Finance")
    sales = scim.create_group("Sales")
    listed = ok(admin.get("/tenants/acme/groups"))
    assert listed == {"items": [{"id": finance["id"], "displayName": "Finance", "roles": []},
                                {"id": sales["id"], "displayName": "Sales", "roles": []}],
                      "total": 2, "page": 1, "per_page": 50}
    viewer, editor = _role(admin, "Viewer"), _role(admin, "Editor")
    mapped = ok(admin.put(f"/tenants/acme/groups/{finance['id']}/roles", {"roles": [viewer["id"], editor["id"]]}))
    assert mapped == {"id": finance["id"], "displayName": "Finance",
                      "roles": [{"id": editor["id"], "name": "Editor"}, {"id": viewer["id"], "name": "Viewer"}]}
    with database.connection_context():
        stored = {row.role_id for row in GroupRole.select().where(GroupRole.group == finance["id"])}
    assert stored == {viewer["id"], editor["id"]}
    listed = ok(admin.get("/tenants/acme/groups?per_page=1"))
    assert listed["total"] == 2 and listed["items"] == [mapped]
    # PUT replaces: exactly these roles afterwards
    ok(admin.put(f"/tenants/acme/groups/{finance['id']}/roles", {"roles": [viewer["id"]]}))
    ok(admin.put(f"/tenants/acme/groups/{finance['id']}/roles", {"roles": []}))
    assert count(GroupRole) == 0


def test_mapping_an_unknown_role_is_400_and_changes_nothing(admin, scim):
    group = scim.create_group("Finance")
    viewer = _role(admin, "Viewer")
    ok(admin.put(f"/tenants/acme/groups/{group['id']}/roles", {"roles": [viewer["id"]]}))
    body = assert_error(admin.put(f"/tenants/acme/groups/{group['id']}/roles", {"roles": [NOT_A_ROLE]}), 400,
                        NOT_A_ROLE)
    assert "roles" in body["errors"]["json"]
    with database.connection_context():
        assert [row.role_id for row in GroupRole.select()] == [viewer["id"]]


def test_mapping_a_role_of_another_tenant_is_400(admin, scim, make_tenant):
    make_tenant("other")
    foreign = _role(admin, "Viewer", "other")
    group = scim.create_group("Finance")
    assert_error(admin.put(f"/tenants/acme/groups/{group['id']}/roles", {"roles": [foreign["id"]]}), 400)
    assert count(GroupRole) == 0


@pytest.mark.parametrize("body, field", [
    ({}, "roles"), ({"roles": "x"}, "roles"), ({"roles": [1]}, "roles"), ({"roles": [], "extra": 1}, "extra"),
])
def test_group_roles_rejects_bad_input(admin, scim, body, field):
    group = scim.create_group("Finance")
    answer = assert_error(admin.put(f"/tenants/acme/groups/{group['id']}/roles", body), 400, field)
    assert field in answer["errors"]["json"]


def test_unknown_group_is_404(admin, tenant):
    assert_error(admin.put(f"/tenants/acme/groups/{uuid.uuid4()}/roles", {"roles": []}), 404, "group")


def test_group_mapping_list_costs_the_same_queries_for_few_and_many_groups(admin, make_tenant, client):
    from .test_query_budget import queries

    for slug, groups in (("small", 2), ("large", 60)):
        creds = make_tenant(slug)
        role = _role(admin, "Viewer", slug)
        for index in range(groups):
            group = Scim(client, creds).create_group(f"Group {index}")
            ok(admin.put(f"/tenants/{slug}/groups/{group['id']}/roles", {"roles": [role["id"]]}))
    small = queries(lambda: admin.get("/tenants/small/groups"))
    large = queries(lambda: admin.get("/tenants/large/groups"))
    assert len(small) == len(large) <= 5  # admin key, tenant, count, page, roles of the page


# -- users ------------------------------------------------------------------------------------


def test_users_list_is_paged_and_searchable(admin, scim):
    ada = scim.create_user("Ada@Example.com", name={"givenName": "Ada", "familyName": "Lovelace"})
    scim.create_user("grace@example.com", name={"givenName": "Grace", "familyName": "Hopper"})
    scim.create_user("alan@example.com", name={"givenName": "Alan", "familyName": "Turing"}, active=False)
    page = ok(admin.get("/tenants/acme/users?per_page=2"))
    assert set(page) == PAGE_KEYS and page["total"] == 3
    assert [u["userName"] for u in page["items"]] == ["Ada@Example.com", "alan@example.com"]
    assert page["items"][0] == {"id": ada["id"], "userName": "Ada@Example.com",
                                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                                "active": True, "source": "scim"}
    assert page["items"][1]["active"] is False
    assert all(set(u) == USER_KEYS for u in page["items"])
    assert [u["userName"] for u in ok(admin.get("/tenants/acme/users?per_page=2&page=2"))["items"]] == \
        ["grace@example.com"]

    def search(q):
        from urllib.parse import quote

        return [u["userName"] for u in ok(admin.get(f"/tenants/acme/users?q={quote(q)}"))["items"]]

    assert search("ADA@") == ["Ada@Example.com"]
    assert search("hopp") == ["grace@example.com"]
    assert search("TURING") == ["alan@example.com"]
    assert search("gRaCe") == ["grace@example.com"]
    assert search("example.com") == ["Ada@Example.com", "alan@example.com", "grace@example.com"]
    assert search("%") == [] and search("_") == []
    assert search("nobody") == []


def test_users_list_hides_tombstoned_users(admin, make_tenant, client):
    creds = make_tenant("keep", settings={"plugins": {"deprovisioning": {"options": {"tombstone_days": 30}}}})
    scim = Scim(client, creds)
    gone = scim.create_user("gone@example.com")
    scim.create_user("stays@example.com")
    assert scim.delete(f"/Users/{gone['id']}").status_code == 204
    assert count(User, User.id == gone["id"]) == 1  # kept as a tombstone
    listed = ok(admin.get("/tenants/keep/users"))
    assert [u["userName"] for u in listed["items"]] == ["stays@example.com"] and listed["total"] == 1
    assert_error(admin.get(f"/tenants/keep/users/{gone['id']}"), 404)


def test_user_detail_shows_roles_from_group_mappings_and_loses_them_with_membership(admin, scim):
    ada = scim.create_user("ada@example.com", name={"givenName": "Ada", "familyName": "Lovelace"})
    bob = scim.create_user("bob@example.com")
    finance = scim.create_group("Finance", members=[ada["id"], bob["id"]])
    audit = scim.create_group("Audit", members=[ada["id"]])
    viewer, auditor = _role(admin, "Viewer"), _role(admin, "Auditor")

    detail = ok(admin.get(f"/tenants/acme/users/{ada['id']}"))
    assert set(detail) == USER_KEYS | {"roles", "permissions"}
    assert detail["roles"] == [] and detail["permissions"] == []

    ok(admin.put(f"/tenants/acme/groups/{finance['id']}/roles", {"roles": [viewer["id"]]}))
    ok(admin.put(f"/tenants/acme/groups/{audit['id']}/roles", {"roles": [viewer["id"], auditor["id"]]}))
    detail = ok(admin.get(f"/tenants/acme/users/{ada['id']}"))
    assert detail["roles"] == [
        {"id": auditor["id"], "name": "Auditor", "granted_by": [audit["id"]]},
        {"id": viewer["id"], "name": "Viewer", "granted_by": sorted([finance["id"], audit["id"]])},
    ]
    assert ok(admin.get(f"/tenants/acme/users/{bob['id']}"))["roles"] == [
        {"id": viewer["id"], "name": "Viewer", "granted_by": [finance["id"]]}]

    # Leaving Finance keeps Viewer (Audit still grants it); leaving Audit too removes both.
    assert scim.patch(f"/Groups/{finance['id']}", [
        {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'}]).status_code in (200, 204)
    detail = ok(admin.get(f"/tenants/acme/users/{ada['id']}"))
    assert [(r["name"], r["granted_by"]) for r in detail["roles"]] == [
        ("Auditor", [audit["id"]]), ("Viewer", [audit["id"]])]
    assert scim.patch(f"/Groups/{audit['id']}", [
        {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'}]).status_code in (200, 204)
    assert ok(admin.get(f"/tenants/acme/users/{ada['id']}"))["roles"] == []
    assert [r["name"] for r in ok(admin.get(f"/tenants/acme/users/{bob['id']}"))["roles"]] == ["Viewer"]


def test_disabled_user_holds_no_roles(admin, scim):
    ada = scim.create_user("ada@example.com")
    group = scim.create_group("Finance", members=[ada["id"]])
    viewer = _role(admin, "Viewer")
    ok(admin.put(f"/tenants/acme/groups/{group['id']}/roles", {"roles": [viewer["id"]]}))
    scim.patch(f"/Users/{ada['id']}", [{"op": "replace", "path": "active", "value": False}])
    detail = ok(admin.get(f"/tenants/acme/users/{ada['id']}"))
    assert detail["active"] is False and detail["roles"] == []


def test_roles_by_hand_on_a_scim_user_are_409_and_nothing_is_stored(admin, scim):
    ada = scim.create_user("ada@example.com")
    viewer = _role(admin, "Viewer")
    body = assert_error(admin.put(f"/tenants/acme/users/{ada['id']}/roles", {"roles": [viewer["id"]]}), 409,
                        "provisioned by SCIM", "ada@example.com")
    assert "group" in body["message"] and "permissions" in body["message"]
    assert count(UserRole) == 0
    assert ok(admin.get(f"/tenants/acme/users/{ada['id']}"))["roles"] == []


def _manual_user(slug: str, user_name: str) -> str:
    with database.connection_context():
        tenant = services.get_tenant(slug)
        return UserRepository(tenant).create({"user_name": user_name, "source": "manual", "active": True}).id


def test_roles_by_hand_on_a_manual_user_are_stored(admin, tenant):
    user_id = _manual_user("acme", "local@example.com")
    viewer, editor = _role(admin, "Viewer"), _role(admin, "Editor")
    detail = ok(admin.put(f"/tenants/acme/users/{user_id}/roles", {"roles": [viewer["id"], editor["id"]]}))
    assert detail["source"] == "manual"
    assert detail["roles"] == [{"id": editor["id"], "name": "Editor", "granted_by": []},
                               {"id": viewer["id"], "name": "Viewer", "granted_by": []}]
    with database.connection_context():
        stored = {row.role_id for row in UserRole.select().where(UserRole.user == user_id)}
    assert stored == {viewer["id"], editor["id"]}
    assert ok(admin.get(f"/tenants/acme/users/{user_id}"))["roles"] == detail["roles"]
    assert_error(admin.put(f"/tenants/acme/users/{user_id}/roles", {"roles": [viewer["id"], NOT_A_ROLE]}), 400,
                 NOT_A_ROLE)
    assert count(UserRole) == 2
    assert ok(admin.put(f"/tenants/acme/users/{user_id}/roles", {"roles": []}))["roles"] == []
    assert count(UserRole) == 0


def test_unknown_role_on_a_scim_user_is_400_before_the_policy(admin, scim):
    ada = scim.create_user("ada@example.com")
    assert_error(admin.put(f"/tenants/acme/users/{ada['id']}/roles", {"roles": [NOT_A_ROLE]}), 400, NOT_A_ROLE)


def test_individual_permissions_for_a_scim_user(admin, scim):
    ada = scim.create_user("ada@example.com")
    detail = ok(admin.put(f"/tenants/acme/users/{ada['id']}/permissions",
                          {"permissions": ["reports.export", "billing:read", "reports.export"]}))
    assert detail["permissions"] == ["billing:read", "reports.export"]
    assert set(detail) == USER_KEYS | {"roles", "permissions"}
    with database.connection_context():
        stored = sorted(row.permission for row in UserPermission.select().where(UserPermission.user == ada["id"]))
    assert stored == ["billing:read", "reports.export"]
    assert ok(admin.get(f"/tenants/acme/users/{ada['id']}"))["permissions"] == stored


@pytest.mark.parametrize("body, field", [
    ({"permissions": ["has space"]}, "permissions"),
    ({"permissions": [""]}, "permissions"),
    ({"permissions": ["x" * 101]}, "permissions"),
    ({"permissions": "reports.read"}, "permissions"),
    ({"permissions": [7]}, "permissions"),
    ({}, "permissions"),
    ({"permissions": [], "roles": []}, "roles"),
])
def test_bad_permissions_are_400_and_change_nothing(admin, scim, body, field):
    ada = scim.create_user("ada@example.com")
    ok(admin.put(f"/tenants/acme/users/{ada['id']}/permissions", {"permissions": ["kept"]}))
    answer = assert_error(admin.put(f"/tenants/acme/users/{ada['id']}/permissions", body), 400, field)
    assert field in answer["errors"]["json"]
    with database.connection_context():
        assert [row.permission for row in UserPermission.select()] == ["kept"]


def test_unknown_user_is_404_and_users_of_other_tenants_are_invisible(admin, scim, make_tenant):
    make_tenant("other")
    ada = scim.create_user("ada@example.com")
    for path in (f"/tenants/other/users/{ada['id']}", f"/tenants/acme/users/{uuid.uuid4()}"):
        assert_error(admin.get(path), 404, "user")
        assert_error(admin.put(path + "/permissions", {"permissions": ["x"]}), 404)
        assert_error(admin.put(path + "/roles", {"roles": []}), 404)
    assert count(UserPermission) == 0
    assert ok(admin.get("/tenants/other/users"))["items"] == []


def test_the_seed_scenario_through_scim_and_the_admin_api(admin, scim):
    """Entra provisions a group with three users; the admin maps it to a role; ..."""
    users = [scim.create_user(f"user{i}@example.com") for i in range(3)]
    loner = scim.create_user("loner@example.com")
    group = scim.create_group("Sales", members=[u["id"] for u in users])
    role = _role(admin, "Sales rep")
    ok(admin.put(f"/tenants/acme/groups/{group['id']}/roles", {"roles": [role["id"]]}))

    def roles_of(user):
        return [r["name"] for r in ok(admin.get(f"/tenants/acme/users/{user['id']}"))["roles"]]

    assert [roles_of(u) for u in users] == [["Sales rep"]] * 3
    scim.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": f'members[value eq "{users[0]["id"]}"]'}])
    assert roles_of(users[0]) == []
    assert roles_of(loner) == []
    assert_error(admin.put(f"/tenants/acme/users/{loner['id']}/roles", {"roles": [role["id"]]}), 409)
    ok(admin.put(f"/tenants/acme/users/{loner['id']}/permissions", {"permissions": ["sales.read"]}))
    scim.patch(f"/Users/{users[1]['id']}", [{"op": "replace", "path": "active", "value": "False"}])
    assert roles_of(users[1]) == []
    assert scim.delete(f"/Users/{users[1]['id']}").status_code == 204
    assert_error(admin.get(f"/tenants/acme/users/{users[1]['id']}"), 404)
    assert roles_of(users[2]) == ["Sales rep"]
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    assert roles_of(users[2]) == []
    assert ok(admin.get("/tenants/acme/groups"))["items"] == []


# -- authentication and scope --------------------------------------------------------------------

GROUP_ID = "11111111-1111-1111-1111-111111111111"
USER_ID = "22222222-2222-2222-2222-222222222222"
ROLE_ID = "33333333-3333-3333-3333-333333333333"

# (method, path under /admin/v1 with {slug}, a valid-looking body)
TENANT_ENDPOINTS = [
    ("GET", "/tenants/{slug}", None),
    ("PATCH", "/tenants/{slug}", {"name": "Hacked"}),
    ("DELETE", "/tenants/{slug}", None),
    ("POST", "/tenants/{slug}/tokens", {"grace_seconds": 0}),
    ("GET", "/tenants/{slug}/roles", None),
    ("POST", "/tenants/{slug}/roles", {"name": "Hacker", "permissions": []}),
    ("GET", "/tenants/{slug}/roles/" + ROLE_ID, None),
    ("PATCH", "/tenants/{slug}/roles/" + ROLE_ID, {"name": "x"}),
    ("DELETE", "/tenants/{slug}/roles/" + ROLE_ID, None),
    ("GET", "/tenants/{slug}/groups", None),
    ("PUT", "/tenants/{slug}/groups/" + GROUP_ID + "/roles", {"roles": []}),
    ("GET", "/tenants/{slug}/users", None),
    ("GET", "/tenants/{slug}/users/" + USER_ID, None),
    ("PUT", "/tenants/{slug}/users/" + USER_ID + "/roles", {"roles": []}),
    ("PUT", "/tenants/{slug}/users/" + USER_ID + "/permissions", {"permissions": []}),
]
ENDPOINTS = [("GET", "/tenants", None), ("POST", "/tenants", {"slug": "new-tenant"}), *TENANT_ENDPOINTS]


def _snapshot() -> tuple:
    with database.connection_context():
        return (
            [(t.slug, t.name, t.enabled) for t in Tenant.select().order_by(Tenant.slug)],
            TenantToken.select().count(), Role.select().count(), GroupRole.select().count(),
            UserRole.select().count(), UserPermission.select().count(),
        )


@pytest.fixture
def credentials(tenant, make_tenant):
    """Every kind of credential that must not get in, and the data they must not change."""
    return {
        "none": None,
        "wrong": "scimgw_admin_" + "x" * 43,
        "garbage": "not-a-key",
        "revoked": make_key("gone", revoked=True),
        "scim token": tenant.token,
        "other tenant's token": make_tenant("other").token,
    }


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_every_endpoint_refuses_missing_wrong_revoked_and_scim_credentials(client, credentials, method, path, body):
    before = _snapshot()
    for label, key in credentials.items():
        response = Admin(client, key).request(method, path.format(slug="acme"), body)
        error = assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), label
        assert set(error) == {"code", "status", "message"}
    assert _snapshot() == before


def test_no_authorization_scheme_but_bearer_is_accepted(client, tenant):
    key = make_key()
    for header in (f"Basic {key}", key, "Bearer", "Bearer "):
        response = client.get("/admin/v1/tenants", headers={"Authorization": header})
        assert_error(response, 401)
    assert client.get("/admin/v1/tenants", headers={"Authorization": f"bearer {key}"}).status_code == 200


@pytest.mark.parametrize("method, path, body", TENANT_ENDPOINTS)
def test_a_scoped_key_gets_404_for_other_tenants_exactly_as_for_missing_ones(client, make_tenant, method, path, body):
    make_tenant("mine"), make_tenant("theirs")
    scoped = Admin(client, make_key("scoped", tenants=["mine", "ghost"]))
    before = _snapshot()
    hidden = scoped.request(method, path.format(slug="theirs"), body)
    missing = scoped.request(method, path.format(slug="nowhere"), body)
    listed_but_missing = scoped.request(method, path.format(slug="ghost"), body)
    assert_error(hidden, 404)
    assert hidden.get_json()["message"].replace("theirs", "X") == missing.get_json()["message"].replace("nowhere", "X")
    assert set(hidden.get_json()) == set(missing.get_json())
    assert_error(listed_but_missing, 404)
    assert _snapshot() == before


def test_a_scoped_key_administers_its_own_tenants(client, make_tenant, scim):
    make_tenant("theirs")
    scoped = Admin(client, make_key("scoped", tenants=["acme"]))
    assert ok(scoped.get("/tenants/acme"))["slug"] == "acme"
    role = ok(scoped.post("/tenants/acme/roles", {"name": "Viewer", "permissions": []}), 201)
    group = scim.create_group("Finance")
    ok(scoped.put(f"/tenants/acme/groups/{group['id']}/roles", {"roles": [role["id"]]}))
    ok(scoped.patch("/tenants/acme", {"name": "Acme (scoped)"}))
    assert stored_tenant("acme").name == "Acme (scoped)"


def test_a_scoped_key_lists_only_its_tenants(client, make_tenant):
    for slug in ("a-one", "b-two", "c-three"):
        make_tenant(slug)
    listed = ok(Admin(client, make_key(tenants=["c-three", "a-one", "gone"])).get("/tenants"))
    assert [t["slug"] for t in listed["items"]] == ["a-one", "c-three"] and listed["total"] == 2
    assert ok(Admin(client, make_key(tenants=[])).get("/tenants")) == {"items": [], "total": 0, "page": 1,
                                                                       "per_page": 50}


def test_a_scoped_key_cannot_create_tenants(client, make_tenant):
    make_tenant("mine")
    scoped = Admin(client, make_key(tenants=["mine"]))
    assert_error(scoped.post("/tenants", {"slug": "new-one"}), 403, "limited")
    assert_error(scoped.post("/tenants", {"slug": "mine"}), 403)
    assert_error(scoped.post("/tenants", {"bogus": True}), 403)  # refused before the body is read
    assert stored_tenant("new-one") is None


def test_revoking_a_key_stops_it_on_the_next_request(client, tenant):
    key = make_key("temp")
    admin = Admin(client, key)
    assert admin.get("/tenants").status_code == 200
    with database.connection_context():
        admin_keys.revoke("temp")
    assert_error(admin.get("/tenants"), 401)


@pytest.mark.parametrize("base", ["/tenants/acme/scim/v2", "/scim/v2"])
def test_scim_refuses_admin_keys(client, tenant, base):
    key = make_key()
    response = client.get(base + "/Users", headers={"Authorization": f"Bearer {key}"})
    assert_scim_error(response, 401)


def test_admin_errors_keep_the_json_shape_for_routing_errors(admin, tenant):
    """Routing errors never reach the blueprint: the Api answers in flask-smorest's shape."""
    for response, status in ((admin.get("/nothing-here"), 404), (admin.request("PUT", "/tenants"), 405)):
        assert response.status_code == status and response.mimetype == "application/json"
        assert response.get_json()["code"] == status and response.get_json()["status"]


def test_admin_requests_close_their_database_connection(admin, tenant):
    ok(admin.get("/tenants/acme"))
    assert database.is_closed()
    assert_error(Admin(admin.client, None).get("/tenants"), 401)
    assert database.is_closed()


# -- OpenAPI ------------------------------------------------------------------------------------

ADMIN_OPERATIONS = {
    "/admin/v1/tenants": {"get", "post"},
    "/admin/v1/tenants/{slug}": {"get", "patch", "delete"},
    "/admin/v1/tenants/{slug}/tokens": {"get", "post"},
    "/admin/v1/tenants/{slug}/tokens/{prefix}": {"delete"},
    "/admin/v1/tenants/{slug}/audit": {"get"},
    "/admin/v1/tenants/{slug}/audit/export": {"get"},
    "/admin/v1/tenants/{slug}/status": {"get"},
    "/admin/v1/tenants/{slug}/roles": {"get", "post"},
    "/admin/v1/tenants/{slug}/roles/{role_id}": {"get", "patch", "delete"},
    "/admin/v1/tenants/{slug}/groups": {"get"},
    "/admin/v1/tenants/{slug}/groups/{group_id}/roles": {"put"},
    "/admin/v1/tenants/{slug}/users": {"get"},
    "/admin/v1/tenants/{slug}/users/{user_id}": {"get"},
    "/admin/v1/tenants/{slug}/users/{user_id}/roles": {"put"},
    "/admin/v1/tenants/{slug}/users/{user_id}/permissions": {"put"},
}


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        target = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def test_openapi_documents_every_admin_operation(client):
    spec = client.get("/openapi.json").get_json()
    admin_paths = {path: ops for path, ops in spec["paths"].items() if path.startswith("/admin/")}
    assert {path: set(ops) - {"parameters"} for path, ops in admin_paths.items()} == ADMIN_OPERATIONS
    assert spec["components"]["securitySchemes"]["adminKey"]["scheme"] == "bearer"
    for path, methods in ADMIN_OPERATIONS.items():
        for method in methods:
            operation = spec["paths"][path][method]
            where = f"{method.upper()} {path}"
            assert operation["security"] == [{"adminKey": []}], where
            assert operation.get("summary"), where
            assert "401" in operation["responses"], where
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert len(success) == 1, where
            if success[0] != "204":
                content = operation["responses"][success[0]]["content"]
                content = content.get("application/json") or content["application/x-ndjson"]  # audit export
                schema = _resolve(spec, content["schema"])
                assert schema.get("properties") or schema.get("items"), where
            if method in ("post", "put", "patch"):
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert _resolve(spec, body)["properties"], where
            if "{slug}" in path:
                assert "404" in operation["responses"], where
    tenant = spec["components"]["schemas"]["Tenant"]["properties"]
    assert set(tenant) == TENANT_KEYS and tenant["tenant_url"]["example"]
    assert set(spec["components"]["schemas"]["Token"]["properties"]) == {"token", "prefix"}
    assert set(spec["components"]["schemas"]["Grant"]["properties"]) == {"id", "name", "granted_by"}
    assert "409" in spec["paths"]["/admin/v1/tenants/{slug}/users/{user_id}/roles"]["put"]["responses"]
    assert "403" in spec["paths"]["/admin/v1/tenants"]["post"]["responses"]
    listing = spec["paths"]["/admin/v1/tenants/{slug}/users"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"page", "per_page", "q"}
