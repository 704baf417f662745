"""CLI commands for incidents: ``wangge incidents import`` and ``wangge bench ingest``.

``incidents import`` exits 0 when the file was read, even if some rows were rejected: the
good rows are loaded, the rejected ones are listed (the first
``settings.INTAKE_REJECTS_SHOWN``) and all of them written to ``<stem>.rejected.csv`` with
row number and reason; fix them there and import that file. It exits 2 with one clear line
when the file cannot be read at all (missing, unknown type, not UTF-8/GBK, broken XLSX or
JSON, a required column missing), when no grid version is in force, or when the database
connection is lost (nothing of the file is then saved: run it again).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dashboard.cli import JsonOpt, app, bench_app, domain_errors, engine, out, summary
from dashboard.cli_run import stage_progress
from gis import settings

incidents_app = typer.Typer(help="Incidents: import files of reports.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")

_STAGES = {"read": "read file", "validate": "check rows", "copy": "copy to database",
           "dedupe": "merge repeated reports", "insert": "insert incidents"}


@incidents_app.command("import")
@domain_errors
def incidents_import(
    path: Annotated[Path, typer.Argument(help="CSV (UTF-8/GBK), XLSX or GeoJSON of incidents.")],
    source: Annotated[str | None, typer.Option(
        help="Name of the sending system (default: the file name without extension).")] = None,
    crs: Annotated[str | None, typer.Option(
        help="Coordinates are in: wgs84 (default), gcj02, bd09 or EPSG:n.")] = None,
    fix_swapped: Annotated[bool, typer.Option(
        "--fix-swapped", help="Swap back lat/lon that look swapped instead of rejecting.")] = False,
    adcode: Annotated[str | None, typer.Option(help="County adcode (default: in force).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import incident reports: check each row, merge repeated reports, idempotent re-runs."""
    from gis.incidents.intake import import_file

    with stage_progress(_STAGES) as step:
        rep = import_file(engine(), path, source=source, crs=crs,
                          fix_swapped=fix_swapped or None, adcode=adcode, progress=step)
    rows = {"file": str(path), "source": rep.source, "crs": rep.crs, "rows": rep.rows,
            "inserted": rep.inserted, "duplicates": rep.duplicates,
            "merged_reports": rep.merged, "rejected": rep.rejected,
            "rejected_file": rep.rejected_path, "outside": rep.outside,
            "no_location": rep.no_location, "fixed_swapped": rep.fixed_swapped,
            "placed_by_address": rep.placed_by_address, "address_review": rep.address_review,
            "address_review_new": rep.address_review_new,
            "before_first_version": rep.before_first_version, "grid_version": rep.version_id}
    if as_json:
        rows["rejects"] = rep.rejects[["row", "code", "reason"]].head(
            settings.INTAKE_REJECTS_SHOWN).to_dict("records")
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return
    summary("incidents import", rows, as_json=False)
    if rep.rejected:
        shown = rep.rejects.head(settings.INTAKE_REJECTS_SHOWN)
        table = Table("row", "code", "reason",
                      title=f"{rep.rejected} rejected row(s)"
                            + (f", first {len(shown)}" if len(shown) < rep.rejected else "")
                            + f" — all in {rep.rejected_path}")
        for r in shown.itertuples():
            table.add_row(str(r.row), str(r.code), str(r.reason))
        out.print(table)


@bench_app.command("ingest")
@domain_errors
def bench_ingest(
    rows: Annotated[int, typer.Option(help="Generated incidents to load.")] = 1_000_000,
    orm_rows: Annotated[int, typer.Option(
        help="Rows timed through the ORM (its rate is extrapolated to --rows).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed of the rows.")] = 1,
) -> None:
    """Incidents per second: the COPY ingest path vs row-by-row ORM inserts.

    Runs in a throw-away database (created, then dropped) on the same server, so your data is
    not touched. Prints one JSON line.
    """
    from gis.incidents.bench import run_ingest_bench
    from gis.store import database_url
    from gis.store.engine import with_database

    url = with_database(database_url(), f"wangge_bench_ingest_{os.getpid()}")
    with stage_progress() as step:
        res = run_ingest_bench(url, rows, orm_rows, seed, progress=step)
    print(json.dumps(res, ensure_ascii=False))
