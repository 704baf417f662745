"""Bulk point-in-grid geocoder: known answers, an independent brute-force check, the bench."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis import settings
from gis._errors import GeocodeError
from gis.geocode import GridIndex, bench_geocode

LON0, LAT0, D = 100.40, 38.90, 0.01  # 3 x 3 squares of 0.01 degree near Zhangye

# code of the square in row r (south to north), column c (west to east); "10" < "9" as text
LAYOUT = [["G5", "G2", "G8"],
          ["10", "9", "G4"],
          ["G7", "G3", "G6"]]
ALL_RC = [(r, c) for r in range(3) for c in range(3)]
GIVEN_ORDER = [(2, 1), (0, 0), (1, 2), (2, 2), (0, 1), (1, 0), (2, 0), (0, 2), (1, 1)]


def _square(r: int, c: int) -> shapely.Polygon:
    return shapely.box(LON0 + c * D, LAT0 + r * D, LON0 + (c + 1) * D, LAT0 + (r + 1) * D)


def _three_by_three() -> tuple[list[str], np.ndarray]:
    codes = [LAYOUT[r][c] for r, c in GIVEN_ORDER]
    geoms = np.array([_square(r, c) for r, c in GIVEN_ORDER], dtype=object)
    return codes, geoms


def _codes_of(idx: GridIndex, pos: np.ndarray) -> list[str | None]:
    return [None if p < 0 else str(idx.codes[p]) for p in pos]


RASTERS = [(None, None), (50.0, 1), (250.0, 4), (2_000.0, 16), (5_000.0, 2)]


@pytest.mark.parametrize(("cell_m", "subdiv"), RASTERS)
def test_known_answers_on_a_three_by_three_grid(cell_m: float | None, subdiv: int | None) -> None:
    codes, geoms = _three_by_three()
    idx = GridIndex.build(codes, geoms, cell_m=cell_m, subdiv=subdiv)
    assert list(idx.codes) == codes  # positions refer to the order given
    x0, y0 = LON0, LAT0
    cases = [  # (lon, lat, expected code)
        # interior: centre and off-centre of every square
        *[(x0 + (c + 0.5) * D, y0 + (r + 0.5) * D, LAYOUT[r][c]) for r, c in ALL_RC],
        *[(x0 + (c + 0.1) * D, y0 + (r + 0.93) * D, LAYOUT[r][c]) for r, c in ALL_RC],
        # shared edges go to the smallest code (text order)
        (x0 + 1 * D, y0 + 0.5 * D, "G2"),      # G5 | G2
        (x0 + 2 * D, y0 + 0.25 * D, "G2"),     # G2 | G8
        (x0 + 0.5 * D, y0 + 1 * D, "10"),      # G5 / 10
        (x0 + 1.5 * D, y0 + 2 * D, "9"),       # 9 / G3
        (x0 + 1 * D, y0 + 1.5 * D, "10"),      # 10 | 9: "10" < "9" as text
        # shared vertices: smallest of the 4 codes around them
        (x0 + 1 * D, y0 + 1 * D, "10"),        # G5 G2 10 9
        (x0 + 2 * D, y0 + 2 * D, "9"),         # 9 G4 G3 G6
        (x0 + 2 * D, y0 + 1 * D, "9"),         # G2 G8 9 G4
        # outer boundary and outer corner belong to the one square there
        (x0, y0 + 0.5 * D, "G5"),
        (x0 + 3 * D, y0 + 3 * D, "G6"),
        (x0 + 1.5 * D, y0 + 3 * D, "G3"),
        # outside
        (x0 - 1e-9, y0 + 0.5 * D, None),
        (x0 + 3 * D + 1e-9, y0 + 1.5 * D, None),
        (x0 + 1.5 * D, y0 - 0.004, None),
        (0.0, 0.0, None),
        (179.9, -89.9, None),
        (np.nan, y0 + 0.5 * D, None),
        (x0 + 0.5 * D, np.nan, None),
        (np.inf, y0 + 0.5 * D, None),
    ]
    lon = np.array([c[0] for c in cases])
    lat = np.array([c[1] for c in cases])
    got = idx.locate(lon, lat)
    assert got.dtype.kind == "i"
    assert _codes_of(idx, got) == [c[2] for c in cases]
    # shape is kept, and answers do not depend on the batch
    assert idx.locate(lon.reshape(1, -1), lat.reshape(1, -1)).shape == (1, len(cases))
    single = [int(idx.locate(np.array([a]), np.array([b]))[0])
              for a, b in zip(lon, lat, strict=True)]
    assert single == list(got)


def test_holes_and_multipolygons() -> None:
    outer = shapely.box(LON0, LAT0, LON0 + 4 * D, LAT0 + 4 * D)
    hole_a = shapely.box(LON0 + D, LAT0 + D, LON0 + 2 * D, LAT0 + 2 * D)      # filled by "A"
    hole_e = shapely.box(LON0 + 2.5 * D, LAT0 + 2.5 * D, LON0 + 3.5 * D, LAT0 + 3.5 * D)  # empty
    donut = shapely.Polygon(outer.exterior.coords,
                            [hole_a.exterior.coords, hole_e.exterior.coords])
    multi = shapely.MultiPolygon([shapely.box(LON0 + 5 * D, LAT0, LON0 + 6 * D, LAT0 + D),
                                  shapely.box(LON0 + 7 * D, LAT0, LON0 + 8 * D, LAT0 + D)])
    geoms = np.array([donut, hole_a, multi, None], dtype=object)
    idx = GridIndex.build(["B", "A", "C", "Z"], geoms, cell_m=200.0, subdiv=4)
    pts = [(LON0 + 1.5 * D, LAT0 + 1.5 * D, "A"),   # in the filled hole
           (LON0 + 1.0 * D, LAT0 + 1.5 * D, "A"),   # on the hole's ring: A < B
           (LON0 + 0.5 * D, LAT0 + 0.5 * D, "B"),
           (LON0 + 3.0 * D, LAT0 + 3.0 * D, None),  # in the empty hole
           (LON0 + 2.5 * D, LAT0 + 3.0 * D, "B"),   # on the empty hole's ring
           (LON0 + 5.5 * D, LAT0 + 0.5 * D, "C"),
           (LON0 + 7.5 * D, LAT0 + 0.5 * D, "C"),
           (LON0 + 6.5 * D, LAT0 + 0.5 * D, None)]  # between the parts of C
    got = idx.locate(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
    assert _codes_of(idx, got) == [p[2] for p in pts]


def _voronoi_coverage(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """About ``n`` Voronoi polygons tiling an irregular region (~18 x 15 km), densified."""
    rng = np.random.default_rng(seed)
    region = shapely.Polygon([(0, 0), (0.20, 0.02), (0.23, 0.10), (0.15, 0.14), (0.12, 0.08),
                              (0.05, 0.13), (-0.01, 0.07)])
    region = shapely.affinity.translate(region, LON0, LAT0)
    xmin, ymin, xmax, ymax = region.bounds
    seeds = shapely.points(rng.uniform(xmin, xmax, 3 * n), rng.uniform(ymin, ymax, 3 * n))
    seeds = seeds[shapely.contains(region, seeds)][:n]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                       extend_to=region))
    cells = shapely.segmentize(shapely.intersection(cells, region), 0.0007)
    cells = cells[~shapely.is_empty(cells)]
    # neighbours computed the shared edges separately: round to 0.1 mm to make them match
    cells = shapely.set_coordinates(cells, np.round(shapely.get_coordinates(cells), 9))
    codes = [f"62070210{c:04d}" for c in rng.permutation(10_000)[:len(cells)]]
    return codes, cells


def _brute_force(codes: list[str], geoms: np.ndarray, x: np.ndarray, y: np.ndarray,
                 smallest: bool = True) -> np.ndarray:
    """Independent answer: every polygon tested on its bbox's points; smallest code wins."""
    best = np.full(len(x), -1)
    for i in sorted(range(len(codes)), key=lambda i: codes[i], reverse=smallest):
        x0, y0, x1, y1 = geoms[i].bounds
        cand = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
        best[cand[shapely.intersects_xy(geoms[i], x[cand], y[cand])]] = i
    return best


def _test_points(geoms: np.ndarray, n_random: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points plus vertices and edge midpoints of the polygons."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    rnd = np.column_stack([rng.uniform(xmin - 0.01, xmax + 0.01, n_random),
                           rng.uniform(ymin - 0.01, ymax + 0.01, n_random)])
    xy, ring = shapely.get_coordinates(shapely.get_rings(geoms), return_index=True)
    same = ring[1:] == ring[:-1]
    mid = 0.5 * (xy[:-1][same] + xy[1:][same])
    edge = np.concatenate([xy[rng.choice(len(xy), 10_000)], mid[rng.choice(len(mid), 10_000)]])
    pts = np.concatenate([rnd, edge])
    return pts[:, 0], pts[:, 1]


@pytest.mark.parametrize(("cell_m", "subdiv"), [(None, None), (400.0, 3)])
def test_voronoi_coverage_matches_brute_force(cell_m: float | None, subdiv: int | None) -> None:
    codes, geoms = _voronoi_coverage(500, seed=3)
    assert 450 <= len(geoms) <= 500
    assert shapely.coverage_is_valid(geoms)
    idx = GridIndex.build(codes, geoms, cell_m=cell_m, subdiv=subdiv)
    assert not shapely.is_prepared(geoms).any()  # the caller's geometries are untouched
    x, y = _test_points(geoms, 80_000, seed=4)
    assert len(x) == 100_000
    want = _brute_force(codes, geoms, x, y)
    # the check can tell the tie rule apart, and the points reach every case
    assert (want != _brute_force(codes, geoms, x, y, smallest=False)).sum() > 5_000
    assert 10_000 < (want < 0).sum() < 50_000  # the region is far from its bbox

    info = idx.describe()
    assert info["blocks"] > 0 and info["exact_cells"] > 0
    assert (idx.coarse >= 0).sum() > 0  # some answers come straight from the raster
    got = idx.locate(x, y)
    bad = np.flatnonzero(got != want)
    assert len(bad) == 0, f"{len(bad)} mismatches, e.g. {list(zip(x[bad[:3]], y[bad[:3]]))}"


def test_overlapping_polygons_match_brute_force() -> None:
    """Not a coverage (overlaps, nesting): points covered twice still get the smallest code."""
    rng = np.random.default_rng(8)
    centres = shapely.points(LON0 + rng.uniform(0, 0.1, 60), LAT0 + rng.uniform(0, 0.1, 60))
    geoms = shapely.buffer(centres, rng.uniform(0.002, 0.03, 60), quad_segs=rng.integers(2, 12))
    codes = [f"C{v}" for v in rng.permutation(60)]
    idx = GridIndex.build(codes, geoms, cell_m=300.0, subdiv=4)
    x, y = _test_points(geoms, 30_000, seed=9)
    want = _brute_force(codes, geoms, x, y)
    assert (want != _brute_force(codes, geoms, x, y, smallest=False)).sum() > 10_000
    assert np.array_equal(idx.locate(x, y), want)


def test_bench_geocode_small_instance() -> None:
    codes, geoms = _voronoi_coverage(150, seed=11)
    res = bench_geocode(codes, geoms, n_points=20_000, seed=5)
    assert set(res) == {"points", "grids", "index_build_s", "wangge_s", "sjoin_s", "ratio",
                        "mismatches", "outside"}
    assert res["points"] == 20_000 and res["grids"] == len(geoms)
    assert res["mismatches"] == 0
    assert 0 < res["outside"] < 20_000  # the region is not a rectangle: its bbox corners
    assert res["wangge_s"] > 0 and res["sjoin_s"] > 0


def test_cell_size_is_read_from_settings_at_build_time(monkeypatch: pytest.MonkeyPatch) -> None:
    codes, geoms = _three_by_three()
    monkeypatch.setattr(settings, "GEOCODE_CELL_M", 1_000.0)
    monkeypatch.setattr(settings, "GEOCODE_SUBDIV", 4)
    info = GridIndex.build(codes, geoms).describe()
    assert info["fine_cell_m"] == pytest.approx(250.0)


def test_bad_input_is_reported() -> None:
    codes, geoms = _three_by_three()
    with pytest.raises(GeocodeError, match="codes but"):
        GridIndex.build(codes[:-1], geoms)
    with pytest.raises(GeocodeError, match="duplicate"):
        GridIndex.build(["a"] * len(codes), geoms)
    with pytest.raises(GeocodeError, match="not a polygon"):
        GridIndex.build(["a", "b"], np.array([geoms[0], shapely.Point(LON0, LAT0)]))
    with pytest.raises(GeocodeError, match="no grid polygons"):
        GridIndex.build(["a"], np.array([None]))
    with pytest.raises(GeocodeError, match="lon/lat"):
        GridIndex.build(["a"], np.array([shapely.box(500_000, 4_300_000, 501_000, 4_301_000)]))
    idx = GridIndex.build(codes, geoms)
    with pytest.raises(GeocodeError, match="shape"):
        idx.locate(np.zeros(3), np.zeros(2))
