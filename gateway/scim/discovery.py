"""Discovery resources (RFC 7644 §4): ServiceProviderConfig, ResourceTypes, Schemas.

They tell the truth about what this gateway does for the tenant: only features that work
are advertised, and ``/Schemas`` lists exactly the attributes that are stored and
returned.
"""

from __future__ import annotations

from flask import current_app

from ..auth import public_base
from ..plugin_manager import TenantHooks
from .resources import KINDS, ResourceKind
from .schema import RESOURCE_TYPE_SCHEMA, SERVICE_PROVIDER_CONFIG_SCHEMA, Schema
from .tenant_schema import schemas_for


def service_provider_config(base_url: str) -> dict:
    """The ServiceProviderConfig resource (RFC 7643 §5)."""
    config = current_app.config
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": f"{public_base()}/docs",
        "patch": {"supported": True},
        "bulk": {
            "supported": config["BULK_MAX_OPERATIONS"] > 0,
            "maxOperations": config["BULK_MAX_OPERATIONS"],
            "maxPayloadSize": config["BULK_MAX_PAYLOAD_SIZE"],
        },
        "filter": {"supported": True, "maxResults": config["MAX_PAGE_SIZE"]},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The tenant's Secret token in 'Authorization: Bearer <token>'.",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_type(hooks: TenantHooks, kind: ResourceKind, base_url: str) -> dict:
    """The ResourceType resource of one kind (RFC 7643 §6), with this tenant's extensions."""
    stored = schemas_for(hooks, kind).stored
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name,
        "name": kind.name,
        "endpoint": f"/{kind.endpoint}",
        "description": kind.catalog.core.description,
        "schema": kind.catalog.core.id,
        "schemaExtensions": [{"schema": schema.id, "required": False} for schema in stored.extensions],
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/{kind.name}"},
    }


def resource_types(hooks: TenantHooks, base_url: str) -> list[dict]:
    """Every ResourceType this gateway serves."""
    return [resource_type(hooks, kind, base_url) for kind in KINDS.values()]


def schemas(hooks: TenantHooks) -> list[Schema]:
    """Every schema this tenant stores: each resource type's core schema and extensions."""
    return [schema for kind in KINDS.values() for schema in schemas_for(hooks, kind).stored.all]


def find_schema(hooks: TenantHooks, schema_id: str) -> Schema | None:
    """The schema with URN ``schema_id`` for this tenant, or ``None``."""
    return next((schema for schema in schemas(hooks) if schema.id == schema_id), None)
