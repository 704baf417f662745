"""Topology validation of the two grid levels: full coverage, no gaps, no overlaps (全覆盖、无缝隙).

Level 1 (villages) must tile the territory; the level-2 grids (groups) of each village must
tile that village. Every defect is reported once, as a :class:`Problem`.

How it stays fast (the live editor validates on every change)
-------------------------------------------------------------
A set of valid polygons tiles a container exactly when the oriented boundary segments of
the polygons, minus those of the container, cancel out (every shared edge is walked once in
each direction). That is checked for every segment at once in numpy (exact coordinates,
hashed). Only the grids and containers owning a segment that does not cancel are then
examined with GEOS overlays (differences, pair intersections), so an edge-matched coverage
costs one pass over its vertices, and each defect costs work near it only. Coverages that
are not edge-matched (typical raw imports) fall back to overlays of all the grids involved.

Units: areas in square metres, computed in the UTM zone of the data (:func:`gis.crs.to_metric`);
``location`` is a WKT point in EPSG:4490 degrees inside the problem.

Sliver definition
-----------------
A *sliver* is a polygonal piece that is both thin and small: Polsby-Popper compactness
``4πA/P²`` below :data:`gis.settings.SLIVER_THINNESS` and area ``A`` below
:data:`gis.settings.SLIVER_MAX_AREA_M2` (``A`` and perimeter ``P`` in metres). It applies to
(a) a whole grid (then ``codes`` is that grid) and (b) a gap piece or the overlap of a pair
of grids; such a piece is reported as ``sliver`` *instead of* ``gap`` / ``overlap`` (above the
gap tolerance, like them), its ``detail`` saying which. Invalid grids are not tested.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from gis import settings
from gis._errors import CrsError
from gis.crs import to_metric

__all__ = ["PROBLEM_TYPES", "Problem", "validate"]

ProblemType = Literal["gap", "overlap", "invalid", "outside_territory", "group_outside_village",
                      "village_without_groups", "multipart", "sliver"]
PROBLEM_TYPES: tuple[str, ...] = ("gap", "overlap", "invalid", "outside_territory",
                                  "group_outside_village", "village_without_groups", "multipart",
                                  "sliver")
_NEAR_DEG = 1e-7  # a grid this close (degrees, ~1 cm) to a gap is one of the grids around it
_M2_PER_DEG2 = (math.pi / 180.0 * 6_371_008.8) ** 2  # spherical, for pre-filtering only
_POINT_RE = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\]")
Objs = NDArray[np.object_]


@dataclass
class Problem:
    """One topology defect.

    Attributes
    ----------
    type : str
        One of :data:`PROBLEM_TYPES`.
    severity : {"error", "warning"}
        ``multipart`` (exclaves, 飞地, are legal) is a warning, everything else an error.
    level : int or None
        1 (village) or 2 (group) — the level of the grids the problem is about.
    codes : list of str
        Sorted codes of the grids involved. Gaps: the grids around the gap; overlaps: the
        pair; level-2 gaps, overlaps, slivers and ``group_outside_village`` also list the
        village they belong to.
    area_m2 : float
        Area of the problem, square metres: the gap / overlap / outside part; the whole grid
        for ``invalid`` (after repair), ``village_without_groups`` and grid slivers; the parts
        other than the largest for ``multipart``.
    location : str
        WKT of a point inside the problem, EPSG:4490 degrees.
    detail : str
        Human-readable explanation (e.g. the GEOS validity reason).
    """

    type: str
    severity: str
    level: int | None
    codes: list[str]
    area_m2: float
    location: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of the fields."""
        return asdict(self)


@dataclass
class _Found:
    """Problems collected in degrees; areas and slivers are resolved in :meth:`problems`."""

    rows: list[tuple[str, int | None, list[str], Any, str, str | None]] = field(default_factory=list)

    def add(self, kind: str, level: int | None, codes: list[str], geom: Any, detail: str,
            location: str | None = None) -> None:
        self.rows.append((kind, level, sorted(set(codes)), geom, detail, location))

    def problems(self, tolerance_m2: float) -> list[Problem]:
        if not self.rows:
            return []
        geoms = np.array([r[3] for r in self.rows], dtype=object)
        metric, _ = to_metric(geoms)
        area, perim = shapely.area(metric), shapely.length(metric)
        with np.errstate(divide="ignore", invalid="ignore"):
            pp = np.where(perim > 0, 4 * np.pi * area / perim ** 2, 0.0)
        thin = (pp < settings.SLIVER_THINNESS) & (area < settings.SLIVER_MAX_AREA_M2)
        points = shapely.point_on_surface(geoms)
        out = []
        for i, (kind, level, codes, _, detail, loc) in enumerate(self.rows):
            if kind in ("gap", "overlap", "outside_territory", "group_outside_village") \
                    and area[i] <= tolerance_m2:
                continue
            if kind == "grid_sliver" and not thin[i]:
                continue
            if kind in ("gap", "overlap", "grid_sliver") and thin[i]:
                what = {"grid_sliver": "grid"}.get(kind, kind)
                detail = f"{what} is a sliver: Polsby-Popper {pp[i]:.4f} < " \
                         f"{settings.SLIVER_THINNESS}, area {area[i]:.1f} m² < " \
                         f"{settings.SLIVER_MAX_AREA_M2} m²; {detail}"
                kind = "sliver"
            severity = "warning" if kind == "multipart" else "error"
            out.append(Problem(kind, severity, level, codes, float(area[i]),
                               loc or shapely.to_wkt(points[i], rounding_precision=9), detail))
        order = {"error": 0, "warning": 1}
        out.sort(key=lambda p: (order[p.severity], PROBLEM_TYPES.index(p.type), p.level or 0,
                                p.codes, p.location))
        return out


def _polygonal(geoms: Any) -> Objs:
    """Polygonal part of each geometry as a MultiPolygon (empty when there is none)."""
    geoms = np.asarray(geoms, dtype=object)
    parts, i1 = shapely.get_parts(geoms, return_index=True)
    parts, i2 = shapely.get_parts(parts, return_index=True)  # collections of multis
    keep = (shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & ~shapely.is_empty(parts)
    out = np.empty(len(geoms), dtype=object)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=i1[i2][keep], out=out)
    out[shapely.is_missing(out)] = shapely.MultiPolygon()
    return out


def _read(gdf: Any, level: int, found: _Found) -> tuple[NDArray[np.str_], Objs, NDArray[Any]]:
    """Codes, repaired geometries and parent codes of the usable grids; reports invalid ones.

    Missing, empty and non-polygonal geometries are reported as ``invalid`` and dropped;
    invalid polygons are reported and then repaired (``make_valid``) for the other checks.
    """
    if gdf is None or len(gdf) == 0:
        return np.array([], dtype=str), np.array([], dtype=object), np.array([], dtype=object)
    crs = getattr(gdf, "crs", None)
    if crs is not None and crs.to_epsg() not in (settings.STORAGE_SRID, 4326):
        msg = f"validate: level-{level} grids are in {crs.to_string()}; convert them to " \
              f"EPSG:{settings.STORAGE_SRID} first (gis.crs.to_storage)"
        raise CrsError(msg)
    codes = gdf["code"].astype(str).to_numpy()
    parents = gdf["parent_code"].to_numpy() if "parent_code" in gdf else np.full(len(gdf), None)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6]) & ~shapely.is_empty(geoms)
    for i in np.flatnonzero(~polygonal):
        kind = "missing" if geoms[i] is None else f"empty or not polygonal ({geoms[i].geom_type})"
        found.add("invalid", level, [codes[i]], shapely.MultiPolygon(), f"geometry {kind}",
                  location="POINT EMPTY")
    reason = shapely.is_valid_reason(geoms)
    bad = np.flatnonzero(polygonal & (reason != "Valid Geometry"))
    geoms = geoms.copy()
    if bad.size:
        geoms[bad] = _polygonal(shapely.make_valid(geoms[bad]))
        for i in bad:
            m = _POINT_RE.search(reason[i])
            loc = f"POINT ({m.group(1)} {m.group(2)})" if m else None
            found.add("invalid", level, [codes[i]], geoms[i], f"invalid geometry: {reason[i]} "
                      "(checked further as repaired by make_valid)", location=loc)
    ok = polygonal & ~shapely.is_empty(geoms)
    ok_invalid = np.zeros(len(geoms), bool)
    ok_invalid[bad] = True
    _grid_checks(codes[ok & ~ok_invalid], geoms[ok & ~ok_invalid], level, found)
    return codes[ok], geoms[ok], parents[ok]


def _grid_checks(codes: NDArray[np.str_], geoms: Objs, level: int, found: _Found) -> None:
    """Multipart grids (warning) and candidate sliver grids (resolved in metres later)."""
    nparts = shapely.get_num_geometries(geoms)
    for i in np.flatnonzero(nparts > 1):
        parts = shapely.get_parts(geoms[i])
        areas = shapely.area(parts)
        rest = np.argsort(areas)[::-1][1:]
        found.add("multipart", level, [codes[i]], shapely.MultiPolygon(list(parts[rest])),
                  f"{len(parts)} separate parts (exclaves are legal); area is that of the "
                  "parts other than the largest", location=shapely.to_wkt(
                      shapely.point_on_surface(parts[rest[0]]), rounding_precision=9))
    b = shapely.bounds(geoms)
    approx = shapely.area(geoms) * _M2_PER_DEG2 * np.cos(np.radians((b[:, 1] + b[:, 3]) / 2))
    for i in np.flatnonzero(approx < 2 * settings.SLIVER_MAX_AREA_M2):
        found.add("grid_sliver", level, [codes[i]], geoms[i], f"thin, small {_NAMES[level]}")


_NAMES = {1: "village", 2: "group"}


def _mix(a: NDArray[np.uint64], b: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """64-bit hash of two uint64 arrays (splitmix64 finaliser); wraps around by design."""
    h = (a * np.uint64(0x9E3779B97F4A7C15)) ^ (b + np.uint64(0x632BE59BD9B4E019))
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _segments(geoms: Objs, box: NDArray[np.int64], sign: int) -> tuple[NDArray[Any], ...]:
    """Oriented boundary segments of ``geoms`` (exteriors counter-clockwise × ``sign``).

    Returns (key, direction ±1, owner index, canonical coordinates x0 y0 x1 y1 + box) where
    ``key`` hashes the unordered segment together with its container ``box[owner]``.
    """
    parts, pidx = shapely.get_parts(shapely.orient_polygons(geoms), return_index=True)
    rings, ridx = shapely.get_rings(parts, return_index=True)
    xy, cidx = shapely.get_coordinates(rings, return_index=True)
    owner = pidx[ridx[cidx]]
    s = np.flatnonzero((cidx[:-1] == cidx[1:]) & (xy[:-1] != xy[1:]).any(axis=1))
    u = np.ascontiguousarray(xy).view(np.uint64).reshape(-1, 2)
    hv = _mix(u[:, 0], u[:, 1])
    ha, hb = hv[s], hv[s + 1]
    fwd = ha < hb
    lo, hi = np.where(fwd, s, s + 1), np.where(fwd, s + 1, s)
    c = box[owner[s]]
    key = _mix(_mix(hv[lo], hv[hi]), c.astype(np.uint64))
    canon = np.column_stack([xy[lo], xy[hi], c.astype(float)])
    return key, np.where(fwd, sign, -sign).astype(np.int32), owner[s], canon


def _unmatched(*sets: tuple[Objs, NDArray[np.int64], int]) -> list[NDArray[np.bool_]]:
    """For each (geoms, container id, sign) set, which geometries own a non-cancelling segment.

    A segment cancels when its directions, summed over everything in the same container,
    give zero. Hash collisions are caught by comparing exact coordinates (then flagged).
    """
    segs = [_segments(g, b, sgn) for g, b, sgn in sets]
    key = np.concatenate([s[0] for s in segs])
    code, uniq = pd.factorize(key)
    net = np.bincount(code, weights=np.concatenate([s[1] for s in segs]), minlength=len(uniq))
    canon = np.concatenate([s[3] for s in segs])
    first = np.empty(len(uniq), np.int64)
    first[code[::-1]] = np.arange(len(code))[::-1]
    clash = ~(canon == canon[first[code]]).all(axis=1)
    bad = (net != 0)[code] | np.isin(code, code[clash])
    out, start = [], 0
    for (g, _, _), s in zip(sets, segs):
        flags = np.zeros(len(g), bool)
        flags[s[2][bad[start:start + len(s[0])]]] = True
        out.append(flags)
        start += len(s[0])
    return out


def _tiling(g: Objs, gcodes: NDArray[np.str_], box: NDArray[np.int64], cont: Objs,
            ccodes: list[str | None], level: int, found: _Found) -> None:
    """Report how the grids ``g`` fail to tile their containers ``cont[box]``.

    Level 1: the containers are the territory (one, code None); level 2: the villages.
    """
    g_bad, c_bad = _unmatched((g, box, 1), (cont, np.arange(len(cont)), -1))
    boxes = np.unique(np.r_[np.flatnonzero(c_bad), box[g_bad]]).astype(int)
    if boxes.size == 0:
        return
    extra = (lambda k: [ccodes[k]]) if level == 2 else (lambda k: [])
    shapely.prepare(cont)
    tree = shapely.STRtree(g)
    cand = np.flatnonzero(g_bad)
    # parts outside the container
    out = cand[~shapely.covers(cont[box[cand]], g[cand])]
    diff = _polygonal(shapely.difference(g[out], cont[box[out]]))
    kind = "outside_territory" if level == 1 else "group_outside_village"
    for i, d in zip(out, diff):
        where = "the territory" if level == 1 else f"its village {ccodes[box[i]]}"
        found.add(kind, level, [gcodes[i], *extra(box[i])], d, f"part of {_NAMES[level]} "
                  f"{gcodes[i]} lies outside {where}")
    # overlapping pairs (at least one of them owns a non-cancelling segment)
    qi, qj = tree.query(g[cand], predicate="intersects")
    a, b = np.minimum(cand[qi], qj), np.maximum(cand[qi], qj)
    pairs = np.unique(np.column_stack([a, b])[(a != b) & (box[a] == box[b])], axis=0)
    if len(pairs):
        inter = _polygonal(shapely.intersection(g[pairs[:, 0]], g[pairs[:, 1]]))
        for (i, j), x in zip(pairs, inter):
            if not x.is_empty:
                found.add("overlap", level, [gcodes[i], gcodes[j], *extra(box[i])], x,
                          f"{_NAMES[level]}s {gcodes[i]} and {gcodes[j]} overlap")
    # gaps: pieces of container − (its flagged grids) that no unflagged grid touches
    table = np.full((len(boxes), max(1, np.bincount(box[cand]).max(initial=0))), None, object)
    pos = np.searchsorted(boxes, box[cand])
    col = pd.Series(pos).groupby(pos).cumcount().to_numpy()
    table[pos, col] = g[cand]
    rest = shapely.difference(cont[boxes], shapely.union_all(table, axis=1))
    pieces, pidx = shapely.get_parts(_polygonal(rest), return_index=True)
    pbox = boxes[pidx]
    pi, gj = tree.query(shapely.point_on_surface(pieces), predicate="intersects")
    covered = np.unique(pi[~g_bad[gj] & (box[gj] == pbox[pi])])
    gaps = np.setdiff1d(np.arange(len(pieces)), covered)
    gi, nj = tree.query(pieces[gaps], predicate="dwithin", distance=_NEAR_DEG)
    near = pd.Series(gcodes[nj]).groupby(gi).agg(list) if len(gi) else pd.Series(dtype=object)
    for k, p in enumerate(gaps):
        around = [c for c, n in zip(near.get(k, []), nj[gi == k]) if box[n] == pbox[p]]
        where = "the territory" if level == 1 else f"village {ccodes[pbox[p]]}"
        found.add("gap", level, around + extra(pbox[p]), pieces[p],
                  f"part of {where} not covered by any {_NAMES[level]}")


def _territory(territory: Any, villages: Objs) -> tuple[Any, bool]:
    """The level-1 container and whether it was given (else: the villages, holes filled)."""
    if territory is not None:
        if hasattr(territory, "geometry"):  # GeoSeries / GeoDataFrame
            territory = shapely.union_all(np.asarray(territory.geometry.values, dtype=object))
        if not territory.is_valid:
            territory = _polygonal(shapely.make_valid(np.array([territory], dtype=object)))[0]
        return territory, True
    union = shapely.union_all(villages)
    shells = [shapely.Polygon(p.exterior) for p in shapely.get_parts(_polygonal([union])[0])]
    return shapely.union_all(np.array(shells, dtype=object)), False


def validate(villages: Any, groups: Any = None, territory: Any = None,
             tolerance_m2: float | None = None) -> list[Problem]:
    """Validate the topology of the village and group grids.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        Level-1 grids: columns ``code``, ``geometry`` (EPSG:4490 degrees).
    groups : geopandas.GeoDataFrame or None
        Level-2 grids: columns ``code``, ``parent_code`` (the village's code), ``geometry``.
        None or empty: level 2 is not checked (and no ``village_without_groups``).
    territory : shapely geometry, GeoSeries or None
        The area the villages must cover (EPSG:4490). None: only holes enclosed by the
        villages count as gaps and nothing is "outside" (slower: the union is computed).
    tolerance_m2 : float, optional
        Gaps, overlaps and outside parts up to this area (m²) are not reported; default
        :data:`gis.settings.GAP_TOLERANCE_M2`.

    Returns
    -------
    list of Problem
        Errors first, then warnings; empty when the grids tile the territory exactly.
    """
    tol = settings.GAP_TOLERANCE_M2 if tolerance_m2 is None else float(tolerance_m2)
    found = _Found()
    vcodes, vgeoms, _ = _read(villages, 1, found)
    gcodes, ggeoms, parents = _read(groups, 2, found)
    if len(vgeoms):
        terr, _ = _territory(territory, vgeoms)
        _tiling(vgeoms, vcodes, np.zeros(len(vgeoms), np.int64),
                np.array([terr], dtype=object), [None], 1, found)
    if groups is not None and len(groups):
        vindex = pd.Index(vcodes)
        box = vindex.get_indexer(pd.Series(parents).astype(str).to_numpy())
        for i in np.flatnonzero(box < 0):
            found.add("group_outside_village", 2, [gcodes[i]], ggeoms[i],
                      f"group {gcodes[i]}: its village {parents[i]!r} is not among the villages")
        has = np.zeros(len(vcodes), bool)
        has[box[box >= 0]] = True
        for k in np.flatnonzero(~has):
            found.add("village_without_groups", 1, [vcodes[k]], vgeoms[k],
                      f"village {vcodes[k]} has no groups (level-2 grids)")
        if has.any():
            keep = box >= 0
            renum = np.cumsum(has) - 1
            _tiling(ggeoms[keep], gcodes[keep], renum[box[keep]], vgeoms[has],
                    list(vcodes[has]), 2, found)
    return found.problems(tol)
