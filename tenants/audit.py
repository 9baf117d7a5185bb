"""The audit log: who changed what in a tenant, written in the same transaction as the change.

:func:`record` is called *inside* the write's transaction (one INSERT), so an audit row
commits or rolls back with the change it describes: a write refused with an error leaves
no row, and every acknowledged write has exactly one. Rows outlive their tenant
(``tenant_id`` becomes NULL, ``tenant_slug`` stays).

What a row may hold: actor (``token:<token prefix>``, ``admin:<key name>``, ``cli``),
action, resource type and id, a summary naming what changed (attribute names, member ids
capped at :data:`MAX_IDS` with their count), the request id. Never attribute values, never
secrets: :func:`record` also blanks any string that looks like a whole token or key.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable, Iterator

from peewee import fn

from .clock import isoformat, utcnow
from .models import AuditEvent, Tenant
from .prepared import PreparedInsert

#: Member ids listed in a summary; the count is always exact.
MAX_IDS = 100
#: Rows read per query while exporting.
EXPORT_BATCH = 1000
#: Secrets start with this (tenant tokens ``scimgw_``, admin keys ``scimgw_admin_``).
_SECRET_START = "scimgw_"
#: Display prefixes are at most 17 characters; a whole secret is 50 or more.
_SECRET_MIN_LENGTH = 24
REDACTED = "[redacted]"

CLI_ACTOR = "cli"


def token_actor(prefix: str) -> str:
    """The actor of a SCIM request: ``token:<display prefix of its token>``."""
    return f"token:{prefix}"


def admin_actor(key_name: str) -> str:
    """The actor of an admin API request: ``admin:<admin key name>``."""
    return f"admin:{key_name}"


def ids_summary(ids: Iterable[str]) -> dict:
    """``{"count": n, "ids": [first MAX_IDS ids, sorted]}`` for member ids in a summary."""
    ordered = sorted(set(ids))
    return {"count": len(ordered), "ids": ordered[:MAX_IDS]}


def _scrub(value: Any) -> Any:
    """``value`` with every string that could be a whole secret replaced by ``[redacted]``."""
    if isinstance(value, str):
        return REDACTED if value.startswith(_SECRET_START) and len(value) >= _SECRET_MIN_LENGTH else value
    if isinstance(value, dict):
        return {str(key): _scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_scrub(item) for item in items]
    return value


_INSERT = PreparedInsert(AuditEvent)


def record(tenant: Tenant | None, actor: str, action: str, resource_type: str, resource_id: str | None,
           summary: dict | None = None, request_id: str | None = None) -> None:
    """Write one audit event (one INSERT, its SQL built once). Call it inside the change's
    transaction: on PostgreSQL the INSERT goes with the transaction's next statement or its
    ``COMMIT`` (no round trip of its own).

    :param tenant: the tenant changed (its slug is copied so the row survives it).
    :param actor: ``token:<prefix>``, ``admin:<key name>`` or ``cli``.
    :param action: e.g. ``create``, ``patch``, ``disable``, ``tenant_created``, ``token_issued``.
    :param resource_type: ``User``, ``Group``, ``Tenant``, ``Token``, ``Role``...
    :param summary: what changed, by name (never values or secrets).
    :param request_id: the request's ``X-Request-ID`` (``None`` outside a request).
    """
    _INSERT.execute_later(dict(
        tenant=tenant.id if tenant is not None else None,
        tenant_slug=tenant.slug if tenant is not None else "",
        time=utcnow(),
        actor=_scrub(actor or "")[:120],
        action=action[:40],
        resource_type=resource_type[:40],
        resource_id=_scrub(str(resource_id))[:255] if resource_id is not None else None,
        summary=_scrub(summary or {}),
        request_id=(request_id or None) and request_id[:64],
    ))


def as_dict(event: AuditEvent) -> dict:
    """An event as the admin API, the CLI and the export show it."""
    return {
        "id": event.id,
        "time": isoformat(event.time),
        "tenant": event.tenant_slug,
        "actor": event.actor,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "summary": event.summary or {},
        "request_id": event.request_id,
    }


def _scope(tenant: Tenant | str):
    """Events of a tenant; for a slug with no tenant, the trail a deleted tenant left."""
    if isinstance(tenant, str):
        existing = Tenant.get_or_none(Tenant.slug == tenant)
        if existing is None:
            return (AuditEvent.tenant_slug == tenant) & AuditEvent.tenant.is_null()
        tenant = existing
    return AuditEvent.tenant == tenant.id


def _where(tenant, since: dt.datetime | None, until: dt.datetime | None, actor: str | None = None,
           resource: str | None = None):
    condition = _scope(tenant)
    if since is not None:
        condition &= AuditEvent.time >= _naive_utc(since)
    if until is not None:
        condition &= AuditEvent.time < _naive_utc(until)
    if actor:
        condition &= AuditEvent.actor == actor
    if resource:
        condition &= (AuditEvent.resource_id == resource) | (fn.LOWER(AuditEvent.resource_type) == resource.lower())
    return condition


def _naive_utc(value: dt.datetime) -> dt.datetime:
    """Stored times are naive UTC; an aware datetime is converted, a naive one taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def list_events(tenant: Tenant | str, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                actor: str | None = None, resource: str | None = None, page: int = 1,
                per_page: int = 50) -> tuple[int, list[dict]]:
    """``(total matching, one page of events as dicts)``, newest first: two queries.

    :param tenant: a tenant, or a slug (a slug with no tenant lists a deleted tenant's trail).
    :param since: events at or after this time; ``until``: events before this time.
    :param actor: exactly this actor (``admin:alice``, ``token:scimgw_AbCd1``, ``cli``).
    :param resource: a resource id, or a resource type (``User``, ``group``...).
    """
    query = AuditEvent.select().where(_where(tenant, since, until, actor, resource))
    total = query.count()
    page, per_page = max(1, page), max(0, per_page)
    offset = (page - 1) * per_page
    if per_page == 0 or offset >= total:
        return total, []
    rows = query.order_by(AuditEvent.time.desc(), AuditEvent.id.desc()).offset(offset).limit(per_page)
    return total, [as_dict(row) for row in rows]


def export_lines(tenant: Tenant | str, since: dt.datetime | None = None,
                 until: dt.datetime | None = None) -> Iterator[str]:
    """Every matching event as one JSON object per line (``\\n``-terminated), oldest first.

    Reads :data:`EXPORT_BATCH` rows per query (keyset on ``time, id``), so a long trail is
    streamed with bounded memory. Needs an open database connection while iterated.
    """
    condition = _where(tenant, since, until)
    after: tuple[dt.datetime, int] | None = None
    while True:
        query = AuditEvent.select().where(condition)
        if after is not None:
            last_time, last_id = after
            query = query.where((AuditEvent.time > last_time)
                                | ((AuditEvent.time == last_time) & (AuditEvent.id > last_id)))
        rows = list(query.order_by(AuditEvent.time, AuditEvent.id).limit(EXPORT_BATCH))
        for row in rows:
            yield json.dumps(as_dict(row), separators=(",", ":")) + "\n"
        if len(rows) < EXPORT_BATCH:
            return
        after = (rows[-1].time, rows[-1].id)
