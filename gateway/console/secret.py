"""The console's signing key and session cookie.

Flask signs the session cookie with ``SECRET_KEY``. It comes from the configuration
(``SCIM_GATEWAY_SECRET_KEY`` in the environment); without one, a random key is made
once and kept in ``<instance>/secret_key`` (mode 0600), so every worker and every
restart of the same deployment signs and checks cookies with the same key. Deployments
with several hosts must set ``SCIM_GATEWAY_SECRET_KEY`` (or share the instance folder).
"""

from __future__ import annotations

import os
import secrets
import tempfile

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

SECRET_FILE = "secret_key"


def _read(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read().strip()


def instance_secret(folder: str) -> str:
    """The key kept in ``folder/secret_key``, made (0600, atomically) if there is none.

    Several workers may start at once: each writes a complete candidate to a private
    temporary file and hard-links it into place; ``link`` fails for all but the first,
    and they read the winner's key, so nobody ever reads a half-written file.
    """
    path = os.path.join(folder, SECRET_FILE)
    if os.path.exists(path):
        key = _read(path)
        if key:
            return key
    os.makedirs(folder, exist_ok=True)
    descriptor, candidate = tempfile.mkstemp(prefix=".secret_key-", dir=folder)  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(candidate)
    return _read(path)


def ensure_secret_key(app: Flask) -> None:
    """Give ``app`` a ``SECRET_KEY``: the configured one, else the instance folder's."""
    configured = app.config.get("SECRET_KEY")
    if not configured:
        app.config["SECRET_KEY"] = instance_secret(app.instance_path)
    elif not isinstance(configured, (str, bytes)):
        # from_prefixed_env parses values as JSON: an all-digit key arrives as a number
        app.config["SECRET_KEY"] = str(configured)


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, scoped to the console and Secure over HTTPS.

    The cookie is HttpOnly and SameSite=Lax (set in :func:`configure_cookie`), its path
    is the console's (it is never sent to the SCIM or admin APIs), and it is marked
    Secure whenever the request came over HTTPS (``wsgi.url_scheme``, so behind a TLS-terminating
    proxy set ``SCIM_GATEWAY_TRUSTED_PROXIES``) or ``SESSION_COOKIE_SECURE`` is set.
    """

    def open_session(self, app: Flask, request):
        """Flask's, without building the signing serializer for a request that carries no
        session cookie: every SCIM and admin API request (the cookie's path is the console's).
        Building it was 3.7% of a worker's CPU while an initial sync created users. A
        ``Cookie`` header without the cookie's name is not even parsed."""
        name = self.get_cookie_name(app)
        if app.secret_key and (name not in request.environ.get("HTTP_COOKIE", "")
                               or not request.cookies.get(name)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:
        """Flask's. An empty session nothing read or changed (every API request's) returns
        at once, as Flask's does, without first working out the cookie's attributes."""
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = bool(app.config.get("SESSION_COOKIE_SECURE"))
        return configured or (has_request_context() and request.is_secure)

    def get_cookie_path(self, app: Flask) -> str:
        configured = app.config.get("SESSION_COOKIE_PATH")
        if configured:
            return configured
        root = request.script_root if has_request_context() else ""
        return (root or "") + "/console"


def configure_cookie(app: Flask) -> None:
    """Session cookie settings of the console (a deployment may still override them)."""
    if app.config.get("SESSION_COOKIE_NAME") in (None, "", "session"):
        app.config["SESSION_COOKIE_NAME"] = "scim_gateway_console"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = ConsoleSessionInterface()
