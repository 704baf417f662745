"""Print the briefing's HTML to PDF with Debian's headless Chromium (no network, no tiles).

``chromium --headless --print-to-pdf`` loads the file, runs its scripts (Leaflet draws the
vector maps synchronously on load, plotly its charts) and prints with the document's own
``@page`` size (A4 landscape, no margins) and no header or footer. ``--virtual-time-budget``
lets the page's timers run before printing. The page count is read back with pypdf and must
equal the planned one.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from gis._errors import ReportError

CHROMIUM_CANDIDATES: tuple[str, ...] = ("/usr/bin/chromium", "/usr/bin/chromium-browser",
                                        "/usr/bin/google-chrome")
"""Where Chromium is looked for (then ``chromium`` on the PATH)."""

CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--hide-scrollbars", "--mute-audio", "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw")
"""Flags that work in a sandbox without network (see /work/shared/NOTES.md)."""

VIRTUAL_TIME_MS = 15_000
"""Virtual time the page may use (timers, animation frames) before it is printed, ms."""
TIMEOUT_S = 240.0
"""Wall-clock limit of one print, seconds."""


def chromium_path() -> str:
    """Path of the Chromium executable.

    Raises
    ------
    ReportError
        When no Chromium is installed (``apt-get install chromium``).
    """
    for c in CHROMIUM_CANDIDATES:
        if Path(c).exists():
            return c
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    msg = ("no Chromium to print the PDF with: install Debian's package "
           "(apt-get install chromium) or write --no-pdf to get the HTML only")
    raise ReportError(msg)


def print_pdf(html_path: str | Path, pdf_path: str | Path, *,
              chromium: str | None = None, timeout_s: float = TIMEOUT_S) -> Path:
    """Print ``html_path`` (a local file) to ``pdf_path`` with headless Chromium.

    Raises
    ------
    ReportError
        When Chromium is missing, fails, times out or writes no PDF (with its last output).
    """
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    exe = chromium or chromium_path()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_pdf = pdf_path.with_name(pdf_path.name + ".part")
    tmp_pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="wangge-chromium-") as profile:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               f"--virtual-time-budget={VIRTUAL_TIME_MS}",
               f"--print-to-pdf={tmp_pdf}", html_path.as_uri()]
        try:
            run = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            msg = f"Chromium did not finish printing {html_path.name} within {timeout_s:.0f} s"
            raise ReportError(msg) from None
    if run.returncode != 0 or not tmp_pdf.exists() or tmp_pdf.stat().st_size == 0:
        tail = (run.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-5:]
        msg = (f"Chromium failed to print {html_path.name} to PDF (exit {run.returncode}): "
               + " | ".join(tail))
        tmp_pdf.unlink(missing_ok=True)
        raise ReportError(msg)
    tmp_pdf.replace(pdf_path)
    return pdf_path


def pdf_pages(path: str | Path) -> int:
    """Number of pages of a PDF (pypdf)."""
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)
