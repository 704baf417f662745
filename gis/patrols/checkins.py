"""Patrol check-ins (打卡): read, check, place in grids and store (idempotent).

Inputs: CSV (UTF-8 / GBK) / XLSX / GeoJSON points with columns 编号/id (optional: the row
number is used without it, ``row-<n>``), 时间/time, 经度/lon, 纬度/lat (GeoJSON: the
point), and optionally team (队伍/巡逻队), officer (巡逻人/民警), patrol (巡逻编号: the
``source_id`` of the patrol it belongs to) and note (备注); or the waypoints of a GPX file
(``wpt-<n>``, their ``<time>``, the name as note).

Linking to a patrol: the ``patrol`` column names the patrol's id in the tracks' source
(``patrol_source``, default the check-ins' own source). Without it, a check-in with a team
is linked to the one patrol of that team whose time span contains the check-in's time (none
or several: not linked). Unlinked check-ins still count as visits of the key areas they are
in (:mod:`gis.patrols.compliance`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import InputFileError
from gis.crs import CrsSpec
from gis.geocode_csv import to_storage_xy
from gis.incidents.intake_read import GEOM_ERROR, read_table
from gis.patrols.read import Reject, parse_one_time, read_gpx_waypoints
from gis.patrols.tracks import assign_grids, ewkb_point
from gis.store.bulk import copy_rows

ALIASES: dict[str, tuple[str, ...]] = {
    "team": ("team", "队伍", "巡逻队", "巡逻组"),
    "officer": ("officer", "巡逻人", "巡逻人员", "民警", "人员"),
    "patrol": ("patrol", "patrol_id", "巡逻编号", "轨迹编号"),
    "note": ("note", "备注", "说明"),
}
"""Optional check-in columns → accepted names (case and spaces ignored)."""

FIELDS = ["feature", "source_id", "time", "lon", "lat", "team", "officer", "patrol", "note",
          "geom_error"]
COLUMNS = ["adcode", "source", "source_id", "patrol_id", "team", "officer", "note",
           "checked_at", "village_code", "group_code", "location_flag", "geom"]


def _norm(name: object) -> str:
    return "".join(str(name).split()).lower()


def read_checkins(path: str | Path) -> tuple[pd.DataFrame, str | None]:
    """Check-in records of a file (columns :data:`FIELDS`, cells as read) and the CRS the
    file declares (GeoJSON only)."""
    p = Path(path)
    if p.suffix.lower() == ".gpx":
        recs = read_gpx_waypoints(p)
        df = pd.DataFrame(recs, columns=["feature", "source_id", "lon", "lat", "time", "note"])
        for c in FIELDS:
            if c not in df:
                df[c] = None
        return df[FIELDS], None
    table = read_table(p)
    cells, cols = table.cells, table.columns
    have = {_norm(c): c for c in cells.columns}
    for fld, names in ALIASES.items():
        col = next((have[_norm(n)] for n in names if _norm(n) in have), None)
        if col is not None:
            cols[fld] = col
    missing = [f for f in ("occurred_at", "lon", "lat") if f not in cols]
    if missing:
        msg = f"{p}: no column for {', '.join(missing)} (time: 时间/time; lon: 经度/lon; " \
              "lat: 纬度/lat); check-ins need a time and a position"
        raise InputFileError(msg)

    def col(fld: str) -> list:
        c = cols.get(fld)
        return [None if c is None or v == "" else v for v in
                (cells[c] if c is not None else [None] * len(cells))]

    sid = [s if s else f"row-{r}" for s, r in zip(col("source_id"), table.rows, strict=True)]
    df = pd.DataFrame({"feature": table.rows, "source_id": sid, "time": col("occurred_at"),
                       "lon": col("lon"), "lat": col("lat"), "team": col("team"),
                       "officer": col("officer"), "patrol": col("patrol"), "note": col("note"),
                       "geom_error": list(cells[GEOM_ERROR]) if GEOM_ERROR in cells
                       else [None] * len(cells)})
    return df, table.declared_crs


TEXT_LIMITS: tuple[tuple[str, str], ...] = (
    ("source_id", "INTAKE_MAX_TEXT_CHARS"), ("team", "INTAKE_MAX_TEXT_CHARS"),
    ("officer", "INTAKE_MAX_TEXT_CHARS"), ("patrol", "INTAKE_MAX_TEXT_CHARS"),
    ("note", "INTAKE_MAX_DESCRIPTION_CHARS"))
"""Text columns of a check-in and the setting that limits their length (characters)."""


def _too_long(row: object) -> tuple[str, str] | None:
    """(field, reason) of the first text value of ``row`` over its length limit."""
    for fld, name in TEXT_LIMITS:
        value, limit = getattr(row, fld), int(getattr(settings, name))
        if isinstance(value, str) and len(value) > limit:
            why = f"too_long: {fld} has {len(value):,} characters, more than the limit of " \
                  f"{limit:,} (settings.{name}); shorten it"
            return fld, why
    return None


def _num(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _time_of(value: object) -> float | None:
    """Epoch seconds of a cell: a datetime (GPX; naive = UTC) or a text / number."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return parse_one_time(value)


def check_checkins(df: pd.DataFrame, spec: CrsSpec,
                   now: datetime | None = None) -> tuple[pd.DataFrame, list[Reject]]:
    """Checked check-ins (``checked_at`` UTC, lon / lat in storage degrees) and rejects."""
    now = now or datetime.now(UTC)
    limit = (now + timedelta(minutes=settings.INTAKE_FUTURE_TOLERANCE_MIN)).timestamp()
    rejects: list[Reject] = []
    keep, when, seen = [], [], set()
    lon = np.array([_num(v) for v in df["lon"]], dtype=float)
    lat = np.array([_num(v) for v in df["lat"]], dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = np.full(len(df), np.nan), np.full(len(df), np.nan)
    if ok.any():
        cx, cy = to_storage_xy(lon[ok], lat[ok], spec)
        x[ok], y[ok] = cx, cy
    id_limit = settings.INTAKE_MAX_TEXT_CHARS
    for i, r in enumerate(df.itertuples(index=False)):
        def rej(fld: str, why: str, r=r) -> None:
            sid = r.source_id if not isinstance(r.source_id, str) or \
                len(r.source_id) <= id_limit else r.source_id[:id_limit] + "…"
            rejects.append(Reject(int(r.feature), sid, fld, why))

        t = _time_of(r.time)
        long = _too_long(r)
        if long is not None:
            rej(*long)
        elif r.geom_error:
            rej("geometry", f"bad_coordinates: {r.geom_error}")
        elif not ok[i]:
            rej("lon/lat", "bad_coordinates: longitude / latitude missing or not numbers")
        elif abs(x[i]) > 180 or abs(y[i]) > 90 or (x[i] == 0 and y[i] == 0):
            rej("lon/lat", f"bad_coordinates: ({lon[i]!r}, {lat[i]!r}) is not a position on "
                           "Earth or is (0, 0)")
        elif t is None:
            rej("time", f"bad_time: {r.time!r} is not a time")
        elif t > limit:
            rej("time", "future_time: the check-in is in the future")
        elif r.source_id in seen:
            rej("id", f"duplicate_id: id {r.source_id!r} is used by an earlier row")
        else:
            seen.add(r.source_id)
            keep.append(i)
            when.append(t)
    good = df.iloc[keep].drop(columns=["time", "geom_error"]).reset_index(drop=True)
    good["lon"], good["lat"] = x[keep], y[keep]
    good["checked_at"] = pd.to_datetime(np.round(np.array(when, dtype=float) * 1e6)
                                        .astype(np.int64), unit="us", utc=True)
    return good, rejects


def insert_checkins(conn: Connection, good: pd.DataFrame, adcode: str, source: str,
                    patrol_source: str | None = None) -> pd.DataFrame:
    """Place check-ins in grids, link them to patrols and insert the new ones (idempotent by
    ``(source, source_id)``, in the caller's transaction). Returns ``good`` with
    ``patrol_id``, grid columns and ``new``."""
    placed = assign_grids(conn, adcode, good, "checked_at")
    if placed.empty:
        return placed.assign(patrol_id=pd.Series(dtype="Int64"), new=pd.Series(dtype=bool))
    psrc = patrol_source or source
    ids = dict(conn.execute(sa.text(
        "select source_id, id from patrol where source = :s and adcode = :a"),
        {"s": psrc, "a": adcode}).all()) if placed["patrol"].notna().any() else {}
    conn.execute(sa.text("create temp table if not exists patrol_checkin_in "
                         "(like patrol_checkin including defaults) on commit drop"))
    conn.execute(sa.text("alter table patrol_checkin_in drop column if exists id"))
    conn.execute(sa.text("truncate patrol_checkin_in"))

    def txt(v: object) -> object:
        return None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)

    rows = ((adcode, source, str(r.source_id),
             ids.get(str(r.patrol)) if txt(r.patrol) is not None else None,
             txt(r.team), txt(r.officer), txt(r.note), r.checked_at.isoformat(),
             txt(r.village_code), txt(r.group_code), r.location_flag, ewkb_point(r.lon, r.lat))
            for r in placed.itertuples(index=False))
    copy_rows(conn, "patrol_checkin_in", COLUMNS, rows)
    # no patrol named: the one patrol of the same team whose time span holds the check-in
    conn.execute(sa.text("""
        update patrol_checkin_in c set patrol_id = m.id
        from (select i.source_id, min(p.id) as id, count(*) as n
              from patrol_checkin_in i join patrol p on p.adcode = i.adcode
               and p.team = i.team and i.checked_at between p.started_at and p.ended_at
              where i.patrol_id is null and i.team is not null group by i.source_id) m
        where c.source_id = m.source_id and m.n = 1"""))
    linked = dict(conn.execute(sa.text(
        "select source_id, patrol_id from patrol_checkin_in")).all())
    cols = ", ".join(COLUMNS)
    new = set(conn.execute(sa.text(
        f"insert into patrol_checkin ({cols}) select {cols} from patrol_checkin_in "
        "on conflict (source, source_id) do nothing returning source_id")).scalars())
    conn.execute(sa.text("truncate patrol_checkin_in"))
    placed["patrol_id"] = pd.array([linked.get(str(s)) for s in placed["source_id"]],
                                   dtype="Int64")
    return placed.assign(new=placed["source_id"].astype(str).isin(new))
