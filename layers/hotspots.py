"""Gi* hot spot layer: grids coloured by their hot / cold class (colour-blind-safe RdBu).

The class of a grid is its ``gi_bin`` (−k … +k for k confidence levels, as ArcGIS's
``Gi_Bin``): +k hot at the highest confidence, −k cold at the highest, 0 not significant.
Colours come from ColorBrewer's diverging RdBu scheme, marked colour-blind safe: reds for hot,
blues for cold, the plain grid fill for "not significant". The legend lists the classes from
the hottest to the coldest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np

from gis import settings
from layers.base import Classes, Layer, LegendEntry, Style
from layers.grids import VILLAGE_COLOR, VILLAGE_FILL, feature_collection

HOT_COLORS: tuple[str, ...] = ("#f4a582", "#d6604d", "#b2182b")
"""RdBu reds, weakest → strongest confidence."""
COLD_COLORS: tuple[str, ...] = ("#92c5de", "#4393c3", "#2166ac")
"""RdBu blues, weakest → strongest confidence."""
NONE_COLOR = VILLAGE_FILL
"""Fill of grids that are neither hot nor cold."""
HOTSPOT_STYLE_BASE = Style(color=VILLAGE_COLOR, weight=0.8, opacity=0.8, fill=True,
                           fill_color=NONE_COLOR, fill_opacity=0.72)


def _levels(levels: Sequence[float] | None) -> list[float]:
    lv = sorted(settings.HOTSPOT_CONFIDENCE_LEVELS if levels is None else levels)
    if not 1 <= len(lv) <= len(HOT_COLORS):
        msg = f"hot spot layer: 1 to {len(HOT_COLORS)} confidence levels, got {lv}"
        raise ValueError(msg)
    return lv


def hotspot_classes(levels: Sequence[float] | None = None, prop: str = "gi_bin") -> Classes:
    """Classes of ``gi_bin`` values −k … +k (k = number of confidence levels)."""
    k = len(_levels(levels))
    colors = (*COLD_COLORS[:k][::-1], NONE_COLOR, *HOT_COLORS[len(HOT_COLORS) - k:])
    return Classes(prop=prop, breaks=tuple(float(b) for b in range(-k, k + 1)), colors=colors)


def hotspot_legend(levels: Sequence[float] | None = None) -> tuple[LegendEntry, ...]:
    """Legend rows from the hottest class to the coldest."""
    lv = _levels(levels)
    cls = hotspot_classes(lv)
    k = len(lv)
    out = []
    for b in range(k, -k - 1, -1):
        color = cls.colors[b + k]
        if b == 0:
            out.append(LegendEntry(color, "legend.not_significant", shape="fill",
                                   stroke=VILLAGE_COLOR, size=14))
        else:
            c = round(lv[abs(b) - 1] * 100)
            out.append(LegendEntry(color, "legend.hot" if b > 0 else "legend.cold",
                                   {"c": c}, shape="fill", stroke=VILLAGE_COLOR, size=14))
    return tuple(out)


def hotspot_values(codes: Sequence[str], bins: Sequence[int]) -> dict[str, int]:
    """Grid code → ``gi_bin``, only the significant grids (the others draw as "none")."""
    return {str(c): int(b) for c, b in zip(codes, bins, strict=True) if int(b) != 0}


def hotspot_layer(grids: gpd.GeoDataFrame, bins: Mapping[str, int] | Sequence[int], *,
                  layer_id: str = "hotspots", title: str = "layer.hotspots",
                  levels: Sequence[float] | None = None) -> Layer:
    """Layer of grids coloured by Gi* class.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids (code, name, geometry), EPSG:4490, e.g. simplified for display.
    bins : mapping or sequence of int
        ``gi_bin`` per grid code, or one per row of ``grids`` (as returned by
        :func:`gis.analytics.hotspots.gi_star`); missing codes are not significant.
    """
    g = grids.copy()
    if isinstance(bins, Mapping):
        g["gi_bin"] = g["code"].map(dict(bins)).fillna(0).astype(int)
    else:
        g["gi_bin"] = np.asarray(bins, dtype=int)
    style = Style(color=HOTSPOT_STYLE_BASE.color, weight=HOTSPOT_STYLE_BASE.weight,
                  opacity=HOTSPOT_STYLE_BASE.opacity, fill=True,
                  fill_opacity=HOTSPOT_STYLE_BASE.fill_opacity,
                  classes=hotspot_classes(levels))
    return Layer(id=layer_id, title=title, kind="polygons",
                 data=feature_collection(g, ["code", "name", "gi_bin"]), style=style,
                 legend=hotspot_legend(levels), tooltip=(("gi_bin", "field.gi_bin"),))
