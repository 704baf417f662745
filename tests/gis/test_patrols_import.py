"""Patrol import: GPX round trip, idempotent re-import, rejects with feature numbers, one
transaction, grid assignment by start point and its re-assignment on a grid publish."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import gpxpy.gpx
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from gis._errors import FeatureRejected, InputFileError
from gis.crs import wgs84_to_gcj02
from gis.grids import edits, publish, versions
from gis.grids.store import read_grids
from gis.patrols import tracks as tr
from gis.patrols.importer import detect_kind, import_patrol_file
from gis.patrols.queries import patrols_frame, track_times
from tests.gis.test_patrols import TZ, count_rows, write_fc
from tests.gis.test_planning import X0, Y0, D, expected_codes, load_county, texts

T0 = datetime(2021, 4, 6, 1, 30, tzinfo=UTC)


def gpx_file(path: Path, author: str = "巡逻一队") -> tuple[Path, list[list[tuple]]]:
    """Two tracks: one of one segment, one of two segments (and a one-point segment that
    is dropped); times with microseconds and a +08:00 offset. Returns the points written
    (lon, lat, aware time) per track."""
    g = gpxpy.gpx.GPX()
    g.author_name = author
    written = []
    rng = np.random.default_rng(5)
    for n, segs in enumerate([[25], [12, 1, 9]]):
        trk = gpxpy.gpx.GPXTrack(name=f"巡逻{n + 1}")
        g.tracks.append(trk)
        pts = []
        t = T0 + timedelta(hours=14 * n)
        for size in segs:
            seg = gpxpy.gpx.GPXTrackSegment()
            trk.segments.append(seg)
            for _ in range(size):
                lon = X0 + 0.004 + float(rng.uniform(0, 0.05))
                lat = Y0 + 0.003 + float(rng.uniform(0, 0.03))
                when = t.astimezone(TZ) if n else t
                seg.points.append(gpxpy.gpx.GPXTrackPoint(round(lat, 7), round(lon, 7),
                                                          time=when))
                if size > 1:
                    pts.append((round(lon, 7), round(lat, 7), t))
                t += timedelta(seconds=15, microseconds=250_000)
        written.append(pts)
    path.write_text(g.to_xml(), encoding="utf-8")
    return path, written


def test_gpx_round_trip_keeps_points_and_times(engine, tmp_path) -> None:
    adcode = "990511"
    load_county(engine, adcode)
    path, written = gpx_file(tmp_path / "device7.gpx")
    assert detect_kind(path) == "tracks"
    rep = import_patrol_file(engine, path, adcode=adcode)
    assert (rep.features, rep.inserted, rep.rejected, rep.source) == (2, 2, 0, "device7")
    with engine.connect() as conn:
        df = patrols_frame(conn, adcode, with_m=True)
    assert df["source_id"].tolist() == ["trk-1", "trk-2"]
    assert df["team"].tolist() == ["巡逻一队"] * 2 and df["name"].tolist() == ["巡逻1", "巡逻2"]
    for (_, row), pts in zip(df.iterrows(), written, strict=True):
        coords = shapely.get_coordinates(row.geometry)
        assert np.allclose(coords, [(x, y) for x, y, _ in pts], rtol=0, atol=1e-9)
        times = track_times(row.geometry)
        assert [t.to_pydatetime() for t in times] == [t for _, _, t in pts]
        assert row["started_at"] == pts[0][2] and row["ended_at"] == pts[-1][2]
        assert row["n_points"] == len(pts)
    assert shapely.get_num_geometries(df.geometry.iloc[1]) == 2  # the 1-point segment dropped
    # starts 09:30 and 23:30 Beijing time, each lasting ~6 min: the second is a night patrol
    assert df["night"].tolist() == [False, True]
    # the length is the geodesic length of its parts
    geod = tr.GEOD
    parts = shapely.get_parts(df.geometry.iloc[0])
    want = sum(geod.line_length(*shapely.get_coordinates(p).T) for p in parts)
    assert df["length_m"].iloc[0] == pytest.approx(want, rel=1e-9)

    again = import_patrol_file(engine, path, adcode=adcode)
    assert (again.inserted, again.duplicates) == (0, 2)
    assert count_rows(engine, "patrol", adcode) == 2


def test_night_flag_of_gpx_tracks(engine, tmp_path) -> None:
    adcode = "990512"
    load_county(engine, adcode)
    g = gpxpy.gpx.GPX()
    for n, start in enumerate([datetime(2021, 4, 6, 22, 40, tzinfo=TZ),
                               datetime(2021, 4, 6, 19, 0, tzinfo=TZ)]):
        trk = gpxpy.gpx.GPXTrack()
        seg = gpxpy.gpx.GPXTrackSegment()
        trk.segments.append(seg)
        g.tracks.append(trk)
        for k in range(3):  # 40 min apart: spans 22:40–00:00 and 19:00–20:20
            seg.points.append(gpxpy.gpx.GPXTrackPoint(Y0 + 0.01, X0 + 0.01 + 0.001 * (k + n),
                                                      time=start + timedelta(minutes=40 * k)))
    path = tmp_path / "nights.gpx"
    path.write_text(g.to_xml(), encoding="utf-8")
    import_patrol_file(engine, path, adcode=adcode)
    with engine.connect() as conn:
        df = patrols_frame(conn, adcode)
    assert df.set_index("source_id")["night"].to_dict() == {"trk-1": True, "trk-2": False}


def test_bad_features_are_rejected_with_their_number(engine, tmp_path) -> None:
    adcode = "990513"
    load_county(engine, adcode)
    good = [[X0 + 0.01, Y0 + 0.01], [X0 + 0.012, Y0 + 0.01], [X0 + 0.014, Y0 + 0.011]]
    times = ["2021-04-06 08:00:00", "2021-04-06 08:01:00", "2021-04-06 08:02:00"]
    feats = [
        {"type": "Feature", "properties": {"id": "ok-1", "times": times},
         "geometry": {"type": "LineString", "coordinates": good}},
        {"type": "Feature", "properties": {"id": "back", "times": [times[0], times[2], times[1]]},
         "geometry": {"type": "LineString", "coordinates": good}},
        {"type": "Feature", "properties": {"id": "pt", "times": times[:1]},
         "geometry": {"type": "Point", "coordinates": good[0]}},
        {"type": "Feature", "properties": {"id": "short", "times": times[:2]},
         "geometry": {"type": "LineString", "coordinates": good}},
        {"type": "Feature", "properties": {"id": "future", "times": ["2999-01-01 00:00"] * 3},
         "geometry": {"type": "LineString", "coordinates": good}},
        {"type": "Feature", "properties": {"id": "ok-1", "times": times},
         "geometry": {"type": "LineString", "coordinates": good}},
        {"type": "Feature", "properties": {"id": "zero", "times": times},
         "geometry": {"type": "LineString", "coordinates": [[0, 0], [0, 0], [0, 0]]}},
    ]
    path = write_fc(tmp_path / "mixed.geojson", feats)
    with pytest.raises(FeatureRejected, match="6 of 7 feature.*nothing was stored"):
        import_patrol_file(engine, path, adcode=adcode, strict=True)
    assert count_rows(engine, "patrol", adcode) == 0
    rej = pd.read_csv(tmp_path / "mixed.rejected.csv", encoding="utf-8-sig")
    assert rej["feature"].tolist() == [2, 3, 4, 5, 6, 7]
    assert rej["code"].tolist() == ["time_backwards", "bad_geometry", "bad_time", "future_time",
                                    "duplicate_id", "bad_coordinates"]
    assert "vertex 3" in rej["reason"][0] and "Point" in rej["reason"][1]
    assert "2 value(s) for 3 vertices" in rej["reason"][2]

    rep = import_patrol_file(engine, path, adcode=adcode)  # not strict: the good one lands
    assert (rep.inserted, rep.rejected, rep.accepted) == (1, 6, 1)
    with engine.connect() as conn:
        ids = conn.execute(sa.text("select source_id from patrol where adcode = :a"),
                           {"a": adcode}).scalars().all()
    assert ids == ["ok-1"]  # nothing of the rejected features
    # a clean file removes the stale rejected file
    write_fc(path, feats[:1])
    assert import_patrol_file(engine, path, adcode=adcode).rejected_path is None
    assert not (tmp_path / "mixed.rejected.csv").exists()


def test_a_failure_while_storing_leaves_nothing(engine, tmp_path, monkeypatch) -> None:
    adcode = "990514"
    load_county(engine, adcode)
    path, _ = gpx_file(tmp_path / "crash.gpx")
    calls = {"n": 0}
    real = tr.ewkb_point

    def flaky(x: float, y: float, srid: int = 4490) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            msg = "disk full"
            raise OSError(msg)
        return real(x, y, srid)

    monkeypatch.setattr(tr, "ewkb_point", flaky)
    with pytest.raises(OSError, match="disk full"):
        import_patrol_file(engine, path, adcode=adcode)
    assert count_rows(engine, "patrol", adcode) == 0
    monkeypatch.setattr(tr, "ewkb_point", real)
    assert import_patrol_file(engine, path, adcode=adcode).inserted == 2


def test_gcj02_tracks_are_converted_and_unreadable_files_refused(engine, tmp_path) -> None:
    adcode = "990515"
    load_county(engine, adcode)
    lon = np.array([X0 + 0.01, X0 + 0.02, X0 + 0.03])
    lat = np.array([Y0 + 0.01, Y0 + 0.011, Y0 + 0.012])
    gx, gy = wgs84_to_gcj02(lon, lat)
    t = 1617670000.0
    path = write_fc(tmp_path / "amap.geojson", [{
        "type": "Feature", "properties": {},
        "geometry": {"type": "LineString", "coordinates": [
            [float(a), float(b), 0.0, (t + 60 * k) * 1000]
            for k, (a, b) in enumerate(zip(gx, gy, strict=True))]}}])
    rep = import_patrol_file(engine, path, adcode=adcode, crs="gcj02")
    assert (rep.inserted, rep.crs) == (1, "gcj02")
    with engine.connect() as conn:
        df = patrols_frame(conn, adcode, with_m=True)
    c = shapely.get_coordinates(df.geometry.iloc[0], include_m=True)
    assert np.allclose(c[:, 0], lon, atol=1e-8) and np.allclose(c[:, 1], lat, atol=1e-8)
    assert c[:, 2].tolist() == [t, t + 60, t + 120]  # epoch milliseconds read as such
    assert df["source_id"].iloc[0] == "feature-1"
    bad = tmp_path / "broken.gpx"
    bad.write_text("<gpx><trk>", encoding="utf-8")
    with pytest.raises(InputFileError, match="broken.gpx"):
        import_patrol_file(engine, bad, adcode=adcode)


def test_checkins_link_to_patrols_by_id_or_team_and_time(engine, tmp_path) -> None:
    adcode = "990516"
    load_county(engine, adcode)
    path, written = gpx_file(tmp_path / "dev.gpx", author="甲队")
    import_patrol_file(engine, path, adcode=adcode)
    (x1, y1, t1), (x2, y2, t2) = written[0][3], written[1][2]
    local = [(t1 + timedelta(seconds=1)).astimezone(TZ), (t2 + timedelta(seconds=1)).astimezone(TZ)]
    csv = tmp_path / "taps.csv"
    csv.write_text("id,time,lon,lat,team,patrol,note\n"
                   f"k1,{local[0]:%Y-%m-%d %H:%M:%S},{x1},{y1},甲队,,自动\n"
                   f"k2,{local[1]:%Y-%m-%d %H:%M:%S},{x2},{y2},,trk-2,按编号\n"
                   f"k3,2021-04-01 08:00,{x2},{y2},甲队,,无巡逻\n"
                   f"k4,2021-04-01 08:00,abc,{y2},甲队,,\n", encoding="utf-8")
    rep = import_patrol_file(engine, csv, adcode=adcode, patrol_source="dev")
    assert (rep.inserted, rep.linked, rep.rejected) == (3, 2, 1)
    with engine.connect() as conn:
        got = dict(conn.execute(sa.text(
            "select c.source_id, p.source_id from patrol_checkin c "
            "left join patrol p on p.id = c.patrol_id where c.adcode = :a"), {"a": adcode}).all())
    assert got == {"k1": "trk-1", "k2": "trk-2", "k3": None}
    assert import_patrol_file(engine, csv, adcode=adcode, patrol_source="dev").inserted == 0


def test_publish_reassigns_patrols_from_the_effective_date(engine, tmp_path) -> None:
    """The start point decides the grid; patrols dated on/after the effective date follow
    the new grids (independent shapely check), earlier ones keep theirs."""
    adcode, a = "990517", "990517001"
    base = load_county(engine, adcode)
    rng = np.random.default_rng(11)
    n = 80
    x = rng.uniform(X0 + 0.001, X0 + 3 * D - 0.001, n)
    y = rng.uniform(Y0 + 0.001, Y0 + 2 * D - 0.001, n)
    x[:6] = [X0 + D / 2, X0 + D, X0 + D / 2, X0 + 1.5 * D, X0 + 2 * D, X0 + 0.5 * D]  # edges
    y[:6] = [Y0 + 0.5 * D, Y0 + 0.5 * D, Y0 + D, Y0 + 1.5 * D, Y0 + D, Y0 + 1.5 * D]
    x[6], y[6] = X0 - 0.01, Y0 + 0.01  # outside the county
    days = [date(2021, 3, 1) + timedelta(days=int(d)) for d in rng.integers(0, 180, n)]
    days[:3] = [date(2021, 5, 31), date(2021, 6, 1), date(2021, 6, 1)]
    feats = []
    for i in range(n):
        t0 = datetime.combine(days[i], datetime.min.time(), TZ) + timedelta(minutes=int(
            rng.integers(0, 1440)))
        if i in (1, 2):
            t0 = datetime(2021, 6, 1, 0, 0, tzinfo=TZ) + timedelta(seconds=i - 1)
        coords = [[x[i], y[i]], [x[i] + 0.02, y[i] + 0.01]]  # ends in another grid
        feats.append({"type": "Feature", "properties": {
            "id": f"p{i}", "times": [t0.isoformat(), (t0 + timedelta(minutes=30)).isoformat()]},
            "geometry": {"type": "LineString", "coordinates": coords}})
    path = write_fc(tmp_path / "year.geojson", feats)
    rep = import_patrol_file(engine, path, adcode=adcode)
    assert (rep.inserted, rep.outside) == (n, 1)

    def stored() -> pd.DataFrame:
        with engine.connect() as conn:
            return pd.DataFrame(conn.execute(sa.text(
                "select source_id, started_at, st_x(geom) as lon, st_y(geom) as lat, "
                "group_code, village_code, location_flag from patrol where adcode = :a "
                "order by id"), {"a": adcode}).mappings().all())

    with engine.connect() as conn:
        g0 = read_grids(conn, base, level=2)
    old = stored()
    assert np.allclose(old["lon"], x) and np.allclose(old["lat"], y)  # geom = start point
    assert texts(old["group_code"]) == expected_codes(g0, x, y)
    effective = date(2021, 6, 1)
    with engine.begin() as conn:
        draft = versions.new_draft(conn, adcode, actor="planner")
        edits.move_group(conn, draft, f"{a}002001", f"{a}001", actor="planner")
        edits.merge(conn, draft, [f"{a}003001", f"{a}003002"], new_code=f"{a}003900",
                    actor="planner")
        prev = publish.preview(conn, draft, effective)
        res = publish.publish(conn, draft, effective, actor="chief")
        groups = read_grids(conn, draft, level=2)
    new = stored()
    late = (new["started_at"] >= publish.start_of(effective)).to_numpy()
    assert late[[1, 2]].all() and not late[0]
    want = expected_codes(groups, x[late], y[late])
    parent = dict(zip(groups["code"], groups["parent_code"], strict=True))
    assert texts(new["group_code"][late]) == want
    assert texts(new["village_code"][late]) == [parent.get(w) for w in want]
    assert texts(new["location_flag"][late]) == ["ok" if w else "outside" for w in want]
    assert new[~late].reset_index(drop=True).equals(old[~late].reset_index(drop=True))
    changed = int(((new["group_code"].fillna("") != old["group_code"].fillna(""))
                   | (new["village_code"].fillna("") != old["village_code"].fillna(""))).sum())
    assert changed > 0
    assert res.reassigned["patrol"] == {"considered": int(late.sum()), "changed": changed}
    assert prev["reassigned"]["patrol"]["changed"] == changed
    # a patrol imported after the publish, dated before it, gets the old version's grids
    more = write_fc(tmp_path / "late_upload.geojson", [
        {**feats[10], "properties": {**feats[10]["properties"], "id": "q-old",
                                     "times": ["2021-05-01T10:00:00+08:00",
                                               "2021-05-01T10:30:00+08:00"]}},
        {**feats[10], "properties": {**feats[10]["properties"], "id": "q-new",
                                     "times": ["2021-07-01T10:00:00+08:00",
                                               "2021-07-01T10:30:00+08:00"]}}])
    import_patrol_file(engine, more, adcode=adcode)
    got = stored().set_index("source_id")
    assert got.loc["q-old", "group_code"] == expected_codes(g0, x[10:11], y[10:11])[0]
    assert got.loc["q-new", "group_code"] == expected_codes(groups, x[10:11], y[10:11])[0]


def test_no_grid_before_the_first_version(engine, tmp_path) -> None:
    adcode = "990518"
    load_county(engine, adcode)  # in force from 2021-01-01
    path = write_fc(tmp_path / "early.geojson", [{
        "type": "Feature", "properties": {"id": "e1", "times": [1577836800, 1577837400]},
        "geometry": {"type": "LineString", "coordinates": [[X0 + 0.01, Y0 + 0.01],
                                                          [X0 + 0.02, Y0 + 0.01]]}}])
    rep = import_patrol_file(engine, path, adcode=adcode)  # 2020-01-01
    assert (rep.inserted, rep.no_grid) == (1, 1)
    with engine.connect() as conn:
        row = conn.execute(sa.text("select village_code, location_flag from patrol "
                                   "where adcode = :a"), {"a": adcode}).one()
    assert tuple(row) == (None, "no_grid")


def test_ewkb_builder_matches_shapely() -> None:
    parts = [np.array([[100.1, 38.1, 1.6e9], [100.2, 38.2, 1.6e9 + 1.5]]),
             np.array([[100.3, 38.3, 1.7e9], [100.4, 38.4, 1.7e9 + 2], [100.5, 38.5, 1.7e9 + 3]])]
    g = shapely.from_wkb(tr.ewkb_multilinestring_m(parts))
    assert g.has_m and shapely.get_srid(g) == 4490
    assert np.array_equal(shapely.get_coordinates(g, include_m=True), np.concatenate(parts))
    want = shapely.from_wkt("MULTILINESTRING M ((100.1 38.1 1600000000, 100.2 38.2 "
                            "1600000001.5), (100.3 38.3 1700000000, 100.4 38.4 1700000002, "
                            "100.5 38.5 1700000003))")
    assert g.equals_exact(want, 0.0)
    assert json.loads(shapely.to_geojson(shapely.from_wkb(tr.ewkb_point(100.5, 38.5))))[
        "coordinates"] == [100.5, 38.5]


def test_checkins_from_gpx_waypoints_and_geojson_points(engine, tmp_path) -> None:
    adcode = "990519"
    load_county(engine, adcode)
    g = gpxpy.gpx.GPX()
    for k in range(3):
        g.waypoints.append(gpxpy.gpx.GPXWaypoint(Y0 + 0.01, X0 + 0.01 * (k + 1), name=f"桥{k}",
                                                 time=T0 + timedelta(minutes=k)))
    g.waypoints.append(gpxpy.gpx.GPXWaypoint(Y0 + 0.01, X0 + 0.01, name="无时间"))
    wpt = tmp_path / "taps.gpx"
    wpt.write_text(g.to_xml(), encoding="utf-8")
    rep = import_patrol_file(engine, wpt, kind="checkins", adcode=adcode)
    assert (rep.features, rep.inserted, rep.rejected) == (4, 3, 1)
    assert rep.rejects["feature"].tolist() == [4] and rep.rejects["code"].tolist() == ["bad_time"]
    pts = write_fc(tmp_path / "taps.geojson", [
        {"type": "Feature", "properties": {"编号": "g1", "时间": "2021-04-06 10:00",
                                           "巡逻队": "乙队", "备注": "河堤"},
         "geometry": {"type": "Point", "coordinates": [X0 + 0.015, Y0 + 0.005]}},
        {"type": "Feature", "properties": {"编号": "g2", "时间": "2021-04-06 10:05"},
         "geometry": {"type": "LineString", "coordinates": [[X0, Y0], [X0 + 0.01, Y0]]}},
        {"type": "Feature", "properties": {"编号": "g3", "时间": "2021-04-06T10:05:00Z"},
         "geometry": {"type": "Point", "coordinates": [X0 - 0.01, Y0 + 0.005]}}])
    assert detect_kind(pts) == "checkins"  # mostly points
    rep = import_patrol_file(engine, pts, adcode=adcode)
    assert (rep.inserted, rep.rejected, rep.outside) == (2, 1, 1)
    assert rep.rejects["feature"].tolist() == [2]
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select source, source_id, team, note, checked_at, village_code, group_code "
            "from patrol_checkin where adcode = :a order by source, source_id"),
            {"a": adcode}).all()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("taps", "g1", "河堤"), ("taps", "g3", None), ("taps", "wpt-1", "桥0"),
        ("taps", "wpt-2", "桥1"), ("taps", "wpt-3", "桥2")]
    assert rows[0][4] == datetime(2021, 4, 6, 2, 0, tzinfo=UTC)  # 10:00 Beijing time
    assert rows[1][4] == datetime(2021, 4, 6, 10, 5, tzinfo=UTC) and rows[1][5] is None
    assert rows[2][4] == T0
    assert rows[0][6] == f"{adcode}001001002" and rows[0][5] == f"{adcode}001001"  # east half


def test_key_areas_from_a_projected_gpkg(engine, tmp_path) -> None:
    import geopandas as gpd
    import pyproj

    adcode = "990520"
    load_county(engine, adcode)
    to_m = pyproj.Transformer.from_crs(4326, 32647, always_xy=True)
    e, n = to_m.transform(X0 + 0.01, Y0 + 0.01)
    sq = [shapely.box(e, n, e + 100, n + 100), shapely.box(e + 300, n, e + 400, n + 50)]
    bow = shapely.Polygon([(e, n + 500), (e + 100, n + 600), (e + 100, n + 500),
                           (e, n + 600), (e, n + 500)])  # self-crossing: repaired
    gdf = gpd.GeoDataFrame({"编号": ["K1", "K2", "K3"], "名称": ["集市", "学校", "渡口"],
                            "村代码": [f"{adcode}001001", f"{adcode}001001", f"{adcode}001001"],
                            "类型": ["market", "school", "other"]},
                           geometry=[*sq, bow], crs=32647)
    path = tmp_path / "areas.gpkg"
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    assert detect_kind(path) == "areas"
    rep = import_patrol_file(engine, path, adcode=adcode)
    assert (rep.kind, rep.inserted, rep.updated, rep.rejected, rep.crs) == \
        ("areas", 3, 0, 0, "EPSG:32647")
    again = import_patrol_file(engine, path, adcode=adcode)
    assert (again.inserted, again.updated) == (0, 3)  # upsert by code
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select code, kind, st_area(st_transform(geom, 32647)), st_isvalid(geom) "
            "from key_area where adcode = :a order by code"), {"a": adcode}).all()
    assert [(r[0], r[1]) for r in rows] == [("K1", "market"), ("K2", "school"), ("K3", "other")]
    assert rows[0][2] == pytest.approx(10_000, rel=1e-6) and rows[1][2] == pytest.approx(5_000,
                                                                                       rel=1e-6)
    assert rows[2][2] == pytest.approx(5_000, rel=1e-6) and all(r[3] for r in rows)
