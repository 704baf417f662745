"""Police posts and their response rings (5 km / 10 minutes, 10 km / 20 minutes).

Rings come from :func:`gis.analytics.rings.response_rings` (buffers dissolved per radius);
colours are from the Okabe-Ito palette, distinguishable with every common colour-vision
deficiency, and the legend names each ring by distance and response time.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from layers.base import Classes, Layer, LegendEntry, Style
from layers.grids import feature_collection

POST_FILL = "#ffffff"
POST_STROKE = "#0072b2"
RING_COLORS: tuple[str, ...] = ("#009e73", "#56b4e9")
"""Okabe-Ito bluish green (inner ring) and sky blue (outer ring)."""
RING_STROKE = "#56b4e9"

POST_STYLE = Style(color=POST_STROKE, weight=2.5, opacity=1.0, fill=True, fill_color=POST_FILL,
                   fill_opacity=1.0, radius=6.0)


def post_layer(posts: gpd.GeoDataFrame, *, layer_id: str = "posts",
               title: str = "layer.posts") -> Layer:
    """Police stations / offices as points (``code``, ``name``; EPSG:4490)."""
    fc = feature_collection(posts, ["code", "name"])
    return Layer(id=layer_id, title=title, kind="points", data=fc, style=POST_STYLE,
                 legend=(LegendEntry(POST_FILL, "legend.post", shape="circle", size=12,
                                     stroke=POST_STROKE),),
                 tooltip=(("code", "field.code"),))


def ring_layer(rings: gpd.GeoDataFrame, *, layer_id: str = "rings",
               title: str = "layer.rings") -> Layer:
    """Dissolved response rings, one feature per radius, outer first (inner ones draw on
    top): the frame of :func:`gis.analytics.rings.response_rings` (``radius_m``,
    ``minutes``, geometry in EPSG:4490)."""
    g = rings.sort_values("radius_m", ascending=False).reset_index(drop=True)
    g = g.assign(km=(g["radius_m"] / 1000.0).round(1))
    radii = sorted(float(r) for r in g["radius_m"])
    colors = tuple((RING_COLORS * len(radii))[:len(radii)])
    cls = Classes(prop="radius_m", breaks=tuple(radii), colors=colors, integer=False)
    style = Style(color=RING_STROKE, weight=1.5, opacity=0.9, fill=True, fill_opacity=0.14,
                  dash_array="6 4", classes=cls)
    legend = []
    for r, c in zip(radii, colors, strict=True):
        minutes = g.loc[g["radius_m"] == r, "minutes"].iloc[0] if "minutes" in g else None
        fields = {"km": f"{r / 1000:g}",
                  "min": "—" if minutes is None or pd.isna(minutes) else f"{float(minutes):g}"}
        legend.append(LegendEntry(c, "legend.ring", fields, shape="fill", stroke=RING_STROKE,
                                  size=14))
    props = [p for p in ("radius_m", "minutes", "km") if p in g.columns]
    return Layer(id=layer_id, title=title, kind="polygons", data=feature_collection(g, props),
                 style=style, legend=tuple(legend), interactive=False, tooltip=(),
                 name_prop=None)
