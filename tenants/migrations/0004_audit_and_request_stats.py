"""The audit log, per-minute SCIM request counts, and each tenant's last SCIM request.

Frozen model copies, as in 0001: this file must not import ``tenants.models``.

- ``audit_event``: survives its tenant (``tenant_id`` ON DELETE SET NULL, ``tenant_slug``
  kept in clear); read newest first per tenant through ``(tenant_id, time)``.
- ``request_stat``: one row per tenant and minute, UNIQUE ``(tenant_id, minute)`` so the
  gateway's buffered counters are added with an UPSERT.
- ``tenant_activity``: one row per tenant, the time of its last SCIM request.
"""

import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField


def up(migrator, db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Tenant(Base):
        class Meta:
            table_name = "tenant"

    class AuditEvent(Base):
        tenant = ForeignKeyField(Tenant, null=True, on_delete="SET NULL", index=False)
        tenant_slug = CharField(max_length=63)
        time = DateTimeField(default=datetime.datetime.utcnow)
        actor = CharField(max_length=120)
        action = CharField(max_length=40)
        resource_type = CharField(max_length=40)
        resource_id = CharField(max_length=255, null=True)
        summary = TextField(default="{}")
        request_id = CharField(max_length=64, null=True)

        class Meta:
            table_name = "audit_event"
            indexes = ((("tenant", "time"), False), (("tenant_slug", "time"), False))

    class RequestStat(Base):
        tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
        minute = DateTimeField()
        requests = IntegerField(default=0)
        errors = IntegerField(default=0)

        class Meta:
            table_name = "request_stat"
            indexes = ((("tenant", "minute"), True),)

    class TenantActivity(Base):
        tenant = ForeignKeyField(Tenant, primary_key=True, on_delete="CASCADE")
        last_request = DateTimeField()

        class Meta:
            table_name = "tenant_activity"

    db.create_tables([AuditEvent, RequestStat, TenantActivity])
