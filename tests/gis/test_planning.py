"""Planning: drafts, edits (validated, logged), versions as of a date, preview, publish, diff.

Real PostGIS. Hand-built counties live in the shared empty database under adcodes
9904xx (each test its own); the demo county is only used through drafts (never published).
Layout of a hand-built county: 3 × 2 square villages of 0.02° (codes ``{adcode}001001`` ...
``{adcode}001006``, row by row from the south-west), each split into a west and an east
group (``...001`` / ``...002``); villages are the exact unions of their groups, so the
coverage is edge-matched.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import box

from gis._errors import NotFoundError
from gis.grids import edits, publish, versions
from gis.grids.lookup import lookup_for_version
from gis.grids.store import read_grids, save_grids
from gis.grids.validation import validate_version
from gis.grids.versions import PlanningError, PublishRefused, TopologyRefused
from gis.incidents.ingest import ingest_frame

X0, Y0, D = 100.40, 38.90, 0.02
TZ = publish.LOCAL_TZ
BASE_DAY = date(2021, 1, 1)


def county(adcode: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Villages and groups of a hand-built county (EPSG:4490)."""
    vrows, grows = [], []
    xs, ys = [X0 + h * D / 2 for h in range(7)], [Y0 + h * D for h in range(3)]
    for k in range(6):
        i, j = k % 3, k // 3
        vcode = f"{adcode}001{k + 1:03d}"
        west = box(xs[2 * i], ys[j], xs[2 * i + 1], ys[j + 1])
        east = box(xs[2 * i + 1], ys[j], xs[2 * i + 2], ys[j + 1])
        grows += [(vcode + "001", "一社", vcode, west, 100 + k, 30 + k),
                  (vcode + "002", "二社", vcode, east, 200 + k, 60 + k)]
        vrows.append((vcode, f"村{k + 1}", f"{adcode}001",
                      shapely.coverage_union_all([west, east]), 300 + 2 * k, 90 + 2 * k))
    cols = ["code", "name", "parent_code", "geometry", "population", "households"]
    v = gpd.GeoDataFrame(pd.DataFrame(vrows, columns=cols), crs=4490)
    g = gpd.GeoDataFrame(pd.DataFrame(grows, columns=cols), crs=4490)
    v["township_code"] = g["township_code"] = f"{adcode}001"
    return v, g


def load_county(engine, adcode: str, effective: date = BASE_DAY) -> int:  # noqa: ANN001
    """Save the county into a version published from ``effective``; returns its id."""
    v, g = county(adcode)
    with engine.begin() as conn:
        vid = versions.create_version(conn, adcode, "base", created_by="test")
        save_grids(conn, vid, v, 1, adcode)
        save_grids(conn, vid, g, 2, adcode)
        versions.publish_simple(conn, vid, effective)
    return vid


def add_incidents(engine, adcode: str, vid: int, days: list[date], n: int = 600,  # noqa: ANN001
                  seed: int = 1) -> None:
    """Random incidents over the county (some outside, some exactly on edges / vertices)."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(X0 - 0.005, X0 + 3 * D + 0.005, n)
    lat = rng.uniform(Y0 - 0.005, Y0 + 2 * D + 0.005, n)
    # on shared edges, vertices and the lines the tests draw: the tie rule decides; twice,
    # so that some fall on any day
    xh = [1, 2, 2, 3, 2, 1, 0, 4, 3.5, 3, 5, 1]  # in half villages (the fixture's x lines)
    yy = [Y0 + 0.3 * D, Y0 + 0.5 * D, Y0 + D, Y0 + D, Y0 + 1.7 * D, Y0 + D, Y0, Y0 + D,
          Y0 + 1.5 * D, Y0 + 1.5 * D, Y0 + 0.5 * D, Y0 + D / 2]
    for start in (0, n // 2):
        lon[start:start + len(xh)] = [X0 + h * D / 2 for h in xh]
        lat[start:start + len(xh)] = yy
    when = [datetime.combine(days[int(rng.integers(0, len(days)))], datetime.min.time(), TZ)
            + timedelta(minutes=int(rng.integers(0, 24 * 60))) for _ in range(n)]
    df = pd.DataFrame({"source": f"test-{adcode}", "source_id": [f"{adcode}-{i}" for i in range(n)],
                       "kind": "dispute", "occurred_at": when, "lon": lon, "lat": lat})
    with engine.begin() as conn:
        ingest_frame(conn, df, adcode, lookup_for_version(conn, vid))


def incidents(engine, adcode: str) -> pd.DataFrame:  # noqa: ANN001
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.text(
            "select id, occurred_at, st_x(geom) as lon, st_y(geom) as lat, group_code, "
            "village_code, location_flag from incident where adcode = :a order by id"),
            {"a": adcode}).mappings().all())


def snapshot(engine, adcode: str) -> tuple:  # noqa: ANN001
    """Everything publishing may touch, for before / after comparisons."""
    with engine.connect() as conn:
        vs = conn.execute(sa.text(
            "select id, status, effective_date, retired_from, superseded_by, published_at "
            "from grid_version where adcode = :a order by id"), {"a": adcode}).all()
        gs = conn.execute(sa.text(
            "select version_id, code, name, parent_code, population, households, area_m2, "
            "md5(st_asbinary(geom)) from grid where adcode = :a order by version_id, code"),
            {"a": adcode}).all()
        log = conn.execute(sa.text("select count(*) from grid_edit where adcode = :a"),
                           {"a": adcode}).scalar_one()
    return vs, gs, incidents(engine, adcode).to_dict("records"), log


def texts(values: pd.Series) -> list:
    """Values as str / None (pandas 3 keeps missing strings as NaN)."""
    return [None if pd.isna(v) else str(v) for v in values]


def expected_codes(groups: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> list:
    """Independent point in polygon: smallest code among the groups that intersect."""
    geoms = np.asarray(groups.geometry.values)
    out = []
    for x, y in zip(lon, lat, strict=True):
        hits = groups["code"][shapely.intersects(geoms, shapely.Point(x, y))]
        out.append(min(hits) if len(hits) else None)
    return out


def vline(x: float, y0: float = Y0 - 0.01, y1: float = Y0 + 2 * D + 0.01) -> str:
    return f"LINESTRING ({x!r} {y0!r}, {x!r} {y1!r})"


def hline(y: float, x0: float = X0 - 0.01, x1: float = X0 + 3 * D + 0.01) -> str:
    return f"LINESTRING ({x0!r} {y!r}, {x1!r} {y!r})"


def errors_of(engine, vid: int) -> list:  # noqa: ANN001
    with engine.connect() as conn:
        return [p for p in validate_version(conn, vid)[1] if p.severity == "error"]


def edit_rows(engine, vid: int) -> list[tuple[int, str]]:  # noqa: ANN001
    """(id, op) of the grid_edit rows of a version; ``engine`` may be a connection."""
    if isinstance(engine, sa.engine.Connection):
        return [tuple(r) for r in engine.execute(sa.text(
            "select id, op from grid_edit where version_id = :v order by id"), {"v": vid})]
    with engine.connect() as conn:
        return edit_rows(conn, vid)


# --- tests ---------------------------------------------------------------------------------

def test_new_draft_copies_the_version_in_force(engine) -> None:  # noqa: ANN001
    base = load_county(engine, "990401")
    with engine.begin() as conn:
        draft = versions.new_draft(conn, "990401", actor="planner")
        src, copy = read_grids(conn, base), read_grids(conn, draft)
        v = versions.get_version(conn, draft)
    assert v["status"] == "draft" and v["parent_version_id"] == base
    assert list(src["code"]) == list(copy["code"]) and len(copy) == 18
    assert all(a.equals_exact(b, 0) for a, b in zip(src.geometry, copy.geometry, strict=True))
    assert edit_rows(engine, draft) == [(edit_rows(engine, draft)[0][0], "new_draft")]


def test_split_then_merge_restores_the_geometry(engine) -> None:  # noqa: ANN001
    load_county(engine, "990402")
    code = "990402001002001"
    with engine.begin() as conn:
        draft = versions.new_draft(conn, "990402", actor="planner")
        before = read_grids(conn, draft).set_index("code")
        line = f"LINESTRING ({X0 + D - 0.001} {Y0 - 0.001}, {X0 + D + 0.004} {Y0 + D + 0.001})"
        s = edits.split(conn, draft, code, line, actor="planner")
        mid = read_grids(conn, draft).set_index("code")
        m = edits.merge(conn, draft, s.codes_after, new_code=code, name="一社", actor="planner")
        after = read_grids(conn, draft).set_index("code")
        d = publish.diff(conn, versions.get_version(conn, draft)["parent_version_id"], draft)

    assert s.codes_after == [code + "001", code + "002"]
    pieces = mid.loc[s.codes_after]
    assert pieces["population"].sum() == before.at[code, "population"] == 101
    assert pieces["households"].sum() == before.at[code, "households"]
    share = pieces["area_m2"] / pieces["area_m2"].sum()  # population follows the area share
    assert np.allclose(pieces["population"] / 101, share, atol=1 / 101)
    assert set(after.index) == set(before.index)
    orig, back = before.geometry[code], after.geometry[code]
    assert abs(back.area - orig.area) / orig.area < 1e-4
    assert after.at[code, "area_m2"] == pytest.approx(before.at[code, "area_m2"], rel=1e-4)
    assert shapely.symmetric_difference(back, orig).area < 1e-12 * orig.area
    assert (after.loc[before.index, ["name", "parent_code", "population", "households"]]
            .equals(before[["name", "parent_code", "population", "households"]]))
    assert d["added"] == [] and d["removed"] == [] and d["changed"] == []
    assert errors_of(engine, draft) == []
    assert [op for _, op in edit_rows(engine, draft)] == ["new_draft", "split", "merge"]
    assert m.codes_before == s.codes_after


def test_every_edit_is_recorded_once_with_before_and_after(engine) -> None:  # noqa: ANN001
    load_county(engine, "990403")
    a = "990403001"
    with engine.begin() as conn:
        draft = versions.new_draft(conn, "990403", actor="planner")
        results = [
            edits.split(conn, draft, f"{a}001001", hline(Y0 + D / 2), actor="alice"),
            edits.move_group(conn, draft, f"{a}002001", f"{a}001", actor="bob"),
            edits.redraw_edge(conn, draft, f"{a}005001", f"{a}005002",
                              f"LINESTRING ({X0 + 1.4 * D} {Y0 + D}, {X0 + 1.6 * D} {Y0 + 2 * D})",
                              actor="carol"),
            edits.rename(conn, draft, f"{a}003", "新名村", actor="dave"),
            edits.recode(conn, draft, f"{a}006", f"{a}106", actor="erin"),
            edits.set_attrs(conn, draft, f"{a}004001", population=150, worker="张三",
                            actor="frank"),
            edits.merge(conn, draft, [f"{a}003001", f"{a}003002"], actor="gina"),
        ]
        log = conn.execute(sa.text(
            "select id, op, actor, codes_before, codes_after, grids_before, grids_after, at, "
            "geom_before is not null as gb from grid_edit where version_id = :v and "
            "op <> 'new_draft' order by id"), {"v": draft}).mappings().all()
        grids = read_grids(conn, draft).set_index("code")

    assert [r.edit_id for r in results] == [r["id"] for r in log]
    assert [r["op"] for r in log] == ["split", "move", "redraw_edge", "rename", "recode",
                                      "set_attrs", "merge"]
    assert [r["actor"] for r in log] == ["alice", "bob", "carol", "dave", "erin", "frank", "gina"]
    assert all(r["at"] is not None and r["gb"] for r in log)
    split = log[0]
    assert split["codes_before"] == [f"{a}001001"]
    assert split["grids_before"][0]["population"] == 100
    g0 = shapely.from_wkb(split["grids_before"][0]["wkb"])
    assert g0.equals(box(X0, Y0, X0 + D / 2, Y0 + D))
    assert shapely.union_all([shapely.from_wkb(g["wkb"]) for g in split["grids_after"]]
                             ).symmetric_difference(g0).area < 1e-14
    # move: the group and both villages changed together; the village level still tiles
    assert grids.at[f"{a}002001", "parent_code"] == f"{a}001"
    assert grids.at[f"{a}001", "population"] == 300 + 101 and grids.at[f"{a}002", "population"] == 201
    assert grids.geometry[f"{a}001"].equals(box(X0, Y0, X0 + 1.5 * D, Y0 + D))
    # recode: the groups follow their village
    assert set(grids[grids["parent_code"] == f"{a}106"].index) == {f"{a}006001", f"{a}006002"}
    # set_attrs on a group carries the change to its village
    assert grids.at[f"{a}004001", "worker"] == "张三"
    assert grids.at[f"{a}004", "population"] == 306 - 103 + 150
    assert grids.at[f"{a}003", "name"] == "新名村" and f"{a}003002" not in grids.index
    assert errors_of(engine, draft) == []
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.execute(sa.text("delete from grid_edit where version_id = :v"), {"v": draft})


def test_merge_of_non_adjacent_grids_is_refused(engine) -> None:  # noqa: ANN001
    load_county(engine, "990404")
    a = "990404001"
    with engine.begin() as conn:
        draft = versions.new_draft(conn, "990404", actor="planner")
        n = len(edit_rows(conn, draft))
        with pytest.raises(PlanningError, match="not adjacent") as exc:
            edits.merge(conn, draft, [f"{a}001", f"{a}005"], actor="planner")  # corner only
        assert f"{a}001" in str(exc.value) and "shared edge" in str(exc.value)
        with pytest.raises(PlanningError, match="not adjacent"):
            edits.merge(conn, draft, [f"{a}001", f"{a}003"], actor="planner")
        with pytest.raises(PlanningError, match="different parents"):
            edits.merge(conn, draft, [f"{a}001002", f"{a}002001"], actor="planner")
        with pytest.raises(PlanningError, match="same level"):
            edits.merge(conn, draft, [f"{a}001", f"{a}002001"], actor="planner")
        with pytest.raises(NotFoundError):
            edits.merge(conn, draft, [f"{a}001", "990404999999"], actor="planner")
        assert len(edit_rows(conn, draft)) == n == 1


def test_edits_on_a_published_version_are_refused(engine) -> None:  # noqa: ANN001
    base = load_county(engine, "990405")
    a = "990405001"
    with engine.begin() as conn:
        for op in (lambda: edits.split(conn, base, f"{a}001", vline(X0 + 0.3 * D), actor="x"),
                   lambda: edits.rename(conn, base, f"{a}001", "x", actor="x"),
                   lambda: edits.set_attrs(conn, base, f"{a}001", population=1, actor="x")):
            with pytest.raises(PlanningError, match=r"is published .*cannot be edited"):
                op()
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="cannot be changed"):
        conn.execute(sa.text("update grid set name = 'x' where version_id = :v"), {"v": base})


def test_village_split_follows_its_groups(engine) -> None:  # noqa: ANN001
    load_county(engine, "990406")
    a = "990406001"
    with engine.begin() as conn:
        draft = versions.new_draft(conn, "990406", actor="planner")
        with pytest.raises(PlanningError, match=r"cuts through group\(s\) 990406001001001"):
            edits.split(conn, draft, f"{a}001", vline(X0 + 0.2 * D), actor="planner")
        # a hand-drawn line a little off the groups' shared edge: groups go whole
        r = edits.split(conn, draft, f"{a}001", vline(X0 + 0.505 * D), new_codes=["V1W", "V1E"],
                        names=["西村", "东村"], actor="planner")
        g = read_grids(conn, draft).set_index("code")
        assert r.codes_after[:2] == ["V1W", "V1E"]
        assert g.at[f"{a}001001", "parent_code"] == "V1W"
        assert g.at[f"{a}001002", "parent_code"] == "V1E"
        assert g.geometry["V1W"].equals(box(X0, Y0, X0 + D / 2, Y0 + D))
        # figures follow the groups: 100 / 200 people, not an area share
        assert (g.at["V1W", "population"], g.at["V1E", "population"]) == (100, 200)
        # split_groups: the cut groups are split by the same line first
        r2 = edits.split(conn, draft, f"{a}002", hline(Y0 + D / 4), actor="planner",
                         split_groups=True)
        g = read_grids(conn, draft).set_index("code")
    assert r2.detail["groups_split"] == [f"{a}002001", f"{a}002002"]
    south, north = r2.codes_after[:2] if g.geometry[r2.codes_after[0]].centroid.y < \
        g.geometry[r2.codes_after[1]].centroid.y else r2.codes_after[1::-1]
    assert g.geometry[south].area == pytest.approx(D * D / 4, rel=1e-9)
    assert len(g[g["parent_code"] == south]) == 2 and len(g[g["parent_code"] == north]) == 2
    assert errors_of(engine, draft) == []


def test_edit_that_would_break_topology_is_refused(engine) -> None:  # noqa: ANN001
    load_county(engine, "990407")
    a = "990407001"
    with engine.begin() as conn:
        draft = versions.new_draft(conn, "990407", actor="planner")
        n = len(edit_rows(conn, draft))
        with pytest.raises(TopologyRefused, match="sliver") as exc:  # a 1 m strip
            edits.split(conn, draft, f"{a}001001", vline(X0 + 0.00001), actor="planner")
        assert exc.value.problems and exc.value.problems[0].type == "sliver"
        with pytest.raises(PlanningError, match="does not cut"):
            edits.split(conn, draft, f"{a}001001", vline(X0 + 0.7 * D), actor="planner")
        with pytest.raises(PlanningError, match="does not share an edge"):
            edits.move_group(conn, draft, f"{a}003002", f"{a}001", actor="planner")
        assert len(read_grids(conn, draft)) == 18
    assert len(edit_rows(engine, draft)) == n == 1


def test_redraw_village_edge_carries_the_groups(engine) -> None:  # noqa: ANN001
    load_county(engine, "990408")
    a = "990408001"
    with engine.begin() as conn:
        draft = versions.new_draft(conn, "990408", actor="planner")
        before = read_grids(conn, draft).set_index("code")
        edge = f"LINESTRING ({X0 + D} {Y0}, {X0 + 1.2 * D} {Y0 + D / 2}, {X0 + D} {Y0 + D})"
        edits.redraw_edge(conn, draft, f"{a}001", f"{a}002", edge, actor="planner")
        g = read_grids(conn, draft).set_index("code")
    pair = [f"{a}001", f"{a}002"]
    assert shapely.union_all(g.geometry[pair]).equals(shapely.union_all(before.geometry[pair]))
    gained = g.geometry[f"{a}001"].area - before.geometry[f"{a}001"].area
    assert gained == pytest.approx(0.2 * D * D / 2, rel=1e-9)
    assert g.geometry[f"{a}001002"].area - before.geometry[f"{a}001002"].area == \
        pytest.approx(gained, rel=1e-9)
    others = [c for c in before.index if not c.startswith((f"{a}001", f"{a}002"))]
    assert all(g.geometry[c].equals(before.geometry[c]) for c in others)
    assert errors_of(engine, draft) == []


def test_publish_reassigns_incidents_like_an_independent_check(engine) -> None:  # noqa: ANN001
    adcode, a = "990409", "990409001"
    base = load_county(engine, adcode)
    days = [date(2021, 3, 1) + timedelta(days=k) for k in range(0, 180, 7)]
    add_incidents(engine, adcode, base, days)
    effective = date(2021, 6, 1)
    with engine.begin() as conn:
        draft = versions.new_draft(conn, adcode, actor="planner")
        edits.move_group(conn, draft, f"{a}002001", f"{a}001", actor="planner")
        edits.split(conn, draft, f"{a}005002", hline(Y0 + 1.5 * D), actor="planner")
        edits.merge(conn, draft, [f"{a}003001", f"{a}003002"], new_code=f"{a}003900",
                    actor="planner")
        prev = publish.preview(conn, draft, effective)
    old = incidents(engine, adcode)
    with engine.begin() as conn:
        rep = publish.publish(conn, draft, effective, actor="chief")
        groups = read_grids(conn, draft, level=2)
    new = incidents(engine, adcode)

    late = (new["occurred_at"] >= publish.start_of(effective)).to_numpy()
    assert 0 < late.sum() < len(new)
    on_lines = np.r_[0:12, 300:312]
    assert late[on_lines].sum() >= 6 and (~late[on_lines]).sum() >= 6
    want = expected_codes(groups, new["lon"].to_numpy()[late], new["lat"].to_numpy()[late])
    parent = dict(zip(groups["code"], groups["parent_code"], strict=True))
    assert texts(new["group_code"][late]) == want
    assert texts(new["village_code"][late]) == [parent.get(w) for w in want]
    assert texts(new["location_flag"][late]) == ["ok" if w else "outside" for w in want]
    early = old[~late].reset_index(drop=True)
    assert new[~late].reset_index(drop=True).equals(early)  # earlier incidents unchanged
    changed = int(((new["group_code"].fillna("") != old["group_code"].fillna(""))
                   | (new["village_code"].fillna("") != old["village_code"].fillna(""))).sum())
    assert changed > 0
    assert rep.reassigned["incident"] == {"considered": int(late.sum()), "changed": changed}
    assert prev["incidents_changing"] == changed and prev["publishable"]
    assert {g["code"] for g in prev["grids"]} >= {f"{a}002001", f"{a}001", f"{a}002",
                                                  f"{a}003900", f"{a}003001"}
    # version chain and as_of
    with engine.connect() as conn:
        b, d = versions.get_version(conn, base), versions.get_version(conn, draft)
        assert (b["status"], b["retired_from"], b["superseded_by"]) == ("retired", effective, draft)
        assert (d["status"], d["effective_date"], d["published_by"]) == ("published", effective, "chief")
        assert versions.as_of(conn, adcode, date(2020, 12, 31)) is None
        assert versions.as_of(conn, adcode, BASE_DAY) == base
        assert versions.as_of(conn, adcode, effective - timedelta(days=1)) == base
        assert versions.as_of(conn, adcode, effective) == draft
        assert versions.as_of(conn, adcode, date(2030, 1, 1)) == draft
        assert versions.in_force(conn, adcode, date(2021, 5, 1)) == base
        ops = conn.execute(sa.text("select op, actor from grid_edit where version_id = :v "
                                   "and op = 'publish'"), {"v": draft}).all()
        assert [tuple(o) for o in ops] == [("publish", "chief")]
        with pytest.raises(PlanningError, match="cannot be edited"):
            edits.rename(conn, draft, f"{a}001", "x", actor="x")
        dd = publish.diff(conn, base, draft)
    assert {r["code"] for r in dd["added"]} == {f"{a}003900", f"{a}005002001", f"{a}005002002"}
    assert {r["code"] for r in dd["removed"]} == {f"{a}003001", f"{a}003002", f"{a}005002"}
    moved = next(r for r in dd["changed"] if r["code"] == f"{a}002001")
    assert moved["changes"] == ["parent_code"] and moved["parent_code_after"] == f"{a}001"
    v1 = next(r for r in dd["changed"] if r["code"] == f"{a}001")
    assert "geometry" in v1["changes"]
    assert v1["area_delta_m2"] == pytest.approx(dd["changed"][[r["code"] for r in dd["changed"]]
                                                .index(f"{a}002")]["area_delta_m2"] * -1, rel=1e-6)


def test_publishing_an_invalid_draft_changes_nothing(engine, monkeypatch) -> None:  # noqa: ANN001
    adcode, a = "990410", "990410001"
    base = load_county(engine, adcode)
    add_incidents(engine, adcode, base, [date(2021, 7, 1)], n=200)
    with engine.begin() as conn:
        draft = versions.new_draft(conn, adcode, actor="planner")
        edits.split(conn, draft, f"{a}004002", hline(Y0 + 1.5 * D), actor="planner")
        # a defect planted behind the edits' back: group 001001 shrinks, leaving a gap
        g = read_grids(conn, draft, level=2)
        g = g[g["code"] == f"{a}001001"].copy()
        g["geometry"] = [box(X0, Y0, X0 + D / 2, Y0 + 0.9 * D)]
        save_grids(conn, draft, g, 2, adcode)
    before = snapshot(engine, adcode)
    with engine.begin() as conn, pytest.raises(PublishRefused) as exc:
        publish.publish(conn, draft, date(2021, 6, 1), actor="chief")
    assert any(p.type == "gap" and f"{a}001001" in p.codes for p in exc.value.problems)
    assert "nothing was published" in str(exc.value)
    assert snapshot(engine, adcode) == before
    # a failure after the writes started rolls back too (savepoint), the caller goes on
    with engine.begin() as conn:
        save_grids(conn, draft, g.assign(geometry=[box(X0, Y0, X0 + D / 2, Y0 + D)]), 2, adcode)
    mid = snapshot(engine, adcode)
    orig = publish._write_back

    def boom(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        assert orig(*args, **kw) > 0
        raise RuntimeError("disk full")

    monkeypatch.setattr(publish, "_write_back", boom)
    with engine.begin() as conn, pytest.raises(RuntimeError, match="disk full"):
        publish.publish(conn, draft, date(2021, 6, 1), actor="chief")
    monkeypatch.undo()
    assert snapshot(engine, adcode) == mid
    with engine.begin() as conn, pytest.raises(PlanningError, match="must be later"):
        publish.publish(conn, draft, BASE_DAY, actor="chief")


def test_demo_draft_split_merge_and_preview(demo_engine) -> None:  # noqa: ANN001
    with demo_engine.connect() as conn:
        base = versions.in_force(conn)
        adcode = str(versions.get_version(conn, base)["adcode"])
        groups = read_grids(conn, base, level=2)
    with demo_engine.begin() as conn:
        draft = versions.new_draft(conn, adcode, name="test draft", actor="planner")
        row = groups.iloc[10]
        _, y0, _, y1 = row.geometry.bounds
        xm = row.geometry.representative_point().x
        s = edits.split(conn, draft, row.code, vline(xm, y0 - 0.01, y1 + 0.01), actor="planner")
        p1 = publish.preview(conn, draft, date.today() + timedelta(days=30))
        edits.merge(conn, draft, s.codes_after, new_code=row.code, name=row["name"],
                    actor="planner")
        p2 = publish.preview(conn, draft, date.today() + timedelta(days=30))
        back = read_grids(conn, draft, level=2).set_index("code").geometry[row.code]
        _, problems = validate_version(conn, draft)
    assert len(s.codes_after) >= 2 and p1["added"] == len(s.codes_after) and p1["removed"] == 1
    assert p1["publishable"] and p1["errors"] == 0
    assert (p2["added"], p2["removed"], p2["changed"]) == (0, 0, 0)
    assert abs(back.area - row.geometry.area) / row.geometry.area < 1e-4
    assert shapely.symmetric_difference(back, row.geometry).area < 1e-9 * row.geometry.area
    assert [p for p in problems if p.severity == "error"] == []
    with demo_engine.connect() as conn:
        assert versions.in_force(conn) == base
        assert versions.get_version(conn, base)["status"] == "published"
