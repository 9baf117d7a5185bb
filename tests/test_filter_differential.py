"""The same SCIM filters on SQLite and on PostgreSQL give the same resources, and the right ones.

Issue 3, "What must show": for each operator and path form, one filter run on SQLite and
on PostgreSQL (the local server, a fresh database made by :mod:`tests.postgres`) must
return the same resources. Ids are random per database, so results are compared by a
stable key (the seed's name for each user and group). Both results must also equal what
a small Python evaluator (:func:`_holds`, over the seed as each database stored it)
computes, so a bug both databases share still fails; some cases also carry a
hand-written expectation, which checks the evaluator (and the parser's precedence) in turn.

How it runs: :mod:`tenants.db` has one module-level ``DatabaseProxy``, so only one app can
be bound at a time. Each backend fixture (module scope) therefore builds its app, seeds
the same two tenants with the same data through SCIM over the Flask test client, runs
*every* request of this module and keeps the answers; the tests then only compare
answers. The main tenant keeps the default attribute mapping (dedicated columns, group
members in their own table); the "wide" tenant also keeps displayName, title, emails and
the enterprise department, which live in the ``extra`` JSON column (``json_extract`` on
SQLite, ``jsonb`` on PostgreSQL). A third database, PostgreSQL whose default collation is
linguistic (ICU ``en-US``, standing in for the ``en_US.UTF-8`` most installations are
initialised with), runs the string-ordering filters: their answer must not depend on how
the operator created the database.

Semantics the evaluator encodes (RFC 7644 §3.4.2.2, RFC 7643 §2.5, and the gateway's own
choices in :mod:`gateway.scim.filter_sql` and :mod:`gateway.scim.filter_eval`):

* a comparison with an unassigned attribute (NULL, or a multi-valued attribute without
  any value, RFC 7643 §2.5) is false, except ``ne`` with a non-null value (true, as the
  compiler already does for strings) and ``eq null`` (true); ``not`` is plain boolean
  negation (two-valued logic: SQL's NULL must not leak through);
* userName and displayName compare by :func:`tenants.keys.fold` (NFC + casefold);
  externalId, id and members.value case-exactly; every other string (name.*,
  members.display, the JSON-kept attributes, all caseExact false) through ``str.lower``
  (full Unicode); dateTimes as instants; string ordering by code point;
* a multi-valued attribute matches when one of its values does; a value path
  ``members[...]`` / ``emails[...]`` when one *single* value satisfies the whole inner
  filter (RFC 7644 §3.4.2.2, "valuePath");
* ``name pr`` (a complex attribute) is true when one of its sub-attributes has a value
  (RFC 7644 §3.4.2.2, ``pr``: "a non-empty node for complex attributes");
* an attribute the tenant does not store (nickName, title or emails on the main tenant,
  phoneNumbers, enterprise employeeNumber) is an expression that is false whatever the
  operator, including ``ne`` and ``pr``, so it can never widen a result; ``not`` of it is
  true.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field

import pytest

from gateway.app import create_app
from gateway.scim import filters as ast
from gateway.scim.filters import parse_filter
from tenants import services
from tenants.clock import isoformat, utcnow
from tenants.db import database
from tenants.keys import fold

from .postgres import fresh_postgres_url

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# The main tenant keeps the default mapping (userName, name, externalId, active; Groups with
# members); its userNames are not all email addresses (%, \ and _ in them).
SLUG = "filter-diff"
SETTINGS = {"plugins": {"uniqueness": {"options": {"require_email": False}}}}
# A second tenant in the same database also keeps attributes in the ``extra`` JSON column.
WIDE_SLUG = "filter-diff-wide"
WIDE_SETTINGS = {"plugins": {"attribute-mapping": {"options": {"user_attributes": [
    "displayName", "title", "emails", f"{ENTERPRISE}:department"]}}}}
ICU_DATABASE = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"

# --------------------------------------------------------------------------- the seed


@dataclass(frozen=True)
class SeedUser:
    key: str
    user_name: str
    given: str | None = None
    family: str | None = None
    external_id: str | None = None
    active: bool | None = None  # None: never sent (absent)
    batch: int = 1
    family_before_patch: str | None = None  # created with this familyName, PATCHed to ``family`` in batch 2


@dataclass(frozen=True)
class SeedGroup:
    key: str
    display_name: str
    external_id: str | None = None
    members: tuple[tuple[str, str | None], ...] = ()  # (user key, display sent or None)
    batch: int = 1
    added_in_batch_2: tuple[str, ...] = ()  # member user keys PATCHed in during batch 2


USERS = (
    SeedUser("alice", "Alice@Example.com", "Alice", "Smith", "EXT-001", True, family_before_patch="Smyth"),
    SeedUser("alice2", "alice.jones@example.com", "alice", "Jones", "ext-001", False),
    SeedUser("bob", "BOB@example.org", "Bob"),
    SeedUser("elodie", "\u00c9lodie@example.fr", "\u00c9lodie", "\u00c9clair", "EXT-\u00c9", True),
    SeedUser("strasse", "stra\u00dfe@example.de", "J\u00fcrgen", "Stra\u00dfe", "ext-\u00df"),
    SeedUser("percent", "percent%user@example.com", "100%", "O_Neil", "a%b", True),
    SeedUser("under", "under_score@example.com", "Under_Score", None, "a_b", False, batch=2),
    SeedUser("back", "back\\slash@example.com", "Back\\Slash", "Path\\Name", "a\\b", True, batch=2),
    SeedUser("carol", "carol@example.com", batch=2),
    SeedUser("dave", "dave@example.com", "Dave", "Smith", "EXT-010", True, batch=2),
    SeedUser("emile", "\u00c9MILE@EXAMPLE.FR", "\u00c9MILE", "Zola", "axb", False, batch=2),
    SeedUser("xavier", "xavier@example.com", "Xavier", "dupont", "a1b", batch=2),
)
GROUPS = (
    SeedGroup("eng", "Engineering", "grp-eng", (("alice", None), ("bob", None), ("elodie", "Team Lead")),
              added_in_batch_2=("carol",)),
    SeedGroup("empty", "Empty Group"),
    SeedGroup("team", "Stra\u00dfe Team", "grp-\u00df", (("strasse", "J\u00fcrgen S."), ("elodie", None))),
    SeedGroup("sales", "Sales", "GRP-sales", (("dave", None),), batch=2),
    SeedGroup("odd", "100% _Under\\Score", "g%_\\", (("under", None), ("back", None), ("percent", None)), batch=2),
    SeedGroup("ops", "ops", None, (("alice2", None), ("alice", "Alice in Ops")), batch=2),
)
# Users of the wide tenant: key -> (userName, the other SCIM attributes sent and stored).
WIDE_USERS = {
    "wann": ("ann@wide.example", {
        "displayName": "Ann \u00c4rger", "title": "CTO",
        "emails": [{"value": "Ann@Work.example", "type": "work", "primary": True},
                   {"value": "ann@home.example", "type": "home"}],
        ENTERPRISE: {"department": "R&D"}}),
    "wbob": ("bob@wide.example", {
        "displayName": "bob b",
        "emails": [{"value": "bob@home.example", "type": "home", "primary": True},
                   {"value": "bob_1%@work.example", "type": "other"}],
        ENTERPRISE: {"department": "Sales"}}),
    "wcyd": ("cyd@wide.example", {}),
    "wdee": ("dee@wide.example", {
        "displayName": "\u00c9lise Dee", "title": "Ing\u00e9nieure",
        "emails": [{"value": "dee@work.example", "type": "Work"}],
        ENTERPRISE: {"department": "sales"}}),
}
USER_KEYS = frozenset(u.key for u in USERS)
GROUP_KEYS = frozenset(g.key for g in GROUPS)
WIDE_KEYS = frozenset(WIDE_USERS)


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One filter on one endpoint; ``expect`` (optional) is written by hand, independent of the evaluator."""

    endpoint: str
    name: str
    filter: str
    expect: frozenset[str] | None = None

    @property
    def id(self) -> str:
        return f"{self.endpoint}-{self.name}"


def U(name: str, text: str, expect=None) -> Case:
    return Case("Users", name, text, frozenset(expect) if expect is not None else None)


def G(name: str, text: str, expect=None) -> Case:
    return Case("Groups", name, text, frozenset(expect) if expect is not None else None)


def W(name: str, text: str, expect=None) -> Case:
    """A case on /Users of the wide tenant (attributes kept in JSON)."""
    return Case("WideUsers", name, text, frozenset(expect) if expect is not None else None)


ALL_BUT = lambda *keys: USER_KEYS - set(keys)  # noqa: E731
BATCH_1 = {u.key for u in USERS if u.batch == 1}
BATCH_2 = {u.key for u in USERS if u.batch == 2}

USER_CASES = [
    # userName: folded (NFC + casefold), caseExact false
    U("userName-eq-as-sent", 'userName eq "Alice@Example.com"', {"alice"}),
    U("userName-eq-other-case", 'userName eq "ALICE@EXAMPLE.COM"', {"alice"}),
    U("userName-eq-sharp-s-casefold", 'userName eq "STRASSE@EXAMPLE.DE"', {"strasse"}),
    U("userName-eq-decomposed-E-acute", r'userName eq "E\u0301lodie@example.fr"', {"elodie"}),
    U("userName-eq-upper-E-acute", 'userName eq "\u00c9LODIE@EXAMPLE.FR"', {"elodie"}),
    U("userName-eq-null", "userName eq null", set()),
    U("userName-ne", 'userName ne "alice@example.com"', ALL_BUT("alice")),
    U("userName-co", 'userName co "EXAMPLE.COM"'),
    U("userName-co-percent", 'userName co "%"', {"percent"}),
    U("userName-co-underscore", 'userName co "_"', {"under"}),
    U("userName-co-backslash", r'userName co "\\"', {"back"}),
    U("userName-sw", 'userName sw "ALICE"', {"alice", "alice2"}),
    U("userName-sw-underscore", 'userName sw "under_"', {"under"}),
    U("userName-sw-percent", 'userName sw "percent%u"', {"percent"}),
    U("userName-sw-sharp-s", 'userName sw "STRASS"', {"strasse"}),
    U("userName-ew", 'userName ew "@EXAMPLE.FR"', {"elodie", "emile"}),
    U("userName-ew-backslash", r'userName ew "\\slash@example.com"', {"back"}),
    U("userName-gt", 'userName gt "carol@example.com"'),
    U("userName-ge", 'userName ge "CAROL@example.com"'),
    U("userName-lt", 'userName lt "bob@example.org"', {"alice", "alice2", "back"}),
    U("userName-le", 'userName le "BOB@example.org"', {"alice", "alice2", "back", "bob"}),
    U("userName-gt-non-ascii", 'userName gt "z"', {"elodie", "emile"}),
    U("userName-lt-underscore", 'userName lt "under_score@example.com"'),
    U("userName-pr", "userName pr", USER_KEYS),
    # externalId: caseExact
    U("externalId-eq", 'externalId eq "EXT-001"', {"alice"}),
    U("externalId-eq-case-exact", 'externalId eq "ext-001"', {"alice2"}),
    U("externalId-eq-non-ascii", 'externalId eq "EXT-\u00c9"', {"elodie"}),
    U("externalId-eq-null", "externalId eq null", {"bob", "carol"}),
    U("externalId-ne", 'externalId ne "EXT-001"', ALL_BUT("alice")),
    U("externalId-ne-null", "externalId ne null", ALL_BUT("bob", "carol")),
    U("externalId-co-case-exact", 'externalId co "EXT"', {"alice", "elodie", "dave"}),
    U("externalId-co-lower", 'externalId co "ext"', {"alice2", "strasse"}),
    U("externalId-co-percent", 'externalId co "%"', {"percent"}),
    U("externalId-co-underscore", 'externalId co "_"', {"under"}),
    U("externalId-co-backslash", r'externalId co "\\"', {"back"}),
    U("externalId-sw-underscore", 'externalId sw "a_"', {"under"}),
    U("externalId-sw-percent", 'externalId sw "a%"', {"percent"}),
    U("externalId-sw-backslash", r'externalId sw "a\\"', {"back"}),
    U("externalId-ew", 'externalId ew "b"', {"percent", "under", "back", "emile", "xavier"}),
    U("externalId-ew-case-exact", 'externalId ew "001"', {"alice", "alice2"}),
    U("externalId-gt", 'externalId gt "a%b"'),
    U("externalId-ge", 'externalId ge "a_b"'),
    U("externalId-lt-case-exact", 'externalId lt "a"', {"alice", "elodie", "dave"}),
    U("externalId-le", 'externalId le "EXT-\u00c9"'),
    U("externalId-pr", "externalId pr", ALL_BUT("bob", "carol")),
    # name.givenName / name.familyName: case-insensitive text
    U("givenName-eq", 'name.givenName eq "ALICE"', {"alice", "alice2"}),
    U("givenName-eq-E-acute-lower", 'name.givenName eq "\u00e9lodie"', {"elodie"}),
    U("givenName-eq-E-acute-upper", 'name.givenName eq "\u00c9mile"', {"emile"}),
    U("givenName-eq-null", "name.givenName eq null", {"carol"}),
    U("givenName-ne", 'name.givenName ne "alice"', ALL_BUT("alice", "alice2")),
    U("givenName-co", 'name.givenName co "LI"', {"alice", "alice2"}),
    U("givenName-co-percent", 'name.givenName co "%"', {"percent"}),
    U("givenName-co-underscore", 'name.givenName co "_"', {"under"}),
    U("givenName-co-backslash", r'name.givenName co "\\"', {"back"}),
    U("givenName-sw-E-acute", 'name.givenName sw "\u00e9"', {"elodie", "emile"}),
    U("givenName-sw", 'name.givenName sw "j"', {"strasse"}),
    U("givenName-ew", 'name.givenName ew "E"'),
    U("givenName-gt", 'name.givenName gt "d"'),
    U("givenName-ge", 'name.givenName ge "Dave"'),
    U("givenName-lt", 'name.givenName lt "B"', {"percent", "alice", "alice2"}),
    U("givenName-le", 'name.givenName le "bob"'),
    U("givenName-pr", "name.givenName pr", ALL_BUT("carol")),
    U("familyName-eq", 'name.familyName eq "SMITH"', {"alice", "dave"}),
    U("familyName-eq-sharp-s", 'name.familyName eq "STRA\u00dfE"', {"strasse"}),
    U("familyName-eq-E-acute", 'name.familyName eq "\u00e9clair"', {"elodie"}),
    U("familyName-ne", 'name.familyName ne "smith"', ALL_BUT("alice", "dave")),
    U("familyName-co-underscore", 'name.familyName co "_"', {"percent"}),
    U("familyName-co-backslash", r'name.familyName co "\\"', {"back"}),
    U("familyName-sw", 'name.familyName sw "o_"', {"percent"}),
    U("familyName-ew", 'name.familyName ew "ITH"', {"alice", "dave"}),
    U("familyName-gt", 'name.familyName gt "o"'),
    U("familyName-ge-E-acute", 'name.familyName ge "\u00e9"', {"elodie"}),
    U("familyName-lt", 'name.familyName lt "f"', {"xavier"}),
    U("familyName-le", 'name.familyName le "Jones"'),
    U("familyName-pr", "name.familyName pr", ALL_BUT("bob", "under", "carol")),
    U("name-pr-complex", "name pr", ALL_BUT("carol")),
    # active: boolean, absent on some users
    U("active-eq-true", "active eq true", {"alice", "elodie", "percent", "back", "dave"}),
    U("active-eq-false", "active eq false", {"alice2", "under", "emile"}),
    U("active-EQ-TRUE-any-case", "ACTIVE EQ TRUE", {"alice", "elodie", "percent", "back", "dave"}),
    U("active-ne-true", "active ne true", {"alice2", "under", "emile", "bob", "strasse", "carol", "xavier"}),
    U("active-ne-false", "active ne false",
      {"alice", "elodie", "percent", "back", "dave", "bob", "strasse", "carol", "xavier"}),
    U("active-eq-null", "active eq null", {"bob", "strasse", "carol", "xavier"}),
    U("active-pr", "active pr", {"alice", "elodie", "percent", "back", "dave", "alice2", "under", "emile"}),
    U("active-not-eq-true", "not (active eq true)", {"alice2", "under", "emile", "bob", "strasse", "carol", "xavier"}),
    # meta.created / meta.lastModified: dateTime; {T} lies between the two seed batches
    U("created-gt", 'meta.created gt "{T}"', BATCH_2),
    U("created-ge", 'meta.created ge "{T}"', BATCH_2),
    U("created-lt", 'meta.created lt "{T}"', BATCH_1),
    U("created-le", 'meta.created le "{T}"', BATCH_1),
    U("created-lt-offset", 'meta.created lt "{T+02:00}"', BATCH_1),
    U("created-gt-offset", 'meta.created gt "{T+02:00}"', BATCH_2),
    U("created-eq", 'meta.created eq "{created:carol}"', {"carol"}),
    U("created-ne", 'meta.created ne "{created:carol}"', ALL_BUT("carol")),
    U("created-ge-exact", 'meta.created ge "{created:carol}"', {"carol", "dave", "emile", "xavier"}),
    U("created-le-exact", 'meta.created le "{created:carol}"', BATCH_1 | {"under", "back", "carol"}),
    U("created-pr", "meta.created pr", USER_KEYS),
    U("lastModified-gt", 'meta.lastModified gt "{T}"', BATCH_2 | {"alice"}),
    U("lastModified-le", 'meta.lastModified le "{T}"', BATCH_1 - {"alice"}),
    U("lastModified-eq", 'meta.lastModified eq "{lastModified:alice}"', {"alice"}),
    U("created-lt-and-lastModified-gt", 'meta.created lt "{T}" and meta.lastModified gt "{T}"', {"alice"}),
    # id: case-exact, random per database
    U("id-eq", 'id eq "{id:bob}"', {"bob"}),
    U("id-eq-upper-case", 'id eq "{ID:bob}"', set()),
    U("id-ne", 'id ne "{id:bob}"', ALL_BUT("bob")),
    U("id-sw", 'id sw "{idprefix:bob}"'),
    U("id-ew", 'id ew "{idsuffix:bob}"'),
    U("id-co", 'id co "-4"', USER_KEYS),
    U("id-gt", 'id gt "8"'),
    U("id-ge", 'id ge "{id:bob}"'),
    U("id-lt", 'id lt "8"'),
    U("id-le", 'id le "{id:bob}"'),
    U("id-pr", "id pr", USER_KEYS),
    # schema-URN-qualified paths
    U("urn-userName", f'{USER_SCHEMA}:userName eq "bob@example.org"', {"bob"}),
    U("urn-any-case", f'{USER_SCHEMA.upper()}:USERNAME EQ "bob@example.org"', {"bob"}),
    U("urn-sub-attribute", f'{USER_SCHEMA}:name.familyName eq "smith"', {"alice", "dave"}),
    U("urn-other-schema", f'{GROUP_SCHEMA}:userName eq "bob@example.org"', set()),
    U("urn-enterprise-unstored",
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"', set()),
    # and / or / not, parentheses, precedence (hand-written expectations)
    U("precedence-and-binds-tighter",
      'userName sw "a" or userName sw "b" and active eq true', {"alice", "alice2", "back"}),
    U("parentheses-override",
      '(userName sw "a" or userName sw "b") and active eq true', {"alice", "back"}),
    U("precedence-and-first",
      'active eq true and userName sw "a" or userName sw "b"', {"alice", "bob", "back"}),
    U("parentheses-right", 'active eq true and (userName sw "a" or userName sw "b")', {"alice", "back"}),
    U("or-chain", 'userName eq "bob@example.org" or userName eq "carol@example.com" or userName eq "dave@example.com"',
      {"bob", "carol", "dave"}),
    U("keywords-any-case", 'userName Eq "bob@example.org" OR userName eq "carol@example.com"', {"bob", "carol"}),
    U("and-two-columns", 'name.givenName eq "alice" and name.familyName eq "jones"', {"alice2"}),
    U("not-and", 'not (userName sw "a") and active eq false', {"under", "emile"}),
    U("not-no-space", 'not(userName sw "a")', ALL_BUT("alice", "alice2")),
    U("not-or", 'not (userName sw "a" or active eq true)', {"bob", "strasse", "under", "carol", "emile", "xavier"}),
    U("not-not", "not (not (active eq false))", {"alice2", "under", "emile"}),
    U("not-text-with-absent", 'not (name.givenName eq "alice")', ALL_BUT("alice", "alice2")),
    U("not-externalId-with-absent", 'not (externalId eq "EXT-001")', ALL_BUT("alice")),
    U("not-familyName-sw", 'not (name.familyName sw "s")', ALL_BUT("alice", "dave", "strasse")),
    U("not-ne", 'not (name.familyName ne "smith")', {"alice", "dave"}),
    # attributes this tenant does not store: false, never an error, never widening
    U("unknown-eq", 'nickName eq "x"', set()),
    U("unknown-ne", 'nickName ne "x"', set()),
    U("unknown-pr", "nickName pr", set()),
    U("unknown-gt", 'nickName gt "a"', set()),
    U("unknown-sub-attribute", 'emails.value co "@"', set()),
    U("unknown-in-or", 'userName eq "bob@example.org" or nickName eq "x"', {"bob"}),
    U("unknown-ne-in-and", 'userName eq "bob@example.org" and nickName ne "x"', set()),
    U("unknown-in-and", 'title eq "x" and userName pr', set()),
    U("unknown-in-not-and", 'userName sw "a" and not (nickName pr)', {"alice", "alice2"}),
    U("unknown-in-not", 'not (nickName eq "x")', USER_KEYS),
    U("valuePath-unstored", 'emails[type eq "work"]', set()),
    U("valuePath-unstored-and", 'emails[type eq "work" and value co "@example.com"]', set()),
    U("valuePath-unstored-or", 'emails[type eq "work"] or userName eq "bob@example.org"', {"bob"}),
    U("valuePath-unstored-not", 'not (emails[type eq "work"]) and userName sw "b"', {"bob", "back"}),
]

GROUP_CASES = [
    # displayName: folded
    G("displayName-eq", 'displayName eq "engineering"', {"eng"}),
    G("displayName-eq-sharp-s-casefold", 'displayName eq "STRASSE TEAM"', {"team"}),
    G("displayName-eq-with-specials", r'displayName eq "100% _under\\score"', {"odd"}),
    G("displayName-ne", 'displayName ne "SALES"', GROUP_KEYS - {"sales"}),
    G("displayName-co", 'displayName co "E"'),
    G("displayName-co-percent", 'displayName co "%"', {"odd"}),
    G("displayName-co-underscore", 'displayName co "_"', {"odd"}),
    G("displayName-co-backslash", r'displayName co "\\"', {"odd"}),
    G("displayName-sw", 'displayName sw "E"', {"eng", "empty"}),
    G("displayName-ew", 'displayName ew "TEAM"', {"team"}),
    G("displayName-gt", 'displayName gt "OPS"', {"sales", "team"}),
    G("displayName-ge", 'displayName ge "ops"', {"ops", "sales", "team"}),
    G("displayName-lt", 'displayName lt "e"', {"odd"}),
    G("displayName-le", 'displayName le "EMPTY GROUP"', {"odd", "empty"}),
    G("displayName-pr", "displayName pr", GROUP_KEYS),
    G("urn-displayName", f'{GROUP_SCHEMA}:displayName eq "Sales"', {"sales"}),
    G("urn-other-schema", f'{USER_SCHEMA}:displayName eq "Sales"', set()),
    # externalId, id, meta
    G("externalId-eq", 'externalId eq "grp-eng"', {"eng"}),
    G("externalId-eq-case-exact", 'externalId eq "GRP-ENG"', set()),
    G("externalId-ne", 'externalId ne "grp-eng"', GROUP_KEYS - {"eng"}),
    G("externalId-co-underscore", 'externalId co "_"', {"odd"}),
    G("externalId-sw", 'externalId sw "GRP"', {"sales"}),
    G("externalId-ew-backslash", r'externalId ew "\\"', {"odd"}),
    G("externalId-pr", "externalId pr", {"eng", "team", "sales", "odd"}),
    G("id-eq", 'id eq "{id:sales}"', {"sales"}),
    G("created-gt", 'meta.created gt "{T}"', {"sales", "odd", "ops"}),
    G("created-le", 'meta.created le "{T}"', {"eng", "empty", "team"}),
    G("lastModified-gt", 'meta.lastModified gt "{T}"', {"sales", "odd", "ops", "eng"}),
    G("lastModified-lt", 'meta.lastModified lt "{T}"', {"empty", "team"}),
    # members, members.value, members.display
    G("members-eq", 'members eq "{id:alice}"', {"eng", "ops"}),
    G("members-value-eq", 'members.value eq "{id:alice}"', {"eng", "ops"}),
    G("members-value-eq-added-later", 'members.value eq "{id:carol}"', {"eng"}),
    G("members-value-ne", 'members.value ne "{id:alice}"', GROUP_KEYS - {"empty"}),
    G("members-pr", "members pr", GROUP_KEYS - {"empty"}),
    G("members-value-pr", "members.value pr", GROUP_KEYS - {"empty"}),
    G("members-display-pr", "members.display pr", GROUP_KEYS - {"empty"}),
    G("not-members-pr", "not (members pr)", {"empty"}),
    G("members-display-eq-sent", 'members.display eq "team lead"', {"eng"}),
    G("members-display-eq-userName", 'members.display eq "bob@example.org"', {"eng"}),
    G("members-display-eq-E-acute", 'members.display eq "\u00e9lodie@example.fr"', {"team"}),
    G("members-display-sw-E-acute", 'members.display sw "\u00c9LODIE"', {"team"}),
    G("members-display-co-u-umlaut", 'members.display co "\u00dc"', {"team"}),
    G("members-display-co-percent", 'members.display co "%"', {"odd"}),
    G("members-display-ew-backslash", r'members.display ew "\\slash@example.com"', {"odd"}),
    G("members-display-ne", 'members.display ne "team lead"', GROUP_KEYS - {"empty"}),
    G("members-display-gt", 'members.display gt "t"'),
    G("members-display-lt", 'members.display lt "B"'),
    G("valuePath-value", 'members[value eq "{id:alice}"]', {"eng", "ops"}),
    G("valuePath-display", 'members[display co "LEAD"]', {"eng"}),
    G("valuePath-and-same-member", 'members[value eq "{id:alice}" and display eq "Alice in Ops"]', {"ops"}),
    G("valuePath-and-two-members", 'members[value eq "{id:alice}" and display eq "BOB@example.org"]', set()),
    G("valuePath-or", 'members[value eq "{id:alice}" or value eq "{id:dave}"]', {"eng", "ops", "sales"}),
    G("valuePath-not", 'members[not (value eq "{id:alice}")]', {"eng", "team", "sales", "odd", "ops"}),
    G("valuePath-twice-and", 'members[value eq "{id:alice}"] and members[value eq "{id:bob}"]', {"eng"}),
    G("valuePath-or-displayName", 'members[value eq "{id:alice}"] or displayName eq "Empty Group"',
      {"eng", "ops", "empty"}),
    G("valuePath-unknown-sub-attribute", 'members[nickName eq "x"]', set()),
    G("not-valuePath", 'not (members[value eq "{id:alice}"])', {"empty", "team", "sales", "odd"}),
    G("valuePath-unstored", 'emails[type eq "work"]', set()),
    G("unknown-in-or", 'displayName eq "ops" or owner eq "x"', {"ops"}),
    G("unknown-in-not", 'not (owner pr)', GROUP_KEYS),
]

WIDE_CASES = [
    # single-valued attributes kept in JSON: case-insensitive text
    W("displayName-eq-A-umlaut", 'displayName eq "ANN \u00c4RGER"', {"wann"}),
    W("displayName-sw", 'displayName sw "B"', {"wbob"}),
    W("displayName-co-E-acute", 'displayName co "\u00e9lise"', {"wdee"}),
    W("displayName-ne", 'displayName ne "bob b"', WIDE_KEYS - {"wbob"}),
    W("displayName-gt", 'displayName gt "b"', {"wbob", "wdee"}),
    W("displayName-lt", 'displayName lt "B"', {"wann"}),
    W("title-eq", 'title eq "cto"', {"wann"}),
    W("title-co-e-acute", 'title co "\u00c9"', {"wdee"}),
    W("title-pr", "title pr", {"wann", "wdee"}),
    W("not-title-pr", "not (title pr)", {"wbob", "wcyd"}),
    W("not-title-eq", 'not (title eq "cto")', {"wbob", "wcyd", "wdee"}),
    # multi-valued emails kept in JSON: any element; value filters on one element
    W("emails-pr", "emails pr", {"wann", "wbob", "wdee"}),
    W("emails-eq", 'emails eq "BOB@home.example"', {"wbob"}),
    W("emails-value-co", 'emails.value co "WORK.example"', {"wann", "wbob", "wdee"}),
    W("emails-value-co-percent", 'emails.value co "%"', {"wbob"}),
    W("emails-value-sw-underscore", 'emails.value sw "bob_"', {"wbob"}),
    W("emails-value-gt", 'emails.value gt "c"', {"wdee"}),
    W("emails-type-eq-any-case", 'emails.type eq "WORK"', {"wann", "wdee"}),
    W("emails-type-ne", 'emails.type ne "home"', WIDE_KEYS - {"wcyd"}),
    W("emails-display-pr-unassigned", "emails.display pr", set()),
    W("valuePath", 'emails[type eq "work"]', {"wann", "wdee"}),
    W("valuePath-same-element", 'emails[type eq "work" and value co "bob"]', set()),
    W("valuePath-and", 'emails[type eq "home" and value sw "ann"]', {"wann"}),
    W("valuePath-primary", "emails[primary eq true]", {"wann", "wbob"}),
    W("valuePath-primary-and-type", 'emails[type eq "work" and primary eq true]', {"wann"}),
    W("valuePath-not", 'emails[not (type eq "home")]', {"wann", "wbob", "wdee"}),
    W("not-valuePath", 'not (emails[type eq "work"])', {"wbob", "wcyd"}),
    W("valuePath-or-title", 'emails[type eq "work"] or title eq "nobody"', {"wann", "wdee"}),
    W("valuePath-and-not-unknown", 'emails[value co "home"] and not (nickName pr)', {"wann", "wbob"}),
    # the enterprise extension (URN-qualified), and what the tenant still does not store
    W("enterprise-eq", f'{ENTERPRISE}:department eq "SALES"', {"wbob", "wdee"}),
    W("enterprise-sw", f'{ENTERPRISE}:department sw "r&"', {"wann"}),
    W("enterprise-pr", f"{ENTERPRISE}:department pr", {"wann", "wbob", "wdee"}),
    W("enterprise-unstored", f'{ENTERPRISE}:employeeNumber eq "7"', set()),
    W("unstored-multi-valued", "phoneNumbers.value pr", set()),
    W("unstored-valuePath", 'phoneNumbers[type eq "work"]', set()),
    W("userName-tenant-isolation", 'userName sw "a"', {"wann"}),
]

CASES = USER_CASES + GROUP_CASES + WIDE_CASES
# String ordering (gt/ge/lt/le on anything but dateTimes): also run on an ICU-collated database.
ORDERING_CASES = [
    case for case in CASES
    if any(op in case.filter for op in (" gt ", " ge ", " lt ", " le ")) and "meta." not in case.filter
]


@dataclass(frozen=True)
class Page:
    """One ``startIndex``/``count`` request; the expectation comes from the evaluator."""

    name: str
    endpoint: str
    filter: str | None
    start_index: int | None
    count: int | None


PAGES = [
    *(Page(f"users-all-page-{start}", "Users", "userName pr", start, 5) for start in (1, 6, 11, 16)),
    Page("users-filtered-page-1", "Users", "active pr", 1, 3),
    Page("users-filtered-page-2", "Users", "active pr", 4, 3),
    Page("users-filtered-page-3", "Users", "active pr", 7, 3),
    Page("users-startIndex-0-is-1", "Users", 'userName sw "a"', 0, 1),
    Page("users-count-0-total-only", "Users", "active eq true", 1, 0),
    Page("users-no-filter", "Users", None, 3, 4),
    Page("groups-page-1", "Groups", "displayName pr", 1, 4),
    Page("groups-page-2", "Groups", "displayName pr", 5, 4),
]

INVALID = [
    ("Users", "missing-value", "userName eq"),
    ("Users", "unknown-operator", 'userName xx "a"'),
    ("Users", "dangling-and", 'userName eq "a" and'),
    ("Users", "unclosed-parenthesis", '(userName eq "a"'),
    ("Users", "single-quotes", "userName eq 'a'"),
    ("Users", "not-without-parentheses", 'not userName eq "a"'),
    ("Users", "boolean-ordering", "active gt true"),
    ("Users", "boolean-with-string", 'active eq "true"'),
    ("Users", "string-with-number", "userName gt 5"),
    ("Users", "text-with-number", "name.givenName sw 1"),
    ("Users", "string-co-null", "userName co null"),
    ("Users", "datetime-co", 'meta.created co "2020"'),
    ("Users", "datetime-not-a-date", 'meta.created gt "yesterday"'),
    ("Users", "datetime-number", "meta.lastModified gt 12345"),
    ("Users", "sub-attribute-after-value-path", 'emails[type eq "work"].value'),
    ("Users", "nested-value-path", 'emails[type[value eq "x"] pr]'),
    ("Groups", "members-value-number", "members.value gt 5"),
    ("Groups", "displayName-boolean", "displayName eq true"),
    ("Groups", "unbalanced-bracket", 'members[value eq "x"'),
    ("WideUsers", "json-boolean-with-string", 'emails[primary eq "yes"]'),
    ("WideUsers", "json-boolean-ordering", "emails.primary gt true"),
    ("WideUsers", "json-text-with-number", "title gt 5"),
]


# --------------------------------------------------------------------------- the evaluator


class Unsupported(Exception):
    """The evaluator's own 'invalidFilter' (a valid case must never raise it)."""


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


@dataclass(frozen=True)
class Spec:
    """What a filter can address on one resource type of one tenant, for the evaluator.

    Keys are lower-cased ``(schema URN, attribute, sub-attribute or None)``; ``multi``
    maps a multi-valued attribute ``(schema, attribute)`` to its sub-attributes' kinds.
    """

    core: str
    paths: dict
    multi: dict = field(default_factory=dict)
    complex: dict = field(default_factory=dict)


_U, _G, _E = USER_SCHEMA.lower(), GROUP_SCHEMA.lower(), ENTERPRISE.lower()
_COMMON = {("id", None): "exact", ("externalid", None): "exact",
           ("meta", "created"): "datetime", ("meta", "lastmodified"): "datetime"}
USER_SPEC = Spec(_U, {
    **{(_U, *key): kind for key, kind in _COMMON.items()},
    (_U, "username", None): "folded", (_U, "name", "givenname"): "text", (_U, "name", "familyname"): "text",
    (_U, "active", None): "boolean",
}, complex={(_U, "name", None): ((_U, "name", "givenname"), (_U, "name", "familyname"))})
GROUP_SPEC = Spec(_G, {
    **{(_G, *key): kind for key, kind in _COMMON.items()},
    (_G, "displayname", None): "folded",
}, multi={(_G, "members"): {"value": "exact", "display": "text"}})
WIDE_USER_SPEC = Spec(_U, {
    **USER_SPEC.paths,
    (_U, "displayname", None): "text", (_U, "title", None): "text", (_E, "department", None): "text",
}, multi={(_U, "emails"): {"value": "text", "type": "text", "primary": "boolean", "display": "text"}},
    complex=USER_SPEC.complex)
SPECS = {"Users": USER_SPEC, "Groups": GROUP_SPEC, "WideUsers": WIDE_USER_SPEC}


def _compare(kind: str, actual, op: str, expected) -> bool:
    if expected is None:
        if op in ("eq", "ne"):
            return op == "ne"
        raise Unsupported(f"{op} null")
    if kind == "boolean":
        if not isinstance(expected, bool) or op not in ("eq", "ne"):
            raise Unsupported("boolean")
        return (actual == expected) == (op == "eq")
    if kind == "datetime":
        if not isinstance(expected, str) or op in ("co", "sw", "ew"):
            raise Unsupported("datetime")
        actual, expected = parse_time(actual), parse_time(expected)
    else:
        if not isinstance(expected, str):
            raise Unsupported("string")
        if kind == "folded":
            actual, expected = fold(actual), fold(expected)
        elif kind == "text":
            actual, expected = actual.lower(), expected.lower()
    return {
        "eq": lambda: actual == expected, "ne": lambda: actual != expected,
        "co": lambda: expected in actual, "sw": lambda: actual.startswith(expected),
        "ew": lambda: actual.endswith(expected), "gt": lambda: actual > expected,
        "ge": lambda: actual >= expected, "lt": lambda: actual < expected, "le": lambda: actual <= expected,
    }[op]()


def _term(node, values: list, kind: str | None) -> bool:
    """``values``: the attribute's values (none = unassigned); ``kind`` None: not stored."""
    if kind is None:
        return False
    values = [v for v in values if v is not None and v != ""]
    if isinstance(node, ast.Present):
        return bool(values)
    if not values:  # unassigned
        return (node.op == "eq" and node.value is None) or (node.op == "ne" and node.value is not None)
    return any(_compare(kind, value, node.op, node.value) for value in values)


def _holds(node, resource: dict, spec: Spec) -> bool:
    """Does ``resource`` (keys as in :class:`Spec`) satisfy filter ``node``?"""
    if isinstance(node, ast.And):
        return _holds(node.left, resource, spec) and _holds(node.right, resource, spec)
    if isinstance(node, ast.Or):
        return _holds(node.left, resource, spec) or _holds(node.right, resource, spec)
    if isinstance(node, ast.Not):
        return not _holds(node.expr, resource, spec)
    uri, attr, sub = node.path.key
    schema = uri if uri is not None else spec.core
    if isinstance(node, ast.ValuePath):
        subs = spec.multi.get((schema, attr))
        if subs is None:
            return False
        element = Spec("", {("", name, None): kind for name, kind in subs.items()})
        return any(_holds(node.filter, {("", name, None): value for name, value in item.items()}, element)
                   for item in resource.get((schema, attr), []))
    if isinstance(node, ast.Present) and (schema, attr, sub) in spec.complex:
        return any(resource.get(path) not in (None, "") for path in spec.complex[(schema, attr, sub)])
    if (schema, attr) in spec.multi:
        # A multi-valued attribute matches when one of its values does; no values, no match
        # (for "ne" too): the rule the compiler documents in gateway/scim/filter_sql.py.
        name = sub or "value"
        kind = spec.multi[(schema, attr)].get(name)
        values = [item.get(name) for item in resource.get((schema, attr), [])]
        present_values = [value for value in values if value not in (None, "")]
        if kind is None:
            return False
        if isinstance(node, ast.Present):
            return bool(present_values)
        return any(_term(node, [value], kind) for value in present_values)
    else:
        kind = spec.paths.get((schema, attr, sub))
        values = [resource.get((schema, attr, sub))]
    return _term(node, values, kind)


# --------------------------------------------------------------------------- seeding and running


@dataclass(repr=False)
class Backend:
    """What one database answered, and the seed as that database stored it."""

    name: str
    resources: dict[str, dict[str, dict]] = field(default_factory=dict)  # endpoint -> key -> resource
    ids: dict[str, str] = field(default_factory=dict)  # resource id -> key
    t_between: dt.datetime | None = None
    answers: dict[str, dict] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"

    def resource(self, key: str) -> dict:
        return next(found[key] for found in self.resources.values() if key in found)

    def resolve(self, template: str) -> str:
        """The filter text of a case on this database: ``{T}``, ``{id:bob}``... filled in."""

        def sub(match: re.Match) -> str:
            what, _, key = match.group(1).partition(":")
            if what == "T":
                return isoformat(self.t_between)
            if what == "T+02":  # "{T+02:00}": the same instant written with another offset
                return (self.t_between + dt.timedelta(hours=2)).isoformat(timespec="milliseconds") + "+02:00"
            res = self.resource(key)
            core = _U if key in self.resources.get("Users", {}) else _G
            rid = res[(core, "id", None)]
            return {
                "id": lambda: rid, "ID": lambda: rid.upper(), "idprefix": lambda: rid[:8], "idsuffix": lambda: rid[-8:],
                "created": lambda: res[(core, "meta", "created")],
                "lastModified": lambda: res[(core, "meta", "lastmodified")],
            }[what]()

        return re.sub(r"\{(T\+02|[A-Za-z]+(?::[a-z0-9]+)?)(?::00)?\}", sub, template)

    def evaluate(self, endpoint: str, template: str | None) -> list[str]:
        """The keys the filter should return on this database, in list order (created, id)."""
        spec, resources = SPECS[endpoint], self.resources[endpoint]
        node = parse_filter(self.resolve(template)) if template is not None else None
        matched = [key for key, res in resources.items() if node is None or _holds(node, res, spec)]
        return sorted(matched, key=lambda k: (parse_time(resources[k][(spec.core, "meta", "created")]),
                                              resources[k][(spec.core, "id", None)]))


class Client:
    """SCIM over the Flask test client, for one tenant."""

    def __init__(self, app, slug: str, token: str):
        self.http = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.base = f"/tenants/{slug}/scim/v2"

    def call(self, method: str, path: str, body=None, query=None):
        kwargs = {"headers": self.headers, "query_string": query}
        if body is not None:
            kwargs.update(json=body, content_type="application/scim+json")
        response = self.http.open(self.base + path, method=method, **kwargs)
        return response.status_code, response.get_json(silent=True)

    def ok(self, method: str, path: str, body=None, status=200) -> dict:
        code, payload = self.call(method, path, body)
        assert code == status, f"seeding: {method} {path} answered {code}: {payload}"
        time.sleep(0.003)  # distinct millisecond timestamps, so (created, id) order is the seed order
        return payload

    def listing(self, endpoint: str) -> list[dict]:
        code, payload = self.call("GET", f"/{endpoint}", query={"count": 1000})
        assert code == 200, payload
        return payload["Resources"]


def _user_body(user: SeedUser) -> dict:
    body = {"schemas": [USER_SCHEMA], "userName": user.user_name}
    name = {k: v for k, v in (("givenName", user.given),
                              ("familyName", user.family_before_patch or user.family)) if v is not None}
    if name:
        body["name"] = name
    if user.external_id is not None:
        body["externalId"] = user.external_id
    if user.active is not None:
        body["active"] = user.active
    return body


def _meta(core: str, resource: dict) -> dict:
    return {(core, "id", None): resource["id"], (core, "meta", "created"): resource["meta"]["created"],
            (core, "meta", "lastmodified"): resource["meta"]["lastModified"]}


def _seed(client: Client, backend: Backend) -> None:
    """The main tenant: users and groups in two batches either side of ``backend.t_between``."""
    ids: dict[str, str] = {}

    def create_batch(batch: int) -> None:
        for user in (u for u in USERS if u.batch == batch):
            ids[user.key] = client.ok("POST", "/Users", _user_body(user), 201)["id"]
        for group in (g for g in GROUPS if g.batch == batch):
            body = {"schemas": [GROUP_SCHEMA], "displayName": group.display_name,
                    "members": [{"value": ids[k], **({"display": d} if d else {})} for k, d in group.members]}
            if group.external_id is not None:
                body["externalId"] = group.external_id
            ids[group.key] = client.ok("POST", "/Groups", body, 201)["id"]

    create_batch(1)
    time.sleep(0.01)
    backend.t_between = utcnow()
    time.sleep(0.01)
    create_batch(2)
    for user in (u for u in USERS if u.family_before_patch):
        client.ok("PATCH", f"/Users/{ids[user.key]}", {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "replace", "path": "name.familyName", "value": user.family}]})
    for group in (g for g in GROUPS if g.added_in_batch_2):
        client.ok("PATCH", f"/Groups/{ids[group.key]}", {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": ids[k]} for k in group.added_in_batch_2]}]})

    # What the database stored, checked against the seed, becomes the evaluator's data.
    by_id = {resource_id: key for key, resource_id in ids.items()}
    backend.ids.update(by_id)
    seed_users = {u.key: u for u in USERS}
    users = backend.resources["Users"] = {}
    listing = client.listing("Users")
    assert len(listing) == len(USERS), listing
    for resource in listing:
        user = seed_users[by_id[resource["id"]]]
        stored = (resource["userName"], resource.get("name", {}).get("givenName"),
                  resource.get("name", {}).get("familyName"), resource.get("externalId"), resource.get("active"))
        assert stored == (user.user_name, user.given, user.family, user.external_id, user.active), (
            f"{backend.name} stored user {user.key} as {stored}")
        users[user.key] = {
            **_meta(_U, resource), (_U, "username", None): user.user_name, (_U, "externalid", None): user.external_id,
            (_U, "name", "givenname"): user.given, (_U, "name", "familyname"): user.family,
            (_U, "active", None): user.active,
        }
    seed_groups = {g.key: g for g in GROUPS}
    groups = backend.resources["Groups"] = {}
    listing = client.listing("Groups")
    assert len(listing) == len(GROUPS), listing
    for resource in listing:
        group = seed_groups[by_id[resource["id"]]]
        members = [{"value": ids[k], "display": d or seed_users[k].user_name}
                   for k, d in (*group.members, *((k, None) for k in group.added_in_batch_2))]
        got = sorted((m["value"], m.get("display")) for m in resource.get("members", []))
        assert got == sorted((m["value"], m["display"]) for m in members), (
            f"{backend.name} stored group {group.key} members as {got}")
        assert (resource["displayName"], resource.get("externalId")) == (group.display_name, group.external_id)
        groups[group.key] = {
            **_meta(_G, resource), (_G, "displayname", None): group.display_name,
            (_G, "externalid", None): group.external_id, (_G, "members"): members,
        }


def _seed_wide(client: Client, backend: Backend) -> None:
    """The wide tenant: users whose displayName, title, emails and department live in JSON."""
    users = backend.resources["WideUsers"] = {}
    for key, (user_name, attributes) in WIDE_USERS.items():
        body = {"schemas": [USER_SCHEMA, *([ENTERPRISE] if ENTERPRISE in attributes else [])],
                "userName": user_name, **attributes}
        resource = client.ok("POST", "/Users", body, 201)
        backend.ids[resource["id"]] = key
        stored = {name: resource.get(name) for name in attributes}
        assert stored == attributes, f"{backend.name} stored wide user {key} as {stored}"
        users[key] = {
            **_meta(_U, resource), (_U, "username", None): user_name,
            (_U, "displayname", None): attributes.get("displayName"), (_U, "title", None): attributes.get("title"),
            (_E, "department", None): attributes.get(ENTERPRISE, {}).get("department"),
            (_U, "emails"): [{k.lower(): v for k, v in email.items()} for email in attributes.get("emails", [])],
        }


def _answer(client: Client, backend: Backend, endpoint: str, filter_text: str | None,
            start_index: int | None = None, count: int | None = 1000) -> dict:
    query = {k: v for k, v in (("filter", filter_text), ("startIndex", start_index), ("count", count)) if v is not None}
    path = "/Users" if endpoint == "WideUsers" else f"/{endpoint}"
    try:
        code, payload = client.call("GET", path, query=query)
    except Exception as error:  # noqa: BLE001 - recorded, reported by the test
        return {"status": "exception", "body": repr(error)}
    answer = {"status": code, "body": payload}
    if code == 200 and payload:
        answer["keys"] = [backend.ids.get(r.get("id"), r.get("id")) for r in payload.get("Resources", [])]
    return answer


def _tenant(app, slug: str, settings: dict) -> str:
    with database.connection_context():
        _, token = services.create_tenant(slug, slug)
        services.update_tenant(slug, settings=app.extensions["scim_gateway"].validate_settings(settings))
    return token.secret


def run_backend(name: str, url: str, cases: list[Case] | None = None) -> Backend:
    """Build the app on ``url``, seed it, and record its answer to every request of this module.

    ``cases`` limits the run to those filters (no pages, no invalid filters).
    """
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    backend = Backend(name)
    try:
        clients = {"Users": Client(app, SLUG, _tenant(app, SLUG, SETTINGS))}
        clients["Groups"] = clients["Users"]
        clients["WideUsers"] = Client(app, WIDE_SLUG, _tenant(app, WIDE_SLUG, WIDE_SETTINGS))
        _seed(clients["Users"], backend)
        _seed_wide(clients["WideUsers"], backend)
        for case in CASES if cases is None else cases:
            backend.answers[case.id] = _answer(clients[case.endpoint], backend, case.endpoint,
                                               backend.resolve(case.filter))
        for page in PAGES if cases is None else ():
            backend.answers["page:" + page.name] = _answer(clients[page.endpoint], backend, page.endpoint,
                                                           page.filter, page.start_index, page.count)
        for endpoint, label, text in INVALID if cases is None else ():
            backend.answers[f"invalid:{endpoint}-{label}"] = _answer(clients[endpoint], backend, endpoint, text)
    finally:
        if not database.is_closed():
            database.close()
    return backend


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory) -> Backend:
    return run_backend("SQLite", f"sqlite:///{tmp_path_factory.mktemp('differential')}/gateway.db")


@pytest.fixture(scope="module")
def postgres(sqlite) -> Backend:  # after SQLite: one bound database at a time
    with fresh_postgres_url() as url:
        return run_backend("PostgreSQL", url)


@pytest.fixture(scope="module")
def postgres_icu(postgres) -> Backend:
    with fresh_postgres_url(options=ICU_DATABASE) as url:
        return run_backend("PostgreSQL (ICU en-US collation)", url, ORDERING_CASES)


# --------------------------------------------------------------------------- the tests


def _ok_keys(backend: Backend, answer_id: str) -> list[str]:
    answer = backend.answers[answer_id]
    assert answer["status"] == 200, f"{backend.name} answered {answer['status']}: {answer['body']}"
    body = answer["body"]
    assert body["totalResults"] == len(answer["keys"]), f"{backend.name}: totalResults {body['totalResults']}"
    return answer["keys"]


def _difference(got: set, want: set) -> str:
    parts = []
    if want - got:
        parts.append(f"missing {sorted(want - got)}")
    if got - want:
        parts.append(f"unexpected {sorted(got - want)}")
    return ", ".join(parts) or "ok"


def test_seed_batches_straddle_the_timestamp(sqlite, postgres):
    """The data the datetime cases rely on: batch 1 strictly before T, batch 2 strictly after."""
    for backend in (sqlite, postgres):
        for user in USERS:
            created = parse_time(backend.resources["Users"][user.key][(_U, "meta", "created")])
            assert (created < backend.t_between) == (user.batch == 1), (backend.name, user.key)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_filter_same_on_sqlite_and_postgresql(case: Case, sqlite: Backend, postgres: Backend):
    sqlite_text, postgres_text = sqlite.resolve(case.filter), postgres.resolve(case.filter)
    want = {backend.name: set(backend.evaluate(case.endpoint, case.filter)) for backend in (sqlite, postgres)}
    if case.expect is not None:  # the evaluator agrees with the hand-written expectation
        assert want[sqlite.name] == case.expect == want[postgres.name], f"evaluator bug: {want}"
    got = {backend.name: set(_ok_keys(backend, case.id)) for backend in (sqlite, postgres)}
    report = "\n".join(
        f"  {name}: {sorted(got[name])} ({_difference(got[name], want[name])})" for name in got
    )
    message = f"filter {sqlite_text!r} (PostgreSQL: {postgres_text!r}) on /{case.endpoint}:\n{report}"
    if want[sqlite.name] == want[postgres.name]:
        assert got[sqlite.name] == got[postgres.name], "SQLite and PostgreSQL disagree: " + message
    assert got == want, "wrong result (RFC 7644 / evaluator): " + message


@pytest.mark.parametrize("case", ORDERING_CASES, ids=[case.id for case in ORDERING_CASES])
def test_string_ordering_independent_of_postgresql_collation(case: Case, postgres: Backend,
                                                              postgres_icu: Backend):
    """gt/ge/lt/le on strings must not depend on the collation the database was created with."""
    want = set(postgres_icu.evaluate(case.endpoint, case.filter))
    got = set(_ok_keys(postgres_icu, case.id))
    c_collated = set(_ok_keys(postgres, case.id))
    assert got == want, (
        f"filter {postgres_icu.resolve(case.filter)!r} on /{case.endpoint}, database with ICU en-US "
        f"collation: {sorted(got)} ({_difference(got, want)}); on a C-collated database: {sorted(c_collated)}"
    )


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_pagination_same_order_on_sqlite_and_postgresql(page: Page, sqlite: Backend, postgres: Backend):
    answer_id = "page:" + page.name
    results = {}
    for backend in (sqlite, postgres):
        answer = backend.answers[answer_id]
        assert answer["status"] == 200, f"{backend.name}: {answer['body']}"
        body = answer["body"]
        everything = backend.evaluate(page.endpoint, page.filter)
        start = max(1, page.start_index or 1)
        count = 100 if page.count is None else page.count
        expected_page = everything[start - 1:start - 1 + count]
        got = answer["keys"]
        assert body["totalResults"] == len(everything), f"{backend.name}: totalResults {body['totalResults']}"
        assert body["startIndex"] == start, f"{backend.name}: startIndex {body['startIndex']}"
        assert body["itemsPerPage"] == len(got), f"{backend.name}: itemsPerPage {body['itemsPerPage']}"
        assert got == expected_page, f"{backend.name}: page {got}, expected {expected_page}"
        results[backend.name] = got
    assert results[sqlite.name] == results[postgres.name], results


def test_pages_cover_every_user_once(sqlite: Backend, postgres: Backend):
    for backend in (sqlite, postgres):
        pages = [backend.answers[f"page:users-all-page-{start}"]["keys"] for start in (1, 6, 11, 16)]
        flat = [key for page in pages for key in page]
        assert flat == [u.key for u in USERS], f"{backend.name}: {pages}"


@pytest.mark.parametrize("endpoint,label,text", INVALID, ids=[f"{e}-{label}" for e, label, _ in INVALID])
def test_invalid_filter_is_400_invalidFilter_on_both(endpoint, label, text, sqlite: Backend, postgres: Backend):
    for backend in (sqlite, postgres):
        answer = backend.answers[f"invalid:{endpoint}-{label}"]
        body = answer["body"] or {}
        assert answer["status"] == 400, f"{backend.name}: {text!r} answered {answer['status']}: {body}"
        assert body.get("schemas") == [ERROR_SCHEMA], body
        assert body.get("status") == "400" and body.get("scimType") == "invalidFilter", body
        assert body.get("detail"), body
