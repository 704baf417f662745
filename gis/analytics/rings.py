"""Response rings around police posts ("5公里10分钟", "10公里20分钟") and the villages outside.

Rings are buffers drawn in the WGS84 UTM zone of the posts (:func:`gis.crs.utm_crs_for`),
dissolved per radius and returned in EPSG:4490. Inside a county the UTM scale factor differs
from 1 by less than 0.1 % (0.04 % at the zone's edge at 39° N), so a ring of radius r is the
set of points within r of a post to that precision; the polygon is a regular 4 ×
:data:`settings.RING_QUAD_SEGS`-gon (area 0.04 % below π r² with 32).

Distances from villages to posts are geodesic (WGS84 ellipsoid, :class:`pyproj.Geod`), and a
village is inside a radius when its populated centre is within that distance of its nearest
post.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from gis import settings
from gis._errors import AnalysisError
from gis.crs import utm_crs_for

GEOD = pyproj.Geod(ellps="WGS84")
_CANDIDATES = 8  # nearest posts in UTM whose geodesic distance is compared


def default_radii() -> tuple[float, ...]:
    """Radii of :data:`settings.RESPONSE_STANDARDS`, metres (5,000 and 10,000)."""
    return tuple(float(r) for r, _ in settings.RESPONSE_STANDARDS)


def flag_name(radius_m: float) -> str:
    """Column name of the "inside this radius" flag: 5000 → ``inside_5km``."""
    return f"inside_{radius_m / 1000:g}km"


def _radii(radii_m: Sequence[float] | None) -> tuple[float, ...]:
    radii = default_radii() if radii_m is None else tuple(float(r) for r in radii_m)
    if not radii or any(not np.isfinite(r) or r <= 0 for r in radii):
        msg = f"rings: radii must be distances > 0 in metres, got {radii_m!r}"
        raise AnalysisError(msg)
    return tuple(sorted(set(radii)))


def posts_lonlat(posts: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, codes, names) of posts given as a GeoDataFrame / GeoSeries of points
    (EPSG:4490; ``code`` / ``name`` columns used when present), an array of shapely points,
    or an (n, 2) array of lon / lat degrees."""
    codes = names = None
    if isinstance(posts, gpd.GeoDataFrame):
        if "code" in posts.columns:
            codes = posts["code"].to_numpy(dtype=object)
        if "name" in posts.columns:
            names = posts["name"].to_numpy(dtype=object)
        posts = posts.geometry
    if isinstance(posts, gpd.GeoSeries):
        if posts.crs is not None and posts.crs.to_epsg() not in (4326, settings.STORAGE_SRID):
            posts = posts.to_crs(epsg=settings.STORAGE_SRID)
        posts = np.asarray(posts.values, dtype=object)
    arr = np.asarray(posts)
    if arr.dtype == object:
        ok = ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
        if not ok.all() or not (shapely.get_type_id(arr) == 0).all():
            msg = "rings: every post must be a point geometry (EPSG:4490)"
            raise AnalysisError(msg)
        lon, lat = shapely.get_x(arr), shapely.get_y(arr)
    else:
        arr = np.asarray(arr, dtype=float).reshape(-1, 2)
        lon, lat = arr[:, 0], arr[:, 1]
    if len(lon) == 0:
        msg = "rings: no police post given"
        raise AnalysisError(msg)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()
            and (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all()):
        msg = "rings: post coordinates must be finite lon / lat degrees (EPSG:4490)"
        raise AnalysisError(msg)
    n = len(lon)
    codes = np.array([f"post{i}" for i in range(n)], dtype=object) if codes is None else codes
    names = codes.copy() if names is None else names
    return np.asarray(lon, float), np.asarray(lat, float), codes, names


def response_rings(posts: object, radii_m: Sequence[float] | None = None,
                   quad_segs: int | None = None) -> gpd.GeoDataFrame:
    """Dissolved response rings around the posts, one row per radius.

    Parameters
    ----------
    posts : GeoDataFrame / GeoSeries of points, array of points, or (n, 2) lon / lat array
        Police posts, EPSG:4490.
    radii_m : sequence of float, optional
        Ring radii, metres; default the distances of :data:`settings.RESPONSE_STANDARDS`.
    quad_segs : int, optional
        Segments per quarter circle; default :data:`settings.RING_QUAD_SEGS`.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4490, smallest radius first: ``radius_m``, ``minutes`` (the response time of
        that distance in :data:`settings.RESPONSE_STANDARDS`, NaN if none), ``n_posts``,
        ``area_km2`` (in the UTM zone), ``geometry`` (MultiPolygon, the union of the
        buffers).
    """
    lon, lat, _, _ = posts_lonlat(posts)
    radii = _radii(radii_m)
    segs = int(settings.RING_QUAD_SEGS if quad_segs is None else quad_segs)
    utm = utm_crs_for(float(np.mean(lon)), float(np.mean(lat)))
    x, y = pyproj.Transformer.from_crs(4326, utm, always_xy=True).transform(lon, lat)
    pts = shapely.points(x, y)
    back = pyproj.Transformer.from_crs(utm, 4326, always_xy=True)
    minutes = dict(settings.RESPONSE_STANDARDS)
    rows = []
    for r in radii:
        ring = shapely.union_all(shapely.buffer(pts, r, quad_segs=segs))
        area = ring.area / 1e6
        ring = shapely.transform(ring, lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))
        if ring.geom_type == "Polygon":
            ring = shapely.MultiPolygon([ring])
        rows.append({"radius_m": r, "minutes": minutes.get(r, np.nan), "n_posts": len(lon),
                     "area_km2": area, "geometry": ring})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=f"EPSG:{settings.STORAGE_SRID}")


def nearest_posts(lon: ArrayLike, lat: ArrayLike, posts: object,
                  radii_m: Sequence[float] | None = None) -> pd.DataFrame:
    """Nearest post of each point by geodesic distance, and the inside-radius flags.

    Parameters
    ----------
    lon, lat : array_like of float
        Points, EPSG:4490 degrees.
    posts : as for :func:`response_rings`
    radii_m : sequence of float, optional
        As for :func:`response_rings`.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``nearest_post`` (code), ``nearest_post_name``, ``distance_m``
        (geodesic, metres) and one bool column per radius (``inside_5km``, …: distance ≤ r).
    """
    plon, plat, codes, names = posts_lonlat(posts)
    radii = _radii(radii_m)
    lon, lat = np.asarray(lon, dtype=float).ravel(), np.asarray(lat, dtype=float).ravel()
    utm = utm_crs_for(float(np.mean(plon)), float(np.mean(plat)))
    tr = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    k = min(_CANDIDATES, len(plon))
    best = np.zeros(len(lon), dtype=np.int64)
    dist = np.full(len(lon), np.nan)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.any():
        _, cand = cKDTree(np.column_stack(tr.transform(plon, plat))).query(
            np.column_stack(tr.transform(lon[ok], lat[ok])), k=k)
        cand = np.asarray(cand).reshape(int(ok.sum()), k)
        qlon = np.repeat(lon[ok], k)
        qlat = np.repeat(lat[ok], k)
        _, _, d = GEOD.inv(qlon, qlat, plon[cand.ravel()], plat[cand.ravel()])
        d = np.asarray(d).reshape(-1, k)
        j = d.argmin(axis=1)
        best[ok] = cand[np.arange(len(cand)), j]
        dist[ok] = d[np.arange(len(d)), j]
    out = pd.DataFrame({"nearest_post": np.where(ok, codes[best], None),
                        "nearest_post_name": np.where(ok, names[best], None),
                        "distance_m": dist})
    for r in radii:
        out[flag_name(r)] = np.nan_to_num(dist, nan=np.inf) <= r
    return out


def populated_centres(villages: gpd.GeoDataFrame, groups: gpd.GeoDataFrame | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Populated centre of each village, EPSG:4490 degrees.

    With ``groups`` (``parent_code``, ``population``, polygons): the population-weighted mean
    of the representative points of the village's groups, computed in metres (UTM); if that
    point falls outside the village polygon (a bent village), the group point nearest to it.
    Villages without groups (or with no groups given) use their representative point
    (:func:`shapely.point_on_surface`, always inside the polygon).

    Returns
    -------
    (lon, lat, method) : ndarrays; method is ``"population_weighted"``,
        ``"nearest_group"`` or ``"representative_point"``.
    """
    geoms = np.asarray(villages.geometry.values, dtype=object)
    rep = shapely.point_on_surface(geoms)
    lon, lat = shapely.get_x(rep), shapely.get_y(rep)
    method = np.full(len(geoms), "representative_point", dtype=object)
    if groups is None or len(groups) == 0:
        return lon, lat, method
    for col in ("parent_code", "population"):
        if col not in groups.columns:
            msg = f"populated_centres: the groups have no {col!r} column"
            raise AnalysisError(msg)
    gp = shapely.point_on_surface(np.asarray(groups.geometry.values, dtype=object))
    utm = utm_crs_for(float(np.nanmean(lon)), float(np.nanmean(lat)))
    tr = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    gx, gy = tr.transform(shapely.get_x(gp), shapely.get_y(gp))
    pop = pd.to_numeric(groups["population"], errors="coerce").fillna(0).clip(lower=0).to_numpy()
    df = pd.DataFrame({"v": groups["parent_code"].astype(str).to_numpy(), "x": gx, "y": gy,
                       "w": pop, "n": 1.0})
    df["w"] = np.where(df.groupby("v")["w"].transform("sum") > 0, df["w"], 1.0)
    df["wx"], df["wy"] = df["w"] * df["x"], df["w"] * df["y"]
    agg = df.groupby("v")[["wx", "wy", "w"]].sum()
    pos = agg.index.get_indexer(villages["code"].astype(str).to_numpy())
    has = pos >= 0
    cx = agg["wx"].to_numpy()[pos[has]] / agg["w"].to_numpy()[pos[has]]
    cy = agg["wy"].to_numpy()[pos[has]] / agg["w"].to_numpy()[pos[has]]
    clon, clat = pyproj.Transformer.from_crs(utm, 4326, always_xy=True).transform(cx, cy)
    inside = shapely.contains_xy(geoms[has], clon, clat)
    idx = np.flatnonzero(has)
    lon[idx[inside]], lat[idx[inside]] = clon[inside], clat[inside]
    method[idx[inside]] = "population_weighted"
    gcodes = df["v"].to_numpy()
    for i, x, y in zip(idx[~inside], cx[~inside], cy[~inside], strict=True):
        mine = np.flatnonzero(gcodes == str(villages["code"].iloc[i]))
        j = mine[np.argmin(np.hypot(gx[mine] - x, gy[mine] - y))]
        lon[i], lat[i] = shapely.get_x(gp[j]), shapely.get_y(gp[j])
        method[i] = "nearest_group"
    return lon, lat, method


def villages_outside_rings(villages: gpd.GeoDataFrame, posts: object,
                           radii_m: Sequence[float] | None = None,
                           groups: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """Per village: populated centre, nearest post, geodesic distance, inside each ring.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        ``code`` (``name`` and ``population`` kept when present) and polygons, EPSG:4490.
    posts : as for :func:`response_rings`
    radii_m : sequence of float, optional
        Ring radii, metres; default the distances of :data:`settings.RESPONSE_STANDARDS`.
    groups : geopandas.GeoDataFrame, optional
        Level-2 grids (``parent_code``, ``population``) for population-weighted centres
        (see :func:`populated_centres`).

    Returns
    -------
    pandas.DataFrame
        Index aligned with ``villages``: ``code``, ``name``, ``population`` (when present),
        ``centre_lon``, ``centre_lat``, ``centre_method``, ``nearest_post``,
        ``nearest_post_name``, ``distance_m`` and ``inside_5km``, ``inside_10km`` (one per
        radius); ``outside_all`` is True when the centre is outside even the largest ring.
    """
    if "code" not in villages.columns:
        msg = "villages_outside_rings: the villages have no 'code' column"
        raise AnalysisError(msg)
    radii = _radii(radii_m)
    lon, lat, method = populated_centres(villages, groups)
    out = pd.DataFrame({"code": villages["code"].to_numpy()}, index=villages.index)
    for col in ("name", "population"):
        if col in villages.columns:
            out[col] = villages[col].to_numpy()
    out["centre_lon"], out["centre_lat"], out["centre_method"] = lon, lat, method
    near = nearest_posts(lon, lat, posts, radii)
    for col in near.columns:
        out[col] = near[col].to_numpy()
    out["outside_all"] = ~out[flag_name(max(radii))]
    return out
