"""Give the sweep indexes that no query of live users can choose.

0002's ``(tenant_id, deleted_at, disabled_at)`` index answers ``tenant_id = ? AND
deleted_at IS NULL``, which every query of live users carries. A planner without
statistics takes it for the most selective index there is: PostgreSQL before its first
``ANALYZE`` (autovacuum off, or not run yet on a freshly filled table) read a user by id,
by userName, by externalId, and every page, through it, walking the whole tenant each
time. A 100,000-user sync slowed down with every user added (153 requests/s, against
232 in a run where it had statistics).

The sweep needs two lookups, each now by a partial index over the rows it purges:

* tombstones past their retention, ``tenant_id = ? AND deleted_at < ?``:
  ``(tenant_id, deleted_at) WHERE deleted_at IS NOT NULL``;
* disabled users past theirs, ``tenant_id = ? AND deleted_at IS NULL AND active = false
  AND disabled_at < ?``: ``(tenant_id, disabled_at) WHERE deleted_at IS NULL AND
  disabled_at IS NOT NULL``.

Neither predicate follows from the conditions of a query of live users, so neither index
can be chosen for one; ``tests/test_query_plans.py`` checks the plans with and without
statistics, on both databases.
"""

from peewee import SQL

TOMBSTONES_INDEX = "scim_user_tombstones_tenant_id_deleted_at"
DISABLED_INDEX = "scim_user_disabled_tenant_id_disabled_at"


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index("scim_user", "scim_user_tenant_id_deleted_at_disabled_at"),
        migrator.add_index("scim_user", ("tenant_id", "deleted_at"), False,
                           where=SQL('"deleted_at" IS NOT NULL'), name=TOMBSTONES_INDEX),
        migrator.add_index("scim_user", ("tenant_id", "disabled_at"), False,
                           where=SQL('"deleted_at" IS NULL AND "disabled_at" IS NOT NULL'), name=DISABLED_INDEX),
    )
