"""The gateway's Flask and Request classes: what Flask does, with per-request work done once.

Flask asks :meth:`Flask.ensure_sync` about every ``before_request``, ``after_request``,
``teardown_request`` and URL value preprocessor it calls, and flask-smorest about every
view layer: 17 times for one SCIM request, each an ``inspect.iscoroutinefunction`` call.
The answer for a function never changes, so :class:`GatewayFlask` keeps it; a
``MethodView``'s bound methods, new on every request, get the answer of their function.
Flask's documentation names ``ensure_sync`` as the method to override for this.
:class:`GatewayRequest` reads the query string's names case-insensitively once a request.

Reading an attribute through one of Flask's proxies (``request``, ``g``, ``current_app``)
first fails on the proxy object itself (an ``AttributeError`` made and caught) before the
proxy finds the real object: some 10,000 instructions, a few times the read itself. Code
that runs on every request therefore reaches the real objects through
:data:`current_request`, :data:`request_globals` and :data:`current_gateway` (each a
proxy's ``_get_current_object``, the documented way to the object behind it) and reads
settings through :func:`app_config`.
"""

from __future__ import annotations

from types import FunctionType, MethodType
from typing import Any, Callable

from flask import Config, Flask, Request, current_app, g, request
from werkzeug.utils import cached_property

#: The most functions remembered; past it the cache starts again (a guard: the gateway
#: registers a few dozen request functions, all at start-up).
CACHE_LIMIT = 1024


#: The request being handled (what ``flask.request`` stands for).
current_request = request._get_current_object
#: The request's ``flask.g``.
request_globals = g._get_current_object
#: The app handling the request (what ``flask.current_app`` stands for).
current_gateway = current_app._get_current_object


def app_config() -> Config:
    """The current app's ``config``, read without a failed lookup on the ``current_app`` proxy."""
    return current_gateway().config


class GatewayRequest(Request):
    """Flask's request, with the query parameters by lower-cased name."""

    @cached_property
    def args_by_lower_name(self) -> dict[str, str]:
        """Each query parameter under its lower-cased name (SCIM's are case-insensitive,
        RFC 7644 §3.4.2); of names that differ only in case, the first one sent wins."""
        found: dict[str, str] = {}
        for key, value in self.args.items():
            found.setdefault(key.lower(), value)
        return found


class GatewayFlask(Flask):
    """Flask whose :meth:`ensure_sync` answers from a per-function cache, with
    :class:`GatewayRequest` requests."""

    request_class = GatewayRequest

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_functions: dict[FunctionType, Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's answer (``func`` itself, or ``async def`` wrapped to run synchronously),
        remembered per plain function. A bound method (a ``MethodView``'s, new on every
        request) of a synchronous function is returned as it is; other callables are asked
        about each time, as Flask does."""
        kind = type(func)
        if kind is MethodType and type(func.__func__) is FunctionType:
            if self._remembered(func.__func__) is func.__func__:
                return func
            return super().ensure_sync(func)
        if kind is not FunctionType:
            return super().ensure_sync(func)
        return self._remembered(func)

    def _remembered(self, func: FunctionType) -> Callable[..., Any]:
        """Flask's answer for the plain function ``func``, from the cache when known."""
        known = self._sync_functions.get(func)
        if known is None:
            if len(self._sync_functions) >= CACHE_LIMIT:
                self._sync_functions.clear()
            known = self._sync_functions[func] = super().ensure_sync(func)
        return known
