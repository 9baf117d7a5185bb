"""The database binding: PostgreSQL through a per-process connection pool, SQLite as before.

A request checks a pooled connection out and gives it back at teardown, so sequential
requests reuse one PostgreSQL session instead of connecting each time; concurrent
requests never hold more sessions than ``DB_POOL_SIZE``; a pool survives its sessions
being killed (a database restart) without pinging on every checkout; a forked child never
touches its parent's sessions. SQLite write transactions queue on a lock that other
processes see; prepared queries bind new values to SQL built once.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests
from playhouse.pool import PooledSqliteDatabase, PooledPostgresqlDatabase

from gateway.app import create_app
from tenants import db as tenant_db
from tenants.db import close_pool, database, open_database
from tenants.round_trips import BatchingConnection

from tenants import services

from .conftest import Scim, TenantCredentials, start_server, stop_server
from .postgres import fresh_postgres_url


def _backends(url: str) -> set[tuple[int, str]]:
    """The sessions connected to ``url``'s database right now, as (pid, start time)."""
    name = url.rsplit("/", 1)[-1]
    with psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres") as admin, admin.cursor() as cursor:
        cursor.execute("SELECT pid, backend_start::text FROM pg_stat_activity WHERE datname = %s", (name,))
        rows = set(cursor.fetchall())
    admin.close()
    return rows


def _terminate(url: str) -> int:
    """End every session on the database, as a server restart would; returns how many there
    were, once they are gone (pg_terminate_backend only signals the backends)."""
    name = url.rsplit("/", 1)[-1]
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (name,))
        count = cursor.fetchone()[0]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s", (name,))
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.01)
    admin.close()
    return count


@pytest.fixture
def pg_app(postgres_database_url):
    """An app on a fresh PostgreSQL database with a pool of 3 connections, and a tenant."""
    application = create_app({"TESTING": True, "DATABASE_URL": postgres_database_url, "DB_POOL_SIZE": 3})
    with database.connection_context():
        _, token = services.create_tenant("acme", None)
    yield application, TenantCredentials(slug="acme", token=token.secret)
    close_pool()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+pool"])
def test_postgresql_urls_get_a_pool(scheme):
    db = open_database(f"{scheme}://scim:p%40ss@db.example.com:6432/gateway?sslmode=require")
    assert isinstance(db, PooledPostgresqlDatabase)
    assert db._max_connections == tenant_db.DEFAULT_POOL_SIZE
    assert db._stale_timeout == tenant_db.POOL_STALE_TIMEOUT and db._wait_timeout == tenant_db.POOL_WAIT_TIMEOUT
    assert db.database == "gateway"
    assert db.connect_params == {"user": "scim", "password": "p@ss", "host": "db.example.com", "port": 6432,
                                 "sslmode": "require", "connection_factory": BatchingConnection}
    assert open_database(f"{scheme}://db.example.com/gateway", pool_size=3)._max_connections == 3


def test_sqlite_is_pooled_and_keeps_its_pragmas_and_lower(tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/gw.db", pool_size=3)
    assert isinstance(db, PooledSqliteDatabase) and db._max_connections == 3
    with db.connection_context():
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute_sql("SELECT lower('ÉLODIE')").fetchone()[0] == "élodie"
    close_pool(db)


def test_sqlite_requests_reuse_one_pooled_connection(tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db"})
    client = app.test_client()
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    assert len(database.obj._connections) == 1  # returned to the pool, not closed


def test_pool_size_comes_from_the_configuration(monkeypatch, postgres_database_url):
    create_app({"TESTING": True, "DATABASE_URL": postgres_database_url})
    assert isinstance(database.obj, PooledPostgresqlDatabase)
    assert database.obj._max_connections == 8
    monkeypatch.setenv("SCIM_GATEWAY_DB_POOL_SIZE", "5")
    create_app({"TESTING": True, "DATABASE_URL": postgres_database_url})
    assert database.obj._max_connections == 5
    close_pool()


def test_sequential_requests_reuse_one_pooled_connection(pg_app, postgres_database_url):
    app, tenant = pg_app
    scim = Scim(app.test_client(), tenant)
    seen = set()
    for index in range(20):
        scim.create_user(f"user{index}@example.com")
        assert scim.get("/Users?count=5").status_code == 200
        seen |= _backends(postgres_database_url)
    assert database.is_closed()  # every request gave its connection back
    assert len(seen) == 1, seen  # ... and the next one took the same session
    assert len(database.obj._connections) == 1 and database.obj._in_use == {}


def test_concurrent_requests_stay_within_the_pool(pg_app, postgres_database_url):
    app, tenant = pg_app
    seen, lock = set(), threading.Lock()

    def work(index: int) -> list[int]:
        scim = Scim(app.test_client(), tenant)
        statuses = []
        for step in range(8):
            statuses.append(scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                 "userName": f"u{index}-{step}@example.com"}).status_code)
            statuses.append(scim.get("/Users?count=2").status_code)
            with lock:
                seen.update(_backends(postgres_database_url))
        return statuses

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(6)))
    assert all(status in (200, 201) for statuses in results for status in statuses), results
    assert 1 <= len(seen) <= 3, seen  # DB_POOL_SIZE
    listed = Scim(app.test_client(), tenant).get("/Users?count=1").get_json()
    assert listed["totalResults"] == 48


def test_the_pool_replaces_sessions_the_server_ended(pg_app, postgres_database_url):
    app, tenant = pg_app
    client = app.test_client()
    scim = Scim(client, tenant)
    assert scim.get("/Users").status_code == 200
    assert _terminate(postgres_database_url) == 1  # e.g. PostgreSQL restarted, or an idle timeout
    assert scim.get("/Users").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_readyz_on_both_databases(engine, tmp_path):
    def check(url):
        app = create_app({"TESTING": True, "DATABASE_URL": url})
        client = app.test_client()
        for _ in range(3):
            response = client.get("/readyz")
            assert (response.status_code, response.get_json()) == (200, {"status": "ready"})
        assert database.is_closed()
        close_pool()

    if engine == "sqlite":
        check(f"sqlite:///{tmp_path}/gw.db")
    else:
        with fresh_postgres_url() as url:
            check(url)


def test_readyz_is_503_when_postgresql_is_gone():
    with fresh_postgres_url() as url:
        app = create_app({"TESTING": True, "DATABASE_URL": url})
    close_pool()  # the database is dropped now
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_a_forked_child_never_uses_its_parents_sessions(postgres_database_url):
    db = open_database(postgres_database_url)
    db.connect()
    parent_pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    db.close()  # back to the pool, still open
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            os.close(read)
            inherited_dropped = db._connections == [] and db._in_use == {} and db.is_closed()
            db.connect()
            own_pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
            close_pool(db)
            os.write(write, f"{inherited_dropped} {own_pid}".encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    _, code = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(code) == 0
    inherited_dropped, child_pid = report.split()
    assert inherited_dropped == "True"
    assert int(child_pid) != parent_pid
    db.connect()  # the parent's pooled session survived the child
    assert db.execute_sql("SELECT pg_backend_pid()").fetchone()[0] == parent_pid
    close_pool(db)


@pytest.mark.live
def test_serve_on_postgresql_with_several_workers(tmp_path, postgres_database_url):
    server = start_server(tmp_path, postgres_database_url, workers=2)
    try:
        tenant = server.create_tenant("acme")
        headers = {"Authorization": f"Bearer {tenant['token']}", "Content-Type": "application/scim+json"}
        with requests.Session() as session:
            for index in range(20):
                response = session.post(f"{tenant['tenant_url']}/Users", headers=headers, json={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"u{index}@example.com"})
                assert response.status_code == 201, response.text
            listed = session.get(f"{tenant['tenant_url']}/Users?count=1", headers=headers).json()
        assert listed["totalResults"] == 20
        # At most one pool per worker; the master kept nothing after migrating.
        assert len(_backends(postgres_database_url)) <= 2 * tenant_db.DEFAULT_POOL_SIZE
    finally:
        stop_server(server.process)
    assert "Traceback" not in server.log.read_text()


def test_the_sqlite_write_lock_excludes_other_processes_until_released(tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/gw.db")
    lock_path = db.write_lock.path

    def other_process_can_take_it() -> bool:
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                fd = os.open(lock_path, os.O_RDWR)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    answer = b"yes"
                except BlockingIOError:
                    answer = b"no"
                os.write(write, answer)
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            answer = pipe.read()
        os.waitpid(child, 0)
        return answer == b"yes"

    with db.write_lock.held():
        assert not other_process_can_take_it()
    assert other_process_can_take_it()
    close_pool(db)


def test_sqlite_write_transactions_take_the_write_lock_and_nest_as_savepoints(tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db"})
    lock = database.obj.write_lock
    with app.app_context(), database.connection_context():
        with tenant_db.write_transaction():
            assert lock._threads.locked()
            with tenant_db.write_transaction():  # a savepoint: the lock is not taken twice
                services.create_tenant("acme")
        assert not lock._threads.locked()
        assert services.get_tenant("acme").slug == "acme"
    close_pool()


def test_prepared_queries_bind_new_values_and_refuse_converted_arguments(tmp_path):
    from tenants.models import Tenant
    from tenants.prepared import Prepared

    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db"})
    with app.app_context(), database.connection_context():
        first, _ = services.create_tenant("first")
        services.create_tenant("second")
        by_slug = Prepared(lambda slug, tenant_id: Tenant.select(Tenant.slug, Tenant.id).where(
            (Tenant.slug == slug) & (Tenant.id >= tenant_id)))
        assert by_slug.execute("second", first.id).fetchall() == [("second", first.id + 1)]
        assert by_slug.execute("first", first.id).fetchall() == [("first", first.id)]
        assert by_slug.execute("first", first.id + 1).fetchall() == []
        assert by_slug.execute("nobody", 0).fetchall() == []
        folded = Prepared(lambda slug: Tenant.select().where(Tenant.slug == slug.upper()))
        with pytest.raises(ValueError, match="unchanged"):
            folded.execute("first")
    close_pool()


def test_prepared_list_arguments_match_exactly_whatever_their_length(database_url):
    from tenants.models import Tenant
    from tenants.prepared import MAX_LIST_LENGTH, Prepared

    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    with app.app_context(), database.connection_context():
        slugs = [f"t{index:02d}" for index in range(12)]
        for slug in slugs:
            services.create_tenant(slug)
        among = Prepared(lambda wanted: Tenant.select(Tenant.slug).where(Tenant.slug.in_(wanted)).tuples())
        for length in (1, 2, 3, 5, 8, 9, 12):  # each padded up to 1, 2, 4, 8, 16 values
            wanted = slugs[:length] if length % 2 else slugs[-length:]
            assert sorted(slug for (slug,) in among.execute(wanted)) == sorted(wanted)
        assert among.execute(["nobody"]).fetchall() == []
        assert len(among._cache) == 5  # one template per bucket of lengths, not per length
        rename = Prepared(lambda names, slugs: Tenant.insert_many(
            [{"slug": slug, "name": name} for name, slug in zip(names, slugs)]).on_conflict_ignore())
        rename.execute(["Extra one", "Extra two", "Extra three"], ["x1", "x2", "x3"])  # padded to 4 rows
        extra = Tenant.select(Tenant.slug, Tenant.name).where(Tenant.slug.startswith("x")).order_by(Tenant.slug)
        assert [(row.slug, row.name) for row in extra] == [("x1", "Extra one"), ("x2", "Extra two"),
                                                           ("x3", "Extra three")]
        with pytest.raises(ValueError, match="1 to 512"):
            among.execute([f"s{index}" for index in range(MAX_LIST_LENGTH + 1)])
        with pytest.raises(ValueError, match="1 to 512"):
            among.execute([])
    close_pool()


def test_the_token_lookup_builds_the_models_a_query_would(database_url):
    """Every SCIM request authenticates with one prepared query whose row becomes the token
    and its tenant (tenants.records.RecordReader.instance): each must hold what peewee's
    own query returns, field by field and type by type, and have nothing to save."""
    from tenants.models import Tenant, TenantToken

    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    with app.app_context(), database.connection_context():
        _, issued = services.create_tenant("acme", "Acme Ltd")
        services.update_tenant("acme", settings={"plugins": {"rate-limit": {"enabled": False}}})
        services.set_enabled("acme", False)
        token = services.authenticate(issued.secret)
        stored = TenantToken.select(TenantToken, Tenant).join(Tenant).where(TenantToken.id == token.id).get()
        for model, expected in ((token, stored), (token.tenant, stored.tenant)):
            assert type(model) is type(expected)
            for field in type(expected)._meta.sorted_fields:
                value, wanted = model.__data__.get(field.name), expected.__data__.get(field.name)
                assert value == wanted and type(value) is type(wanted), field.name
            assert model.dirty_fields == []
        assert token.tenant.settings == {"plugins": {"rate-limit": {"enabled": False}}}
        assert token.tenant.enabled is False and token.revoked is None
        assert services.authenticate(issued.secret + "x") is None
        services.revoke_token("acme", token.prefix)
        assert services.authenticate(issued.secret) is None
    close_pool()


def test_page_records_hold_what_the_models_hold(database_url):
    """Pages are read as records straight from the driver: every field must read back as
    the peewee model has it (timestamps, booleans, JSON, NULLs), on both databases, on the
    prepared unfiltered path and on the filtered one."""
    from tenants.models import Group, User
    from tenants.repositories import GroupRepository, UserRepository

    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    with app.app_context(), database.connection_context():
        tenant, _ = services.create_tenant("acme")
        users = UserRepository(tenant)
        users.create({"user_name": "ann@example.com", "given_name": "Ann", "family_name": None, "external_id": "e1",
                      "active": False, "extra": {"emails": [{"value": "ann@example.com", "primary": True}]}})
        users.create({"user_name": "bob@example.com", "given_name": None, "family_name": "Bob", "external_id": None,
                      "active": None, "extra": {}})
        GroupRepository(tenant).create({"display_name": "Staff", "external_id": None, "extra": {"note": "x"}})
        for repository, model in ((users, User), (GroupRepository(tenant), Group)):
            for where in (None, model.id.is_null(False)):
                total, records = repository.page(where, 0, 10)
                assert total == len(records) == model.select().count()
                for record in records:
                    stored = repository.get(record.id)
                    for field in model._meta.sorted_fields:
                        name = field.column_name if field.name == "tenant" else field.name
                        expected = stored.__data__[field.name]
                        assert getattr(record, name) == expected, name
                        assert type(getattr(record, name)) is type(expected), name
        _, everyone = users.page(None, 0, 10)  # (created, id) order: two users made in one millisecond go by id
        total, records = users.page(None, 1, 10)
        assert total == 2 and records == everyone[1:] and len(records) == 1
        assert users.page(None, 2, 10) == (2, [])
        assert users.page(None, 0, 0) == (2, [])
    close_pool()


def test_the_tables_a_process_grew_are_analysed_on_postgresql_and_left_alone_on_sqlite(database_url, monkeypatch):
    """PostgreSQL without statistics guessed plans that walked a whole tenant for a lookup
    by id or userName (autovacuum off, as here, or behind an initial sync): the gateway
    runs ANALYZE itself once it has added enough rows (tenants.statistics)."""
    from tenants import statistics

    monkeypatch.setattr(statistics, "MIN_GROWTH", 30)
    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    with app.app_context(), database.connection_context():
        _, token = services.create_tenant("acme")
        services.update_tenant("acme", settings={"plugins": {"rate-limit": {"enabled": False}}})
        if not tenant_db.is_sqlite():
            for table in statistics.TABLES:  # nothing but the gateway may analyse them
                database.execute_sql(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
    client = app.test_client()

    def post(path: str, body: dict) -> dict:
        # buffered: the test client closes the response, which runs its call_on_close work as a server does
        response = client.post(f"/tenants/acme/scim/v2{path}", json=body, buffered=True,
                               headers={"Authorization": f"Bearer {token.secret}"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def analysed() -> dict:
        with app.app_context(), database.connection_context():
            if tenant_db.is_sqlite():
                return {"sqlite_stat1": database.table_exists("sqlite_stat1")}
            # ANALYZE sets reltuples in the same transaction (-1: never analysed nor vacuumed).
            rows = database.execute_sql("SELECT relname, reltuples FROM pg_class WHERE relname IN %s",
                                        (statistics.TABLES,)).fetchall()
            return {name: tuples >= 0 for name, tuples in rows}

    user_ids = [post("/Users", {"userName": f"user{i}@example.com"})["id"] for i in range(29)]
    assert not any(analysed().values())  # 29 new users: below the threshold
    user_ids.append(post("/Users", {"userName": "user29@example.com"})["id"])
    post("/Groups", {"displayName": "G", "members": [{"value": user_id} for user_id in user_ids]})
    if tenant_db.is_sqlite():
        assert analysed() == {"sqlite_stat1": False}  # SQLite is never analysed
        return
    assert analysed() == {"scim_user": True, "membership": True, "scim_group": False}
    with app.app_context(), database.connection_context():
        (estimate,) = database.execute_sql("SELECT reltuples FROM pg_class WHERE relname = 'scim_user'").fetchone()
    assert estimate == 30
    close_pool()


def test_a_grown_table_is_analysed_once_however_many_threads_and_processes_see_it_due(database_url, monkeypatch):
    """ANALYZE after every 10% of growth, on each thread that noticed, ran 71 times during a
    10,000-user sync and made most of PostgreSQL's CPU in the member phase: a due table is
    claimed by one thread, skipped when another process analysed it since, and due again
    only after it grew by half."""
    from tenants import statistics
    from tenants.repositories import UserRepository

    monkeypatch.setattr(statistics, "MIN_GROWTH", 10)
    app = create_app({"TESTING": True, "DATABASE_URL": database_url})

    def add_users(count: int) -> None:
        with app.app_context(), database.connection_context():
            users = UserRepository(services.get_tenant("acme"))
            for _ in range(count):
                users.create({"user_name": f"{os.urandom(6).hex()}@example.com", "given_name": None,
                              "family_name": None, "external_id": None, "active": True, "extra": {}})

    def analyse_from_threads(threads: int = 4) -> list[list[str]]:
        barrier = threading.Barrier(threads)

        def one() -> list[str]:
            barrier.wait()
            with app.app_context():
                return statistics.analyse_if_grown()

        with ThreadPoolExecutor(threads) as pool:
            return sorted(f.result() for f in [pool.submit(one) for _ in range(threads)])

    def analysed_rows() -> float:
        with app.app_context(), database.connection_context():
            return database.execute_sql("SELECT reltuples FROM pg_class WHERE relname = 'scim_user'").fetchone()[0]

    with app.app_context(), database.connection_context():
        services.create_tenant("acme")
        if not tenant_db.is_sqlite():
            database.execute_sql('ALTER TABLE "scim_user" SET (autovacuum_enabled = false)')
    add_users(40)
    if tenant_db.is_sqlite():
        assert analyse_from_threads() == [[], [], [], []]
        with app.app_context(), database.connection_context():
            assert not database.table_exists("sqlite_stat1")  # SQLite is never analysed
        return
    vacuum = psycopg2.connect(database_url)
    vacuum.autocommit = True  # VACUUM sets reltuples, as CREATE INDEX does, without analysing
    vacuum.cursor().execute('VACUUM "scim_user"')
    vacuum.close()
    assert analysed_rows() == 40
    assert analyse_from_threads() == [[], [], [], ["scim_user"]]  # one thread ran it, reltuples or not
    assert analysed_rows() == 40
    assert analyse_from_threads() == [[], [], [], []]  # nothing new: not due

    add_users(30)  # due in this process, but another one analyses the table first
    with psycopg2.connect(database_url) as other_process, other_process.cursor() as cursor:
        cursor.execute('ANALYZE "scim_user"')
    other_process.close()
    assert analysed_rows() == 70
    with app.app_context(), database.connection_context():
        database.execute_sql("INSERT INTO scim_user SELECT * FROM scim_user LIMIT 0")  # the session is usable
    assert analyse_from_threads() == [[], [], [], []]  # skipped: analysed since it grew by these 30
    assert analysed_rows() == 70

    add_users(34)  # under half of the 70 rows analysed
    assert analyse_from_threads() == [[], [], [], []]
    add_users(1)
    assert analyse_from_threads() == [[], [], [], ["scim_user"]]
    assert analysed_rows() == 105
    close_pool()


def test_a_pooled_postgresql_checkout_sends_nothing_to_the_server(postgres_database_url):
    db = open_database(postgres_database_url)
    name = postgres_database_url.rsplit("/", 1)[-1]

    def last_statement(backend: int) -> str:
        with psycopg2.connect(postgres_database_url.rsplit("/", 1)[0] + "/postgres") as admin, admin.cursor() as cursor:
            cursor.execute("SELECT query FROM pg_stat_activity WHERE datname = %s AND pid = %s", (name, backend))
            query = cursor.fetchone()[0]
        admin.close()
        return query

    with db.connection_context():
        backend = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        db.execute_sql("SELECT 'last statement before check-in'")
    with db.connection_context():  # the same pooled session, checked out again
        assert last_statement(backend) == "SELECT 'last statement before check-in'"  # no ping was sent
        assert db.execute_sql("SELECT pg_backend_pid()").fetchone()[0] == backend
    close_pool(db)


def _lock_waiters(url: str) -> int:
    """Sessions of ``url``'s database waiting for a row lock right now."""
    name = url.rsplit("/", 1)[-1]
    with psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres") as admin, admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                       (name,))
        count = cursor.fetchone()[0]
    admin.close()
    return count


def test_adding_a_member_while_that_user_is_deprovisioned_never_keeps_a_membership_of_a_removed_user(
        pg_app, postgres_database_url):
    """PostgreSQL: a member PATCH that checks a user while another transaction tombstones it
    waits for that transaction, then answers 400 and stores no membership (before, the
    check read the user as live and the membership outlived it)."""
    from tenants.db import write_transaction
    from tenants.models import Membership, Tenant
    from tenants.repositories import UserRepository

    app, tenant = pg_app
    scim = Scim(app.test_client(), tenant)
    user = scim.create_user("leaver@example.com")["id"]
    group = scim.create_group("Team")["id"]
    tombstoning, release = threading.Event(), threading.Event()

    def deprovision():
        with app.app_context(), database.connection_context(), write_transaction():
            repository = UserRepository(Tenant.get(Tenant.slug == "acme"))
            repository.tombstone(repository.get(user, for_update=True))
            tombstoning.set()
            assert release.wait(30)

    def add_member():
        return scim.patch(f"/Groups/{group}", [{"op": "add", "path": "members", "value": [{"value": user}]}])

    with ThreadPoolExecutor(2) as pool:
        remover = pool.submit(deprovision)
        assert tombstoning.wait(30)
        adding = pool.submit(add_member)
        for _ in range(300):  # until the PATCH waits for the tombstoning transaction's lock
            if _lock_waiters(postgres_database_url) or adding.done():
                break
            threading.Event().wait(0.1)
        release.set()
        remover.result(timeout=30)
        answer = adding.result(timeout=30)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["scimType"] == "invalidValue"
    with database.connection_context():
        assert not Membership.select().where(Membership.user == user).exists()


def test_deleting_a_tenant_locks_it_before_its_users_so_a_concurrent_create_cannot_deadlock(postgres_database_url):
    """PostgreSQL: a create in a tenant holds a key-share lock on the tenant's row and then,
    in its trigger, a tally row (migration 0010). Deleting the tenant's users first took
    the deleting session's tally row and then waited for that key-share lock: with both in
    one tally slot, a deadlock (one of them answered 500). The delete now locks the tenant's
    row first, so it waits there, before touching a user, and then removes what the create
    added."""
    from tenants.models import Tenant, User, UserTally
    from tenants.repositories import UserRepository

    app = create_app({"TESTING": True, "DATABASE_URL": postgres_database_url})
    with app.app_context(), database.connection_context():
        services.create_tenant("acme")
        tenant = services.get_tenant("acme")
        users = UserRepository(tenant)
        for i in range(3):
            users.create({"user_name": f"user{i}@example.com", "extra": {}})
    creator = psycopg2.connect(postgres_database_url)  # an open create in the tenant, not yet committed
    with creator.cursor() as cursor:
        cursor.execute("INSERT INTO scim_user (id, tenant_id, user_name, user_name_key, source, extra, created, "
                       "last_modified, version) VALUES ('late', %s, 'late@example.com', 'late@example.com', "
                       "'scim', '{}', now(), now(), 1)", (tenant.id,))

    def delete() -> None:
        with app.app_context(), database.connection_context():
            services.delete_tenant("acme")

    waiting = None
    with ThreadPoolExecutor(1) as pool:
        deleting = pool.submit(delete)
        try:
            with psycopg2.connect(postgres_database_url) as watcher, watcher.cursor() as cursor:
                for _ in range(200):
                    cursor.execute("SELECT query FROM pg_stat_activity WHERE datname = %s "
                                   "AND wait_event_type = 'Lock'", (postgres_database_url.rsplit("/", 1)[-1],))
                    rows = cursor.fetchall()
                    if rows:
                        waiting = rows[0][0]
                        break
                    watcher.rollback()
                    threading.Event().wait(0.05)
            watcher.close()
        finally:
            creator.commit()  # whatever was seen, let the delete finish
        deleting.result(timeout=30)
    creator.close()
    assert waiting is not None, "the delete never waited for the open create"
    waiting = waiting.removeprefix("BEGIN; ")  # the transaction's BEGIN goes with its first statement
    assert waiting.startswith('SELECT "t1"."id" FROM "tenant"') and "FOR UPDATE" in waiting, waiting
    with app.app_context(), database.connection_context():
        assert (Tenant.select().count(), User.select().count(), UserTally.select().count()) == (0, 0, 0)
    close_pool()


def test_prepared_update_writes_only_the_changed_columns_of_one_row(database_url):
    from tenants.models import Tenant
    from tenants.prepared import PreparedUpdate

    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    with app.app_context(), database.connection_context():
        first, _ = services.create_tenant("first")
        second, _ = services.create_tenant("second")
        update = PreparedUpdate(Tenant)
        row = Tenant.get_by_id(first.id)
        row.name, row.settings = "First Corp", {"plugins": {"uniqueness": {"enabled": False}}}
        Tenant.update(enabled=False).where(Tenant.id == first.id).execute()  # changed elsewhere meanwhile
        assert update.save(row) == 1 and not row.dirty_fields
        stored = Tenant.get_by_id(first.id)
        assert (stored.name, stored.settings) == ("First Corp", {"plugins": {"uniqueness": {"enabled": False}}})
        assert stored.enabled is False  # a column this row did not change is left as it is
        assert Tenant.get_by_id(second.id).name == "second"  # one row, by its key
        row.name = "First again"
        assert update.save(row) == 1 and Tenant.get_by_id(first.id).name == "First again"
        assert list(update._by_columns) == [("name", "settings"), ("name",)]  # SQL per set of columns
        assert update.save(row) == 0  # nothing changed: no statement, no new template
        assert len(update._by_columns) == 2
    close_pool()
