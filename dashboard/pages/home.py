"""Home page (``/``): the command-centre map of the county.

A header with the title and headline counts over a full-window dash-leaflet map: village
grids, group grids (downloaded and shown from zoom :data:`layers.grids.GROUP_MIN_ZOOM`, or
switched in the layer control), township and county outlines, incidents aggregated per group
grid, names and figures on hover, and a legend. Component ids start with ``home-``.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from dashboard import data
from layers.grids import GROUP_MIN_ZOOM
from layers.i18n import normalise_lang, t
from layers.leaflet import ZOOM_GATE_JS, leaflet_map

dash.register_page(__name__, path="/", name=t("page.home"), name_key="page.home", order=0,
                   title=t("app.title"))

MAP_ID = "home-map"
PREFIX = "home-"


def _stat(key: str, value: int | None, lang: str, accent: bool = False) -> html.Div:
    text = "—" if value is None else f"{value:,}"
    return html.Div([html.Div(text, className="wg-stat-value", id=f"home-stat-{key}"),
                     html.Div(t(f"home.{key}", lang), className="wg-stat-label")],
                    className="wg-stat" + (" wg-stat-accent" if accent else ""))


def header(lang: str, md: data.MapData | None) -> html.Div:
    """Title block, headline counts and the grid version tag."""
    counts = md.counts if md else {}
    place = md.county_name if md else ""
    sub = " · ".join(x for x in (place, t("home.subtitle", lang)) if x)
    stats = [_stat(k, counts.get(k), lang, accent=(k == "incidents"))
             for k in ("townships", "villages", "groups", "population", "incidents")]
    right: list[Any] = [html.Div(className="wg-clock", id="home-clock"),
                        dcc.Interval(id="home-clock-tick", interval=1000)]
    if md is not None:
        right.append(html.Div([html.Span(t("home.version", lang) + "：", className="wg-tag-key"),
                               html.Span(md.version_name)], className="wg-tag",
                              id="home-version"))
    return html.Div([
        html.Div([html.H1(t("app.title", lang), id="home-title",
                          className=f"wg-title wg-title-{lang}"),
                  html.Div(sub, className="wg-subtitle")], className="wg-title-block"),
        html.Div(stats, className="wg-stats", id="home-stats"),
        html.Div(right, className="wg-header-right"),
    ], className="wg-header", id="home-header")


def ranking(lang: str, md: data.MapData) -> html.Div:
    """Panel over the map: the villages with the most incidents, with bars."""
    top = md.ranking
    rows: list[Any] = []
    hi = max((r["n"] for r in top), default=1) or 1
    for i, r in enumerate(top, start=1):
        rows.append(html.Div([
            html.Span(str(i), className="wg-rank-no" + (" wg-rank-top" if i <= 3 else "")),
            html.Div([html.Div([html.Span(r["name"], className="wg-rank-name"),
                                html.Span(r["township"], className="wg-rank-town")]),
                      html.Div(html.Div(className="wg-rank-fill",
                                        style={"width": f"{100 * r['n'] / hi:.0f}%"}),
                               className="wg-rank-bar")], className="wg-rank-body"),
            html.Span(f"{r['n']:,}", className="wg-rank-n"),
        ], className="wg-rank-row"))
    if not rows:
        rows = [html.Div(t("home.ranking_empty", lang), className="wg-rank-empty")]
    return html.Div([html.Div(t("home.ranking", lang, n=data.TOP_N), className="wg-panel-title"),
                     *rows], className="wg-panel wg-ranking", id="home-ranking")


def body(lang: str) -> list[Any]:
    """Header and map in ``lang`` (or a notice when no grid version is in force)."""
    md = data.map_data()
    if md is None:
        return [header(lang, None),
                html.Div(t("home.no_data", lang), className="wg-empty", id="home-empty")]
    layers = md.ordered
    urls = {lyr.id: data.layer_url(lyr.id) for lyr in layers}
    legend_order = [md.layers[k] for k in ("incidents", "county", "townships", "villages",
                                           "groups") if k in md.layers]
    the_map = leaflet_map(
        layers, lang, component_id=MAP_ID, urls=urls, id_prefix=PREFIX,
        tile_url=data.config().tile_url, attribution=data.config().tile_attribution,
        legend_layers=legend_order,
        legend_notes={"groups": t("home.groups_hint", lang, z=GROUP_MIN_ZOOM)},
        style={"flex": "1 1 auto", "minHeight": "0"})
    return [header(lang, md),
            html.Div([the_map, ranking(lang, md)], className="wg-map-wrap", id="home-map-wrap")]


def layout(**_kwargs: Any) -> html.Div:
    """Page skeleton; :func:`render` fills it in the language of the ``app-lang`` store."""
    return html.Div(html.Div(id="home-body", className="wg-home-body"),
                    className="wg-home", id="home")


@callback(Output("home-body", "children"), Input("app-lang", "data"))
def render(lang: str | None) -> list[Any]:
    """(Re)build the page in the chosen language."""
    return body(normalise_lang(lang))


GATED = ("groups", "township-labels", "village-labels")
"""Layers shown only in a zoom range (downloaded on first show)."""

for _layer_id in GATED:
    clientside_callback(
        ZOOM_GATE_JS,
        Output(f"{PREFIX}layer-{_layer_id}", "url"),
        Output(f"{PREFIX}layer-{_layer_id}", "hideout"),
        Input(MAP_ID, "zoom"), State(f"{PREFIX}layer-{_layer_id}", "hideout"),
        State(f"{PREFIX}layer-{_layer_id}", "url"))

clientside_callback(
    """function(n, lang) {
        // wall-clock time in Asia/Shanghai (UTC+8), whatever the browser's zone
        const now = new Date();
        const d = new Date(now.getTime() + (480 + now.getTimezoneOffset()) * 60000);
        const p = (x) => String(x).padStart(2, '0');
        const days = (lang === 'en') ? ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
                                     : ['日', '一', '二', '三', '四', '五', '六'];
        const day = (lang === 'en') ? days[d.getDay()] : '星期' + days[d.getDay()];
        return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + day +
               ' ' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
    }""",
    Output("home-clock", "children"), Input("home-clock-tick", "n_intervals"),
    State("app-lang", "data"))
