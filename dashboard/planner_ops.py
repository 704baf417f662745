"""Actions of the planner page: new draft, edit preview and save, validate, publish,
export and re-import. No Dash here (tests call these directly).

Every action returns a plain dict: ``ok`` plus the result, or ``ok = False`` with
``error`` (the domain error's message, which says what is wrong and how to fix it) and
``problems`` (topology problems, when the refusal has them). Domain errors never escape.

Edit preview
------------
:func:`preview_edit` runs the edit inside a transaction that is always rolled back and
reports, for the grids it touches (replaced, produced and noded neighbours), their balance
metrics before and after (:func:`dashboard.planner_data.compute_metrics`: incidents counted
by location in the draft before / after the edit), how many incidents dated on or after
the effective date would change grid **because of this edit** (the draft's own
point-in-grid lookup before and after), and :func:`gis.grids.publish.preview` of the whole
draft with the edit applied (what publishing it would change against the version in force).
:func:`save_edit` then applies the same edit for real, refusing when the draft changed since
the preview (its :func:`dashboard.planner_data.stamp` differs).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dashboard.planner_data import compute_metrics, stamp, version_data
from gis import settings
from gis._errors import WanggeError
from gis.grids import edits, publish, versions
from gis.grids.export import export_grids
from gis.grids.reimport import compare_file, reimport_file
from gis.grids.store import read_grids
from gis.grids.validation import validate_version
from gis.inputs import mib
from layers.planner import flag_of

OPS: tuple[str, ...] = ("split", "merge")
UPLOAD_DIR = Path(tempfile.gettempdir()) / "wangge-planner-uploads"
"""Where uploaded files wait between their preview and the replace (one file per upload)."""
UPLOAD_KEEP_S = 24 * 3600
"""Uploads never applied are removed after this many seconds (at the next upload)."""
ROW_KEYS: tuple[str, ...] = ("population", "households", "area_km2", "incidents_per_week",
                             "residents_per_worker", "compactness", "dist_to_post_m")
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class EditRequest:
    """An edit the page can preview and save: ``split`` (one code and a line WKT in
    EPSG:4490; ``split_groups``: a village split also splits the groups the line cuts) or
    ``merge`` (two or more codes)."""

    op: str
    codes: list[str]
    line_wkt: str | None = None
    split_groups: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "codes": list(self.codes), "line_wkt": self.line_wkt,
                "split_groups": self.split_groups}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EditRequest:
        return cls(op=str(d["op"]), codes=[str(c) for c in d["codes"]],
                   line_wkt=d.get("line_wkt"), split_groups=bool(d.get("split_groups")))


def _fail(e: Exception) -> dict[str, Any]:
    problems = getattr(e, "problems", None) or []
    return {"ok": False, "error": str(e),
            "problems": [p.to_dict() if hasattr(p, "to_dict") else dict(p) for p in problems]}


def run_edit(conn: Connection, vid: int, req: EditRequest, actor: str) -> edits.EditResult:
    """Apply ``req`` to draft ``vid`` inside the caller's transaction."""
    if req.op == "split":
        if len(req.codes) != 1 or not req.line_wkt:
            raise versions.PlanningError("split: select one grid and draw a line across it")
        return edits.split(conn, vid, req.codes[0], req.line_wkt, actor=actor,
                           split_groups=req.split_groups)
    if req.op == "merge":
        if len(req.codes) < 2:
            raise versions.PlanningError("merge: select two or more neighbouring grids")
        return edits.merge(conn, vid, req.codes, actor=actor)
    raise versions.PlanningError(f"unknown edit {req.op!r}; one of {OPS}")


def _rows(metrics: pd.DataFrame, codes: list[str], state: str) -> list[dict[str, Any]]:
    m = metrics[metrics["code"].isin(codes)].sort_values(["level", "code"])
    out = []
    for r in m.to_dict("records"):
        row = {"state": state, "code": r["code"], "name": r["name"], "level": int(r["level"]),
               "flag": flag_of(r["too_large"], r["too_small"])}
        for k in ROW_KEYS:
            v = r[k]
            row[k] = None if v is None or pd.isna(v) else float(v)
        out.append(row)
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two metric rows of one code agree (relative 1e-6; noding moves nothing)."""
    if a["flag"] != b["flag"]:
        return False
    for k in ROW_KEYS:
        x, y = a[k], b[k]
        if (x is None) != (y is None):
            return False
        if x is not None and abs(x - y) > 1e-6 * max(1.0, abs(x)):
            return False
    return True


def headline(codes: list[str], levels: dict[str, int], level: int) -> list[str]:
    """The codes of ``level`` among ``codes`` (the grids the planner acted on; a village
    edit also rewrites its groups, which the preview lists as "other grids")."""
    return [c for c in codes if levels.get(c) == level]


def _moves(conn: Connection, adcode: str, before: Any, after: Any, since: date) -> int:
    a = publish.reassignment(conn, adcode, before, since)
    b = publish.reassignment(conn, adcode, after, since)
    ga = a["group_code"].astype(object).where(a["group_code"].notna(), None).to_numpy()
    gb = b["group_code"].astype(object).where(b["group_code"].notna(), None).to_numpy()
    return int(np.sum(ga != gb))


def preview_edit(engine: Engine, vid: int, req: EditRequest, effective: date,
                 actor: str) -> dict[str, Any]:
    """What ``req`` would do to draft ``vid`` (see the module doc); nothing is written."""
    vd = version_data(engine, vid)
    with engine.connect() as conn:
        conn.begin()
        try:
            versions.require_draft(conn, vid)
            lookup_before = publish.draft_lookup(conn, vid)
            res = run_edit(conn, vid, req, actor)
            grids = read_grids(conn, vid)
            lookup_after = publish.draft_lookup(conn, vid)
            after = compute_metrics(conn, vid, grids, vd.adcode, vd.weeks, lookup_after)
            moved = _moves(conn, vd.adcode, lookup_before, lookup_after, effective)
            whole = publish.preview(conn, vid, effective)
        except WanggeError as e:
            return _fail(e) | {"request": req.to_dict()}
        finally:
            conn.rollback()
    before = {r["code"]: r for r in _rows(vd.metrics, res.codes_before + res.noded, "before")}
    after_rows = {r["code"]: r for r in _rows(after, res.codes_after + res.noded, "after")}
    quiet = {c for c in before if c in after_rows and _same(before[c], after_rows[c])}
    rows = [r for c, r in before.items() if c not in quiet] + \
        [r for c, r in after_rows.items() if c not in quiet]
    levels = {r["code"]: r["level"] for r in [*before.values(), *after_rows.values()]}
    level = levels.get(req.codes[0], 0)
    main_before = headline(res.codes_before, levels, level)
    main_after = headline(res.codes_after, levels, level)
    return {"ok": True, "request": req.to_dict(), "stamp": list(vd.stamp),
            "codes_before": res.codes_before, "codes_after": res.codes_after,
            "main_before": main_before, "main_after": main_after,
            "others": len(set(res.codes_before + res.codes_after + res.noded)
                          - set(main_before) - set(main_after)),
            "unchanged": len(quiet),
            "noded": res.noded, "rows": rows, "incidents_moved": moved,
            "effective": effective.isoformat(),
            "publish": {k: whole[k] for k in ("added", "removed", "changed", "errors",
                                              "warnings", "incidents_changing",
                                              "publishable", "effective_ok", "retires")}}


def save_edit(engine: Engine, vid: int, req: EditRequest, actor: str,
              expected: tuple[str, int] | list | None = None) -> dict[str, Any]:
    """Apply ``req`` to draft ``vid`` for real (refused when the draft changed since the
    preview that returned ``expected``)."""
    try:
        with engine.begin() as conn:
            if expected is not None and tuple(stamp(conn, vid)) != tuple(expected):
                raise versions.PlanningError(
                    f"draft {vid} changed since the preview (someone else edited it); "
                    "preview the edit again")
            level = conn.execute(sa.text("select level from grid where version_id = :v and "
                                         "code = :c"), {"v": vid, "c": req.codes[0]}).scalar()
            res = run_edit(conn, vid, req, actor)
            levels = dict(conn.execute(sa.text(
                "select code, level from grid where version_id = :v and code = any(:c)"),
                {"v": vid, "c": res.codes_after}).all())
    except WanggeError as e:
        return _fail(e)
    return {"ok": True, "main_before": [c for c in res.codes_before if c in req.codes],
            "main_after": headline(res.codes_after, levels, level)} | res.to_dict()


def new_draft(engine: Engine, from_version: int, actor: str) -> dict[str, Any]:
    """A new draft copying ``from_version``'s grids (logged as ``new_draft``)."""
    try:
        with engine.begin() as conn:
            vid = versions.new_draft(conn, from_version=from_version, actor=actor)
    except WanggeError as e:
        return _fail(e)
    return {"ok": True, "version_id": vid, "from_version": from_version}


def validate(engine: Engine, vid: int) -> dict[str, Any]:
    """Topology problems of version ``vid`` (``Problem.to_dict()`` rows) and counts."""
    try:
        with engine.connect() as conn:
            _, problems = validate_version(conn, vid)
    except WanggeError as e:
        return _fail(e)
    rows = [p.to_dict() for p in problems]
    errors = sum(1 for p in rows if p["severity"] == "error")
    return {"ok": True, "version_id": vid, "problems": rows, "errors": errors,
            "warnings": len(rows) - errors, "valid": errors == 0}


def publish_preview(engine: Engine, vid: int, effective: date) -> dict[str, Any]:
    """:func:`gis.grids.publish.preview` of draft ``vid`` from ``effective``."""
    try:
        with engine.connect() as conn:
            pv = publish.preview(conn, vid, effective)
    except WanggeError as e:
        return _fail(e)
    return {"ok": True} | pv


def publish_draft(engine: Engine, vid: int, effective: date, actor: str) -> dict[str, Any]:
    """Publish draft ``vid`` from ``effective`` (refused with the problem list when the
    draft fails validation; nothing changes then)."""
    try:
        with engine.begin() as conn:
            rep = publish.publish(conn, vid, effective, actor=actor)
    except WanggeError as e:
        return _fail(e)
    return {"ok": True} | rep.to_dict()


def export_gpkg(engine: Engine, vid: int) -> bytes:
    """The grids of version ``vid`` as a GPKG file (layers ``village`` and ``group``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"grids-v{vid}.gpkg"
        export_grids(engine, path, version_id=vid)
        return path.read_bytes()


def _upload_path(token: str) -> Path:
    if not _TOKEN.match(str(token)):
        raise WanggeError(f"bad upload token {token!r}; upload the file again")
    return UPLOAD_DIR / f"{token}.gpkg"


def store_upload(contents: str, filename: str | None = None) -> str:
    """Save a ``dcc.Upload`` payload (``data:...;base64,...``) to :data:`UPLOAD_DIR`;
    returns its token."""
    _, _, b64 = str(contents).partition(",")
    size = len(b64 or contents) * 3 // 4  # bytes the base64 text decodes to (± 2)
    if size > settings.UPLOAD_MAX_BYTES:
        msg = f"{filename or 'upload'}: the file is {mib(size)}, over the upload limit of " \
              f"{mib(settings.UPLOAD_MAX_BYTES)} (settings.UPLOAD_MAX_BYTES); import bigger " \
              "files with 'wangge grids import'"
        raise WanggeError(msg)
    try:
        raw = base64.b64decode(b64 or contents, validate=False)
    except (binascii.Error, ValueError) as e:
        raise WanggeError(f"{filename or 'upload'}: not a readable upload ({e})") from e
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in UPLOAD_DIR.glob("*.gpkg"):
        if now - old.stat().st_mtime > UPLOAD_KEEP_S:
            old.unlink(missing_ok=True)
    token = uuid.uuid4().hex
    path = _upload_path(token)
    path.write_bytes(raw)
    os.chmod(path, 0o600)
    return token


def upload_preview(engine: Engine, vid: int, contents: str,
                   filename: str | None = None) -> dict[str, Any]:
    """Store an uploaded draft file and compare it with draft ``vid``: rejected features,
    validation problems and the diff (:func:`gis.grids.reimport.compare_file`)."""
    token = None
    try:
        token = store_upload(contents, filename)
        pv = compare_file(engine, _upload_path(token), vid)
    except WanggeError as e:
        if token:
            _upload_path(token).unlink(missing_ok=True)
        return _fail(e) | {"filename": filename}
    return {"ok": True, "token": token, "filename": filename} | pv.to_dict()


def upload_apply(engine: Engine, vid: int, token: str, actor: str,
                 allow_errors: bool = False, filename: str | None = None) -> dict[str, Any]:
    """Replace draft ``vid``'s grids by the stored upload ``token`` (logged as ``import``);
    the stored file is removed afterwards."""
    try:
        path = _upload_path(token)
        if not path.exists():
            raise WanggeError("the uploaded file is gone (server restarted?); upload it again")
        rep = reimport_file(engine, path, vid, actor=actor, allow_errors=allow_errors,
                            label=filename)
    except WanggeError as e:
        return _fail(e)
    path.unlink(missing_ok=True)
    return {"ok": True} | rep.to_dict()
