"""Planner layers: grids coloured by a balance metric with too-large / too-small outlines, and
the topology problems of a draft as markers.

:func:`planner_layer` bakes **every** metric of :data:`METRICS` into the features'
properties, so switching the metric on the page only changes the classes sent in the
layer's ``hideout`` (the browser restyles without downloading geometry again). Geometry is
sent at full detail by default (rounded to :data:`layers.base.PRECISION` decimals, about
1 m): planners draw split lines against it, and the demo's 2,450 group grids (~100,000
vertices) shrink by less than 10 % at a 15 m tolerance anyway. A tolerance simplifies it as a
coverage (:func:`layers.grids.simplify_coverage`), so neighbours stay edge-matched. Flags are drawn as outlines: too large (magenta, solid), too small (cyan,
dashed), both (white, dotted) — Okabe-Ito-like colours that none of the fill palettes use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.grids.topology import PROBLEM_TYPES
from layers.base import Classes, Layer, LegendEntry, Style, pick_colors
from layers.grids import _fit, feature_collection

NO_DATA_COLOR = "#4a5868"
"""Fill of a grid without a value for the chosen metric."""
FLAG_STYLES: dict[str, dict[str, Any]] = {
    "large": {"color": "#ff3df0", "weight": 3.0, "opacity": 1.0, "dashArray": ""},
    "small": {"color": "#36f1ff", "weight": 3.0, "opacity": 1.0, "dashArray": "6 4"},
    "both": {"color": "#ffffff", "weight": 3.0, "opacity": 1.0, "dashArray": "2 4"},
}
"""Outline of a flagged grid (Leaflet path options), by flag."""
SELECTED_STYLE: dict[str, Any] = {"color": "#ffd166", "weight": 4.5, "opacity": 1.0,
                                  "dashArray": "", "fillOpacity": 0.9}
"""Outline of the selected grid."""
PARTNER_STYLE: dict[str, Any] = {"color": "#ffd166", "weight": 3.5, "opacity": 1.0,
                                 "dashArray": "8 4", "fillOpacity": 0.85}
"""Outline of the other grids selected with it (merge partners)."""
GRID_STYLE = Style(color="#9fb8d0", weight=0.7, opacity=0.9, fill=True, fill_color=NO_DATA_COLOR,
                   fill_opacity=0.72)
"""Base style of the planner's grids (the fill comes from the metric's classes)."""
PROBLEM_COLORS: tuple[str, ...] = ("#e69f00", "#d55e00", "#cc79a7", "#f0e442", "#ff3df0",
                                   "#56b4e9", "#009e73", "#ffffff")
"""One marker colour per :data:`gis.grids.topology.PROBLEM_TYPES` entry, in that order."""
N_CLASSES = 5


@dataclass(frozen=True)
class Metric:
    """A balance metric the grids can be coloured by.

    Attributes
    ----------
    key : str
        Feature property (and value of the page's metric switch).
    column : str
        Column of :func:`gis.grids.metrics.balance_metrics` it comes from.
    label : str
        i18n key of its name (with unit).
    palette : str
        Name of :data:`layers.base.PALETTES`, light → dark = low → high.
    digits : int
        Decimals shown.
    scale : float
        Factor from the column to the property (metres → km).
    """

    key: str
    column: str
    label: str
    palette: str
    digits: int
    scale: float = 1.0


METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("population", "population", "planner.m.population", "Blues", 0),
    Metric("households", "households", "planner.m.households", "Blues", 0),
    Metric("area_km2", "area_km2", "planner.m.area_km2", "PuBuGn", 2),
    Metric("incidents_per_week", "incidents_per_week", "planner.m.incidents_per_week",
           "YlOrRd", 2),
    Metric("residents_per_worker", "residents_per_worker", "planner.m.residents_per_worker",
           "YlOrRd", 0),
    Metric("compactness", "compactness", "planner.m.compactness", "viridis", 2),
    Metric("dist_to_post_km", "dist_to_post_m", "planner.m.dist_to_post_km", "YlOrRd", 2,
           scale=0.001),
)}
"""Metrics of the planner's choropleth, in menu order."""
DEFAULT_METRIC = "households"


def fmt(value: Any, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals ("—" when missing)."""
    if value is None or value is pd.NA:
        return "—"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "—"
    return f"{x:,.{digits}f}"


def _nice(x: float, down: bool) -> float:
    """``x`` rounded to 2 significant digits (down or up)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    e = math.floor(math.log10(abs(x))) - 1
    q = 10.0 ** e
    return (math.floor(x / q) if down else math.ceil(x / q)) * q


def metric_classes(values: Iterable[float], metric: Metric, k: int = N_CLASSES) -> Classes:
    """Quantile classes of the metric's values with 2-significant-digit breaks.

    Each class holds about the same number of grids (the distributions are skewed, so equal
    intervals would paint almost every grid the same); repeated breaks collapse, so a metric
    with few distinct values gets fewer classes. Missing values are ignored.
    """
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = np.sort(v[np.isfinite(v)])
    if v.size == 0:
        return Classes(prop=metric.key, breaks=(0.0,), colors=pick_colors(metric.palette, 1),
                       integer=False)
    qs = np.quantile(v, np.linspace(0, 1, k + 1)[:-1])
    raw = [_nice(float(qs[0]), down=True)] + [_nice(float(q), down=False) for q in qs[1:]]
    breaks = sorted({round(b, 10) for b in raw})
    breaks = [b for i, b in enumerate(breaks) if i == 0 or b <= v[-1]]
    return Classes(prop=metric.key, breaks=tuple(breaks),
                   colors=pick_colors(metric.palette, len(breaks)), integer=False)


def metric_legend(classes: Classes, metric: Metric, has_missing: bool = False,
                  flags: Mapping[str, int] | None = None) -> tuple[LegendEntry, ...]:
    """Legend rows: one per class (formatted with the metric's decimals), "no data" when
    some grids lack the value, one per flag with its number of grids, the selection."""
    rows = []
    b = classes.breaks
    for i, color in enumerate(classes.colors):
        if i + 1 < len(b):
            key, fields = "legend.class_range", {"lo": fmt(b[i], metric.digits),
                                                 "hi": fmt(b[i + 1], metric.digits)}
        else:
            key, fields = "legend.class_atleast", {"lo": fmt(b[i], metric.digits)}
        rows.append(LegendEntry(color, key, fields, shape="fill", stroke=GRID_STYLE.color,
                                size=14))
    if has_missing:
        rows.append(LegendEntry(NO_DATA_COLOR, "planner.legend.no_data", shape="fill",
                                stroke=GRID_STYLE.color, size=14))
    counts = flags or {}
    for flag in ("large", "small", "both"):
        st = FLAG_STYLES[flag]
        rows.append(LegendEntry(st["color"], f"planner.legend.{flag}",
                                {"n": int(counts.get(flag, 0))},
                                shape="dash" if st["dashArray"] else "line", size=18))
    rows.append(LegendEntry(SELECTED_STYLE["color"], "planner.legend.selected", shape="line",
                            size=18))
    return tuple(rows)


def flag_of(too_large: Any, too_small: Any) -> str | None:
    """``"large"``, ``"small"``, ``"both"`` or None."""
    large, small = bool(too_large), bool(too_small)
    return "both" if large and small else "large" if large else "small" if small else None


def _props(metrics: pd.DataFrame) -> pd.DataFrame:
    """Feature properties per grid code: every metric (rounded) and the flag."""
    out = pd.DataFrame({"code": metrics["code"].astype(str).to_numpy()})
    for m in METRICS.values():
        x = pd.to_numeric(metrics[m.column], errors="coerce").to_numpy(dtype=float,
                                                                       na_value=np.nan)
        out[m.key] = np.round(x * m.scale, m.digits + 1)
    out["flag"] = [flag_of(a, b) for a, b in zip(metrics["too_large"], metrics["too_small"],
                                                  strict=True)]
    return out.set_index("code")


def planner_layer(grids: gpd.GeoDataFrame, metrics: pd.DataFrame, level: int, *,
                  metric: str = DEFAULT_METRIC, tolerance_m: float = 0.0,
                  budget_bytes: int | None = None) -> Layer:
    """Grids of one level with every metric and the flag as properties.

    Parameters
    ----------
    grids : GeoDataFrame
        :func:`gis.grids.store.read_grids` rows (EPSG:4490), any levels.
    metrics : DataFrame
        :func:`gis.grids.metrics.balance_metrics` rows of (at least) those grids.
    level : int
        1 (villages) or 2 (groups): the grids shown.
    metric : str
        Key of :data:`METRICS` the layer is classed by initially.
    tolerance_m : float
        Simplification tolerance, metres (0: full detail).
    budget_bytes : int, optional
        Largest GeoJSON; the tolerance (at least 1 m then) grows until it fits.
    """
    m = METRICS[metric]
    g = grids[grids["level"] == level]
    props = _props(metrics).reindex(g["code"].astype(str))
    gdf = g[["code", "name", "level", "parent_code", "population", "households", "geometry"]]
    gdf = gdf.assign(**{c: props[c].to_numpy() for c in props.columns if c not in gdf})
    keys = ["code", "name", "level", "parent_code", "population", "households", "flag",
            *[k for k in METRICS if k not in ("population", "households")]]
    if tolerance_m > 0 or budget_bytes is not None:
        fc, _ = _fit(gdf, keys, max(tolerance_m, 1.0), budget_bytes)
    else:
        fc = feature_collection(gdf, keys)
    values = props[m.key].to_numpy(dtype=float)
    classes = metric_classes(values, m)
    flags = props["flag"].value_counts().to_dict()
    style = Style(color=GRID_STYLE.color, weight=GRID_STYLE.weight if level == 2 else 1.0,
                  opacity=GRID_STYLE.opacity, fill=True, fill_color=NO_DATA_COLOR,
                  fill_opacity=GRID_STYLE.fill_opacity, classes=classes)
    return Layer(id="planner-grids", title=m.label, kind="polygons", data=fc, style=style,
                 legend=metric_legend(classes, m, bool(np.isnan(values).any()), flags),
                 tooltip=(("code", "field.code"), ("population", "field.population"),
                          ("households", "field.households")))


def problem_points(problems: Sequence[Mapping[str, Any]]) -> gpd.GeoDataFrame:
    """One point per problem (its ``location``), with type, type index ``k``, severity,
    codes (joined) and area (m², 1 decimal)."""
    pts = [shapely.from_wkt(p["location"]) if p.get("location") else None for p in problems]
    return gpd.GeoDataFrame({
        "type": [p["type"] for p in problems],
        "k": [PROBLEM_TYPES.index(p["type"]) if p["type"] in PROBLEM_TYPES else 0
              for p in problems],
        "severity": [p.get("severity", "error") for p in problems],
        "codes": [", ".join(p.get("codes") or []) for p in problems],
        "area_m2": [round(float(p.get("area_m2") or 0.0), 1) for p in problems],
    }, geometry=pts, crs=4490)


def problem_layer(problems: Sequence[Mapping[str, Any]],
                  type_labels: Mapping[str, str] | None = None) -> Layer:
    """Markers of validation problems (``Problem.to_dict()`` rows), coloured by type.

    ``type_labels`` (type → translated name) adds the property ``label`` shown on hover.
    """
    gdf = problem_points(problems)
    gdf = gdf[~gdf.geometry.isna()]
    gdf["label"] = [(type_labels or {}).get(t, t) for t in gdf["type"]]
    classes = Classes(prop="k", breaks=tuple(float(i) for i in range(len(PROBLEM_TYPES))),
                      colors=PROBLEM_COLORS[:len(PROBLEM_TYPES)], integer=True)
    style = Style(color="#04101c", weight=1.5, opacity=1.0, fill=True, fill_opacity=0.95,
                  radius=8.0, classes=classes)
    present = sorted(set(gdf["k"].tolist()))
    legend = tuple(LegendEntry(PROBLEM_COLORS[k], f"planner.problem.{PROBLEM_TYPES[k]}",
                               shape="circle", size=12, stroke="#04101c") for k in present)
    fc = feature_collection(gdf, ["label", "type", "k", "severity", "codes", "area_m2"])
    return Layer(id="planner-problems", title="planner.layer.problems", kind="points",
                 data=fc, style=style, legend=legend, name_prop="label",
                 tooltip=(("codes", "planner.problem.codes"),
                          ("area_m2", "planner.problem.area")))
