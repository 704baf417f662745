"""Writing grids into a version and reading them back as GeoDataFrames."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis.crs import area_m2
from gis.store.bulk import copy_rows

LEVELS: dict[str, int] = {name: level for level, name in settings.GRID_LEVELS.items()}
"""Level name ("village", "group") → level number (1, 2)."""

GRID_COLUMNS = ["version_id", "adcode", "level", "code", "name", "parent_code", "township_code",
                "population", "households", "area_m2", "worker", "geom"]


@dataclass
class SaveSummary:
    """What :func:`save_grids` did: counts of new and replaced grids."""

    inserted: int
    replaced: int


def _int_or_none(v: object) -> int | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    return int(v)


def save_grids(conn: Connection, version_id: int, gdf: gpd.GeoDataFrame, level: int,
               adcode: str) -> SaveSummary:
    """Upsert grids of one level into a version (by code), inside the caller's transaction.

    ``gdf`` has columns code, name, parent_code and optionally township_code, population,
    households, worker; geometry in EPSG:4490. Grids of the same code in the version are
    replaced, so importing the same file twice leaves one copy. ``area_m2`` is computed in
    the territory's UTM zone.
    """
    codes = [str(c) for c in gdf["code"]]
    replaced = conn.execute(sa.text(
        "delete from grid where version_id = :v and code = any(:codes)"),
        {"v": version_id, "codes": codes}).rowcount
    geoms = shapely.force_2d(np.asarray(gdf.geometry.values))
    polys = shapely.get_type_id(geoms) == 3
    geoms[polys] = shapely.multipolygons([[g] for g in geoms[polys]]) if polys.any() else geoms[polys]
    areas = area_m2(geoms)
    hexes = shapely.to_wkb(shapely.set_srid(geoms, settings.STORAGE_SRID), hex=True,
                           include_srid=True)

    def col(name: str) -> list[object]:
        return list(gdf[name]) if name in gdf.columns else [None] * len(gdf)

    rows = (
        (version_id, adcode, level, code, str(name), _str(parent), _str(town),
         _int_or_none(pop), _int_or_none(hh), float(area), _str(worker), h)
        for code, name, parent, town, pop, hh, worker, area, h in zip(
            codes, col("name"), col("parent_code"), col("township_code"), col("population"),
            col("households"), col("worker"), areas, hexes, strict=True)
    )
    inserted = copy_rows(conn, "grid", GRID_COLUMNS, rows)
    return SaveSummary(inserted=inserted - replaced, replaced=replaced)


def _str(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return str(v)


def read_grids(conn: Connection, version_id: int, level: int | None = None,
               township: str | None = None) -> gpd.GeoDataFrame:
    """Grids of a version (one level, or both) as a GeoDataFrame in EPSG:4490, sorted by code."""
    q = sa.text("""
        select code, name, level, parent_code, township_code, population, households,
               area_m2, worker, st_asbinary(geom) as geom
        from grid where version_id = :v
          and (cast(:level as int) is null or level = :level)
          and (cast(:town as text) is null or township_code = :town)
        order by code""")
    df = pd.DataFrame(conn.execute(q, {"v": version_id, "level": level, "town": township})
                      .mappings().all(),
                      columns=["code", "name", "level", "parent_code", "township_code",
                               "population", "households", "area_m2", "worker", "geom"])
    geoms = shapely.from_wkb([bytes(b) for b in df.pop("geom")]) if len(df) else []
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, index=df.index),
                            crs=settings.STORAGE_SRID)


def grid_codes(conn: Connection, version_id: int, level: int) -> set[str]:
    """Codes of the grids of one level in a version."""
    return set(conn.execute(sa.text(
        "select code from grid where version_id = :v and level = :l"),
        {"v": version_id, "l": level}).scalars())
