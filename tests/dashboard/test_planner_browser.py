"""The planner page (/planner) in Debian's headless Chromium, on a mutable demo database.

One server for both tests (they run in order): the first only looks (a grid's metrics, a
metric switch), the second edits a draft (new draft, merge preview, save, validate).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.dashboard.test_browser import (
    OUTPUT,
    VIEWPORT,
    run_server,
)

pytestmark = pytest.mark.browser

GRIDS = ".leaflet-wg-planner-grids-pane path.leaflet-interactive"
FIND_CLICK_POINT = """(selector) => {
    // the middle of a grid well inside the map, where nothing is drawn over it
    const m = document.querySelector('#planner-map').getBoundingClientRect();
    for (const path of document.querySelectorAll(selector)) {
        const r = path.getBoundingClientRect();
        if (r.width < 30 || r.height < 30) { continue; }
        if (r.left < m.left + 60 || r.top < m.top + 60 || r.right > m.right - 60 ||
            r.bottom > m.bottom - 60) { continue; }
        const x = Math.round(r.left + r.width / 2), y = Math.round(r.top + r.height / 2);
        if (document.elementFromPoint(x, y) === path) { return [x, y]; }
    }
    return null;
}"""


@pytest.fixture(scope="module")
def db_url(demo) -> Iterator[str]:
    """A fresh database holding the demo county (the second test edits it)."""
    from data.loader import load_demo
    from gis.store import connect, database_url, drop_database
    from gis.store.engine import with_database

    url = with_database(database_url(),
                        f"wangge_test_planner_ui_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    try:
        load_demo(connect(url), demo)
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("planner-server") / "server.log"
    yield from run_server(db_url, log, "/planner")


def _open(browser, url: str):
    page = browser.new_page(viewport=VIEWPORT, locale="zh-CN", accept_downloads=True)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url)
    page.wait_for_function(f"document.querySelectorAll('{GRIDS}').length > 100",
                           timeout=120_000)
    return page, errors


def _grid(db_url: str, code: str) -> dict:
    from gis.grids import versions
    from gis.store import connect

    with connect(db_url).connect() as conn:
        vid = versions.in_force(conn)
        return dict(conn.execute(sa.text(
            "select name, population, households from grid where version_id = :v and code = :c"),
            {"v": vid, "c": code}).mappings().one())


def test_planner_shows_a_grids_metrics_and_switches_the_metric(server: str, browser,
                                                               db_url: str) -> None:
    page, errors = _open(browser, server + "/planner")
    assert page.locator(".leaflet-wg-planner-grids-pane path.leaflet-interactive").count() == 248
    legend = page.locator("#planner-legend")
    legend.wait_for()
    page.wait_for_function("document.querySelector('#planner-legend-metric') && "
                           "document.querySelector('#planner-legend-metric').innerText === '户数'")
    before = legend.inner_text()
    assert "偏大" in before and "偏小" in before
    point = page.evaluate(FIND_CLICK_POINT, GRIDS)
    assert point is not None, "no village grid reachable by the mouse"
    page.mouse.click(*point)
    page.locator("#planner-detail-code").wait_for(timeout=30_000)
    code = page.locator("#planner-detail-code").inner_text()
    db = _grid(db_url, code)
    assert page.locator("#planner-detail-name").inner_text() == db["name"]
    assert page.locator("#planner-metric-population").inner_text() == f"{db['population']:,}"
    assert page.locator("#planner-metric-households").inner_text() == f"{db['households']:,}"
    assert page.locator("#planner-neighbours button").count() >= 2
    # the selected grid is outlined (the selection travels in the layer's hideout)
    outlined = f"""Array.from(document.querySelectorAll('{GRIDS}'))
        .some(p => p.getAttribute('stroke') === '#ffd166')"""
    page.mouse.move(5, 5)  # the hover style would cover it
    try:
        page.wait_for_function(outlined, timeout=20_000)
    except PlaywrightTimeout:  # known flake on a cold server (see the closing note): click again
        page.mouse.click(*point)
        page.mouse.move(5, 5)
        page.wait_for_function(outlined, timeout=30_000)
    page.locator("#planner-metric .wg-pl-seg-label", has_text="紧凑度").click()
    page.wait_for_function("document.querySelector('#planner-legend-metric').innerText === '紧凑度'")
    after = legend.inner_text()
    assert after != before and "0." in after
    page.wait_for_timeout(500)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "planner.png"))
    assert errors == []
    page.close()


def test_planner_merges_two_grids_of_a_new_draft(server: str, browser,
                                                 db_url: str) -> None:
    page, errors = _open(browser, server + "/planner")
    page.locator("#planner-new-draft").click()
    msg = page.locator("#planner-message")
    page.wait_for_function("document.querySelector('#planner-message').innerText.includes('草稿')",
                           timeout=60_000)
    page.wait_for_function(
        "document.querySelector('#planner-edit-section').style.display !== 'none'",
        timeout=60_000)
    point = page.evaluate(FIND_CLICK_POINT, GRIDS)
    page.mouse.click(*point)
    page.locator("#planner-detail-code").wait_for(timeout=30_000)
    code = page.locator("#planner-detail-code").inner_text()
    page.locator("#planner-merge-with").click()
    option = page.locator(".dash-dropdown-options .dash-dropdown-option").first
    partner = option.inner_text().split()[-1]
    option.click()
    page.locator("#planner-preview-merge").click()
    page.wait_for_function("document.querySelector('#planner-preview').innerText.length > 20",
                           timeout=120_000)
    preview = page.locator("#planner-preview").inner_text()
    assert "未执行" not in preview, preview
    assert code in preview and partner in preview and "编辑后" in preview
    page.locator("#planner-save").click()
    page.wait_for_function("document.querySelector('#planner-message').innerText.includes('已保存')",
                           timeout=120_000)
    merged = min(code, partner)
    assert merged in msg.inner_text()
    # the panel now shows the merged grid: its population is the sum of the two
    page.wait_for_function(
        f"document.querySelector('#planner-detail-code').innerText === '{merged}'",
        timeout=60_000)
    total = _grid(db_url, code)["population"] + _grid(db_url, partner)["population"]
    page.wait_for_function(
        f"document.querySelector('#planner-metric-population').innerText === '{total:,}'",
        timeout=60_000)
    page.locator("#planner-validate").click()
    page.wait_for_function(
        "document.querySelector('#planner-problems-list').innerText.length > 3", timeout=60_000)
    assert "拓扑有效" in page.locator("#planner-problems-list").inner_text()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "planner-edit.png"))
    assert errors == []
    page.close()
    from gis.store import connect

    with connect(db_url).connect() as conn:
        ops = conn.execute(sa.text("select op from grid_edit e join grid_version v on "
                                   "v.id = e.version_id where v.status = 'draft' order by e.id"))
        assert list(ops.scalars()) == ["new_draft", "merge"]
