"""A SYNTHETIC road network for the demo county (the demo has no OpenStreetMap data).

**These roads are invented.** They are generated from the (equally synthetic) settlements
of the demo so that road-time analyses have something plausible to run on; they are not
the real roads of 甘州区. Real networks come from an ``.osm.pbf`` extract
(:func:`gis.network.read_osm_pbf`).

Construction (all in the county's UTM zone, metres; one seed):

1. **Places**: the police posts (township seats), the populated centres of the villages
   (:func:`gis.analytics.rings.populated_centres`) and the representative points of the
   groups; a place within :data:`MERGE_M` of a higher-ranked one is merged into it.
2. **Candidate links**: the Delaunay triangulation of the places. A link that leaves the
   county (beyond :data:`OUTSIDE_TOLERANCE_M`) costs :data:`OUTSIDE_PENALTY` times its
   length, so roads stay inside the county wherever an inside route exists.
3. **Hierarchy** (each level routed along candidate links by shortest path, earlier levels
   costing nothing, so lower roads branch off higher ones):
   ``trunk`` (国道/省道) along the minimum spanning tree of the posts' own triangulation;
   ``primary`` along the remaining post-to-post links no longer than :data:`EXTRA_SEAT_RATIO`
   × the median MST link; ``secondary`` (县道/乡道) from the network to every village centre
   and along the minimum spanning tree of posts and village centres; ``tertiary`` (村道)
   from the network to every group centre; and ``unclassified`` local links: a seeded
   :data:`EXTRA_LOCAL_SHARE` of the remaining inside links shorter than the 75th
   percentile of the links used so far (loops, so that not every trip runs along a tree).
4. **Geometry**: every link is a quadratic Bézier curve through a control point pushed
   sideways from its middle by a seeded ±(3 … 10) % of its length (less for trunk roads),
   with a vertex every ~150 m; end points exactly on the nodes.
5. **Graph** in the conventions of :mod:`gis.network` (OSMnx): two-way roads as two
   directed edges with reversed geometries, ``length`` in metres (UTM, within 0.1 % of
   geodesic), ``highway``, ``speed_kph`` by type from :data:`gis.settings.ROAD_SPEEDS_KPH`,
   ``travel_time``; node attributes ``x``, ``y``, ``street_count``, ``kind`` (``post``,
   ``village``, ``group``) and ``code`` (post / village / group code). ``G.graph`` says
   ``synthetic: True``.

The demo (≈2,700 places) gives ≈2,700 nodes and ≈8,000 directed edges in about a second.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pyproj
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree
from scipy.spatial import Delaunay, cKDTree

from gis import settings
from gis._errors import AnalysisError
from gis.analytics.rings import populated_centres, posts_lonlat
from gis.crs import utm_crs_for
from gis.network.osm import add_edge_speeds

MERGE_M = 40.0
"""Places closer than this (metres) to a higher-ranked place become one node."""

OUTSIDE_TOLERANCE_M = 300.0
"""A link may stray this far outside the county without counting as outside."""

OUTSIDE_PENALTY = 25.0
"""Cost factor of a link leaving the county."""

EXTRA_SEAT_RATIO = 1.6
"""Post-to-post links up to this × the median trunk (MST) link become primary roads."""

EXTRA_LOCAL_SHARE = 0.35
"""Share of the remaining short inside links kept as unclassified local roads."""

VERTEX_SPACING_M = 150.0
"""Approximate distance between the vertices of a curved link."""

CLASSES = ("trunk", "primary", "secondary", "tertiary", "unclassified")
"""Highway types used, highest first."""

_KIND_RANK = {"post": 0, "village": 1, "group": 2}


def demo_roads(demo, seed: int | None = None) -> nx.MultiDiGraph:  # noqa: ANN001
    """The synthetic road network of a :class:`data.demo.DemoCounty` (see the module notes).

    ``seed`` defaults to the demo's own seed (``demo.meta["seed"]``) or
    :data:`gis.settings.DEMO_SEED`.
    """
    if seed is None:
        seed = int((demo.meta or {}).get("seed", settings.DEMO_SEED))
    adcode = str(demo.county["adcode"].iloc[0]) if "adcode" in demo.county.columns else None
    return build_roads(demo.county.geometry.union_all(), demo.posts, demo.villages,
                       demo.groups, seed=seed, adcode=adcode)


def build_roads(county: shapely.Geometry, posts: object, villages, groups,  # noqa: ANN001
                seed: int = settings.DEMO_SEED, adcode: str | None = None) -> nx.MultiDiGraph:
    """A synthetic road network linking posts, village centres and group centres.

    Parameters
    ----------
    county : (Multi)Polygon, EPSG:4490.
    posts : GeoDataFrame of points with ``code`` (as :func:`gis.analytics.rings.posts_lonlat`).
    villages : GeoDataFrame of village polygons with ``code``.
    groups : GeoDataFrame of group polygons with ``code``, ``parent_code``, ``population``.
    seed : seed of every random draw (same seed → same network).
    adcode : recorded in ``G.graph``.

    Returns
    -------
    networkx.MultiDiGraph
        OSMnx-style graph, EPSG:4490 (see :mod:`gis.network`).
    """
    rng = np.random.default_rng([int(seed), 7])
    plon, plat, pcodes, _ = posts_lonlat(posts)
    vlon, vlat, _ = populated_centres(villages, groups)
    gp = shapely.point_on_surface(np.asarray(groups.geometry.values, dtype=object))
    lon = np.r_[plon, vlon, shapely.get_x(gp)]
    lat = np.r_[plat, vlat, shapely.get_y(gp)]
    kinds = np.array(["post"] * len(plon) + ["village"] * len(vlon) + ["group"] * len(gp),
                     dtype=object)
    codes = np.r_[pcodes, villages["code"].astype(str).to_numpy(),
                  groups["code"].astype(str).to_numpy()].astype(object)
    utm = utm_crs_for(float(np.mean(lon)), float(np.mean(lat)))
    fwd = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    back = pyproj.Transformer.from_crs(utm, 4326, always_xy=True)
    x, y = (np.asarray(a, float) for a in fwd.transform(lon, lat))

    # 1. places, merged
    node_of = _merge(x, y, MERGE_M)
    keep = np.flatnonzero(node_of == np.arange(len(x)))
    renum = np.full(len(x), -1)
    renum[keep] = np.arange(len(keep))
    node_of = renum[node_of]
    px, py = x[keep], y[keep]
    pkind, pcode = kinds[keep], codes[keep]
    n = len(keep)
    seats = node_of[: len(plon)]
    villages_n = node_of[len(plon): len(plon) + len(vlon)]
    groups_n = node_of[len(plon) + len(vlon):]

    # 2. candidate links
    county_m = shapely.transform(county, lambda c: np.column_stack(
        fwd.transform(c[:, 0], c[:, 1])))
    inside_area = shapely.buffer(county_m, OUTSIDE_TOLERANCE_M)
    shapely.prepare(inside_area)
    a, b = _delaunay_edges(px, py)
    seg_len = np.hypot(px[a] - px[b], py[a] - py[b])
    inside = shapely.within(shapely.linestrings(
        np.stack([np.column_stack([px[a], py[a]]), np.column_stack([px[b], py[b]])], axis=1)),
        inside_area)
    links = _Links(a, b, seg_len * np.where(inside, 1.0, OUTSIDE_PENALTY), n)

    # 3. hierarchy
    sa_, sb_ = _delaunay_edges(px[seats], py[seats]) if len(seats) >= 3 else (
        np.arange(len(seats) - 1), np.arange(1, len(seats)))
    sl = np.hypot(px[seats[sa_]] - px[seats[sb_]], py[seats[sa_]] - py[seats[sb_]])
    mst = _mst_mask(len(seats), sa_, sb_, sl)
    limit = EXTRA_SEAT_RATIO * (np.median(sl[mst]) if mst.any() else 0.0)
    links.route_pairs([(seats[i], seats[j]) for i, j in zip(sa_[mst], sb_[mst], strict=True)],
                      0)
    links.route_pairs([(seats[i], seats[j]) for i, j, ln in
                       zip(sa_[~mst], sb_[~mst], sl[~mst], strict=True) if ln <= limit], 1)
    links.route_forest(np.unique(villages_n), 2)
    vs = np.unique(np.r_[seats, villages_n])
    if len(vs) >= 3:
        va, vb = _delaunay_edges(px[vs], py[vs])
        vm = _mst_mask(len(vs), va, vb, np.hypot(px[vs[va]] - px[vs[vb]],
                                                   py[vs[va]] - py[vs[vb]]))
        links.route_pairs([(vs[i], vs[j]) for i, j in zip(va[vm], vb[vm], strict=True)], 2)
    links.route_forest(np.unique(groups_n), 3)
    road = links.road
    used = road >= 0
    short = seg_len <= np.percentile(seg_len[used], 75)
    extra = (~used) & inside & short & (rng.random(len(a)) < EXTRA_LOCAL_SHARE)
    road[extra] = 4
    if (road < 0).all():
        msg = "synthetic roads: no link could be built (too few places)"
        raise AnalysisError(msg)

    # 4. geometry
    sel = np.flatnonzero(road >= 0)
    ua, ub, cls = a[sel], b[sel], road[sel]
    lines = _curves(px, py, ua, ub, cls, rng)
    lengths = shapely.length(lines)
    lines_ll = shapely.transform(lines, lambda c: np.column_stack(back.transform(c[:, 0],
                                                                                 c[:, 1])))
    nlon, nlat = back.transform(px, py)

    # 5. graph
    G = nx.MultiDiGraph(crs=f"EPSG:{settings.STORAGE_SRID}", synthetic=True, seed=int(seed),
                        adcode=adcode, source="data.roads (SYNTHETIC demo roads)",
                        network_type="driving")
    degree = np.bincount(np.r_[ua, ub], minlength=n)
    G.add_nodes_from((i + 1, {"x": float(nlon[i]), "y": float(nlat[i]),
                              "street_count": int(degree[i]), "kind": str(pkind[i]),
                              "code": str(pcode[i])}) for i in range(n))
    for k, (u, v, c, geom, ln) in enumerate(zip(ua, ub, cls, lines_ll, lengths, strict=True)):
        attrs = {"osmid": k + 1, "highway": CLASSES[c], "oneway": False, "length": float(ln)}
        G.add_edge(int(u) + 1, int(v) + 1, key=0, reversed=False, geometry=geom, **attrs)
        G.add_edge(int(v) + 1, int(u) + 1, key=0, reversed=True,
                   geometry=shapely.reverse(geom), **attrs)
    return add_edge_speeds(G)


def place_nodes(G: nx.MultiDiGraph) -> dict[str, int]:
    """Code (post / village / group) → node id of a synthetic network; merged places map to
    the node of the place they were merged into only when it has their code."""
    return {d["code"]: n for n, d in G.nodes(data=True) if "code" in d}


def _merge(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """Index of the place each place is merged into (itself, or an earlier place)."""
    tree = cKDTree(np.column_stack([x, y]))
    target = np.arange(len(x))
    for i, j in sorted(tree.query_pairs(radius)):
        ti, tj = target[i], target[j]
        if tj == j and ti != j:  # j (later) joins i's place
            target[j] = ti
    return target[target]


def _delaunay_edges(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tri = Delaunay(np.column_stack([x, y]))
    s = tri.simplices
    e = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
    e.sort(axis=1)
    e = np.unique(e, axis=0)
    return e[:, 0], e[:, 1]


def _mst_mask(n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    m = sparse.coo_matrix((w + 1e-9, (a, b)), shape=(n, n)).tocsr()
    t = minimum_spanning_tree(m).tocoo()
    chosen = set(zip(np.minimum(t.row, t.col).tolist(), np.maximum(t.row, t.col).tolist(),
                     strict=True))
    return np.array([(int(i), int(j)) in chosen for i, j in zip(a, b, strict=True)], dtype=bool)


def _weights(cost: np.ndarray, road: np.ndarray, cls: int) -> np.ndarray:
    """Link costs for routing class ``cls``: built roads cost (almost) nothing, except for
    trunk / primary routes, which follow link costs so that they stay direct."""
    return cost if cls <= 1 else np.where(road >= 0, 1e-6, cost)


def _csr(a: np.ndarray, b: np.ndarray, w: np.ndarray, n: int) -> sparse.csr_matrix:
    return sparse.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()


def _mark_path(road: np.ndarray, pred: np.ndarray, target: int, cls: int,
               lookup: dict[tuple[int, int], int]) -> None:
    """Give the links of the predecessor path to ``target`` class ``cls`` (or keep a higher
    class they already have)."""
    cur = target
    while pred[cur] >= 0:
        p = int(pred[cur])
        k = lookup[(min(p, cur), max(p, cur))]
        if road[k] < 0 or road[k] > cls:
            road[k] = cls
        cur = p


class _Links:
    """Candidate links (a < b), their costs and the class built on each (-1: none)."""

    def __init__(self, a: np.ndarray, b: np.ndarray, cost: np.ndarray, n: int) -> None:
        self.a, self.b, self.cost, self.n = a, b, cost, n
        self.road = np.full(len(a), -1)
        self.lookup = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(a, b, strict=True))}

    def route_pairs(self, pairs: list[tuple[int, int]], cls: int) -> None:
        """Build class ``cls`` along the cheapest route of each (source, target) pair (costs
        as before this call: one Dijkstra run from all sources)."""
        pairs = [(int(s), int(t)) for s, t in pairs if s != t]
        if not pairs:
            return
        sources = np.unique([s for s, _ in pairs])
        row = {s: i for i, s in enumerate(sources.tolist())}
        g = _csr(self.a, self.b, _weights(self.cost, self.road, cls), self.n)
        _, pred = dijkstra(g, directed=False, indices=sources, return_predecessors=True)
        for s, t in pairs:
            _mark_path(self.road, pred[row[s]], t, cls, self.lookup)

    def route_forest(self, targets: np.ndarray, cls: int) -> None:
        """Join every target to the built network by its cheapest route (one multi-source
        Dijkstra from all built nodes)."""
        built = np.unique(np.r_[self.a[self.road >= 0], self.b[self.road >= 0]])
        if len(built) == 0:
            built = targets[:1]
        g = _csr(self.a, self.b, _weights(self.cost, self.road, cls), self.n)
        _, pred, _ = dijkstra(g, directed=False, indices=built, return_predecessors=True,
                              min_only=True)
        for t in targets:
            _mark_path(self.road, pred, int(t), cls, self.lookup)


def _curves(px: np.ndarray, py: np.ndarray, ua: np.ndarray, ub: np.ndarray, cls: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """Quadratic Bézier curves from node ua to node ub (UTM), vectorised."""
    x0, y0, x1, y1 = px[ua], py[ua], px[ub], py[ub]
    dx, dy = x1 - x0, y1 - y0
    length = np.hypot(dx, dy)
    bend = np.where(cls <= 1, 0.03, 0.10)
    off = rng.uniform(-1.0, 1.0, len(ua)) * bend * length
    with np.errstate(invalid="ignore", divide="ignore"):
        nx_, ny_ = np.where(length > 0, -dy / length, 0.0), np.where(length > 0, dx / length, 0.0)
    cx, cy = (x0 + x1) / 2 + off * nx_, (y0 + y1) / 2 + off * ny_
    nseg = np.clip(np.ceil(length / VERTEX_SPACING_M), 2, 24).astype(int)
    idx = np.repeat(np.arange(len(ua)), nseg + 1)
    t = np.concatenate([np.linspace(0.0, 1.0, k + 1) for k in nseg])
    i = idx
    bx = (1 - t) ** 2 * x0[i] + 2 * (1 - t) * t * cx[i] + t ** 2 * x1[i]
    by = (1 - t) ** 2 * y0[i] + 2 * (1 - t) * t * cy[i] + t ** 2 * y1[i]
    return shapely.linestrings(np.column_stack([bx, by]), indices=idx)
