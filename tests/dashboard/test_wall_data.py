"""Wall display data without a browser, on real PostGIS: the SQL aggregates of the live
picture (exact figures on hand-made incidents, Asia/Shanghai calendar days), the cached
snapshot on the demo county, and the refresh callback when the database is unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dash import no_update

from gis.incidents import stats

A = "990801"
"""County code of the hand-made incidents (the tests share the empty database)."""
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 3, 10, 0, 30, tzinfo=CST)
"""Half past midnight in Shanghai: 16:30 UTC of the previous day."""
D = timedelta(days=1)
H = timedelta(hours=1)
BAD_URL = "postgresql+psycopg://postgres@127.0.0.1:9/wangge_nowhere"
"""Nothing listens on port 9 (discard): connections are refused at once."""


def _row(name: str, kind: str, occurred: datetime, status: str, level: str = "village", *,
         started: datetime | None = None, due: datetime | None = None,
         resolved: datetime | None = None, satisfaction: str | None = None,
         village: str | None = None, group: str | None = None) -> dict:
    return {"a": A, "sid": f"wall-{name}", "kind": kind, "occ": occurred, "status": status,
            "level": level, "started": started, "due": due, "resolved": resolved,
            "closed": resolved if status == "closed" else None, "sat": satisfaction,
            "v": village, "g": group}


ROWS = [
    # r1: today (00:10 local), received, clock not started yet -> open, awaiting
    _row("r1", "dispute", datetime(2026, 3, 10, 0, 10, tzinfo=CST), "received",
         village="990801001001", group="990801001001001"),
    # r2: 23:50 local the day before (same UTC date as r1!), closed on time, satisfied
    _row("r2", "fire", datetime(2026, 3, 9, 23, 50, tzinfo=CST), "closed",
         started=datetime(2026, 3, 9, 23, 50, tzinfo=CST),
         resolved=datetime(2026, 3, 10, 0, 20, tzinfo=CST), satisfaction="satisfied",
         village="990801001001", group="990801001001002"),
    # r3: dispatched, past its step's limit -> overdue
    _row("r3", "dispute", NOW - 2 * D, "dispatched", started=NOW - 2 * D, due=NOW - H,
         village="990801001002"),
    # r4: handled by the township -> escalated
    _row("r4", "dispute", NOW - 2 * D, "in_progress", "township", started=NOW - D,
         due=NOW + 5 * H),
    # r5: village level but with an escalation event -> escalated
    _row("r5", "dispute", NOW - 3 * D, "in_progress", started=NOW - 3 * D, due=NOW + 10 * D),
    # r6: fire resolved after 48 h (limits add up to 25 h), no audit trail -> late
    _row("r6", "fire", NOW - 5 * D, "closed", started=NOW - 5 * D, resolved=NOW - 3 * D,
         satisfaction="unsatisfied"),
    # r7: resolved within the limits but its trail has a warning -> late
    _row("r7", "fire", NOW - 4 * D, "closed", started=NOW - 4 * D, resolved=NOW - 4 * D + 2 * H,
         satisfaction="basically"),
    # r8: 40 days ago, outside the 30-day window
    _row("r8", "fire", NOW - 40 * D, "closed", started=NOW - 40 * D,
         resolved=NOW - 40 * D + H, satisfaction="satisfied"),
    # r9: county level, overdue
    _row("r9", "fire", NOW - D, "received", "county", started=NOW - D, due=NOW - 2 * H),
    # r10: closed with no clock ever started (bulk import), resolved on time, no answer
    _row("r10", "fire", NOW - 6 * D, "closed", resolved=NOW - 6 * D + H),
]


@pytest.fixture(scope="module")
def ids(engine) -> dict[str, int]:
    """Ids of the hand-made incidents (inserted once into the shared empty database)."""
    out = {}
    with engine.begin() as conn:
        for r in ROWS:
            out[r["sid"].removeprefix("wall-")] = conn.execute(sa.text("""
                insert into incident (adcode, source, source_id, kind, occurred_at, status,
                    level, location_flag, step_started_at, step_due_at, resolved_at,
                    closed_at, satisfaction, village_code, group_code)
                values (:a, 'test-wall', :sid, :kind, :occ, :status, :level, 'ok', :started,
                        :due, :resolved, :closed, :sat, :v, :g)
                on conflict (source, source_id) do update set kind = excluded.kind
                returning id"""), r).scalar_one()
        for name, kind in (("r5", "escalation"), ("r7", "reminder"), ("r7", "warning")):
            conn.execute(sa.text("""
                insert into incident_event (adcode, incident_id, at, actor, kind, level,
                                            step_seq)
                values (:a, :i, :at, 'test', :k, 'township', 0)
                on conflict do nothing"""), {"a": A, "i": out[name], "at": NOW - 2 * D,
                                             "k": kind})
    return out


def test_today_is_the_shanghai_calendar_day(engine, ids: dict[str, int]) -> None:
    with engine.connect() as conn:
        assert stats.today_count(conn, NOW, A) == 1
        assert stats.today_by_kind(conn, NOW, A) == {"dispute": 1}
        # the same instant seen from UTC would put r1 and r2 on one day
        assert stats.today_count(conn, NOW, A, tz="UTC") == 2
        assert stats.day_start(NOW) == datetime(2026, 3, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_day_start_across_daylight_saving() -> None:
    ny = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 8, 12, 0, tzinfo=ny)  # DST starts at 02:00 that day
    assert stats.day_start(now, "America/New_York").utcoffset() == timedelta(hours=-5)
    assert stats.day_start(now, "America/New_York", days_back=-1) == \
        datetime(2026, 3, 9, tzinfo=ny)
    assert stats.day_start(now, "America/New_York", days_back=-1).utcoffset() == \
        timedelta(hours=-4)
    with pytest.raises(Exception, match="timezone-aware"):
        stats.day_start(datetime(2026, 3, 8, 12, 0))


def test_open_overdue_escalated(engine, ids: dict[str, int]) -> None:
    with engine.connect() as conn:
        got = stats.open_counts(conn, NOW, A)
    assert got == {"open": 5, "awaiting": 2, "overdue": 2, "escalated": 3, "township": 1,
                   "county": 1}


def test_open_count_without_clock_limits_scans(engine, ids: dict[str, int],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from gis import settings

    limits = {k: dict(v) for k, v in settings.WORKFLOW_LIMITS_H.items()}
    limits["dispute"]["in_progress"] = None  # a step without a clock: no index covers it
    monkeypatch.setattr(settings, "WORKFLOW_LIMITS_H", limits)
    with engine.connect() as conn:
        assert stats.open_counts(conn, NOW, A)["open"] == 5


def test_window_rates(engine, ids: dict[str, int]) -> None:
    with engine.connect() as conn:
        got = stats.window_rates(conn, NOW, A, window_days=30)
    assert got["incidents"] == 9
    assert got["resolved"] == 4 and got["on_time"] == 2
    assert got["on_time_rate"] == pytest.approx(0.5)
    assert got["answered"] == 3 and got["satisfied"] == 2
    assert got["satisfaction_rate"] == pytest.approx(2 / 3)
    with engine.connect() as conn:
        empty = stats.window_rates(conn, NOW, "990899", window_days=30)
    assert empty["on_time_rate"] is None and empty["satisfaction_rate"] is None


def test_daily_counts_by_local_date(engine, ids: dict[str, int]) -> None:
    with engine.connect() as conn:
        df = stats.daily_counts(conn, NOW, days=14, adcode=A)
        past = stats.daily_counts(conn, NOW, days=14, adcode=A, include_today=False)
    per_day = {str(d): int(n) for d, n in df.groupby("day")["n"].sum().items()}
    assert per_day == {"2026-03-10": 1, "2026-03-09": 2, "2026-03-08": 2, "2026-03-07": 1,
                       "2026-03-06": 1, "2026-03-05": 1, "2026-03-04": 1}
    assert "2026-03-10" not in {str(d) for d in past["day"]}
    assert int(past["n"].sum()) == 8


def test_feed_newest_and_overdue(engine, ids: dict[str, int]) -> None:
    with engine.connect() as conn:
        newest = stats.newest(conn, NOW, A, limit=3)
        overdue = stats.overdue(conn, NOW, A)
    assert list(newest["id"]) == [ids["r10"], ids["r9"], ids["r8"]]
    assert list(overdue["id"]) == [ids["r9"], ids["r3"]]  # county level first
    assert overdue["overdue"].all() and list(overdue["escalated"]) == [True, False]
    assert str(newest["occurred_at"].dt.tz) == "UTC"


def test_counts_since(engine, ids: dict[str, int]) -> None:
    with engine.connect() as conn:
        assert stats.counts_since(conn, 1, NOW - D, A) == {"990801001001": 2}
        assert stats.counts_since(conn, 2, NOW - 3 * D, A) == {"990801001001001": 1,
                                                              "990801001001002": 1}


def test_kpis_combine_everything(engine, ids: dict[str, int]) -> None:
    with engine.connect() as conn:
        k = stats.kpis(conn, NOW, A, window_days=30)
    assert (k["today"], k["open"], k["overdue"], k["escalated"]) == (1, 5, 2, 3)
    assert k["on_time_rate"] == pytest.approx(0.5)


# --- the wall's cached snapshot and its refresh callback on the demo county ---------------


@pytest.fixture(scope="module")
def wall_page(demo_db_url: str) -> Iterator[object]:
    """The wall page module inside a configured app (no scheduler), caches cleared."""
    from dashboard import data, wall_data
    from dashboard.app import AppConfig, create_app

    create_app(AppConfig(database_url=demo_db_url, escalation_interval_s=None))
    from dashboard.pages import wall

    data.clear_cache()
    wall_data.clear_cache()
    yield wall
    data.configure(AppConfig())
    data.clear_cache()
    wall_data.clear_cache()


def _use(url: str) -> None:
    from dashboard import data, wall_data
    from dashboard.app import AppConfig

    data.configure(AppConfig(database_url=url, escalation_interval_s=None))
    data.clear_cache()
    wall_data.clear_cache()


def test_snapshot_on_the_demo_county(wall_page, demo_db_url: str,
                                     demo_engine) -> None:
    from dashboard import wall_data

    _use(demo_db_url)
    snap = wall_data.snapshot()
    assert snap is not None
    k = snap.kpis
    assert k["open"] >= k["overdue"] >= 0 and k["open"] >= k["escalated"] >= 0
    assert k["open"] >= k["awaiting"] and k["escalated"] >= k["township"] + k["county"]
    assert 0.0 <= (k["on_time_rate"] or 0.0) <= 1.0
    assert 0.0 <= (k["satisfaction_rate"] or 0.0) <= 1.0
    assert snap.as_of.tzinfo is not None
    assert 0 < len(snap.newest) <= wall_data.settings.WALL_FEED_NEWEST
    assert any(r["village"] and r["township"] for r in snap.newest)
    with demo_engine.connect() as conn:
        top = conn.execute(sa.text("select max(id) from incident")).scalar_one()
        n24 = conn.execute(sa.text(
            "select count(*) from incident where occurred_at >= :s and group_code is not null"),
            {"s": snap.as_of - timedelta(hours=24)}).scalar_one()
    assert snap.newest[0]["id"] == top
    assert sum(snap.live_counts.values()) == n24
    assert snap.daily["n"].sum() > 0 and set(snap.daily.columns) == {"day", "kind", "n"}
    assert snap.hotspots is not None and all(b != 0 for b in snap.hotspots.values())
    st = wall_data.static_data(snap.version_id)
    assert len(st["coverage"]) == len(st["villages"])
    assert st["rings"] is not None and st["rings"].n_features == 2
    assert st["posts"] is not None and st["posts"].n_features > 0
    assert st["cameras"] is not None and st["cameras"].n_features > 0
    assert st["views"][0]["name"] is None and len(st["views"]) > 1
    assert len(st["group_points"]["features"]) > 0


def test_snapshot_is_cached_per_tick(wall_page, demo_db_url: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import wall_data

    _use(demo_db_url)
    monkeypatch.setattr(wall_data.settings, "WALL_REFRESH_S", 60.0)
    first = wall_data.snapshot()
    assert wall_data.snapshot().as_of == first.as_of  # same tick: one query for all screens
    monkeypatch.setattr(wall_data.settings, "WALL_REFRESH_S", 1.0)
    wall_data.data.clear_cache()
    a = wall_data.snapshot().as_of
    import time

    time.sleep(wall_data.live_ttl() + 0.1)
    assert wall_data.snapshot().as_of > a  # next tick: new data


def test_refresh_callback_keeps_the_picture_when_the_database_is_down(
        wall_page, demo_db_url: str) -> None:
    wall = wall_page
    _use(demo_db_url)
    args = (1, "zh", "density", ["live"], {"style": {}}, {"style": {}}, {"h": 1080})
    good = wall.refresh(*args)
    assert len(good) == len(wall.REFRESH_OUTPUTS)
    assert good[-1] is no_update  # no error
    assert isinstance(good[-2], int) and len(good[-3]) == 8  # as-of ms and "HH:MM:SS"
    assert good[5]["themes"]["density"]["values"]  # counts per village in the hideout
    _use(BAD_URL)
    down = wall.refresh(*args)
    assert all(x is no_update for x in down[:-1])  # the last good picture stays
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert isinstance(down[-1], int) and abs(down[-1] - now_ms) < 60_000
    body, retry_disabled = wall.render("zh", {"h": 1080}, None, wall.options())
    assert retry_disabled is False  # a new try every 15 s
    assert "数据库无法连接" in str(body)
    _use(demo_db_url)
    again = wall.refresh(*args)
    assert again[-1] is no_update and again[-2] > good[-2]


def test_refresh_payload_is_small(wall_page, demo_db_url: str) -> None:
    import json

    import plotly.utils

    _use(demo_db_url)
    out = wall_page.refresh(1, "zh", "density", ["live"], {"style": {}}, {"style": {}}, None)
    size = len(json.dumps(list(out), cls=plotly.utils.PlotlyJSONEncoder).encode())
    assert size < 200_000, size


def test_options_from_the_query_string(wall_page) -> None:
    o = wall_page.options()
    assert o["kiosk"] is False and o["playlist_s"] == 0.0
    o = wall_page.options(kiosk="1")
    assert o["kiosk"] is True and o["playlist_s"] == wall_page.settings.WALL_PLAYLIST_S
    assert wall_page.options(kiosk="1", playlist="0")["playlist_s"] == 0.0
    assert wall_page.options(playlist="12")["playlist_s"] == 12.0
    assert wall_page.options(playlist="nonsense")["playlist_s"] == 0.0
    assert set(o["texts"]) == {"zh", "en"} and "{t}" in o["texts"]["zh"]["db_down"]
