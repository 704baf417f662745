"""The reach glue: which network serves a county, clipping an extract, rings on the store."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis import settings
from gis._errors import AnalysisError
from gis.analytics.reach import candidate_sites, check_network_serves, county_inputs, load_network
from gis.analytics.run import reach
from gis.network import RoadNetwork
from tests.gis.network._graphs import ORIGIN, extract_path, node_points, osm_graph


def _posts(pts: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [f"P{i}" for i in range(len(pts))]}, geometry=pts,
                            crs="EPSG:4490")


def test_a_network_serves_posts_near_it_only() -> None:
    G = osm_graph("Helsinki.osm.pbf")
    net = RoadNetwork(G)
    nodes = sorted(G.nodes)[:3]
    assert check_network_serves(net, _posts(node_points(G, nodes)), "x") == 0.0
    far = _posts(shapely.points([ORIGIN, ORIGIN, ORIGIN]))  # Zhangye, not Helsinki
    with pytest.raises(AnalysisError, match="does not cover the police posts"):
        check_network_serves(net, far, "Helsinki.osm.pbf")
    # the limit is the median: one stray post among near ones is tolerated
    mixed = _posts(np.r_[node_points(G, nodes), shapely.points([ORIGIN])])
    assert check_network_serves(net, mixed, "x") == 0.0


def test_an_extract_is_clipped_to_the_county_grown_by_the_margin(
        monkeypatch: pytest.MonkeyPatch, engine) -> None:  # noqa: ANN001
    G = osm_graph("Helsinki.osm.pbf")
    xs = np.array([d["x"] for _, d in G.nodes(data=True)])
    ys = np.array([d["y"] for _, d in G.nodes(data=True)])
    cx, cy = float(np.median(xs)), float(np.median(ys))
    area = shapely.box(cx - 0.001, cy - 0.001, cx + 0.001, cy + 0.001)
    monkeypatch.setattr(settings, "NETWORK_BBOX_MARGIN_M", 300.0)
    with engine.connect() as conn:
        whole = load_network(conn, "990901", extract_path("Helsinki.osm.pbf"))
        part = load_network(conn, "990901", extract_path("Helsinki.osm.pbf"), area)
    assert whole.n_edges == G.number_of_edges() and not whole.synthetic
    assert 0 < part.n_edges < whole.n_edges
    assert part.source.endswith("Helsinki.osm.pbf")
    # ~300 m of margin: nothing read lies much beyond it (edges may run past the box)
    px = np.array([d["x"] for _, d in part.graph.nodes(data=True)])
    assert (np.abs(px - cx) < 0.001 + 0.03).all()
    far = shapely.box(100.0, 38.0, 100.1, 38.1)
    with engine.connect() as conn, pytest.raises(AnalysisError, match="does not cover county"):
        load_network(conn, "990901", extract_path("Helsinki.osm.pbf"), far)


def test_inputs_candidates_and_rings_of_the_demo_county(demo, demo_engine) -> None:  # noqa: ANN001
    with demo_engine.connect() as conn:
        inp = county_inputs(conn)
        rings, table = reach(conn)
    assert inp.adcode == str(demo.county["adcode"].iloc[0])
    assert len(inp.posts) == len(demo.posts) and len(inp.villages) == len(demo.villages)
    assert sorted(rings["radius_m"]) == [5_000.0, 10_000.0]
    assert len(table) == len(demo.villages)
    cand = candidate_sites(inp)
    assert list(cand["code"]) == list(inp.villages["code"])
    assert shapely.contains_xy(np.asarray(inp.villages.geometry.values),
                               shapely.get_x(cand.geometry.values),
                               shapely.get_y(cand.geometry.values)).mean() > 0.95
    groups = candidate_sites(inp, "group-centres")
    assert shapely.contains(np.asarray(inp.groups.geometry.values),
                            np.asarray(groups.geometry.values)).all()
    with pytest.raises(AnalysisError, match="--candidates must be one of"):
        candidate_sites(inp, "towns")
