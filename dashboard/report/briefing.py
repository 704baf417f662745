"""The weekly briefing's content: every section of the review for one area and period.

:func:`build_briefing` reads the store once per section and returns a :class:`Briefing`
(data only). The ``/review`` page shows it, :mod:`dashboard.report.document` turns it into
the HTML (and so the PDF) of ``wangge report weekly``: both show the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Engine

from dashboard.review_data import (
    Area,
    Base,
    IncidentChange,
    incident_change,
    load_base,
    parts,
    resolve_area,
)
from dashboard.review_hooks import (
    KpiSection,
    PatrolSection,
    incident_ranking,
    kpi_section,
    patrol_section,
)
from dashboard.review_hotspots import Hotspots, hotspots
from dashboard.review_period import Period, tz
from dashboard.review_standards import (
    CoverageGaps,
    Standards,
    coverage_gaps,
    response_standard,
)

Progress = Callable[[str, int, int], None]
"""Progress callback: (step, done, total)."""

STEPS: tuple[str, ...] = ("incidents", "hotspots", "standards", "coverage", "kpi", "patrols")
"""Steps of :func:`build_briefing`, in order."""


def _quiet(step: str, done: int, total: int) -> None:
    return None


@dataclass
class Briefing:
    """Everything the review shows for ``area`` in ``period``."""

    base: Base
    area: Area
    period: Period
    generated_at: datetime
    change: IncidentChange
    hot: Hotspots
    standards: Standards
    coverage: CoverageGaps
    kpi: KpiSection
    patrols: PatrolSection
    ranking: pd.DataFrame
    """Villages with most incidents (:func:`dashboard.review_hooks.incident_ranking`)."""
    synthetic: bool = False
    """The data are the synthetic demo county."""
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def part_names(self) -> dict[str, str]:
        """Code → name of the area's parts."""
        return dict(zip(self.change.by_part["code"], self.change.by_part["name"], strict=True))


def is_synthetic(engine_or_conn: object, base: Base) -> bool:
    """Whether the grid version in force is the demo's (``created_by = 'demo'``)."""
    import sqlalchemy as sa

    sql = sa.text("select created_by from grid_version where id = :v")
    try:
        if isinstance(engine_or_conn, Engine):
            with engine_or_conn.connect() as conn:
                who = conn.execute(sql, {"v": base.vid}).scalar()
        else:
            who = engine_or_conn.execute(sql, {"v": base.vid}).scalar()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a column that moved: not worth failing the briefing
        return False
    return who == "demo"


def build_briefing(engine: Engine, area_code: str | None, period: Period, *,
                   base: Base | None = None, progress: Progress | None = None,
                   now: datetime | None = None) -> Briefing:
    """All sections of the review of ``area_code`` (county / township / village code; None:
    the county in force) for ``period``.

    Parameters
    ----------
    engine : Engine
        The store.
    area_code : str or None
        Area of the review.
    period : Period
        One or more ISO weeks.
    base : Base, optional
        A :func:`dashboard.review_data.load_base` already read (the page caches it).
    progress : callable, optional
        Called as ``progress(step, done, total)`` after each of :data:`STEPS`.
    now : datetime, optional
        Time stamped on the briefing (default: now, Asia/Shanghai).
    """
    progress = progress or _quiet
    timings: dict[str, float] = {}
    with engine.connect() as conn:
        t0 = time.perf_counter()
        if base is None:
            adcode = area_code[:6] if area_code else None
            base = load_base(conn, adcode)
        area = resolve_area(base, area_code)
        p = parts(base, area)
        names = dict(zip(p["code"], p["name"], strict=True))
        order = list(p["code"])
        timings["base"] = time.perf_counter() - t0
        results: dict[str, object] = {}
        jobs: dict[str, Callable[[], object]] = {
            "incidents": lambda: incident_change(conn, base, area, period),
            "hotspots": lambda: hotspots(conn, base, area, period),
            "standards": lambda: response_standard(conn, base, area, names, order),
            "coverage": lambda: coverage_gaps(conn, base, area, names, order),
            "kpi": lambda: kpi_section(conn, base, area, period),
            "patrols": lambda: patrol_section(conn, base, area, period),
        }
        for i, step in enumerate(STEPS, start=1):
            t1 = time.perf_counter()
            results[step] = jobs[step]()
            timings[step] = time.perf_counter() - t1
            progress(step, i, len(STEPS))
        ranking = incident_ranking(conn, base, area, period)
        synthetic = is_synthetic(conn, base)
    return Briefing(base=base, area=area, period=period,
                    generated_at=(now or datetime.now(tz())).astimezone(tz()),
                    change=results["incidents"], hot=results["hotspots"],  # type: ignore[arg-type]
                    standards=results["standards"], coverage=results["coverage"],  # type: ignore[arg-type]
                    kpi=results["kpi"], patrols=results["patrols"],  # type: ignore[arg-type]
                    ranking=ranking, synthetic=synthetic, timings_s=timings)
