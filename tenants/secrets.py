"""Bearer secrets: generation, hashing and the display prefix.

A secret is ``scimgw_`` followed by 43 URL-safe characters (256 random bits). Only its
SHA-256 is stored; a fast hash is right here because the secret itself has 256 bits of
entropy (nothing to brute-force), and lookups by digest use a UNIQUE index so auth is one
indexed query. The short prefix is kept in clear so an admin can tell tokens apart.
"""

from __future__ import annotations

import hashlib
import secrets

SECRET_PREFIX = "scimgw_"
DISPLAY_PREFIX_LENGTH = 12


def new_secret(prefix: str = SECRET_PREFIX) -> str:
    """A fresh random secret with 256 bits of entropy."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The hex SHA-256 of a secret: what the database stores and looks up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def display_prefix(secret: str) -> str:
    """The first characters of a secret, safe to show and log to identify it."""
    return secret[:DISPLAY_PREFIX_LENGTH]
