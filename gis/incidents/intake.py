"""Incident intake: files (CSV / XLSX / GeoJSON) and JSON records into incidents and reports.

``import_file`` reads a file (:mod:`gis.incidents.intake_read`), checks every row
(:mod:`gis.incidents.validate_rows`), writes the rejected rows with their row number and
reason to ``<stem>.rejected.csv`` next to the file, and loads the good rows with
deduplication (:mod:`gis.incidents.dedupe`) in ONE transaction: if anything fails (the
database connection is killed, the disk fills) nothing of the file is stored, and the same
command run again loads it completely. Re-running a file that was loaded adds nothing: rows
are idempotent by ``(source, source_id)``; ``source`` defaults to the file's stem, so keep
it (or pass the same ``--source``) when re-running a renamed file.

``import_records`` is the same for the HTTP endpoint, but all-or-nothing on validation too:
if any item is bad nothing is loaded and every item's errors are returned.

Grids: every row is placed in the grid version in force on its date, by coordinates or, for
rows with only an address, by the address matcher; doubtful addresses are queued for review
instead of guessed (:mod:`gis.incidents.intake_place`). The county (``adcode``) is the one
of the version in force today (or the one given); its lookup also judges swapped lat/lon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis._errors import StoreError
from gis.address.review import enqueue
from gis.crs import CrsSpec, parse_crs
from gis.grids import versions
from gis.grids.lookup import GridLookup, lookup_in_force
from gis.incidents.dedupe import LoadSummary, Progress, load_reports
from gis.incidents.intake_place import Placed, place_rows
from gis.incidents.intake_read import Table, read_table, records_table
from gis.incidents.validate_rows import Checked, check_rows, require_columns

T = TypeVar("T")

APPLICATION_NAME = "wangge intake"
"""``application_name`` of the loading transaction (visible in ``pg_stat_activity``)."""


@dataclass
class IntakeReport:
    """Outcome of an import. ``inserted`` new incidents; ``merged`` reports attached to an
    incident as extra reports; ``duplicates`` rows received before (skipped).

    Like ``outside`` and ``no_location``, ``placed_by_address`` (rows without coordinates
    placed in a grid by their address), ``address_review`` (rows whose address was not
    placed with confidence: in the address review queue) and ``before_first_version``
    (rows dated before the county's first grid version, placed in its grids and flagged)
    count the accepted rows of the input, re-sent ones included; ``address_review_new`` is
    the number of reviews this run added to the queue (0 when the input was loaded before).
    ``version_id`` is the version in force today; rows use the one of their date."""

    origin: str
    source: str
    crs: str
    adcode: str
    version_id: int
    rows: int
    accepted: int
    inserted: int
    merged: int
    duplicates: int
    rejected: int
    outside: int
    no_location: int
    fixed_swapped: int
    rejected_path: str | None
    rejects: pd.DataFrame = field(repr=False)
    outcomes: pd.DataFrame | None = field(default=None, repr=False)
    placed_by_address: int = 0
    address_review: int = 0
    address_review_new: int = 0
    before_first_version: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The counts as a JSON-ready dict (no frames)."""
        keys = ("origin", "source", "crs", "adcode", "version_id", "rows", "accepted",
                "inserted", "duplicates", "merged", "rejected", "rejected_path", "outside",
                "no_location", "fixed_swapped", "placed_by_address", "address_review",
                "address_review_new", "before_first_version")
        return {k: getattr(self, k) for k in keys}


def rejected_path_for(path: str | Path) -> Path:
    """Where the rejected rows of ``path`` go: ``<folder>/<stem>.rejected.csv``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.rejected.csv")


def target(conn: Connection, adcode: str | None = None) -> tuple[str, GridLookup]:
    """County adcode and grid lookup of the version in force (GeocodeError when none)."""
    lookup = lookup_in_force(conn, adcode)
    return str(versions.get_version(conn, lookup.version_id)["adcode"]), lookup


def _spec(crs: str | None, table: Table) -> CrsSpec:
    return parse_crs(crs or table.declared_crs or "EPSG:4326")


def load_in_transaction(engine: Engine, fn: Callable[[Connection], T], what: str) -> T:
    """Run ``fn`` in one transaction; a lost connection becomes a StoreError saying that
    nothing was saved and the same command can be run again."""
    conn = engine.connect()
    try:
        with conn.begin():
            conn.execute(sa.text(f"set local application_name = '{APPLICATION_NAME}'"))
            return fn(conn)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, psycopg.OperationalError,
            psycopg.InterfaceError) as e:
        conn.invalidate()
        msg = f"the database connection was lost while loading {what} ({str(e).strip()[:200]}); " \
              "nothing of it was saved (the load is one transaction): run the same import again"
        raise StoreError(msg) from e
    finally:
        conn.close()


@dataclass
class _Loaded:
    summary: LoadSummary
    reviews: dict[int, int]
    """Input position → id of the review this load queued."""


def _load(conn: Connection, placed: Placed, adcode: str, batch: int | None = None,
          progress: Progress | None = None, all_outcomes: bool = False) -> _Loaded:
    """Load placed rows and queue the reviews of the new incidents (one transaction)."""
    summary = load_reports(conn, placed.frame, adcode, None, batch=batch, progress=progress,
                           outcomes=True if all_outcomes else placed.tracked)
    reviews: dict[int, int] = {}
    if len(placed.review):
        out = summary.outcomes
        created = out[out["status"] != "duplicate"].set_index("seq")["incident_id"]
        rows = placed.review[placed.review["seq"].isin(created.index)]
        if len(rows):
            f = placed.frame
            seq = rows["seq"].to_numpy(dtype=int)
            rows = rows.assign(incident_id=created.loc[seq].to_numpy(),
                               source=f["source"].to_numpy()[seq],
                               source_id=f["source_id"].to_numpy()[seq])
            reviews = enqueue(conn, adcode, rows)
    if not all_outcomes:
        summary.outcomes = None  # only the tracked rows: not a per-row answer
    return _Loaded(summary, reviews)


def _outcomes(loaded: _Loaded, placed: Placed) -> pd.DataFrame | None:
    """Per input position: incident id, status, placement and review id (the API)."""
    out = loaded.summary.outcomes
    if out is None:
        return None
    out = out.copy()
    seq = out["seq"].to_numpy(dtype=int)
    out["placement"] = placed.placement[seq] if len(seq) else []
    out["review_id"] = [loaded.reviews.get(int(s)) for s in seq]
    return out


def _report(table: Table, source: str, spec: CrsSpec, adcode: str, lookup: GridLookup,
            checked: Checked, placed: Placed | None, loaded: _Loaded | None,
            rejected_path: str | None) -> IntakeReport:
    s = loaded.summary if loaded else LoadSummary(0, 0, 0, 0, 0, 0)
    return IntakeReport(
        origin=table.path, source=source, crs=str(spec), adcode=adcode,
        version_id=lookup.version_id, rows=len(table.cells), accepted=len(checked.good),
        inserted=s.inserted, merged=s.merged, duplicates=s.duplicates,
        rejected=len(checked.rejects), outside=s.outside, no_location=s.no_location,
        fixed_swapped=int(checked.good["fixed"].notna().sum()), rejected_path=rejected_path,
        rejects=checked.rejects,
        outcomes=_outcomes(loaded, placed) if loaded and placed else None,
        placed_by_address=int((placed.placement == "address").sum()) if placed else 0,
        address_review=int((placed.placement == "review").sum()) if placed else 0,
        address_review_new=len(loaded.reviews) if loaded else 0,
        before_first_version=int(placed.before_first.sum()) if placed else 0)


def import_file(engine: Engine, path: str | Path, source: str | None = None,
                crs: str | None = None, fix_swapped: bool | None = None,
                adcode: str | None = None, progress: Progress | None = None,
                now: datetime | None = None, batch: int | None = None) -> IntakeReport:
    """Import an incident file; see the module docstring.

    Parameters
    ----------
    path : CSV (UTF-8 / GBK), XLSX (first sheet) or GeoJSON (Points).
    source : name of the sending system (default: the file's stem); with each row's 编号 it
        makes the row's identity.
    crs : coordinate system of the coordinates: WGS84 (default), ``gcj02``, ``bd09`` or
        ``EPSG:n``; a GeoJSON's own ``crs`` member is used when not given.
    fix_swapped : swap back (instead of rejecting) points whose lat / lon are swapped;
        default ``settings.INTAKE_FIX_SWAPPED``.
    progress : called with (stage, done, total); stages read, validate, copy, dedupe, insert.

    Raises
    ------
    InputFileError : the file cannot be read at all, or lacks a required column.
    GeocodeError : no grid version is in force.
    StoreError : the database connection was lost (nothing of the file was saved).
    """
    if progress:
        progress("read", 0, 1)
    table = read_table(path)
    require_columns(table)
    spec = _spec(crs, table)
    src = source or Path(path).stem
    if progress:
        progress("read", 1, 1)
        progress("validate", 0, len(table.cells))
    with engine.connect() as conn:
        code, lookup = target(conn, adcode)
        checked = check_rows(table, src, spec, lookup, fix_swapped, now)
        placed = place_rows(conn, checked.good, code)
    if progress:
        progress("validate", len(table.cells), len(table.cells))
    rpath = rejected_path_for(path)
    if len(checked.rejects):
        checked.rejects.to_csv(rpath, index=False, encoding="utf-8-sig")
    elif rpath.exists():  # a stale file of an earlier run would mislead
        rpath.unlink()
    loaded = load_in_transaction(
        engine, lambda conn: _load(conn, placed, code, batch=batch, progress=progress),
        str(path))
    return _report(table, src, spec, code, lookup, checked, placed, loaded,
                   str(rpath) if len(checked.rejects) else None)


def import_records(engine: Engine, items: list[dict[str, Any]], source: str | None = None,
                   crs: str | None = None, fix_swapped: bool | None = None,
                   adcode: str | None = None, now: datetime | None = None,
                   authorize: Callable[[str, pd.DataFrame], None] | None = None,
                   ) -> IntakeReport:
    """Validate JSON records (the HTTP endpoint) and load them if ALL are good.

    ``source`` is used for items without their own ``source`` field. When any item is bad,
    nothing is loaded and the report's ``rejects`` (``row`` = item index from 0) say why;
    otherwise ``outcomes`` gives each item's incident id, status, placement (coordinates |
    address | review | none) and review id (when this request queued one).

    ``authorize(adcode, rows)``, when given, is called with the county and the placed rows
    (``source``, ``village_code``, ``group_code``, …, in item order) before anything is
    written; whatever it raises (e.g. PermissionDenied for an item outside an API token's
    unit) propagates and nothing is loaded.
    """
    per_item = np.array([str(it.get("source") or source or "").strip() for it in items],
                        dtype=object)
    table = records_table([{k: v for k, v in it.items() if k not in ("source", "crs")}
                           for it in items])
    spec = _spec(crs, table)
    with engine.connect() as conn:
        code, lookup = target(conn, adcode)
        checked = check_rows(table, per_item, spec, lookup, fix_swapped, now)
        label = ",".join(sorted(set(per_item))) or "api"
        if len(checked.rejects):
            return _report(table, label, spec, code, lookup, checked, None, None, None)
        placed = place_rows(conn, checked.good, code)
    if authorize is not None:
        authorize(code, placed.frame)
    loaded = load_in_transaction(
        engine, lambda conn: _load(conn, placed, code, all_outcomes=True),
        f"{len(items)} record(s) from {label}")
    return _report(table, label, spec, code, lookup, checked, placed, loaded, None)
