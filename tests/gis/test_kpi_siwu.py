"""四无 villages on the hand-made scenario: one village fails each criterion."""

from __future__ import annotations

import pandas as pd
import pytest

from gis import settings
from gis._errors import KpiError
from gis.kpi.period import parse_period
from gis.kpi.siwu import CRITERIA, siwu_summary, siwu_villages
from tests.gis.test_kpi_scenario import T2, V, scenario  # noqa: F401

NOV = parse_period("2026-11")


def _check(engine, period=NOV, area=None) -> pd.DataFrame:
    with engine.connect() as conn:
        return siwu_villages(conn, period, area).set_index("code")


def test_each_criterion_fails_one_village(scenario) -> None:  # noqa: F811
    engine, ids = scenario
    t = _check(engine)
    # A: four disputes handled in the village; B: p1 first dispatched to the county;
    # C: k1 criminal; D: e2 escalated to the county; E: s1 public security;
    # F: p2 climbed village -> township -> county (not 越级), x1 is October; G: x2 is December
    assert t["reasons"].to_dict() == {V["A"]: "", V["B"]: "skip_petition", V["C"]: "criminal",
                                      V["D"]: "major_dispute", V["E"]: "public_security",
                                      V["F"]: "", V["G"]: ""}
    assert list(t.index[t["siwu"]]) == [V["A"], V["F"], V["G"]]
    assert t.loc[V["B"], "skip_petition_ids"] == [ids["p1"]]
    assert t.loc[V["C"], "criminal_ids"] == [ids["k1"]]
    assert t.loc[V["D"], "major_dispute_ids"] == [ids["e2"]]
    assert t.loc[V["E"], "public_security"] == 1
    assert t.loc[V["A"], "criminal_ids"] == []
    assert t.loc[V["C"], "name"] == "丙村" and t.loc[V["C"], "township_name"] == "乙镇"
    assert siwu_summary(t.reset_index()) == {
        "villages": 7, "siwu": 3, "failing": 4, "criminal": 1, "public_security": 1,
        "major_dispute": 1, "skip_petition": 1}


def test_period_decides(scenario) -> None:  # noqa: F811
    engine, ids = scenario
    t = _check(engine, parse_period("2026-10-31:2026-11-30"))
    assert t.loc[V["F"], "reasons"] == "criminal" and t.loc[V["F"], "criminal_ids"] == [ids["x1"]]
    dec = _check(engine, parse_period("2026-12"))
    assert list(dec.index[~dec["siwu"]]) == [V["G"]]


def test_area(scenario) -> None:  # noqa: F811
    engine, _ = scenario
    t = _check(engine, area=T2)
    assert list(t.index) == [V[k] for k in "CDEFG"]


def test_major_dispute_level_setting(scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, ids = scenario
    monkeypatch.setattr(settings, "SIWU_MAJOR_DISPUTE_LEVEL", "township")
    t = _check(engine)
    # e1 went to the township: B now fails twice, in the order of the goal
    assert t.loc[V["B"], "reasons"] == "major_dispute,skip_petition"
    assert t.loc[V["B"], "major_dispute_ids"] == [ids["e1"]]
    monkeypatch.setattr(settings, "SIWU_MAJOR_DISPUTE_LEVEL", "province")
    with pytest.raises(KpiError, match="SIWU_MAJOR_DISPUTE_LEVEL"):
        _check(engine)


def test_major_dispute_by_reports(scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, ids = scenario
    monkeypatch.setattr(settings, "SIWU_MAJOR_DISPUTE_MIN_REPORTS", 3)
    t = _check(engine)
    assert t.loc[V["A"], "major_dispute_ids"] == [ids["d1"]]  # three callers
    monkeypatch.setattr(settings, "SIWU_MAJOR_DISPUTE_MIN_REPORTS", 4)
    assert _check(engine).loc[V["A"], "siwu"]


def test_skip_sources(scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, ids = scenario
    monkeypatch.setattr(settings, "SIWU_SKIP_SOURCES", ("county-letters",))
    t = _check(engine)
    assert t.loc[V["F"], "skip_petition_ids"] == [ids["p2"]]
    monkeypatch.setattr(settings, "SIWU_SKIP_LEVEL", "township")
    monkeypatch.setattr(settings, "SIWU_SKIP_SOURCES", ())
    t = _check(engine)
    # p2's first step was an escalation: still not a skip at any threshold
    assert t.loc[V["F"], "siwu"] and t.loc[V["B"], "skip_petition"] == 1


def test_criminal_kinds_setting(scenario, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    engine, _ = scenario
    monkeypatch.setattr(settings, "SIWU_CRIMINAL_KINDS", ("criminal", "fire"))
    t = _check(engine)
    assert t.loc[V["C"], "criminal"] == 3  # k1, h1, h2
    assert set(CRITERIA) == {"criminal", "public_security", "major_dispute", "skip_petition"}
