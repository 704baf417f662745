"""Bulk ingest of incidents: geocode into grids, COPY into PostGIS, idempotent by source id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis.grids.lookup import GridLookup
from gis.store.bulk import copy_rows

COLUMNS = ["adcode", "source", "source_id", "kind", "occurred_at", "reported_at", "status",
           "address", "description", "reporter", "village_code", "group_code",
           "location_flag", "geom", "resolved_at", "closed_at", "satisfaction", "feedback"]

REQUIRED = ["source", "source_id", "kind", "occurred_at", "lon", "lat"]


@dataclass
class IngestSummary:
    """Counts of an ingest: rows offered, inserted, skipped as already present, outside."""

    rows: int
    inserted: int
    duplicates: int
    outside: int


def geocode_frame(df: pd.DataFrame, lookup: GridLookup) -> pd.DataFrame:
    """Add ``group_code``, ``village_code`` and ``location_flag`` (ok | outside | no_location)."""
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float)
    pos = lookup.locate(lon, lat)
    inside = pos >= 0
    out = df.copy()
    group = np.full(len(df), None, dtype=object)
    village = np.full(len(df), None, dtype=object)
    group[inside] = lookup.group_codes[pos[inside]]
    village[inside] = lookup.village_codes[pos[inside]]
    flag = np.where(inside, "ok", "outside").astype(object)
    flag[np.isnan(lon) | np.isnan(lat)] = "no_location"
    out["group_code"], out["village_code"], out["location_flag"] = group, village, flag
    return out


def _iso(values: pd.Series) -> list[str | None]:
    ts = pd.to_datetime(values, utc=True, errors="coerce")
    return [None if pd.isna(t) else t.isoformat() for t in ts]


def _iso_opt(df: pd.DataFrame, col: str) -> list[str | None]:
    return _iso(df[col]) if col in df else [None] * len(df)


def _text(df: pd.DataFrame, col: str) -> list[object]:
    if col not in df:
        return [None] * len(df)
    return [None if (v is None or (not isinstance(v, str) and pd.isna(v))) else str(v)
            for v in df[col]]


def ingest_frame(conn: Connection, df: pd.DataFrame, adcode: str, lookup: GridLookup,
                 batch: int = 200_000,
                 progress: Callable[[int], None] | None = None) -> IngestSummary:
    """Geocode and insert incidents inside the caller's transaction.

    ``df`` needs source, source_id, kind, occurred_at (tz-aware or UTC), lon, lat (EPSG:4490
    degrees); optional reported_at, status, address, description, reporter, resolved_at,
    closed_at, satisfaction, feedback. Rows whose
    (source, source_id) already exist are skipped, so a re-run adds nothing twice. Rows are
    COPYed into a temporary table in batches, then moved with ``on conflict do nothing``.
    ``progress`` is called with the number of rows done after each batch.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        msg = f"incident rows lack column(s) {missing}; required: {REQUIRED}"
        raise ValueError(msg)
    conn.execute(sa.text("create temp table if not exists incident_in "
                         "(like incident including defaults) on commit drop"))
    conn.execute(sa.text("alter table incident_in drop column if exists id"))
    conn.execute(sa.text("truncate incident_in"))
    outside = 0
    for start in range(0, len(df), batch):
        part = geocode_frame(df.iloc[start:start + batch], lookup)
        outside += int((part["location_flag"] == "outside").sum())
        lon = pd.to_numeric(part["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(part["lat"], errors="coerce").to_numpy(dtype=float)
        pts = shapely.points(lon, lat)
        pts[np.isnan(lon) | np.isnan(lat)] = None
        hexes = shapely.to_wkb(shapely.set_srid(pts, settings.STORAGE_SRID), hex=True,
                               include_srid=True)
        status = _text(part, "status")
        rows = zip([adcode] * len(part), _text(part, "source"), _text(part, "source_id"),
                   _text(part, "kind"), _iso(part["occurred_at"]),
                   _iso(part["reported_at"]) if "reported_at" in part else [None] * len(part),
                   [s or "received" for s in status], _text(part, "address"),
                   _text(part, "description"), _text(part, "reporter"),
                   part["village_code"], part["group_code"], part["location_flag"], hexes,
                   _iso_opt(part, "resolved_at"), _iso_opt(part, "closed_at"),
                   _text(part, "satisfaction"), _text(part, "feedback"),
                   strict=True)
        copy_rows(conn, "incident_in", COLUMNS, rows)
        if progress:
            progress(min(start + batch, len(df)))
    cols = ", ".join(COLUMNS)
    inserted = conn.execute(sa.text(
        f"insert into incident ({cols}) select {cols} from incident_in "
        "on conflict (source, source_id) do nothing")).rowcount
    conn.execute(sa.text("truncate incident_in"))
    return IngestSummary(rows=len(df), inserted=inserted, duplicates=len(df) - inserted,
                         outside=outside)
