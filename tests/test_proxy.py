"""``X-Forwarded-*`` is honoured only when ``TRUSTED_PROXIES`` says a proxy sets it.

What the headers could change: the Tenant URL the admin API shows, ``meta.location``,
the client address in the access log and the address failed authentications count
against. Untrusted, none of them moves; trusted, each follows the proxy's headers, and
only the values the trusted proxies appended count (a client cannot pick its address).
"""

from __future__ import annotations

import logging

import pytest

from gateway.access_log import LOGGER
from gateway.app import create_app
from tenants import admin_keys
from tenants.db import database

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"}


@pytest.fixture
def make_app(database_url):
    """Factory: an app on the test's database with ``TRUSTED_PROXIES=hops``."""

    def make(hops: int):
        return create_app({"TESTING": True, "DATABASE_URL": database_url, "TRUSTED_PROXIES": hops,
                           "AUTH_FAILURES_PER_MINUTE": 2})

    yield make
    if not database.is_closed():
        database.close()


def forwarded(client_address: str, extra: str = "") -> dict:
    """What a proxy at https://scim.example.com/gw sends for ``client_address``."""
    return {"X-Forwarded-For": f"{extra}{client_address}", "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "scim.example.com", "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/gw"}


def create_tenant_and_user(client, key: str, slug: str, headers: dict) -> tuple[dict, dict]:
    admin = {"Authorization": f"Bearer {key}", **headers}
    created = client.post("/admin/v1/tenants", json={"slug": slug}, headers=admin)
    assert created.status_code == 201, created.get_json()
    tenant = created.get_json()
    user = client.post(f"/tenants/{slug}/scim/v2/Users", json=USER,
                       headers={"Authorization": f"Bearer {tenant['token']}", **headers})
    assert user.status_code == 201, user.get_json()
    return tenant, user.get_json()


def access_lines(caplog) -> list[dict]:
    return [record.fields for record in caplog.records if record.name == LOGGER]


def test_by_default_forwarded_headers_are_ignored(make_app, caplog):
    app = make_app(0)
    with database.connection_context():
        _, key = admin_keys.create("ops")
    client = app.test_client()
    caplog.set_level(logging.INFO, logger=LOGGER)
    tenant, user = create_tenant_and_user(client, key, "acme", forwarded("192.0.2.1"))
    assert tenant["tenant_url"] == "http://localhost/tenants/acme/scim/v2"
    assert user["meta"]["location"] == f"http://localhost/tenants/acme/scim/v2/Users/{user['id']}"
    assert {line["client"] for line in access_lines(caplog)} == {"127.0.0.1"}
    # failures from "different" forwarded addresses all count against the socket's address
    statuses = [client.get("/scim/v2/Users", headers={"Authorization": "Bearer wrong",
                                                      **forwarded(f"192.0.2.{n}")}).status_code for n in range(3)]
    assert statuses == [401, 401, 429]


def test_with_a_trusted_proxy_urls_addresses_and_throttling_follow_its_headers(make_app, caplog):
    app = make_app(1)
    with database.connection_context():
        _, key = admin_keys.create("ops")
    client = app.test_client()
    caplog.set_level(logging.INFO, logger=LOGGER)
    # the client sent its own X-Forwarded-For; the proxy appended the real address
    tenant, user = create_tenant_and_user(client, key, "acme", forwarded("192.0.2.1", extra="10.9.9.9, "))
    assert tenant["tenant_url"] == "https://scim.example.com/gw/tenants/acme/scim/v2"
    assert user["meta"]["location"] == f"https://scim.example.com/gw/tenants/acme/scim/v2/Users/{user['id']}"
    assert {line["client"] for line in access_lines(caplog)} == {"192.0.2.1"}
    # each forwarded address has its own failure budget; a spoofed first value changes nothing
    wrong = {"Authorization": "Bearer wrong"}
    assert [client.get("/scim/v2/Users", headers={**wrong, **forwarded("192.0.2.1", extra=f"10.0.0.{n}, ")})
            .status_code for n in range(3)] == [401, 401, 429]
    assert client.get("/scim/v2/Users", headers={**wrong, **forwarded("192.0.2.2")}).status_code == 401


def test_a_proxy_count_that_is_not_a_whole_number_stops_the_start(database_url):
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        create_app({"TESTING": True, "DATABASE_URL": database_url, "TRUSTED_PROXIES": "yes"})
