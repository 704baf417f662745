"""Snap-fix of a grid level: close gaps and remove overlaps narrower than a tolerance.

Imports of real administrative boundaries often carry slivers and tiny gaps between
neighbours. :func:`snap_fix` cleans the coverage with GEOS's coverage cleaner
(:func:`shapely.coverage_clean`: nearby vertices are snapped together, shared edges made
identical, gaps narrower than the tolerance merged into the neighbour with the longest
shared border, overlaps given to one of the grids), then checks every grid it changed: a
grid whose boundary would move by more than the tolerance (Hausdorff distance, metres) is
kept as it was and reported as not fixed — so wide overlaps and real gaps are left for a
planner, and no edge ever moves by more than the tolerance. The neighbours of such a grid
keep their own (small) fixes: run :func:`gis.grids.topology.validate` on the result.
Fix the groups and the villages the same way (or rebuild villages from their groups) so
that the two levels still match.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gis._errors import CrsError
from gis.crs import to_metric

__all__ = ["snap_fix"]

_M_PER_DEG_MAX = 111_700.0  # longest degree anywhere (of latitude, at the poles), metres
_MEASURE_STEP_DEG = 0.002  # densify before measuring in UTM (edges are straight in degrees)


def _moves(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, ...]:
    """Hausdorff distance (m) between each old and new geometry, and both areas (m²).

    Vertex-based (discrete) Hausdorff in UTM after densifying in degrees: cleaning moves
    boundaries only at vertices (snapped, inserted, or the far side of a merged gap or a
    removed overlap), which is where the distance is measured.
    """
    n = len(before)
    m, _ = to_metric(shapely.segmentize(np.concatenate([before, after]), _MEASURE_STEP_DEG))
    return shapely.hausdorff_distance(m[:n], m[n:]), shapely.area(m[:n]), shapely.area(m[n:])


def snap_fix(gdf: gpd.GeoDataFrame, tolerance_m: float) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Close gaps and remove overlaps narrower than ``tolerance_m`` between the grids of a level.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        One grid level: columns ``code`` and ``geometry`` (EPSG:4490 degrees).
    tolerance_m : float
        Largest distance, metres, that any grid boundary may move (> 0).

    Returns
    -------
    (GeoDataFrame, list of dict)
        A copy of ``gdf`` with the fixed geometries (MultiPolygons stay MultiPolygons), and
        one change record per grid touched, in input order::

            {"code", "action": "snapped" | "noded" | "not_fixed" | "skipped_invalid",
             "max_move_m", "area_before_m2", "area_after_m2", "detail"}

        ``max_move_m`` is the Hausdorff distance between the old and the new geometry in
        metres (for ``not_fixed``: the move that was refused). Grids not listed are unchanged.
    """
    if not tolerance_m > 0:
        raise ValueError(f"snap_fix: tolerance_m must be > 0 metres, got {tolerance_m!r}")
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4490, 4326):
        raise CrsError(f"snap_fix: grids are in {gdf.crs.to_string()}; convert to EPSG:4490")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    codes = gdf["code"].astype(str).to_numpy()
    ok = np.isin(shapely.get_type_id(geoms), [3, 6]) & ~shapely.is_empty(geoms)
    ok &= shapely.is_valid(geoms)
    out = geoms.copy()
    step = tolerance_m / _M_PER_DEG_MAX  # a move of `step` degrees is at most tolerance_m
    if ok.sum() > 0:
        out[ok] = shapely.coverage_clean(geoms[ok], gap_width=step)  # snapping: automatic
    back = ok & (shapely.get_type_id(geoms) == 6) & (shapely.get_type_id(out) == 3)
    out[back] = shapely.multipolygons(out[back][:, None])  # keep the column's geometry type
    changed = ok & ~shapely.equals_exact(shapely.normalize(out), shapely.normalize(geoms))
    moved = np.zeros(len(geoms))
    area0 = np.zeros(len(geoms))
    area1 = np.zeros(len(geoms))
    if changed.any():
        moved[changed], area0[changed], area1[changed] = _moves(geoms[changed], out[changed])
    refused = changed & (moved > tolerance_m)
    out[refused] = geoms[refused]
    changes = []
    for i in np.flatnonzero(changed | ~ok):
        changes.append(_record(codes[i], bool(ok[i]), bool(refused[i]), float(moved[i]),
                               float(area0[i]), float(area1[i]), tolerance_m))
    fixed = gdf.copy()
    fixed["geometry"] = gpd.GeoSeries(out, index=gdf.index, crs=gdf.crs)
    return fixed, changes


def _record(code: str, ok: bool, refused: bool, moved: float, area0: float, area1: float,
            tol: float) -> dict[str, Any]:
    if not ok:
        return {"code": code, "action": "skipped_invalid", "max_move_m": 0.0,
                "area_before_m2": None, "area_after_m2": None,
                "detail": "missing, empty or invalid geometry: not cleaned (see validate)"}
    if refused:
        return {"code": code, "action": "not_fixed", "max_move_m": moved, "area_before_m2": area0,
                "area_after_m2": area0, "detail": f"fixing would move its boundary by "
                f"{moved:.3f} m > {tol:g} m: left as it was (a wide overlap or a real gap)"}
    if moved == 0 and area0 == area1:
        return {"code": code, "action": "noded", "max_move_m": 0.0, "area_before_m2": area0,
                "area_after_m2": area1, "detail": "vertices added where neighbours' vertices "
                "lie on its edges (shape unchanged)"}
    return {"code": code, "action": "snapped", "max_move_m": moved, "area_before_m2": area0,
            "area_after_m2": area1, "detail": f"boundary snapped to its neighbours (moved at "
            f"most {moved:.3f} m, area {area1 - area0:+.2f} m²)"}
