"""Forces layers (一村一警一连 coverage, police posts, cameras per grid) from hand-made grids,
rendered by both renderers."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.cameras import camera_coverage, populated_proxy
from gis.coverage import force_coverage
from layers import folium as lfolium
from layers import leaflet as lleaflet
from layers.base import Layer
from layers.forces import (
    CAMERA_SHARE_BREAKS,
    OKABE_ITO,
    STATUS_CODES,
    camera_points,
    cameras_layer,
    coverage_layer,
    posts_layer,
)
from layers.i18n import has, t

N_CAMERAS = 3_000


@pytest.fixture(scope="module")
def coverage(small_grids: dict) -> gpd.GeoDataFrame:
    v = small_grids["villages"]
    codes = list(v["code"])
    rep = shapely.point_on_surface(np.asarray(v.geometry.values))
    far = shapely.Point(rep[0].x - 0.4, rep[0].y)  # ~35 km west of the county
    posts = gpd.GeoDataFrame({"code": ["P0", "P1", "P2"], "name": ["一所", "二所", "远所"]},
                             geometry=[rep[0], rep[8], far], crs="EPSG:4490")
    officers = pd.DataFrame({"code": ["O1", "O2", "O3"], "name": ["张三", "李四", "王五"],
                             "post_code": ["P0", "P1", "P2"]})
    # village 0: ok; 1: no officer; 2: no company; 3-6: one officer (overloaded);
    # 7: officer O3 at the far post; 8: ok
    ov = pd.DataFrame({"officer_code": ["O1", "O1"] + ["O2"] * 4 + ["O3", "O1"],
                       "village_code": [codes[0], codes[2], *codes[3:7], codes[7], codes[8]]})
    militia = pd.DataFrame({"code": [f"{c}MB" for c in codes if c != codes[2]],
                            "village_code": [c for c in codes if c != codes[2]],
                            "name": [f"{i}连" for i in range(8)], "commander": "连长",
                            "strength": 30})
    table = force_coverage(v, posts, officers, ov, militia, max_villages=3,
                           radii_m=(5_000.0, 20_000.0), gap_flags=(
                               "no_officer", "no_militia", "post_missing", "post_far_20km",
                               "officer_overloaded"))
    table["township"] = "第一镇"
    return gpd.GeoDataFrame(table, geometry=v.geometry.values, crs="EPSG:4490")


@pytest.fixture(scope="module")
def posts(coverage: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rep = shapely.point_on_surface(np.asarray(coverage.geometry.values))
    return gpd.GeoDataFrame({"code": ["P0", "P1"], "name": ["一所", "二所"],
                             "township_code": ["620702000", "620702001"],
                             "n_officers": [2, 1], "n_villages": [4, 4]},
                            geometry=[rep[0], rep[8]], crs="EPSG:4490")


@pytest.fixture(scope="module")
def cameras(small_grids: dict) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = small_grids["county"].total_bounds
    lon, lat = rng.uniform(x0, x1, N_CAMERAS * 2), rng.uniform(y0, y1, N_CAMERAS * 2)
    inside = shapely.contains_xy(small_grids["county"].geometry.iloc[0], lon, lat)
    lon, lat = lon[inside][:N_CAMERAS], lat[inside][:N_CAMERAS]
    n = len(lon)
    return gpd.GeoDataFrame({"code": [f"C{i}" for i in range(n)],
                             "radius_m": rng.uniform(30, 80, n),
                             "direction_deg": rng.uniform(0, 360, n),
                             "angle_deg": rng.choice([90.0, 360.0], n)},
                            geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4490")


@pytest.fixture(scope="module")
def camera_cov(small_grids: dict, cameras: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    v = small_grids["villages"]
    cov = camera_coverage(v, cameras, populated=populated_proxy(small_grids["groups"]))
    return gpd.GeoDataFrame(cov, geometry=v.geometry.values, crs="EPSG:4490")


@pytest.fixture(scope="module")
def layers(coverage: gpd.GeoDataFrame, posts: gpd.GeoDataFrame, camera_cov: gpd.GeoDataFrame,
           small_grids: dict) -> dict[str, Layer]:
    names = dict(zip(small_grids["villages"]["code"], small_grids["villages"]["name"],
                     strict=True))
    return {"coverage": coverage_layer(coverage, far_km=20),
            "posts": posts_layer(posts, township_names={"620702000": "第一镇"}),
            "cameras": cameras_layer(camera_cov, village_names=names)}


def test_coverage_layer_colours_villages_by_problem(layers: dict[str, Layer],
                                                    coverage: gpd.GeoDataFrame) -> None:
    lyr = layers["coverage"]
    assert lyr.kind == "polygons" and lyr.n_features == len(coverage) == 9
    props = {f["properties"]["code"]: f["properties"] for f in lyr.data["features"]}
    codes = list(coverage["code"])
    expected = ["ok", "no_officer", "no_militia", "officer_overloaded", "officer_overloaded",
                "officer_overloaded", "officer_overloaded", "post_far", "ok"]
    assert list(coverage["problem"]) == expected
    style = lyr.style
    for code, problem in zip(codes, expected, strict=True):
        p = props[code]
        assert p["status_code"] == STATUS_CODES[problem]
        assert style.for_feature(p)["fillColor"] == OKABE_ITO[problem]
    assert props[codes[0]]["officer"] == "张三" and props[codes[0]]["post"] == "一所"
    assert props[codes[0]]["company"] == "0连" and props[codes[0]]["commander"] == "连长"
    assert props[codes[1]]["officer"] is None
    assert props[codes[7]]["post_km"] > 20.0 and props[codes[8]]["post_km"] < 20.0


def test_coverage_legend_is_colour_blind_safe_and_translated(layers: dict[str, Layer]) -> None:
    lyr = layers["coverage"]
    assert {e.color for e in lyr.legend} == set(OKABE_ITO.values()) and len(lyr.legend) == 5
    zh = [e.text("zh") for e in lyr.legend]
    en = [e.text("en") for e in lyr.legend]
    assert "无驻村民警" in zh and "民警驻点超 20 公里或未登记" in zh
    assert "Officer covers more than 3 villages" in en
    for layer in layers.values():
        assert has(layer.title)
        for _, key in layer.tooltip:
            assert has(key), key
        for e in layer.legend:
            assert has(e.label) and e.text("en") != e.text("zh")
    tips = dict(lyr.tooltip)
    assert {"officer", "post", "company"} <= set(tips)


def test_posts_layer(layers: dict[str, Layer]) -> None:
    lyr = layers["posts"]
    assert lyr.kind == "points" and lyr.n_features == 2
    p = lyr.data["features"][0]["properties"]
    assert p["name"] == "一所" and p["township"] == "第一镇" and p["n_officers"] == 2
    assert [e.label for e in lyr.legend] == ["legend.police_post"]


def test_cameras_layer_is_aggregated_per_grid(layers: dict[str, Layer], cameras: gpd.GeoDataFrame,
                                              camera_cov: gpd.GeoDataFrame) -> None:
    lyr = layers["cameras"]
    assert len(cameras) > 2_000
    assert lyr.kind == "aggregates" and lyr.n_features == 9  # one point per village, not 3,000
    feats = lyr.data["features"]
    assert sum(f["properties"]["n_cameras"] for f in feats) == len(cameras)
    grid = camera_cov.set_index("code").geometry
    for f in feats:
        assert grid[f["properties"]["code"]].contains(shapely.Point(f["geometry"]["coordinates"]))
        share = f["properties"]["share_pct"]
        assert 0 <= share < 100 and f["properties"]["name"].endswith("村")
    cls = lyr.style.classes
    assert cls.prop == "share_pct" and cls.breaks == CAMERA_SHARE_BREAKS
    assert cls.color(0.0) != cls.color(100.0) and len(lyr.legend) == len(CAMERA_SHARE_BREAKS)
    assert lyr.legend[0].text("zh") == "覆盖 100%"
    assert lyr.legend[-1].text("en") == "0–25 % covered"
    assert ("n_cameras", "field.cameras") in lyr.tooltip


def test_camera_points_never_round_up_to_full() -> None:
    g = gpd.GeoDataFrame({"code": ["A", "B", "C"], "name": ["a", "b", "c"],
                          "n_cameras": [3, 1, 0], "populated_m2": [10.0, 10.0, 0.0],
                          "populated_share": [0.99996, 1.0, np.nan]},
                         geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1),
                                   shapely.box(2, 0, 3, 1)], crs="EPSG:4490")
    pts = camera_points(g)
    assert pts["code"].tolist() == ["B", "A"]  # no populated area: no point; gaps on top
    assert pts["share_pct"].tolist() == [100.0, 99.9]


def _in_html(text: str, html: str) -> bool:
    return text in html or json.dumps(text)[1:-1] in html


def test_folium_renders_the_layers(layers: dict[str, Layer]) -> None:
    order = [layers[k] for k in ("coverage", "cameras", "posts")]
    html = lfolium.folium_map(order, "zh").get_root().render()
    for text in ("一村一警一连覆盖", "派出所 / 警务室", "雪亮工程视频覆盖（按网格汇总）",
                 "无驻村民警", "驻村民警", "民兵连", "摄像头数", "覆盖 100%"):
        assert _in_html(text, html), text
    en = lfolium.folium_map(order, "en").get_root().render()
    for layer in order:
        assert _in_html(layer.title_text("en"), en), layer.id


def test_leaflet_renders_the_layers(layers: dict[str, Layer]) -> None:
    order = [layers[k] for k in ("coverage", "cameras", "posts")]
    m = lleaflet.leaflet_map(order, "zh", component_id="f-map", id_prefix="f-")
    text = json.dumps(m.to_plotly_json(), default=lambda o: o.to_plotly_json(),
                      ensure_ascii=False)
    for layer in order:
        assert layer.title_text("zh") in text
    assert t("legend.coverage.no_officer") in text
    cov = lleaflet.geojson(layers["coverage"], "en", component_id="cov")
    assert cov.hideout["classes"]["prop"] == "status_code"
    assert ["officer", "Police officer"] in cov.hideout["tooltip"]["fields"]
    cams = lleaflet.geojson(layers["cameras"], "zh")
    assert cams.hideout["classes"]["prop"] == "share_pct" and cams.pointToLayer is not None
    assert cams.data["type"] == "FeatureCollection"
    posts = lleaflet.geojson(layers["posts"], "zh")
    assert posts.hideout["style"]["fillColor"] == layers["posts"].style.fill_color
