"""dash-leaflet renderer: :class:`layers.base.Layer` → Dash components.

Each layer becomes a ``dl.GeoJSON`` in its own map pane (fixed drawing order), inside a
``dl.LayersControl`` overlay. Styles, class colours, tooltips and zoom limits travel in the
component's ``hideout`` and are applied by a few client-side functions (written once into
the app's assets folder by :func:`write_assets`), so changing language or visibility restyles
in the browser without resending geometry. No tile layer unless a URL template is given:
the map works offline on a plain background.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dash_leaflet as dl
from dash import html
from dash_extensions.javascript import Namespace, arrow_function

from layers.base import BASE_CSS, Layer, LegendEntry, union_bounds
from layers.i18n import t

NS = Namespace("wangge", "layers")
"""Namespace of the client-side functions (``window.wangge.layers``)."""

PANE_Z: dict[str, int] = {"villages": 401, "groups": 402, "townships": 410, "county": 411,
                          "incidents": 440, "village-labels": 450, "township-labels": 451}
"""z-index of each layer's pane (unknown layers: 420); Leaflet's overlay pane is 400."""

_STYLE_JS = """function(feature, context) {
    const h = (context && context.hideout) || {};
    const s = Object.assign({}, h.style || {});
    const c = h.classes;
    if (c) {
        const v = feature.properties[c.prop];
        let i = 0;
        while (i + 1 < c.breaks.length && v >= c.breaks[i + 1]) { i++; }
        s.fillColor = c.colors[i];
        if (c.radii) { s.radius = c.radii[i]; }
    }
    return s;
}"""

_POINT_JS = """function(feature, latlng, context) {
    const h = (context && context.hideout) || {};
    if (h.label) {
        const esc = (x) => String(x).replace(/[&<>"']/g,
            (m) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[m]));
        const text = feature.properties[h.label];
        return L.marker(latlng, {interactive: false, keyboard: false, pane: h.pane,
            icon: L.divIcon({className: 'wg-label ' + (h.labelClass || ''), iconSize: null,
                             html: '<span>' + esc(text === null ? '' : text) + '</span>'})});
    }
    const s = Object.assign({}, h.style || {});
    const c = h.classes;
    if (c) {
        const v = feature.properties[c.prop];
        let i = 0;
        while (i + 1 < c.breaks.length && v >= c.breaks[i + 1]) { i++; }
        s.fillColor = c.colors[i];
        if (c.radii) { s.radius = c.radii[i]; }
    }
    if (h.pane) { s.pane = h.pane; }
    s.interactive = h.interactive !== false;
    return L.circleMarker(latlng, s);
}"""

_TOOLTIP_JS = """function(feature, layer, context) {
    const h = (context && context.hideout) || {};
    if (h.interactive === false) { return; }
    const p = feature.properties || {};
    const esc = (x) => String(x).replace(/[&<>"']/g,
        (m) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[m]));
    const rows = (spec) => {
        if (!spec) { return ''; }
        const fmt = (x) => (typeof x === 'number') ? x.toLocaleString(spec.locale || 'zh-CN')
                                                   : esc(x);
        let html = '';
        if (spec.name && p[spec.name] !== undefined && p[spec.name] !== null) {
            html += '<div class="wg-tt-name">' + esc(p[spec.name]) + '</div>';
        }
        for (const [prop, label] of (spec.fields || [])) {
            const v = p[prop];
            if (v === undefined || v === null || v === '') { continue; }
            html += '<div class="wg-tt-row"><span class="wg-tt-label">' + esc(label) +
                    '</span><span class="wg-tt-value">' + fmt(v) + '</span></div>';
        }
        return html;
    };
    const tip = rows(h.tooltip);
    if (tip) {
        layer.bindTooltip(tip, {sticky: true, direction: 'top', offset: [0, -8],
                                className: 'wg-tooltip', opacity: 1});
        // one tooltip at a time: a layer drawn under a resting mouse (zooming, lazy layers)
        // hides the hovered feature without a mouseout, so opening a tooltip closes the others
        const ns = window.wangge = window.wangge || {};
        const open = ns.openTips = ns.openTips || new Set();
        layer.on('tooltipopen', function() {
            for (const other of Array.from(open)) {
                if (other !== layer) { open.delete(other); other.closeTooltip(); }
            }
            open.add(layer);
        });
        layer.on('tooltipclose remove', function() { open.delete(layer); });
    }
    const pop = rows(h.popup);
    if (pop) {
        // click: the same rows in a popup that stays (touch screens have no hover)
        layer.bindPopup(pop, {className: 'wg-popup', maxWidth: 360, autoPanPadding: [24, 24]});
        layer.on('popupopen', function() { layer.closeTooltip(); });
    }
}"""

_FILTER_JS = """function(feature, context) {
    const h = (context && context.hideout) || {};
    return h.visible !== false;
}"""

STYLE = NS(NS.add(_STYLE_JS, "style"))
POINT_TO_LAYER = NS(NS.add(_POINT_JS, "pointToLayer"))
ON_EACH_FEATURE = NS(NS.add(_TOOLTIP_JS, "onEachFeature"))
FILTER = NS(NS.add(_FILTER_JS, "filter"))

ZOOM_GATE_JS = """function(zoom, hideout, url) {
    const nu = window.dash_clientside.no_update;
    if (zoom === undefined || zoom === null || !hideout) { return [nu, nu]; }
    const lo = hideout.minZoom, hi = hideout.maxZoom;
    const vis = (lo === undefined || lo === null || zoom >= lo) &&
                (hi === undefined || hi === null || zoom <= hi);
    const newUrl = (vis && !url && hideout.src) ? hideout.src : nu;
    const was = hideout.visible !== false;
    const newHideout = (vis !== was) ? Object.assign({}, hideout, {visible: vis}) : nu;
    return [newUrl, newHideout];
}"""
"""Client-side callback for layers with a zoom range: Inputs map ``zoom``, States the
layer's ``hideout`` and ``url``; Outputs its ``url`` (set once, on first show: lazy
download) and ``hideout`` (``visible`` flag)."""



POPUP_CSS = """
.wg-popup .leaflet-popup-content-wrapper, .wg-popup .leaflet-popup-tip {
  background: rgba(8, 20, 36, .96); color: #e6f1fb; border: 1px solid #3fb6e8;
  box-shadow: 0 2px 10px rgba(0, 0, 0, .5); }
.wg-popup .leaflet-popup-content-wrapper { border-radius: 3px; }
.wg-popup .leaflet-popup-content { margin: 8px 11px; font-size: 12px; min-width: 150px; }
.wg-popup a.leaflet-popup-close-button { color: #9fb8d0; }
"""
"""Styles of the click popups (:attr:`layers.base.Layer.popup`): the tooltip's dark box."""


def pane_name(layer_id: str) -> str:
    """Name of the map pane of a layer (Leaflet gives it the class ``leaflet-<name>-pane``)."""
    return f"wg-{layer_id}"


def _css() -> str:
    panes = "\n".join(f".leaflet-{pane_name(k)}-pane {{ z-index: {z}; }}"
                      for k, z in PANE_Z.items())
    return f"{panes}\n.wg-pane {{ pointer-events: none; }}\n{BASE_CSS}{POPUP_CSS}"


def write_assets(folder: str | os.PathLike[str]) -> list[Path]:
    """Write the client-side functions (JS) and base styles (CSS) into an assets folder.

    Files are replaced atomically and only when their content changed, so several server
    processes may call this at start-up. Returns the paths written or kept.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        NS.dump(assets_folder=tmp)
        js = (Path(tmp) / "wangge_layers.js").read_text(encoding="utf-8")
    out = []
    for name, text in (("wangge_layers.js", js), ("wangge_layers.css", _css())):
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            fd, tmp_path = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp_path, path)
        out.append(path)
    return out


def hideout(layer: Layer, lang: str = "zh", src: str | None = None) -> dict[str, Any]:
    """The ``hideout`` of a layer's GeoJSON: style, classes, tooltip and click popup
    (translated; no popup when the layer has no popup fields or is not interactive), zoom."""
    out: dict[str, Any] = {
        "style": layer.style.to_leaflet() | {"interactive": layer.interactive},
        "classes": layer.style.classes.to_dict() if layer.style.classes else None,
        "tooltip": {"name": layer.name_prop, "locale": "zh-CN" if lang == "zh" else "en-US",
                    "fields": [[p, t(k, lang)] for p, k in layer.tooltip]},
        "popup": {"name": layer.name_prop, "locale": "zh-CN" if lang == "zh" else "en-US",
                  "fields": [[p, t(k, lang)] for p, k in layer.popup]}
        if layer.popup and layer.interactive else None,
        "interactive": layer.interactive,
        "pane": pane_name(layer.id),
        "minZoom": layer.min_zoom,
        "maxZoom": layer.max_zoom,
        "visible": layer.min_zoom is None and layer.max_zoom is None,
        "label": layer.label_prop,
        "labelClass": f"wg-label-{layer.id}",
    }
    if src is not None:
        out["src"] = src
    return out


def geojson(layer: Layer, lang: str = "zh", *, url: str | None = None,
            component_id: str | None = None) -> dl.GeoJSON:
    """``dl.GeoJSON`` of a layer.

    Parameters
    ----------
    layer : Layer
        The layer.
    lang : str
        Language of the tooltip labels.
    url : str, optional
        Where the browser downloads the layer's GeoJSON instead of receiving it inline.
        A layer with a zoom range gets its URL only when first shown (see
        :data:`ZOOM_GATE_JS`).
    component_id : str, optional
        Dash id of the component.
    """
    gated = layer.min_zoom is not None or layer.max_zoom is not None
    kwargs: dict[str, Any] = {}
    if url is None:
        kwargs["data"] = layer.data
    elif not gated:
        kwargs["url"] = url
    if component_id is not None:
        kwargs["id"] = component_id
    if layer.kind in ("points", "aggregates"):
        kwargs["pointToLayer"] = POINT_TO_LAYER
    else:
        kwargs["style"] = STYLE
    if layer.interactive:
        kwargs["hoverStyle"] = arrow_function(layer.style.hover())
    return dl.GeoJSON(
        **kwargs, onEachFeature=ON_EACH_FEATURE, filter=FILTER,
        hideout=hideout(layer, lang, src=url if gated else None),
        interactive=layer.interactive, bubblingMouseEvents=False, pane=pane_name(layer.id))


def overlay(layer: Layer, lang: str = "zh", *, url: str | None = None,
            component_id: str | None = None) -> dl.Overlay:
    """A layer as a named, switchable overlay in its own pane."""
    pane = dl.Pane(geojson(layer, lang, url=url, component_id=component_id),
                   name=pane_name(layer.id), className="wg-pane")
    return dl.Overlay(pane, name=layer.title_text(lang), checked=layer.checked)


def _swatch(e: LegendEntry) -> html.Span:
    stroke = e.stroke or e.color
    if e.shape == "circle":
        d = max(4.0, min(e.size, 26.0))
        box = {"width": f"{d}px", "height": f"{d}px", "borderRadius": "50%",
               "background": e.color, "border": f"1px solid {stroke}"}
    elif e.shape in ("line", "dash"):
        box = {"width": "24px", "height": "0", "borderTop":
               f"{3 if e.shape == 'line' else 2}px {'solid' if e.shape == 'line' else 'dashed'} "
               f"{e.color}"}
    else:
        box = {"width": "22px", "height": "14px", "background": e.color,
               "border": f"1.5px solid {stroke}"}
    return html.Span(html.Span(style=box), className="wg-legend-swatch")


def legend(layers: Sequence[Layer], lang: str = "zh", *, component_id: str | None = None,
           title_key: str = "home.legend", notes: Mapping[str, str] | None = None) -> html.Div:
    """A legend box (``html.Div`` placed over the map) listing each layer's entries.

    Parameters
    ----------
    layers : sequence of Layer
        Layers in legend order; layers without entries are skipped.
    lang : str
        Language of the labels.
    component_id : str, optional
        Dash id of the legend.
    title_key : str
        i18n key of the legend title.
    notes : mapping, optional
        Layer id → extra line under that layer's entries (already translated).
    """
    sections: list[Any] = [html.Div(t(title_key, lang), className="wg-legend-title")]
    for layer in layers:
        if not layer.legend:
            continue
        rows: list[Any] = []
        if len(layer.legend) > 1:
            rows.append(html.Div(layer.title_text(lang), className="wg-legend-layer"))
        rows += [html.Div([_swatch(e), html.Span(e.text(lang))], className="wg-legend-row")
                 for e in layer.legend]
        if notes and layer.id in notes:
            rows.append(html.Div(notes[layer.id], className="wg-legend-layer"))
        sections.append(html.Div(rows, className="wg-legend-section"))
    kwargs = {"id": component_id} if component_id else {}
    return html.Div(sections, className="wg-legend", **kwargs)


def tile_layer(tile_url: str | None, attribution: str = "") -> dl.TileLayer | None:
    """A basemap tile layer when a URL template is configured, else None (offline)."""
    if not tile_url:
        return None
    return dl.TileLayer(url=tile_url, attribution=attribution or None, maxZoom=19)


def layers_control(layers: Sequence[Layer], lang: str = "zh", *,
                   urls: Mapping[str, str] | None = None, id_prefix: str = "",
                   tile_url: str | None = None, attribution: str = "") -> dl.LayersControl:
    """``dl.LayersControl`` holding every layer as an overlay (and the basemap if any).

    Component ids of the GeoJSONs are ``f"{id_prefix}layer-{layer.id}"``.
    """
    children: list[Any] = []
    tiles = tile_layer(tile_url, attribution)
    if tiles is not None:
        children.append(dl.BaseLayer(tiles, name=t("layer.basemap", lang), checked=True))
    children += [overlay(lyr, lang, url=(urls or {}).get(lyr.id),
                         component_id=f"{id_prefix}layer-{lyr.id}") for lyr in layers]
    return dl.LayersControl(children, position="topright", collapsed=False)


def leaflet_map(layers: Sequence[Layer], lang: str = "zh", *, component_id: str = "map",
                urls: Mapping[str, str] | None = None, id_prefix: str = "",
                tile_url: str | None = None, attribution: str = "",
                bounds: Sequence[float] | None = None, legend_layers: Sequence[Layer] | None = None,
                legend_notes: Mapping[str, str] | None = None,
                style: Mapping[str, Any] | None = None) -> html.Div:
    """A full map: layers control, optional tiles, scale bar and legend.

    Parameters
    ----------
    layers : sequence of Layer
        Bottom to top.
    bounds : (min lon, min lat, max lon, max lat), optional
        Initial view (default: union of the layers' bounds).
    legend_layers : sequence of Layer, optional
        Layers listed in the legend, top to bottom (default: ``layers`` reversed).
    style : mapping, optional
        CSS of the wrapping ``html.Div`` (positioned; the map fills it). Give it a size.
    """
    b = bounds or union_bounds(layers)
    # dash-leaflet's viewport tracking needs ``center`` even when ``bounds`` sets the view
    # (a ``zoom`` would make it ignore ``bounds``)
    view: dict[str, Any] = {"center": [35.0, 105.0], "zoom": 4}
    if b:
        view = {"bounds": [[b[1], b[0]], [b[3], b[2]]], "boundsOptions": {"padding": [16, 16]},
                "center": [(b[1] + b[3]) / 2, (b[0] + b[2]) / 2]}
    m = dl.Map([layers_control(layers, lang, urls=urls, id_prefix=id_prefix, tile_url=tile_url,
                               attribution=attribution),
                dl.ScaleControl(position="bottomright", imperial=False)],
               id=component_id, **view, zoomSnap=0.25, minZoom=5, maxZoom=18,
               attributionControl=bool(tile_url),
               style={"position": "absolute", "top": 0, "bottom": 0, "left": 0, "right": 0})
    legend_box = legend(list(legend_layers) if legend_layers is not None else list(layers)[::-1],
                        lang, component_id=f"{id_prefix}legend", notes=legend_notes)
    return html.Div([m, legend_box], className="wg-map",
                    style={"position": "relative", **(style or {})})
