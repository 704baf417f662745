"""Load accepted reports (intake) into incidents, merging repeated reports of one event.

Every report is COPYed into a temporary table, then, inside the caller's transaction:

1. reports whose ``(source, source_id)`` was already received (as a report or as an
   incident) are dropped — re-running a file adds nothing twice;
2. a report of the same kind within ``distance_m`` metres (geodesic, WGS84 spheroid) and
   ``window_min`` minutes of an existing incident is attached to the nearest such incident
   (SQL: ``ST_DWithin`` on geography behind an index-friendly ``&&`` box);
3. the remaining reports are clustered among themselves in time order: a report joins the
   nearest earlier report of the load that opened an incident, when within the same
   distance and window of it (candidate pairs from a KD-tree, exact geodesic check);
4. reports that join nothing open new incidents; every report lands in ``incident_report``.

The incident keeps the time and place of its first report. An incident created elsewhere
(bulk ingest) gets its own report row when a first extra report attaches to it.

Reports placed by address (``location_flag = 'address'``: their point is the grid's
representative point, not where it happened) are compared only with each other: a report
placed by address joins an incident placed by address in the same grid (same village and
group) of the same kind within the window; reports with coordinates never join them, nor
they those. Reports without a location never merge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis.grids.lookup import GridLookup
from gis.incidents.ingest import _iso, _text, geocode_frame
from gis.store.bulk import copy_rows

Progress = Callable[[str, int, int], None]

IN_COLUMNS = ["seq", "adcode", "source", "source_id", "kind", "occurred_at", "reported_at",
              "address", "description", "reporter", "village_code", "group_code",
              "location_flag", "geom", "raw"]
_INCIDENT_COLS = ("adcode, source, source_id, kind, occurred_at, reported_at, address, "
                  "description, reporter, village_code, group_code, location_flag, geom")
_EARTH_R = 6_371_008.8
_GEOD = pyproj.Geod(ellps="WGS84")


@dataclass
class LoadSummary:
    """What a load did: ``inserted`` new incidents, ``merged`` reports attached to an
    incident (existing, or opened by an earlier report of the same load), ``duplicates``
    already received before."""

    rows: int
    inserted: int
    merged: int
    duplicates: int
    outside: int
    no_location: int
    outcomes: pd.DataFrame | None = None
    """Per input position ``seq``: ``incident_id`` and ``status`` (created | merged |
    duplicate); only when asked for."""


def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _pairs(lon: np.ndarray, lat: np.ndarray, minutes: np.ndarray, kind: np.ndarray,
           distance_m: float, window_min: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i < j) of the same kind within ``distance_m`` and ``window_min``."""
    from scipy.spatial import cKDTree

    out_i, out_j = [], []
    for k in np.unique(kind):
        idx = np.flatnonzero(kind == k)
        if len(idx) < 2:
            continue
        t = (minutes[idx] - minutes[idx].min()) * (distance_m / window_min) if window_min > 0 \
            else np.zeros(len(idx))
        pts = np.column_stack([_unit_xyz(lon[idx], lat[idx]) * _EARTH_R, t])
        # chord <= arc; sphere vs spheroid differ < 0.6 %: the radius keeps a superset
        p = cKDTree(pts).query_pairs(distance_m * 1.01 * np.sqrt(2) + 1.0, output_type="ndarray")
        if len(p):
            out_i.append(idx[p[:, 0]])
            out_j.append(idx[p[:, 1]])
    if not out_i:
        return np.empty(0, int), np.empty(0, int), np.empty(0)
    i, j = np.concatenate(out_i), np.concatenate(out_j)
    keep = np.abs(minutes[i] - minutes[j]) <= window_min
    i, j = i[keep], j[keep]
    _, _, d = _GEOD.inv(lon[i], lat[i], lon[j], lat[j])
    keep = d <= distance_m
    return i[keep], j[keep], d[keep]


def cluster_reports(lon: np.ndarray, lat: np.ndarray, minutes: np.ndarray, kind: np.ndarray,
                    distance_m: float | None = None,
                    window_min: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clustering of reports in time order (ties: input order).

    A report joins the nearest (then closest in time, then earliest) earlier *seed* of the
    same kind within ``distance_m`` metres and ``window_min`` minutes; otherwise it is a
    seed itself. Returns the seed position of every report (itself for a seed) and its
    distance to the seed in metres (0 for a seed).
    """
    d_m = settings.INTAKE_DEDUPE_DISTANCE_M if distance_m is None else distance_m
    w = settings.INTAKE_DEDUPE_WINDOW_MIN if window_min is None else window_min
    n = len(lon)
    seed = np.arange(n)
    dist = np.zeros(n)
    if n < 2 or d_m <= 0:
        return seed, dist
    i, j, d = _pairs(lon, lat, minutes, kind, d_m, w)
    if not len(i):
        return seed, dist
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), minutes))] = np.arange(n)
    early = np.where(rank[i] < rank[j], i, j)
    late = np.where(rank[i] < rank[j], j, i)
    dt = np.abs(minutes[early] - minutes[late])
    order = np.lexsort((rank[early], dt, d, rank[late]))
    early, late, d = early[order], late[order], d[order]
    starts = np.flatnonzero(np.r_[True, late[1:] != late[:-1]])
    ends = np.r_[starts[1:], len(late)]
    for s, e in zip(starts, ends, strict=True):  # rows with earlier partners, in time order
        b = late[s]
        for k in range(s, e):  # partners sorted nearest first
            a = early[k]
            if seed[a] == a:
                seed[b], dist[b] = a, d[k]
                break
    return seed, dist


def _create_temp(conn: Connection) -> None:
    conn.execute(sa.text("""
        create temp table if not exists report_in (
          seq integer primary key, adcode varchar(6), source text, source_id text,
          kind varchar(32), occurred_at timestamptz, reported_at timestamptz, address text,
          description text, reporter text, village_code varchar(15), group_code varchar(20),
          location_flag varchar(16), geom geometry(Point, 4490), raw jsonb,
          incident_id bigint, seed_seq integer, distance_m double precision,
          merged boolean not null default false, status text) on commit drop"""))
    conn.execute(sa.text("create temp table if not exists report_seed (seq integer, "
                         "seed_seq integer, distance_m double precision) on commit drop"))
    conn.execute(sa.text("truncate report_in, report_seed"))


def _copy(conn: Connection, df: pd.DataFrame, adcode: str, lookup: GridLookup | None,
          batch: int, progress: Progress | None) -> tuple[int, int]:
    outside = no_loc = 0
    placed = "location_flag" in df.columns
    if not placed and lookup is None:
        msg = "load_reports: give a grid lookup, or rows placed already (location_flag, " \
              "village_code, group_code: gis.incidents.intake_place.place_rows)"
        raise ValueError(msg)
    for start in range(0, len(df), batch):
        part = df.iloc[start:start + batch] if placed else \
            geocode_frame(df.iloc[start:start + batch], lookup)
        outside += int((part["location_flag"] == "outside").sum())
        no_loc += int((part["location_flag"] == "no_location").sum())
        lon = part["lon"].to_numpy(dtype=float)
        lat = part["lat"].to_numpy(dtype=float)
        pts = shapely.points(lon, lat)
        pts[np.isnan(lon) | np.isnan(lat)] = None
        hexes = shapely.to_wkb(shapely.set_srid(pts, settings.STORAGE_SRID), hex=True,
                               include_srid=True)
        rows = zip(range(start, start + len(part)), [adcode] * len(part), _text(part, "source"),
                   _text(part, "source_id"), _text(part, "kind"), _iso(part["occurred_at"]),
                   _iso(part["reported_at"]), _text(part, "address"),
                   _text(part, "description"), _text(part, "reporter"),
                   _text(part, "village_code"), _text(part, "group_code"),  # NaN → NULL
                   _text(part, "location_flag"), hexes, _text(part, "raw"),
                   strict=True)
        copy_rows(conn, "report_in", IN_COLUMNS, rows)
        if progress:
            progress("copy", min(start + batch, len(df)), len(df))
    return outside, no_loc


_MATCH_EXISTING = """
update report_in r set incident_id = m.id, merged = true, distance_m = m.d
from (select r2.seq, c.id, c.d from report_in r2 cross join lateral (
        select i.id, st_distance(i.geom::geography, r2.geom::geography) as d
        from incident i
        where (i.adcode || '') = r2.adcode and (i.kind || '') = r2.kind  -- not these indexes
          and i.occurred_at between r2.occurred_at - make_interval(secs => :w)
                                and r2.occurred_at + make_interval(secs => :w)
          and i.geom && st_expand(r2.geom, :dx / greatest(cos(radians(st_y(r2.geom))), 0.01),
                                  :dy)
          and st_dwithin(i.geom::geography, r2.geom::geography, :d)
          and (i.location_flag = 'address') = (r2.location_flag = 'address')
          and (r2.location_flag <> 'address'
               or (i.village_code = r2.village_code
                   and i.group_code is not distinct from r2.group_code))
        order by d, abs(extract(epoch from i.occurred_at - r2.occurred_at)), i.id
        limit 1) c
      where r2.geom is not null) m
where r.seq = m.seq"""

_REPORT_COLS = ("adcode, source, source_id, kind, occurred_at, reported_at, address, "
                "description, reporter, location_flag, geom")

_BACKFILL = f"""
insert into incident_report ({_REPORT_COLS}, incident_id, received_at, raw)
select {_REPORT_COLS}, id, coalesce(reported_at, occurred_at), '{{"backfilled": true}}'::jsonb
from incident where id in (select incident_id from report_in where merged)
on conflict (source, source_id) do nothing"""


def _dedupe_keys(part: pd.DataFrame) -> np.ndarray:
    """Kind of each report; for reports placed by address, kind + grid (see the module doc)."""
    keys = part["kind"].to_numpy(dtype=object).copy()
    if "location_flag" not in part.columns:
        return keys
    by_addr = np.flatnonzero((part["location_flag"] == "address").to_numpy())
    village, group = _text(part, "village_code"), _text(part, "group_code")
    for i in by_addr:
        keys[i] = f"address|{keys[i]}|{village[i]}|{group[i]}"
    return keys


def load_reports(conn: Connection, df: pd.DataFrame, adcode: str, lookup: GridLookup | None,
                 distance_m: float | None = None, window_min: float | None = None,
                 batch: int | None = None, progress: Progress | None = None,
                 outcomes: bool | np.ndarray = False) -> LoadSummary:
    """Insert accepted reports (``validate_rows.GOOD_COLUMNS``) inside the caller's transaction.

    Rows are placed with ``lookup`` unless ``df`` is placed already (columns
    ``location_flag``, ``village_code``, ``group_code``, with ``lon`` / ``lat`` the point to
    store; see :func:`gis.incidents.intake_place.place_rows`); then ``lookup`` may be None.
    Row positions of ``df`` are the ``seq`` of :attr:`LoadSummary.outcomes`: all of them
    with ``outcomes=True``, those listed when ``outcomes`` is an array of positions.
    ``progress`` gets (stage, done, total) with stages ``copy``, ``dedupe`` and ``insert``.
    """
    d_m = settings.INTAKE_DEDUPE_DISTANCE_M if distance_m is None else distance_m
    w = settings.INTAKE_DEDUPE_WINDOW_MIN if window_min is None else window_min
    df = df.reset_index(drop=True)
    n = len(df)
    _create_temp(conn)
    outside, no_loc = _copy(conn, df, adcode, lookup, batch or settings.INTAKE_BATCH_ROWS,
                            progress)
    conn.execute(sa.text("analyze report_in"))
    dup = conn.execute(sa.text(
        "delete from report_in r using incident_report p where p.source = r.source "
        "and p.source_id = r.source_id returning r.seq, p.incident_id")).all()
    dup += conn.execute(sa.text(
        "delete from report_in r using incident i where i.source = r.source "
        "and i.source_id = r.source_id returning r.seq, i.id")).all()
    if progress:
        progress("dedupe", 0, 2)
    if d_m > 0:
        conn.execute(sa.text("set local jit = off"))  # many tiny lateral lookups
        conn.execute(sa.text(_MATCH_EXISTING), {
            "w": w * 60.0, "d": d_m, "dx": d_m / 111_320.0 * 1.01 + 1e-7,
            "dy": d_m / 110_574.0 * 1.01 + 1e-7})
        todo = np.array(conn.execute(sa.text(
            "select seq from report_in where incident_id is null and geom is not null "
            "order by seq")).scalars().all(), dtype=np.int64)
        if len(todo) > 1:
            part = df.iloc[todo]
            ts = pd.to_datetime(part["occurred_at"], utc=True)
            minutes = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy() / 60.0
            seed, dist = cluster_reports(part["lon"].to_numpy(float), part["lat"].to_numpy(float),
                                         np.asarray(minutes, dtype=float),
                                         _dedupe_keys(part), d_m, w)
            follow = np.flatnonzero(seed != np.arange(len(todo)))
            if len(follow):
                copy_rows(conn, "report_seed", ["seq", "seed_seq", "distance_m"],
                          zip(todo[follow].tolist(), todo[seed[follow]].tolist(),
                              dist[follow].tolist(), strict=True))
    if progress:
        progress("dedupe", 1, 2)
    conn.execute(sa.text("update report_in set seed_seq = seq where incident_id is null"))
    conn.execute(sa.text(
        "update report_in r set seed_seq = s.seed_seq, merged = true, distance_m = s.distance_m "
        "from report_seed s where r.seq = s.seq"))
    if progress:
        progress("dedupe", 2, 2)
        progress("insert", 0, 3)
    inserted = conn.execute(sa.text(
        f"insert into incident ({_INCIDENT_COLS}, status) "
        f"select {_INCIDENT_COLS}, 'received' from report_in "
        "where incident_id is null and seed_seq = seq order by seq "
        "on conflict (source, source_id) do nothing")).rowcount
    conn.execute(sa.text(
        "update report_in r set incident_id = i.id from report_in s join incident i "
        "on i.source = s.source and i.source_id = s.source_id "
        "where r.incident_id is null and s.seq = r.seed_seq"))
    if progress:
        progress("insert", 1, 3)
    conn.execute(sa.text(_BACKFILL))
    conn.execute(sa.text(
        f"insert into incident_report ({_REPORT_COLS}, incident_id, merged, distance_m, raw) "
        f"select {_REPORT_COLS}, incident_id, merged, distance_m, raw from report_in "
        "order by seq on conflict (source, source_id) do nothing"))
    merged = int(conn.execute(sa.text("select count(*) from report_in where merged")).scalar_one())
    if progress:
        progress("insert", 3, 3)
    out = None
    if outcomes is True or not isinstance(outcomes, bool):
        which = None if outcomes is True else [int(i) for i in np.asarray(outcomes)]
        rows = conn.execute(sa.text(
            "select seq, incident_id, case when merged then 'merged' else 'created' end "
            "from report_in where cast(:w as integer[]) is null or seq = any(:w)"),
            {"w": which}).all()
        keep = None if which is None else set(which)
        rows += [(s, i, "duplicate") for s, i in dup if keep is None or s in keep]
        out = pd.DataFrame(rows, columns=["seq", "incident_id", "status"]).sort_values("seq")
        out = out.reset_index(drop=True)
    return LoadSummary(rows=n, inserted=inserted, merged=merged, duplicates=len(dup),
                       outside=outside, no_location=no_loc, outcomes=out)
