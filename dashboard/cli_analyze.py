"""CLI commands for analyses: ``wangge analyze hotspots|reach`` and ``wangge bench analytics``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from dashboard.cli import JsonOpt, app, bench_app, domain_errors, engine, summary

analyze_app = typer.Typer(help="Analyses: hot spots, response reach.", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("hotspots")
@domain_errors
def hotspots(
    out_path: Annotated[Path, typer.Option("--out", help="Output .geojson, .gpkg, .fgb or .csv.")],
    method: Annotated[str, typer.Option(help="gi | kde | emerging.")] = "gi",
    weeks: Annotated[int, typer.Option(help="Weeks of incidents up to now.")] = 4,
    kind: Annotated[str | None, typer.Option(help="Only this incident kind.")] = None,
    level: Annotated[str, typer.Option(help="group or village grids.")] = "group",
    rate: Annotated[bool, typer.Option(help="Gi* on incidents per 1,000 residents.")] = False,
    permutations: Annotated[int, typer.Option(help="Gi* permutations (0 = analytic).")] = 0,
    fdr: Annotated[bool, typer.Option(help="False Discovery Rate correction.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Hot spots of recent incidents: Gi* classes, KDE contours or emerging patterns."""
    from gis.analytics.run import hotspots as run, write_output

    with engine().connect() as conn:
        res = run(conn, method, weeks, kind, 1 if level == "village" else 2, rate,
                  permutations, fdr)
    fmt = write_output(res, out_path)
    rows: dict[str, object] = {"out": str(out_path), "format": fmt, "rows": len(res)}
    for col in ("hotspot_class", "pattern"):
        if col in res:
            rows.update({str(k): int(v) for k, v in res[col].value_counts().items()
                         if k not in ("none", "no_pattern")})
    summary(f"hot spots ({method})", rows, as_json)


@analyze_app.command("reach")
@domain_errors
def reach(
    out_path: Annotated[Path, typer.Option("--out", help="Village table .csv (rings: .geojson/.gpkg beside it).")],
    as_json: JsonOpt = False,
) -> None:
    """5 km / 10 km rings around police posts and the villages outside them."""
    from gis.analytics.run import reach as run, write_output

    with engine().connect() as conn:
        rings, table = run(conn)
    write_output(table, out_path)
    rings_path = out_path.with_name(out_path.stem + "_rings.geojson")
    write_output(rings, rings_path)
    flags = [c for c in table.columns if c.startswith("inside_")]
    summary("response reach", {"villages": len(table), "out": str(out_path),
                               "rings": str(rings_path),
                               **{f: int(table[f].sum()) for f in flags},
                               "outside_all": int(table["outside_all"].sum())}, as_json)


@bench_app.command("analytics")
@domain_errors
def bench_analytics(weeks: Annotated[int, typer.Option(help="Weeks of incidents.")] = 12) -> None:
    """Time Gi* (999 permutations) and emerging hot spots on the group grids in force."""
    from gis.analytics.run import hotspots as run

    res: dict[str, object] = {"weeks": weeks}
    with engine().connect() as conn:
        for name, kw in (("gi_analytic_s", {"method": "gi"}),
                         ("gi_999_permutations_s", {"method": "gi", "permutations": 999}),
                         ("emerging_s", {"method": "emerging"})):
            t0 = time.perf_counter()
            out = run(conn, weeks=weeks, **kw)
            res[name] = round(time.perf_counter() - t0, 3)
        res["grids"] = len(out)
    print(json.dumps(res))
from dashboard import cli_forces  # noqa: E402,F401,I001
