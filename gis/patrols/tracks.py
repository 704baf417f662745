"""Check patrol tracks, place them in grids and write them to ``patrol`` (idempotent).

Checks of a track (code of the rejected-features file in brackets): positions on Earth
and not (0, 0) (``bad_coordinates``); at least :data:`gis.settings.PATROL_MIN_POINTS`
timed points (``too_few_points``); times never going backwards along the track, parts
included (``time_backwards``); not in the future beyond
:data:`gis.settings.INTAKE_FUTURE_TOLERANCE_MIN` (``future_time``); an id used once per file
(``duplicate_id``). A track starting outside every grid is kept, flagged ``outside``.

**Which point decides a patrol's grid**: the first point of the track (its start, also
stored in ``patrol.geom``), placed in the group grid of the version in force on the Beijing
date of ``started_at`` (boundary rule as everywhere: smallest code wins), and that group's
village. A later grid publish re-assigns patrols dated on or after its effective date with
the same point (:mod:`gis.grids.publish`). Patrols before the county's first version get no
grid (``location_flag`` ``no_grid``).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyproj
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis.crs import CrsSpec
from gis.geocode_csv import to_storage_xy
from gis.grids.lookup import lookup_for_version
from gis.incidents.ingest import geocode_frame
from gis.patrols.read import Reject, TrackIn, Tracks
from gis.patrols.times import from_epoch, is_night, local_tz
from gis.store.bulk import copy_rows

GEOD = pyproj.Geod(ellps="WGS84")

COLUMNS = ["adcode", "source", "source_id", "name", "team", "officer", "started_at",
           "ended_at", "night", "n_points", "length_m", "village_code", "group_code",
           "location_flag", "track", "geom"]
"""Columns written to ``patrol``."""

_M_FLAG, _SRID_FLAG = 0x40000000, 0x20000000


def ewkb_multilinestring_m(parts: list[np.ndarray], srid: int = settings.STORAGE_SRID) -> str:
    """Hex EWKB of a MultiLineString M from parts of (x, y, m) rows (built with numpy)."""
    head = struct.pack("<BII", 1, 5 | _M_FLAG | _SRID_FLAG, srid) + struct.pack("<I", len(parts))
    body = b"".join(struct.pack("<BII", 1, 2 | _M_FLAG, len(p))
                    + np.ascontiguousarray(p[:, :3], dtype="<f8").tobytes() for p in parts)
    return (head + body).hex()


def ewkb_point(x: float, y: float, srid: int = settings.STORAGE_SRID) -> str:
    """Hex EWKB of a point."""
    return struct.pack("<BIIdd", 1, 1 | _SRID_FLAG, srid, x, y).hex()


def track_length_m(parts: list[np.ndarray]) -> float:
    """Geodesic length (WGS84 ellipsoid) of a track's parts of (lon, lat, …) rows, metres."""
    return float(sum(GEOD.line_length(p[:, 0], p[:, 1]) for p in parts if len(p) > 1))


def _check_one(t: TrackIn, spec: CrsSpec,
               limit: float) -> tuple[list[np.ndarray] | None, Reject | None]:
    def rej(fld: str, code: str, why: str) -> tuple[None, Reject]:
        return None, Reject(t.feature, t.source_id, fld, f"{code}: {why}")

    n = sum(len(p) for p in t.parts)
    if n < settings.PATROL_MIN_POINTS or not t.parts:
        return rej("geometry", "too_few_points",
                   f"{n} timed point(s) in parts of 2 or more; a track needs at least "
                   f"{settings.PATROL_MIN_POINTS}")
    allp = np.concatenate(t.parts)
    if not np.isfinite(allp).all():
        return rej("geometry", "bad_coordinates", "a coordinate or time is not a number")
    x, y = to_storage_xy(allp[:, 0].copy(), allp[:, 1].copy(), spec)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    bad = (np.abs(x) > 180) | (np.abs(y) > 90) | ((x == 0) & (y == 0)) | ~np.isfinite(x + y)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        lon, lat = float(allp[k, 0]), float(allp[k, 1])
        swapped = spec.is_geographic and abs(lat) <= 180 and abs(lon) <= 90 < abs(lat)
        return rej("geometry", "bad_coordinates",
                   f"vertex {k + 1} ({lon!r}, {lat!r}) is not a position on Earth "
                   "or is (0, 0)" + ("; lat/lon look swapped: longitude comes first"
                                     if swapped else ""))
    tt = allp[:, 2]
    back = np.flatnonzero(np.diff(tt) < 0)
    if len(back):
        k = int(back[0]) + 1
        return rej("time", "time_backwards",
                   f"time of vertex {k + 1} ({from_epoch(tt[k])[0].isoformat()}) is earlier "
                   f"than vertex {k} ({from_epoch(tt[k - 1])[0].isoformat()})")
    if tt[-1] > limit:
        return rej("time", "future_time",
                   f"the track ends at {from_epoch(tt[-1])[0].isoformat()}, in the future")
    out, i = [], 0
    for p in t.parts:
        out.append(np.column_stack([x[i:i + len(p)], y[i:i + len(p)], p[:, 2]]))
        i += len(p)
    return out, None


def check_tracks(tracks: Tracks, spec: CrsSpec,
                 now: datetime | None = None) -> tuple[pd.DataFrame, list[Reject]]:
    """Checked tracks in storage coordinates, and the rejects (read ones included).

    Returns
    -------
    (good, rejects)
        ``good``: one row per track with feature, source_id, name, team, officer,
        started_at, ended_at (UTC), night, n_points, length_m, lon / lat of the start and
        ``parts`` (list of (lon, lat, epoch seconds) arrays, EPSG:4490).
    """
    now = now or datetime.now(UTC)
    limit = (now + timedelta(minutes=settings.INTAKE_FUTURE_TOLERANCE_MIN)).timestamp()
    rejects = list(tracks.rejects)
    rows, seen = [], set()
    for t in tracks.tracks:
        if t.source_id in seen:
            rejects.append(Reject(t.feature, t.source_id, "id",
                                  f"duplicate_id: id {t.source_id!r} is used by an earlier "
                                  "feature of this file"))
            continue
        seen.add(t.source_id)
        parts, r = _check_one(t, spec, limit)
        if r is not None:
            rejects.append(r)
            continue
        rows.append({"feature": t.feature, "source_id": t.source_id, "name": t.name,
                     "team": t.team, "officer": t.officer,
                     "t0": parts[0][0, 2], "t1": parts[-1][-1, 2],
                     "n_points": int(sum(len(p) for p in parts)),
                     "lon": parts[0][0, 0], "lat": parts[0][0, 1], "parts": parts})
    for r, length in zip(rows, track_lengths_m([r["parts"] for r in rows]), strict=True):
        r["length_m"] = float(length)
    return frame_of(rows), sorted(rejects, key=lambda r: r.feature)


def frame_of(rows: list[dict]) -> pd.DataFrame:
    """Rows of checked tracks (with epoch ``t0`` / ``t1``) as the frame :func:`insert_patrols`
    takes: adds ``started_at``, ``ended_at`` and ``night``."""
    cols = ["feature", "source_id", "name", "team", "officer", "started_at", "ended_at",
            "night", "n_points", "length_m", "lon", "lat", "parts"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    df["started_at"] = from_epoch(df["t0"].to_numpy())
    df["ended_at"] = from_epoch(df["t1"].to_numpy())
    df["night"] = is_night(df["started_at"], df["ended_at"])
    return df[[c for c in cols if c in df.columns]]


def versions_by_day(conn: Connection, adcode: str, days: list) -> dict:
    """Id of the grid version of ``adcode`` in force on each day (None before the first),
    as :func:`gis.grids.versions.as_of` answers, with one query for all days."""
    rows = conn.execute(sa.text(
        "select id, effective_date, retired_from from grid_version where adcode = :a "
        "and status in ('published', 'retired') order by effective_date desc, id desc"),
        {"a": adcode}).all()
    return {d: next((int(i) for i, e, r in rows if e <= d and (r is None or r > d)), None)
            for d in days}


def track_lengths_m(tracks: list[list[np.ndarray]]) -> np.ndarray:
    """Geodesic lengths (WGS84) of many tracks at once (each a list of (lon, lat, …)
    parts), metres: one vectorised call over all vertices."""
    parts = [p for t in tracks for p in t]
    if not parts:
        return np.zeros(len(tracks))
    xy = np.concatenate(parts)[:, :2]
    seg = np.asarray(GEOD.line_lengths(xy[:, 0], xy[:, 1]), dtype=float)
    owner = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    seg[owner[1:] != owner[:-1]] = 0.0  # no segment between two parts
    part_len = np.bincount(owner[1:], seg, minlength=len(parts))
    track_of_part = np.repeat(np.arange(len(tracks)), [len(t) for t in tracks])
    return np.bincount(track_of_part, part_len, minlength=len(tracks))


def assign_grids(conn: Connection, adcode: str, df: pd.DataFrame, time_col: str) -> pd.DataFrame:
    """``village_code``, ``group_code``, ``location_flag`` of each row's ``lon`` / ``lat``
    in the grid version of ``adcode`` in force on the Beijing date of ``time_col``."""
    out = df.copy()
    out["village_code"] = pd.Series([None] * len(df), index=df.index, dtype=object)
    out["group_code"] = pd.Series([None] * len(df), index=df.index, dtype=object)
    out["location_flag"] = "no_grid"
    if df.empty:
        return out
    days = pd.to_datetime(df[time_col], utc=True).dt.tz_convert(local_tz()).dt.date
    vids = versions_by_day(conn, adcode, sorted(set(days)))
    vid_of = days.map(vids)
    for vid in sorted({v for v in vid_of if v is not None}):
        sel = (vid_of == vid).to_numpy()
        part = geocode_frame(df.loc[sel, ["lon", "lat"]], lookup_for_version(conn, vid))
        out.loc[sel, "village_code"] = part["village_code"].to_numpy()
        out.loc[sel, "group_code"] = part["group_code"].to_numpy()
        out.loc[sel, "location_flag"] = part["location_flag"].to_numpy()
    return out


def _iso(values: pd.Series) -> list[str]:
    return [t.isoformat() for t in pd.to_datetime(values, utc=True)]


def _txt(v: object) -> object:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def insert_patrols(conn: Connection, df: pd.DataFrame, adcode: str, source: str) -> pd.DataFrame:
    """Place checked tracks (:func:`check_tracks`) in grids and insert the new ones.

    Runs in the caller's transaction; rows whose ``(source, source_id)`` is already stored
    are skipped. Returns ``df`` with ``village_code``, ``group_code``, ``location_flag``,
    ``patrol_id`` (of the stored patrol, new or old) and ``new`` (inserted now).
    """
    placed = assign_grids(conn, adcode, df, "started_at")
    if placed.empty:
        return placed.assign(patrol_id=pd.Series(dtype="Int64"), new=pd.Series(dtype=bool))
    conn.execute(sa.text("create temp table if not exists patrol_in "
                         "(like patrol including defaults) on commit drop"))
    conn.execute(sa.text("alter table patrol_in drop column if exists id"))
    conn.execute(sa.text("truncate patrol_in"))
    rows = zip([adcode] * len(placed), [source] * len(placed),
               placed["source_id"].astype(str), map(_txt, placed["name"]),
               map(_txt, placed["team"]), map(_txt, placed["officer"]),
               _iso(placed["started_at"]), _iso(placed["ended_at"]),
               placed["night"].astype(bool), placed["n_points"].astype(int),
               placed["length_m"].astype(float), map(_txt, placed["village_code"]),
               map(_txt, placed["group_code"]), placed["location_flag"],
               (ewkb_multilinestring_m(p) for p in placed["parts"]),
               (ewkb_point(x, y) for x, y in zip(placed["lon"], placed["lat"], strict=True)),
               strict=True)
    copy_rows(conn, "patrol_in", COLUMNS, rows)
    cols = ", ".join(COLUMNS)
    new = set(conn.execute(sa.text(
        f"insert into patrol ({cols}) select {cols} from patrol_in "
        "on conflict (source, source_id) do nothing returning source_id")).scalars())
    ids = dict(conn.execute(sa.text(
        "select p.source_id, p.id from patrol p join patrol_in i "
        "on i.source = p.source and i.source_id = p.source_id")).all())
    conn.execute(sa.text("truncate patrol_in"))
    sid = placed["source_id"].astype(str)
    return placed.assign(patrol_id=sid.map(ids).astype("Int64"), new=sid.isin(new))
