"""KPIs on the hand-made scenario (tests/gis/test_kpi_scenario.py): every figure below is
computed by hand from the scenario's table, in the comments."""

from __future__ import annotations

import pandas as pd
import pytest

from gis import settings
from gis._errors import KpiError
from gis.kpi import definitions as d
from gis.kpi.compute import facts_frame, kpi_table, records, units
from gis.kpi.period import parse_period
from layers.i18n import TABLE
from tests.gis.test_kpi_scenario import COUNTY, T1, T2, G, V, scenario  # noqa: F401

NOV = parse_period("2026-11")


@pytest.fixture(scope="module")
def tables(scenario) -> dict[str, pd.DataFrame]:  # noqa: F811
    engine, _ = scenario
    with engine.connect() as conn:
        return {lv: kpi_table(conn, NOV, lv).set_index("code")
                for lv in ("group", "village", "township", "county")}


def rate(table: pd.DataFrame, code: str, key: str) -> tuple[int, int]:
    return int(table.loc[code, f"{key}_num"]), int(table.loc[code, f"{key}_den"])


# --- incidents by kind --------------------------------------------------------------------

def test_incidents_by_kind(tables: dict[str, pd.DataFrame]) -> None:
    county = tables["county"].loc[COUNTY]
    # Nov: d1-d4, e1, e2 (6 disputes), c1, o1, p1, p2, k1, h1, h2, s1 = 14; x1, x2 outside
    assert county["incidents"] == 14
    assert (county["n_dispute"], county["n_citizen_request"], county["n_petition"],
            county["n_criminal"], county["n_fire"], county["n_public_security"],
            county["n_other"]) == (6, 2, 2, 1, 2, 1, 0)
    v = tables["village"]
    assert v["incidents"].to_dict() == {V["A"]: 5, V["B"]: 2, V["C"]: 3, V["D"]: 1, V["E"]: 1,
                                        V["F"]: 1, V["G"]: 0}
    # c1 at 00:05 on Nov 1 in Shanghai (Oct 31 in UTC) is in November
    assert tables["group"].loc[G["A1"], "n_citizen_request"] == 1
    assert tables["township"]["incidents"].to_dict() == {T1: 7, T2: 6}
    # o1 has no village: county only
    assert tables["village"].attrs["unassigned"] == 1
    assert tables["county"].attrs["unassigned"] == 0


# --- rates --------------------------------------------------------------------------------

def test_on_time_rate(tables: dict[str, pd.DataFrame]) -> None:
    # resolved: d1 d2 d3 c1 e1 k1 h1 h2 e2; late: d2 (dispatch after 2 h), e1 and e2
    # (escalated), h1 (no trail, 30 h > 0.5 + 0.5 + 24 h)
    assert rate(tables["county"], COUNTY, "on_time_rate") == (5, 9)
    assert tables["county"].loc[COUNTY, "on_time_rate"] == pytest.approx(5 / 9)
    v = tables["village"]
    assert rate(v, V["A"], "on_time_rate") == (3, 4)  # d1 d3 c1 of d1 d2 d3 c1
    assert rate(v, V["B"], "on_time_rate") == (0, 1)
    assert rate(v, V["C"], "on_time_rate") == (2, 3)  # k1 h2 of k1 h1 h2
    assert rate(v, V["E"], "on_time_rate") == (0, 0)
    assert pd.isna(v.loc[V["E"], "on_time_rate"]) and v.loc[V["E"], "on_time_rate_pass"] is None
    assert rate(tables["township"], T1, "on_time_rate") == (3, 5)
    assert rate(tables["group"], G["A2"], "on_time_rate") == (1, 1)  # d3 (d4 is reopened)


def test_fulfilment_rate(tables: dict[str, pd.DataFrame]) -> None:
    # not resolved: d4 (reopened), p1, p2, s1 (in progress), o1 (received)
    assert rate(tables["county"], COUNTY, "fulfilment_rate") == (9, 14)
    v = tables["village"]
    assert rate(v, V["A"], "fulfilment_rate") == (4, 5)
    assert rate(v, V["B"], "fulfilment_rate") == (1, 2)
    assert rate(v, V["F"], "fulfilment_rate") == (0, 1)
    assert rate(v, V["G"], "fulfilment_rate") == (0, 0)
    assert rate(tables["township"], T2, "fulfilment_rate") == (4, 6)


def test_satisfaction_rate(tables: dict[str, pd.DataFrame]) -> None:
    # answered: d1 s, d2 basically, d3 unsatisfied, c1 s, e1 s, k1 s, h1 s, e2 s (h2, d4: none)
    assert rate(tables["county"], COUNTY, "satisfaction_rate") == (7, 8)
    assert rate(tables["village"], V["A"], "satisfaction_rate") == (3, 4)
    assert rate(tables["village"], V["C"], "satisfaction_rate") == (2, 2)


def test_mediation_success_rate(tables: dict[str, pd.DataFrame]) -> None:
    # mediated: d1 d2 d3 d4 (resolved once, then reopened) e1 e2; failed: d3 (调解不成 +
    # unsatisfied), d4 (reopened)
    assert rate(tables["county"], COUNTY, "mediation_success_rate") == (4, 6)
    assert rate(tables["village"], V["A"], "mediation_success_rate") == (2, 4)
    assert rate(tables["village"], V["D"], "mediation_success_rate") == (1, 1)
    assert rate(tables["village"], V["C"], "mediation_success_rate") == (0, 0)


def test_mediation_failure_marker_alone(scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, _ = scenario
    # without markers d3 still fails (unsatisfied); with "调解成功" as a failure marker d2
    # and e1 fail too (their feedback), and e2 ("调解成功，达成协议")
    monkeypatch.setattr(settings, "MEDIATION_FAILURE_MARKERS", ("调解成功",))
    with engine.connect() as conn:
        t = kpi_table(conn, NOV, "county").set_index("code")
    assert rate(t, COUNTY, "mediation_success_rate") == (1, 6)  # d1 only


def test_onsite_mediation_rate(tables: dict[str, pd.DataFrame]) -> None:
    # settled in the village: d1, d2 (e1, e2 escalated; d3, d4 failed) of 6 disputes
    assert rate(tables["county"], COUNTY, "onsite_mediation_rate") == (2, 6)
    assert rate(tables["village"], V["A"], "onsite_mediation_rate") == (2, 4)
    assert rate(tables["village"], V["B"], "onsite_mediation_rate") == (0, 1)
    assert rate(tables["group"], G["A1"], "onsite_mediation_rate") == (2, 2)


def test_eventual_closure_rate(tables: dict[str, pd.DataFrame]) -> None:
    # not settled on site: d3 d4 e1 e2; concluded now: d3 e1 e2 (d4 reopened)
    assert rate(tables["county"], COUNTY, "eventual_closure_rate") == (3, 4)
    assert rate(tables["village"], V["A"], "eventual_closure_rate") == (1, 2)
    assert rate(tables["township"], T1, "eventual_closure_rate") == (2, 3)
    assert rate(tables["township"], T2, "eventual_closure_rate") == (1, 1)


def test_escalations(tables: dict[str, pd.DataFrame]) -> None:
    # e1 once, e2 twice, p2 twice
    assert tables["county"].loc[COUNTY, "escalations"] == 5
    assert tables["county"].loc[COUNTY, "escalated"] == 3
    assert tables["village"]["escalations"].to_dict() == {
        V["A"]: 0, V["B"]: 1, V["C"]: 0, V["D"]: 2, V["E"]: 0, V["F"]: 2, V["G"]: 0}
    assert tables["township"]["escalations"].to_dict() == {T1: 1, T2: 4}


def test_median_time_per_step(tables: dict[str, pd.DataFrame]) -> None:
    a = tables["village"].loc[V["A"]]
    # received -> dispatch: d1 30, d2 180, d3 60, d4 90, c1 60 min
    assert a["med_received_min"] == pytest.approx(60)
    # dispatched -> accept: 60 each
    assert a["med_dispatched_min"] == pytest.approx(60)
    # in progress -> resolve: 1440, 600, 300, 300, 600
    assert a["med_in_progress_min"] == pytest.approx(600)
    # resolved -> follow up / reopen: d1 1440, d2 300, d3 120, d4 1440, c1 60
    assert a["med_resolved_min"] == pytest.approx(300)
    # followed up -> close: d1 120, d3 60, c1 60
    assert a["med_followed_up_min"] == pytest.approx(60)
    assert pd.isna(a["med_reopened_min"])  # d4 has not left 'reopened'
    # report -> resolved_at: d1 25.5 h, d2 14 h, d3 7 h, c1 12 h -> (720 + 840) / 2
    assert a["med_to_resolve_min"] == pytest.approx(780)
    # report -> closed_at: d1 51.5 h, d3 10 h, c1 14 h
    assert a["med_to_close_min"] == pytest.approx(840)
    t2 = tables["township"].loc[T2]
    # k1 48.3 h, h1 30 h, h2 10 h, e2 5.5 + 0.1 + 0.4 + 24 = 30 h (no trail counts too)
    assert t2["med_to_resolve_min"] == pytest.approx(1800)
    # e1 in B: received 3.5 h (escalated at 2.5 h: the stay runs until the dispatch)
    assert tables["village"].loc[V["B"], "med_received_min"] == pytest.approx(
        (210 + 120) / 2)  # e1 210 min, p1 120 min
    assert pd.isna(tables["village"].loc[V["G"], "med_received_min"])


# --- targets and pass flags ---------------------------------------------------------------

def test_pass_flags_follow_targets(tables: dict[str, pd.DataFrame], scenario,  # noqa: F811
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    c = tables["county"].loc[COUNTY]
    assert c["mediation_success_rate_pass"] is False      # 4/6 < 96 %
    assert c["satisfaction_rate_pass"] is False           # 7/8 < 90 %
    assert tables["village"].loc[V["C"], "satisfaction_rate_pass"] is True  # 2/2
    engine, _ = scenario
    monkeypatch.setattr(settings, "MEDIATION_SUCCESS_TARGET", 4 / 6)  # exactly met
    monkeypatch.setattr(settings, "KPI_SATISFACTION_TARGET", None)
    monkeypatch.setattr(settings, "ONSITE_MEDIATION_TARGET", 0.5)
    with engine.connect() as conn:
        t = kpi_table(conn, NOV, "village").set_index("code")
        c2 = kpi_table(conn, NOV, "county").set_index("code").loc[COUNTY]
    assert c2["mediation_success_rate_pass"] is True
    assert c2["satisfaction_rate_pass"] is None
    assert t.loc[V["A"], "onsite_mediation_rate_pass"] is True   # 2/4 = 50 %
    assert t.loc[V["B"], "onsite_mediation_rate_pass"] is False  # 0/1
    monkeypatch.setattr(settings, "MEDIATION_SUCCESS_TARGET", 1.5)
    with engine.connect() as conn, pytest.raises(KpiError, match="MEDIATION_SUCCESS_TARGET"):
        kpi_table(conn, NOV, "county")


def test_targets_from_seeds() -> None:
    assert settings.MEDIATION_SUCCESS_TARGET == 0.96
    assert settings.EVENTUAL_CLOSURE_TARGET == 0.99
    assert settings.ONSITE_MEDIATION_TARGET == 0.58


# --- units, areas, periods ----------------------------------------------------------------

def test_every_unit_is_a_row_with_names(tables: dict[str, pd.DataFrame]) -> None:
    v = tables["village"]
    assert list(v.index) == sorted(V.values())
    assert v.loc[V["G"], "name"] == "庚村" and v.loc[V["G"], "parent_name"] == "乙镇"
    assert v.loc[V["G"], "incidents"] == 0
    g = tables["group"]
    assert set(g.index) == set(G.values())
    assert g.loc[G["A2"], "name"] == "A2组" and g.loc[G["A2"], "parent_name"] == "甲村"
    assert tables["township"].loc[T1, "parent_name"] == "测试县"
    # the county row adds up its townships plus the incident without a village
    assert tables["county"].loc[COUNTY, "incidents"] == \
        tables["township"]["incidents"].sum() + 1


def test_area_restricts_units_and_incidents(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    with engine.connect() as conn:
        t1 = kpi_table(conn, NOV, "village", area=T1).set_index("code")
        a = kpi_table(conn, NOV, "group", area=V["A"]).set_index("code")
        county = kpi_table(conn, NOV, "county", area=T2).set_index("code")
        with pytest.raises(KpiError, match="not the code of a county"):
            kpi_table(conn, NOV, "village", area="123")
        with pytest.raises(KpiError, match="level 'hamlet' is unknown"):
            kpi_table(conn, NOV, "hamlet")
        grid = kpi_table(conn, NOV, "grid", area=V["A"])
    assert list(t1.index) == [V["A"], V["B"]]
    assert list(a.index) == [G["A1"], G["A2"]] and a["incidents"].sum() == 5
    assert county.loc[COUNTY, "incidents"] == 6  # T2's incidents only, under the county
    assert county.loc[COUNTY, "name"] == "测试县" and len(county) == 1
    assert grid.attrs["level"] == "group"
    with engine.connect() as conn:
        town = kpi_table(conn, NOV, "township", area=G["A2"]).set_index("code")
    assert list(town.index) == [T1] and town.loc[T1, "name"] == "甲镇"
    assert rate(town, T1, "mediation_success_rate") == (0, 2)  # d3, d4 of group A2


def test_period_boundaries(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    with engine.connect() as conn:
        wide = kpi_table(conn, parse_period("2026-10-31:2026-12-01"), "county")
        oct31 = kpi_table(conn, parse_period("2026-10-31"), "village").set_index("code")
        w45 = kpi_table(conn, parse_period("2026-W45"), "village").set_index("code")
    assert wide.loc[0, "incidents"] == 16  # x1 and x2 too
    assert oct31["incidents"].sum() == 1 and oct31.loc[V["F"], "n_criminal"] == 1
    # ISO week 45 = Nov 2-8: d1 d2 d3 d4 (c1 is Nov 1, in week 44)
    assert w45["incidents"].sum() == 4 and w45.loc[V["A"], "incidents"] == 4


def test_facts_frame_matches_the_table(scenario, tables: dict[str, pd.DataFrame]) -> None:  # noqa: F811
    engine, ids = scenario
    with engine.connect() as conn:
        f = facts_frame(conn, NOV).set_index("id")
    assert len(f) == 14
    assert f.loc[ids["d4"], "mediated"] and not f.loc[ids["d4"], "mediation_ok"]
    assert f.loc[ids["p1"], "first_pos"] == 3 and f.loc[ids["p2"], "first_pos"] == 1
    assert f.loc[ids["d1"], "n_reports"] == 3
    assert f["on_time"].sum() == tables["county"].loc[COUNTY, "on_time_rate_num"]


def test_units_of_a_level(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    with engine.connect() as conn:
        u = units(conn, "village", NOV.last, area=T2)
        before = units(conn, "group", parse_period("2025-12").last)
    assert list(u["code"]) == [V[k] for k in "CDEFG"]
    assert len(before) == 0  # no grid version was in force in 2025


# --- the catalogue ------------------------------------------------------------------------

def test_every_kpi_is_defined_and_labelled(tables: dict[str, pd.DataFrame]) -> None:
    defs = d.definitions()
    cols = set(tables["county"].columns)
    for k in d.registry():
        assert len(defs[k.key]) > 30, k.key  # a real definition, not a stub
        assert k.key in cols
        assert d.label_key(k.key) in TABLE, k.key
        if k.kind == "rate":
            assert {f"{k.key}_num", f"{k.key}_den", f"{k.key}_pass"} <= cols
            assert k.target_value is not None
    assert d.label_key("n_dispute") == "kind.dispute"
    assert d.label_key("on_time_rate_pass") == "kpi.on_time_rate"
    assert "96 %" in defs["mediation_success_rate"]


def test_records_are_json_ready(tables: dict[str, pd.DataFrame]) -> None:
    import json

    recs = records(tables["village"].reset_index())
    g = next(r for r in recs if r["code"] == V["G"])
    assert g["on_time_rate"] is None and g["incidents"] == 0
    json.dumps(recs, ensure_ascii=False)  # no NaN, no numpy types


def test_wall_on_time_rate_is_the_kpi(scenario) -> None:  # noqa: F811
    from datetime import datetime, timedelta

    from gis.incidents import stats
    from tests.gis.test_kpi_scenario import CST

    engine, _ = scenario
    now = datetime(2026, 12, 1, tzinfo=CST)
    with engine.connect() as conn:
        wall = stats.window_rates(conn, now, COUNTY, window_days=30)
        kpi = kpi_table(conn, (now - timedelta(days=30), now), "county").set_index("code")
    assert (wall["on_time"], wall["resolved"]) == rate(kpi, COUNTY, "on_time_rate") == (5, 9)
    assert (wall["satisfied"], wall["answered"]) == rate(kpi, COUNTY, "satisfaction_rate")


def test_period_without_incidents(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    with engine.connect() as conn:
        t = kpi_table(conn, parse_period("2026-Q1"), "village")
    assert len(t) == 7 and (t["incidents"] == 0).all() and (t["escalations"] == 0).all()
    assert t["on_time_rate"].isna().all() and t["med_to_resolve_min"].isna().all()
    assert set(t["mediation_success_rate_pass"]) == {None}


def test_catalogue_follows_settings(scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, _ = scenario
    kinds = {k: v for k, v in settings.INCIDENT_KINDS.items() if k != "fire"}
    monkeypatch.setattr(settings, "INCIDENT_KINDS", kinds | {"o'dd-kind": "怪"})
    with engine.connect() as conn:
        t = kpi_table(conn, NOV, "village").set_index("code")
    assert "n_fire" not in t.columns and t.loc[V["C"], "n_other"] == 2  # h1, h2
    assert t["n_o'dd-kind"].sum() == 0
