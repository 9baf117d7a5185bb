"""Property: any PATCH body gets a SCIM-shaped 2xx or 4xx, never a 500, and a 4xx changes nothing.

Hypothesis builds PatchOp messages from operations with real and garbled ``op`` names,
paths (known attributes, URN-qualified ones, value filters, and arbitrary text) and values
of any JSON shape (member objects with real and made-up ids among them), and sends them
through the Flask test client to a user and a group of one tenant that stores many
attributes. Examples are derandomized (the same ones every run) and bounded.
"""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tenants import services
from tenants.db import database

from .conftest import PATCH_SCHEMA, Scim, TenantCredentials
from .scim_strategies import (  # noqa: F401  (crashes is a fixture)
    ENTERPRISE,
    JSON_SCALARS,
    KEYS,
    PROPERTY_SETTINGS,
    WIDE_SETTINGS,
    assert_scim_answer,
    crashes,
    json_values,
    plausible_values,
)
from .snapshot import snapshot


@pytest.fixture(scope="module")
def world(module_app):
    """One tenant with a user and a group the properties PATCH, and ids to use as members."""
    with database.connection_context():
        _, token = services.create_tenant("props", None)
        services.update_tenant("props", settings=module_app.extensions["scim_gateway"].validate_settings(WIDE_SETTINGS))
    scim = Scim(module_app.test_client(), TenantCredentials("props", token.secret))
    people = [scim.create_user(f"p{i}@example.com")["id"] for i in range(3)]
    user = scim.create_user("target@example.com", emails=[{"value": "t@example.com", "type": "work"}])
    group = scim.create_group("Targets", people[:2])
    return {"scim": scim, "user": user["id"], "group": group["id"], "people": people}


KNOWN_PATHS = st.sampled_from([
    "userName", "displayName", "active", "title", "name", "name.givenName", "name.formatted", "emails",
    "emails.value", 'emails[type eq "work"]', 'emails[type eq "work"].value', 'emails[value co "@"].primary',
    'emails[type eq "work" and primary eq true]', 'addresses[type eq "home"].locality', "phoneNumbers",
    "members", 'members[value eq "x"]', 'members[value eq "x" or value eq "y"]', "members.display",
    'members[display sw "p"]', "externalId", "id", "meta", "meta.version", "schemas",
    f"{ENTERPRISE}:department", f"{ENTERPRISE}:manager", f"{ENTERPRISE}:manager.value",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName", "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:nope:thing", "emails[", "emails[type eq]", "[]", "a.b.c", "emails[type eq \"work\"]].value", "",
])
PATHS = KNOWN_PATHS | st.text(max_size=20)


def operations(ids: list[str]):
    """One PATCH operation with a valid ``op``: mostly a known path (or none) with a plausible value."""
    op = st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove"])
    with_path = st.fixed_dictionaries({"op": op, "path": KNOWN_PATHS, "value": plausible_values(ids)})
    without_path = st.fixed_dictionaries({"op": st.sampled_from(["add", "replace"]),
                                          "value": st.dictionaries(KEYS, plausible_values(ids), max_size=3)})
    anything = st.fixed_dictionaries({"op": op}, optional={"path": PATHS, "value": json_values(ids)})
    return with_path | without_path | anything


def messages(ids: list[str]):
    """A well-formed PatchOp message around arbitrary operations."""
    return st.fixed_dictionaries({"schemas": st.just([PATCH_SCHEMA]),
                                  "Operations": st.lists(operations(ids), min_size=1, max_size=4)})


def garbled_bodies(ids: list[str]):
    """PatchOp-like bodies with wrong shapes: bad ops, schemas, Operations, or any JSON at all."""
    garbled_operation = st.fixed_dictionaries(
        {"op": st.sampled_from(["delete", ""]) | JSON_SCALARS},
        optional={"path": PATHS | JSON_SCALARS, "value": json_values(ids), "Path": PATHS},
    )
    return st.fixed_dictionaries(
        {"schemas": st.lists(st.text(max_size=10), max_size=2) | JSON_SCALARS | st.just([PATCH_SCHEMA]),
         "Operations": st.lists(garbled_operation | operations(ids) | json_values(ids), max_size=4) | JSON_SCALARS},
    ) | json_values(ids)


def _check_patch(world: dict, crashes: list, target: str, body) -> None:
    scim: Scim = world["scim"]
    before = snapshot(scim)
    response = scim.request("PATCH", target, body)
    event(f"{response.status_code} {(response.get_json(silent=True) or {}).get('scimType', '')}")
    assert not crashes, crashes
    assert_scim_answer(response)
    if response.status_code >= 400:
        assert snapshot(scim) == before
    else:
        assert response.status_code in (200, 204)


def _targets(world: dict):
    return st.sampled_from([f"/Users/{world['user']}", f"/Groups/{world['group']}"])


def _ids(world: dict) -> list[str]:
    return [*world["people"], world["user"], "no-such-id"]


@settings(PROPERTY_SETTINGS, max_examples=150)
@given(data=st.data())
def test_any_operations_are_a_scim_answer_and_a_refusal_changes_nothing(world, crashes, data):
    body = data.draw(messages(_ids(world)), label="body")
    _check_patch(world, crashes, data.draw(_targets(world), label="target"), body)


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data())
def test_any_patch_body_is_a_scim_answer_and_a_refusal_changes_nothing(world, crashes, data):
    body = data.draw(garbled_bodies(_ids(world)), label="body")
    _check_patch(world, crashes, data.draw(_targets(world), label="target"), body)
