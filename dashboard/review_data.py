"""Data of the leader review (``/review``) and the weekly briefing: area, period, incidents.

Everything here is data (pandas / geopandas), no Dash and no HTML, so the page, the
briefing builder and the tests share it:

* :class:`Base` — what changes only with the grid version: county, townships, village and
  group grids, police posts, the contiguity graphs of the grids (read once, cached by
  :func:`base`).
* :class:`Area` — the county, a township or a village (:func:`resolve_area`), with its trail
  from the county down (breadcrumbs) and the level of its parts (township → village →
  group: the drill-down).
* :func:`incident_change` — incidents of the period and the previous one, per part of the
  area, per kind and per day, and the weekly trend (SQL aggregates, never raw points).

Times: periods are local weeks (:mod:`dashboard.review_period`), days are local dates of
``settings.WALL_TIMEZONE``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.review_period import Period, tz
from gis import settings
from gis._errors import ReportError
from gis.forces import posts as read_posts
from gis.grids import versions
from gis.grids.store import read_grids
from gis.territory import units

log = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ("county", "township", "village", "group")
"""Levels of the drill-down, top to bottom."""
CODE_LENGTHS: dict[int, str] = {6: "county", 9: "township", 12: "village"}
"""Length of an area code → its level (a group grid is never a review area)."""
TREND_WEEKS = 8
"""Weeks of the weekly trend chart (up to the end of the period)."""


@dataclass
class Base:
    """The grid version in force of one county, read once."""

    vid: int
    adcode: str
    county_name: str
    county: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    """``code``, ``name``, ``population`` (sum of its villages), geometry."""
    villages: gpd.GeoDataFrame
    groups: gpd.GeoDataFrame
    posts: gpd.GeoDataFrame
    graphs: dict[int, Any] = field(default_factory=dict)
    """Contiguity graph of the grids of each level (built on first use)."""
    cache: dict[str, Any] = field(default_factory=dict)
    """Results that depend only on the version (coverage, reach tables)."""

    def grids(self, level: int) -> gpd.GeoDataFrame:
        """Village (1) or group (2) grids of the county."""
        return self.villages if level == 1 else self.groups

    def graph(self, level: int) -> Any:
        """Queen contiguity of the grids of ``level`` (libpysal Graph), built once."""
        if level not in self.graphs:
            from gis.analytics.hotspots import build_weights

            geoms = np.asarray(self.grids(level).geometry.values, dtype=object)
            self.graphs[level] = build_weights(geoms, "queen")
        return self.graphs[level]


def load_base(conn: Connection, adcode: str | None = None) -> Base:
    """Read the grid version in force of ``adcode`` (default: the one in force last).

    Raises
    ------
    ReportError
        When no grid version is in force.
    """
    vid = versions.in_force(conn, adcode)
    if vid is None:
        where = f" for county {adcode}" if adcode else ""
        msg = f"no grid version in force{where}: load the demo ('wangge demo') or publish grids"
        raise ReportError(msg)
    adcode = str(versions.get_version(conn, vid)["adcode"])
    villages = read_grids(conn, vid, level=1)
    groups = read_grids(conn, vid, level=2)
    county = units(conn, "county", adcode)
    towns = units(conn, "township", adcode)
    name = str(county["name"].iloc[0]) if len(county) else adcode
    pop = villages.groupby("township_code")["population"].sum(min_count=1)
    towns = towns.assign(population=towns["code"].map(pop).fillna(0).astype(np.int64))
    missing = towns.geometry.isna()
    if missing.any():  # a township without a stored outline: the union of its villages
        for i in np.flatnonzero(missing.to_numpy()):
            code = towns["code"].iloc[i]
            towns.loc[towns.index[i], "geometry"] = \
                villages.loc[villages["township_code"] == code].geometry.union_all()
    return Base(vid=int(vid), adcode=adcode, county_name=name, county=county, townships=towns,
                villages=villages, groups=groups, posts=read_posts(conn, adcode))


@dataclass(frozen=True)
class Area:
    """A review area: the county, a township or a village.

    Attributes
    ----------
    code : str
        Its code (6-digit adcode, 9-digit township code, 12-digit village code).
    level : str
        ``county``, ``township`` or ``village``.
    name : str
        Its name.
    trail : tuple of (level, code, name)
        From the county down to this area (breadcrumbs).
    """

    code: str
    level: str
    name: str
    trail: tuple[tuple[str, str, str], ...]

    @property
    def part_level(self) -> str:
        """Level of the parts listed for this area: township, village or group."""
        return LEVELS[LEVELS.index(self.level) + 1]

    @property
    def grid_level(self) -> int:
        """Grid level of its hot-spot map: villages for the county, groups below."""
        return 1 if self.level == "county" else 2

    @property
    def title(self) -> str:
        """``甘州区 · 梁家墩镇 · 卢滩村`` (the trail's names)."""
        return " · ".join(n for _, _, n in self.trail)


def resolve_area(base: Base, code: str | None) -> Area:
    """The area of ``code`` in ``base``'s county (None or empty: the county).

    Raises
    ------
    ReportError
        When the code is not the county, one of its townships or one of its villages.
    """
    code = str(code or base.adcode).strip()
    county = ("county", base.adcode, base.county_name)
    level = CODE_LENGTHS.get(len(code))
    if level == "county" and code == base.adcode:
        return Area(code, "county", base.county_name, (county,))
    towns = dict(zip(base.townships["code"].astype(str), base.townships["name"], strict=True))
    if level == "township" and code in towns:
        return Area(code, "township", towns[code], (county, ("township", code, towns[code])))
    if level == "village":
        row = base.villages.loc[base.villages["code"] == code]
        if len(row):
            tc = str(row["township_code"].iloc[0])
            name = str(row["name"].iloc[0])
            return Area(code, "village", name,
                        (county, ("township", tc, towns.get(tc, tc)), ("village", code, name)))
    example = next(iter(towns.items()), ("", ""))
    msg = (f"--area {code!r} is not in county {base.adcode} {base.county_name}: give the "
           f"county adcode {base.adcode}, a township code (9 digits, e.g. {example[0]} "
           f"{example[1]}) or a village code (12 digits)")
    raise ReportError(msg)


def parts(base: Base, area: Area) -> gpd.GeoDataFrame:
    """The parts of ``area`` one level down: ``code``, ``name``, ``population``, geometry."""
    if area.level == "county":
        g = base.townships
    elif area.level == "township":
        g = base.villages.loc[base.villages["township_code"] == area.code]
    else:
        g = base.groups.loc[base.groups["parent_code"] == area.code]
    out = g[["code", "name", "population", "geometry"]].copy()
    out["code"] = out["code"].astype(str)
    out["population"] = pd.to_numeric(out["population"], errors="coerce").fillna(0)
    return out.reset_index(drop=True)


def area_grids(base: Base, area: Area, level: int) -> gpd.GeoDataFrame:
    """Grids of ``level`` (1 villages, 2 groups) inside ``area``."""
    g = base.grids(level)
    if area.level == "county":
        return g
    col = "township_code" if area.level == "township" else \
        ("code" if level == 1 else "parent_code")
    return g.loc[g[col].astype(str) == area.code]


def part_of(codes: pd.Series, area: Area, base: Base) -> pd.Series:
    """Code of the part (one level below ``area``) of each group-grid code in ``codes``.

    Group codes start with their village's 12-digit code and village codes with their
    township's 9 digits (as in the store); codes outside ``area`` give None.
    """
    c = codes.astype("string")
    if area.level == "county":
        out = c.str[:9]
    elif area.level == "township":
        out = c.str[:12]
    else:
        out = c
    inside = c.str.startswith(area.code) if area.level != "county" else c.notna()
    return out.where(inside.fillna(False), None)


# --- incidents ------------------------------------------------------------------------------

def daily_counts(conn: Connection, adcode: str, since: Any, until: Any) -> pd.DataFrame:
    """Incidents per local day, kind and group grid in [since, until): ``day`` (date),
    ``kind``, ``village_code``, ``group_code``, ``n``."""
    rows = conn.execute(sa.text("""
        select cast(occurred_at at time zone :tz as date) as day, kind, village_code,
               group_code, count(*) as n
        from incident where adcode = :a and occurred_at >= :s and occurred_at < :u
        group by 1, 2, 3, 4"""), {"tz": settings.WALL_TIMEZONE, "a": adcode, "s": since,
                                  "u": until}).all()
    df = pd.DataFrame(rows, columns=["day", "kind", "village_code", "group_code", "n"])
    df["n"] = df["n"].astype(np.int64)
    return df


def _in_area(df: pd.DataFrame, area: Area) -> pd.DataFrame:
    if area.level == "county":
        return df
    code = df["village_code"].astype("string")
    return df[code.str.startswith(area.code).fillna(False).to_numpy()]


@dataclass
class IncidentChange:
    """Incidents of a period against the previous one, in an area."""

    period: Period
    previous: Period
    total: int
    total_prev: int
    by_part: pd.DataFrame
    """Per part: ``code``, ``name``, ``population``, ``n``, ``n_prev``, ``change``,
    ``change_pct`` (NaN when the previous count is 0), ``per_10k`` (per 10,000 residents);
    sorted by ``n`` (most first); incidents without a grid are not in any part."""
    by_kind: pd.DataFrame
    """Per kind: ``kind``, ``n``, ``n_prev``, ``change`` (most first)."""
    daily: pd.DataFrame
    """Per day of the period: ``offset`` (0 = first day), ``day``, ``n``, ``day_prev``,
    ``n_prev`` (the same weekday of the previous period)."""
    weekly: pd.DataFrame
    """The last :data:`TREND_WEEKS` weeks up to the period: ``week`` (label), ``start``,
    ``n``."""
    unlocated: int
    """Incidents of the period in the county without a grid (in the county's totals, in no
    part)."""
    unlocated_prev: int = 0
    """The same for the previous period."""

    @property
    def change(self) -> int:
        """Total change (this period − previous)."""
        return self.total - self.total_prev

    @property
    def change_pct(self) -> float | None:
        """Relative change in per cent (None when the previous period had none)."""
        return None if not self.total_prev else 100.0 * self.change / self.total_prev


def _pct(n: pd.Series, prev: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series(np.where(prev > 0, 100.0 * (n - prev) / prev.where(prev > 0, 1), np.nan),
                         index=n.index)


def incident_change(conn: Connection, base: Base, area: Area, period: Period) -> IncidentChange:
    """Incidents of ``period`` and the one before in ``area`` (see :class:`IncidentChange`)."""
    prev = period.previous()
    df = daily_counts(conn, base.adcode, prev.start, period.end)
    loose = df["village_code"].isna() if area.level == "county" else \
        pd.Series(False, index=df.index)
    unlocated = int(df.loc[loose & (df["day"] >= period.first_day), "n"].sum())
    unlocated_prev = int(df.loc[loose & (df["day"] < period.first_day), "n"].sum())
    df = _in_area(df, area)
    now = df[df["day"] >= period.first_day]
    before = df[df["day"] < period.first_day]
    p = parts(base, area)
    key = "group_code" if area.level == "village" else "village_code"

    def per_part(frame: pd.DataFrame) -> pd.Series:
        if not len(frame):
            return pd.Series(dtype=np.int64)
        return frame.groupby(part_of(frame[key], area, base).to_numpy())["n"].sum()

    by = p.drop(columns="geometry")
    by["n"] = by["code"].map(per_part(now)).fillna(0).astype(np.int64)
    by["n_prev"] = by["code"].map(per_part(before)).fillna(0).astype(np.int64)
    by["change"] = by["n"] - by["n_prev"]
    by["change_pct"] = _pct(by["n"], by["n_prev"])
    with np.errstate(divide="ignore", invalid="ignore"):
        by["per_10k"] = np.where(by["population"] > 0, by["n"] / by["population"] * 1e4, np.nan)
    by = by.sort_values(["n", "code"], ascending=[False, True], kind="stable")

    kinds = pd.DataFrame({"n": now.groupby("kind")["n"].sum(),
                          "n_prev": before.groupby("kind")["n"].sum()}).fillna(0)
    kinds = kinds.astype(np.int64).reset_index(names="kind")
    kinds["change"] = kinds["n"] - kinds["n_prev"]
    kinds = kinds.sort_values(["n", "kind"], ascending=[False, True], kind="stable")

    per_day = df.groupby("day")["n"].sum()
    days, pdays = period.days, prev.days
    daily = pd.DataFrame({"offset": range(len(days)), "day": days,
                          "n": [int(per_day.get(d, 0)) for d in days],
                          "day_prev": pdays,
                          "n_prev": [int(per_day.get(d, 0)) for d in pdays]})
    return IncidentChange(period=period, previous=prev, total=int(now["n"].sum()),
                          total_prev=int(before["n"].sum()),
                          by_part=by.reset_index(drop=True),
                          by_kind=kinds.reset_index(drop=True), daily=daily,
                          weekly=weekly_trend(conn, base, area, period), unlocated=unlocated,
                          unlocated_prev=unlocated_prev)


def weekly_trend(conn: Connection, base: Base, area: Area, period: Period,
                 weeks: int = TREND_WEEKS) -> pd.DataFrame:
    """Incidents per ISO week over the ``weeks`` weeks ending with the period's last week."""
    last = Period(period.year, period.week, 1)
    first = last.shifted(-(weeks - 1))
    prefix = None if area.level == "county" else area.code + "%"
    rows = conn.execute(sa.text("""
        select date_trunc('week', occurred_at at time zone :tz) as wk, count(*) as n
        from incident where adcode = :a and occurred_at >= :s and occurred_at < :u
          and (cast(:p as text) is null or village_code like :p)
        group by 1"""), {"tz": settings.WALL_TIMEZONE, "a": base.adcode, "s": first.start,
                         "u": last.end, "p": prefix}).all()
    counts = {pd.Timestamp(r[0]).date(): int(r[1]) for r in rows}
    out = []
    for k in range(weeks):
        w = first.shifted(k)
        out.append({"week": w.label, "start": w.first_day, "n": counts.get(w.first_day, 0)})
    return pd.DataFrame(out)


def local_now() -> pd.Timestamp:
    """Now in the review time zone."""
    return pd.Timestamp.now(tz=tz())
