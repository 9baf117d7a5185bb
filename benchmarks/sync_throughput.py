"""How close to the bare-Flask ceiling does the gateway run an Entra initial sync over HTTP?

Run from the repository root::

    python benchmarks/sync_throughput.py                # 10,000 users, 20 groups, 8 clients, SQLite
    python benchmarks/sync_throughput.py --postgres     # the same on SQLite, then on PostgreSQL
    python benchmarks/sync_throughput.py --postgres-only --users 100000   # PostgreSQL alone
    python benchmarks/sync_throughput.py --quick        # 1,000 users: a quick check that it all works

Per database, it starts ``scim-gateway serve --workers W --threads T`` (the CLI's defaults
unless given) on a free loopback port with a fresh database (a SQLite file in a temporary
folder; with ``--postgres`` also a fresh PostgreSQL database, dropped afterwards), creates
a tenant with ``scim-gateway tenants create --json`` and turns its rate limit off with
``scim-gateway tenants configure``. Then N clients (threads, one keep-alive HTTP/1.1
connection each, :class:`Client`) replay what Microsoft Entra sends during an initial sync:

1. ``users``: per user ``GET /Users?filter=userName eq "<u>"`` (none found), then ``POST /Users``
   (the body of ``tests/samples/entra/01-create-user.json``, userName an email);
2. ``groups``: per group ``GET /Groups?excludedAttributes=members&filter=displayName eq "<g>"``,
   then ``POST /Groups`` without members;
3. ``members``: ``PATCH /Groups/<id>`` with one ``Add`` of up to 50 members (each user is in
   1 to 3 groups), without ``excludedAttributes``, as Entra sends it;
4. ``updates``: ``PATCH /Users/<id>`` ``Replace`` of ``name.givenName`` on a sample of users,
   alternately with a ``path`` and path-less with a dotted key (``{"name.givenName": ...}``);
5. ``paging``: every user, ``GET /Users?startIndex=...&count=100``;
6. ``deprovision``: on a sample of users ``PATCH`` ``active`` to ``"False"`` (Entra's default
   string), then ``DELETE``.

The same request sequence also runs against ``benchmarks/ceiling_app.py``: a bare Flask app
with canned answers of the right shape and status, under the same gunicorn settings. That is
the ceiling of this stack on this machine. Both servers run side by side and each phase goes
to the gateway, then at once to the ceiling, so both see about the same background load.
For each phase the table gives operations (HTTP requests) per second, p50/p95/p99 latency
as the client sees it, and the ratio gateway/ceiling of the throughputs; then the whole sync. After the sync it reads each
gateway worker's peak RSS (``VmHWM`` in ``/proc/<pid>/status``), and checks the end state
(user count, each group's members). The targets (issue 6): overall throughput at least 50%
of the ceiling on SQLite and 40% on PostgreSQL; p99 of every phase under 100 ms with 8 clients.

The client runs on the same machine. A second table says where the CPU went, in cores: the
server (gunicorn master and workers), PostgreSQL's backends for the benchmark database, this
client, and the whole machine (everything running, other users included); and server CPU
milliseconds per request, which depends much less on other load than requests per second.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import os
import platform
import random
import shlex
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from tests.postgres import fresh_postgres_url  # noqa: E402  (one helper for tests and benchmarks)
from benchmarks.machine import cpu_model, postgres_version  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("SCIM_GATEWAY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTRA_GROUP_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
TENANT = "bench"
TENANT_SETTINGS = {"plugins": {"rate-limit": {"enabled": False}}}
MEMBERS_PER_PATCH = 50
PAGE = 100
TARGET_RATIO = {"SQLite": 0.50, "PostgreSQL": 0.40}
TARGET_P99_MS = 100.0
TARGET_RSS_MB = 150.0
REQUEST_TIMEOUT = 60
SCIM_JSON = "application/scim+json"
PHASES = ("users", "groups", "members", "updates", "paging", "deprovision")


# --------------------------------------------------------------------------- the workload


@dataclass(frozen=True)
class Workload:
    """What one sync sends: sizes and the seeded random choices (identical for both servers)."""

    users: int
    groups: int
    clients: int
    updates: int
    deprovisions: int
    seed: int = 6

    def user_name(self, i: int) -> str:
        return f"user{i:06d}.sync@example.com"

    def group_name(self, j: int) -> str:
        return f"Sync group {j:02d}"

    def memberships(self) -> list[list[int]]:
        """For each group, the indexes of its members: every user in 1 to 3 groups."""
        rng = random.Random(self.seed)
        members: list[list[int]] = [[] for _ in range(self.groups)]
        for i in range(self.users):
            for j in rng.sample(range(self.groups), rng.randint(1, min(3, self.groups))):
                members[j].append(i)
        return members

    def member_batches(self) -> list[tuple[int, list[int]]]:
        """(group, up to 50 user indexes) per PATCH, the groups taking turns."""
        per_group = [[(j, m[k:k + MEMBERS_PER_PATCH]) for k in range(0, len(m), MEMBERS_PER_PATCH)]
                     for j, m in enumerate(self.memberships())]
        return [batch for row in itertools.zip_longest(*per_group) for batch in row if batch is not None]

    def updated_users(self) -> list[int]:
        return sorted(random.Random(self.seed + 1).sample(range(self.users), self.updates))

    def deprovisioned_users(self) -> list[int]:
        return sorted(random.Random(self.seed + 2).sample(range(self.users), self.deprovisions))


@dataclass
class Req:
    """One HTTP request of a task; ``label`` groups its latencies in the report."""

    label: str
    method: str
    path: str
    body: dict | None
    expect: tuple[int, ...]
    then: Callable[[bytes], None] | None = None


@dataclass
class Phase:
    """A phase: tasks (each a list of requests one client sends in a row)."""

    name: str
    count: int
    task: Callable[[int], list[Req]]


@dataclass
class SyncState:
    """What the sync learns from the server: the ids it assigned."""

    user_ids: list[str | None]
    group_ids: list[str | None]


def entra_user(work: Workload, i: int) -> dict:
    """The body Entra POSTs to create a user (tests/samples/entra/01-create-user.json)."""
    name = work.user_name(i)
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "externalId": str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)),
        "userName": name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"Given{i} Family{i}", "familyName": f"Family{i}", "givenName": f"Given{i}"},
        "roles": [],
    }


def entra_group(work: Workload, j: int) -> dict:
    """The body Entra POSTs to create a group (tests/samples/entra/10-create-group.json)."""
    return {
        "schemas": [GROUP_SCHEMA, ENTRA_GROUP_SCHEMA],
        "externalId": str(uuid.UUID(int=random.Random(f"group-{j}").getrandbits(128), version=4)),
        "displayName": work.group_name(j),
        "meta": {"resourceType": "Group"},
    }


def patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def filter_query(expression: str) -> str:
    return quote(expression, safe="")


def phases(work: Workload, state: SyncState) -> list[Phase]:
    """The six phases of an initial sync, in order; later ones use the ids earlier ones got."""

    def none_found(body: bytes) -> None:
        if json.loads(body)["totalResults"] != 0:
            raise AssertionError(f"lookup found an existing resource: {body[:300]!r}")

    def remember(ids: list, index: int) -> Callable[[bytes], None]:
        def store(body: bytes) -> None:
            ids[index] = json.loads(body)["id"]
        return store

    def users(i: int) -> list[Req]:
        name = work.user_name(i)
        lookup = filter_query(f'userName eq "{name}"')
        return [
            Req("GET /Users?filter=userName eq", "GET", f"/Users?filter={lookup}", None, (200,), none_found),
            Req("POST /Users", "POST", "/Users", entra_user(work, i), (201,), remember(state.user_ids, i)),
        ]

    def groups(j: int) -> list[Req]:
        name = work.group_name(j)
        lookup = filter_query(f'displayName eq "{name}"')
        return [
            Req("GET /Groups?excludedAttributes=members&filter=displayName eq", "GET",
                f"/Groups?excludedAttributes=members&filter={lookup}", None, (200,), none_found),
            Req("POST /Groups", "POST", "/Groups", entra_group(work, j), (201,), remember(state.group_ids, j)),
        ]

    batches = work.member_batches()

    def members(k: int) -> list[Req]:
        j, batch = batches[k]
        value = [{"$ref": None, "value": state.user_ids[i]} for i in batch]
        return [Req("PATCH /Groups/<id> Add members (<=50)", "PATCH", f"/Groups/{state.group_ids[j]}",
                    patch({"op": "Add", "path": "members", "value": value}), (200, 204))]

    updated = work.updated_users()

    def updates(k: int) -> list[Req]:
        i = updated[k]
        given = f"Renamed{i}"
        if k % 2:
            return [Req("PATCH /Users/<id> Replace path-less dotted key", "PATCH", f"/Users/{state.user_ids[i]}",
                        patch({"op": "Replace", "value": {"name.givenName": given}}), (200,))]
        return [Req("PATCH /Users/<id> Replace path name.givenName", "PATCH", f"/Users/{state.user_ids[i]}",
                    patch({"op": "Replace", "path": "name.givenName", "value": given}), (200,))]

    def paging(k: int) -> list[Req]:
        return [Req("GET /Users?startIndex&count=100", "GET", f"/Users?startIndex={1 + k * PAGE}&count={PAGE}",
                    None, (200,))]

    gone = work.deprovisioned_users()

    def deprovision(k: int) -> list[Req]:
        path = f"/Users/{state.user_ids[gone[k]]}"
        return [
            Req('PATCH /Users/<id> Replace active "False"', "PATCH", path,
                patch({"op": "Replace", "path": "active", "value": "False"}), (200,)),
            Req("DELETE /Users/<id>", "DELETE", path, None, (204,)),
        ]

    return [
        Phase("users", work.users, users),
        Phase("groups", work.groups, groups),
        Phase("members", len(batches), members),
        Phase("updates", len(updated), updates),
        Phase("paging", math.ceil(work.users / PAGE), paging),
        Phase("deprovision", len(gone), deprovision),
    ]


# --------------------------------------------------------------------------- measuring


@dataclass
class Stats:
    """Latencies (ms) and response sizes (bytes) of some requests."""

    samples: list[float] = field(default_factory=list)
    sizes: int = 0

    def pct(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(p * len(ordered) / 100) - 1)]  # nearest rank

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)


@dataclass
class PhaseResult:
    """One phase against one server: latencies, wall time, and where the CPU went (in cores)."""

    name: str
    wall: float
    total: Stats
    by_label: dict[str, Stats]
    client_cpu: float
    server_cpu: float
    db_cpu: float | None
    machine_busy: float

    @property
    def rate(self) -> float:
        return len(self.total.samples) / self.wall

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU (gunicorn master and workers, plus PostgreSQL's backends) per request, ms."""
        return (self.server_cpu + (self.db_cpu or 0)) * self.wall / len(self.total.samples) * 1000


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``pids``, from /proc/<pid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two samples (a process that appeared in between counts in full)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (a gunicorn master's workers)."""
    found = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(set(found))


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of ``pid`` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmHWM"], values["VmRSS"]


class Failure(Exception):
    """A request got an answer the sync did not expect (or the time budget ran out)."""


class Client:
    """One client of the sync: a keep-alive HTTP/1.1 connection with the tenant's bearer token.

    It is :mod:`http.client` rather than ``requests``: the client shares this machine with
    the servers it measures, and a ``requests.Session`` (its adapter, urllib3 pool and
    response objects) costs five times the CPU per request (0.48 against 0.09 ms per POST
    to the ceiling app, one thread), CPU that the servers would otherwise have had (an
    identity provider does not run on the gateway's machine).
    Like ``requests`` with its default settings, it never retries: any error ends the phase.
    """

    def __init__(self, base: str, token: str):
        parts = urlsplit(base)
        self.prefix = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT)
        self.headers = {"Authorization": f"Bearer {token}", "Accept": SCIM_JSON}
        self.body_headers = {**self.headers, "Content-Type": SCIM_JSON}

    def send(self, method: str, path: str, data: bytes | None) -> tuple[int, bytes]:
        """Send one request; return its status and its whole body."""
        self.connection.request(method, self.prefix + path, body=data,
                                headers=self.headers if data is None else self.body_headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.connection.close()


def run_phase(base: str, token: str, phase: Phase, clients: int, deadline: float,
              server_pids: Callable[[], list[int]], db_pids: Callable[[], list[int]] | None) -> PhaseResult:
    """Send ``phase`` with ``clients`` threads pulling tasks from one shared counter."""
    next_task = itertools.count()
    lock = threading.Lock()
    results: dict[str, Stats] = {}
    errors: list[str] = []
    stop = threading.Event()

    def client() -> None:
        local: dict[str, Stats] = {}
        with Client(base, token) as connection:
            try:
                while not stop.is_set():
                    index = next(next_task)
                    if index >= phase.count:
                        break
                    if time.monotonic() > deadline:
                        raise Failure("the time budget (--max-minutes) ran out")
                    for req in phase.task(index):
                        data = None if req.body is None else json.dumps(req.body).encode()
                        started = time.perf_counter()
                        status, body = connection.send(req.method, req.path, data)
                        elapsed = (time.perf_counter() - started) * 1000
                        if status not in req.expect:
                            raise Failure(f"{req.method} {req.path} -> {status} "
                                          f"(expected {req.expect}): {body[:500]!r}")
                        if req.then is not None:
                            req.then(body)
                        stats = local.setdefault(req.label, Stats())
                        stats.samples.append(elapsed)
                        stats.sizes += len(body)
            except Exception as error:  # noqa: BLE001 - reported by the main thread
                errors.append(f"{type(error).__name__}: {error}")
                stop.set()
        with lock:
            for label, stats in local.items():
                merged = results.setdefault(label, Stats())
                merged.samples += stats.samples
                merged.sizes += stats.sizes

    threads = [threading.Thread(target=client, name=f"client-{n}") for n in range(clients)]
    server0 = cpu_by_pid(server_pids())
    db0 = cpu_by_pid(db_pids()) if db_pids else {}
    cpu0, (busy0, all0) = time.process_time(), machine_jiffies()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - cpu0
    busy1, all1 = machine_jiffies()
    server_cpu = cpu_delta(server0, cpu_by_pid(server_pids()))
    db_cpu = cpu_delta(db0, cpu_by_pid(db_pids())) if db_pids else None
    if errors:
        raise Failure(f"phase {phase.name}: {errors[0]}")
    total = Stats()
    for stats in results.values():
        total.samples += stats.samples
        total.sizes += stats.sizes
    busy = (busy1 - busy0) / max(1, all1 - all0) * (os.cpu_count() or 1)
    return PhaseResult(phase.name, wall, total, results, client_cpu / wall, server_cpu / wall,
                       None if db_cpu is None else db_cpu / wall, busy)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A gunicorn master this script started (its workers are its children)."""

    label: str
    url: str
    process: subprocess.Popen
    log: Path
    env: dict

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def pids(self) -> list[int]:
        return [self.process.pid, *self.workers()]


def start(label: str, command: list[str], env: dict, log: Path, port: int, workers: int) -> Server:
    """Start a server; return once it answers /readyz and all its workers are up."""
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(label, url, process, log, env)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{label} exited early:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if (requests.get(f"{url}/readyz", timeout=1).status_code == 200
                        and len(server.workers()) >= workers):
                    return server
            time.sleep(0.2)
        raise RuntimeError(f"{label} did not become ready:\n{log.read_text()[-3000:]}")
    except BaseException:
        stop(server)
        raise


def stop(server: Server) -> None:
    """Stop the gunicorn master this script started, by its PID (it stops its workers)."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def cli(env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"scim-gateway {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def start_gateway(database_url: str, folder: Path, workers: int, threads: int) -> Server:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SCIM_GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "gateway.cli", "serve", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--threads", str(threads)]
    return start("gateway", command, env, folder / f"gateway-{port}.log", port, workers)


def start_ceiling(folder: Path, workers: int, threads: int) -> Server:
    port = free_port()
    command = [sys.executable, str(ROOT / "benchmarks" / "ceiling_app.py"), "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--threads", str(threads)]
    return start("ceiling", command, dict(os.environ), folder / f"ceiling-{port}.log", port, workers)




class BackendPids:
    """The PIDs of the PostgreSQL backends serving one database (from pg_stat_activity)."""

    def __init__(self, admin_url: str, database_url: str):
        import psycopg2

        self.name = urlsplit(database_url).path.lstrip("/")
        self.connection = psycopg2.connect(admin_url, connect_timeout=5)
        self.connection.autocommit = True

    def __call__(self) -> list[int]:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,))
            return [row[0] for row in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    """One sync against one server."""

    server: Server
    base: str
    token: str
    state: SyncState
    phases: list[Phase]
    results: list[PhaseResult] = field(default_factory=list)
    memory: list[tuple[int, float, float]] = field(default_factory=list)  # pid, VmHWM, VmRSS
    worker_cpu: dict[int, float] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(p.total.samples) for p in self.results)

    @property
    def wall(self) -> float:
        return sum(p.wall for p in self.results)

    @property
    def rate(self) -> float:
        return self.requests / self.wall


def warm_up(base: str, token: str, clients: int) -> None:
    """A few lookups per client (not timed): each worker thread's first request imports and caches."""
    path = "/Users?filter=" + filter_query('userName eq "warm.up@example.com"')
    failures: list[str] = []

    def one() -> None:
        with Client(base, token) as connection:
            for _ in range(4):
                status, body = connection.send("GET", path, None)
                if status != 200:
                    failures.append(f"warm-up lookup -> {status}: {body[:500]!r}")
                    return

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise Failure(failures[0])


def new_run(server: Server, base: str, token: str, work: Workload) -> Run:
    state = SyncState(user_ids=[None] * work.users, group_ids=[None] * work.groups)
    return Run(server, base, token, state, phases(work, state))


def verify_end_state(run: Run, work: Workload) -> list[str]:
    """Not timed: the tenant holds the users and memberships the sync should have left."""
    headers = {"Authorization": f"Bearer {run.token}"}
    gone = set(work.deprovisioned_users())
    problems = []
    body = requests.get(f"{run.base}/Users?count=1", headers=headers, timeout=REQUEST_TIMEOUT).json()
    if body["totalResults"] != work.users - len(gone):
        problems.append(f"{body['totalResults']} users, expected {work.users - len(gone)}")
    for j, members in enumerate(work.memberships()):
        group = requests.get(f"{run.base}/Groups/{run.state.group_ids[j]}?attributes=members", headers=headers,
                             timeout=REQUEST_TIMEOUT).json()
        have = {m["value"] for m in group.get("members", [])}
        want = {run.state.user_ids[i] for i in members if i not in gone}
        if have != want:
            problems.append(f"group {j}: {len(have)} members, expected {len(want)} "
                            f"({len(want - have)} missing, {len(have - want)} unexpected)")
    return problems or ["end state ok: users and every group's members as sent"]


def log_tail(path: Path, size: int = 4000) -> str:
    """The end of a server's log without its per-request access lines, so that a traceback shows."""
    lines = [line for line in path.read_text().splitlines() if '"duration_ms"' not in line]
    return "\n".join(lines)[-size:]


def run_database(label: str, database_url: str, folder: Path, work: Workload, args) -> tuple[Run, Run, tuple]:
    """The sync against the gateway on ``database_url`` and against the ceiling app, phase by phase.

    Both servers run side by side; each phase goes to the gateway, then at once to the
    ceiling, so the two see about the same background load on a shared machine.
    """
    load_before = os.getloadavg()
    deadline = time.monotonic() + args.max_minutes * 60
    servers: list[Server] = []
    backends = BackendPids(POSTGRES_ADMIN_URL, database_url) if database_url.startswith("postgres") else None
    try:
        gateway = start_gateway(database_url, folder, args.workers, args.threads)
        servers.append(gateway)
        created = json.loads(cli(gateway.env, "tenants", "create", TENANT, "--json"))
        cli(gateway.env, "tenants", "configure", TENANT, json.dumps(TENANT_SETTINGS))
        ceiling = start_ceiling(folder, args.workers, args.threads)
        servers.append(ceiling)
        print(f"[{label}] gateway pid {gateway.process.pid} (workers {gateway.workers()}) at {gateway.url}, "
              f"tenant {created['slug']}; ceiling pid {ceiling.process.pid} (workers {ceiling.workers()}) "
              f"at {ceiling.url}", flush=True)
        runs = {"gateway": new_run(gateway, created["tenant_url"], created["token"], work),
                "ceiling": new_run(ceiling, f"{ceiling.url}/tenants/{TENANT}/scim/v2", "ceiling", work)}
        for run in runs.values():
            warm_up(run.base, run.token, work.clients)
        for index, name in enumerate(PHASES):
            for kind, run in runs.items():
                phase = run.phases[index]
                assert phase.name == name
                result = run_phase(run.base, run.token, phase, work.clients, deadline, run.server.pids,
                                   backends if kind == "gateway" else None)
                print(f"[{label} {kind:<7}] {name:<12} {len(result.total.samples):>7,} requests in "
                      f"{result.wall:7.1f} s ({result.rate:7.1f}/s, p99 {result.total.pct(99):7.1f} ms)", flush=True)
                run.results.append(result)
        for run in runs.values():
            workers = run.server.workers()
            run.memory = [(pid, *memory_mb(pid)) for pid in workers]
            run.worker_cpu = cpu_by_pid(workers)
        runs["gateway"].checks = verify_end_state(runs["gateway"], work)
    except BaseException:
        for server in servers:
            print(f"[{label}] {server.label} log tail:\n{log_tail(server.log)}", file=sys.stderr)
        raise
    finally:
        for server in reversed(servers):
            stop(server)
        if backends is not None:
            backends.close()
    return runs["gateway"], runs["ceiling"], (load_before, os.getloadavg())


# --------------------------------------------------------------------------- report




def machine(extra: list[str]) -> str:
    from importlib.metadata import version

    packages = ", ".join(f"{name} {version(name)}" for name in ("flask", "gunicorn", "peewee", "requests"))
    return "\n".join([
        f"machine:  {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}",
        f"python:   {platform.python_implementation()} {platform.python_version()}; {packages}",
        f"sqlite:   {sqlite3.sqlite_version}",
        source(),
        *extra,
    ])


def source() -> str:
    """The code measured: the commit, and how many files differ from it (read-only git calls)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return f"code:     {ROOT} (not a git checkout)"
    dirty = len(changed.splitlines())
    return f"code:     {ROOT} at {commit}" + (f", {dirty} tracked files modified" if dirty else "")


def fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def table(label: str, gateway: Run, ceiling: Run, work: Workload, args, loads) -> str:
    header = (f"{'phase':<12} {'requests':>8} | {'gateway/s':>9} {'p50':>6} {'p95':>6} {'p99':>7} | "
              f"{'ceiling/s':>9} {'p50':>5} {'p95':>5} {'p99':>5} | {'ratio':>5} | p99 < {TARGET_P99_MS:.0f} ms")
    rule = "-" * len(header)
    lines = [
        f"== {label}: {work.users:,} users, {work.groups} groups, {work.clients} clients; "
        f"{args.workers} workers x {args.threads} threads (gthread) ==",
        header, rule,
    ]
    for g, c in zip(gateway.results, ceiling.results):
        lines.append(
            f"{g.name:<12} {len(g.total.samples):>8,} | {g.rate:>9.1f} {g.total.p50:>6.1f} {g.total.pct(95):>6.1f} "
            f"{g.total.pct(99):>7.1f} | {c.rate:>9.1f} {c.total.p50:>5.1f} {c.total.pct(95):>5.1f} "
            f"{c.total.pct(99):>5.1f} | {g.rate / c.rate:>5.2f} | "
            f"{'ok' if g.total.pct(99) < TARGET_P99_MS else 'MISSED'}")
    ratio = gateway.rate / ceiling.rate
    lines += [rule, f"{'overall':<12} {gateway.requests:>8,} | {gateway.rate:>9.1f} {'':>22} | {ceiling.rate:>9.1f} "
                    f"{'':>17} | {ratio:>5.2f} |", ""]

    db = any(g.db_cpu is not None for g in gateway.results)
    lines.append("where the CPU went (cores busy during the phase; CPU ms per request = server"
                 + (" + PostgreSQL" if db else "") + " CPU / requests):")
    header = (f"{'phase':<12} | {'gw srv':>6} {'db':>5} {'client':>6} {'machine':>7} {'ms/req':>6} | "
              f"{'ceil srv':>8} {'client':>6} {'machine':>7} {'ms/req':>6} | ceiling/gateway ms per request")
    lines += [header, "-" * len(header)]
    for g, c in zip(gateway.results, ceiling.results):
        db_cores = "-" if g.db_cpu is None else f"{g.db_cpu:.2f}"
        lines.append(f"{g.name:<12} | {g.server_cpu:>6.2f} {db_cores:>5} {g.client_cpu:>6.2f} {g.machine_busy:>7.2f} "
                     f"{g.cpu_ms_per_request:>6.2f} | {c.server_cpu:>8.2f} {c.client_cpu:>6.2f} "
                     f"{c.machine_busy:>7.2f} {c.cpu_ms_per_request:>6.2f} | "
                     f"{c.cpu_ms_per_request / g.cpu_ms_per_request:>5.2f}")
    gateway_cpu = sum(g.cpu_ms_per_request * len(g.total.samples) for g in gateway.results)
    ceiling_cpu = sum(c.cpu_ms_per_request * len(c.total.samples) for c in ceiling.results)
    lines.append(f"{'overall':<12} | {'':>27} {gateway_cpu / gateway.requests:>6.2f} | {'':>23} "
                 f"{ceiling_cpu / ceiling.requests:>6.2f} | {ceiling_cpu / gateway_cpu:>5.2f}")
    lines.append("")

    lines.append("per request (ms; bytes = mean response body, gateway / ceiling):")
    for g, c in zip(gateway.results, ceiling.results):
        for name, stats in g.by_label.items():
            other = c.by_label[name]
            lines.append(f"  {name:<58} {len(stats.samples):>7,}  p50 {stats.p50:>6.1f} p95 {stats.pct(95):>6.1f} "
                         f"p99 {stats.pct(99):>7.1f} | ceiling p50 {other.p50:>5.1f} p99 {other.pct(99):>5.1f} | "
                         f"bytes {stats.sizes // len(stats.samples):>7,} / {other.sizes // len(other.samples):>6,}")
    lines.append("")

    target = TARGET_RATIO.get(label)
    worst = max(gateway.results, key=lambda p: p.total.pct(99))
    lines.append(f"sync wall time (sum of the six phases): gateway {gateway.wall:.1f} s, ceiling {ceiling.wall:.1f} s "
                 f"({gateway.requests:,} requests each)")
    if target is not None:
        lines.append(f"target overall >= {target:.0%} of the ceiling: {ratio:.1%}  {'ok' if ratio >= target else 'MISSED'}")
    lines.append(f"target p99 < {TARGET_P99_MS:.0f} ms in every phase: worst {worst.name} {worst.total.pct(99):.1f} ms  "
                 f"{'ok' if worst.total.pct(99) < TARGET_P99_MS else 'MISSED'}")
    lines.append("gateway workers after the sync: " + "; ".join(
        f"pid {pid} peak RSS {hwm:.1f} MB (now {rss:.1f} MB), {gateway.worker_cpu.get(pid, 0):.1f} CPU s"
        for pid, hwm, rss in gateway.memory))
    peak = max(hwm for _, hwm, _ in gateway.memory)
    lines.append(f"peak RSS per worker < {TARGET_RSS_MB:.0f} MB (issue: after a 100,000-user sync): "
                 f"{peak:.1f} MB after {work.users:,} users  {'ok' if peak < TARGET_RSS_MB else 'MISSED'}")
    lines.append("ceiling workers after the sync: " + "; ".join(
        f"pid {pid} peak RSS {hwm:.1f} MB, {ceiling.worker_cpu.get(pid, 0):.1f} CPU s" for pid, hwm, _ in ceiling.memory))
    lines.extend(gateway.checks)
    lines.append(f"load average (1/5/15 min): before {fmt_load(loads[0])}, after {fmt_load(loads[1])}")
    return "\n".join(lines)


LEGEND = """\
gateway/s, ceiling/s: HTTP requests per second in the phase (all clients together); p50/p95/p99: latency as
the client sees it, ms. ratio: gateway/s over ceiling/s. Each phase runs against the gateway, then at once
against the ceiling. CPU table: srv = the gunicorn master and workers, db = PostgreSQL's backends for the
benchmark database, client = this script (one process, one GIL), machine = every CPU-using process on the
machine, in cores (this machine has {cores}). ms/req = server CPU per request: unlike requests per second it
hardly depends on what else runs on the machine, so on a busy machine compare those."""


def main(argv: list[str] | None = None) -> int:
    from gateway.cli import serve

    defaults = {param.name: param.default for param in serve.params}
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, help="users to provision (default 10,000; --quick 1,000)")
    parser.add_argument("--groups", type=int, default=20, help="groups (default 20)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--workers", type=int, default=defaults["workers"],
                        help=f"gunicorn workers (default: scim-gateway serve's, {defaults['workers']})")
    parser.add_argument("--threads", type=int, default=defaults["threads"],
                        help=f"threads per worker (default: scim-gateway serve's, {defaults['threads']})")
    parser.add_argument("--updates", type=float, default=0.2, help="share of users updated (default 0.2)")
    parser.add_argument("--deprovision", type=float, default=0.1,
                        help="share of users deactivated then deleted (default 0.1)")
    parser.add_argument("--postgres", action="store_true",
                        help=f"also run on PostgreSQL (a fresh database on {POSTGRES_ADMIN_URL}, dropped after)")
    parser.add_argument("--postgres-only", action="store_true", help="run on PostgreSQL only (skip SQLite)")
    parser.add_argument("--quick", action="store_true", help="1,000 users unless --users says otherwise")
    parser.add_argument("--max-minutes", type=float, default=30,
                        help="give up a sync (one server) after this long (default 30)")
    args = parser.parse_args(argv)
    users = args.users or (1_000 if args.quick else 10_000)
    if users < 1 or args.groups < 1 or args.clients < 1:
        parser.error("--users, --groups and --clients must be at least 1")
    work = Workload(users=users, groups=args.groups, clients=args.clients,
                    updates=round(users * args.updates), deprovisions=round(users * args.deprovision))

    extra = [f"server:   scim-gateway serve --workers {args.workers} --threads {args.threads} "
             f"(gunicorn gthread, JSON request log on); ceiling: benchmarks/ceiling_app.py, same settings"]
    args.postgres = args.postgres or args.postgres_only
    if args.postgres:
        parts = urlsplit(POSTGRES_ADMIN_URL)
        extra.append(f"postgres: {postgres_version(POSTGRES_ADMIN_URL)} at {parts.hostname}:{parts.port or 5432}")
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])
    print(machine(extra))
    print(f"workload: {work.users:,} users, {work.groups} groups ({len(work.member_batches())} member PATCHes of "
          f"<= {MEMBERS_PER_PATCH}), {work.updates:,} updates, {math.ceil(work.users / PAGE)} pages of {PAGE}, "
          f"{work.deprovisions:,} deactivations + deletes; {work.clients} clients")
    print(f"load average at start: {fmt_load(os.getloadavg())}\n", flush=True)

    reports = []
    with tempfile.TemporaryDirectory(prefix="scim-sync-bench-") as tmp:
        folder = Path(tmp)
        runs: list[tuple[str, Callable[[], contextlib.AbstractContextManager[str]]]] = []
        if not args.postgres_only:
            runs.append(("SQLite", lambda: contextlib.nullcontext(f"sqlite:///{folder}/gateway.db")))
        if args.postgres:
            runs.append(("PostgreSQL", lambda: fresh_postgres_url(POSTGRES_ADMIN_URL)))
        for label, database in runs:
            with database() as url:
                gateway_run, ceiling_run, loads = run_database(label, url, folder, work, args)
            report = table(label, gateway_run, ceiling_run, work, args, loads)
            print("\n" + report + "\n", flush=True)
            reports.append(report)
    print(LEGEND.format(cores=os.cpu_count()))
    print(f"\nreproduce (from the repository root): {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
