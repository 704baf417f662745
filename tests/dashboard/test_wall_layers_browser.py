"""The wall's analysis overlays in Debian's headless Chromium: 10 / 20-minute isochrones and
patrols of the last 24 hours, switched on from the layer panel, drawn as SVG paths with
their legend, and kept (with the view) through the auto-refresh.

A real ``wangge serve`` in a subprocess on the demo database (refresh every 2 s, no
playlist). The demo's patrols end when the demo was generated, so the test adds one patrol
that ended an hour ago (removed afterwards). Screenshot: ``test-output/wall-isochrones.png``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.dashboard.test_browser import OUTPUT, run_server
from tests.dashboard.test_wall import MAP_VIEW, _open

pytestmark = pytest.mark.browser

REFRESH_S = 2.0
ISO = ".leaflet-wg-wall-iso-pane path"
PATROLS = ".leaflet-wg-wall-patrols-pane path"
POSTS = ".leaflet-wg-wall-posts-pane path"
STROKES = """(sel) => Array.from(new Set(Array.from(document.querySelectorAll(sel))
    .map((p) => (p.getAttribute('stroke') || '').toLowerCase()))).sort()"""
FILLS = """(sel) => Array.from(new Set(Array.from(document.querySelectorAll(sel))
    .map((p) => (p.getAttribute('fill') || '').toLowerCase()))).sort()"""


@pytest.fixture(scope="module")
def server(demo_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("wall-layers-server") / "server.log"
    yield from run_server(demo_db_url, log, "/wall", {
        "WANGGE_WALL_REFRESH_S": str(REFRESH_S), "WANGGE_WALL_PLAYLIST_S": "0"})


@pytest.fixture(scope="module")
def recent_patrol(demo_engine) -> Iterator[int]:
    """A copy of a demo patrol that started 2 hours and ended 1 hour ago (a day patrol,
    ``night`` false), deleted at the end: the last 24 hours have at least this track."""
    sid = f"wall-layers-{uuid.uuid4().hex[:8]}"
    with demo_engine.begin() as conn:
        pid = conn.execute(sa.text("""
            insert into patrol (adcode, source, source_id, name, team, officer, started_at,
                ended_at, night, n_points, length_m, village_code, group_code, location_flag,
                track, geom)
            select adcode, 'test-wall-layers', :sid, name, team, officer,
                now() - interval '2 hours', now() - interval '1 hour', false, n_points,
                length_m, village_code, group_code, location_flag, track, geom
            from patrol order by id limit 1 returning id"""), {"sid": sid}).scalar_one()
    yield pid
    with demo_engine.begin() as conn:
        conn.execute(sa.text("delete from patrol where id = :i"), {"i": pid})


def _expected_patrol_paths(engine) -> tuple[int, set[int]]:
    """(key sections, possible track counts of the last 24 hours) by SQL: the server reads
    a little later, when a demo track may have left its window (tracks that ended within
    the last 23.9 hours are surely still in it)."""
    with engine.connect() as conn:
        sections = conn.execute(sa.text("select count(*) from key_section")).scalar_one()
        q = sa.text("select count(*) from patrol where ended_at >= now() - "
                    "interval '1 hour' * :h and ended_at <= now()")
        surely = conn.execute(q, {"h": 23.9}).scalar_one()
        now = conn.execute(q, {"h": 24.0}).scalar_one()
    return int(sections), set(range(int(surely), int(now) + 1))


def _count(page, selector: str) -> int:
    return page.locator(selector).count()


def test_isochrone_and_patrol_overlays_switch_on_and_survive_refreshes(
        server: str, browser, demo_engine, recent_patrol: int) -> None:
    page, errors = _open(browser, server + "/wall")
    assert _count(page, ISO) == 0 and _count(page, PATROLS) == 0
    assert page.locator("#wall-legend-isochrones").is_hidden()
    assert page.locator("#wall-legend-patrols").is_hidden()
    assert page.locator("#wall-overlays input[value='patrols']").is_enabled()
    assert page.locator("#wall-overlays input[value='isochrones']").is_enabled()

    # 10 / 20-minute isochrones: two dissolved areas, drawn with the posts
    page.locator("#wall-overlays .wg-switch-label", has_text="10/20分钟").click()
    page.wait_for_function(f"document.querySelectorAll('{ISO}').length === 2",
                           timeout=60_000)
    assert page.evaluate(FILLS, ISO) == ["#0072b2", "#e69f00"]  # Okabe-Ito blue, orange
    assert _count(page, POSTS) > 0
    legend = page.locator("#wall-legend-isochrones")
    assert legend.is_visible()
    text = legend.inner_text()
    assert "10分钟车程可达" in text and "20分钟车程可达" in text and "派出所" in text

    # patrols of the last 24 hours and the week's key sections
    sections, tracks = _expected_patrol_paths(demo_engine)
    page.locator("#wall-overlays .wg-switch-label", has_text="巡逻").click()
    page.wait_for_function(f"document.querySelectorAll('{PATROLS}').length >= {sections + 1}",
                           timeout=30_000)
    n_paths = _count(page, PATROLS)
    assert n_paths - sections in tracks and n_paths - sections >= 1
    strokes = page.evaluate(STROKES, PATROLS)
    assert "#d55e00" in strokes  # sections below the weekly minimum (vermillion)
    assert "#56b4e9" in strokes  # the day track added an hour ago (sky blue)
    legend = page.locator("#wall-legend-patrols")
    assert legend.is_visible()
    text = legend.inner_text()
    for s in ("日间巡逻轨迹", "夜间巡逻轨迹", "本周巡逻 ≥ 3 次", "本周巡逻不足 3 次"):
        assert s in text, s
    page.wait_for_function(
        "document.querySelector('#wall-patrols-note').innerText.includes('重点路段达标')")
    assert f"{sections}" in page.locator("#wall-patrols-note").inner_text()
    page.wait_for_timeout(500)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "wall-isochrones.png"))

    # the auto-refresh keeps the map view, the switched overlays and their paths
    page.evaluate("""() => {
        const m = window.wanggeMaps['wall-map'];
        m.setView([m.getCenter().lat + 0.01, m.getCenter().lng + 0.02], m.getZoom() + 0.5,
                  {animate: false});
    }""")
    view = page.evaluate(MAP_VIEW)
    for _ in range(2):
        stamp = page.locator("#wall-asof").inner_text()
        page.wait_for_function(
            f"document.querySelector('#wall-asof').innerText !== '{stamp}'",
            timeout=int(6 * REFRESH_S * 1000))
    page.wait_for_timeout(int(REFRESH_S * 1000))
    assert page.evaluate(MAP_VIEW) == pytest.approx(view, abs=1e-9)
    assert _count(page, ISO) == 2 and _count(page, PATROLS) == n_paths
    checked = page.eval_on_selector_all("#wall-overlays input:checked", "els => els.map(e => e.value)")
    assert {"isochrones", "patrols"} <= set(checked)
    assert page.locator("#wall-legend-isochrones").is_visible()
    assert page.locator("#wall-legend-patrols").is_visible()

    # and they switch off again (the posts go with the rings and the isochrones)
    page.locator("#wall-overlays .wg-switch-label", has_text="10/20分钟").click()
    page.wait_for_function(f"document.querySelectorAll('{ISO}').length === 0")
    assert _count(page, POSTS) == 0
    page.locator("#wall-overlays .wg-switch-label", has_text="巡逻").click()
    page.wait_for_function(f"document.querySelectorAll('{PATROLS}').length === 0")
    assert page.locator("#wall-legend-patrols").is_hidden()
    assert errors == []
    page.close()


def test_overlays_in_english(server: str, browser) -> None:
    page, errors = _open(browser, server + "/wall")
    page.locator(".wg-lang-label", has_text="EN").click()
    page.wait_for_function("document.querySelector('#wall-layers') && "
                           "document.querySelector('#wall-layers').innerText.includes("
                           "'10/20-min drive areas')")
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-villages-pane path').length > 100")
    page.locator("#wall-overlays .wg-switch-label", has_text="Patrols, 24 h").click()
    page.wait_for_function(f"document.querySelectorAll('{PATROLS}').length > 10",
                           timeout=30_000)
    page.wait_for_function("document.querySelector('#wall-patrols-note').innerText"
                           ".includes('key sections met')")
    assert "Patrolled fewer than 3 times this week" in \
        page.locator("#wall-legend-patrols").inner_text()
    assert errors == []
    page.close()
