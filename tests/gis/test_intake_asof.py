"""Intake places every row in the grid version in force on its (Beijing) date.

A hand-built county in its own database: township 东湖镇 with villages 杨庄村 (west) and
柳湾村 (east), each of two square groups 一社 (west half) and 二社 (east half). Version 1 is
in force from 2024-01-01; version 2, published from 2024-07-01, splits 杨庄村一社 into a
west 三社 and an east 四社. Known answers for hand-picked rows, and an independent shapely
point-in-polygon check (with :func:`gis.grids.versions.as_of` choosing the version) on
random points and dates around the split.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import box

from gis.grids import edits, publish, versions
from gis.grids.store import read_grids, save_grids
from gis.incidents.intake import import_file
from gis.incidents.intake_place import local_days, version_chain
from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database
from gis.territory import save_units

AD = "990801"
TOWN = AD + "001"
YANG, LIU = TOWN + "001", TOWN + "002"
Y1, Y2, L1, L2 = YANG + "001", YANG + "002", LIU + "001", LIU + "002"
Y3, Y4 = YANG + "003", YANG + "004"  # the west / east pieces of Y1 in version 2
X0, Y0, D = 100.40, 38.90, 0.02
V1_DAY, SPLIT_DAY = date(2024, 1, 1), date(2024, 7, 1)
HEADER = "编号,类型,发生时间,经度,纬度,地址,上报人\n"


def county() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Villages and groups (EPSG:4490): two villages of D × D side by side."""
    vrows, grows = [], []
    for k, (vcode, vname) in enumerate(((YANG, "杨庄村"), (LIU, "柳湾村"))):
        x = X0 + k * D
        west, east = box(x, Y0, x + D / 2, Y0 + D), box(x + D / 2, Y0, x + D, Y0 + D)
        grows += [(vcode + "001", "一社", vcode, west), (vcode + "002", "二社", vcode, east)]
        vrows.append((vcode, vname, TOWN, shapely.coverage_union_all([west, east])))
    cols = ["code", "name", "parent_code", "geometry"]
    v = gpd.GeoDataFrame(pd.DataFrame(vrows, columns=cols), crs=4490)
    g = gpd.GeoDataFrame(pd.DataFrame(grows, columns=cols), crs=4490)
    v["township_code"] = g["township_code"] = TOWN
    v["population"], g["population"] = 1000, 500
    return v, g


@pytest.fixture(scope="module")
def asof_engine() -> Iterator:
    """Own database: the county with version 1 (2024-01-01) and version 2 (2024-07-01)."""
    url = with_database(database_url(), f"wangge_test_asof_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    try:
        eng = connect(url)
        v, g = county()
        with eng.begin() as conn:
            save_units(conn, AD, "county", gpd.GeoDataFrame(
                {"code": [AD], "name": ["测试县"], "parent_code": [None]}))
            save_units(conn, AD, "township", gpd.GeoDataFrame(
                {"code": [TOWN], "name": ["东湖镇"], "parent_code": [AD]}))
            save_units(conn, AD, "village", v[["code", "name", "parent_code"]])
            v1 = versions.create_version(conn, AD, "v1", created_by="test")
            save_grids(conn, v1, v, 1, AD)
            save_grids(conn, v1, g, 2, AD)
            versions.publish_simple(conn, v1, V1_DAY)
            draft = versions.new_draft(conn, AD, from_version=v1, actor="planner")
            cut = X0 + D / 4
            edits.split(conn, draft, Y1, f"LINESTRING({cut} {Y0 - 0.001}, {cut} {Y0 + D + 0.001})",
                        new_codes=[Y3, Y4], names=["三社", "四社"], actor="planner")
            publish.publish(conn, draft, SPLIT_DAY, actor="chief")
        yield eng
    finally:
        drop_database(url)


def version_ids(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        ids = version_chain(conn, AD).ids.tolist()
    assert len(ids) == 2
    return ids[0], ids[1]


def incidents(engine, source: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.text(
            "select i.source_id, i.village_code, i.group_code, i.location_flag, "
            "r.raw -> 'intake' as intake from incident i join incident_report r "
            "on r.source = i.source and r.source_id = i.source_id "
            "where i.source = :s order by i.source_id"), {"s": source}).mappings().all()
        ).set_index("source_id")


def nul(v: object) -> object:
    """None for a NULL read back by pandas (NaN), the value otherwise."""
    return None if not isinstance(v, str) and pd.isna(v) else v


W = (X0 + D / 8, Y0 + D / 2)        # in Y1, west of the cut → Y3 from the split on
E = (X0 + 3 * D / 8, Y0 + D / 2)    # in Y1, east of the cut → Y4
OUT = (X0 - 0.05, Y0 + D / 2)        # outside the county

ROWS = [  # id, kind, Beijing time, point or address, want village, group, flag
    ("K1", "dispute", "2024-06-30 12:00", W, YANG, Y1, "ok"),
    ("K2", "fire", "2024-06-30 23:30", W, YANG, Y1, "ok"),      # 15:30 UTC, still 30 June
    ("K3", "flood", "2024-07-01 00:30", W, YANG, Y3, "ok"),     # 30 June 16:30 UTC: 1 July
    ("K4", "dispute", "2024-07-02 08:00", E, YANG, Y4, "ok"),
    ("K5", "petition", "2023-12-01 08:00", W, YANG, Y1, "ok"),  # before any version
    ("K6", "dispute", "2024-07-02 09:00", OUT, None, None, "outside"),
    ("K7", "citizen_request", "2024-06-30 10:00", "东湖镇杨庄村三社", YANG, None, "address"),
    ("K8", "citizen_request", "2024-07-02 10:00", "东湖镇杨庄村三社", YANG, Y3, "address"),
    ("K9", "environment", "2024-06-29 10:00", "杨庄村一社", YANG, Y1, "address"),
    ("K10", "environment", "2024-07-03 10:00", "杨庄村一社", YANG, None, "address"),
]


def rows_csv(path: Path) -> Path:
    lines = []
    for sid, kind, t, where, *_ in ROWS:
        xy = f"{where[0]:.6f},{where[1]:.6f}," if isinstance(where, tuple) else f",,{where}"
        lines.append(f"{sid},{kind},{t},{xy},网格员")
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_each_row_gets_the_grids_in_force_on_its_beijing_date(asof_engine,
                                                              tmp_path: Path) -> None:
    v1, v2 = version_ids(asof_engine)
    rep = import_file(asof_engine, rows_csv(tmp_path / "k.csv"), source="t-asof", adcode=AD)

    assert (rep.rejected, rep.inserted, rep.merged) == (0, len(ROWS), 0), rep.rejects
    assert rep.version_id == v2 and rep.before_first_version == 1
    assert (rep.placed_by_address, rep.address_review, rep.outside) == (4, 0, 1)
    got = incidents(asof_engine, "t-asof")
    for sid, _, t, _, village, group, flag in ROWS:
        row = got.loc[sid]
        assert (nul(row["village_code"]), nul(row["group_code"]), row["location_flag"]) == \
            (village, group, flag), sid  # None: SQL NULL (not the text 'NaN')
        day = date.fromisoformat(t[:10])
        assert row["intake"]["as_of"] == t[:10], sid
        with asof_engine.connect() as conn:
            want = versions.as_of(conn, AD, day) or v1  # before any version: the first
        assert row["intake"]["grid_version"] == want, sid
    assert got.loc["K5", "intake"]["before_first_version"] is True
    assert "before_first_version" not in got.loc["K1", "intake"]
    assert got.loc["K8", "intake"]["address_match"]["code"] == Y3

    again = import_file(asof_engine, rows_csv(tmp_path / "k.csv"), source="t-asof", adcode=AD)
    assert (again.inserted, again.duplicates) == (0, len(ROWS))


def test_local_days_use_beijing_time() -> None:
    ts = pd.Series(pd.to_datetime(["2024-06-30T16:29:59Z", "2024-06-30T16:30:00Z",
                                   "2024-06-30T15:59:59Z"], utc=True))
    assert local_days(ts).astype(str).tolist() == ["2024-07-01", "2024-07-01", "2024-06-30"]


def test_random_points_and_dates_match_shapely_in_the_version_of_their_date(
        asof_engine, tmp_path: Path) -> None:
    v1, v2 = version_ids(asof_engine)
    rng = np.random.default_rng(5)
    n = 300
    lon = np.round(rng.uniform(X0 - 0.003, X0 + 2 * D + 0.003, n), 6)
    lat = np.round(rng.uniform(Y0 - 0.003, Y0 + D + 0.003, n), 6)
    start = datetime(2024, 6, 25, 0, 17)
    times = [start + timedelta(minutes=47 * i) for i in range(n)]  # > the 30 min window
    path = tmp_path / "random.csv"
    path.write_text(HEADER + "\n".join(
        f"R{i},dispute,{t:%Y-%m-%d %H:%M},{x:.6f},{y:.6f},,甲"
        for i, (t, x, y) in enumerate(zip(times, lon, lat, strict=True))) + "\n",
        encoding="utf-8")

    rep = import_file(asof_engine, path, source="t-asof-random", adcode=AD)

    assert (rep.rejected, rep.inserted) == (0, n)
    got = incidents(asof_engine, "t-asof-random")
    with asof_engine.connect() as conn:
        grids = {v: read_grids(conn, v, level=2).sort_values("code") for v in (v1, v2)}
        chosen = [versions.as_of(conn, AD, t.date()) for t in times]  # naive = Beijing
    assert {v1, v2} == set(chosen)  # both versions are exercised
    for i, (x, y, vid) in enumerate(zip(lon, lat, chosen, strict=True)):
        g = grids[vid]
        hit = g["code"][shapely.covers(np.asarray(g.geometry.values), shapely.Point(x, y))]
        want = min(hit) if len(hit) else None
        row = got.loc[f"R{i}"]
        assert nul(row["group_code"]) == want, (i, x, y, vid)
        assert row["location_flag"] == ("ok" if want else "outside")
        assert row["intake"]["grid_version"] == vid
    split = got["group_code"].isin([Y3, Y4]).sum()
    assert split > 0 and got["group_code"].eq(Y1).sum() > 0  # old and new grids both used


def test_review_accept_offers_the_grids_of_the_incident_date(asof_engine,
                                                             tmp_path: Path) -> None:
    from gis._errors import AddressError
    from gis.address import review

    v1, v2 = version_ids(asof_engine)
    path = tmp_path / "town.csv"
    path.write_text(HEADER + "A1,dispute,2024-06-20 09:00,,,东湖镇卫生院,甲\n"
                    "A2,dispute,2024-07-20 09:00,,,东湖镇卫生院,乙\n", encoding="utf-8")
    rep = import_file(asof_engine, path, source="t-asof-review", adcode=AD)
    assert (rep.inserted, rep.address_review_new, rep.placed_by_address) == (2, 2, 0)
    with asof_engine.connect() as conn:
        ids = dict(conn.execute(sa.text(
            "select source_id, id from address_review where source = 't-asof-review'")).all())
        reasons = set(conn.execute(sa.text(
            "select reason || ':' || township_code from address_review "
            "where source = 't-asof-review'")).scalars())
    assert reasons == {f"township:{TOWN}"}
    with pytest.raises(AddressError, match=f"grid version {v2}"), asof_engine.begin() as conn:
        review.accept(conn, ids["A2"], Y1, "张科长")  # 一社 no longer exists in July
    with asof_engine.begin() as conn:
        old = review.accept(conn, ids["A1"], Y1, "张科长")
        new = review.accept(conn, ids["A2"], Y3, "张科长")
    assert (old["grid_version"], old["group_code"]) == (v1, Y1)
    assert (new["grid_version"], new["group_code"], new["village_code"]) == (v2, Y3, YANG)
    got = incidents(asof_engine, "t-asof-review")
    assert got["group_code"].tolist() == [Y1, Y3]
    assert (got["location_flag"] == "address").all()
