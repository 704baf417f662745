"""Emerging hot spots: weekly bins, trend, and the ArcGIS pattern rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pymannkendall as mk
import pytest
import shapely

from gis._errors import AnalysisError
from gis.analytics.emerging import (PATTERNS, classify_patterns, emerging_hotspots,
                                    mann_kendall, space_time_cube)
from gis.analytics.hotspots import gi_star
from tests.gis.analytics._lattice import lattice

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 2, tzinfo=TZ)
WEEKS = 12


def incidents_from_counts(grid: pd.DataFrame, counts: np.ndarray) -> pd.DataFrame:
    """counts[grid, week] incidents at the grid's centroid, in the middle of each week."""
    cent = shapely.centroid(grid.geometry.values)
    g_idx, w_idx = np.nonzero(counts)
    reps = counts[g_idx, w_idx].astype(int)
    g_all, w_all = np.repeat(g_idx, reps), np.repeat(w_idx, reps)
    start = pd.Timestamp(END) - pd.Timedelta(days=7 * WEEKS)
    when = start + pd.to_timedelta(w_all * 7 + 3.5, unit="D")
    return pd.DataFrame({"occurred_at": when, "lon": shapely.get_x(cent)[g_all],
                         "lat": shapely.get_y(cent)[g_all], "kind": "dispute"})


def block_case(extra: list[float], seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, int]:
    """10 × 10 lattice, Poisson(4) background, a 3 × 3 block (rows / cols 4-6) with ``extra``
    incidents per cell added in each week. Returns grids, counts and the centre's position."""
    grid = lattice(10, 10)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(4, (100, WEEKS))
    block = (grid["row"].between(4, 6) & grid["col"].between(4, 6)).to_numpy()
    counts[block] += np.asarray(extra, dtype=np.int64)[None, :]
    return grid, counts, 5 * 10 + 5


@pytest.mark.parametrize(("extra", "expected"), [
    ([4 + 3 * t for t in range(WEEKS)], "intensifying_hot"),  # hot all along, rising
    ([16] * WEEKS, "persistent_hot"),  # constant hot
    ([0] * (WEEKS - 1) + [16], "new_hot"),  # appears in the final week
    ([0] * (WEEKS - 3) + [16] * 3, "consecutive_hot"),  # appears, stays for 3 weeks
    ([16] * (WEEKS - 1) + [0], "historical_hot"),  # gone in the final week
    ([30 - 2 * t for t in range(WEEKS)], "diminishing_hot"),  # hot all along, fading
])
def test_block_patterns_end_to_end(extra: list[float], expected: str) -> None:
    grid, counts, centre = block_case(extra)
    inc = incidents_from_counts(grid, counts)
    cube = space_time_cube(grid, inc, weeks=WEEKS, end=END)
    np.testing.assert_array_equal(cube.counts, counts)  # binning puts every incident back
    out = emerging_hotspots(grid, inc, weeks=WEEKS, end=END)
    assert out["pattern"].iloc[centre] == expected, out.iloc[centre].to_dict()
    assert out["total"].iloc[centre] == counts[centre].sum()
    assert out["pattern_zh"].iloc[centre] == PATTERNS[expected]
    trend = {"intensifying_hot": "increasing", "diminishing_hot": "decreasing",
             "persistent_hot": "no trend"}
    if expected in trend:
        assert out["trend"].iloc[centre] == trend[expected]


def test_rising_counts_have_a_significant_increasing_trend() -> None:
    grid, counts, centre = block_case([4 + 3 * t for t in range(WEEKS)])
    cube = space_time_cube(grid, incidents_from_counts(grid, counts), weeks=WEEKS, end=END)
    assert (cube.z[centre] > 1.96).all()  # hot in every week ...
    tz, tp = mann_kendall(cube.z)
    assert tz[centre] > 3 and tp[centre] < 0.01  # ... more so each week
    ref = mk.original_test(cube.z[centre])
    assert tz[centre] == pytest.approx(ref.z) and tp[centre] == pytest.approx(ref.p)


def H(s: str) -> list[bool]:  # noqa: N802 -- "H.." = hot weeks, "C" = cold, "." = neither
    return [c == "H" for c in s]


def C(s: str) -> list[bool]:  # noqa: N802
    return [c == "C" for c in s]


@pytest.mark.parametrize(("weeks", "trend_z", "expected"), [
    ("...........H", 0.0, "new_hot"),
    ("HHHHHHHHHHHH", 3.0, "intensifying_hot"),
    ("HHHHHHHHHHHH", -3.0, "diminishing_hot"),
    ("HHHHHHHHHHHH", 0.5, "persistent_hot"),
    (".HHHHHHHHHHH", 0.5, "persistent_hot"),  # 11 / 12 ≥ 90 %
    ("..HHHHHHHHHH", 3.0, "consecutive_hot"),  # 10 / 12 < 90 %: not intensifying
    ("........HHHH", 3.0, "consecutive_hot"),
    ("H.......HHHH", 0.0, "sporadic_hot"),  # hot before the final run
    ("C.......HHHH", 0.0, "oscillating_hot"),  # was cold before
    ("H.H.H.H.H..H", 0.0, "sporadic_hot"),
    ("HHHHHHHHHHH.", 0.0, "historical_hot"),
    ("HHHHH.......", 0.0, "no_pattern"),
    ("............", 0.0, "no_pattern"),
    ("...........C", 0.0, "new_cold"),
    ("CCCCCCCCCCCC", -3.0, "intensifying_cold"),
    ("CCCCCCCCCCCC", 3.0, "diminishing_cold"),
    ("CCCCCCCCCCCC", 0.0, "persistent_cold"),
    (".........CCC", 0.0, "consecutive_cold"),
    ("H..........C", 0.0, "oscillating_cold"),
    ("C.C........C", 0.0, "sporadic_cold"),
    ("CCCCCCCCCCC.", 0.0, "historical_cold"),
])
def test_pattern_rules(weeks: str, trend_z: float, expected: str) -> None:
    p = 0.001 if abs(trend_z) > 1.96 else 0.5
    got = classify_patterns(np.array([H(weeks)]), np.array([C(weeks)]), np.array([trend_z]),
                            np.array([p]))
    assert got[0] == expected


def test_week_boundaries() -> None:
    grid = lattice(3, 3)
    c = shapely.centroid(grid.geometry.values[0])
    start = pd.Timestamp(END) - pd.Timedelta(weeks=WEEKS)
    times = [start - pd.Timedelta(seconds=1),  # before the first week: dropped
             start,  # first instant of week 0
             start + pd.Timedelta(weeks=1) - pd.Timedelta(seconds=1),  # last second of week 0
             start + pd.Timedelta(weeks=1),  # week 1
             pd.Timestamp(END) - pd.Timedelta(seconds=1),  # last week
             pd.Timestamp(END)]  # the end is exclusive: dropped
    inc = pd.DataFrame({"occurred_at": times, "lon": c.x, "lat": c.y})
    cube = space_time_cube(grid, inc, weeks=WEEKS, end=END)
    assert cube.counts[0].tolist() == [2, 1] + [0] * (WEEKS - 3) + [1]
    assert cube.week_starts[0] == start and len(cube.week_starts) == WEEKS


def test_codes_instead_of_coordinates_and_default_end() -> None:
    grid, counts, centre = block_case([16] * WEEKS)
    inc = incidents_from_counts(grid, counts)
    inc["code"] = grid["code"].to_numpy()[np.repeat(np.nonzero(counts)[0],
                                                    counts[np.nonzero(counts)])]
    by_code = emerging_hotspots(grid, inc.drop(columns=["lon", "lat"]), weeks=WEEKS, end=END)
    assert by_code["pattern"].iloc[centre] == "persistent_hot"
    # default end: midnight after the last incident (END - 3.5 days, at noon) = END - 3 days
    default = space_time_cube(grid, inc, weeks=WEEKS)
    assert default.week_starts[-1] + timedelta(days=7) == pd.Timestamp(END) - timedelta(days=3)


def test_bad_input_is_rejected() -> None:
    grid = lattice(3, 3)
    inc = pd.DataFrame({"occurred_at": [pd.Timestamp(END)], "lon": [0.0], "lat": [0.0]})
    with pytest.raises(AnalysisError, match="at least 2 weeks"):
        emerging_hotspots(grid, inc, weeks=1)
    with pytest.raises(AnalysisError, match="occurred_at"):
        emerging_hotspots(grid, inc.drop(columns="occurred_at"))
    with pytest.raises(AnalysisError, match="time zone"):
        emerging_hotspots(grid, inc, end=datetime(2026, 11, 2))


def test_weekly_z_equals_gi_star_of_each_week() -> None:
    grid, counts, _ = block_case([4 + 3 * t for t in range(WEEKS)])
    cube = space_time_cube(grid, incidents_from_counts(grid, counts), weeks=WEEKS, end=END)
    for week in (0, 5, WEEKS - 1):
        ref = gi_star(grid.assign(n=counts[:, week]), "n")
        np.testing.assert_allclose(cube.z[:, week], ref["z"], rtol=1e-12)
        np.testing.assert_allclose(cube.p[:, week], ref["p"], rtol=1e-9)
