"""Fair sharing: per-tenant SCIM request rates, in memory and across processes via Redis."""

from __future__ import annotations

import uuid

import pytest

from gateway.app import create_app
from tenants import services
from tenants.db import database
from tenants.models import User
from tests.conftest import Scim, TenantCredentials, assert_scim_error

REDIS_URL = "redis://127.0.0.1:6379/0"


def limited(limit: str) -> dict:
    return {"plugins": {"rate-limit": {"options": {"limit": limit}}}}


def test_a_tenant_over_its_rate_gets_429_with_retry_after_and_others_are_untouched(client, make_tenant):
    busy = Scim(client, make_tenant("busy", settings=limited("3/minute")))
    calm = Scim(client, make_tenant("calm"))
    assert [busy.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
    refused = busy.post("/Users", {"userName": "late@example.com"})
    body = assert_scim_error(refused, 429)
    assert "rate limit" in body["detail"] and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert busy.get("/Users").status_code == 429
    with database.connection_context():
        assert not User.select().where(User.user_name == "late@example.com").exists()
    assert all(calm.get("/Users").status_code == 200 for _ in range(10))


def test_the_default_rate_is_generous_and_a_disabled_plugin_means_unlimited(client, make_tenant, app):
    default = app.extensions["scim_gateway"].for_tenant("x", "x", {}, 0)
    assert default.rate_limit() == "6000/minute"
    free = Scim(client, make_tenant("free", settings={"plugins": {"rate-limit": {"enabled": False}}}))
    assert all(free.get("/Users").status_code == 200 for _ in range(20))


def test_invalid_rates_are_refused_when_settings_are_saved(app):
    from gateway.plugin_manager import SettingsError

    with pytest.raises(SettingsError) as error:
        app.extensions["scim_gateway"].validate_settings(limited("lots"))
    assert "plugins.rate-limit.options" in error.value.messages


def test_with_redis_the_limit_holds_across_processes(tmp_path):
    """Two app instances (as two hosts would have) share one tenant's counter in Redis."""
    url = f"sqlite:///{tmp_path}/gw.db"
    slug = f"shared-{uuid.uuid4().hex[:8]}"  # a fresh key in the shared Redis
    first = create_app({"TESTING": True, "DATABASE_URL": url, "REDIS_URL": REDIS_URL})
    with database.connection_context():
        _, token = services.create_tenant(slug)
        services.update_tenant(slug, settings=first.extensions["scim_gateway"].validate_settings(limited("4/minute")))
    second = create_app({"TESTING": True, "DATABASE_URL": url, "REDIS_URL": REDIS_URL})
    credentials = TenantCredentials(slug, token.secret)
    one, two = Scim(first.test_client(), credentials), Scim(second.test_client(), credentials)
    statuses = [client.get("/Users").status_code for client in (one, two, one, two, one, two)]
    assert statuses == [200, 200, 200, 200, 429, 429]


def test_memory_counters_start_no_thread_per_request_and_still_drop_old_entries(monkeypatch):
    """limits' memory storage started a timer thread whenever 10 ms had passed since its
    last one (0.2 ms of CPU per SCIM request); the gateway's drops expired entries inline,
    at most once per interval, and counts exactly as before."""
    import threading
    import time

    from limits import parse
    from limits.strategies import MovingWindowRateLimiter

    from gateway import ratelimit

    storage = ratelimit.counter_storage(None)
    assert isinstance(storage, ratelimit.InlineExpiryMemoryStorage)  # the limits release in use has the names
    limiter = MovingWindowRateLimiter(storage)
    item = parse("5/second")
    time.sleep(0.05)  # the one timer the constructor starts has run
    before = {thread.ident for thread in threading.enumerate()}
    results, seen = [], set()
    for _ in range(8):
        results.append(limiter.hit(item, "scim-tenant", "acme"))
        seen |= {thread.ident for thread in threading.enumerate()}  # a timer started by the hit is alive here
        time.sleep(0.015)  # longer than the library's 10 ms timer
    assert results == [True] * 5 + [False] * 3
    assert seen <= before

    monkeypatch.setattr(storage, "EXPIRY_INTERVAL", 0.0)
    time.sleep(1.05)
    assert limiter.hit(item, "scim-tenant", "acme") is True  # the window moved on
    assert len(storage.events["LIMITER/scim-tenant/acme/5/1/second"]) == 1  # the five old entries dropped
