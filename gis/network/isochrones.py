"""Road-network isochrones of police posts: polygons of the area reached within T minutes.

Method
------
Travel times come from :func:`gis.network.graph.post_times` (one multi-source Dijkstra,
see :mod:`gis.network.graph` for the prepared network, snapping and routing).

**Isochrones.** Per post and time limit T (``per_post="nearest"``, the default): the area
the network reaches within T *from the post that is nearest by road*, i.e. the multi-source
run partitions the network among posts (a post's polygon is its catchment cut at T; their
union is the area within T of any post). ``per_post="each"`` runs one Dijkstra per post
instead and gives each post its full, overlapping isochrone. A polygon is the union,
buffered by :data:`settings.ISOCHRONE_BUFFER_M`, of

* every edge (u, v) whose end v is reached in time (t(u) + travel time ≤ T), whole;
* every edge whose start u is reached (t(u) < T) but not its end, cut along its geometry at
  the fraction (T − t(u)) / travel time (the speed is constant along an edge);
* the post's off-network leg (the part of it travelled within T);

so it contains every reached node (each reached node ends a wholly reached edge, or is the
post's own node, where its leg ends). Buffers are drawn in UTM and returned in EPSG:4490.
Each piece is buffered on its own and the buffers are unioned (much faster in GEOS than
buffering one big MultiLineString); a two-way road wholly reached both ways is drawn once,
and for a larger limit only the pieces not already wholly reached at the smaller one are
buffered.

**Nesting.** The buffer of a larger limit contains the reached roads of the smaller one, but
the polygons approximating two buffers need not nest (round caps and joins are cut into
chords differently), and a union only contains its inputs up to floating-point rounding
(slivers of 1e-18 square degrees). So the polygon of a larger limit is the union of its own
buffer and the polygon of the smaller limit grown by :data:`NEST_EPS_DEG` (1e-8 degrees,
about 1 mm): the polygons of one post are nested exactly (``covers`` holds), at the cost of
a millimetre, and since a smaller polygon lies strictly inside the larger one, the unions
over posts (:func:`dissolve_isochrones`) nest too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from gis import settings
from gis._errors import AnalysisError
from gis.crs import utm_crs_for
from gis.network.graph import PostTimes, RoadNetwork, post_times, time_limits
from gis.network.reach_table import (
    meets_name,
    population_share_by_township,
    road_standard_table,
    village_standard_table,
)

__all__ = ["NEST_EPS_DEG", "PostTimes", "RoadNetwork", "dissolve_isochrones", "isochrones",
           "meets_name", "population_share_by_township", "post_times", "road_standard_table",
           "village_standard_table"]
"""Public names; the routing and table ones are re-exported from :mod:`gis.network.graph`
and :mod:`gis.network.reach_table` (their old home)."""

NEST_EPS_DEG = 1e-8
"""Margin (degrees, about 1 mm) by which a smaller isochrone is grown inside the next larger."""


def _line_prefix(lines: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """The first ``dist`` metres of each line (vectorised ``shapely.ops.substring(l, 0, d)``);
    ``dist`` must be in (0, length)."""
    if len(lines) == 0:
        return np.empty(0, dtype=object)
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    seg = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
    seg[idx[1:] != idx[:-1]] = 0.0
    cum = np.r_[0.0, np.cumsum(seg)]
    starts = np.searchsorted(idx, np.arange(len(lines)))
    along = cum - cum[starts][idx]
    keep = along < dist[idx]
    end = shapely.get_coordinates(shapely.line_interpolate_point(lines, dist))
    all_xy = np.vstack([coords[keep], end])
    all_idx = np.r_[idx[keep], np.arange(len(lines))]
    all_key = np.r_[along[keep], dist]
    order = np.lexsort((all_key, all_idx))
    return shapely.linestrings(all_xy[order], indices=all_idx[order])


def _reached_lines(net: RoadNetwork, t: np.ndarray, limit: float, skip: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """Lines (UTM) reached within ``limit`` s given node times ``t``: the wholly reached edges
    (except those in the mask ``skip``) and the reached parts of partly reached edges.
    Returns (lines, mask of the wholly reached edges, number of nodes reached)."""
    tu = t[net.eu]
    reached = tu < limit
    full = reached & (tu + net.etime <= limit)
    part = reached & ~full
    geoms = net.edge_geoms
    twin = net.twin
    draw = full & ~((twin >= 0) & (twin < np.arange(len(twin))) & full[np.maximum(twin, 0)])
    pieces = [geoms[draw & ~skip] if skip is not None else geoms[draw]]
    if part.any():
        frac = (limit - tu[part]) / net.etime[part]
        lengths = shapely.length(geoms[part])
        pieces.append(_line_prefix(geoms[part], frac * lengths))
    return np.concatenate(pieces), full, int(np.count_nonzero(t <= limit))


def _leg(px: float, py: float, nx_: float, ny_: float, leg_s: float, limit: float
         ) -> shapely.Geometry:
    """The part of a post's off-network leg travelled within ``limit`` seconds."""
    if leg_s <= 0 or (px == nx_ and py == ny_):
        return shapely.Point(px, py)
    f = min(1.0, limit / leg_s)
    return shapely.LineString([(px, py), (px + f * (nx_ - px), py + f * (ny_ - py))])


def isochrones(G: nx.MultiDiGraph | RoadNetwork, posts: object,
               minutes: Sequence[float] | float | None = None, *, per_post: str = "nearest",
               buffer_m: float | None = None, snap_speed_kph: float | None = None,
               dissolve: bool = False,
               progress: Callable[[int, int], None] | None = None) -> gpd.GeoDataFrame:
    """Road-network isochrones of police posts (method in the module's notes).

    Parameters
    ----------
    G : graph or :class:`RoadNetwork`
    posts : as for :func:`post_times`.
    minutes : time limits, default :data:`settings.ISOCHRONE_MINUTES` (10, 20).
    per_post : ``"nearest"`` (one multi-source Dijkstra; each post's catchment within the
        limit) or ``"each"`` (one Dijkstra per post; full, overlapping isochrones).
    buffer_m : half-width around the reached roads, default :data:`settings.ISOCHRONE_BUFFER_M`.
    snap_speed_kph : speed of the off-network legs, default :data:`settings.SNAP_SPEED_KPH`.
    dissolve : one row per limit instead, for all posts together (:func:`dissolve_isochrones`
        of the per-post result, plus ``n_nodes`` reached from any post); columns
        ``minutes``, ``n_posts``, ``n_nodes``, ``area_km2``, ``geometry``. To get both, call
        :func:`dissolve_isochrones` on the per-post result (cheap).
    progress : called as ``progress(done, total)`` after each post's polygons.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4490, one row per post and limit (post order, smaller limit first):
        ``post_code``, ``post_name``, ``minutes``, ``snap_m`` (post to its node),
        ``n_nodes`` (nodes reached), ``area_km2``, ``geometry`` (MultiPolygon).
    """
    if per_post not in ("nearest", "each"):
        msg = f"isochrones: per_post must be 'nearest' or 'each', not {per_post!r}"
        raise AnalysisError(msg)
    limits = time_limits(minutes)
    radius = float(settings.ISOCHRONE_BUFFER_M if buffer_m is None else buffer_m)
    if not np.isfinite(radius) or radius <= 0:
        msg = f"isochrones: buffer_m must be > 0 metres, got {buffer_m!r}"
        raise AnalysisError(msg)
    segs = int(settings.ISOCHRONE_QUAD_SEGS)
    net = RoadNetwork.of(G)
    cutoff = max(limits) * 60.0
    pt = post_times(net, posts, cutoff, snap_speed_kph)
    if per_post == "each":
        per = net.times_each(pt.node, pt.snap_s, cutoff)
    px, py = net.to_utm(pt.lon, pt.lat)
    legs = [(px[p], py[p], net.x[pt.node[p]], net.y[pt.node[p]], pt.snap_s[p])
            for p in range(len(pt.codes))]
    crs = f"EPSG:{settings.STORAGE_SRID}"
    rows = []
    for p in range(len(pt.codes)):
        t = per[p] if per_post == "each" else np.where(pt.label == p, pt.time, np.inf)
        for m, (poly, n_nodes) in zip(limits, _polygons(net, t, limits, legs[p:p + 1],
                                                        radius, segs), strict=True):
            rows.append({"post_code": pt.codes[p], "post_name": pt.names[p],
                         "minutes": m, "snap_m": float(pt.snap_m[p]), "n_nodes": n_nodes,
                         "geometry": poly})
        if progress is not None:
            progress(p + 1, len(pt.codes))
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    out.insert(len(out.columns) - 1, "area_km2", _area_km2(net, out.geometry.values))
    if not dissolve:
        return out
    out = dissolve_isochrones(out, net)
    t = pt.time if per_post == "nearest" else per.min(axis=0)
    out.insert(2, "n_nodes", [int(np.count_nonzero(t <= m * 60.0)) for m in limits])
    return out


def _polygons(net: RoadNetwork, t: np.ndarray, limits: tuple[float, ...],
              legs: list[tuple[float, float, float, float, float]], radius: float, segs: int
              ) -> list[tuple[shapely.MultiPolygon, int]]:
    """Nested isochrone polygons (EPSG:4490) of node times ``t`` for each limit (minutes),
    with the off-network legs (post x, y, node x, y, seconds), and the nodes reached."""
    out = []
    prev = None
    done = None
    for m in limits:
        limit = m * 60.0
        lines, done_now, n_nodes = _reached_lines(net, t, limit, done)
        done = done_now
        parts = np.r_[lines, np.array([_leg(*leg, limit) for leg in legs], dtype=object)]
        poly = net.geom_to_lonlat(
            shapely.union_all(shapely.buffer(parts, radius, quad_segs=segs)))
        if prev is not None:
            poly = _nest(prev, poly)
        prev = poly
        out.append((_multi(poly), n_nodes))
    return out


def _nest(smaller: shapely.Geometry, larger: shapely.Geometry) -> shapely.Geometry:
    """``larger`` grown to contain ``smaller`` exactly (see the module's notes)."""
    return shapely.union(shapely.buffer(smaller, NEST_EPS_DEG, quad_segs=1), larger)


def _multi(geom: shapely.Geometry) -> shapely.MultiPolygon:
    polys = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    return shapely.MultiPolygon(polys)


def _area_km2(net: RoadNetwork, geoms: np.ndarray) -> np.ndarray:
    return np.array([net.geom_to_utm(g).area / 1e6 for g in geoms], dtype=float)


def dissolve_isochrones(iso: gpd.GeoDataFrame, network: RoadNetwork | None = None
                        ) -> gpd.GeoDataFrame:
    """Union of the posts' isochrones (of :func:`isochrones`) per time limit.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4490, one row per limit (smallest first): ``minutes``, ``n_posts``, ``area_km2``
        (in the UTM zone), ``geometry`` (MultiPolygon). As each post's smaller polygon lies
        strictly inside its larger one (by :data:`NEST_EPS_DEG`, far above rounding), the
        union of a larger limit covers the union of the smaller one.
    """
    rows = []
    for m, grp in iso.groupby("minutes", sort=True):
        poly = shapely.union_all(np.asarray(grp.geometry.values, dtype=object))
        rows.append({"minutes": float(m), "n_posts": int(grp["post_code"].nunique()),
                     "geometry": _multi(poly)})
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=f"EPSG:{settings.STORAGE_SRID}")
    if network is None and len(out):
        c = out.geometry.values[-1].centroid
        utm = utm_crs_for(c.x, c.y)
        areas = out.to_crs(utm).area.to_numpy() / 1e6
    else:
        areas = _area_km2(network, out.geometry.values) if len(out) else []
    out.insert(2, "area_km2", areas)
    return out
