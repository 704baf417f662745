"""Incident intake: files and the HTTP endpoint, row checks, dedupe, one transaction per file.

Runs against its own database holding the demo county's grids (and 20 demo incidents), so
the 100,000-row imports never change the counts other tests see in ``demo_engine``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import sqlalchemy as sa

from gis import settings
from gis._errors import InputFileError, StoreError
from gis.crs import wgs84_to_bd09, wgs84_to_gcj02
from gis.incidents.dedupe import cluster_reports
from gis.incidents.intake import (
    APPLICATION_NAME,
    import_file,
    rejected_path_for,
    target,
)
from gis.incidents.validate_rows import decimals, parse_time
from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database

GEOD = pyproj.Geod(ellps="WGS84")
HEADER = "编号,类型,发生时间,经度,纬度,地址,描述,上报人\n"


@pytest.fixture(scope="session")
def intake_db_url(demo) -> Iterator[str]:  # noqa: ANN001
    """A database with the demo county's grids and only 20 demo incidents."""
    from data.loader import load_demo

    url = with_database(database_url(),
                        f"wangge_test_intake_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    try:
        load_demo(connect(url), dataclasses.replace(demo, incidents=demo.incidents.iloc[:20]))
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def ieng(intake_db_url: str):  # noqa: ANN201
    """Engine of :func:`intake_db_url`."""
    return connect(intake_db_url)


@pytest.fixture(scope="session")
def inside(ieng) -> pd.DataFrame:  # noqa: ANN001
    """Points well inside group grids (6 decimals), with the group they fall in."""
    with ieng.connect() as conn:
        _, lookup = target(conn)
        rows = conn.execute(sa.text(
            "select code, st_x(p), st_y(p) from (select code, st_pointonsurface(geom) p "
            "from grid where version_id = :v and level = 2 order by code limit 200) s"),
            {"v": lookup.version_id}).all()
    df = pd.DataFrame(rows, columns=["code", "lon", "lat"])
    df["lon"], df["lat"] = df["lon"].round(6), df["lat"].round(6)
    pos = lookup.locate(df["lon"].to_numpy(), df["lat"].to_numpy())
    df["group"] = np.where(pos >= 0, lookup.group_codes[np.maximum(pos, 0)], None)
    return df[df["group"].notna()].reset_index(drop=True)


def count(engine, table: str, source: str) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {table} where source = :s"),
                            {"s": source}).scalar_one()


def incidents(engine, source: str) -> pd.DataFrame:  # noqa: ANN001
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select i.id, i.source_id, i.kind, i.occurred_at, i.location_flag, i.group_code, "
            "st_x(i.geom) as lon, st_y(i.geom) as lat, "
            "(select count(*) from incident_report r where r.incident_id = i.id) as reports "
            "from incident i where i.source = :s order by i.source_id"), {"s": source})
        return pd.DataFrame(rows.mappings().all())


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, 90.0, east_m)
    x, y, _ = GEOD.fwd(x, y, 0.0, north_m)
    return round(x, 6), round(y, 6)


# --- pure functions ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "want"), [
    ("2025-01-05 09:30", "2025-01-05T01:30:00+00:00"),
    ("2025/1/5 9:30:15", "2025-01-05T01:30:15+00:00"),
    ("2025年1月5日 9时30分", "2025-01-05T01:30:00+00:00"),
    ("2025年1月5日9点", "2025-01-05T01:00:00+00:00"),
    ("2025-01-05T09:30:00Z", "2025-01-05T09:30:00+00:00"),
    ("2025-01-05T09:30:00.5+08:00", "2025-01-05T01:30:00.500000+00:00"),
    ("2025-01-05", "2025-01-04T16:00:00+00:00"),
])
def test_times_year_first_naive_is_beijing(text: str, want: str) -> None:
    from zoneinfo import ZoneInfo

    assert parse_time(text, ZoneInfo("Asia/Shanghai")).isoformat() == want


@pytest.mark.parametrize("text", ["昨天下午", "05/01/2025", "2025-13-01", "12", "2025-02-30"])
def test_not_times(text: str) -> None:
    from zoneinfo import ZoneInfo

    assert parse_time(text, ZoneInfo("Asia/Shanghai")) is None


def test_decimals_of_written_numbers() -> None:
    assert [decimals(t) for t in ("100.4500", "100", "1.5e-3", "-38.123456", "x")] == \
        [4, 0, 4, 6, 0]


def test_clustering_follows_time_and_the_seed_not_chains() -> None:
    lon0, lat0 = 100.45, 38.93
    b, c = offset(lon0, lat0, 80, 0), offset(lon0, lat0, 160, 0)
    lon, lat = np.array([lon0, b[0], c[0]]), np.array([lat0, b[1], c[1]])
    minutes = np.array([0.0, 10.0, 20.0])
    seed, dist = cluster_reports(lon, lat, minutes, np.array(["fire"] * 3, dtype=object),
                                 100.0, 30.0)
    assert seed.tolist() == [0, 0, 2]  # C is 80 m from B but 160 m from the seed A
    assert dist[1] == pytest.approx(80.0, abs=0.2)
    late = cluster_reports(lon, lat, np.array([0.0, 31.0, 20.0]),
                           np.array(["fire"] * 3, dtype=object), 100.0, 30.0)[0]
    assert late.tolist() == [0, 2, 2]  # B, 31 min after A, joins C (80 m, 11 min) instead


# --- files -----------------------------------------------------------------------------

def bad_rows_csv(p1: pd.Series, p2: pd.Series, p3: pd.Series, p4: pd.Series) -> str:
    t = "2025-01-05 09:30"
    return HEADER + "\n".join([
        f"A1,矛盾纠纷,{t},{p1.lon},{p1.lat},甘州区,邻里纠纷,张三",          # 2 good
        f"A2,,{t},{p2.lon},{p2.lat},,,李四",                                # 3 missing kind
        f"A3,外星人入侵,{t},{p2.lon},{p2.lat},,,李四",                       # 4 unknown kind
        f"A4,dispute,昨天下午,{p2.lon},{p2.lat},,,李四",                     # 5 bad time
        f"A5,dispute,2099-01-01 08:00,{p2.lon},{p2.lat},,,李四",            # 6 future
        "",                                                                 # 7 blank
        f"A6,fire,{t},200.512345,95.512345,,,王五",                          # 8 out of range
        f"A7,fire,{t},{p2.lat},{p2.lon},,,王五",                             # 9 swapped
        f"A8,fire,{t},0,0,,,王五",                                          # 10 null island
        f"A9,fire,{t},100.45,38.93,,,王五",                                 # 11 low precision
        f"A10,citizen_request,{t},,,甘州区党寨镇陈寨村三社,问路,赵六",          # 12 no location
        f"A11,dispute,{t},{p3.lon},{p3.lat},,,",                            # 13 no reporter
        f"A12,群众诉求,2025年1月6日 14时05分,{p4.lon},{p4.lat},,,钱七",        # 14 good
        f"A1,fire,{t},{p3.lon},{p3.lat},,,孙八",                             # 15 duplicate id
        f"A13,fire,{t},,,,,孙八",                                           # 16 no location
        "A14,petition,2025-01-07T10:00:00+08:00,116.397128,39.916527,,,周九",  # 17 outside
        f"A15,dispute,{t},100.412345,,,,吴十",                               # 18 one coord
        f"A16,dispute,{t},abc,38.912345,,,郑一",                             # 19 not a number
    ]) + "\n"


EXPECTED_REJECTS = [
    (3, "missing_field"), (4, "unknown_kind"), (5, "bad_time"), (6, "future_time"),
    (8, "out_of_range"), (9, "swapped_latlon"), (10, "null_island"), (11, "low_precision"),
    (13, "missing_field"), (15, "duplicate_id"), (16, "missing_field"),
    (18, "bad_coordinates"), (19, "bad_coordinates"),
]


def test_each_bad_row_is_rejected_with_its_row_and_reason(ieng, inside,  # noqa: ANN001
                                                          tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(bad_rows_csv(*(inside.iloc[i] for i in range(4))), encoding="utf-8")

    rep = import_file(ieng, path, source="t-bad")

    assert rep.rejected_path == str(tmp_path / "bad.rejected.csv")
    rej = pd.read_csv(rep.rejected_path, encoding="utf-8-sig", dtype=str)
    assert list(zip(rej["row"].astype(int), rej["code"], strict=True)) == EXPECTED_REJECTS
    reasons = dict(zip(rej["row"].astype(int), rej["reason"], strict=True))
    assert "类型" in reasons[3] and "外星人入侵" in reasons[4]
    assert "swapped" in reasons[9] and "row 2" in reasons[15] and "报告人" in reasons[13]
    assert rej.loc[rej["row"] == "4", "编号"].item() == "A3"  # the row's own cells follow
    assert (rep.rows, rep.accepted, rep.inserted, rep.rejected) == (17, 4, 4, 13)
    got = incidents(ieng, "t-bad").set_index("source_id")
    assert sorted(got.index) == ["A1", "A10", "A12", "A14"]
    assert got.loc["A1", "group_code"] == inside.iloc[0]["group"]
    assert got.loc["A1", "kind"] == "dispute" and got.loc["A12", "kind"] == "citizen_request"
    assert got["location_flag"].to_dict() == {"A1": "ok", "A10": "no_location", "A12": "ok",
                                              "A14": "outside"}
    assert got.loc["A1", "occurred_at"] == datetime(2025, 1, 5, 1, 30, tzinfo=UTC)
    assert got.loc["A12", "occurred_at"] == datetime(2025, 1, 6, 6, 5, tzinfo=UTC)
    assert (rep.outside, rep.no_location) == (1, 1)

    again = import_file(ieng, path, source="t-bad")

    assert (again.inserted, again.duplicates, again.merged, again.rejected) == (0, 4, 0, 13)
    assert count(ieng, "incident", "t-bad") == 4
    assert count(ieng, "incident_report", "t-bad") == 4


def test_clean_rerun_removes_a_stale_rejected_file(ieng, inside, tmp_path: Path) -> None:  # noqa: ANN001
    p = inside.iloc[5]
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + f"K1,fire,2025-01-08 08:00,{p.lon},{p.lat},,,甲\n", encoding="utf-8")
    rejected_path_for(path).write_text("old", encoding="utf-8")

    rep = import_file(ieng, path, source="t-clean")

    assert rep.rejected == 0 and rep.rejected_path is None
    assert not rejected_path_for(path).exists()


def test_gbk_csv_and_fix_swapped_flag(ieng, inside, tmp_path: Path) -> None:  # noqa: ANN001
    p, q = inside.iloc[6], inside.iloc[7]
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + f"G1,消防隐患,2025-01-09 08:00,{p.lat},{p.lon},,,甲\n"
                      f"G2,安全生产,2025-01-09 09:00,{q.lon},{q.lat},,,乙\n").encode("gbk"))

    rep = import_file(ieng, path, source="t-gbk", fix_swapped=True)

    assert (rep.inserted, rep.rejected, rep.fixed_swapped) == (2, 0, 1)
    got = incidents(ieng, "t-gbk").set_index("source_id")
    assert (got.loc["G1", "lon"], got.loc["G1", "lat"]) == pytest.approx((p.lon, p.lat))
    assert got.loc["G1", "group_code"] == p.group and got.loc["G2", "kind"] == "work_safety"


def test_gcj02_input_is_converted_to_storage(ieng, inside, tmp_path: Path) -> None:  # noqa: ANN001
    p = inside.iloc[8]
    gx, gy = wgs84_to_gcj02(p.lon, p.lat)
    path = tmp_path / "gcj.csv"
    path.write_text(HEADER + f"C1,environment,2025-01-10 08:00,{gx:.8f},{gy:.8f},,,甲\n",
                    encoding="utf-8")

    rep = import_file(ieng, path, source="t-gcj", crs="gcj02")

    got = incidents(ieng, "t-gcj").iloc[0]
    assert rep.crs == "gcj02" and rep.inserted == 1
    assert abs(gx - p.lon) > 1e-3  # the offset is hundreds of metres …
    assert got["lon"] == pytest.approx(p.lon, abs=1e-7)  # … and removed
    assert got["lat"] == pytest.approx(p.lat, abs=1e-7)
    assert got["group_code"] == p.group


def test_xlsx_is_read_with_sheet_row_numbers(ieng, inside, tmp_path: Path) -> None:  # noqa: ANN001
    p, q = inside.iloc[9], inside.iloc[10]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "事件类型", "时间", "经度", "纬度", "地址", "内容", "报告人"])
    ws.append([1001, "森林防火", datetime(2025, 1, 11, 8, 0), p.lon, p.lat, None, "烟", "甲"])
    ws.append([1002, "陨石", datetime(2025, 1, 11, 9, 0), q.lon, q.lat, None, None, "乙"])
    ws.append([None] * 8)
    ws.append([1003, "public_health", "2025-01-11 10:00", q.lon, q.lat, None, None, "丙"])
    path = tmp_path / "x.xlsx"
    wb.save(path)

    rep = import_file(ieng, path, source="t-xlsx")

    assert rep.rejects[["row", "code"]].values.tolist() == [[3, "unknown_kind"]]
    got = incidents(ieng, "t-xlsx").set_index("source_id")
    assert sorted(got.index) == ["1001", "1003"]
    assert got.loc["1001", "occurred_at"] == datetime(2025, 1, 11, 0, 0, tzinfo=UTC)
    assert got.loc["1001", "kind"] == "forest_fire"


def test_geojson_points_are_read_other_geometries_rejected(ieng, inside,  # noqa: ANN001
                                                           tmp_path: Path) -> None:
    p = inside.iloc[11]
    props = {"类型": "flood", "时间": "2025-01-12 08:00", "上报人": "甲"}
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
         "properties": {"编号": "J1", **props}},
        {"type": "Feature", "geometry": {"type": "LineString",
                                         "coordinates": [[p.lon, p.lat], [p.lon, p.lat + 1]]},
         "properties": {"编号": "J2", **props}},
        {"type": "Feature", "geometry": None,
         "properties": {"编号": "J3", "地址": "甘州区党寨镇", **props}},
    ]}
    path = tmp_path / "g.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    rep = import_file(ieng, path, source="t-geojson")

    assert rep.rejects[["row", "code"]].values.tolist() == [[2, "bad_coordinates"]]
    got = incidents(ieng, "t-geojson").set_index("source_id")
    assert got["location_flag"].to_dict() == {"J1": "ok", "J3": "no_location"}
    assert got.loc["J1", "group_code"] == p.group


@pytest.mark.parametrize(("name", "content", "match"), [
    ("missing.csv", None, "no such file"),
    ("a.doc", b"x", "unknown file type"),
    ("broken.xlsx", b"not a zip", "not a readable XLSX"),
    ("broken.geojson", b"{", "the JSON ends early"),
    ("nokind.csv", "编号,时间,经度,纬度,上报人\n1,2025-01-01,100.1,38.1,甲\n".encode(), "类型"),
    ("empty.csv", b"", "empty file"),
    ("latin.csv", b"\x80\xff,x\n", "neither UTF-8 nor GBK"),
])
def test_unreadable_files_raise_a_clear_error(ieng, tmp_path: Path, name: str,  # noqa: ANN001
                                              content: bytes | None, match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputFileError, match=match):
        import_file(ieng, path, source="t-unreadable")


# --- dedupe -----------------------------------------------------------------------------

def test_known_cluster_becomes_one_incident_with_three_reports(ieng, inside,  # noqa: ANN001
                                                               tmp_path: Path) -> None:
    q = inside.iloc[20]
    e40, n70, far = offset(q.lon, q.lat, 40, 0), offset(q.lon, q.lat, 0, 70), \
        offset(q.lon, q.lat, 500, 0)
    rows = [  # file order differs from time order: the earliest report opens the incident
        f"D3,fire,2025-02-10 10:25,{n70[0]},{n70[1]},,,丙",
        f"D1,fire,2025-02-10 10:00,{q.lon},{q.lat},,,甲",
        f"D2,fire,2025-02-10 10:10,{e40[0]},{e40[1]},,,乙",
        f"D4,fire,2025-02-10 10:05,{far[0]},{far[1]},,,丁",         # 500 m away
        f"D5,flood,2025-02-10 10:05,{q.lon},{q.lat},,,戊",          # other kind
        f"D6,fire,2025-02-10 12:00,{q.lon},{q.lat},,,己",           # two hours later
    ]
    path = tmp_path / "cluster.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")

    rep = import_file(ieng, path, source="t-cluster")

    assert (rep.inserted, rep.merged) == (4, 2)
    got = incidents(ieng, "t-cluster").set_index("source_id")
    assert got["reports"].to_dict() == {"D1": 3, "D4": 1, "D5": 1, "D6": 1}
    with ieng.connect() as conn:
        reps = conn.execute(sa.text(
            "select source_id, merged, round(distance_m) from incident_report "
            "where incident_id = :i order by source_id"), {"i": int(got.loc["D1", "id"])}).all()
    assert [tuple(r) for r in reps] == [("D1", False, None), ("D2", True, 40), ("D3", True, 70)]

    # another system reports the same fire 60 m away 20 minutes later: attached too
    near = offset(q.lon, q.lat, -60, 0)
    p2 = tmp_path / "hotline.csv"
    p2.write_text(HEADER + f"H1,消防隐患,2025-02-10 10:20,{near[0]},{near[1]},,,来电人\n",
                  encoding="utf-8")
    rep2 = import_file(ieng, p2, source="t-cluster-12345")
    assert (rep2.inserted, rep2.merged) == (0, 1)
    assert incidents(ieng, "t-cluster").set_index("source_id").loc["D1", "reports"] == 4
    assert count(ieng, "incident", "t-cluster-12345") == 0
    assert import_file(ieng, p2, source="t-cluster-12345").duplicates == 1


def test_dedupe_settings_apply_and_bulk_incidents_get_their_own_report(
        ieng, inside, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from gis.incidents.ingest import ingest_frame

    q = inside.iloc[21]
    with ieng.begin() as conn:
        adcode, lookup = target(conn)
        ingest_frame(conn, pd.DataFrame({
            "source": ["t-bulk"], "source_id": ["B1"], "kind": ["dispute"],
            "occurred_at": [pd.Timestamp("2025-02-11 02:00", tz="UTC")],
            "lon": [q.lon], "lat": [q.lat]}), adcode, lookup)
    near = offset(q.lon, q.lat, 150, 0)
    path = tmp_path / "near.csv"
    path.write_text(HEADER + f"N1,dispute,2025-02-11 10:40,{near[0]},{near[1]},,,甲\n",
                    encoding="utf-8")
    monkeypatch.setattr(settings, "INTAKE_DEDUPE_DISTANCE_M", 200.0)
    monkeypatch.setattr(settings, "INTAKE_DEDUPE_WINDOW_MIN", 45.0)

    rep = import_file(ieng, path, source="t-near")

    assert (rep.inserted, rep.merged) == (0, 1)
    with ieng.connect() as conn:
        reps = conn.execute(sa.text(
            "select r.source, r.merged, r.raw ? 'backfilled' from incident_report r "
            "join incident i on i.id = r.incident_id where i.source = 't-bulk' "
            "order by r.source")).all()
    assert [tuple(r) for r in reps] == [("t-bulk", False, True), ("t-near", True, False)]


# --- one transaction: kill the connection in the middle ----------------------------------

N_KILL = 100_000


def big_csv(path: Path, bounds: tuple[float, float, float, float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    t0 = pd.Timestamp("2010-01-01 00:00")
    df = pd.DataFrame({
        "编号": [f"K{i:06d}" for i in range(N_KILL)],
        "类型": np.array(list(settings.INCIDENT_KINDS))[rng.integers(0, 12, N_KILL)],
        "发生时间": (t0 + pd.to_timedelta(np.arange(N_KILL), unit="h")).strftime("%Y-%m-%d %H:%M"),
        "经度": np.round(rng.uniform(x0, x1, N_KILL), 6),
        "纬度": np.round(rng.uniform(y0, y1, N_KILL), 6),
        "地址": "", "描述": "批量导入测试", "上报人": "网格员"})
    df.to_csv(path, index=False, float_format="%.6f")


def _killer(url: str, stop: threading.Event, killed: list[int], when: str) -> None:
    eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            while not stop.is_set() and not killed:
                pids = conn.execute(sa.text(
                    "select pid from pg_stat_activity where application_name = :a "
                    "and datname = current_database() "
                    "and state = 'active' and query ilike :q"),
                    {"a": APPLICATION_NAME, "q": when}).scalars().all()
                for pid in pids:
                    if conn.execute(sa.text("select pg_terminate_backend(:p)"), {"p": pid}).scalar():
                        killed.append(pid)
                time.sleep(0.002)
    finally:
        eng.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["copy", "final insert"])
def test_killing_the_connection_mid_import_leaves_nothing_and_rerun_loads_all(
        ieng, intake_db_url: str, inside, tmp_path: Path, moment: str) -> None:  # noqa: ANN001
    source = f"t-kill-{moment.replace(' ', '-')}"
    path = tmp_path / "big.csv"
    with ieng.connect() as conn:
        bounds = conn.execute(sa.text(
            "select st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e) from "
            "(select st_extent(geom) e from grid where level = 2) s")).one()
    big_csv(path, tuple(bounds), seed=len(moment))
    stop, killed = threading.Event(), []
    progress = None
    if moment == "copy":  # a watcher kills the backend while it runs the COPY
        th = threading.Thread(target=_killer, args=(intake_db_url, stop, killed,
                                                    'copy "report_in"%'))
        th.start()
    else:  # kill between statements, after the new incidents were inserted

        def progress(stage: str, done: int, total: int) -> None:  # noqa: ARG001
            if stage == "insert" and done == 1 and not killed:
                eng = sa.create_engine(intake_db_url, isolation_level="AUTOCOMMIT")
                with eng.connect() as conn:
                    pid = conn.execute(sa.text(
                        "select pid from pg_stat_activity where application_name = :a "
                        "and datname = current_database()"),
                        {"a": APPLICATION_NAME}).scalar_one()
                    assert conn.execute(sa.text("select pg_terminate_backend(:p)"),
                                        {"p": pid}).scalar()
                eng.dispose()
                killed.append(pid)
    try:
        with pytest.raises(StoreError, match="nothing of it was saved"):
            import_file(ieng, path, source=source, progress=progress, batch=5_000)
    finally:
        stop.set()
        if moment == "copy":
            th.join()
    assert killed, "the import finished before its connection could be killed"
    assert count(ieng, "incident", source) == 0
    assert count(ieng, "incident_report", source) == 0

    rep = import_file(ieng, path, source=source)

    assert rep.rejected == 0 and rep.accepted == N_KILL
    assert rep.inserted + rep.merged == N_KILL
    assert count(ieng, "incident_report", source) == N_KILL
    assert count(ieng, "incident", source) == rep.inserted
    assert import_file(ieng, path, source=source).duplicates == N_KILL


# --- HTTP endpoint ------------------------------------------------------------------------

@pytest.fixture
def client(ieng):  # noqa: ANN001, ANN201
    """A test client of the endpoint sending a county-wide API token for each source."""
    from flask import Flask

    from gis.incidents.api import register_api
    from tests.gis.api_client import TokenClient

    app = Flask("intake-test")
    register_api(app, lambda: ieng)
    return TokenClient(app.test_client(), ieng)


def item(p: pd.Series, sid: str, **kw: object) -> dict:
    return {"source_id": sid, "kind": "dispute", "occurred_at": "2025-03-01T08:00:00+08:00",
            "lon": p.lon, "lat": p.lat, "reporter": "网格员", **kw}


def test_api_201_with_ids_and_idempotent_retries(client, ieng, inside) -> None:  # noqa: ANN001
    p, q = inside.iloc[30], inside.iloc[31]
    body = [item(p, "W1"), item(q, "W2", kind="信访", description="上访")]

    res = client.post("/api/incidents?source=t-api", json=body)

    assert res.status_code == 201, res.get_json()
    out = res.get_json()
    assert [i["status"] for i in out["items"]] == ["created", "created"]
    assert len(set(out["ids"])) == 2 and out["inserted"] == 2
    again = client.post("/api/incidents?source=t-api", json=body).get_json()
    assert again["ids"] == out["ids"]
    assert [i["status"] for i in again["items"]] == ["duplicate", "duplicate"]
    one = client.post("/api/incidents", json=item(p, "W3", source="t-api",
                                                  occurred_at="2025-03-01T08:10:00+08:00"))
    assert one.status_code == 201
    assert one.get_json()["items"] == [{"index": 0, "incident_id": out["ids"][0],
                                        "status": "merged"}]
    assert count(ieng, "incident", "t-api") == 2


def test_api_400_lists_every_bad_item_and_stores_nothing(client, ieng, inside) -> None:  # noqa: ANN001
    p = inside.iloc[32]
    body = [item(p, "V1"), item(p, "V2", kind="ufo"),
            item(p, "V3", occurred_at="2099-01-01T00:00:00Z", lon=None, lat=None)]

    res = client.post("/api/incidents?source=t-api-bad", json=body)

    assert res.status_code == 400
    errs = res.get_json()["errors"]
    assert [(e["index"], e["code"]) for e in errs] == [(1, "unknown_kind"),
                                                       (2, "future_time; missing_field")]
    assert count(ieng, "incident", "t-api-bad") == 0
    assert client.post("/api/incidents", data="not json",
                       content_type="application/json").status_code == 400
    assert client.post("/api/incidents", json=[1, 2]).get_json()["errors"][0]["code"] == \
        "not_an_object"
    no_source = client.post("/api/incidents", json=item(p, "V4"))
    assert no_source.status_code == 400
    assert no_source.get_json()["errors"][0]["field"] == "source"


def test_api_413_over_the_size_limits(client, inside, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    p = inside.iloc[33]
    monkeypatch.setattr(settings, "INTAKE_MAX_UPLOAD_BYTES", 500)
    big = [item(p, f"S{i}") for i in range(10)]
    assert client.post("/api/incidents?source=t-api-big", json=big).status_code == 413
    monkeypatch.setattr(settings, "INTAKE_MAX_UPLOAD_BYTES", 10_000_000)
    monkeypatch.setattr(settings, "INTAKE_MAX_API_ITEMS", 5)
    res = client.post("/api/incidents?source=t-api-big", json=big)
    assert res.status_code == 413 and "at most 5" in res.get_json()["error"]


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02),
                                              ("bd09", wgs84_to_bd09)])
def test_api_declared_offset_systems_are_converted(client, ieng, inside, crs: str,  # noqa: ANN001
                                                   forward) -> None:  # noqa: ANN001
    p = inside.iloc[34 if crs == "gcj02" else 35]
    gx, gy = forward(p.lon, p.lat)
    res = client.post(f"/api/incidents?source=t-api-{crs}&crs={crs}",
                      json=item(p, "G1", lon=round(gx, 8), lat=round(gy, 8),
                                occurred_at="2025-03-02 08:00"))
    assert res.status_code == 201, res.get_json()
    got = incidents(ieng, f"t-api-{crs}").iloc[0]
    assert (got["lon"], got["lat"]) == pytest.approx((p.lon, p.lat), abs=1e-7)
    assert got["group_code"] == p.group


def test_future_tolerance_is_a_setting(ieng, inside, tmp_path: Path,  # noqa: ANN001
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    p = inside.iloc[40]
    soon = (datetime.now(timezone(timedelta(hours=8))) + timedelta(minutes=3))
    path = tmp_path / "soon.csv"
    path.write_text(HEADER + f"F1,fire,{soon:%Y-%m-%d %H:%M},{p.lon},{p.lat},,,甲\n",
                    encoding="utf-8")
    monkeypatch.setattr(settings, "INTAKE_FUTURE_TOLERANCE_MIN", 0.0)
    assert import_file(ieng, path, source="t-soon").rejects["code"].tolist() == ["future_time"]
    monkeypatch.setattr(settings, "INTAKE_FUTURE_TOLERANCE_MIN", 10.0)
    assert import_file(ieng, path, source="t-soon").inserted == 1
