"""``wangge address match`` / ``address review list|accept|reject`` and the import summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from tests.gis.test_address_review import addr_db_url, aeng, when  # noqa: F401

runner = CliRunner()
LIZHAI_3 = "620702105201003"


@pytest.fixture
def on_addr_db(monkeypatch: pytest.MonkeyPatch, addr_db_url: str) -> str:  # noqa: F811
    monkeypatch.setattr(settings, "DATABASE_URL", addr_db_url)
    return addr_db_url


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_match_shows_the_grid_or_the_candidates(on_addr_db: str) -> None:
    ok = runner.invoke(app, ["address", "match", "甘州区党寨镇李寨村三社", "--json"])
    doubt = runner.invoke(app, ["address", "match", "甘州区党寨镇陈寨村三社", "--json"])
    table = runner.invoke(app, ["address", "match", "甘州区党寨镇陈寨村三社"])
    old = runner.invoke(app, ["address", "match", "李寨村", "--on", "1999-01-01"])
    bad = runner.invoke(app, ["address", "match", "李寨村", "--on", "yesterday"])

    assert ok.exit_code == 0, ok.output
    m = last_json(ok.output)
    assert (m["code"], m["level"], m["status"], m["intake"]) == (LIZHAI_3, "group", "matched",
                                                                 "placed")
    assert m["confidence"] == 1.0 and len(m["point"]) == 2
    d = last_json(doubt.output)
    assert (d["status"], d["intake"], d["code"]) == ("review", "review", "620702105")
    assert [c["code"] for c in d["candidates"][:2]] == ["620702105201003", "620702105202003"]
    assert table.exit_code == 0 and "620702105202003" in table.output
    assert old.exit_code == 2 and "no published grid version is in force" in old.output
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_import_summary_then_review_list_accept_reject(on_addr_db: str,
                                                      aeng, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "hotline.csv"
    path.write_text("编号,类型,时间,地址,报告人\n"
                    f"C1,dispute,{when(600)},甘州区党寨镇李寨村三社,甲\n"
                    f"C2,dispute,{when(601)},党寨镇陈寨村三社,乙\n"
                    f"C3,dispute,{when(602)},北京市朝阳区建国路1号,丙\n", encoding="utf-8")

    imp = runner.invoke(app, ["incidents", "import", str(path), "--source", "t-cli-addr",
                              "--json"])
    table = runner.invoke(app, ["incidents", "import", str(path), "--source", "t-cli-addr"])

    assert imp.exit_code == 0, imp.output
    s = last_json(imp.output)
    assert (s["inserted"], s["placed_by_address"], s["address_review"],
            s["address_review_new"]) == (3, 1, 2, 2)
    assert table.exit_code == 0 and "placed_by_address" in table.output
    with aeng.connect() as conn:
        ids = dict(conn.execute(sa.text(
            "select source_id, id from address_review where source = 't-cli-addr'")).all())
    assert sorted(ids) == ["C2", "C3"]

    lst = runner.invoke(app, ["address", "review", "list", "--json", "--limit", "1000"])
    assert lst.exit_code == 0, lst.output
    listed = last_json(lst.output)
    mine = {i["source_id"]: i for i in listed["items"] if i["source"] == "t-cli-addr"}
    assert set(mine) == {"C2", "C3"} and listed["pending"] >= 2
    assert mine["C2"]["candidates"][0]["code"] == "620702105201003"
    shown = runner.invoke(app, ["address", "review", "list"])
    assert shown.exit_code == 0 and "pending address review" in shown.output

    acc = runner.invoke(app, ["address", "review", "accept", str(ids["C2"]), "--grid",
                              "620702105202003", "--actor", "张科长", "--json"])
    again = runner.invoke(app, ["address", "review", "accept", str(ids["C2"]), "--grid",
                                "620702105202003", "--json"])
    other = runner.invoke(app, ["address", "review", "accept", str(ids["C2"]), "--grid",
                                LIZHAI_3])
    assert acc.exit_code == 0, acc.output
    a = last_json(acc.output)
    assert a["changed"] is True and a["group_code"] == "620702105202003"
    assert last_json(again.output)["changed"] is False
    assert other.exit_code == 2 and "already accepted" in other.output
    with aeng.connect() as conn:
        grp, flag = conn.execute(sa.text(
            "select group_code, location_flag from incident where source = 't-cli-addr' "
            "and source_id = 'C2'")).one()
    assert (grp, flag) == ("620702105202003", "address")

    rej = runner.invoke(app, ["address", "review", "reject", str(ids["C3"]), "--reason",
                              "外省地址", "--actor", "王主任", "--json"])
    noreason = runner.invoke(app, ["address", "review", "reject", str(ids["C3"])])
    missing = runner.invoke(app, ["address", "review", "accept", "999999999", "--grid", LIZHAI_3])
    assert rej.exit_code == 0, rej.output
    r = last_json(rej.output)
    assert (r["status"], r["reviewer"], r["note"]) == ("rejected", "王主任", "外省地址")
    assert noreason.exit_code == 2
    assert missing.exit_code == 2 and "does not exist" in missing.output
    after = last_json(runner.invoke(app, ["address", "review", "list", "--json",
                                          "--limit", "1000"]).output)
    assert not any(i["source"] == "t-cli-addr" for i in after["items"])
