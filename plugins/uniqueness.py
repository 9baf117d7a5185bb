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


def _check_email(label: str, address: str) -> None:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidValueError(f"{label} must be an email address: {address!r} is not ({error}).") from None


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
