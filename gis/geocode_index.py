"""Lookup raster of the geocoder: which raster cells a polygon boundary can touch.

The raster of :class:`gis.geocode.GridIndex` has two levels. *Coarse* cells (about
``cell_m`` metres) cover the bounding box of the grids; a coarse cell that any polygon
boundary touches is split into ``subdiv`` x ``subdiv`` *fine* cells (a *block*). A cell
(coarse or fine) that no boundary touches lies wholly in the interior of the same set of
polygons, so every point falling in it gets the cell's stored answer; only points in fine
cells touched by a boundary need an exact point-in-polygon test.

The functions here are pure numpy: ring segments of the polygons, the fine cells each
segment can touch (a conservative superset, safe against floating-point rounding), and the
horizontal runs of untouched cells (all cells of a run share one answer, so one exact test
per run labels them all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

EPS_CELL: float = 1e-6
"""Safety margin, in cell widths, by which a boundary piece's extent is widened before the
cells it touches are marked. Rounding of ``(x - x0) / width`` is ~1e-10 cell widths for
county-sized rasters, so 1e-6 is ample and marks practically no extra cells."""

M_PER_DEG: float = 111_319.490793
"""Metres per degree of latitude (and of longitude at the equator) on the GRS80 / CGCS2000
equatorial radius; only used to size the cells, so a sphere is precise enough."""


@dataclass(frozen=True)
class RasterFrame:
    """Position and size of the fine raster (a coarse cell is ``subdiv`` x ``subdiv`` fine ones).

    Attributes
    ----------
    x0, y0 : float
        Lower-left corner of the raster, degrees (lon, lat).
    fw, fh : float
        Width and height of a fine cell, degrees.
    subdiv : int
        Fine cells per coarse cell along each axis.
    nxc, nyc : int
        Number of coarse columns and rows.
    """

    x0: float
    y0: float
    fw: float
    fh: float
    subdiv: int
    nxc: int
    nyc: int

    @property
    def nxf(self) -> int:
        """Number of fine columns."""
        return self.nxc * self.subdiv

    @property
    def nyf(self) -> int:
        """Number of fine rows."""
        return self.nyc * self.subdiv

    def fine_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional fine-cell coordinates of points (cell ``I`` spans ``[I, I + 1)``).

        Parameters
        ----------
        x, y : ndarray of float
            Longitude and latitude, degrees.

        Returns
        -------
        fx, fy : ndarray of float
            Positions in fine-cell widths from the raster origin (NaN stays NaN).
        """
        return (x - self.x0) / self.fw, (y - self.y0) / self.fh


def make_frame(bounds: tuple[float, float, float, float], cell_m: float, subdiv: int,
               max_cells: int) -> RasterFrame:
    """Lay a raster over ``bounds`` with coarse cells of about ``cell_m`` metres.

    Parameters
    ----------
    bounds : tuple of float
        (min lon, min lat, max lon, max lat) of the polygons, degrees.
    cell_m : float
        Wanted edge of a coarse cell, metres (converted to degrees at the middle latitude).
    subdiv : int
        Fine cells per coarse cell along each axis.
    max_cells : int
        Largest number of coarse cells; the cells are enlarged (keeping their shape) when
        ``bounds`` would need more.

    Returns
    -------
    RasterFrame
        The raster, with half a coarse cell of margin on every side.
    """
    xmin, ymin, xmax, ymax = bounds
    coslat = max(np.cos(np.radians(0.5 * (ymin + ymax))), 0.01)
    ch = cell_m / M_PER_DEG
    cw = ch / coslat
    area = (xmax - xmin + cw) * (ymax - ymin + ch)
    if area / (cw * ch) > max_cells:
        scale = float(np.sqrt(area / (cw * ch) / max_cells)) * 1.01
        cw, ch = cw * scale, ch * scale
    x0, y0 = xmin - 0.5 * cw, ymin - 0.5 * ch
    nxc = int(np.floor((xmax - x0) / cw)) + 2
    nyc = int(np.floor((ymax - y0) / ch)) + 2
    return RasterFrame(x0=float(x0), y0=float(y0), fw=float(cw / subdiv), fh=float(ch / subdiv),
                       subdiv=subdiv, nxc=nxc, nyc=nyc)


def ring_segments(geoms: np.ndarray) -> np.ndarray:
    """Every segment of every ring (shells and holes) of the polygons.

    Parameters
    ----------
    geoms : ndarray of shapely Polygon / MultiPolygon
        The polygons (empty or None entries contribute nothing).

    Returns
    -------
    ndarray of float, shape (n, 4)
        ``(ax, ay, bx, by)`` per segment, degrees.
    """
    parts = shapely.get_parts(geoms)
    rings = shapely.get_rings(parts)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    if len(xy) < 2:
        return np.empty((0, 4))
    same = ring[1:] == ring[:-1]
    return np.column_stack([xy[:-1][same], xy[1:][same]])


def _cell_ranges(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First and last fine column and row of the widened extent of segments (cell units)."""
    i0 = np.floor(np.minimum(ax, bx) - EPS_CELL).astype(np.int64)
    i1 = np.floor(np.maximum(ax, bx) + EPS_CELL).astype(np.int64)
    j0 = np.floor(np.minimum(ay, by) - EPS_CELL).astype(np.int64)
    j1 = np.floor(np.maximum(ay, by) + EPS_CELL).astype(np.int64)
    return i0, i1, j0, j1


def boundary_cells(seg: np.ndarray, frame: RasterFrame
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fine cells that the segments can touch: a superset that misses none.

    The extent of every segment, widened by :data:`EPS_CELL`, is marked whole when it spans
    at most 2 x 2 cells. A longer segment is first cut into pieces at most half a cell long
    along each axis, whose widened extents span at most 2 x 2 cells. A cell not marked
    therefore has no boundary point within ``EPS_CELL`` of its closed rectangle.

    Parameters
    ----------
    seg : ndarray of float, shape (n, 4)
        Segments ``(ax, ay, bx, by)``, degrees.
    frame : RasterFrame
        The raster.

    Returns
    -------
    i0, i1, j0, j1 : ndarray of int64
        Per segment or piece, first and last fine column (``i``) and row (``j``) it can
        touch, with ``i1 - i0 <= 1`` and ``j1 - j0 <= 1``; the four cells
        ``(i0 | i1, j0 | j1)`` are to be marked.
    """
    ax, ay = frame.fine_xy(seg[:, 0], seg[:, 1])
    bx, by = frame.fine_xy(seg[:, 2], seg[:, 3])
    i0, i1, j0, j1 = _cell_ranges(ax, ay, bx, by)
    long = np.flatnonzero((i1 - i0 > 1) | (j1 - j0 > 1))
    if len(long):
        ax, ay, bx, by = ax[long], ay[long], bx[long], by[long]
        dx, dy = bx - ax, by - ay
        n = np.ceil(2.0 * np.maximum(np.abs(dx), np.abs(dy))).astype(np.int64)
        owner = np.repeat(np.arange(len(n)), n)
        step = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
        t0, t1 = step / n[owner], (step + 1) / n[owner]
        dx, dy, ax, ay = dx[owner], dy[owner], ax[owner], ay[owner]
        pieces = _cell_ranges(ax + dx * t0, ay + dy * t0, ax + dx * t1, ay + dy * t1)
        keep = np.ones(len(i0), dtype=bool)
        keep[long] = False
        i0, i1, j0, j1 = (np.concatenate([whole[keep], part])
                          for whole, part in zip((i0, i1, j0, j1), pieces, strict=True))
    limits = (frame.nxf - 1, frame.nxf - 1, frame.nyf - 1, frame.nyf - 1)
    return tuple(np.clip(v, 0, hi, out=v) for v, hi in zip((i0, i1, j0, j1), limits, strict=True))


def row_runs(free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal runs of ``True`` cells in a 2-D mask.

    Cells of one run are edge-adjacent and free of boundaries, so they all lie in the same
    polygons; one exact test at the run's first cell labels the whole run.

    Parameters
    ----------
    free : ndarray of bool, shape (rows, cols)
        Cells no boundary touches.

    Returns
    -------
    starts : ndarray of int64
        Flat (row-major) index of the first cell of each run.
    run_of : ndarray of int64
        Run number of every ``True`` cell, in the order of ``np.flatnonzero(free)``.
    """
    left = np.zeros_like(free)
    left[:, 1:] = free[:, :-1]
    start = free & ~left
    starts = np.flatnonzero(start)
    run_of = np.cumsum(start.ravel())[free.ravel()] - 1
    return starts, run_of


UNKNOWN: int = -3
"""Label of a run whose polygon is not known yet."""


def seed_from_neighbours(lab: np.ndarray, runid: np.ndarray, split: np.ndarray,
                         coarse: np.ndarray, frame: RasterFrame) -> None:
    """Label block runs that touch a free (unsplit) neighbouring coarse cell.

    A free coarse cell has no boundary in it, nor does a free fine cell, so a free fine cell
    on the edge of a block lies in the same polygons as the free coarse cell beside it.

    Parameters
    ----------
    lab : ndarray of int32, shape (n_runs,)
        Run labels, updated in place.
    runid : ndarray of int64, shape (n_blocks, k, k)
        Run of every fine cell of the blocks ([block, row, col]), -1 on boundary cells.
    split : ndarray of bool, shape (nyc * nxc,)
        Coarse cells split into blocks (in block order).
    coarse : ndarray of int32, shape (nyc * nxc,)
        Labels of the free coarse cells.
    frame : RasterFrame
        The raster.
    """
    cj, ci = np.divmod(np.flatnonzero(split), frame.nxc)
    edges = ((0, -1, np.s_[:, :, 0]), (0, 1, np.s_[:, :, -1]),
             (-1, 0, np.s_[:, 0, :]), (1, 0, np.s_[:, -1, :]))
    for dj, di, side in edges:
        nj, ni = cj + dj, ci + di
        ok = (nj >= 0) & (nj < frame.nyc) & (ni >= 0) & (ni < frame.nxc)
        cell = np.where(ok, nj * frame.nxc + ni, 0)
        ok &= ~split[cell]
        runs = runid[ok][side]
        val = np.broadcast_to(coarse[cell[ok]][:, None], runs.shape)
        hit = runs >= 0
        lab[runs[hit]] = val[hit]


def propagate_vertically(lab: np.ndarray, runid: np.ndarray, starts: np.ndarray) -> None:
    """Spread known run labels to vertically adjacent runs inside each block.

    Two free fine cells one above the other share a boundary-free edge, so their runs lie
    in the same polygons. Sweeps up and down the block rows until nothing changes; runs
    still :data:`UNKNOWN` afterwards are not connected to any labelled run.

    Parameters
    ----------
    lab : ndarray of int32, shape (n_runs,)
        Run labels, updated in place.
    runid : ndarray of int64, shape (n_blocks, k, k)
        Run of every fine cell of the blocks, -1 on boundary cells.
    starts : ndarray of int64
        Flat index (into ``runid``) of the first cell of each run.
    """
    k = runid.shape[1]
    is_start = np.zeros(runid.size, dtype=bool)
    is_start[starts] = True
    is_start = is_start.reshape(runid.shape)
    free = runid >= 0
    # two overlapping runs meet first in a column where one of them starts
    pair = free[:, :-1] & free[:, 1:] & (is_start[:, :-1] | is_start[:, 1:])
    level = np.nonzero(pair)[1]
    order = np.argsort(level, kind="stable")
    low, high = runid[:, :-1][pair][order], runid[:, 1:][pair][order]
    bounds = np.searchsorted(level[order], np.arange(k))
    groups = [(low[bounds[i]:bounds[i + 1]], high[bounds[i]:bounds[i + 1]]) for i in range(k - 1)]

    def spread(src: np.ndarray, dst: np.ndarray) -> None:
        fill = (lab[dst] == UNKNOWN) & (lab[src] != UNKNOWN)
        lab[dst[fill]] = lab[src[fill]]

    unknown = int((lab == UNKNOWN).sum())
    for _ in range(k):
        for lo, hi in groups:            # upwards
            spread(lo, hi)
        for lo, hi in groups[::-1]:      # downwards
            spread(hi, lo)
        left = int((lab == UNKNOWN).sum())
        if left in (0, unknown):
            break
        unknown = left
