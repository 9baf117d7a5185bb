"""Validation and uniqueness: userName must be an email address.

The gateway's database already keeps userName (and group displayName) unique per tenant,
case-insensitively, whatever plugins do; this plugin adds the seed's rule that a
userName is an email address, checked with the ``email-validator`` library (syntax only:
no DNS look-ups at request time). Internationalized addresses are accepted: Unicode
local parts (SMTPUTF8, ``josé@example.com``) and IDN domains in either spelling
(``bücher.de``, ``xn--bcher-kva.de``); reserved domains (``localhost``, ``.test``,
``.invalid``) and domains without a dot are not (``docs/identity.md``).

Options (``plugins.uniqueness.options``):

* ``require_email`` (default true): reject a userName that is not an email address with
  ``400 invalidValue``;
* ``check_emails`` (default true): reject an ``emails[].value`` that is not an email
  address with ``400 invalidValue`` (only for tenants that store ``emails``);
* ``unique_external_id`` (default false): also reject a User whose externalId another
  User of the tenant already has, with ``409 uniqueness``.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from marshmallow import Schema, fields

from gateway import InvalidValueError, UniquenessError, hookimpl

NAME = "uniqueness"
ENABLED_BY_DEFAULT = True


class Options(Schema):
    """Options of the uniqueness plugin."""

    require_email = fields.Boolean(load_default=True,
                                   metadata={"description": "userName must be an email address."})
    check_emails = fields.Boolean(load_default=True,
                                  metadata={"description": "emails[].value must be email addresses."})
    unique_external_id = fields.Boolean(load_default=False,
                                        metadata={"description": "externalId must be unique among Users."})


@hookimpl
def scim_plugin_options():
    """This plugin's options."""
    return Options


#: An address whose local part is a plain ASCII dot-atom (RFC 5322 ``atext`` runs joined by
#: single dots); group 1 is its domain, as written.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9.-]+)")
#: Lengths the shortcut stays within: RFC 5321's 64 characters before the ``@``, 254 in all.
_LOCAL_MAX, _ADDRESS_MAX = 64, 254
#: Domains (as written) that email-validator accepted after a plain local part; bounded.
_ACCEPTED_DOMAINS: set[str] = set()
_ACCEPTED_DOMAINS_MAX = 1024


def _known_plain(address: str) -> str | None:
    """The domain of ``address`` if it is plain and within the limits, else ``None``."""
    match = _PLAIN_ADDRESS.fullmatch(address)
    if match is None or len(address) > _ADDRESS_MAX or match.start(1) - 1 > _LOCAL_MAX:
        return None
    return match.group(1)


def _check_email(label: str, address: str) -> None:
    """Raise ``400 invalidValue`` unless email-validator accepts ``address``.

    A sync checks thousands of addresses at one domain, and most of email-validator's
    50 us per address goes to the domain (IDNA and Unicode checks). For a plain ASCII
    local part within the length limits its verdict is the domain's, so a domain it
    accepted once is not checked again (tests/test_email_syntax.py holds the shortcut to
    email-validator's answers).
    """
    domain = _known_plain(address)
    if domain is not None and domain in _ACCEPTED_DOMAINS:
        return
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidValueError(f"{label} must be an email address: {address!r} is not ({error}).") from None
    if domain is not None:
        if len(_ACCEPTED_DOMAINS) >= _ACCEPTED_DOMAINS_MAX:
            _ACCEPTED_DOMAINS.clear()
        _ACCEPTED_DOMAINS.add(domain)


def _new_emails(resource: dict, current: dict | None) -> list[str]:
    """``emails[].value`` of ``resource`` that ``current`` does not already have."""
    known = {item.get("value") for item in (current or {}).get("emails") or [] if isinstance(item, dict)}
    return [item["value"] for item in resource.get("emails") or []
            if isinstance(item, dict) and isinstance(item.get("value"), str) and item["value"] not in known]


def _check_external_id(tenant, resource: dict, current: dict | None) -> None:
    external_id = resource.get("externalId")
    if not external_id or (current and current.get("externalId") == external_id):
        return
    quoted = external_id.replace("\\", "\\\\").replace('"', '\\"')
    others = set(tenant.matching_ids("User", f'externalId eq "{quoted}"')) - {(current or {}).get("id")}
    if others:
        raise UniquenessError(f"externalId {external_id!r} is already used by another user of this tenant.")


@hookimpl(trylast=True)
def scim_validate_resource(tenant, resource_type, resource, current):
    """Reject non-email userNames and emails (and duplicate externalIds when configured)."""
    if resource_type != "User":
        return
    options = tenant.options_for(NAME)
    user_name = resource.get("userName")
    if options.get("require_email", True) and user_name and (current or {}).get("userName") != user_name:
        _check_email("userName", user_name)
    if options.get("check_emails", True):
        for address in _new_emails(resource, current):
            _check_email("emails.value", address)
    if options.get("unique_external_id"):
        _check_external_id(tenant, resource, current)
