"""Schema migrations on SQLite and PostgreSQL: upgrading a database made by the previous
schema keeps every row, a second run applies nothing, and two processes migrating one
fresh database at the same time both succeed with each migration recorded once.

The "previous schema" is what ``tenants/migrations`` produced up to 0002 (before the
PostgreSQL byte-wise keys of 0003 and anything later): built with playhouse's own
``Runner(...).up(target=...)`` on a plain peewee database and filled with plain SQL, as
an older gateway would have left it. A database made by 0005 is upgraded the same way to
check 0006's index swap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import uuid
from urllib.parse import quote

import pytest
from peewee import SqliteDatabase, fn
from playhouse.db_url import connect as connect_url
from playhouse.migrations import Runner

from gateway.app import create_app
from tenants import migrate as migrations
from tenants.db import close_pool, database
from tenants import services
from tenants.keys import fold
from tenants.models import Group, Membership, User, UserTally

from .conftest import Scim, TenantCredentials
from .postgres import fresh_postgres_url

ALL_TABLES = ("tenant", "tenant_token", "scim_user", "scim_group", "membership", "role", "group_role",
              "user_role", "user_permission", "admin_key")


def _migration_names() -> list[str]:
    return sorted(path.stem for path in migrations.MIGRATIONS_DIR.glob("[0-9]*.py"))


def _previous() -> str:
    """The migration that made the previous schema: ``0002_...``."""
    return next(name for name in _migration_names() if name.startswith("0002_"))


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request, tmp_path):
    """An empty database (nothing migrated) on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/blank.db"
    else:
        with fresh_postgres_url() as url:
            yield url
    close_pool()


def _raw(url: str):
    """A plain peewee database for ``url``: no pool, no pragmas, no app."""
    return connect_url(url)


def _insert(db, table: str, row: dict) -> None:
    columns = ", ".join(f'"{column}"' for column in row)
    params = ", ".join(db.param for _ in row)
    db.execute_sql(f'INSERT INTO "{table}" ({columns}) VALUES ({params})', tuple(row.values()))


def _rows(db, table: str) -> list[tuple]:
    cursor = db.execute_sql(f'SELECT * FROM "{table}"')
    names = [column[0] for column in cursor.description]
    return sorted((tuple(sorted(zip(names, map(_plain, row)))) for row in cursor.fetchall()), key=repr)


def _plain(value):
    """Column values compared across engines: datetimes as text, SQLite's 0/1 booleans kept."""
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value


def _old_data(db) -> dict:
    """Fill a database at the previous schema with one tenant's worth of every kind of row."""
    now = dt.datetime(2024, 5, 1, 12, 30, 15)
    token = "scimgw_" + uuid.uuid4().hex + uuid.uuid4().hex[:11]
    admin_key = "scimgw_admin_" + uuid.uuid4().hex
    ids = {name: str(uuid.uuid4()) for name in ("jane", "john", "manual", "staff", "admins", "reader", "writer")}
    with db.atomic():
        _insert(db, "tenant", {"slug": "legacy", "name": "Legacy Ltd", "enabled": True,
                               "settings": "{}", "created": now, "updated": now})
        tenant_id = db.execute_sql("SELECT id FROM tenant WHERE slug = " + db.param, ("legacy",)).fetchone()[0]
        _insert(db, "tenant_token", {"tenant_id": tenant_id, "digest": hashlib.sha256(token.encode()).hexdigest(),
                                     "prefix": token[:12], "created": now, "expires": None, "revoked": None})
        for key, user_name, given, family, source in (
            ("jane", "Jane.Doe@Example.com", "Jane", "Doe", "scim"),
            ("john", "john_smith@example.com", "John", "Smith", "scim"),
            ("manual", "ops@example.com", None, None, "manual"),
        ):
            _insert(db, "scim_user", {
                "id": ids[key], "tenant_id": tenant_id, "user_name": user_name, "user_name_key": fold(user_name),
                "external_id": f"ext-{key}", "given_name": given, "family_name": family, "active": True,
                "source": source, "extra": "{}", "created": now, "last_modified": now, "version": 3,
                "disabled_at": None, "deleted_at": None,
            })
        for key, display in (("staff", "Staff"), ("admins", "Admins_%")):
            _insert(db, "scim_group", {
                "id": ids[key], "tenant_id": tenant_id, "display_name": display, "display_name_key": fold(display),
                "external_id": None, "extra": "{}", "created": now, "last_modified": now, "version": 2,
            })
        for group, user, display in (("staff", "jane", "Jane Doe"), ("staff", "john", None), ("admins", "jane", None)):
            _insert(db, "membership", {"group_id": ids[group], "user_id": ids[user], "display": display})
        for key, name, permissions in (("reader", "Reader", '["read"]'), ("writer", "Writer", '["read", "write"]')):
            _insert(db, "role", {"id": ids[key], "tenant_id": tenant_id, "name": name, "name_key": fold(name),
                                 "description": f"{name} role", "permissions": permissions, "created": now})
        _insert(db, "group_role", {"group_id": ids["staff"], "role_id": ids["reader"]})
        _insert(db, "group_role", {"group_id": ids["admins"], "role_id": ids["writer"]})
        _insert(db, "user_role", {"user_id": ids["manual"], "role_id": ids["reader"]})
        _insert(db, "user_permission", {"user_id": ids["manual"], "permission": "billing"})
        _insert(db, "admin_key", {"name": "legacy-admin", "digest": hashlib.sha256(admin_key.encode()).hexdigest(),
                                  "prefix": admin_key[:16], "tenants": None, "created": now, "revoked": None})
    return {"token": token, "admin_key": admin_key, "ids": ids}


def test_upgrade_from_the_previous_schema_keeps_every_row(blank_url):
    db = _raw(blank_url)
    db.connect()
    try:
        assert Runner(db, str(migrations.MIGRATIONS_DIR)).up(target=_previous()) == [
            name for name in _migration_names() if name <= _previous()]
        old = _old_data(db)
        before = {table: _rows(db, table) for table in ALL_TABLES}
        assert all(before.values()), {table: len(rows) for table, rows in before.items()}

        applied = migrations.migrate(db)
        assert applied == [name for name in _migration_names() if name > _previous()]
        assert migrations.pending(db) == []
        after = {table: _rows(db, table) for table in ALL_TABLES}
    finally:
        db.close()
    assert after == before

    # ... and the app reads them: the old token authenticates, users and groups come back whole.
    app = create_app({"TESTING": True, "DATABASE_URL": blank_url})
    scim = Scim(app.test_client(), TenantCredentials(slug="legacy", token=old["token"]))
    ids = old["ids"]
    response = scim.get(f"/Users/{ids['jane']}")
    assert response.status_code == 200, response.get_json()
    jane = response.get_json()
    assert (jane["userName"], jane["name"], jane["externalId"], jane["active"]) == (
        "Jane.Doe@Example.com", {"givenName": "Jane", "familyName": "Doe"}, "ext-jane", True)
    assert jane["meta"]["version"] == 'W/"3"'
    found = scim.get("/Users?filter=" + quote('userName eq "jane.doe@example.com"')).get_json()
    assert [user["id"] for user in found["Resources"]] == [ids["jane"]]
    staff = scim.get(f"/Groups/{ids['staff']}").get_json()
    assert sorted(member["value"] for member in staff["members"]) == sorted([ids["jane"], ids["john"]])
    found = scim.get("/Groups?filter=" + quote('displayName sw "admins_"')).get_json()
    assert [group["id"] for group in found["Resources"]] == [ids["admins"]]

    admin = app.test_client()
    headers = {"Authorization": f"Bearer {old['admin_key']}"}
    detail = admin.get(f"/admin/v1/tenants/legacy/users/{ids['jane']}", headers=headers)
    assert detail.status_code == 200, detail.get_json()
    roles = {role["name"]: sorted(role["granted_by"]) for role in detail.get_json()["roles"]}
    assert roles == {"Reader": [ids["staff"]], "Writer": [ids["admins"]]}
    manual = admin.get(f"/admin/v1/tenants/legacy/users/{ids['manual']}", headers=headers).get_json()
    assert manual["permissions"] == ["billing"]

    # Writes continue where the old rows left off.
    assert scim.patch(f"/Users/{ids['john']}", [{"op": "replace", "path": "active", "value": False}]).status_code == 200
    assert scim.get(f"/Users/{ids['john']}").get_json()["meta"]["version"] == 'W/"4"'
    created = scim.create_user("new@example.com")
    assert created["id"] not in ids.values()


def _migration(prefix: str) -> str:
    return next(name for name in _migration_names() if name.startswith(prefix))


def test_upgrade_from_0005_pages_live_users_through_a_partial_index(blank_url):
    """0006 swaps 0005's (tenant, created, id) user index for the same columns over live
    users only; rows stay as they were, pages skip tombstones, groups keep their index."""
    db = _raw(blank_url)
    db.connect()
    try:
        Runner(db, str(migrations.MIGRATIONS_DIR)).up(target=_migration("0005_"))
        old = _old_data(db)
        gone = str(uuid.uuid4())
        tenant_id = db.execute_sql("SELECT id FROM tenant WHERE slug = " + db.param, ("legacy",)).fetchone()[0]
        when = dt.datetime(2024, 4, 1)
        _insert(db, "scim_user", {
            "id": gone, "tenant_id": tenant_id, "user_name": "gone@example.com", "user_name_key": "~deleted~" + gone,
            "external_id": "ext-gone", "given_name": None, "family_name": None, "active": False, "source": "scim",
            "extra": "{}", "created": when, "last_modified": when, "version": 2, "disabled_at": when,
            "deleted_at": when,
        })
        before = {table: _rows(db, table) for table in ALL_TABLES}

        assert migrations.migrate(db) == [name for name in _migration_names() if name > _migration("0005_")]
        after = {table: _rows(db, table) for table in ALL_TABLES}
        users = {index.name: index for index in db.get_indexes("scim_user")}
        groups = {index.name for index in db.get_indexes("scim_group")}
    finally:
        db.close()
    assert after == before
    assert "scim_user_tenant_id_created_id" not in users
    live = users["scim_user_live_tenant_id_created_id"]
    assert live.columns == ["tenant_id", "created", "id", "deleted_at"]  # 0009 appended deleted_at
    assert "deleted_at" in live.sql.lower() and "is null" in live.sql.lower(), live.sql
    assert "scim_group_tenant_id_created_id" in groups

    app = create_app({"TESTING": True, "DATABASE_URL": blank_url})
    scim = Scim(app.test_client(), TenantCredentials(slug="legacy", token=old["token"]))
    ids = old["ids"]
    listed = scim.get("/Users?startIndex=2&count=2").get_json()
    assert listed["totalResults"] == 3
    assert [user["id"] for user in listed["Resources"]] == sorted([ids["jane"], ids["john"], ids["manual"]])[1:]
    found = scim.get("/Users?filter=" + quote('externalId eq "ext-gone"')).get_json()
    assert found["totalResults"] == 0 and found["Resources"] == []
    found = scim.get("/Users?filter=" + quote('externalId eq "ext-john"')).get_json()
    assert [user["id"] for user in found["Resources"]] == [ids["john"]]


def test_upgrade_from_0006_drops_only_the_redundant_single_column_indexes(blank_url):
    """0007 drops the tenant_id index of users and groups and the group_id index of
    memberships (wider indexes lead with those columns); every other index stays, and a
    tenant's deletion still cascades to its users, groups and memberships."""
    db = _raw(blank_url)
    db.connect()
    try:
        Runner(db, str(migrations.MIGRATIONS_DIR)).up(target=_migration("0006_"))
        old = _old_data(db)
        tables = ("scim_user", "scim_group", "membership")
        before = {table: {index.name for index in db.get_indexes(table)} for table in tables}
        assert Runner(db, str(migrations.MIGRATIONS_DIR)).up(target=_migration("0007_")) == [_migration("0007_")]
        after = {table: {index.name for index in db.get_indexes(table)} for table in tables}
        migrations.migrate(db)
    finally:
        db.close()
    dropped = {"scim_user": {"scim_user_tenant_id"}, "scim_group": {"scim_group_tenant_id"},
               "membership": {"membership_group_id"}}
    for table in tables:
        assert dropped[table] <= before[table]
        assert after[table] == before[table] - dropped[table]

    app = create_app({"TESTING": True, "DATABASE_URL": blank_url})
    scim = Scim(app.test_client(), TenantCredentials(slug="legacy", token=old["token"]))
    staff = scim.get(f"/Groups/{old['ids']['staff']}").get_json()
    assert sorted(member["value"] for member in staff["members"]) == sorted([old["ids"]["jane"], old["ids"]["john"]])
    with app.app_context(), database.connection_context():
        services.delete_tenant("legacy")
        assert [User.select().count(), Group.select().count(), Membership.select().count()] == [0, 0, 0]


def test_upgrade_from_0007_moves_the_sweep_to_partial_indexes_and_keeps_every_row(blank_url):
    """0008 replaces (tenant_id, deleted_at, disabled_at), which queries of live users could
    choose, with two partial indexes over tombstones and over disabled users."""
    db = _raw(blank_url)
    db.connect()
    try:
        Runner(db, str(migrations.MIGRATIONS_DIR)).up(target=_migration("0007_"))
        _old_data(db)
        before = {table: _rows(db, table) for table in ALL_TABLES}
        names = {index.name for index in db.get_indexes("scim_user")}
        assert migrations.migrate(db) == [name for name in _migration_names() if name > _migration("0007_")]
        indexes = {index.name: index for index in db.get_indexes("scim_user")}
        after = {table: _rows(db, table) for table in ALL_TABLES}
    finally:
        db.close()
    assert after == before
    assert set(indexes) == (names - {"scim_user_tenant_id_deleted_at_disabled_at"}) | {
        "scim_user_tombstones_tenant_id_deleted_at", "scim_user_disabled_tenant_id_disabled_at"}
    tombstones = indexes["scim_user_tombstones_tenant_id_deleted_at"]
    assert tombstones.columns == ["tenant_id", "deleted_at"] and "is not null" in tombstones.sql.lower()
    disabled = indexes["scim_user_disabled_tenant_id_disabled_at"]
    assert disabled.columns == ["tenant_id", "disabled_at"]
    assert "deleted_at" in disabled.sql.lower() and "disabled_at" in disabled.sql.lower()


def test_upgrade_from_0008_lets_the_live_users_index_cover_their_count(blank_url):
    """0009 rebuilds the live-users index with ``deleted_at`` as a last column, so that
    SQLite counts live users from the index alone; rows, other indexes and answers stay."""
    db = _raw(blank_url)
    db.connect()
    try:
        Runner(db, str(migrations.MIGRATIONS_DIR)).up(target=_migration("0008_"))
        old = _old_data(db)
        before = {table: _rows(db, table) for table in ALL_TABLES}
        names = {index.name for index in db.get_indexes("scim_user")}
        assert migrations.migrate(db) == [name for name in _migration_names() if name > _migration("0008_")]
        indexes = {index.name: index for index in db.get_indexes("scim_user")}
        after = {table: _rows(db, table) for table in ALL_TABLES}
        count = 'SELECT COUNT(*) FROM "scim_user" WHERE "tenant_id" = 1 AND "deleted_at" IS NULL'
        on_sqlite = isinstance(db, SqliteDatabase)
        plan = " ".join(str(row[-1]) for row in db.execute_sql("EXPLAIN QUERY PLAN " + count)) if on_sqlite else ""
    finally:
        db.close()
    assert after == before
    assert set(indexes) == names
    live = indexes["scim_user_live_tenant_id_created_id"]
    assert live.columns == ["tenant_id", "created", "id", "deleted_at"]
    assert "deleted_at" in live.sql.lower() and "is null" in live.sql.lower(), live.sql
    if on_sqlite:  # PostgreSQL decides by its statistics and the visibility map
        assert "USING COVERING INDEX scim_user_live_tenant_id_created_id" in plan, plan

    app = create_app({"TESTING": True, "DATABASE_URL": blank_url})
    scim = Scim(app.test_client(), TenantCredentials(slug="legacy", token=old["token"]))
    listed = scim.get("/Users?startIndex=1&count=1").get_json()
    assert listed["totalResults"] == 3 and len(listed["Resources"]) == 1


def test_upgrade_from_0009_tallies_the_live_users_already_there(blank_url):
    """0010 adds ``user_tally`` and its triggers: it starts from the live users (a
    tombstone is not one), follows the writes after it, and goes with its tenant."""
    db = _raw(blank_url)
    db.connect()
    try:
        Runner(db, str(migrations.MIGRATIONS_DIR)).up(target=_migration("0009_"))
        old = _old_data(db)
        tenant_id = db.execute_sql("SELECT id FROM tenant WHERE slug = " + db.param, ("legacy",)).fetchone()[0]
        gone = str(uuid.uuid4())
        when = dt.datetime(2024, 4, 1)
        _insert(db, "scim_user", {
            "id": gone, "tenant_id": tenant_id, "user_name": "gone@example.com", "user_name_key": "~deleted~" + gone,
            "external_id": None, "given_name": None, "family_name": None, "active": False, "source": "scim",
            "extra": "{}", "created": when, "last_modified": when, "version": 2, "disabled_at": when,
            "deleted_at": when,
        })
        before = {table: _rows(db, table) for table in ALL_TABLES}
        assert migrations.migrate(db) == [name for name in _migration_names() if name > _migration("0009_")]
        after = {table: _rows(db, table) for table in ALL_TABLES}
        tally = db.execute_sql('SELECT "tenant_id", "slot", "live", "changes" FROM "user_tally"').fetchall()
    finally:
        db.close()
    assert after == before
    assert [tuple(row) for row in tally] == [(tenant_id, 0, 3, 0)]

    app = create_app({"TESTING": True, "DATABASE_URL": blank_url})
    scim = Scim(app.test_client(), TenantCredentials(slug="legacy", token=old["token"]))
    scim.create_user("new@example.com")
    assert scim.delete(f"/Users/{old['ids']['john']}").status_code == 204
    listed = scim.get("/Users?count=1").get_json()
    assert listed["totalResults"] == 3 and len(listed["Resources"]) == 1
    with app.app_context(), database.connection_context():
        assert UserTally.select(fn.SUM(UserTally.live), fn.SUM(UserTally.changes)).scalar(as_tuple=True) == (3, 2)
        services.delete_tenant("legacy")
        assert UserTally.select().count() == 0


def test_migrating_twice_applies_nothing_the_second_time(blank_url):
    db = _raw(blank_url)
    assert migrations.migrate(db) == _migration_names()
    db.connect()
    try:
        history = _rows(db, "schema_migration")
        assert migrations.migrate(db) == []
        assert migrations.pending(db) == []
        assert _rows(db, "schema_migration") == history
    finally:
        db.close()


def _migrate_in_a_process(url: str, barrier, results) -> None:
    """Child process: wait for the sibling, then migrate ``url`` through the app's database binding."""
    from tenants.db import close_pool as close, open_database
    from tenants.migrate import migrate

    db = open_database(url)
    try:
        barrier.wait(timeout=60)
        results.put(("ok", migrate(db)))
    except BaseException as error:  # reported to the parent, which fails the test
        results.put(("error", repr(error)))
    finally:
        close(db)


def test_two_processes_migrating_one_fresh_database_both_succeed(blank_url):
    context = multiprocessing.get_context("spawn")  # clean children: no state inherited from pytest
    barrier, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_migrate_in_a_process, args=(blank_url, barrier, results))
                 for _ in range(2)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert [status for status, _ in outcomes] == ["ok", "ok"], outcomes
    applied = sorted(name for _, names in outcomes for name in names)
    assert applied == _migration_names(), outcomes  # one process applied them all, the other none

    db = _raw(blank_url)
    db.connect()
    try:
        counts = db.execute_sql("SELECT name, COUNT(*) FROM schema_migration GROUP BY name ORDER BY name").fetchall()
    finally:
        db.close()
    assert [(name, count) for name, count in counts] == [(name, 1) for name in _migration_names()]


def test_the_app_binding_migrates_with_its_own_pool(blank_url):
    """``create_app`` migrates a blank database and keeps no connection open afterwards."""
    create_app({"TESTING": True, "DATABASE_URL": blank_url})
    assert database.is_closed()
    if blank_url.startswith("postgresql"):
        assert database.obj._in_use == {} and database.obj._connections == []
    with database.connection_context():
        assert migrations.pending(database.obj) == []
