"""The demo's flow with the login on, in Debian's Chromium: ``wangge demo`` makes one login
per role (:func:`dashboard.cli_security.demo_users`), ``wangge serve`` asks for a login, and
the demo operator — a village operator — sees ``/wall`` with the data of its village only.

On a fresh copy of the demo county (the users are written into it). The expected figures are
read as the table owner with SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gis import settings
from gis.store import connect
from tests.conftest import _fresh


@pytest.fixture(scope="module")
def demo_copy(demo) -> Iterator[str]:
    """A fresh database holding the demo county (users are added to it)."""
    from data.loader import load_demo

    for url in _fresh("auth_browser"):
        load_demo(connect(url), demo)
        yield url


@pytest.mark.browser
def test_demo_operator_logs_in_and_sees_its_village_on_the_wall(
        demo_copy: str, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.cli_security import demo_users
    from tests.dashboard.test_browser import (
        CHROMIUM,
        CHROMIUM_ARGS,
        OUTPUT,
        VIEWPORT,
        run_server,
    )

    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    monkeypatch.setattr(settings, "DATABASE_URL", demo_copy)
    op = next(u for u in demo_users() if u["role"] == "operator")
    with connect(demo_copy).connect() as conn:
        village = conn.execute(sa.text(
            "select g.name from grid g join grid_version v on v.id = g.version_id "
            "where v.status <> 'draft' and g.level = 1 and g.code = :c "
            "order by v.id desc limit 1"), {"c": op["unit"]}).scalar_one()
        n_all, n_open = conn.execute(sa.text(
            "select count(*), count(*) filter (where status <> 'closed') from incident "
            "where village_code = :c"), {"c": op["unit"]}).one()
        n_county = conn.execute(sa.text("select count(*) from incident")).scalar_one()
    assert 0 < n_all < n_county

    log = tmp_path_factory.mktemp("auth-wall-server") / "server.log"
    env = {"WANGGE_AUTH": "1", "WANGGE_SECRET_KEY": "browser-test-key"}
    server = run_server(demo_copy, log, "/login", env)
    base = next(server)
    errors: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = b.new_page(viewport=VIEWPORT, locale="zh-CN")
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/wall")
            assert "/login?next=" in page.url and page.url.endswith("wall")
            page.fill("#login-user", op["name"])
            page.fill("#login-password", op["password"])
            page.click("#login-submit")
            page.wait_for_selector("#wall-kpi-open", timeout=90_000)
            page.wait_for_selector("#wall-feed-new [data-incident]", timeout=60_000)
            assert page.url.rstrip("/").endswith("/wall")
            page.wait_for_timeout(1500)  # let the map draw before the picture
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / "auth_wall_demo_operator.png"))
            open_tile = int(page.locator("#wall-kpi-open").inner_text().replace(",", ""))
            rows = page.locator("#wall-feed-new [data-incident]")
            villages = set(page.locator("#wall-feed-new .wg-feed-village").all_inner_texts())
            n_rows = rows.count()
            b.close()
    finally:
        server.close()
    assert errors == []
    assert open_tile == n_open
    assert n_rows == min(settings.WALL_FEED_NEWEST, n_all)
    assert villages == {village}
