"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import shutil

import pytest

from gateway.app import create_app
from tenants.db import database

from .conftest import free_port


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["status"] == "ready"


def test_ops_endpoints_need_no_token(client, tenant):
    for path in ("/healthz", "/readyz"):
        assert client.get(path).status_code == 200
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 200


def test_readyz_does_not_leak_connections(client):
    for _ in range(50):
        assert client.get("/readyz").status_code == 200
    assert database.is_closed()


@pytest.fixture
def unreachable_app():
    """An app whose PostgreSQL is on a port nothing listens on."""
    port = free_port()
    url = f"postgresql://scim:secret@127.0.0.1:{port}/scim"
    application = create_app({"TESTING": True, "DATABASE_URL": url, "AUTO_MIGRATE": False})
    yield application
    if not database.is_closed():
        database.close()


def test_readyz_is_503_when_the_database_is_unreachable(unreachable_app):
    client = unreachable_app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] != "ready"
    # The password in DATABASE_URL is never echoed.
    assert "secret" not in response.get_data(as_text=True)
    # Liveness does not depend on the database: the process is alive, just not ready.
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok"}
    # It stays 503 (no cached "ready", no crash) on repeated probes.
    assert client.get("/readyz").status_code == 503


def test_readyz_follows_the_database_on_every_probe(tmp_path):
    """Readiness is checked on each probe: not cached either way."""
    folder = tmp_path / "data"
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{folder}/gateway.db"})
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    if not database.is_closed():
        database.close()
    moved = tmp_path / "moved-away"
    shutil.move(folder, moved)  # the database file vanished (a pooled connection would not notice)
    folder.write_text("a file where the database folder should be")
    assert client.get("/readyz").status_code == 503
    folder.unlink()
    shutil.move(moved, folder)  # and came back
    assert client.get("/readyz").status_code == 200


def test_scim_request_while_the_database_is_down_is_a_clean_scim_error(unreachable_app):
    """Not ready is not a crash page: a SCIM client gets a SCIM error without internals."""
    client = unreachable_app.test_client()
    response = client.get("/scim/v2/Users", headers={"Authorization": "Bearer scimgw_whatever"})
    assert response.status_code in (500, 503)
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(response.status_code)
    assert body["detail"]
    text = response.get_data(as_text=True)
    for internal in ("secret", "127.0.0.1", "Traceback", "psycopg", "OperationalError"):
        assert internal not in text, internal
