"""A cheap, complete picture of one tenant's data, to prove a refused request changed nothing.

Every column of the tenant's users and groups, its membership rows and its audit events,
read straight from the database in four queries (no rendering), so a write that was
half-applied, or logged and then rolled back, shows up as a difference.
"""

from __future__ import annotations

from tenants.db import database
from tenants.models import AuditEvent, Group, Membership, Tenant, User


def snapshot(scim) -> tuple:
    """Everything ``scim``'s tenant holds: user rows, group rows, memberships, audit events."""
    with database.connection_context():
        tenant = Tenant.get(Tenant.slug == scim.tenant.slug)
        users = list(User.select().where(User.tenant == tenant.id).order_by(User.id).tuples())
        groups = list(Group.select().where(Group.tenant == tenant.id).order_by(Group.id).tuples())
        members = list(Membership.select(Membership.group, Membership.user, Membership.display)
                       .join(Group).where(Group.tenant == tenant.id)
                       .order_by(Membership.group, Membership.user).tuples())
        events = AuditEvent.select().where(AuditEvent.tenant_slug == tenant.slug).count()
    return users, groups, members, events
