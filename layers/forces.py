"""Forces layers: 一村一警一连 coverage of villages, police posts, cameras per grid.

* :func:`coverage_layer`: villages coloured by their most serious 一村一警一连 problem
  (:func:`gis.coverage.force_coverage` ``problem``) with the Okabe-Ito palette, designed to
  stay distinguishable with every common colour-vision deficiency.
* :func:`posts_layer`: police stations / offices as points.
* :func:`cameras_layer`: cameras aggregated per grid, one point per grid at a point inside
  it, coloured by the share of its populated area in view (never one marker per camera).

Feature properties hold data only (names, codes, numbers); every label is an i18n key
(the "(layers.forces)" block of :mod:`layers.i18n`).
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import settings
from layers.base import Classes, Layer, LegendEntry, Style, pick_colors
from layers.grids import VILLAGE_TOLERANCE_M, feature_collection, simplify_coverage

# Okabe & Ito (2008) colour-universal palette
OKABE_ITO: dict[str, str] = {
    "ok": "#009E73",                  # bluish green
    "officer_overloaded": "#F0E442",  # yellow
    "post_far": "#CC79A7",            # reddish purple
    "no_militia": "#E69F00",          # orange
    "no_officer": "#D55E00",          # vermillion
}
"""Colour of each coverage problem (Okabe-Ito, colour-blind safe)."""

STATUS_CODES: dict[str, int] = {"ok": 0, "officer_overloaded": 1, "post_far": 2,
                                "post_missing": 2, "no_militia": 3, "no_officer": 4}
"""``problem`` → class number of the coverage layer (``status_code`` property); an officer
without a known post is drawn as ``post_far``."""

COVERAGE_OUTLINE = "#0b1826"
POST_COLOR = "#56B4E9"  # Okabe-Ito sky blue
POST_STROKE = "#ffffff"
CAMERA_STROKE = "#2a0d05"
CAMERA_SHARE_BREAKS: tuple[float, ...] = (0.0, 25.0, 50.0, 75.0, 100.0)
"""Lower bounds of the camera-coverage classes, per cent (the last class: exactly 100 %)."""
CAMERA_RADIUS = 6.0
"""Circle radius of a grid's camera point, pixels."""

COVERAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("township", "field.township"), ("code", "field.code"),
    ("officer", "field.officer"), ("officer_villages", "field.officer_villages"),
    ("post", "field.post"), ("post_km", "field.post_km"),
    ("company", "field.company"), ("commander", "field.commander"),
    ("strength", "field.strength"))
POST_FIELDS: tuple[tuple[str, str], ...] = (
    ("code", "field.code"), ("township", "field.township"),
    ("n_officers", "field.officers"), ("n_villages", "field.villages_served"))
CAMERA_FIELDS: tuple[tuple[str, str], ...] = (
    ("village", "field.village"), ("n_cameras", "field.cameras"),
    ("share_pct", "field.camera_share"))


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)


def coverage_layer(coverage: gpd.GeoDataFrame, *, tolerance_m: float = VILLAGE_TOLERANCE_M,
                   far_km: float | None = None, max_villages: int | None = None,
                   layer_id: str = "force-coverage") -> Layer:
    """Villages coloured by their 一村一警一连 status.

    Parameters
    ----------
    coverage : GeoDataFrame
        :func:`gis.coverage.force_coverage` columns and the village polygons (as in
        :attr:`gis.coverage.CountyCoverage.villages`), EPSG:4490.
    tolerance_m : float
        Simplification tolerance, metres (shared edges simplified once).
    far_km, max_villages : float / int, optional
        Figures shown in the legend: the distance whose ``post_far`` flag is a gap (default
        the largest ``post_far_<r>km`` of :data:`settings.COVERAGE_GAP_FLAGS`) and
        :data:`settings.OFFICER_MAX_VILLAGES`.
    layer_id : str
        Layer id.
    """
    g = coverage[~coverage.geometry.isna()].copy()
    problem = _col(g, "problem").fillna("ok")
    g["status_code"] = problem.map(STATUS_CODES).fillna(0).astype(int)
    g["officer"] = _col(g, "officer_name")
    g["post"] = _col(g, "post_name")
    g["post_km"] = (pd.to_numeric(_col(g, "post_distance_m"), errors="coerce") / 1000).round(1)
    g["company"] = _col(g, "militia_name")
    if len(g):
        g = g.set_geometry(gpd.GeoSeries(simplify_coverage(g.geometry.values, tolerance_m),
                                         index=g.index, crs=g.crs))
    props = ["code", "name", "status_code", *[p for p, _ in COVERAGE_FIELDS if p != "code"]]
    order = ("ok", "officer_overloaded", "post_far", "no_militia", "no_officer")
    classes = Classes(prop="status_code", breaks=tuple(float(i) for i in range(len(order))),
                      colors=tuple(OKABE_ITO[k] for k in order))
    if far_km is None:
        far = [float(f[len("post_far_"):-2]) for f in settings.COVERAGE_GAP_FLAGS
               if f.startswith("post_far_") and f.endswith("km")]
        far_km = max(far) if far else settings.RESPONSE_STANDARDS[-1][0] / 1000
    n = settings.OFFICER_MAX_VILLAGES if max_villages is None else max_villages
    fields = {"officer_overloaded": {"n": n}, "post_far": {"km": f"{far_km:g}"}}
    legend = tuple(LegendEntry(OKABE_ITO[k], f"legend.coverage.{k}", fields.get(k, {}),
                               shape="fill", stroke=COVERAGE_OUTLINE, size=14)
                   for k in order[::-1])
    return Layer(id=layer_id, title="layer.force_coverage", kind="polygons",
                 data=feature_collection(g, props),
                 style=Style(color=COVERAGE_OUTLINE, weight=0.8, opacity=0.9, fill=True,
                             fill_opacity=0.7, classes=classes),
                 legend=legend,
                 tooltip=tuple((p, k) for p, k in COVERAGE_FIELDS if p in g.columns))


def posts_layer(posts: gpd.GeoDataFrame, *,
                township_names: Mapping[str, str] | None = None,
                layer_id: str = "police-posts") -> Layer:
    """Police stations (派出所) and offices (警务室) as points.

    ``posts``: ``code``, ``name``, points (EPSG:4490); ``township_code``, ``n_officers``,
    ``n_villages`` shown on hover when present (:attr:`gis.coverage.CountyCoverage.posts`).
    """
    p = posts[~posts.geometry.isna()].copy()
    if township_names is not None and "township_code" in p.columns:
        p["township"] = p["township_code"].map(dict(township_names))
    props = ["code", "name", *[f for f, _ in POST_FIELDS if f != "code"]]
    return Layer(id=layer_id, title="layer.police_posts", kind="points",
                 data=feature_collection(p, props),
                 style=Style(color=POST_STROKE, weight=1.5, opacity=1.0, fill=True,
                             fill_color=POST_COLOR, fill_opacity=0.95, radius=6.0),
                 legend=(LegendEntry(POST_COLOR, "legend.police_post", shape="circle",
                                     size=12, stroke=POST_STROKE),),
                 tooltip=tuple((f, k) for f, k in POST_FIELDS
                               if f in p.columns and p[f].notna().any()))


def camera_points(coverage: gpd.GeoDataFrame,
                  village_names: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    """One point per grid with populated area: code, name, village, n_cameras, share_pct
    (share of the populated area in view, %, floored to 1 decimal so that only full
    coverage reads 100), at a point inside the grid; sorted by descending share (the gaps
    are drawn last, on top)."""
    g = coverage[~coverage.geometry.isna()]
    pop = pd.to_numeric(_col(g, "populated_m2"), errors="coerce").fillna(0)
    g = g[(pop > 0).to_numpy()]
    share = pd.to_numeric(_col(g, "populated_share"), errors="coerce") * 100
    pct = np.floor(share.to_numpy(dtype=float) * 10 + 1e-6) / 10  # never round up to 100
    out = gpd.GeoDataFrame({
        "code": g["code"].to_numpy(), "name": _col(g, "name").to_numpy(),
        "n_cameras": pd.to_numeric(_col(g, "n_cameras"), errors="coerce").fillna(0)
        .astype(np.int64).to_numpy(),
        "share_pct": np.nan_to_num(pct, nan=0.0)},
        geometry=shapely.point_on_surface(np.asarray(g.geometry.values)), crs=g.crs)
    if village_names is not None and "parent_code" in g.columns:
        out["village"] = g["parent_code"].map(dict(village_names)).to_numpy()
    return out.sort_values(["share_pct", "code"], ascending=[False, True],
                           kind="stable").reset_index(drop=True)


def cameras_layer(coverage: gpd.GeoDataFrame, *,
                  village_names: Mapping[str, str] | None = None,
                  layer_id: str = "cameras", min_zoom: float | None = None) -> Layer:
    """Cameras aggregated per grid: a circle per grid coloured by the share of its populated
    area in camera view (dark red: little, pale yellow: all); hover: number of cameras and
    share.

    ``coverage``: :func:`gis.cameras.camera_coverage` columns and the grid polygons
    (:attr:`gis.cameras.CountyCameras.grids`). Use village grids at county zoom; group grids
    with a ``min_zoom``.
    """
    pts = camera_points(coverage, village_names)
    colors = pick_colors("YlOrRd", len(CAMERA_SHARE_BREAKS))[::-1]  # low share = dark red
    classes = Classes(prop="share_pct", breaks=CAMERA_SHARE_BREAKS, colors=colors,
                      integer=False)
    b = CAMERA_SHARE_BREAKS
    legend = []
    for k in range(len(b) - 1, -1, -1):  # full coverage first
        if k == len(b) - 1:
            legend.append(LegendEntry(colors[k], "legend.share_full", {"v": f"{b[k]:g}"},
                                      shape="circle", size=12, stroke=CAMERA_STROKE))
        else:
            legend.append(LegendEntry(colors[k], "legend.share_range",
                                      {"lo": f"{b[k]:g}", "hi": f"{b[k + 1]:g}"},
                                      shape="circle", size=12, stroke=CAMERA_STROKE))
    return Layer(id=layer_id, title="layer.cameras", kind="aggregates",
                 data=feature_collection(pts, ["code", "name", "village", "n_cameras",
                                               "share_pct"]),
                 style=Style(color=CAMERA_STROKE, weight=0.8, opacity=0.9, fill=True,
                             fill_opacity=0.9, radius=CAMERA_RADIUS, classes=classes),
                 legend=tuple(legend), min_zoom=min_zoom,
                 tooltip=tuple((p, k) for p, k in CAMERA_FIELDS if p in pts.columns))
