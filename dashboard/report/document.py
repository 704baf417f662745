"""The briefing as one self-contained HTML document, one A4 landscape page per section.

Everything is inline: Leaflet (from ``xstatic-leaflet``), plotly.js, the maps' GeoJSON, the
styles. The document makes no network request, opens offline from a file, and prints to
exactly :func:`planned_pages` pages: every section is a fixed-size sheet (297 × 210 mm) with
a page break after it, and its tables keep at most the rows that fit (saying how many were
left out). Maps and charts have fixed pixel sizes, so the printed picture is the screen's.
"""

from __future__ import annotations

import html as _html
import logging
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.offline
from sqlalchemy.engine import Engine

from dashboard.report import charts, map_layers, tables
from dashboard.report.briefing import Briefing
from dashboard.report.maps import (
    MapFragment,
    document_css,
    leaflet_assets,
    map_fragment,
)
from layers.i18n import t

log = logging.getLogger(__name__)

PAGES: tuple[str, ...] = ("summary", "hotspots", "patterns", "change", "parts", "standard",
                          "reach", "coverage-map", "coverage", "kpi", "rankings", "patrols")
"""Sections of the briefing, one printed page each, in order."""

CONTENT_W = 1030
"""Usable width of a page, CSS pixels (297 mm less 2 × 12 mm margins at 96 px / inch)."""
MAP_W, MAP_H = 640, 600
"""Size of a map beside a table."""
CHART_W, CHART_H = 505, 285
"""Size of one of four charts on a page."""

PAGE_CSS = """
@page { size: A4 landscape; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body { background: #d9dee4; font-family: "WenQuanYi Zen Hei", "Noto Sans CJK SC", sans-serif;
  color: #1f2d3d; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.page { width: 297mm; height: 210mm; padding: 9mm 12mm 8mm; margin: 8mm auto;
  background: #fff; position: relative; overflow: hidden; break-after: page;
  page-break-after: always; box-shadow: 0 1px 6px rgba(0,0,0,.25); }
.page:last-of-type { break-after: auto; page-break-after: auto; }
@media print { body { background: #fff; } .page { margin: 0; box-shadow: none; } }
.page-head { display: flex; align-items: baseline; justify-content: space-between;
  border-bottom: 2px solid #0b3a5e; padding-bottom: 4px; margin-bottom: 10px; }
.page-head h2 { margin: 0; font-size: 20px; color: #0b3a5e; letter-spacing: .06em; }
.page-head .where { font-size: 12px; color: #55657a; }
.page-foot { position: absolute; left: 12mm; right: 12mm; bottom: 4mm; font-size: 10px;
  color: #7a8899; display: flex; justify-content: space-between; }
.row { display: flex; gap: 14px; align-items: flex-start; }
.col { flex: 1 1 0; min-width: 0; }
table.wg { border-collapse: collapse; width: 100%; font-size: 11px; margin-bottom: 8px; }
table.wg caption { text-align: left; font-weight: 700; font-size: 13px; color: #0b3a5e;
  padding: 2px 0 5px; }
table.wg th { background: #0b3a5e; color: #fff; font-weight: 600; padding: 4px 5px;
  text-align: right; }
table.wg th:first-child, table.wg td:first-child, table.wg td.t, table.wg th.t {
  text-align: left; }
table.wg td { padding: 3px 5px; border-bottom: 1px solid #e3e8ee; text-align: right;
  white-space: nowrap; height: 20px; }
table.wg tr.total td { font-weight: 700; border-top: 2px solid #0b3a5e; background: #f3f6f9; }
.more, .note { font-size: 11px; color: #55657a; margin: 2px 0 8px; }
.cover h1 { font-size: 30px; margin: 30px 0 6px; color: #0b3a5e; letter-spacing: .08em; }
.cover .sub { font-size: 15px; color: #33475b; margin-bottom: 18px; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 12px 0 16px; }
.tile { border: 1px solid #c9d3de; border-left: 5px solid #0b3a5e; padding: 8px 10px;
  border-radius: 3px; }
.tile .v { font-size: 24px; font-weight: 700; color: #0b3a5e; }
.tile .l { font-size: 12px; color: #55657a; }
.tile .s { font-size: 11px; color: #7a8899; }
.tile.up { border-left-color: #d55e00; } .tile.down { border-left-color: #009e73; }
ul.findings { font-size: 13px; line-height: 1.7; margin: 6px 0 0 18px; padding: 0; }
.badge { display: inline-block; font-size: 11px; padding: 1px 6px; border-radius: 3px;
  background: #fdecd9; color: #8a3b00; margin-left: 8px; }
"""


@dataclass
class Document:
    """A rendered briefing."""

    html: str
    pages: int
    """Pages the PDF must have (:data:`PAGES`)."""
    maps: int
    """Maps in the document."""
    charts: int


def planned_pages() -> int:
    """Number of pages of every briefing (one per section of :data:`PAGES`)."""
    return len(PAGES)


def esc(x: object) -> str:
    """HTML-escaped text."""
    return _html.escape(str(x))


def table_html(tb: tables.Table, lang: str) -> str:
    """A :class:`dashboard.report.tables.Table` as an HTML table (and its notes)."""
    left = [c.fmt in ("text", "i18n", "i18n_list", "kind") for c in tb.columns]
    head = "".join(f'<th{" class=t" if lf else ""}>{esc(h)}</th>'
                   for h, lf in zip(tb.header(lang), left, strict=True))
    tds = ['<td class="t">' if lf else "<td>" for lf in left]
    body = "".join("<tr>" + "".join(f"{td}{esc(c)}</td>" for c, td in zip(row, tds, strict=True))
                   + "</tr>" for row in tables.translate_cells(tb, lang))
    tot = tables.total_cells(tb, lang)
    if tot is not None:
        body += '<tr class="total">' + "".join(f"<td>{esc(c)}</td>" for c in tot) + "</tr>"
    out = (f'<table class="wg" id="tbl-{esc(tb.id)}"><caption>{esc(tb.caption(lang))}'
           f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    if tb.omitted:
        out += f'<div class="more">{esc(t("review.more_rows", lang, n=tb.omitted))}</div>'
    if tb.note:
        out += f'<div class="note">{esc(t(tb.note, lang))}</div>'
    return out


class _Builder:
    def __init__(self, b: Briefing, lang: str, engine: Engine | None = None) -> None:
        self.b, self.lang = b, lang
        # the store the briefing was read through (the viewer's scope): the patrol map
        self.engine = engine if engine is not None else b.standards.store
        self.maps: list[MapFragment] = []
        self.n_charts = 0

    def t(self, key: str, **fields: object) -> str:
        return t(key, self.lang, **fields)

    def where(self) -> str:
        return f"{self.b.area.title} · {self.b.period.label}"

    def page(self, no: int, key: str, body: str) -> str:
        b = self.b
        synth = f'<span class="badge">{esc(self.t("app.synthetic"))}</span>' if b.synthetic \
            else ""
        foot = (f'<div class="page-foot"><span>{esc(self.t("review.report_title"))} · '
                f'{esc(self.where())}{synth}</span><span>'
                f'{esc(self.t("review.page_of", i=no, n=len(PAGES)))}</span></div>')
        head = "" if key == "summary" else (
            f'<div class="page-head"><h2>{esc(self.t(f"review.section.{key}"))}</h2>'
            f'<span class="where">{esc(self.where())}</span></div>')
        return (f'<section class="page" id="page-{key}" data-page="{no}">{head}{body}'
                f"{foot}</section>")

    def map(self, layers: list, width: int = MAP_W, height: int = MAP_H, fit: list | None = None
            ) -> str:
        frag = map_fragment(layers, self.lang, width=width, height=height, fit=fit)
        self.maps.append(frag)
        return frag.html

    def chart(self, fig: go.Figure) -> str:
        self.n_charts += 1
        return fig.to_html(full_html=False, include_plotlyjs=False,
                           config={"staticPlot": True, "displayModeBar": False},
                           div_id=f"chart-{self.n_charts}")

    def table(self, tb: tables.Table) -> str:
        return table_html(tb, self.lang)


def _tile(label: str, value: str, sub: str = "", cls: str = "") -> str:
    return (f'<div class="tile {cls}"><div class="v">{esc(value)}</div>'
            f'<div class="l">{esc(label)}</div><div class="s">{esc(sub)}</div></div>')


def _summary(x: _Builder) -> str:
    b, lang = x.b, x.lang
    ch = b.change
    pct = "—" if ch.change_pct is None else f"{ch.change_pct:+.1f}%"
    tot = b.standards.total()
    first = b.standards.flags[0] if b.standards.flags else None
    road = [f for f in b.standards.flags if f.startswith("meets_")]
    cov = b.coverage.by_part.iloc[-1]
    tiles = [
        _tile(x.t("review.tile.incidents"), f"{ch.total:,}",
              x.t("review.tile.vs_prev", n=f"{ch.total_prev:,}", d=f"{ch.change:+,}", p=pct),
              "up" if ch.change > 0 else "down"),
        _tile(x.t("review.tile.hot"), f"{b.hot.n_hot:,}",
              x.t("review.tile.hot_sub", cold=b.hot.n_cold,
                  level=tables.level_name("village" if b.hot.level == 1 else "group", lang))),
        _tile(x.t("review.tile.emerging"), f"{sum(v for k, v in b.hot.pattern_counts().items() if k.endswith('_hot')):,}",
              x.t("review.tile.emerging_sub", w=b.hot.emerging_weeks)),
        _tile(x.t("review.tile.gaps"), f"{int(cov['gaps']):,}",
              x.t("review.tile.gaps_sub", n=int(cov["villages"]))),
    ]
    if first:
        tiles.append(_tile(x.t("review.tile.pop_in", std=tables._flag_label(first)),
                           tables.fmt(tot.get(f"{first}_pop_share"), "pct"),
                           x.t("review.tile.units_in", p=tables.fmt(
                               tot.get(f"{first}_units_share"), "pct"))))
    if road:
        f = road[0]
        tiles.append(_tile(x.t("review.tile.pop_in", std=tables._flag_label(f)),
                           tables.fmt(tot.get(f"{f}_pop_share"), "pct"),
                           x.t("review.tile.units_in", p=tables.fmt(
                               tot.get(f"{f}_units_share"), "pct"))))
    k = b.kpi.total
    for key in ("on_time_rate", "satisfaction_rate"):
        if b.kpi.available and key in k:
            tiles.append(_tile(x.t(f"review.kpi.{key}"), tables.fmt(k.get(key), "pct"),
                               x.t("review.tile.kpi_sub")))
    findings = "".join(f"<li>{esc(s)}</li>" for s in findings_text(b, lang))
    body = (f'<div class="cover"><h1>{esc(x.t("review.report_title"))}</h1>'
            f'<div class="sub">{esc(b.area.title)} · {esc(period_text(b, lang))} · '
            f'{esc(x.t("review.generated", at=b.generated_at.strftime("%Y-%m-%d %H:%M")))}'
            f'</div><div class="tiles">{"".join(tiles[:8])}</div>'
            f'<h3>{esc(x.t("review.findings"))}</h3><ul class="findings">{findings}</ul></div>')
    return body


def period_text(b: Briefing, lang: str) -> str:
    """``2026-W47（2026-11-16 至 2026-11-22）``."""
    return t("review.period_text", lang, label=b.period.label, a=b.period.first_day.isoformat(),
             z=b.period.last_day.isoformat())


def findings_text(b: Briefing, lang: str) -> list[str]:
    """Key findings of the briefing, in numbers ("用数据说话")."""
    ch, out = b.change, []
    pct = "—" if ch.change_pct is None else f"{ch.change_pct:+.1f}%"
    out.append(t("review.find.total", lang, n=f"{ch.total:,}", prev=f"{ch.total_prev:,}",
                 d=f"{ch.change:+,}", p=pct))
    if len(ch.by_part) and ch.by_part["n"].iloc[0] > 0:
        top = ch.by_part.iloc[0]
        out.append(t("review.find.top_part", lang, name=top["name"], n=int(top["n"]),
                     level=tables.level_name(b.area.part_level, lang)))
    if len(ch.by_kind):
        k = ch.by_kind.iloc[0]
        out.append(t("review.find.top_kind", lang, kind=charts.kind_label(k["kind"], lang),
                     n=int(k["n"]), d=f"{int(k['change']):+,}"))
    cc = b.hot.class_counts()
    out.append(t("review.find.hot", lang, n=b.hot.n_hot, n99=cc.get("hot_99", 0),
                 level=tables.level_name("village" if b.hot.level == 1 else "group", lang)))
    pats = {k: v for k, v in b.hot.pattern_counts().items() if k.endswith("_hot")}
    if pats:
        out.append(t("review.find.patterns", lang, text="、".join(
            f"{t(f'review.pattern.{k}', lang)} {v}" for k, v in pats.items())))
    tot = b.standards.total()
    if b.standards.flags:
        parts = [f"{tables._flag_label(f)} {tables.fmt(tot.get(f'{f}_pop_share'), 'pct')}"
                 for f in b.standards.flags]
        out.append(t("review.find.standard", lang, text="，".join(parts),
                     n=len(b.standards.outside)))
    cov = b.coverage.by_part.iloc[-1]
    out.append(t("review.find.coverage", lang, gaps=int(cov["gaps"]), n=int(cov["villages"]),
                 officer=int(cov["villages"] - cov["with_officer"]),
                 militia=int(cov["villages"] - cov["with_militia"])))
    siwu = b.kpi.siwu
    if siwu is not None and "siwu" in siwu and len(siwu):
        out.append(t("review.find.siwu", lang, n=int(siwu["siwu"].sum()), total=len(siwu)))
    if b.patrols.available and b.patrols.weeks and not b.patrols.note:
        w = b.patrols.weeks[-1]
        out.append(t("review.find.patrols", lang, sp=w.get("sections_passed", 0),
                     st=w.get("sections_total", 0), ap=w.get("areas_passed", 0),
                     at=w.get("areas_total", 0)))
    return out


def _two(left: str, right: str, left_w: int | None = None) -> str:
    style = f' style="flex: 0 0 {left_w}px"' if left_w else ""
    return f'<div class="row"><div class="col"{style}>{left}</div><div class="col">{right}</div></div>'


SECTIONS: dict[str, Callable[[_Builder], str]] = {
    "summary": _summary,
    "hotspots": lambda x: _two(x.map(map_layers.hotspot_layers(x.b)),
                               x.table(tables.hot_table(x.b)) +
                               x.table(_class_table(x.b)), MAP_W),
    "patterns": lambda x: _two(x.map(map_layers.pattern_layers(x.b)),
                               x.table(tables.pattern_table(x.b)) +
                               f'<div class="note">{esc(x.t("review.note.emerging", w=x.b.hot.emerging_weeks))}</div>',
                               MAP_W),
    "change": lambda x: _two(
        x.chart(charts.daily_figure(x.b.change, x.lang, "paper", CHART_W, CHART_H)) +
        x.chart(charts.kinds_figure(x.b.change, x.lang, "paper", CHART_W, CHART_H)),
        x.chart(charts.weekly_figure(x.b.change, x.lang, "paper", CHART_W, CHART_H)) +
        x.chart(charts.parts_figure(x.b.change, x.b.area.part_level, x.lang, "paper", CHART_W,
                                    CHART_H))),
    "parts": lambda x: x.table(tables.parts_table(x.b)),
    "standard": lambda x: x.table(tables.standard_table(x.b)),
    "reach": lambda x: _reach(x),
    "coverage-map": lambda x: _two(x.map(map_layers.coverage_layers(x.b)),
                                   x.table(tables.gaps_table(x.b, limit=22)), MAP_W),
    "coverage": lambda x: x.table(tables.coverage_table(x.b)),
    "kpi": lambda x: x.table(tables.kpi_table(x.b)),
    "rankings": lambda x: _rankings(x),
    "patrols": lambda x: _patrols(x),
}


def _class_table(b: Briefing) -> tables.Table:
    from gis.analytics.hotspots import class_names

    counts = b.hot.class_counts()
    rows = [{"class": f"review.gi.{c}", "n": counts.get(c, 0)} for c in class_names()]
    return tables.Table("classes", "review.table.classes",
                        [tables.Column("class", "review.col.gi_class", "i18n"),
                         tables.Column("n", "review.col.grids", "int")], rows)


def _reach(x: _Builder) -> str:
    layers, fit = map_layers.reach_layers(x.b)
    return _two(x.map(layers, fit=fit), x.table(tables.outside_table(x.b, limit=22)), MAP_W)


PATROL_MAP_H = 440
"""Height of the patrol map (under the weekly table), CSS pixels."""


def _patrols(x: _Builder) -> str:
    """Weekly compliance table; under it the map of the last week (key sections by result,
    tracks) beside the places that missed the minimum (tables only without a map)."""
    b = x.b
    weekly = x.table(tables.patrol_table(b))
    failing = x.table(tables.patrol_failing_table(b, limit=PATROL_FAILING_ROWS)) \
        if b.patrols.available and not b.patrols.note else ""
    layers: list = []
    fit: list = []
    if b.patrols.available:
        try:
            layers, fit = map_layers.patrol_layers(b, x.engine)
        except Exception as e:  # noqa: BLE001 - a map must not sink the briefing
            log.warning("briefing: patrol map failed (%s: %s)", type(e).__name__, e)
    if not layers:
        return weekly + failing
    caption = (f'<div class="note">{esc(x.t("patrols.map.title", week=map_layers.last_week(b)))}'
               f' · {esc(x.t("patrols.map.note"))}</div>')
    return weekly + _two(x.map(layers, height=PATROL_MAP_H, fit=fit) + caption, failing,
                         MAP_W)


PATROL_FAILING_ROWS = 16
"""Rows of the failing-places table beside the patrol map."""


def _rankings(x: _Builder) -> str:
    left = x.table(tables.ranking_table(x.b))
    kr = tables.kpi_ranking_table(x.b)
    right = x.table(kr) if kr is not None else \
        f'<div class="note">{esc(x.t("review.note.no_kpi_ranking"))}</div>'
    siwu = tables.siwu_table(x.b)
    if siwu is not None:
        right += x.table(siwu)
    return _two(left, right)


def render(b: Briefing, lang: str = "zh", engine: Engine | None = None) -> Document:
    """The whole briefing as one HTML string (see the module docstring).

    ``engine``: the store, for the patrol map (read when drawn); default the one the
    briefing was read through (``b.standards.store``); no patrol map without."""
    x = _Builder(b, lang, engine)
    pages = [x.page(i, key, SECTIONS[key](x)) for i, key in enumerate(PAGES, start=1)]
    js, css = leaflet_assets()
    map_css = "\n".join(f.css for f in x.maps)
    scripts = "\n".join(f"<script>\n{f.script}\n</script>" for f in x.maps)
    title = f"{t('review.report_title', lang)} · {b.area.title} · {b.period.label}"
    doc = (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
           f'<meta charset="utf-8"><title>{esc(title)}</title>'
           f'<meta name="wangge-pages" content="{len(PAGES)}">'
           f'<meta name="wangge-area" content="{esc(b.area.code)}">'
           f'<meta name="wangge-period" content="{esc(b.period.label)}">'
           f"<style>{css}</style><style>{document_css()}{map_css}</style>"
           f"<style>{PAGE_CSS}</style>"
           f"<script>{js}</script>"
           f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
           f"</head><body>{''.join(pages)}{scripts}"
           f"<script>window.wanggeReportReady = true;</script></body></html>")
    return Document(html=doc, pages=len(PAGES), maps=len(x.maps), charts=x.n_charts)
