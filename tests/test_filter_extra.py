"""Filters, sorting and PATCH on attributes a tenant keeps beyond the dedicated columns.

A tenant whose attribute-mapping options widen the stored list keeps those attributes in
the ``extra`` JSON column; filters on them still compile to SQL (``json_extract`` /
``jsonb``), and value filters must hold for the same element.
"""

from __future__ import annotations

import pytest

from tests.conftest import Scim, assert_scim_error

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
WIDE = {"plugins": {"attribute-mapping": {"options": {"user_attributes": [
    "displayName", "title", "emails", f"{ENTERPRISE}:department"]}}}}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Every test here runs on SQLite and on PostgreSQL (JSON functions differ)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/gateway.db"
    else:
        yield request.getfixturevalue("postgres_database_url")


@pytest.fixture
def wide(client, make_tenant):
    scim = Scim(client, make_tenant("wide", settings=WIDE))
    scim.create_user("ann@example.com", displayName="Ann A", title="CTO",
                     emails=[{"value": "ann@work.example", "type": "work", "primary": True},
                             {"value": "ann@home.example", "type": "home"}],
                     **{ENTERPRISE: {"department": "R&D", "employeeNumber": "7"}})
    scim.create_user("bob@example.com", displayName="Bob B",
                     emails=[{"value": "bob@home.example", "type": "home", "primary": True},
                             {"value": "bob@work.example", "type": "other"}],
                     **{ENTERPRISE: {"department": "Sales"}})
    scim.create_user("cyd@example.com")
    return scim


def listing(scim, **params) -> list[dict]:
    response = scim.client.get(scim.base + "/Users", query_string=params, headers=scim.headers())
    assert response.status_code == 200, response.get_json()
    return response.get_json()["Resources"]


def matching(scim, scim_filter: str) -> list[str]:
    return sorted(r["userName"] for r in listing(scim, filter=scim_filter))


@pytest.mark.parametrize("scim_filter, expected", [
    ('displayName eq "ann a"', ["ann@example.com"]),
    ('displayName sw "B"', ["bob@example.com"]),
    ("title pr", ["ann@example.com"]),
    ('not (title pr)', ["bob@example.com", "cyd@example.com"]),
    ('emails.value co "work.example"', ["ann@example.com", "bob@example.com"]),
    ('emails eq "BOB@home.example"', ["bob@example.com"]),
    ('emails[type eq "work" and value co "work.example"]', ["ann@example.com"]),
    ('emails[type eq "home" and primary eq true]', ["bob@example.com"]),
    ('emails[type eq "work"] or displayName eq "Bob B"', ["ann@example.com", "bob@example.com"]),
    (f'{ENTERPRISE}:department eq "sales"', ["bob@example.com"]),
    (f'{ENTERPRISE}:employeeNumber eq "7"', []),
    ('phoneNumbers.value pr', []),
])
def test_filters_on_attributes_kept_in_json(wide, scim_filter, expected):
    assert matching(wide, scim_filter) == expected


def test_sort_by_an_attribute_kept_in_json(wide):
    assert [r["userName"] for r in listing(wide, sortBy="displayName", sortOrder="descending")] == [
        "bob@example.com", "ann@example.com", "cyd@example.com"]


def test_only_stored_attributes_come_back_and_schemas_tell_the_truth(wide):
    ann = listing(wide, filter='userName eq "ann@example.com"')[0]
    assert ann[ENTERPRISE] == {"department": "R&D"}
    assert ENTERPRISE in ann["schemas"]
    assert ann["emails"][0] == {"value": "ann@work.example", "type": "work", "primary": True}
    schemas = {s["id"]: s for s in wide.get("/Schemas").get_json()["Resources"]}
    assert [a["name"] for a in schemas[ENTERPRISE]["attributes"]] == ["department"]
    user_attributes = [a["name"] for a in schemas["urn:ietf:params:scim:schemas:core:2.0:User"]["attributes"]]
    assert set(user_attributes) == {"userName", "name", "displayName", "title", "active", "emails"}


def test_entra_work_email_patch_creates_updates_and_removes_the_value(wide):
    user = listing(wide, filter='userName eq "cyd@example.com"')[0]
    path = f"/Users/{user['id']}"
    added = wide.patch(path, [{"op": "Add", "path": 'emails[type eq "work"].value', "value": "cyd@w.example"}])
    assert added.status_code == 200 and added.get_json()["emails"] == [{"type": "work", "value": "cyd@w.example"}]
    replaced = wide.patch(path, [{"op": "Replace", "path": 'emails[type eq "work"].value', "value": "c@w.example"}])
    assert replaced.get_json()["emails"] == [{"type": "work", "value": "c@w.example"}]
    assert matching(wide, 'emails[type eq "work" and value eq "c@w.example"]') == ["cyd@example.com"]
    removed = wide.patch(path, [{"op": "remove", "path": 'emails[type eq "work"]'}])
    assert "emails" not in removed.get_json()
    assert matching(wide, 'emails pr') == ["ann@example.com", "bob@example.com"]


@pytest.mark.parametrize("op", ["Add", "Replace"])
@pytest.mark.parametrize("email_type", ["work", "other"])  # a value the filter matches, and none
def test_a_null_value_for_a_filtered_path_is_400_and_changes_nothing(wide, op, email_type):
    ann = listing(wide, filter='userName eq "ann@example.com"')[0]
    before = wide.get(f"/Users/{ann['id']}").get_json()
    response = wide.patch(f"/Users/{ann['id']}", [{"op": op, "path": f'emails[type eq "{email_type}"]',
                                                    "value": None}])
    assert_scim_error(response, 400, "invalidValue")
    assert wide.get(f"/Users/{ann['id']}").get_json() == before
