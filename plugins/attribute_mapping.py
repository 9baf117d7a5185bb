"""Attribute mapping: keep userName, name.givenName and name.familyName; disregard the rest.

Options (``plugins.attribute-mapping.options``):

* ``user_attributes``: further User attribute paths to store and return, e.g.
  ``["displayName", "emails", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"]``;
* ``group_attributes``: further Group attribute paths (Groups keep displayName and members).

``id``, ``externalId``, ``active`` and ``meta`` are kept because the protocol needs them.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from gateway import hookimpl

NAME = "attribute-mapping"
ENABLED_BY_DEFAULT = True
ESSENTIAL = True

USER_ATTRIBUTES = ("userName", "name.givenName", "name.familyName", "active")
GROUP_ATTRIBUTES = ("displayName", "members")


class Options(Schema):
    """Options of the attribute-mapping plugin."""

    user_attributes = fields.List(fields.String(), load_default=list,
                                  metadata={"description": "Extra User attribute paths to store."})
    group_attributes = fields.List(fields.String(), load_default=list,
                                   metadata={"description": "Extra Group attribute paths to store."})


@hookimpl
def scim_plugin_options():
    """This plugin's options."""
    return Options


@hookimpl(trylast=True)
def scim_stored_attributes(tenant, resource_type):
    """The seed's attributes, plus what the tenant's options add."""
    options = tenant.options_for(NAME)
    if resource_type == "User":
        return [*USER_ATTRIBUTES, *options.get("user_attributes", [])]
    return [*GROUP_ATTRIBUTES, *options.get("group_attributes", [])]


@hookimpl(trylast=True)
def scim_map_resource(resource, stored_attributes):
    """Keep exactly the stored attributes of the inbound resource (the core projects it)."""
    return resource
