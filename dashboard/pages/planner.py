"""Planner page (``/planner``): redraw grids safely — see, edit, validate, publish.

* **See** — the grids of a chosen version (the one in force or a draft; the picker lists
  them all) at village or group level, coloured by any balance metric
  (:data:`layers.planner.METRICS`), too-large / too-small grids outlined, a legend. Switching
  the metric restyles in the browser (values are in the features, classes in ``hideout``).
* **Select** — a click shows the grid's metrics, its flags with the reasons and its
  neighbours (clickable); Shift-click adds grids to the selection (merge partners).
* **Edit a draft** — "new draft" copies the selected version; draw a line with the polyline
  tool and preview a split of the selected grid, or pick a neighbour and preview a merge;
  the preview (:func:`dashboard.planner_ops.preview_edit`) shows the affected grids' metrics
  before / after and the incidents that would change grid; "save to draft" applies it.
* **Validate / publish** — problems as markers and a list; publish with an effective date
  (refused with the problem list when the draft is invalid).
* **Files** — export the version as GPKG; upload an edited GPKG: it is validated and its diff
  shown before it replaces the draft.

Component ids start with ``planner-``; data comes from :mod:`dashboard.planner_data`,
actions from :mod:`dashboard.planner_ops` (callbacks in :mod:`dashboard.planner_callbacks`),
components from :mod:`dashboard.planner_layout`.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import sqlalchemy as sa
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import data
from dashboard import planner_callbacks as _actions  # noqa: F401 - registers the callbacks
from dashboard import planner_data as pdata
from dashboard import planner_layout as ui
from gis import settings
from gis._errors import WanggeError
from layers.i18n import normalise_lang, t
from layers.leaflet import pane_name
from layers.planner import DEFAULT_METRIC, METRICS

dash.register_page(__name__, path="/planner", name=t("page.planner"), name_key="page.planner",
                   order=2, title=t("page.planner"))

log = logging.getLogger(__name__)

DATA_ERRORS: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, WanggeError, OSError)
DEFAULT_LEVEL = 1


def layout(**_query: Any) -> html.Div:
    """Page skeleton: the stores (kept across language switches) and the body slot."""
    return html.Div([
        dcc.Store(id="planner-prefs", storage_type="session"),
        dcc.Store(id="planner-sel", data=[]),
        dcc.Store(id="planner-line"),
        dcc.Store(id="planner-pending"),
        dcc.Store(id="planner-tick", data=0),
        dcc.Store(id="planner-upload-store"),
        html.Div(id="planner-body", className="wg-planner-body"),
    ], className="wg-planner", id="planner")


def body(lang: str, prefs: dict[str, Any] | None) -> list[Any]:
    """Toolbar, map and side panel for the version in ``prefs`` (default: in force)."""
    eng = data.store()
    adcode = data.config().adcode
    prefs = prefs or {}
    rows = pdata.version_options(eng, adcode)
    ids = [int(r["id"]) for r in rows]
    vid = prefs.get("version") if prefs.get("version") in ids else \
        pdata.default_version(eng, adcode)
    level = prefs.get("level") if prefs.get("level") in settings.GRID_LEVELS else DEFAULT_LEVEL
    metric = prefs.get("metric") if prefs.get("metric") in METRICS else DEFAULT_METRIC
    if vid is None:
        return [html.Div(t("planner.no_data", lang), className="wg-empty", id="planner-empty")]
    vd = pdata.version_data(eng, vid)
    bounds = [float(x) for x in vd.grids.total_bounds] if len(vd.grids) else None
    return [ui.toolbar(lang, rows, vid, level, metric),
            html.Div([ui.map_block(lang, bounds, data.config().tile_url),
                      ui.panel(lang, show_actor=not getattr(data.config(), "auth", False))],
                     className="wg-pl-main")]


@callback(Output("planner-body", "children"), Input("app-lang", "data"),
          State("planner-prefs", "data"))
def render(lang: str | None, prefs: dict[str, Any] | None) -> list[Any]:
    """(Re)build the page in the chosen language, keeping version, level and metric."""
    lang = normalise_lang(lang)
    try:
        return body(lang, prefs)
    except DATA_ERRORS as e:
        log.warning("planner page: %s", e)
        return [html.Div(t("planner.db_error", lang, e=str(e)), className="wg-empty")]


@callback(Output("planner-prefs", "data"), Input("planner-version", "value"),
          Input("planner-level", "value"), Input("planner-metric", "value"))
def remember(vid: int | None, level: int | None, metric: str | None) -> dict[str, Any]:
    """Keep the choices (a language switch rebuilds the page with them)."""
    return {"version": vid, "level": level, "metric": metric}


@callback(Output("planner-grids", "data"), Output("planner-summary", "children"),
          Output("planner-edit-section", "style"), Output("planner-publish-section", "style"),
          Output("planner-upload-block", "style"), Input("planner-version", "value"),
          Input("planner-level", "value"), Input("planner-tick", "data"),
          State("app-lang", "data"))
def show_version(vid: int | None, level: int | None, _tick: int,
                 lang: str | None) -> tuple[Any, ...]:
    """Send the grids of the chosen version and level (with every metric); show the
    editing, publishing and re-import controls for a draft only."""
    lang = normalise_lang(lang)
    if vid is None or level is None:
        return (no_update,) * 5
    try:
        lyr, vd = pdata.layer(data.store(), int(vid), int(level), DEFAULT_METRIC)
    except DATA_ERRORS as e:
        return (no_update, ui.message(t("planner.db_error", lang, e=str(e)), "error"),
                *(no_update,) * 3)
    hidden = None if vd.status == "draft" else {"display": "none"}
    return lyr.data, ui.summary_block(pdata.summary(vd), lang), hidden, hidden, hidden


@callback(Output("planner-grids", "hideout"), Output("planner-legend", "children"),
          Input("planner-version", "value"), Input("planner-level", "value"),
          Input("planner-metric", "value"), Input("planner-sel", "data"),
          Input("planner-tick", "data"), State("app-lang", "data"))
def restyle(vid: int | None, level: int | None, metric: str | None, sel: list[str] | None,
            _tick: int, lang: str | None) -> tuple[Any, Any]:
    """Classes of the chosen metric, the selection and the legend (no geometry sent)."""
    lang = normalise_lang(lang)
    if vid is None or level is None or metric not in METRICS:
        return no_update, no_update
    try:
        vd = pdata.version_data(data.store(), int(vid))
    except DATA_ERRORS:
        return no_update, no_update
    classes, entries = pdata.styling(vd, int(level), str(metric))
    hideout = ui.grid_hideout(lang) | {"pane": pane_name("planner-grids"), "classes": classes,
                                       "selected": list(sel or [])}
    return hideout, ui.legend(METRICS[metric].label, entries, lang)


@callback(Output("planner-sel", "data"), Input("planner-grids", "clickData"),
          Input({"type": "planner-nb", "code": ALL}, "n_clicks"), State("planner-sel", "data"),
          prevent_initial_call=True)
def select(click: dict[str, Any] | None, _nb: list[int], sel: list[str] | None) -> Any:
    """Click: select one grid; Shift-click: add / remove a partner; neighbour: select it."""
    trig = ctx.triggered_id
    if trig == "planner-grids":
        if not click or not click.get("code"):
            return no_update
        code = str(click["code"])
        sel = list(sel or [])
        if click.get("shift") and sel:
            if code == sel[0]:
                return sel
            if code in sel:
                sel.remove(code)
            else:
                sel.append(code)
            return sel
        return [code]
    if isinstance(trig, dict) and ctx.triggered and ctx.triggered[0].get("value"):
        return [str(trig["code"])]
    return no_update


@callback(Output("planner-detail", "children"), Output("planner-merge-with", "options"),
          Output("planner-merge-with", "value"), Input("planner-sel", "data"),
          Input("planner-version", "value"), Input("planner-tick", "data"),
          State("app-lang", "data"))
def detail(sel: list[str] | None, vid: int | None, _tick: int,
           lang: str | None) -> tuple[Any, Any, Any]:
    """The selected grid's metrics, flags, reasons and neighbours; merge candidates."""
    lang = normalise_lang(lang)
    if not sel or vid is None:
        return ui.detail_block(None, lang), [], None
    try:
        vd = pdata.version_data(data.store(), int(vid))
    except DATA_ERRORS as e:
        return ui.message(t("planner.db_error", lang, e=str(e)), "error"), [], None
    d = pdata.grid_detail(vd, sel[0])
    if d is None:
        return ui.detail_block(None, lang, sel[0]), [], None
    cands = {c["code"]: c for c in d["merge_candidates"]}
    options = [{"label": f"{c['name']} {c['code']}", "value": c["code"]} for c in cands.values()]
    partner = next((c for c in sel[1:] if c in cands), None)
    return ui.detail_block(d, lang), options, partner


@callback(Output("planner-line", "data"), Output("planner-line-status", "children"),
          Input("planner-draw", "geojson"), State("app-lang", "data"))
def drawn(geojson: dict[str, Any] | None, lang: str | None) -> tuple[Any, str]:
    """Keep the last line drawn (the split line)."""
    wkt, n = pdata.line_wkt(geojson)
    lang = normalise_lang(lang)
    return wkt, t("planner.line_drawn", lang, n=n) if wkt else t("planner.line_none", lang)
