"""The review's tables, defined once: columns (i18n keys, number formats) and rows.

:class:`Table` is rendered as HTML by :mod:`dashboard.report.document` (briefing, PDF) and
as Dash components by the ``/review`` page, so both show the same figures. A table longer
than its page allows keeps its first ``limit`` rows and says how many were left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dashboard.report.briefing import Briefing
from dashboard.report.charts import kind_label
from gis import settings
from layers.i18n import t

ROWS_PER_PAGE = 19
"""Most rows of a table on a full briefing page (A4 landscape, 11 px type)."""


@dataclass(frozen=True)
class Column:
    """A column: data key, i18n key of its header (or literal text) and format."""

    key: str
    label: str
    fmt: str = "text"
    """``text``, ``int``, ``pct`` (0–1 → %), ``signed``, ``signed_pct`` (already in %),
    ``float1``, ``km`` (metres → km), ``min``, ``kind`` (incident kind)."""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Table:
    """A table of the review."""

    id: str
    title: str
    """i18n key."""
    columns: list[Column]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None
    omitted: int = 0
    """Rows left out (beyond the limit)."""
    note: str | None = None
    """i18n key of a note under the table (shown in place of an empty table too)."""
    link: str | None = None
    """Key of the column holding a drill-down code (rows are clickable on the page)."""
    caption_fields: dict[str, Any] = field(default_factory=dict)
    """Fields of the title's text."""

    def caption(self, lang: str) -> str:
        """The translated title."""
        return t(self.title, lang, **self.caption_fields)

    def header(self, lang: str) -> list[str]:
        """Translated column headers (a ``level`` field is translated too)."""
        out = []
        for c in self.columns:
            fields = {k: (level_name(str(v), lang) if k == "level" else v)
                      for k, v in c.fields.items()}
            text = t(c.label, lang, **fields)
            out.append(text[:1].upper() + text[1:])
        return out


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def fmt(v: Any, kind: str, lang: str = "zh") -> str:
    """``v`` formatted as ``kind`` (see :attr:`Column.fmt`); ``—`` when missing."""
    if _missing(v):
        return "—"
    if kind == "int":
        return f"{round(float(v)):,}"
    if kind == "pct":
        return f"{100.0 * float(v):.1f}%"
    if kind == "signed":
        return f"{int(v):+,}"
    if kind == "signed_pct":
        return f"{float(v):+.1f}%"
    if kind == "float1":
        return f"{float(v):,.1f}"
    if kind == "km":
        return f"{float(v) / 1000.0:.1f}"
    if kind == "min":
        return f"{float(v):.1f}"
    if kind == "kind":
        return kind_label(str(v), lang)
    return str(v)


def _records(df: pd.DataFrame, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    rows = df.to_dict("records")
    if limit is None or len(rows) <= limit:
        return rows, 0
    return rows[:limit], len(rows) - limit


def level_name(level: str, lang: str) -> str:
    """Translated level (township, village, group)."""
    return t(f"review.level.{level}", lang)


def parts_table(b: Briefing, limit: int | None = ROWS_PER_PAGE) -> Table:
    """Incidents per part of the area, this period against the previous, with hot grids."""
    by = b.change.by_part.copy()
    hot = b.hot.hot_per_part(b.area)
    by["hot"] = by["code"].map(hot).fillna(0).astype(int)
    rows, omitted = _records(by, limit)
    lv = b.area.part_level
    total = {"name": t("review.total", "zh"), "n": b.change.total, "n_prev": b.change.total_prev,
             "change": b.change.change, "change_pct": b.change.change_pct,
             "population": by["population"].sum(), "hot": b.hot.n_hot}
    pop = total["population"]
    total["per_10k"] = b.change.total / pop * 1e4 if pop else None
    cols = [Column("name", "review.col.unit", fields={"level": lv}),
            Column("population", "review.col.population", "int"),
            Column("n", "review.col.n", "int"), Column("n_prev", "review.col.n_prev", "int"),
            Column("change", "review.col.change", "signed"),
            Column("change_pct", "review.col.change_pct", "signed_pct"),
            Column("per_10k", "review.col.per_10k", "float1"),
            Column("hot", "review.col.hot", "int")]
    return Table("parts", "review.table.parts", cols, rows, total, omitted,
                 link="code" if lv != "group" else None,
                 note="review.note.unlocated" if b.change.unlocated else None)


def kinds_table(b: Briefing, limit: int | None = 12) -> Table:
    """Incidents per kind, this period against the previous."""
    rows, omitted = _records(b.change.by_kind, limit)
    cols = [Column("kind", "review.col.kind", "kind"), Column("n", "review.col.n", "int"),
            Column("n_prev", "review.col.n_prev", "int"),
            Column("change", "review.col.change", "signed")]
    return Table("kinds", "review.table.kinds", cols, rows, None, omitted)


def standard_table(b: Briefing, limit: int | None = ROWS_PER_PAGE) -> Table:
    """Share of villages and population inside each response standard, per part."""
    s = b.standards
    df = s.by_part
    rows, omitted = _records(df[df["code"] != "total"], limit)
    total = df[df["code"] == "total"].iloc[0].to_dict() if (df["code"] == "total").any() \
        else None
    if total:
        total["name"] = t("review.total", "zh")
    unit = "group" if b.area.level == "village" else "village"
    cols = [Column("name", "review.col.unit", fields={"level": b.area.part_level}),
            Column("units", "review.col.units", fields={"level": unit}, fmt="int"),
            Column("population", "review.col.population", "int")]
    for f in s.flags:
        label = _flag_label(f)
        cols.append(Column(f"{f}_units_share", "review.col.units_in", "pct",
                           {"std": label, "level": unit}))
        cols.append(Column(f"{f}_pop_share", "review.col.pop_in", "pct", {"std": label}))
    return Table("standard", "review.table.standard", cols, rows, total, omitted,
                 link="code" if b.area.part_level != "group" else None,
                 note=None if s.road else "review.note.no_network")


def _flag_label(flag: str) -> str:
    kind, value = flag.split("_", 1)
    if kind == "inside":
        return value.replace("km", " km")
    return f"{value} min"


def outside_table(b: Briefing, limit: int | None = 8) -> Table:
    """Villages (groups) that miss the widest response standard, farthest first."""
    rows, omitted = _records(b.standards.outside, limit)
    cols = [Column("name", "review.col.name"), Column("population", "review.col.population", "int"),
            Column("distance_m", "review.col.distance_km", "km"),
            Column("road_minutes", "review.col.road_min", "min"),
            Column("nearest_post_name", "review.col.post")]
    return Table("outside", "review.table.outside", cols, rows, None, omitted,
                 note="review.note.none_outside" if not rows else None)


def coverage_table(b: Briefing, limit: int | None = ROWS_PER_PAGE) -> Table:
    """一村一警一连 per part: villages with officer, with militia, without gaps."""
    df = b.coverage.by_part
    rows, omitted = _records(df[df["code"] != "total"], limit)
    total = df[df["code"] == "total"].iloc[0].to_dict()
    total["name"] = t("review.total", "zh")
    level = b.area.part_level if b.area.level != "village" else "village"
    cols = [Column("name", "review.col.unit", fields={"level": level}),
            Column("villages", "review.col.villages", "int"),
            Column("with_officer", "review.col.with_officer", "int"),
            Column("with_militia", "review.col.with_militia", "int"),
            Column("gaps", "review.col.gaps", "int"),
            Column("share_ok", "review.col.share_ok", "pct")]
    return Table("coverage", "review.table.coverage", cols, rows, total, omitted,
                 link="code" if b.area.level == "county" else None)


def gaps_table(b: Briefing, limit: int | None = 10) -> Table:
    """Villages with a 一村一警一连 gap, most serious first."""
    g = b.coverage.gaps
    df = pd.DataFrame({"name": g["name"], "township": g.get("township"),
                       "problem": g["problem"], "officer": g.get("officer_name"),
                       "post_distance_m": g.get("post_distance_m")})
    rows, omitted = _records(df, limit)
    for r in rows:
        r["problem"] = f"review.problem.{r['problem']}"
    cols = [Column("name", "review.col.name"), Column("township", "review.col.township"),
            Column("problem", "review.col.problem", "i18n"),
            Column("officer", "review.col.officer"),
            Column("post_distance_m", "review.col.post_km", "km")]
    return Table("gaps", "review.table.gaps", cols, rows, None, omitted,
                 note="review.note.no_gaps" if not rows else None)


def ranking_table(b: Briefing) -> Table:
    """Villages of the area with the most incidents in the period."""
    cols = [Column("rank", "review.col.rank"), Column("name", "review.col.name"),
            Column("township", "review.col.township"),
            Column("n", "review.col.n", "int"), Column("per_10k", "review.col.per_10k", "float1")]
    return Table("ranking", "review.table.ranking", cols, b.ranking.to_dict("records"),
                 note="review.note.no_incidents" if not len(b.ranking) else None)


def kpi_table(b: Briefing, limit: int | None = ROWS_PER_PAGE) -> Table:
    """KPIs per part (from :mod:`gis.kpi`), or the reason they are missing."""
    k = b.kpi
    cols = [Column("name", "review.col.unit", fields={"level": b.area.part_level})]
    for c in k.columns:
        cols.append(Column(c, f"review.kpi.{c}", "int" if c in ("incidents", "escalations")
                           else "pct"))
    if not k.available:
        return Table("kpi", "review.table.kpi", cols, [], note=k.note)
    rows, omitted = _records(k.table, limit)
    total = dict(k.total) if k.total else None
    if total:
        total["name"] = t("review.total", "zh")
    return Table("kpi", "review.table.kpi", cols, rows, total, omitted,
                 link="code" if b.area.part_level != "group" else None)


def kpi_ranking_table(b: Briefing, limit: int = 10) -> Table | None:
    """Composite KPI ranking of the parts (when :mod:`gis.kpi` ranks), else None."""
    r = b.kpi.ranking
    if not len(r):
        return None
    cols = [Column(c, f"review.col.{c}", "float1" if c == "score" else "text")
            for c in ("rank", "name", "score") if c in r.columns]
    rows, omitted = _records(r, limit)
    return Table("kpi-ranking", "review.table.kpi_ranking", cols, rows, None, omitted)


def siwu_table(b: Briefing, limit: int = 10) -> Table | None:
    """Villages that miss the 四无 goal in the period, with the criteria they fail (None
    when :mod:`gis.kpi` has no 四无 check)."""
    s = b.kpi.siwu
    if s is None or "siwu" not in s:
        return None
    failing = s[~s["siwu"].astype(bool)]
    rows, omitted = _records(failing, limit)
    for r in rows:
        r["reasons"] = "、".join(f"review.siwu.{c}" for c in str(r.get("reasons") or "")
                                 .split(",") if c)
    cols = [Column("name", "review.col.name"), Column("township_name", "review.col.township"),
            Column("reasons", "review.col.siwu_reasons", "i18n_list")]
    return Table("siwu", "review.table.siwu", cols, rows, None, omitted,
                 note="review.siwu_all" if not rows else None,
                 caption_fields={"n": int(s["siwu"].sum()), "total": len(s)})


def patrol_table(b: Briefing) -> Table:
    """Patrol compliance per week of the period (from :mod:`gis.patrols`)."""
    p = b.patrols
    cols = [Column("week", "review.col.week"),
            Column("sections", "review.col.sections_passed"),
            Column("areas", "review.col.areas_passed"),
            Column("patrols", "review.col.patrols", "int"),
            Column("night_patrols", "review.col.night_patrols", "int"),
            Column("villages_with_night_patrols", "review.col.night_villages", "int")]
    rows = []
    for w in p.weeks:
        rows.append(w | {"sections": f"{w.get('sections_passed', 0)} / "
                                      f"{w.get('sections_total', 0)}",
                         "areas": f"{w.get('areas_passed', 0)} / {w.get('areas_total', 0)}"})
    return Table("patrols", "review.table.patrols", cols, rows, note=p.note,
                 total=None)


def patrol_failing_table(b: Briefing, limit: int = 12) -> Table:
    """Key areas / sections below the weekly minimum in the period's last week."""
    f = b.patrols.failing
    rows, omitted = _records(f, limit)
    for r in rows:
        r["kind"] = f"review.patrol_kind.{r.get('kind')}"
    cols = [Column("kind", "review.col.place_kind", "i18n"), Column("name", "review.col.name"),
            Column("village_name", "review.col.village"), Column("count", "review.col.count", "int"),
            Column("required", "review.col.required", "int")]
    return Table("patrol-failing", "review.table.patrol_failing", cols, rows, None, omitted,
                 note=None if rows else "review.note.patrols_all_passed")


def hot_table(b: Briefing, limit: int = 10) -> Table:
    """The hottest grids of the period (Gi*)."""
    top = b.hot.top(limit)
    rows = [{"name": r.name, "village": b.base.villages.set_index("code")["name"].get(
                r.village_code, "") if b.hot.level == 2 else "",
             "count": r.count, "z": r.z, "class": f"review.gi.{r.hotspot_class}"}
            for r in top.itertuples()]
    cols = [Column("name", "review.col.grid")]
    if b.hot.level == 2:
        cols.append(Column("village", "review.col.village"))
    cols += [Column("count", "review.col.n", "int"), Column("z", "review.col.z", "float1"),
             Column("class", "review.col.gi_class", "i18n")]
    return Table("hot", "review.table.hot", cols, rows, None, 0,
                 note="review.note.no_hot" if not rows else None)


def pattern_table(b: Briefing) -> Table:
    """Grids per emerging hot-spot pattern (no pattern left out)."""
    rows = [{"pattern": f"review.pattern.{k}", "n": v} for k, v in b.hot.pattern_counts().items()]
    cols = [Column("pattern", "review.col.pattern", "i18n"), Column("n", "review.col.grids", "int")]
    return Table("patterns", "review.table.patterns", cols, rows, None, 0,
                 note="review.note.no_patterns" if not rows else None)


def translate_cells(table: Table, lang: str) -> list[list[str]]:
    """Formatted rows; ``i18n`` cells hold keys and are translated here."""
    def cell(v: Any, kind: str) -> str:
        if kind == "i18n" and not _missing(v):
            return t(str(v), lang)
        if kind == "i18n_list":
            return "、".join(t(k, lang) for k in str(v or "").split("、") if k) or "—"
        return fmt(v, kind, lang)

    return [[cell(r.get(c.key), c.fmt) for c in table.columns] for r in table.rows]


def total_cells(table: Table, lang: str) -> list[str] | None:
    """Formatted total row (its name translated), or None."""
    if table.total is None:
        return None
    row = dict(table.total)
    row["name"] = t("review.total", lang)
    return [fmt(row.get(c.key), c.fmt, lang) if c.fmt != "i18n" else "" for c in table.columns]


def standards_text(lang: str) -> str:
    """``5 km / 10 min, 10 km / 20 min`` from the settings."""
    return ", ".join(f"{r / 1000:g} km / {m:g} min" for r, m in settings.RESPONSE_STANDARDS)


def all_tables(b: Briefing) -> Sequence[Table]:
    """Every table of the briefing (tests, JSON export)."""
    out = [parts_table(b), kinds_table(b), standard_table(b), outside_table(b),
           coverage_table(b), gaps_table(b), ranking_table(b), kpi_table(b), patrol_table(b),
           patrol_failing_table(b), hot_table(b), pattern_table(b)]
    extra = [kpi_ranking_table(b), siwu_table(b)]
    return out + [x for x in extra if x is not None]
