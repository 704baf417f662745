"""Hand-made grids for the layer tests: a wavy lattice that is an exact coverage.

Group grids are the cells of an ``n × n`` lattice whose edges are polylines of ``k``
segments, displaced by a smooth field that depends only on the integer lattice position, so
neighbouring cells share exactly the same vertices (an exact coverage, like real grids).
Villages are blocks of ``b × b`` groups; townships blocks of villages.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

ORIGIN = (100.1, 38.6)
"""Lower-left corner, degrees (near the demo county)."""


def _node(a: np.ndarray, b: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Displaced position of lattice nodes (a, b) (integers), spacing ``h`` degrees."""
    a = a.astype(float)
    b = b.astype(float)
    # a smooth field with a Jacobian far from singular: the lattice never folds
    dx = 2.0 * np.sin(0.10 * b + 0.05 * a) + 0.3 * np.sin(0.7 * b + 0.4 * a)
    dy = 2.0 * np.sin(0.09 * a + 0.04 * b) + 0.3 * np.sin(0.6 * a + 0.5 * b)
    return ORIGIN[0] + (a + dx) * h, ORIGIN[1] + (b + dy) * h


def wavy_lattice(n: int, k: int, cell_deg: float, block: int) -> dict[str, gpd.GeoDataFrame]:
    """Groups (n × n cells), villages (blocks of block × block) and townships (blocks of
    villages) as GeoDataFrames in EPSG:4490 with the columns of ``read_grids``."""
    h = cell_deg / k
    m = n * k
    rows = []
    for j in range(n):
        for i in range(n):
            a0, a1, b0, b1 = i * k, (i + 1) * k, j * k, (j + 1) * k
            s = np.arange(k)
            ring_a = np.concatenate([a0 + s, np.full(k, a1), a1 - s, np.full(k, a0), [a0]])
            ring_b = np.concatenate([np.full(k, b0), b0 + s, np.full(k, b1), b1 - s, [b0]])
            x, y = _node(ring_a, ring_b, h)
            rows.append((i, j, shapely.Polygon(np.column_stack([x, y]))))
    assert m == n * k
    vb = n // block
    groups = pd.DataFrame(rows, columns=["i", "j", "geometry"])
    groups["village"] = (groups["j"] // block) * vb + groups["i"] // block
    groups["code"] = [f"620702{v:06d}{r:03d}" for r, v in enumerate(groups["village"])]
    groups["name"] = [f"{(r % 9) + 1}社" for r in range(len(groups))]
    groups["parent_code"] = [f"620702{v:06d}" for v in groups["village"]]
    rng = np.random.default_rng(7)
    groups["households"] = rng.integers(80, 320, len(groups))
    groups["population"] = groups["households"] * 3
    groups["worker"] = [f"网格员{r}" for r in range(len(groups))]
    groups["level"] = 2
    tb = max(1, vb // 2)
    vi, vj = groups["i"] // block, groups["j"] // block
    groups["township_code"] = [f"620702{(b // tb) * 10 + a // tb:03d}"
                               for a, b in zip(vi, vj, strict=True)]
    g = gpd.GeoDataFrame(groups.drop(columns=["i", "j", "village"]), geometry="geometry",
                         crs=4490)
    v = g.dissolve(by="parent_code", aggfunc={"population": "sum", "households": "sum",
                                              "township_code": "first"}).reset_index()
    v = v.rename(columns={"parent_code": "code"})
    v["geometry"] = [shapely.coverage_union_all(np.asarray(g.geometry[g["parent_code"] == c]))
                     for c in v["code"]]
    v["name"] = [f"第{q + 1}村" for q in range(len(v))]
    v["parent_code"] = v["township_code"]
    v["level"] = 1
    v["worker"] = None
    v = gpd.GeoDataFrame(v, geometry="geometry", crs=4490)
    t = v.dissolve(by="township_code").reset_index()[["township_code", "geometry"]]
    t = t.rename(columns={"township_code": "code"})
    t["name"] = [f"第{q + 1}镇" for q in range(len(t))]
    county = gpd.GeoDataFrame({"code": ["620702"], "name": ["测试县"]},
                              geometry=[shapely.coverage_union_all(np.asarray(v.geometry))],
                              crs=4490)
    return {"groups": g, "villages": v, "townships": gpd.GeoDataFrame(t, crs=4490),
            "county": county}


@pytest.fixture(scope="session")
def small_grids() -> dict[str, gpd.GeoDataFrame]:
    """6 × 6 groups of 40 vertices per edge, 9 villages of 2 × 2 groups, 4 townships."""
    return wavy_lattice(n=6, k=10, cell_deg=0.02, block=2)


@pytest.fixture(scope="session")
def county_size_grids() -> dict[str, gpd.GeoDataFrame]:
    """A demo-size county: 50 × 50 = 2,500 groups of 200 vertices, 100 villages."""
    return wavy_lattice(n=50, k=50, cell_deg=0.016, block=5)


@pytest.fixture(scope="session")
def incident_counts(small_grids: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """Incident counts for most small groups (some have none), skewed like real data."""
    g = small_grids["groups"]
    n = np.array([0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 0] * 3)[: len(g)]
    df = pd.DataFrame({"code": g["code"], "n": n})
    return df[df["n"] > 0].reset_index(drop=True)
