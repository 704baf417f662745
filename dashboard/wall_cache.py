"""In-process caches of the wall display (``/wall``), one per server process.

Two policies, both *single-flight* (while one thread builds a key, the other requests for
that key wait for its result instead of running the same queries again: fifty screens
refreshing at once cost one query):

* :func:`marked` — a value kept ``ttl`` seconds **and** only while a cheap change mark
  (``max(id)`` of the incidents and of their tally, :func:`gis.incidents.stats.change_mark`)
  is the one it was built with: a new incident, or one that changed state, is in the next
  refresh. Rebuilt synchronously (the wall's live figures: a few index lookups and sums).
* :func:`stale_while_revalidate` — after ``ttl`` seconds the kept value is still returned
  at once while a background thread builds the next one (window rates, density, hot
  spots: a refresh never waits for them, except the very first time).

Keys get the viewer's jurisdiction (:func:`dashboard.data.scope_key`) and builds run as
the viewer (:func:`dashboard.data.bound`), in background threads too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dashboard import data

log = logging.getLogger("dashboard.wall_data")

T = TypeVar("T")


@dataclass
class _Entry:
    born: float
    """time.monotonic() when the build started."""
    mark: Any
    value: Any


_lock = threading.Lock()
_marked: dict[tuple[Any, ...], _Entry] = {}
_swr_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_swr_running: set[tuple[Any, ...]] = set()
_flights: dict[tuple[Any, ...], threading.Lock] = {}


def _flight(key: tuple[Any, ...]) -> threading.Lock:
    with _lock:
        return _flights.setdefault(key, threading.Lock())


def marked(key: tuple[Any, ...], ttl: float, build: Callable[[], T],
           mark: Callable[[], Any] | None = None, min_age: float = 0.0) -> T:
    """``build()`` for ``key``, kept ``ttl`` seconds while ``mark()`` stays the same.

    Parameters
    ----------
    key : tuple
        Cache key (the viewer's jurisdiction is appended).
    ttl : float
        Seconds a value is kept at most.
    build : callable
        Makes the value (runs in the calling thread; one caller per key at a time).
    mark : callable, optional
        A cheap fingerprint of the data (read on every call); a value built under another
        mark is rebuilt, unless it is younger than ``min_age`` seconds.
    min_age : float
        Seconds a value is kept whatever the mark (bounds rebuilds under a steady stream
        of new incidents).
    """
    key = (*key, *data.scope_key())
    called = time.monotonic()
    now_mark = mark() if mark is not None else None

    def good(e: _Entry | None) -> bool:
        if e is None:
            return False
        age = time.monotonic() - e.born
        return age < ttl and (e.mark == now_mark or age < min_age)

    with _lock:
        hit = _marked.get(key)
    if good(hit):
        return hit.value  # type: ignore[union-attr]
    with _flight(key):
        with _lock:
            hit = _marked.get(key)
        # built meanwhile by the thread we waited for: as fresh as this call can ask
        if hit is not None and (hit.born >= called or good(hit)):
            return hit.value
        born = time.monotonic()
        value = build()
        with _lock:
            _marked[key] = _Entry(born, now_mark, value)
        return value


def stale_while_revalidate(key: tuple[Any, ...], ttl: float, build: Callable[[], T]) -> T:
    """``build()`` once per ``key``; after ``ttl`` seconds the kept value is still returned
    at once while a background thread builds the next one (a refresh never waits for the
    slow aggregates, except the very first time, when concurrent callers wait for one
    build). A failed rebuild keeps the old value and is tried again on the next call. The
    key gets the viewer's jurisdiction and the build runs as the viewer
    (:func:`dashboard.data.bound`) in the background thread too."""
    key, build = (*key, *data.scope_key()), data.bound(build)
    now = time.monotonic()
    with _lock:
        hit = _swr_cache.get(key)
        if hit is not None and (hit[0] > now or key in _swr_running):
            return hit[1]
        if hit is not None:
            _swr_running.add(key)
    if hit is None:
        with _flight(key):
            with _lock:
                hit = _swr_cache.get(key)
            if hit is not None:  # built by the caller we waited for
                return hit[1]
            value = build()
            with _lock:
                _swr_cache[key] = (time.monotonic() + ttl, value)
            return value

    def rebuild() -> None:
        try:
            value = build()
            with _lock:
                _swr_cache[key] = (time.monotonic() + ttl, value)
        except Exception as e:  # noqa: BLE001 - keep the old value, say why, retry later
            log.warning("wall: background rebuild of %s failed (%s: %s)", key[0],
                        type(e).__name__, e)
        finally:
            with _lock:
                _swr_running.discard(key)

    threading.Thread(target=rebuild, name=f"wall-{key[0]}", daemon=True).start()
    return hit[1]


def clear() -> None:
    """Forget every kept value (tests)."""
    with _lock:
        _marked.clear()
        _swr_cache.clear()
