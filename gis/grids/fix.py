"""Snap-fix a draft grid version: both levels, so that villages still match their groups.

:func:`fix_levels` runs :func:`gis.grids.topology_fix.snap_fix` on the groups, rebuilds each
village whose groups changed as their union (only when that moves it by at most the
tolerance) and fixes villages without groups among themselves; :func:`fix_draft` does that on
a stored draft, validates before and after, and writes the changed geometries
(``wangge grids fix --snap METRES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa

from gis import settings
from gis._errors import NotFoundError
from gis.crs import area_m2, to_metric
from gis.grids.topology_fix import snap_fix


def _hausdorff_m(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Hausdorff distance (m) of each pair, measured in UTM after densifying in degrees."""
    n = len(before)
    m, _ = to_metric(shapely.segmentize(np.concatenate([before, after]), 0.002))
    return shapely.hausdorff_distance(m[:n], m[n:])


def _multi(geoms: np.ndarray) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object).copy()
    poly = shapely.get_type_id(geoms) == 3
    if poly.any():
        geoms[poly] = shapely.multipolygons(geoms[poly][:, None])
    return geoms


_FRAME = "\x00territory-frame"


def _snap(gdf: gpd.GeoDataFrame, tolerance_m: float,
          territory: Any) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """:func:`gis.grids.topology_fix.snap_fix` of one level, inside a frame around the territory.

    The coverage cleaner closes only gaps enclosed by the coverage; a frame (a box around the
    territory minus the territory) encloses the gaps that reach the county border too, the
    ones validation reports. The frame itself is dropped from the result and the changes.
    """
    if territory is None or shapely.is_empty(territory):
        return snap_fix(gdf, tolerance_m)
    x0, y0, x1, y1 = shapely.bounds(territory)
    pad = 0.05 * max(x1 - x0, y1 - y0, 0.01)
    try:
        frame = shapely.difference(shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad),
                                   shapely.make_valid(territory))
    except shapely.errors.GEOSException:  # an unusable territory: fix enclosed gaps only
        return snap_fix(gdf, tolerance_m)
    if shapely.get_type_id(frame) not in (3, 6):
        return snap_fix(gdf, tolerance_m)
    sub = gpd.GeoDataFrame({"code": [*gdf["code"].astype(str), _FRAME]},
                           geometry=[*gdf.geometry.values, frame], crs=gdf.crs)
    fixed, changes = snap_fix(sub, tolerance_m)
    out = gdf.copy()
    out["geometry"] = gpd.GeoSeries(fixed.geometry.values[:-1], index=gdf.index, crs=gdf.crs)
    return out, [c for c in changes if c["code"] != _FRAME]


def fix_levels(villages: gpd.GeoDataFrame, groups: gpd.GeoDataFrame | None,
               tolerance_m: float, territory: Any = None,
               ) -> tuple[dict[int, gpd.GeoDataFrame], list[dict[str, Any]]]:
    """Snap-fix both grid levels so that they still match each other.

    ``territory`` (the county, EPSG:4490; optional) makes gaps along the county border
    closable too (see :func:`_snap`). The groups are fixed first
    (:func:`gis.grids.topology_fix.snap_fix`); each village whose
    groups changed is then rebuilt as the union of its fixed groups, accepted only when that
    moves its boundary by at most ``tolerance_m`` (else left as it was, ``not_fixed``).
    Villages without groups are fixed among all the villages with ``snap_fix``; a village that
    has groups keeps the shape of its groups (a village-level defect its groups do not share
    is reported ``not_fixed``: fix it at the group level or redraw it).

    Returns ({level: fixed GeoDataFrame}, change records of snap_fix with a ``level`` key).
    """
    fixed: dict[int, gpd.GeoDataFrame] = {}
    changes: list[dict[str, Any]] = []
    vcodes = villages["code"].astype(str).to_numpy()
    vgeoms = np.asarray(villages.geometry.values, dtype=object).copy()
    has_groups = np.zeros(len(vcodes), bool)
    if groups is not None and len(groups):
        fg, gch = _snap(groups, tolerance_m, territory)
        fixed[2] = fg
        changes += [{"level": 2, **c} for c in gch]
        parents = fg["parent_code"].astype(str).to_numpy()
        has_groups = np.isin(vcodes, parents)
        moved = {c["code"] for c in gch if c["action"] in ("snapped", "noded")}
        touched = set(parents[fg["code"].astype(str).isin(moved).to_numpy()])
        idx = np.flatnonzero(np.isin(vcodes, list(touched)))
        if len(idx):
            ggeoms = np.asarray(fg.geometry.values, dtype=object)
            cand = np.array([shapely.union_all(ggeoms[parents == vcodes[i]]) for i in idx],
                            dtype=object)
            old = vgeoms[idx]
            keep_multi = shapely.get_type_id(old) == 6
            cand[keep_multi] = _multi(cand[keep_multi])
            same = shapely.equals_exact(shapely.normalize(cand), shapely.normalize(old))
            move = _hausdorff_m(old, cand)
            for k, i in enumerate(idx):
                if same[k]:
                    continue
                a0, a1 = _areas(old[k], cand[k])
                rec = {"level": 1, "code": str(vcodes[i]), "max_move_m": float(move[k]),
                       "area_before_m2": a0, "area_after_m2": a1}
                if move[k] <= tolerance_m:
                    vgeoms[i] = cand[k]
                    changes.append({**rec, "action": "snapped", "detail": f"rebuilt as the "
                                    f"union of its fixed groups (moved at most {move[k]:.3f} m,"
                                    f" area {a1 - a0:+.2f} m²)"})
                else:
                    changes.append({**rec, "action": "not_fixed", "area_after_m2": a0,
                                    "detail": f"the union of its fixed groups would move its "
                                    f"boundary by {move[k]:.3f} m > {tolerance_m:g} m: left as "
                                    f"it was"})
    fv = villages.copy()
    fv["geometry"] = gpd.GeoSeries(vgeoms, index=villages.index, crs=villages.crs)
    if len(fv) and not has_groups.all():
        sv, vch = _snap(fv, tolerance_m, territory)
        svgeoms = np.asarray(sv.geometry.values, dtype=object)
        pos = {c: i for i, c in enumerate(vcodes)}
        for c in vch:
            i = pos[c["code"]]
            if not has_groups[i]:
                vgeoms[i] = svgeoms[i]
                changes.append({"level": 1, **c})
            elif c["action"] in ("snapped", "not_fixed"):
                changes.append({"level": 1, **c, "action": "not_fixed",
                                "area_after_m2": c["area_before_m2"], "detail":
                                "village-level defect its groups do not share: fix its groups "
                                "or redraw it (a village keeps the shape of its groups)"})
        fv["geometry"] = gpd.GeoSeries(vgeoms, index=villages.index, crs=villages.crs)
    fixed[1] = fv
    return fixed, changes


def _areas(a: Any, b: Any) -> tuple[float, float]:
    x = area_m2(np.array([a, b], dtype=object))
    return float(x[0]), float(x[1])


def newest_draft(conn: sa.Connection) -> int:
    """Id of the newest draft grid version (NotFoundError when there is none)."""
    vid = conn.execute(sa.text("select id from grid_version where status = 'draft' "
                               "order by id desc limit 1")).scalar()
    if vid is None:
        raise NotFoundError("there is no draft grid version to fix; create one with "
                            "'wangge grids draft new' (published versions are immutable)")
    return int(vid)


def write_geometries(conn: sa.Connection, vid: int, gdf: gpd.GeoDataFrame, codes: set[str]) -> int:
    """Replace the geometry and area of the grids ``codes`` of version ``vid``."""
    if not codes:
        return 0
    geoms = _multi(np.asarray(gdf.geometry.values, dtype=object))
    areas = area_m2(geoms)  # same UTM zone for the whole level, as on import
    pick = gdf["code"].astype(str).isin(codes).to_numpy()
    wkb = shapely.to_wkb(geoms[pick])
    rows = [{"v": vid, "c": c, "g": bytes(w), "a": float(a)} for c, w, a in zip(
        gdf["code"].astype(str).to_numpy()[pick], wkb, areas[pick], strict=True)]
    conn.execute(sa.text(f"""update grid set geom = st_multi(st_geomfromwkb(:g,
        {int(settings.STORAGE_SRID)})), area_m2 = :a where version_id = :v and code = :c"""),
        rows)
    return len(rows)


@dataclass
class FixReport:
    """What :func:`fix_draft` did: change records and the errors before / after."""

    version: int
    tolerance_m: float
    dry_run: bool
    changes: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    errors_before: int = 0
    problems_after: list[Any] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        """The one-line summary (fixed, not fixed, written, errors before / after)."""
        return {"version": self.version, "tolerance_m": self.tolerance_m,
                "dry_run": self.dry_run,
                "fixed": sum(c["action"] in ("snapped", "noded") for c in self.changes),
                "not_fixed": sum(c["action"] in ("not_fixed", "skipped_invalid")
                                 for c in self.changes),
                "written": self.written, "errors_before": self.errors_before,
                "errors_after": len(self.problems_after)}


def fix_draft(conn: sa.Connection, version: int | None, tolerance_m: float,
              dry_run: bool = False) -> FixReport:
    """Snap-fix the draft ``version`` (default: the newest draft) inside ``conn``'s transaction.

    Parameters
    ----------
    tolerance_m : metres; gaps / overlaps narrower than this are closed, no boundary moves
        further.
    dry_run : compute and report only, write nothing.
    """
    from gis.grids import versions
    from gis.grids.store import read_grids
    from gis.grids.topology import validate
    from gis.territory import units

    if not tolerance_m > 0:
        msg = f"the snap tolerance must be a distance in metres > 0, got {tolerance_m}"
        raise ValueError(msg)
    vid = version if version is not None else newest_draft(conn)
    v = versions.require_draft(conn, vid, lock=True)
    county = units(conn, "county", str(v["adcode"]))
    territory = None
    if len(county) and county.geometry.iloc[0] is not None:
        territory = shapely.union_all(county.geometry.values)
    villages, groups = read_grids(conn, vid, level=1), read_grids(conn, vid, level=2)
    before = validate(villages, groups if len(groups) else None, territory)
    fixed, changes = fix_levels(villages, groups, tolerance_m, territory)
    fg = fixed.get(2, groups)
    after = validate(fixed[1], fg if len(fg) else None, territory)
    written = 0
    if not dry_run:
        for lv, gdf in ((1, fixed[1]), (2, fg)):
            codes = {c["code"] for c in changes
                     if c["level"] == lv and c["action"] in ("snapped", "noded")}
            written += write_geometries(conn, vid, gdf, codes)
    return FixReport(vid, tolerance_m, dry_run, changes, written,
                     sum(p.severity == "error" for p in before),
                     [p for p in after if p.severity == "error"])
