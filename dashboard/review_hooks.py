"""KPIs, rankings and patrol compliance of a review area, from :mod:`gis.kpi` and
:mod:`gis.patrols` when they are installed.

Each section says whether its source is available (``available``) and, when not, why
(``note``, an i18n key): the page and the briefing keep their layout and show the note. The
incident ranking (:func:`incident_ranking`) needs only the incidents and is always there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.review_data import Area, Base
from dashboard.review_period import Period

log = logging.getLogger(__name__)

KPI_COLUMNS: tuple[str, ...] = ("incidents", "on_time_rate", "fulfilment_rate",
                                "satisfaction_rate", "mediation_success_rate",
                                "eventual_closure_rate", "escalations")
"""KPI columns shown (those the KPI table has), in this order."""


@dataclass
class KpiSection:
    """KPI table of the area's parts, rankings and 四无 villages."""

    available: bool
    note: str | None = None
    """i18n key of why the section is empty."""
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per part: ``code``, ``name`` and the KPI columns present."""
    total: dict[str, Any] = field(default_factory=dict)
    """The area's own row."""
    columns: list[str] = field(default_factory=list)
    ranking: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Parts ranked (``rank``, ``code``, ``name``, ``score``), best first, when the KPI
    module ranks."""
    siwu: pd.DataFrame | None = None
    """四无 villages of the area (``code``, ``name``, ``siwu`` bool) when available."""


def _total(conn: Connection, area: Area, period: Period, kpi_table: Any) -> dict[str, Any]:
    level = {"county": "county", "township": "township", "village": "village"}[area.level]
    t = kpi_table(conn, (period.start, period.end), level, area.code)
    t = t[t["code"].astype(str) == area.code]
    return t.iloc[0].to_dict() if len(t) else {}


def kpi_section(conn: Connection, base: Base, area: Area, period: Period) -> KpiSection:
    """KPIs per part of ``area`` for ``period`` (:func:`gis.kpi.compute.kpi_table`)."""
    try:
        from gis.kpi.compute import kpi_table
    except ImportError:
        return KpiSection(available=False, note="review.kpi.missing")
    try:
        table = kpi_table(conn, (period.start, period.end), area.part_level, area.code)
        total = _total(conn, area, period, kpi_table)
    except Exception as e:  # noqa: BLE001 - a failing optional section must not sink the rest
        log.warning("review: KPI table failed (%s: %s)", type(e).__name__, e)
        return KpiSection(available=False, note="review.kpi.failed")
    cols = [c for c in KPI_COLUMNS if c in table.columns]
    table = table[["code", "name", *cols]].copy()
    ranking, siwu = _ranking(conn, base, area, period), _siwu(conn, area, period)
    return KpiSection(available=True, table=table.reset_index(drop=True), total=total,
                      columns=cols, ranking=ranking, siwu=siwu)


def _ranking(conn: Connection, base: Base, area: Area, period: Period) -> pd.DataFrame:
    try:
        from gis.kpi import rankings  # type: ignore[attr-defined]
    except ImportError:
        return pd.DataFrame()
    fn = getattr(rankings, "rank_units", None) or getattr(rankings, "rankings", None)
    if fn is None:
        return pd.DataFrame()
    try:
        r = fn(conn, (period.start, period.end), area.part_level, area.code)
    except Exception as e:  # noqa: BLE001
        log.warning("review: KPI ranking failed (%s: %s)", type(e).__name__, e)
        return pd.DataFrame()
    keep = [c for c in ("rank", "code", "name", "score") if c in r.columns]
    return r[keep].sort_values("rank").reset_index(drop=True) if "rank" in keep else r[keep]


def _siwu(conn: Connection, area: Area, period: Period) -> pd.DataFrame | None:
    try:
        from gis.kpi import siwu  # type: ignore[attr-defined]
    except ImportError:
        return None
    fn = getattr(siwu, "siwu_villages", None)
    if fn is None:
        return None
    try:
        return fn(conn, (period.start, period.end), area.code)
    except Exception as e:  # noqa: BLE001
        log.warning("review: 四无 villages failed (%s: %s)", type(e).__name__, e)
        return None


# --- patrols ------------------------------------------------------------------------------

@dataclass
class PatrolSection:
    """Weekly patrol compliance of the key areas / sections in the review area."""

    available: bool
    note: str | None = None
    weeks: list[dict[str, Any]] = field(default_factory=list)
    """Per ISO week of the period: ``week``, ``sections_passed``, ``sections_total``,
    ``areas_passed``, ``areas_total``, ``night_patrols``, ``patrols``."""
    failing: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Key areas / sections that missed the weekly minimum in the last week: ``kind``,
    ``name``, ``village_name``, ``count``, ``required``."""


def patrol_section(conn: Connection, base: Base, area: Area, period: Period) -> PatrolSection:
    """:func:`gis.patrols.compliance` of each week of the period, cut to ``area``."""
    try:
        from gis.patrols import compliance, summary, village_night_patrols
    except ImportError:
        return PatrolSection(available=False, note="review.patrols.missing")
    weeks, failing = [], pd.DataFrame()
    try:
        for k in range(period.weeks):
            w = Period(period.year, period.week, 1).shifted(k - period.weeks + 1)
            table = compliance(conn, base.adcode, w.label)
            nights = village_night_patrols(conn, base.adcode, w.label)
            if area.level != "county":
                table = table[table["village_code"].astype(str).str.startswith(area.code)]
                nights = nights[nights["village_code"].astype(str).str.startswith(area.code)]
            weeks.append(summary(table, nights, w.label))
            if k == period.weeks - 1 and len(table):
                cols = [c for c in ("kind", "name", "village_name", "count", "required")
                        if c in table.columns]
                failing = table.loc[~table["passed"].astype(bool), cols].reset_index(drop=True)
    except Exception as e:  # noqa: BLE001 - tables missing (migration not run), bad data
        log.warning("review: patrol compliance failed (%s: %s)", type(e).__name__, e)
        return PatrolSection(available=False, note="review.patrols.failed")
    if not any(w.get("sections_total") or w.get("areas_total") or w.get("patrols")
               for w in weeks):
        return PatrolSection(available=True, note="review.patrols.none", weeks=weeks)
    return PatrolSection(available=True, weeks=weeks, failing=failing)


# --- ranking from incidents alone -------------------------------------------------------------

def incident_ranking(conn: Connection, base: Base, area: Area, period: Period,
                     top: int = 10) -> pd.DataFrame:
    """Villages of the area with the most incidents in the period (``top`` rows): ``rank``,
    ``code``, ``name``, ``township``, ``population``, ``n``, ``per_10k``."""
    prefix = None if area.level == "county" else area.code + "%"
    rows = conn.execute(sa.text("""
        select village_code, count(*) from incident
        where adcode = :a and occurred_at >= :s and occurred_at < :u
          and village_code is not null and (cast(:p as text) is null or village_code like :p)
        group by 1"""), {"a": base.adcode, "s": period.start, "u": period.end,
                         "p": prefix}).all()
    counts = {str(c): int(n) for c, n in rows}
    v = base.villages
    towns = dict(zip(base.townships["code"].astype(str), base.townships["name"], strict=True))
    df = pd.DataFrame({"code": v["code"].astype(str), "name": v["name"],
                       "township": v["township_code"].astype(str).map(towns),
                       "population": pd.to_numeric(v["population"], errors="coerce")})
    df["n"] = df["code"].map(counts).fillna(0).astype(np.int64)
    df = df[df["n"] > 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        df["per_10k"] = np.where(df["population"] > 0, df["n"] / df["population"] * 1e4, np.nan)
    df = df.sort_values(["n", "per_10k", "code"], ascending=[False, False, True]).head(top)
    df.insert(0, "rank", range(1, len(df) + 1))
    return df.reset_index(drop=True)
