"""Fuzz every operation of ``/openapi.json`` with schemathesis, in process, with real credentials.

What runs: every operation the document lists (SCIM under the Tenant URL and the shared
URL, the admin API, ``/healthz``, ``/readyz``), each through schemathesis' three phases:
the document's examples, its coverage cases (boundary values, missing and wrong-typed
fields, unexpected methods) and ``MAX_EXAMPLES`` generated cases, valid and invalid. No
operation is excluded, including those that delete or revoke credentials (see "Two
tenants").

What each answer must satisfy (schemathesis checks, run on every case):

* ``not_a_server_error``: no 5xx. ``GET .../Me`` is the one exception, and only for 501:
  RFC 7644 §3.11 has a provider without /Me answer 501, which the document says.
* ``status_code_conformance``: a status the operation documents. The document has no
  catch-all ``default`` response (gateway/openapi.py), so this check has teeth.
* ``content_type_conformance``, ``response_headers_conformance``,
  ``response_schema_conformance``: the documented media type, headers and body schema.
* ``no_change_on_error`` (ours): an answer of 400 or more leaves the stored data as it was
  (:func:`database_fingerprint`, read before the request and after the answer).
* ``negative_data_rejection``, on the admin API only: its input is strict by design
  (unknown fields, wrong types, missing required bodies are refused), so a request the
  document calls invalid must get a 4xx.

Checks not run: ``negative_data_rejection`` on SCIM operations and
``positive_data_acceptance`` (SCIM bodies are lenient by RFC: unknown attributes are
disregarded and names match case-insensitively, so a body the document calls invalid may
rightly be accepted, and one it calls valid may rightly be refused by a tenant's policy,
e.g. a taken userName, as may a valid admin request, e.g. a role name in use), ``ignored_auth``
(tests/test_auth.py and tests/test_admin_api.py send missing and wrong credentials) and the
stateful ``use_after_free``/``ensure_resource_availability`` (tests/test_users.py,
tests/test_groups.py).

Two tenants take the traffic, so that no operation can take away a credential the others
need:

* ``fuzz-scim``: every SCIM operation sends its Secret token. No admin operation targets
  it, so no rotation, revocation, disable or delete ends that token mid-run. Its settings
  take any userName (generated users get stored) and turn off the tenant rate limit (a
  burst of generated requests is not what tests/test_rate_limits.py tests).
* ``fuzz-admin``: the admin operations' ``{slug}``. Cases may delete it, revoke its tokens
  or disable it; it is made again, with users, a group and a mapped role, before the next
  admin case that names it.

The failed-authentication throttle is off in this app: the fuzzer sends wrong tenant slugs
on purpose (401s), and with the throttle on every later request would be a 429
(tests/test_auth_throttle.py tests the throttle).

Path parameters: three cases in four name something that exists right now (the tenant,
its users, groups, roles, token prefixes, resource types, schema ids), chosen from the
generated value (CRC-32), so cases get past the 404s; the fourth keeps the generated value.

Bounded and reproducible: ``SCIM_GATEWAY_FUZZ_EXAMPLES`` (default 25) generated cases per
operation, every case derived from ``SCIM_GATEWAY_FUZZ_SEED`` (a fixed default), no
example database. The bound is the number of cases, not a wall-clock deadline, so a slow
machine runs the same cases as a fast one (and no assertion is timed). A failure shows the
seed and the command that reruns the module with it (``rerun_command``) in its report.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import zlib
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import create_app
from gateway.openapi import is_scim_path
from tenants import admin_keys, services
from tenants import roles as catalog
from tenants.db import database
from tenants.models import Group, Role, Tenant, TenantToken, User

from .conftest import ANY_USERNAME, TEST_DATABASE, Scim, TenantCredentials

SEED = int(os.environ.get("SCIM_GATEWAY_FUZZ_SEED", "20261129"))
MAX_EXAMPLES = int(os.environ.get("SCIM_GATEWAY_FUZZ_EXAMPLES", "25"))
SCIM_SLUG = "fuzz-scim"
ADMIN_SLUG = "fuzz-admin"
SETTINGS = {"plugins": {**ANY_USERNAME["plugins"], "rate-limit": {"enabled": False}}}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def checks_for(case) -> list:
    """The checks of ``case``: :data:`CHECKS`, with ``/Me``'s documented 501 allowed, and
    ``negative_data_rejection`` on the admin API, whose input is strict by design."""
    if case.operation.path.endswith("/Me"):
        return [only_501_from_me if check is not_a_server_error else check for check in CHECKS]
    if case.operation.path.startswith("/admin/"):
        return [*CHECKS, negative_data_rejection]
    return CHECKS


def only_501_from_me(ctx, response, case) -> None:
    """``GET .../Me``: its documented 501 is its answer; any other 5xx is a server error."""
    assert response.status_code < 500 or response.status_code == 501, (
        f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:500]}")


def rerun_command() -> str:
    """The command that reruns this module with the same seed and the same database kind."""
    env = f"SCIM_GATEWAY_FUZZ_SEED={SEED} SCIM_GATEWAY_FUZZ_EXAMPLES={MAX_EXAMPLES}"
    if TEST_DATABASE != "sqlite":
        env = f"SCIM_GATEWAY_TEST_DATABASE={TEST_DATABASE} " + env
    return f"{env} python3 -m pytest tests/test_fuzz_openapi.py -n 0"


# One statement, so a snapshot costs one round trip. Counts and change markers per table:
# ``updated``/``last_modified`` move forward on every change and ``version`` grows, so their
# max and sum catch an update that keeps the row count. Request counters (``request_stat``,
# ``tenant_activity``) are left out: they count every request, errors included, by design.
_FINGERPRINT_SQL = "SELECT " + ", ".join(f"(SELECT {expression} FROM {table})" for table, expression in (
    ("tenant", "COUNT(*)"), ("tenant", "MAX(updated)"),
    ("tenant_token", "COUNT(*)"), ("tenant_token", "COUNT(expires)"), ("tenant_token", "MAX(expires)"),
    ("tenant_token", "COUNT(revoked)"),
    ("scim_user", "COUNT(*)"), ("scim_user", "MAX(last_modified)"), ("scim_user", "SUM(version)"),
    ("scim_user", "COUNT(deleted_at)"), ("scim_user", "COUNT(disabled_at)"),
    ("scim_group", "COUNT(*)"), ("scim_group", "MAX(last_modified)"), ("scim_group", "SUM(version)"),
    ("membership", "COUNT(*)"), ("group_role", "COUNT(*)"), ("user_role", "COUNT(*)"),
    ("user_permission", "COUNT(*)"), ("user_permission", "SUM(LENGTH(permission))"),
    ("admin_key", "COUNT(*)"), ("admin_key", "COUNT(revoked)"),
    ("audit_event", "COUNT(*)"), ("audit_event", "MAX(id)"),
))
# Roles have no change timestamp; the catalog is small, so it is compared whole.
_ROLES_SQL = "SELECT id, name, description, permissions FROM role ORDER BY id"


def database_fingerprint() -> tuple:
    """What any write would change, read in two statements (see ``_FINGERPRINT_SQL``)."""
    markers = database.execute_sql(_FINGERPRINT_SQL).fetchone()
    roles = database.execute_sql(_ROLES_SQL).fetchall()
    return tuple(markers), hashlib.sha256(repr(roles).encode()).hexdigest()


def _pick(generated, candidates: list[str]):
    """An existing id (three times in four, when there is one) or the generated value."""
    digest = zlib.crc32(repr(generated).encode())
    if not candidates or digest % 4 == 0:
        return generated
    return candidates[digest // 4 % len(candidates)]


@dataclass
class World:
    """The tenants, credentials and ids the fuzzer works with."""

    client: object
    admin_key: str
    scim: TenantCredentials
    schema_ids: list[str] = field(default_factory=list)
    serial: itertools.count = field(default_factory=itertools.count)

    def seed_tenant(self, credentials: TenantCredentials, users: int, groups: int) -> None:
        """Give a tenant users and groups (the first users as members) through its SCIM API."""
        scim = Scim(self.client, credentials)
        ids = [scim.create_user(f"seed-{next(self.serial)}@example.com")["id"] for _ in range(users)]
        for index in range(groups):
            scim.create_group(f"seed group {next(self.serial)}", ids[: index + 1])

    def ensure_admin_tenant(self) -> None:
        """Make ``fuzz-admin`` (two users, a group, a role mapped to it) if it does not exist."""
        with database.connection_context():
            if Tenant.select().where(Tenant.slug == ADMIN_SLUG).exists():
                return
            _, token = services.create_tenant(ADMIN_SLUG)
        self.seed_tenant(TenantCredentials(ADMIN_SLUG, token.secret), users=2, groups=1)
        with database.connection_context():
            tenant = Tenant.get(Tenant.slug == ADMIN_SLUG)
            role = catalog.create_role(tenant, "seed role", ["reports.read"])
            catalog.set_group_roles(tenant, Group.get(Group.tenant == tenant), [role.id])

    def ensure_scim_resources(self) -> None:
        """Keep two users and two groups in ``fuzz-scim`` for the fuzzer's DELETEs to aim at."""
        with database.connection_context():
            tenant = Tenant.get(Tenant.slug == SCIM_SLUG)
            users = User.select().where(User.tenant == tenant, User.deleted_at.is_null()).count()
            groups = Group.select().where(Group.tenant == tenant).count()
        if users < 2 or groups < 2:
            self.seed_tenant(self.scim, users=2, groups=2)

    @staticmethod
    def ids(slug: str, model) -> list[str]:
        """Ids of the tenant's rows of ``model``, oldest first."""
        with database.connection_context():
            return [row.id for row in model.select(model.id).join(Tenant).where(Tenant.slug == slug)
                    .order_by(model.created, model.id)]

    @staticmethod
    def prefixes(slug: str) -> list[str]:
        """The display prefixes of the tenant's tokens, oldest first."""
        with database.connection_context():
            return [row.prefix for row in TenantToken.select(TenantToken.prefix).join(Tenant)
                    .where(Tenant.slug == slug).order_by(TenantToken.id)]

    def prepare(self, case) -> None:
        """Send the operation's credential and, mostly, path parameters that exist."""
        path = case.operation.path
        params = dict(case.path_parameters or {})
        case.headers = dict(case.headers or {})
        if path.startswith("/admin/"):
            case.headers["Authorization"] = f"Bearer {self.admin_key}"
            if "slug" in params:
                self.ensure_admin_tenant()
                params["slug"] = _pick(params["slug"], [ADMIN_SLUG])
            for name, model in (("role_id", Role), ("group_id", Group), ("user_id", User)):
                if name in params:
                    params[name] = _pick(params[name], self.ids(params["slug"], model))
            if "prefix" in params:
                params["prefix"] = _pick(params["prefix"], self.prefixes(params["slug"]))
        elif is_scim_path(path):
            case.headers["Authorization"] = f"Bearer {self.scim.token}"
            if "tenant" in params:
                params["tenant"] = _pick(params["tenant"], [SCIM_SLUG])
            if "resource_id" in params:
                self.ensure_scim_resources()
                model = User if "/Users/" in path else Group
                params["resource_id"] = _pick(params["resource_id"], self.ids(SCIM_SLUG, model))
            if "name" in params:
                params["name"] = _pick(params["name"], ["User", "Group"])
            if "schema_id" in params:
                params["schema_id"] = _pick(params["schema_id"], self.schema_ids)
        case.path_parameters = params


def no_change_on_error(before: tuple):
    """The custom check: an answer of 400 or more leaves the database as ``before`` it."""

    def check(ctx, response, case) -> None:
        if response.status_code < 400:
            return
        with database.connection_context():
            after = database_fingerprint()
        assert after == before, (
            f"{case.method} {case.formatted_path} answered {response.status_code} yet changed stored data:\n"
            f"before {before}\nafter  {after}")

    check.__name__ = "no_change_on_error"
    return check


@pytest.fixture(scope="module")
def fuzz_app(module_database_url):
    """The gateway on the module's database, without the failed-authentication throttle.

    The fuzzer sends wrong tenant slugs on purpose (a 401 each); with the throttle on,
    every later request of the run would be a 429 (tests/test_auth_throttle.py tests it).
    """
    application = create_app({"TESTING": True, "DATABASE_URL": module_database_url,
                              "AUTH_FAILURES_PER_MINUTE": 0})
    yield application
    if not database.is_closed():
        database.close()


@pytest.fixture(scope="module")
def world(fuzz_app):
    """The two fuzzing tenants, an admin key, and users, groups and roles to aim at."""
    with database.connection_context():
        _, key = admin_keys.create("fuzzer")
        _, token = services.create_tenant(SCIM_SLUG)
        services.update_tenant(SCIM_SLUG, settings=fuzz_app.extensions["scim_gateway"].validate_settings(SETTINGS))
    world = World(client=fuzz_app.test_client(), admin_key=key, scim=TenantCredentials(SCIM_SLUG, token.secret))
    world.seed_tenant(world.scim, users=3, groups=2)
    world.ensure_admin_tenant()
    schemas = Scim(world.client, world.scim).get("/Schemas").get_json()
    world.schema_ids = [resource["id"] for resource in schemas["Resources"]]
    return world


@pytest.fixture
def rerun_note(request):
    """Show the seed and the command that reruns this module with it, next to any failure."""
    request.node.add_report_section(
        "setup", "schemathesis",
        f"seed {SEED}, {MAX_EXAMPLES} generated cases per operation; rerun: {rerun_command()}")


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    """The gateway's own OpenAPI document, loaded over WSGI, seeded and bounded."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    schema.config.seed = SEED
    schema.config.generation.update(max_examples=MAX_EXAMPLES, database="none")
    return schema


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
def test_openapi_operation(case, world, rerun_note):
    """One generated request: a documented answer, and an error never changes stored data."""
    world.prepare(case)
    with database.connection_context():
        before = database_fingerprint()
    response = case.call()
    case.validate_response(response, checks=[*checks_for(case), no_change_on_error(before)])
