"""Components of the planner page (``/planner``): toolbar, map, side panel and the blocks the
callbacks fill in (grid details, edit preview, problems, publish and upload results).

Pure functions of already-computed data (:mod:`dashboard.planner_data`,
:mod:`dashboard.planner_ops`) and the language; every visible string goes through
:func:`layers.i18n.t`. Component ids start with ``planner-``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace, arrow_function

from gis import settings
from layers.base import LegendEntry
from layers.i18n import t
from layers.leaflet import FILTER, ON_EACH_FEATURE, POINT_TO_LAYER, _swatch, pane_name
from layers.planner import (
    FLAG_STYLES,
    GRID_STYLE,
    METRICS,
    NO_DATA_COLOR,
    PARTNER_STYLE,
    SELECTED_STYLE,
    fmt,
)

PL = Namespace("wangge", "planner")
"""Client-side functions of ``dashboard/assets/planner.js`` (``window.wangge.planner``)."""
MAP_ID = "planner-map"
DEFAULT_ACTOR = "planner"
LEVEL_KEYS = {1: "planner.level.village", 2: "planner.level.group"}
ROW_METRICS: tuple[tuple[str, int, float], ...] = (
    ("population", 0, 1.0), ("households", 0, 1.0), ("area_km2", 3, 1.0),
    ("incidents_per_week", 2, 1.0), ("residents_per_worker", 0, 1.0), ("compactness", 3, 1.0),
    ("dist_to_post_m", 2, 0.001))
"""Columns of the preview table: (row key, decimals, scale)."""


def version_label(v: dict[str, Any], lang: str) -> str:
    """Picker label of a version: ``#id name · status [· effective date] [· in force]``."""
    parts = [f"#{v['id']} {v['name']}", t(f"planner.status.{v['status']}", lang)]
    if v.get("effective_date"):
        parts.append(t("planner.effective_on", lang, d=v["effective_date"]))
    if v.get("in_force"):
        parts.append(t("planner.in_force", lang))
    return " · ".join(parts)


def version_options(rows: Sequence[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Options of the version picker."""
    return [{"label": version_label(v, lang), "value": int(v["id"])} for v in rows]


def _radio(id_: str, options: list[dict[str, Any]], value: Any) -> dcc.RadioItems:
    return dcc.RadioItems(id=id_, options=options, value=value, inline=True,
                          className="wg-pl-seg", inputClassName="wg-pl-seg-input",
                          labelClassName="wg-pl-seg-label")


def toolbar(lang: str, versions: Sequence[dict[str, Any]], vid: int | None, level: int,
            metric: str) -> html.Div:
    """Version picker, new-draft button, level switch and metric switch."""
    return html.Div([
        html.Div([html.Span(t("planner.version", lang), className="wg-pl-key"),
                  dcc.Dropdown(id="planner-version", options=version_options(versions, lang),
                               value=vid, clearable=False, searchable=False,
                               className="wg-pl-version")], className="wg-pl-tool"),
        html.Button(t("planner.new_draft", lang), id="planner-new-draft", n_clicks=0,
                    className="wg-pl-btn", title=t("planner.new_draft_hint", lang)),
        html.Div([html.Span(t("planner.level", lang), className="wg-pl-key"),
                  _radio("planner-level", [{"label": t(LEVEL_KEYS[lv], lang), "value": lv}
                                           for lv in settings.GRID_LEVELS], level)],
                 className="wg-pl-tool"),
        html.Div([html.Span(t("planner.metric", lang), className="wg-pl-key"),
                  _radio("planner-metric", [{"label": t(m.label, lang), "value": k}
                                            for k, m in METRICS.items()], metric)],
                 className="wg-pl-tool wg-pl-tool-metric"),
    ], className="wg-pl-toolbar", id="planner-toolbar")


def grid_hideout(lang: str) -> dict[str, Any]:
    """The fixed part of the grid layer's ``hideout`` (classes and selection come later)."""
    return {"style": GRID_STYLE.to_leaflet(), "classes": None, "noData": NO_DATA_COLOR,
            "flags": FLAG_STYLES, "selectedStyle": SELECTED_STYLE,
            "partnerStyle": PARTNER_STYLE, "selected": [], "interactive": True,
            "tooltip": {"name": "name", "locale": "zh-CN" if lang == "zh" else "en-US",
                        "fields": [["code", t("field.code", lang)],
                                   ["population", t("field.population", lang)],
                                   ["households", t("field.households", lang)]]}}


def problems_hideout(lang: str, classes: dict[str, Any] | None = None) -> dict[str, Any]:
    """``hideout`` of the problem markers (tooltip labels in ``lang``)."""
    return {"style": {"color": "#04101c", "weight": 1.5, "opacity": 1.0, "fill": True,
                      "fillOpacity": 0.95, "radius": 8}, "classes": classes,
            "interactive": True, "pane": pane_name("planner-problems"),
            "tooltip": {"name": "label", "locale": "zh-CN" if lang == "zh" else "en-US",
                        "fields": [["codes", t("planner.problem.codes", lang)],
                                   ["area_m2", t("planner.problem.area", lang)]]}}


def map_block(lang: str, bounds: Sequence[float] | None, tile_url: str | None = None) -> html.Div:
    """The map: grid layer, problem markers, drawing tools, scale bar and legend box."""
    view: dict[str, Any] = {"center": [35.0, 105.0], "zoom": 5}
    if bounds:
        b = bounds
        view = {"bounds": [[b[1], b[0]], [b[3], b[2]]], "boundsOptions": {"padding": [12, 12]},
                "center": [(b[1] + b[3]) / 2, (b[0] + b[2]) / 2]}
    grids = dl.GeoJSON(id="planner-grids", data=None, style=PL("style"),
                       onEachFeature=ON_EACH_FEATURE, filter=FILTER,
                       hideout=grid_hideout(lang) | {"pane": pane_name("planner-grids")},
                       hoverStyle=arrow_function({"weight": 2.5, "color": "#ffffff"}),
                       eventHandlers={"click": PL("click")}, bubblingMouseEvents=False,
                       pane=pane_name("planner-grids"))
    problems = dl.GeoJSON(id="planner-problems", data=None, pointToLayer=POINT_TO_LAYER,
                          onEachFeature=ON_EACH_FEATURE, filter=FILTER,
                          hideout=problems_hideout(lang), pane=pane_name("planner-problems"))
    draw = dl.FeatureGroup(dl.EditControl(
        id="planner-draw", position="topleft",
        draw={"polyline": {"shapeOptions": {"color": "#ffd166", "weight": 3}},
              "polygon": False, "rectangle": False, "circle": False, "marker": False,
              "circlemarker": False},
        edit={"edit": False, "remove": True}))
    children: list[Any] = []
    if tile_url:
        children.append(dl.TileLayer(url=tile_url, maxZoom=19))
    children += [dl.Pane(grids, name=pane_name("planner-grids"), className="wg-pane"),
                 dl.Pane(problems, name=pane_name("planner-problems"), className="wg-pane"),
                 draw, dl.ScaleControl(position="bottomright", imperial=False)]
    the_map = dl.Map(children, id=MAP_ID, **view, zoomSnap=0.25, minZoom=5, maxZoom=19,
                     attributionControl=False,
                     style={"position": "absolute", "inset": 0})
    return html.Div([the_map, html.Div(id="planner-legend", className="wg-legend")],
                    className="wg-map wg-pl-map")


def legend(title_key: str, entries: Sequence[LegendEntry], lang: str) -> list[Any]:
    """Children of the legend box: the metric as title, then its rows."""
    return [html.Div(t("home.legend", lang), className="wg-legend-title"),
            html.Div(t(title_key, lang), className="wg-legend-layer", id="planner-legend-metric"),
            *[html.Div([_swatch(e), html.Span(e.text(lang))], className="wg-legend-row")
              for e in entries]]


def _section(title_key: str, lang: str, children: list[Any] | None = None,
             id_: str | None = None,
             **kw: Any) -> html.Section:
    extra = {"id": id_} if id_ else {}
    return html.Section([html.Div(t(title_key, lang), className="wg-pl-title"),
                         *(children or [])],
                        className="wg-pl-section", **extra, **kw)


def panel(lang: str, show_actor: bool = True) -> html.Div:
    """The side panel with empty slots the callbacks fill (``show_actor``: the "acting as"
    field, hidden when the login names the user)."""
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    return html.Div([
        html.Div(id="planner-message", className="wg-pl-message"),
        html.Div(id="planner-summary", className="wg-pl-summary"),
        _section("planner.grid", lang, [html.Div(t("planner.click_hint", lang),
                                                 id="planner-detail", className="wg-pl-muted")]),
        _section("planner.edit", lang, [
            html.Div(t("planner.edit_hint", lang), className="wg-pl-muted"),
            html.Div(id="planner-line-status", className="wg-pl-muted"),
            html.Div([html.Button(t("planner.preview_split", lang), id="planner-preview-split",
                                  n_clicks=0, className="wg-pl-btn"),
                      dcc.Checklist(id="planner-split-groups", value=[],
                                    options=[{"label": t("planner.split_groups", lang),
                                              "value": "yes"}],
                                    className="wg-pl-check",
                                    labelClassName="wg-pl-check-label")],
                     className="wg-pl-row"),
            html.Div([dcc.Dropdown(id="planner-merge-with", options=[], value=None,
                                   placeholder=t("planner.merge_with", lang),
                                   className="wg-pl-merge"),
                      html.Button(t("planner.preview_merge", lang), id="planner-preview-merge",
                                  n_clicks=0, className="wg-pl-btn")], className="wg-pl-row"),
            html.Div(id="planner-preview"),
            html.Button(t("planner.save", lang), id="planner-save", n_clicks=0,
                        className="wg-pl-btn wg-pl-btn-primary", disabled=True),
        ], id_="planner-edit-section"),
        _section("planner.validate", lang, [
            html.Button(t("planner.validate_run", lang), id="planner-validate", n_clicks=0,
                        className="wg-pl-btn"),
            html.Div(id="planner-problems-list")]),
        _section("planner.publish", lang, id_="planner-publish-section", children=[
            html.Div([html.Span(t("planner.effective", lang), className="wg-pl-key"),
                      dcc.Input(id="planner-effective", type="date", value=tomorrow,
                                className="wg-pl-input")], className="wg-pl-row"),
            html.Div([html.Button(t("planner.publish_preview", lang),
                                  id="planner-publish-preview", n_clicks=0,
                                  className="wg-pl-btn"),
                      html.Button(t("planner.publish_run", lang), id="planner-publish",
                                  n_clicks=0, className="wg-pl-btn wg-pl-btn-danger")],
                     className="wg-pl-row"),
            html.Div(id="planner-publish-result")]),
        _section("planner.files", lang, [
            html.Div([html.Button(t("planner.export", lang), id="planner-export", n_clicks=0,
                                  className="wg-pl-btn"),
                      dcc.Download(id="planner-download")], className="wg-pl-row"),
            html.Div([
                html.Div([  # the size limit: assets/upload_limit.js says why a file is refused
                    dcc.Upload(html.Div(t("planner.upload", lang)), id="planner-upload",
                               className="wg-pl-upload", multiple=False, accept=".gpkg",
                               max_size=settings.UPLOAD_MAX_BYTES),
                    html.Div(t("planner.upload_limit", lang,
                               m=round(settings.UPLOAD_MAX_BYTES / 2**20)),
                             className="wg-pl-muted", id="planner-upload-hint"),
                    html.Div(id="planner-upload-limit", className="wg-upload-limit-msg")],
                    **{"data-max-bytes": str(settings.UPLOAD_MAX_BYTES),
                       "data-too-big": t("upload.too_big", lang),
                       "data-error-class": "wg-pl-msg wg-pl-msg-error"}),
                html.Div(id="planner-upload-result"),
                html.Button(t("planner.upload_apply", lang), id="planner-upload-apply",
                            n_clicks=0, className="wg-pl-btn wg-pl-btn-primary",
                            disabled=True)], id="planner-upload-block")]),
        _section("planner.who", lang, [
            dcc.Input(id="planner-actor", value=DEFAULT_ACTOR, type="text", debounce=True,
                      persistence=True, persistence_type="local", className="wg-pl-input")],
                 style=None if show_actor else {"display": "none"}),
    ], className="wg-pl-panel", id="planner-panel")


# --- blocks filled by the callbacks -------------------------------------------------------

def message(text: str, kind: str = "info") -> html.Div:
    """A message line (kind: info, ok, error)."""
    return html.Div(text, className=f"wg-pl-msg wg-pl-msg-{kind}")


def summary_block(s: dict[str, Any], lang: str) -> list[Any]:
    """Version summary: status, counts, flagged grids per level."""
    status = t(f"planner.status.{s['status']}", lang)
    rows = [html.Div([html.Span(f"#{s['version_id']} {s['name']}", className="wg-pl-vname"),
                      html.Span(status, className=f"wg-pl-badge wg-pl-badge-{s['status']}")])]
    for lv in settings.GRID_LEVELS:
        rows.append(html.Div(t("planner.summary_level", lang, level=t(LEVEL_KEYS[lv], lang),
                               n=f"{s[f'grids_{lv}']:,}", large=s[f"large_{lv}"],
                               small=s[f"small_{lv}"]), className="wg-pl-muted"))
    return rows


def _kv(rows: list[tuple[str, Any]], id_prefix: str = "") -> html.Table:
    return html.Table(html.Tbody([
        html.Tr([html.Th(k), html.Td(v, id=f"{id_prefix}{i}" if id_prefix else None)])
        for i, (k, v) in enumerate(rows)]), className="wg-pl-table")


def detail_block(d: dict[str, Any] | None, lang: str, code: str | None = None) -> list[Any]:
    """Metrics table, flags with reasons and clickable neighbours of one grid."""
    if d is None:
        text = t("planner.not_in_version", lang, code=code) if code else \
            t("planner.click_hint", lang)
        return [html.Div(text, className="wg-pl-muted")]
    head = [html.Div([html.Span(d["name"], className="wg-pl-gname", id="planner-detail-name"),
                      html.Span(d["code"], className="wg-pl-code", id="planner-detail-code"),
                      html.Span(t(LEVEL_KEYS[d["level"]], lang), className="wg-pl-badge")])]
    if d.get("parent_name"):
        head.append(html.Div(t("planner.parent", lang, name=d["parent_name"],
                               code=d["parent_code"]), className="wg-pl-muted"))
    rows = []
    for key, value, digits in d["metrics"]:
        shown = value if isinstance(value, str) or value is None and key == "nearest_post" \
            else fmt(value, digits)
        rows.append((t(f"planner.m.{key}", lang), "—" if shown is None else shown))
    table = html.Table(html.Tbody([
        html.Tr([html.Th(k), html.Td(v, id=f"planner-metric-{key}")])
        for (k, v), (key, _, _) in zip(rows, d["metrics"], strict=True)]),
        className="wg-pl-table", id="planner-metrics-table")
    flags: list[Any] = []
    if d["too_large"]:
        flags.append(html.Span(t("planner.flag.large", lang), className="wg-pl-flag-large"))
    if d["too_small"]:
        flags.append(html.Span(t("planner.flag.small", lang), className="wg-pl-flag-small"))
    if not flags:
        flags.append(html.Span(t("planner.flag.none", lang), className="wg-pl-muted"))
    reasons = [html.Li(t(k, lang, **f)) for k, f in d["reasons"]]
    nbs = [html.Button(f"{n['name']} {n['code']}",
                       id={"type": "planner-nb", "code": n["code"]}, n_clicks=0,
                       className="wg-pl-chip", title=t("planner.shared_m", lang,
                                                       m=fmt(n["shared_m"]))) for n in
           d["neighbours"]]
    return [*head, table,
            html.Div([html.Span(t("planner.flags", lang), className="wg-pl-key"), *flags],
                     className="wg-pl-flags", id="planner-flags"),
            html.Ul(reasons, className="wg-pl-reasons", id="planner-reasons"),
            html.Div(t("planner.neighbours", lang, n=len(nbs)), className="wg-pl-key"),
            html.Div(nbs or [html.Span("—")], className="wg-pl-chips", id="planner-neighbours")]


def problem_list(problems: Sequence[dict[str, Any]], lang: str, limit: int = 50) -> list[Any]:
    """Problems as a list: type, codes, area (m²); warnings after errors."""
    if not problems:
        return [message(t("planner.valid", lang), "ok")]
    errors = sum(1 for p in problems if p.get("severity") == "error")
    items = [html.Li([html.B(t(f"planner.problem.{p['type']}", lang)), " ",
                      ", ".join(p.get("codes") or []), " · ",
                      t("planner.area_m2", lang, a=fmt(p.get("area_m2"), 1))],
                     className=f"wg-pl-problem-{p.get('severity', 'error')}")
             for p in sorted(problems, key=lambda p: p.get("severity") != "error")[:limit]]
    more = [html.Li(t("planner.more", lang, n=len(problems) - limit))] \
        if len(problems) > limit else []
    return [message(t("planner.problems", lang, e=errors, w=len(problems) - errors),
                    "error" if errors else "info"),
            html.Ul(items + more, className="wg-pl-problems", id="planner-problem-items")]


def _cell(v: Any, digits: int, scale: float) -> str:
    return fmt(None if v is None else v * scale, digits)


def preview_block(pv: dict[str, Any], lang: str) -> list[Any]:
    """An edit preview: affected grids before / after, incidents moving, publish effect."""
    if not pv.get("ok"):
        return [message(t("planner.refused", lang, e=pv.get("error", "")), "error"),
                *(problem_list(pv["problems"], lang) if pv.get("problems") else [])]
    head = html.Tr([html.Th(t("planner.col.state", lang)), html.Th(t("field.code", lang)),
                    html.Th(t("field.name", lang)),
                    *[html.Th(t(f"planner.col.{k}", lang)) for k, _, _ in ROW_METRICS]])
    body = [html.Tr([html.Td(t(f"planner.state.{r['state']}", lang)), html.Td(r["code"]),
                     html.Td(r["name"]),
                     *[html.Td(_cell(r.get(k), dg, sc)) for k, dg, sc in ROW_METRICS]],
                    className=f"wg-pl-row-{r['state']}" + (f" wg-pl-row-{r['flag']}"
                                                           if r.get("flag") else ""))
            for r in pv["rows"]]
    p = pv["publish"]
    op = t(f"planner.op.{pv['request']['op']}", lang)
    others = [html.Div(t("planner.others", lang, n=pv["others"], u=pv["unchanged"]),
                       className="wg-pl-muted")] if pv.get("others") else []
    return [message(t("planner.preview_ok", lang, op=op, before=", ".join(pv["main_before"]),
                      after=", ".join(pv["main_after"])), "info"), *others,
            html.Div(html.Table([html.Thead(head), html.Tbody(body)],
                                className="wg-pl-table wg-pl-wide"), className="wg-pl-scroll"),
            html.Div(t("planner.moved", lang, n=pv["incidents_moved"], d=pv["effective"]),
                     id="planner-moved"),
            html.Div(t("planner.whole_draft", lang, a=p["added"], r=p["removed"],
                       c=p["changed"], n=p["incidents_changing"], d=pv["effective"]),
                     className="wg-pl-muted")]


def publish_block(res: dict[str, Any], lang: str, preview: bool = False) -> list[Any]:
    """Result of a publish (or of its preview)."""
    if not res.get("ok"):
        return [message(t("planner.refused", lang, e=res.get("error", "")), "error"),
                *(problem_list(res["problems"], lang) if res.get("problems") else [])]
    if preview:
        kind = "ok" if res["publishable"] else "error"
        out = [message(t("planner.publish_preview_ok" if res["publishable"]
                         else "planner.publish_preview_no", lang,
                         a=res["added"], r=res["removed"], c=res["changed"],
                         n=res["incidents_changing"], d=res["effective"]), kind)]
        if not res["effective_ok"]:
            out.append(message(t("planner.effective_bad", lang), "error"))
        if res["problems"]:
            out += problem_list(res["problems"], lang)
        return out
    inc = res.get("reassigned", {}).get("incident", {})
    return [message(t("planner.published", lang, v=res["version_id"], d=res["effective"],
                      r=res.get("retired_version_id") or "—", n=inc.get("changed", 0),
                      m=inc.get("considered", 0)), "ok")]


def upload_block(pv: dict[str, Any], lang: str) -> list[Any]:
    """Validation and diff of an uploaded file, before it replaces the draft."""
    if not pv.get("ok"):
        return [message(t("planner.refused", lang, e=pv.get("error", "")), "error")]
    d = pv["diff"]
    items = [html.Li(t("planner.diff.added", lang, code=r["code"], name=r["name"]))
             for r in d["added"]]
    items += [html.Li(t("planner.diff.removed", lang, code=r["code"], name=r["name"]))
              for r in d["removed"]]
    items += [html.Li(t("planner.diff.changed", lang, code=r["code"],
                        what=", ".join(t(f"planner.change.{c}", lang) for c in r["changes"])))
              for r in d["changed"]]
    out = [message(t("planner.upload_diff", lang, f=pv.get("filename") or "",
                     a=len(d["added"]), r=len(d["removed"]), c=len(d["changed"])),
                   "info" if pv["n_changes"] else "ok"),
           html.Ul(items[:100], className="wg-pl-diff", id="planner-diff-items")]
    if pv["rejects"]:
        out.append(message(t("planner.rejects", lang, n=len(pv["rejects"]),
                             first=pv["rejects"][0].get("reason", "")), "error"))
    out += problem_list(pv["problems"], lang) if pv["problems"] else \
        [message(t("planner.valid", lang), "ok")]
    return out
