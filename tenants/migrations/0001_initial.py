"""Initial schema: tenants, tokens, users, groups, memberships.

A frozen copy of the models as they were when this migration was written (peewee's
migration guidance): later changes to ``tenants/models.py`` must come as new migrations.
"""

import datetime

from peewee import (
    BooleanField,
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def up(migrator, db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Tenant(Base):
        slug = CharField(max_length=63, unique=True)
        name = CharField(max_length=200)
        enabled = BooleanField(default=True)
        settings = TextField(default="{}")
        created = DateTimeField(default=datetime.datetime.utcnow)
        updated = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "tenant"

    class TenantToken(Base):
        tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
        digest = CharField(max_length=64, unique=True)
        prefix = CharField(max_length=16)
        created = DateTimeField()
        expires = DateTimeField(null=True)
        revoked = DateTimeField(null=True)

        class Meta:
            table_name = "tenant_token"

    class User(Base):
        id = CharField(max_length=36, primary_key=True)
        tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
        user_name = CharField(max_length=255)
        user_name_key = CharField(max_length=255)
        external_id = CharField(max_length=255, null=True)
        given_name = CharField(max_length=255, null=True)
        family_name = CharField(max_length=255, null=True)
        active = BooleanField(null=True)
        source = CharField(max_length=16, default="scim")
        extra = TextField(default="{}")
        created = DateTimeField()
        last_modified = DateTimeField()
        version = IntegerField(default=1)

        class Meta:
            table_name = "scim_user"
            indexes = ((("tenant", "user_name_key"), True), (("tenant", "external_id"), False))

    class Group(Base):
        id = CharField(max_length=36, primary_key=True)
        tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
        display_name = CharField(max_length=255)
        display_name_key = CharField(max_length=255)
        external_id = CharField(max_length=255, null=True)
        extra = TextField(default="{}")
        created = DateTimeField()
        last_modified = DateTimeField()
        version = IntegerField(default=1)

        class Meta:
            table_name = "scim_group"
            indexes = ((("tenant", "display_name_key"), True), (("tenant", "external_id"), False))

    class Membership(Base):
        group = ForeignKeyField(Group, on_delete="CASCADE")
        user = ForeignKeyField(User, on_delete="CASCADE", index=True)
        display = CharField(max_length=255, null=True)

        class Meta:
            table_name = "membership"
            primary_key = CompositeKey("group", "user")

    db.create_tables([Tenant, TenantToken, User, Group, Membership])
