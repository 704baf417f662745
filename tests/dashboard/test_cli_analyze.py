"""``wangge analyze``, ``wangge network import`` and ``wangge bench analytics`` on real
databases: files written and read back, figures cross-checked independently."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
import sqlalchemy as sa
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from gis.network import graph_from_postgis
from tests.gis.network._graphs import extract_path, osm_graph

runner = CliRunner()
GEOD = pyproj.Geod(ellps="WGS84")


@pytest.fixture()
def on_demo(monkeypatch: pytest.MonkeyPatch, demo_db_url: str) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", demo_db_url)


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_gi_hotspots_file_has_one_row_per_group(on_demo, demo, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "hs.gpkg"

    res = runner.invoke(app, ["analyze", "hotspots", "--weeks", "14", "--out", str(out),
                              "--json"])

    assert res.exit_code == 0, res.output
    back = pyogrio.read_dataframe(out)
    assert len(back) == len(demo.groups)
    assert back["count"].sum() == len(demo.incidents)  # every demo incident lies in a group
    assert (back["hotspot_class"].str.startswith("hot")).sum() > 0
    assert last_json(res.output)["rows"] == len(demo.groups)


def test_unknown_method_exits_2(on_demo, tmp_path: Path) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["analyze", "hotspots", "--method", "magic", "--out",
                              str(tmp_path / "x.csv")])

    assert res.exit_code == 2 and "--method must be one of" in res.output


# --- reach ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reach_run(demo_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("reach") / "iso.geojson"
    mp = pytest.MonkeyPatch()
    mp.setattr(settings, "DATABASE_URL", demo_db_url)
    try:
        res = runner.invoke(app, ["analyze", "reach", "--minutes", "10,20", "--out", str(out),
                                  "--json"])
    finally:
        mp.undo()
    assert res.exit_code == 0, res.output
    return last_json(res.output), out


def test_reach_writes_nested_isochrones_of_every_post(reach_run: tuple, demo) -> None:  # noqa: ANN001
    summary, out = reach_run
    assert summary["network"] == "postgis" and summary["synthetic_network"] is True
    assert summary["posts"] == len(demo.posts) and summary["minutes"] == [10.0, 20.0]
    iso = pyogrio.read_dataframe(out)
    assert len(iso) == 2 * len(demo.posts)
    assert set(iso["post_code"]) == set(demo.posts["code"])
    for _, grp in iso.groupby("post_code"):
        small, large = (grp.loc[grp["minutes"] == m].geometry.iloc[0] for m in (10.0, 20.0))
        assert large.covers(small) and large.area > small.area
    # every post lies inside its own isochrone (the synthetic roads start at the posts)
    posts = demo.posts.set_index("code").geometry
    for r in iso.itertuples():
        assert r.geometry.covers(posts[r.post_code])


def test_reach_table_per_village_and_group(reach_run: tuple, demo) -> None:  # noqa: ANN001
    summary, out = reach_run
    table = pd.read_csv(Path(summary["table"]), dtype={"code": str, "township_code": str})
    assert Path(summary["table"]) == out.with_name("iso_table.csv")
    v, g = table[table["level"] == "village"], table[table["level"] == "group"]
    assert sorted(v["code"]) == sorted(demo.villages["code"])
    assert sorted(g["code"]) == sorted(demo.groups["code"])
    assert (table["meets_10"] <= table["meets_20"]).all()
    assert (table["inside_5km"] <= table["inside_10km"]).all()
    assert (table["meets_10"] == (table["road_minutes"] <= 10.0)).all()
    assert (table["inside_5km"] == (table["distance_m"] <= 5_000.0)).all()
    assert set(table["road_post"]) <= set(demo.posts["code"])
    assert summary["villages_meets_10"] == int(v["meets_10"].sum())
    # the ring distance of a village is the geodesic distance to its nearest post
    posts = demo.posts.set_index("code").geometry
    row = v.iloc[0]
    _, _, d = GEOD.inv(row["lon"], row["lat"], posts[row["nearest_post"]].x,
                       posts[row["nearest_post"]].y)
    assert d == pytest.approx(row["distance_m"], abs=0.01)
    assert d == pytest.approx(min(GEOD.inv(row["lon"], row["lat"], p.x, p.y)[2]
                                  for p in posts), abs=0.01)


def test_reach_population_shares_per_township(reach_run: tuple, demo) -> None:  # noqa: ANN001
    summary, _ = reach_run
    towns = pd.read_csv(Path(summary["townships_out"]), dtype={"township_code": str})
    table = pd.read_csv(Path(summary["table"]), dtype={"township_code": str})
    g = table[table["level"] == "group"]
    assert list(towns["township_code"]) == sorted(demo.townships["code"]) + ["all"]
    whole = towns.iloc[-1]
    assert whole["population"] == demo.groups["population"].sum()
    for flag in ("meets_10", "meets_20", "inside_5km", "inside_10km"):
        want = g.loc[g[flag], "population"].sum() / g["population"].sum()
        assert whole[f"{flag}_share"] == pytest.approx(want)
        assert summary[f"population_{flag}_share"] == pytest.approx(want, abs=1e-4)
        by_town = g.groupby("township_code").apply(
            lambda x, f=flag: x.loc[x[f], "population"].sum() / x["population"].sum())
        assert towns.set_index("township_code").loc[by_town.index, f"{flag}_share"].to_numpy() \
            == pytest.approx(by_town.to_numpy())
    assert [t["township_code"] for t in summary["townships"]] == list(towns["township_code"])


def test_reach_csv_out_keeps_the_table_there(on_demo, demo, tmp_path: Path) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["analyze", "reach", "--minutes", "15", "--out",
                              str(tmp_path / "reach.csv")])

    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "reach.csv", dtype={"code": str})
    assert len(table) == len(demo.villages) + len(demo.groups)
    assert "meets_15" in table.columns and "meets_10" not in table.columns
    iso = pyogrio.read_dataframe(tmp_path / "reach_isochrones.geojson")
    assert set(iso["minutes"]) == {15.0}
    rings = pyogrio.read_dataframe(tmp_path / "reach_rings.geojson")
    assert sorted(rings["radius_m"]) == [5_000.0, 10_000.0]
    assert "population share inside each standard" in res.output


def test_reach_with_a_network_of_elsewhere_exits_2(on_demo, tmp_path: Path) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["analyze", "reach", "--network",
                              str(extract_path("Helsinki.osm.pbf")), "--out",
                              str(tmp_path / "x.geojson")])

    assert res.exit_code == 2
    assert "does not cover county" in res.output and not (tmp_path / "x.geojson").exists()


def test_reach_unknown_output_format_exits_2_before_running(on_demo, tmp_path: Path) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["analyze", "reach", "--out", str(tmp_path / "iso.txt")])

    assert res.exit_code == 2 and "cannot tell the format" in res.output
    assert "isochrones" not in res.output  # no progress bar: nothing ran
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("minutes", ["ten", "0", "-5,10"])
def test_reach_bad_minutes_exit_2(on_demo, tmp_path: Path, minutes: str) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["analyze", "reach", "--minutes", minutes, "--out",
                              str(tmp_path / "x.geojson")])

    assert res.exit_code == 2 and "minutes" in res.output


# --- siting -----------------------------------------------------------------------------------

def test_siting_by_distance_gain_is_the_newly_covered_population(on_demo, demo,  # noqa: ANN001
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "sites.geojson"
    res = runner.invoke(app, ["analyze", "siting", "--new-posts", "2", "--km", "5", "--out",
                              str(out), "--json"])

    assert res.exit_code == 0, res.output
    s = last_json(res.output)
    assert s["by"] == "distance" and s["radius_m"] == 5_000.0 and s["status"] == "Optimal"
    sites = gpd.read_file(out)
    assert len(sites) == s["n_chosen"] == 2 and list(sites["rank"]) == [1, 2]
    # independent check: group centres within 5 km of a new site and of no existing post
    pts = shapely.point_on_surface(np.asarray(demo.groups.geometry.values))
    gx, gy = shapely.get_x(pts), shapely.get_y(pts)

    def within(px: float, py: float) -> np.ndarray:
        _, _, d = GEOD.inv(gx, gy, np.full(len(gx), px), np.full(len(gx), py))
        return np.asarray(d) <= 5_000.0

    old = np.zeros(len(gx), bool)
    for p in demo.posts.geometry:
        old |= within(p.x, p.y)
    new = np.zeros(len(gx), bool)
    for p in sites.geometry:
        new |= within(p.x, p.y)
    pop = demo.groups["population"].to_numpy(float)
    assert s["covered_before"] == pytest.approx(pop[old].sum())
    assert s["gain"] == pytest.approx(pop[new & ~old].sum())
    assert s["gain"] == pytest.approx(sites["gain_population"].sum())
    assert s["covered_after"] == pytest.approx(s["covered_before"] + s["gain"])
    assert [c["code"] for c in s["chosen"]] == list(sites["code"])
    cand = gpd.read_file(tmp_path / "sites_candidates.geojson")
    assert len(cand) == len(demo.villages) and int(cand["chosen"].sum()) == 2


def test_siting_by_road_prints_the_sites(on_demo, tmp_path: Path) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["analyze", "siting", "--new-posts", "1", "--minutes", "10",
                              "--out", str(tmp_path / "sites.csv")])

    assert res.exit_code == 0, res.output
    sites = pd.read_csv(tmp_path / "sites.csv")
    assert len(sites) == 1 and sites["gain_population"].iloc[0] > 0
    assert "new post site" in res.output and "share_after" in res.output


@pytest.mark.parametrize(("args", "out", "message"), [
    (["--km", "5", "--minutes", "10"], "s.csv", "not both"),
    (["--candidates", "townships"], "s.csv", "--candidates must be one of"),
    (["--new-posts", "-1"], "s.csv", "integer >= 0"),
    (["--km", "5"], "s.shp", "cannot tell the format"),
])
def test_siting_bad_options_exit_2(on_demo, tmp_path: Path, args: list[str], out: str,  # noqa: ANN001
                                   message: str) -> None:
    res = runner.invoke(app, ["analyze", "siting", *args, "--out", str(tmp_path / out)])

    assert res.exit_code == 2 and message in res.output
    assert not list(tmp_path.iterdir())


# --- network import, bench --------------------------------------------------------------------

def test_network_import_stores_the_real_extract(monkeypatch: pytest.MonkeyPatch, db_url: str,
                                                engine: sa.Engine) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", db_url)
    path = extract_path("Helsinki.osm.pbf")
    adcode = "990778"
    try:
        res = runner.invoke(app, ["network", "import", str(path), "--adcode", adcode, "--json"])

        assert res.exit_code == 0, res.output
        s = last_json(res.output)
        G = osm_graph("Helsinki.osm.pbf")
        assert (s["nodes"], s["edges"]) == (G.number_of_nodes(), G.number_of_edges())
        assert s["clipped"] is False  # no boundary of this county is stored
        with engine.connect() as conn:
            H = graph_from_postgis(conn, adcode)
        assert set(H.nodes) == set(G.nodes) and set(H.edges(keys=True)) == set(G.edges(keys=True))
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("delete from road_node where adcode = :a"), {"a": adcode})
            conn.execute(sa.text("delete from road_network where adcode = :a"), {"a": adcode})


def test_network_import_of_a_missing_file_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                  db_url: str, tmp_path: Path) -> None:
    monkeypatch.setattr(settings, "DATABASE_URL", db_url)
    res = runner.invoke(app, ["network", "import", str(tmp_path / "none.osm.pbf"),
                              "--adcode", "990779"])

    assert res.exit_code == 2 and "not found" in res.output


def test_bench_analytics_reports_every_figure(on_demo, demo) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["bench", "analytics", "--weeks", "4", "--new-posts", "1",
                              "--no-each"])

    assert res.exit_code == 0, res.output
    r = last_json(res.output)
    for key in ("gi_999_permutations_s", "emerging_s", "isochrones_10_20_nearest_s",
                "standards_table_s", "siting_1_by_road_s"):
        assert r[key] >= 0, key
    assert "isochrones_10_20_each_s" not in r
    assert r["posts"] == len(demo.posts) and r["grids"] > 0 and r["edges"] > r["nodes"] > 0
