"""Grid versions: ``draft`` → ``published`` (with an effective date) → ``retired``.

The version in force on a date is the published version of the county with the latest
effective date on or before that date.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis._errors import NotFoundError
from gis.store.models import GridVersion


def create_version(conn: Connection, adcode: str, name: str, *, created_by: str | None = None,
                   note: str | None = None) -> int:
    """Insert a new draft version of county ``adcode``; returns its id."""
    return conn.execute(sa.insert(GridVersion).values(
        adcode=adcode, name=name, status="draft", created_by=created_by, note=note,
    ).returning(GridVersion.id)).scalar_one()


def latest_draft(conn: Connection, adcode: str, create: bool = True) -> int | None:
    """Id of the newest draft of ``adcode`` (a new one named "导入草稿" when none and ``create``)."""
    vid = conn.execute(sa.select(GridVersion.id).where(
        GridVersion.adcode == adcode, GridVersion.status == "draft",
    ).order_by(GridVersion.id.desc()).limit(1)).scalar()
    if vid is None and create:
        vid = create_version(conn, adcode, "导入草稿")
    return vid


def get_version(conn: Connection, version_id: int) -> dict[str, object]:
    """The version row as a dict; NotFoundError when it does not exist."""
    t = GridVersion.__table__
    row = conn.execute(sa.select(t).where(t.c.id == version_id)).mappings().first()
    if row is None:
        msg = f"grid version {version_id} does not exist; list versions with 'wangge grids versions'"
        raise NotFoundError(msg)
    return dict(row)


def list_versions(conn: Connection, adcode: str | None = None) -> list[dict[str, object]]:
    """All versions (of ``adcode`` when given), newest first, with their grid counts."""
    q = sa.text("""
        select v.id, v.adcode, v.name, v.status, v.effective_date, v.created_at,
               count(g.id) filter (where g.level = 1) as villages,
               count(g.id) filter (where g.level = 2) as groups
        from grid_version v left join grid g on g.version_id = v.id
        where (cast(:adcode as text) is null or v.adcode = :adcode)
        group by v.id order by v.id desc""")
    return [dict(r) for r in conn.execute(q, {"adcode": adcode}).mappings()]


def publish_simple(conn: Connection, version_id: int, effective: date) -> None:
    """Mark a draft published from ``effective`` on (the full checked publish is in planning)."""
    v = get_version(conn, version_id)
    if v["status"] != "draft":
        msg = f"grid version {version_id} is {v['status']}, only a draft can be published"
        raise NotFoundError(msg)
    conn.execute(sa.update(GridVersion).where(GridVersion.id == version_id)
                 .values(status="published", effective_date=effective))


def in_force(conn: Connection, adcode: str | None = None, on: date | None = None) -> int | None:
    """Id of the published version in force on ``on`` (default today), or None."""
    on = on or date.today()
    return conn.execute(sa.select(GridVersion.id).where(
        GridVersion.status == "published", GridVersion.effective_date <= on,
        (GridVersion.adcode == adcode) if adcode else sa.true(),
    ).order_by(GridVersion.effective_date.desc(), GridVersion.id.desc()).limit(1)).scalar()


def counties(conn: Connection) -> list[str]:
    """Adcodes that have at least one grid version."""
    return list(conn.execute(sa.select(GridVersion.adcode).distinct()).scalars())
