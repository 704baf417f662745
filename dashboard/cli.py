"""The ``wangge`` command line: the composition root.

Thin on purpose: parse options, call ``gis`` / ``layers`` / ``dashboard`` / ``data``, print a
short summary (``--json`` where scripts read it) and turn domain errors into one clear line
and exit code 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gis import settings
from gis._errors import WanggeError

app = typer.Typer(help="网格 wangge — grid management and command centre.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The embedded PostgreSQL + PostGIS cluster.", no_args_is_help=True)
grids_app = typer.Typer(help="Grid boundaries: import, export, versions.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (ratios against a named baseline).",
                        no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(grids_app, name="grids")
app.add_typer(bench_app, name="bench")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def domain_errors(fn: F) -> F:
    """Turn a WanggeError into a one-line message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WanggeError as e:
            err.print(f"[bold red]error:[/] {escape(str(e))}", markup=True, highlight=False,
                      soft_wrap=True)  # escaped: [...] in a message is text, not markup
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def summary(title: str, rows: dict[str, Any], as_json: bool) -> None:
    """Print ``rows`` as a two-column table, or as one JSON line."""
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return
    table = Table(title=title, show_header=False)
    for k, v in rows.items():
        table.add_row(str(k), str(v))
    out.print(table)


def engine():  # noqa: ANN201
    """The application engine (starts the embedded cluster when needed)."""
    from gis.store import connect

    return connect()


# --- db ----------------------------------------------------------------------------------

@db_app.command("start")
@domain_errors
def db_start() -> None:
    """Create (first time) and start the embedded cluster."""
    from gis.store import cluster

    if settings.DATABASE_URL:
        out.print("DATABASE_URL is set: the embedded cluster is not used.")
        return
    c = cluster.start()
    out.print(f"PostgreSQL running in {c.base} (socket {c.sock}, port {cluster.PORT})")


@db_app.command("stop")
@domain_errors
def db_stop() -> None:
    """Stop the embedded cluster."""
    from gis.store import cluster

    out.print("stopped" if cluster.stop() else "not running")


@db_app.command("status")
@domain_errors
def db_status(as_json: JsonOpt = False) -> None:
    """Where the database is and whether it answers."""
    from gis.store import cluster, server_info
    from gis.store.engine import _engine, database_url

    rows: dict[str, Any] = {}
    if settings.DATABASE_URL:
        rows["mode"] = "DATABASE_URL"
        url = database_url()
        rows["running"] = True
    else:
        c = cluster.locate()
        rows.update(mode="embedded", folder=str(c.base), running=cluster.is_running(c))
        url = c.url()
    rows["url"] = url
    if rows["running"]:
        rows.update(server_info(_engine(url)))
    summary("database", rows, as_json)
    if not rows["running"]:
        raise typer.Exit(1)


@db_app.command("reset")
@domain_errors
def db_reset(yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Delete the embedded cluster's data and start an empty one."""
    from gis.store import cluster

    if settings.DATABASE_URL:
        err.print("DATABASE_URL is set: reset only applies to the embedded cluster")
        raise typer.Exit(2)
    if not yes:
        typer.confirm("Delete every row in the embedded database?", abort=True)
    c = cluster.reset()
    out.print(f"empty cluster running in {c.base}")


# --- grids -------------------------------------------------------------------------------

@grids_app.command("import")
@domain_errors
def grids_import(
    path: Annotated[Path, typer.Argument(help="GeoJSON, GPKG, Shapefile or FlatGeobuf.")],
    level: Annotated[str, typer.Option(help="village (level 1) or group (level 2).")],
    name_field: Annotated[str | None, typer.Option(help="Attribute with the grid name.")] = None,
    code_field: Annotated[str | None, typer.Option(help="Attribute with the grid code.")] = None,
    parent_field: Annotated[str | None, typer.Option(help="Attribute with the parent code.")] = None,
    crs: Annotated[str | None, typer.Option(help="EPSG:n, gcj02 or bd09 (overrides the file).")] = None,
    adcode: Annotated[str | None, typer.Option(help="County adcode (default: from the codes).")] = None,
    version: Annotated[int | None, typer.Option(help="Draft version id (default: newest draft).")] = None,
    publish: Annotated[str | None, typer.Option(help="Publish the draft from this date, YYYY-MM-DD.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import grid boundaries into a draft version (all or nothing, idempotent by code)."""
    from gis.grids.importer import import_grids

    rep = import_grids(engine(), path, level, name_field=name_field, code_field=code_field,
                       parent_field=parent_field, crs=crs, adcode=adcode, version_id=version,
                       publish_on=date.fromisoformat(publish) if publish else None)
    summary("grids import", {"file": rep.path, "level": rep.level, "version": rep.version_id,
                             "features": rep.features, "inserted": rep.inserted,
                             "replaced": rep.replaced, "repaired": len(rep.repaired),
                             "source_crs": rep.source_crs, "published": rep.published}, as_json)


@grids_app.command("export")
@domain_errors
def grids_export(
    path: Annotated[Path, typer.Argument(help="Output file (.gpkg, .geojson, .shp, .fgb).")],
    fmt: Annotated[str | None, typer.Option("--format", help="gpkg|geojson|shp|fgb.")] = None,
    crs: Annotated[str | None, typer.Option(help="EPSG:n, gcj02 or bd09 (default EPSG:4490).")] = None,
    version: Annotated[int | None, typer.Option(help="Version id (default: in force).")] = None,
    level: Annotated[str | None, typer.Option(help="village or group (default both).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export grids with codes, names, levels, parents and metrics."""
    from gis.grids.export import export_grids
    from gis.grids.store import LEVELS

    lvl = LEVELS.get(level) if level else None
    if level and lvl is None:
        err.print(f"--level must be one of {sorted(LEVELS)}")
        raise typer.Exit(2)
    counts = export_grids(engine(), path, fmt, crs, version, level=lvl)
    summary("grids export", {"file": str(path), **counts}, as_json)


@grids_app.command("versions")
@domain_errors
def grids_versions(as_json: JsonOpt = False) -> None:
    """List grid versions with their status and grid counts."""
    from gis.grids.versions import list_versions

    with engine().connect() as conn:
        rows = list_versions(conn)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return
    table = Table("id", "adcode", "name", "status", "effective", "villages", "groups")
    for r in rows:
        table.add_row(*(str(r[k]) for k in ("id", "adcode", "name", "status",
                                            "effective_date", "villages", "groups")))
    out.print(table)


@grids_app.command("validate")
@domain_errors
def grids_validate(
    version: Annotated[int | None, typer.Option(help="Version id (default: in force).")] = None,
    tolerance: Annotated[float | None, typer.Option(help="Gap / overlap tolerance, m².")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check topology: gaps, overlaps, groups outside villages, invalid, slivers. Exit 1 if any."""
    import time

    from gis.grids.validation import validate_version

    t0 = time.perf_counter()
    with engine().connect() as conn:
        vid, problems = validate_version(conn, version, tolerance)
    seconds = time.perf_counter() - t0
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        print(json.dumps([p.to_dict() for p in problems], ensure_ascii=False))
    else:
        table = Table("type", "severity", "level", "codes", "area m²", "location",
                      title=f"grid version {vid}: {len(errors)} error(s), "
                            f"{len(problems) - len(errors)} warning(s), {seconds:.2f} s")
        for p in problems:
            table.add_row(p.type, p.severity, str(p.level or ""), ", ".join(p.codes)[:60],
                          f"{p.area_m2:,.1f}", p.location[:40])
        out.print(table)
    if errors:
        raise typer.Exit(1)


# --- geocode -----------------------------------------------------------------------------

@app.command("geocode")
@domain_errors
def geocode(
    src: Annotated[Path, typer.Argument(help="CSV with longitude / latitude columns.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output CSV.")],
    lon_col: Annotated[str | None, typer.Option(help="Longitude column.")] = None,
    lat_col: Annotated[str | None, typer.Option(help="Latitude column.")] = None,
    crs: Annotated[str | None, typer.Option(help="EPSG:n, gcj02 or bd09 (default EPSG:4326).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add village and group code and name to every row (reason when it has none)."""
    from gis.geocode_csv import geocode_csv
    from gis.grids.lookup import lookup_in_force

    with engine().connect() as conn:
        lookup = lookup_in_force(conn)
    s = geocode_csv(lookup, src, out_path, lon_col, lat_col, crs)
    summary("geocode", {"out": str(out_path), "rows": s.rows, "placed": s.placed,
                        "outside": s.outside, "invalid": s.invalid,
                        "grid_version": s.version_id}, as_json)


from dashboard import cli_analyze, cli_balance, cli_incidents, cli_plan  # noqa: E402,F401,I001
from dashboard import cli_kpi, cli_ops, cli_patrols, cli_report, cli_security  # noqa: E402,F401,I001
from dashboard import cli_address  # noqa: E402,F401,I001
from dashboard.cli_run import bench_geocode, demo, serve  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
