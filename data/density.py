"""A synthetic population-density field for the demo county (甘州区, Zhangye).

The field is relative (unitless, mean about 1 over the oasis): dense in the irrigated oasis
around Zhangye city (about 100.45 E, 38.93 N) and along the Heihe river, sparse in the
northern desert and mountains (平山湖) and in the southern foothills. A smooth random factor,
drawn from the seed, gives it texture. It is SYNTHETIC: shaped to look plausible, not
census data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.boundary import Projector

CITY_LONLAT: tuple[float, float] = (100.45, 38.93)
"""Centre of Zhangye city (张掖市区), degrees."""

RIVER_LONLAT: tuple[tuple[float, float], ...] = (
    (100.27, 38.70), (100.33, 38.82), (100.38, 38.93), (100.40, 39.02), (100.36, 39.12),
    (100.30, 39.20))
"""A rough polyline of the irrigated belt along the Heihe (黑河), degrees."""


def smooth_noise(rng: np.random.Generator, x: np.ndarray, y: np.ndarray,
                 wavelength: float, n_waves: int = 24) -> np.ndarray:
    """Smooth random field with zero mean and unit variance (random Fourier features).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random waves.
    x, y : numpy.ndarray
        Coordinates, metres.
    wavelength : float
        Typical wavelength of the field, metres.
    n_waves : int
        Number of plane waves summed.

    Returns
    -------
    numpy.ndarray
        One value per point.
    """
    k = 2 * np.pi / wavelength * rng.uniform(0.6, 1.4, n_waves)
    theta = rng.uniform(0, np.pi, n_waves)
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    x = np.asarray(x, float)[:, None]
    y = np.asarray(y, float)[:, None]
    waves = np.cos(x * (k * np.cos(theta)) + y * (k * np.sin(theta)) + phase)
    return waves.sum(axis=1) * np.sqrt(2.0 / n_waves)


def _distance_to_polyline(x: np.ndarray, y: np.ndarray, px: np.ndarray,
                          py: np.ndarray) -> np.ndarray:
    best = np.full(len(x), np.inf)
    for i in range(len(px) - 1):
        ax, ay, bx, by = px[i], py[i], px[i + 1], py[i + 1]
        dx, dy = bx - ax, by - ay
        t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        best = np.minimum(best, np.hypot(x - ax - t * dx, y - ay - t * dy))
    return best


@dataclass
class DensityField:
    """Relative population density at metric (UTM) coordinates.

    Parameters
    ----------
    projector : Projector
        Converts the landmark coordinates (degrees) to the metric CRS.
    seed : int
        Seed of the random texture.
    """

    projector: Projector
    seed: int

    def __post_init__(self) -> None:
        p = self.projector
        self._city = np.array(p.xy_to_metric(*CITY_LONLAT))
        lon, lat = np.array(RIVER_LONLAT).T
        self._river = p.xy_to_metric(lon, lat)
        # latitude of 39.12 N (desert beyond the Heli mountains) and 38.74 N (foothills)
        self._north_y = float(p.xy_to_metric(100.45, 39.12)[1])
        self._south_y = float(p.xy_to_metric(100.45, 38.74)[1])

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Density (relative, > 0) at metric coordinates ``x``, ``y`` (metres)."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        r2 = (x - self._city[0]) ** 2 + (y - self._city[1]) ** 2
        city = 6.0 * np.exp(-r2 / (2 * 5_000.0 ** 2))
        oasis = 1.6 * np.exp(-r2 / (2 * 20_000.0 ** 2))
        river = 1.0 * np.exp(-_distance_to_polyline(x, y, *self._river) ** 2
                             / (2 * 5_000.0 ** 2))
        d = 0.05 + city + oasis + river
        north = np.clip((y - self._north_y) / 4_000.0, 0.0, None)
        south = np.clip((self._south_y - y) / 8_000.0, 0.0, None)
        far = np.clip((np.sqrt(r2) - 25_000.0) / 8_000.0, 0.0, None)
        d = d * np.exp(-north - south - far) + 0.02
        rng = np.random.default_rng([self.seed, 11])
        return d * np.exp(0.35 * smooth_noise(rng, x, y, 12_000.0))
