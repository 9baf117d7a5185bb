"""PostgreSQL: a write transaction in fewer round trips.

A SCIM create was four round trips to PostgreSQL: ``BEGIN``, the user's INSERT, the audit
INSERT, ``COMMIT``. Each one is a message the server parses and answers, and a wait in
which the gateway's thread gives up the GIL and the CPU. Two of them return nothing that
anybody reads: ``BEGIN``, and the audit INSERT. So a :class:`BatchingConnection` keeps
such statements as *pending* text and sends them in front of the next statement, in one
simple-query message (PostgreSQL runs its statements in order, and stops at the first
error): a create is ``BEGIN; EXECUTE <user insert>(...)`` and then
``EXECUTE <audit insert>(...); COMMIT``, two round trips. The repositories queue the same
way the UPDATE of a row already locked (no UNIQUE column changed), membership rows already
checked and locked, a group's version bump after its lock, and DELETEs by key: a user's
PATCH is two round trips instead of five, a DELETE four instead of seven.

- A transaction whose ``BEGIN`` is still pending has sent nothing, so its ``COMMIT`` and
  ``ROLLBACK`` send nothing either (:class:`tenants.db.PostgresqlPool` queues ``BEGIN``
  and ends transactions so; its ``execute_later`` queues a write).
- ``ROLLBACK`` drops pending writes: they belong to the transaction it undoes; so does
  ``ROLLBACK TO SAVEPOINT`` (the ``SAVEPOINT`` took everything queued before it along).
- A ``COMMIT`` of a transaction that is aborted already (a caller caught a statement's
  error and went on) raises, instead of PostgreSQL's silent ``ROLLBACK``.
- A pending statement's values are quoted by psycopg2 when it is queued
  (``cursor.mogrify``), as ``execute`` would quote them.
- Only ``cursor.execute`` carries pending statements (not ``executemany``, ``copy_*`` or
  named cursors, which the gateway does not use).
- An error of a pending statement (a broken constraint, a prepared statement the session
  lost) is raised by the statement it was sent with, or by ``COMMIT``; the transaction
  fails as a whole, as it would have at once, and is rolled back. It can also surface at
  a ``SAVEPOINT``, inside a caller's ``except`` for that savepoint's own errors, which is
  why only writes that cannot fail on their own (an audit event, rows already checked
  and locked) are queued. A prepared statement the session lost is
  :class:`tenants.statements.StatementsLost` whichever statement meets it, so a SCIM write
  is run again as before.
- Outside a transaction nothing waits: ``execute_later`` runs the statement at once
  (autocommit), as it does on every database but PostgreSQL.

psycopg2 is imported here only, and this module only where a PostgreSQL pool is opened
(it is an optional dependency). ``tests/test_round_trips.py`` records what is sent.
"""

from __future__ import annotations

import psycopg2.extensions

BEGIN = b"BEGIN"
ROLLBACK_TO = "ROLLBACK TO SAVEPOINT"


class BatchingCursor(psycopg2.extensions.cursor):
    """A cursor that sends its connection's pending statements in front of its own."""

    def execute(self, query, vars=None):
        pending = self.connection.pending
        if not pending:
            return super().execute(query, vars)
        if isinstance(query, str) and query.startswith(ROLLBACK_TO):
            # Everything before the savepoint went out with its SAVEPOINT: what is pending
            # was queued inside it, and is undone unsent.
            pending.clear()
            return super().execute(query, vars)
        text = b"; ".join([*pending, self.mogrify(query, vars)])
        pending.clear()  # sent, whatever the answer: an error ends the transaction
        return super().execute(text)


class BatchingConnection(psycopg2.extensions.connection):
    """A psycopg2 connection with a list of pending statements (SQL text, values quoted)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pending: list[bytes] = []
        self.cursor_factory = BatchingCursor

    def failed(self) -> bool:
        """True if the open transaction is aborted: a statement of it failed."""
        return self.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR

    def in_transaction(self) -> bool:
        """True inside a transaction, also one whose ``BEGIN`` has not been sent yet."""
        return bool(self.pending) or self.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE

    def begin_later(self) -> None:
        """Queue ``BEGIN``: the transaction starts on the server with its first statement."""
        self.pending.append(BEGIN)

    def nothing_sent(self) -> bool:
        """True if the open transaction has sent nothing: only its ``BEGIN`` is pending."""
        return self.pending == [BEGIN]

    def drop_pending(self) -> bool:
        """Forget the pending statements; True if the server has seen the transaction begin."""
        sent = not self.pending or self.pending[0] != BEGIN
        self.pending.clear()
        return sent

    def queue(self, sql: str, params) -> None:
        """Queue ``sql`` with ``params`` (quoted now) to go with the next statement."""
        with self.cursor() as cursor:
            self.pending.append(cursor.mogrify(sql, params))
