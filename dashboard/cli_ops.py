"""CLI commands for operations: ``wangge db backup|restore``, ``wangge bench load|dashboard``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dashboard.cli import JsonOpt, db_app, domain_errors, summary
from dashboard.cli_run import _progress

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
