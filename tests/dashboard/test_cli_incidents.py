"""``wangge incidents import`` and ``wangge bench ingest`` through typer's runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from tests.gis.test_intake import HEADER, ieng, inside, intake_db_url  # noqa: F401

runner = CliRunner()


@pytest.fixture
def on_intake_db(monkeypatch: pytest.MonkeyPatch, intake_db_url: str) -> str:  # noqa: F811
    monkeypatch.setattr(settings, "DATABASE_URL", intake_db_url)
    return intake_db_url


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_import_exits_0_and_lists_rejects(on_intake_db: str, inside,  # noqa: ANN001, F811
                                          tmp_path: Path) -> None:
    p, q = inside.iloc[50], inside.iloc[51]
    path = tmp_path / "hotline.csv"
    path.write_text(HEADER + f"L1,群众诉求,2025-04-01 08:00,{p.lon},{p.lat},,,甲\n"
                    f"L2,怪事,2025-04-01 09:00,{q.lon},{q.lat},,,乙\n"
                    f"L3,dispute,2025-04-01 10:00,{q.lat},{q.lon},,,丙\n", encoding="utf-8")

    res = runner.invoke(app, ["incidents", "import", str(path), "--source", "t-cli", "--json"])
    table = runner.invoke(app, ["incidents", "import", str(path), "--source", "t-cli"])

    assert res.exit_code == 0, res.output
    out = last_json(res.output)
    assert (out["rows"], out["inserted"], out["rejected"]) == (3, 1, 2)
    assert out["rejected_file"] == str(tmp_path / "hotline.rejected.csv")
    assert [(r["row"], r["code"]) for r in out["rejects"]] == [(3, "unknown_kind"),
                                                               (4, "swapped_latlon")]
    assert Path(out["rejected_file"]).exists()
    assert table.exit_code == 0, table.output
    assert "duplicates" in table.output and "swapped_latlon" in table.output


def test_fix_swapped_and_crs_options(on_intake_db: str, inside, tmp_path: Path) -> None:  # noqa: ANN001, F811
    p = inside.iloc[52]
    path = tmp_path / "swapped.csv"
    path.write_text(HEADER + f"M1,dispute,2025-04-02 10:00,{p.lat},{p.lon},,,丙\n",
                    encoding="utf-8")

    res = runner.invoke(app, ["incidents", "import", str(path), "--source", "t-cli-fix",
                              "--fix-swapped", "--crs", "wgs84", "--json"])

    assert res.exit_code == 0, res.output
    out = last_json(res.output)
    assert (out["inserted"], out["fixed_swapped"], out["rejected"]) == (1, 1, 0)


@pytest.mark.parametrize(("args", "match"), [
    (["nowhere.csv"], "no such file"),
    (["bad.csv", "--crs", "mars-2"], "unknown coordinate system"),
])
def test_unreadable_file_or_bad_option_exits_2(on_intake_db: str, tmp_path: Path,
                                               args: list[str], match: str) -> None:
    (tmp_path / "bad.csv").write_text(HEADER, encoding="utf-8")
    res = runner.invoke(app, ["incidents", "import", str(tmp_path / args[0]), *args[1:]])
    assert res.exit_code == 2
    assert match in res.output


def test_bench_ingest_reports_both_rates_in_a_dropped_database(on_intake_db: str) -> None:
    res = runner.invoke(app, ["bench", "ingest", "--rows", "3000", "--orm-rows", "300"])

    assert res.exit_code == 0, res.output
    out = last_json(res.output)
    assert out["rows"] == 3000 and out["inserted"] == 3000 and out["orm_rows_timed"] == 300
    assert out["copy_rows_per_s"] > out["orm_rows_per_s"] > 0
    assert out["ratio"] == pytest.approx(out["copy_rows_per_s"] / out["orm_rows_per_s"],
                                         rel=0.01)
    assert out["orm_extrapolated"] is True
    eng = sa.create_engine(on_intake_db)
    with eng.connect() as conn:
        left = conn.execute(sa.text("select count(*) from pg_database where datname = :n"),
                            {"n": f"wangge_bench_ingest_{os.getpid()}"}).scalar_one()
        mine = conn.execute(sa.text("select count(*) from incident where source like 'bench%'")
                            ).scalar_one()
    eng.dispose()
    assert left == 0 and mine == 0
