"""One definition per map layer: data + style + legend + tooltip, for every renderer.

A :class:`Layer` holds GeoJSON (a FeatureCollection dict in WGS84 lon/lat, coordinates
rounded to :data:`PRECISION` decimals), a :class:`Style` (optionally classed by a property
through :class:`Classes`), legend entries and the fields shown on hover. Display text is never
stored: titles and labels are keys of :mod:`layers.i18n`, translated when rendered.
Both :mod:`layers.leaflet` (dash-leaflet) and :mod:`layers.folium` render the same object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from layers.i18n import t

PRECISION = 5
"""Decimals kept in GeoJSON coordinates (1e-5 degree ≈ 1.1 m)."""

HOVER_COLOR = "#ffd166"
"""Stroke colour of the feature under the mouse."""

Kind = Literal["polygons", "points", "aggregates"]
"""Geometry kinds of a layer; ``points`` with a ``label_prop`` are drawn as text labels."""
Shape = Literal["fill", "line", "dash", "circle"]

PALETTES: dict[str, tuple[str, ...]] = {
    # ColorBrewer sequential schemes marked colour-blind safe, light → dark
    "YlOrRd": ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"),
    "Blues": ("#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"),
    "PuBuGn": ("#f6eff7", "#d0d1e6", "#a6bddb", "#67a9cf", "#1c9099", "#016c59"),
    # viridis (perceptually uniform, colour-blind safe), dark → light
    "viridis": ("#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"),
}
"""Colour-blind-safe palettes for classed styles."""

BASE_CSS = """
.leaflet-container { background: #0b1826; font-family: inherit; }
.wg-legend { position: absolute; z-index: 1000; left: 12px; bottom: 24px; min-width: 170px;
  background: rgba(10, 22, 38, .94); color: #d6e6f5; border: 1px solid #24476b; font-size: 12px;
  border-radius: 4px; padding: 10px 12px; line-height: 1.35; pointer-events: auto;
  box-shadow: 0 2px 12px rgba(0, 0, 0, .45); }
.wg-legend-title { font-weight: 600; letter-spacing: .08em; margin-bottom: 6px; color: #7fe3ff;
  font-size: 13px; }
.wg-legend-section { margin-top: 6px; }
.wg-legend-layer { color: #9fb8d0; font-size: 11px; margin: 6px 0 3px; }
.wg-legend-row { display: flex; align-items: center; gap: 8px; margin: 3px 0; }
.wg-legend-swatch { display: inline-flex; justify-content: center; align-items: center;
  width: 28px; flex: none; }
.wg-label { background: transparent; border: 0; white-space: nowrap; pointer-events: none; }
.wg-label span { display: inline-block; transform: translate(-50%, -50%); color: #cfe6f8;
  font-size: 12px; letter-spacing: .08em; text-shadow: 0 0 3px #04101c, 0 0 6px #04101c; }
.wg-label-township-labels span { font-size: 14px; font-weight: 700; color: #eaf6ff; }
.wg-tooltip { background: rgba(8, 20, 36, .95); color: #e6f1fb; border: 1px solid #3fb6e8;
  border-radius: 3px; box-shadow: 0 2px 10px rgba(0, 0, 0, .5); padding: 6px 9px; font-size: 12px; }
.wg-tooltip.leaflet-tooltip-top:before { border-top-color: #3fb6e8; }
.wg-tt-name { font-weight: 700; font-size: 13px; color: #7fe3ff; margin-bottom: 3px; }
.wg-tt-row { display: flex; justify-content: space-between; gap: 14px; }
.wg-tt-label { color: #9fb8d0; }
.wg-tt-value { font-variant-numeric: tabular-nums; }
"""
"""Styles of the map background, legend and tooltips shared by both renderers."""


def _series(lo: float, hi: float) -> list[float]:
    """Numbers of the 1-2-5 series in [lo, hi]."""
    if hi <= 0:
        return []
    out = []
    e = math.floor(math.log10(max(lo, hi * 1e-6, 1e-12)))
    while 10.0 ** e <= hi:
        out += [f * 10.0 ** e for f in (1.0, 2.0, 5.0) if lo <= f * 10.0 ** e <= hi]
        e += 1
    return out


def _log_breaks(v: np.ndarray, k: int, integer: bool) -> list[float]:
    """Class lower bounds for skewed positive data: the 1-2-5 series up to the 95th
    percentile, thinned from the low end to ``k`` classes (the first bound is kept)."""
    if v.size == 0:
        return [1.0 if integer else 0.0]
    lo = float(v[0])
    if integer:
        first = float(max(1, math.floor(lo)))
    else:  # the 1-2-5 number just below the minimum
        below = [x for x in _series(lo / 10.0, lo) if x <= lo] if lo > 0 else []
        first = below[-1] if below else lo
    top = float(np.quantile(v, 0.95))
    cand = [x for x in _series(first, top) if x > first]
    breaks = [first] + cand[-(k - 1):] if k > 1 else [first]
    return sorted(set(breaks))


def pick_colors(palette: str | Sequence[str], n: int) -> tuple[str, ...]:
    """``n`` colours spread over ``palette`` (a name of :data:`PALETTES` or colours)."""
    cols = PALETTES[palette] if isinstance(palette, str) else tuple(palette)
    if n >= len(cols):
        return tuple(cols)
    idx = np.round(np.linspace(len(cols) - n, len(cols) - 1, n)).astype(int) if n > 1 \
        else np.array([len(cols) - 1])
    return tuple(cols[i] for i in idx)


@dataclass(frozen=True)
class Classes:
    """Classes of a numeric feature property: lower bounds, one colour (and radius) each.

    Parameters
    ----------
    prop : str
        Feature property that is classed.
    breaks : tuple of float
        Increasing lower bounds: class ``i`` holds ``breaks[i] <= v < breaks[i + 1]``;
        values below ``breaks[0]`` fall in class 0.
    colors : tuple of str
        One colour per class.
    radii : tuple of float, optional
        One circle radius (pixels) per class, for point layers.
    integer : bool
        Values are counts: labels read ``lo–hi`` with ``hi = next break - 1``.
    """

    prop: str
    breaks: tuple[float, ...]
    colors: tuple[str, ...]
    radii: tuple[float, ...] | None = None
    integer: bool = True

    def __post_init__(self) -> None:
        if len(self.colors) != len(self.breaks):
            msg = f"Classes: {len(self.breaks)} breaks need as many colours, got {len(self.colors)}"
            raise ValueError(msg)
        if self.radii is not None and len(self.radii) != len(self.breaks):
            msg = f"Classes: {len(self.breaks)} breaks need as many radii, got {len(self.radii)}"
            raise ValueError(msg)
        if list(self.breaks) != sorted(set(self.breaks)):
            msg = f"Classes: breaks must increase strictly, got {self.breaks}"
            raise ValueError(msg)

    @classmethod
    def from_values(cls, prop: str, values: Iterable[float], k: int = 5,
                    palette: str | Sequence[str] = "YlOrRd",
                    radii: tuple[float, float] | None = None,
                    integer: bool = True) -> Classes:
        """Classes with "nice" (1-2-5 series) breaks for skewed data such as counts.

        Parameters
        ----------
        prop : str
            Property name.
        values : iterable of float
            Observed values (non-finite ones are ignored).
        k : int
            Most classes (fewer when the values do not spread enough).
        palette : str or sequence of str
            Name of :data:`PALETTES` or explicit colours (light → dark).
        radii : (float, float), optional
            Smallest and largest circle radius, interpolated over the classes.
        integer : bool
            Values are counts.
        """
        v = np.asarray([x for x in values if x is not None], dtype=float)
        v = np.sort(v[np.isfinite(v)])
        breaks = _log_breaks(v, k, integer)
        colors = pick_colors(palette, len(breaks))
        rr = None
        if radii is not None and len(breaks) > 1:
            rr = tuple(float(r) for r in np.round(np.linspace(*radii, len(breaks)), 1))
        elif radii is not None:
            rr = (float(radii[1]),)
        return cls(prop=prop, breaks=tuple(breaks), colors=colors, radii=rr, integer=integer)

    def index(self, value: float | None) -> int:
        """Class index of ``value`` (0 for missing values)."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return 0
        return max(0, int(np.searchsorted(self.breaks, value, side="right")) - 1)

    def color(self, value: float | None) -> str:
        """Colour of the class of ``value``."""
        return self.colors[self.index(value)]

    def radius(self, value: float | None, default: float = 6.0) -> float:
        """Circle radius of the class of ``value`` (``default`` without radii)."""
        return default if self.radii is None else self.radii[self.index(value)]

    def label(self, i: int) -> tuple[str, dict[str, object]]:
        """(i18n key, fields) of the legend label of class ``i``."""
        lo = self.breaks[i]
        fmt = (lambda x: f"{int(x):,}") if self.integer else (lambda x: f"{x:g}")
        if i + 1 < len(self.breaks):
            hi = self.breaks[i + 1] - 1 if self.integer else self.breaks[i + 1]
            if self.integer and hi <= lo:
                return "legend.single", {"lo": fmt(lo)}
            key = "legend.range" if self.integer else "legend.class_range"
            return key, {"lo": fmt(lo), "hi": fmt(hi)}
        return ("legend.atleast" if self.integer else "legend.class_atleast"), {"lo": fmt(lo)}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JavaScript (``prop``, ``breaks``, ``colors``, ``radii``)."""
        return {"prop": self.prop, "breaks": list(self.breaks), "colors": list(self.colors),
                "radii": list(self.radii) if self.radii else None}


@dataclass(frozen=True)
class Style:
    """Path style of a layer (Leaflet path options), optionally classed by a property."""

    color: str = "#3388ff"
    """Stroke colour."""
    weight: float = 1.0
    """Stroke width, pixels."""
    opacity: float = 1.0
    """Stroke opacity."""
    fill: bool = True
    fill_color: str | None = None
    """Fill colour (stroke colour when None)."""
    fill_opacity: float = 0.2
    dash_array: str | None = None
    """SVG dash pattern, e.g. ``"4 4"``."""
    radius: float = 6.0
    """Circle radius (pixels) of point layers."""
    classes: Classes | None = None
    """Fill colour (and radius) from a property."""

    def to_leaflet(self) -> dict[str, Any]:
        """Leaflet path options (camelCase) of the unclassed style."""
        out: dict[str, Any] = {"color": self.color, "weight": self.weight,
                               "opacity": self.opacity, "fill": self.fill,
                               "fillColor": self.fill_color or self.color,
                               "fillOpacity": self.fill_opacity}
        if self.dash_array:
            out["dashArray"] = self.dash_array
        return out

    def hover(self) -> dict[str, Any]:
        """Leaflet path options applied while the mouse is over a feature."""
        out: dict[str, Any] = {"weight": self.weight + 1.5, "color": HOVER_COLOR, "opacity": 1.0}
        if self.fill:
            out["fillOpacity"] = min(1.0, self.fill_opacity + 0.2)
        if self.dash_array:
            out["dashArray"] = ""
        return out

    def for_feature(self, properties: dict[str, Any]) -> dict[str, Any]:
        """Leaflet path options of one feature (classes applied); ``radius`` for points."""
        out = self.to_leaflet()
        out["radius"] = self.radius
        if self.classes is not None:
            v = properties.get(self.classes.prop)
            out["fillColor"] = self.classes.color(v)
            out["radius"] = self.classes.radius(v, self.radius)
        return out


@dataclass(frozen=True)
class LegendEntry:
    """One legend row: a swatch and the i18n key (and fields) of its label."""

    color: str
    label: str
    fields: dict[str, object] = field(default_factory=dict)
    shape: Shape = "fill"
    size: float = 10.0
    """Swatch size in pixels (circle diameter for ``circle``)."""
    stroke: str | None = None
    """Outline colour of the swatch (``color`` when None)."""

    def text(self, lang: str = "zh") -> str:
        """The label in ``lang``."""
        return t(self.label, lang, **self.fields)


def legend_for_classes(classes: Classes, shape: Shape = "circle",
                       stroke: str | None = None) -> tuple[LegendEntry, ...]:
    """One legend entry per class of ``classes`` (swatch size follows the radii)."""
    out = []
    for i, c in enumerate(classes.colors):
        key, fields = classes.label(i)
        size = 2 * classes.radii[i] if classes.radii else 12.0
        out.append(LegendEntry(color=c, label=key, fields=fields, shape=shape, size=size,
                               stroke=stroke))
    return tuple(out)


@dataclass
class Layer:
    """A map layer: data + style + legend + hover fields, the one definition per layer.

    Parameters
    ----------
    id : str
        Stable identifier (``villages``, ``groups``, ``incidents`` …), used in component ids.
    title : str
        i18n key of the layer name.
    kind : {"polygons", "points", "aggregates"}
        Geometry kind; ``aggregates`` are points standing for counts of a grid.
    data : dict
        GeoJSON FeatureCollection in WGS84 lon/lat.
    style : Style
        How features are drawn.
    legend : tuple of LegendEntry
        Legend rows of this layer.
    tooltip : tuple of (str, str)
        (property, i18n label key) shown on hover; the ``name_prop`` value comes first.
    popup : tuple of (str, str)
        (property, i18n label key) shown on click (empty: no popup).
    name_prop : str or None
        Property holding the feature's name (bold first line of the tooltip).
    min_zoom, max_zoom : float or None
        Zoom range where the layer is shown, both ends included (None: no limit).
    checked : bool
        Shown initially (the layer control can switch it).
    interactive : bool
        Receives the mouse (tooltips); outlines drawn over other layers should not.
    label_prop : str or None
        For point layers: draw each point as a text label of this property (place names).
    """

    id: str
    title: str
    kind: Kind
    data: dict[str, Any]
    style: Style
    legend: tuple[LegendEntry, ...] = ()
    tooltip: tuple[tuple[str, str], ...] = ()
    popup: tuple[tuple[str, str], ...] = ()
    name_prop: str | None = "name"
    min_zoom: float | None = None
    max_zoom: float | None = None
    checked: bool = True
    interactive: bool = True
    label_prop: str | None = None

    @property
    def n_features(self) -> int:
        """Number of features."""
        return len(self.data.get("features", ()))

    def to_json(self) -> str:
        """The GeoJSON as compact JSON text (what a browser downloads)."""
        return geojson_text(self.data)

    @property
    def nbytes(self) -> int:
        """Size of :meth:`to_json` in UTF-8 bytes."""
        return geojson_bytes(self.data)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """(min lon, min lat, max lon, max lat) of the data, None when empty."""
        b = self.data.get("bbox")
        return tuple(b) if b else None  # type: ignore[return-value]

    def title_text(self, lang: str = "zh") -> str:
        """The layer name in ``lang``."""
        return t(self.title, lang)


def geojson_text(fc: dict[str, Any]) -> str:
    """Compact JSON text of a GeoJSON object."""
    return json.dumps(fc, ensure_ascii=False, separators=(",", ":"))


def geojson_bytes(fc: dict[str, Any]) -> int:
    """Size of :func:`geojson_text` in UTF-8 bytes."""
    return len(geojson_text(fc).encode("utf-8"))


def union_bounds(layers: Sequence[Layer]) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of all layers' data, None when all are empty."""
    bs = [lyr.bounds for lyr in layers if lyr.bounds]
    if not bs:
        return None
    return (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs),
            max(b[3] for b in bs))
