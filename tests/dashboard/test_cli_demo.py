"""``wangge demo --no-serve``: loads the county once, creates one working login per role."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from gis.auth.users import authenticate
from gis.store import connect
from tests.conftest import TEST_INCIDENTS, _fresh

runner = CliRunner()


@pytest.fixture(scope="module")
def empty_url() -> Iterator[str]:
    yield from _fresh("cli_demo")


def test_demo_loads_once_and_prints_working_logins(empty_url: str, demo,  # noqa: ANN001
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", empty_url)
    args = ["demo", "--no-serve", "--incidents", str(TEST_INCIDENTS), "--json"]

    first = runner.invoke(app, args)
    again = runner.invoke(app, args)

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    one, two = (json.loads(r.output.strip().splitlines()[-1]) for r in (first, again))
    assert one["incidents_new"] == TEST_INCIDENTS and two["incidents_new"] == 0
    roles = {u["role"] for u in two["logins"]}
    assert roles == {"operator", "planner", "leader", "admin"}
    engine = connect(empty_url)
    with engine.begin() as conn:
        for u in two["logins"]:
            assert authenticate(conn, u["name"], u["password"]).role == u["role"]
        old = one["logins"][0]
        assert conn.execute(sa.text("select count(*) from app_user")).scalar_one() == 4
    with engine.begin() as conn, pytest.raises(Exception, match="(?i)password|login"):
        authenticate(conn, old["name"], old["password"])  # reset on the second run
