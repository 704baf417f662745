"""Security in the database, on a fresh copy of the demo county (real PostGIS).

Row-level security as the application role (``SET LOCAL ROLE wangge_app`` with
``wangge.jurisdiction``): a village sees only itself, a township all its villages and nothing
of another township, the county everything; writes outside are refused. Expected sets are
computed as the table owner (no RLS) through other columns than the policies use (the grids'
``township_code`` instead of code prefixes), so the two can disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis import audit
from gis._errors import AuthError, NotFoundError
from gis.auth.jurisdiction import below, covers, resolve_unit, visible_codes
from gis.auth.users import create_user
from gis.grids import edits, versions
from gis.incidents.workflow import transition
from gis.store import connect
from gis.store.scoped import apply_scope, scoped
from tests.conftest import _fresh

AT = datetime.now(timezone.utc).replace(microsecond=0)
PW = "correct horse battery"
TABLES = ("incident", "incident_event", "incident_report", "grid", "grid_edit", "audit_log")


@pytest.fixture(scope="module")
def sec_url(demo) -> Iterator[str]:  # noqa: ANN001
    """A fresh database holding the demo county (mutated by this module only)."""
    from data.loader import load_demo

    for url in _fresh("security"):
        load_demo(connect(url), demo)
        yield url


@pytest.fixture(scope="module")
def eng(sec_url: str) -> Engine:
    return connect(sec_url)


def _incident(conn: Connection, village: str) -> int:
    return int(conn.execute(sa.text("select min(id) from incident where village_code = :v and "
                            "status = 'closed'"),
                            {"v": village}).scalar_one())


@pytest.fixture(scope="module")
def world(eng: Engine) -> dict[str, Any]:
    """Villages A, B of township T1 and C of township T2 (all with incidents), a draft with
    one edit per village, one workflow event, report and audit row per village."""
    w: dict[str, Any] = {}
    with eng.begin() as conn:
        vid = versions.in_force(conn)
        w["adcode"] = conn.execute(sa.text("select adcode from grid_version where id = :v"),
                                   {"v": vid}).scalar_one()
        rows = conn.execute(sa.text("""
            select g.township_code, i.village_code, count(*) as n
              from incident i join grid g on g.version_id = :v and g.level = 1
                   and g.code = i.village_code
             group by 1, 2 order by 3 desc"""), {"v": vid}).all()
        t1 = rows[0].township_code
        a, b = [r.village_code for r in rows if r.township_code == t1][:2]
        c = next(r.village_code for r in rows if r.township_code != t1)
        t2 = next(r.township_code for r in rows if r.village_code == c)
        w.update(vid=vid, T1=t1, T2=t2, A=a, B=b, C=c)
        w["draft"] = versions.new_draft(conn, w["adcode"], actor="test")
        w["edit"], w["incident"], w["group"] = {}, {}, {}
        for key in ("A", "B", "C"):
            v = w[key]
            grp = conn.execute(sa.text("select min(code) from grid where version_id = :d and "
                                       "level = 2 and parent_code = :v"),
                               {"d": w["draft"], "v": v}).scalar_one()
            w["group"][key] = grp
            w["edit"][key] = edits.rename(conn, w["draft"], grp, f"改名{key}", actor="test").edit_id
            iid = w["incident"][key] = _incident(conn, v)
            transition(conn, iid, "reopen", "test", AT, reason="复查")
            conn.execute(sa.text(
                "insert into incident_report (adcode, incident_id, source, source_id, kind, "
                "occurred_at, location_flag) select adcode, id, 'sec-test', 'r' || id, kind, "
                "occurred_at, 'ok' from incident where id = :i"), {"i": iid})
            audit.record(conn, "test", "test.event", f"village:{key}", scope=v)
        audit.record(conn, "test", "test.event", "county", scope=w["adcode"])
        audit.record(conn, "anonymous", "login_failed", "user:nobody")  # no county
    return w


@contextmanager
def rolled_back(eng: Engine, who: Any) -> Iterator[Connection]:
    """A connection scoped to ``who`` whose transaction is rolled back at the end."""
    with eng.connect() as conn:
        tx = conn.begin()
        try:
            apply_scope(conn, who)
            yield conn
        finally:
            tx.rollback()


def _set(conn: Connection, sql: str, **p: Any) -> set:
    return set(conn.execute(sa.text(sql), p).scalars())


def _views(conn: Connection, w: dict[str, Any]) -> dict[str, set]:
    """What a connection sees of each protected table (as sets of keys)."""
    return {
        "incident": _set(conn, "select distinct village_code from incident"),
        "incident_event": _set(conn, "select incident_id from incident_event"),
        "incident_report": _set(conn, "select incident_id from incident_report"),
        "grid": _set(conn, "select code from grid where version_id = :d", d=w["draft"]),
        "grid_edit": _set(conn, "select id from grid_edit where op = 'rename'"),
        "audit_log": _set(conn, "select target from audit_log where action in "
                                "('test.event', 'login_failed')"),
    }


def _owner_draft_codes(eng: Engine, w: dict[str, Any], where: str, **p: Any) -> set:
    with eng.connect() as conn:
        return _set(conn, f"select code from grid where version_id = :d and ({where})",
                    d=w["draft"], **p)


def test_village_sees_itself_and_nothing_of_its_neighbour(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    with scoped(eng, w["A"]) as conn:
        seen = _views(conn, w)
        counts = {t: conn.execute(sa.text(f"select count(*) from {t} where {cond}"),
                                  {"b": w["B"], "d": w["draft"]}).scalar_one()
                  for t, cond in (("incident", "village_code = :b"),
                                  ("grid", "version_id = :d and :b in (code, parent_code)"))}
        n_a = conn.execute(sa.text("select count(*) from incident")).scalar_one()
    with eng.connect() as conn:
        owner_a = conn.execute(sa.text("select count(*) from incident where village_code = :a"),
                               {"a": w["A"]}).scalar_one()
    assert seen["incident"] == {w["A"]}
    assert n_a == owner_a > 0
    assert seen["incident_event"] == {w["incident"]["A"]}
    assert seen["incident_report"] == {w["incident"]["A"]}
    assert seen["grid"] == _owner_draft_codes(eng, w, "code = :a or parent_code = :a", a=w["A"])
    assert seen["grid_edit"] == {w["edit"]["A"]}
    assert seen["audit_log"] == {"village:A"}
    assert counts == {"incident": 0, "grid": 0}


def test_township_sees_all_its_villages_and_nothing_of_another(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    with eng.connect() as conn:
        t1_villages = _set(conn, "select distinct i.village_code from incident i join grid g "
                                 "on g.version_id = :v and g.level = 1 and g.code = i.village_code "
                                 "where g.township_code = :t", v=w["vid"], t=w["T1"])
    with scoped(eng, w["T1"]) as conn:
        seen = _views(conn, w)
    assert len(t1_villages) >= 2
    assert seen["incident"] == t1_villages
    assert w["C"] not in seen["incident"]
    assert seen["incident_event"] == {w["incident"]["A"], w["incident"]["B"]}
    assert seen["incident_report"] == {w["incident"]["A"], w["incident"]["B"]}
    assert seen["grid"] == _owner_draft_codes(eng, w, "township_code = :t", t=w["T1"])
    assert seen["grid_edit"] == {w["edit"]["A"], w["edit"]["B"]}
    assert seen["audit_log"] == {"village:A", "village:B"}


def test_county_sees_everything(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    with scoped(eng, w["adcode"]) as conn:
        seen = _views(conn, w)
        counts = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one()
                  for t in TABLES}
    with eng.connect() as conn:
        owner = _views(conn, w)
        owner_counts = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one()
                        for t in TABLES}
    assert seen == owner
    assert counts == owner_counts
    assert "user:nobody" in seen["audit_log"]  # events of no county: county level only


def test_several_codes_see_the_union(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    with scoped(eng, (w["A"], w["C"])) as conn:
        assert _views(conn, w)["incident"] == {w["A"], w["C"]}


def test_no_or_malformed_jurisdiction_sees_nothing(eng: Engine, world) -> None:  # noqa: ANN001
    for setting in (None, "", " , ", "%", "6207%", "_", "\\"):
        with eng.connect() as conn, conn.begin():
            if setting is not None:
                conn.execute(sa.text("select set_config('wangge.jurisdiction', :j, true)"),
                             {"j": setting})
            conn.execute(sa.text("set local role wangge_app"))
            counts = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one()
                      for t in TABLES if t != "grid"}
            drafts = conn.execute(sa.text("select count(*) from grid where version_id = :d"),
                                  {"d": world["draft"]}).scalar_one()
        assert counts == dict.fromkeys(counts, 0), setting
        assert drafts == 0, setting
    with pytest.raises(AuthError, match="jurisdiction"):
        with scoped(eng, "62 07"):
            pass
    with pytest.raises(AuthError, match="jurisdiction"):
        with scoped(eng, ()):
            pass


def test_published_grids_are_reference_data_for_everyone(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    with eng.connect() as conn:
        n = conn.execute(sa.text("select count(*) from grid where version_id = :v"),
                         {"v": w["vid"]}).scalar_one()
    with scoped(eng, w["A"]) as conn:
        assert conn.execute(sa.text("select count(*) from grid where version_id = :v"),
                            {"v": w["vid"]}).scalar_one() == n


def _refused(conn: Connection, sql: str, **p: Any) -> str:
    """The database's error message for ``sql`` (inside a savepoint, rolled back)."""
    sp = conn.begin_nested()
    try:
        conn.execute(sa.text(sql), p)
    except sa.exc.DBAPIError as e:
        sp.rollback()
        return str(e.orig)
    sp.rollback()
    pytest.fail(f"not refused: {sql}")


def test_writes_outside_the_jurisdiction_are_refused(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    ib, ia = w["incident"]["B"], w["incident"]["A"]
    with rolled_back(eng, w["A"]) as conn:
        # rows of B are invisible: updates and deletes touch nothing
        assert conn.execute(sa.text("update incident set description = 'x' where id = :i"),
                            {"i": ib}).rowcount == 0
        assert conn.execute(sa.text("delete from incident_report where incident_id = :i"),
                            {"i": ib}).rowcount == 0
        assert conn.execute(sa.text("update grid set name = 'x' where version_id = :d and "
                                    "parent_code = :b"), {"d": w["draft"], "b": w["B"]}).rowcount == 0
        # moving a row of A into B, or writing a new row in B, breaks the policy
        assert "row-level security" in _refused(
            conn, "update incident set village_code = :b where id = :i", b=w["B"], i=ia)
        assert "row-level security" in _refused(
            conn, "insert into incident (id, adcode, source, source_id, kind, occurred_at, "
                  "status, village_code, location_flag) values (-1, :a, 't', 't', 'dispute', "
                  "now(), 'received', :b, 'ok')", a=w["adcode"], b=w["B"])
        assert "row-level security" in _refused(
            conn, "insert into incident_event (adcode, incident_id, at, actor, kind, level, "
                  "step_seq) values (:a, :i, now(), 't', 'reminder', 'village', 99)",
            a=w["adcode"], i=ib)
        assert "row-level security" in _refused(
            conn, "insert into incident_report (adcode, incident_id, source, source_id, kind, "
                  "occurred_at, location_flag) values (:a, :i, 't', 'x', 'dispute', now(), 'ok')",
            a=w["adcode"], i=ib)
        assert "row-level security" in _refused(
            conn, "update grid set parent_code = :b where version_id = :d and code = :g",
            b=w["B"], d=w["draft"], g=w["group"]["A"])
        assert "row-level security" in _refused(
            conn, "insert into grid_edit (adcode, version_id, actor, op, codes_before) "
                  "values (:a, :d, 't', 'rename', array[:g])",
            a=w["adcode"], d=w["draft"], g=w["group"]["B"])
        assert "row-level security" in _refused(
            conn, "insert into grid_edit (adcode, version_id, actor, op) "
                  "values (:a, :d, 't', 'new_draft')", a=w["adcode"], d=w["draft"])
        with pytest.raises(NotFoundError):  # the planner code cannot even find B's grids
            edits.rename(conn, w["draft"], w["group"]["B"], "越权", actor="A")


def test_work_inside_the_jurisdiction_goes_through(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    with rolled_back(eng, w["A"]) as conn:
        ev = transition(conn, w["incident"]["A"], "accept", "op-A", AT + timedelta(hours=1))
        res = edits.rename(conn, w["draft"], w["group"]["A"], "新名", actor="planner-A")
        seen = _set(conn, "select id from grid_edit where op = 'rename'")
        audit.record(conn, "op-A", "test.inside", "x", scope=w["A"])
        n_audit = conn.execute(sa.text("select count(*) from audit_log where action = "
                                       "'test.inside'")).scalar_one()
    assert ev["to_status"] == "in_progress" and ev["actor"] == "op-A"
    assert res.edit_id in seen
    assert n_audit == 1


def test_audit_log_cannot_be_changed_or_removed(eng: Engine, world) -> None:  # noqa: ANN001
    with rolled_back(eng, world["adcode"]) as conn:
        for sql in ("update audit_log set actor = 'x'", "delete from audit_log",
                    "truncate audit_log", "update incident_event set actor = 'x'",
                    "delete from grid_edit"):
            assert "permission denied" in _refused(conn, sql), sql
    with eng.connect() as conn, conn.begin():  # even the owner: the trigger refuses
        for sql in ("update audit_log set actor = 'x'", "delete from audit_log",
                    "truncate audit_log"):
            assert "audit_log is append-only" in _refused(conn, sql), sql
    with eng.connect() as conn:
        assert conn.execute(sa.text("select count(*) from audit_log where actor = 'x'"))\
            .scalar_one() == 0


def test_app_role_cannot_read_users_or_tokens(eng: Engine, world) -> None:  # noqa: ANN001
    with rolled_back(eng, world["adcode"]) as conn:
        for table in ("app_user", "api_token"):
            assert "permission denied" in _refused(conn, f"select * from {table}")


def test_patrol_tables_are_protected_when_present(eng: Engine) -> None:
    with eng.connect() as conn:
        present = _set(conn, "select tablename from pg_tables where schemaname = 'public' and "
                             "tablename in ('patrol', 'patrol_checkin', 'key_area', 'key_section')")
        protected = _set(conn, "select tablename from pg_policies where "
                               "'wangge_app' = any(roles)")
    assert present <= protected
    assert {"incident", "incident_event", "incident_report", "grid", "grid_edit",
            "audit_log", "grid_version"} <= protected


def test_python_rule_matches_the_database(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    units = [w["adcode"], w["T1"], w["T2"], w["A"], w["C"], w["adcode"][:4], "620799"]
    rows = [(w["adcode"], w["A"]), (w["adcode"], w["group"]["B"]), (w["adcode"], None),
            ("620799", w["A"]), (w["adcode"], w["T2"] + "201")]
    with eng.connect() as conn:
        for u in units:
            for adcode, code in rows:
                with conn.begin():
                    conn.execute(sa.text("select set_config('wangge.jurisdiction', :u, true)"),
                                 {"u": u})
                    db = conn.execute(sa.text("select coalesce(wangge_in_scope(:a, :c), false)"),
                                      {"a": adcode, "c": code}).scalar_one()
                assert db == covers(u, adcode, code), (u, adcode, code)


def test_units_and_what_lies_below(eng: Engine, world) -> None:  # noqa: ANN001
    w = world
    with eng.connect() as conn:
        assert resolve_unit(conn, w["adcode"]).level == "county"
        assert resolve_unit(conn, w["T1"]).level == "township"
        assert resolve_unit(conn, w["A"]).level == "village"
        with pytest.raises(AuthError, match="neither a county"):
            resolve_unit(conn, "620702999")
        units = below(conn, w["T1"])
        villages = _set(conn, "select code from grid where version_id = :v and level = 1 and "
                              "township_code = :t", v=w["vid"], t=w["T1"])
    assert units[0].code == w["T1"]
    assert {u.code for u in units if u.level == "village"} == villages
    with eng.connect() as conn:
        codes = visible_codes(conn, w["A"])
        groups = _set(conn, "select code from grid where parent_code = :a", a=w["A"])
    assert codes == {w["A"]} | groups


def test_demo_users_one_per_role(sec_url: str, eng: Engine, world,  # noqa: ANN001
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from dashboard.cli import app
    from gis import settings
    from gis.auth.users import authenticate

    monkeypatch.setattr(settings, "DATABASE_URL", sec_url)
    first = CliRunner().invoke(app, ["users", "demo", "--json"])
    again = CliRunner().invoke(app, ["users", "demo", "--json"])
    assert first.exit_code == 0, first.output
    rows = json.loads(first.output.strip().splitlines()[-1])
    rows2 = json.loads(again.output.strip().splitlines()[-1])
    assert [r["role"] for r in rows] == ["operator", "planner", "leader", "admin"]
    assert [len(r["unit"]) for r in rows] == [12, 9, 6, 6]
    assert all(a["password"] != b["password"] for a, b in zip(rows, rows2, strict=True))
    with eng.begin() as conn:
        for r in rows2:
            u = authenticate(conn, r["name"], r["password"])
            assert (u.role, u.unit_code) == (r["role"], r["unit"])


def test_publish_needs_an_admin_at_county_level(eng: Engine, world) -> None:  # noqa: ANN001
    from gis.grids.publish import publish

    w = world
    with eng.begin() as conn:
        planner = create_user(conn, "county_planner", "planner", w["adcode"], PW, actor="test")
        admin = create_user(conn, "county_admin", "admin", w["adcode"], PW, actor="test")
    assert not planner.may_publish and admin.may_publish
    with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
        with scoped(eng, planner) as conn:
            publish(conn, w["draft"], date(2031, 1, 1), actor=planner.name)
    with eng.connect() as conn:
        assert versions.get_version(conn, w["draft"])["status"] == "draft"
    with scoped(eng, admin) as conn:
        rep = publish(conn, w["draft"], date(2031, 1, 1), actor=admin.name)
    with eng.connect() as conn:
        rows = audit.query(conn, actor=admin.name, action="grid.publish")
        assert versions.get_version(conn, w["draft"])["status"] == "published"
    assert rep.retired_version_id == w["vid"]
    assert [(r["target"], r["scope_code"]) for r in rows] == [
        (f"grid_version:{w['draft']}", w["adcode"])]
    assert rows[0]["details"]["effective"] == "2031-01-01"
