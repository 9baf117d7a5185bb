"""List queries read through the index meant for them, on SQLite and on PostgreSQL.

One module-wide database holds two tenants of 3,000 users (every tenth one tombstoned)
and 300 groups each. PostgreSQL gets ``ANALYZE``, as autovacuum would give a table that
size; SQLite gets none, because the gateway never runs it. Each test sends one request,
takes the SQL it ran from peewee's query log, and asks the database for each statement's
plan (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL): which index reads the
table, and whether the rows are sorted afterwards. It also checks what the request answered.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from playhouse.test_utils import count_queries

from tenants import services
from tenants.db import database, is_sqlite
from tenants.keys import fold
from tenants.models import Group, Membership, Tenant, User, new_id

from .conftest import Scim, TenantCredentials, logged_statements

USERS, GROUPS, MEMBERS = 3000, 300, 5
LIVE_USERS_INDEX = "scim_user_live_tenant_id_created_id"


def _seed(slug: str) -> tuple[TenantCredentials, dict]:
    """A tenant with ``USERS`` users (every tenth tombstoned) and ``GROUPS`` groups of ``MEMBERS``."""
    start = dt.datetime(2025, 1, 1)
    with database.connection_context():
        _, token = services.create_tenant(slug, slug)
        tenant = Tenant.get(Tenant.slug == slug)
        users, groups, memberships = [], [], []
        for i in range(USERS):
            user_id, name, deleted = new_id(), f"user{i}@{slug}.example.com", i % 10 == 9
            users.append({"id": user_id, "tenant": tenant.id, "user_name": name,
                          "user_name_key": f"~deleted~{user_id}" if deleted else fold(name),
                          "external_id": f"ext-{slug}-{i}", "active": not deleted, "extra": {},
                          "created": start + dt.timedelta(seconds=i), "last_modified": start,
                          "deleted_at": start if deleted else None})
        for i in range(GROUPS):
            group_id = new_id()
            groups.append({"id": group_id, "tenant": tenant.id, "display_name": f"Group {i}",
                           "display_name_key": fold(f"Group {i}"), "external_id": f"gext-{slug}-{i}",
                           "extra": {}, "created": start + dt.timedelta(seconds=i), "last_modified": start})
            memberships += [{"group": group_id, "user": users[(i * MEMBERS + k) * 10 % USERS]["id"]}
                            for k in range(MEMBERS)]
        with database.atomic():
            for model, rows in ((User, users), (Group, groups), (Membership, memberships)):
                for at in range(0, len(rows), 500):
                    model.insert_many(rows[at:at + 500]).execute()
    return TenantCredentials(slug=slug, token=token.secret), {"users": users, "groups": groups,
                                                               "memberships": memberships}


@pytest.fixture(scope="module")
def seeded(module_app):
    """``(Scim client of tenant "plans", its rows)``, next to a neighbour tenant of the same size."""
    credentials, rows = _seed("plans")
    _seed("neighbour")
    if not is_sqlite():
        with database.connection_context():
            database.execute_sql("ANALYZE")
    return Scim(module_app.test_client(), credentials), rows


def _on_resources(message) -> bool:
    """True for a logged ``(sql, params)`` that reads users or groups (not the token lookup)."""
    return (isinstance(message, tuple) and "tenant_token" not in message[0]
            and ('"scim_user"' in message[0] or '"scim_group"' in message[0]))


def _plans(scim: Scim, path: str) -> tuple[dict, list[tuple[str, str]]]:
    """The answer to ``GET path`` and ``(statement, plan)`` for each statement on users or groups."""
    with count_queries() as counter:
        response = scim.get(path)
    assert response.status_code == 200, response.get_json()
    statements = [message for message in logged_statements(counter) if _on_resources(message)]
    explain = "EXPLAIN QUERY PLAN " if is_sqlite() else "EXPLAIN "
    plans = []
    with database.connection_context():
        for sql, params in statements:
            rows = database.execute_sql(explain + sql, params).fetchall()
            plans.append((sql, "\n".join(str(row[-1]) for row in rows)))
    return response.get_json(), plans


def _reads_through(plan: str, index: str) -> bool:
    if is_sqlite():
        return f"USING INDEX {index} " in plan + " " or f"USING COVERING INDEX {index} " in plan + " "
    return f" using {index} on " in plan or f"Bitmap Index Scan on {index} " in plan


def _sorts(plan: str) -> bool:
    return "USE TEMP B-TREE FOR ORDER BY" in plan if is_sqlite() else "Sort Key:" in plan


def _page_plan(plans: list[tuple[str, str]]) -> str:
    (plan,) = [plan for sql, plan in plans if " ORDER BY " in sql and " LIMIT " in sql and "COUNT(" not in sql]
    return plan


def test_a_deep_page_of_users_skips_only_live_users_in_their_index(seeded):
    """The page at offset 1,000 reads the live-users index in order (migration 0006).

    Nearer the end of a 3,000-user tenant PostgreSQL rightly sorts the tenant instead (the
    cheaper plan at that size); with 100,000 users it reads this index for the page at
    offset 90,000 too (``benchmarks/README.md``).
    """
    scim, rows = seeded
    live = [user["id"] for user in rows["users"] if user["deleted_at"] is None]
    body, plans = _plans(scim, "/Users?startIndex=1001&count=50")
    assert body["totalResults"] == len(live)
    assert [user["id"] for user in body["Resources"]] == live[1000:1050]
    page = _page_plan(plans)
    assert _reads_through(page, LIVE_USERS_INDEX) and not _sorts(page), page


def test_a_page_of_groups_reads_their_paging_index(seeded):
    """Groups have no tombstones: 0005's (tenant, created, id) index serves their pages."""
    scim, rows = seeded
    body, plans = _plans(scim, "/Groups?excludedAttributes=members&startIndex=21&count=5")
    assert [group["id"] for group in body["Resources"]] == [group["id"] for group in rows["groups"][20:25]]
    page = _page_plan(plans)
    assert _reads_through(page, "scim_group_tenant_id_created_id") and not _sorts(page), page


def _user(rows, i):
    return rows["users"][i]


def _primary_key(table: str) -> str:
    return f"sqlite_autoindex_{table}_1" if is_sqlite() else f"{table}_pkey"


SELECTIVE = [
    ("Users", lambda rows: f'externalId eq "{_user(rows, 1234)["external_id"]}"',
     lambda rows: [_user(rows, 1234)["id"]], lambda: "scim_user_tenant_id_external_id"),
    ("Users", lambda rows: f'externalId eq "{_user(rows, 1239)["external_id"]}"',  # a tombstone: not found
     lambda rows: [], lambda: "scim_user_tenant_id_external_id"),
    ("Users", lambda rows: f'externalId eq "{_user(rows, 77)["external_id"]}" and active eq true',
     lambda rows: [_user(rows, 77)["id"]], lambda: "scim_user_tenant_id_external_id"),
    ("Users", lambda rows: f'userName eq "{_user(rows, 2001)["user_name"].upper()}"',
     lambda rows: [_user(rows, 2001)["id"]], lambda: "scim_user_tenant_id_user_name_key"),
    ("Users", lambda rows: f'id eq "{_user(rows, 5)["id"]}"',
     lambda rows: [_user(rows, 5)["id"]], lambda: _primary_key("scim_user")),
    ("Groups", lambda rows: 'displayName eq "group 123"',
     lambda rows: [rows["groups"][123]["id"]], lambda: "scim_group_tenant_id_display_name_key"),
    ("Groups", lambda rows: f'externalId eq "{rows["groups"][250]["external_id"]}"',
     lambda rows: [rows["groups"][250]["id"]], lambda: "scim_group_tenant_id_external_id"),
    ("Groups", lambda rows: f'id eq "{rows["groups"][7]["id"]}"',
     lambda rows: [rows["groups"][7]["id"]], lambda: _primary_key("scim_group")),
    ("Groups", lambda rows: f'members[value eq "{rows["memberships"][42]["user"]}"]',
     lambda rows: [group["id"] for group in rows["groups"]
                   if {"group": group["id"], "user": rows["memberships"][42]["user"]} in rows["memberships"]],
     lambda: "membership_user_id"),
]


@pytest.mark.parametrize(("endpoint", "scim_filter", "expected", "index"), SELECTIVE,
                         ids=["externalId", "externalId-tombstone", "externalId-and", "userName", "user-id",
                              "displayName", "group-externalId", "group-id", "members.value"])
def test_an_equality_filter_reads_through_its_own_index(seeded, endpoint, scim_filter, expected, index):
    scim, rows = seeded
    query = quote(scim_filter(rows), safe="")
    body, plans = _plans(scim, f"/{endpoint}?excludedAttributes=members&filter={query}")
    assert sorted(resource["id"] for resource in body["Resources"]) == sorted(expected(rows))
    assert body["totalResults"] == len(expected(rows))
    assert plans, "no statement on the resource's table"
    for sql, plan in plans:  # the count, and the page when something matched
        assert _reads_through(plan, index()), (sql, plan)
        assert not _reads_through(plan, LIVE_USERS_INDEX), (sql, plan)
