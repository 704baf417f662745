"""Bulk point-in-grid geocoder: which grid polygon contains each point.

:class:`GridIndex` answers for a coverage of polygons (the group grids of a county, EPSG:4490
lon/lat) the same as an exact GEOS test of every point against every polygon
(``intersects``, i.e. interior *or* boundary), with a deterministic rule when a point lies
on a shared edge or vertex: the polygon with the smallest code (string order) wins.

Method: a two-level lookup raster (see :mod:`gis.geocode_index`). Cells that no polygon
boundary touches store their answer, computed once by an exact test at build time; points
in them are answered by two array look-ups. Only points in the thin band of fine cells
that boundaries cross go through the exact test (STRtree candidates, then prepared
``shapely.intersects_xy``). The answer never depends on the raster, only the speed does.

:func:`bench_geocode` times this against ``geopandas.sjoin`` and counts disagreements.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import shapely

from gis import settings
from gis._errors import GeocodeError
from gis.geocode_index import (
    M_PER_DEG,
    UNKNOWN,
    RasterFrame,
    boundary_cells,
    make_frame,
    propagate_vertically,
    ring_segments,
    row_runs,
    seed_from_neighbours,
)

if TYPE_CHECKING:
    import geopandas as gpd

_NONE = -1   # stored answer: inside no polygon
_EXACT = -2  # fine cell touched by a boundary: test points exactly
_POLY_TYPES = (3, 6)  # shapely GeometryType.POLYGON, MULTIPOLYGON


def _check_input(codes: Sequence[str], geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes as an object array of str and geometries as a flat object array, or raise."""
    codes_a = np.asarray([str(c) for c in codes], dtype=object)
    geoms_a = np.asarray(geoms, dtype=object).ravel()
    if len(codes_a) != len(geoms_a):
        msg = f"GridIndex: {len(codes_a)} codes but {len(geoms_a)} geometries; give one code " \
              "per grid polygon"
        raise GeocodeError(msg)
    uniq, counts = np.unique(codes_a.astype(str), return_counts=True)
    if (counts > 1).any():
        msg = f"GridIndex: duplicate grid codes {list(uniq[counts > 1][:5])}; codes must be " \
              "unique"
        raise GeocodeError(msg)
    if not all(g is None or isinstance(g, shapely.Geometry) for g in geoms_a):
        msg = "GridIndex: geometries must be shapely Polygons / MultiPolygons (or None)"
        raise GeocodeError(msg)
    kind = shapely.get_type_id(geoms_a)
    bad = ~np.isin(kind, _POLY_TYPES) & ~shapely.is_empty(geoms_a) & (kind >= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"GridIndex: grid {codes_a[i]!r} is a {geoms_a[i].geom_type}, not a polygon; " \
              "grids must be Polygons or MultiPolygons"
        raise GeocodeError(msg)
    return codes_a, geoms_a


@dataclass(eq=False)
class GridIndex:
    """Lookup index of a coverage of grid polygons (EPSG:4490) for bulk point geocoding.

    Build with :meth:`build`; query with :meth:`locate`.

    Attributes
    ----------
    codes : ndarray of str (object)
        Grid codes, in the order given to :meth:`build`; :meth:`locate` returns positions
        into this array.
    frame : RasterFrame
        Position and cell size of the lookup raster.
    coarse : ndarray of int32, shape (nyc * nxc,)
        Per coarse cell: polygon position (>= 0), -1 (no polygon), or ``-2 - b`` for a
        cell split into fine block ``b``.
    blocks : ndarray of int16 (int32 beyond 32,766 polygons), shape (n_blocks * subdiv ** 2,)
        Per fine cell of the blocks: polygon position, -1, or -2 (exact test needed).
    """

    codes: np.ndarray
    frame: RasterFrame
    coarse: np.ndarray = field(repr=False)
    blocks: np.ndarray = field(repr=False)
    _geoms: np.ndarray = field(repr=False)
    _tree: shapely.STRtree = field(repr=False)
    _rank: np.ndarray = field(repr=False)
    _by_rank: np.ndarray = field(repr=False)
    _stats: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, codes: Sequence[str], geoms: np.ndarray, cell_m: float | None = None,
              subdiv: int | None = None) -> GridIndex:
        """Build the index of a coverage of grid polygons.

        Parameters
        ----------
        codes : sequence of str
            One unique code per polygon; ties on shared edges go to the smallest code.
        geoms : ndarray of shapely Polygon / MultiPolygon
            The grids in EPSG:4490 (lon, lat degrees). None or empty entries never match.
            The caller's geometries are not modified (the index keeps prepared copies).
        cell_m : float, optional
            Edge of a coarse raster cell, metres; default ``settings.GEOCODE_CELL_M``.
        subdiv : int, optional
            Fine cells per coarse cell along each axis in cells crossed by a boundary;
            default ``settings.GEOCODE_SUBDIV``.

        Returns
        -------
        GridIndex

        Raises
        ------
        GeocodeError
            Codes and geometries differ in number, codes repeat, a geometry is not a
            polygon, no polygon is given, or the coordinates are not lon/lat degrees.
        """
        cell_m = float(settings.GEOCODE_CELL_M if cell_m is None else cell_m)
        subdiv = int(settings.GEOCODE_SUBDIV if subdiv is None else subdiv)
        if not (np.isfinite(cell_m) and cell_m > 0 and subdiv >= 1):
            msg = f"GridIndex: cell_m must be > 0 metres and subdiv >= 1 (got {cell_m}, {subdiv})"
            raise GeocodeError(msg)
        codes_a, geoms_a = _check_input(codes, geoms)
        geoms_c = shapely.from_wkb(shapely.to_wkb(geoms_a))  # private copies, then prepared
        present = ~shapely.is_missing(geoms_c) & ~shapely.is_empty(geoms_c)
        if not present.any():
            msg = "GridIndex: no grid polygons to geocode into; load or import grids first"
            raise GeocodeError(msg)
        bounds = tuple(float(v) for v in shapely.total_bounds(geoms_c[present]))
        if not (-180 <= bounds[0] and bounds[2] <= 180 and -90 <= bounds[1] and bounds[3] <= 90):
            msg = f"GridIndex: grid bounds {bounds} are not lon/lat degrees; transform the " \
                  f"grids to EPSG:{settings.STORAGE_SRID} first"
            raise GeocodeError(msg)
        shapely.prepare(geoms_c)
        order = np.argsort(codes_a.astype(str), kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        frame = make_frame(bounds, cell_m, subdiv, settings.GEOCODE_MAX_CELLS)
        idx = cls(codes=codes_a, frame=frame, coarse=np.empty(0, np.int32),
                  blocks=np.empty(0, np.int32), _geoms=geoms_c,
                  _tree=shapely.STRtree(geoms_c), _rank=rank, _by_rank=order.astype(np.int64))
        idx._fill_raster(ring_segments(geoms_c[present]))
        return idx

    def _fill_raster(self, seg: np.ndarray) -> None:
        """Fill :attr:`coarse` and :attr:`blocks` from the polygons' ring segments.

        Coarse cells touched by a segment become blocks of fine cells; fine cells touched by
        a segment need the exact test. Free cells are grouped in horizontal runs; a run is
        labelled from a free neighbour (same polygons, as no boundary separates them) or,
        failing that, by one exact test at its first cell.
        """
        fr, k = self.frame, self.frame.subdiv
        i0, i1, j0, j1 = boundary_cells(seg, fr)
        corners = ((i0, j0), (i1, j0), (i0, j1), (i1, j1))
        split = np.zeros(fr.nyc * fr.nxc, dtype=bool)
        for cols, rows in corners:
            split[(rows // k) * fr.nxc + cols // k] = True
        block_of = np.cumsum(split) - 1
        n_blocks = int(split.sum())
        small = len(self.codes) < np.iinfo(np.int16).max  # halve the memory of the blocks
        blocks = np.zeros(n_blocks * k * k, dtype=np.int16 if small else np.int32)
        for cols, rows in corners:
            b = block_of[(rows // k) * fr.nxc + cols // k]
            blocks[(b * k + rows % k) * k + cols % k] = _EXACT

        coarse = np.empty(fr.nyc * fr.nxc, dtype=np.int32)
        free = ~split
        starts, run_of = row_runs(free.reshape(fr.nyc, fr.nxc))
        cj, ci = np.divmod(starts, fr.nxc)
        lab = self._exact(fr.x0 + (ci + 0.5) * k * fr.fw, fr.y0 + (cj + 0.5) * k * fr.fh)
        coarse[free] = lab[run_of]
        coarse[split] = -2 - block_of[split]

        bfree = blocks != _EXACT
        starts, run_of = row_runs(bfree.reshape(n_blocks * k, k))
        runid = np.full(blocks.size, -1, dtype=np.int64)
        runid[bfree] = run_of
        runid = runid.reshape(n_blocks, k, k)
        lab = np.full(len(starts), UNKNOWN, dtype=np.int32)
        seed_from_neighbours(lab, runid, split, coarse, fr)
        propagate_vertically(lab, runid, starts)
        todo = np.flatnonzero(lab == UNKNOWN)  # runs cut off from every free coarse cell
        brow, si = np.divmod(starts[todo], k)
        b, sj = np.divmod(brow, k)
        cj, ci = np.divmod(np.flatnonzero(split)[b], fr.nxc)
        lab[todo] = self._exact(fr.x0 + (ci * k + si + 0.5) * fr.fw,
                                fr.y0 + (cj * k + sj + 0.5) * fr.fh)
        blocks[bfree] = lab[run_of]
        self._stats = {"block_runs": len(starts), "block_runs_tested": len(todo)}
        self.coarse, self.blocks = coarse, blocks

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Exact answer for finite points: GEOS ``intersects``, smallest code on ties.

        Parameters
        ----------
        x, y : ndarray of float
            Longitude and latitude, degrees (finite).

        Returns
        -------
        ndarray of int32
            Polygon position per point, -1 where no polygon covers it.
        """
        if len(x) == 0:
            return np.empty(0, dtype=np.int32)
        qi, ti = self._tree.query(shapely.points(x, y))
        hit = shapely.intersects_xy(self._geoms[ti], x[qi], y[qi])
        qi, ti = qi[hit], ti[hit]
        best = np.full(len(x), len(self.codes), dtype=np.int64)
        np.minimum.at(best, qi, self._rank[ti])
        found = best < len(self.codes)
        out = np.full(len(x), _NONE, dtype=np.int32)
        out[found] = self._by_rank[best[found]]
        return out

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Position (into :attr:`codes`) of the grid polygon containing each point.

        Parameters
        ----------
        lon, lat : ndarray of float
            Point coordinates in EPSG:4490, degrees; same shape.

        Returns
        -------
        ndarray of int64, same shape as ``lon``
            Polygon position; a point on a shared edge or vertex goes to the polygon with
            the smallest code; -1 for points inside no polygon and for NaN / inf
            coordinates.

        Raises
        ------
        GeocodeError
            ``lon`` and ``lat`` differ in shape.
        """
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        if x.shape != y.shape:
            msg = f"locate: lon has shape {x.shape} but lat has shape {y.shape}"
            raise GeocodeError(msg)
        shape, x, y = x.shape, x.ravel(), y.ravel()
        fr, k = self.frame, self.frame.subdiv
        fx, fy = fr.fine_xy(x, y)
        with np.errstate(invalid="ignore"):
            ok = (fx >= 0) & (fx < fr.nxf) & (fy >= 0) & (fy < fr.nyf)
        out = np.full(len(x), _NONE, dtype=np.int32)
        sel = np.flatnonzero(ok)
        cols = fx[sel].astype(np.int64)
        rows = fy[sel].astype(np.int64)
        val = self.coarse[(rows // k) * fr.nxc + cols // k]
        inb = np.flatnonzero(val <= -2)
        cols, rows = cols[inb], rows[inb]
        val[inb] = self.blocks[((-2 - val[inb]) * k + rows % k) * k + cols % k]
        out[sel] = val
        ex = sel[inb[val[inb] == _EXACT]]
        out[ex] = self._exact(x[ex], y[ex])
        return out.astype(np.int64).reshape(shape)

    def describe(self) -> dict[str, float]:
        """Size of the raster: cell counts and cell size.

        Returns
        -------
        dict
            ``coarse_cells``, ``blocks``, ``exact_cells`` (fine cells needing the exact
            test), ``fine_cell_m`` (edge of a fine cell, metres, north-south),
            ``block_runs`` (runs of free fine cells) and ``block_runs_tested`` (those
            labelled by an exact test rather than from a neighbour).
        """
        fr = self.frame
        return {"coarse_cells": int(self.coarse.size),
                "blocks": int(self.blocks.size // (fr.subdiv * fr.subdiv)),
                "exact_cells": int((self.blocks == _EXACT).sum()),
                "fine_cell_m": fr.fh * M_PER_DEG, **self._stats}


def _sjoin_exact(codes: np.ndarray, pts: gpd.GeoDataFrame, polys: gpd.GeoDataFrame
                 ) -> np.ndarray:
    """Reference answer with geopandas: sjoin ``intersects``, then the smallest code."""
    import geopandas as gpd

    j = gpd.sjoin(pts, polys, predicate="intersects", how="inner")
    qi = j.index.to_numpy()
    ti = j["index_right"].to_numpy()
    order = np.argsort(codes.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    best = np.full(len(pts), len(codes), dtype=np.int64)
    np.minimum.at(best, qi, rank[ti])
    return np.where(best < len(codes), order[np.minimum(best, len(codes) - 1)], -1)


def bench_geocode(codes: Sequence[str], geoms: np.ndarray, n_points: int,
                  seed: int) -> dict[str, float | int]:
    """Time :class:`GridIndex` against ``geopandas.sjoin`` on random points.

    ``n_points`` points are drawn uniformly (seeded) in the bounding box of the polygons.
    The baseline time is ``geopandas.sjoin(points, polys, predicate="within")`` (GeoDataFrames
    built beforehand, not timed). The answers are compared, untimed, with an exact
    reference: sjoin ``intersects`` plus the smallest-code rule on shared edges.

    Parameters
    ----------
    codes : sequence of str
        Grid codes.
    geoms : ndarray of shapely Polygon / MultiPolygon
        Grid polygons, EPSG:4490.
    n_points : int
        Number of random points.
    seed : int
        Seed of the random points.

    Returns
    -------
    dict
        ``points``, ``grids``, ``index_build_s``, ``wangge_s`` (locate), ``sjoin_s`` (seconds),
        ``ratio`` (sjoin_s / wangge_s), ``mismatches`` (points whose answers differ; 0 when
        correct) and ``outside`` (points inside no grid).
    """
    import geopandas as gpd

    geoms_a = np.asarray(geoms, dtype=object)
    t = time.perf_counter()
    idx = GridIndex.build(codes, geoms_a)
    build_s = time.perf_counter() - t
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms_a)
    rng = np.random.default_rng(seed)
    x = rng.uniform(xmin, xmax, n_points)
    y = rng.uniform(ymin, ymax, n_points)
    t = time.perf_counter()
    got = idx.locate(x, y)
    wangge_s = time.perf_counter() - t

    crs = f"EPSG:{settings.STORAGE_SRID}"
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=crs)
    polys = gpd.GeoDataFrame({"code": idx.codes}, geometry=list(geoms_a), crs=crs)
    t = time.perf_counter()
    gpd.sjoin(pts, polys, predicate="within", how="inner")
    sjoin_s = time.perf_counter() - t
    ref = _sjoin_exact(idx.codes, pts, polys)
    return {"points": int(n_points), "grids": len(idx.codes),
            "index_build_s": round(build_s, 4), "wangge_s": round(wangge_s, 4),
            "sjoin_s": round(sjoin_s, 4),
            "ratio": round(sjoin_s / wangge_s, 2) if wangge_s > 0 else float("inf"),
            "mismatches": int((got != ref).sum()), "outside": int((got < 0).sum())}
