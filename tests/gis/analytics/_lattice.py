"""Hand-made square lattices for the analytics tests (EPSG:4490, built in UTM metres)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import shapely

UTM = pyproj.CRS.from_epsg(32647)  # UTM 47N, the demo county's zone
ORIGIN = (500_000.0, 4_300_000.0)  # metres, near 99.0° E, 38.8° N
_TO_LONLAT = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True)


def to_lonlat(geoms: np.ndarray) -> np.ndarray:
    """UTM 47N geometries -> lon / lat degrees."""
    return shapely.transform(np.asarray(geoms, dtype=object),
                             lambda c: np.column_stack(_TO_LONLAT.transform(c[:, 0], c[:, 1])))


def lattice(rows: int, cols: int, cell_m: float = 1000.0) -> gpd.GeoDataFrame:
    """rows × cols square cells, row-major (cell k = row k // cols, column k % cols).

    Columns ``code`` ("r{row}c{col}"), ``row``, ``col``; EPSG:4490. Neighbouring cells share
    exact vertices (they are transformed from one set of corner coordinates).
    """
    r, c = np.divmod(np.arange(rows * cols), cols)
    x0, y0 = ORIGIN
    boxes = shapely.box(x0 + c * cell_m, y0 + r * cell_m, x0 + (c + 1) * cell_m,
                        y0 + (r + 1) * cell_m)
    geoms = to_lonlat(boxes)
    return gpd.GeoDataFrame({"code": [f"r{i}c{j}" for i, j in zip(r, c, strict=True)],
                             "row": r, "col": c}, geometry=geoms, crs="EPSG:4490")


def lattice_adjacency(rows: int, cols: int, rook: bool) -> np.ndarray:
    """Binary n × n neighbour matrix of the lattice, the cell itself excluded."""
    r, c = np.divmod(np.arange(rows * cols), cols)
    dr = np.abs(r[:, None] - r[None, :])
    dc = np.abs(c[:, None] - c[None, :])
    adj = (dr + dc == 1) if rook else ((dr <= 1) & (dc <= 1))
    np.fill_diagonal(adj, False)
    return adj.astype(float)


def hand_gi_star(y: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Getis-Ord Gi* z-scores by the ArcGIS / Getis & Ord (1992) formula, binary weights
    with the cell itself (w_ii = 1)::

        z_i = (Σ_j w_ij x_j − X̄ W_i) / (S √((n Σ_j w_ij² − W_i²) / (n − 1)))

    X̄ = mean, S = √(Σ x² / n − X̄²) (population standard deviation), W_i = Σ_j w_ij.
    """
    y = np.asarray(y, dtype=float)
    w = adj + np.eye(len(y))
    n = len(y)
    xbar = y.mean()
    s = np.sqrt((y ** 2).mean() - xbar ** 2)
    wi = w.sum(axis=1)
    s1 = (w ** 2).sum(axis=1)
    return (w @ y - xbar * wi) / (s * np.sqrt((n * s1 - wi ** 2) / (n - 1)))
