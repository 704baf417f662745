"""Isolation of jurisdictions through the dashboard and the API (issue #8), on a fresh copy
of the demo county (real PostGIS, the real app with the login on).

A village-A operator gets nothing of village B through any page's callbacks (wall refresh,
desk queue / detail / actions / intake, review tables, planner drafts, home map and its
``/layers`` GeoJSON) nor through ``POST /api/incidents`` with a token of village A; a township
leader sees all of its villages. The SQL side (row-level security as the application role) is
tested in tests/gis/test_security.py. Every expected row set here is computed as the table
owner with plain SQL, through the grids' ``township_code`` rather than the code prefixes the
policies use, so the two can disagree. Callbacks are driven the way Dash's renderer does:
after logging in at ``/login``, a POST to ``/_dash-update-component`` built from
``/_dash-dependencies`` with the session's CSRF header.
"""

from __future__ import annotations

import importlib
import re
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gis import settings
from gis.auth.tokens import create_token
from gis.auth.users import create_user
from gis.grids import versions
from gis.incidents import stats
from gis.store import connect
from layers.i18n import t
from tests.conftest import _fresh

PW = "correct horse battery"
SOURCE = "t-iso"


@pytest.fixture(scope="module")
def iso_url(demo) -> Iterator[str]:
    """A fresh database holding the demo county (mutated by this module only)."""
    from data.loader import load_demo

    for url in _fresh("isolation"):
        load_demo(connect(url), demo)
        yield url


@pytest.fixture(scope="module")
def eng(iso_url: str) -> Engine:
    return connect(iso_url)


def _point_in(conn: sa.engine.Connection, vid: int, village: str) -> dict[str, Any]:
    """A group grid of ``village`` and a point well inside it."""
    row = conn.execute(sa.text("""
        select code, st_x(p) as lon, st_y(p) as lat from (
          select code, st_pointonsurface(geom) as p from grid
           where version_id = :v and level = 2 and parent_code = :c order by code limit 1) s"""),
        {"v": vid, "c": village}).one()
    return {"group": row.code, "lon": round(float(row.lon), 6), "lat": round(float(row.lat), 6)}


@pytest.fixture(scope="module")
def world(eng: Engine) -> dict[str, Any]:
    """Villages A, B of township T1 and C of township T2 (all with incidents), new incidents
    today in each (A 3, B 4, C 2: the wall's "today" tiles), users of each level and a
    draft grid version."""
    w: dict[str, Any] = {}
    with eng.begin() as conn:
        vid = versions.in_force(conn)
        adcode = conn.execute(sa.text("select adcode from grid_version where id = :v"),
                              {"v": vid}).scalar_one()
        rows = conn.execute(sa.text("""
            select g.township_code, i.village_code, count(*) as n
              from incident i join grid g on g.version_id = :v and g.level = 1
                   and g.code = i.village_code
             group by 1, 2 order by 3 desc, 2"""), {"v": vid}).all()
        t1 = rows[0].township_code
        a, b = [r.village_code for r in rows if r.township_code == t1][:2]
        c = next(r.village_code for r in rows if r.township_code != t1)
        t2 = next(r.township_code for r in rows if r.village_code == c)
        w.update(vid=vid, adcode=adcode, T1=t1, T2=t2, A=a, B=b, C=c)
        now = datetime.now(UTC)
        start = stats.day_start(now, settings.WALL_TIMEZONE)
        at = start + (now - start) / 2  # today (Beijing), before now
        w["point"], w["today_ids"] = {}, {}
        for key, n in (("A", 3), ("B", 4), ("C", 2)):
            p = _point_in(conn, vid, w[key])
            w["point"][key] = p
            ids = []
            for i in range(n):
                ids.append(conn.execute(sa.text("""
                    insert into incident (adcode, source, source_id, kind, occurred_at,
                        reported_at, status, village_code, group_code, location_flag, geom)
                    values (:a, 'iso-fixture', :sid, 'dispute', :at, :at, 'received', :v, :g,
                            'ok', st_setsrid(st_makepoint(:x, :y), :srid))
                    returning id"""),
                    {"a": adcode, "sid": f"{key}{i}-{uuid.uuid4().hex[:6]}", "at": at,
                     "v": w[key], "g": p["group"], "x": p["lon"], "y": p["lat"],
                     "srid": settings.STORAGE_SRID}).scalar_one())
            w["today_ids"][key] = ids
        w["draft"] = versions.new_draft(conn, adcode, actor="test")
        for name, role, unit in (("op_a", "operator", a), ("lead_t1", "leader", t1),
                                 ("plan_t1", "planner", t1), ("boss", "admin", adcode)):
            create_user(conn, name, role, unit, PW, actor="test")
    return w


# --- expected sets, as the owner ---------------------------------------------------------------

def _villages(eng: Engine, w: dict[str, Any], scope: str) -> list[str]:
    """Villages of ``scope`` ("A", "B", "T1", ...) through the grids' township_code."""
    if scope in ("A", "B", "C"):
        return [w[scope]]
    with eng.connect() as conn:
        return list(conn.execute(sa.text(
            "select code from grid where version_id = :v and level = 1 and township_code = :t"),
            {"v": w["vid"], "t": w[scope]}).scalars())


def _ids(eng: Engine, villages: list[str], where: str = "true",
         **params: Any) -> list[int]:
    with eng.connect() as conn:
        return list(conn.execute(sa.text(
            f"select id from incident where village_code = any(:vs) and ({where}) "
            "order by id desc"), {"vs": villages, **params}).scalars())


# --- driving the app ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app(iso_url: str, world: dict[str, Any]) -> Iterator[Any]:
    from dashboard import data, wall_data
    from dashboard.app import AppConfig, create_app

    mp = pytest.MonkeyPatch()
    mp.setattr(settings, "SECRET_KEY", "isolation-test-key")
    if "dashboard.planner_callbacks" in sys.modules:
        # its callbacks are declared at import (not by the page module, which Dash runs
        # again for every app): an app made earlier in this process took them
        importlib.reload(sys.modules["dashboard.planner_callbacks"])
    data.clear_cache()
    wall_data.clear_cache()
    dash_app = create_app(AppConfig(database_url=iso_url, escalation_interval_s=None,
                                    auth=True))
    try:
        yield dash_app
    finally:
        data.configure(AppConfig())
        data.clear_cache()
        wall_data.clear_cache()
        mp.undo()


class Session:
    """A logged-in browser session: the test client with its cookies and CSRF token."""

    _n = 0

    def __init__(self, app: Any, name: str) -> None:
        Session._n += 1
        self.client = app.server.test_client()
        self.client.environ_base["REMOTE_ADDR"] = f"10.77.0.{Session._n}"
        page = self.client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        res = self.client.post("/login", data={"username": name, "password": PW,
                                               "csrf_token": csrf})
        assert res.status_code == 302, res.get_data(as_text=True)[:500]
        self.csrf = self.client.get_cookie("_csrf_token").value
        deps = self.client.get("/_dash-dependencies")
        assert deps.status_code == 200
        self.deps = deps.get_json()

    def call(self, output: str, values: dict[str, Any],
             changed: str | None = None) -> dict[str, dict[str, Any]]:
        """Run the callback whose outputs include ``output`` (``id.prop``) with inputs and
        states from ``values`` (``id.prop`` → value; None for the others), triggered by
        ``changed`` (default: its first input); its response ``{id: {prop: value}}``."""
        dep = next(d for d in self.deps if re.search(
            rf"(^|\.\.\.|\.\.){re.escape(output)}(@[0-9a-f]+)?(\.\.\.|\.\.|$)", d["output"]))
        multi = dep["output"].startswith("..")
        parts = dep["output"].strip(".").split("...") if multi else [dep["output"]]
        outputs = [dict(zip(("id", "property"), p.split(".", 1), strict=True)) for p in parts]

        def spec(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{"id": i["id"], "property": i["property"],
                     "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

        first = dep["inputs"][0]
        body = {"output": dep["output"], "outputs": outputs if multi else outputs[0],
                "inputs": spec(dep["inputs"]), "state": spec(dep["state"]),
                "changedPropIds": [changed or f"{first['id']}.{first['property']}"]}
        res = self.client.post("/_dash-update-component", json=body,
                               headers={"X-CSRFToken": self.csrf})
        assert res.status_code in (200, 204), res.get_data(as_text=True)[:2000]
        return {} if res.status_code == 204 else res.get_json()["response"]

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)


@pytest.fixture(scope="module")
def sessions(app: Any) -> dict[str, Session]:
    return {name: Session(app, name) for name in ("op_a", "lead_t1", "plan_t1", "boss")}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every component (``props`` dict) in a Dash JSON tree."""
    if isinstance(node, dict):
        if "props" in node and isinstance(node["props"], dict):
            yield node["props"]
            yield from _walk(node["props"].get("children"))
            for k, v in node["props"].items():
                if k != "children" and isinstance(v, dict | list):
                    yield from _walk(v)
        else:
            for v in node.values():
                yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _text(node: Any) -> str:
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list):
        return "".join(_text(x) for x in node)
    if isinstance(node, dict) and isinstance(node.get("props"), dict):
        return _text(node["props"].get("children"))
    return ""


def _by_id(tree: Any, cid: Any) -> dict[str, Any]:
    return next(p for p in _walk(tree) if p.get("id") == cid)


def _num(text: str) -> int:
    return int(text.replace(",", "").strip())


# --- the wall ----------------------------------------------------------------------------------

WALL = {"app-lang.data": "zh", "wall-tick.n_intervals": 1, "wall-theme.value": "density",
        "wall-overlays.value": [], "wall-screen.data": {"w": 1920, "h": 1080}}


def _wall(s: Session) -> dict[str, Any]:
    out = s.call("wall-kpis.children", WALL)
    kpis = out["wall-kpis"]["children"]
    return {"today": _num(_text(_by_id(kpis, "wall-kpi-today")["children"])),
            "open": _num(_text(_by_id(kpis, "wall-kpi-open")["children"])),
            "newest": [int(p["data-incident"]) for p in _walk(out["wall-feed-new"]["children"])
                       if "data-incident" in p],
            "overdue": [int(p["data-incident"]) for p in
                        _walk(out["wall-feed-overdue"]["children"]) if "data-incident" in p]}


def _expected_wall(eng: Engine, w: dict[str, Any], scope: str) -> dict[str, Any]:
    vs = _villages(eng, w, scope)
    start = stats.day_start(datetime.now(UTC), settings.WALL_TIMEZONE)
    return {"today": len(_ids(eng, vs, "occurred_at >= :s and occurred_at < :e", s=start,
                              e=start + timedelta(days=1))),
            "open": len(_ids(eng, vs, "status <> 'closed'")),
            "newest": _ids(eng, vs)[:settings.WALL_FEED_NEWEST],
            "all": set(_ids(eng, vs))}


def test_wall_refresh_counts_only_the_viewers_incidents(sessions, eng, world) -> None:
    got = {who: _wall(sessions[who]) for who in ("op_a", "lead_t1")}
    again = _wall(sessions["op_a"])  # after the leader: the cache did not cross over
    exp = {"op_a": _expected_wall(eng, world, "A"), "lead_t1": _expected_wall(eng, world, "T1")}
    # the demo may hold incidents of today too (it ends on the day it was generated)
    assert exp["op_a"]["today"] >= 3 and exp["lead_t1"]["today"] >= exp["op_a"]["today"] + 4
    for who in ("op_a", "lead_t1"):
        g, e = got[who], exp[who]
        assert (g["today"], g["open"], g["newest"]) == (e["today"], e["open"], e["newest"]), who
        assert set(g["overdue"]) <= e["all"], who
    assert again == got["op_a"]
    assert not set(got["op_a"]["newest"]) & set(_ids(eng, [world["B"]]))


# --- the desk ----------------------------------------------------------------------------------

def _queue(s: Session) -> tuple[set[int], int]:
    out = s.call("desk-queue.children", {"desk-tick.n_intervals": 1, "app-lang.data": "zh"})
    ids = {int(p["id"]["index"]) for p in _walk(out["desk-queue"]["children"])
           if isinstance(p.get("id"), dict) and p["id"].get("type") == "desk-row"}
    count = _text(out["desk-queue-count"]["children"])
    return ids, _num(re.search(r"[\d,]+", count).group(0))


def _detail(s: Session, incident_id: int) -> str:
    out = s.call("desk-detail.children", {"desk-selected.data": incident_id,
                                          "app-lang.data": "zh"})
    return _text(out["desk-detail"]["children"])


def test_desk_queue_and_detail(sessions, eng, world) -> None:
    op_ids, op_total = _queue(sessions["op_a"])
    lead_ids, lead_total = _queue(sessions["lead_t1"])
    open_a = set(_ids(eng, [world["A"]], "status <> 'closed'"))
    open_t1 = set(_ids(eng, _villages(eng, world, "T1"), "status <> 'closed'"))
    assert op_total == len(open_a) and op_ids and op_ids <= open_a
    assert lead_total == len(open_t1) > len(open_a) and lead_ids <= open_t1
    b_id, a_id = world["today_ids"]["B"][0], world["today_ids"]["A"][0]
    missing = t("desk.detail.missing", "zh", id=b_id)
    assert _detail(sessions["op_a"], b_id) == missing
    assert _detail(sessions["op_a"], a_id) != t("desk.detail.missing", "zh", id=a_id)
    assert _detail(sessions["lead_t1"], b_id) != missing  # the township sees its villages


def _events(eng: Engine, incident_id: int) -> list[tuple[str, str]]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "select actor, action from incident_event where incident_id = :i order by id"),
            {"i": incident_id})]


def test_desk_actions_are_scoped_and_signed_by_the_user(sessions, eng, world) -> None:
    dispatch = {"desk-act-confirm.n_clicks": 1, "desk-action.data": "dispatch",
                "desk-act-unit_type.value": "village_station", "app-lang.data": "en"}
    b_id, a_id = world["today_ids"]["B"][1], world["today_ids"]["A"][1]
    refused = sessions["op_a"].call("desk-act-msg.children", dispatch | {
        "desk-selected.data": b_id, "desk-act-unit_code.value": world["B"]})
    done = sessions["op_a"].call("desk-act-msg.children", dispatch | {
        "desk-selected.data": a_id, "desk-act-unit_code.value": world["A"]})
    assert "is-error" in refused["desk-act-msg"]["className"]
    assert f"incident {b_id} does not exist" in _text(refused["desk-act-msg"]["children"])
    assert _events(eng, b_id) == []
    assert "is-ok" in done["desk-act-msg"]["className"]
    assert _events(eng, a_id) == [("op_a", "dispatch")]


def test_desk_intake_outside_the_jurisdiction_is_refused(sessions, eng, world) -> None:
    from dashboard import desk_intake

    form = {"desk-submit.n_clicks": 1, "desk-kind.value": "fire",  # no merge with others
            "desk-time.value": desk_intake.local_now_text(datetime.now(UTC)
                                                          - timedelta(minutes=5)),
            "desk-reporter.value": "网格员", "app-lang.data": "en"}

    def submit(key: str) -> tuple[dict[str, Any], str]:
        p = world["point"][key]
        place = desk_intake.locate(eng, p["lon"], p["lat"]).to_dict()
        token = uuid.uuid4().hex
        return sessions["op_a"].call("desk-submit-result.children", form | {
            "desk-point.data": place, "desk-token.data": token}), f"desk-{token}"

    out_b, sid_b = submit("B")
    out_a, sid_a = submit("A")
    with eng.connect() as conn:
        stored = dict(conn.execute(sa.text(
            "select source_id, village_code from incident where source_id = any(:s)"),
            {"s": [sid_a, sid_b]}).all())
    assert "is-error" in out_b["desk-submit-result"]["className"]
    assert _text(out_b["desk-err-location"]["children"]) == \
        t("desk.err.outside_jurisdiction", "en")
    assert "is-ok" in out_a["desk-submit-result"]["className"]
    assert stored == {sid_a: world["A"]}


# --- review ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def week(eng: Engine, world: dict[str, Any]) -> str:
    """The ISO week (Beijing) in which both A and B have the most incidents."""
    with eng.connect() as conn:
        row = conn.execute(sa.text("""
            select to_char(occurred_at at time zone :tz, 'IYYY-"W"IW') as w,
                   count(*) filter (where village_code = :a) as na,
                   count(*) filter (where village_code = :b) as nb
              from incident where village_code in (:a, :b) group by 1
             order by least(count(*) filter (where village_code = :a),
                            count(*) filter (where village_code = :b)) desc, 1 desc limit 1"""),
            {"tz": settings.WALL_TIMEZONE, "a": world["A"], "b": world["B"]}).one()
    assert row.na > 0 and row.nb > 0
    return str(row.w)


def _review(s: Session, area: str, week: str) -> dict[str, Any]:
    out = s.call("review-body.children", {"review-area.value": area, "review-week.value": week,
                                          "review-weeks.value": 1, "review-view.value": "gi",
                                          "app-lang.data": "zh"})
    body = out["review-body"]["children"]
    rows = {}
    for p in _walk(body):
        rid = p.get("id")
        if isinstance(rid, dict) and rid.get("type") == "review-drill" and \
                rid.get("table") == "parts":
            cells = [_text(td) for td in p["children"]]
            rows[rid["code"]] = _num(cells[2])
    return {"total": _num(_text(_by_id(body, "review-tile-incidents")["children"])),
            "parts": rows}


def _week_counts(eng: Engine, villages: list[str], week: str) -> dict[str, int]:
    with eng.connect() as conn:
        return dict(conn.execute(sa.text("""
            select village_code, count(*) from incident
             where village_code = any(:vs)
               and to_char(occurred_at at time zone :tz, 'IYYY-"W"IW') = :w group by 1"""),
            {"vs": villages, "tz": settings.WALL_TIMEZONE, "w": week}).all())


def test_review_tables_hold_only_the_viewers_rows(sessions, eng, world, week) -> None:
    a = _week_counts(eng, [world["A"]], week)
    t1 = _week_counts(eng, _villages(eng, world, "T1"), week)
    op_county = _review(sessions["op_a"], world["adcode"], week)
    op_town = _review(sessions["op_a"], world["T1"], week)
    lead_town = _review(sessions["lead_t1"], world["T1"], week)
    assert op_county["total"] == op_town["total"] == a[world["A"]]
    assert op_town["parts"] and all(n == a.get(code, 0) for code, n in op_town["parts"].items())
    assert op_town["parts"].get(world["B"], 0) == 0
    assert lead_town["total"] == sum(t1.values()) > a[world["A"]]
    assert lead_town["parts"][world["B"]] == t1[world["B"]] > 0
    assert all(n == t1.get(code, 0) for code, n in lead_town["parts"].items())


# --- planner -----------------------------------------------------------------------------------

def _adjacent_groups(eng: Engine, vid: int, township: str) -> list[str]:
    """Two group grids of one village of ``township`` sharing an edge, in draft ``vid``."""
    with eng.connect() as conn:
        row = conn.execute(sa.text("""
            select a.code, b.code from grid a join grid b on b.version_id = a.version_id
               and b.level = 2 and b.parent_code = a.parent_code and a.code < b.code
               and st_length(st_intersection(a.geom, b.geom)) > 0
             join grid v on v.version_id = a.version_id and v.level = 1
               and v.code = a.parent_code
             where a.version_id = :v and a.level = 2 and v.township_code = :t
             order by a.code, b.code limit 1"""), {"v": vid, "t": township}).one()
    return [row[0], row[1]]


def _grid_edits(eng: Engine, vid: int) -> list[tuple[str, str]]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "select actor, op from grid_edit where version_id = :v order by id"), {"v": vid})]


def test_planner_sees_and_edits_only_its_township_of_a_draft(sessions, eng, world) -> None:
    draft = world["draft"]
    s = sessions["plan_t1"]
    out = s.call("planner-grids.data", {"planner-version.value": draft,
                                        "planner-level.value": 1, "planner-tick.data": 0,
                                        "app-lang.data": "zh"})
    codes = {f["properties"]["code"] for f in out["planner-grids"]["data"]["features"]}
    with eng.connect() as conn:
        t1_villages = set(conn.execute(sa.text(
            "select code from grid where version_id = :v and level = 1 and township_code = :t"),
            {"v": draft, "t": world["T1"]}).scalars())
    assert codes == t1_villages and world["C"] not in codes
    before = _grid_edits(eng, draft)

    def save(codes: list[str]) -> str:
        from dashboard.planner_ops import EditRequest

        res = s.call("planner-message.children", {
            "planner-save.n_clicks": 1, "planner-version.value": draft, "app-lang.data": "en",
            "planner-pending.data": {"vid": draft, "stamp": None,
                                     "request": EditRequest("merge", codes).to_dict()}},
            changed="planner-save.n_clicks")
        return _text(res["planner-message"]["children"])

    t2_pair, t1_pair = (_adjacent_groups(eng, draft, world[k]) for k in ("T2", "T1"))
    refused = save(t2_pair)
    assert _grid_edits(eng, draft) == before
    with eng.connect() as conn:
        still = conn.execute(sa.text("select count(*) from grid where version_id = :v and "
                                     "code = any(:c)"), {"v": draft, "c": t2_pair}).scalar()
    assert still == 2, refused
    assert refused.startswith(t("planner.refused", "en", e="")), refused
    saved = save(t1_pair)
    assert _grid_edits(eng, draft)[len(before):] == [("plan_t1", "merge")], saved
    # a new draft copies the whole county: refused to a township planner, nothing written
    with eng.connect() as conn:
        n_versions = conn.execute(sa.text("select count(*) from grid_version")).scalar()
    res = s.call("planner-message.children", {
        "planner-new-draft.n_clicks": 1, "planner-version.value": world["vid"],
        "app-lang.data": "en"}, changed="planner-new-draft.n_clicks")
    with eng.connect() as conn:
        assert conn.execute(sa.text("select count(*) from grid_version")).scalar() == n_versions
    msg = _text(res["planner-message"]["children"])
    assert msg.startswith(t("planner.refused", "en", e="")) and "row-level security" in msg


# --- home map and its GeoJSON route --------------------------------------------------------------

def _group_counts(eng: Engine, villages: list[str]) -> dict[str, int]:
    with eng.connect() as conn:
        return dict(conn.execute(sa.text(
            "select group_code, count(*) from incident where village_code = any(:vs) and "
            "group_code is not null group by 1"), {"vs": villages}).all())


def test_home_map_and_layer_route_are_scoped(sessions, eng, world) -> None:
    from dashboard import data

    data.clear_cache()  # the desk's queue cached the counts before the desk test added one
    for who, scope in (("op_a", "A"), ("lead_t1", "T1")):
        s = sessions[who]
        vs = _villages(eng, world, scope)
        out = s.call("home-body.children", {"app-lang.data": "zh"})
        total = _num(_text(_by_id(out["home-body"]["children"],
                                  "home-stat-incidents")["children"]))
        res = s.get("/layers/incidents.geojson")
        feats = res.get_json()["features"]
        got = {f["properties"]["code"]: int(f["properties"]["n"]) for f in feats
               if f["properties"].get("n")}
        assert total == len(_ids(eng, vs)), who
        assert got == _group_counts(eng, vs), who
        etag = res.headers["ETag"].strip('"')
        versioned = s.get(f"/layers/incidents.geojson?v={etag}")
        assert versioned.headers["Cache-Control"].startswith("private"), who
    anon = sessions["op_a"].client.application.test_client().get("/layers/incidents.geojson")
    assert anon.status_code == 401


# --- the API -----------------------------------------------------------------------------------

def _item(w: dict[str, Any], key: str, sid: str, **kw: Any) -> dict[str, Any]:
    p = w["point"][key]
    return {"source_id": sid, "kind": "flood",  # merges with no incident of other tests
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
            "lon": p["lon"], "lat": p["lat"], "reporter": "热线", **kw}


def _stored(eng: Engine, sids: list[str]) -> dict[str, str]:
    with eng.connect() as conn:
        return dict(conn.execute(sa.text(
            "select source_id, village_code from incident where source = :s and "
            "source_id = any(:ids)"), {"s": SOURCE, "ids": sids}).all())


def test_api_token_of_village_a_cannot_post_into_village_b(app, eng, world) -> None:
    with eng.begin() as conn:
        _, tok_a = create_token(conn, "iso A", SOURCE, world["A"], actor="test")
        _, tok_t1 = create_token(conn, "iso T1", SOURCE, world["T1"], actor="test")
    c = app.server.test_client()
    url = f"/api/incidents?source={SOURCE}"
    sid = {k: f"iso-{k}-{uuid.uuid4().hex[:8]}" for k in ("a", "b", "mix_a", "mix_b", "src",
                                                           "t1_b", "none")}

    def post(body: Any, token: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return c.post(url, json=body, headers=headers)

    none = post(_item(world, "A", sid["none"]), None)
    bad = post(_item(world, "A", sid["none"]), "wgt_" + "x" * 43)
    into_b = post(_item(world, "B", sid["b"]), tok_a)
    mixed = post([_item(world, "A", sid["mix_a"]), _item(world, "B", sid["mix_b"])], tok_a)
    other_source = c.post("/api/incidents?source=12345", json=_item(world, "A", sid["src"]),
                          headers={"Authorization": f"Bearer {tok_a}"})
    assert none.status_code == bad.status_code == 401
    assert "wangge tokens add" in none.get_json()["error"]
    assert none.headers["WWW-Authenticate"].startswith("Bearer")
    assert into_b.status_code == 403
    assert [(e["index"], e["code"]) for e in into_b.get_json()["errors"]] == [
        (0, "outside_scope")]
    assert mixed.status_code == 403
    assert [(e["index"], e["code"]) for e in mixed.get_json()["errors"]] == [
        (1, "outside_scope")]
    assert other_source.status_code == 403
    assert other_source.get_json()["errors"][0]["code"] == "wrong_source"
    assert _stored(eng, list(sid.values())) == {}
    ok_a = post(_item(world, "A", sid["a"]), tok_a)
    ok_t1 = post(_item(world, "B", sid["t1_b"]), tok_t1)  # B lies in the township T1
    assert ok_a.status_code == ok_t1.status_code == 201, (ok_a.get_json(), ok_t1.get_json())
    assert _stored(eng, list(sid.values())) == {sid["a"]: world["A"], sid["t1_b"]: world["B"]}


def test_api_ignores_the_session_cookie(sessions, world) -> None:
    res = sessions["boss"].client.post(f"/api/incidents?source={SOURCE}",
                                       json=_item(world, "A", "iso-cookie"))
    assert res.status_code == 401


# --- the scoped engine itself --------------------------------------------------------------------

def test_scoped_engine_holds_every_connection_to_its_jurisdiction(eng, world) -> None:
    from gis.store.scoped_engine import app_engine, cache_key, scope_of, scoped_engine

    a_ids, t1 = set(_ids(eng, [world["A"]])), set(_ids(eng, _villages(eng, world, "T1")))
    se = scoped_engine(eng, world["A"], actor="tester")
    with se.connect() as conn:
        seen = set(conn.execute(sa.text("select id from incident")).scalars())
        conn.rollback()  # a rollback does not undo the scope
        raw = conn.connection.driver_connection.execute(
            "select count(*), current_setting('wangge.actor') from incident").fetchone()
        role = conn.execute(sa.text("select current_user")).scalar()
    with scoped_engine(eng, world["T1"]).begin() as conn:
        seen_t1 = set(conn.execute(sa.text("select id from incident")).scalars())
    with app_engine(eng).connect() as conn:  # no scope: nothing
        nothing = conn.execute(sa.text("select count(*) from incident")).scalar()
    with eng.connect() as conn:
        owner = conn.execute(sa.text("select count(*), current_user from incident")).one()
    assert seen == a_ids and raw == (len(a_ids), "tester")
    assert role == settings.DB_APP_ROLE and seen_t1 == t1 and nothing == 0
    assert owner[0] > len(t1) and owner[1] != settings.DB_APP_ROLE
    assert scope_of(se) == (world["A"],) and scope_of(eng) is None
    assert cache_key(se) != cache_key(scoped_engine(eng, world["B"])) != cache_key(eng)


def test_intake_through_a_scoped_engine_is_refused_by_the_database(eng, world) -> None:
    """Without the API's own check, the database still refuses an item outside the unit."""
    from gis.incidents.intake import import_records
    from gis.store.scoped_engine import scoped_engine

    sid = f"iso-db-{uuid.uuid4().hex[:8]}"
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        import_records(scoped_engine(eng, world["A"]), [_item(world, "B", sid)], source=SOURCE)
    assert _stored(eng, [sid]) == {}


def test_background_work_runs_as_the_viewer_that_started_it(app, world, eng) -> None:
    """:func:`dashboard.data.bound` carries the logged-in user into another thread (the
    wall's background rebuilds); a thread without it is the server's own work, whose cache
    keys no request ever reads; a request with nobody logged in reads nothing."""
    import threading

    import flask_login

    from dashboard import data
    from dashboard.auth import SessionUser
    from gis._errors import PermissionDenied
    from gis.auth.users import get_user

    with eng.connect() as conn:
        user = get_user(conn, "op_a")
    out: dict[str, Any] = {}

    def in_thread(key: str, fn: Any) -> None:
        def run() -> None:
            try:
                out[key] = fn()
            except Exception as e:  # noqa: BLE001 - recorded for the assertions
                out[key] = e
        th = threading.Thread(target=run)
        th.start()
        th.join()

    def count() -> tuple[Any, int]:
        with data.connect() as conn:
            return data.scope_key(), conn.execute(sa.text("select count(*) from incident")
                                                  ).scalar_one()

    with app.server.test_request_context("/wall"):
        with pytest.raises(PermissionDenied, match="no user is logged in"):
            count()
        flask_login.login_user(SessionUser(user))
        in_thread("bound", data.bound(count))
        in_thread("unbound", count)
        mine = count()
    with eng.connect() as conn:
        everything = conn.execute(sa.text("select count(*) from incident")).scalar_one()
    assert out["bound"] == mine == (("scope", (world["A"],)), len(_ids(eng, [world["A"]])))
    assert out["unbound"] == (("scope", "system"), everything)
