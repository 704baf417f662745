"""Panels of the wall display (``/wall``): KPI tiles, live feed rows and the two trend charts.

Pure functions of a :class:`dashboard.wall_data.Snapshot` and the language; shared by the
first paint (:mod:`dashboard.wall_layout`) and every refresh (:mod:`dashboard.wall_callbacks`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from dash import html

from dashboard import wall_data
from gis import settings
from gis._errors import WanggeError
from layers.i18n import has, t

PREFIX = "wall-"
DATA_ERRORS: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, WanggeError, OSError)
"""Failures to read the data (database down or refusing, …): the page keeps its picture."""
KPIS: tuple[str, ...] = ("today", "open", "overdue", "escalated", "on_time", "satisfaction")

BAR = "#3fb6e8"
BAR_TODAY = "#fd8d3c"
BAR_KIND = "#7fe3ff"
TEXT = "#d6e6f5"
MUTED = "#8aa4bf"
GRID_LINE = "#1d3a5a"


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.WALL_TIMEZONE)


def _clock_text(when: datetime) -> str:
    return when.astimezone(_tz()).strftime("%H:%M:%S")


def _kind(kind: str, lang: str) -> str:
    return t(f"kind.{kind}", lang) if has(f"kind.{kind}") else kind


def _duration(seconds: float, lang: str) -> str:
    m = max(0, int(seconds // 60))
    if m < 60:
        return t("wall.dur.min", lang, m=m)
    h, m = divmod(m, 60)
    if h < 24:
        return t("wall.dur.hm", lang, h=h, m=m)
    d, h = divmod(h, 24)
    return t("wall.dur.dh", lang, d=d, h=h)


kind_text = _kind
"""Translated name of an incident kind (the key itself when it is not in the catalogue)."""
duration_text = _duration
"""A duration in seconds as "5分钟" / "2小时5分" / "3天4小时" (translated, whole minutes)."""


def _pct(r: float | None) -> str:
    return "—" if r is None else f"{100 * r:.1f}%"



def _kpi(key: str, value: str, sub: str, lang: str, tone: str = "") -> html.Div:
    return html.Div([html.Div(t(f"wall.kpi.{key}", lang), className="wg-kpi-label"),
                     html.Div(value, className="wg-kpi-value", id=f"wall-kpi-{key}"),
                     html.Div(sub, className="wg-kpi-sub")],
                    className=f"wg-kpi wg-kpi-{key}" + (f" is-{tone}" if tone else ""))


def kpi_tiles(snap: wall_data.Snapshot | None, lang: str) -> list[html.Div]:
    """The six KPI tiles (dashes when there is no data)."""
    if snap is None:
        return [_kpi(k, "—", "", lang) for k in KPIS]
    k = snap.kpis
    diff = k["today"] - k["yesterday_same_time"]
    arrow = "▲" if diff > 0 else ("▼" if diff < 0 else "＝")
    share = _pct(k["overdue"] / k["open"]) if k["open"] else "—"
    days = f"{k['window_days']:g}"
    return [
        _kpi("today", f"{k['today']:,}",
             t("wall.kpi.vs_yesterday", lang, d=f"{arrow}{abs(diff):,}"), lang),
        _kpi("open", f"{k['open']:,}", t("wall.kpi.awaiting", lang, n=f"{k['awaiting']:,}"),
             lang),
        _kpi("overdue", f"{k['overdue']:,}", t("wall.kpi.share_open", lang, p=share), lang,
             tone="warn" if k["overdue"] else ""),
        _kpi("escalated", f"{k['escalated']:,}",
             t("wall.kpi.levels", lang, t=f"{k['township']:,}", c=f"{k['county']:,}"), lang,
             tone="alert" if k["escalated"] else ""),
        _kpi("on_time", _pct(k["on_time_rate"]),
             t("wall.kpi.resolved_n", lang, d=days, n=f"{k['resolved']:,}"), lang, tone="good"),
        _kpi("satisfaction", _pct(k["satisfaction_rate"]),
             t("wall.kpi.answered_n", lang, d=days, n=f"{k['answered']:,}"), lang, tone="good"),
    ]


def _when(at: datetime, now: datetime) -> str:
    local, today = at.astimezone(_tz()), now.astimezone(_tz()).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%m-%d %H:%M")


def feed_rows(rows: list[dict[str, Any]], now: datetime, lang: str) -> list[html.Div]:
    """Feed rows: time, kind, village (township), state; overdue / escalated marked with a
    badge and a coloured edge (never colour alone)."""
    if not rows:
        return [html.Div(t("wall.feed.empty", lang), className="wg-feed-empty")]
    out = []
    for r in rows:
        badges: list[Any] = []
        if r["overdue"] and r["overdue_s"] is not None:
            badges.append(html.Span("◷ " + t("wall.feed.overdue_by", lang,
                                             d=_duration(r["overdue_s"], lang)),
                                    className="wg-badge wg-badge-overdue"))
        if r["escalated"]:
            badges.append(html.Span("▲ " + t("wall.feed.escalated", lang,
                                             level=t(f"wall.level.{r['level']}", lang)),
                                    className="wg-badge wg-badge-escalated"))
        cls = "wg-feed-row" + (" is-overdue" if r["overdue"] else "") + \
            (" is-escalated" if r["escalated"] else "")
        out.append(html.Div([
            html.Span(_when(r["occurred_at"], now), className="wg-feed-time"),
            html.Div([
                html.Div([html.Span(_kind(r["kind"], lang), className="wg-feed-kind"),
                          html.Span(t(f"wall.status.{r['status']}", lang)
                                    if has(f"wall.status.{r['status']}") else r["status"],
                                    className="wg-feed-status")], className="wg-feed-line"),
                html.Div([html.Span(r["village"] or r["address"], className="wg-feed-village"),
                          html.Span(r["township"], className="wg-feed-town"), *badges],
                         className="wg-feed-line wg-feed-sub"),
            ], className="wg-feed-body"),
        ], className=cls, **{"data-incident": str(r["id"])}))
    return out


def _font(screen: dict[str, Any] | None) -> float:
    h = float((screen or {}).get("h") or 1080)
    return max(11.0, round(13.0 * h / 1080.0, 1))


def _fig_layout(screen: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    f = _font(screen)
    out = {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
           "font": {"color": TEXT, "size": f,
                    "family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"},
           "margin": {"l": 4 * f, "r": f, "t": f, "b": 2.2 * f}, "showlegend": False,
           "bargap": 0.25}
    return out | extra


def trend_figure(snap: wall_data.Snapshot | None, lang: str,
                 screen: dict[str, Any] | None = None) -> dict[str, Any]:
    """Incidents per day over the trend days (today's partial bar in orange)."""
    days: list[str] = []
    values: list[int] = []
    colors: list[str] = []
    if snap is not None:
        today = snap.as_of.astimezone(_tz()).date()
        per_day = snap.daily.groupby("day")["n"].sum() if len(snap.daily) else {}
        n_days = int(settings.WALL_TREND_DAYS)
        for i in range(n_days - 1, -1, -1):
            d = today.fromordinal(today.toordinal() - i)
            days.append(t("wall.chart.today", lang) if i == 0 else d.strftime("%m-%d"))
            values.append(int(per_day.get(d, 0)) if len(per_day) else 0)
            colors.append(BAR_TODAY if i == 0 else BAR)
    f = _font(screen)
    # one number on the bars: today's (the axis gives the scale of the others)
    trace = {"type": "bar", "x": days, "y": values, "marker": {"color": colors},
             "text": [f"{v:,}" if i == len(values) - 1 else "" for i, v in enumerate(values)],
             "textposition": "outside", "textfont": {"size": f, "color": BAR_TODAY},
             "cliponaxis": False}
    return {"data": [trace], "layout": _fig_layout(
        screen, xaxis={"tickfont": {"size": f * 0.8}, "showgrid": False, "fixedrange": True,
                       "tickangle": 0, "nticks": 8},
        yaxis={"gridcolor": GRID_LINE, "zeroline": False, "fixedrange": True,
               "tickfont": {"size": f * 0.8}, "rangemode": "tozero"})}


def kinds_figure(snap: wall_data.Snapshot | None, lang: str,
                 screen: dict[str, Any] | None = None, top: int = 8) -> dict[str, Any]:
    """Incidents per kind over the trend days (the ``top`` kinds, largest on top)."""
    labels: list[str] = []
    values: list[int] = []
    if snap is not None and len(snap.daily):
        per = snap.daily.groupby("kind")["n"].sum().sort_values(ascending=False).head(top)
        per = per.iloc[::-1]
        labels = [_kind(k, lang) for k in per.index]
        values = [int(v) for v in per.to_numpy()]
    f = _font(screen)
    trace = {"type": "bar", "orientation": "h", "x": values, "y": labels,
             "marker": {"color": BAR_KIND}, "text": [f"{v:,}" for v in values],
             "textposition": "outside", "textfont": {"size": f * 0.85, "color": TEXT},
             "cliponaxis": False}
    return {"data": [trace], "layout": _fig_layout(
        screen, margin={"l": 7.5 * f if lang == "zh" else 11 * f, "r": 3.5 * f, "t": f * 0.5,
                        "b": f * 0.5},
        xaxis={"visible": False, "fixedrange": True},
        yaxis={"fixedrange": True, "tickfont": {"size": f * 0.9}, "automargin": False})}
