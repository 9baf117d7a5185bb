"""Domain policy: a tenant accepts only users from its own email domains.

A third-party plugin for the SCIM gateway, packaged on its own (see ``pyproject.toml``)::

    [project.entry-points.scim_gateway]
    domain-policy = "scim_gateway_domain_policy"

It is opt-in: a tenant turns it on, with its options, in its settings::

    {"plugins": {"domain-policy": {"enabled": true,
                                   "options": {"allowed_domains": ["acme.example"]}}}}

For such a tenant:

* ``scim_map_resource``: the domain part of a User's userName is lower-cased
  (``Jane.Doe@ACME.example`` is stored as ``Jane.Doe@acme.example``), unless the option
  ``lowercase_domain`` is false;
* ``scim_validate_resource``: a User whose userName is not an address in one of
  ``allowed_domains`` is rejected with ``400 invalidValue``; an existing user whose
  userName does not change is left alone, so turning the policy on never locks out
  users provisioned before;
* ``scim_after_change``: every committed change is kept in :data:`RECENT_CHANGES` (the
  last 1,000, in this process), which an integration or a test can read.

It imports only the gateway's public plugin API (``gateway``) and marshmallow, and each
hook takes only the arguments it uses.
"""

from __future__ import annotations

import collections
import re

from marshmallow import Schema, fields, validate

from gateway import Change, InvalidValueError, TenantContext, hookimpl

NAME = "domain-policy"
"""The plugin's name: its entry-point name and the key of its tenant settings."""

DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)

RECENT_CHANGES: collections.deque[tuple[str, Change]] = collections.deque(maxlen=1000)
"""``(tenant slug, change)`` of the latest committed changes, oldest first."""


class Options(Schema):
    """Options of the domain policy (``plugins.domain-policy.options``)."""

    allowed_domains = fields.List(
        fields.String(validate=validate.Regexp(DOMAIN, error="Not a domain name: {input!r}.")),
        required=True,
        validate=validate.Length(min=1, error="Name at least one domain."),
        metadata={"description": "Email domains whose addresses may be userNames, e.g. ['acme.example']."},
    )
    lowercase_domain = fields.Boolean(
        load_default=True,
        metadata={"description": "Store userNames with their domain part in lower case."},
    )


@hookimpl
def scim_plugin_options():
    """The options a tenant gives this plugin."""
    return Options


def _split(user_name: str) -> tuple[str, str] | None:
    local, at, domain = user_name.rpartition("@")
    return (local, domain) if at and local and domain else None


@hookimpl
def scim_map_resource(tenant: TenantContext, resource_type: str, resource: dict) -> dict | None:
    """Lower-case the domain of a User's userName; ``None`` (ask the next plugin) otherwise."""
    if resource_type != "User" or not tenant.options_for(NAME).get("lowercase_domain", True):
        return None
    parts = _split(resource.get("userName") or "")
    if parts is None:
        return None
    local, domain = parts
    return {**resource, "userName": f"{local}@{domain.lower()}"}


@hookimpl
def scim_validate_resource(tenant: TenantContext, resource_type: str, resource: dict,
                           current: dict | None) -> None:
    """Reject a new or changed userName outside the tenant's allowed domains."""
    if resource_type != "User":
        return
    user_name = resource.get("userName") or ""
    if current is not None and current.get("userName") == user_name:
        return
    allowed = [domain.lower() for domain in tenant.options_for(NAME).get("allowed_domains", [])]
    parts = _split(user_name)
    if parts is None or parts[1].lower() not in allowed:
        raise InvalidValueError(
            f"userName {user_name!r} is not an address in this tenant's email domains "
            f"({', '.join(allowed)}); ask the tenant's administrator to add the domain to "
            f"the '{NAME}' plugin's allowed_domains."
        )


@hookimpl
def scim_after_change(tenant: TenantContext, change: Change) -> None:
    """Remember the committed change."""
    RECENT_CHANGES.append((tenant.slug, change))
