"""The uniqueness plugin's email check agrees with email-validator, shortcut included.

``plugins.uniqueness._check_email`` skips email-validator for a plain ASCII local part at
a domain it accepted before. That is sound only if, for plain local parts within the
length limits, email-validator's verdict depends on the domain alone: Hypothesis pairs
local parts (at and past the 64-character limit, dots in every position) with domains
(valid, reserved, numeric, over-long labels and names, bad hyphens and dots) and checks
both the premise and the check's answers, in order, against email-validator's.
"""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway import InvalidValueError
from plugins import uniqueness

from .scim_strategies import PROPERTY_SETTINGS

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
LONG_LOCAL_PARTS = st.integers(min_value=60, max_value=66).map(lambda size: "a" * size)
#: Dot-atoms: runs of atext joined by single dots (what the shortcut may take).
PLAIN_LOCAL_PARTS = st.one_of(
    st.lists(st.text(ATEXT, min_size=1, max_size=12), min_size=1, max_size=5).map(".".join),
    LONG_LOCAL_PARTS,
)
LOCAL_PARTS = st.one_of(st.text(ATEXT + ".", min_size=1, max_size=70), LONG_LOCAL_PARTS)
LABELS = st.one_of(
    st.text("abz09-", min_size=1, max_size=8),
    st.sampled_from(["com", "example", "localhost", "test", "invalid", "xn--bcher-kva", "123", "co", "a" * 63,
                     "a" * 64, "-a", "a-"]),
)
DOMAINS = st.one_of(
    st.lists(LABELS, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["example.com", "EXAMPLE.COM", "example.com.", ".example.com", "ex..ample.com",
                     ("a" * 63 + ".") * 3 + "a" * 60 + ".com", "localhost", "x.localhost", "1.2.3.4"]),
)


def accepted(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def check_accepts(address: str) -> bool:
    try:
        uniqueness._check_email("userName", address)
    except InvalidValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def _no_domains_remembered():
    uniqueness._ACCEPTED_DOMAINS.clear()
    yield
    uniqueness._ACCEPTED_DOMAINS.clear()


@settings(PROPERTY_SETTINGS, max_examples=400)
@given(first=PLAIN_LOCAL_PARTS, second=PLAIN_LOCAL_PARTS, domain=DOMAINS)
def test_a_plain_local_part_leaves_the_verdict_to_the_domain(first, second, domain):
    one, other = f"{first}@{domain}", f"{second}@{domain}"
    assume(uniqueness._known_plain(one) is not None and uniqueness._known_plain(other) is not None)  # lengths
    assert accepted(one) == accepted(other), (one, other)


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(addresses=st.lists(st.builds("{}@{}".format, LOCAL_PARTS, DOMAINS), min_size=1, max_size=6))
def test_the_check_answers_as_email_validator_does(addresses):
    uniqueness._ACCEPTED_DOMAINS.clear()
    for address in addresses:
        assert check_accepts(address) == accepted(address), address


def test_a_domain_is_remembered_only_once_accepted():
    assert check_accepts("first@example.com")
    assert uniqueness._ACCEPTED_DOMAINS == {"example.com"}
    assert not check_accepts("someone@localhost") and "localhost" not in uniqueness._ACCEPTED_DOMAINS
    assert not check_accepts("a..b@example.com")  # not plain: email-validator's answer
    longer = "a" * 65 + "@example.com"  # past RFC 5321's 64 characters: never shortcut
    assert uniqueness._known_plain(longer) is None and check_accepts(longer) == accepted(longer)
    assert check_accepts("josé@example.com")  # not plain, and valid: checked in full, not remembered twice
    assert uniqueness._ACCEPTED_DOMAINS == {"example.com"}


def test_the_remembered_domains_stay_bounded(monkeypatch):
    monkeypatch.setattr(uniqueness, "_ACCEPTED_DOMAINS_MAX", 3)
    for n in range(10):
        assert check_accepts(f"user@d{n}.example.com")
        assert len(uniqueness._ACCEPTED_DOMAINS) <= 3
