"""Import patrol files: tracks, check-ins, key areas and key road sections.

``import_patrol_file`` reads a file, checks every feature, writes the rejected ones (feature
number, id, field, reason) to ``<stem>.rejected.csv`` next to the file, and stores the good
ones in ONE transaction: a failure (lost connection, bad data found by the database) stores
nothing of the file, and a track is always stored whole or not at all. Re-running a file
adds nothing twice: tracks and check-ins are idempotent by ``(source, source_id)`` (source:
the file's stem unless given; ids: the feature's own id, else ``trk-<n>`` / ``feature-<n>`` /
``row-<n>`` / ``wpt-<n>``), key places are upserted by code.

``strict``: when any feature is rejected, store nothing (default for key areas / sections,
which are reference data; tracks and check-ins load their good features by default, like
incident intake).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from gis._errors import FeatureRejected, InputFileError, PatrolError
from gis.crs import CrsSpec, parse_crs
from gis.grids import versions
from gis.incidents.intake import load_in_transaction, rejected_path_for
from gis.patrols import checkins as ck
from gis.patrols import places as pl
from gis.patrols import tracks as tr
from gis.patrols.read import Reject, read_geojson_features, read_tracks

KINDS = ("tracks", "checkins", "areas", "sections")
"""What a patrol file can hold."""

Progress = Callable[[str, int, int], None]
"""Progress callback: (stage, done, total); stages read, check, store."""


@dataclass
class PatrolImportReport:
    """Outcome of :func:`import_patrol_file`."""

    path: str
    kind: str
    source: str
    crs: str
    adcode: str
    features: int
    accepted: int
    inserted: int
    duplicates: int
    updated: int
    rejected: int
    outside: int
    no_grid: int
    linked: int
    rejected_path: str | None
    rejects: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The counts as a JSON-ready dict (rejects excluded)."""
        return {k: v for k, v in self.__dict__.items() if k != "rejects"}


def detect_kind(path: str | Path) -> str:
    """What a file holds, from its type and geometries: ``.gpx`` tracks; ``.csv`` / ``.xlsx``
    check-ins; GeoJSON points → check-ins, polygons → areas, lines → tracks when they carry
    times (a times property or 4th coordinate), else sections — by the most common
    geometry of the file, so a stray bad feature does not change the kind; other vector files:
    polygons → areas, lines → sections."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".gpx":
        return "tracks"
    if suffix in (".csv", ".txt", ".tsv", ".xlsx", ".xlsm"):
        return "checkins"
    if suffix in (".geojson", ".json"):
        feats, _ = read_geojson_features(p)
        cat = {"Polygon": "areas", "MultiPolygon": "areas", "Point": "checkins",
               "MultiPoint": "checkins", "LineString": "lines", "MultiLineString": "lines"}
        kinds = pd.Series([cat.get(g.get("type") if isinstance(g := f.get("geometry"), dict)
                                   else None, "lines")
                           for f in feats if isinstance(f, dict)], dtype=object)
        top = kinds.value_counts().sort_index(ascending=False).idxmax() if len(kinds) \
            else "lines"  # the most common kind of geometry (ties: lines, then checkins)
        if top != "lines":
            return str(top)
        timed = any(isinstance(f, dict) and isinstance(f.get("properties"), dict)
                    and any(k in f["properties"] for k in ("times", "timestamps", "coordTimes",
                                                           "coord_times", "时间"))
                    for f in feats)
        deep = any(len(c) >= 4 for f in feats if isinstance(f, dict)
                   for c in _first_positions(f.get("geometry")))
        return "tracks" if timed or deep else "sections"
    gdf = pl.read_places(p)
    types = set(gdf.geom_type.dropna())
    if types & {"Polygon", "MultiPolygon"}:
        return "areas"
    if types & {"LineString", "MultiLineString"}:
        return "sections"
    msg = f"{p}: cannot tell what it holds (geometries {sorted(types)}); pass --kind"
    raise InputFileError(msg)


def _first_positions(geom: object) -> list:
    if not isinstance(geom, dict):
        return []
    c = geom.get("coordinates")
    if geom.get("type") == "LineString" and isinstance(c, list):
        return [x for x in c[:1] if isinstance(x, list)]
    if geom.get("type") == "MultiLineString" and isinstance(c, list) and c \
            and isinstance(c[0], list):
        return [x for x in c[0][:1] if isinstance(x, list)]
    return []


def county(conn: Connection, adcode: str | None = None) -> str:
    """``adcode`` if given, else the county of the grid version in force today."""
    if adcode:
        return str(adcode)
    vid = versions.in_force(conn, None, date.today())
    if vid is None:
        msg = "no grid version is in force, so the county is unknown: load the demo " \
              "('wangge demo') or import grids, or pass --adcode"
        raise PatrolError(msg)
    return str(versions.get_version(conn, vid)["adcode"])


def rejects_frame(rejects: list[Reject]) -> pd.DataFrame:
    """Rejects as a frame: feature, source_id, field, code, reason."""
    rows = [{"feature": r.feature, "source_id": r.source_id, "field": r.field,
             "code": r.reason.split(":", 1)[0] if ":" in r.reason else "",
             "reason": r.reason} for r in rejects]
    return pd.DataFrame(rows, columns=["feature", "source_id", "field", "code", "reason"])


def _write_rejects(path: str | Path, rejects: pd.DataFrame) -> str | None:
    rpath = rejected_path_for(path)
    if len(rejects):
        rejects.to_csv(rpath, index=False, encoding="utf-8-sig")
        return str(rpath)
    if rpath.exists():  # a stale file of an earlier run would mislead
        rpath.unlink()
    return None


def _spec(crs: str | None, declared: str | None) -> CrsSpec:
    return parse_crs(crs or declared or "EPSG:4326")


def import_patrol_file(engine: Engine, path: str | Path, kind: str | None = None,
                       source: str | None = None, crs: str | None = None,
                       adcode: str | None = None, strict: bool | None = None,
                       patrol_source: str | None = None, team: str | None = None,
                       officer: str | None = None, progress: Progress | None = None,
                       now: datetime | None = None) -> PatrolImportReport:
    """Import a patrol file (see the module doc).

    Parameters
    ----------
    path : ``.gpx`` (tracks or, with ``kind='checkins'``, waypoints), ``.geojson``
        (tracks, check-ins, areas, sections), ``.csv`` / ``.xlsx`` (check-ins), ``.gpkg``
        / ``.shp`` / ``.fgb`` (areas, sections).
    kind : tracks | checkins | areas | sections (default: :func:`detect_kind`).
    source : name of the sending system / device (default: the file's stem).
    crs : coordinates are in wgs84 (default), gcj02, bd09 or EPSG:n (a GeoJSON's ``crs``
        member or a vector file's CRS is used when not given).
    adcode : county (default: the one whose grid version is in force).
    strict : store nothing when any feature is rejected (default: True for areas and
        sections, False for tracks and check-ins).
    patrol_source : source of the patrols that check-ins refer to (default ``source``).
    team, officer : set on tracks that do not name their own.

    Raises
    ------
    InputFileError : the file cannot be read at all.
    FeatureRejected : ``strict`` and some features are bad (nothing was stored; all of
        them are in the rejected file, ``.path``).
    StoreError : the database connection was lost (nothing was stored).
    """
    step = progress or (lambda s, d, t: None)
    kind = kind or detect_kind(path)
    if kind not in KINDS:
        msg = f"--kind must be one of {', '.join(KINDS)}, not {kind!r}"
        raise PatrolError(msg)
    strict = kind in ("areas", "sections") if strict is None else strict
    src = source or Path(path).stem
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        code = county(conn, adcode)
        villages = pl.known_villages(conn, code) if kind in ("areas", "sections") else {}
    step("read", 0, 1)
    if kind == "tracks":
        read = read_tracks(path)
        spec = _spec(crs, read.declared_crs)
        n_features = read.features
        step("read", 1, 1)
        good, rejects = tr.check_tracks(read, spec, now)
        if team or officer:
            good["team"] = good["team"].fillna(team) if team else good["team"]
            good["officer"] = good["officer"].fillna(officer) if officer else good["officer"]
    elif kind == "checkins":
        raw, declared = ck.read_checkins(path)
        spec = _spec(crs, declared)
        n_features = len(raw)
        step("read", 1, 1)
        good, rejects = ck.check_checkins(raw, spec, now)
    else:
        gdf = pl.read_places(path)
        spec = parse_crs(crs) if crs else (_spec(None, None) if gdf.crs is None else None)
        n_features = len(gdf)
        step("read", 1, 1)
        good, rejects = pl.check_places(gdf, kind, src, villages, spec)
    crs_text = str(spec) if spec is not None else \
        (f"EPSG:{gdf.crs.to_epsg()}" if gdf.crs.to_epsg() else str(gdf.crs.name))
    step("check", n_features, n_features)
    rej = rejects_frame(rejects)
    rpath = _write_rejects(path, rej)
    report = PatrolImportReport(
        path=str(path), kind=kind, source=src, crs=crs_text, adcode=code,
        features=n_features, accepted=len(good), inserted=0, duplicates=0, updated=0,
        rejected=len(rej), outside=0, no_grid=0, linked=0, rejected_path=rpath, rejects=rej)
    if strict and len(rej):
        first = rej.iloc[0]
        msg = f"{path}: {len(rej)} of {n_features} feature(s) rejected, nothing was stored " \
              f"(first: feature {first['feature']}, {first['reason']}); all of them are in " \
              f"{rpath}. Fix them and import again"
        raise FeatureRejected(msg, [(r.feature, r.field, r.reason) for r in rejects], rpath)
    if good.empty:
        return report

    def store(conn: Connection) -> Any:
        step("store", 0, len(good))
        if kind == "tracks":
            res = tr.insert_patrols(conn, good, code, src)
        elif kind == "checkins":
            res = ck.insert_checkins(conn, good, code, src, patrol_source)
        else:
            res = pl.save_places(conn, good, kind, code, src)
        step("store", len(good), len(good))
        return res

    res = load_in_transaction(engine, store, str(path))
    if kind in ("areas", "sections"):
        report.inserted, report.updated = res
        return report
    report.inserted = int(res["new"].sum())
    report.duplicates = len(res) - report.inserted
    report.outside = int((res["location_flag"] == "outside").sum())
    report.no_grid = int((res["location_flag"] == "no_grid").sum())
    if kind == "checkins":
        report.linked = int(res["patrol_id"].notna().sum())
    return report


def import_tracks_frame(conn: Connection, rows: pd.DataFrame, adcode: str,
                        source: str) -> pd.DataFrame:
    """Store already checked tracks (the frame of :func:`gis.patrols.tracks.frame_of`, e.g.
    from the demo generator) in the caller's transaction; see
    :func:`gis.patrols.tracks.insert_patrols`."""
    return tr.insert_patrols(conn, rows, adcode, source)

