"""The operator desk (``/desk``) in Debian's headless Chromium, with the wall display open.

A real ``wangge serve`` (desk and wall refresh every 2 s) on a mutable copy of the demo
county; the incident is entered by clicking the map, submitted, seen in the desk's queue,
then on the wall display within one refresh, and finally dispatched from the desk. Nothing
leaves 127.0.0.1. Screenshots: ``test-output/desk.png``, ``test-output/desk-wall.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from gis.store import connect
from tests.dashboard.test_browser import OUTPUT, run_server
from tests.dashboard.test_desk import desk_db_url  # noqa: F401 - the mutable demo copy

pytestmark = pytest.mark.browser

REFRESH_S = 2.0
DESK_VIEW = {"width": 1600, "height": 900}
WALL_VIEW = {"width": 1920, "height": 1080}
MAP_POINT = """([mapId, lat, lng]) => {
    const m = window.wanggeMaps[mapId];
    const p = m.latLngToContainerPoint([lat, lng]);
    const r = m.getContainer().getBoundingClientRect();
    return [r.left + p.x, r.top + p.y];
}"""


@pytest.fixture(scope="module")
def desk_server(desk_db_url: str,  # noqa: F811
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a dashboard server on the mutable demo copy (2-second refreshes)."""
    log = tmp_path_factory.mktemp("desk-server") / "server.log"
    yield from run_server(desk_db_url, log, "/desk", {
        "WANGGE_DESK_REFRESH_S": str(REFRESH_S), "WANGGE_WALL_REFRESH_S": str(REFRESH_S),
        "WANGGE_WALL_PLAYLIST_S": "0"})


def _page(browser, url: str, viewport: dict, ready: str):
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url)
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-villages-pane path').length > 100",
        timeout=60_000)
    page.wait_for_function(ready, timeout=60_000)
    return page, errors


def test_incident_entered_on_the_desk_appears_on_the_wall(desk_server: str, browser,
                                                          desk_db_url: str) -> None:  # noqa: F811
    eng = connect(desk_db_url)
    with eng.connect() as conn:  # a group grid near the middle of the county, and its names
        g = conn.execute(sa.text("""
            select g.code, t.name || v.name || g.name as full_name, v.name as village,
                   st_x(st_pointonsurface(g.geom)) as lon, st_y(st_pointonsurface(g.geom)) as lat
            from grid g join grid v on v.version_id = g.version_id and v.code = g.parent_code
            join territory_unit t on t.code = v.township_code
            where g.version_id = (select max(id) from grid_version) and g.level = 2
            order by st_distance(g.geom, (select st_centroid(st_collect(geom)) from grid
                                          where level = 1)), g.code
            limit 1""")).mappings().one()

    wall, wall_errors = _page(browser, desk_server + "/wall", WALL_VIEW,
                              "document.querySelectorAll('#wall-trend .bars path').length >= 10")
    today_before = int(wall.locator("#wall-kpi-today").inner_text().replace(",", ""))
    desk, errors = _page(browser, desk_server + "/desk", DESK_VIEW,
                         "document.querySelectorAll('#desk-queue .wg-dq-row').length > 0")
    assert desk.locator("#desk-submit").is_visible()

    # intake: kind, a click on the map (the grid found is shown), reporter, submit
    desk.click("#desk-kind")
    desk.locator(".dash-dropdown-option", has_text="森林防火").click()
    desk.mouse.click(*desk.evaluate(MAP_POINT, ["desk-map", g["lat"], g["lon"]]))
    desk.wait_for_function("document.querySelector('#desk-place-name') !== null")
    assert desk.locator("#desk-place-name").inner_text() == g["full_name"]
    assert desk.locator('#desk-map path[fill="#f0e442"]').count() == 1  # the point, marked
    desk.fill("#desk-description", "浏览器测试：山林冒烟")
    desk.fill("#desk-reporter", "护林员 王五")
    desk.click("#desk-submit")
    desk.wait_for_function(
        "document.querySelector('#desk-submit-result').innerText.includes('#')")
    result = desk.locator("#desk-submit-result").inner_text()
    assert "已受理" in result, result
    iid = int(re.search(r"#(\d+)", result).group(1))
    with eng.connect() as conn:
        row = conn.execute(sa.text("""select source, kind, status, group_code, reporter
            from incident where id = :i"""), {"i": iid}).one()
    assert tuple(row) == ("desk", "forest_fire", "received", g["code"], "护林员 王五")

    # it is in the queue (selected, scrolled into view) and its detail is open
    queued = desk.locator(f'#desk-queue [data-incident="{iid}"]')
    queued.wait_for(state="visible", timeout=30_000)
    assert "is-selected" in queued.get_attribute("class")
    assert "森林防火" in queued.inner_text() and g["village"] in queued.inner_text()
    desk.wait_for_function(
        f"document.querySelector('.wg-dd-head') && "
        f"document.querySelector('.wg-dd-head').dataset.incident === '{iid}'")
    assert "受理登记（desk）" in desk.locator("#desk-history").inner_text()
    assert [b.get_attribute("data-action") for b in
            desk.locator("#desk-actions button").all()] == ["dispatch"]
    desk.wait_for_timeout(500)
    OUTPUT.mkdir(exist_ok=True)
    desk.screenshot(path=str(OUTPUT / "desk.png"))

    # the wall display shows it within one refresh (feed and today's tile), no reload
    row_on_wall = wall.locator(f'#wall-feed-new [data-incident="{iid}"]')
    row_on_wall.wait_for(state="visible", timeout=int((2 * REFRESH_S + 4) * 1000))
    assert "森林防火" in row_on_wall.inner_text() and g["village"] in row_on_wall.inner_text()
    wall.wait_for_function(
        "parseInt(document.querySelector('#wall-kpi-today').innerText.replace(/,/g, ''))"
        f" >= {today_before + 1}", timeout=int((2 * REFRESH_S + 4) * 1000))
    wall.screenshot(path=str(OUTPUT / "desk-wall.png"))

    # dispatch from the detail: only the allowed actions are offered afterwards
    for attempt in range(3):  # a click may land while the ticking refresh redraws the detail
        desk.locator('#desk-actions button[data-action="dispatch"]').click()
        try:
            desk.locator("#desk-act-form").wait_for(state="visible", timeout=20_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    assert desk.locator("#desk-act-row-unit_code").is_visible()
    assert desk.locator("#desk-act-row-feedback").is_hidden()
    desk.click("#desk-act-confirm")
    desk.wait_for_function(
        "document.querySelector('#desk-detail-status') && "
        "document.querySelector('#desk-detail-status').innerText === '已分派'")
    assert "已执行" in desk.locator("#desk-act-msg").inner_text()
    assert sorted(b.get_attribute("data-action") for b in
                  desk.locator("#desk-actions button").all()) == ["accept", "dispatch"]
    assert desk.locator('#desk-history [data-kind="transition"]').count() == 1
    with eng.connect() as conn:
        status, unit = conn.execute(sa.text(
            "select status, unit_code from incident where id = :i"), {"i": iid}).one()
        actor = conn.execute(sa.text("select actor from incident_event where incident_id = :i "
                                     "and kind = 'transition'"), {"i": iid}).scalar_one()
        village = conn.execute(sa.text("select village_code from incident where id = :i"),
                               {"i": iid}).scalar_one()
    assert (status, actor, unit) == ("dispatched", "desk", village)  # default: its own station
    assert errors == [], errors
    assert wall_errors == [], wall_errors
    desk.close()
    wall.close()
