"""Okta against the gateway: every documented request replayed, plus Okta's dialect.

``test_every_okta_sample_replays_in_order`` sends every file of ``tests/samples/okta``
(Okta's "SCIM 2.0 Protocol Reference", see its README) in file order against one tenant,
substituting the placeholders with ids of resources that earlier steps created.
Responses are compared on what the gateway keeps (userName, name.givenName,
name.familyName, externalId, active, displayName, members); every other attribute Okta
sends (password, emails, displayName and locale of users, groups, name.middleName, ...)
must be accepted and must not come back.

Okta's sample userName ``test.user@okta.local`` uses the special-use ``.local`` domain,
which the default tenant's email rule refuses; the replay's tenant turns that rule off
(``ANY_USERNAME``). The dedicated tests use ordinary addresses on default tenants.

The dedicated tests below the replay each pin one point of Okta's dialect (issue 3,
item 7): the userName lookup with ``startIndex=1&count=100``, user updates by PUT with the
whole body, deactivation and reactivation by a PATCH without ``path``, Group Push (create,
member add and remove, rename with ``id`` in the value), and paging with totalResults.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from tenants.clock import utcnow
from tenants.db import database
from tenants.keys import fold
from tenants.models import Group, Membership, Tenant, User, new_id
from tests.conftest import body_of, url, ANY_USERNAME, Scim, assert_scim_error

SAMPLES_DIR = Path(__file__).parent / "samples" / "okta"
SCIM_MEDIA_TYPE = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

USER_KEYS = {"schemas", "id", "externalId", "userName", "name", "active", "meta"}
GROUP_KEYS = {"schemas", "id", "externalId", "displayName", "members", "meta"}
MEMBER_KEYS = {"value", "$ref", "display", "type"}


# One app and database per module keeps the suite fast; every test still gets a tenant of its own.
@pytest.fixture(scope="module")
def app(module_app):
    return module_app


@pytest.fixture
def tenant(make_tenant):
    """A fresh tenant with the default plugins for each test."""
    return make_tenant()


# --------------------------------------------------------------------------- helpers



def lookup_path(user_name: str) -> str:
    """Okta's existence check, encoded exactly as Okta's reference prints it."""
    return f"/Users?filter=userName%20eq%20%22{quote(user_name, safe='')}%22&startIndex=1&count=100"



def assert_user(resource: dict, expected: dict) -> None:
    """The user holds exactly the kept attributes in ``expected``; nothing else comes back."""
    assert resource["schemas"] == [USER_SCHEMA]
    assert set(resource) <= USER_KEYS, f"disregarded attributes returned: {set(resource) - USER_KEYS}"
    for key in ("userName", "externalId", "active", "name"):
        if key in expected:
            assert resource.get(key) == expected[key], (key, resource.get(key), expected[key])
        else:
            assert key not in resource, (key, resource[key])
    meta = resource["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"].endswith(f"/Users/{resource['id']}")


def assert_group(resource: dict, display_name: str, members: dict[str, str] | None) -> None:
    """The group has ``display_name`` and exactly ``members`` (``{user id: display}``)."""
    assert resource["schemas"] == [GROUP_SCHEMA]
    assert set(resource) <= GROUP_KEYS, f"unexpected attributes returned: {set(resource) - GROUP_KEYS}"
    assert resource["displayName"] == display_name
    assert resource["meta"]["resourceType"] == "Group"
    if members is not None:
        got = {member["value"]: member["display"] for member in resource["members"]}
        assert got == members
        for member in resource["members"]:
            assert set(member) <= MEMBER_KEYS
            assert member["$ref"].endswith(f"/Users/{member['value']}")


def member_values(group: dict) -> set[str]:
    return {member["value"] for member in group.get("members", [])}


def assert_list(page: dict, total: int, start: int, items: int) -> None:
    """A ListResponse with integer paging fields (Okta: 'as integers, not as strings')."""
    assert page["schemas"] == [LIST_SCHEMA]
    for key, expected in (("totalResults", total), ("startIndex", start), ("itemsPerPage", items)):
        assert type(page[key]) is int, (key, page[key])
        assert page[key] == expected, (key, page[key], expected)
    assert len(page.get("Resources", [])) == items


def stored_user(user_id: str) -> User:
    with database.connection_context():
        return User.get_by_id(user_id)


def stored_members(group_id: str) -> dict[str, str | None]:
    with database.connection_context():
        return {row.user_id: row.display for row in Membership.select().where(Membership.group == group_id)}


def load(name: str) -> dict:
    return json.loads((SAMPLES_DIR / name).read_text())


def sample_files() -> list[str]:
    return sorted(p.name for p in SAMPLES_DIR.glob("*.json"))


def okta_create_body(user_name: str, given: str = "Test", family: str = "User", external_id: str | None = None,
                     active: bool = True) -> dict:
    """Okta's documented Create the User body with another userName (and names)."""
    body = load("02-create-user.json")["request"]["body"]
    body.update(userName=user_name, name={"givenName": given, "familyName": family}, active=active,
                emails=[{"primary": True, "value": user_name, "type": "work"}])
    if external_id is None:
        body.pop("externalId")
    else:
        body["externalId"] = external_id
    return body


def okta_patch(scim: Scim, path: str, *operations) -> dict:
    response = scim.patch(path, body={"schemas": [PATCH_SCHEMA], "Operations": list(operations)})
    return body_of(response, 200)


# --------------------------------------------------------------------------- the replay


class Replay:
    """Replays the samples in order against one tenant, keeping the ids that steps create."""

    def __init__(self, client, scim: Scim, make_tenant):
        self.client = client
        self.scim = scim
        self.make_tenant = make_tenant
        self.ids: dict[str, str] = {}
        self.user: dict = {}
        self.group_name = ""
        # The doc's second user (89bb1940-...), which 15 removes from the group: never shown being created.
        self.other = scim.create_user("other.user@example.com", name={"givenName": "Other", "familyName": "User"},
                                     active=True)
        self.ids["other_user_id"] = self.other["id"]

    def substitute(self, text: str) -> str:
        for name, value in self.ids.items():
            text = text.replace("{" + name + "}", value)
        return text

    def send(self, sample: dict, scim: Scim | None = None):
        scim = scim or self.scim
        request = sample["request"]
        path = request.get("wire_path") or url(self.substitute(request["path"]))
        body = request.get("body")
        if body is not None:
            body = json.loads(self.substitute(json.dumps(body)))
            return scim.request(request["method"], path, body=body), body
        return scim.request(request["method"], path), None

    def user_now(self) -> dict:
        return body_of(self.scim.get(f"/Users/{self.ids['user_id']}"), 200)

    def group_now(self) -> dict:
        return body_of(self.scim.get(f"/Groups/{self.ids['group_id']}"), 200)

    # -- users

    def step_01(self, sample):
        response, _ = self.send(sample)
        page = body_of(response, sample["response"]["status"])
        expected = sample["response"]["body"]
        assert_list(page, expected["totalResults"], expected["startIndex"], expected["itemsPerPage"])
        assert page["Resources"] == expected["Resources"] == []

    def step_02(self, sample):
        response, sent = self.send(sample)
        created = body_of(response, sample["response"]["status"])
        self.ids["user_id"] = created["id"]
        self.user = {"userName": "test.user@okta.local", "externalId": "00ujl29u0le5T6Aj10h7", "active": True,
                     "name": {"givenName": "Test", "familyName": "User"}}
        assert_user(created, self.user)
        for key in ("emails", "displayName", "locale", "groups", "password"):
            assert key in sent and key not in created
        assert created["id"] != sample["response"]["body"]["id"]
        assert response.headers["Location"] == created["meta"]["location"]
        assert self.user_now() == created
        row = stored_user(created["id"])
        assert (row.user_name, row.given_name, row.family_name, row.external_id, row.active) == (
            "test.user@okta.local", "Test", "User", "00ujl29u0le5T6Aj10h7", True)
        assert "1mz050nq" not in json.dumps(row.extra)  # Okta's placeholder password is not stored
        # Okta's existence check now finds the user: the id Okta stores for later requests.
        page = body_of(self.scim.get(lookup_path("test.user@okta.local")), 200)
        assert_list(page, 1, 1, 1)
        assert page["Resources"][0]["id"] == created["id"]

    def step_03(self, sample):
        # Same userName as 02: a tenant where that user does not exist yet (see the sample's note).
        fresh = Scim(self.client, self.make_tenant(settings=ANY_USERNAME))
        response, sent = self.send(sample, fresh)
        created = body_of(response, sample["response"]["status"])
        assert "externalId" not in sent
        assert_user(created, {"userName": "test.user@okta.local", "active": True,
                              "name": {"givenName": "Test", "familyName": "User"}})
        assert "userType" not in created  # this gateway generates no attributes

    def step_04(self, sample):
        response, _ = self.send(sample)
        error = assert_scim_error(response, sample["response"]["status"], "uniqueness")
        assert error["schemas"] == sample["response"]["body"]["schemas"] == [ERROR_SCHEMA]
        assert "test.user@okta.local" in error["detail"]
        assert body_of(self.scim.get(lookup_path("test.user@okta.local")), 200)["totalResults"] == 1
        assert self.user_now()["meta"]["version"] == 'W/"1"'

    def step_05(self, sample):
        response, _ = self.send(sample)
        page = body_of(response, sample["response"]["status"])
        assert_list(page, 2, 1, 2)
        assert {r["id"] for r in page["Resources"]} == {self.ids["user_id"], self.ids["other_user_id"]}
        for resource in page["Resources"]:
            assert set(resource) <= USER_KEYS

    def step_06(self, sample):
        response, _ = self.send(sample)
        found = body_of(response, sample["response"]["status"])
        expected = json.loads(self.substitute(json.dumps(sample["response"]["body"])))
        assert found["id"] == expected["id"] == self.ids["user_id"]
        assert found["userName"] == expected["userName"]
        assert found["active"] is expected["active"] is True
        assert found["name"] == {k: v for k, v in expected["name"].items() if k != "middleName"}
        assert_user(found, self.user)
        assert response.headers["ETag"] == found["meta"]["version"]

    def step_07(self, sample):
        response, _ = self.send(sample)
        found = body_of(response, sample["response"]["status"])
        expected = json.loads(self.substitute(json.dumps(sample["response"]["body"])))
        assert (found["id"], found["userName"], found["active"]) == (expected["id"], expected["userName"], True)
        assert_user(found, self.user)

    def step_08(self, sample):
        before = self.user_now()
        response, sent = self.send(sample)
        replaced = body_of(response, sample["response"]["status"])
        expected = json.loads(self.substitute(json.dumps(sample["response"]["body"])))
        assert sent["id"] == self.ids["user_id"]
        # PUT replaces: the name Okta sends, no externalId (the body has none), active as sent.
        self.user = {"userName": "test.user@okta.local", "active": True,
                     "name": {"givenName": "Another", "familyName": "User"}}
        assert_user(replaced, self.user)
        assert replaced["id"] == expected["id"]
        assert replaced["name"] == {k: v for k, v in expected["name"].items() if k != "middleName"}
        assert replaced["meta"]["version"] != before["meta"]["version"]
        assert self.user_now() == replaced
        row = stored_user(self.ids["user_id"])
        assert (row.given_name, row.family_name, row.external_id, row.active) == ("Another", "User", None, True)
        assert "middleName" not in json.dumps(row.extra) and "Excited" not in json.dumps(row.extra)

    def step_09(self, sample):
        response, _ = self.send(sample)
        patched = body_of(response, sample["response"]["status"])
        assert sample["response"]["body"]["active"] is False
        self.user["active"] = False
        assert_user(patched, self.user)
        assert self.user_now() == patched
        row = stored_user(self.ids["user_id"])
        assert row.active is False and row.disabled_at is not None
        # A deactivated user is still found by Okta's lookup, with active false.
        page = body_of(self.scim.get(lookup_path("test.user@okta.local")), 200)
        assert [(r["id"], r["active"]) for r in page["Resources"]] == [(self.ids["user_id"], False)]

    # -- groups (Group Push)

    def step_10(self, sample):
        response, _ = self.send(sample)
        created = body_of(response, sample["response"]["status"])
        expected = sample["response"]["body"]
        self.ids["group_id"] = created["id"]
        self.group_name = expected["displayName"]
        assert created["id"] != expected["id"]
        assert_group(created, "Test SCIMv2", {})
        assert created["members"] == expected["members"] == []
        assert response.headers["Location"] == created["meta"]["location"]
        assert self.group_now() == created

    def step_11(self, sample):
        response, _ = self.send(sample)
        page = body_of(response, sample["response"]["status"])
        assert_list(page, 1, 1, 1)
        assert_group(page["Resources"][0], "Test SCIMv2", {})
        assert page["Resources"][0]["id"] == self.ids["group_id"]

    def step_12(self, sample):
        response, _ = self.send(sample)
        page = body_of(response, sample["response"]["status"])
        expected = sample["response"]["body"]
        assert_list(page, expected["totalResults"], expected["startIndex"], expected["itemsPerPage"])
        (found,) = page["Resources"]
        assert found["id"] == self.ids["group_id"]
        assert found["displayName"] == "Test SCIMv2"
        assert set(expected["Resources"][0]) <= set(found)  # id, meta, displayName
        # Before the push, the same query is the doc's empty answer.
        none = body_of(self.scim.get(url('/Groups?filter=displayName eq "Not pushed yet"&startIndex=1&count=100')),
                       200)
        assert_list(none, 0, 1, 0)
        assert none["Resources"] == []

    def step_13(self, sample):
        # The doc's group has one member: make it {other_user_id} (15 removes it).
        okta_patch(self.scim, f"/Groups/{self.ids['group_id']}",
                   {"op": "add", "path": "members", "value": [{"value": self.ids["other_user_id"]}]})
        response, _ = self.send(sample)
        found = body_of(response, sample["response"]["status"])
        expected = sample["response"]["body"]
        assert found["id"] == self.ids["group_id"]
        assert found["displayName"] == expected["displayName"]
        assert len(found["members"]) == len(expected["members"]) == 1
        assert_group(found, "Test SCIMv2", {self.ids["other_user_id"]: "other.user@example.com"})

    def step_14(self, sample):
        before = self.group_now()
        response, sent = self.send(sample)
        assert sent["Operations"][0]["value"]["id"] == self.ids["group_id"]
        patched = body_of(response, sample["response"]["status"])
        assert patched["id"] == self.ids["group_id"]
        assert_group(patched, "Test SCIMv2", {self.ids["other_user_id"]: "other.user@example.com"})
        assert patched["meta"]["version"] == before["meta"]["version"]  # same name: nothing changed
        assert self.group_now() == patched

    def step_15(self, sample):
        response, _ = self.send(sample)
        patched = body_of(response, sample["response"]["status"])
        assert_group(patched, "Test SCIMv2", {self.ids["user_id"]: "test.user@okta.local"})
        assert stored_members(self.ids["group_id"]) == {self.ids["user_id"]: "test.user@okta.local"}
        assert self.group_now() == patched
        # The removed member is still a user of the tenant, and still active.
        assert body_of(self.scim.get(f"/Users/{self.ids['other_user_id']}"), 200)["active"] is True

    def step_16(self, sample):
        response, _ = self.send(sample)
        replaced = body_of(response, sample["response"]["status"])
        expected = json.loads(self.substitute(json.dumps(sample["response"]["body"])))
        assert member_values(replaced) == member_values(expected) == {self.ids["user_id"]}
        assert_group(replaced, "Test SCIMv2", {self.ids["user_id"]: "test.user@okta.local"})
        assert self.group_now() == replaced

    def step_17(self, sample):
        response, _ = self.send(sample)
        patched = body_of(response, sample["response"]["status"])
        both = {self.ids["user_id"]: "test.user@okta.local", self.ids["other_user_id"]: "test.user@okta.local"}
        assert_group(patched, "Test SCIMv2", both)
        assert stored_members(self.ids["group_id"]) == both
        assert self.group_now() == patched

    def step_18(self, sample):
        response, _ = self.send(sample)
        body_of(response, sample["response"]["status"])
        assert_scim_error(self.scim.get(f"/Groups/{self.ids['group_id']}"), 404)
        assert stored_members(self.ids["group_id"]) == {}
        # The users stay (Okta never deletes users).
        assert body_of(self.scim.get("/Users?startIndex=1&count=100"), 200)["totalResults"] == 2


def test_every_sample_file_has_a_replay_step():
    files = sample_files()
    assert len(files) == 18
    for name in files:
        assert hasattr(Replay, f"step_{name[:2]}"), name
        sample = load(name)
        assert {"source", "title", "request", "response"} <= set(sample)
        assert sample["source"].startswith("https://developer.okta.com/")


def test_every_okta_sample_replays_in_order(client, make_tenant):
    scim = Scim(client, make_tenant(settings=ANY_USERNAME))
    replay = Replay(client, scim, make_tenant)
    for name in sample_files():
        getattr(replay, f"step_{name[:2]}")(load(name))


# --------------------------------------------------------------------------- users


def test_lookup_by_username_with_start_index_and_count(scim):
    wanted = body_of(scim.post("/Users", okta_create_body("jane.doe@example.com", external_id="00u1")), 201)
    scim.create_user("jane.doe2@example.com")
    scim.create_user("john.doe@example.com")
    page = body_of(scim.get(lookup_path("jane.doe@example.com")), 200)
    assert_list(page, 1, 1, 1)
    assert page["Resources"][0]["id"] == wanted["id"]
    assert_user(page["Resources"][0], {"userName": "jane.doe@example.com", "externalId": "00u1", "active": True,
                                       "name": {"givenName": "Test", "familyName": "User"}})
    # userName is caseExact false (RFC 7643): Okta's lookup matches whatever the case.
    page = body_of(scim.get(lookup_path("Jane.Doe@EXAMPLE.com")), 200)
    assert [r["id"] for r in page["Resources"]] == [wanted["id"]]
    empty = body_of(scim.get(lookup_path("nobody@example.com")), 200)
    assert_list(empty, 0, 1, 0)
    assert empty["Resources"] == []


def test_lookup_with_count_zero_returns_only_the_total(scim):
    scim.create_user("count.zero@example.com")
    page = body_of(scim.get(url('/Users?filter=userName eq "count.zero@example.com"&startIndex=1&count=0')), 200)
    assert page["totalResults"] == 1
    assert page.get("Resources", []) == []


def test_create_user_with_okta_body_keeps_only_the_kept_attributes(scim):
    body = okta_create_body("create.okta@example.com", "Create", "Okta", external_id="00uCREATE")
    created = body_of(scim.post("/Users", body), 201)
    expected = {"userName": "create.okta@example.com", "externalId": "00uCREATE", "active": True,
                "name": {"givenName": "Create", "familyName": "Okta"}}
    assert_user(created, expected)
    for key in ("password", "emails", "displayName", "locale", "groups"):
        assert key not in created
    assert body_of(scim.get(f"/Users/{created['id']}"), 200) == created
    row = stored_user(created["id"])
    assert (row.user_name, row.given_name, row.family_name, row.external_id, row.active) == (
        "create.okta@example.com", "Create", "Okta", "00uCREATE", True)
    assert row.extra == {}


def test_create_user_twice_is_409_uniqueness_and_one_user(scim):
    body = okta_create_body("twice@example.com")
    body_of(scim.post("/Users", body), 201)
    assert_scim_error(scim.post("/Users", {**body, "userName": "TWICE@example.com"}), 409, "uniqueness")
    assert body_of(scim.get("/Users?startIndex=1&count=100"), 200)["totalResults"] == 1


def test_put_with_the_whole_body_updates_the_user(scim):
    created = body_of(scim.post("/Users", okta_create_body("put.okta@example.com", external_id="00uPUT")), 201)
    current = body_of(scim.get(f"/Users/{created['id']}"), 200)
    # Okta: GET, change what changed, PUT the whole thing back (id and meta included).
    body = {**current, "name": {**current["name"], "givenName": "Renamed", "middleName": "Excited"},
            "emails": [{"primary": True, "value": "put.okta@example.com", "type": "work"}], "groups": []}
    replaced = body_of(scim.put(f"/Users/{created['id']}", body), 200)
    assert_user(replaced, {"userName": "put.okta@example.com", "externalId": "00uPUT", "active": True,
                           "name": {"givenName": "Renamed", "familyName": "User"}})
    assert replaced["meta"]["version"] != current["meta"]["version"]
    assert body_of(scim.get(f"/Users/{created['id']}"), 200) == replaced
    row = stored_user(created["id"])
    assert (row.given_name, row.family_name, row.external_id) == ("Renamed", "User", "00uPUT")


def test_put_changes_the_username_and_the_lookup_follows(scim):
    created = body_of(scim.post("/Users", okta_create_body("old.name@example.com")), 201)
    body = {**created, "userName": "new.name@example.com"}
    replaced = body_of(scim.put(f"/Users/{created['id']}", body), 200)
    assert replaced["userName"] == "new.name@example.com"
    assert body_of(scim.get(lookup_path("old.name@example.com")), 200)["totalResults"] == 0
    page = body_of(scim.get(lookup_path("new.name@example.com")), 200)
    assert [r["id"] for r in page["Resources"]] == [created["id"]]


def test_put_with_active_false_then_true_deactivates_and_reactivates(scim):
    """Apps made with Okta's App Integration Wizard send (de)activation by PUT."""
    created = body_of(scim.post("/Users", okta_create_body("put.active@example.com")), 201)
    off = body_of(scim.put(f"/Users/{created['id']}", {**created, "active": False}), 200)
    assert off["active"] is False
    assert stored_user(created["id"]).active is False
    assert stored_user(created["id"]).disabled_at is not None
    on = body_of(scim.put(f"/Users/{created['id']}", {**off, "active": True}), 200)
    assert on["active"] is True
    row = stored_user(created["id"])
    assert row.active is True and row.disabled_at is None


def test_put_with_another_users_username_is_409_and_nothing_changes(scim):
    scim.create_user("taken@example.com")
    created = body_of(scim.post("/Users", okta_create_body("mine@example.com")), 201)
    assert_scim_error(scim.put(f"/Users/{created['id']}", {**created, "userName": "Taken@example.com"}),
                      409, "uniqueness")
    assert body_of(scim.get(f"/Users/{created['id']}"), 200) == created


def test_deactivate_by_patch_without_path_and_reactivate(scim):
    created = body_of(scim.post("/Users", okta_create_body("patch.active@example.com", external_id="00uP")), 201)
    deactivate = load("09-deactivate-user-patch.json")["request"]["body"]
    off = body_of(scim.patch(f"/Users/{created['id']}", body=deactivate), 200)
    assert_user(off, {"userName": "patch.active@example.com", "externalId": "00uP", "active": False,
                      "name": {"givenName": "Test", "familyName": "User"}})
    assert off["meta"]["version"] != created["meta"]["version"]
    row = stored_user(created["id"])
    assert row.active is False and row.disabled_at is not None
    page = body_of(scim.get(lookup_path("patch.active@example.com")), 200)
    assert [(r["id"], r["active"]) for r in page["Resources"]] == [(created["id"], False)]

    # Okta sends the same shape with true to activate (the doc lists it; it prints only deactivation).
    on = okta_patch(scim, f"/Users/{created['id']}", {"op": "replace", "value": {"active": True}})
    assert_user(on, {"userName": "patch.active@example.com", "externalId": "00uP", "active": True,
                     "name": {"givenName": "Test", "familyName": "User"}})
    row = stored_user(created["id"])
    assert row.active is True and row.disabled_at is None
    assert body_of(scim.get(f"/Users/{created['id']}"), 200) == on


def test_deactivating_twice_is_harmless(scim):
    created = body_of(scim.post("/Users", okta_create_body("twice.off@example.com")), 201)
    deactivate = load("09-deactivate-user-patch.json")["request"]["body"]
    first = body_of(scim.patch(f"/Users/{created['id']}", body=deactivate), 200)
    second = body_of(scim.patch(f"/Users/{created['id']}", body=deactivate), 200)
    assert first["active"] is second["active"] is False
    assert second["meta"]["version"] == first["meta"]["version"]


def test_deactivated_user_keeps_its_group_memberships(scim):
    user = body_of(scim.post("/Users", okta_create_body("member.off@example.com")), 201)
    group = scim.create_group("Kept members", [user["id"]])
    okta_patch(scim, f"/Users/{user['id']}", {"op": "replace", "value": {"active": False}})
    assert member_values(body_of(scim.get(f"/Groups/{group['id']}"), 200)) == {user["id"]}


def test_patch_user_with_id_equal_to_its_own_id_is_accepted(scim):
    """Okta echoes the resource's own id in value objects; equal to the id, it changes nothing."""
    created = body_of(scim.post("/Users", okta_create_body("own.id@example.com")), 201)
    patched = okta_patch(scim, f"/Users/{created['id']}",
                         {"op": "replace", "value": {"id": created["id"], "active": False}})
    assert patched["id"] == created["id"] and patched["active"] is False


# --------------------------------------------------------------------------- Group Push


@pytest.fixture
def people(scim):
    return [body_of(scim.post("/Users", okta_create_body(f"person{i}@example.com", f"P{i}", "Person")), 201)
            for i in range(4)]


def push_group(scim: Scim, name: str) -> dict:
    body = {**load("10-create-group.json")["request"]["body"], "displayName": name}
    created = body_of(scim.post("/Groups", body), 201)
    assert_group(created, name, {})
    return created


def test_group_push_creates_an_empty_group(scim):
    created = push_group(scim, "Engineering")
    assert created["members"] == []
    with database.connection_context():
        assert Group.get_by_id(created["id"]).display_name == "Engineering"
    assert stored_members(created["id"]) == {}


def test_group_push_adds_members_with_path_members(scim, people):
    group = push_group(scim, "Adds")
    a, b = people[0], people[1]
    patched = okta_patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [
        {"value": a["id"], "display": a["userName"]}, {"value": b["id"], "display": b["userName"]}]})
    assert_group(patched, "Adds", {a["id"]: a["userName"], b["id"]: b["userName"]})
    assert stored_members(group["id"]) == {a["id"]: a["userName"], b["id"]: b["userName"]}
    assert body_of(scim.get(f"/Groups/{group['id']}"), 200) == patched


def test_group_push_removes_a_member_by_value_filter(scim, people):
    group = push_group(scim, "Removes")
    okta_patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                               "value": [{"value": p["id"]} for p in people[:3]]})
    gone = people[1]["id"]
    patched = okta_patch(scim, f"/Groups/{group['id']}", {"op": "remove", "path": f'members[value eq "{gone}"]'})
    assert member_values(patched) == {people[0]["id"], people[2]["id"]}
    assert set(stored_members(group["id"])) == {people[0]["id"], people[2]["id"]}
    user = body_of(scim.get(f"/Users/{gone}"), 200)
    assert user["active"] is True  # leaving a group does not disable by default


def test_group_push_remove_and_add_in_one_request(scim, people):
    """Okta's documented membership PATCH: one remove by filter, one add, one request."""
    group = push_group(scim, "Swap")
    old, new = people[0], people[1]
    okta_patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": old["id"]}]})
    patched = okta_patch(scim, f"/Groups/{group['id']}",
                         {"op": "remove", "path": f'members[value eq "{old["id"]}"]'},
                         {"op": "add", "path": "members", "value": [{"value": new["id"], "display": new["userName"]}]})
    assert_group(patched, "Swap", {new["id"]: new["userName"]})
    assert stored_members(group["id"]) == {new["id"]: new["userName"]}


def test_group_push_membership_request_is_atomic(scim, people):
    group = push_group(scim, "Atomic")
    member = people[0]
    okta_patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": member["id"]}]})
    before = body_of(scim.get(f"/Groups/{group['id']}"), 200)
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "remove", "path": f'members[value eq "{member["id"]}"]'},
        {"op": "add", "path": "members", "value": [{"value": "00000000-0000-4000-8000-000000000000"}]},
    ])
    assert_scim_error(response, 400, "invalidValue")
    assert body_of(scim.get(f"/Groups/{group['id']}"), 200) == before
    assert set(stored_members(group["id"])) == {member["id"]}


def test_group_push_removing_a_non_member_is_harmless(scim, people):
    group = push_group(scim, "Non member")
    okta_patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": people[0]["id"]}]})
    patched = okta_patch(scim, f"/Groups/{group['id']}",
                         {"op": "remove", "path": f'members[value eq "{people[1]["id"]}"]'})
    assert member_values(patched) == {people[0]["id"]}


def test_group_rename_with_own_id_in_the_value_is_accepted(scim, people):
    """Okta's documented rename: ``{"op": "replace", "value": {"id": <own id>, "displayName": ...}}``."""
    group = push_group(scim, "Before rename")
    okta_patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": people[0]["id"]}]})
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "replace", "value": {"id": group["id"], "displayName": "After rename"}}])
    patched = body_of(response, 200)
    assert_group(patched, "After rename", {people[0]["id"]: people[0]["userName"]})
    with database.connection_context():
        row = Group.get_by_id(group["id"])
        assert (row.display_name, row.display_name_key) == ("After rename", fold("After rename"))
    page = body_of(scim.get(url('/Groups?filter=displayName eq "After rename"&startIndex=1&count=100')), 200)
    assert [r["id"] for r in page["Resources"]] == [group["id"]]


def test_group_rename_with_unchanged_name_and_own_id_changes_nothing(scim):
    """Okta sends the rename with every membership update, usually with the same name."""
    group = push_group(scim, "Same name")
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "replace", "value": {"id": group["id"], "displayName": "Same name"}}])
    patched = body_of(response, 200)
    assert patched["displayName"] == "Same name"
    assert patched["meta"]["version"] == group["meta"]["version"]


def test_group_rename_with_another_id_in_the_value_is_400_mutability(scim):
    group = push_group(scim, "Keep my id")
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "replace", "value": {"id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", "displayName": "Hijack"}}])
    assert_scim_error(response, 400, "mutability")
    assert body_of(scim.get(f"/Groups/{group['id']}"), 200)["displayName"] == "Keep my id"


def test_group_rename_to_a_taken_name_is_409(scim):
    push_group(scim, "Taken group")
    group = push_group(scim, "Free group")
    response = scim.patch(f"/Groups/{group['id']}", [{"op": "replace", "value": {"displayName": "taken GROUP"}}])
    assert_scim_error(response, 409, "uniqueness")
    assert body_of(scim.get(f"/Groups/{group['id']}"), 200)["displayName"] == "Free group"


def test_group_full_push_replaces_all_members(scim, people):
    group = push_group(scim, "Full push")
    okta_patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                               "value": [{"value": p["id"]} for p in people[:3]]})
    patched = okta_patch(scim, f"/Groups/{group['id']}", {"op": "replace", "path": "members", "value": [
        {"value": people[2]["id"], "display": people[2]["userName"]},
        {"value": people[3]["id"], "display": people[3]["userName"]}]})
    assert member_values(patched) == {people[2]["id"], people[3]["id"]}
    assert set(stored_members(group["id"])) == {people[2]["id"], people[3]["id"]}


def test_group_put_from_aiw_apps_sets_name_and_members(scim, people):
    group = push_group(scim, "AIW group")
    body = {"schemas": [GROUP_SCHEMA], "displayName": "AIW group",
            "members": [{"value": people[0]["id"], "display": people[0]["userName"]}]}
    replaced = body_of(scim.put(f"/Groups/{group['id']}", body), 200)
    assert_group(replaced, "AIW group", {people[0]["id"]: people[0]["userName"]})
    assert set(stored_members(group["id"])) == {people[0]["id"]}


def test_unlink_and_delete_pushed_group_keeps_users(scim, people):
    group = push_group(scim, "Unlinked")
    okta_patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": people[0]["id"]}]})
    body_of(scim.delete(f"/Groups/{group['id']}"), 204)
    assert_scim_error(scim.get(f"/Groups/{group['id']}"), 404)
    assert body_of(scim.get(f"/Users/{people[0]['id']}"), 200)["active"] is True


# --------------------------------------------------------------------------- paging (Okta import)


def seed_users(slug: str, count: int) -> list[str]:
    """``count`` users inserted through the models; their ids in creation order."""
    with database.connection_context(), database.atomic():
        tenant = Tenant.get(Tenant.slug == slug)
        now = utcnow()
        rows = [{"id": new_id(), "tenant": tenant.id, "user_name": f"import{i:04d}@example.com",
                 "user_name_key": fold(f"import{i:04d}@example.com"), "active": True, "extra": {},
                 "created": now, "last_modified": now, "version": 1} for i in range(count)]
        for start in range(0, count, 500):
            User.insert_many(rows[start:start + 500]).execute()
    return [row["id"] for row in rows]


def test_okta_import_pages_through_users_with_start_index_and_count(scim, tenant):
    total = 250
    ids = seed_users(tenant.slug, total)
    seen: list[str] = []
    start = 1
    while True:
        page = body_of(scim.get(f"/Users?startIndex={start}&count=100"), 200)
        expected_items = min(100, total - (start - 1))
        assert_list(page, total, start, expected_items)
        for resource in page["Resources"]:
            assert set(resource) <= USER_KEYS
        seen += [r["id"] for r in page["Resources"]]
        if page["totalResults"] <= start - 1 + 100:
            break
        start += 100
    assert start == 201
    assert len(seen) == len(set(seen)) == total
    assert set(seen) == set(ids)
    # Same order whatever count is (Okta: "consistently return the same ordering").
    small_pages = []
    for start in range(1, total + 1, 30):
        small_pages += [r["id"] for r in body_of(scim.get(f"/Users?startIndex={start}&count=30"), 200)["Resources"]]
    assert small_pages == seen
    past_end = body_of(scim.get(f"/Users?startIndex={total + 1}&count=100"), 200)
    assert_list(past_end, total, total + 1, 0)


def test_okta_import_pages_through_groups(scim):
    created = [push_group(scim, f"Import group {i:03d}")["id"] for i in range(130)]
    first = body_of(scim.get("/Groups?startIndex=1&count=100"), 200)
    second = body_of(scim.get("/Groups?startIndex=101&count=100"), 200)
    assert_list(first, 130, 1, 100)
    assert_list(second, 130, 101, 30)
    ids = [r["id"] for r in first["Resources"] + second["Resources"]]
    assert len(set(ids)) == 130 and set(ids) == set(created)
    page = body_of(scim.get(url('/Groups?filter=displayName eq "Import group 042"&startIndex=1&count=100')), 200)
    assert_list(page, 1, 1, 1)


def test_start_index_below_one_is_treated_as_one(scim):
    scim.create_user("start.index@example.com")
    page = body_of(scim.get("/Users?startIndex=0&count=100"), 200)
    assert page["startIndex"] == 1 and page["totalResults"] == 1 and len(page["Resources"]) == 1


# --------------------------------------------------------------------------- on the wire


def test_okta_requests_with_application_json_are_accepted(scim):
    """Okta's SCIM client may send ``application/json`` (RFC 7644 §3.1 allows it)."""
    body = okta_create_body("json.type@example.com")
    created = body_of(scim.post("/Users", body, content_type="application/json; charset=utf-8"), 201)
    assert created["userName"] == "json.type@example.com"
    deactivate = load("09-deactivate-user-patch.json")["request"]["body"]
    response = scim.request("PATCH", f"/Users/{created['id']}", deactivate, content_type="application/json")
    assert body_of(response, 200)["active"] is False


def test_okta_flow_works_on_the_shared_url(client, tenant):
    shared = Scim(client, tenant, base="/scim/v2")
    created = body_of(shared.post("/Users", okta_create_body("shared.okta@example.com")), 201)
    page = body_of(shared.get(lookup_path("shared.okta@example.com")), 200)
    assert [r["id"] for r in page["Resources"]] == [created["id"]]
    off = okta_patch(shared, f"/Users/{created['id']}", {"op": "replace", "value": {"active": False}})
    assert off["active"] is False
