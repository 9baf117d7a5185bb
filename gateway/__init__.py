"""SCIM gateway: a multi-tenant SCIM 2.0 provisioning gateway (the HTTP layer).

Build the application with :func:`gateway.app.create_app`; ``wsgi.py`` does that for WSGI
servers.
"""
