"""Bad input catalogue for the file imports: ``wangge grids|incidents|patrols import``.

Every case runs the real command (typer's runner) on a fresh database holding the demo
county's grids and 20 incidents, and checks two things: the exact error a user sees (what,
where — row / feature / field — and how to fix it), and that nothing was written (the row
count of every table before and after). Cases where the input is good in the end (text with
SQL or HTML, GBK or UTF-16 text) check that it is stored verbatim / read right instead.

The HTTP API, the desk form, the planner upload and the rendering of hostile text are in
``tests/dashboard/test_bad_input_http.py``.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from shapely.geometry import Polygon
from typer.testing import CliRunner

from dashboard.cli import app
from gis import settings
from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database
from tests.gis.test_reader import (
    BOWTIE,
    X0,
    Y0,
    D,
    _gbk_shapefile,
    ear,
    squares,
    villages,
)

runner = CliRunner()

HEADER = "编号,类型,发生时间,经度,纬度,地址,描述,上报人\n"
SQL = "'); drop table incident; --"
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="window.__xss=1">'
MB100 = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def bad_db_url(demo) -> Iterator[str]:
    """A fresh database with the demo county's grids and only 20 demo incidents (dropped
    after the module)."""
    from data.loader import load_demo

    url = with_database(database_url(), f"wangge_test_bad_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    try:
        load_demo(connect(url), dataclasses.replace(demo, incidents=demo.incidents.iloc[:20]))
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def beng(bad_db_url: str):
    """Engine of :func:`bad_db_url`."""
    return connect(bad_db_url)


@pytest.fixture
def on_bad_db(monkeypatch: pytest.MonkeyPatch, bad_db_url: str) -> str:
    """Point the CLI at :func:`bad_db_url` for one test."""
    monkeypatch.setattr(settings, "DATABASE_URL", bad_db_url)
    return bad_db_url


@pytest.fixture(scope="module")
def spot(beng) -> dict:
    """A point well inside a group grid of the demo county (6 decimals) and its group."""
    with beng.connect() as conn:
        row = conn.execute(sa.text("""
            select code, round(st_x(p)::numeric, 6) as lon, round(st_y(p)::numeric, 6) as lat
            from (select code, st_pointonsurface(geom) p from grid
                  where level = 2 and version_id = (select max(id) from grid_version
                                                    where status = 'published')
                  order by code limit 1 offset 40) s""")).mappings().one()
    return {"code": row["code"], "lon": f"{row['lon']:.6f}", "lat": f"{row['lat']:.6f}"}


def counts(engine) -> dict[str, int]:
    """Rows of every table of the application (as the owner: no row-level security)."""
    with engine.connect() as conn:
        names = conn.execute(sa.text(
            "select tablename from pg_tables where schemaname = 'public' and tablename not in "
            "('spatial_ref_sys', 'alembic_version') order by 1")).scalars().all()
        return {n: int(conn.execute(sa.text(f'select count(*) from "{n}"')).scalar_one())
                for n in names}


def cli(*args: str) -> tuple[int, str]:
    """Run ``wangge ARGS``: (exit code, everything it printed)."""
    res = runner.invoke(app, list(args))
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def error_line(output: str) -> str:
    """The one ``error: ...`` line a command prints before exit code 2."""
    lines = [ln for ln in output.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, output
    return lines[0].removeprefix("error: ")


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def refused(engine, *args: str) -> str:
    """Run a command that must exit 2 and write nothing; its error text."""
    before = counts(engine)
    code, out = cli(*args)
    assert code == 2, out
    assert counts(engine) == before
    return error_line(out)


def all_rejected(engine, *args: str) -> dict:
    """Run an import that must exit 0 with every row rejected and write nothing; its JSON."""
    before = counts(engine)
    code, out = cli(*args, "--json")
    assert code == 0, out
    assert counts(engine) == before
    rep = last_json(out)
    assert rep["rejected"] == rep.get("rows", rep.get("features")) > 0
    return rep


def fc(features: list[object]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def point_feature(props: dict, geometry: object) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


# --- incidents: wangge incidents import ----------------------------------------------------

ROW = {"编号": "B1", "类型": "dispute", "时间": "2025-03-01 08:00", "报告人": "网格员"}


def test_incidents_truncated_geojson(on_bad_db: str, beng, spot: dict, tmp_path: Path) -> None:
    text = fc([point_feature(ROW, {"type": "Point",
                                   "coordinates": [float(spot["lon"]), float(spot["lat"])]})])
    path = tmp_path / "cut.geojson"
    path.write_text(text[: len(text) // 2], encoding="utf-8")

    msg = refused(beng, "incidents", "import", str(path))

    assert msg.startswith(f"{path}: the JSON ends early, at line 1, column {len(text) // 2 + 1} "
                          "(Unterminated string starting at: line 1, column ")
    assert msg.endswith("the file is truncated or incomplete: copy or export it again")


def test_incidents_feature_without_or_with_a_wrong_geometry(on_bad_db: str, beng,
                                                            spot: dict, tmp_path: Path) -> None:
    xy = [float(spot["lon"]), float(spot["lat"])]
    path = tmp_path / "shapes.geojson"
    path.write_text(fc([
        {"type": "Feature", "properties": ROW | {"编号": "G1"}},  # no geometry member
        point_feature(ROW | {"编号": "G2"}, f"POINT({xy[0]} {xy[1]})"),
        point_feature(ROW | {"编号": "G3"}, {"type": "Point", "coordinates": "100.4,38.9"}),
        point_feature(ROW | {"编号": "G4"}, {"type": "Point", "coordinates": ["a", "b"]}),
        point_feature(ROW | {"编号": "G5"}, {"type": "LineString", "coordinates": [xy, xy]}),
    ]), encoding="utf-8")

    rep = all_rejected(beng, "incidents", "import", str(path))

    assert [(r["row"], r["code"], r["reason"]) for r in rep["rejects"]] == [
        (1, "missing_field", "missing required field: coordinates (经度/纬度) or an address (地址)"),
        (2, "bad_coordinates", ('geometry is a JSON string, not a GeoJSON geometry object: '
                               'write {"type": "Point", "coordinates": [lon, lat]}')),
        (3, "bad_coordinates", ("Point without two coordinates: 'coordinates' must be "
                               "[lon, lat] numbers")),
        (4, "bad_coordinates", "coordinates are not numbers: 'a', 'b'"),
        (5, "bad_coordinates", "geometry is a LineString, only Points are accepted")]
    assert rep["rejected_file"] == str(tmp_path / "shapes.rejected.csv")


def test_incidents_wrong_json_types(on_bad_db: str, beng, spot: dict, tmp_path: Path) -> None:
    not_a_list = tmp_path / "object.geojson"
    not_a_list.write_text('{"type": "FeatureCollection", "features": {"type": "Feature"}}')
    xy = {"type": "Point", "coordinates": [float(spot["lon"]), float(spot["lat"])]}
    typed = tmp_path / "typed.geojson"
    typed.write_text(fc([
        point_feature(ROW | {"编号": "T1", "报告人": ["张三", "李四"]}, xy),
        point_feature(ROW | {"编号": "T2", "描述": {"text": "x"}}, xy),
        point_feature(ROW | {"编号": "T3", "类型": 7, "时间": 20250301}, xy),
        point_feature(["not", "an", "object"], xy),
        [1, 2],
    ]), encoding="utf-8")

    msg = refused(beng, "incidents", "import", str(not_a_list))
    rep = all_rejected(beng, "incidents", "import", str(typed))

    assert msg == f"{not_a_list}: not a GeoJSON FeatureCollection or Feature ('features' is " \
                  "a JSON object, it must be an array of Features)"
    got = {r["row"]: (r["code"], r["reason"]) for r in rep["rejects"]}
    assert got[1] == ("bad_type", ("报告人/reporter is a JSON array or object; give it as text "
                                  "or a number"))
    assert got[2] == ("bad_type", ("描述/description is a JSON array or object; give it as text "
                                  "or a number"))
    assert got[3][0] == "unknown_kind; bad_time"
    assert got[3][1].startswith("unknown kind '7'; use a key or Chinese name of the catalogue "
                                "(public_security/治安案件, ")
    assert got[3][1].endswith("; 时间/occurred_at '20250301' is not a time (year first, "
                              "e.g. 2025-05-01 08:30)")
    assert got[4][0] == "missing_field"  # properties that are not an object: nothing given
    assert "missing required field 类型/kind" in got[4][1]
    assert got[5][0] == "missing_field; bad_coordinates" and "not a GeoJSON Feature" in got[5][1]


def test_incidents_100_mb_file(on_bad_db: str, beng, spot: dict, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule: a CLI import may be large (read whole, up to settings.IMPORT_MAX_FILE_BYTES);
    each value is limited (settings.INTAKE_MAX_*_CHARS), so a 100 MB description rejects its
    row, and the rejected-rows file keeps only its start."""
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER + f"H1,dispute,2025-03-01 08:00,{spot['lon']},{spot['lat']},,")
        chunk = "x" * (1024 * 1024)
        for _ in range(100):
            fh.write(chunk)
        fh.write(",网格员\n")
    assert path.stat().st_size > MB100

    rep = all_rejected(beng, "incidents", "import", str(path))
    monkeypatch.setattr(settings, "IMPORT_MAX_FILE_BYTES", 50 * 1024 * 1024)
    msg = refused(beng, "incidents", "import", str(path))

    assert rep["rejects"] == [{"row": 2, "code": "too_long", "reason": (
        "描述/description has 104,857,600 characters, more than the limit of 5,000 "
        "(settings.INTAKE_MAX_DESCRIPTION_CHARS); shorten it")}]
    rejected = pd.read_csv(rep["rejected_file"], dtype=str, encoding="utf-8-sig")
    assert rejected["描述"].iloc[0] == "x" * settings.INTAKE_MAX_DESCRIPTION_CHARS + "…"
    assert Path(rep["rejected_file"]).stat().st_size < 10_000
    assert msg == f"{path}: the file is 100.0 MB, over the import limit of 50.0 MB " \
                  "(settings.IMPORT_MAX_FILE_BYTES); split it into smaller files and import " \
                  "them one after the other (imports are idempotent)"


def test_incidents_coordinates_out_of_range_swapped_and_unknown_kind(
        on_bad_db: str, beng, spot: dict, tmp_path: Path) -> None:
    lon, lat = spot["lon"], spot["lat"]
    path = tmp_path / "rows.csv"
    path.write_text(HEADER + f"R1,dispute,2025-03-01 08:00,200.123456,{lat},,,甲\n"
                    f"R2,dispute,2025-03-01 08:00,{lon},-95.123456,,,乙\n"
                    f"R3,dispute,2025-03-01 08:00,{lat},{lon},,,丙\n"
                    f"R4,飞碟,2025-03-01 08:00,{lon},{lat},,,丁\n", encoding="utf-8")

    rep = all_rejected(beng, "incidents", "import", str(path))

    got = [(r["row"], r["code"], r["reason"]) for r in rep["rejects"]]
    assert got[0] == (2, "out_of_range", (f"coordinates out of range: lon 200.123456, lat {lat} "
                                         "(|lon| ≤ 180, |lat| ≤ 90)"))
    assert got[1] == (3, "out_of_range", (f"coordinates out of range: lon {lon}, lat -95.123456 "
                                         "(|lon| ≤ 180, |lat| ≤ 90)"))
    assert got[2] == (4, "swapped_latlon", ("lat/lon look swapped: the swapped point falls "
                                           "inside the territory (swap the columns, or import "
                                           "with --fix-swapped)"))
    assert got[3][:2] == (5, "unknown_kind")
    assert got[3][2].startswith("unknown kind '飞碟'; use a key or Chinese name of the "
                                "catalogue (public_security/治安案件, property_crime/两抢一盗")


def test_incidents_sql_and_html_are_stored_verbatim(on_bad_db: str, beng, spot: dict,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "hostile.csv"
    df = pd.DataFrame([{"编号": "X1", "类型": "dispute", "发生时间": "2025-05-01 08:00",
                        "经度": spot["lon"], "纬度": spot["lat"], "地址": IMG, "描述": SQL,
                        "上报人": SCRIPT}])
    df.to_csv(path, index=False, encoding="utf-8")
    before = counts(beng)

    code, out = cli("incidents", "import", str(path), "--source", "t-hostile", "--json")

    assert code == 0, out
    assert last_json(out)["inserted"] == 1
    after = counts(beng)
    assert after["incident"] == before["incident"] + 1  # and the table is still there
    with beng.connect() as conn:
        row = conn.execute(sa.text("select address, description, reporter from incident "
                                   "where source = 't-hostile'")).one()
    assert tuple(row) == (IMG, SQL, SCRIPT)


def test_incidents_wrong_encodings(on_bad_db: str, beng, spot: dict, tmp_path: Path) -> None:
    def rows(day: int) -> str:  # different days: no merging into one another
        return HEADER + f"E1,矛盾纠纷,2025-04-{day:02d} 08:00,{spot['lon']},{spot['lat']}," \
                        "陈寨村三社,邻里因宅基地发生争执,张三\n"

    gbk, utf16 = tmp_path / "gbk.csv", tmp_path / "utf16.csv"
    gbk.write_bytes(rows(1).encode("gbk"))
    utf16.write_bytes(rows(2).encode("utf-16"))  # Excel's "Unicode text": BOM + UTF-16 LE
    damaged = tmp_path / "damaged.csv"
    many = "".join(f"D{k},矛盾纠纷,2025-03-01 08:00,{spot['lon']},{spot['lat']},,邻里纠纷,王五\n"
                   for k in range(10))
    raw = (HEADER + many).encode("utf-8")
    cut = raw.index("王五".encode()) + 1  # break the 2nd byte of the first 王 (line 2)
    damaged.write_bytes(raw[:cut] + b"\xff" + raw[cut + 1:])
    neither = tmp_path / "neither.csv"
    neither.write_bytes(HEADER.encode("utf-8") + b"\x80\xff\xfe\x81\n")

    for path, source in ((gbk, "t-gbk"), (utf16, "t-utf16")):
        code, out = cli("incidents", "import", str(path), "--source", source, "--json")
        assert code == 0 and last_json(out)["inserted"] == 1, out
    bad1 = refused(beng, "incidents", "import", str(damaged))
    bad2 = refused(beng, "incidents", "import", str(neither))

    with beng.connect() as conn:
        got = conn.execute(sa.text("select source, kind, address, description, reporter "
                                   "from incident where source in ('t-gbk', 't-utf16') "
                                   "order by source")).all()
    assert [tuple(r) for r in got] == [
        (s, "dispute", "陈寨村三社", "邻里因宅基地发生争执", "张三") for s in ("t-gbk", "t-utf16")]
    assert bad1 == f"{damaged}: UTF-8 text with broken bytes on 1 line(s), the first on line " \
                   "2; retype the text there, or save the file again as UTF-8"
    assert bad2 == f"{neither}: neither UTF-8 nor GBK text (the first byte that is not UTF-8 " \
                   "is on line 2); save it as UTF-8 (CSV UTF-8 in Excel)"


# --- grids: wangge grids import ------------------------------------------------------------

def _codes(adcode: str) -> list[str]:
    return [f"{adcode}001{k:03d}" for k in range(1, 5)]


def test_grids_truncated_and_featureless_geojson(on_bad_db: str, beng, tmp_path: Path) -> None:
    path = tmp_path / "v.geojson"
    villages(代码=_codes("990801")).to_file(path)
    text = path.read_text(encoding="utf-8")
    cut = tmp_path / "cut.geojson"
    cut.write_text(text[: len(text) * 2 // 3], encoding="utf-8")
    doc = json.loads(text)
    doc["features"][1].pop("geometry")
    no_geom = tmp_path / "nogeom.geojson"
    no_geom.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    msg1 = refused(beng, "grids", "import", str(cut), "--level", "village")
    msg2 = refused(beng, "grids", "import", str(no_geom), "--level", "village")

    assert msg1.startswith(f"{cut}: cannot open it as a GIS file (")
    assert msg1.endswith("); the file is damaged or incomplete (truncated?): copy or export "
                         "it again")
    assert msg2 == f"{no_geom}: 1 feature(s) rejected, nothing imported; first: feature 2 " \
                   "(code '990801001002'), field 'geometry': empty or missing geometry (or " \
                   "coordinates GDAL cannot read: they must be arrays of numbers). All " \
                   f"rejected rows: {no_geom}.rejected.csv"


def test_grids_wrong_json_types(on_bad_db: str, beng, tmp_path: Path) -> None:
    path = tmp_path / "v.geojson"
    villages(代码=_codes("990802")).to_file(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["features"][2]["geometry"]["coordinates"] = "100.44 38.90, 100.46 38.90"
    strings = tmp_path / "strings.geojson"
    strings.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["代码"] = ["990802001001"]
    arrays = tmp_path / "arrays.geojson"
    arrays.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    doc["features"] = {"0": doc["features"][0]}
    obj = tmp_path / "object.geojson"
    obj.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    msg1 = refused(beng, "grids", "import", str(strings), "--level", "village")
    msg2 = refused(beng, "grids", "import", str(arrays), "--level", "village")
    msg3 = refused(beng, "grids", "import", str(obj), "--level", "village")

    assert "first: feature 3 (code '990802001003'), field 'geometry': empty or missing " \
           "geometry" in msg1
    # GDAL reads the field as a list in every feature once one of them holds an array
    assert msg2 == f"{arrays}: 4 feature(s) rejected, nothing imported; first: feature 1 " \
                   "(code ''), field '代码': code ['990802001001'] is a list (a JSON array); " \
                   f"give one text value. All rejected rows: {arrays}.rejected.csv"
    assert msg3.startswith(f"{obj}: cannot open it as a GIS file (") and "'features'" in msg3


def test_grids_self_intersecting_polygon(on_bad_db: str, beng, tmp_path: Path) -> None:
    codes = _codes("990803")
    bowtie = tmp_path / "bowtie.geojson"
    villages(代码=codes, geometry=[*squares()[:2], BOWTIE, squares()[3]]).to_file(bowtie)
    small = tmp_path / "small.geojson"  # an ear of 0.0625 % of the area: within tolerance
    villages(代码=_codes("990804"), geometry=[ear(0.0005), *squares()[1:]]).to_file(small)

    msg = refused(beng, "grids", "import", str(bowtie), "--level", "village")
    before = counts(beng)
    code, out = cli("grids", "import", str(small), "--level", "village", "--json")

    assert msg == f"{bowtie}: 1 feature(s) rejected, nothing imported; first: feature 3 " \
                  f"(code '{codes[2]}'), field 'geometry': self-intersecting / invalid " \
                  "geometry (GEOS reason: Self-intersection[100.41 38.91]); repair would " \
                  f"change area by 100 %. All rejected rows: {bowtie}.rejected.csv"
    assert code == 0, out
    rep = last_json(out)
    assert (rep["features"], rep["inserted"], rep["repaired"]) == (4, 4, 1)
    assert counts(beng)["grid"] == before["grid"] + 4


def test_grids_coordinates_out_of_range_and_swapped(on_bad_db: str, beng, tmp_path: Path) -> None:
    lon200 = Polygon([(200.0, Y0), (200.0 + D, Y0), (200.0 + D, Y0 + D), (200.0, Y0 + D)])
    lat95 = Polygon([(X0, -95.0), (X0 + D, -95.0), (X0 + D, -95.0 + D), (X0, -95.0 + D)])
    swapped = Polygon([(y, x) for x, y in squares()[0].exterior.coords])
    paths = {}
    for name, geom in (("lon200", lon200), ("lat95", lat95), ("swapped", swapped)):
        paths[name] = tmp_path / f"{name}.geojson"
        villages(代码=_codes("990805"), geometry=[geom, *squares()[1:]]).to_file(paths[name])

    msgs = {k: refused(beng, "grids", "import", str(p), "--level", "village")
            for k, p in paths.items()}

    head = "1 feature(s) rejected, nothing imported; first: feature 1 (code '990805001001'), " \
           "field 'geometry': "
    assert msgs["lon200"] == f"{paths['lon200']}: {head}coordinates out of range for a " \
        "geographic CRS (x=200, y=38.9): longitude must be within ±180 and latitude within " \
        "±90 degrees; if the file is projected (metres), pass its EPSG code with --crs. All " \
        f"rejected rows: {paths['lon200']}.rejected.csv"
    assert f"{head}coordinates out of range for a geographic CRS (x=100.4, y=-95)" in \
        msgs["lat95"]
    assert f"{head}coordinates look like lat/lon swapped (x=38.9, y=100.42); longitude must " \
           "be x and latitude y: swap the axes and export again" in msgs["swapped"]


def test_grids_gbk_shapefile_without_cpg_and_hostile_names(on_bad_db: str, beng,
                                                           tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path)  # 620702001001..4 in GBK, no .cpg, no language id
    import pyogrio

    gdf = pyogrio.read_dataframe(path, encoding="GBK")
    gdf["代码"] = _codes("990806")
    gdf["名称"] = ["甲村", SQL, SCRIPT, "丁村"]
    pyogrio.write_dataframe(gdf, path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    assert not path.with_suffix(".cpg").exists()

    code, out = cli("grids", "import", str(path), "--level", "village", "--json")

    assert code == 0, out
    with beng.connect() as conn:
        names = conn.execute(sa.text("select name from grid where code like '990806%' "
                                     "order by code")).scalars().all()
    assert names == ["甲村", SQL, SCRIPT, "丁村"]


def test_file_size_limit_of_every_import(on_bad_db: str, beng, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    grids = tmp_path / "v.geojson"
    villages(代码=_codes("990807")).to_file(grids)
    tracks = tmp_path / "t.geojson"
    tracks.write_text(fc([point_feature({"times": ["2025-03-01 08:00", "2025-03-01 08:05"]},
                                        {"type": "LineString",
                                         "coordinates": [[X0, Y0], [X0 + D, Y0]]})]))
    monkeypatch.setattr(settings, "IMPORT_MAX_FILE_BYTES", 200)

    msgs = [refused(beng, "grids", "import", str(grids), "--level", "village"),
            refused(beng, "patrols", "import", str(tracks), "--kind", "tracks")]

    for path, msg in zip((grids, tracks), msgs, strict=True):
        size = path.stat().st_size / 1024 / 1024
        assert msg == f"{path}: the file is {size:,.1f} MB, over the import limit of 0.0 MB " \
                      "(settings.IMPORT_MAX_FILE_BYTES); split it into smaller files and " \
                      "import them one after the other (imports are idempotent)"


# --- patrols: wangge patrols import --------------------------------------------------------

TIMES = {"times": ["2025-03-01 08:00", "2025-03-01 08:05"]}


def _track(props: dict, geometry: object) -> dict:
    return {"type": "Feature", "properties": TIMES | props, "geometry": geometry}


def test_patrols_truncated_and_featureless_geojson(on_bad_db: str, beng, spot: dict,
                                                   tmp_path: Path) -> None:
    line = {"type": "LineString", "coordinates": [[float(spot["lon"]), float(spot["lat"])],
                                                  [float(spot["lon"]) + 0.001,
                                                   float(spot["lat"])]]}
    text = fc([_track({"id": "P1"}, line)])
    cut = tmp_path / "cut.geojson"
    cut.write_text(text[:-10], encoding="utf-8")
    no_geom = tmp_path / "nogeom.geojson"
    no_geom.write_text(fc([{"type": "Feature", "properties": TIMES | {"id": "P2"}}]))

    msg = refused(beng, "patrols", "import", str(cut))
    rep = all_rejected(beng, "patrols", "import", str(no_geom), "--kind", "tracks")

    assert msg.startswith(f"{cut}: the JSON ends early, at line 1, column {len(text) - 9} (")
    assert msg.endswith("the file is truncated or incomplete: copy or export it again")
    assert [(r["feature"], r["source_id"], r["reason"]) for r in rep["rejects"]] == [
        (1, "P2", ("bad_geometry: geometry is missing; a track must be a LineString or "
                  "MultiLineString"))]


def test_patrols_wrong_json_types(on_bad_db: str, beng, spot: dict, tmp_path: Path) -> None:
    x, y = float(spot["lon"]), float(spot["lat"])
    path = tmp_path / "typed.geojson"
    path.write_text(fc([
        _track({"id": "W1"}, f"LINESTRING({x} {y}, {x + 0.001} {y})"),
        _track({"id": "W2", "times": "2025-03-01 08:00"},
               {"type": "LineString", "coordinates": [[x, y], [x + 0.001, y]]}),
        _track({"id": "W3"}, {"type": "LineString", "coordinates": [[str(x), str(y)],
                                                                     [x + 0.001, y]]}),
        _track({"id": "W4"}, {"type": "LineString", "coordinates": {"a": 1}}),
    ]), encoding="utf-8")

    rep = all_rejected(beng, "patrols", "import", str(path))  # was a crash (AttributeError)

    assert rep["kind"] == "tracks"
    assert [(r["feature"], r["reason"]) for r in rep["rejects"]] == [
        (1, ('bad_geometry: geometry is a JSON string, not a GeoJSON geometry object: write '
            '{"type": "LineString", "coordinates": [[lon, lat], ...]}')),
        (2, "bad_time: 'times' is not a list"),
        (3, f"bad_geometry: position ['{x}', '{y}'] is not a list of numbers"),
        (4, "bad_geometry: coordinates are not a list of positions")]


def test_patrols_out_of_range_swapped_and_unknown_kind(on_bad_db: str, beng, spot: dict,
                                                       tmp_path: Path) -> None:
    x, y = float(spot["lon"]), float(spot["lat"])
    path = tmp_path / "where.geojson"
    path.write_text(fc([
        _track({"id": "O1"}, {"type": "LineString", "coordinates": [[200.0, -95.0], [x, y]]}),
        _track({"id": "O2"}, {"type": "LineString", "coordinates": [[y, x], [y + 0.001, x]]}),
    ]), encoding="utf-8")

    rep = all_rejected(beng, "patrols", "import", str(path))
    msg = refused(beng, "patrols", "import", str(path), "--kind", "ufo")

    assert [r["reason"] for r in rep["rejects"]] == [
        "bad_coordinates: vertex 1 (200.0, -95.0) is not a position on Earth or is (0, 0)",
        (f"bad_coordinates: vertex 1 ({y!r}, {x!r}) is not a position on Earth or is (0, 0); "
        "lat/lon look swapped: longitude comes first")]
    assert msg == "--kind must be one of tracks, checkins, areas, sections, not 'ufo'"


def test_utf16_bom_is_recognised(tmp_path: Path) -> None:
    """Both byte orders of UTF-16 with a BOM are read right (pure function, no DB)."""
    from gis.inputs import decode_text

    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        assert decode_text(bom + "编号,类型\n".encode(enc), tmp_path / "x.csv") == "编号,类型\n"


def test_patrols_checkin_note_of_100_mb(on_bad_db: str, beng, spot: dict, tmp_path: Path) -> None:
    """Check-in files follow the incidents' rule: each value is limited, not the file."""
    path = tmp_path / "checkins.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"编号,时间,经度,纬度,备注\nK1,2025-03-01 08:00,{spot['lon']},{spot['lat']},")
        chunk = "y" * (1024 * 1024)
        for _ in range(100):
            fh.write(chunk)
        fh.write("\n")

    rep = all_rejected(beng, "patrols", "import", str(path))

    assert rep["kind"] == "checkins"
    assert [(r["feature"], r["source_id"], r["reason"]) for r in rep["rejects"]] == [
        (2, "K1", ("too_long: note has 104,857,600 characters, more than the limit of 5,000 "
                  "(settings.INTAKE_MAX_DESCRIPTION_CHARS); shorten it"))]
