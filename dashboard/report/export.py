"""Write the weekly briefing: ``briefing-<area>-<week>.html`` and ``.pdf`` in a folder.

:func:`write_briefing` is what ``wangge report weekly`` and the review page's export button
both call: build the sections (:func:`dashboard.report.briefing.build_briefing`), render the
self-contained HTML (:func:`dashboard.report.document.render`), print it with headless
Chromium (:func:`dashboard.report.pdf.print_pdf`) and check that the PDF has the planned
number of pages.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from dashboard.report.briefing import STEPS, Briefing, build_briefing
from dashboard.report.document import render
from dashboard.report.pdf import pdf_pages, print_pdf
from dashboard.review_data import Base
from dashboard.review_period import Period
from gis._errors import ReportError

Progress = Callable[[str, int, int], None]

EXPORT_STEPS: tuple[str, ...] = (*STEPS, "render", "pdf")
"""Every step of :func:`write_briefing` (progress bars count them)."""


@dataclass
class BriefingFiles:
    """What :func:`write_briefing` wrote, and how long it took."""

    html: Path
    pdf: Path | None
    pages_planned: int
    pages: int | None
    """Pages of the PDF as read back (None without PDF)."""
    maps: int
    charts: int
    html_bytes: int
    pdf_bytes: int | None
    area: str
    area_name: str
    period: str
    timings_s: dict[str, float] = field(default_factory=dict)
    briefing: Briefing | None = None

    def summary(self) -> dict[str, object]:
        """Plain figures for the CLI (``--json``)."""
        return {"area": self.area, "area_name": self.area_name, "week": self.period,
                "html": str(self.html), "pdf": str(self.pdf) if self.pdf else None,
                "pages_planned": self.pages_planned, "pages": self.pages, "maps": self.maps,
                "charts": self.charts, "html_bytes": self.html_bytes,
                "pdf_bytes": self.pdf_bytes,
                "seconds": round(sum(self.timings_s.values()), 2),
                "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()}}


def file_stem(area_code: str, period: Period) -> str:
    """``briefing-<area>-<week>`` (the week label, e.g. ``2026-W47``)."""
    return f"briefing-{area_code}-{period.slug}"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
    os.replace(tmp, path)


def write_briefing(engine: Engine, area_code: str | None, period: Period, out_dir: str | Path,
                   *, lang: str = "zh", pdf: bool = True, base: Base | None = None,
                   progress: Progress | None = None) -> BriefingFiles:
    """Build the briefing of ``area_code`` for ``period`` and write it into ``out_dir``.

    Parameters
    ----------
    engine : Engine
        The store.
    area_code : str or None
        County adcode, township or village code (None: the county in force).
    period : Period
        The week(s) reviewed.
    out_dir : path
        Folder of the files (created when missing).
    lang : str
        ``zh`` (default) or ``en``.
    pdf : bool
        Also print the PDF (needs Chromium).
    base : Base, optional
        Grids already read (the dashboard keeps them).
    progress : callable, optional
        ``progress(step, done, total)`` after each of :data:`EXPORT_STEPS`.

    Raises
    ------
    ReportError
        Unknown area, no grids, Chromium missing or failing, or a PDF whose page count is
        not the planned one (a section overflowed its page).
    """
    total = len(EXPORT_STEPS) - (0 if pdf else 1)
    tick = progress or (lambda *_: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    b = build_briefing(engine, area_code, period, base=base, progress=tick)
    timings = dict(b.timings_s)
    timings["build"] = time.perf_counter() - t0 - sum(b.timings_s.values())
    t1 = time.perf_counter()
    doc = render(b, lang)
    stem = file_stem(b.area.code, period)
    html_path = out / f"{stem}.html"
    _write_atomic(html_path, doc.html)
    timings["render"] = time.perf_counter() - t1
    tick("render", len(STEPS) + 1, total)
    pdf_path, pages, pdf_bytes = None, None, None
    if pdf:
        t2 = time.perf_counter()
        pdf_path = print_pdf(html_path, out / f"{stem}.pdf")
        pages = pdf_pages(pdf_path)
        pdf_bytes = pdf_path.stat().st_size
        timings["pdf"] = time.perf_counter() - t2
        tick("pdf", total, total)
        if pages != doc.pages:
            msg = (f"{pdf_path.name} has {pages} pages, {doc.pages} were planned: a section "
                   "overflows its page (file a bug with the area and week)")
            raise ReportError(msg)
    return BriefingFiles(html=html_path, pdf=pdf_path, pages_planned=doc.pages, pages=pages,
                         maps=doc.maps, charts=doc.charts,
                         html_bytes=html_path.stat().st_size, pdf_bytes=pdf_bytes,
                         area=b.area.code, area_name=b.area.title, period=period.label,
                         timings_s=timings, briefing=b)
