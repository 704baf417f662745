"""Plumbing of the grid edits: grid rows, reading / writing them, noding the neighbours,
validating the affected villages, and the ``grid_edit`` log (used by :mod:`gis.grids.edits`).

Validation rule: an edit may not introduce a topology *error* in the affected villages (the
villages touched and all their groups, checked against the area those villages covered
before, with :func:`gis.grids.topology.validate`); errors already present there before
(same type, level and area within 1 % or 1 m²) are tolerated, so an imported draft with
defects can still be edited toward validity.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import NotFoundError
from gis.crs import area_m2
from gis.grids import edits_geom as eg
from gis.grids.topology import validate
from gis.grids.versions import PlanningError, TopologyRefused

_COLS = "code, level, name, parent_code, township_code, population, households, worker, " \
        "area_m2, st_asbinary(geom) as wkb"


@dataclass
class GridRow:
    """One grid as the edits see it (geometry: a MultiPolygon in EPSG:4490)."""

    code: str
    level: int
    name: str
    parent_code: str | None
    township_code: str | None
    population: int | None
    households: int | None
    worker: str | None
    geom: BaseGeometry
    area_m2: float | None = None

    def but(self, **kw: Any) -> GridRow:
        """A copy with some fields replaced (a new geometry drops the stored area, which
        is then recomputed on write, unless ``area_m2`` is given too)."""
        if "geom" in kw and "area_m2" not in kw:
            kw["area_m2"] = None
        return dataclasses.replace(self, **kw)

    def record(self) -> dict[str, Any]:
        """JSON-able dict, geometry as exact hex WKB (for the grid_edit log)."""
        d = {k: getattr(self, k) for k in ("code", "level", "name", "parent_code",
                                           "township_code", "population", "households",
                                           "worker", "area_m2")}
        d["wkb"] = shapely.to_wkb(self.geom, hex=True)
        return d


@dataclass
class EditResult:
    """What an edit did: its grid_edit id, op, codes replaced / produced, noded neighbours."""

    edit_id: int
    op: str
    version_id: int
    codes_before: list[str]
    codes_after: list[str]
    noded: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        return dataclasses.asdict(self)


# --- reading and writing -------------------------------------------------------------------

def load(conn: Connection, vid: int, where: str, **params: Any) -> dict[str, GridRow]:
    res = conn.execute(sa.text(f"select {_COLS} from grid where version_id = :v and ({where}) "
                               "order by level, code"), {"v": vid, **params}).mappings()
    return {r["code"]: GridRow(r["code"], int(r["level"]), r["name"], r["parent_code"],
                               r["township_code"], r["population"], r["households"],
                               r["worker"], eg.multi(shapely.from_wkb(bytes(r["wkb"]))),
                               r["area_m2"]) for r in res}


def get(conn: Connection, vid: int, code: str, level: int | None = None) -> GridRow:
    row = load(conn, vid, "code = :c", c=code).get(code)
    if row is None or (level is not None and row.level != level):
        what = {None: "grid", 1: "village grid", 2: "group grid"}[level]
        msg = f"{what} {code!r} is not in grid version {vid}"
        raise NotFoundError(msg)
    return row


def children(conn: Connection, vid: int, villages: list[str]) -> dict[str, GridRow]:
    return load(conn, vid, "level = 2 and parent_code = any(:c)", c=villages)


def _hex(geom: BaseGeometry) -> str:
    return shapely.to_wkb(shapely.set_srid(geom, settings.STORAGE_SRID), hex=True,
                          include_srid=True)


def write(conn: Connection, vid: int, adcode: str, removed: set[str],
           rows: list[GridRow]) -> None:
    codes = sorted(removed | {r.code for r in rows})
    conn.execute(sa.text("delete from grid where version_id = :v and code = any(:c)"),
                 {"v": vid, "c": codes})
    if not rows:
        return
    fresh = [r for r in rows if r.area_m2 is None]
    if fresh:
        for r, a in zip(fresh, area_m2([r.geom for r in fresh]), strict=True):
            r.area_m2 = float(a)
    conn.execute(sa.text("""
        insert into grid (version_id, adcode, level, code, name, parent_code, township_code,
                          population, households, area_m2, worker, geom)
        values (:v, :a, :level, :code, :name, :parent_code, :township_code, :population,
                :households, :area_m2, :worker, cast(:geom as geometry))"""),
        [{"v": vid, "a": adcode, **{k: getattr(r, k) for k in (
            "level", "code", "name", "parent_code", "township_code", "population",
            "households", "area_m2", "worker")}, "geom": _hex(r.geom)} for r in rows])


def log_edit(conn: Connection, adcode: str, vid: int, actor: str, op: str,
             before: list[GridRow], after: list[GridRow], detail: dict[str, Any]) -> int:
    """Append one row to ``grid_edit``; returns its id."""
    def area(rows: list[GridRow]) -> str | None:
        if not rows:
            return None
        top = min(r.level for r in rows)
        u = eg.union([r.geom for r in rows if r.level == top])
        return None if u.is_empty else _hex(u)

    return conn.execute(sa.text("""
        insert into grid_edit (adcode, version_id, actor, op, codes_before, codes_after,
                               grids_before, grids_after, detail, geom_before, geom_after)
        values (:a, :v, :actor, :op, :cb, :ca, cast(:gb as jsonb), cast(:ga as jsonb),
                cast(:d as jsonb), cast(:hb as geometry), cast(:ha as geometry))
        returning id"""), {
        "a": adcode, "v": vid, "actor": actor, "op": op,
        "cb": [r.code for r in before], "ca": [r.code for r in after],
        "gb": json.dumps([r.record() for r in before], ensure_ascii=False),
        "ga": json.dumps([r.record() for r in after], ensure_ascii=False),
        "d": json.dumps(detail, ensure_ascii=False, default=str),
        "hb": area(before), "ha": area(after)}).scalar_one()


# --- noding and validation -----------------------------------------------------------------

def node(conn: Connection, vid: int, before: list[GridRow], after: list[GridRow]) -> list[GridRow]:
    """Insert the new vertices of ``after`` into the neighbours and vice versa (in place for
    ``after``); returns the neighbours that changed."""
    old = {r.code: r.geom for r in before}
    changed = [r for r in after if r.code not in old or not shapely.equals_exact(
        r.geom, old[r.code], 0.0)]
    if not changed:
        return []
    x0, y0, x1, y1 = shapely.total_bounds([r.geom for r in changed])
    t = eg.NEAR_DEG
    nbrs = load(conn, vid, "geom && st_makeenvelope(:x0, :y0, :x1, :y1, :srid) "
                "and not code = any(:ex)", x0=x0 - t, y0=y0 - t, x1=x1 + t, y1=y1 + t,
                srid=settings.STORAGE_SRID, ex=[r.code for r in before + after])
    pts = eg.vertices([r.geom for r in after])
    noded = []
    for r in nbrs.values():
        g = eg.node_to(r.geom, pts)
        if g is not r.geom:  # same boundary, one more vertex: keep the stored area
            noded.append(r.but(geom=g, area_m2=r.area_m2))
    pts_all = eg.vertices([r.geom for r in after] + [r.geom for r in nbrs.values()]
                          + [r.geom for r in noded])
    for r in changed:
        r.geom = eg.node_to(r.geom, pts_all)
    return noded


def _frames(rows: list[GridRow]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    def frame(level: int) -> gpd.GeoDataFrame:
        sel = [r for r in rows if r.level == level]
        return gpd.GeoDataFrame({"code": [r.code for r in sel],
                                 "parent_code": [r.parent_code for r in sel]},
                                geometry=[r.geom for r in sel], crs=settings.STORAGE_SRID)
    groups = frame(2)
    return frame(1), (groups if len(groups) else None)


def _new_errors(before: list, after: list) -> list:
    """Errors of ``after`` not matched by an error of ``before`` (same type and level, area
    within 1 % or 1 m²); ``village_without_groups`` counts as present when it was before."""
    pool = [p for p in before if p.severity == "error"]
    kinds = {p.type for p in pool}
    new = []
    for p in (p for p in after if p.severity == "error"):
        if p.type == "village_without_groups" and p.type in kinds:
            continue
        k = next((i for i, q in enumerate(pool) if q.type == p.type and q.level == p.level
                  and abs(q.area_m2 - p.area_m2) <= max(1.0, 0.01 * q.area_m2)), None)
        if k is None:
            new.append(p)
        else:
            pool.pop(k)
    return new


def check(conn: Connection, vid: int, before: list[GridRow], after: list[GridRow]) -> None:
    """Validate the affected villages after the edit; TopologyRefused on a new error."""
    touched = before + after
    vcodes = {r.code for r in touched if r.level == 1} | \
        {r.parent_code for r in touched if r.level == 2 and r.parent_code}
    state = load(conn, vid, "(level = 1 and code = any(:c)) or "
                 "(level = 2 and parent_code = any(:c))", c=sorted(vcodes))
    new_state = dict(state)
    for r in before:
        new_state.pop(r.code, None)
    new_state.update({r.code: r for r in after})

    def subset(st: dict[str, GridRow]) -> list[GridRow]:
        return [r for r in st.values() if (r.level == 1 and r.code in vcodes)
                or (r.level == 2 and r.parent_code in vcodes)]

    old_rows, new_rows = subset(state), subset(new_state)
    villages = [r.geom for r in old_rows if r.level == 1]
    territory = eg.union(villages) if villages else None
    was = validate(*_frames(old_rows), territory=territory)
    now = validate(*_frames(new_rows), territory=territory)
    bad = _new_errors(was, now)
    if bad:
        desc = "; ".join(f"{p.type} {', '.join(p.codes)} {p.area_m2:,.1f} m² at {p.location}"
                         for p in bad[:5])
        msg = f"edit refused: it would leave {len(bad)} topology error(s) in the affected " \
              f"villages: {desc}"
        raise TopologyRefused(msg, bad)


def apply(conn: Connection, v: dict, op: str, actor: str, before: list[GridRow],
          after: list[GridRow], detail: dict[str, Any], geometry: bool = True) -> EditResult:
    """Node, validate (``geometry``), write and log an edit of draft ``v``: ``before`` are
    the grids it replaces, ``after`` the grids it produces."""
    vid, adcode = int(v["id"]), str(v["adcode"])
    noded: list[GridRow] = []
    if geometry:
        noded = node(conn, vid, before, after)
        check(conn, vid, before, after + noded)
    removed = {r.code for r in before} - {r.code for r in after}
    write(conn, vid, adcode, removed, after + noded)
    if noded:
        detail = {**detail, "noded": [r.code for r in noded]}
    eid = log_edit(conn, adcode, vid, actor, op, before, after, detail)
    return EditResult(eid, op, vid, [r.code for r in before], [r.code for r in after],
                      [r.code for r in noded], detail)


# --- helpers of the operations -------------------------------------------------------------

def new_codes(conn: Connection, adcode: str, base: str, n: int, taken: set[str]) -> list[str]:
    """``n`` codes ``base`` + 001, 002 ... never used in the county (nor in ``taken``)."""
    used = set(conn.execute(sa.text("select distinct code from grid where adcode = :a and "
                                    "code like :p"), {"a": adcode, "p": base + "%"}).scalars())
    used |= taken
    out, k = [], 1
    while len(out) < n:
        c = f"{base}{k:03d}"
        if len(c) > 20:
            msg = f"generated code {c!r} is longer than 20 characters; give the codes"
            raise PlanningError(msg)
        if c not in used:
            out.append(c)
        k += 1
    return out


def check_codes(conn: Connection, vid: int, codes: list[str], free_from: set[str]) -> None:
    """PlanningError unless ``codes`` are well-formed and free in the version (codes in
    ``free_from`` are being replaced, so they count as free)."""
    bad = [c for c in codes if not c or len(c) > 20 or c != c.strip() or " " in c]
    if bad or len(set(codes)) != len(codes):
        msg = f"codes {codes} must be distinct, 1–20 characters, without spaces"
        raise PlanningError(msg)
    clash = set(conn.execute(sa.text("select code from grid where version_id = :v and "
                                     "code = any(:c)"), {"v": vid, "c": codes}).scalars())
    clash -= free_from
    if clash:
        msg = f"code(s) {sorted(clash)} already exist in grid version {vid}; choose others"
        raise PlanningError(msg)


def metric_areas(geoms: list[BaseGeometry]) -> np.ndarray:
    return area_m2(np.asarray(geoms, dtype=object))


def total(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return int(sum(known)) if known else None
