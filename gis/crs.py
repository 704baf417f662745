"""Coordinate systems: EPSG codes, the Chinese GCJ-02 / BD-09 offsets, storage and metric CRS.

Storage is EPSG:4490 (CGCS2000 lon/lat, degrees), numerically equal to WGS84 (EPSG:4326)
for our purposes, so 4326 ↔ 4490 is the identity here. GCJ-02 ("Mars coordinates", used by
Gaode / Amap, Tencent, Google China) is WGS84 plus a published non-linear offset of a few
hundred metres; BD-09 (Baidu) adds a further offset on top of GCJ-02. Both offsets apply only
inside :data:`gis.settings.CHINA_BBOX`; points outside it are returned unchanged (the rule
every open implementation follows).

Area and distance work is done in the WGS84 UTM zone of the data (:func:`utm_crs_for`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from gis import settings
from gis._errors import CrsError

_A = 6378245.0  # semi-major axis (metres) of the Krasovsky 1940 ellipsoid used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0  # angular factor of the BD-09 offset
_INVERSE_TOL_DEG = 1e-12  # iterative inverses stop when forward(w) is this close, degrees
_INVERSE_MAX_ITER = 50
_STORAGE_EQUIVALENT = {4326}  # EPSG codes numerically equal to storage (WGS84 ≈ CGCS2000)

Kind = Literal["epsg", "gcj02", "bd09"]
F = NDArray[np.float64]
XY = tuple[F, F]

_ALIASES: dict[str, tuple[Kind, int | None]] = {
    "wgs84": ("epsg", 4326), "wgs-84": ("epsg", 4326), "wgs 84": ("epsg", 4326),
    "cgcs2000": ("epsg", 4490), "cgcs-2000": ("epsg", 4490),
    **{k: ("gcj02", None) for k in ("gcj02", "gcj-02", "gcj", "amap", "gaode", "mars")},
    **{k: ("bd09", None) for k in ("bd09", "bd-09", "bd09ll", "baidu")},
}
ACCEPTED_FORMS = ("EPSG:<code> (e.g. EPSG:4490, EPSG:4326, EPSG:4547)", "<code> (e.g. 4490)",
                  "wgs84", "cgcs2000", "gcj02 / gcj-02 / amap / gaode", "bd09 / bd-09 / baidu")
"""Human-readable list of what :func:`parse_crs` accepts (used in error messages)."""


@dataclass(frozen=True)
class CrsSpec:
    """A coordinate system the application can read or write.

    Attributes
    ----------
    kind : {"epsg", "gcj02", "bd09"}
        ``"epsg"`` for any EPSG-registered CRS, else one of the two Chinese offset systems
        (both lon/lat degrees on WGS84).
    epsg : int or None
        EPSG code when ``kind == "epsg"``, else None.
    """

    kind: Kind
    epsg: int | None = None

    def __str__(self) -> str:
        return f"EPSG:{self.epsg}" if self.kind == "epsg" else self.kind

    @property
    def is_geographic(self) -> bool:
        """True when coordinates are lon/lat degrees."""
        if self.kind != "epsg":
            return True
        return bool(pyproj.CRS.from_epsg(int(self.epsg or 0)).is_geographic)


def _rejected(text: object, why: str = "") -> CrsError:
    msg = f"unknown coordinate system {text!r}{': ' + why if why else ''}; " \
          f"accepted forms: {', '.join(ACCEPTED_FORMS)}"
    return CrsError(msg)


def _epsg_spec(code: int, text: object) -> CrsSpec:
    try:
        pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError as e:
        raise _rejected(text, f"EPSG:{code} is not in the EPSG registry") from e
    return CrsSpec("epsg", code)


def parse_crs(text: str | int | None) -> CrsSpec:
    """Parse a user-given coordinate system.

    Parameters
    ----------
    text : str or int
        ``"EPSG:4326"``, ``"epsg:4490"``, ``"4490"``, ``4326``, ``"wgs84"``, ``"cgcs2000"``,
        ``"gcj02"`` / ``"gcj-02"`` / ``"amap"`` / ``"gaode"``, ``"bd09"`` / ``"bd-09"`` /
        ``"baidu"``, or any other text pyproj resolves to an EPSG code (URN, WKT, PROJ JSON).

    Raises
    ------
    CrsError
        Empty, unknown, or without an EPSG code; the message lists the accepted forms.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        raise _rejected(text, "no coordinate system given")
    if isinstance(text, bool):
        raise _rejected(text)
    if isinstance(text, int):
        return _epsg_spec(text, text)
    s = str(text).strip()
    key = s.lower()
    if key in _ALIASES:
        kind, code = _ALIASES[key]
        return CrsSpec(kind, code)
    m = re.fullmatch(r"(?:epsg\s*:\s*)?(\d{4,6})", key)
    if m:
        return _epsg_spec(int(m.group(1)), text)
    try:
        crs = pyproj.CRS.from_user_input(s)
    except pyproj.exceptions.CRSError as e:
        raise _rejected(text) from e
    code = crs.to_epsg(min_confidence=70)
    if code is None:
        raise _rejected(text, "pyproj understands it but finds no EPSG code for it")
    return CrsSpec("epsg", int(code))


# --- GCJ-02 / BD-09 ------------------------------------------------------------------------

def _arrays(lon: ArrayLike, lat: ArrayLike) -> XY:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return x.astype(float, copy=True), y.astype(float, copy=True)


def _out(x: F, y: F, lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Floats for scalar input, else arrays of the broadcast shape."""
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(x), float(y)
    return x, y


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where (lon, lat) degrees lie inside :data:`settings.CHINA_BBOX` (bounds included)."""
    x0, y0, x1, y1 = settings.CHINA_BBOX
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def _gcj_delta(lon: F, lat: F) -> XY:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 (lon, lat) degrees."""
    x, y = lon - 105.0, lat - 35.0
    xp, yp = x * np.pi, y * np.pi
    common = (20.0 * np.sin(6.0 * xp) + 20.0 * np.sin(2.0 * xp)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + common + (20.0 * np.sin(yp) + 40.0 * np.sin(yp / 3.0)) * 2.0 / 3.0
            + (160.0 * np.sin(yp / 12.0) + 320.0 * np.sin(yp / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + common + (20.0 * np.sin(xp) + 40.0 * np.sin(xp / 3.0)) * 2.0 / 3.0
            + (150.0 * np.sin(xp / 12.0) + 300.0 * np.sin(xp / 30.0)) * 2.0 / 3.0)
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """WGS84 → GCJ-02.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 longitude and latitude, degrees (broadcast together).

    Returns
    -------
    (lon, lat) : GCJ-02 degrees, floats for scalar input, else arrays of the broadcast shape.
        Points outside :data:`settings.CHINA_BBOX` are returned unchanged.
    """
    x, y = _arrays(lon, lat)
    mask = in_china(x, y)
    dx, dy = _gcj_delta(x[mask], y[mask])
    x[mask] += dx
    y[mask] += dy
    return _out(x, y, lon, lat)


def _iterate_inverse(forward: Callable[[F, F], XY], x: F, y: F, start: XY | None = None) -> XY:
    """Solve forward(w) = (x, y) by fixed-point iteration w ← w − (forward(w) − (x, y)).

    Converges because both offsets vary slowly (their Jacobian is identity + O(1e-3)).
    """
    wx, wy = (x.copy(), y.copy()) if start is None else (start[0].copy(), start[1].copy())
    todo = np.ones(x.shape, dtype=bool)
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = forward(wx[todo], wy[todo])
        ex, ey = fx - x[todo], fy - y[todo]
        wx[todo] -= ex
        wy[todo] -= ey
        done = (np.abs(ex) < _INVERSE_TOL_DEG) & (np.abs(ey) < _INVERSE_TOL_DEG)
        idx = np.flatnonzero(todo)
        todo[idx[done]] = False
        if not todo.any():
            break
    return wx, wy


def _fwd_gcj(x: F, y: F) -> XY:
    dx, dy = _gcj_delta(x, y)
    return x + dx, y + dy


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """GCJ-02 → WGS84 degrees, the exact (iterative) inverse of :func:`wgs84_to_gcj02`.

    Round-trip error is below 1e-9 degrees (≈ 0.1 mm), unlike the common one-step
    approximation (1–2 m). Same shapes as :func:`wgs84_to_gcj02`; outside China unchanged.
    """
    x, y = _arrays(lon, lat)
    mask = in_china(x, y)
    if mask.any():
        x[mask], y[mask] = _iterate_inverse(_fwd_gcj, x[mask], y[mask])
    return _out(x, y, lon, lat)


def _gcj_to_bd(x: F, y: F) -> XY:
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """GCJ-02 → BD-09 (Baidu), degrees; points outside China unchanged."""
    x, y = _arrays(lon, lat)
    mask = in_china(x, y)
    x[mask], y[mask] = _gcj_to_bd(x[mask], y[mask])
    return _out(x, y, lon, lat)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """BD-09 (Baidu) → GCJ-02, degrees; points outside China unchanged.

    Starts from the published closed-form approximation and refines it iteratively so that
    ``gcj02_to_bd09(*bd09_to_gcj02(p)) == p`` to 1e-12 degrees (the closed form alone is
    off by up to ~1e-6 degrees).
    """
    x, y = _arrays(lon, lat)
    mask = in_china(x, y)
    if mask.any():
        bx, by = x[mask] - 0.0065, y[mask] - 0.006
        z = np.hypot(bx, by) - 0.00002 * np.sin(by * _X_PI)
        theta = np.arctan2(by, bx) - 0.000003 * np.cos(bx * _X_PI)
        start = (z * np.cos(theta), z * np.sin(theta))
        x[mask], y[mask] = _iterate_inverse(_gcj_to_bd, x[mask], y[mask], start)
    return _out(x, y, lon, lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """WGS84 → BD-09 (via GCJ-02), degrees; points outside China unchanged."""
    bx, by = gcj02_to_bd09(*wgs84_to_gcj02(*_arrays(lon, lat)))
    return _out(bx, by, lon, lat)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """BD-09 → WGS84 (via GCJ-02, both steps exact inverses), degrees."""
    wx, wy = gcj02_to_wgs84(*bd09_to_gcj02(*_arrays(lon, lat)))
    return _out(wx, wy, lon, lat)


# --- Geometries: storage, export, metric ---------------------------------------------------

def _apply(geoms: ArrayLike, func: Callable[[ArrayLike, ArrayLike], tuple]) -> NDArray[np.object_]:
    """Apply a (lon, lat) → (lon, lat) function to every coordinate of ``geoms`` (2D)."""
    arr = np.asarray(geoms, dtype=object)

    def xy(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])

    return shapely.transform(arr, xy)


def _pyproj(geoms: ArrayLike, src: object, dst: object) -> NDArray[np.object_]:
    tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return _apply(geoms, lambda x, y: tr.transform(x, y))


def to_storage(geoms: ArrayLike, crs: CrsSpec | None,
               source_crs: object = None) -> NDArray[np.object_]:
    """Convert geometries to storage coordinates, EPSG:4490 lon/lat degrees.

    Parameters
    ----------
    geoms : array_like of shapely geometries
        Geometries in ``crs`` (or in ``source_crs`` when ``crs`` is None). None stays None.
    crs : CrsSpec or None
        The coordinate system of ``geoms``. EPSG:4326 and EPSG:4490 are returned unchanged;
        other EPSG codes are reprojected with pyproj; GCJ-02 / BD-09 are converted point by
        point with the exact inverses.
    source_crs : pyproj.CRS, str or None
        Used when ``crs`` is None: anything :class:`pyproj.CRS` accepts (e.g. a file's WKT
        that has no EPSG code).

    Returns
    -------
    numpy.ndarray of shapely geometries in EPSG:4490 (raises CrsError if no CRS is given).
    """
    arr = np.asarray(geoms, dtype=object)
    if crs is None:
        if source_crs is None:
            msg = "to_storage: no coordinate system for the geometries; pass crs " \
                  "(EPSG:4490, EPSG:4326, gcj02 or bd09)"
            raise CrsError(msg)
        src = pyproj.CRS.from_user_input(source_crs)
        code = src.to_epsg(min_confidence=70)
        if code is None:
            return _pyproj(arr, src, settings.STORAGE_SRID)
        crs = CrsSpec("epsg", int(code))
    return _convert(arr, crs, to_store=True)


def _convert(arr: NDArray[np.object_], crs: CrsSpec, to_store: bool) -> NDArray[np.object_]:
    if crs.kind != "epsg":
        funcs = {"gcj02": (gcj02_to_wgs84, wgs84_to_gcj02), "bd09": (bd09_to_wgs84, wgs84_to_bd09)}
        return _apply(arr, funcs[crs.kind][0 if to_store else 1])
    if crs.epsg == settings.STORAGE_SRID or crs.epsg in _STORAGE_EQUIVALENT:
        return arr.copy()
    ends = (crs.epsg, settings.STORAGE_SRID)
    return _pyproj(arr, *(ends if to_store else ends[::-1]))


def from_storage(geoms: ArrayLike, crs: CrsSpec) -> NDArray[np.object_]:
    """Convert storage geometries (EPSG:4490 degrees) to ``crs`` for export.

    GCJ-02 / BD-09 results are lon/lat degrees (files carry EPSG:4490 / 4326 as their CRS
    label); other EPSG codes are reprojected with pyproj.
    """
    return _convert(np.asarray(geoms, dtype=object), crs, to_store=False)


def utm_crs_for(lon: float, lat: float) -> pyproj.CRS:
    """The WGS84 UTM zone (EPSG:326xx north, 327xx south) containing (lon, lat) degrees.

    Plain 6° zones (the Norway / Svalbard exceptions do not touch China). Raises CrsError
    when ``lon`` / ``lat`` are not finite or out of range.
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"utm_crs_for: ({lon}, {lat}) is not a lon/lat position in degrees " \
              "(lon in [-180, 180], lat in [-90, 90])"
        raise CrsError(msg)
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def combined_centroid(geoms: ArrayLike) -> tuple[float, float]:
    """Area-weighted mean of the centroids of ``geoms`` (degrees); plain mean if no area."""
    arr = np.asarray(geoms, dtype=object)
    arr = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)]
    if arr.size == 0:
        msg = "cannot choose a metric CRS: no non-empty geometry"
        raise CrsError(msg)
    c = shapely.get_coordinates(shapely.centroid(arr))  # no row for an EMPTY centroid
    w = shapely.area(arr)
    if len(c) != len(arr) or not np.isfinite(c).all():  # degenerate (e.g. bow-tie) parts
        c = shapely.get_coordinates(shapely.centroid(shapely.envelope(arr)))
    if not np.isfinite(w).all() or w.sum() <= 0:
        w = np.ones(len(arr))
    return float(np.average(c[:, 0], weights=w)), float(np.average(c[:, 1], weights=w))


def to_metric(geoms: ArrayLike) -> tuple[NDArray[np.object_], pyproj.CRS]:
    """Project storage geometries to the UTM zone of their combined centroid.

    Returns
    -------
    (numpy.ndarray of shapely geometries in metres, pyproj.CRS of that UTM zone)
    """
    arr = np.asarray(geoms, dtype=object)
    utm = utm_crs_for(*combined_centroid(arr))
    # storage degrees are numerically WGS84: project from 4326 (no ballpark datum step)
    return _pyproj(arr, 4326, utm), utm


def area_m2(geoms: ArrayLike) -> NDArray[np.float64]:
    """Area of each storage geometry in square metres (UTM zone of their combined centroid).

    Missing or empty geometries get 0.
    """
    arr = np.asarray(geoms, dtype=object)
    out = np.zeros(arr.shape, dtype=float)
    ok = ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
    if ok.any():
        metric, _ = to_metric(arr[ok])
        out[ok] = shapely.area(metric)
    return out
