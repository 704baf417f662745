"""Folium maps embedded in one self-contained HTML document (no network request at all).

folium writes a whole page per map, with Leaflet, jQuery and Bootstrap linked from CDNs.
:func:`map_fragment` keeps only what a map needs: its ``<div>``, its script and its own
styles; :func:`leaflet_assets` gives Leaflet's JavaScript and CSS inline, from the
``xstatic-leaflet`` package (the images the CSS refers to become ``data:`` URLs). No tile
layer: grids and outlines on a plain background, as everywhere in wangge.

Each map has a fixed size in CSS pixels, so Leaflet lays it out once and the same picture
is printed to PDF (a map whose box changes size when printing would keep its screen view).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import folium
from branca.element import CssLink, JavascriptLink

from layers.base import BASE_CSS, Layer, union_bounds
from layers.folium import feature_group, legend_html

MAP_BACKGROUND = "#0b1826"
"""Plain background of the maps (the command-centre blue)."""


@dataclass(frozen=True)
class MapFragment:
    """One map, ready to place in a page: HTML (div + legend), script and styles."""

    map_id: str
    """Leaflet's container id (``map_<hash>``); the JS variable has the same name."""
    html: str
    script: str
    css: str


def _leaflet_dir() -> Path:
    import xstatic.pkg.leaflet as xs

    return Path(xs.BASE_DIR)


@lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """(JavaScript, CSS) of Leaflet, to inline; CSS images as ``data:`` URLs."""
    folder = _leaflet_dir()
    js = (folder / "leaflet.js").read_text(encoding="utf-8")
    css = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline(m: re.Match[str]) -> str:
        path = folder / m.group(1)
        if not path.exists():
            return "none"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[^)]+\.png)\)", inline, css)
    js = js.replace("//# sourceMappingURL=leaflet.js.map", "")
    return js, css


def map_fragment(layers: Sequence[Layer], lang: str = "zh", *, width: int = 1000,
                 height: int = 560, legend_layers: Sequence[Layer] | None = None,
                 padding_px: int = 12, control: bool = True,
                 fit: Sequence[Layer] | None = None) -> MapFragment:
    """A folium map of ``layers`` (bottom to top) cut out of folium's page.

    Parameters
    ----------
    layers : sequence of Layer
        Map layers (:mod:`layers`), bottom to top; the view fits their bounds.
    lang : str
        Language of names, legend and tooltips.
    width, height : int
        Size of the map box, CSS pixels.
    legend_layers : sequence of Layer, optional
        Layers listed in the legend, top to bottom (default: ``layers`` reversed).
    padding_px : int
        Margin kept around the bounds when fitting the view, pixels.
    control : bool
        Show the layer switcher (hidden when printing).
    fit : sequence of Layer, optional
        Layers whose bounds set the view (default: all of ``layers``).
    """
    m = folium.Map(tiles=None, location=[35.0, 105.0], zoom_start=10, zoom_snap=0.25,
                   control_scale=False, width=f"{width}px", height=f"{height}px",
                   prefer_canvas=False, attribution_control=False)
    for layer in layers:
        feature_group(layer, lang).add_to(m)
    if control:
        folium.LayerControl(position="topright", collapsed=False).add_to(m)
    b = union_bounds(list(fit) if fit else list(layers))
    if b:
        m.fit_bounds([[b[1], b[0]], [b[3], b[2]]], padding=(padding_px, padding_px))
    fig = m.get_root()
    fig.render()
    head = "".join(child.render() for child in fig.header._children.values()
                   if not isinstance(child, JavascriptLink | CssLink)
                   and "http-equiv" not in child.render())
    # folium's page-wide rules (``html, body`` at 100 %, a generic ``#map``) are left out
    css = "\n".join(b for b in re.findall(r"<style>(.*?)</style>", head, flags=re.DOTALL)
                    if not re.search(r"html,\s*body|#map\s*\{", b))
    legend = legend_html(list(legend_layers) if legend_layers is not None
                         else list(layers)[::-1], lang)
    name = m.get_name()
    box = (f'<div class="wg-report-map" style="width:{width}px;height:{height}px">'
           f"{fig.html.render()}{legend}</div>")
    script = fig.script.render() + (
        f"\nL.control.scale({{imperial: false, position: 'bottomright'}}).addTo({name});\n")
    return MapFragment(map_id=name, html=box, script=script, css=css)


def document_css() -> str:
    """Styles shared by every map of the document (background, legend, labels)."""
    return (f"{BASE_CSS}\n.wg-report-map {{ position: relative; overflow: hidden; "
            f"border: 1px solid #24476b; }}\n"
            f".wg-report-map .folium-map {{ background: {MAP_BACKGROUND}; }}\n"
            ".wg-report-map .wg-legend { position: absolute; }\n"
            "@media print { .wg-report-map .leaflet-control-layers,\n"
            "  .wg-report-map .leaflet-control-zoom { display: none; } }\n")


def escape(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))
