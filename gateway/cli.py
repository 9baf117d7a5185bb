"""The ``scim-gateway`` command: serve, migrate, administer tenants, admin keys, role
catalogs and group mappings.

Built on Flask's :class:`~flask.cli.FlaskGroup`, so every command runs with the configured
application (``DATABASE_URL``, ``SCIM_GATEWAY_*``) and the usual ``routes``/``shell``
commands are there too. Output meant for scripts is available as JSON (``--json``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup

from tenants import admin_keys, services
from tenants import audit as audit_log
from tenants import roles as role_catalog
from tenants import stats
from tenants.clock import isoformat, utcnow
from tenants.db import close_pool, database, write_transaction
from tenants.migrate import migrate as run_migrations
from tenants.repositories import UserRepository

from .admin.blueprint import hooks_for
from .app import create_app
from .auth import tenant_scim_url
from .plugin_manager import SettingsError
from .roles import effective_roles
from .sweep import sweep_all

DEFAULT_BIND = "127.0.0.1:8000"


def _factory():
    return create_app()


@click.group(cls=FlaskGroup, create_app=_factory, add_version_option=False,
             help="Multi-tenant SCIM 2.0 provisioning gateway.")
def main():
    """Entry point of the ``scim-gateway`` console script."""


def _public_base(bind: str | None = None) -> str:
    configured = current_app.config["PUBLIC_URL"]
    if configured:
        return configured
    host, _, port = (bind or DEFAULT_BIND).rpartition(":")
    host = "127.0.0.1" if host in ("0.0.0.0", "", "[::]") else host
    return f"http://{host}:{port}"


def with_database(command):
    """Run ``command`` with a database connection open (closed afterwards)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with database.connection_context():
            return command(*args, **kwargs)

    return wrapper


def _fail(error: Exception):
    raise click.ClickException(str(error))


def _audit(tenant, action: str, resource_type: str, resource_id: str, summary: dict | None = None) -> None:
    """Audit a change made with the CLI (actor ``cli``); call it inside the change's transaction."""
    audit_log.record(tenant, audit_log.CLI_ACTOR, action, resource_type, resource_id, summary)


def _tenant_json(tenant, base: str) -> dict:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "enabled": tenant.enabled,
        "tenant_url": tenant_scim_url(tenant.slug, base),
    }


def _print_credentials(tenant, secret: str, base: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({**_tenant_json(tenant, base), "token": secret}))
        return
    click.echo(f"Tenant:       {tenant.slug} ({tenant.name})")
    click.echo(f"Tenant URL:   {tenant_scim_url(tenant.slug, base)}")
    click.echo(f"Secret token: {secret}")
    click.echo("The Secret token is shown only now: paste both into Entra's Provisioning page.")


@main.command()
def migrate():
    """Apply pending database migrations (the app also does this when it starts)."""
    applied = run_migrations(database.obj)
    click.echo("Applied: " + ", ".join(applied) if applied else "The database is up to date.")


@main.group()
def tenants():
    """Create and administer tenants."""


@tenants.command("create")
@click.argument("slug")
@click.option("--name", help="A display name (default: the slug).")
@click.option("--json", "as_json", is_flag=True, help="Print slug, tenant_url and token as JSON.")
@with_database
def tenants_create(slug, name, as_json):
    """Create a tenant and print its Tenant URL and Secret token (shown once)."""
    try:
        with write_transaction():
            tenant, token = services.create_tenant(slug, name)
            _audit(tenant, "tenant_created", "Tenant", slug, {"name": tenant.name, "token_prefix": token.prefix})
    except services.TenantError as error:
        _fail(error)
    _print_credentials(tenant, token.secret, _public_base(), as_json)


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_database
def tenants_list(as_json):
    """List tenants with their Enabled state."""
    rows = [_tenant_json(t, _public_base()) for t in services.list_tenants()]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        state = "enabled " if row["enabled"] else "disabled"
        click.echo(f"{row['slug']:<24} {state}  {row['tenant_url']}")


@tenants.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_database
def tenants_show(slug, as_json):
    """Show one tenant (never its token: that is shown only when issued)."""
    try:
        tenant = services.get_tenant(slug)
    except services.TenantError as error:
        _fail(error)
    row = {**_tenant_json(tenant, _public_base()), "settings": tenant.settings}
    row["tokens"] = services.token_summaries(tenant)
    if as_json:
        click.echo(json.dumps(row))
        return
    click.echo(f"Tenant:     {row['slug']} ({row['name']})")
    click.echo(f"Enabled:    {'yes' if row['enabled'] else 'no'}")
    click.echo(f"Tenant URL: {row['tenant_url']}")
    for token in row["tokens"]:
        click.echo(f"Token:      {token['prefix']}...  {token['state']}  created {token['created']}")


def _set_enabled(slug: str, enabled: bool) -> None:
    try:
        with write_transaction():
            tenant = services.set_enabled(slug, enabled)
            _audit(tenant, "tenant_updated", "Tenant", slug, {"fields": ["enabled"], "enabled": enabled})
    except services.TenantError as error:
        _fail(error)
    click.echo(f"Tenant {slug} {'enabled' if enabled else 'disabled'}.")


@tenants.command("enable")
@click.argument("slug")
@with_database
def tenants_enable(slug):
    """Turn provisioning on for a tenant."""
    _set_enabled(slug, True)


@tenants.command("disable")
@click.argument("slug")
@with_database
def tenants_disable(slug):
    """Turn provisioning off: the tenant's requests get 403 until enabled again."""
    _set_enabled(slug, False)


@tenants.command("configure")
@click.argument("slug")
@click.argument("settings")
@with_database
def tenants_configure(slug, settings):
    """Replace a tenant's settings with SETTINGS (JSON), e.g. which plugins run with which options:

    '{"plugins": {"uniqueness": {"options": {"require_email": false}}}}'
    """
    try:
        parsed = json.loads(settings)
    except ValueError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="SETTINGS") from None
    try:
        normalised = current_app.extensions["scim_gateway"].validate_settings(parsed)
    except SettingsError as error:
        raise click.ClickException("Invalid settings: " + json.dumps(error.messages)) from None
    try:
        with write_transaction():
            tenant = services.update_tenant(slug, settings=normalised)
            _audit(tenant, "tenant_updated", "Tenant", slug, {"fields": ["settings"]})
    except services.TenantError as error:
        _fail(error)
    click.echo(json.dumps(normalised))


@tenants.command("rotate-token")
@click.argument("slug")
@click.option("--grace-seconds", type=click.IntRange(min=0), default=0, show_default=True,
              help="How long older tokens stay valid.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_database
def tenants_rotate_token(slug, grace_seconds, as_json):
    """Issue a new Secret token; older tokens expire after the grace period."""
    try:
        tenant = services.get_tenant(slug)
        with write_transaction():
            token = services.issue_token(slug, grace_seconds=grace_seconds)
            _audit(tenant, "token_issued", "Token", token.prefix, {"grace_seconds": grace_seconds})
    except services.TenantError as error:
        _fail(error)
    _print_credentials(tenant, token.secret, _public_base(), as_json)


@tenants.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_database
def tenants_delete(slug, yes):
    """Delete a tenant with all its users, groups and tokens."""
    if not yes:
        click.confirm(f"Delete tenant {slug} and all its data?", abort=True)
    try:
        with write_transaction():
            tenant = services.get_tenant(slug)
            _audit(tenant, "tenant_deleted", "Tenant", slug, {"name": tenant.name})
            services.delete_tenant(slug)
    except services.TenantError as error:
        _fail(error)
    click.echo(f"Tenant {slug} deleted.")


@with_database
def _demo_credentials(base: str) -> None:
    try:
        tenant, token = services.create_tenant("demo", "Demo tenant")
    except services.TenantExists:
        tenant = services.get_tenant("demo")
        token = services.issue_token("demo")
    services.set_enabled("demo", True)
    click.echo(f"Tenant URL:   {tenant_scim_url(tenant.slug, base)}")
    click.echo(f"Secret token: {token.secret}")
    click.echo(f"API docs:     {base}/docs")
    click.echo(f"Database:     {current_app.config['DATABASE_URL']}")
    sys.stdout.flush()


@main.command()
@click.option("--bind", default=DEFAULT_BIND, show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="Threads per worker (gunicorn gthread worker). More threads let a worker wait on more "
                   "slow clients, but its Python runs one thread at a time: on 2 cores, 2 workers x 2 threads "
                   "served an Entra sync faster and with lower p99s than 2 x 4 (benchmarks/README.md).")
@click.option("--demo", is_flag=True,
              help="Make sure a 'demo' tenant exists and print its Tenant URL, a new token and the docs URL.")
def serve(bind, workers, threads, demo):
    """Serve the gateway with gunicorn until stopped."""
    from .server import run

    run_migrations(database.obj)
    if demo:
        _demo_credentials(_public_base(bind))
    close_pool()  # the workers open their own connections; none is inherited from here
    run(bind=bind, workers=workers, threads=threads)


# -- admin keys ------------------------------------------------------------------------------


@main.group("admin-keys")
def admin_keys_group():
    """Create, list and revoke admin API keys (for /admin/v1)."""


def _admin_key_json(row) -> dict:
    return {
        "name": row.name,
        "prefix": row.prefix,
        "tenants": admin_keys.scope_of(row),
        "created": row.created.isoformat(),
        "revoked": row.revoked.isoformat() if row.revoked else None,
    }


@admin_keys_group.command("create")
@click.argument("name")
@click.option("--tenant", "tenant_slugs", multiple=True, metavar="SLUG",
              help="Limit the key to this tenant (repeat for several); default: every tenant.")
@click.option("--json", "as_json", is_flag=True, help='Print {"name": ..., "key": ...} as JSON.')
@with_database
def admin_keys_create(name, tenant_slugs, as_json):
    """Create an admin key NAME and print it (shown once; only its hash is stored)."""
    try:
        for slug in tenant_slugs:
            services.validate_slug(slug)
        row, secret = admin_keys.create(name, list(tenant_slugs) if tenant_slugs else None)
    except (admin_keys.AdminKeyError, services.TenantError) as error:
        _fail(error)
    if as_json:
        click.echo(json.dumps({"name": row.name, "key": secret}))
        return
    click.echo(f"Admin key:  {row.name}")
    scope = admin_keys.scope_of(row)
    click.echo(f"Scope:      {', '.join(scope) if scope is not None else 'every tenant'}")
    click.echo(f"Secret:     {secret}")
    click.echo("The secret is shown only now: send it as 'Authorization: Bearer <secret>' to /admin/v1.")


@admin_keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_database
def admin_keys_list(as_json):
    """List admin keys: name, prefix, scope, created, revoked (never the secret)."""
    rows = [_admin_key_json(row) for row in admin_keys.list_keys()]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        scope = ",".join(row["tenants"]) if row["tenants"] is not None else "all tenants"
        state = f"revoked {row['revoked']}" if row["revoked"] else "active"
        click.echo(f"{row['name']:<24} {row['prefix']}...  {scope:<24} created {row['created']}  {state}")


@admin_keys_group.command("revoke")
@click.argument("name")
@with_database
def admin_keys_revoke(name):
    """Revoke the admin key NAME: it stops working at once."""
    try:
        admin_keys.revoke(name)
    except admin_keys.AdminKeyError as error:
        _fail(error)
    click.echo(f"Admin key {name} revoked.")


# -- roles and group mappings ----------------------------------------------------------------


def _tenant_or_fail(slug: str):
    try:
        return services.get_tenant(slug)
    except services.TenantError as error:
        _fail(error)


def _role_json(role) -> dict:
    return {"id": role.id, "name": role.name, "description": role.description or "",
            "permissions": list(role.permissions or [])}


@main.group()
def roles():
    """A tenant's role catalog."""


@roles.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_database
def roles_list(slug, as_json):
    """List the roles of tenant SLUG."""
    rows = [_role_json(role) for role in role_catalog.list_roles(_tenant_or_fail(slug))]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['name']:<24} {' '.join(row['permissions'])}")


@roles.command("create")
@click.argument("slug")
@click.argument("name")
@click.option("--permission", "permissions", multiple=True, metavar="PERMISSION",
              help="A permission the role confers (repeat for several).")
@click.option("--description", default="", help="What the role is for.")
@click.option("--json", "as_json", is_flag=True, help="Print the role as JSON.")
@with_database
def roles_create(slug, name, permissions, description, as_json):
    """Add role NAME to the catalog of tenant SLUG and print its id."""
    tenant = _tenant_or_fail(slug)
    try:
        with write_transaction():
            role = role_catalog.create_role(tenant, name, permissions, description)
            _audit(tenant, "role_created", "Role", role.id, {"name": role.name, "permissions": list(role.permissions)})
    except role_catalog.RoleError as error:
        _fail(error)
    if as_json:
        click.echo(json.dumps(_role_json(role)))
        return
    click.echo(f"Role {role.name} created: {role.id}")


@roles.command("update")
@click.argument("slug")
@click.argument("role_id")
@click.option("--name", help="A new name.")
@click.option("--permission", "permissions", multiple=True, metavar="PERMISSION",
              help="The role's permissions, replacing the current ones (repeat for several).")
@click.option("--description", help="A new description.")
@with_database
def roles_update(slug, role_id, name, permissions, description):
    """Rename role ROLE_ID of tenant SLUG or replace its permissions or description."""
    tenant = _tenant_or_fail(slug)
    role = role_catalog.get_role(tenant, role_id)
    if role is None:
        _fail(f"No role {role_id!r} in tenant {slug!r}.")
    try:
        with write_transaction():
            role_catalog.update_role(role, name=name, permissions=list(permissions) if permissions else None,
                                     description=description)
            _audit(tenant, "role_updated", "Role", role.id, {"name": role.name, "permissions": list(role.permissions)})
    except role_catalog.RoleError as error:
        _fail(error)
    click.echo(json.dumps(_role_json(role)))


@roles.command("delete")
@click.argument("slug")
@click.argument("role_id")
@with_database
def roles_delete(slug, role_id):
    """Delete role ROLE_ID of tenant SLUG; the groups mapped to it stop granting it."""
    tenant = _tenant_or_fail(slug)
    role = role_catalog.get_role(tenant, role_id)
    if role is None:
        _fail(f"No role {role_id!r} in tenant {slug!r}.")
    with write_transaction():
        role_catalog.delete_role(role)
        _audit(tenant, "role_deleted", "Role", role_id, {"name": role.name})
    click.echo(f"Role {role.name} deleted.")


@main.group()
def users():
    """A tenant's users: their effective roles and individual permissions."""


def _user_json(user, grants=None, permissions=None) -> dict:
    row = {"id": user.id, "userName": user.user_name,
           "name": {k: v for k, v in (("givenName", user.given_name), ("familyName", user.family_name)) if v},
           "active": user.active is not False, "source": user.source}
    if grants is not None:
        row["roles"] = [{"id": g.role.id, "name": g.role.name, "granted_by": list(g.granted_by)} for g in grants]
        row["permissions"] = list(permissions)
    return row


def _user_or_fail(tenant, user_id: str):
    user = UserRepository(tenant).get(user_id)
    if user is None:
        _fail(f"No user {user_id!r} in tenant {tenant.slug!r}.")
    return user


@users.command("list")
@click.argument("slug")
@click.option("--search", "q", help="A part of userName, givenName or familyName.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--per-page", type=click.IntRange(min=1, max=500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_database
def users_list(slug, q, page, per_page, as_json):
    """List (or search) the users of tenant SLUG, by userName."""
    tenant = _tenant_or_fail(slug)
    total, rows = services.search_users(tenant, q, (page - 1) * per_page, per_page)
    if as_json:
        click.echo(json.dumps({"items": [_user_json(u) for u in rows], "total": total,
                               "page": page, "per_page": per_page}))
        return
    for user in rows:
        click.echo(f"{user.id}  {'active  ' if user.active is not False else 'disabled'}  {user.user_name}")
    click.echo(f"{len(rows)} of {total}")


@users.command("show")
@click.argument("slug")
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_database
def users_show(slug, user_id, as_json):
    """Show a user with its effective roles (and the groups granting each) and permissions."""
    tenant = _tenant_or_fail(slug)
    user = _user_or_fail(tenant, user_id)
    grants, permissions = effective_roles(hooks_for(tenant), [user])[user.id]
    row = _user_json(user, grants, permissions)
    if as_json:
        click.echo(json.dumps(row))
        return
    click.echo(f"{row['userName']} ({'active' if row['active'] else 'disabled'}, {row['source']})")
    for role in row["roles"]:
        click.echo(f"  role {role['name']} granted by {', '.join(role['granted_by']) or 'hand'}")
    click.echo(f"  permissions: {', '.join(row['permissions']) or '(none)'}")


@users.command("permissions")
@click.argument("slug")
@click.argument("user_id")
@click.argument("permissions", nargs=-1)
@with_database
def users_permissions(slug, user_id, permissions):
    """Grant user USER_ID exactly PERMISSIONS (none: take all away)."""
    tenant = _tenant_or_fail(slug)
    user = _user_or_fail(tenant, user_id)
    try:
        with write_transaction():
            granted = role_catalog.set_user_permissions(user, permissions)
            _audit(tenant, "permissions_set", "User", user.id, {"permissions": granted})
    except role_catalog.RoleError as error:
        _fail(error)
    click.echo(f"{user.user_name}: {', '.join(granted) or '(no individual permissions)'}")


@main.group()
def groups():
    """A tenant's group-mapping list: which roles each provisioned group grants."""


GROUP_PAGE = 500


@groups.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_database
def groups_list(slug, as_json):
    """List the provisioned groups of tenant SLUG with the roles mapped to each."""
    tenant = _tenant_or_fail(slug)
    rows, offset = [], 0
    while True:
        total, page, mapped = role_catalog.group_mapping_page(tenant, offset, GROUP_PAGE)
        rows += [{"id": group.id, "displayName": group.display_name,
                  "roles": [{"id": role.id, "name": role.name} for role in mapped.get(group.id, [])]}
                 for group in page]
        offset += GROUP_PAGE
        if offset >= total:
            break
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        names = ", ".join(role["name"] for role in row["roles"]) or "(no roles)"
        click.echo(f"{row['id']}  {row['displayName']:<32} {names}")


@groups.command("map")
@click.argument("slug")
@click.argument("group_id")
@click.argument("role_ids", nargs=-1)
@with_database
def groups_map(slug, group_id, role_ids):
    """Map group GROUP_ID of tenant SLUG to exactly ROLE_IDS (none: unmap every role)."""
    tenant = _tenant_or_fail(slug)
    group = role_catalog.get_group(tenant, group_id)
    if group is None:
        _fail(f"No group {group_id!r} in tenant {slug!r}.")
    try:
        with write_transaction():
            role_catalog.set_group_roles(tenant, group, role_ids)
            _audit(tenant, "role_mapped", "Group", group.id, {"roles": sorted(set(role_ids))})
    except role_catalog.RoleError as error:
        _fail(error)
    click.echo(f"Group {group.display_name} grants {len(set(role_ids))} role(s).")


# -- operations ------------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_database
def sweep(as_json):
    """Remove tombstoned and long-disabled users whose retention period is over.

    Each tenant's deprovisioning policy says how long they are kept (options
    tombstone_days and remove_disabled_after_days). Run it periodically, e.g. hourly.
    """
    results = sweep_all()
    if as_json:
        click.echo(json.dumps([result.__dict__ for result in results]))
        return
    for result in results:
        click.echo(f"{result.slug:<24} tombstones removed: {result.tombstones:>6}   "
                   f"disabled users removed: {result.disabled:>6}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def plugins(as_json):
    """List installed plugins: name, version, default state and the hooks they implement."""
    infos = current_app.extensions["scim_gateway"].plugins()
    if as_json:
        click.echo(json.dumps([{**info.__dict__, "hooks": list(info.hooks)} for info in infos]))
        return
    for info in infos:
        state = "essential" if info.essential else ("on by default" if info.enabled_by_default else "opt-in")
        click.echo(f"{info.name:<24} {info.version or '-':<10} {state:<14} {', '.join(info.hooks)}")


# -- tokens, status and the audit log --------------------------------------------------------


def _iso_time(ctx, param, value):
    """A ``--since``/``--until`` value: ISO 8601 (``2026-11-29``, ``2026-11-29T08:00:00Z``)."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-11-29 or 2026-11-29T08:00:00Z") from None


@tenants.command("tokens")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_database
def tenants_tokens(slug, as_json):
    """List the Secret tokens of tenant SLUG by prefix (never the secrets)."""
    tenant = _tenant_or_fail(slug)
    now = utcnow()
    rows = [{"prefix": token.prefix, "created": isoformat(token.created),
             "expires": isoformat(token.expires) if token.expires else None,
             "state": services.token_state(token, now)}
            for token in services.list_tokens(tenant)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        expires = f"expires {row['expires']}" if row["expires"] else ""
        click.echo(f"{row['prefix']}...  {row['state']:<8} created {row['created']}  {expires}".rstrip())


@tenants.command("revoke-token")
@click.argument("slug")
@click.argument("prefix")
@with_database
def tenants_revoke_token(slug, prefix):
    """Revoke the token of tenant SLUG whose prefix is PREFIX: it stops working at once."""
    try:
        with write_transaction():
            tenant = services.get_tenant(slug)
            if services.revoke_token(slug, prefix):
                _audit(tenant, "token_revoked", "Token", prefix)
    except services.TenantError as error:
        _fail(error)
    click.echo(f"Token {prefix} of tenant {slug} revoked.")


@tenants.command("status")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_database
def tenants_status(slug, as_json):
    """Provisioning status of tenant SLUG: users, groups, last SCIM request, errors in 24 hours."""
    row = stats.status(_tenant_or_fail(slug))
    if as_json:
        click.echo(json.dumps(row))
        return
    users = row["users"]
    click.echo(f"Users:             {users['total']} ({users['active']} active, {users['disabled']} disabled)")
    click.echo(f"Groups:            {row['groups']['total']}")
    click.echo(f"Last SCIM request: {row['last_scim_request'] or 'never'}")
    click.echo(f"Last 24 hours:     {row['requests_24h']} requests, {row['errors_24h']} errors")


@main.group()
def audit():
    """A tenant's audit log: every change made through SCIM, the admin API or the CLI."""


@audit.command("list")
@click.argument("slug")
@click.option("--since", callback=_iso_time, help="Events at or after this time (ISO 8601).")
@click.option("--until", callback=_iso_time, help="Events before this time (ISO 8601).")
@click.option("--actor", help="Only this actor: token:<prefix>, admin:<key name> or cli.")
@click.option("--resource", help="Only this resource id or type (User, Group, Role, Tenant, Token).")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--per-page", type=click.IntRange(min=1, max=500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print {items, total, page, per_page} as JSON.")
@with_database
def audit_list(slug, since, until, actor, resource, page, per_page, as_json):
    """List the audit events of tenant SLUG, newest first.

    A deleted tenant's trail is listed too, by its slug.
    """
    total, items = audit_log.list_events(slug, since=since, until=until, actor=actor, resource=resource,
                                         page=page, per_page=per_page)
    if as_json:
        click.echo(json.dumps({"items": items, "total": total, "page": page, "per_page": per_page}))
        return
    for item in items:
        target = f"{item['resource_type']} {item['resource_id'] or ''}".rstrip()
        click.echo(f"{item['time']}  {item['actor']:<24} {item['action']:<16} {target}  "
                   f"{json.dumps(item['summary'], separators=(',', ':'))}  {item['request_id'] or '-'}")
    click.echo(f"({len(items)} of {total} events, page {page})", err=True)


@audit.command("export")
@click.argument("slug")
@click.option("--since", callback=_iso_time, help="Events at or after this time (ISO 8601).")
@click.option("--until", callback=_iso_time, help="Events before this time (ISO 8601).")
@with_database
def audit_export(slug, since, until):
    """Print the audit events of tenant SLUG as JSON lines, oldest first (> file.jsonl)."""
    for line in audit_log.export_lines(slug, since, until):
        click.echo(line, nl=False)


if __name__ == "__main__":
    main()
