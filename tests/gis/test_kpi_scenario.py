"""The hand-made KPI scenario: a tiny county whose incidents go through the real workflow
API (and the real scheduler for escalations), so every KPI can be computed by hand.

Used by ``tests/gis/test_kpi.py`` and ``tests/dashboard/test_cli_kpi.py`` (each builds its
own fresh database with :func:`scenario_db`). The tests here check the scenario's premises —
the statuses and escalations the hand computations start from.

Territory (county 990901 测试县)::

    T1 990901101 甲镇: A 990901101201 (groups A1 …001, A2 …002), B 990901101202 (B1)
    T2 990901102 乙镇: C …201, D …202, E …203, F …204, G …205 (one group …001 each)

Incidents (times Asia/Shanghai, period 2026-11 unless noted; h = hours after the previous
step; limits of settings.WORKFLOW_LIMITS_H):

====  ===============  =====  ===================================================================
name  kind             group  story
====  ===============  =====  ===================================================================
d1    dispute          A1     dispatch village 0.5h, accept 1h, resolve 24h, satisfied 24h,
                              close 2h — on time, settled on site; 3 reports
d2    dispute          A1     dispatch 3h (> 2h limit: late), accept 1h, resolve 10h, basically 5h
d3    dispute          A2     1h, 1h, resolve 5h "调解不成，已引导诉讼", unsatisfied 2h, close 1h
d4    dispute          A2     1.5h, 1h, resolve 5h, reopen 24h (open again)
c1    citizen_request  A1     11-01 00:05 (Oct 31 in UTC): 1h, 1h, 10h, satisfied 1h, close 1h
e1    dispute          B1     scheduler escalates to township (1), dispatched to a township
                              department, resolved, satisfied, closed
p1    petition         B1     first dispatched to a county department (越级), accepted
k1    criminal         C1     police post 0.1h, accept 0.2h, resolve 48h, satisfied, closed
h1    fire             C1     imported, no trail: resolved after 30 h (> 25 h: late), closed,
                              satisfied
h2    fire             C1     imported, no trail: resolved after 10 h, closed, no answer
e2    dispute          D1     scheduler escalates to township and county (2), county
                              department, resolved, satisfied, closed (major dispute)
s1    public_security  E1     police post, accepted (open)
p2    petition         F1     source "county-letters"; scheduler escalates twice, then a county
                              department takes it (climbed the ladder: not 越级)
o1    citizen_request  —      no village (outside the grids), received only
x1    criminal         F1     2026-10-31 23:30 (before the period), closed, no trail
x2    criminal         G1     2026-12-01 00:10 (after the period), received
====  ===============  =====  ===================================================================
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gis.grids.versions import publish_simple
from gis.incidents.escalation import run_escalation
from gis.incidents.workflow import transition
from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database

CST = timezone(timedelta(hours=8))
H = timedelta(hours=1)
COUNTY = "990901"
T1, T2 = "990901101", "990901102"
V = {"A": "990901101201", "B": "990901101202", "C": "990901102201", "D": "990901102202",
     "E": "990901102203", "F": "990901102204", "G": "990901102205"}
"""Village codes."""
G = {"A1": V["A"] + "001", "A2": V["A"] + "002"} | {f"{k}1": v + "001" for k, v in V.items()
                                                   if k != "A"}
"""Group codes."""
NAMES = {COUNTY: "测试县", T1: "甲镇", T2: "乙镇", V["A"]: "甲村", V["B"]: "乙村",
         V["C"]: "丙村", V["D"]: "丁村", V["E"]: "戊村", V["F"]: "己村", V["G"]: "庚村"}
T_ESC = datetime(2026, 11, 10, 8, 0, tzinfo=CST)
"""Report time of the incidents escalated by the scheduler (e1, e2, p2)."""

UNIT = {"village": {"unit_type": "village_station", "unit_code": "VS", "unit_name": "网格服务站"},
        "township": {"unit_type": "township_department", "unit_code": "TD",
                     "unit_name": "镇综治办"},
        "police": {"unit_type": "police_post", "unit_code": "PP", "unit_name": "派出所"},
        "county": {"unit_type": "county_department", "unit_code": "CD",
                   "unit_name": "县信访局"}}


def _territory(conn: sa.Connection) -> None:
    rows = [(COUNTY, "county", None), (T1, "township", COUNTY), (T2, "township", COUNTY)]
    rows += [(v, "village", T1 if k in "AB" else T2) for k, v in V.items()]
    for code, level, parent in rows:
        conn.execute(sa.text("""
            insert into territory_unit (code, adcode, level, name, parent_code)
            values (:c, :a, :l, :n, :p)"""),
            {"c": code, "a": COUNTY, "l": level, "n": NAMES[code], "p": parent})
    vid = conn.execute(sa.text("""
        insert into grid_version (adcode, name, status, effective_date)
        values (:a, '测试版', 'draft', null) returning id"""),
        {"a": COUNTY}).scalar_one()
    grids = [(1, v, NAMES[v], T1 if k in "AB" else T2, T1 if k in "AB" else T2)
             for k, v in V.items()]
    grids += [(2, g, f"{k}组", g[:12], g[:9]) for k, g in G.items()]
    for i, (level, code, name, parent, township) in enumerate(grids):
        conn.execute(sa.text("""
            insert into grid (version_id, adcode, level, code, name, parent_code,
                              township_code, area_m2, geom)
            values (:v, :a, :l, :c, :n, :p, :t, 1e6,
                    ST_Multi(ST_MakeEnvelope(:x, 39.0, :x + 0.01, 39.01, 4490)))"""),
            {"v": vid, "a": COUNTY, "l": level, "c": code, "n": name, "p": parent,
             "t": township, "x": 100.0 + 0.02 * i})
    publish_simple(conn, vid, date(2026, 1, 1))


def _add(conn: sa.Connection, kind: str, group: str | None, t0: datetime,
         source: str = "test-kpi", **cols: object) -> int:
    """Insert a received incident as intake does (no clock yet); extra columns as given."""
    values = {"a": COUNTY, "src": source, "sid": uuid.uuid4().hex, "kind": kind, "t": t0,
              "v": group[:12] if group else None, "g": group, "status": "received",
              "resolved": None, "closed": None, "sat": None, "feedback": None} | cols
    return conn.execute(sa.text("""
        insert into incident (adcode, source, source_id, kind, occurred_at, reported_at,
                              status, location_flag, village_code, group_code, resolved_at,
                              closed_at, satisfaction, feedback)
        values (:a, :src, :sid, :kind, :t, :t, :status,
                case when cast(:v as text) is null then 'outside' else 'ok' end, :v, :g, :resolved,
                :closed, :sat, :feedback)
        returning id"""), values).scalar_one()


def _walk(conn: sa.Connection, iid: int, at: datetime,
          steps: list[tuple[str, float, dict]]) -> datetime:
    """Apply (action, hours after the previous step, details); return the last time."""
    for action, hours, details in steps:
        at += timedelta(hours=hours)
        transition(conn, iid, action, "tester", at, **details)
    return at


def _done(fb: str, sat: str, close: bool = True) -> list[tuple[str, float, dict]]:
    out = [("resolve", 0, {"feedback": fb}), ("follow_up", 0, {"satisfaction": sat})]
    return out + ([("close", 0, {})] if close else [])


def build(conn: sa.Connection) -> dict[str, int]:
    """Insert the scenario; return incident name -> id."""
    _territory(conn)
    ids: dict[str, int] = {}
    # --- phase 1: only the incidents the scheduler must escalate exist yet ---------------
    ids["e1"] = _add(conn, "dispute", G["B1"], T_ESC)
    ids["e2"] = _add(conn, "dispute", G["D1"], T_ESC)
    ids["p2"] = _add(conn, "petition", G["F1"], T_ESC, source="county-letters")
    run_escalation(conn, T_ESC + 3 * H, adcode=COUNTY)  # e1, e2 -> township
    _walk(conn, ids["e1"], T_ESC + 3 * H, [
        ("dispatch", 0.5, UNIT["township"]), ("accept", 0.5, {}),
        ("resolve", 20, {"feedback": "调解成功"}), ("follow_up", 3, {"satisfaction": "satisfied"}),
        ("close", 1, {})])
    run_escalation(conn, T_ESC + 5.5 * H, adcode=COUNTY)  # e2 -> county
    _walk(conn, ids["e2"], T_ESC + 5.5 * H, [
        ("dispatch", 0.1, UNIT["county"]), ("accept", 0.4, {}),
        ("resolve", 24, {"feedback": "调解成功，达成协议"}),
        ("follow_up", 1, {"satisfaction": "satisfied"}), ("close", 1, {})])
    run_escalation(conn, T_ESC + 61 * H, adcode=COUNTY)  # p2 -> township -> county
    _walk(conn, ids["p2"], T_ESC + 61 * H, [("dispatch", 1, UNIT["county"]), ("accept", 1, {})])

    # --- phase 2: the rest, through the workflow without the scheduler ------------------
    def story(name: str, kind: str, group: str | None, t0: datetime,
              steps: list[tuple[str, float, dict]]) -> None:
        ids[name] = _add(conn, kind, group, t0)
        _walk(conn, ids[name], t0, steps)

    v = UNIT["village"]
    story("d1", "dispute", G["A1"], datetime(2026, 11, 3, 9, tzinfo=CST), [
        ("dispatch", 0.5, v), ("accept", 1, {}), ("resolve", 24, {"feedback": "已调解，双方签字"}),
        ("follow_up", 24, {"satisfaction": "satisfied"}), ("close", 2, {})])
    story("d2", "dispute", G["A1"], datetime(2026, 11, 4, 9, tzinfo=CST), [
        ("dispatch", 3, v), ("accept", 1, {}), ("resolve", 10, {"feedback": "调解成功"}),
        ("follow_up", 5, {"satisfaction": "basically"})])
    story("d3", "dispute", G["A2"], datetime(2026, 11, 5, 9, tzinfo=CST), [
        ("dispatch", 1, v), ("accept", 1, {}),
        ("resolve", 5, {"feedback": "调解不成，已引导诉讼"}),
        ("follow_up", 2, {"satisfaction": "unsatisfied"}), ("close", 1, {})])
    story("d4", "dispute", G["A2"], datetime(2026, 11, 6, 9, tzinfo=CST), [
        ("dispatch", 1.5, v), ("accept", 1, {}), ("resolve", 5, {"feedback": "已调解"}),
        ("reopen", 24, {"reason": "纠纷复发"})])
    story("c1", "citizen_request", G["A1"], datetime(2026, 11, 1, 0, 5, tzinfo=CST), [
        ("dispatch", 1, v), ("accept", 1, {}), ("resolve", 10, {"feedback": "已处理"}),
        ("follow_up", 1, {"satisfaction": "satisfied"}), ("close", 1, {})])
    story("p1", "petition", G["B1"], datetime(2026, 11, 12, 10, tzinfo=CST), [
        ("dispatch", 2, UNIT["county"]), ("accept", 1, {})])
    story("k1", "criminal", G["C1"], datetime(2026, 11, 15, 20, tzinfo=CST), [
        ("dispatch", 0.1, UNIT["police"]), ("accept", 0.2, {}),
        ("resolve", 48, {"feedback": "已立案侦查"}),
        ("follow_up", 2, {"satisfaction": "satisfied"}), ("close", 1, {})])
    story("s1", "public_security", G["E1"], datetime(2026, 11, 20, 22, tzinfo=CST), [
        ("dispatch", 0.1, UNIT["police"]), ("accept", 0.2, {})])
    story("o1", "citizen_request", None, datetime(2026, 11, 21, 10, tzinfo=CST), [])

    # imported history (bulk ingest: final state, no audit trail)
    def imported(name: str, kind: str, group: str, t0: datetime, resolve_h: float,
                 sat: str | None) -> None:
        ids[name] = _add(conn, kind, group, t0, status="closed", resolved=t0 + resolve_h * H,
                         closed=t0 + (resolve_h + 10) * H, sat=sat, feedback="已处置")

    imported("h1", "fire", G["C1"], datetime(2026, 11, 16, 10, tzinfo=CST), 30, "satisfied")
    imported("h2", "fire", G["C1"], datetime(2026, 11, 17, 10, tzinfo=CST), 10, None)
    imported("x1", "criminal", G["F1"], datetime(2026, 10, 31, 23, 30, tzinfo=CST), 5,
             "satisfied")
    ids["x2"] = _add(conn, "criminal", G["G1"], datetime(2026, 12, 1, 0, 10, tzinfo=CST))
    for i in range(3):  # d1 was reported by three callers
        conn.execute(sa.text("""
            insert into incident_report (adcode, incident_id, source, source_id, kind,
                                         occurred_at, location_flag, merged)
            values (:a, :i, 'test-kpi-calls', :sid, 'dispute', :t, 'ok', :m)"""),
            {"a": COUNTY, "i": ids["d1"], "sid": f"d1-call-{i}",
             "t": datetime(2026, 11, 3, 9, tzinfo=CST), "m": i > 0})
    return ids


@contextmanager
def scenario_db() -> Iterator[tuple[str, dict[str, int]]]:
    """A fresh migrated database holding the scenario: (url, ids); dropped afterwards."""
    url = with_database(database_url(),
                        f"wangge_test_kpi_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    engine = connect(url)
    try:
        with engine.begin() as conn:
            ids = build(conn)
        yield url, ids
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def scenario() -> Iterator[tuple[sa.Engine, dict[str, int]]]:
    """(engine, ids) of the scenario database."""
    with scenario_db() as (url, ids):
        yield connect(url), ids


STATUS = {"d1": "closed", "d2": "followed_up", "d3": "closed", "d4": "reopened",
          "c1": "closed", "e1": "closed", "p1": "in_progress", "k1": "closed",
          "h1": "closed", "h2": "closed", "e2": "closed", "s1": "in_progress",
          "p2": "in_progress", "o1": "received", "x1": "closed", "x2": "received"}


def test_scenario_statuses(scenario) -> None:
    engine, ids = scenario
    with engine.connect() as conn:
        got = dict(conn.execute(sa.text("select id, status from incident")).all())
    assert {name: got[i] for name, i in ids.items()} == STATUS


def test_scenario_escalations_and_levels(scenario) -> None:
    engine, ids = scenario
    with engine.connect() as conn:
        esc = dict(conn.execute(sa.text("""
            select incident_id, count(*) from incident_event where kind = 'escalation'
            group by 1""")).all())
        levels = dict(conn.execute(sa.text("select id, level from incident")).all())
        late_d2 = conn.execute(sa.text("""
            select detail ->> 'on_time' from incident_event
            where incident_id = :i and action = 'dispatch'"""), {"i": ids["d2"]}).scalar()
    assert {n: esc.get(i, 0) for n, i in ids.items() if esc.get(i)} == {"e1": 1, "e2": 2,
                                                                        "p2": 2}
    assert levels[ids["e1"]] == "township" and levels[ids["e2"]] == "county"
    assert levels[ids["p1"]] == "county" and levels[ids["d1"]] == "village"
    assert late_d2 == "false"  # dispatched 3 h after the report, limit 2 h
