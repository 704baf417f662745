"""The synthetic demo road network: OSMnx conventions, connected, every village reachable."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from data.roads import CLASSES, MERGE_M, demo_roads
from gis import settings
from gis.analytics.rings import populated_centres
from gis.network import RoadNetwork, post_times, village_standard_table


@pytest.fixture(scope="module")
def roads(demo):  # noqa: ANN001, ANN201
    return demo_roads(demo)


def test_synthetic_roads_follow_the_conventions(roads) -> None:  # noqa: ANN001
    G = roads
    assert isinstance(G, nx.MultiDiGraph)
    assert G.graph["synthetic"] is True
    assert G.graph["crs"] == f"EPSG:{settings.STORAGE_SRID}"
    assert 1_000 < G.number_of_nodes() < 10_000
    for u, v, d in G.edges(data=True):
        assert d["highway"] in CLASSES
        assert d["length"] > 0
        assert d["speed_kph"] == settings.ROAD_SPEEDS_KPH[d["highway"]]
        assert d["travel_time"] == pytest.approx(d["length"] / (d["speed_kph"] / 3.6))
        assert d["geometry"].coords[0] == (G.nodes[u]["x"], G.nodes[u]["y"])
        assert d["geometry"].coords[-1] == (G.nodes[v]["x"], G.nodes[v]["y"])
        assert G.has_edge(v, u)  # two-way roads
    assert {d["highway"] for *_, d in G.edges(data=True)} == set(CLASSES)


def test_synthetic_roads_are_connected_and_inside_the_county(roads, demo) -> None:  # noqa: ANN001
    G = roads
    assert nx.is_strongly_connected(G)
    county = demo.county.geometry.union_all()
    lines = np.array([d["geometry"] for _, _, d in G.edges(data=True)], dtype=object)
    inside = shapely.covers(shapely.buffer(county, 0.005), lines)  # ~500 m slack
    assert inside.mean() > 0.99


def test_every_village_centre_and_post_is_a_node_reachable_from_every_post(roads, demo
                                                                           ) -> None:  # noqa: ANN001
    net = RoadNetwork(roads)
    lon, lat, _ = populated_centres(demo.villages, demo.groups)
    node, snap = net.snap(lon, lat, "destination")
    assert (snap <= MERGE_M + 1e-6).all()
    _, psnap = net.snap(demo.posts.geometry.x.to_numpy(), demo.posts.geometry.y.to_numpy())
    assert (psnap <= 1e-3).all()
    for p in range(len(demo.posts)):
        pt = post_times(net, demo.posts.iloc[[p]])
        assert np.isfinite(pt.time[node]).all()
    table = village_standard_table(net, demo.villages, demo.posts, demo.groups)
    assert table["road_minutes"].notna().all()
    assert table["road_post"].notna().all()


def test_synthetic_roads_are_reproducible(roads, demo) -> None:  # noqa: ANN001
    again = demo_roads(demo)
    assert sorted(again.edges(keys=True)) == sorted(roads.edges(keys=True))
    lengths = [d["length"] for *_, d in sorted(roads.edges(keys=True, data=True),
                                               key=lambda e: e[:3])]
    lengths2 = [d["length"] for *_, d in sorted(again.edges(keys=True, data=True),
                                                key=lambda e: e[:3])]
    assert lengths == lengths2
    other = demo_roads(demo, seed=1)
    assert sorted(other.edges(keys=True)) != sorted(roads.edges(keys=True))


def test_synthetic_roads_round_trip_through_postgis(roads, engine) -> None:  # noqa: ANN001
    from gis.network import graph_from_postgis, graph_to_postgis

    with engine.begin() as conn:
        graph_to_postgis(conn, roads, "990603")
    with engine.connect() as conn:
        H = graph_from_postgis(conn, "990603")
    assert set(H.edges(keys=True)) == set(roads.edges(keys=True))
    for n, d in roads.nodes(data=True):
        assert H.nodes[n] == d
    assert all(H.edges[e]["length"] == roads.edges[e]["length"] for e in roads.edges(keys=True))
    assert H.graph["synthetic"] is True
