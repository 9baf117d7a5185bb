"""Discovery resources (RFC 7644 §4): ServiceProviderConfig, ResourceTypes, Schemas.

They tell the truth about what this gateway does for the tenant: only features that work
are advertised, and ``/Schemas`` lists exactly the attributes that are stored and
returned.
"""

from __future__ import annotations

from flask import current_app

from .resources import KINDS, ResourceKind
from .schema import RESOURCE_TYPE_SCHEMA, SCHEMAS, SERVICE_PROVIDER_CONFIG_SCHEMA, Schema

DOCUMENTATION_URI = "https://github.com/scim-gateway/scim-gateway#readme"


def service_provider_config(base_url: str) -> dict:
    """The ServiceProviderConfig resource (RFC 7643 §5)."""
    config = current_app.config
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": DOCUMENTATION_URI,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": config["MAX_PAGE_SIZE"]},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
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


def resource_type(kind: ResourceKind, base_url: str) -> dict:
    """The ResourceType resource of one kind (RFC 7643 §6)."""
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name,
        "name": kind.name,
        "endpoint": f"/{kind.endpoint}",
        "description": kind.schema.description,
        "schema": kind.schema.id,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/{kind.name}"},
    }


def resource_types(base_url: str) -> list[dict]:
    """Every ResourceType this gateway serves."""
    return [resource_type(kind, base_url) for kind in KINDS.values()]


def find_resource_type(name: str) -> ResourceKind | None:
    """The kind whose ResourceType id is ``name``, or ``None``."""
    return next((kind for kind in KINDS.values() if kind.name == name), None)


def schemas() -> tuple[Schema, ...]:
    """Every schema this gateway serves."""
    return SCHEMAS


def find_schema(schema_id: str) -> Schema | None:
    """The schema with URN ``schema_id``, or ``None``."""
    return next((schema for schema in SCHEMAS if schema.id == schema_id), None)
