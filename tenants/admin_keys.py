"""Admin API keys of the MSP: created by the CLI, hashed at rest, optionally scoped.

A key is ``scimgw_admin_`` followed by 256 random bits; only its SHA-256 is stored, as
with tenant tokens, so authentication is one indexed lookup. ``tenants`` (a list of
slugs) limits a key to those customers; ``None`` means every tenant.
"""

from __future__ import annotations

import hmac
import re

from peewee import IntegrityError

from . import secrets
from .clock import utcnow
from .db import database
from .models import AdminKey

ADMIN_PREFIX = "scimgw_admin_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


class AdminKeyError(Exception):
    """An admin-key operation that cannot be done; ``str()`` is a message for people."""


def create(name: str, tenants: list[str] | None = None) -> tuple[AdminKey, str]:
    """Create a key; returns the row and the secret (shown once)."""
    if not NAME_PATTERN.match(name or ""):
        raise AdminKeyError(f"Invalid key name {name!r}: 1-100 letters, digits and _ . @ -")
    secret = secrets.new_secret(ADMIN_PREFIX)
    try:
        with database.atomic():
            row = AdminKey.create(name=name, digest=secrets.digest(secret),
                                  # the column is VARCHAR(16), which PostgreSQL enforces
                                  prefix=secret[:AdminKey.prefix.max_length],
                                  tenants=sorted(set(tenants)) if tenants is not None else None)
    except IntegrityError:
        raise AdminKeyError(f"An admin key named {name!r} already exists.") from None
    return row, secret


def list_keys() -> list[AdminKey]:
    """Every admin key (revoked ones too), by name."""
    return list(AdminKey.select().order_by(AdminKey.name))


def revoke(name: str) -> AdminKey:
    """Revoke a key by name; it stops working at once."""
    row = AdminKey.get_or_none(AdminKey.name == name)
    if row is None:
        raise AdminKeyError(f"No admin key named {name!r}.")
    if row.revoked is None:
        row.revoked = utcnow()
        row.save()
    return row


def authenticate(secret: str) -> AdminKey | None:
    """The unrevoked key whose secret is ``secret``, else ``None`` (one indexed query)."""
    if not secret.startswith(ADMIN_PREFIX):
        return None
    wanted = secrets.digest(secret)
    row = AdminKey.get_or_none(AdminKey.digest == wanted)
    if row is None or row.revoked is not None or not hmac.compare_digest(row.digest, wanted):
        return None
    return row


def scope_of(key: AdminKey) -> list[str] | None:
    """The slugs ``key`` is limited to, or ``None`` for every tenant (stored as NULL)."""
    return list(key.tenants) if key.tenants is not None else None


def may_administer(key: AdminKey, slug: str) -> bool:
    """True if ``key`` may administer tenant ``slug``."""
    scope = scope_of(key)
    return scope is None or slug in scope
