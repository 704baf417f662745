"""一村一警一连: hand-built assignments give the exact lists; CSV import of assignments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
import sqlalchemy as sa

from gis import settings
from gis._errors import AnalysisError, FeatureRejected, InputFileError
from gis.coverage import (
    coverage_for_county,
    force_coverage,
    import_assignments,
    officer_load,
    rejects_path_for,
    township_summary,
)
from gis.territory import save_units

GEOD = pyproj.Geod(ellps="WGS84")
POST = (100.45, 38.93)  # in the demo county
TEST_ADCODE = "990101"  # a county of the tests only, in the shared empty database


def at(dist_m: float, az: float = 45.0, origin: tuple[float, float] = POST
       ) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], az, dist_m)
    return float(lon), float(lat)


def square(lon: float, lat: float, half_deg: float = 0.0005) -> shapely.Polygon:
    """A small square centred on (lon, lat): its representative point is the centre."""
    return shapely.box(lon - half_deg, lat - half_deg, lon + half_deg, lat + half_deg)


# village code → (distance of its centre from the post, azimuth, township)
LAYOUT = {
    "V01": (4_900, 0, "T1"), "V02": (5_100, 30, "T1"), "V03": (9_900, 60, "T1"),
    "V04": (10_100, 90, "T1"), "V05": (1_000, 120, "T1"), "V06": (1_000, 150, "T1"),
    "V07": (1_500, 180, "T2"), "V08": (1_500, 210, "T2"), "V09": (1_500, 240, "T2"),
    "V10": (1_500, 270, "T2"), "V11": (2_000, 300, "T2"), "V12": (12_000, 330, "T2"),
}


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    codes = list(LAYOUT)
    pts = [at(d, az) for d, az, _ in LAYOUT.values()]
    villages = gpd.GeoDataFrame({"code": codes, "name": [f"{c}村" for c in codes],
                                 "township_code": [t for _, _, t in LAYOUT.values()],
                                 "population": 1000},
                                geometry=[square(*p) for p in pts], crs="EPSG:4490")
    far_post = at(11_900, 330)  # 100 m from V12's centre
    posts = gpd.GeoDataFrame({"code": ["P0", "P1"], "name": ["城关派出所", "北山警务室"]},
                             geometry=[shapely.Point(POST), shapely.Point(far_post)],
                             crs="EPSG:4490")
    officers = pd.DataFrame({
        "code": ["O1", "O2", "O3", "O4", "O5", "O6"],
        "name": ["张三", "李四", "王五", "赵六", "钱七", "孙八"],
        "post_code": ["P0", "P0", "P0", "P0", None, "P1"]})
    ov = pd.DataFrame([("O1", "V01"), ("O2", "V02"), ("O2", "V03"), ("O3", "V04"),
                       ("O1", "V06"), ("O4", "V07"), ("O4", "V08"), ("O4", "V09"),
                       ("O4", "V10"), ("O5", "V11"), ("O3", "V12"), ("O6", "V12")],
                      columns=["officer_code", "village_code"])
    with_company = [c for c in codes if c != "V06"]
    militia = pd.DataFrame({"code": [f"{c}MB" for c in with_company] + ["V12MB2"],
                            "village_code": with_company + ["V12"],
                            "name": [f"{c}民兵连" for c in with_company] + ["V12二连"],
                            "commander": "连长", "strength": 40})
    return {"villages": villages, "posts": posts, "officers": officers, "ov": ov,
            "militia": militia}


@pytest.fixture(scope="module")
def table(world: dict) -> pd.DataFrame:
    return force_coverage(world["villages"], world["posts"], world["officers"], world["ov"],
                          world["militia"], max_villages=3)


def codes_where(t: pd.DataFrame, col: str) -> list[str]:
    return sorted(t.loc[t[col].astype(bool), "code"])


def test_exact_lists(table: pd.DataFrame) -> None:
    assert len(table) == len(LAYOUT)
    assert codes_where(table, "no_officer") == ["V05"]
    assert codes_where(table, "no_militia") == ["V06"]
    assert codes_where(table, "officer_overloaded") == ["V07", "V08", "V09", "V10"]
    assert codes_where(table, "post_missing") == ["V11"]
    assert codes_where(table, "post_far_5km") == ["V02", "V03", "V04"]
    assert codes_where(table, "post_far_10km") == ["V04"]


def test_distances_are_geodesic_from_the_populated_centre(table: pd.DataFrame) -> None:
    t = table.set_index("code")
    for code, (d, _, _) in LAYOUT.items():
        if code in ("V05", "V11", "V12"):
            continue
        assert t.loc[code, "post_distance_m"] == pytest.approx(d, abs=1.0), code
    assert np.isnan(t.loc["V05", "post_distance_m"]) and np.isnan(t.loc["V11", "post_distance_m"])
    assert t.loc["V01", "post_code"] == "P0" and t.loc["V01", "post_name"] == "城关派出所"


def test_village_with_two_officers_is_served_by_the_nearest_post(table: pd.DataFrame) -> None:
    v12 = table.set_index("code").loc["V12"]
    assert v12["n_officers"] == 2
    assert v12["officer_code"] == "O6,O3" and v12["officer_name"] == "孙八、王五"
    assert v12["post_code"] == "P1" and v12["post_distance_m"] == pytest.approx(100, abs=1)
    assert not v12["post_far_5km"] and v12["status"] == "ok"
    assert v12["n_militia"] == 2 and v12["strength"] == 80
    assert v12["militia_name"] == "V12民兵连、V12二连"


def test_problem_and_status(table: pd.DataFrame) -> None:
    p = dict(zip(table["code"], table["problem"], strict=True))
    assert p == {"V01": "ok", "V02": "ok", "V03": "ok", "V04": "post_far", "V05": "no_officer",
                 "V06": "no_militia", "V07": "officer_overloaded",
                 "V08": "officer_overloaded", "V09": "officer_overloaded",
                 "V10": "officer_overloaded", "V11": "post_missing", "V12": "ok"}
    assert (table["status"] == np.where(table["problem"] == "ok", "ok", "gap")).all()


def test_officer_load_and_overloaded_officers(world: dict, table: pd.DataFrame) -> None:
    load = officer_load(world["officers"], world["ov"], max_villages=3)
    assert load.loc[load["overloaded"], "code"].tolist() == ["O4"]
    assert dict(zip(load["code"], load["n_villages"], strict=True)) == {
        "O1": 2, "O2": 2, "O3": 2, "O4": 4, "O5": 1, "O6": 1}
    assert load.set_index("code").loc["O4", "villages"] == "V07,V08,V09,V10"
    # raising the ceiling clears the flag
    assert not officer_load(world["officers"], world["ov"], max_villages=4)["overloaded"].any()
    t = table.set_index("code")
    assert t.loc["V07", "overloaded_officer_code"] == "O4" and t.loc["V07", "officer_villages"] == 4


def test_configurable_gap_flags_and_ceiling(world: dict) -> None:
    strict = force_coverage(world["villages"], world["posts"], world["officers"], world["ov"],
                            world["militia"], max_villages=4,
                            gap_flags=("no_officer", "post_far_5km"))
    p = dict(zip(strict["code"], strict["problem"], strict=True))
    assert sorted(c for c, v in p.items() if v != "ok") == ["V02", "V03", "V04", "V05"]
    assert not strict["officer_overloaded"].any()
    with pytest.raises(AnalysisError, match="unknown gap flag"):
        force_coverage(world["villages"], world["posts"], world["officers"], world["ov"],
                       world["militia"], gap_flags=("no_such_flag",))


def test_settings_default_ceiling(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "OFFICER_MAX_VILLAGES", 1)
    t = force_coverage(world["villages"], world["posts"], world["officers"], world["ov"],
                       world["militia"])
    assert codes_where(t, "officer_overloaded") == ["V01", "V02", "V03", "V04", "V06", "V07",
                                                    "V08", "V09", "V10", "V12"]


def test_township_summary(table: pd.DataFrame) -> None:
    s = township_summary(table, {"T1": "一镇", "T2": "二镇"}).set_index("township_code")
    assert s.loc["T1", "township"] == "一镇"
    assert s.loc["T1"][["villages", "with_officer", "with_militia", "post_far_5km",
                        "post_far_10km", "overloaded_officers", "ok"]].tolist() == \
        [6, 5, 5, 3, 1, 0, 3]
    assert s.loc["T2"][["villages", "with_officer", "with_militia", "officers",
                        "overloaded_officers", "post_missing", "ok"]].tolist() == \
        [6, 6, 6, 4, 1, 1, 1]
    assert s.loc["T1", "share_ok"] == pytest.approx(0.5)
    assert s.loc["T2", "share_ok"] == pytest.approx(1 / 6, abs=1e-4)


def test_missing_column_is_reported(world: dict) -> None:
    with pytest.raises(AnalysisError, match="post_code"):
        force_coverage(world["villages"], world["posts"], world["officers"][["code", "name"]],
                       world["ov"], world["militia"])


# --- the demo database ---------------------------------------------------------------------

def test_demo_has_one_row_per_village_and_the_designed_gaps(demo, demo_engine) -> None:
    with demo_engine.connect() as conn:
        cov = coverage_for_county(conn)
    v = cov.villages
    assert len(v) == len(demo.villages) and v["code"].is_unique
    assert set(v["code"]) == set(demo.villages["code"])
    lacking_officer = set(demo.villages["code"]) - set(demo.officer_villages["village_code"])
    lacking_company = set(demo.villages["code"]) - set(demo.militia["village_code"])
    assert lacking_officer and lacking_company
    assert int(v["no_officer"].sum()) == len(lacking_officer) == round(0.03 * len(demo.villages))
    assert set(v.loc[v["no_officer"], "code"]) == lacking_officer
    assert set(v.loc[v["no_militia"], "code"]) == lacking_company
    n_over = (demo.officer_villages.groupby("officer_code").size()
              > settings.OFFICER_MAX_VILLAGES).sum()
    assert int(cov.officers["overloaded"].sum()) == n_over
    assert cov.townships["villages"].sum() == len(demo.villages)
    assert cov.townships["township"].notna().all()
    assert (v["post_far_10km"] <= v["post_far_5km"]).all()
    assert cov.posts["n_officers"].sum() == len(demo.officers)


# --- import of assignments ---------------------------------------------------------------

VILLAGES = [f"{TEST_ADCODE}00100{i}" for i in range(1, 5)]  # 12-digit village codes
POSTS = [f"{TEST_ADCODE}PS001", f"{TEST_ADCODE}PS002"]


def make_county(conn: sa.Connection, adcode: str = TEST_ADCODE) -> None:
    """Four villages (territory units) and two posts of a test county; no assignments."""
    for table in ("officer_village", "police_officer", "militia_company", "police_post"):
        conn.execute(sa.text(f"delete from {table} where adcode = :a"), {"a": adcode})
    vs = [f"{adcode}00100{i}" for i in range(1, 5)]
    save_units(conn, adcode, "village", gpd.GeoDataFrame(
        {"code": vs, "name": [f"{i}村" for i in range(1, 5)], "parent_code": f"{adcode}001"},
        geometry=[square(*at(1000 * i)) for i in range(1, 5)], crs="EPSG:4490"))
    for i, code in enumerate((f"{adcode}PS001", f"{adcode}PS002")):
        conn.execute(sa.text(
            "insert into police_post (code, adcode, name, geom) values "
            "(:c, :a, :n, st_setsrid(st_makepoint(:x, :y), 4490))"),
            {"c": code, "a": adcode, "n": f"派出所{i}", "x": POST[0] + i / 100, "y": POST[1]})


def drop_county(conn: sa.Connection, adcode: str = TEST_ADCODE) -> None:
    for table in ("officer_village", "police_officer", "militia_company", "police_post",
                  "territory_unit"):
        conn.execute(sa.text(f"delete from {table} where adcode = :a"), {"a": adcode})


def state(conn: sa.Connection, adcode: str = TEST_ADCODE) -> dict[str, list[tuple]]:
    q = {"officers": "select code, name, post_code from police_officer where adcode = :a",
         "assignments": "select officer_code, village_code from officer_village where adcode = :a",
         "militia": "select code, village_code, name, commander, strength from militia_company "
                    "where adcode = :a"}
    return {k: sorted(tuple(r) for r in conn.execute(sa.text(s), {"a": adcode}).all())
            for k, s in q.items()}


def good_rows() -> list[dict[str, object]]:
    """Village 1: officer X001 at post 1, company M1; village 2: X001 again, a company named
    only (code defaults to <village>MB); village 3: two officers, no company."""
    v, p = VILLAGES, POSTS
    blank = {"officer_name": "", "post_code": "", "militia_code": "", "militia_name": "",
             "commander": "", "strength": ""}
    return [
        {"village_code": v[0], "officer_code": "X001", "officer_name": "张三", "post_code": p[0],
         "militia_code": "M1", "militia_name": "一村民兵连", "commander": "甲", "strength": 40},
        {**blank, "village_code": v[1], "officer_code": "X001", "militia_name": "二村民兵连",
         "commander": "乙", "strength": "35"},
        {**blank, "village_code": v[2], "officer_code": "X002", "officer_name": "李四",
         "post_code": p[1]},
        {**blank, "village_code": v[2], "officer_code": "X001", "officer_name": "张三"},
    ]


def write_csv(path: Path, rows: list[dict[str, object]], encoding: str = "utf-8-sig") -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding=encoding)
    return path


@pytest.fixture()
def county(engine) -> Iterator[sa.Engine]:
    with engine.begin() as conn:
        make_county(conn)
    yield engine
    with engine.begin() as conn:
        drop_county(conn)


def test_import_writes_the_assignments(county: sa.Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", good_rows())
    with county.connect() as conn:
        rep = import_assignments(conn, path, TEST_ADCODE)
    assert (rep.rows, rep.villages, rep.assignments, rep.officers, rep.officers_new,
            rep.militia) == (4, 3, 4, 2, 2, 2)
    with county.connect() as conn:
        s = state(conn)
    v, p = VILLAGES, POSTS
    assert s["officers"] == [("X001", "张三", p[0]), ("X002", "李四", p[1])]
    assert s["assignments"] == [("X001", v[0]), ("X001", v[1]), ("X001", v[2]), ("X002", v[2])]
    assert s["militia"] == [(f"{v[1]}MB", v[1], "二村民兵连", "乙", 35),
                            ("M1", v[0], "一村民兵连", "甲", 40)]
    assert not rejects_path_for(path).exists()


def test_reimport_is_idempotent_and_replaces_only_the_files_villages(
        county: sa.Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", good_rows())
    with county.connect() as conn:
        import_assignments(conn, path, TEST_ADCODE)
    with county.connect() as conn:
        first = state(conn)
    with county.connect() as conn:
        rep = import_assignments(conn, path, TEST_ADCODE)
    assert rep.replaced_assignments == 4 and rep.replaced_militia == 2 and rep.officers_new == 0
    with county.connect() as conn:
        assert state(conn) == first
    # a second file about village 1 only: village 1 changes, villages 2 and 3 stay
    v = VILLAGES
    path2 = write_csv(tmp_path / "b.csv", [
        {"village_code": v[0], "officer_code": "X002", "militia_code": "", "militia_name": ""}])
    with county.connect() as conn:
        import_assignments(conn, path2, TEST_ADCODE)
    with county.connect() as conn:
        s = state(conn)
    assert s["assignments"] == [("X001", v[1]), ("X001", v[2]), ("X002", v[0]), ("X002", v[2])]
    assert [m[0] for m in s["militia"]] == [f"{v[1]}MB"]  # village 1 now without company


def test_unknown_village_code_is_rejected_and_nothing_written(
        county: sa.Engine, tmp_path: Path) -> None:
    rows = good_rows()
    rows[2] = dict(rows[2], village_code=f"{TEST_ADCODE}009999")  # line 4 of the file
    rows[3] = dict(rows[3], officer_code="X003", post_code="NOPOST")  # line 5
    path = write_csv(tmp_path / "bad.csv", rows)
    with county.connect() as conn:
        before = state(conn)
    with county.connect() as conn, pytest.raises(FeatureRejected) as exc:
        import_assignments(conn, path, TEST_ADCODE)
    assert "nothing imported" in str(exc.value)
    rpath = Path(exc.value.path)
    assert rpath == tmp_path / "bad.csv.rejected.csv" and rpath.exists()
    rej = pd.read_csv(rpath, dtype=str)
    assert rej["row"].tolist() == ["4", "5"]
    assert "unknown village code" in rej.loc[0, "reason"]
    assert rej.loc[0, "village_code"] == f"{TEST_ADCODE}009999"
    assert rej.loc[1, "field"] == "post_code" and "unknown post code" in rej.loc[1, "reason"]
    assert [(r[0], r[1]) for r in exc.value.rejects] == [(4, "village_code"), (5, "post_code")]
    with county.connect() as conn:
        assert state(conn) == before  # all or nothing: not even the good rows


def test_other_rejections(county: sa.Engine, tmp_path: Path) -> None:
    v = VILLAGES
    rows = [
        {"village_code": v[0], "officer_code": "NEW1", "officer_name": "", "post_code": "",
         "militia_code": "", "militia_name": "", "strength": ""},
        {"village_code": v[1], "officer_code": "", "officer_name": "王五", "post_code": "",
         "militia_code": "", "militia_name": "连", "strength": "many"},
        {"village_code": v[2], "officer_code": "X9", "officer_name": "甲", "post_code": POSTS[0],
         "militia_code": "", "militia_name": "", "strength": ""},
        {"village_code": v[3], "officer_code": "X9", "officer_name": "甲", "post_code": POSTS[1],
         "militia_code": "", "militia_name": "", "strength": ""},
    ]
    path = write_csv(tmp_path / "other.csv", rows)
    with county.connect() as conn, pytest.raises(FeatureRejected) as exc:
        import_assignments(conn, path, TEST_ADCODE)
    reasons = {(r[0], r[1]): r[2] for r in exc.value.rejects}
    assert "give officer_name" in reasons[(2, "officer_name")]
    assert "without an officer code" in reasons[(3, "officer_code")]
    assert "whole number" in reasons[(3, "strength")]
    assert "differs" in reasons[(5, "post_code")]
    assert (4, "post_code") not in reasons


def test_chinese_headers_gbk_and_inferred_county(county: sa.Engine, tmp_path: Path) -> None:
    v = VILLAGES
    path = tmp_path / "中文.csv"
    pd.DataFrame({"村编码": [v[3]], "民警编号": ["X777"], "民警姓名": ["赵六"],
                  "警务室编码": [POSTS[1]], "民兵连名称": ["四村民兵连"], "连长": ["丁"],
                  "民兵人数": [50]}).to_csv(path, index=False, encoding="gbk")
    with county.connect() as conn:
        rep = import_assignments(conn, path)
    assert rep.assignments == 1 and rep.militia == 1
    with county.connect() as conn:
        s = state(conn)
    assert s["officers"] == [("X777", "赵六", POSTS[1])]
    assert s["militia"] == [(f"{v[3]}MB", v[3], "四村民兵连", "丁", 50)]


def test_unreadable_files(tmp_path: Path, engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(InputFileError, match="no such file"):
            import_assignments(conn, tmp_path / "missing.csv", TEST_ADCODE)
        path = write_csv(tmp_path / "x.csv", [{"foo": 1}])
        with pytest.raises(InputFileError, match="village code column"):
            import_assignments(conn, path, TEST_ADCODE)
        path = write_csv(tmp_path / "y.csv", [{"village_code": "1"}])
        with pytest.raises(InputFileError, match="nothing to import"):
            import_assignments(conn, path, TEST_ADCODE)
