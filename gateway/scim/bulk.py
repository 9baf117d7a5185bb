"""``POST /Bulk`` (RFC 7644 §3.7): many Users/Groups writes in one request.

A BulkRequest is checked as a whole first: its size (``BULK_MAX_PAYLOAD_SIZE``, from the
``Content-Length`` before a byte is parsed), its shape and its number of operations
(``BULK_MAX_OPERATIONS``). Anything wrong there answers one error and changes nothing:
413 for a limit, 400 ``invalidSyntax`` for a malformed request or operation (unknown
method, a path that is not ``/Users``, ``/Groups``, ``/Users/<id>`` or ``/Groups/<id>``,
a POST without ``bulkId``, a duplicated ``bulkId``, ``data`` that is not an object).

Then each operation runs through the same functions as the single-resource views
(:mod:`gateway.scim.operations`), so the hooks, validation and audit are identical. **A
Bulk is not atomic** (RFC 7644 §3.7 does not ask it to be): each operation is its own
transaction, exactly as if the client had sent it as a separate request, and an operation
that succeeded stays done when a later one fails. A :class:`~gateway.errors.ScimError`
raised by one operation becomes that operation's result; the BulkResponse itself is 200.

``bulkId`` references (RFC 7644 §3.7.2): a JSON string value that is exactly
``"bulkId:<id>"`` anywhere in ``data`` (e.g. a group's ``members[].value``), or the id
segment of ``path`` (``/Users/bulkId:<id>``), is replaced by the id of the resource the
POST with that ``bulkId`` created. Operations run in request order, except that one
referencing a ``bulkId`` defined by a later POST waits until that POST has run (a
topological order that moves nothing else). An operation answers 409 when it references a
``bulkId`` that no POST defines, or whose POST failed. Circular references (RFC 7644
§3.7.1) are detected, not resolved: in this gateway only users can be group members, so a
cycle can never be broken by creating a resource first and adding a reference later, and
every operation of the cycle answers 409 (which the RFC allows) instead of looping.

``failOnErrors``: once that many operations have failed, nothing more runs and the
response lists only the operations that ran. ``version`` on a PUT, PATCH or DELETE is that
operation's ``If-Match`` (RFC 7644 §3.7, §3.14): a stale version answers 412 for that
operation. An ``If-Match`` header on the Bulk request itself applies to no operation.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, request
from flask.views import MethodView
from marshmallow import Schema, fields
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_etags

from ..errors import (
    ConflictError,
    InternalError,
    InvalidSyntaxError,
    NotImplementedScimError,
    PayloadTooLargeError,
    ScimError,
)
from . import api_schemas, operations
from .http import json_body, scim_response
from .resources import KINDS, ResourceKind, etag
from .views import _document_errors, blp

log = logging.getLogger(__name__)

BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
METHODS = ("POST", "PUT", "PATCH", "DELETE")
BULK_ID_PREFIX = "bulkId:"
_PATH = re.compile(r"^/(?P<endpoint>[^/?#]+)(?:/(?P<id>[^/?#]+))?$")
_SUCCESS_STATUS = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}
# Only id, schemas and meta are rendered after each write: the BulkResponse carries
# location and version, not the resource (RFC 7644 §3.7.3 lets a server omit the body
# of a successful operation), so a group's membership table is never read back.
_RESULT_ATTRIBUTES = "meta"


# --- limits ----------------------------------------------------------------------------------


def max_operations() -> int:
    """``BULK_MAX_OPERATIONS``: the most operations one BulkRequest may carry (0: Bulk is off)."""
    return int(current_app.config["BULK_MAX_OPERATIONS"])


def max_payload_size() -> int:
    """``BULK_MAX_PAYLOAD_SIZE``: the largest BulkRequest body accepted, in bytes."""
    return int(current_app.config["BULK_MAX_PAYLOAD_SIZE"])


def _limits_text() -> str:
    return f"maxOperations is {max_operations()}, maxPayloadSize is {max_payload_size()} bytes"


def _payload_too_large(size: int | None) -> PayloadTooLargeError:
    got = f"is {size} bytes" if size is not None else "is larger than that"
    return PayloadTooLargeError(
        f"The bulk request {got}: it exceeds maxPayloadSize ({max_payload_size()} bytes). "
        f"Split it into smaller requests ({_limits_text()})."
    )


def read_bulk_body() -> Any:
    """The request's JSON body, refusing (413) one larger than ``maxPayloadSize`` unparsed.

    ``Content-Length`` is compared before anything is read; a body without one (chunked)
    is read up to one byte past the limit and refused if it got there. On Flask >= 3.1
    the limit replaces the app-wide ``MAX_CONTENT_LENGTH`` for this request; on older
    Flask both apply, and so they do for a body without ``Content-Length``, which
    :func:`~gateway.scim.http.json_body` also holds to ``MAX_CONTENT_LENGTH``.
    """
    limit = max_payload_size()
    if request.content_length is not None and request.content_length > limit:
        raise _payload_too_large(request.content_length)
    try:
        # One byte more than the limit, so that a body without Content-Length that goes past
        # it is seen as too long (werkzeug stops such a stream at the limit without an error).
        request.max_content_length = limit + 1
    except AttributeError:  # Flask < 3.1: no per-request limit
        pass
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _payload_too_large(request.content_length) from None
    if len(raw) > limit:
        raise _payload_too_large(request.content_length)
    return json_body()


# --- parsing ---------------------------------------------------------------------------------


@dataclass
class BulkOperation:
    """One operation of a BulkRequest, checked for shape but not yet resolved or run."""

    index: int
    method: str  # upper case
    kind: ResourceKind
    resource_id: str | None  # as sent: may be "bulkId:<id>"; None for POST
    bulk_id: str | None
    data: Any
    version: str | None
    references: tuple[str, ...] = field(default=())  # bulkIds referenced by path or data


@dataclass(frozen=True)
class BulkJob:
    """A parsed BulkRequest: its operations in request order and ``failOnErrors``."""

    operations: list[BulkOperation]
    fail_on_errors: int | None


def _lowered(mapping: dict) -> dict:
    return {key.lower(): value for key, value in mapping.items() if isinstance(key, str)}


def _bulk_reference(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(BULK_ID_PREFIX) and len(value) > len(BULK_ID_PREFIX):
        return value[len(BULK_ID_PREFIX):]
    return None


def references_in(value: Any) -> list[str]:
    """The bulkIds that ``value`` (any JSON) references, in order of appearance, deduplicated."""
    found: dict[str, None] = {}
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        else:
            reference = _bulk_reference(item)
            if reference is not None:
                found.setdefault(reference)
    return list(found)


def substitute(value: Any, created: dict[str, str]) -> Any:
    """A copy of ``value`` with each ``"bulkId:<id>"`` string replaced by ``created[<id>]``."""
    if isinstance(value, dict):
        return {key: substitute(item, created) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, created) for item in value]
    reference = _bulk_reference(value)
    return created[reference] if reference is not None and reference in created else value


def _kind_for(endpoint: str) -> ResourceKind | None:
    return next((kind for kind in KINDS.values() if kind.endpoint == endpoint), None)


def _parse_operation(index: int, item: Any) -> BulkOperation:
    where = f"Operations[{index}]"
    if not isinstance(item, dict):
        raise InvalidSyntaxError(f"{where} must be a JSON object.")
    op = _lowered(item)
    method = op.get("method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidSyntaxError(f"{where}.method must be one of {', '.join(METHODS)}; got {method!r}.")
    method = method.upper()
    path = op.get("path")
    match = _PATH.match(path) if isinstance(path, str) else None
    kind = _kind_for(match["endpoint"]) if match else None
    if kind is None:
        raise InvalidSyntaxError(
            f"{where}.path must be /Users, /Groups, /Users/<id> or /Groups/<id>; got {path!r}."
        )
    resource_id = match["id"]
    if method == "POST" and resource_id is not None:
        raise InvalidSyntaxError(f"{where}: a POST goes to /{kind.endpoint}, not to {path!r}.")
    if method != "POST" and resource_id is None:
        raise InvalidSyntaxError(f"{where}: a {method} needs the resource's path, /{kind.endpoint}/<id>.")
    bulk_id = op.get("bulkid")
    if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
        raise InvalidSyntaxError(f"{where}.bulkId must be a non-empty string.")
    if method == "POST" and bulk_id is None:
        raise InvalidSyntaxError(f"{where}: bulkId is required for POST.")
    data = op.get("data")
    if method != "DELETE" and not isinstance(data, dict):
        raise InvalidSyntaxError(f"{where}.data must be a JSON object (the {method} body).")
    version = op.get("version")
    if version is not None and not isinstance(version, str):
        raise InvalidSyntaxError(f"{where}.version must be a string.")
    references = references_in([resource_id, data if method != "DELETE" else None])
    return BulkOperation(index, method, kind, resource_id, bulk_id, data if method != "DELETE" else None,
                         version, tuple(references))


def parse_bulk_request(body: Any, operation_limit: int) -> BulkJob:
    """Check a BulkRequest's shape and size; nothing runs. Raises 400 ``invalidSyntax`` or 413.

    Keys are matched case-insensitively, like every SCIM attribute name.
    """
    if not isinstance(body, dict):
        raise InvalidSyntaxError("The request body must be a JSON object (a BulkRequest message).")
    envelope = _lowered(body)
    schemas = envelope.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST_SCHEMA.lower() not in {str(s).lower() for s in schemas}:
        raise InvalidSyntaxError(f"A BulkRequest's schemas must contain {BULK_REQUEST_SCHEMA}.")
    items = envelope.get("operations")
    if not isinstance(items, list):
        raise InvalidSyntaxError("A BulkRequest needs an 'Operations' array.")
    if len(items) > operation_limit:
        raise PayloadTooLargeError(
            f"The bulk request has {len(items)} operations: it exceeds maxOperations ({operation_limit}). "
            f"Split it into smaller requests ({_limits_text()})."
        )
    fail_on_errors = envelope.get("failonerrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool) or not isinstance(fail_on_errors, int) or fail_on_errors < 1
    ):
        raise InvalidSyntaxError(f"failOnErrors must be a positive integer; got {fail_on_errors!r}.")
    parsed = [_parse_operation(index, item) for index, item in enumerate(items)]
    seen: dict[str, int] = {}
    for op in parsed:
        if op.bulk_id is None:
            continue
        if op.bulk_id in seen:
            raise InvalidSyntaxError(
                f"bulkId {op.bulk_id!r} is used by Operations[{seen[op.bulk_id]}] and Operations[{op.index}]; "
                "bulkIds must be unique within a BulkRequest."
            )
        seen[op.bulk_id] = op.index
    return BulkJob(parsed, fail_on_errors)


# --- running ---------------------------------------------------------------------------------


def _result(op: BulkOperation, status: int, location: str | None = None, version: str | None = None,
            error: ScimError | None = None) -> dict:
    result: dict[str, Any] = {"method": op.method}
    if op.bulk_id is not None:
        result["bulkId"] = op.bulk_id
    if location:
        result["location"] = location
    if version:
        result["version"] = version
    result["status"] = str(status)
    if error is not None:
        result["response"] = error.to_body()
    return result


def _unresolved(op: BulkOperation, defined: dict[str, BulkOperation], created: dict[str, str]) -> ScimError | None:
    """409 if ``op`` references a bulkId that no POST defines or whose POST failed."""
    for reference in op.references:
        if reference not in defined:
            return ConflictError(
                f"bulkId {reference!r} is not the bulkId of any POST operation in this bulk request."
            )
        if reference not in created:
            return ConflictError(
                f"bulkId {reference!r} cannot be resolved: the POST operation that defines it "
                f"(Operations[{defined[reference].index}]) failed or did not run."
            )
    return None


def _execute(ctx: operations.RequestContext, op: BulkOperation, created: dict[str, str]) -> tuple[dict, str | None]:
    """Run one operation whose references are all resolved; ``(result, created id or None)``."""
    kind = op.kind
    if_match = parse_etags(op.version) if op.version and op.method != "POST" else None
    ctx = dataclasses.replace(ctx, if_match=if_match or None)
    resource_id = substitute(op.resource_id, created) if op.resource_id is not None else None
    location = kind.location(ctx.base_url, resource_id) if resource_id is not None else None
    try:
        projection = operations.projection_for(ctx, kind, _RESULT_ATTRIBUTES, None)
        data = substitute(op.data, created)
        if op.method == "POST":
            row, resource = operations.create_resource(ctx, kind, data, projection)
        elif op.method == "PUT":
            row, resource = operations.replace_resource(ctx, kind, resource_id, data, projection)
        elif op.method == "PATCH":
            row, resource = operations.patch_resource(ctx, kind, resource_id, data, projection)
        else:
            operations.delete_resource(ctx, kind, resource_id)
            return _result(op, 204, location), None
    except ScimError as error:
        return _result(op, error.status, location, error=error), None
    except Exception:  # noqa: BLE001 - one broken operation must not lose the others' results
        log.exception("Bulk operation %d (%s %s) failed unexpectedly", op.index, op.method, op.kind.endpoint)
        return _result(op, 500, location, error=InternalError()), None
    meta = (resource or {}).get("meta", {})  # resource may be None (a large group's PATCH)
    location = meta.get("location") or kind.location(ctx.base_url, row.id)
    return _result(op, _SUCCESS_STATUS[op.method], location, meta.get("version") or etag(row)), row.id


def _find_cycle(start: int, deps: list[set[int]], done: dict[int, dict]) -> list[int]:
    """A cycle of not-yet-run operations reachable from ``start`` (which is blocked)."""
    path: list[int] = []
    position: dict[int, int] = {}
    node = start
    while node not in position:
        position[node] = len(path)
        path.append(node)
        node = min(dep for dep in deps[node] if dep not in done)
    return path[position[node]:]


def run_bulk(ctx: operations.RequestContext, job: BulkJob) -> dict:
    """Run a parsed BulkRequest and return the BulkResponse (RFC 7644 §3.7.3).

    Each operation is its own transaction. Order: request order, except that an operation
    waits for the POSTs whose bulkIds it references. Results are listed in request order
    and include only the operations that ran (``failOnErrors`` may stop the job early).
    """
    ops = job.operations
    defined = {op.bulk_id: op for op in ops if op.method == "POST" and op.bulk_id is not None}
    deps = [{defined[ref].index for ref in op.references if ref in defined} for op in ops]
    dependents: list[list[int]] = [[] for _ in ops]
    for op in ops:
        for dep in deps[op.index]:
            dependents[dep].append(op.index)
    waiting = [len(d) for d in deps]
    ready = [op.index for op in ops if waiting[op.index] == 0]
    heapq.heapify(ready)
    created: dict[str, str] = {}
    done: dict[int, dict] = {}
    errors = 0
    next_blocked = 0  # every operation before this index has run

    def settle(index: int, result: dict) -> None:
        nonlocal errors
        done[index] = result
        if int(result["status"]) >= 400:
            errors += 1
        for dependent in dependents[index]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0 and dependent not in done:
                heapq.heappush(ready, dependent)

    def stop() -> bool:
        return job.fail_on_errors is not None and errors >= job.fail_on_errors

    while len(done) < len(ops) and not stop():
        if ready:
            index = heapq.heappop(ready)
            if index in done:
                continue
            op = ops[index]
            error = _unresolved(op, defined, created)
            if error is not None:
                literal_id = op.resource_id if _bulk_reference(op.resource_id) is None else None
                location = op.kind.location(ctx.base_url, literal_id) if literal_id else None
                settle(index, _result(op, error.status, location, error=error))
                continue
            result, new_id = _execute(ctx, op, created)
            if new_id is not None and op.bulk_id is not None:
                created[op.bulk_id] = new_id
            settle(index, result)
            continue
        # Nothing is ready, yet operations remain: each waits on another, so some wait in a cycle.
        while next_blocked in done:
            next_blocked += 1
        cycle = _find_cycle(next_blocked, deps, done)
        chain = " -> ".join(f"bulkId {ops[i].bulk_id!r}" for i in [*cycle, cycle[0]])
        for index in sorted(cycle):
            if stop():
                break
            error = ConflictError(
                f"Circular bulkId references ({chain}): these operations cannot be ordered, so none of them ran."
            )
            settle(index, _result(ops[index], error.status, error=error))

    return {"schemas": [BULK_RESPONSE_SCHEMA], "Operations": [done[index] for index in sorted(done)]}


# --- OpenAPI ---------------------------------------------------------------------------------

_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
_GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
REQUEST_EXAMPLE = {
    "schemas": [BULK_REQUEST_SCHEMA],
    "failOnErrors": 1,
    "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "qwerty",
         "data": {"schemas": [_USER_SCHEMA], "userName": "alice@example.com"}},
        {"method": "POST", "path": "/Groups", "bulkId": "ytrewq",
         "data": {"schemas": [_GROUP_SCHEMA], "displayName": "Tour Guides",
                  "members": [{"type": "User", "value": "bulkId:qwerty"}]}},
        {"method": "PATCH", "path": "/Users/bulkId:qwerty",
         "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                  "Operations": [{"op": "replace", "path": "active", "value": False}]}},
        {"method": "DELETE", "path": "/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"},
    ],
}
RESPONSE_EXAMPLE = {
    "schemas": [BULK_RESPONSE_SCHEMA],
    "Operations": [
        {"method": "POST", "bulkId": "qwerty",
         "location": "https://gateway.example.com/tenants/acme/scim/v2/Users/92b725cd-9465-4e7d-8c16-01f8e146b87a",
         "version": 'W/"1"', "status": "201"},
        {"method": "POST", "bulkId": "ytrewq",
         "location": "https://gateway.example.com/tenants/acme/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660b",
         "version": 'W/"1"', "status": "201"},
        {"method": "PATCH",
         "location": "https://gateway.example.com/tenants/acme/scim/v2/Users/92b725cd-9465-4e7d-8c16-01f8e146b87a",
         "version": 'W/"2"', "status": "200"},
        {"method": "DELETE",
         "location": "https://gateway.example.com/tenants/acme/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
         "status": "404",
         "response": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "404",
                      "detail": "Group 'e9e30dba-f08f-4109-8486-d5c6a331660a' not found."}},
    ],
}


class BulkOperationSchema(Schema):
    """One operation of a BulkRequest: the method, path and body of a single SCIM request."""

    method = fields.String(required=True, metadata={
        "example": "POST", "enum": list(METHODS), "description": "POST, PUT, PATCH or DELETE (any case)."})
    path = fields.String(required=True, metadata={
        "example": "/Users",
        "description": "/Users or /Groups for POST; /Users/<id> or /Groups/<id> otherwise. "
                       "<id> may be bulkId:<bulkId> of a POST in the same request."})
    bulkId = fields.String(metadata={
        "example": "qwerty",
        "description": "Required for POST: a client-chosen id, unique in the request; other operations "
                       "reference the created resource as \"bulkId:qwerty\"."})
    version = fields.String(metadata={
        "example": 'W/"1"',
        "description": "For PUT, PATCH, DELETE: the operation's If-Match; a stale version answers 412."})
    data = fields.Raw(metadata={
        "example": {"schemas": [_USER_SCHEMA], "userName": "alice@example.com"},
        "description": "The body of the POST, PUT or PATCH (a PatchOp); not used for DELETE."})


class BulkRequestSchema(Schema):
    """An RFC 7644 §3.7 BulkRequest. Operations run one by one, each in its own transaction."""

    schemas = fields.List(fields.String(), required=True, metadata={"example": [BULK_REQUEST_SCHEMA]})
    failOnErrors = fields.Integer(metadata={
        "example": 1, "description": "Stop after this many operations have failed (default: run all)."})
    Operations = fields.List(fields.Nested(BulkOperationSchema), required=True)


class BulkOperationResultSchema(Schema):
    """The outcome of one operation: its status and, for a failure, the SCIM error body."""

    method = fields.String(metadata={"example": "POST"})
    bulkId = fields.String(metadata={"example": "qwerty"})
    location = fields.String(metadata={
        "example": "https://gateway.example.com/tenants/acme/scim/v2/Users/92b725cd-9465-4e7d-8c16-01f8e146b87a",
        "description": "The resource's URL; absent for a failed POST."})
    version = fields.String(metadata={"example": 'W/"1"'})
    status = fields.String(metadata={"example": "201", "description": "The HTTP status of the operation."})
    response = fields.Nested(api_schemas.ScimErrorBody, metadata={"description": "The error, for a failure."})


class BulkResponseSchema(Schema):
    """An RFC 7644 §3.7.3 BulkResponse: one result per operation that ran, in request order."""

    schemas = fields.List(fields.String(), metadata={"example": [BULK_RESPONSE_SCHEMA]})
    Operations = fields.List(fields.Nested(BulkOperationResultSchema))


@blp.route("/Bulk", endpoint="bulk")
class Bulk(MethodView):
    @blp.doc(
        summary="Run many Users/Groups writes in one request (BulkRequest)",
        description=(
            "RFC 7644 §3.7. Not atomic: each operation is its own transaction, as if sent alone, "
            "and operations that succeeded stay done when others fail. bulkId references "
            "(\"bulkId:<id>\" as a value in data, or as the id in path) are replaced by the ids "
            "of resources created in the same request; an operation referencing an unknown or "
            "failed bulkId, or part of a circular reference, answers 409; an operation's version "
            "is its If-Match (412 when stale). The limits "
            "(maxOperations, maxPayloadSize) are in ServiceProviderConfig.bulk."
        ),
        requestBody={"required": True, "content": {"application/scim+json": {
            "schema": BulkRequestSchema, "example": REQUEST_EXAMPLE}}},
    )
    @blp.alt_response(200, schema=BulkResponseSchema, content_type="application/scim+json", success=True,
                      example=RESPONSE_EXAMPLE,
                      description="A BulkResponse: per-operation status, location, version and errors.")
    @blp.alt_response(413, schema=api_schemas.ScimErrorBody, content_type="application/scim+json",
                      description="More operations than maxOperations, or a body larger than maxPayloadSize; "
                                  "nothing was done.")
    @_document_errors(400, 401, 403, 415, 501)
    def post(self):
        """Check the BulkRequest as a whole, then run its operations and answer a BulkResponse."""
        operation_limit = max_operations()
        if operation_limit <= 0:
            raise NotImplementedScimError("Bulk is turned off on this gateway (BULK_MAX_OPERATIONS is 0).")
        job = parse_bulk_request(read_bulk_body(), operation_limit)
        return scim_response(run_bulk(g.scim, job), 200)
