"""CLI commands for grid balance and repair: ``wangge grids report`` and ``wangge grids fix``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from dashboard.cli import JsonOpt, domain_errors, engine, err, grids_app, out, summary

_CSV_DECIMALS = {"area_km2": 4, "incidents_per_week": 3, "residents_per_worker": 1,
                 "compactness": 4, "dist_to_post_m": 1, "households_mean": 1,
                 "households_cv": 4, "population_mean": 1, "population_cv": 4}
_FLAGGED_JSON = ["code", "name", "parent_code", "households", "population", "area_km2",
                 "residents_per_worker", "too_large", "too_small", "reason"]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records", force_ascii=False))


def _num(v: Any, fmt: str) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) \
        else format(v, fmt)


# --- report ------------------------------------------------------------------------------

def _top_rows(df: pd.DataFrame, top: int) -> pd.DataFrame:
    """Up to ``top`` rows: the largest too_large and the smallest too_small grids (half each
    when both kinds are there), then unflagged ones."""
    hh = df["households"].astype("Float64").fillna(-1).astype(float)
    large = df.index[df["too_large"]][np.argsort(-hh[df["too_large"]].to_numpy(),
                                                 kind="stable")]
    only_small = df["too_small"] & ~df["too_large"]
    small = df.index[only_small][np.argsort(hh[only_small].to_numpy(), kind="stable")]
    top = max(top, 0)
    n_large = min(len(large), max(top - len(small), (top + 1) // 2))
    picked = [*large[:n_large], *small[:top - n_large]]
    rest = df.index[~(df["too_large"] | df["too_small"])]
    picked += list(rest[:top - len(picked)])
    return df.loc[picked]

@grids_app.command("report")
@domain_errors
def grids_report(
    version: Annotated[int | None, typer.Option(help="Version id (default: in force).")] = None,
    level: Annotated[str, typer.Option(help="group (level 2) or village (level 1).")] = "group",
    weeks: Annotated[int | None, typer.Option(
        help="Incidents per week over the last N weeks (default settings.BALANCE_WEEKS).")] = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Write the full table to this CSV (UTF-8 with BOM, opens in Excel).")] = None,
    top: Annotated[int, typer.Option(help="Rows printed (flagged grids first).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Balance metrics per grid (households, area, incidents/week, residents per worker,
    compactness, distance to the nearest police post) and too_large / too_small flags."""
    from gis.grids.metrics import report_for_version
    from gis.grids.store import LEVELS

    if level not in LEVELS:
        err.print(f"--level must be one of {sorted(LEVELS)}, got {level!r}")
        raise typer.Exit(2)
    with engine().connect() as conn:
        df, _ = report_for_version(conn, version, weeks, level=LEVELS[level])
    a = df.attrs
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        df.round({k: v for k, v in _CSV_DECIMALS.items() if k in df.columns}).to_csv(
            out_path, index=False, encoding="utf-8-sig")
    counts = {"version": a["version_id"], "adcode": a["adcode"], "level": level,
              "weeks": a["weeks"], "since": a["since"].isoformat(),
              "until": a["until"].isoformat(), "grids": len(df),
              "too_large": int(df["too_large"].sum()), "too_small": int(df["too_small"].sum()),
              "out": str(out_path) if out_path else None}
    flagged = df[df["too_large"] | df["too_small"]]
    if as_json:
        print(json.dumps({**counts, "flagged": _records(flagged[_FLAGGED_JSON])},
                         ensure_ascii=False, default=str))
        return
    shown = _top_rows(df, top)
    cols = ["code", "name", "households", "population", "km²", "inc/wk", "res/worker",
            "compact", "post m"]
    if level == "village":
        cols += ["groups", "hh cv"]
    table = Table(*cols, "flag", "reason",
                  title=f"grid balance — version {a['version_id']}, {level} grids, incidents "
                        f"{a['since']:%Y-%m-%d} – {a['until']:%Y-%m-%d} ({a['weeks']} weeks); "
                        f"{len(shown)} of {len(df)} rows")
    for r in shown.itertuples(index=False):
        cells = [str(r.code), str(r.name or ""), _num(r.households, ","), _num(r.population, ","),
                 _num(r.area_km2, ".3f"), _num(r.incidents_per_week, ".2f"),
                 _num(r.residents_per_worker, ",.0f"), _num(r.compactness, ".3f"),
                 _num(r.dist_to_post_m, ",.0f")]
        if level == "village":
            cells += [str(r.groups), _num(r.households_cv, ".2f")]
        flag = " ".join(f for f, on in (("[red]too_large[/]", r.too_large),
                                        ("[yellow]too_small[/]", r.too_small)) if on)
        table.add_row(*cells, flag, str(r.reason))
    out.print(table)
    summary("flags", {k: v for k, v in counts.items() if k not in ("since", "until")}, False)


# --- fix ---------------------------------------------------------------------------------

@grids_app.command("fix")
@domain_errors
def grids_fix(
    snap: Annotated[float, typer.Option(
        "--snap", help="Tolerance, metres: close gaps / remove overlaps narrower than this; "
        "no boundary moves further.")],
    version: Annotated[int | None, typer.Option(
        help="Draft version id (default: the newest draft).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only, write nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Snap-fix a draft: close small gaps and overlaps of both levels, report every change.

    Exit 0 when the result validates clean, 1 when problems remain (wider than the
    tolerance: left for a planner), 2 on errors (e.g. the version is published).
    """
    from gis.grids.fix import fix_draft

    if not snap > 0:
        err.print(f"--snap must be a distance in metres > 0, got {snap}")
        raise typer.Exit(2)
    with engine().begin() as conn:
        rep = fix_draft(conn, version, snap, dry_run)
    res, changes, errors_after = rep.counts(), rep.changes, rep.problems_after
    vid = rep.version
    if as_json:
        print(json.dumps({**res, "changes": changes,
                          "problems_after": [p.to_dict() for p in errors_after]},
                         ensure_ascii=False, default=str))
    else:
        table = Table("level", "code", "action", "max move m", "area before m²",
                      "area after m²", "detail",
                      title=f"grids fix --snap {snap:g} — version {vid}"
                            + (" (dry run, nothing written)" if dry_run else ""))
        if not changes:
            table.add_row("", "", "none", "", "", "", "no grid needed a change within the tolerance")
        for c in changes:
            table.add_row(str(c["level"]), c["code"], c["action"], f"{c['max_move_m']:.3f}",
                          _num(c["area_before_m2"], ",.1f"), _num(c["area_after_m2"], ",.1f"),
                          c["detail"])
        out.print(table)
        if errors_after:
            left = Table("type", "level", "codes", "area m²",
                         title=f"problems left (wider than {snap:g} m or not snappable: redraw "
                               f"them, see 'wangge grids validate')")
            for p in errors_after:
                left.add_row(p.type, str(p.level or ""), ", ".join(p.codes)[:60],
                             f"{p.area_m2:,.1f}")
            out.print(left)
        summary("grids fix", res, False)
    if errors_after:
        raise typer.Exit(1)
