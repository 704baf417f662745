"""The planners' CLI through typer's runner: draft new → edit → preview → publish → diff,
exit codes and parsed ``--json`` output (real PostGIS, shared empty database, adcodes
9904 5x)."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from gis.grids import versions
from tests.gis.test_planning import (
    X0,
    Y0,
    D,
    add_incidents,
    hline,
    load_county,
    snapshot,
)

runner = CliRunner()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str):  # noqa: ANN201
    """Run ``wangge ...`` against the test database; returns (exit code, output)."""
    monkeypatch.setattr(settings, "DATABASE_URL", db_url)
    monkeypatch.setenv("WANGGE_ACTOR", "cli-test")

    def run(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, [str(a) for a in args])
        return res.exit_code, res.output

    return run


def last_json(output: str):  # noqa: ANN201
    return json.loads(output.strip().splitlines()[-1])


def test_round_trip_draft_split_publish_diff(cli, engine) -> None:  # noqa: ANN001
    adcode, a = "990451", "990451001"
    base = load_county(engine, adcode)
    add_incidents(engine, adcode, base, [date(2021, 5, 20), date(2021, 6, 10)], n=300)

    code, out = cli("grids", "draft", "new", "--adcode", adcode, "--name", "调整", "--json")
    assert code == 0, out
    made = last_json(out)
    draft = made["draft"]
    assert (made["from_version"], made["grids"], made["name"]) == (base, 18, "调整")

    code, out = cli("grids", "draft", "list", "--adcode", adcode, "--json")
    assert code == 0, out
    assert [d["id"] for d in last_json(out)] == [draft]

    code, out = cli("grids", "edit", "split", f"{a}005002", "--line", hline(Y0 + 1.5 * D),
                    "--json")  # no --draft: the newest draft of the county
    assert code == 0, out
    split = last_json(out)
    assert split["version_id"] == draft and split["op"] == "split"
    assert split["codes_after"] == [f"{a}005002001", f"{a}005002002"]

    code, out = cli("grids", "edit", "merge", f"{a}001", f"{a}005", "--draft", draft)
    assert code == 2 and "not adjacent" in out

    code, out = cli("grids", "edit", "merge", f"{a}003001", f"{a}003002", "--draft", draft,
                    "--name", "合并社", "--json")
    assert code == 0, out
    assert last_json(out)["codes_after"] == [f"{a}003001"]

    code, out = cli("grids", "edit", "set", f"{a}003001", "--worker", "李四", "--json")
    assert code == 0, out

    code, out = cli("grids", "edit", "split", f"{a}001", "--line",
                    f"LINESTRING ({X0 + 0.3 * D} {Y0 - 0.01}, {X0 + 0.3 * D} {Y0 + 0.03})",
                    "--draft", base)
    assert code == 2 and "cannot be edited" in out

    code, out = cli("grids", "preview", draft, "--effective", "2021-06-01", "--json")
    assert code == 0, out
    prev = last_json(out)
    assert prev["publishable"] and prev["retires"] == base
    assert (prev["added"], prev["removed"]) == (2, 2)
    code, out = cli("grids", "preview", draft, "--effective", "2021-06-01")
    assert code == 0 and "publishable" in out

    code, out = cli("grids", "publish", draft, "--effective", "June 1st")
    assert code == 2

    code, out = cli("grids", "publish", draft, "--effective", "2021-06-01", "--json")
    assert code == 0, out
    pub = last_json(out)
    assert pub["published"] is True and pub["version"] == draft and pub["retired"] == base
    assert pub["incidents_changed"] == prev["incidents_changing"]
    assert 0 < pub["incidents_considered"] < 300

    code, out = cli("grids", "diff", base, draft, "--json")
    assert code == 0, out
    d = last_json(out)
    assert {r["code"] for r in d["added"]} == {f"{a}005002001", f"{a}005002002"}
    assert {r["code"] for r in d["removed"]} == {f"{a}005002", f"{a}003002"}
    merged = next(r for r in d["changed"] if r["code"] == f"{a}003001")
    assert set(merged["changes"]) == {"geometry", "name", "population", "households", "worker"}
    assert merged["area_delta_m2"] == pytest.approx(merged["area_before"], rel=1e-4)
    code, out = cli("grids", "diff", base, draft)
    assert code == 0 and f"{a}005002001" in out

    code, out = cli("grids", "draft", "show", draft, "--json")
    assert code == 0, out
    shown = last_json(out)
    assert shown["version"]["status"] == "published"
    assert [e["op"] for e in shown["edits"]] == ["new_draft", "split", "merge", "set_attrs",
                                                 "publish"]
    assert {e["actor"] for e in shown["edits"]} == {"cli-test"}

    code, out = cli("grids", "edit", "rename", f"{a}001", "新村", "--draft", draft)
    assert code == 2 and "published" in out
    with engine.connect() as conn:
        assert versions.as_of(conn, adcode, date(2021, 5, 31)) == base
        assert versions.as_of(conn, adcode, date(2021, 6, 1)) == draft


def test_publish_refused_prints_the_problems_and_changes_nothing(cli, engine) -> None:  # noqa: ANN001
    adcode, a = "990452", "990452001"
    base = load_county(engine, adcode)
    add_incidents(engine, adcode, base, [date(2021, 7, 1)], n=100)
    code, out = cli("grids", "draft", "new", "--from", base, "--json")
    assert code == 0, out
    draft = last_json(out)["draft"]
    with engine.begin() as conn:  # plant an overlap behind the edits' back
        conn.execute(sa.text(
            "update grid set geom = st_multi(st_buffer(geom, 0.001, 'join=mitre')) "
            "where version_id = :v and code = :c"), {"v": draft, "c": f"{a}002001"})
    before = snapshot(engine, adcode)

    code, out = cli("grids", "publish", draft, "--effective", "2021-06-01", "--json")

    assert code == 2
    lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
    refused = json.loads(lines[-1])
    assert refused["published"] is False
    assert any(p["type"] == "overlap" and f"{a}002001" in p["codes"]
               for p in refused["problems"])
    assert "fails validation" in out
    assert snapshot(engine, adcode) == before
    code, out = cli("grids", "publish", draft, "--effective", "2021-06-01")
    assert code == 2 and "overlap" in out
    code, out = cli("grids", "draft", "new")  # two+ counties in the database: ambiguous
    assert code == 2 and "--adcode" in out
