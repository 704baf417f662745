"""Background jobs of the server: the escalation scheduler, every minute by default.

Several server processes may run it at once; a PostgreSQL advisory lock lets one of them
work per tick. A failed tick (database unreachable) is logged and retried at the next one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

LOCK_KEY = 0x77616E67  # "wang"
"""Advisory lock key of the escalation tick."""


def escalation_tick(engine: Engine, now: datetime | None = None) -> int | None:
    """Run one escalation pass unless another process holds the lock; events issued or None."""
    from gis.incidents.escalation import run_escalation

    now = now or datetime.now(timezone.utc)
    with engine.begin() as conn:
        if not conn.execute(sa.text("select pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}).scalar():
            return None
        return len(run_escalation(conn, now))


def start_escalation_thread(engine_factory: Callable[[], Engine], interval_s: float) -> threading.Thread:
    """Start a daemon thread that calls :func:`escalation_tick` every ``interval_s`` seconds."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                n = escalation_tick(engine_factory())
                if n:
                    log.info("escalation: %d event(s)", n)
            except Exception as e:  # noqa: BLE001 — keep the server alive, retry next tick
                log.warning("escalation tick failed: %s", e)

    th = threading.Thread(target=loop, name="wangge-escalation", daemon=True)
    th.stop = stop  # type: ignore[attr-defined]
    th.start()
    return th
