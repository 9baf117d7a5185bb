"""Liveness and readiness endpoints for load balancers and orchestrators."""

from __future__ import annotations

import os

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from tenants.db import database, is_sqlite

blp = Blueprint("ops", __name__, description="Health checks.")


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(summary="Liveness: the process answers", security=[])
    @blp.alt_response(200, description='{"status": "ok"}', success=True)
    def get(self):
        return jsonify(status="ok")


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(summary="Readiness: the database answers a query", security=[])
    @blp.alt_response(200, description='{"status": "ready"}', success=True)
    @blp.alt_response(503, description='{"status": "unavailable", "detail": ...}')
    def get(self):
        if is_sqlite() and not os.path.isfile(database.obj.database):
            # A pooled connection would still answer from the deleted file's inode.
            return jsonify(status="unavailable", detail="database file missing"), 503
        try:
            database.connect(reuse_if_open=True)
            database.execute_sql("SELECT 1").fetchone()
        except Exception as error:  # any driver error means "not ready"
            return jsonify(status="unavailable", detail=type(error).__name__), 503
        return jsonify(status="ready")
