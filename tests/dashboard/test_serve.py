"""``wangge serve --workers 2`` runs gunicorn, and responses are compressed."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

import pytest

from tests.dashboard.test_browser import _get, run_server
from tests.dashboard.test_tiles import make_mbtiles, tile_bytes


@pytest.fixture(scope="module")
def gunicorn_server(demo_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("gunicorn")
    tiles = make_mbtiles(folder / "basemap.mbtiles", range(14),
                         bbox=(99.5, 38.0, 101.5, 40.0))
    yield from run_server(demo_db_url, folder / "server.log", "/",
                          args=["--workers", "2", "--threads", "2", "--tile-file", str(tiles)])


def test_gunicorn_serves_the_pages(gunicorn_server: str) -> None:
    status, headers, body = _get(gunicorn_server + "/wall")

    assert status == 200
    assert headers.get("Server", "").startswith("gunicorn")
    assert b"_dash-config" in body


def test_script_bundles_are_compressed(gunicorn_server: str) -> None:
    _, _, page = _get(gunicorn_server + "/")
    script = re.search(rb'src="(/_dash-component-suites/dash/deps/react-dom[^"]+)"', page)
    assert script is not None

    status, headers, body = _get(gunicorn_server + script.group(1).decode(),
                                 {"Accept-Encoding": "gzip"})
    _, plain_headers, plain = _get(gunicorn_server + script.group(1).decode())

    assert status == 200
    assert headers.get("Content-Encoding") == "gzip"
    assert "Content-Encoding" not in plain_headers
    assert gzip.decompress(body) == plain
    assert len(body) < len(plain) / 2


def test_plotly_bundle_is_brotli_compressed_once_at_maximum(gunicorn_server: str) -> None:
    import time

    import brotli

    path = "/_dash-component-suites/plotly/package_data/plotly.min.js"
    _, _, plain = _get(gunicorn_server + path)
    sizes = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # fast brotli first, quality 11 once it is ready
        status, headers, body = _get(gunicorn_server + path, {"Accept-Encoding": "br, gzip"})
        assert status == 200 and headers.get("Content-Encoding") == "br"
        assert brotli.decompress(body) == plain
        sizes.append(len(body))
        if len(body) < 0.245 * len(plain):
            break
        time.sleep(1)

    assert len(plain) > 3_000_000
    assert sizes[-1] < 0.245 * len(plain), sizes
    assert sizes[0] < 0.3 * len(plain)


def test_the_maps_use_the_local_tile_file(gunicorn_server: str) -> None:
    from playwright.sync_api import sync_playwright

    status, headers, body = _get(gunicorn_server + "/tiles/3/6/3")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page()
        with page.expect_response(lambda r: "/tiles/" in r.url, timeout=60_000) as first:
            page.goto(gunicorn_server + "/")
        tile_status = first.value.status
        browser.close()

    assert (status, headers["Content-Type"], body) == (200, "image/png", tile_bytes(3, 6, 3))
    assert tile_status == 200
