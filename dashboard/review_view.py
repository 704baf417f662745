"""Dash components of the leader review page (``/review``), from a :class:`Briefing`.

The page shows the briefing's own tables (:mod:`dashboard.report.tables`), charts
(:mod:`dashboard.report.charts`, dark theme) and map layers
(:mod:`dashboard.report.map_layers`, rendered by dash-leaflet), so the screen and the exported
HTML / PDF show the same numbers. Rows of tables whose parts can be opened carry a
pattern-matching id ``{"type": "review-drill", "table": …, "code": …}``; the map's parts layer
(``review-layer-review-parts``) is clickable too.

The map's layer switcher (``review-layers``) also holds overlays that start switched off: the
posts' 10 / 20-minute road isochrones (click: post, minutes, area), the 5 / 10 km rings, the
last week's key road sections and patrol tracks, the police posts; their legend sections
show while they are switched on (a client-side callback on the switcher's ``overlays``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import dash_leaflet as dl
from dash import ALL, Input, Output, State, clientside_callback, dcc, html

from dashboard.report import charts, map_layers, tables
from dashboard.report.briefing import Briefing
from dashboard.report.document import findings_text, period_text
from layers.base import Layer, Style
from layers.grids import TOWNSHIP_COLOR, feature_collection
from layers.i18n import t
from layers.leaflet import _swatch, leaflet_map

log = logging.getLogger(__name__)

MAP_ID = "review-map"
PREFIX = "review-"
PARTS_LAYER = "review-parts"
"""Id of the clickable layer of the area's parts (its component: ``review-layer-review-parts``)."""


def parts_layer(b: Briefing) -> Layer:
    """The parts of the area as clickable, unfilled polygons (name and code on hover)."""
    from dashboard.review_data import parts

    p = parts(b.base, b.area)
    level = 1 if b.area.part_level in ("township", "village") else 2
    p = map_layers.simplified(p, level)
    return Layer(id=PARTS_LAYER, title="review.layer.parts", kind="polygons",
                 data=feature_collection(p, ["code", "name", "population"]),
                 style=Style(color=TOWNSHIP_COLOR, weight=1.2, opacity=0.9, fill=True,
                             fill_color="#ffffff", fill_opacity=0.0),
                 tooltip=(("code", "field.code"), ("population", "field.population")),
                 interactive=b.area.part_level != "group")


def table_component(tb: tables.Table, lang: str) -> html.Div:
    """A :class:`tables.Table` as an HTML table; rows with a drill-down code are buttons."""
    left = [c.fmt in ("text", "i18n", "i18n_list", "kind") for c in tb.columns]
    head = html.Tr([html.Th(h, className="t" if lf else None)
                    for h, lf in zip(tb.header(lang), left, strict=True)])
    body = []
    for row, cells in zip(tb.rows, tables.translate_cells(tb, lang), strict=True):
        tds = [html.Td(c, className="t" if lf else None)
               for c, lf in zip(cells, left, strict=True)]
        code = row.get(tb.link) if tb.link else None
        if code:
            body.append(html.Tr(tds, id={"type": "review-drill", "table": tb.id,
                                                   "code": str(code)},
                                n_clicks=0, className="wg-rv-link", title=t("review.drill", lang)))
        else:
            body.append(html.Tr(tds))
    tot = tables.total_cells(tb, lang)
    if tot is not None:
        body.append(html.Tr([html.Td(c) for c in tot], className="wg-rv-total"))
    parts: list[Any] = [html.Div(tb.caption(lang), className="wg-rv-caption"),
                        html.Table([html.Thead(head), html.Tbody(body)],
                                   className="wg-rv-table", id=f"review-tbl-{tb.id}")]
    if tb.omitted:
        parts.append(html.Div(t("review.more_rows", lang, n=tb.omitted), className="wg-rv-note"))
    if tb.note:
        parts.append(html.Div(t(tb.note, lang), className="wg-rv-note"))
    return html.Div(parts, className="wg-rv-block")


def graph(fig: Any, gid: str) -> dcc.Graph:
    """A chart (dark theme, static: no toolbar)."""
    return dcc.Graph(id=gid, figure=fig, config={"displayModeBar": False, "staticPlot": False},
                     className="wg-rv-graph", style={"height": "260px"})


LAYERS_ID = f"{PREFIX}layers"
"""Id of the map's layer switcher (its ``overlays``: names of the overlays switched on)."""
OVERLAY_LEGEND = "review-legend-ov"
"""``type`` of the pattern-matching ids of the legend sections of the overlays that start
switched off (``name``: the overlay's name in the switcher)."""

OVERLAY_LEGEND_JS = """function(overlays, ids) {
    const on = new Set(overlays || []);
    return (ids || []).map((id) => on.has(id.name) ? {} : {display: 'none'});
}"""
"""Show the legend section of each overlay switched on: Input the switcher's ``overlays``,
State the sections' ids; Outputs their styles."""


def overlay_layers(b: Briefing) -> list[Layer]:
    """Overlays of the review map that start switched off, bottom to top: road isochrones
    (near the area), 5 / 10 km rings, the last week's patrol lines, the police posts."""
    from dashboard.review_data import area_grids
    from gis.analytics.rings import response_rings
    from layers.rings import post_layer, ring_layer

    out: list[Layer] = []
    v = area_grids(b.base, b.area, 1)
    iso = map_layers.isochrone_layer(b, v.total_bounds if len(v) else None)
    if iso is not None:
        out.append(iso)
    if len(b.base.posts):
        out.append(ring_layer(response_rings(b.base.posts), layer_id="review-rings"))
    try:
        out += map_layers.patrol_line_layers(b, b.standards.store)
    except Exception as e:  # noqa: BLE001 - an optional overlay must not sink the page
        log.warning("review: patrol overlay failed (%s: %s)", type(e).__name__, e)
    if len(b.base.posts):
        out.append(post_layer(b.base.posts, layer_id="review-posts"))
    return [replace(lyr, checked=False) for lyr in out]


def _overlay_legend(layers: list[Layer], lang: str) -> list[html.Div]:
    out = []
    for lyr in layers:
        if not lyr.legend:
            continue
        rows: list[Any] = [html.Div(lyr.title_text(lang), className="wg-legend-layer")]
        rows += [html.Div([_swatch(e), html.Span(e.text(lang))], className="wg-legend-row")
                 for e in lyr.legend]
        out.append(html.Div(rows, className="wg-legend-section", style={"display": "none"},
                            id={"type": OVERLAY_LEGEND, "name": lyr.title_text(lang)}))
    return out


def review_map(b: Briefing, view: str, lang: str) -> html.Div:
    """The hot-spot map: Gi* classes or emerging patterns, outlines, clickable parts, and
    the overlays of :func:`overlay_layers` (off at first; their legend follows them)."""
    base_layers = map_layers.pattern_layers(b) if view == "emerging" else \
        map_layers.hotspot_layers(b)
    extras = overlay_layers(b)
    layers = [*base_layers, parts_layer(b), *extras]
    legend = base_layers[::-1]
    box = leaflet_map(layers, lang, component_id=MAP_ID, id_prefix=PREFIX,
                      legend_layers=legend, style={"flex": "1 1 auto", "minHeight": "420px"})
    the_map, legend_box = box.children
    for child in the_map.children:
        if isinstance(child, dl.LayersControl):
            child.id = LAYERS_ID
    legend_box.children = [*legend_box.children, *_overlay_legend(extras[::-1], lang)]
    return box


clientside_callback(OVERLAY_LEGEND_JS, Output({"type": OVERLAY_LEGEND, "name": ALL}, "style"),
                    Input(LAYERS_ID, "overlays"),
                    State({"type": OVERLAY_LEGEND, "name": ALL}, "id"),
                    prevent_initial_call=True)


def breadcrumbs(b: Briefing, lang: str) -> html.Div:
    """The area's trail; every level above the area is a link up."""
    items: list[Any] = []
    for i, (level, code, name) in enumerate(b.area.trail):
        if items:
            items.append(html.Span(" › ", className="wg-rv-sep"))
        if i < len(b.area.trail) - 1:
            items.append(html.Button(name, id={"type": "review-up", "code": code}, n_clicks=0,
                                     className="wg-rv-crumb", title=t("review.up", lang)))
        else:
            items.append(html.Span(name, className="wg-rv-here", id="review-here",
                                   **{"data-code": code, "data-level": level}))
    return html.Div(items, className="wg-rv-trail", id="review-trail")


def tiles(b: Briefing, lang: str) -> html.Div:
    """Headline figures of the period."""
    ch = b.change
    pct = "—" if ch.change_pct is None else f"{ch.change_pct:+.1f}%"
    cov = b.coverage.by_part.iloc[-1]
    tot = b.standards.total()
    items = [("incidents", f"{ch.total:,}", t("review.tile.vs_prev", lang, n=f"{ch.total_prev:,}",
                                             d=f"{ch.change:+,}", p=pct)),
             ("hot", f"{b.hot.n_hot:,}", t("review.tile.hot_sub", lang, cold=b.hot.n_cold,
                                          level=tables.level_name(
                                              "village" if b.hot.level == 1 else "group", lang))),
             ("gaps", f"{int(cov['gaps']):,}", t("review.tile.gaps_sub", lang,
                                                 n=int(cov["villages"])))]
    if b.standards.flags:
        f = b.standards.flags[0]
        items.append(("pop_in", tables.fmt(tot.get(f"{f}_pop_share"), "pct"),
                      t("review.tile.units_in", lang,
                        p=tables.fmt(tot.get(f"{f}_units_share"), "pct"))))
    out = []
    for key, value, sub in items:
        label = t(f"review.tile.{key}", lang, std=tables._flag_label(b.standards.flags[0])
                  if b.standards.flags else "")
        out.append(html.Div([html.Div(value, className="wg-rv-tile-v", id=f"review-tile-{key}"),
                             html.Div(label, className="wg-rv-tile-l"),
                             html.Div(sub, className="wg-rv-tile-s")], className="wg-rv-tile"))
    return html.Div(out, className="wg-rv-tiles")


def panels(b: Briefing, lang: str) -> list[Any]:
    """Everything beside the map: findings, charts and tables of the review."""
    ch = b.change
    out: list[Any] = [
        html.Div(t("review.period_line", lang, text=period_text(b, lang)),
                 className="wg-rv-period", id="review-period-text"),
        tiles(b, lang),
        html.Ul([html.Li(s) for s in findings_text(b, lang)], className="wg-rv-findings"),
        html.Div([graph(charts.daily_figure(ch, lang, "dark"), "review-chart-daily"),
                  graph(charts.weekly_figure(ch, lang, "dark"), "review-chart-weekly")],
                 className="wg-rv-charts"),
        table_component(tables.parts_table(b, limit=None), lang),
        graph(charts.kinds_figure(ch, lang, "dark"), "review-chart-kinds"),
        table_component(tables.standard_table(b, limit=None), lang),
        table_component(tables.outside_table(b, limit=15), lang),
        table_component(tables.coverage_table(b, limit=None), lang),
        table_component(tables.gaps_table(b, limit=15), lang),
        table_component(tables.kpi_table(b, limit=None), lang),
        table_component(tables.ranking_table(b), lang),
    ]
    for extra in (tables.kpi_ranking_table(b), tables.siwu_table(b)):
        if extra is not None:
            out.append(table_component(extra, lang))
    out.append(table_component(tables.patrol_table(b), lang))
    if b.patrols.available and not b.patrols.note:
        out.append(table_component(tables.patrol_failing_table(b), lang))
    out.append(table_component(tables.hot_table(b), lang))
    out.append(table_component(tables.pattern_table(b), lang))
    return out
