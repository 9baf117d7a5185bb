"""Structured logs: one line per request with its request id, tenant, route pattern, status.

In process, the lines are the ``scim_gateway.access`` records (``caplog``); under
``scim-gateway serve`` they are JSON objects on stderr, and gunicorn's own access line
(which would repeat the raw path and query string) is gone.
"""

from __future__ import annotations

import json
import logging

import pytest
import requests

from gateway import access_log
from gateway.access_log import LOGGER
from gateway.app import create_app
from tenants import admin_keys
from tenants.db import database
from tests.conftest import Scim, start_server, stop_server

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"}


def lines_by_request_id(caplog) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for record in caplog.records:
        if record.name == LOGGER:
            found.setdefault(record.fields["request_id"], []).append(record.fields)
    return found


def one_line(caplog, response) -> dict:
    """The single access-log line of ``response`` (found by its X-Request-ID)."""
    lines = lines_by_request_id(caplog).get(response.headers["X-Request-ID"], [])
    assert len(lines) == 1, lines
    return lines[0]


def test_each_request_logs_one_line_whose_request_id_matches_header_and_audit(app, client, make_tenant, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    tenant = make_tenant("acme")
    scim = Scim(client, tenant)
    with database.connection_context():
        _, key = admin_keys.create("ops")

    created = scim.post("/Users", USER, headers={"X-Request-ID": "entra-7f3a.1"})
    assert created.status_code == 201 and created.headers["X-Request-ID"] == "entra-7f3a.1"
    user_id = created.get_json()["id"]
    line = one_line(caplog, created)
    assert line == {"request_id": "entra-7f3a.1", "tenant": "acme", "method": "POST",
                    "route": "/tenants/<tenant>/scim/v2/Users", "status": 201,
                    "duration_ms": line["duration_ms"], "client": "127.0.0.1",
                    "actor": f"token:{tenant.token[:12]}"}
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    audit = client.get("/admin/v1/tenants/acme/audit", headers={"Authorization": f"Bearer {key}"})
    (event,) = [item for item in audit.get_json()["items"] if item["action"] == "create"]
    assert event["request_id"] == "entra-7f3a.1" == line["request_id"]

    fetched = scim.get(f"/Users/{user_id}", query_string={"attributes": "userName"})
    assert one_line(caplog, fetched)["route"] == "/tenants/<tenant>/scim/v2/Users/<string:resource_id>"
    listed = scim.get("/Users", query_string={"filter": 'userName eq "grace.hopper@example.com"'})
    assert one_line(caplog, listed)["status"] == 200
    shared = Scim(client, tenant, base="/scim/v2").get("/Groups")
    assert one_line(caplog, shared)["route"] == "/scim/v2/Groups"

    denied = client.get("/tenants/acme/scim/v2/Users", headers={"Authorization": "Bearer nope"})
    assert {k: one_line(caplog, denied)[k] for k in ("tenant", "actor", "status")} == \
        {"tenant": None, "actor": None, "status": 401}
    missing = client.get(f"/no/such/{user_id}")
    assert {k: one_line(caplog, missing)[k] for k in ("route", "status")} == {"route": None, "status": 404}
    admin = client.get("/admin/v1/tenants/acme", headers={"Authorization": f"Bearer {key}"})
    assert {k: one_line(caplog, admin)[k] for k in ("tenant", "actor", "route")} == \
        {"tenant": "acme", "actor": "admin:ops", "route": "/admin/v1/tenants/<slug>"}

    # no raw path with ids, no query string values, ever
    everything = json.dumps([record.fields for record in caplog.records if record.name == LOGGER]) + caplog.text
    assert user_id not in everything and "grace.hopper" not in everything


def test_an_unexpected_error_is_logged_with_status_500(app, client, caplog):
    def boom():
        raise RuntimeError("a bug")

    app.add_url_rule("/boom", "boom", boom)
    caplog.set_level(logging.INFO, logger=LOGGER)
    response = client.get("/boom")
    assert response.status_code == 500
    assert one_line(caplog, response)["status"] == 500


def test_a_secret_sent_as_x_request_id_is_replaced_not_echoed(client, tenant, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    response = client.get(f"/tenants/{tenant.slug}/scim/v2/Users",
                          headers={"Authorization": f"Bearer {tenant.token}", "X-Request-ID": tenant.token})
    assert response.status_code == 200
    assert len(response.headers["X-Request-ID"]) == 32 and tenant.token not in str(response.headers)
    assert one_line(caplog, response)["request_id"] == response.headers["X-Request-ID"]


@pytest.fixture
def stderr_lines(capsys):
    """Function: the lines written to stderr so far; the gateway's log handler is removed after."""
    yield lambda: capsys.readouterr().err.splitlines()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == access_log.HANDLER_NAME]:
        root.removeHandler(handler)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_format_chooses_text_or_json_lines_on_stderr(stderr_lines, database_url, log_format):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "LOG_FORMAT": log_format})
    app.test_client().get("/scim/v2/Users", headers={"X-Request-ID": "r-1", "Authorization": "Bearer x"})
    logging.getLogger("gateway.test").warning("oops %s", "scimgw_" + "s" * 43)
    first, second = stderr_lines()
    if log_format == "json":
        assert json.loads(first)["route"] == "/scim/v2/Users" and json.loads(first)["request_id"] == "r-1"
        assert json.loads(second)["message"] == "oops [redacted]"
    else:
        assert "INFO scim_gateway.access [r-1] GET /scim/v2/Users 401" in first
        assert second.endswith("WARNING gateway.test [-] oops [redacted]")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        create_app({"TESTING": True, "DATABASE_URL": database_url, "LOG_FORMAT": "xml"})


def test_serve_writes_one_json_line_per_request_and_no_gunicorn_access_line(tmp_path, database_url):
    server = start_server(tmp_path, database_url, workers=1)
    try:
        sent = [
            requests.get(f"{server.url}/tenants/acme/scim/v2/Users?filter=userName%20eq%20%22zed%40example.com%22",
                         headers={"Authorization": "Bearer wrong"}, timeout=10),
            requests.get(f"{server.url}/no/such/page", timeout=10),
            requests.get(f"{server.url}/healthz", headers={"X-Request-ID": "probe-1"}, timeout=10),
        ]
    finally:
        stop_server(server.process)
    log = server.log.read_text()
    access = [json.loads(line) for line in log.splitlines() if f'"logger":"{LOGGER}"' in line]
    for response in sent:
        matching = [line for line in access if line["request_id"] == response.headers["X-Request-ID"]]
        assert len(matching) == 1 and matching[0]["status"] == response.status_code, matching
    assert [line["route"] for line in access if line["request_id"] == "probe-1"] == ["/healthz"]
    assert "zed" not in log and "/no/such/page" not in log and "HTTP/1.1" not in log
