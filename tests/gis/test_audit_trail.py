"""``wangge audit`` shows every append-only trail: audit_log, incident transitions, grid edits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from gis import audit, settings
from gis.auth.users import create_user
from gis.grids import edits, versions
from gis.incidents.workflow import transition
from tests.gis.test_planning import X0, D, add_incidents, load_county, vline
from tests.gis.test_workflow import DETAILS

runner = CliRunner()
ADCODE, A = "990711", "990711001"


@pytest.fixture(scope="module")
def trail(engine) -> dict:
    """One user added, one incident dispatched, one grid split: what the trail must show."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    base = load_county(engine, ADCODE)
    add_incidents(engine, ADCODE, base, [date(2021, 3, 1)], n=40)
    with engine.begin() as conn:
        iid = conn.execute(sa.text("select min(id) from incident where adcode = :a and "
                                   "village_code is not null"), {"a": ADCODE}).scalar_one()
        transition(conn, iid, "dispatch", "op-trail", datetime(2021, 3, 2, tzinfo=UTC),
                   **DETAILS["dispatch"])
        create_user(conn, "trail_user", "operator", A, "correct-horse-battery-9",
                    actor="admin-trail")
        draft = versions.new_draft(conn, ADCODE, actor="plan-trail")
        edits.split(conn, draft, f"{A}001001", vline(X0 + D / 4), actor="plan-trail")
    return {"since": since, "incident": iid, "draft": draft}


def test_query_joins_the_three_trails(engine, trail: dict) -> None:
    with engine.connect() as conn:
        rows = audit.query(conn, trail["since"] - timedelta(days=3650), limit=100_000)
        log_only = audit.query(conn, trail["since"], trails=False)

    mine = {(r["trail"], r["actor"], r["action"], r["target"]) for r in rows
            if r["actor"] in ("op-trail", "admin-trail", "plan-trail")}
    assert ("incident_event", "op-trail", "incident.dispatch",
            f"incident:{trail['incident']}") in mine
    assert ("audit_log", "admin-trail", "user.add", "user:trail_user") in mine
    assert ("grid_edit", "plan-trail", "grid.split", f"grid_version:{trail['draft']}") in mine
    assert {r["trail"] for r in log_only} == {"audit_log"}


def test_cli_filters_the_joined_trail(engine, trail: dict, db_url: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", db_url)

    res = runner.invoke(app, ["audit", "--actor", "op-trail", "--since", "2000-01-01",
                              "--json"])
    grid = runner.invoke(app, ["audit", "--action", "grid.", "--actor", "plan-trail",
                               "--since", "2000-01-01", "--json"])

    assert res.exit_code == 0, res.output
    rows = json.loads(res.output.strip().splitlines()[-1])
    assert [(r["action"], r["trail"]) for r in rows] == [("incident.dispatch", "incident_event")]
    assert rows[0]["details"]["to"] == "dispatched"
    ops = [r["action"] for r in json.loads(grid.output.strip().splitlines()[-1])]
    assert ops == ["grid.new_draft", "grid.split"]
