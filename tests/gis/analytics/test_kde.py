"""Kernel density: mass, exactness against a direct Gaussian sum, bandwidth, contour bands."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import shapely

from gis._errors import AnalysisError
from gis.analytics.kde import kde_contours, kde_surface, silverman_bandwidth
from gis.crs import area_m2
from tests.gis.analytics._lattice import ORIGIN, UTM, to_lonlat

X0, Y0 = ORIGIN
SQUARE = to_lonlat(np.array([shapely.box(X0, Y0, X0 + 40_000, Y0 + 40_000)], dtype=object))[0]
"""A 40 km × 40 km territory (EPSG:4490)."""
_LONLAT = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True)


def points(n: int, sigma_m: float, seed: int = 0, centre: tuple[float, float] | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """n points ~ isotropic normal (σ metres) around the square's centre, as lon / lat."""
    rng = np.random.default_rng(seed)
    cx, cy = centre or (X0 + 20_000, Y0 + 20_000)
    x, y = cx + rng.normal(0, sigma_m, n), cy + rng.normal(0, sigma_m, n)
    return _LONLAT.transform(x, y)


def test_unclipped_surface_integrates_to_the_number_of_points() -> None:
    lon, lat = points(3000, 6000)
    dens, grid = kde_surface(lon, lat, SQUARE, bandwidth_m=1500, clip=False)
    assert grid.n_points + grid.n_dropped == 3000
    assert 0 < grid.n_dropped < 100  # a few points of the 6 km normal fall outside 20 km
    assert dens.sum() * grid.cell_km2 == pytest.approx(grid.n_points, rel=1e-9)


def test_clipped_surface_integrates_to_the_points_inside() -> None:
    lon, lat = points(2000, 2000)  # far from the edges: no mass spills over the boundary
    dens, grid = kde_surface(lon, lat, SQUARE, bandwidth_m=800)
    assert grid.n_points == 2000 and grid.n_dropped == 0
    assert np.isnan(dens).any()  # the padding outside the territory is clipped
    assert np.nansum(dens) * grid.cell_km2 == pytest.approx(2000, rel=5e-3)


def test_binned_kde_matches_a_direct_gaussian_sum() -> None:
    lon, lat = points(300, 3000, seed=3)
    h = 800.0
    dens, grid = kde_surface(lon, lat, SQUARE, bandwidth_m=h, cell_m=80.0, clip=False)
    x, y = pyproj.Transformer.from_crs(4326, grid.crs, always_xy=True).transform(lon, lat)
    xc, yc = grid.centres()
    rows = np.arange(0, grid.shape[0], 7)
    cols = np.arange(0, grid.shape[1], 7)
    gx, gy = np.meshgrid(xc[cols], yc[rows])
    d2 = (gx[..., None] - x) ** 2 + (gy[..., None] - y) ** 2
    exact = np.exp(-d2 / (2 * h * h)).sum(-1) / (2 * math.pi * h * h) * 1e6  # per km²
    got = dens[np.ix_(rows, cols)]
    big = exact > 0.05 * exact.max()
    rel = np.abs(got[big] - exact[big]) / exact[big]
    assert rel.max() < 0.005, rel.max()  # simple (nearest-cell) binning: 5 %


def test_silverman_bandwidth_of_a_normal_sample() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(0, 1000, 5000), rng.normal(0, 1000, 5000)
    assert silverman_bandwidth(x, y) == pytest.approx(1000 * 5000 ** (-1 / 6), rel=0.05)
    lon, lat = points(5000, 1000, seed=5)
    _, grid = kde_surface(lon, lat, SQUARE)
    assert grid.bandwidth_m == pytest.approx(1000 * 5000 ** (-1 / 6), rel=0.05)
    assert grid.cell_m <= grid.bandwidth_m / 3 + 1e-9


def test_contour_of_a_single_kernel_is_a_disc_of_known_area() -> None:
    """n points at one place: density = n / (2π h²) · exp(−r² / 2h²), so the band above
    peak / e is the disc r ≤ h√2, of area 2π h²."""
    h, n = 1000.0, 500
    lon, lat = _LONLAT.transform(np.full(n, X0 + 20_050.0), np.full(n, Y0 + 19_950.0))
    peak = n / (2 * math.pi * h * h) * 1e6
    bands = kde_contours(lon, lat, SQUARE, levels=[peak / math.e], bandwidth_m=h, cell_m=50)
    assert len(bands) == 1 and bands.crs.to_epsg() == 4490
    assert bands["area_km2"].iloc[0] == pytest.approx(2 * math.pi, rel=0.02)
    assert area_m2(bands.geometry.values)[0] / 1e6 == pytest.approx(2 * math.pi, rel=0.02)
    assert bands["upper"].iloc[0] == pytest.approx(peak, rel=0.02)


def test_contour_bands_are_clipped_nested_levels() -> None:
    # a cluster centred on the territory's west edge: half its kernel lies outside
    lon, lat = points(1500, 1500, centre=(X0 + 500, Y0 + 20_000))
    bands = kde_contours(lon, lat, SQUARE, levels=4, bandwidth_m=700)
    assert bands["band"].tolist() == [1, 2, 3, 4]
    assert (np.diff(bands["lower"]) > 0).all()
    territory = shapely.buffer(SQUARE, 1e-7)
    assert shapely.covered_by(bands.geometry.values, territory).all()
    assert shapely.intersects(bands.geometry.values,
                              shapely.box(0, 0, shapely.bounds(SQUARE)[0] - 1e-6, 90)).sum() == 0
    # bands do not overlap
    for i in range(len(bands) - 1):
        inter = shapely.intersection(bands.geometry.iloc[i], bands.geometry.iloc[i + 1])
        assert area_m2(np.array([inter]))[0] < 1.0
    top = bands["lower"].iloc[-1]
    assert top == pytest.approx(bands["upper"].iloc[-1] * 4 / 5, rel=1e-9)


def test_errors() -> None:
    with pytest.raises(AnalysisError, match="no point"):
        kde_surface([0.0], [0.0], SQUARE)
    lon, lat = points(10, 100)
    with pytest.raises(AnalysisError, match="> 0"):
        kde_surface(lon, lat, SQUARE, bandwidth_m=-5)
    with pytest.raises(AnalysisError, match="territory is empty"):
        kde_surface(lon, lat, shapely.Polygon())
    with pytest.raises(AnalysisError, match="increasing"):
        kde_contours(lon, lat, SQUARE, levels=[3.0, 1.0], bandwidth_m=200)
