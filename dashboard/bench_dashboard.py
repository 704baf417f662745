"""``wangge bench dashboard``: the wall display on a big database, in headless Chromium.

1. A bench database on the same server (default ``wangge_bench_dashboard``) holds the demo
   county plus synthetic incidents up to ``incidents`` rows (made once, reused next time),
   settled into the state a running server keeps them in (:func:`settle_history`: history
   older than a week closed, the escalation scheduler caught up, tables vacuumed).
2. ``wangge serve --workers 2`` runs on a free loopback port against it (its workers build
   the wall's layers and figures before they serve: :mod:`dashboard.wall_warm`).
3. Debian's Chromium (playwright, ``/usr/bin/chromium``) opens ``/wall?kiosk=1`` at
   1920 × 1080: *first paint* is the time from navigation start until the map's grid
   polygons and the KPI tiles are on screen; *charts* until the two plotly charts are drawn
   too (plotly.js is loaded right after the map: ``dashboard/assets/wall_first_paint.js``);
   *bytes* are the encoded (on the wire) bytes of every response until first paint and
   until the charts (``page_bytes``, the payload target applies to these).
   The page is loaded twice: right after the server starts (*cold*) and again in a fresh
   browser context (*warm*: no browser cache); the targets apply to the warm load, the
   cold one is reported too.
4. The wall's refresh callback request (``wall-tick``) is captured from the page and replayed
   ``repeats`` times back to back (``refresh_*``: what the screens of a control room get
   within one tick), then ``repeats`` times each right after a new incident was entered
   (``refresh_new_data_*``: the live figures are rebuilt for every one): server round-trip
   time p50 / p95 (ms) and response bytes.

Targets (issue #7): first paint < 2 s, refresh < 300 ms (both series), payload < 2 MB.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

Step = Callable[[str, int, int], None]
CHROMIUM = "/usr/bin/chromium"
TARGETS = {"first_paint_s": 2.0, "refresh_p95_ms": 300.0, "first_paint_bytes": 2_000_000}


def _noop(stage: str, done: int, total: int) -> None:
    return None


def prepare_database(url: str, incidents: int, progress: Step = _noop) -> int:
    """Make sure the database of ``url`` holds the demo county and ``incidents`` incidents.

    Returns the number of incidents in it. Synthetic extra incidents (source ``bench``) are
    spread over the county's bounding box across the last year.
    """
    from data.loader import build_or_read_demo, load_demo
    from gis.grids.lookup import lookup_in_force
    from gis.incidents.bench import synthetic_incidents
    from gis.incidents.ingest import ingest_frame
    from gis.store import connect

    engine = connect(url)
    with engine.connect() as conn:
        have = conn.execute(sa.text("select count(*) from incident")).scalar_one()
        grids = conn.execute(sa.text("select count(*) from grid")).scalar_one()
    if not grids:
        progress("load demo county", 0, 1)
        load_demo(engine, build_or_read_demo())
        progress("load demo county", 1, 1)
        with engine.connect() as conn:
            have = conn.execute(sa.text("select count(*) from incident")).scalar_one()
    missing = incidents - int(have)
    if missing > 0:
        with engine.begin() as conn:
            lookup = lookup_in_force(conn)
            adcode = conn.execute(sa.text("select adcode from grid limit 1")).scalar_one()
            bbox = conn.execute(sa.text(
                "select st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e) from "
                "(select st_extent(geom)::geometry e from grid) x")).one()
            df = synthetic_incidents(missing, seed=int(have) + 7, source=f"bench{have}",
                                     bbox=tuple(bbox))
            ingest_frame(conn, df, adcode, lookup,
                         progress=lambda done: progress("add incidents", done, missing))
        have = incidents
    settle_history(url, progress=progress)
    return int(have)


OPEN_DAYS = 7.0
"""Synthetic incidents older than this many days are closed by :func:`settle_history`."""


def settle_history(url: str, open_days: float = OPEN_DAYS, progress: Step = _noop) -> int:
    """Bring the synthetic incidents to the state a running server keeps them in.

    The generator makes every synthetic incident ``received`` across the last year, its
    clock not started: a county with 900,000 reports nobody ever took up. The escalation
    scheduler of any server started on that (every minute) then tries to start a million
    clocks and issue millions of reminders, warnings and escalations in one transaction,
    which loads the database for minutes, and is rolled back when the bench stops the
    server (leaving millions of dead rows). So, once (and then for the few that aged since):
    synthetic incidents older than ``open_days`` are closed (resolved 20 hours after they
    occurred, closed a day after), the scheduler catches up on the rest (clocks, notices,
    escalations; committed), and the tables are vacuumed.

    Returns
    -------
    int
        Synthetic incidents closed by this call.
    """
    from datetime import UTC, datetime, timedelta

    from gis.incidents.escalation import run_escalation
    from gis.store import connect

    engine = connect(url)
    progress("settle history", 0, 1)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        closed = conn.execute(sa.text("""
            update incident set status = 'closed',
                   resolved_at = occurred_at + interval '20 hours',
                   closed_at = occurred_at + interval '1 day'
            where source like 'bench%' and status <> 'closed' and occurred_at < :old"""),
            {"old": now - timedelta(days=open_days)}).rowcount
        pending = conn.execute(sa.text(
            "select exists (select 1 from incident where step_started_at is null)")).scalar()
        if closed or pending:
            run_escalation(conn, now)
    if closed or pending:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("vacuum analyze incident, incident_event, incident_tally"))
    progress("settle history", 1, 1)
    return int(closed)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``wangge serve`` against ``url``; return the process and its base URL once up."""
    import httpx

    port = _free_port()
    wangge = Path(sys.executable).parent / "wangge"
    env = os.environ | {"DATABASE_URL": url, "WANGGE_AUTH": "0"}  # pages, not the login
    with log.open("wb") as out:
        proc = subprocess.Popen([str(wangge), "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(base + "/", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    msg = f"the dashboard server did not start; see {log}"
    raise RuntimeError(msg)


PAINT_PROBE = """(() => {
    const shown = () => document.querySelector('#wall-map-wrap path.leaflet-interactive')
        && document.querySelector('#wall-kpis .wg-kpi');
    const tick = () => {
        if (shown()) { window.__wgFirstPaint = performance.now(); }
        else { requestAnimationFrame(tick); }
    };
    requestAnimationFrame(tick);
})();"""
"""Injected in the page: the time (ms since navigation start) of the first animation frame
in which the grid polygons and the KPI tiles are in the document: that frame paints them."""
PAINT_BYTES = """(t) => {
    const nav = performance.getEntriesByType('navigation')[0];
    return performance.getEntriesByType('resource').filter((e) => e.responseEnd <= t)
        .reduce((n, e) => n + e.encodedBodySize, nav ? nav.encodedBodySize : 0);
}"""
"""Encoded body bytes of the document and of every response complete by time ``t``."""


def _paint(browser: Any, base: str) -> dict[str, Any]:
    """One fresh page load of /wall: seconds to first paint (``paint_s``, timed in the
    page; ``observed_s`` as playwright saw it) and until the charts are drawn too
    (``charts_s``), the bytes until first paint (``paint_bytes``), the responses
    [(url, bytes)] until the charts (``page_sizes``) and the refresh request's body."""
    sizes: list[tuple[str, int]] = []
    captured: dict[str, str] = {}

    def on_response(resp: Any) -> None:
        with contextlib.suppress(Exception):  # a response without a body
            sizes.append((resp.url, int(resp.request.sizes()["responseBodySize"])))

    def on_request(req: Any) -> None:
        body = req.post_data or ""
        if req.method == "POST" and "_dash-update-component" in req.url and '"wall-tick"' in body:
            captured.setdefault("body", body)

    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_init_script(PAINT_PROBE)
    page = context.new_page()
    page.on("response", on_response)
    page.on("request", on_request)
    t0 = time.perf_counter()
    page.goto(base + "/wall?kiosk=1", wait_until="commit")
    page.wait_for_selector("#wall-map-wrap path.leaflet-interactive", timeout=120_000)
    page.wait_for_selector("#wall-kpis", timeout=120_000)
    observed = time.perf_counter() - t0
    page.wait_for_function("window.__wgFirstPaint !== undefined", timeout=120_000)
    painted_ms = float(page.evaluate("window.__wgFirstPaint"))
    first_bytes = int(page.evaluate(PAINT_BYTES, painted_ms))
    page.wait_for_selector("#wall-trend .bars path", state="attached", timeout=120_000)
    charts = time.perf_counter() - t0
    every = list(sizes)
    if "body" not in captured:
        page.wait_for_timeout(12_000)  # one refresh (default 10 s) so its request is captured
    context.close()
    return {"paint_s": painted_ms / 1000, "observed_s": observed, "charts_s": charts,
            "paint_bytes": first_bytes, "page_sizes": every, "body": captured.get("body")}


def _quantiles(times: list[float]) -> tuple[float | None, float | None]:
    if not times:
        return None, None
    q = statistics.quantiles(times, n=20) if len(times) >= 2 else [times[0]] * 19
    return round(statistics.median(times), 1), round(q[18], 1)


def _new_incident(url: str) -> None:
    """One incident entered now (source ``bench-refresh``): the wall's live figures change."""
    from gis.store import connect

    with connect(url).begin() as conn:
        conn.execute(sa.text("""
            insert into incident (adcode, source, source_id, kind, occurred_at, status,
                                  location_flag, village_code, group_code, geom)
            select adcode, 'bench-refresh', :sid, kind, now(), 'received', location_flag,
                   village_code, group_code, geom
            from incident where group_code is not null order by id desc limit 1"""),
            {"sid": f"r{time.time_ns()}"})


def measure_wall(base: str, repeats: int = 20, url: str | None = None) -> dict[str, Any]:
    """First paint (cold server, then warm), bytes and refresh-callback times of ``/wall``.

    The refresh request is replayed ``repeats`` times back to back (the screens of a
    control room share one tick's figures: ``refresh_*``) and, with ``url``, ``repeats``
    times more each right after a new incident was entered in the database and after the
    wall's minimum age of its live figures (:data:`dashboard.wall_data.LIVE_MIN_AGE_S`), so
    every one of them rebuilds the live figures (``refresh_new_data_*``).
    """
    import httpx
    from playwright.sync_api import sync_playwright

    from dashboard.wall_data import LIVE_MIN_AGE_S

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        cold = _paint(browser, base)
        warm = _paint(browser, base)
        browser.close()
    body = cold["body"] or warm["body"]
    times, fresh, nbytes = [], [], []
    if body:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
        with httpx.Client(base_url=base, timeout=60) as client:
            def replay() -> float:
                t = time.perf_counter()
                r = client.post("/_dash-update-component", content=body, headers=headers)
                r.raise_for_status()
                nbytes.append(int(r.headers.get("content-length") or len(r.content)))
                return (time.perf_counter() - t) * 1000

            for i in range(repeats + 1):
                ms = replay()
                if i:  # the first one may build after the page loads
                    times.append(ms)
            for _ in range(repeats if url else 0):
                time.sleep(LIVE_MIN_AGE_S + 0.1)
                _new_incident(url)  # type: ignore[arg-type]
                fresh.append(replay())
    heaviest = sorted(warm["page_sizes"], key=lambda x: -x[1])[:5]
    p50, p95 = _quantiles(times)
    n50, n95 = _quantiles(fresh)
    return {"first_paint_cold_s": round(cold["paint_s"], 2),
            "first_paint_s": round(warm["paint_s"], 2),
            "first_paint_observed_s": round(warm["observed_s"], 2),
            "charts_s": round(warm["charts_s"], 2),
            "first_paint_bytes": warm["paint_bytes"],
            "page_bytes": sum(b for _, b in warm["page_sizes"]),
            "heaviest": {u.replace(base, "").split("?")[0][-60:]: b for u, b in heaviest},
            "refresh_p50_ms": p50, "refresh_p95_ms": p95,
            "refresh_new_data_p50_ms": n50, "refresh_new_data_p95_ms": n95,
            "refresh_bytes": int(statistics.median(nbytes)) if nbytes else None}


def run_dashboard_bench(url: str, incidents: int, workers: int = 2, repeats: int = 20,
                        log: Path | None = None, progress: Step = _noop) -> dict[str, Any]:
    """Prepare the bench database, serve it, measure ``/wall``; returns the figures."""
    have = prepare_database(url, incidents, progress)
    log = log or Path("var") / "bench-dashboard-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc, base = start_server(url, workers, log)
    try:
        progress("first paint + refresh", 0, 1)
        res = measure_wall(base, repeats, url)
        progress("first paint + refresh", 1, 1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    res = {"incidents": have, "workers": workers, **res}
    res["meets_targets"] = bool(
        res["first_paint_s"] < TARGETS["first_paint_s"]
        and max(res["refresh_p95_ms"] or 1e9, res["refresh_new_data_p95_ms"] or 0.0)
        < TARGETS["refresh_p95_ms"]
        and res["page_bytes"] < TARGETS["first_paint_bytes"])
    return res
