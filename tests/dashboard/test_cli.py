"""The ``wangge`` CLI through typer's runner: exit codes and parsed output."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from gis.grids import versions
from gis.grids.store import read_grids

runner = CliRunner()


@pytest.fixture
def on_db(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Point the CLI at a database URL for one test."""

    def use(url: str) -> None:
        monkeypatch.setattr(settings, "DATABASE_URL", url)

    return use


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_db_status_reports_postgis(on_db, db_url: str) -> None:
    on_db(db_url)

    res = runner.invoke(app, ["db", "status", "--json"])

    assert res.exit_code == 0, res.output
    info = last_json(res.output)
    assert info["running"] is True and info["postgis"].startswith("3.")


def test_grids_import_json_and_error_exit_code(on_db, db_url: str, tmp_path: Path) -> None:
    on_db(db_url)
    gpd.GeoDataFrame({"代码": ["990201001001"], "名称": ["测试村"]},
                     geometry=[shapely.box(100.4, 38.9, 100.42, 38.92)], crs=4326
                     ).to_file(tmp_path / "v.geojson")
    gpd.GeoDataFrame({"code": ["990201001002"], "name": ["无坐标村"]},
                     geometry=[shapely.box(100.4, 38.9, 100.42, 38.92)]
                     ).to_file(tmp_path / "nocrs.shp")

    ok = runner.invoke(app, ["grids", "import", str(tmp_path / "v.geojson"), "--level",
                             "village", "--json"])
    bad = runner.invoke(app, ["grids", "import", str(tmp_path / "nocrs.shp"), "--level",
                              "village"])

    assert ok.exit_code == 0, ok.output
    assert last_json(ok.output)["inserted"] == 1
    assert bad.exit_code == 2
    assert "--crs" in bad.output


def test_geocode_csv_matches_an_independent_check(on_db, demo_db_url: str, demo_engine,
                                                  tmp_path: Path) -> None:
    on_db(demo_db_url)
    with demo_engine.connect() as conn:
        groups = read_grids(conn, versions.in_force(conn), level=2)
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = groups.total_bounds
    lon, lat = rng.uniform(x0, x1, 2_000), rng.uniform(y0, y1, 2_000)
    df = pd.DataFrame({"id": range(2_000), "经度": lon, "纬度": lat})
    df.loc[0, ["经度", "纬度"]] = [np.nan, np.nan]
    inside = groups.geometry.iloc[5].representative_point()
    df.loc[1, ["经度", "纬度"]] = [inside.y, inside.x]  # swapped
    df.to_csv(tmp_path / "in.csv", index=False)

    res = runner.invoke(app, ["geocode", str(tmp_path / "in.csv"), "--out",
                              str(tmp_path / "out.csv"), "--json"])

    assert res.exit_code == 0, res.output
    got = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert len(got) == 2_000 and last_json(res.output)["rows"] == 2_000
    assert got.loc[0, "reason"] == "missing coordinates"
    assert got.loc[1, "reason"].startswith("lat/lon look swapped")
    pts = shapely.points(lon, lat)
    for i in range(2, 2_000, 7):  # independent check: plain shapely point-in-polygon
        hits = groups["code"][shapely.intersects(np.asarray(groups.geometry.values), pts[i])]
        want = min(hits) if len(hits) else ""
        assert got.loc[i, "group_code"] == want
        if want:
            assert got.loc[i, "village_code"] == want[:12]


def test_bench_geocode_prints_one_json_line(on_db, demo_db_url: str) -> None:
    on_db(demo_db_url)

    res = runner.invoke(app, ["bench", "geocode", "--points", "20000"])

    assert res.exit_code == 0, res.output
    r = last_json(res.output)
    assert r["points"] == 20_000 and r["mismatches"] == 0 and r["baseline"] == "geopandas.sjoin"
    assert r["ratio"] > 0


def test_grids_validate_demo_is_clean(on_db, demo_db_url: str) -> None:
    on_db(demo_db_url)

    res = runner.invoke(app, ["grids", "validate", "--json"])

    assert res.exit_code == 0, res.output
    assert last_json_list(res.output) == []


def test_grids_validate_reports_an_overlap_and_exits_1(on_db, db_url: str,
                                                       tmp_path: Path) -> None:
    on_db(db_url)
    a = shapely.box(100.40, 38.90, 100.42, 38.92)
    b = shapely.box(100.419, 38.90, 100.44, 38.92)  # overlaps a by 0.001° × 0.02°
    gpd.GeoDataFrame({"code": ["990203001001", "990203001002"], "name": ["东村", "西村"]},
                     geometry=[a, b], crs=4326).to_file(tmp_path / "v.geojson")
    imported = runner.invoke(app, ["grids", "import", str(tmp_path / "v.geojson"), "--level",
                                   "village", "--json"])
    vid = last_json(imported.output)["version"]

    res = runner.invoke(app, ["grids", "validate", "--version", str(vid), "--json"])

    assert res.exit_code == 1, res.output
    problems = last_json_list(res.output)
    overlaps = [p for p in problems if p["type"] == "overlap"]
    assert len(overlaps) == 1 and overlaps[0]["codes"] == ["990203001001", "990203001002"]
    want = gpd.GeoSeries([a.intersection(b)], crs=4326).to_crs(32647).area.iloc[0]
    assert overlaps[0]["area_m2"] == pytest.approx(want, rel=0.01)


def last_json_list(output: str) -> list:
    return json.loads(output.strip().splitlines()[-1])


def test_escalate_cli_is_idempotent(on_db, db_url: str) -> None:
    on_db(db_url)

    first = runner.invoke(app, ["escalate", "--json", "--at", "2030-01-01T00:00:00+00:00"])
    again = runner.invoke(app, ["escalate", "--json", "--at", "2030-01-01T00:00:00+00:00"])

    assert first.exit_code == 0 and again.exit_code == 0, first.output
    assert last_json(again.output)["events"] == 0
