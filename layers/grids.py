"""Grid layers (village = level 1, group = level 2) and county / township outlines.

Geometries are simplified for display with :func:`shapely.coverage_simplify` in the metric
(UTM) CRS of the territory: every shared edge is simplified once, so neighbours stay
edge-matched (no slivers, no gaps between grids on screen). A byte budget can be given; the
tolerance then grows until the layer's GeoJSON fits.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gis.crs import to_metric
from layers.base import PRECISION, Layer, LegendEntry, Style, geojson_bytes

log = logging.getLogger(__name__)

VILLAGE_TOLERANCE_M = 60.0
"""Default simplification tolerance of village grids (about half a pixel at zoom 11)."""
GROUP_TOLERANCE_M = 15.0
"""Default simplification tolerance of group grids (shown from zoom :data:`GROUP_MIN_ZOOM`)."""
OUTLINE_TOLERANCE_M = 60.0
"""Default simplification tolerance of county / township outlines."""
GROUP_MIN_ZOOM = 12
"""Group grids are shown from this zoom level on."""
MAX_TOLERANCE_STEPS = 8
"""Most times the tolerance is raised (×1.6) to meet a byte budget."""

# command-centre palette (dark background)
COUNTY_COLOR = "#7fe3ff"
TOWNSHIP_COLOR = "#9bb7d4"
VILLAGE_COLOR = "#3fb6e8"
VILLAGE_FILL = "#0f3a5e"
GROUP_COLOR = "#5f8fb0"

VILLAGE_STYLE = Style(color=VILLAGE_COLOR, weight=1.0, opacity=0.9, fill=True,
                      fill_color=VILLAGE_FILL, fill_opacity=0.35)
GROUP_STYLE = Style(color=GROUP_COLOR, weight=0.7, opacity=0.85, fill=True,
                    fill_color=GROUP_COLOR, fill_opacity=0.0, dash_array="3 3")
TOWNSHIP_STYLE = Style(color=TOWNSHIP_COLOR, weight=1.8, opacity=0.95, fill=False,
                       dash_array="8 4 2 4")
COUNTY_STYLE = Style(color=COUNTY_COLOR, weight=3.0, opacity=1.0, fill=False)

VILLAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("township", "field.township"), ("code", "field.code"), ("population", "field.population"),
    ("households", "field.households"), ("groups", "field.groups"),
    ("area_km2", "field.area_km2"), ("worker", "field.worker"))
GROUP_FIELDS: tuple[tuple[str, str], ...] = (
    ("village", "field.village"), ("code", "field.code"), ("population", "field.population"),
    ("households", "field.households"), ("worker", "field.worker"))


def _clean(v: Any) -> Any:
    """A JSON-safe scalar (numpy → Python, NaN / NA → None)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return None if not math.isfinite(v) else round(v, 3)
    return v


def round_geometries(geoms: Any, precision: int = PRECISION) -> np.ndarray:
    """Geometries with coordinates rounded to ``precision`` decimals, repeats removed."""
    arr = np.asarray(geoms, dtype=object)
    rounded = shapely.transform(arr, lambda a: np.round(a, precision))
    return shapely.remove_repeated_points(rounded)


def feature_collection(gdf: gpd.GeoDataFrame, properties: Sequence[str],
                       precision: int = PRECISION) -> dict[str, Any]:
    """GeoJSON FeatureCollection of ``gdf`` (EPSG:4490 / 4326) with some properties.

    Coordinates are rounded to ``precision`` decimals; a ``bbox`` member is added.
    Missing property columns are left out.
    """
    geoms = round_geometries(gdf.geometry.values, precision)
    texts = shapely.to_geojson(geoms)
    cols = [p for p in properties if p in gdf.columns]
    values = [gdf[c].tolist() for c in cols]
    feats = []
    for i, txt in enumerate(texts):
        if txt is None:
            continue
        props = {c: _clean(values[k][i]) for k, c in enumerate(cols)}
        feats.append({"type": "Feature", "properties": props, "geometry": json.loads(txt)})
    fc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    ok = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if len(ok):
        fc["bbox"] = [round(float(x), precision) for x in shapely.total_bounds(ok)]
    return fc


def simplify_coverage(geoms: Sequence[object] | np.ndarray, tolerance_m: float,
                      simplify_boundary: bool = True) -> np.ndarray:
    """Simplify a coverage (EPSG:4490 degrees) in its UTM zone; returns degrees again.

    Parameters
    ----------
    geoms : array of shapely polygons
        A coverage: polygons that do not overlap and share edges exactly.
    tolerance_m : float
        Simplification tolerance in metres (0 returns the input unchanged).
    simplify_boundary : bool
        Also simplify the outer boundary of the coverage.

    Returns
    -------
    numpy.ndarray of shapely geometries
        Same order and length as ``geoms``. When the input is not a valid coverage, each
        geometry is simplified on its own instead (topology kept per geometry) and a warning
        is logged.
    """
    arr = np.asarray(geoms, dtype=object)
    if tolerance_m <= 0 or arr.size == 0:
        return arr
    metric, utm = to_metric(arr)
    if shapely.coverage_is_valid(metric):
        simple = shapely.coverage_simplify(metric, tolerance_m,
                                           simplify_boundary=simplify_boundary)
    else:
        log.warning("geometries are not a valid coverage: simplifying one by one")
        simple = shapely.simplify(metric, tolerance_m, preserve_topology=True)
    back = pyproj.Transformer.from_crs(utm, 4326, always_xy=True)
    return shapely.transform(simple, lambda a: np.column_stack(back.transform(a[:, 0], a[:, 1])))


def _fit(gdf: gpd.GeoDataFrame, props: Sequence[str], tolerance_m: float,
         budget_bytes: int | None) -> tuple[dict[str, object], float]:
    """FeatureCollection simplified at ``tolerance_m``, raised until it fits the budget."""
    tol = tolerance_m
    for _ in range(MAX_TOLERANCE_STEPS + 1):
        simple = gdf.set_geometry(gpd.GeoSeries(simplify_coverage(gdf.geometry.values, tol),
                                                index=gdf.index, crs=gdf.crs))
        fc = feature_collection(simple, props)
        if budget_bytes is None or geojson_bytes(fc) <= budget_bytes:
            break
        tol *= 1.6
    else:  # pragma: no cover - budget unreachable: keep the coarsest
        log.warning("layer exceeds its byte budget even at %.0f m tolerance", tol)
    return fc, tol


def _area_km2(gdf: gpd.GeoDataFrame) -> pd.Series:
    if "area_m2" in gdf.columns and gdf["area_m2"].notna().all():
        return (gdf["area_m2"].astype(float) / 1e6).round(2)
    metric, _ = to_metric(gdf.geometry.values) if len(gdf) else (np.array([]), None)
    return pd.Series(np.round(shapely.area(metric) / 1e6, 2), index=gdf.index)


def village_layer(villages: gpd.GeoDataFrame, *, township_names: Mapping[str, str] | None = None,
                  group_counts: Mapping[str, int] | None = None,
                  tolerance_m: float = VILLAGE_TOLERANCE_M,
                  budget_bytes: int | None = None) -> Layer:
    """Layer of level-1 grids (administrative villages).

    Parameters
    ----------
    villages : GeoDataFrame
        Columns of :func:`gis.grids.store.read_grids` (code, name, township_code,
        population, households, area_m2, worker), EPSG:4490.
    township_names : mapping, optional
        Township code → name, shown on hover.
    group_counts : mapping, optional
        Village code → number of group grids.
    tolerance_m : float
        Simplification tolerance, metres.
    budget_bytes : int, optional
        Largest GeoJSON size; the tolerance is raised until the layer fits.
    """
    gdf = villages.copy()
    gdf["area_km2"] = _area_km2(gdf)
    if township_names is not None and "township_code" in gdf.columns:
        gdf["township"] = gdf["township_code"].map(dict(township_names))
    if group_counts is not None:
        gdf["groups"] = gdf["code"].map(dict(group_counts))
    props = ["code", "name"] + [p for p, _ in VILLAGE_FIELDS if p != "code"]
    fc, tol = _fit(gdf, props, tolerance_m, budget_bytes)
    log.debug("village layer: %d features at %.0f m", len(gdf), tol)
    return Layer(id="villages", title="layer.villages", kind="polygons", data=fc,
                 style=VILLAGE_STYLE, tooltip=_present(VILLAGE_FIELDS, gdf),
                 legend=(LegendEntry(VILLAGE_FILL, "legend.village", shape="fill",
                                     stroke=VILLAGE_COLOR, size=14),))


def group_layer(groups: gpd.GeoDataFrame, *, village_names: Mapping[str, str] | None = None,
                tolerance_m: float = GROUP_TOLERANCE_M, budget_bytes: int | None = None,
                min_zoom: float | None = GROUP_MIN_ZOOM) -> Layer:
    """Layer of level-2 grids (natural villages / villager groups).

    Parameters
    ----------
    groups : GeoDataFrame
        Columns of :func:`gis.grids.store.read_grids` (code, name, parent_code, population,
        households, worker), EPSG:4490.
    village_names : mapping, optional
        Village code → name, shown on hover as the group's village.
    tolerance_m : float
        Simplification tolerance, metres.
    budget_bytes : int, optional
        Largest GeoJSON size; the tolerance is raised until the layer fits.
    min_zoom : int, optional
        Show the layer from this zoom on.
    """
    gdf = groups.copy()
    if village_names is not None and "parent_code" in gdf.columns:
        gdf["village"] = gdf["parent_code"].map(dict(village_names))
    props = ["code", "name"] + [p for p, _ in GROUP_FIELDS if p != "code"]
    fc, _ = _fit(gdf, props, tolerance_m, budget_bytes)
    return Layer(id="groups", title="layer.groups", kind="polygons", data=fc,
                 style=GROUP_STYLE, tooltip=_present(GROUP_FIELDS, gdf), min_zoom=min_zoom,
                 legend=(LegendEntry(GROUP_COLOR, "legend.group", shape="dash", size=14),))


def township_layer(townships: gpd.GeoDataFrame, *,
                   tolerance_m: float = OUTLINE_TOLERANCE_M) -> Layer:
    """Township (乡镇/街道) outlines: ``territory_unit`` rows (code, name, geometry)."""
    gdf = townships[~townships.geometry.isna()]
    fc, _ = _fit(gdf, ["code", "name"], tolerance_m, None)
    return Layer(id="townships", title="layer.townships", kind="polygons", data=fc,
                 style=TOWNSHIP_STYLE, interactive=False, tooltip=(),
                 legend=(LegendEntry(TOWNSHIP_COLOR, "legend.township", shape="dash", size=18),))


def county_layer(county: gpd.GeoDataFrame, *, tolerance_m: float = OUTLINE_TOLERANCE_M) -> Layer:
    """County outline: one ``territory_unit`` row (code, name, geometry), or the union of
    the grids when the county has no stored outline."""
    gdf = county[~county.geometry.isna()]
    fc, _ = _fit(gdf, ["code", "name"], tolerance_m, None)
    return Layer(id="county", title="layer.county", kind="polygons", data=fc,
                 style=COUNTY_STYLE, interactive=False, tooltip=(),
                 legend=(LegendEntry(COUNTY_COLOR, "legend.county", shape="line", size=18),))


def outline_of(gdf: gpd.GeoDataFrame, code: str, name: str) -> gpd.GeoDataFrame:
    """One-row GeoDataFrame: the union of ``gdf``'s geometries (a coverage) as an outline."""
    geom = shapely.coverage_union_all(np.asarray(gdf.geometry.values)) if len(gdf) else None
    return gpd.GeoDataFrame({"code": [code], "name": [name]}, geometry=[geom], crs=gdf.crs)


def _present(fields: tuple[tuple[str, str], ...],
             gdf: gpd.GeoDataFrame) -> tuple[tuple[str, str], ...]:
    """The hover fields whose column exists and holds at least one value."""
    return tuple((p, k) for p, k in fields if p in gdf.columns and gdf[p].notna().any())


def label_points(geoms: Sequence[object] | np.ndarray) -> np.ndarray:
    """Visual centre of each polygon: centre of the largest inscribed circle of its largest
    part (always inside, far from the edges: where a label reads best)."""
    out = []
    for g in np.asarray(geoms, dtype=object):
        parts = shapely.get_parts(g)
        big = parts[int(np.argmax(shapely.area(parts)))]
        b = shapely.bounds(big)
        tol = max(b[2] - b[0], b[3] - b[1]) / 200.0 or 1e-6
        out.append(shapely.get_point(shapely.maximum_inscribed_circle(big, tol), 0))
    return np.asarray(out, dtype=object)


def label_layer(gdf: gpd.GeoDataFrame, layer_id: str, title: str, *,
                min_zoom: float | None = None, max_zoom: float | None = None) -> Layer:
    """Place-name labels: one text label per row of ``gdf`` (code, name, polygon geometry)
    at a point inside the polygon."""
    g = gdf[~gdf.geometry.isna()]
    pts = gpd.GeoDataFrame({"code": g["code"].to_numpy(), "name": g["name"].to_numpy()},
                           geometry=label_points(g.geometry.values), crs=g.crs)
    return Layer(id=layer_id, title=title, kind="points", data=feature_collection(pts, ["name"]),
                 style=Style(), interactive=False, label_prop="name", name_prop=None,
                 min_zoom=min_zoom, max_zoom=max_zoom)
