"""Plotly charts of the review: the same figures on the ``/review`` page and in the briefing.

Every figure has a fixed size when made for print (``width`` / ``height`` in CSS pixels), so
it draws the same on screen and on paper, and a light (paper) or dark (screen) theme. Colours:
this period in Okabe-Ito vermillion, the previous one in grey-blue, distinguishable with every
common colour-vision deficiency.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from dashboard.review_data import IncidentChange
from layers.i18n import has, t

NOW_COLOR = "#d55e00"
"""Bars / line of the period (Okabe-Ito vermillion)."""
PREV_COLOR = "#8da0b3"
"""Bars / line of the previous period."""
TREND_COLOR = "#0072b2"
"""Weekly trend bars (Okabe-Ito blue); the period's own weeks in :data:`NOW_COLOR`."""

THEMES: dict[str, dict[str, str]] = {
    "paper": {"bg": "#ffffff", "text": "#1f2d3d", "grid": "#e3e8ee", "font": "WenQuanYi Zen Hei"},
    "dark": {"bg": "rgba(0,0,0,0)", "text": "#d6e6f5", "grid": "#1d3a5a",
             "font": "inherit"},
}


def kind_label(kind: str, lang: str) -> str:
    """Translated incident kind (the key itself when unknown)."""
    return t(f"kind.{kind}", lang) if has(f"kind.{kind}") else kind


def _layout(fig: go.Figure, title: str, theme: str, width: int | None,
            height: int | None) -> go.Figure:
    th = THEMES[theme]
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        paper_bgcolor=th["bg"], plot_bgcolor=th["bg"],
        font={"color": th["text"], "family": th["font"], "size": 11},
        margin={"l": 48, "r": 12, "t": 40, "b": 36}, width=width, height=height,
        autosize=width is None, legend={"orientation": "h", "y": 1.02, "x": 1,
                                        "xanchor": "right", "yanchor": "bottom"},
        bargap=0.25)
    fig.update_xaxes(gridcolor=th["grid"], zeroline=False)
    fig.update_yaxes(gridcolor=th["grid"], zeroline=False, rangemode="tozero")
    return fig


def daily_figure(ch: IncidentChange, lang: str = "zh", theme: str = "paper",
                 width: int | None = None, height: int | None = None) -> go.Figure:
    """Incidents per day of the period against the same weekday of the previous period."""
    x = [d.strftime("%m-%d") + " " + t(f"review.weekday.{d.isoweekday()}", lang)
         for d in ch.daily["day"]]
    fig = go.Figure([
        go.Bar(x=x, y=ch.daily["n_prev"], name=t("review.previous", lang) + " " +
               ch.previous.label, marker_color=PREV_COLOR),
        go.Bar(x=x, y=ch.daily["n"], name=t("review.current", lang) + " " + ch.period.label,
               marker_color=NOW_COLOR, text=ch.daily["n"], textposition="outside"),
    ])
    fig.update_layout(barmode="group")
    return _layout(fig, t("review.chart.daily", lang), theme, width, height)


def weekly_figure(ch: IncidentChange, lang: str = "zh", theme: str = "paper",
                  width: int | None = None, height: int | None = None) -> go.Figure:
    """Incidents per ISO week over the trend weeks; the period's weeks highlighted."""
    w = ch.weekly
    current = {d for d in ch.period.days}
    colors = [NOW_COLOR if s in current else TREND_COLOR for s in w["start"]]
    fig = go.Figure([go.Bar(x=[s.split("-")[1] for s in w["week"]], y=w["n"],
                            marker_color=colors, text=w["n"], textposition="outside",
                            showlegend=False)])
    return _layout(fig, t("review.chart.weekly", lang, n=len(w)), theme, width, height)


def kinds_figure(ch: IncidentChange, lang: str = "zh", theme: str = "paper",
                 width: int | None = None, height: int | None = None,
                 top: int = 10) -> go.Figure:
    """Incidents per kind, this period against the previous one (the ``top`` kinds)."""
    k = ch.by_kind.head(top).iloc[::-1]
    y = [kind_label(x, lang) for x in k["kind"]]
    fig = go.Figure([
        go.Bar(y=y, x=k["n_prev"], orientation="h", name=t("review.previous", lang),
               marker_color=PREV_COLOR),
        go.Bar(y=y, x=k["n"], orientation="h", name=t("review.current", lang),
               marker_color=NOW_COLOR, text=k["n"], textposition="outside"),
    ])
    fig.update_layout(barmode="group")
    fig = _layout(fig, t("review.chart.kinds", lang), theme, width, height)
    fig.update_layout(margin={"l": 110})
    return fig


def parts_figure(ch: IncidentChange, part_level: str, lang: str = "zh", theme: str = "paper",
                 width: int | None = None, height: int | None = None,
                 top: int = 18) -> go.Figure:
    """Incidents per part of the area (townships, villages or groups), this period against
    the previous one (the ``top`` parts with most incidents)."""
    p = ch.by_part.head(top)
    fig = go.Figure([
        go.Bar(x=p["name"], y=p["n_prev"], name=t("review.previous", lang),
               marker_color=PREV_COLOR),
        go.Bar(x=p["name"], y=p["n"], name=t("review.current", lang), marker_color=NOW_COLOR),
    ])
    fig.update_layout(barmode="group")
    return _layout(fig, t("review.chart.parts", lang, level=t(f"review.level.{part_level}",
                                                               lang)), theme, width, height)


def figure_dict(fig: go.Figure) -> dict[str, Any]:
    """The figure as a plain dict (for ``dcc.Graph``)."""
    return fig.to_plotly_json()
