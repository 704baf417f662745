"""Patrol layers (tracks day / night, key areas and sections by weekly result) from hand-made
frames, rendered by both renderers."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis import settings
from layers import folium as lfolium
from layers import leaflet as lleaflet
from layers.i18n import has, t
from layers.patrols import (
    DAY_COLOR,
    FAIL_COLOR,
    NIGHT_COLOR,
    PASS_COLOR,
    key_area_layer,
    key_section_layers,
    patrol_layers,
    track_layers,
)

TZ = ZoneInfo("Asia/Shanghai")
X, Y = 100.45, 38.93


@pytest.fixture(scope="module")
def table() -> gpd.GeoDataFrame:
    """Compliance rows like :func:`gis.patrols.compliance.compliance_frame`."""
    rows = [("section", 1, "S1", "一段", 4, 1, True, 0.93), ("section", 2, "S2", "二段", 2, 0,
                                                              False, 0.71),
            ("section", 3, "S3", "三段", 0, 0, False, 0.0), ("area", 1, "A1", "集市", 3, 2,
                                                            True, np.nan),
            ("area", 2, "A2", "小学", 1, 0, False, np.nan)]
    geoms = [shapely.LineString([(X, Y + 0.01 * i), (X + 0.01, Y + 0.01 * i)]) for i in range(3)]
    geoms += [shapely.box(X, Y - 0.01 * (i + 1), X + 0.003, Y - 0.01 * i - 0.007)
              for i in range(2)]
    return gpd.GeoDataFrame({
        "kind": [r[0] for r in rows], "id": [r[1] for r in rows], "code": [r[2] for r in rows],
        "name": [r[3] for r in rows], "village_code": "620702101201",
        "village_name": ["卢滩村"] * 4 + [None], "count": [r[4] for r in rows],
        "night": [r[5] for r in rows], "required": 3, "passed": [r[6] for r in rows],
        "best_share": [r[7] for r in rows]}, geometry=geoms, crs="EPSG:4490")


@pytest.fixture(scope="module")
def tracks() -> gpd.GeoDataFrame:
    starts = [datetime(2026, 11, 25, 9, 5, tzinfo=TZ), datetime(2026, 11, 25, 22, 40, tzinfo=TZ),
              datetime(2026, 11, 25, 14, 0, tzinfo=TZ)]
    return gpd.GeoDataFrame({
        "id": [1, 2, 3], "name": ["日巡", None, "午巡"], "team": ["一队", "二队", "一队"],
        "officer": ["张三", None, "李四"], "started_at": starts,
        "ended_at": [s.replace(minute=s.minute + 15) for s in starts],
        "night": [False, True, False], "length_m": [1234.0, 2500.0, 800.0],
        "village_code": ["620702101201", "620702101202", "620702101201"]},
        geometry=[shapely.LineString([(X, Y), (X + 0.01 * k, Y + 0.005)]) for k in (1, 2, 3)],
        crs="EPSG:4490")


def props(layer) -> dict:
    return {f["properties"]["code"]: f["properties"] for f in layer.data["features"]}


def test_sections_split_by_result_and_coloured_on_the_stroke(table: gpd.GeoDataFrame) -> None:
    ok, bad = key_section_layers(table)
    assert (ok.id, bad.id) == ("key-sections-pass", "key-sections-fail")
    assert set(props(ok)) == {"S1"} and set(props(bad)) == {"S2", "S3"}
    assert (ok.style.color, bad.style.color) == (PASS_COLOR, FAIL_COLOR)
    assert not ok.style.fill and not bad.style.fill  # lines: the stroke carries the colour
    p = props(bad)["S2"]
    assert (p["count"], p["required"], p["village"], p["best_pct"], p["status_code"]) == \
        (2, 3, "卢滩村", 71.0, 0)
    assert props(ok)["S1"]["best_pct"] == 93.0
    assert ok.legend[0].text("zh") == "本周巡逻 ≥ 3 次" and ok.legend[0].shape == "line"
    assert bad.legend[0].text("en") == "Patrolled fewer than 3 times this week"
    assert all(f["geometry"]["type"] == "LineString" for f in bad.data["features"])


def test_areas_filled_by_result(table: gpd.GeoDataFrame) -> None:
    lyr = key_area_layer(table)
    p = props(lyr)
    assert set(p) == {"A1", "A2"} and lyr.kind == "polygons"
    assert lyr.style.for_feature(p["A1"])["fillColor"] == PASS_COLOR
    assert lyr.style.for_feature(p["A2"])["fillColor"] == FAIL_COLOR
    assert p["A2"]["village"] == "620702101201"  # no name: the code
    assert p["A1"]["night"] == 2 and "best_pct" not in p["A1"]
    assert [e.color for e in lyr.legend] == [PASS_COLOR, FAIL_COLOR]
    assert key_area_layer(table, required=5).legend[0].text("en") == \
        "Patrolled ≥ 5 times this week"


def test_tracks_split_day_and_night_in_beijing_time(tracks: gpd.GeoDataFrame) -> None:
    day, night = track_layers(tracks, village_names={"620702101201": "卢滩村"})
    assert (day.style.color, night.style.color) == (DAY_COLOR, NIGHT_COLOR)
    d = day.data["features"]
    assert [f["properties"]["name"] for f in d] == ["日巡", "午巡"]
    assert d[0]["properties"]["start"] == "11-25 09:05" and d[0]["properties"]["end"] == \
        "11-25 09:20"
    assert d[0]["properties"]["length_km"] == 1.23 and d[0]["properties"]["village"] == "卢滩村"
    assert d[0]["properties"]["patroller"] == "张三"
    n = night.data["features"]
    assert len(n) == 1 and n[0]["properties"]["name"] == "二队"  # no track name: the team
    assert n[0]["properties"]["village"] is None
    h0, h1 = settings.PATROL_NIGHT_HOURS
    assert night.legend[0].text("en") == f"Night patrol track ({h0}:00–{h1}:00)"
    empty = track_layers(tracks.iloc[0:0])
    assert [lyr.n_features for lyr in empty] == [0, 0]


def test_every_label_is_translated(table: gpd.GeoDataFrame, tracks: gpd.GeoDataFrame) -> None:
    layers = patrol_layers(tracks, table)
    assert [lyr.id for lyr in layers] == ["key-areas", "key-sections-pass", "key-sections-fail",
                                          "patrol-tracks", "patrol-tracks-night"]
    for lyr in layers:
        assert has(lyr.title) and t(lyr.title, "en") != t(lyr.title, "zh")
        for _, key in lyr.tooltip:
            assert has(key), key
        for e in lyr.legend:
            assert has(e.label) and e.text("en") != e.text("zh")


def _in_html(text: str, html: str) -> bool:
    return text in html or json.dumps(text)[1:-1] in html


def test_both_renderers(table: gpd.GeoDataFrame, tracks: gpd.GeoDataFrame) -> None:
    layers = patrol_layers(tracks, table)
    html = lfolium.folium_map(layers, "zh").get_root().render()
    for text in ("重点区域巡逻", "重点路段（巡逻达标）", "重点路段（巡逻未达标）", "巡逻轨迹（夜间）",
                 "本周巡逻次数", "巡逻队", "夜间巡逻轨迹"):
        assert _in_html(text, html), text
    en = lfolium.folium_map(layers, "en").get_root().render()
    assert _in_html("Key road sections (target missed)", en)
    m = lleaflet.leaflet_map(layers, "zh", component_id="p-map", id_prefix="p-")
    text = json.dumps(m.to_plotly_json(), default=lambda o: o.to_plotly_json(),
                      ensure_ascii=False)
    for lyr in layers:
        assert lyr.title_text("zh") in text
    sec = lleaflet.geojson(layers[2], "en")
    assert sec.hideout["style"]["color"] == FAIL_COLOR and sec.hideout["style"]["fill"] is False
    assert ["count", "Patrols this week"] in sec.hideout["tooltip"]["fields"]
    area = lleaflet.geojson(layers[0], "zh")
    assert area.hideout["classes"]["prop"] == "status_code"
    assert area.hideout["classes"]["colors"] == [FAIL_COLOR, PASS_COLOR]
