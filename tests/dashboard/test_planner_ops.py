"""Actions of the planner page (dashboard.planner_ops) on a mutable copy of the demo county:
new draft, edit preview (nothing written) and save, validate, publish refused / done.

Known answers: figures of merged / split grids against the stored ones, incidents that
change grid against an independent PostGIS point-in-polygon count.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import shapely
import sqlalchemy as sa

from dashboard import planner_data as pdata
from dashboard import planner_ops as ops
from gis.grids import versions
from gis.grids.publish import start_of
from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database


@pytest.fixture(scope="module")
def eng(demo) -> Iterator[sa.Engine]:
    """Engine of a fresh database holding the demo county (this module mutates it)."""
    from data.loader import load_demo

    url = with_database(database_url(),
                        f"wangge_test_planner_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    try:
        e = connect(url)
        load_demo(e, demo)
        yield e
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def base(eng) -> int:
    with eng.connect() as conn:
        return int(versions.in_force(conn))


@pytest.fixture(scope="module")
def draft(eng, base: int) -> int:
    res = ops.new_draft(eng, base, "tester")
    assert res["ok"], res
    return int(res["version_id"])


def _state(eng, vid: int) -> tuple:
    with eng.connect() as conn:
        grids = conn.execute(sa.text("select code, md5(st_asbinary(geom)), population from grid "
                                     "where version_id = :v order by code"), {"v": vid}).all()
        edits = conn.execute(sa.text("select count(*) from grid_edit where version_id = :v"),
                             {"v": vid}).scalar_one()
    return grids, edits


def _busy_group(vd: pdata.VersionData, rank: int = 0) -> str:
    g = vd.metrics[vd.metrics["level"] == 2].sort_values(["incidents", "code"],
                                                         ascending=[False, True])
    return str(g["code"].iloc[rank])


def _cross_line(vd: pdata.VersionData, code: str) -> str:
    """A north-south line through the middle of the grid's bounding box, past both ends."""
    x0, y0, x1, y1 = vd.grids.loc[vd.grids["code"] == code].geometry.iloc[0].bounds
    x = (x0 + x1) / 2
    return f"LINESTRING({x} {y0 - 0.002}, {x} {y1 + 0.002})"


def test_new_draft_copies_the_version(eng, base: int, draft: int) -> None:
    a, b = pdata.version_data(eng, base), pdata.version_data(eng, draft)
    assert b.status == "draft" and len(b.grids) == len(a.grids)
    assert ops.new_draft(eng, 999_999, "tester")["ok"] is False


def test_merge_preview_writes_nothing_and_adds_up(eng, draft: int) -> None:
    vd = pdata.version_data(eng, draft)
    code = _busy_group(vd)
    partner = pdata.grid_detail(vd, code)["merge_candidates"][0]["code"]
    before = _state(eng, draft)
    pv = ops.preview_edit(eng, draft, ops.EditRequest("merge", [code, partner]),
                          date(2000, 1, 1), "tester")
    assert pv["ok"], pv
    assert _state(eng, draft) == before  # rolled back
    assert pv["main_before"] == sorted([code, partner]) and pv["main_after"] == [min(code, partner)]
    rows = {(r["state"], r["code"]): r for r in pv["rows"]}
    merged = rows[("after", min(code, partner))]
    pops = [vd.metric_row(c)["population"] for c in (code, partner)]
    assert merged["population"] == sum(pops)
    assert merged["incidents_per_week"] == pytest.approx(
        sum(vd.metric_row(c)["incidents_per_week"] for c in (code, partner)))
    # the partner's incidents move to the merged grid's code: all of them, from any date
    moved_code = max(code, partner)
    with eng.connect() as conn:
        want = conn.execute(sa.text(
            "select count(*) from incident i join grid g on st_covers(g.geom, i.geom) "
            "where g.version_id = :v and g.code = :c"), {"v": draft, "c": moved_code}).scalar_one()
    assert want > 0 or pv["incidents_moved"] == 0
    assert pv["incidents_moved"] == want
    assert pv["publish"]["removed"] == 1 and pv["publish"]["errors"] == 0


def test_split_preview_counts_the_incidents_of_the_split_grid(eng, draft: int) -> None:
    vd = pdata.version_data(eng, draft)
    code = _busy_group(vd, 1)
    effective = date.today() - timedelta(days=30)
    pv = ops.preview_edit(eng, draft, ops.EditRequest("split", [code], _cross_line(vd, code)),
                          effective, "tester")
    assert pv["ok"], pv
    assert pv["main_before"] == [code] and len(pv["main_after"]) == 2
    pieces = [r for r in pv["rows"] if r["state"] == "after" and r["code"] in pv["main_after"]]
    assert sum(r["population"] for r in pieces) == vd.metric_row(code)["population"]
    assert sum(r["area_km2"] for r in pieces) == pytest.approx(
        vd.metric_row(code)["area_km2"], rel=1e-4)
    # both pieces get new codes: every incident of the grid from the effective date moves
    with eng.connect() as conn:
        want = conn.execute(sa.text(
            "select count(*) from incident i join grid g on st_covers(g.geom, i.geom) "
            "where g.version_id = :v and g.code = :c and i.occurred_at >= :t"),
            {"v": draft, "c": code, "t": start_of(effective)}).scalar_one()
    assert want > 0 and pv["incidents_moved"] == want


def test_bad_edits_are_refused_with_a_clear_message(eng, base: int, draft: int) -> None:
    vd = pdata.version_data(eng, draft)
    code = _busy_group(vd, 2)
    x0, y0, x1, y1 = vd.grids.loc[vd.grids["code"] == code].geometry.iloc[0].bounds
    inside = f"LINESTRING({(x0 + x1) / 2} {(y0 + y1) / 2}, {(x0 + x1) / 2} {y1 + 0.002})"
    before = _state(eng, draft)
    pv = ops.preview_edit(eng, draft, ops.EditRequest("split", [code], inside), date.today(), "t")
    assert not pv["ok"] and "does not cut" in pv["error"]
    far = vd.metrics[(vd.metrics["level"] == 2) & (vd.metrics["code"] != code)]
    near = {n["code"] for n in pdata.neighbours(vd, code)}
    others = [c for c in far["code"] if c not in near]
    pv = ops.preview_edit(eng, draft, ops.EditRequest("merge", [code, others[-1]]),
                          date.today(), "t")
    assert not pv["ok"] and "not" in pv["error"]
    pv = ops.preview_edit(eng, base, ops.EditRequest("merge", [code, others[-1]]),
                          date.today(), "t")
    assert not pv["ok"] and "published" in pv["error"] and "draft new" in pv["error"]
    assert _state(eng, draft) == before


def test_save_refuses_a_stale_preview_then_applies_and_logs(eng, draft: int) -> None:
    vd = pdata.version_data(eng, draft)
    code = _busy_group(vd, 3)
    partner = pdata.grid_detail(vd, code)["merge_candidates"][0]["code"]
    req = ops.EditRequest("merge", [code, partner])
    stale = ops.save_edit(eng, draft, req, "tester", ("draft", -1))
    assert not stale["ok"] and "preview the edit again" in stale["error"]
    pv = ops.preview_edit(eng, draft, req, date.today(), "tester")
    res = ops.save_edit(eng, draft, req, "tester", pv["stamp"])
    assert res["ok"], res
    assert res["main_after"] == [min(code, partner)]
    with eng.connect() as conn:
        op, actor, cb = conn.execute(sa.text(
            "select op, actor, codes_before from grid_edit where id = :i"),
            {"i": res["edit_id"]}).one()
    assert (op, actor) == ("merge", "tester") and set(cb) >= {code, partner}
    after = pdata.version_data(eng, draft)  # new stamp: reloaded, the old state dropped
    assert after.stamp != vd.stamp
    assert pdata._cache[("planner", str(eng.url), draft)][0] == after.stamp
    assert after.metric_row(max(code, partner)) is None
    assert after.metric_row(min(code, partner))["population"] == sum(
        vd.metric_row(c)["population"] for c in (code, partner))
    assert ops.validate(eng, draft)["valid"]


def test_publish_refuses_an_invalid_draft_and_changes_nothing(eng, base: int) -> None:
    bad = ops.new_draft(eng, base, "tester")["version_id"]
    vd = pdata.version_data(eng, bad)
    code = _busy_group(vd)
    grown = shapely.buffer(vd.grids.loc[vd.grids["code"] == code].geometry.iloc[0], 0.002)
    with eng.begin() as conn:
        conn.execute(sa.text("update grid set geom = st_multi(st_geomfromtext(:w, 4490)) "
                             "where version_id = :v and code = :c"),
                     {"w": grown.wkt, "v": bad, "c": code})
    checked = ops.validate(eng, bad)
    assert checked["ok"] and not checked["valid"]
    assert {"overlap"} <= {p["type"] for p in checked["problems"]}
    assert any(code in p["codes"] for p in checked["problems"])
    with eng.connect() as conn:
        inc = conn.execute(sa.text("select md5(string_agg(id || group_code, ',' order by id)) "
                                   "from incident")).scalar_one()
    day = date.today()
    res = ops.publish_draft(eng, bad, day, "tester")
    assert not res["ok"] and "fails validation" in res["error"] and res["problems"]
    with eng.connect() as conn:
        assert versions.get_version(conn, bad)["status"] == "draft"
        assert versions.in_force(conn) == base
        assert conn.execute(sa.text("select md5(string_agg(id || group_code, ',' order by id)) "
                                    "from incident")).scalar_one() == inc
    pv = ops.publish_preview(eng, bad, day)
    assert pv["ok"] and not pv["publishable"] and pv["errors"] >= 1


def test_publish_a_valid_draft(eng, base: int, draft: int) -> None:
    day = date.today() + timedelta(days=1)
    pv = ops.publish_preview(eng, draft, day)
    assert pv["ok"] and pv["publishable"], pv.get("problems")
    res = ops.publish_draft(eng, draft, day, "tester")
    assert res["ok"], res
    assert res["retired_version_id"] == base and res["effective"] == day
    with eng.connect() as conn:
        assert versions.as_of(conn, versions.get_version(conn, draft)["adcode"], day) == draft
    again = ops.publish_draft(eng, draft, day + timedelta(days=1), "tester")
    assert not again["ok"] and "published" in again["error"]


def test_export_gpkg_has_both_levels(eng, base: int, tmp_path) -> None:
    import pyogrio

    path = tmp_path / "x.gpkg"
    path.write_bytes(ops.export_gpkg(eng, base))
    layers = {str(a): b for a, b in pyogrio.list_layers(path)}
    assert set(layers) == {"village", "group"}
    assert pyogrio.read_info(path, layer="group")["features"] == 2450


def test_upload_shows_the_diff_then_replaces_the_draft(eng, base: int, tmp_path,
                                                        monkeypatch) -> None:
    import base64

    import geopandas as gpd

    monkeypatch.setattr(ops, "UPLOAD_DIR", tmp_path / "uploads")
    target = ops.new_draft(eng, base, "tester")["version_id"]
    path = tmp_path / "edited.gpkg"
    path.write_bytes(ops.export_gpkg(eng, target))
    villages = gpd.read_file(path, layer="village")
    code = str(villages.at[villages.index[3], "code"])
    villages.at[villages.index[3], "households"] = 1234
    villages.to_file(path, layer="village", driver="GPKG")
    contents = "data:application/octet-stream;base64," + \
        base64.b64encode(path.read_bytes()).decode()

    pv = ops.upload_preview(eng, target, contents, "edited.gpkg")
    assert pv["ok"] and pv["n_changes"] == 1 and pv["errors"] == 0
    assert [(c["code"], c["changes"], c["households_after"]) for c in pv["diff"]["changed"]] \
        == [(code, ["households"], 1234)]
    assert (ops.UPLOAD_DIR / f"{pv['token']}.gpkg").exists()
    assert pdata.version_data(eng, target).metric_row(code)["households"] != 1234

    res = ops.upload_apply(eng, target, pv["token"], "tester", filename="edited.gpkg")
    assert res["ok"] and res["changed"] == [code]
    assert pdata.version_data(eng, target).metric_row(code)["households"] == 1234
    assert not (ops.UPLOAD_DIR / f"{pv['token']}.gpkg").exists()
    with eng.connect() as conn:
        op, actor, detail = conn.execute(sa.text(
            "select op, actor, detail from grid_edit where id = :i"), {"i": res["edit_id"]}).one()
    assert (op, actor, detail["file"]) == ("import", "tester", "edited.gpkg")
    again = ops.upload_apply(eng, target, pv["token"], "tester")
    assert not again["ok"] and "upload it again" in again["error"]
    assert not ops.upload_apply(eng, target, "../../etc/passwd", "tester")["ok"]
    bad = ops.upload_preview(eng, target, "data:;base64," + base64.b64encode(b"nope").decode(),
                             "nope.gpkg")
    assert not bad["ok"] and "cannot open" in bad["error"]
    assert not any(ops.UPLOAD_DIR.glob("*.gpkg"))  # a refused upload is not kept
