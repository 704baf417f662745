"""Action callbacks of the planner page: edit preview and save, new draft, validate,
publish, export and re-import (imported by :mod:`dashboard.pages.planner`).

Each callback reads the page's state, calls one function of :mod:`dashboard.planner_ops`
(which never raises domain errors: it returns ``ok`` / ``error`` / ``problems``) and renders
the outcome with :mod:`dashboard.planner_layout`. Actions that change data bump
``planner-tick``, which makes the map, the summary and the details reload.

Who acts: with the login on (:mod:`dashboard.auth`), the logged-in user, whose role must
allow the action (:func:`gis.auth.roles.require`: ``grid.edit`` for drafts, edits and
re-imports, ``grid.publish`` at county level for publishing); without it, the name typed in
the panel's "acting as" field. With the login on, every read and write goes through
:func:`dashboard.data.store` (the user's jurisdiction: row-level security), so drafts of
another township are neither shown nor changed; a change the database refuses is shown as
refused.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from dash import Input, Output, State, callback, ctx, dcc, no_update

from dashboard import data
from dashboard import planner_data as pdata
from dashboard import planner_layout as ui
from dashboard import planner_ops as ops
from gis._errors import WanggeError
from gis.grids.topology import PROBLEM_TYPES
from layers.i18n import normalise_lang, t
from layers.planner import problem_layer


def _actor(actor: str | None) -> str:
    return (actor or "").strip() or ui.DEFAULT_ACTOR


def _who(actor: str | None) -> tuple[str, Any]:
    """(actor name, logged-in user or None)."""
    user = data.current_user()
    return (str(user.name) if user is not None else _actor(actor)), user


def _denied(user: Any, action: str, vid: int) -> str | None:
    """Why ``user`` may not take ``action`` on version ``vid`` (None: allowed / no login).

    Publishing needs its role at county level (:func:`gis.auth.roles.may_publish`); editing
    needs the role and the version's county to be the user's: which grids of it the user
    may change (those of its township / village) the database decides, row by row."""
    if user is None:
        return None
    from gis.auth.roles import GRID_PUBLISH, require
    from gis.grids import versions

    try:
        with data.connect() as conn:
            adcode = str(versions.get_version(conn, vid)["adcode"])
        if action == GRID_PUBLISH:
            require(user, action, adcode=adcode)
        else:
            require(user, action)
            if str(user.adcode) != adcode:
                return f"user {user.name!r} belongs to county {user.adcode}, not {adcode}"
    except WanggeError as e:
        return str(e)
    return None


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def problem_markers(problems: list[dict[str, Any]], lang: str) -> tuple[dict, dict]:
    """(GeoJSON, hideout) of the problem markers in ``lang``."""
    labels = {p: t(f"planner.problem.{p}", lang) for p in PROBLEM_TYPES}
    lyr = problem_layer(problems, labels)
    classes = lyr.style.classes.to_dict() if lyr.style.classes else None
    return lyr.data, ui.problems_hideout(lang, classes)


@callback(Output("planner-pending", "data"), Output("planner-preview", "children"),
          Output("planner-save", "disabled"),
          Input("planner-preview-split", "n_clicks"), Input("planner-preview-merge", "n_clicks"),
          State("planner-sel", "data"), State("planner-line", "data"),
          State("planner-merge-with", "value"), State("planner-split-groups", "value"),
          State("planner-version", "value"),
          State("planner-effective", "value"), State("planner-actor", "value"),
          State("app-lang", "data"), prevent_initial_call=True)
def preview(n_split: int, n_merge: int, sel: list[str] | None, line: str | None,
            partner: str | None, split_groups: list[str] | None, vid: int | None,
            effective: str | None, actor: str | None,
            lang: str | None) -> tuple[Any, Any, bool]:
    """Preview a split (selected grid + drawn line) or a merge (selected + partner)."""
    lang = normalise_lang(lang)
    if not (n_split or n_merge) or vid is None:
        return no_update, no_update, no_update
    if not sel:
        return None, ui.message(t("planner.need_selection", lang), "error"), True
    if ctx.triggered_id == "planner-preview-split":
        if not line:
            return None, ui.message(t("planner.need_line", lang), "error"), True
        req = ops.EditRequest("split", [sel[0]], line, split_groups=bool(split_groups))
    else:
        partners = [partner] if partner else [c for c in sel[1:]]
        if not partners:
            return None, ui.message(t("planner.need_partner", lang), "error"), True
        req = ops.EditRequest("merge", [sel[0], *partners])
    day = _day(effective) or date.today()
    who, user = _who(actor)
    why = _denied(user, "grid.edit", int(vid))
    if why:
        return None, ui.message(t("planner.refused", lang, e=why), "error"), True
    pv = ops.preview_edit(data.store(), int(vid), req, day, who)
    pending = {"vid": int(vid), "request": req.to_dict(), "stamp": pv["stamp"]} \
        if pv.get("ok") else None
    return pending, ui.preview_block(pv, lang), not pv.get("ok")


_ACTION_OUT = {
    "tick": Output("planner-tick", "data"),
    "options": Output("planner-version", "options"),
    "version": Output("planner-version", "value"),
    "message": Output("planner-message", "children"),
    "sel": Output("planner-sel", "data", allow_duplicate=True),
    "preview": Output("planner-preview", "children", allow_duplicate=True),
    "save_disabled": Output("planner-save", "disabled", allow_duplicate=True),
    "pending": Output("planner-pending", "data", allow_duplicate=True),
    "toolbar": Output("planner-draw", "editToolbar"),
    "publish": Output("planner-publish-result", "children", allow_duplicate=True),
    "upload": Output("planner-upload-result", "children", allow_duplicate=True),
    "apply_disabled": Output("planner-upload-apply", "disabled", allow_duplicate=True),
    "problems": Output("planner-problems", "data", allow_duplicate=True),
    "problems_hideout": Output("planner-problems", "hideout", allow_duplicate=True),
}


@callback(output=_ACTION_OUT, inputs={
    "n_new": Input("planner-new-draft", "n_clicks"), "n_save": Input("planner-save", "n_clicks"),
    "n_publish": Input("planner-publish", "n_clicks"),
    "n_apply": Input("planner-upload-apply", "n_clicks"),
    "vid": State("planner-version", "value"), "pending": State("planner-pending", "data"),
    "effective": State("planner-effective", "value"), "actor": State("planner-actor", "value"),
    "upload": State("planner-upload-store", "data"), "tick": State("planner-tick", "data"),
    "lang": State("app-lang", "data")}, prevent_initial_call=True)
def act(n_new: int, n_save: int, n_publish: int, n_apply: int, vid: int | None,
        pending: dict | None, effective: str | None, actor: str | None, upload: dict | None,
        tick: int | None, lang: str | None) -> dict[str, Any]:
    """New draft, save the previewed edit, publish, or replace the draft by the upload."""
    try:
        return _act(n_new, n_save, n_publish, n_apply, vid, pending, effective, actor, upload,
                    tick, lang)
    except sa.exc.DBAPIError as e:  # e.g. row-level security: outside the jurisdiction
        out: dict[str, Any] = dict.fromkeys(_ACTION_OUT, no_update)
        why = str(getattr(e, "orig", e)).strip().splitlines()[0][:300]
        out["message"] = ui.message(t("planner.refused", normalise_lang(lang), e=why), "error")
        return out


def _act(n_new: int, n_save: int, n_publish: int, n_apply: int, vid: int | None,
         pending: dict | None, effective: str | None, actor: str | None, upload: dict | None,
         tick: int | None, lang: str | None) -> dict[str, Any]:
    lang = normalise_lang(lang)
    out: dict[str, Any] = dict.fromkeys(_ACTION_OUT, no_update)
    trig = ctx.triggered_id
    if vid is None or not (n_new or n_save or n_publish or n_apply):
        return out
    eng, vid = data.store(), int(vid)
    who, user = _who(actor)
    tick = int(tick or 0) + 1
    why = _denied(user, "grid.publish" if trig == "planner-publish" else "grid.edit", vid)
    if why:
        out["message"] = ui.message(t("planner.refused", lang, e=why), "error")
        return out

    def changed(msg: Any, new_vid: int | None = None) -> None:
        out.update(tick=tick, message=msg, preview=[], save_disabled=True, pending=None)
        rows = pdata.version_options(eng, data.config().adcode)
        out["options"] = ui.version_options(rows, lang)
        if new_vid is not None:
            out["version"] = new_vid

    if trig == "planner-new-draft":
        res = ops.new_draft(eng, vid, who)
        if res["ok"]:
            changed(ui.message(t("planner.draft_created", lang, v=res["version_id"],
                                 f=vid), "ok"), res["version_id"])
        else:
            out["message"] = ui.message(t("planner.refused", lang, e=res["error"]), "error")
    elif trig == "planner-save":
        if not pending or pending.get("vid") != vid:
            out["message"] = ui.message(t("planner.need_preview", lang), "error")
            return out
        req = ops.EditRequest.from_dict(pending["request"])
        res = ops.save_edit(eng, vid, req, who, pending.get("stamp"))
        if res["ok"]:
            changed(ui.message(t("planner.saved", lang, op=t(f"planner.op.{req.op}", lang),
                                 before=", ".join(res["main_before"]),
                                 after=", ".join(res["main_after"]), e=res["edit_id"]), "ok"))
            out["sel"] = (res["main_after"] or res["codes_after"])[:1]
            out["toolbar"] = {"mode": "remove", "action": "clear all", "n_clicks": tick}
        else:
            out["message"] = ui.message(t("planner.refused", lang, e=res["error"]), "error")
            out["preview"] = ui.preview_block(res, lang)
    elif trig == "planner-publish":
        day = _day(effective)
        if day is None:
            out["publish"] = ui.message(t("planner.effective_missing", lang), "error")
            return out
        res = ops.publish_draft(eng, vid, day, who)
        out["publish"] = ui.publish_block(res, lang)
        if res["ok"]:
            changed(ui.message(t("planner.published_short", lang, v=vid), "ok"))
        elif res.get("problems"):
            out["problems"], out["problems_hideout"] = problem_markers(res["problems"], lang)
    elif trig == "planner-upload-apply":
        if not upload or upload.get("vid") != vid:
            out["upload"] = ui.message(t("planner.need_upload", lang), "error")
            return out
        res = ops.upload_apply(eng, vid, upload["token"], who,
                               allow_errors=bool(upload.get("errors")),
                               filename=upload.get("filename"))
        if res["ok"]:
            changed(ui.message(t("planner.imported", lang, a=len(res["added"]),
                                 r=len(res["removed"]), c=len(res["changed"]),
                                 e=res["edit_id"] or "—"), "ok"))
            out.update(upload=[], apply_disabled=True)
        else:
            out["upload"] = ui.message(t("planner.refused", lang, e=res["error"]), "error")
    return out


@callback(Output("planner-problems", "data"), Output("planner-problems", "hideout"),
          Output("planner-problems-list", "children"), Input("planner-validate", "n_clicks"),
          State("planner-version", "value"), State("app-lang", "data"),
          prevent_initial_call=True)
def validate(n: int, vid: int | None, lang: str | None) -> tuple[Any, Any, Any]:
    """Validate the chosen version: problems as markers and as a list."""
    lang = normalise_lang(lang)
    if not n or vid is None:
        return no_update, no_update, no_update
    res = ops.validate(data.store(), int(vid))
    if not res["ok"]:
        return no_update, no_update, ui.message(t("planner.refused", lang, e=res["error"]),
                                                "error")
    fc, hideout = problem_markers(res["problems"], lang)
    return fc, hideout, ui.problem_list(res["problems"], lang)


@callback(Output("planner-publish-result", "children"),
          Input("planner-publish-preview", "n_clicks"), State("planner-version", "value"),
          State("planner-effective", "value"), State("app-lang", "data"),
          prevent_initial_call=True)
def publish_preview(n: int, vid: int | None, effective: str | None, lang: str | None) -> Any:
    """What publishing the draft from the effective date would change."""
    lang = normalise_lang(lang)
    if not n or vid is None:
        return no_update
    day = _day(effective)
    if day is None:
        return ui.message(t("planner.effective_missing", lang), "error")
    return ui.publish_block(ops.publish_preview(data.store(), int(vid), day), lang,
                            preview=True)


@callback(Output("planner-download", "data"), Input("planner-export", "n_clicks"),
          State("planner-version", "value"), prevent_initial_call=True)
def export(n: int, vid: int | None) -> Any:
    """The chosen version as a GPKG download."""
    if not n or vid is None:
        return no_update
    raw = ops.export_gpkg(data.store(), int(vid))
    return dcc.send_bytes(raw, f"wangge-grids-v{int(vid)}.gpkg")


@callback(Output("planner-upload-store", "data"), Output("planner-upload-result", "children"),
          Output("planner-upload-apply", "disabled"), Input("planner-upload", "contents"),
          State("planner-upload", "filename"), State("planner-version", "value"),
          State("app-lang", "data"), prevent_initial_call=True)
def upload(contents: str | None, filename: str | None, vid: int | None,
           lang: str | None) -> tuple[Any, Any, bool]:
    """Validate an uploaded GPKG against the draft and show the diff before replacing."""
    lang = normalise_lang(lang)
    if not contents or vid is None:
        return no_update, no_update, no_update
    pv = ops.upload_preview(data.store(), int(vid), contents, filename)
    if not pv.get("ok") or pv["rejects"]:
        return None, ui.upload_block(pv, lang), True
    store = {"vid": int(vid), "token": pv["token"], "filename": filename,
             "errors": pv["errors"]}
    return store, ui.upload_block(pv, lang), pv["n_changes"] == 0

