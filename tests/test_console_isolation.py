"""Tenant isolation in the web console: every ``/console`` route and method, tried by every kind of intruder.

The victim B (``zephyr-corp``: users, groups, a role and its mapping, individual permissions,
audit events, current and rotated-out tokens) and the attacker A are :mod:`tests.test_isolation`'s
world, and so is the way each call is judged (:func:`tests.test_isolation._attack`): a call naming
B's values is sent again naming a ghost's (values no tenant has) and both answers must read the
same (status, redirect and page, percent-encoding and HTML escapes undone); no answer shows a
byte of B the intruder did not send, in its page, its headers or the session cookie it sets; and
B's rows in every table are unchanged after every test. The meta-test fails for any
``(rule, method)`` of ``app.url_map`` under ``/console`` without an entry in :data:`CONSOLE_CALLS`.

A browser is its session cookie (:class:`Session`), replayed as it is with every request, so a
session the console has signed out is still the one tried next. The intruders:

* a session of an admin key scoped to A, on B's pages with B's ids: 404 on every
  ``/tenants/<slug>`` route, GET and POST (the answer for a slug that never existed); on the
  other routes what A's own pages give: only A in the tenant list, 403 for creating a tenant;
* a session of an unscoped admin key revoked after it signed in: every page and form (with the
  session's own valid CSRF token) answers 303 to the sign-in page (with ``next`` for a GET),
  and the cookie it sets no longer names a key (signed out); the sign-in page and the
  stylesheet stay public (200), a wrong key on the sign-in form gets 401;
* no session at all: 303 to the sign-in page for every page, 400 for every form (there is no
  session whose CSRF token a form could carry);
* a visitor holding only the sign-in page's session (a CSRF token, no key): 303 to the sign-in
  page for pages and forms alike, 401 for a wrong key;
* a session of an unscoped key posting B's forms without a CSRF token, or with another
  session's: 400, before the form is read;
* probing: a session of a key scoped to a fresh tenant of its own, putting B's ids, userNames,
  names, role ids and names and token prefixes in its own pages and forms: each call's exact
  status is fixed in the matrix (404 for B's user, group and role ids, 400 for B's roles in a
  mapping, empty searches and audit filters, 303 for re-using B's role name since names are
  unique per tenant);
* a policy of A's (a throwaway plugin whose per-tenant options, which A's own admin key may
  set, credit roles to any group id) naming B's group: A's Users sidebar shows the bare id,
  as for a made-up one, never B's displayName.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from marshmallow import Schema, fields

from gateway import RoleGrant, hookimpl
from gateway.app import create_app
from tenants import admin_keys
from tenants.db import database

from . import test_isolation as isolation
from .test_isolation import (Builder, Call, Ids, _attack, _id, _own_tenant, _rules, assert_nothing_leaked, ghost,
                             snapshot)

PREFIX = "/console"
COOKIE = "scim_gateway_console"  # the console's session cookie (gateway.console.secret)
PUBLIC_RULES = {"/console/static/<path:filename>", "/console/login"}

TENANT_LINK = r'href="/console/tenants/([^"/?#]+)"'
USER_LINK = r"user=([0-9a-f-]{36})"
GROUP_ROW = r'id="group-([^"]+)"'
ROLE_OPTION = r'<option value="([^"]+)"'
ROLE_DELETE = r'/roles/([^/"]+)/delete"'
CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')

world = isolation.world  # B, A and their credentials, built on this module's app


# --- checks on the answers of the intruder's own pages --------------------------------------------


def _page(response) -> str:
    return response.get_data(as_text=True)


def redirect_to(target: str):
    """A 303 to ``target``."""

    def check(response, own: Ids) -> None:
        assert response.headers["Location"] == target, response.headers

    return check


def shows_only(pattern: str, *fields: str):
    """A page on which what ``pattern`` finds is exactly the own tenant's ``fields`` (none: nothing)."""

    def check(response, own: Ids) -> None:
        assert set(re.findall(pattern, _page(response))) == {getattr(own, field) for field in fields}, _page(response)

    return check


def says(text: str):
    """A page that says ``text``."""

    def check(response, own: Ids) -> None:
        assert text in _page(response), _page(response)

    return check


def lists_own(pattern: str, field: str, noun: str):
    """A list page of the own tenant's ``field`` alone (what ``pattern`` finds), its pager counting one."""
    return all_of(shows_only(pattern, field), says(f"<span>1 {noun}</span>"))


def all_of(*checks):
    """Every one of ``checks``."""

    def check(response, own: Ids) -> None:
        for each in checks:
            each(response, own)

    return check


# --- the matrix: paths below /console; ``check(response, own)`` on the answers that are not errors ---


def _tenant(o: Ids) -> str:
    return f"/tenants/{o.slug}"


def _users_get(t: Ids, o: Ids) -> list[Call]:
    no_rows = all_of(says("No user matches"), shows_only(USER_LINK))
    return [Call(_tenant(o) + "/users", query={"user": t.user}, expect=404),
            *(Call(_tenant(o) + "/users", query={"q": q}, check=no_rows) for q in (t.user_name, t.given_name, t.user)),
            Call(_tenant(o) + "/users", query={"per_page": "200"}, check=lists_own(USER_LINK, "user", "users"))]


def _audit_get(t: Ids, o: Ids) -> list[Call]:
    none = says("No event matches these filters.")
    return [*(Call(_tenant(o) + "/audit", query={"resource": r}, check=none) for r in (t.user, t.group, t.role)),
            Call(_tenant(o) + "/audit", query={"actor": t.token_prefix}, check=none),
            Call(_tenant(o) + "/audit", query={"per_page": "200"}, check=says('id="audit-events"'))]


#: (rule, method) -> the calls that method of that console route gets (paths below /console).
CONSOLE_CALLS: dict[tuple[str, str], Builder] = {
    ("/console/static/<path:filename>", "GET"): lambda t, o: [Call("/static/console.css")],
    ("/console/login", "GET"): lambda t, o: [  # signed in already: straight on to ``next``
        Call("/login", query={"next": f"/console/tenants/{t.slug}/users?user={t.user}"}, expect=303,
             check=redirect_to(f"/console/tenants/{t.slug}/users?user={t.user}"))],
    ("/console/login", "POST"): lambda t, o: [
        Call("/login", {"key": t.token_prefix, "next": f"/console/tenants/{t.slug}"}, expect=401)],
    ("/console/logout", "POST"): lambda t, o: [Call("/logout", expect=303, check=redirect_to("/console/login"))],
    ("/console/", "GET"): lambda t, o: [
        Call("/", query={"per_page": "200"}, check=lists_own(TENANT_LINK, "slug", "tenants"))],
    ("/console/new-tenant", "GET"): lambda t, o: [Call("/new-tenant", expect=403)],
    ("/console/new-tenant", "POST"): lambda t, o: [Call("/new-tenant", {"slug": t.slug, "name": "Probe"}, expect=403)],
    ("/console/tenants/<slug>", "GET"): lambda t, o: [Call(_tenant(o), check=says('id="rotate-token"'))],
    ("/console/tenants/<slug>/token", "POST"): lambda t, o: [
        Call(_tenant(o) + "/token", {"grace": "0"}, check=says('id="secret-token"'))],
    ("/console/tenants/<slug>/enabled", "POST"): lambda t, o: [
        Call(_tenant(o) + "/enabled", {"enabled": "0"}, expect=303, check=redirect_to(f"/console{_tenant(o)}"))],
    ("/console/tenants/<slug>/groups", "GET"): lambda t, o: [
        Call(_tenant(o) + "/groups", query={"per_page": "200"},
             check=all_of(lists_own(GROUP_ROW, "group", "groups"), shows_only(ROLE_OPTION, "role")))],
    ("/console/tenants/<slug>/groups/<group_id>/roles", "POST"): lambda t, o: [
        Call(f"{_tenant(o)}/groups/{t.group}/roles", {"roles": [o.role]}, expect=404),
        Call(f"{_tenant(o)}/groups/{o.group}/roles", {"roles": [t.role]}, expect=400),
        Call(f"{_tenant(o)}/groups/{o.group}/roles", {"roles": [o.role, t.role]}, expect=400)],
    ("/console/tenants/<slug>/roles", "GET"): lambda t, o: [
        Call(_tenant(o) + "/roles", check=shows_only(ROLE_DELETE, "role"))],
    ("/console/tenants/<slug>/roles", "POST"): lambda t, o: [  # role names are unique per tenant
        Call(_tenant(o) + "/roles", {"name": t.role_name, "permissions": "probe.read"}, expect=303,
             check=redirect_to(f"/console{_tenant(o)}/roles"))],
    ("/console/tenants/<slug>/roles/<role_id>/delete", "POST"): lambda t, o: [
        Call(f"{_tenant(o)}/roles/{t.role}/delete", expect=404)],
    ("/console/tenants/<slug>/users", "GET"): _users_get,
    ("/console/tenants/<slug>/users/<user_id>/permissions", "POST"): lambda t, o: [
        Call(f"{_tenant(o)}/users/{t.user}/permissions", {"permissions": "probe.read"}, expect=404)],
    ("/console/tenants/<slug>/audit", "GET"): _audit_get,
}


# --- browsers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """What a browser holds: the console's session cookie (``None``: none) and its CSRF token."""

    cookie: str | None
    csrf: str | None


def set_cookie(response) -> str | None:
    """The value ``response`` gives the session cookie, if it sets it."""
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE:
            return rest.split(";", 1)[0]
    return None


def contents(app, cookie: str) -> dict:
    """What a session cookie holds (Flask signs it; it does not encrypt it)."""
    return dict(app.session_interface.get_signing_serializer(app).loads(cookie))


def send_console(app, session: Session, csrf: str | None, method: str, call: Call):
    """``call`` from a browser holding ``session`` (and no other cookie); a POST's form carries
    ``csrf`` as its token (``None``: no token field)."""
    headers = {"Cookie": f"{COOKIE}={session.cookie}"} if session.cookie else {}
    form = None
    if method == "POST":
        form = dict(call.body or {})
        if csrf is not None:
            form["csrf_token"] = csrf
    return app.test_client(use_cookies=False).open(PREFIX + call.path, method=method, headers=headers,
                                                   query_string=call.query, data=form)


def sign_in(app, key: str | None = None) -> Session:
    """A browser that opened the sign-in page, then signed in with ``key`` if given."""
    cookie = set_cookie(send_console(app, Session(None, None), None, "GET", Call("/login")))
    if key is not None:
        response = send_console(app, Session(cookie, None), contents(app, cookie)["csrf"], "POST",
                                Call("/login", {"key": key}))
        assert response.status_code == 303, _page(response)
        cookie = set_cookie(response)
    return Session(cookie, contents(app, cookie)["csrf"])


# --- the intruders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intruder:
    """A browser (a key of the ``sessions`` fixture) and the CSRF token its forms carry:
    ``own`` (its session's), ``none`` (no token) or ``foreign`` (another session's)."""

    name: str
    session: str
    csrf: str

    def status(self, rule: str, method: str) -> int | None:
        """What this intruder gets from ``method`` on ``rule`` with B's slug and ids: 303 is the
        sign-in redirect; ``None`` is the call's own expectation (what A's pages give)."""
        if method == "POST" and self.csrf != "own":
            return 400
        if self.session == "scoped":
            return 404 if "<slug>" in rule else None
        if rule in PUBLIC_RULES:
            return 401 if method == "POST" else 200
        return 303

    def token(self, sessions: dict[str, Session]) -> str | None:
        """The CSRF token this intruder's forms carry."""
        return {"own": sessions[self.session].csrf, "none": None, "foreign": sessions["scoped"].csrf}[self.csrf]


REFUSED = [
    Intruder("key-scoped-to-another-tenant", "scoped", "own"),
    Intruder("revoked-key", "revoked", "own"),
    Intruder("no-session", "none", "none"),
    Intruder("sign-in-page-only", "visitor", "own"),
]
FORGERS = [
    Intruder("no-csrf-token", "root", "none"),
    Intruder("another-sessions-csrf-token", "root", "foreign"),
]


@pytest.fixture(scope="module")
def module_app(module_database_url):
    """conftest's ``module_app`` without the failed-authentication throttle: the matrix posts
    refused admin keys to the sign-in form from the one test-client address, each a counted
    failure, and once over the budget a 429 would stand in for the 401 under test (how soon
    depends on which tests ran before)."""
    application = create_app({"TESTING": True, "DATABASE_URL": module_database_url, "AUTH_FAILURES_PER_MINUTE": 0})
    yield application
    if not database.is_closed():
        database.close()


@pytest.fixture(scope="module")
def sessions(module_app, world) -> dict[str, Session]:
    """The intruders' browsers: signed in with the key scoped to A, with an unscoped key, and
    with an unscoped key revoked after it signed in (and was shown B's page); one that only
    opened the sign-in page; one with no cookie."""
    with database.connection_context():
        _, root = admin_keys.create("console-root")
        _, revoked = admin_keys.create("console-revoked")
    found = {"scoped": sign_in(module_app, world.credentials["scoped_key"]), "root": sign_in(module_app, root),
             "revoked": sign_in(module_app, revoked), "visitor": sign_in(module_app), "none": Session(None, None)}
    before = send_console(module_app, found["revoked"], None, "GET", Call(f"/tenants/{world.victim.slug}"))
    assert before.status_code == 200 and world.victim.group_name not in _page(before)  # the key worked, on B
    with database.connection_context():
        admin_keys.revoke("console-revoked")
    return found


# --- judging an answer ------------------------------------------------------------------------------


def readable(text: str, stand_in: list[tuple[str, str]]) -> str:
    """``text`` with percent-encoding and HTML escapes undone, the per-session CSRF token left
    out, and each made-up value of ``stand_in`` replaced by the real one beside it."""
    text = unquote_plus(html.unescape(CSRF_VALUE.sub("", text)))
    for made_up, real in stand_in:
        text = text.replace(made_up, real)
    return text


def observer(app):
    """``observe(response, stand_in)`` for :func:`tests.test_isolation._attack`: what a console
    answer tells (status, redirect, page, and the messages it leaves in the session for the next
    page), :func:`readable` with the ghost's values replaced by the victim's (``stand_in``)."""

    def observe(response, stand_in: list[tuple[str, str]]):
        cookie = set_cookie(response)
        flashes = repr(contents(app, cookie).get("_flashes")) if cookie else ""
        return response.status_code, *(readable(text, stand_in) for text in (
            response.headers.get("Location", ""), _page(response), flashes))

    return observe


def _expected(response, call: Call, own: Ids, status: int | None = None) -> None:
    """``status`` (default: the call's own expectation, then its check) as the console shows it:
    401 is the sign-in page again, other errors the console's error page."""
    expected = call.expect if status is None else status
    page = _page(response)
    assert response.status_code == expected, (call.path, response.status_code, page)
    if expected == 401:
        assert "<h1>Sign in</h1>" in page and "That admin key is not valid" in page, page
    elif expected >= 400:
        assert response.mimetype == "text/html" and f"<h1>{expected} · " in page, page
    elif status is None and call.check is not None:
        call.check(response, own)


def _sent_to_sign_in(app, response, method: str, call: Call, signed_out: bool) -> None:
    """A 303 to the sign-in page, which leads back to the page asked for (a GET) or nowhere (a
    form); ``signed_out``: the cookie it sets names no admin key any more."""
    assert response.status_code == 303, (call.path, response.status_code, _page(response))
    location = urlsplit(response.headers["Location"])
    assert location.path == PREFIX + "/login", response.headers
    if method == "GET":
        (back,) = parse_qs(location.query)["next"]
        assert urlsplit(back).path == PREFIX + call.path
        assert parse_qs(urlsplit(back).query) == {k: [v] for k, v in (call.query or {}).items()}
    else:
        assert not location.query, response.headers
    if signed_out:
        cookie = set_cookie(response)
        assert cookie and "admin_key_id" not in contents(app, cookie)


def _cookie_shows_nothing(app, response, call: Call, world: isolation.World) -> None:
    """The session cookie an answer sets (signed, readable by anyone holding it, flash messages
    included) holds no value of B that the intruder did not send."""
    cookie = set_cookie(response)
    if cookie:
        sent, held = call.text().lower(), repr(contents(app, cookie)).lower()
        assert not [s for s in world.secrets if s.lower() not in sent and s.lower() in held], held


# --- the tests --------------------------------------------------------------------------------------


def test_every_console_route_and_method_is_in_the_matrix(module_app):
    """A console route added later fails here until it has its calls in the matrix (and stale ones go)."""
    console = {(PREFIX + rule, method) for rule, method in _rules(module_app, (PREFIX,))}
    assert len(console) >= 15
    assert console == set(CONSOLE_CALLS), {"missing": console - set(CONSOLE_CALLS),
                                           "stale": set(CONSOLE_CALLS) - console}


@pytest.mark.parametrize("intruder", REFUSED, ids=_id)
@pytest.mark.parametrize("route", sorted(CONSOLE_CALLS), ids=_id)
def test_console_route_refuses_foreign_revoked_and_absent_sessions(module_app, world, sessions, route, intruder):
    """B's pages and ids from a session scoped to A, a revoked key's, none, or a bare visitor's."""
    rule, method = route
    session, csrf = sessions[intruder.session], intruder.token(sessions)
    status = intruder.status(rule, method)
    own = world.attacker if status is None else world.victim

    def check(response, call: Call) -> None:
        if status == 303:
            _sent_to_sign_in(module_app, response, method, call, signed_out=intruder.session == "revoked")
        else:
            _expected(response, call, own, status)
        _cookie_shows_nothing(module_app, response, call, world)

    _attack(world, lambda m, call, target: send_console(module_app, session, csrf, m, call), method,
            CONSOLE_CALLS[route], own, check, observe=observer(module_app))


@pytest.mark.parametrize("intruder", FORGERS, ids=_id)
@pytest.mark.parametrize("route", sorted(r for r in CONSOLE_CALLS if r[1] == "POST"), ids=_id)
def test_console_form_without_the_sessions_csrf_token_changes_nothing(module_app, world, sessions, route, intruder):
    """B's forms posted in an unscoped key's session with no CSRF token or another session's: 400."""
    session, csrf = sessions[intruder.session], intruder.token(sessions)
    assert csrf != session.csrf

    def check(response, call: Call) -> None:
        _expected(response, call, world.victim, 400)
        assert "security token is missing or out of date" in _page(response)
        _cookie_shows_nothing(module_app, response, call, world)

    _attack(world, lambda m, call, target: send_console(module_app, session, csrf, m, call), route[1],
            CONSOLE_CALLS[route], world.victim, check, observe=observer(module_app))


@pytest.mark.parametrize("route", sorted(CONSOLE_CALLS), ids=_id)
def test_console_route_under_its_own_tenant_shows_nothing_of_another(module_app, world, route):
    """A session of a key scoped to a fresh tenant, on that tenant's pages, naming B's ids and names."""
    own, _ = _own_tenant(module_app.test_client(), module_app, f"probe-{uuid.uuid4().hex[:10]}")
    with database.connection_context():
        _, key = admin_keys.create(f"probe-{own.tag}", [own.slug])
    session = sign_in(module_app, key)

    def check(response, call: Call) -> None:
        _expected(response, call, own)
        _cookie_shows_nothing(module_app, response, call, world)

    _attack(world, lambda m, call, target: send_console(module_app, session, session.csrf, m, call), route[1],
            CONSOLE_CALLS[route], own, check, observe=observer(module_app))


# --- a policy that names another tenant's group -----------------------------------------------------


class CreditedGroups(Schema):
    """Options of :class:`ExtraGrantors`."""

    group_ids = fields.List(fields.String(), load_default=list)


class ExtraGrantors:
    """A throwaway plugin: each role a user holds through a group is also credited to the
    groups its tenant's options name (as a plugin for nested groups might), options that an
    admin key scoped to the tenant may set."""

    @hookimpl
    def scim_plugin_options(self):
        return CreditedGroups

    @hookimpl
    def scim_effective_roles(self, tenant, groups, group_roles):
        extra = tuple(tenant.options_for("extra-grantors")["group_ids"])
        return [RoleGrant(role=role, granted_by=(group.id, *extra))
                for group in groups for role in group_roles.get(group.id, [])]


@pytest.fixture
def extra_grantors(module_app):
    """:class:`ExtraGrantors` registered as ``extra-grantors`` for one test."""
    manager = module_app.extensions["scim_gateway"]
    manager.register(ExtraGrantors(), name="extra-grantors")
    yield
    manager.unregister("extra-grantors")


def test_user_sidebar_names_only_its_own_tenants_groups(module_app, world, extra_grantors):
    """A policy crediting a role to B's group id (set by A's own admin in A's plugin options):
    A's Users sidebar shows the id as it is, never B's displayName, exactly as for a made-up id."""
    own, _ = _own_tenant(module_app.test_client(), module_app, f"probe-{uuid.uuid4().hex[:10]}")
    with database.connection_context():
        _, key = admin_keys.create(f"probe-{own.tag}", [own.slug])
    session, made_up = sign_in(module_app, key), ghost()

    def sidebar(group_id: str):
        options = {"plugins": {"extra-grantors": {"enabled": True, "options": {"group_ids": [group_id]}}}}
        saved = module_app.test_client().patch(f"/admin/v1/tenants/{own.slug}", json={"settings": options},
                                               headers={"Authorization": f"Bearer {key}"})
        assert saved.status_code == 200, saved.get_json()
        call = Call(f"/tenants/{own.slug}/users", options, query={"user": own.user})  # body: what A sent
        response = send_console(module_app, session, None, "GET", call)
        assert response.status_code == 200 and own.group_name in _page(response) and group_id in _page(response)
        assert_nothing_leaked(response, call, world)
        return response

    observe = observer(module_app)
    assert observe(sidebar(world.victim.group), []) == observe(sidebar(made_up.group), made_up.pairs(world.victim))
    assert snapshot(world.victim.slug) == world.baseline
