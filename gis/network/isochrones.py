"""Travel times from police posts over a road network, isochrones, the "10 / 20 minutes" table.

Method
------
**Prepared network.** :class:`RoadNetwork` turns an OSMnx-style graph (see
:mod:`gis.network`) into arrays once: node coordinates in the WGS84 UTM zone of the network
(:func:`gis.crs.utm_crs_for`), a KD-tree of the nodes, a sparse matrix of edge travel times
(the fastest of parallel edges) and the edge geometries in UTM, oriented from u to v with
their end points set exactly on their nodes. Every function takes a graph or a prepared
:class:`RoadNetwork` (prepare once when calling several).

**Snapping.** A point is joined to its nearest node (straight-line distance in UTM): a post
or candidate site (where trips start) among the nodes from which the largest strongly
connected part of the graph can be reached, a village or demand point (where trips end)
among the nodes that can be reached from it. So one-way spurs are used in their direction,
and a post is never stuck on a dead end that an OSM extract cut at its edge. The snapping
distance is added as an off-network leg travelled at :data:`settings.SNAP_SPEED_KPH` (15 km/h
by default).

**Routing: one multi-source Dijkstra.** Travel times from all posts are one run of
:func:`scipy.sparse.csgraph.dijkstra` with ``min_only=True``, which returns per node the
shortest time from any post and which post it is. Each post enters through a virtual node of
its own joined to its snapped node by an edge of its snapping time (a "virtual super-source"
per post), so posts start with their off-network leg already counted and two posts snapped to
the same node keep their own labels. Runs are cut at the largest time asked for. (networkx'
``multi_source_dijkstra`` gives the same times but no per-node source without building
paths; the tests check the times against networkx' single-source Dijkstra.)

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

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gis import settings
from gis._errors import AnalysisError
from gis.analytics.rings import nearest_posts, populated_centres, posts_lonlat
from gis.crs import utm_crs_for

NEST_EPS_DEG = 1e-8
"""Margin (degrees, about 1 mm) by which a smaller isochrone is grown inside the next larger."""

_GEOGRAPHIC = {None, "EPSG:4326", "EPSG:4490", "epsg:4326", "epsg:4490", 4326, 4490}


def meets_name(minutes: float) -> str:
    """Column name of the "within this many minutes by road" flag: 10 → ``meets_10``."""
    return f"meets_{float(minutes):g}"


def _minutes(minutes: Sequence[float] | float | None) -> tuple[float, ...]:
    if minutes is None:
        vals = tuple(float(m) for m in settings.ISOCHRONE_MINUTES)
    elif np.isscalar(minutes):
        vals = (float(minutes),)  # type: ignore[arg-type]
    else:
        vals = tuple(float(m) for m in minutes)  # type: ignore[union-attr]
    if not vals or any(not np.isfinite(m) or m <= 0 for m in vals):
        msg = f"isochrones: minutes must be time limits > 0, got {minutes!r}"
        raise AnalysisError(msg)
    return tuple(sorted(set(vals)))


def _snap_speed(kph: float | None) -> float:
    kph = float(settings.SNAP_SPEED_KPH if kph is None else kph)
    if not np.isfinite(kph) or kph <= 0:
        msg = f"snapping speed must be > 0 km/h, got {kph!r}"
        raise AnalysisError(msg)
    return kph


class RoadNetwork:
    """A road graph prepared for routing: arrays, KD-tree, sparse travel-time matrix.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        OSMnx-style graph (node ``x`` / ``y`` lon / lat; edge ``travel_time`` seconds,
        optional ``geometry``).
    weight : str
        Edge attribute routed on (default ``"travel_time"``).

    Attributes
    ----------
    nodes : ndarray of node ids, in matrix order.
    lon, lat, x, y : node coordinates, degrees and UTM metres.
    core : bool mask of the nodes of the largest strongly connected part.
    utm : pyproj.CRS of the UTM zone.
    matrix : scipy CSR matrix (n × n) of the fastest edge time from row to column node.
    eu, ev, etime : arrays of the edges (node positions, seconds).
    """

    def __init__(self, G: nx.MultiDiGraph, weight: str = "travel_time") -> None:
        if G.number_of_nodes() == 0:
            msg = "road network is empty: build or import one first"
            raise AnalysisError(msg)
        crs = G.graph.get("crs")
        if crs not in _GEOGRAPHIC and pyproj.CRS.from_user_input(crs).is_projected:
            msg = (f"road network is in {crs}; node x / y must be lon / lat degrees "
                   "(EPSG:4326 / 4490) as in OSMnx' unprojected graphs")
            raise AnalysisError(msg)
        self.G = G
        self.weight = weight
        self.nodes = np.array(list(G.nodes), dtype=object)
        self.pos = {n: i for i, n in enumerate(self.nodes)}
        self.lon = np.fromiter((d["x"] for _, d in G.nodes(data=True)), float, len(self.nodes))
        self.lat = np.fromiter((d["y"] for _, d in G.nodes(data=True)), float, len(self.nodes))
        self.utm = utm_crs_for(float(np.mean(self.lon)), float(np.mean(self.lat)))
        self._fwd = pyproj.Transformer.from_crs(4326, self.utm, always_xy=True)
        self._back = pyproj.Transformer.from_crs(self.utm, 4326, always_xy=True)
        self.x, self.y = (np.asarray(a, float) for a in self._fwd.transform(self.lon, self.lat))
        m = G.number_of_edges()
        eu = np.empty(m, np.int64)
        ev = np.empty(m, np.int64)
        et = np.empty(m, float)
        geoms = np.empty(m, dtype=object)
        for i, (u, v, d) in enumerate(G.edges(data=True)):
            eu[i], ev[i] = self.pos[u], self.pos[v]
            w = d.get(weight)
            if w is None or not np.isfinite(float(w)) or float(w) < 0:
                msg = (f"road edge ({u}, {v}) has no usable {weight!r} ({w!r}); run "
                       "gis.network.add_edge_speeds(G) first")
                raise AnalysisError(msg)
            et[i] = float(w)
            geoms[i] = d.get("geometry")
        self.eu, self.ev, self.etime = eu, ev, et
        self._geoms_ll = geoms
        self._geoms_utm: np.ndarray | None = None
        self._twin: np.ndarray | None = None
        n = len(self.nodes)
        keep = eu != ev
        order = np.lexsort((et[keep], ev[keep], eu[keep]))
        su, sv, st = eu[keep][order], ev[keep][order], et[keep][order]
        first = np.ones(len(su), bool)
        first[1:] = (su[1:] != su[:-1]) | (sv[1:] != sv[:-1])
        self.matrix = sparse.csr_matrix((st[first], (su[first], sv[first])), shape=(n, n))
        _, comp = sparse.csgraph.connected_components(self.matrix, directed=True,
                                                      connection="strong")
        main = np.flatnonzero(comp == np.bincount(comp).argmax())
        self.core = np.zeros(n, bool)
        self.core[main] = True
        down = sparse.csgraph.breadth_first_order(self.matrix, main[0], directed=True,
                                                  return_predecessors=False)
        up = sparse.csgraph.breadth_first_order(self.matrix.T.tocsr(), main[0], directed=True,
                                                return_predecessors=False)
        self._snap_pos = {"origin": np.sort(up), "destination": np.sort(down)}
        self._trees: dict[str, cKDTree] = {}

    @classmethod
    def of(cls, G: nx.MultiDiGraph | RoadNetwork) -> RoadNetwork:
        """``G`` prepared (returned as is when it already is a :class:`RoadNetwork`)."""
        return G if isinstance(G, RoadNetwork) else cls(G)

    # -- coordinates ---------------------------------------------------------------------
    def to_utm(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """lon / lat degrees → UTM metres of this network."""
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x, float), np.asarray(y, float)

    def geom_to_lonlat(self, geom: shapely.Geometry) -> shapely.Geometry:
        """A UTM geometry of this network in lon / lat degrees."""
        return shapely.transform(geom, lambda c: np.column_stack(
            self._back.transform(c[:, 0], c[:, 1])))

    def geom_to_utm(self, geom: shapely.Geometry) -> shapely.Geometry:
        """A lon / lat geometry in the UTM zone of this network."""
        return shapely.transform(geom, lambda c: np.column_stack(
            self._fwd.transform(c[:, 0], c[:, 1])))

    @property
    def twin(self) -> np.ndarray:
        """Per edge, the position of the opposite edge (v → u) with the same geometry reversed
        (the other half of a two-way road), or -1: a road wholly reached both ways is drawn
        once."""
        if self._twin is None:
            a = pd.DataFrame({"u": self.eu, "v": self.ev, "i": np.arange(len(self.eu))})
            m = a.merge(a.rename(columns={"u": "v", "v": "u", "i": "j"}), on=["u", "v"])
            m = m[m["i"] != m["j"]]
            geoms = self.edge_geoms
            same = shapely.equals_exact(shapely.reverse(geoms[m["i"].to_numpy()]),
                                        geoms[m["j"].to_numpy()], 1e-6)
            m = m[same].drop_duplicates("i")
            twin = np.full(len(self.eu), -1, np.int64)
            twin[m["i"].to_numpy()] = m["j"].to_numpy()
            self._twin = twin
        return self._twin

    @property
    def edge_geoms(self) -> np.ndarray:
        """Edge geometries in UTM (LineStrings from u to v, ends exactly on the nodes)."""
        if self._geoms_utm is None:
            self._geoms_utm = self._project_edges()
        return self._geoms_utm

    def _project_edges(self) -> np.ndarray:
        geoms = self._geoms_ll.copy()
        miss = np.array([g is None or shapely.is_empty(g) for g in geoms], dtype=bool)
        if miss.any():
            geoms[miss] = shapely.linestrings(
                np.stack([np.column_stack([self.lon[self.eu[miss]], self.lat[self.eu[miss]]]),
                          np.column_stack([self.lon[self.ev[miss]], self.lat[self.ev[miss]]])],
                         axis=1))
        geoms = shapely.force_2d(geoms)
        coords, idx = shapely.get_coordinates(geoms, return_index=True)
        x, y = self._fwd.transform(coords[:, 0], coords[:, 1])
        coords = np.column_stack([x, y])
        starts = np.searchsorted(idx, np.arange(len(geoms)))
        ends = np.r_[starts[1:], len(idx)] - 1
        ux, uy = self.x[self.eu], self.y[self.eu]
        vx, vy = self.x[self.ev], self.y[self.ev]
        flip = (np.hypot(coords[starts, 0] - vx, coords[starts, 1] - vy)
                < np.hypot(coords[starts, 0] - ux, coords[starts, 1] - uy))
        coords[starts] = np.where(flip[:, None], np.column_stack([vx, vy]),
                                  np.column_stack([ux, uy]))
        coords[ends] = np.where(flip[:, None], np.column_stack([ux, uy]),
                                np.column_stack([vx, vy]))
        lines = shapely.linestrings(coords, indices=idx)
        if flip.any():
            lines[flip] = shapely.reverse(lines[flip])
        return lines

    # -- snapping and routing ------------------------------------------------------------
    def snap(self, lon: np.ndarray, lat: np.ndarray, role: str = "origin"
             ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node (position) of each point and the straight distance to it, metres.

        ``role="origin"`` (posts, candidate sites: trips start there) snaps to nodes from
        which the largest strongly connected part can be reached; ``"destination"``
        (villages, demand) to nodes that can be reached from it. Both include that part.
        """
        if role not in self._snap_pos:
            msg = f"snap: role must be 'origin' or 'destination', not {role!r}"
            raise AnalysisError(msg)
        if role not in self._trees:
            p = self._snap_pos[role]
            self._trees[role] = cKDTree(np.column_stack([self.x[p], self.y[p]]))
        x, y = self.to_utm(lon, lat)
        d, j = self._trees[role].query(np.column_stack([x, y]))
        return self._snap_pos[role][np.asarray(j, np.int64)], np.asarray(d, float)

    def times_from(self, sources: np.ndarray, offsets: np.ndarray,
                   cutoff: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """One multi-source Dijkstra: per node the shortest time (s) from any source, starting
        at ``offsets`` (s) at the source nodes, and the index of that source (-1 if none within
        ``cutoff`` seconds; the time is then inf)."""
        n, k = len(self.nodes), len(sources)
        sources = np.asarray(sources, np.int64)
        offsets = np.asarray(offsets, float)
        csr = self.matrix
        aug = sparse.csr_matrix(
            (np.r_[csr.data, offsets],
             np.r_[csr.indices, sources],
             np.r_[csr.indptr, csr.indptr[-1] + np.arange(1, k + 1)]), shape=(n + k, n + k))
        dist, _, src = dijkstra(aug, directed=True, indices=np.arange(n, n + k),
                                min_only=True, return_predecessors=True, limit=cutoff)
        dist, src = dist[:n], src[:n]
        label = np.where(np.isfinite(dist), src - n, -1)
        return dist, label

    def times_each(self, sources: np.ndarray, offsets: np.ndarray,
                   cutoff: float = np.inf, columns: np.ndarray | None = None) -> np.ndarray:
        """One Dijkstra per source: (k × n) times in seconds (inf beyond ``cutoff``), or only
        the node ``columns`` asked for. Runs in batches to bound memory."""
        sources = np.asarray(sources, np.int64)
        offsets = np.asarray(offsets, float)
        width = len(self.nodes) if columns is None else len(columns)
        out = np.full((len(sources), width), np.inf)
        batch = max(1, int(2e7 // max(len(self.nodes), 1)))
        for s in range(0, len(sources), batch):
            sl = slice(s, s + batch)
            d = dijkstra(self.matrix, directed=True, indices=sources[sl], limit=cutoff)
            d = np.atleast_2d(d) + offsets[sl, None]
            if columns is not None:
                d = d[:, columns]
            d[d > cutoff] = np.inf
            out[sl] = d
        return out


@dataclass
class PostTimes:
    """Result of :func:`post_times`: per node of ``network`` the time from the nearest post.

    ``time`` seconds (inf when beyond the cutoff), ``label`` index of that post (-1 none);
    ``codes`` / ``names`` / ``lon`` / ``lat`` of the posts, their snapped ``node`` positions
    and ``snap_m`` distances.
    """

    network: RoadNetwork
    time: np.ndarray
    label: np.ndarray
    codes: np.ndarray
    names: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    node: np.ndarray
    snap_m: np.ndarray
    snap_s: np.ndarray


def post_times(G: nx.MultiDiGraph | RoadNetwork, posts: object, cutoff_s: float = np.inf,
               snap_speed_kph: float | None = None) -> PostTimes:
    """Multi-source Dijkstra from all posts at once (see the module's notes).

    Parameters
    ----------
    G : graph or :class:`RoadNetwork`
    posts : GeoDataFrame / GeoSeries of points (``code``, ``name``), array of points or
        (n, 2) lon / lat, EPSG:4490 (as :func:`gis.analytics.rings.response_rings`).
    cutoff_s : stop at this many seconds (default: no limit).
    snap_speed_kph : speed of the off-network legs, default :data:`settings.SNAP_SPEED_KPH`.
    """
    net = RoadNetwork.of(G)
    lon, lat, codes, names = posts_lonlat(posts)
    node, snap_m = net.snap(lon, lat)
    snap_s = snap_m / (_snap_speed(snap_speed_kph) / 3.6)
    time, label = net.times_from(node, snap_s, cutoff_s)
    return PostTimes(net, time, label, codes, names, lon, lat, node, snap_m, snap_s)


# --- isochrones -----------------------------------------------------------------------------

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
               dissolve: bool = False) -> gpd.GeoDataFrame:
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
    limits = _minutes(minutes)
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


# --- the "10 / 20 minutes" standard table ---------------------------------------------------

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
    secs = np.where(ok, pt.time[node] + snap_m / (_snap_speed(snap_speed_kph) / 3.6), np.inf)
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
    limits = _minutes(minutes)
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
    limits = _minutes(minutes)
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
