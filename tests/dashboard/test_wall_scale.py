"""The wall's caches at scale, on a fresh copy of the demo county (real PostGIS).

* A new incident, or one that changes state, is in the very next picture even while the
  live figures are still within their time to live (the change mark invalidates them).
* The picture's aggregates equal direct SQL counts on ``incident``.
* Fifty screens asking at once cost one build (single-flight), and the warm-up builds the
  whole picture before the first request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gis.store import connect
from tests.conftest import _fresh


@pytest.fixture(scope="module")
def wall_url(demo) -> Iterator[str]:
    """A fresh database holding the demo county (mutated by this module only)."""
    from data.loader import load_demo

    for url in _fresh("wallscale"):
        load_demo(connect(url), demo)
        yield url


@pytest.fixture
def wall(wall_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``dashboard.wall_data`` on the demo copy (login off), caches cleared; live figures
    kept 10 minutes unless the data change."""
    from dashboard import data, wall_data
    from dashboard.app import AppConfig

    data.configure(AppConfig(database_url=wall_url, escalation_interval_s=None, auth=False))
    data.clear_cache()
    wall_data.clear_cache()
    monkeypatch.setattr(wall_data.settings, "WALL_REFRESH_S", 750.0)
    monkeypatch.setattr(wall_data, "LIVE_MIN_AGE_S", 0.0)
    yield wall_data
    data.configure(AppConfig())
    data.clear_cache()
    wall_data.clear_cache()


def _new_incident(eng: Engine, adcode: str, group: str, village: str) -> int:
    with eng.begin() as conn:
        return int(conn.execute(sa.text("""
            insert into incident (adcode, source, source_id, kind, occurred_at, status,
                                  location_flag, village_code, group_code)
            values (:a, 'wall-scale', :sid, 'dispute', :at, 'received', 'ok', :v, :g)
            returning id"""), {"a": adcode, "sid": f"n{time.time_ns()}", "at": datetime.now(UTC),
                               "v": village, "g": group}).scalar_one())


def test_a_new_incident_is_in_the_next_picture(wall, wall_url: str) -> None:
    eng = connect(wall_url)
    first = wall.snapshot()
    assert wall.snapshot().as_of == first.as_of  # kept: nothing changed
    group = next(iter(first.live_counts), None) or \
        wall.static_data(first.version_id)["group_points"]["features"][0]["properties"]["code"]
    with eng.connect() as conn:
        village = conn.execute(sa.text("select parent_code from grid where code = :g and "
                                       "version_id = :v"),
                               {"g": group, "v": first.version_id}).scalar_one()
    iid = _new_incident(eng, first.adcode, group, village)
    second = wall.snapshot()
    assert second.as_of > first.as_of
    assert second.kpis["today"] == first.kpis["today"] + 1
    assert second.kpis["open"] == first.kpis["open"] + 1
    assert second.newest[0]["id"] == iid
    assert second.live_counts[group] == first.live_counts.get(group, 0) + 1
    # a change of state (closing it) is in the next picture too
    with eng.begin() as conn:
        conn.execute(sa.text("update incident set status = 'closed' where id = :i"), {"i": iid})
    third = wall.snapshot()
    assert third.kpis["open"] == first.kpis["open"]
    assert third.kpis["today"] == second.kpis["today"]


def test_the_picture_equals_direct_counts(wall, wall_url: str) -> None:
    snap = wall.snapshot()
    since24 = snap.as_of - timedelta(hours=24)
    since_w = snap.as_of - timedelta(days=float(wall.settings.WALL_WINDOW_DAYS))
    with connect(wall_url).connect() as conn:
        direct = conn.execute(sa.text("""
            select count(*) filter (where status <> 'closed') as open,
                   count(*) filter (where status in ('received', 'reopened')) as awaiting,
                   count(*) filter (where (occurred_at at time zone 'Asia/Shanghai')::date
                                          = (cast(:now as timestamptz)
                                             at time zone 'Asia/Shanghai')::date) as today
            from incident where adcode = :a"""),
            {"a": snap.adcode, "now": snap.as_of}).mappings().one()
        live = dict(conn.execute(sa.text(
            "select group_code, count(*) from incident where occurred_at >= :s "
            "and group_code is not null group by 1"), {"s": since24}).all())
        window = dict(conn.execute(sa.text(
            "select village_code, count(*) from incident where occurred_at >= :s "
            "and village_code is not null group by 1"), {"s": since_w}).all())
    assert snap.kpis["open"] == direct["open"] > 0
    assert snap.kpis["awaiting"] == direct["awaiting"]
    assert snap.kpis["today"] == direct["today"]
    assert snap.live_counts == live
    assert snap.village_counts == window and sum(window.values()) > 0


def test_screens_asking_at_once_cost_one_build(wall) -> None:
    from dashboard import wall_cache

    builds: list[int] = []

    def build() -> int:
        builds.append(1)
        time.sleep(0.3)
        return len(builds)

    got: list[int] = []
    start = threading.Barrier(12)

    def screen(fn: object) -> None:
        start.wait()
        got.append(fn())  # type: ignore[operator]

    for fn in (lambda: wall_cache.marked(("t-live",), 60.0, build, mark=lambda: 1),
               lambda: wall_cache.stale_while_revalidate(("t-slow",), 60.0, build)):
        builds.clear()
        got.clear()
        threads = [threading.Thread(target=screen, args=(fn,)) for _ in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(builds) == 1 and got == [1] * 12
    # a new mark rebuilds once; the same mark keeps the value
    assert wall_cache.marked(("t-live",), 60.0, build, mark=lambda: 1) == 1
    assert wall_cache.marked(("t-live",), 60.0, build, mark=lambda: 2) == 2
    assert wall_cache.marked(("t-live",), 60.0, build, mark=lambda: 2) == 2
    assert len(builds) == 2


def test_warm_up_builds_the_picture_before_the_first_request(
        wall, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import wall_warm

    th = wall_warm.start_warm_up(interval_s=3600, wait_s=300)
    try:
        assert th is not None and th.first_round.is_set()

        def no_query(*_a: object, **_k: object) -> None:
            raise AssertionError("the warm-up should have built this")

        for name in ("open_counts", "window_rates", "daily_counts", "today_by_kind"):
            monkeypatch.setattr(wall.stats, name, no_query)
        snap = wall.snapshot()  # served from what the warm-up built
        assert snap is not None and snap.hotspots is not None and snap.kpis["open"] > 0
    finally:
        th.stop.set()


def test_compacting_the_tally_changes_no_figure(wall, wall_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    eng = connect(wall_url)
    with eng.begin() as conn:  # a few statements: delta rows to fold
        for status in ("dispatched", "in_progress", "received"):
            conn.execute(sa.text("update incident set status = :s where id = "
                                 "(select min(id) from incident where status <> 'closed')"),
                         {"s": status})
    before = wall.snapshot().kpis
    monkeypatch.setattr(wall.settings, "WALL_TALLY_COMPACT_ROWS", 0)
    assert wall.compact_tally() > 0
    wall.clear_cache()
    assert wall.snapshot().kpis == before
