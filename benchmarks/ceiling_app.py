"""The ceiling of this stack: a bare Flask app with the gateway's SCIM routes and no database.

``benchmarks/sync_throughput.py`` replays an Entra initial sync against the gateway and
then against this app, served by the same gunicorn settings (``gateway.server.run``: the
gthread worker, same workers and threads, gunicorn's access log off; the gateway's own
JSON line per request is part of its cost). The ratio gateway/ceiling says
how much of what this machine can do with Flask + gunicorn the gateway keeps.

Each route answers with a canned body of the right shape and status, built per request
and serialised with ``json.dumps`` like the gateway does (``gateway/scim/http.py``):

* ``GET .../Users`` and ``.../Groups``: 200, a ListResponse. With ``filter`` (Entra's
  existence check before a create) it is empty, as the gateway's is at that point of a
  sync; without it, a page of ``count`` (at most 100) canned resources, as when paging.
* ``POST``: 201 with the resource: a new ``id``, the ``userName``/``displayName`` sent.
* ``GET``/``PATCH``/``PUT`` of one resource: 200 with a canned resource (a group without
  ``members``; see the README for what that means for the member PATCH phase).
* ``DELETE``: 204.

The request body is parsed (``request.get_json``), as any real handler has to. There is no
authentication, validation, database or hook: this is the floor of the cost per request.

Run it by hand (the benchmark starts it itself)::

    python benchmarks/ceiling_app.py --bind 127.0.0.1:8001 --workers 2 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

from flask import Flask, Response, request

ROOT = Path(__file__).resolve().parent.parent

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
STAMP = "2025-01-01T00:00:00Z"
PAGE_MAX = 100


def _json(body: dict, status: int = 200) -> Response:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(payload, status=status, content_type=SCIM)


def _user(resource_id: str, user_name: str = "canned.user@example.com") -> dict:
    return {
        "schemas": [USER_SCHEMA],
        "id": resource_id,
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "active": True,
        "meta": {"resourceType": "User", "created": STAMP, "lastModified": STAMP, "version": 'W/"1"',
                 "location": f"{request.host_url}Users/{resource_id}"},
    }


def _group(resource_id: str, display_name: str = "Canned group") -> dict:
    return {
        "schemas": [GROUP_SCHEMA],
        "id": resource_id,
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": display_name,
        "meta": {"resourceType": "Group", "created": STAMP, "lastModified": STAMP, "version": 'W/"1"',
                 "location": f"{request.host_url}Groups/{resource_id}"},
    }


KINDS = {"Users": (_user, "userName"), "Groups": (_group, "displayName")}


def create_app() -> Flask:
    """The bare app: the gateway's SCIM routes (per-tenant and shared URL), canned answers."""
    app = Flask(__name__)

    @app.get("/readyz")
    @app.get("/healthz")
    def ready():
        return {"status": "ok"}

    def collection(kind: str):
        make, _ = KINDS[kind]
        if request.args.get("filter"):
            return _json({"schemas": [LIST_SCHEMA], "totalResults": 0, "Resources": [],
                          "startIndex": 1, "itemsPerPage": 0})
        start = max(1, request.args.get("startIndex", 1, type=int))
        count = min(PAGE_MAX, max(0, request.args.get("count", PAGE_MAX, type=int)))
        resources = [make(str(uuid.UUID(int=start + i))) for i in range(count)]
        return _json({"schemas": [LIST_SCHEMA], "totalResults": 1_000_000, "Resources": resources,
                      "startIndex": start, "itemsPerPage": len(resources)})

    def create(kind: str):
        make, name_attribute = KINDS[kind]
        body = request.get_json(force=True, silent=True) or {}
        resource = make(uuid.uuid4().hex, str(body.get(name_attribute, "canned")))
        return _json(resource, 201)

    def one(kind: str, resource_id: str):
        if request.method == "DELETE":
            return Response(status=204)
        if request.method in ("PATCH", "PUT"):
            request.get_json(force=True, silent=True)
        make, _ = KINDS[kind]
        return _json(make(resource_id))

    for prefix in ("/tenants/<tenant>/scim/v2", "/scim/v2"):
        for kind in KINDS:
            app.add_url_rule(f"{prefix}/{kind}", f"{prefix}-{kind}-list",
                             lambda kind=kind, **_: collection(kind), methods=["GET"])
            app.add_url_rule(f"{prefix}/{kind}", f"{prefix}-{kind}-create",
                             lambda kind=kind, **_: create(kind), methods=["POST"])
            app.add_url_rule(f"{prefix}/{kind}/<resource_id>", f"{prefix}-{kind}-one",
                             lambda resource_id, kind=kind, **_: one(kind, resource_id),
                             methods=["GET", "PATCH", "PUT", "DELETE"])
    return app


def serve(bind: str, workers: int, threads: int) -> None:
    """Serve the bare app with exactly the gunicorn settings of ``scim-gateway serve``.

    ``gateway.server.run`` holds those settings; only the application it loads is swapped.
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from gateway import server

    class CeilingServer(server.GatewayServer):
        def load(self):
            return create_app()

    server.GatewayServer = CeilingServer  # this process only: run() builds its server from this name
    server.run(bind=bind, workers=workers, threads=threads)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the bare-Flask ceiling app under gunicorn.")
    parser.add_argument("--bind", default="127.0.0.1:8001")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    serve(args.bind, args.workers, args.threads)


if __name__ == "__main__":
    main()
