"""Tenant isolation: every SCIM and admin route and method, tried by every kind of intruder.

One victim tenant, ``zephyr-corp`` (tenant B), holds users, groups, a role, a group mapping,
individual permissions, audit events and three tokens (one current, one rotated out with a
grace of zero, one revoked). Against each route and method of the ``app.url_map`` under
``/tenants/<tenant>/scim/v2``, ``/scim/v2`` and ``/admin/v1`` (the meta-test fails when a
rule or method has no entry in :data:`SCIM_CALLS` or :data:`ADMIN_CALLS`):

* **refused** intruders name B's slug and B's resource ids and must get exactly their status:
  another tenant's valid token on B's Tenant URL (401), B's expired and revoked tokens on
  B's URL and on the shared URL (401), a disabled tenant's token (403 on the shared URL and
  on its own Tenant URL, 401 on B's), a revoked admin key (401), B's SCIM token as an admin
  key (401), and an admin key scoped to tenant A on B's routes (404; 403 for creating a
  tenant; only A in the tenant list);
* **probing** intruders hold valid credentials of their own tenant (a fresh one per test)
  and put B's ids, userNames, displayNames, role ids and token prefixes in their own
  routes, filters, searches, member references and Bulk operations: each call's status is
  fixed in the matrix (404 for B's ids, 400 for B's users as members or B's roles in a
  mapping, empty results for filters on B's values, 201 for re-using B's names, because
  uniqueness is per tenant), and the answer is the same as for made-up values that never
  existed, so nothing can tell that B's resources exist.

Every answer is checked for B's bytes (slug, name, mail domain, ids, userNames, names,
displayNames, role names and permissions, token prefixes) in the body and in every header
value, except values the intruder itself sent; every error is the route family's error body
(SCIM for ``/scim/v2``, flask-smorest's JSON for ``/admin/v1``); and B's rows in every table
(found through the foreign keys to ``tenant``) are, after every test, what they were once set up.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Callable

import pytest

from gateway.app import create_app
from tenants import admin_keys, services, stats
from tenants import roles as catalog
from tenants.db import database
from tenants.models import BaseModel, Tenant
from tenants.repositories import GroupRepository, UserRepository

from .conftest import PATCH_SCHEMA, Scim, TenantCredentials, assert_scim_error
from .test_admin_api import assert_error

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SCIM_PREFIXES = ("/tenants/<tenant>/scim/v2", "/scim/v2")
ADMIN_PREFIX = "/admin/v1"

VICTIM = "zephyr-corp"
VICTIM_NAME = "Zephyr Confidential Ltd"
VICTIM_DOMAIN = "zephyrmail.example"
VICTIM_SETTINGS = {"plugins": {
    "domain-policy": {"enabled": True, "options": {"allowed_domains": [VICTIM_DOMAIN]}},
    "attribute-mapping": {"options": {"user_attributes": ["title"]}},
}}


# --- what a request names -------------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    """The resources a call names: one tenant's real ones, or made-up ones (a ghost)."""

    slug: str
    user: str
    user_name: str
    external_id: str
    given_name: str
    group: str
    group_name: str
    role: str
    role_name: str
    token_prefix: str
    tag: str  # makes the names a call creates unique to one run

    def pairs(self, other: Ids) -> list[tuple[str, str]]:
        """``(own value, other's value)`` of each field, longest first (for substitution)."""
        mine, theirs = vars(self), vars(other)
        return sorted(((mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]), key=lambda p: -len(p[0]))


def _random(length: int = 10) -> str:
    return uuid.uuid4().hex[:length]


def ghost() -> Ids:
    """Values no tenant has, shaped like real ones: what each call is compared with."""
    return Ids(slug=f"ghost-{_random(8)}", user=str(uuid.uuid4()), user_name=f"g{_random()}@{VICTIM_DOMAIN}",
               external_id=f"gx-{_random()}", given_name=f"Gn{_random(8)}", group=str(uuid.uuid4()),
               group_name=f"Gg {_random()}", role=str(uuid.uuid4()), role_name=f"Gr {_random()}",
               token_prefix=f"scimgw_{_random(5)}", tag=_random(8))


@dataclass(frozen=True)
class Call:
    """One request of the matrix, below the route family's base (SCIM base or ``/admin/v1``).

    ``expect`` is what a probing intruder gets (its own valid credential, B's values);
    ``scim_type`` the error's scimType; ``check`` asserts more about a successful body.
    """

    path: str
    body: object = None
    query: dict | None = None
    expect: int = 200
    scim_type: str | None = None
    check: Callable[[dict, Ids], None] | None = None

    def text(self) -> str:
        """Everything the intruder sends in this call (what an answer may echo back)."""
        return f"{self.path} {json.dumps(self.query)} {json.dumps(self.body)}"


Builder = Callable[[Ids, Ids], list[Call]]  # (target's values, own tenant's values) -> calls


# --- checks on successful bodies ------------------------------------------------------------


def empty_list(body: dict, own: Ids) -> None:
    """A ListResponse with nothing in it."""
    assert body["totalResults"] == 0 and not body.get("Resources"), body


def own_users(body: dict, own: Ids) -> None:
    """A ListResponse holding the intruder's own user and nobody else's."""
    assert [r["id"] for r in body["Resources"]] == [own.user], body


def own_groups(body: dict, own: Ids) -> None:
    """A ListResponse holding the intruder's own group only."""
    assert [r["id"] for r in body["Resources"]] == [own.group], body


def own_members(body: dict, own: Ids) -> None:
    """A group whose members are the intruder's own user only."""
    assert [m["value"] for m in body["members"]] == [own.user], body


def own_ids(body: dict, own: Ids) -> None:
    """A root search answer holding the intruder's own user and group only."""
    assert sorted(r["id"] for r in body["Resources"]) == sorted([own.user, own.group]), body


def bulk_statuses(*statuses: int):
    """A BulkResponse whose operations answered ``statuses``, in order."""

    def check(body: dict, own: Ids) -> None:
        assert [int(op["status"]) for op in body["Operations"]] == list(statuses), body

    return check


def created_as_new(taken_id: str):
    """A created resource with an id of its own, not the ``id`` the client sent."""

    def check(body: dict, own: Ids) -> None:
        assert body["id"] != taken_id, body

    return check


def empty_page(body: dict, own: Ids) -> None:
    """An admin page with nothing in it."""
    assert body["total"] == 0 and body["items"] == [], body


def own_page(body: dict, own: Ids) -> None:
    """An admin page listing something, all of it the intruder's own tenant's."""
    keys = {item.get("slug") or item.get("id") for item in body["items"]}
    assert keys and keys <= {own.slug, own.user, own.group}, body


# --- the SCIM matrix --------------------------------------------------------------------------


def _user(t: Ids, **extra) -> dict:
    return {"schemas": [USER_SCHEMA], "userName": t.user_name, "externalId": t.external_id,
            "name": {"givenName": t.given_name, "familyName": "Probe"}, **extra}


def _group(name: str, *members: str) -> dict:
    return {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": m} for m in members]}


def _patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def _search(filter_text: str, **extra) -> dict:
    return {"schemas": [SEARCH_SCHEMA], "filter": filter_text, **extra}


def _user_filters(t: Ids) -> list[str]:
    return [f'id eq "{t.user}"', f'userName eq "{t.user_name}"', f'userName sw "{t.user_name[:7]}"',
            f'externalId eq "{t.external_id}"', f'name.givenName eq "{t.given_name}"',
            f'userName eq "{t.user_name.upper()}" or id eq "{t.user}"', f'groups.value eq "{t.group}"']


def _group_filters(t: Ids) -> list[str]:
    return [f'id eq "{t.group}"', f'displayName eq "{t.group_name}"', f'members.value eq "{t.user}"',
            f'members[value eq "{t.user}"]', f'members.display eq "{t.user_name}"']


def _bulk(t: Ids, o: Ids) -> dict:
    """Bulk operations naming ``t``'s resources, beside a bulkId chain in the own tenant."""
    return {"schemas": [BULK_SCHEMA], "Operations": [
        {"method": "PATCH", "path": f"/Users/{t.user}", "data": _patch({"op": "replace", "path": "active",
                                                                          "value": False})},
        {"method": "PUT", "path": f"/Groups/{t.group}", "data": _group(t.group_name)},
        {"method": "DELETE", "path": f"/Users/{t.user}"},
        {"method": "POST", "path": "/Users", "bulkId": "u1",
         "data": {"schemas": [USER_SCHEMA], "userName": f"bulk-{t.tag}@alpha.example"}},
        {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": _group(f"Bulk {t.tag}", "bulkId:u1", t.user)},
        {"method": "PATCH", "path": f"/Groups/{o.group}",
         "data": _patch({"op": "add", "path": "members", "value": [{"value": t.user}]})},
        {"method": "DELETE", "path": f"/Groups/{t.group}"},
    ]}


def _users_get(t: Ids, o: Ids) -> list[Call]:
    return [*(Call("/Users", query={"filter": f}, check=empty_list) for f in _user_filters(t)),
            Call("/Users", query={"count": "1000"}, check=own_users)]


def _groups_get(t: Ids, o: Ids) -> list[Call]:
    return [*(Call("/Groups", query={"filter": f}, check=empty_list) for f in _group_filters(t)),
            Call("/Groups", query={"count": "1000"}, check=own_groups)]


#: (rule below the SCIM base, method) -> the calls that method of that route gets.
SCIM_CALLS: dict[tuple[str, str], Builder] = {
    ("/Users", "GET"): _users_get,
    ("/Users", "POST"): lambda t, o: [  # userName is unique per tenant; a client's id is ignored
        Call("/Users", _user(t, id=t.user), expect=201, check=created_as_new(t.user))],
    ("/Users/.search", "POST"): lambda t, o: [
        *(Call("/Users/.search", _search(f), check=empty_list) for f in _user_filters(t)),
        Call("/Users/.search", _search("userName pr", count=1000), check=own_users)],
    ("/Users/<string:resource_id>", "GET"): lambda t, o: [
        Call(f"/Users/{t.user}", expect=404), Call(f"/Users/{t.user}", query={"attributes": "userName"}, expect=404)],
    ("/Users/<string:resource_id>", "PUT"): lambda t, o: [
        Call(f"/Users/{t.user}", _user(o), expect=404),
        Call(f"/Users/{o.user}", _user(t))],
    ("/Users/<string:resource_id>", "PATCH"): lambda t, o: [
        Call(f"/Users/{t.user}", _patch({"op": "replace", "path": "active", "value": False}), expect=404),
        Call(f"/Users/{o.user}", _patch({"op": "replace", "path": "userName", "value": t.user_name}))],
    ("/Users/<string:resource_id>", "DELETE"): lambda t, o: [Call(f"/Users/{t.user}", expect=404)],
    ("/Groups", "GET"): _groups_get,
    ("/Groups", "POST"): lambda t, o: [
        Call("/Groups", _group(f"Probe {t.tag}", t.user), expect=400, scim_type="invalidValue"),
        Call("/Groups", {**_group(t.group_name), "id": t.group}, expect=201, check=created_as_new(t.group))],
    ("/Groups/.search", "POST"): lambda t, o: [
        *(Call("/Groups/.search", _search(f), check=empty_list) for f in _group_filters(t)),
        Call("/Groups/.search", _search("displayName pr", count=1000), check=own_groups)],
    ("/Groups/<string:resource_id>", "GET"): lambda t, o: [Call(f"/Groups/{t.group}", expect=404)],
    ("/Groups/<string:resource_id>", "PUT"): lambda t, o: [
        Call(f"/Groups/{t.group}", _group(o.group_name, o.user), expect=404),
        Call(f"/Groups/{o.group}", _group(o.group_name, o.user, t.user), expect=400, scim_type="invalidValue")],
    ("/Groups/<string:resource_id>", "PATCH"): lambda t, o: [
        Call(f"/Groups/{t.group}", _patch({"op": "add", "path": "members", "value": [{"value": o.user}]}),
             expect=404),
        Call(f"/Groups/{o.group}", _patch({"op": "add", "path": "members", "value": [{"value": t.user}]}),
             expect=400, scim_type="invalidValue"),
        Call(f"/Groups/{o.group}", _patch({"op": "replace", "path": "members", "value": [{"value": t.user}]}),
             expect=400, scim_type="invalidValue"),
        Call(f"/Groups/{o.group}", _patch({"op": "add", "value": {"members": [{"value": t.user}]}}),
             expect=400, scim_type="invalidValue"),
        Call(f"/Groups/{o.group}", _patch({"op": "remove", "path": f'members[value eq "{t.user}"]'}),
             query={"attributes": "members"}, check=own_members)],
    ("/Groups/<string:resource_id>", "DELETE"): lambda t, o: [Call(f"/Groups/{t.group}", expect=404)],
    ("/.search", "POST"): lambda t, o: [
        Call("/.search", _search(f'id eq "{t.user}" or id eq "{t.group}"'), check=empty_list),
        Call("/.search", _search("id pr", count=1000), check=own_ids)],
    ("/Bulk", "POST"): lambda t, o: [Call("/Bulk", _bulk(t, o), check=bulk_statuses(404, 404, 404, 201, 400, 400,
                                                                                    404))],
    ("/Me", "GET"): lambda t, o: [Call("/Me", expect=501)],
    ("/ServiceProviderConfig", "GET"): lambda t, o: [Call("/ServiceProviderConfig")],
    ("/Schemas", "GET"): lambda t, o: [Call("/Schemas")],
    ("/Schemas/<string:schema_id>", "GET"): lambda t, o: [Call(f"/Schemas/{USER_SCHEMA}")],
    ("/ResourceTypes", "GET"): lambda t, o: [Call("/ResourceTypes")],
    ("/ResourceTypes/<string:name>", "GET"): lambda t, o: [Call("/ResourceTypes/User")],
}


# --- the admin matrix -------------------------------------------------------------------------


def _tenant(o: Ids) -> str:
    return f"/tenants/{o.slug}"


#: (rule, method) -> the calls that method of that admin route gets (paths below /admin/v1).
ADMIN_CALLS: dict[tuple[str, str], Builder] = {
    ("/admin/v1/tenants", "GET"): lambda t, o: [Call("/tenants", query={"per_page": "100"}, check=own_page)],
    ("/admin/v1/tenants", "POST"): lambda t, o: [Call("/tenants", {"slug": t.slug}, expect=403)],
    ("/admin/v1/tenants/<slug>", "GET"): lambda t, o: [Call(_tenant(o))],
    ("/admin/v1/tenants/<slug>", "PATCH"): lambda t, o: [Call(_tenant(o), {"name": f"Renamed {o.tag}"})],
    ("/admin/v1/tenants/<slug>", "DELETE"): lambda t, o: [Call(_tenant(o), expect=204)],
    ("/admin/v1/tenants/<slug>/audit", "GET"): lambda t, o: [
        *(Call(_tenant(o) + "/audit", query={"resource": r}, check=empty_page) for r in (t.user, t.group, t.role)),
        Call(_tenant(o) + "/audit", query={"actor": f"token:{t.token_prefix}"}, check=empty_page),
        Call(_tenant(o) + "/audit", query={"per_page": "100"})],
    ("/admin/v1/tenants/<slug>/audit/export", "GET"): lambda t, o: [Call(_tenant(o) + "/audit/export")],
    ("/admin/v1/tenants/<slug>/groups", "GET"): lambda t, o: [
        Call(_tenant(o) + "/groups", query={"per_page": "100"}, check=own_page)],
    ("/admin/v1/tenants/<slug>/groups/<group_id>/roles", "PUT"): lambda t, o: [
        Call(f"{_tenant(o)}/groups/{t.group}/roles", {"roles": [o.role]}, expect=404),
        Call(f"{_tenant(o)}/groups/{o.group}/roles", {"roles": [t.role]}, expect=400)],
    ("/admin/v1/tenants/<slug>/roles", "GET"): lambda t, o: [Call(_tenant(o) + "/roles")],
    ("/admin/v1/tenants/<slug>/roles", "POST"): lambda t, o: [  # role names are unique per tenant
        Call(_tenant(o) + "/roles", {"name": t.role_name, "permissions": ["probe.read"]}, expect=201)],
    ("/admin/v1/tenants/<slug>/roles/<role_id>", "GET"): lambda t, o: [
        Call(f"{_tenant(o)}/roles/{t.role}", expect=404)],
    ("/admin/v1/tenants/<slug>/roles/<role_id>", "PATCH"): lambda t, o: [
        Call(f"{_tenant(o)}/roles/{t.role}", {"permissions": ["probe.write"]}, expect=404)],
    ("/admin/v1/tenants/<slug>/roles/<role_id>", "DELETE"): lambda t, o: [
        Call(f"{_tenant(o)}/roles/{t.role}", expect=404)],
    ("/admin/v1/tenants/<slug>/status", "GET"): lambda t, o: [Call(_tenant(o) + "/status")],
    ("/admin/v1/tenants/<slug>/tokens", "GET"): lambda t, o: [Call(_tenant(o) + "/tokens")],
    ("/admin/v1/tenants/<slug>/tokens", "POST"): lambda t, o: [Call(_tenant(o) + "/tokens", {}, expect=201)],
    ("/admin/v1/tenants/<slug>/tokens/<prefix>", "DELETE"): lambda t, o: [
        Call(f"{_tenant(o)}/tokens/{t.token_prefix}", expect=404)],
    ("/admin/v1/tenants/<slug>/users", "GET"): lambda t, o: [
        *(Call(_tenant(o) + "/users", query={"q": q}, check=empty_page) for q in (t.user_name, t.given_name)),
        Call(_tenant(o) + "/users", query={"per_page": "100"}, check=own_page)],
    ("/admin/v1/tenants/<slug>/users/<user_id>", "GET"): lambda t, o: [
        Call(f"{_tenant(o)}/users/{t.user}", expect=404)],
    ("/admin/v1/tenants/<slug>/users/<user_id>/permissions", "PUT"): lambda t, o: [
        Call(f"{_tenant(o)}/users/{t.user}/permissions", {"permissions": ["probe.read"]}, expect=404)],
    ("/admin/v1/tenants/<slug>/users/<user_id>/roles", "PUT"): lambda t, o: [
        Call(f"{_tenant(o)}/users/{t.user}/roles", {"roles": [o.role]}, expect=404),
        Call(f"{_tenant(o)}/users/{o.user}/roles", {"roles": [t.role]}, expect=400)],
}


# --- the intruders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Intruder:
    """A credential (a key of :attr:`World.credentials`), where it is sent and what it must get."""

    name: str
    credential: str
    base: str  # "victim": B's Tenant URL, "shared": /scim/v2, "disabled": the disabled tenant's URL
    status: int


SCIM_INTRUDERS = [
    Intruder("other-tenant-token@victim-url", "attacker", "victim", 401),
    Intruder("disabled-tenant-token@victim-url", "disabled", "victim", 401),
    Intruder("expired-token@victim-url", "expired", "victim", 401),
    Intruder("revoked-token@victim-url", "revoked", "victim", 401),
    Intruder("expired-token@shared-url", "expired", "shared", 401),
    Intruder("revoked-token@shared-url", "revoked", "shared", 401),
    Intruder("disabled-tenant-token@shared-url", "disabled", "shared", 403),
    Intruder("disabled-tenant-token@own-url", "disabled", "disabled", 403),
]
ADMIN_INTRUDERS = [
    Intruder("revoked-admin-key", "revoked_key", "victim", 401),
    Intruder("victim-scim-token-as-admin-key", "current", "victim", 401),
    Intruder("key-scoped-to-another-tenant", "scoped_key", "victim", 404),
]


# --- the world: victim B, attacker A, disabled tenant D ---------------------------------------


@dataclass
class World:
    """The module's tenants, B's values, the credentials and B's bytes no answer may show."""

    victim: Ids
    attacker: Ids
    disabled_slug: str
    credentials: dict[str, str]
    secrets: list[str]
    baseline: dict[str, list]  # B's rows once set up: no test may change them


def _seed(client, app, slug: str, name: str, domain: str, people: list[tuple], groups: list[tuple],
          settings: dict | None = None) -> tuple[TenantCredentials, list[dict], list[dict]]:
    """A tenant with users ``(userName, externalId, given, family, title)`` and groups
    ``(displayName, member indexes)``, made over SCIM."""
    with database.connection_context():
        _, token = services.create_tenant(slug, name)
        if settings:
            services.update_tenant(slug, settings=app.extensions["scim_gateway"].validate_settings(settings))
    credentials = TenantCredentials(slug, token.secret)
    scim = Scim(client, credentials)
    users = [scim.create_user(f"{local}@{domain}", externalId=ext, name={"givenName": given, "familyName": family},
                              title=title) for local, ext, given, family, title in people]
    made = [scim.create_group(display, [users[i]["id"] for i in members]) for display, members in groups]
    return credentials, users, made


def _role(slug: str, name: str, permissions: list[str], description: str = "", group: str | None = None):
    """A catalog role of tenant ``slug``, mapped to ``group`` if given."""
    with database.connection_context():
        tenant = services.get_tenant(slug)
        role = catalog.create_role(tenant, name, permissions, description)
        if group:
            catalog.set_group_roles(tenant, GroupRepository(tenant).get(group), [role.id])
    return role


def _own_tenant(client, app, slug: str) -> tuple[Ids, str]:
    """A small tenant of an intruder (a user in a group, a role): its values and SCIM token."""
    tag = uuid.uuid4().hex[:8]
    credentials, (user,), (group,) = _seed(
        client, app, slug, f"Alpha {tag}", "alpha.example", [(f"a-{tag}", f"ax-{tag}", "Ann", "Alpha", "Clerk")],
        [(f"Alpha Team {tag}", [0])])
    role = _role(slug, f"Alpha Reader {tag}", ["alpha.read"], group=group["id"])
    return Ids(slug=slug, user=user["id"], user_name=user["userName"], external_id=f"ax-{tag}", given_name="Ann",
               group=group["id"], group_name=group["displayName"], role=role.id, role_name=role.name,
               token_prefix=credentials.token[:12], tag=tag), credentials.token


@pytest.fixture(scope="module")
def module_app(module_database_url):
    """conftest's ``module_app`` without the failed-authentication throttle: the matrix sends
    hundreds of refused credentials from one address, which is what the throttle stops."""
    application = create_app({"TESTING": True, "DATABASE_URL": module_database_url, "AUTH_FAILURES_PER_MINUTE": 0})
    yield application
    if not database.is_closed():
        database.close()


@pytest.fixture(scope="module")
def world(module_app) -> World:
    """Victim B with everything a tenant can hold, attacker A, disabled tenant D, the keys."""
    client = module_app.test_client()
    b, users, groups = _seed(
        client, module_app, VICTIM, VICTIM_NAME, VICTIM_DOMAIN,
        [("agent.k7", "zx-ext-88121", "Thaddeus", "Blackwood-Ilves", "Warden of the Lower Archive"),
         ("agent.m3", "zx-ext-88122", "Marisol", "Quennell", "Night Cartographer")],
        [("Archive Wardens Circle", [0, 1]), ("Midnight Ledger Crew", [1])], VICTIM_SETTINGS)
    role = _role(VICTIM, "Ledger Inspector", ["ledger.inspect", "archive.unlock"], "Reads the midnight ledger",
                 group=groups[0]["id"])
    with database.connection_context():
        catalog.set_user_permissions(UserRepository(services.get_tenant(VICTIM)).get(users[1]["id"]),
                                     ["ledger.export"])
        current = services.issue_token(VICTIM, grace_seconds=0)  # the first token is rotated out at once
        revoked = services.issue_token(VICTIM)
        services.revoke_token(VICTIM, revoked.prefix)
        prefixes = [token.prefix for token in services.list_tokens(services.get_tenant(VICTIM))]
        _, scoped_key = admin_keys.create("isolation-scoped", ["alpha-one"])
        revoked_row, revoked_key = admin_keys.create("isolation-revoked")
        admin_keys.revoke(revoked_row.name)
    attacker, attacker_token = _own_tenant(client, module_app, "alpha-one")
    _, disabled_token = _own_tenant(client, module_app, "delta-off")
    with database.connection_context():
        services.set_enabled("delta-off", False)
    victim = Ids(slug=VICTIM, user=users[0]["id"], user_name=users[0]["userName"], external_id="zx-ext-88121",
                 given_name="Thaddeus", group=groups[0]["id"], group_name=groups[0]["displayName"], role=role.id,
                 role_name=role.name, token_prefix=prefixes[0], tag="zephyr")
    secrets = [VICTIM, VICTIM_NAME, VICTIM_DOMAIN, "Reads the midnight ledger", "ledger.inspect", "archive.unlock",
               "ledger.export", role.id, role.name, *prefixes,
               *(u[k] for u in users for k in ("id", "userName", "externalId", "title")),
               *(u["name"][k] for u in users for k in ("givenName", "familyName")),
               *(g[k] for g in groups for k in ("id", "displayName"))]
    credentials = {"attacker": attacker_token, "disabled": disabled_token, "expired": b.token,
                   "revoked": revoked.secret, "current": current.secret, "scoped_key": scoped_key,
                   "revoked_key": revoked_key}
    return World(victim, attacker, "delta-off", credentials, secrets, snapshot(VICTIM))


# --- what B holds, and what an answer may show ------------------------------------------------


def _models() -> list[type[BaseModel]]:
    found, todo = [], list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        if model.__module__ == "tenants.models":  # not models that tests define for themselves
            found.append(model)
    return found


def _rows_of(model, tenant_id: int):
    """``model``'s rows tied to the tenant by any foreign key, directly or one table away
    (a membership counts if its group or its user is the tenant's); ``None``: no such key."""
    if model is Tenant:
        return model.select().where(Tenant.id == tenant_id)
    where = None
    for field in model._meta.refs:
        if field.rel_model is Tenant:
            condition = field == tenant_id
        else:
            owner = next((f for f in field.rel_model._meta.refs if f.rel_model is Tenant), None)
            if owner is None:
                continue
            condition = field.in_(field.rel_model.select(field.rel_field).where(owner == tenant_id))
        where = condition if where is None else where | condition
    return None if where is None else model.select().where(where)


def snapshot(slug: str) -> dict[str, list]:
    """Every row of every table that belongs to tenant ``slug``, after writing buffered stats."""
    stats.flush()
    with database.connection_context():
        tenant_id = Tenant.get(Tenant.slug == slug).id
        found = {}
        for model in _models():
            query = _rows_of(model, tenant_id)
            if query is not None:
                found[model._meta.table_name] = sorted(repr(sorted(row.items())) for row in query.dicts())
    assert found["scim_user"] and found["membership"] and found["group_role"] and found["audit_event"]
    return found


def assert_nothing_leaked(response, call: Call, world: World) -> None:
    """No value of B that the intruder did not send is in the body or any header."""
    sent = call.text().lower()
    shown = (response.get_data(as_text=True) + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items()))
    shown = shown.lower()
    leaked = [s for s in world.secrets if s.lower() not in sent and s.lower() in shown]
    assert not leaked, (leaked, response.status_code, shown)


def _observable(response, stand_in: list[tuple[str, str]]):
    """What a probe's answer tells: its status, and for errors, Bulk and lists their content,
    with the ghost's values replaced by the victim's (``stand_in``)."""
    text = response.get_data(as_text=True)
    for made_up, real in stand_in:
        text = text.replace(made_up, real)
    body = json.loads(text) if text and response.is_json else None
    if response.status_code >= 400 or not isinstance(body, dict):
        return response.status_code, body
    if "Operations" in body:
        return 200, [(op["status"], op.get("response")) for op in body["Operations"]]
    return response.status_code, body.get("totalResults", body.get("total"))


# --- sending ----------------------------------------------------------------------------------


def send_scim(client, base: str, token: str, method: str, call: Call):
    """Send ``call`` to a SCIM base with a bearer token."""
    kwargs = {"headers": {"Authorization": f"Bearer {token}"}, "query_string": call.query}
    if call.body is not None:
        kwargs.update(data=json.dumps(call.body), content_type="application/scim+json")
    return client.open(base + call.path, method=method, **kwargs)


def send_admin(client, key: str, method: str, call: Call):
    """Send ``call`` to the admin API with a bearer key."""
    kwargs = {"headers": {"Authorization": f"Bearer {key}"}, "query_string": call.query}
    if call.body is not None:
        kwargs.update(data=json.dumps(call.body), content_type="application/json")
    return client.open(ADMIN_PREFIX + call.path, method=method, **kwargs)


def _scim_base(intruder: Intruder, world: World, target: Ids) -> str:
    """Where ``intruder`` sends SCIM calls aimed at ``target``'s resources."""
    return {"victim": f"/tenants/{target.slug}/scim/v2", "shared": "/scim/v2",
            "disabled": f"/tenants/{world.disabled_slug}/scim/v2"}[intruder.base]


def _expected(response, call: Call, own: Ids, admin: bool, status: int | None = None) -> None:
    """``status`` (default: the call's own expectation) in the route family's shape."""
    status = call.expect if status is None else status
    assert response.status_code == status, (call.path, response.status_code, response.get_data(as_text=True))
    if status >= 400:
        if admin:
            assert_error(response, status)
        else:
            assert_scim_error(response, status, call.scim_type if status == call.expect else None)
    elif call.check is not None:
        call.check(response.get_json(), own)


def _attack(world: World, send, method: str, builder: Builder, own: Ids, check_answer,
            observe=_observable) -> None:
    """Send each call naming B's values, then the same call naming a ghost's: the answers
    match (nothing tells that B's resources exist), show no byte of B that the intruder did
    not send, and B's rows stay as they were.

    :param send: ``send(method, call, target)``: sends ``call`` aimed at ``target``'s resources.
    :param own: the tenant whose routes the calls use (B itself for refused intruders).
    :param check_answer: ``check_answer(response, call)`` asserts the status and body.
    :param observe: ``observe(response, stand_in)``: what an answer tells (as :func:`_observable`).
    """
    made_up = ghost()
    for call, ghost_call in zip(builder(world.victim, own), builder(made_up, made_up if own is world.victim else own)):
        response = send(method, call, world.victim)
        check_answer(response, call)
        assert_nothing_leaked(response, call, world)
        if call.text() != ghost_call.text():
            ghost_response = send(method, ghost_call, made_up)
            assert observe(response, []) == observe(ghost_response, made_up.pairs(world.victim))
    assert snapshot(VICTIM) == world.baseline


def _rules(app, prefixes: tuple[str, ...]) -> set[tuple[str, str]]:
    """``(rule, method)`` of the app's routes under ``prefixes`` (rule relative to the prefix)."""
    found = set()
    for rule in app.url_map.iter_rules():
        for prefix in prefixes:
            if rule.rule == prefix or rule.rule.startswith(prefix + "/"):
                found |= {(rule.rule[len(prefix):] or "/", method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


# --- the tests --------------------------------------------------------------------------------


def test_every_scim_and_admin_route_and_method_is_in_the_matrix(module_app):
    """A route added later fails here until it has its calls in the matrix (and stale ones go)."""
    scim = _rules(module_app, SCIM_PREFIXES)
    admin = {(ADMIN_PREFIX + rule, method) for rule, method in _rules(module_app, (ADMIN_PREFIX,))}
    assert len(scim) >= 20 and len(admin) >= 20
    assert scim == set(SCIM_CALLS), {"missing": scim - set(SCIM_CALLS), "stale": set(SCIM_CALLS) - scim}
    assert admin == set(ADMIN_CALLS), {"missing": admin - set(ADMIN_CALLS), "stale": set(ADMIN_CALLS) - admin}


def _id(value) -> str:
    return f"{value[1]} {value[0]}" if isinstance(value, tuple) else value.name


@pytest.mark.parametrize("intruder", SCIM_INTRUDERS, ids=_id)
@pytest.mark.parametrize("route", sorted(SCIM_CALLS), ids=_id)
def test_scim_route_refuses_foreign_expired_revoked_and_disabled_tokens(module_app, world, route, intruder):
    """B's ids on B's URL, the shared URL or a disabled tenant's URL: exactly the intruder's status."""
    client, token = module_app.test_client(), world.credentials[intruder.credential]
    _attack(world, lambda m, call, target: send_scim(client, _scim_base(intruder, world, target), token, m, call),
            route[1], SCIM_CALLS[route], world.victim,
            lambda response, call: _expected(response, call, world.victim, False, intruder.status))


@pytest.mark.parametrize("base", ["shared", "own"])
@pytest.mark.parametrize("route", sorted(SCIM_CALLS), ids=_id)
def test_scim_route_shows_nothing_of_another_tenant_to_a_valid_token(module_app, world, route, base):
    """A valid token of a fresh tenant, on the shared URL or its own, naming B's values."""
    client = module_app.test_client()
    own, token = _own_tenant(client, module_app, f"probe-{uuid.uuid4().hex[:10]}")
    prefix = "/scim/v2" if base == "shared" else f"/tenants/{own.slug}/scim/v2"
    _attack(world, lambda m, call, target: send_scim(client, prefix, token, m, call), route[1], SCIM_CALLS[route],
            own, lambda response, call: _expected(response, call, own, False))


@pytest.mark.parametrize("intruder", ADMIN_INTRUDERS, ids=_id)
@pytest.mark.parametrize("route", sorted(ADMIN_CALLS), ids=_id)
def test_admin_route_refuses_revoked_foreign_and_out_of_scope_keys(module_app, world, route, intruder):
    """B's admin routes and ids with a revoked key, B's SCIM token, or a key scoped to A."""
    rule, method = route
    client, key = module_app.test_client(), world.credentials[intruder.credential]
    # Calls name B's slug and B's ids. On the routes without a slug a key scoped to A gets
    # what a probing one gets: the tenant list shows A only, creating a tenant is 403.
    scoped_list = intruder.credential == "scoped_key" and "<slug>" not in rule
    own = world.attacker if scoped_list else world.victim
    status = None if scoped_list else intruder.status
    _attack(world, lambda m, call, target: send_admin(client, key, m, call), method, ADMIN_CALLS[route], own,
            lambda response, call: _expected(response, call, own, True, status))


@pytest.mark.parametrize("route", sorted(ADMIN_CALLS), ids=_id)
def test_admin_route_under_its_own_tenant_shows_nothing_of_another(module_app, world, route):
    """A key scoped to a fresh tenant, on that tenant's routes, naming B's ids and names."""
    client = module_app.test_client()
    own, _ = _own_tenant(client, module_app, f"probe-{uuid.uuid4().hex[:10]}")
    with database.connection_context():
        _, key = admin_keys.create(f"probe-{own.tag}", [own.slug])
    _attack(world, lambda m, call, target: send_admin(client, key, m, call), route[1], ADMIN_CALLS[route], own,
            lambda response, call: _expected(response, call, own, True))
