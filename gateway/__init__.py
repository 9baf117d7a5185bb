"""SCIM gateway: a multi-tenant SCIM 2.0 provisioning gateway (the HTTP layer).

Build the application with :func:`gateway.app.create_app`; ``wsgi.py`` does that for WSGI
servers.

Plugin authors import only what this module re-exports: the ``hookimpl`` marker, the
plain data types hooks receive (:mod:`gateway.policy`), the SCIM errors they may raise
(:mod:`gateway.errors`), and ``Schema``/``Attribute`` for ``scim_schema_extensions``.
"""

from .errors import (
    ConflictError,
    InvalidValueError,
    MutabilityError,
    ScimError,
    UniquenessError,
)
from .hookspecs import hookimpl
from .scim.schema import Attribute, Schema
from .policy import (
    Change,
    DeprovisionEvent,
    GroupInfo,
    Retention,
    RoleGrant,
    RoleInfo,
    TenantContext,
    UserInfo,
)

__all__ = [
    "Attribute",
    "Change",
    "ConflictError",
    "DeprovisionEvent",
    "GroupInfo",
    "InvalidValueError",
    "MutabilityError",
    "Retention",
    "RoleGrant",
    "RoleInfo",
    "ScimError",
    "Schema",
    "TenantContext",
    "UniquenessError",
    "UserInfo",
    "hookimpl",
]
