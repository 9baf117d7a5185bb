"""The console's pages. Every view is thin over the same service functions as the admin
API (:mod:`tenants.services`, :mod:`tenants.roles`, :func:`gateway.roles.effective_roles`
with the tenant's hooks), so the console cannot do anything the API would refuse."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException, InternalServerError

from tenants import admin_keys, services
from tenants import roles as catalog
from tenants.clock import utcnow
from tenants.db import write_transaction
from tenants.repositories import UserRepository

from ..admin.blueprint import hooks_for
from ..auth import tenant_scim_url
from ..auth_throttle import refuse_if_blocked
from ..errors import ScimError
from ..roles import effective_roles
from . import chart, data, forms, security

blp = Blueprint("console", __name__, url_prefix="/console",
                static_folder="../static/console", static_url_path="/static")

log = logging.getLogger(__name__)
PUBLIC_ENDPOINTS = {"console.login", "console.static"}


# -- every request ---------------------------------------------------------------------------


@blp.before_request
def _guard():
    """CSRF for every POST, then sign-in for every page but the sign-in page."""
    if request.method == "POST":
        security.check_csrf(request.form)
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    key = security.current_key()
    if key is None:
        if security.SESSION_KEY in session:
            security.sign_out()
            flash("Your session ended (signed out, expired, or the admin key was revoked). Sign in again.",
                  "error")
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("console.login", next=target.rstrip("?") if target else None), 303)
    g.admin_key = key
    return None


@blp.after_request
def _headers(response):
    for name, value in security.SECURITY_HEADERS.items():
        response.headers[name] = value
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return render_template("console/error.html", error=error), error.code


@blp.errorhandler(Exception)
def _unexpected(error: Exception):
    log.exception("Unhandled error on %s %s", request.method, request.path)
    failure = InternalServerError("The console could not complete the request; see the server log.")
    return render_template("console/error.html", error=failure), 500


@blp.app_template_global()
def csrf_token() -> str:
    return security.csrf_token()


@blp.app_template_global()
def page_url(page: int) -> str:
    """The current page's URL with ``page`` changed (filters kept)."""
    return url_for(request.endpoint, **{**request.args.to_dict(), **(request.view_args or {}), "page": page})


@blp.app_template_global()
def admin_scope() -> list[str] | None:
    """The tenants the signed-in key is limited to (``None``: all, or nobody signed in)."""
    return security.allowed_slugs() if g.get("admin_key") is not None else None


def _as_utc(value) -> dt.datetime | None:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def summary_text(value, role_names: dict[str, str] | None = None) -> str:
    """An audit summary for people: ``name: Technician; permissions: a, b; members added: 2``
    (role ids shown by name where the role still exists)."""
    if not isinstance(value, dict):
        return "" if value in (None, "") else str(value)
    parts = []
    for key, item in value.items():
        if isinstance(item, dict) and "count" in item:
            item = item["count"]
        elif isinstance(item, (list, tuple)):
            if key == "roles" and role_names:
                item = [role_names.get(str(entry), entry) for entry in item]
            item = ", ".join(str(entry) for entry in item) or "none"
        elif isinstance(item, bool):
            item = "yes" if item else "no"
        parts.append(f"{key.replace('_', ' ')}: {item}")
    return "; ".join(parts)


@blp.app_template_filter("when_short")
def when_short(value) -> str:
    """A time as ``2026-11-29 08:55:43`` (UTC)."""
    if value in (None, ""):
        return ""
    parsed = _as_utc(value)
    return f"{parsed:%Y-%m-%d %H:%M:%S}" if parsed is not None else str(value)


@blp.app_template_filter("when")
def when(value) -> str:
    """A time for people: ``2026-11-29 08:55:43 UTC (3 min ago)``; "never" for none."""
    if value in (None, ""):
        return "never"
    parsed = _as_utc(value)
    if parsed is None:
        return str(value)
    value = parsed
    seconds = int((utcnow() - value).total_seconds())
    if seconds < 0:
        ago = "just now"
    elif seconds < 60:
        ago = f"{seconds} s ago"
    elif seconds < 3600:
        ago = f"{seconds // 60} min ago"
    elif seconds < 86400:
        ago = f"{seconds // 3600} h ago"
    else:
        ago = f"{seconds // 86400} d ago"
    return f"{value:%Y-%m-%d %H:%M:%S} UTC ({ago})"


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (no open redirect to another site)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/") \
                and not target.startswith("//") and "\\" not in target:
            return target
    return url_for("console.index")


# -- sign in and out -------------------------------------------------------------------------


@blp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with an admin key (``scim-gateway admin-keys create NAME``)."""
    next_url = request.values.get("next", "")
    if request.method == "POST":
        key = admin_keys.authenticate((request.form.get("key") or "").strip())
        if key is None:
            refuse_if_blocked()
            return render_template("console/login.html", next_url=next_url,
                                   error="That admin key is not valid (wrong, revoked, or not an admin key)."), 401
        security.sign_in(key)
        return redirect(_safe_next(next_url), 303)
    if security.current_key() is not None:
        return redirect(_safe_next(next_url), 303)
    return render_template("console/login.html", next_url=next_url, error=None)


@blp.route("/logout", methods=["POST"])
def logout():
    security.sign_out()
    flash("Signed out.", "info")
    return redirect(url_for("console.login"), 303)


# -- tenants -----------------------------------------------------------------------------------


@blp.route("/")
def index():
    """The tenant list with each tenant's status."""
    page, per_page = forms.paging(request.args)
    total, tenants = services.page_tenants((page - 1) * per_page, per_page, security.allowed_slugs())
    rows = [{"tenant": tenant, "status": data.status(tenant)} for tenant in tenants]
    return render_template("console/tenants.html", rows=rows, total=total, page=page, per_page=per_page,
                           can_create=security.is_unscoped())


@blp.route("/new-tenant", methods=["GET", "POST"])
def tenant_new():
    """Create a tenant; the answer shows its Tenant URL and first Secret token, once."""
    if not security.is_unscoped():
        abort(403, description="This admin key is limited to some tenants and cannot create tenants.")
    form = {"slug": "", "name": ""}
    error = None
    if request.method == "POST":
        form = {"slug": forms.clean_text(request.form.get("slug"), 63).lower(),
                "name": forms.clean_text(request.form.get("name"), 200)}
        try:
            with write_transaction():
                tenant, token = services.create_tenant(form["slug"], form["name"] or None)
                data.record(tenant, "tenant_created", "Tenant", tenant.slug,
                            {"name": tenant.name, "token_prefix": token.prefix})
        except services.TenantError as failure:
            error = str(failure)
        else:
            return render_template("console/tenant_created.html", tenant=tenant, token=token.secret,
                                   tenant_url=tenant_scim_url(tenant.slug)), 201
    return render_template("console/tenant_new.html", form=form, error=error), (400 if error else 200)


def _tenant_page(tenant, *, new_token=None, status_code=200, token_error=None):
    """The tenant page: the sidebar (Tenant URL, Secret token, Enabled) and its status."""
    now = utcnow()
    points = data.series(tenant, minutes=1440)
    charts = [
        {"id": "day", "title": "last 24 hours", "svg": chart.render(points, now, 1440, "chart-day")},
        {"id": "hour", "title": "last hour", "svg": chart.render(points, now, 60, "chart-hour")},
    ]
    tokens = services.token_summaries(tenant)
    has_current = any(token["state"] == "current" for token in tokens)
    return render_template(
        "console/tenant.html", tenant=tenant, tenant_url=tenant_scim_url(tenant.slug), tokens=tokens,
        has_current=has_current, new_token=new_token, token_error=token_error,
        grace_choices=forms.GRACE_CHOICES, status=data.status(tenant), charts=charts,
        section="overview",
    ), status_code


@blp.route("/tenants/<slug>")
def tenant(slug):
    return _tenant_page(security.tenant_or_404(slug))


@blp.route("/tenants/<slug>/token", methods=["POST"])
def tenant_token(slug):
    """Generate or rotate the Secret token; the new one is shown in this answer only."""
    tenant = security.tenant_or_404(slug)
    try:
        grace = forms.grace_seconds(request.form.get("grace"))
        with write_transaction():
            token = services.issue_token(tenant.slug, grace_seconds=grace)
            data.record(tenant, "token_issued", "Token", token.prefix,
                        {"grace_seconds": grace} if grace is not None else {})
    except (ValueError, services.TenantError) as failure:
        return _tenant_page(tenant, token_error=str(failure), status_code=400)
    return _tenant_page(services.get_tenant(tenant.slug), new_token=token.secret)


@blp.route("/tenants/<slug>/enabled", methods=["POST"])
def tenant_enabled(slug):
    """The Enabled toggle: off, the tenant's SCIM requests get 403 from the next request."""
    tenant = security.tenant_or_404(slug)
    wanted = request.form.get("enabled")
    if wanted not in ("0", "1"):
        abort(400, description="The Enabled toggle needs enabled=1 or enabled=0.")
    with write_transaction():
        services.set_enabled(tenant.slug, wanted == "1")
        data.record(tenant, "tenant_updated", "Tenant", tenant.slug, {"fields": ["enabled"], "enabled": wanted == "1"})
    flash(f"Provisioning {'enabled' if wanted == '1' else 'disabled'} for {tenant.slug}.", "info")
    return redirect(url_for("console.tenant", slug=tenant.slug), 303)


# -- group mapping and roles ---------------------------------------------------------------------


@blp.route("/tenants/<slug>/groups")
def groups(slug):
    """The Group Mapping list: each provisioned group with a dropdown of the tenant's roles."""
    tenant = security.tenant_or_404(slug)
    page, per_page = forms.paging(request.args)
    total, rows, mapped = catalog.group_mapping_page(tenant, (page - 1) * per_page, per_page)
    mapping = {group.id: {role.id for role in mapped.get(group.id, [])} for group in rows}
    return render_template("console/groups.html", tenant=tenant, groups=rows, mapping=mapping,
                           roles=catalog.list_roles(tenant), total=total, page=page, per_page=per_page,
                           section="groups")


@blp.route("/tenants/<slug>/groups/<group_id>/roles", methods=["POST"])
def group_roles(slug, group_id):
    """Map one group to exactly the selected roles."""
    tenant = security.tenant_or_404(slug)
    group = catalog.get_group(tenant, group_id)
    if group is None:
        abort(404, description=f"No group {group_id!r} in tenant {tenant.slug!r}.")
    try:
        roles = catalog.roles_by_ids(tenant, request.form.getlist("roles"))
    except catalog.UnknownRoles as failure:
        abort(400, description=str(failure))
    with write_transaction():
        catalog.set_group_roles(tenant, group, [role.id for role in roles])
        data.record(tenant, "role_mapped", "Group", group.id, {"roles": sorted(role.id for role in roles)})
    names = ", ".join(role.name for role in roles) or "no roles"
    flash(f"Group {group.display_name} now grants: {names}.", "info")
    return redirect(url_for("console.groups", slug=tenant.slug, page=request.args.get("page") or None) +
                    f"#group-{group.id}", 303)


@blp.route("/tenants/<slug>/roles", methods=["GET", "POST"])
def roles(slug):
    """The role catalog, and a form to add a role with its permissions."""
    tenant = security.tenant_or_404(slug)
    form = {"name": "", "description": "", "permissions": ""}
    error, status_code = None, 200
    if request.method == "POST":
        form = {"name": forms.clean_text(request.form.get("name")),
                "description": (request.form.get("description") or "").strip()[:2000],
                "permissions": request.form.get("permissions") or ""}
        try:
            with write_transaction():
                role = catalog.create_role(tenant, form["name"], forms.permission_list(form["permissions"]),
                                           form["description"])
                data.record(tenant, "role_created", "Role", role.id,
                            {"name": role.name, "permissions": list(role.permissions or [])})
        except catalog.RoleError as failure:
            error, status_code = str(failure), (409 if isinstance(failure, catalog.RoleNameTaken) else 400)
        else:
            flash(f"Role {role.name} created.", "info")
            return redirect(url_for("console.roles", slug=tenant.slug), 303)
    return render_template("console/roles.html", tenant=tenant, roles=catalog.list_roles(tenant), form=form,
                           error=error, section="roles"), status_code


@blp.route("/tenants/<slug>/roles/<role_id>/delete", methods=["POST"])
def role_delete(slug, role_id):
    tenant = security.tenant_or_404(slug)
    role = catalog.get_role(tenant, role_id)
    if role is None:
        abort(404, description=f"No role {role_id!r} in tenant {tenant.slug!r}.")
    with write_transaction():
        catalog.delete_role(role)
        data.record(tenant, "role_deleted", "Role", role.id, {"name": role.name})
    flash(f"Role {role.name} deleted; groups mapped to it no longer grant it.", "info")
    return redirect(url_for("console.roles", slug=tenant.slug), 303)


# -- users -------------------------------------------------------------------------------------


def _user_panel(tenant, user) -> dict:
    """The user sidebar: effective roles with the granting groups' names, groups, permissions."""
    grants, permissions = effective_roles(hooks_for(tenant), [user])[user.id]
    member_of = data.groups_of(user)
    names = {group.id: group.display_name for group in member_of}
    missing = {gid for grant in grants for gid in grant.granted_by} - names.keys()
    names.update(data.group_names(tenant, missing))
    return {
        "user": user,
        "roles": [{"name": grant.role.name, "permissions": list(grant.role.permissions),
                   "granted_by": [names.get(gid, gid) for gid in grant.granted_by]} for grant in grants],
        "groups": member_of,
        "permissions": list(permissions),
    }


@blp.route("/tenants/<slug>/users")
def users(slug):
    """The Users page: search and pages; ``?user=<id>`` opens that user's sidebar."""
    tenant = security.tenant_or_404(slug)
    page, per_page = forms.paging(request.args)
    q = forms.clean_text(request.args.get("q"), 200)
    total, rows = services.search_users(tenant, q or None, (page - 1) * per_page, per_page)
    panel = None
    selected = request.args.get("user")
    if selected:
        user = UserRepository(tenant).get(selected)
        if user is None:
            abort(404, description=f"No user {selected!r} in tenant {tenant.slug!r}.")
        panel = _user_panel(tenant, user)
    return render_template("console/users.html", tenant=tenant, users=rows, total=total, page=page,
                           per_page=per_page, q=q, panel=panel, section="users",
                           permissions_error=None)


@blp.route("/tenants/<slug>/users/<user_id>/permissions", methods=["POST"])
def user_permissions(slug, user_id):
    """Set one user's individual permissions (allowed for SCIM-provisioned users too)."""
    tenant = security.tenant_or_404(slug)
    user = UserRepository(tenant).get(user_id)
    if user is None:
        abort(404, description=f"No user {user_id!r} in tenant {tenant.slug!r}.")
    back = {"slug": tenant.slug, "user": user.id, "q": request.args.get("q") or None,
            "page": request.args.get("page") or None}
    try:
        with write_transaction():
            permissions = catalog.set_user_permissions(user, forms.permission_list(request.form.get("permissions")))
            data.record(tenant, "permissions_set", "User", user.id, {"permissions": permissions})
    except catalog.RoleError as failure:
        flash(str(failure), "error")
        return redirect(url_for("console.users", **back) + "#user-panel", 303)
    flash(f"Permissions of {user.user_name} saved.", "info")
    return redirect(url_for("console.users", **back) + "#user-panel", 303)


# -- audit log ---------------------------------------------------------------------------------


@blp.route("/tenants/<slug>/audit")
def audit(slug):
    """The audit log, newest first, paged, filtered by actor and resource."""
    tenant = security.tenant_or_404(slug)
    page, per_page = forms.paging(request.args)
    actor = forms.clean_text(request.args.get("actor"), 120)
    resource = forms.clean_text(request.args.get("resource"), 255)
    total, rows = data.events(tenant, actor=forms.actor_filter(actor) or None, resource=resource or None,
                              page=page, per_page=per_page)
    names = data.audit_names(tenant, rows)
    role_names = {role_id: name for (kind, role_id), name in names.items() if kind == "Role"}
    events = [{**row, "resource_name": names.get((row["resource_type"], row["resource_id"])),
               "summary_text": summary_text(row.get("summary"), role_names)} for row in rows]
    return render_template("console/audit.html", tenant=tenant, events=events, total=total, page=page,
                           per_page=per_page, actor=actor, resource=resource, section="audit")


@blp.errorhandler(ScimError)
def _policy_error(error: ScimError):
    """A policy's refusal, shown as a page."""
    return render_template("console/error.html", error=error, message=error.detail), error.status

