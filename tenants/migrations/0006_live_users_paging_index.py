"""Page through a tenant's live users by an index that holds only them.

User lists always carry ``deleted_at IS NULL`` (tombstoned users are invisible), so with
0005's (tenant, created, id) index a page at offset N read N rows from the table just to
check ``deleted_at``: 373 ms for the page at offset 90,000 of a 100,000-user tenant on
SQLite. This replaces it with the same columns restricted to live users,
``(tenant_id, created, id) WHERE deleted_at IS NULL``: skipped rows are index entries,
and every entry is a live user (9 ms for that page on SQLite).

Why a partial index, not ``(tenant_id, deleted_at, created, id)``: SQLite pages through
either, but PostgreSQL does not treat ``deleted_at IS NULL`` as fixing ``deleted_at`` to
one value, so it cannot read that index in ``created, id`` order and sorted the whole
tenant instead (150-190 ms for the same page). Both engines use the partial index for
``tenant_id = ? AND deleted_at IS NULL ORDER BY created, id``, and it is smaller.

0005's user index goes: every query that ordered users by it also filters
``deleted_at IS NULL`` (the repositories' tenant scope), so the partial index serves each
of them; the sweep's ``deleted_at < ?`` uses 0002's (tenant_id, deleted_at, disabled_at).
Groups have no tombstones, so 0005's group index already answers a page from the index
alone and stays.
"""

from peewee import SQL

LIVE_USERS_INDEX = "scim_user_live_tenant_id_created_id"


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index("scim_user", "scim_user_tenant_id_created_id"),
        migrator.add_index("scim_user", ("tenant_id", "created", "id"), False,
                           where=SQL('"deleted_at" IS NULL'), name=LIVE_USERS_INDEX),
    )
