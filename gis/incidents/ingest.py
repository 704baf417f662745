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


def _ingest_via_temp(conn: Connection, df: pd.DataFrame, adcode: str, lookup: GridLookup,
                     batch: int, progress: Callable[[int], None] | None) -> IngestSummary:
    """The general path: COPY into a temporary table, then ``insert … on conflict do nothing``."""
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
                   _text(part, "village_code"), _text(part, "group_code"),
                   _text(part, "location_flag"), hexes,
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


# --- fast path: COPY straight into incident ------------------------------------------------

_OPTIONAL_TIMES = ("reported_at", "resolved_at", "closed_at")
_OPTIONAL_TEXT = ("address", "description", "reporter", "satisfaction", "feedback")


def _escape(t: pd.Series) -> pd.Series:
    if t.str.contains(r"[\\\t\n\r]", regex=True).any():
        for a, b in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            t = t.str.replace(a, b, regex=False)
    return t


def copy_text(values: object) -> list[str]:
    """Values as COPY text fields: backslash, tab, newline, CR escaped; None / NaN -> \\N.

    Repeated values (kinds, grid codes, flags) are escaped once (``pd.factorize``).
    """
    s = values.astype(object) if isinstance(values, pd.Series) else pd.Series(values,
                                                                               dtype=object)
    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    if len(uniq) <= len(s) // 2:
        esc = _escape(pd.Series(uniq, dtype=object).astype(str)).to_numpy(dtype=object)
        return np.append(esc, "\\N").astype(object)[codes].tolist()
    na = s.isna().to_numpy()
    out = _escape(s.astype(str)).to_numpy(dtype=object)
    out[na] = "\\N"
    return out.tolist()


def copy_times(values: pd.Series) -> list[str]:
    """Times as UTC ISO text for COPY (naive times are taken as UTC); NaT -> \\N."""
    ts = pd.to_datetime(values, utc=True, errors="coerce")
    arr = ts.dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    ok = ~np.isnat(arr)
    whole = not (arr[ok].astype(np.int64) % 1_000_000).any()  # shorter text, faster parse
    out = np.datetime_as_string(arr, unit="s" if whole else "us", timezone="UTC").astype(object)
    out[np.isnat(arr)] = "\\N"
    return out.tolist()


def copy_points(lon: np.ndarray, lat: np.ndarray) -> list[str]:
    """Hex EWKB of points in the storage SRID (built in bulk, no shapely objects); NaN -> \\N."""
    n = len(lon)
    arr = np.empty(n, dtype=[("h", "S5"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])
    arr["h"] = bytes.fromhex("0101000020")  # little endian, Point, with SRID
    arr["srid"] = settings.STORAGE_SRID
    arr["x"], arr["y"] = lon, lat
    hx = arr.tobytes().hex().upper()
    out = np.array([hx[i:i + 50] for i in range(0, 50 * n, 50)], dtype=object)
    out[np.isnan(lon) | np.isnan(lat)] = "\\N"
    return out.tolist()


def _lines(columns: list[list[str]]) -> str:
    """COPY text of equally long columns; runs of adjacent constant columns are joined once."""
    merged: list[list[str]] = []
    run: list[str] = []
    for c in columns:
        if c and len(set(c)) == 1:
            run.append(c[0])
            continue
        if run:
            merged.append(["\t".join(run)] * len(c))
            run = []
        merged.append(c)
    if run:
        merged.append(["\t".join(run)] * len(columns[0]))
    return "\n".join(map("\t".join, zip(*merged, strict=True))) + "\n"


def _new_rows(conn: Connection, df: pd.DataFrame) -> np.ndarray:
    """Rows whose (source, source_id) is not stored yet and not repeated earlier in ``df``."""
    new = ~df.duplicated(subset=["source", "source_id"], keep="first").to_numpy()
    for src in pd.unique(df["source"].astype(str)):
        conn.execute(sa.text("select pg_advisory_xact_lock(hashtext('incident:' || :s))"),
                     {"s": src})
        if conn.execute(sa.text("select exists (select 1 from incident where source = :s)"),
                        {"s": src}).scalar():
            mask = (df["source"].astype(str) == src).to_numpy()
            ids = pd.unique(df.loc[mask, "source_id"].astype(str)).tolist()
            have = set(conn.execute(sa.text(
                "select source_id from incident where source = :s and source_id = any(:ids)"),
                {"s": src, "ids": ids}).scalars())
            new &= ~(mask & df["source_id"].astype(str).isin(have).to_numpy())
    return new


def _secondary_indexes(conn: Connection) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of ``incident`` that back no constraint."""
    return [tuple(r) for r in conn.execute(sa.text("""
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        from pg_index i where i.indrelid = 'incident'::regclass
          and not i.indisprimary and not i.indisunique
          and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
        order by 1""")).all()]


def _unique_constraints(conn: Connection) -> list[tuple[str, str]]:
    """(name, definition) of the unique constraints of ``incident`` no foreign key uses."""
    return [tuple(r) for r in conn.execute(sa.text("""
        select c.conname, pg_get_constraintdef(c.oid) from pg_constraint c
        where c.conrelid = 'incident'::regclass and c.contype = 'u'
          and not exists (select 1 from pg_constraint f
                          where f.contype = 'f' and f.conindid = c.conindid)
        order by 1""")).all()]


def _rebuild_indexes(conn: Connection, n_new: int) -> bool:
    """Whether a load of ``n_new`` rows should drop and rebuild the secondary indexes."""
    if n_new < settings.INGEST_REBUILD_MIN_ROWS:
        return False
    est = conn.execute(sa.text(
        "select greatest(reltuples, 0) from pg_class where oid = 'incident'::regclass")).scalar()
    return n_new >= settings.INGEST_REBUILD_RATIO * float(est or 0)


def _copy_direct(conn: Connection, df: pd.DataFrame, adcode: str, lookup: GridLookup,
                 batch: int, progress: Callable[[int], None] | None, total: int,
                 tally: list[pd.Series] | None = None) -> int:
    """COPY ``df`` straight into ``incident``; rows outside every grid. With ``tally`` a list,
    the row counts per (village, group, status) of each batch are appended to it."""
    from psycopg.copy import QueuedLibpqWriter

    cols = ["adcode", "status", "source", "source_id", "kind", "occurred_at", "village_code",
            "group_code", "location_flag", "geom"]  # likely constant columns side by side
    cols += [c for c in (*_OPTIONAL_TIMES, *_OPTIONAL_TEXT) if c in df.columns]
    names = ", ".join(f'"{c}"' for c in cols)
    raw = conn.connection.driver_connection
    outside = 0
    with raw.cursor() as cur, cur.copy(f"COPY incident ({names}) FROM STDIN",
                                         writer=QueuedLibpqWriter(cur)) as cp:
        for start in range(0, len(df), batch):
            part = geocode_frame(df.iloc[start:start + batch], lookup)
            outside += int((part["location_flag"] == "outside").sum())
            n = len(part)
            lon = pd.to_numeric(part["lon"], errors="coerce").to_numpy(dtype=float)
            lat = pd.to_numeric(part["lat"], errors="coerce").to_numpy(dtype=float)
            status = part["status"].fillna("received") if "status" in part else \
                ["received"] * n
            fields = {
                "adcode": [adcode] * n, "source": copy_text(part["source"]),
                "source_id": copy_text(part["source_id"]), "kind": copy_text(part["kind"]),
                "occurred_at": copy_times(part["occurred_at"]), "status": copy_text(status),
                "village_code": copy_text(part["village_code"]),
                "group_code": copy_text(part["group_code"]),
                "location_flag": copy_text(part["location_flag"]),
                "geom": copy_points(lon, lat)}
            for c in _OPTIONAL_TIMES:
                if c in part:
                    fields[c] = copy_times(part[c])
            for c in _OPTIONAL_TEXT:
                if c in part:
                    fields[c] = copy_text(part[c])
            text = _lines([fields[c] for c in cols])
            cp.write(text.encode())
            if tally is not None:
                keys = pd.DataFrame({"village_code": part["village_code"].to_numpy(),
                                     "group_code": part["group_code"].to_numpy(),
                                     "status": pd.Series(status).to_numpy()})
                tally.append(keys.groupby(list(keys.columns), dropna=False).size())
            if progress:
                progress(min(start + batch, total))
    return outside


TALLY_KEY = "adcode, village_code, group_code, status, level"
"""Columns of ``incident_tally`` (migration 0009) that a bulk load adds its counts under."""


def _add_tally(conn: Connection, adcode: str, counts: list[pd.Series]) -> None:
    """Add the row counts of a bulk load to ``incident_tally`` (level: the default, village)."""
    if not counts:
        return
    total = pd.concat(counts).groupby(level=[0, 1, 2], dropna=False).sum()
    rows = [{"a": adcode, "v": None if pd.isna(v) else str(v),
             "g": None if pd.isna(g) else str(g), "s": str(st), "n": int(n)}
            for (v, g, st), n in total.items()]
    conn.execute(sa.text(f"insert into incident_tally ({TALLY_KEY}, n) "
                         "values (:a, :v, :g, :s, 'village', :n)"), rows)


def _tally_trigger(conn: Connection) -> bool:
    """Whether ``incident`` has the tally trigger of migration 0009 (and we own the table)."""
    return bool(conn.execute(sa.text(
        "select exists (select 1 from pg_trigger t join pg_class c on c.oid = t.tgrelid "
        "where c.relname = 'incident' and t.tgname = 'incident_tally_ins' "
        "and pg_has_role(c.relowner, 'USAGE'))")).scalar_one())


def ingest_frame(conn: Connection, df: pd.DataFrame, adcode: str, lookup: GridLookup,
                 batch: int = 25_000,
                 progress: Callable[[int], None] | None = None) -> IngestSummary:
    """Geocode and insert incidents inside the caller's transaction.

    ``df`` needs source, source_id, kind, occurred_at (tz-aware or UTC), lon, lat (EPSG:4490
    degrees); optional reported_at, status, address, description, reporter, resolved_at,
    closed_at, satisfaction, feedback. Rows whose (source, source_id) already exist (or
    repeat an earlier row of ``df``) are skipped, so a re-run adds nothing twice.

    Fast path: the new rows are found first (an advisory lock per source keeps concurrent
    ingests of one source apart), then COPYed straight into ``incident`` in batches, text
    built in bulk and sent by a writer thread while the next batch is prepared. A load of at
    least ``settings.INGEST_REBUILD_MIN_ROWS`` rows and ``settings.INGEST_REBUILD_RATIO``
    times the table's size drops the secondary indexes and rebuilds them afterwards (faster
    than maintaining them row by row; readers of ``incident`` wait until the commit). If a
    unique violation still happens (a writer that takes no lock), the batch falls back to the
    general path: COPY into a temporary table, then ``insert … on conflict do nothing``.
    ``progress`` is called with the number of rows done after each batch. Small batches
    (default 25,000) keep the database busy while the next batch is formatted.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        msg = f"incident rows lack column(s) {missing}; required: {REQUIRED}"
        raise ValueError(msg)
    import psycopg

    df = df.reset_index(drop=True)
    new = _new_rows(conn, df)
    todo = df[new]
    try:
        with conn.begin_nested():
            rebuild = _rebuild_indexes(conn, len(todo))
            indexes = _secondary_indexes(conn) if rebuild else []
            uniques = _unique_constraints(conn) if rebuild else []
            for name, _ in indexes:
                conn.execute(sa.text(f"drop index {name}"))
            for name, _ in uniques:
                conn.execute(sa.text(f'alter table incident drop constraint "{name}"'))
            if rebuild:
                conn.execute(sa.text("set local maintenance_work_mem = '256MB'"))
            tally = rebuild and _tally_trigger(conn)
            counts: list[pd.Series] | None = [] if tally else None
            if tally:  # the counts come from the batches, not from a transition table
                conn.execute(sa.text("alter table incident disable trigger incident_tally_ins"))
            outside = _copy_direct(conn, todo, adcode, lookup, batch, progress, len(df), counts)
            if tally:
                _add_tally(conn, adcode, counts or [])
                conn.execute(sa.text("alter table incident enable trigger incident_tally_ins"))
            for name, definition in uniques:  # fails (→ general path) on any duplicate
                conn.execute(sa.text(f'alter table incident add constraint "{name}" {definition}'))
            for _, definition in indexes:
                conn.execute(sa.text(definition))
    except (psycopg.errors.UniqueViolation, sa.exc.IntegrityError):
        summary = _ingest_via_temp(conn, df, adcode, lookup, batch, progress)
        return summary
    if progress:
        progress(len(df))
    return IngestSummary(rows=len(df), inserted=len(todo), duplicates=len(df) - len(todo),
                         outside=outside)
