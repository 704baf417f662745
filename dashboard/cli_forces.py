"""CLI commands for forces: ``wangge analyze coverage|cameras`` and
``wangge forces import-assignments``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from dashboard.cli import JsonOpt, app, domain_errors, engine, out, summary
from dashboard.cli_analyze import analyze_app

forces_app = typer.Typer(help="Forces: police officers, militia companies, cameras.",
                         no_args_is_help=True)
app.add_typer(forces_app, name="forces")

_TOWNSHIP_HEADERS = {
    "township": "township", "villages": "villages", "with_officer": "officer",
    "with_militia": "company", "overloaded_officers": "overload", "post_far_5km": "> 5 km",
    "post_far_10km": "> 10 km", "share_ok": "ok"}
"""Columns of the printed township table (short headers: it must fit 80 characters)."""


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}_{suffix}.csv")


@analyze_app.command("coverage")
@domain_errors
def coverage(
    out_path: Annotated[Path, typer.Option("--out", help="Village table: .csv, or .geojson / .gpkg / .fgb with the polygons; the township summary goes to <stem>_townships.csv.")],
    max_villages: Annotated[int | None, typer.Option(help="Villages per officer before overloaded (default: settings.OFFICER_MAX_VILLAGES).")] = None,
    adcode: Annotated[str | None, typer.Option(help="County (default: the one in force).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """一村一警一连: each village's officer, post and militia company, gaps per township."""
    from gis.analytics.run import write_output
    from gis.coverage import coverage_for_county

    with engine().connect() as conn:
        cov = coverage_for_county(conn, adcode, max_villages)
    v = cov.villages
    fmt = write_output(v, out_path)
    towns_path = _beside(out_path, "townships")
    write_output(cov.townships, towns_path)
    far = [c for c in v.columns if c.startswith("post_far_")]
    rows: dict[str, object] = {
        "county": cov.adcode, "villages": len(v), "out": str(out_path), "format": fmt,
        "townships_out": str(towns_path),
        "no_officer": int(v["no_officer"].sum()), "no_militia": int(v["no_militia"].sum()),
        "officer_overloaded": int(v["officer_overloaded"].sum()),
        "overloaded_officers": int(cov.officers["overloaded"].sum()),
        "post_missing": int(v["post_missing"].sum()),
        **{f: int(v[f].sum()) for f in far},
        "gap": int((v["status"] == "gap").sum()), "ok": int((v["status"] == "ok").sum())}
    if as_json:
        rows["townships"] = json.loads(cov.townships.to_json(orient="records",
                                                             force_ascii=False))
        summary("一村一警一连", rows, True)
        return
    towns = cov.townships.copy()
    towns["township"] = towns["township"].fillna(towns["township_code"]) \
        if "township" in towns else towns["township_code"]
    table = Table(title="一村一警一连 per township")
    cols = [c for c in _TOWNSHIP_HEADERS if c in towns.columns]
    for c in cols:
        table.add_column(_TOWNSHIP_HEADERS[c], justify="left" if c == "township" else "right",
                         overflow="fold")
    for rec in towns.itertuples(index=False):
        table.add_row(*(_cell(getattr(rec, c), c) for c in cols))
    out.print(table)
    summary("一村一警一连", rows, False)


def _cell(v: object, col: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if col == "share_ok":
        return f"{float(v):.0%}"
    return str(v)


@analyze_app.command("cameras")
@domain_errors
def cameras(
    out_path: Annotated[Path, typer.Option("--out", help="Grid table: .csv, or .geojson / .gpkg / .fgb with the polygons; villages under the target go to <stem>_below_target.csv.")],
    level: Annotated[str, typer.Option(help="village or group grids.")] = "village",
    target: Annotated[float | None, typer.Option(help="Target share of the populated area in view, 0–1 (default: settings.CAMERA_TARGET_SHARE).")] = None,
    adcode: Annotated[str | None, typer.Option(help="County (default: the one in force).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Cameras (雪亮工程): share of each grid's populated area in camera view."""
    from gis.analytics.run import write_output
    from gis.cameras import cameras_for_county

    with engine().connect() as conn:
        res = cameras_for_county(conn, adcode, level, target=target)
    g = res.grids
    fmt = write_output(g, out_path)
    rows: dict[str, object] = {
        "county": res.adcode, "level": level, "grids": len(g), "cameras": len(res.cameras),
        "out": str(out_path), "format": fmt,
        "grids_with_cameras": int((g["n_cameras"] > 0).sum()),
        "populated_share_county": round(float(g["populated_covered_m2"].sum()
                                              / max(g["populated_m2"].sum(), 1e-9)), 4),
        "populated_share_median": round(float(np.nanmedian(g["populated_share"]))
                                        if len(g) else 0.0, 4)}
    if level == "village":
        below_path = _beside(out_path, "below_target")
        write_output(res.below_target, below_path)
        rows["below_target"] = len(res.below_target)
        rows["below_target_out"] = str(below_path)
    summary("cameras", rows, as_json)


@forces_app.command("import-assignments")
@domain_errors
def import_assignments(
    path: Annotated[Path, typer.Argument(help="CSV: village_code, officer_code, officer_name, post_code, militia_code, militia_name, commander, strength (or 村编码, 民警编号, …).")],
    adcode: Annotated[str | None, typer.Option(help="County adcode (default: from the village codes).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import 一村一警一连 assignments (all or nothing; replaces those of the file's villages)."""
    from gis.coverage import import_assignments as run

    with engine().connect() as conn:
        rep = run(conn, path, adcode)
    summary("forces import-assignments", {
        "file": str(path), "rows": rep.rows, "villages": rep.villages,
        "assignments": rep.assignments, "officers": rep.officers,
        "officers_new": rep.officers_new, "militia": rep.militia,
        "replaced_assignments": rep.replaced_assignments,
        "replaced_militia": rep.replaced_militia}, as_json)
