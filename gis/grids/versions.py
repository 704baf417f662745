"""Grid versions: ``draft`` → ``published`` (with an effective date) → ``retired``.

Semantics (the version chain of a county)
-----------------------------------------
* A **draft** is editable (gis.grids.edits) and is never in force.
* Publishing (gis.grids.publish.publish) gives a draft an ``effective_date``; from then on
  its grids can no longer change (a database trigger refuses any insert, update or delete of
  grids of a version that is not a draft).
* At most one version of a county is **published** (open-ended) at a time; publishing the
  next one **retires** it with ``retired_from`` = the successor's effective date. Retiring
  does not erase history: a retired version is still *the* version in force for every date
  in ``[effective_date, retired_from)``. Effective dates of a county strictly increase
  along the chain, so the intervals partition the time line from the first effective date
  on: on any date exactly one version is in force (none before the first one).
* :func:`as_of` (and :func:`in_force`, the same with a default of today) answers "which
  version was / is / will be in force on this date". A version published today with a
  future effective date is the answer for dates from then on, while the previous one stays
  in force until the day before.
"""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis._errors import NotFoundError, WanggeError
from gis.store.models import GridVersion


class PlanningError(WanggeError):
    """A planning operation (edit, draft, publish) is refused; the message says why and how
    to proceed."""


class TopologyRefused(PlanningError):
    """An edit or a publish was refused because of topology problems; ``problems`` lists
    them (:class:`gis.grids.topology.Problem`)."""

    def __init__(self, msg: str, problems: list | None = None) -> None:
        super().__init__(msg)
        self.problems = problems or []


class PublishRefused(TopologyRefused):
    """Publishing was refused because the draft fails validation (see ``problems``)."""


_IN_FORCE = "status in ('published', 'retired') and effective_date <= :on " \
            "and (retired_from is null or retired_from > :on)"


def create_version(conn: Connection, adcode: str, name: str, *, created_by: str | None = None,
                   note: str | None = None, parent_version_id: int | None = None) -> int:
    """Insert a new draft version of county ``adcode``; returns its id."""
    return conn.execute(sa.insert(GridVersion).values(
        adcode=adcode, name=name, status="draft", created_by=created_by, note=note,
        parent_version_id=parent_version_id,
    ).returning(GridVersion.id)).scalar_one()


def latest_draft(conn: Connection, adcode: str, create: bool = True) -> int | None:
    """Id of the newest draft of ``adcode`` (a new one named "导入草稿" when none and ``create``)."""
    vid = conn.execute(sa.select(GridVersion.id).where(
        GridVersion.adcode == adcode, GridVersion.status == "draft",
    ).order_by(GridVersion.id.desc()).limit(1)).scalar()
    if vid is None and create:
        vid = create_version(conn, adcode, "导入草稿")
    return vid


def get_version(conn: Connection, version_id: int, lock: bool = False) -> dict[str, object]:
    """The version row as a dict; NotFoundError when it does not exist.

    ``lock``: ``SELECT ... FOR UPDATE`` (serialises edits and publishes of the version)."""
    t = GridVersion.__table__
    q = sa.select(t).where(t.c.id == version_id)
    row = conn.execute(q.with_for_update() if lock else q).mappings().first()
    if row is None:
        msg = f"grid version {version_id} does not exist; list versions with 'wangge grids versions'"
        raise NotFoundError(msg)
    return dict(row)


def require_draft(conn: Connection, version_id: int, lock: bool = True) -> dict[str, object]:
    """The version row (locked) when it is a draft; PlanningError when it is not."""
    v = get_version(conn, version_id, lock=lock)
    if v["status"] != "draft":
        since = f" (effective {v['effective_date']}" + (
            f", retired from {v['retired_from']})" if v.get("retired_from") else ")")
        msg = f"grid version {version_id} is {v['status']}{since} and cannot be edited: " \
              f"published versions are immutable. Start a draft from it with " \
              f"'wangge grids draft new --from {version_id}' and edit that"
        raise PlanningError(msg)
    return v


def list_versions(conn: Connection, adcode: str | None = None,
                  status: str | None = None) -> list[dict[str, object]]:
    """All versions (of ``adcode`` / with ``status`` when given), newest first, with their
    grid counts and chain fields."""
    q = sa.text("""
        select v.id, v.adcode, v.name, v.status, v.effective_date, v.retired_from,
               v.parent_version_id, v.created_at, v.created_by, v.published_at,
               count(g.id) filter (where g.level = 1) as villages,
               count(g.id) filter (where g.level = 2) as groups
        from grid_version v left join grid g on g.version_id = v.id
        where (cast(:adcode as text) is null or v.adcode = :adcode)
          and (cast(:status as text) is null or v.status = :status)
        group by v.id order by v.id desc""")
    return [dict(r) for r in conn.execute(q, {"adcode": adcode, "status": status}).mappings()]


def open_version(conn: Connection, adcode: str, lock: bool = False) -> dict[str, object] | None:
    """The county's open-ended published version (the last of the chain), or None."""
    t = GridVersion.__table__
    q = sa.select(t).where(t.c.adcode == adcode, t.c.status == "published")
    row = conn.execute(q.with_for_update() if lock else q).mappings().first()
    return dict(row) if row else None


def _retire_open(conn: Connection, adcode: str, successor: int, effective: date) -> int | None:
    """Retire the open version of ``adcode`` from ``effective`` on (see the module doc)."""
    prev = open_version(conn, adcode, lock=True)
    if prev is None:
        return None
    if effective <= prev["effective_date"]:
        msg = f"cannot publish grid version {successor} effective {effective}: version " \
              f"{prev['id']} of county {adcode} is in force from {prev['effective_date']}; " \
              "the effective date must be later than that (versions follow each other in time)"
        raise PlanningError(msg)
    conn.execute(sa.update(GridVersion).where(GridVersion.id == prev["id"]).values(
        status="retired", retired_from=effective, retired_at=sa.func.now(),
        superseded_by=successor))
    return int(prev["id"])


def mark_published(conn: Connection, version_id: int, effective: date,
                   actor: str | None = None) -> int | None:
    """Flip a draft to published from ``effective`` on, retiring the county's open version.

    No validation and no re-assignment (that is :func:`gis.grids.publish.publish`); returns
    the id of the retired version, if any.
    """
    v = require_draft(conn, version_id)
    retired = _retire_open(conn, str(v["adcode"]), version_id, effective)
    conn.execute(sa.update(GridVersion).where(GridVersion.id == version_id).values(
        status="published", effective_date=effective, published_at=sa.func.now(),
        published_by=actor))
    return retired


def publish_simple(conn: Connection, version_id: int, effective: date) -> None:
    """Mark a draft published from ``effective`` on (imports, demo loader).

    Retires the county's open version like a full publish, but neither validates the draft
    nor re-assigns incidents: use :func:`gis.grids.publish.publish` for that.
    """
    mark_published(conn, version_id, effective, actor="import")


def as_of(conn: Connection, adcode: str, on: date) -> int | None:
    """Id of the version of county ``adcode`` in force on ``on`` (None before the first)."""
    return conn.execute(sa.text(
        f"select id from grid_version where adcode = :a and {_IN_FORCE} "
        "order by effective_date desc, id desc limit 1"), {"a": adcode, "on": on}).scalar()


def in_force(conn: Connection, adcode: str | None = None, on: date | None = None) -> int | None:
    """Id of the version in force on ``on`` (default today), or None.

    Without ``adcode``: of all counties, the one in force with the latest effective date.
    """
    on = on or date.today()
    if adcode:
        return as_of(conn, adcode, on)
    return conn.execute(sa.text(
        f"select id from grid_version where {_IN_FORCE} "
        "order by effective_date desc, id desc limit 1"), {"on": on}).scalar()


def base_version(conn: Connection, adcode: str) -> int | None:
    """The version a new draft starts from by default: in force today, else the open one
    (published with a future date), else None."""
    vid = as_of(conn, adcode, date.today())
    if vid is None:
        prev = open_version(conn, adcode)
        vid = int(prev["id"]) if prev else None
    return vid


def new_draft(conn: Connection, adcode: str | None = None, from_version: int | None = None,
              name: str | None = None, *, actor: str, note: str | None = None) -> int:
    """Create a draft holding a copy of the grids of ``from_version`` (default: the version
    of ``adcode`` in force today, else its open version; an empty draft when the county
    has none). Recorded in ``grid_edit`` (op ``new_draft``). Returns the draft's id."""
    if from_version is not None:
        src = get_version(conn, from_version)
        if adcode and adcode != src["adcode"]:
            msg = f"grid version {from_version} belongs to county {src['adcode']}, not {adcode}"
            raise PlanningError(msg)
        adcode = str(src["adcode"])
    elif adcode:
        from_version = base_version(conn, adcode)
    else:
        msg = "new draft: give the county (adcode) or the version to start from"
        raise PlanningError(msg)
    name = name or (f"草稿（基于版本 {from_version}）" if from_version else "草稿")
    vid = create_version(conn, adcode, name, created_by=actor, note=note,
                         parent_version_id=from_version)
    n = 0
    if from_version is not None:
        n = conn.execute(sa.text("""
            insert into grid (version_id, adcode, level, code, name, parent_code, township_code,
                              population, households, area_m2, worker, geom)
            select :v, adcode, level, code, name, parent_code, township_code, population,
                   households, area_m2, worker, geom
            from grid where version_id = :src order by level, code"""),
            {"v": vid, "src": from_version}).rowcount
    conn.execute(sa.text(
        "insert into grid_edit (adcode, version_id, actor, op, detail) "
        "values (:a, :v, :actor, 'new_draft', cast(:d as jsonb))"),
        {"a": adcode, "v": vid, "actor": actor,
         "d": json.dumps({"from_version": from_version, "grids": n})})
    return vid


def counties(conn: Connection) -> list[str]:
    """Adcodes that have at least one grid version."""
    return list(conn.execute(sa.select(GridVersion.adcode).distinct()).scalars())
