"""Run the app under gunicorn from Python (``scim-gateway serve``)."""

from __future__ import annotations

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
    """Serve until stopped (SIGINT/SIGTERM): gthread workers, access log to stdout."""
    GatewayServer({
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "timeout": 60,
        "graceful_timeout": 10,
        "control_socket_disable": True,
    }).run()
