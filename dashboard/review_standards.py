"""Response standard (5 km / 10 km, 10 / 20 minutes) and 一村一警一连 gaps of a review area.

* **Response standard** — per village (populated centre) and per group grid (representative
  point): the nearest police post as the crow flies (rings of ``settings.RESPONSE_STANDARDS``)
  and, when the county has a road network stored, by road time (limits of
  ``settings.ISOCHRONE_MINUTES``), from :func:`gis.network.village_standard_table`; without a
  network only the rings (:func:`gis.analytics.rings.nearest_posts`). Per part of the area:
  the share of villages and the share of the population (summed over group grids, finer than
  villages) inside each standard.
* **一村一警一连** — :func:`gis.coverage.coverage_for_county` cut to the area: per part the
  villages with an officer, with a militia company and without gaps, and the list of gaps.

* **Isochrones** — with a stored road network, the 10 / 20-minute road isochrones of the
  police posts (:func:`dashboard.wall_layers_data.compute_isochrones`, the wall's overlay
  too), drawn on the response-standard map of the page and of the briefing.

All depend only on the grid version and the stored forces: they are computed once per
:class:`dashboard.review_data.Base` (its ``cache``: ``reach``, ``road_graph``,
``isochrones``, ``coverage``), which may be shared by every user. What is the viewer's own
(the store a briefing was read through, scoped to the user's jurisdiction) travels with the
briefing instead: :attr:`Standards.store`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.engine import Connection, Engine

from dashboard.review_data import Area, Base
from gis import settings
from gis.analytics.rings import flag_name, nearest_posts, populated_centres

if TYPE_CHECKING:
    from dashboard.wall_layers_data import Isochrones

log = logging.getLogger(__name__)


def flag_columns(table: pd.DataFrame) -> list[str]:
    """Standard flags present in ``table``: ``inside_5km``, ``inside_10km`` (rings), then
    ``meets_10``, ``meets_20`` (road minutes) when a network was used."""
    rings = [flag_name(r) for r, _ in sorted(settings.RESPONSE_STANDARDS)]
    road = sorted((c for c in table.columns if c.startswith("meets_")),
                  key=lambda c: float(c.split("_", 1)[1]))
    return [c for c in rings if c in table.columns] + road


def _rings_only(base: Base) -> pd.DataFrame:
    v_lon, v_lat, _ = populated_centres(base.villages, base.groups)
    gp = shapely.point_on_surface(np.asarray(base.groups.geometry.values, dtype=object))
    frames = []
    for level, g, lon, lat, vcode in (
            ("village", base.villages, v_lon, v_lat, base.villages["code"]),
            ("group", base.groups, shapely.get_x(gp), shapely.get_y(gp),
             base.groups["parent_code"])):
        f = pd.DataFrame({"level": level, "code": g["code"].to_numpy(),
                          "name": g["name"].to_numpy(), "village_code": vcode.to_numpy(),
                          "township_code": g["township_code"].to_numpy(),
                          "population": g["population"].to_numpy(), "lon": lon, "lat": lat})
        near = nearest_posts(lon, lat, base.posts)
        for col in near.columns:
            f[col] = near[col].to_numpy()
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def reach_table(conn: Connection, base: Base) -> pd.DataFrame:
    """Per village and group: nearest post, distance (m), ring flags, and road minutes /
    flags when the county has a stored road network (``attrs["road"]`` tells)."""
    if "reach" in base.cache:
        return base.cache["reach"]
    table: pd.DataFrame | None = None
    road = False
    if len(base.posts):
        try:
            from gis.network import (
                graph_from_postgis,
                has_network,
                village_standard_table,
            )

            if has_network(conn, base.adcode):
                G = graph_from_postgis(conn, base.adcode)
                base.cache["road_graph"] = G
                table = village_standard_table(G, base.villages, base.posts, base.groups)
                road = True
        except ImportError:  # network module not available: rings only
            log.info("review: no road network module, response standard from rings only")
        if table is None:
            table = _rings_only(base)
    else:
        table = pd.DataFrame(columns=["level", "code", "name", "village_code",
                                      "township_code", "population"])
    table.attrs["road"] = road
    base.cache["reach"] = table
    return table


def road_isochrones(conn: Connection, base: Base) -> Isochrones | None:
    """10 / 20-minute road isochrones of the county's posts (None without a road network
    or posts, or when they cannot be computed: the maps then show the rings only)."""
    if "isochrones" in base.cache:
        return base.cache["isochrones"]
    reach_table(conn, base)  # reads the road graph once
    iso: Isochrones | None = None
    if base.cache.get("road_graph") is not None and len(base.posts):
        try:
            from dashboard.wall_layers_data import compute_isochrones

            iso = compute_isochrones(conn, base.adcode, posts=base.posts,
                                     graph=base.cache["road_graph"])
        except Exception as e:  # noqa: BLE001 - a map layer must not sink the review
            log.warning("review: isochrones failed (%s: %s)", type(e).__name__, e)
    base.cache["isochrones"] = iso if iso is not None and iso.available else None
    return base.cache["isochrones"]


@dataclass
class Standards:
    """The response standard in an area."""

    flags: list[str]
    """Flag columns (``inside_5km``, ``inside_10km``, ``meets_10``, ``meets_20``)."""
    road: bool
    """Road minutes were computed (a network is stored)."""
    by_part: pd.DataFrame
    """Per part (and a last row ``code`` = ``"total"`` for the area): ``code``, ``name``,
    ``units`` (villages; groups for a village area), ``population``, per flag
    ``<flag>_units_share`` and ``<flag>_pop_share`` (0 … 1)."""
    outside: pd.DataFrame
    """Villages (groups in a village area) that miss the widest standard (outside the
    largest ring, or beyond the largest road limit), farthest first: ``code``, ``name``,
    ``township_code``, ``population``, ``distance_m``, ``road_minutes``, ``nearest_post_name``."""
    isochrones: Isochrones | None = None
    """Road isochrones of the county's posts (:func:`road_isochrones`) when ``road``."""
    store: Engine | None = None
    """The store this briefing was read through (with the login on, scoped to the viewer's
    jurisdiction): maps that read rows when drawn (the patrol map) use it, never a store
    kept in the shared base."""

    def total(self) -> dict[str, float]:
        """The area's row as a dict."""
        return self.by_part.iloc[-1].to_dict() if len(self.by_part) else {}


def _key(area: Area, frame: pd.DataFrame) -> pd.Series:
    if area.level == "county":
        return frame["township_code"].astype(str)
    if area.level == "township":
        return frame["village_code"].astype(str)
    return frame["code"].astype(str)


def response_standard(conn: Connection, base: Base, area: Area,
                      part_names: dict[str, str], part_order: list[str]) -> Standards:
    """Shares of villages / population inside each standard, per part of ``area``."""
    table = reach_table(conn, base)
    flags = flag_columns(table)
    unit_level = "group" if area.level == "village" else "village"
    inside = {"county": lambda f: f["township_code"].notna(),
              "township": lambda f: f["township_code"].astype(str) == area.code,
              "village": lambda f: f["village_code"].astype(str) == area.code}[area.level]
    units = table[(table["level"] == unit_level)]
    units = units[inside(units).to_numpy()]
    groups = table[table["level"] == "group"]
    groups = groups[inside(groups).to_numpy()]
    pop = pd.to_numeric(groups["population"], errors="coerce").fillna(0).clip(lower=0)
    ukey, gkey = _key(area, units), _key(area, groups)
    rows = []
    for code in [*part_order, "total"]:
        u = units if code == "total" else units[(ukey == code).to_numpy()]
        mask = np.ones(len(groups), bool) if code == "total" else (gkey == code).to_numpy()
        p = pop[mask]
        row: dict[str, object] = {"code": code, "name": part_names.get(code, code),
                                  "units": len(u), "population": float(p.sum())}
        for f in flags:
            row[f"{f}_units_share"] = float(u[f].fillna(False).astype(bool).mean()) \
                if len(u) else np.nan
            ok = groups.loc[mask, f].fillna(False).astype(bool).to_numpy()
            row[f"{f}_pop_share"] = float(p[ok].sum() / p.sum()) if p.sum() > 0 else np.nan
        rows.append(row)
    widest = [f for f in flags if f.startswith("inside_")][-1:] + \
        [f for f in flags if f.startswith("meets_")][-1:]
    miss = np.zeros(len(units), bool)
    for f in widest:
        miss |= ~units[f].fillna(False).astype(bool).to_numpy()
    cols = [c for c in ("code", "name", "township_code", "population", "distance_m",
                        "road_minutes", "nearest_post_name") if c in units.columns]
    outside = units.loc[miss, cols].sort_values("distance_m", ascending=False)
    road = bool(table.attrs.get("road"))
    return Standards(flags=flags, road=road, by_part=pd.DataFrame(rows),
                     outside=outside.reset_index(drop=True),
                     isochrones=road_isochrones(conn, base) if road else None,
                     store=conn.engine)


# --- 一村一警一连 -----------------------------------------------------------------------------

@dataclass
class CoverageGaps:
    """一村一警一连 in an area."""

    villages: gpd.GeoDataFrame
    """The area's villages with the :func:`gis.coverage.force_coverage` columns (``problem``,
    ``status``, officer, post, militia) and polygons."""
    by_part: pd.DataFrame
    """Per part (and ``"total"``): ``code``, ``name``, ``villages``, ``with_officer``,
    ``with_militia``, ``ok``, ``gaps``, ``share_ok``."""

    @property
    def gaps(self) -> gpd.GeoDataFrame:
        """Villages with a gap, most serious problem first."""
        from gis.coverage import PROBLEMS

        rank = {p: i for i, p in enumerate(PROBLEMS)}
        g = self.villages[self.villages["status"] == "gap"]
        return g.assign(_r=g["problem"].map(rank).fillna(99)).sort_values(
            ["_r", "code"]).drop(columns="_r")


def coverage(conn: Connection, base: Base) -> gpd.GeoDataFrame:
    """:func:`gis.coverage.coverage_for_county` villages of the base's county (cached)."""
    if "coverage" not in base.cache:
        from gis.coverage import coverage_for_county

        base.cache["coverage"] = coverage_for_county(conn, base.adcode).villages
    return base.cache["coverage"]


def coverage_gaps(conn: Connection, base: Base, area: Area, part_names: dict[str, str],
                  part_order: list[str]) -> CoverageGaps:
    """一村一警一连 status of the area's villages, summed per part (township / village)."""
    cov = coverage(conn, base)
    if area.level == "township":
        cov = cov[cov["township_code"].astype(str) == area.code]
    elif area.level == "village":
        cov = cov[cov["code"].astype(str) == area.code]
    key = cov["township_code"].astype(str) if area.level == "county" else cov["code"].astype(str)
    codes = part_order if area.level != "village" else [area.code]
    names = part_names if area.level != "village" else {area.code: area.name}
    rows = []
    for code in [*codes, "total"]:
        c = cov if code == "total" else cov[(key == code).to_numpy()]
        n = len(c)
        ok = int((c["status"] == "ok").sum())
        rows.append({"code": code, "name": names.get(code, code), "villages": n,
                     "with_officer": int((~c["no_officer"].astype(bool)).sum()),
                     "with_militia": int((~c["no_militia"].astype(bool)).sum()),
                     "ok": ok, "gaps": n - ok, "share_ok": ok / n if n else np.nan})
    by = pd.DataFrame(rows)
    if area.level == "township":  # parts are villages: keep only those that have a row
        by = by[by["villages"] > 0].reset_index(drop=True)
    return CoverageGaps(villages=cov, by_part=by)
