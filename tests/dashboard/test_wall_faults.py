"""Faults: the wall display while its database server is down, and after it is back.

A private throw-away PostgreSQL cluster (like ``tests/gis/test_faults.py``; the shared test
cluster is never touched) holds a copy of the demo county; ``wangge serve`` runs on it with
a 2-second wall refresh, and the wall is open in Debian's headless Chromium. The server is
stopped like a crash (``pg_ctl -m immediate``): the page must say "database unreachable"
while it keeps showing its last picture (map, KPI tiles, feed; the "as of" stamp stays),
and when the server is started again the warning must go away by itself and the stamp move
on, without a page reload. (The database stopped in the middle of an import or a grid
publish is covered by ``tests/gis/test_faults.py``.)
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gis.store import cluster, connect
from tests.dashboard.test_browser import OUTPUT, run_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REFRESH_S = 2.0
VIEW = {"width": 1920, "height": 1080}
STATE = """() => {
    const s = document.querySelector('#wall-status');
    const a = document.querySelector('#wall-asof');
    return {cls: s ? s.className : null, text: s ? s.innerText : null,
            asof: a ? a.innerText : null, marker: window.__sameDocument === true,
            villages: document.querySelectorAll(
                '.leaflet-wg-villages-pane path.leaflet-interactive').length,
            kpis: Array.from(document.querySelectorAll('[id^="wall-kpi-"]'))
                       .map((e) => e.id + '=' + e.innerText),
            feed: document.querySelectorAll('#wall-feed-new .wg-feed-row').length};
}"""


@pytest.fixture(scope="module")
def private(demo) -> Iterator[cluster.Cluster]:
    """A private cluster holding a copy of the demo county (removed at the end)."""
    from data.loader import load_demo

    base = Path(tempfile.mkdtemp(prefix="wangge-wall-faults-", dir="/var/tmp"))
    c = cluster.Cluster(base)
    cluster.start(c)
    try:
        load_demo(connect(c.url("wallfaults")), demo)
        yield c
    finally:
        cluster.stop(c, mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def wall_server(private: cluster.Cluster,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("wall-faults-server") / "server.log"
    yield from run_server(private.url("wallfaults"), log, "/wall", {
        "WANGGE_WALL_REFRESH_S": str(REFRESH_S), "WANGGE_WALL_PLAYLIST_S": "0"})


def _wait_asof_change(page, old: str, timeout_ms: int) -> str:
    page.wait_for_function(
        "(old) => { const a = document.querySelector('#wall-asof'); "
        "return a && /^\\d\\d:\\d\\d:\\d\\d$/.test(a.innerText) && a.innerText !== old; }",
        arg=old, timeout=timeout_ms)
    return page.locator("#wall-asof").inner_text()


def test_wall_says_database_unreachable_and_recovers_by_itself(
        private: cluster.Cluster, wall_server: str, browser) -> None:
    page = browser.new_page(viewport=VIEW, locale="zh-CN")
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    navigations: list[str] = []
    page.goto(wall_server + "/wall")
    page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame
            else None)
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-villages-pane path.leaflet-interactive')"
        ".length > 100", timeout=60_000)
    first = _wait_asof_change(page, "", 60_000)
    _wait_asof_change(page, first, 30_000)  # the refresh runs
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    healthy = page.evaluate(STATE)
    assert healthy["cls"] == "wg-wall-status is-ok" and page.locator("#wall-status").is_hidden()

    cluster.stop(private, mode="immediate")
    try:
        page.wait_for_function(
            "document.querySelector('#wall-status').className.includes('is-down')",
            timeout=30_000)
        stamp = page.locator("#wall-asof").inner_text()
        page.wait_for_timeout(int(3 * REFRESH_S * 1000))  # a few failed refreshes more
        down = page.evaluate(STATE)
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "wall-db-down.png"))
    finally:
        cluster.start(private)

    assert down["cls"] == "wg-wall-status is-down"
    assert page.locator("#wall-status").is_visible()
    assert down["asof"] == stamp  # frozen at the last good refresh
    assert down["text"] == f"⚠ 数据库无法连接 · 显示 {stamp} 的数据"
    # the last picture stays: map, every KPI tile with its value, the feed
    assert down["villages"] == healthy["villages"] > 100
    assert len(down["kpis"]) == len(healthy["kpis"]) >= 6
    assert all(k.split("=", 1)[1].strip() for k in down["kpis"])
    assert down["feed"] == healthy["feed"]
    assert down["marker"] is True

    page.wait_for_function(
        "document.querySelector('#wall-status').className === 'wg-wall-status is-ok'",
        timeout=60_000)
    after = _wait_asof_change(page, stamp, 30_000)
    again = _wait_asof_change(page, after, 30_000)  # and it keeps moving
    back = page.evaluate(STATE)

    assert page.locator("#wall-status").is_hidden() and back["text"] == ""
    assert after != stamp and again != after
    assert back["marker"] is True and navigations == []  # no reload, no navigation
    assert back["villages"] == healthy["villages"]
    assert page_errors == []
    page.close()
