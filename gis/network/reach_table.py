"""The seeds' "10 / 20 minutes" and "5 / 10 km" standards as a table, per village and group.

For each point (a village's populated centre, a group's representative point): the nearest
police post by road time (from one multi-source Dijkstra, :func:`gis.network.graph.post_times`,
with the point's own off-network leg added at :data:`settings.SNAP_SPEED_KPH`), whether it is
reached within each time limit, and the geodesic ring standards of
:func:`gis.analytics.rings.nearest_posts`. :func:`population_share_by_township` turns the
table into the share of the population inside each standard per township.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis import settings
from gis._errors import AnalysisError
from gis.analytics.rings import nearest_posts, populated_centres
from gis.network.graph import (
    PostTimes,
    RoadNetwork,
    check_snap_speed,
    post_times,
    time_limits,
)


def meets_name(minutes: float) -> str:
    """Column name of the "within this many minutes by road" flag: 10 → ``meets_10``."""
    return f"meets_{float(minutes):g}"



def _points_lonlat(points: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    for lo, la in (("lon", "lat"), ("centre_lon", "centre_lat")):
        if lo in points.columns and la in points.columns:
            return (pd.to_numeric(points[lo], errors="coerce").to_numpy(float),
                    pd.to_numeric(points[la], errors="coerce").to_numpy(float))
    if isinstance(points, gpd.GeoDataFrame):
        g = points.geometry
        if g.crs is not None and g.crs.to_epsg() not in (4326, settings.STORAGE_SRID):
            g = g.to_crs(epsg=settings.STORAGE_SRID)
        arr = np.asarray(g.values, dtype=object)
        pts = np.where(shapely.get_type_id(arr) == 0, arr, shapely.point_on_surface(arr))
        return shapely.get_x(pts), shapely.get_y(pts)
    msg = ("road_standard_table: the points need lon / lat (or centre_lon / centre_lat) "
           "columns, or point geometries")
    raise AnalysisError(msg)


def _standard(pt: PostTimes, lon: np.ndarray, lat: np.ndarray, limits: tuple[float, ...],
              snap_speed_kph: float | None) -> pd.DataFrame:
    ok = np.isfinite(lon) & np.isfinite(lat)
    node = np.zeros(len(lon), np.int64)
    snap_m = np.full(len(lon), np.nan)
    if ok.any():
        node[ok], snap_m[ok] = pt.network.snap(lon[ok], lat[ok], "destination")
    secs = np.where(ok, pt.time[node] + snap_m / (check_snap_speed(snap_speed_kph) / 3.6), np.inf)
    lab = np.where(ok, pt.label[node], -1)
    reach = np.isfinite(secs) & (lab >= 0)
    out = pd.DataFrame({
        "road_post": np.where(reach, pt.codes[np.maximum(lab, 0)], None),
        "road_post_name": np.where(reach, pt.names[np.maximum(lab, 0)], None),
        "road_minutes": np.where(reach, secs / 60.0, np.nan),
        "snap_m": snap_m,
    })
    for m in limits:
        out[meets_name(m)] = reach & (secs <= m * 60.0 + 1e-9)
    return out


def road_standard_table(G: nx.MultiDiGraph | RoadNetwork, points: pd.DataFrame, posts: object,
                        minutes: Sequence[float] | None = None,
                        radii_m: Sequence[float] | None = None,
                        snap_speed_kph: float | None = None) -> pd.DataFrame:
    """Per point (village or group centre): nearest post by road time and the standards.

    Parameters
    ----------
    G : graph or :class:`RoadNetwork`
    points : DataFrame with ``lon`` / ``lat`` (or ``centre_lon`` / ``centre_lat``, as
        :func:`gis.analytics.rings.villages_outside_rings` gives) or a GeoDataFrame of points
        (polygons use their representative point); its other columns (``code``, ``name``,
        ``population``, ``township_code``, …) are kept.
    posts : as for :func:`post_times`.
    minutes : road standards, default :data:`settings.ISOCHRONE_MINUTES` (10, 20).
    radii_m : ring standards, default the distances of :data:`settings.RESPONSE_STANDARDS`.
    snap_speed_kph : speed of the off-network legs at both ends.

    Returns
    -------
    pandas.DataFrame
        Index aligned with ``points``: its columns (geometry dropped), ``lon``, ``lat``,
        ``road_post``, ``road_post_name`` (nearest post by road time), ``road_minutes``
        (NaN when unreachable), ``snap_m`` (point to its node), ``meets_10``, ``meets_20``
        (one per limit), then the ring columns of :func:`gis.analytics.rings.nearest_posts`:
        ``nearest_post``, ``nearest_post_name``, ``distance_m`` (geodesic), ``inside_5km``,
        ``inside_10km``.
    """
    limits = time_limits(minutes)
    net = RoadNetwork.of(G)
    pt = post_times(net, posts, np.inf, snap_speed_kph)
    return _table(pt, points, posts, limits, radii_m, snap_speed_kph)


def _table(pt: PostTimes, points: pd.DataFrame, posts: object, limits: tuple[float, ...],
           radii_m: Sequence[float] | None, snap_speed_kph: float | None) -> pd.DataFrame:
    lon, lat = _points_lonlat(points)
    base = pd.DataFrame(points.drop(columns="geometry", errors="ignore")).copy()
    base = base.drop(columns=[c for c in ("lon", "lat") if c in base.columns])
    base["lon"], base["lat"] = lon, lat
    road = _standard(pt, lon, lat, limits, snap_speed_kph)
    ring = nearest_posts(lon, lat, posts, radii_m)
    for frame in (road, ring):
        for col in frame.columns:
            base[col] = frame[col].to_numpy()
    return base


def village_standard_table(G: nx.MultiDiGraph | RoadNetwork, villages: gpd.GeoDataFrame,
                           posts: object, groups: gpd.GeoDataFrame | None = None,
                           minutes: Sequence[float] | None = None,
                           radii_m: Sequence[float] | None = None,
                           snap_speed_kph: float | None = None) -> pd.DataFrame:
    """The standards table of every village (populated centre) and every group (representative
    point), from one multi-source Dijkstra.

    Returns
    -------
    pandas.DataFrame
        Columns of :func:`road_standard_table` with ``level`` ("village" / "group"),
        ``code``, ``name``, ``village_code``, ``township_code``, ``population``,
        ``centre_method`` first; villages first, then groups.
    """
    for col in ("code",):
        if col not in villages.columns:
            msg = f"village_standard_table: the villages have no {col!r} column"
            raise AnalysisError(msg)
    limits = time_limits(minutes)
    net = RoadNetwork.of(G)
    pt = post_times(net, posts, np.inf, snap_speed_kph)
    lon, lat, method = populated_centres(villages, groups)

    def col(df: pd.DataFrame, name: str) -> np.ndarray:
        return df[name].to_numpy() if name in df.columns else np.full(len(df), None)

    v = pd.DataFrame({"level": "village", "code": col(villages, "code"),
                      "name": col(villages, "name"), "village_code": col(villages, "code"),
                      "township_code": col(villages, "township_code"),
                      "population": col(villages, "population"),
                      "centre_method": method, "lon": lon, "lat": lat})
    frames = [_table(pt, v, posts, limits, radii_m, snap_speed_kph)]
    if groups is not None and len(groups):
        gp = shapely.point_on_surface(np.asarray(groups.geometry.values, dtype=object))
        g = pd.DataFrame({"level": "group", "code": col(groups, "code"),
                          "name": col(groups, "name"), "village_code": col(groups, "parent_code"),
                          "township_code": col(groups, "township_code"),
                          "population": col(groups, "population"),
                          "centre_method": "representative_point",
                          "lon": shapely.get_x(gp), "lat": shapely.get_y(gp)})
        frames.append(_table(pt, g, posts, limits, radii_m, snap_speed_kph))
    return pd.concat(frames, ignore_index=True)


def population_share_by_township(table: pd.DataFrame, level: str | None = "group",
                                 townships: pd.DataFrame | None = None,
                                 population: str = "population",
                                 total: bool = True) -> pd.DataFrame:
    """Share of the population inside each standard, per township.

    Parameters
    ----------
    table : a :func:`village_standard_table` / :func:`road_standard_table` result with
        ``township_code``, ``population`` and flag columns (``meets_*``, ``inside_*``).
    level : rows of this ``level`` only ("group": finer, the default; "village"), when the
        table has a ``level`` column; None uses every row.
    townships : optional frame with ``code`` and ``name`` to name the townships.
    population : the population column.
    total : add a last row for the whole county (``township_code`` "all").

    Returns
    -------
    pandas.DataFrame
        Per township (sorted by code): ``township_code``, ``township_name`` (with
        ``townships``), ``n_units``, ``population``, then per flag ``<flag>_population`` and
        ``<flag>_share`` (0 … 1; NaN for a township without population).
    """
    for need in ("township_code", population):
        if need not in table.columns:
            msg = f"population_share_by_township: the table has no {need!r} column"
            raise AnalysisError(msg)
    df = table
    if level is not None and "level" in df.columns:
        df = df[df["level"] == level]
    flags = [c for c in df.columns if c.startswith(("meets_", "inside_"))]
    if not flags:
        msg = "population_share_by_township: the table has no meets_* / inside_* columns"
        raise AnalysisError(msg)
    pop = pd.to_numeric(df[population], errors="coerce").fillna(0).clip(lower=0)
    work = pd.DataFrame({"township_code": df["township_code"].astype(str).to_numpy(),
                         "pop": pop.to_numpy()})
    for f in flags:
        work[f] = np.where(df[f].fillna(False).astype(bool).to_numpy(), work["pop"], 0.0)
    agg = work.groupby("township_code", sort=True).agg(
        n_units=("pop", "size"), population=("pop", "sum"), **{f: (f, "sum") for f in flags})
    if total:
        agg.loc["all"] = agg.sum(numeric_only=True)
    out = pd.DataFrame({"township_code": agg.index.to_numpy()})
    if townships is not None:
        names = dict(zip(townships["code"].astype(str), townships["name"], strict=False))
        names["all"] = "全县"
        out["township_name"] = out["township_code"].map(names)
    out["n_units"] = agg["n_units"].to_numpy().astype(int)
    out["population"] = agg["population"].to_numpy()
    denom = np.where(out["population"] > 0, out["population"], np.nan)
    for f in flags:
        out[f"{f}_population"] = agg[f].to_numpy()
        out[f"{f}_share"] = agg[f].to_numpy() / denom
    return out
