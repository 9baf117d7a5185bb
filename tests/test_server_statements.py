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
from tenants.statements import numbered

from .conftest import Scim, TenantCredentials
from .postgres import fresh_postgres_url


def _session_statements() -> dict[str, str]:
    """``{name: statement}`` the pooled connection of this thread has prepared."""
    with database.connection_context():
        rows = database.execute_sql("SELECT name, statement FROM pg_prepared_statements").fetchall()
    return dict(rows)


def _scim(url: str, **config) -> Scim:
    app = create_app({"TESTING": True, "DATABASE_URL": url, "DB_POOL_SIZE": 1, **config})
    with database.connection_context():
        _, token = services.create_tenant("acme")
    return Scim(app.test_client(), TenantCredentials("acme", token.secret))


def test_placeholders_are_numbered_and_literal_percent_signs_kept():
    assert numbered('SELECT "a" FROM "t" WHERE "b" = %s AND "c" LIKE \'x%%\' AND "d" IN (%s, %s)') == (
        'SELECT "a" FROM "t" WHERE "b" = $1 AND "c" LIKE \'x%\' AND "d" IN ($2, $3)')


def test_lookups_and_creates_run_prepared_once_per_connection_with_the_same_answers():
    with fresh_postgres_url() as url:
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

        for index in range(5):
            scim.create_user(f"user{index}@example.com")
            assert scim.get(f'/Users?filter=userName eq "user{index}@example.com"').get_json()["totalResults"] == 1
        assert _session_statements() == prepared  # nothing prepared twice, nothing new
        assert scim.get('/Users?filter=externalId eq "none"').get_json()["totalResults"] == 0
        close_pool()


def test_a_session_that_lost_its_statements_prepares_them_again():
    """``DISCARD ALL`` (what a pooler may send) drops a session's statements: the next
    requests still succeed, the lookup retried outside a transaction and the create's
    INSERT prepared afresh inside its transaction."""
    with fresh_postgres_url() as url:
        scim = _scim(url)
        scim.create_user("before@example.com")
        assert _session_statements()
        with database.connection_context():
            database.execute_sql("DISCARD ALL")
        assert _session_statements() == {}
        assert scim.get('/Users?filter=userName eq "before@example.com"').get_json()["totalResults"] == 1
        after = scim.create_user("after@example.com")
        assert scim.get(f"/Users/{after['id']}").status_code == 200
        assert scim.get("/Users").get_json()["totalResults"] == 2
        assert any('INSERT INTO "scim_user"' in text for text in _session_statements().values())
        close_pool()


def test_a_statement_the_server_will_not_prepare_runs_as_plain_sql():
    with fresh_postgres_url() as url:
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


def test_nothing_is_prepared_when_server_prepare_is_off(tmp_path):
    with fresh_postgres_url() as url:
        scim = _scim(url, DB_SERVER_PREPARE=False)
        user = scim.create_user("ann@example.com")
        assert scim.get('/Users?filter=userName eq "ann@example.com"').get_json()["Resources"] == [user]
        assert _session_statements() == {}
        close_pool()
    with pytest.raises(ValueError, match="DB_SERVER_PREPARE must be true or false"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/gw.db", "DB_SERVER_PREPARE": "no"})
