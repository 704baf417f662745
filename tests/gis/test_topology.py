"""Known-answer tests of gis.grids.topology.validate.

Scenes are drawn in metres in UTM zone 47N (EPSG:32647) near 100.45E 38.93N, so that every
area is known exactly, then converted to EPSG:4490 degrees. Neighbours are given the same
vertices along shared edges (as an edge-matched coverage has), so the only defects are the
ones planted. Base layout: 6 × 2 villages of 1 km × 1 km (code ``Vcr``: column c, row r), each
split into a west and an east group (``Vcr-a`` / ``Vcr-b``), territory 6 km × 2 km.
"""

from __future__ import annotations

import json
import time

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely import box
from shapely.geometry import Polygon

from gis import settings
from gis._errors import CrsError
from gis.grids.topology import PROBLEM_TYPES, Problem, validate

E0, N0 = 625_000.0, 4_310_000.0  # local origin in EPSG:32647, ≈ (100.449E, 38.930N)
_TO_DEG = pyproj.Transformer.from_crs(32647, 4326, always_xy=True)
_TO_M = pyproj.Transformer.from_crs(4326, 32647, always_xy=True)


def _deg(geom: shapely.Geometry) -> shapely.Geometry:
    def f(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(_TO_DEG.transform(xy[:, 0] + E0, xy[:, 1] + N0))
    return shapely.transform(geom, f)


def base() -> tuple[dict[str, shapely.Geometry], dict[str, tuple[str, shapely.Geometry]]]:
    """Villages {code: polygon} and groups {code: (village, polygon)}, local metres."""
    villages, groups = {}, {}
    for c in range(6):
        for r in range(2):
            v = f"V{c}{r}"
            x, y = 1000.0 * c, 1000.0 * r
            villages[v] = box(x, y, x + 1000, y + 1000)
            groups[f"{v}-a"] = (v, box(x, y, x + 500, y + 1000))
            groups[f"{v}-b"] = (v, box(x + 500, y, x + 1000, y + 1000))
    return villages, groups


def scene(villages: dict, groups: dict | None, territory: shapely.Geometry | None = None,
          raw: tuple[str, ...] = ()) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None,
                                              shapely.Geometry | None]:
    """Edge-match (snap every polygon to every vertex), convert to EPSG:4490 GeoDataFrames.

    ``raw``: codes of polygons left as drawn (not snapped), e.g. an invalid bow-tie.
    """
    polys = list(villages.values()) + [g for _, g in (groups or {}).values()]
    if territory is not None:
        polys.append(territory)
    verts = shapely.multipoints(shapely.get_coordinates(np.array(polys, dtype=object)))

    def fix(code: str, g: shapely.Geometry) -> shapely.Geometry:
        return _deg(g if code in raw else shapely.snap(g, verts, 1e-6))

    vg = gpd.GeoDataFrame({"code": list(villages), "parent_code": None,
                           "geometry": [fix(k, g) for k, g in villages.items()]}, crs=4490)
    gg = None if groups is None else gpd.GeoDataFrame(
        {"code": list(groups), "parent_code": [p for p, _ in groups.values()],
         "geometry": [fix(k, g) for k, (_, g) in groups.items()]}, crs=4490)
    return vg, gg, None if territory is None else fix("", territory)


TERRITORY = box(0, 0, 6000, 2000)


def found(problems: list[Problem]) -> list[tuple[str, int | None, list[str]]]:
    return sorted((p.type, p.level, p.codes) for p in problems)


def one(problems: list[Problem], kind: str) -> Problem:
    hits = [p for p in problems if p.type == kind]
    assert len(hits) == 1, (kind, problems)
    return hits[0]


def inside(p: Problem, region_m: shapely.Geometry) -> bool:
    """The problem's location lies in ``region_m`` (local metres)."""
    return _deg(region_m).covers(shapely.from_wkt(p.location))


# --- the combined known-answer scene --------------------------------------------------------

NOTCH = box(997.5, 500, 1000, 502)            # 5 m² gap between V00 and V10
BULGE = box(1999, 300, 2000, 302)             # V20 reaches 2 m² into V10
OUT = box(3100, 1000, 3110, 1010)             # group V30-a reaches 100 m² into V31
STRIP = box(4100, 999.9, 4200, 1000)          # 10 m² × 0.1 m sliver gap between V40 and V41
HOLE = box(2200, 1400, 2300, 1500)            # V21 has a hole holding V11's exclave


def combined() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, shapely.Geometry]:
    v, g = base()
    v["V00"] = v["V00"] - NOTCH
    g["V00-b"] = ("V00", g["V00-b"][1] - NOTCH)
    v["V20"] = v["V20"] | BULGE
    g["V20-a"] = ("V20", g["V20-a"][1] | BULGE)
    g["V30-a"] = ("V30", g["V30-a"][1] | OUT)
    v["V40"] = v["V40"] - STRIP
    g["V40-a"] = ("V40", g["V40-a"][1] - STRIP)
    # V50 drawn as a bow-tie (west and east triangles); north and south triangles go to
    # V51 and to a new triangular village V52. Edges are straight in degrees, so the
    # diagonals cross at the image of where they cross in degrees, not at (5500, 500).
    v["V50"] = Polygon([(5000, 0), (6000, 1000), (6000, 0), (5000, 1000)])
    c = shapely.intersection(_deg(shapely.LineString([(5000, 0), (6000, 1000)])),
                             _deg(shapely.LineString([(6000, 0), (5000, 1000)])))
    x, y = _TO_M.transform(c.x, c.y)
    m = (x - E0, y - N0)
    assert abs(m[0] - 5500) + abs(m[1] - 500) < 0.5
    g["V50-a"] = ("V50", Polygon([(5000, 0), m, (5000, 1000)]))
    g["V50-b"] = ("V50", Polygon([(6000, 0), (6000, 1000), m]))
    v["V51"] = Polygon([(5000, 1000), m, (6000, 1000), (6000, 2000), (5000, 2000)])
    g["V51-a"] = ("V51", Polygon([(5000, 1000), m, (5500, 1000), (5500, 2000), (5000, 2000)]))
    g["V51-b"] = ("V51", Polygon([m, (6000, 1000), (6000, 2000), (5500, 2000), (5500, 1000)]))
    v["V52"] = Polygon([(5000, 0), (6000, 0), m])
    g["V52-a"] = ("V52", v["V52"])
    # V11 has an exclave in a hole of V21 (a legal multipart village)
    v["V21"] = v["V21"] - HOLE
    g["V21-a"] = ("V21", g["V21-a"][1] - HOLE)
    v["V11"] = v["V11"] | HOLE
    g["V11-c"] = ("V11", HOLE)
    # V01 has no groups
    del g["V01-a"], g["V01-b"]
    return scene(v, g, TERRITORY, raw=("V50",))


def test_combined_scene_each_problem_found_exactly_once() -> None:
    vg, gg, terr = combined()
    problems = validate(vg, gg, terr)
    assert found(problems) == sorted([
        ("gap", 1, ["V00", "V10"]),
        ("overlap", 1, ["V10", "V20"]),
        ("group_outside_village", 2, ["V30", "V30-a"]),
        ("sliver", 1, ["V40", "V41"]),
        ("invalid", 1, ["V50"]),
        ("multipart", 1, ["V11"]),
        ("village_without_groups", 1, ["V01"]),
    ])
    expect = {"gap": (5, NOTCH), "overlap": (2, BULGE), "group_outside_village": (100, OUT),
              "sliver": (10, STRIP), "invalid": (500_000, box(5000, 0, 6000, 1000)),
              "multipart": (10_000, HOLE),
              "village_without_groups": (1e6, box(0, 1000, 1000, 2000))}
    for kind, (area, region) in expect.items():
        p = one(problems, kind)
        assert p.area_m2 == pytest.approx(area, rel=0.01), kind
        assert inside(p, region), (kind, p.location)
        assert p.severity == ("warning" if kind == "multipart" else "error")
    assert "Self-intersection" in one(problems, "invalid").detail
    assert one(problems, "invalid").location.startswith("POINT (100.")
    assert "Polsby-Popper" in one(problems, "sliver").detail
    assert [p.severity for p in problems] == ["error"] * 6 + ["warning"]


def test_problem_to_dict_is_json() -> None:
    vg, gg, terr = combined()
    rows = json.loads(json.dumps([p.to_dict() for p in validate(vg, gg, terr)]))
    assert set(rows[0]) == {"type", "severity", "level", "codes", "area_m2", "location", "detail"}
    assert {r["type"] for r in rows} <= set(PROBLEM_TYPES)


# --- valid coverages and tolerance -----------------------------------------------------------

def test_valid_coverage_has_no_problems() -> None:
    v, g = base()
    assert validate(*scene(v, g, TERRITORY)) == []


def test_valid_coverage_not_edge_matched_has_no_problems() -> None:
    """Extra vertices on the shared edges (not matched by the neighbour) are no defect."""
    v, g = base()
    vg, gg, terr = scene(v, g, TERRITORY)
    gg["geometry"] = shapely.segmentize(gg.geometry.values, 1e-3)
    terr = shapely.segmentize(terr, 2e-3)
    assert validate(vg, gg, terr) == []


def test_without_territory_only_enclosed_holes_are_gaps() -> None:
    v, g = base()
    v["V21"] = v["V21"] - HOLE
    g["V21-a"] = ("V21", g["V21-a"][1] - HOLE)
    vg, gg, _ = scene(v, g)
    problems = validate(vg, gg, None)
    assert found(problems) == [("gap", 1, ["V21"])]
    assert problems[0].area_m2 == pytest.approx(10_000, rel=0.01)
    assert validate(*scene(*base())) == []


@pytest.mark.parametrize(("area", "reported"), [(0.5, False), (1.5, True)])
def test_gap_tolerance(area: float, reported: bool) -> None:
    v, g = base()
    notch = box(999, 500, 1000, 500 + area)
    v["V00"] = v["V00"] - notch
    g["V00-b"] = ("V00", g["V00-b"][1] - notch)
    problems = validate(*scene(v, g, TERRITORY))
    assert found(problems) == ([("gap", 1, ["V00", "V10"])] if reported else [])
    if reported:
        assert problems[0].area_m2 == pytest.approx(area, rel=0.01)


def test_tolerance_argument_and_setting() -> None:
    v, g = base()
    notch = box(999, 500, 1000, 500.5)
    v["V00"] = v["V00"] - notch
    g["V00-b"] = ("V00", g["V00-b"][1] - notch)
    sc = scene(v, g, TERRITORY)
    assert found(validate(*sc, tolerance_m2=0.1)) == [("gap", 1, ["V00", "V10"])]
    old = settings.GAP_TOLERANCE_M2
    try:
        settings.GAP_TOLERANCE_M2 = 0.1
        assert len(validate(*sc)) == 1
    finally:
        settings.GAP_TOLERANCE_M2 = old


# --- single defects ------------------------------------------------------------------------

def test_level2_gap_and_overlap_inside_a_village() -> None:
    v, g = base()
    g["V10-a"] = ("V10", g["V10-a"][1] - box(1200, 200, 1204, 205))      # 20 m² hole
    g["V30-b"] = ("V30", g["V30-b"][1] | box(3490, 600, 3500, 603))      # 30 m² into V30-a
    problems = validate(*scene(v, g, TERRITORY))
    assert found(problems) == [("gap", 2, ["V10", "V10-a"]),
                               ("overlap", 2, ["V30", "V30-a", "V30-b"])]
    assert one(problems, "gap").area_m2 == pytest.approx(20, rel=0.01)
    assert one(problems, "overlap").area_m2 == pytest.approx(30, rel=0.01)


def test_outside_territory_and_duplicate_village() -> None:
    v, g = base()
    v["V20"] = v["V20"] | box(2100, -20, 2200, 0)                      # 2,000 m² outside
    g["V20-a"] = ("V20", g["V20-a"][1] | box(2100, -20, 2200, 0))
    v["V99"] = v["V41"]                                                # duplicate of V41
    g["V99-a"] = ("V99", v["V41"])
    problems = validate(*scene(v, g, TERRITORY))
    assert found(problems) == [("outside_territory", 1, ["V20"]), ("overlap", 1, ["V41", "V99"])]
    assert one(problems, "outside_territory").area_m2 == pytest.approx(2000, rel=0.01)
    assert one(problems, "overlap").area_m2 == pytest.approx(1e6, rel=0.01)


def test_sliver_group_and_sliver_overlap() -> None:
    v, g = base()
    g["V10-a"] = ("V10", box(1000, 0, 1499.8, 1000))
    g["V10-t"] = ("V10", box(1499.8, 0, 1500, 1000))                   # 0.2 m × 1 km group
    g["V20-b"] = ("V20", g["V20-b"][1] | box(2499.95, 0, 2500, 400))   # 20 m² thin overlap
    problems = validate(*scene(v, g, TERRITORY))
    assert found(problems) == [("sliver", 2, ["V10-t"]), ("sliver", 2, ["V20", "V20-a", "V20-b"])]
    assert sorted(p.area_m2 for p in problems) == pytest.approx([20, 200], rel=0.01)


def test_group_with_unknown_village_and_non_polygon() -> None:
    v, g = base()
    vg, gg, terr = scene(v, g, TERRITORY)
    gg.loc[gg.code == "V00-a", "parent_code"] = "NOPE"
    gg.loc[gg.code == "V10-a", "geometry"] = shapely.Point(100.45, 38.93)
    found_ = found(validate(vg, gg, terr))
    assert ("group_outside_village", 2, ["V00-a"]) in found_
    assert ("invalid", 2, ["V10-a"]) in found_
    # V00-a and V10-a missing from their villages leave level-2 gaps there
    assert ("gap", 2, ["V00", "V00-b"]) in found_ and ("gap", 2, ["V10", "V10-b"]) in found_
    assert len(found_) == 4


def test_groups_not_given() -> None:
    v, g = base()
    vg, _, terr = scene(v, g, TERRITORY)
    assert validate(vg, None, terr) == []


def test_wrong_crs_is_refused() -> None:
    vg, gg, terr = scene(*base(), TERRITORY)
    with pytest.raises(CrsError, match="EPSG:4490"):
        validate(vg.to_crs(32647), gg, terr)


# --- speed ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def county_size() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, shapely.Geometry]:
    """An edge-matched coverage of demo size: 250 villages, 2,500 groups of ~200 vertices."""
    rng = np.random.default_rng(7)
    side = 60_000.0
    pts = rng.uniform(0, side, (2500, 2))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts),
                                                      extend_to=box(0, 0, side, side)))
    cells = shapely.intersection(cells, box(0, 0, side, side))
    lines = shapely.get_parts(shapely.line_merge(shapely.union_all(shapely.boundary(cells))))
    faces = shapely.get_parts(shapely.polygonize(shapely.segmentize(lines, 25.0)))
    faces = np.array([_deg(f) for f in faces], dtype=object)
    seeds = pts[rng.choice(len(pts), 250, replace=False)]
    centre = np.column_stack(_TO_DEG.transform(seeds[:, 0] + E0, seeds[:, 1] + N0))
    c = shapely.get_coordinates(shapely.centroid(faces))
    parent = np.argmin(((c[:, None, :] - centre[None]) ** 2).sum(-1), axis=1)
    vcodes = np.array([f"V{i:03d}" for i in range(250)])
    used = np.unique(parent)
    villages = np.array([shapely.coverage_union_all(faces[parent == k]) for k in used])
    groups = gpd.GeoDataFrame({"code": [f"G{i:04d}" for i in range(len(faces))],
                               "parent_code": vcodes[parent], "geometry": faces}, crs=4490)
    vg = gpd.GeoDataFrame({"code": vcodes[used], "geometry": villages}, crs=4490)
    return vg, groups, shapely.coverage_union_all(villages)


def test_demo_size_coverage_validates_fast(county_size) -> None:  # noqa: ANN001
    vg, gg, terr = county_size
    assert len(gg) >= 2400 and shapely.get_num_coordinates(gg.geometry.values).mean() > 150
    # nearest-seed villages are sometimes in two parts: legal, a warning
    assert {p.type for p in validate(vg, gg, terr)} <= {"multipart"}
    best = min(_timed(validate, vg, gg, terr) for _ in range(3))
    assert best < 1.0, f"validation took {best:.3f} s"
    broken = gg.copy()
    broken.loc[0, "geometry"] = shapely.buffer(broken.geometry.iloc[0], -1e-4)
    assert {p.type for p in validate(vg, broken, terr)} - {"multipart"} == {"gap"}


def _timed(f, *args) -> float:  # noqa: ANN001
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t


# --- snap_fix ------------------------------------------------------------------------------

def test_snap_fix_closes_narrow_gaps_and_overlaps_only() -> None:
    from gis.grids.topology_fix import snap_fix

    v, _ = base()
    v["V40"] = v["V40"] - box(4100, 999.95, 4200, 1000)    # 5 m² gap, 5 cm wide
    v["V20"] = v["V20"] | box(1999.95, 100, 2000, 300)     # 10 m² overlap, 5 cm wide
    v["V21"] = v["V21"] | box(1998, 1300, 2000, 1305)      # 10 m² overlap, 2 m wide
    vg, _, terr = scene(v, None, TERRITORY)
    assert len(validate(vg, None, terr)) == 3
    fixed, changes = snap_fix(vg, 0.2)
    assert found(validate(fixed, None, terr)) == [("overlap", 1, ["V11", "V21"])]
    by = {c["code"]: c for c in changes}
    assert by["V21"]["action"] == "not_fixed" and by["V21"]["max_move_m"] == pytest.approx(2, 0.01)
    old, new = (d.geometry[d.code == "V21"].iloc[0] for d in (vg, fixed))
    assert new.equals_exact(old, 0)
    snapped = [c for c in changes if c["action"] == "snapped"]
    assert {"V40", "V20"} <= {c["code"] for c in snapped}
    assert all(0 < c["max_move_m"] <= 0.2 for c in snapped)
    # independent check of the promise: no grid moved by more than the tolerance
    from gis.crs import to_metric
    a = to_metric(shapely.segmentize(vg.geometry.values, 0.002))[0]
    b = to_metric(shapely.segmentize(fixed.geometry.values, 0.002))[0]
    assert shapely.hausdorff_distance(a, b, densify=0.05).max() <= 0.2 + 1e-6


def test_snap_fix_leaves_a_valid_coverage_alone() -> None:
    from gis.grids.topology_fix import snap_fix

    vg, _, _ = scene(*base(), TERRITORY)
    fixed, changes = snap_fix(vg, 1.0)
    assert changes == []
    assert all(shapely.equals(fixed.geometry.values, vg.geometry.values))
