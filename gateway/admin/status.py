"""Provisioning status of a tenant: ``/admin/v1/tenants/<slug>/status``."""

from __future__ import annotations

from flask import g
from flask.views import MethodView

from tenants import stats

from . import schemas
from .blueprint import blp, errors


@blp.route("/tenants/<slug>/status")
class Status(MethodView):
    """Provisioning status."""

    @blp.response(200, schemas.StatusSchema)
    @errors(401, 404)
    def get(self):
        """Show provisioning status: users and groups so far, last SCIM request, recent errors

        Counts are read with the tenant's indexes (a few queries whatever its size);
        `requests_24h` and `errors_24h` count authenticated SCIM requests of the last
        24 hours (errors: status 400 or more). Counters reach the database within about
        a second of the requests.
        """
        return stats.status(g.tenant)
