"""The store: PostGIS through SQLAlchemy 2 + GeoAlchemy2, one :func:`connect` for everything."""

from gis.store.engine import connect, database_url, drop_database, ensure_database, server_info

__all__ = ["connect", "database_url", "drop_database", "ensure_database", "server_info"]
