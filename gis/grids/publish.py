"""Preview, publish and diff grid versions.

Publish semantics
-----------------
``publish(conn, draft, effective, actor=...)`` runs in one transaction (a SAVEPOINT inside
the caller's transaction, so a failure anywhere leaves every row as it was, even when the
caller goes on):

1. the draft is locked and validated (:func:`gis.grids.validation.validate_version`); any
   *error* refuses the publish with :class:`PublishRefused` carrying the problem list;
2. ``effective`` must be later than the effective date of the county's open (last
   published) version;
3. that version is **retired from** ``effective``: it stays the version in force for
   dates before ``effective`` (``as_of`` still returns it there) and its grids stay as
   they are; the draft becomes **published**, in force from ``effective`` on;
4. every incident of the county (and every patrol, once a ``patrol`` table with
   ``adcode``, ``geom``, ``village_code``, ``group_code`` and ``started_at`` exists) *dated
   on or after* ``effective`` — ``occurred_at`` at or after 00:00 of that day, China
   Standard Time (Asia/Shanghai) — is re-assigned to the new grids by point in polygon:
   the group grid containing the point (boundary included; on a shared edge the smallest
   code wins, as everywhere in wangge), and that group's village; ``location_flag`` flips
   between ``ok`` and ``outside`` accordingly (other flags and rows without a location are
   left alone). Earlier incidents keep their grids;
5. one ``grid_edit`` row (op ``publish``) and one ``audit_log`` row (``grid.publish``)
   record who, when and the counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import audit, settings
from gis.geocode import GridIndex
from gis.grids import versions
from gis.grids.edits_core import log_edit
from gis.grids.lookup import GridLookup
from gis.grids.store import read_grids
from gis.grids.validation import validate_version
from gis.grids.versions import PlanningError, PublishRefused
from gis.incidents.ingest import geocode_frame
from gis.store.bulk import copy_rows

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
"""Time zone in which an effective date starts (00:00 local time)."""

REASSIGNED: dict[str, str] = {"incident": "occurred_at", "patrol": "started_at",
                               "patrol_checkin": "checked_at"}
"""Tables re-assigned on publish → their date column (skipped while a table is missing)."""

DRAFT_CELL_FACTOR = 4
"""Raster cells of a draft's lookup are this many times :data:`gis.settings.GEOCODE_CELL_M`."""

GEOM_EPS_M2 = 0.01
"""Geometries whose symmetric difference is below this (m²) count as unchanged in a diff
(noding a neighbour inserts vertices without moving its boundary)."""

_ATTRS = ("name", "parent_code", "township_code", "population", "households", "worker")


@dataclass
class PublishReport:
    """What :func:`publish` did."""

    version_id: int
    adcode: str
    effective: date
    retired_version_id: int | None
    reassigned: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: int = 0
    edit_id: int | None = None

    def to_dict(self) -> dict[str, Any]:  # noqa: D102
        return asdict(self)


def start_of(effective: date) -> datetime:
    """00:00 China Standard Time of ``effective`` (incidents from then on are re-assigned)."""
    return datetime.combine(effective, time(0), LOCAL_TZ)


def _columns(conn: Connection, table: str) -> set[str]:
    return set(conn.execute(sa.text(
        "select column_name from information_schema.columns where table_name = :t "
        "and table_schema = current_schema()"), {"t": table}).scalars())


def _tables(conn: Connection) -> list[tuple[str, str]]:
    """The tables of :data:`REASSIGNED` that exist with the columns re-assignment needs."""
    need = {"id", "adcode", "geom", "village_code", "group_code"}
    out = []
    for table, tcol in REASSIGNED.items():
        cols = _columns(conn, table)
        if need <= cols and tcol in cols:
            out.append((table, tcol))
    return out


def _text(values: pd.Series) -> np.ndarray:
    """Object array of str / None (NaN and pandas NA become None)."""
    return np.array([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                     else str(v) for v in values], dtype=object)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([x == y or (x is None and y is None) for x, y in zip(a, b, strict=True)],
                    dtype=bool)


def reassignment(conn: Connection, adcode: str, lookup: GridLookup, effective: date,
                 table: str = "incident", tcol: str = "occurred_at") -> pd.DataFrame:
    """Rows of ``table`` dated on or after ``effective`` with a location, with their stored
    and new ``group_code`` / ``village_code`` / ``location_flag`` and ``changed``."""
    flag = "location_flag" if "location_flag" in _columns(conn, table) else "'ok'"
    df = pd.DataFrame(conn.execute(sa.text(
        f"select id, st_x(geom) as lon, st_y(geom) as lat, group_code, village_code, "
        f"{flag} as location_flag from {table} where adcode = :a and {tcol} >= :t "
        "and geom is not null order by id"), {"a": adcode, "t": start_of(effective)}).all(),
        columns=["id", "lon", "lat", "group_code", "village_code", "location_flag"])
    old = df.rename(columns={c: f"old_{c}" for c in ("group_code", "village_code",
                                                     "location_flag")})
    if len(df) == 0:
        return old.assign(group_code=[], village_code=[], location_flag=[], changed=[])
    new = geocode_frame(df[["id", "lon", "lat"]], lookup)
    og, ov, of = (_text(df[c]) for c in ("group_code", "village_code", "location_flag"))
    ng, nv = _text(new["group_code"]), _text(new["village_code"])
    nf = np.where(np.isin(of, ["ok", "outside"]), _text(new["location_flag"]), of).astype(object)
    same = _same(og, ng) & _same(ov, nv) & _same(of, nf)
    # str columns may hold NaN for missing values (pandas 3): read them back with _text
    return old.assign(group_code=ng, village_code=nv, location_flag=nf, changed=~same)


def _write_back(conn: Connection, table: str, df: pd.DataFrame, has_flag: bool) -> int:
    ch = df[df["changed"]]
    if ch.empty:
        return 0
    conn.execute(sa.text("drop table if exists grid_reassign"))
    conn.execute(sa.text("create temp table grid_reassign (id bigint primary key, "
                         "group_code text, village_code text, location_flag text) "
                         "on commit drop"))
    copy_rows(conn, "grid_reassign", ["id", "group_code", "village_code", "location_flag"],
              ((int(i), g, v, f) for i, g, v, f in zip(
                  ch["id"], _text(ch["group_code"]), _text(ch["village_code"]),
                  _text(ch["location_flag"]), strict=True)))
    flag = ", location_flag = r.location_flag" if has_flag else ""
    n = conn.execute(sa.text(
        f"update {table} t set group_code = r.group_code, village_code = r.village_code"
        f"{flag} from grid_reassign r where t.id = r.id")).rowcount
    conn.execute(sa.text("drop table grid_reassign"))
    return n


def _check_date(conn: Connection, adcode: str, draft_id: int, effective: date) -> int | None:
    prev = versions.open_version(conn, adcode, lock=True)
    if prev is not None and effective <= prev["effective_date"]:
        msg = f"cannot publish grid version {draft_id} effective {effective}: version " \
              f"{prev['id']} of county {adcode} is in force from {prev['effective_date']}; " \
              "the effective date must be later than that"
        raise PlanningError(msg)
    return int(prev["id"]) if prev else None


def draft_lookup(conn: Connection, version_id: int) -> GridLookup:
    """Point-in-grid lookup of a draft's groups (same answers as
    :func:`gis.grids.lookup.lookup_for_version`, a coarser raster so it builds in a fraction
    of a second: a draft changes between previews and is never cached)."""
    groups = read_grids(conn, version_id, level=2)
    if groups.empty:
        msg = f"grid version {version_id} has no group grids; incidents are assigned to " \
              "groups, so import or draw them before publishing"
        raise PlanningError(msg)
    villages = dict(conn.execute(sa.text(
        "select code, name from grid where version_id = :v and level = 1"),
        {"v": version_id}).all())
    idx = GridIndex.build(list(groups["code"]), np.asarray(groups.geometry.values),
                          cell_m=settings.GEOCODE_CELL_M * DRAFT_CELL_FACTOR)
    order = {c: i for i, c in enumerate(groups["code"])}
    g = groups.iloc[[order[c] for c in idx.codes]]
    return GridLookup(
        version_id=version_id, index=idx,
        group_codes=np.asarray(g["code"], dtype=object),
        group_names=np.asarray(g["name"], dtype=object),
        village_codes=np.asarray(g["parent_code"], dtype=object),
        village_names=np.asarray([villages.get(p) for p in g["parent_code"]], dtype=object),
        township_codes=np.asarray(g["township_code"], dtype=object))


def publish(conn: Connection, draft_id: int, effective: date, *, actor: str) -> PublishReport:
    """Validate and publish a draft from ``effective`` on (see the module doc)."""
    with conn.begin_nested():
        v = versions.require_draft(conn, draft_id)
        adcode = str(v["adcode"])
        _check_date(conn, adcode, draft_id, effective)
        _, problems = validate_version(conn, draft_id)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            kinds = pd.Series([p.type for p in errors]).value_counts().to_dict()
            msg = f"grid version {draft_id} fails validation ({len(errors)} error(s): " \
                  f"{kinds}); nothing was published. See 'wangge grids validate --version " \
                  f"{draft_id}'"
            raise PublishRefused(msg, errors)
        lookup = draft_lookup(conn, draft_id)
        retired = versions.mark_published(conn, draft_id, effective, actor)
        rep = PublishReport(draft_id, adcode, effective, retired,
                            warnings=len(problems) - len(errors))
        for table, tcol in _tables(conn):
            df = reassignment(conn, adcode, lookup, effective, table, tcol)
            n = _write_back(conn, table, df, "location_flag" in _columns(conn, table))
            rep.reassigned[table] = {"considered": len(df), "changed": n}
        rep.edit_id = log_edit(conn, adcode, draft_id, actor, "publish", [], [], {
            "effective": effective.isoformat(), "retired_version": retired,
            "reassigned": rep.reassigned})
        audit.record(conn, actor, "grid.publish", f"grid_version:{draft_id}",
                     {"effective": effective, "retired_version": retired,
                      "reassigned": rep.reassigned, "edit_id": rep.edit_id},
                     adcode=adcode, scope=adcode)
    return rep


def _symdiff_m2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area (m²) of the symmetric difference of each pair, measured in degrees² scaled at
    its latitude: exact for the hair-thin slivers noding leaves, where projecting
    straight-in-degrees edges to UTM would itself move them by centimetres."""
    if len(a) == 0:
        return np.zeros(0)
    sd = shapely.symmetric_difference(a, b)
    lat = shapely.get_coordinates(shapely.centroid(b))[:, 1] if len(b) else np.zeros(0)
    k = (np.pi / 180 * 6_371_008.8) ** 2 * np.cos(np.radians(lat))
    return shapely.area(sd) * k


def _num(x: Any) -> Any:
    if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA:
        return None
    return x.item() if hasattr(x, "item") else x


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    na, nb = a.isna().to_numpy(), b.isna().to_numpy()
    return ((a.to_numpy(dtype=object) != b.to_numpy(dtype=object)) & ~(na & nb)) | (na != nb)


def diff(conn: Connection, v1: int | None, v2: int) -> dict[str, Any]:
    """Grids added in ``v2``, removed from ``v1`` and changed (geometry, name, parent,
    township, population, households, worker), with areas before / after (m²).

    ``v1`` None: everything in ``v2`` is added. A geometry counts as changed when the
    symmetric difference exceeds :data:`GEOM_EPS_M2`."""
    for vid in (v1, v2):
        if vid is not None:
            versions.get_version(conn, vid)
    b = read_grids(conn, v2)
    a = read_grids(conn, v1) if v1 is not None else b.iloc[0:0]

    def brief(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [{"code": r.code, "level": int(r.level), "name": r.name,
                 "parent_code": r.parent_code, "area_m2": float(r.area_m2),
                 "population": _num(r.population), "households": _num(r.households)}
                for r in df.sort_values("code").itertuples()]

    m = pd.merge(pd.DataFrame(a.drop(columns="geometry")).assign(geom=a.geometry.values),
                 pd.DataFrame(b.drop(columns="geometry")).assign(geom=b.geometry.values),
                 on="code", suffixes=("_before", "_after"), how="inner").sort_values("code")
    ga = np.asarray(m["geom_before"], dtype=object)
    gb = np.asarray(m["geom_after"], dtype=object)
    exact = shapely.equals_exact(ga, gb, 0.0) if len(m) else np.zeros(0, bool)
    sd = np.zeros(len(m))
    sd[~exact] = _symdiff_m2(ga[~exact], gb[~exact])
    flags = {"geometry": sd > GEOM_EPS_M2}
    flags.update({f: _differs(m[f"{f}_before"], m[f"{f}_after"]) for f in _ATTRS})
    any_change = np.logical_or.reduce(list(flags.values())) if len(m) else np.zeros(0, bool)
    changed = []
    for i in np.flatnonzero(any_change):
        r = m.iloc[i]
        changed.append({
            "code": r["code"], "level": int(r["level_after"]),
            "changes": [f for f, v in flags.items() if v[i]],
            "area_before": float(r["area_m2_before"]), "area_after": float(r["area_m2_after"]),
            "area_delta_m2": float(r["area_m2_after"] - r["area_m2_before"]),
            "symdiff_m2": float(sd[i]),
            **{f"{f}_{s}": _num(r[f"{f}_{s}"]) for f in ("name", "parent_code", "population",
                                                        "households", "worker")
               for s in ("before", "after")}})
    return {"v1": v1, "v2": v2, "added": brief(b[~b["code"].isin(a["code"])]),
            "removed": brief(a[~a["code"].isin(b["code"])]), "changed": changed}


def preview(conn: Connection, draft_id: int, effective: date) -> dict[str, Any]:
    """What publishing the draft from ``effective`` would do, without doing it: validation
    problems, the version it would retire, the metric changes of the affected grids (area,
    population, households before / after per code) and how many incidents (patrols)
    dated on or after ``effective`` would change grid."""
    v = versions.get_version(conn, draft_id)
    if v["status"] != "draft":
        msg = f"grid version {draft_id} is {v['status']}; only a draft can be previewed"
        raise PlanningError(msg)
    adcode = str(v["adcode"])
    prev = versions.open_version(conn, adcode)
    date_ok = prev is None or effective > prev["effective_date"]
    _, problems = validate_version(conn, draft_id)
    d = diff(conn, int(prev["id"]) if prev else None, draft_id)
    grids = [{"code": r["code"], "level": r["level"], "change": "added", "area_before": None,
              "area_after": r["area_m2"], "population_before": None,
              "population_after": r["population"], "households_before": None,
              "households_after": r["households"]} for r in d["added"]]
    grids += [{"code": r["code"], "level": r["level"], "change": "removed",
               "area_before": r["area_m2"], "area_after": None,
               "population_before": r["population"], "population_after": None,
               "households_before": r["households"], "households_after": None}
              for r in d["removed"]]
    grids += [{"code": r["code"], "level": r["level"], "change": ",".join(r["changes"]),
               **{k: r[k] for k in ("area_before", "area_after", "population_before",
                                    "population_after", "households_before",
                                    "households_after")}} for r in d["changed"]]
    reassign: dict[str, dict[str, int]] = {}
    has_groups = conn.execute(sa.text("select exists (select 1 from grid where version_id = :v"
                                      " and level = 2)"), {"v": draft_id}).scalar_one()
    if has_groups:
        lookup = draft_lookup(conn, draft_id)
        for table, tcol in _tables(conn):
            df = reassignment(conn, adcode, lookup, effective, table, tcol)
            reassign[table] = {"considered": len(df), "changed": int(df["changed"].sum())}
    errors = [p for p in problems if p.severity == "error"]
    return {"draft": draft_id, "adcode": adcode, "effective": effective.isoformat(),
            "retires": int(prev["id"]) if prev else None,
            "effective_ok": date_ok,
            "publishable": date_ok and not errors and bool(has_groups),
            "errors": len(errors), "warnings": len(problems) - len(errors),
            "problems": [p.to_dict() for p in problems],
            "added": len(d["added"]), "removed": len(d["removed"]),
            "changed": len(d["changed"]), "grids": sorted(grids, key=lambda g: g["code"]),
            "reassigned": reassign,
            "incidents_changing": reassign.get("incident", {}).get("changed", 0)}
