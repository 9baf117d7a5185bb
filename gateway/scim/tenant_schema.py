"""A tenant's schemas: what it reads from clients and what it stores, from its plugins.

Inbound bodies are read against the whole catalogue plus the extensions the tenant's
plugins contribute; what is stored and returned (and shown in ``/Schemas``) is the
catalogue restricted to the attribute-mapping answer. Required attributes (userName,
displayName) are always kept. Computed once per tenant settings version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from ..plugin_manager import TenantHooks
from .catalog import restrict
from .filter_json import ExtraAttributes
from .filter_sql import FilterTarget
from .resources import ResourceKind
from .schema import ResourceSchema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantSchemas:
    """The schema sets of one resource type for one tenant."""

    inbound: ResourceSchema
    stored: ResourceSchema
    stored_paths: tuple[str, ...]
    filter_target: FilterTarget


def _compute(hooks: TenantHooks, kind: ResourceKind) -> TenantSchemas:
    contributed = tuple(hooks.schema_extensions(kind.name))
    inbound = ResourceSchema(kind.catalog.core, (*kind.catalog.extensions, *contributed))
    paths = hooks.stored_attributes(kind.name)
    kept: dict[str, set[str]] = {schema.id: set() for schema in inbound.all}
    for path in paths:
        schema, attribute, sub = inbound.resolve(path)
        if attribute is None:
            log.warning("Tenant %r stores unknown attribute path %r: ignored", hooks.context.slug, path)
            continue
        kept.setdefault(schema.id, set()).add(attribute.key if sub is None else f"{attribute.key}.{sub.lower()}")
    kept[kind.catalog.core.id] |= {a.key for a in kind.catalog.core.attributes if a.required}
    core = restrict(kind.catalog.core, kept[kind.catalog.core.id],
                    f"{kind.catalog.core.description}: the attributes this tenant stores; others are disregarded.")
    extensions = [restrict(schema, kept[schema.id]) for schema in kind.catalog.extensions]
    stored = ResourceSchema(core, tuple(e for e in (*extensions, *contributed) if e is not None))
    target = replace(kind.filter_target, extra=ExtraAttributes(kind.repository.model.extra, stored))
    return TenantSchemas(inbound=inbound, stored=stored, stored_paths=tuple(paths), filter_target=target)


def schemas_for(hooks: TenantHooks, kind: ResourceKind) -> TenantSchemas:
    """The tenant's schema sets for ``kind`` (memoised on the tenant's hook facade)."""
    key = ("schemas", kind.name)
    if key not in hooks.memo:
        hooks.memo[key] = _compute(hooks, kind)
    return hooks.memo[key]
