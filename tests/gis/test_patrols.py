"""Patrol compliance with known answers: a hand-built 1,000 m key road section and tracks.

Geometry is built in metres in UTM zone 47N (EPSG:32647, where the hand-built counties of
:mod:`tests.gis.test_planning` lie) and converted to lon/lat, so the distances and shares
are exact by construction. Counties use adcodes 9905xx of the shared empty database.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyproj
import pytest
import shapely
import sqlalchemy as sa

from gis import settings
from gis._errors import FeatureRejected, PatrolError
from gis.patrols.compliance import (
    compliance,
    section_shares,
    summary,
    village_night_patrols,
)
from gis.patrols.importer import import_patrol_file
from gis.patrols.times import is_night, last_complete_week, parse_week, week_of
from tests.gis.test_planning import load_county

TZ = ZoneInfo("Asia/Shanghai")
UTM = pyproj.CRS.from_epsg(32647)
TO_LL = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True)
TO_M = pyproj.Transformer.from_crs(4326, UTM, always_xy=True)
E0, N0 = TO_M.transform(100.405, 38.905)
"""South-west end of the test section (inside village 001 of a hand-built county)."""
SECTION_M = 1000.0
STEP_M, STEP_S = 50.0, 10.0


def ll(xy_m: np.ndarray) -> list[list[float]]:
    """Metric offsets from (E0, N0) → [[lon, lat], ...]."""
    x, y = TO_LL.transform(E0 + xy_m[:, 0], N0 + xy_m[:, 1])
    return [[float(a), float(b)] for a, b in zip(x, y, strict=True)]


def along(x0: float, x1: float, dy: float) -> np.ndarray:
    """Points every 50 m from x0 to x1 (metres along the section) at offset dy."""
    n = round((x1 - x0) / STEP_M) + 1
    return np.column_stack([np.linspace(x0, x1, n), np.full(n, dy)])


def track_feature(sid: str, xy_m: np.ndarray, start: datetime, team: str = "一队",
                  epoch4: bool = False) -> dict:
    """A GeoJSON track: times in a 'times' property (ISO, +08:00) or as a 4th coordinate."""
    coords = ll(xy_m)
    times = [start + timedelta(seconds=STEP_S * k) for k in range(len(coords))]
    props = {"id": sid, "team": team}
    if epoch4:
        coords = [[*c, 1500.0, t.timestamp()] for c, t in zip(coords, times, strict=True)]
    else:
        props["times"] = [t.isoformat() for t in times]
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "LineString", "coordinates": coords}}


def write_fc(path: Path, feats: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats},
                               ensure_ascii=False), encoding="utf-8")
    return path


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2021, month, day, hour, 0, tzinfo=TZ)


def count_rows(engine, table: str, adcode: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {table} where adcode = :a"),
                            {"a": adcode}).scalar_one()


# --- pure geometry: the section rule ------------------------------------------------------

def test_section_share_known_answers() -> None:
    section = np.array([shapely.LineString([(0, 0), (1000, 0)])], dtype=object)
    tracks = np.array([shapely.LineString([(0, 20), (850, 20)]),      # 85 % at 20 m
                       shapely.LineString([(0, 20), (750, 20)]),      # 75 % at 20 m
                       shapely.LineString([(-100, 40), (1100, 40)]),  # parallel at 40 m
                       shapely.LineString([(500, -300), (500, 300)])],  # crossing
                      dtype=object)
    si, ti, share = section_shares(section, tracks, 30.0)
    got = dict(zip(ti.tolist(), share.tolist(), strict=True))
    cap = np.sqrt(30.0 ** 2 - 20.0 ** 2)  # the round end of the corridor reaches 22.4 m on
    assert set(si.tolist()) == {0}
    assert got[0] == pytest.approx((850 + cap) / 1000, abs=1e-4)
    assert got[1] == pytest.approx((750 + cap) / 1000, abs=1e-4)
    assert 2 not in got  # never within 30 m
    assert got[3] == pytest.approx(60 / 1000, abs=1e-4)
    assert got[0] >= 0.8 > got[1]


def test_week_and_night_rules() -> None:
    s, e = parse_week("2026-W47")
    assert (s.isoformat(), e.isoformat()) == ("2026-11-16T00:00:00+08:00",
                                              "2026-11-23T00:00:00+08:00")
    assert week_of(datetime(2026, 11, 22, 23, 59, tzinfo=TZ)) == "2026-W47"
    assert week_of(datetime(2026, 11, 22, 16, 0, tzinfo=ZoneInfo("UTC"))) == "2026-W48"
    assert last_complete_week(datetime(2026, 11, 26, 9, 0, tzinfo=TZ)) == "2026-W47"
    assert parse_week("2020-W53")[0].date().isoformat() == "2020-12-28"
    for bad in ("2026-47", "2026-W54", "2021-W53", "W47"):
        with pytest.raises(PatrolError, match="week"):
            parse_week(bad)
    starts = [at(9, 20), at(9, 18), at(9, 23), at(10, 5), at(10, 6)]
    ends = [s + timedelta(hours=h) for s, h in zip(starts, [4, 4.9, 1, 0.5, 1], strict=True)]
    # middles: 22:00 (night), 20:27 (day), 23:30, 05:15 (night), 06:30 (day)
    assert is_night(starts, ends).tolist() == [True, False, True, True, False]


# --- against the store ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def sec_county(engine, tmp_path_factory):
    """County 990501 with the 1,000 m section S1, a key area A1 over its last 100 m and
    the tracks of weeks 2021-W10 and W11 imported from GeoJSON."""
    adcode, v1 = "990501", "990501001001"
    load_county(engine, adcode)
    d = tmp_path_factory.mktemp("patrols")
    sec = write_fc(d / "sections.geojson", [{
        "type": "Feature", "properties": {"code": "S1", "name": "村道一段", "village_code": v1},
        "geometry": {"type": "LineString", "coordinates": ll(along(0, SECTION_M, 0))}}])
    box_m = np.array([[900, -50], [1000, -50], [1000, 50], [900, 50], [900, -50]], float)
    area = write_fc(d / "areas.geojson", [{
        "type": "Feature", "properties": {"编号": "A1", "名称": "桥头", "所属村": v1,
                                          "类型": "river_bank"},
        "geometry": {"type": "Polygon", "coordinates": [ll(box_m)]}}])
    feats = [  # week 2021-W10: Monday 8 March
        track_feature("P1", along(0, 850, 20), at(9, 9)),
        track_feature("P2", along(0, 850, -20)[::-1], at(9, 15), epoch4=True),
        track_feature("P3", along(-200, 1100, 0), at(10, 23), team="二队"),
        track_feature("P4", along(0, 750, 20), at(11, 9)),
        track_feature("P5", along(-100, 1100, 40), at(12, 9)),
        # week W11: two patrols that count, one that does not
        track_feature("P6", along(0, 850, 20), at(15, 9)),
        track_feature("P7", along(0, 1000, 0), at(16, 9)),
        track_feature("P8", along(0, 700, 0), at(17, 9)),
    ]
    trk = write_fc(d / "tracks.geojson", feats)
    reps = [import_patrol_file(engine, p, adcode=adcode) for p in (sec, area, trk)]
    ck = d / "checkins.csv"
    inside = ll(np.array([[950.0, 10.0], [960.0, -10.0], [955.0, 0.0], [100.0, 300.0]]))
    ck.write_text("编号,时间,经度,纬度,队伍,巡逻编号\n"
                  f"C1,2021-03-13 10:00,{inside[0][0]},{inside[0][1]},三队,\n"
                  f"C2,2021-03-13 11:00,{inside[1][0]},{inside[1][1]},三队,\n"
                  f"C3,2021-03-10 23:02,{inside[2][0]},{inside[2][1]},二队,P3\n"
                  f"C4,2021-03-13 12:00,{inside[3][0]},{inside[3][1]},三队,\n",
                  encoding="utf-8")
    reps.append(import_patrol_file(engine, ck, adcode=adcode, patrol_source="tracks"))
    return adcode, reps


def test_imports_of_the_fixture(sec_county) -> None:
    _, (sec, area, trk, ck) = sec_county
    assert (sec.kind, sec.inserted, sec.rejected) == ("sections", 1, 0)
    assert (area.kind, area.inserted, area.rejected) == ("areas", 1, 0)
    assert (trk.kind, trk.features, trk.inserted, trk.rejected, trk.outside) == \
        ("tracks", 8, 8, 0, 0)
    assert (ck.kind, ck.inserted, ck.linked) == ("checkins", 4, 1)


def test_section_counts_only_tracks_along_80_percent(engine, sec_county) -> None:
    adcode, _ = sec_county
    with engine.connect() as conn:
        w10 = compliance(conn, adcode, "2021-W10").set_index("code")
        w11 = compliance(conn, adcode, "2021-W11").set_index("code")
        ids = dict(conn.execute(sa.text("select source_id, id from patrol where adcode = :a"),
                                {"a": adcode}).all())
        length = conn.execute(sa.text("select length_m from key_section where code = 'S1' "
                                      "and adcode = :a"), {"a": adcode}).scalar_one()
    assert length == pytest.approx(SECTION_M, abs=0.05)
    s = w10.loc["S1"]
    assert s["patrols"] == sorted(ids[p] for p in ("P1", "P2", "P3"))  # not P4 (75 %), P5 (40 m)
    assert (s["count"], s["required"], bool(s["passed"]), s["night"]) == (3, 3, True, 1)
    assert s["best_share"] == pytest.approx(1.0)
    s11 = w11.loc["S1"]
    assert s11["patrols"] == sorted(ids[p] for p in ("P6", "P7"))  # P8 covers 72 %
    assert (s11["count"], bool(s11["passed"])) == (2, False)
    assert s11["village_name"] == "村1"
    with engine.connect() as conn:
        strict = compliance(conn, adcode, "2021-W10", min_share=0.9).set_index("code")
        wide = compliance(conn, adcode, "2021-W10", buffer_m=45.0).set_index("code")
        two = compliance(conn, adcode, "2021-W11", required=2).set_index("code")
    assert strict.loc["S1", "patrols"] == [ids["P3"]]  # 87 % no longer enough
    assert ids["P5"] in wide.loc["S1", "patrols"]  # 40 m inside a 45 m corridor
    assert bool(two.loc["S1", "passed"])


def test_area_counts_tracks_entering_and_checkins(engine, sec_county) -> None:
    adcode, _ = sec_county
    with engine.connect() as conn:
        w10 = compliance(conn, adcode, "2021-W10").set_index("code")
        ids = dict(conn.execute(sa.text("select source_id, id from patrol where adcode = :a"),
                                {"a": adcode}).all())
    a = w10.loc["A1"]
    # P3 and P5 enter (P1, P2 end at 850 m, P4 at 750 m); C1 + C2 (team 三队, same day) are
    # one more visit; C3 belongs to P3 (counted once); C4 is outside the area
    assert a["patrols"] == sorted([ids["P3"], ids["P5"]])
    assert (a["count"], bool(a["passed"]), a["night"], a["area_kind"]) == (3, True, 1, "river_bank")
    old = settings.PATROL_CHECKIN_DEDUPE
    try:
        settings.PATROL_CHECKIN_DEDUPE = "each"
        with engine.connect() as conn:
            each = compliance(conn, adcode, "2021-W10").set_index("code")
    finally:
        settings.PATROL_CHECKIN_DEDUPE = old
    assert each.loc["A1", "count"] == 4


def test_night_patrols_per_village_and_summary(engine, sec_county) -> None:
    adcode, _ = sec_county
    with engine.connect() as conn:
        table = compliance(conn, adcode, "2021-W10")
        nights = village_night_patrols(conn, adcode, "2021-W10").set_index("village_code")
        nights2 = village_night_patrols(conn, adcode, "2021-W10", target=1)
    assert len(nights) == 6  # every village of the county, zero rows included
    assert (nights.loc["990501001001", "patrols"], nights.loc["990501001001", "night_patrols"]) \
        == (5, 1)  # P1..P5 start in village 1 (P3 and P5 start 200 / 100 m west, still in it)
    assert nights["passed"].isna().all()  # no target by default
    assert nights2["passed"].tolist() == [True, False, False, False, False, False]
    s = summary(table, nights, "2021-W10")
    assert (s["sections_passed"], s["sections_total"], s["areas_passed"], s["areas_total"],
            s["night_patrols"], s["patrols"]) == (1, 1, 1, 1, 1, 5)


def test_places_with_unknown_village_are_refused(engine, sec_county, tmp_path) -> None:
    adcode, _ = sec_county
    path = write_fc(tmp_path / "more_sections.geojson", [
        {"type": "Feature", "properties": {"code": "S2", "name": "好路", "village_code":
                                           "990501001002"},
         "geometry": {"type": "LineString", "coordinates": ll(along(0, 300, 500))}},
        {"type": "Feature", "properties": {"code": "S3", "name": "错村", "village_code":
                                           "990501009999"},
         "geometry": {"type": "LineString", "coordinates": ll(along(0, 300, 600))}},
        {"type": "Feature", "properties": {"code": "S4", "name": "面", "village_code":
                                           "990501001002"},
         "geometry": {"type": "Polygon", "coordinates": [ll(np.array(
             [[0, 0], [10, 0], [10, 10], [0, 0]], float))]}}])
    before = count_rows(engine, "key_section", adcode)
    with pytest.raises(FeatureRejected, match="2 of 3 feature.*nothing was stored") as e:
        import_patrol_file(engine, path, kind="sections", adcode=adcode)
    assert count_rows(engine, "key_section", adcode) == before
    assert [r[0] for r in e.value.rejects] == [2, 3]
    assert "unknown_village" in e.value.rejects[0][2]
    rej = Path(e.value.path).read_text(encoding="utf-8-sig")
    assert "990501009999" in rej and "bad_geometry" in rej


def test_a_county_without_key_places(engine) -> None:
    adcode = "990509"
    load_county(engine, adcode)
    with engine.connect() as conn:
        table = compliance(conn, adcode, "2021-W10")
        nights = village_night_patrols(conn, adcode, "2021-W10", target=2)
    assert table.empty and list(table.columns)[:4] == ["kind", "id", "code", "name"]
    assert len(nights) == 6 and (nights["night_patrols"] == 0).all()
    assert not nights["passed"].any()
    s = summary(table, nights, "2021-W10")
    assert (s["sections_total"], s["areas_total"], s["villages_night_passed"]) == (0, 0, 0)
