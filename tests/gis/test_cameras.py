"""Cameras (雪亮工程): view shapes and coverage shares with known answers."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from gis import settings
from gis._errors import AnalysisError
from gis.cameras import (
    camera_coverage,
    camera_views,
    cameras_for_county,
    populated_proxy,
    villages_below_target,
)
from gis.crs import area_m2

GEOD = pyproj.Geod(ellps="WGS84")
CAM = (100.45, 38.93)  # in the demo county
EDGE_CAM = (101.99, 38.93)  # 3° east of the UTM zone's central meridian: convergence ≈ 1.9°


def cams(*rows: tuple) -> gpd.GeoDataFrame:
    """Cameras from (lon, lat, radius_m, direction_deg, angle_deg) tuples."""
    df = pd.DataFrame(rows, columns=["lon", "lat", "radius_m", "direction_deg", "angle_deg"])
    return gpd.GeoDataFrame({"code": [f"C{i}" for i in range(len(df))],
                             **{c: df[c] for c in ("radius_m", "direction_deg", "angle_deg")}},
                            geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4490")


def box_m(lon: float, lat: float, west: float, south: float, east: float, north: float
          ) -> shapely.Polygon:
    """Polygon of the parallels / meridians at the given distances (metres) from a point."""
    w = GEOD.fwd(lon, lat, 270, west)[0] if west else lon
    e = GEOD.fwd(lon, lat, 90, east)[0] if east else lon
    s = GEOD.fwd(lon, lat, 180, south)[1] if south else lat
    n = GEOD.fwd(lon, lat, 0, north)[1] if north else lat
    return shapely.box(w, s, e, n)


def grids(*geoms: shapely.Geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [f"G{i}" for i in range(len(geoms))]},
                            geometry=list(geoms), crs="EPSG:4490")


@pytest.mark.parametrize("angle", [30.0, 60.0, 90.0, 120.0, 200.0, 359.0, 360.0])
@pytest.mark.parametrize("radius", [30.0, 80.0, 500.0])
def test_sector_area_is_theta_over_360_pi_r2(angle: float, radius: float) -> None:
    views = camera_views(cams((*CAM, radius, 45.0, angle), (*EDGE_CAM, radius, 200.0, angle)))
    expected = angle / 360.0 * math.pi * radius**2
    np.testing.assert_allclose(area_m2(views.values), expected, rtol=0.01)
    assert (views.crs.to_epsg() == settings.STORAGE_SRID) and views.is_valid.all()


def test_full_circle_without_direction_or_angle() -> None:
    views = camera_views(cams((*CAM, 100.0, None, None), (*CAM, 100.0, 90.0, None),
                              (*CAM, 100.0, None, 60.0), (*CAM, None, None, None),
                              (*CAM, 100.0, 90.0, 0.0)))
    a = area_m2(views.values)
    np.testing.assert_allclose(a[:3], math.pi * 100.0**2, rtol=0.01)
    assert a[3] == pytest.approx(math.pi * settings.CAMERA_DEFAULT_RADIUS_M**2, rel=0.01)
    assert a[4] == 0.0


@pytest.mark.parametrize("origin", [CAM, EDGE_CAM])
@pytest.mark.parametrize("direction", [0.0, 90.0, 135.0, 270.0])
def test_sector_points_along_its_bearing_from_true_north(origin: tuple, direction: float
                                                         ) -> None:
    view = camera_views(cams((*origin, 1000.0, direction, 10.0))).iloc[0]
    tip = GEOD.fwd(origin[0], origin[1], direction, 900.0)
    assert view.contains(shapely.Point(tip[:2]))
    for off in (-6.5, 6.5):  # just outside the 10° view on either side (1.9° convergence)
        out = GEOD.fwd(origin[0], origin[1], direction + off, 900.0)
        assert not view.contains(shapely.Point(out[:2]))


def test_grid_inside_a_camera_circle_is_fully_covered() -> None:
    g = grids(box_m(*CAM, 20, 20, 20, 20), box_m(*CAM, 500, 500, -400, -400))
    cov = camera_coverage(g, cams((*CAM, 100.0, None, None)), populated="grid")
    assert cov.loc[0, "populated_share"] == pytest.approx(1.0, abs=1e-9)
    assert cov.loc[0, "grid_share"] == pytest.approx(1.0, abs=1e-9)
    assert cov.loc[1, "populated_share"] == 0.0
    assert cov["n_cameras"].tolist() == [1, 0]
    assert cov["populated_m2"].iloc[0] == pytest.approx(1600.0, rel=0.01)


def test_half_covered_grid() -> None:
    # a half-disc camera looking east from the middle of a 200 m square covers its east half
    g = grids(box_m(*CAM, 100, 100, 100, 100))
    cov = camera_coverage(g, cams((*CAM, 1000.0, 90.0, 180.0)), populated="grid")
    assert cov.loc[0, "populated_share"] == pytest.approx(0.5, abs=0.005)
    # two cameras whose views overlap are not counted twice
    both = camera_coverage(g, cams((*CAM, 1000.0, 90.0, 180.0), (*CAM, 1000.0, 90.0, 90.0)),
                           populated="grid")
    assert both.loc[0, "populated_share"] == pytest.approx(0.5, abs=0.005)
    assert both.loc[0, "n_cameras"] == 2


def test_key_areas_and_roads() -> None:
    g = grids(box_m(*CAM, 1000, 1000, 1000, 1000))
    camera = cams((*CAM, 100.0, None, None))
    key = gpd.GeoDataFrame(geometry=[box_m(*CAM, 50, 50, 150, 50)], crs="EPSG:4490")
    west, east = GEOD.fwd(*CAM, 270, 200)[:2], GEOD.fwd(*CAM, 90, 200)[:2]
    road = gpd.GeoSeries([shapely.LineString([west, east])], crs="EPSG:4490")
    cov = camera_coverage(g, camera, key_areas=key, key_roads=road, populated="grid")
    row = cov.iloc[0]
    assert row["key_road_m"] == pytest.approx(400.0, rel=0.005)
    assert row["key_road_share"] == pytest.approx(0.5, rel=0.01)
    assert row["key_area_m2"] == pytest.approx(20_000.0, rel=0.01)
    # the 200 × 100 m area from 50 m west to 150 m east: the share the disc covers
    pm = shapely.Point(0, 0).buffer(100.0, quad_segs=256)
    expected = shapely.box(-50, -50, 150, 50).intersection(pm).area / 20_000.0
    assert row["key_area_share"] == pytest.approx(expected, rel=0.01)
    # a grid without key areas or roads has NaN shares (nothing to cover)
    other = camera_coverage(grids(box_m(*CAM, -2000, 100, 2100, 100)), camera, key_areas=key,
                            key_roads=road, populated="grid").iloc[0]
    assert math.isnan(other["key_area_share"]) and math.isnan(other["key_road_share"])


def test_populated_proxy_centres() -> None:
    big, small = box_m(*CAM, 1000, 1000, 1000, 1000), box_m(*CAM, -1100, 50, 1200, 50)
    proxy = populated_proxy(grids(big, small), radius_m=150.0, method="centres")
    a = area_m2(proxy.values)
    assert a[0] == pytest.approx(math.pi * 150.0**2, rel=0.01)
    assert a[1] == pytest.approx(area_m2(np.array([small]))[0], rel=0.01)  # clipped to the grid
    assert populated_proxy(grids(big), method="grid").iloc[0].equals(big)
    with pytest.raises(AnalysisError, match="proxy"):
        populated_proxy(grids(big), method="roofs")
    # the default proxy (settings) is used by camera_coverage
    cov = camera_coverage(grids(big), cams((*CAM, 150.0, None, None)))
    assert settings.CAMERA_POPULATED_PROXY == "centres"
    pt = shapely.point_on_surface(big)
    centred = camera_coverage(grids(big), cams((pt.x, pt.y, 150.0, None, None)))
    assert centred.loc[0, "populated_share"] == pytest.approx(1.0, abs=0.01)
    assert cov.loc[0, "populated_m2"] == pytest.approx(math.pi * 150.0**2, rel=0.01)


def test_villages_below_target() -> None:
    cov = pd.DataFrame({"code": ["A", "B", "C", "D"],
                        "populated_share": [1.0, 0.5, np.nan, 0.999_999_5]})
    assert villages_below_target(cov)["code"].tolist() == ["B"]
    assert villages_below_target(cov, team_villages=["A", "C"]).empty
    below = villages_below_target(cov, target=0.6)
    assert below["code"].tolist() == ["B"] and below["shortfall"].iloc[0] == pytest.approx(0.1)
    assert villages_below_target(cov, target=0.4).empty
    with pytest.raises(AnalysisError):
        villages_below_target(cov, target=1.5)


def test_target_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    cov = pd.DataFrame({"code": ["A", "B"], "populated_share": [0.8, 0.5]})
    monkeypatch.setattr(settings, "CAMERA_TARGET_SHARE", 0.6)
    assert villages_below_target(cov)["code"].tolist() == ["B"]


def test_demo_county(demo, demo_engine) -> None:
    with demo_engine.connect() as conn:
        res = cameras_for_county(conn)
        grp = cameras_for_county(conn, level="group")
    g = res.grids
    assert len(g) == len(demo.villages) and set(g["code"]) == set(demo.villages["code"])
    assert g["n_cameras"].sum() == len(demo.cameras) == len(res.cameras)
    assert grp.grids["n_cameras"].sum() == len(demo.cameras)
    assert len(grp.grids) == len(demo.groups) and grp.below_target.empty
    assert ((g["populated_share"] >= 0) & (g["populated_share"] <= 1)).all()
    assert (g["populated_covered_m2"] <= g["populated_m2"] + 1e-6).all()
    # villages without a camera are all below the 100 % target
    none = set(g.loc[g["n_cameras"] == 0, "code"])
    assert none <= set(res.below_target["code"])
    assert len(res.below_target) <= len(g)
    with pytest.raises(AnalysisError, match="--level"), demo_engine.connect() as conn:
        cameras_for_county(conn, level="township")
