"""Synthetic forces of the demo county: police posts, officers (一村一警), militia companies
(一村一连) and cameras (雪亮工程).

Coverage gaps are built in on purpose, so that the planners' checks have something to find:
about 3 % of villages get no officer and about 2 % no militia company, some villages have no
camera at their centre, and officers of large townships sit far from some of their villages.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from data.boundary import Projector
from data.divisions import Divisions
from data.names import TOWNSHIPS, person_names
from gis import settings

EXTRA_POSTS = 7
"""Police offices (警务室) in large villages far from the township seat, besides one police
station (派出所) per township."""
OFFICER_VILLAGES_P = (0.35, 0.35, 0.2, 0.1)
"""Probabilities that an officer covers 1, 2, 3 or 4 villages."""
VILLAGES_WITHOUT_OFFICER = 0.03
"""Share of villages left without an officer."""
VILLAGES_WITHOUT_MILITIA = 0.02
"""Share of villages left without a militia company."""
MILITIA_STRENGTH = (30, 120)
"""Fewest and most members of a militia company."""
CAMERAS = 3_000
"""Approximate number of cameras."""
CAMERA_ON_ROADS = 0.4
"""Share of cameras placed along roads (the rest around village centres)."""
CAMERA_RADIUS_M = (30.0, 80.0)
"""Range of the view radius of a camera, metres."""


@dataclass
class Forces:
    """Posts and cameras (GeoDataFrames, EPSG:4490) and the officer / militia tables."""

    posts: gpd.GeoDataFrame
    officers: pd.DataFrame
    officer_villages: pd.DataFrame
    militia: pd.DataFrame
    cameras: gpd.GeoDataFrame


def anchors(div: Divisions) -> np.ndarray:
    """A point inside every mesh cell (metric), used as a settlement / seat location."""
    return shapely.point_on_surface(div.mesh.cells)


def _points(projector: Projector, x: np.ndarray, y: np.ndarray) -> gpd.GeoSeries:
    lon, lat = projector.xy_to_storage(x, y)
    return gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=settings.STORAGE_SRID)


def _inside(county_m: BaseGeometry, x: np.ndarray, y: np.ndarray, ax: np.ndarray,
            ay: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points outside the county fall back to their anchor (ax, ay)."""
    ok = shapely.contains_xy(county_m, x, y)
    return np.where(ok, x, ax), np.where(ok, y, ay)


def build_forces(adcode: str, div: Divisions, county_m: BaseGeometry, projector: Projector,
                 rng: np.random.Generator) -> Forces:
    """Generate posts, officers, their villages, militia companies and cameras.

    Parameters
    ----------
    adcode : str
        County adcode (prefix of the codes).
    div : Divisions
        The county's townships, villages and groups (metric).
    county_m : shapely geometry
        County boundary, metric CRS.
    projector : Projector
        Converts metric coordinates to EPSG:4490.
    rng : numpy.random.Generator
        Random source.
    """
    shapely.prepare(county_m)
    pts = anchors(div)
    px, py = shapely.get_x(pts), shapely.get_y(pts)
    t, v = div.townships, div.villages
    n_t, n_v = len(t["code"]), len(v["code"])
    vx, vy = px[v["centre"]], py[v["centre"]]
    sx, sy = px[t["seat"]], py[t["seat"]]

    # --- posts: a station at each township seat, offices in far, large villages -----------
    far = np.hypot(vx - sx[v["township"]], vy - sy[v["township"]])
    score = np.where(far > 6_000.0, v["population"] * rng.uniform(0.5, 1.5, n_v), -1.0)
    extra = np.argsort(-score, kind="stable")[:EXTRA_POSTS]
    extra = np.sort(extra[score[extra] > 0])
    short = [s.short for s in TOWNSHIPS]
    post_town = np.concatenate([np.arange(n_t), v["township"][extra]])
    posts = gpd.GeoDataFrame({
        "code": [f"{adcode}PS{i + 1:03d}" for i in range(n_t + len(extra))],
        "name": [f"{short[i]}派出所" for i in range(n_t)] + [f"{v['name'][j]}警务室"
                                                           for j in extra],
        "kind": ["派出所"] * n_t + ["警务室"] * len(extra),
        "township_code": list(t["code"][post_town]),
    }, geometry=_points(projector, np.concatenate([sx, vx[extra]]),
                        np.concatenate([sy, vy[extra]])))
    post_x = np.concatenate([sx, vx[extra]])
    post_y = np.concatenate([sy, vy[extra]])

    # --- officers: chunks of 1-4 neighbouring villages, a few villages left out -----------
    n_gap = max(1, round(VILLAGES_WITHOUT_OFFICER * n_v))
    gap = np.zeros(n_v, bool)
    gap[rng.choice(n_v, n_gap, replace=False)] = True
    off_rows: list[tuple[int, list[int]]] = []
    for town in range(n_t):
        vs = [int(j) for j in np.flatnonzero((v["township"] == town) & ~gap)]
        while vs:
            k = int(rng.choice(4, p=OFFICER_VILLAGES_P)) + 1
            off_rows.append((town, vs[:k]))
            vs = vs[k:]
    n_o = len(off_rows)
    codes = [f"{adcode}JY{i + 1:04d}" for i in range(n_o)]
    post_of = []
    for town, vs in off_rows:
        cand = np.flatnonzero(post_town == town)
        d = np.hypot(post_x[cand] - vx[vs].mean(), post_y[cand] - vy[vs].mean())
        # most officers work from the station; those near an office use it
        post_of.append(int(cand[np.argmin(d)]) if rng.random() < 0.5 else int(cand[0]))
    officers = pd.DataFrame({
        "code": codes, "name": person_names(rng, n_o),
        "post_code": posts["code"].to_numpy()[post_of],
        "township_code": t["code"][[town for town, _ in off_rows]],
        "n_villages": [len(vs) for _, vs in off_rows],
    })
    officer_villages = pd.DataFrame({
        "officer_code": [c for c, (_, vs) in zip(codes, off_rows, strict=True) for _ in vs],
        "village_code": [v["code"][j] for _, vs in off_rows for j in vs],
    })

    # --- militia: one company per village except a few ------------------------------------
    keep = np.ones(n_v, bool)
    keep[rng.choice(n_v, max(1, round(VILLAGES_WITHOUT_MILITIA * n_v)), replace=False)] = False
    idx = np.flatnonzero(keep)
    rank = np.argsort(np.argsort(v["population"][idx])) / max(len(idx) - 1, 1)
    lo, hi = MILITIA_STRENGTH
    strength = np.clip(np.round(lo + (hi - lo) * rank + rng.normal(0, 8, len(idx))), lo, hi)
    militia = pd.DataFrame({
        "code": [f"{c}MB" for c in v["code"][idx]],
        "village_code": v["code"][idx],
        "name": [f"{n}民兵连" for n in v["name"][idx]],
        "commander": person_names(rng, len(idx)),
        "strength": strength.astype(np.int64),
    })
    return Forces(posts=posts, officers=officers, officer_villages=officer_villages,
                  militia=militia,
                  cameras=_cameras(adcode, div, county_m, projector, rng, vx, vy, sx, sy))


def _cameras(adcode: str, div: Divisions, county_m: BaseGeometry, projector: Projector,
             rng: np.random.Generator, vx: np.ndarray, vy: np.ndarray, sx: np.ndarray,
             sy: np.ndarray) -> gpd.GeoDataFrame:
    """Cameras clustered at village centres and along the roads village → seat → city."""
    v = div.villages
    n_v = len(v["code"])
    rate = np.sqrt(v["population"]) * rng.lognormal(0.0, 0.5, n_v)
    rate[rng.random(n_v) < 0.05] = 0.0  # villages whose centre has no camera yet
    n_village = rng.multinomial(round(CAMERAS * (1 - CAMERA_ON_ROADS)), rate / rate.sum())
    who = np.repeat(np.arange(n_v), n_village)
    r = np.abs(rng.normal(0, 250.0, len(who)))
    a = rng.uniform(0, 2 * np.pi, len(who))
    cx, cy = _inside(county_m, vx[who] + r * np.cos(a), vy[who] + r * np.sin(a),
                     vx[who], vy[who])
    # roads: village centre → township seat, and township seat → the seat nearest the city
    town = v["township"]
    hub = int(np.argmin(np.hypot(sx - sx.mean(), sy - sy.mean())))
    ax = np.concatenate([vx, sx])
    ay = np.concatenate([vy, sy])
    bx = np.concatenate([sx[town], np.full(len(sx), sx[hub])])
    by = np.concatenate([sy[town], np.full(len(sy), sy[hub])])
    seg_len = np.hypot(bx - ax, by - ay)
    n_road = CAMERAS - len(who)
    seg = rng.choice(len(ax), n_road, p=seg_len / seg_len.sum())
    f = rng.random(n_road)
    off = rng.normal(0, 15.0, n_road)
    nx_, ny_ = -(by - ay)[seg] / np.maximum(seg_len[seg], 1), (bx - ax)[seg] / np.maximum(
        seg_len[seg], 1)
    rx = ax[seg] + f * (bx - ax)[seg] + off * nx_
    ry = ay[seg] + f * (by - ay)[seg] + off * ny_
    rx, ry = _inside(county_m, rx, ry, ax[seg], ay[seg])
    x, y = np.concatenate([cx, rx]), np.concatenate([cy, ry])
    n = len(x)
    dome = rng.random(n) < 0.15
    return gpd.GeoDataFrame({
        "code": [f"{adcode}SX{i + 1:05d}" for i in range(n)],
        "placement": np.where(np.arange(n) < len(who), "village", "road"),
        "village_code": np.concatenate([v["code"][who], np.full(n_road, None, dtype=object)]),
        "radius_m": np.round(rng.uniform(*CAMERA_RADIUS_M, n), 1),
        "direction_deg": np.round(rng.uniform(0, 360, n), 1),
        "angle_deg": np.where(dome, 360.0, rng.choice([60.0, 90.0, 120.0], n)),
    }, geometry=_points(projector, x, y))
