"""Faults: the database server stops in the middle of an import and of a grid publish.

These tests run their own throw-away PostgreSQL cluster (under /var/tmp, reachable by the
``postgres`` user) so that stopping it does not disturb the shared test cluster. The server
is stopped with ``pg_ctl -m immediate`` (like a crash: WAL recovery at the next start).
Afterwards either everything or nothing is there, and the re-run finishes exactly once.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gis._errors import StoreError
from gis.grids import edits, publish, versions
from gis.incidents.intake import import_file
from gis.store import cluster, connect
from gis.store.engine import _engine, _ensure_ready
from tests.gis.test_intake import N_KILL, big_csv
from tests.gis.test_planning import D, Y0, add_incidents, hline, load_county, snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def private() -> Iterator[cluster.Cluster]:
    """A private cluster of its own, removed at the end."""
    base = Path(tempfile.mkdtemp(prefix="wangge-faults-", dir="/var/tmp"))
    c = cluster.Cluster(base)
    cluster.start(c)
    try:
        yield c
    finally:
        cluster.stop(c, mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def _restart(c: cluster.Cluster) -> sa.Engine:
    cluster.start(c)
    _engine.cache_clear()
    _ensure_ready.cache_clear()
    return connect(c.url("faults"))


def _count(engine: sa.Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def test_server_stopped_mid_import_keeps_all_or_nothing(private: cluster.Cluster,
                                                        tmp_path: Path) -> None:
    engine = connect(private.url("faults"))
    load_county(engine, "990601")
    path = tmp_path / "big.csv"
    big_csv(path, (100.401, 38.901, 100.459, 38.939), seed=3)
    stopped: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:  # noqa: ARG001
        if stage == "copy" and done > 0 and not stopped:
            cluster.stop(private, mode="immediate")  # the server dies mid-COPY
            stopped.append(stage)

    with pytest.raises(StoreError):
        import_file(engine, path, source="crash", progress=progress, batch=5_000)
    assert stopped == ["copy"]
    engine = _restart(private)

    assert _count(engine, "select count(*) from incident_report where source = 'crash'") == 0
    assert _count(engine, "select count(*) from incident where source = 'crash'") == 0
    rep = import_file(engine, path, source="crash")
    assert rep.accepted == N_KILL
    assert _count(engine, "select count(*) from incident_report where source = 'crash'") == N_KILL
    assert import_file(engine, path, source="crash").duplicates == N_KILL


def _stop_when_waiting(c: cluster.Cluster, url: str, done: list[str]) -> None:
    """Stop the server as soon as a session waits on a lock (the publish, blocked)."""
    eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 60
    try:
        with eng.connect() as conn:
            while time.monotonic() < deadline:
                waiting = conn.execute(sa.text(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                    "and datname = current_database()")).scalar_one()
                if waiting:
                    break
                time.sleep(0.05)
    finally:
        eng.dispose()
    cluster.stop(c, mode="immediate")
    done.append("stopped")


def test_server_stopped_mid_publish_leaves_old_version_in_force(
        private: cluster.Cluster) -> None:
    adcode, a = "990602", "990602001"
    engine = connect(private.url("faults"))
    base = load_county(engine, adcode)
    add_incidents(engine, adcode, base, [date(2021, 3, 1) + timedelta(days=k)
                                         for k in range(0, 180, 7)])
    effective = date(2021, 6, 1)
    with engine.begin() as conn:
        draft = versions.new_draft(conn, adcode, actor="planner")
        edits.split(conn, draft, f"{a}005002", hline(Y0 + 1.5 * D), actor="planner")
    before = snapshot(engine, adcode)
    # another session holds a SHARE lock on incident: the publish's re-assignment waits on it
    blocker = sa.create_engine(private.url("faults"))
    hold = blocker.connect()
    hold.execute(sa.text("lock table incident in share mode"))
    done: list[str] = []
    watcher = threading.Thread(target=_stop_when_waiting,
                               args=(private, private.url("faults"), done))
    watcher.start()
    try:
        with pytest.raises((StoreError, sa.exc.OperationalError, sa.exc.InterfaceError)), \
                engine.begin() as conn:
            publish.publish(conn, draft, effective, actor="chief")
    finally:
        watcher.join()
        hold.invalidate()
        blocker.dispose()
    assert done == ["stopped"]
    engine = _restart(private)

    assert snapshot(engine, adcode) == before
    with engine.connect() as conn:
        assert versions.in_force(conn, adcode, effective) == base
        assert versions.get_version(conn, draft)["status"] == "draft"
    with engine.begin() as conn:
        rep = publish.publish(conn, draft, effective, actor="chief")
    assert rep.reassigned["incident"]["changed"] > 0
    with engine.connect() as conn:
        assert versions.in_force(conn, adcode, effective) == draft
        assert _count(engine, "select count(*) from grid_edit where version_id = :v and "
                              "op = 'publish'", v=draft) == 1
