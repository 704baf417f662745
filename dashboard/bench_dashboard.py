"""``wangge bench dashboard``: the wall display on a big database, in headless Chromium.

1. A bench database on the same server (default ``wangge_bench_dashboard``) holds the demo
   county plus synthetic incidents up to ``incidents`` rows (made once, reused next time).
2. ``wangge serve --workers 2`` runs on a free loopback port against it.
3. Debian's Chromium (playwright, ``/usr/bin/chromium``) opens ``/wall?kiosk=1`` at
   1920 × 1080: *first paint* is the time from navigation start until the map's grid
   polygons and the KPI tiles are on screen; *bytes* are the encoded (on the wire) bytes of
   every response until then.
   The page is loaded twice: right after the server starts (*cold*: aggregates computed)
   and again in a fresh browser context (*warm*: server caches filled, no browser cache);
   the targets apply to the warm load, the cold one is reported too.
4. The wall's refresh callback request (``wall-tick``) is captured from the page and replayed
   ``repeats`` times with httpx: server round-trip time p50 / p95 (ms) and response bytes.
   The first replay warms the caches and is not counted.

Targets (issue #7): first paint < 2 s, refresh < 300 ms, payload < 2 MB.
"""

from __future__ import annotations

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
    return int(have)


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


def _paint(browser: Any, base: str) -> tuple[float, list[tuple[str, int]], str | None]:  # noqa: ANN401
    """One fresh page load of /wall: (seconds to first paint, [(url, bytes)], refresh body)."""
    sizes: list[tuple[str, int]] = []
    captured: dict[str, str] = {}

    def on_response(resp: Any) -> None:  # noqa: ANN401
        try:
            sizes.append((resp.url, int(resp.request.sizes()["responseBodySize"])))
        except Exception:  # noqa: BLE001 - a response without a body
            pass

    def on_request(req: Any) -> None:  # noqa: ANN401
        body = req.post_data or ""
        if req.method == "POST" and "_dash-update-component" in req.url and '"wall-tick"' in body:
            captured.setdefault("body", body)

    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.on("response", on_response)
    page.on("request", on_request)
    t0 = time.perf_counter()
    page.goto(base + "/wall?kiosk=1", wait_until="commit")
    page.wait_for_selector("#wall-map-wrap path.leaflet-interactive", timeout=120_000)
    page.wait_for_selector("#wall-kpis", timeout=120_000)
    seconds = time.perf_counter() - t0
    first = list(sizes)
    if "body" not in captured:
        page.wait_for_timeout(12_000)  # one refresh (default 10 s) so its request is captured
    context.close()
    return seconds, first, captured.get("body")


def measure_wall(base: str, repeats: int = 20) -> dict[str, Any]:
    """First paint (cold server, then warm), bytes and refresh-callback times of ``/wall``."""
    import httpx
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        cold, _, body = _paint(browser, base)
        warm, sizes, body2 = _paint(browser, base)
        browser.close()
    body = body or body2
    times, nbytes = [], []
    if body:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
        with httpx.Client(base_url=base, timeout=60) as client:
            for i in range(repeats + 1):
                t = time.perf_counter()
                r = client.post("/_dash-update-component", content=body, headers=headers)
                r.raise_for_status()
                if i:
                    times.append((time.perf_counter() - t) * 1000)
                    nbytes.append(int(r.headers.get("content-length") or len(r.content)))
    q = statistics.quantiles(times, n=20) if len(times) >= 2 else [float("nan")] * 19
    heaviest = sorted(sizes, key=lambda x: -x[1])[:5]
    return {"first_paint_cold_s": round(cold, 2), "first_paint_s": round(warm, 2),
            "first_paint_bytes": sum(b for _, b in sizes),
            "heaviest": {u.replace(base, "").split("?")[0][-60:]: b for u, b in heaviest},
            "refresh_p50_ms": round(statistics.median(times), 1) if times else None,
            "refresh_p95_ms": round(q[18], 1) if times else None,
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
        res = measure_wall(base, repeats)
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
        and (res["refresh_p95_ms"] or 1e9) < TARGETS["refresh_p95_ms"]
        and res["first_paint_bytes"] < TARGETS["first_paint_bytes"])
    return res
