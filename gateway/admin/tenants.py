"""Tenants and their Secret tokens: ``/admin/v1/tenants...``."""

from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView

from tenants import services

from ..auth import tenant_scim_url
from ..plugin_manager import SettingsError
from . import schemas
from .blueprint import allowed_slugs, blp, errors, fail, invalid, offset_of, page_of, unscoped_only


def tenant_json(tenant) -> dict:
    """A tenant as the admin API shows it."""
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "enabled": tenant.enabled,
        "tenant_url": tenant_scim_url(tenant.slug),
        "settings": tenant.settings or {},
    }


@blp.route("/tenants")
class Tenants(MethodView):
    """The tenant collection."""

    @blp.arguments(schemas.PageArgs, location="query")
    @blp.response(200, schemas.TenantPageSchema)
    @errors(400, 401)
    def get(self, args):
        """List tenants, by slug, paged

        A key limited to some tenants sees only those.
        """
        offset, limit = offset_of(args)
        total, rows = services.page_tenants(offset, limit, allowed_slugs())
        return page_of(args, total, [tenant_json(row) for row in rows])

    @unscoped_only
    @blp.arguments(schemas.TenantCreateArgs, example={"slug": "contoso", "name": "Contoso Ltd"})
    @blp.response(201, schemas.TenantCreatedSchema)
    @errors(400, 401, 403, 409, 415)
    def post(self, body):
        """Create a tenant

        The answer carries the Tenant URL and the first Secret token, shown only here.
        Keys limited to some tenants cannot create tenants (403).
        """
        try:
            tenant, token = services.create_tenant(body["slug"], body.get("name"))
        except services.TenantExists as error:
            fail(409, str(error))
        except services.TenantError as error:
            invalid({"json": {"slug": [str(error)]}})
        return {**tenant_json(tenant), "token": token.secret}


@blp.route("/tenants/<slug>")
class TenantItem(MethodView):
    """One tenant."""

    @blp.response(200, schemas.TenantSchema)
    @errors(401, 404)
    def get(self):
        """Show a tenant (never its tokens' secrets)"""
        return tenant_json(g.tenant)

    @blp.arguments(schemas.TenantPatchArgs, example={"enabled": False})
    @blp.response(200, schemas.TenantSchema)
    @errors(400, 401, 404, 415)
    def patch(self, body):
        """Change a tenant's name, Enabled toggle and/or settings

        `enabled: false` refuses the tenant's SCIM requests (403) from the next request
        on. `settings` replaces the tenant's settings after validation against the
        installed plugins: an unknown plugin, a bad option, or disabling an essential
        plugin is a 400 whose `errors.json.settings` lists each problem.
        """
        changes = dict(body)
        if "settings" in changes:
            try:
                changes["settings"] = current_app.extensions["scim_gateway"].validate_settings(changes["settings"])
            except SettingsError as error:
                invalid({"json": {"settings": error.messages}}, "Invalid settings")
        if not changes:
            return tenant_json(g.tenant)
        try:
            tenant = services.update_tenant(g.tenant.slug, **changes)
        except services.TenantNotFound as error:
            fail(404, str(error))
        return tenant_json(tenant)

    @blp.response(204)
    @errors(401, 404)
    def delete(self):
        """Delete a tenant with all its data: tokens, users, groups, roles, mappings"""
        try:
            services.delete_tenant(g.tenant.slug)
        except services.TenantNotFound as error:
            fail(404, str(error))
        return None


@blp.route("/tenants/<slug>/tokens")
class Tokens(MethodView):
    """A tenant's Secret tokens."""

    @blp.arguments(schemas.TokenArgs, required=False, example={"grace_seconds": 3600})
    @blp.response(201, schemas.TokenSchema)
    @errors(400, 401, 404, 415)
    def post(self, body):
        """Issue a new Secret token (rotation)

        With `grace_seconds`, every older token expires that many seconds from now
        (0: at once); without it, older tokens stay valid. The secret is shown only in
        this answer.
        """
        try:
            token = services.issue_token(g.tenant.slug, grace_seconds=body.get("grace_seconds"))
        except services.TenantNotFound as error:
            fail(404, str(error))
        except services.TenantError as error:
            invalid({"json": {"grace_seconds": [str(error)]}})
        return {"token": token.secret, "prefix": token.prefix}
