"""folium renderer: :class:`layers.base.Layer` → ``folium.FeatureGroup`` and a whole map.

The same layer definitions as the dash-leaflet renderer (style, class colours, legend,
tooltip and click-popup fields) give a standalone HTML map, e.g. for reports or e-mail.
No tiles by default.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import folium

from layers.base import BASE_CSS, Layer, LegendEntry, union_bounds
from layers.i18n import t

BACKGROUND = "#0b1826"
"""Map background without tiles."""


def _style_function(layer: Layer):  # noqa: ANN202
    style = layer.style

    def fn(feature: dict[str, Any]) -> dict[str, Any]:
        return style.for_feature(feature.get("properties") or {})

    return fn


def _highlight_function(layer: Layer):  # noqa: ANN202
    hover = layer.style.hover()

    def fn(feature: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG001
        return hover

    return fn


def _fields(layer: Layer, pairs: Sequence[tuple[str, str]],
            lang: str) -> tuple[list[str], list[str]]:
    """(properties, translated labels) of ``pairs`` present in the layer's features, the
    name first; empty when the layer is not interactive or has no features."""
    if not layer.interactive or not layer.data.get("features"):
        return [], []
    keys = set(layer.data["features"][0].get("properties", {}))
    fields: list[str] = []
    aliases: list[str] = []
    if layer.name_prop and layer.name_prop in keys:
        fields.append(layer.name_prop)
        aliases.append(t("field.name", lang))
    for prop, key in pairs:
        if prop in keys and prop not in fields:
            fields.append(prop)
            aliases.append(t(key, lang))
    return fields, aliases


def tooltip(layer: Layer, lang: str = "zh") -> folium.GeoJsonTooltip | None:
    """Hover tooltip of a layer: the name first, then the labelled fields."""
    fields, aliases = _fields(layer, layer.tooltip, lang)
    if not fields:
        return None
    return folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True,
                                 class_name="wg-tooltip", localize=True)


def popup(layer: Layer, lang: str = "zh") -> folium.GeoJsonPopup | None:
    """Click popup of a layer (:attr:`Layer.popup` fields, the name first); None when the
    layer has no popup fields, is not interactive or has no features."""
    if not layer.popup:
        return None
    fields, aliases = _fields(layer, layer.popup, lang)
    if not fields:
        return None
    return folium.GeoJsonPopup(fields=fields, aliases=aliases, localize=True,
                               class_name="wg-popup")


def _labels(layer: Layer, fg: folium.FeatureGroup) -> folium.FeatureGroup:
    for f in layer.data.get("features", ()):
        lon, lat = f["geometry"]["coordinates"][:2]
        text = html.escape(str(f["properties"].get(layer.label_prop) or ""))
        folium.Marker([lat, lon], icon=folium.DivIcon(
            html=f"<span>{text}</span>", class_name=f"wg-label wg-label-{layer.id}"),
            interactive=False).add_to(fg)
    return fg


def feature_group(layer: Layer, lang: str = "zh") -> folium.FeatureGroup:
    """A layer as a named ``folium.FeatureGroup`` (hidden at first when it only shows from
    a minimum zoom)."""
    show = layer.checked and layer.min_zoom is None
    fg = folium.FeatureGroup(name=layer.title_text(lang), show=show)
    if layer.label_prop:
        return _labels(layer, fg)
    kwargs: dict[str, Any] = {}
    if layer.kind in ("points", "aggregates"):
        kwargs["marker"] = folium.CircleMarker(radius=layer.style.radius)
    if layer.interactive:
        kwargs["highlight_function"] = _highlight_function(layer)
    tip = tooltip(layer, lang)
    if tip is not None:
        kwargs["tooltip"] = tip
    pop = popup(layer, lang)
    if pop is not None:
        kwargs["popup"] = pop
    folium.GeoJson(layer.data, name=layer.title_text(lang), style_function=_style_function(layer),
                   control=False, **kwargs).add_to(fg)
    return fg


def _swatch_html(e: LegendEntry) -> str:
    stroke = e.stroke or e.color
    if e.shape == "circle":
        d = max(4.0, min(e.size, 26.0))
        css = (f"width:{d}px;height:{d}px;border-radius:50%;background:{e.color};"
               f"border:1px solid {stroke}")
    elif e.shape in ("line", "dash"):
        kind = "solid" if e.shape == "line" else "dashed"
        css = f"width:24px;height:0;border-top:{3 if kind == 'solid' else 2}px {kind} {e.color}"
    else:
        css = f"width:22px;height:14px;background:{e.color};border:1.5px solid {stroke}"
    return f'<span class="wg-legend-swatch"><span style="display:inline-block;{css}"></span></span>'


def legend_html(layers: Sequence[Layer], lang: str = "zh",
                title_key: str = "home.legend") -> str:
    """The legend box as HTML (same look as the dash-leaflet legend)."""
    parts = [f'<div class="wg-legend"><div class="wg-legend-title">'
             f"{html.escape(t(title_key, lang))}</div>"]
    for layer in layers:
        if not layer.legend:
            continue
        parts.append('<div class="wg-legend-section">')
        if len(layer.legend) > 1:
            title = html.escape(layer.title_text(lang))
            parts.append(f'<div class="wg-legend-layer">{title}</div>')
        for e in layer.legend:
            parts.append(f'<div class="wg-legend-row">{_swatch_html(e)}'
                         f"<span>{html.escape(e.text(lang))}</span></div>")
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def folium_map(layers: Sequence[Layer], lang: str = "zh", *, tile_url: str | None = None,
               attribution: str = "", title_key: str | None = None) -> folium.Map:
    """A standalone folium map of ``layers`` (bottom to top) with legend and layer control.

    Parameters
    ----------
    layers : sequence of Layer
        Layers, bottom to top.
    lang : str
        Language of names, legend and tooltips.
    tile_url : str, optional
        Tile URL template of a basemap; none by default (plain background, offline).
    attribution : str
        Attribution of the tiles.
    title_key : str, optional
        i18n key of a title shown above the map (the HTML ``<title>`` too).
    """
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=False, zoom_start=10,
                   location=[35.0, 105.0])
    if tile_url:
        folium.TileLayer(tiles=tile_url, attr=attribution or " ", name=t("layer.basemap", lang),
                         overlay=False, control=True).add_to(m)
    for layer in layers:
        feature_group(layer, lang).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    b = union_bounds(layers)
    if b:
        m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    root = m.get_root()
    root.header.add_child(folium.Element(
        f"<style>{BASE_CSS}\n.wg-legend {{ position: fixed; }}</style>"))
    if title_key:
        root.header.add_child(folium.Element(f"<title>{html.escape(t(title_key, lang))}</title>"))
    root.html.add_child(folium.Element(legend_html(list(layers)[::-1], lang)))
    return m
