"""The MSP administration API, ``/admin/v1``, documented in the gateway's OpenAPI.

Authenticated with admin keys (``scim-gateway admin-keys create NAME``), never with a
tenant's SCIM token. Modules: :mod:`.blueprint` (authentication, tenant scoping, input
and error handling), :mod:`.schemas` (request and response bodies), :mod:`.tenants`
(tenants and tokens), :mod:`.access` (role catalog, group mappings, users). Views are
thin over :mod:`tenants.services` and :mod:`tenants.roles`, which the CLI shares.
"""

from __future__ import annotations

from flask_smorest import Api

from . import access, tenants  # noqa: F401  (register the views on the blueprint)
from . import audit, status  # noqa: F401  (audit log and provisioning status views)
from .blueprint import SECURITY_SCHEME, blp


def init_app(api: Api) -> None:
    """Register the admin blueprint on ``api`` and document its security scheme."""
    api.spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "An admin key (scimgw_admin_...), from `scim-gateway admin-keys create NAME`.",
    })
    api.register_blueprint(blp)
