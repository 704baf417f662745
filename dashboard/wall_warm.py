"""Warm-up of the wall display (``/wall``): build what its first screen needs before anyone
asks, and keep it fresh.

A serving process (:func:`dashboard.app.create_app` with its background jobs on) starts
:func:`start_warm_up`: a daemon thread that builds, as the process starts,

* the grid layers of the version in force and their served GeoJSON (gzip, ETag) — shared
  reference data, the slowest part (simplifying the group grids to their byte budget);
* the wall's static layers (posts, rings, cameras, coverage, group points);
* with the login off (a kiosk on a closed network, the benches): the whole picture of
  :func:`dashboard.wall_data.snapshot` — live figures, window rates, density, Gi* hot
  spots — and then every :data:`dashboard.wall_data.SLOW_TTL_S` seconds again, so the
  background caches never go cold. With the login on, figures are per jurisdiction and are
  built for the first screen of each (then kept fresh in the background by the caches).

Failures are logged and tried again on the next round: the pages build whatever is missing
themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dashboard import data, wall_data
from gis import settings

log = logging.getLogger(__name__)

LAYERS: tuple[str, ...] = ("villages", "townships", "county", "township-labels", "groups")
"""Served GeoJSON layers of the wall (first paint, then the group grids)."""
RETRY_S = 15.0
"""Seconds before a failed warm-up is tried again."""


def warm_once() -> dict[str, float]:
    """Build the wall's shared layers (and with the login off its figures) now.

    Returns
    -------
    dict
        Milliseconds per stage (``grids``, ``payloads``, ``static``, ``snapshot``); empty
        when no grid version is in force.
    """
    tm: dict[str, float] = {}

    def stage(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        out = fn()
        tm[name] = round((time.perf_counter() - t0) * 1000, 1)
        return out

    vid = data.version_in_force()
    if vid is None:
        return tm
    stage("grids", lambda: data.grid_data(vid))
    if not getattr(data.config(), "auth", False):
        stage("payloads", lambda: [data.payload(k) for k in LAYERS])
        stage("static", lambda: wall_data.static_data(vid))
        stage("snapshot", wall_data.snapshot)
    else:
        stage("static", lambda: wall_data.static_data(vid))
    return tm


def start_warm_up(interval_s: float | None = None,
                  wait_s: float = 0.0) -> threading.Thread | None:
    """Start the warm-up thread (None when ``settings.WALL_WARM_UP`` is off).

    Parameters
    ----------
    interval_s : float, optional
        Seconds between rounds after the first (default
        :data:`dashboard.wall_data.SLOW_TTL_S`); rounds after the first run only with the
        login off.
    wait_s : float
        Seconds to wait for the first round before returning (a server process calls this
        before it serves, so its first request finds everything built instead of building
        it a second time beside the thread).
    """
    if not settings.WALL_WARM_UP:
        return None
    every = float(interval_s or wall_data.SLOW_TTL_S)
    stop, first = threading.Event(), threading.Event()

    def loop() -> None:
        wait = 0.0
        while not stop.wait(wait):
            try:
                tm = warm_once()
                log.info("wall warm-up: %s", tm)
            except Exception as e:  # noqa: BLE001 - the pages build what is missing
                log.warning("wall warm-up failed (%s: %s)", type(e).__name__, e)
                wait = RETRY_S
                continue
            finally:
                first.set()
            if getattr(data.config(), "auth", False):
                return
            wait = every

    th = threading.Thread(target=loop, name="wangge-wall-warm-up", daemon=True)
    th.stop = stop  # type: ignore[attr-defined]
    th.first_round = first  # type: ignore[attr-defined]
    th.start()
    if wait_s > 0:
        first.wait(wait_s)
    return th
