"""Who may do what in a tenant: the role catalog, group mappings, users' roles and permissions.

``/admin/v1/tenants/<slug>/{roles,groups,users}...``. Effective roles are derived by the
tenant's role-assignment policy (:func:`gateway.roles.effective_roles`), never stored on
the user; lists are paged and cost a constant number of queries per page.
"""

from __future__ import annotations

from flask import g
from flask.views import MethodView

from tenants import roles as catalog
from tenants import services
from tenants.db import write_transaction
from tenants.repositories import UserRepository

from ..roles import effective_roles, role_info, user_info
from . import schemas
from .audit import record
from .blueprint import blp, errors, fail, hooks_for, invalid, offset_of, page_of


def role_json(role) -> dict:
    """A catalog role as the admin API shows it."""
    return {"id": role.id, "name": role.name, "description": role.description or "",
            "permissions": list(role.permissions or [])}


def group_json(group, roles) -> dict:
    """A group of the mapping list with the roles mapped to it."""
    return {"id": group.id, "displayName": group.display_name,
            "roles": [{"id": role.id, "name": role.name} for role in roles]}


def user_json(user) -> dict:
    """A user as the users list shows it."""
    return {
        "id": user.id,
        "userName": user.user_name,
        "name": {"givenName": user.given_name, "familyName": user.family_name},
        "active": user.active is not False,
        "source": user.source,
    }


def user_detail(user) -> dict:
    """A user with its effective roles (and the groups granting each) and permissions."""
    grants, permissions = effective_roles(hooks_for(g.tenant), [user])[user.id]
    return {
        **user_json(user),
        "roles": [{"id": grant.role.id, "name": grant.role.name, "granted_by": list(grant.granted_by)}
                  for grant in grants],
        "permissions": list(permissions),
    }


def _role_or_404(role_id: str):
    role = catalog.get_role(g.tenant, role_id)
    if role is None:
        fail(404, f"No role {role_id!r} in tenant {g.tenant.slug!r}.")
    return role


def _group_or_404(group_id: str):
    group = catalog.get_group(g.tenant, group_id)
    if group is None:
        fail(404, f"No group {group_id!r} in tenant {g.tenant.slug!r}.")
    return group


def _user_or_404(user_id: str):
    user = UserRepository(g.tenant).get(user_id)
    if user is None:
        fail(404, f"No user {user_id!r} in tenant {g.tenant.slug!r}.")
    return user


def _known_roles(role_ids: list[str]):
    try:
        return catalog.roles_by_ids(g.tenant, role_ids)
    except catalog.UnknownRoles as error:
        invalid({"json": {"roles": [str(error)]}})


# -- the role catalog ------------------------------------------------------------------------


@blp.route("/tenants/<slug>/roles")
class Roles(MethodView):
    """The tenant's role catalog."""

    @blp.response(200, schemas.RoleSchema(many=True))
    @errors(401, 404)
    def get(self):
        """List the tenant's roles, by name"""
        return [role_json(role) for role in catalog.list_roles(g.tenant)]

    @blp.arguments(schemas.RoleCreateArgs, example={"name": "Report viewer", "permissions": ["reports.read"]})
    @blp.response(201, schemas.RoleSchema)
    @errors(400, 401, 404, 409, 415)
    def post(self, body):
        """Add a role to the catalog

        The name is unique in the tenant, case-insensitively (409 otherwise).
        """
        try:
            with write_transaction():
                role = catalog.create_role(g.tenant, body["name"], body["permissions"], body.get("description", ""))
                record(g.tenant, "role_created", "Role", role.id,
                       {"name": role.name, "permissions": list(role.permissions or [])})
        except catalog.RoleNameTaken as error:
            fail(409, str(error))
        except catalog.RoleError as error:
            invalid({"json": {"name": [str(error)]}})
        return role_json(role)


@blp.route("/tenants/<slug>/roles/<role_id>")
class RoleItem(MethodView):
    """One role of the catalog."""

    @blp.response(200, schemas.RoleSchema)
    @errors(401, 404)
    def get(self, role_id):
        """Show a role"""
        return role_json(_role_or_404(role_id))

    @blp.arguments(schemas.RolePatchArgs, example={"permissions": ["reports.read", "reports.export"]})
    @blp.response(200, schemas.RoleSchema)
    @errors(400, 401, 404, 409, 415)
    def patch(self, body, role_id):
        """Rename a role or change its permissions or description

        Members of the groups mapped to the role hold the new permissions at once.
        """
        role = _role_or_404(role_id)
        if not body:  # nothing to change: no write, no audit event (as for a tenant)
            return role_json(role)
        try:
            with write_transaction():
                role = catalog.update_role(role, **body)
                record(g.tenant, "role_updated", "Role", role.id,
                       {"fields": sorted(body), "name": role.name,
                        **({"permissions": list(role.permissions or [])} if "permissions" in body else {})})
        except catalog.RoleNameTaken as error:
            fail(409, str(error))
        except catalog.RoleError as error:
            invalid({"json": {"name": [str(error)]}})
        return role_json(role)

    @blp.response(204)
    @errors(401, 404)
    def delete(self, role_id):
        """Remove a role; groups mapped to it stop granting it"""
        role = _role_or_404(role_id)
        with write_transaction():
            catalog.delete_role(role)
            record(g.tenant, "role_deleted", "Role", role.id, {"name": role.name})
        return None


# -- the group-mapping list -------------------------------------------------------------------


@blp.route("/tenants/<slug>/groups")
class Groups(MethodView):
    """The group-mapping list."""

    @blp.arguments(schemas.PageArgs, location="query")
    @blp.response(200, schemas.GroupMappingPageSchema)
    @errors(400, 401, 404)
    def get(self, args):
        """List provisioned groups with the roles mapped to each, by displayName, paged

        Three queries per page whatever the tenant's size: the count, the page, and the
        roles of the page's groups.
        """
        offset, limit = offset_of(args)
        total, groups, mapped = catalog.group_mapping_page(g.tenant, offset, limit)
        return page_of(args, total, [group_json(group, mapped.get(group.id, [])) for group in groups])


@blp.route("/tenants/<slug>/groups/<group_id>/roles")
class GroupRoles(MethodView):
    """The roles one group grants."""

    @blp.arguments(schemas.RoleIdsArgs)
    @blp.response(200, schemas.GroupMappingSchema)
    @errors(400, 401, 404, 415)
    def put(self, body, group_id):
        """Map a group to exactly these roles (`[]`: none)

        The group's members hold these roles from now on, and lose the ones removed
        that no other group of theirs grants. An unknown role id is a 400 and nothing
        changes.
        """
        group = _group_or_404(group_id)
        roles = _known_roles(body["roles"])
        with write_transaction():
            catalog.set_group_roles(g.tenant, group, [role.id for role in roles])
            record(g.tenant, "role_mapped", "Group", group.id, {"roles": sorted(role.id for role in roles)})
        return group_json(group, roles)


# -- users -------------------------------------------------------------------------------


@blp.route("/tenants/<slug>/users")
class Users(MethodView):
    """The tenant's users."""

    @blp.arguments(schemas.SearchPageArgs, location="query")
    @blp.response(200, schemas.UserPageSchema)
    @errors(400, 401, 404)
    def get(self, args):
        """List users, by userName, paged and searchable

        `q` matches part of the userName, givenName or familyName, case-insensitively.
        Deleted users kept as tombstones are not listed.
        """
        offset, limit = offset_of(args)
        total, users = services.search_users(g.tenant, args.get("q"), offset, limit)
        return page_of(args, total, [user_json(user) for user in users])


@blp.route("/tenants/<slug>/users/<user_id>")
class UserItem(MethodView):
    """One user."""

    @blp.response(200, schemas.UserDetailSchema)
    @errors(401, 404)
    def get(self, user_id):
        """Show a user with its effective roles and individual permissions

        Each role names the groups that grant it (`granted_by`); a role given by hand
        has none. The tenant's role-assignment policy decides (e.g. a disabled user
        holds no roles).
        """
        return user_detail(_user_or_404(user_id))


@blp.route("/tenants/<slug>/users/<user_id>/roles")
class UserRoles(MethodView):
    """Roles given to one user by hand."""

    @blp.arguments(schemas.RoleIdsArgs)
    @blp.response(200, schemas.UserDetailSchema)
    @errors(400, 401, 404, 409, 415)
    def put(self, body, user_id):
        """Give a user exactly these roles by hand

        The tenant's role-assignment policy is asked first: the built-in one refuses
        (409, with the reason in `message`) for users provisioned by SCIM, whose roles
        come only from their groups' mappings. Nothing changes when refused.
        """
        user = _user_or_404(user_id)
        roles = _known_roles(body["roles"])
        hooks_for(g.tenant).check_manual_roles(user_info(user), [role_info(role) for role in roles])
        with write_transaction():
            catalog.set_user_roles(g.tenant, user, [role.id for role in roles])
            record(g.tenant, "roles_set", "User", user.id, {"roles": sorted(role.id for role in roles)})
        return user_detail(user)


@blp.route("/tenants/<slug>/users/<user_id>/permissions")
class UserPermissions(MethodView):
    """Permissions granted to one user individually."""

    @blp.arguments(schemas.PermissionsArgs, example={"permissions": ["reports.export"]})
    @blp.response(200, schemas.UserDetailSchema)
    @errors(400, 401, 404, 415)
    def put(self, body, user_id):
        """Grant a user exactly these individual permissions (`[]`: none)

        Allowed for every user, SCIM-provisioned ones included.
        """
        user = _user_or_404(user_id)
        try:
            with write_transaction():
                permissions = catalog.set_user_permissions(user, body["permissions"])
                record(g.tenant, "permissions_set", "User", user.id, {"permissions": permissions})
        except catalog.RoleError as error:
            invalid({"json": {"permissions": [str(error)]}})
        return user_detail(user)
