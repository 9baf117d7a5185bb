"""Peewee models. Every row of a tenant's data carries its tenant; repositories scope by it.

Table names are explicit so migrations (``tenants/migrations``) and models cannot drift
apart silently. Uniqueness that the product promises is enforced by UNIQUE indexes.
"""

from __future__ import annotations

import json
import uuid

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from .clock import utcnow
from .db import database
from .json_text import dumps


def new_id() -> str:
    """A random, unguessable resource id (UUID4 as text)."""
    return str(uuid.uuid4())


class JSONField(TextField):
    """A JSON document stored as text (portable across SQLite and PostgreSQL)."""

    def db_value(self, value):
        if value is None:
            return None if self.null else "{}"
        return dumps(value, sort_keys=True)

    def python_value(self, value):
        if value is None:
            return None if self.null else {}
        return json.loads(value)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Tenant(BaseModel):
    """One customer of the MSP: a Tenant URL, its tokens and an Enabled toggle."""

    slug = CharField(max_length=63, unique=True)
    name = CharField(max_length=200)
    enabled = BooleanField(default=True)
    settings = JSONField(default=dict)
    created = DateTimeField(default=utcnow)
    updated = DateTimeField(default=utcnow)

    class Meta:
        table_name = "tenant"


class TenantToken(BaseModel):
    """A bearer token of one tenant, stored only as the SHA-256 of its secret."""

    tenant = ForeignKeyField(Tenant, backref="tokens", on_delete="CASCADE")
    digest = CharField(max_length=64, unique=True)
    prefix = CharField(max_length=16)
    created = DateTimeField(default=utcnow)
    expires = DateTimeField(null=True)
    revoked = DateTimeField(null=True)

    class Meta:
        table_name = "tenant_token"


class User(BaseModel):
    """A provisioned user. ``user_name_key`` is :func:`tenants.keys.fold` of ``user_name``.

    ``active`` is NULL when the client never set it (or removed it); only ``False``
    disables the user.
    """

    id = CharField(max_length=36, primary_key=True, default=new_id)
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)  # the indexes below lead with it
    user_name = CharField(max_length=255)
    user_name_key = CharField(max_length=255)
    external_id = CharField(max_length=255, null=True)
    given_name = CharField(max_length=255, null=True)
    family_name = CharField(max_length=255, null=True)
    active = BooleanField(null=True)
    source = CharField(max_length=16, default="scim")
    extra = JSONField(default=dict)
    created = DateTimeField(default=utcnow)
    last_modified = DateTimeField(default=utcnow)
    version = IntegerField(default=1)
    disabled_at = DateTimeField(null=True)
    deleted_at = DateTimeField(null=True)

    class Meta:
        table_name = "scim_user"
        indexes = (
            (("tenant", "user_name_key"), True),
            (("tenant", "external_id"), False),
        )


# Pages of live users (migration 0006): only rows with ``deleted_at IS NULL``, the
# condition every user list carries; ``deleted_at`` (always NULL here) as a last column so
# that SQLite counts them from the index alone (migration 0009).
User.add_index(User.index(User.tenant, User.created, User.id, User.deleted_at, where=User.deleted_at.is_null(),
                          name="scim_user_live_tenant_id_created_id"))
# The sweep's two lookups (migration 0008), over the rows it purges only, so that no query
# of live users can choose them.
User.add_index(User.index(User.tenant, User.deleted_at, where=User.deleted_at.is_null(False),
                          name="scim_user_tombstones_tenant_id_deleted_at"))
User.add_index(User.index(User.tenant, User.disabled_at,
                          where=User.deleted_at.is_null() & User.disabled_at.is_null(False),
                          name="scim_user_disabled_tenant_id_disabled_at"))


class Group(BaseModel):
    """A provisioned group; ``display_name_key`` is the folded displayName."""

    id = CharField(max_length=36, primary_key=True, default=new_id)
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)  # the indexes below lead with it
    display_name = CharField(max_length=255)
    display_name_key = CharField(max_length=255)
    external_id = CharField(max_length=255, null=True)
    extra = JSONField(default=dict)
    created = DateTimeField(default=utcnow)
    last_modified = DateTimeField(default=utcnow)
    version = IntegerField(default=1)

    class Meta:
        table_name = "scim_group"
        indexes = (
            (("tenant", "display_name_key"), True),
            (("tenant", "external_id"), False),
            (("tenant", "created", "id"), False),
        )


class UserTally(BaseModel):
    """A share of one tenant's live users, written only by triggers on ``scim_user``
    (migration 0010): ``live`` sums to how many users have ``deleted_at IS NULL``,
    ``changes`` to how often one joined or left them (it only grows). A tenant has one
    row per slot (one on SQLite; on PostgreSQL one per ``pg_backend_pid() % 64``)."""

    tenant_id = IntegerField()  # no foreign key: a trigger on ``tenant`` removes the rows
    slot = IntegerField()
    live = IntegerField()
    changes = BigIntegerField()

    class Meta:
        table_name = "user_tally"
        primary_key = CompositeKey("tenant_id", "slot")


class Membership(BaseModel):
    """One user in one group: a row per pair, never a list on the group.

    ``display`` keeps the member ``display`` a client sent, if any; without it the
    member is displayed by its userName.
    """

    group = ForeignKeyField(Group, on_delete="CASCADE", index=False)  # the primary key leads with it
    user = ForeignKeyField(User, on_delete="CASCADE", index=True)
    display = CharField(max_length=255, null=True)

    class Meta:
        table_name = "membership"
        primary_key = CompositeKey("group", "user")


class Role(BaseModel):
    """A role in the tenant's catalog: a name and the permissions it confers."""

    id = CharField(max_length=36, primary_key=True, default=new_id)
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    name = CharField(max_length=255)
    name_key = CharField(max_length=255)
    description = TextField(default="")
    permissions = JSONField(default=list)
    created = DateTimeField(default=utcnow)

    class Meta:
        table_name = "role"
        indexes = ((("tenant", "name_key"), True),)


class GroupRole(BaseModel):
    """The group-mapping list: members of ``group`` hold ``role``."""

    group = ForeignKeyField(Group, on_delete="CASCADE")
    role = ForeignKeyField(Role, on_delete="CASCADE", index=True)

    class Meta:
        table_name = "group_role"
        primary_key = CompositeKey("group", "role")


class UserRole(BaseModel):
    """A role given to one user by hand (only where the role-assignment policy allows it)."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    role = ForeignKeyField(Role, on_delete="CASCADE", index=True)

    class Meta:
        table_name = "user_role"
        primary_key = CompositeKey("user", "role")


class UserPermission(BaseModel):
    """A permission an admin granted one user individually (the portal's user sidebar)."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    permission = CharField(max_length=255)

    class Meta:
        table_name = "user_permission"
        primary_key = CompositeKey("user", "permission")


class AdminKey(BaseModel):
    """An MSP administrator's API key (hashed); ``tenants`` limits it to some slugs."""

    name = CharField(max_length=100, unique=True)
    digest = CharField(max_length=64, unique=True)
    prefix = CharField(max_length=16)
    tenants = JSONField(null=True)
    created = DateTimeField(default=utcnow)
    revoked = DateTimeField(null=True)

    class Meta:
        table_name = "admin_key"


MODELS = (Tenant, TenantToken, User, Group, Membership, Role, GroupRole, UserRole, UserPermission, AdminKey)


class AuditEvent(BaseModel):
    """One change made through SCIM, the admin API or the CLI, written in the change's transaction.

    ``tenant`` becomes NULL when the tenant is deleted; ``tenant_slug`` keeps the trail
    readable afterwards. ``actor``: ``token:<token prefix>``, ``admin:<key name>`` or
    ``cli``. ``summary`` names what changed (attribute names, member ids), never values
    or secrets. ``request_id`` is the request's ``X-Request-ID``.
    """

    tenant = ForeignKeyField(Tenant, null=True, on_delete="SET NULL", index=False)
    tenant_slug = CharField(max_length=63)
    time = DateTimeField(default=utcnow)
    actor = CharField(max_length=120)
    action = CharField(max_length=40)
    resource_type = CharField(max_length=40)
    resource_id = CharField(max_length=255, null=True)
    summary = JSONField(default=dict)
    request_id = CharField(max_length=64, null=True)

    class Meta:
        table_name = "audit_event"
        indexes = (
            (("tenant", "time"), False),
            (("tenant_slug", "time"), False),
        )


class RequestStat(BaseModel):
    """SCIM requests and errors of one tenant in one minute (UTC), for status and the chart."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    minute = DateTimeField()
    requests = IntegerField(default=0)
    errors = IntegerField(default=0)

    class Meta:
        table_name = "request_stat"
        indexes = ((("tenant", "minute"), True),)


class TenantActivity(BaseModel):
    """When a tenant's last SCIM request was seen (kept apart from ``tenant`` so that saving
    a tenant can never write back an older value)."""

    tenant = ForeignKeyField(Tenant, primary_key=True, on_delete="CASCADE")
    last_request = DateTimeField()

    class Meta:
        table_name = "tenant_activity"


MODELS = MODELS + (AuditEvent, RequestStat, TenantActivity)
