"""PostgreSQL: the hottest statements run as server-side prepared statements (tenants.statements).

These tests make their own PostgreSQL database (``tests/postgres.py``), so they run in
both halves of CI. What they check through the SCIM API: answers are the same as with
plain SQL, each statement is prepared once per pooled connection, a session that lost its
statements prepares them again, and ``DB_SERVER_PREPARE=false`` prepares nothing.
"""

from __future__ import annotations

import pytest
from peewee import Value

from gateway.app import create_app
from tenants import services
from tenants.db import close_pool, database
from tenants.models import Tenant
from tenants.prepared import Prepared
from tenants.statements import ServerStatements, numbered

from .conftest import Scim, TenantCredentials


def _session_statements() -> dict[str, str]:
    """``{name: statement}`` the pooled connection of this thread has prepared."""
    return {name: statement for name, (statement, _, _) in _session_details().items()}


def _session_details() -> dict[str, tuple[str, object, int]]:
    """``{name: (statement, prepare_time, times executed)}`` of the pooled connection."""
    with database.connection_context():
        rows = database.execute_sql("SELECT name, statement, prepare_time, generic_plans + custom_plans "
                                    "FROM pg_prepared_statements").fetchall()
    return {name: (statement, prepared_at, runs) for name, statement, prepared_at, runs in rows}


def _scim(url: str, **config) -> Scim:
    app = create_app({"TESTING": True, "DATABASE_URL": url, "DB_POOL_SIZE": 1, **config})
    with database.connection_context():
        _, token = services.create_tenant("acme")
    return Scim(app.test_client(), TenantCredentials("acme", token.secret))


def test_placeholders_are_numbered_and_literal_percent_signs_kept():
    assert numbered('SELECT "a" FROM "t" WHERE "b" = %s AND "c" LIKE \'x%%\' AND "d" IN (%s, %s)') == (
        'SELECT "a" FROM "t" WHERE "b" = $1 AND "c" LIKE \'x%\' AND "d" IN ($2, $3)')


def test_lookups_and_creates_run_prepared_once_per_connection_with_the_same_answers(postgres_database_url,
                                                                                   monkeypatch):
    monkeypatch.setattr(services, "TRUST_SECONDS", 0)  # the token's row is read by every request
    url = postgres_database_url
    scim = _scim(url)  # one pooled connection: every request uses the same session
    assert scim.get('/Users?filter=userName eq "ann@example.com"').get_json()["totalResults"] == 0
    ann = scim.create_user("ann@example.com", name={"givenName": "Ann", "familyName": "Lee"})
    found = scim.get('/Users?filter=userName eq "ANN@example.com"').get_json()
    assert found["totalResults"] == 1 and found["Resources"][0] == ann
    assert scim.get(f"/Users/{ann['id']}").get_json() == ann
    assert scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                "userName": "Ann@Example.com"}).status_code == 409
    prepared = _session_statements()
    texts = "\n".join(prepared.values())
    assert all(name.startswith("scimgw_") for name in prepared)
    assert '"tenant_token"' in texts and '"user_name_key" = $2' in texts  # token and userName lookups
    assert 'INSERT INTO "scim_user"' in texts and 'ON CONFLICT' in texts and 'INSERT INTO "audit_event"' in texts
    assert '"external_id" = $' not in texts  # non-unique lookups stay plain SQL (their plans depend on the value)

    before = _session_details()
    for index in range(5):
        scim.create_user(f"user{index}@example.com")
        assert scim.get(f'/Users?filter=userName eq "user{index}@example.com"').get_json()["totalResults"] == 1
    after = _session_details()
    assert after.keys() == before.keys()  # nothing new
    for name, (statement, prepared_at, runs) in after.items():
        assert prepared_at == before[name][1], statement  # none prepared again
    token = next(name for name, text in prepared.items() if '"tenant_token"' in text)
    assert after[token][2] - before[token][2] == 10  # each of the 10 requests EXECUTEd it
    assert scim.get('/Users?filter=externalId eq "none"').get_json()["totalResults"] == 0
    close_pool()


def _discard_all() -> None:
    """What a pooler may send between clients: the session's prepared statements are gone."""
    with database.connection_context():
        database.execute_sql("DISCARD ALL")
    assert _session_statements() == {}


def test_a_session_that_lost_its_statements_prepares_them_again(postgres_database_url):
    """``DISCARD ALL`` drops a session's statements: the next requests still succeed. A
    write whose transaction meets a lost statement is run again (StatementsLost), its
    statements prepared afresh; a lookup is retried outside a transaction."""
    scim = _scim(postgres_database_url)
    before = scim.create_user("before@example.com")
    assert _session_statements()
    _discard_all()
    after = scim.create_user("after@example.com")  # the first statement is the INSERT, in its transaction
    assert any('INSERT INTO "scim_user"' in text for text in _session_statements().values())
    _discard_all()
    patched = scim.patch(f"/Users/{before['id']}", [{"op": "replace", "path": "active", "value": False}])
    assert patched.status_code == 200 and patched.get_json()["active"] is False
    _discard_all()
    assert scim.delete(f"/Users/{before['id']}").status_code == 204
    _discard_all()
    assert scim.get('/Users?filter=userName eq "after@example.com"').get_json()["totalResults"] == 1
    assert scim.get(f"/Users/{after['id']}").status_code == 200
    assert scim.get("/Users").get_json()["totalResults"] == 1
    close_pool()


def test_a_statement_the_server_will_not_prepare_runs_as_plain_sql(postgres_database_url):
    url = postgres_database_url
    create_app({"TESTING": True, "DATABASE_URL": url, "DB_POOL_SIZE": 1})
    with database.connection_context():
        services.create_tenant("acme")
        # "$1 IS NULL": PostgreSQL cannot tell the parameter's type, so it refuses to PREPARE it.
        unknown = Prepared(lambda value: Tenant.select(Tenant.slug).where(Value(value, converter=False).is_null()
                                                                          | (Tenant.slug == value)).tuples(),
                           server_side=True)
        with database.atomic():  # inside a transaction: the refusal must not abort it
            assert unknown.execute("acme").fetchall() == [("acme",)]
            assert services.get_tenant("acme").slug == "acme"
        assert unknown.execute("nobody").fetchall() == []
    assert not any("IS NULL" in text for text in _session_statements().values())
    close_pool()


def test_nothing_is_prepared_when_server_prepare_is_off(tmp_path, postgres_database_url):
    url = postgres_database_url
    scim = _scim(url, DB_SERVER_PREPARE=False)
    user = scim.create_user("ann@example.com")
    assert scim.get('/Users?filter=userName eq "ann@example.com"').get_json()["Resources"] == [user]
    assert _session_statements() == {}
    close_pool()
    with pytest.raises(ValueError, match="DB_SERVER_PREPARE must be true or false"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db", "DB_SERVER_PREPARE": "no"})


def test_a_column_another_process_changes_costs_no_failed_request(postgres_database_url):
    """A rolling upgrade's migration widens a column while prepared plans still return
    the old type: a read outside a transaction is prepared again and retried at once; a
    write whose transaction meets the stale plan is run again (StatementsLost)."""
    import psycopg2

    url = postgres_database_url
    scim = _scim(url)
    user = scim.create_user("ann@example.com", name={"givenName": "Ann", "familyName": "Lee"})

    def rename(given: str) -> int:
        return scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "name.givenName",
                                                    "value": given}]).status_code

    assert rename("Anne") == 200
    assert scim.get(f"/Users/{user['id']}").status_code == 200
    other = psycopg2.connect(url)
    other.autocommit = True
    with other.cursor() as cursor:
        cursor.execute("ALTER TABLE scim_user ALTER COLUMN given_name TYPE varchar(300)")
    other.close()

    assert scim.get(f"/Users/{user['id']}").get_json()["name"]["givenName"] == "Anne"  # retried: 200
    statuses = [rename(f"Name{index}") for index in range(4)]
    assert statuses == [200] * 4, statuses
    assert scim.get(f"/Users/{user['id']}").get_json()["name"]["givenName"] == "Name3"
    close_pool()


def test_processes_sharing_a_session_never_run_each_others_statements(postgres_database_url):
    """Behind a pooler one server session may serve several gateway processes, each with
    its own record of what it prepared. Names come from the SQL, so the second process's
    statement is never mistaken for the first's; the same SQL is prepared afresh."""
    url = postgres_database_url
    create_app({"TESTING": True, "DATABASE_URL": url, "DB_POOL_SIZE": 1})
    first, second = ServerStatements(), ServerStatements()  # two processes' records, one session
    with database.connection_context():
        tenant, _ = services.create_tenant("acme")
        db = database.obj
        slug = 'SELECT "slug" FROM "tenant" WHERE "slug" = %s'
        ident = 'SELECT "id" FROM "tenant" WHERE "slug" = %s'
        assert first.execute(db, slug, ["acme"]).fetchall() == [("acme",)]
        assert second.execute(db, ident, ["acme"]).fetchall() == [(tenant.id,)]
        assert second.execute(db, slug, ["acme"]).fetchall() == [("acme",)]  # held already: prepared afresh
        assert first.execute(db, ident, ["acme"]).fetchall() == [(tenant.id,)]
    close_pool()
