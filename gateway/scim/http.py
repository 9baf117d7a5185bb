"""HTTP edges of the SCIM API: media types, JSON bodies, query parameters, responses.

A body is JSON as RFC 8259 defines it, or a 400 ``invalidSyntax``: valid UTF-8, no
``NaN``/``Infinity`` (Python's parser accepts them, no other JSON reader does), no
duplicate member names in one object (readers disagree on which one wins, so a proxy
that checks one and the gateway that uses the other would not see the same request),
integers of at most 4300 digits (Python's limit) and nested at most ``MAX_JSON_DEPTH``
levels. The standard library parser is used because it is C code and stops with a
``RecursionError`` around a thousand levels, before any deep document costs CPU or
stack; the depth limit is then checked on the parsed value, without recursion.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from flask import Response

from tenants.json_text import dumps

from ..errors import InvalidSyntaxError, InvalidValueError, PayloadTooLargeError, UnsupportedMediaTypeError
from ..flask_app import app_config, current_request

SCIM_MEDIA_TYPE = "application/scim+json"
ACCEPTED_MEDIA_TYPES = frozenset({SCIM_MEDIA_TYPE, "application/json"})


def scim_response(body: Any = None, status: int = 200, headers: dict | None = None) -> Response:
    """A response with an ``application/scim+json`` body (or none, for 204)."""
    if body is None:
        return Response(status=status, headers=headers)
    return Response(dumps(body), status=status, headers=headers, content_type=SCIM_MEDIA_TYPE)


def _depth(value: Any, limit: int) -> int:
    """How many objects and arrays nest in ``value`` (``{}`` is 1), counting stops past ``limit``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class _NotJson(ValueError):
    """A construct Python's parser accepts but RFC 8259 JSON does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


def _object(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        duplicate = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise _NotJson(f"the member name {duplicate!r} appears twice in one object")
    return result


def parse_json(raw: str) -> Any:
    """``raw`` parsed as strict JSON (see the module docstring), or :class:`InvalidSyntaxError`."""
    limit = app_config()["MAX_JSON_DEPTH"]
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, object_pairs_hook=_object)
    except RecursionError:
        raise InvalidSyntaxError(f"The request body nests deeper than {limit} levels.") from None
    except ValueError as error:
        raise InvalidSyntaxError(f"The request body is not valid JSON: {error}.") from None
    if _depth(body, limit) > limit:
        raise InvalidSyntaxError(f"The request body nests deeper than {limit} levels.")
    return body


def json_body() -> Any:
    """The request's JSON body, after checking its media type, syntax and nesting depth."""
    req = current_request()
    mimetype = (req.mimetype or "").lower()
    if mimetype not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type {req.content_type or '(none)'!r} is not accepted: "
            "send application/scim+json or application/json."
        )
    raw = req.get_data(cache=True)
    limit = req.max_content_length
    if req.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body is cut at the limit by werkzeug; reaching it means it was larger.
        raise PayloadTooLargeError(f"The request body is larger than {limit} bytes.")
    try:
        decoded = raw.decode(req.mimetype_params.get("charset", "utf-8"))
    except (UnicodeDecodeError, LookupError):
        raise InvalidSyntaxError("The request body is not valid UTF-8 JSON.") from None
    return parse_json(decoded)


def json_object_body() -> dict:
    """The request's JSON body, which must be an object (a SCIM resource or message)."""
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidSyntaxError("The request body must be a JSON object.")
    return body


def query_args() -> dict[str, str]:
    """The request's query parameters by lower-cased name: SCIM's are case-insensitive
    (RFC 7644 §3.4.2), so look them up as ``query_args().get("startindex")``."""
    return current_request().args_by_lower_name


def int_arg(args: dict[str, str], name: str) -> int | None:
    """The integer query parameter ``name`` of ``args`` (:func:`query_args`), ``None`` if absent."""
    raw = args.get(name.lower())
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidValueError(f"Query parameter '{name}' must be an integer, got {raw!r}.") from None

