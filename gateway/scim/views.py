"""The SCIM blueprint: one set of views served at ``/tenants/<tenant>/scim/v2`` and ``/scim/v2``.

The blueprint is registered twice (flask-smorest documents both path sets). A URL value
preprocessor pops ``<tenant>`` into ``g`` and ``before_request`` authenticates, so views
never see the slug and never run for an unauthenticated caller.
"""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from .. import ratelimit
from ..auth import authenticate_scim_request
from ..errors import InvalidFilterError, InvalidValueError, NotFoundError, NotImplementedScimError
from ..flask_app import current_gateway, current_request, request_globals
from . import api_schemas, discovery, filters, operations
from .blueprint import ScimBlueprint
from .http import int_arg, json_body, json_object_body, query_args, scim_response
from .projection import Projection
from .resources import GROUPS, USERS, ResourceKind, kind_named

blp = ScimBlueprint(
    "scim",
    __name__,
    description="SCIM 2.0 service provider (RFC 7643, RFC 7644) for one tenant.",
)

ERRORS = {
    400: "Bad request: invalidFilter, invalidSyntax, invalidValue, invalidPath, noTarget or mutability.",
    401: "Missing or wrong bearer token.",
    403: "Provisioning is disabled for this tenant.",
    404: "No such resource in this tenant.",
    409: "uniqueness: the name is already in use in this tenant.",
    412: "If-Match does not match the resource's current version.",
    413: "The body is larger than the server accepts.",
    415: "The body is not application/scim+json or application/json.",
    501: "Not implemented.",
}


@blp.url_value_preprocessor
def _pop_tenant(endpoint, values):
    request_globals().tenant_slug = values.pop("tenant", None) if values else None


@blp.before_request
def _authenticate():
    authenticate_scim_request()
    state = request_globals()
    tenant = state.tenant
    hooks = current_gateway().extensions["scim_gateway"].for_tenant(
        tenant.slug, tenant.name, tenant.settings, tenant.updated, operations.lookup_for(tenant)
    )
    ratelimit.check(hooks, tenant.slug)
    state.scim = operations.RequestContext(
        tenant=tenant, hooks=hooks, base_url=state.scim_base, actor=state.token_prefix,
        if_match=current_request().if_match or None, request_id=state.get("request_id") or "",
    )


def _ctx() -> operations.RequestContext:
    """The request's SCIM context (tenant, hooks, base URL), made by :func:`_authenticate`."""
    return request_globals().scim


def _document_errors(*codes: int):
    """Document the SCIM error responses ``codes`` of a view in OpenAPI."""

    def decorate(function):
        for code in codes:
            function = blp.alt_response(code, schema=api_schemas.ScimErrorBody,
                                        content_type="application/scim+json", description=ERRORS[code])(function)
        return function

    return decorate


def _projection(kind: ResourceKind) -> Projection:
    """The ``attributes``/``excludedAttributes`` query parameters, for one resource."""
    args = query_args()
    return operations.projection_for(_ctx(), kind, args.get("attributes"), args.get("excludedattributes"))


def _created(kind: ResourceKind, resource: dict):
    location = resource.get("meta", {}).get("location") or kind.location(_ctx().base_url, resource["id"])
    return scim_response(resource, 201, {"Location": location, "ETag": resource.get("meta", {}).get("version", "")})


def _ok(resource: dict):
    version = resource.get("meta", {}).get("version")
    return scim_response(resource, 200, {"ETag": version} if version else None)


def _not_modified(row) -> bool:
    """True when the request's If-None-Match names the row's current version (RFC 7232)."""
    return bool(request.if_none_match) and request.if_none_match.contains_weak(str(row.version))


def _list_query() -> operations.ListQuery:
    """The ListQuery of a GET on a resource collection (query parameters)."""
    args = query_args()
    return _make_query(
        args.get("filter"), int_arg(args, "startIndex"), int_arg(args, "count"),
        args.get("attributes"), args.get("excludedattributes"),
        args.get("sortby"), args.get("sortorder"),
    )


def _make_query(filter_text, start_index, count, attributes, excluded, sort_by=None,
                sort_order=None) -> operations.ListQuery:
    if sort_order is not None and (not isinstance(sort_order, str)
                                   or sort_order.lower() not in ("ascending", "descending")):
        raise InvalidValueError(f"sortOrder must be 'ascending' or 'descending', got {sort_order!r}.")
    if sort_by is not None and not isinstance(sort_by, str):
        raise InvalidValueError("sortBy must be an attribute path.")
    return operations.ListQuery(
        filter=filters.parse_filter(filter_text) if filter_text else None,
        start_index=max(1, start_index or 1),
        count=operations.page_size(count),
        attributes=attributes,
        excluded_attributes=excluded,
        sort_by=sort_by or None,
        descending=bool(sort_order) and sort_order.lower() == "descending",
    )


def _search_query() -> operations.ListQuery:
    """The ListQuery of a POST .search body (a SearchRequest, RFC 7644 §3.4.3)."""
    body = {key.lower(): value for key, value in json_object_body().items() if isinstance(key, str)}

    def names(key):
        value = body.get(key.lower())
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ",".join(value)
        raise InvalidValueError(f"'{key}' must be a list of attribute names.")

    def integer(key):
        value = body.get(key.lower())
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidValueError(f"'{key}' must be an integer.")
        return value

    filter_text = body.get("filter")
    if filter_text is not None and not isinstance(filter_text, str):
        raise InvalidFilterError("'filter' must be a string.")
    return _make_query(filter_text, integer("startIndex"), integer("count"),
                       names("attributes"), names("excludedAttributes"),
                       body.get("sortby"), body.get("sortorder"))


def _register(kind: ResourceKind, request_schema, resource_schema, list_schema) -> None:
    """Route the collection and item views of ``kind`` (Users or Groups); bodies sent are
    ``request_schema``, resources answered ``resource_schema``."""

    class Collection(MethodView):
        @blp.doc(summary=f"List or filter {kind.endpoint}", parameters=_LIST_PARAMETERS)
        @blp.alt_response(200, schema=list_schema, content_type="application/scim+json", success=True,
                          description=f"A ListResponse page of {kind.endpoint}.")
        @_document_errors(400, 401, 403)
        def get(self):
            return scim_response(operations.list_resources(_ctx(), kind, _list_query()))

        @blp.doc(summary=f"Create a {kind.name}",
                 requestBody={"required": True,
                              "content": {"application/scim+json": {"schema": request_schema}}})
        @blp.alt_response(201, schema=resource_schema, content_type="application/scim+json", success=True,
                          description=f"The created {kind.name}; Location is its meta.location.")
        @_document_errors(400, 401, 403, 409, 413, 415)
        def post(self):
            body = json_object_body()
            _, resource = operations.create_resource(_ctx(), kind, body, _projection(kind))
            return _created(kind, resource)

    class Item(MethodView):
        @blp.doc(summary=f"Read one {kind.name}", parameters=_PROJECTION_PARAMETERS)
        @blp.alt_response(200, schema=resource_schema, content_type="application/scim+json", success=True,
                          description=f"The {kind.name}.")
        @_document_errors(401, 403, 404)
        def get(self, resource_id):
            row, resource = operations.get_resource(_ctx(), kind, resource_id, _projection(kind))
            if _not_modified(row):
                return scim_response(None, 304, {"ETag": resource["meta"]["version"]})
            return _ok(resource)

        @blp.doc(summary=f"Replace a {kind.name}",
                 requestBody={"required": True,
                              "content": {"application/scim+json": {"schema": request_schema}}})
        @blp.alt_response(200, schema=resource_schema, content_type="application/scim+json", success=True,
                          description=f"The replaced {kind.name}.")
        @_document_errors(400, 401, 403, 404, 409, 412, 413, 415)
        def put(self, resource_id):
            body = json_object_body()
            _, resource = operations.replace_resource(_ctx(), kind, resource_id, body, _projection(kind))
            return _ok(resource)

        @blp.doc(summary=f"Modify a {kind.name} (PatchOp)",
                 requestBody={"required": True,
                              "content": {"application/scim+json": {"schema": api_schemas.PatchRequest}}})
        @blp.alt_response(200, schema=resource_schema, content_type="application/scim+json", success=True,
                          description=f"The modified {kind.name}.")
        @blp.alt_response(204, description="Modified; a group with more members than the server lists "
                                           "in PATCH answers (ask for attributes to get a body).")
        @_document_errors(400, 401, 403, 404, 409, 412, 413, 415)
        def patch(self, resource_id):
            body = json_body()
            row, resource = operations.patch_resource(_ctx(), kind, resource_id, body, _projection(kind))
            if resource is None:
                return scim_response(None, 204, {"ETag": f'W/"{row.version}"'})
            return _ok(resource)

        @blp.doc(summary=f"Delete a {kind.name}")
        @blp.alt_response(204, description="Deleted.", success=True)
        @_document_errors(401, 403, 404, 412)
        def delete(self, resource_id):
            operations.delete_resource(_ctx(), kind, resource_id)
            return scim_response(None, 204)

    class Search(MethodView):
        @blp.doc(summary=f"Search {kind.endpoint} with a SearchRequest body",
                 requestBody={"required": True,
                              "content": {"application/scim+json": {"schema": api_schemas.SearchRequest}}})
        @blp.alt_response(200, schema=list_schema, content_type="application/scim+json", success=True,
                          description=f"A ListResponse page of {kind.endpoint}.")
        @_document_errors(400, 401, 403, 413, 415)
        def post(self):
            return scim_response(operations.list_resources(_ctx(), kind, _search_query()))

    Collection.__name__ = f"{kind.endpoint}Collection"
    Item.__name__ = f"{kind.name}Item"
    Search.__name__ = f"{kind.endpoint}Search"
    blp.route(f"/{kind.endpoint}", endpoint=f"{kind.endpoint.lower()}")(Collection)
    blp.route(f"/{kind.endpoint}/.search", endpoint=f"{kind.endpoint.lower()}-search")(Search)
    blp.route(f"/{kind.endpoint}/<string:resource_id>", endpoint=f"{kind.name.lower()}")(Item)


def _query_parameter(name: str, description: str, schema_type: str = "string") -> dict:
    return {"in": "query", "name": name, "required": False, "description": description,
            "schema": {"type": schema_type}}


_PROJECTION_PARAMETERS = [
    _query_parameter("attributes", "Comma-separated attributes to return (RFC 7644 §3.4.2.5)."),
    _query_parameter("excludedAttributes", "Comma-separated attributes to leave out, e.g. members."),
]
_LIST_PARAMETERS = [
    _query_parameter("filter", 'SCIM filter, e.g. userName eq "bjensen@example.com".'),
    _query_parameter("startIndex", "1-based index of the first result.", "integer"),
    _query_parameter("count", "Page size (at most the server's maxResults).", "integer"),
    *_PROJECTION_PARAMETERS,
]

_register(USERS, api_schemas.UserResource, api_schemas.UserResponse, api_schemas.UserListResponse)
_register(GROUPS, api_schemas.GroupResource, api_schemas.GroupResponse, api_schemas.GroupListResponse)


@blp.route("/.search", endpoint="search")
class RootSearch(MethodView):
    @blp.doc(summary="Search Users and Groups together with a SearchRequest body",
             requestBody={"required": True,
                          "content": {"application/scim+json": {"schema": api_schemas.SearchRequest}}})
    @blp.alt_response(200, schema=api_schemas.DiscoveryListResponse, content_type="application/scim+json",
                      success=True, description="A ListResponse mixing Users and Groups (Users first).")
    @_document_errors(400, 401, 403, 413, 415)
    def post(self):
        return scim_response(operations.search_all(_ctx(), [USERS, GROUPS], _search_query()))


@blp.route("/ServiceProviderConfig", endpoint="service-provider-config")
class ServiceProviderConfig(MethodView):
    @blp.doc(summary="What this service provider supports")
    @blp.alt_response(200, schema=api_schemas.DiscoveryResource, content_type="application/scim+json",
                      success=True, description="The ServiceProviderConfig (RFC 7643 §5).")
    @_document_errors(401, 403)
    def get(self):
        return scim_response(discovery.service_provider_config(_ctx().base_url))


@blp.route("/ResourceTypes", endpoint="resource-types")
class ResourceTypes(MethodView):
    @blp.doc(summary="The resource types served")
    @blp.alt_response(200, schema=api_schemas.DiscoveryListResponse, content_type="application/scim+json",
                      success=True, description="A ListResponse of ResourceType resources.")
    @_document_errors(401, 403)
    def get(self):
        types = discovery.resource_types(_ctx().hooks, _ctx().base_url)
        return scim_response(operations.list_response(len(types), 1, types))


@blp.route("/ResourceTypes/<string:name>", endpoint="resource-type")
class ResourceType(MethodView):
    @blp.doc(summary="One resource type")
    @blp.alt_response(200, schema=api_schemas.DiscoveryResource, content_type="application/scim+json",
                      success=True, description="The ResourceType (RFC 7643 §6).")
    @_document_errors(401, 403, 404)
    def get(self, name):
        kind = kind_named(name)
        if kind is None:
            raise NotFoundError(f"No resource type {name!r}.")
        return scim_response(discovery.resource_type(_ctx().hooks, kind, _ctx().base_url))


@blp.route("/Schemas", endpoint="schemas")
class Schemas(MethodView):
    @blp.doc(summary="The schemas served: exactly the attributes stored and returned")
    @blp.alt_response(200, schema=api_schemas.DiscoveryListResponse, content_type="application/scim+json",
                      success=True, description="A ListResponse of Schema resources.")
    @_document_errors(401, 403)
    def get(self):
        schemas = [schema.to_scim(_ctx().base_url) for schema in discovery.schemas(_ctx().hooks)]
        return scim_response(operations.list_response(len(schemas), 1, schemas))


@blp.route("/Schemas/<string:schema_id>", endpoint="schema")
class SchemaItem(MethodView):
    @blp.doc(summary="One schema")
    @blp.alt_response(200, schema=api_schemas.DiscoveryResource, content_type="application/scim+json",
                      success=True, description="The Schema (RFC 7643 §7).")
    @_document_errors(401, 403, 404)
    def get(self, schema_id):
        schema = discovery.find_schema(_ctx().hooks, schema_id)
        if schema is None:
            raise NotFoundError(f"No schema {schema_id!r}.")
        return scim_response(schema.to_scim(_ctx().base_url))


@blp.route("/Me", endpoint="me")
class Me(MethodView):
    @blp.doc(summary="Not supported: the clients of this gateway are identity providers")
    @_document_errors(401, 403, 501)
    def get(self):
        raise NotImplementedScimError("/Me is not supported: this gateway's clients are identity providers.")


from . import bulk  # noqa: E402,F401  (registers /Bulk on blp)
