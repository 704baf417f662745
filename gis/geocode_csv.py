"""Geocode a CSV of points: add village and group code and name to every row.

Rows that cannot be placed keep empty codes and get a ``reason``: missing coordinates,
coordinates out of range, lat/lon apparently swapped, or outside the territory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from gis import settings
from gis._errors import GeocodeError, InputFileError
from gis.crs import CrsSpec, bd09_to_wgs84, gcj02_to_wgs84, parse_crs
from gis.grids.lookup import GridLookup

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "lon_wgs84")
LAT_NAMES = ("lat", "latitude", "y", "纬度", "lat_wgs84")


@dataclass
class GeocodeSummary:
    """Counts of a CSV geocode run."""

    rows: int
    placed: int
    outside: int
    invalid: int
    version_id: int


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV as text columns: UTF-8 (with or without BOM), else GBK (Excel in China)."""
    for enc in ("utf-8-sig", "gbk"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc)
        except UnicodeDecodeError:
            continue
        except FileNotFoundError as e:
            msg = f"{path}: no such file"
            raise InputFileError(msg) from e
    msg = f"{path}: neither UTF-8 nor GBK text; save it as UTF-8 CSV"
    raise InputFileError(msg)


def _pick(df: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str,
          path: str | Path) -> str:
    if given:
        if given not in df.columns:
            msg = f"{path}: no column {given!r} for {what}; columns are {list(df.columns)}"
            raise InputFileError(msg)
        return given
    lower = {c.lower().strip(): c for c in df.columns}
    for n in names:
        if n in lower:
            return lower[n]
    msg = f"{path}: cannot find the {what} column (tried {', '.join(names)}); " \
          f"pass --{what[:3]}-col; columns are {list(df.columns)}"
    raise InputFileError(msg)


def to_storage_xy(lon: np.ndarray, lat: np.ndarray, spec: CrsSpec) -> tuple[np.ndarray, np.ndarray]:
    """Convert point coordinates in ``spec`` to EPSG:4490 lon/lat degrees."""
    if spec.kind == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if spec.kind == "bd09":
        return bd09_to_wgs84(lon, lat)
    if spec.epsg in (4326, settings.STORAGE_SRID):
        return lon, lat
    tr = Transformer.from_crs(spec.epsg, settings.STORAGE_SRID, always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.asarray(x), np.asarray(y)


def geocode_points(lookup: GridLookup, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Village / group code and name and a reason for every point (EPSG:4490 degrees)."""
    n = len(lon)
    reason = np.full(n, "", dtype=object)
    missing = np.isnan(lon) | np.isnan(lat)
    bad = ~missing & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    reason[missing] = "missing coordinates"
    reason[bad] = "coordinates out of range"
    pos = np.full(n, -1)
    ok = ~missing & ~bad
    pos[ok] = lookup.locate(lon[ok], lat[ok])
    retry = (ok & (pos < 0)) | bad
    reason[ok & (pos < 0)] = "outside the territory"
    if retry.any():
        swapped = lookup.locate(lat[retry], lon[retry]) >= 0
        idx = np.flatnonzero(retry)[swapped]
        reason[idx] = "lat/lon look swapped (swap the columns or pass --lon-col / --lat-col)"
    inside = pos >= 0
    cols = {}
    for name, arr in (("village_code", lookup.village_codes), ("village_name", lookup.village_names),
                      ("group_code", lookup.group_codes), ("group_name", lookup.group_names)):
        col = np.full(n, "", dtype=object)
        col[inside] = arr[pos[inside]]
        cols[name] = col
    cols["reason"] = reason
    return pd.DataFrame(cols)


def geocode_csv(lookup: GridLookup, src: str | Path, out: str | Path, lon_col: str | None = None,
                lat_col: str | None = None, crs: str | None = None) -> GeocodeSummary:
    """Read ``src``, geocode every row, write ``out`` (UTF-8 with BOM, opens in Excel)."""
    df = read_csv(src)
    lo = _pick(df, lon_col, LON_NAMES, "longitude", src)
    la = _pick(df, lat_col, LAT_NAMES, "latitude", src)
    lon = pd.to_numeric(df[lo].str.strip(), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df[la].str.strip(), errors="coerce").to_numpy(dtype=float)
    spec = parse_crs(crs or "EPSG:4326")
    ok = ~(np.isnan(lon) | np.isnan(lat))
    x, y = lon.copy(), lat.copy()
    if ok.any():
        x[ok], y[ok] = to_storage_xy(lon[ok], lat[ok], spec)
    res = geocode_points(lookup, x, y)
    clash = [c for c in res.columns if c in df.columns]
    if clash:
        msg = f"{src}: already has column(s) {clash}; rename them before geocoding"
        raise GeocodeError(msg)
    pd.concat([df, res], axis=1).to_csv(out, index=False, encoding="utf-8-sig")
    placed = int((res["group_code"] != "").sum())
    outside = int((res["reason"] == "outside the territory").sum())
    return GeocodeSummary(rows=len(df), placed=placed, outside=outside,
                          invalid=len(df) - placed - outside, version_id=lookup.version_id)
