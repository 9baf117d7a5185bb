"""What one request costs the gateway's Python, against the ceiling app, without HTTP.

``sync_throughput.py`` measures the whole stack (client, gunicorn, app, database) and its
numbers move with the machine's load. This script calls each app's WSGI callable
directly, in one process, on a SQLite file, so it sees only the app: the cost the
gateway adds on top of Flask, which is what the throughput ratio is made of. Cases:

* ``healthz``: ``GET /healthz`` (no token, no database): the per-request machinery
  every answer pays (request id, access log line, session, statistics, teardown);
* ``discovery``: ``GET .../ServiceProviderConfig``: that plus bearer authentication;
* ``lookup``: Entra's existence check, ``GET .../Users?filter=userName eq "..."``
  finding nobody; ``ceiling-lookup``: the same request to ``benchmarks/ceiling_app.py``;
* ``create``: ``POST .../Users`` of a new user as Entra sends it; ``ceiling-create``;
* ``update``: ``PATCH .../Users/<id>`` replacing ``name.givenName`` (a user of the
  tenant's first hundred); ``deactivate``: ``PATCH`` of ``active`` to ``"False"``, Entra's
  deprovisioning; ``delete``: ``DELETE .../Users/<id>``; both on a user never touched
  before, made by POST before the measuring starts; each with its ``ceiling-`` case.

Two ways to count::

    python benchmarks/request_cost.py                 # CPU microseconds per request
    python benchmarks/request_cost.py --callgrind     # instructions per request (valgrind)

CPU time on a shared virtual machine moves by 10% or more between runs, so the cases
take turns and each reports its best round. ``--callgrind`` runs each case under
``valgrind --tool=callgrind`` twice (``--small`` and ``--large`` requests after a
warm-up) and divides the difference: an exact count, the same on a busy machine, to
compare two commits. It needs valgrind and takes a few minutes (two cases at a time).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GATEWAY_CASES = ("healthz", "discovery", "lookup", "create", "update", "deactivate", "delete")
CASES = GATEWAY_CASES + ("ceiling-lookup", "ceiling-create", "ceiling-update", "ceiling-deactivate", "ceiling-delete")
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TENANT = "bench"
BASE = f"/tenants/{TENANT}/scim/v2"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
#: Requests of each case before any is measured.
WARM_UP = 50


def _environ(method: str, path: str, query: str, body: bytes, token: str) -> dict:
    return {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000", "HTTP_AUTHORIZATION": f"Bearer {token}",
        "CONTENT_TYPE": "application/scim+json", "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False, "wsgi.version": (1, 0),
    }


class Apps:
    """The gateway (JSON access log on, to /dev/null) on a new SQLite file, and the ceiling."""

    def __init__(self, folder: str):
        from gateway.app import create_app
        from tenants import services
        from tenants.db import database

        self.gateway = create_app({"DATABASE_URL": f"sqlite:///{folder}/gateway.db", "LOG_FORMAT": "json"})
        for handler in logging.getLogger().handlers:
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the life of the process
        with database.connection_context():
            _, token = services.create_tenant(TENANT)
            settings = self.gateway.extensions["scim_gateway"].validate_settings(
                {"plugins": {"rate-limit": {"enabled": False}}})  # as sync_throughput.py: no limiter
            services.update_tenant(TENANT, settings=settings)
        self.token = token.secret
        spec = importlib.util.spec_from_file_location("ceiling_app", ROOT / "benchmarks" / "ceiling_app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.ceiling = module.create_app()
        self.numbers = count()

    def call(self, app, method: str, path: str, query: str = "", body: bytes = b"", expect: str = "200") -> bytes:
        """The answer's body; exits unless its status starts with ``expect``."""
        status = []
        chunks = app.wsgi_app(_environ(method, path, query, body, self.token), lambda s, h, e=None: status.append(s))
        try:
            answer = b"".join(chunks)
        finally:
            chunks.close()  # as a server does: runs what the app left for after the answer
        if not status[0].startswith(expect):
            raise SystemExit(f"{method} {path}: {status[0]}, expected {expect}")
        return answer

    def create(self, app) -> bytes:
        number = next(self.numbers)
        user = f"user{number}@example.com"
        body = {"schemas": [USER_SCHEMA], "userName": user, "externalId": f"ext-{number}", "active": True,
                "name": {"givenName": "Given", "familyName": "Family"}, "displayName": "Given Family",
                "emails": [{"primary": True, "type": "work", "value": user}]}
        return self.call(app, "POST", f"{BASE}/Users", body=json.dumps(body).encode(), expect="201")

    def users(self, how_many: int) -> list[str]:
        """Ids of ``how_many`` new users of the gateway's tenant, created by POST."""
        return [json.loads(self.create(self.gateway))["id"] for _ in range(how_many)]

    def patch(self, app, user_id: str, operation: dict) -> None:
        body = json.dumps({"schemas": [PATCH_SCHEMA], "Operations": [operation]}).encode()
        self.call(app, "PATCH", f"{BASE}/Users/{user_id}", body=body)

    def case(self, name: str, uses: int):
        """The callable of case ``name``, to be called at most ``uses`` times."""
        lookup = "filter=userName%20eq%20%22nobody%40example.com%22"
        app = self.ceiling if name.startswith("ceiling-") else self.gateway
        kind = name.removeprefix("ceiling-")
        if kind in ("update", "deactivate", "delete"):
            # The ceiling answers any id; the gateway's must exist (and, but for updates, be new).
            ids = iter(self.users(min(uses, 100) if kind == "update" else uses) * (uses if kind == "update" else 1))
            given = count()
            return {
                "update": lambda: self.patch(app, next(ids), {"op": "Replace", "path": "name.givenName",
                                                              "value": f"Given{next(given)}"}),
                "deactivate": lambda: self.patch(app, next(ids), {"op": "Replace", "path": "active",
                                                                  "value": "False"}),
                "delete": lambda: self.call(app, "DELETE", f"{BASE}/Users/{next(ids)}", expect="204"),
            }[kind]
        return {
            "healthz": lambda: self.call(app, "GET", "/healthz"),
            "discovery": lambda: self.call(app, "GET", f"{BASE}/ServiceProviderConfig"),
            "lookup": lambda: self.call(app, "GET", f"{BASE}/Users", lookup),
            "create": lambda: self.create(app),
        }[kind]


def cpu_microseconds(cases: list[str], requests: int, rounds: int) -> dict[str, float]:
    """Best round's CPU microseconds per request of each case; the cases take turns."""
    apps = Apps(tempfile.mkdtemp(prefix="request-cost-"))
    calls = {name: apps.case(name, WARM_UP + rounds * requests) for name in cases}
    for call in calls.values():
        for _ in range(WARM_UP):
            call()
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.process_time()
            for _ in range(requests):
                call()
            best[name] = min(best[name], (time.process_time() - started) / requests * 1e6)
    return best


def _instructions(case: str, requests: int, uses: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
               __file__, "--run", case, "--requests", str(requests), "--uses", str(uses)]
    # One hash seed for every run: str hashes decide dict and set layouts, and so how many
    # instructions the same requests take (runs with random seeds differ by a few percent).
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stderr
    return int(re.search(r"Collected\s*:\s*(\d+)", output).group(1))


def instructions_per_request(case: str, small: int, large: int) -> int:
    """Instructions of one request: two runs under callgrind, differing only in request count
    (both make the users the larger one needs first)."""
    uses = WARM_UP + large
    return (_instructions(case, large, uses) - _instructions(case, small, uses)) // (large - small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--requests", type=int, default=1000, help="requests per round (CPU) or run")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per case (CPU time; the best counts)")
    parser.add_argument("--small", type=int, default=20, help="--callgrind: requests of the smaller run")
    parser.add_argument("--large", type=int, default=60, help="--callgrind: requests of the larger run")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # one case, once: what --callgrind measures
    parser.add_argument("--uses", type=int, help=argparse.SUPPRESS)  # --run: users made for the case
    args = parser.parse_args()
    if args.run:
        call = Apps(tempfile.mkdtemp(prefix="request-cost-")).case(args.run, args.uses or WARM_UP + args.requests)
        for _ in range(WARM_UP + args.requests):
            call()
        return
    cases = [name for name in args.cases.split(",") if name]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    if args.callgrind:
        with ThreadPoolExecutor(2) as pool:
            counts = dict(zip(cases, pool.map(lambda name: instructions_per_request(name, args.small, args.large),
                                              cases)))
        unit, numbers = "instructions", counts
    else:
        unit, numbers = "CPU us", cpu_microseconds(cases, args.requests, args.rounds)
    print(f"{'case':<20} {unit + ' per request':>26}  vs ceiling")
    for name in cases:
        ceiling = numbers.get(f"ceiling-{name}")
        ratio = f"{numbers[name] / ceiling:6.2f}x" if ceiling else ""
        print(f"{name:<20} {numbers[name]:>26,.0f}  {ratio}")
    print("\nreproduce (from the repository root): python benchmarks/request_cost.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
