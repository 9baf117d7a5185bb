"""Marshmallow schemas that describe SCIM bodies in the OpenAPI document.

They document; they do not parse. SCIM bodies are matched case-insensitively, carry
URN-qualified and dotted keys and string booleans, which :mod:`gateway.scim.documents`
handles; these schemas show integrators the canonical shapes, with examples.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from .schema import GROUP_SCHEMA, LIST_RESPONSE_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA


class Meta(Schema):
    resourceType = fields.String(metadata={"example": "User"})
    created = fields.DateTime()
    lastModified = fields.DateTime()
    location = fields.Url()
    version = fields.String(metadata={"example": 'W/"1"'})


class Name(Schema):
    givenName = fields.String(metadata={"example": "Barbara"})
    familyName = fields.String(metadata={"example": "Jensen"})


class UserResource(Schema):
    """A SCIM User: only these attributes are stored; any other attribute sent is disregarded."""

    schemas = fields.List(fields.String(), metadata={"example": [USER_SCHEMA]})
    id = fields.String(dump_only=True, metadata={"example": "2819c223-7f76-453a-919d-413861904646"})
    externalId = fields.String(metadata={"example": "58342554-38d6-4ec8-948c-50044d0a33fd"})
    userName = fields.String(required=True, metadata={"example": "bjensen@example.com"})
    name = fields.Nested(Name)
    active = fields.Boolean(metadata={"example": True})
    meta = fields.Nested(Meta, dump_only=True)


class UserResponse(UserResource):
    """A User as answered: ``attributes``/``excludedAttributes`` may leave out anything but
    ``id`` and ``schemas`` (RFC 7643 §2.4: returned "always")."""

    schemas = fields.List(fields.String(), required=True, metadata={"example": [USER_SCHEMA]})
    id = fields.String(required=True, metadata={"example": "2819c223-7f76-453a-919d-413861904646"})
    userName = fields.String(metadata={"example": "bjensen@example.com"})


class Member(Schema):
    value = fields.String(required=True, metadata={"example": "2819c223-7f76-453a-919d-413861904646"})
    ref = fields.Url(data_key="$ref", dump_only=True)
    display = fields.String(dump_only=True, metadata={"example": "bjensen@example.com"})
    type = fields.String(metadata={"example": "User"})


class GroupResource(Schema):
    """A SCIM Group; provisioned groups appear in the tenant's group-mapping list."""

    schemas = fields.List(fields.String(), metadata={"example": [GROUP_SCHEMA]})
    id = fields.String(dump_only=True)
    externalId = fields.String()
    displayName = fields.String(required=True, metadata={"example": "Sales Reps"})
    members = fields.List(fields.Nested(Member))
    meta = fields.Nested(Meta, dump_only=True)


class GroupResponse(GroupResource):
    """A Group as answered: ``attributes``/``excludedAttributes`` may leave out anything but
    ``id`` and ``schemas`` (RFC 7643 §2.4: returned "always")."""

    schemas = fields.List(fields.String(), required=True, metadata={"example": [GROUP_SCHEMA]})
    id = fields.String(required=True)
    displayName = fields.String(metadata={"example": "Sales Reps"})


class _ListResponse(Schema):
    schemas = fields.List(fields.String(), metadata={"example": [LIST_RESPONSE_SCHEMA]})
    totalResults = fields.Integer(metadata={"example": 1})
    itemsPerPage = fields.Integer(metadata={"example": 1})
    startIndex = fields.Integer(metadata={"example": 1})


class UserListResponse(_ListResponse):
    Resources = fields.List(fields.Nested(UserResponse))


class GroupListResponse(_ListResponse):
    Resources = fields.List(fields.Nested(GroupResponse))


class PatchOperation(Schema):
    op = fields.String(required=True, metadata={"example": "replace", "enum": ["add", "replace", "remove"]})
    path = fields.String(metadata={"example": "active"})
    value = fields.Raw(metadata={"example": False})


class PatchRequest(Schema):
    """An RFC 7644 §3.5.2 PatchOp message. Operation names are case-insensitive."""

    schemas = fields.List(fields.String(), required=True, metadata={"example": [PATCH_OP_SCHEMA]})
    Operations = fields.List(fields.Nested(PatchOperation), required=True)


class SearchRequest(Schema):
    """An RFC 7644 §3.4.3 SearchRequest: the query parameters of a GET, as a body."""

    schemas = fields.List(fields.String(), metadata={"example": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})
    filter = fields.String(metadata={"example": 'userName eq "bjensen@example.com"'})
    attributes = fields.List(fields.String())
    excludedAttributes = fields.List(fields.String())
    startIndex = fields.Integer(metadata={"example": 1})
    count = fields.Integer(metadata={"example": 100})


class ScimErrorBody(Schema):
    """The RFC 7644 §3.12 error body every failure under a SCIM path carries."""

    schemas = fields.List(fields.String(), metadata={"example": ["urn:ietf:params:scim:api:messages:2.0:Error"]})
    status = fields.String(metadata={"example": "409"})
    scimType = fields.String(metadata={"example": "uniqueness"})
    detail = fields.String(metadata={"example": "userName 'bjensen@example.com' is already in use in this tenant."})


class DiscoveryResource(Schema):
    """A discovery resource (ServiceProviderConfig, ResourceType or Schema), RFC 7643 §5-7."""

    class Meta:
        unknown = "include"

    schemas = fields.List(fields.String())


class DiscoveryListResponse(_ListResponse):
    Resources = fields.List(fields.Nested(DiscoveryResource))
