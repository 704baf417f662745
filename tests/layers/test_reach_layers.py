"""Reach layers (isochrones on a real OSM extract, post siting on hand-made grids), rendered by
both renderers."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.analytics.rings import populated_centres
from gis.analytics.siting import site_posts
from gis.network import dissolve_isochrones, isochrones
from layers import folium as lfolium
from layers import leaflet as lleaflet
from layers.base import Layer
from layers.i18n import has
from layers.reach import (
    CANDIDATE_COLOR,
    CHOSEN_COLOR,
    ISOCHRONE_COLORS,
    isochrone_layer,
    simplify_for_display,
    siting_layer,
)
from tests.gis.network._graphs import node_points, osm_graph

LIMITS = (1.0, 2.0)


@pytest.fixture(scope="module")
def iso() -> gpd.GeoDataFrame:
    G = osm_graph("Helsinki.osm.pbf")
    nodes = sorted(G.nodes)
    chosen = [nodes[i] for i in (10, len(nodes) // 2, len(nodes) - 10)]
    posts = gpd.GeoDataFrame({"code": ["P0", "P1", "P2"], "name": ["一所", "二所", "三所"]},
                             geometry=node_points(G, chosen), crs="EPSG:4490")
    return isochrones(G, posts, LIMITS)


@pytest.fixture(scope="module")
def siting(small_grids: dict) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    v, g = small_grids["villages"], small_grids["groups"]
    lon, lat, _ = populated_centres(v, g)
    cand = gpd.GeoDataFrame({"code": v["code"], "name": v["name"],
                             "township_code": v["township_code"]},
                            geometry=shapely.points(lon, lat), crs="EPSG:4490")
    cand["township"] = "第一镇"
    chosen, _ = site_posts(g, None, 2, candidates=cand, by="distance", radius_m=1_500.0)
    return cand, chosen


@pytest.fixture(scope="module")
def layers(iso: gpd.GeoDataFrame, siting: tuple) -> dict[str, Layer]:
    cand, chosen = siting
    return {"iso": isochrone_layer(iso), "sites": siting_layer(cand, chosen)}


def test_isochrone_layer_one_feature_per_post_and_limit(layers: dict[str, Layer],
                                                        iso: gpd.GeoDataFrame) -> None:
    lyr = layers["iso"]
    assert lyr.kind == "polygons" and lyr.n_features == len(iso) == 6
    props = [f["properties"] for f in lyr.data["features"]]
    # larger limit first, so the smaller one is drawn on top
    assert [p["minutes"] for p in props] == [2.0, 2.0, 2.0, 1.0, 1.0, 1.0]
    assert {p["post_name"] for p in props} == {"一所", "二所", "三所"}
    assert lyr.name_prop == "post_name"
    small = {p["post_code"]: p["area_km2"] for p in props if p["minutes"] == 1.0}
    large = {p["post_code"]: p["area_km2"] for p in props if p["minutes"] == 2.0}
    assert all(large[c] >= small[c] > 0 for c in small)


def test_isochrone_colours_by_limit_are_colour_blind_safe(layers: dict[str, Layer]) -> None:
    lyr = layers["iso"]
    style = lyr.style
    assert style.classes is not None and style.classes.prop == "minutes"
    assert style.for_feature({"minutes": 1.0})["fillColor"] == ISOCHRONE_COLORS[0]
    assert style.for_feature({"minutes": 2.0})["fillColor"] == ISOCHRONE_COLORS[1]
    assert [e.color for e in lyr.legend] == list(ISOCHRONE_COLORS[:2])
    assert [e.text("zh") for e in lyr.legend] == ["1分钟车程可达", "2分钟车程可达"]
    assert lyr.legend[1].text("en") == "Within 2 min by road"
    tips = dict(lyr.tooltip)
    assert tips == {"minutes": "field.minutes", "area_km2": "field.area_km2"}
    assert lyr.popup == lyr.tooltip
    for layer in layers.values():
        assert has(layer.title)
        for _, key in (*layer.tooltip, *layer.popup):
            assert has(key), key
        for e in layer.legend:
            assert has(e.label) and e.text("en") != e.text("zh")


def test_display_simplification_stays_within_the_tolerance(iso: gpd.GeoDataFrame) -> None:
    geoms = np.asarray(iso.geometry.values)
    simple = simplify_for_display(geoms, 25.0)
    before = shapely.get_num_coordinates(geoms).sum()
    after = shapely.get_num_coordinates(simple).sum()
    assert after < before
    # 25 m is about 2.3e-4 degrees of latitude (and less of longitude at 60° N)
    assert max(shapely.hausdorff_distance(a, b) for a, b in zip(geoms, simple, strict=True)) \
        < 25.0 / 111_000 * 2.1
    assert all(s.is_valid for s in simple)
    assert (simplify_for_display(geoms, 0.0) == geoms).all()


def test_dissolved_isochrones_and_too_many_limits(iso: gpd.GeoDataFrame) -> None:
    lyr = isochrone_layer(dissolve_isochrones(iso), tolerance_m=0)
    assert lyr.n_features == 2 and lyr.name_prop is None
    assert [f["properties"]["minutes"] for f in lyr.data["features"]] == [2.0, 1.0]
    many = pd.concat([iso.assign(minutes=m) for m in (1, 2, 3, 4, 5)], ignore_index=True)
    with pytest.raises(ValueError, match="at most 4 time limits"):
        isochrone_layer(gpd.GeoDataFrame(many, crs=iso.crs))


def test_siting_layer_marks_and_ranks_the_chosen_sites(layers: dict[str, Layer],
                                                       siting: tuple) -> None:
    cand, chosen = siting
    lyr = layers["sites"]
    assert len(chosen) == 2 and lyr.kind == "points" and lyr.n_features == len(cand) == 9
    feats = [f["properties"] for f in lyr.data["features"]]
    assert [p["is_chosen"] for p in feats] == [0] * 7 + [1, 1]  # chosen drawn last, on top
    assert [p["site_rank"] for p in feats[-2:]] == [1, 2]
    assert [p["code"] for p in feats[-2:]] == list(chosen["code"])
    assert [p["gain_population"] for p in feats[-2:]] == \
        list(chosen["gain_population"].round())
    assert all(p["site_rank"] is None and p["gain_population"] is None for p in feats[:7])
    style = lyr.style
    assert style.for_feature({"is_chosen": 1})["fillColor"] == CHOSEN_COLOR
    assert style.for_feature({"is_chosen": 0})["fillColor"] == CANDIDATE_COLOR
    assert style.for_feature({"is_chosen": 1})["radius"] > style.for_feature(
        {"is_chosen": 0})["radius"]
    assert [e.text("zh") for e in lyr.legend] == ["建议新址", "候选位置"]
    only = siting_layer(cand, chosen, show_candidates=False)
    assert only.n_features == 2 and len(only.legend) == 1


def test_siting_layer_from_the_candidates_frame_alone(siting: tuple) -> None:
    cand, chosen = siting
    marked = cand.assign(chosen=cand["code"].isin(chosen["code"]),
                         rank=cand["code"].map(dict(zip(chosen["code"], chosen["rank"],
                                                        strict=True))).astype("Int64"))
    lyr = siting_layer(marked)
    feats = [f["properties"] for f in lyr.data["features"]]
    assert sum(p["is_chosen"] for p in feats) == 2
    assert [p["site_rank"] for p in feats if p["is_chosen"]] == [1, 2]


def _in_html(text: str, html: str) -> bool:
    return text in html or json.dumps(text)[1:-1] in html


def test_folium_renders_the_layers(layers: dict[str, Layer]) -> None:
    order = [layers["iso"], layers["sites"]]
    html = lfolium.folium_map(order, "zh").get_root().render()
    for text in ("派出所车程等时圈", "新增警务室选址", "1分钟车程可达", "建议新址", "车程（分钟）",
                 "二所"):
        assert _in_html(text, html), text
    en = lfolium.folium_map(order, "en").get_root().render()
    for text in ("Drive-time isochrones of police posts", "Within 2 min by road",
                 "Proposed new post", "Drive time (min)"):
        assert _in_html(text, en), text


def test_leaflet_renders_the_layers(layers: dict[str, Layer]) -> None:
    order = [layers["iso"], layers["sites"]]
    m = lleaflet.leaflet_map(order, "zh", component_id="r-map", id_prefix="r-")
    text = json.dumps(m.to_plotly_json(), default=lambda o: o.to_plotly_json(),
                      ensure_ascii=False)
    for layer in order:
        assert layer.title_text("zh") in text
    iso = lleaflet.geojson(layers["iso"], "en", component_id="iso")
    assert iso.hideout["classes"]["prop"] == "minutes"
    assert iso.hideout["classes"]["colors"] == list(ISOCHRONE_COLORS[:2])
    assert ["minutes", "Drive time (min)"] in iso.hideout["tooltip"]["fields"]
    sites = lleaflet.geojson(layers["sites"], "zh")
    assert sites.hideout["classes"]["prop"] == "is_chosen" and sites.pointToLayer is not None


def test_bands_do_not_overlap_and_keep_the_whole_areas(iso: gpd.GeoDataFrame) -> None:
    plain = isochrone_layer(iso, tolerance_m=0)
    banded = isochrone_layer(iso, tolerance_m=0, bands=True)
    props = [f["properties"] for f in banded.data["features"]]
    # properties unchanged (areas: the whole isochrone), in the same order
    assert props == [f["properties"] for f in plain.data["features"] if f["properties"] in props]
    shapes = {(f["properties"]["post_code"], f["properties"]["minutes"]):
              shapely.geometry.shape(f["geometry"]) for f in banded.data["features"]}
    whole = {(f["properties"]["post_code"], f["properties"]["minutes"]):
             shapely.geometry.shape(f["geometry"]) for f in plain.data["features"]}
    for key in set(whole) - set(shapes):  # a ring left out is one with nothing in it
        assert key[1] == 2.0
        assert whole[key].area == pytest.approx(whole[(key[0], 1.0)].area, rel=1e-3)
    rings = [c for c in ("P0", "P1", "P2") if (c, 2.0) in shapes]
    assert len(rings) >= 2
    for code in rings:
        inner, ring = shapes[(code, 1.0)], shapes[(code, 2.0)]
        assert inner.equals(whole[(code, 1.0)])  # the smallest limit is unchanged
        # the ring and the inner area touch but do not overlap (up to the 1e-5° grid)
        assert inner.intersection(ring).area < 1e-4 * inner.area
        assert inner.union(ring).symmetric_difference(whole[(code, 2.0)]).area < \
            1e-3 * whole[(code, 2.0)].area
    # dissolved: one ring per limit as well
    d = isochrone_layer(dissolve_isochrones(iso), tolerance_m=0, bands=True)
    big, small = (shapely.geometry.shape(f["geometry"]) for f in d.data["features"])
    assert small.intersection(big).area < 1e-4 * small.area


def test_display_snapping_drops_rings_that_collapse_on_the_grid() -> None:
    from layers.grids import feature_collection
    from layers.reach import snap_for_display

    # a polygon with a hole 4e-6 degrees wide: rounding to 1e-5 leaves a ring of 2 points
    outer = [(100.0, 38.0), (100.01, 38.0), (100.01, 38.01), (100.0, 38.01)]
    hole = [(100.005, 38.005), (100.005004, 38.005), (100.005004, 38.005004)]
    poly = shapely.Polygon(outer, [hole])
    frame = gpd.GeoDataFrame({"minutes": [10.0]}, geometry=[poly], crs="EPSG:4490")
    with pytest.raises(shapely.errors.GEOSException):
        feature_collection(frame, ["minutes"])  # plain rounding: an invalid ring
    snapped = snap_for_display([poly])
    assert snapped[0].is_valid and len(snapped[0].interiors) == 0
    assert snapped[0].area == pytest.approx(poly.area, rel=1e-3)
    lyr = isochrone_layer(frame, tolerance_m=0)
    assert lyr.n_features == 1


def test_click_popups_in_both_renderers(layers: dict[str, Layer]) -> None:
    lyr = layers["iso"]
    gj = lleaflet.geojson(lyr, "en", component_id="iso")
    assert gj.hideout["popup"]["name"] == "post_name"
    assert ["area_km2", "Area (km²)"] in gj.hideout["popup"]["fields"]
    assert "bindPopup" in lleaflet._TOOLTIP_JS
    # no popup fields, or not interactive: no popup
    from dataclasses import replace

    assert lleaflet.hideout(replace(lyr, popup=()))["popup"] is None
    assert lleaflet.hideout(replace(lyr, interactive=False))["popup"] is None
    html = lfolium.folium_map([lyr], "zh").get_root().render()
    assert "GeoJsonPopup" in html or "bindPopup" in html
    assert _in_html("车程（分钟）", html)
    assert lfolium.popup(replace(lyr, popup=())) is None
    assert lfolium.popup(lyr, "en").aliases[0] == "Name"
