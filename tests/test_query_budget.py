"""Every request runs a bounded number of SQL queries, whatever the tenant's size.

Counts come from peewee's query log (``playhouse.test_utils.count_queries``); each test
compares a small and a large tenant in the same run, so the numbers are exact, not timed.
"""

from __future__ import annotations

from playhouse.test_utils import count_queries

from tenants import db as tenant_db
from tenants.clock import utcnow
from tenants.db import database
from tenants.keys import fold
from tenants.models import Group, Membership, Tenant, User, new_id

from .conftest import PATCH_SCHEMA, logged_statements
from .snapshot import snapshot


def seed(slug: str, users: int, group_members: int) -> tuple[list[str], str]:
    """Insert ``users`` users and one group holding the first ``group_members`` of them."""
    with database.connection_context(), database.atomic():
        tenant = Tenant.get(Tenant.slug == slug)
        now = utcnow()
        rows = [
            {"id": new_id(), "tenant": tenant.id, "user_name": f"user{i}@example.com",
             "user_name_key": fold(f"user{i}@example.com"), "active": True, "extra": {},
             "created": now, "last_modified": now, "version": 1}
            for i in range(users)
        ]
        for start in range(0, len(rows), 500):
            User.insert_many(rows[start:start + 500]).execute()
        group = Group.create(id=new_id(), tenant=tenant.id, display_name="Big", display_name_key="big",
                             created=now, last_modified=now)
        members = [{"group": group.id, "user": row["id"]} for row in rows[:group_members]]
        for start in range(0, len(members), 500):
            Membership.insert_many(members[start:start + 500]).execute()
    return [row["id"] for row in rows], group.id


def queries(call) -> list[str]:
    with count_queries() as counter:
        response = call()
    assert response.status_code < 300, response.get_json()
    return [sql for sql, _ in logged_statements(counter)]


def test_a_page_of_users_costs_the_same_queries_in_a_small_and_a_large_tenant(scim, make_tenant, client):
    from tests.conftest import Scim

    small, large = make_tenant("small"), make_tenant("large")
    seed("small", 5, 0)
    seed("large", 1500, 0)
    small_queries = queries(lambda: Scim(client, small).get("/Users?count=100"))
    large_queries = queries(lambda: Scim(client, large).get("/Users?count=100"))
    assert len(small_queries) == len(large_queries) <= 3


def _on_users(statements: list[str]) -> list[str]:
    return [sql for sql in statements if '"scim_user"' in sql or '"user_tally"' in sql]


def test_a_page_that_is_not_full_tells_the_total_without_counting(scim, tenant):
    """An IdP looks a user up by userName before each write: one query, found or not. Only
    a full page, or an empty one past the start, is counted as well. A list of all users
    reads its total from the tally (migration 0010), then the page if there is one."""
    seed("acme", 250, 0)
    cases = [  # (query, totalResults, resources, statements on users)
        ('?filter=userName eq "user7@example.com"', 1, 1, 1),
        ('?filter=userName eq "nobody@example.com"', 0, 0, 1),
        ('?filter=userName sw "user1"', 111, 100, 2),  # user1, user10-19, user100-199: a full page
        ('?filter=userName sw "user1"&startIndex=101', 111, 11, 1),
        ('?filter=userName sw "user1"&startIndex=112', 111, 0, 2),
        ('?filter=userName sw "user1"&count=0', 111, 0, 1),
        ("?count=100", 250, 100, 2),
        ("?startIndex=201&count=100", 250, 50, 2),
        ("?startIndex=251&count=100", 250, 0, 1),
        ("?startIndex=900", 250, 0, 1),
        ("?count=0", 250, 0, 1),
    ]
    for query, total, resources, expected in cases:
        with count_queries() as counter:
            response = scim.get("/Users" + query)
        assert response.status_code == 200, (query, response.get_json())
        body = response.get_json()
        assert (body["totalResults"], len(body["Resources"])) == (total, resources), query
        assert len(_on_users([sql for sql, _ in logged_statements(counter)])) == expected, query


def test_a_page_of_groups_reads_members_in_one_query(scim, tenant):
    ids, _ = seed("acme", 30, 30)
    for index in range(5):
        scim.create_group(f"group {index}", members=ids[index * 5:(index + 1) * 5])
    statements = queries(lambda: scim.get("/Groups"))
    assert sum("membership" in sql for sql in statements) == 1
    assert len(statements) <= 4


def test_excluded_members_never_reads_the_membership_table(scim, tenant):
    _, group_id = seed("acme", 200, 200)
    for path in (f"/Groups/{group_id}?excludedAttributes=members",
                 "/Groups?excludedAttributes=members&filter=displayName eq \"Big\"",
                 f"/Groups/{group_id}?attributes=displayName"):
        statements = queries(lambda: scim.get(path))
        assert not any("membership" in sql for sql in statements), statements
    response = scim.get(f"/Groups/{group_id}?excludedAttributes=members")
    assert "members" not in response.get_json()


def test_adding_members_costs_the_same_queries_on_a_small_and_a_large_group(client, make_tenant):
    from tests.conftest import Scim

    small, large = make_tenant("small"), make_tenant("large")
    small_ids, small_group = seed("small", 60, 10)
    large_ids, large_group = seed("large", 10050, 10000)

    def add_fifty(tenant, group, ids):
        operations = [{"op": "add", "path": "members", "value": [{"value": i} for i in ids]}]
        return Scim(client, tenant).patch(f"/Groups/{group}?excludedAttributes=members", operations)

    small_queries = queries(lambda: add_fifty(small, small_group, small_ids[10:60]))
    large_queries = queries(lambda: add_fifty(large, large_group, large_ids[10000:10050]))
    assert len(small_queries) == len(large_queries)
    with database.connection_context():
        assert Membership.select().where(Membership.group == large_group).count() == 10050


def test_writes_answer_from_the_row_they_wrote_without_reading_it_again(scim, tenant):
    ids, group_id = seed("acme", 3, 0)
    created = queries(lambda: scim.post("/Users", {"userName": "new@example.com"}))
    inserted = next(i for i, sql in enumerate(created) if sql.startswith('INSERT INTO "scim_user"'))
    assert not any('FROM "scim_user"' in sql for sql in created[inserted:]), created
    patched = queries(lambda: scim.patch(f"/Users/{ids[0]}", [{"op": "replace", "path": "name.givenName",
                                                              "value": "Ada"}]))
    assert sum('FROM "scim_user"' in sql for sql in patched) == 1, patched  # the read it changes
    update = next(sql for sql in patched if sql.startswith('UPDATE "scim_user"'))
    assert '"given_name"' in update and '"user_name"' not in update, update  # only what changed
    assert scim.get(f"/Users/{ids[0]}").get_json()["name"]["givenName"] == "Ada"
    answered = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                    "userName": "Second@Example.com", "name": {"familyName": "B", "givenName": "A"},
                                    "externalId": "x-2", "active": False})
    assert answered.status_code == 201
    assert answered.get_json() == scim.get(f"/Users/{answered.get_json()['id']}").get_json()


def test_only_a_rename_writes_in_a_savepoint_and_a_taken_name_changes_nothing(scim, tenant):
    """A create is one INSERT that skips a taken name (``ON CONFLICT DO NOTHING``), and an
    update that keeps the name cannot break a UNIQUE index: neither needs PostgreSQL's
    savepoint (two round trips more per write). A rename still has one, so that a taken
    name is found and answered 409 in the same transaction."""
    ids, group_id = seed("acme", 2, 0)

    def savepoints(statements: list[str]) -> int:
        return sum(sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) for sql in statements)

    created = queries(lambda: scim.post("/Users", {"userName": "new@example.com"}))
    assert sum(sql.startswith('INSERT INTO "scim_user"') for sql in created) == 1 and savepoints(created) == 0
    group = queries(lambda: scim.post("/Groups", {"displayName": "Staff"}))
    assert sum(sql.startswith('INSERT INTO "scim_group"') for sql in group) == 1 and savepoints(group) == 0
    kept = queries(lambda: scim.patch(f"/Users/{ids[0]}", [{"op": "replace", "path": "active", "value": False}]))
    assert savepoints(kept) == 0, kept
    renamed = queries(lambda: scim.patch(f"/Users/{ids[0]}", [{"op": "replace", "path": "userName",
                                                               "value": "renamed@example.com"}]))
    assert savepoints(renamed) == (0 if tenant_db.is_sqlite() else 2), renamed

    before = snapshot(scim)
    for method, path, body in [
        ("POST", "/Users", {"userName": "NEW@example.com"}),
        ("POST", "/Groups", {"displayName": "staff"}),
        ("PUT", f"/Users/{ids[1]}", {"userName": "Renamed@Example.com"}),
        ("PATCH", f"/Groups/{group_id}", {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "replace", "path": "displayName", "value": "STAFF"}]}),
    ]:
        response = scim.request(method, path, body)
        assert response.status_code == 409, (path, response.get_json())
        assert response.get_json()["scimType"] == "uniqueness"
    assert snapshot(scim) == before


def test_a_member_patch_reads_the_group_and_its_affected_members_once(scim, tenant):
    ids, group_id = seed("acme", 20, 5)
    operations = [{"op": "add", "path": "members", "value": [{"value": i} for i in ids[3:10]]}]
    statements = queries(lambda: scim.patch(f"/Groups/{group_id}?excludedAttributes=members", operations))
    assert sum('FROM "scim_group"' in sql for sql in statements) == 1, statements
    assert sum(sql.startswith('SELECT "t1"."user_id" FROM "membership"') for sql in statements) == 1, statements
    members = scim.get(f"/Groups/{group_id}").get_json()["members"]
    assert sorted(member["value"] for member in members) == sorted(ids[:10])
