"""The one translation table of every visible string (zh-CN default, English).

Layers, legends, tooltips and dashboard pages never hold display text themselves: they hold
keys of :data:`TABLE` and ask :func:`t` for the text in the user's language at render time.
Texts may contain ``str.format`` fields (``{lo}``, ``{n}``), filled in by :func:`t`.
"""

from __future__ import annotations

import logging

from gis import settings

LANGS: tuple[str, ...] = ("zh", "en")
"""Supported languages; the first one is the default."""

DEFAULT_LANG = LANGS[0]

log = logging.getLogger(__name__)

TABLE: dict[str, tuple[str, str]] = {
    # --- application shell --------------------------------------------------------------
    "app.title": ("网格化服务管理指挥中心", "Grid Service Management Command Centre"),
    "app.brand": ("网格", "Wangge"),
    "app.lang.zh": ("中文", "中文"),
    "app.lang.en": ("EN", "EN"),
    "app.lang.switch": ("切换语言", "Switch language"),
    "app.synthetic": ("演示数据（合成）", "Demo data (synthetic)"),
    "page.home": ("指挥中心", "Command centre"),
    # --- home page ----------------------------------------------------------------------
    "home.subtitle": ("全科网格 · 一张图", "Unified grid · one map"),
    "home.villages": ("村级网格", "Village grids"),
    "home.groups": ("组级网格", "Group grids"),
    "home.incidents": ("事件总数", "Incidents"),
    "home.population": ("覆盖人口", "Population"),
    "home.townships": ("乡镇（街道）", "Townships"),
    "home.no_data": ("暂无生效的网格版本：请先导入并发布网格"
                     "（wangge demo 或 wangge grids import）。",
                     "No grid version in force: import and publish grids first "
                     "(wangge demo or wangge grids import)."),
    "home.groups_hint": ("放大至 {z} 级显示组级网格", "Zoom to level {z} to show group grids"),
    "home.legend": ("图例", "Legend"),
    "home.version": ("网格版本", "Grid version"),
    "home.ranking": ("事件高发村 TOP {n}", "Top {n} villages by incidents"),
    "home.ranking_empty": ("暂无事件", "No incidents"),
    # --- layers -------------------------------------------------------------------------
    "layer.county": ("县（区）界", "County boundary"),
    "layer.townships": ("乡镇（街道）界", "Township boundaries"),
    "layer.villages": ("村级网格（一级）", "Village grids (level 1)"),
    "layer.groups": ("组级网格（二级）", "Group grids (level 2)"),
    "layer.incidents": ("事件分布（按组级网格汇总）", "Incidents (per group grid)"),
    "layer.basemap": ("底图", "Basemap"),
    "layer.township_labels": ("乡镇名称", "Township names"),
    "layer.village_labels": ("村名称", "Village names"),
    # --- legend -------------------------------------------------------------------------
    "legend.county": ("县（区）界", "County boundary"),
    "legend.township": ("乡镇（街道）界", "Township boundary"),
    "legend.village": ("村级网格", "Village grid"),
    "legend.group": ("组级网格", "Group grid"),
    "legend.range": ("{lo}–{hi} 件", "{lo}–{hi} incidents"),
    "legend.single": ("{lo} 件", "{lo} incident(s)"),
    "legend.atleast": ("≥ {lo} 件", "≥ {lo} incidents"),
    "legend.class_range": ("{lo} – {hi}", "{lo} – {hi}"),
    "legend.class_atleast": ("≥ {lo}", "≥ {lo}"),
    "legend.class_below": ("< {hi}", "< {hi}"),
    # --- feature fields (tooltips, popups) ----------------------------------------------
    "field.name": ("名称", "Name"),
    "field.code": ("编码", "Code"),
    "field.village": ("所属村", "Village"),
    "field.township": ("所属乡镇", "Township"),
    "field.population": ("人口", "Population"),
    "field.households": ("户数", "Households"),
    "field.area_km2": ("面积（km²）", "Area (km²)"),
    "field.worker": ("网格员", "Grid worker"),
    "field.n": ("事件数", "Incidents"),
    "field.groups": ("组级网格数", "Group grids"),
    # --- 一村一警一连 coverage, police posts, cameras (layers.forces) ---------------------
    "layer.force_coverage": ("一村一警一连覆盖", "Officer and militia company per village"),
    "layer.police_posts": ("派出所 / 警务室", "Police stations / offices"),
    "layer.cameras": ("雪亮工程视频覆盖（按网格汇总）", "Camera coverage (per grid)"),
    "legend.coverage.ok": ("一警一连齐全", "Officer and militia company in place"),
    "legend.coverage.officer_overloaded": ("民警包村超过 {n} 个",
                                           "Officer covers more than {n} villages"),
    "legend.coverage.post_far": ("民警驻点超 {km} 公里或未登记",
                                 "Officer's post beyond {km} km or unknown"),
    "legend.coverage.no_militia": ("无民兵连", "No militia company"),
    "legend.coverage.no_officer": ("无驻村民警", "No police officer"),
    "legend.police_post": ("派出所 / 警务室", "Police station / office"),
    "legend.share_range": ("覆盖 {lo}%–{hi}%", "{lo}–{hi} % covered"),
    "legend.share_full": ("覆盖 {v}%", "{v} % covered"),
    "field.officer": ("驻村民警", "Police officer"),
    "field.officer_villages": ("民警包村数", "Villages of the officer"),
    "field.post": ("民警驻点", "Officer's post"),
    "field.post_km": ("驻点距离（km）", "Distance to post (km)"),
    "field.company": ("民兵连", "Militia company"),
    "field.commander": ("民兵连长", "Company commander"),
    "field.strength": ("民兵人数", "Militia strength"),
    "field.officers": ("民警数", "Officers"),
    "field.villages_served": ("包村数", "Villages served"),
    "field.cameras": ("摄像头数", "Cameras"),
    "field.camera_share": ("人口密集区覆盖率（%）", "Populated area covered (%)"),
    # --- wall display 大屏 (dashboard/pages/wall.py) and its layers --------------------------
    "page.wall": ("指挥大屏", "Wall display"),
    "wall.subtitle": ("实时态势", "Live picture"),
    "wall.asof": ("数据更新于", "Data as of"),
    "wall.stale": ("⚠ 数据已 {s} 秒未更新 · 显示 {t} 的数据",
                   "⚠ No new data for {s} s · showing data of {t}"),
    "wall.db_down": ("⚠ 数据库无法连接 · 显示 {t} 的数据",
                     "⚠ Database unreachable · showing data of {t}"),
    "wall.db_down_empty": ("⚠ 数据库无法连接 · 暂无数据", "⚠ Database unreachable · no data yet"),
    "wall.legend": ("图例", "Legend"),
    "wall.theme": ("专题", "Theme"),
    "wall.theme.plain": ("网格", "Grids"),
    "wall.theme.density": ("事件密度", "Incident density"),
    "wall.theme.hotspots": ("热点 Gi*", "Hot spots Gi*"),
    "wall.theme.coverage": ("一村一警一连", "Officer & militia"),
    "wall.layers": ("图层", "Layers"),
    "wall.ov.groups": ("组级网格", "Group grids"),
    "wall.ov.live": ("近24小时事件", "Last 24 h incidents"),
    "wall.ov.rings": ("5/10公里圈", "5/10 km rings"),
    "wall.ov.cameras": ("视频监控", "Cameras"),
    "wall.ov.patrols": ("巡防轨迹（暂无数据）", "Patrols (no data)"),
    "wall.view": ("当前视图", "View"),
    "wall.view.county": ("全域", "Whole county"),
    "wall.kpi.today": ("今日事件", "Today"),
    "wall.kpi.open": ("在办事件", "Open"),
    "wall.kpi.overdue": ("超期事件", "Overdue"),
    "wall.kpi.escalated": ("升级督办", "Escalated"),
    "wall.kpi.on_time": ("按期办结率", "On-time closure"),
    "wall.kpi.satisfaction": ("群众满意率", "Satisfaction"),
    "wall.kpi.vs_yesterday": ("较昨日同期 {d}", "vs. yesterday {d}"),
    "wall.kpi.awaiting": ("待分流 {n}", "{n} awaiting dispatch"),
    "wall.kpi.share_open": ("占在办 {p}", "{p} of open"),
    "wall.kpi.levels": ("乡镇 {t} · 县级 {c}", "township {t} · county {c}"),
    "wall.kpi.resolved_n": ("近{d}日 · 办结 {n} 件", "last {d} days · {n} resolved"),
    "wall.kpi.answered_n": ("近{d}日 · 回访 {n} 件", "last {d} days · {n} answered"),
    "wall.feed.new": ("最新事件", "Newest incidents"),
    "wall.feed.overdue": ("超期督办", "Overdue"),
    "wall.feed.empty": ("暂无", "None"),
    "wall.feed.overdue_by": ("超期 {d}", "{d} overdue"),
    "wall.feed.escalated": ("{level}督办", "to {level}"),
    "wall.level.village": ("村级", "village"),
    "wall.level.township": ("乡镇", "township"),
    "wall.level.county": ("县级", "county"),
    "wall.status.received": ("已受理", "Received"),
    "wall.status.dispatched": ("已分派", "Dispatched"),
    "wall.status.in_progress": ("办理中", "In progress"),
    "wall.status.resolved": ("已办结", "Resolved"),
    "wall.status.followed_up": ("已回访", "Followed up"),
    "wall.status.closed": ("已归档", "Closed"),
    "wall.status.reopened": ("重新办理", "Reopened"),
    "wall.dur.min": ("{m}分钟", "{m} min"),
    "wall.dur.hm": ("{h}小时{m}分", "{h} h {m} min"),
    "wall.dur.dh": ("{d}天{h}小时", "{d} d {h} h"),
    "wall.chart.trend": ("近{d}日事件趋势", "Incidents per day, last {d} days"),
    "wall.chart.kinds": ("事件类型（近{d}日）", "By kind, last {d} days"),
    "wall.chart.today": ("今日", "today"),
    "layer.density": ("事件密度（按村）", "Incident density (per village)"),
    "layer.live": ("近24小时事件（按组汇总）", "Incidents, last 24 h (per group grid)"),
    "layer.hotspots": ("热点分析 Gi*（按村）", "Hot spots Gi* (per village)"),
    "layer.rings": ("响应圈（5/10公里）", "Response rings (5 / 10 km)"),
    "layer.posts": ("派出所 / 警务室", "Police stations / offices"),
    "layer.coverage": ("一村一警一连", "Officer and militia company per village"),
    "layer.camera_counts": ("视频监控（按村汇总）", "Cameras (per village)"),
    "legend.hot": ("热点（{c}% 置信）", "Hot spot ({c} % confidence)"),
    "legend.cold": ("冷点（{c}% 置信）", "Cold spot ({c} % confidence)"),
    "legend.not_significant": ("不显著", "Not significant"),
    "legend.ring": ("{km}公里 · {min}分钟到达", "{km} km · {min} min"),
    "legend.post": ("派出所 / 警务室", "Police station / office"),
    "legend.cov_ok": ("警、连齐全（{n}村）", "Officer and militia ({n})"),
    "legend.cov_no_militia": ("缺民兵连（{n}村）", "No militia company ({n})"),
    "legend.cov_no_officer": ("缺驻村民警（{n}村）", "No police officer ({n})"),
    "legend.cov_none": ("警、连均缺（{n}村）", "Neither ({n})"),
    "legend.cam_range": ("{lo}–{hi} 路", "{lo}–{hi} cameras"),
    "legend.cam_single": ("{lo} 路", "{lo} camera(s)"),
    "legend.cam_atleast": ("≥ {lo} 路", "≥ {lo} cameras"),
    "legend.window": ("统计近{d}日", "last {d} days"),
    "legend.window_24h": ("统计近24小时", "last 24 hours"),
    "field.gi_bin": ("热点等级", "Gi* bin"),
    "field.value": ("数值", "Value"),
    "field.camera_n": ("摄像头数", "Cameras"),
    # --- planner page (dashboard/pages/planner) ------------------------------------------------
    # --- operator desk (dashboard/pages/desk) --------------------------------------------------
    # --- leader review and weekly report (dashboard/pages/review, wangge report) ---------------
    # --- patrols (gis/patrols, layers) ---------------------------------------------------------
    # --- KPIs and rankings (gis/kpi) -----------------------------------------------------------
    # --- address review queue ------------------------------------------------------------------
    # --- reach, isochrones and siting layers ---------------------------------------------------
    "layer.isochrones": ("派出所车程等时圈", "Drive-time isochrones of police posts"),
    "layer.siting": ("新增警务室选址", "Sites for new police posts"),
    "legend.isochrone": ("{min}分钟车程可达", "Within {min} min by road"),
    "legend.site_candidate": ("候选位置", "Candidate site"),
    "legend.site_chosen": ("建议新址", "Proposed new post"),
    "field.reach_post": ("派出所 / 警务室", "Police station / office"),
    "field.minutes": ("车程（分钟）", "Drive time (min)"),
    "field.site_rank": ("建议顺序", "Rank"),
    "field.gain_population": ("新增覆盖人口", "Population newly covered"),
    # --- login, users and audit ----------------------------------------------------------------
    # --- operations (serve, backup, load) ------------------------------------------------------
}
"""Key → (Chinese, English)."""

for _kind, _zh in settings.INCIDENT_KINDS.items():
    TABLE[f"kind.{_kind}"] = (_zh, {
        "public_security": "Public-security case", "property_crime": "Robbery / theft",
        "criminal": "Criminal case", "dispute": "Dispute", "petition": "Petition",
        "fire": "Fire hazard", "flood": "Flood hazard", "forest_fire": "Forest-fire hazard",
        "work_safety": "Work safety", "environment": "Environment",
        "public_health": "Public health", "citizen_request": "Citizen request",
    }.get(_kind, _kind))


def normalise_lang(lang: str | None) -> str:
    """``lang`` if supported (``"zh-CN"`` → ``"zh"``), else the default language."""
    if not lang:
        return DEFAULT_LANG
    short = str(lang).split("-")[0].split("_")[0].lower()
    return short if short in LANGS else DEFAULT_LANG


def has(key: str) -> bool:
    """Whether ``key`` is in the table."""
    return key in TABLE


def t(key: str, lang: str = DEFAULT_LANG, **fields: object) -> str:
    """The text of ``key`` in ``lang``, with ``fields`` filled in.

    Parameters
    ----------
    key : str
        Key of :data:`TABLE`. An unknown key is returned as is (and logged), so a missing
        translation shows up on screen instead of breaking the page.
    lang : str
        ``"zh"`` (default) or ``"en"``; anything else falls back to Chinese.
    **fields
        Values for the ``{name}`` fields of the text.

    Returns
    -------
    str
    """
    pair = TABLE.get(key)
    if pair is None:
        log.warning("no translation for %r", key)
        return key
    text = pair[LANGS.index(normalise_lang(lang))]
    return text.format(**fields) if fields else text
