"""The audit log and request ids, over HTTP on a real database.

Every acknowledged SCIM or admin write leaves exactly one audit event, written in the
same transaction (a refused write leaves none), carrying the request's X-Request-ID; no
secret ever reaches an audit row or the export.
"""

from __future__ import annotations

import json
import logging
import re
import time

import pytest

from gateway.request_id import RequestIdFilter, install_log_filter
from tenants.db import database
from tenants.models import AuditEvent

from .conftest import ANY_USERNAME, Scim, TenantCredentials, run_cli
from .test_admin_api import Admin as BaseAdmin
from .test_admin_api import assert_error, make_key, ok

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class Admin(BaseAdmin):
    """The admin API client of test_admin_api, also sending extra ``headers``."""

    def request(self, method: str, path: str, body=None, headers: dict | None = None, **kwargs):
        if headers:
            auth = {"Authorization": f"Bearer {self.key}"} if self.key is not None else {}
            if body is not None:
                kwargs.setdefault("data", json.dumps(body))
                kwargs.setdefault("content_type", "application/json")
            return self.client.open("/admin/v1" + path, method=method, headers={**auth, **headers}, **kwargs)
        return super().request(method, path, body, **kwargs)


@pytest.fixture
def admin(client):
    """An admin client whose key (valid for every tenant) is named ``ops-alice``."""
    return Admin(client, make_key("ops-alice"))


def events(slug: str | None = None) -> list[AuditEvent]:
    """Audit rows, oldest first (all tenants, or one slug's)."""
    with database.connection_context():
        query = AuditEvent.select().order_by(AuditEvent.id)
        if slug is not None:
            query = query.where(AuditEvent.tenant_slug == slug)
        return list(query)


def token_actor(scim: Scim) -> str:
    return "token:" + scim.tenant.token[:12]


class Recorder:
    """Runs SCIM writes and checks each left exactly one audit row matching its response."""

    def __init__(self, scim: Scim):
        self.scim = scim
        self.seen = len(events())

    def write(self, call, status: int, action: str, resource_type: str, resource_id=None):
        response = call()
        assert response.status_code == status, response.get_data(as_text=True)
        rows = events()[self.seen:]
        self.seen += len(rows)
        assert len(rows) == 1, [(r.action, r.resource_id) for r in rows]
        row = rows[0]
        body = response.get_json(silent=True) or {}
        assert row.actor == token_actor(self.scim)
        assert row.action == action
        assert row.resource_type == resource_type
        assert row.resource_id == (resource_id or body.get("id"))
        assert row.request_id == response.headers["X-Request-ID"]
        assert row.tenant_slug == self.scim.tenant.slug and row.tenant_id is not None
        return response, row


def test_every_scim_write_leaves_one_audit_row_with_its_request_id(scim):
    rec = Recorder(scim)
    user = {"schemas": [USER_SCHEMA], "userName": "ada@example.com", "name": {"givenName": "Ada"},
            "password": "correct horse battery staple"}
    response, row = rec.write(lambda: scim.post("/Users", user), 201, "create", "User")
    ada = response.get_json()["id"]
    assert row.summary == {"attributes": ["name", "userName"]}  # names only: no password, no values
    bob = scim.create_user("bob@example.com")["id"]
    rec.seen += 1

    group = {"schemas": [GROUP_SCHEMA], "displayName": "Finance", "members": [{"value": ada}]}
    response, row = rec.write(lambda: scim.post("/Groups", group), 201, "create", "Group")
    finance = response.get_json()["id"]
    assert row.summary["members_added"] == {"count": 1, "ids": [ada]}

    _, row = rec.write(lambda: scim.patch(f"/Users/{ada}", [{"op": "replace", "path": "name.familyName",
                                                            "value": "Lovelace"}]), 200, "patch", "User", ada)
    assert row.summary == {"attributes": ["name"]}
    # ada is already a member: only bob is reported as added
    _, row = rec.write(lambda: scim.patch(f"/Groups/{finance}", [
        {"op": "add", "path": "members", "value": [{"value": ada}, {"value": bob}]}]),
        200, "members_added", "Group", finance)
    assert row.summary == {"members_added": {"count": 1, "ids": [bob]}}
    _, row = rec.write(lambda: scim.patch(f"/Groups/{finance}", [
        {"op": "remove", "path": f'members[value eq "{ada}"]'}]), 200, "members_removed", "Group", finance)
    assert row.summary == {"members_removed": {"count": 1, "ids": [ada]}}
    _, row = rec.write(lambda: scim.put(f"/Users/{bob}", {"schemas": [USER_SCHEMA], "userName": "bob@example.com",
                                                          "name": {"familyName": "Builder"}}),
                       200, "replace", "User", bob)
    assert row.summary == {"attributes": ["name"]}
    _, row = rec.write(lambda: scim.patch(f"/Users/{bob}", [{"op": "replace", "path": "active", "value": False}]),
                       200, "disable", "User", bob)
    assert row.summary == {"attributes": ["active"]}
    _, row = rec.write(lambda: scim.patch(f"/Users/{bob}", [{"op": "replace", "path": "active", "value": False}]),
                       200, "patch", "User", bob)
    assert row.summary == {"unchanged": True}
    rec.write(lambda: scim.delete(f"/Groups/{finance}"), 204, "delete", "Group", finance)
    rec.write(lambda: scim.delete(f"/Users/{ada}"), 204, "delete", "User", ada)


def test_rejected_scim_writes_leave_no_audit_row(scim):
    ada = scim.create_user("ada@example.com")["id"]
    group = scim.create_group("Finance")["id"]
    before = len(events())
    refused = [
        scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ADA@example.com"}),  # 409 uniqueness
        scim.post("/Users", {"schemas": [USER_SCHEMA]}),  # 400 userName required
        scim.patch(f"/Users/{ada}", [{"op": "frobnicate", "path": "active"}]),  # 400
        scim.patch("/Users/00000000-0000-0000-0000-000000000000", [{"op": "replace", "path": "active",
                                                                    "value": False}]),  # 404
        scim.put(f"/Users/{ada}", {"schemas": [USER_SCHEMA], "userName": "ada@example.com"},
                 headers={"If-Match": 'W/"999"'}),  # 412
        scim.patch(f"/Groups/{group}", [{"op": "add", "path": "members",
                                         "value": [{"value": "not-a-user"}]}]),  # 400 unknown member
        scim.delete("/Groups/00000000-0000-0000-0000-000000000000"),  # 404
    ]
    assert [r.status_code for r in refused] == [409, 400, 400, 404, 412, 400, 404]
    assert len(events()) == before


def test_bulk_audits_each_operation_that_succeeded(scim):
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a",
         "data": {"schemas": [USER_SCHEMA], "userName": "a@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "b",
         "data": {"schemas": [USER_SCHEMA], "userName": "A@example.com"}},  # 409: no row
        {"method": "POST", "path": "/Groups", "bulkId": "g",
         "data": {"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": "bulkId:a"}]}},
    ]}
    response = scim.post("/Bulk", body)
    assert response.status_code == 200
    statuses = [op["status"] for op in response.get_json()["Operations"]]
    assert statuses == ["201", "409", "201"]
    rows = events(scim.tenant.slug)
    assert [(r.action, r.resource_type) for r in rows] == [("create", "User"), ("create", "Group")]
    assert {r.request_id for r in rows} == {response.headers["X-Request-ID"]}


def test_deprovisioning_by_policy_is_audited_as_what_happened(make_tenant, client):
    creds = make_tenant("keep", settings={"plugins": {"deprovisioning": {"options": {
        "tombstone_days": 30, "disable_users_removed_from_groups": True}}}})
    scim = Scim(client, creds)
    ada = scim.create_user("ada@example.com")["id"]
    bob = scim.create_user("bob@example.com")["id"]
    group = scim.create_group("Finance", members=[bob])["id"]
    rec = Recorder(scim)
    _, row = rec.write(lambda: scim.delete(f"/Users/{ada}"), 204, "tombstone", "User", ada)
    _, row = rec.write(lambda: scim.patch(f"/Groups/{group}", [{"op": "remove", "path": "members",
                                                                "value": [{"value": bob}]}]),
                       200, "members_removed", "Group", group)
    assert row.summary == {"members_removed": {"count": 1, "ids": [bob]}, "members_disabled": 1}


def test_member_ids_in_a_summary_are_capped_with_an_exact_count(scim):
    ids = [scim.create_user(f"user{i}@example.com")["id"] for i in range(105)]
    response = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "All",
                                     "members": [{"value": i} for i in ids]})
    assert response.status_code == 201
    row = events()[-1]
    assert row.summary["members_added"]["count"] == 105
    assert row.summary["members_added"]["ids"] == sorted(ids)[:100]


def test_admin_writes_are_audited_with_the_key_name(admin, client):
    created = ok(admin.post("/tenants", {"slug": "contoso", "name": "Contoso"}), 201)
    first_prefix = created["token"][:12]
    scim = Scim(client, TenantCredentials("contoso", created["token"]))
    ok(admin.patch("/tenants/contoso", {"enabled": False, "name": "Contoso Ltd"}))
    ok(admin.patch("/tenants/contoso", {"enabled": True, "settings": ANY_USERNAME}))
    issued = ok(admin.post("/tenants/contoso/tokens", {"grace_seconds": 3600}), 201)
    role = ok(admin.post("/tenants/contoso/roles", {"name": "Viewer", "permissions": ["reports.read"]}), 201)
    ok(admin.patch(f"/tenants/contoso/roles/{role['id']}", {"permissions": ["reports.read", "reports.export"]}))
    user = scim.create_user("ada")["id"]
    group = scim.create_group("Finance", members=[user])["id"]
    ok(admin.put(f"/tenants/contoso/groups/{group}/roles", {"roles": [role["id"]]}))
    ok(admin.put(f"/tenants/contoso/users/{user}/permissions", {"permissions": ["billing:*"]}))
    assert_error(admin.put(f"/tenants/contoso/users/{user}/roles", {"roles": [role["id"]]}), 409)  # no row
    assert_error(admin.post("/tenants/contoso/roles", {"name": "viewer", "permissions": []}), 409)  # no row
    assert admin.delete(f"/tenants/contoso/roles/{role['id']}").status_code == 204
    assert admin.delete(f"/tenants/contoso/tokens/{first_prefix}").status_code == 204

    page = ok(admin.get("/tenants/contoso/audit?per_page=100"))
    admin_rows = [item for item in page["items"] if item["actor"].startswith("admin:")]
    assert {item["actor"] for item in admin_rows} == {"admin:ops-alice"}
    assert [(item["action"], item["resource_type"], item["resource_id"]) for item in reversed(admin_rows)] == [
        ("tenant_created", "Tenant", "contoso"),
        ("tenant_updated", "Tenant", "contoso"),
        ("tenant_updated", "Tenant", "contoso"),
        ("token_issued", "Token", issued["prefix"]),
        ("role_created", "Role", role["id"]),
        ("role_updated", "Role", role["id"]),
        ("role_mapped", "Group", group),
        ("permissions_set", "User", user),
        ("role_deleted", "Role", role["id"]),
        ("token_revoked", "Token", first_prefix),
    ]
    summaries = [item["summary"] for item in reversed(admin_rows)]
    assert summaries[1] == {"fields": ["enabled", "name"], "enabled": False}
    assert summaries[2] == {"fields": ["enabled", "settings"], "enabled": True}
    assert summaries[6] == {"roles": [role["id"]]}
    assert summaries[7] == {"permissions": ["billing:*"]}
    for item in admin_rows:
        assert HEX_ID.match(item["request_id"])

    # Deleting the tenant is audited, and its trail survives it (tenant NULL, slug kept).
    response = admin.delete("/tenants/contoso", headers={"X-Request-ID": "delete-contoso-1"})
    assert response.status_code == 204
    trail = events("contoso")
    assert len(trail) == len(page["items"]) + 1
    assert all(row.tenant_id is None for row in trail)
    last = trail[-1]
    assert (last.action, last.actor, last.request_id) == ("tenant_deleted", "admin:ops-alice", "delete-contoso-1")
    assert_error(admin.get("/tenants/contoso/audit"), 404)


def test_no_secret_ever_reaches_audit_rows_or_export(admin, client):
    admin_key = admin.key
    created = ok(admin.post("/tenants", {"slug": "contoso"}), 201)
    rotated = ok(admin.post("/tenants/contoso/tokens", {"grace_seconds": 0}), 201)
    scim = Scim(client, TenantCredentials("contoso", rotated["token"]))
    scim.request("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "ada@example.com",
                                    "password": "hunter2-Secret!"})
    export = admin.get("/tenants/contoso/audit/export").get_data(as_text=True)
    listed = json.dumps(ok(admin.get("/tenants/contoso/audit")))
    with database.connection_context():
        stored = json.dumps([list(row) for row in AuditEvent.select().tuples()], default=str)
    secrets = [admin_key, created["token"], rotated["token"], "hunter2-Secret!"]
    for text in (export, listed, stored):
        for secret in secrets:
            assert secret not in text
    assert created["token"][:12] in stored  # the display prefix is what identifies a token


def _after_a_millisecond(make):
    """``make()`` once the clock has moved on by 2 ms: audit times are kept to the
    millisecond, and the since/until checks below need every event at its own time."""
    time.sleep(0.002)
    return make()


def test_audit_filters_and_paging(admin, scim, tenant):
    ids = [_after_a_millisecond(lambda: scim.create_user(f"user{i}@example.com"))["id"] for i in range(5)]
    _after_a_millisecond(lambda: ok(admin.post(f"/tenants/{tenant.slug}/roles", {"name": "Viewer", "permissions": []}),
                                    201))
    everything = ok(admin.get(f"/tenants/{tenant.slug}/audit"))
    assert everything["total"] == 6 and everything["page"] == 1 and everything["per_page"] == 50
    times = [item["time"] for item in everything["items"]]
    assert times == sorted(times, reverse=True) and len(set(times)) == 6  # newest first, each its own time
    assert everything["items"][0]["action"] == "role_created"

    page2 = ok(admin.get(f"/tenants/{tenant.slug}/audit?per_page=2&page=2"))
    assert page2["total"] == 6 and [i["id"] for i in page2["items"]] == [i["id"] for i in everything["items"][2:4]]
    assert ok(admin.get(f"/tenants/{tenant.slug}/audit?per_page=2&page=9"))["items"] == []

    by_type = ok(admin.get(f"/tenants/{tenant.slug}/audit?resource=user"))
    assert by_type["total"] == 5 and {i["resource_type"] for i in by_type["items"]} == {"User"}
    by_id = ok(admin.get(f"/tenants/{tenant.slug}/audit?resource={ids[2]}"))
    assert [i["resource_id"] for i in by_id["items"]] == [ids[2]]
    by_actor = ok(admin.get(f"/tenants/{tenant.slug}/audit?actor=admin:ops-alice"))
    assert [i["action"] for i in by_actor["items"]] == ["role_created"]
    token_actor_name = "token:" + tenant.token[:12]
    assert ok(admin.get(f"/tenants/{tenant.slug}/audit", query_string={"actor": token_actor_name}))["total"] == 5

    middle = everything["items"][3]["time"]
    since = ok(admin.get(f"/tenants/{tenant.slug}/audit", query_string={"since": middle}))
    assert [i["id"] for i in since["items"]] == [i["id"] for i in everything["items"][:4]]
    until = ok(admin.get(f"/tenants/{tenant.slug}/audit", query_string={"until": middle}))
    assert [i["id"] for i in until["items"]] == [i["id"] for i in everything["items"][4:]]
    assert ok(admin.get(f"/tenants/{tenant.slug}/audit?since=2999-01-01"))["total"] == 0

    for bad in ("since=yesterday", "page=0", "per_page=501", "until=2026-13-01"):
        assert_error(admin.get(f"/tenants/{tenant.slug}/audit?{bad}"), 400)


def test_export_is_json_lines_oldest_first(admin, scim, tenant):
    for i in range(3):
        scim.create_user(f"user{i}@example.com")
    response = admin.get(f"/tenants/{tenant.slug}/audit/export")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert "attachment" in response.headers["Content-Disposition"]
    assert HEX_ID.match(response.headers["X-Request-ID"])
    text = response.get_data(as_text=True)
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == ok(admin.get(f"/tenants/{tenant.slug}/audit"))["total"] == 3
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines)
    assert set(lines[0]) == {"id", "time", "tenant", "actor", "action", "resource_type", "resource_id",
                             "summary", "request_id"}
    assert admin.get(f"/tenants/{tenant.slug}/audit/export?since=2999-01-01").get_data() == b""


def test_export_streams_in_batches(admin, scim, tenant, monkeypatch):
    from tenants import audit

    monkeypatch.setattr(audit, "EXPORT_BATCH", 2)  # a smaller batch, to cross batch boundaries
    for i in range(5):
        scim.create_user(f"user{i}@example.com")
    lines = admin.get(f"/tenants/{tenant.slug}/audit/export").get_data(as_text=True).splitlines()
    assert len({json.loads(line)["id"] for line in lines}) == 5


# -- request ids ------------------------------------------------------------------------------


def test_a_valid_client_request_id_is_echoed_everywhere(client, scim, admin):
    for response in (
        scim.get("/Users", headers={"X-Request-ID": "entra-abc.123_X"}),
        scim.get("/Users/nope", headers={"X-Request-ID": "entra-abc.123_X"}),  # SCIM 404
        client.get("/tenants/acme/scim/v2/Users", headers={"X-Request-ID": "entra-abc.123_X"}),  # 401
        client.get("/no/such/page", headers={"X-Request-ID": "entra-abc.123_X"}),  # 404 route
        client.get("/admin/v1/tenants", headers={"X-Request-ID": "entra-abc.123_X"}),  # admin 401
        admin.get("/tenants", headers={"X-Request-ID": "entra-abc.123_X"}),
        client.get("/healthz", headers={"X-Request-ID": "entra-abc.123_X"}),
    ):
        assert response.headers["X-Request-ID"] == "entra-abc.123_X", response.status_code


@pytest.mark.parametrize("sent", ["", "a" * 65, "has space", "semi;colon", "ünïcode", "x\ty"])
def test_an_invalid_request_id_is_replaced(client, sent):
    response = client.get("/healthz", headers={"X-Request-ID": sent})
    assert HEX_ID.match(response.headers["X-Request-ID"])
    assert response.headers["X-Request-ID"] != sent


def test_each_request_gets_its_own_id(client, scim):
    ids = {scim.get("/Users").headers["X-Request-ID"] for _ in range(3)}
    ids.add(client.get("/readyz").headers["X-Request-ID"])
    assert len(ids) == 4 and all(HEX_ID.match(i) for i in ids)
    longest = "a" * 64
    assert client.get("/healthz", headers={"X-Request-ID": longest}).headers["X-Request-ID"] == longest


def test_log_records_carry_the_request_id(app):
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "hello", None, None)
    with app.test_request_context("/healthz", headers={"X-Request-ID": "trace-42"}):
        assert RequestIdFilter().filter(record) is True
    assert record.request_id == "trace-42"
    outside = logging.LogRecord("gateway", logging.INFO, __file__, 1, "hello", None, None)
    RequestIdFilter().filter(outside)
    assert outside.request_id == "-"
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        install_log_filter()
        install_log_filter()  # idempotent
        assert sum(isinstance(f, RequestIdFilter) for f in handler.filters) == 1
    finally:
        logging.getLogger().removeHandler(handler)


# -- authorization ------------------------------------------------------------------------------


def test_audit_needs_an_admin_key_for_that_tenant(client, make_tenant, admin):
    mine, other = make_tenant("mine"), make_tenant("other")
    scoped = Admin(client, make_key("tech", tenants=["mine"]))
    for path in ("/tenants/other/audit", "/tenants/other/audit/export"):
        assert_error(Admin(client, None).get(path), 401)
        assert_error(Admin(client, "scimgw_admin_wrong").get(path), 401)
        assert_error(Admin(client, other.token).get(path), 401)  # a tenant token is not an admin key
        assert_error(Admin(client, make_key(revoked=True)).get(path), 401)
        assert_error(scoped.get(path), 404)
        assert_error(admin.get(path.replace("other", "ghost")), 404)
    assert scoped.get("/tenants/mine/audit").status_code == 200
    assert scoped.get("/tenants/mine/audit/export").status_code == 200
    assert mine.slug == "mine"


# -- CLI ------------------------------------------------------------------------------------


def test_cli_audit_list_and_export(app, database_url, scim, tenant):
    scim.create_user("ada@example.com")
    database.close()
    out = run_cli(database_url, "tenants", "disable", tenant.slug)
    assert "disabled" in out
    listed = json.loads(run_cli(database_url, "audit", "list", tenant.slug, "--json"))
    assert listed["total"] == 2
    assert [(i["actor"], i["action"]) for i in listed["items"]] == [
        ("cli", "tenant_updated"), ("token:" + tenant.token[:12], "create")]
    assert listed["items"][0]["request_id"] is None
    only_cli = json.loads(run_cli(database_url, "audit", "list", tenant.slug, "--actor", "cli", "--json"))
    assert only_cli["total"] == 1
    future = json.loads(run_cli(database_url, "audit", "list", tenant.slug, "--since", "2999-01-01T00:00:00Z",
                            "--json"))
    assert future["total"] == 0
    human = run_cli(database_url, "audit", "list", tenant.slug)
    assert "tenant_updated" in human and "create" in human
    exported = [json.loads(line) for line in run_cli(database_url, "audit", "export", tenant.slug).splitlines()]
    assert [line["action"] for line in exported] == ["create", "tenant_updated"]
    for text in (json.dumps(listed), human, json.dumps(exported)):
        assert tenant.token not in text
