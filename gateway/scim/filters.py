"""Parser for SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2).

:func:`parse_filter` turns the text of a ``filter`` query parameter (or of a ``[...]``
value filter) into a small immutable tree of :class:`Compare`, :class:`Present`,
:class:`And`, :class:`Or`, :class:`Not` and :class:`ValuePath` nodes;
:func:`parse_patch_path` turns the ``path`` of a PATCH operation into a :class:`PatchPath`;
:func:`render` writes a filter tree back as canonical text that parses to an equal tree.

The parser is a hand-written tokenizer plus a recursive-descent parser, because the
grammar is tiny, because it lets every error say exactly what is wrong and at which
character position, and because it needs no extra dependency.

Grammar (RFC 7644 §3.4.2.2, Figure 1; ``compValue`` uses the JSON rules of RFC 7159,
``ALPHA`` and ``DIGIT`` are from RFC 5234 Appendix B.1, ``URI`` from RFC 3986 Appendix A)::

    FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"

    valuePath = attrPath "[" valFilter "]"
                ; FILTER uses sub-attributes of a parent attrPath

    valFilter = attrExp / logExp / *1"not" "(" valFilter ")"

    attrExp   = (attrPath SP "pr") /
                (attrPath SP compareOp SP compValue)

    logExp    = FILTER SP ("and" / "or") SP FILTER

    compValue = false / null / true / number / string
                ; rules from JSON (RFC 7159)

    compareOp = "eq" / "ne" / "co" /
                       "sw" / "ew" /
                       "gt" / "lt" /
                       "ge" / "le"

    attrPath  = [URI ":"] ATTRNAME *1subAttr
                ; SCIM attribute name
                ; URI is SCIM "schema" URI

    ATTRNAME  = ALPHA *(nameChar)

    nameChar  = "-" / "_" / DIGIT / ALPHA

    subAttr   = "." ATTRNAME
                ; a sub-attribute of a complex attribute

and for PATCH (RFC 7644 §3.5.2)::

    PATH = attrPath / valuePath [subAttr]

Precedence (RFC 7644 §3.4.2.2), from tightest to loosest: grouping ``( )`` and value
filters ``[ ]``; attribute operators (``eq ne co sw ew gt ge lt le pr``); ``not``; ``and``;
``or``.  (The RFC lists the logical operators before the attribute operators, but an
attribute expression is atomic in the grammar, so it always binds tightest.)  So
``a eq 1 or b eq 2 and c eq 3`` is ``Or(a eq 1, And(b eq 2, c eq 3))``, and ``and`` /
``or`` chains associate to the left: ``a pr and b pr and c pr`` is
``And(And(a pr, b pr), c pr)``.

How this implementation reads the grammar:

* Operators, ``and``/``or``/``not``/``pr`` and the literals ``true``/``false``/``null`` are
  case-insensitive (``EQ``, ``And``, ``TRUE``); :attr:`Compare.op` is always lower case.
  Attribute names keep the case they were written in; :attr:`AttrPath.key` is the
  lower-cased form for case-insensitive lookups.
* A keyword is only a keyword where the grammar expects one, so an attribute may be
  called ``and`` or ``pr``.  ``not`` must be followed by a parenthesised filter.
* Tokens are separated by one or more spaces (tabs, CR and LF count as spaces, and
  leading or trailing ones are ignored).  Spaces are optional next to ``(``, ``)``,
  ``[``, ``]`` and quoted strings (so ``not(...)`` is accepted, see RFC errata 7319),
  except that ``[`` must follow its attribute directly, and so must a PATCH path's
  ``.subAttr`` follow ``]``.
* ``$ref`` is accepted as an attribute or sub-attribute name (``members.$ref``).
* A URI-qualified path is split at its *last* colon: in
  ``urn:ietf:params:scim:schemas:core:2.0:User:name.familyName`` the URI is
  ``urn:ietf:params:scim:schemas:core:2.0:User`` (the dot in ``2.0`` belongs to it) and
  the rest is ``name.familyName``.
* Comparison values are JSON: strings with JSON escapes (strings may not contain raw
  control characters or unpaired surrogates), integers (``int``), numbers with a fraction
  or exponent (``float``), ``true``/``false`` (``bool``) and ``null`` (``None``).
* Value filters cannot nest (``a[b[c pr]]`` is an error) and their attribute must have
  no sub-attribute.  A ``.subAttr`` after ``]`` is accepted in PATCH paths only.
* Limits against pathological input: at most :data:`MAX_FILTER_LENGTH` characters, at
  most :data:`MAX_NESTING_DEPTH` levels of ``( )``, ``not ( )`` and ``[ ]`` nesting, and at
  most :data:`MAX_TERMS` attribute expressions.  Together they bound the depth of every
  tree the parser returns, so neither the parser nor a recursive walk over its result
  can hit Python's recursion limit.

Every error is an :class:`~gateway.errors.InvalidFilterError` (from :func:`parse_filter`)
or an :class:`~gateway.errors.InvalidPathError` (from :func:`parse_patch_path`) whose
detail names the offending text and its 0-based character position.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Callable, Iterator, NoReturn

from gateway.errors import InvalidFilterError, InvalidPathError, ScimError

__all__ = [
    "MAX_FILTER_LENGTH",
    "MAX_NESTING_DEPTH",
    "MAX_TERMS",
    "COMPARE_OPERATORS",
    "AttrPath",
    "Compare",
    "Present",
    "And",
    "Or",
    "Not",
    "ValuePath",
    "Filter",
    "PatchPath",
    "parse_filter",
    "parse_patch_path",
    "render",
]

#: Longest filter (or PATCH path) text accepted, in characters.
MAX_FILTER_LENGTH = 4096
#: Deepest nesting of ``( )``, ``not ( )`` and ``[ ]`` accepted.
MAX_NESTING_DEPTH = 50
#: Most attribute expressions (``attr op value`` / ``attr pr``) in one filter.
MAX_TERMS = 100

#: The comparison operators of RFC 7644 §3.4.2.2 Table 3, lower case.
COMPARE_OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
_OPERATOR_WORDS = frozenset(COMPARE_OPERATORS) | {"pr"}
_EXPECT_OPERATOR = "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"
_EXPECT_VALUE = "a comparison value (a JSON string in double quotes, a number, true, false or null)"
_EXPECT_ATTR = "an attribute path (e.g. userName or name.familyName), '(' or 'not ('"


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class AttrPath:
    """An attribute path: ``[URI ":"] ATTRNAME ["." subAttr]``, names as written.

    ``uri`` is the schema URN prefix (``urn:ietf:params:scim:schemas:core:2.0:User``) or
    ``None``; ``attr`` the attribute name (``name``); ``sub_attr`` the sub-attribute
    (``familyName``) or ``None``.  Compare paths with :attr:`key`, since SCIM attribute
    names and schema URIs are case-insensitive.
    """

    uri: str | None
    attr: str
    sub_attr: str | None = None

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        """``(uri, attr, sub_attr)`` lower-cased, for case-insensitive lookups."""
        return (
            self.uri.lower() if self.uri is not None else None,
            self.attr.lower(),
            self.sub_attr.lower() if self.sub_attr is not None else None,
        )


@dataclass(frozen=True)
class Compare:
    """``path op value``: ``op`` is one of :data:`COMPARE_OPERATORS` (lower case).

    ``value`` is the decoded JSON comparison value: ``str``, ``bool``, ``int``, ``float``
    or ``None`` (for ``null``).
    """

    path: AttrPath
    op: str
    value: str | bool | int | float | None


@dataclass(frozen=True)
class Present:
    """``path pr``: the attribute has a non-empty value."""

    path: AttrPath


@dataclass(frozen=True)
class And:
    """``left and right``."""

    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    """``left or right``."""

    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    """``not (expr)``."""

    expr: Filter


@dataclass(frozen=True)
class ValuePath:
    """``path[filter]``, e.g. ``emails[type eq "work" and value co "@x.com"]``.

    ``path.sub_attr`` is always ``None``; the attribute paths inside ``filter`` name
    sub-attributes of ``path`` (``type``, ``value``), and ``filter`` contains no
    :class:`ValuePath` (value filters do not nest).
    """

    path: AttrPath
    filter: Filter


#: Any node of a parsed filter.
Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """A PATCH operation ``path`` (RFC 7644 §3.5.2): ``attrPath / valuePath [subAttr]``.

    ``members`` -> ``PatchPath(AttrPath(None, "members"), None, None)``;
    ``emails[type eq "work"].value`` -> ``PatchPath(AttrPath(None, "emails"),
    Compare(AttrPath(None, "type"), "eq", "work"), "value")``.  ``value_filter`` is set
    only for the ``attr[...]`` form, and then ``path.sub_attr`` is ``None``; ``sub_attr``
    is set only when ``value_filter`` is.
    """

    path: AttrPath
    value_filter: Filter | None = None
    sub_attr: str | None = None


# --------------------------------------------------------------------------- tokens

_SPACE = " \t\r\n"
_PUNCT = "()[]"
_WORD_END = frozenset(_SPACE + _PUNCT + '"')
_ESCAPES = frozenset('"\\/bfnrt')
_HEX = frozenset("0123456789abcdefABCDEF")

_NAME = r"(?:[A-Za-z][A-Za-z0-9_-]*|\$[Rr][Ee][Ff])"
_NAME_RE = re.compile(_NAME + r"\Z")
_ATTR_RE = re.compile(rf"({_NAME})(?:\.({_NAME}))?\Z")
# RFC 3986: scheme ":" followed by URI characters (no brackets, parentheses or quotes,
# which are filter syntax).
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+\Z")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
#: One comparison of a plain attribute with a string free of escapes and control
#: characters, ``userName eq "bjensen@example.com"``: how an identity provider looks a
#: user or group up before creating it. :func:`parse_filter` reads these with this one
#: pattern, to the tree the parser would build, instead of tokenizing (a third of a
#: lookup's parsing time).
_SIMPLE_COMPARE_RE = re.compile(
    r'[ \t\r\n]*([A-Za-z][A-Za-z0-9_-]*)(?:\.([A-Za-z][A-Za-z0-9_-]*))?[ \t\r\n]+([A-Za-z]{2})'
    r'[ \t\r\n]+"([^"\\\x00-\x1f]*)"[ \t\r\n]*\Z'
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "string", "(", ")", "[", "]" or "end"
    text: str  # the source text of the token
    pos: int  # 0-based offset of its first character
    value: str | None = None  # the decoded value of a "string" token

    @property
    def end(self) -> int:
        return self.pos + len(self.text)


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tokens(text: str, fail: Callable[[str], NoReturn]) -> Iterator[_Token]:
    """Yield the tokens of ``text`` lazily, then an endless run of ``end`` tokens."""
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            while True:
                yield _Token("end", "", n)
        c = text[i]
        if c in _PUNCT:
            yield _Token(c, c, i)
            i += 1
        elif c == '"':
            j = i + 1
            while True:
                if j >= n:
                    fail(f"Unterminated string starting at position {i}: add the closing '\"'.")
                c = text[j]
                if c == '"':
                    break
                if c == "\\":
                    esc = text[j + 1 : j + 2]
                    if esc == "u":
                        digits = text[j + 2 : j + 6]
                        if len(digits) != 4 or not set(digits) <= _HEX:
                            fail(
                                f"Invalid escape '{_clip(text[j:j + 6])}' at position {j}: "
                                "\\u must be followed by four hexadecimal digits."
                            )
                        j += 6
                    elif esc in _ESCAPES:
                        j += 2
                    else:
                        fail(
                            f"Invalid escape '\\{esc}' at position {j}: a string may use only "
                            "the JSON escapes \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX."
                        )
                elif ord(c) < 0x20:
                    fail(
                        f"Unescaped control character U+{ord(c):04X} at position {j} in a "
                        "string: write it as a JSON escape such as \\n or \\u0000."
                    )
                else:
                    j += 1
            source = text[i : j + 1]
            value = json.loads(source)
            if not _is_unicode(value):
                fail(
                    f"The string at position {i} contains an unpaired UTF-16 surrogate "
                    "(\\uD800-\\uDFFF without its partner), which is not valid Unicode."
                )
            yield _Token("string", source, i, value)
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in _WORD_END:
                j += 1
            yield _Token("word", text[i:j], i)
            i = j


# --------------------------------------------------------------------------- the parser


class _Parser:
    """Recursive descent over a lazy token stream; ``subject`` is "filter" or "path"."""

    def __init__(self, text: str, error: type[ScimError], subject: str):
        self.text = text
        self.error = error
        self.subject = subject
        self._stream = _tokens(text, self.fail)
        self._ahead: list[_Token] = []
        self.depth = 0
        self.terms = 0
        self.closing_bracket: _Token | None = None

    # -- helpers

    def fail(self, detail: str) -> NoReturn:
        raise self.error(detail)

    def peek(self, k: int = 0) -> _Token:
        while len(self._ahead) <= k:
            self._ahead.append(next(self._stream))
        return self._ahead[k]

    def advance(self) -> _Token:
        tok = self.peek()
        self._ahead.pop(0)
        return tok

    def describe(self, tok: _Token) -> str:
        if tok.kind == "end":
            return f"end of {self.subject}"
        return f"'{_clip(tok.text)}'"

    def unexpected(self, tok: _Token, expected: str) -> NoReturn:
        self.fail(f"Unexpected {self.describe(tok)} at position {tok.pos}: expected {expected}.")

    def is_keyword(self, tok: _Token, word: str) -> bool:
        return tok.kind == "word" and tok.text.lower() == word

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            self.fail(
                f"The {self.subject} is nested too deeply at position {tok.pos}: at most "
                f"{MAX_NESTING_DEPTH} levels of '(', 'not (' and '[' are allowed."
            )

    def close(self, opener: _Token, closer: str) -> _Token:
        tok = self.peek()
        if tok.kind != closer:
            self.unexpected(
                tok,
                f"'and', 'or' or '{closer}' to close the '{opener.text}' at position {opener.pos}",
            )
        self.depth -= 1
        return self.advance()

    # -- grammar

    def parse_or(self, in_value_filter: bool) -> Filter:
        node = self.parse_and(in_value_filter)
        while self.is_keyword(self.peek(), "or"):
            self.advance()
            node = Or(node, self.parse_and(in_value_filter))
        return node

    def parse_and(self, in_value_filter: bool) -> Filter:
        node = self.parse_unary(in_value_filter)
        while self.is_keyword(self.peek(), "and"):
            self.advance()
            node = And(node, self.parse_unary(in_value_filter))
        return node

    def parse_unary(self, in_value_filter: bool) -> Filter:
        tok = self.peek()
        if tok.kind == "(":
            self.advance()
            self.enter(tok)
            node = self.parse_or(in_value_filter)
            self.close(tok, ")")
            return node
        if tok.kind != "word":
            self.unexpected(tok, _EXPECT_ATTR)
        if tok.text.lower() == "not":
            nxt = self.peek(1)
            if nxt.kind == "(":
                self.advance()
                self.advance()
                self.enter(nxt)
                node = self.parse_or(in_value_filter)
                self.close(nxt, ")")
                return Not(node)
            is_attr = (nxt.kind == "word" and nxt.text.lower() in _OPERATOR_WORDS) or (
                nxt.kind == "[" and nxt.pos == tok.end
            )
            if not is_attr:
                # Not an attribute called "not" either: "not" misused as a prefix.
                self.fail(
                    f"Unexpected {self.describe(nxt)} at position {nxt.pos}: 'not' must be "
                    "followed by a parenthesised filter, e.g. not (title pr)."
                )
        self.advance()
        path = self.attr_path(tok)
        nxt = self.peek()
        if nxt.kind == "[":
            return self.value_path(tok, path, in_value_filter)
        return self.attr_exp(path)

    def value_path(self, attr_tok: _Token, path: AttrPath, in_value_filter: bool) -> ValuePath:
        """``attrPath "[" valFilter "]"``; the current token is the ``[``."""
        bracket = self.peek()
        self.check_value_path_start(attr_tok, path, bracket, in_value_filter)
        self.advance()
        self.enter(bracket)
        node = self.parse_or(True)
        self.closing_bracket = self.close(bracket, "]")
        after = self.peek()
        if after.kind == "word" and after.text.startswith(".") and self.subject == "filter":
            self.fail(
                f"Unexpected '{_clip(after.text)}' at position {after.pos}: a sub-attribute after "
                "']' is allowed only in PATCH paths; in a filter write e.g. "
                'emails[type eq "work" and value co "@example.com"].'
            )
        return ValuePath(path, node)

    def check_value_path_start(
        self, attr_tok: _Token, path: AttrPath, bracket: _Token, in_value_filter: bool
    ) -> None:
        if in_value_filter:
            self.fail(
                f"Unexpected '[' at position {bracket.pos}: value filters cannot be nested "
                "(RFC 7644 §3.4.2.2)."
            )
        if bracket.pos != attr_tok.end:
            self.fail(
                f"Unexpected space before '[' at position {bracket.pos}: write the value filter "
                f"directly after the attribute, e.g. {_clip(attr_tok.text)}[type eq \"work\"]."
            )
        if path.sub_attr is not None:
            self.fail(
                f"Unexpected '[' at position {bracket.pos}: a value filter must follow a "
                f"multi-valued attribute such as emails, not the sub-attribute "
                f"'{_clip(attr_tok.text)}'."
            )

    def attr_exp(self, path: AttrPath) -> Compare | Present:
        """``attrPath SP "pr"`` or ``attrPath SP compareOp SP compValue``."""
        tok = self.peek()
        op = tok.text.lower() if tok.kind == "word" else ""
        if op not in _OPERATOR_WORDS:
            self.unexpected(tok, _EXPECT_OPERATOR)
        self.terms += 1
        if self.terms > MAX_TERMS:
            self.fail(
                f"The {self.subject} has too many expressions at position {tok.pos}: at most "
                f"{MAX_TERMS} comparisons are allowed."
            )
        self.advance()
        if op == "pr":
            return Present(path)
        return Compare(path, op, self.comp_value())

    def comp_value(self) -> str | bool | int | float | None:
        tok = self.peek()
        if tok.kind == "string":
            self.advance()
            return tok.value
        if tok.kind != "word":
            self.unexpected(tok, _EXPECT_VALUE)
        word = tok.text.lower()
        if word in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[word]
        m = _NUMBER_RE.match(tok.text)
        if m is None:
            hint = ""
            if _NAME_RE.match(tok.text) or tok.text.startswith("'"):
                bare = tok.text.strip("'")
                hint = f'; put strings in double quotes, e.g. "{_clip(bare)}"'
            self.fail(
                f"Unexpected '{_clip(tok.text)}' at position {tok.pos}: "
                f"expected {_EXPECT_VALUE}{hint}."
            )
        self.advance()
        if m.group(1) is None and m.group(2) is None:
            return int(tok.text)
        number = float(tok.text)
        if math.isinf(number):
            self.fail(f"The number '{_clip(tok.text)}' at position {tok.pos} is out of range.")
        return number

    def attr_path(self, tok: _Token) -> AttrPath:
        """Split a word into ``[URI ":"] ATTRNAME ["." ATTRNAME]`` (URI up to the last colon)."""
        text, uri, rest = tok.text, None, tok.text
        if ":" in text:
            cut = text.rfind(":")
            uri, rest = text[:cut], text[cut + 1 :]
            if not _URI_RE.match(uri):
                self.fail(
                    f"Invalid schema URI '{_clip(uri)}' at position {tok.pos}: expected a URI "
                    "such as urn:ietf:params:scim:schemas:core:2.0:User before the attribute name."
                )
            if not rest:
                self.fail(
                    f"Missing attribute name after the schema URI '{_clip(uri)}' at position "
                    f"{tok.end}: expected e.g. {_clip(uri)}:userName."
                )
        m = _ATTR_RE.match(rest)
        if m is None:
            if tok.text.startswith("."):
                self.unexpected(tok, _EXPECT_ATTR)
            if rest.count(".") > 1 and all(_NAME_RE.match(p) for p in rest.split(".")):
                why = "an attribute path has at most one sub-attribute (attr.subAttr)"
            else:
                why = (
                    "attribute names start with a letter and contain only letters, digits, "
                    "'-' and '_', optionally followed by .subAttribute (e.g. name.familyName)"
                )
            self.fail(f"Invalid attribute path '{_clip(text)}' at position {tok.pos}: {why}.")
        return AttrPath(uri, m.group(1), m.group(2))

    # -- entry points

    def filter(self) -> Filter:
        node = self.parse_or(False)
        tok = self.peek()
        if tok.kind == ")":
            self.fail(f"Unexpected ')' at position {tok.pos}: there is no matching '('.")
        if tok.kind != "end":
            self.unexpected(tok, "'and', 'or' or the end of the filter")
        return node

    def patch_path(self) -> PatchPath:
        tok = self.peek()
        if tok.kind != "word":
            self.unexpected(
                tok, 'an attribute path such as members, name.givenName or emails[type eq "work"]'
            )
        self.advance()
        path = self.attr_path(tok)
        value_filter = sub_attr = None
        if self.peek().kind == "[":
            value_filter = self.value_path(tok, path, False).filter
            after = self.peek()
            if after.kind == "word" and after.text.startswith("."):
                sub = after.text[1:]
                if after.pos != self.closing_bracket.end:
                    self.fail(
                        f"Unexpected space before '{_clip(after.text)}' at position {after.pos}: "
                        "write the sub-attribute directly after ']'."
                    )
                if not _NAME_RE.match(sub):
                    self.fail(
                        f"Invalid sub-attribute '{_clip(after.text)}' at position {after.pos}: "
                        "expected '.' and one attribute name, e.g. emails[type eq \"work\"].value."
                    )
                self.advance()
                sub_attr = sub
            elif after.kind != "end":
                self.unexpected(after, "'.subAttribute' or the end of the path")
        elif self.peek().kind != "end":
            self.unexpected(self.peek(), "'[' or the end of the path")
        if self.peek().kind != "end":
            self.unexpected(self.peek(), "the end of the path")
        return PatchPath(path, value_filter, sub_attr)


def _check_text(text: object, error: type[ScimError], subject: str) -> str:
    if not isinstance(text, str):
        raise error(f"The {subject} must be a string, not {type(text).__name__}.")
    if len(text) > MAX_FILTER_LENGTH:
        raise error(
            f"The {subject} is {len(text)} characters long; "
            f"at most {MAX_FILTER_LENGTH} are allowed."
        )
    if not text.strip(_SPACE):
        raise error(f"The {subject} is empty.")
    return text


def parse_filter(text: str) -> Filter:
    """Parse a SCIM filter (RFC 7644 §3.4.2.2) into a :data:`Filter` tree.

    >>> parse_filter('userName eq "a@b.com"')
    Compare(path=AttrPath(uri=None, attr='userName', sub_attr=None), op='eq', value='a@b.com')

    Raises :class:`~gateway.errors.InvalidFilterError`, and nothing else, for any input
    that is not a valid filter (including non-strings, empty text and input beyond the
    module's size limits); its detail says what is wrong and at which 0-based position.
    """
    text = _check_text(text, InvalidFilterError, "filter")
    simple = _simple_compare(text)
    return simple if simple is not None else _Parser(text, InvalidFilterError, "filter").filter()


def _simple_compare(text: str) -> Compare | None:
    """The :class:`Compare` of a filter :data:`_SIMPLE_COMPARE_RE` matches, else ``None``
    (the parser then reads it, and reports what is wrong with it)."""
    match = _SIMPLE_COMPARE_RE.match(text)
    if match is None:
        return None
    attr, sub_attr, op, value = match.groups()
    op = op.lower()
    if op not in COMPARE_OPERATORS or not _is_unicode(value):
        return None
    return Compare(AttrPath(None, attr, sub_attr), op, value)


def _is_unicode(text: str) -> bool:
    """False if ``text`` holds an unpaired surrogate (not valid Unicode, not storable)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_patch_path(text: str) -> PatchPath:
    """Parse a PATCH operation ``path`` (RFC 7644 §3.5.2) into a :class:`PatchPath`.

    Accepts ``attr``, ``attr.sub``, ``urn:...:attr[.sub]``, ``attr[filter]`` and
    ``attr[filter].sub``.  Raises :class:`~gateway.errors.InvalidPathError`, and nothing
    else, for any input that is not a valid path; its detail says what is wrong and where.
    """
    text = _check_text(text, InvalidPathError, "path")
    return _Parser(text, InvalidPathError, "path").patch_path()


# --------------------------------------------------------------------------- rendering


def _render_path(path: AttrPath) -> str:
    text = path.attr if path.uri is None else f"{path.uri}:{path.attr}"
    return text if path.sub_attr is None else f"{text}.{path.sub_attr}"


def _render_value(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot render the non-finite number {value!r} in a filter")
        return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise ValueError(f"cannot render a comparison value of type {type(value).__name__}")


def _render(node: Filter, in_value_filter: bool) -> str:
    if isinstance(node, Compare):
        op = node.op.lower()
        if op not in COMPARE_OPERATORS:
            raise ValueError(f"unknown comparison operator {node.op!r}")
        return f"{_render_path(node.path)} {op} {_render_value(node.value)}"
    if isinstance(node, Present):
        return f"{_render_path(node.path)} pr"
    if isinstance(node, Not):
        return f"not ({_render(node.expr, in_value_filter)})"
    if isinstance(node, ValuePath):
        if in_value_filter:
            raise ValueError("value filters cannot be nested")
        if node.path.sub_attr is not None:
            raise ValueError("a value filter's attribute cannot have a sub-attribute")
        return f"{_render_path(node.path)}[{_render(node.filter, True)}]"
    if isinstance(node, And):
        left = _render(node.left, in_value_filter)
        right = _render(node.right, in_value_filter)
        if isinstance(node.left, Or):
            left = f"({left})"
        if isinstance(node.right, (And, Or)):
            right = f"({right})"
        return f"{left} and {right}"
    if isinstance(node, Or):
        left = _render(node.left, in_value_filter)
        right = _render(node.right, in_value_filter)
        if isinstance(node.right, Or):
            right = f"({right})"
        return f"{left} or {right}"
    raise ValueError(f"not a filter node: {node!r}")


def render(node: Filter) -> str:
    """Write a filter tree as canonical text: ``parse_filter(render(t)) == t``.

    Keywords and operators are lower case, single spaces separate tokens, strings are
    JSON with non-ASCII characters kept as they are, and parentheses appear only where
    precedence or left-associativity needs them (``a pr or (b pr or c pr)``).  Raises
    ``ValueError`` for a tree :func:`parse_filter` could never produce (an unknown
    operator, a non-finite float, a nested value filter, a value of another type).  The
    round trip holds for trees within :data:`MAX_TERMS` and :data:`MAX_NESTING_DEPTH`
    whose rendering fits in :data:`MAX_FILTER_LENGTH`.
    """
    return _render(node, False)
