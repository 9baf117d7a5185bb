"""PostgreSQL: compare the lookup keys byte-wise (``COLLATE "C"``), as SQLite does.

Under a linguistic collation PostgreSQL orders ``_`` and ``%`` differently from SQLite,
and a plain B-tree index cannot serve ``LIKE 'prefix%'`` (filters with ``sw``). With
``C`` the keys sort alike on both engines and prefix searches use the index. SQLite
already compares text byte-wise: nothing to do there.
"""

from peewee import PostgresqlDatabase

COLUMNS = (
    ("scim_user", "user_name_key"),
    ("scim_user", "external_id"),
    ("scim_group", "display_name_key"),
    ("scim_group", "external_id"),
)


def up(migrator, db):
    if not isinstance(db, PostgresqlDatabase):
        return
    for table, column in COLUMNS:
        db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR(255) COLLATE "C"')
