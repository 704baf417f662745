"""The dashboard in Debian's headless Chromium: a real server on the demo county database.

The server runs in a subprocess (``wangge serve`` with ``DATABASE_URL`` set), the page is
driven with playwright's sync API; nothing leaves 127.0.0.1 (no tiles, no CDN).
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.util import CHROMIUM, CHROMIUM_ARGS  # noqa: F401 - used by the tests here and re-exported

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
OUTPUT = ROOT / "test-output"

VIEWPORT = {"width": 1600, "height": 900}
OPEN_TOOLTIP = '.leaflet-tooltip.wg-tooltip[style*="opacity: 1"]'
"""The open tooltip (a closed one fades out at opacity 0 for 200 ms before it is removed)."""

FIND_HOVER_POINT = """(selector) => {
    // a point inside a grid where that grid (not a circle or label above it) gets the mouse
    for (const path of document.querySelectorAll(selector)) {
        const r = path.getBoundingClientRect();
        if (r.width < 12 || r.height < 12) { continue; }
        for (let fy = 0.5; fy < 0.95; fy += 0.1) {
            for (let fx = 0.5; fx < 0.95; fx += 0.1) {
                for (const [ax, ay] of [[fx, fy], [1 - fx, 1 - fy]]) {
                    const x = Math.round(r.left + ax * r.width);
                    const y = Math.round(r.top + ay * r.height);
                    // the grid, and nothing drawn over it, all around the point
                    let clear = true;
                    for (let dx = -6; dx <= 6 && clear; dx += 3) {
                        for (let dy = -6; dy <= 6 && clear; dy += 3) {
                            clear = document.elementFromPoint(x + dx, y + dy) === path;
                        }
                    }
                    if (clear) { return [x, y]; }
                }
            }
        }
    }
    return null;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_command(port: int, args: Sequence[str] = ()) -> list[str]:
    """``wangge serve`` on 127.0.0.1:``port`` with extra ``args`` (e.g. ``--workers 2``)."""
    return [str(VENV_BIN / "wangge"), "serve", "--host", "127.0.0.1", "--port", str(port), *args]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - 127.0.0.1 only
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def run_server(db_url: str, log: Path, ready_path: str,
               extra_env: dict[str, str] | None = None,
               args: Sequence[str] = ()) -> Iterator[str]:
    """Run ``wangge serve`` on a free port against ``db_url`` until the generator closes.

    Yields the base URL once ``ready_path`` answers 200; fails the test with the server log
    when the server exits or does not answer within 120 s.
    """
    port = _free_port()
    # WANGGE_AUTH=0: the pages are tested without a login (tests/dashboard/test_auth.py
    # tests the login); pass {"WANGGE_AUTH": "1"} in extra_env to serve with it
    env = os.environ | {"DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1",
                        "WANGGE_AUTH": "0"} | (extra_env or {})
    env.pop("WANGGE_TILE_URL", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(_serve_command(port, args), cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if _get(base + ready_path)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer in time:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server(demo_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a dashboard server on the demo database (stopped after the module)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    yield from run_server(demo_db_url, log, "/")


@pytest.fixture(scope="module")
def grid_names(demo_db_url: str) -> dict:
    """Names of the village and group grids in force (group names repeat across villages)."""
    from gis.grids import versions
    from gis.grids.store import read_grids
    from gis.store import connect

    with connect(demo_db_url).connect() as conn:
        vid = versions.in_force(conn)
        assert vid is not None, "the demo database has no grid version in force"
        villages = read_grids(conn, vid, level=1)
        groups = read_grids(conn, vid, level=2)
    assert villages["name"].is_unique
    return {"villages": set(villages["name"]), "groups": set(groups["name"]),
            "n_groups": len(groups)}


def _open(browser, url: str):  # noqa: ANN001, ANN202
    page = browser.new_page(viewport=VIEWPORT, locale="zh-CN")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url)
    page.wait_for_function(
        "document.querySelectorAll('path.leaflet-interactive').length > 100", timeout=60_000)
    return page, errors


def test_home_map(server: str, browser, grid_names: dict) -> None:  # noqa: ANN001
    page, errors = _open(browser, server + "/")
    assert page.locator(".leaflet-container").is_visible()
    n_paths = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
    assert n_paths > 100
    n_villages = page.locator(".leaflet-wg-villages-pane path.leaflet-interactive").count()
    assert n_villages == len(grid_names["villages"])
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-incidents-pane path').length > 10")
    # header and legend
    assert page.locator("#home-title").inner_text() == "网格化服务管理指挥中心"
    assert page.locator("#home-stat-villages").inner_text() == f"{len(grid_names['villages']):,}"
    assert page.locator("#home-stat-groups").inner_text() == f"{grid_names['n_groups']:,}"
    assert int(page.locator("#home-stat-incidents").inner_text().replace(",", "")) > 0
    legend = page.locator("#home-legend")
    assert legend.is_visible()
    assert "图例" in legend.inner_text() and "村级网格" in legend.inner_text()
    assert page.locator(".leaflet-control-layers").is_visible()
    assert page.locator("#home-ranking .wg-rank-row").count() > 0
    # hovering a village grid shows its name
    point = page.evaluate(FIND_HOVER_POINT, ".leaflet-wg-villages-pane path.leaflet-interactive")
    assert point is not None, "no village grid reachable by the mouse"
    page.mouse.move(*point)
    tip = page.locator(OPEN_TOOLTIP)
    tip.wait_for(state="visible", timeout=10_000)
    name = tip.locator(".wg-tt-name").inner_text()
    assert name in grid_names["villages"], name
    assert "人口" in tip.inner_text()
    page.mouse.move(5, 5)
    page.wait_for_timeout(1000)  # let the clock tick and the map settle
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "home.png"))
    assert errors == []
    page.close()


def test_group_grids_load_when_zoomed_in(server: str, browser,  # noqa: ANN001
                                         grid_names: dict) -> None:
    page, errors = _open(browser, server + "/")
    assert page.locator(".leaflet-wg-groups-pane path").count() == 0  # not downloaded yet
    box = page.locator("#home-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(3):
        page.mouse.wheel(0, -100)
        page.wait_for_timeout(600)
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-groups-pane path.leaflet-interactive').length > 20",
        timeout=30_000)
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-village-labels-pane .wg-label').length > 0")
    point = page.evaluate(FIND_HOVER_POINT, ".leaflet-wg-groups-pane path.leaflet-interactive")
    assert point is not None
    page.mouse.move(*point)
    tip = page.locator(OPEN_TOOLTIP)
    tip.wait_for(state="visible", timeout=10_000)
    assert tip.locator(".wg-tt-name").inner_text() in grid_names["groups"]
    assert "所属村" in tip.inner_text()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "home-zoomed.png"))
    assert errors == []
    page.close()


def test_language_switch(server: str, browser) -> None:  # noqa: ANN001
    page, errors = _open(browser, server + "/")
    page.locator(".wg-lang-label", has_text="EN").click()
    page.wait_for_function(
        "document.querySelector('#home-title') && "
        "document.querySelector('#home-title').innerText.startsWith('Grid Service')")
    assert "Legend" in page.locator("#home-legend").inner_text()
    assert "Village grids (level 1)" in page.locator(".leaflet-control-layers").inner_text()
    page.wait_for_function(
        "document.querySelectorAll('path.leaflet-interactive').length > 100", timeout=60_000)
    page.locator(".wg-lang-label", has_text="中文").click()
    page.wait_for_function(
        "document.querySelector('#home-title').innerText === '网格化服务管理指挥中心'")
    assert errors == []
    page.close()


def test_layer_geojson_is_served_compressed_and_cacheable(server: str) -> None:
    status, headers, body = _get(server + "/layers/villages.geojson",
                                 {"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip"
    fc = json.loads(gzip.decompress(body))
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) > 0
    etag = headers["ETag"]
    status, _, _ = _get(server + "/layers/villages.geojson", {"If-None-Match": etag})
    assert status == 304
    first_paint = 0
    for layer_id in ("county", "townships", "villages", "incidents", "township-labels"):
        status, _, raw = _get(server + f"/layers/{layer_id}.geojson")
        assert status == 200, layer_id
        first_paint += len(raw)
    assert first_paint < 1_500_000
    assert _get(server + "/layers/nope.geojson")[0] == 404
