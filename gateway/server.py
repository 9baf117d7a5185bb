"""Run the app under gunicorn from Python (``scim-gateway serve``)."""

from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication


class GatewayServer(BaseApplication):
    """A gunicorn application whose workers each build the app with :func:`create_app`."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        return create_app()


def run(*, bind: str, workers: int, threads: int) -> None:
    """Serve until stopped (SIGINT/SIGTERM): gthread workers, logs on stderr.

    Each request is logged once by the app (:mod:`gateway.access_log`), as JSON unless
    ``SCIM_GATEWAY_LOG_FORMAT`` says ``text``; gunicorn's own access log is off, as its
    plain-text line would repeat the request with its query string.
    """
    os.environ.setdefault("SCIM_GATEWAY_LOG_FORMAT", "json")  # read by every worker's create_app
    GatewayServer({
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": None,
        "timeout": 60,
        "graceful_timeout": 10,
        "control_socket_disable": True,
    }).run()
