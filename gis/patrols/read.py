"""Read patrol inputs: GPX tracks / waypoints, GeoJSON lines with times, check-in tables.

Readers only parse: each returns the features it could read (coordinates still in the
file's coordinate system) and the features it could not, as :class:`Reject` rows with the
feature number a user sees (GPX: track / waypoint number; GeoJSON: feature number; CSV:
line of the file; XLSX: sheet row; all from 1). Checks that need the store (grids, county)
are in :mod:`gis.patrols.tracks`.

Times of a GeoJSON track, per vertex, in this order:

1. a property ``times`` (also ``timestamps``, ``coordTimes`` as written by togeojson, or
   ``时间``): a list of ISO 8601 texts or epoch numbers, one per vertex; for a
   MultiLineString either one flat list or one list per part;
2. a 4th coordinate ``[lon, lat, elevation, time]`` in epoch seconds (or milliseconds,
   when larger than 10¹¹).

ISO texts without an offset are Beijing time (:data:`gis.settings.PATROL_TIMEZONE`); GPX
times without an offset are UTC, as the GPX schema requires.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gis._errors import InputFileError
from gis.incidents.validate_rows import parse_time
from gis.inputs import check_file_size, decode_text, json_error, json_type
from gis.patrols.times import local_tz

TIME_PROPS = ("times", "timestamps", "coordTimes", "coord_times", "时间")
"""GeoJSON properties holding the per-vertex times of a track."""

ID_PROPS = ("source_id", "id", "编号", "轨迹编号")
TEAM_PROPS = ("team", "队伍", "巡逻队", "巡逻组")
OFFICER_PROPS = ("officer", "巡逻人", "巡逻人员", "民警", "人员")
NAME_PROPS = ("name", "名称", "轨迹名称")


@dataclass
class Reject:
    """A feature that cannot be used: its number in the file, id, field and reason."""

    feature: int
    source_id: str | None
    field: str
    reason: str


@dataclass
class TrackIn:
    """A track as read: parts of (x, y, t) rows, t in epoch seconds (UTC)."""

    feature: int
    source_id: str
    parts: list[np.ndarray]
    name: str | None = None
    team: str | None = None
    officer: str | None = None


@dataclass
class Tracks:
    """What a track reader returns."""

    path: str
    tracks: list[TrackIn]
    rejects: list[Reject] = field(default_factory=list)
    declared_crs: str | None = None
    features: int = 0


def _read_text(path: str | Path) -> str:
    p = Path(path)
    if not p.is_file():
        msg = f"{p}: no such file"
        raise InputFileError(msg)
    check_file_size(p)
    return decode_text(p.read_bytes(), p)


def _epoch(dt: datetime) -> float:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # GPX: UTC unless stated
    return dt.timestamp()


def _pick(props: dict, names: tuple[str, ...]) -> str | None:
    for k in names:
        v = props.get(k)
        if v is not None and str(v).strip() != "":
            return str(v).strip()
    return None


# --- GPX -----------------------------------------------------------------------------------

def _gpx(path: str | Path):
    import gpxpy
    import gpxpy.gpx

    text = _read_text(path)
    try:
        return gpxpy.parse(text)
    except gpxpy.gpx.GPXException as e:
        msg = f"{path}: not a readable GPX file ({e})"
        raise InputFileError(msg) from e


def read_gpx_tracks(path: str | Path) -> Tracks:
    """Tracks of a GPX file: one patrol per ``<trk>`` (segments become parts), id
    ``trk-<n>``; a point without ``<time>`` rejects its track; one-point segments are
    dropped. ``team`` is the file's author, ``name`` the track's name."""
    gpx = _gpx(path)
    out = Tracks(str(path), [], features=len(gpx.tracks))
    team = (gpx.author_name or "").strip() or None
    for n, trk in enumerate(gpx.tracks, start=1):
        sid = f"trk-{n}"
        parts: list[np.ndarray] = []
        bad = None
        for j, seg in enumerate(trk.segments, start=1):
            rows = []
            for k, p in enumerate(seg.points, start=1):
                if p.time is None:
                    bad = f"point {k} of segment {j} has no <time>; every track point needs one"
                    break
                rows.append((p.longitude, p.latitude, _epoch(p.time)))
            if bad:
                break
            if len(rows) >= 2:
                parts.append(np.array(rows, dtype=float))
        if bad:
            out.rejects.append(Reject(n, sid, "time", f"missing_time: {bad}"))
            continue
        out.tracks.append(TrackIn(n, sid, parts, name=(trk.name or "").strip() or None,
                                  team=team))
    return out


def read_gpx_waypoints(path: str | Path) -> list[dict]:
    """Waypoints of a GPX file as check-in records (id ``wpt-<n>``, time, lon, lat, note)."""
    gpx = _gpx(path)
    return [{"feature": n, "source_id": f"wpt-{n}", "lon": w.longitude, "lat": w.latitude,
             "time": w.time, "note": (w.name or "").strip() or None}
            for n, w in enumerate(gpx.waypoints, start=1)]


# --- GeoJSON -------------------------------------------------------------------------------

def geojson_crs(doc: dict) -> str | None:
    """The coordinate system a GeoJSON's (obsolete but common) ``crs`` member names."""
    crs = doc.get("crs")
    if isinstance(crs, dict) and isinstance(crs.get("properties"), dict):
        name = crs["properties"].get("name")
        if isinstance(name, str):
            return (name.replace("urn:ogc:def:crs:", "").replace("::", ":")
                    .replace("OGC:1.3:CRS84", "EPSG:4326"))
    return None


def read_geojson_features(path: str | Path) -> tuple[list, str | None]:
    """Features of a GeoJSON FeatureCollection (or one Feature) and its declared CRS."""
    text = _read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise json_error(path, text, e) from e
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" \
            and isinstance(doc.get("features"), list):
        return doc["features"], geojson_crs(doc)
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [doc], geojson_crs(doc)
    msg = f"{path}: not a GeoJSON FeatureCollection or Feature"
    raise InputFileError(msg)


def parse_one_time(value: object) -> float | None:
    """Epoch seconds of an ISO text (naive = Beijing time) or an epoch number (seconds, or
    milliseconds when larger than 10¹¹); None when it is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        v = float(value)
        if not math.isfinite(v):
            return None
        return v / 1000.0 if abs(v) > 1e11 else v
    t = parse_time(str(value), local_tz())
    return None if t is None else t.timestamp()


def _line_parts(geom: dict) -> list[list] | str:
    if geom is not None and not isinstance(geom, dict):
        return f"geometry is a JSON {json_type(geom)}, not a GeoJSON geometry object: write " \
               '{"type": "LineString", "coordinates": [[lon, lat], ...]}'
    kind = geom.get("type") if isinstance(geom, dict) else None
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    if kind == "LineString":
        parts = [coords]
    elif kind == "MultiLineString":
        parts = coords
    else:
        return f"geometry is {'missing' if kind is None else 'a ' + str(kind)}; a track must " \
               "be a LineString or MultiLineString"
    if not isinstance(parts, list) or not all(isinstance(p, list) for p in parts):
        return "coordinates are not a list of positions"
    for p in parts:
        for c in p:
            if not (isinstance(c, list) and len(c) >= 2
                    and all(isinstance(v, int | float) and not isinstance(v, bool)
                            for v in c)):
                return f"position {c!r} is not a list of numbers"
    return parts


def _times_for(props: dict, parts: list[list]) -> list[list[float | None]] | str:
    sizes = [len(p) for p in parts]
    raw = next((props[k] for k in TIME_PROPS if k in props and props[k] is not None), None)
    if raw is None:
        if all(len(c) >= 4 for p in parts for c in p):
            return [[parse_one_time(c[3]) for c in p] for p in parts]
        return "no times: give a 'times' property (one ISO time per vertex) or a 4th " \
               "coordinate with epoch seconds"
    if not isinstance(raw, list):
        return "'times' is not a list"
    if len(parts) > 1 and len(raw) == len(parts) and all(isinstance(r, list) for r in raw):
        nested = raw
    else:
        flat = raw
        if len(flat) != sum(sizes):
            return f"'times' has {len(flat)} value(s) for {sum(sizes)} vertices"
        nested, i = [], 0
        for s in sizes:
            nested.append(flat[i:i + s])
            i += s
    for r, s in zip(nested, sizes, strict=True):
        if len(r) != s:
            return f"'times' has {len(r)} value(s) for a part of {s} vertices"
    return [[parse_one_time(v) for v in r] for r in nested]


def read_geojson_tracks(path: str | Path) -> Tracks:
    """Track features of a GeoJSON file (see the module doc for times); id: the feature's
    ``id`` / ``source_id`` / ``编号``, else ``feature-<n>``."""
    feats, crs = read_geojson_features(path)
    out = Tracks(str(path), [], declared_crs=crs, features=len(feats))
    for n, f in enumerate(feats, start=1):
        props = f.get("properties") if isinstance(f, dict) else None
        props = props if isinstance(props, dict) else {}
        fid = f.get("id") if isinstance(f, dict) else None
        sid = _pick(props, ID_PROPS) or (str(fid) if fid not in (None, "") else f"feature-{n}")
        if not isinstance(f, dict) or f.get("type") != "Feature":
            out.rejects.append(Reject(n, sid, "geometry", "bad_geometry: not a GeoJSON Feature"))
            continue
        parts = _line_parts(f.get("geometry"))
        if isinstance(parts, str):
            out.rejects.append(Reject(n, sid, "geometry", f"bad_geometry: {parts}"))
            continue
        times = _times_for(props, parts)
        if isinstance(times, str):
            out.rejects.append(Reject(n, sid, "time", f"bad_time: {times}"))
            continue
        bad = next(((j, k) for j, r in enumerate(times) for k, v in enumerate(r) if v is None),
                   None)
        if bad:
            j, k = bad
            out.rejects.append(Reject(n, sid, "time", f"bad_time: time of vertex {k + 1}"
                                      f"{f' of part {j + 1}' if len(parts) > 1 else ''} is "
                                      "not an ISO time or epoch number"))
            continue
        arrs = [np.column_stack([np.array([c[0] for c in p], dtype=float),
                                 np.array([c[1] for c in p], dtype=float),
                                 np.array(r, dtype=float)]) for p, r in zip(parts, times,
                                                                            strict=True)]
        out.tracks.append(TrackIn(n, sid, [a for a in arrs if len(a) >= 2],
                                  name=_pick(props, NAME_PROPS), team=_pick(props, TEAM_PROPS),
                                  officer=_pick(props, OFFICER_PROPS)))
    return out


def read_tracks(path: str | Path) -> Tracks:
    """Tracks of a ``.gpx`` or ``.geojson`` / ``.json`` file."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gpx":
        return read_gpx_tracks(path)
    if suffix in (".geojson", ".json"):
        return read_geojson_tracks(path)
    msg = f"{path}: unknown track file type {suffix!r}; use .gpx or .geojson"
    raise InputFileError(msg)
