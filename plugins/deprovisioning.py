"""Deprovisioning: what ``active: false``, DELETE and leaving a group do.

Defaults follow the seed: a user set ``active: false`` is disabled (kept, returned by
GET and filters, holding no roles); a deleted user is removed with its memberships and
individual permissions; a deleted group is removed with its role mappings; a user removed
from a group stays, and simply no longer holds the roles that group granted.

Options (``plugins.deprovisioning.options``):

* ``tombstone_days``: on DELETE keep the user as a tombstone (hidden from SCIM, its
  userName free for a new user) for this many days before ``scim-gateway sweep``
  removes it;
* ``remove_disabled_after_days``: ``scim-gateway sweep`` removes users that have stayed
  disabled this long (for identity providers that never send DELETE);
* ``disable_users_removed_from_groups``: disable users removed from a group.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway import Retention, hookimpl

NAME = "deprovisioning"
ENABLED_BY_DEFAULT = True
ESSENTIAL = True


class Options(Schema):
    """Options of the deprovisioning plugin."""

    tombstone_days = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=3650),
                                    metadata={"description": "Keep deleted users as tombstones this many days."})
    remove_disabled_after_days = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=3650),
        metadata={"description": "Remove users disabled for this many days."})
    disable_users_removed_from_groups = fields.Boolean(
        load_default=False, metadata={"description": "Disable users removed from a group."})


@hookimpl
def scim_plugin_options():
    """This plugin's options."""
    return Options


@hookimpl(trylast=True)
def scim_deprovision(tenant, event):
    """The seed's defaults, adjusted by this tenant's options."""
    options = tenant.options_for(NAME)
    if event.kind == "user_deactivated":
        return "disable"
    if event.kind == "user_deleted":
        return "tombstone" if options.get("tombstone_days") else "delete"
    if event.kind == "group_deleted":
        return "delete"
    if event.kind == "members_removed":
        return "disable" if options.get("disable_users_removed_from_groups") else "keep"
    return None


@hookimpl(trylast=True)
def scim_retention(tenant):
    """Retention periods from this tenant's options."""
    options = tenant.options_for(NAME)
    return Retention(tombstone_days=options.get("tombstone_days"),
                     disabled_days=options.get("remove_disabled_after_days"))
