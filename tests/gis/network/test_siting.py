"""Post siting (MCLP): tiny instances with known optima, brute force, road and distance."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis._errors import AnalysisError
from gis.analytics.siting import coverage_by_distance, mclp, site_posts
from tests.gis.network._graphs import ORIGIN, east, line_graph

W = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
COV = np.array([  # candidates: c0 covers d0-d2 (60), c1 d2-d3 (70), c2 d4 (50)
    [1, 0, 0],
    [1, 0, 0],
    [1, 1, 0],
    [0, 1, 0],
    [0, 0, 1]], dtype=bool)


@pytest.mark.parametrize(("k", "sites", "value"), [
    (0, [], 0.0), (1, [1], 70.0), (2, [1, 2], 120.0), (3, [0, 1, 2], 150.0),
    (5, [0, 1, 2], 150.0)])
def test_mclp_known_optimum(k: int, sites: list[int], value: float) -> None:
    res = mclp(W, COV, k)
    assert res.chosen.tolist() == sites
    assert res.objective == value


def test_mclp_already_covered_demand_counts_nothing() -> None:
    w = W.copy()
    w[3] = 0.0  # d3 covered by an existing post: c1 now adds only 30
    assert mclp(w, COV, 1).chosen.tolist() == [0]


def test_mclp_matches_brute_force_on_random_instances() -> None:
    rng = np.random.default_rng(7)
    for _ in range(15):
        n, m = rng.integers(5, 14), rng.integers(3, 8)
        w = rng.integers(0, 100, n).astype(float)
        cov = rng.random((n, m)) < 0.3
        for k in (1, 2, 3):
            best = max(w[cov[:, list(c)].any(axis=1)].sum()
                       for c in itertools.combinations(range(m), min(k, m)))
            res = mclp(w, cov, k)
            assert res.objective == pytest.approx(best)
            assert len(res.chosen) <= k
            assert w[cov[:, res.chosen].any(axis=1)].sum() == pytest.approx(best)


def test_mclp_rejects_bad_input() -> None:
    with pytest.raises(AnalysisError, match="integer >= 0"):
        mclp(W, COV, -1)
    with pytest.raises(AnalysisError, match=">= 0"):
        mclp(-W, COV, 1)
    with pytest.raises(AnalysisError, match="rows"):
        mclp(W[:3], COV, 1)


def points(spec: list[tuple[float, float]], **cols) -> gpd.GeoDataFrame:  # noqa: ANN003
    """Points at (metres east of ORIGIN, metres north) with extra columns."""
    pts = [east(dn, east(de), az=0.0) if dn else east(de) for de, dn in spec]
    return gpd.GeoDataFrame(cols, geometry=shapely.points(pts), crs="EPSG:4490")


def test_site_posts_by_distance_known_optimum() -> None:
    demand = points([(1_000, 0), (-1_000, 0), (11_000, 0), (9_000, 0), (21_000, 0)],
                    code=[f"d{i}" for i in range(5)], population=[10, 20, 30, 40, 50])
    cands = points([(0, 0), (10_000, 0), (20_000, 0)], code=["c0", "c1", "c2"],
                   name=["零", "一", "二"])
    chosen, summary = site_posts(demand, None, 1, candidates=cands, by="distance")
    assert chosen["code"].tolist() == ["c1"]
    assert summary["gain"] == 70.0 and summary["covered_before"] == 0.0
    # an existing post at 21 km covers d4; two new posts then take c1 and c0
    post = points([(21_000, 0)], code=["P"], name=["派出所"])
    chosen, summary = site_posts(demand, post, 2, candidates=cands, by="distance")
    assert chosen["code"].tolist() == ["c1", "c0"]
    assert chosen["gain_population"].tolist() == [70.0, 30.0]
    assert summary["covered_before"] == 50.0
    assert summary["gain"] == 100.0
    assert summary["covered_after"] == summary["population"] == 150.0
    assert summary["share_after"] == 1.0
    chosen, summary = site_posts(demand, post, 0, candidates=cands, by="distance")
    assert len(chosen) == 0 and summary["gain"] == 0.0 and summary["n_chosen"] == 0


def test_site_posts_by_road_known_optimum() -> None:
    G, pos = line_graph((1_000.0, 10_000.0))  # A -1 min- B -10 min- C
    demand = gpd.GeoDataFrame({"code": ["a", "b", "c"], "population": [10, 20, 50]},
                              geometry=shapely.points(pos), crs="EPSG:4490")
    chosen, summary = site_posts(demand, None, 1, graph=G, minutes=2)
    assert chosen["code"].tolist() == ["c"]  # candidates default to the demand points
    assert summary["gain"] == 50.0
    chosen, summary = site_posts(demand, None, 2, graph=G, minutes=2)
    assert set(chosen["code"]) == {"c", "a"} or set(chosen["code"]) == {"c", "b"}
    assert summary["gain"] == 80.0
    post = gpd.GeoDataFrame({"code": ["P"]}, geometry=[shapely.Point(pos[2])], crs="EPSG:4490")
    chosen, summary = site_posts(demand, post, 1, graph=G, minutes=2)
    assert summary["covered_before"] == 50.0 and summary["gain"] == 30.0
    with pytest.raises(AnalysisError, match="road network"):
        site_posts(demand, None, 1)


def test_site_posts_with_village_candidates() -> None:
    G, pos = line_graph((1_000.0, 10_000.0))
    sq = [shapely.box(x - 0.002, y - 0.002, x + 0.002, y + 0.002) for x, y in pos]
    villages = gpd.GeoDataFrame({"code": ["V1", "V2", "V3"], "name": ["一", "二", "三"],
                                 "township_code": ["T", "T", "T"]}, geometry=sq,
                                crs="EPSG:4490")
    groups = villages.assign(code=["G1", "G2", "G3"], parent_code=["V1", "V2", "V3"],
                             population=[10, 20, 50])
    chosen, summary = site_posts(groups, None, 1, villages=villages, graph=G, minutes=2)
    assert chosen["code"].tolist() == ["V3"]
    assert chosen["name"].tolist() == ["三"]
    assert summary["n_candidates"] == 3 and summary["n_demand"] == 3


def test_coverage_by_distance_is_geodesic() -> None:
    d = np.array([east(4_990.0), east(5_010.0)])
    cov = coverage_by_distance(d[:, 0], d[:, 1], np.array([ORIGIN[0]]), np.array([ORIGIN[1]]),
                               5_000.0)
    assert cov.toarray().ravel().tolist() == [True, False]


def test_demand_without_population_is_rejected() -> None:
    demand = pd.DataFrame({"lon": [ORIGIN[0]], "lat": [ORIGIN[1]]})
    with pytest.raises(AnalysisError, match="population"):
        site_posts(demand, None, 1, by="distance")
