"""Re-import an edited export of a draft: validate it and show the diff, then replace.

A planner exports a draft (:func:`gis.grids.export.export_grids`, GPKG with the layers
``village`` and ``group``), edits it in QGIS and imports it back. :func:`compare_file` says
what the file would do to the draft without writing anything; :func:`reimport_file` does it.

Rules
-----
* **File** — a multi-layer file with layers named ``village`` and / or ``group`` (what the
  export writes), or one layer holding both levels with a ``level`` attribute (1 / 2, or
  ``village`` / ``group``). A level absent from the file is left as it is in the draft.
* **Within a level present in the file, the file is the truth**: grids missing from it are
  removed, new codes are added, the others are replaced when they differ (geometry by more
  than :data:`gis.grids.publish.GEOM_EPS_M2`, or name, parent, township, population,
  households, worker). Attributes the file does not carry at all (a column deleted in QGIS)
  keep the draft's values; a village's township is its ``township`` attribute, else its
  parent code; a group's township is its village's.
* **Validation** — the would-be draft is written into a staging version inside a SAVEPOINT
  that is always rolled back, validated there (:func:`gis.grids.validation.validate_version`)
  and compared with the draft (:func:`gis.grids.publish.diff`): the same checks and the
  same diff as publishing uses, and nothing of the staging version remains.
* **Replace** — one transaction: the draft is locked, removed / changed grids are deleted,
  added / changed grids written (unchanged grids are not touched), and one ``grid_edit``
  row (op ``import``) records who, when, the file and the changed grids in full (before and
  after, as the edit operations do). A file with rejected features is refused
  (:class:`gis._errors.FeatureRejected`); a result with topology errors is refused
  (:class:`gis.grids.versions.TopologyRefused`) unless ``allow_errors`` (a draft may be
  repaired later, but it cannot be published while it has errors).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis import settings
from gis._errors import FeatureRejected, InputFileError
from gis.grids import edits_core as core
from gis.grids import versions
from gis.grids.importer import default_actor
from gis.grids.publish import diff
from gis.grids.reader import read_grid_file
from gis.grids.store import read_grids, save_grids
from gis.grids.validation import validate_version
from gis.grids.versions import TopologyRefused

__all__ = ["FileGrids", "ReimportPreview", "ReimportReport", "compare_file", "read_draft_file",
           "reimport_file"]

_LEVEL_OF = {**{name: lv for lv, name in settings.GRID_LEVELS.items()},
             **{str(lv): lv for lv in settings.GRID_LEVELS}}


@dataclass
class FileGrids:
    """Grids read from a draft file: one frame per level present (EPSG:4490, columns code,
    name, parent_code and, when the file has them, population, households, worker,
    township_code), the rejected features and the repaired codes."""

    path: str
    frames: dict[int, gpd.GeoDataFrame]
    rejects: list[dict[str, object]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    source_crs: str = ""


@dataclass
class ReimportPreview:
    """What :func:`reimport_file` would do (nothing written)."""

    version_id: int
    path: str
    levels: list[int]
    features: dict[int, int]
    rejects: list[dict[str, object]]
    problems: list[dict[str, Any]]
    errors: int
    diff: dict[str, Any]

    @property
    def n_changes(self) -> int:
        """Grids added, removed or changed."""
        return sum(len(self.diff.get(k, [])) for k in ("added", "removed", "changed"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"n_changes": self.n_changes}


@dataclass
class ReimportReport:
    """What :func:`reimport_file` did."""

    version_id: int
    path: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    errors: int
    edit_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _layers(p: Path) -> list[str]:
    try:
        return [str(row[0]) for row in pyogrio.list_layers(p)]
    except pyogrio.errors.DataSourceError as e:
        msg = f"{p}: cannot open it as a GIS file ({e}); export the draft as GPKG and edit that"
        raise InputFileError(msg) from e


def _extra(p: Path, layer: str | None, index: pd.Index) -> dict[str, list[object]]:
    """``worker`` / ``township`` attributes of the accepted features (by file position)."""
    fields = [str(f) for f in pyogrio.read_info(p, layer=layer)["fields"]]
    wanted = [f for f in fields if f.lower() in ("worker", "township", "level")]
    if not wanted:
        return {}
    df = pyogrio.read_dataframe(p, layer=layer, columns=wanted, read_geometry=False)
    pos = np.asarray(index, dtype=np.int64)
    return {f.lower(): list(df[f].to_numpy(dtype=object)[pos]) for f in wanted}


def _text(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def read_draft_file(path: str | Path) -> FileGrids:
    """Read both levels of a draft file (see the module doc for the layouts accepted)."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: no such file")
    layers = _layers(p)
    by_name = {name: name for name in settings.GRID_LEVELS.values() if name in layers}
    out = FileGrids(path=str(p), frames={})
    if by_name:
        plan = [(_LEVEL_OF[name], name, None) for name in by_name]
    elif len(layers) == 1:
        plan = [(0, None, None)]  # one layer with a level attribute
    else:
        msg = f"{p}: has layers {layers}; a draft file needs the layers " \
              f"{list(settings.GRID_LEVELS.values())} (as 'wangge grids export' writes them)"
        raise InputFileError(msg)
    for lv, layer, _ in plan:
        # groups need a parent; so do villages in an export (their township), so a mixed
        # layer is read as groups and split by its level attribute
        res = read_grid_file(p, level="group" if lv != 1 else "village", layer=layer)
        out.rejects += [r | {"layer": layer or ""} for r in res.rejects]
        out.repaired += res.repaired
        out.source_crs = res.source_crs
        gdf = res.gdf.drop(columns="level")
        extra = _extra(p, layer, gdf.index)
        for key, col in (("worker", "worker"), ("township", "township_code")):
            if key in extra:
                gdf[col] = [_text(v) for v in extra[key]]
        if lv:
            out.frames[lv] = gdf
            continue
        if "level" not in extra:
            msg = f"{p}: one layer without a 'level' attribute; export the draft as GPKG " \
                  "(layers village and group) or add a level column (1 village, 2 group)"
            raise InputFileError(msg)
        levels = np.array([_LEVEL_OF.get(str(_text(v)).split(".")[0], 0) for v in extra["level"]])
        if (levels == 0).any():
            bad = sorted({str(v) for v, k in zip(extra["level"], levels, strict=True) if k == 0})
            raise InputFileError(f"{p}: unknown level value(s) {bad[:5]}; use 1/2 or "
                                 "village/group")
        for k in sorted(set(levels.tolist())):
            out.frames[int(k)] = gdf[levels == k]
    return out


def _complete(frames: dict[int, gpd.GeoDataFrame], draft: pd.DataFrame) -> dict[int, gpd.GeoDataFrame]:
    """Fill attributes the file lacks from the draft (by code), townships by the rules."""
    old = draft.set_index("code")
    out: dict[int, gpd.GeoDataFrame] = {}
    for lv, gdf in frames.items():
        g = gdf.copy()
        for col in ("population", "households", "worker"):
            if col not in g.columns:
                g[col] = g["code"].map(old[col]) if len(old) else None
        if lv == 1 and "township_code" not in g.columns:
            g["township_code"] = g["parent_code"]
        out[lv] = g
    if 2 in out:
        towns = dict(zip(draft.loc[draft["level"] == 1, "code"],
                         draft.loc[draft["level"] == 1, "township_code"], strict=True))
        if 1 in out:
            towns |= dict(zip(out[1]["code"], out[1]["township_code"], strict=True))
        out[2] = out[2].assign(township_code=[towns.get(c) for c in out[2]["parent_code"]])
    return out


def _stage(conn: Connection, v: dict[str, Any], frames: dict[int, gpd.GeoDataFrame],
           draft: gpd.GeoDataFrame) -> int:
    """A staging version holding the draft with the file's levels replaced (call inside a
    savepoint that is rolled back)."""
    adcode = str(v["adcode"])
    sid = versions.create_version(conn, adcode, "reimport staging", created_by="reimport")
    for lv in sorted(settings.GRID_LEVELS):
        gdf = frames.get(lv)
        if gdf is None:
            gdf = draft[draft["level"] == lv]
        if len(gdf):
            save_grids(conn, sid, gdf, lv, adcode)
    return sid


def _preview(conn: Connection, version_id: int, fg: FileGrids) -> tuple[ReimportPreview, dict]:
    v = versions.get_version(conn, version_id)
    if v["status"] != "draft":
        msg = f"grid version {version_id} is {v['status']}: an edited file can only be " \
              "imported back into a draft (start one from it first)"
        raise InputFileError(msg)
    draft = read_grids(conn, version_id)
    frames = _complete(fg.frames, draft)
    sp = conn.begin_nested()
    try:
        sid = _stage(conn, v, frames, draft)
        _, problems = validate_version(conn, sid)
        d = diff(conn, version_id, sid)
        touched = [r["code"] for r in d["added"]] + [r["code"] for r in d["changed"]]
        after = core.load(conn, sid, "code = any(:c)", c=touched)
    finally:
        sp.rollback()
    d["v2"] = None  # the staging version is gone
    errors = [p for p in problems if p.severity == "error"]
    pv = ReimportPreview(version_id=version_id, path=fg.path, levels=sorted(frames),
                         features={lv: len(g) for lv, g in frames.items()},
                         rejects=fg.rejects, problems=[p.to_dict() for p in problems],
                         errors=len(errors), diff=d)
    return pv, {"frames": frames, "after": after, "v": v}


def compare_file(engine: Engine, path: str | Path, version_id: int) -> ReimportPreview:
    """Validation and diff of importing ``path`` back into draft ``version_id``; nothing
    is written (see the module doc)."""
    fg = read_draft_file(path)
    with engine.connect() as conn:
        pv, _ = _preview(conn, version_id, fg)
        conn.rollback()
    return pv


def reimport_file(engine: Engine, path: str | Path, version_id: int, *,
                  actor: str | None = None, allow_errors: bool = False,
                  label: str | None = None) -> ReimportReport:
    """Replace the grids of draft ``version_id`` by the file's, in one transaction, and log
    it (``grid_edit`` op ``import``); see the module doc for what is refused. ``label``
    names the file in the log (default: ``path``; e.g. the name of an uploaded file)."""
    fg = read_draft_file(path)
    if fg.rejects:
        first = fg.rejects[0]
        msg = f"{path}: {len(fg.rejects)} feature(s) rejected, nothing imported; first: " \
              f"layer {first.get('layer')!r} feature {first.get('feature')} (code " \
              f"{first.get('code')!r}), field {first.get('field')!r}: {first.get('reason')}"
        raise FeatureRejected(msg, [(r.get("feature"), str(r.get("field")), str(r["reason"]))
                                    for r in fg.rejects])
    with engine.begin() as conn:
        versions.require_draft(conn, version_id)
        pv, ctx = _preview(conn, version_id, fg)
        if pv.errors and not allow_errors:
            kinds = pd.Series([p["type"] for p in pv.problems
                               if p["severity"] == "error"]).value_counts().to_dict()
            msg = f"{path}: the draft would have {pv.errors} topology error(s) {kinds}; " \
                  "nothing imported. Fix them in the file, or import anyway and repair " \
                  "the draft before publishing"
            raise TopologyRefused(msg, pv.problems)
        d = pv.diff
        added = [r["code"] for r in d["added"]]
        removed = [r["code"] for r in d["removed"]]
        changed = [r["code"] for r in d["changed"]]
        before = core.load(conn, version_id, "code = any(:c)", c=removed + changed)
        adcode = str(ctx["v"]["adcode"])
        conn.execute(sa.text("delete from grid where version_id = :v and code = any(:c)"),
                     {"v": version_id, "c": removed + changed})
        for lv, gdf in ctx["frames"].items():
            part = gdf[gdf["code"].isin(added + changed)]
            if len(part):
                save_grids(conn, version_id, part, lv, adcode)
        edit_id = None
        if added or removed or changed:
            after = list(ctx["after"].values())
            edit_id = core.log_edit(conn, adcode, version_id, default_actor(actor), "import",
                                    list(before.values()), after, {
                                        "file": label or str(path), "mode": "replace",
                                        "levels": pv.levels, "added": added,
                                        "removed": removed, "changed": {
                                            r["code"]: r["changes"] for r in d["changed"]},
                                        "errors": pv.errors,
                                        "repaired": fg.repaired})
    return ReimportReport(version_id=version_id, path=str(path), added=added, removed=removed,
                          changed=changed, errors=pv.errors, edit_id=edit_id)
