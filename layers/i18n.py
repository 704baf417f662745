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
