"""Cameras (雪亮工程): view shapes and coverage per grid.

A camera sees a disc of ``radius_m`` around it, or a sector of that disc when it has a
``direction_deg`` (compass bearing of the view's axis: 0 = north, 90 = east, clockwise from
true north) and an ``angle_deg`` (width of the view, centred on the axis) below 360. Shapes
are built in the WGS84 UTM zone of the cameras (:func:`gis.crs.utm_crs_for`), where the
bearing is turned from true north to grid north at each camera (the meridian convergence,
up to ~2° at a zone's edge), and are returned in EPSG:4490.

Coverage per grid (:func:`camera_coverage`) compares, inside each grid, the union of the
views with

* the **populated area**: polygons given by the caller (e.g. built-up footprints), or a
  proxy (:data:`settings.CAMERA_POPULATED_PROXY`): ``"centres"`` = a disc of
  :data:`settings.CAMERA_POPULATED_RADIUS_M` around the populated centre (a point inside,
  :func:`shapely.point_on_surface`) of every group grid, a stand-in for the settlement of each
  villager group; ``"grid"`` = the whole grid;
* **key areas** (重点区域, polygons) and **key road sections** (重点路段, lines) when given
  as GeoDataFrames (the store has no tables for them yet).

All areas and lengths are measured in the UTM zone (scale error < 0.1 % inside a county).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AnalysisError
from gis.crs import combined_centroid, utm_crs_for

PROXIES = ("centres", "grid")
"""Populated-area proxies of :func:`populated_proxy` / :func:`camera_coverage`."""

_NORTH_STEP_DEG = 1e-4  # latitude step used to find true north in the UTM grid


def _utm_for(*geoseries: object) -> pyproj.CRS:
    arrs = [np.asarray(g, dtype=object) for g in geoseries if g is not None and len(g)]
    if not arrs:
        msg = "cameras: nothing to measure (no grids and no cameras)"
        raise AnalysisError(msg)
    return utm_crs_for(*combined_centroid(np.concatenate(arrs)))


def _to(geoms: object, src: object, dst: object) -> np.ndarray:
    tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    arr = np.asarray(geoms, dtype=object)
    return shapely.transform(arr, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


def _lonlat(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    """Geometries in EPSG:4490 / 4326 degrees (reprojected when the frame says otherwise)."""
    geo = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    if geo.crs is not None and geo.crs.to_epsg() not in (4326, settings.STORAGE_SRID):
        geo = geo.to_crs(epsg=settings.STORAGE_SRID)
    return np.asarray(geo.values, dtype=object)


def _column(cameras: pd.DataFrame, name: str) -> np.ndarray:
    if name not in cameras.columns:
        return np.full(len(cameras), np.nan)
    return pd.to_numeric(cameras[name], errors="coerce").to_numpy(dtype=float)


def camera_views(cameras: gpd.GeoDataFrame, quad_segs: int | None = None,
                 utm: pyproj.CRS | None = None, metric: bool = False) -> gpd.GeoSeries:
    """View shape of every camera: a disc, or a sector when direction and angle are given.

    Parameters
    ----------
    cameras : GeoDataFrame
        Points (EPSG:4490) with ``radius_m`` (metres; missing / ≤ 0 →
        :data:`settings.CAMERA_DEFAULT_RADIUS_M`), optional ``direction_deg`` (bearing of
        the view's axis, clockwise from north) and ``angle_deg`` (view width; missing or
        ≥ 360 → a full disc; ≤ 0 → no view).
    quad_segs : int, optional
        Segments per quarter circle; default :data:`settings.CAMERA_QUAD_SEGS`.
    utm : pyproj.CRS, optional
        Metric CRS to build in (default: the UTM zone of the cameras).
    metric : bool
        Return the shapes in ``utm`` (metres) instead of EPSG:4490.

    Returns
    -------
    geopandas.GeoSeries
        Polygons, index aligned with ``cameras`` (empty polygon for a camera without view).
    """
    segs = int(settings.CAMERA_QUAD_SEGS if quad_segs is None else quad_segs)
    pts = _lonlat(cameras)
    if len(pts) == 0:
        crs = utm if metric else f"EPSG:{settings.STORAGE_SRID}"
        return gpd.GeoSeries([], index=cameras.index, crs=crs)
    if not (shapely.get_type_id(pts) == 0).all():
        msg = "cameras: every camera must be a point geometry (EPSG:4490)"
        raise AnalysisError(msg)
    lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    utm = utm or _utm_for(pts)
    tr = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    x, y = tr.transform(lon, lat)
    nx, ny = tr.transform(lon, lat + _NORTH_STEP_DEG)
    north = np.degrees(np.arctan2(nx - x, ny - y))  # grid bearing of true north
    r = _column(cameras, "radius_m")
    r = np.where(np.isfinite(r) & (r > 0), r, float(settings.CAMERA_DEFAULT_RADIUS_M))
    direction = _column(cameras, "direction_deg")
    angle = _column(cameras, "angle_deg")
    full = ~np.isfinite(direction) | ~np.isfinite(angle) | (angle >= 360.0)
    shapes = np.empty(len(pts), dtype=object)
    centres = shapely.points(x, y)
    if full.any():
        shapes[full] = shapely.buffer(centres[full], r[full], quad_segs=segs)
    for i in np.flatnonzero(~full):
        if angle[i] <= 0:
            shapes[i] = shapely.Polygon()
            continue
        n = max(2, int(np.ceil(angle[i] / 90.0 * segs)))
        # bearings (clockwise from grid north) → math angles (counter-clockwise from east)
        b = np.radians(direction[i] + north[i] + np.linspace(-angle[i] / 2, angle[i] / 2, n + 1))
        ring = np.column_stack([x[i] + r[i] * np.sin(b), y[i] + r[i] * np.cos(b)])
        shapes[i] = shapely.Polygon(np.vstack([[x[i], y[i]], ring, [[x[i], y[i]]]]))
    if metric:
        return gpd.GeoSeries(shapes, index=cameras.index, crs=utm)
    return gpd.GeoSeries(_to(shapes, utm, 4326), index=cameras.index,
                         crs=f"EPSG:{settings.STORAGE_SRID}")


def populated_proxy(grids: gpd.GeoDataFrame, radius_m: float | None = None,
                    method: str | None = None) -> gpd.GeoSeries:
    """The populated-area proxy of grids, EPSG:4490, index aligned with ``grids``.

    ``method`` (default :data:`settings.CAMERA_POPULATED_PROXY`): ``"centres"`` = a disc of
    ``radius_m`` (default :data:`settings.CAMERA_POPULATED_RADIUS_M`) around a point inside
    each grid (:func:`shapely.point_on_surface`) clipped to the grid; give the *group* grids
    so every villager group's settlement counts, also when measuring villages.
    ``"grid"`` = the grids themselves.
    """
    method = settings.CAMERA_POPULATED_PROXY if method is None else method
    if method not in PROXIES:
        msg = f"cameras: populated-area proxy must be one of {', '.join(PROXIES)}, " \
              f"not {method!r}"
        raise AnalysisError(msg)
    geoms = _lonlat(grids)
    if method == "grid" or len(geoms) == 0:
        return gpd.GeoSeries(geoms, index=grids.index, crs=f"EPSG:{settings.STORAGE_SRID}")
    radius = float(settings.CAMERA_POPULATED_RADIUS_M if radius_m is None else radius_m)
    if not np.isfinite(radius) or radius <= 0:
        msg = f"cameras: the populated-area radius must be > 0 metres, got {radius_m!r}"
        raise AnalysisError(msg)
    utm = _utm_for(geoms)
    gm = _to(geoms, 4326, utm)
    discs = shapely.intersection(
        shapely.buffer(shapely.point_on_surface(gm), radius, quad_segs=settings.CAMERA_QUAD_SEGS),
        gm)
    return gpd.GeoSeries(_to(discs, utm, 4326), index=grids.index,
                         crs=f"EPSG:{settings.STORAGE_SRID}")


def _keep(geom: shapely.Geometry, types: tuple[int, ...], empty: shapely.Geometry
          ) -> shapely.Geometry:
    """``geom`` without the parts of other dimensions (points / lines left by a clip)."""
    if shapely.get_type_id(geom) in types:
        return geom
    parts = shapely.get_parts(geom)
    parts = parts[np.isin(shapely.get_type_id(parts), types)]
    return shapely.union_all(parts) if len(parts) else empty


def _clip_per_grid(grids_m: np.ndarray, geoms_m: np.ndarray, lines: bool = False
                   ) -> np.ndarray:
    """For every grid: the union of the ``geoms_m`` that meet it, clipped to the grid."""
    out = np.empty(len(grids_m), dtype=object)
    empty = shapely.LineString() if lines else shapely.Polygon()
    out[:] = [empty] * len(grids_m)
    geoms_m = geoms_m[~shapely.is_missing(geoms_m) & ~shapely.is_empty(geoms_m)]
    if len(geoms_m) == 0 or len(grids_m) == 0:
        return out
    tree = shapely.STRtree(geoms_m)
    gi, ki = tree.query(grids_m, predicate="intersects")
    if len(gi) == 0:
        return out
    order = np.argsort(gi, kind="stable")
    gi, ki = gi[order], ki[order]
    cuts = np.flatnonzero(np.diff(gi)) + 1
    for g_idx, k_idx in zip(np.split(gi, cuts), np.split(ki, cuts), strict=True):
        g = int(g_idx[0])
        parts = geoms_m[k_idx]
        merged = shapely.union_all(parts) if len(parts) > 1 else parts[0]
        clipped = shapely.intersection(merged, grids_m[g])
        out[g] = _keep(clipped, (1, 2, 5) if lines else (3, 6), empty)
    return out


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(whole > 0, part / np.where(whole > 0, whole, 1.0), np.nan)
    return np.clip(s, 0.0, 1.0)


def camera_coverage(grids: gpd.GeoDataFrame, cameras: gpd.GeoDataFrame,
                    key_areas: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
                    key_roads: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
                    populated: gpd.GeoDataFrame | gpd.GeoSeries | str | None = None
                    ) -> pd.DataFrame:
    """Share of each grid's populated area, key areas and key road sections in camera view.

    Parameters
    ----------
    grids : GeoDataFrame
        ``code`` and polygons (EPSG:4490); ``name``, ``parent_code``, ``township_code`` are
        kept when present.
    cameras : GeoDataFrame
        As for :func:`camera_views`.
    key_areas : GeoDataFrame or GeoSeries of polygons, optional
        Key areas (重点区域).
    key_roads : GeoDataFrame or GeoSeries of lines, optional
        Key road sections (重点路段).
    populated : GeoDataFrame / GeoSeries of polygons, or ``"centres"`` / ``"grid"``, optional
        The populated area; default :data:`settings.CAMERA_POPULATED_PROXY` applied to
        ``grids`` (see :func:`populated_proxy`; for village grids pass
        ``populated_proxy(groups)`` to count every group's settlement).

    Returns
    -------
    pandas.DataFrame
        Index aligned with ``grids``: ``code`` (and kept columns), ``n_cameras`` (cameras
        standing in the grid), ``view_m2`` (area of the grid in view), ``grid_share``
        (of the grid's area), ``populated_m2``, ``populated_covered_m2``,
        ``populated_share`` (NaN when the grid has no populated area), and when given
        ``key_area_m2``, ``key_area_covered_m2``, ``key_area_share``, ``key_road_m``,
        ``key_road_covered_m``, ``key_road_share`` (NaN where the grid has none).
    """
    if "code" not in grids.columns:
        msg = "camera_coverage: the grids have no 'code' column"
        raise AnalysisError(msg)
    gll = _lonlat(grids)
    cll = _lonlat(cameras) if len(cameras) else np.array([], dtype=object)
    utm = _utm_for(gll, cll)
    gm = _to(gll, 4326, utm)
    out = pd.DataFrame({"code": grids["code"].to_numpy()}, index=grids.index)
    for col in ("name", "parent_code", "township_code", "population"):
        if col in grids.columns:
            out[col] = grids[col].to_numpy()
    # cameras standing in each grid (a camera on a shared edge counts once, for the first)
    n_cam = np.zeros(len(gm), dtype=np.int64)
    if len(cll):
        cm = _to(cll, 4326, utm)
        gi, ci = shapely.STRtree(gm).query(cm, predicate="intersects")
        _, first = np.unique(gi, return_index=True)
        n_cam = np.bincount(ci[first], minlength=len(gm)).astype(np.int64)
        views = np.asarray(camera_views(cameras, utm=utm, metric=True).values, dtype=object)
    else:
        views = np.array([], dtype=object)
    out["n_cameras"] = n_cam
    view = _clip_per_grid(gm, views)
    grid_area = shapely.area(gm)
    out["view_m2"] = shapely.area(view)
    out["grid_share"] = _share(out["view_m2"].to_numpy(), grid_area)

    if populated is None or isinstance(populated, str):
        pop_ll = np.asarray(populated_proxy(grids, method=populated).values, dtype=object)
    else:
        pop_ll = _lonlat(populated)
    pop = _clip_per_grid(gm, _to(pop_ll, 4326, utm))
    pop_a = shapely.area(pop)
    cov_a = shapely.area(shapely.intersection(pop, view))
    out["populated_m2"] = pop_a
    out["populated_covered_m2"] = cov_a
    out["populated_share"] = _share(cov_a, pop_a)
    if key_areas is not None:
        ka = _clip_per_grid(gm, _to(_lonlat(key_areas), 4326, utm))
        a = shapely.area(ka)
        c = shapely.area(shapely.intersection(ka, view))
        out["key_area_m2"], out["key_area_covered_m2"] = a, c
        out["key_area_share"] = _share(c, a)
    if key_roads is not None:
        kr = _clip_per_grid(gm, _to(_lonlat(key_roads), 4326, utm), lines=True)
        length = shapely.length(kr)
        c = shapely.length(shapely.intersection(kr, view))
        out["key_road_m"], out["key_road_covered_m"] = length, c
        out["key_road_share"] = _share(c, length)
    return out


def villages_below_target(coverage: pd.DataFrame, target: float | None = None,
                          team_villages: Iterable[str] | None = None,
                          column: str = "populated_share") -> pd.DataFrame:
    """Villages whose camera coverage is under the target.

    Parameters
    ----------
    coverage : DataFrame
        :func:`camera_coverage` of the village grids.
    target : float, optional
        Share to reach (1.0 = 100 %); default :data:`settings.CAMERA_TARGET_SHARE`.
    team_villages : iterable of str, optional
        Codes of the villages with a resident team (驻村工作队) the target applies to;
        default all villages (the store does not record teams yet).
    column : str
        Share compared with the target (``populated_share``, ``key_area_share``, …).

    Returns
    -------
    pandas.DataFrame
        The rows of ``coverage`` below the target (1e-6 tolerance: a full 64-gon view
        counts as full), lowest share first, with ``target`` and ``shortfall`` (target −
        share). Villages without populated area (NaN share) are not listed.
    """
    target = float(settings.CAMERA_TARGET_SHARE if target is None else target)
    if not 0.0 <= target <= 1.0:
        msg = f"cameras: the target is a share between 0 and 1, got {target!r}"
        raise AnalysisError(msg)
    if column not in coverage.columns:
        msg = f"cameras: the coverage table has no {column!r} column"
        raise AnalysisError(msg)
    c = coverage
    if team_villages is not None:
        c = c[c["code"].astype(str).isin({str(v) for v in team_villages})]
    share = c[column].astype(float)
    below = c[share.notna() & (share < target - 1e-6)].copy()
    below["target"] = target
    below["shortfall"] = target - below[column].astype(float)
    return below.sort_values([column, "code"], kind="stable")


# --- the store ---------------------------------------------------------------------------

def read_cameras(conn: Connection, adcode: str | None = None) -> gpd.GeoDataFrame:
    """Cameras as points (EPSG:4490): code, radius_m, direction_deg, angle_deg."""
    rows = conn.execute(sa.text("""select code, radius_m, direction_deg, angle_deg,
            st_x(geom), st_y(geom) from camera
        where cast(:a as text) is null or adcode = :a order by code"""), {"a": adcode}).all()
    df = pd.DataFrame(rows, columns=["code", "radius_m", "direction_deg", "angle_deg",
                                     "lon", "lat"])
    for col in ("radius_m", "direction_deg", "angle_deg", "lon", "lat"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]),
                            geometry=gpd.points_from_xy(df["lon"], df["lat"]),
                            crs=settings.STORAGE_SRID)


@dataclass
class CountyCameras:
    """What :func:`cameras_for_county` returns."""

    adcode: str
    version_id: int
    level: str
    grids: gpd.GeoDataFrame
    """:func:`camera_coverage` columns and the grid polygons."""
    below_target: pd.DataFrame
    """:func:`villages_below_target` (village level only; empty for groups)."""
    cameras: gpd.GeoDataFrame


def cameras_for_county(conn: Connection, adcode: str | None = None, level: str = "village",
                       key_areas: gpd.GeoDataFrame | None = None,
                       key_roads: gpd.GeoDataFrame | None = None,
                       target: float | None = None,
                       team_villages: Sequence[str] | None = None) -> CountyCameras:
    """:func:`camera_coverage` of the grids of ``level`` (village | group) of the version in
    force, with the populated-area proxy built from the group grids."""
    from gis.grids import versions
    from gis.grids.store import read_grids

    if level not in ("village", "group"):
        msg = f"--level must be village or group, not {level!r}"
        raise AnalysisError(msg)
    vid = versions.in_force(conn, adcode)
    if vid is None:
        msg = "no grid version in force: load the demo ('wangge demo') or publish grids"
        raise AnalysisError(msg)
    adcode = str(versions.get_version(conn, vid)["adcode"])
    groups = read_grids(conn, vid, level=2)
    grids = groups if level == "group" else read_grids(conn, vid, level=1)
    cams = read_cameras(conn, adcode)
    basis = groups if len(groups) else grids
    method = settings.CAMERA_POPULATED_PROXY
    populated = populated_proxy(basis, method=method) if method == "centres" else "grid"
    cov = camera_coverage(grids, cams, key_areas, key_roads, populated)
    gdf = gpd.GeoDataFrame(cov, geometry=grids.geometry.values, crs=settings.STORAGE_SRID)
    below = villages_below_target(cov, target, team_villages) if level == "village" \
        else cov.iloc[0:0]
    return CountyCameras(adcode=adcode, version_id=int(vid), level=level, grids=gdf,
                         below_target=below, cameras=cams)
