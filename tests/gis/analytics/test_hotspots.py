"""Gi* hot spots: known answers on hand-made lattices."""

from __future__ import annotations

import math
import warnings

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph
from scipy import sparse, stats

from gis._errors import AnalysisError
from gis.analytics.hotspots import (build_weights, class_names, classify, counts_per_grid,
                                    gi_star, n_neighbors)
from tests.gis.analytics._lattice import (ORIGIN, hand_gi_star, lattice, lattice_adjacency,
                                          to_lonlat)

# a 5 × 5 lattice of arbitrary non-negative values (row 0 first)
VALUES_5X5 = np.array([
    [3, 0, 7, 1, 2],
    [5, 9, 4, 0, 1],
    [8, 12, 15, 6, 2],
    [2, 7, 11, 3, 0],
    [1, 0, 2, 4, 6],
], dtype=float).ravel()


@pytest.mark.parametrize("kind", ["queen", "rook"])
def test_contiguity_from_polygons_is_the_lattice(kind: str) -> None:
    grid = lattice(5, 5)
    g = build_weights(grid.geometry.values, kind)
    a = np.asarray(g.sparse.todense())
    np.fill_diagonal(a, 0)
    np.testing.assert_array_equal(a != 0, lattice_adjacency(5, 5, rook=kind == "rook") != 0)


@pytest.mark.parametrize("kind", ["queen", "rook"])
def test_gi_star_matches_esda_and_the_hand_formula(kind: str) -> None:
    grid = lattice(5, 5).assign(v=VALUES_5X5)
    out = gi_star(grid, "v", weights=kind)
    hand = hand_gi_star(VALUES_5X5, lattice_adjacency(5, 5, rook=kind == "rook"))
    # esda called directly, on a W built from the same hand-made adjacency
    adj = lattice_adjacency(5, 5, rook=kind == "rook")
    graph = Graph.from_sparse(sparse.csr_array(adj))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.G_Local(VALUES_5X5, graph, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(out["z"].to_numpy(), ref.Zs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["z"].to_numpy(), hand, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["p"].to_numpy(), 2 * stats.norm.sf(np.abs(hand)), rtol=1e-9)
    # the high values around the centre make it hot, the empty corner cold: real answers
    assert out["z"].iloc[[11, 12]].min() > 2.0
    assert out["z"].iloc[4] < -1.3


def test_single_hot_cell_is_hot_at_99() -> None:
    """One cell above a constant background, 9 × 9 lattice, queen weights.

    Gi* is unchanged by adding a constant to, or scaling, all values, so every grid whose
    window (itself + its 8 neighbours, W = 9) holds the hot cell has exactly
    z = √((n − W) / W) = √((81 − 9) / 9) = √8 ≈ 2.828 (two-sided p ≈ 0.0047 → 99 %),
    whatever the values. On a 5 × 5 lattice the same cell would only reach √(16 / 9) ≈ 1.33
    (not significant): 99 % needs n > 7.6 W, hence the 9 × 9 lattice.
    """
    grid = lattice(9, 9)
    y = np.full(81, 2.0)
    centre = 4 * 9 + 4
    y[centre] = 50.0
    out = gi_star(grid.assign(v=y), "v")
    window = (np.abs(grid["row"] - 4) <= 1) & (np.abs(grid["col"] - 4) <= 1)
    assert out["z"].iloc[centre] == pytest.approx(math.sqrt(8.0), rel=1e-12)
    assert out["hotspot_class"].iloc[centre] == "hot_99"
    assert (out.loc[window.to_numpy(), "hotspot_class"] == "hot_99").all()
    assert (out.loc[~window.to_numpy(), "hotspot_class"] == "none").all()
    assert out["gi_bin"].iloc[centre] == 3
    small = lattice(5, 5)
    y5 = np.full(25, 2.0)
    y5[12] = 50.0
    z5 = gi_star(small.assign(v=y5), "v")["z"].iloc[12]
    assert z5 == pytest.approx(math.sqrt(16 / 9), rel=1e-12)


def test_fdr_lowers_the_confidence_of_a_weak_cluster() -> None:
    """The single hot cell above: 9 grids with p = 0.0047 among 81 tests.

    Benjamini-Hochberg at α = 0.01 would need p < 9 × 0.01 / 81 = 0.0011: not met, so no
    grid stays at 99 %; at α = 0.05 the bound is 9 × 0.05 / 81 = 0.0056 > 0.0047, so the nine
    grids become hot_95. A strong 3 × 3 block elsewhere keeps its 99 % class.
    """
    grid = lattice(9, 9).assign(v=2.0)
    grid.loc[grid.eval("row == 4 and col == 4"), "v"] = 50.0
    plain = gi_star(grid, "v")
    fdr = gi_star(grid, "v", fdr=True)
    hot = plain["hotspot_class"] == "hot_99"
    assert hot.sum() == 9
    assert (fdr.loc[hot, "hotspot_class"] == "hot_95").all()
    assert (fdr.loc[~hot, "hotspot_class"] == "none").all()
    np.testing.assert_array_equal(plain["z"], fdr["z"])  # FDR changes classes, not z

    strong = lattice(12, 12).assign(v=1.0)
    block = strong.eval("row >= 1 and row <= 3 and col >= 1 and col <= 3")
    strong.loc[block, "v"] = 40.0
    strong.loc[strong.eval("row == 9 and col == 9"), "v"] = 3.0
    a, b = gi_star(strong, "v"), gi_star(strong, "v", fdr=True)
    centre = int(np.flatnonzero(strong.eval("row == 2 and col == 2"))[0])
    assert a["p"].iloc[centre] < 1e-6
    assert a["hotspot_class"].iloc[centre] == b["hotspot_class"].iloc[centre] == "hot_99"


def test_islands_do_not_crash_and_are_not_classed() -> None:
    grid = lattice(4, 4)
    far = to_lonlat(np.array([shapely.box(ORIGIN[0] + 20_000, ORIGIN[1], ORIGIN[0] + 21_000,
                                          ORIGIN[1] + 1000)], dtype=object))
    island = gpd.GeoDataFrame({"code": ["far"], "row": [-1], "col": [-1]}, geometry=far,
                              crs="EPSG:4490")
    grid = gpd.GeoDataFrame(pd.concat([grid, island], ignore_index=True),
                            crs="EPSG:4490")
    grid["v"] = np.arange(len(grid), dtype=float) % 5 + 1
    for perms in (0, 99):
        out = gi_star(grid, "v", permutations=perms)
        assert out["n_neighbors"].iloc[-1] == 0
        assert np.isnan(out["z"].iloc[-1]) and np.isnan(out["p"].iloc[-1])
        assert out["hotspot_class"].iloc[-1] == "none"
        assert np.isfinite(out["z"].iloc[:-1]).all()
    # a distance band shorter than any spacing: every grid an island
    lonely = gi_star(grid, "v", weights=10.0)
    assert (lonely["n_neighbors"] == 0).all()
    assert (lonely["hotspot_class"] == "none").all()


def test_distance_band_of_1100_m_is_rook_on_a_1_km_lattice() -> None:
    grid = lattice(6, 6).assign(v=VALUES_5X5.tolist() + list(range(11)))
    band = gi_star(grid, "v", weights=1100.0)
    rook = gi_star(grid, "v", weights="rook")
    np.testing.assert_allclose(band["z"], rook["z"], rtol=1e-12)
    queen = gi_star(grid, "v", weights=1500.0)  # diagonals are 1,414 m apart
    np.testing.assert_allclose(queen["z"], gi_star(grid, "v")["z"], rtol=1e-12)


def test_permutations_are_seeded_and_two_sided() -> None:
    grid = lattice(8, 8)
    rng = np.random.default_rng(7)
    y = rng.poisson(3, 64).astype(float)
    y[(grid["row"] < 3).to_numpy() & (grid["col"] < 3).to_numpy()] += 20
    g = grid.assign(v=y)
    a = gi_star(g, "v", permutations=199, seed=11)
    b = gi_star(g, "v", permutations=199, seed=11)
    c = gi_star(g, "v", permutations=199, seed=12)
    np.testing.assert_array_equal(a["p"], b["p"])
    assert not np.array_equal(a["p"], c["p"])
    state = np.random.get_state()[1].copy()
    gi_star(g, "v", permutations=99, seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global RNG untouched
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.G_Local(y, build_weights(g.geometry.values), transform="B", star=True,
                           permutations=199, seed=11, n_jobs=1)
    np.testing.assert_allclose(a["p"], np.minimum(1.0, 2 * ref.p_sim))
    corner = int(np.flatnonzero((grid["row"] == 1) & (grid["col"] == 1))[0])
    assert a["p"].iloc[corner] == pytest.approx(2 / 200)  # no permutation as extreme
    assert a["hotspot_class"].iloc[corner] == "hot_95"  # 0.01 is not < 0.01
    assert ((a["p"] > 0) & (a["p"] <= 1)).all()


def test_classify_thresholds_and_names() -> None:
    z = np.array([3.0, 2.0, 1.7, 0.5, -1.7, -2.0, -3.0, np.nan])
    p = 2 * stats.norm.sf(np.abs(z))
    classes, bins = classify(z, p)
    assert classes.tolist() == ["hot_99", "hot_95", "hot_90", "none", "cold_90", "cold_95",
                                "cold_99", "none"]
    assert bins.tolist() == [3, 2, 1, 0, -1, -2, -3, 0]
    assert class_names() == ["hot_99", "hot_95", "hot_90", "none", "cold_90", "cold_95",
                             "cold_99"]


def test_constant_values_give_no_hot_spot() -> None:
    out = gi_star(lattice(4, 4).assign(v=5.0), "v")
    assert (out["z"] == 0).all() and (out["hotspot_class"] == "none").all()


@pytest.mark.parametrize("bad", [[-1.0], [np.nan], [np.inf]])
def test_bad_values_are_rejected(bad: list[float]) -> None:
    grid = lattice(3, 3).assign(v=1.0)
    grid.loc[0, "v"] = bad[0]
    with pytest.raises(AnalysisError, match="missing, infinite or negative"):
        gi_star(grid, "v")


def test_bad_arguments_are_rejected() -> None:
    grid = lattice(3, 3).assign(v=1.0)
    with pytest.raises(AnalysisError, match="no column"):
        gi_star(grid, "nope")
    with pytest.raises(AnalysisError, match="weights"):
        gi_star(grid, "v", weights="bishop")
    with pytest.raises(AnalysisError, match="permutations"):
        gi_star(grid, "v", permutations=-1)


def test_index_is_aligned_with_the_input() -> None:
    grid = lattice(5, 5).assign(v=VALUES_5X5)
    grid.index = [f"g{i}" for i in range(25)][::-1]
    out = gi_star(grid, "v")
    assert list(out.index) == list(grid.index)
    np.testing.assert_allclose(out["z"].to_numpy(),
                               hand_gi_star(VALUES_5X5, lattice_adjacency(5, 5, False)))


def test_counts_per_grid_and_rates() -> None:
    grid = lattice(2, 2)
    cent = shapely.centroid(grid.geometry.values)
    lon = np.r_[np.repeat(shapely.get_x(cent), [3, 0, 1, 2]), 0.0]
    lat = np.r_[np.repeat(shapely.get_y(cent), [3, 0, 1, 2]), 0.0]  # last one: nowhere
    out = counts_per_grid(grid["code"], grid.geometry.values, lon, lat,
                          population=[1500, 10, 0, 2000])
    assert out["count"].tolist() == [3, 0, 1, 2]
    assert out.attrs["outside"] == 1
    np.testing.assert_allclose(out["rate_per_1000"].to_numpy(), [2.0, 0.0, np.nan, 1.0])
    assert list(out.index) == grid["code"].tolist()


def test_n_neighbors_counts_without_self() -> None:
    g = build_weights(lattice(3, 3).geometry.values, "queen")
    assert n_neighbors(g).tolist() == [3, 5, 3, 5, 8, 5, 3, 5, 3]
