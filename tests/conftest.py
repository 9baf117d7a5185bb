"""Shared fixtures: a fresh app on a real SQLite file per test, tenants, a SCIM client.

``Scim`` wraps Flask's test client in the AuthActions style: it sends the bearer token
and ``application/scim+json`` and prefixes the tenant's SCIM base path.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from urllib.parse import quote
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from gateway.app import create_app
from tenants import services
from tenants.db import database

SAMPLES = Path(__file__).parent / "samples"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# Microsoft's samples and scim2-tester use userNames that are not email addresses.
ANY_USERNAME = {"plugins": {"uniqueness": {"options": {"require_email": False}}}}


#: Which database the ``database_url`` fixture gives each test: ``sqlite`` (the default) or
#: ``postgresql`` (``SCIM_GATEWAY_TEST_DATABASE=postgresql python3 -m pytest``, as CI does).
TEST_DATABASE = os.environ.get("SCIM_GATEWAY_TEST_DATABASE", "").strip().lower() or "sqlite"


#: The modules that keep one test process busy longest (10 to 60 s each on 2 busy cores,
#: on either database), slowest first. They are handed to the processes first, so that none
#: of them starts last and keeps one process busy alone at the end of the run (pyproject.toml
#: turns off xdist's reordering by test count, which put the one-test fuzzing module last).
SLOWEST_MODULES = ("test_fuzz_openapi.py", "test_admin_api.py", "test_errors.py", "test_console.py",
                   "test_concurrency.py", "test_database.py", "test_bulk.py", "test_plugins.py")


def pytest_collection_modifyitems(items):
    """Put the tests of :data:`SLOWEST_MODULES` first, in that order; the others keep theirs."""
    rank = {name: index for index, name in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def postgres_databases():
    """One migrated PostgreSQL template database for the session (per xdist worker) and the
    copies it lends the tests, all dropped at the session's end; made when a test first
    asks for a PostgreSQL database."""
    from tests.postgres import TemplateDatabases

    templates = TemplateDatabases()  # fails (never skips) when the server cannot be reached
    yield templates
    templates.close()


def _lend_postgres_database(request):
    """Yield the URL of a PostgreSQL database lent from ``postgres_databases``; afterwards
    close the pooled connections this process holds to it."""
    with request.getfixturevalue("postgres_databases").lend() as url:
        yield url
        from tenants.db import close_pool

        if database.obj is not None and getattr(database.obj, "database", None) == url.rsplit("/", 1)[-1]:
            close_pool(database.obj)  # return nothing to a pool whose database is emptied or dropped next


def _test_database(request, folder):
    """Yield an empty database URL of the kind ``SCIM_GATEWAY_TEST_DATABASE`` asks for."""
    if TEST_DATABASE == "sqlite":
        yield f"sqlite:///{folder}/gateway.db"
        return
    if TEST_DATABASE not in ("postgresql", "postgres"):
        pytest.fail(f"SCIM_GATEWAY_TEST_DATABASE={TEST_DATABASE!r}: use 'sqlite' or 'postgresql'.", pytrace=False)
    yield from _lend_postgres_database(request)


@pytest.fixture
def postgres_database_url(request):
    """An empty PostgreSQL database lent to this test alone, whichever database the run
    uses (for tests that run on SQLite and on PostgreSQL side by side)."""
    yield from _lend_postgres_database(request)


@pytest.fixture
def database_url(request, tmp_path):
    """The test's own, empty database: a SQLite file in its temporary folder, or with
    ``SCIM_GATEWAY_TEST_DATABASE=postgresql`` a PostgreSQL database in the state of the
    session's migrated template, lent to this test alone (``tests/postgres.py``)."""
    yield from _test_database(request, tmp_path)


@pytest.fixture(scope="module")
def module_database_url(request, tmp_path_factory):
    """Like ``database_url``, shared by the tests of one module (one app per module)."""
    yield from _test_database(request, tmp_path_factory.mktemp("db"))


@pytest.fixture
def app(database_url):
    """A new gateway app on a new, migrated database."""
    application = create_app({"TESTING": True, "DATABASE_URL": database_url})
    yield application
    if not database.is_closed():
        database.close()


@pytest.fixture
def client(app):
    """Flask's test client for ``app``."""
    return app.test_client()


@dataclass
class TenantCredentials:
    """A tenant made for a test: its slug, Secret token and SCIM base path."""

    slug: str
    token: str

    @property
    def base(self) -> str:
        return f"/tenants/{self.slug}/scim/v2"


@pytest.fixture
def make_tenant(app):
    """Factory: ``make_tenant("acme", settings=...)`` creates a tenant through the service layer."""

    def make(slug: str | None = None, name: str | None = None, settings: dict | None = None) -> TenantCredentials:
        slug = slug or f"t-{uuid.uuid4().hex[:8]}"
        with database.connection_context():
            _, token = services.create_tenant(slug, name)
            if settings is not None:
                services.update_tenant(slug, settings=app.extensions["scim_gateway"].validate_settings(settings))
        return TenantCredentials(slug=slug, token=token.secret)

    return make


class Scim:
    """A SCIM client for one tenant over the Flask test client."""

    def __init__(self, client, tenant: TenantCredentials, base: str | None = None):
        self.client = client
        self.tenant = tenant
        self.base = base if base is not None else tenant.base

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.tenant.token}"}
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, body=None, *, headers: dict | None = None,
                content_type: str = "application/scim+json", raw: bytes | str | None = None,
                query_string: dict | None = None):
        kwargs = {"headers": self.headers(headers), "query_string": query_string}
        if body is not None or raw is not None:
            kwargs["data"] = raw if raw is not None else json.dumps(body)
            kwargs["content_type"] = content_type
        return self.client.open(self.base + path, method=method, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, operations=None, **kw):
        body = kw.pop("body", None) or {"schemas": [PATCH_SCHEMA], "Operations": operations}
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_user(self, user_name: str, **attributes) -> dict:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, **attributes}
        response = self.post("/Users", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def create_group(self, display_name: str, members: list[str] = (), **attributes) -> dict:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": display_name,
            "members": [{"value": m} for m in members],
            **attributes,
        }
        response = self.post("/Groups", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def tenant(make_tenant):
    """One tenant, ``acme``."""
    return make_tenant("acme")


@pytest.fixture
def scim(client, tenant):
    """A SCIM client for the ``acme`` tenant on its Tenant URL."""
    return Scim(client, tenant)


@pytest.fixture
def load_sample():
    """Factory: ``load_sample("entra/01-create-user.json")`` -> the parsed sample."""

    def load(name: str) -> dict:
        return json.loads((SAMPLES / name).read_text())

    return load


def logged_statements(counter) -> list[tuple[str, list]]:
    """``(sql, params)`` of each statement peewee logged in a ``count_queries()`` block, an
    ``EXECUTE`` of a server-side prepared statement (PostgreSQL, tenants.statements) shown
    as the SQL it runs."""
    from tenants.prepared import SERVER_STATEMENTS

    return [(SERVER_STATEMENTS.plain(record.msg[0]), record.msg[1]) for record in counter.get_queries()]


def url(path: str) -> str:
    """``path`` with its query values percent-encoded (samples and tests write them raw)."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    parts = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        parts.append(f"{name}={quote(value, safe='')}")
    return base + "?" + "&".join(parts)


def body_of(response, status: int) -> dict | None:
    """Assert the status and the SCIM media type; return the JSON body (None for 204)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    if status == 204:
        assert response.get_data() == b""
        return None
    assert response.mimetype == "application/scim+json", response.content_type
    return response.get_json()


@pytest.fixture(scope="module")
def module_app(module_database_url):
    """One app and database for a whole module (building an app costs ~60 ms); modules
    that use it give every test a fresh tenant, so tests see only their own resources."""
    application = create_app({"TESTING": True, "DATABASE_URL": module_database_url})
    yield application
    if not database.is_closed():
        database.close()


def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    """Assert ``response`` is an RFC 7644 §3.12 error with ``status`` (and ``scimType``)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]
    return body


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    """A ``scim-gateway serve`` process started by a test."""

    url: str
    process: subprocess.Popen
    env: dict
    log: Path

    def cli(self, *args: str) -> str:
        """Run ``scim-gateway ARGS`` (:func:`run_cli`) on the server's database with its public
        URL; return stdout."""
        return run_cli(self.env["DATABASE_URL"], *args, env={"SCIM_GATEWAY_PUBLIC_URL": self.url})

    def create_tenant(self, slug: str) -> dict:
        """Create a tenant with the CLI's ``--json`` contract."""
        return json.loads(self.cli("tenants", "create", slug, "--json"))


def cli_environment(database_url: str, **extra: str) -> dict:
    """The environment ``scim-gateway`` gets in tests: this process's without any
    ``SCIM_GATEWAY_*`` or ``FLASK_*`` variable, plus ``DATABASE_URL`` and ``extra``."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SCIM_GATEWAY_", "FLASK_")) and name != "DATABASE_URL"}
    env.update(DATABASE_URL=database_url, **extra)
    return env


@dataclass
class CliResult:
    """How a ``scim-gateway`` run exited and what it printed (as ``subprocess.CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def invoke_cli(database_url: str, *args: str, env: dict | None = None, input: str | None = None) -> CliResult:
    """Run ``scim-gateway ARGS`` in this process on ``database_url``, with
    :func:`cli_environment` (and ``env``) as its environment and ``input`` as its stdin.

    A process costs about a second; click's runner gives the command its own arguments,
    streams, environment and exit code, and the command builds its own app as a process
    would. That app binds the database proxy; the test's binding is put back afterwards.
    An exception the command does not handle fails the test with its traceback.
    """
    from click.testing import CliRunner

    from gateway.cli import main
    from tenants.db import close_pool

    wanted = cli_environment(database_url, **(env or {}))
    changes = {name: None for name in os.environ if name not in wanted}
    changes.update({name: value for name, value in wanted.items() if os.environ.get(name) != value})
    changes.setdefault("FLASK_RUN_FROM_CLI", None)  # flask's CLI sets it; the runner restores what it changes
    bound = database.obj
    try:
        result = CliRunner().invoke(main, list(args), input=input, env=changes, catch_exceptions=False)
    finally:
        if database.obj is not bound:
            close_pool(database.obj)
            database.initialize(bound)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def run_cli(database_url: str, *args: str, env: dict | None = None) -> str:
    """Run ``scim-gateway <args>`` on ``database_url`` (:func:`invoke_cli`, with ``env``);
    assert it succeeded and return what it printed."""
    result = invoke_cli(database_url, *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def cli(app, database_url):
    """``cli("tenants", "list", input=...)`` -> :class:`CliResult` of ``scim-gateway tenants
    list`` (:func:`invoke_cli`) on the database of ``app``, so the test client sees what
    the command changed."""
    return functools.partial(invoke_cli, database_url)


def start_server(tmp_path: Path, database_url: str, workers: int = 2) -> LiveServer:
    """Start ``scim-gateway serve`` on a free loopback port and wait until it is ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "SCIM_GATEWAY_PUBLIC_URL": url}
    log = tmp_path / f"server-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"scim-gateway serve exited early:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return LiveServer(url=url, process=process, env=env, log=log)
        except (requests.ConnectionError, requests.Timeout):  # workers still booting on a busy machine
            pass
        time.sleep(0.2)
    stop_server(process)
    raise RuntimeError(f"scim-gateway serve did not become ready:\n{log.read_text()}")


def stop_server(process: subprocess.Popen) -> None:
    """Stop a server this test started, by its PID."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def live_server(tmp_path):
    """A real ``scim-gateway serve`` process (gunicorn, 2 workers) on a temporary SQLite file."""
    server = start_server(tmp_path, f"sqlite:///{tmp_path}/live.db")
    yield server
    stop_server(server.process)
