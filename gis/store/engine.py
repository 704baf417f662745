"""One way to reach the database: :func:`connect`.

``DATABASE_URL`` (any PostgreSQL + PostGIS server) wins; without it the embedded cluster is
started on demand (:mod:`gis.store.cluster`). URLs in libpq form (``postgresql://user@host/db``)
are accepted and given the psycopg 3 driver.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from gis import settings
from gis._errors import ConfigError, StoreError
from gis.store import cluster


def normalise_url(url: str) -> str:
    """Give a libpq-style URL the psycopg 3 driver (``postgresql+psycopg://``)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("postgresql+psycopg2://"):
        return "postgresql+psycopg://" + url[len("postgresql+psycopg2://"):]
    if not url.startswith("postgresql+psycopg://"):
        msg = f"DATABASE_URL={url!r} is not a PostgreSQL URL; expected postgresql://user@host:port/db"
        raise ConfigError(msg)
    return url


def database_url(start: bool = True) -> str:
    """URL of the application database; starts the embedded cluster when needed."""
    if settings.DATABASE_URL:
        return normalise_url(settings.DATABASE_URL)
    c = cluster.start() if start else cluster.locate()
    return c.url()


def with_database(url: str, name: str) -> str:
    """The same server as ``url`` with another database name."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@functools.cache
def _engine(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                            future=True)


def connect(url: str | None = None) -> Engine:
    """Engine for ``url`` (default: :func:`database_url`), created once per URL.

    The database is created (with the postgis extension and the schema migrated to the
    newest revision) the first time it is reached.
    """
    url = url or database_url()
    engine = _engine(url)
    _ensure_ready(url)
    return engine


@functools.cache
def _ensure_ready(url: str) -> None:
    from gis.store.schema import upgrade

    ensure_database(url)
    upgrade(_engine(url))


def ensure_database(url: str) -> None:
    """Create the database of ``url`` if missing, then ``CREATE EXTENSION postgis``."""
    u: URL = make_url(url)
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("select 1 from pg_database where datname = :n"),
                                  {"n": u.database}).scalar()
            if not exists:
                conn.execute(sa.text(f'create database "{u.database}"'))
    except sa.exc.OperationalError as e:
        msg = f"cannot reach PostgreSQL at {u.render_as_string()}: {e.orig}. Start it with " \
              "'wangge db start' or fix DATABASE_URL"
        raise StoreError(msg) from e
    finally:
        admin.dispose()
    eng = sa.create_engine(u, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.execute(sa.text("create extension if not exists postgis"))
    except sa.exc.DBAPIError as e:
        msg = f"cannot create the postgis extension in {u.database}: {e.orig}. Install " \
              "postgresql-15-postgis-3 on the server"
        raise StoreError(msg) from e
    finally:
        eng.dispose()


def drop_database(url: str) -> None:
    """Drop the database of ``url`` (closing its other connections first)."""
    u = make_url(url)
    _engine.cache_clear()
    _ensure_ready.cache_clear()
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{u.database}" with (force)'))
    admin.dispose()


def server_info(engine: Engine) -> dict[str, str]:
    """Versions of PostgreSQL and PostGIS behind ``engine``."""
    try:
        with engine.connect() as conn:
            pg = conn.execute(sa.text("show server_version")).scalar()
            postgis = conn.execute(sa.text("select postgis_lib_version()")).scalar()
    except sa.exc.DBAPIError as e:
        msg = f"database unreachable: {e.orig}"
        raise StoreError(msg) from e
    return {"postgresql": str(pg), "postgis": str(postgis)}
