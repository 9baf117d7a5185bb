"""The web console at ``/console``: the MSP's portal, rendered on the server.

Sign in with an admin key; then the tenant list, a tenant page with the seed's sidebar
(Tenant URL, Secret token Generate/Rotate, the Enabled toggle), provisioning status and a
chart of SCIM requests and errors per minute drawn as SVG, the Group Mapping list, the
role catalog, the Users page with a sidebar per user (effective roles with the granting
groups, editable individual permissions), and the audit log.

Jinja templates in ``gateway/templates/console``, one stylesheet in
``gateway/static/console``, no JavaScript. Every POST form carries a per-session CSRF
token; every response carries a strict Content-Security-Policy and friends
(:mod:`.security`); the session cookie is signed, HttpOnly, SameSite=Lax, Secure over
HTTPS, and holds only the admin key's id (:mod:`.secret`).
"""

from __future__ import annotations

from flask import Flask

from .secret import configure_cookie, ensure_secret_key


def init_app(app: Flask) -> None:
    """Give ``app`` a signing key and cookie settings, and register the console."""
    from .views import blp

    ensure_secret_key(app)
    configure_cookie(app)
    app.register_blueprint(blp)
