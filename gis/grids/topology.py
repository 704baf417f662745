"""Topology of the two grid levels: full coverage, no gaps, no overlaps (全覆盖、无缝隙).

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

Edges are straight in storage degrees (as for PostGIS and every point-in-grid lookup), so
pieces are densified before they are measured in UTM: a grid computed in UTM and converted
back deviates from a long straight edge in degrees by centimetres, which can be a real sliver.

Sliver definition
-----------------
A *sliver* is a polygon that is thin and small: Polsby-Popper compactness ``4πA/P²`` below
:data:`gis.settings.SLIVER_THINNESS` and area ``A`` below :data:`gis.settings.SLIVER_MAX_AREA_M2`
(``A``, perimeter ``P`` in metres). Tested on every valid grid (``codes`` = the grid) and on
each gap piece, pair overlap and outside part (``outside_territory``,
``group_outside_village``) above the tolerance, which is then reported as ``sliver``
*instead* (its ``detail`` says which), never twice.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

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
PROBLEM_TYPES: tuple[str, ...] = get_args(ProblemType)
_SLIVERABLE = ("gap", "overlap", "outside_territory", "group_outside_village", "grid_sliver")
_MEASURE_STEP_DEG = 0.002  # densify to ~200 m before measuring (error < 1e-5 m per edge)
_NEAR_DEG = 1e-7  # a grid this close (degrees, ~1 cm) to a gap is one of the grids around it
_M2_PER_DEG2 = (math.pi / 180.0 * 6_371_008.8) ** 2  # spherical, for pre-filtering only
_NAMES = {1: "village", 2: "group"}
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

    rows: list[tuple[str, int, list[str], Any, str, str | None]] = field(default_factory=list)

    def add(self, kind: str, level: int, codes: list[str], geom: Any, detail: str,
            location: str | None = None) -> None:
        self.rows.append((kind, level, sorted(set(codes)), geom, detail, location))

    def problems(self, tolerance_m2: float) -> list[Problem]:
        geoms = np.array([r[3] for r in self.rows], dtype=object)
        area, perim = np.zeros(len(geoms)), np.zeros(len(geoms))
        some = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
        if some.any():  # edges are straight in storage degrees: densify, then measure in UTM
            metric, _ = to_metric(shapely.segmentize(geoms[some], _MEASURE_STEP_DEG))
            area[some], perim[some] = shapely.area(metric), shapely.length(metric)
        with np.errstate(divide="ignore", invalid="ignore"):
            pp = np.where(perim > 0, 4 * np.pi * area / perim ** 2, 0.0)
        thin = (pp < settings.SLIVER_THINNESS) & (area < settings.SLIVER_MAX_AREA_M2)
        points = shapely.point_on_surface(geoms)
        out = []
        for i, (kind, level, codes, _, detail, loc) in enumerate(self.rows):
            if (kind in _SLIVERABLE[:4] and area[i] <= tolerance_m2) \
                    or (kind == "grid_sliver" and not thin[i]):
                continue
            if kind in _SLIVERABLE and thin[i]:
                detail = f"{detail}; a sliver: Polsby-Popper {pp[i]:.4f} < " \
                         f"{settings.SLIVER_THINNESS}, area {area[i]:.1f} m² < " \
                         f"{settings.SLIVER_MAX_AREA_M2:g} m²"
                kind = "sliver"
            severity = "warning" if kind == "multipart" else "error"
            out.append(Problem(kind, severity, level, codes, float(area[i]),
                               loc or shapely.to_wkt(points[i], rounding_precision=9), detail))
        return sorted(out, key=lambda p: (p.severity != "error", PROBLEM_TYPES.index(p.type),
                                          p.level or 0, p.codes, p.location))


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
        what = "missing" if geoms[i] is None else f"empty or not polygonal ({geoms[i].geom_type})"
        found.add("invalid", level, [codes[i]], shapely.MultiPolygon(), f"geometry {what}",
                  "POINT EMPTY")
    bad = polygonal & ~shapely.is_valid(geoms)
    geoms = geoms.copy()
    geoms[bad] = _polygonal(shapely.make_valid(geoms[bad]))
    for i, why in zip(np.flatnonzero(bad), shapely.is_valid_reason(gdf.geometry.values[bad])):
        m = _POINT_RE.search(why)
        found.add("invalid", level, [codes[i]], geoms[i], f"invalid geometry: {why} (checked "
                  "further as repaired by make_valid)", m and f"POINT ({m[1]} {m[2]})")
    ok = polygonal & ~shapely.is_empty(geoms)
    _grid_checks(codes[ok & ~bad], geoms[ok & ~bad], level, found)
    return codes[ok], geoms[ok], parents[ok]


def _grid_checks(codes: NDArray[np.str_], geoms: Objs, level: int, found: _Found) -> None:
    """Multipart grids (warning) and candidate sliver grids (resolved in metres later)."""
    nparts = shapely.get_num_geometries(geoms)
    for i in np.flatnonzero(nparts > 1):
        parts = shapely.get_parts(geoms[i])
        areas = shapely.area(parts)
        rest = np.argsort(areas)[::-1][1:]
        found.add("multipart", level, [codes[i]], shapely.MultiPolygon(list(parts[rest])),
                  f"{len(parts)} separate parts (legal exclaves); area: all but the largest",
                  shapely.to_wkt(shapely.point_on_surface(parts[rest[0]]), rounding_precision=9))
    b = shapely.bounds(geoms)
    approx = shapely.area(geoms) * _M2_PER_DEG2 * np.cos(np.radians((b[:, 1] + b[:, 3]) / 2))
    for i in np.flatnonzero(approx < 2 * settings.SLIVER_MAX_AREA_M2):
        found.add("grid_sliver", level, [codes[i]], geoms[i], f"thin, small {_NAMES[level]}")


def _mix(a: NDArray[np.uint64], b: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """64-bit hash of two uint64 arrays (splitmix64 finaliser; overflow wraps by design)."""
    h = (a * np.uint64(0x9E3779B97F4A7C15)) ^ (b + np.uint64(0x632BE59BD9B4E019))
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@dataclass
class _Segs:
    """Boundary segments of polygons (exteriors counter-clockwise): hashes of the ordered
    endpoints ``lo`` < ``hi`` (equal coordinates, equal hashes), ``fwd`` +1 when walked
    lo → hi, else -1, and the ``owner`` polygon's index."""

    lo: NDArray[np.uint64]
    hi: NDArray[np.uint64]
    fwd: NDArray[np.int8]  # ±1
    owner: NDArray[np.int64]

    @classmethod
    def of(cls, geoms: Objs) -> _Segs:  # noqa: D102
        parts, pidx = shapely.get_parts(shapely.orient_polygons(geoms), return_index=True)
        rings, ridx = shapely.get_rings(parts, return_index=True)
        xy, cidx = shapely.get_coordinates(rings, return_index=True)
        u = np.ascontiguousarray(xy).view(np.uint64).reshape(-1, 2)
        hv = _mix(u[:, 0], u[:, 1])
        s = np.flatnonzero((cidx[:-1] == cidx[1:]) & (hv[:-1] != hv[1:]))
        ha, hb = hv[s], hv[s + 1]
        fwd = ha < hb
        return cls(np.where(fwd, ha, hb), np.where(fwd, hb, ha),
                   np.where(fwd, 1, -1).astype(np.int8), pidx[ridx[cidx[s]]])

    def subset(self, keep: NDArray[np.bool_]) -> _Segs:
        """Segments of the polygons where ``keep``, owners renumbered among those."""
        m = keep[self.owner]
        return _Segs(self.lo[m], self.hi[m], self.fwd[m], (np.cumsum(keep) - 1)[self.owner[m]])


def _unmatched(*sets: tuple[_Segs, NDArray[np.int64], int, int]) -> list[NDArray[np.bool_]]:
    """For each (segments, container of each polygon, sign, n polygons) set, which polygons
    own a segment that does not cancel.

    A segment cancels when its directions (× sign), summed over everything in the same
    container, give zero. A second, independent key guards against hash collisions.
    """
    k1, k2, w = [], [], []
    for sg, box, sign, _ in sets:
        c = box[sg.owner].astype(np.uint64)
        k1.append(sg.lo * np.uint64(0x9E3779B97F4A7C15) + sg.hi + c * np.uint64(0xD6E8FEB86659FD93))
        k2.append(_mix(sg.hi ^ (c << np.uint64(40)), sg.lo))
        w.append(sg.fwd if sign > 0 else -sg.fwd)
    code, uniq = pd.factorize(np.concatenate(k1))
    net = np.bincount(code, weights=np.concatenate(w), minlength=len(uniq))
    key2 = np.concatenate(k2)
    first = np.empty(len(uniq), np.int64)
    first[code[::-1]] = np.arange(len(code))[::-1]
    bad = net != 0
    bad[code[key2 != key2[first[code]]]] = True  # clash: flag, never hide
    per_set = np.split(bad[code], np.cumsum([len(sg.owner) for sg, *_ in sets])[:-1])
    return [np.bincount(sg.owner[b], minlength=n) > 0 for (sg, _, _, n), b in zip(sets, per_set)]


def _tiling(g: Objs, gcodes: NDArray[np.str_], box: NDArray[np.int64], cont: Objs,
            ccodes: list[str | None], level: int, found: _Found,
            segs: tuple[_Segs, _Segs]) -> None:
    """Report how the grids ``g`` fail to tile their containers ``cont[box]``.

    Level 1: the containers are the territory (one, code None); level 2: the villages.
    """
    g_bad, c_bad = _unmatched((segs[0], box, 1, len(g)),
                              (segs[1], np.arange(len(cont)), -1, len(cont)))
    boxes = np.unique(np.r_[np.flatnonzero(c_bad), box[g_bad]]).astype(int)
    if boxes.size == 0:
        return

    def ctx(k: int) -> tuple[list[str], str]:  # codes to list with the problem, container name
        return ([ccodes[k]], f"village {ccodes[k]}") if ccodes[k] else ([], "the territory")

    shapely.prepare(cont)
    tree = shapely.STRtree(g)
    cand = np.flatnonzero(g_bad)
    # parts outside the container
    out = cand[~shapely.covers(cont[box[cand]], g[cand])]
    diff = _polygonal(shapely.difference(g[out], cont[box[out]]))
    kind = "outside_territory" if level == 1 else "group_outside_village"
    for i, d in zip(out, diff):
        found.add(kind, level, [gcodes[i], *ctx(box[i])[0]], d,
                  f"part of {_NAMES[level]} {gcodes[i]} lies outside {ctx(box[i])[1]}")
    # overlapping pairs (at least one of them owns a non-cancelling segment)
    qi, qj = tree.query(g[cand], predicate="intersects")
    a, b = np.minimum(cand[qi], qj), np.maximum(cand[qi], qj)
    pairs = np.unique(np.column_stack([a, b])[(a != b) & (box[a] == box[b])], axis=0)
    if len(pairs):
        inter = _polygonal(shapely.intersection(g[pairs[:, 0]], g[pairs[:, 1]]))
        for (i, j), x in zip(pairs, inter):
            if not x.is_empty:
                found.add("overlap", level, [gcodes[i], gcodes[j], *ctx(box[i])[0]], x,
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
    same = box[nj] == pbox[gaps[gi]]
    around = pd.Series(gcodes[nj[same]], dtype=object).groupby(gi[same]).agg(list)
    for k, p in enumerate(gaps):
        found.add("gap", level, around.get(k, []) + ctx(pbox[p])[0], pieces[p],
                  f"part of {ctx(pbox[p])[1]} not covered by any {_NAMES[level]}")


def _territory(territory: Any, villages: Objs, vsegs: _Segs) -> Objs:
    """The level-1 container (1-array): the territory, or else the villages' union with its
    holes filled (a fast coverage union, certified by the segment check, else a full union).
    """
    if territory is not None:
        if hasattr(territory, "geometry"):  # GeoSeries / GeoDataFrame
            territory = shapely.union_all(np.asarray(territory.geometry.values, dtype=object))
        terr = np.array([territory], dtype=object)
        return terr if shapely.is_valid(territory) else _polygonal(shapely.make_valid(terr))

    def filled(union: Any) -> Objs:
        shells = shapely.polygons(shapely.get_exterior_ring(shapely.get_parts(union)))
        return np.array([shapely.union_all(shells)], dtype=object)

    try:
        terr = filled(shapely.coverage_union_all(villages))
        g_bad, t_bad = _unmatched((vsegs, np.zeros(len(villages), np.int64), 1, len(villages)),
                                  (_Segs.of(terr), np.zeros(1, np.int64), -1, 1))
        if not (g_bad.any() or t_bad.any()):
            return terr
    except shapely.errors.GEOSException:
        pass
    return filled(_polygonal([shapely.union_all(villages)])[0])


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
        villages count as gaps and nothing is "outside".
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
    vsegs = _Segs.of(vgeoms)
    if len(vgeoms):
        terr = _territory(territory, vgeoms, vsegs)
        _tiling(vgeoms, vcodes, np.zeros(len(vgeoms), np.int64), terr, [None], 1, found,
                (vsegs, _Segs.of(terr)))
    elif territory is not None:
        found.add("gap", 1, [], _territory(territory, vgeoms, vsegs)[0], "no villages at all")
    if groups is not None and len(groups):
        first = pd.Series(np.arange(len(vcodes)), index=vcodes)
        first = first[~first.index.duplicated()]
        box = first.reindex(pd.Series(parents).astype(str)).fillna(-1).to_numpy(np.int64)
        for i in np.flatnonzero(box < 0):
            found.add("group_outside_village", 2, [gcodes[i]], ggeoms[i], f"group {gcodes[i]}:"
                      f" its village {parents[i]!r} is not among the villages (with a geometry)")
        has = np.zeros(len(vcodes), bool)
        has[box[box >= 0]] = True
        for k in np.flatnonzero(~has):
            found.add("village_without_groups", 1, [vcodes[k]], vgeoms[k],
                      f"village {vcodes[k]} has no groups (level-2 grids)")
        if has.any():
            keep = box >= 0
            renum = np.cumsum(has) - 1
            _tiling(ggeoms[keep], gcodes[keep], renum[box[keep]], vgeoms[has],
                    list(vcodes[has]), 2, found, (_Segs.of(ggeoms[keep]), vsegs.subset(has)))
    return found.problems(tol)
