"""Role assignment: a user's roles are the roles mapped to the groups it is in.

* Provisioned groups appear in the tenant's group-mapping list, where an admin maps each
  group to roles; a member of a mapped group holds those roles, each with the groups that
  grant it. Nothing is copied onto the user, so leaving a group (or the group being
  deleted) takes away exactly the roles no other group of the user still grants.
* A user assigned to the application individually (in no mapped group) holds no roles.
* A disabled user (``active: false``) holds no roles while disabled.
* Roles cannot be added by hand to a SCIM-provisioned user (409); individual
  permissions can be granted instead.
"""

from __future__ import annotations

from gateway import ConflictError, RoleGrant, hookimpl

NAME = "role-assignment"
ENABLED_BY_DEFAULT = True
ESSENTIAL = True


@hookimpl(trylast=True)
def scim_effective_roles(user, groups, group_roles, manual_roles):
    """Roles from the user's mapped groups (plus hand-given ones, where allowed); none if disabled."""
    if user.disabled:
        return []
    granted: dict[str, list[str]] = {}
    roles = {}
    for group in groups:
        for role in group_roles.get(group.id, []):
            roles[role.id] = role
            granted.setdefault(role.id, []).append(group.id)
    grants = [RoleGrant(role=roles[role_id], granted_by=tuple(sorted(by))) for role_id, by in granted.items()]
    grants += [RoleGrant(role=role) for role in manual_roles if role.id not in granted]
    return sorted(grants, key=lambda grant: grant.role.name.lower())


@hookimpl(trylast=True)
def scim_check_manual_roles(user):
    """Refuse roles by hand for users the identity provider manages."""
    if user.source == "scim":
        raise ConflictError(
            f"Roles cannot be added by hand to {user.user_name}: the user is provisioned by SCIM, so its "
            "roles come only from the groups mapped to roles. Map one of its groups to the role, or grant "
            "individual permissions instead."
        )
