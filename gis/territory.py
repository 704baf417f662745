"""Territory units: the county, its townships (乡镇/街道) and villages (村), by code."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis.store.bulk import copy_rows

UNIT_COLUMNS = ["code", "adcode", "level", "name", "parent_code", "geom"]


def _hex(geoms: np.ndarray) -> list[str | None]:
    geoms = shapely.force_2d(geoms)
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms[single] = [shapely.multipolygons([g]) for g in geoms[single]]
    out = shapely.to_wkb(shapely.set_srid(geoms, settings.STORAGE_SRID), hex=True,
                         include_srid=True)
    return [None if g is None else str(g) for g in out]


def save_units(conn: Connection, adcode: str, level: str, gdf: gpd.GeoDataFrame) -> int:
    """Replace the units of one level of county ``adcode`` by ``gdf`` (code, name, parent_code).

    Runs inside the caller's transaction; returns the number of units written.
    """
    conn.execute(sa.text("delete from territory_unit where adcode = :a and level = :l"),
                 {"a": adcode, "l": level})
    geoms = _hex(np.asarray(gdf.geometry.values)) if "geometry" in gdf else [None] * len(gdf)
    parents = gdf["parent_code"] if "parent_code" in gdf else [None] * len(gdf)
    rows = ((str(c), adcode, level, str(n), None if p is None else str(p), g)
            for c, n, p, g in zip(gdf["code"], gdf["name"], parents, geoms, strict=True))
    return copy_rows(conn, "territory_unit", UNIT_COLUMNS, rows)


def units(conn: Connection, level: str, adcode: str | None = None) -> gpd.GeoDataFrame:
    """Units of one level as a GeoDataFrame (EPSG:4490), sorted by code."""
    rows = conn.execute(sa.text("""
        select code, adcode, name, parent_code, st_asbinary(geom) as geom from territory_unit
        where level = :l and (cast(:a as text) is null or adcode = :a) order by code"""),
        {"l": level, "a": adcode}).all()
    geoms = [shapely.from_wkb(bytes(r[4])) if r[4] is not None else None for r in rows]
    return gpd.GeoDataFrame({"code": [r[0] for r in rows], "adcode": [r[1] for r in rows],
                             "name": [r[2] for r in rows], "parent_code": [r[3] for r in rows]},
                            geometry=geoms, crs=settings.STORAGE_SRID)
