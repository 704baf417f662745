"""Map layers of the review, built from :mod:`layers` definitions (one definition, rendered by
dash-leaflet on the page and by folium in the briefing).

* Gi* classes of the period (:func:`layers.hotspots.hotspot_layer`).
* Emerging hot-spot patterns (:func:`layers.themes.theme_layer` with a class per pattern).
* Response rings, 10 / 20-minute road isochrones (:func:`layers.reach.isochrone_layer`, when
  the county has a road network) and police posts (:mod:`layers.rings`) over the area's
  villages.
* 一村一警一连 status of the villages (:func:`layers.forces.coverage_layer`).
* Patrols of the period's last week: key road sections by the week's compliance and the
  week's tracks, day and night (:mod:`layers.patrols`), read from the store when drawn.

Grids are cut to the area and simplified for display (shared edges once, in metres).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

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


def _near(frame: gpd.GeoDataFrame, bounds: np.ndarray, margin: float = 0.25
          ) -> gpd.GeoDataFrame:
    """Rows of ``frame`` that reach into ``bounds`` (min x, min y, max x, max y) grown by
    ``margin`` of its size on each side (what a map fitted to ``bounds`` can show)."""
    if not len(frame) or not np.all(np.isfinite(bounds)):
        return frame
    dx, dy = (bounds[2] - bounds[0]) * margin, (bounds[3] - bounds[1]) * margin
    return frame.cx[bounds[0] - dx:bounds[2] + dx, bounds[1] - dy:bounds[3] + dy]


def isochrone_layer(b: Briefing, bounds: np.ndarray | None = None) -> Layer | None:
    """The posts' 10 / 20-minute road isochrones (each post's catchment, as bands: the
    20-minute colour shows beyond the 10-minute one; post, minutes and area on hover and
    click) near ``bounds``; None without a road network."""
    from layers.reach import isochrone_layer as iso_layer

    iso = b.standards.isochrones
    if iso is None or not iso.available:
        return None
    whole = bounds is None or b.area.level == "county"
    key = ("isochrone-layer", id(iso), "all" if whole else b.area.code)
    if key not in b.base.cache:  # kept with the base (the isochrones depend on the version)
        frame = iso.per_post if whole else _near(iso.per_post, bounds)
        b.base.cache[key] = iso_layer(frame, layer_id="review-isochrones", bands=True) \
            if len(frame) else None
    return b.base.cache[key]


def reach_layers(b: Briefing) -> tuple[list[Layer], list[Layer]]:
    """(layers, layers to fit the view to): road isochrones, rings and posts over the area's
    villages."""
    from gis.analytics.rings import response_rings
    from layers.rings import post_layer, ring_layer

    v = simplified(area_grids(b.base, b.area, 1), 1)
    villages = village_layer(v)
    out: list[Layer] = [villages]
    iso = isochrone_layer(b, v.total_bounds if len(v) else None)
    if iso is not None:
        out.append(iso)
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


def last_week(b: Briefing) -> str:
    """ISO week (``YYYY-Www``) of the period's last week."""
    return f"{b.period.year}-W{b.period.week:02d}"


def patrol_line_layers(b: Briefing, engine: Engine | None) -> list[Layer]:
    """Key road sections that met / missed the weekly minimum in the period's last week and
    that week's tracks (day, night) in the area, bottom to top (:mod:`layers.patrols`).
    Empty without a store to read from (``engine``) or without any section or track."""
    from gis.patrols import compliance_frame, parse_week, patrols_frame
    from layers.patrols import key_section_layers, track_layers

    if engine is None:
        return []
    week = last_week(b)
    start, end = parse_week(week)
    with engine.connect() as conn:
        table = compliance_frame(conn, b.base.adcode, week)
        tracks = patrols_frame(conn, b.base.adcode, since=start, until=end)
    if len(tracks):  # the patrols of the week are those that start in it
        t0 = pd.to_datetime(tracks["started_at"], utc=True)
        tracks = tracks[(t0 >= start) & (t0 < end)]
    if b.area.level != "county":
        table = table[table["village_code"].astype(str).str.startswith(b.area.code)]
        tracks = tracks[tracks["village_code"].astype(str).str.startswith(b.area.code)]
    if not (table["kind"] == "section").any() and not len(tracks):
        return []
    names = dict(zip(b.base.villages["code"], b.base.villages["name"], strict=True))
    return [*key_section_layers(table, layer_id="review-key-sections"),
            *track_layers(tracks.reset_index(drop=True), village_names=names,
                          layer_id="review-patrol-tracks")]


def patrol_layers(b: Briefing, engine: Engine | None) -> tuple[list[Layer], list[Layer]]:
    """(layers, layers to fit the view to) of the patrol map: the area's villages, outlines,
    then :func:`patrol_line_layers` on top; empty when there are no lines."""
    lines = patrol_line_layers(b, engine)
    if not lines:
        return [], []
    villages = village_layer(simplified(area_grids(b.base, b.area, 1), 1))
    return [villages, *outline_layers(b), *lines], [villages]
