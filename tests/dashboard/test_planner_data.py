"""Data of the planner page (dashboard.planner_data, layers.planner) on the demo county.

Read-only: the shared demo database. Known answers come from the database itself and from
independent PostGIS queries (point in polygon, shared boundaries).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard import planner_data as pdata
from gis.grids import versions
from gis.grids.metrics import bounds_for
from gis.grids.publish import start_of
from layers.i18n import has, t
from layers.planner import METRICS, metric_classes, planner_layer, problem_layer


@pytest.fixture(scope="module")
def vid(demo_engine) -> int:
    with demo_engine.connect() as conn:
        v = versions.in_force(conn)
    assert v is not None
    return int(v)


@pytest.fixture(scope="module")
def vd(demo_engine, vid: int) -> pdata.VersionData:
    return pdata.version_data(demo_engine, vid)


def test_versions_for_the_picker(demo_engine, vid: int) -> None:
    rows = pdata.version_options(demo_engine)
    assert [r["id"] for r in rows if r["in_force"]] == [vid]
    row = next(r for r in rows if r["id"] == vid)
    assert row["status"] == "published" and row["villages"] == 248 and row["groups"] == 2450
    assert pdata.default_version(demo_engine) == vid


def test_metrics_cover_every_grid_with_stored_figures(demo_engine, vd) -> None:
    assert len(vd.metrics) == 248 + 2450 == len(vd.grids)
    assert set(vd.metrics.columns) >= {m.column for m in METRICS.values()}
    with demo_engine.connect() as conn:
        db = dict(conn.execute(sa.text("select code, population from grid where version_id = :v"),
                               {"v": vd.version_id}).all())
    got = dict(zip(vd.metrics["code"], vd.metrics["population"].astype(int), strict=True))
    assert got == db
    assert vd.metrics["too_large"].any() and vd.metrics["too_small"].any()
    assert pdata.version_data(demo_engine, vd.version_id) is vd  # cached until an edit


def test_incidents_are_counted_by_location_as_postgis_does(demo_engine, vd) -> None:
    """The busiest group grids' incident counts against an independent ST_Covers count."""
    since = start_of(pdata.window_start(vd.weeks))
    groups = vd.metrics[vd.metrics["level"] == 2].nlargest(5, "incidents")
    assert groups["incidents"].min() > 0
    with demo_engine.connect() as conn:
        for code, n in zip(groups["code"], groups["incidents"], strict=True):
            want = conn.execute(sa.text(
                "select count(*) from incident i join grid g on st_covers(g.geom, i.geom) "
                "where g.version_id = :v and g.code = :c and i.occurred_at >= :t"),
                {"v": vd.version_id, "c": code, "t": since}).scalar_one()
            assert n == want, code
    row = vd.metric_row(groups["code"].iloc[0])
    assert row["incidents_per_week"] == pytest.approx(row["incidents"] / vd.weeks)


def test_layer_carries_every_metric_and_the_flags(vd) -> None:
    lyr = planner_layer(vd.grids, vd.metrics, 2, metric="compactness")
    feats = lyr.data["features"]
    assert len(feats) == 2450
    props = feats[0]["properties"]
    assert set(METRICS) <= set(props) and {"code", "name", "flag"} <= set(props)
    m = vd.metrics.set_index("code")
    flags = pd.Series([f["properties"]["flag"] for f in feats])
    groups = m[m["level"] == 2]
    assert (flags.isin(["large", "both"])).sum() == groups["too_large"].sum()
    assert (flags.isin(["small", "both"])).sum() == groups["too_small"].sum()
    f = next(f for f in feats if f["properties"]["flag"] == "large")["properties"]
    assert bool(m.at[f["code"], "too_large"])
    assert f["dist_to_post_km"] == pytest.approx(m.at[f["code"], "dist_to_post_m"] / 1000, abs=1e-3)
    assert lyr.title == "planner.m.compactness" and has(lyr.title)


def test_metric_classes_are_quantiles_with_nice_breaks() -> None:
    values = np.arange(1, 1001, dtype=float)  # 1 .. 1000
    c = metric_classes(values, METRICS["population"])
    assert c.breaks == (1.0, 210.0, 410.0, 610.0, 810.0)
    assert list(c.breaks) == sorted(set(c.breaks)) and len(c.colors) == 5
    # every class holds about a fifth of the values
    idx = np.searchsorted(c.breaks, values, side="right") - 1
    assert np.bincount(idx).tolist() == [209, 200, 200, 200, 191]
    few = metric_classes([3.0, 3.0, 3.0, np.nan], METRICS["households"])
    assert few.breaks == (3.0,)


def test_switching_the_metric_changes_classes_and_legend(vd) -> None:
    hh, legend_hh = pdata.styling(vd, 1, "households")
    cp, legend_cp = pdata.styling(vd, 1, "compactness")
    assert hh["prop"] == "households" and cp["prop"] == "compactness"
    assert hh["breaks"] != cp["breaks"]
    texts = [e.text("en") for e in legend_hh]
    assert texts[0].startswith(f"{math.floor(hh['breaks'][0]):,}")  # thousands separators
    villages = vd.metrics[vd.metrics["level"] == 1]
    large = int((villages["too_large"] & ~villages["too_small"]).sum())
    assert f"Too large ({large})" in texts
    assert all(has(e.label) for e in legend_cp)
    assert [e.text("zh") for e in legend_cp][:5] != texts[:5]


def test_grid_detail_metrics_flags_and_reasons(demo_engine, vd) -> None:
    big = vd.metrics[(vd.metrics["level"] == 2) & vd.metrics["too_large"]].iloc[0]
    d = pdata.grid_detail(vd, big["code"])
    assert d is not None and d["level"] == 2 and d["too_large"]
    m = {k: v for k, v, _ in d["metrics"]}
    with demo_engine.connect() as conn:
        pop, hh, name = conn.execute(sa.text(
            "select population, households, name from grid where version_id = :v and code = :c"),
            {"v": vd.version_id, "c": big["code"]}).one()
    assert (m["population"], m["households"], d["name"]) == (pop, hh, name)
    b = bounds_for(2, vd.adcode)
    keys = [k for k, _ in d["reasons"]]
    assert keys, "a flagged grid has a reason"
    if hh > b.households[1]:
        assert "planner.reason.hh_high" in keys
    for k, fields in d["reasons"]:
        assert has(k) and t(k, "en", **fields)
    assert pdata.grid_detail(vd, "no-such-code") is None


def test_neighbours_match_postgis_shared_boundaries(demo_engine, vd) -> None:
    code = vd.metrics[vd.metrics["level"] == 1]["code"].iloc[17]
    nbs = pdata.neighbours(vd, code)
    with demo_engine.connect() as conn:
        want = set(conn.execute(sa.text("""
            select b.code from grid a join grid b on b.version_id = a.version_id
              and b.level = a.level and b.code <> a.code and st_intersects(a.geom, b.geom)
            where a.version_id = :v and a.code = :c
              and st_length(st_intersection(st_boundary(a.geom), st_boundary(b.geom))) > 1e-6"""),
            {"v": vd.version_id, "c": code}).scalars())
    assert {n["code"] for n in nbs} == want and len(want) >= 2
    assert all(n["shared_m"] > 1 for n in nbs)
    assert [n["shared_m"] for n in nbs] == sorted((n["shared_m"] for n in nbs), reverse=True)
    # symmetric, and merge candidates are the neighbours with the same parent
    other = nbs[0]["code"]
    assert code in {n["code"] for n in pdata.neighbours(vd, other)}
    d = pdata.grid_detail(vd, code)
    assert d["merge_candidates"] == [n for n in nbs if n["parent_code"] == d["parent_code"]]


def test_problem_layer_places_markers_by_type() -> None:
    problems = [
        {"type": "gap", "severity": "error", "codes": ["a", "b"], "area_m2": 5.04,
         "location": "POINT (100.5 39.0)"},
        {"type": "multipart", "severity": "warning", "codes": ["c"], "area_m2": 1200.0,
         "location": "POINT (100.6 39.1)"}]
    lyr = problem_layer(problems, {"gap": "缝隙"})
    feats = lyr.data["features"]
    assert [f["geometry"]["coordinates"] for f in feats] == [[100.5, 39.0], [100.6, 39.1]]
    first = feats[0]["properties"]
    assert (first["label"], first["codes"], first["area_m2"]) == ("缝隙", "a, b", 5.0)
    assert lyr.style.classes.color(feats[0]["properties"]["k"]) != \
        lyr.style.classes.color(feats[1]["properties"]["k"])
    assert [e.label for e in lyr.legend] == ["planner.problem.gap", "planner.problem.multipart"]


def test_drawn_line_becomes_wkt() -> None:
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}},
        {"type": "Feature", "geometry": {"type": "LineString",
                                         "coordinates": [[100.1, 39.2], [100.3, 39.25]]}}]}
    assert pdata.line_wkt(gj) == ("LINESTRING(100.1000000 39.2000000, 100.3000000 39.2500000)",
                                  2)
    assert pdata.line_wkt({"features": []}) == (None, 0)
    assert pdata.line_wkt(None) == (None, 0)


def test_every_planner_text_is_translated() -> None:
    """Literal keys in the planner's modules, and the keys they build from data."""
    import re
    from pathlib import Path

    from dashboard import planner_layout
    from gis.grids.publish import _ATTRS
    from gis.grids.topology import PROBLEM_TYPES

    root = Path(__file__).resolve().parents[2]
    sources = [root / "dashboard" / f for f in ("planner_layout.py", "planner_callbacks.py",
                                                 "planner_data.py", "pages/planner.py")]
    sources.append(root / "layers" / "planner.py")
    literal = set()
    for src in sources:
        literal |= set(re.findall(r'"(planner\.[a-z0-9_.]+[a-z0-9_])"', src.read_text()))
    built = {f"planner.problem.{p}" for p in PROBLEM_TYPES}
    built |= {f"planner.m.{k}" for k in pdata.DETAIL_METRICS}
    built |= {m.label for m in METRICS.values()}
    built |= {f"planner.col.{k}" for k, _, _ in planner_layout.ROW_METRICS}
    built |= {f"planner.change.{f}" for f in ("geometry", *_ATTRS)}
    built |= {f"planner.status.{s}" for s in ("draft", "published", "retired")}
    built |= {f"planner.state.{s}" for s in ("before", "after")}
    built |= {f"planner.op.{o}" for o in ("split", "merge")}
    built |= {f"planner.reason.{r}" for r in ("hh_high", "hh_low", "area_high", "area_low",
                                              "rpw_high")}
    built |= {f"planner.legend.{f}" for f in ("large", "small", "both", "selected", "no_data")}
    missing = sorted(k for k in literal | built if not has(k))
    assert missing == []
    assert len(literal) > 50
