"""Paging through every user: the live-user tally (migration 0010) and anchors (tenants.positions).

``totalResults`` of an unfiltered user list comes from ``user_tally``, which triggers on
``scim_user`` keep; a deep page starts from the nearest anchor. Both must answer exactly
what ``COUNT(*)`` and ``OFFSET`` would, whatever wrote the rows and however they change
between two pages. Each test runs on SQLite and, in CI's second run, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from playhouse.test_utils import count_queries

from gateway.sweep import sweep_all
from tenants import db as tenant_db
from tenants import positions
from tenants.clock import utcnow
from tenants.db import database, write_transaction
from tenants.models import Tenant, User, UserTally
from tenants.repositories import UserRepository

from .conftest import Scim, logged_statements

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def live_users(slug: str) -> list[str]:
    """The tenant's live user ids in paging order, read with plain SQL."""
    with database.connection_context():
        tenant = Tenant.get(Tenant.slug == slug)
        return [user_id for (user_id,) in User.select(User.id).where(
            (User.tenant == tenant.id) & User.deleted_at.is_null()).order_by(User.created, User.id).tuples()]


def tally(slug: str | None = None) -> tuple[int, int]:
    """``(live, changes)`` summed over the tenant's tally rows (all rows when ``slug`` is None)."""
    with database.connection_context():
        query = UserTally.select()
        if slug is not None:
            query = query.where(UserTally.tenant_id == Tenant.get(Tenant.slug == slug).id)
        rows = list(query)
    return sum(row.live for row in rows), sum(row.changes for row in rows)


def page_through(scim: Scim, count: int) -> tuple[list[str], set[int]]:
    """Every user id, page by page, and the totalResults each page gave."""
    ids, totals, start = [], set(), 1
    while True:
        body = scim.get(f"/Users?startIndex={start}&count={count}").get_json()
        totals.add(body["totalResults"])
        ids += [user["id"] for user in body["Resources"]]
        if len(body["Resources"]) < count:
            return ids, totals
        start += count


def test_the_tally_follows_every_write_that_adds_or_removes_a_live_user(app, client, make_tenant):
    """Creates (one by one and in Bulk), a DELETE that tombstones, one that removes, the
    sweep's bulk DELETE of disabled users and of tombstones, a tenant's deletion: the tally
    always equals a count, and ``changes`` grows exactly when the set of live users changes."""
    keeps = make_tenant("keeps", settings={"plugins": {"deprovisioning": {"options": {
        "tombstone_days": 1, "remove_disabled_after_days": 1}}}})
    other = make_tenant("other")
    scim, scim_other = Scim(client, keeps), Scim(client, other)

    def check(expected_changes: int) -> None:
        assert tally("keeps") == (len(live_users("keeps")), expected_changes)
        assert tally("other")[0] == len(live_users("other"))

    ids = [scim.create_user(f"user{i}@example.com")["id"] for i in range(6)]
    scim_other.create_user("someone@example.com")
    check(6)
    bulk = scim.post("/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": {"schemas": [USER],
                                                                        "userName": f"bulk{i}@example.com"}}
        for i in range(3)]})
    assert bulk.status_code == 200
    check(9)
    assert scim.patch(f"/Users/{ids[0]}", [{"op": "replace", "path": "active", "value": False}]).status_code == 200
    assert scim.patch(f"/Users/{ids[1]}", [{"op": "replace", "path": "name.givenName", "value": "X"}]).status_code == 200
    check(9)  # disabled and renamed users are still listed: no change to the set
    assert scim.delete(f"/Users/{ids[2]}").status_code == 204  # tombstoned (tombstone_days)
    check(10)
    assert scim.post("/Users", {"schemas": [USER], "userName": "user0@example.com"}).status_code == 409
    check(10)  # refused: nothing written
    with app.app_context(), database.connection_context():
        sweep_all(now=utcnow() + dt.timedelta(days=2))  # removes the disabled user and the tombstone
    check(11)  # the disabled user left the set; deleting the tombstone changed nothing there
    assert len(live_users("keeps")) == 7

    with app.app_context(), database.connection_context():
        from tenants import services

        services.delete_tenant("keeps")
    assert tally() == (1, 1)  # only the other tenant's rows are left
    recreated = make_tenant("keeps")  # SQLite may give the new tenant the old one's id
    assert tally("keeps") == (0, 0)
    Scim(client, recreated).create_user("fresh@example.com")
    assert tally("keeps") == (1, 1)


def test_every_page_matches_offset_paging_while_users_come_and_go(scim, tenant, monkeypatch):
    """With an anchor every 10 users, pages of 7 give each user once, in creation order,
    and the right total; after users are removed before an anchor and added, the next walk
    is exact again (the anchors of the earlier set are not used)."""
    monkeypatch.setattr(positions, "SPACING", 10)
    monkeypatch.setattr(positions, "REBUILD_INTERVAL", 0.0)
    positions.forget()
    ids = [scim.create_user(f"user{i:03d}@example.com")["id"] for i in range(95)]
    walked, totals = page_through(scim, 7)
    assert walked == live_users(tenant.slug) and sorted(walked) == sorted(ids) and totals == {95}

    with count_queries() as counter:
        body = scim.get("/Users?startIndex=52&count=7").get_json()  # offset 51: after the 5th anchor
    statements = [sql for sql, _ in logged_statements(counter) if '"scim_user"' in sql or '"user_tally"' in sql]
    assert [user["id"] for user in body["Resources"]] == live_users(tenant.slug)[51:58]
    assert len(statements) == 2 and not any("COUNT(" in sql and "scim_user" in sql for sql in statements), statements
    assert '("t1"."created", "t1"."id") >' in statements[1], statements

    for user_id in ids[3:30:4] + [ids[60]]:
        assert scim.delete(f"/Users/{user_id}").status_code == 204
    added = [scim.create_user(f"late{i}@example.com")["id"] for i in range(4)]
    walked, totals = page_through(scim, 7)
    assert walked == live_users(tenant.slug) and totals == {95 - 8 + 4}
    assert set(walked[-4:]) == set(added)  # the newest last (two created in one millisecond go by id)
    assert scim.get("/Users?startIndex=200&count=7").get_json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 91,
        "itemsPerPage": 0, "startIndex": 200, "Resources": []}
    assert scim.get("/Users?count=0").get_json()["totalResults"] == 91


def test_a_tenant_created_again_with_a_deleted_ones_id_never_gets_its_anchors(app, client, make_tenant, monkeypatch):
    """SQLite gives a new tenant the id of the last one deleted, and the same number of
    creates gives it the same tally: anchors are kept per tenant id *and* creation time."""
    monkeypatch.setattr(positions, "SPACING", 10)
    monkeypatch.setattr(positions, "REBUILD_INTERVAL", 0.0)
    positions.forget()
    first = Scim(client, make_tenant("first"))
    for i in range(30):
        first.create_user(f"old{i}@example.com")
    assert [user["id"] for user in first.get("/Users?startIndex=26&count=3").get_json()["Resources"]] == (
        live_users("first")[25:28])  # (created, id) order: two users made in one millisecond go by id
    with app.app_context(), database.connection_context():
        from tenants import services

        gone = Tenant.get(Tenant.slug == "first").id
        services.delete_tenant("first")
    second = Scim(client, make_tenant("second"))
    with database.connection_context():
        reused = Tenant.get(Tenant.slug == "second").id == gone
    for i in range(30):
        second.create_user(f"new{i}@example.com")
    page = second.get("/Users?startIndex=26&count=3").get_json()
    assert [user["id"] for user in page["Resources"]] == live_users("second")[25:28]
    if tenant_db.is_sqlite():
        assert reused  # the case this guards (PostgreSQL's sequence never gives an id twice)


def test_anchors_are_read_once_per_state_and_not_kept_when_it_changed_meanwhile(monkeypatch):
    """The per-process cache: one read while nothing changes; a set that changed while its
    anchors were read is paged by OFFSET; a changing tenant is re-read at most once per
    interval."""
    monkeypatch.setattr(positions, "SPACING", 10)
    monkeypatch.setattr(positions, "REBUILD_INTERVAL", 60.0)
    positions.forget()
    reads = []

    def read(changes_after: int):
        def read_anchors():
            reads.append(changes_after)
            return [(f"k{n}",) for n in range(10, 101, 10)], changes_after
        return read_anchors

    assert positions.start(1, 5, 9, read(5)) is None and reads == []  # before the first anchor: OFFSET
    assert positions.start(1, 5, 35, read(5)) == (30, ("k30",)) and reads == [5]
    assert positions.start(1, 5, 99, read(5)) == (90, ("k90",)) and reads == [5]  # kept
    assert positions.start(1, 5, 500, read(5)) == (100, ("k100",))  # past the last anchor
    assert positions.start(1, 6, 35, read(6)) is None and reads == [5]  # changed, read 0 s ago: OFFSET
    monkeypatch.setattr(positions, "REBUILD_INTERVAL", 0.0)
    assert positions.start(1, 6, 35, read(7)) is None and reads == [5, 7]  # changed while read: not used
    assert positions.start(1, 7, 35, read(7)) == (30, ("k30",)) and reads == [5, 7, 7]
    assert positions.start(2, 7, 35, read(7)) == (30, ("k30",)) and reads == [5, 7, 7, 7]  # per tenant

    started, release = threading.Event(), threading.Event()

    def slow_read():
        started.set()
        release.wait(10)
        return read(8)()

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(positions.start, 3, 8, 35, slow_read)
        assert started.wait(10)
        assert positions.start(3, 8, 35, read(8)) is None  # one thread reads; the others page by OFFSET
        release.set()
        assert first.result() == (30, ("k30",))
    assert reads == [5, 7, 7, 7, 8]
    positions.forget()


def test_concurrent_creates_and_deletes_keep_the_tally_exact(app, make_tenant):
    """Eight threads on their own pooled connections (PostgreSQL: their own tally slots)
    add 240 users and delete 80: the tally is the count."""
    make_tenant("busy")
    with app.app_context(), database.connection_context():
        tenant = Tenant.get(Tenant.slug == "busy")
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        barrier.wait()
        with app.app_context(), database.connection_context():
            users = UserRepository(tenant)
            for i in range(30):
                with write_transaction():  # as a write request runs
                    row = users.create({"user_name": f"w{worker}-{i}@example.com", "extra": {}})
                if i % 3 == 0:
                    with write_transaction():
                        users.delete(row)

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(work, worker) for worker in range(8)]:
            future.result()
    assert len(live_users("busy")) == 160
    assert tally("busy") == (160, 320)


@pytest.mark.parametrize("offset", [0, 999, 1000, 1001, 2999])
def test_a_page_at_any_offset_reads_what_offset_reads(app, make_tenant, offset):
    """Around the real anchor spacing (1,000): the anchored page equals the OFFSET page, and
    a page from the first anchor on is read from it."""
    make_tenant("big")
    with app.app_context(), database.connection_context():
        tenant = Tenant.get(Tenant.slug == "big")
        now = utcnow()
        rows = [{"id": f"{i:08d}-0000-4000-8000-000000000000", "tenant": tenant.id,
                 "user_name": f"u{i}@example.com", "user_name_key": f"u{i}@example.com", "extra": {},
                 "created": now + dt.timedelta(milliseconds=i // 3), "last_modified": now, "version": 1}
                for i in range(3050)]
        for start in range(0, len(rows), 500):
            User.insert_many(rows[start:start + 500]).execute()
        users = UserRepository(tenant)
        positions.forget()
        with count_queries() as counter:
            total, records = users.page(None, offset, 60)
        expected = users._run_prepared(users._page_all, users._count_all, (tenant.id,), offset, 60)
    assert total == expected[0] == 3050
    assert [record.id for record in records] == [record.id for record in expected[1]]
    assert len(records) == min(60, 3050 - offset)
    keyset = [sql for sql, _ in logged_statements(counter) if '("t1"."created", "t1"."id") >' in sql]
    assert len(keyset) == (1 if offset >= positions.SPACING else 0)  # from an anchor, or by OFFSET before the first


def test_the_tally_follows_writes_of_other_programs_too(scim, tenant, make_tenant, client, monkeypatch):
    """The gateway never moves a user to another tenant or changes its paging key, but the
    triggers see another program do it; and a PostgreSQL TRUNCATE (SQLite: DELETE) empties
    the tally with the users."""
    monkeypatch.setattr(positions, "SPACING", 10)
    monkeypatch.setattr(positions, "REBUILD_INTERVAL", 0.0)
    positions.forget()
    other = make_tenant("other")
    ids = [scim.create_user(f"user{i:02d}@example.com")["id"] for i in range(25)]
    assert page_through(scim, 7)[0] == live_users(tenant.slug)  # anchors read
    with database.connection_context():
        other_id = Tenant.get(Tenant.slug == "other").id
        User.update(tenant=other_id).where(User.id == ids[3]).execute()
        User.update(created=dt.datetime(2000, 1, 1)).where(User.id == ids[20]).execute()
    assert tally(tenant.slug) == (24, 25 + 1 + 2)  # left one tenant; moved within the other's order
    assert tally("other") == (1, 1)
    walked, totals = page_through(scim, 7)
    assert walked == live_users(tenant.slug) and walked[0] == ids[20] and totals == {24}
    assert page_through(Scim(client, other), 7) == ([ids[3]], {1})
    with database.connection_context():
        database.execute_sql("DELETE FROM scim_user" if tenant_db.is_sqlite() else "TRUNCATE scim_user CASCADE")
    assert tally(tenant.slug)[0] == tally("other")[0] == 0
    assert scim.get("/Users").get_json()["totalResults"] == 0
