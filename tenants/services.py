"""Tenant administration shared by the CLI and the admin API.

Each function runs in its own transaction and returns plain values; secrets are returned
exactly once, from the call that created them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import re
import time
from dataclasses import dataclass

from peewee import IntegrityError

from . import secrets as tokens
from .clock import utcnow
from .db import database, is_sqlite
from .models import Tenant, TenantToken
from .prepared import Prepared
from .records import RecordReader

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class TenantError(Exception):
    """A tenant operation that cannot be done; ``str()`` is a message for people."""


class TenantExists(TenantError):
    """A tenant with that slug already exists."""


class TenantNotFound(TenantError):
    """No tenant with that slug."""


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: the secret (shown once) and its display prefix."""

    secret: str
    prefix: str


def _changes_tokens(function):
    """For a service function that changes tokens or tenants: once it has run, this process
    reads every token's row again (:func:`forget_tokens`), so the change counts here at once."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            forget_tokens()

    return run


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it is a valid tenant slug (lower-case DNS label), else raise."""
    if not SLUG_PATTERN.match(slug or ""):
        raise TenantError(
            f"Invalid tenant slug {slug!r}: use 1-63 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit."
        )
    return slug


def get_tenant(slug: str) -> Tenant:
    """The tenant with ``slug``, or :class:`TenantNotFound`."""
    tenant = Tenant.get_or_none(Tenant.slug == slug)
    if tenant is None:
        raise TenantNotFound(f"No tenant {slug!r}.")
    return tenant


def list_tenants() -> list[Tenant]:
    """Every tenant, ordered by slug."""
    return list(Tenant.select().order_by(Tenant.slug))


def _issue_token(tenant: Tenant, expires: dt.datetime | None = None) -> IssuedToken:
    secret = tokens.new_secret()
    TenantToken.create(
        tenant=tenant,
        digest=tokens.digest(secret),
        prefix=tokens.display_prefix(secret),
        expires=expires,
    )
    return IssuedToken(secret=secret, prefix=tokens.display_prefix(secret))


def create_tenant(slug: str, name: str | None = None) -> tuple[Tenant, IssuedToken]:
    """Create an enabled tenant with one token; returns the tenant and the token (shown once)."""
    validate_slug(slug)
    try:
        with database.atomic():
            tenant = Tenant.create(slug=slug, name=name or slug)
            token = _issue_token(tenant)
    except IntegrityError:
        raise TenantExists(f"A tenant {slug!r} already exists.") from None
    return tenant, token


@_changes_tokens
def issue_token(slug: str, grace_seconds: int | None = None) -> IssuedToken:
    """Issue a new token for a tenant.

    With ``grace_seconds`` set, every older token still valid expires that many seconds
    from now (rotation); without it, older tokens stay valid.
    """
    tenant = get_tenant(slug)
    with database.atomic():
        if grace_seconds is not None:
            if grace_seconds < 0:
                raise TenantError("grace_seconds must be zero or more.")
            deadline = utcnow() + dt.timedelta(seconds=grace_seconds)
            (
                TenantToken.update(expires=deadline)
                .where(
                    (TenantToken.tenant == tenant)
                    & TenantToken.revoked.is_null()
                    & (TenantToken.expires.is_null() | (TenantToken.expires > deadline))
                )
                .execute()
            )
        return _issue_token(tenant)


def set_enabled(slug: str, enabled: bool) -> Tenant:
    """Turn a tenant's Enabled toggle on or off."""
    return update_tenant(slug, enabled=enabled)


@_changes_tokens
def update_tenant(slug: str, *, name: str | None = None, enabled: bool | None = None,
                  settings: dict | None = None) -> Tenant:
    """Change a tenant's name, Enabled toggle and/or settings (already validated).

    Bumps ``updated``, which is the settings version every worker keys its per-tenant
    plugin set on, so a change takes effect in this process on the next request, and in
    every other within :data:`TRUST_SECONDS` (when it reads the tenant again).
    """
    tenant = get_tenant(slug)
    if name is not None:
        tenant.name = name
    if enabled is not None:
        tenant.enabled = enabled
    if settings is not None:
        tenant.settings = settings
    tenant.updated = max(utcnow(), tenant.updated + dt.timedelta(milliseconds=1))
    tenant.save()
    return tenant


@_changes_tokens
def delete_tenant(slug: str) -> None:
    """Delete a tenant with all its tokens, users, groups and memberships."""
    tenant = get_tenant(slug)
    with database.atomic():
        if not is_sqlite():
            # The tenant's row first: a concurrent create in it then waits at its foreign-key
            # check, before its trigger (migration 0010) takes a tally row. Deleting the users
            # first took this delete's tally row, and a create in the same slot deadlocked.
            Tenant.select(Tenant.id).where(Tenant.id == tenant.id).for_update().execute()
        tenant.delete_instance(recursive=True)


def token_is_current(token: TenantToken, now: dt.datetime | None = None) -> bool:
    """True if ``token`` is neither revoked nor expired."""
    now = now or utcnow()
    return token.revoked is None and (token.expires is None or token.expires > now)


def token_summaries(tenant: Tenant) -> list[dict]:
    """Each token of ``tenant`` as ``{"prefix", "created", "expires", "state"}`` (no secrets)."""
    now = utcnow()
    rows = TenantToken.select().where(TenantToken.tenant == tenant).order_by(TenantToken.created)
    return [
        {
            "prefix": row.prefix,
            "created": row.created.isoformat(),
            "expires": row.expires.isoformat() if row.expires else None,
            "state": "current" if token_is_current(row, now) else ("revoked" if row.revoked else "expired"),
        }
        for row in rows
    ]


_TOKEN_BY_DIGEST = Prepared(
    lambda digest: TenantToken.select(TenantToken, Tenant).join(Tenant).where(TenantToken.digest == digest).limit(1),
    server_side=True,
)
# The row above holds the token's columns, then its tenant's (tenants.records).
_TOKENS, _TENANTS = RecordReader(TenantToken), RecordReader(Tenant)
#: digest -> (the row last read for it, the token and tenant made from that row, when
#: it was read: time.monotonic()).
_MADE_FROM: dict[str, tuple[tuple, TenantToken, float]] = {}
#: The most tokens whose instances are kept; past it the cache starts again.
MADE_FROM_LIMIT = 4096
#: How long (seconds) a token's row, once read, answers for it without being read again.
#: A change made by another process (a revoked token, a disabled tenant, new settings)
#: reaches this one within this time; one made here through this module, at once.
TRUST_SECONDS = 0.5


def forget_tokens() -> None:
    """Read every token's row again on its next use (this process has just changed one)."""
    _MADE_FROM.clear()


def authenticate(secret: str) -> TenantToken | None:
    """The current token whose secret is ``secret`` (with its tenant loaded), else ``None``.

    One indexed query on the digest (its SQL built once), at most every
    :data:`TRUST_SECONDS` per token and process: this runs on every SCIM request, and the
    query was one of the two statements of a lookup. So a revoked token or a disabled
    tenant is refused by every process within that time (issue 6 allows one second),
    and at once by the process that made the change (:func:`forget_tokens`). An unknown
    secret is looked up every time: a token just issued elsewhere works at once. When a
    row read again is unchanged, the instances made from it before are returned again
    instead of new ones: the token and its tenant are shared by the requests of a process
    and are only read, never changed or saved. Expiry is checked on every call.
    """
    wanted = tokens.digest(secret)
    known = _MADE_FROM.get(wanted)
    now = time.monotonic()
    if known is not None and now - known[2] < TRUST_SECONDS:
        token = known[1]
    else:
        row = _TOKEN_BY_DIGEST.execute(wanted).fetchone()
        if row is None:
            _MADE_FROM.pop(wanted, None)
            return None
        row = tuple(row)  # psycopg2 and sqlite3 rows alike, compared as tuples
        if known is not None and known[0] == row:
            token = known[1]
        else:
            token = _TOKENS.instance(row)
            token.tenant = _TENANTS.instance(row, start=_TOKENS.width)
            token._dirty.clear()
            if len(_MADE_FROM) >= MADE_FROM_LIMIT:
                _MADE_FROM.clear()
        _MADE_FROM[wanted] = (row, token, now)
    if not hmac.compare_digest(token.digest, wanted) or not token_is_current(token):
        return None
    return token


def page_tenants(offset: int, limit: int, slugs: list[str] | None = None) -> tuple[int, list[Tenant]]:
    """``(total, tenants of one page)`` ordered by slug: two queries.

    ``slugs`` limits the list to those tenants (an admin key scoped to some customers);
    ``None`` means every tenant.
    """
    query = Tenant.select()
    if slugs is not None:
        if not slugs:
            return 0, []
        query = query.where(Tenant.slug.in_(list(slugs)))
    total = query.count()
    if limit <= 0 or offset >= total:
        return total, []
    return total, list(query.order_by(Tenant.slug).offset(offset).limit(limit))


def _contains(field, value: str):
    """``field LIKE '%value%'`` with the value's wildcards escaped (LIKE is case-sensitive here)."""
    from peewee import SQL, NodeList, Value

    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return NodeList((field, SQL("LIKE"), Value(f"%{escaped}%"), SQL("ESCAPE '\\'")))


def search_users(tenant: Tenant, q: str | None, offset: int, limit: int) -> tuple[int, list]:
    """``(total, users of one page)`` of a tenant, ordered by userName: two queries.

    ``q`` matches a part of userName (through its case-folded key), givenName or
    familyName, case-insensitively. Tombstoned users are never listed (the tenant-scoped
    :class:`~tenants.repositories.UserRepository` hides them).
    """
    from peewee import fn

    from .keys import fold
    from .models import User
    from .repositories import UserRepository

    where = None
    if q:
        lowered = q.strip().lower()
        where = (_contains(User.user_name_key, fold(q))
                 | _contains(fn.LOWER(User.given_name), lowered)
                 | _contains(fn.LOWER(User.family_name), lowered))
    return UserRepository(tenant).page(where, offset, limit, order=(User.user_name_key, User.id))


class TokenNotFound(TenantError):
    """No token of the tenant has that prefix."""


def list_tokens(tenant: Tenant) -> list[TenantToken]:
    """The tenant's tokens (revoked and expired ones too), oldest first; see :func:`token_state`."""
    return list(TenantToken.select().where(TenantToken.tenant == tenant.id)
                .order_by(TenantToken.created, TenantToken.id))


def token_state(token: TenantToken, now: dt.datetime | None = None) -> str:
    """``current``, ``revoked`` or ``expired``."""
    if token_is_current(token, now):
        return "current"
    return "revoked" if token.revoked is not None else "expired"


@_changes_tokens
def revoke_token(slug: str, prefix: str) -> int:
    """Revoke, at once, the tenant's tokens whose display prefix is ``prefix``.

    Returns how many were revoked now (0 if all of them were already revoked);
    :class:`TokenNotFound` if the tenant has no token with that prefix.
    """
    tenant = get_tenant(slug)
    with database.atomic():
        matching = TenantToken.select(TenantToken.id).where(
            (TenantToken.tenant == tenant.id) & (TenantToken.prefix == prefix))
        if not matching.exists():
            raise TokenNotFound(f"Tenant {slug!r} has no token {prefix!r}.")
        return (TenantToken.update(revoked=utcnow())
                .where((TenantToken.tenant == tenant.id) & (TenantToken.prefix == prefix)
                       & TenantToken.revoked.is_null())
                .execute())
