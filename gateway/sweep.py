"""The retention sweep: remove tombstones and long-disabled users when their time is up.

Some identity providers never send DELETE; others' deletes are kept as tombstones for a
while. ``scim-gateway sweep`` (run it from cron or a systemd timer, e.g. hourly) asks
each tenant's ``scim_retention`` policy how long to keep them and deletes, in one
statement per tenant and kind, the users whose time is up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app

from tenants.clock import utcnow
from tenants.db import write_transaction
from tenants.models import Membership, Tenant, User
from tenants.repositories import members_changed

from .scim.operations import lookup_for


@dataclass(frozen=True)
class SweepResult:
    """What the sweep removed in one tenant."""

    slug: str
    tombstones: int
    disabled: int


def _purge(condition) -> int:
    """Delete the users matching ``condition`` with their memberships; the number deleted.

    Each group that loses a member gets a new version, as when a user is deleted over SCIM
    (:func:`tenants.repositories.members_changed`, which also keeps the lock order).
    """
    doomed = User.select(User.id).where(condition)
    members_changed(group_id for (group_id,) in
                    Membership.select(Membership.group).distinct().where(Membership.user.in_(doomed)).tuples())
    Membership.delete().where(Membership.user.in_(doomed)).execute()
    return User.delete().where(User.id.in_(User.select(User.id).where(condition))).execute()


def sweep_tenant(tenant: Tenant, now: dt.datetime | None = None) -> SweepResult:
    """Apply one tenant's retention policy."""
    now = now or utcnow()
    hooks = current_app.extensions["scim_gateway"].for_tenant(
        tenant.slug, tenant.name, tenant.settings, tenant.updated, lookup_for(tenant)
    )
    retention = hooks.retention()
    tombstones = disabled = 0
    with write_transaction():
        if retention.tombstone_days is not None:
            cutoff = now - dt.timedelta(days=retention.tombstone_days)
            tombstones = _purge((User.tenant == tenant.id) & (User.deleted_at < cutoff))
        if retention.disabled_days is not None:
            cutoff = now - dt.timedelta(days=retention.disabled_days)
            disabled = _purge((User.tenant == tenant.id) & User.deleted_at.is_null()
                              & (User.active == False) & (User.disabled_at < cutoff))  # noqa: E712
    return SweepResult(tenant.slug, tombstones, disabled)


def sweep_all(now: dt.datetime | None = None) -> list[SweepResult]:
    """Apply every tenant's retention policy."""
    return [sweep_tenant(tenant, now) for tenant in Tenant.select().order_by(Tenant.slug)]
