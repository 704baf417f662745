"""The leader review page (``/review``) in Debian's headless Chromium, on the demo county.

A real ``wangge serve`` in a subprocess (``run_server`` of test_browser), driven with
playwright; nothing leaves 127.0.0.1. The page loads without console errors, shows its map,
drills down from the county to a township (clicking a row), and choosing another township in
the area list changes the table. Screenshot: ``test-output/review.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.dashboard.test_browser import OUTPUT, run_server

pytestmark = pytest.mark.browser

PARTS_ROWS = "#review-tbl-parts tbody tr:not(.wg-rv-total)"
HERE_LEVEL = ("([lvl, code]) => { const h = document.querySelector('#review-here'); "
              "return h && h.dataset.level === lvl && (!code || h.dataset.code === code); }")


@pytest.fixture(scope="module")
def review_server(demo_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("review-server") / "server.log"
    yield from run_server(demo_db_url, log, "/review")


def test_review_loads_drills_down_and_switches_township(review_server: str, browser,
                                                        demo_engine) -> None:
    with demo_engine.connect() as conn:
        towns = dict(conn.execute(sa.text(
            "select code, name from territory_unit where level = 'township'")).all())
        villages = dict(conn.execute(sa.text(
            "select township_code, count(*) from grid g join grid_version v on v.id = "
            "g.version_id where g.level = 1 and v.status = 'published' group by 1")).all())
    page = browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(review_server + "/review")
    page.wait_for_selector(PARTS_ROWS, timeout=120_000)
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-wg-review-parts-pane path.leaflet-interactive')"
        ".length > 5", timeout=60_000)
    assert page.locator("#review-map").is_visible()
    n_hot = page.locator(".leaflet-wg-review-hotspots-pane path").count()
    assert n_hot == len(villages) or n_hot > 100  # every village, coloured by Gi* class
    assert page.locator(PARTS_ROWS).count() == len(towns)
    assert page.locator("#review-legend").is_visible()
    first = page.locator(PARTS_ROWS).first.locator("td").first.inner_text()
    assert first in towns.values()
    page.wait_for_timeout(800)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "review.png"))

    # drill down: click the first township's row -> its villages are listed
    code = next(c for c, n in towns.items() if n == first)
    page.locator(PARTS_ROWS).first.click()
    page.wait_for_function(HERE_LEVEL, arg=["township", code], timeout=120_000)
    page.wait_for_selector(PARTS_ROWS)
    assert page.locator(PARTS_ROWS).count() == villages[code]
    assert page.locator("#review-trail .wg-rv-crumb").count() == 1  # county link up

    # choose another township in the area list -> the table changes
    other = next(c for c in sorted(towns) if c != code)
    page.locator("#review-area").click()
    page.locator(".dash-dropdown-option",
                 has_text=re.compile(rf"^\s*· {re.escape(towns[other])}\s*$")).click()
    page.wait_for_function(HERE_LEVEL, arg=["township", other], timeout=120_000)
    page.wait_for_selector(PARTS_ROWS)
    assert page.locator(PARTS_ROWS).count() == villages[other]
    names = page.locator(PARTS_ROWS).locator("td:first-child").all_inner_texts()
    with demo_engine.connect() as conn:
        expected = set(conn.execute(sa.text(
            "select name from grid where level = 1 and township_code = :t"),
            {"t": other}).scalars())
    assert set(names) <= expected and names

    # back up to the county through the trail
    page.locator("#review-trail .wg-rv-crumb").first.click()
    page.wait_for_function(HERE_LEVEL, arg=["county", None], timeout=120_000)
    assert errors == []
    page.close()


def test_export_button_downloads_the_cli_briefing(review_server: str, browser,  # noqa: ANN001
                                                  tmp_path) -> None:  # noqa: ANN001
    from pypdf import PdfReader

    from dashboard.report.document import planned_pages

    page = browser.new_page(viewport={"width": 1600, "height": 900}, accept_downloads=True)
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    page.goto(review_server + "/review")
    page.wait_for_selector(PARTS_ROWS, timeout=120_000)
    week = page.locator("#review-week").inner_text().strip()
    page.locator("#review-export").click()
    page.wait_for_function("document.querySelector('#review-export-status').innerText !== ''",
                           timeout=240_000)
    page.wait_for_timeout(1000)
    names = sorted(d.suggested_filename for d in downloads)
    assert names == [f"briefing-620702-{week}.html", f"briefing-620702-{week}.pdf"]
    pdf = next(d for d in downloads if d.suggested_filename.endswith(".pdf"))
    pdf.save_as(tmp_path / "b.pdf")
    assert len(PdfReader(tmp_path / "b.pdf").pages) == planned_pages()
    assert str(planned_pages()) in page.locator("#review-export-status").inner_text()
    page.close()
