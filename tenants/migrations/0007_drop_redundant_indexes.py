"""Drop three single-column indexes that other indexes already cover.

peewee gives every foreign key an index of its own. Three of them only repeat the
leading column of a wider index on the same table:

* ``scim_user_tenant_id``: ``(tenant_id, user_name_key)`` (unique), ``(tenant_id,
  external_id)`` and ``(tenant_id, deleted_at, disabled_at)`` all start with it;
* ``scim_group_tenant_id``: ``(tenant_id, display_name_key)`` (unique), ``(tenant_id,
  external_id)`` and ``(tenant_id, created, id)``;
* ``membership_group_id``: the primary key ``(group_id, user_id)``.

Each one still cost an index insertion on every user, group and membership written
(50 per member PATCH of 50 users) and gave the planners one more wrong choice. Lookups
by tenant (a tenant's deletion cascading to its users and groups included) and by group
use the wider indexes; ``tests/test_query_plans.py`` checks the plans that matter.
"""


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index("scim_user", "scim_user_tenant_id"),
        migrator.drop_index("scim_group", "scim_group_tenant_id"),
        migrator.drop_index("membership", "membership_group_id"),
    )
