"""Data of the wall's analysis overlays on the demo county (no browser): road isochrones of
the police posts (nested, around their post, cached per grid version) and the patrol overlay
(tracks that ended in the last 24 hours, checked against SQL; the week's key sections), and
the callback that sends them only when switched on or changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import shapely
import sqlalchemy as sa
from dash import no_update

from dashboard import wall_layers_data as wld
from gis import settings

BAD_URL = "postgresql+psycopg://postgres@127.0.0.1:9/wangge_nowhere"
"""Nothing listens on port 9: connections are refused at once."""


def _config(url: str):
    from dashboard.app import AppConfig

    kw = {"database_url": url, "escalation_interval_s": None}
    if "auth" in {f.name for f in dataclasses.fields(AppConfig)}:
        kw["auth"] = False  # the overlays are tested without a login (test_auth tests it)
    return AppConfig(**kw)


@pytest.fixture(scope="module")
def app_on_demo(demo_db_url: str) -> Iterator[None]:
    """The wall page registered in an app on the demo database, caches cleared."""
    from dashboard import data
    from dashboard.app import create_app

    create_app(_config(demo_db_url))
    data.configure(_config(demo_db_url))
    data.clear_cache()
    yield
    from dashboard.app import AppConfig

    data.configure(AppConfig())
    data.clear_cache()


@pytest.fixture(scope="module")
def adcode(demo_engine) -> str:
    with demo_engine.connect() as conn:
        return conn.execute(sa.text("select adcode from grid_version order by id limit 1")
                            ).scalar_one()


@pytest.fixture(scope="module")
def iso(demo_engine, adcode: str) -> wld.Isochrones:
    with demo_engine.connect() as conn:
        return wld.compute_isochrones(conn, adcode)


def test_isochrones_contain_their_post_and_nest(iso: wld.Isochrones) -> None:
    assert iso.available and iso.note is None
    assert iso.minutes == tuple(settings.ISOCHRONE_MINUTES) == (10.0, 20.0)
    pp = iso.per_post
    posts = dict(zip(iso.posts["code"], iso.posts.geometry, strict=True))
    assert set(pp["post_code"]) == set(posts) and len(pp) == 2 * len(posts)
    for code, grp in pp.groupby("post_code"):
        by = dict(zip(grp["minutes"], grp.geometry, strict=True))
        assert set(by) == {10.0, 20.0}
        assert by[10.0].contains(posts[code]), code  # a post reaches where it stands
        assert by[20.0].covers(by[10.0]), code
        assert by[20.0].area > by[10.0].area
    d = dict(zip(iso.dissolved["minutes"], iso.dissolved.geometry, strict=True))
    assert d[20.0].covers(d[10.0])
    assert all(d[10.0].contains(p) for p in posts.values())
    # the areas reached in 10 minutes by road are much less than the 5 km crow-flies discs
    assert float(iso.dissolved["area_km2"].iloc[0]) < len(posts) * 3.1416 * 25


def test_wall_layer_is_the_dissolved_isochrones_drawn_without_hover(
        iso: wld.Isochrones) -> None:
    lyr = wld.isochrone_wall_layer(iso)
    assert lyr is not None and lyr.id == wld.ISOCHRONE_LAYER_ID
    assert lyr.n_features == 2 and not lyr.interactive and lyr.tooltip == () == lyr.popup
    assert [f["properties"]["minutes"] for f in lyr.data["features"]] == [20.0, 10.0]
    # the template (no data yet) has the same style and legend
    tpl = wld.isochrone_template()
    assert tpl.n_features == 0 and tpl.legend == lyr.legend
    assert tpl.style == lyr.style
    assert [e.text("zh") for e in tpl.legend] == ["10分钟车程可达", "20分钟车程可达"]
    # every ring survives the GeoJSON rounding (no ring of fewer than 4 points)
    for f in lyr.data["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid and not geom.is_empty
    assert iso.layer() is iso.layer()  # built once with the data


def test_no_network_or_no_posts_says_why(engine) -> None:
    """On the empty database: no posts, no road network."""
    with engine.connect() as conn:
        none = wld.compute_isochrones(conn, "990999")
        assert not none.available and none.note == "wall.iso.no_posts"
        assert none.layer() is None
        import geopandas as gpd

        post = gpd.GeoDataFrame({"code": ["P1"], "name": ["一所"]},
                                geometry=[shapely.Point(100.4, 38.9)], crs="EPSG:4490")
        nonet = wld.compute_isochrones(conn, "990999", posts=post)
    assert nonet.note == "wall.iso.no_network" and len(nonet.per_post) == 0


def test_isochrones_are_computed_once_per_version(app_on_demo, monkeypatch) -> None:
    from dashboard import data

    calls: list[str] = []
    real = wld.compute_isochrones

    def counting(conn, adcode, *a, **k):
        calls.append(adcode)
        return real(conn, adcode, *a, **k)

    monkeypatch.setattr(wld, "compute_isochrones", counting)
    vid = data.version_in_force()
    first = wld.isochrone_data(vid)
    assert wld.isochrone_data(vid) is first
    assert len(calls) <= 1  # 0 when an earlier test or the warm-up built it
    assert first.available


def _ended_between(engine, adcode: str, since: datetime, until: datetime) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text(
            "select id from patrol where adcode = :a and ended_at >= :s and ended_at <= :u"),
            {"a": adcode, "s": since, "u": until}).scalars())


@pytest.fixture(scope="module")
def now_mid_patrol(demo_engine, adcode: str) -> datetime:
    """A moment while the latest long patrol is under way (it started before and ends
    after): a track that has not ended yet must not be shown."""
    with demo_engine.connect() as conn:
        s, e = conn.execute(sa.text(
            "select started_at, ended_at from patrol where adcode = :a and "
            "ended_at - started_at > interval '10 minutes' order by ended_at desc limit 1"),
            {"a": adcode}).one()
    return s + (e - s) / 2


def test_patrol_tracks_are_those_that_ended_in_the_last_24_hours(
        demo_engine, adcode: str, now_mid_patrol: datetime) -> None:
    now = now_mid_patrol
    with demo_engine.connect() as conn:
        p = wld.read_patrols(conn, adcode, now=now)
        overlapping = set(conn.execute(sa.text(
            "select id from patrol where adcode = :a and ended_at >= :s and started_at < :u"),
            {"a": adcode, "s": now - timedelta(hours=24), "u": now}).scalars())
    want = _ended_between(demo_engine, adcode, now - timedelta(hours=24), now)
    got = {int(i) for i in p.tracks["id"]}
    assert want and got == want
    assert overlapping - want  # the one under way at ``now`` was left out
    assert p.hours == settings.PATROL_LAYER_HOURS == 24.0
    ended = p.tracks["ended_at"]
    assert (ended <= now).all() and (ended >= now - timedelta(hours=24)).all()
    c = p.counts
    assert c["tracks"] == len(want) and c["night"] == int(p.tracks["night"].sum())
    # another window gives other tracks and another rev
    earlier = now - timedelta(hours=30)
    with demo_engine.connect() as conn:
        q = wld.read_patrols(conn, adcode, now=earlier, week=p.week)
    assert {int(i) for i in q.tracks["id"]} == _ended_between(
        demo_engine, adcode, earlier - timedelta(hours=24), earlier)
    assert q.rev != p.rev
    with demo_engine.connect() as conn:
        assert wld.read_patrols(conn, adcode, now=now).rev == p.rev  # same data, same rev


def test_patrol_layers_split_sections_by_the_weeks_result(
        demo_engine, adcode: str, now_mid_patrol: datetime) -> None:
    from gis.patrols import compliance, week_of

    with demo_engine.connect() as conn:
        p = wld.read_patrols(conn, adcode, now=now_mid_patrol)
        table = compliance(conn, adcode, week_of(now_mid_patrol))
        n_sections = conn.execute(sa.text(
            "select count(*) from key_section where adcode = :a"), {"a": adcode}).scalar_one()
    assert p.week == week_of(now_mid_patrol)
    sec = table[table["kind"] == "section"]
    layers = {lyr.id: lyr for lyr in wld.patrol_wall_layers(p)}
    assert list(layers) == list(wld.PATROL_LAYER_IDS)
    assert layers["wall-key-sections-pass"].n_features == int(sec["passed"].sum())
    assert layers["wall-key-sections-fail"].n_features == int((~sec["passed"]).sum())
    assert (layers["wall-key-sections-pass"].n_features +
            layers["wall-key-sections-fail"].n_features) == n_sections == p.counts["sections"]
    night = int(p.tracks["night"].sum())
    assert layers["wall-patrol-tracks-night"].n_features == night
    assert layers["wall-patrol-tracks"].n_features == len(p.tracks) - night
    assert not any(lyr.interactive for lyr in layers.values())
    # the template has the same styles and legends, no features
    tpl = wld.patrol_wall_layers(wld.patrol_template())
    assert [(t.id, t.style, t.legend, t.n_features) for t in tpl] == \
        [(lyr.id, lyr.style, lyr.legend, 0) for lyr in layers.values()]


def test_load_callback_sends_data_once_and_when_changed(app_on_demo) -> None:
    from dashboard import data
    from dashboard.wall_callbacks import LOAD_OUTPUTS, load_overlays

    n = len(LOAD_OUTPUTS)
    off = load_overlays(["live", "rings"], 3, {}, "zh")
    assert len(off) == n and all(x is no_update for x in off)
    out = load_overlays(["isochrones", "patrols"], None, {}, "zh")
    iso, sections_ok, sections_bad, day, night, note, rev = out
    assert len(iso["features"]) == 2
    assert len(sections_ok["features"]) + len(sections_bad["features"]) > 0
    assert isinstance(day, dict) and isinstance(night, dict)
    assert "重点路段达标" in note
    assert rev["iso"] == data.version_in_force() and rev["patrols"]
    # the next tick: nothing changed, nothing sent
    again = load_overlays(["isochrones", "patrols"], 4, rev, "zh")
    assert all(x is no_update for x in again)
    # patrols changed (another rev): only the patrol layers and the note are sent
    changed = load_overlays(["isochrones", "patrols"], 5, rev | {"patrols": "old"}, "en")
    assert changed[0] is no_update and changed[1] is not no_update
    assert "key sections met" in changed[5] and changed[6]["patrols"] == rev["patrols"][:-2] + "en"


def test_load_callback_keeps_the_map_when_the_database_is_down(app_on_demo,
                                                             demo_db_url: str) -> None:
    from dashboard import data
    from dashboard.wall_callbacks import load_overlays

    data.configure(_config(BAD_URL))
    data.clear_cache()
    try:
        out = load_overlays(["isochrones", "patrols"], 6, {}, "zh")
    finally:
        data.configure(_config(demo_db_url))
        data.clear_cache()
    assert all(x is no_update for x in out)
