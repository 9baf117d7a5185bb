"""The audit log of a tenant: ``/admin/v1/tenants/<slug>/audit`` (paged) and ``.../audit/export``.

Also :func:`record`, which the admin API's write views call inside their transaction so
that each change and its audit event commit together (actor ``admin:<key name>``).
"""

from __future__ import annotations

from flask import Response, g
from flask.views import MethodView

from tenants import audit as audit_log
from tenants.db import database

from . import schemas
from .blueprint import blp, errors, page_of


def record(tenant, action: str, resource_type: str, resource_id: str | None, summary: dict | None = None) -> None:
    """Audit a write of the admin API; call it inside the write's transaction."""
    audit_log.record(tenant, audit_log.admin_actor(g.admin_key.name), action, resource_type, resource_id,
                     summary, g.get("request_id"))


def _with_connection(lines):
    """Iterate ``lines`` with a database connection of its own: a streamed body is sent
    after the request's teardown has closed the request's connection."""
    opened = database.connect(reuse_if_open=True)
    try:
        yield from lines
    finally:
        if opened:
            database.close()


@blp.route("/tenants/<slug>/audit")
class AuditEvents(MethodView):
    """The tenant's audit log."""

    @blp.arguments(schemas.AuditQueryArgs, location="query")
    @blp.response(200, schemas.AuditPageSchema)
    @errors(400, 401, 404)
    def get(self, args):
        """List audit events, newest first, paged and filtered

        Every change made to the tenant through SCIM, the admin API or the CLI, written
        in the same transaction as the change: `since`/`until` bound the time (ISO 8601),
        `actor` picks one actor, `resource` one resource id or type.
        """
        total, items = audit_log.list_events(
            g.tenant, since=args.get("since"), until=args.get("until"), actor=args.get("actor"),
            resource=args.get("resource"), page=args["page"], per_page=args["per_page"])
        return page_of(args, total, items)


@blp.route("/tenants/<slug>/audit/export")
class AuditExport(MethodView):
    """The tenant's audit log as JSON lines."""

    @blp.arguments(schemas.AuditTimeArgs, location="query")
    @blp.alt_response(200, schema=schemas.AuditEventSchema, content_type="application/x-ndjson", success=True,
                      description="One audit event (a JSON object) per line, oldest first.")
    @errors(400, 401, 404)
    def get(self, args):
        """Export audit events as JSON lines (application/x-ndjson), oldest first

        Streamed, so a long trail costs bounded memory; `since`/`until` bound the time.
        """
        lines = audit_log.export_lines(g.tenant, args.get("since"), args.get("until"))
        return Response(_with_connection(lines), mimetype="application/x-ndjson", headers={
            "Content-Disposition": f'attachment; filename="{g.tenant.slug}-audit.jsonl"'})
