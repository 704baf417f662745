"""Response rings: geodesic known answers built with pyproj.Geod.fwd."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from gis._errors import AnalysisError
from gis.analytics.rings import (nearest_posts, populated_centres, response_rings,
                                 villages_outside_rings)

GEOD = pyproj.Geod(ellps="WGS84")
POST = (100.45, 38.93)  # in the demo county
AZIMUTHS = np.array([0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0])


def at(dist_m: float, az: np.ndarray, origin: tuple[float, float] = POST
       ) -> tuple[np.ndarray, np.ndarray]:
    lon, lat, _ = GEOD.fwd(np.full(len(az), origin[0]), np.full(len(az), origin[1]), az,
                           np.full(len(az), dist_m))
    return np.asarray(lon), np.asarray(lat)


def posts(*lonlat: tuple[float, float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [f"P{i}" for i in range(len(lonlat))],
                             "name": [f"派出所{i}" for i in range(len(lonlat))]},
                            geometry=shapely.points(np.array(lonlat)), crs="EPSG:4490")


def square_villages(lon: np.ndarray, lat: np.ndarray, half_deg: float = 0.0005
                    ) -> gpd.GeoDataFrame:
    """Small squares centred on the points (their representative point is the centre)."""
    geoms = shapely.box(lon - half_deg, lat - half_deg, lon + half_deg, lat + half_deg)
    return gpd.GeoDataFrame({"code": [f"V{i}" for i in range(len(lon))],
                             "name": [f"村{i}" for i in range(len(lon))],
                             "population": 1000}, geometry=geoms, crs="EPSG:4490")


def test_4900_m_is_inside_and_5100_m_outside_5_km() -> None:
    lon = np.r_[at(4900, AZIMUTHS)[0], at(5100, AZIMUTHS)[0], at(9900, AZIMUTHS)[0],
                at(10100, AZIMUTHS)[0]]
    lat = np.r_[at(4900, AZIMUTHS)[1], at(5100, AZIMUTHS)[1], at(9900, AZIMUTHS)[1],
                at(10100, AZIMUTHS)[1]]
    v = square_villages(lon, lat)
    out = villages_outside_rings(v, posts(POST))
    k = len(AZIMUTHS)
    expected = np.repeat([4900, 5100, 9900, 10100], k)
    assert (out["centre_method"] == "representative_point").all()
    np.testing.assert_allclose(out["distance_m"], expected, atol=1.0)
    assert out["inside_5km"].tolist() == [True] * k + [False] * 3 * k
    assert out["inside_10km"].tolist() == [True] * 3 * k + [False] * k
    assert out["outside_all"].tolist() == [False] * 3 * k + [True] * k
    assert (out["nearest_post"] == "P0").all() and (out["nearest_post_name"] == "派出所0").all()
    # the ring polygons agree with the flags
    rings = response_rings(posts(POST))
    pts = shapely.points(lon, lat)
    five, ten = rings.geometry.iloc[0], rings.geometry.iloc[1]
    assert shapely.contains(five, pts).tolist() == out["inside_5km"].tolist()
    assert shapely.contains(ten, pts).tolist() == out["inside_10km"].tolist()


@pytest.mark.parametrize("radius", [5000.0, 10000.0])
def test_ring_area_is_pi_r_squared(radius: float) -> None:
    rings = response_rings(posts(POST), radii_m=[radius])
    geodesic_area = abs(GEOD.geometry_area_perimeter(rings.geometry.iloc[0])[0])
    assert geodesic_area == pytest.approx(math.pi * radius ** 2, rel=5e-3)
    assert rings["area_km2"].iloc[0] == pytest.approx(math.pi * radius ** 2 / 1e6, rel=5e-3)
    assert rings.crs.to_epsg() == 4490


def test_rings_are_dissolved_per_radius() -> None:
    lon, lat = at(3000, np.array([90.0]))
    rings = response_rings(posts(POST, (float(lon[0]), float(lat[0]))))
    assert rings["radius_m"].tolist() == [5000.0, 10000.0]
    assert rings["minutes"].tolist() == [10.0, 20.0]
    assert rings["n_posts"].tolist() == [2, 2]
    for geom, r in zip(rings.geometry, rings["radius_m"], strict=True):
        assert len(geom.geoms) == 1  # one dissolved polygon
        area = abs(GEOD.geometry_area_perimeter(geom)[0])
        assert math.pi * r ** 2 < area < 2 * math.pi * r ** 2
    far = response_rings(posts(POST, (POST[0] + 1.0, POST[1])), radii_m=[5000])
    assert len(far.geometry.iloc[0].geoms) == 2  # 87 km apart: two discs


def test_nearest_post_is_the_geodesically_nearest() -> None:
    east = at(8000, np.array([90.0]))
    north = at(6000, np.array([0.0]))
    p = posts(POST, (float(east[0][0]), float(east[1][0])),
              (float(north[0][0]), float(north[1][0])))
    west, near_e, north5 = at(4000, np.array([270.0])), at(2000, np.array([90.0])), \
        at(5000, np.array([0.0]))
    out = nearest_posts(np.r_[west[0], near_e[0], north5[0]], np.r_[west[1], near_e[1], north5[1]],
                        p, radii_m=[4500])
    assert out["nearest_post"].tolist() == ["P0", "P0", "P2"]
    np.testing.assert_allclose(out["distance_m"], [4000, 2000, 1000], atol=1.0)
    assert out["inside_4.5km"].tolist() == [True, True, True]
    q2 = at(5000, np.array([90.0]))  # 5 km east: 3 km from the east post
    out2 = nearest_posts(q2[0], q2[1], p)
    assert out2["nearest_post"].iloc[0] == "P1"
    assert out2["distance_m"].iloc[0] == pytest.approx(3000, abs=1.0)
    assert list(out2.columns) == ["nearest_post", "nearest_post_name", "distance_m",
                                  "inside_5km", "inside_10km"]
    # plain (n, 2) lon / lat arrays work too; codes are then made up
    arr = nearest_posts(q2[0], q2[1], np.array([POST]))
    assert arr["nearest_post"].iloc[0] == "post0"


def test_population_weighted_centre_of_groups() -> None:
    # a village of two groups side by side (west 900 residents, east 100)
    w, s, e, n = 100.40, 38.90, 100.42, 38.91
    village = gpd.GeoDataFrame({"code": ["V1", "V2"]},
                               geometry=[shapely.box(w, s, e, n),
                                         shapely.box(e, s, e + 0.01, n)], crs="EPSG:4490")
    groups = gpd.GeoDataFrame({"parent_code": ["V1", "V1"], "population": [900, 100]},
                              geometry=[shapely.box(w, s, (w + e) / 2, n),
                                        shapely.box((w + e) / 2, s, e, n)], crs="EPSG:4490")
    lon, lat, method = populated_centres(village, groups)
    assert method.tolist() == ["population_weighted", "representative_point"]
    west_c, east_c = (w + (w + e) / 2) / 2, ((w + e) / 2 + e) / 2
    assert lon[0] == pytest.approx(0.9 * west_c + 0.1 * east_c, abs=1e-6)
    assert lat[0] == pytest.approx((s + n) / 2, abs=1e-6)


def test_bent_village_uses_the_nearest_group() -> None:
    # a U-shaped village: the weighted centre of its two arms falls in the gap
    arm_w = shapely.box(100.40, 38.90, 100.41, 38.93)
    arm_e = shapely.box(100.43, 38.90, 100.44, 38.93)
    base = shapely.box(100.40, 38.89, 100.44, 38.90)
    village = gpd.GeoDataFrame({"code": ["U"]}, geometry=[shapely.union_all([arm_w, arm_e, base])],
                               crs="EPSG:4490")
    groups = gpd.GeoDataFrame({"parent_code": ["U", "U", "U"], "population": [500, 480, 0]},
                              geometry=[arm_w, arm_e, base], crs="EPSG:4490")
    lon, lat, method = populated_centres(village, groups)
    assert method[0] == "nearest_group"
    assert shapely.contains_xy(arm_w, lon[0], lat[0])


def test_errors() -> None:
    v = square_villages(*at(1000, np.array([0.0])))
    with pytest.raises(AnalysisError, match="no police post"):
        villages_outside_rings(v, np.empty((0, 2)))
    with pytest.raises(AnalysisError, match="radii"):
        response_rings(posts(POST), radii_m=[0])
    with pytest.raises(AnalysisError, match="code"):
        villages_outside_rings(v.drop(columns="code"), posts(POST))
    assert isinstance(villages_outside_rings(v, posts(POST)), pd.DataFrame)
