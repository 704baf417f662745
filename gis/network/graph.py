"""A road graph prepared for routing: arrays, snapping, one multi-source Dijkstra from all posts.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
from gis.analytics.rings import posts_lonlat
from gis.crs import utm_crs_for

_GEOGRAPHIC = {None, "EPSG:4326", "EPSG:4490", "epsg:4326", "epsg:4490", 4326, 4490}


def time_limits(minutes: Sequence[float] | float | None) -> tuple[float, ...]:
    """Time limits in minutes, sorted and unique; default :data:`settings.ISOCHRONE_MINUTES`.

    Raises
    ------
    AnalysisError
        If a limit is not a finite number > 0.
    """
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


def check_snap_speed(kph: float | None) -> float:
    """Speed of the off-network legs, km/h (default :data:`settings.SNAP_SPEED_KPH`),
    checked to be finite and > 0."""
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
    snap_s = snap_m / (check_snap_speed(snap_speed_kph) / 3.6)
    time, label = net.times_from(node, snap_s, cutoff_s)
    return PostTimes(net, time, label, codes, names, lon, lat, node, snap_m, snap_s)
