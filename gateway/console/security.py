"""Who is signed in, CSRF tokens, and the security headers of every console response.

The session (Flask's signed cookie) holds the admin key's *id*, never the key, the time
of sign-in and a random CSRF token. Each request loads the key row by id (one indexed
query), so a revoked key's session stops at its next request, and a key limited to some
tenants sees only those.
"""

from __future__ import annotations

import hmac
import secrets
import time

from flask import abort, current_app, g, session

from tenants import admin_keys
from tenants.models import AdminKey, Tenant

CSRF_FIELD = "csrf_token"
SESSION_KEY = "admin_key_id"
DEFAULT_MAX_AGE = 12 * 3600  # a sign-in lasts at most this long (seconds)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


# -- CSRF ----------------------------------------------------------------------------------


def csrf_token() -> str:
    """The session's CSRF token, made on first use (rendered into every form)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(form) -> None:
    """Abort with 400 unless the form carries the session's CSRF token."""
    expected = session.get("csrf")
    sent = form.get(CSRF_FIELD, "")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode("utf-8", "surrogateescape"), expected.encode("ascii")):
        abort(400, description=(
            "This form could not be accepted: its security token is missing or out of date "
            "(for example after signing out in another tab). Reload the page and try again."))


# -- sign-in ---------------------------------------------------------------------------------


def max_age() -> int:
    return int(current_app.config.get("CONSOLE_SESSION_MAX_AGE", DEFAULT_MAX_AGE))


def sign_in(key: AdminKey) -> None:
    """Start a fresh session for ``key`` (a new CSRF token; nothing kept from before)."""
    session.clear()
    session[SESSION_KEY] = key.id
    session["since"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(32)


def sign_out() -> None:
    session.clear()


def current_key() -> AdminKey | None:
    """The signed-in admin key if it still exists, is not revoked and the sign-in is recent."""
    key_id = session.get(SESSION_KEY)
    if not isinstance(key_id, int):
        return None
    since = session.get("since")
    if not isinstance(since, int) or time.time() - since > max_age():
        return None
    key = AdminKey.get_or_none(AdminKey.id == key_id)
    if key is None or key.revoked is not None:
        return None
    return key


def allowed_slugs() -> list[str] | None:
    """The tenants the signed-in key may see (``None``: every tenant)."""
    return admin_keys.scope_of(g.admin_key)


def is_unscoped() -> bool:
    return allowed_slugs() is None


def tenant_or_404(slug: str) -> Tenant:
    """The tenant ``slug`` if the signed-in key may administer it; 404 otherwise (same
    answer as for a tenant that does not exist)."""
    tenant = None
    if admin_keys.may_administer(g.admin_key, slug):
        tenant = Tenant.get_or_none(Tenant.slug == slug)
    if tenant is None:
        abort(404, description=f"No tenant {slug!r}.")
    return tenant
