"""What the console reads and writes besides the admin services: provisioning status and
the request series of the chart (:mod:`tenants.stats`), the audit log
(:mod:`tenants.audit`), and the group names of a user's sidebar."""

from __future__ import annotations

import datetime as dt

from flask import g

from tenants import audit, stats
from tenants.models import Group, Membership, Role, Tenant, User


def status(tenant: Tenant) -> dict:
    """Users and groups so far, active/disabled, last SCIM request, requests and errors in 24 hours."""
    return stats.status(tenant)


def series(tenant: Tenant, minutes: int = 1440) -> list[tuple[dt.datetime, int, int]]:
    """``[(minute, requests, errors)]`` of the last ``minutes`` (only minutes with requests)."""
    return stats.series(tenant, minutes=minutes)


def events(tenant: Tenant, *, actor=None, resource=None, page=1, per_page=50) -> tuple[int, list[dict]]:
    """``(total, rows)`` of the audit log, newest first."""
    return audit.list_events(tenant, actor=actor, resource=resource, page=page, per_page=per_page)


def record(tenant: Tenant, action: str, resource_type: str, resource_id: str | None,
           summary: dict | None = None) -> None:
    """Audit a change made in the console, as the admin API does (actor ``admin:<key name>``,
    the same action names); call it inside the change's transaction."""
    audit.record(tenant, audit.admin_actor(g.admin_key.name), action, resource_type, resource_id,
                 summary, g.get("request_id"))


def groups_of(user: User) -> list[Group]:
    """The groups ``user`` is a member of, by displayName: one query."""
    return list(Group.select().join(Membership).where(Membership.user == user.id)
                .order_by(Group.display_name_key))


def group_names(tenant: Tenant, group_ids) -> dict[str, str]:
    """``{group id: displayName}`` of the tenant's groups among ``group_ids`` (a policy may
    name any id; another tenant's group stays a bare id): one query."""
    ids = list(set(group_ids))
    if not ids:
        return {}
    return {row.id: row.display_name for row in Group.select(Group.id, Group.display_name)
            .where((Group.tenant == tenant.id) & Group.id.in_(ids))}


def audit_names(tenant: Tenant, events: list[dict]) -> dict[tuple[str, str], str]:
    """``{(resource type, id): userName, displayName or role name}`` for a page of audit
    events and the role ids their summaries name: at most three queries. Resources deleted
    since are left out (shown by id)."""
    wanted: dict[str, set[str]] = {"User": set(), "Group": set(), "Role": set()}
    for event in events:
        if event.get("resource_type") in wanted and event.get("resource_id"):
            wanted[event["resource_type"]].add(event["resource_id"])
        roles = (event.get("summary") or {}).get("roles")
        if isinstance(roles, list):
            wanted["Role"].update(str(role) for role in roles)
    names: dict[tuple[str, str], str] = {}
    sources = {"User": (User, User.user_name), "Group": (Group, Group.display_name), "Role": (Role, Role.name)}
    for kind, ids in wanted.items():
        if ids:
            model, label = sources[kind]
            for row_id, name in (model.select(model.id, label)
                                 .where((model.tenant == tenant.id) & model.id.in_(sorted(ids))).tuples()):
                names[(kind, row_id)] = name
    return names
