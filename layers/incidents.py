"""Incident layer: counts aggregated per grid, one point per grid (never raw incidents).

Each grid with at least one incident gets a point at its representative point (always inside
the grid) carrying the count; circles are sized and coloured by count classes with "nice"
breaks and a colour-blind-safe palette, and the legend lists the classes.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.base import Classes, Layer, Style, legend_for_classes
from layers.grids import feature_collection

INCIDENT_PALETTE = "YlOrRd"
"""ColorBrewer YlOrRd: sequential, colour-blind safe, readable on the dark map."""
INCIDENT_RADII: tuple[float, float] = (2.5, 9.0)
"""Smallest and largest circle radius, pixels."""
INCIDENT_CLASSES = 5
"""Most count classes."""
INCIDENT_STROKE = "#2a0d05"


def incident_points(grids: gpd.GeoDataFrame, counts: pd.DataFrame,
                    village_names: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    """One point per grid with incidents: code, name, village, n; sorted by ascending n.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids (code, name, parent_code, geometry), EPSG:4490.
    counts : DataFrame
        Columns ``code`` and ``n`` as returned by
        :func:`gis.incidents.queries.counts_per_grid`.
    village_names : mapping, optional
        Village code → name (the ``parent_code`` of group grids).
    """
    n = counts.set_index("code")["n"] if len(counts) else pd.Series(dtype="int64")
    g = grids.assign(n=grids["code"].map(n).fillna(0).astype("int64"))
    g = g[g["n"] > 0]
    pts = shapely.point_on_surface(np.asarray(g.geometry.values))
    out = gpd.GeoDataFrame({"code": g["code"].to_numpy(), "name": g["name"].to_numpy(),
                            "n": g["n"].to_numpy()}, geometry=pts, crs=grids.crs)
    if village_names is not None and "parent_code" in g.columns:
        out["village"] = g["parent_code"].map(dict(village_names)).to_numpy()
    return out.sort_values(["n", "code"], kind="stable").reset_index(drop=True)


def incident_layer(grids: gpd.GeoDataFrame, counts: pd.DataFrame, *,
                   village_names: Mapping[str, str] | None = None,
                   layer_id: str = "incidents", title: str = "layer.incidents",
                   classes: int = INCIDENT_CLASSES, palette: str = INCIDENT_PALETTE,
                   radii: tuple[float, float] = INCIDENT_RADII) -> Layer:
    """Aggregate layer of incident counts per grid.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids of one level (group grids for the home map), EPSG:4490.
    counts : DataFrame
        ``code``, ``n`` per grid (grids without incidents may be absent).
    village_names : mapping, optional
        Village code → name, shown on hover for group grids.
    layer_id, title : str
        Layer id and i18n key of its name.
    classes : int
        Most count classes.
    palette : str
        Name of a palette of :data:`layers.base.PALETTES`.
    radii : (float, float)
        Smallest and largest circle radius, pixels.
    """
    pts = incident_points(grids, counts, village_names)
    cls = Classes.from_values("n", pts["n"].tolist(), k=classes, palette=palette, radii=radii)
    style = Style(color=INCIDENT_STROKE, weight=0.8, opacity=0.9, fill=True,
                  fill_opacity=0.88, radius=radii[0], classes=cls)
    tooltip = (("village", "field.village"), ("n", "field.n")) if "village" in pts.columns \
        else (("n", "field.n"),)
    return Layer(id=layer_id, title=title, kind="aggregates",
                 data=feature_collection(pts, ["code", "name", "village", "n"]),
                 style=style, legend=legend_for_classes(cls, shape="circle",
                                                        stroke=INCIDENT_STROKE),
                 tooltip=tooltip)
