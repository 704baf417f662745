"""The wall display (大屏, ``/wall``) in Debian's headless Chromium, on the demo county.

A real ``wangge serve`` in a subprocess (refresh every 2 s, playlist off unless a test asks
with ``?playlist=``), driven with playwright; nothing leaves 127.0.0.1. Screenshots go to
``test-output/wall.png`` and ``test-output/wall-kiosk.png``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.dashboard.test_browser import (
    OUTPUT,
    run_server,
)

pytestmark = pytest.mark.browser

REFRESH_S = 2.0
FULL_HD = {"width": 1920, "height": 1080}
UHD = {"width": 3840, "height": 2160}
MAP_VIEW = """() => {
    const m = (window.wanggeMaps || {})['wall-map'];
    if (!m) { return null; }
    const c = m.getCenter();
    return {lat: c.lat, lng: c.lng, zoom: m.getZoom()};
}"""
NO_SCROLLBARS = """() => {
    const s = document.scrollingElement;
    return s.scrollHeight <= window.innerHeight && s.scrollWidth <= window.innerWidth;
}"""


def _count(page, selector: str) -> int:
    return page.locator(selector).count()


@pytest.fixture(scope="module")
def wall_server(demo_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a dashboard server on the demo database with a 2-second wall refresh."""
    log = tmp_path_factory.mktemp("wall-server") / "server.log"
    yield from run_server(demo_db_url, log, "/wall", {
        "WANGGE_WALL_REFRESH_S": str(REFRESH_S), "WANGGE_WALL_PLAYLIST_S": "0"})


@pytest.fixture(scope="module")
def county(demo_db_url: str) -> dict:
    """Grid counts and one group grid (point inside, village name) of the demo county."""
    import shapely

    from gis.grids import versions
    from gis.grids.store import read_grids
    from gis.store import connect

    with connect(demo_db_url).connect() as conn:
        vid = versions.in_force(conn)
        villages = read_grids(conn, vid, level=1)
        groups = read_grids(conn, vid, level=2)
        adcode = conn.execute(sa.text("select adcode from grid_version where id = :v"),
                              {"v": vid}).scalar_one()
    g = groups.iloc[len(groups) // 2]
    p = shapely.point_on_surface(g.geometry)
    names = dict(zip(villages["code"], villages["name"], strict=True))
    return {"n_villages": len(villages), "n_groups": len(groups), "adcode": adcode,
            "lon": p.x, "lat": p.y, "village": names[g["parent_code"]]}


def _open(browser, url: str, viewport: dict | None = None):
    page = browser.new_page(viewport=viewport or FULL_HD, locale="zh-CN")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url)
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-villages-pane path.leaflet-interactive')"
        ".length > 100", timeout=60_000)
    page.wait_for_function("document.querySelector('#wall-asof') && "
                           "/^\\d\\d:\\d\\d:\\d\\d$/.test(document.querySelector('#wall-asof')"
                           ".innerText)")
    page.wait_for_function(f"({MAP_VIEW})() !== null")
    return page, errors


def test_wall_shows_the_live_picture(wall_server: str, browser, county: dict,
                                     demo_engine) -> None:
    page, errors = _open(browser, wall_server + "/wall")
    assert page.locator("#wall-map").is_visible()
    assert _count(page, ".leaflet-wg-villages-pane path.leaflet-interactive") == \
        county["n_villages"]
    assert _count(page, ".leaflet-wg-county-pane path") >= 1
    assert page.locator("#wall-title").inner_text() == "网格化服务管理指挥中心"
    for key in ("today", "open", "overdue", "escalated"):
        assert page.locator(f"#wall-kpi-{key}").inner_text().replace(",", "").isdigit(), key
    for key in ("on_time", "satisfaction"):
        assert page.locator(f"#wall-kpi-{key}").inner_text().endswith("%"), key
    assert _count(page, "#wall-feed-new .wg-feed-row") > 0
    page.wait_for_function("document.querySelectorAll('#wall-trend .bars path').length >= 10")
    page.wait_for_function("document.querySelectorAll('#wall-kinds .bars path').length >= 3")
    legend = page.locator("#wall-legend")
    assert legend.is_visible() and "图例" in legend.inner_text()
    assert "事件密度" in legend.inner_text() and "近24小时" in legend.inner_text()
    with demo_engine.connect() as conn:
        live = conn.execute(sa.text("""select count(distinct group_code) from incident
            where occurred_at >= now() - interval '24 hours' and group_code is not null""")
                            ).scalar_one()
    n_live = _count(page, ".leaflet-wg-wall-live-pane path")
    assert n_live <= county["n_groups"] and (n_live > 0) == (live > 0)
    assert page.evaluate(NO_SCROLLBARS)
    assert page.locator("#wall-status").is_hidden()  # fresh data: no warning
    assert page.locator("#app-nav").is_visible()  # not kiosk: the controls are there
    page.wait_for_timeout(800)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "wall.png"))
    assert errors == []
    page.close()


def test_switching_layers_changes_the_map(wall_server: str, browser,
                                          county: dict) -> None:
    page, errors = _open(browser, wall_server + "/wall")
    assert _count(page, ".leaflet-wg-wall-rings-pane path") == 0
    assert page.locator("#wall-legend-rings").is_hidden()
    page.locator("#wall-overlays .wg-switch-label", has_text="5/10").click()
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-wall-rings-pane path').length === 2")
    assert _count(page, ".leaflet-wg-wall-posts-pane path") > 0
    assert page.locator("#wall-legend-rings").is_visible()
    assert "5公里" in page.locator("#wall-legend-rings").inner_text()
    assert _count(page, ".leaflet-wg-wall-cameras-pane path") == 0
    page.locator("#wall-overlays .wg-switch-label", has_text="视频监控").click()
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-wall-cameras-pane path').length > 10")
    # the theme restyles the village grids (same features, other colours)
    fills = """() => Array.from(new Set(Array.from(
        document.querySelectorAll('.leaflet-wg-villages-pane path'))
        .map((p) => p.getAttribute('fill')))).sort()"""
    density = page.evaluate(fills)
    assert len(density) >= 3  # density classes
    page.locator("#wall-theme .wg-switch-label", has_text="一村一警一连").click()
    page.wait_for_function(f"(before) => JSON.stringify(({fills})()) !== JSON.stringify(before)",
                           arg=density)
    coverage = page.evaluate(fills)
    assert "#0f3a5e" in coverage and set(coverage) & {"#56b4e9", "#e69f00", "#cc79a7"}
    assert _count(page, ".leaflet-wg-villages-pane path.leaflet-interactive") == \
        county["n_villages"]
    assert page.locator("#wall-legend-coverage").is_visible()
    assert page.locator("#wall-legend-density").is_hidden()
    # group grids are downloaded when first switched on
    assert _count(page, ".leaflet-wg-groups-pane path") == 0
    page.locator("#wall-overlays .wg-switch-label", has_text="组级网格").click()
    page.wait_for_function(
        f"document.querySelectorAll('.leaflet-wg-groups-pane path').length === "
        f"{county['n_groups']}", timeout=30_000)
    # and layers switch off again
    page.locator("#wall-overlays .wg-switch-label", has_text="5/10").click()
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-wall-rings-pane path').length === 0")
    assert _count(page, ".leaflet-wg-wall-posts-pane path") == 0
    page.locator("#wall-overlays .wg-switch-label", has_text="近24小时").click()
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-wall-live-pane path').length === 0")
    assert page.locator("#wall-overlays input[value='patrols']").is_enabled()
    assert errors == []
    page.close()


def test_refresh_advances_the_stamp_and_keeps_the_view(wall_server: str, browser,
                                                       county: dict) -> None:
    page, errors = _open(browser, wall_server + "/wall")
    page.evaluate("""() => {
        const m = window.wanggeMaps['wall-map'];
        window.wgMapBefore = m;
        document.getElementById('wall-map').wgMark = 'kept';
        m.setView([m.getCenter().lat + 0.02, m.getCenter().lng - 0.03], m.getZoom() + 1,
                  {animate: false});
    }""")
    view = page.evaluate(MAP_VIEW)
    stamp = page.locator("#wall-asof").inner_text()
    page.wait_for_function(
        f"document.querySelector('#wall-asof').innerText !== '{stamp}'",
        timeout=int(6 * REFRESH_S * 1000))
    second = page.locator("#wall-asof").inner_text()
    page.wait_for_function(
        f"document.querySelector('#wall-asof').innerText !== '{second}'",
        timeout=int(6 * REFRESH_S * 1000))
    assert page.locator("#wall-asof").inner_text() > stamp
    after = page.evaluate(MAP_VIEW)
    assert after == pytest.approx(view, abs=1e-9)
    assert page.evaluate("window.wanggeMaps['wall-map'] === window.wgMapBefore")
    assert page.evaluate("document.getElementById('wall-map').wgMark") == "kept"
    assert _count(page, ".leaflet-wg-villages-pane path.leaflet-interactive") == \
        county["n_villages"]
    assert page.locator("#wall-status").is_hidden()
    assert errors == []
    page.close()


def test_kiosk_hides_the_controls(wall_server: str, browser) -> None:
    page, errors = _open(browser, wall_server + "/wall?kiosk=1")
    assert page.locator(".wg-topbar").is_hidden()
    assert page.locator("#app-nav").is_hidden()
    assert page.locator("#app-lang-switch").is_hidden()
    assert page.locator("#wall-layers").is_hidden()
    assert _count(page, ".leaflet-control-zoom") == 0
    assert _count(page, ".leaflet-control-layers") == 0
    assert page.locator("#wall-map").is_visible() and page.locator("#wall-legend").is_visible()
    assert page.evaluate(NO_SCROLLBARS)
    assert page.locator("#wall-view-caption").inner_text() == ""  # playlist off in tests
    page.wait_for_timeout(800)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "wall-kiosk.png"))
    assert errors == []
    page.close()
    uhd, errors = _open(browser, wall_server + "/wall?kiosk=1", viewport=UHD)
    assert uhd.evaluate(NO_SCROLLBARS)
    font = uhd.evaluate("parseFloat(getComputedStyle(document.getElementById('wall')).fontSize)")
    assert font > 28  # type scales with the screen (1.5vh)
    assert errors == []
    uhd.close()


def test_new_incident_appears_within_one_refresh(wall_server: str, browser, county: dict,
                                                 demo_engine) -> None:
    import pandas as pd

    from gis.grids.lookup import lookup_in_force
    from gis.incidents.ingest import ingest_frame

    page, errors = _open(browser, wall_server + "/wall")
    today_before = int(page.locator("#wall-kpi-today").inner_text().replace(",", ""))
    sid = f"wall-{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC)
    df = pd.DataFrame({"source": ["test-wall"], "source_id": [sid], "kind": ["forest_fire"],
                       "occurred_at": [now], "reported_at": [now], "lon": [county["lon"]],
                       "lat": [county["lat"]], "status": ["received"],
                       "address": [county["village"]], "description": ["浏览器测试"]})
    with demo_engine.begin() as conn:
        summary = ingest_frame(conn, df, county["adcode"], lookup_in_force(conn))
        assert summary.inserted == 1
        iid = conn.execute(sa.text(
            "select id from incident where source = 'test-wall' and source_id = :s"),
            {"s": sid}).scalar_one()
    try:
        t0 = time.monotonic()
        row = page.locator(f'#wall-feed-new [data-incident="{iid}"]')
        row.wait_for(state="visible", timeout=int((2 * REFRESH_S + 4) * 1000))
        waited = time.monotonic() - t0
        assert waited <= 2 * REFRESH_S + 4
        text = row.inner_text()
        assert "森林防火" in text and county["village"] in text and "已受理" in text
        assert page.locator("#wall-feed-new .wg-feed-row").first.get_attribute(
            "data-incident") == str(iid)
        page.wait_for_function(
            f"parseInt(document.querySelector('#wall-kpi-today').innerText.replace(/,/g, ''))"
            f" >= {today_before + 1}")
        assert errors == []
    finally:
        page.close()
        with demo_engine.begin() as conn:  # leave the shared demo database as it was
            conn.execute(sa.text("""delete from incident where id = :i and not exists (
                select 1 from incident_event e where e.incident_id = :i)"""), {"i": iid})


def test_language_switch_changes_the_labels(wall_server: str, browser) -> None:
    page, errors = _open(browser, wall_server + "/wall")
    assert "今日事件" in page.locator("#wall-kpis").inner_text()
    page.locator(".wg-lang-label", has_text="EN").click()
    page.wait_for_function(
        "document.querySelector('#wall-title') && "
        "document.querySelector('#wall-title').innerText.startsWith('Grid Service')")
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-villages-pane path').length > 100")
    kpis = page.locator("#wall-kpis").inner_text()
    assert "Today" in kpis and "On-time closure" in kpis and "今日事件" not in kpis
    assert "Legend" in page.locator("#wall-legend").inner_text()
    assert "Theme" in page.locator("#wall-layers").inner_text()
    assert "Newest incidents" in page.locator(".wg-feed-panel-new").inner_text()
    assert "Data as of" in page.locator(".wg-asof").inner_text()
    stamp = page.locator("#wall-asof").inner_text()
    page.wait_for_function(f"document.querySelector('#wall-asof').innerText !== '{stamp}'",
                           timeout=int(6 * REFRESH_S * 1000))
    assert "Today" in page.locator("#wall-kpis").inner_text()  # refreshes stay in English
    page.locator(".wg-lang-label", has_text="中文").click()
    page.wait_for_function(
        "document.querySelector('#wall-title').innerText === '网格化服务管理指挥中心'")
    assert "今日事件" in page.locator("#wall-kpis").inner_text()
    assert errors == []
    page.close()


def test_playlist_flies_to_each_township(wall_server: str, browser) -> None:
    page, errors = _open(browser, wall_server + "/wall?playlist=1.5")
    start = page.evaluate(MAP_VIEW)
    caption = page.locator("#wall-view-caption")
    page.wait_for_function(
        "document.querySelector('#wall-view-caption').innerText.startsWith('当前视图')",
        timeout=10_000)
    first = caption.inner_text()
    assert "全域" not in first  # the first step leaves the county view for a township
    page.wait_for_timeout(2500)  # the fly-to animation
    moved = page.evaluate(MAP_VIEW)
    assert moved["zoom"] > start["zoom"]
    page.wait_for_function(
        f"document.querySelector('#wall-view-caption').innerText !== '{first}'",
        timeout=10_000)
    assert errors == []
    page.close()
