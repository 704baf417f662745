"""CLI commands for operations: ``wangge db backup|restore``, ``wangge bench load|dashboard``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dashboard.cli import JsonOpt, bench_app, db_app, domain_errors, summary
from dashboard.cli_run import _progress, stage_progress

DbOpt = Annotated[str | None, typer.Option(
    "--database", help="Database name on the same server (default: the application database).")]


def _url(database: str | None) -> str:
    from gis.store import database_url
    from gis.store.engine import with_database

    url = database_url()
    return with_database(url, database) if database else url


@db_app.command("backup")
@domain_errors
def db_backup(
    path: Annotated[Path, typer.Argument(help="Dump file to write (pg_dump custom format).")],
    database: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Back up the database (embedded cluster or DATABASE_URL) into one file."""
    from gis.store.backup import backup

    with _progress() as bar:
        bar.add_task(f"pg_dump → {path}", total=None)
        rep = backup(_url(database), path)
    summary("db backup", {"file": rep.path, "database": rep.database, "bytes": rep.bytes,
                          "tables": len(rep.rows), "rows": rep.total_rows}, as_json)


@db_app.command("restore")
@domain_errors
def db_restore(
    path: Annotated[Path, typer.Argument(help="Dump file written by 'wangge db backup'.")],
    database: DbOpt = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace a database that already holds data.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a backup; the target is replaced only once the whole dump restored cleanly."""
    from gis.store.backup import restore

    with _progress() as bar:
        bar.add_task(f"pg_restore ← {path}", total=None)
        rep = restore(_url(database), path, replace=replace)
    summary("db restore", {"file": rep.path, "database": rep.database, "tables": len(rep.rows),
                           "rows": rep.total_rows}, as_json)


@bench_app.command("dashboard")
@domain_errors
def bench_dashboard(
    incidents: Annotated[int, typer.Option(help="Incidents in the bench database.")] = 1_000_000,
    database: Annotated[str, typer.Option(
        "--database", help="Bench database on the same server (kept for the next run).")]
        = "wangge_bench_dashboard",
    workers: Annotated[int, typer.Option(help="gunicorn workers of the server.")] = 2,
    repeats: Annotated[int, typer.Option(help="Replays of the refresh callback.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """/wall on a big database in headless Chromium: first paint, bytes, refresh time."""
    from dashboard.bench_dashboard import TARGETS, run_dashboard_bench

    with stage_progress() as step:
        res = run_dashboard_bench(_url(database), incidents, workers, repeats, progress=step)
    res["targets"] = TARGETS
    summary("bench dashboard", res, as_json)


@bench_app.command("load")
@domain_errors
def bench_load(
    displays: Annotated[int, typer.Option(help="Simulated wall displays.")] = 50,
    minutes: Annotated[float, typer.Option(help="Duration of the load in minutes.")] = 2.0,
    rate: Annotated[float, typer.Option(help="Incidents per second posted to the API.")] = 20.0,
    workers: Annotated[int, typer.Option(help="gunicorn workers of the server.")] = 2,
    database: Annotated[str, typer.Option(
        "--database", help="Bench database on the same server (demo county; kept).")]
        = "wangge_bench_load",
    as_json: JsonOpt = False,
) -> None:
    """50 wall displays + 20 incidents/s through the API on loopback: errors, p50 / p95.

    The API needs a token: one is made for the run's source (county-wide, one day) and
    revoked at the end."""
    import uuid
    from pathlib import Path as _Path

    from dashboard.bench_dashboard import prepare_database, start_server
    from dashboard.bench_load import bench_token, revoke_bench_token, run_load_bench
    from dashboard.cli_security import cli_actor
    from gis import settings as s

    url = _url(database)
    source = f"load-{uuid.uuid4().hex[:8]}"
    with _progress() as bar:
        task = bar.add_task("prepare database", total=None)
        prepare_database(url, 0)
        prefix, secret = bench_token(url, source, cli_actor())
        bar.update(task, description=f"serve ({workers} workers)")
        proc, base = start_server(url, workers, _Path("var") / "bench-load-server.log")
        try:
            bar.update(task, description=f"{displays} displays + {rate:g} incidents/s "
                                         f"for {minutes:g} min")
            res = run_load_bench(url, base, displays, minutes, rate, s.WALL_REFRESH_S,
                                 headers={"Authorization": f"Bearer {secret}"}, source=source)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            revoke_bench_token(url, prefix, cli_actor())
    summary("bench load", res, as_json)
