"""``wangge kpi`` through typer's CliRunner on the hand-made KPI scenario
(tests/gis/test_kpi_scenario.py): exit codes, --json figures, CSV written and read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from tests.gis.test_kpi_scenario import COUNTY, T1, T2, V, scenario_db

runner = CliRunner()


@pytest.fixture(scope="module")
def scenario_url() -> Iterator[tuple[str, dict[str, int]]]:
    with scenario_db() as (url, ids):
        yield url, ids


@pytest.fixture(autouse=True)
def on_scenario(monkeypatch: pytest.MonkeyPatch, scenario_url) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", scenario_url[0])


def _json(args: list[str]) -> dict:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


def test_kpi_json_township(tmp_path: Path) -> None:
    out = tmp_path / "kpi.csv"
    doc = _json(["kpi", "--period", "2026-11", "--level", "township", "--out", str(out),
                 "--json"])
    assert (doc["period"], doc["level"], doc["start"]) == ("2026-11", "township",
                                                           "2026-11-01T00:00:00+08:00")
    rows = {r["code"]: r for r in doc["rows"]}
    assert set(rows) == {T1, T2}
    t1 = rows[T1]
    assert (t1["incidents"], t1["on_time_rate_num"], t1["on_time_rate_den"]) == (7, 3, 5)
    assert t1["on_time_rate"] == pytest.approx(0.6) and t1["on_time_rate_pass"] is False
    assert (rows[T2]["mediation_success_rate_num"], rows[T2]["escalations"]) == (1, 4)
    assert doc["targets"]["mediation_success_rate"] == 0.96
    back = pd.read_csv(out, dtype={"code": str}, encoding="utf-8-sig")
    assert list(back["code"]) == [T1, T2] and list(back["incidents"]) == [7, 6]
    assert back.loc[0, "name"] == "甲镇"


def test_kpi_week_village_area() -> None:
    doc = _json(["kpi", "-p", "2026-W45", "--level", "village", "--area", T1, "--json"])
    assert [(r["code"], r["incidents"]) for r in doc["rows"]] == [(V["A"], 4), (V["B"], 0)]
    assert doc["area"] == T1


def test_kpi_rank_option_and_table() -> None:
    doc = _json(["kpi", "--period", "2026-11", "--level", "county", "--rank", "--json"])
    assert doc["rows"][0]["code"] == COUNTY and doc["rows"][0]["rank"] == 1
    res = runner.invoke(app, ["kpi", "--period", "2026-11", "--level", "village"])
    assert res.exit_code == 0, res.output
    assert "甲村" in res.output and "targets:" in res.output


def test_kpi_rank_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "KPI_RANK_MIN_BASE", 1)
    doc = _json(["kpi", "rank", "--period", "2026-11", "--level", "village", "--json"])
    assert [r["code"] for r in doc["rows"]][:4] == [V["C"], V["A"], V["D"], V["B"]]
    assert doc["rows"][1]["score"] == pytest.approx(66.0) and doc["min_base"] == 1
    assert doc["rows"][-1]["rank"] is None  # G has no incident: no score
    res = runner.invoke(app, ["kpi", "rank", "--period", "2026-11", "--level", "township",
                              "--top", "1"])
    assert res.exit_code == 0 and "乙镇" in res.output and "甲镇" not in res.output


def test_kpi_siwu(tmp_path: Path, scenario_url) -> None:
    _, ids = scenario_url
    out = tmp_path / "siwu.csv"
    doc = _json(["kpi", "siwu", "--period", "2026-11", "--failing", "--out", str(out),
                 "--json"])
    assert doc["summary"] == {"villages": 7, "siwu": 3, "failing": 4, "criminal": 1,
                              "public_security": 1, "major_dispute": 1, "skip_petition": 1}
    reasons = {r["code"]: r["reasons"] for r in doc["rows"]}
    assert reasons == {V["B"]: "skip_petition", V["C"]: "criminal", V["D"]: "major_dispute",
                       V["E"]: "public_security"}
    back = pd.read_csv(out, dtype={"code": str, "criminal_ids": str}, encoding="utf-8-sig")
    assert back.set_index("code").loc[V["C"], "criminal_ids"] == str(ids["k1"])
    res = runner.invoke(app, ["kpi", "siwu", "--period", "2026-11"])
    assert res.exit_code == 0 and "四无 villages 2026-11: 3 of 7" in res.output


def test_kpi_defs() -> None:
    doc = _json(["kpi", "defs", "--json"])
    assert "调解成功率" in doc["definitions"]["mediation_success_rate"]
    assert doc["targets"]["eventual_closure_rate"] == 0.99


@pytest.mark.parametrize(("args", "msg"), [
    (["kpi", "--period", "2026-13"], "month 13 does not exist"),
    (["kpi", "--period", "last week"], "2026-11-01:2026-11-30"),
    (["kpi"], "give --period"),
    (["kpi", "rank", "--period", "2026-W99"], "no ISO week 99"),
    (["kpi", "--period", "2026-11", "--level", "street"], "level 'street' is unknown"),
    (["kpi", "siwu", "--period", "2026-11", "--area", "000000"], "not the code of a county"),
])
def test_bad_input_exits_2(args: list[str], msg: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert msg in " ".join(res.output.split())
