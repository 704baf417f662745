"""Synthetic incidents of the demo county, generated fully vectorised.

Locations are a mixture of (a) population-weighted points inside the villager groups (each
village has its own random incident rate, so some villages stand out) and (b) about twenty
Gaussian hotspots, some present all along, some appearing only in later weeks and some
fading out, so week-over-week hotspots change. Times follow a daily cycle per kind of
incident, a weekly cycle, a slight trend and day-to-day noise. Everything is SYNTHETIC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from data.boundary import Projector
from data.divisions import Divisions
from data.names import person_names
from gis import settings

TZ = ZoneInfo("Asia/Shanghai")
"""Time zone of the demo county."""
WEEKS = 12
"""Length of the generated period, weeks."""
HOTSPOTS = 20
"""Number of Gaussian hotspots."""
HOTSPOT_SHARE = 0.2
"""Share of incidents that come from the hotspots."""

KIND_WEIGHTS: dict[str, float] = {
    "citizen_request": 0.27, "dispute": 0.22, "public_security": 0.11, "property_crime": 0.06,
    "criminal": 0.012, "petition": 0.05, "fire": 0.05, "flood": 0.02, "forest_fire": 0.018,
    "work_safety": 0.05, "environment": 0.08, "public_health": 0.06,
}
"""Relative frequency of each kind (kinds of settings.INCIDENT_KINDS missing here: 0.02)."""

_PROFILE = {"citizen_request": "day", "petition": "day", "environment": "day",
            "public_health": "day", "work_safety": "day", "dispute": "evening",
            "public_security": "evening", "fire": "evening", "property_crime": "night",
            "criminal": "night", "forest_fire": "afternoon", "flood": "flat"}
_H = np.arange(24)
_HOURS = {
    "day": 0.15 + np.exp(-(_H - 10) ** 2 / 6) + 0.9 * np.exp(-(_H - 15.5) ** 2 / 6),
    "evening": 0.25 + 0.5 * np.exp(-(_H - 11) ** 2 / 10) + np.exp(-(_H - 20) ** 2 / 5),
    "night": 0.3 + np.exp(-np.minimum(np.abs(_H - 1), 24 - np.abs(_H - 1)) ** 2 / 8),
    "afternoon": 0.1 + np.exp(-(_H - 14) ** 2 / 8),
    "flat": np.ones(24),
}
_WEEKDAY = {"day": [1.1, 1.05, 1, 1, 1, 0.7, 0.6], "evening": [0.9, 0.9, 0.9, 0.95, 1.1, 1.3, 1.25],
            "night": [1, 1, 1, 1, 1.1, 1.15, 1.05], "afternoon": [1] * 7, "flat": [1] * 7}

DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "public_security": ("酒后滋事，扰乱公共秩序", "村口有人聚众斗殴", "深夜噪音扰民，劝阻无效",
                        "有人在集市强买强卖"),
    "property_crime": ("农户家中电动车被盗", "夜间仓库农资被盗", "村民反映手机被抢",
                       "养殖户羊只丢失，疑似被盗"),
    "criminal": ("疑似电信诈骗，被骗钱款", "发生故意伤害案件", "发现疑似非法种植",
                 "入室盗窃金额较大"),
    "dispute": ("邻里因宅基地边界发生纠纷", "土地流转费用纠纷", "家庭矛盾，需调解",
                "灌溉用水分配纠纷", "务工工资拖欠纠纷", "婚姻家庭纠纷"),
    "petition": ("群众反映征地补偿问题", "反映低保评定不公", "反映村务不公开", "反映拆迁安置问题"),
    "fire": ("村道旁柴草堆放存在火灾隐患", "电线私拉乱接", "秸秆焚烧", "小作坊消防通道堵塞"),
    "flood": ("渠道渗漏，有决口风险", "低洼地段积水", "河道行洪区有违建"),
    "forest_fire": ("山林附近有人野外用火", "祭祀用火隐患", "防火期进山人员未登记"),
    "work_safety": ("砂石场作业无防护", "农用车违规载人", "加油点安全管理不到位",
                    "建筑工地脚手架不稳"),
    "environment": ("畜禽养殖粪污直排", "垃圾乱堆乱放", "渠道漂浮垃圾", "企业夜间偷排废水"),
    "public_health": ("饮用水水质异常", "食品小作坊卫生差", "发现病死畜禽", "疫苗接种咨询"),
    "citizen_request": ("路灯损坏请求维修", "村道破损请求修补", "咨询医保报销政策",
                        "申请办理残疾证", "请求疏通排水沟", "反映自来水停水"),
}
"""Short Chinese descriptions per kind (one is picked at random)."""


@dataclass
class Hotspot:
    """Truth of the generated hotspots (metric centre, spread, active weeks, main kind)."""

    x: np.ndarray
    y: np.ndarray
    sigma_m: np.ndarray
    first_week: np.ndarray
    last_week: np.ndarray
    kind: np.ndarray
    weight: np.ndarray


def resolve_end(end: datetime | None) -> datetime:
    """``end`` as an aware Asia/Shanghai datetime; ``None`` → now, floored to the minute.

    A naive ``end`` is taken as Asia/Shanghai local time.
    """
    if end is None:
        end = datetime.now(TZ)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=TZ)
    return end.astimezone(TZ).replace(second=0, microsecond=0)


def _kinds() -> tuple[list[str], np.ndarray]:
    keys = list(settings.INCIDENT_KINDS)
    w = np.array([KIND_WEIGHTS.get(k, 0.02) for k in keys], dtype=float)
    return keys, w / w.sum()


def _triangles(div: Divisions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangles of all mesh cells: vertex array (n, 3, 2), owning cell, area (m²)."""
    tri = shapely.constrained_delaunay_triangles(div.mesh.cells)
    parts, cell = shapely.get_parts(tri, return_index=True)
    xy = shapely.get_coordinates(shapely.get_exterior_ring(parts)).reshape(len(parts), 4, 2)
    xy = xy[:, :3, :]
    area = 0.5 * np.abs((xy[:, 1, 0] - xy[:, 0, 0]) * (xy[:, 2, 1] - xy[:, 0, 1])
                        - (xy[:, 2, 0] - xy[:, 0, 0]) * (xy[:, 1, 1] - xy[:, 0, 1]))
    return xy, cell, area


def _in_triangles(rng: np.random.Generator, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One uniform point in each triangle, kept 1 % away from its edges (barycentric)."""
    u, w = rng.random(len(xy)), rng.random(len(xy))
    flip = u + w > 1
    u, w = np.where(flip, 1 - u, u), np.where(flip, 1 - w, w)
    b = np.column_stack([1 - u - w, u, w]) * 0.97 + 0.01
    return (b * xy[:, :, 0]).sum(1), (b * xy[:, :, 1]).sum(1)


def _hotspots(div: Divisions, rng: np.random.Generator, keys: list[str]) -> Hotspot:
    m = div.mesh
    p = div.mass / div.mass.sum()
    cells = rng.choice(len(m), HOTSPOTS, replace=False, p=p)
    centre = shapely.point_on_surface(m.cells[cells])
    first = np.zeros(HOTSPOTS, np.int64)
    last = np.full(HOTSPOTS, WEEKS - 1, np.int64)
    n_new, n_old = HOTSPOTS // 5, HOTSPOTS // 5
    first[:n_new] = rng.integers(WEEKS // 2, WEEKS - 1, n_new)  # appear in later weeks
    last[n_new:n_new + n_old] = rng.integers(2, WEEKS // 2, n_old)  # fade out
    main = np.array(["property_crime", "dispute", "public_security", "environment",
                     "citizen_request", "fire"], dtype=object)
    kind = main[rng.integers(0, len(main), HOTSPOTS)]
    kind = np.array([k if k in keys else keys[0] for k in kind], dtype=object)
    return Hotspot(x=shapely.get_x(centre), y=shapely.get_y(centre),
                   sigma_m=rng.uniform(150.0, 500.0, HOTSPOTS), first_week=first,
                   last_week=last, kind=kind, weight=rng.lognormal(0.0, 0.5, HOTSPOTS))


def build_incidents(div: Divisions, county_m: BaseGeometry, projector: Projector,
                    rng: np.random.Generator, n: int, end: datetime,
                    township_names: np.ndarray, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate ``n`` incidents in the :data:`WEEKS` weeks before ``end``.

    Returns
    -------
    incidents : pandas.DataFrame
        source, source_id, kind, occurred_at (Asia/Shanghai), reported_at, lon, lat
        (EPSG:4490 degrees), address, description, reporter, hotspot (row of the hotspot
        table, -1 for background incidents); sorted by occurred_at.
    hotspots : pandas.DataFrame
        The hotspots' truth: lon, lat, sigma_m, first_week, last_week (0 = oldest week),
        kind, weight.
    """
    keys, kind_p = _kinds()
    hs = _hotspots(div, rng, keys)
    kind_idx = rng.choice(len(keys), n, p=kind_p)
    from_hot = rng.random(n) < HOTSPOT_SHARE
    hot = np.full(n, -1, np.int64)
    hot[from_hot] = rng.choice(HOTSPOTS, int(from_hot.sum()), p=hs.weight / hs.weight.sum())
    # hotspot incidents are mostly of the hotspot's main kind
    main = from_hot & (rng.random(n) < 0.6)
    kind_idx[main] = [keys.index(k) for k in hs.kind[hot[main]]]

    # --- background locations: triangle ∝ density × area × village rate -------------------
    xy, cell, area = _triangles(div)
    v_rate = rng.lognormal(0.0, 0.45, len(div.villages["code"]))
    dens = div.mass / div.mesh.area
    w_pop = dens[cell] * area * v_rate[div.village_of_cell[cell]]
    w_wild = area / (1.0 + dens[cell])  # forest fires and floods: sparse land
    wild = np.isin(np.asarray(keys, dtype=object)[kind_idx], ["forest_fire", "flood"])
    x, y = np.empty(n), np.empty(n)
    for mask, w in ((~from_hot & ~wild, w_pop), (~from_hot & wild, w_wild)):
        k = int(mask.sum())
        t = np.searchsorted(np.cumsum(w), rng.random(k) * w.sum(), side="right")
        t = np.minimum(t, len(w) - 1)
        x[mask], y[mask] = _in_triangles(rng, xy[t])
    # --- hotspot locations: Gaussian around the centre, redrawn when outside --------------
    idx = np.flatnonzero(from_hot)
    h = hot[idx]
    todo = np.ones(len(idx), bool)
    for _ in range(8):
        k = int(todo.sum())
        if k == 0:
            break
        hx = hs.x[h[todo]] + rng.normal(0, 1, k) * hs.sigma_m[h[todo]]
        hy = hs.y[h[todo]] + rng.normal(0, 1, k) * hs.sigma_m[h[todo]]
        ok = shapely.contains_xy(county_m, hx, hy)
        sel = np.flatnonzero(todo)[ok]
        x[idx[sel]], y[idx[sel]] = hx[ok], hy[ok]
        todo[sel] = False
    x[idx[todo]], y[idx[todo]] = hs.x[h[todo]], hs.y[h[todo]]

    occurred = _times(rng, n, end, keys, kind_idx, hot, hs)
    order = np.lexsort((np.arange(n), occurred))
    x, y, kind_idx, occurred, hot = x[order], y[order], kind_idx[order], occurred[order], hot[order]
    lon, lat = projector.xy_to_storage(x, y)
    kinds = np.asarray(keys, dtype=object)[kind_idx]
    delay = np.round(rng.lognormal(np.log(15 * 60), 1.0, n)).astype(np.int64)
    end_s = int(end.timestamp())
    reported = np.minimum(occurred + delay, end_s)
    df = pd.DataFrame({
        "source": "demo",
        "source_id": [f"demo{seed}-{end:%Y%m%d%H%M}-{i:06d}" for i in range(1, n + 1)],
        "kind": kinds,
        "occurred_at": pd.to_datetime(occurred, unit="s", utc=True).tz_convert(TZ),
        "reported_at": pd.to_datetime(reported, unit="s", utc=True).tz_convert(TZ),
        "lon": np.round(lon, 7), "lat": np.round(lat, 7),
        "address": _addresses(div, rng, x, y, township_names),
        "description": _descriptions(rng, kinds),
        "reporter": _reporters(rng, n),
        "hotspot": hot,
    })
    hlon, hlat = projector.xy_to_storage(hs.x, hs.y)
    hotspots = pd.DataFrame({"lon": hlon, "lat": hlat, "sigma_m": hs.sigma_m,
                             "first_week": hs.first_week, "last_week": hs.last_week,
                             "kind": hs.kind, "weight": hs.weight})
    return df, hotspots


def _times(rng: np.random.Generator, n: int, end: datetime, keys: list[str],
           kind_idx: np.ndarray, hot: np.ndarray, hs: Hotspot) -> np.ndarray:
    """Occurrence times, Unix seconds, inside [end - WEEKS weeks, end)."""
    start = end - timedelta(weeks=WEEKS)
    day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
    n_days = (end.date() - day0.date()).days + 1
    dates = [day0.date() + timedelta(days=d) for d in range(n_days)]
    weekday = np.array([d.weekday() for d in dates])
    trend = np.linspace(0.9, 1.1, n_days) * rng.lognormal(0.0, 0.12, n_days)
    t0, t_start, t_end = int(day0.timestamp()), int(start.timestamp()), int(end.timestamp())
    out = np.empty(n, np.int64)
    profile = np.array([_PROFILE.get(k, "flat") for k in keys], dtype=object)[kind_idx]
    # week of each local day, counted from the start of the period (0 = oldest)
    week = np.clip((np.arange(n_days) * 86_400 + t0 - t_start + 43_200) // (7 * 86_400),
                   0, WEEKS - 1)
    todo = np.ones(n, bool)
    while todo.any():
        for name, hours in _HOURS.items():
            for h_id in np.unique(hot[todo & (profile == name)]):
                sel = np.flatnonzero(todo & (profile == name) & (hot == h_id))
                w = trend * np.asarray(_WEEKDAY[name])[weekday]
                if h_id >= 0:
                    w = w * ((week >= hs.first_week[h_id]) & (week <= hs.last_week[h_id]))
                d = rng.choice(n_days, len(sel), p=w / w.sum())
                hr = rng.choice(24, len(sel), p=hours / hours.sum())
                out[sel] = t0 + d * 86_400 + hr * 3_600 + rng.integers(0, 3_600, len(sel))
        todo = (out < t_start) | (out >= t_end)
    return out


def _addresses(div: Divisions, rng: np.random.Generator, x: np.ndarray, y: np.ndarray,
               township_names: np.ndarray) -> np.ndarray:
    """"甘州区<乡镇><村><社>" for most incidents; coarser or missing for some."""
    tree = shapely.STRtree(div.mesh.cells)
    pts = shapely.points(x, y)
    pi, ci = tree.query(pts, predicate="intersects")
    cell = np.zeros(len(x), np.int64)
    cell[pi] = ci
    g = div.group_of_cell[cell]
    v = div.village_of_cell[cell]
    t = div.township_of_cell[cell]
    town = township_names[t]
    vil = div.villages["name"][v]
    grp = div.groups["name"][g]
    level = rng.choice(4, len(x), p=[0.88, 0.07, 0.03, 0.02])
    full = [f"甘州区{a}{b}{c}" for a, b, c in zip(town, vil, grp, strict=True)]
    out = np.asarray(full, dtype=object)
    out[level == 1] = [f"甘州区{a}{b}" for a, b in zip(town[level == 1], vil[level == 1],
                                                     strict=True)]
    out[level == 2] = [f"甘州区{a}附近" for a in town[level == 2]]
    out[level == 3] = None
    return out


def _descriptions(rng: np.random.Generator, kinds: np.ndarray) -> np.ndarray:
    out = np.empty(len(kinds), dtype=object)
    u = rng.random(len(kinds))
    for k in np.unique(kinds):
        sel = kinds == k
        texts = np.asarray(DESCRIPTIONS.get(k, (str(settings.INCIDENT_KINDS.get(k, k)),)),
                           dtype=object)
        out[sel] = texts[(u[sel] * len(texts)).astype(np.int64)]
    return out


def _reporters(rng: np.random.Generator, n: int) -> np.ndarray:
    names = person_names(rng, n)
    kind = rng.choice(4, n, p=[0.55, 0.25, 0.12, 0.08])
    out = np.where(kind == 0, "群众" + names.astype(str), "网格员" + names.astype(str))
    out = out.astype(object)
    out[kind == 2] = "110转警"
    out[kind == 3] = "12345热线"
    return out
