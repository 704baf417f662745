"""``wangge patrols import`` and ``wangge patrols compliance`` through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from tests.gis.test_patrols import SECTION_M, along, at, ll, track_feature, write_fc
from tests.gis.test_planning import load_county

runner = CliRunner()
ADCODE, V1 = "990521", "990521001001"


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def county_db(engine, db_url: str) -> str:
    load_county(engine, ADCODE)
    return db_url


@pytest.fixture
def on_db(monkeypatch: pytest.MonkeyPatch, county_db: str) -> str:
    monkeypatch.setattr(settings, "DATABASE_URL", county_db)
    return county_db


def test_import_and_weekly_compliance(on_db: str, tmp_path: Path) -> None:
    sec = write_fc(tmp_path / "roads.geojson", [
        {"type": "Feature", "properties": {"code": "S1", "name": "一段", "village_code": V1},
         "geometry": {"type": "LineString", "coordinates": ll(along(0, SECTION_M, 0))}},
        {"type": "Feature", "properties": {"code": "S2", "name": "二段", "village_code": V1},
         "geometry": {"type": "LineString", "coordinates": ll(along(0, 500, 300))}}])
    trk = write_fc(tmp_path / "week10.geojson", [
        track_feature("T1", along(0, 850, 20), at(9, 9)),
        track_feature("T2", along(0, 1000, 0), at(10, 23)),
        track_feature("T3", along(0, 900, -10), at(11, 9)),
        track_feature("T4", along(0, 500, 300), at(11, 10)),
        track_feature("T5", along(0, 750, 20), at(12, 9))])

    r1 = runner.invoke(app, ["patrols", "import", str(sec), "--kind", "sections",
                             "--adcode", ADCODE, "--json"])
    r2 = runner.invoke(app, ["patrols", "import", str(trk), "--adcode", ADCODE, "--json"])
    r3 = runner.invoke(app, ["patrols", "import", str(trk), "--adcode", ADCODE, "--json"])
    assert r1.exit_code == 0, r1.output
    assert (last_json(r1.output)["kind"], last_json(r1.output)["inserted"]) == ("sections", 2)
    assert r2.exit_code == 0, r2.output
    got = last_json(r2.output)
    assert (got["kind"], got["inserted"], got["rejected"], got["source"]) == \
        ("tracks", 5, 0, "week10")
    assert (last_json(r3.output)["inserted"], last_json(r3.output)["duplicates"]) == (0, 5)

    out_csv = tmp_path / "w10.csv"
    res = runner.invoke(app, ["patrols", "compliance", "--week", "2021-W10", "--adcode",
                              ADCODE, "--out", str(out_csv), "--json"])
    assert res.exit_code == 0, res.output
    doc = last_json(res.output)
    s = doc["summary"]
    assert (s["week"], s["sections_passed"], s["sections_total"], s["areas_total"]) == \
        ("2021-W10", 1, 2, 0)
    assert (s["night_patrols"], s["patrols"], s["villages"]) == (1, 5, 6)
    items = {i["code"]: i for i in doc["items"]}
    assert (items["S1"]["count"], items["S1"]["passed"], items["S1"]["night"]) == (3, True, 1)
    assert (items["S2"]["count"], items["S2"]["passed"], items["S2"]["required"]) == (1, False, 3)
    assert items["S2"]["best_share"] == pytest.approx(1.0)
    assert len(items["S1"]["patrols"]) == 3
    v1 = next(v for v in doc["villages"] if v["village_code"] == V1)
    assert (v1["patrols"], v1["night_patrols"], v1["passed"]) == (5, 1, None)
    table = pd.read_csv(out_csv, encoding="utf-8-sig", dtype={"village_code": str})
    assert table.set_index("code")["count"].to_dict() == {"S1": 3, "S2": 1}
    assert len(pd.read_csv(tmp_path / "w10.nights.csv", encoding="utf-8-sig")) == 6

    two = runner.invoke(app, ["patrols", "compliance", "--week", "2021-W10", "--adcode",
                              ADCODE, "--required", "1", "--json"])
    assert last_json(two.output)["summary"]["sections_passed"] == 2
    text = runner.invoke(app, ["patrols", "compliance", "--week", "2021-W10", "--adcode", ADCODE])
    assert text.exit_code == 0, text.output
    assert "pass" in text.output and "fail" in text.output and "一段" in text.output


def test_rejects_and_errors(on_db: str, tmp_path: Path) -> None:
    bad = write_fc(tmp_path / "bad_roads.geojson", [
        {"type": "Feature", "properties": {"code": "X1", "name": "外村", "village_code": "123"},
         "geometry": {"type": "LineString", "coordinates": ll(np.array([[0.0, 0], [10, 0]]))}}])
    res = runner.invoke(app, ["patrols", "import", str(bad), "--adcode", ADCODE])
    assert res.exit_code == 2
    assert "unknown_village" in res.output and "nothing was stored" in res.output
    trk = write_fc(tmp_path / "mixed.geojson", [
        track_feature("M1", along(0, 300, 0), at(9, 9)),
        {"type": "Feature", "properties": {"id": "M2"},
         "geometry": {"type": "LineString", "coordinates": ll(along(0, 300, 0))}}])
    res = runner.invoke(app, ["patrols", "import", str(trk), "--adcode", ADCODE, "--json"])
    assert res.exit_code == 0, res.output
    got = last_json(res.output)
    assert (got["inserted"], got["rejected"]) == (1, 1)
    assert got["rejects"][0]["feature"] == 2 and "no times" in got["rejects"][0]["reason"]
    table = runner.invoke(app, ["patrols", "import", str(trk), "--adcode", ADCODE])
    assert "rejected feature" in table.output and "no times" in table.output
    res = runner.invoke(app, ["patrols", "compliance", "--week", "2021-W99", "--adcode", ADCODE])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["patrols", "import", str(tmp_path / "none.gpx"), "--adcode", ADCODE])
    assert res.exit_code == 2 and "no such file" in res.output
