"""The one place that decides when two names are "the same" for uniqueness and lookups.

userName and group displayName are unique per tenant case-insensitively (RFC 7643 marks
userName ``caseExact: false``). The folded key stored next to each name is:

1. Unicode NFC normalisation, so a composed ``É`` and ``E`` + combining acute are one name;
2. surrounding white space stripped;
3. :meth:`str.casefold`, the Unicode caseless-matching fold (``ß`` and ``SS`` match).

The database has a UNIQUE index on (tenant, folded key), so the database, not a
read-then-write check, decides duplicates.
"""

from __future__ import annotations

import unicodedata


def fold(name: str) -> str:
    """The comparison key of a userName or displayName (see the module docstring)."""
    return unicodedata.normalize("NFC", name).strip().casefold()
