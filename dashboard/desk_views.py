"""The changing parts of the operator desk (``/desk``): queue rows, incident detail, history,
the chosen place and the form's error messages.

Urgency is never shown by colour alone: every queue row and badge carries an icon and a
word as well as an Okabe–Ito colour (colour-blind safe): ● 正常 (bluish green), ◔ 提醒
(yellow), ⚠ 警示 (vermillion, overdue), ▲ 已升级 (reddish purple), ○ 无时限 (grey).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_leaflet as dl
import pandas as pd
from dash import html

from dashboard.desk_intake import Place
from dashboard.desk_layout import PICK_COLOR, SELECTED_COLOR
from dashboard.wall_panels import duration_text, kind_text
from gis import settings
from layers.i18n import has, t

STAGE_ICON: dict[str, str] = {"none": "○", "ok": "●", "reminder": "◔", "warning": "⚠"}
ESCALATED_ICON = "▲"


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.INTAKE_TIMEZONE)


def when_text(at: Any) -> str:
    """A time in Asia/Shanghai as ``2025-05-01 08:30`` (``—`` when missing)."""
    if at is None or pd.isna(at):
        return "—"
    return pd.Timestamp(at).tz_convert(_tz()).strftime("%Y-%m-%d %H:%M")


def status_text(status: str, lang: str) -> str:
    """Translated workflow status."""
    key = f"wall.status.{status}"
    return t(key, lang) if has(key) else status


def level_text(level: str | None, lang: str) -> str:
    """Translated level (村级 / 乡镇 / 县级)."""
    key = f"wall.level.{level}"
    return t(key, lang) if level and has(key) else (level or "")


def clock_text(stage: str, remaining_s: float | None, lang: str) -> str:
    """"剩余 2小时5分" / "超时 3天4小时" / "无时限"."""
    if stage == "none" or remaining_s is None or pd.isna(remaining_s):
        return t("desk.stage.none", lang)
    if remaining_s < 0:
        return t("desk.over", lang, d=duration_text(-remaining_s, lang))
    return t("desk.left", lang, d=duration_text(remaining_s, lang))


def stage_badge(stage: str, escalated: bool, level: str | None, lang: str) -> list[html.Span]:
    """Badges of a clock stage and an escalation (icon + word + colour class)."""
    out = [html.Span(f"{STAGE_ICON.get(stage, '')} {t(f'desk.stage.{stage}', lang)}",
                     className=f"wg-dq-badge is-{stage}")]
    if escalated:
        out.append(html.Span(f"{ESCALATED_ICON} " + t("desk.escalated", lang,
                                                       level=level_text(level, lang)),
                             className="wg-dq-badge is-escalated"))
    return out


def queue_rows(df: pd.DataFrame, lang: str, selected: int | None) -> list[Any]:
    """One clickable row per open incident (``data-incident``, ``data-stage`` attributes)."""
    if not len(df):
        return [html.Div(t("desk.queue.empty", lang), className="wg-desk-empty")]
    rows = []
    for r in df.itertuples(index=False):
        cls = f"wg-dq-row is-{r.stage}" + (" is-escalated" if r.escalated else "") + \
            (" is-selected" if selected is not None and int(r.id) == int(selected) else "")
        place = " · ".join(x for x in (r.village, r.township) if x) or (r.address or "")
        rows.append(html.Div([
            html.Div([html.Span(clock_text(r.stage, r.remaining_s, lang),
                                className="wg-dq-left"),
                      *stage_badge(r.stage, bool(r.escalated), r.level, lang)],
                     className="wg-dq-line"),
            html.Div([html.Span(f"#{int(r.id)}", className="wg-dq-id"),
                      html.Span(kind_text(r.kind, lang), className="wg-dq-kind"),
                      html.Span(status_text(r.status, lang), className="wg-dq-status")],
                     className="wg-dq-line"),
            html.Div([html.Span(place, className="wg-dq-place"),
                      html.Span(when_text(r.occurred_at), className="wg-dq-time")],
                     className="wg-dq-line wg-dq-sub"),
        ], id={"type": "desk-row", "index": int(r.id)}, n_clicks=0, className=cls,
            role="listitem", tabIndex="0",
            **{"data-incident": str(int(r.id)), "data-stage": r.stage}))
    return rows


def _kv(label: str, value: Any) -> list[html.Div]:
    return [html.Div(label, className="wg-dd-k"), html.Div(value or "—", className="wg-dd-v")]


def _event_detail(e: dict[str, Any], lang: str) -> str:
    d = e.get("detail") or {}
    parts: list[str] = []
    if d.get("unit_type"):
        parts.append(t(f"desk.unit.{d['unit_type']}", lang) if has(f"desk.unit.{d['unit_type']}")
                     else str(d["unit_type"]))
    for k in ("unit_name", "feedback", "reason", "note"):
        if d.get(k):
            parts.append(str(d[k]))
    if d.get("satisfaction"):
        s = d["satisfaction"]
        parts.append(t(f"desk.sat.{s}", lang) if has(f"desk.sat.{s}") else str(s))
    if d.get("on_time") is False:
        parts.append(t("desk.ev.late", lang))
    if e["kind"] in ("reminder", "warning") and d.get("due_at"):  # the step's own deadline
        parts.append(t("desk.ev.deadline", lang, t=when_text(pd.Timestamp(d["due_at"]))))
    elif d.get("due_at") or d.get("new_due_at"):  # the deadline of the step that starts
        due = d.get("due_at") or d.get("new_due_at")
        parts.append(t("desk.ev.due", lang, t=when_text(pd.Timestamp(due))))
    return " · ".join(parts)


def _event_label(e: dict[str, Any], lang: str) -> str:
    if e["kind"] == "transition":
        return t(f"desk.action.{e['action']}", lang) if has(f"desk.action.{e['action']}") \
            else str(e["action"])
    if e["kind"] == "escalation":
        return t("desk.ev.escalation", lang, level=level_text(e["level"], lang))
    return t(f"desk.ev.{e['kind']}", lang) if has(f"desk.ev.{e['kind']}") else str(e["kind"])


def history_view(d: dict[str, Any], lang: str) -> html.Ol:
    """The audit trail, oldest first, starting with the intake itself."""
    items = [html.Li([html.Span(when_text(d["reported_at"] or d["occurred_at"]),
                                className="wg-ev-time"),
                      html.Span(t("desk.ev.received", lang, source=d["source"]),
                                className="wg-ev-label"),
                      html.Span(status_text("received", lang), className="wg-ev-status")],
                     className="wg-ev is-received")]
    for e in d["history"]:
        move = status_text(e["from_status"], lang) if e["from_status"] == e["to_status"] else \
            f"{status_text(e['from_status'], lang)} → {status_text(e['to_status'], lang)}"
        items.append(html.Li([
            html.Span(when_text(e["at"]), className="wg-ev-time"),
            html.Span(_event_label(e, lang), className="wg-ev-label"),
            html.Span(move, className="wg-ev-status"),
            html.Span(level_text(e["level"], lang), className="wg-ev-level"),
            html.Span(t("desk.ev.by", lang, actor=e["actor"]), className="wg-ev-actor"),
            html.Div(_event_detail(e, lang), className="wg-ev-detail"),
        ], className=f"wg-ev is-{e['kind']}", **{"data-kind": e["kind"]}))
    return html.Ol(items, className="wg-desk-history", id="desk-history")


def detail_view(d: dict[str, Any] | None, lang: str, incident_id: int | None = None) -> list[Any]:
    """Header, fields and action buttons (exactly the actions allowed in its state) of one
    incident (its audit trail: :func:`history_block`)."""
    if d is None:
        text = t("desk.detail.missing", lang, id=incident_id) if incident_id is not None \
            else t("desk.detail.none", lang)
        return [html.Div(text, className="wg-desk-empty")]
    place = " ".join(x for x in (d["township"], d["village"], d["grp"]) if x)
    unit = ""
    if d["unit_type"]:
        unit = " · ".join(x for x in (t(f"desk.unit.{d['unit_type']}", lang)
                                      if has(f"desk.unit.{d['unit_type']}") else d["unit_type"],
                                      d["unit_name"] or d["unit_code"]) if x)
    due = "—" if d["due"] is None else \
        f"{when_text(d['due'])}（{clock_text(d['stage'], d['remaining_s'], lang)}）"
    sat = d["satisfaction"]
    fields = [*_kv(t("desk.f.occurred", lang), when_text(d["occurred_at"])),
              *_kv(t("desk.f.reported", lang), when_text(d["reported_at"])),
              *_kv(t("desk.f.place", lang), place),
              *_kv(t("desk.f.address", lang), d["address"]),
              *_kv(t("desk.f.description", lang), d["description"]),
              *_kv(t("desk.f.reporter", lang), d["reporter"]),
              *_kv(t("desk.f.unit", lang), unit),
              *_kv(t("desk.f.level", lang), level_text(d["level"], lang)),
              *_kv(t("desk.f.due", lang), due),
              *_kv(t("desk.f.feedback", lang), d["feedback"]),
              *_kv(t("desk.f.satisfaction", lang),
                   t(f"desk.sat.{sat}", lang) if sat and has(f"desk.sat.{sat}") else sat),
              *_kv(t("desk.f.reports", lang), str(max(1, d["reports"]))),
              *_kv(t("desk.f.source", lang), f"{d['source']} · {d['source_id']}")]
    buttons = [html.Button(t(f"desk.action.{a}", lang), id={"type": "desk-act", "action": a},
                           n_clicks=0, className="wg-desk-btn wg-desk-act-btn",
                           **{"data-action": a}) for a in d["allowed"]]
    return [
        html.Div([html.Span(f"#{d['id']}", className="wg-dd-id"),
                  html.Span(kind_text(d["kind"], lang), className="wg-dd-kind"),
                  html.Span(status_text(d["status"], lang), className="wg-dd-status",
                            id="desk-detail-status"),
                  *stage_badge(d["stage"], bool(d["escalated"]), d["level"], lang)],
                 className="wg-dd-head", **{"data-incident": str(d["id"])}),
        html.Div(fields, className="wg-dd-grid"),
        html.Div([html.Div(t("desk.actions", lang), className="wg-desk-label"),
                  html.Div(buttons, className="wg-desk-row wg-desk-actions",
                           id="desk-actions")]),
    ]


def history_block(d: dict[str, Any] | None, lang: str) -> list[Any]:
    """The audit trail under its title (nothing without an incident)."""
    if d is None:
        return []
    return [html.Div(t("desk.history", lang), className="wg-desk-label"), history_view(d, lang)]


def place_view(place: Place | None, lang: str) -> list[Any]:
    """What the form shows of the chosen location."""
    if place is None:
        return [t("desk.place.none", lang)]
    coords = f"{place.lon:.5f}, {place.lat:.5f}"
    if place.level is None:
        return [html.Span("✕ " + t("desk.place.outside", lang), className="wg-desk-bad"),
                html.Span(f" ({coords})", className="wg-desk-coords")]
    how = t("desk.place.address" if place.via == "address" else "desk.place.map", lang)
    return [html.Span("◎ ", className="wg-desk-pin"),
            html.Span(place.name, className="wg-desk-place-name", id="desk-place-name"),
            html.Span(f" · {how} · {coords}", className="wg-desk-coords")]


def marker(lon: float, lat: float, fill: str, stroke: str, comp_id: str) -> dl.CircleMarker:
    """A round marker (SVG, no image download)."""
    return dl.CircleMarker(center=[lat, lon], radius=9, id=comp_id, color=stroke, weight=2.5,
                           fillColor=fill, fillOpacity=1.0, interactive=False)


def pick_marker(place: Place | None) -> list[Any]:
    """The new incident's point on the map."""
    if place is None:
        return []
    return [marker(place.lon, place.lat, PICK_COLOR, "#04101c", "desk-pick-marker")]


def selected_marker(d: dict[str, Any] | None) -> list[Any]:
    """The selected incident on the map."""
    if d is None or d.get("lon") is None:
        return []
    return [marker(float(d["lon"]), float(d["lat"]), SELECTED_COLOR, "#ffffff",
                   "desk-sel-marker")]


def error_text(field: str, errors: list[tuple[str, str]], lang: str) -> str:
    """The message under a form field (translated by code; the reason for the rest)."""
    out = []
    for code, reason in errors:
        if code == "missing_field" and field == "location":
            out.append(t("desk.err.missing_location", lang))
        elif code == "too_long":
            limit = settings.INTAKE_MAX_DESCRIPTION_CHARS if field == "description" else \
                settings.INTAKE_MAX_TEXT_CHARS
            out.append(t("desk.err.too_long", lang, n=f"{limit:,}"))
        elif has(f"desk.err.{code}"):
            out.append(t(f"desk.err.{code}", lang))
        else:
            out.append(t("desk.err.other", lang, reason=reason))
    return "；".join(dict.fromkeys(out)) if lang == "zh" else "; ".join(dict.fromkeys(out))


def now_text(now: datetime) -> str:
    """Clock time of ``now`` in Asia/Shanghai (the queue's "as of")."""
    return now.astimezone(_tz()).strftime("%H:%M:%S")
