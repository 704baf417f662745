"""``wangge grids report`` and ``wangge grids fix`` through typer's runner."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import box
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from gis.crs import area_m2
from gis.grids import versions
from gis.grids.metrics import METRIC_COLUMNS
from gis.grids.store import read_grids, save_grids
from gis.grids.topology import validate
from gis.territory import save_units, units
from tests.gis.test_metrics import grids

runner = CliRunner()


@pytest.fixture
def on_db(monkeypatch: pytest.MonkeyPatch):
    """Point the CLI at a database URL for one test."""

    def use(url: str) -> None:
        monkeypatch.setattr(settings, "DATABASE_URL", url)

    return use


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


# --- report ------------------------------------------------------------------------------------

def test_report_writes_the_full_table_as_csv(on_db, demo_db_url: str, demo_engine,
                                             tmp_path: Path) -> None:
    on_db(demo_db_url)
    with demo_engine.connect() as conn:
        groups = read_grids(conn, versions.in_force(conn), level=2)
    path = tmp_path / "sub" / "report.csv"

    res = runner.invoke(app, ["grids", "report", "--out", str(path), "--weeks", "2", "--json"])

    assert res.exit_code == 0, res.output
    info = last_json(res.output)
    assert info["grids"] == len(groups) and info["weeks"] == 2 and info["level"] == "group"
    assert info["too_large"] == int((groups["households"] > 300).sum())
    assert info["too_small"] == int((groups["households"] < 100).sum())
    assert len(info["flagged"]) == info["too_large"] + info["too_small"] > 0
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    back = pd.read_csv(path, encoding="utf-8-sig", dtype={"code": str, "parent_code": str})
    assert len(back) == len(groups) and list(back.columns) == METRIC_COLUMNS
    assert sorted(back["code"]) == sorted(groups["code"])
    assert back["name"].str.contains("组|社|队|村").any()  # Chinese survives the round trip
    assert int(back["too_large"].sum()) == info["too_large"]


def test_report_table_and_village_level(on_db, demo_db_url: str, demo_engine,
                                        tmp_path: Path) -> None:
    on_db(demo_db_url)
    with demo_engine.connect() as conn:
        villages = read_grids(conn, versions.in_force(conn), level=1)

    table = runner.invoke(app, ["grids", "report", "--top", "5"])
    vil = runner.invoke(app, ["grids", "report", "--level", "village", "--out",
                              str(tmp_path / "v.csv")])
    bad = runner.invoke(app, ["grids", "report", "--level", "town"])

    assert table.exit_code == 0, table.output
    assert "too_large" in table.output and "5 of" in table.output
    assert vil.exit_code == 0, vil.output
    back = pd.read_csv(tmp_path / "v.csv", encoding="utf-8-sig")
    assert len(back) == len(villages) and {"groups", "households_cv"} <= set(back.columns)
    assert bad.exit_code == 2


# --- fix ---------------------------------------------------------------------------------------

def draft_with_gap(engine, gap_m: float) -> tuple[int, str]:
    """A county 2 km × 1 km and a draft of two 1 km villages (two groups each) separated by a
    ``gap_m`` wide gap (negative: an overlap) that runs from border to border; shared edges
    have the same vertices. Returns (version, adcode)."""
    adcode = "99" + uuid.uuid4().hex[:4].translate(str.maketrans("abcdef", "123456"))
    x = 1000.0 + gap_m
    county = box(0, 0, 2000, 1000)
    vil = {"A": box(0, 0, 1000, 1000), "B": box(x, 0, 2000, 1000)}
    grp = {"A1": ("A", box(0, 0, 500, 1000)), "A2": ("A", box(500, 0, 1000, 1000)),
           "B1": ("B", box(x, 0, 1500, 1000)), "B2": ("B", box(1500, 0, 2000, 1000))}
    verts = shapely.multipoints(shapely.get_coordinates(
        np.array([county, *vil.values(), *(g for _, g in grp.values())], dtype=object)))
    vil = {k: shapely.snap(g, verts, 1e-6) for k, g in vil.items()}
    grp = {k: (p, shapely.snap(g, verts, 1e-6)) for k, (p, g) in grp.items()}
    cg = grids([{"code": adcode, "name": "测试县", "geom": shapely.snap(county, verts, 1e-6)}])
    vg = grids([{"code": f"{adcode}{k}", "name": f"{k}村", "level": 1, "households": 400,
                 "geom": g} for k, g in vil.items()])
    gg = grids([{"code": f"{adcode}{k}", "name": f"{k}组", "level": 2, "households": 200,
                 "parent_code": f"{adcode}{p}", "geom": g} for k, (p, g) in grp.items()])
    with engine.begin() as conn:
        save_units(conn, adcode, "county", cg)
        vid = versions.create_version(conn, adcode, "fix test")
        save_grids(conn, vid, vg, 1, adcode)
        save_grids(conn, vid, gg, 2, adcode)
    return vid, adcode


def stored(engine, vid: int) -> tuple:
    """(villages, groups, county) of a version."""
    with engine.connect() as conn:
        adcode = versions.get_version(conn, vid)["adcode"]
        return (read_grids(conn, vid, level=1), read_grids(conn, vid, level=2),
                units(conn, "county", adcode).geometry.iloc[0])


def errors(v, g, county) -> list:
    return [p for p in validate(v, g, county) if p.severity == "error"]


def test_fix_closes_a_half_metre_gap(on_db, db_url: str, engine) -> None:
    on_db(db_url)
    vid, _ = draft_with_gap(engine, 0.5)
    v0, g0, county = stored(engine, vid)
    assert errors(v0, g0, county), "the planted gap must be found before the fix"

    res = runner.invoke(app, ["grids", "fix", "--snap", "1", "--version", str(vid), "--json"])

    assert res.exit_code == 0, res.output
    info = last_json(res.output)
    assert info["errors_before"] > 0 and info["errors_after"] == 0 and info["written"] > 0
    applied = [c for c in info["changes"] if c["action"] in ("snapped", "noded")]
    assert applied and all(c["max_move_m"] <= 1.0 for c in applied)
    assert {c["level"] for c in applied if c["action"] == "snapped"} == {1, 2}
    v1, g1, _ = stored(engine, vid)
    assert errors(v1, g1, county) == []
    gap = 0.5 * 1000.0
    assert v1["area_m2"].sum() == pytest.approx(v0["area_m2"].sum() + gap, rel=1e-4)
    assert g1["area_m2"].sum() == pytest.approx(g0["area_m2"].sum() + gap, rel=1e-4)
    assert v1["area_m2"].to_numpy() == pytest.approx(area_m2(v1.geometry.values), rel=1e-9)


def test_fix_dry_run_writes_nothing(on_db, db_url: str, engine) -> None:
    on_db(db_url)
    vid, _ = draft_with_gap(engine, 0.5)
    v0, g0, _ = stored(engine, vid)

    res = runner.invoke(app, ["grids", "fix", "--snap", "1", "--version", str(vid),
                              "--dry-run", "--json"])

    assert res.exit_code == 0, res.output
    info = last_json(res.output)
    assert info["dry_run"] and info["fixed"] > 0 and info["written"] == 0
    v1, g1, _ = stored(engine, vid)
    assert shapely.equals_exact(v1.geometry.values, v0.geometry.values).all()
    assert shapely.equals_exact(g1.geometry.values, g0.geometry.values).all()


@pytest.mark.parametrize("gap_m", [5.0, -5.0])
def test_fix_refuses_a_5_m_gap_or_overlap_with_1_m_tolerance(on_db, db_url: str, engine,
                                                             gap_m: float) -> None:
    on_db(db_url)
    vid, adcode = draft_with_gap(engine, gap_m)
    v0, g0, _ = stored(engine, vid)

    res = runner.invoke(app, ["grids", "fix", "--snap", "1", "--version", str(vid), "--json"])
    table = runner.invoke(app, ["grids", "fix", "--snap", "1", "--version", str(vid)])

    assert res.exit_code == 1, res.output  # problems remain
    info = last_json(res.output)
    assert info["errors_after"] > 0 and info["written"] == 0
    assert all(c["action"] not in ("snapped",) for c in info["changes"])
    if gap_m < 0:  # the overlap would be cut off one of them: a 5 m move, refused
        refused = [c for c in info["changes"] if c["action"] == "not_fixed"]
        assert refused and all(c["max_move_m"] == pytest.approx(5.0, rel=0.01) for c in refused)
    kinds = {p["type"] for p in info["problems_after"]}
    assert kinds & {"gap", "overlap", "sliver"}
    assert any({f"{adcode}A", f"{adcode}B"} <= set(p["codes"]) and
               p["area_m2"] == pytest.approx(5_000.0, rel=0.01) for p in info["problems_after"])
    assert table.exit_code == 1 and "problems left" in table.output
    v1, g1, _ = stored(engine, vid)
    assert shapely.equals_exact(v1.geometry.values, v0.geometry.values).all()
    assert shapely.equals_exact(g1.geometry.values, g0.geometry.values).all()


def test_fix_refuses_a_published_version(on_db, demo_db_url: str, demo_engine) -> None:
    on_db(demo_db_url)
    with demo_engine.connect() as conn:
        vid = versions.in_force(conn)

    res = runner.invoke(app, ["grids", "fix", "--snap", "1", "--version", str(vid)])

    assert res.exit_code == 2
    assert "published" in res.output and "draft" in res.output


def test_fix_needs_a_positive_tolerance(on_db, db_url: str) -> None:
    on_db(db_url)

    zero = runner.invoke(app, ["grids", "fix", "--snap", "0"])
    missing = runner.invoke(app, ["grids", "fix"])

    assert zero.exit_code == 2 and missing.exit_code == 2
