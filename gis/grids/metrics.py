"""Balance metrics of grids: size, workload, shape and reach, with too_large / too_small flags.

Grid size is set by population, area and geography (网格按人口、面积、地理划分); grids that are
too big or too small are found here and fixed by planners. Per grid (:func:`balance_metrics`):

==========================  ==================================================================
column                      meaning
==========================  ==================================================================
population, households      as stored on the grid (nullable integers)
area_km2                    area in the UTM zone of the data (:func:`gis.crs.to_metric`)
incidents                   incidents of the grid in the window (NaN without incident counts)
incidents_per_week          ``incidents / weeks``
workers                     grid workers (网格员) counted for the grid, see below
residents_per_worker        ``population / workers`` (NaN when no worker or no population)
compactness                 Polsby-Popper ``4πA / P²`` (A, P in metres): 1 circle, π/4 square
nearest_post                code of the nearest police post
dist_to_post_m              metres from the grid's centroid (its representative point when the
                            centroid lies outside the grid, e.g. a crescent) to that post,
                            straight line in the same UTM zone
too_large, too_small, reason  flags against the targets of the grid's level, with the reasons
==========================  ==================================================================

Workers: a non-empty ``worker`` field counts its names (split on ``,，、;；/`` and spaces); an
empty one counts :data:`gis.settings.WORKERS_PER_GROUP_GRID` for a group and nothing for a
village; a village adds the workers of its groups present in the same frame. ``workers=``
overrides any grid's count by code (groups first, so a village sums the overridden counts).

Flags. Targets per level come from :func:`bounds_for` (settings, overridable per county in
:data:`gis.settings.GRID_BOUNDS_BY_ADCODE`). Every range is **inclusive**: with the default
group target (100, 300) a group of exactly 100 or exactly 300 households is within target, 99
is ``too_small`` and 301 ``too_large``. The same holds for the area range (km²), and a grid is
``too_large`` when its residents per worker exceed the target (equal is fine). A missing value
skips its check. A grid can carry both flags (e.g. few households spread over a huge area);
``reason`` lists every failed check, separated by ``"; "`` (empty when none).

Per village (:func:`village_spread`): the spread of its groups — count, min / max / mean and
coefficient of variation (population standard deviation, ddof = 0, over the mean) of households
and population, and how many of its groups are flagged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AnalysisError, ConfigError, CrsError, NotFoundError
from gis.crs import to_metric

__all__ = ["METRIC_COLUMNS", "SPREAD_COLUMNS", "Bounds", "balance_metrics", "bounds_for",
           "report_for_version", "village_spread"]

METRIC_COLUMNS = ["code", "name", "level", "parent_code", "population", "households",
                  "area_km2", "incidents", "incidents_per_week", "workers",
                  "residents_per_worker", "compactness", "nearest_post", "dist_to_post_m",
                  "too_large", "too_small", "reason"]
"""Columns of :func:`balance_metrics`, in order."""

SPREAD_COLUMNS = ["village_code", "village_name", "groups",
                  "households_min", "households_max", "households_mean", "households_cv",
                  "population_min", "population_max", "population_mean", "population_cv",
                  "groups_too_large", "groups_too_small"]
"""Columns of :func:`village_spread`, in order."""

_WORKER_SEP = re.compile(r"[,，、;；/\s]+")
_BOUND_KEYS = ("households", "area_km2", "residents_per_worker")
Range = tuple[float | None, float | None]


@dataclass(frozen=True)
class Bounds:
    """Targets of one grid level (each check off when None).

    Attributes
    ----------
    households : (min, max) or None
        Inclusive range of households; either end None = no bound on that side.
    area_km2 : (min, max) or None
        Inclusive range of area, km².
    residents_per_worker : float or None
        Most residents per grid worker (more is ``too_large``).
    """

    households: Range | None = None
    area_km2: Range | None = None
    residents_per_worker: float | None = None


def _range(value: Any, what: str) -> Range | None:
    if value is None:
        return None
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected (min, max) or None, got {value!r}") from None
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"{what}: min {lo:g} is above max {hi:g}")
    return lo, hi


def bounds_for(level: int, adcode: str | None = None) -> Bounds:
    """Targets of grid ``level`` (1 village, 2 group) for county ``adcode``.

    Defaults: :data:`gis.settings.GROUP_HOUSEHOLDS_RANGE` / ``VILLAGE_HOUSEHOLDS_RANGE``,
    ``GROUP_AREA_KM2_RANGE`` / ``VILLAGE_AREA_KM2_RANGE`` and ``RESIDENTS_PER_WORKER_TARGET``,
    each replaced by the county's entry in :data:`gis.settings.GRID_BOUNDS_BY_ADCODE` when it
    has one (keys ``group_households``, ``village_area_km2``, ``residents_per_worker``, …).

    Raises
    ------
    ConfigError
        Unknown level, unknown override key, or a malformed range.
    """
    if level not in settings.GRID_LEVELS:
        raise ConfigError(f"grid level {level!r} is not one of {sorted(settings.GRID_LEVELS)}")
    name = settings.GRID_LEVELS[level]
    values: dict[str, Any] = {
        "households": settings.GROUP_HOUSEHOLDS_RANGE if level == 2
        else settings.VILLAGE_HOUSEHOLDS_RANGE,
        "area_km2": settings.GROUP_AREA_KM2_RANGE if level == 2
        else settings.VILLAGE_AREA_KM2_RANGE,
        "residents_per_worker": settings.RESIDENTS_PER_WORKER_TARGET,
    }
    county = settings.GRID_BOUNDS_BY_ADCODE.get(str(adcode), {}) if adcode else {}
    allowed = {f"{lv}_{k}" for lv in settings.GRID_LEVELS.values() for k in _BOUND_KEYS[:2]}
    allowed.add("residents_per_worker")
    unknown = sorted(set(county) - allowed)
    if unknown:
        raise ConfigError(f"settings.GRID_BOUNDS_BY_ADCODE[{adcode!r}]: unknown key(s) "
                          f"{unknown}; allowed: {sorted(allowed)}")
    for key in ("households", "area_km2"):
        if f"{name}_{key}" in county:
            values[key] = county[f"{name}_{key}"]
    if "residents_per_worker" in county:
        values["residents_per_worker"] = county["residents_per_worker"]
    rpw = values["residents_per_worker"]
    return Bounds(households=_range(values["households"], f"{name} households"),
                  area_km2=_range(values["area_km2"], f"{name} area_km2"),
                  residents_per_worker=None if rpw is None else float(rpw))


def _numbers(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _strings(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), None, dtype=object)
    return np.array([None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                     else str(v) for v in df[col]], dtype=object)


def _named_workers(values: np.ndarray) -> np.ndarray:
    return np.array([0 if v is None else len([t for t in _WORKER_SEP.split(v) if t])
                     for v in values], dtype=float)


def _workers(codes: np.ndarray, level: np.ndarray, parent: np.ndarray, worker: np.ndarray,
             overrides: dict | None) -> np.ndarray:
    named = _named_workers(worker)
    n = np.where(named > 0, named, np.where(level == 2, settings.WORKERS_PER_GROUP_GRID, 0.0))
    over = {str(k): float(v) for k, v in (overrides or {}).items()}
    if over:
        hit = pd.Series(codes).map(over).to_numpy(dtype=float, na_value=np.nan)
        g = (level == 2) & ~np.isnan(hit)
        n[g] = hit[g]
    groups = level == 2
    if (level == 1).any() and groups.any():
        per_village = pd.Series(n[groups]).groupby(parent[groups].astype(str)).sum()
        v = level == 1
        n[v] = named[v] + pd.Series(codes[v]).map(per_village).fillna(0.0).to_numpy(float)
    if over:
        v = (level == 1) & ~np.isnan(hit)
        n[v] = hit[v]
    return n


def _check_crs(gdf: gpd.GeoDataFrame, what: str) -> None:
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4490, 4326):
        raise CrsError(f"balance_metrics: {what} are in {gdf.crs.to_string()}; "
                       "convert them to EPSG:4490")


def _post_distances(metric: np.ndarray, utm: pyproj.CRS,
                    posts: gpd.GeoDataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    n = len(metric)
    dist = np.full(n, np.nan)
    nearest = np.full(n, None, dtype=object)
    if posts is None or len(posts) == 0 or n == 0:
        return nearest, dist
    _check_crs(posts, "posts")
    pg = np.asarray(posts.geometry.values, dtype=object)
    keep = ~shapely.is_missing(pg) & ~shapely.is_empty(pg)
    if not keep.any():
        return nearest, dist
    pcodes = (posts["code"].astype(str).to_numpy() if "code" in posts.columns
              else np.arange(len(posts)).astype(str))[keep]
    xy = shapely.get_coordinates(shapely.centroid(pg[keep]))
    px, py = pyproj.Transformer.from_crs(4326, utm, always_xy=True).transform(xy[:, 0], xy[:, 1])
    tree = shapely.STRtree(shapely.points(px, py))
    anchor = shapely.centroid(metric)
    outside = ~shapely.is_empty(anchor) & ~shapely.intersects(metric, anchor)
    anchor[outside] = shapely.point_on_surface(metric[outside])
    (qi, ti), d = tree.query_nearest(anchor, return_distance=True, all_matches=False)
    dist[qi] = d
    nearest[qi] = pcodes[ti]
    return nearest, dist


def _reasons(reason: list[list[str]], mask: np.ndarray, text: str, values: np.ndarray,
             fmt: str) -> None:
    for i in np.flatnonzero(mask):
        reason[i].append(text.format(v=format(values[i], fmt)))


def _flag(level: np.ndarray, hh: np.ndarray, area_km2: np.ndarray, rpw: np.ndarray,
          bounds: dict[int, Bounds]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    large = np.zeros(len(level), bool)
    small = np.zeros(len(level), bool)
    reason: list[list[str]] = [[] for _ in range(len(level))]
    with np.errstate(invalid="ignore"):
        for lv, b in bounds.items():
            name = settings.GRID_LEVELS.get(lv, str(lv))
            at = level == lv
            checks = [(b.households, hh, "households {v}", ",.0f", ""),
                      (b.area_km2, area_km2, "area {v} km²", ".3f", " km²")]
            for rng, x, text, fmt, unit in checks:
                if rng is None:
                    continue
                lo, hi = rng
                if hi is not None:
                    m = at & (x > hi)
                    large |= m
                    _reasons(reason, m, f"{text} > {hi:,g}{unit} (max for {name} grids)", x, fmt)
                if lo is not None:
                    m = at & (x < lo)
                    small |= m
                    _reasons(reason, m, f"{text} < {lo:,g}{unit} (min for {name} grids)", x, fmt)
            if b.residents_per_worker is not None:
                t = b.residents_per_worker
                m = at & (rpw > t)
                large |= m
                _reasons(reason, m, f"{{v}} residents per grid worker > target {t:,.0f}",
                         rpw, ",.0f")
    return large, small, ["; ".join(r) for r in reason]


def balance_metrics(grids: gpd.GeoDataFrame, incidents_per_grid: pd.DataFrame | None,
                    posts: gpd.GeoDataFrame | None, weeks: int, workers: dict | None = None,
                    *, adcode: str | None = None,
                    bounds: dict[int, Bounds] | None = None) -> pd.DataFrame:
    """Balance metrics and too_large / too_small flags of each grid (see the module docs).

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grids of one or both levels, EPSG:4490 degrees: ``code`` and geometry; optional
        ``name``, ``level`` (1 or 2; missing = 2), ``parent_code``, ``population``,
        ``households``, ``worker`` (as :func:`gis.grids.store.read_grids` returns).
    incidents_per_grid : pandas.DataFrame or None
        Incident counts in the last ``weeks`` weeks: columns ``code``, ``n`` (as
        :func:`gis.incidents.queries.counts_per_grid`); grids absent from it have 0. None:
        ``incidents`` and ``incidents_per_week`` are NaN.
    posts : geopandas.GeoDataFrame or None
        Police posts (points, EPSG:4490) with a ``code`` column; None or empty: the distance
        columns are empty.
    weeks : int
        Length of the window the counts cover (> 0); ``incidents_per_week = n / weeks``.
    workers : dict, optional
        Grid code → number of grid workers, overriding the ``worker`` field / defaults.
    adcode : str, optional
        County whose targets apply (:data:`gis.settings.GRID_BOUNDS_BY_ADCODE`).
    bounds : dict of level → Bounds, optional
        Explicit targets per level, instead of :func:`bounds_for`.

    Returns
    -------
    pandas.DataFrame
        One row per grid in input order, columns :data:`METRIC_COLUMNS`.
    """
    if isinstance(weeks, bool) or not isinstance(weeks, (int, np.integer)) or weeks <= 0:
        raise AnalysisError(f"balance metrics: weeks must be a whole number > 0, got {weeks!r}")
    if "code" not in grids.columns:
        raise AnalysisError("balance metrics: the grids have no 'code' column")
    _check_crs(grids, "grids")
    n = len(grids)
    codes = grids["code"].astype(str).to_numpy()
    level = (pd.to_numeric(grids["level"], errors="coerce").fillna(2).to_numpy(int)
             if "level" in grids.columns else np.full(n, 2))
    parent = _strings(grids, "parent_code")
    pop, hh = _numbers(grids, "population"), _numbers(grids, "households")

    geoms = np.asarray(grids.geometry.values, dtype=object)
    ok = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    area = np.full(n, np.nan)
    compact = np.full(n, np.nan)
    nearest = np.full(n, None, dtype=object)
    dist = np.full(n, np.nan)
    if ok.any():
        metric, utm = to_metric(geoms[ok])
        a, p = shapely.area(metric), shapely.length(metric)
        area[ok] = a
        with np.errstate(divide="ignore", invalid="ignore"):
            compact[ok] = np.where(p > 0, 4.0 * np.pi * a / p**2, np.nan)
        nearest[ok], dist[ok] = _post_distances(metric, utm, posts)

    if incidents_per_grid is None:
        inc = np.full(n, np.nan)
    else:
        counts = pd.Series(pd.to_numeric(incidents_per_grid["n"]).to_numpy(float),
                           index=incidents_per_grid["code"].astype(str))
        counts = counts.groupby(level=0).sum()
        inc = pd.Series(codes).map(counts).fillna(0.0).to_numpy(float)

    nw = _workers(codes, level, parent, _strings(grids, "worker"), workers)
    with np.errstate(divide="ignore", invalid="ignore"):
        rpw = np.where(nw > 0, pop / nw, np.nan)
    area_km2 = area / 1e6
    lv_bounds = {lv: (bounds or {}).get(lv) or bounds_for(lv, adcode)
                 for lv in sorted(set(level.tolist()) & set(settings.GRID_LEVELS))}
    large, small, reason = _flag(level, hh, area_km2, rpw, lv_bounds)
    return pd.DataFrame({
        "code": codes, "name": _strings(grids, "name"), "level": level, "parent_code": parent,
        "population": pd.Series(pop).round().astype("Int64").array,
        "households": pd.Series(hh).round().astype("Int64").array,
        "area_km2": area_km2, "incidents": inc, "incidents_per_week": inc / weeks,
        "workers": nw, "residents_per_worker": rpw, "compactness": compact,
        "nearest_post": nearest, "dist_to_post_m": dist,
        "too_large": large, "too_small": small, "reason": reason,
    }, columns=METRIC_COLUMNS)


def _cv(s: pd.Series) -> float:
    s = s.dropna().astype(float)
    m = s.mean() if len(s) else np.nan
    return float(s.std(ddof=0) / m) if len(s) and m > 0 else np.nan


def village_spread(metrics: pd.DataFrame) -> pd.DataFrame:
    """Spread of the groups of each village, from :func:`balance_metrics` rows.

    Villages are the ``parent_code`` of the level-2 rows, plus the level-1 rows (a village
    without groups gets ``groups = 0`` and empty statistics). ``*_cv`` is the coefficient of
    variation: population standard deviation (ddof = 0) over the mean (NaN when the mean is
    0 or there are no values). Sorted by village code; columns :data:`SPREAD_COLUMNS`.
    """
    g = metrics[metrics["level"] == 2]
    g = g[g["parent_code"].notna()]
    key = g["parent_code"].astype(str)
    parts: dict[str, pd.Series] = {"groups": key.groupby(key).size()}
    for col in ("households", "population"):
        x = pd.Series(g[col].to_numpy(dtype=float, na_value=np.nan), index=g.index).groupby(key)
        parts[f"{col}_min"] = x.min()
        parts[f"{col}_max"] = x.max()
        parts[f"{col}_mean"] = x.mean()
        parts[f"{col}_cv"] = x.agg(_cv)
    parts["groups_too_large"] = g["too_large"].astype(int).groupby(key).sum()
    parts["groups_too_small"] = g["too_small"].astype(int).groupby(key).sum()
    out = pd.DataFrame(parts)
    villages = metrics[metrics["level"] == 1]
    names = pd.Series(villages["name"].to_numpy(), index=villages["code"].astype(str))
    names = names[~names.index.duplicated()]
    index = sorted(set(out.index) | set(names.index))
    out = out.reindex(index)
    for col in ("groups", "groups_too_large", "groups_too_small"):
        out[col] = out[col].fillna(0).astype(int)
    out.insert(0, "village_name", names.reindex(index).to_numpy())
    out.insert(0, "village_code", index)
    return out.reset_index(drop=True)[SPREAD_COLUMNS]


def report_for_version(conn: Connection, version_id: int | None = None, weeks: int | None = None,
                       *, level: int | None = 2, until: datetime | None = None,
                       workers: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Balance report of a stored grid version (default: the one in force today).

    Metrics are computed on both levels together (a village counts its groups' workers);
    incidents are those of the version's county in the ``weeks`` (default
    :data:`gis.settings.BALANCE_WEEKS`) 7-day steps ending at ``until`` (default now), counted
    by the grid codes stored on the incidents (their assignment when they were recorded, so a
    draft's new codes have none until it is published); posts are the county's police posts.

    Returns
    -------
    (grid_df, village_df)
        ``grid_df``: :func:`balance_metrics` rows of ``level`` (1, 2, or None for both),
        sorted by code; for ``level=1`` the village spread columns are joined on.
        ``village_df``: :func:`village_spread`. ``grid_df.attrs`` holds ``version_id``,
        ``adcode``, ``weeks``, ``since`` and ``until``.
    """
    from gis.forces import posts as read_posts
    from gis.grids import versions
    from gis.grids.store import read_grids
    from gis.incidents.queries import counts_per_grid

    weeks = settings.BALANCE_WEEKS if weeks is None else weeks
    if isinstance(weeks, bool) or not isinstance(weeks, (int, np.integer)) or weeks <= 0:
        raise AnalysisError(f"balance report: weeks must be a whole number > 0, got {weeks!r}")
    if level is not None and level not in settings.GRID_LEVELS:
        raise AnalysisError(f"balance report: level must be one of "
                            f"{sorted(settings.GRID_LEVELS)} or None, got {level!r}")
    vid = version_id or versions.in_force(conn)
    if vid is None:
        raise NotFoundError("no grid version in force; pass --version "
                            "(list them with 'wangge grids versions')")
    adcode = str(versions.get_version(conn, vid)["adcode"])
    until = until or datetime.now(UTC)
    since = until - timedelta(days=7 * weeks)
    grids = read_grids(conn, vid)
    counts = pd.concat([counts_per_grid(conn, lv, adcode, since, until) for lv in (1, 2)],
                       ignore_index=True)
    metrics = balance_metrics(grids, counts, read_posts(conn, adcode), weeks, workers,
                              adcode=adcode)
    spread = village_spread(metrics)
    grid_df = metrics if level is None else metrics[metrics["level"] == level]
    grid_df = grid_df.sort_values("code", kind="stable").reset_index(drop=True)
    if level == 1:
        grid_df = grid_df.merge(spread.drop(columns="village_name"), how="left",
                                left_on="code", right_on="village_code").drop(
                                    columns="village_code")
    grid_df.attrs.update(version_id=vid, adcode=adcode, weeks=weeks, since=since, until=until)
    return grid_df, spread
