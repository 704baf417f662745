"""Export a draft as GPKG, edit it like a planner in QGIS would (geopandas), import it back.

Known answers: the diff shows exactly the edit made to the file; nothing else changes; the
import is logged in grid_edit (op ``import``) with who, when and what.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import sqlalchemy as sa

from gis._errors import InputFileError
from gis.grids import versions
from gis.grids.export import export_grids
from gis.grids.importer import import_grids
from gis.grids.reimport import compare_file, read_draft_file, reimport_file
from gis.grids.versions import TopologyRefused
from gis.store import connect, database_url, drop_database
from gis.store.engine import with_database


@pytest.fixture(scope="module")
def eng(demo) -> Iterator[sa.Engine]:
    """Engine of a fresh database holding the demo county (this module mutates it)."""
    from data.loader import load_demo

    url = with_database(database_url(),
                        f"wangge_test_reimport_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    try:
        e = connect(url)
        load_demo(e, demo)
        yield e
    finally:
        drop_database(url)


@pytest.fixture()
def draft(eng) -> int:
    with eng.begin() as conn:
        return versions.new_draft(conn, from_version=versions.in_force(conn), actor="tester")


def _grids(eng, vid: int) -> dict[str, tuple]:
    with eng.connect() as conn:
        rows = conn.execute(sa.text(
            "select code, name, parent_code, township_code, population, households, worker, "
            "md5(st_asbinary(geom)) from grid where version_id = :v"), {"v": vid}).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def _edits(eng, vid: int) -> list:
    with eng.connect() as conn:
        return conn.execute(sa.text(
            "select id, op, actor, at, codes_before, codes_after, grids_before, grids_after, detail "
            "from grid_edit where version_id = :v order by id"), {"v": vid}).mappings().all()


def test_export_rename_reimport_shows_exactly_that_change(eng, draft: int,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "draft.gpkg"
    export_grids(eng, path, version_id=draft)
    groups = gpd.read_file(path, layer="group")
    row = groups.index[123]
    code, old = str(groups.at[row, "code"]), str(groups.at[row, "name"])
    groups.at[row, "name"] = "新改的名字"
    groups.to_file(path, layer="group", driver="GPKG")  # the village layer stays as it is
    before = _grids(eng, draft)

    pv = compare_file(eng, path, draft)
    assert pv.rejects == [] and pv.errors == 0
    assert pv.diff["added"] == [] and pv.diff["removed"] == []
    assert [(c["code"], c["changes"], c["name_before"], c["name_after"])
            for c in pv.diff["changed"]] == [(code, ["name"], old, "新改的名字")]
    assert _grids(eng, draft) == before  # comparing writes nothing
    n_before = len(_edits(eng, draft))

    rep = reimport_file(eng, path, draft, actor="qgis-user", label="draft.gpkg")
    assert (rep.added, rep.removed, rep.changed) == ([], [], [code])
    after = _grids(eng, draft)
    assert after[code][0] == "新改的名字"
    assert {c: v for c, v in after.items() if c != code} == \
        {c: v for c, v in before.items() if c != code}
    log = _edits(eng, draft)
    assert len(log) == n_before + 1
    e = log[-1]
    assert (e["op"], e["actor"]) == ("import", "qgis-user") and e["at"] is not None
    assert e["codes_before"] == [code] and e["codes_after"] == [code]
    assert e["grids_before"][0]["name"] == old and e["grids_after"][0]["name"] == "新改的名字"
    assert e["detail"]["file"] == "draft.gpkg" and e["detail"]["changed"] == {code: ["name"]}
    # importing the same file again changes nothing and logs nothing
    again = reimport_file(eng, path, draft, actor="qgis-user")
    assert (again.changed, again.edit_id) == ([], None)
    assert len(_edits(eng, draft)) == n_before + 1


def test_deleting_a_group_in_the_file_is_refused_as_a_gap(eng, draft: int,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "gap.gpkg"
    export_grids(eng, path, version_id=draft)
    groups = gpd.read_file(path, layer="group")
    gone = str(groups.at[groups.index[7], "code"])
    groups.drop(index=groups.index[7]).to_file(path, layer="group", driver="GPKG")
    before, log = _grids(eng, draft), _edits(eng, draft)

    pv = compare_file(eng, path, draft)
    assert [r["code"] for r in pv.diff["removed"]] == [gone] and not pv.diff["changed"]
    gaps = [p for p in pv.problems if p["type"] == "gap" and p["severity"] == "error"]
    assert len(gaps) == 1 and pv.errors == 1
    with eng.connect() as conn:
        area = conn.execute(sa.text("select area_m2 from grid where version_id = :v and "
                                    "code = :c"), {"v": draft, "c": gone}).scalar_one()
    assert gaps[0]["area_m2"] == pytest.approx(area, rel=0.01)

    with pytest.raises(TopologyRefused, match="topology error"):
        reimport_file(eng, path, draft, actor="qgis-user")
    assert _grids(eng, draft) == before and _edits(eng, draft) == log
    # the planner may import it anyway (then repair the draft before publishing)
    rep = reimport_file(eng, path, draft, actor="qgis-user", allow_errors=True)
    assert rep.removed == [gone] and rep.errors == 1
    assert gone not in _grids(eng, draft)


def test_attributes_missing_from_the_file_keep_the_drafts_values(eng, draft: int,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "slim.gpkg"
    export_grids(eng, path, version_id=draft)
    for layer in ("village", "group"):
        gdf = gpd.read_file(path, layer=layer)
        gdf.drop(columns=["population", "households", "worker", "township"]).to_file(
            path, layer=layer, driver="GPKG")
    fg = read_draft_file(path)
    assert set(fg.frames) == {1, 2} and "population" not in fg.frames[2].columns
    pv = compare_file(eng, path, draft)
    assert pv.n_changes == 0 and pv.errors == 0


def test_a_file_that_is_not_a_draft_export_is_refused(eng, draft: int,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "other.gpkg"
    export_grids(eng, path, version_id=draft)
    g = gpd.read_file(path, layer="group")
    pyogrio.write_dataframe(g, tmp_path / "two.gpkg", layer="a")
    pyogrio.write_dataframe(g, tmp_path / "two.gpkg", layer="b", append=False)
    with pytest.raises(InputFileError, match="layers"):
        compare_file(eng, tmp_path / "two.gpkg", draft)
    with eng.connect() as conn:
        published = versions.in_force(conn)
    with pytest.raises(InputFileError, match="only be imported back into a draft"):
        compare_file(eng, path, published)


def test_import_grids_logs_an_import_edit(eng, tmp_path: Path) -> None:
    src = tmp_path / "villages.geojson"
    with eng.connect() as conn:
        vid = versions.in_force(conn)
    export_grids(eng, src, version_id=vid, level=1)
    with eng.begin() as conn:
        target = versions.create_version(conn, "620702", "导入测试", created_by="tester")
    first = import_grids(eng, src, "village", version_id=target, actor="importer")
    second = import_grids(eng, src, "village", version_id=target)
    log = _edits(eng, target)
    assert [e["op"] for e in log] == ["import", "import"]
    assert log[0]["actor"] == "importer" and log[1]["actor"]
    assert [first.edit_id, second.edit_id] == [e["id"] for e in log]
    assert log[0]["codes_before"] == [] and len(log[0]["codes_after"]) == 248
    assert sorted(log[1]["codes_before"]) == sorted(log[0]["codes_after"])
    assert log[0]["detail"]["level"] == "village" and log[0]["detail"]["inserted"] == 248
    assert log[1]["detail"]["replaced"] == 248
