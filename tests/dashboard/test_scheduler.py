"""The server's escalation scheduler: one pass per tick, serialised by an advisory lock."""

from __future__ import annotations

import sqlalchemy as sa

from dashboard.scheduler import LOCK_KEY, escalation_tick


def test_tick_skips_while_another_process_holds_the_lock(engine) -> None:  # noqa: ANN001
    with engine.begin() as other:
        other.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        assert escalation_tick(engine) is None
    assert escalation_tick(engine) is not None
