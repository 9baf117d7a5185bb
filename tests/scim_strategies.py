"""Shared pieces of the Hypothesis property tests: JSON strategies, the settings every
property uses (bounded, derandomized so failures reproduce, no deadline), and checks that
an answer is SCIM-shaped and that no request raised an unhandled exception."""

from __future__ import annotations

import pytest
from flask import got_request_exception
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from gateway.errors import ERROR_SCHEMA

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#: A tenant that stores many attributes and takes any userName: the widest surface.
WIDE_SETTINGS = {"plugins": {
    "attribute-mapping": {"options": {"user_attributes": [
        "displayName", "emails", "phoneNumbers", "addresses", "title", "name.formatted",
        f"{ENTERPRISE}:department", f"{ENTERPRISE}:manager"]}},
    "uniqueness": {"options": {"require_email": False}},
}}
PROPERTY_SETTINGS = settings(max_examples=100, derandomize=True, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | \
    st.text(max_size=12)
KEYS = st.sampled_from(["value", "display", "type", "primary", "givenName", "userName", "displayName",
                        "members", "emails", "active", "id", "meta", "schemas", ENTERPRISE,
                        "department", "$ref", "name", "name.givenName"]) | st.text(max_size=8)


def members(ids: list[str]):
    """A member object naming a real or made-up id."""
    return st.fixed_dictionaries({"value": st.sampled_from(ids) | st.text(max_size=8)},
                                 optional={"display": JSON_SCALARS, "type": st.sampled_from(["User", "Group", 7])})


def json_values(ids: list[str]):
    """Any JSON value, with member-shaped objects that name real or made-up ids."""
    scalars = JSON_SCALARS | st.sampled_from(ids)
    return st.recursive(scalars | members(ids),
                        lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
                        max_leaves=12)


def plausible_values(ids: list[str]):
    """Values of the shapes attributes take (text, booleans, objects, member lists), or any JSON."""
    return st.one_of(st.text(max_size=12), st.booleans(), st.lists(members(ids), max_size=3),
                     st.dictionaries(KEYS, st.text(max_size=8) | st.booleans(), max_size=3), json_values(ids))


def assert_scim_answer(response) -> None:
    """A 2xx, or a 4xx with an RFC 7644 §3.12 error body; never a 5xx."""
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/scim+json"
        body = response.get_json()
        assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == str(response.status_code), body
        assert body["detail"]


@pytest.fixture(scope="module")
def crashes(module_app):
    """Unhandled exceptions of the module's requests (the app turns them into 500s)."""
    seen: list[str] = []

    def crashed(sender, exception, **_):
        seen.append(f"{type(exception).__name__}: {exception}")

    got_request_exception.connect(crashed, module_app)
    yield seen
    got_request_exception.disconnect(crashed, module_app)
