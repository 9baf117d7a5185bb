"""Failed authentication is rate limited per client address (SCIM, admin API, console sign-in).

Each test builds its own app with ``AUTH_FAILURES_PER_MINUTE=3`` and sets the client
address with ``environ_base`` (``REMOTE_ADDR``), as a socket would.
"""

from __future__ import annotations

import re
import uuid

import pytest

from gateway.app import create_app
from tenants import admin_keys, services
from tenants.db import database
from tenants.models import User
from tests.conftest import assert_scim_error

REDIS_URL = "redis://127.0.0.1:6379/0"
ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.20"


def throttled_app(database_url: str, per_minute: int = 3, **settings):
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "AUTH_FAILURES_PER_MINUTE": per_minute,
                       **settings})


@pytest.fixture
def app(database_url):
    application = throttled_app(database_url)
    yield application
    if not database.is_closed():
        database.close()


@pytest.fixture
def credentials(app):
    """A tenant's token and an admin key."""
    with database.connection_context():
        _, token = services.create_tenant("acme")
        _, key = admin_keys.create("ops")
    return {"token": token.secret, "key": key}


def client_at(app, address: str):
    """A test client whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def assert_retry_after(response) -> None:
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_scim_bad_tokens_from_one_address_get_429_while_current_tokens_still_work(app, credentials):
    attacker, neighbour = client_at(app, ATTACKER), client_at(app, NEIGHBOUR)
    users = "/tenants/acme/scim/v2/Users"
    near_miss = credentials["token"][:-1] + ("A" if credentials["token"][-1] != "A" else "B")
    assert [attacker.get(users, headers=bearer(near_miss)).status_code for _ in range(3)] == [401, 401, 401]
    refused = attacker.post(users, json={"userName": "guess@example.com"}, headers=bearer(near_miss))
    body = assert_scim_error(refused, 429)
    assert "failed authentications" in body["detail"]
    assert_retry_after(refused)
    with database.connection_context():
        assert not User.select().where(User.user_name == "guess@example.com").exists()
    # the shared URL and the discovery endpoints refuse a bad or missing token too
    assert attacker.get("/scim/v2/ServiceProviderConfig", headers=bearer("wrong")).status_code == 429
    assert attacker.get("/scim/v2/ServiceProviderConfig").status_code == 429
    # a current token still gets through: an identity provider's shared egress address is
    # not locked out by another customer's revoked token
    created = attacker.post(users, json={"userName": "real@example.com"}, headers=bearer(credentials["token"]))
    assert created.status_code == 201
    assert "Retry-After" not in created.headers
    # nobody else is affected, and the neighbour has its own budget
    assert all(neighbour.get(users, headers=bearer(credentials["token"])).status_code == 200 for _ in range(5))
    assert neighbour.get(users, headers=bearer(near_miss)).status_code == 401
    # requests that check no credential are not refused
    assert attacker.get("/healthz").status_code == 200


def test_successes_do_not_count_and_a_zero_limit_turns_throttling_off(app, credentials, database_url):
    client = client_at(app, ATTACKER)
    for _ in range(10):
        assert client.get("/tenants/acme/scim/v2/Users", headers=bearer(credentials["token"])).status_code == 200
    assert client.get("/tenants/acme/scim/v2/Users", headers=bearer("wrong")).status_code == 401
    assert client.get("/tenants/acme/scim/v2/Users", headers=bearer(credentials["token"])).status_code == 200

    unlimited = client_at(throttled_app(database_url, per_minute=0), ATTACKER)
    assert {unlimited.get("/scim/v2/Users", headers=bearer("wrong")).status_code for _ in range(30)} == {401}


def test_admin_api_bad_keys_get_429_in_the_admin_error_shape(app, credentials):
    attacker, neighbour = client_at(app, ATTACKER), client_at(app, NEIGHBOUR)
    wrong = bearer(credentials["key"][:-2] + "zz")
    assert [attacker.get("/admin/v1/tenants", headers=wrong).status_code for _ in range(3)] == [401, 401, 401]
    refused = attacker.get("/admin/v1/tenants/acme", headers=wrong)
    assert refused.status_code == 429
    assert_retry_after(refused)
    body = refused.get_json()
    assert body["code"] == 429 and "failed authentications" in body["message"]
    assert neighbour.get("/admin/v1/tenants/acme", headers=bearer(credentials["key"])).status_code == 200
    assert attacker.get("/admin/v1/tenants/acme", headers=bearer(credentials["key"])).status_code == 200


def test_failures_on_the_scim_and_admin_apis_share_one_budget(app, credentials):
    client = client_at(app, ATTACKER)
    assert client.get("/scim/v2/Users", headers=bearer("wrong")).status_code == 401
    assert client.get("/admin/v1/tenants", headers=bearer("wrong")).status_code == 401
    assert client.get("/admin/v1/tenants").status_code == 401  # no credential at all counts too
    assert client.get("/admin/v1/tenants", headers=bearer("wrong")).status_code == 429
    assert client.get("/scim/v2/Users", headers=bearer("wrong")).status_code == 429
    # a tenant token is no admin key, nor an admin key a tenant token
    assert client.get("/admin/v1/tenants", headers=bearer(credentials["token"])).status_code == 429
    assert client.get("/scim/v2/Users", headers=bearer(credentials["key"])).status_code == 429


def _sign_in(client, key: str):
    page = client.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/console/login", data={"csrf_token": csrf, "key": key, "next": ""})


def test_console_sign_in_failures_get_429_with_retry_after(app, credentials):
    attacker, neighbour = client_at(app, ATTACKER), client_at(app, NEIGHBOUR)
    assert [_sign_in(attacker, "scimgw_admin_wrong").status_code for _ in range(3)] == [401, 401, 401]
    refused = _sign_in(attacker, "scimgw_admin_wrong")
    assert refused.status_code == 429
    assert_retry_after(refused)
    assert "failed authentications" in refused.get_data(as_text=True)
    assert refused.headers["X-Frame-Options"] == "DENY"  # still a console page with its headers
    assert "scim_gateway_console" not in refused.headers.get("Set-Cookie", "")  # not signed in
    assert attacker.get("/console/login").status_code == 200  # the form itself is not refused
    for client in (neighbour, attacker):  # a current key signs in, even from the blocked address
        signed_in = _sign_in(client, credentials["key"])
        assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith("/console/")


def test_with_redis_the_failures_count_across_processes(tmp_path):
    """Two apps (two hosts) on one Redis share an address's failure count."""
    url = f"sqlite:///{tmp_path}/gw.db"
    address = "fd00:" + ":".join(re.findall("....", uuid.uuid4().hex)[:7])  # a key no other run uses
    first = client_at(throttled_app(url, REDIS_URL=REDIS_URL), address)
    second = client_at(throttled_app(url, REDIS_URL=REDIS_URL), address)
    statuses = [client.get("/scim/v2/Users", headers=bearer("wrong")).status_code
                for client in (first, second, first, second)]
    assert statuses == [401, 401, 401, 429]
    assert first.get("/scim/v2/Users", headers=bearer("wrong")).status_code == 429
