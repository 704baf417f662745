"""The KPI table: one row per unit (group grid, village, township or county) for a period.

Definitions live in :mod:`gis.kpi.definitions`; this module aggregates the per-incident
facts in SQL, grouped by unit, and joins them to the list of units so units without
incidents are rows of zeros (their rates are null: nothing to divide).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis._errors import KpiError
from gis.kpi import definitions as d
from gis.kpi import facts as fx
from gis.kpi.period import Period

LEVELS: tuple[str, ...] = ("group", "village", "township", "county")
"""Levels of a KPI table, finest first."""

LEVEL_ALIASES: dict[str, str] = {"grid": "group", "groups": "group", "villages": "village",
                                 "townships": "township", "counties": "county"}
"""Other names accepted for a level."""

_KEY = {"group": "f.group_code", "village": "f.village_code", "township": "f.township_code",
        "county": "f.adcode"}

UNIT_COLUMNS: tuple[str, ...] = ("code", "name", "level", "parent_code", "parent_name")
"""Leading columns of a KPI table."""

_IN_FORCE_VERSIONS = """
    select distinct on (adcode) id from grid_version
    where status in ('published', 'retired') and effective_date <= :on
      and (retired_from is null or retired_from > :on)
    order by adcode, effective_date desc, id desc"""

_UNITS = {
    "county": """
        select code, name, code as county_code, cast(null as text) as township_code,
               cast(null as text) as village_code, cast(null as text) as parent_code,
               cast(null as text) as parent_name
        from territory_unit where level = 'county'""",
    "township": """
        select t.code, t.name, t.parent_code as county_code, t.code as township_code,
               cast(null as text) as village_code, t.parent_code, c.name as parent_name
        from territory_unit t left join territory_unit c on c.code = t.parent_code
        where t.level = 'township'""",
    "village": f"""
        select v.code, v.name, coalesce(t.parent_code, v.township_code) as county_code,
               v.township_code, v.code as village_code, v.township_code as parent_code,
               t.name as parent_name
        from (select code, name, parent_code as township_code from territory_unit
              where level = 'village'
              union all
              select g.code, g.name, g.township_code from grid g
              where g.level = 1 and g.version_id in ({_IN_FORCE_VERSIONS})
                and not exists (select 1 from territory_unit u where u.code = g.code)) v
        left join territory_unit t on t.code = v.township_code""",
    "group": f"""
        select g.code, g.name, g.adcode as county_code, g.township_code,
               g.parent_code as village_code, g.parent_code, coalesce(u.name, p.name)
               as parent_name
        from grid g
        left join territory_unit u on u.code = g.parent_code
        left join grid p on p.version_id = g.version_id and p.code = g.parent_code
        where g.level = 2 and g.version_id in ({_IN_FORCE_VERSIONS})""",
}


def check_level(level: str) -> str:
    """The canonical level name (:data:`LEVELS`); :class:`KpiError` when unknown."""
    lv = LEVEL_ALIASES.get(str(level).strip().lower(), str(level).strip().lower())
    if lv not in LEVELS:
        msg = f"level {level!r} is unknown; use one of {', '.join(LEVELS)} (or grid = group)"
        raise KpiError(msg)
    return lv


def resolve_area(conn: Connection, area: str | None) -> dict[str, Any] | None:
    """The unit ``area`` names (a county, township, village or group code): ``code``,
    ``level`` and its own and enclosing ``county_code``, ``township_code``,
    ``village_code`` (null above its level); None for no area; :class:`KpiError` when
    unknown."""
    if area is None or str(area).strip() == "":
        return None
    code = str(area).strip()
    row = conn.execute(sa.text("""
        select u.code, u.level,
               case u.level when 'county' then u.code
                            when 'township' then u.parent_code
                            else t.parent_code end as county_code,
               case u.level when 'township' then u.code
                            when 'village' then u.parent_code end as township_code,
               case u.level when 'village' then u.code end as village_code
        from territory_unit u left join territory_unit t on t.code = u.parent_code
        where u.code = :c"""), {"c": code}).mappings().first()
    if row is None:
        row = conn.execute(sa.text("""
            select code, case level when 1 then 'village' else 'group' end as level,
                   adcode as county_code, township_code,
                   case level when 1 then code else parent_code end as village_code
            from grid where code = :c order by version_id desc limit 1"""),
            {"c": code}).mappings().first()
    if row is None:
        msg = f"area {code!r} is not the code of a county, township, village or group grid; " \
              "give a code from the territory (e.g. the county's 6-digit adcode)"
        raise KpiError(msg)
    return dict(row)


def period_bounds(period: Period | tuple[datetime, datetime]
                  ) -> tuple[datetime, datetime, date]:
    """(start, end, last local day) of a Period or of timezone-aware (start, end)."""
    if isinstance(period, Period):
        start, end = period.bounds()
        return start, end, period.last
    start, end = period
    for t in (start, end):
        if not isinstance(t, datetime) or t.tzinfo is None:
            msg = f"KPI period bounds must be timezone-aware datetimes, got {t!r}"
            raise KpiError(msg)
    if end <= start:
        msg = f"a KPI period must end after it starts, got [{start}, {end})"
        raise KpiError(msg)
    return start, end, (end - timedelta(microseconds=1)).date()


def units(conn: Connection, level: str, on: date, area: str | None = None,
          enclosing: tuple[str | None, ...] = ()) -> pd.DataFrame:
    """Units of ``level`` (groups: of the grid versions in force on ``on``) inside ``area``,
    plus the units whose code is in ``enclosing`` (the units that contain the area): columns
    code, name, county_code, township_code, village_code, parent_code, parent_name, sorted
    by code."""
    lv = check_level(level)
    q = f"select * from ({_UNITS[lv]}) u where cast(:area as text) is null or :area in " \
        "(u.code, u.county_code, u.township_code, u.village_code) " \
        "or u.code = any(cast(:enclosing as text[])) order by u.code"
    params = {"on": on, "area": area, "enclosing": [c for c in enclosing if c]}
    df = pd.DataFrame(conn.execute(sa.text(q), params).mappings().all(),
                      columns=["code", "name", "county_code", "township_code", "village_code",
                               "parent_code", "parent_name"])
    return df.drop_duplicates("code").reset_index(drop=True)


AREA_FILTER = "(cast(:area as text) is null or :area in " \
              "(f.adcode, f.township_code, f.village_code, f.group_code))"
"""SQL condition keeping the facts ``f`` inside the area ``:area`` (null: all)."""


def _q(name: str) -> str:
    """A quoted SQL identifier (KPI keys come from the kinds of the settings)."""
    return '"' + name.replace('"', '""') + '"'


def _aggregates(kpis: list[d.Kpi]) -> list[str]:
    cols = []
    for k in kpis:
        if k.kind == "count":
            cols.append(f"{k.expr} as {_q(k.key)}")
        elif k.kind == "rate":
            num, den = _q(f"{k.key}_num"), _q(f"{k.key}_den")
            cols.append(f"count(*) filter (where ({k.den}) and ({k.expr})) as {num}")
            cols.append(f"count(*) filter (where {k.den}) as {den}")
        elif k.source == "facts":
            cols.append(f"percentile_cont(0.5) within group (order by {k.expr}) "
                        f"filter (where {k.where}) as {_q(k.key)}")
    return cols


def kpi_table(conn: Connection, period: Period | tuple[datetime, datetime], level: str,
              area: str | None = None) -> pd.DataFrame:
    """The KPI table of ``level`` for ``period`` (a :class:`~gis.kpi.period.Period` or
    timezone-aware (start, end)), restricted to the units inside ``area`` (a county,
    township, village or group code; None: everything).

    Returns one row per unit: :data:`UNIT_COLUMNS`, then every KPI of
    :func:`gis.kpi.definitions.registry` in order — counts as integers, rates as floats
    0–1 (NaN when the denominator is 0) with ``<key>_num``, ``<key>_den`` and
    ``<key>_pass`` (True / False / None without target or rate), medians in minutes (NaN
    when nothing to take it over). Units come from ``territory_unit`` (county, township,
    village; grids of level 1 not in it are added) or the group grids in force on the last
    day of the period; a unit code found only in incidents is added with a null name. An
    area finer than the level (``level="county", area=<township>``) gives the enclosing
    unit's row counting only the area's incidents. The frame's ``attrs`` hold ``period``
    (label or bounds), ``level``, ``area``, ``start``, ``end`` and ``unassigned`` (incidents
    of the period in the area without a unit of this level: no village, no group).
    """
    lv = check_level(level)
    start, end, last_day = period_bounds(period)
    found = resolve_area(conn, area)
    kpis = d.registry()
    params = fx.facts_params(start, end, found["county_code"] if found else None)
    params["area"] = found["code"] if found else None
    key = _KEY[lv]
    agg = conn.execute(sa.text(
        f"with {fx.FACTS_SQL} select {key} as code, " + ", ".join(_aggregates(kpis))
        + f" from facts2 f where {AREA_FILTER} group by 1"), params).mappings().all()
    agg_df = pd.DataFrame(agg)
    unassigned = 0
    if len(agg_df):
        unassigned = int(agg_df.loc[agg_df["code"].isna(), "incidents"].sum())
        agg_df = agg_df[agg_df["code"].notna()]
    stay_kpis = [k for k in kpis if k.kind == "median" and k.source == "stays"]
    med_df = pd.DataFrame(columns=["code"])
    if stay_kpis:
        med_df = pd.DataFrame(conn.execute(sa.text(
            f"with {fx.FACTS_SQL}, {fx.STAYS_SQL} select {key} as code, "
            + ", ".join(f"percentile_cont(0.5) within group (order by s.{k.expr}) "
                        f"filter (where {k.where}) as {_q(k.key)}" for k in stay_kpis)
            + f" from stays s join facts2 f on f.id = s.incident_id where {AREA_FILTER} "
            f"and {key} is not null group by 1"), params).mappings().all())

    u = units(conn, lv, last_day, found["code"] if found else None, enclosing_codes(found))
    out = u[["code", "name", "parent_code", "parent_name"]].copy()
    extra = sorted(set(agg_df["code"]) - set(out["code"])) if len(agg_df) else []
    if extra:
        out = pd.concat([out, pd.DataFrame({"code": extra})], ignore_index=True)
    out.insert(2, "level", lv)
    out = out.merge(agg_df, on="code", how="left") if len(agg_df) else out
    out = out.merge(med_df, on="code", how="left") if len(med_df) else out
    cols: dict[str, Any] = {}
    for k in kpis:
        if k.kind == "count":
            cols[k.key] = _ints(out, k.key)
        elif k.kind == "rate":
            num, den = _ints(out, f"{k.key}_num"), _ints(out, f"{k.key}_den")
            rate = np.where(den > 0, num / np.maximum(den, 1), np.nan)
            target = k.target_value
            ok = [None if (target is None or n_den == 0) else bool(n >= target * n_den - 1e-9)
                  for n, n_den in zip(num, den, strict=True)]
            cols |= {k.key: rate, f"{k.key}_num": num, f"{k.key}_den": den,
                     f"{k.key}_pass": pd.Series(ok, dtype=object)}
        else:
            cols[k.key] = pd.to_numeric(out[k.key], errors="coerce").astype(float) \
                if k.key in out else np.full(len(out), np.nan)
    table = pd.concat([out[list(UNIT_COLUMNS)].reset_index(drop=True),
                       pd.DataFrame(cols).reset_index(drop=True)], axis=1)
    table = table.sort_values("code", kind="stable").reset_index(drop=True)
    table.attrs.update(period=period.label if isinstance(period, Period) else f"{start}/{end}",
                       level=lv, area=found["code"] if found else None,
                       start=start.isoformat(), end=end.isoformat(), unassigned=unassigned)
    return table


def enclosing_codes(found: dict[str, Any] | None) -> tuple[str | None, ...]:
    """Codes of the units that contain a :func:`resolve_area` result (and its own)."""
    if not found:
        return ()
    return (found["county_code"], found["township_code"], found["village_code"])


def _ints(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.zeros(len(df), dtype="int64")
    return pd.to_numeric(df[col], errors="coerce").fillna(0).astype("int64").to_numpy()


def totals(conn: Connection, start: datetime, end: datetime,
           adcode: str | None = None) -> dict[str, int]:
    """Counts behind the on-time and satisfaction rates over every incident with
    ``start <= occurred_at < end`` (of county ``adcode`` when given): ``incidents``,
    ``resolved``, ``on_time``, ``answered``, ``satisfied`` — the definitions of
    :func:`gis.kpi.definitions.on_time_rate` and
    :func:`gis.kpi.definitions.satisfaction_rate` (used by the wall display)."""
    row = conn.execute(sa.text(f"""
        with {fx.FACTS_SQL}
        select count(*) as incidents,
               count(*) filter (where f.resolved) as resolved,
               count(*) filter (where f.on_time) as on_time,
               count(*) filter (where f.answered) as answered,
               count(*) filter (where f.satisfied) as satisfied
        from facts2 f"""), fx.facts_params(start, end, adcode)).mappings().one()
    return {k: int(v) for k, v in row.items()}


def facts_frame(conn: Connection, period: Period | tuple[datetime, datetime],
                adcode: str | None = None) -> pd.DataFrame:
    """The per-incident facts of the period (one row per incident, the columns listed in
    :mod:`gis.kpi.facts`), for drill-down and checks."""
    start, end, _ = period_bounds(period)
    rows = conn.execute(sa.text(f"with {fx.FACTS_SQL} select * from facts2 f order by f.id"),
                        fx.facts_params(start, end, adcode)).mappings().all()
    return pd.DataFrame(rows)


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a KPI / ranking / 四无 table as JSON-ready dicts (NaN → None, numpy → Python)."""
    out = []
    for rec in table.to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and np.isnan(v):
                v = None
            clean[k] = v
        out.append(clean)
    return out
