"""The operator desk's data layer on a mutable copy of the demo county (no Dash, no browser):
queue order and stages, intake from the form (validation, dedupe, idempotency), address
suggestions, units, the actions offered in each state; and ``POST /api/incidents`` through
``create_app``'s server.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard import desk_data, desk_intake
from gis import settings
from gis._errors import WorkflowError
from gis.grids import versions
from gis.incidents import limits
from gis.incidents.escalation import run_escalation
from gis.incidents.workflow import STATES, allowed_actions
from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database


@pytest.fixture(scope="module")
def desk_db_url(demo) -> Iterator[str]:
    """A fresh database holding the small demo county, for tests that write (dropped after)."""
    from data.loader import load_demo

    url = with_database(database_url(), f"wangge_test_desk_{uuid.uuid4().hex[:8]}")
    try:
        load_demo(connect(url), demo)
        yield url
    finally:
        desk_intake.clear_cache()
        drop_database(url)


@pytest.fixture(scope="module")
def deng(desk_db_url: str):
    return connect(desk_db_url)


@pytest.fixture(scope="module")
def vid(deng) -> int:
    with deng.connect() as conn:
        v = versions.in_force(conn)
    assert v is not None
    return v


@pytest.fixture(scope="module")
def group(deng, vid: int) -> dict:
    """A group grid named "三社" of a village whose name is unique in the county."""
    with deng.connect() as conn:
        row = conn.execute(sa.text("""
            select g.code, g.name, v.code as village_code, v.name as village, t.name as town,
                   st_x(st_pointonsurface(g.geom)) as lon, st_y(st_pointonsurface(g.geom)) as lat
            from grid g join grid v on v.version_id = g.version_id and v.code = g.parent_code
            join territory_unit t on t.code = v.township_code
            where g.version_id = :v and g.level = 2 and g.name = '三社'
              and (select count(*) from grid w where w.version_id = :v and w.level = 1
                   and w.name = v.name) = 1
            order by g.code limit 1"""), {"v": vid}).mappings().one()
    return dict(row)


def _open_due(conn: sa.Connection) -> dict[int, datetime | None]:
    """Deadline of every open incident, computed here independently of the desk's SQL."""
    rows = conn.execute(sa.text("""select id, kind, status, step_due_at, step_started_at,
        coalesce(reported_at, occurred_at) as t0 from incident where status <> 'closed'""")).all()
    out = {}
    for iid, kind, status, due, started, t0 in rows:
        out[int(iid)] = due if started is not None else limits.due_at(kind, status, t0)
    return out


def test_stage_of_boundaries() -> None:
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    due = t0 + timedelta(hours=10)
    f = settings.WORKFLOW_REMINDER_FRACTION
    just = timedelta(seconds=1)
    assert desk_data.stage_of(t0, due, t0 + f * (due - t0) - just) == "ok"
    assert desk_data.stage_of(t0, due, t0 + f * (due - t0)) == "reminder"
    assert desk_data.stage_of(t0, due, due - just) == "reminder"
    assert desk_data.stage_of(t0, due, due) == "warning"
    assert desk_data.stage_of(t0, due, t0, alert_stage=2) == "warning"  # the scheduler said so
    assert desk_data.stage_of(t0, due, t0, alert_stage=1) == "reminder"
    assert desk_data.stage_of(t0, None, due) == "none"


def test_queue_is_sorted_by_time_left(deng, vid: int) -> None:
    now = datetime.now(UTC)
    with deng.connect() as conn:
        df, total = desk_data.queue(conn, now, version_id=vid, limit=100_000)
        short, total2 = desk_data.queue(conn, now, version_id=vid, limit=7)
        due = _open_due(conn)
    assert total == total2 == len(due) == len(df) > 0
    assert list(short["id"]) == list(df["id"].head(7))
    left = df["remaining_s"].to_numpy()
    clocked = left[~np.isnan(left)]
    assert (np.diff(clocked) >= 0).all()  # least time left first
    assert np.isnan(left[len(clocked):]).all()  # no clock: last
    for r in df.itertuples():
        expected = due[int(r.id)]
        if expected is None:
            assert math.isnan(r.remaining_s)
        else:
            assert r.remaining_s == pytest.approx((expected - now).total_seconds(), abs=1e-3)
    assert set(df["status"]) <= set(STATES) - {"closed"}
    named = df[df["village"] != ""]
    assert len(named) == len(df[df["village_code"].notna()]) and (named["township"] != "").all()


def test_stages_agree_with_the_scheduler(deng, vid: int) -> None:
    """Run the real scheduler at ``now``; the desk's clock stages (computed from the
    deadlines) must match the notices it issued, and its escalations must be flagged."""
    now = datetime.now(UTC)
    with deng.begin() as conn:
        events = run_escalation(conn, now)
    with deng.connect() as conn:
        df, _ = desk_data.queue(conn, now, version_id=vid, limit=100_000)
        alert = dict(conn.execute(sa.text(
            "select id, alert_stage from incident where status <> 'closed'")).all())
    escalated = {e["incident_id"] for e in events if e["kind"] == "escalation"}
    assert escalated and {e["kind"] for e in events} >= {"reminder", "warning"}
    expected = {0: "ok", 1: "reminder", 2: "warning"}
    clocked = df[df["stage"] != "none"]
    assert len(clocked) == len(df)  # the demo's kinds all have clocks
    for r in clocked.itertuples():
        assert r.stage == expected[alert[int(r.id)]], (r.id, r.stage, alert[int(r.id)])
    assert set(df.loc[df["escalated"], "id"]) == escalated & set(df["id"])
    assert (df.loc[df["escalated"], "level"] != "village").all()


def _place(deng, g: dict) -> desk_intake.Place:
    return desk_intake.locate(deng, g["lon"], g["lat"])


def _form(**kw: object) -> dict:
    return {"kind": "forest_fire", "time": desk_intake.local_now_text(), "address": "",
            "description": "山林冒烟", "reporter": "护林员 王五"} | kw


def _count(deng, source: str) -> int:
    with deng.connect() as conn:
        return int(conn.execute(sa.text("select count(*) from incident where source = :s"),
                                {"s": source}).scalar_one())


def test_locate_and_suggestions_round_trip(deng, group: dict) -> None:
    p = _place(deng, group)
    assert (p.level, p.code, p.village_code) == ("group", group["code"], group["village_code"])
    assert p.name == group["town"] + group["village"] + "三社"
    address = f"{group['town']}{group['village']}三社"
    sug = desk_intake.suggestions(deng, address)
    assert sug and sug[0]["code"] == group["code"] and sug[0]["level"] == "group"
    assert sug[0]["score"] >= settings.ADDRESS_MIN_CONFIDENCE
    assert len(sug) <= settings.DESK_ADDRESS_SUGGESTIONS
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(sug[1:]))
    picked = desk_intake.place_of(deng, sug[0]["code"], address)
    assert picked.via == "address" and picked.address == address
    assert desk_intake.locate(deng, picked.lon, picked.lat).code == group["code"]
    village = desk_intake.place_of(deng, group["village_code"])
    assert village.level == "village" and village.group_code is None
    assert desk_intake.locate(deng, village.lon, village.lat).village_code == \
        group["village_code"]
    assert desk_intake.suggestions(deng, "") == []
    assert desk_intake.suggestions(deng, "火星基地") == []
    assert desk_intake.locate(deng, 0.5, 0.5).level is None
    assert desk_intake.place_of(deng, "no-such-code") is None


def test_submit_checks_every_field_and_stores_nothing_bad(deng, group: dict) -> None:
    before = _count(deng, settings.DESK_SOURCE)
    empty = desk_intake.submit(deng, {}, None, uuid.uuid4().hex)
    assert empty.status == "rejected" and not empty.ok
    assert set(empty.errors) == {"kind", "time", "location", "reporter"}
    assert all(c == "missing_field" for errs in empty.errors.values() for c, _ in errs)
    later = desk_intake.local_now_text(datetime.now(UTC) + timedelta(hours=2))
    bad = desk_intake.submit(deng, _form(kind="ufo", time=later),
                             desk_intake.locate(deng, 0.5, 0.5), uuid.uuid4().hex)
    assert {k: [c for c, _ in v] for k, v in bad.errors.items()} == {
        "kind": ["unknown_kind"], "time": ["future_time"], "location": ["outside"]}
    nonsense = desk_intake.submit(deng, _form(time="昨天"), _place(deng, group), "t")
    assert [c for c, _ in nonsense.errors["time"]] == ["bad_time"]
    assert _count(deng, settings.DESK_SOURCE) == before


def test_submit_creates_dedupes_and_is_idempotent(deng, group: dict) -> None:
    p = _place(deng, group)
    token = uuid.uuid4().hex
    first = desk_intake.submit(deng, _form(), p, token)
    assert first.status == "created" and first.incident_id is not None
    with deng.connect() as conn:
        row = conn.execute(sa.text("select * from incident where id = :i"),
                           {"i": first.incident_id}).mappings().one()
    assert (row["source"], row["source_id"]) == (settings.DESK_SOURCE, f"desk-{token}")
    assert (row["kind"], row["status"], row["group_code"]) == ("forest_fire", "received",
                                                               group["code"])
    assert row["reporter"] == "护林员 王五" and row["address"] == p.name
    assert abs((row["reported_at"] - datetime.now(UTC)).total_seconds()) < 120
    again = desk_intake.submit(deng, _form(), p, token)  # the same form, sent twice
    assert (again.status, again.incident_id) == ("duplicate", first.incident_id)
    near = desk_intake.Place(p.lon, p.lat + 0.0002, p.code, p.level, p.name)  # ~22 m north
    merged = desk_intake.submit(deng, _form(reporter="村民"), near, uuid.uuid4().hex)
    assert (merged.status, merged.incident_id) == ("merged", first.incident_id)
    other = desk_intake.submit(deng, _form(kind="dispute"), p, uuid.uuid4().hex)
    assert other.status == "created" and other.incident_id != first.incident_id
    now = datetime.now(UTC)
    with deng.connect() as conn:
        df, _ = desk_data.queue(conn, now, limit=100_000)
        d = desk_data.detail(conn, first.incident_id, now)
    mine = df.set_index("id").loc[first.incident_id]
    limit_s = 3600 * limits.limit_hours("forest_fire", "received")
    assert 0 < mine["remaining_s"] <= limit_s and mine["stage"] == "ok"
    assert d["reports"] == 2 and d["allowed"] == ("dispatch",) and d["history"] == []


def test_units_and_their_defaults(deng, vid: int) -> None:
    with deng.connect() as conn:
        adcode = conn.execute(sa.text("select adcode from grid_version where id = :v"),
                              {"v": vid}).scalar_one()
        u = desk_data.units(conn, adcode, vid)
        n_posts = conn.execute(sa.text("select count(*) from police_post")).scalar_one()
        village, officer = conn.execute(sa.text("""select ov.village_code, o.post_code
            from officer_village ov join police_officer o on o.code = ov.officer_code
            where o.post_code is not null order by ov.village_code desc limit 1""")).one()
        post = desk_data.officer_post(conn, village)
        town = conn.execute(sa.text("select township_code from grid where version_id = :v "
                                    "and code = :c"), {"v": vid, "c": village}).scalar_one()
        no_officer = conn.execute(sa.text("""select code from grid where version_id = :v
            and level = 1 and code not in (select village_code from officer_village)
            order by code limit 1"""), {"v": vid}).scalar()
        none_post = desk_data.officer_post(conn, no_officer)
    assert set(u) == set(settings.WORKFLOW_UNIT_TYPES)
    assert len(u["village_station"]) == 248 and len(u["township_department"]) == 18
    assert len(u["police_post"]) == n_posts and len(u["county_department"]) == 1
    inc = {"adcode": adcode, "village_code": village, "township_code": town}
    assert desk_data.default_unit(u["village_station"], "village_station", inc) == village
    assert desk_data.default_unit(u["township_department"], "township_department", inc) == town
    assert post == officer  # 一村一警: the post of the village's own officer
    assert desk_data.default_unit(u["police_post"], "police_post", inc, post) == officer
    if no_officer is not None:  # else a post of its township
        assert none_post is None
        own = [p["code"] for p in u["police_post"] if p["township"] == town]
        if own:
            assert desk_data.default_unit(u["police_post"], "police_post", inc, None) == own[0]
    assert desk_data.default_unit(u["county_department"], "county_department", inc) == adcode
    assert desk_data.default_unit([], "police_post", inc) is None


def test_actions_follow_the_state_machine(deng, group: dict) -> None:
    """Walk a desk incident through the whole workflow with the desk's forms: each state
    offers exactly the workflow's allowed actions, illegal ones are refused and write
    nothing, and the audit trail records every step by the desk."""
    res = desk_intake.submit(deng, _form(kind="dispute"),
                             desk_intake.Place(group["lon"] + 0.01, group["lat"], None, "group",
                                               ""), uuid.uuid4().hex)
    assert res.status == "created"
    iid = res.incident_id
    form = {"unit_type": "police_post", "unit_code": "X", "unit_name": "  ", "note": "",
            "feedback": "已调解，双方签字", "satisfaction": "satisfied",
            "reason": "群众反映问题复发"}

    def state() -> dict:
        with deng.connect() as conn:
            return desk_data.detail(conn, iid, datetime.now(UTC))

    with pytest.raises(WorkflowError, match="not allowed"):
        desk_data.apply_action(deng, iid, "close", {})
    assert state()["history"] == []
    with deng.connect() as conn:
        post = desk_data.officer_post(conn, state()["village_code"])
    form["unit_code"] = post or "620702PS001"
    for action in ("dispatch", "accept", "resolve", "follow_up", "close", "reopen", "accept"):
        d = state()
        assert d["allowed"] == allowed_actions(d["status"]) and action in d["allowed"]
        details = desk_data.details_for(action, form)
        assert set(details) <= set(desk_data.ACTION_FIELDS[action])
        assert desk_data.missing_fields(action, details) == []
        ev = desk_data.apply_action(deng, iid, action, details)
        assert ev["action"] == action and ev["actor"] == settings.DESK_ACTOR
    d = state()
    assert d["status"] == "in_progress" and d["unit_code"] == form["unit_code"]
    assert [e["action"] for e in d["history"]] == ["dispatch", "accept", "resolve", "follow_up",
                                                   "close", "reopen", "accept"]
    assert {e["actor"] for e in d["history"]} == {settings.DESK_ACTOR}
    assert desk_data.missing_fields("resolve", desk_data.details_for("resolve", {})) == \
        ["feedback"]
    for state_name in STATES:
        offered = allowed_actions(state_name)
        assert offered and set(offered) <= set(desk_data.ACTION_FIELDS)
    n = len(d["history"])
    with pytest.raises(WorkflowError):
        desk_data.apply_action(deng, iid, "follow_up", {"satisfaction": "satisfied"})
    with pytest.raises(WorkflowError, match="needs feedback"):
        desk_data.apply_action(deng, iid, "resolve", {})
    assert len(state()["history"]) == n


def test_detail_of_a_missing_incident(deng) -> None:
    with deng.connect() as conn:
        assert desk_data.detail(conn, -1, datetime.now(UTC)) is None


# --- the HTTP intake endpoint, wired into the dashboard's server ----------------------------


def test_post_api_incidents_through_create_app(desk_db_url: str, deng, group: dict) -> None:
    from dashboard import data
    from dashboard.app import AppConfig, create_app
    from tests.gis.api_client import TokenClient

    app = create_app(AppConfig(database_url=desk_db_url, escalation_interval_s=None))
    try:
        raw = app.server.test_client()
        client = TokenClient(raw, deng)  # a county-wide API token for each source
        no_token = raw.post("/api/incidents?source=t-desk-api", json={"source_id": "x"})
        assert no_token.status_code == 401 and "wangge tokens add" in no_token.get_json()["error"]
        sid = uuid.uuid4().hex
        item = {"source_id": sid, "kind": "dispute",
                "occurred_at": pd.Timestamp.now(tz="Asia/Shanghai").strftime("%Y-%m-%d %H:%M"),
                "lon": f"{group['lon'] + 0.02:.6f}", "lat": f"{group['lat']:.6f}",
                "reporter": "12345热线"}
        res = client.post("/api/incidents?source=t-desk-api", json=item)
        assert res.status_code == 201, res.get_json()
        out = res.get_json()
        assert out["inserted"] == 1 and out["items"][0]["status"] == "created"
        with deng.connect() as conn:
            row = conn.execute(sa.text("select source, source_id from incident where id = :i"),
                               {"i": out["ids"][0]}).one()
        assert tuple(row) == ("t-desk-api", sid)
        bad = client.post("/api/incidents?source=t-desk-api", json=item | {"kind": "ufo"})
        assert bad.status_code == 400 and bad.get_json()["errors"][0]["code"] == "unknown_kind"
    finally:
        data.configure(AppConfig())
        data.clear_cache()


# --- what the desk shows: urgency never by colour alone, every text translated -------------


def test_queue_rows_carry_icon_word_and_class(deng, vid: int) -> None:
    from dashboard import desk_views

    now = datetime.now(UTC)
    with deng.connect() as conn:
        df, _ = desk_data.queue(conn, now, version_id=vid, limit=100_000)
    rows = desk_views.queue_rows(df, "zh", selected=int(df["id"].iloc[0]))
    assert len(rows) == len(df)
    words = {"ok": "正常", "reminder": "提醒", "warning": "警示", "none": "无时限"}
    for row, r in zip(rows, df.itertuples(), strict=True):
        text = str(row)
        assert f"is-{r.stage}" in row.className and row.id["index"] == int(r.id)
        assert desk_views.STAGE_ICON[r.stage] in text and words[r.stage] in text
        assert ("已升级至" in text) == bool(r.escalated) == ("is-escalated" in row.className)
        assert ("超时" in text) == (r.remaining_s < 0)
    assert "is-selected" in rows[0].className and "is-selected" not in rows[-1].className


def test_detail_view_offers_exactly_the_allowed_actions(deng, vid: int) -> None:
    from dashboard import desk_views

    with deng.connect() as conn:
        ids = dict(conn.execute(sa.text(
            "select distinct on (status) status, id from incident order by status, id")).all())
        for status, iid in ids.items():
            d = desk_data.detail(conn, iid, datetime.now(UTC), vid)
            view = desk_views.detail_view(d, "en")
            buttons = [c for c in view[2].children[1].children]
            assert [b.id["action"] for b in buttons] == list(allowed_actions(status))
            assert [b.children for b in buttons] == [
                desk_views.t(f"desk.action.{a}", "en") for a in allowed_actions(status)]
            history = desk_views.history_block(d, "zh")[1]
            assert len(history.children) == len(d["history"]) + 1  # + the intake itself


def test_every_desk_text_is_translated() -> None:
    import re
    from pathlib import Path

    from dashboard.desk_layout import ACTION_INPUTS
    from gis.incidents.workflow import ACTIONS, SATISFACTION
    from layers.i18n import TABLE

    root = Path(__file__).resolve().parents[2] / "dashboard"
    literal = set()
    for f in [*root.glob("desk_*.py"), root / "pages" / "desk.py"]:
        literal |= set(re.findall(r'"((?:desk|page)\.[a-z_.]+)"', f.read_text(encoding="utf-8")))
    needed = literal | {f"desk.action.{a}" for a in ACTIONS} | \
        {f"desk.unit.{u}" for u in settings.WORKFLOW_UNIT_TYPES} | \
        {f"desk.sat.{s}" for s in SATISFACTION} | {f"desk.stage.{s}" for s in desk_data.STAGES} | \
        {f"desk.act.{k}" for k in ACTION_INPUTS} | \
        {f"desk.err.{c}" for c in ("missing_field", "unknown_kind", "bad_time", "future_time",
                                   "outside")} | \
        {f"desk.ev.{k}" for k in ("received", "reminder", "warning", "escalation")} | \
        {f"desk.submitted.{k}" for k in ("created", "merged", "duplicate")} | \
        {f"wall.status.{s}" for s in STATES} | {f"kind.{k}" for k in settings.INCIDENT_KINDS}
    missing = sorted(k for k in needed if k not in TABLE)
    assert missing == []
    assert all(TABLE[k][0] and TABLE[k][1] for k in needed)
