"""Import grid boundary files into a grid version: all or nothing, idempotent by code.

Every import into a draft is recorded in ``grid_edit`` (op ``import``): who (``actor``), when
(the row's time), and what — ``codes_before`` = codes of the version's grids it replaced,
``codes_after`` = codes it wrote, ``detail`` = file, level, counts, source CRS and repaired
codes. The geometries themselves stay in the file and the grid table (an import replaces up
to thousands of grids; re-imports of an edited draft, :mod:`gis.grids.reimport`, record the
changed grids in full).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gis._errors import FeatureRejected, InputFileError
from gis.grids import versions
from gis.grids.reader import read_grid_file, write_rejects
from gis.grids.store import LEVELS, save_grids


@dataclass
class ImportReport:
    """Outcome of :func:`import_grids`."""

    path: str
    level: str
    version_id: int
    features: int
    inserted: int
    replaced: int
    repaired: list[str] = field(default_factory=list)
    source_crs: str = ""
    published: date | None = None
    edit_id: int | None = None


IMPORT_ACTOR = "import"
"""Actor recorded for an import when none is given and ``$WANGGE_ACTOR`` is unset."""


def default_actor(actor: str | None = None) -> str:
    """``actor``, else ``$WANGGE_ACTOR``, else :data:`IMPORT_ACTOR`."""
    return actor or os.environ.get("WANGGE_ACTOR") or IMPORT_ACTOR


def log_import(conn: sa.Connection, adcode: str, version_id: int, actor: str,
               codes_before: list[str], codes_after: list[str],
               detail: dict[str, object]) -> int:
    """Append one ``grid_edit`` row (op ``import``) for an import into ``version_id``;
    returns its id. Grids are recorded by code only (see the module doc)."""
    return conn.execute(sa.text("""
        insert into grid_edit (adcode, version_id, actor, op, codes_before, codes_after, detail)
        values (:a, :v, :actor, 'import', :cb, :ca, cast(:d as jsonb)) returning id"""), {
        "a": adcode, "v": version_id, "actor": actor, "cb": sorted(codes_before),
        "ca": sorted(codes_after),
        "d": json.dumps(detail, ensure_ascii=False, default=str)}).scalar_one()


def rejects_path_for(path: str | Path) -> Path:
    """Where the rejected rows of ``path`` go: ``<name>.rejected.csv`` beside it (or in cwd)."""
    p = Path(path)
    target = p.with_name(p.name + ".rejected.csv")
    return target if p.parent.exists() and _writable(p.parent) else Path.cwd() / target.name


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK)


def infer_adcode(codes: list[str], path: str | Path) -> str:
    """The county adcode shared by the first six digits of all ``codes``."""
    prefixes = {c[:6] for c in codes}
    if len(prefixes) == 1 and all(c[:6].isdigit() for c in codes):
        return prefixes.pop()
    msg = f"{path}: cannot tell the county from the grid codes (prefixes " \
          f"{sorted(prefixes)[:5]}); pass --adcode with the county's 6-digit code"
    raise InputFileError(msg)


def _check_parents(conn: sa.Connection, version_id: int, gdf: gpd.GeoDataFrame,
                   level: int) -> list[dict[str, object]]:
    """Rejects for groups whose parent village is not in the version (level 2 only)."""
    if level != 2:
        return []
    rows = conn.execute(sa.text(
        "select code, township_code from grid where version_id = :v and level = 1"),
        {"v": version_id}).all()
    towns = dict(rows)
    rejects = []
    gdf["township_code"] = [towns.get(str(p)) for p in gdf["parent_code"]]
    for i, (code, parent) in enumerate(zip(gdf["code"], gdf["parent_code"], strict=True)):
        if str(parent) not in towns:
            rejects.append({"feature": int(gdf.index[i]) + 1 if isinstance(gdf.index[i], int)
                            else i + 1, "code": code, "field": "parent_code",
                            "reason": f"parent village {parent!r} is not in grid version "
                                      f"{version_id}; import the villages first"})
    return rejects


def _rejected(path: str | Path, rejects: list[dict[str, object]],
              rejects_path: str | Path | None) -> FeatureRejected:
    """Write the rejected rows and make the error naming the first of them."""
    out = Path(rejects_path) if rejects_path else rejects_path_for(path)
    write_rejects(rejects, out)
    first = rejects[0]
    msg = f"{path}: {len(rejects)} feature(s) rejected, nothing imported; first: " \
          f"feature {first.get('feature')} (code {first.get('code')!r}), field " \
          f"{first.get('field')!r}: {first.get('reason')}. All rejected rows: {out}"
    return FeatureRejected(msg, [(r.get("feature"), str(r.get("field")), str(r["reason"]))
                                 for r in rejects], str(out))


def import_grids(engine: Engine, path: str | Path, level: str, *, name_field: str | None = None,
                 code_field: str | None = None, parent_field: str | None = None,
                 crs: str | None = None, adcode: str | None = None,
                 version_id: int | None = None, publish_on: date | None = None,
                 rejects_path: str | Path | None = None,
                 actor: str | None = None) -> ImportReport:
    """Read ``path`` and write its grids into a version in one transaction.

    Any rejected feature rejects the whole file: the rejected rows go to ``rejects_path``
    (default ``<file>.rejected.csv``) and :class:`FeatureRejected` is raised; nothing is
    written. Grids whose code already exists in the version are replaced (idempotent).
    The target version is ``version_id`` or the county's newest draft (created if none);
    ``publish_on`` publishes it from that date. The import is recorded in ``grid_edit``
    (op ``import``, by ``actor``, default :func:`default_actor`) in the same transaction.
    """
    if level not in LEVELS:
        msg = f"--level must be one of {sorted(LEVELS)}, not {level!r}"
        raise InputFileError(msg)
    lvl = LEVELS[level]
    res = read_grid_file(path, level=level, name_field=name_field, code_field=code_field,
                         parent_field=parent_field, crs=crs)
    gdf = res.gdf
    rejects = list(res.rejects)
    codes = [str(c) for c in gdf["code"]]
    if not codes and not rejects:
        msg = f"{path}: no features to import"
        raise InputFileError(msg)
    if not codes and not adcode and not any(str(r.get("code") or "")[:6].isdigit()
                                            for r in rejects):
        raise _rejected(path, rejects, rejects_path)  # every feature bad, county unknown
    county = adcode or infer_adcode(codes or [str(r.get("code", "")) for r in rejects], path)
    with engine.begin() as conn:
        vid = version_id or versions.latest_draft(conn, county)
        v = versions.get_version(conn, vid)
        if v["status"] != "draft":
            msg = f"grid version {vid} is {v['status']}: imports go into a draft " \
                  "(omit --version to use the newest draft)"
            raise InputFileError(msg)
        if lvl == 1 and "township_code" not in gdf.columns:
            gdf["township_code"] = gdf["parent_code"]
        rejects += _check_parents(conn, vid, gdf, lvl)
        if rejects:
            raise _rejected(path, rejects, rejects_path)
        existing = list(conn.execute(sa.text(
            "select code from grid where version_id = :v and code = any(:c)"),
            {"v": vid, "c": codes}).scalars())
        saved = save_grids(conn, vid, gdf, lvl, county)
        edit_id = log_import(conn, county, vid, default_actor(actor), existing, codes, {
            "file": str(path), "level": level, "features": len(gdf),
            "inserted": saved.inserted, "replaced": saved.replaced,
            "source_crs": res.source_crs, "repaired": list(res.repaired),
            "published": publish_on})
        if publish_on is not None:
            versions.publish_simple(conn, vid, publish_on)
    return ImportReport(path=str(path), level=level, version_id=vid, features=len(gdf),
                        inserted=saved.inserted, replaced=saved.replaced,
                        repaired=list(res.repaired), source_crs=res.source_crs,
                        published=publish_on, edit_id=edit_id)
