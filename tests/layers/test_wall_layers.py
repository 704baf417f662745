"""Layers of the wall display: Gi* hot spot classes, response rings and posts, 一村一警一连
coverage and density themes, cameras per grid; legends, colour-blind-safe colours, both
renderers, and the translations they use."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely

from layers import folium as lfolium
from layers import leaflet as lleaflet
from layers.base import PALETTES
from layers.hotspots import (
    COLD_COLORS,
    HOT_COLORS,
    hotspot_classes,
    hotspot_layer,
    hotspot_legend,
)
from layers.i18n import has, t
from layers.rings import RING_COLORS, post_layer, ring_layer
from layers.themes import (
    COVERAGE_COLORS,
    COVERAGE_NO_MILITIA,
    COVERAGE_NO_OFFICER,
    COVERAGE_NONE,
    COVERAGE_OK,
    camera_layer,
    coverage_classes,
    coverage_legend,
    coverage_values,
    density_classes,
    density_legend,
    theme_layer,
)

OKABE_ITO = {"#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7",
             "#000000"}
RDBU = {"#b2182b", "#d6604d", "#f4a582", "#92c5de", "#4393c3", "#2166ac"}
"""ColorBrewer RdBu (diverging, colour-blind safe) without its light middle classes."""


def _keys_exist(layer_or_entries) -> None:
    entries = getattr(layer_or_entries, "legend", layer_or_entries)
    for e in entries:
        assert has(e.label), e.label
        assert e.text("zh") != e.label and e.text("en") != e.label


def test_hotspot_classes_and_legend() -> None:
    cls = hotspot_classes()
    assert cls.breaks == (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    assert cls.color(3) == "#b2182b" and cls.color(-3) == "#2166ac"
    assert cls.color(0) not in RDBU
    assert set(HOT_COLORS) | set(COLD_COLORS) == RDBU
    legend = hotspot_legend()
    texts = [e.text("zh") for e in legend]
    assert texts[0] == "热点（99% 置信）" and texts[-1] == "冷点（99% 置信）"
    assert "不显著" in texts
    assert legend[0].text("en") == "Hot spot (99 % confidence)"
    _keys_exist(legend)
    assert len(hotspot_legend((0.95,))) == 3 and hotspot_classes((0.95,)).breaks == (-1, 0, 1)
    with pytest.raises(ValueError, match="confidence levels"):
        hotspot_classes((0.8, 0.9, 0.95, 0.99))


def test_hotspot_layer_renders_in_both(small_grids: dict) -> None:
    v = small_grids["villages"]
    bins = {v["code"].iloc[0]: 3, v["code"].iloc[1]: -2}
    layer = hotspot_layer(v, bins)
    props = {f["properties"]["code"]: f["properties"]["gi_bin"] for f in layer.data["features"]}
    assert props[v["code"].iloc[0]] == 3 and props[v["code"].iloc[2]] == 0
    assert "#b2182b" in lfolium.folium_map([layer], "zh").get_root().render()
    assert lleaflet.leaflet_map([layer], "en") is not None


def test_rings_and_posts() -> None:
    from gis.analytics.rings import response_rings

    posts = pd.DataFrame({"code": ["P1", "P2"], "name": ["城关派出所", "新墩警务室"],
                          "lon": [100.45, 100.60], "lat": [38.93, 38.95]})
    import geopandas as gpd

    pts = gpd.GeoDataFrame(posts, geometry=gpd.points_from_xy(posts.lon, posts.lat), crs=4490)
    rings = ring_layer(response_rings(pts))
    assert rings.n_features == 2
    radii = [f["properties"]["radius_m"] for f in rings.data["features"]]
    assert radii == [10_000.0, 5_000.0]  # outer first: the inner ring draws on top
    assert rings.style.classes.color(5_000) == RING_COLORS[0]
    assert set(RING_COLORS) <= OKABE_ITO
    assert [e.text("zh") for e in rings.legend] == ["5公里 · 10分钟到达", "10公里 · 20分钟到达"]
    assert [e.text("en") for e in rings.legend] == ["5 km · 10 min", "10 km · 20 min"]
    inner = shapely.geometry.shape(rings.data["features"][1]["geometry"])
    assert inner.contains(shapely.Point(100.45, 38.93))
    p = post_layer(pts)
    assert p.n_features == 2 and p.kind == "points"
    _keys_exist(rings)
    _keys_exist(p)
    html = lfolium.folium_map([rings, p], "zh").get_root().render()
    assert "城关派出所" in html or "P1" in html


def test_coverage_theme() -> None:
    vals = coverage_values(["v1", "v2", "v3", "v4"], officer_villages=["v1", "v2"],
                           militia_villages=["v1", "v3"])
    assert vals == {"v1": COVERAGE_OK, "v2": COVERAGE_NO_MILITIA, "v3": COVERAGE_NO_OFFICER,
                    "v4": COVERAGE_NONE}
    cls = coverage_classes()
    assert [cls.color(v) for v in range(4)] == list(COVERAGE_COLORS)
    assert set(COVERAGE_COLORS[1:]) <= OKABE_ITO
    legend = coverage_legend(vals)
    assert [e.text("zh") for e in legend] == ["警、连均缺（1村）", "缺驻村民警（1村）",
                                              "缺民兵连（1村）", "警、连齐全（1村）"]
    _keys_exist(legend)


def test_density_theme_and_baked_layer(small_grids: dict) -> None:
    v = small_grids["villages"]
    values = dict(zip(v["code"], [0, 1, 3, 8, 20, 55, 140, 400, 2], strict=False))
    cls = density_classes(values.values())
    assert cls.colors == tuple(PALETTES["YlOrRd"][-len(cls.colors):])
    assert cls.index(400) == len(cls.breaks) - 1
    legend = density_legend(cls)
    assert legend[0].shape == "fill" and legend[0].text("zh").endswith("件")
    layer = theme_layer(v, values, cls, legend, layer_id="density", title="layer.density")
    ns = {f["properties"]["code"]: f["properties"]["n"] for f in layer.data["features"]}
    assert ns[v["code"].iloc[4]] == 20
    assert lfolium.folium_map([layer], "zh") is not None
    assert density_classes([]).breaks  # no incidents: one class, no error


def test_camera_counts_per_grid(small_grids: dict) -> None:
    v = small_grids["villages"]
    counts = pd.DataFrame({"code": v["code"].iloc[:5], "n": [1, 3, 8, 25, 60]})
    layer = camera_layer(v, counts)
    assert layer.kind == "aggregates" and layer.n_features == 5
    texts = [e.text("zh") for e in layer.legend]
    assert all(x.endswith("路") for x in texts), texts  # cameras, not incidents ("件")
    assert [e.text("en") for e in layer.legend][-1].endswith("cameras")
    radii = [layer.style.classes.radius(n) for n in (1, 60)]
    assert radii[0] < radii[1]
    _keys_exist(layer)
    pts = [shapely.geometry.shape(f["geometry"]) for f in layer.data["features"]]
    polys = dict(zip(v["code"], v.geometry, strict=True))
    assert all(polys[f["properties"]["code"]].contains(p)
               for f, p in zip(layer.data["features"], pts, strict=True))


def test_wall_keys_are_translated() -> None:
    for key in ("page.wall", "wall.asof", "wall.stale", "wall.db_down", "wall.kpi.today",
                "wall.kpi.on_time", "wall.feed.overdue", "wall.ov.patrols", "layer.live",
                "layer.density", "layer.hotspots", "layer.rings", "layer.coverage",
                "layer.camera_counts", "legend.window", "wall.status.in_progress"):
        assert has(key), key
    assert t("wall.asof") == "数据更新于" and t("wall.asof", "en") == "Data as of"
    assert "{t}" in t("wall.db_down") and "{t}" in t("wall.db_down", "en")
