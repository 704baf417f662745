"""Kernel density of incident points: a raster surface and contour-band polygons.

Method: an isotropic Gaussian kernel in the UTM zone of the territory, evaluated on a square
grid by *linearly binned* KDE (Wand 1994, as in KDEpy / R's KernSmooth): each point's weight
is shared bilinearly among the 4 nearest cell centres, and the resulting raster is convolved
with the Gaussian kernel sampled on the same cells (:func:`scipy.ndimage.gaussian_filter`,
truncated at 4 bandwidths, normalised to sum 1). The raster is padded by 4 bandwidths around
the territory, so no kernel mass is lost at the raster's edge: the sum of density × cell area
over the whole (unclipped) raster equals the number of points used. Linear binning errs by
O((cell / bandwidth)²); with cells no larger than a third of the bandwidth (enforced) the
surface is within a few per cent of the exact KDE (tested at cell = bandwidth / 10: < 1 %).

Density is in points per square kilometre. Only the points inside the territory are used;
clipping sets cells whose centre lies outside the territory to NaN, so the clipped integral
is the number of points minus the kernel mass that spills over the territory's boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import contourpy
import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike
from scipy import ndimage

from gis import settings
from gis._errors import AnalysisError
from gis.crs import to_metric

TRUNCATE = 4.0
"""The Gaussian kernel is cut at this many bandwidths (and the raster padded as much)."""


@dataclass(frozen=True)
class KdeGrid:
    """Where a density raster lies: a north-up grid of square cells in a UTM zone.

    Attributes
    ----------
    crs : pyproj.CRS
        The UTM zone of the raster (metres).
    x0, y1 : float
        West and north edges of the raster, metres.
    cell_m : float
        Edge of a cell, metres.
    shape : (int, int)
        (rows, columns); row 0 is the northernmost.
    bandwidth_m : float
        Standard deviation of the Gaussian kernel, metres.
    n_points : int
        Points used (inside the territory).
    n_dropped : int
        Points not used (outside the territory, or not finite).
    """

    crs: pyproj.CRS
    x0: float
    y1: float
    cell_m: float
    shape: tuple[int, int]
    bandwidth_m: float
    n_points: int
    n_dropped: int

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """Affine (a, b, c, d, e, f) in rasterio order: x = a·col + b·row + c,
        y = d·col + e·row + f (col, row of a cell's corner)."""
        return (self.cell_m, 0.0, self.x0, 0.0, -self.cell_m, self.y1)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the raster, metres in :attr:`crs`."""
        rows, cols = self.shape
        return (self.x0, self.y1 - rows * self.cell_m, self.x0 + cols * self.cell_m, self.y1)

    @property
    def cell_km2(self) -> float:
        """Area of a cell, square kilometres."""
        return self.cell_m * self.cell_m / 1e6

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates, metres: x of each column, y of each row (north first)."""
        rows, cols = self.shape
        x = self.x0 + (np.arange(cols) + 0.5) * self.cell_m
        y = self.y1 - (np.arange(rows) + 0.5) * self.cell_m
        return x, y

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) degrees (EPSG:4490) of the raster's footprint (e.g. for
        an image overlay; the raster is north-up in UTM, so it is slightly rotated in lon/lat)."""
        xmin, ymin, xmax, ymax = self.extent
        tr = pyproj.Transformer.from_crs(self.crs, 4326, always_xy=True)
        lon, lat = tr.transform([xmin, xmin, xmax, xmax], [ymin, ymax, ymin, ymax])
        return (float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat)))


def silverman_bandwidth(x: ArrayLike, y: ArrayLike) -> float:
    """Silverman's rule of thumb for a 2-D Gaussian kernel, metres.

    h = σ · n^(−1/6) (Silverman 1986, eq. 4.14 with d = 2, where the factor
    (4 / (d + 2))^(1/(d+4)) is 1), with the robust spread σ = √(σx σy) and, per axis,
    σk = min(standard deviation, interquartile range / 1.349) as in Silverman's 1-D rule.

    Parameters
    ----------
    x, y : array_like of float
        Point coordinates, metres.

    Raises
    ------
    AnalysisError
        Fewer than 2 points, or no spread (give the bandwidth instead).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 2:
        msg = f"silverman_bandwidth: {n} point(s); give bandwidth_m (metres) instead"
        raise AnalysisError(msg)
    spreads = []
    for v in (x, y):
        sd = float(np.std(v, ddof=1))
        iqr = float(np.subtract(*np.percentile(v, [75, 25]))) / 1.349
        spreads.append(min(sd, iqr) if iqr > 0 else sd)
    sigma = float(np.sqrt(spreads[0] * spreads[1]))
    if not sigma > 0:
        msg = "silverman_bandwidth: the points have no spread along an axis; give bandwidth_m"
        raise AnalysisError(msg)
    return sigma * n ** (-1.0 / 6.0)


def _territory(territory: object) -> shapely.Geometry:
    if isinstance(territory, (gpd.GeoDataFrame, gpd.GeoSeries)):
        geoms = np.asarray(territory.geometry.values, dtype=object)
    elif isinstance(territory, shapely.Geometry):
        geoms = np.array([territory], dtype=object)
    else:
        geoms = np.asarray(territory, dtype=object).ravel()
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if len(geoms) == 0:
        msg = "kde: the territory is empty; pass the county (or grid) polygons in EPSG:4490"
        raise AnalysisError(msg)
    return shapely.union_all(geoms)


def _project(lon: ArrayLike, lat: ArrayLike, territory: object
             ) -> tuple[np.ndarray, np.ndarray, shapely.Geometry, pyproj.CRS, int]:
    """Points inside the territory and the territory, in the territory's UTM zone."""
    terr = _territory(territory)
    (terr_m,), crs = to_metric(np.array([terr], dtype=object))
    lon, lat = np.asarray(lon, dtype=float).ravel(), np.asarray(lat, dtype=float).ravel()
    if lon.shape != lat.shape:
        msg = f"kde: {len(lon)} longitudes but {len(lat)} latitudes"
        raise AnalysisError(msg)
    tr = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = tr.transform(lon[ok], lat[ok])
    shapely.prepare(terr_m)
    inside = shapely.contains_xy(terr_m, x, y)
    return x[inside], y[inside], terr_m, crs, int(len(lon) - inside.sum())


def kde_surface(lon: ArrayLike, lat: ArrayLike, territory: object,
                bandwidth_m: float | None = None, cell_m: float | None = None,
                clip: bool = True) -> tuple[np.ndarray, KdeGrid]:
    """Gaussian kernel density of points over a territory, as a raster (binned KDE).

    Parameters
    ----------
    lon, lat : array_like of float
        Points (incidents), EPSG:4490 degrees; points outside the territory are not used.
    territory : shapely geometry, GeoSeries / GeoDataFrame or array of polygons
        The area (EPSG:4490), e.g. the county or the grids (their union is used).
    bandwidth_m : float, optional
        Standard deviation of the Gaussian kernel, metres; default
        :func:`silverman_bandwidth` of the points used.
    cell_m : float, optional
        Cell edge, metres; default :data:`settings.KDE_CELL_M`. Capped at a third of the
        bandwidth; grown when the raster would exceed :data:`settings.KDE_MAX_CELLS`.
    clip : bool
        Set cells whose centre lies outside the territory to NaN (default). With False the
        whole padded raster is returned (it integrates to the number of points exactly).

    Returns
    -------
    (density, grid) : ndarray of float64, shape grid.shape, and :class:`KdeGrid`
        Density in points per km² (row 0 north); ``nansum(density) * grid.cell_km2`` is the
        number of points expected in the territory.

    Raises
    ------
    AnalysisError
        Empty territory, no point inside it, bad bandwidth or cell size.
    """
    x, y, terr_m, crs, dropped = _project(lon, lat, territory)
    if len(x) == 0:
        msg = "kde_surface: no point lies inside the territory (are lon / lat EPSG:4490?)"
        raise AnalysisError(msg)
    h = silverman_bandwidth(x, y) if bandwidth_m is None else float(bandwidth_m)
    cell = float(settings.KDE_CELL_M if cell_m is None else cell_m)
    if not (np.isfinite(h) and h > 0 and np.isfinite(cell) and cell > 0):
        msg = f"kde_surface: bandwidth_m and cell_m must be > 0 metres (got {h}, {cell})"
        raise AnalysisError(msg)
    cell = min(cell, h / 3.0)
    bx0, by0, bx1, by1 = shapely.bounds(terr_m)
    pad = TRUNCATE * h + cell
    for _ in range(60):
        x0, y1 = np.floor((bx0 - pad) / cell) * cell, np.ceil((by1 + pad) / cell) * cell
        cols = int(np.ceil((bx1 + pad - x0) / cell))
        rows = int(np.ceil((y1 - (by0 - pad)) / cell))
        if rows * cols <= settings.KDE_MAX_CELLS:
            break
        cell *= float(np.sqrt(rows * cols / settings.KDE_MAX_CELLS)) * 1.01
    counts = _linear_binning(x, y, x0, y1, cell, rows, cols)
    smooth = ndimage.gaussian_filter(counts, sigma=h / cell, mode="constant", cval=0.0,
                                     truncate=TRUNCATE)
    grid = KdeGrid(crs=crs, x0=float(x0), y1=float(y1), cell_m=cell, shape=(rows, cols),
                   bandwidth_m=h, n_points=len(x), n_dropped=dropped)
    density = smooth / grid.cell_km2
    if clip:
        density[~_inside_mask(grid, terr_m)] = np.nan
    return density, grid


def _linear_binning(x: np.ndarray, y: np.ndarray, x0: float, y1: float, cell: float,
                    rows: int, cols: int) -> np.ndarray:
    """Each point's unit weight shared among the 4 nearest cell centres, bilinearly."""
    u = (x - x0) / cell - 0.5  # column coordinate, cell centres at integers
    v = (y1 - y) / cell - 0.5  # row coordinate
    c0, r0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fu, fv = u - c0, v - r0
    out = np.zeros(rows * cols)
    for dc, dr, w in ((0, 0, (1 - fu) * (1 - fv)), (1, 0, fu * (1 - fv)),
                      (0, 1, (1 - fu) * fv), (1, 1, fu * fv)):
        c = np.clip(c0 + dc, 0, cols - 1)
        r = np.clip(r0 + dr, 0, rows - 1)
        out += np.bincount(r * cols + c, weights=w, minlength=rows * cols)
    return out.reshape(rows, cols)


def _inside_mask(grid: KdeGrid, terr_m: shapely.Geometry) -> np.ndarray:
    xc, yc = grid.centres()
    xx, yy = np.meshgrid(xc, yc)
    shapely.prepare(terr_m)
    return shapely.contains_xy(terr_m, xx, yy)


def kde_contours(lon: ArrayLike, lat: ArrayLike, territory: object,
                 levels: int | Sequence[float] | None = None, bandwidth_m: float | None = None,
                 cell_m: float | None = None) -> gpd.GeoDataFrame:
    """Contour bands of the kernel density, as polygons clipped to the territory.

    The bands are the filled contours (contourpy, the engine of matplotlib's ``contourf``)
    of the unclipped :func:`kde_surface`, intersected with the territory in metres and
    returned in EPSG:4490.

    Parameters
    ----------
    lon, lat, territory, bandwidth_m, cell_m
        As for :func:`kde_surface`.
    levels : int or sequence of float, optional
        An int k gives k bands whose lower bounds are max · i / (k + 1), i = 1 … k, where max
        is the highest density inside the territory (the background below max / (k + 1) is
        not drawn); a sequence gives the increasing lower bounds themselves (points per km²).
        Default :data:`settings.KDE_CONTOUR_BANDS`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per band that has any area, in EPSG:4490: ``band`` (1 = lowest), ``lower``,
        ``upper`` (points per km²; the top band's upper is the maximum), ``area_km2``,
        ``geometry`` (MultiPolygon). ``attrs`` hold ``bandwidth_m`` and ``cell_m``.
    """
    density, grid = kde_surface(lon, lat, territory, bandwidth_m, cell_m, clip=False)
    terr = _territory(territory)
    (terr_m,), _ = to_metric(np.array([terr], dtype=object))
    inside = _inside_mask(grid, terr_m)
    top = float(density[inside].max()) if inside.any() else float(density.max())
    bounds = _levels(levels, top)
    xc, yc = grid.centres()
    gen = contourpy.contour_generator(xc, yc[::-1], density[::-1],
                                      fill_type=contourpy.FillType.OuterOffset)
    uppers = [*bounds[1:], max(top, float(density.max())) * (1 + 1e-9) + 1e-12]
    rows = []
    for k, (lo, hi) in enumerate(zip(bounds, uppers, strict=True), start=1):
        if lo >= hi:
            continue
        polys = _polygons(gen.filled(lo, hi))
        if not polys:
            continue
        band = shapely.intersection(shapely.union_all(np.array(polys, dtype=object)), terr_m)
        band = _only_polygons(band)
        if band.is_empty:
            continue
        rows.append({"band": k, "lower": lo, "upper": min(hi, top), "area_km2": band.area / 1e6,
                     "geometry": band})
    out = gpd.GeoDataFrame(rows, columns=["band", "lower", "upper", "area_km2", "geometry"],
                           geometry="geometry", crs=grid.crs)
    out = out.to_crs(epsg=settings.STORAGE_SRID)
    out.attrs.update(bandwidth_m=grid.bandwidth_m, cell_m=grid.cell_m)
    return out


def _levels(levels: int | Sequence[float] | None, top: float) -> list[float]:
    levels = settings.KDE_CONTOUR_BANDS if levels is None else levels
    if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool):
        if levels < 1:
            msg = f"kde_contours: levels must be >= 1 band, got {levels}"
            raise AnalysisError(msg)
        return [top * i / (levels + 1) for i in range(1, int(levels) + 1)]
    b = [float(v) for v in levels]  # type: ignore[union-attr]
    if not b or any(not np.isfinite(v) or v < 0 for v in b) or any(np.diff(b) <= 0):
        msg = f"kde_contours: levels must be increasing densities >= 0 (points per km²), got {b}"
        raise AnalysisError(msg)
    return b


def _polygons(filled: tuple) -> list[shapely.Polygon]:
    """Shapely polygons from contourpy's FillType.OuterOffset output."""
    points, offsets = filled
    out = []
    for pts, off in zip(points, offsets, strict=True):
        rings = [pts[off[i]:off[i + 1]] for i in range(len(off) - 1)]
        rings = [r for r in rings if len(r) >= 4]
        if rings:
            poly = shapely.Polygon(rings[0], rings[1:])
            out.append(poly if poly.is_valid else shapely.make_valid(poly))
    return out


def _only_polygons(g: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(g)
    parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    parts = shapely.get_parts(parts)  # flatten MultiPolygons from make_valid
    return shapely.MultiPolygon(list(parts)) if len(parts) else shapely.MultiPolygon()
