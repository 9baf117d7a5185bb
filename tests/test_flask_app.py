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


def test_bound_methods_are_remembered_by_their_function_and_the_cache_stays_bounded(app):
    class Holder:
        def method(self):
            return "ok"

    holders = [Holder(), Holder()]
    before = len(app._sync_functions)
    for holder in holders * 2:
        bound = holder.method  # a new bound method object, as a MethodView makes per request
        assert app.ensure_sync(bound) is bound
        assert bound() == "ok"
    assert len(app._sync_functions) == before + 1  # one entry, for the function: nothing piles up
    assert app._sync_functions[Holder.method] is Holder.method

    functions = [eval("lambda: None") for _ in range(CACHE_LIMIT + 5)]  # noqa: S307 - distinct functions
    for function in functions:
        app.ensure_sync(function)
    assert len(app._sync_functions) <= CACHE_LIMIT


def test_an_async_view_gets_flask_s_own_answer(app):
    """Without asgiref (Flask's "async" extra, not installed) Flask refuses async views;
    so does the gateway, every time, and nothing is remembered for them."""

    async def view():
        return "async"

    class Holder:
        async def method(self):
            return "async"

    for _ in range(2):
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(view)
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(Holder().method)
    assert view not in app._sync_functions
    assert Holder.method not in app._sync_functions
