"""The synthetic demo county: counts, exact tiling and nesting, codes, reproducibility,
boundary conversion, forces' designed gaps, incidents, and the GPKG / CSV round trip."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import shapely

from data.boundary import Projector, load_county_boundary, load_raw_boundary, metric_crs
from data.demo import DemoCounty, build_demo, read_demo, write_demo
from data.incidents import TZ, WEEKS, resolve_end
from gis import settings
from tests.util import assert_coverage_exact

END = datetime(2026, 11, 25, 12, 0, tzinfo=TZ)
N_INCIDENTS = 5_000


@pytest.fixture(scope="session")
def built() -> DemoCounty:
    """The demo county with 5,000 incidents, built once (not read from any cache)."""
    return build_demo(n_incidents=N_INCIDENTS, end=END)


@pytest.fixture(scope="session")
def projector(built: DemoCounty) -> Projector:
    return Projector(metric_crs(built.county.geometry.iloc[0]))


def _metric(projector: Projector, gdf) -> np.ndarray:  # noqa: ANN001
    return projector.to_metric(np.asarray(gdf.geometry.values))


# --- counts and shapes -----------------------------------------------------------------------

def test_counts_in_target_ranges(built: DemoCounty) -> None:
    assert len(built.county) == 1
    assert built.county["adcode"].iloc[0] == settings.DEMO_ADCODE
    assert built.county["name"].iloc[0] == "甘州区"
    assert len(built.townships) == 18
    assert 230 <= len(built.villages) <= 270
    assert 2_300 <= len(built.groups) <= 2_700
    assert 20 <= len(built.posts) <= 30
    assert 100 <= len(built.officers) <= 140
    assert 2_700 <= len(built.cameras) <= 3_300
    assert len(built.incidents) == N_INCIDENTS
    assert set(built.townships["name"]) >= {"党寨镇", "梁家墩镇", "平山湖蒙古族乡", "龙渠乡"}


@pytest.mark.parametrize("level", ["county", "townships", "villages", "groups"])
def test_crs_and_single_part_multipolygons(built: DemoCounty, level: str) -> None:
    gdf = getattr(built, level)
    assert gdf.crs.to_epsg() == 4490
    geoms = np.asarray(gdf.geometry.values)
    assert (shapely.get_type_id(geoms) == 6).all(), "all polygons are MultiPolygons"
    assert shapely.is_valid(geoms).all()
    county_parts = shapely.get_num_geometries(built.county.geometry.iloc[0])
    if county_parts == 1:
        assert (shapely.get_num_geometries(geoms) == 1).all(), "every region is connected"


# --- exact tiling and nesting -----------------------------------------------------------------

@pytest.mark.parametrize("level", ["townships", "villages", "groups"])
def test_level_tiles_the_county(built: DemoCounty, level: str) -> None:
    geoms = np.asarray(getattr(built, level).geometry.values)
    assert_coverage_exact(geoms, built.county.geometry.iloc[0], rel=1e-6)


@pytest.mark.parametrize(("child", "parent"), [("groups", "villages"), ("villages", "townships")])
def test_children_union_exactly_to_parent(built: DemoCounty, projector: Projector, child: str,
                                          parent: str) -> None:
    kids, parents = getattr(built, child), getattr(built, parent)
    key = "parent_code" if child == "groups" else "township_code"
    assert set(kids[key]) == set(parents["code"]), "every parent has children"
    by_code = dict(zip(parents["code"], _metric(projector, parents), strict=True))
    kid_m = _metric(projector, kids)
    for code, idx in kids.groupby(key).indices.items():
        whole = by_code[code]
        union = shapely.coverage_union_all(kid_m[idx])
        assert shapely.area(shapely.symmetric_difference(union, whole)) < 1e-6 * whole.area
    # every child lies inside its parent (exact predicate on identical shared vertices)
    par = np.asarray(parents.set_index("code").loc[kids[key]].geometry.values)
    assert shapely.covered_by(np.asarray(kids.geometry.values), par).all()


def test_aggregates_add_up(built: DemoCounty) -> None:
    g = built.groups.groupby("parent_code")[["population", "households"]].sum()
    v = built.villages.set_index("code")[["population", "households"]]
    pd.testing.assert_frame_equal(g.sort_index(), v.sort_index(), check_names=False)
    t = built.villages.groupby("township_code")[["population", "households"]].sum()
    pd.testing.assert_frame_equal(
        t.sort_index(), built.townships.set_index("code")[["population", "households"]]
        .sort_index(), check_names=False)


def test_households_mostly_in_range_with_outliers(built: DemoCounty) -> None:
    hh = built.groups["households"].to_numpy()
    lo, hi = settings.GROUP_HOUSEHOLDS_RANGE
    inside = (hh >= lo) & (hh <= hi)
    assert inside.mean() >= 0.75
    assert (hh < lo).sum() >= 10 and (hh > hi).sum() >= 10, "too_small and too_large cases"
    ratio = built.groups["population"] / built.groups["households"]
    assert ratio.between(2.55, 3.45).all()


def test_density_pattern(built: DemoCounty, projector: Projector) -> None:
    """Groups are small near Zhangye city and large in the northern desert."""
    g = built.groups
    area = shapely.area(_metric(projector, g))
    cx, cy = projector.xy_to_metric(100.45, 38.93)
    c = shapely.centroid(_metric(projector, g))
    r = np.hypot(shapely.get_x(c) - cx, shapely.get_y(c) - cy)
    assert np.median(area[r < 8_000]) * 5 < np.median(area[r > 30_000])
    pshm = g["township_code"] == built.townships.set_index("name").loc["平山湖蒙古族乡", "code"]
    dens = g["population"] / area
    assert dens[pshm].median() * 5 < dens[~pshm].median()


# --- codes and names --------------------------------------------------------------------------

def test_codes_unique_and_well_formed(built: DemoCounty) -> None:
    ad = settings.DEMO_ADCODE
    for gdf, n in ((built.townships, 9), (built.villages, 12), (built.groups, 15)):
        codes = gdf["code"]
        assert codes.is_unique
        assert codes.map(lambda c, n=n: bool(re.fullmatch(rf"{ad}\d{{{n - 6}}}", c))).all()
    assert (built.villages["code"].str[:9] == built.villages["parent_code"]).all()
    assert (built.groups["code"].str[:12] == built.groups["parent_code"]).all()
    assert (built.groups["code"].str[:9] == built.groups["township_code"]).all()
    assert built.villages["name"].is_unique
    assert built.villages["name"].str.fullmatch(r"..村").all()
    assert built.groups["name"].str.fullmatch(r"[一二三四五六七八九十]+[社组]").all()
    assert not built.groups.duplicated(["parent_code", "name"]).any()
    for df in (built.posts, built.officers, built.militia, built.cameras):
        assert df["code"].is_unique


# --- reproducibility --------------------------------------------------------------------------

def test_same_seed_same_output_other_seed_differs(built: DemoCounty) -> None:
    again = build_demo(n_incidents=N_INCIDENTS, end=END)
    assert (shapely.to_wkb(np.asarray(again.groups.geometry.values))
            == shapely.to_wkb(np.asarray(built.groups.geometry.values))).all()
    pd.testing.assert_frame_equal(again.incidents, built.incidents)
    pd.testing.assert_frame_equal(again.officer_villages, built.officer_villages)
    other = build_demo(seed=settings.DEMO_SEED + 1, n_incidents=500, end=END)
    assert len(other.groups) != len(built.groups) or not (
        shapely.to_wkb(np.asarray(other.groups.geometry.values))
        == shapely.to_wkb(np.asarray(built.groups.geometry.values))).all()
    assert not np.allclose(other.incidents["lon"].to_numpy()[:500],
                           built.incidents["lon"].to_numpy()[:500])


# --- boundary ---------------------------------------------------------------------------------

def test_boundary_is_converted_from_gcj02() -> None:
    raw = load_raw_boundary(settings.DEMO_ADCODE)
    conv = load_county_boundary(settings.DEMO_ADCODE)
    assert conv.is_valid and conv.geom_type == "MultiPolygon"
    proj = Projector(metric_crs(conv))
    (rx, cx), (ry, cy) = proj.xy_to_metric([raw.centroid.x, conv.centroid.x],
                                           [raw.centroid.y, conv.centroid.y])
    dx, dy = cx - rx, cy - ry
    # GCJ-02 shifts this area about 130 m east and 60 m north: WGS84 lies west and south
    assert 80 < np.hypot(dx, dy) < 400
    assert dx < -50 and dy < -20
    # the offset varies smoothly across the county: the area changes only a little
    assert abs(proj.to_metric(conv).area / proj.to_metric(raw).area - 1) < 2e-3


# --- forces -----------------------------------------------------------------------------------

def test_posts_and_cameras_inside_the_county(built: DemoCounty) -> None:
    county = built.county.geometry.iloc[0]
    for gdf in (built.posts, built.cameras):
        assert gdf.crs.to_epsg() == 4490
        assert shapely.contains_xy(county, gdf.geometry.x, gdf.geometry.y).all()
    assert set(built.posts["township_code"]) == set(built.townships["code"])
    cam = built.cameras
    assert cam["radius_m"].between(30, 80).all()
    assert cam["direction_deg"].between(0, 360).all()
    assert cam["angle_deg"].between(1, 360).all()


def test_officer_and_militia_gaps_as_designed(built: DemoCounty) -> None:
    ov = built.officer_villages
    assert set(ov["officer_code"]) == set(built.officers["code"])
    assert ov["village_code"].is_unique, "one officer per village"
    per_officer = ov.groupby("officer_code").size()
    assert per_officer.between(1, 4).all()
    assert set(built.officers["post_code"]) <= set(built.posts["code"])
    uncovered = set(built.villages["code"]) - set(ov["village_code"])
    assert 1 <= len(uncovered) <= 0.06 * len(built.villages)
    m = built.militia
    assert m["village_code"].is_unique
    assert set(m["village_code"]) <= set(built.villages["code"])
    missing = len(built.villages) - len(m)
    assert 1 <= missing <= 0.05 * len(built.villages)
    assert m["strength"].between(30, 120).all()
    assert m["commander"].notna().all()


def test_frames_fit_the_store_writers(built: DemoCounty) -> None:
    """Columns that gis.forces.save_forces and the loader read are present."""
    assert {"code", "name", "township_code", "geometry"} <= set(built.posts.columns)
    assert {"code", "name", "post_code"} <= set(built.officers.columns)
    assert {"officer_code", "village_code"} <= set(built.officer_villages.columns)
    assert {"code", "village_code", "name", "commander", "strength"} <= set(built.militia.columns)
    assert {"code", "radius_m", "direction_deg", "angle_deg"} <= set(built.cameras.columns)
    assert len(built.posts["code"].iloc[0]) <= 20 and len(built.cameras["code"].iloc[0]) <= 24


# --- incidents --------------------------------------------------------------------------------

def test_incidents_inside_county_and_period(built: DemoCounty) -> None:
    inc = built.incidents
    county = built.county.geometry.iloc[0]
    assert shapely.contains_xy(county, inc["lon"].to_numpy(), inc["lat"].to_numpy()).all()
    assert str(inc["occurred_at"].dt.tz) == "Asia/Shanghai"
    assert inc["occurred_at"].min() >= END - timedelta(weeks=WEEKS)
    assert inc["occurred_at"].max() < END
    assert inc["occurred_at"].is_monotonic_increasing
    assert (inc["reported_at"] >= inc["occurred_at"]).all()
    assert set(inc["kind"]) <= set(settings.INCIDENT_KINDS)
    assert inc["source_id"].is_unique and (inc["source"] == "demo").all()
    assert inc["description"].notna().all() and inc["reporter"].notna().all()


def test_incident_mix_and_patterns(built: DemoCounty) -> None:
    inc = built.incidents
    share = inc["kind"].value_counts(normalize=True)
    assert share["dispute"] > 5 * share["criminal"]
    assert share["citizen_request"] > 5 * share["criminal"]
    addr = inc["address"].dropna()
    assert len(addr) > 0.95 * len(inc)
    full = addr.str.fullmatch(r"甘州区\S+?[镇乡]\S+?村[一二三四五六七八九十]+[社组]")
    assert full.mean() > 0.85
    hours = inc["occurred_at"].dt.hour
    assert (hours.between(9, 11)).mean() > 2 * (hours.between(3, 5)).mean()
    # hotspots: some appear only in later weeks, so week-over-week hotspots change
    hs = built.hotspots
    assert len(hs) >= 15 and (hs["first_week"] > 0).any() and (hs["last_week"] < WEEKS - 1).any()
    week = ((inc["occurred_at"] - (END - timedelta(weeks=WEEKS))) // timedelta(weeks=1))
    late = hs.index[hs["first_week"] >= WEEKS // 2]
    early = inc[inc["hotspot"].isin(late) & (week < WEEKS // 2 - 1)]
    assert len(early) == 0


def test_default_end_is_now_floored_to_minute() -> None:
    end = resolve_end(None)
    now = datetime.now(TZ)
    assert end.tzinfo is not None and end.utcoffset() == timedelta(hours=8)
    assert end.second == 0 and end.microsecond == 0
    assert timedelta(0) <= now - end < timedelta(minutes=2)
    naive = resolve_end(datetime(2026, 1, 2, 3, 4, 59))
    assert naive == datetime(2026, 1, 2, 3, 4, tzinfo=TZ)


# --- files ------------------------------------------------------------------------------------

def test_write_read_round_trip(built: DemoCounty, tmp_path) -> None:  # noqa: ANN001
    write_demo(built, tmp_path / "demo")
    back = read_demo(tmp_path / "demo")
    for name in ("county", "townships", "villages", "groups", "posts", "cameras", "officers",
                 "officer_villages", "militia", "incidents", "hotspots"):
        a, b = getattr(built, name), getattr(back, name)
        assert a.equals(b), name
    assert back.meta == built.meta
    assert {p.name for p in (tmp_path / "demo").iterdir()} >= {"demo.gpkg", "incidents.csv",
                                                               "meta.json"}
