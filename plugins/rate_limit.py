"""Fair sharing: a per-tenant SCIM request rate, so one tenant's initial sync cannot starve
the others on the same gateway.

Options (``plugins.rate-limit.options``):

* ``limit`` (default ``"6000/minute"``, i.e. 100 requests a second on average): any rate
  in the ``limits`` notation (``"50/second"``, ``"10000/hour"``, ``"100/second;5000/minute"``).

Turn the plugin off for a tenant (``"enabled": false``) to leave it unlimited.
"""

from __future__ import annotations

from limits import parse_many
from marshmallow import Schema, ValidationError, fields

from gateway import hookimpl

NAME = "rate-limit"
ENABLED_BY_DEFAULT = True
DEFAULT_LIMIT = "6000/minute"


def _check(value: str) -> None:
    try:
        parse_many(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a rate such as '6000/minute' or '50/second'.") from None


class Options(Schema):
    """Options of the rate-limit plugin."""

    limit = fields.String(load_default=DEFAULT_LIMIT, validate=_check,
                          metadata={"description": "Requests allowed per tenant, e.g. '6000/minute'."})


@hookimpl
def scim_plugin_options():
    """This plugin's options."""
    return Options


@hookimpl(trylast=True)
def scim_rate_limit(tenant):
    """The tenant's configured rate, or the default."""
    return tenant.options_for(NAME).get("limit", DEFAULT_LIMIT)
