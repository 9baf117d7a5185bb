"""PostgreSQL: ``BEGIN`` and writes nobody reads ride with the next statement (tenants.round_trips).

These tests make their own PostgreSQL database, so they run in both halves of CI. They
record every message the pool's connections send (what the server receives, values
quoted) and check the round trips of SCIM writes, what a transaction that sent nothing
costs, and that a failure of a pending statement still undoes its whole transaction.
"""

from __future__ import annotations

import pytest
from peewee import IntegrityError, InterfaceError, InternalError, ProgrammingError

from gateway.app import create_app
from tenants import services
from tenants.db import close_pool, database, execute_later
from tenants.models import AuditEvent, Tenant, User
from tenants.prepared import SERVER_STATEMENTS, Prepared
from tenants.round_trips import BatchingCursor
from tenants.statements import StatementsLost

INSERT_EVENT = ("INSERT INTO audit_event (tenant_slug, time, actor, action, resource_type, summary) "
                "VALUES (%s, now(), 'test', %s, 'Test', '{}')")


def _test_events() -> list[str]:
    return [action for action, in AuditEvent.select(AuditEvent.action).where(AuditEvent.resource_type == "Test")
            .order_by(AuditEvent.id).tuples()]

from .conftest import Scim, TenantCredentials


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """Every message the pooled connections send from now on, as text."""
    messages: list[str] = []
    execute = BatchingCursor.execute

    def recording(cursor, query, vars=None):
        try:
            return execute(cursor, query, vars)
        finally:
            messages.append(cursor.query.decode())  # the text psycopg2 sent

    monkeypatch.setattr(BatchingCursor, "execute", recording)
    return messages


@pytest.fixture
def scim(postgres_database_url, monkeypatch) -> Scim:
    monkeypatch.setattr(services, "TRUST_SECONDS", 60)  # the token's row is read once: writes alone are counted
    app = create_app({"TESTING": True, "DATABASE_URL": postgres_database_url, "DB_POOL_SIZE": 1})
    with database.connection_context():
        _, token = services.create_tenant("acme")
    client = Scim(app.test_client(), TenantCredentials("acme", token.secret))
    client.create_user("warm@example.com")  # every statement of a create prepared once
    yield client
    close_pool()


def test_a_create_is_two_round_trips_and_so_is_a_patch(scim, sent):
    user = scim.create_user("ann@example.com")
    begin, commit = sent
    assert begin.startswith("BEGIN; EXECUTE scimgw_") and "'ann@example.com'" in begin
    assert commit.startswith("EXECUTE scimgw_") and "'create', 'User'" in commit and commit.endswith("; COMMIT")
    for given in ("Anne", "Ann"):  # the first PATCH prepares its statements, the second is counted
        sent.clear()
        renamed = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "name.givenName", "value": given}])
        assert renamed.status_code == 200 and renamed.get_json()["name"]["givenName"] == given
    select, commit = sent  # the UPDATE of the locked row goes with the audit INSERT and COMMIT
    assert select.startswith("BEGIN; EXECUTE") and "'Ann'" in commit
    assert "'patch', 'User'" in commit and commit.endswith("; COMMIT")
    with database.connection_context():
        events = [(event.action, event.resource_id) for event in AuditEvent.select().order_by(AuditEvent.id)]
    assert events[-3:] == [("create", user["id"]), ("patch", user["id"]), ("patch", user["id"])]


def test_a_refused_write_sends_no_audit_event(scim, sent):
    assert scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                "userName": "WARM@example.com"}).status_code == 409
    assert not any("audit" in message or "'create', 'User'" in message for message in sent)
    assert sent[-1] == "ROLLBACK"
    with database.connection_context():
        assert AuditEvent.select().where(AuditEvent.action == "create").count() == 1  # the warm-up's


def test_a_transaction_that_sent_nothing_ends_without_a_round_trip(scim, sent):
    with database.connection_context():
        with database.atomic():
            pass
        with pytest.raises(ZeroDivisionError), database.atomic():
            1 / 0
        assert sent == []
        assert database.connection().get_transaction_status() == 0  # idle: nothing began on the server


def test_a_pending_write_goes_with_commit_and_is_dropped_by_rollback(scim, sent):
    with database.connection_context():
        with database.atomic():
            execute_later(INSERT_EVENT, ["acme", "kept"])
            assert sent == []
        assert sent == [f"BEGIN; {INSERT_EVENT % (repr('acme'), repr('kept'))}; COMMIT"]
        with pytest.raises(ZeroDivisionError), database.atomic():
            database.execute_sql("SELECT 1")
            execute_later(INSERT_EVENT, ["acme", "dropped"])
            1 / 0
        assert sent[-1] == "ROLLBACK"
        execute_later(INSERT_EVENT, ["acme", "alone"])  # outside a transaction: at once
        assert sent[-1].endswith("'alone', 'Test', '{}')")
        assert sorted(_test_events()) == ["alone", "kept"]


def test_a_failing_pending_write_undoes_its_transaction(scim):
    with database.connection_context():
        with pytest.raises(IntegrityError), database.atomic():
            User.update(given_name="Changed").where(User.user_name == "warm@example.com").execute()
            execute_later(INSERT_EVENT, [None, "x"])  # tenant_slug is NOT NULL
        assert database.connection().get_transaction_status() == 0
        assert User.get(User.user_name == "warm@example.com").given_name != "Changed"
        assert _test_events() == []


def test_membership_writes_and_a_delete_go_with_commit(scim, sent):
    ann, bob = scim.create_user("ann@example.com"), scim.create_user("bob@example.com")
    group = scim.create_group("Staff")
    for member in (ann, bob):  # the first PATCH prepares its statements, the second is counted
        sent.clear()
        added = scim.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [{"value": member["id"]}]}])
        assert added.status_code == 200
    commits = [message for message in sent if message.endswith("COMMIT")]
    assert len(commits) == 1 and 'INSERT INTO "membership"' in commits[0] and "'members_added', 'Group'" in commits[0]
    assert not {"BEGIN", "COMMIT"} & set(sent)  # never a round trip of its own
    version = scim.get(f"/Groups/{group['id']}").get_json()["meta"]["version"]
    sent.clear()
    assert scim.delete(f"/Users/{ann['id']}").status_code == 204
    assert any('DELETE FROM "membership"' in message for message in sent)
    assert "'delete', 'User'" in sent[-1] and sent[-1].endswith("; COMMIT") and "COMMIT" not in sent
    after = scim.get(f"/Groups/{group['id']}").get_json()
    assert [member["value"] for member in after["members"]] == [bob["id"]] and after["meta"]["version"] != version
    assert scim.get(f"/Users/{ann['id']}").status_code == 404


def test_rolling_back_a_savepoint_drops_the_writes_queued_inside_it(scim, sent):
    with database.connection_context():
        with database.atomic():
            execute_later(INSERT_EVENT, ["acme", "outer"])
            with pytest.raises(LookupError), database.atomic():  # a savepoint: its SAVEPOINT takes "outer" along
                execute_later(INSERT_EVENT, [None, "inner"])  # would fail (NOT NULL) if it were ever sent
                raise LookupError
        assert not any("'inner'" in message for message in sent)
        assert _test_events() == ["outer"]


def test_committing_a_transaction_an_error_aborted_raises_and_keeps_nothing(scim):
    with database.connection_context():
        with pytest.raises(InternalError, match="aborted by an earlier error"), database.atomic():
            database.execute_sql(INSERT_EVENT, ["acme", "before"])
            with pytest.raises(ProgrammingError):
                database.execute_sql("SELECT no_such_column FROM audit_event")
        assert database.connection().get_transaction_status() == 0
        assert _test_events() == []


def test_a_failing_queued_write_is_not_blamed_on_a_statement_being_prepared(scim):
    lookup = Prepared(lambda slug: Tenant.select(Tenant.id).where(Tenant.slug == slug).tuples(), server_side=True)
    refused = set(SERVER_STATEMENTS._refused)  # the process's record: other tests' refusals stay
    with database.connection_context():
        with pytest.raises(IntegrityError), database.atomic():
            execute_later(INSERT_EVENT, [None, "bad"])  # NOT NULL: fails when sent, with the PREPARE's SAVEPOINT
            lookup.execute("acme")
        assert SERVER_STATEMENTS._refused == refused
        assert lookup.execute("acme").fetchall() == [(services.get_tenant("acme").id,)]


@pytest.mark.parametrize("carrier", ["COMMIT", "a plain statement"])
def test_a_queued_statement_the_session_lost_is_statements_lost_whatever_carries_it(scim, carrier):
    """The session lost its statements after the process prepared them: the queued
    ``EXECUTE`` fails with what carries it, as :class:`StatementsLost`; run again, it is prepared afresh."""
    note = Prepared(lambda action: AuditEvent.insert(tenant_slug="acme", actor="test", action=action,
                                                     resource_type="Test", summary={}), server_side=True)
    with database.connection_context():
        note.execute("first")
        database.execute_sql("DEALLOCATE ALL")
        with pytest.raises(StatementsLost), database.atomic():
            note.execute_later("lost")
            if carrier == "a plain statement":
                database.execute_sql("SELECT 1")
        note.execute_later("outside")  # outside a transaction: run at once (prepared afresh)
        with database.atomic():
            note.execute_later("again")
        assert _test_events() == ["first", "outside", "again"]


def test_a_transaction_needs_an_open_connection_and_a_pending_one_is_not_reused(scim):
    with pytest.raises(InterfaceError):
        with database.atomic():
            pass
    with database.connection_context():
        connection = database.connection()
        connection.pending.append(b"BEGIN")
        assert database.obj._is_closed(connection)
        connection.pending.clear()
        assert not database.obj._is_closed(connection)
