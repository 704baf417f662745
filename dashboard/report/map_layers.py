"""Map layers of the review, built from :mod:`layers` definitions (one definition, rendered by
dash-leaflet on the page and by folium in the briefing).

* Gi* classes of the period (:func:`layers.hotspots.hotspot_layer`).
* Emerging hot-spot patterns (:func:`layers.themes.theme_layer` with a class per pattern).
* Response rings and police posts (:mod:`layers.rings`) over the area's villages.
* 一村一警一连 status of the villages (:func:`layers.forces.coverage_layer`).

Grids are cut to the area and simplified for display (shared edges once, in metres).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from dashboard.report.briefing import Briefing
from dashboard.review_data import area_grids
from layers.base import Classes, Layer, LegendEntry
from layers.grids import (
    GROUP_TOLERANCE_M,
    VILLAGE_COLOR,
    VILLAGE_FILL,
    VILLAGE_TOLERANCE_M,
    county_layer,
    simplify_coverage,
    township_layer,
    village_layer,
)
from layers.hotspots import hotspot_layer
from layers.themes import THEME_STYLE, theme_layer

PATTERN_COLORS: dict[str, str] = {
    "new_hot": "#fee08b", "consecutive_hot": "#fdae61", "intensifying_hot": "#d73027",
    "persistent_hot": "#a50026", "diminishing_hot": "#f46d43", "sporadic_hot": "#e7298a",
    "oscillating_hot": "#9e0142", "historical_hot": "#bf812d",
    "new_cold": "#e0f3f8", "consecutive_cold": "#abd9e9", "intensifying_cold": "#4575b4",
    "persistent_cold": "#313695", "diminishing_cold": "#74add1", "sporadic_cold": "#8073ac",
    "oscillating_cold": "#542788", "historical_cold": "#80cdc1",
}
"""Colour of each emerging pattern: hot ones warm (yellow → dark red, magenta for the
unsteady ones), cold ones cool; grids with no pattern keep the plain grid fill."""


def simplified(grids: gpd.GeoDataFrame, level: int) -> gpd.GeoDataFrame:
    """``grids`` with display geometries (shared edges simplified once)."""
    if not len(grids):
        return grids
    tol = VILLAGE_TOLERANCE_M if level == 1 else GROUP_TOLERANCE_M
    geoms = simplify_coverage(grids.geometry.values, tol)
    return grids.set_geometry(gpd.GeoSeries(geoms, index=grids.index, crs=grids.crs))


def outline_layers(b: Briefing) -> list[Layer]:
    """Outlines drawn over every map: the county, and the townships or villages of the area
    (the parts of the drill-down)."""
    base, area = b.base, b.area
    out: list[Layer] = []
    if area.level == "county":
        out.append(township_layer(base.townships))
        out.append(county_layer(base.county if len(base.county) and
                                base.county.geometry.notna().all() else
                                base.townships.dissolve().assign(code=base.adcode,
                                                                 name=base.county_name)))
    else:
        t = base.townships[base.townships["code"] == (area.code[:9])]
        out.append(township_layer(t))
    return out


def _parts_outline(b: Briefing) -> Layer | None:
    if b.area.level == "county":
        return None
    v = area_grids(b.base, b.area, 1)
    lyr = village_layer(simplified(v, 1))
    lyr.style = type(lyr.style)(color=VILLAGE_COLOR, weight=1.6, opacity=0.95, fill=False)
    lyr.interactive = False
    lyr.id, lyr.checked = "area-villages", True
    return lyr


def hotspot_layers(b: Briefing) -> list[Layer]:
    """Gi* classes of the area's grids, under the outlines."""
    g = simplified(b.hot.grids, b.hot.level)
    lyr = hotspot_layer(g, g["gi_bin"].to_numpy(), layer_id="review-hotspots",
                        title="review.layer.hotspots")
    extra = _parts_outline(b)
    return [lyr, *([extra] if extra else []), *outline_layers(b)]


def pattern_layer(b: Briefing) -> Layer:
    """Emerging patterns of the area's grids (one class per pattern present)."""
    g = simplified(b.hot.grids, b.hot.level)
    present = [k for k in PATTERN_COLORS if (g["pattern"] == k).any()]
    values = {c: present.index(p) + 1 for c, p in zip(g["code"], g["pattern"], strict=True)
              if p in present}
    classes = Classes(prop="pattern_class", breaks=tuple(float(i) for i in
                                                          range(len(present) + 1)),
                      colors=(VILLAGE_FILL, *(PATTERN_COLORS[k] for k in present)))
    legend = tuple(LegendEntry(PATTERN_COLORS[k], f"review.pattern.{k}", shape="fill",
                               stroke=VILLAGE_COLOR, size=14) for k in present) + (
        LegendEntry(VILLAGE_FILL, "review.pattern.no_pattern", shape="fill",
                    stroke=VILLAGE_COLOR, size=14),)
    lyr = theme_layer(g, values, classes, legend, layer_id="review-patterns",
                      title="review.layer.patterns")
    lyr.style = type(lyr.style)(color=THEME_STYLE.color, weight=THEME_STYLE.weight,
                                opacity=THEME_STYLE.opacity, fill=True, fill_opacity=0.8,
                                classes=classes)
    return lyr


def pattern_layers(b: Briefing) -> list[Layer]:
    """Emerging-pattern map: patterns under the outlines."""
    extra = _parts_outline(b)
    return [pattern_layer(b), *([extra] if extra else []), *outline_layers(b)]


def reach_layers(b: Briefing) -> tuple[list[Layer], list[Layer]]:
    """(layers, layers to fit the view to): rings and posts over the area's villages."""
    from gis.analytics.rings import response_rings
    from layers.rings import post_layer, ring_layer

    v = simplified(area_grids(b.base, b.area, 1), 1)
    villages = village_layer(v)
    out: list[Layer] = [villages]
    if len(b.base.posts):
        out.append(ring_layer(response_rings(b.base.posts)))
    out += outline_layers(b)
    if len(b.base.posts):
        out.append(post_layer(b.base.posts))
    return out, [villages]


def coverage_layers(b: Briefing) -> list[Layer]:
    """一村一警一连 status of the area's villages, posts on top."""
    from layers.forces import coverage_layer, posts_layer

    cov = b.coverage.villages
    layers: list[Layer] = [coverage_layer(cov), *outline_layers(b)]
    if len(b.base.posts):
        bx = cov.total_bounds if len(cov) else None
        p = b.base.posts
        if bx is not None and np.all(np.isfinite(bx)):
            p = p.cx[bx[0]:bx[2], bx[1]:bx[3]]
        if len(p):
            layers.append(posts_layer(p))
    return layers
