"""Address-only reports at intake: placed by the matcher, or queued for review; accept / reject.

Runs against its own database holding the demo county's grids (and 20 demo incidents). The
known answers come from :func:`data.addresses.noisy_addresses` (the true grid of each
generated address); placements are cross-checked with PostGIS (the incident's point lies in
its grid) and with the point lookup of the version.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data.addresses import noisy_addresses
from gis import settings
from gis._errors import AddressError, NotFoundError
from gis.address import review
from gis.address.places import places_for_version, region_names
from gis.grids.lookup import lookup_for_version
from gis.incidents.intake import import_file, import_records, target
from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database

N_ADDRESSES = 200
HEADER = "编号,类型,发生时间,地址,上报人\n"


@pytest.fixture(scope="session")
def addr_db_url(demo) -> Iterator[str]:
    """A database with the demo county's grids and only 20 demo incidents (mutated here)."""
    from data.loader import load_demo

    url = with_database(database_url(),
                        f"wangge_test_address_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    try:
        load_demo(connect(url), dataclasses.replace(demo, incidents=demo.incidents.iloc[:20]))
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def aeng(addr_db_url: str):
    """Engine of :func:`addr_db_url`."""
    return connect(addr_db_url)


@pytest.fixture(scope="session")
def version_id(aeng) -> int:
    with aeng.connect() as conn:
        return target(conn)[1].version_id


def when(i: int) -> str:
    """Distinct hours (no two reports within the dedupe window), inside the demo version."""
    t = datetime.now() - timedelta(days=40) + timedelta(hours=i)
    return t.strftime("%Y-%m-%d %H:%M")


def address_csv(path: Path, addresses: list[str], prefix: str) -> Path:
    lines = [f"{prefix}{i},citizen_request,{when(i)},\"{a}\",网格员"
             for i, a in enumerate(addresses)]
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def incidents(engine, source: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.text(
            "select id, source_id, village_code, group_code, location_flag, "
            "st_x(geom) as lon, st_y(geom) as lat from incident where source = :s "
            "order by id"), {"s": source}).mappings().all())


def reviews(engine, source: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.text(
            "select * from address_review where source = :s order by id"),
            {"s": source}).mappings().all())


# --- the matcher of a stored version ---------------------------------------------------------

def test_region_names_come_from_the_cnmaps_index() -> None:
    assert region_names("620702") == ("甘肃省", "张掖市", "甘州区")
    assert region_names("999999") == ("", "", "")


def test_places_of_a_version_are_built_once_and_match_full_region_prefixes(
        aeng, version_id: int) -> None:
    with aeng.connect() as conn:
        places = places_for_version(conn, version_id)
        assert places_for_version(conn, version_id) is places  # cached per version
        lookup = lookup_for_version(conn, version_id)
    m = places.match_many(["甘肃省张掖市甘州区党寨镇李寨村三社"])[0]
    assert (m.status, m.code, m.level) == ("matched", "620702105201003", "group")
    assert places.grid_codes(m.code) == ("620702105201", "620702105201003")
    # the representative point of every grid lies in it: groups by the lookup …
    codes = np.array([c for c, lv in places.levels.items() if lv == 2], dtype=object)
    pts = np.array([places.point(c) for c in codes])
    pos = lookup.locate(pts[:, 0], pts[:, 1])
    assert (lookup.group_codes[pos] == codes).all()
    # … villages in one of their own groups
    vcodes = np.array([c for c, lv in places.levels.items() if lv == 1], dtype=object)
    vpts = np.array([places.point(c) for c in vcodes])
    vpos = lookup.locate(vpts[:, 0], vpts[:, 1])
    assert (lookup.village_codes[vpos] == vcodes).all()
    with pytest.raises(AddressError, match="no village or group grid"):
        places.point("620702105")


# --- importing address-only files --------------------------------------------------------------

@pytest.fixture(scope="session")
def noisy(demo) -> pd.DataFrame:
    return noisy_addresses(demo, n=N_ADDRESSES, seed=11)


@pytest.fixture(scope="session")
def imported(aeng, noisy: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    """The noisy addresses imported once as ``t-addr`` (report, outcome per row)."""
    path = address_csv(tmp_path_factory.mktemp("addr") / "addr.csv",
                       noisy["address"].tolist(), "N")
    rep = import_file(aeng, path, source="t-addr")
    got = incidents(aeng, "t-addr").set_index("source_id")
    truth = noisy.assign(source_id=[f"N{i}" for i in range(len(noisy))]).set_index("source_id")
    df = truth.join(got, how="left")
    placed = df["location_flag"] == "address"
    is_grid = df["true_level"].isin(["village", "group"])
    exact = np.where(df["true_level"] == "group", df["group_code"] == df["true_code"],
                     df["group_code"].isna() & (df["village_code"] == df["true_code"]))
    df["outcome"] = np.select(
        [placed & exact, placed & is_grid & (df["village_code"] == df["true_code"].str[:12]),
         placed, ~placed],
        ["correct", "coarse", "wrong", "review"], "?")
    return path, rep, df


def test_address_only_rows_are_placed_or_queued_never_guessed(aeng, imported) -> None:
    _, rep, df = imported
    counts = df["outcome"].value_counts().to_dict()
    is_grid = df["true_level"].isin(["village", "group"])
    correct_share = (df.loc[is_grid, "outcome"] == "correct").mean()
    print(f"\naddress intake on {len(df)} noisy addresses: {counts}; correct among "
          f"{int(is_grid.sum())} with a true grid: {correct_share:.3f}")
    assert (rep.rows, rep.accepted, rep.rejected, rep.inserted) == (N_ADDRESSES,) * 2 + (0, 200)
    assert counts.get("wrong", 0) == 0  # nothing wrong above the threshold
    assert correct_share >= 0.95
    # rows without a grid to find (township only, made-up village, nonsense) all wait
    assert (df.loc[~is_grid, "outcome"] == "review").all()
    assert rep.placed_by_address == int((df["location_flag"] == "address").sum())
    assert rep.address_review == rep.address_review_new == int((df["outcome"] == "review").sum())
    assert rep.placed_by_address + rep.address_review == N_ADDRESSES
    assert rep.no_location == rep.address_review
    q = reviews(aeng, "t-addr")
    assert len(q) == rep.address_review and (q["status"] == "pending").all()
    assert set(q["source_id"]) == set(df.index[df["outcome"] == "review"])
    assert (df.loc[q["source_id"], "location_flag"] == "no_location").all()
    assert (df.loc[q["source_id"], "village_code"].isna()).all()
    assert q["reason"].isin(["review", "unmatched", "township"]).all()
    assert (q.loc[q["reason"] == "review", "confidence"] < settings.ADDRESS_MIN_CONFIDENCE).all()
    assert q.loc[q["reason"] == "review", "candidates"].map(len).gt(0).all()
    assert (q["incident_id"].to_numpy() ==
            df.loc[q["source_id"], "id"].to_numpy()).all()


def test_placed_incidents_lie_in_their_grid_at_its_representative_point(
        aeng, imported, version_id: int) -> None:
    with aeng.connect() as conn:
        bad = conn.execute(sa.text("""
            select i.source_id from incident i
            join grid g on g.version_id = :v and g.code = coalesce(i.group_code, i.village_code)
            where i.source = 't-addr' and i.location_flag = 'address'
              and not (st_contains(g.geom, i.geom)
                       and st_equals(i.geom, st_pointonsurface(g.geom)))"""),
            {"v": version_id}).scalars().all()
        n = conn.execute(sa.text(
            "select count(*) from incident_report r join incident i on i.source = r.source "
            "and i.source_id = r.source_id where r.source = 't-addr' and "
            "r.location_flag = i.location_flag and st_equals(r.geom, i.geom)")).scalar_one()
        raw = conn.execute(sa.text(
            "select raw -> 'intake' from incident_report where source = 't-addr' "
            "and source_id = 'N0'")).scalar_one()
    assert bad == []
    assert n == int((imported[2]["location_flag"] == "address").sum())
    assert raw["grid_version"] == version_id and "address_match" in raw


def test_reimport_adds_nothing(aeng, imported) -> None:
    path, first, _ = imported
    again = import_file(aeng, path, source="t-addr")
    assert (again.inserted, again.duplicates, again.address_review_new) == (0, N_ADDRESSES, 0)
    assert again.placed_by_address == first.placed_by_address
    assert len(incidents(aeng, "t-addr")) == N_ADDRESSES
    assert len(reviews(aeng, "t-addr")) == first.address_review


def test_reports_placed_by_address_merge_only_with_their_own_grid(aeng, tmp_path: Path) -> None:
    t = when(300)
    path = tmp_path / "same.csv"
    path.write_text(HEADER + "\n".join([
        f"S1,fire,{t},甘州区党寨镇李寨村三社,甲",
        f"S2,fire,{t},党寨李寨村3组附近,乙",        # same grid, same kind, same time: merged
        f"S3,fire,{t},党寨镇李寨村四社,丙",          # next group: its own incident
        f"S4,dispute,{t},党寨镇李寨村三社,丁",       # other kind
    ]) + "\n", encoding="utf-8")
    rep = import_file(aeng, path, source="t-addr-merge")
    assert (rep.inserted, rep.merged, rep.placed_by_address) == (3, 1, 4)
    got = incidents(aeng, "t-addr-merge").set_index("source_id")
    assert sorted(got.index) == ["S1", "S3", "S4"]
    with aeng.connect() as conn:
        n = conn.execute(sa.text(
            "select count(*) from incident_report where incident_id = :i"),
            {"i": int(got.loc["S1", "id"])}).scalar_one()
    assert n == 2


# --- review decisions ------------------------------------------------------------------------

def pending_choice(aeng, imported) -> tuple[int, str, str]:
    """(review id, source id, grid to accept) of a pending review: its true grid when it
    has one, else its best candidate."""
    _, _, df = imported
    q = reviews(aeng, "t-addr")
    q = q[q["status"] == "pending"].reset_index(drop=True)
    truth = df.loc[q["source_id"]].reset_index()
    has = truth["true_level"].isin(["village", "group"])
    i = int(np.flatnonzero(has)[0]) if has.any() else 0
    grid = truth["true_code"].iat[i] if has.any() else q["candidates"].iat[i][0]["code"]
    return int(q["id"].iat[i]), str(q["source_id"].iat[i]), str(grid)


def test_accept_places_the_incident_once(aeng, imported) -> None:
    rid, sid, grid = pending_choice(aeng, imported)
    with aeng.begin() as conn:
        res = review.accept(conn, rid, grid, "张科长")
    assert res["changed"] and res["grid_code"] == grid and res["village_code"] == grid[:12]
    got = incidents(aeng, "t-addr").set_index("source_id").loc[sid]
    assert got["location_flag"] == "address" and got["village_code"] == grid[:12]
    assert (got["group_code"] == grid) if len(grid) == 15 else pd.isna(got["group_code"])
    assert (got["lon"], got["lat"]) == pytest.approx((res["lon"], res["lat"]))
    with aeng.connect() as conn:
        row = review.get(conn, rid)
        rep_flag = conn.execute(sa.text(
            "select location_flag from incident_report where source = 't-addr' and "
            "source_id = :s"), {"s": sid}).scalar_one()
    assert (row["status"], row["grid_code"], row["reviewer"]) == ("accepted", grid, "张科长")
    assert row["decided_at"] is not None and rep_flag == "address"
    # the same decision again changes nothing; another grid is refused
    with aeng.begin() as conn:
        assert review.accept(conn, rid, grid, "李四")["changed"] is False
    other = "620702105201003" if grid != "620702105201003" else "620702105201004"
    with pytest.raises(AddressError, match="already accepted"), aeng.begin() as conn:
        review.accept(conn, rid, other, "李四")
    with aeng.connect() as conn:
        assert review.get(conn, rid)["reviewer"] == "张科长"
    # re-importing the file neither re-queues nor un-places it
    again = import_file(aeng, imported[0], source="t-addr")
    assert (again.inserted, again.address_review_new) == (0, 0)
    got2 = incidents(aeng, "t-addr").set_index("source_id").loc[sid]
    assert got2["village_code"] == grid[:12] and got2["location_flag"] == "address"


def test_accept_refuses_codes_that_are_no_grid(aeng, imported) -> None:
    q = reviews(aeng, "t-addr")
    rid = int(q.loc[q["status"] == "pending", "id"].iloc[0])
    for code, match in (("620702105", "no village or group grid"),
                        ("999", "no village or group grid")):
        with pytest.raises(AddressError, match=match), aeng.begin() as conn:
            review.accept(conn, rid, code, "张科长")
    with pytest.raises(NotFoundError, match="does not exist"), aeng.begin() as conn:
        review.accept(conn, 10**9, "620702105201", "张科长")
    with aeng.connect() as conn:
        assert review.get(conn, rid)["status"] == "pending"


def test_reject_records_who_and_why(aeng, imported) -> None:
    q = reviews(aeng, "t-addr")
    rid = int(q.loc[q["status"] == "pending", "id"].iloc[-1])
    with pytest.raises(AddressError, match="reason"), aeng.begin() as conn:
        review.reject(conn, rid, "王主任", " ")
    with aeng.begin() as conn:
        r = review.reject(conn, rid, "王主任", "外县地址")
    assert (r["status"], r["reviewer"], r["note"], r["changed"]) == \
        ("rejected", "王主任", "外县地址", True)
    with aeng.begin() as conn:
        assert review.reject(conn, rid, "王主任", "外县地址")["changed"] is False
    with pytest.raises(AddressError, match="already rejected"), aeng.begin() as conn:
        review.accept(conn, rid, "620702105201", "张科长")
    with aeng.connect() as conn:
        pend = review.list_pending(conn, "620702", limit=1000)
        flag = conn.execute(sa.text("select location_flag from incident where id = :i"),
                            {"i": int(r["incident_id"])}).scalar_one()
    assert rid not in [p["id"] for p in pend] and flag == "no_location"
    assert all(p["status"] == "pending" for p in pend)
    assert [p["id"] for p in pend] == sorted(p["id"] for p in pend)


# --- the HTTP endpoint -------------------------------------------------------------------------

@pytest.fixture
def client(aeng):
    from flask import Flask

    from gis.incidents.api import register_api

    from tests.gis.api_client import TokenClient

    app = Flask("address-test")
    register_api(app, lambda: aeng)
    return TokenClient(app.test_client(), aeng)  # sends a county-wide API token


def test_api_accepts_address_only_items(client, aeng) -> None:
    base = {"kind": "dispute", "reporter": "12345热线"}
    body = [{**base, "source_id": "H1", "occurred_at": when(400), "address": "党寨镇李寨村三社"},
            {**base, "source_id": "H2", "occurred_at": when(401),
             "address": "临泽县沙河镇新华村三社"}]
    res = client.post("/api/incidents?source=t-addr-api", json=body)
    assert res.status_code == 201, res.get_json()
    out = res.get_json()
    assert (out["placed_by_address"], out["address_review"]) == (1, 1)
    assert out["items"][0]["placement"] == "address" and "review_id" not in out["items"][0]
    rid = out["items"][1]["review_id"]
    assert out["items"][1]["placement"] == "review" and isinstance(rid, int)
    got = incidents(aeng, "t-addr-api").set_index("source_id")
    assert got.loc["H1", "group_code"] == "620702105201003"
    assert got.loc["H1", "location_flag"] == "address"
    assert got.loc["H2", "location_flag"] == "no_location"
    with aeng.connect() as conn:
        r = review.get(conn, rid)
    assert r["incident_id"] == int(got.loc["H2", "id"]) and r["source_id"] == "H2"
    again = client.post("/api/incidents?source=t-addr-api", json=body).get_json()
    assert [i["status"] for i in again["items"]] == ["duplicate", "duplicate"]
    assert again["items"][1]["review_id"] is None  # queued before, not by this request
    assert len(reviews(aeng, "t-addr-api")) == 1


def test_import_records_matches_import_file(aeng) -> None:
    rep = import_records(aeng, [{"source_id": "R1", "kind": "fire", "occurred_at": when(500),
                                 "address": "甘州区党寨镇陈寨村三社", "reporter": "甲"}],
                         source="t-addr-rec")
    assert (rep.inserted, rep.placed_by_address, rep.address_review) == (1, 0, 1)
    q = reviews(aeng, "t-addr-rec")
    cands = q["candidates"].iloc[0]
    assert q["reason"].iloc[0] == "review" and q["township_code"].iloc[0] == "620702105"
    assert [c["code"][:12] for c in cands[:2]] == ["620702105201", "620702105202"]
    assert json.dumps(cands, ensure_ascii=False)  # JSON-ready
