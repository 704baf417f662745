"""Data of the leader review without Dash: periods, areas, incidents, hot spots, standards,
一村一警一连, rankings — on the demo county, cross-checked with direct SQL and with the
analyses called the documented way."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard import review_data as rd
from dashboard.review_hooks import incident_ranking, kpi_section, patrol_section
from dashboard.review_hotspots import _as_rows, hotspots
from dashboard.review_period import Period, latest_full_week, parse_period, period_of
from dashboard.review_standards import coverage_gaps, reach_table, response_standard
from gis import settings
from gis._errors import ReportError

# --- periods ---------------------------------------------------------------------------------

def test_iso_week_bounds_are_local_mondays() -> None:
    p = parse_period("2026-W47")
    assert (p.first_day, p.last_day) == (date(2026, 11, 16), date(2026, 11, 22))
    assert p.start.isoformat() == "2026-11-16T00:00:00+08:00"
    assert p.end.isoformat() == "2026-11-23T00:00:00+08:00"
    assert p.previous().label == "2026-W46" and len(p.days) == 7


def test_two_week_period_and_year_boundary() -> None:
    p = parse_period("2026W1", weeks=2)
    assert p.label == "2025-W52-W01"
    assert p.first_day == date(2025, 12, 22) and p.last_day == date(2026, 1, 4)
    assert p.previous().label == "2025-W50-W51"
    assert period_of(date(2026, 1, 1)).label == "2026-W01"
    assert Period(2026, 47).shifted(-47).label == "2025-W52"


@pytest.mark.parametrize("bad", ["2026-47", "W47", "2026-W54", "", "2026-W00"])
def test_bad_week_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ReportError, match="ISO week"):
        parse_period(bad)


# --- fixtures on the demo county -------------------------------------------------------------

@pytest.fixture(scope="module")
def base(demo_engine):
    with demo_engine.connect() as conn:
        return rd.load_base(conn)


@pytest.fixture(scope="module")
def period(demo_engine, base) -> Period:
    with demo_engine.connect() as conn:
        return latest_full_week(conn, base.adcode)


def _sql_count(conn, adcode: str, p: Period, prefix: str | None = None) -> int:
    return int(conn.execute(sa.text(
        "select count(*) from incident where adcode = :a and occurred_at >= :s "
        "and occurred_at < :e and (cast(:p as text) is null or village_code like :p)"),
        {"a": adcode, "s": p.start, "e": p.end, "p": prefix}).scalar_one())


def test_latest_full_week_has_incidents_and_is_over(demo_engine, base, period) -> None:
    with demo_engine.connect() as conn:
        n = _sql_count(conn, base.adcode, period)
        newest = conn.execute(sa.text("select max(occurred_at) from incident")).scalar_one()
    assert n > 0
    assert period.end <= newest or period.last_day <= newest.date()


def test_areas_resolve_with_trail_and_unknown_code_fails(base) -> None:
    town = base.townships.iloc[0]
    village = base.villages[base.villages["township_code"] == town["code"]].iloc[0]
    a = rd.resolve_area(base, village["code"])
    assert a.level == "village" and a.part_level == "group"
    assert [x[1] for x in a.trail] == [base.adcode, town["code"], village["code"]]
    assert rd.resolve_area(base, None).level == "county"
    assert rd.resolve_area(base, town["code"]).name == town["name"]
    with pytest.raises(ReportError, match="620702"):
        rd.resolve_area(base, "620702999")


# --- incidents -------------------------------------------------------------------------------

def test_county_change_matches_sql_counts(demo_engine, base, period) -> None:
    area = rd.resolve_area(base, None)
    with demo_engine.connect() as conn:
        ch = rd.incident_change(conn, base, area, period)
        assert ch.total == _sql_count(conn, base.adcode, period)
        assert ch.total_prev == _sql_count(conn, base.adcode, period.previous())
        per_town = dict(conn.execute(sa.text(
            "select substr(village_code, 1, 9), count(*) from incident where adcode = :a "
            "and occurred_at >= :s and occurred_at < :e and village_code is not null "
            "group by 1"), {"a": base.adcode, "s": period.start, "e": period.end}).all())
    assert ch.by_part["n"].sum() + ch.unlocated == ch.total
    got = dict(zip(ch.by_part["code"], ch.by_part["n"], strict=True))
    assert {k: v for k, v in got.items() if v} == {k: int(v) for k, v in per_town.items()}
    assert ch.daily["n"].sum() == ch.total and ch.daily["n_prev"].sum() == ch.total_prev
    assert ch.by_kind["n"].sum() == ch.total
    assert list(ch.by_part["n"]) == sorted(ch.by_part["n"], reverse=True)
    assert ch.weekly["week"].iloc[-1] == period.label and ch.weekly["n"].iloc[-1] == ch.total
    assert ch.weekly["n"].iloc[-2] == ch.total_prev


def test_township_and_village_change(demo_engine, base, period) -> None:
    town = base.townships.iloc[0]["code"]
    with demo_engine.connect() as conn:
        ch = rd.incident_change(conn, base, rd.resolve_area(base, town), period)
        assert ch.total == _sql_count(conn, base.adcode, period, town + "%")
        n_villages = (base.villages["township_code"] == town).sum()
        assert len(ch.by_part) == n_villages and ch.by_part["n"].sum() == ch.total
        village = ch.by_part.iloc[0]["code"]
        vch = rd.incident_change(conn, base, rd.resolve_area(base, village), period)
    assert vch.total == ch.by_part.iloc[0]["n"]
    assert set(vch.by_part["code"]) == set(base.groups.loc[base.groups["parent_code"] ==
                                                           village, "code"])


# --- hot spots -------------------------------------------------------------------------------

def test_gi_and_emerging_match_the_analyses_called_directly(demo_engine, base, period) -> None:
    from gis.analytics.emerging import emerging_hotspots
    from gis.analytics.hotspots import gi_star

    area = rd.resolve_area(base, None)
    with demo_engine.connect() as conn:
        hot = hotspots(conn, base, area, period)
        rows = pd.DataFrame(conn.execute(sa.text(
            "select village_code as code, occurred_at from incident where adcode = :a "
            "and occurred_at >= :s and occurred_at < :e and village_code is not null"),
            {"a": base.adcode, "s": period.end - pd.Timedelta(weeks=hot.emerging_weeks),
             "e": period.end}).all(), columns=["code", "occurred_at"])
    v = base.villages[["code", "geometry"]].copy()
    now = rows[rows["occurred_at"] >= period.start].groupby("code").size()
    v["count"] = v["code"].map(now).fillna(0).astype(int)
    assert hot.grids["count"].sum() == v["count"].sum() > 0
    gi = gi_star(v, "count")
    assert list(hot.grids["gi_bin"]) == list(gi["gi_bin"])
    em = emerging_hotspots(v[["code", "geometry"]], rows, weeks=hot.emerging_weeks,
                           end=pd.Timestamp(period.end))
    assert list(hot.grids["pattern"]) == list(em["pattern"])
    assert hot.n_hot == int((gi["gi_bin"] > 0).sum()) > 0


def test_township_hotspots_use_group_grids_of_the_township(demo_engine, base, period) -> None:
    town = base.townships.iloc[0]["code"]
    with demo_engine.connect() as conn:
        hot = hotspots(conn, base, rd.resolve_area(base, town), period)
    assert hot.level == 2
    assert set(hot.grids["code"]) == set(base.groups.loc[base.groups["township_code"] == town,
                                                         "code"])


def test_daily_counts_become_the_same_weekly_bins() -> None:
    counts = pd.DataFrame({"code": ["a", "b"], "day": [date(2026, 11, 16), date(2026, 11, 22)],
                           "n": [3, 2]})
    rows = _as_rows(counts)
    assert len(rows) == 5 and list(rows["code"]) == ["a"] * 3 + ["b"] * 2
    assert rows["occurred_at"].dt.hour.eq(12).all()
    assert str(rows["occurred_at"].dt.tz) == settings.WALL_TIMEZONE


# --- response standard and 一村一警一连 --------------------------------------------------------

def test_response_standard_shares_recomputed(demo_engine, base) -> None:
    area = rd.resolve_area(base, None)
    p = rd.parts(base, area)
    with demo_engine.connect() as conn:
        s = response_standard(conn, base, area, dict(zip(p["code"], p["name"], strict=True)),
                              list(p["code"]))
        table = reach_table(conn, base)
    assert s.flags[:2] == ["inside_5km", "inside_10km"]
    villages = table[table["level"] == "village"]
    groups = table[table["level"] == "group"]
    tot = s.total()
    assert tot["units"] == len(base.villages)
    assert tot["inside_5km_units_share"] == pytest.approx(villages["inside_5km"].mean())
    pop = groups["population"].astype(float)
    assert tot["inside_10km_pop_share"] == pytest.approx(
        pop[groups["inside_10km"].astype(bool)].sum() / pop.sum())
    # independent check of one flag: geodesic distance of each village centre to its post
    assert (villages["distance_m"] <= 5000).mean() == pytest.approx(
        tot["inside_5km_units_share"])
    if s.road:
        assert {"meets_10", "meets_20"} <= set(s.flags)
    widest = 10_000.0
    assert set(s.outside["code"]) >= set(villages.loc[villages["distance_m"] > widest, "code"])


def test_coverage_gaps_sum_up(demo_engine, base) -> None:
    from gis.coverage import coverage_for_county

    area = rd.resolve_area(base, None)
    p = rd.parts(base, area)
    with demo_engine.connect() as conn:
        g = coverage_gaps(conn, base, area, dict(zip(p["code"], p["name"], strict=True)),
                          list(p["code"]))
        direct = coverage_for_county(conn, base.adcode).villages
    total = g.by_part.iloc[-1]
    assert total["code"] == "total" and total["villages"] == len(base.villages)
    assert total["gaps"] == int((direct["status"] == "gap").sum()) == len(g.gaps)
    assert g.by_part.iloc[:-1]["gaps"].sum() == total["gaps"]
    assert total["with_officer"] == int((~direct["no_officer"]).sum())


# --- rankings, KPIs, patrols -----------------------------------------------------------------

def test_incident_ranking_matches_sql(demo_engine, base, period) -> None:
    area = rd.resolve_area(base, None)
    with demo_engine.connect() as conn:
        r = incident_ranking(conn, base, area, period, top=5)
        top = conn.execute(sa.text(
            "select village_code, count(*) from incident where adcode = :a and "
            "occurred_at >= :s and occurred_at < :e and village_code is not null "
            "group by 1 order by 2 desc limit 1"),
            {"a": base.adcode, "s": period.start, "e": period.end}).one()
    assert len(r) == 5 and list(r["rank"]) == [1, 2, 3, 4, 5]
    assert r["n"].iloc[0] == top[1]
    assert list(r["n"]) == sorted(r["n"], reverse=True)
    pop = base.villages.set_index("code")["population"]
    row = r.iloc[0]
    assert row["per_10k"] == pytest.approx(row["n"] / pop[row["code"]] * 1e4)


def test_optional_sections_never_raise(demo_engine, base, period) -> None:
    area = rd.resolve_area(base, base.townships.iloc[0]["code"])
    with demo_engine.connect() as conn:
        k = kpi_section(conn, base, area, period)
        pt = patrol_section(conn, base, area, period)
    assert k.available or k.note
    if k.available:
        assert set(k.table["code"]) == set(base.villages.loc[
            base.villages["township_code"] == area.code, "code"])
        if "incidents" in k.table:
            with demo_engine.connect() as conn:
                assert int(k.table["incidents"].sum()) == _sql_count(
                    conn, base.adcode, period, area.code + "%")
    assert pt.available or pt.note
    assert np.all([w["week"] == period.label for w in pt.weeks]) if pt.weeks else True
