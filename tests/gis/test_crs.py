"""Coordinate systems: GCJ-02 / BD-09 against published vectors, exact inverses, parse_crs,
UTM zones and storage / metric conversion of geometries."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import shapely

from gis import crs
from gis._errors import CrsError
from gis.crs import (CrsSpec, area_m2, bd09_to_gcj02, bd09_to_wgs84, from_storage, gcj02_to_bd09,
                     gcj02_to_wgs84, parse_crs, to_metric, to_storage, utm_crs_for, wgs84_to_bd09,
                     wgs84_to_gcj02)

GEOD = pyproj.Geod(ellps="WGS84")

# (wgs lon, wgs lat, gcj lon, gcj lat)
WGS_GCJ = [
    # googollee/eviltransform python/test.py (Shanghai, Shenzhen, Beijing)
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    # wandergis/coordtransform README: wgs84togcj02(116.404, 39.915), Tiananmen
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
    # pyxis / geotool test constants (Jiaxing, Zhejiang)
    (121.0917077, 30.6107779, 121.09626935575027, 30.608604331756705),
]
# wandergis/coordtransform README: gcj02tobd09(116.404, 39.915), bd09togcj02(116.404, 39.915)
GCJ_TO_BD = [((116.404, 39.915), (116.41036949371029, 39.92133699351021))]
BD_TO_GCJ = [((116.404, 39.915), (116.39762729119315, 39.90865673957631))]
# (wgs) -> (bd09): coordtransform README wgs84_to_bd09 and the pyxis / geotool constants
WGS_TO_BD = [((116.404, 39.915), (116.41662724378733, 39.922699552216216)),
             ((121.0917077, 30.6107779), (121.10271732371203, 30.61484572185035))]

OUTSIDE = np.array([[2.3522, 48.8566], [139.6917, 35.6895], [-74.006, 40.7128], [151.2, -33.9],
                    [72.0, 30.0], [100.0, 56.0]])  # Paris, Tokyo, New York, Sydney, west, north


def _geod_m(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    return GEOD.inv(x1, y1, x2, y2)[2]


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), WGS_GCJ)
def test_wgs84_to_gcj02_matches_published_pairs(wlon: float, wlat: float, glon: float,
                                                glat: float) -> None:
    x, y = wgs84_to_gcj02(wlon, wlat)

    assert isinstance(x, float) and isinstance(y, float)
    assert abs(x - glon) < 1e-6 and abs(y - glat) < 1e-6


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), WGS_GCJ)
def test_gcj02_to_wgs84_recovers_the_published_wgs84(wlon: float, wlat: float, glon: float,
                                                     glat: float) -> None:
    x, y = gcj02_to_wgs84(glon, glat)

    assert abs(x - wlon) < 1e-6 and abs(y - wlat) < 1e-6


def test_bd09_matches_published_pairs() -> None:
    for (gx, gy), (bx, by) in GCJ_TO_BD:
        got = gcj02_to_bd09(gx, gy)
        assert abs(got[0] - bx) < 1e-6 and abs(got[1] - by) < 1e-6
    for (bx, by), (gx, gy) in BD_TO_GCJ:
        got = bd09_to_gcj02(bx, by)
        assert abs(got[0] - gx) < 1e-6 and abs(got[1] - gy) < 1e-6
    for (wx, wy), (bx, by) in WGS_TO_BD:
        got = wgs84_to_bd09(wx, wy)
        assert abs(got[0] - bx) < 1e-6 and abs(got[1] - by) < 1e-6
        back = bd09_to_wgs84(bx, by)
        assert abs(back[0] - wx) < 1e-6 and abs(back[1] - wy) < 1e-6


def test_the_offset_is_hundreds_of_metres_in_beijing() -> None:
    x, y = wgs84_to_gcj02(116.404, 39.915)

    assert 400 < _geod_m(np.array(116.404), np.array(39.915), np.array(x), np.array(y)) < 700


def _random_china(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(73.5, 134.8, n), rng.uniform(18.2, 53.5, n)


def test_gcj02_round_trip_error_is_below_a_centimetre() -> None:
    lon, lat = _random_china(10_000)

    glon, glat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    err = _geod_m(lon, lat, back_lon, back_lat)
    # the usual one-step inverse (subtract the offset at the GCJ point) is metres off:
    dx, dy = np.asarray(glon) - lon, np.asarray(glat) - lat
    one_lon, one_lat = wgs84_to_gcj02(glon, glat)
    naive = _geod_m(lon, lat, 2 * glon - np.asarray(one_lon), 2 * glat - np.asarray(one_lat))

    assert glon.shape == lon.shape == back_lon.shape
    assert np.hypot(dx, dy).min() > 1e-4  # every point really moved
    assert err.max() < 0.01, f"max round-trip error {err.max():.4f} m"
    assert naive.max() > 0.1  # the test would catch the approximate inverse


def test_bd09_round_trip_error_is_below_a_centimetre() -> None:
    lon, lat = _random_china(10_000, seed=11)

    back_lon, back_lat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    gx, gy = _random_china(10_000, seed=12)
    g2x, g2y = bd09_to_gcj02(*gcj02_to_bd09(gx, gy))

    assert _geod_m(lon, lat, back_lon, back_lat).max() < 0.01
    assert _geod_m(gx, gy, g2x, g2y).max() < 0.01


@pytest.mark.parametrize("func", [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02,
                                  wgs84_to_bd09, bd09_to_wgs84])
def test_points_outside_china_are_unchanged(func) -> None:  # noqa: ANN001
    x, y = func(OUTSIDE[:, 0], OUTSIDE[:, 1])
    inside = func(np.array([100.45]), np.array([38.93]))

    np.testing.assert_array_equal(x, OUTSIDE[:, 0])
    np.testing.assert_array_equal(y, OUTSIDE[:, 1])
    assert inside[0][0] != 100.45


def test_arrays_keep_their_shape() -> None:
    lon = np.array([[116.404, 121.5272106], [113.912316, 2.3522]])
    lat = np.array([[39.915, 31.1774276], [22.543847, 48.8566]])

    x, y = wgs84_to_gcj02(lon, lat)

    assert x.shape == y.shape == (2, 2)
    assert x[0, 0] == pytest.approx(116.41024449916938, abs=1e-9)
    assert (x[1, 1], y[1, 1]) == (2.3522, 48.8566)


@pytest.mark.parametrize(("text", "kind", "epsg"), [
    ("EPSG:4326", "epsg", 4326), ("epsg:4490", "epsg", 4490), ("4490", "epsg", 4490),
    (4326, "epsg", 4326), ("wgs84", "epsg", 4326), ("WGS84", "epsg", 4326),
    ("cgcs2000", "epsg", 4490), ("gcj02", "gcj02", None), ("GCJ-02", "gcj02", None),
    ("amap", "gcj02", None), ("gaode", "gcj02", None), ("bd09", "bd09", None),
    ("bd-09", "bd09", None), ("baidu", "bd09", None), ("EPSG:4547", "epsg", 4547),
    ("urn:ogc:def:crs:EPSG::32647", "epsg", 32647), (" EPSG:3857 ", "epsg", 3857),
])
def test_parse_crs_accepts(text: str | int, kind: str, epsg: int | None) -> None:
    spec = parse_crs(text)

    assert spec == CrsSpec(kind, epsg)  # type: ignore[arg-type]


def test_parse_crs_spec_is_frozen_and_prints() -> None:
    spec = parse_crs("EPSG:4490")

    with pytest.raises(AttributeError):
        spec.epsg = 4326  # type: ignore[misc]
    assert (str(spec), str(parse_crs("amap"))) == ("EPSG:4490", "gcj02")


@pytest.mark.parametrize("text", ["gcj03", "EPSG:999999", "", None, "mercator-ish", "12"])
def test_parse_crs_rejects_with_accepted_forms(text: str | None) -> None:
    with pytest.raises(CrsError) as exc:
        parse_crs(text)

    msg = str(exc.value)
    assert "accepted forms" in msg and "EPSG:4490" in msg and "gcj02" in msg and "bd09" in msg


@pytest.mark.parametrize(("lon", "lat", "epsg"), [
    (100.45, 38.93, 32647),  # Zhangye, Gansu
    (116.404, 39.915, 32650),  # Beijing
    (87.6, 43.8, 32645),  # Urumqi
    (151.2, -33.9, 32756),  # Sydney (south)
    (180.0, 0.0, 32660),
])
def test_utm_zone(lon: float, lat: float, epsg: int) -> None:
    assert utm_crs_for(lon, lat).to_epsg() == epsg


def test_utm_zone_rejects_non_degrees() -> None:
    with pytest.raises(CrsError, match="not a lon/lat position"):
        utm_crs_for(450_000.0, 4_300_000.0)


def test_to_storage_gcj02_moves_a_known_point_back_to_wgs84() -> None:
    wx, wy, gx, gy = WGS_GCJ[3]
    poly = shapely.box(gx, gy, gx + 0.01, gy + 0.01)

    out = to_storage(np.array([poly, None]), parse_crs("gcj02"))

    assert out[1] is None
    first = shapely.get_coordinates(out[0])
    corner = first[np.argmin(first.sum(axis=1))]
    assert corner == pytest.approx([wx, wy], abs=1e-8)


def test_to_storage_epsg_4326_and_4490_are_identity() -> None:
    poly = shapely.box(100.4, 38.9, 100.42, 38.92)

    for spec in (parse_crs(4326), parse_crs(4490)):
        assert shapely.equals_exact(to_storage([poly], spec)[0], poly, tolerance=0)


def test_projected_round_trip_and_source_crs_without_epsg() -> None:
    poly = shapely.box(100.4, 38.9, 100.42, 38.92)
    utm = from_storage([poly], parse_crs(32647))[0]
    custom = "+proj=tmerc +lon_0=101 +k=1 +x_0=500000 +ellps=GRS80 +units=m +no_defs"
    tm = shapely.transform(np.array([poly]), lambda xy: np.column_stack(
        pyproj.Transformer.from_crs(4490, custom, always_xy=True).transform(xy[:, 0], xy[:, 1])))

    assert 600_000 < shapely.get_coordinates(utm)[0, 0] < 650_000  # metres east of 99°E + 500 km
    assert shapely.equals_exact(to_storage([utm], parse_crs(32647))[0], poly, tolerance=1e-9)
    assert shapely.equals_exact(to_storage(tm, None, source_crs=custom)[0], poly, tolerance=1e-9)
    with pytest.raises(CrsError, match="gcj02 or bd09"):
        to_storage([poly], None)


@pytest.mark.parametrize("name", ["gcj02", "bd09"])
def test_from_storage_then_to_storage_is_identity(name: str) -> None:
    poly = shapely.Polygon([(100.4, 38.9), (100.45, 38.9), (100.43, 38.95)])

    there = from_storage([poly], parse_crs(name))
    back = to_storage(there, parse_crs(name))

    assert shapely.hausdorff_distance(there[0], poly) > 1e-3  # moved by hundreds of metres
    assert shapely.equals_exact(back[0], poly, tolerance=1e-10)


def test_area_m2_matches_utm_and_the_ellipsoid() -> None:
    box = shapely.box(100.40, 38.90, 100.42, 38.92)
    empty = shapely.Polygon()

    areas = area_m2(np.array([box, empty, None]))
    metric, utm = to_metric([box])
    geod_area = abs(GEOD.geometry_area_perimeter(box)[0])
    utm_area = pyproj.Transformer.from_crs(4326, 32647, always_xy=True)
    ring = np.column_stack(utm_area.transform(*shapely.get_coordinates(box).T))

    assert utm.to_epsg() == 32647
    assert areas[0] == pytest.approx(shapely.Polygon(ring).area, rel=1e-12)
    assert areas[0] == pytest.approx(metric[0].area, rel=1e-12)
    assert areas[0] == pytest.approx(geod_area, rel=2e-3)  # UTM scale error ≤ 0.1 %
    assert 3.8e6 < areas[0] < 3.9e6  # ≈ 1.73 km × 2.22 km
    assert list(areas[1:]) == [0.0, 0.0]


def test_china_bbox_setting_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crs.settings, "CHINA_BBOX", (0.0, 0.0, 1.0, 1.0))

    assert wgs84_to_gcj02(116.404, 39.915) == (116.404, 39.915)
