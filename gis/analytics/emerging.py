"""Emerging hot spots: weekly Gi* per grid, the Mann-Kendall trend of its z-scores, and the
pattern classes of ArcGIS's Emerging Hot Spot Analysis.

The space-time cube has one bin per grid × week (7-day steps ending at ``end``). In each
week, Gi* (:func:`gis.analytics.hotspots.gi_star`'s statistics: esda, binary weights with
the grid itself, analytic two-sided p) is computed over the grids' spatial neighbours in that
week only (ArcGIS's "neighbourhood time step" is 0 here). A bin is hot (cold) when z > 0
(< 0) and p < :data:`settings.EMERGING_ALPHA`. Each grid's series of weekly z-scores is tested
with the Mann-Kendall trend test (:func:`pymannkendall.original_test`, ties corrected).

Patterns (ArcGIS definitions; n = number of weeks, "mostly" = at least
:data:`settings.EMERGING_SHARE` = 90 % of the weeks), checked in this order for hot spots
(the cold ones are their mirror images, with the trend's sign reversed; a grid gets a cold
pattern only when it has no hot one):

- ``intensifying_hot``: hot in the final week and mostly hot, z rising significantly.
- ``diminishing_hot``: hot in the final week and mostly hot, z falling significantly.
- ``persistent_hot``: hot in the final week and mostly hot, no significant trend.
- ``oscillating_hot``: hot in the final week, not mostly hot, cold in some earlier week.
- ``new_hot``: hot in the final week only (and never cold).
- ``consecutive_hot``: one uninterrupted run of ≥ 2 hot weeks ending in the final week, never
  hot before that run (and never cold), not mostly hot.
- ``sporadic_hot``: hot in the final week, not mostly hot, on and off, never cold.
- ``historical_hot``: not hot in the final week, but mostly hot.
- ``no_pattern``: none of these (e.g. hot for a while, but not in the final week and not
  mostly).

ArcGIS's definitions overlap for a grid that was cold and is now newly hot (both "new" /
"consecutive" and "oscillating" fit); here "oscillating" wins, since the grid did not emerge
from nothing. A grid with both a hot and a cold pattern (e.g. newly hot after being mostly
cold) gets the hot one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pymannkendall as mk
from libpysal.graph import Graph
from scipy import stats

from gis import settings
from gis._errors import AnalysisError
from gis.analytics.hotspots import (
    WeightsSpec,
    build_weights,
    n_neighbors,
    position_of_points,
)

PATTERNS: dict[str, str] = {
    "new_hot": "新热点", "consecutive_hot": "连续热点", "intensifying_hot": "加强热点",
    "persistent_hot": "持续热点", "diminishing_hot": "减弱热点", "sporadic_hot": "零星热点",
    "oscillating_hot": "振荡热点", "historical_hot": "历史热点",
    "new_cold": "新冷点", "consecutive_cold": "连续冷点", "intensifying_cold": "加强冷点",
    "persistent_cold": "持续冷点", "diminishing_cold": "减弱冷点", "sporadic_cold": "零星冷点",
    "oscillating_cold": "振荡冷点", "historical_cold": "历史冷点",
    "no_pattern": "无模式",
}
"""Pattern keys (in display order) -> Chinese names."""


@dataclass(frozen=True)
class Cube:
    """A space-time cube of weekly counts and their Gi* statistics.

    Attributes
    ----------
    codes : ndarray of str (object)
        Grid codes (rows).
    week_starts : pandas.DatetimeIndex
        Start of each week (columns), oldest first; week k is [start_k, start_k + 7 days).
    counts : ndarray of int64, shape (grids, weeks)
        Points per grid and week.
    z, p : ndarray of float, shape (grids, weeks)
        Gi* z-score and two-sided p of each bin (NaN for islands; 0 / 1 in a week without
        variation).
    """

    codes: np.ndarray
    week_starts: pd.DatetimeIndex
    counts: np.ndarray
    z: np.ndarray
    p: np.ndarray


def week_starts(end: datetime | pd.Timestamp, weeks: int) -> pd.DatetimeIndex:
    """Starts of ``weeks`` 7-day steps that end at ``end`` (exclusive), oldest first."""
    end = pd.Timestamp(end)
    return pd.DatetimeIndex([end - timedelta(days=7 * (weeks - k)) for k in range(weeks)])


def default_end(occurred_at: pd.Series) -> pd.Timestamp:
    """The day after the last occurrence, at midnight in the data's time zone."""
    last = pd.Timestamp(pd.to_datetime(occurred_at).max())
    return last.normalize() + pd.Timedelta(days=1)


def weekly_gi_star(counts: np.ndarray, graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Analytic Gi* z and two-sided p for each column (week) of ``counts`` (esda G_Local).

    A week whose counts are all equal gives z = 0, p = 1; islands give NaN.
    """
    counts = np.asarray(counts, dtype=float)
    z = np.zeros(counts.shape)
    island = n_neighbors(graph) == 0
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        star = graph.assign_self_weight(1.0).transform("B")  # once, not in every week
        for t in range(counts.shape[1]):
            y = counts[:, t]
            if np.ptp(y) > 0:
                z[:, t] = esda.G_Local(y, star, transform="B", star=True, permutations=0).Zs
    z[island] = np.nan
    return z, 2.0 * stats.norm.sf(np.abs(z))


def space_time_cube(grids: gpd.GeoDataFrame, incidents: pd.DataFrame,
                    weeks: int | None = None, end: datetime | None = None,
                    weights: WeightsSpec = "queen") -> Cube:
    """Weekly counts per grid and their Gi* statistics.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        ``code`` and polygons (EPSG:4490).
    incidents : pandas.DataFrame
        ``occurred_at`` (tz-aware datetimes) and either ``code`` (the grid, e.g. from the
        store) or ``lon`` / ``lat`` (EPSG:4490, located with :class:`gis.geocode.GridIndex`).
    weeks : int, optional
        Number of weeks; default :data:`settings.EMERGING_WEEKS`.
    end : datetime, optional
        End of the last week (exclusive); default :func:`default_end` of the incidents.
    weights : {"queen", "rook"}, float (metres) or libpysal Graph
        Spatial neighbours, as for :func:`gis.analytics.hotspots.gi_star`.
    """
    weeks = int(settings.EMERGING_WEEKS if weeks is None else weeks)
    if weeks < 2:
        msg = f"emerging hot spots: need at least 2 weeks (better >= 10), got {weeks}"
        raise AnalysisError(msg)
    for col in ("code", "geometry"):
        if col not in grids.columns:
            msg = f"emerging hot spots: the grids have no {col!r} column"
            raise AnalysisError(msg)
    if "occurred_at" not in incidents.columns:
        msg = "emerging hot spots: the incidents have no 'occurred_at' column"
        raise AnalysisError(msg)
    codes = np.asarray(grids["code"], dtype=object)
    geoms = np.asarray(grids.geometry.values, dtype=object)
    pos = _positions(codes, geoms, incidents)
    t = pd.to_datetime(incidents["occurred_at"])
    end_ts = default_end(t) if end is None else pd.Timestamp(end)
    if (t.dt.tz is None) != (end_ts.tzinfo is None):
        msg = "emerging hot spots: occurred_at and end must both carry a time zone or neither"
        raise AnalysisError(msg)
    starts = week_starts(end_ts, weeks)
    delta = (end_ts - t).to_numpy(dtype="timedelta64[ns]")
    valid = ~np.isnat(delta)
    d_ns = np.where(valid, delta.astype(np.int64), 0)
    week_ns = np.int64(7 * 86_400 * 10**9)
    k = weeks - (-(-d_ns // week_ns))  # ceil: a week [start, start + 7 d) owns its start
    ok = valid & (pos >= 0) & (d_ns > 0) & (k >= 0)
    counts = np.zeros((len(codes), weeks), dtype=np.int64)
    np.add.at(counts, (pos[ok], k[ok]), 1)
    graph = build_weights(geoms, weights)
    z, p = weekly_gi_star(counts, graph)
    return Cube(codes=codes, week_starts=starts, counts=counts, z=z, p=p)


def _positions(codes: np.ndarray, geoms: np.ndarray, incidents: pd.DataFrame) -> np.ndarray:
    if "code" in incidents.columns:
        lookup = pd.Index(codes.astype(str))
        return lookup.get_indexer(incidents["code"].astype(str)).astype(np.int64)
    if not {"lon", "lat"} <= set(incidents.columns):
        msg = "emerging hot spots: the incidents need a 'code' column or 'lon' / 'lat'"
        raise AnalysisError(msg)
    return position_of_points(codes, geoms, incidents["lon"].to_numpy(float),
                              incidents["lat"].to_numpy(float))


def mann_kendall(z: np.ndarray, alpha: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall trend z and p of each row of ``z`` (pymannkendall, ties corrected).

    Rows with a NaN or without variation get trend z = 0, p = 1.
    """
    alpha = settings.EMERGING_TREND_ALPHA if alpha is None else alpha
    tz, tp = np.zeros(len(z)), np.ones(len(z))
    for i, row in enumerate(np.asarray(z, dtype=float)):
        if np.isfinite(row).all() and np.ptp(row) > 0:
            r = mk.original_test(row, alpha=alpha)
            tz[i], tp[i] = float(r.z), float(r.p)
    return tz, tp


def classify_patterns(hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray,
                      trend_p: np.ndarray, trend_alpha: float | None = None,
                      share: float | None = None) -> np.ndarray:
    """Emerging hot spot pattern of each grid (see the module notes for the rules).

    Parameters
    ----------
    hot, cold : ndarray of bool, shape (grids, weeks)
        Significant hot / cold bins, oldest week first.
    trend_z, trend_p : ndarray of float, shape (grids,)
        Mann-Kendall trend of each grid's weekly z-scores.
    trend_alpha, share : float, optional
        Trend significance and "mostly" share; default :data:`settings.EMERGING_TREND_ALPHA`
        and :data:`settings.EMERGING_SHARE`.

    Returns
    -------
    ndarray of str (object)
        Keys of :data:`PATTERNS`.
    """
    trend_alpha = settings.EMERGING_TREND_ALPHA if trend_alpha is None else trend_alpha
    share = settings.EMERGING_SHARE if share is None else share
    hot, cold = np.asarray(hot, dtype=bool), np.asarray(cold, dtype=bool)
    sig = np.asarray(trend_p) < trend_alpha
    out = np.full(len(hot), "no_pattern", dtype=object)
    cold_done = _patterns(cold, hot, sig & (np.asarray(trend_z) < 0),
                          sig & (np.asarray(trend_z) > 0), share, "cold")
    hot_done = _patterns(hot, cold, sig & (np.asarray(trend_z) > 0),
                         sig & (np.asarray(trend_z) < 0), share, "hot")
    has_cold = cold_done != "no_pattern"
    out[has_cold] = cold_done[has_cold]
    has_hot = hot_done != "no_pattern"
    out[has_hot] = hot_done[has_hot]
    return out


def _patterns(on: np.ndarray, other: np.ndarray, stronger: np.ndarray, weaker: np.ndarray,
              share: float, side: str) -> np.ndarray:
    """Patterns of one side: ``on`` = significant bins of that side, ``other`` = the opposite
    side; ``stronger`` / ``weaker`` = significant trend towards / away from that side."""
    n = on.shape[1]
    count = on.sum(axis=1)
    final = on[:, -1]
    mostly = count >= share * n
    # length of the run of `on` bins that ends in the final week
    off_idx = np.where(~on, np.arange(n), -1).max(axis=1)
    run = n - 1 - off_idx
    out = np.full(len(on), "no_pattern", dtype=object)
    rules = [
        (final & mostly & stronger, "intensifying"),
        (final & mostly & weaker, "diminishing"),
        (final & mostly, "persistent"),
        (final & other.any(axis=1), "oscillating"),
        (final & (count == 1), "new"),
        (final & (run >= 2) & (run == count), "consecutive"),
        (final, "sporadic"),
        (~final & mostly, "historical"),
    ]
    done = np.zeros(len(on), dtype=bool)
    for mask, name in rules:
        sel = mask & ~done
        out[sel] = f"{name}_{side}"
        done |= sel
    return out


def emerging_hotspots(grids: gpd.GeoDataFrame, incidents: pd.DataFrame,
                      weeks: int | None = None, end: datetime | None = None,
                      weights: WeightsSpec = "queen", alpha: float | None = None,
                      trend_alpha: float | None = None) -> pd.DataFrame:
    """Emerging hot spot patterns of grids over the last weeks.

    Parameters
    ----------
    grids, incidents, weeks, end, weights
        As for :func:`space_time_cube`.
    alpha : float, optional
        Significance of a hot / cold bin; default :data:`settings.EMERGING_ALPHA`.
    trend_alpha : float, optional
        Significance of the Mann-Kendall trend; default :data:`settings.EMERGING_TREND_ALPHA`.

    Returns
    -------
    pandas.DataFrame
        One row per grid, in the order of ``grids`` (same index): ``code``, ``pattern``
        (key of :data:`PATTERNS`), ``pattern_zh``, ``trend_z``, ``trend_p``, ``trend``
        ("increasing" / "decreasing" / "no trend"), ``n_hot`` / ``n_cold`` (significant
        weeks), ``last_z`` / ``last_p`` (final week), ``total`` (incidents in the weeks).
        ``attrs`` hold ``week_starts`` (ISO strings) and ``weeks``.
    """
    alpha = settings.EMERGING_ALPHA if alpha is None else float(alpha)
    trend_alpha = settings.EMERGING_TREND_ALPHA if trend_alpha is None else float(trend_alpha)
    cube = space_time_cube(grids, incidents, weeks, end, weights)
    with np.errstate(invalid="ignore"):
        sig = np.isfinite(cube.z) & (cube.p < alpha)
        hot, cold = sig & (cube.z > 0), sig & (cube.z < 0)
    tz, tp = mann_kendall(cube.z, trend_alpha)
    pattern = classify_patterns(hot, cold, tz, tp, trend_alpha)
    trend = np.where(tp < trend_alpha, np.where(tz > 0, "increasing", "decreasing"), "no trend")
    out = pd.DataFrame({
        "code": cube.codes, "pattern": pattern,
        "pattern_zh": [PATTERNS[k] for k in pattern],
        "trend_z": tz, "trend_p": tp, "trend": trend,
        "n_hot": hot.sum(axis=1), "n_cold": cold.sum(axis=1),
        "last_z": cube.z[:, -1], "last_p": cube.p[:, -1], "total": cube.counts.sum(axis=1),
    }, index=grids.index)
    out.attrs.update(week_starts=[s.isoformat() for s in cube.week_starts],
                     weeks=len(cube.week_starts))
    return out
