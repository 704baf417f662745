"""Isochrones on the real OSM extracts, checked against networkx' own Dijkstra; the
"10 / 20 minutes" table on a hand-made graph with known answers."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from gis import settings
from gis._errors import AnalysisError
from gis.network import (
    RoadNetwork,
    isochrones,
    population_share_by_township,
    post_times,
    road_standard_table,
    village_standard_table,
)
from tests.gis.network._graphs import ORIGIN, east, line_graph, node_points, osm_graph

CASES = [("test.osm.pbf", (2.0, 4.0)), ("Helsinki.osm.pbf", (1.0, 2.0))]


def pick_posts(G: nx.MultiDiGraph, k: int = 3) -> tuple[list[int], gpd.GeoDataFrame]:
    """k well-spread nodes (deterministic) and posts exactly on them."""
    nodes = sorted(G.nodes)
    xs = np.array([G.nodes[n]["x"] for n in nodes])
    order = np.argsort(xs, kind="stable")
    chosen = [nodes[order[int(i)]] for i in np.linspace(0, len(nodes) - 1, k + 2)[1:-1]]
    gdf = gpd.GeoDataFrame({"code": [f"P{i}" for i in range(k)],
                            "name": [f"派出所{i}" for i in range(k)]},
                           geometry=node_points(G, chosen), crs="EPSG:4490")
    return chosen, gdf


def reached(G: nx.MultiDiGraph, source: int, minutes: float) -> dict:
    return nx.single_source_dijkstra_path_length(G, source, cutoff=minutes * 60.0,
                                                 weight="travel_time")


def poly(iso: gpd.GeoDataFrame, code: str, minutes: float) -> shapely.Geometry:
    row = iso[(iso["post_code"] == code) & (iso["minutes"] == minutes)]
    assert len(row) == 1
    return row.geometry.iloc[0]


@pytest.mark.parametrize(("name", "limits"), CASES)
def test_each_post_isochrone_covers_every_node_networkx_reaches(name: str, limits) -> None:
    G = osm_graph(name)
    sources, posts = pick_posts(G)
    iso = isochrones(G, posts, limits, per_post="each")
    assert len(iso) == len(sources) * len(limits)
    assert iso.crs.to_epsg() == settings.STORAGE_SRID
    for i, s in enumerate(sources):
        for m in limits:
            nodes = list(reached(G, s, m))
            p = poly(iso, f"P{i}", m)
            assert p.is_valid and not p.is_empty
            assert shapely.covers(p, node_points(G, nodes)).all()
            assert iso.loc[(iso["post_code"] == f"P{i}") & (iso["minutes"] == m),
                           "n_nodes"].item() == len(nodes)
        small, large = (poly(iso, f"P{i}", m) for m in limits)
        assert large.covers(small)
        assert large.area > small.area


@pytest.mark.parametrize(("name", "limits"), CASES)
def test_nearest_post_isochrones_partition_and_cover(name: str, limits) -> None:
    G = osm_graph(name)
    sources, posts = pick_posts(G)
    iso = isochrones(G, posts, limits)  # one multi-source run
    dissolved = isochrones(G, posts, limits, dissolve=True)
    dist = [nx.single_source_dijkstra_path_length(G, s, weight="travel_time") for s in sources]
    for m in limits:
        best = {}
        for i, d in enumerate(dist):
            for n, t in d.items():
                if t <= m * 60 and (n not in best or t < best[n][1]):
                    best[n] = (i, t)
        whole = dissolved.loc[dissolved["minutes"] == m].geometry.item()
        assert shapely.covers(whole, node_points(G, list(best))).all()
        assert dissolved.loc[dissolved["minutes"] == m, "n_nodes"].item() == len(best)
        for i in range(len(sources)):
            mine = [n for n, (j, _) in best.items() if j == i]
            assert shapely.covers(poly(iso, f"P{i}", m), node_points(G, mine)).all()
    assert dissolved.geometry.iloc[1].covers(dissolved.geometry.iloc[0])
    for i in range(len(sources)):
        assert poly(iso, f"P{i}", limits[1]).covers(poly(iso, f"P{i}", limits[0]))


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_multi_source_times_equal_networkx_single_source_minimum(name: str) -> None:
    G = osm_graph(name)
    sources, posts = pick_posts(G, 4)
    pt = post_times(G, posts)
    dist = [nx.single_source_dijkstra_path_length(G, s, weight="travel_time") for s in sources]
    for pos, n in enumerate(pt.network.nodes):
        ts = [d.get(n, np.inf) for d in dist]
        assert pt.time[pos] == pytest.approx(min(ts), abs=1e-9)
        if np.isfinite(min(ts)):
            assert ts[pt.label[pos]] == pytest.approx(min(ts), abs=1e-9)


def test_snapping_distance_is_driven_at_the_snapping_speed() -> None:
    G, _ = line_graph()
    lon, lat = east(300.0, ORIGIN, az=0.0)  # 300 m north of node 1
    pt = post_times(G, np.array([[lon, lat]]))
    snap_s = pt.snap_m[0] / (settings.SNAP_SPEED_KPH / 3.6)
    assert pt.snap_m[0] == pytest.approx(300.0, rel=2e-3)
    assert pt.time[pt.network.pos[1]] == pytest.approx(snap_s)
    assert pt.time[pt.network.pos[2]] == pytest.approx(snap_s + 60.0)
    iso = isochrones(G, np.array([[lon, lat]]), (1.0,), snap_speed_kph=1e6)
    assert iso.geometry.iloc[0].covers(shapely.Point(lon, lat))


def test_partial_edges_are_cut_at_the_remaining_time() -> None:
    G, pos = line_graph((1_000.0, 10_000.0))  # 60 s, then 600 s at 60 km/h
    posts = np.array([pos[0]])
    iso = isochrones(G, posts, (6.0,), buffer_m=50.0)  # 360 s: 1 km + 5 km of the 10 km edge
    p = iso.geometry.iloc[0]
    assert p.covers(shapely.Point(east(5_900.0)))
    assert not p.intersects(shapely.Point(east(6_100.0)))
    assert iso["n_nodes"].iloc[0] == 2


def test_table_on_a_three_node_graph_gives_known_answers() -> None:
    G, pos = line_graph((1_000.0, 10_000.0))  # A --1 km-- B --10 km-- C, 60 km/h
    posts = gpd.GeoDataFrame({"code": ["PA"], "name": ["甲所"]},
                             geometry=[shapely.Point(pos[0])], crs="EPSG:4490")
    north_of_b = east(150.0, pos[1], az=0.0)
    pts = pd.DataFrame({"code": ["a", "b", "c", "b150"], "population": [1, 2, 3, 4],
                        "lon": [pos[0][0], pos[1][0], pos[2][0], north_of_b[0]],
                        "lat": [pos[0][1], pos[1][1], pos[2][1], north_of_b[1]]})
    tab = road_standard_table(G, pts, posts)
    leg = 150.0 / (settings.SNAP_SPEED_KPH / 3.6) / 60.0
    assert tab["road_minutes"].to_numpy() == pytest.approx([0.0, 1.0, 11.0, 1.0 + leg],
                                                            rel=1e-3)
    assert tab["road_post"].tolist() == ["PA"] * 4
    assert tab["meets_10"].tolist() == [True, True, False, True]
    assert tab["meets_20"].tolist() == [True, True, True, True]
    assert tab["nearest_post"].tolist() == ["PA"] * 4
    assert tab["distance_m"].to_numpy() == pytest.approx([0.0, 1_000.0, 11_000.0, 1_011.2],
                                                          abs=1.0)
    assert tab["inside_5km"].tolist() == [True, True, False, True]
    assert tab["inside_10km"].tolist() == [True, True, False, True]
    assert tab["code"].tolist() == ["a", "b", "c", "b150"]


def test_one_way_roads_are_driven_in_their_direction_only() -> None:
    G, pos = line_graph((1_000.0, 1_000.0))  # A <-> B <-> C, 60 s per edge
    G.remove_edge(3, 2)  # C -> B closed: B -> C is one-way
    leg_min = 1_000.0 / (settings.SNAP_SPEED_KPH / 3.6) / 60.0
    pts = pd.DataFrame({"code": ["a", "c"], "lon": [pos[0][0], pos[2][0]],
                        "lat": [pos[0][1], pos[2][1]]})
    from_a = road_standard_table(G, pts, np.array([pos[0]]))
    assert from_a["road_minutes"].to_numpy() == pytest.approx([0.0, 2.0])
    # a post at C cannot leave C by road: it starts from B, 1 km off the network
    from_c = road_standard_table(G, pts, np.array([pos[2]]))
    assert from_c["road_minutes"].to_numpy() == pytest.approx([leg_min + 1.0] * 2, rel=1e-3)
    assert from_c["snap_m"].to_numpy() == pytest.approx([0.0, 0.0], abs=1e-6)
    H, _ = line_graph((1_000.0, 1_000.0))
    H.remove_edge(2, 3)  # C -> B only: a village at C is reached from B off the network
    to_c = road_standard_table(H, pts, np.array([pos[0]]))
    assert to_c["road_minutes"].to_numpy() == pytest.approx([0.0, 1.0 + leg_min], rel=1e-3)
    assert to_c["snap_m"].to_numpy() == pytest.approx([0.0, 1_000.0], rel=1e-3)


def test_two_posts_each_point_gets_the_nearest_by_road() -> None:
    G, pos = line_graph((1_000.0, 10_000.0))
    posts = gpd.GeoDataFrame({"code": ["PA", "PC"], "name": ["甲", "丙"]},
                             geometry=shapely.points([pos[0], pos[2]]), crs="EPSG:4490")
    pts = pd.DataFrame({"lon": [p[0] for p in pos], "lat": [p[1] for p in pos]})
    tab = road_standard_table(G, pts, posts, minutes=(5,))
    assert tab["road_post"].tolist() == ["PA", "PA", "PC"]
    assert tab["road_post_name"].tolist() == ["甲", "甲", "丙"]
    assert tab["road_minutes"].to_numpy() == pytest.approx([0.0, 1.0, 0.0])
    assert tab["meets_5"].all()


def test_population_share_by_township_known_answer() -> None:
    table = pd.DataFrame({
        "level": ["group"] * 4 + ["village"],
        "township_code": ["T1", "T1", "T2", "T2", "T1"],
        "population": [100, 300, 50, 0, 999],
        "meets_10": [True, False, True, True, False],
        "inside_5km": [False, True, False, False, False]})
    out = population_share_by_township(
        table, townships=pd.DataFrame({"code": ["T1", "T2"], "name": ["一乡", "二镇"]}))
    assert out["township_code"].tolist() == ["T1", "T2", "all"]
    assert out["township_name"].tolist() == ["一乡", "二镇", "全县"]
    assert out["population"].tolist() == [400, 50, 450]
    assert out["meets_10_share"].to_numpy() == pytest.approx([0.25, 1.0, 150 / 450])
    assert out["inside_5km_share"].to_numpy() == pytest.approx([0.75, 0.0, 300 / 450])
    assert out["n_units"].tolist() == [2, 2, 4]


def test_village_table_has_villages_and_groups_from_one_run() -> None:
    G, pos = line_graph((1_000.0, 10_000.0))
    sq = [shapely.box(x - 0.001, y - 0.001, x + 0.001, y + 0.001) for x, y in pos]
    villages = gpd.GeoDataFrame({"code": ["V1", "V2", "V3"], "name": ["一", "二", "三"],
                                 "township_code": ["T1", "T1", "T2"],
                                 "population": [10, 20, 30]}, geometry=sq, crs="EPSG:4490")
    groups = villages.assign(code=["G1", "G2", "G3"], parent_code=["V1", "V2", "V3"])
    tab = village_standard_table(G, villages, np.array([pos[0]]), groups)
    assert tab["level"].tolist() == ["village"] * 3 + ["group"] * 3
    assert tab["meets_10"].tolist() == [True, True, False] * 2
    share = population_share_by_township(tab)
    assert share.loc[share["township_code"] == "T1", "meets_10_share"].item() == 1.0
    assert share.loc[share["township_code"] == "T2", "meets_10_share"].item() == 0.0


def test_prepared_network_is_reused_and_bad_inputs_are_rejected() -> None:
    G, pos = line_graph()
    net = RoadNetwork(G)
    assert RoadNetwork.of(net) is net
    with pytest.raises(AnalysisError, match="minutes"):
        isochrones(net, np.array([pos[0]]), (0,))
    with pytest.raises(AnalysisError, match="per_post"):
        isochrones(net, np.array([pos[0]]), per_post="all")
    with pytest.raises(AnalysisError, match="empty"):
        RoadNetwork(nx.MultiDiGraph())
    H = G.copy()
    H.graph["crs"] = "EPSG:32647"
    with pytest.raises(AnalysisError, match="lon / lat"):
        RoadNetwork(H)
