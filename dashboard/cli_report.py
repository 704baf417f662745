"""CLI command ``wangge report weekly``: the leaders' briefing as HTML and PDF.

``wangge report weekly --area CODE --week YYYY-Www --out DIR`` writes
``DIR/briefing-<area>-<week>.html`` (self-contained: maps, charts and scripts inline, opens
offline) and the PDF printed from it with headless Chromium (one page per section, as many
pages as planned). ``--weeks 2`` makes the bi-weekly analysis (双周研判) of the two weeks
ending with ``--week``. A progress bar runs on stderr; the summary (or ``--json``) on stdout.
Exit 2 with one line for an unknown area or week, no grids, or Chromium missing / failing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dashboard.cli import JsonOpt, app, domain_errors, engine, summary
from dashboard.cli_run import _progress

report_app = typer.Typer(help="Briefings for the leaders' meetings (HTML + PDF).",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")

_STEP_TEXT = {"incidents": "incidents and week-over-week change", "hotspots": "hot spots (Gi*, "
              "emerging)", "standards": "response standard", "coverage": "一村一警一连",
              "kpi": "KPIs and rankings", "patrols": "patrol compliance",
              "render": "HTML (maps, charts)", "pdf": "PDF (headless Chromium)"}


@report_app.command("weekly")
@domain_errors
def weekly(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder of the HTML and PDF files.")],
    area: Annotated[str | None, typer.Option(
        help="County adcode, township (9 digits) or village (12 digits); default: the county "
             "in force.")] = None,
    week: Annotated[str | None, typer.Option(
        help="ISO week YYYY-Www (the last week of the period); default: the last whole "
             "week with incidents.")] = None,
    weeks: Annotated[int, typer.Option(help="Weeks reviewed: 1 (周例会) or 2 (双周研判).")] = 1,
    lang: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also print the PDF.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Weekly briefing of an area: hot spots, change, response standard, 一村一警一连, KPIs,
    patrols; HTML + PDF."""
    from dashboard.report.export import EXPORT_STEPS, write_briefing
    from dashboard.review_period import latest_full_week, parse_period
    from layers.i18n import normalise_lang

    eng = engine()
    if week:
        period = parse_period(week, weeks)
    else:
        with eng.connect() as conn:
            period = latest_full_week(conn, area[:6] if area else None, weeks=weeks)
    total = len(EXPORT_STEPS) - (0 if pdf else 1)
    with _progress() as bar:
        task = bar.add_task(f"briefing {area or ''} {period.label}".replace("  ", " "),
                            total=total)

        def step(name: str, done: int, n: int) -> None:
            bar.update(task, completed=done, description=_STEP_TEXT.get(name, name))

        files = write_briefing(eng, area, period, out_dir, lang=normalise_lang(lang), pdf=pdf,
                               progress=step)
        bar.update(task, completed=total, description=f"briefing {files.area} {period.label}")
    rows = files.summary()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return
    rows.pop("timings_s")
    summary("weekly briefing", rows, as_json=False)
