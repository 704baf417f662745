"""Geometry of the planning edits (pure shapely, no database): split, adjacency, noding,
shares. All coordinates are EPSG:4490 degrees.

Noding keeps the coverage *edge-matched*: a split puts new vertices where the line crosses
the grid's boundary; the neighbours (same and other level) that share that boundary get the
same vertices inserted (points within a sub-millimetre tolerance of a segment; no existing
vertex ever moves), so every shared edge keeps identical vertices on both sides and
validation stays on its fast path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis.grids.versions import PlanningError

NODE_TOL_DEG = 1e-9
"""Vertices closer than this (degrees, ~0.1 mm) to a neighbour's boundary are inserted into it."""

NEAR_DEG = 1e-7
"""Grids this close (degrees, ~1 cm) along a stretch of boundary count as sharing an edge."""

MIN_SHARED_DEG = 1e-6
"""Grids are neighbours when they share more than this length of boundary (degrees, ~10 cm):
touching at a corner is not sharing an edge."""

M_PER_DEG = 111_320.0
"""Metres per degree of latitude (used only to turn snapping tolerances into degrees)."""


def parse_line(wkt: str) -> BaseGeometry:
    """A (Multi)LineString from WKT (EPSG:4490 degrees), or PlanningError."""
    try:
        line = shapely.from_wkt(wkt)
    except (shapely.errors.GEOSException, TypeError, ValueError) as e:
        msg = f"line {wkt[:60]!r} is not valid WKT: {e}; give e.g. " \
              "'LINESTRING (100.41 38.90, 100.41 38.93)' in EPSG:4490 degrees"
        raise PlanningError(msg) from None
    if line is None or line.geom_type not in ("LineString", "MultiLineString") or line.is_empty:
        kind = "nothing" if line is None else line.geom_type
        msg = f"the line must be a LINESTRING or MULTILINESTRING, not {kind}"
        raise PlanningError(msg)
    x0, y0, x1, y1 = line.bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        msg = f"line {wkt[:60]!r} is not in lon/lat degrees (EPSG:4490)"
        raise PlanningError(msg)
    return line


def multi(geom: BaseGeometry | None) -> shapely.MultiPolygon:
    """The polygonal part of ``geom`` as a MultiPolygon (empty when there is none)."""
    if geom is None:
        return shapely.MultiPolygon()
    parts = [p for p in shapely.get_parts(geom)
             if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polys)


def union(geoms: Sequence[BaseGeometry]) -> shapely.MultiPolygon:
    """Union of polygons as a MultiPolygon: an exact coverage union when they are an
    edge-matched coverage, else an overlay union."""
    arr = np.asarray([g for g in geoms if g is not None and not g.is_empty], dtype=object)
    if len(arr) == 0:
        return shapely.MultiPolygon()
    if len(arr) == 1:
        return multi(arr[0])
    try:
        if shapely.coverage_is_valid(arr):
            out = shapely.coverage_union_all(arr)
            if out.is_valid:
                return multi(out)
    except shapely.errors.GEOSException:
        pass
    return multi(shapely.union_all(arr))


def difference(a: BaseGeometry, b: BaseGeometry) -> shapely.MultiPolygon:
    """``a`` minus ``b`` as a MultiPolygon."""
    return multi(shapely.difference(a, b))


def split_polygon(geom: BaseGeometry, line: BaseGeometry,
                  attach: bool = True) -> list[shapely.MultiPolygon]:
    """Pieces of ``geom`` cut by ``line``, numbered west to east (by centroid longitude).

    Every polygon part of ``geom`` that the line crosses is cut (boundary and line are
    noded and polygonized, so neighbouring pieces share their vertices exactly); parts the
    line does not cut join the nearest piece (``attach``) or are pieces of their own.
    No part cut → PlanningError.
    """
    pieces: list[BaseGeometry] = []
    whole: list[BaseGeometry] = []
    for part in shapely.get_parts(multi(geom)):
        noded = shapely.union(part.boundary, line)
        polys = [p for p in shapely.get_parts(shapely.polygonize([noded]))
                 if shapely.area(p) > 0 and shapely.covers(part, p.representative_point())]
        (pieces.extend(polys) if len(polys) > 1 else whole.append(part))
    if len(pieces) < 2:
        msg = "the line does not cut the grid into pieces: draw it across the grid, " \
              "starting and ending outside it (or exactly on its boundary)"
        raise PlanningError(msg)
    if not attach:
        return sorted((multi(p) for p in pieces + whole), key=lambda g: (g.centroid.x, g.centroid.y))
    groups: list[list[BaseGeometry]] = [[p] for p in pieces]
    for w in whole:
        k = int(np.argmin([shapely.distance(w, p) for p in pieces]))
        groups[k].append(w)
    out = [multi(shapely.MultiPolygon([q for g in grp for q in shapely.get_parts(g)]))
           for grp in groups]
    return sorted(out, key=lambda g: (g.centroid.x, g.centroid.y))


def shared_edge_length(a: BaseGeometry, b: BaseGeometry) -> float:
    """Length (degrees) of the boundary ``a`` and ``b`` share (about 0 when they only touch
    at points or not at all); boundaries within :data:`NEAR_DEG` count as shared. Compare
    it with :data:`MIN_SHARED_DEG`."""
    if shapely.distance(a, b) > NEAR_DEG:
        return 0.0
    exact = shapely.length(shapely.intersection(a.boundary, b.boundary))
    if exact > NEAR_DEG:
        return float(exact)
    return float(shapely.length(shapely.intersection(a.boundary, shapely.buffer(b, NEAR_DEG))))


def connected(geoms: Sequence[BaseGeometry]) -> list[list[int]]:
    """Components (lists of positions) of the shared-edge adjacency graph of ``geoms``."""
    n = len(geoms)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if find(i) != find(j) and shared_edge_length(geoms[i], geoms[j]) > MIN_SHARED_DEG:
                parent[find(i)] = find(j)
    comps: dict[int, list[int]] = {}
    for i in range(n):
        comps.setdefault(find(i), []).append(i)
    return list(comps.values())


def shares(total: int | None, weights: Sequence[float]) -> list[int | None]:
    """Split the integer ``total`` in proportion to ``weights`` (largest remainder: the parts
    are integers that add up to ``total`` exactly). None stays None."""
    if total is None:
        return [None] * len(weights)
    w = np.asarray(weights, dtype=float)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    if w.sum() <= 0:
        w = np.ones(len(w))
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    rest = int(total - base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return [int(x) for x in base]


def vertices(geoms: Sequence[BaseGeometry]) -> np.ndarray:
    """All distinct vertex coordinates of ``geoms`` as an (n, 2) array."""
    arr = [g for g in geoms if g is not None and not g.is_empty]
    if not arr:
        return np.empty((0, 2))
    return np.unique(shapely.get_coordinates(np.asarray(arr, dtype=object)), axis=0)


def _node_ring(c: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Ring coordinates ``c`` (closed) with the points of ``pts`` that lie within
    :data:`NODE_TOL_DEG` of a segment, and not that close to a vertex, inserted in order."""
    tol = NODE_TOL_DEG
    lo, hi = c.min(axis=0) - tol, c.max(axis=0) + tol
    pts = pts[((pts >= lo) & (pts <= hi)).all(axis=1)]
    if len(pts) == 0:
        return c
    a, d = c[:-1], c[1:] - c[:-1]
    near_vertex = np.hypot(pts[:, None, 0] - a[None, :, 0],
                           pts[:, None, 1] - a[None, :, 1]).min(axis=1) <= tol
    pts = pts[~near_vertex]
    if len(pts) == 0:
        return c
    l2 = (d ** 2).sum(axis=1)
    rel = pts[:, None, :] - a[None, :, :]
    t = np.clip((rel * d[None]).sum(axis=2) / np.where(l2 > 0, l2, 1.0), 0.0, 1.0)
    gap = rel - t[..., None] * d[None]
    dist = np.hypot(gap[..., 0], gap[..., 1])
    seg = dist.argmin(axis=1)
    rows = np.arange(len(pts))
    ok = dist[rows, seg] <= tol
    if not ok.any():
        return c
    seg, tt, pts = seg[ok], t[rows, seg][ok], pts[ok]
    order = np.lexsort((tt, seg))
    out, start = [], 0
    for s_i, p in zip(seg[order], pts[order], strict=True):
        out.append(c[start:s_i + 1])
        out.append(p[None, :])
        start = s_i + 1
    out.append(c[start:])
    return np.concatenate(out)


def node_to(geom: BaseGeometry, points: np.ndarray) -> BaseGeometry:
    """``geom`` with each of ``points`` that lies within :data:`NODE_TOL_DEG` of its boundary
    (and not that close to one of its vertices) inserted as a vertex, without moving any
    existing vertex; ``geom`` itself when nothing changes or the result would be invalid."""
    if len(points) == 0:
        return geom
    x0, y0, x1, y1 = geom.bounds
    t = NODE_TOL_DEG * 2
    near = points[(points[:, 0] >= x0 - t) & (points[:, 0] <= x1 + t)
                  & (points[:, 1] >= y0 - t) & (points[:, 1] <= y1 + t)]
    if len(near) == 0:
        return geom
    changed, polys = False, []
    for part in shapely.get_parts(multi(geom)):
        rings = [np.asarray(part.exterior.coords)] + [np.asarray(r.coords) for r in part.interiors]
        new = [_node_ring(r, near) for r in rings]
        changed |= any(len(n) != len(r) for n, r in zip(new, rings, strict=True))
        polys.append(shapely.Polygon(new[0], new[1:]))
    if not changed:
        return geom
    out = shapely.MultiPolygon(polys)
    return out if out.is_valid else geom


def snap_line_ends(line: BaseGeometry, region: BaseGeometry, tol_m: float) -> BaseGeometry:
    """``line`` with each end that lies within ``tol_m`` metres of a vertex of the boundary
    of ``region`` moved exactly onto that vertex (so a redrawn edge starts and ends at the
    existing junctions and no sliver appears there)."""
    if line.geom_type != "LineString":
        return line
    coords = np.asarray(line.coords, dtype=float)
    verts = vertices([region])
    if len(verts) == 0:
        return line
    tol = tol_m / M_PER_DEG
    for k in (0, -1):
        d = np.hypot(verts[:, 0] - coords[k, 0], verts[:, 1] - coords[k, 1])
        i = int(np.argmin(d))
        if d[i] <= tol:
            coords[k] = verts[i]
    return shapely.LineString(coords)


def extend_line(line: BaseGeometry, by_deg: float) -> BaseGeometry:
    """``line`` with both end segments extended outward by ``by_deg`` degrees (so a line
    ending a hair inside a polygon still cuts it)."""
    if line.geom_type != "LineString" or by_deg <= 0:
        return line
    c = np.asarray(line.coords, dtype=float)
    if len(c) < 2:
        return line
    for end, prev in ((0, 1), (-1, -2)):
        d = c[end] - c[prev]
        n = float(np.hypot(*d))
        if n > 0:
            c[end] = c[end] + d / n * by_deg
    return shapely.LineString(c)
