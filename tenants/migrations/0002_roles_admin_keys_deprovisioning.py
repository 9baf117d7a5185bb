"""Roles, group-role mappings, individual permissions, admin keys, and deprovisioning dates.

Frozen model copies, as in 0001: this file must not import ``tenants.models``.
"""

import datetime

from peewee import CharField, CompositeKey, DateTimeField, ForeignKeyField, Model, TextField


def up(migrator, db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Tenant(Base):
        class Meta:
            table_name = "tenant"

    class User(Base):
        id = CharField(max_length=36, primary_key=True)

        class Meta:
            table_name = "scim_user"

    class Group(Base):
        id = CharField(max_length=36, primary_key=True)

        class Meta:
            table_name = "scim_group"

    class Role(Base):
        id = CharField(max_length=36, primary_key=True)
        tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
        name = CharField(max_length=255)
        name_key = CharField(max_length=255)
        description = TextField(default="")
        permissions = TextField(default="[]")
        created = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "role"
            indexes = ((("tenant", "name_key"), True),)

    class GroupRole(Base):
        group = ForeignKeyField(Group, on_delete="CASCADE")
        role = ForeignKeyField(Role, on_delete="CASCADE", index=True)

        class Meta:
            table_name = "group_role"
            primary_key = CompositeKey("group", "role")

    class UserRole(Base):
        user = ForeignKeyField(User, on_delete="CASCADE")
        role = ForeignKeyField(Role, on_delete="CASCADE", index=True)

        class Meta:
            table_name = "user_role"
            primary_key = CompositeKey("user", "role")

    class UserPermission(Base):
        user = ForeignKeyField(User, on_delete="CASCADE")
        permission = CharField(max_length=255)

        class Meta:
            table_name = "user_permission"
            primary_key = CompositeKey("user", "permission")

    class AdminKey(Base):
        name = CharField(max_length=100, unique=True)
        digest = CharField(max_length=64, unique=True)
        prefix = CharField(max_length=16)
        tenants = TextField(null=True)
        created = DateTimeField(default=datetime.datetime.utcnow)
        revoked = DateTimeField(null=True)

        class Meta:
            table_name = "admin_key"

    db.create_tables([Role, GroupRole, UserRole, UserPermission, AdminKey])
    migrator.migrate(
        migrator.add_column("scim_user", "disabled_at", DateTimeField(null=True)),
        migrator.add_column("scim_user", "deleted_at", DateTimeField(null=True)),
        migrator.add_index("scim_user", ("tenant_id", "deleted_at", "disabled_at"), False),
    )
