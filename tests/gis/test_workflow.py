"""Incident workflow: every legal and illegal transition, the append-only audit table, and
the scheduler's reminders / warnings / escalations against a frozen clock.

Each test works on its own county code (99030x) so the scheduler runs can be restricted to it.
"""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gis import settings
from gis._errors import NotFoundError, WorkflowError
from gis.incidents import limits
from gis.incidents.escalation import SCHEDULER, run_escalation, start_clocks
from gis.incidents.workflow import (
    ACTIONS,
    STATES,
    TRANSITIONS,
    allowed_actions,
    history,
    transition,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=CST)
H = timedelta(hours=1)

DETAILS = {
    "dispatch": {"unit_type": "village_station", "unit_code": "620702001001",
                 "unit_name": "陈寨村网格服务站"},
    "accept": {},
    "resolve": {"feedback": "已调解, 双方签字"},
    "follow_up": {"satisfaction": "satisfied"},
    "close": {},
    "reopen": {"reason": "群众反映问题复发"},
}
"""Enough details for each action to be valid."""

PATH = {
    "received": [],
    "dispatched": ["dispatch"],
    "in_progress": ["dispatch", "accept"],
    "resolved": ["dispatch", "accept", "resolve"],
    "followed_up": ["dispatch", "accept", "resolve", "follow_up"],
    "closed": ["dispatch", "accept", "resolve", "follow_up", "close"],
    "reopened": ["dispatch", "accept", "resolve", "reopen"],
}
"""Legal actions that bring a received incident into each state."""


def new_incident(conn: sa.Connection, adcode: str, kind: str = "dispute",
                 reported_at: datetime = T0) -> int:
    """Insert a received incident (as bulk ingest does: no clock yet) and return its id."""
    return conn.execute(sa.text("""
        insert into incident (adcode, source, source_id, kind, occurred_at, reported_at,
                              status, location_flag)
        values (:a, 'test-workflow', :sid, :kind, :t, :t, 'received', 'ok')
        returning id"""), {"a": adcode, "sid": uuid.uuid4().hex, "kind": kind,
                           "t": reported_at}).scalar_one()


def incident_row(conn: sa.Connection, iid: int) -> dict:
    return dict(conn.execute(sa.text("select * from incident where id = :id"),
                             {"id": iid}).mappings().one())


def walk(conn: sa.Connection, iid: int, actions: list[str], start: datetime = T0) -> datetime:
    """Apply ``actions`` one hour apart from ``start``; return the time of the last one."""
    at = start
    for action in actions:
        at += H
        transition(conn, iid, action, "tester", at, **DETAILS[action])
    return at


@pytest.fixture
def short_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """8-hour steps for disputes, reminder at 75 %, escalation 25 % after the limit."""
    monkeypatch.setattr(settings, "WORKFLOW_LIMITS_H", {
        **settings.WORKFLOW_LIMITS_H,
        "dispute": dict.fromkeys(limits.STEPS, 8.0)})
    monkeypatch.setattr(settings, "WORKFLOW_REMINDER_FRACTION", 0.75)
    monkeypatch.setattr(settings, "WORKFLOW_ESCALATION_GRACE_FRACTION", 0.25)
    monkeypatch.setattr(settings, "ESCALATION_LADDER", ("village", "township", "county"))


# --- the state machine --------------------------------------------------------------------

def test_table_is_small_explicit_and_closed() -> None:
    assert set(ACTIONS) == {"dispatch", "accept", "resolve", "follow_up", "close", "reopen"}
    assert {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()) == set(STATES)
    assert allowed_actions("received") == ("dispatch",)
    assert allowed_actions("closed") == ("reopen",)
    assert allowed_actions("reopened") == ("dispatch", "accept")
    for state in STATES:  # every state is reachable by its path, and the path is legal
        status = "received"
        for action in PATH[state]:
            status = TRANSITIONS[(status, action)]
        assert status == state


@pytest.mark.parametrize(("state", "action"), sorted(TRANSITIONS))
def test_legal_transition(engine, state: str, action: str) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        iid = new_incident(conn, "990301")
        at = walk(conn, iid, PATH[state]) + 2 * H
        before = incident_row(conn, iid)
        ev = transition(conn, iid, action, "operator-7", at, **DETAILS[action], note="测试")
        after = incident_row(conn, iid)
        events = history(conn, iid)
    want = TRANSITIONS[(state, action)]
    assert after["status"] == want
    assert after["step_seq"] == before["step_seq"] + 1
    assert after["step_started_at"] == at and after["updated_at"] == at
    assert after["alert_stage"] == 0
    if want == "closed":
        assert after["step_due_at"] is None
    else:
        assert after["step_due_at"] == at + timedelta(
            hours=limits.limit_hours("dispute", want))
    assert ev["kind"] == "transition" and ev["action"] == action
    assert (ev["from_status"], ev["to_status"]) == (state, want)
    assert (ev["actor"], ev["at"], ev["adcode"]) == ("operator-7", at, "990301")
    assert ev["step_seq"] == before["step_seq"]
    assert ev["detail"]["note"] == "测试"
    assert ev["detail"]["on_time"] is (None if state == "closed" else True)
    assert events[-1]["id"] == ev["id"]
    assert [e["action"] for e in events] == [*PATH[state], action]


ILLEGAL = sorted(set(itertools.product(STATES, ACTIONS)) - set(TRANSITIONS))


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_illegal_transition_is_refused_and_changes_nothing(engine, state: str,  # noqa: ANN001
                                                          action: str) -> None:
    with engine.begin() as conn:
        iid = new_incident(conn, "990301")
        at = walk(conn, iid, PATH[state])
    with engine.connect() as conn:
        before = incident_row(conn, iid)
        n_events = len(history(conn, iid))
    allowed = allowed_actions(state)
    with pytest.raises(WorkflowError) as err, engine.begin() as conn:
        transition(conn, iid, action, "operator-7", at + H, **DETAILS[action])
    msg = str(err.value)
    assert f"incident {iid} is '{state}'" in msg
    assert f"'{action}' is not allowed" in msg
    assert f"allowed in '{state}': {', '.join(allowed)}" in msg
    assert (err.value.status, err.value.action, err.value.allowed) == (state, action, allowed)
    with engine.connect() as conn:
        assert incident_row(conn, iid) == before
        assert len(history(conn, iid)) == n_events


def test_unknown_action_lists_the_allowed_ones(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        iid = new_incident(conn, "990301")
    with pytest.raises(WorkflowError, match=r"unknown action 'teleport' is not allowed; "
                                            r"allowed in 'received': dispatch"), \
            engine.begin() as conn:
        transition(conn, iid, "teleport", "x", T0 + H)


@pytest.mark.parametrize(("action", "details", "match"), [
    ("dispatch", {"unit_code": "U1"}, "needs unit_type"),
    ("dispatch", {"unit_type": "army", "unit_code": "U1"}, "unit_type 'army' is unknown"),
    ("dispatch", {**DETAILS["dispatch"], "colour": "red"}, "does not take colour"),
    ("dispatch", {**DETAILS["dispatch"], "level": "province"}, "level 'province' is unknown"),
    ("dispatch", {**DETAILS["dispatch"], "due_at": T0 - H}, "is not after"),
    ("dispatch", {**DETAILS["dispatch"], "due_at": "tomorrow"}, "timezone-aware"),
])
def test_bad_details_are_refused(engine, action: str, details: dict,  # noqa: ANN001
                                 match: str) -> None:
    with engine.begin() as conn:
        iid = new_incident(conn, "990301")
    with pytest.raises(WorkflowError, match=match), engine.begin() as conn:
        transition(conn, iid, action, "x", T0 + H, **details)


def test_follow_up_needs_a_known_satisfaction_and_resolve_feedback(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        iid = new_incident(conn, "990301")
        at = walk(conn, iid, ["dispatch", "accept"])
    with pytest.raises(WorkflowError, match="needs feedback"), engine.begin() as conn:
        transition(conn, iid, "resolve", "x", at + H)
    with engine.begin() as conn:
        transition(conn, iid, "resolve", "x", at + H, feedback="ok")
    with pytest.raises(WorkflowError, match="satisfaction 'happy' is unknown"), \
            engine.begin() as conn:
        transition(conn, iid, "follow_up", "x", at + 2 * H, satisfaction="happy")


def test_time_must_be_aware_and_not_before_the_step(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        iid = new_incident(conn, "990301")
    with pytest.raises(WorkflowError, match="timezone-aware"), engine.begin() as conn:
        transition(conn, iid, "dispatch", "x", datetime(2026, 3, 2, 9), **DETAILS["dispatch"])
    with pytest.raises(WorkflowError, match="before its current step 'received' started"), \
            engine.begin() as conn:
        transition(conn, iid, "dispatch", "x", T0 - H, **DETAILS["dispatch"])
    with pytest.raises(NotFoundError, match="incident -1 does not exist"), \
            engine.begin() as conn:
        transition(conn, -1, "dispatch", "x", T0, **DETAILS["dispatch"])


def test_full_cycle_fills_and_reopen_clears_the_incident(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        iid = new_incident(conn, "990301", kind="petition")
        transition(conn, iid, "dispatch", "centre", T0 + H, unit_type="police_post",
                   unit_code="P-01", unit_name="党寨派出所", due_at=T0 + 5 * H)
        row = incident_row(conn, iid)
        assert (row["unit_type"], row["unit_code"], row["unit_name"], row["level"]) == \
            ("police_post", "P-01", "党寨派出所", "township")
        assert row["step_due_at"] == T0 + 5 * H  # the dispatcher's deadline (限期)
        ev = transition(conn, iid, "accept", "P-01", T0 + 6 * H)
        assert ev["detail"]["on_time"] is False  # accepted after the deadline
        assert datetime.fromisoformat(ev["detail"]["step_due_at"]) == T0 + 5 * H
        transition(conn, iid, "resolve", "P-01", T0 + 7 * H, feedback="已答复")
        transition(conn, iid, "follow_up", "centre", T0 + 8 * H, satisfaction="unsatisfied")
        transition(conn, iid, "close", "centre", T0 + 9 * H)
        row = incident_row(conn, iid)
        assert (row["status"], row["feedback"], row["satisfaction"]) == \
            ("closed", "已答复", "unsatisfied")
        assert (row["resolved_at"], row["closed_at"], row["step_due_at"]) == \
            (T0 + 7 * H, T0 + 9 * H, None)
        transition(conn, iid, "reopen", "centre", T0 + 10 * H, reason="不满意")
        row = incident_row(conn, iid)
        assert row["status"] == "reopened"
        assert (row["feedback"], row["satisfaction"], row["resolved_at"], row["closed_at"]) \
            == (None, None, None, None)
        assert row["step_due_at"] == T0 + 10 * H + 24 * H  # petition: reopened 24 h
        transition(conn, iid, "dispatch", "centre", T0 + 11 * H,
                   unit_type="county_department", unit_code="XF", unit_name="县信访局")
        assert incident_row(conn, iid)["level"] == "county"
        events = history(conn, iid)
    assert [e["to_status"] for e in events] == ["dispatched", "in_progress", "resolved",
                                                "followed_up", "closed", "reopened",
                                                "dispatched"]
    assert [e["step_seq"] for e in events] == list(range(7))


# --- the audit table ----------------------------------------------------------------------

def test_audit_table_refuses_update_delete_and_truncate(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        iid = new_incident(conn, "990301")
        walk(conn, iid, ["dispatch"])
    for sql in ("update incident_event set actor = 'forger' where incident_id = :id",
                "delete from incident_event where incident_id = :id",
                "truncate incident_event"):
        with pytest.raises(sa.exc.DBAPIError, match="incident_event is append-only"), \
                engine.begin() as conn:
            conn.execute(sa.text(sql), {"id": iid})
    with pytest.raises(sa.exc.IntegrityError, match="incident_event"), engine.begin() as conn:
        conn.execute(sa.text("delete from incident where id = :id"), {"id": iid})
    with engine.connect() as conn:
        events = history(conn, iid)
    assert [(e["actor"], e["action"]) for e in events] == [("tester", "dispatch")]


def test_incident_status_is_checked_by_the_database(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        iid = new_incident(conn, "990301")
    with pytest.raises(sa.exc.IntegrityError, match="ck_incident_status"), \
            engine.begin() as conn:
        conn.execute(sa.text("update incident set status = 'lost' where id = :id"),
                     {"id": iid})


# --- limits ------------------------------------------------------------------------------

def test_default_limits_are_documented_values() -> None:
    assert limits.limit_hours("citizen_request", "in_progress") == 120
    assert limits.limit_hours("dispute", "in_progress") == 720
    assert limits.limit_hours("dispute", "received") == 2
    assert limits.limit_hours("fire", "received") == 0.5
    assert limits.limit_hours("petition", "in_progress") == 1440
    assert limits.limit_hours("no_such_kind", "dispatched") == 4  # falls back to default
    assert limits.limit_hours("dispute", "closed") is None
    assert settings.WORKFLOW_REMINDER_FRACTION == 0.8
    assert settings.ESCALATION_LADDER == ("village", "township", "county")
    for kind in settings.INCIDENT_KINDS:
        for step in limits.STEPS:
            assert limits.limit_hours(kind, step) > 0


# --- the scheduler ------------------------------------------------------------------------

def summary(events: list[dict]) -> list[tuple]:
    return [(e["kind"], e["level"], e["step_seq"], e["at"]) for e in events]


CHAIN = [  # 8 h steps, reminder at 6 h, warning at 8 h, escalation at 10 h, from T0
    ("reminder", "village", 0, T0 + 6 * H),
    ("warning", "village", 0, T0 + 8 * H),
    ("escalation", "township", 0, T0 + 10 * H),
    ("reminder", "township", 1, T0 + 16 * H),
    ("warning", "township", 1, T0 + 18 * H),
    ("escalation", "county", 1, T0 + 20 * H),
    ("reminder", "county", 2, T0 + 26 * H),
    ("warning", "county", 2, T0 + 28 * H),
]


@pytest.mark.usefixtures("short_limits")
def test_frozen_clock_step_by_step(engine) -> None:  # noqa: ANN001
    ad = "990302"
    with engine.begin() as conn:
        iid = new_incident(conn, ad)

    def run(hours: float) -> list[tuple]:
        with engine.begin() as conn:
            events = run_escalation(conn, T0 + hours * H, adcode=ad)
        assert all(e["incident_id"] == iid and e["actor"] == SCHEDULER for e in events)
        return summary(events)

    assert run(1) == []  # the clock starts at reported_at, nothing is due yet
    with engine.connect() as conn:
        row = incident_row(conn, iid)
    assert (row["step_started_at"], row["step_due_at"]) == (T0, T0 + 8 * H)
    assert run(5.99) == []
    assert run(6) == CHAIN[0:1]
    assert run(6) == []
    assert run(7.99) == []
    assert run(8) == CHAIN[1:2]
    assert run(9) == []
    assert run(10) == CHAIN[2:3]
    assert run(10) == []
    with engine.connect() as conn:
        row = incident_row(conn, iid)
    assert (row["status"], row["level"], row["step_seq"], row["alert_stage"]) == \
        ("received", "township", 1, 0)
    assert (row["step_started_at"], row["step_due_at"]) == (T0 + 10 * H, T0 + 18 * H)
    assert run(15) == []
    assert run(17) == CHAIN[3:4]
    assert run(19) == CHAIN[4:5]
    assert run(20) == CHAIN[5:6]
    assert run(25.5) == []
    assert run(26) == CHAIN[6:7]
    assert run(28) == CHAIN[7:8]
    assert run(1000) == []  # the top of the ladder: no further escalation
    assert run(12) == []  # an earlier clock adds nothing either
    with engine.connect() as conn:
        events = history(conn, iid)
        row = incident_row(conn, iid)
    assert summary(events) == CHAIN
    esc = events[2]
    assert (esc["from_status"], esc["to_status"]) == ("received", "received")
    assert esc["detail"]["from_level"] == "village" and esc["detail"]["to_level"] == "township"
    assert esc["detail"]["limit_h"] == 8
    assert (row["level"], row["step_seq"], row["alert_stage"]) == ("county", 2, 2)


@pytest.mark.usefixtures("short_limits")
def test_late_run_issues_the_same_chain_at_once(engine) -> None:  # noqa: ANN001
    ad = "990303"
    with engine.begin() as conn:
        iid = new_incident(conn, ad)
        events = run_escalation(conn, T0 + 100 * H, adcode=ad)
    assert summary(events) == CHAIN
    with engine.begin() as conn:
        assert run_escalation(conn, T0 + 100 * H, adcode=ad) == []
        assert run_escalation(conn, T0 + 200 * H, adcode=ad) == []


@pytest.mark.usefixtures("short_limits")
def test_transition_restarts_the_clock_and_dispatch_sets_the_level(engine) -> None:  # noqa: ANN001
    ad = "990304"
    with engine.begin() as conn:
        iid = new_incident(conn, ad)
        transition(conn, iid, "dispatch", "centre", T0, **DETAILS["dispatch"])
        assert summary(run_escalation(conn, T0 + 6 * H, adcode=ad)) == [
            ("reminder", "village", 1, T0 + 6 * H)]
        # accepted before the warning: that step's warning never comes
        transition(conn, iid, "accept", "station", T0 + 7 * H)
        assert run_escalation(conn, T0 + 9 * H, adcode=ad) == []
        assert summary(run_escalation(conn, T0 + 13 * H, adcode=ad)) == [
            ("reminder", "village", 2, T0 + 13 * H)]
        assert summary(run_escalation(conn, T0 + 17 * H, adcode=ad)) == [
            ("warning", "village", 2, T0 + 15 * H),
            ("escalation", "township", 2, T0 + 17 * H)]
        # the township hands it to a township department: a new step at township level
        transition(conn, iid, "dispatch", "township-centre", T0 + 18 * H,
                   unit_type="township_department", unit_code="TD-1")
        assert summary(run_escalation(conn, T0 + 30 * H, adcode=ad)) == [
            ("reminder", "township", 4, T0 + 24 * H),
            ("warning", "township", 4, T0 + 26 * H),
            ("escalation", "county", 4, T0 + 28 * H)]
        transition(conn, iid, "accept", "TD-1", T0 + 31 * H)
        transition(conn, iid, "resolve", "TD-1", T0 + 32 * H, feedback="done")
        transition(conn, iid, "follow_up", "centre", T0 + 33 * H, satisfaction="basically")
        transition(conn, iid, "close", "centre", T0 + 34 * H)
        assert run_escalation(conn, T0 + 1000 * H, adcode=ad) == []  # closed: no clock
        kinds = [(e["kind"], e["action"]) for e in history(conn, iid)]
    assert kinds == [("transition", "dispatch"), ("reminder", None),
                     ("transition", "accept"), ("reminder", None), ("warning", None),
                     ("escalation", None), ("transition", "dispatch"), ("reminder", None),
                     ("warning", None), ("escalation", None), ("transition", "accept"),
                     ("transition", "resolve"), ("transition", "follow_up"),
                     ("transition", "close")]


def test_default_settings_chain(engine) -> None:  # noqa: ANN001
    """With the shipped defaults a dispute waiting for dispatch (2 h): reminder at 1 h 36 min,
    warning at 2 h, escalation at 2 h 30 min."""
    ad = "990305"
    with engine.begin() as conn:
        iid = new_incident(conn, ad)
        events = run_escalation(conn, T0 + 3 * H, adcode=ad)
    assert summary(events) == [
        ("reminder", "village", 0, T0 + timedelta(minutes=96)),
        ("warning", "village", 0, T0 + 2 * H),
        ("escalation", "township", 0, T0 + timedelta(minutes=150))]
    assert {e["incident_id"] for e in events} == {iid}


@pytest.mark.usefixtures("short_limits")
def test_scheduler_is_set_based_and_restricted_to_the_county(engine) -> None:  # noqa: ANN001
    ad, other = "990306", "990307"
    n = 3_000
    with engine.begin() as conn:
        conn.execute(sa.text("""
            insert into incident (adcode, source, source_id, kind, occurred_at, reported_at,
                                  status, location_flag)
            select :a, 'test-workflow-bulk', :p || g, 'dispute', :t, :t, 'received', 'ok'
            from generate_series(1, :n) g"""), {"a": ad, "p": uuid.uuid4().hex, "t": T0,
                                                "n": n})
        oid = new_incident(conn, other)
    t = time.perf_counter()
    with engine.begin() as conn:
        events = run_escalation(conn, T0 + 100 * H, adcode=ad)
    elapsed = time.perf_counter() - t
    assert len(events) == n * len(CHAIN)
    assert len({e["incident_id"] for e in events}) == n
    per_incident: dict[int, list] = {}
    for e in events:
        per_incident.setdefault(e["incident_id"], []).append(e)
    assert all(summary(v) == CHAIN for v in per_incident.values())
    assert elapsed < 20, f"scheduler took {elapsed:.1f} s for {n} incidents"
    with engine.begin() as conn:
        assert run_escalation(conn, T0 + 100 * H, adcode=ad) == []
        assert history(conn, oid) == []
        assert start_clocks(conn, ad) == 0


def test_now_must_be_timezone_aware(engine) -> None:  # noqa: ANN001
    with pytest.raises(WorkflowError, match="timezone-aware"), engine.begin() as conn:
        run_escalation(conn, datetime(2026, 3, 2, 9))
