"""CLI commands for patrols: ``wangge patrols import|compliance``.

``patrols import FILE`` stores patrol tracks (GPX, GeoJSON lines with times), check-ins
(CSV / XLSX / GeoJSON points, GPX waypoints), key areas or key road sections (GeoJSON /
GPKG ...). It exits 0 when the file was read, even if some features were rejected (they
are listed and all written to ``<stem>.rejected.csv``); 2 with one line when the file
cannot be read, when a strict import (key areas / sections by default) has rejects, or
when the database connection is lost (nothing of the file is then stored).

``patrols compliance --week 2026-W47`` lists every key road section and key area with the
patrols that count for it that week and pass / fail, then villages' night patrols, then a
summary (``--json``: one JSON object; ``--out FILE.csv``: the table, and villages' night
patrols in ``<stem>.nights.csv``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from dashboard.cli import JsonOpt, app, domain_errors, engine, out, summary
from dashboard.cli_run import stage_progress
from gis import settings

patrols_app = typer.Typer(help="Patrols: import tracks, check-ins and key places; weekly "
                               "compliance of key areas and road sections.",
                          no_args_is_help=True)
app.add_typer(patrols_app, name="patrols")

_STAGES = {"read": "read file", "check": "check features", "store": "store"}


@patrols_app.command("import")
@domain_errors
def patrols_import(
    path: Annotated[Path, typer.Argument(help="GPX, GeoJSON, CSV / XLSX (check-ins), GPKG.")],
    kind: Annotated[str | None, typer.Option(
        help="tracks | checkins | areas | sections (default: from the file).")] = None,
    source: Annotated[str | None, typer.Option(
        help="Name of the device / system (default: the file name without extension).")] = None,
    crs: Annotated[str | None, typer.Option(
        help="Coordinates are in: wgs84 (default), gcj02, bd09 or EPSG:n.")] = None,
    adcode: Annotated[str | None, typer.Option(help="County adcode (default: in force).")] = None,
    strict: Annotated[bool | None, typer.Option(
        "--strict/--no-strict", help="Store nothing if any feature is rejected (default: "
                                     "strict for areas / sections only).")] = None,
    patrol_source: Annotated[str | None, typer.Option(
        help="Check-ins: source of the patrols their 'patrol' column refers to.")] = None,
    team: Annotated[str | None, typer.Option(help="Tracks: team, when a track has none.")] = None,
    officer: Annotated[str | None, typer.Option(
        help="Tracks: officer, when a track has none.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import patrol tracks, check-ins, key areas or key road sections (idempotent)."""
    from gis.patrols.importer import import_patrol_file

    with stage_progress(_STAGES) as step:
        rep = import_patrol_file(engine(), path, kind=kind, source=source, crs=crs,
                                 adcode=adcode, strict=strict, patrol_source=patrol_source,
                                 team=team, officer=officer, progress=step)
    rows = rep.to_dict()
    if as_json:
        rows["rejects"] = rep.rejects.head(settings.PATROL_REJECTS_SHOWN).to_dict("records")
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return
    summary("patrols import", rows, as_json=False)
    if rep.rejected:
        shown = rep.rejects.head(settings.PATROL_REJECTS_SHOWN)
        table = Table("feature", "id", "reason",
                      title=f"{rep.rejected} rejected feature(s)"
                            + (f", first {len(shown)}" if len(shown) < rep.rejected else "")
                            + f" — all in {rep.rejected_path}")
        for r in shown.itertuples():
            table.add_row(str(r.feature), str(r.source_id), str(r.reason))
        out.print(table)


def _records(df: Any) -> list[dict[str, Any]]:
    recs = df.to_dict("records")
    for r in recs:
        for k, v in r.items():
            if isinstance(v, float) and math.isnan(v):  # NaN → null
                r[k] = None
    return recs


@patrols_app.command("compliance")
@domain_errors
def patrols_compliance(
    week: Annotated[str | None, typer.Option(
        help="ISO week YYYY-Www, Beijing time (default: the last complete week).")] = None,
    adcode: Annotated[str | None, typer.Option(help="County adcode (default: in force).")] = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Write the table to this CSV (night patrols to <stem>.nights.csv).")] = None,
    buffer_m: Annotated[float | None, typer.Option(
        help="Corridor half-width around a track, metres (default "
             "settings.PATROL_SECTION_BUFFER_M).")] = None,
    min_share: Annotated[float | None, typer.Option(
        help="Share of a section the corridor must cover, 0–1 (default "
             "settings.PATROL_SECTION_MIN_SHARE).")] = None,
    required: Annotated[int | None, typer.Option(
        help="Patrols needed per week (default settings.PATROL_MIN_PER_WEEK).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Weekly compliance: patrols per key road section / key area, pass or fail."""
    from gis.patrols.compliance import compliance, village_night_patrols
    from gis.patrols.compliance import summary as csummary
    from gis.patrols.importer import county
    from gis.patrols.times import last_complete_week, parse_week

    week = week or last_complete_week()
    parse_week(week)
    with engine().connect() as conn:
        code = county(conn, adcode)
        table = compliance(conn, code, week, buffer_m=buffer_m, min_share=min_share,
                           required=required)
        nights = village_night_patrols(conn, code, week)
    info = {"adcode": code, **csummary(table, nights, week)}
    if out_path is not None:
        t = table.assign(patrols=[";".join(str(p) for p in ps) for ps in table["patrols"]])
        t.to_csv(out_path, index=False, encoding="utf-8-sig")
        npath = out_path.with_name(f"{out_path.stem}.nights.csv")
        nights.to_csv(npath, index=False, encoding="utf-8-sig")
        info.update(out=str(out_path), nights_out=str(npath))
    if as_json:
        print(json.dumps({"summary": info, "items": _records(table),
                          "villages": _records(nights)}, ensure_ascii=False, default=str))
        return
    tab = Table("kind", "village", "code", "name", "patrols", "night", "required",
                "best cover", "result", title=f"patrol compliance {week} (county {code})")
    for r in table.itertuples():
        best = "" if pd.isna(r.best_share) else \
            f"{math.floor(1000 * r.best_share + 1e-9) / 10:.1f} %"  # never rounds up to 80
        tab.add_row(r.kind, str(r.village_name or r.village_code), r.code, r.name,
                    str(r.count), str(r.night), str(r.required), best,
                    "[green]pass[/]" if r.passed else "[red]fail[/]")
    out.print(tab)
    active = nights[nights["patrols"] > 0]
    ntab = Table("village", "code", "patrols", "night patrols", "target",
                 title=f"villages' night patrols {week} ({len(active)} of {len(nights)} "
                       "villages patrolled)")
    for r in active.itertuples():
        ntab.add_row(str(r.village_name or ""), r.village_code, str(r.patrols),
                     str(r.night_patrols),
                     "—" if r.target is None or pd.isna(r.target) else str(r.target))
    out.print(ntab)
    summary("summary", info, as_json=False)
