"""Leader review (研判会商, ``/review``): the weekly meeting (周例会) and bi-weekly analysis
(双周研判) of one area.

Choose the area (the county, a township or a village) and the period (an ISO week, or the two
weeks ending with it); the page shows the hot-spot map (Gi* classes of the period, or the
emerging hot-spot patterns of the last weeks), the change on the previous period (charts and
a table per township / village / group), the response standard (share of villages and of the
population within 5 / 10 km and 10 / 20 minutes), 一村一警一连 gaps, KPIs and rankings,
patrol compliance. Clicking a row of a table, or an area on the map, drills down township →
village (→ its groups); the trail above the map goes back up. "Export briefing" downloads the
same HTML and PDF as ``wangge report weekly``.

URL: ``/review?area=CODE&week=YYYY-Www&weeks=2``. Ids start with ``review-``; the content
comes from :func:`dashboard.report.briefing.build_briefing` (cached per area and period).

With the login on, every figure is computed from the rows of the user's jurisdiction only
(:func:`dashboard.data.store`, row-level security; the cache is per jurisdiction) and the
default area is the user's own unit; the grids, units and posts of the version in force
are reference data, read once and shared.
"""

from __future__ import annotations

import logging
import tempfile
import time
from typing import Any

import dash
import sqlalchemy as sa
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import data, review_view
from dashboard.report.briefing import Briefing, build_briefing
from dashboard.review_data import Base, load_base
from dashboard.review_period import Period, latest_full_week, parse_period
from gis._errors import WanggeError
from layers.i18n import normalise_lang, t

dash.register_page(__name__, path="/review", name=t("page.review"), name_key="page.review",
                   order=4, title=t("page.review"))

log = logging.getLogger(__name__)

WEEK_CHOICES = 16
"""Weeks offered in the week list (the latest whole week and the ones before)."""
BRIEFING_TTL_S = 120.0
"""Seconds a built review stays cached (per database, area and period)."""
DATA_ERRORS: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError, WanggeError, OSError)


def base() -> Base | None:
    """Grids of the version in force (read once per version), None when there is none."""
    vid = data.version_in_force()
    if vid is None:
        return None
    adcode = data.config().adcode

    def build() -> Base:
        with data.engine().connect() as conn:  # reference data: grids, units, posts
            return load_base(conn, adcode)

    return data.cached(("review-base", data._url(), vid, adcode), None, build, shared=True)


def briefing(area: str | None, period: Period) -> Briefing:
    """The review of ``area`` for ``period`` (cached :data:`BRIEFING_TTL_S` seconds)."""
    b = base()
    if b is None:
        msg = "no grid version in force"
        raise WanggeError(msg)
    key = ("review-briefing", data._url(), b.vid, area or b.adcode, period.label, period.weeks)
    return data.cached(key, BRIEFING_TTL_S,
                       lambda: build_briefing(data.store(), area or b.adcode, period, base=b))


def _home_area(b: Base) -> str:
    """The area shown first: the logged-in user's unit when it is a township or village of
    the county, else the county."""
    user = data.current_user()
    unit = str(getattr(user, "unit_code", "") or "")
    known = set(b.townships["code"].astype(str)) | set(b.villages["code"].astype(str))
    return unit if unit in known else b.adcode


def area_options(b: Base, value: str | None, lang: str) -> list[dict[str, str]]:
    """County, its townships, and the villages of the township of ``value``."""
    opts = [{"label": f"{b.county_name}（{t('review.level.county', lang)}）", "value": b.adcode}]
    town = value[:9] if value and len(value) >= 9 else None
    for code, name in zip(b.townships["code"], b.townships["name"], strict=True):
        opts.append({"label": f"· {name}", "value": str(code)})
        if str(code) == town:
            v = b.villages[b.villages["township_code"] == town]
            opts += [{"label": f"· · {n}", "value": str(c)}
                     for c, n in zip(v["code"], v["name"], strict=True)]
    return opts


def _seg(cid: str, value: Any) -> dcc.RadioItems:
    return dcc.RadioItems(id=cid, value=value, inline=True, options=[], className="wg-pl-seg",
                          inputClassName="wg-pl-seg-input", labelClassName="wg-pl-seg-label")


def layout(area: str | None = None, week: str | None = None, weeks: str | None = None,
           **_kwargs: Any) -> html.Div:
    """Toolbar (area, week, period length, map view, export) and the review body."""
    try:
        b = base()
        if b is None:
            return html.Div(html.Div(t("review.no_data"), className="wg-empty",
                                     id="review-empty"), className="wg-review", id="review")
        with data.connect() as conn:
            latest = latest_full_week(conn, b.adcode)
    except DATA_ERRORS as e:
        return html.Div(html.Div(t("review.error", e=str(e)), className="wg-empty",
                                 id="review-empty"), className="wg-review", id="review")
    n_weeks = 2 if str(weeks) == "2" else 1
    choices = [latest.shifted(-k).label for k in range(WEEK_CHOICES)]
    week = week if week in choices else (parse_period(week).label if week else latest.label)
    if week not in choices:
        choices.insert(0, week)
    value = area if area else _home_area(b)
    toolbar = html.Div([
        html.Div([html.Span(id="review-l-area", className="wg-pl-key"),
                  dcc.Dropdown(id="review-area", value=value, clearable=False,
                               options=area_options(b, value, "zh"), className="wg-rv-area")],
                 className="wg-pl-tool"),
        html.Div([html.Span(id="review-l-week", className="wg-pl-key"),
                  dcc.Dropdown(id="review-week", value=week, clearable=False,
                               options=[{"label": w, "value": w} for w in choices],
                               className="wg-rv-week")], className="wg-pl-tool"),
        html.Div(_seg("review-weeks", n_weeks), className="wg-pl-tool"),
        html.Div([html.Span(id="review-l-view", className="wg-pl-key"),
                  _seg("review-view", "gi")], className="wg-pl-tool"),
        html.Div([html.Button(id="review-export", n_clicks=0, className="wg-pl-btn"),
                  html.Span(id="review-export-status", className="wg-pl-muted"),
                  dcc.Download(id="review-dl-html"), dcc.Download(id="review-dl-pdf")],
                 className="wg-pl-tool wg-rv-export"),
    ], className="wg-pl-toolbar", id="review-toolbar")
    body = dcc.Loading(html.Div(id="review-body", className="wg-rv-body"), type="dot",
                       color="#3fb6e8", parent_className="wg-rv-loading")
    return html.Div([toolbar, body], className="wg-review", id="review")


@callback(Output("review-l-area", "children"), Output("review-l-week", "children"),
          Output("review-l-view", "children"), Output("review-weeks", "options"),
          Output("review-view", "options"), Output("review-export", "children"),
          Input("app-lang", "data"))
def translate(lang: str | None) -> tuple[Any, ...]:
    """Labels of the toolbar in the chosen language."""
    lang = normalise_lang(lang)
    return (t("review.area", lang), t("review.week", lang), t("review.map_view", lang),
            [{"label": t(f"review.weeks.{n}", lang), "value": n} for n in (1, 2)],
            [{"label": t(f"review.view.{v}", lang), "value": v} for v in ("gi", "emerging")],
            t("review.export", lang))


@callback(Output("review-area", "options"), Input("review-area", "value"),
          Input("app-lang", "data"), prevent_initial_call=True)
def options(value: str | None, lang: str | None) -> list[dict[str, str]] | Any:
    """Area choices: the villages of the chosen township are listed under it."""
    b = base()
    return no_update if b is None else area_options(b, value, normalise_lang(lang))


@callback(Output("review-area", "value"),
          Input({"type": "review-drill", "table": ALL, "code": ALL}, "n_clicks"),
          Input({"type": "review-up", "code": ALL}, "n_clicks"),
          Input(f"{review_view.PREFIX}layer-{review_view.PARTS_LAYER}", "clickData"),
          prevent_initial_call=True)
def drill(_rows: list[int], _up: list[int], click: dict[str, Any] | None) -> Any:
    """A clicked row / area goes one level down; a link of the trail goes up."""
    trig = ctx.triggered_id
    if isinstance(trig, dict):
        # the clicks of the triggering row, from the inputs themselves (ctx.triggered can
        # report a stale value for pattern-matching inputs)
        clicks = [item.get("value") for group in ctx.inputs_list[:2] for item in group
                  if item["id"] == trig]
        return str(trig["code"]) if any(clicks) else no_update
    if click:
        props = click.get("properties") or click
        code = props.get("code")
        if code and len(str(code)) <= 12:
            return str(code)
    return no_update


@callback(Output("review-body", "children"), Input("review-area", "value"),
          Input("review-week", "value"), Input("review-weeks", "value"),
          Input("review-view", "value"), Input("app-lang", "data"))
def render(area: str | None, week: str | None, weeks: int | None, view: str | None,
           lang: str | None) -> list[Any]:
    """The review of the chosen area and period: map on the left, figures on the right."""
    lang = normalise_lang(lang)
    try:
        period = parse_period(week or "", int(weeks or 1))
        b = briefing(area, period)
    except DATA_ERRORS as e:
        return [html.Div(t("review.error", lang, e=str(e)), className="wg-empty",
                         id="review-empty")]
    left = html.Div([review_view.breadcrumbs(b, lang),
                     html.Div(t("review.drill", lang), className="wg-pl-muted"),
                     review_view.review_map(b, view or "gi", lang)], className="wg-rv-left")
    right = html.Div(review_view.panels(b, lang), className="wg-rv-right", id="review-panels")
    return [html.Div([left, right], className="wg-rv-main")]


@callback(Output("review-dl-html", "data"), Output("review-dl-pdf", "data"),
          Output("review-export-status", "children"), Input("review-export", "n_clicks"),
          State("review-area", "value"), State("review-week", "value"),
          State("review-weeks", "value"), State("app-lang", "data"),
          running=[(Output("review-export", "disabled"), True, False)],
          prevent_initial_call=True)
def export(n: int, area: str | None, week: str | None, weeks: int | None,
           lang: str | None) -> tuple[Any, Any, str]:
    """Build the briefing files (as ``wangge report weekly``) and download them."""
    from dashboard.report.export import write_briefing

    lang = normalise_lang(lang)
    if not n:
        return no_update, no_update, ""
    t0 = time.perf_counter()
    try:
        period = parse_period(week or "", int(weeks or 1))
        with tempfile.TemporaryDirectory(prefix="wangge-briefing-") as tmp:
            files = write_briefing(data.store(), area, period, tmp, lang=lang, base=base())
            html_out = dcc.send_file(str(files.html))
            pdf_out = dcc.send_file(str(files.pdf)) if files.pdf else no_update
    except DATA_ERRORS as e:
        log.warning("review: export failed (%s)", e)
        return no_update, no_update, t("review.export.failed", lang, e=str(e))
    return html_out, pdf_out, t("review.export.done", lang, name=files.html.stem,
                                pages=files.pages, s=f"{time.perf_counter() - t0:.0f}")
