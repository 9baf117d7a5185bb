"""Indexes for paging in creation order: (tenant, created, id) on users and groups.

List pages are ordered by ``created, id`` within a tenant; without these indexes every page
of a 100,000-user tenant sorted the whole tenant.
"""


def up(migrator, db):
    migrator.migrate(
        migrator.add_index("scim_user", ("tenant_id", "created", "id"), False),
        migrator.add_index("scim_group", ("tenant_id", "created", "id"), False),
    )
