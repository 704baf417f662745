"""Wall display (大屏, ``/wall``): the live picture of the county for a screen across the room.

Dark, large type, no scrollbars, nothing that needs the mouse: a header with the clock and
the "data as of" stamp, six KPI tiles, two small trend charts, a dash-leaflet map with a
thematic fill of the village grids (plain, incident density, Gi* hot spots, 一村一警一连
coverage) and switchable overlays (group grids, incidents of the last 24 hours per group
grid, 5 / 10 km response rings with the police posts, cameras per village; patrols have no
data yet), and a live feed of the newest and the overdue incidents.

* **Refresh** — ``wall-tick`` (``settings.WALL_REFRESH_S``, default 10 s) runs
  :func:`refresh`, which sends figures, feed rows, charts and the *values* of the map layers
  (counts per grid in the layers' ``hideout``): the page is never reloaded, the map is never
  recreated, its view is kept. When the database is unreachable the refresh returns
  ``no_update`` for the data (the last good picture stays) and the page shows a warning; a
  client-side check also warns when no new data has come for a while (server down).
* **Kiosk** — ``/wall?kiosk=1`` hides every control (top bar with the page links and the
  language switch, layer panel, zoom buttons) and runs the playlist.
* **Playlist** — every ``settings.WALL_PLAYLIST_S`` seconds in kiosk mode (or
  ``?playlist=SECONDS``) the map flies to the next view: the county, then each township
  (``viewport`` of the map), optionally with the layer sets of
  ``settings.WALL_PLAYLIST_LAYERS``.

Component ids start with ``wall-``; the data comes from :mod:`dashboard.wall_data`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
import dash_leaflet as dl
import sqlalchemy as sa
from dash import (
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    dcc,
    html,
    no_update,
)
from dash_extensions.javascript import Namespace

from dashboard import data, wall_data
from gis import settings
from gis._errors import WanggeError
from layers.base import Classes, Layer, LegendEntry, Style, legend_for_classes
from layers.hotspots import hotspot_classes, hotspot_legend
from layers.i18n import LANGS, has, normalise_lang, t
from layers.leaflet import (
    FILTER,
    ON_EACH_FEATURE,
    POINT_TO_LAYER,
    STYLE,
    _swatch,
    pane_name,
    tile_layer,
)
from layers.leaflet import hideout as layer_hideout
from layers.themes import (
    THEME_STYLE,
    coverage_classes,
    coverage_legend,
    density_classes,
    density_legend,
)

dash.register_page(__name__, path="/wall", name=t("page.wall"), name_key="page.wall", order=1,
                   title=t("page.wall"))

log = logging.getLogger(__name__)

PREFIX = "wall-"
DATA_ERRORS: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, WanggeError, OSError)
"""Failures to read the data (database down or refusing, …): the page keeps its picture."""
MAP_ID = "wall-map"
WALL = Namespace("wangge", "wall")
"""Client-side functions of ``dashboard/assets/wall.js`` (``window.wangge.wall``)."""
W_STYLE, W_POINT, W_FILTER = WALL("style"), WALL("pointToLayer"), WALL("filter")

THEMES: tuple[str, ...] = ("plain", "density", "hotspots", "coverage")
"""Fills of the village grids (one at a time)."""
OVERLAYS: tuple[str, ...] = ("groups", "live", "rings", "cameras")
"""Switchable overlays (any number)."""
DEFAULT_THEME = "density"
DEFAULT_OVERLAYS: tuple[str, ...] = ("live",)
LEGEND_KEYS: tuple[str, ...] = ("plain", "density", "hotspots", "coverage", "groups", "live",
                                "rings", "cameras")
"""Legend sections shown / hidden with the theme and the overlays."""
LIVE_RADII: tuple[float, float] = (3.0, 8.0)
LIVE_FILL = "#7fe3ff"
LIVE_STROKE = "#04101c"
KPIS: tuple[str, ...] = ("today", "open", "overdue", "escalated", "on_time", "satisfaction")

BAR = "#3fb6e8"
BAR_TODAY = "#fd8d3c"
BAR_KIND = "#7fe3ff"
TEXT = "#d6e6f5"
MUTED = "#8aa4bf"
GRID_LINE = "#1d3a5a"


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.WALL_TIMEZONE)


def _clock_text(when: datetime) -> str:
    return when.astimezone(_tz()).strftime("%H:%M:%S")


def _kind(kind: str, lang: str) -> str:
    return t(f"kind.{kind}", lang) if has(f"kind.{kind}") else kind


def _duration(seconds: float, lang: str) -> str:
    m = max(0, int(seconds // 60))
    if m < 60:
        return t("wall.dur.min", lang, m=m)
    h, m = divmod(m, 60)
    if h < 24:
        return t("wall.dur.hm", lang, h=h, m=m)
    d, h = divmod(h, 24)
    return t("wall.dur.dh", lang, d=d, h=h)


def _pct(r: float | None) -> str:
    return "—" if r is None else f"{100 * r:.1f}%"


# --- options (query string) and texts for the browser ------------------------------------


def _flag(v: Any) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")


def options(kiosk: Any = None, playlist: Any = None) -> dict[str, Any]:
    """Page options from the query string: ``kiosk`` and ``playlist`` (seconds per view;
    default ``settings.WALL_PLAYLIST_S`` in kiosk mode, off otherwise)."""
    is_kiosk = _flag(kiosk)
    try:
        secs = float(playlist) if playlist not in (None, "") else \
            (float(settings.WALL_PLAYLIST_S) if is_kiosk else 0.0)
    except ValueError:
        secs = 0.0
    refresh = wall_data.refresh_s()
    return {"kiosk": is_kiosk, "playlist_s": max(0.0, secs), "refresh_s": refresh,
            "stale_s": max(float(settings.WALL_STALE_AFTER_S), 3 * refresh),
            "tz": settings.WALL_TIMEZONE,
            "layer_sets": [list(s) for s in settings.WALL_PLAYLIST_LAYERS],
            "texts": {lang: {k: t(f"wall.{k}", lang) for k in
                             ("stale", "db_down", "db_down_empty", "view", "view.county")}
                      for lang in LANGS}}


# --- pieces of the page ------------------------------------------------------------------


def _kpi(key: str, value: str, sub: str, lang: str, tone: str = "") -> html.Div:
    return html.Div([html.Div(t(f"wall.kpi.{key}", lang), className="wg-kpi-label"),
                     html.Div(value, className="wg-kpi-value", id=f"wall-kpi-{key}"),
                     html.Div(sub, className="wg-kpi-sub")],
                    className=f"wg-kpi wg-kpi-{key}" + (f" is-{tone}" if tone else ""))


def kpi_tiles(snap: wall_data.Snapshot | None, lang: str) -> list[html.Div]:
    """The six KPI tiles (dashes when there is no data)."""
    if snap is None:
        return [_kpi(k, "—", "", lang) for k in KPIS]
    k = snap.kpis
    diff = k["today"] - k["yesterday_same_time"]
    arrow = "▲" if diff > 0 else ("▼" if diff < 0 else "＝")
    share = _pct(k["overdue"] / k["open"]) if k["open"] else "—"
    days = f"{k['window_days']:g}"
    return [
        _kpi("today", f"{k['today']:,}",
             t("wall.kpi.vs_yesterday", lang, d=f"{arrow}{abs(diff):,}"), lang),
        _kpi("open", f"{k['open']:,}", t("wall.kpi.awaiting", lang, n=f"{k['awaiting']:,}"),
             lang),
        _kpi("overdue", f"{k['overdue']:,}", t("wall.kpi.share_open", lang, p=share), lang,
             tone="warn" if k["overdue"] else ""),
        _kpi("escalated", f"{k['escalated']:,}",
             t("wall.kpi.levels", lang, t=f"{k['township']:,}", c=f"{k['county']:,}"), lang,
             tone="alert" if k["escalated"] else ""),
        _kpi("on_time", _pct(k["on_time_rate"]),
             t("wall.kpi.resolved_n", lang, d=days, n=f"{k['resolved']:,}"), lang, tone="good"),
        _kpi("satisfaction", _pct(k["satisfaction_rate"]),
             t("wall.kpi.answered_n", lang, d=days, n=f"{k['answered']:,}"), lang, tone="good"),
    ]


def _when(at: datetime, now: datetime) -> str:
    local, today = at.astimezone(_tz()), now.astimezone(_tz()).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%m-%d %H:%M")


def feed_rows(rows: list[dict[str, Any]], now: datetime, lang: str) -> list[html.Div]:
    """Feed rows: time, kind, village (township), state; overdue / escalated marked with a
    badge and a coloured edge (never colour alone)."""
    if not rows:
        return [html.Div(t("wall.feed.empty", lang), className="wg-feed-empty")]
    out = []
    for r in rows:
        badges: list[Any] = []
        if r["overdue"] and r["overdue_s"] is not None:
            badges.append(html.Span("◷ " + t("wall.feed.overdue_by", lang,
                                             d=_duration(r["overdue_s"], lang)),
                                    className="wg-badge wg-badge-overdue"))
        if r["escalated"]:
            badges.append(html.Span("▲ " + t("wall.feed.escalated", lang,
                                             level=t(f"wall.level.{r['level']}", lang)),
                                    className="wg-badge wg-badge-escalated"))
        cls = "wg-feed-row" + (" is-overdue" if r["overdue"] else "") + \
            (" is-escalated" if r["escalated"] else "")
        out.append(html.Div([
            html.Span(_when(r["occurred_at"], now), className="wg-feed-time"),
            html.Div([
                html.Div([html.Span(_kind(r["kind"], lang), className="wg-feed-kind"),
                          html.Span(t(f"wall.status.{r['status']}", lang)
                                    if has(f"wall.status.{r['status']}") else r["status"],
                                    className="wg-feed-status")], className="wg-feed-line"),
                html.Div([html.Span(r["village"] or r["address"], className="wg-feed-village"),
                          html.Span(r["township"], className="wg-feed-town"), *badges],
                         className="wg-feed-line wg-feed-sub"),
            ], className="wg-feed-body"),
        ], className=cls, **{"data-incident": str(r["id"])}))
    return out


def _font(screen: dict[str, Any] | None) -> float:
    h = float((screen or {}).get("h") or 1080)
    return max(11.0, round(13.0 * h / 1080.0, 1))


def _fig_layout(screen: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    f = _font(screen)
    out = {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
           "font": {"color": TEXT, "size": f,
                    "family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"},
           "margin": {"l": 4 * f, "r": f, "t": f, "b": 2.2 * f}, "showlegend": False,
           "bargap": 0.25}
    return out | extra


def trend_figure(snap: wall_data.Snapshot | None, lang: str,
                 screen: dict[str, Any] | None = None) -> dict[str, Any]:
    """Incidents per day over the trend days (today's partial bar in orange)."""
    days: list[str] = []
    values: list[int] = []
    colors: list[str] = []
    if snap is not None:
        today = snap.as_of.astimezone(_tz()).date()
        per_day = snap.daily.groupby("day")["n"].sum() if len(snap.daily) else {}
        n_days = int(settings.WALL_TREND_DAYS)
        for i in range(n_days - 1, -1, -1):
            d = today.fromordinal(today.toordinal() - i)
            days.append(t("wall.chart.today", lang) if i == 0 else d.strftime("%m-%d"))
            values.append(int(per_day.get(d, 0)) if len(per_day) else 0)
            colors.append(BAR_TODAY if i == 0 else BAR)
    f = _font(screen)
    # one number on the bars: today's (the axis gives the scale of the others)
    trace = {"type": "bar", "x": days, "y": values, "marker": {"color": colors},
             "text": [f"{v:,}" if i == len(values) - 1 else "" for i, v in enumerate(values)],
             "textposition": "outside", "textfont": {"size": f, "color": BAR_TODAY},
             "cliponaxis": False}
    return {"data": [trace], "layout": _fig_layout(
        screen, xaxis={"tickfont": {"size": f * 0.8}, "showgrid": False, "fixedrange": True,
                       "tickangle": 0, "nticks": 8},
        yaxis={"gridcolor": GRID_LINE, "zeroline": False, "fixedrange": True,
               "tickfont": {"size": f * 0.8}, "rangemode": "tozero"})}


def kinds_figure(snap: wall_data.Snapshot | None, lang: str,
                 screen: dict[str, Any] | None = None, top: int = 8) -> dict[str, Any]:
    """Incidents per kind over the trend days (the ``top`` kinds, largest on top)."""
    labels: list[str] = []
    values: list[int] = []
    if snap is not None and len(snap.daily):
        per = snap.daily.groupby("kind")["n"].sum().sort_values(ascending=False).head(top)
        per = per.iloc[::-1]
        labels = [_kind(k, lang) for k in per.index]
        values = [int(v) for v in per.to_numpy()]
    f = _font(screen)
    trace = {"type": "bar", "orientation": "h", "x": values, "y": labels,
             "marker": {"color": BAR_KIND}, "text": [f"{v:,}" for v in values],
             "textposition": "outside", "textfont": {"size": f * 0.85, "color": TEXT},
             "cliponaxis": False}
    return {"data": [trace], "layout": _fig_layout(
        screen, margin={"l": 7.5 * f if lang == "zh" else 11 * f, "r": 3.5 * f, "t": f * 0.5,
                        "b": f * 0.5},
        xaxis={"visible": False, "fixedrange": True},
        yaxis={"fixedrange": True, "tickfont": {"size": f * 0.9}, "automargin": False})}


# --- map ---------------------------------------------------------------------------------


def _classes(c: Classes) -> dict[str, Any]:
    return c.to_dict()


def live_classes(counts: dict[str, int]) -> Classes:
    """Count classes of the incidents of the last 24 hours per group grid: one bright
    colour that stands out on every theme, the count read from the circle's size."""
    return Classes.from_values("n", list(counts.values()), k=5, palette=[LIVE_FILL] * 5,
                               radii=LIVE_RADII)


def _density(snap: wall_data.Snapshot | None) -> tuple[Classes, dict[str, int]]:
    values = dict(snap.village_counts) if snap else {}
    return density_classes(values.values()), values


def village_hideout(base: dict[str, Any], snap: wall_data.Snapshot | None, theme: str,
                    coverage: dict[str, int]) -> dict[str, Any]:
    """``hideout`` of the village grids: the base style and one entry per theme (classes
    and values per village code); ``theme`` names the one drawn."""
    dens_cls, dens = _density(snap)
    fill = {"fillOpacity": THEME_STYLE.fill_opacity, "weight": THEME_STYLE.weight}
    themes: dict[str, Any] = {
        "density": {"classes": _classes(dens_cls), "values": dens, "style": fill,
                    "emptyColor": THEME_STYLE.fill_color},
        "coverage": {"classes": _classes(coverage_classes()), "values": coverage,
                     "style": fill},
        "hotspots": {"classes": _classes(hotspot_classes()),
                     "values": (snap.hotspots or {}) if snap else {}, "style": fill,
                     "emptyColor": THEME_STYLE.fill_color},
    }
    return base | {"theme": theme if theme in themes else None, "themes": themes}


def live_hideout(base: dict[str, Any], snap: wall_data.Snapshot | None,
                 visible: bool) -> dict[str, Any]:
    """``hideout`` of the 24-hour incident circles: classes and counts per group code."""
    counts = dict(snap.live_counts) if snap else {}
    return base | {"classes": _classes(live_classes(counts)), "values": counts,
                   "visible": visible}


def _legend_rows(entries: tuple[LegendEntry, ...] | list[LegendEntry], lang: str,
                 title: str | None = None, note: str | None = None) -> list[Any]:
    """Legend rows (swatch and label) of ``entries`` under an optional title and note."""
    out: list[Any] = [html.Div(title, className="wg-legend-layer")] if title else []
    out += [html.Div([_swatch(e), html.Span(e.text(lang))], className="wg-legend-row")
            for e in entries]
    if note:
        out.append(html.Div(note, className="wg-legend-note"))
    return out


def legend_density(snap: wall_data.Snapshot | None, lang: str) -> list[Any]:
    """Legend section of the density theme."""
    cls, _ = _density(snap)
    return _legend_rows(density_legend(cls), lang, t("layer.density", lang),
                        t("legend.window", lang, d=settings.WALL_WINDOW_DAYS))


def legend_live(snap: wall_data.Snapshot | None, lang: str) -> list[Any]:
    """Legend section of the 24-hour incident circles."""
    cls = live_classes(dict(snap.live_counts) if snap else {})
    return _legend_rows(legend_for_classes(cls, shape="circle", stroke=LIVE_STROKE), lang,
                        t("layer.live", lang), t("legend.window_24h", lang))


def _section(key: str, children: list[Any], visible: bool) -> html.Div:
    return html.Div(children, id=f"wall-legend-{key}", className="wg-legend-section",
                    style={} if visible else {"display": "none"})


def _pane(component: Any, pane: str) -> dl.Pane:
    return dl.Pane(component, name=pane, className="wg-pane")


def _std_geojson(layer: Layer, lang: str, comp: str, *, url: str | None = None,
                 lazy: bool = False, visible: bool = True, inline: bool = False) -> dl.GeoJSON:
    """A layer with the standard client functions of :mod:`layers.leaflet`; ``lazy``: the
    URL is set on first show (kept in ``hideout.src``)."""
    h = layer_hideout(layer, lang, src=url if lazy else None)
    h |= {"minZoom": None, "maxZoom": None, "visible": visible}
    kwargs: dict[str, Any] = {}
    if inline:
        kwargs["data"] = layer.data
    elif url and not lazy:
        kwargs["url"] = url
    if layer.kind in ("points", "aggregates"):
        kwargs["pointToLayer"] = POINT_TO_LAYER
    else:
        kwargs["style"] = STYLE
    return dl.GeoJSON(id=comp, hideout=h, onEachFeature=ON_EACH_FEATURE, filter=FILTER,
                      interactive=layer.interactive, bubblingMouseEvents=False,
                      pane=pane_name(layer.id), **kwargs)


def _empty_layer(layer_id: str, title: str) -> Layer:
    return Layer(id=layer_id, title=title, kind="polygons",
                 data={"type": "FeatureCollection", "features": []}, style=Style())


def build_map(md: data.MapData, st: dict[str, Any], snap: wall_data.Snapshot | None,
              lang: str, theme: str, overlays: list[str], kiosk: bool) -> html.Div:
    """The map (created once per page render; refreshes only change its layers' data)."""
    urls = {k: data.layer_url(k) for k in ("villages", "groups", "townships", "county",
                                             "township-labels")}
    on = set(overlays)
    villages = md.layers["villages"]
    vh = layer_hideout(villages, lang)
    vh = village_hideout(vh, snap, theme, st["coverage"])
    children: list[Any] = []
    tiles = tile_layer(data.config().tile_url, data.config().tile_attribution)
    if tiles is not None:
        children.append(tiles)
    children.append(_pane(dl.GeoJSON(
        id="wall-layer-villages", url=urls["villages"], style=W_STYLE, hideout=vh,
        onEachFeature=ON_EACH_FEATURE, filter=FILTER, bubblingMouseEvents=False,
        pane=pane_name("villages")), pane_name("villages")))
    children.append(_pane(_std_geojson(md.layers["groups"], lang, "wall-layer-groups",
                                       url=urls["groups"], lazy=True,
                                       visible="groups" in on), pane_name("groups")))
    rings = st.get("rings") or _empty_layer("wall-rings", "layer.rings")
    rings = _with_id(rings, "wall-rings")
    children.append(_pane(_std_geojson(rings, lang, "wall-layer-rings", inline=True,
                                       visible="rings" in on), pane_name("wall-rings")))
    for key in ("townships", "county"):
        children.append(_pane(_std_geojson(md.layers[key], lang, f"wall-layer-{key}",
                                           url=urls[key]), pane_name(key)))
    cams = st.get("cameras") or _empty_layer("wall-cameras", "layer.camera_counts")
    cams = _with_id(cams, "wall-cameras")
    children.append(_pane(_std_geojson(cams, lang, "wall-layer-cameras", inline=True,
                                       visible="cameras" in on), pane_name("wall-cameras")))
    live_base = {"style": {"color": LIVE_STROKE, "weight": 1.2, "opacity": 0.95,
                           "fill": True, "fillOpacity": 0.85, "radius": LIVE_RADII[0]},
                 "pane": pane_name("wall-live")}
    children.append(_pane(dl.GeoJSON(
        id="wall-layer-live", data=st["group_points"], pointToLayer=W_POINT, filter=W_FILTER,
        hideout=live_hideout(live_base, snap, "live" in on), interactive=False,
        pane=pane_name("wall-live")), pane_name("wall-live")))
    posts = st.get("posts") or _empty_layer("wall-posts", "layer.posts")
    posts = _with_id(posts, "wall-posts")
    children.append(_pane(_std_geojson(posts, lang, "wall-layer-posts", inline=True,
                                       visible="rings" in on), pane_name("wall-posts")))
    labels = md.layers["township-labels"]
    children.append(_pane(_std_geojson(labels, lang, "wall-layer-township-labels",
                                       url=urls["township-labels"]),
                          pane_name("township-labels")))
    children.append(dl.ScaleControl(position="bottomright", imperial=False))
    b = md.layers["county"].bounds
    view: dict[str, Any] = {"center": [35.0, 105.0], "zoom": 8}
    if b:
        view = {"bounds": [[b[1], b[0]], [b[3], b[2]]], "boundsOptions": {"padding": [24, 24]},
                "center": [(b[1] + b[3]) / 2, (b[0] + b[2]) / 2]}
    the_map = dl.Map(children, id=MAP_ID, **view, zoomSnap=0.25, minZoom=5, maxZoom=18,
                     zoomControl=not kiosk, attributionControl=tiles is not None,
                     style={"position": "absolute", "inset": 0})
    return html.Div([the_map, map_legend(md, st, snap, lang, theme, overlays),
                     layer_panel(lang, theme, overlays),
                     html.Div(id="wall-view-caption", className="wg-view-caption"),
                     html.Div(id="wall-status", className="wg-wall-status is-ok")],
                    className="wg-wall-map", id="wall-map-wrap")


def _with_id(layer: Layer, layer_id: str) -> Layer:
    return replace(layer, id=layer_id)


def map_legend(md: data.MapData, st: dict[str, Any], snap: wall_data.Snapshot | None,
               lang: str, theme: str, overlays: list[str]) -> html.Div:
    """The legend: outlines, then one section per theme and overlay (hidden when off)."""
    on = set(overlays) | {theme}
    outline = [e for k in ("county", "townships") for e in md.layers[k].legend]
    sections: list[Any] = [html.Div(t("wall.legend", lang), className="wg-legend-title"),
                           html.Div(_legend_rows(outline, lang), className="wg-legend-section")]
    sections.append(_section("plain", _legend_rows(md.layers["villages"].legend, lang),
                             "plain" in on))
    sections.append(_section("density", legend_density(snap, lang), "density" in on))
    sections.append(_section("hotspots", _legend_rows(
        hotspot_legend(), lang, t("layer.hotspots", lang),
        t("legend.window", lang, d=settings.WALL_WINDOW_DAYS)), "hotspots" in on))
    sections.append(_section("coverage", _legend_rows(
        coverage_legend(st["coverage"]), lang, t("layer.coverage", lang)), "coverage" in on))
    sections.append(_section("groups", _legend_rows(md.layers["groups"].legend, lang),
                             "groups" in on))
    sections.append(_section("live", legend_live(snap, lang), "live" in on))
    ring_entries = (list(st["rings"].legend) if st.get("rings") else []) + \
        (list(st["posts"].legend) if st.get("posts") else [])
    sections.append(_section("rings", _legend_rows(ring_entries, lang, t("layer.rings", lang)),
                             "rings" in on))
    cam = st.get("cameras")
    sections.append(_section("cameras", _legend_rows(
        cam.legend if cam else [], lang, t("layer.camera_counts", lang)), "cameras" in on))
    return html.Div(sections, className="wg-legend wg-wall-legend", id="wall-legend")


def layer_panel(lang: str, theme: str, overlays: list[str]) -> html.Div:
    """Theme radio and overlay checklist (big touch targets; hidden in kiosk mode)."""
    theme_opts = [{"label": t(f"wall.theme.{k}", lang), "value": k} for k in THEMES]
    ov_opts = [{"label": t(f"wall.ov.{k}", lang), "value": k} for k in OVERLAYS]
    ov_opts.append({"label": t("wall.ov.patrols", lang), "value": "patrols", "disabled": True})
    return html.Div([
        html.Div(t("wall.theme", lang), className="wg-panel-title"),
        dcc.RadioItems(id="wall-theme", options=theme_opts, value=theme,
                       className="wg-switch", labelClassName="wg-switch-label",
                       inputClassName="wg-switch-input"),
        html.Div(t("wall.layers", lang), className="wg-panel-title wg-panel-title-2"),
        dcc.Checklist(id="wall-overlays", options=ov_opts, value=list(overlays),
                      className="wg-switch", labelClassName="wg-switch-label",
                      inputClassName="wg-switch-input"),
    ], className="wg-wall-layers", id="wall-layers")


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


def layout(kiosk: Any = None, playlist: Any = None, **_kwargs: Any) -> html.Div:
    """Page skeleton; :func:`render` fills it in the language of the ``app-lang`` store."""
    opts = options(kiosk, playlist)
    return html.Div([
        dcc.Store(id="wall-opts", data=opts),
        dcc.Store(id="wall-screen"),
        dcc.Interval(id="wall-clock-tick", interval=1000),
        dcc.Interval(id="wall-retry", interval=15_000, disabled=True),
        html.Div(id="wall-body", className="wg-wall-body"),
    ], className="wg-wall" + (" wg-wall-kiosk" if opts["kiosk"] else ""), id="wall")


@callback(Output("wall-body", "children"), Output("wall-retry", "disabled"),
          Input("app-lang", "data"), Input("wall-screen", "data"),
          Input("wall-retry", "n_intervals"), State("wall-opts", "data"))
def render(lang: str | None, screen: dict[str, Any] | None, _retry: int | None,
           opts: dict[str, Any] | None) -> tuple[list[Any], bool]:
    """(Re)build the page in the chosen language; when the database cannot be reached,
    a notice, and a new try every 15 s."""
    lang = normalise_lang(lang)
    try:
        return body(lang, opts or options(), screen), True
    except DATA_ERRORS as e:  # database down at first paint: say so, try again later
        log.warning("wall: cannot render (%s: %s)", type(e).__name__, e)
        return [html.Div(t("wall.db_down_empty", lang), className="wg-empty wg-wall-down",
                         id="wall-empty")], False


REFRESH_OUTPUTS = (
    Output("wall-kpis", "children"), Output("wall-feed-new", "children"),
    Output("wall-feed-overdue", "children"), Output("wall-trend", "figure"),
    Output("wall-kinds", "figure"),
    Output("wall-layer-villages", "hideout", allow_duplicate=True),
    Output("wall-layer-live", "hideout", allow_duplicate=True),
    Output("wall-legend-density", "children"), Output("wall-legend-live", "children"),
    Output("wall-asof", "children"), Output("wall-asof-ms", "data"),
    Output("wall-dberr-ms", "data"))


@callback(*REFRESH_OUTPUTS, Input("wall-tick", "n_intervals"), State("app-lang", "data"),
          State("wall-theme", "value"), State("wall-overlays", "value"),
          State("wall-layer-villages", "hideout"), State("wall-layer-live", "hideout"),
          State("wall-screen", "data"), prevent_initial_call=True)
def refresh(_n: int | None, lang: str | None, theme: str | None, overlays: list[str] | None,
            village_h: dict[str, Any] | None, live_h: dict[str, Any] | None,
            screen: dict[str, Any] | None) -> tuple[Any, ...]:
    """New data for everything on the page but the map itself.

    On any failure to read the data (database unreachable, …) every data output is
    ``no_update`` (the page keeps its last good picture) and ``wall-dberr-ms`` gets the
    time of the failure, which makes the page show its warning.
    """
    lang = normalise_lang(lang)
    t0 = time.perf_counter()
    try:
        snap = wall_data.snapshot()
    except DATA_ERRORS as e:  # keep the last good picture, raise the warning
        log.warning("wall: refresh failed (%s: %s)", type(e).__name__, e)
        return (*([no_update] * (len(REFRESH_OUTPUTS) - 1)),
                int(datetime.now(UTC).timestamp() * 1000))
    if snap is None:
        return tuple([no_update] * len(REFRESH_OUTPUTS))
    st = wall_data.static_data(snap.version_id)
    on = set(overlays or [])
    vh = village_hideout(dict(village_h or {}), snap, theme or DEFAULT_THEME, st["coverage"])
    lh = live_hideout(dict(live_h or {}), snap, "live" in on)
    out = (kpi_tiles(snap, lang), feed_rows(snap.newest, snap.as_of, lang),
           feed_rows(snap.overdue, snap.as_of, lang), trend_figure(snap, lang, screen),
           kinds_figure(snap, lang, screen), vh, lh, legend_density(snap, lang),
           legend_live(snap, lang), _clock_text(snap.as_of), snap.as_of_ms, no_update)
    log.debug("wall refresh: %.1f ms", (time.perf_counter() - t0) * 1000)
    return out


# --- client side -------------------------------------------------------------------------

clientside_callback(
    "function(opts) { return {w: window.innerWidth, h: window.innerHeight}; }",
    Output("wall-screen", "data"), Input("wall-opts", "data"))

clientside_callback(
    """function(n, asofMs, errMs, opts, lang) {
        const o = opts || {};
        const texts = (o.texts || {})[lang] || (o.texts || {}).zh || {};
        const tz = o.tz || 'Asia/Shanghai';
        const now = new Date();
        const fmt = (d) => new Intl.DateTimeFormat('en-GB', {timeZone: tz, hour: '2-digit',
            minute: '2-digit', second: '2-digit', hour12: false}).format(d);
        const parts = {};
        new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'zh-CN', {timeZone: tz,
            year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short', hour: '2-digit',
            minute: '2-digit', second: '2-digit', hour12: false})
            .formatToParts(now).forEach((p) => { parts[p.type] = p.value; });
        const clock = parts.year + '-' + parts.month + '-' + parts.day + ' ' + parts.weekday +
                      ' ' + parts.hour + ':' + parts.minute + ':' + parts.second;
        let msg = '', cls = 'wg-wall-status is-ok';
        if (errMs && (!asofMs || errMs > asofMs)) {
            msg = asofMs ? texts.db_down.replace('{t}', fmt(new Date(asofMs)))
                         : texts.db_down_empty;
            cls = 'wg-wall-status is-down';
        } else if (asofMs && (now.getTime() - asofMs) > 1000 * (o.stale_s || 60)) {
            msg = texts.stale.replace('{s}', String(Math.round((now.getTime() - asofMs) / 1000)))
                             .replace('{t}', fmt(new Date(asofMs)));
            cls = 'wg-wall-status is-stale';
        }
        return [clock, msg, cls];
    }""",
    Output("wall-clock", "children"), Output("wall-status", "children"),
    Output("wall-status", "className"), Input("wall-clock-tick", "n_intervals"),
    State("wall-asof-ms", "data"), State("wall-dberr-ms", "data"), State("wall-opts", "data"),
    State("app-lang", "data"))

_TOGGLE_LAYERS = ("villages", "groups", "live", "rings", "posts", "cameras")

clientside_callback(
    """function(theme, overlays, hv, hg, hl, hr, hp, hc, urlGroups) {
        const on = new Set(overlays || []);
        const nu = window.dash_clientside.no_update;
        const vis = (h, v) => (h && h.visible !== v) ? Object.assign({}, h, {visible: v}) : nu;
        const villages = (hv && hv.theme !== (theme === 'plain' ? null : theme))
            ? Object.assign({}, hv, {theme: theme === 'plain' ? null : theme}) : nu;
        const groupsUrl = (on.has('groups') && !urlGroups && hg && hg.src) ? hg.src : nu;
        const keys = ['plain', 'density', 'hotspots', 'coverage', 'groups', 'live', 'rings',
                      'cameras'];
        const styles = keys.map((k) => (k === theme || on.has(k)) ? {} : {display: 'none'});
        return [villages, vis(hg, on.has('groups')), groupsUrl, vis(hl, on.has('live')),
                vis(hr, on.has('rings')), vis(hp, on.has('rings')), vis(hc, on.has('cameras')),
                ...styles];
    }""",
    Output("wall-layer-villages", "hideout", allow_duplicate=True),
    Output("wall-layer-groups", "hideout"), Output("wall-layer-groups", "url"),
    Output("wall-layer-live", "hideout", allow_duplicate=True),
    Output("wall-layer-rings", "hideout"), Output("wall-layer-posts", "hideout"),
    Output("wall-layer-cameras", "hideout"),
    *[Output(f"wall-legend-{k}", "style") for k in LEGEND_KEYS],
    Input("wall-theme", "value"), Input("wall-overlays", "value"),
    *[State(f"wall-layer-{k}", "hideout") for k in _TOGGLE_LAYERS],
    State("wall-layer-groups", "url"), prevent_initial_call=True)

clientside_callback(
    """function(n, views, opts, lang) {
        const nu = window.dash_clientside.no_update;
        if (!views || !views.length || !n) { return [nu, nu, nu, nu]; }
        const o = opts || {};
        const texts = (o.texts || {})[lang] || (o.texts || {}).zh || {};
        const v = views[n % views.length];
        const sets = o.layer_sets || [];
        let theme = nu, overlays = nu;
        if (sets.length) {
            const s = sets[n % sets.length];
            const themes = ['plain', 'density', 'hotspots', 'coverage'];
            const th = s.find((x) => themes.includes(x));
            theme = th || 'plain';
            overlays = s.filter((x) => !themes.includes(x));
        }
        const viewport = v.bounds ? {bounds: v.bounds, transition: 'flyToBounds',
                                     options: {padding: [24, 24], duration: 1.5}} : nu;
        const caption = (texts.view || '') + '：' + (v.name || texts['view.county'] || '');
        return [viewport, caption, theme, overlays];
    }""",
    Output(MAP_ID, "viewport"), Output("wall-view-caption", "children"),
    Output("wall-theme", "value"), Output("wall-overlays", "value"),
    Input("wall-playlist-tick", "n_intervals"), State("wall-views", "data"),
    State("wall-opts", "data"), State("app-lang", "data"), prevent_initial_call=True)
