"""Getis-Ord Gi* hot spot analysis of grids (counts or rates), with PySAL.

The statistic and its analytic moments come from :class:`esda.G_Local` (``star=True``,
binary weights ``transform="B"``, the grid itself included with weight 1), which implements
Getis & Ord (1992) / Ord & Getis (1995); for binary weights its z-score equals the one of
ArcGIS Hot Spot Analysis::

    z_i = (Σ_j w_ij x_j − X̄ W_i) / (S √((n W_i − W_i²) / (n − 1)))

with W_i = Σ_j w_ij (self included), X̄ the mean and S the population standard deviation of
all n values. p-values are two-sided (2 · (1 − Φ(|z|))), as in ArcGIS. With permutations,
esda's conditional-randomisation pseudo p-value (one-sided, in the observed direction) is
doubled to make it two-sided. FDR uses :func:`esda.fdr` (Benjamini-Hochberg) at each
confidence level.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.graph import Graph
from scipy import sparse, stats

from gis import settings
from gis._errors import AnalysisError
from gis.crs import to_metric
from gis.geocode import GridIndex

WeightsSpec = str | float | int | Graph
"""``"queen"``, ``"rook"``, a distance band in metres, or a ready libpysal Graph."""

HOT, NONE, COLD = "hot", "none", "cold"


def class_names(levels: Sequence[float] | None = None) -> list[str]:
    """Hot spot classes from the hottest to the coldest, e.g. ``hot_99`` … ``none`` … ``cold_99``.

    Parameters
    ----------
    levels : sequence of float, optional
        Confidence levels (fractions); default :data:`settings.HOTSPOT_CONFIDENCE_LEVELS`.
    """
    lv = sorted(settings.HOTSPOT_CONFIDENCE_LEVELS if levels is None else levels)
    pct = [f"{round(c * 100):d}" for c in lv]
    return [f"{HOT}_{p}" for p in reversed(pct)] + [NONE] + [f"{COLD}_{p}" for p in pct]


def build_weights(geoms: np.ndarray, weights: WeightsSpec = "queen") -> Graph:
    """Binary spatial weights (without the self-link) of grid polygons.

    Parameters
    ----------
    geoms : ndarray of shapely Polygon / MultiPolygon
        Grids in EPSG:4490 (lon, lat degrees); position i is node i of the graph.
    weights : {"queen", "rook"} or float or libpysal.graph.Graph
        Contiguity (sharing a vertex / an edge; the grids must form a coverage with shared
        vertices, as imported grids do) or a distance band in metres between the grids'
        centroids (computed in the UTM zone of the grids). A Graph is returned unchanged.

    Returns
    -------
    libpysal.graph.Graph
        Indexed 0 … n − 1; grids with no neighbour are isolates (islands).
    """
    if isinstance(weights, Graph):
        if weights.n != len(geoms):
            msg = f"weights: the Graph has {weights.n} nodes but there are {len(geoms)} grids"
            raise AnalysisError(msg)
        return weights
    geoms = np.asarray(geoms, dtype=object)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        msg = f"weights: {int(bad.sum())} grid(s) have no geometry (first at position " \
              f"{int(np.flatnonzero(bad)[0])}); drop them or repair the grids"
        raise AnalysisError(msg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal warns about islands / disconnected parts
        if isinstance(weights, str) and weights.lower() in ("queen", "rook"):
            return Graph.build_contiguity(gpd.GeoSeries(geoms), rook=weights.lower() == "rook")
        if isinstance(weights, (int, float)) and not isinstance(weights, bool) \
                and np.isfinite(weights) and weights > 0:
            metric, _ = to_metric(geoms)
            xy = shapely.get_coordinates(shapely.centroid(metric))
            return Graph.build_distance_band(xy, float(weights), binary=True)
    msg = f"weights={weights!r}: use 'queen', 'rook', a distance band in metres (> 0) or a " \
          "libpysal Graph"
    raise AnalysisError(msg)


def n_neighbors(graph: Graph) -> np.ndarray:
    """Number of neighbours of each node, the node itself not counted (0 = island)."""
    a = sparse.csr_array(graph.sparse)
    a.setdiag(0)
    a.eliminate_zeros()
    return np.diff(a.indptr).astype(np.int64)


def classify(z: np.ndarray, p: np.ndarray, fdr: bool = False,
             levels: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hot / cold classes from z-scores and two-sided p-values.

    Parameters
    ----------
    z, p : ndarray of float
        z-scores and two-sided p-values; NaN (islands) give ``none``.
    fdr : bool
        Replace each level's critical p (1 − c) by :func:`esda.fdr` of the finite p-values
        at that level (Benjamini-Hochberg False Discovery Rate, as ArcGIS's FDR option).
    levels : sequence of float, optional
        Confidence levels; default :data:`settings.HOTSPOT_CONFIDENCE_LEVELS`.

    Returns
    -------
    (classes, bins) : ndarray of str (object) and ndarray of int8
        Class names (see :func:`class_names`) and ArcGIS-style ``Gi_Bin`` values: +k for hot
        at the k-th lowest level (e.g. +3 = hot at 99 % with the default levels), −k cold,
        0 not significant.
    """
    lv = sorted(settings.HOTSPOT_CONFIDENCE_LEVELS if levels is None else levels)
    z, p = np.asarray(z, dtype=float), np.asarray(p, dtype=float)
    ok = np.isfinite(z) & np.isfinite(p)
    bins = np.zeros(len(z), dtype=np.int8)
    for k, c in enumerate(lv, start=1):
        alpha = round(1.0 - c, 12)  # 1 - 0.99 is 0.010000000000000009 in floats
        crit = float(esda.fdr(p[ok], alpha)) if (fdr and ok.any()) else alpha
        sig = ok.copy()
        sig[ok] = p[ok] < crit
        bins[sig] = k * np.sign(z[sig]).astype(np.int8)
    pct = [f"{round(c * 100):d}" for c in lv]
    names = np.array([f"{COLD}_{q}" for q in reversed(pct)] + [NONE] + [f"{HOT}_{q}" for q in pct],
                     dtype=object)
    return names[bins.astype(int) + len(lv)], bins


def gi_star(gdf: gpd.GeoDataFrame, column: str, weights: WeightsSpec = "queen",
            permutations: int = 0, fdr: bool = False, seed: int | None = None,
            levels: Sequence[float] | None = None) -> pd.DataFrame:
    """Getis-Ord Gi* hot spots of grid values (esda ``G_Local``, star=True, binary weights).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Grids (EPSG:4490 polygons) with a numeric, non-negative ``column`` (e.g. incident
        counts, or rates per 1,000 residents from :func:`counts_per_grid`).
    column : str
        The value analysed.
    weights : {"queen", "rook"} or float or libpysal.graph.Graph
        Binary neighbours (see :func:`build_weights`); the grid itself is always included
        (Gi*). Queen contiguity by default; a float is a distance band in metres.
    permutations : int
        0 for analytic p-values (normal approximation); else the number of conditional
        permutations (e.g. 999) and ``p`` is the two-sided pseudo p-value (2 × esda's
        directed ``p_sim``, at most 1; never below 2 / (permutations + 1), so FDR with
        permutations needs many of them). Conditional permutation keeps the grid's own value
        and asks whether its neighbours are unusual; with skewed counts it also finds cold
        spots (all-empty neighbourhoods) that the normal approximation cannot reach.
    fdr : bool
        False Discovery Rate correction of the class thresholds (see :func:`classify`).
    seed : int, optional
        Seed of the permutations; default :data:`settings.HOTSPOT_SEED`. numpy's global
        random state is restored afterwards.
    levels : sequence of float, optional
        Confidence levels of the classes; default :data:`settings.HOTSPOT_CONFIDENCE_LEVELS`.

    Returns
    -------
    pandas.DataFrame
        Index aligned with ``gdf``. Columns: ``z`` (analytic Gi* z-score), ``p`` (two-sided
        p-value used for the class), ``hotspot_class`` (``hot_99`` … ``none`` …
        ``cold_99``), ``gi_bin`` (−3 … 3), ``p_norm`` (analytic two-sided p),
        ``n_neighbors`` (self not counted); with permutations also ``p_sim`` (two-sided
        pseudo p) and ``z_sim`` (z against the permutation distribution). Islands (no
        neighbour) get NaN z / p and class ``none``; a constant column gives z = 0, p = 1.

    Raises
    ------
    AnalysisError
        Missing column, non-numeric / missing / negative / infinite values, fewer than 3
        grids, bad weights or permutations.
    """
    if column not in gdf.columns:
        msg = f"gi_star: no column {column!r}; columns are {list(gdf.columns)}"
        raise AnalysisError(msg)
    y = _values(gdf[column], column)
    if len(y) < 3:
        msg = f"gi_star: {len(y)} grid(s); Gi* needs at least 3"
        raise AnalysisError(msg)
    if not (isinstance(permutations, (int, np.integer)) and permutations >= 0):
        msg = f"gi_star: permutations must be an integer >= 0 (e.g. 0 or 999), got {permutations!r}"
        raise AnalysisError(msg)
    graph = build_weights(np.asarray(gdf.geometry.values, dtype=object), weights)
    card = n_neighbors(graph)
    island = card == 0
    out = pd.DataFrame(index=gdf.index)
    if np.ptp(y) == 0:  # no variation: nothing can be hot or cold
        z = np.where(island, np.nan, 0.0)
        p_norm = np.where(island, np.nan, 1.0)
        p_sim = p_norm.copy() if permutations else None
        z_sim = z.copy() if permutations else None
    else:
        z, p_norm, p_sim, z_sim = _esda(y, graph, int(permutations),
                                        settings.HOTSPOT_SEED if seed is None else int(seed))
        for a in (z, p_norm, p_sim, z_sim):
            if a is not None:
                a[island] = np.nan
    p = p_sim if permutations else p_norm
    classes, bins = classify(z, p, fdr=fdr, levels=levels)
    out["z"], out["p"], out["hotspot_class"], out["gi_bin"] = z, p, classes, bins
    out["p_norm"], out["n_neighbors"] = p_norm, card
    if permutations:
        out["p_sim"], out["z_sim"] = p_sim, z_sim
    return out


def _values(s: pd.Series, column: str) -> np.ndarray:
    try:
        y = pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as e:
        msg = f"gi_star: column {column!r} is not numeric ({e})"
        raise AnalysisError(msg) from e
    bad = ~np.isfinite(y) | (y < 0)
    if bad.any():
        first = s.index[int(np.flatnonzero(bad)[0])]
        msg = f"gi_star: column {column!r} has {int(bad.sum())} missing, infinite or negative " \
              f"value(s) (first at index {first!r}); Gi* needs values >= 0 (fill grids " \
              "without residents with 0 or drop them)"
        raise AnalysisError(msg)
    return y


def _esda(y: np.ndarray, graph: Graph, permutations: int, seed: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    state = np.random.get_state()  # esda seeds numpy's global generator
    try:
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")  # esda's notice on `alternative`, islands
            g = esda.G_Local(y, graph, transform="B", star=True, permutations=permutations,
                             keep_simulations=bool(permutations), n_jobs=1, seed=seed)
    finally:
        np.random.set_state(state)
    z = np.asarray(g.Zs, dtype=float).copy()
    p_norm = 2.0 * stats.norm.sf(np.abs(z))
    if not permutations:
        return z, p_norm, None, None
    # esda's directed pseudo p, recomputed from its simulations in float64 (esda keeps p_sim
    # in float32 and is changing its default alternative): k = simulations at least as
    # extreme as observed in the observed direction, p = 2 (k + 1) / (permutations + 1)
    sims = np.asarray(g.rGs, dtype=float)
    larger = (sims >= np.asarray(g.Gs, dtype=float)[:, None]).sum(axis=1)
    k = np.minimum(larger, permutations - larger)
    p_sim = np.minimum(1.0, 2.0 * (k + 1) / (permutations + 1))
    return z, p_norm, p_sim, np.asarray(g.z_sim, dtype=float).copy()


def counts_per_grid(codes: Sequence[str], geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray,
                    population: Sequence[float] | None = None,
                    index: GridIndex | None = None) -> pd.DataFrame:
    """Number of points (incidents) in each grid, and optionally the rate per 1,000 residents.

    Parameters
    ----------
    codes : sequence of str
        Grid codes (unique).
    geoms : ndarray of shapely Polygon / MultiPolygon
        Grids, EPSG:4490.
    lon, lat : ndarray of float
        Points, EPSG:4490 degrees.
    population : sequence of float, optional
        Residents of each grid; adds ``rate_per_1000`` = count / population × 1,000 (NaN
        where the population is not > 0).
    index : GridIndex, optional
        A ready :class:`gis.geocode.GridIndex` of the same ``codes`` / ``geoms`` (built when
        not given).

    Returns
    -------
    pandas.DataFrame
        Indexed by code, in the order given: ``count`` (int64) and, with ``population``,
        ``population`` and ``rate_per_1000``. ``attrs["outside"]`` is the number of points in
        no grid (not counted).
    """
    codes_a = np.asarray(codes, dtype=object)
    pos = position_of_points(codes_a, geoms, lon, lat, index)
    counts = np.bincount(pos[pos >= 0], minlength=len(codes_a)).astype(np.int64)
    out = pd.DataFrame({"count": counts}, index=pd.Index(codes_a, name="code"))
    if population is not None:
        pop = np.asarray(population, dtype=float)
        if pop.shape != (len(codes_a),):
            msg = f"counts_per_grid: {len(pop)} population values for {len(codes_a)} grids"
            raise AnalysisError(msg)
        out["population"] = pop
        with np.errstate(divide="ignore", invalid="ignore"):
            out["rate_per_1000"] = np.where(pop > 0, counts / pop * 1000.0, np.nan)
    out.attrs["outside"] = int((pos < 0).sum())
    return out


def position_of_points(codes: np.ndarray, geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray,
                       index: GridIndex | None = None) -> np.ndarray:
    """Position (into ``codes``) of the grid containing each point, −1 outside every grid."""
    if index is None:
        index = GridIndex.build(list(codes), np.asarray(geoms, dtype=object))
    elif len(index.codes) != len(codes) or not np.array_equal(index.codes.astype(str),
                                                                np.asarray(codes).astype(str)):
        msg = "counts_per_grid: the GridIndex was built from other grids than `codes`"
        raise AnalysisError(msg)
    return index.locate(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))

