"""The map of the wall display (``/wall``): themes, overlays, legend and layer panel.

The map is created once per page render (:func:`build_map`); refreshes only change its
layers' ``hideout`` (values per grid code, restyled client side by
``dashboard/assets/wall.js``) and the data of the analysis overlays, so the view is never
reset.

The analysis overlays — 10 / 20-minute road isochrones of the police posts, patrols of the
last 24 hours with the key road sections by this week's compliance — are :mod:`layers`
definitions (:mod:`layers.reach`, :mod:`layers.patrols`) whose data
(:mod:`dashboard.wall_layers_data`) is sent only when the overlay is first switched on
(:func:`dashboard.wall_callbacks.load_overlays`); their styles and legends are known before.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace

from dashboard import data, wall_data, wall_layers_data
from gis import settings
from layers.base import Classes, Layer, LegendEntry, Style, legend_for_classes
from layers.hotspots import hotspot_classes, hotspot_legend
from layers.i18n import t
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

log = logging.getLogger(__name__)

MAP_ID = "wall-map"
WALL = Namespace("wangge", "wall")
"""Client-side functions of ``dashboard/assets/wall.js`` (``window.wangge.wall``)."""
W_STYLE, W_POINT, W_FILTER = WALL("style"), WALL("pointToLayer"), WALL("filter")

THEMES: tuple[str, ...] = ("plain", "density", "hotspots", "coverage")
"""Fills of the village grids (one at a time)."""
OVERLAYS: tuple[str, ...] = ("groups", "live", "rings", "isochrones", "cameras", "patrols")
"""Switchable overlays (any number)."""
OVERLAY_LABELS: dict[str, str] = {"isochrones": "wall.ov.isochrones",
                                  "patrols": "wall.ov.patrols_live"}
"""i18n key of an overlay's switch (default ``wall.ov.<overlay>``)."""
DEFAULT_THEME = "density"
DEFAULT_OVERLAYS: tuple[str, ...] = ("live",)
LEGEND_KEYS: tuple[str, ...] = ("plain", "density", "hotspots", "coverage", "groups", "live",
                                "rings", "isochrones", "cameras", "patrols")
"""Legend sections shown / hidden with the theme and the overlays."""
ISO_PANE, PATROL_PANE = "wg-wall-iso", "wg-wall-patrols"
"""Panes of the isochrones (over the group grids, under the rings) and of the patrol lines
(over the outlines, under the cameras and incident circles)."""
WALL_PANE_Z: dict[str, int] = {ISO_PANE: 404, PATROL_PANE: 425}
"""z-index of the overlay panes (the other wall panes: ``dashboard/assets/wall.css``)."""
LIVE_RADII: tuple[float, float] = (3.0, 8.0)
LIVE_FILL = "#7fe3ff"
LIVE_STROKE = "#04101c"

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


LEGEND_GRID = {"display": "grid", "gridTemplateColumns": "auto auto", "columnGap": ".9em"}
"""Two columns of legend rows: the analysis overlays' sections stay short."""


def _legend_grid(entries: list[LegendEntry], lang: str, title: str,
                 note: Any = None) -> list[Any]:
    """A legend section with its rows in two columns (title and note across)."""
    rows = [html.Div([_swatch(e), html.Span(e.text(lang))], className="wg-legend-row")
            for e in entries]
    out: list[Any] = [html.Div(title, className="wg-legend-layer"),
                      html.Div(rows, style=LEGEND_GRID)]
    return out + ([note] if note is not None else [])


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
    z = WALL_PANE_Z.get(pane)
    return dl.Pane(component, name=pane, className="wg-pane",
                   **({"style": {"zIndex": z}} if z is not None else {}))


def overlay_status(md: data.MapData, st: dict[str, Any]) -> dict[str, str | None]:
    """Per analysis overlay, the i18n key of why it cannot be shown (None: it can): the
    isochrones need police posts and a stored road network."""
    if not st.get("posts"):
        return {"isochrones": "wall.iso.no_posts", "patrols": None}
    from gis.network import has_network

    try:
        with data.engine().connect() as conn:  # reference data, the same for every user
            ok = has_network(conn, md.adcode)
    except Exception:
        log.warning("wall: cannot tell whether a road network is stored", exc_info=True)
        ok = False
    return {"isochrones": None if ok else "wall.iso.no_network", "patrols": None}


def analysis_layers() -> tuple[Layer, list[Layer]]:
    """Templates (no features) of the wall's isochrone layer and patrol layers: their
    styles and legends, before any data is read."""
    return (wall_layers_data.isochrone_template(),
            wall_layers_data.patrol_wall_layers(wall_layers_data.patrol_template()))


def _std_geojson(layer: Layer, lang: str, comp: str, *, url: str | None = None,
                 lazy: bool = False, visible: bool = True, inline: bool = False,
                 pane: str | None = None) -> dl.GeoJSON:
    """A layer with the standard client functions of :mod:`layers.leaflet`; ``lazy``: the
    URL is set on first show (kept in ``hideout.src``); ``pane``: draw in that pane
    instead of the layer's own."""
    h = layer_hideout(layer, lang, src=url if lazy else None)
    h |= {"minZoom": None, "maxZoom": None, "visible": visible}
    if pane is not None:
        h["pane"] = pane
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
                      pane=pane or pane_name(layer.id), **kwargs)


def _empty_layer(layer_id: str, title: str) -> Layer:
    return Layer(id=layer_id, title=title, kind="polygons",
                 data={"type": "FeatureCollection", "features": []}, style=Style())


def build_map(md: data.MapData, st: dict[str, Any], snap: wall_data.Snapshot | None,
              lang: str, theme: str, overlays: list[str], kiosk: bool) -> html.Div:
    """The map (created once per page render; refreshes only change its layers' data).

    The analysis overlays start without features (their data is sent on first show); the
    isochrones of the version start building in the background now."""
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
    iso_t, patrol_t = analysis_layers()
    status = overlay_status(md, st)
    if status["isochrones"] is None:
        wall_layers_data.warm_isochrones(md.version_id)
    children.append(_pane(_std_geojson(iso_t, lang, f"wall-layer-{iso_t.id}",
                                       visible="isochrones" in on, pane=ISO_PANE), ISO_PANE))
    rings = st.get("rings") or _empty_layer("wall-rings", "layer.rings")
    rings = _with_id(rings, "wall-rings")
    children.append(_pane(_std_geojson(rings, lang, "wall-layer-rings", inline=True,
                                       visible="rings" in on), pane_name("wall-rings")))
    for key in ("townships", "county"):
        children.append(_pane(_std_geojson(md.layers[key], lang, f"wall-layer-{key}",
                                           url=urls[key]), pane_name(key)))
    children.append(_pane([_std_geojson(lyr, lang, f"wall-layer-{lyr.id}",
                                        visible="patrols" in on, pane=PATROL_PANE)
                           for lyr in patrol_t], PATROL_PANE))
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
                                       visible=bool(on & {"rings", "isochrones"})),
                          pane_name("wall-posts")))
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
                     layer_panel(lang, theme, overlays, status),
                     dcc.Store(id="wall-overlay-rev", data={}),
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
    iso_t, patrol_t = analysis_layers()
    post_entries = list(st["posts"].legend) if st.get("posts") else []
    sections.append(_section("isochrones", _legend_grid(
        [*iso_t.legend, *post_entries], lang,
        f"{t('wall.ov.isochrones', lang)} · {t('wall.iso.note', lang)}"), "isochrones" in on))
    cam = st.get("cameras")
    sections.append(_section("cameras", _legend_rows(
        cam.legend if cam else [], lang, t("layer.camera_counts", lang)), "cameras" in on))
    sections.append(_section("patrols", _legend_grid(
        [e for lyr in patrol_t[::-1] for e in lyr.legend], lang,
        t("wall.ov.patrols_live", lang, h=_hours()),
        html.Div(id="wall-patrols-note", className="wg-legend-note")), "patrols" in on))
    return html.Div(sections, className="wg-legend wg-wall-legend", id="wall-legend")


def _hours() -> str:
    return f"{float(settings.PATROL_LAYER_HOURS):g}"


def patrol_note(p: wall_layers_data.Patrols, lang: str) -> str:
    """The patrol legend's line of figures: tracks of the last hours, sections met."""
    c = p.counts
    return t("wall.patrols.note", lang, n=c["tracks"], night=c["night"], h=f"{p.hours:g}",
             week=p.week, passed=c["sections_passed"], total=c["sections"])


def layer_panel(lang: str, theme: str, overlays: list[str],
                status: dict[str, str | None] | None = None) -> html.Div:
    """Theme radio and overlay checklist (big touch targets; hidden in kiosk mode).
    ``status``: overlay → i18n key of why it cannot be shown (the switch is disabled and
    says why)."""
    theme_opts = [{"label": t(f"wall.theme.{k}", lang), "value": k} for k in THEMES]
    ov_opts = []
    for k in OVERLAYS:
        label = t(OVERLAY_LABELS.get(k, f"wall.ov.{k}"), lang, h=_hours())
        why = (status or {}).get(k)
        ov_opts.append({"label": f"{label}（{t(why, lang)}）" if why else label, "value": k,
                        "disabled": bool(why)})
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
