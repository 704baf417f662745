"""Map layers built from hand-made grids: data, style, legend, renderers, simplification."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from layers import folium as lfolium
from layers import leaflet as lleaflet
from layers.base import PALETTES, Classes, Layer, Style, union_bounds
from layers.grids import (
    GROUP_MIN_ZOOM,
    county_layer,
    feature_collection,
    group_layer,
    label_layer,
    simplify_coverage,
    township_layer,
    village_layer,
)
from layers.i18n import TABLE, has, t
from layers.incidents import incident_layer, incident_points

FIRST_PAINT_BUDGET = 1_500_000
"""Bytes of GeoJSON the home map may send before the user zooms in."""


def _layers(grids: dict, counts: pd.DataFrame) -> dict[str, Layer]:
    towns = dict(zip(grids["townships"]["code"], grids["townships"]["name"], strict=True))
    names = dict(zip(grids["villages"]["code"], grids["villages"]["name"], strict=True))
    return {
        "county": county_layer(grids["county"]),
        "townships": township_layer(grids["townships"]),
        "villages": village_layer(grids["villages"], township_names=towns),
        "groups": group_layer(grids["groups"], village_names=names),
        "incidents": incident_layer(grids["groups"], counts, village_names=names),
        "labels": label_layer(grids["townships"], "township-labels", "layer.township_labels"),
    }


@pytest.fixture(scope="module")
def layers(small_grids: dict, incident_counts: pd.DataFrame) -> dict[str, Layer]:
    return _layers(small_grids, incident_counts)


# --- i18n ----------------------------------------------------------------------------------

def test_every_key_has_chinese_and_english() -> None:
    for key, (zh, en) in TABLE.items():
        assert zh and en, key
    assert t("layer.villages") == "村级网格（一级）"
    assert t("layer.villages", "en") == "Village grids (level 1)"
    assert t("legend.range", "zh", lo=1, hi=4) == "1–4 件"
    assert t("layer.villages", "zh-CN") == t("layer.villages")
    assert t("no.such.key") == "no.such.key"


def test_layers_use_only_known_keys(layers: dict[str, Layer]) -> None:
    for layer in layers.values():
        assert has(layer.title), layer.title
        for _, key in layer.tooltip:
            assert has(key), key
        for entry in layer.legend:
            assert has(entry.label), entry.label
            assert entry.text("en") != entry.text("zh") or entry.label.startswith("legend.class")


# --- grid layers ---------------------------------------------------------------------------

def test_village_layer(layers: dict[str, Layer], small_grids: dict) -> None:
    v = layers["villages"]
    assert v.kind == "polygons" and v.n_features == len(small_grids["villages"]) == 9
    props = v.data["features"][0]["properties"]
    assert {"code", "name", "township", "population", "households", "area_km2"} <= set(props)
    assert props["name"].endswith("村") and props["township"].endswith("镇")
    assert props["area_km2"] > 0
    assert v.style.fill and v.style.fill_opacity > 0
    assert [e.label for e in v.legend] == ["legend.village"]
    assert ("population", "field.population") in v.tooltip
    assert ("worker", "field.worker") not in v.tooltip  # no village has a worker
    lon0, lat0, lon1, lat1 = v.bounds
    assert 100.0 < lon0 < lon1 < 100.3 and 38.5 < lat0 < lat1 < 38.8


def test_group_layer(layers: dict[str, Layer], small_grids: dict) -> None:
    g = layers["groups"]
    assert g.n_features == 36 and g.min_zoom == GROUP_MIN_ZOOM
    props = g.data["features"][0]["properties"]
    assert props["village"] == "第1村" and props["worker"].startswith("网格员")
    assert g.style.dash_array and g.style.fill_opacity == 0


def test_outline_layers_are_not_interactive(layers: dict[str, Layer], small_grids: dict) -> None:
    for key in ("county", "townships", "labels"):
        assert not layers[key].interactive
    assert not layers["county"].style.fill
    n_towns = len(small_grids["townships"])
    assert layers["townships"].n_features == n_towns
    assert layers["labels"].label_prop == "name" and layers["labels"].n_features == n_towns
    towns = small_grids["townships"].set_index("name").geometry
    for f in layers["labels"].data["features"]:  # each label sits inside its township
        assert towns[f["properties"]["name"]].contains(shapely.Point(f["geometry"]["coordinates"]))


def test_coordinates_are_rounded(layers: dict[str, Layer]) -> None:
    text = layers["villages"].to_json()
    numbers = [x for x in text.replace("[", ",").replace("]", ",").split(",")
               if x and x[0].isdigit() and "." in x]
    assert numbers and max(len(x.split(".")[1]) for x in numbers) <= 5


def test_feature_collection_cleans_values(small_grids: dict) -> None:
    g = small_grids["villages"].head(2).copy()
    g["x"] = [np.int64(3), np.nan]
    fc = feature_collection(g, ["code", "x", "missing"])
    assert [f["properties"]["x"] for f in fc["features"]] == [3, None]
    assert "missing" not in fc["features"][0]["properties"]
    json.dumps(fc)
    assert len(fc["bbox"]) == 4


# --- simplification -------------------------------------------------------------------------

def _shared_length(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return shapely.length(shapely.intersection(shapely.boundary(a), shapely.boundary(b)))


def test_coverage_simplify_keeps_neighbours_edge_matched(small_grids: dict) -> None:
    geoms = np.asarray(small_grids["groups"].geometry.values)
    simple = simplify_coverage(geoms, 60.0)
    assert len(simple) == len(geoms)
    n_before = shapely.get_num_coordinates(geoms).sum()
    assert shapely.get_num_coordinates(simple).sum() < 0.6 * n_before
    assert shapely.is_valid(simple).all()
    assert shapely.coverage_is_valid(simple)  # no overlaps, shared edges identical
    # no gaps: the pieces still add up to their union
    union = shapely.coverage_union_all(simple)
    assert abs(shapely.area(union) - shapely.area(simple).sum()) < 1e-12
    assert len(shapely.get_parts(union)) == 1 and shapely.get_num_interior_rings(union) == 0
    # every pair of neighbours still shares an edge (not just a point)
    tree = shapely.STRtree(geoms)
    pairs = tree.query(geoms, predicate="touches")
    for i, j in pairs.T:
        if i < j and _shared_length(geoms[i], geoms[j]) > 0:
            assert _shared_length(simple[i], simple[j]) > 0


def test_simplify_falls_back_for_a_broken_coverage(small_grids: dict) -> None:
    geoms = np.asarray(small_grids["groups"].geometry.values).copy()
    geoms[0] = shapely.affinity.translate(geoms[0], 0.001, 0.0)  # now overlaps a neighbour
    simple = simplify_coverage(geoms, 30.0)
    assert shapely.is_valid(simple).all() and len(simple) == len(geoms)


def test_budget_raises_the_tolerance(small_grids: dict) -> None:
    full = village_layer(small_grids["villages"], tolerance_m=1.0)
    budget = int(full.nbytes * 0.8)
    fitted = village_layer(small_grids["villages"], tolerance_m=1.0, budget_bytes=budget)
    assert fitted.nbytes <= budget and fitted.n_features == full.n_features


def test_payload_of_a_county_size_map(county_size_grids: dict) -> None:
    """2,500 groups of 200 vertices: the first paint stays under 1.5 MB of GeoJSON."""
    grids = county_size_grids
    counts = pd.DataFrame({"code": grids["groups"]["code"],
                           "n": np.arange(len(grids["groups"])) % 40 + 1})
    built = {
        "county": county_layer(grids["county"]),
        "townships": township_layer(grids["townships"]),
        "villages": village_layer(grids["villages"], budget_bytes=700_000),
        "incidents": incident_layer(grids["groups"], counts),
    }
    first_paint = sum(layer.nbytes for layer in built.values())
    assert first_paint < FIRST_PAINT_BUDGET, {k: v.nbytes for k, v in built.items()}
    groups = group_layer(grids["groups"], budget_bytes=2_000_000)
    assert groups.n_features == 2500 and groups.nbytes <= 2_000_000
    raw = sum(len(x) for x in shapely.to_geojson(np.asarray(grids["groups"].geometry)))
    assert groups.nbytes < raw / 2


# --- incidents -----------------------------------------------------------------------------

def test_incident_points_inside_their_grid(small_grids: dict,
                                           incident_counts: pd.DataFrame) -> None:
    pts = incident_points(small_grids["groups"], incident_counts)
    assert len(pts) == len(incident_counts) and (pts["n"] > 0).all()
    assert list(pts["n"]) == sorted(pts["n"])  # big circles drawn last, on top
    grid = small_grids["groups"].set_index("code").geometry
    assert all(grid[c].contains(p) for c, p in zip(pts["code"], pts.geometry, strict=True))


def test_incident_layer_classes_and_legend(layers: dict[str, Layer],
                                           incident_counts: pd.DataFrame) -> None:
    inc = layers["incidents"]
    assert inc.kind == "aggregates" and inc.n_features == len(incident_counts)
    assert sum(f["properties"]["n"] for f in inc.data["features"]) == incident_counts["n"].sum()
    cls = inc.style.classes
    assert cls is not None and cls.prop == "n" and cls.breaks[0] == 1
    assert set(cls.colors) <= set(PALETTES["YlOrRd"])
    assert list(cls.radii) == sorted(cls.radii) and len(set(cls.radii)) == len(cls.radii)
    assert len(inc.legend) == len(cls.breaks)
    texts = [e.text() for e in inc.legend]
    assert texts[0].startswith("1") and texts[-1].startswith("≥")
    assert all(e.shape == "circle" for e in inc.legend)
    assert cls.color(1) == cls.colors[0] and cls.color(10_000) == cls.colors[-1]
    assert inc.data["features"][0]["properties"]["village"].endswith("村")


def test_classes() -> None:
    c = Classes.from_values("n", [1, 2, 3, 6, 10, 16, 22, 60, 229] * 10, k=5, radii=(2, 10))
    assert c.breaks[0] == 1 and len(c.breaks) <= 5
    assert c.index(0) == 0 and c.index(None) == 0 and c.index(1e9) == len(c.breaks) - 1
    assert c.label(0)[0] == "legend.range" and c.label(len(c.breaks) - 1)[0] == "legend.atleast"
    assert Classes.from_values("n", []).breaks == (1.0,)
    with pytest.raises(ValueError):
        Classes(prop="n", breaks=(1.0, 5.0), colors=("#000",))
    style = Style(classes=c, radius=3.0)
    assert style.for_feature({"n": 1e9})["fillColor"] == c.colors[-1]
    assert style.for_feature({"n": 1e9})["radius"] == 10


# --- renderers -----------------------------------------------------------------------------

def _in_html(text: str, html: str) -> bool:
    """``text`` in the page, as HTML text or as an escaped JavaScript string."""
    return text in html or json.dumps(text)[1:-1] in html


def test_folium_renderer(layers: dict[str, Layer]) -> None:
    order = [layers[k] for k in ("villages", "groups", "townships", "county", "incidents")]
    html = lfolium.folium_map(order, "zh").get_root().render()
    for layer in order:
        assert _in_html(layer.title_text("zh"), html), layer.id
    top_class = layers["incidents"].legend[-1].text("zh")
    assert top_class.startswith("≥ ") and top_class.endswith(" 件")
    for text in ("图例", "乡镇（街道）界", "所属村", "事件数", top_class):
        assert _in_html(text, html), text
    assert "tile.openstreetmap" not in html  # no tiles by default: works offline
    en = lfolium.folium_map(order, "en").get_root().render()
    assert "Village grids (level 1)" in en and "Legend" in en and "Incidents" in en
    with_tiles = lfolium.folium_map(order, tile_url="http://tiles.local/{z}/{x}/{y}.png",
                                    attribution="local")
    assert "tiles.local" in with_tiles.get_root().render()
    labels = lfolium.feature_group(layers["labels"], "zh")
    assert len(labels._children) == layers["labels"].n_features


def test_leaflet_renderer(layers: dict[str, Layer]) -> None:
    order = [layers[k] for k in ("villages", "groups", "townships", "county", "incidents")]
    urls = {"villages": "/layers/villages.geojson", "groups": "/layers/groups.geojson"}
    m = lleaflet.leaflet_map(order, "en", component_id="t-map", urls=urls, id_prefix="t-")
    text = json.dumps(m.to_plotly_json(), default=lambda o: o.to_plotly_json())
    for layer in order:
        assert layer.title_text("en") in text
    gj = lleaflet.geojson(layers["villages"], "en", url=urls["villages"], component_id="x")
    assert gj.url == urls["villages"] and getattr(gj, "data", None) is None
    assert ["population", "Population"] in gj.hideout["tooltip"]["fields"]
    assert gj.hideout["style"]["color"] == layers["villages"].style.color
    gated = lleaflet.geojson(layers["groups"], "zh", url=urls["groups"])
    assert getattr(gated, "url", None) is None and gated.hideout["src"] == urls["groups"]
    assert gated.hideout["visible"] is False and gated.hideout["minZoom"] == GROUP_MIN_ZOOM
    inline = lleaflet.geojson(layers["incidents"], "zh")
    assert inline.data["type"] == "FeatureCollection" and inline.hideout["classes"]["prop"] == "n"
    legend = lleaflet.legend(order[::-1], "zh", component_id="lg")
    ltext = json.dumps(legend.to_plotly_json(), default=lambda o: o.to_plotly_json(),
                       ensure_ascii=False)
    assert "图例" in ltext and "村级网格" in ltext and "件" in ltext
    assert lleaflet.tile_layer(None) is None
    assert lleaflet.tile_layer("http://tiles.local/{z}/{x}/{y}.png") is not None
    assert union_bounds(order) == layers["villages"].bounds or union_bounds(order) is not None


def test_write_assets(tmp_path) -> None:  # noqa: ANN001
    paths = lleaflet.write_assets(tmp_path)
    js = (tmp_path / "wangge_layers.js").read_text(encoding="utf-8")
    for fn in ("style", "pointToLayer", "onEachFeature", "filter"):
        assert f"{fn}:" in js or f"{fn} :" in js
    assert "window.wangge" in js and len(paths) == 2
    css = (tmp_path / "wangge_layers.css").read_text(encoding="utf-8")
    assert ".leaflet-wg-incidents-pane" in css and ".wg-legend" in css
    mtime = (tmp_path / "wangge_layers.js").stat().st_mtime_ns
    lleaflet.write_assets(tmp_path)  # unchanged content: file left alone
    assert (tmp_path / "wangge_layers.js").stat().st_mtime_ns == mtime
