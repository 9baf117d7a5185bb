"""What each SCIM request does, independent of Flask: list, read, create, replace, patch, delete.

Each write runs in one transaction (:func:`tenants.db.write_transaction`); the database's
UNIQUE indexes decide duplicates, and storage exceptions become SCIM errors here, once.
Functions return rendered SCIM resources; the views add HTTP status and headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from tenants.db import write_transaction
from tenants.models import Tenant, User
from tenants.repositories import Duplicate, UnknownMembers

from ..errors import InvalidValueError, NotFoundError, UniquenessError
from . import filters
from .documents import document
from .filter_sql import Column, FilterTarget, compile_filter
from .patch import MemberOp, member_values, parse_request, plan
from .projection import Projection
from .resources import ResourceKind

MEMBER_TARGET = FilterTarget(
    schemas=frozenset(),
    columns={
        ("value", None): Column(User.id),
        ("display", None): Column(User.user_name_key, "folded"),
    },
)


@dataclass(frozen=True)
class ListQuery:
    """The parsed query of a list or search request (RFC 7644 §3.4.2, §3.4.3)."""

    filter: filters.Filter | None
    start_index: int
    count: int
    attributes: str | None = None
    excluded_attributes: str | None = None

    def projection(self, kind: ResourceKind) -> Projection:
        """The attribute selection, resolved against ``kind``'s schema."""
        return Projection.parse(self.attributes, self.excluded_attributes, kind.schema)


def _members_for(kind: ResourceKind, repository, rows, projection: Projection) -> dict | None:
    if not kind.has_members or not projection.wants("members"):
        return None
    return repository.members(row.id for row in rows)


def _render(kind: ResourceKind, row, base_url: str, projection: Projection, members: dict | None) -> dict:
    resource = kind.render(row, base_url, members.get(row.id, []) if members is not None else None)
    return projection.apply(resource)


def _page(kind: ResourceKind, tenant: Tenant, base_url: str, query: ListQuery, offset: int, limit: int):
    """``(total matching, rendered page)``: a count, a page and at most one members query."""
    repository = kind.repository(tenant)
    where = compile_filter(query.filter, kind.filter_target) if query.filter is not None else None
    total, rows = repository.page(where, offset, limit)
    projection = query.projection(kind)
    members = _members_for(kind, repository, rows, projection)
    return total, [_render(kind, row, base_url, projection, members) for row in rows]


def list_response(total: int, start_index: int, resources: list[dict]) -> dict:
    """A ListResponse message (RFC 7644 §3.4.2)."""
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": start_index,
        "Resources": resources,
    }


def list_resources(kind: ResourceKind, tenant: Tenant, base_url: str, query: ListQuery) -> dict:
    """A ListResponse page of one resource type."""
    total, resources = _page(kind, tenant, base_url, query, query.start_index - 1, query.count)
    return list_response(total, query.start_index, resources)


def search_all(kinds: list[ResourceKind], tenant: Tenant, base_url: str, query: ListQuery) -> dict:
    """A root-level search (RFC 7644 §3.4.3): one page over the kinds' results, in order."""
    total, resources = 0, []
    skip, remaining = query.start_index - 1, query.count
    for kind in kinds:
        kind_total, page = _page(kind, tenant, base_url, query, skip, remaining)
        total += kind_total
        skip = max(0, skip - kind_total)
        remaining -= len(page)
        resources.extend(page)
    return list_response(total, query.start_index, resources)


def _load(kind: ResourceKind, repository, resource_id: str):
    row = repository.get(resource_id)
    if row is None:
        raise NotFoundError(f"{kind.name} {resource_id!r} not found.")
    return row


def get_resource(kind: ResourceKind, tenant: Tenant, base_url: str, resource_id: str, projection: Projection):
    """``(row, rendered resource)`` of one resource, or :class:`NotFoundError`."""
    repository = kind.repository(tenant)
    row = _load(kind, repository, resource_id)
    members = _members_for(kind, repository, [row], projection)
    return row, _render(kind, row, base_url, projection, members)


def _reread(kind: ResourceKind, repository, row, base_url: str, projection: Projection):
    members = _members_for(kind, repository, [row], projection)
    return row, _render(kind, row, base_url, projection, members)


def _required(kind: ResourceKind, doc: dict) -> None:
    for attribute in kind.schema.attributes:
        if attribute.required and doc.get(attribute.name) in (None, ""):
            raise InvalidValueError(f"'{attribute.name}' is required.")


def _storage_errors(call):
    try:
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


def _split_members(kind: ResourceKind, doc: dict) -> dict[str, str | None] | None:
    if not kind.has_members or "members" not in doc:
        return None
    return member_values(doc.pop("members") or [])


def create_resource(kind: ResourceKind, tenant: Tenant, base_url: str, body: dict, projection: Projection):
    """Create a resource from a POST body; ``(row, rendered resource)``."""
    doc = document(kind.schema, body)
    members = _split_members(kind, doc)
    _required(kind, doc)
    repository = kind.repository(tenant)

    def write():
        with write_transaction():
            row = repository.create(kind.to_columns(doc))
            if members:
                repository.add_members(row, members)
            return row

    row = _storage_errors(write)
    return _reread(kind, repository, row, base_url, projection)


def replace_resource(kind: ResourceKind, tenant: Tenant, base_url: str, resource_id: str, body: dict,
                     projection: Projection):
    """Replace a resource with a PUT body (RFC 7644 §3.5.1); ``(row, rendered resource)``.

    Attributes left out are cleared, except ``kind.kept_on_replace`` (``active``), which
    keep their current value, so a PUT never silently re-enables a disabled user.
    """
    repository = kind.repository(tenant)
    doc = document(kind.schema, body)
    members = _split_members(kind, doc)
    _required(kind, doc)

    def write():
        with write_transaction():
            row = _load(kind, repository, resource_id)
            current = kind.to_document(row)
            full = {**{k: current.get(k) for k in kind.kept_on_replace}, **doc}
            repository.update(row, kind.to_columns(full))
            if members is not None:
                repository.replace_members(row, members)
            return row

    row = _storage_errors(write)
    return _reread(kind, repository, row, base_url, projection)


def _apply_member_op(repository, row, op: MemberOp) -> int:
    if op.action == "add":
        return repository.add_members(row, op.members)
    if op.action == "remove":
        return repository.remove_members(row, op.ids)
    if op.action == "replace":
        return repository.replace_members(row, op.members)
    return repository.remove_members_where(row, compile_filter(op.where, MEMBER_TARGET))


def patch_resource(kind: ResourceKind, tenant: Tenant, base_url: str, resource_id: str, body,
                   projection: Projection):
    """Apply a PatchOp (RFC 7644 §3.5.2) atomically; ``(row, rendered resource)``.

    A PATCH that changes nothing leaves ``meta.version`` as it was.
    """
    operations = parse_request(body)
    repository = kind.repository(tenant)

    def write():
        with write_transaction():
            row = _load(kind, repository, resource_id)
            change = plan(kind.schema, kind.to_document(row), operations)
            touched = sum(_apply_member_op(repository, row, op) for op in change.member_ops)
            if change.changed:
                repository.update(row, kind.to_columns(change.document))
            elif touched:
                repository.touch(row)
                row.save()
            return row

    row = _storage_errors(write)
    return _reread(kind, repository, row, base_url, projection)


def delete_resource(kind: ResourceKind, tenant: Tenant, resource_id: str) -> None:
    """Delete a resource (and, for either kind, its memberships)."""
    repository = kind.repository(tenant)
    with write_transaction():
        repository.delete(_load(kind, repository, resource_id))


def page_size(requested: int | None) -> int:
    """The ``count`` to use: the default when absent, clamped to ``[0, MAX_PAGE_SIZE]``."""
    config = current_app.config
    if requested is None:
        return config["DEFAULT_PAGE_SIZE"]
    return max(0, min(requested, config["MAX_PAGE_SIZE"]))
