"""Secrets never leak: a live ``scim-gateway serve`` is driven through a whole scenario, then
everything the run wrote is searched for every secret it issued.

Searched: the server's log (stdout and stderr), every response's status, headers and body
except the few answers that show a new secret once, the audit log (admin API list and
export), the console's pages, and the database itself (the SQLite files, WAL included, or
on PostgreSQL every row of every table). Looked for: each token and admin key whole, and
every 12-character piece of its part after the display prefix, so a near-miss, a
truncated copy or a copy without the prefix would be found too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests

from tests.conftest import PATCH_SCHEMA, TEST_DATABASE, start_server, stop_server

TOKEN_PREFIX, KEY_PREFIX = 12, 16  # display prefixes kept in clear (tokens, admin keys)
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"}


class Recorder:
    """Sends requests and keeps what came back, except the answers that show a secret once."""

    def __init__(self, base: str, seen: list[bytes]):
        self.base = base
        self.session = requests.Session()
        self.seen = seen

    def send(self, method: str, path: str, *, status: int, showing: bool = False, **kwargs) -> requests.Response:
        response = self.session.request(method, self.base + path, timeout=30, allow_redirects=False, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text[:500])
        if not showing:
            self.seen.append(f"{response.status_code} {dict(response.headers)}\n".encode() + response.content)
        return response


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def near_miss(secret: str) -> str:
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def shown_token(page: str) -> str:
    return re.search(r'<textarea id="secret-token"[^>]*>(scimgw_[A-Za-z0-9_-]+)</textarea>', page).group(1)


def database_bytes(database_url: str) -> bytes:
    """The raw SQLite files (main and WAL), or every row of every PostgreSQL table as text."""
    if database_url.startswith("sqlite:///"):
        main = Path(database_url.removeprefix("sqlite:///"))
        return b"".join(path.read_bytes() for path in main.parent.glob(main.name + "*"))
    import psycopg2

    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [row[0] for row in cursor.fetchall()]
            dump = []
            for table in tables:
                cursor.execute(f'SELECT * FROM "{table}"')
                dump.append(f"{table}: {cursor.fetchall()!r}")
    finally:
        connection.close()
    return "\n".join(dump).encode()


def pieces(secret: str, prefix: int) -> list[bytes]:
    """The whole secret and every 12-character piece of its part after the display prefix."""
    tail = secret[prefix:]
    return [secret.encode()] + [tail[i:i + 12].encode() for i in range(len(tail) - 11)]


def scim_traffic(api: Recorder, good: str, revoked: str, other_tenant: str, key: str) -> None:
    """SCIM requests with a current token, and with every kind of wrong one."""
    acme = "/tenants/acme/scim/v2"
    user = api.send("POST", f"{acme}/Users", json=USER, headers=bearer(good), status=201).json()
    api.send("GET", f"{acme}/Users", params={"filter": 'userName eq "ada@example.com"'}, headers=bearer(good),
             status=200)
    api.send("PATCH", f"{acme}/Users/{user['id']}", headers=bearer(good), status=200,
             json={"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": False}]})
    api.send("GET", "/scim/v2/Users", headers={**bearer(good), "X-Request-ID": good}, status=200)
    for wrong in (near_miss(good), revoked, other_tenant, key):
        api.send("GET", f"{acme}/Users", headers=bearer(wrong), status=401)
    api.send("GET", f"{acme}/Users", params={"access_token": good}, status=401)
    # the secret pasted into the wrong place is not echoed in the error
    api.send("GET", f"{acme}/Users", params={"count": good}, headers=bearer(good), status=400)
    api.send("GET", f"{acme}/Users/{good}", headers=bearer(good), status=404)
    api.send("POST", f"{acme}/Users", json={**USER, "userName": good}, headers=bearer(good), status=400)


def test_no_secret_is_written_anywhere_after_its_one_showing(tmp_path, database_url):
    server = start_server(tmp_path, database_url)
    seen: list[bytes] = []
    keys, tokens = [], []
    try:
        root = json.loads(server.cli("admin-keys", "create", "root", "--json"))["key"]
        temp = json.loads(server.cli("admin-keys", "create", "temp", "--json"))["key"]
        keys += [root, temp]
        api = Recorder(server.url, seen)
        admin = bearer(root)

        acme = api.send("POST", "/admin/v1/tenants", json={"slug": "acme"}, headers=admin, status=201, showing=True)
        other = api.send("POST", "/admin/v1/tenants", json={"slug": "other"}, headers=admin, status=201,
                         showing=True)
        first, other_token = acme.json()["token"], other.json()["token"]
        rotated = api.send("POST", "/admin/v1/tenants/acme/tokens", json={"grace_seconds": 3600}, headers=admin,
                           status=201, showing=True).json()
        api.send("DELETE", f"/admin/v1/tenants/acme/tokens/{first[:TOKEN_PREFIX]}", headers=admin, status=204)
        from_cli = json.loads(server.cli("tenants", "rotate-token", "acme", "--grace-seconds", "3600", "--json"))
        tokens += [first, other_token, rotated["token"], from_cli["token"]]

        api.send("GET", "/admin/v1/tenants", headers=bearer(temp), status=200)
        server.cli("admin-keys", "revoke", "temp")
        api.send("GET", "/admin/v1/tenants", headers=bearer(temp), status=401)
        api.send("GET", "/admin/v1/tenants", headers=bearer(near_miss(root)), status=401)
        api.send("GET", "/admin/v1/tenants", headers=bearer(rotated["token"]), status=401)
        api.send("GET", f"/admin/v1/tenants/{root}", headers=admin, status=404)
        for path in ("/admin/v1/tenants", "/admin/v1/tenants/acme", "/admin/v1/tenants/acme/tokens"):
            api.send("GET", path, headers=admin, status=200)

        scim_traffic(api, rotated["token"], first, other_token, root)
        api.send("GET", "/tenants/acme/scim/v2/Users", headers=bearer(from_cli["token"]), status=200)

        console = Recorder(server.url, seen)
        form = csrf_of(console.send("GET", "/console/login", status=200).text)
        console.send("POST", "/console/login", data={"csrf_token": form, "key": near_miss(root)}, status=401)
        console.send("POST", "/console/login", data={"csrf_token": form, "key": root}, status=303)
        page = console.send("GET", "/console/tenants/acme", status=200).text
        shown = console.send("POST", "/console/tenants/acme/token", data={"csrf_token": csrf_of(page),
                                                                          "grace": "3600"},
                             status=200, showing=True).text
        created = console.send("POST", "/console/new-tenant", data={"csrf_token": csrf_of(page), "slug": "beta"},
                               status=201, showing=True).text
        tokens += [shown_token(shown), shown_token(created)]
        for path in ("/console/", "/console/tenants/acme", "/console/tenants/beta", "/console/tenants/acme/audit"):
            console.send("GET", path, status=200)

        audit = api.send("GET", "/admin/v1/tenants/acme/audit", params={"per_page": 100}, headers=admin,
                         status=200).json()
        assert {"token_issued", "token_revoked", "create"} <= {item["action"] for item in audit["items"]}
        api.send("GET", "/admin/v1/tenants/acme/audit/export", headers=admin, status=200)
    finally:
        stop_server(server.process)

    written = {
        "server log": server.log.read_bytes(),
        "responses": b"\n".join(seen),
        f"{TEST_DATABASE} database": database_bytes(database_url),
    }
    # what was searched is the real thing: the log has the access lines, the database the prefixes
    assert b'"logger":"scim_gateway.access"' in written["server log"]
    assert all(token[:TOKEN_PREFIX].encode() in written[f"{TEST_DATABASE} database"] for token in tokens)
    assert len(set(tokens)) == 6 and len(set(keys)) == 2
    for secret, prefix in [(token, TOKEN_PREFIX) for token in tokens] + [(key, KEY_PREFIX) for key in keys]:
        for where, data in written.items():
            leaked = [piece for piece in pieces(secret, prefix) if piece in data]
            assert not leaked, f"{secret[:prefix]}... found in the {where}: {leaked[:3]}"
