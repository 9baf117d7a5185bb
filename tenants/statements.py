"""PostgreSQL: the hottest statements PREPAREd once per pooled connection, then EXECUTEd.

PostgreSQL plans every statement it receives as text, and for the gateway's short lookups
and one-row INSERTs planning is most of the server's work. Replayed with psycopg2 on one
connection (a tenant of 50,000 users), a user's lookup and create cost PostgreSQL 587 us
of CPU as text and 340 us as prepared statements run with ``EXECUTE``: the token lookup
112 -> 46 us, the lookup by userName 92 -> 32 us, the user INSERT 131 -> 98 us, the audit
INSERT 69 -> 46 us (``benchmarks/README.md``, "Fifth round"). psycopg2 prepares nothing
on the server itself, so a :class:`tenants.prepared.Prepared` asks for it
(``server_side=True``) and :class:`ServerStatements` keeps, per pooled connection, which
statements that session holds. A connection the pool replaces is a new object (the map
holds it weakly) and prepares its statements again on first use.

Only statements whose best plan does not depend on the values ask for it: lookups by a
primary or unique key and one-row INSERTs. After five executions PostgreSQL may switch a
prepared statement to one generic plan; for an equality on a column many rows share
(externalId) that plan cost four to five times the custom one in the same replay.

- ``PREPARE`` is not undone by ``ROLLBACK``. Inside a transaction it runs in a savepoint,
  so a statement the server refuses cannot abort the caller's transaction; such a
  statement runs as plain SQL from then on (logged once).
- A session that lost its statements (``DISCARD ALL``), or a plan another process's
  schema change made invalid (``cached plan must not change result type``, e.g. a
  column widened during a rolling upgrade): the connection forgets what it had prepared,
  and each statement is dropped and prepared afresh when next used; outside a
  transaction the failed one is run again at once, inside one the transaction has failed
  and :class:`StatementsLost` is raised, so the caller can run it again from the start
  (the SCIM writes do, once).
- Statement names are ``scimgw_`` and a hash of the SQL, so a session that several
  processes share can never run another statement under a name; prepared statements
  bind values by the types PostgreSQL inferred at PREPARE (a non-integer given for an
  integer column is rounded rather than compared): the gateway's arguments are strings,
  integers and ``None`` as the columns expect.
- peewee's query log shows each run as ``EXECUTE scimgw_<n>(...)`` (:meth:`ServerStatements.plain`
  gives the SQL); the PREPARE, once per connection, goes to the driver directly.
- Behind a pooler in transaction mode (PgBouncer's ``pool_mode = transaction``) a session's
  statements do not follow the client: set ``SCIM_GATEWAY_DB_SERVER_PREPARE=false``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import weakref

from peewee import __exception_wrapper__

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"%%|%s")
# SQLSTATEs (psycopg2 is imported only where a PostgreSQL pool exists: it is an extra).
#: The server no longer holds the statement (26000), or its plan cannot be used any more (0A000).
_FORGOTTEN = {"26000", "0A000"}
_DUPLICATE_STATEMENT = "42P05"
#: Errors of the statement itself (syntax, types: classes 42 and 22) or a feature (0A): never prepared again.
_REFUSED_CLASSES = ("42", "22", "0A")


def numbered(sql: str) -> str:
    """``sql`` with psycopg2's ``%s`` placeholders as ``$1, $2, ...`` and ``%%`` as ``%``."""
    count = 0

    def replace(match: re.Match) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(replace, sql)


class StatementsLost(Exception):
    """A statement of an open transaction was gone from its session (or its plan was stale):
    the transaction has failed; run again, its statements are prepared afresh."""


def _pgcode(error: BaseException) -> str | None:
    """The SQLSTATE of a psycopg2 error, also when peewee wrapped it."""
    for candidate in (error, *(error.args[:1] if error.args else ()), error.__context__):
        code = getattr(candidate, "pgcode", None)
        if code:
            return code
    return None


class ServerStatements:
    """Which statements each pooled PostgreSQL connection has prepared, and their names."""

    def __init__(self):
        self._lock = threading.Lock()
        self._names: dict[str, tuple[str, str]] = {}  # SQL -> (name, EXECUTE text)
        self._executed: dict[str, str] = {}  # EXECUTE text -> SQL
        self._refused: set[str] = set()
        self._held: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()

    def execute(self, db, sql: str, params: list):
        """Run ``sql`` with ``params`` on ``db``'s connection as a prepared statement (prepared
        on first use); the driver's cursor, as ``db.execute_sql(sql, params)`` returns it."""
        if sql in self._refused:
            return db.execute_sql(sql, params)
        connection = db.connection()
        name, execute = self._name(sql, len(params))
        held = self._held_by(connection)
        try:
            return self._run(db, connection, held, name, execute, sql, params)
        except Exception as error:
            # Inside a transaction ``db.execute_sql`` raised StatementsLost (not "lost" here).
            if not self.lost(connection, error):
                raise
            _deallocate(connection, name)  # a statement with a stale plan is still held under that name
        return self._run(db, connection, held, name, execute, sql, params)

    def execute_later(self, db, sql: str, params: list) -> None:
        """As :meth:`execute`, for a write whose result is never read: prepared now if need
        be, its ``EXECUTE`` sent with the transaction's next statement (``db.execute_later``)."""
        if not db.in_transaction():
            self.execute(db, sql, params)
            return
        if sql in self._refused:
            db.execute_later(sql, params)
            return
        connection = db.connection()
        name, execute = self._name(sql, len(params))
        self._run(db, connection, self._held_by(connection), name, execute, sql, params, db.execute_later)

    def lost(self, connection, error: BaseException) -> bool:
        """True if ``error`` says ``connection``'s session lost a statement (or its plan);
        then every statement is prepared again when next used."""
        if _pgcode(error) not in _FORGOTTEN:
            return False
        self._held_by(connection).clear()
        return True

    def raise_if_lost(self, connection, error: BaseException) -> None:
        """Raise :class:`StatementsLost` if ``error`` aborted ``connection``'s transaction
        because its session lost a statement: the caller can run the transaction again."""
        if self.lost(connection, error) and connection.failed():
            raise StatementsLost(str(error)) from error

    def _run(self, db, connection, held: set[str], name: str, execute: str, sql: str, params: list,
             run=None):
        """EXECUTE ``name`` with ``run`` (default ``db.execute_sql``), preparing it first if
        ``connection`` does not hold it (plain SQL if refused)."""
        run = run or db.execute_sql
        if name not in held:
            if not self._prepare(connection, name, sql):
                return run(sql, params)
            held.add(name)
        return run(execute, params)

    def plain(self, sql: str) -> str:
        """The SQL that ``sql`` runs: for an ``EXECUTE`` of one of these statements (as peewee's
        query log shows it) the statement prepared under that name, else ``sql`` itself."""
        return self._executed.get(sql, sql)

    def _name(self, sql: str, count: int) -> tuple[str, str]:
        known = self._names.get(sql)
        if known is None:
            with self._lock:
                known = self._names.get(sql)
                if known is None:
                    # Named by the SQL itself: a session shared by other processes (a pooler)
                    # can then only hold this name for this statement, never another one.
                    name = "scimgw_" + hashlib.sha256(sql.encode()).hexdigest()[:32]
                    arguments = f"({', '.join(['%s'] * count)})" if count else ""
                    known = self._names[sql] = (name, f"EXECUTE {name}{arguments}")
                    self._executed[known[1]] = sql
        return known

    def _held_by(self, connection) -> set[str]:
        held = self._held.get(connection)
        if held is None:
            with self._lock:
                held = self._held.setdefault(connection, set())
        return held

    def _prepare(self, connection, name: str, sql: str) -> bool:
        """PREPARE ``sql`` as ``name`` on ``connection``; False if the server refuses it.

        A session that holds the name already (this process lost track of it, or another
        process shares the session) holds the same SQL, but maybe with a plan a schema change
        made stale: it is dropped and prepared afresh.
        """
        import psycopg2

        in_transaction = connection.in_transaction()
        if in_transaction:  # its errors are those of writes queued before it, never this statement's
            with __exception_wrapper__, connection.cursor() as cursor:
                cursor.execute("SAVEPOINT scimgw_prepare")
        try:
            with connection.cursor() as cursor:
                try:
                    try:
                        cursor.execute(f"PREPARE {name} AS {numbered(sql)}")
                    except psycopg2.Error as error:
                        if error.pgcode != _DUPLICATE_STATEMENT:
                            raise
                        if in_transaction:
                            cursor.execute("ROLLBACK TO SAVEPOINT scimgw_prepare")
                        cursor.execute(f"DEALLOCATE {name}")
                        cursor.execute(f"PREPARE {name} AS {numbered(sql)}")
                except psycopg2.Error:
                    if in_transaction:
                        cursor.execute("ROLLBACK TO SAVEPOINT scimgw_prepare")
                        cursor.execute("RELEASE SAVEPOINT scimgw_prepare")
                    raise
                if in_transaction:
                    cursor.execute("RELEASE SAVEPOINT scimgw_prepare")
        except psycopg2.Error as error:
            if not (error.pgcode or "").startswith(_REFUSED_CLASSES):
                raise
            with self._lock:
                self._refused.add(sql)
            log.warning("PostgreSQL would not prepare a statement, which runs as plain SQL from now on: %s", error)
            return False
        return True

    def after_fork(self) -> None:
        """In a forked child: a lock the parent's other threads held at fork time is not held."""
        self._lock = threading.Lock()


#: The process's record of what each pooled connection prepared (used by tenants.prepared).
SERVER_STATEMENTS = ServerStatements()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=SERVER_STATEMENTS.after_fork)


def _deallocate(connection, name: str) -> None:
    """Drop ``name`` from the session if it holds it (outside a transaction: an error aborts nothing)."""
    import psycopg2

    with connection.cursor() as cursor:
        try:
            cursor.execute(f"DEALLOCATE {name}")
        except psycopg2.Error as error:
            if error.pgcode != "26000":  # not held: nothing to drop
                raise
