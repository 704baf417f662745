"""Callbacks of the operator desk (``/desk``).

* intake: a click on the map or a picked address suggestion sets the location
  (:func:`pick`); typing an address lists the matcher's grids (:func:`suggest`);
  :func:`submit` stores the incident through intake and shows errors under each field;
* queue: every ``settings.DESK_REFRESH_S`` and after every change (:func:`queue`);
* detail: the selected incident with its audit trail and the buttons of exactly the actions
  allowed in its state (:func:`detail`); an action button opens the form of that action
  (:func:`action_form`), :func:`confirm` applies it with
  :func:`gis.incidents.workflow.transition` (actor: the logged-in user, or
  ``settings.DESK_ACTOR`` with the login off) and shows why when the workflow refuses (e.g.
  another operator moved the incident meanwhile).

With the login on, the queue, the detail and every write go through connections scoped to
the user's jurisdiction (:func:`dashboard.data.connect` / :func:`dashboard.data.store`): an
incident of another village is "not found", and the user's role must allow intake
(``incident.intake``) and actions (``incident.act``) inside its unit. Locating a click or an
address reads only the published grids (reference data, the same for everyone).

Database failures never break the page: the message says the database is unreachable.
:func:`register` adds the callbacks; the page module calls it on import.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from dash import (
    ALL,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    html,
    no_update,
)

from dashboard import data, desk_data, desk_intake, desk_layout, desk_views
from dashboard.desk_intake import Place
from dashboard.wall_panels import DATA_ERRORS
from gis import settings
from gis._errors import NotFoundError, PermissionDenied, WorkflowError
from gis.auth import roles
from layers.i18n import normalise_lang, t

log = logging.getLogger("dashboard.pages.desk")

VIEW_MARGIN_DEG = 0.003
"""Half-size (degrees, about 300 m) of the box around a selected incident that the map pans
to keep in sight."""
FIELDS = desk_layout.INTAKE_FIELDS
INPUTS = desk_layout.ACTION_INPUTS


def _vid() -> int | None:
    return data.version_in_force()


def _require(action: str, adcode: str | None = None, code: str | None = None) -> None:
    """PermissionDenied unless the logged-in user may take ``action`` (on the row of
    ``adcode`` / ``code``); nothing to check with the login off."""
    user = data.current_user()
    if user is not None:
        roles.require(user, action, adcode=adcode, code=code)


def render(lang: str | None, opts: dict[str, Any] | None) -> list[Any]:
    """The desk in the chosen language (a notice when the database is unreachable)."""
    lang = normalise_lang(lang)
    try:
        return desk_layout.body(lang, opts)
    except DATA_ERRORS as e:
        log.warning("desk: cannot render (%s: %s)", type(e).__name__, e)
        return [html.Div(t("desk.db_down", lang), className="wg-empty", id="desk-empty")]


def _latlng(click: dict[str, Any] | None) -> tuple[float, float] | None:
    ll = (click or {}).get("latlng")
    if isinstance(ll, dict) and "lat" in ll:
        return float(ll["lng"]), float(ll["lat"])
    if isinstance(ll, list | tuple) and len(ll) == 2:
        return float(ll[1]), float(ll[0])
    return None


def pick(click: dict[str, Any] | None, code: str | None, lang: str | None,
         address: str | None) -> tuple[Any, ...]:
    """Location from a click on the map (``desk-map.clickData``) or a picked suggestion."""
    lang = normalise_lang(lang)
    nu = (no_update,) * 6
    try:
        if ctx.triggered_id == "desk-suggest":
            if not code:
                return nu
            place = desk_intake.place_of(data.engine(), code, address or "")
            if place is None:
                return nu
            view = {"center": [place.lat, place.lon], "zoom": 14, "transition": "flyTo"}
        else:
            xy = _latlng(click)
            if xy is None:
                return nu
            place = desk_intake.locate(data.engine(), *xy)
            view = no_update
    except DATA_ERRORS as e:
        log.warning("desk: cannot locate (%s: %s)", type(e).__name__, e)
        return (no_update, no_update, no_update, t("desk.db_down", lang),
                "wg-desk-field has-error", no_update)
    err = "" if place.level else desk_views.error_text("location", [("outside", "")], lang)
    return (place.to_dict(), desk_views.place_view(place, lang), desk_views.pick_marker(place),
            err, "wg-desk-field" + ("" if place.level else " has-error"), view)


def suggest(address: str | None, lang: str | None) -> tuple[Any, ...]:
    """The address matcher's grids for the typed address (label: name · score)."""
    lang = normalise_lang(lang)
    if not (address or "").strip():
        return [], None, ""
    try:
        cands = desk_intake.suggestions(data.engine(), address or "")
    except DATA_ERRORS as e:
        log.warning("desk: no suggestions (%s: %s)", type(e).__name__, e)
        return [], None, t("desk.db_down", lang)
    if not cands:
        return [], None, t("desk.suggest.none", lang)
    opts = [{"label": f"{c['name']} · {100 * c['score']:.0f}%", "value": c["code"]}
            for c in cands]
    return opts, None, t("desk.suggest.title", lang)


def time_now(_n: int | None) -> str:
    """The "now" button: the current time in Asia/Shanghai."""
    return desk_intake.local_now_text()


def submit(_n: int | None, kind: str | None, when: str | None, point: dict[str, Any] | None,
           address: str | None, description: str | None, reporter: str | None,
           token: str | None, lang: str | None) -> tuple[Any, ...]:
    """Store the incident (through intake) or show what is wrong, field by field."""
    lang = normalise_lang(lang)
    form = {"kind": kind, "time": when, "address": address, "description": description,
            "reporter": reporter}
    place = Place.from_dict(point)
    try:
        if place is not None and place.level:
            md = data.map_data()
            _require(roles.INCIDENT_INTAKE, md.adcode if md else None,
                     place.group_code or place.village_code or place.code)
        res = desk_intake.submit(data.store(), form, place, token or "")
    except PermissionDenied as e:
        res = desk_intake.IntakeResult("rejected",
                                       errors={"location": [("outside_jurisdiction", str(e))]})
    except DATA_ERRORS as e:
        log.warning("desk: submit failed (%s: %s)", type(e).__name__, e)
        res = desk_intake.IntakeResult("rejected", errors={"form": [("db", str(e)[:200])]})
    per_field: list[Any] = []
    for f in FIELDS:
        errs = res.errors.get(f, [])
        per_field += [desk_views.error_text(f, errs, lang) if errs else "",
                      "wg-desk-field" + (" has-error" if errs else "")]
    if not res.ok:
        msg = t("desk.db_down", lang) if "form" in res.errors and \
            res.errors["form"][0][0] == "db" else t("desk.submit.failed", lang)
        if "form" in res.errors and res.errors["form"][0][0] != "db":
            msg += " — " + desk_views.error_text("form", res.errors["form"], lang)
        return (*per_field, msg, "wg-desk-result is-error", *([no_update] * 11))
    msg = t(f"desk.submitted.{res.status}", lang, id=res.incident_id,
            m=f"{settings.INTAKE_DEDUPE_DISTANCE_M:g}", w=f"{settings.INTAKE_DEDUPE_WINDOW_MIN:g}")
    stamp = int(datetime.now(UTC).timestamp() * 1000)
    return (*per_field, msg, f"wg-desk-result is-ok is-{res.status}", stamp, res.incident_id,
            desk_layout.new_token(), None, "", "", "", None, [t("desk.place.none", lang)], [],
            desk_intake.local_now_text())


SUBMIT_OUTPUTS = (
    *[o for f in FIELDS for o in (Output(f"desk-err-{f}", "children"),
                                  Output(f"desk-field-{f}", "className"))],
    Output("desk-submit-result", "children"), Output("desk-submit-result", "className"),
    Output("desk-changed", "data"), Output("desk-selected", "data", allow_duplicate=True),
    Output("desk-token", "data"), Output("desk-kind", "value"),
    Output("desk-description", "value"), Output("desk-reporter", "value"),
    Output("desk-address", "value"), Output("desk-point", "data"),
    Output("desk-place", "children"), Output("desk-pick", "children"),
    Output("desk-time", "value", allow_duplicate=True))


def queue(_n: int | None, _changed: Any, selected: int | None,
          lang: str | None) -> tuple[Any, ...]:
    """Open incidents, least time left first (kept as they were when the database fails)."""
    lang = normalise_lang(lang)
    now = datetime.now(UTC)
    try:
        md = data.map_data()
        with data.connect() as conn:
            df, total = desk_data.queue(conn, now, md.adcode if md else None,
                                        md.version_id if md else None)
    except DATA_ERRORS as e:
        log.warning("desk: queue failed (%s: %s)", type(e).__name__, e)
        return no_update, no_update, t("desk.db_down", lang)
    count = t("desk.queue.count", lang, n=f"{total:,}", k=len(df)) if total > len(df) else \
        t("desk.queue.count_all", lang, n=f"{total:,}")
    return (desk_views.queue_rows(df, lang, selected), count,
            t("desk.asof", lang, t=desk_views.now_text(now)))


def select(clicks: list[int | None]) -> Any:
    """A click on a queue row selects its incident."""
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(c for c in (clicks or [])):
        return no_update
    value = next((x["value"] for x in ctx.triggered if x.get("value")), None)
    return int(trig["index"]) if value else no_update


def _detail(incident_id: int) -> dict[str, Any] | None:
    """The incident (None: not there, or outside the viewer's jurisdiction)."""
    with data.connect() as conn:
        return desk_data.detail(conn, int(incident_id), datetime.now(UTC), _vid())


def detail(selected: int | None, _changed: Any, _tick: int | None,
           lang: str | None) -> tuple[Any, ...]:
    """The selected incident's detail and its marker on the map.

    A new selection closes the action form and brings the incident into sight; a refresh
    tick only redraws the detail (another operator or the scheduler may have moved it).
    """
    lang = normalise_lang(lang)
    ticked = ctx.triggered_id == "desk-tick"
    close = no_update if ticked else None
    if selected is None:
        return desk_views.detail_view(None, lang), [], [], close, no_update
    try:
        d = _detail(int(selected))
    except DATA_ERRORS as e:
        log.warning("desk: detail failed (%s: %s)", type(e).__name__, e)
        return [html.Div(t("desk.db_down", lang), className="wg-desk-empty")], no_update, \
            no_update, close, no_update
    view = no_update
    if ctx.triggered_id not in ("desk-changed", "desk-tick") and d is not None and \
            d.get("lon") is not None:
        r = VIEW_MARGIN_DEG  # bring it into sight, moving the map as little as possible
        lat, lon = float(d["lat"]), float(d["lon"])
        view = {"bounds": [[lat - r, lon - r], [lat + r, lon + r]],
                "transition": "panInsideBounds"}
    return (desk_views.detail_view(d, lang, int(selected)), desk_views.history_block(d, lang),
            desk_views.selected_marker(d), close, view)


def choose_action(clicks: list[int | None]) -> Any:
    """An action button opens the form of that action."""
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(c for c in (clicks or [])):
        return no_update
    value = next((x["value"] for x in ctx.triggered if x.get("value")), None)
    return str(trig["action"]) if value else no_update


def action_form(action: str | None, lang: str | None) -> tuple[Any, ...]:
    """Show the inputs ``action`` takes (required ones marked), empty them."""
    lang = normalise_lang(lang)
    hidden = {"display": "none"}
    if not action:
        return (hidden, "", *([hidden] * len(INPUTS)), "", "", "", "", None, "")
    takes = desk_data.ACTION_FIELDS.get(action, ())
    name = t(f"desk.action.{action}", lang)
    styles = [{} if k in takes else hidden for k in INPUTS]
    return ({}, name, *styles, t("desk.act.confirm", lang, action=name), "", "", "", None, "")


def unit_options(unit_type: str | None, selected: int | None,
                 lang: str | None) -> tuple[Any, ...]:
    """Units of the chosen type; the likeliest one for the incident chosen."""
    if not unit_type or selected is None:
        return [], None
    try:
        d = _detail(int(selected))
        if d is None:
            return [], None
        with data.connect() as conn:
            units = desk_data.units(conn, d["adcode"], _vid())[unit_type]
            post = desk_data.officer_post(conn, d["village_code"]) \
                if unit_type == "police_post" else None
    except (DATA_ERRORS, KeyError) as e:
        log.warning("desk: no units (%s: %s)", type(e).__name__, e)
        return [], None
    opts = [{"label": u["name"], "value": u["code"]} for u in units]
    return opts, desk_data.default_unit(units, unit_type, d, post)


def confirm(_n: int | None, action: str | None, selected: int | None, unit_opts: list | None,
            *values_and_lang: Any) -> tuple[Any, ...]:
    """Apply the chosen action to the selected incident (actor: the logged-in user, else
    ``settings.DESK_ACTOR``)."""
    *values, lang = values_and_lang
    lang = normalise_lang(lang)
    if not action or selected is None:
        return no_update, no_update, no_update, no_update
    form = dict(zip(INPUTS, values, strict=True))
    if action == "dispatch" and form.get("unit_code"):
        base = next((o["label"] for o in unit_opts or [] if o["value"] == form["unit_code"]),
                    form["unit_code"])
        dept = str(form.get("unit_name") or "").strip()
        form["unit_name"] = f"{base} {dept}" if dept else base
    details = desk_data.details_for(action, form)
    missing = desk_data.missing_fields(action, details)
    if missing:
        names = "、".join(t(f"desk.act.{k}", lang) for k in missing)
        return t("desk.act.missing", lang, fields=names), "wg-desk-result is-error", \
            no_update, no_update
    name = t(f"desk.action.{action}", lang)
    stamp = int(datetime.now(UTC).timestamp() * 1000)
    user = data.current_user()
    try:
        _require(roles.INCIDENT_ACT)
        ev = desk_data.apply_action(data.store(), int(selected), action, details,
                                    actor=user.name if user is not None else None)
    except (WorkflowError, NotFoundError, PermissionDenied) as e:  # refused: say why, show the state of now
        return t("desk.act.failed", lang, reason=str(e)), "wg-desk-result is-error", stamp, None
    except DATA_ERRORS as e:
        log.warning("desk: action failed (%s: %s)", type(e).__name__, e)
        return t("desk.db_down", lang), "wg-desk-result is-error", no_update, no_update
    done = t("desk.act.done", lang, action=name, id=int(selected),
             status=desk_views.status_text(ev["to_status"], lang))
    return done, "wg-desk-result is-ok", stamp, None


SCROLL_JS = """function(rows, selected) {
    // keep the selected incident's row in sight when the queue is redrawn (once per choice)
    if (selected === null || selected === undefined) { return window.dash_clientside.no_update; }
    setTimeout(function () {
        const q = document.getElementById('desk-queue');
        if (q && q.dataset.scrolledTo !== String(selected)) {
            const row = q.querySelector('.wg-dq-row.is-selected');
            if (row) {
                row.scrollIntoView({block: 'nearest'});
                q.dataset.scrolledTo = String(selected);
            }
        }
    }, 60);
    return selected;
}"""
"""Client side: scroll the queue to the selected row after it is drawn (not on every tick)."""


def register() -> None:
    """Add the desk's callbacks to Dash's global callback list."""
    callback(Output("desk-body", "children"), Input("app-lang", "data"),
             State("desk-opts", "data"))(render)
    callback(Output("desk-point", "data", allow_duplicate=True),
             Output("desk-place", "children", allow_duplicate=True),
             Output("desk-pick", "children", allow_duplicate=True),
             Output("desk-err-location", "children", allow_duplicate=True),
             Output("desk-field-location", "className", allow_duplicate=True),
             Output(desk_layout.MAP_ID, "viewport"),
             Input(desk_layout.MAP_ID, "clickData"), Input("desk-suggest", "value"),
             State("app-lang", "data"), State("desk-address", "value"),
             prevent_initial_call=True)(pick)
    callback(Output("desk-suggest", "options"), Output("desk-suggest", "value"),
             Output("desk-suggest-title", "children"), Input("desk-address", "value"),
             State("app-lang", "data"), prevent_initial_call=True)(suggest)
    callback(Output("desk-time", "value"), Input("desk-time-now", "n_clicks"),
             prevent_initial_call=True)(time_now)
    callback(*SUBMIT_OUTPUTS, Input("desk-submit", "n_clicks"), State("desk-kind", "value"),
             State("desk-time", "value"), State("desk-point", "data"),
             State("desk-address", "value"), State("desk-description", "value"),
             State("desk-reporter", "value"), State("desk-token", "data"),
             State("app-lang", "data"), prevent_initial_call=True)(submit)
    callback(Output("desk-queue", "children"), Output("desk-queue-count", "children"),
             Output("desk-asof", "children"), Input("desk-tick", "n_intervals"),
             Input("desk-changed", "data"), Input("desk-selected", "data"),
             State("app-lang", "data"))(queue)
    callback(Output("desk-selected", "data"),
             Input({"type": "desk-row", "index": ALL}, "n_clicks"),
             prevent_initial_call=True)(select)
    callback(Output("desk-detail", "children"), Output("desk-history-wrap", "children"),
             Output("desk-sel", "children"),
             Output("desk-action", "data", allow_duplicate=True),
             Output(desk_layout.MAP_ID, "viewport", allow_duplicate=True),
             Input("desk-selected", "data"), Input("desk-changed", "data"),
             Input("desk-tick", "n_intervals"), State("app-lang", "data"),
             prevent_initial_call="initial_duplicate")(detail)
    clientside_callback(SCROLL_JS, Output("desk-scrolled", "data"),
                        Input("desk-queue", "children"), State("desk-selected", "data"),
                        prevent_initial_call=True)
    callback(Output("desk-action", "data"),
             Input({"type": "desk-act", "action": ALL}, "n_clicks"),
             prevent_initial_call=True)(choose_action)
    callback(Output("desk-act-form", "style"), Output("desk-act-title", "children"),
             *[Output(f"desk-act-row-{k}", "style") for k in INPUTS],
             Output("desk-act-confirm", "children"), Output("desk-act-feedback", "value"),
             Output("desk-act-reason", "value"), Output("desk-act-note", "value"),
             Output("desk-act-satisfaction", "value"), Output("desk-act-unit_name", "value"),
             Input("desk-action", "data"), State("app-lang", "data"))(action_form)
    callback(Output("desk-act-unit_code", "options"), Output("desk-act-unit_code", "value"),
             Input("desk-act-unit_type", "value"), Input("desk-selected", "data"),
             State("app-lang", "data"))(unit_options)
    callback(Output("desk-act-msg", "children"), Output("desk-act-msg", "className"),
             Output("desk-changed", "data", allow_duplicate=True),
             Output("desk-action", "data", allow_duplicate=True),
             Input("desk-act-confirm", "n_clicks"), State("desk-action", "data"),
             State("desk-selected", "data"), State("desk-act-unit_code", "options"),
             *[State(f"desk-act-{k}", "value") for k in INPUTS],
             State("app-lang", "data"), prevent_initial_call=True)(confirm)
    callback(Output("desk-action", "data", allow_duplicate=True),
             Input("desk-act-cancel", "n_clicks"), prevent_initial_call=True)(
        lambda _n: None)
