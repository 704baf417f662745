"""Forces and devices on the ground: police posts and officers (一村一警), militia companies
(一村一连) and cameras (雪亮工程). Writers replace a county's rows in one transaction."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis.store.bulk import copy_rows


def _points_hex(gdf: gpd.GeoDataFrame) -> list[str]:
    geoms = shapely.set_srid(shapely.force_2d(np.asarray(gdf.geometry.values)),
                             settings.STORAGE_SRID)
    return [str(h) for h in shapely.to_wkb(geoms, hex=True, include_srid=True)]


def _none(v: object) -> object:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v


def save_forces(conn: Connection, adcode: str, posts: gpd.GeoDataFrame,
                officers: pd.DataFrame, officer_villages: pd.DataFrame,
                militia: pd.DataFrame, cameras: gpd.GeoDataFrame) -> dict[str, int]:
    """Replace the posts, officers, assignments, militia and cameras of county ``adcode``.

    ``posts``: code, name, township_code, geometry (points, EPSG:4490); ``officers``: code,
    name, post_code; ``officer_villages``: officer_code, village_code; ``militia``: code,
    village_code, name, commander, strength; ``cameras``: code, radius_m (metres),
    direction_deg, angle_deg (degrees), geometry. Returns row counts per table.
    """
    for table in ("officer_village", "police_officer", "militia_company", "camera",
                  "police_post"):
        conn.execute(sa.text(f"delete from {table} where adcode = :a"), {"a": adcode})
    n = {}
    n["police_post"] = copy_rows(conn, "police_post", ["code", "adcode", "name", "township_code",
                                                       "geom"],
                                 zip(posts["code"], [adcode] * len(posts), posts["name"],
                                     posts["township_code"], _points_hex(posts), strict=True))
    n["police_officer"] = copy_rows(conn, "police_officer", ["code", "adcode", "name",
                                                             "post_code"],
                                    ((c, adcode, nm, _none(p)) for c, nm, p in zip(
                                        officers["code"], officers["name"],
                                        officers["post_code"], strict=True)))
    n["officer_village"] = copy_rows(conn, "officer_village", ["officer_code", "village_code",
                                                               "adcode"],
                                     ((o, v, adcode) for o, v in zip(
                                         officer_villages["officer_code"],
                                         officer_villages["village_code"], strict=True)))
    n["militia_company"] = copy_rows(conn, "militia_company", ["code", "adcode", "village_code",
                                                               "name", "commander", "strength"],
                                     ((c, adcode, v, nm, _none(cm), _none(s) if _none(s) is None
                                       else int(s)) for c, v, nm, cm, s in zip(
                                         militia["code"], militia["village_code"],
                                         militia["name"], militia["commander"],
                                         militia["strength"], strict=True)))
    n["camera"] = copy_rows(conn, "camera", ["code", "adcode", "radius_m", "direction_deg",
                                             "angle_deg", "geom"],
                            ((c, adcode, float(r), _none(d), _none(a), g) for c, r, d, a, g in zip(
                                cameras["code"], cameras["radius_m"],
                                cameras.get("direction_deg", [None] * len(cameras)),
                                cameras.get("angle_deg", [None] * len(cameras)),
                                _points_hex(cameras), strict=True)))
    return n


def posts(conn: Connection, adcode: str | None = None) -> gpd.GeoDataFrame:
    """Police posts as points (EPSG:4490)."""
    rows = conn.execute(sa.text("""select code, name, township_code, st_x(geom), st_y(geom)
        from police_post where cast(:a as text) is null or adcode = :a order by code"""),
        {"a": adcode}).all()
    df = pd.DataFrame(rows, columns=["code", "name", "township_code", "lon", "lat"])
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat),
                            crs=settings.STORAGE_SRID)
