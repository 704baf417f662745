"""Data of the planner page (``/planner``): versions, grids with balance metrics, one grid's
details and neighbours, the map layer. No Dash here: every function takes an engine, so
tests call them directly.

Metrics of a version are :func:`gis.grids.metrics.balance_metrics` of all its grids, with
the incidents of the last :data:`gis.settings.BALANCE_WEEKS` weeks counted **by location**
in the version's own grids (:func:`gis.grids.publish.draft_lookup` +
:func:`gis.grids.publish.reassignment`), not by the codes stored on the incidents: a draft's
new grids then show the workload they would take over. (``wangge grids report`` counts by
the stored codes; both agree for grids the version shares with the one in force.)

Results are cached per (database and jurisdiction of the engine, :func:`gis.store.
scoped_engine.cache_key`; version) together with the version's :func:`stamp`; the
stamp changes with every edit of a draft, so nothing stale is shown after an edit, and only
the newest state of a version is kept (at most :data:`CACHE_SLOTS` entries, least recently
used dropped first): a long editing session does not pile up old states.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis import settings
from gis.crs import to_metric
from gis.forces import posts as read_posts
from gis.grids import versions
from gis.grids.edits_geom import MIN_SHARED_DEG
from gis.grids.lookup import GridLookup
from gis.grids.metrics import balance_metrics, bounds_for
from gis.grids.publish import draft_lookup, reassignment
from gis.grids.store import read_grids
from gis.store.scoped_engine import cache_key
from layers.planner import METRICS, Metric, metric_classes, metric_legend, planner_layer

LEVELS: tuple[int, ...] = tuple(settings.GRID_LEVELS)
CACHE_SLOTS = 12
"""Most (kind, database, version[, level]) entries kept in the planner's cache."""
_cache: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
_locks: dict[tuple[Any, ...], threading.Lock] = {}
_guard = threading.Lock()
DETAIL_METRICS: tuple[str, ...] = ("population", "households", "area_km2", "incidents",
                                   "incidents_per_week", "workers", "residents_per_worker",
                                   "compactness", "nearest_post", "dist_to_post_km")
"""Rows of a grid's metric table, in order (keys of ``planner.m.*``)."""


def stamp(conn: Connection, vid: int) -> tuple[str, int]:
    """(status, id of the version's newest ``grid_edit`` row): changes with every edit."""
    row = conn.execute(sa.text(
        "select v.status, coalesce((select max(id) from grid_edit e where e.version_id = v.id),"
        " 0) from grid_version v where v.id = :v"), {"v": vid}).first()
    if row is None:
        versions.get_version(conn, vid)  # raises NotFoundError with the usual message
    return str(row[0]), int(row[1])


def version_options(engine: Engine, adcode: str | None = None) -> list[dict[str, Any]]:
    """Versions for the picker, newest first: id, name, status, effective_date,
    retired_from, villages, groups, and ``in_force`` (in force today)."""
    with engine.connect() as conn:
        rows = versions.list_versions(conn, adcode)
        now = versions.in_force(conn, adcode)
    return [{k: r[k] for k in ("id", "adcode", "name", "status", "effective_date",
                               "retired_from", "villages", "groups")} | {"in_force": r["id"] == now}
            for r in rows]


def default_version(engine: Engine, adcode: str | None = None) -> int | None:
    """The version in force today, else the newest draft, else None."""
    with engine.connect() as conn:
        vid = versions.in_force(conn, adcode)
        if vid is None:
            vid = conn.execute(sa.text(
                "select id from grid_version where (cast(:a as text) is null or adcode = :a) "
                "and status = 'draft' order by id desc limit 1"), {"a": adcode}).scalar()
    return None if vid is None else int(vid)


def incident_counts(conn: Connection, adcode: str, lookup: GridLookup,
                    since: date) -> pd.DataFrame:
    """Incidents of the county dated on or after ``since`` per grid of ``lookup`` (groups
    and villages): columns ``code``, ``n``."""
    df = reassignment(conn, adcode, lookup, since)
    codes = pd.concat([df["group_code"], df["village_code"]], ignore_index=True).dropna()
    n = codes.astype(str).value_counts()
    return pd.DataFrame({"code": n.index.astype(str), "n": n.to_numpy(dtype=int)})


def window_start(weeks: int, until: datetime | None = None) -> date:
    """First day of the incident window of ``weeks`` weeks ending ``until`` (default now)."""
    return ((until or datetime.now(UTC)) - timedelta(days=7 * weeks)).date()


def compute_metrics(conn: Connection, vid: int, grids: gpd.GeoDataFrame, adcode: str,
                    weeks: int, lookup: GridLookup | None = None) -> pd.DataFrame:
    """:func:`balance_metrics` of ``grids`` with incidents counted by location (see the
    module doc); ``lookup`` defaults to the version's own."""
    counts = None
    if (grids["level"] == 2).any():
        lookup = lookup or draft_lookup(conn, vid)
        counts = incident_counts(conn, adcode, lookup, window_start(weeks))
    return balance_metrics(grids, counts, read_posts(conn, adcode), weeks, adcode=adcode)


@dataclass
class VersionData:
    """A version's grids and metrics, as the planner page shows them."""

    version_id: int
    adcode: str
    name: str
    status: str
    effective_date: date | None
    stamp: tuple[str, int]
    grids: gpd.GeoDataFrame
    metrics: pd.DataFrame
    weeks: int

    def metric_row(self, code: str) -> dict[str, Any] | None:
        """The metrics of one grid as a dict (None when the code is not in the version)."""
        m = self.metrics[self.metrics["code"] == str(code)]
        return None if m.empty else m.iloc[0].to_dict()


def _build(engine: Engine, vid: int, st: tuple[str, int]) -> VersionData:
    with engine.connect() as conn:
        v = versions.get_version(conn, vid)
        adcode = str(v["adcode"])
        grids = read_grids(conn, vid)
        weeks = settings.BALANCE_WEEKS
        metrics = compute_metrics(conn, vid, grids, adcode, weeks)
    return VersionData(version_id=vid, adcode=adcode, name=str(v["name"]),
                       status=str(v["status"]), effective_date=v.get("effective_date"),
                       stamp=st, grids=grids, metrics=metrics, weeks=weeks)


def _once(key: tuple[Any, ...], st: Any, build: Callable[[], Any]) -> Any:
    """The value cached under ``key`` for state ``st``, else ``build()`` (one thread at a
    time per key: the callbacks that fire together after an edit wait for one build)."""
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        with _guard:
            hit = _cache.get(key)
            if hit is not None and hit[0] == st:
                _cache.move_to_end(key)
                return hit[1]
        value = build()
        with _guard:
            _cache[key] = (st, value)
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SLOTS:
                _cache.popitem(last=False)
        return value


def clear_cache() -> None:
    """Forget every cached version state (tests)."""
    with _guard:
        _cache.clear()


def version_data(engine: Engine, vid: int) -> VersionData:
    """Grids and metrics of version ``vid`` (cached until the version changes)."""
    with engine.connect() as conn:
        st = stamp(conn, vid)
    return _once(("planner", cache_key(engine), vid), st, lambda: _build(engine, vid, st))


def layer(engine: Engine, vid: int, level: int, metric: str):
    """The planner map layer (:func:`layers.planner.planner_layer`) of a version's level,
    geometry cached per version state; returns (Layer, VersionData)."""
    vd = version_data(engine, vid)
    lyr = _once(("planner-layer", cache_key(engine), vid, level), vd.stamp,
                lambda: planner_layer(vd.grids, vd.metrics, level, metric=metric))
    return lyr, vd


def styling(vd: VersionData, level: int, metric: str) -> tuple[dict[str, Any], tuple]:
    """Classes (``Classes.to_dict()``) and legend rows of ``metric`` over one level."""
    m: Metric = METRICS[metric]
    rows = vd.metrics[vd.metrics["level"] == level]
    x = pd.to_numeric(rows[m.column], errors="coerce").to_numpy(dtype=float,
                                                                na_value=np.nan) * m.scale
    classes = metric_classes(x, m)
    large, small = rows["too_large"].astype(bool), rows["too_small"].astype(bool)
    flags = {"large": int((large & ~small).sum()), "small": int((small & ~large).sum()),
             "both": int((large & small).sum())}
    return classes.to_dict(), metric_legend(classes, m, bool(np.isnan(x).any()), flags)


def summary(vd: VersionData) -> dict[str, Any]:
    """Counts of a version: grids per level, flagged per level, population."""
    out: dict[str, Any] = {"version_id": vd.version_id, "name": vd.name, "status": vd.status,
                           "effective_date": vd.effective_date}
    for lv in LEVELS:
        rows = vd.metrics[vd.metrics["level"] == lv]
        out[f"grids_{lv}"] = len(rows)
        out[f"large_{lv}"] = int(rows["too_large"].astype(bool).sum())
        out[f"small_{lv}"] = int(rows["too_small"].astype(bool).sum())
    villages = vd.grids[vd.grids["level"] == 1]
    out["population"] = int(pd.to_numeric(villages["population"]).fillna(0).sum())
    return out


def _value(row: dict[str, Any], key: str) -> Any:
    if key == "dist_to_post_km":
        d = row.get("dist_to_post_m")
        return None if d is None or pd.isna(d) else float(d) / 1000.0
    v = row.get(key)
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def reasons(row: dict[str, Any], adcode: str) -> list[tuple[str, dict[str, Any]]]:
    """Why a grid is flagged: (i18n key, fields) per failed check of its level's targets
    (:func:`gis.grids.metrics.bounds_for`), in the order of ``balance_metrics``."""
    b = bounds_for(int(row["level"]), adcode)
    out: list[tuple[str, dict[str, Any]]] = []
    checks = (("hh", b.households, _value(row, "households"), 0),
              ("area", b.area_km2, _value(row, "area_km2"), 3))
    for name, rng, v, digits in checks:
        if rng is None or v is None:
            continue
        lo, hi = rng
        if hi is not None and v > hi:
            out.append((f"planner.reason.{name}_high", {"v": round(float(v), digits), "t": hi}))
        if lo is not None and v < lo:
            out.append((f"planner.reason.{name}_low", {"v": round(float(v), digits), "t": lo}))
    rpw = _value(row, "residents_per_worker")
    if b.residents_per_worker is not None and rpw is not None and rpw > b.residents_per_worker:
        out.append(("planner.reason.rpw_high", {"v": round(float(rpw)),
                                                "t": b.residents_per_worker}))
    return out


def _shared_m(a: Any, b: Any) -> float:
    line = shapely.intersection(shapely.boundary(a), shapely.boundary(b))
    if shapely.is_empty(line):
        return 0.0
    metric, _ = to_metric(np.asarray([line], dtype=object))
    return float(shapely.length(metric)[0])


def neighbours(vd: VersionData, code: str) -> list[dict[str, Any]]:
    """Grids of the same level sharing an edge with ``code`` (touching at a point does not
    count): code, name, parent_code, shared edge length (m); longest edge first."""
    g = vd.grids
    me = g[g["code"] == str(code)]
    if me.empty:
        return []
    geom = me.geometry.iloc[0]
    same = g[(g["level"] == me["level"].iloc[0]) & (g["code"] != str(code))]
    tree = shapely.STRtree(np.asarray(same.geometry.values))
    idx = tree.query(geom, predicate="intersects")
    out = []
    for i in idx:
        other = same.geometry.iloc[int(i)]
        inter = shapely.intersection(shapely.boundary(geom), shapely.boundary(other))
        if shapely.length(inter) <= MIN_SHARED_DEG:
            continue
        r = same.iloc[int(i)]
        out.append({"code": str(r["code"]), "name": str(r["name"]),
                    "parent_code": r["parent_code"], "shared_m": _shared_m(geom, other)})
    return sorted(out, key=lambda d: (-d["shared_m"], d["code"]))


def grid_detail(vd: VersionData, code: str) -> dict[str, Any] | None:
    """Everything the side panel shows about one grid, or None when it is not in the
    version: code, name, level, parent / township, ``metrics`` [(key, value, digits)],
    ``flags`` (too_large, too_small), ``reasons`` [(i18n key, fields)], ``neighbours`` and
    ``merge_candidates`` (neighbours with the same parent: the grids it can merge with)."""
    row = vd.metric_row(code)
    if row is None:
        return None
    g = vd.grids[vd.grids["code"] == str(code)].iloc[0]
    names = dict(zip(vd.grids["code"], vd.grids["name"], strict=True))
    digits = {"area_km2": 3, "incidents_per_week": 2, "compactness": 3, "workers": 0,
              "dist_to_post_km": 2, "residents_per_worker": 0, "incidents": 0}
    nbs = neighbours(vd, code)
    parent = g["parent_code"]
    return {
        "code": str(code), "name": str(g["name"]), "level": int(g["level"]),
        "parent_code": parent, "parent_name": names.get(parent),
        "township_code": g["township_code"], "worker": g["worker"],
        "children": int(((vd.grids["level"] == 2) & (vd.grids["parent_code"] == str(code))).sum()),
        "metrics": [(k, _value(row, k), digits.get(k, 0)) for k in DETAIL_METRICS],
        "too_large": bool(row["too_large"]), "too_small": bool(row["too_small"]),
        "reasons": reasons(row, vd.adcode),
        "neighbours": nbs,
        "merge_candidates": [n for n in nbs if n["parent_code"] == parent],
    }


def line_wkt(geojson: dict[str, Any] | None) -> tuple[str | None, int]:
    """WKT (EPSG:4490 lon/lat) of the last line drawn with the edit control, and its
    number of vertices; (None, 0) when none."""
    feats = (geojson or {}).get("features") or []
    for f in reversed(feats):
        g = f.get("geometry") or {}
        if g.get("type") == "LineString" and len(g.get("coordinates") or []) >= 2:
            pts = ", ".join(f"{float(x):.7f} {float(y):.7f}" for x, y, *_ in g["coordinates"])
            return f"LINESTRING({pts})", len(g["coordinates"])
    return None, 0
