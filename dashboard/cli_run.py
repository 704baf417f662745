"""CLI commands that run things: ``demo``, ``serve`` and ``bench geocode``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dashboard.cli import (
    JsonOpt,
    app,
    bench_app,
    domain_errors,
    engine,
    err,
    out,
    summary,
)
from gis import settings


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=False)


@contextmanager
def stage_progress(labels: dict[str, str] | None = None) -> Iterator[Callable[[str, int, int], None]]:
    """A progress display with one bar per stage; yields ``step(stage, done, total)``.

    ``labels`` maps stage keys to the text shown (default: the key itself).
    """
    with _progress() as bar:
        tasks: dict[str, TaskID] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task((labels or {}).get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield step


def load_demo_county(seed: int, incidents: int) -> dict[str, object]:
    """Generate (or read from cache) and load the demo county, with progress bars."""
    from data.loader import build_or_read_demo, load_demo

    with _progress() as bar:
        gen = bar.add_task("generate demo county", total=None)
        demo = build_or_read_demo(seed, incidents,
                                  progress=lambda step: bar.update(gen, description=f"generate: {step}"))
        bar.update(gen, total=1, completed=1, description="generate demo county")
        tasks: dict[str, int] = {}

        def step(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"load {name}", total=total)
            bar.update(tasks[name], completed=done, total=total)

        counts = load_demo(engine(), demo, step)
    return counts


@app.command("demo")
@domain_errors
def demo(
    seed: Annotated[int, typer.Option(help="Generator seed.")] = settings.DEMO_SEED,
    incidents: Annotated[int, typer.Option(help="Number of synthetic incidents.")] = 100_000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve",
                                              help="Serve the dashboard afterwards.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8050,
    users: Annotated[bool, typer.Option("--users/--no-users",
                                        help="Create (or reset) one login per role.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Load the synthetic demo county (idempotent), create one login per role, serve."""
    from dashboard.cli_security import demo_users

    counts = load_demo_county(seed, incidents)
    logins = demo_users() if users else []
    if as_json:
        print(json.dumps({**counts, "logins": logins}, ensure_ascii=False, default=str))
    else:
        summary("demo county loaded (synthetic data)", counts, False)
        if logins:
            table = Table("user", "role", "unit", "password",
                          title="demo logins (new passwords on every run)")
            for u in logins:
                table.add_row(u["name"], u["role"], u["unit"], u["password"])
            out.print(table)
    if serve_after:
        serve(host=host, port=port, workers=1, threads=4, tile_file=None,
              auth=settings.AUTH_ENABLED)


@app.command("serve")
@domain_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8050,
    workers: Annotated[int, typer.Option(
        help="Worker processes: 1 = Flask's development server, more = gunicorn.")] = 1,
    threads: Annotated[int, typer.Option(help="Threads per gunicorn worker.")] = 4,
    tile_file: Annotated[Path | None, typer.Option(
        help="Local .mbtiles / .pmtiles basemap served at /tiles/{z}/{x}/{y}.")] = None,
    auth: Annotated[bool, typer.Option(
        "--auth/--no-auth", help="Require a login (default: on, WANGGE_AUTH=0 turns it off).")]
        = settings.AUTH_ENABLED,
    debug: Annotated[bool, typer.Option(help="Dash debug mode (Flask server only).")] = False,
) -> None:
    """Serve the Dash command-centre dashboard (production: --workers 2 or more)."""
    from dashboard.app import AppConfig, create_app
    from gis.store import database_url

    url = database_url()
    config = AppConfig(database_url=url, tile_url=settings.TILE_URL, auth=auth)
    if tile_file is not None:
        config.tile_file = str(tile_file)
    out.print(f"wangge dashboard on http://{host}:{port}/  (database: {url}, workers: {workers})")
    if workers > 1:
        from dashboard.wsgi import serve_gunicorn

        serve_gunicorn(config, host, port, workers, threads)
        return
    create_app(config).run(host=host, port=port, debug=debug)


@bench_app.command("geocode")
@domain_errors
def bench_geocode(
    points: Annotated[int, typer.Option(help="Random points to geocode.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Random seed of the points.")] = 1,
) -> None:
    """Geocode N random points into the group grids in force: wangge vs geopandas.sjoin.

    Prints one JSON line: times in seconds, the ratio sjoin / wangge, and mismatches (must
    be 0).
    """
    import numpy as np

    from gis.geocode import bench_geocode as run
    from gis.grids import versions
    from gis.grids.store import read_grids

    with engine().connect() as conn:
        vid = versions.in_force(conn)
        if vid is None:
            err.print("no grid version in force: run 'wangge demo --no-serve' first")
            raise typer.Exit(2)
        groups = read_grids(conn, vid, level=2)
    with _progress() as bar:
        task = bar.add_task(f"geocode {points:,} points into {len(groups):,} grids", total=None)
        res = run(list(groups["code"]), np.asarray(groups.geometry.values), points, seed)
        bar.update(task, total=1, completed=1)
    res["baseline"] = "geopandas.sjoin"
    print(json.dumps(res, ensure_ascii=False))


@app.command("escalate")
@domain_errors
def escalate(
    now: Annotated[bool, typer.Option("--now", help="Run once for the current time.")] = True,
    at: Annotated[str | None, typer.Option(help="Run as if it were this ISO time (tests, replays).")] = None,
    adcode: Annotated[str | None, typer.Option(help="Only this county.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue due reminders, warnings and automatic escalations (village → township → county)."""
    from collections import Counter
    from datetime import datetime

    from gis.incidents.escalation import run_escalation

    when = datetime.fromisoformat(at) if at else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    with engine().begin() as conn:
        events = run_escalation(conn, when, adcode=adcode)
    kinds = Counter(str(e["kind"]) for e in events)
    summary("escalation run", {"at": when.isoformat(), "events": len(events),
                               **{k: kinds.get(k, 0) for k in ("reminder", "warning",
                                                               "escalation")}}, as_json)
