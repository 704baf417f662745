"""一村一警一连 on the store: the coverage table of the grid version in force of a county."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import AnalysisError
from gis.coverage.table import force_coverage, officer_load, township_summary


@dataclass
class CountyCoverage:
    """What :func:`coverage_for_county` returns."""

    adcode: str
    version_id: int
    villages: gpd.GeoDataFrame
    """:func:`force_coverage` columns, ``township`` (name) and the village polygons."""
    townships: pd.DataFrame
    """:func:`township_summary`."""
    officers: pd.DataFrame
    """:func:`officer_load`."""
    posts: gpd.GeoDataFrame
    """Posts with ``n_officers`` and ``n_villages`` (villages of their officers)."""


def read_assignments(conn: Connection, adcode: str
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(officers, officer_villages, militia) of county ``adcode`` as stored."""
    officers = pd.DataFrame(conn.execute(sa.text(
        "select code, name, post_code from police_officer where adcode = :a order by code"),
        {"a": adcode}).all(), columns=["code", "name", "post_code"])
    ov = pd.DataFrame(conn.execute(sa.text(
        "select officer_code, village_code from officer_village where adcode = :a "
        "order by officer_code, village_code"), {"a": adcode}).all(),
        columns=["officer_code", "village_code"])
    militia = pd.DataFrame(conn.execute(sa.text(
        "select code, village_code, name, commander, strength from militia_company "
        "where adcode = :a order by code"), {"a": adcode}).all(),
        columns=["code", "village_code", "name", "commander", "strength"])
    return officers, ov, militia


def coverage_for_county(conn: Connection, adcode: str | None = None,
                        max_villages: int | None = None) -> CountyCoverage:
    """:func:`force_coverage` on the villages of the grid version in force of ``adcode``
    (default: the county whose version came into force last) and its stored forces."""
    from gis.forces import posts as read_posts
    from gis.grids import versions
    from gis.grids.store import read_grids
    from gis.territory import units

    vid = versions.in_force(conn, adcode)
    if vid is None:
        msg = "no grid version in force: load the demo ('wangge demo') or publish grids"
        raise AnalysisError(msg)
    adcode = str(versions.get_version(conn, vid)["adcode"])
    villages = read_grids(conn, vid, level=1)
    groups = read_grids(conn, vid, level=2)
    posts = read_posts(conn, adcode)
    officers, ov, militia = read_assignments(conn, adcode)
    towns = units(conn, "township", adcode)
    names = dict(zip(towns["code"], towns["name"], strict=True))
    table = force_coverage(villages, posts, officers, ov, militia, max_villages, groups=groups)
    table.insert(table.columns.get_loc("township_code") + 1, "township",
                 table["township_code"].map(names))
    gdf = gpd.GeoDataFrame(table, geometry=villages.geometry.values, crs=settings.STORAGE_SRID)
    load = officer_load(officers, ov, max_villages)
    p = posts.copy()
    p["n_officers"] = p["code"].map(load.groupby("post_code").size()).fillna(0).astype(int)
    p["n_villages"] = p["code"].map(load.groupby("post_code")["n_villages"].sum()) \
        .fillna(0).astype(int)
    return CountyCoverage(adcode=adcode, version_id=int(vid), villages=gdf,
                          townships=township_summary(table, names), officers=load, posts=p)
