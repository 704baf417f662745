"""Thematic colourings of grids whose values change while the geometry stays: incident
density and 一村一警一连 coverage, plus camera counts per grid.

A theme is a :class:`layers.base.Classes` (breaks and colour-blind-safe colours) with its
legend rows, applied to a grid layer whose features carry a ``code``: the wall display sends
the values (code → number) and restyles the grids it has already downloaded, and
:func:`theme_layer` bakes the values into a :class:`layers.base.Layer` for the other
renderers (folium). Counts of cameras are aggregated per grid (a point per grid), never sent
as raw points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import pandas as pd

from layers.base import Classes, Layer, LegendEntry, Style, legend_for_classes
from layers.grids import VILLAGE_COLOR, VILLAGE_FILL, feature_collection
from layers.incidents import incident_points

DENSITY_PALETTE = "YlOrRd"
"""ColorBrewer YlOrRd (sequential, colour-blind safe), as the incident circles."""
DENSITY_CLASSES = 5

COVERAGE_OK, COVERAGE_NO_MILITIA, COVERAGE_NO_OFFICER, COVERAGE_NONE = 0, 1, 2, 3
"""Coverage class of a village: officer and militia company, no militia, no officer, neither."""
COVERAGE_COLORS: tuple[str, ...] = (VILLAGE_FILL, "#56b4e9", "#e69f00", "#cc79a7")
"""Okabe-Ito: covered (plain grid fill), no militia (sky blue), no officer (orange), neither
(reddish purple)."""
COVERAGE_KEYS: tuple[str, ...] = ("legend.cov_ok", "legend.cov_no_militia",
                                  "legend.cov_no_officer", "legend.cov_none")

CAMERA_PALETTE: tuple[str, ...] = ("#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
"""ColorBrewer Blues (colour-blind safe), light → dark."""
CAMERA_RADII: tuple[float, float] = (4.0, 11.0)
CAMERA_STROKE = "#e8f4ff"

THEME_STYLE = Style(color=VILLAGE_COLOR, weight=0.8, opacity=0.85, fill=True,
                    fill_color=VILLAGE_FILL, fill_opacity=0.72)
"""Outline and opacity of a themed grid (the fill comes from the theme's classes)."""


def density_classes(values: Iterable[float], k: int = DENSITY_CLASSES) -> Classes:
    """Count classes ("nice" 1-2-5 breaks) of incidents per grid."""
    return Classes.from_values("n", [v for v in values if v], k=k, palette=DENSITY_PALETTE)


def density_legend(classes: Classes) -> tuple[LegendEntry, ...]:
    """One legend row per count class (filled squares)."""
    return legend_for_classes(classes, shape="fill", stroke=VILLAGE_COLOR)


def coverage_values(village_codes: Iterable[str], officer_villages: Iterable[str],
                    militia_villages: Iterable[str]) -> dict[str, int]:
    """Village code → coverage class (:data:`COVERAGE_OK` … :data:`COVERAGE_NONE`)."""
    officers = {str(c) for c in officer_villages}
    militia = {str(c) for c in militia_villages}
    return {str(c): (0 if str(c) in officers else 2) + (0 if str(c) in militia else 1)
            for c in village_codes}


def coverage_classes(prop: str = "cov") -> Classes:
    """Classes of the coverage value 0 … 3."""
    return Classes(prop=prop, breaks=(0.0, 1.0, 2.0, 3.0), colors=COVERAGE_COLORS)


def coverage_legend(values: Mapping[str, int] | None = None) -> tuple[LegendEntry, ...]:
    """Legend rows, gaps first, each with its number of villages (``n``)."""
    counts = pd.Series(list((values or {}).values()), dtype="int64").value_counts()
    return tuple(LegendEntry(COVERAGE_COLORS[k], COVERAGE_KEYS[k], {"n": int(counts.get(k, 0))},
                             shape="fill", stroke=VILLAGE_COLOR, size=14)
                 for k in (COVERAGE_NONE, COVERAGE_NO_OFFICER, COVERAGE_NO_MILITIA, COVERAGE_OK))


def theme_layer(grids: gpd.GeoDataFrame, values: Mapping[str, float], classes: Classes,
                legend: tuple[LegendEntry, ...], *, layer_id: str, title: str) -> Layer:
    """A grid layer with the theme's values baked in as property ``classes.prop`` (grids
    without a value get none and draw in the lowest class)."""
    g = grids.assign(**{classes.prop: grids["code"].astype(str).map(dict(values))})
    style = Style(color=THEME_STYLE.color, weight=THEME_STYLE.weight,
                  opacity=THEME_STYLE.opacity, fill=True, fill_opacity=THEME_STYLE.fill_opacity,
                  classes=classes)
    return Layer(id=layer_id, title=title, kind="polygons",
                 data=feature_collection(g, ["code", "name", classes.prop]), style=style,
                 legend=legend, tooltip=((classes.prop, "field.value"),))


def camera_legend(classes: Classes) -> tuple[LegendEntry, ...]:
    """Legend rows of camera count classes ("cameras", not "incidents")."""
    keys = {"legend.range": "legend.cam_range", "legend.single": "legend.cam_single",
            "legend.atleast": "legend.cam_atleast"}
    return tuple(LegendEntry(e.color, keys.get(e.label, e.label), e.fields, shape="circle",
                             size=e.size, stroke=CAMERA_STROKE)
                 for e in legend_for_classes(classes, shape="circle", stroke=CAMERA_STROKE))


def camera_layer(grids: gpd.GeoDataFrame, counts: pd.DataFrame, *,
                 layer_id: str = "cameras", title: str = "layer.camera_counts") -> Layer:
    """Cameras aggregated per grid: one circle per grid with cameras, sized and coloured by
    the count (``counts``: columns ``code``, ``n``)."""
    pts = incident_points(grids, counts)
    cls = Classes.from_values("n", pts["n"].tolist(), k=len(CAMERA_PALETTE),
                              palette=CAMERA_PALETTE, radii=CAMERA_RADII)
    style = Style(color=CAMERA_STROKE, weight=1.0, opacity=0.9, fill=True, fill_opacity=0.9,
                  radius=CAMERA_RADII[0], classes=cls)
    return Layer(id=layer_id, title=title, kind="aggregates",
                 data=feature_collection(pts, ["code", "name", "n"]), style=style,
                 legend=camera_legend(cls), tooltip=(("n", "field.camera_n"),))
