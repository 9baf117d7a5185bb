"""WSGI entry point for gunicorn and friends: ``gunicorn wsgi:app``."""

from gateway.app import create_app

app = create_app()
