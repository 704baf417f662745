"""Fixtures shared by the dashboard tests: Debian's Chromium through playwright."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.util import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    """Debian's Chromium driven by playwright (Debian package, no browser download)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
