"""The gateway's Flask class: Flask, with the async check of request functions remembered.

Flask asks :meth:`Flask.ensure_sync` about every ``before_request``, ``after_request``,
``teardown_request`` and URL value preprocessor it calls, and flask-smorest about every
view layer: 17 times for one SCIM request, each an ``inspect.iscoroutinefunction`` call.
The answer for a function never changes, so :class:`GatewayFlask` keeps it.
Flask's documentation names ``ensure_sync`` as the method to override for this.
"""

from __future__ import annotations

from types import FunctionType
from typing import Any, Callable

from flask import Flask

#: The most functions remembered; past it the cache starts again (a guard: the gateway
#: registers a few dozen request functions, all at start-up).
CACHE_LIMIT = 1024


class GatewayFlask(Flask):
    """Flask whose :meth:`ensure_sync` answers from a per-function cache."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_functions: dict[FunctionType, Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's answer (``func`` itself, or ``async def`` wrapped to run synchronously),
        remembered per plain function. Bound methods (a ``MethodView``'s, new on every
        request) are asked about each time, as Flask does."""
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        known = self._sync_functions.get(func)
        if known is None:
            if len(self._sync_functions) >= CACHE_LIMIT:
                self._sync_functions.clear()
            known = self._sync_functions[func] = super().ensure_sync(func)
        return known
