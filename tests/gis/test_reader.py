"""Reading grid files: formats, encodings, field detection, CRS, geometry checks and repair."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from gis import settings
from gis._errors import CrsError, InputFileError
from gis.crs import from_storage, parse_crs
from gis.grids.reader import read_grid_file, write_rejects

X0, Y0, D = 100.40, 38.90, 0.02  # near Zhangye, Gansu (UTM zone 47N)
CODES = [f"620702001{k:03d}" for k in range(1, 5)]
NAMES = ["甲村", "乙村", "丙村", "丁村"]
BOWTIE = Polygon([(X0, Y0), (X0 + D, Y0 + D), (X0 + D, Y0), (X0, Y0 + D), (X0, Y0)])


def squares() -> list[Polygon]:
    return [box(X0 + i * D, Y0 + j * D, X0 + (i + 1) * D, Y0 + (j + 1) * D)
            for j in range(2) for i in range(2)]


def villages(crs: int | None = 4326, **cols: list[object]) -> gpd.GeoDataFrame:
    data: dict[str, list[object]] = {"代码": list(CODES), "名称": list(NAMES),
                                     "人口": [1200, 860, 1500, 990]}
    data.update(cols)
    geoms = cols.pop("geometry", None) or squares()
    data.pop("geometry", None)
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def ear(e: float) -> Polygon:
    """Square with a clockwise ear of side ``e`` at its top-left corner: the ring touches
    itself there (invalid); shoelace subtracts the ear, the repair adds it."""
    return Polygon([(X0, Y0), (X0 + D, Y0), (X0 + D, Y0 + D), (X0, Y0 + D), (X0 - e, Y0 + D),
                    (X0 - e, Y0 + D + e), (X0, Y0 + D)])


def test_geojson_fields_detected_and_stored_as_multipolygons(tmp_path: Path) -> None:
    villages().to_file(tmp_path / "v.geojson")

    res = read_grid_file(tmp_path / "v.geojson", level="village")

    g = res.gdf
    assert res.rejects == [] and res.repaired == []
    assert res.source_crs == "EPSG:4326"
    assert res.fields == {"code": "代码", "name": "名称", "population": "人口"}
    assert list(g["code"]) == CODES and list(g["name"]) == NAMES
    assert list(g["population"]) == [1200, 860, 1500, 990] and str(g["population"].dtype) == "Int64"
    assert list(g["level"]) == ["village"] * 4 and g["parent_code"].isna().all()
    assert g.crs.to_epsg() == 4490
    assert set(g.geom_type) == {"MultiPolygon"}
    for got, want in zip(g.geometry, squares(), strict=True):
        assert shapely.equals_exact(got.geoms[0], want, tolerance=1e-12)


def test_geojson_without_crs_member_is_wgs84(tmp_path: Path) -> None:
    ring = [[X0, Y0], [X0 + D, Y0], [X0 + D, Y0 + D], [X0, Y0 + D], [X0, Y0]]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": CODES[0], "name": "甲村"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    (tmp_path / "plain.geojson").write_text(json.dumps(doc), encoding="utf-8")

    res = read_grid_file(tmp_path / "plain.geojson", level="village")

    assert res.source_crs == "EPSG:4326" and len(res.gdf) == 1


@pytest.mark.parametrize(("suffix", "driver"), [("gpkg", "GPKG"), ("fgb", "FlatGeobuf")])
def test_gpkg_and_flatgeobuf_in_a_projected_crs(tmp_path: Path, suffix: str, driver: str) -> None:
    g = villages(crs=4490)
    g = g.set_geometry(list(from_storage(g.geometry.values, parse_crs(32647))), crs=32647)
    path = tmp_path / f"v.{suffix}"
    pyogrio.write_dataframe(g, path, driver=driver)

    res = read_grid_file(path, level="village")

    assert res.source_crs == "EPSG:32647" and res.rejects == []
    assert sorted(res.gdf["code"]) == CODES  # FlatGeobuf's spatial index may reorder them
    by_code = dict(zip(res.gdf["code"], res.gdf.geometry, strict=True))
    for code, want in zip(CODES, squares(), strict=True):
        assert shapely.equals_exact(by_code[code].geoms[0], want, tolerance=1e-9)


def test_group_parent_field_and_multilayer_gpkg(tmp_path: Path) -> None:
    path = tmp_path / "both.gpkg"
    pyogrio.write_dataframe(villages(), path, layer="village")
    groups = gpd.GeoDataFrame({"code": [c + "001" for c in CODES], "name": ["一社"] * 4,
                               "village_code": CODES}, geometry=squares(), crs=4326)
    pyogrio.write_dataframe(groups, path, layer="group", append=True)

    res = read_grid_file(path, level="group")

    assert res.fields == {"code": "code", "name": "name", "parent_code": "village_code"}
    assert list(res.gdf["parent_code"]) == CODES
    assert list(res.gdf["level"]) == ["group"] * 4


def _gbk_shapefile(folder: Path) -> Path:
    path = folder / "gbk.shp"
    pyogrio.write_dataframe(villages(crs=4490), path, encoding="GBK")
    path.with_suffix(".cpg").unlink()  # as ArcGIS in a Chinese locale often leaves it
    dbf = path.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    raw[29] = 0  # no language driver id either
    dbf.write_bytes(bytes(raw))
    return path


def test_gbk_shapefile_without_cpg_reads_chinese(tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path)
    naive = pyogrio.read_dataframe(path)  # GDAL's default for a bare DBF: ISO-8859-1

    res = read_grid_file(path, level="village")

    assert "名称" not in naive.columns  # the test data really is GBK mojibake without help
    assert res.encoding == "GBK"
    assert list(res.gdf["name"]) == NAMES and list(res.gdf["code"]) == CODES
    assert res.source_crs == "EPSG:4490"


def test_shapefile_cpg_and_forced_encoding(tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path)

    forced = read_grid_file(path, level="village", encoding="GBK")
    path.with_suffix(".cpg").write_text("GBK")
    with_cpg = read_grid_file(path, level="village")

    assert list(forced.gdf["name"]) == NAMES and list(with_cpg.gdf["name"]) == NAMES
    with pytest.raises(InputFileError, match="not valid UTF-8"):
        read_grid_file(path, level="village", encoding="UTF-8")
    with pytest.raises(InputFileError, match="unknown encoding 'klingon'"):
        read_grid_file(path, level="village", encoding="klingon")


def test_utf8_shapefile_without_cpg(tmp_path: Path) -> None:
    path = tmp_path / "u.shp"
    pyogrio.write_dataframe(villages(crs=4490), path, encoding="UTF-8")
    path.with_suffix(".cpg").unlink()

    res = read_grid_file(path, level="village")

    assert res.encoding == "UTF-8" and list(res.gdf["name"]) == NAMES


def test_bowtie_is_rejected_with_the_geos_reason(tmp_path: Path) -> None:
    villages(geometry=[*squares()[:2], BOWTIE, squares()[3]]).to_file(tmp_path / "bad.geojson")

    res = read_grid_file(tmp_path / "bad.geojson", level="village")

    assert res.rejects == [{
        "feature": 3, "code": CODES[2], "field": "geometry",
        "reason": "self-intersecting / invalid geometry (GEOS reason: "
                  "Self-intersection[100.41 38.91]); repair would change area by 100 %"}]
    assert list(res.gdf["code"]) == [CODES[0], CODES[1], CODES[3]]
    assert list(res.gdf.index) == [0, 1, 3]  # positions in the file
    assert res.repaired == []


def test_small_invalid_defects_are_repaired(tmp_path: Path) -> None:
    spike = Polygon([(X0, Y0), (X0 + D, Y0), (X0 + D, Y0 + D / 2), (X0 + D + 0.005, Y0 + D / 2),
                     (X0 + D, Y0 + D / 2), (X0 + D, Y0 + D), (X0, Y0 + D)])
    small = ear(0.0005)  # adds 0.0625 % of area: below the 0.1 % limit
    villages(geometry=[spike, small, *squares()[2:]]).to_file(tmp_path / "fix.geojson")

    res = read_grid_file(tmp_path / "fix.geojson", level="village")

    g = res.gdf.set_index("code")
    assert res.rejects == [] and res.repaired == CODES[:2]
    assert g.geometry.is_valid.all()
    assert shapely.equals(g.geometry[CODES[0]], box(X0, Y0, X0 + D, Y0 + D))  # spike gone
    want = shapely.union(box(X0, Y0, X0 + D, Y0 + D), Polygon(
        [(X0, Y0 + D), (X0 - 0.0005, Y0 + D), (X0 - 0.0005, Y0 + D + 0.0005)]))
    assert shapely.symmetric_difference(g.geometry[CODES[1]], want).area < 1e-15  # ear kept


def test_repair_that_changes_area_too_much_is_rejected(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    villages(geometry=[ear(0.001), ear(0.0005), *squares()[2:]]).to_file(tmp_path / "e.geojson")

    res = read_grid_file(tmp_path / "e.geojson", level="village")
    monkeypatch.setattr(settings, "REPAIR_MAX_AREA_CHANGE", 0.0)
    strict = read_grid_file(tmp_path / "e.geojson", level="village")

    assert [r["reason"] for r in res.rejects] == [
        "self-intersecting / invalid geometry (GEOS reason: Ring Self-intersection[100.4 38.92]);"
        " repair would change area by 0.25 %"]
    assert res.repaired == [CODES[1]]
    assert [r["feature"] for r in strict.rejects] == [1, 2]
    assert "change area by 0.0625 %" in str(strict.rejects[1]["reason"])


def test_missing_crs_names_the_option_and_the_choices(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    pyogrio.write_dataframe(villages(crs=None), path, encoding="UTF-8")

    with pytest.raises(InputFileError) as exc:
        read_grid_file(path, level="village")
    ok = read_grid_file(path, level="village", crs="EPSG:4490")

    assert str(exc.value) == (
        f"{path}: the file has no coordinate reference system (no .prj file or crs member); "
        "pass --crs with the system of its coordinates: EPSG:4490, EPSG:4326, gcj02 or bd09")
    assert ok.source_crs == "EPSG:4490" and len(ok.gdf) == 4


def test_unknown_crs_option_is_a_crs_error(tmp_path: Path) -> None:
    villages().to_file(tmp_path / "v.geojson")

    with pytest.raises(CrsError, match="accepted forms"):
        read_grid_file(tmp_path / "v.geojson", level="village", crs="mars-2")


def test_swapped_and_out_of_range_coordinates_are_rejected(tmp_path: Path) -> None:
    swapped = shapely.transform(squares()[0], lambda xy: xy[:, ::-1])  # (lat, lon)
    beyond = box(X0, 91.0, X0 + D, 92.0)
    villages(geometry=[swapped, beyond, *squares()[2:]]).to_file(tmp_path / "s.geojson")

    res = read_grid_file(tmp_path / "s.geojson", level="village")

    r1, r2 = res.rejects
    assert r1["feature"] == 1 and str(r1["reason"]).startswith(
        "coordinates look like lat/lon swapped (x=38.9")
    assert "y=100.4" in str(r1["reason"])
    assert r2["feature"] == 2 and str(r2["reason"]).startswith(
        "coordinates out of range for a geographic CRS (x=100.42, y=91)")
    assert list(res.gdf["code"]) == CODES[2:]


def test_swapped_with_latitude_beyond_90(tmp_path: Path) -> None:
    far = box(-120.5, 30.0, -120.0, 30.5)  # California, written as (lat, lon)
    villages(geometry=[shapely.transform(far, lambda xy: xy[:, ::-1]), *squares()[1:]]).to_file(
        tmp_path / "ca.geojson")

    res = read_grid_file(tmp_path / "ca.geojson", level="village")

    assert "lat/lon swapped" in str(res.rejects[0]["reason"])


@pytest.mark.parametrize("name", ["gcj02", "bd09"])
def test_offset_input_is_converted_back_to_wgs84(tmp_path: Path, name: str) -> None:
    # wandergis/coordtransform README: WGS84 (116.404, 39.915) is GCJ-02
    # (116.41024449916938, 39.91640428150164) and BD-09 (116.41662724378733, 39.922699552216216)
    corner = {"gcj02": (116.41024449916938, 39.91640428150164),
              "bd09": (116.41662724378733, 39.922699552216216)}[name]
    gx, gy = corner
    sq = box(gx, gy, gx + 0.01, gy + 0.01)
    gpd.GeoDataFrame({"code": ["110101001001"], "name": ["天安门"]}, geometry=[sq],
                     crs=4326).to_file(tmp_path / "o.geojson")

    res = read_grid_file(tmp_path / "o.geojson", level="village", crs=name)

    xy = shapely.get_coordinates(res.gdf.geometry.iloc[0])
    sw = xy[np.argmin(xy.sum(axis=1))]
    assert res.source_crs == name
    assert abs(sw[0] - 116.404) < 1e-6 and abs(sw[1] - 39.915) < 1e-6
    assert shapely.hausdorff_distance(res.gdf.geometry.iloc[0], sq) > 0.005  # really moved


def test_feature_problems_are_collected_not_raised(tmp_path: Path) -> None:
    geoms = [*squares(), LineString([(X0, Y0), (X0 + D, Y0)]), Point(X0, Y0), None, squares()[0]]
    g = gpd.GeoDataFrame({"代码": [*CODES[:2], CODES[0], None, "a5", "a6", "a7", "a8"],
                          "名称": ["甲村", "", "丙村", "丁村", "戊", "己", "庚", "辛"],
                          "户数": [10, 20, "many", None, 1, 2, 3, 4]}, geometry=geoms, crs=4326)
    g.to_file(tmp_path / "p.geojson")

    res = read_grid_file(tmp_path / "p.geojson", level="village")

    got = {(r["feature"], r["field"]): r["reason"] for r in res.rejects}
    assert got[(1, "代码")] == f"duplicate code '{CODES[0]}': also used by feature(s) 3"
    assert got[(3, "代码")] == f"duplicate code '{CODES[0]}': also used by feature(s) 1"
    assert got[(2, "名称")] == "missing name"
    assert got[(3, "户数")] == "households 'many' is not a whole number ≥ 0"
    assert got[(4, "代码")] == "missing code: every grid needs a unique code"
    assert got[(5, "geometry")].startswith("geometry type LineString is not allowed")
    assert got[(6, "geometry")].startswith("geometry type Point is not allowed")
    assert got[(7, "geometry")].startswith("empty or missing geometry")
    assert list(res.gdf["code"]) == ["a8"] and list(res.gdf["households"]) == [4]


def test_missing_fields_name_the_file_the_field_and_the_fields_present(tmp_path: Path) -> None:
    gpd.GeoDataFrame({"bianhao": CODES, "mingzi": NAMES}, geometry=squares(),
                     crs=4326).to_file(tmp_path / "f.geojson")
    path = tmp_path / "f.geojson"

    with pytest.raises(InputFileError) as no_code:
        read_grid_file(path, level="village")
    with pytest.raises(InputFileError) as no_parent:
        read_grid_file(path, level="group", code_field="bianhao", name_field="mingzi")
    with pytest.raises(InputFileError) as wrong:
        read_grid_file(path, level="village", code_field="编码")
    ok = read_grid_file(path, level="village", code_field="bianhao", name_field="mingzi")

    assert str(no_code.value).startswith(f"{path}: no code field (tried code, grid_code")
    assert "pass --code-field" in str(no_code.value)
    assert "['bianhao', 'mingzi']" in str(no_code.value)
    assert "a group needs the code of its village" in str(no_parent.value)
    assert "--parent-field" in str(no_parent.value)
    assert str(wrong.value).startswith(f"{path}: no field '编码' for the village grids")
    assert list(ok.gdf["name"]) == NAMES


def test_unreadable_inputs(tmp_path: Path) -> None:
    (tmp_path / "junk.geojson").write_text("not json at all")

    with pytest.raises(InputFileError, match="no such file"):
        read_grid_file(tmp_path / "none.gpkg", level="village")
    with pytest.raises(InputFileError, match="cannot open it as a GIS file"):
        read_grid_file(tmp_path / "junk.geojson", level="village")
    with pytest.raises(InputFileError, match=r"level must be one of \['village', 'group'\]"):
        read_grid_file(tmp_path / "junk.geojson", level="town")


def test_write_rejects_csv(tmp_path: Path) -> None:
    rows = [{"feature": 3, "code": CODES[2], "field": "geometry", "reason": "bad, really"}]

    out = write_rejects(rows, tmp_path / "r.csv")

    with out.open(encoding="utf-8-sig", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert back == [{"feature": "3", "code": CODES[2], "field": "geometry",
                     "reason": "bad, really"}]


def test_every_problem_of_a_feature_is_reported(tmp_path: Path) -> None:
    villages(名称=["甲村", "乙村", "", "丁村"],
             geometry=[*squares()[:2], BOWTIE, squares()[3]]).to_file(tmp_path / "two.geojson")

    res = read_grid_file(tmp_path / "two.geojson", level="village")

    assert [(r["feature"], r["field"]) for r in res.rejects] == [(3, "名称"), (3, "geometry")]


def test_metres_labelled_as_degrees_are_rejected(tmp_path: Path) -> None:
    utm = from_storage(squares(), parse_crs(32647))
    villages(geometry=list(utm)).to_file(tmp_path / "m.geojson")  # says EPSG:4326

    res = read_grid_file(tmp_path / "m.geojson", level="village")
    fixed = read_grid_file(tmp_path / "m.geojson", level="village", crs="EPSG:32647")

    assert len(res.rejects) == 4 and res.gdf.empty
    assert str(res.rejects[0]["reason"]).endswith("pass its EPSG code with --crs")
    assert fixed.rejects == [] and fixed.source_crs == "EPSG:32647"


def test_empty_file_and_ambiguous_layers(tmp_path: Path) -> None:
    (tmp_path / "e.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    path = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(villages(), path, layer="a")
    pyogrio.write_dataframe(villages(), path, layer="b", append=True)

    empty = read_grid_file(tmp_path / "e.geojson", level="village")
    with pytest.raises(InputFileError, match=r"has 2 layers \['a', 'b'\] and none is named"):
        read_grid_file(path, level="village")
    chosen = read_grid_file(path, level="village", layer="b")

    assert empty.gdf.empty and empty.rejects == [] and "code" in empty.gdf.columns
    assert len(chosen.gdf) == 4
