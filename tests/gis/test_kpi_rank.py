"""Rankings on the hand-made scenario: scores computed by hand from the village rates."""

from __future__ import annotations

import pandas as pd
import pytest

from gis import settings
from gis._errors import KpiError
from gis.kpi.period import parse_period
from gis.kpi.rankings import check_weights, rank_table, rank_units
from tests.gis.test_kpi_scenario import T1, T2, V, scenario  # noqa: F401

NOV = parse_period("2026-11")


def _rank(engine, level: str, **kw) -> pd.DataFrame:
    with engine.connect() as conn:
        return rank_units(conn, NOV, level, **kw)


def test_village_composite_scores(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    t = _rank(engine, "village", min_base=1)
    s = t.set_index("code")["score"]
    # weights 0.2 on time, 0.2 fulfilment, 0.2 satisfaction, 0.15 mediation, 0.15 on site,
    # 0.1 eventual; A: .2*.75 + .2*.8 + .2*.75 + .15*.5 + .15*.5 + .1*.5 = .66
    assert s[V["A"]] == pytest.approx(66.0)
    # B: 0 + .2*.5 + .2 + .15 + 0 + .1 = .55
    assert s[V["B"]] == pytest.approx(55.0)
    # C has no disputes: (.2*2/3 + .2 + .2) / .6
    assert s[V["C"]] == pytest.approx(100 * (0.2 * 2 / 3 + 0.4) / 0.6)
    # D: 0 + .2 + .2 + .15 + 0 + .1
    assert s[V["D"]] == pytest.approx(65.0)
    assert s[V["E"]] == 0.0 and s[V["F"]] == 0.0  # only fulfilment 0/1
    assert pd.isna(s[V["G"]])
    assert list(t["code"]) == [V["C"], V["A"], V["D"], V["B"], V["E"], V["F"], V["G"]]
    assert list(t["rank"].astype("Float64").fillna(-1)) == [1, 2, 3, 4, 5, 5, -1]
    assert t.set_index("code").loc[V["C"], "score_rates"] == 3


def test_single_kpi_ranks(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    t = _rank(engine, "village", min_base=1).set_index("code")
    # on time: A .75, C .667, B 0, D 0; E F G have no resolved incident
    assert t["rank_on_time_rate"].astype("Float64").fillna(-1).to_dict() == {
        V["A"]: 1, V["C"]: 2, V["B"]: 3, V["D"]: 3, V["E"]: -1, V["F"]: -1, V["G"]: -1}
    # escalations, fewer is better: A C E G 0, B 1, D F 2
    assert t["rank_escalations"].to_dict() == {V["A"]: 1, V["C"]: 1, V["E"]: 1, V["G"]: 1,
                                               V["B"]: 5, V["D"]: 6, V["F"]: 6}


def test_min_base_leaves_small_rates_out(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    t = _rank(engine, "village", min_base=5)
    # only A's fulfilment rate rests on 5 incidents: 4/5
    assert t.loc[0, "code"] == V["A"] and t.loc[0, "score"] == pytest.approx(80.0)
    assert t["score"].notna().sum() == 1 and t["rank"].notna().sum() == 1


def test_township_ranking(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    t = _rank(engine, "township", min_base=1)
    # T1: .2*.6 + .2*5/7 + .2*.8 + .15*.6 + .15*.4 + .1*2/3
    # T2: .2*.5 + .2*4/6 + .2*1 + .15*1 + 0 + .1*1
    t1 = 100 * (0.12 + 0.2 * 5 / 7 + 0.16 + 0.09 + 0.06 + 0.1 * 2 / 3)
    t2 = 100 * (0.1 + 0.2 * 4 / 6 + 0.2 + 0.15 + 0.1)
    assert list(t["code"]) == [T2, T1]
    assert list(t["score"]) == pytest.approx([t2, t1])


def test_weights(scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, _ = scenario
    # satisfaction alone: C 2/2, D 1/1, B 1/1 share rank 1; A 3/4 is 4th
    t = _rank(engine, "village", weights={"satisfaction_rate": 3}, min_base=1)
    assert list(t["code"][:4]) == [V["B"], V["C"], V["D"], V["A"]]
    assert list(t["rank"][:4]) == [1, 1, 1, 4]
    assert check_weights({"on_time_rate": 1, "fulfilment_rate": 3}) == {
        "on_time_rate": 0.25, "fulfilment_rate": 0.75}
    for bad, msg in (({"speed": 1}, "unknown rate"), ({"on_time_rate": -1}, "0 or more"),
                     ({"on_time_rate": 0}, "all 0")):
        with pytest.raises(KpiError, match=msg):
            check_weights(bad)
    monkeypatch.setattr(settings, "KPI_RANK_WEIGHTS", {"fulfilment_rate": 1.0})
    monkeypatch.setattr(settings, "KPI_RANK_MIN_BASE", 1)
    t = _rank(engine, "village")
    assert t.loc[0, "score"] == pytest.approx(100.0) and t.attrs["min_base"] == 1


def test_rank_table_on_a_frame() -> None:
    frame = pd.DataFrame({"code": ["x", "y", "z"]})
    for k in ("on_time_rate", "fulfilment_rate", "satisfaction_rate", "mediation_success_rate",
              "onsite_mediation_rate", "eventual_closure_rate"):
        frame[k] = [0.5, 0.9, 0.9]
        frame[f"{k}_den"] = [10, 10, 10]
    frame["escalations"] = [0, 3, 1]
    frame["med_to_resolve_min"] = [10.0, 5.0, float("nan")]
    t = rank_table(frame)
    assert list(t["code"]) == ["y", "z", "x"] and list(t["rank"]) == [1, 1, 3]
    assert t.set_index("code")["rank_med_to_resolve_min"].astype("Float64").fillna(-1).to_dict() \
        == {"y": 1, "x": 2, "z": -1}
