"""``wangge analyze`` on the demo database: files written and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def on_demo(monkeypatch: pytest.MonkeyPatch, demo_db_url: str) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", demo_db_url)


def test_gi_hotspots_file_has_one_row_per_group(demo, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "hs.gpkg"

    res = runner.invoke(app, ["analyze", "hotspots", "--weeks", "14", "--out", str(out),
                              "--json"])

    assert res.exit_code == 0, res.output
    back = pyogrio.read_dataframe(out)
    assert len(back) == len(demo.groups)
    assert back["count"].sum() == len(demo.incidents)  # every demo incident lies in a group
    assert (back["hotspot_class"].str.startswith("hot")).sum() > 0
    assert json.loads(res.output.strip().splitlines()[-1])["rows"] == len(demo.groups)


def test_reach_table_flags_every_village(demo, tmp_path: Path) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["analyze", "reach", "--out", str(tmp_path / "reach.csv")])

    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "reach.csv", dtype={"code": str})
    assert len(table) == len(demo.villages)
    assert (table["inside_5km"] <= table["inside_10km"]).all()
    assert (tmp_path / "reach_rings.geojson").exists()


def test_unknown_method_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze", "hotspots", "--method", "magic", "--out",
                              str(tmp_path / "x.csv")])

    assert res.exit_code == 2 and "--method must be one of" in res.output
