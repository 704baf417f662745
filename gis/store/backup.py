"""Backup and restore of a wangge database with ``pg_dump`` / ``pg_restore`` (custom format).

Works for the embedded cluster and for any server of ``DATABASE_URL``. A restore never
touches the target until the dump has been restored completely: it goes into a scratch
database first (``pg_restore --single-transaction --exit-on-error``), is checked, and only
then replaces the target (drop + rename), so a failed restore leaves the old data in place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from gis import settings
from gis._errors import StoreError

ROLES_BEFORE_RESTORE: tuple[str, ...] = ("wangge_app",)
"""Roles that objects of the dump may be granted to; created (NOLOGIN) before a restore."""


@dataclass
class BackupReport:
    """What a backup or restore did.

    Attributes
    ----------
    path : the dump file.
    database : the database dumped from or restored into.
    bytes : size of the dump file in bytes.
    rows : exact row count per table of schema ``public``.
    """

    path: str
    database: str
    bytes: int
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def libpq_uri(url: str) -> str:
    """The libpq connection URI of a SQLAlchemy URL (``postgresql+psycopg://`` → ``postgresql://``).

    A unix-socket ``host`` query parameter is kept, so the embedded cluster works too.
    """
    u = make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: Debian's versioned binary first, then PATH."""
    versioned = Path(settings.PG_BIN) / name
    if versioned.exists():
        return str(versioned)
    found = shutil.which(name)
    if found is None:
        msg = f"{name} not found: install Debian's postgresql-client-15 (make demo does it)"
        raise StoreError(msg)
    return found


def _run(args: list[str], what: str) -> None:
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    res = subprocess.run(args, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        msg = f"{what} failed (exit {res.returncode}): {' | '.join(detail[-5:])}"
        raise StoreError(msg)


def row_counts(url: str) -> dict[str, int]:
    """Exact row count of every table of schema ``public`` (``alembic_version`` included)."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            names = conn.execute(sa.text(
                "select tablename from pg_tables where schemaname = 'public' "
                "and tablename <> 'spatial_ref_sys' order by tablename")).scalars().all()
            return {n: int(conn.execute(sa.text(f'select count(*) from public."{n}"')).scalar_one())
                    for n in names}
    finally:
        eng.dispose()


def backup(url: str, path: str | Path) -> BackupReport:
    """Dump the database of ``url`` to ``path`` (``pg_dump --format=custom``).

    The dump is written to ``path.partial`` and renamed when complete, so ``path`` is never a
    half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    counts = row_counts(url)
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}",
          f"--dbname={libpq_uri(url)}"], f"pg_dump of {make_url(url).database}")
    partial.replace(path)
    return BackupReport(str(path), str(make_url(url).database), path.stat().st_size, counts)


def _admin(url: str) -> sa.Engine:
    return sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def database_exists(url: str) -> bool:
    """Whether the database of ``url`` exists on its server."""
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            return bool(conn.execute(sa.text("select 1 from pg_database where datname = :n"),
                                     {"n": make_url(url).database}).scalar())
    finally:
        admin.dispose()


def _holds_data(url: str) -> bool:
    if not database_exists(url):
        return False
    return any(n != "alembic_version" and c > 0 for n, c in row_counts(url).items())


def restore(url: str, path: str | Path, *, replace: bool = False) -> BackupReport:
    """Restore the dump ``path`` into the database of ``url``.

    Parameters
    ----------
    url : target database (created when missing).
    path : a ``pg_dump --format=custom`` file (from :func:`backup`).
    replace : allow replacing a target that already holds rows; without it such a target is
        refused with a clear error.

    Returns
    -------
    BackupReport
        With the exact row counts of the restored database.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"backup file {path} not found"
        raise StoreError(msg)
    target = str(make_url(url).database)
    if not replace and _holds_data(url):
        msg = f"database {target} already holds data: restore into another database " \
              "(--database NAME) or pass --replace to replace it"
        raise StoreError(msg)
    scratch = f"{target}_restore_{uuid.uuid4().hex[:8]}"
    scratch_url = make_url(url).set(database=scratch).render_as_string(hide_password=False)
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            for role in ROLES_BEFORE_RESTORE:
                conn.execute(sa.text(
                    "do $$ begin if not exists (select 1 from pg_roles where rolname = "
                    f"'{role}') then create role {role} nologin; end if; end $$"))
            conn.execute(sa.text(f'create database "{scratch}"'))
        try:
            _run([_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction",
                  f"--dbname={libpq_uri(scratch_url)}", str(path)], f"pg_restore of {path.name}")
            counts = row_counts(scratch_url)
        except Exception:
            with admin.connect() as conn:
                conn.execute(sa.text(f'drop database if exists "{scratch}" with (force)'))
            raise
        from gis.store.engine import _engine, _ensure_ready

        _engine.cache_clear()
        _ensure_ready.cache_clear()
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{target}" with (force)'))
            conn.execute(sa.text(f'alter database "{scratch}" rename to "{target}"'))
    finally:
        admin.dispose()
    return BackupReport(str(path), target, path.stat().st_size, counts)
