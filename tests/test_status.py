"""Provisioning status, the per-minute request series, and tokens listed and revoked.

Over HTTP on a real database; the statistics buffer of :mod:`tenants.stats` is the real
one (a process-local buffer flushed with UPSERTs), read back through the admin API.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from playhouse.test_utils import count_queries

from tenants import services, stats
from tenants.clock import utcnow
from tenants.db import database
from tenants.models import RequestStat, Tenant, TenantActivity

from .conftest import Scim, TenantCredentials, assert_scim_error, run_cli
from .test_admin_api import Admin, assert_error, make_key, ok

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
STATUS_KEYS = {"users", "groups", "last_scim_request", "requests_24h", "errors_24h"}


@pytest.fixture
def admin(client):
    return Admin(client, make_key("root"))


def tenant_id(slug: str) -> int:
    with database.connection_context():
        return Tenant.get(Tenant.slug == slug).id


def parse_time(text: str) -> dt.datetime:
    assert text.endswith("Z")
    return dt.datetime.fromisoformat(text[:-1])


def test_status_of_a_new_tenant_is_empty(admin, tenant):
    status = ok(admin.get(f"/tenants/{tenant.slug}/status"))
    assert status == {"users": {"total": 0, "active": 0, "disabled": 0}, "groups": {"total": 0},
                      "last_scim_request": None, "requests_24h": 0, "errors_24h": 0}


def test_status_counts_users_groups_requests_and_errors(admin, scim, tenant, client, make_tenant):
    started = utcnow()
    ids = [scim.create_user(f"user{i}@example.com")["id"] for i in range(4)]
    scim.create_group("Finance", members=ids[:2])
    scim.create_group("Sales")
    assert scim.patch(f"/Users/{ids[0]}", [{"op": "replace", "path": "active", "value": False}]).status_code == 200
    assert scim.delete(f"/Users/{ids[3]}").status_code == 204
    assert scim.get("/Users").status_code == 200
    # errors: a 409, a 404, a 400
    assert scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "USER1@example.com"}).status_code == 409
    assert scim.get("/Users/00000000-0000-0000-0000-000000000000").status_code == 404
    assert scim.get('/Users?filter=userName eq').status_code == 400
    # not this tenant's: a wrong token (no tenant to blame), another tenant's requests
    assert_scim_error(client.get(f"{tenant.base}/Users", headers={"Authorization": "Bearer wrong"}), 401)
    Scim(client, make_tenant("other")).get("/Users")

    status = ok(admin.get(f"/tenants/{tenant.slug}/status"))
    assert set(status) == STATUS_KEYS
    assert status["users"] == {"total": 3, "active": 2, "disabled": 1}  # the deleted one is gone
    assert status["groups"] == {"total": 2}
    assert status["requests_24h"] == 4 + 2 + 2 + 1 + 3
    assert status["errors_24h"] == 3
    last = parse_time(status["last_scim_request"])
    assert started <= last <= utcnow()
    other = ok(admin.get("/tenants/other/status"))
    assert other["requests_24h"] == 1 and other["errors_24h"] == 0


def test_tombstoned_users_are_not_counted(admin, make_tenant, client):
    creds = make_tenant("keep", settings={"plugins": {"deprovisioning": {"options": {"tombstone_days": 30}}}})
    scim = Scim(client, creds)
    ada = scim.create_user("ada@example.com")["id"]
    scim.create_user("bob@example.com")
    assert scim.delete(f"/Users/{ada}").status_code == 204
    assert ok(admin.get("/tenants/keep/status"))["users"] == {"total": 1, "active": 1, "disabled": 0}


def test_series_has_a_bucket_per_minute_with_requests(admin, scim, tenant):
    tid = tenant_id(tenant.slug)
    now = utcnow()
    minute = stats.minute_of(now)
    # earlier minutes, counted as this process would have counted them then
    for moment, error in [(now - dt.timedelta(minutes=3), False), (now - dt.timedelta(minutes=3), True),
                          (now - dt.timedelta(minutes=90), False), (now - dt.timedelta(hours=25), True)]:
        stats.count(tid, error, defer=True, now=moment)
    scim.get("/Users")
    scim.get("/Users/nope")

    with database.connection_context():
        series = stats.series(tenant_id(tenant.slug))
        recent = stats.series(tid, minutes=5)
    buckets = {m: (r, e) for m, r, e in series}
    assert [m for m, _, _ in series] == sorted(buckets)  # oldest first, one row per minute
    assert buckets[stats.minute_of(now - dt.timedelta(minutes=3))] == (2, 1)
    assert buckets[stats.minute_of(now - dt.timedelta(minutes=90))] == (1, 0)
    assert stats.minute_of(now - dt.timedelta(hours=25)) not in buckets  # older than 24 hours
    current = [(r, e) for m, r, e in series if m >= minute]
    assert sum(r for r, _ in current) == 2 and sum(e for _, e in current) == 1
    assert all(m.second == 0 and m.microsecond == 0 for m, _, _ in series)
    assert stats.minute_of(now - dt.timedelta(minutes=90)) not in {m for m, _, _ in recent}
    assert len(recent) in (2, 3)  # 3 minutes ago, and now (the minute may have turned meanwhile)

    status = ok(admin.get(f"/tenants/{tenant.slug}/status"))
    assert (status["requests_24h"], status["errors_24h"]) == (5, 2)  # the 25-hour-old one is out


def test_flushes_add_up_and_keep_the_latest_last_request(app, tenant):
    tid = tenant_id(tenant.slug)
    minute = stats.minute_of(utcnow())
    later = minute + dt.timedelta(seconds=30)
    with database.connection_context():
        stats.count(tid, False, defer=True, now=later)
        assert stats.flush() == 1
        # another process's flush into the same minute adds to the row; an older time does not win
        stats.count(tid, True, defer=True, now=minute + dt.timedelta(seconds=1))
        stats.count(tid, False, defer=True, now=minute + dt.timedelta(seconds=2))
        assert stats.flush() == 1
        assert stats.flush() == 0  # nothing pending: no query
        row = RequestStat.get((RequestStat.tenant == tid) & (RequestStat.minute == minute))
        assert (row.requests, row.errors) == (3, 1)
        assert TenantActivity.get(TenantActivity.tenant == tid).last_request == later


def test_count_flushes_at_most_once_a_second(app, tenant):
    tid = tenant_id(tenant.slug)
    with database.connection_context():
        stats.count(tid, False)  # the first count of a fresh process writes at once
        assert not stats.pending()
        with count_queries() as counter:
            for _ in range(20):
                stats.count(tid, False)  # within the second: buffered, no query
        assert counter.count == 0 and stats.pending()
        stats.flush()
        assert RequestStat.select().where(RequestStat.tenant == tid).count() >= 1
        assert sum(r.requests for r in RequestStat.select().where(RequestStat.tenant == tid)) == 21


def test_counts_of_a_deleted_tenant_are_dropped(app, make_tenant):
    gone, kept = make_tenant("gone"), make_tenant("kept")
    gone_id, kept_id = tenant_id("gone"), tenant_id("kept")
    stats.count(gone_id, False, defer=True)
    stats.count(kept_id, True, defer=True)
    with database.connection_context():
        services.delete_tenant("gone")
        stats.flush()
        assert not stats.pending()
        assert RequestStat.select().where(RequestStat.tenant == gone_id).count() == 0
        row = RequestStat.get(RequestStat.tenant == kept_id)
        assert (row.requests, row.errors) == (1, 1)
    assert gone.slug == "gone" and kept.slug == "kept"


def test_a_tenant_deleted_with_its_statistics(admin, scim, tenant):
    scim.get("/Users")
    ok(admin.get(f"/tenants/{tenant.slug}/status"))  # flushes
    tid = tenant_id(tenant.slug)
    assert admin.delete(f"/tenants/{tenant.slug}").status_code == 204
    with database.connection_context():
        assert RequestStat.select().where(RequestStat.tenant == tid).count() == 0
        assert TenantActivity.select().where(TenantActivity.tenant == tid).count() == 0


def test_status_costs_the_same_queries_in_a_small_and_a_large_tenant(admin, client, make_tenant):
    small, large = Scim(client, make_tenant("small")), Scim(client, make_tenant("large"))
    small.create_user("one@example.com")
    for i in range(30):
        large.create_user(f"user{i}@example.com")
    ok(admin.get("/tenants/small/status"))  # flush what is pending first
    counts = []
    for slug in ("small", "large"):
        with count_queries() as counter:
            ok(admin.get(f"/tenants/{slug}/status"))
        counts.append(counter.count)
    assert counts[0] == counts[1] <= 6  # admin key, tenant, users, groups, requests, last request


# -- tokens ----------------------------------------------------------------------------------


def test_tokens_are_listed_by_prefix_and_revoked_at_once(admin, client, tenant):
    second = ok(admin.post(f"/tenants/{tenant.slug}/tokens"), 201)
    listed = ok(admin.get(f"/tenants/{tenant.slug}/tokens"))
    assert [t["prefix"] for t in listed] == [tenant.token[:12], second["prefix"]]
    assert all(set(t) == {"prefix", "created", "expires", "state"} for t in listed)
    assert [t["state"] for t in listed] == ["current", "current"]
    assert tenant.token not in json.dumps(listed) and second["token"] not in json.dumps(listed)

    old = Scim(client, tenant)
    assert old.get("/Users").status_code == 200
    response = admin.delete(f"/tenants/{tenant.slug}/tokens/{tenant.token[:12]}")
    assert response.status_code == 204
    assert_scim_error(old.get("/Users"), 401)
    assert Scim(client, TenantCredentials(tenant.slug, second["token"])).get("/Users").status_code == 200
    listed = ok(admin.get(f"/tenants/{tenant.slug}/tokens"))
    assert [t["state"] for t in listed] == ["revoked", "current"]

    # again: nothing changes; an unknown prefix: 404
    assert admin.delete(f"/tenants/{tenant.slug}/tokens/{tenant.token[:12]}").status_code == 204
    assert_error(admin.delete(f"/tenants/{tenant.slug}/tokens/scimgw_nope0"), 404, "no token")
    audit = ok(admin.get(f"/tenants/{tenant.slug}/audit?resource=Token"))
    assert [i["action"] for i in audit["items"]] == ["token_revoked", "token_issued"]


def test_rotation_shows_expiring_and_expired_tokens(admin, tenant):
    ok(admin.post(f"/tenants/{tenant.slug}/tokens", {"grace_seconds": 3600}), 201)
    first, _ = ok(admin.get(f"/tenants/{tenant.slug}/tokens"))
    assert first["state"] == "current" and parse_time(first["expires"]) > utcnow()
    ok(admin.post(f"/tenants/{tenant.slug}/tokens", {"grace_seconds": 0}), 201)
    states = [t["state"] for t in ok(admin.get(f"/tenants/{tenant.slug}/tokens"))]
    assert states[0] == "expired" and states[-1] == "current"


def test_status_and_tokens_need_an_admin_key_for_that_tenant(client, make_tenant, admin):
    make_tenant("mine")
    other = make_tenant("other")
    scoped = Admin(client, make_key("tech", tenants=["mine"]))
    calls = [("GET", "/tenants/other/status"), ("GET", "/tenants/other/tokens"),
             ("DELETE", f"/tenants/other/tokens/{other.token[:12]}")]
    for method, path in calls:
        assert_error(Admin(client, None).request(method, path), 401)
        assert_error(Admin(client, other.token).request(method, path), 401)
        assert_error(Admin(client, make_key(revoked=True)).request(method, path), 401)
        assert_error(scoped.request(method, path), 404)
        assert_error(admin.request(method, path.replace("other", "ghost")), 404)
    # nothing was revoked by the refused calls
    assert Scim(client, other).get("/Users").status_code == 200
    assert scoped.get("/tenants/mine/status").status_code == 200
    assert scoped.get("/tenants/mine/tokens").status_code == 200


# -- CLI ------------------------------------------------------------------------------------


def test_cli_status_tokens_and_revoke(app, database_url, scim, tenant):
    scim.create_user("ada@example.com")
    scim.get("/Users/nope")
    with database.connection_context():
        stats.flush()
    status = json.loads(run_cli(database_url, "tenants", "status", tenant.slug, "--json"))
    assert status["users"] == {"total": 1, "active": 1, "disabled": 0}
    assert (status["requests_24h"], status["errors_24h"]) == (2, 1)
    assert status["last_scim_request"] is not None
    assert "1 active" in run_cli(database_url, "tenants", "status", tenant.slug)

    tokens = json.loads(run_cli(database_url, "tenants", "tokens", tenant.slug, "--json"))
    assert [(t["prefix"], t["state"]) for t in tokens] == [(tenant.token[:12], "current")]
    assert tenant.token not in run_cli(database_url, "tenants", "tokens", tenant.slug)
    assert "revoked" in run_cli(database_url, "tenants", "revoke-token", tenant.slug, tenant.token[:12])
    assert_scim_error(scim.get("/Users"), 401)
    tokens = json.loads(run_cli(database_url, "tenants", "tokens", tenant.slug, "--json"))
    assert tokens[0]["state"] == "revoked"
    audit = json.loads(run_cli(database_url, "audit", "list", tenant.slug, "--resource", "Token", "--json"))
    assert [(i["actor"], i["action"]) for i in audit["items"]] == [("cli", "token_revoked")]


def test_a_real_server_writes_its_counts_after_answering(tmp_path):
    """gunicorn (one worker): counts reach the database without any status read in that process."""
    import time

    import requests

    from .conftest import start_server, stop_server

    server = start_server(tmp_path, f"sqlite:///{tmp_path}/live.db", workers=1)
    try:
        tenant = server.create_tenant("contoso")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {tenant['token']}"
        url = tenant["tenant_url"]
        answers = [session.get(f"{url}/Users"), session.get(f"{url}/Users/nope"), session.get(f"{url}/Groups")]
        assert [a.status_code for a in answers] == [200, 404, 200]
        assert all(len(a.headers["X-Request-ID"]) == 32 for a in answers)
        time.sleep(1.2)
        assert session.get(f"{url}/Users", headers={"X-Request-ID": "last-one"}).headers["X-Request-ID"] == "last-one"
        deadline = time.monotonic() + 10
        while True:  # the flush runs once the answer is sent: give it a moment
            status = json.loads(server.cli("tenants", "status", "contoso", "--json"))
            if status["requests_24h"] == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (status["requests_24h"], status["errors_24h"]) == (4, 1)
        assert status["last_scim_request"] is not None
    finally:
        stop_server(server.process)
