"""HTTP edges of the SCIM API: media types, JSON bodies, query parameters, responses."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from ..errors import InvalidSyntaxError, InvalidValueError, PayloadTooLargeError, UnsupportedMediaTypeError

SCIM_MEDIA_TYPE = "application/scim+json"
ACCEPTED_MEDIA_TYPES = frozenset({SCIM_MEDIA_TYPE, "application/json"})
MAX_JSON_DEPTH = 32


def scim_response(body: Any = None, status: int = 200, headers: dict | None = None) -> Response:
    """A response with an ``application/scim+json`` body (or none, for 204)."""
    if body is None:
        return Response(status=status, headers=headers)
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(payload, status=status, headers=headers, content_type=SCIM_MEDIA_TYPE)


def _depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def json_body() -> Any:
    """The request's JSON body, after checking its media type, syntax and nesting depth."""
    mimetype = (request.mimetype or "").lower()
    if mimetype not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type {request.content_type or '(none)'!r} is not accepted: "
            "send application/scim+json or application/json."
        )
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body is cut at the limit by werkzeug; reaching it means it was larger.
        raise PayloadTooLargeError(f"The request body is larger than {limit} bytes.")
    try:
        body = json.loads(raw.decode(request.mimetype_params.get("charset", "utf-8")))
    except (UnicodeDecodeError, LookupError):
        raise InvalidSyntaxError("The request body is not valid UTF-8 JSON.") from None
    except (ValueError, RecursionError) as error:
        raise InvalidSyntaxError(f"The request body is not valid JSON: {error}.") from None
    if _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InvalidSyntaxError(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
    return body


def json_object_body() -> dict:
    """The request's JSON body, which must be an object (a SCIM resource or message)."""
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidSyntaxError("The request body must be a JSON object.")
    return body


def int_arg(name: str, default: int | None = None) -> int | None:
    """An integer query parameter (case-insensitive name), or ``default`` if absent."""
    raw = query_arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidValueError(f"Query parameter '{name}' must be an integer, got {raw!r}.") from None


def query_arg(name: str) -> str | None:
    """A query parameter by name, matched case-insensitively (RFC 7644 attribute names are)."""
    wanted = name.lower()
    for key, value in request.args.items():
        if key.lower() == wanted:
            return value
    return None
