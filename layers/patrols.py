"""Patrol layers: recent patrol tracks, key areas and key road sections by compliance.

* :func:`track_layers`: tracks of the last :data:`gis.settings.PATROL_LAYER_HOURS` hours
  (:func:`gis.patrols.queries.recent_tracks`), day and night patrols as two layers (sky
  blue / yellow) so each has its own legend line and switch.
* :func:`key_area_layer`: key areas filled by pass / fail of the week.
* :func:`key_section_layers`: key road sections as thick lines, one layer for the sections
  that met the weekly target (bluish green) and one for those that did not (vermillion):
  a classed style colours the *fill*, which lines do not have, so the status is split into
  layers instead.

Colours are from the Okabe-Ito palette (distinguishable with every common colour-vision
deficiency). Lines are drawn as paths (``kind="polygons"`` with ``fill=False``) by both
renderers. Properties hold data only; every label is an i18n key (the "patrols" block of
:mod:`layers.i18n`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import settings
from layers.base import Classes, Layer, LegendEntry, Style
from layers.grids import feature_collection

PASS_COLOR = "#009E73"   # Okabe-Ito bluish green
FAIL_COLOR = "#D55E00"   # Okabe-Ito vermillion
DAY_COLOR = "#56B4E9"    # Okabe-Ito sky blue
NIGHT_COLOR = "#F0E442"  # Okabe-Ito yellow (bright on the dark map)
AREA_OUTLINE = "#0b1826"

TRACK_FIELDS: tuple[tuple[str, str], ...] = (
    ("team", "field.team"), ("patroller", "field.patroller"), ("start", "field.start"),
    ("end", "field.end"), ("length_km", "field.length_km"), ("village", "field.village"))
PLACE_FIELDS: tuple[tuple[str, str], ...] = (
    ("village", "field.village"), ("count", "field.patrols_week"),
    ("required", "field.patrols_required"), ("night", "field.night_patrols"),
    ("best_pct", "field.best_share"))


def _local(values: pd.Series) -> list[str]:
    ts = pd.to_datetime(values, utc=True).dt.tz_convert(settings.PATROL_TIMEZONE)
    return ts.dt.strftime("%m-%d %H:%M").tolist()


def track_frame(tracks: gpd.GeoDataFrame,
                village_names: dict[str, str] | None = None) -> gpd.GeoDataFrame:
    """Tracks with their display properties: name (team or track name), team, patroller,
    start / end (Beijing time, ``MM-DD HH:MM``), length_km, village, night."""
    t = tracks[~tracks.geometry.isna()].copy()
    t["name"] = t["name"].where(t["name"].notna(), t["team"]) if "name" in t else t["team"]
    t["patroller"] = t.get("officer")
    t["start"] = _local(t["started_at"]) if len(t) else []
    t["end"] = _local(t["ended_at"]) if len(t) else []
    t["length_km"] = (pd.to_numeric(t["length_m"], errors="coerce") / 1000).round(2)
    if village_names is not None and "village_code" in t:
        t["village"] = t["village_code"].map(dict(village_names))
    return t


def track_layers(tracks: gpd.GeoDataFrame, *, village_names: dict[str, str] | None = None,
                 layer_id: str = "patrol-tracks") -> list[Layer]:
    """Day and night patrol tracks (``night`` column of
    :func:`gis.patrols.queries.patrols_frame`) as two line layers, EPSG:4490."""
    t = track_frame(tracks, village_names)
    props = ["name", *[p for p, _ in TRACK_FIELDS]]
    tip = tuple((p, k) for p, k in TRACK_FIELDS if p in t.columns)
    h0, h1 = settings.PATROL_NIGHT_HOURS
    out = []
    for night, color, key, title in ((False, DAY_COLOR, "legend.patrol_day",
                                      "layer.patrol_tracks"),
                                     (True, NIGHT_COLOR, "legend.patrol_night",
                                      "layer.patrol_tracks_night")):
        part = t[t["night"].astype(bool) == night] if len(t) else t
        out.append(Layer(
            id=f"{layer_id}-night" if night else layer_id, title=title, kind="polygons",
            data=feature_collection(part, props),
            style=Style(color=color, weight=2.5, opacity=0.9, fill=False),
            legend=(LegendEntry(color, key, {"h0": h0, "h1": h1} if night else {},
                                shape="line"),),
            tooltip=tip))
    return out


def place_frame(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Compliance rows (:func:`gis.patrols.compliance.compliance_frame`) with display
    properties: village, status_code (1 passed, 0 not), best_pct (sections, %)."""
    g = table[~table.geometry.isna()].copy()
    g["village"] = g["village_name"].where(g["village_name"].notna(), g["village_code"])
    g["status_code"] = g["passed"].astype(bool).astype(int)
    share = pd.to_numeric(g["best_share"], errors="coerce") * 100
    g["best_pct"] = np.floor(share.to_numpy(dtype=float) * 10 + 1e-6) / 10
    return g


def key_area_layer(table: gpd.GeoDataFrame, *, required: int | None = None,
                   layer_id: str = "key-areas") -> Layer:
    """Key areas filled by the week's result (green: met, vermillion: not met).

    ``table``: :func:`gis.patrols.compliance.compliance_frame` (rows of ``kind='area'`` are
    used); ``required``: patrols per week shown in the legend (default: the table's, else
    :data:`settings.PATROL_MIN_PER_WEEK`).
    """
    g = place_frame(table[table["kind"] == "area"])
    n = required if required is not None else (
        int(g["required"].iloc[0]) if len(g) else settings.PATROL_MIN_PER_WEEK)
    classes = Classes(prop="status_code", breaks=(0.0, 1.0), colors=(FAIL_COLOR, PASS_COLOR))
    legend = (LegendEntry(PASS_COLOR, "legend.key_pass", {"n": n}, shape="fill",
                          stroke=AREA_OUTLINE, size=14),
              LegendEntry(FAIL_COLOR, "legend.key_fail", {"n": n}, shape="fill",
                          stroke=AREA_OUTLINE, size=14))
    props = ["code", "name", "status_code", *[p for p, _ in PLACE_FIELDS if p != "best_pct"]]
    return Layer(id=layer_id, title="layer.key_areas", kind="polygons",
                 data=feature_collection(g, props),
                 style=Style(color=AREA_OUTLINE, weight=1.0, opacity=0.9, fill=True,
                             fill_opacity=0.65, classes=classes),
                 legend=legend, tooltip=tuple(f for f in PLACE_FIELDS if f[0] != "best_pct"))


def key_section_layers(table: gpd.GeoDataFrame, *, required: int | None = None,
                       layer_id: str = "key-sections") -> list[Layer]:
    """Key road sections that met / did not meet the week's target, as two line layers
    (``<layer_id>-pass`` green, ``<layer_id>-fail`` vermillion, drawn on top)."""
    g = place_frame(table[table["kind"] == "section"])
    n = required if required is not None else (
        int(g["required"].iloc[0]) if len(g) else settings.PATROL_MIN_PER_WEEK)
    props = ["code", "name", "status_code", *[p for p, _ in PLACE_FIELDS]]
    out = []
    for ok, color, key, title in ((True, PASS_COLOR, "legend.key_pass",
                                   "layer.key_sections_pass"),
                                  (False, FAIL_COLOR, "legend.key_fail",
                                   "layer.key_sections_fail")):
        part = g[g["status_code"] == int(ok)]
        out.append(Layer(
            id=f"{layer_id}-{'pass' if ok else 'fail'}", title=title, kind="polygons",
            data=feature_collection(part, props),
            style=Style(color=color, weight=5.0, opacity=0.95, fill=False),
            legend=(LegendEntry(color, key, {"n": n}, shape="line"),),
            tooltip=PLACE_FIELDS))
    return out


def patrol_layers(tracks: gpd.GeoDataFrame, table: gpd.GeoDataFrame, *,
                  village_names: dict[str, str] | None = None) -> list[Layer]:
    """All patrol layers, bottom to top: key areas, sections met, sections not met, day
    tracks, night tracks."""
    return [key_area_layer(table), *key_section_layers(table),
            *track_layers(tracks, village_names=village_names)]
