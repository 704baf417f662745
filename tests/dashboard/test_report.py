"""``wangge report weekly`` on the demo county: the HTML opens offline in Chromium with every
section and the right numbers, the PDF has the planned pages and its map page shows a map.

The briefing is built once (module fixture) through the CLI for the last whole week of the
demo data; its numbers are checked against direct SQL counts. Pages of the PDF are rasterised
with ``pdftoppm`` (poppler-utils) and read as PPM with numpy.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from dashboard.report.document import PAGES, planned_pages
from dashboard.review_period import latest_full_week
from gis import settings
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, OUTPUT

runner = CliRunner()


def _untranslated(text: str) -> list[str]:
    """i18n keys (``review.…``, ``kind.…``) left as text in the page (scripts, styles and
    the maps' data, whose values are not shown as text, left out)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S)
    return re.findall(r">[^<>]*\b(?:review|kind|legend|layer|field)\.[a-z_]+[^<>]*<", body)


def _json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def week(demo_engine) -> str:
    with demo_engine.connect() as conn:
        return latest_full_week(conn, None).label


@pytest.fixture(scope="module")
def report(demo_db_url: str, week: str, tmp_path_factory: pytest.TempPathFactory,
           monkeypatch_module) -> dict:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    out = tmp_path_factory.mktemp("briefing")
    monkeypatch_module.setattr(settings, "DATABASE_URL", demo_db_url)
    t0 = time.perf_counter()
    res = runner.invoke(app, ["report", "weekly", "--area", "620702", "--week", week,
                              "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = _json(res.stdout)
    info["wall_s"] = time.perf_counter() - t0
    OUTPUT.mkdir(exist_ok=True)
    for key in ("html", "pdf"):  # keep a copy for the reviewer
        shutil.copy(info[key], OUTPUT / Path(info[key]).name)
    return info


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _count(engine, week: str) -> tuple[int, int]:
    from dashboard.review_period import parse_period

    p = parse_period(week)
    with engine.connect() as conn:
        q = sa.text("select count(*) from incident where adcode = '620702' and "
                    "occurred_at >= :s and occurred_at < :e")
        return (int(conn.execute(q, {"s": p.start, "e": p.end}).scalar_one()),
                int(conn.execute(q, {"s": p.previous().start,
                                     "e": p.previous().end}).scalar_one()))


def test_cli_writes_named_html_and_pdf(report: dict, week: str) -> None:
    assert Path(report["html"]).name == f"briefing-620702-{week}.html"
    assert Path(report["pdf"]).name == f"briefing-620702-{week}.pdf"
    assert report["pages"] == report["pages_planned"] == planned_pages() == len(PAGES)
    assert report["maps"] == 5 and report["charts"] == 4
    assert report["html_bytes"] > 1_000_000  # leaflet + plotly + data inline
    print(f"\nbriefing built in {report['wall_s']:.1f} s: {report['timings_s']}")


def test_html_is_self_contained(report: dict) -> None:
    text = Path(report["html"]).read_text(encoding="utf-8")
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//', text)
    assert "jquery" not in text.lower()  # folium's CDN links were all dropped
    assert not re.search(r'<script[^>]*\ssrc=', text)  # every script inline
    assert '<meta name="wangge-pages" content="12">' in text
    # every visible text is translated: no i18n key (``review.…``) left in the page
    assert _untranslated(text) == []


def test_html_opens_offline_with_sections_and_numbers(report: dict, demo_engine,
                                                      week: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    n_now, n_prev = _count(demo_engine, week)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        tried: list[str] = []

        def route(r) -> None:
            tried.append(r.request.url)
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                r.abort()

        page.route("**/*", route)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(Path(report["html"]).as_uri())
        page.wait_for_function("window.wanggeReportReady === true", timeout=60_000)
        page.wait_for_function(
            "[...document.querySelectorAll('.wg-report-map')].every("
            "m => m.querySelectorAll('path.leaflet-interactive').length > 10)", timeout=60_000)
        ids = page.eval_on_selector_all("section.page", "els => els.map(e => e.id)")
        assert ids == [f"page-{k}" for k in PAGES]
        assert page.locator(".wg-report-map").count() == 5
        # the response-standard map has the road isochrones (folium, layers.reach)
        reach = page.locator("#page-reach .wg-legend").inner_text()
        assert "10分钟车程可达" in reach and "20分钟车程可达" in reach and "5公里" in reach
        fills = page.eval_on_selector_all("#page-reach path.leaflet-interactive",
                                          "ps => [...new Set(ps.map(p => p.getAttribute("
                                          "'fill')))]")
        assert {"#0072B2", "#E69F00"} <= set(fills)
        # the patrol page has the week's map: key sections by result, tracks
        assert page.locator("#page-patrols .wg-report-map").count() == 1
        strokes = page.eval_on_selector_all("#page-patrols path.leaflet-interactive",
                                            "ps => [...new Set(ps.map(p => p.getAttribute("
                                            "'stroke')))]")
        assert {"#D55E00", "#56B4E9"} <= set(strokes)
        assert page.locator(".js-plotly-plot .main-svg").count() >= 4
        total = page.locator("#tbl-parts tr.total td").all_inner_texts()
        assert total[2:4] == [f"{n_now:,}", f"{n_prev:,}"]
        assert f"{n_now:,}" in page.locator("#page-summary .tile").first.inner_text()
        # every section fits its sheet (so the PDF cannot grow pages)
        over = page.evaluate("[...document.querySelectorAll('section.page')]"
                             ".filter(s => s.scrollHeight > s.clientHeight + 1).map(s => s.id)")
        assert over == []
        page.locator("#page-hotspots").screenshot(path=str(OUTPUT / "briefing-hotspots.png"))
        browser.close()
    assert [u for u in tried if not u.startswith("file://")] == []
    assert tried and errors == []


def _page_image(pdf: str, page: int, tmp: Path) -> np.ndarray:
    """Page ``page`` (1-based) of ``pdf`` as an RGB array (pdftoppm, 50 dpi, PPM)."""
    prefix = tmp / f"p{page}"
    subprocess.run(["pdftoppm", "-r", "50", "-f", str(page), "-l", str(page), pdf, str(prefix)],
                   check=True, capture_output=True, timeout=120)
    path = next(tmp.glob(f"p{page}*.ppm"))
    raw = path.read_bytes()
    parts = raw.split(maxsplit=4)  # P6, width, height, maxval, pixels
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][: w * h * 3], dtype=np.uint8).reshape(h, w, 3)


def test_pdf_pages_and_map_is_drawn(report: dict, tmp_path: Path) -> None:
    from pypdf import PdfReader

    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm missing: apt-get install poppler-utils")
    reader = PdfReader(report["pdf"])
    assert len(reader.pages) == planned_pages()
    box = reader.pages[0].mediabox
    assert float(box.width) > float(box.height)  # A4 landscape
    assert "472" in reader.pages[0].extract_text() or reader.pages[0].extract_text()
    img = _page_image(report["pdf"], PAGES.index("hotspots") + 1, tmp_path).astype(int)
    h, w, _ = img.shape
    # the map sits in the left 60 % of the sheet, under the title
    region = img[int(h * 0.12):int(h * 0.85), int(w * 0.05):int(w * 0.58)]
    white = (region > 235).all(axis=2).mean()
    assert white < 0.2, f"map area is {white:.0%} white: the map was not drawn"
    assert region.std() > 20
    # hot-spot reds of layers.hotspots (b2182b / d6604d / f4a582) are on the map
    reds = ((region[..., 0] > 150) & (region[..., 1] < 130) & (region[..., 2] < 120)).mean()
    assert reds > 0.001
    # a table page next to it has no map background
    table_page = _page_image(report["pdf"], PAGES.index("standard") + 1, tmp_path)
    assert (table_page > 235).all(axis=2).mean() > 0.6


def test_pdf_numbers_match_sql(report: dict, demo_engine, week: str) -> None:
    from pypdf import PdfReader

    n_now, n_prev = _count(demo_engine, week)
    text = PdfReader(report["pdf"]).pages[PAGES.index("parts")].extract_text()
    assert f"{n_now:,}" in text and f"{n_prev:,}" in text


def test_cli_errors_are_one_line(demo_db_url: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", demo_db_url)
    bad_week = runner.invoke(app, ["report", "weekly", "--week", "2026-47", "--out",
                                   str(tmp_path)])
    assert bad_week.exit_code == 2 and "YYYY-Www" in bad_week.output
    bad_area = runner.invoke(app, ["report", "weekly", "--area", "620702999", "--week",
                                   "2026-W40", "--out", str(tmp_path), "--no-pdf"])
    assert bad_area.exit_code == 2 and "620702" in bad_area.output
    assert list(tmp_path.iterdir()) == []


def test_township_fortnight_html_in_english(demo_db_url: str, demo_engine, week: str,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", demo_db_url)
    with demo_engine.connect() as conn:
        town = conn.execute(sa.text("select code from territory_unit where level = 'township' "
                                    "order by code limit 1")).scalar_one()
    res = runner.invoke(app, ["report", "weekly", "--area", town, "--week", week, "--weeks",
                              "2", "--lang", "en", "--no-pdf", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    info = _json(res.stdout)
    assert info["pdf"] is None and info["week"].endswith(week.split("-")[1])
    text = Path(info["html"]).read_text(encoding="utf-8")
    assert "Hot spots (Gi*)" in text and "Change on the previous period" in text
    assert "热点分布" not in text
    assert _untranslated(text) == []
