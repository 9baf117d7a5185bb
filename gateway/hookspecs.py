"""Hook specifications of the ``scim_gateway`` plugin system.

Every product decision the gateway makes about incoming identities is one of these
hooks. The built-in policies in ``plugins/`` implement them exactly as a third-party
package would: they are loaded through the ``scim_gateway`` entry-point group.

Rules common to all hooks:

* Arguments are passed by keyword; an implementation may accept any subset of them.
* Hooks receive plain data (:mod:`gateway.policy`) and never open database connections.
* Request-time hooks may raise a :class:`gateway.errors.ScimError` to reject the request
  (nothing is written); any other exception is logged with the plugin's name and the
  client gets a SCIM 500 error, and nothing is written either.
* A tenant's settings decide which plugins run for it (``plugins.<name>.enabled``) and
  with which options (``plugins.<name>.options``, validated by the schema the plugin
  returns from :func:`scim_plugin_options`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from marshmallow import Schema

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
    from .scim.schema import Schema as ScimSchema

PROJECT_NAME = "scim_gateway"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --- configuration --------------------------------------------------------------------


@hookspec
def scim_plugin_options() -> "type[Schema] | Schema | None":
    """Declare this plugin's per-tenant options as a marshmallow schema.

    Runs when a tenant's settings are saved (and when the manager starts): the options
    under ``plugins.<name>.options`` are loaded through this schema, so a bad option is
    a clear 400 at save time, never a surprise at request time. Defaults declared with
    ``load_default`` fill in options a tenant does not set.

    :returns: a :class:`marshmallow.Schema` class or instance, or ``None`` for no options.

    .. versionadded:: 0.1
    """


# --- attribute mapping ----------------------------------------------------------------


@hookspec(firstresult=True)
def scim_stored_attributes(tenant: "TenantContext", resource_type: str) -> "list[str] | None":
    """Say which attributes of ``resource_type`` this tenant stores and returns.

    Asked once per tenant and settings version (the answer is cached, so it must depend
    only on the tenant and its options); ``/Schemas`` shows exactly this list. Paths are ``userName``, ``name.givenName``, ``emails``,
    ``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``;
    ``id``, ``externalId``, ``meta`` are always kept, ``members`` always for Groups.

    :param tenant: the tenant and its plugin options.
    :param resource_type: ``"User"`` or ``"Group"``.
    :returns: the attribute paths; the first non-None result wins.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def scim_map_resource(tenant: "TenantContext", resource_type: str, resource: dict,
                      stored_attributes: "list[str]") -> "dict | None":
    """Map an inbound resource (POST/PUT body, or a PATCHed document) to what is stored.

    ``resource`` holds every attribute the client sent that SCIM defines (RFC 7643 User
    and Group plus the enterprise extension), with canonical names and coerced types,
    already without ``id``/``meta``/``schemas``. The result may only contain attributes
    in ``stored_attributes``; anything else is dropped by the core. ``members`` is not
    part of it (membership is handled apart, row by row).

    :returns: the document to store; the first non-None result wins.

    .. versionadded:: 0.1
    """


@hookspec
def scim_schema_extensions(tenant: "TenantContext", resource_type: str) -> "list[ScimSchema] | None":
    """Contribute SCIM schema extensions for ``resource_type`` to this tenant.

    Every returned :class:`gateway.scim.schema.Schema` is advertised in ``/Schemas``
    and ``/ResourceTypes`` and its attributes are parsed, stored and returned like
    stored attributes (under the extension's URN). All implementations' results are
    combined.

    .. versionadded:: 0.1
    """


# --- validation and uniqueness --------------------------------------------------------


@hookspec
def scim_validate_resource(tenant: "TenantContext", resource_type: str, resource: dict,
                           current: "dict | None") -> None:
    """Accept or reject a resource about to be created (``current`` None) or changed.

    Runs inside the write, after mapping, for POST, PUT and PATCH. Every enabled
    implementation runs; raise :class:`gateway.errors.InvalidValueError`,
    :class:`gateway.errors.UniquenessError` or another ScimError to reject. Uniqueness of
    userName and displayName is also enforced by the database (case-insensitively),
    whatever plugins do; ``tenant.matching_ids(resource_type, filter)`` lets a plugin
    check other attributes.

    .. versionadded:: 0.1
    """


# --- role assignment ------------------------------------------------------------------


@hookspec(firstresult=True)
def scim_effective_roles(tenant: "TenantContext", user: "UserInfo", groups: "list[GroupInfo]",
                         group_roles: "dict[str, list[RoleInfo]]",
                         manual_roles: "list[RoleInfo]") -> "list[RoleGrant] | None":
    """Compute the roles a user holds right now.

    Runs whenever the admin API or console shows a user's roles. Roles are never copied
    onto users: they are derived from ``groups`` (the user's groups), ``group_roles``
    (the group-mapping list: group id -> roles) and ``manual_roles`` (given by hand,
    where :func:`scim_check_manual_roles` allows it).

    :returns: the grants, each with the group ids granting it; the first non-None wins.

    .. versionadded:: 0.1
    """


@hookspec
def scim_check_manual_roles(tenant: "TenantContext", user: "UserInfo", roles: "list[RoleInfo]") -> None:
    """Allow or refuse an admin assigning ``roles`` to ``user`` by hand.

    Every enabled implementation runs; raise :class:`gateway.errors.ConflictError`
    (409) to refuse, with a detail saying why.

    .. versionadded:: 0.1
    """


# --- deprovisioning -------------------------------------------------------------------


@hookspec(firstresult=True)
def scim_deprovision(tenant: "TenantContext", event: "DeprovisionEvent") -> "str | None":
    """Decide what happens when access is taken away.

    ``event.kind`` and the actions the core accepts:

    * ``user_deactivated`` (``active`` set to false): ``disable`` (keep the user,
      disabled, with no effective roles), ``tombstone``, ``delete``;
    * ``user_deleted`` (DELETE): ``delete`` (remove it with its memberships and
      permissions), ``tombstone`` (hide it from SCIM and keep it for the retention
      period), ``disable``;
    * ``group_deleted``: ``delete`` (remove the group and its role mappings),
      ``delete_and_disable_members``;
    * ``members_removed``: ``keep`` (the users stay; the group's roles are no longer
      derived for them), ``disable``.

    :returns: one of the actions above; the first non-None result wins.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def scim_retention(tenant: "TenantContext") -> "Retention | None":
    """How long tombstoned and disabled users are kept before ``scim-gateway sweep``
    removes them (some identity providers never send DELETE).

    :returns: a :class:`gateway.policy.Retention`; the first non-None result wins.

    .. versionadded:: 0.1
    """


# --- fair sharing ---------------------------------------------------------------------


@hookspec(firstresult=True)
def scim_rate_limit(tenant: "TenantContext") -> "str | None":
    """How many SCIM requests this tenant may make, so one tenant's sync cannot starve others.

    Asked once per tenant and settings version. The answer is a rate in the ``limits``
    notation, e.g. ``"6000/minute"`` or ``"100/second"``; requests over it get ``429`` with
    ``Retry-After``. Counters live in process memory, or in Redis when ``REDIS_URL`` is
    set, so the limit holds across workers and hosts.

    :returns: the rate; ``None`` for no limit. The first non-None result wins.

    .. versionadded:: 0.1
    """


# --- notification ---------------------------------------------------------------------


@hookspec
def scim_after_change(tenant: "TenantContext", change: "Change") -> None:
    """Be told about a change after it is committed (integrations, webhooks, metrics).

    Runs after the transaction commits; it cannot veto. Exceptions are logged with the
    plugin's name and otherwise ignored: the client already has its answer.

    .. versionadded:: 0.1
    """


HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, value in dict(globals()).items() if name.startswith("scim_") and callable(value)
)
