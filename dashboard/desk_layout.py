"""Layout of the operator desk (``/desk``): intake form, map, queue and the action form.

Three columns: the intake form (受理登记) on the left, the map in the middle (click to
place a new incident; the selected incident is marked too), the queue of open incidents and
the selected incident's detail with its actions on the right. Everything visible goes
through :func:`layers.i18n.t`; times are shown in ``settings.INTAKE_TIMEZONE``
(Asia/Shanghai). The pieces that change (queue rows, detail, messages) are built by
:mod:`dashboard.desk_views`; the callbacks live in :mod:`dashboard.desk_callbacks`.
"""

from __future__ import annotations

import uuid
from typing import Any

import dash_leaflet as dl
from dash import dcc, html

from dashboard import data
from dashboard.desk_intake import local_now_text
from gis import settings
from gis.incidents.workflow import SATISFACTION
from layers.base import Layer
from layers.i18n import t
from layers.leaflet import FILTER, POINT_TO_LAYER, STYLE, pane_name, tile_layer
from layers.leaflet import hideout as layer_hideout

MAP_ID = "desk-map"
PICK_COLOR = "#f0e442"
"""Fill of the new incident's point (Okabe–Ito yellow, black outline)."""
SELECTED_COLOR = "#56b4e9"
"""Fill of the selected incident (Okabe–Ito sky blue, white outline)."""
INTAKE_FIELDS: tuple[str, ...] = ("kind", "time", "location", "description", "reporter")
ACTION_INPUTS: tuple[str, ...] = ("unit_type", "unit_code", "unit_name", "feedback",
                                  "satisfaction", "reason", "note")
"""Inputs of the action form (ids ``desk-act-<name>``); an action shows the ones it takes."""
MAP_LAYERS: tuple[str, ...] = ("villages", "townships", "county", "township-labels")


def refresh_ms() -> int:
    """Milliseconds between refreshes of the queue (``settings.DESK_REFRESH_S``, ≥ 1 s)."""
    return int(1000 * max(1.0, float(settings.DESK_REFRESH_S)))


def new_token() -> str:
    """A one-time token of an intake form (the incident's ``source_id`` is ``desk-<token>``)."""
    return uuid.uuid4().hex


def kind_options(lang: str) -> list[dict[str, str]]:
    """The incident kinds of ``settings.INCIDENT_KINDS``, translated."""
    return [{"label": t(f"kind.{k}", lang), "value": k} for k in settings.INCIDENT_KINDS]


def _field(name: str, label: str, control: Any, hint: str | None = None) -> html.Div:
    parts: list[Any] = [html.Label(label, className="wg-desk-label")]
    if hint:
        parts.append(html.Div(hint, className="wg-desk-hint"))
    parts += control if isinstance(control, list) else [control]
    parts.append(html.Div(id=f"desk-err-{name}", className="wg-desk-err", role="alert"))
    return html.Div(parts, className="wg-desk-field", id=f"desk-field-{name}")


def intake_panel(lang: str) -> html.Section:
    """The intake form: kind, time, location (map click or address), description, reporter."""
    return html.Section([
        html.H2(t("desk.intake", lang), className="wg-desk-h2"),
        _field("kind", t("desk.kind", lang), dcc.Dropdown(
            id="desk-kind", options=kind_options(lang), placeholder=t("desk.kind.placeholder",
                                                                      lang),
            clearable=True, searchable=True, className="wg-desk-dropdown")),
        _field("time", t("desk.time", lang), html.Div([
            dcc.Input(id="desk-time", type="text", value=local_now_text(),
                      placeholder="2025-05-01 08:30", className="wg-desk-input"),
            html.Button(t("desk.time.now", lang), id="desk-time-now", n_clicks=0,
                        className="wg-desk-btn wg-desk-btn-small")], className="wg-desk-row")),
        _field("location", t("desk.location", lang), [
            dcc.Input(id="desk-address", type="text", debounce=0.6,
                      placeholder=t("desk.address.placeholder", lang),
                      className="wg-desk-input"),
            html.Div(id="desk-suggest-title", className="wg-desk-hint"),
            dcc.RadioItems(id="desk-suggest", options=[], value=None,
                           className="wg-desk-suggest", labelClassName="wg-desk-suggest-item"),
            html.Div(t("desk.place.none", lang), id="desk-place", className="wg-desk-place"),
        ], hint=t("desk.location.hint", lang)),
        _field("description", t("desk.description", lang), dcc.Textarea(
            id="desk-description", className="wg-desk-textarea")),
        _field("reporter", t("desk.reporter", lang), dcc.Input(
            id="desk-reporter", type="text", placeholder=t("desk.reporter.placeholder", lang),
            className="wg-desk-input")),
        html.Button(t("desk.submit", lang), id="desk-submit", n_clicks=0,
                    className="wg-desk-btn wg-desk-btn-primary"),
        html.Div(id="desk-submit-result", className="wg-desk-result", role="status"),
    ], className="wg-desk-panel wg-desk-intake", id="desk-intake")


def _plain(layer: Layer, lang: str, comp: str, url: str) -> dl.GeoJSON:
    """A layer drawn without interaction, so that a click goes to the map (a location)."""
    h = layer_hideout(layer, lang) | {"minZoom": None, "maxZoom": None, "visible": True,
                                      "interactive": False, "tooltip": None}
    h["style"] = dict(h["style"]) | {"interactive": False}
    kind = {"pointToLayer": POINT_TO_LAYER} if layer.kind in ("points", "aggregates") \
        else {"style": STYLE}
    return dl.GeoJSON(id=comp, url=url, hideout=h, filter=FILTER, interactive=False,
                      pane=pane_name(layer.id), **kind)


def map_panel(md: data.MapData, lang: str) -> html.Div:
    """The map (grid outlines, the new incident's point, the selected incident) and its
    legend."""
    children: list[Any] = []
    tiles = tile_layer(data.config().tile_url, data.config().tile_attribution)
    if tiles is not None:
        children.append(tiles)
    for key in MAP_LAYERS:
        if key in md.layers:
            children.append(dl.Pane(_plain(md.layers[key], lang, f"desk-layer-{key}",
                                           data.layer_url(key)),
                                    name=pane_name(key), className="wg-pane"))
    children += [dl.LayerGroup(id="desk-sel"), dl.LayerGroup(id="desk-pick"),
                 dl.ScaleControl(position="bottomright", imperial=False)]
    b = md.layers["county"].bounds
    view: dict[str, Any] = {"center": [35.0, 105.0], "zoom": 8}
    if b:
        view = {"bounds": [[b[1], b[0]], [b[3], b[2]]], "boundsOptions": {"padding": [16, 16]},
                "center": [(b[1] + b[3]) / 2, (b[0] + b[2]) / 2]}
    the_map = dl.Map(children, id=MAP_ID, **view, zoomSnap=0.25, minZoom=5, maxZoom=18,
                     attributionControl=tiles is not None, className="wg-desk-leaflet",
                     style={"position": "absolute", "inset": 0, "cursor": "crosshair"})
    dot = {"display": "inline-block", "width": "12px", "height": "12px",
           "borderRadius": "50%", "marginRight": "6px", "verticalAlign": "middle"}
    legend = html.Div([
        html.Div([html.Span(style=dot | {"background": PICK_COLOR,
                                          "border": "2px solid #04101c"}),
                  t("desk.legend.pick", lang)], className="wg-legend-row"),
        html.Div([html.Span(style=dot | {"background": SELECTED_COLOR,
                                          "border": "2px solid #ffffff"}),
                  t("desk.legend.selected", lang)], className="wg-legend-row"),
        *[html.Div([html.Span(html.Span(style={
            "display": "inline-block", "width": "18px", "height": "0",
            "borderTop": f"2px solid {e.stroke or e.color}"}), className="wg-legend-swatch"),
            html.Span(e.text(lang))], className="wg-legend-row")
          for k in ("county", "townships") for e in md.layers[k].legend],
    ], className="wg-legend wg-desk-legend", id="desk-legend")
    return html.Div([the_map, legend], className="wg-desk-map", id="desk-map-wrap")


def action_form(lang: str) -> html.Div:
    """The form of the chosen action (hidden until an action button is pressed); every
    input is always in the page, each action shows the ones it takes."""
    unit_types = [{"label": t(f"desk.unit.{k}", lang), "value": k}
                  for k in settings.WORKFLOW_UNIT_TYPES]
    sat = [{"label": t(f"desk.sat.{k}", lang), "value": k} for k in SATISFACTION]
    controls = {
        "unit_type": dcc.Dropdown(id="desk-act-unit_type", options=unit_types,
                                  value=next(iter(settings.WORKFLOW_UNIT_TYPES)),
                                  clearable=False, className="wg-desk-dropdown"),
        "unit_code": dcc.Dropdown(id="desk-act-unit_code", options=[], clearable=False,
                                  className="wg-desk-dropdown"),
        "unit_name": dcc.Input(id="desk-act-unit_name", type="text",
                               className="wg-desk-input"),
        "feedback": dcc.Textarea(id="desk-act-feedback", className="wg-desk-textarea"),
        "satisfaction": dcc.RadioItems(id="desk-act-satisfaction", options=sat,
                                       className="wg-desk-radio", inline=True),
        "reason": dcc.Input(id="desk-act-reason", type="text", className="wg-desk-input"),
        "note": dcc.Input(id="desk-act-note", type="text", className="wg-desk-input"),
    }
    rows = [html.Div([html.Label(t(f"desk.act.{k}", lang), className="wg-desk-label"), c],
                     id=f"desk-act-row-{k}", className="wg-desk-field",
                     style={"display": "none"}) for k, c in controls.items()]
    return html.Div([
        html.Div(id="desk-act-title", className="wg-desk-act-title"),
        *rows,
        html.Div([html.Button(id="desk-act-confirm", n_clicks=0,
                              className="wg-desk-btn wg-desk-btn-primary"),
                  html.Button(t("desk.act.cancel", lang), id="desk-act-cancel", n_clicks=0,
                              className="wg-desk-btn")], className="wg-desk-row"),
    ], id="desk-act-form", className="wg-desk-act-form", style={"display": "none"})


def side_panel(lang: str) -> html.Div:
    """Queue of open incidents (top) and the selected incident's detail (bottom)."""
    return html.Div([
        html.Section([
            html.Div([html.H2(t("desk.queue", lang), className="wg-desk-h2"),
                      html.Span(id="desk-queue-count", className="wg-desk-count"),
                      html.Span(id="desk-asof", className="wg-desk-asof")],
                     className="wg-desk-head"),
            html.Div(id="desk-queue", className="wg-desk-queue", role="list"),
        ], className="wg-desk-panel wg-desk-queue-panel"),
        html.Section([
            html.H2(t("desk.detail", lang), className="wg-desk-h2"),
            html.Div(t("desk.detail.none", lang), id="desk-detail", className="wg-desk-detail"),
            action_form(lang),
            html.Div(id="desk-act-msg", className="wg-desk-result", role="status"),
            html.Div(id="desk-history-wrap", className="wg-desk-history-wrap"),
        ], className="wg-desk-panel wg-desk-detail-panel"),
    ], className="wg-desk-side")


def body(lang: str, opts: dict[str, Any] | None) -> list[Any]:
    """The whole desk in ``lang`` (a notice when no grid version is in force)."""
    md = data.map_data()
    if md is None:
        return [html.Div(t("home.no_data", lang), className="wg-empty", id="desk-empty")]
    selected = (opts or {}).get("incident")
    return [
        dcc.Store(id="desk-token", data=new_token()),
        dcc.Store(id="desk-point", data=None),
        dcc.Store(id="desk-changed", data=0),
        dcc.Store(id="desk-selected", data=selected),
        dcc.Store(id="desk-action", data=None),
        dcc.Store(id="desk-scrolled", data=None),
        dcc.Interval(id="desk-tick", interval=refresh_ms()),
        html.Div([intake_panel(lang), map_panel(md, lang), side_panel(lang)],
                 className="wg-desk-grid"),
    ]


def skeleton(incident: Any = None) -> html.Div:
    """What the page's ``layout`` returns: the options and an empty body that
    :func:`dashboard.desk_callbacks.render` fills in the chosen language.

    ``incident`` (``/desk?incident=ID``) opens that incident's detail.
    """
    try:
        inc = int(incident) if incident not in (None, "") else None
    except (TypeError, ValueError):
        inc = None
    return html.Div([dcc.Store(id="desk-opts", data={"incident": inc}),
                     html.Div(id="desk-body", className="wg-desk-body")],
                    className="wg-desk", id="desk")
