"""Data of the operator desk (``/desk``): the queue, one incident's detail, units, actions.

No Dash here: every function takes a connection or an engine, so the desk's logic is tested
on the demo database without a browser.

* :func:`queue` — open incidents sorted by the time left in their current step (most
  overdue first; steps without a clock last), each with its *stage* on the step's clock:
  ``ok``, ``reminder`` (提醒: ``settings.WORKFLOW_REMINDER_FRACTION`` of the limit has
  passed), ``warning`` (警示: past the limit) or ``none`` (no clock), and ``escalated`` when
  the scheduler has escalated it (自动跳级: an ``escalation`` event in its audit trail).
  Incidents whose clock has not been started yet (bulk imports, before the scheduler's
  first run) get the deadline the scheduler will give them (:mod:`gis.incidents.limits`).
* :func:`detail` — one incident with names, its whole audit trail
  (:func:`gis.incidents.workflow.history`) and the actions allowed in its state
  (:func:`gis.incidents.workflow.allowed_actions`).
* :func:`units` / :func:`default_unit` — the units an incident can be dispatched to
  (``settings.WORKFLOW_UNIT_TYPES``): village grid-service stations, township departments,
  police posts (the village officer's post first: 一村一警), county departments.
* :func:`apply_action` — :func:`gis.incidents.workflow.transition` in its own transaction,
  with the details the action takes (:data:`ACTION_FIELDS`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis import settings
from gis.incidents import limits, workflow

STAGES: tuple[str, ...] = ("none", "ok", "reminder", "warning")
"""Stages of a step's clock, least urgent first (``none``: the step has no time limit)."""

ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "dispatch": ("unit_type", "unit_code", "unit_name", "note"),
    "accept": ("note",),
    "resolve": ("feedback", "note"),
    "follow_up": ("satisfaction", "note"),
    "close": ("note",),
    "reopen": ("reason", "note"),
}
"""Inputs of the desk's action form per workflow action (details of
:func:`gis.incidents.workflow.transition`)."""

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "dispatch": ("unit_type", "unit_code"), "accept": (), "resolve": ("feedback",),
    "follow_up": ("satisfaction",), "close": (), "reopen": ("reason",),
}
"""The inputs an action cannot go without (the form marks them)."""

QUEUE_COLUMNS: tuple[str, ...] = (
    "id", "kind", "status", "level", "occurred_at", "reported_at", "address", "village_code",
    "village", "township", "unit_type", "unit_name", "alert_stage", "started", "due",
    "escalated")

_LIMITS_CTE = """
    lim as (select * from unnest(cast(:kinds as text[]), cast(:steps as text[]),
                                 cast(:hours as float8[])) as t(kind, step, hours))"""

_DUE = """coalesce(i.step_due_at, case when i.step_started_at is null then
              coalesce(i.reported_at, i.occurred_at)
              + coalesce(k.hours, d.hours) * interval '1 hour' end)"""


def _check_now(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None:
        msg = f"'now' must be a timezone-aware datetime, got {now!r}"
        raise ValueError(msg)


def stage_of(started: datetime | None, due: datetime | None, now: datetime,
             alert_stage: int = 0) -> str:
    """Stage of a step's clock at ``now`` (see :data:`STAGES`).

    ``reminder`` from ``started + limit × settings.WORKFLOW_REMINDER_FRACTION``, ``warning``
    from ``due`` on; the scheduler's ``alert_stage`` (1 reminder, 2 warning issued) counts
    too, so the desk agrees with the audit trail even when the clocks moved since.
    """
    if due is None or pd.isna(due):
        return "none"
    stage = 1
    if now >= due or alert_stage >= 2:
        stage = 3
    elif started is not None and not pd.isna(started):
        f = float(settings.WORKFLOW_REMINDER_FRACTION)
        if now >= started + (due - started) * f or alert_stage >= 1:
            stage = 2
    elif alert_stage >= 1:
        stage = 2
    return STAGES[stage]


def _open_filter() -> str:
    _, _, hours = limits.limit_rows()
    if any(h is None for h in hours):  # steps without clock: no partial index covers them
        return "i.status <> 'closed'"
    return "i.status <> 'closed' and (i.step_due_at is not null or i.step_started_at is null)"


def queue(conn: Connection, now: datetime, adcode: str | None = None,
          version_id: int | None = None, limit: int | None = None) -> tuple[pd.DataFrame, int]:
    """Open incidents, least time left first, and the number of open incidents.

    Parameters
    ----------
    now : datetime
        Reference time (timezone-aware).
    adcode : str, optional
        County; default every county.
    version_id : int, optional
        Grid version whose village and township names are joined (default: none, names empty).
    limit : int, optional
        Rows returned (default ``settings.DESK_QUEUE_ROWS``).

    Returns
    -------
    (DataFrame, int)
        Columns :data:`QUEUE_COLUMNS` + ``remaining_s`` (seconds left in the step, negative
        when overdue, NaN without a clock) and ``stage``; sorted by the deadline (nulls
        last), then id. The int is the count of open incidents.
    """
    _check_now(now)
    kinds, steps, hours = limits.limit_rows()
    n = int(settings.DESK_QUEUE_ROWS if limit is None else limit)
    params = {"kinds": kinds, "steps": steps, "hours": hours, "a": adcode, "v": version_id,
              "n": n}
    where = _open_filter() + " and (cast(:a as text) is null or i.adcode = :a)"
    rows = conn.execute(sa.text(f"""
        with {_LIMITS_CTE},
        o as (
            select i.id, i.kind, i.status, i.level, i.occurred_at, i.reported_at, i.address,
                   i.village_code, i.unit_type, i.unit_name, i.alert_stage,
                   coalesce(i.step_started_at, i.reported_at, i.occurred_at) as started,
                   {_DUE} as due
            from incident i
            left join lim k on k.kind = i.kind and k.step = i.status
            left join lim d on d.kind = 'default' and d.step = i.status
            where {where}
            order by due nulls last, i.id
            limit :n)
        select o.id, o.kind, o.status, o.level, o.occurred_at, o.reported_at, o.address,
               o.village_code, coalesce(v.name, '') as village, coalesce(t.name, '') as township,
               o.unit_type, o.unit_name, o.alert_stage, o.started, o.due,
               exists (select 1 from incident_event e
                       where e.incident_id = o.id and e.kind = 'escalation') as escalated
        from o
        left join grid v on v.version_id = :v and v.level = 1 and v.code = o.village_code
        left join territory_unit t on t.level = 'township' and t.code = v.township_code
        order by o.due nulls last, o.id"""), params).all()
    total = int(conn.execute(sa.text(
        f"select count(*) from incident i where {where}"), params).scalar_one())
    df = pd.DataFrame(rows, columns=list(QUEUE_COLUMNS))
    for col in ("occurred_at", "reported_at", "started", "due"):
        df[col] = pd.to_datetime(df[col], utc=True)
    df["remaining_s"] = (df["due"] - pd.Timestamp(now)).dt.total_seconds()
    df["stage"] = [stage_of(s, d, now, int(a)) for s, d, a in
                   zip(df["started"], df["due"], df["alert_stage"], strict=True)]
    df["escalated"] = df["escalated"].astype(bool)
    return df, total


def detail(conn: Connection, incident_id: int, now: datetime,
           version_id: int | None = None) -> dict[str, Any] | None:
    """One incident: its columns, names, location, deadline, stage, number of reports,
    ``history`` (the audit trail, oldest first) and ``allowed`` (actions allowed in its
    status); None when it does not exist."""
    _check_now(now)
    kinds, steps, hours = limits.limit_rows()
    row = conn.execute(sa.text(f"""
        with {_LIMITS_CTE}
        select i.id, i.adcode, i.source, i.source_id, i.kind, i.status, i.level,
               i.occurred_at, i.reported_at, i.address, i.description, i.reporter,
               i.village_code, i.group_code, i.location_flag, i.unit_type, i.unit_code,
               i.unit_name, i.step_seq, i.alert_stage, i.feedback, i.satisfaction,
               i.resolved_at, i.closed_at, i.updated_at,
               coalesce(i.step_started_at, i.reported_at, i.occurred_at) as started,
               {_DUE} as due,
               st_x(i.geom) as lon, st_y(i.geom) as lat,
               v.name as village, g.name as grp, t.name as township, v.township_code,
               (select count(*) from incident_report r where r.incident_id = i.id) as reports
        from incident i
        left join lim k on k.kind = i.kind and k.step = i.status
        left join lim d on d.kind = 'default' and d.step = i.status
        left join grid v on v.version_id = :v and v.level = 1 and v.code = i.village_code
        left join grid g on g.version_id = :v and g.level = 2 and g.code = i.group_code
        left join territory_unit t on t.level = 'township' and t.code = v.township_code
        where i.id = :id"""),
        {"kinds": kinds, "steps": steps, "hours": hours, "v": version_id,
         "id": int(incident_id)}).mappings().first()
    if row is None:
        return None
    out = dict(row)
    if out["status"] == "closed":
        out["due"] = None
    out["remaining_s"] = None if out["due"] is None else (out["due"] - now).total_seconds()
    out["stage"] = stage_of(out["started"], out["due"], now, int(out["alert_stage"] or 0))
    out["history"] = workflow.history(conn, int(incident_id))
    out["escalated"] = any(e["kind"] == "escalation" for e in out["history"])
    out["allowed"] = workflow.allowed_actions(out["status"])
    out["reports"] = int(out["reports"] or 0)
    return out


def units(conn: Connection, adcode: str, version_id: int | None) -> dict[str, list[dict]]:
    """Units an incident of county ``adcode`` can be dispatched to, per unit type.

    Each unit is ``{"code", "name", "township"}`` (township code, None for the county):
    ``village_station`` — the village grids of ``version_id`` (网格服务站);
    ``township_department`` — the townships; ``police_post`` — the police posts;
    ``county_department`` — the county. Names are the places' own (the desk adds what the
    unit is).
    """
    villages = conn.execute(sa.text("""
        select v.code, t.name || v.name, v.township_code from grid v
        left join territory_unit t on t.level = 'township' and t.code = v.township_code
        where v.version_id = :v and v.level = 1 order by v.code"""), {"v": version_id}).all()
    towns = conn.execute(sa.text("""select code, name, code from territory_unit
        where level = 'township' and adcode = :a order by code"""), {"a": adcode}).all()
    posts = conn.execute(sa.text("""select code, name, township_code from police_post
        where adcode = :a order by code"""), {"a": adcode}).all()
    county = conn.execute(sa.text("""select code, name from territory_unit
        where level = 'county' and code = :a"""), {"a": adcode}).all()
    out = {
        "village_station": [{"code": c, "name": n or c, "township": tc} for c, n, tc in villages],
        "township_department": [{"code": c, "name": n, "township": tc} for c, n, tc in towns],
        "police_post": [{"code": c, "name": n, "township": tc} for c, n, tc in posts],
        "county_department": [{"code": c, "name": n, "township": None} for c, n in county]
        or [{"code": adcode, "name": adcode, "township": None}],
    }
    return {k: out[k] for k in settings.WORKFLOW_UNIT_TYPES if k in out} | \
        {k: [] for k in settings.WORKFLOW_UNIT_TYPES if k not in out}


def officer_post(conn: Connection, village_code: str | None) -> str | None:
    """Code of the police post of the officer assigned to ``village_code`` (一村一警)."""
    if not village_code:
        return None
    return conn.execute(sa.text("""
        select o.post_code from officer_village ov
        join police_officer o on o.code = ov.officer_code
        where ov.village_code = :v and o.post_code is not null
        order by o.code limit 1"""), {"v": village_code}).scalar()


def default_unit(options: list[dict], unit_type: str, incident: dict[str, Any],
                 post: str | None = None) -> str | None:
    """The unit of ``unit_type`` an incident most likely goes to: its own village's
    station, its township, the post of its village officer (``post``) else a post of its
    township, the county; else the first unit; None when there is none."""
    if not options:
        return None
    codes = [o["code"] for o in options]
    town = incident.get("township_code")
    wanted: list[str | None] = {
        "village_station": [incident.get("village_code")],
        "township_department": [town],
        "police_post": [post] + [o["code"] for o in options if town and o["township"] == town],
        "county_department": [incident.get("adcode")],
    }.get(unit_type, [])
    for w in wanted:
        if w in codes:
            return w
    if incident.get("unit_type") == unit_type and incident.get("unit_code") in codes:
        return incident["unit_code"]
    return codes[0]


def details_for(action: str, values: dict[str, Any]) -> dict[str, Any]:
    """The details of ``action`` among the form ``values`` (the other inputs and empty
    texts dropped, texts stripped)."""
    out: dict[str, Any] = {}
    for k in ACTION_FIELDS.get(action, ()):
        v = values.get(k)
        if isinstance(v, str):
            v = v.strip()
        if v not in (None, ""):
            out[k] = v
    return out


def missing_fields(action: str, details: dict[str, Any]) -> list[str]:
    """Inputs that ``action`` needs and ``details`` lacks."""
    return [k for k in REQUIRED_FIELDS.get(action, ()) if details.get(k) in (None, "")]


def apply_action(engine: Engine, incident_id: int, action: str, details: dict[str, Any],
                 now: datetime | None = None, actor: str | None = None) -> dict[str, Any]:
    """Apply a workflow action in its own transaction; returns the audit event written.

    Raises :class:`gis._errors.WorkflowError` (illegal in the incident's state, missing or
    unknown detail) and :class:`gis._errors.NotFoundError` (no such incident) from
    :func:`gis.incidents.workflow.transition`; nothing is written then.
    """
    at = now or datetime.now(UTC)
    with engine.begin() as conn:
        return workflow.transition(conn, int(incident_id), action,
                                   actor or settings.DESK_ACTOR, at, **details)
