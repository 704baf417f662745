"""The demo's patrols: loaded by the demo loader, deterministic, mixed outcomes, and the
section rule cross-checked against PostGIS on a whole demo week."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from data.patrols import build_patrols
from gis import settings
from gis.crs import to_metric
from gis.patrols.compliance import (
    compliance,
    compliance_frame,
    section_shares,
    village_night_patrols,
)
from gis.patrols.compliance import summary as csummary
from gis.patrols.places import known_villages, places_frame
from gis.patrols.queries import recent_tracks
from gis.patrols.times import last_complete_week, parse_week
from layers.patrols import patrol_layers

ADCODE = settings.DEMO_ADCODE


@pytest.fixture(scope="module")
def week(demo) -> str:
    return last_complete_week(datetime.fromisoformat(demo.meta["end"]))


def test_demo_patrols_are_loaded_and_deterministic(demo, demo_engine) -> None:
    a, b = build_patrols(demo), build_patrols(demo)
    assert a.tracks.drop(columns="parts").equals(b.tracks.drop(columns="parts"))
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a.tracks["parts"], b.tracks["parts"],
                                                          strict=True))
    assert a.sections.geometry.equals(b.sections.geometry)
    with demo_engine.connect() as conn:
        n = dict(conn.execute(sa.text(
            "select 'areas', count(*) from key_area where adcode = :a union all "
            "select 'sections', count(*) from key_section where adcode = :a union all "
            "select 'patrols', count(*) from patrol where adcode = :a union all "
            "select 'checkins', count(*) from patrol_checkin where adcode = :a union all "
            "select 'linked', count(patrol_id) from patrol_checkin where adcode = :a union all "
            "select 'ok', count(*) from patrol where adcode = :a and location_flag = 'ok'"),
            {"a": ADCODE}).all())
        villages = known_villages(conn, ADCODE)
    assert (n["areas"], n["sections"]) == (2 * len(villages), len(villages)) == (496, 248)
    assert n["patrols"] == len(a.tracks) == n["ok"]
    assert n["checkins"] == len(a.checkins) and 0 < n["linked"] < n["checkins"]


def test_demo_week_has_mixed_outcomes(demo_engine, week: str) -> None:
    with demo_engine.connect() as conn:
        table = compliance(conn, ADCODE, week)
        nights = village_night_patrols(conn, ADCODE, week)
    s = csummary(table, nights, week)
    assert 0.2 * 248 < s["sections_passed"] < 0.8 * 248
    assert 0.2 * 496 < s["areas_passed"] < 0.8 * 496
    assert s["night_patrols"] > 50 and 0 < s["villages_with_night_patrols"] < 248
    sec = table[table["kind"] == "section"]
    assert (sec["count"] >= 3).sum() == sec["passed"].sum()
    # partial runs exist: sections patrolled but no patrol of the week covered 80 %
    assert ((sec["best_share"] > 0.3) & (sec["best_share"] < settings.PATROL_SECTION_MIN_SHARE)
            & (sec["count"] == 0)).any()
    # tracks start at the populated centre, inside the first key area of their village:
    # every patrol of a village counts for that area
    area1 = table[(table["kind"] == "area") & table["code"].str.endswith("-A1")]
    per_village = nights.set_index("village_code")["patrols"]
    assert (area1["count"].to_numpy() >= area1["village_code"].map(per_village).to_numpy()).all()


def test_section_rule_matches_postgis(demo_engine, week: str) -> None:
    """Independent check: the share of every (section, patrol) pair of a demo week computed
    by PostGIS (ST_Buffer / ST_Intersection in EPSG:32647) equals shapely's."""
    start, end = parse_week(week)
    with demo_engine.connect() as conn:
        sql = pd.DataFrame(conn.execute(sa.text("""
            with s as (select id, st_transform(geom, 32647) g from key_section
                       where adcode = :a),
                 p as (select id, st_transform(st_force2d(track), 32647) g from patrol
                       where adcode = :a and started_at >= :s and started_at < :e)
            select s.id as section_id, p.id as patrol_id,
                   st_length(st_intersection(s.g, st_buffer(p.g, 30, 'quad_segs=16')))
                   / st_length(s.g) as share
            from s join p on st_dwithin(s.g, p.g, 30)"""),
            {"a": ADCODE, "s": start, "e": end}).all(),
            columns=["section_id", "patrol_id", "share"])
        secs = places_frame(conn, ADCODE, "sections")
        trk = pd.DataFrame(conn.execute(sa.text(
            "select id, st_asbinary(st_force2d(track)) from patrol where adcode = :a and "
            "started_at >= :s and started_at < :e order by id"),
            {"a": ADCODE, "s": start, "e": end}).all(), columns=["id", "wkb"])
        table = compliance(conn, ADCODE, week).set_index(["kind", "id"])
    geoms = np.concatenate([np.asarray(secs.geometry.values, dtype=object),
                            shapely.from_wkb([bytes(b) for b in trk["wkb"]])])
    m, crs = to_metric(geoms)
    assert crs.to_epsg() == 32647
    si, ti, share = section_shares(m[:len(secs)], m[len(secs):], 30.0)
    py = pd.DataFrame({"section_id": secs["id"].to_numpy()[si],
                       "patrol_id": trk["id"].to_numpy()[ti], "share": share})
    both = sql.merge(py, on=["section_id", "patrol_id"], how="outer", suffixes=("_sql", "_py"))
    assert len(both) == len(sql) == len(py) > 500
    assert np.allclose(both["share_sql"], both["share_py"], atol=2e-3)
    counted = sql[sql["share"] >= settings.PATROL_SECTION_MIN_SHARE].groupby("section_id").size()
    got = table.loc["section", "count"]
    assert got.reindex(counted.index).tolist() == counted.tolist()
    assert (got.drop(counted.index) == 0).all()


def test_demo_map_layers(demo, demo_engine, week: str) -> None:
    end = datetime.fromisoformat(demo.meta["end"])
    with demo_engine.connect() as conn:
        recent = recent_tracks(conn, ADCODE, now=end)
        table = compliance_frame(conn, ADCODE, week)
        names = known_villages(conn, ADCODE)
    assert 0 < len(recent) < 300
    assert (recent["ended_at"] >= pd.Timestamp(end) - pd.Timedelta(hours=24)).all()
    layers = patrol_layers(recent, table, village_names=names)
    by_id = {lyr.id: lyr for lyr in layers}
    assert by_id["key-areas"].n_features == 496
    assert by_id["key-sections-pass"].n_features + by_id["key-sections-fail"].n_features == 248
    assert by_id["patrol-tracks"].n_features + by_id["patrol-tracks-night"].n_features == \
        len(recent)
    assert by_id["patrol-tracks-night"].n_features > 0
