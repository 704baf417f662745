"""Backup and restore with pg_dump / pg_restore: a restored database holds every row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from gis._errors import StoreError
from gis.store import drop_database
from gis.store.backup import backup, database_exists, restore, row_counts
from gis.store.engine import with_database

runner = CliRunner()

FINGERPRINT = ("select md5(string_agg(code || ':' || st_asbinary(geom)::text, ',' order by code, "
               "version_id)) from grid")


def _fingerprint(url: str) -> str:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return conn.execute(sa.text(FINGERPRINT)).scalar_one()
    finally:
        eng.dispose()


@pytest.fixture
def target_url(demo_db_url: str) -> str:
    url = with_database(demo_db_url, f"{demo_db_url.rsplit('/', 1)[1].split('?')[0]}_restored")
    yield url
    drop_database(url)


def test_restore_finds_every_row(demo_db_url: str, target_url: str, tmp_path: Path) -> None:
    dump = tmp_path / "demo.dump"

    made = backup(demo_db_url, dump)
    back = restore(target_url, dump)

    assert made.rows["incident"] == 5_000
    assert back.rows == made.rows == row_counts(target_url)
    assert _fingerprint(target_url) == _fingerprint(demo_db_url)
    assert not dump.with_name("demo.dump.partial").exists()


def test_restore_refuses_a_database_with_data(demo_db_url: str, tmp_path: Path) -> None:
    dump = tmp_path / "demo.dump"
    backup(demo_db_url, dump)

    with pytest.raises(StoreError, match="already holds data.*--replace"):
        restore(demo_db_url, dump)


def test_broken_dump_leaves_target_untouched(demo_db_url: str, target_url: str,
                                             tmp_path: Path) -> None:
    dump = tmp_path / "demo.dump"
    backup(demo_db_url, dump)
    restore(target_url, dump)
    before = row_counts(target_url)
    broken = tmp_path / "broken.dump"
    broken.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])

    with pytest.raises(StoreError, match="pg_restore of broken.dump failed"):
        restore(target_url, broken, replace=True)

    assert row_counts(target_url) == before
    assert database_exists(target_url)


def test_cli_backup_and_restore_json(demo_db_url: str, target_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", demo_db_url)
    dump = tmp_path / "cli.dump"
    name = target_url.rsplit("/", 1)[1].split("?")[0]

    b = runner.invoke(app, ["db", "backup", str(dump), "--json"])
    r = runner.invoke(app, ["db", "restore", str(dump), "--database", name, "--json"])
    again = runner.invoke(app, ["db", "restore", str(dump), "--database", name])

    assert b.exit_code == 0, b.output
    assert r.exit_code == 0, r.output
    made, back = (json.loads(x.output.strip().splitlines()[-1]) for x in (b, r))
    assert made["rows"] == back["rows"] > 5_000
    assert again.exit_code == 2
    assert "already holds data" in again.output
