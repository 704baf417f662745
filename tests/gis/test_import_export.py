"""Grid import into PostGIS (transactional, idempotent) and export read back with pyogrio."""

from __future__ import annotations

import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import Polygon, box

from gis._errors import FeatureRejected, InputFileError
from gis.crs import area_m2, wgs84_to_gcj02
from gis.grids.export import export_grids
from gis.grids.importer import import_grids
from gis.grids.store import read_grids

X0, Y0, D = 100.40, 38.90, 0.02  # a 2 x 2 block of villages near Zhangye, 0.02° each


def villages_gdf(adcode: str) -> gpd.GeoDataFrame:
    """Four square villages; codes adcode + 001 + 00i; names 甲村..丁村."""
    geoms = [box(X0 + i * D, Y0 + j * D, X0 + (i + 1) * D, Y0 + (j + 1) * D)
             for j in range(2) for i in range(2)]
    codes = [f"{adcode}001{k:03d}" for k in range(1, 5)]
    return gpd.GeoDataFrame({"code": codes, "name": ["甲村", "乙村", "丙村", "丁村"],
                             "parent": [f"{adcode}001"] * 4}, geometry=geoms, crs=4326)


def groups_gdf(adcode: str) -> gpd.GeoDataFrame:
    """Each village split into a west and an east group (一社, 二社)."""
    rows = []
    for v in villages_gdf(adcode).itertuples():
        x0, y0, x1, y1 = v.geometry.bounds
        xm = (x0 + x1) / 2
        rows.append((v.code + "001", "一社", v.code, box(x0, y0, xm, y1)))
        rows.append((v.code + "002", "二社", v.code, box(xm, y0, x1, y1)))
    return gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows],
                             "parent": [r[2] for r in rows]},
                            geometry=[r[3] for r in rows], crs=4326)


def grid_count(engine, adcode: str) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from grid where adcode = :a"),
                            {"a": adcode}).scalar_one()


def test_import_villages_and_groups_round_trip(engine, tmp_path: Path) -> None:
    v, g = villages_gdf("990101"), groups_gdf("990101")
    v.to_file(tmp_path / "v.geojson")
    g.to_file(tmp_path / "g.gpkg")

    rv = import_grids(engine, tmp_path / "v.geojson", "village", parent_field="parent")
    rg = import_grids(engine, tmp_path / "g.gpkg", "group", parent_field="parent")

    assert (rv.inserted, rg.inserted) == (4, 8)
    assert rv.version_id == rg.version_id
    with engine.connect() as conn:
        back = read_grids(conn, rv.version_id)
    assert list(back["code"]) == sorted(list(v["code"]) + list(g["code"]))
    groups = back[back["level"] == 2]
    assert set(groups["township_code"]) == {"990101001"}
    # geometry survives to the last digit; area in m² matches an independent UTM computation
    orig = dict(zip(g["code"], g.geometry, strict=True))
    for code, geom, area in zip(groups["code"], groups.geometry, groups["area_m2"], strict=True):
        assert shapely.equals_exact(geom.geoms[0], orig[code], tolerance=1e-12)
        utm = g[g["code"] == code].to_crs(32647).area.iloc[0]
        assert area == pytest.approx(utm, rel=1e-9)


def test_import_twice_does_not_duplicate(engine, tmp_path: Path) -> None:
    villages_gdf("990102").to_file(tmp_path / "v.geojson")

    first = import_grids(engine, tmp_path / "v.geojson", "village")
    again = import_grids(engine, tmp_path / "v.geojson", "village")

    assert (first.inserted, first.replaced) == (4, 0)
    assert (again.inserted, again.replaced) == (0, 4)
    assert grid_count(engine, "990102") == 4


def test_rejected_feature_rejects_the_file_and_writes_nothing(engine, tmp_path: Path) -> None:
    v = villages_gdf("990103")
    bowtie = Polygon([(X0, Y0), (X0 + D, Y0 + D), (X0 + D, Y0), (X0, Y0 + D), (X0, Y0)])
    v.loc[2, "geometry"] = bowtie
    v.to_file(tmp_path / "bad.geojson")

    with pytest.raises(FeatureRejected) as exc:
        import_grids(engine, tmp_path / "bad.geojson", "village")

    assert "feature 3" in str(exc.value) and "990103001003" in str(exc.value)
    rejected = (tmp_path / "bad.geojson.rejected.csv").read_text(encoding="utf-8-sig")
    assert "990103001003" in rejected and "990103001001" not in rejected
    assert grid_count(engine, "990103") == 0


def test_group_with_unknown_parent_is_rejected(engine, tmp_path: Path) -> None:
    groups_gdf("990104").to_file(tmp_path / "g.geojson")

    with pytest.raises(FeatureRejected) as exc:
        import_grids(engine, tmp_path / "g.geojson", "group", parent_field="parent")

    assert "parent village '990104001001' is not in grid version" in str(exc.value)
    assert grid_count(engine, "990104") == 0


def test_gcj02_import_lands_in_cgcs2000(engine, tmp_path: Path) -> None:
    v = villages_gdf("990105")
    shifted = shapely.transform(np.asarray(v.geometry.values),
                                lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    gpd.GeoDataFrame(v.drop(columns="geometry"), geometry=shifted, crs=4326).to_file(
        tmp_path / "gcj.geojson")

    rep = import_grids(engine, tmp_path / "gcj.geojson", "village", crs="gcj02")

    with engine.connect() as conn:
        back = read_grids(conn, rep.version_id)
    for got, want in zip(back.geometry, v.geometry, strict=True):
        assert shapely.hausdorff_distance(got, want) < 1e-7  # ≈ 1 cm


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "fgb"])
def test_export_reads_back_with_pyogrio(engine, tmp_path: Path, fmt: str) -> None:
    v, g = villages_gdf("990106"), groups_gdf("990106")
    v.to_file(tmp_path / "v.geojson")
    g.to_file(tmp_path / "g.geojson")
    vid = import_grids(engine, tmp_path / "v.geojson", "village").version_id
    import_grids(engine, tmp_path / "g.geojson", "group", parent_field="parent")
    path = tmp_path / f"out.{fmt}"

    counts = export_grids(engine, path, version_id=vid)

    layers = [name for name, _ in pyogrio.list_layers(path)]
    back = gpd.GeoDataFrame(
        gpd.pd.concat([pyogrio.read_dataframe(path, layer=lyr) for lyr in layers]))
    assert sum(counts.values()) == 12 == len(back)
    assert {"code", "name", "level", "parent", "township", "area_m2"} <= set(back.columns)
    assert back.crs.to_epsg() == 4490
    assert set(back["name"]) == {"甲村", "乙村", "丙村", "丁村", "一社", "二社"}
    total = area_m2(np.asarray(back[back["level"] == 2].geometry.values)).sum()
    assert total == pytest.approx(back.loc[back["level"] == 1, "area_m2"].sum(), rel=1e-7)
    info = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True,
                          text=True)
    assert info.returncode == 0 and "Feature Count" in info.stdout


def test_unknown_format_is_a_clear_error(engine, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="--format"):
        export_grids(engine, tmp_path / "out.xyz")
