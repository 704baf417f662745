"""CLI commands for analyses: ``wangge analyze hotspots|reach|siting``, ``wangge network
import`` and ``wangge bench analytics``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from dashboard.cli import JsonOpt, app, bench_app, domain_errors, engine, out, summary

analyze_app = typer.Typer(help="Analyses: hot spots, response reach, post siting.",
                          no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")
network_app = typer.Typer(help="Road networks: import OpenStreetMap extracts.",
                          no_args_is_help=True)
app.add_typer(network_app, name="network")

GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".fgb")
"""Output suffixes written with geometry (others: .csv)."""


def _check_out(path: Path) -> None:
    """Refuse an output suffix before the analysis runs (not after)."""
    from gis._errors import InputFileError

    if path.suffix.lower() not in (*GEO_SUFFIXES, ".csv"):
        msg = f"cannot tell the format of {path}: use .geojson, .gpkg, .fgb or .csv"
        raise InputFileError(msg)


def _beside(path: Path, name: str, suffix: str = ".csv") -> Path:
    return path.with_name(f"{path.stem}_{name}{suffix}")


@contextmanager
def _steps() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback (step, done, total) drawing one rich bar per step on stderr."""
    from dashboard.cli_run import _progress

    with _progress() as bar:
        tasks: dict[str, int] = {}

        def step(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        yield step


def _minutes_opt(text: str) -> list[float]:
    from gis._errors import AnalysisError

    try:
        return [float(m) for m in text.split(",") if m.strip()]
    except ValueError:
        msg = f"--minutes must be numbers separated by commas (e.g. 10,20), not {text!r}"
        raise AnalysisError(msg) from None


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
    from gis.analytics.run import hotspots as run
    from gis.analytics.run import write_output

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


def _share_table(towns: pd.DataFrame, title: str) -> Table:
    flags = [c[:-len("_share")] for c in towns.columns if c.endswith("_share")]
    table = Table(title=title)
    table.add_column("township", overflow="fold")
    table.add_column("population", justify="right")
    for f in flags:
        head = f"≤ {f[len('meets_'):]} min" if f.startswith("meets_") \
            else f"≤ {f[len('inside_'):]}"
        table.add_column(head, justify="right")
    for rec in towns.itertuples(index=False):
        name = getattr(rec, "township_name", None)
        cells = [str(name if isinstance(name, str) else rec.township_code),
                 f"{int(rec.population):,}"]
        for f in flags:
            v = getattr(rec, f"{f}_share")
            cells.append("" if pd.isna(v) else f"{float(v):.0%}")
        table.add_row(*cells)
    return table


@analyze_app.command("reach")
@domain_errors
def reach(
    out_path: Annotated[Path, typer.Option("--out", help="Isochrones .geojson / .gpkg / .fgb (the table goes to <stem>_table.csv), or the table .csv (isochrones to <stem>_isochrones.geojson).")],
    minutes: Annotated[str, typer.Option(help="Time limits by road, minutes, comma-separated.")] = "10,20",
    network: Annotated[Path | None, typer.Option(help="An .osm.pbf to use instead of the county's stored road network.")] = None,
    per_post: Annotated[str, typer.Option(help="nearest (catchments) or each (full, overlapping isochrones).")] = "nearest",
    adcode: Annotated[str | None, typer.Option(help="County (default: the one in force).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Road isochrones of every police post and the 10 / 20 min, 5 / 10 km standards table."""
    from gis.analytics.reach import reach_for_county
    from gis.analytics.run import write_output

    _check_out(out_path)
    t0 = time.perf_counter()
    with _steps() as step, engine().connect() as conn:
        res = reach_for_county(conn, _minutes_opt(minutes), network, adcode, per_post, step)
    geo = out_path.suffix.lower() in GEO_SUFFIXES
    iso_path = out_path if geo else _beside(out_path, "isochrones", ".geojson")
    table_path = _beside(out_path, "table") if geo else out_path
    towns_path = _beside(out_path, "townships")
    rings_path = _beside(out_path, "rings", out_path.suffix if geo else ".geojson")
    write_output(res.isochrones, iso_path)
    write_output(res.table, table_path)
    write_output(res.townships, towns_path)
    write_output(res.rings, rings_path)
    t = res.table
    villages = t[t["level"] == "village"]
    whole = res.townships[res.townships["township_code"] == "all"].iloc[0]
    flags = [c for c in t.columns if c.startswith(("meets_", "inside_"))]
    rows: dict[str, object] = {
        "county": res.adcode, "network": res.network.source,
        "synthetic_network": res.network.synthetic, "nodes": res.network.n_nodes,
        "edges": res.network.n_edges, "posts": int(res.isochrones["post_code"].nunique()),
        "minutes": list(res.minutes), "post_snap_median_m": round(res.post_snap_median_m, 1),
        "villages": len(villages), "groups": int((t["level"] == "group").sum()),
        **{f"villages_{f}": int(villages[f].sum()) for f in flags},
        **{f"population_{f}_share": round(float(whole[f"{f}_share"]), 4) for f in flags},
        **{f"area_km2_{m:g}min": round(float(a), 1)
           for m, a in zip(res.dissolved["minutes"], res.dissolved["area_km2"], strict=True)},
        "out": str(iso_path), "table": str(table_path), "townships_out": str(towns_path),
        "rings": str(rings_path), "seconds": round(time.perf_counter() - t0, 2)}
    if as_json:
        rows["townships"] = json.loads(res.townships.to_json(orient="records",
                                                            force_ascii=False))
        summary("response reach", rows, True)
        return
    out.print(_share_table(res.townships, "population share inside each standard"))
    summary("response reach", rows, False)


@analyze_app.command("siting")
@domain_errors
def siting(
    out_path: Annotated[Path, typer.Option("--out", help="Chosen sites: .geojson / .gpkg / .fgb / .csv; every candidate goes to <stem>_candidates.<suffix>.")],
    new_posts: Annotated[int, typer.Option("--new-posts", help="Number of new posts to site.")] = 1,
    minutes: Annotated[float | None, typer.Option(help="Cover population within this many minutes by road (default: settings.SITING_MINUTES).")] = None,
    km: Annotated[float | None, typer.Option(help="Cover population within this many km (straight line) instead.")] = None,
    candidates: Annotated[str, typer.Option(help="village-centres or group-centres.")] = "village-centres",
    network: Annotated[Path | None, typer.Option(help="An .osm.pbf to use instead of the county's stored road network.")] = None,
    adcode: Annotated[str | None, typer.Option(help="County (default: the one in force).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Where K new police posts add the most covered population (existing posts stay)."""
    from gis.analytics.reach import siting_for_county
    from gis.analytics.run import write_output

    _check_out(out_path)
    with _steps() as step, engine().connect() as conn:
        res = siting_for_county(conn, new_posts, minutes, km, candidates, network, adcode,
                                step)
    fmt = write_output(res.chosen, out_path)
    cand_path = _beside(out_path, "candidates", out_path.suffix)
    write_output(res.candidates, cand_path)
    s = res.summary
    rows: dict[str, object] = {
        k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}
    rows.update({"out": str(out_path), "format": fmt, "candidates_out": str(cand_path)})
    if as_json:
        rows["chosen"] = json.loads(pd.DataFrame(res.chosen.drop(columns="geometry"))
                                    .to_json(orient="records", force_ascii=False))
        summary("post siting", rows, True)
        return
    table = Table(title=f"{len(res.chosen)} new post site(s)")
    for col in ("rank", "code", "name", "township", "gain"):
        table.add_column(col, justify="right" if col in ("rank", "gain") else "left")
    for r in res.chosen.itertuples(index=False):
        table.add_row(str(r.rank), str(r.code), str(r.name), str(r.township or ""),
                      f"{r.gain_population:,.0f}")
    out.print(table)
    summary("post siting", rows, False)


@network_app.command("import")
@domain_errors
def network_import(
    path: Annotated[Path, typer.Argument(help="OpenStreetMap extract (.osm.pbf).")],
    adcode: Annotated[str | None, typer.Option(help="County whose network it becomes (default: the one in force).")] = None,
    clip: Annotated[bool, typer.Option("--clip/--no-clip", help="Read only the county's extent (grown by settings.NETWORK_BBOX_MARGIN_M) when its boundary is stored.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Import the driving network of an .osm.pbf as the county's road network (replaces it)."""
    from gis._errors import AnalysisError
    from gis.analytics.reach import load_network
    from gis.grids import versions
    from gis.network.store import graph_to_postgis
    from gis.territory import units

    with engine().connect() as conn:
        if adcode is None:
            vid = versions.in_force(conn)
            if vid is None:
                msg = "no grid version in force to take the county from: give --adcode"
                raise AnalysisError(msg)
            adcode = str(versions.get_version(conn, vid)["adcode"])
        county = units(conn, "county", adcode)
        area = county.geometry.union_all() if clip and len(county) \
            and county.geometry.notna().any() else None
    t0 = time.perf_counter()
    with engine().connect() as conn:
        loaded = load_network(conn, adcode, path, area)
    with engine().begin() as conn:
        counts = graph_to_postgis(conn, loaded.graph, adcode)
    summary("network import", {"file": str(path), "county": adcode, "clipped": area is not None,
                               **counts, "seconds": round(time.perf_counter() - t0, 2)},
            as_json)


@bench_app.command("analytics")
@domain_errors
def bench_analytics(
    weeks: Annotated[int, typer.Option(help="Weeks of incidents (Gi* and emerging).")] = 52,
    new_posts: Annotated[int, typer.Option(help="Sites of the siting run.")] = 3,
    each: Annotated[bool, typer.Option("--each/--no-each", help="Also time full, overlapping isochrones (one Dijkstra per post).")] = True,
) -> None:
    """Time Gi* (999 permutations), emerging hot spots, isochrones of every post, siting."""
    from gis.analytics.reach import county_inputs, load_network, siting_for_county
    from gis.analytics.run import hotspots as run
    from gis.network.graph import RoadNetwork
    from gis.network.isochrones import isochrones
    from gis.network.reach_table import village_standard_table

    res: dict[str, object] = {"weeks": weeks}

    def timed(name: str, fn: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        val = fn()
        res[name] = round(time.perf_counter() - t0, 3)
        return val

    with engine().connect() as conn:
        timed("gi_analytic_s", lambda: run(conn, "gi", weeks=weeks))
        timed("gi_999_permutations_s", lambda: run(conn, "gi", weeks=weeks, permutations=999))
        g = timed("emerging_s", lambda: run(conn, "emerging", weeks=weeks))
        res["grids"] = len(g)  # type: ignore[arg-type]
        inp = county_inputs(conn)
        loaded = timed("network_read_postgis_s", lambda: load_network(conn, inp.adcode))
        net = timed("network_prepare_s", lambda: RoadNetwork(loaded.graph))  # type: ignore[union-attr]
        res.update(posts=len(inp.posts), nodes=loaded.n_nodes, edges=loaded.n_edges)  # type: ignore[union-attr]
        timed("isochrones_10_20_nearest_s",
              lambda: isochrones(net, inp.posts, (10, 20)))  # one multi-source Dijkstra
        if each:
            timed("isochrones_10_20_each_s",
                  lambda: isochrones(net, inp.posts, (10, 20), per_post="each"))
        timed("standards_table_s",
              lambda: village_standard_table(net, inp.villages, inp.posts, inp.groups))
        timed(f"siting_{new_posts}_by_road_s", lambda: siting_for_county(conn, new_posts))
    res["isochrones_target_s"] = 5.0
    print(json.dumps(res))


from dashboard import cli_forces  # noqa: F401
