"""Concurrency against a real multi-worker gunicorn (`scim-gateway serve --workers 4`), on
SQLite and on PostgreSQL: the database, not luck, decides duplicates and keeps writes."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tenants import services
from tests.conftest import start_server, stop_server

pytestmark = pytest.mark.live
SCIM_JSON = {"Content-Type": "application/scim+json"}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    """A 4-worker server on an empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/live.db"
    else:
        url = request.getfixturevalue("postgres_database_url")
    live = start_server(tmp_path, url, workers=4)
    yield live
    stop_server(live.process)


def tenant_session(server, slug: str) -> tuple[requests.Session, str]:
    tenant = server.create_tenant(slug)
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {tenant['token']}", **SCIM_JSON})
    return session, tenant["tenant_url"]


def test_sixteen_concurrent_creates_of_one_username_give_one_201_and_fifteen_409(server):
    session, base = tenant_session(server, "race")

    def create(index: int) -> int:
        body = {"userName": "Same.Person@example.com" if index % 2 else "same.person@EXAMPLE.com",
                "externalId": f"attempt-{index}"}
        return requests.post(f"{base}/Users", data=json.dumps(body), headers=session.headers, timeout=30).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(create, range(16)))
    assert sorted(statuses) == [201] + [409] * 15
    listed = session.get(f"{base}/Users", params={"filter": 'userName eq "same.person@example.com"'}).json()
    assert listed["totalResults"] == 1


def test_eight_clients_adding_disjoint_members_to_one_group_lose_none(server):
    session, base = tenant_session(server, "team")
    users = [session.post(f"{base}/Users", data=json.dumps({"userName": f"u{i}@example.com"})).json()["id"]
             for i in range(40)]
    group = session.post(f"{base}/Groups", data=json.dumps({"displayName": "Everyone"})).json()["id"]

    def add(chunk: list[str]) -> list[int]:
        codes = []
        for user in chunk:
            body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]}
            codes.append(requests.patch(f"{base}/Groups/{group}", data=json.dumps(body),
                                        headers=session.headers, timeout=30).status_code)
        return codes

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(add, [users[i::8] for i in range(8)]))
    assert all(code == 200 for codes in results for code in codes), results
    members = session.get(f"{base}/Groups/{group}").json()["members"]
    assert sorted(m["value"] for m in members) == sorted(users)


def test_a_disabled_tenant_is_refused_by_every_worker_within_a_second_of_the_admin_disabling_it(server):
    """Workers trust a token's row for services.TRUST_SECONDS (issue 6 allows one second):
    once that has passed since the disable committed, every worker refuses."""
    assert 0 < services.TRUST_SECONDS <= 1
    session, base = tenant_session(server, "toggle")
    with ThreadPoolExecutor(8) as pool:  # warm every worker's per-tenant caches
        assert set(pool.map(lambda _: session.get(f"{base}/Users").status_code, range(32))) == {200}
    server.cli("tenants", "disable", "toggle")  # another process: committed when it returns
    time.sleep(services.TRUST_SECONDS)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{base}/Users", headers=session.headers,
                                                        timeout=30).status_code, range(32)))
    assert set(statuses) == {403}


def test_concurrent_deletes_of_users_sharing_groups_all_succeed(server):
    """Entra deprovisions in parallel, and its users share groups: each DELETE updates every
    group the user was in, so two of them must not deadlock over those groups."""
    session, base = tenant_session(server, "offboard")
    users = [session.post(f"{base}/Users", data=json.dumps({"userName": f"leaver{i}@example.com"})).json()["id"]
             for i in range(48)]
    groups = []
    for index in range(12):  # every user in every group, each group listing them in its own order
        ordered = users[index:] + users[:index]
        body = {"displayName": f"Team {index}", "members": [{"value": user} for user in ordered]}
        groups.append(session.post(f"{base}/Groups", data=json.dumps(body)).json()["id"])

    def delete(user: str) -> int:
        return requests.delete(f"{base}/Users/{user}", headers=session.headers, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(delete, users))
    assert statuses == [204] * len(users)
    for group in groups:
        answer = session.get(f"{base}/Groups/{group}").json()
        assert answer.get("members", []) == []
    assert session.get(f"{base}/Users").json()["totalResults"] == 0
