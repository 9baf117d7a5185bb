"""Tenants and their Secret tokens: ``/admin/v1/tenants...``."""

from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView

from tenants import services
from tenants.clock import isoformat
from tenants.db import write_transaction

from ..auth import tenant_scim_url
from ..plugin_manager import SettingsError
from . import schemas
from .audit import record
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
            with write_transaction():
                tenant, token = services.create_tenant(body["slug"], body.get("name"))
                record(tenant, "tenant_created", "Tenant", tenant.slug,
                       {"name": tenant.name, "token_prefix": token.prefix})
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
            with write_transaction():
                tenant = services.update_tenant(g.tenant.slug, **changes)
                record(tenant, "tenant_updated", "Tenant", tenant.slug,
                       {"fields": sorted(changes), **({"enabled": changes["enabled"]} if "enabled" in changes else {})})
        except services.TenantNotFound as error:
            fail(404, str(error))
        return tenant_json(tenant)

    @blp.response(204)
    @errors(401, 404)
    def delete(self):
        """Delete a tenant with all its data: tokens, users, groups, roles, mappings"""
        try:
            with write_transaction():
                record(g.tenant, "tenant_deleted", "Tenant", g.tenant.slug, {"name": g.tenant.name})
                services.delete_tenant(g.tenant.slug)
        except services.TenantNotFound as error:
            fail(404, str(error))
        return None


def token_json(token, now=None) -> dict:
    """A token as listed: prefix, dates and state, never the secret (only its hash is stored)."""
    return {
        "prefix": token.prefix,
        "created": isoformat(token.created),
        "expires": isoformat(token.expires) if token.expires else None,
        "state": services.token_state(token, now),
    }


@blp.route("/tenants/<slug>/tokens")
class Tokens(MethodView):
    """A tenant's Secret tokens."""

    @blp.response(200, schemas.TokenInfoSchema(many=True))
    @errors(401, 404)
    def get(self):
        """List the tenant's tokens by prefix, oldest first (never their secrets)

        `state` is `current` (it works), `expired` (its grace period after a rotation is
        over) or `revoked`.
        """
        return [token_json(token) for token in services.list_tokens(g.tenant)]

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
            with write_transaction():
                token = services.issue_token(g.tenant.slug, grace_seconds=body.get("grace_seconds"))
                record(g.tenant, "token_issued", "Token", token.prefix,
                       {"grace_seconds": body["grace_seconds"]} if "grace_seconds" in body else {})
        except services.TenantNotFound as error:
            fail(404, str(error))
        except services.TenantError as error:
            invalid({"json": {"grace_seconds": [str(error)]}})
        return {"token": token.secret, "prefix": token.prefix}


@blp.route("/tenants/<slug>/tokens/<prefix>")
class TokenItem(MethodView):
    """One Secret token, by its display prefix."""

    @blp.response(204)
    @errors(401, 404)
    def delete(self, prefix):
        """Revoke a token at once

        Its next SCIM request gets 401. Every token of the tenant with that prefix is
        revoked; revoking a revoked token changes nothing. 404 if the tenant has no token
        with that prefix.
        """
        try:
            with write_transaction():
                if services.revoke_token(g.tenant.slug, prefix):
                    record(g.tenant, "token_revoked", "Token", prefix)
        except services.TokenNotFound as error:
            fail(404, str(error))
        return None
