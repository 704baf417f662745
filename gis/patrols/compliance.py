"""Weekly patrol compliance of key areas and key road sections, and villages' night patrols.

Rules (all figures in :mod:`gis.settings`):

* A week is an ISO week ``YYYY-Www`` in Beijing time, Monday 00:00 to the next Monday
  00:00; a patrol belongs to the week in which it **starts**.
* A patrol counts for a **key road section** when the part of the section within
  :data:`~gis.settings.PATROL_SECTION_BUFFER_M` (30 m) of its track is at least
  :data:`~gis.settings.PATROL_SECTION_MIN_SHARE` (80 %) of the section's length, measured
  in the UTM zone of the data (vectorised shapely 2: the track's corridor is
  ``buffer(track, 30 m)``, the share ``length(section ∩ corridor) / length(section)``).
* A patrol counts for a **key area** when its track enters the area (touching the edge
  counts), or when one of its check-ins lies in it. A check-in that belongs to no patrol
  counts as a visit of its own, one per team (or officer) and Beijing day
  (:data:`~gis.settings.PATROL_CHECKIN_DEDUPE`).
* A key area / section **passes** the week when at least
  :data:`~gis.settings.PATROL_MIN_PER_WEEK` (3) different patrols (visits) count for it.
* **Night patrols** of a village: patrols of the week whose middle falls in
  :data:`~gis.settings.PATROL_NIGHT_HOURS`, attributed to the village of their start point;
  compared with :data:`~gis.settings.PATROL_NIGHT_MIN_PER_WEEK` when that is set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis.crs import to_metric
from gis.patrols.places import known_villages, places_frame
from gis.patrols.times import parse_week

BUFFER_QUAD_SEGS = 16
"""Segments per quarter circle of a track's corridor (the polygon stays within 0.5 % of the
true 30 m distance at its round ends)."""

COLUMNS = ["kind", "id", "code", "name", "village_code", "village_name", "area_kind",
           "length_m", "count", "night", "required", "passed", "best_share", "patrols"]
"""Columns of :func:`compliance`."""


def section_shares(sections_m: np.ndarray, tracks_m: np.ndarray,
                   buffer_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share of each section's length within ``buffer_m`` of each track near it.

    Parameters
    ----------
    sections_m, tracks_m : arrays of (Multi)LineStrings in a metric CRS (metres).
    buffer_m : corridor half-width, metres.

    Returns
    -------
    (section index, track index, share in [0, 1]) of every pair closer than ``buffer_m``.
    """
    if len(sections_m) == 0 or len(tracks_m) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    tree = shapely.STRtree(tracks_m)
    si, ti = tree.query(sections_m, predicate="dwithin", distance=buffer_m)
    if len(si) == 0:
        return si, ti, np.zeros(0)
    used = np.unique(ti)
    corridor = np.empty(len(tracks_m), dtype=object)
    corridor[used] = shapely.buffer(tracks_m[used], buffer_m, quad_segs=BUFFER_QUAD_SEGS)
    inside = shapely.length(shapely.intersection(sections_m[si], corridor[ti]))
    total = shapely.length(sections_m[si])
    share = np.where(total > 0, inside / np.where(total > 0, total, 1.0), 0.0)
    return si, ti, np.clip(share, 0.0, 1.0)


def _week_patrols(conn: Connection, adcode: str, start: datetime, end: datetime) -> pd.DataFrame:
    rows = conn.execute(sa.text(
        "select id, team, officer, night, village_code, started_at, "
        "st_asbinary(st_force2d(track)) as wkb from patrol where adcode = :a "
        "and started_at >= :s and started_at < :e order by id"),
        {"a": adcode, "s": start, "e": end}).all()
    df = pd.DataFrame(rows, columns=["id", "team", "officer", "night", "village_code",
                                     "started_at", "wkb"])
    df["geom"] = list(shapely.from_wkb([bytes(b) for b in df["wkb"]])) if len(df) else []
    return df.drop(columns="wkb")


def _week_checkins(conn: Connection, adcode: str, start: datetime, end: datetime) -> pd.DataFrame:
    rows = conn.execute(sa.text(
        "select c.id, c.patrol_id, coalesce(c.team, c.officer) as who, c.checked_at, "
        "st_x(c.geom) as lon, st_y(c.geom) as lat, coalesce(p.night, false) as night "
        "from patrol_checkin c left join patrol p on p.id = c.patrol_id "
        "where c.adcode = :a and c.checked_at >= :s and c.checked_at < :e order by c.id"),
        {"a": adcode, "s": start, "e": end}).all()
    df = pd.DataFrame(rows, columns=["id", "patrol_id", "who", "checked_at", "lon", "lat",
                                     "night"])
    df["geom"] = list(shapely.points(df["lon"].to_numpy(float), df["lat"].to_numpy(float))) \
        if len(df) else []
    return df


def _visit_keys(checkins: pd.DataFrame) -> list[tuple]:
    """One visit key per check-in: its patrol, else (team or officer, Beijing day)."""
    keys = []
    day = pd.to_datetime(checkins["checked_at"], utc=True).dt.tz_convert(
        settings.PATROL_TIMEZONE).dt.date if len(checkins) else []
    for k, r in enumerate(checkins.itertuples(index=False)):
        if r.patrol_id is not None and not pd.isna(r.patrol_id):
            keys.append(("patrol", int(r.patrol_id)))
        elif settings.PATROL_CHECKIN_DEDUPE == "team_day" and r.who:
            keys.append(("checkin", str(r.who), day.iloc[k]))
        else:
            keys.append(("checkin", int(r.id)))
    return keys


def compliance(conn: Connection, adcode: str, week: str, *, buffer_m: float | None = None,
               min_share: float | None = None, required: int | None = None) -> pd.DataFrame:
    """Patrol count and pass / fail of every key area and key road section for a week.

    Parameters
    ----------
    adcode : county.
    week : ISO week ``YYYY-Www`` (Beijing time).
    buffer_m, min_share, required : override :data:`settings.PATROL_SECTION_BUFFER_M`
        (metres), :data:`settings.PATROL_SECTION_MIN_SHARE` (0–1) and
        :data:`settings.PATROL_MIN_PER_WEEK`.

    Returns
    -------
    pandas.DataFrame
        One row per key section (``kind='section'``) then key area (``'area'``), by
        village and code, columns :data:`COLUMNS`: ``count`` patrols (visits) that count,
        ``night`` how many of them were night patrols, ``required``, ``passed``,
        ``best_share`` the largest share of the section covered by one patrol of the week
        (sections; NaN for areas), ``patrols`` the ids of the counted patrols.
    """
    buffer_m = settings.PATROL_SECTION_BUFFER_M if buffer_m is None else float(buffer_m)
    min_share = settings.PATROL_SECTION_MIN_SHARE if min_share is None else float(min_share)
    required = settings.PATROL_MIN_PER_WEEK if required is None else int(required)
    start, end = parse_week(week)
    sections = places_frame(conn, adcode, "sections")
    areas = places_frame(conn, adcode, "areas")
    patrols = _week_patrols(conn, adcode, start, end)
    checks = _week_checkins(conn, adcode, start, end)
    names = known_villages(conn, adcode)
    n_s, n_a, n_p = len(sections), len(areas), len(patrols)
    allg = np.concatenate([np.asarray(sections.geometry.values, dtype=object),
                           np.asarray(areas.geometry.values, dtype=object),
                           np.asarray(patrols["geom"], dtype=object),
                           np.asarray(checks["geom"], dtype=object)])
    metric = to_metric(allg)[0] if len(allg) and (n_s or n_a) else allg
    sec_m, area_m = metric[:n_s], metric[n_s:n_s + n_a]
    trk_m, chk_m = metric[n_s + n_a:n_s + n_a + n_p], metric[n_s + n_a + n_p:]
    night = dict(zip(patrols["id"], patrols["night"], strict=True))
    rows: list[dict[str, Any]] = []

    si, ti, share = section_shares(sec_m, trk_m, buffer_m)
    pid = patrols["id"].to_numpy()
    for i, s in enumerate(sections.itertuples(index=False)):
        sel = si == i
        ok = sorted(int(p) for p in pid[ti[sel][share[sel] >= min_share]])
        rows.append({"kind": "section", "id": int(s.id), "code": s.code, "name": s.name,
                     "village_code": s.village_code, "area_kind": None,
                     "length_m": float(s.length_m), "patrols": ok,
                     "best_share": float(share[sel].max()) if sel.any() else 0.0})

    ai, ati = (shapely.STRtree(trk_m).query(area_m, predicate="intersects")
               if n_a and n_p else (np.zeros(0, int), np.zeros(0, int)))
    ci, cti = (shapely.STRtree(chk_m).query(area_m, predicate="intersects")
               if n_a and len(checks) else (np.zeros(0, int), np.zeros(0, int)))
    keys = _visit_keys(checks)
    cnight = checks["night"].to_numpy(bool) if len(checks) else np.zeros(0, bool)
    for i, a in enumerate(areas.itertuples(index=False)):
        visits = {("patrol", int(p)) for p in pid[ati[ai == i]]}
        extra_night = {}
        for k in cti[ci == i]:
            visits.add(keys[k])
            extra_night[keys[k]] = bool(cnight[k])
        rows.append({"kind": "area", "id": int(a.id), "code": a.code, "name": a.name,
                     "village_code": a.village_code, "area_kind": a.kind,
                     "length_m": np.nan, "best_share": np.nan,
                     "patrols": sorted(v[1] for v in visits if v[0] == "patrol"),
                     "_visits": visits, "_night": extra_night})
    out = []
    for r in rows:
        visits = r.pop("_visits", {("patrol", p) for p in r["patrols"]})
        cn = r.pop("_night", {})
        r["count"] = len(visits)
        r["night"] = sum(bool(night.get(v[1], False)) if v[0] == "patrol" else cn.get(v, False)
                         for v in visits)
        r["required"] = required
        r["passed"] = r["count"] >= required
        r["village_name"] = names.get(str(r["village_code"]))
        out.append(r)
    df = pd.DataFrame(out, columns=COLUMNS)
    if df.empty:
        return df
    df["order"] = df["kind"].map({"section": 0, "area": 1})
    return df.sort_values(["order", "village_code", "code"]).drop(columns="order") \
        .reset_index(drop=True)


def village_night_patrols(conn: Connection, adcode: str, week: str,
                          target: int | None = None) -> pd.DataFrame:
    """Night patrols and all patrols of every village of the county in a week.

    Villages are those of :func:`gis.patrols.places.known_villages` (zero rows included);
    a patrol belongs to the village of its start point (``patrol.village_code``).
    ``target`` (default :data:`settings.PATROL_NIGHT_MIN_PER_WEEK`): when set, ``passed``
    says whether the village made at least that many night patrols; else None.

    Returns
    -------
    DataFrame: village_code, village_name, patrols, night_patrols, target, passed.
    """
    target = settings.PATROL_NIGHT_MIN_PER_WEEK if target is None else target
    start, end = parse_week(week)
    counts = {str(v): (int(n), int(k)) for v, n, k in conn.execute(sa.text(
        "select village_code, count(*), count(*) filter (where night) from patrol "
        "where adcode = :a and started_at >= :s and started_at < :e "
        "and village_code is not null group by village_code"),
        {"a": adcode, "s": start, "e": end}).all()}
    names = known_villages(conn, adcode)
    codes = sorted(set(names) | set(counts))
    df = pd.DataFrame({"village_code": codes, "village_name": [names.get(c) for c in codes],
                       "patrols": [counts.get(c, (0, 0))[0] for c in codes],
                       "night_patrols": [counts.get(c, (0, 0))[1] for c in codes]})
    df["target"] = target
    df["passed"] = [None if target is None else bool(n >= target) for n in df["night_patrols"]]
    return df


def summary(table: pd.DataFrame, nights: pd.DataFrame | None = None,
            week: str | None = None) -> dict[str, Any]:
    """Counts for the weekly meeting: sections / areas passed of total, night patrols."""
    def part(kind: str) -> tuple[int, int]:
        t = table[table["kind"] == kind] if len(table) else table
        return int(t["passed"].sum()) if len(t) else 0, len(t)

    sp, st = part("section")
    ap, at = part("area")
    out: dict[str, Any] = {"week": week, "sections_passed": sp, "sections_total": st,
                           "areas_passed": ap, "areas_total": at,
                           "required_per_week": int(table["required"].iloc[0]) if len(table)
                           else settings.PATROL_MIN_PER_WEEK}
    if nights is not None:
        out["villages"] = len(nights)
        out["villages_with_night_patrols"] = int((nights["night_patrols"] > 0).sum())
        out["night_patrols"] = int(nights["night_patrols"].sum())
        out["patrols"] = int(nights["patrols"].sum())
        if nights["target"].notna().any():
            out["villages_night_passed"] = int(nights["passed"].fillna(False).astype(bool).sum())
    return out


def compliance_frame(conn: Connection, adcode: str, week: str, **kw: Any) -> gpd.GeoDataFrame:
    """:func:`compliance` with the geometries of the areas / sections (EPSG:4490)."""
    df = compliance(conn, adcode, week, **kw)
    geoms: dict[tuple[str, int], object] = {}
    for kind, plural in (("section", "sections"), ("area", "areas")):
        f = places_frame(conn, adcode, plural)
        geoms.update({(kind, int(i)): g for i, g in zip(f["id"], f.geometry, strict=True)})
    g = [geoms.get((k, int(i))) for k, i in zip(df["kind"], df["id"], strict=True)]
    return gpd.GeoDataFrame(df, geometry=g, crs=settings.STORAGE_SRID)
