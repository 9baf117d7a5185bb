"""The data layer: peewee models, database binding, migrations and tenant-scoped repositories.

Nothing here imports :mod:`gateway`; the HTTP layer depends on this package, never the reverse.
"""
