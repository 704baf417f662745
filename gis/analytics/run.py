"""Run the analyses on the store: load inputs of the version in force, return frames to write.

Pure analysis lives in the sibling modules; this module only reads PostGIS and joins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AnalysisError, InputFileError
from gis.analytics.emerging import emerging_hotspots
from gis.analytics.hotspots import gi_star
from gis.analytics.kde import kde_contours
from gis.analytics.rings import response_rings, villages_outside_rings
from gis.grids import versions
from gis.grids.store import read_grids
from gis.territory import units

METHODS = ("gi", "kde", "emerging")
"""Hot-spot methods of :func:`hotspots`."""


def incidents_frame(conn: Connection, since: datetime, until: datetime,
                    kind: str | None = None, adcode: str | None = None) -> pd.DataFrame:
    """Incidents in [since, until): group_code (as ``code``), kind, occurred_at, lon, lat."""
    rows = conn.execute(sa.text("""
        select group_code as code, kind, occurred_at, st_x(geom) as lon, st_y(geom) as lat
        from incident where occurred_at >= :s and occurred_at < :u and geom is not null
          and (cast(:k as text) is null or kind = :k)
          and (cast(:a as text) is null or adcode = :a)"""),
        {"s": since, "u": until, "k": kind, "a": adcode}).all()
    return pd.DataFrame(rows, columns=["code", "kind", "occurred_at", "lon", "lat"])


def _version(conn: Connection, adcode: str | None) -> int:
    vid = versions.in_force(conn, adcode)
    if vid is None:
        msg = "no grid version in force: load the demo ('wangge demo') or publish grids"
        raise AnalysisError(msg)
    return vid


def hotspots(conn: Connection, method: str = "gi", weeks: int = 4, kind: str | None = None,
             level: int = 2, rate: bool = False, permutations: int = 0, fdr: bool = False,
             until: datetime | None = None, adcode: str | None = None) -> gpd.GeoDataFrame:
    """Hot spots of the last ``weeks`` weeks of incidents (of ``kind``) on grids of ``level``.

    ``gi``: Gi* per grid on counts (or rates per 1,000 residents); ``emerging``: pattern per
    grid over the weeks; ``kde``: density contour bands (incidents per km²).
    """
    if method not in METHODS:
        msg = f"--method must be one of {', '.join(METHODS)}, not {method!r}"
        raise AnalysisError(msg)
    until = until or datetime.now(UTC)
    since = until - timedelta(weeks=weeks)
    vid = _version(conn, adcode)
    grids = read_grids(conn, vid, level=level)
    inc = incidents_frame(conn, since, until, kind, adcode)
    if method == "kde":
        county = units(conn, "county", adcode)
        territory = county.geometry.union_all() if len(county) else grids.geometry.union_all()
        return kde_contours(inc["lon"].to_numpy(), inc["lat"].to_numpy(), territory)
    if level == 1:  # a group code starts with its village's 12-digit code
        inc = inc.assign(code=inc["code"].str[:12])
    inc = inc[inc["code"].notna()]
    if method == "emerging":
        res = emerging_hotspots(grids[["code", "geometry"]], inc[["code", "occurred_at"]],
                                weeks=weeks, end=until)
        return grids[["code", "name", "geometry"]].merge(res, on="code", how="left")
    counts = inc.groupby("code").size()
    g = grids[["code", "name", "population", "geometry"]].copy()
    g["count"] = g["code"].map(counts).fillna(0).astype(int)
    column = "count"
    if rate:
        pop = g["population"].fillna(0).clip(lower=1)
        g["rate_per_1000"] = g["count"] / pop * 1000
        column = "rate_per_1000"
    res = gi_star(g, column, permutations=permutations, fdr=fdr,
                  seed=settings.HOTSPOT_SEED if permutations else None)
    return gpd.GeoDataFrame(pd.concat([g, res], axis=1), geometry="geometry",
                            crs=settings.STORAGE_SRID)


def reach(conn: Connection, adcode: str | None = None) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Response rings around every police post of the county and the per-village ring table
    (the road-network analysis is :func:`gis.analytics.reach.reach_for_county`)."""
    from gis.analytics.reach import county_inputs

    inp = county_inputs(conn, adcode)
    table = villages_outside_rings(inp.villages, inp.posts, groups=inp.groups)
    return response_rings(inp.posts), table


def write_output(frame: pd.DataFrame, path: str | Path) -> str:
    """Write a result as GeoJSON / GPKG / FlatGeobuf (geometry) or CSV (any); returns format."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        df.to_csv(path, index=False, encoding="utf-8-sig")
        return "csv"
    drivers = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".fgb": "FlatGeobuf"}
    if suffix not in drivers:
        msg = f"cannot tell the format of {path}: use .geojson, .gpkg, .fgb or .csv"
        raise InputFileError(msg)
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{path}: this result has no geometry; write it as .csv"
        raise InputFileError(msg)
    if path.exists():
        path.unlink()
    pyogrio.write_dataframe(frame, path, driver=drivers[suffix])
    return drivers[suffix]
