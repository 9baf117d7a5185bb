"""The role catalog, the group-mapping list, roles by hand and individual permissions.

Plain queries shared by the admin API and the CLI. Effective roles are *derived*
(:func:`role_inputs` loads what the role-assignment policy needs for a page of users in a
constant number of queries); nothing here copies a role onto a user.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from peewee import IntegrityError

from .db import database
from .keys import fold
from .models import Group, GroupRole, Membership, Role, Tenant, User, UserPermission, UserRole, new_id

PERMISSION_PATTERN = re.compile(r"^[A-Za-z0-9_.:*-]{1,100}$")


class RoleError(Exception):
    """A role operation that cannot be done; ``str()`` is a message for people."""


class RoleNameTaken(RoleError):
    """Another role of the tenant already has that name (case-insensitively)."""


class UnknownRoles(RoleError):
    """Role ids that are not in the tenant's catalog."""


def check_permissions(permissions: Iterable[str]) -> list[str]:
    """``permissions`` sorted and de-duplicated, or :class:`RoleError` for a malformed one."""
    result = sorted(set(permissions))
    for permission in result:
        if not isinstance(permission, str) or not PERMISSION_PATTERN.fullmatch(permission):
            raise RoleError(
                f"Invalid permission {permission!r}: use 1-100 letters, digits and . _ : * -"
            )
    return result


def list_roles(tenant: Tenant) -> list[Role]:
    """The tenant's role catalog, by name."""
    return list(Role.select().where(Role.tenant == tenant.id).order_by(Role.name_key))


def get_role(tenant: Tenant, role_id: str) -> Role | None:
    """One role of the tenant's catalog, or ``None``."""
    return Role.get_or_none((Role.tenant == tenant.id) & (Role.id == role_id))


def create_role(tenant: Tenant, name: str, permissions: Iterable[str] = (), description: str = "") -> Role:
    """Add a role to the catalog; :class:`RoleNameTaken` if the name is in use."""
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise RoleError("A role needs a name of 1-255 characters.")
    try:
        with database.atomic():
            return Role.create(id=new_id(), tenant=tenant.id, name=name, name_key=fold(name),
                               description=description, permissions=check_permissions(permissions))
    except IntegrityError:
        raise RoleNameTaken(f"A role named {name!r} already exists in this tenant.") from None


def update_role(role: Role, name: str | None = None, permissions: Iterable[str] | None = None,
                description: str | None = None) -> Role:
    """Rename a role, or change its permissions or description."""
    if name is not None:
        name = name.strip()
        if not name or len(name) > 255:
            raise RoleError("A role needs a name of 1-255 characters.")
        role.name, role.name_key = name, fold(name)
    if permissions is not None:
        role.permissions = check_permissions(permissions)
    if description is not None:
        role.description = description
    try:
        with database.atomic():
            role.save()
    except IntegrityError:
        raise RoleNameTaken(f"A role named {role.name!r} already exists in this tenant.") from None
    return role


def delete_role(role: Role) -> None:
    """Remove a role; the groups mapped to it stop granting it (ON DELETE CASCADE)."""
    with database.atomic():
        GroupRole.delete().where(GroupRole.role == role.id).execute()
        UserRole.delete().where(UserRole.role == role.id).execute()
        role.delete_instance()


def _known_roles(tenant: Tenant, role_ids: Iterable[str]) -> list[str]:
    wanted = sorted(set(role_ids))
    found = {row.id for row in Role.select(Role.id).where((Role.tenant == tenant.id) & Role.id.in_(wanted))} \
        if wanted else set()
    missing = [role_id for role_id in wanted if role_id not in found]
    if missing:
        raise UnknownRoles("No such roles in this tenant: " + ", ".join(missing))
    return wanted


def set_group_roles(tenant: Tenant, group: Group, role_ids: Iterable[str]) -> None:
    """Map ``group`` to exactly these roles (the group-mapping list's dropdown)."""
    wanted = _known_roles(tenant, role_ids)
    with database.atomic():
        GroupRole.delete().where(GroupRole.group == group.id).execute()
        if wanted:
            GroupRole.insert_many([{"group": group.id, "role": role_id} for role_id in wanted]).execute()


def set_user_roles(tenant: Tenant, user: User, role_ids: Iterable[str]) -> None:
    """Give ``user`` exactly these roles by hand (callers ask the policy first)."""
    wanted = _known_roles(tenant, role_ids)
    with database.atomic():
        UserRole.delete().where(UserRole.user == user.id).execute()
        if wanted:
            UserRole.insert_many([{"user": user.id, "role": role_id} for role_id in wanted]).execute()


def set_user_permissions(user: User, permissions: Iterable[str]) -> list[str]:
    """Grant ``user`` exactly these individual permissions."""
    wanted = check_permissions(permissions)
    with database.atomic():
        UserPermission.delete().where(UserPermission.user == user.id).execute()
        if wanted:
            UserPermission.insert_many([{"user": user.id, "permission": p} for p in wanted]).execute()
    return wanted


def roles_of_groups(group_ids: Iterable[str]) -> dict[str, list[Role]]:
    """``{group id: [roles mapped to it]}``: one query."""
    group_ids = list(set(group_ids))
    result: dict[str, list[Role]] = defaultdict(list)
    if not group_ids:
        return result
    query = (GroupRole.select(GroupRole.group, Role).join(Role).where(GroupRole.group.in_(group_ids))
             .order_by(Role.name_key))
    for row in query:
        result[row.group_id].append(row.role)
    return result


@dataclass
class RoleInputs:
    """What the role-assignment policy needs about one user."""

    groups: list[Group] = field(default_factory=list)
    manual_roles: list[Role] = field(default_factory=list)
    permissions: list[str] = field(default_factory=list)


def role_inputs(users: list[User]) -> tuple[dict[str, RoleInputs], dict[str, list[Role]]]:
    """For a page of users: their groups, hand-given roles and permissions, and the roles
    of all those groups. Four queries, whatever the page or tenant size."""
    ids = [user.id for user in users]
    inputs = {user_id: RoleInputs() for user_id in ids}
    if not ids:
        return inputs, {}
    for row in (Membership.select(Membership.user, Group).join(Group).where(Membership.user.in_(ids))
                .order_by(Group.display_name_key)):
        inputs[row.user_id].groups.append(row.group)
    for row in UserRole.select(UserRole.user, Role).join(Role).where(UserRole.user.in_(ids)):
        inputs[row.user_id].manual_roles.append(row.role)
    for row in UserPermission.select().where(UserPermission.user.in_(ids)).order_by(UserPermission.permission):
        inputs[row.user_id].permissions.append(row.permission)
    group_ids = {group.id for entry in inputs.values() for group in entry.groups}
    return inputs, roles_of_groups(group_ids)


def roles_by_ids(tenant: Tenant, role_ids: Iterable[str]) -> list[Role]:
    """The roles of the tenant's catalog with these ids, by name: one query.

    :class:`UnknownRoles` names every id that is not in the catalog.
    """
    wanted = sorted(set(role_ids))
    if not wanted:
        return []
    rows = list(Role.select().where((Role.tenant == tenant.id) & Role.id.in_(wanted)).order_by(Role.name_key))
    missing = sorted(set(wanted) - {row.id for row in rows})
    if missing:
        raise UnknownRoles("No such roles in this tenant: " + ", ".join(missing))
    return rows


def group_mapping_page(tenant: Tenant, offset: int, limit: int) -> tuple[int, list[Group], dict[str, list[Role]]]:
    """The group-mapping list: ``(total, groups of one page by displayName, their roles)``.

    Three queries whatever the tenant's size: the count, the page, and the roles mapped
    to the page's groups (:func:`roles_of_groups`).
    """
    scope = Group.tenant == tenant.id
    total = Group.select().where(scope).count()
    if limit <= 0 or offset >= total:
        return total, [], {}
    groups = list(Group.select().where(scope).order_by(Group.display_name_key, Group.id).offset(offset).limit(limit))
    return total, groups, roles_of_groups(group.id for group in groups)


def get_group(tenant: Tenant, group_id: str) -> Group | None:
    """One provisioned group of the tenant, or ``None``."""
    return Group.get_or_none((Group.tenant == tenant.id) & (Group.id == group_id))
