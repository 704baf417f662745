"""The workflow scheduler: reminders (提醒), warnings (警示) and automatic escalation (自动跳级).

For every open incident whose current step has a deadline (``incident.step_due_at``, set by
:func:`gis.incidents.workflow.transition` from :mod:`gis.incidents.limits`), with ``L`` the
step's limit (due − start):

* a **reminder** at ``start + L × settings.WORKFLOW_REMINDER_FRACTION`` (default 80 %);
* a **warning** at the deadline ``start + L``;
* an **escalation** to the next level of ``settings.ESCALATION_LADDER`` (village → township
  → county, "小事不出村、大事不出镇") at ``due + L × settings.WORKFLOW_ESCALATION_GRACE_FRACTION``.
  It restarts the step's clock at the new level (same limit, start = the escalation time), so
  the new level gets its own reminder, warning and, below the top, escalation. At the top
  level only the reminder and the warning come.

Each notice is issued once per incident and step (``step_seq``; a step ends with every
transition and every escalation), enforced by the unique key (incident_id, step_seq, kind)
of ``incident_event`` and by ``incident.alert_stage``. Events are dated when their rule fires
(not when the scheduler noticed), so the audit trail is the same whether the scheduler runs
every minute or once after a pause; a run that finds an incident several limits late issues
the whole chain (reminder, warning, escalation, reminder, ...) in one go. Re-running at the
same or an earlier ``now`` adds nothing.

Everything is set-based SQL, one statement per kind of event and per level climbed; rows
locked by an operator's transition at that moment are skipped (``skip locked``) and caught
by the next run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import ConfigError, WorkflowError
from gis.incidents import limits

SCHEDULER = "system:escalation"
"""Actor of the scheduler's events."""

_KIND_ORDER = {"transition": 0, "reminder": 1, "warning": 2, "escalation": 3}

_EVENT_COLS = ("id, adcode, incident_id, at, recorded_at, actor, kind, action, from_status, "
               "to_status, level, step_seq, detail")


def start_clocks(conn: Connection, adcode: str | None = None) -> int:
    """Start the step clock of incidents that have none yet (e.g. rows from bulk ingest).

    The clock starts at ``reported_at`` (else ``occurred_at``) with the limit of the
    incident's kind and status; closed incidents get a start and no deadline. Returns the
    number of incidents updated.
    """
    kinds, steps, hours = limits.limit_rows()
    return conn.execute(sa.text("""
        with lim as (
            select * from unnest(cast(:kinds as text[]), cast(:steps as text[]),
                                 cast(:hours as float8[])) as t(kind, step, hours))
        update incident i
        set step_started_at = coalesce(i.reported_at, i.occurred_at),
            step_due_at = coalesce(i.reported_at, i.occurred_at)
                          + coalesce(k.hours, d.hours) * interval '1 hour'
        from incident j
        left join lim k on k.kind = j.kind and k.step = j.status
        left join lim d on d.kind = 'default' and d.step = j.status
        where i.id = j.id and j.step_started_at is null
          and (cast(:adcode as text) is null or j.adcode = :adcode)"""),
        {"kinds": kinds, "steps": steps, "hours": hours, "adcode": adcode}).rowcount


_NOTICES = f"""
with cand as (
    select id, adcode, status, level, step_seq, alert_stage,
           step_started_at as s, step_due_at as d
    from incident
    where step_due_at is not null and alert_stage < 2 and status <> 'closed'
      and (cast(:adcode as text) is null or adcode = :adcode)
      and step_started_at + (step_due_at - step_started_at) * :f <= :now
    for update skip locked
), ev as (
    select c.*, n.kind, n.at, n.stage
    from cand c
    cross join lateral (values ('reminder', c.s + (c.d - c.s) * :f, 1),
                               ('warning', c.d, 2)) as n(kind, at, stage)
    where n.stage > c.alert_stage and n.at <= :now
), ins as (
    insert into incident_event (adcode, incident_id, at, actor, kind, from_status, to_status,
                                level, step_seq, detail)
    select adcode, id, at, :actor, kind, status, status, level, step_seq,
           jsonb_build_object('step', status, 'started_at', s, 'due_at', d,
                              'limit_h', extract(epoch from d - s) / 3600.0)
    from ev
    on conflict (incident_id, step_seq, kind) do nothing
    returning {_EVENT_COLS}
), upd as (
    update incident i set alert_stage = m.stage
    from (select id, max(stage) as stage from ev group by id) m
    where i.id = m.id
)
select * from ins
"""

_ESCALATIONS = f"""
with cand as (
    select id, adcode, status, level, step_seq, step_started_at as s, step_due_at as d,
           array_position(cast(:ladder as text[]), level) as pos
    from incident
    where step_due_at is not null and alert_stage >= 2 and status <> 'closed'
      and level = any(cast(:lower as text[]))
      and (cast(:adcode as text) is null or adcode = :adcode)
      and step_due_at + (step_due_at - step_started_at) * :g <= :now
    for update skip locked
), esc as (
    select c.*, (cast(:ladder as text[]))[c.pos + 1] as new_level,
           c.d + (c.d - c.s) * :g as at
    from cand c
), ins as (
    insert into incident_event (adcode, incident_id, at, actor, kind, from_status, to_status,
                                level, step_seq, detail)
    select adcode, id, at, :actor, 'escalation', status, status, new_level, step_seq,
           jsonb_build_object('step', status, 'from_level', level, 'to_level', new_level,
                              'started_at', s, 'due_at', d,
                              'limit_h', extract(epoch from d - s) / 3600.0,
                              'new_due_at', at + (d - s))
    from esc
    on conflict (incident_id, step_seq, kind) do nothing
    returning {_EVENT_COLS}
), upd as (
    update incident i
    set level = e.new_level, step_seq = i.step_seq + 1, step_started_at = e.at,
        step_due_at = e.at + (e.d - e.s), alert_stage = 0, updated_at = e.at
    from esc e
    where i.id = e.id
)
select * from ins
"""


def _check_settings() -> tuple[float, float, list[str]]:
    f = float(settings.WORKFLOW_REMINDER_FRACTION)
    g = float(settings.WORKFLOW_ESCALATION_GRACE_FRACTION)
    ladder = list(settings.ESCALATION_LADDER)
    if not 0 < f < 1:
        msg = f"settings.WORKFLOW_REMINDER_FRACTION = {f} must be between 0 and 1 " \
              "(the share of a step's limit after which the reminder comes)"
        raise ConfigError(msg)
    if g < 0:
        msg = f"settings.WORKFLOW_ESCALATION_GRACE_FRACTION = {g} must be 0 or more"
        raise ConfigError(msg)
    if not ladder or len(set(ladder)) != len(ladder):
        msg = f"settings.ESCALATION_LADDER = {tuple(ladder)} must list distinct levels, " \
              "lowest first"
        raise ConfigError(msg)
    return f, g, ladder


def run_escalation(conn: Connection, now: datetime, adcode: str | None = None,
                   actor: str = SCHEDULER) -> list[dict[str, Any]]:
    """Issue the reminders, warnings and escalations due at ``now``; return the new events.

    Runs inside the caller's transaction (``with engine.begin() as conn``). Starts missing
    clocks first (:func:`start_clocks`). ``adcode`` restricts the run to one county. The
    events (dicts with the columns of ``incident_event``) come sorted by ``at``, incident and
    kind (reminder, warning, escalation); calling again with the same or an earlier ``now``
    returns ``[]``.
    """
    if not isinstance(now, datetime) or now.tzinfo is None:
        msg = f"'now' must be a timezone-aware datetime, got {now!r}"
        raise WorkflowError(msg)
    f, g, ladder = _check_settings()
    start_clocks(conn, adcode)
    params = {"now": now, "f": f, "g": g, "ladder": ladder, "lower": ladder[:-1],
              "adcode": adcode, "actor": actor}
    events: list[dict[str, Any]] = []
    for _ in range(len(ladder)):
        events += [dict(r) for r in conn.execute(sa.text(_NOTICES), params).mappings()]
        escalated = [dict(r) for r in conn.execute(sa.text(_ESCALATIONS), params).mappings()]
        events += escalated
        if not escalated:  # at most len(ladder) - 1 escalations: the loop always ends here
            break
    events.sort(key=lambda e: (e["at"], e["incident_id"], e["step_seq"],
                               _KIND_ORDER[e["kind"]]))
    return events
