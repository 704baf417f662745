"""Response reach layers: road-network isochrones of police posts and post siting.

* :func:`isochrone_layer`: the area reached within 10 / 20 minutes by road
  (:func:`gis.network.isochrones`, per post or dissolved), one colour per time limit from the
  Okabe-Ito palette (blue, orange, …: distinguishable with every common colour-vision
  deficiency); larger limits are drawn first so the smaller ones sit on top. Hover / click:
  the post's name, the minutes and the area.
* :func:`siting_layer`: candidate sites (small grey points) and the chosen new posts (large
  vermillion points, ranked) of :func:`gis.analytics.reach.siting_for_county`.

Feature properties hold data only; every label is an i18n key (the "reach, isochrones and
siting layers" block of :mod:`layers.i18n`). Both renderers (:mod:`layers.leaflet`,
:mod:`layers.folium`) draw these from the same :class:`layers.base.Layer`.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gis.crs import utm_crs_for
from layers.base import PRECISION, Classes, Layer, LegendEntry, Style
from layers.grids import feature_collection

ISOCHRONE_COLORS: tuple[str, ...] = ("#0072B2", "#E69F00", "#CC79A7", "#009E73")
"""Okabe-Ito blue (smallest limit), orange, reddish purple, bluish green."""
ISOCHRONE_STROKE = "#0b1826"
"""Outline colour (used only on hover: isochrones are drawn as fills alone, since an
outline along both edges of every 400 m road corridor turns it dark at county zoom)."""
ISOCHRONE_FILL_OPACITY = 0.6
"""Fill opacity: the corridors along the roads must stand out over a thematic fill."""
ISOCHRONE_TOLERANCE_M = 25.0
"""Display simplification of isochrone outlines, metres (they are 200 m road buffers)."""

CANDIDATE_COLOR = "#999999"
CHOSEN_COLOR = "#D55E00"  # Okabe-Ito vermillion
SITE_STROKE = "#ffffff"
SITE_RADII: tuple[float, float] = (3.0, 9.0)
"""Circle radius of a candidate and of a chosen site, pixels."""

ISOCHRONE_FIELDS: tuple[tuple[str, str], ...] = (
    ("minutes", "field.minutes"), ("area_km2", "field.area_km2"))
SITE_FIELDS: tuple[tuple[str, str], ...] = (
    ("site_rank", "field.site_rank"), ("township", "field.township"),
    ("gain_population", "field.gain_population"), ("code", "field.code"))


def simplify_for_display(geoms: Sequence[shapely.Geometry] | np.ndarray,
                         tolerance_m: float) -> np.ndarray:
    """Simplify (topology preserved, each polygon on its own) in the UTM zone of the
    geometries (EPSG:4490 degrees in and out)."""
    arr = np.asarray(geoms, dtype=object)
    ok = ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
    if tolerance_m <= 0 or not ok.any():
        return arr
    c = shapely.centroid(shapely.envelope(shapely.union_all(shapely.envelope(arr[ok]))))
    utm = utm_crs_for(c.x, c.y)
    fwd = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    back = pyproj.Transformer.from_crs(utm, 4326, always_xy=True)
    out = arr.copy()
    proj = shapely.transform(arr[ok], lambda xy: np.column_stack(
        fwd.transform(xy[:, 0], xy[:, 1])))
    simple = shapely.simplify(proj, tolerance_m, preserve_topology=True)
    out[ok] = shapely.transform(simple, lambda xy: np.column_stack(
        back.transform(xy[:, 0], xy[:, 1])))
    return out


def snap_for_display(geoms: Sequence[shapely.Geometry] | np.ndarray,
                     precision: int = PRECISION) -> np.ndarray:
    """Geometries snapped to the grid of the GeoJSON coordinates (``precision`` decimals of
    a degree), kept valid: rings and holes that collapse on that grid (an isochrone has
    many small holes and slivers) are dropped instead of becoming rings of fewer than 4
    points, which plain rounding would leave behind."""
    arr = np.asarray(geoms, dtype=object)
    ok = ~shapely.is_missing(arr)
    out = arr.copy()
    out[ok] = shapely.set_precision(arr[ok], 10.0 ** -precision)
    return out


def _bands(g: gpd.GeoDataFrame) -> np.ndarray:
    """Each polygon less the polygon of the next smaller limit of the same post (or of all
    posts, dissolved): rings that do not overlap, so every colour shows pure."""
    geoms = np.asarray(g.geometry.values, dtype=object).copy()
    key = g["post_code"].astype(str) if "post_code" in g.columns else pd.Series("", g.index)
    for idx in g.groupby(key.to_numpy(), sort=False).indices.values():
        order = idx[np.argsort(g["minutes"].to_numpy()[idx], kind="stable")]
        inner = geoms[order[:-1]]
        geoms[order[1:]] = shapely.difference(geoms[order[1:]], inner)
    return geoms


def isochrone_layer(iso: gpd.GeoDataFrame, *, tolerance_m: float = ISOCHRONE_TOLERANCE_M,
                    layer_id: str = "isochrones", title: str = "layer.isochrones",
                    checked: bool = True, bands: bool = False) -> Layer:
    """Isochrones coloured by time limit.

    Parameters
    ----------
    iso : GeoDataFrame
        :func:`gis.network.isochrones` per post (``post_code``, ``post_name``, ``minutes``,
        ``area_km2``) or dissolved (``minutes``, ``area_km2``), EPSG:4490.
    tolerance_m : float
        Display simplification, metres (0: none).
    layer_id, title : str
        Layer id and i18n key of its name.
    checked : bool
        Shown initially.
    bands : bool
        Draw each larger limit less the smaller one (rings; properties unchanged, so
        ``area_km2`` is still the whole area within the limit): the colours do not mix
        where the fills would overlap.
    """
    g = iso[~iso.geometry.isna()].copy()
    g["minutes"] = pd.to_numeric(g["minutes"], errors="coerce").astype(float)
    limits = sorted({float(m) for m in g["minutes"].dropna()})
    if len(limits) > len(ISOCHRONE_COLORS):
        msg = f"isochrone layer: at most {len(ISOCHRONE_COLORS)} time limits, got {limits}"
        raise ValueError(msg)
    # larger limits first: the smaller (more urgent) ones are drawn on top
    sort_cols = ["minutes", "post_code"] if "post_code" in g.columns else ["minutes"]
    g = g.sort_values(sort_cols, ascending=[False] + [True] * (len(sort_cols) - 1),
                      kind="stable").reset_index(drop=True)
    if "area_km2" in g.columns:
        g["area_km2"] = pd.to_numeric(g["area_km2"], errors="coerce").round(1)
    if len(g):
        shown = snap_for_display(simplify_for_display(g.geometry.values, tolerance_m))
        g = g.set_geometry(gpd.GeoSeries(shown, index=g.index, crs=g.crs))
        if bands:
            g = g.set_geometry(gpd.GeoSeries(snap_for_display(_bands(g)), index=g.index,
                                             crs=g.crs))
        g = g[~g.geometry.is_empty].reset_index(drop=True)
    colors = ISOCHRONE_COLORS[:len(limits)] if limits else ISOCHRONE_COLORS[:1]
    classes = Classes(prop="minutes", breaks=tuple(limits) if limits else (0.0,),
                      colors=colors, integer=False)
    legend = tuple(LegendEntry(c, "legend.isochrone", {"min": f"{m:g}"}, shape="fill",
                               stroke=c, size=14) for m, c in zip(limits, colors, strict=False))
    fields = tuple((p, k) for p, k in ISOCHRONE_FIELDS if p in g.columns)
    name = "post_name" if "post_name" in g.columns else None
    props = [p for p in ("post_code", "post_name", "minutes", "area_km2") if p in g.columns]
    return Layer(id=layer_id, title=title, kind="polygons", data=feature_collection(g, props),
                 style=Style(color=ISOCHRONE_STROKE, weight=0.0, opacity=0.0, fill=True,
                             fill_opacity=ISOCHRONE_FILL_OPACITY, classes=classes),
                 legend=legend, tooltip=fields, popup=fields, name_prop=name,
                 checked=checked)


def siting_layer(candidates: gpd.GeoDataFrame, chosen: gpd.GeoDataFrame | None = None, *,
                 layer_id: str = "siting", title: str = "layer.siting",
                 show_candidates: bool = True) -> Layer:
    """Candidate and chosen sites of new police posts.

    Parameters
    ----------
    candidates : GeoDataFrame
        Points (EPSG:4490) with ``code``, ``name``; ``chosen`` (bool) and ``rank`` when they
        come from :attr:`gis.analytics.reach.SitingResult.candidates`; ``township``.
    chosen : GeoDataFrame, optional
        :attr:`gis.analytics.reach.SitingResult.chosen` (``code``, ``rank``,
        ``gain_population``): marks and ranks those candidates (and adds the gain).
    show_candidates : bool
        Draw the candidates that were not chosen (else only the chosen sites).
    """
    c = candidates[~candidates.geometry.isna()].copy()
    rank = pd.Series(dtype="Int64")
    gain = pd.Series(dtype=float)
    if chosen is not None and len(chosen):
        rank = pd.Series(chosen["rank"].to_numpy(), index=chosen["code"].astype(str))
        if "gain_population" in chosen.columns:
            gain = pd.Series(chosen["gain_population"].to_numpy(float),
                             index=chosen["code"].astype(str))
    elif "rank" in c.columns:
        rank = pd.Series(c["rank"].to_numpy(), index=c["code"].astype(str)).dropna()
    codes = c["code"].astype(str)
    c["site_rank"] = codes.map(rank).astype("Int64")
    c["is_chosen"] = c["site_rank"].notna().astype(int)
    if len(gain):
        c["gain_population"] = codes.map(gain).round()
    if not show_candidates:
        c = c[c["is_chosen"] == 1]
    # chosen sites last: drawn on top, in rank order
    c = c.assign(_r=c["site_rank"].fillna(0).astype(int)).sort_values(
        ["is_chosen", "_r"], kind="stable").drop(columns="_r").reset_index(drop=True)
    classes = Classes(prop="is_chosen", breaks=(0.0, 1.0), colors=(CANDIDATE_COLOR, CHOSEN_COLOR),
                      radii=SITE_RADII)
    legend = (LegendEntry(CHOSEN_COLOR, "legend.site_chosen", shape="circle",
                          size=2 * SITE_RADII[1], stroke=SITE_STROKE),)
    if show_candidates:
        legend = (*legend, LegendEntry(CANDIDATE_COLOR, "legend.site_candidate",
                                       shape="circle", size=2 * SITE_RADII[0],
                                       stroke=SITE_STROKE))
    fields = tuple((p, k) for p, k in SITE_FIELDS if p in c.columns)
    props = ["code", "name", "is_chosen", "site_rank", "township", "gain_population"]
    return Layer(id=layer_id, title=title, kind="points", data=feature_collection(c, props),
                 style=Style(color=SITE_STROKE, weight=1.0, opacity=1.0, fill=True,
                             fill_color=CANDIDATE_COLOR, fill_opacity=0.95,
                             radius=SITE_RADII[0], classes=classes),
                 legend=legend, tooltip=fields, popup=fields)
