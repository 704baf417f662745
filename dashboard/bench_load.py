"""``wangge bench load``: many wall displays and a stream of API incidents against one server.

Loopback only and bounded in time. ``displays`` simulated wall displays each replay the
wall's refresh callback (the ``wall-tick`` request captured once from a real page in headless
Chromium) every ``refresh_s`` seconds, their starts spread over one interval; at the same
time one client posts ``rate`` incidents a second to ``POST /api/incidents`` (one per
request, unique source ids, points inside the county). At the end it reports requests,
errors and p50 / p95 latency (ms) per kind, and whether every accepted incident was stored
(count posted with 201 == count of the run's reports in the database).

Targets (issue #8): no errors, p95 < 500 ms, no incident lost.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

TARGET_P95_MS = 500.0


@dataclass
class Series:
    """Latencies (ms) and errors of one kind of request."""

    ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def add_error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)

    def stats(self) -> dict[str, Any]:
        q = statistics.quantiles(self.ms, n=20) if len(self.ms) >= 2 else [None] * 19
        return {"requests": len(self.ms) + self.errors, "errors": self.errors,
                "p50_ms": round(statistics.median(self.ms), 1) if self.ms else None,
                "p95_ms": round(q[18], 1) if q[18] is not None else None,
                "error_samples": self.error_samples}


def capture_refresh_body(base: str) -> str:
    """The JSON body of the wall's refresh callback request, captured in headless Chromium."""
    from playwright.sync_api import sync_playwright

    from dashboard.bench_dashboard import CHROMIUM

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        with page.expect_request(lambda r: r.method == "POST" and '"wall-tick"' in
                                 (r.post_data or ""), timeout=60_000) as req:
            page.goto(base + "/wall?kiosk=1")
        body = req.value.post_data or ""
        browser.close()
    return body


def sample_points(url: str, n: int, seed: int = 1) -> np.ndarray:
    """``n`` random points (lon, lat) inside the group grids in force."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.text(
                "select st_x(p), st_y(p) from (select st_pointonsurface(geom) p from grid "
                "where level = 2) x")).all()
    finally:
        eng.dispose()
    pts = np.asarray(rows, dtype=float)
    rng = np.random.default_rng(seed)
    return pts[rng.integers(0, len(pts), n)]


async def _display(client: Any, body: str, refresh_s: float, start_after: float,  # noqa: ANN401
                   until: float, series: Series) -> None:
    await asyncio.sleep(start_after)
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
    while time.monotonic() < until:
        t = time.perf_counter()
        try:
            r = await client.post("/_dash-update-component", content=body, headers=headers)
            if r.status_code == 200:
                series.ms.append((time.perf_counter() - t) * 1000)
            else:
                series.add_error(f"HTTP {r.status_code}")
        except Exception as e:  # noqa: BLE001 - every failure counts as an error
            series.add_error(type(e).__name__)
        await asyncio.sleep(max(0.0, refresh_s - (time.perf_counter() - t)))


async def _incidents(client: Any, rate: float, until: float, points: np.ndarray,  # noqa: ANN401
                     source: str, series: Series, headers: dict[str, str]) -> int:
    accepted = 0
    tasks: set[asyncio.Task[None]] = set()
    i = 0

    async def one(k: int) -> None:
        nonlocal accepted
        lon, lat = points[k % len(points)]
        item = {"source_id": f"{source}-{k:07d}", "kind": "citizen_request",
                "occurred_at": datetime.now(UTC).isoformat(), "lon": float(lon),
                "lat": float(lat), "reporter": "load-bench", "description": "压力测试"}
        t = time.perf_counter()
        try:
            r = await client.post(f"/api/incidents?source={source}", json=item, headers=headers)
            if r.status_code == 201:
                accepted += 1
                series.ms.append((time.perf_counter() - t) * 1000)
            else:
                series.add_error(f"HTTP {r.status_code}: {r.text[:120]}")
        except Exception as e:  # noqa: BLE001
            series.add_error(type(e).__name__)

    t0 = time.monotonic()
    while time.monotonic() < until:
        tasks.add(asyncio.create_task(one(i)))
        i += 1
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
    await asyncio.gather(*tasks)
    return accepted


async def _run(base: str, body: str, displays: int, seconds: float, refresh_s: float,
               rate: float, points: np.ndarray, source: str,
               headers: dict[str, str]) -> tuple[Series, Series, int]:
    import httpx

    walls, api = Series(), Series()
    limits = httpx.Limits(max_connections=displays + 50)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        until = time.monotonic() + seconds
        jobs = [_display(client, body, refresh_s, refresh_s * k / displays, until, walls)
                for k in range(displays)]
        results = await asyncio.gather(
            _incidents(client, rate, until, points, source, api, headers), *jobs)
    return walls, api, int(results[0])


def warm_up(base: str, point: np.ndarray, source: str, headers: dict[str, str]) -> int:
    """Post one incident before the clock starts (the server's first intake builds the grid
    lookups and address matchers, seconds, and a burst of cold requests would all build them
    at once); 1 when it was accepted (it counts as posted), else 0."""
    import httpx

    item = {"source_id": f"{source}-warmup", "kind": "citizen_request",
            "occurred_at": datetime.now(UTC).isoformat(), "lon": float(point[0]),
            "lat": float(point[1]), "reporter": "load-bench"}
    r = httpx.post(f"{base}/api/incidents?source={source}", json=item, headers=headers,
                   timeout=300)
    return int(r.status_code == 201)


def bench_token(url: str, source: str, actor: str) -> tuple[str, str]:
    """An API token for ``source`` scoped to the county in force of ``url`` (valid one
    day): (its prefix, its secret)."""
    from gis.auth.tokens import create_token

    eng = sa.create_engine(url)
    try:
        with eng.begin() as conn:
            adcode = conn.execute(sa.text(
                "select adcode from grid_version where status <> 'draft' "
                "order by id desc limit 1")).scalar_one()
            tok, secret = create_token(conn, "wangge bench load", source, str(adcode),
                                       actor=actor, days=1)
    finally:
        eng.dispose()
    return tok.prefix, secret


def revoke_bench_token(url: str, prefix: str, actor: str) -> None:
    """Revoke the token :func:`bench_token` made."""
    from gis.auth.tokens import revoke_token

    eng = sa.create_engine(url)
    try:
        with eng.begin() as conn:
            revoke_token(conn, prefix, actor=actor)
    finally:
        eng.dispose()


def stored_reports(url: str, source: str) -> int:
    """Reports of ``source`` in the database."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return int(conn.execute(sa.text("select count(*) from incident_report where "
                                            "source = :s"), {"s": source}).scalar_one())
    finally:
        eng.dispose()


def run_load_bench(url: str, base: str, displays: int = 50, minutes: float = 2.0,
                   rate: float = 20.0, refresh_s: float = 10.0,
                   headers: dict[str, str] | None = None,
                   source: str | None = None) -> dict[str, Any]:
    """Drive the server at ``base`` (backed by ``url``); returns the figures (module doc).

    ``headers`` go with every API request (``Authorization: Bearer <token>``: the API
    needs an API token for ``source``, see :func:`bench_token`)."""
    body = capture_refresh_body(base)
    points = sample_points(url, 10_000)
    source = source or f"load-{uuid.uuid4().hex[:8]}"
    warm = warm_up(base, points[0], source, headers or {})
    walls, api, accepted = asyncio.run(_run(base, body, displays, minutes * 60, refresh_s,
                                            rate, points, source, headers or {}))
    accepted += warm
    stored = stored_reports(url, source)
    res = {"displays": displays, "seconds": minutes * 60, "rate_per_s": rate,
           "wall_refresh": walls.stats(), "api_incidents": api.stats(),
           "incidents_accepted": accepted, "incidents_stored": stored,
           "lost": accepted - stored}
    res["meets_targets"] = bool(
        walls.errors == 0 and api.errors == 0 and res["lost"] == 0
        and (walls.stats()["p95_ms"] or 1e9) < TARGET_P95_MS
        and (api.stats()["p95_ms"] or 1e9) < TARGET_P95_MS)
    return res
