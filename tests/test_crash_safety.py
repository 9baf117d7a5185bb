"""Crash safety: SIGKILL a real gunicorn (master and workers) mid-stream, restart it on the
same database, and prove nothing acknowledged was lost and nothing was half-applied.

Runs on the database ``database_url`` gives (SQLite, or PostgreSQL in CI's second run).
Each client thread owns its own users and groups (names ``c<client>-...``), so what it
expects is decided by its own acknowledged requests alone; it stops at its first request
that got no answer, so at most one request per client is in doubt. That request must be
either wholly applied or not at all, and its audit event must exist exactly when its
change does. Every request carries its own ``X-Request-ID``, which the audit log records,
so each audit event is tied to the one request that made it.
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import requests

from tenants.db import close_pool, open_database, sqlite_path

from .conftest import start_server, stop_server

pytestmark = pytest.mark.live

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"
WORKERS = 2
CLIENTS = 4
#: The server is killed once the clients together have this many writes acknowledged.
KILL_AFTER = 60
#: A bound on each client's requests; far more than it sends before the kill.
MAX_REQUESTS = 400
SLUG = "crash"


@dataclass
class State:
    """What one client's resources are: ``users`` by userName, ``groups`` by displayName."""

    users: dict[str, dict] = field(default_factory=dict)  # {"id", "givenName", "familyName"}
    groups: dict[str, dict] = field(default_factory=dict)  # {"id", "members": set of userNames}

    def view(self) -> tuple[dict, dict]:
        """The state without ids (an unanswered create's id is unknown), for comparison."""
        return ({name: (user["givenName"], user["familyName"]) for name, user in self.users.items()},
                {name: sorted(group["members"]) for name, group in self.groups.items()})


@dataclass
class Write:
    """One write request, its audit action, and what it does to the state if applied."""

    method: str
    path: str
    body: dict
    action: str
    resource_type: str
    effect: Callable[[State, dict | None], None]  # (state, response body or None) -> mutate state

    def applied_to(self, state: State, response: dict | None = None) -> State:
        """A copy of ``state`` with this write applied."""
        after = copy.deepcopy(state)
        self.effect(after, response)
        return after


@dataclass
class Sent:
    """A request a client sent; ``status`` stays ``None`` when no answer came."""

    client: int
    request_id: str
    write: Write
    before: State
    status: int | None = None
    response: dict | str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def resource_id(self) -> str | None:
        """The id the write acted on: from its path, or from the answer to a create."""
        if self.write.method == "POST":
            return (self.response or {}).get("id")
        return self.write.path.rsplit("/", 1)[1]


class Workload:
    """One client's stream of writes, chosen (seeded) from its acknowledged state only."""

    def __init__(self, client: int):
        self.client = client
        self.state = State()
        self.rng = random.Random(client)
        self.serial = 0

    def _name(self, kind: str) -> str:
        self.serial += 1
        return f"c{self.client}-{kind}{self.serial}"

    def next_write(self) -> Write:
        """A valid write that changes something, given everything acknowledged so far."""
        users, groups, roll = self.state.users, self.state.groups, self.rng.random()
        if len(users) < 3 or roll < 0.25:
            return self._create_user()
        if not groups or roll < 0.35:
            return self._create_group()
        group_name = self.rng.choice(sorted(groups))
        group = groups[group_name]
        outside = sorted(set(users) - group["members"])
        if roll < 0.55 and outside:
            return self._add_member(group_name, self.rng.choice(outside))
        if roll < 0.72 and group["members"]:
            return self._remove_member(group_name, self.rng.choice(sorted(group["members"])))
        if roll < 0.85:
            return self._rename(self.rng.choice(sorted(users)))
        if roll < 0.95:
            return self._delete_user(self.rng.choice(sorted(users)))
        return self._delete_group(group_name)

    def _create_user(self) -> Write:
        name = self._name("u") + "@example.com"
        given, family = f"Given{self.serial}", f"Family{self.serial}"

        def effect(state, response):
            state.users[name] = {"id": response and response["id"], "givenName": given, "familyName": family}
        return Write("POST", "/Users", {"userName": name, "name": {"givenName": given, "familyName": family}},
                     "create", "User", effect)

    def _create_group(self) -> Write:
        name = self._name("g")
        members = self.rng.sample(sorted(self.state.users), k=min(2, len(self.state.users)))
        body = {"displayName": name, "members": [{"value": self.state.users[m]["id"]} for m in members]}

        def effect(state, response):
            state.groups[name] = {"id": response and response["id"], "members": set(members)}
        return Write("POST", "/Groups", body, "create", "Group", effect)

    def _add_member(self, group_name: str, user_name: str) -> Write:
        body = {"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": self.state.users[user_name]["id"]}]}]}
        return Write("PATCH", f"/Groups/{self.state.groups[group_name]['id']}", body, "members_added", "Group",
                     lambda state, _: state.groups[group_name]["members"].add(user_name))

    def _remove_member(self, group_name: str, user_name: str) -> Write:
        body = {"schemas": [PATCH], "Operations": [
            {"op": "remove", "path": f'members[value eq "{self.state.users[user_name]["id"]}"]'}]}
        return Write("PATCH", f"/Groups/{self.state.groups[group_name]['id']}", body, "members_removed", "Group",
                     lambda state, _: state.groups[group_name]["members"].discard(user_name))

    def _rename(self, user_name: str) -> Write:
        given = f"Renamed{self._name('n')}"
        body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "name.givenName", "value": given}]}
        return Write("PATCH", f"/Users/{self.state.users[user_name]['id']}", body, "patch", "User",
                     lambda state, _: state.users[user_name].update(givenName=given))

    def _delete_user(self, user_name: str) -> Write:
        def effect(state, _):
            del state.users[user_name]
            for group in state.groups.values():
                group["members"].discard(user_name)
        return Write("DELETE", f"/Users/{self.state.users[user_name]['id']}", {}, "delete", "User", effect)

    def _delete_group(self, group_name: str) -> Write:
        return Write("DELETE", f"/Groups/{self.state.groups[group_name]['id']}", {}, "delete", "Group",
                     lambda state, _: state.groups.pop(group_name))


class Stream:
    """Client threads writing until the server stops answering; every request is logged."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.token = token
        self.sent: list[Sent] = []
        self.workloads = [Workload(client) for client in range(CLIENTS)]
        self._lock = threading.Lock()
        self._acknowledged = 0
        self.enough = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(w,), daemon=True) for w in self.workloads]

    def _run(self, workload: Workload) -> None:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {self.token}", "Content-Type": SCIM_JSON})
        for number in range(MAX_REQUESTS):
            write = workload.next_write()
            sent = Sent(workload.client, f"crash-c{workload.client}-{number}", write, workload.state)
            with self._lock:
                self.sent.append(sent)
            try:
                response = session.request(write.method, self.base + write.path,
                                           data=json.dumps(write.body) if write.body else None,
                                           headers={"X-Request-ID": sent.request_id}, timeout=60)
            except requests.RequestException:
                return  # no answer: the server died with this request in flight (or unsent)
            sent.status = response.status_code
            if response.content:  # an error page that is not JSON is kept as text for the report
                sent.response = response.json() if "json" in response.headers.get("Content-Type", "") else response.text
            if sent.acknowledged:
                workload.state = write.applied_to(workload.state, sent.response)
                with self._lock:
                    self._acknowledged += 1
                    if self._acknowledged >= KILL_AFTER:
                        self.enough.set()

    def start(self) -> None:
        """Start every client thread."""
        for thread in self.threads:
            thread.start()

    def wait_for_enough(self) -> None:
        """Block until :data:`KILL_AFTER` writes are acknowledged (fail if the clients stop first)."""
        while not self.enough.wait(0.1):
            assert any(thread.is_alive() for thread in self.threads), self.unexpected()

    def join(self) -> None:
        """Wait for every client to stop (each stops at its first unanswered request)."""
        for thread in self.threads:
            thread.join(timeout=120)
            assert not thread.is_alive()

    def unexpected(self) -> list[tuple]:
        """Answers that were not 2xx (the workload only sends valid writes)."""
        return [(s.request_id, s.write.method, s.write.path, s.status, s.response)
                for s in self.sent if s.status is not None and not s.acknowledged]

    def in_doubt(self, client: int) -> Sent | None:
        """The client's last request, if it got no answer."""
        last = [s for s in self.sent if s.client == client][-1]
        return last if last.status is None else None


def _processes_with_parent(parent: int) -> list[int]:
    """PIDs whose parent is ``parent`` (Linux ``/proc``): a gunicorn master's workers."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def kill_server(process) -> None:
    """SIGKILL the gunicorn master this test started and the workers it forked, at once.

    The master goes first, so it cannot fork replacements for the workers killed after it.
    """
    workers = _processes_with_parent(process.pid)
    assert len(workers) == WORKERS, workers
    for pid in [process.pid, *workers]:
        os.kill(pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} survived SIGKILL"
        time.sleep(0.05)


def scim_state(session: requests.Session, base: str) -> tuple[dict[int, State], list[tuple[str, str]]]:
    """Every client's state as SCIM shows it, and every (group id, member id) pair shown.

    Asserts that each member shown is a user the tenant has (nothing half-applied).
    """
    users = session.get(f"{base}/Users", params={"count": 1000}).json()
    groups = session.get(f"{base}/Groups", params={"count": 1000}).json()
    assert users["totalResults"] == len(users["Resources"]) and groups["totalResults"] == len(groups["Resources"])
    names = {user["id"]: user["userName"] for user in users["Resources"]}
    states = {client: State() for client in range(CLIENTS)}
    for user in users["Resources"]:
        client = int(user["userName"].split("-", 1)[0][1:])
        states[client].users[user["userName"]] = {
            "id": user["id"], "givenName": user["name"]["givenName"], "familyName": user["name"]["familyName"]}
    pairs = []
    for group in groups["Resources"]:
        member_ids = [member["value"] for member in group.get("members", [])]
        assert set(member_ids) <= set(names), f"group {group['displayName']} lists members that are not users"
        client = int(group["displayName"].split("-", 1)[0][1:])
        states[client].groups[group["displayName"]] = {"id": group["id"], "members": {names[m] for m in member_ids}}
        pairs += [(group["id"], member) for member in member_ids]
    return states, sorted(pairs)


def check_database(url: str) -> list[tuple[str, str]]:
    """Check the database directly; return every (group id, user id) membership row.

    No membership row may point at a missing user or group; on SQLite the file must pass
    ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``.
    """
    db = open_database(url, pool_size=1)
    try:
        with db.connection_context():
            if sqlite_path(url) is not None:
                assert db.execute_sql("PRAGMA integrity_check").fetchall() == [("ok",)]
                assert db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
            orphans = db.execute_sql(
                "SELECT m.group_id, m.user_id FROM membership m"
                " LEFT JOIN scim_user u ON u.id = m.user_id LEFT JOIN scim_group g ON g.id = m.group_id"
                " WHERE u.id IS NULL OR g.id IS NULL OR u.deleted_at IS NOT NULL").fetchall()
            assert orphans == []
            return sorted(tuple(row) for row in db.execute_sql("SELECT group_id, user_id FROM membership"))
    finally:
        close_pool(db)


def audit_events(server_url: str, admin_key: str) -> list[dict]:
    """The tenant's whole audit log, through the admin API's export."""
    response = requests.get(f"{server_url}/admin/v1/tenants/{SLUG}/audit/export",
                            headers={"Authorization": f"Bearer {admin_key}"}, timeout=60)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def check_audit(events: list[dict], stream: Stream, applied: dict[str, bool]) -> None:
    """Exactly one event per acknowledged write, one per in-doubt write that took effect,
    none for anything else; each names the write's action and resource."""
    scim_events = [event for event in events if event["actor"] != "cli"]
    assert [event["action"] for event in events if event["actor"] == "cli"] == ["tenant_created"]
    by_request = {}
    for event in scim_events:
        assert event["request_id"] not in by_request, f"two audit events for {event['request_id']}"
        by_request[event["request_id"]] = event
    expected = {s.request_id: s for s in stream.sent if s.acknowledged or applied.get(s.request_id)}
    assert sorted(by_request) == sorted(expected), "audit events do not match the changes made"
    for request_id, sent in expected.items():
        event = by_request[request_id]
        assert (event["action"], event["resource_type"]) == (sent.write.action, sent.write.resource_type), event
        if sent.acknowledged:
            assert event["resource_id"] == sent.resource_id(), event


def test_sigkill_mid_stream_loses_no_acknowledged_write_and_half_applies_none(tmp_path, database_url):
    server = start_server(tmp_path, database_url, workers=WORKERS)
    try:
        token = server.create_tenant(SLUG)["token"]
        admin_key = json.loads(server.cli("admin-keys", "create", "crash-test", "--json"))["key"]
        stream = Stream(f"{server.url}/tenants/{SLUG}/scim/v2", token)
        stream.start()
        stream.wait_for_enough()
        kill_server(server.process)
    finally:
        stop_server(server.process)
    stream.join()
    assert stream.unexpected() == []
    in_doubt = [stream.in_doubt(client) for client in range(CLIENTS)]
    assert all(in_doubt), "each client stops at a request the dead server never answered"

    server = start_server(tmp_path, database_url, workers=WORKERS)
    try:
        base = f"{server.url}/tenants/{SLUG}/scim/v2"
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON})
        actual, pairs = scim_state(session, base)
        applied = {}
        for client, workload in enumerate(stream.workloads):
            acknowledged, pending = workload.state, in_doubt[client]
            for kind in ("users", "groups"):  # acknowledged creates kept the ids they were answered with
                found = getattr(actual[client], kind)
                for name, resource in getattr(acknowledged, kind).items():
                    assert name not in found or found[name]["id"] == resource["id"], name
            completed = pending.write.applied_to(pending.before)
            assert actual[client].view() in (acknowledged.view(), completed.view()), (
                f"client {client}: state is neither before nor after its in-doubt {pending.write.method} "
                f"{pending.write.path}")
            applied[pending.request_id] = actual[client].view() == completed.view()
        assert check_database(database_url) == pairs
        check_audit(audit_events(server.url, admin_key), stream, applied)

        # the restarted gateway takes new writes as usual
        user = session.post(f"{base}/Users", json={"userName": "after@example.com"})
        assert user.status_code == 201, user.text
        user_id = user.json()["id"]
        group = session.post(f"{base}/Groups", json={"displayName": "after", "members": [{"value": user_id}]})
        assert group.status_code == 201 and [m["value"] for m in group.json()["members"]] == [user_id], group.text
        removed = session.patch(f"{base}/Groups/{group.json()['id']}", json={"schemas": [PATCH], "Operations": [
            {"op": "remove", "path": f'members[value eq "{user_id}"]'}]})
        assert removed.status_code == 200 and removed.json().get("members", []) == [], removed.text
        assert session.delete(f"{base}/Users/{user_id}").status_code == 204
        assert session.get(f"{base}/Users/{user_id}").status_code == 404
        after = [event["action"] for event in audit_events(server.url, admin_key)[-4:]]
        assert after == ["create", "create", "members_removed", "delete"]
    finally:
        stop_server(server.process)
