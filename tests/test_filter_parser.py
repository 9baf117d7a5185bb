"""Tests for :mod:`gateway.scim.filters`: SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidFilterError, InvalidPathError
from gateway.scim import filters
from gateway.scim.filters import (
    COMPARE_OPERATORS,
    MAX_FILTER_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_TERMS,
    And,
    AttrPath,
    Compare,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
    parse_filter,
    parse_patch_path,
    render,
)

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def p(attr: str, sub: str | None = None, uri: str | None = None) -> AttrPath:
    """Shorthand for an :class:`AttrPath`."""
    return AttrPath(uri, attr, sub)


def eq(attr: str, value, sub: str | None = None) -> Compare:
    return Compare(p(attr, sub), "eq", value)


def pr(attr: str) -> Present:
    return Present(p(attr))


def strict(node) -> str:
    """``repr`` tells ``1`` from ``1.0`` and ``True``, which ``==`` does not."""
    return repr(node)


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize("op", COMPARE_OPERATORS)
@pytest.mark.parametrize("case", [str.lower, str.upper, str.capitalize])
def test_every_compare_operator_in_any_case(op, case):
    assert parse_filter(f'title {case(op)} "x"') == Compare(p("title"), op, "x")


@pytest.mark.parametrize("text", ["title pr", "title PR", "title Pr", "  title   pr  "])
def test_present(text):
    assert parse_filter(text) == Present(p("title"))


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "literal, value",
    [
        ('"plain"', "plain"),
        ('""', ""),
        ('"with space and (parens) [brackets] and and or"', "with space and (parens) [brackets] and and or"),
        (r'"quote \" inside"', 'quote " inside'),
        (r'"back\\slash"', "back\\slash"),
        (r'"\/"', "/"),
        (r'"caf\u00e9"', "café"),
        (r'"caf\u00E9"', "café"),
        ('"café"', "café"),
        (r'"\ud83d\ude00"', "\U0001f600"),
        (r'"\b\f\n\r\t"', "\b\f\n\r\t"),
        (r'"\u0000"', "\x00"),
        ("true", True),
        ("TRUE", True),
        ("False", False),
        ("false", False),
        ("null", None),
        ("NULL", None),
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("-0", 0),
        ("12345678901234567890", 12345678901234567890),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("1e3", 1000.0),
        ("1E+3", 1000.0),
        ("-2.5e-3", -0.0025),
        ("0.0", 0.0),
    ],
)
def test_comparison_values_are_json(literal, value):
    node = parse_filter(f"x eq {literal}")
    assert isinstance(node, Compare)
    assert node.value == value
    assert type(node.value) is type(value)


def test_integer_and_float_values_are_distinguished():
    assert type(parse_filter("x eq 1").value) is int
    assert type(parse_filter("x eq 1.0").value) is float
    assert type(parse_filter("x eq 1e0").value) is float
    assert type(parse_filter("x eq true").value) is bool


# --------------------------------------------------------------------------- precedence, not, grouping

A, B, C, D = eq("a", 1), eq("b", 2), eq("c", 3), eq("d", 4)


@pytest.mark.parametrize(
    "text, tree",
    [
        ("a eq 1 or b eq 2 and c eq 3", Or(A, And(B, C))),
        ("a eq 1 and b eq 2 or c eq 3", Or(And(A, B), C)),
        ("a eq 1 and b eq 2 and c eq 3", And(And(A, B), C)),
        ("a eq 1 or b eq 2 or c eq 3", Or(Or(A, B), C)),
        ("a eq 1 or b eq 2 and c eq 3 or d eq 4", Or(Or(A, And(B, C)), D)),
        ("(a eq 1 or b eq 2) and c eq 3", And(Or(A, B), C)),
        ("a eq 1 and (b eq 2 or c eq 3)", And(A, Or(B, C))),
        ("a eq 1 or (b eq 2 or c eq 3)", Or(A, Or(B, C))),
        ("a eq 1 and (b eq 2 and c eq 3)", And(A, And(B, C))),
        ("((a eq 1))", A),
        ("(a eq 1)", A),
        ("not (a eq 1)", Not(A)),
        ("not(a eq 1)", Not(A)),
        ("NOT (a eq 1)", Not(A)),
        ("not (a eq 1) and b eq 2", And(Not(A), B)),
        ("b eq 2 and not (a eq 1)", And(B, Not(A))),
        ("not (a eq 1 or b eq 2)", Not(Or(A, B))),
        ("not (not (a eq 1))", Not(Not(A))),
        ("not (a eq 1) or not (b eq 2) and c eq 3", Or(Not(A), And(Not(B), C))),
        ("(a eq 1)and(b eq 2)", And(A, B)),
        ("a eq 1 AND b eq 2 Or c eq 3", Or(And(A, B), C)),
    ],
)
def test_precedence_not_and_grouping(text, tree):
    assert parse_filter(text) == tree


def test_rfc_7644_examples():
    """Every example filter of RFC 7644 §3.4.2.2 parses."""
    examples = [
        'userName Eq "john"',
        'Username eq "john"',
        'name.familyName co "O\'Malley"',
        'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
        "title pr",
        'meta.lastModified gt "2011-05-13T04:42:34Z"',
        'meta.lastModified ge "2011-05-13T04:42:34Z"',
        'meta.lastModified lt "2011-05-13T04:42:34Z"',
        'meta.lastModified le "2011-05-13T04:42:34Z"',
        'title pr and userType eq "Employee"',
        'title pr or userType eq "Intern"',
        'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        'userType eq "Employee" and (emails.type eq "work")',
        'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
        'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    ]
    for text in examples:
        parse_filter(text)
    assert parse_filter(examples[-1]) == Or(
        ValuePath(p("emails"), And(eq("type", "work"), Compare(p("value"), "co", "@example.com"))),
        ValuePath(p("ims"), And(eq("type", "xmpp"), Compare(p("value"), "co", "@foo.com"))),
    )
    assert parse_filter(examples[2]) == Compare(p("name", "familyName"), "co", "O'Malley")


# --------------------------------------------------------------------------- attribute paths


@pytest.mark.parametrize(
    "text, path",
    [
        ("userName pr", p("userName")),
        ("name.familyName pr", p("name", "familyName")),
        ("x-y_z9 pr", p("x-y_z9")),
        ("members.$ref pr", p("members", "$ref")),
        ("$ref pr", p("$ref")),
        (f"{CORE_USER}:userName pr", p("userName", uri=CORE_USER)),
        (f"{CORE_USER}:name.familyName pr", p("name", "familyName", CORE_USER)),
        (f"{ENTERPRISE}:employeeNumber pr", p("employeeNumber", uri=ENTERPRISE)),
        (f"{ENTERPRISE}:manager.value pr", p("manager", "value", ENTERPRISE)),
        (f"{CORE_GROUP}:displayName pr", p("displayName", uri=CORE_GROUP)),
        ("urn:example:x-1.2:attr pr", p("attr", uri="urn:example:x-1.2")),
        # keywords are only keywords where the grammar expects them
        ("and pr", p("and")),
        ("or pr", p("or")),
        ("pr pr", p("pr")),
        ("not pr", p("not")),
        ("eq pr", p("eq")),
        ("true pr", p("true")),
    ],
)
def test_attribute_paths(text, path):
    assert parse_filter(text) == Present(path)


def test_urn_path_keeps_the_dots_of_the_schema_version():
    node = parse_filter(f'{CORE_USER}:name.familyName eq "Jensen"')
    assert node.path == AttrPath(CORE_USER, "name", "familyName")


def test_attribute_names_keep_their_case_and_key_is_lower_case():
    node = parse_filter(f"{ENTERPRISE.upper()}:Name.FamilyName pr")
    assert node.path.attr == "Name" and node.path.sub_attr == "FamilyName"
    assert node.path.key == (ENTERPRISE.lower(), "name", "familyname")
    assert p("userName").key == (None, "username", None)
    assert parse_filter("USERNAME pr").path.key == parse_filter("userName pr").path.key


def test_keyword_named_attributes():
    assert parse_filter("not eq 1") == Compare(p("not"), "eq", 1)
    assert parse_filter("and eq 1 and or eq 2") == And(Compare(p("and"), "eq", 1), Compare(p("or"), "eq", 2))
    assert parse_filter("not[not pr]") == ValuePath(p("not"), Present(p("not")))


# --------------------------------------------------------------------------- value paths


@pytest.mark.parametrize(
    "text, tree",
    [
        ('emails[type eq "work"]', ValuePath(p("emails"), eq("type", "work"))),
        (
            'emails[type eq "work" and value co "@x.com"]',
            ValuePath(p("emails"), And(eq("type", "work"), Compare(p("value"), "co", "@x.com"))),
        ),
        ('emails[ type eq "work" ]', ValuePath(p("emails"), eq("type", "work"))),
        ("emails[not (primary eq true)]", ValuePath(p("emails"), Not(eq("primary", True)))),
        ("emails[(type pr)]", ValuePath(p("emails"), pr("type"))),
        (
            'emails[type eq "a" or type eq "b" and primary eq true]',
            ValuePath(p("emails"), Or(eq("type", "a"), And(eq("type", "b"), eq("primary", True)))),
        ),
        (
            f'{CORE_USER}:emails[type eq "work"]',
            ValuePath(p("emails", uri=CORE_USER), eq("type", "work")),
        ),
        (
            'emails[type eq "work"] and userName eq "x"',
            And(ValuePath(p("emails"), eq("type", "work")), eq("userName", "x")),
        ),
        ('not (emails[type eq "work"])', Not(ValuePath(p("emails"), eq("type", "work")))),
        ('emails[value eq "a]b[c"]', ValuePath(p("emails"), eq("value", "a]b[c"))),
    ],
)
def test_value_paths(text, tree):
    assert parse_filter(text) == tree


# --------------------------------------------------------------------------- what Entra sends


@pytest.mark.parametrize(
    "text, tree",
    [
        ('userName eq "a@b.com"', eq("userName", "a@b.com")),
        ('externalId eq "x"', eq("externalId", "x")),
        ('displayName eq "G"', eq("displayName", "G")),
        ('id eq "g" and members eq "u"', And(eq("id", "g"), eq("members", "u"))),
        (
            'userName eq "ryan.o\'neil@contoso.com"',
            eq("userName", "ryan.o'neil@contoso.com"),
        ),
    ],
)
def test_entra_filters(text, tree):
    assert parse_filter(text) == tree


@pytest.mark.parametrize(
    "text",
    [
        'userName  eq   "x"',
        '  userName eq "x"  ',
        'userName\teq\t"x"',
        'userName eq\r\n"x"',
        'userName eq"x"',
    ],
)
def test_whitespace_is_tolerated(text):
    assert parse_filter(text) == eq("userName", "x")


# --------------------------------------------------------------------------- PATCH paths


@pytest.mark.parametrize(
    "text, expected",
    [
        ("members", PatchPath(p("members"), None, None)),
        ("userName", PatchPath(p("userName"))),
        ("name.givenName", PatchPath(p("name", "givenName"))),
        ("active", PatchPath(p("active"))),
        ("members.$ref", PatchPath(p("members", "$ref"))),
        (f"{ENTERPRISE}:manager", PatchPath(p("manager", uri=ENTERPRISE))),
        (f"{ENTERPRISE}:manager.value", PatchPath(p("manager", "value", ENTERPRISE))),
        (f"{CORE_USER}:userName", PatchPath(p("userName", uri=CORE_USER))),
        ('members[value eq "id"]', PatchPath(p("members"), eq("value", "id"))),
        ('emails[type eq "work"].value', PatchPath(p("emails"), eq("type", "work"), "value")),
        (
            'addresses[type eq "work"].streetAddress',
            PatchPath(p("addresses"), eq("type", "work"), "streetAddress"),
        ),
        (
            'emails[type eq "work" and primary eq true].value',
            PatchPath(p("emails"), And(eq("type", "work"), eq("primary", True)), "value"),
        ),
        (
            f'{CORE_USER}:emails[type eq "work"].display',
            PatchPath(p("emails", uri=CORE_USER), eq("type", "work"), "display"),
        ),
        ('members[ value eq "id" ]', PatchPath(p("members"), eq("value", "id"))),
        ("  members  ", PatchPath(p("members"))),
        ('MEMBERS[VALUE EQ "id"]', PatchPath(p("MEMBERS"), eq("VALUE", "id"))),
    ],
)
def test_patch_paths(text, expected):
    assert parse_patch_path(text) == expected


@pytest.mark.parametrize(
    "text, detail",
    [
        ("", "The path is empty"),
        ("   ", "The path is empty"),
        ("name.givenName.x", "at most one sub-attribute"),
        ("1abc", "Invalid attribute path '1abc' at position 0"),
        ("name givenName", "Unexpected 'givenName' at position 5: expected '[' or the end of the path"),
        ("emails[", "Unexpected end of path at position 7: expected an attribute path"),
        ('emails[type eq "work"', "expected 'and', 'or' or ']' to close the '[' at position 6"),
        ('emails[type eq "work"] .value', "Unexpected space before '.value' at position 23"),
        ('emails[type eq "work"].', "Invalid sub-attribute '.' at position 22"),
        ('emails[type eq "work"].value.x', "Invalid sub-attribute '.value.x' at position 22"),
        ('emails[type eq "work"].1x', "Invalid sub-attribute '.1x'"),
        ('emails[type eq "work"] x', "Unexpected 'x' at position 23: expected '.subAttribute' or the end of the path"),
        ('emails[type eq "work"].value x', "Unexpected 'x' at position 29: expected the end of the path"),
        ('emails [type eq "work"]', "Unexpected space before '[' at position 7"),
        ('name.givenName[type eq "work"]', "a value filter must follow a multi-valued attribute"),
        ('emails[type eq "work"][x pr]', "Unexpected '[' at position 22"),
        ('emails[x[y pr]]', "value filters cannot be nested"),
        ('emails[type eq work]', 'put strings in double quotes, e.g. "work"'),
        ("emails[]", "Unexpected ']' at position 7"),
        ('"members"', "Unexpected '\"members\"' at position 0"),
        ("[x pr]", "Unexpected '[' at position 0"),
        (f"{ENTERPRISE}:", "Missing attribute name after the schema URI"),
        ("urn:userName", "Invalid schema URI 'urn'"),
        ("members eq", "Unexpected 'eq' at position 8"),
        ("a" * (MAX_FILTER_LENGTH + 1), f"at most {MAX_FILTER_LENGTH} are allowed"),
        (None, "must be a string"),
    ],
)
def test_invalid_patch_paths(text, detail):
    with pytest.raises(InvalidPathError) as info:
        parse_patch_path(text)
    assert type(info.value) is InvalidPathError
    assert detail in info.value.detail
    assert info.value.to_body()["scimType"] == "invalidPath"


# --------------------------------------------------------------------------- invalid filters


@pytest.mark.parametrize(
    "text, detail",
    [
        ("", "The filter is empty"),
        (" \t ", "The filter is empty"),
        (None, "must be a string"),
        (b'userName eq "x"', "must be a string, not bytes"),
        ("userName", "Unexpected end of filter at position 8: expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"),
        ('userName foo "x"', "Unexpected 'foo' at position 9: expected an operator"),
        ('userName = "x"', "Unexpected '=' at position 9: expected an operator"),
        ("userName eq", "Unexpected end of filter at position 11: expected a comparison value"),
        ("userName eq john", 'put strings in double quotes, e.g. "john"'),
        ("userName eq 'john'", 'put strings in double quotes, e.g. "john"'),
        ("userName eq )", "Unexpected ')' at position 12: expected a comparison value"),
        ('userName eq "x', "Unterminated string starting at position 12"),
        ('userName eq "x\\"', "Unterminated string starting at position 12"),
        ('userName eq "a\\x"', "Invalid escape '\\x' at position 14"),
        ('userName eq "a\\u12"', "Invalid escape '\\u12\"' at position 14"),
        ('userName eq "a\\u12g4"', "\\u must be followed by four hexadecimal digits"),
        ('userName eq "a\nb"', "Unescaped control character U+000A at position 14"),
        ('userName eq "\\ud800"', "unpaired UTF-16 surrogate"),
        ('userName eq "\\udc00\\ud800"', "unpaired UTF-16 surrogate"),
        ("x eq 01", "Unexpected '01' at position 5: expected a comparison value"),
        ("x eq 1.", "Unexpected '1.' at position 5"),
        ("x eq .5", "Unexpected '.5' at position 5"),
        ("x eq +1", "Unexpected '+1' at position 5"),
        ("x eq 1e", "Unexpected '1e' at position 5"),
        ("x eq 0x10", "Unexpected '0x10' at position 5"),
        ("x eq NaN", "Unexpected 'NaN' at position 5"),
        ("x eq Infinity", "Unexpected 'Infinity' at position 5"),
        ("x eq 1e400", "The number '1e400' at position 5 is out of range"),
        ("x eq 1 2", "Unexpected '2' at position 7: expected 'and', 'or' or the end of the filter"),
        ('x eq "a" "b"', "Unexpected '\"b\"' at position 9"),
        ("x pr and", "Unexpected end of filter at position 8: expected an attribute path"),
        ("x pr or", "Unexpected end of filter at position 7: expected an attribute path"),
        ("and x pr", "Unexpected 'x' at position 4: expected an operator"),
        ("x pr and and y pr", "Unexpected 'y' at position 13: expected an operator"),
        ("x pr && y pr", "Unexpected '&&' at position 5: expected 'and', 'or' or the end of the filter"),
        ("x pr y pr", "Unexpected 'y' at position 5: expected 'and', 'or' or the end of the filter"),
        ("(x pr", "Unexpected end of filter at position 5: expected 'and', 'or' or ')' to close the '(' at position 0"),
        ("((x pr)", "to close the '(' at position 0"),
        ("x pr)", "Unexpected ')' at position 4: there is no matching '('"),
        ("()", "Unexpected ')' at position 1: expected an attribute path"),
        ("(", "Unexpected end of filter at position 1: expected an attribute path"),
        (")", "Unexpected ')' at position 0: expected an attribute path"),
        ("not x pr", "Unexpected 'x' at position 4: 'not' must be followed by a parenthesised filter"),
        ("not", "Unexpected end of filter at position 3: 'not' must be followed by a parenthesised filter"),
        ("not (x pr", "to close the '(' at position 4"),
        ("not ()", "Unexpected ')' at position 5: expected an attribute path"),
        ("x pr and not", "'not' must be followed by a parenthesised filter"),
        ('emails[type eq "work"', "Unexpected end of filter at position 21: expected 'and', 'or' or ']' to close the '[' at position 6"),
        ('emails[type eq "work")', "Unexpected ')' at position 21: expected 'and', 'or' or ']'"),
        ('(emails[type eq "work")]', "Unexpected ')' at position 22"),
        ("emails[]", "Unexpected ']' at position 7: expected an attribute path"),
        ("emails]", "Unexpected ']' at position 6: expected an operator"),
        ('emails[type eq "work"].value eq "x"', "Unexpected '.value' at position 22: a sub-attribute after ']' is allowed only in PATCH paths"),
        ("emails[x[y pr]]", "Unexpected '[' at position 8: value filters cannot be nested"),
        ("emails[not (x[y pr])]", "value filters cannot be nested"),
        ("emails [x pr]", "Unexpected space before '[' at position 7"),
        ("name.givenName[x pr]", "Unexpected '[' at position 14: a value filter must follow a multi-valued attribute"),
        ("[x pr]", "Unexpected '[' at position 0: expected an attribute path"),
        ('"x" eq 1', "Unexpected '\"x\"' at position 0: expected an attribute path"),
        ("1abc eq 1", "Invalid attribute path '1abc' at position 0"),
        ("_a eq 1", "Invalid attribute path '_a' at position 0"),
        ("a.b.c eq 1", "Invalid attribute path 'a.b.c' at position 0: an attribute path has at most one sub-attribute"),
        ("a. eq 1", "Invalid attribute path 'a.' at position 0"),
        (".a eq 1", "Unexpected '.a' at position 0: expected an attribute path"),
        ("user@name eq 1", "Invalid attribute path 'user@name' at position 0"),
        ("na\u00efve eq 1", "Invalid attribute path 'na\u00efve' at position 0"),
        ("$refs eq 1", "Invalid attribute path '$refs'"),
        (f"{CORE_USER}: eq 1", f"Missing attribute name after the schema URI '{CORE_USER}' at position {len(CORE_USER) + 1}"),
        (":userName eq 1", "Invalid schema URI '' at position 0"),
        ("urn:userName eq 1", "Invalid schema URI 'urn' at position 0"),
        ("1urn:x:userName eq 1", "Invalid schema URI '1urn:x'"),
        (f"{CORE_USER}:1x eq 1", "Invalid attribute path"),
        (f"x pr and {CORE_USER}:userName", f"Unexpected end of filter at position {9 + len(CORE_USER) + 9}: expected an operator"),
        ("a" * (MAX_FILTER_LENGTH + 1), f"The filter is {MAX_FILTER_LENGTH + 1} characters long; at most {MAX_FILTER_LENGTH} are allowed"),
    ],
)
def test_invalid_filters(text, detail):
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(text)
    assert type(info.value) is InvalidFilterError
    assert detail in info.value.detail, info.value.detail
    assert info.value.to_body()["scimType"] == "invalidFilter"


def test_error_detail_example_from_the_brief():
    with pytest.raises(InvalidFilterError) as info:
        parse_filter("userName eq 'a' or emails foo 1")
    assert info.value.detail.startswith("Unexpected ''a'' at position 12: expected a comparison value")
    with pytest.raises(InvalidFilterError) as info:
        parse_filter('displayName foo "G"')
    assert info.value.detail == (
        "Unexpected 'foo' at position 12: expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)."
    )


def test_long_tokens_are_clipped_in_error_details():
    with pytest.raises(InvalidFilterError) as info:
        parse_filter("x eq " + "y" * 1000)
    assert len(info.value.detail) < 400


# --------------------------------------------------------------------------- limits


def test_nesting_up_to_the_limit_parses():
    depth = MAX_NESTING_DEPTH
    assert parse_filter("(" * depth + "x pr" + ")" * depth) == pr("x")
    node = parse_filter("not (" * depth + "x pr" + ")" * depth)
    for _ in range(depth):
        assert isinstance(node, Not)
        node = node.expr
    assert node == pr("x")
    assert isinstance(parse_filter("(" * (depth - 1) + "e[x pr]" + ")" * (depth - 1)), ValuePath)


@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_NESTING_DEPTH + 1) + "x pr" + ")" * (MAX_NESTING_DEPTH + 1),
        "not (" * (MAX_NESTING_DEPTH + 1) + "x pr" + ")" * (MAX_NESTING_DEPTH + 1),
        "(" * MAX_NESTING_DEPTH + "e[x pr]" + ")" * MAX_NESTING_DEPTH,
        "(" * 2000,
        "not (" * 800,
        "(" * 1000 + "x pr" + ")" * 1000,
    ],
)
def test_nesting_beyond_the_limit_is_an_invalid_filter_not_a_recursion_error(text):
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(text)
    assert "nested too deeply" in info.value.detail


def test_too_deep_patch_path_filter():
    text = "emails[" + "(" * MAX_NESTING_DEPTH + "x pr" + ")" * MAX_NESTING_DEPTH + "]"
    with pytest.raises(InvalidPathError, match="nested too deeply"):
        parse_patch_path(text)


def test_term_limit():
    ok = " or ".join(f'id eq "{i}"' for i in range(MAX_TERMS))
    node = parse_filter(ok)
    assert parse_filter(render(node)) == node
    with pytest.raises(InvalidFilterError, match=f"at most {MAX_TERMS} comparisons"):
        parse_filter(ok + ' or id eq "last"')


def test_length_limit_is_inclusive():
    text = 'x eq "' + "a" * (MAX_FILTER_LENGTH - 7) + '"'
    assert len(text) == MAX_FILTER_LENGTH
    assert parse_filter(text).value == "a" * (MAX_FILTER_LENGTH - 7)


# --------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    "text, canonical",
    [
        ('userName EQ "a@b.com"', 'userName eq "a@b.com"'),
        ("  x   PR ", "x pr"),
        ("a eq 1 or b eq 2 and c eq 3", "a eq 1 or b eq 2 and c eq 3"),
        ("(a eq 1 or b eq 2) and c eq 3", "(a eq 1 or b eq 2) and c eq 3"),
        ("((a eq 1) and (b eq 2)) and (c eq 3)", "a eq 1 and b eq 2 and c eq 3"),
        ("a eq 1 and (b eq 2 and c eq 3)", "a eq 1 and (b eq 2 and c eq 3)"),
        ("a eq 1 or (b eq 2 or c eq 3)", "a eq 1 or (b eq 2 or c eq 3)"),
        ("(a eq 1 and b eq 2) or c eq 3", "a eq 1 and b eq 2 or c eq 3"),
        ("NOT(a eq 1)", "not (a eq 1)"),
        ("x eq TRUE", "x eq true"),
        ("x eq Null", "x eq null"),
        ("x eq 1E3", "x eq 1000.0"),
        ("x eq -0", "x eq 0"),
        (r'x eq "caf\u00e9 \"q\" \\ \/ \t"', r'x eq "café \"q\" \\ / \t"'),
        ('emails[ type eq "work" AND value co "@x" ]', 'emails[type eq "work" and value co "@x"]'),
        (f"{CORE_USER}:name.familyName sw \"J\"", f"{CORE_USER}:name.familyName sw \"J\""),
    ],
)
def test_render_is_canonical(text, canonical):
    assert render(parse_filter(text)) == canonical
    assert parse_filter(canonical) == parse_filter(text)


@pytest.mark.parametrize(
    "tree",
    [
        Compare(p("x"), "like", "a"),
        Compare(p("x"), "eq", float("inf")),
        Compare(p("x"), "eq", float("nan")),
        Compare(p("x"), "eq", ["list"]),
        ValuePath(p("e"), ValuePath(p("f"), pr("x"))),
        ValuePath(p("e", "sub"), pr("x")),
        "not a node",
    ],
)
def test_render_rejects_trees_the_parser_cannot_produce(tree):
    with pytest.raises(ValueError):
        render(tree)


# --------------------------------------------------------------------------- properties

LETTERS = "abcxyzABCXYZ"
NAME_CHARS = LETTERS + "019_-"
# st.builds over small alphabets, not st.from_regex, keeps the property tests fast.
NAMES = st.one_of(
    st.builds(str.__add__, st.sampled_from(LETTERS), st.text(NAME_CHARS, max_size=10)),
    st.sampled_from(["$ref", "userName", "and", "or", "not", "pr", "eq", "true", "null", "e", "E1"]),
)
URIS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            CORE_USER,
            CORE_GROUP,
            ENTERPRISE,
            "urn:a",
            "urn:x-1.2:y+z",
            "urn:example:params:scim:schemas:extension:acme:2.0:Thing",
            "https://example.com/scim/v2/schemas/Thing",
        ]
    ),
)
PATHS = st.builds(AttrPath, URIS, NAMES, st.none() | NAMES)
VALUE_PATH_ATTRS = st.builds(AttrPath, URIS, NAMES, st.none())
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
LEAVES = st.one_of(
    st.builds(Compare, PATHS, st.sampled_from(COMPARE_OPERATORS), VALUES),
    st.builds(Present, PATHS),
)


def _extend(children):
    return st.one_of(
        st.builds(And, children, children),
        st.builds(Or, children, children),
        st.builds(Not, children),
    )


INNER_FILTERS = st.recursive(LEAVES, _extend, max_leaves=4)
FILTERS = st.recursive(
    st.one_of(LEAVES, st.builds(ValuePath, VALUE_PATH_ATTRS, INNER_FILTERS)), _extend, max_leaves=8
)


def _nesting(node: Filter) -> int:
    """Levels of ``(``/``not (``/``[`` that :func:`render` writes for ``node``."""
    if isinstance(node, Not):
        return 1 + _nesting(node.expr)
    if isinstance(node, ValuePath):
        return 1 + _nesting(node.filter)
    if isinstance(node, And):
        return max(
            _nesting(node.left) + isinstance(node.left, Or),
            _nesting(node.right) + isinstance(node.right, (And, Or)),
        )
    if isinstance(node, Or):
        return max(_nesting(node.left), _nesting(node.right) + isinstance(node.right, Or))
    return 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILTERS)
def test_render_round_trips(tree):
    assume(_nesting(tree) <= MAX_NESTING_DEPTH)
    text = render(tree)
    assume(len(text) <= MAX_FILTER_LENGTH)
    parsed = parse_filter(text)
    assert parsed == tree
    assert strict(parsed) == strict(tree)
    assert render(parsed) == text


@settings(max_examples=200, deadline=None)
@given(PATHS, st.sampled_from(COMPARE_OPERATORS), st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_exactly(path, op, number):
    parsed = parse_filter(render(Compare(path, op, number)))
    assert type(parsed.value) is float
    assert parsed.value == number and math.copysign(1, parsed.value) == math.copysign(1, number)


SOUP_TOKENS = [
    "userName", "UserName", "emails", "type", "value", "x", "eq", "EQ", "ne", "co", "sw", "ew",
    "gt", "ge", "lt", "le", "pr", "PR", "and", "AND", "or", "Or", "not", "NOT", "(", ")", "[",
    "]", '"x"', '"', '"a\\"b"', '"\\u00e9"', '"\\u12"', '"\\ud800"', "\\", "1", "-1.5e3", "01",
    "1e400", "true", "False", "null", "emails[", "].value", ".value", "name.familyName", "a.b.c",
    f"{CORE_USER}:name.familyName", f"{ENTERPRISE}:manager", f"{CORE_USER}:", ":", ".", "$ref",
    "members.$ref", "'x'", "\t", "\n", "\x00", "é", "&&", "=",
]
SOUPS = st.lists(
    st.tuples(st.sampled_from(SOUP_TOKENS), st.sampled_from(["", " ", " ", "  "])), max_size=16
).map(lambda parts: "".join(token + sep for token, sep in parts))


def _mutate(draw, text: str) -> str:
    """Delete, insert or replace a character or token of ``text`` one to three times."""
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "replace"]))
        if kind == "delete":
            text = text[:i] + text[i + 1 :]
        else:
            piece = draw(st.sampled_from(SOUP_TOKENS + [" ", "  "]))
            text = text[:i] + piece + text[i + (kind == "replace") :]
    return text


@st.composite
def near_valid_filters(draw) -> str:
    """The rendering of a valid tree with a few characters or tokens mangled."""
    tree = draw(FILTERS)
    assume(_nesting(tree) <= MAX_NESTING_DEPTH)
    return _mutate(draw, render(tree))


PATCH_PATH_SAMPLES = [
    "members",
    "name.givenName",
    f"{ENTERPRISE}:manager",
    'members[value eq "id"]',
    'emails[type eq "work"].value',
    'addresses[type eq "work" and primary eq true].streetAddress',
    f'{CORE_USER}:emails[not (type eq "home")].display',
]


@st.composite
def near_valid_patch_paths(draw) -> str:
    return _mutate(draw, draw(st.sampled_from(PATCH_PATH_SAMPLES)))


def _check_filter(text: str) -> None:
    """Either a tree that survives render/parse, or an InvalidFilterError - nothing else."""
    try:
        tree = parse_filter(text)
    except InvalidFilterError as exc:
        assert type(exc) is InvalidFilterError
        assert exc.detail
        return
    assert parse_filter(render(tree)) == tree


def _check_path(text: str) -> None:
    try:
        result = parse_patch_path(text)
    except InvalidPathError as exc:
        assert type(exc) is InvalidPathError
        assert exc.detail
        return
    assert isinstance(result, PatchPath)
    assert result.sub_attr is None or result.value_filter is not None
    if result.value_filter is not None:
        assert result.path.sub_attr is None
        assert parse_filter(render(result.value_filter)) == result.value_filter


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_only_ever_raises_invalid_filter(text):
    _check_filter(text)


@settings(max_examples=300, deadline=None)
@given(SOUPS)
def test_token_soup_only_ever_raises_invalid_filter(text):
    _check_filter(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid_filters())
def test_near_valid_filters_only_ever_raise_invalid_filter(text):
    _check_filter(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_only_ever_raises_invalid_path(text):
    _check_path(text)


@settings(max_examples=300, deadline=None)
@given(SOUPS)
def test_token_soup_only_ever_raises_invalid_path(text):
    _check_path(text)


@settings(max_examples=100, deadline=None)
@given(VALUE_PATH_ATTRS, INNER_FILTERS, st.none() | NAMES)
def test_patch_value_paths_round_trip(path, inner, sub):
    assume(_nesting(inner) < MAX_NESTING_DEPTH)
    attr = path.attr if path.uri is None else f"{path.uri}:{path.attr}"
    text = f"{attr}[{render(inner)}]" + (f".{sub}" if sub else "")
    assert parse_patch_path(text) == PatchPath(path, inner, sub)


@settings(max_examples=300, deadline=None)
@given(near_valid_patch_paths())
def test_near_valid_patch_paths_only_ever_raise_invalid_path(text):
    _check_path(text)


def _outcome(parse, text):
    """What ``parse(text)`` gives: ``("tree", ...)`` or ``("error", detail)``."""
    try:
        return "tree", parse(text)
    except InvalidFilterError as error:
        return "error", str(error)


def _full_parse(text):
    return filters._Parser(filters._check_text(text, InvalidFilterError, "filter"), InvalidFilterError,
                           "filter").filter()


_BLANKS = st.text(alphabet=" \t\r\n", max_size=2)
_WORDS = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,6}", fullmatch=True) | st.sampled_from(
    ["not", "and", "or", "pr", "eq", "userName", "$ref", "1a", "a.b", ""])
_OPERATORS = st.sampled_from([*COMPARE_OPERATORS, "EQ", "Sw", "pr", "xx", "e"])
_STRINGS = st.text(max_size=8) | st.sampled_from(["", "a@b.com", '\\"', "\\u0041", "\ud800", "\x01", "\\"])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(lead=_BLANKS, attr=_WORDS, sub_attr=st.none() | _WORDS, gap=st.text(alphabet=" \t\r\n", min_size=0, max_size=2),
       op=_OPERATORS, gap2=st.text(alphabet=" \t\r\n", min_size=0, max_size=2), value=_STRINGS,
       quote=st.sampled_from(['"', "'", ""]), trail=_BLANKS)
def test_the_lookup_shortcut_reads_every_filter_as_the_parser_does(lead, attr, sub_attr, gap, op, gap2, value,
                                                                   quote, trail):
    """``attr op "value"`` is read by one pattern (filters._simple_compare), not the parser:
    on every near miss too, the tree or the error must be the parser's."""
    path = attr if sub_attr is None else f"{attr}.{sub_attr}"
    text = f"{lead}{path}{gap}{op}{gap2}{quote}{value}{quote}{trail}"
    assert _outcome(parse_filter, text) == _outcome(_full_parse, text)


@pytest.mark.parametrize("text, expected", [
    ('userName eq "bjensen@example.com"', Compare(p("userName"), "eq", "bjensen@example.com")),
    ('displayName EQ "Sales Team"', Compare(p("displayName"), "eq", "Sales Team")),
    ('\tname.familyName sw "Jen" ', Compare(p("name", "familyName"), "sw", "Jen")),
])
def test_entra_lookups_take_the_shortcut(text, expected):
    assert filters._simple_compare(text) == expected
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [
    'userName eq "a\\"b"', 'userName pr', 'a eq 1', 'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"',
    'emails[type eq "work"]', 'userName eq "x" and active eq true', 'userName xx "x"', 'a eq "\ud800"',
])
def test_anything_else_goes_to_the_parser(text):
    assert filters._simple_compare(text) is None
