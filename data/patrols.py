"""SYNTHETIC patrols for the demo county: key areas, key road sections, tracks, check-ins.

**Everything here is invented** (like the rest of the demo, see ``data/README.md``). Built
from a :class:`data.demo.DemoCounty` with one seed, in the county's UTM zone (metres):

* **Key road sections**: per village, the edge of the synthetic road network
  (:func:`data.roads.demo_roads`) whose middle lies in the village and whose length is
  closest to 1.2 km (secondary, tertiary, unclassified or primary roads), cut to 1.8 km;
  a village without one gets a slightly bent line from its populated centre towards its
  farthest group.
* **Key areas**, two per village: a 150 m square at the populated centre (村委会 or 集市)
  and a 120 × 80 m rectangle at the centre of one group (小学, 河堤, 卫生室, 文化广场 …).
* **Patrols** over the :data:`WEEKS` whole ISO weeks before the demo's end and the days of
  its last week before the end (Beijing time): each village has a
  seeded diligence (about 40 % patrol 3–5 times a week along the whole section, 35 % 2–3
  times with some partial runs, 25 % 0–2 times); about 30 % of patrols are at night
  (starting 21:45–23:45). A track starts at the populated centre (so it enters the first
  area), runs to the section and along all of it (or 40–75 % of it for a partial run),
  sometimes on to the second area; a vertex every ~60 m with 5 m GPS noise, walking or
  e-bike speed, so every vertex has a time.
* **Check-ins**: half of the visits of a second area are checked in (linked to the
  patrol); grid workers check in at the first area now and then (no patrol).

:func:`load_demo_patrols` writes them through the same code as ``wangge patrols import``
(idempotent: source ``demo``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy.engine import Engine

from gis import settings
from gis.analytics.rings import populated_centres
from gis.crs import utm_crs_for
from gis.patrols import checkins as ck
from gis.patrols import places as pl
from gis.patrols import tracks as tr

SOURCE = "demo"
"""Source of the demo's patrols and check-ins."""

WEEKS = 4
"""Whole ISO weeks of patrols before the week of the demo's end (which is partly filled)."""

SECTION_TARGET_M, SECTION_MAX_M = 1200.0, 1800.0
STEP_M, GPS_NOISE_M = 60.0, 5.0
ROAD_TYPES = ("secondary", "tertiary", "unclassified", "primary")
AREA_KINDS: tuple[tuple[str, str], ...] = (
    ("school", "小学"), ("river_bank", "河堤"), ("clinic", "卫生室"), ("square", "文化广场"),
    ("reservoir", "水库"), ("temple", "庙会场"), ("factory", "厂区"))
SECTION_NAMES = ("主干道", "村道", "环村路", "通组路")


@dataclass
class DemoPatrols:
    """Generated patrol data (EPSG:4490). ``tracks`` is in the form
    :func:`gis.patrols.tracks.insert_patrols` takes; ``checkins`` as
    :func:`gis.patrols.checkins.insert_checkins` takes."""

    areas: gpd.GeoDataFrame
    sections: gpd.GeoDataFrame
    tracks: pd.DataFrame
    checkins: pd.DataFrame


def _sections(demo, roads, cx: np.ndarray, cy: np.ndarray, fwd: pyproj.Transformer,
              rng: np.random.Generator) -> list[shapely.LineString]:
    """One key section per village (metres)."""
    edges = np.asarray([d["geometry"] for _, _, d in roads.edges(data=True)
                        if not d.get("reversed") and d.get("highway") in ROAD_TYPES
                        and d.get("geometry") is not None], dtype=object)
    lines = shapely.transform(edges, lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))
    mids = shapely.line_interpolate_point(edges, 0.5, normalized=True)  # degrees
    vi, ei = shapely.STRtree(mids).query(np.asarray(demo.villages.geometry.values, dtype=object),
                                         predicate="contains")
    length = shapely.length(lines)
    best: dict[int, int] = {}
    for e, v in zip(ei, vi, strict=True):
        if v not in best or abs(length[e] - SECTION_TARGET_M) < abs(length[best[v]] -
                                                                    SECTION_TARGET_M):
            best[int(v)] = int(e)
    gx = shapely.get_coordinates(shapely.point_on_surface(
        np.asarray(demo.groups.geometry.values, dtype=object)))
    gxm = np.column_stack(fwd.transform(gx[:, 0], gx[:, 1]))
    parent = demo.groups["parent_code"].astype(str).to_numpy()
    out = []
    for v, code in enumerate(demo.villages["code"].astype(str)):
        if v in best:
            line = lines[best[v]]
            if line.length > SECTION_MAX_M:
                line = shapely.ops.substring(line, 0, SECTION_MAX_M)
        else:  # no road inside: from the centre towards the farthest group, slightly bent
            pts = gxm[parent == code]
            far = pts[np.argmax(np.hypot(pts[:, 0] - cx[v], pts[:, 1] - cy[v]))] \
                if len(pts) else np.array([cx[v] + 900.0, cy[v]])
            mid = (np.array([cx[v], cy[v]]) + far) / 2 + rng.normal(0, 60, 2)
            line = shapely.LineString([(cx[v], cy[v]), tuple(mid), tuple(far)])
        out.append(line)
    return out


def _rect(x: float, y: float, w: float, h: float, angle: float) -> shapely.Polygon:
    c, s = np.cos(angle), np.sin(angle)
    pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h], [-w, -h]]) / 2
    return shapely.Polygon(np.column_stack([x + pts[:, 0] * c - pts[:, 1] * s,
                                            y + pts[:, 0] * s + pts[:, 1] * c]))


def _route(points: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Vertices every ~STEP_M along the polyline through ``points``, with GPS noise."""
    pts = np.vstack(points)
    cum = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    n = max(2, int(np.ceil(cum[-1] / STEP_M)) + 1)
    s = np.linspace(0.0, cum[-1], n)
    xy = np.column_stack([np.interp(s, cum, pts[:, 0]), np.interp(s, cum, pts[:, 1])])
    return xy + rng.normal(0, GPS_NOISE_M, xy.shape)


def build_patrols(demo, seed: int | None = None,
                  end: datetime | None = None, roads=None) -> DemoPatrols:
    """Generate the demo's patrols (see the module doc); the same seed gives the same data.

    Parameters
    ----------
    demo : DemoCounty
    seed : default the demo's own seed.
    end : patrols end before this (default: the demo's ``meta["end"]``, else now).
    roads : the road graph (default :func:`data.roads.demo_roads`).
    """
    from data.roads import demo_roads

    seed = int((demo.meta or {}).get("seed", settings.DEMO_SEED)) if seed is None else seed
    rng = np.random.default_rng([int(seed), 11])
    if end is None:
        meta_end = (demo.meta or {}).get("end")
        end = datetime.fromisoformat(meta_end) if meta_end else datetime.now().astimezone()
    roads = demo_roads(demo, seed) if roads is None else roads
    lon, lat, _ = populated_centres(demo.villages, demo.groups)
    utm = utm_crs_for(float(np.mean(lon)), float(np.mean(lat)))
    fwd = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    inv = pyproj.Transformer.from_crs(utm, 4326, always_xy=True)
    cx, cy = fwd.transform(lon, lat)
    secs = _sections(demo, roads, cx, cy, fwd, rng)
    codes = demo.villages["code"].astype(str).tolist()
    names = demo.villages["name"].astype(str).tolist()
    groups_by_v = demo.groups.groupby(demo.groups["parent_code"].astype(str)).indices
    gp = shapely.get_coordinates(shapely.point_on_surface(
        np.asarray(demo.groups.geometry.values, dtype=object)))
    gpx, gpy = fwd.transform(gp[:, 0], gp[:, 1])
    officer = dict(zip(demo.officer_villages["village_code"].astype(str),
                       demo.officer_villages["officer_code"].map(dict(zip(
                           demo.officers["code"], demo.officers["name"], strict=True))),
                       strict=True))
    areas, sections, tracks, checks = [], [], [], []
    local_end = end.astimezone(ZoneInfo(settings.PATROL_TIMEZONE))
    monday = local_end.date() - timedelta(days=local_end.weekday() + 7 * WEEKS)
    week0 = datetime.combine(monday, datetime.min.time(), local_end.tzinfo)
    for v, code in enumerate(codes):
        a1 = _rect(cx[v], cy[v], 150, 150, rng.uniform(0, np.pi / 2))
        gi = groups_by_v.get(code, [])
        g = gi[rng.integers(len(gi))] if len(gi) else None
        ax, ay = (gpx[g], gpy[g]) if g is not None else (cx[v] + 400, cy[v] + 300)
        kind2, label2 = AREA_KINDS[int(rng.integers(len(AREA_KINDS)))]
        a2 = _rect(ax, ay, 120, 80, rng.uniform(0, np.pi))
        k1 = ("village_committee", "村委会") if rng.random() < 0.5 else ("market", "集市")
        areas += [(f"{code}-A1", code, f"{names[v]}{k1[1]}", k1[0], a1),
                  (f"{code}-A2", code, f"{names[v]}{label2}", kind2, a2)]
        sec = secs[v]
        sections.append((f"{code}-S1", code,
                         f"{names[v]}{SECTION_NAMES[int(rng.integers(len(SECTION_NAMES)))]}",
                         sec))
        sc = shapely.get_coordinates(sec)
        diligence = rng.choice(3, p=[0.4, 0.35, 0.25])
        team = f"{names[v]}治安巡逻队"
        for w in range(WEEKS + 1):
            n = int(rng.integers(*((3, 6), (2, 4), (0, 3))[diligence]))
            for k, day in enumerate(np.sort(rng.choice(7, size=min(n, 7), replace=False))):
                night = rng.random() < 0.3
                hour = rng.uniform(21.75, 23.75) if night else rng.uniform(8, 16.5)
                start = week0 + timedelta(days=7 * w + int(day), hours=float(hour))
                partial = diligence > 0 and rng.random() < (0.3 if diligence == 1 else 0.5)
                frac = rng.uniform(0.4, 0.75) if partial else 1.0
                run = shapely.get_coordinates(shapely.ops.substring(sec, 0, frac * sec.length)) \
                    if frac < 1 else sc
                if rng.random() < 0.5:
                    run = run[::-1]
                pts = [np.array([[cx[v], cy[v]]]), run]
                visit2 = rng.random() < 0.45
                if visit2:
                    pts.append(np.array([[ax, ay]]))
                xy = _route(pts, rng)
                speed = rng.uniform(1.2, 1.6) if rng.random() < 0.6 else rng.uniform(3.5, 5)
                seg = np.hypot(*np.diff(xy, axis=0).T)
                t = start.timestamp() + np.r_[0, np.cumsum(seg / speed)]
                if t[-1] >= end.timestamp():
                    continue
                sid = f"{code}-w{w}-{k}"
                tracks.append({"feature": len(tracks) + 1, "source_id": sid,
                               "name": f"{names[v]}{'夜巡' if night else '日巡'}", "team": team,
                               "officer": officer.get(code), "t0": t[0], "t1": t[-1],
                               "n_points": len(t), "xy": xy, "t": np.round(t, 3)})
                if visit2 and rng.random() < 0.5:
                    checks.append((f"{sid}-c", sid, team, officer.get(code), label2,
                                   t[-1] + 30, xy[-1, 0], xy[-1, 1]))
            if rng.random() < 0.25:
                when = week0 + timedelta(days=7 * w + int(rng.integers(7)),
                                         hours=float(rng.uniform(9, 17)))
                if when < end:
                    checks.append((f"{code}-w{w}-g", None, f"{names[v]}网格员", None, k1[1],
                                   when.timestamp(), cx[v] + rng.normal(0, 20),
                                   cy[v] + rng.normal(0, 20)))
    return DemoPatrols(*_frames(areas, sections, tracks, checks, inv))


def _frames(areas: list, sections: list, tracks: list, checks: list,
            inv: pyproj.Transformer) -> tuple:
    def to_ll(geoms: list) -> np.ndarray:
        return shapely.transform(np.asarray(geoms, dtype=object),
                                 lambda c: np.column_stack(inv.transform(c[:, 0], c[:, 1])))

    crs = settings.STORAGE_SRID
    a = gpd.GeoDataFrame(pd.DataFrame([r[:4] for r in areas],
                                      columns=["code", "village_code", "name", "kind"]),
                         geometry=list(shapely.multipolygons(
                             to_ll([r[4] for r in areas])[:, None])), crs=crs)
    s = gpd.GeoDataFrame(pd.DataFrame([r[:3] for r in sections],
                                      columns=["code", "village_code", "name"]),
                         geometry=list(shapely.multilinestrings(
                             to_ll([r[3] for r in sections])[:, None])), crs=crs)
    if tracks:  # one inverse projection for every vertex of every track
        lo, la = inv.transform(*np.concatenate([r["xy"] for r in tracks]).T)
        cut = np.cumsum([len(r["xy"]) for r in tracks])[:-1]
        for r, x, y in zip(tracks, np.split(lo, cut), np.split(la, cut), strict=True):
            r["parts"] = [np.column_stack([x, y, r.pop("t")])]
            del r["xy"]
    lengths = tr.track_lengths_m([r["parts"] for r in tracks])
    for r, length in zip(tracks, lengths, strict=True):
        r["lon"], r["lat"] = r["parts"][0][0, 0], r["parts"][0][0, 1]
        r["length_m"] = float(length)
    t = tr.frame_of(tracks)
    c = pd.DataFrame(checks, columns=["source_id", "patrol", "team", "officer", "note",
                                      "t", "x", "y"])
    c["lon"], c["lat"] = inv.transform(c["x"].to_numpy(float), c["y"].to_numpy(float))
    c = c.drop(columns=["x", "y"])
    c["checked_at"] = pd.to_datetime(np.round(c["t"].to_numpy(float) * 1e6).astype(np.int64),
                                     unit="us", utc=True)
    return a, s, t, c.drop(columns="t")


Step = Callable[[str, int, int], None]


def load_demo_patrols(engine: Engine, demo, progress: Step | None = None,
                      roads=None) -> dict[str, int]:
    """Generate and store the demo's patrol data in one transaction (idempotent: areas and
    sections are upserted by code, tracks and check-ins skipped when present). Returns
    counts: key_areas, key_sections, patrols_new, checkins_new."""
    step = progress or (lambda s, d, t: None)
    step("patrols", 0, 2)
    p = build_patrols(demo, roads=roads)
    step("patrols", 1, 2)
    adcode = str(demo.county["adcode"].iloc[0])
    with engine.begin() as conn:
        pl.save_places(conn, p.areas, "areas", adcode, SOURCE)
        pl.save_places(conn, p.sections, "sections", adcode, SOURCE)
        res = tr.insert_patrols(conn, p.tracks, adcode, SOURCE)
        cres = ck.insert_checkins(conn, p.checkins, adcode, SOURCE)
    step("patrols", 2, 2)
    return {"key_areas": len(p.areas), "key_sections": len(p.sections),
            "patrols_new": int(res["new"].sum()) if len(res) else 0,
            "checkins_new": int(cres["new"].sum()) if len(cres) else 0}
