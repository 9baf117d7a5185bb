"""Effective roles: the role-assignment policy applied to data loaded in bounded queries."""

from __future__ import annotations

from tenants.models import User
from tenants.roles import role_inputs

from .plugin_manager import TenantHooks
from .policy import GroupInfo, RoleGrant, RoleInfo, UserInfo


def role_info(role) -> RoleInfo:
    """A catalog row as the plain :class:`RoleInfo` hooks receive."""
    return RoleInfo(id=role.id, name=role.name, permissions=tuple(role.permissions or ()))


def user_info(user: User) -> UserInfo:
    """A user row as the plain :class:`UserInfo` hooks receive."""
    return UserInfo(id=user.id, user_name=user.user_name, active=user.active, source=user.source,
                    disabled_at=user.disabled_at)


def effective_roles(hooks: TenantHooks, users: list[User]) -> dict[str, tuple[list[RoleGrant], list[str]]]:
    """``{user id: (role grants, individual permissions)}`` for a page of users.

    The data comes from :func:`tenants.roles.role_inputs` (four queries for the page);
    the grants from the tenant's ``scim_effective_roles`` policy.
    """
    inputs, group_roles = role_inputs(users)
    mapping = {group_id: [role_info(role) for role in roles] for group_id, roles in group_roles.items()}
    result = {}
    for user in users:
        entry = inputs[user.id]
        groups = [GroupInfo(id=group.id, display_name=group.display_name) for group in entry.groups]
        grants = hooks.effective_roles(
            user_info(user), groups, {g.id: mapping.get(g.id, []) for g in groups},
            [role_info(role) for role in entry.manual_roles],
        )
        result[user.id] = (grants, entry.permissions)
    return result
