"""SCIM errors as values.

Every failure the gateway reports under a SCIM path is one of these classes. Each class
carries the HTTP status and, where RFC 7644 §3.12 (Table 9) defines one, the ``scimType``;
:meth:`ScimError.to_body` renders the ``urn:ietf:params:scim:api:messages:2.0:Error``
body. Handlers and plugins raise them; one error handler in :mod:`gateway.app` turns them
into responses, so no handler builds an error body by hand.
"""

from __future__ import annotations

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """Base class: an HTTP status, an optional ``scimType`` and a detail for people."""

    status: int = 400
    scim_type: str | None = None
    default_detail: str = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        super().__init__(self.detail)

    def to_body(self) -> dict:
        """The RFC 7644 §3.12 error body: ``status`` is a string, ``scimType`` only when set."""
        body = {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


class InvalidFilterError(ScimError):
    """RFC 7644 Table 9 ``invalidFilter``: the filter syntax was invalid or unsupported."""

    scim_type = "invalidFilter"
    default_detail = "The specified filter syntax is invalid or not supported."


class TooManyError(ScimError):
    """RFC 7644 Table 9 ``tooMany``: the query would return more results than allowed."""

    scim_type = "tooMany"
    default_detail = "The query would return more results than the server allows."


class UniquenessError(ScimError):
    """RFC 7644 Table 9 ``uniqueness``: a unique attribute value is already in use (409)."""

    status = 409
    scim_type = "uniqueness"
    default_detail = "One or more unique attribute values are already in use."


class MutabilityError(ScimError):
    """RFC 7644 Table 9 ``mutability``: the change targets a read-only or immutable attribute."""

    scim_type = "mutability"
    default_detail = "The attempted modification is not compatible with the attribute's mutability."


class InvalidSyntaxError(ScimError):
    """RFC 7644 Table 9 ``invalidSyntax``: the request body could not be parsed or is malformed."""

    scim_type = "invalidSyntax"
    default_detail = "The request body message structure was invalid."


class InvalidPathError(ScimError):
    """RFC 7644 Table 9 ``invalidPath``: a PATCH ``path`` was invalid or malformed."""

    scim_type = "invalidPath"
    default_detail = "The path attribute was invalid or malformed."


class NoTargetError(ScimError):
    """RFC 7644 Table 9 ``noTarget``: a PATCH path or filter matched nothing to operate on."""

    scim_type = "noTarget"
    default_detail = "The specified path did not yield an attribute or value that could be operated on."


class InvalidValueError(ScimError):
    """RFC 7644 Table 9 ``invalidValue``: a required value is missing or a value is not valid."""

    scim_type = "invalidValue"
    default_detail = "A required value was missing, or the value specified was not compatible."


class UnauthorizedError(ScimError):
    """401: no bearer token, or one that does not belong to this tenant (RFC 7644 §2)."""

    status = 401
    default_detail = "Authorization failure: send a valid bearer token for this tenant."

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scim-gateway"'})


class ProvisioningDisabledError(ScimError):
    """403: the tenant exists and the token is valid, but its Enabled toggle is off."""

    status = 403
    default_detail = (
        "Provisioning is disabled for this tenant. Turn the tenant's Enabled toggle on "
        "in the gateway, then test the connection again."
    )


class NotFoundError(ScimError):
    """404: no resource with that id (in this tenant), or no such endpoint."""

    status = 404
    default_detail = "Resource not found."


class MethodNotAllowedError(ScimError):
    """405: the endpoint exists but does not support this HTTP method."""

    status = 405
    default_detail = "This endpoint does not support that HTTP method."


class ConflictError(ScimError):
    """409 without a ``scimType``: the request conflicts with the resource's current state."""

    status = 409
    default_detail = "The request conflicts with the current state of the resource."


class PreconditionFailedError(ScimError):
    """412: an ``If-Match`` precondition did not hold (RFC 7644 §3.14)."""

    status = 412
    default_detail = "The resource has changed: its version does not match If-Match."


class PayloadTooLargeError(ScimError):
    """413: the request body is larger than the server accepts."""

    status = 413
    default_detail = "The request body is larger than the server accepts."


class UnsupportedMediaTypeError(ScimError):
    """415: the body is not ``application/scim+json`` or ``application/json``."""

    status = 415
    default_detail = "Send the body as application/scim+json or application/json."


class TooManyRequestsError(ScimError):
    """429: the tenant made more requests than its rate limit allows; retry later."""

    status = 429
    default_detail = "Too many requests for this tenant: retry after the time in Retry-After."

    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class NotImplementedScimError(ScimError):
    """501: the operation is not supported by this service provider (RFC 7644 §3.11, §3.2)."""

    status = 501
    default_detail = "This operation is not implemented by the service provider."


class InternalError(ScimError):
    """500 with a detail that reveals no internals; the cause goes to the log only."""

    status = 500
    default_detail = "The server could not complete the request. Nothing was changed; see the server log."
