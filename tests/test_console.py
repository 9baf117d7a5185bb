"""The web console, ``/console``, through Flask's test client on a real SQLite file.

Sign-in with admin keys, the scope of a key, CSRF on every form (a refused form changes
nothing), the security headers, the session cookie's flags, and each page doing what the
seed's portal does: Tenant URL and Secret token (shown once), the Enabled toggle, the
Group Mapping list, the role catalog, the Users page with a user's sidebar, the audit log.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import uuid
from html import unescape

import pytest
from tenants import admin_keys, services
from tenants.db import database
from tenants.models import AuditEvent, GroupRole, Role, Tenant, TenantToken, UserPermission

from gateway.app import create_app
from gateway.console import chart
from gateway.console.secret import instance_secret
from gateway.console.security import CONTENT_SECURITY_POLICY

from .conftest import Scim, TenantCredentials, assert_scim_error

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def make_key(name: str | None = None, tenants: list[str] | None = None) -> tuple[str, str]:
    """An admin key made through the service layer: ``(name, secret)``."""
    name = name or f"key-{uuid.uuid4().hex[:8]}"
    with database.connection_context():
        _, secret = admin_keys.create(name, tenants)
    return name, secret


def text(response) -> str:
    return response.get_data(as_text=True)


class Console:
    """A person at the console: the test client with the session cookie it was given."""

    def __init__(self, client):
        self.client = client
        self.csrf = None

    def get(self, path: str, status: int = 200, **kwargs):
        response = self.client.get("/console" + path, **kwargs)
        assert response.status_code == status, text(response)
        match = CSRF.search(text(response))
        if match:
            self.csrf = match.group(1)
        return response

    def post(self, path: str, data: dict | None = None, *, csrf: str | None | bool = True, **kwargs):
        """POST a form; ``csrf=True`` sends the page's token, a string sends that, ``None`` none."""
        data = dict(data or {})
        if csrf is True:
            data["csrf_token"] = self.csrf
        elif csrf is not None:
            data["csrf_token"] = csrf
        return self.client.post("/console" + path, data=data, **kwargs)

    def sign_in(self, key: str):
        self.get("/login")
        response = self.post("/login", {"key": key})
        assert response.status_code == 303, text(response)
        self.get("/")
        return response


@pytest.fixture
def root_key(app):
    """An unscoped admin key ``(name, secret)`` in the test's database."""
    return make_key("root")


@pytest.fixture
def console(client, root_key):
    """Signed in with an unscoped key."""
    person = Console(client)
    person.sign_in(root_key[1])
    return person


def stored_tenant(slug: str) -> Tenant | None:
    with database.connection_context():
        return Tenant.get_or_none(Tenant.slug == slug)


def scim_for(client, slug: str, token: str) -> Scim:
    return Scim(client, TenantCredentials(slug=slug, token=token))


def secret_input(page: str, element_id: str) -> str | None:
    match = re.search(rf'<textarea id="{element_id}"[^>]*>([^<]*)</textarea>', page)
    return unescape(match.group(1)) if match else None


# -- sign-in -------------------------------------------------------------------------------------


PAGES = ["/", "/new-tenant", "/tenants/acme", "/tenants/acme/groups", "/tenants/acme/roles",
         "/tenants/acme/users", "/tenants/acme/audit"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_requires_sign_in(client, tenant, page):
    response = client.get("/console" + page)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login?next=")
    assert "/console" + page in unescape(response.headers["Location"]).replace("%2F", "/")


def test_sign_in_then_back_to_the_page_asked_for(client, tenant, root_key):
    person = Console(client)
    person.get("/login?next=/console/tenants/acme/users")
    response = person.post("/login", {"key": root_key[1], "next": "/console/tenants/acme/users"})
    assert response.status_code == 303 and response.headers["Location"] == "/console/tenants/acme/users"
    assert "Users" in text(person.get("/tenants/acme/users"))


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/admin/v1/tenants",
                                    "/console\\..\\x", "javascript:alert(1)"])
def test_sign_in_never_redirects_out_of_the_console(client, root_key, target):
    person = Console(client)
    person.get("/login")
    response = person.post("/login", {"key": root_key[1], "next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/console/"


@pytest.mark.parametrize("key", ["", "wrong", "scimgw_admin_" + "x" * 43])
def test_a_wrong_key_is_refused(client, key):
    person = Console(client)
    person.get("/login")
    response = person.post("/login", {"key": key})
    assert response.status_code == 401
    assert "not valid" in text(response)
    with client.session_transaction("/console/") as session:
        assert "admin_key_id" not in session
    assert client.get("/console/").status_code == 303


def test_a_tenant_token_is_not_an_admin_key(client, tenant):
    person = Console(client)
    person.get("/login")
    assert person.post("/login", {"key": tenant.token}).status_code == 401


def test_a_revoked_key_is_refused_and_its_session_stops_at_the_next_request(client, tenant):
    name, secret = make_key()
    person = Console(client)
    person.sign_in(secret)
    person.get("/tenants/acme")
    with database.connection_context():
        admin_keys.revoke(name)
    # a form posted with the old session's valid CSRF token changes nothing
    response = person.post("/tenants/acme/enabled", {"enabled": "0"})
    assert response.status_code == 303 and response.headers["Location"].startswith("/console/login")
    assert stored_tenant("acme").enabled is True
    response = client.get("/console/tenants/acme")
    assert response.status_code == 303 and response.headers["Location"].startswith("/console/login")
    page = text(person.get("/login"))
    assert "revoked" in page
    fresh = Console(client)
    fresh.get("/login")
    assert fresh.post("/login", {"key": secret}).status_code == 401


def test_the_session_holds_the_key_id_never_the_key(client, root_key):
    person = Console(client)
    response = person.sign_in(root_key[1])
    cookie = response.headers["Set-Cookie"]
    assert root_key[1] not in cookie
    with client.session_transaction("/console/") as session:
        with database.connection_context():
            key_id = admin_keys.authenticate(root_key[1]).id
        assert session["admin_key_id"] == key_id
        assert root_key[1] not in repr(dict(session))


def test_sign_out_ends_the_session(console, client):
    response = console.post("/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/console/login"
    assert client.get("/console/").status_code == 303


def test_an_expired_sign_in_must_sign_in_again(console, client):
    with client.session_transaction("/console/") as session:
        session["since"] -= 13 * 3600
    assert client.get("/console/").status_code == 303


# -- every page renders ----------------------------------------------------------------------------


def test_every_page_renders_for_an_admin(console, client, tenant):
    scim = Scim(client, tenant)
    ann = scim.create_user("ann@acme.example", name={"givenName": "Ann", "familyName": "Lee"})
    scim.create_group("Sales", [ann["id"]])
    for page in PAGES:
        body = text(console.get(page))
        assert "<h1" in body and "Sign out" in body, page
    assert "acme" in text(console.get("/"))
    body = text(console.get(f"/tenants/acme/users?user={ann['id']}"))
    assert "ann@acme.example" in body and 'id="user-panel"' in body and "Sales" in body
    console.get("/tenants/acme/users?user=nope", status=404)
    console.get("/tenants/nope", status=404)


def test_tenant_list_shows_status(console, client, make_tenant):
    acme = make_tenant("acme")
    make_tenant("globex")
    scim = Scim(client, acme)
    scim.create_user("ann@acme.example")
    bob = scim.create_user("bob@acme.example")
    scim.patch(f"/Users/{bob['id']}", [{"op": "replace", "path": "active", "value": False}])
    with database.connection_context():
        services.set_enabled("globex", False)
    body = text(console.get("/"))
    rows = {slug: body[body.index(f">{slug}</a>"):] for slug in ("acme", "globex")}
    acme_row = rows["acme"][:rows["acme"].index("</tr>")]
    globex_row = rows["globex"][:rows["globex"].index("</tr>")]
    assert "On" in acme_row and 'class="num">2 <span class="muted">(1 disabled)' in acme_row
    assert "Off" in globex_row


def test_pages_are_paged(console, client, tenant):
    scim = Scim(client, tenant)
    for index in range(5):
        scim.create_user(f"user{index}@acme.example")
    first = text(console.get("/tenants/acme/users?per_page=2"))
    assert "user0@acme.example" in first and "user2@acme.example" not in first
    assert "page 1 of 3" in first and 'rel="next"' in first
    third = text(console.get("/tenants/acme/users?per_page=2&page=3"))
    assert "user4@acme.example" in third and 'rel="prev"' in third
    found = text(console.get("/tenants/acme/users?q=USER3"))
    assert "user3@acme.example" in found and "user1@acme.example" not in found
    assert "No user matches" in text(console.get("/tenants/acme/users?q=nobody"))
    # nonsense paging falls back to the first page
    assert "user0@acme.example" in text(console.get("/tenants/acme/users?page=x&per_page=-1"))


# -- tenants, tokens, the Enabled toggle ------------------------------------------------------------


def test_create_tenant_shows_url_and_token_once(console, client):
    console.get("/new-tenant")
    response = console.post("/new-tenant", {"slug": "contoso", "name": "Contoso Ltd"})
    assert response.status_code == 201
    page = text(response)
    url = secret_input(page, "tenant-url")
    token = secret_input(page, "secret-token")
    assert url == "http://localhost/tenants/contoso/scim/v2"
    assert token and "shown only this once" in page
    assert response.headers["Cache-Control"] == "no-store"
    tenant = stored_tenant("contoso")
    assert tenant.name == "Contoso Ltd" and tenant.enabled
    assert scim_for(client, "contoso", token).get("/Users").status_code == 200
    for path in ("/", "/tenants/contoso", "/tenants/contoso/users", "/tenants/contoso/audit"):
        assert token not in text(console.get(path))


@pytest.mark.parametrize("slug, message", [("Bad Slug", "Invalid tenant slug"), ("acme", "already exists")])
def test_create_tenant_refusals_say_why(console, tenant, slug, message):
    console.get("/new-tenant")
    response = console.post("/new-tenant", {"slug": slug})
    assert response.status_code == 400 and message in unescape(text(response))
    with database.connection_context():
        assert Tenant.select().count() == 1


def test_tenant_page_is_the_seed_sidebar(console, tenant):
    page = text(console.get("/tenants/acme"))
    assert secret_input(page, "tenant-url") == "http://localhost/tenants/acme/scim/v2"
    assert 'id="rotate-token"' in page and ">Rotate<" in page
    assert 'id="enabled-toggle"' in page and 'aria-checked="true"' in page
    assert "Provisioning status" in page and "<svg" in page and "last 24 hours" in page
    assert 'id="secret-token"' not in page
    assert tenant.token not in page


def test_generate_when_no_token_is_current(console, tenant):
    with database.connection_context():
        TenantToken.update(revoked=dt.datetime(2020, 1, 1)).execute()
    assert ">Generate<" in text(console.get("/tenants/acme"))


def test_rotating_the_token_shows_the_new_one_once(console, client, tenant):
    console.get("/tenants/acme")
    response = console.post("/tenants/acme/token", {"grace": "0"})
    assert response.status_code == 200
    new = secret_input(text(response), "secret-token")
    assert new and new != tenant.token
    assert response.headers["Cache-Control"] == "no-store"
    assert scim_for(client, "acme", new).get("/Users").status_code == 200
    assert_scim_error(scim_for(client, "acme", tenant.token).get("/Users"), 401)
    for path in ("/tenants/acme", "/", "/tenants/acme/audit"):
        assert new not in text(console.get(path))


def test_rotating_with_a_grace_period_keeps_the_old_token_for_a_while(console, client, tenant):
    console.get("/tenants/acme")
    response = console.post("/tenants/acme/token", {"grace": "3600"})
    new = secret_input(text(response), "secret-token")
    assert scim_for(client, "acme", new).get("/Users").status_code == 200
    assert scim_for(client, "acme", tenant.token).get("/Users").status_code == 200
    with database.connection_context():
        expiries = [row.expires for row in TenantToken.select().order_by(TenantToken.created)]
    assert expiries[0] is not None and expiries[1] is None


def test_rotating_with_a_bad_grace_is_refused(console, tenant):
    console.get("/tenants/acme")
    response = console.post("/tenants/acme/token", {"grace": "-5"})
    assert response.status_code == 400 and 'id="secret-token"' not in text(response)
    with database.connection_context():
        assert TenantToken.select().count() == 1


def test_the_enabled_toggle_makes_scim_answer_403(console, scim):
    assert scim.get("/Users").status_code == 200
    console.get("/tenants/acme")
    response = console.post("/tenants/acme/enabled", {"enabled": "0"})
    assert response.status_code == 303 and response.headers["Location"] == "/console/tenants/acme"
    assert stored_tenant("acme").enabled is False
    assert_scim_error(scim.get("/Users"), 403)
    page = text(console.get("/tenants/acme"))
    assert 'aria-checked="false"' in page and "Provisioning disabled" in page
    console.post("/tenants/acme/enabled", {"enabled": "1"})
    assert scim.get("/Users").status_code == 200


def test_the_enabled_toggle_needs_a_value(console, tenant):
    console.get("/tenants/acme")
    assert console.post("/tenants/acme/enabled", {"enabled": "maybe"}).status_code == 400
    assert stored_tenant("acme").enabled is True


# -- roles, group mapping, users --------------------------------------------------------------------


def provision(client, tenant) -> tuple[dict, dict, dict]:
    scim = Scim(client, tenant)
    ann = scim.create_user("ann@acme.example", name={"givenName": "Ann", "familyName": "Lee"})
    bob = scim.create_user("bob@acme.example")
    group = scim.create_group("Helpdesk", [ann["id"], bob["id"]])
    return ann, bob, group


def role_id(name: str) -> str:
    with database.connection_context():
        return Role.get(Role.name == name).id


def test_create_role_with_permissions(console, tenant):
    console.get("/tenants/acme/roles")
    response = console.post("/tenants/acme/roles", {"name": "Report viewer", "description": "reads",
                                                    "permissions": "reports.read\nreports.export, reports.read"})
    assert response.status_code == 303
    with database.connection_context():
        role = Role.get(Role.name == "Report viewer")
    assert role.permissions == ["reports.export", "reports.read"] and role.description == "reads"
    page = text(console.get("/tenants/acme/roles"))
    assert "Report viewer" in page and "reports.export" in page


@pytest.mark.parametrize("form, status, message", [
    ({"name": "", "permissions": ""}, 400, "needs a name"),
    ({"name": "Ops", "permissions": "bad permission!"}, 400, "Invalid permission"),
    ({"name": "taken", "permissions": ""}, 409, "already exists"),
])
def test_role_refusals_say_why_and_change_nothing(console, tenant, form, status, message):
    with database.connection_context():
        from tenants import roles as catalog
        catalog.create_role(Tenant.get(Tenant.slug == "acme"), "Taken")
    console.get("/tenants/acme/roles")
    response = console.post("/tenants/acme/roles", form)
    assert response.status_code == status and message in unescape(text(response))
    with database.connection_context():
        assert Role.select().count() == 1


def test_delete_role(console, tenant):
    console.get("/tenants/acme/roles")
    console.post("/tenants/acme/roles", {"name": "Ops"})
    console.get("/tenants/acme/roles")
    assert console.post(f"/tenants/acme/roles/{role_id('Ops')}/delete").status_code == 303
    with database.connection_context():
        assert Role.select().count() == 0


def test_group_mapping_maps_a_role_and_the_user_sidebar_shows_it(console, client, tenant):
    ann, bob, group = provision(client, tenant)
    console.get("/tenants/acme/roles")
    console.post("/tenants/acme/roles", {"name": "Technician", "permissions": "devices.manage"})
    console.post("/tenants/acme/roles", {"name": "Auditor", "permissions": "logs.read"})
    page = text(console.get("/tenants/acme/groups"))
    assert "Helpdesk" in page and f'id="roles-{group["id"]}"' in page and "Technician" in page
    response = console.post(f"/tenants/acme/groups/{group['id']}/roles",
                            {"roles": [role_id("Technician"), role_id("Auditor")]})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#group-{group['id']}")
    with database.connection_context():
        mapped = {row.role_id for row in GroupRole.select().where(GroupRole.group == group["id"])}
    assert mapped == {role_id("Technician"), role_id("Auditor")}
    page = text(console.get("/tenants/acme/groups"))
    assert re.search(rf'value="{role_id("Technician")}" selected', page)

    panel = text(console.get(f"/tenants/acme/users?user={ann['id']}"))
    roles = panel[panel.index('id="user-roles"'):panel.index("</ul>", panel.index('id="user-roles"'))]
    assert "Technician" in roles and "Auditor" in roles and "Helpdesk" in roles
    assert "cannot be added by hand" in panel

    # unmapping: no role selected
    console.post(f"/tenants/acme/groups/{group['id']}/roles", {})
    with database.connection_context():
        assert GroupRole.select().count() == 0
    assert 'id="user-roles"' not in text(console.get(f"/tenants/acme/users?user={ann['id']}"))


def test_group_mapping_refuses_an_unknown_role_and_changes_nothing(console, client, tenant):
    _, _, group = provision(client, tenant)
    console.get("/tenants/acme/groups")
    response = console.post(f"/tenants/acme/groups/{group['id']}/roles", {"roles": ["not-a-role"]})
    assert response.status_code == 400 and "No such roles" in text(response)
    assert console.post("/tenants/acme/groups/nope/roles", {}).status_code == 404
    with database.connection_context():
        assert GroupRole.select().count() == 0


def test_permissions_form_sets_individual_permissions(console, client, tenant):
    ann, _, _ = provision(client, tenant)
    console.get(f"/tenants/acme/users?user={ann['id']}")
    response = console.post(f"/tenants/acme/users/{ann['id']}/permissions",
                            {"permissions": "reports.export\ntickets.close"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"user={ann['id']}#user-panel")
    with database.connection_context():
        stored = sorted(row.permission for row in UserPermission.select().where(UserPermission.user == ann["id"]))
    assert stored == ["reports.export", "tickets.close"]
    panel = text(console.get(f"/tenants/acme/users?user={ann['id']}"))
    assert "reports.export\ntickets.close</textarea>" in panel
    # a malformed permission: refused with a message, nothing changed
    console.post(f"/tenants/acme/users/{ann['id']}/permissions", {"permissions": "no spaces allowed!"})
    panel = text(console.get(f"/tenants/acme/users?user={ann['id']}"))
    assert "Invalid permission" in unescape(panel)
    with database.connection_context():
        assert UserPermission.select().count() == 2
    # clearing
    console.post(f"/tenants/acme/users/{ann['id']}/permissions", {"permissions": ""})
    with database.connection_context():
        assert UserPermission.select().count() == 0


def test_roles_cannot_be_given_by_hand_in_the_console(console, client, tenant):
    ann, _, _ = provision(client, tenant)
    panel = text(console.get(f"/tenants/acme/users?user={ann['id']}"))
    assert 'name="roles"' not in panel
    assert client.post(f"/console/tenants/acme/users/{ann['id']}/roles",
                       data={"csrf_token": console.csrf}).status_code in (404, 405)


# -- scope -----------------------------------------------------------------------------------------


def test_a_scoped_key_sees_only_its_tenants(client, make_tenant):
    make_tenant("acme")
    globex = make_tenant("globex")
    _, secret = make_key("tech", ["acme"])
    person = Console(client)
    person.sign_in(secret)
    listing = text(person.get("/"))
    assert ">acme</a>" in listing and "globex" not in listing and "limited to 1 tenant" in listing
    assert "New tenant" not in listing
    for page in ("", "/groups", "/roles", "/users", "/audit"):
        person.get("/tenants/globex" + page, status=404)
        person.get("/tenants/acme" + page)
    assert person.post("/tenants/globex/enabled", {"enabled": "0"}).status_code == 404
    assert person.post("/tenants/globex/token", {"grace": "0"}).status_code == 404
    assert person.post("/tenants/globex/roles", {"name": "Sneaky"}).status_code == 404
    assert stored_tenant("globex").enabled is True
    assert scim_for(client, "globex", globex.token).get("/Users").status_code == 200
    with database.connection_context():
        assert Role.select().count() == 0
    person.get("/new-tenant", status=403)
    assert person.post("/new-tenant", {"slug": "initech"}).status_code == 403
    assert stored_tenant("initech") is None
    # the same 404 as a tenant that does not exist
    assert text(person.get("/tenants/globex", status=404)).replace("globex", "X") == \
        text(person.get("/tenants/nosuch", status=404)).replace("nosuch", "X")


# -- CSRF ------------------------------------------------------------------------------------------


def csrf_cases(client, tenant):
    ann, _, group = provision(client, tenant)
    with database.connection_context():
        from tenants import roles as catalog
        role = catalog.create_role(Tenant.get(Tenant.slug == "acme"), "Existing")
    return [
        ("/tenants/acme/enabled", {"enabled": "0"}),
        ("/tenants/acme/token", {"grace": "0"}),
        ("/new-tenant", {"slug": "initech"}),
        ("/tenants/acme/roles", {"name": "Sneaky", "permissions": "x"}),
        (f"/tenants/acme/roles/{role.id}/delete", {}),
        (f"/tenants/acme/groups/{group['id']}/roles", {"roles": [role.id]}),
        (f"/tenants/acme/users/{ann['id']}/permissions", {"permissions": "x.y"}),
        ("/logout", {}),
    ]


def snapshot() -> tuple:
    with database.connection_context():
        return (
            [(t.slug, t.enabled, t.updated) for t in Tenant.select().order_by(Tenant.slug)],
            TenantToken.select().count(),
            sorted((r.name, tuple(r.permissions)) for r in Role.select()),
            GroupRole.select().count(),
            UserPermission.select().count(),
            AuditEvent.select().count(),
        )


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_forms_without_the_csrf_token_are_refused_and_change_nothing(console, client, tenant, token):
    cases = csrf_cases(client, tenant)
    before = snapshot()
    for path, form in cases:
        response = console.post(path, form, csrf=token)
        assert response.status_code == 400, path
        assert "security token" in text(response)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert snapshot() == before
    assert client.get("/console/").status_code == 200  # still signed in: logout was refused too


def test_the_token_of_another_session_is_refused(client, tenant, root_key):
    other = Console(client.application.test_client())
    other.sign_in(root_key[1])
    person = Console(client)
    person.sign_in(root_key[1])
    assert person.csrf != other.csrf
    assert person.post("/tenants/acme/enabled", {"enabled": "0"}, csrf=other.csrf).status_code == 400
    assert stored_tenant("acme").enabled is True


def test_sign_in_form_needs_the_csrf_token(client, root_key):
    person = Console(client)
    person.get("/login")
    assert person.post("/login", {"key": root_key[1]}, csrf=None).status_code == 400
    assert person.post("/login", {"key": root_key[1]}, csrf="forged").status_code == 400
    assert client.get("/console/").status_code == 303


def test_signing_in_gives_a_new_csrf_token(client, root_key):
    person = Console(client)
    person.get("/login")
    before = person.csrf
    person.sign_in(root_key[1])
    assert person.csrf != before


# -- headers and cookie ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/", "/tenants/acme", "/tenants/acme/groups", "/tenants/acme/users",
                                  "/tenants/acme/audit", "/tenants/nope", "/static/console.css"])
def test_security_headers_on_console_responses(console, tenant, path):
    response = console.client.get("/console" + path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (path, name)
    if path != "/static/console.css":
        assert response.headers["Cache-Control"] == "no-store"
        body = text(response)
        assert "<script" not in body and " style=" not in body and "<style" not in body
        assert "http://" not in body.replace("http://localhost", "").replace("http://www.w3.org/2000/svg", "")


def test_security_headers_on_redirects_and_refusals(client):
    for response in (client.get("/console/"), client.post("/console/logout")):
        assert response.status_code in (303, 400)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value


def cookie_of(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("scim_gateway_console=")]
    assert cookies, response.headers
    return cookies[-1]


def test_cookie_is_httponly_samesite_and_not_secure_over_http(client, root_key):
    response = client.get("/console/login")
    cookie = cookie_of(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    person = Console(client)
    person.get("/login")
    signed_in = cookie_of(person.post("/login", {"key": root_key[1]}))
    assert "HttpOnly" in signed_in and "SameSite=Lax" in signed_in and "Secure" not in signed_in


def test_cookie_is_secure_over_https(app, root_key):
    client = app.test_client()
    response = client.get("/console/login", base_url="https://localhost")
    assert "Secure" in cookie_of(response).split("; ")
    token = CSRF.search(text(response)).group(1)
    signed_in = client.post("/console/login", data={"key": root_key[1], "csrf_token": token},
                            base_url="https://localhost")
    assert signed_in.status_code == 303
    cookie = cookie_of(signed_in)
    assert "Secure" in cookie.split("; ") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/console/", base_url="https://localhost").status_code == 200
    env = app.test_client().get("/console/login", environ_overrides={"wsgi.url_scheme": "https"})
    assert "Secure" in cookie_of(env).split("; ")


def test_no_session_cookie_outside_the_console(client, tenant, root_key):
    scim = Scim(client, tenant)
    for response in (scim.get("/Users"), client.get("/healthz"),
                     client.get("/admin/v1/tenants", headers={"Authorization": f"Bearer {root_key[1]}"})):
        assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("scim_gateway_console")]


# -- the secret key --------------------------------------------------------------------------------


def test_secret_key_is_made_once_per_instance_folder(tmp_path):
    folder = tmp_path / "instance"
    first = instance_secret(str(folder))
    assert len(first) == 64
    mode = stat.S_IMODE(os.stat(folder / "secret_key").st_mode)
    assert mode == 0o600
    assert instance_secret(str(folder)) == first
    assert [p.name for p in folder.iterdir()] == ["secret_key"]


def test_secret_key_from_the_environment(monkeypatch, database_url):
    monkeypatch.setenv("SCIM_GATEWAY_SECRET_KEY", "from-the-environment")
    application = create_app({"TESTING": True, "DATABASE_URL": database_url})
    assert application.config["SECRET_KEY"] == "from-the-environment"


def test_secret_key_is_shared_by_every_app_of_an_instance(database_url, root_key, tmp_path):
    first = create_app({"TESTING": True, "DATABASE_URL": database_url})
    second = create_app({"TESTING": True, "DATABASE_URL": database_url})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    person = Console(first.test_client())
    person.sign_in(root_key[1])
    cookie = person.client.get_cookie("scim_gateway_console", path="/console")
    other = second.test_client()
    other.set_cookie("scim_gateway_console", cookie.value, path="/console")
    assert other.get("/console/").status_code == 200


# -- the chart -------------------------------------------------------------------------------------


def test_chart_fills_gaps_with_zero_and_ignores_points_outside_the_window():
    now = dt.datetime(2026, 11, 29, 12, 30, 45)
    series = [(dt.datetime(2026, 11, 29, 12, 30), 7, 2), (dt.datetime(2026, 11, 29, 12, 0), 3, 0),
              (dt.datetime(2026, 11, 28, 12, 31), 1, 1), (dt.datetime(2026, 11, 28, 12, 30), 99, 99),
              (dt.datetime(2026, 11, 29, 12, 31), 99, 99)]
    start, requests, errors = chart.fill(series, now, 1440)
    assert start == dt.datetime(2026, 11, 28, 12, 31)
    assert len(requests) == len(errors) == 1440
    assert requests[-1] == 7 and errors[-1] == 2 and requests[-31] == 3 and requests[0] == 1
    assert sum(requests) == 11 and sum(errors) == 3


def test_chart_svg_has_axes_labels_and_both_series():
    now = dt.datetime(2026, 11, 29, 12, 30, tzinfo=dt.timezone.utc)
    svg, totals = chart.render([(dt.datetime(2026, 11, 29, 12, 29), 40, 5)], now)
    assert (totals.requests, totals.errors, totals.peak) == (40, 5, 40)
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert 'class="chart-requests"' in svg and 'class="chart-errors"' in svg
    assert ">50</text>" in svg and ">0</text>" in svg  # y axis rounded up to 50
    assert ">15:00</text>" in svg and ">12:00</text>" in svg and "time (UTC)" in svg
    empty, totals = chart.render([], now)
    assert totals.requests == 0 and "chart-requests" not in empty and ">1</text>" in empty


@pytest.mark.parametrize("value, expected", [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (11, 20), (40, 50),
                                             (100, 100), (101, 200), (4999, 5000)])
def test_chart_axis_rounds_up(value, expected):
    assert chart.nice_ceiling(value) == expected


def test_tenant_page_status_and_chart_count_scim_requests(console, client, scim):
    for _ in range(3):
        scim.get("/Users")
    scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "not-an-email"})
    page = text(console.get("/tenants/acme"))
    assert page.count("<svg") == 2  # the last 24 hours, and the last hour in detail
    for chart_id in ("chart-day", "chart-hour"):
        figure = page[page.index(f'id="{chart_id}"'):]
        figure = figure[:figure.index("</figure>")]
        assert 'class="chart-requests"' in figure and 'class="chart-errors"' in figure
        assert re.search(r"4 requests,\s+1 error\s", figure), figure[-400:]
    stats = page[page.index('class="stats"'):page.index("</dl>")]
    assert re.search(r"Requests \(24 h\)</dt><dd>4<", stats) and re.search(r"Errors \(24 h\)</dt><dd[^>]*>1<", stats)
    assert "UTC (" in stats  # the last SCIM request, with how long ago


# -- the audit log ---------------------------------------------------------------------------------


def audit_rows(tenant_slug: str = "acme") -> list[AuditEvent]:
    with database.connection_context():
        return list(AuditEvent.select().where(AuditEvent.tenant_slug == tenant_slug).order_by(AuditEvent.id))


def test_console_changes_are_audited_with_the_key_and_the_request_id(console, client, tenant):
    ann, _, group = provision(client, tenant)
    console.get("/tenants/acme")
    responses = [
        console.post("/tenants/acme/enabled", {"enabled": "0"}),
        console.post("/tenants/acme/token", {"grace": "60"}),
        console.post("/tenants/acme/roles", {"name": "Technician", "permissions": "devices.manage"}),
    ]
    responses.append(console.post(f"/tenants/acme/groups/{group['id']}/roles", {"roles": [role_id("Technician")]}))
    responses.append(console.post(f"/tenants/acme/users/{ann['id']}/permissions", {"permissions": "reports.read"}))
    responses.append(console.post(f"/tenants/acme/roles/{role_id('Technician')}/delete"))
    admin_events = [row for row in audit_rows() if row.actor.startswith("admin:")]
    assert [(row.actor, row.action, row.resource_type) for row in admin_events] == [
        ("admin:root", "tenant_updated", "Tenant"),
        ("admin:root", "token_issued", "Token"),
        ("admin:root", "role_created", "Role"),
        ("admin:root", "role_mapped", "Group"),
        ("admin:root", "permissions_set", "User"),
        ("admin:root", "role_deleted", "Role"),
    ]
    assert [row.request_id for row in admin_events] == [r.headers["X-Request-ID"] for r in responses]
    assert admin_events[0].summary == {"fields": ["enabled"], "enabled": False}
    assert admin_events[1].summary == {"grace_seconds": 60}
    assert admin_events[4].summary == {"permissions": ["reports.read"]} and admin_events[4].resource_id == ann["id"]
    new_token = secret_input(text(responses[1]), "secret-token")
    assert all(new_token not in repr(row.summary) and new_token != row.resource_id for row in audit_rows())

    console.get("/new-tenant")
    console.post("/new-tenant", {"slug": "contoso"})
    created = audit_rows("contoso")
    assert [(row.actor, row.action, row.resource_id) for row in created] == \
        [("admin:root", "tenant_created", "contoso")]


def test_refused_console_changes_leave_no_audit_event(console, tenant):
    before = len(audit_rows())
    console.get("/tenants/acme/roles")
    console.post("/tenants/acme/roles", {"name": "", "permissions": ""})
    console.post("/tenants/acme/token", {"grace": "-1"})
    console.get("/new-tenant")
    console.post("/new-tenant", {"slug": "acme"})
    assert len(audit_rows()) == before


def test_audit_page_is_newest_first_with_names_and_filters(console, client, tenant):
    ann, bob, group = provision(client, tenant)
    console.get("/tenants/acme/roles")
    console.post("/tenants/acme/roles", {"name": "Technician"})
    console.post(f"/tenants/acme/groups/{group['id']}/roles", {"roles": [role_id("Technician")]})
    page = text(console.get("/tenants/acme/audit"))
    table = page[page.index('id="audit-events"'):page.index("</table>")]
    actions = re.findall(r"<td><code>([a-z_]+)</code></td>", table)
    assert actions == ["role_mapped", "role_created", "create", "create", "create"]
    assert "Helpdesk" in table and "ann@acme.example" in table  # resources by name, not only by id
    assert "roles: Technician" in table  # role ids in summaries by name
    assert "token:" + tenant.token[:12] in table and tenant.token not in page

    by_key = text(console.get("/tenants/acme/audit?actor=root"))  # "root" means admin:root
    assert re.findall(r"<td><code>([a-z_]+)</code></td>", by_key) == ["role_mapped", "role_created"]
    assert 'value="root"' in by_key
    by_token = text(console.get(f"/tenants/acme/audit?actor={tenant.token[:12]}"))
    assert re.findall(r"<td><code>([a-z_]+)</code></td>", by_token) == ["create", "create", "create"]
    by_type = text(console.get("/tenants/acme/audit?resource=user"))
    assert re.findall(r"<td><code>([a-z_]+)</code></td>", by_type) == ["create", "create"]
    by_id = text(console.get(f"/tenants/acme/audit?resource={group['id']}"))
    assert re.findall(r"<td><code>([a-z_]+)</code></td>", by_id) == ["role_mapped", "create"]
    assert "No event matches" in text(console.get("/tenants/acme/audit?actor=nobody"))

    paged = text(console.get("/tenants/acme/audit?per_page=2&page=2"))
    assert re.findall(r"<td><code>([a-z_]+)</code></td>", paged) == ["create", "create"]
    assert "page 2 of 3" in paged
