"""Identity edge cases, one test per row of the table in ``docs/identity.md``, through HTTP.

Equivalent spellings: the first create is 201, the second 409 ``uniqueness``, and a
``userName eq`` (``displayName eq``) filter finds the one resource under every spelling.
Distinct spellings: both 201. Refused names: 400 ``invalidValue`` and nothing stored, with
and without the uniqueness plugin's email rule (the refusal is the core's, not a plugin's).
"""

from __future__ import annotations

import pytest

from .conftest import ANY_USERNAME, Scim, assert_scim_error, body_of
from .snapshot import snapshot

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
STORES_EMAILS = {"plugins": {"attribute-mapping": {"options": {"user_attributes": ["emails"]}}}}


@pytest.fixture
def app(module_app):
    return module_app


@pytest.fixture
def emails_scim(client, make_tenant):
    """A tenant with the default policy: userName must be an email address."""
    return Scim(client, make_tenant())


@pytest.fixture
def names_scim(client, make_tenant):
    """A tenant whose userNames need not be email addresses."""
    return Scim(client, make_tenant(settings=ANY_USERNAME))


def _user(user_name: str, **attributes) -> dict:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}


def _filter(scim: Scim, endpoint: str, attribute: str, value: str) -> list[str]:
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    page = body_of(scim.get(f"/{endpoint}", query_string={"filter": f'{attribute} eq "{quoted}"'}), 200)
    return [resource["id"] for resource in page["Resources"]]


def _assert_same(scim: Scim, endpoint: str, attribute: str, spellings: list[str], extra: dict) -> None:
    schema = USER_SCHEMA if endpoint == "Users" else GROUP_SCHEMA
    created = body_of(scim.post(f"/{endpoint}", {"schemas": [schema], attribute: spellings[0], **extra}), 201)
    assert created[attribute] == spellings[0]  # stored as sent
    for spelling in spellings[1:]:
        before = snapshot(scim)
        assert_scim_error(scim.post(f"/{endpoint}", {"schemas": [schema], attribute: spelling, **extra}),
                          409, "uniqueness")
        assert snapshot(scim) == before
    for spelling in spellings:
        assert _filter(scim, endpoint, attribute, spelling) == [created["id"]], spelling


# --- the same user ---------------------------------------------------------------------------


@pytest.mark.parametrize("spellings", [
    pytest.param(["jos\u00e9@example.com", "jose\u0301@example.com", "JOSE\u0301@example.com"],
                 id="composed-decomposed"),
    pytest.param(["stra\u00dfe@example.de", "STRASSE@example.de", "strasse@example.de", "STRA\u1e9eE@EXAMPLE.DE"],
                 id="sharp-s"),
    pytest.param(["\u0130lker@example.com", "i\u0307lker@example.com", "I\u0307LKER@example.com"],
                 id="dotted-capital-i"),
    pytest.param(["Ann.Lee@Example.COM", "ann.lee@example.com"], id="ascii-case"),
])
def test_equivalent_spellings_are_one_user(emails_scim, spellings):
    _assert_same(emails_scim, "Users", "userName", spellings, {})


def test_surrounding_spaces_are_ignored_when_comparing_and_kept_as_sent(names_scim):
    _assert_same(names_scim, "Users", "userName", [" bob ", "bob", "BOB  "], {})


def test_group_names_fold_the_same_way(emails_scim):
    _assert_same(emails_scim, "Groups", "displayName", ["Stra\u00dfe", "STRASSE", "Strasse "], {})


# --- different users -------------------------------------------------------------------------


@pytest.mark.parametrize("first, second", [
    pytest.param("kad\u0131n@example.com", "kadin@example.com", id="dotless-i"),
    pytest.param("\u0130lker@example.com", "ilker@example.com", id="dotted-capital-i-vs-i"),
    pytest.param("bob@b\u00fccher.de", "bob@xn--bcher-kva.de", id="idn-u-label-vs-a-label"),
])
def test_these_spellings_are_different_users(emails_scim, first, second):
    one = body_of(emails_scim.post("/Users", _user(first)), 201)
    two = body_of(emails_scim.post("/Users", _user(second)), 201)
    assert _filter(emails_scim, "Users", "userName", first) == [one["id"]]
    assert _filter(emails_scim, "Users", "userName", second) == [two["id"]]


# --- refused userNames -----------------------------------------------------------------------


REFUSED = [
    pytest.param("bo\u200bb@example.com", "U+200B ZERO WIDTH SPACE", id="zwsp"),
    pytest.param("bo\u200db@example.com", "U+200D ZERO WIDTH JOINER", id="zwj"),
    pytest.param("bo\u200cb@example.com", "U+200C ZERO WIDTH NON-JOINER", id="zwnj"),
    pytest.param("\ufeffbob@example.com", "U+FEFF ZERO WIDTH NO-BREAK SPACE", id="bom"),
    pytest.param("bo\u00adb@example.com", "U+00AD SOFT HYPHEN", id="soft-hyphen"),
    pytest.param("\u202emoc.elpmaxe@bob", "U+202E RIGHT-TO-LEFT OVERRIDE", id="bidi-override"),
    pytest.param("bob\t@example.com", "U+0009", id="tab"),
    pytest.param("bob\u2028@example.com", "U+2028 LINE SEPARATOR", id="line-separator"),
    pytest.param("bob\ud800@example.com", "surrogate", id="lone-surrogate"),
    pytest.param("\uff42\uff4f\uff42@example.com", "U+FF42 FULLWIDTH LATIN SMALL LETTER B", id="full-width-local"),
    pytest.param("bob@\uff45xample.com", "U+FF45 FULLWIDTH LATIN SMALL LETTER E", id="full-width-domain"),
    pytest.param("\ufb01@example.com", "U+FB01 LATIN SMALL LIGATURE FI", id="ligature"),
    pytest.param("bob\u00a0lee@example.com", "U+00A0 NO-BREAK SPACE", id="no-break-space"),
    pytest.param("\u0301bob@example.com", "combining mark", id="leading-combining-mark"),
    pytest.param("   ", "empty", id="blank"),
]


@pytest.mark.parametrize("policy", ["emails", "names"])
@pytest.mark.parametrize("user_name, reason", REFUSED)
def test_refused_user_names_are_400_and_store_nothing(emails_scim, names_scim, policy, user_name, reason):
    scim = emails_scim if policy == "emails" else names_scim
    before = snapshot(scim)
    body = assert_scim_error(scim.post("/Users", _user(user_name)), 400, "invalidValue")
    if policy == "names":  # the core's own message (with the email rule the plugin may not get to speak)
        assert reason in body["detail"], body["detail"]
    assert snapshot(scim) == before


def test_a_refused_name_is_refused_by_put_and_patch_too(names_scim):
    user = names_scim.create_user("bob")
    before = snapshot(names_scim)
    assert_scim_error(names_scim.put(f"/Users/{user['id']}", _user("bo\u200bb")), 400, "invalidValue")
    assert_scim_error(names_scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "userName",
                                                                  "value": "bo\u200bb"}]), 400, "invalidValue")
    assert snapshot(names_scim) == before


# --- group displayName: a free-form name -------------------------------------------------------


@pytest.mark.parametrize("name", [
    "Team \U0001f468\u200d\U0001f4bb",  # emoji sequence with a zero-width joiner
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with a zero-width non-joiner
    "R&D \u2460",  # compatibility characters are fine in a label
])
def test_group_names_may_hold_joiners_and_compatibility_characters(emails_scim, name):
    assert body_of(emails_scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name}), 201)[
        "displayName"] == name


@pytest.mark.parametrize("name", ["Sales\u200b", "Sales\n", "\u202eselaS", "Sales\ud800", "  "])
def test_group_names_refuse_invisible_and_control_characters(emails_scim, name):
    before = snapshot(emails_scim)
    assert_scim_error(emails_scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name}),
                      400, "invalidValue")
    assert snapshot(emails_scim) == before


# --- email addresses: email-validator, no DNS --------------------------------------------------


@pytest.mark.parametrize("address", [
    "jos\u00e9@example.com",  # internationalized local part (SMTPUTF8)
    "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a",  # Unicode local part and IDN domain
    "bob@xn--bcher-kva.de",  # IDN domain as an A-label
    "o'brien+tag@example.com",
])
def test_internationalized_addresses_are_valid_user_names(emails_scim, address):
    assert body_of(emails_scim.post("/Users", _user(address)), 201)["userName"] == address


@pytest.mark.parametrize("address", [
    "not-an-email", "bob@localhost", "bob@example.test", "bob@@example.com", "bob@example..com",
    " bob@example.com",  # the email rule refuses surrounding spaces in addresses
    "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com",  # 255 characters: past RFC 5321's 254
])
def test_invalid_addresses_are_400(emails_scim, address):
    before = snapshot(emails_scim)
    body = assert_scim_error(emails_scim.post("/Users", _user(address)), 400, "invalidValue")
    assert "email address" in body["detail"]
    assert snapshot(emails_scim) == before


def test_emails_values_are_validated_when_the_tenant_stores_them(client, make_tenant):
    scim = Scim(client, make_tenant(settings=STORES_EMAILS))
    before = snapshot(scim)
    bad = _user("ann@example.com", emails=[{"value": "ann at example.com", "type": "work"}])
    body = assert_scim_error(scim.post("/Users", bad), 400, "invalidValue")
    assert "emails.value" in body["detail"]
    assert snapshot(scim) == before
    user = body_of(scim.post("/Users", _user("ann@example.com", emails=[{"value": "ann@b\u00fccher.de"}])), 201)
    add = {"op": "add", "path": "emails", "value": [{"value": "nope@", "type": "home"}]}
    before = snapshot(scim)
    assert_scim_error(scim.patch(f"/Users/{user['id']}", [add]), 400, "invalidValue")
    assert snapshot(scim) == before


def test_emails_check_can_be_turned_off(client, make_tenant):
    settings = {"plugins": {**STORES_EMAILS["plugins"], "uniqueness": {"options": {"check_emails": False}}}}
    scim = Scim(client, make_tenant(settings=settings))
    created = body_of(scim.post("/Users", _user("ann@example.com", emails=[{"value": "ann at example.com"}])), 201)
    assert created["emails"] == [{"value": "ann at example.com"}]
