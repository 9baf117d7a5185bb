"""The one place that decides when two names are "the same", and which names are refused.

userName and group displayName are unique per tenant case-insensitively (RFC 7643 marks
userName ``caseExact: false``). The folded key stored next to each name is:

1. Unicode NFC normalisation, so a composed ``É`` and ``E`` + combining acute are one name;
2. surrounding white space stripped;
3. :meth:`str.casefold`, Unicode's full default case folding, locale-independent: ``ß``,
   ``ẞ``, ``SS`` and ``ss`` match; the Turkish dotless ``ı`` stays a letter of its own, and
   the dotted capital ``İ`` folds to ``i`` + combining dot above (U+0307), not to ``i``.

The database has a UNIQUE index on (tenant, folded key), so the database, not a
read-then-write check, decides duplicates.

Folding never hides a character: what it cannot make visible it refuses instead, so
two names that look alike are either the same key or one of them was rejected
(``docs/identity.md`` has the table). :func:`check_identifier` (userName) follows the
PRECIS IdentifierClass (RFC 8264 §4.2) in spirit and the ``email-validator`` library's
safety rule: no control, format (zero-width, bidi, soft hyphen, BOM), surrogate,
private-use, unassigned or line/paragraph-separator code points, no leading combining
mark, and no compatibility characters (full-width ``ｂｏｂ``, ligatures, super-scripts,
no-break spaces: NFKC would change them), which are refused rather than silently
mapped. :func:`check_free_form` (group displayName, a human-readable label) refuses
only what breaks text: controls, surrogates, separators, and format characters other
than the zero-width joiners and tag characters that emoji and several scripts need.
"""

from __future__ import annotations

import unicodedata

#: Format characters a free-form name may contain: ZWNJ and ZWJ (Persian, Indic scripts,
#: emoji sequences) and the tag characters of flag emoji (U+E0020..U+E007F).
JOINERS = frozenset({"\u200c", "\u200d"})
TAGS = range(0xE0020, 0xE0080)
_SEPARATORS = frozenset({"Zl", "Zp"})


class UnsafeName(ValueError):
    """A name the gateway refuses to store; the message says why, for a person."""


def fold(name: str) -> str:
    """The comparison key of a userName or displayName (see the module docstring)."""
    return unicodedata.normalize("NFC", name).strip().casefold()


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


def _check_blank(name: str) -> None:
    if not name.strip():
        raise UnsafeName("it is empty once surrounding white space is removed")


def check_identifier(name: str) -> None:
    """Refuse a userName that could pass for another one (:class:`UnsafeName`)."""
    _check_blank(name)
    for char in name:
        category = unicodedata.category(char)
        if category[0] == "C" or category in _SEPARATORS:
            raise UnsafeName(f"it contains the invisible or control character {_describe(char)}")
    if unicodedata.category(name.lstrip()[0])[0] == "M":
        raise UnsafeName(f"it starts with the combining mark {_describe(name.lstrip()[0])}")
    if unicodedata.normalize("NFKC", name) != unicodedata.normalize("NFC", name):
        char = next((c for c in name if unicodedata.normalize("NFKC", c) != unicodedata.normalize("NFC", c)),
                    None)
        shown = _describe(char) if char else "a compatibility character"
        raise UnsafeName(f"it contains {shown}, a compatibility form: send the plain character instead")


def check_free_form(name: str) -> None:
    """Refuse a free-form name (group displayName) that breaks text (:class:`UnsafeName`)."""
    _check_blank(name)
    for char in name:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or category in _SEPARATORS or (
            category == "Cf" and char not in JOINERS and ord(char) not in TAGS
        ):
            raise UnsafeName(f"it contains the invisible or control character {_describe(char)}")
