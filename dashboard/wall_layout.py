"""The page of the wall display (``/wall``): header, KPI tiles, charts, map and feed.

:func:`skeleton` is what the page's ``layout`` returns (stores and timers, an empty body);
:func:`body` fills the body in the chosen language with the data of now (called by
:func:`dashboard.wall_callbacks.render`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dash import dcc, html

from dashboard import data, wall_data
from dashboard.wall_map import DEFAULT_OVERLAYS, DEFAULT_THEME, build_map
from dashboard.wall_panels import (
    _clock_text,
    feed_rows,
    kinds_figure,
    kpi_tiles,
    trend_figure,
)
from dashboard.wall_playlist import options
from gis import settings
from layers.i18n import t


def header(lang: str, county: str, snap: wall_data.Snapshot | None) -> html.Div:
    """Title, clock and the "data as of" stamp (the warning floats over the map)."""
    return html.Div([
        html.Div([html.H1(t("app.title", lang), className=f"wg-wall-title wg-title-{lang}",
                          id="wall-title"),
                  html.Div(" · ".join(x for x in (county, t("wall.subtitle", lang)) if x),
                           className="wg-wall-subtitle")], className="wg-wall-titles"),
        html.Div(id="wall-clock", className="wg-wall-clock"),
        html.Div([html.Span(t("wall.asof", lang), className="wg-asof-label"),
                  html.Span(_clock_text(snap.as_of) if snap else "—", id="wall-asof",
                            className="wg-asof-time")], className="wg-asof"),
    ], className="wg-wall-header")


def body(lang: str, opts: dict[str, Any], screen: dict[str, Any] | None) -> list[Any]:
    """The whole page in ``lang`` with the data of now (raises when the database is down)."""
    md = data.map_data()
    if md is None:
        return [html.Div(t("home.no_data", lang), className="wg-empty", id="wall-empty")]
    st = wall_data.static_data(md.version_id)
    snap = wall_data.snapshot()
    theme, overlays = DEFAULT_THEME, list(DEFAULT_OVERLAYS)
    now = snap.as_of if snap else datetime.now(UTC)
    refresh_ms = int(1000 * opts.get("refresh_s", wall_data.refresh_s()))
    playlist_ms = int(1000 * float(opts.get("playlist_s") or 0))
    return [
        header(lang, md.county_name, snap),
        html.Div(kpi_tiles(snap, lang), className="wg-kpis", id="wall-kpis"),
        html.Div([
            html.Div([
                html.Div([html.Div(t("wall.chart.trend", lang, d=settings.WALL_TREND_DAYS),
                                   className="wg-panel-title"),
                          dcc.Graph(id="wall-trend", figure=trend_figure(snap, lang, screen),
                                    config={"staticPlot": True, "displayModeBar": False},
                                    className="wg-chart", responsive=True)],
                         className="wg-wall-panel wg-chart-panel"),
                html.Div([html.Div(t("wall.chart.kinds", lang, d=settings.WALL_TREND_DAYS),
                                   className="wg-panel-title"),
                          dcc.Graph(id="wall-kinds", figure=kinds_figure(snap, lang, screen),
                                    config={"staticPlot": True, "displayModeBar": False},
                                    className="wg-chart", responsive=True)],
                         className="wg-wall-panel wg-chart-panel"),
            ], className="wg-wall-left"),
            build_map(md, st, snap, lang, theme, overlays, bool(opts.get("kiosk"))),
            html.Div([
                html.Div([html.Div(t("wall.feed.overdue", lang), className="wg-panel-title"),
                          html.Div(feed_rows(snap.overdue if snap else [], now, lang),
                                   id="wall-feed-overdue", className="wg-feed")],
                         className="wg-wall-panel wg-feed-panel wg-feed-panel-overdue"),
                html.Div([html.Div(t("wall.feed.new", lang), className="wg-panel-title"),
                          html.Div(feed_rows(snap.newest if snap else [], now, lang),
                                   id="wall-feed-new", className="wg-feed")],
                         className="wg-wall-panel wg-feed-panel wg-feed-panel-new"),
            ], className="wg-wall-right"),
        ], className="wg-wall-main"),
        dcc.Store(id="wall-asof-ms", data=snap.as_of_ms if snap else None),
        dcc.Store(id="wall-dberr-ms", data=None),
        dcc.Store(id="wall-views", data=st["views"]),
        dcc.Interval(id="wall-tick", interval=refresh_ms),
        dcc.Interval(id="wall-playlist-tick", interval=max(1000, playlist_ms),
                     disabled=playlist_ms <= 0),
    ]



def skeleton(kiosk: Any = None, playlist: Any = None) -> html.Div:
    """Page skeleton; :func:`dashboard.wall_callbacks.render` fills it in the language of
    the ``app-lang`` store."""
    opts = options(kiosk, playlist)
    return html.Div([
        dcc.Store(id="wall-opts", data=opts),
        dcc.Store(id="wall-screen"),
        dcc.Interval(id="wall-clock-tick", interval=1000),
        dcc.Interval(id="wall-retry", interval=15_000, disabled=True),
        html.Div(id="wall-body", className="wg-wall-body"),
    ], className="wg-wall" + (" wg-wall-kiosk" if opts["kiosk"] else ""), id="wall")
