"""The analysis layers of the review page and the weekly briefing on the demo county: road
isochrones on the response-standard map, the patrol map of the period's last week (checked
against SQL), the review map's switchable overlays, and the viewer's store kept with the
briefing, never in the base that every user shares.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.report import map_layers


@pytest.fixture(scope="module")
def period(demo_engine):
    from dashboard.review_period import latest_full_week

    with demo_engine.connect() as conn:
        return latest_full_week(conn, None)


@pytest.fixture(scope="module")
def county(demo_engine, period):
    from dashboard.report.briefing import build_briefing

    return build_briefing(demo_engine, None, period)


@pytest.fixture(scope="module")
def township(demo_engine, period, county):
    from dashboard.report.briefing import build_briefing

    with demo_engine.connect() as conn:
        town = conn.execute(sa.text(
            "select township_code from patrol p join grid g on g.code = p.village_code "
            "group by 1 order by count(*) desc limit 1")).scalar_one()
    return build_briefing(demo_engine, town, period, base=county.base)


def test_store_travels_with_the_briefing_not_the_shared_base(county, demo_engine) -> None:
    assert county.standards.store is not None
    assert str(county.standards.store.url) == str(demo_engine.url)
    assert not any(isinstance(v, Engine) for v in county.base.cache.values())


def test_response_standard_map_has_the_road_isochrones(county) -> None:
    iso = county.standards.isochrones
    assert county.standards.road and iso is not None and iso.available
    layers, _fit = map_layers.reach_layers(county)
    ids = [lyr.id for lyr in layers]
    assert "review-isochrones" in ids and "rings" in ids
    assert ids.index("review-isochrones") < ids.index("rings")  # rings drawn over them
    lyr = layers[ids.index("review-isochrones")]
    posts = set(county.base.posts["code"])
    feats = [f["properties"] for f in lyr.data["features"]]
    assert {p["post_code"] for p in feats} == posts
    assert {p["minutes"] for p in feats} == {10.0, 20.0}
    assert [e.text("zh") for e in lyr.legend] == ["10分钟车程可达", "20分钟车程可达"]
    assert lyr.popup and lyr.interactive  # post, minutes, area on click
    assert map_layers.isochrone_layer(county) is lyr  # built once per base


def _sections_passed(engine, adcode: str, week: str, prefix: str | None) -> tuple[int, int]:
    from gis.patrols import compliance

    with engine.connect() as conn:
        t = compliance(conn, adcode, week)
    t = t[t["kind"] == "section"]
    if prefix:
        t = t[t["village_code"].astype(str).str.startswith(prefix)]
    return int(t["passed"].sum()), int((~t["passed"].astype(bool)).sum())


def _week_tracks(engine, adcode: str, week: str, prefix: str | None) -> int:
    from gis.patrols import parse_week

    start, end = parse_week(week)
    with engine.connect() as conn:
        return int(conn.execute(sa.text(
            "select count(*) from patrol where adcode = :a and started_at >= :s and "
            "started_at < :e and (cast(:p as text) is null or village_code like :p || '%')"),
            {"a": adcode, "s": start, "e": end, "p": prefix}).scalar_one())


@pytest.mark.parametrize("which", ["county", "township"])
def test_patrol_map_of_the_last_week_matches_sql(which: str, county, township,
                                                 demo_engine) -> None:
    b = county if which == "county" else township
    prefix = None if which == "county" else b.area.code
    week = map_layers.last_week(b)
    assert week == f"{b.period.year}-W{b.period.week:02d}"
    layers, fit = map_layers.patrol_layers(b, b.standards.store)
    by_id = {lyr.id: lyr for lyr in layers}
    ok, bad = _sections_passed(demo_engine, b.base.adcode, week, prefix)
    assert by_id["review-key-sections-pass"].n_features == ok
    assert by_id["review-key-sections-fail"].n_features == bad
    n = by_id["review-patrol-tracks"].n_features + by_id["review-patrol-tracks-night"].n_features
    assert n == _week_tracks(demo_engine, b.base.adcode, week, prefix) > 0
    assert [lyr.id for lyr in layers][-4:] == ["review-key-sections-pass",
                                                "review-key-sections-fail",
                                                "review-patrol-tracks",
                                                "review-patrol-tracks-night"]
    assert len(fit) == 1 and fit[0] is layers[0]
    assert map_layers.patrol_layers(b, None) == ([], [])  # no store, no map


def test_township_isochrones_are_those_near_it(county, township) -> None:
    whole = map_layers.isochrone_layer(county)
    near = map_layers.isochrone_layer(township, township.base.villages[
        township.base.villages["township_code"] == township.area.code].total_bounds)
    assert near is not None and 0 < near.n_features < whole.n_features


def test_review_map_overlays_start_off_with_hidden_legends(county) -> None:
    import dash_leaflet as dl

    from dashboard import review_view

    box = review_view.review_map(county, "gi", "zh")
    the_map, legend = box.children
    ctrl = next(c for c in the_map.children if isinstance(c, dl.LayersControl))
    assert ctrl.id == review_view.LAYERS_ID
    names = {o.name: o.checked for o in ctrl.children}
    for name in ("派出所车程等时圈", "响应圈（5/10公里）", "重点路段（巡逻未达标）",
                 "巡逻轨迹（日间）", "派出所 / 警务室"):
        assert names[name] is False, name
    assert names["热点分析 Gi*（本期）"] is True
    extra = [c for c in legend.children if isinstance(getattr(c, "id", None), dict)]
    assert {c.id["name"] for c in extra} >= {"派出所车程等时圈", "巡逻轨迹（日间）"}
    assert all(c.id["type"] == review_view.OVERLAY_LEGEND and c.style == {"display": "none"}
               for c in extra)
