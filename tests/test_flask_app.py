"""GatewayFlask: Flask with ensure_sync remembered per plain function."""

from __future__ import annotations

import pytest

from gateway.flask_app import CACHE_LIMIT, GatewayFlask


def test_a_plain_function_is_checked_once_and_returned_as_it_is(app):
    assert isinstance(app, GatewayFlask)

    def view():
        return "ok"

    assert app.ensure_sync(view) is view
    assert app._sync_functions[view] is view
    assert app.ensure_sync(view) is view


def test_bound_methods_are_not_remembered_and_the_cache_stays_bounded(app):
    class Holder:
        def method(self):
            return "ok"

    holder = Holder()
    before = len(app._sync_functions)
    for _ in range(3):
        assert app.ensure_sync(holder.method)() == "ok"
    assert len(app._sync_functions) == before  # a new bound method per request must not pile up

    functions = [eval("lambda: None") for _ in range(CACHE_LIMIT + 5)]  # noqa: S307 - distinct functions
    for function in functions:
        app.ensure_sync(function)
    assert len(app._sync_functions) <= CACHE_LIMIT


def test_an_async_view_gets_flask_s_own_answer(app):
    """Without asgiref (Flask's "async" extra, not installed) Flask refuses async views;
    so does the gateway, every time, and nothing is remembered for them."""

    async def view():
        return "async"

    for _ in range(2):
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(view)
    assert view not in app._sync_functions
