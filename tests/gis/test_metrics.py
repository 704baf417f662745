"""Known-answer tests of gis.grids.metrics (balance metrics, flags, village spread, report).

Shapes are drawn in metres in UTM zone 47N (EPSG:32647) near 100.45E 38.93N, so that areas
and perimeters are known exactly, then converted to EPSG:4490 degrees.
"""

from __future__ import annotations

import math
from datetime import timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
import sqlalchemy as sa
from shapely import box

from gis import settings
from gis._errors import AnalysisError, ConfigError, CrsError
from gis.grids import versions
from gis.grids.metrics import (
    METRIC_COLUMNS,
    SPREAD_COLUMNS,
    Bounds,
    balance_metrics,
    bounds_for,
    report_for_version,
    village_spread,
)
from gis.grids.store import read_grids

E0, N0 = 625_000.0, 4_310_000.0  # local origin in EPSG:32647, ≈ (100.449E, 38.930N)
_TO_DEG = pyproj.Transformer.from_crs(32647, 4326, always_xy=True)
GEOD = pyproj.Geod(ellps="WGS84")


def deg(geom: shapely.Geometry) -> shapely.Geometry:
    """Local metres (offset from E0, N0 in EPSG:32647) → EPSG:4490 degrees."""
    def f(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(_TO_DEG.transform(xy[:, 0] + E0, xy[:, 1] + N0))
    return shapely.transform(geom, f)


def grids(rows: list[dict]) -> gpd.GeoDataFrame:
    """GeoDataFrame of grids from dicts with a ``geom`` in local metres."""
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "geom"} for r in rows])
    return gpd.GeoDataFrame(df, geometry=[deg(r["geom"]) for r in rows], crs=4490)


def one_group(**kw: object) -> gpd.GeoDataFrame:
    return grids([{"code": "G1", "level": 2, "parent_code": "V1", "geom": box(0, 0, 100, 100),
                   **kw}])


# --- shape ---------------------------------------------------------------------------------

def test_square_compactness_is_pi_over_4_and_strip_is_tiny() -> None:
    g = grids([{"code": "SQ", "geom": box(0, 0, 100, 100)},
               {"code": "ST", "geom": box(0, 200, 1000, 210)}])

    m = balance_metrics(g, None, None, 4).set_index("code")

    assert list(balance_metrics(g, None, None, 4).columns) == METRIC_COLUMNS
    assert m.loc["SQ", "compactness"] == pytest.approx(math.pi / 4, rel=1e-4)
    assert m.loc["SQ", "area_km2"] == pytest.approx(0.01, rel=1e-4)
    strip = 4 * math.pi * 1000 * 10 / (2 * (1000 + 10)) ** 2  # 0.0308
    assert m.loc["ST", "compactness"] == pytest.approx(strip, rel=1e-4)
    assert m.loc["ST", "compactness"] < 0.05
    assert m.loc["ST", "area_km2"] == pytest.approx(0.01, rel=1e-4)


# --- distance to the nearest police post ----------------------------------------------------

def test_distance_to_the_nearest_post_matches_the_geodesic_offset() -> None:
    g = grids([{"code": "A", "geom": box(-50, -50, 50, 50)},
               {"code": "B", "geom": box(3000, 3000, 3200, 3100)}])
    lon, lat = _TO_DEG.transform(E0, N0)  # centre of A
    near = GEOD.fwd(lon, lat, 37.0, 2_500.0)[:2]
    far = GEOD.fwd(lon, lat, 200.0, 6_000.0)[:2]
    posts = gpd.GeoDataFrame({"code": ["P-near", "P-far"]},
                             geometry=gpd.points_from_xy([near[0], far[0]], [near[1], far[1]]),
                             crs=4490)
    blon, blat = _TO_DEG.transform(E0 + 3100, N0 + 3050)  # centre of B
    want_b = min(GEOD.inv(blon, blat, x, y)[2] for x, y in (near, far))

    m = balance_metrics(g, None, posts, 4).set_index("code")

    assert m.loc["A", "nearest_post"] == "P-near"
    assert m.loc["A", "dist_to_post_m"] == pytest.approx(2_500.0, rel=0.005)
    assert m.loc["B", "nearest_post"] == "P-near"
    assert m.loc["B", "dist_to_post_m"] == pytest.approx(want_b, rel=0.005)


def test_a_crescent_is_measured_from_a_point_inside_it() -> None:
    crescent = box(0, 0, 1000, 1000).difference(box(100, 100, 1000, 900))  # C shape
    g = grids([{"code": "C", "geom": crescent}])
    lon, lat = _TO_DEG.transform(E0 + 550, N0 + 500)  # the centroid's side, outside the C
    post = gpd.GeoDataFrame({"code": ["P"]}, geometry=gpd.points_from_xy([lon], [lat]),
                            crs=4490)

    m = balance_metrics(g, None, post, 1)

    assert m.loc[0, "dist_to_post_m"] >= 450.0 - 1.0  # from inside the C, not from its centroid


def test_no_posts_gives_empty_distances() -> None:
    m = balance_metrics(one_group(), None, None, 4)

    assert m.loc[0, "nearest_post"] is None and np.isnan(m.loc[0, "dist_to_post_m"])


# --- incidents per week ---------------------------------------------------------------------

def test_incidents_per_week_is_count_over_weeks() -> None:
    g = grids([{"code": "A", "geom": box(0, 0, 100, 100)},
               {"code": "B", "geom": box(100, 0, 200, 100)}])
    counts = pd.DataFrame({"code": ["A", "Z"], "n": [12, 5]})  # Z: not a grid here

    m = balance_metrics(g, counts, None, 4).set_index("code")
    none = balance_metrics(g, None, None, 4)

    assert m.loc["A", "incidents"] == 12 and m.loc["A", "incidents_per_week"] == 3.0
    assert m.loc["B", "incidents"] == 0 and m.loc["B", "incidents_per_week"] == 0.0
    assert none["incidents_per_week"].isna().all()


@pytest.mark.parametrize("weeks", [0, -1, 1.5, True])
def test_weeks_must_be_a_positive_whole_number(weeks: object) -> None:
    with pytest.raises(AnalysisError, match="weeks"):
        balance_metrics(one_group(), None, None, weeks)  # type: ignore[arg-type]


def test_projected_grids_are_refused() -> None:
    with pytest.raises(CrsError, match="EPSG:4490"):
        balance_metrics(one_group().to_crs(32647), None, None, 4)


# --- residents per grid worker ---------------------------------------------------------------

def test_residents_per_worker_counts_named_workers_defaults_and_overrides() -> None:
    g = grids([
        {"code": "V1", "level": 1, "population": 1800, "worker": None,
         "geom": box(0, 0, 200, 100)},
        {"code": "G1", "level": 2, "parent_code": "V1", "population": 900, "worker": None,
         "geom": box(0, 0, 100, 100)},
        {"code": "G2", "level": 2, "parent_code": "V1", "population": 900,
         "worker": "张三、李四", "geom": box(100, 0, 200, 100)},
        {"code": "V2", "level": 1, "population": 500, "worker": "王五",
         "geom": box(0, 100, 100, 200)},
    ])

    m = balance_metrics(g, None, None, 4).set_index("code")
    o = balance_metrics(g, None, None, 4, workers={"G1": 3, "V2": 4}).set_index("code")

    assert m.loc["G1", "workers"] == 1 and m.loc["G1", "residents_per_worker"] == 900
    assert m.loc["G2", "workers"] == 2 and m.loc["G2", "residents_per_worker"] == 450
    assert m.loc["V1", "workers"] == 3 and m.loc["V1", "residents_per_worker"] == 600
    assert m.loc["V2", "workers"] == 1 and m.loc["V2", "residents_per_worker"] == 500
    assert o.loc["G1", "residents_per_worker"] == 300
    assert o.loc["V1", "workers"] == 5  # its groups' overridden 3 + named 2
    assert o.loc["V2", "residents_per_worker"] == 125


def test_residents_per_worker_target_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "RESIDENTS_PER_WORKER_TARGET", 1000)
    g = grids([{"code": c, "level": 2, "parent_code": "V", "population": p, "households": 200,
                "geom": box(100 * i, 0, 100 * i + 100, 100)}
               for i, (c, p) in enumerate([("AT", 1000), ("OVER", 1001)])])

    m = balance_metrics(g, None, None, 4).set_index("code")

    assert not m.loc["AT", "too_large"] and m.loc["AT", "reason"] == ""
    assert m.loc["OVER", "too_large"]
    assert m.loc["OVER", "reason"] == "1,001 residents per grid worker > target 1,000"


# --- flags ------------------------------------------------------------------------------------

def test_household_flags_at_the_bounds_are_inclusive() -> None:
    assert settings.GROUP_HOUSEHOLDS_RANGE == (100, 300)
    hh = {"H99": 99, "H100": 100, "H300": 300, "H301": 301, "HNONE": None}
    g = grids([{"code": c, "level": 2, "parent_code": "V", "households": h,
                "geom": box(100 * i, 0, 100 * i + 100, 100)} for i, (c, h) in enumerate(hh.items())])

    m = balance_metrics(g, None, None, 4).set_index("code")

    assert m["too_small"].to_dict() == {"H99": True, "H100": False, "H300": False,
                                        "H301": False, "HNONE": False}
    assert m["too_large"].to_dict() == {"H99": False, "H100": False, "H300": False,
                                        "H301": True, "HNONE": False}
    assert m.loc["H99", "reason"] == "households 99 < 100 (min for group grids)"
    assert m.loc["H301", "reason"] == "households 301 > 300 (max for group grids)"
    assert m.loc["H100", "reason"] == "" and m.loc["HNONE", "reason"] == ""
    assert pd.isna(m.loc["HNONE", "households"])


def test_village_bounds_apply_to_villages() -> None:
    lo, hi = settings.VILLAGE_HOUSEHOLDS_RANGE
    g = grids([{"code": "VBIG", "level": 1, "households": hi + 1, "geom": box(0, 0, 100, 100)},
               {"code": "VOK", "level": 1, "households": hi, "geom": box(100, 0, 200, 100)},
               {"code": "VLOW", "level": 1, "households": lo - 1, "geom": box(200, 0, 300, 100)}])

    m = balance_metrics(g, None, None, 4).set_index("code")

    assert m["too_large"].to_dict() == {"VBIG": True, "VOK": False, "VLOW": False}
    assert m["too_small"].to_dict() == {"VBIG": False, "VOK": False, "VLOW": True}
    assert "village grids" in m.loc["VBIG", "reason"]


def test_area_flags_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    g = grids([{"code": "SMALL", "level": 2, "households": 200, "geom": box(0, 0, 100, 100)},
               {"code": "BIG", "level": 2, "households": 20, "geom": box(0, 100, 2000, 2100)}])
    off = balance_metrics(g, None, None, 4).set_index("code")
    monkeypatch.setattr(settings, "GROUP_AREA_KM2_RANGE", (0.02, 3.0))

    m = balance_metrics(g, None, None, 4).set_index("code")

    assert not off.loc["SMALL", "too_small"]
    assert m.loc["SMALL", "too_small"] and not m.loc["SMALL", "too_large"]
    assert m.loc["SMALL", "reason"] == "area 0.010 km² < 0.02 km² (min for group grids)"
    assert m.loc["BIG", "too_large"] and m.loc["BIG", "too_small"]  # huge, yet few households
    assert m.loc["BIG", "reason"] == ("households 20 < 100 (min for group grids); "
                                      "area 4.000 km² > 3 km² (max for group grids)")


def test_bounds_per_county(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "GRID_BOUNDS_BY_ADCODE",
                        {"990901": {"group_households": (50, 80), "village_households": None}})
    g = one_group(households=81)

    here = balance_metrics(g, None, None, 4, adcode="990901")
    elsewhere = balance_metrics(g, None, None, 4, adcode="990902")
    explicit = balance_metrics(g, None, None, 4, bounds={2: Bounds(households=(None, 10))})

    assert here.loc[0, "too_large"] and "> 80" in here.loc[0, "reason"]
    assert not elsewhere.loc[0, "too_large"]
    assert explicit.loc[0, "too_large"] and not explicit.loc[0, "too_small"]
    assert bounds_for(1, "990901").households is None
    assert bounds_for(2, "990901") == Bounds(households=(50.0, 80.0))


@pytest.mark.parametrize("override, match", [({"group_houses": (1, 2)}, "unknown key"),
                                             ({"group_households": (300, 100)}, "above max"),
                                             ({"group_households": 5}, "min, max")])
def test_bad_county_bounds_are_a_config_error(monkeypatch: pytest.MonkeyPatch, override: dict,
                                              match: str) -> None:
    monkeypatch.setattr(settings, "GRID_BOUNDS_BY_ADCODE", {"990901": override})

    with pytest.raises(ConfigError, match=match):
        bounds_for(2, "990901")


# --- village spread ------------------------------------------------------------------------------

def test_village_spread_of_its_groups() -> None:
    rows = [{"code": "V1", "level": 1, "name": "东村", "households": 600,
             "geom": box(0, 0, 300, 100)},
            {"code": "V2", "level": 1, "name": "西村", "households": 0,
             "geom": box(0, 100, 300, 200)}]
    for i, (hh, pop) in enumerate([(100, 300), (200, 600), (301, 1200)]):
        rows.append({"code": f"V1-{i}", "level": 2, "parent_code": "V1", "households": hh,
                     "population": pop, "geom": box(100 * i, 0, 100 * i + 100, 100)})
    m = balance_metrics(grids(rows), None, None, 4)

    s = village_spread(m).set_index("village_code")

    assert list(village_spread(m).columns) == SPREAD_COLUMNS
    v1 = s.loc["V1"]
    assert v1["village_name"] == "东村" and v1["groups"] == 3
    assert (v1["households_min"], v1["households_max"]) == (100, 301)
    assert v1["households_mean"] == pytest.approx(601 / 3)
    hh = np.array([100, 200, 301])
    assert v1["households_cv"] == pytest.approx(hh.std() / hh.mean())  # ddof = 0
    assert v1["population_cv"] == pytest.approx(np.std([300, 600, 1200]) / 700)
    assert (v1["groups_too_large"], v1["groups_too_small"]) == (1, 0)
    assert s.loc["V2", "groups"] == 0 and np.isnan(s.loc["V2", "households_cv"])


# --- the report on the demo database ----------------------------------------------------------

def test_report_on_the_demo_matches_independent_checks(demo_engine) -> None:
    with demo_engine.connect() as conn:
        vid = versions.in_force(conn)
        groups = read_grids(conn, vid, level=2)
        last = conn.execute(sa.text("select max(occurred_at) from incident")).scalar()
        until = last + timedelta(seconds=1)
        since = until - timedelta(weeks=4)
        n_inc = conn.execute(sa.text(
            "select count(*) from incident where group_code is not null "
            "and occurred_at >= :s and occurred_at < :u"), {"s": since, "u": until}).scalar()
        posts = conn.execute(sa.text("select code, st_x(geom), st_y(geom) from police_post"
                                     )).all()

        df, villages = report_for_version(conn, weeks=4, until=until)
        vdf, _ = report_for_version(conn, weeks=4, until=until, level=1)

    assert len(df) == len(groups) and (df["level"] == 2).all()
    assert df.attrs["version_id"] == vid and df.attrs["weeks"] == 4
    assert n_inc > 0 and df["incidents"].sum() == n_inc
    assert df["incidents_per_week"].to_numpy() == pytest.approx(df["incidents"] / 4)
    hh = groups.set_index("code")["households"].reindex(df["code"]).to_numpy(float)
    assert (df["too_large"].to_numpy() == (hh > 300)).all()
    assert (df["too_small"].to_numpy() == (hh < 100)).all()
    assert (df["area_km2"] * 1e6).to_numpy() == pytest.approx(
        groups.set_index("code")["area_m2"].reindex(df["code"]).to_numpy(float), rel=1e-6)
    # distance: geodesic from the grid's centroid to every post, for a sample of grids
    for i in range(0, len(df), max(1, len(df) // 25)):
        c = groups.set_index("code").geometry[df.loc[i, "code"]].centroid
        want = min(GEOD.inv(c.x, c.y, x, y)[2] for _, x, y in posts)
        assert df.loc[i, "dist_to_post_m"] == pytest.approx(want, rel=0.005, abs=5.0)
    assert len(vdf) == len(villages) and vdf["groups"].sum() == len(groups)
    assert (vdf["workers"] == vdf["groups"]).all()  # one worker per group by default
