"""Does a large tenant answer as fast as a small one? Filter and member-PATCH latency at scale.

Run from the repository root::

    python benchmarks/query_scaling.py              # full size, SQLite
    python benchmarks/query_scaling.py --quick      # a smaller, faster run
    python benchmarks/query_scaling.py --postgres   # SQLite, then PostgreSQL at 127.0.0.1:5432

Per database, two tenants are seeded through the models (bulk inserts, not HTTP):

* ``small``: 1,000 users; one group holding 100 of them;
* ``large``: 100,000 users; one group holding 50,000 of them.

The requests then go in-process through Flask's test client, the way an identity
provider sends them:

* ``GET /Users?filter=userName eq "<random existing user>"&startIndex=1&count=100``
  (Okta's existence check; Entra sends the same without paging), and the same lookup by
  ``externalId`` (an index on tenant and externalId, not a UNIQUE key);
* ``GET /Users?startIndex=<last 100>&count=100``: the tenant's last page, which skips
  every other user (its work grows with the offset, so it has no ratio target);
* ``PATCH /Groups/<id>`` adding one non-member (``{"op":"add","path":"members",...}``)
  and removing that same user again (``{"op":"remove","path":"members[value eq \\"<id>\\"]"}``),
  so the group's size stays the same. These run with ``?excludedAttributes=members``,
  which makes the answer the group without its member list. A third pair of rows sends the
  same PATCHes without that parameter. That is the default answer Okta and Entra get: the
  whole group, every member included.

Each case runs a warm-up, then N timed requests (wall time around ``client.open``). The
table gives the median, p95, the SQL statements of one request, and the ratio large/small
of the medians. The target (issue 3) is a median ratio of at most 1.3.

SQLite lives in a file in a temporary folder with the gateway's own pragmas. For
``--postgres``, a fresh database is created on the server
(``SCIM_GATEWAY_BENCH_POSTGRES``, by default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and dropped at the end; ``ANALYZE`` runs after seeding there (autovacuum would do it
within a minute anyway, in the middle of the measurements).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import peewee  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.config import DEFAULTS  # noqa: E402
from tests.postgres import fresh_postgres_url  # noqa: E402  (one helper for tests and benchmarks)
from benchmarks.machine import cpu_model, postgres_version  # noqa: E402
from tenants import services  # noqa: E402
from tenants.clock import utcnow  # noqa: E402
from tenants.db import database  # noqa: E402
from tenants.keys import fold  # noqa: E402
from tenants.models import Group, Membership, Tenant, User, new_id  # noqa: E402

TARGET_RATIO = 1.3
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
POSTGRES_ADMIN_URL = os.environ.get("SCIM_GATEWAY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
CHUNK = 1000

@dataclass(frozen=True)
class Size:
    """How big the two tenants are, and how often each case runs."""

    small_users: int
    large_users: int
    small_members: int
    large_members: int
    lookups: int
    patches: int
    full_patches: int
    warmup: int

FULL = Size(small_users=1_000, large_users=100_000, small_members=100, large_members=50_000,
            lookups=200, patches=100, full_patches=20, warmup=20)
QUICK = Size(small_users=1_000, large_users=10_000, small_members=100, large_members=5_000,
             lookups=100, patches=50, full_patches=10, warmup=10)

@dataclass
class Seeded:
    """One seeded tenant: its credentials, user names, group and the users outside the group."""

    slug: str
    token: str
    user_names: list[str]
    group_id: str
    outsiders: list[str]

    @property
    def base(self) -> str:
        return f"/tenants/{self.slug}/scim/v2"

@dataclass
class Result:
    """Timings of one case in one tenant (milliseconds)."""

    case: str
    tenant: str
    size: str
    samples: list[float] = field(default_factory=list)
    queries: int = 0
    target: bool = True  # False: the work grows with the tenant by design (a deep page), no verdict

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]  # nearest rank

# --------------------------------------------------------------------------- seeding

def seed(slug: str, users: int, members: int) -> Seeded:
    """Create tenant ``slug`` with ``users`` users and one group of ``members`` of them."""
    with database.connection_context():
        _, token = services.create_tenant(slug, slug)
        with database.atomic():
            tenant = Tenant.get(Tenant.slug == slug)
            now = utcnow()
            names = [f"user{i:06d}.{slug}@example.com" for i in range(users)]
            ids = [new_id() for _ in range(users)]
            for start in range(0, users, CHUNK):
                User.insert_many([
                    {"id": ids[i], "tenant": tenant.id, "user_name": names[i], "user_name_key": fold(names[i]),
                     "external_id": f"ext-{slug}-{i}", "given_name": "Given", "family_name": f"Family{i}",
                     "active": True, "source": "scim", "extra": {}, "created": now, "last_modified": now,
                     "version": 1}
                    for i in range(start, min(users, start + CHUNK))
                ]).execute()
            group = Group.create(id=new_id(), tenant=tenant.id, display_name=f"Group {slug}",
                                 display_name_key=fold(f"Group {slug}"), extra={}, created=now,
                                 last_modified=now, version=1)
            for start in range(0, members, CHUNK):
                Membership.insert_many([
                    {"group": group.id, "user": ids[i], "display": None}
                    for i in range(start, min(members, start + CHUNK))
                ]).execute()
    return Seeded(slug=slug, token=token.secret, user_names=names, group_id=group.id, outsiders=ids[members:])

# --------------------------------------------------------------------------- measuring

class QueryCounter(logging.Handler):
    """Counts the SQL statements peewee logs (peewee logs each one at DEBUG)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += 1

@contextlib.contextmanager
def counting() -> Iterator[QueryCounter]:
    logger = logging.getLogger("peewee")
    counter, level = QueryCounter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)

def timed(send: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    response = send()
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if response.status_code >= 300:
        raise SystemExit(f"request failed: {response.status_code} {response.get_data(as_text=True)[:500]}")
    return elapsed

def run_interleaved(pairs: list[tuple[Result, Result]], small: list[list], large: list[list], warmup: int) -> None:
    """Time the small and the large tenant's requests alternately, so load on the machine hits both alike.

    ``small`` and ``large`` are lists of steps; a step is a list of requests sent in a row,
    one per case (lookup: one request; member PATCH: add, then remove). The first
    ``warmup`` steps are not timed; the next one counts the SQL statements of each request.
    """
    for step in small[:warmup] + large[:warmup]:
        for send in step:
            timed(send)
    for results, steps in (([p[0] for p in pairs], small), ([p[1] for p in pairs], large)):
        for result, send in zip(results, steps[warmup]):
            with counting() as counter:
                timed(send)
            result.queries = counter.count
    for small_step, large_step in zip(small[warmup + 1:], large[warmup + 1:]):
        for (small_result, large_result), send_small, send_large in zip(pairs, small_step, large_step):
            small_result.samples.append(timed(send_small))
            large_result.samples.append(timed(send_large))

def lookups(client, tenant: Seeded, n: int, rng: random.Random, attribute: str = "userName") -> list[list]:
    """``n`` steps of one ``GET /Users?filter=<attribute> eq "<random existing user's value>"``."""
    headers = {"Authorization": f"Bearer {tenant.token}"}

    def one(value: str):
        scim_filter = quote(f'{attribute} eq "{value}"', safe="")
        path = f"{tenant.base}/Users?filter={scim_filter}&startIndex=1&count=100"

        def send():
            response = client.get(path, headers=headers)
            if response.status_code == 200 and response.get_json()["totalResults"] != 1:
                raise SystemExit(f"lookup of {attribute} {value} did not find exactly one user")
            return response
        return send

    if attribute == "externalId":
        values = [f"ext-{tenant.slug}-{i}" for i in rng.sample(range(len(tenant.user_names)), n)]
    else:
        values = rng.sample(tenant.user_names, n)
    return [[one(value)] for value in values]

def deep_pages(client, tenant: Seeded, n: int) -> list[list]:
    """``n`` steps of one ``GET /Users`` for the tenant's last page of 100 users."""
    headers = {"Authorization": f"Bearer {tenant.token}"}
    path = f"{tenant.base}/Users?startIndex={len(tenant.user_names) - 99}&count=100"

    def send():
        response = client.get(path, headers=headers)
        if response.status_code == 200 and len(response.get_json()["Resources"]) != 100:
            raise SystemExit(f"the last page of {tenant.slug} did not hold 100 users")
        return response

    return [[send] for _ in range(n)]


def member_patches(client, tenant: Seeded, n: int, rng: random.Random, full: bool) -> list[list]:
    """``n`` steps ``[add, remove]``: add one outsider to the group, then remove it again."""
    headers = {"Authorization": f"Bearer {tenant.token}"}
    path = f"{tenant.base}/Groups/{tenant.group_id}" + ("" if full else "?excludedAttributes=members")

    def patch(operations):
        body = {"schemas": [PATCH_SCHEMA], "Operations": operations}
        return lambda: client.patch(path, json=body, headers=headers)

    return [
        [patch([{"op": "add", "path": "members", "value": [{"value": user_id}]}]),
         patch([{"op": "remove", "path": f'members[value eq "{user_id}"]'}])]
        for user_id in rng.sample(tenant.outsiders, n)
    ]

def measure(url: str, size: Size, label: str) -> list[tuple[Result, Result]]:
    """Seed both tenants in the database at ``url`` and run every case; (small, large) pairs."""
    app = create_app({"TESTING": False, "DATABASE_URL": url})
    client = app.test_client()
    rng = random.Random(7)
    started = time.monotonic()
    small = seed("small", size.small_users, size.small_members)
    large = seed("large", size.large_users, size.large_members)
    if url.startswith("postgres"):
        with database.connection_context():
            database.execute_sql("ANALYZE")
    print(f"[{label}] seeded {size.small_users + size.large_users:,} users and "
          f"{size.small_members + size.large_members:,} memberships in {time.monotonic() - started:.1f} s",
          flush=True)

    pairs: list[tuple[Result, Result]] = []

    def tenants_label(tenant: Seeded, kind: str) -> str:
        if kind == "users":
            return f"{len(tenant.user_names):,} users"
        return f"{len(tenant.user_names) - len(tenant.outsiders):,} members"

    # filter by userName (its UNIQUE key), then by externalId (a plain index on tenant and externalId)
    for attribute in ("userName", "externalId"):
        pair = tuple(Result(f"GET /Users?filter={attribute} eq", t.slug, tenants_label(t, "users"))
                     for t in (small, large))
        n = size.lookups + size.warmup + 1
        run_interleaved([pair], lookups(client, small, n, rng, attribute), lookups(client, large, n, rng, attribute),
                        size.warmup)
        pairs.append(pair)

    # a deep page: the last full page of 100 users (not part of the ratio target: its work grows with the offset)
    pair = tuple(Result("GET /Users?startIndex=<last 100>&count=100", t.slug, tenants_label(t, "users"), target=False)
                 for t in (small, large))
    reps = max(2, size.patches // 5)
    run_interleaved([pair], deep_pages(client, small, reps + 3), deep_pages(client, large, reps + 3), 2)
    pairs.append(pair)

    # member PATCHes: excludedAttributes=members, then the full default answer
    for full, reps in ((False, size.patches), (True, size.full_patches)):
        suffix = " (full answer)" if full else " ?excludedAttributes=members"
        cases = []
        for case in (f"PATCH add 1 member{suffix}", f"PATCH remove 1 member{suffix}"):
            cases.append(tuple(Result(case, t.slug, tenants_label(t, "members")) for t in (small, large)))
        warmup = min(size.warmup, max(2, reps // 5))
        n = reps + warmup + 1
        run_interleaved(cases, member_patches(client, small, n, rng, full),
                        member_patches(client, large, n, rng, full), warmup)
        pairs += cases

    with database.connection_context():
        for tenant, members in ((small, size.small_members), (large, size.large_members)):
            count = Membership.select().where(Membership.group == tenant.group_id).count()
            assert count == members, (tenant.slug, count, members)
    if not database.is_closed():
        database.close()
    return pairs

# --------------------------------------------------------------------------- databases

@contextlib.contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="scim-bench-") as folder:
        yield f"sqlite:///{folder}/bench.db"


# --------------------------------------------------------------------------- report


def machine(extra: list[str]) -> str:
    lines = [
        f"machine:  {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}",
        f"python:   {platform.python_implementation()} {platform.python_version()}",
        f"sqlite:   {sqlite3.sqlite_version}, peewee {peewee.__version__}",
        *extra,
    ]
    return "\n".join(lines)

def table(label: str, pairs: list[tuple[Result, Result]]) -> str:
    header = (f"{'case':<50} {'tenant':<16} {'n':>4} {'median ms':>10} {'p95 ms':>9} {'SQL':>4} "
              f"{'large/small':>12}  target <= {TARGET_RATIO}x (median)")
    lines = [f"== {label} ==", header, "-" * len(header)]
    for small, large in pairs:
        ratio = large.median / small.median
        verdict = ("ok" if ratio <= TARGET_RATIO else "MISSED") if large.target else "no target"
        for result, tail in ((small, ""), (large, f"{ratio:>11.2f}x  {verdict}")):
            lines.append(f"{result.case:<50} {result.size:<16} {len(result.samples):>4} {result.median:>10.2f} "
                         f"{result.p95:>9.2f} {result.queries:>4} {tail:>12}")
    return "\n".join(lines)

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10,000 users / 5,000 members in the large tenant and fewer repetitions")
    parser.add_argument("--postgres", action="store_true",
                        help=f"also run on PostgreSQL (a fresh database on {POSTGRES_ADMIN_URL}, dropped after)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    logging.getLogger("peewee").propagate = False

    runs = [("SQLite", sqlite_url())]
    extra = []
    if args.postgres:
        runs.append(("PostgreSQL", fresh_postgres_url(POSTGRES_ADMIN_URL)))
        extra.append(f"postgres: {postgres_version(POSTGRES_ADMIN_URL)} at "
                     f"{urlsplit(POSTGRES_ADMIN_URL).hostname}:{urlsplit(POSTGRES_ADMIN_URL).port or 5432}")
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])
    print(machine(extra))
    print(f"sizes:    users {size.small_users:,} vs {size.large_users:,}; group members {size.small_members:,} "
          f"vs {size.large_members:,}; {size.lookups} lookups, {size.patches} PATCH pairs, "
          f"{size.full_patches} full-answer PATCH pairs, after a warm-up")
    print(flush=True)
    reports = []
    for label, url_context in runs:
        with url_context as url:
            report = table(label, measure(url, size, label))
        print(report + "\n", flush=True)
        reports.append(report)
    print("Rows marked (full answer) send the PATCH as Entra and Okta do, without excludedAttributes: a group of")
    print(f"up to PATCH_RESPONSE_MAX_MEMBERS ({DEFAULTS['PATCH_RESPONSE_MAX_MEMBERS']:,}) members answers 200 with every "
          "member, a larger one 204.")
    print(f"\nreproduce (from the repository root): {command}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
