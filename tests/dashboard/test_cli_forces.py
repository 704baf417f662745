"""``wangge analyze coverage|cameras`` on the demo database and ``wangge forces
import-assignments`` on a test county of the empty database."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from tests.gis.test_coverage import (
    POSTS,
    TEST_ADCODE,
    VILLAGES,
    drop_county,
    good_rows,
    make_county,
    state,
    write_csv,
)

runner = CliRunner()


@pytest.fixture()
def on_demo(monkeypatch: pytest.MonkeyPatch, demo_db_url: str) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", demo_db_url)


@pytest.fixture()
def on_test_county(monkeypatch: pytest.MonkeyPatch, db_url: str, engine):
    monkeypatch.setattr(settings, "DATABASE_URL", db_url)
    with engine.begin() as conn:
        make_county(conn)
    yield engine
    with engine.begin() as conn:
        drop_county(conn)


def test_coverage_writes_one_row_per_village(on_demo, demo, tmp_path: Path) -> None:
    out = tmp_path / "coverage.csv"
    res = runner.invoke(app, ["analyze", "coverage", "--out", str(out), "--json"])

    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, dtype={"code": str, "township_code": str})
    assert len(table) == len(demo.villages) and set(table["code"]) == set(demo.villages["code"])
    lacking = set(demo.villages["code"]) - set(demo.officer_villages["village_code"])
    assert set(table.loc[table["no_officer"], "code"]) == lacking
    s = json.loads(res.output.strip().splitlines()[-1])
    assert s["villages"] == len(demo.villages) and s["no_officer"] == len(lacking)
    assert s["gap"] + s["ok"] == len(demo.villages)
    assert sum(t["villages"] for t in s["townships"]) == len(demo.villages)
    towns = pd.read_csv(tmp_path / "coverage_townships.csv", dtype={"township_code": str})
    assert len(towns) == len(demo.townships) and towns["villages"].sum() == len(demo.villages)


def test_coverage_prints_the_township_table(on_demo, demo, tmp_path: Path) -> None:
    out = tmp_path / "coverage.gpkg"
    res = runner.invoke(app, ["analyze", "coverage", "--out", str(out), "--max-villages", "4"])

    assert res.exit_code == 0, res.output
    assert "per township" in res.output and demo.townships["name"].iloc[0] in res.output
    back = pyogrio.read_dataframe(out)
    assert len(back) == len(demo.villages) and not back["officer_overloaded"].any()


@pytest.mark.parametrize("level", ["village", "group"])
def test_cameras(on_demo, demo, tmp_path: Path, level: str) -> None:
    out = tmp_path / f"cameras_{level}.geojson"
    res = runner.invoke(app, ["analyze", "cameras", "--out", str(out), "--level", level,
                              "--json"])

    assert res.exit_code == 0, res.output
    back = pyogrio.read_dataframe(out)
    grids = demo.villages if level == "village" else demo.groups
    assert len(back) == len(grids) and back["n_cameras"].sum() == len(demo.cameras)
    s = json.loads(res.output.strip().splitlines()[-1])
    assert s["cameras"] == len(demo.cameras) and 0 <= s["populated_share_county"] <= 1
    below = tmp_path / f"cameras_{level}_below_target.csv"
    if level == "village":
        assert below.exists() and len(pd.read_csv(below)) == s["below_target"]
    else:
        assert not below.exists()


def test_cameras_bad_level_exits_2(on_demo, tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze", "cameras", "--out", str(tmp_path / "x.csv"),
                              "--level", "township"])
    assert res.exit_code == 2 and "--level must be village or group" in res.output


def test_import_assignments(on_test_county, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "assign.csv", good_rows())
    res = runner.invoke(app, ["forces", "import-assignments", str(path), "--json"])

    assert res.exit_code == 0, res.output
    s = json.loads(res.output.strip().splitlines()[-1])
    assert (s["rows"], s["villages"], s["assignments"], s["militia"]) == (4, 3, 4, 2)
    with on_test_county.connect() as conn:
        first = state(conn)
    again = runner.invoke(app, ["forces", "import-assignments", str(path), "--adcode",
                                TEST_ADCODE, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output.strip().splitlines()[-1])["replaced_assignments"] == 4
    with on_test_county.connect() as conn:
        assert state(conn) == first


def test_import_assignments_rejects_unknown_villages(on_test_county, tmp_path: Path) -> None:
    rows = good_rows() + [{"village_code": f"{TEST_ADCODE}123456", "officer_code": "X001"}]
    path = write_csv(tmp_path / "bad.csv", rows)
    res = runner.invoke(app, ["forces", "import-assignments", str(path)])

    assert res.exit_code == 2
    assert "rejected" in res.output and "nothing imported" in res.output
    rej = pd.read_csv(tmp_path / "bad.csv.rejected.csv", dtype=str)
    assert rej["row"].tolist() == ["6"] and "unknown village code" in rej["reason"].iloc[0]
    with on_test_county.connect() as conn:
        n = conn.execute(sa.text("select count(*) from officer_village where adcode = :a"),
                         {"a": TEST_ADCODE}).scalar()
    assert n == 0
    assert VILLAGES and POSTS  # the test county's codes
