"""Marshmallow schemas of the admin API: what it accepts and what it answers.

Request schemas derive from :class:`Strict`: an unknown field is an error (``unknown =
RAISE``), and JSON types are taken literally (``"true"`` is not a boolean, ``"10"`` is not
an integer), so a typo or a wrong type is a 400 naming the field instead of a silent
no-op. Their strings are :class:`Text`: one that no database can store (a NUL, a lone
surrogate) is a 400 too, never a 500. Response schemas document the answer in
``/openapi.json``; every field carries an example.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from tenants.roles import PERMISSION_PATTERN

PER_PAGE_DEFAULT = 50
PER_PAGE_MAX = 500
PAGE_MAX = 10_000_000
GRACE_SECONDS_MAX = 365 * 24 * 3600

TENANT_EXAMPLE_SETTINGS = {"plugins": {"uniqueness": {"enabled": True, "options": {"require_email": False}}}}
ROLE_ID_EXAMPLE = "3f0c8d0e-5d7b-4d55-9d0a-1b1f3c9f2a10"
GROUP_ID_EXAMPLE = "b6f1d0a2-8d7e-4a59-a1c3-0e2f5c6d7e81"
USER_ID_EXAMPLE = "5a9c1e4f-2b3d-4c6e-8f70-91a2b3c4d5e6"


class StrictBoolean(fields.Boolean):
    """A JSON ``true``/``false`` only (marshmallow's Boolean also takes ``"yes"``, ``1``...)."""

    default_error_messages = {"invalid": "Not a valid boolean: send true or false."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def storable(value: str) -> bool:
    """True if ``value`` can be stored and looked up as text: no NUL (PostgreSQL refuses it
    in text) and no lone UTF-16 surrogate (which JSON's ``\\ud800`` escapes can produce and
    no database driver can encode)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Text(fields.String):
    """A string that can be stored (:func:`storable`); every text input of the admin API is one."""

    default_error_messages = {"unstorable": "Must not contain NUL characters or lone UTF-16 surrogates."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not storable(text):
            raise self.make_error("unstorable")
        return text


class Strict(Schema):
    """Base of every request schema: unknown fields are rejected, not ignored."""

    class Meta:
        unknown = RAISE


def _permission(value: str) -> None:
    if not PERMISSION_PATTERN.fullmatch(value):  # match() would let a trailing newline through
        raise ValidationError("Use 1-100 letters, digits and . _ : * -")


def _permissions(**kwargs) -> fields.List:
    return fields.List(
        fields.String(validate=_permission), validate=validate.Length(max=1000),
        metadata={"description": "Permission strings: 1-100 letters, digits and . _ : * -",
                  "example": ["reports.read", "billing:*"]},
        **kwargs,
    )


# -- paging ------------------------------------------------------------------------------


class PageArgs(Schema):
    """``?page=&per_page=``: 1-based page number, page size (default 50, at most 500)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=PAGE_MAX),
                          metadata={"description": "1-based page number.", "example": 1})
    per_page = fields.Integer(load_default=PER_PAGE_DEFAULT, validate=validate.Range(min=1, max=PER_PAGE_MAX),
                              metadata={"description": f"Items per page (at most {PER_PAGE_MAX}).",
                                        "example": PER_PAGE_DEFAULT})


class SearchPageArgs(PageArgs):
    """Paging plus ``?q=``, a case-insensitive search."""

    q = Text(validate=validate.Length(max=255), metadata={
        "description": "Part of the userName, givenName or familyName, case-insensitively.",
        "example": "smith"})


class Paged(Schema):
    """Fields every paged answer has next to its ``items``."""

    total = fields.Integer(required=True, metadata={"description": "Items in all pages.", "example": 1})
    page = fields.Integer(required=True, metadata={"example": 1})
    per_page = fields.Integer(required=True, metadata={"example": PER_PAGE_DEFAULT})


# -- tenants -------------------------------------------------------------------------------


class TenantCreateArgs(Strict):
    """Body of ``POST /admin/v1/tenants``."""

    slug = Text(required=True, validate=validate.Length(min=1, max=63), metadata={
        "description": "Lower-case DNS label: letters, digits and hyphens; part of the Tenant URL.",
        "example": "contoso"})
    name = Text(validate=validate.Length(min=1, max=200), metadata={
        "description": "Display name (default: the slug).", "example": "Contoso Ltd"})


class TenantPatchArgs(Strict):
    """Body of ``PATCH /admin/v1/tenants/<slug>``: any of the fields."""

    name = Text(validate=validate.Length(min=1, max=200), metadata={"example": "Contoso Ltd"})
    enabled = StrictBoolean(metadata={
        "description": "false: the tenant's SCIM requests get 403 from the next request on.",
        "example": False})
    settings = fields.Dict(metadata={
        "description": "Replaces the settings: which plugins run for the tenant and with which options.",
        "example": TENANT_EXAMPLE_SETTINGS})


class TenantSchema(Schema):
    """A tenant."""

    slug = fields.String(required=True, metadata={"example": "contoso"})
    name = fields.String(required=True, metadata={"example": "Contoso Ltd"})
    enabled = fields.Boolean(required=True, metadata={"example": True})
    tenant_url = fields.String(required=True, metadata={
        "description": "The Tenant URL to paste into the identity provider.",
        "example": "https://gateway.example.com/tenants/contoso/scim/v2"})
    settings = fields.Dict(required=True, metadata={"example": TENANT_EXAMPLE_SETTINGS})


class TenantCreatedSchema(TenantSchema):
    """A new tenant with its first Secret token (shown only in this answer)."""

    token = fields.String(required=True, metadata={
        "description": "The Secret token; only its hash is stored, so it is shown once.",
        "example": "scimgw_2vN6c0yJbqS8uWzKQy3Zl0m7b4xHn8TtR1aPq5sDfGk"})


class TenantPageSchema(Paged):
    """One page of tenants, by slug."""

    items = fields.List(fields.Nested(TenantSchema), required=True)


class TokenArgs(Strict):
    """Body of ``POST /admin/v1/tenants/<slug>/tokens`` (may be empty)."""

    grace_seconds = fields.Integer(strict=True, validate=validate.Range(min=0, max=GRACE_SECONDS_MAX), metadata={
        "description": ("Older tokens expire this many seconds from now (0: at once). Without it "
                        "they stay valid: the new token is added."),
        "example": 3600})


class TokenSchema(Schema):
    """A new Secret token (shown once) and its display prefix."""

    token = fields.String(required=True, metadata={"example": "scimgw_2vN6c0yJbqS8uWzKQy3Zl0m7b4xHn8TtR1aPq5sDfGk"})
    prefix = fields.String(required=True, metadata={
        "description": "The token's first characters, safe to show and log.", "example": "scimgw_2vN6c"})


# -- roles --------------------------------------------------------------------------------


class RoleCreateArgs(Strict):
    """Body of ``POST /admin/v1/tenants/<slug>/roles``."""

    name = Text(required=True, validate=validate.Length(min=1, max=255), metadata={
        "description": "Unique in the tenant, case-insensitively.", "example": "Report viewer"})
    permissions = _permissions(required=True)
    description = Text(validate=validate.Length(max=2000), metadata={"example": "Reads reports."})


class RolePatchArgs(Strict):
    """Body of ``PATCH /admin/v1/tenants/<slug>/roles/<role_id>``: any of the fields."""

    name = Text(validate=validate.Length(min=1, max=255), metadata={"example": "Report viewer"})
    permissions = _permissions()
    description = Text(validate=validate.Length(max=2000), metadata={"example": "Reads reports."})


class RoleSchema(Schema):
    """A role of the tenant's catalog."""

    id = fields.String(required=True, metadata={"example": ROLE_ID_EXAMPLE})
    name = fields.String(required=True, metadata={"example": "Report viewer"})
    description = fields.String(required=True, metadata={"example": "Reads reports."})
    permissions = fields.List(fields.String(), required=True, metadata={"example": ["reports.read"]})


class RoleRefSchema(Schema):
    """A role named in a group mapping."""

    id = fields.String(required=True, metadata={"example": ROLE_ID_EXAMPLE})
    name = fields.String(required=True, metadata={"example": "Report viewer"})


# -- groups -------------------------------------------------------------------------------


class RoleIdsArgs(Strict):
    """``{"roles": [role ids]}``: exactly the roles to hold afterwards (``[]``: none)."""

    roles = fields.List(Text(validate=validate.Length(min=1, max=36)), required=True,
                        validate=validate.Length(max=1000), metadata={"example": [ROLE_ID_EXAMPLE]})


class GroupMappingSchema(Schema):
    """A provisioned group and the roles its members hold."""

    id = fields.String(required=True, metadata={"example": GROUP_ID_EXAMPLE})
    displayName = fields.String(required=True, metadata={"example": "Finance"})
    roles = fields.List(fields.Nested(RoleRefSchema), required=True)


class GroupMappingPageSchema(Paged):
    """One page of the group-mapping list, by displayName."""

    items = fields.List(fields.Nested(GroupMappingSchema), required=True)


# -- users --------------------------------------------------------------------------------


class UserNamePartsSchema(Schema):
    """A user's name parts."""

    givenName = fields.String(allow_none=True, metadata={"example": "Ada"})
    familyName = fields.String(allow_none=True, metadata={"example": "Lovelace"})


class UserSchema(Schema):
    """A provisioned user."""

    id = fields.String(required=True, metadata={"example": USER_ID_EXAMPLE})
    userName = fields.String(required=True, metadata={"example": "ada@contoso.com"})
    name = fields.Nested(UserNamePartsSchema, required=True)
    active = fields.Boolean(required=True, metadata={
        "description": "false only when the identity provider disabled the user.", "example": True})
    source = fields.String(required=True, metadata={
        "description": "'scim': provisioned by the identity provider; 'manual': made by hand.",
        "example": "scim"})


class UserPageSchema(Paged):
    """One page of users, by userName."""

    items = fields.List(fields.Nested(UserSchema), required=True)


class GrantSchema(Schema):
    """A role a user holds, with the groups that grant it (empty: given by hand)."""

    id = fields.String(required=True, metadata={"example": ROLE_ID_EXAMPLE})
    name = fields.String(required=True, metadata={"example": "Report viewer"})
    granted_by = fields.List(fields.String(), required=True, metadata={"example": [GROUP_ID_EXAMPLE]})


class UserDetailSchema(UserSchema):
    """A user with its effective roles and individual permissions."""

    roles = fields.List(fields.Nested(GrantSchema), required=True)
    permissions = fields.List(fields.String(), required=True, metadata={
        "description": "Permissions granted to this user individually.", "example": ["reports.export"]})


class PermissionsArgs(Strict):
    """``{"permissions": [..]}``: exactly the individual permissions to hold afterwards."""

    permissions = _permissions(required=True)


# -- tokens, audit log, provisioning status -------------------------------------------------

TIME_EXAMPLE = "2026-11-29T08:55:43.123Z"
REQUEST_ID_EXAMPLE = "4bf92f3577b34da6a3ce929d0e0e4736"


class TokenInfoSchema(Schema):
    """A Secret token as listed: its display prefix and dates, never the secret."""

    prefix = fields.String(required=True, metadata={
        "description": "The token's first characters, safe to show and log.", "example": "scimgw_2vN6c"})
    created = fields.String(required=True, metadata={"format": "date-time", "example": TIME_EXAMPLE})
    expires = fields.String(required=True, allow_none=True, metadata={
        "format": "date-time", "description": "When it stops working (null: never, until revoked).",
        "example": None})
    state = fields.String(required=True, validate=validate.OneOf(["current", "expired", "revoked"]), metadata={
        "description": "current (works), expired (its grace period is over) or revoked.", "example": "current"})


class AuditTimeArgs(Schema):
    """``?since=&until=``: a time window (ISO 8601; without an offset, UTC)."""

    since = fields.DateTime(metadata={"description": "Events at or after this time (ISO 8601).",
                                      "example": "2026-11-29T00:00:00Z"})
    until = fields.DateTime(metadata={"description": "Events before this time (ISO 8601).",
                                      "example": "2026-11-30T00:00:00Z"})


class AuditQueryArgs(PageArgs, AuditTimeArgs):
    """Filters and paging of ``GET /admin/v1/tenants/<slug>/audit``."""

    actor = Text(validate=validate.Length(min=1, max=120), metadata={
        "description": "Exactly this actor: token:<token prefix>, admin:<admin key name> or cli.",
        "example": "admin:alice"})
    resource = Text(validate=validate.Length(min=1, max=255), metadata={
        "description": "A resource id (user, group, role id, tenant slug, token prefix) or a resource "
                       "type (User, Group, Role, Tenant, Token), case-insensitively for types.",
        "example": USER_ID_EXAMPLE})


class AuditEventSchema(Schema):
    """One change: who made it, when, to what, and the names of what changed (never values)."""

    id = fields.Integer(required=True, metadata={"example": 42})
    time = fields.String(required=True, metadata={"format": "date-time", "example": TIME_EXAMPLE})
    tenant = fields.String(required=True, metadata={"description": "The tenant's slug.", "example": "contoso"})
    actor = fields.String(required=True, metadata={
        "description": "token:<token prefix> (SCIM), admin:<admin key name> (admin API) or cli.",
        "example": "token:scimgw_2vN6c"})
    action = fields.String(required=True, metadata={
        "description": ("create, replace, patch, delete, disable, tombstone, members_added, members_removed "
                        "(SCIM); tenant_created, tenant_updated, tenant_deleted, token_issued, token_revoked, "
                        "role_created, role_updated, role_deleted, role_mapped, roles_set, permissions_set "
                        "(administration)."),
        "example": "patch"})
    resource_type = fields.String(required=True, metadata={"example": "User"})
    resource_id = fields.String(required=True, allow_none=True, metadata={"example": USER_ID_EXAMPLE})
    summary = fields.Dict(required=True, metadata={
        "description": "What changed, by name: attributes, member ids (at most 100, with their count).",
        "example": {"attributes": ["active", "name"]}})
    request_id = fields.String(required=True, allow_none=True, metadata={
        "description": "The X-Request-ID of the request that made the change.", "example": REQUEST_ID_EXAMPLE})


class AuditPageSchema(Paged):
    """One page of audit events, newest first."""

    items = fields.List(fields.Nested(AuditEventSchema), required=True)


class UserCountsSchema(Schema):
    """Users of a tenant (deleted ones kept as tombstones are not counted)."""

    total = fields.Integer(required=True, metadata={"example": 1250})
    active = fields.Integer(required=True, metadata={"example": 1200})
    disabled = fields.Integer(required=True, metadata={"description": "active is false.", "example": 50})


class GroupCountsSchema(Schema):
    """Groups of a tenant."""

    total = fields.Integer(required=True, metadata={"example": 40})


class StatusSchema(Schema):
    """Provisioning status: what was provisioned so far, the last SCIM activity, recent errors."""

    users = fields.Nested(UserCountsSchema, required=True)
    groups = fields.Nested(GroupCountsSchema, required=True)
    last_scim_request = fields.String(required=True, allow_none=True, metadata={
        "format": "date-time", "description": "When the tenant's last SCIM request arrived (null: never).",
        "example": TIME_EXAMPLE})
    requests_24h = fields.Integer(required=True, metadata={
        "description": "Authenticated SCIM requests in the last 24 hours.", "example": 5210})
    errors_24h = fields.Integer(required=True, metadata={
        "description": "Of those, answered with a status of 400 or more.", "example": 3})
