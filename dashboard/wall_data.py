"""Data of the wall display (``/wall``): aggregates of the live picture, cached per tick.

Four caches, by how fast their content changes (all keyed by database and grid version):

* **live** (:func:`live_data`, kept a little less than one refresh interval, and rebuilt
  sooner when an incident was added or changed state: :func:`gis.incidents.stats.change_mark`):
  today's incidents per kind and yesterday's count until the same time, open / overdue /
  escalated counts (from the tally of incidents per state kept by triggers, migration
  0009), the newest and the overdue incidents of the feed, incidents per group grid in the
  last 24 hours. Every query uses an index or the tally; one tick's data is shared by every
  wall screen of a process, built by one request while the others wait for it
  (:mod:`dashboard.wall_cache`).
* **slow** (:func:`slow_data`, :data:`SLOW_TTL_S`, rebuilt in the background once
  expired: :func:`stale_while_revalidate`): the window rates (on-time closure,
  satisfaction), incidents per village in the window (density), the daily trend of the
  previous days (today's bar comes from the live data).
* **hot spots** (:func:`hotspot_data`, ``settings.WALL_HOTSPOT_TTL_S``, in the background
  too): Gi* classes of the
  villages on the window's counts.
* **static** (:func:`static_data`, per grid version): posts and rings, cameras per village,
  一村一警一连 coverage, the group grids' points, the playlist's views.

A serving process builds all of it before its first request (:mod:`dashboard.wall_warm`).
Nothing here is raw incident points: the browser gets counts per grid and a few feed rows.
Times are timezone-aware UTC; the page shows them in ``settings.WALL_TIMEZONE``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard import data, wall_cache
from gis import settings
from gis.forces import posts as read_posts
from gis.grids.store import read_grids
from gis.incidents import stats
from gis.territory import units
from layers.grids import feature_collection
from layers.themes import camera_layer, coverage_values

log = logging.getLogger(__name__)
DATA_ERRORS: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, OSError)

SLOW_TTL_S = 60.0
"""Seconds the window rates, density counts and past days of the trend are kept."""

LIVE_MIN_AGE_S = 1.0
"""Seconds the live figures are kept even when new incidents came in meanwhile (under a
steady stream of incidents each process rebuilds them at most this often)."""
COMPACT_EVERY_S = 60.0
"""Seconds between two compactions of the incident tally by this process (at most)."""

stale_while_revalidate = wall_cache.stale_while_revalidate
_compacted = [0.0]


def clear_cache() -> None:
    """Forget the wall's kept values (tests; :func:`dashboard.data.clear_cache` clears the
    others)."""
    wall_cache.clear()


def refresh_s() -> float:
    """Seconds between refreshes of the wall (``settings.WALL_REFRESH_S``, at least 1)."""
    return max(1.0, float(settings.WALL_REFRESH_S))


def live_ttl() -> float:
    """Seconds one tick's live data is kept: a little less than a refresh interval, so
    every tick of a screen gets new data and several screens share one query."""
    return max(0.5, 0.8 * refresh_s())


def _now() -> datetime:
    return datetime.now(UTC)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


@dataclass
class Snapshot:
    """The wall's picture at ``as_of`` (see the module docstring for what comes from
    which cache)."""

    version_id: int
    adcode: str
    county_name: str
    as_of: datetime
    """When the live data was read (UTC)."""
    kpis: dict[str, Any]
    newest: list[dict[str, Any]]
    overdue: list[dict[str, Any]]
    daily: pd.DataFrame
    """``day`` (date), ``kind``, ``n`` over the trend days, today included."""
    village_counts: dict[str, int]
    """Incidents per village in the window (density)."""
    live_counts: dict[str, int]
    """Incidents per group grid in the last 24 hours."""
    hotspots: dict[str, int] | None
    """Village code → Gi* bin of the significant villages; None when not available."""
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def as_of_ms(self) -> int:
        """``as_of`` in milliseconds since the epoch (for the browser)."""
        return _ms(self.as_of)


def _feed_rows(df: pd.DataFrame, now: datetime, vid: int) -> list[dict[str, Any]]:
    g = data.grid_data(vid)
    names, towns = g["village_names"], g["village_towns"]
    out = []
    for r in df.itertuples(index=False):
        due = r.step_due_at
        overdue_s = (now - due.to_pydatetime()).total_seconds() if r.overdue and \
            pd.notna(due) else None
        vc = r.village_code
        out.append({"id": int(r.id), "kind": str(r.kind),
                    "occurred_at": r.occurred_at.to_pydatetime(),
                    "status": str(r.status), "level": str(r.level),
                    "village": names.get(vc, "") if vc else "",
                    "township": towns.get(vc, "") if vc else "",
                    "address": r.address or "", "overdue": bool(r.overdue),
                    "overdue_s": overdue_s, "escalated": bool(r.escalated),
                    "alert_stage": int(r.alert_stage)})
    return out


@contextmanager
def _connect() -> Iterator[Connection]:
    """:func:`dashboard.data.connect` (the viewer's jurisdiction) without JIT compilation:
    the wall's queries are index lookups and sums of a few thousand rows, which JIT only
    slows down (its compile time is 20–200 ms on a million-row table's estimates)."""
    with data.connect() as conn:
        conn.execute(sa.text("select set_config('jit', 'off', true)"))
        yield conn


def _mark(adcode: str) -> tuple[int, int]:
    with data.connect() as conn:  # the viewer's jurisdiction only
        return stats.change_mark(conn, adcode)


def compact_tally() -> int:
    """Fold the deltas of the incident tally when it has grown past
    ``settings.WALL_TALLY_COMPACT_ROWS`` rows; rows removed. Runs as the store's owner: it
    changes no count (:func:`gis.incidents.stats.compact_tally`)."""
    with data.engine().begin() as conn:
        return stats.compact_tally(conn, int(settings.WALL_TALLY_COMPACT_ROWS))


def _compact_later() -> None:
    """:func:`compact_tally` in a background thread, at most every :data:`COMPACT_EVERY_S`
    seconds per process (a refresh never waits for it)."""
    now = time.monotonic()
    if now - _compacted[0] < COMPACT_EVERY_S:
        return
    _compacted[0] = now

    def run() -> None:
        try:
            compact_tally()
        except DATA_ERRORS as e:  # maintenance only: the figures are right without it
            log.warning("wall: compaction of the incident tally failed (%s: %s)",
                        type(e).__name__, e)

    threading.Thread(target=run, name="wall-compact-tally", daemon=True).start()


def live_data(vid: int) -> dict[str, Any]:
    """This tick's live figures: kept :func:`live_ttl` seconds, rebuilt sooner when an
    incident was added or changed state since (:func:`gis.incidents.stats.change_mark`;
    at most every :data:`LIVE_MIN_AGE_S` seconds), one build at a time per process."""
    adcode = data.grid_data(vid)["adcode"]

    def build() -> dict[str, Any]:
        now = _now()
        tm: dict[str, float] = {}
        t0 = time.perf_counter()
        with _connect() as conn:  # the viewer's jurisdiction only
            by_kind = stats.today_by_kind(conn, now, adcode)
            start = stats.day_start(now)
            yesterday = stats.count_between(conn, start - timedelta(days=1),
                                            now - timedelta(days=1), adcode)
            opened = stats.open_counts(conn, now, adcode)
            newest = stats.newest(conn, now, adcode, settings.WALL_FEED_NEWEST)
            overdue = stats.overdue(conn, now, adcode, settings.WALL_FEED_OVERDUE)
            live = stats.counts_since(conn, 2, now - timedelta(hours=24), adcode)
        tm["live_sql"] = (time.perf_counter() - t0) * 1000
        return {"as_of": now, "today_by_kind": by_kind, "today": sum(by_kind.values()),
                "yesterday_same_time": yesterday, **opened,
                "newest": _feed_rows(newest, now, vid), "overdue_rows": _feed_rows(overdue, now, vid),
                "live_counts": live, "timings_ms": tm}

    value = wall_cache.marked(("wall-live", data._url(), vid), live_ttl(), build,
                              mark=lambda: _mark(adcode), min_age=LIVE_MIN_AGE_S)
    _compact_later()
    return value


def slow_data(vid: int) -> dict[str, Any]:
    """Window rates, density counts and the previous days of the trend (cached
    :data:`SLOW_TTL_S`)."""
    adcode = data.grid_data(vid)["adcode"]

    def build() -> dict[str, Any]:
        now = _now()
        t0 = time.perf_counter()
        with _connect() as conn:  # the viewer's jurisdiction only
            rates = stats.window_rates(conn, now, adcode)
            past = stats.daily_counts(conn, now, adcode=adcode, include_today=False)
            villages = stats.counts_since(
                conn, 1, now - timedelta(days=float(settings.WALL_WINDOW_DAYS)), adcode)
        return {"as_of": now, "rates": rates, "past_days": past, "village_counts": villages,
                "timings_ms": {"slow_sql": (time.perf_counter() - t0) * 1000}}

    return stale_while_revalidate(("wall-slow", data._url(), vid), SLOW_TTL_S, build)


def static_data(vid: int) -> dict[str, Any]:
    """Layers and values that change only with the grid version (built once)."""
    return data.cached(("wall-static", data._url(), vid), None, lambda: _static(vid),
                       shared=True)  # reference data: grids, posts, cameras, units


def _bounds(geom: shapely.Geometry) -> list[list[float]]:
    x0, y0, x1, y1 = (round(float(v), 5) for v in shapely.bounds(geom))
    return [[y0, x0], [y1, x1]]


def _static(vid: int) -> dict[str, Any]:
    g = data.grid_data(vid)
    adcode = g["adcode"]
    with data.engine().connect() as conn:
        villages = read_grids(conn, vid, level=1)
        towns = units(conn, "township", adcode)
        post_gdf = read_posts(conn, adcode)
        officer = [r[0] for r in conn.execute(sa.text(
            "select distinct village_code from officer_village where adcode = :a"),
            {"a": adcode})]
        militia = [r[0] for r in conn.execute(sa.text(
            "select distinct village_code from militia_company where adcode = :a"),
            {"a": adcode})]
        cams = pd.DataFrame(conn.execute(sa.text("""
            select g.code, count(*) as n from camera c
            join grid g on g.version_id = :v and g.level = 1 and st_intersects(g.geom, c.geom)
            where c.adcode = :a group by g.code"""), {"v": vid, "a": adcode}).all(),
            columns=["code", "n"])
    out: dict[str, Any] = {"villages": villages,
                           "coverage": coverage_values(villages["code"], officer, militia)}
    out["cameras"] = camera_layer(villages, cams) if len(cams) else None
    out["posts"], out["rings"] = None, None
    if len(post_gdf):
        from layers.rings import post_layer, ring_layer

        out["posts"] = post_layer(post_gdf)
        try:
            from gis.analytics.rings import response_rings

            out["rings"] = ring_layer(response_rings(post_gdf))
        except Exception:  # analytics module still moving: leave the layer out
            log.exception("wall: response rings unavailable")
    groups = g["groups"]
    pts = gpd.GeoDataFrame({"code": groups["code"].to_numpy()},
                           geometry=shapely.point_on_surface(np.asarray(groups.geometry.values)),
                           crs=groups.crs)
    out["group_points"] = feature_collection(pts, ["code"])
    county = g["layers"]["county"]
    b = county.bounds
    views = [{"code": adcode, "name": None,
              "bounds": [[b[1], b[0]], [b[3], b[2]]] if b else None}]
    for code, name, geom in zip(towns["code"], towns["name"], towns.geometry, strict=True):
        if geom is not None and not geom.is_empty:
            views.append({"code": str(code), "name": str(name), "bounds": _bounds(geom)})
    out["views"] = views
    out["weights"] = None
    return out


def hotspot_data(vid: int, village_counts: dict[str, int]) -> dict[str, int] | None:
    """Gi* bins of the villages on the window's counts (cached
    ``settings.WALL_HOTSPOT_TTL_S``); None when the analysis is unavailable."""
    st = static_data(vid)

    def build() -> dict[str, int] | None:
        try:
            from gis.analytics.hotspots import build_weights, gi_star
            from layers.hotspots import hotspot_values

            v = st["villages"]
            if st["weights"] is None:
                st["weights"] = build_weights(np.asarray(v.geometry.values, dtype=object))
            frame = v[["code", "geometry"]].assign(
                n=v["code"].map(village_counts).fillna(0).astype(float))
            res = gi_star(frame, "n", weights=st["weights"])
            return hotspot_values(frame["code"], res["gi_bin"])
        except Exception:  # analytics module still moving: no hot spots
            log.exception("wall: Gi* hot spots unavailable")
            return None

    return stale_while_revalidate(("wall-hot", data._url(), vid),
                                  float(settings.WALL_HOTSPOT_TTL_S), build)


def snapshot() -> Snapshot | None:
    """The wall's picture now (None when no grid version is in force).

    Raises whatever the database raises when it is unreachable: the caller keeps its last
    good picture.
    """
    t0 = time.perf_counter()
    vid = data.version_in_force()
    if vid is None:
        return None
    g = data.grid_data(vid)
    live = live_data(vid)
    slow = slow_data(vid)
    hot = hotspot_data(vid, slow["village_counts"])
    today = stats.day_start(live["as_of"]).date()
    past = slow["past_days"]
    past = past[past["day"] < today]
    today_rows = pd.DataFrame({"day": today, "kind": list(live["today_by_kind"]),
                               "n": list(live["today_by_kind"].values())})
    daily = pd.concat([past, today_rows], ignore_index=True) if len(today_rows) else past
    rates = slow["rates"]
    kpis = {k: live[k] for k in ("today", "yesterday_same_time", "open", "awaiting", "overdue",
                                 "escalated", "township", "county")}
    kpis |= {k: rates[k] for k in ("on_time_rate", "resolved", "satisfaction_rate", "answered",
                                   "window_days")}
    tm = dict(live["timings_ms"]) | dict(slow["timings_ms"])
    tm["snapshot"] = (time.perf_counter() - t0) * 1000
    return Snapshot(version_id=vid, adcode=g["adcode"], county_name=g["county_name"],
                    as_of=live["as_of"], kpis=kpis, newest=live["newest"],
                    overdue=live["overdue_rows"], daily=daily,
                    village_counts=slow["village_counts"], live_counts=live["live_counts"],
                    hotspots=hot, timings_ms=tm)

