"""Hot spots of a review period: Getis-Ord Gi* classes and emerging hot-spot patterns.

Both statistics are computed over **all** grids of the county at the area's grid level
(villages for the county, group grids for a township or a village), so a grid at the edge of
a township still has its neighbours across the boundary; the result is then cut to the area.

* Gi* (:func:`gis.analytics.hotspots.gi_star`, queen contiguity, analytic p) on the counts
  of the period (one or two weeks).
* Emerging hot spots (:func:`gis.analytics.emerging.emerging_hotspots`) over
  ``settings.EMERGING_WEEKS`` weeks ending with the period, the same steps as
  :func:`gis.analytics.emerging.emerging_hotspots` (space-time cube of the county, then the
  Mann-Kendall trend and the pattern rules) but the trend test runs only on the area's grids
  (it is the slow part: one test per grid). The incidents are read as
  counts per grid and local day (an SQL aggregate) and handed to the analysis as one row
  per incident at noon of its day: the weekly bins are the same as with raw rows, without
  reading millions of points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.review_data import Area, Base, area_grids
from dashboard.review_period import Period
from gis import settings
from gis.analytics.emerging import classify_patterns, mann_kendall, space_time_cube
from gis.analytics.hotspots import gi_star

HOT_PATTERNS: tuple[str, ...] = ("new_hot", "consecutive_hot", "intensifying_hot",
                                 "persistent_hot", "diminishing_hot", "sporadic_hot",
                                 "oscillating_hot", "historical_hot")
"""Emerging patterns that are hot spots (shown on the map with a colour each)."""
COLD_PATTERNS: tuple[str, ...] = tuple(p.replace("_hot", "_cold") for p in HOT_PATTERNS)


@dataclass
class Hotspots:
    """Gi* classes of the period and emerging patterns, for the grids of an area."""

    level: int
    """Grid level analysed: 1 villages, 2 groups."""
    grids: gpd.GeoDataFrame
    """The area's grids: ``code``, ``name``, ``village_code``, ``township_code``, ``count``
    (incidents in the period), ``z``, ``p``, ``gi_bin`` (−3 … 3), ``hotspot_class``,
    ``pattern`` (emerging, key of :data:`gis.analytics.emerging.PATTERNS`), ``trend``,
    ``total_weeks`` (incidents over the emerging weeks), geometry."""
    emerging_weeks: int

    def class_counts(self) -> dict[str, int]:
        """Grids per Gi* class (``hot_99`` … ``cold_99``), classes with none left out."""
        return {str(k): int(v) for k, v in self.grids["hotspot_class"].value_counts().items()}

    def pattern_counts(self) -> dict[str, int]:
        """Grids per emerging pattern (``no_pattern`` left out), most first."""
        s = self.grids["pattern"].value_counts()
        return {str(k): int(v) for k, v in s.items() if k != "no_pattern"}

    @property
    def n_hot(self) -> int:
        """Grids that are Gi* hot spots (any confidence)."""
        return int((self.grids["gi_bin"] > 0).sum())

    @property
    def n_cold(self) -> int:
        """Grids that are Gi* cold spots (any confidence)."""
        return int((self.grids["gi_bin"] < 0).sum())

    def hot_per_part(self, area: Area) -> pd.Series:
        """Hot grids per part of the area (township / village / group code)."""
        hot = self.grids[self.grids["gi_bin"] > 0]
        col = {"county": "township_code", "township": "village_code", "village": "code"}
        return hot.groupby(hot[col[area.level]].astype(str)).size()

    def top(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` hottest grids (highest z among the hot spots), with their counts."""
        hot = self.grids[self.grids["gi_bin"] > 0]
        return hot.sort_values(["z", "count"], ascending=False).head(n)


def _grid_counts(conn: Connection, base: Base, level: int, since: object,
                 until: object) -> pd.DataFrame:
    col = "village_code" if level == 1 else "group_code"
    rows = conn.execute(sa.text(f"""
        select {col} as code, cast(occurred_at at time zone :tz as date) as day, count(*) as n
        from incident where adcode = :a and occurred_at >= :s and occurred_at < :u
          and {col} is not null
        group by 1, 2"""), {"tz": settings.WALL_TIMEZONE, "a": base.adcode, "s": since,
                            "u": until}).all()
    df = pd.DataFrame(rows, columns=["code", "day", "n"])
    df["n"] = df["n"].astype(np.int64)
    return df


def _as_rows(counts: pd.DataFrame) -> pd.DataFrame:
    """One row per incident (``code``, ``occurred_at`` at local noon of its day)."""
    from dashboard.review_period import tz

    if not len(counts):
        return pd.DataFrame({"code": pd.Series(dtype=str),
                             "occurred_at": pd.Series(dtype=f"datetime64[ns, {tz()}]")})
    reps = counts["n"].to_numpy()
    days = pd.to_datetime(counts["day"]).dt.tz_localize(tz()) + pd.Timedelta(hours=12)
    return pd.DataFrame({"code": np.repeat(counts["code"].to_numpy(), reps),
                         "occurred_at": np.repeat(days.to_numpy(), reps)}).assign(
        occurred_at=lambda d: pd.to_datetime(d["occurred_at"], utc=True).dt.tz_convert(tz()))


def hotspots(conn: Connection, base: Base, area: Area, period: Period,
             emerging_weeks: int | None = None) -> Hotspots:
    """Gi* of the period's counts and emerging patterns over the weeks up to its end."""
    level = area.grid_level
    weeks = int(settings.EMERGING_WEEKS if emerging_weeks is None else emerging_weeks)
    grids = base.grids(level)
    since = period.end - timedelta(weeks=max(weeks, period.weeks))
    counts = _grid_counts(conn, base, level, since, period.end)
    now = counts[counts["day"] >= period.first_day].groupby("code")["n"].sum()
    g = grids[["code", "name", "township_code", "population", "geometry"]].copy()
    g["village_code"] = grids["code"] if level == 1 else grids["parent_code"]
    g["count"] = g["code"].map(now).fillna(0).astype(np.int64)
    graph = base.graph(level)
    gi = gi_star(g, "count", weights=graph)
    g = pd.concat([g, gi[["z", "p", "gi_bin", "hotspot_class"]]], axis=1)
    inside = set(area_grids(base, area, level)["code"])
    sel = g["code"].isin(inside).to_numpy()
    cube = space_time_cube(g[["code", "geometry"]], _as_rows(counts), weeks=weeks,
                           end=pd.Timestamp(period.end), weights=graph)
    z, p = cube.z[sel], cube.p[sel]
    with np.errstate(invalid="ignore"):
        sig = np.isfinite(z) & (p < settings.EMERGING_ALPHA)
    trend_z, trend_p = mann_kendall(z, settings.EMERGING_TREND_ALPHA)
    g = g[sel].copy()
    g["pattern"] = classify_patterns(sig & (z > 0), sig & (z < 0), trend_z, trend_p)
    g["trend"] = np.where(trend_p < settings.EMERGING_TREND_ALPHA,
                          np.where(trend_z > 0, "increasing", "decreasing"), "no trend")
    g["total_weeks"] = cube.counts[sel].sum(axis=1)
    g = gpd.GeoDataFrame(g.reset_index(drop=True), geometry="geometry", crs=grids.crs)
    return Hotspots(level=level, grids=g, emerging_weeks=weeks)
