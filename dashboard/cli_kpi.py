"""CLI command ``wangge kpi``: KPIs, rankings and 四无 villages for a period and level.

* ``wangge kpi --period 2026-W47 --level township [--area CODE] [--out FILE.csv] [--json]
  [--rank]`` — the KPI table (one row per unit);
* ``wangge kpi rank --period ... [--level village|township]`` — composite score and ranks;
* ``wangge kpi siwu --period ... [--area CODE] [--failing]`` — the 四无 check per village;
* ``wangge kpi defs`` — the exact definition of every KPI.

Periods: ``2026-W47``, ``2026-11``, ``2026-Q4``, ``2026``, ``2026-11-05`` or
``2026-11-01:2026-11-30`` (local days, Asia/Shanghai). A bad period, level or area exits 2
with one line saying what is accepted. ``--json`` prints one JSON object:
``{"period", "level", "area", "start", "end", "targets", "rows": [...]}``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich import box
from rich.table import Table

from dashboard.cli import JsonOpt, app, domain_errors, engine, err, out

kpi_app = typer.Typer(
    help="KPIs, rankings and 四无 villages for a period. Without a command: the KPI table "
         "(incidents by kind, on-time closure, fulfilment, satisfaction, mediation success, "
         "on-site mediation, eventual closure, escalations, median time per step) of --level "
         "for --period; `wangge kpi defs` prints the definitions.",
    invoke_without_command=True)
app.add_typer(kpi_app, name="kpi")

PeriodOpt = Annotated[str | None, typer.Option(
    "--period", "-p", help="2026-W47 | 2026-11 | 2026-Q4 | 2026 | 2026-11-05 | "
                           "2026-11-01:2026-11-30 (local days, Asia/Shanghai).")]
AreaOpt = Annotated[str | None, typer.Option(
    help="Only units inside this county / township / village code.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the full table as CSV.")]

_SHOWN_RATES: dict[str, str] = {
    "on_time_rate": "ontime%", "fulfilment_rate": "fulfil%", "satisfaction_rate": "satisf%",
    "mediation_success_rate": "mediat%", "onsite_mediation_rate": "onsite%",
    "eventual_closure_rate": "eventl%"}
"""Rates shown in the terminal table, as percentages (the CSV / JSON hold every column)."""


def _need_period(period: str | None) -> Any:
    from gis.kpi.period import PERIOD_FORMS, parse_period

    if not period:
        err.print("error: give --period, one of " + ", ".join(PERIOD_FORMS),
                  highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    return parse_period(period)


def _pct(v: object, ok: object = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    text = f"{100 * float(v):.1f}".removesuffix(".0")
    return f"[red]{text}✗[/]" if ok is False else text


def _num(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{float(v):.0f}" if isinstance(v, float) else str(v)


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    flat = table.copy()
    for c in flat.columns:
        if flat[c].map(lambda v: isinstance(v, list)).any():
            flat[c] = flat[c].map(lambda v: " ".join(map(str, v)) if isinstance(v, list) else v)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat.to_csv(path, index=False, encoding="utf-8-sig")


def _targets() -> dict[str, float | None]:
    from gis.kpi import definitions as d

    return {k.key: k.target_value for k in d.registry() if k.kind == "rate"}


def _emit_json(table: pd.DataFrame, extra: dict[str, Any]) -> None:
    from gis.kpi.compute import records

    attrs = {k: v for k, v in table.attrs.items() if k != "weights"}
    doc = {**attrs, **extra, "rows": records(table)}
    print(json.dumps(doc, ensure_ascii=False, default=str))


def _kpi_rich(table: pd.DataFrame, title: str, ranked: bool) -> Table:
    cols = (["rank", "score"] if ranked else []) + ["code", "name", "n",
                                                   *_SHOWN_RATES.values(), "esc",
                                                   "res.min"]
    t = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True,
              pad_edge=False)
    for c in cols:
        t.add_column(c, no_wrap=c == "code", min_width=6 if c == "name" else None,
                     justify="left" if c in ("code", "name") else "right")
    for r in table.to_dict("records"):
        cells = ([_num(r["rank"]) if pd.notna(r["rank"]) else "–",
                  "–" if pd.isna(r["score"]) else f"{r['score']:.1f}"] if ranked else [])
        cells += [str(r["code"]), str(r["name"] or ""), str(r["incidents"])]
        cells += [_pct(r[k], r[f"{k}_pass"]) for k in _SHOWN_RATES]
        cells += [str(r["escalations"]), _num(r["med_to_resolve_min"])]
        t.add_row(*cells)
    return t


def _targets_caption() -> str:
    parts = [f"{_SHOWN_RATES.get(k, k)} ≥ {100 * v:.0f}%" for k, v in _targets().items()
             if v is not None]
    return "targets: " + ", ".join(parts) + " (✗ below target; res.min = median minutes " \
        "to resolution)"


@kpi_app.callback()
@domain_errors
def kpi_main(
    ctx: typer.Context,
    period: PeriodOpt = None,
    level: Annotated[str, typer.Option(
        help="group (= grid) | village | township | county.")] = "township",
    area: AreaOpt = None,
    out_path: OutOpt = None,
    rank: Annotated[bool, typer.Option("--rank", help="Add composite score and ranks.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """KPIs per unit for a period: incidents by kind, on-time closure, fulfilment,
    satisfaction, mediation success, on-site mediation, eventual closure, escalations and
    median time per step (``wangge kpi defs`` for the definitions)."""
    if ctx.invoked_subcommand is not None:
        return
    from gis.kpi.compute import kpi_table
    from gis.kpi.rankings import rank_table

    p = _need_period(period)
    with engine().connect() as conn:
        table = kpi_table(conn, p, level, area)
    if rank:
        table = rank_table(table)
    if out_path:
        _write_csv(table, out_path)
    if as_json:
        _emit_json(table, {"targets": _targets(), "out": str(out_path) if out_path else None})
        return
    t = _kpi_rich(table, f"KPIs {table.attrs['period']} — {table.attrs['level']}"
                  + (f" in {table.attrs['area']}" if table.attrs["area"] else ""), rank)
    t.caption = _targets_caption()
    out.print(t)
    if table.attrs.get("unassigned"):
        out.print(f"{table.attrs['unassigned']} incident(s) of the period have no "
                  f"{table.attrs['level']} (outside the grids) and are counted at county "
                  "level only.")
    if out_path:
        out.print(f"written {len(table)} rows to {out_path}")


@kpi_app.command("rank")
@domain_errors
def kpi_rank(
    period: PeriodOpt = None,
    level: Annotated[str, typer.Option(help="village | township.")] = "village",
    area: AreaOpt = None,
    top: Annotated[int | None, typer.Option(help="Show only the first N (table only).")] = None,
    out_path: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank villages or townships by a composite score (weights in
    settings.KPI_RANK_WEIGHTS) and by each KPI."""
    from gis.kpi.rankings import rank_units

    p = _need_period(period)
    with engine().connect() as conn:
        table = rank_units(conn, p, level, area)
    if out_path:
        _write_csv(table, out_path)
    if as_json:
        _emit_json(table, {"targets": _targets(), "weights": table.attrs["weights"],
                           "min_base": table.attrs["min_base"],
                           "out": str(out_path) if out_path else None})
        return
    shown = table.head(top) if top else table
    t = _kpi_rich(shown, f"ranking {table.attrs['period']} — {table.attrs['level']}", True)
    t.caption = "score = weighted mean of the rates × 100: " + ", ".join(
        f"{_SHOWN_RATES.get(k, k)} {w:.2f}" for k, w in table.attrs["weights"].items()) \
        + f"; rates from fewer than {table.attrs['min_base']} cases left out"
    out.print(t)
    if out_path:
        out.print(f"written {len(table)} rows to {out_path}")


@kpi_app.command("siwu")
@domain_errors
def kpi_siwu(
    period: PeriodOpt = None,
    area: AreaOpt = None,
    failing: Annotated[bool, typer.Option(
        "--failing", help="List only the villages that miss the goal.")] = False,
    out_path: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """四无 villages: no criminal case, no public-security case, no major dispute, no
    level-skipping petition in the period; each failing village with its reasons."""
    from gis.kpi.siwu import CRITERIA, siwu_summary, siwu_villages

    p = _need_period(period)
    with engine().connect() as conn:
        table = siwu_villages(conn, p, area)
    summ = siwu_summary(table)
    shown = table[~table["siwu"]] if failing else table
    if out_path:
        _write_csv(shown, out_path)
    if as_json:
        _emit_json(shown, {"summary": summ, "out": str(out_path) if out_path else None})
        return
    t = Table("code", "village", "township", "四无", *CRITERIA,
              title=f"四无 villages {table.attrs['period']}: {summ['siwu']} of "
                    f"{summ['villages']}")
    for r in shown.to_dict("records"):
        t.add_row(str(r["code"]), str(r["name"] or ""), str(r["township_name"] or ""),
                  "✓" if r["siwu"] else "[red]✗[/]",
                  *[(f"[red]{r[c]}[/] (#{', #'.join(map(str, r[f'{c}_ids'][:3]))}"
                     + ("…" if len(r[f"{c}_ids"]) > 3 else "") + ")") if r[c] else "0"
                    for c in CRITERIA])
    out.print(t)
    out.print(", ".join(f"{k}: {v}" for k, v in summ.items()))
    if out_path:
        out.print(f"written {len(shown)} rows to {out_path}")


@kpi_app.command("defs")
@domain_errors
def kpi_defs(as_json: JsonOpt = False) -> None:
    """Print the exact definition of every KPI (from gis.kpi.definitions)."""
    from gis.kpi import definitions as d

    defs = d.definitions()
    if as_json:
        print(json.dumps({"definitions": defs, "targets": _targets()}, ensure_ascii=False))
        return
    t = Table("KPI", "definition", title="KPI definitions", show_lines=True)
    for k, v in defs.items():
        t.add_row(k, v)
    out.print(t)
