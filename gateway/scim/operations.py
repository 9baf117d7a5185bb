"""What each SCIM request does, independent of Flask: list, read, create, replace, patch, delete.

Each write runs in one transaction (:func:`tenants.db.write_transaction`) in this order:
read against the tenant's schemas -> ``scim_map_resource`` -> ``scim_validate_resource``
-> ``scim_deprovision`` where access is taken away -> storage; ``scim_after_change`` runs
once the transaction has committed. The database's UNIQUE indexes decide duplicates, and
storage exceptions become SCIM errors here, once. Functions return rendered resources;
the views add HTTP status and headers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from peewee import fn
from werkzeug.datastructures import ETags

from tenants import audit
from tenants.clock import utcnow
from tenants.db import write_transaction
from tenants.keys import fold
from tenants.models import Tenant, User
from tenants.repositories import Duplicate, GroupRepository, UnknownMembers, UserRepository
from tenants.statements import StatementsLost

from ..errors import InvalidPathError, InvalidValueError, NotFoundError, PreconditionFailedError, UniquenessError
from ..flask_app import app_config
from ..plugin_manager import TenantHooks
from ..policy import (
    GROUP_DELETED,
    MEMBERS_REMOVED,
    USER_DEACTIVATED,
    USER_DELETED,
    Change,
    DeprovisionEvent,
    GroupInfo,
)
from ..roles import user_info
from . import filters
from .documents import document, project
from .filter_sql import Column, FilterTarget, bytewise, compile_filter, selective
from .patch import MemberOp, member_values, parse_request, plan
from .projection import Projection
from .resources import USERS, ResourceKind, kind_named
from .schema import COLUMN_LENGTH
from .tenant_schema import schemas_for

LOOKUP_LIMIT = 5


@dataclass(frozen=True)
class RequestContext:
    """Who is asking: the tenant, its hooks, the SCIM base URL, the actor (token prefix)."""

    tenant: Tenant
    hooks: TenantHooks
    base_url: str
    actor: str = ""
    if_match: ETags | None = None  # the request's If-Match, checked by writes (RFC 7644 §3.14)
    request_id: str = ""  # the request's X-Request-ID, recorded with each audit event

    @property
    def audit_actor(self) -> str:
        """The actor in the audit log: ``token:<token prefix>`` (or ``actor`` as given if qualified)."""
        return self.actor if ":" in self.actor or self.actor == audit.CLI_ACTOR else audit.token_actor(self.actor)


@dataclass(frozen=True)
class ListQuery:
    """The parsed query of a list or search request (RFC 7644 §3.4.2, §3.4.3)."""

    filter: filters.Filter | None
    start_index: int
    count: int
    attributes: str | None = None
    excluded_attributes: str | None = None
    sort_by: str | None = None
    descending: bool = False


def projection_for(ctx: RequestContext, kind: ResourceKind, attributes: str | None,
                   excluded: str | None) -> Projection:
    """The attribute selection of a request, resolved against the tenant's stored schemas."""
    return Projection.parse(attributes, excluded, schemas_for(ctx.hooks, kind).stored)


def _members_for(kind: ResourceKind, repository, rows, projection: Projection) -> dict | None:
    if not kind.has_members or not projection.wants("members"):
        return None
    return repository.members(row.id for row in rows)


def _render(kind: ResourceKind, row, base_url: str, projection: Projection, members: dict | None) -> dict:
    resource = kind.render(row, base_url, members.get(row.id, []) if members is not None else None)
    return projection.apply(resource)


def _page(ctx: RequestContext, kind: ResourceKind, query: ListQuery, offset: int, limit: int):
    """``(total matching, rendered page)``: a count, a page and at most one members query."""
    repository = kind.repository(ctx.tenant)
    target = schemas_for(ctx.hooks, kind).filter_target
    where = compile_filter(query.filter, target) if query.filter is not None else None
    pinned = query.filter is not None and selective(query.filter, target)
    total, rows = repository.page(where, offset, limit, _order(target, kind, query), selective=pinned)
    projection = projection_for(ctx, kind, query.attributes, query.excluded_attributes)
    members = _members_for(kind, repository, rows, projection)
    return total, [_render(kind, row, ctx.base_url, projection, members) for row in rows]


def _order(target: FilterTarget, kind: ResourceKind, query: ListQuery):
    """ORDER BY for ``sortBy``/``sortOrder`` (RFC 7644 §3.4.2.3); ``None``: creation order.

    Unassigned values sort last in either direction, on both databases; the id breaks
    ties so pages never overlap. An attribute that cannot be sorted (unknown, or kept in
    another table like members) leaves the default order.
    """
    if not query.sort_by:
        return None
    try:
        path = filters.parse_patch_path(query.sort_by).path
    except InvalidPathError:
        raise InvalidValueError(f"sortBy {query.sort_by!r} is not an attribute path.") from None
    column = target.column(path)
    if column is None or column.related is not None:
        return None
    field = fn.LOWER(column.field) if column.kind == "text" else column.field
    if column.kind in ("text", "folded", "exact"):
        field = bytewise(field)
    key = field.desc(nulls="LAST") if query.descending else field.asc(nulls="LAST")
    return (key, kind.repository.model.id)


def check_precondition(ctx: RequestContext, row) -> None:
    """412 unless the request's If-Match names the row's current version (or ``*``)."""
    if ctx.if_match and not ctx.if_match.star_tag and not ctx.if_match.contains_weak(str(row.version)):
        raise PreconditionFailedError(
            f"If-Match does not match the current version W/\"{row.version}\": re-read the resource and retry."
        )


def list_response(total: int, start_index: int, resources: list[dict]) -> dict:
    """A ListResponse message (RFC 7644 §3.4.2)."""
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": start_index,
        "Resources": resources,
    }


def list_resources(ctx: RequestContext, kind: ResourceKind, query: ListQuery) -> dict:
    """A ListResponse page of one resource type."""
    total, resources = _page(ctx, kind, query, query.start_index - 1, query.count)
    return list_response(total, query.start_index, resources)


def search_all(ctx: RequestContext, kinds: list[ResourceKind], query: ListQuery) -> dict:
    """A root-level search (RFC 7644 §3.4.3): one page over the kinds' results, in order."""
    total, resources = 0, []
    skip, remaining = query.start_index - 1, query.count
    for kind in kinds:
        kind_total, page = _page(ctx, kind, query, skip, remaining)
        total += kind_total
        skip = max(0, skip - kind_total)
        remaining -= len(page)
        resources.extend(page)
    return list_response(total, query.start_index, resources)


def lookup_ids(tenant: Tenant, resource_type: str, scim_filter: str) -> list[str]:
    """Ids of ``tenant``'s resources matching ``scim_filter`` (at most a few): for plugins.

    It filters on the attributes with dedicated columns (userName, externalId, names,
    active, displayName, members, meta dates), which is what uniqueness checks need.
    """
    kind = kind_named(resource_type)
    if kind is None:
        raise ValueError(f"No resource type {resource_type!r}.")
    parsed = filters.parse_filter(scim_filter)
    where = compile_filter(parsed, kind.filter_target)
    _, rows = kind.repository(tenant).page(where, 0, LOOKUP_LIMIT,
                                           selective=selective(parsed, kind.filter_target))
    return [row.id for row in rows]


def lookup_for(tenant: Tenant):
    """The ``TenantContext.lookup`` callable for ``tenant``."""
    return functools.partial(lookup_ids, tenant)


def _load(kind: ResourceKind, repository, resource_id: str, for_update: bool = False):
    if len(resource_id) > 64 or "\x00" in resource_id:  # not an id this gateway ever issued
        raise NotFoundError(f"{kind.name} not found.")
    row = repository.get(resource_id, for_update=for_update)
    if row is None:
        raise NotFoundError(f"{kind.name} {resource_id!r} not found.")
    return row


def get_resource(ctx: RequestContext, kind: ResourceKind, resource_id: str, projection: Projection):
    """``(row, rendered resource)`` of one resource, or :class:`NotFoundError`."""
    repository = kind.repository(ctx.tenant)
    row = _load(kind, repository, resource_id)
    return row, _rendered(ctx, kind, repository, row, projection)


def _rendered(ctx: RequestContext, kind: ResourceKind, repository, row, projection: Projection) -> dict:
    """``row`` rendered for an answer, with its members read if the projection wants them."""
    return _render(kind, row, ctx.base_url, projection, _members_for(kind, repository, [row], projection))


def _required(kind: ResourceKind, doc: dict) -> None:
    for attribute in kind.catalog.core.attributes:
        if attribute.required and doc.get(attribute.name) in (None, ""):
            raise InvalidValueError(f"'{attribute.name}' is required.")


def _storage_errors(call):
    """Run ``call`` (a write, one transaction) and answer its storage errors as SCIM errors.

    A transaction that found its PostgreSQL session had lost the prepared statements
    (``DISCARD ALL`` from a pooler: :class:`~tenants.statements.StatementsLost`) was rolled
    back; it runs once more, its statements prepared afresh.
    """
    try:
        try:
            return call()
        except StatementsLost:
            return call()
    except Duplicate as error:
        raise UniquenessError(
            f"{error.attribute} {error.value!r} is already in use in this tenant "
            "(compared case-insensitively)."
        ) from None
    except UnknownMembers as error:
        raise InvalidValueError(
            "These member values are not users of this tenant: " + ", ".join(error.ids[:20])
        ) from None


def _split_members(kind: ResourceKind, body_doc: dict) -> dict[str, str | None] | None:
    if not kind.has_members or "members" not in body_doc:
        return None
    return member_values(body_doc.pop("members") or [])


def _stored(ctx: RequestContext, kind: ResourceKind, inbound: dict, current: dict | None) -> dict:
    """Map and validate an inbound document: what will be stored."""
    schemas = schemas_for(ctx.hooks, kind)
    mapped = ctx.hooks.map_resource(kind.name, inbound, list(schemas.stored_paths))
    doc = project(mapped, schemas.stored)
    doc.pop("members", None)
    _required(kind, doc)
    unique = kind.repository.unique_attribute  # userName / displayName: kept folded, unique
    if len(fold(doc[unique])) > COLUMN_LENGTH:
        raise InvalidValueError(f"'{unique}' is too long once case-folded ({COLUMN_LENGTH} at most).")
    ctx.hooks.validate(kind.name, doc, current)
    return doc


def _audit(ctx: RequestContext, action: str, kind: ResourceKind, resource_id: str, summary: dict) -> None:
    """Record the write in the audit log: one INSERT, inside the write's transaction.

    ``summary`` names what changed (attribute names, member ids); empty parts are left out.
    """
    audit.record(ctx.tenant, ctx.audit_actor, action, kind.name, resource_id,
                 {key: value for key, value in summary.items() if value not in (None, [], {}, 0)},
                 ctx.request_id or None)


def _member_summary(added=(), removed=(), disabled: int = 0) -> dict:
    """The membership part of an audit summary (ids capped, counts exact)."""
    return {
        "members_added": audit.ids_summary(added) if added else None,
        "members_removed": audit.ids_summary(removed) if removed else None,
        "members_disabled": disabled,
    }


def _notify(ctx: RequestContext, action: str, kind: ResourceKind, resource_id: str, **summary) -> None:
    ctx.hooks.after_change(Change(action=action, resource_type=kind.name, resource_id=resource_id,
                                  summary=summary, actor=ctx.actor))


def _changed_keys(before: dict, after: dict) -> list[str]:
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


def _store(ctx: RequestContext, kind: ResourceKind, repository, row, doc: dict, action: str) -> str:
    """Write ``doc`` onto ``row``; returns the action taken (``action``, or the policy's).

    For users, ``active`` turning false is a deprovisioning: the tenant's policy decides
    whether the user is disabled, tombstoned or deleted.
    """
    if kind is not USERS:
        repository.update(row, kind.to_columns(doc))
        return action
    columns = USERS.to_columns(doc)
    if columns["active"] is False and row.active is not False:
        action = ctx.hooks.deprovision(DeprovisionEvent(USER_DEACTIVATED, user=user_info(row)))
        columns["disabled_at"] = utcnow()
    elif columns["active"] is not False:
        columns["disabled_at"] = None
    repository.update(row, columns)
    if action == "tombstone":
        repository.tombstone(row)
    elif action == "delete":
        repository.delete(row)
    return action


def create_resource(ctx: RequestContext, kind: ResourceKind, body: dict, projection: Projection):
    """Create a resource from a POST body; ``(row, rendered resource)``."""
    schemas = schemas_for(ctx.hooks, kind)
    inbound = document(schemas.inbound, body)
    members = _split_members(kind, inbound)
    repository = kind.repository(ctx.tenant)

    def write():
        with write_transaction():
            doc = _stored(ctx, kind, inbound, None)
            columns = kind.to_columns(doc)
            if kind is USERS:
                columns["disabled_at"] = utcnow() if columns["active"] is False else None
            row = repository.create(columns)
            if members:
                repository.add_members(row, members)
            _audit(ctx, "create", kind, row.id, {"attributes": sorted(doc), **_member_summary(added=members or ())})
            return row, doc

    row, doc = _storage_errors(write)
    _notify(ctx, "create", kind, row.id, attributes=sorted(doc), members_added=sorted(members or []))
    return row, _rendered(ctx, kind, repository, row, projection)  # the row as written: no second read


def replace_resource(ctx: RequestContext, kind: ResourceKind, resource_id: str, body: dict,
                     projection: Projection):
    """Replace a resource with a PUT body (RFC 7644 §3.5.1); ``(row, rendered resource)``.

    Attributes left out are cleared, except ``kind.kept_on_replace`` (``active``), which
    keep their current value, so a PUT never silently re-enables a disabled user.
    """
    schemas = schemas_for(ctx.hooks, kind)
    inbound = document(schemas.inbound, body)
    members = _split_members(kind, inbound)
    if kind.has_members and members is None:
        members = {}  # PUT replaces everything: no members given means none
    repository = kind.repository(ctx.tenant)

    def write():
        with write_transaction():
            row = _load(kind, repository, resource_id, for_update=True)
            check_precondition(ctx, row)
            current = kind.to_document(row)
            inbound_full = {**{k: current[k] for k in kind.kept_on_replace if k in current}, **inbound}
            doc = _stored(ctx, kind, inbound_full, {**current, "id": row.id})
            action = _store(ctx, kind, repository, row, doc, "replace")
            added, removed = repository.replace_members(row, members) if members is not None else (set(), [])
            disabled = _members_removed(ctx, row, removed)
            changed = _changed_keys(current, doc)
            _audit(ctx, action, kind, row.id, {"attributes": changed, **_member_summary(added, removed, disabled),
                                               "unchanged": not (changed or added or removed) or None})
            return row, current, doc, action, removed

    row, before, after, action, removed = _storage_errors(write)
    _notify(ctx, action, kind, row.id, attributes=_changed_keys(before, after), members_removed=removed[:100])
    return _after_write(ctx, kind, repository, row, action, projection)


def _after_write(ctx: RequestContext, kind: ResourceKind, repository, row, action: str, projection: Projection):
    """``(row, answer)`` of a replace or patch: ``row`` as the write left it (not read again)."""
    if action in ("tombstone", "delete"):  # deprovisioned by policy: gone from SCIM
        return row, projection.apply(kind.render(row, ctx.base_url, [] if kind.has_members else None))
    return row, _rendered(ctx, kind, repository, row, projection)


def _members_removed(ctx: RequestContext, row, removed: list[str]) -> int:
    """Ask the deprovisioning policy about users who left the group; disable them if it says so.

    Returns how many users were disabled.
    """
    if not removed:
        return 0
    event = DeprovisionEvent(
        MEMBERS_REMOVED, group=GroupInfo(id=row.id, display_name=row.display_name), user_ids=tuple(removed)
    )
    if ctx.hooks.deprovision(event) == "disable":
        return UserRepository(ctx.tenant).disable(removed)
    return 0


def _member_target(member) -> FilterTarget:
    """Filter columns inside ``members[...]``: value and display of a membership row."""
    return FilterTarget(
        schemas=frozenset(),
        columns={
            ("value", None): Column(member.user),
            ("display", None): Column(fn.COALESCE(member.display, User.user_name), "text"),
        },
    )


def _apply_member_op(repository: GroupRepository, row, op: MemberOp) -> tuple[set[str], list[str]]:
    """Run one member operation; ``(user ids added, user ids removed)``."""
    if op.action == "add":
        return repository.add_members(row, op.members), []
    if op.action == "remove":
        return set(), repository.remove_members(row, op.ids)
    if op.action == "replace":
        return repository.replace_members(row, op.members)
    return set(), repository.remove_members_where(row, lambda member: compile_filter(op.where, _member_target(member)))


def patch_resource(ctx: RequestContext, kind: ResourceKind, resource_id: str, body, projection: Projection):
    """Apply a PatchOp (RFC 7644 §3.5.2) atomically; ``(row, rendered resource or None)``.

    A PATCH that changes nothing leaves ``meta.version`` as it was. The resource is
    ``None`` (the view answers 204) for a group with more than ``PATCH_RESPONSE_MAX_MEMBERS``
    members when the request did not choose attributes, so a one-member change costs the
    same in a group of 50,000 as in a group of 50.
    """
    operations = parse_request(body)
    schemas = schemas_for(ctx.hooks, kind)
    repository = kind.repository(ctx.tenant)

    def write():
        with write_transaction():
            row = _load(kind, repository, resource_id, for_update=True)
            check_precondition(ctx, row)
            current = kind.to_document(row)
            change = plan(schemas.stored, current, operations, row.id)
            removed, added_ids = [], set()
            for op in change.member_ops:
                op_added, op_removed = _apply_member_op(repository, row, op)
                added_ids, removed = added_ids | op_added, removed + op_removed
            action = "patch"
            if change.changed:
                doc = _stored(ctx, kind, change.document, {**current, "id": row.id})
                action = _store(ctx, kind, repository, row, doc, action)
            elif added_ids or removed:
                repository.touch(row)
                repository.save_changes_later(row)  # locked FOR UPDATE above, no name changed
            disabled = _members_removed(ctx, row, removed)
            changed = _changed_keys(current, change.document) if change.changed else []
            logged = action
            if action == "patch" and not changed and (added_ids or removed):  # a membership-only PATCH
                logged = "members_added" if not removed else "members_removed" if not added_ids else "patch"
            _audit(ctx, logged, kind, row.id, {"attributes": changed, **_member_summary(added_ids, removed, disabled),
                                               "unchanged": not (changed or added_ids or removed) or None})
            return row, current, change.document, action, removed

    row, before, after, action, removed = _storage_errors(write)
    _notify(ctx, action, kind, row.id, attributes=_changed_keys(before, after), members_removed=removed[:100])
    if (kind.has_members and projection.is_default
            and repository.has_more_members_than(row, app_config()["PATCH_RESPONSE_MAX_MEMBERS"])):
        return row, None
    return _after_write(ctx, kind, repository, row, action, projection)


def delete_resource(ctx: RequestContext, kind: ResourceKind, resource_id: str) -> None:
    """Deprovision a resource as the tenant's deprovisioning policy decides (default: delete)."""
    repository = kind.repository(ctx.tenant)

    def write():
        with write_transaction():
            row = _load(kind, repository, resource_id)
            check_precondition(ctx, row)
            disabled = 0
            if kind is USERS:
                action = ctx.hooks.deprovision(DeprovisionEvent(USER_DELETED, user=user_info(row)))
                if action == "tombstone":
                    repository.tombstone(row)
                elif action == "disable":
                    repository.update(row, {"active": False, "disabled_at": utcnow()})
                else:
                    repository.delete(row)
            else:
                action = ctx.hooks.deprovision(
                    DeprovisionEvent(GROUP_DELETED, group=GroupInfo(id=row.id, display_name=row.display_name))
                )
                if action == "delete_and_disable_members":
                    disabled = UserRepository(ctx.tenant).disable(sorted(repository.member_ids(row)))
                repository.delete(row)
            logged = "delete" if action.startswith("delete") else action
            _audit(ctx, logged, kind, row.id,
                   {"deprovisioning": action if action != logged else None, "members_disabled": disabled})
            return row, action

    row, action = _storage_errors(write)
    _notify(ctx, "delete" if action.startswith("delete") else action, kind, row.id)


def page_size(requested: int | None) -> int:
    """The ``count`` to use: the default when absent, clamped to ``[0, MAX_PAGE_SIZE]``."""
    config = app_config()
    if requested is None:
        return config["DEFAULT_PAGE_SIZE"]
    return max(0, min(requested, config["MAX_PAGE_SIZE"]))

