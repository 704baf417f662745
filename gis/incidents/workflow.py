"""The incident workflow 受理 → 分流 → 督办 → 反馈 → 回访 as a small explicit state machine.

States (``incident.status``) and actions::

    received ─dispatch─▶ dispatched ─accept─▶ in_progress ─resolve─▶ resolved
    resolved ─follow_up─▶ followed_up ─close─▶ closed
    dispatched | in_progress ─dispatch─▶ dispatched     (改派 / 退回改派: to another unit)
    resolved | followed_up | closed ─reopen─▶ reopened
    reopened ─dispatch─▶ dispatched                     (to a new unit)
    reopened ─accept─▶ in_progress                      (the same unit resumes)

* ``received`` (受理): registered by intake; the centre has to dispatch it (分流).
* ``dispatched``: sent to a unit (村网格服务站 ``village_station``, 乡镇部门
  ``township_department``, 派出所/警务室 ``police_post``, 县级部门 ``county_department``),
  which has to accept it (签收). It can be re-dispatched to another unit (改派).
* ``in_progress`` (办理/督办): the unit works on it; it may hand it back for another unit.
* ``resolved`` (办结/反馈): done, with the unit's ``feedback``.
* ``followed_up`` (回访): the reporter was called back; ``satisfaction`` is ``satisfied`` (满意),
  ``basically`` (基本满意) or ``unsatisfied`` (不满意).
* ``closed`` (归档): no clock runs any more.
* ``reopened``: a resolved, followed-up or closed incident that has to be worked again (an
  unsatisfied follow-up, a relapse, a complaint). From ``reopened`` the centre either
  dispatches it again — to a new unit, back to ``dispatched`` — or the same unit resumes —
  ``accept``, back to ``in_progress``. Reopening clears ``feedback``, ``satisfaction``,
  ``resolved_at`` and ``closed_at`` (the audit table keeps the earlier values).

The table is :data:`TRANSITIONS`; anything not in it raises :class:`WorkflowError` naming the
state, the action and the allowed actions. Every transition starts a new step (``step_seq``
+ 1) whose clock (:mod:`gis.incidents.limits`) the scheduler (:mod:`gis.incidents.escalation`)
watches, and appends one row to the append-only audit table ``incident_event``.
Escalation (village → township → county) is not a transition: it changes ``level`` and
restarts the clock, the status stays.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import NotFoundError, WorkflowError
from gis.incidents import limits

STATES: tuple[str, ...] = ("received", "dispatched", "in_progress", "resolved", "followed_up",
                           "closed", "reopened")
"""Every workflow status; ``closed`` is the only one without a clock."""

TRANSITIONS: dict[tuple[str, str], str] = {
    ("received", "dispatch"): "dispatched",      # 分流
    ("dispatched", "dispatch"): "dispatched",    # 改派 to another unit
    ("in_progress", "dispatch"): "dispatched",   # handed back, 退回改派
    ("reopened", "dispatch"): "dispatched",      # reopened, sent to a (new) unit
    ("dispatched", "accept"): "in_progress",     # 签收
    ("reopened", "accept"): "in_progress",       # reopened, the same unit resumes
    ("in_progress", "resolve"): "resolved",      # 办结 with feedback (反馈)
    ("resolved", "follow_up"): "followed_up",    # 回访 with satisfaction
    ("followed_up", "close"): "closed",          # 归档
    ("resolved", "reopen"): "reopened",
    ("followed_up", "reopen"): "reopened",
    ("closed", "reopen"): "reopened",
}
"""(status, action) -> new status: the whole state machine."""

ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(a for _, a in TRANSITIONS))
"""Every action: dispatch, accept, resolve, follow_up, close, reopen."""

SATISFACTION: dict[str, str] = {"satisfied": "满意", "basically": "基本满意",
                                "unsatisfied": "不满意"}
"""Answers of the follow-up call (回访)."""

_DETAILS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dispatch": (("unit_type", "unit_code"), ("unit_name", "level", "due_at", "note")),
    "accept": ((), ("due_at", "note")),
    "resolve": (("feedback",), ("due_at", "note")),
    "follow_up": (("satisfaction",), ("due_at", "note")),
    "close": ((), ("note",)),
    "reopen": (("reason",), ("due_at", "note")),
}
"""action -> (required details, optional details). ``due_at`` overrides the next step's
limit with a deadline (限期); ``level`` overrides the level a dispatch hands it to."""


def allowed_actions(status: str) -> tuple[str, ...]:
    """Actions allowed in ``status``, in the order of :data:`ACTIONS`."""
    return tuple(a for a in ACTIONS if (status, a) in TRANSITIONS)


def next_status(status: str, action: str, incident_id: object = None) -> str:
    """The status ``action`` leads to from ``status``; :class:`WorkflowError` when illegal."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        allowed = allowed_actions(status)
        what = f"incident {incident_id}" if incident_id is not None else "an incident"
        kind = "unknown action" if action not in ACTIONS else "action"
        msg = (f"{what} is {status!r}: {kind} {action!r} is not allowed; allowed in "
               f"{status!r}: {', '.join(allowed) or 'none'}")
        raise WorkflowError(msg, status=status, action=action, allowed=allowed) from None


def _check_details(incident_id: int, action: str, details: dict[str, Any]) -> None:
    required, optional = _DETAILS[action]
    missing = [k for k in required if details.get(k) in (None, "")]
    if missing:
        msg = f"incident {incident_id}: action {action!r} needs {', '.join(missing)}"
        raise WorkflowError(msg, action=action)
    unknown = sorted(set(details) - set(required) - set(optional))
    if unknown:
        msg = f"incident {incident_id}: action {action!r} does not take {', '.join(unknown)}; " \
              f"it takes {', '.join(required + optional)}"
        raise WorkflowError(msg, action=action)
    if action == "dispatch" and details["unit_type"] not in settings.WORKFLOW_UNIT_TYPES:
        msg = f"incident {incident_id}: unit_type {details['unit_type']!r} is unknown; " \
              f"use one of {', '.join(settings.WORKFLOW_UNIT_TYPES)}"
        raise WorkflowError(msg, action=action)
    level = details.get("level")
    if level is not None and level not in settings.ESCALATION_LADDER:
        msg = f"incident {incident_id}: level {level!r} is unknown; use one of " \
              f"{', '.join(settings.ESCALATION_LADDER)}"
        raise WorkflowError(msg, action=action)
    if action == "follow_up" and details["satisfaction"] not in SATISFACTION:
        msg = f"incident {incident_id}: satisfaction {details['satisfaction']!r} is unknown; " \
              f"use one of {', '.join(SATISFACTION)}"
        raise WorkflowError(msg, action=action)
    due = details.get("due_at")
    if due is not None and (not isinstance(due, datetime) or due.tzinfo is None):
        msg = f"incident {incident_id}: due_at must be a timezone-aware datetime, got {due!r}"
        raise WorkflowError(msg, action=action)


def _json(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def transition(conn: Connection, incident_id: int, action: str, actor: str, at: datetime,
               **details: Any) -> dict[str, Any]:
    """Apply ``action`` to incident ``incident_id`` at time ``at`` by ``actor``.

    Runs inside the caller's transaction and locks the incident's row. Details per action
    (required / optional):

    * ``dispatch``: ``unit_type`` (see :data:`gis.settings.WORKFLOW_UNIT_TYPES`),
      ``unit_code`` / ``unit_name``, ``level`` (default: the unit type's level), ``due_at``,
      ``note``;
    * ``accept``: ``due_at``, ``note``;
    * ``resolve``: ``feedback`` / ``due_at``, ``note``;
    * ``follow_up``: ``satisfaction`` (satisfied | basically | unsatisfied) / ``due_at``,
      ``note``;
    * ``close``: / ``note``;
    * ``reopen``: ``reason`` / ``due_at``, ``note``.

    ``due_at`` sets the deadline of the step that starts (otherwise the kind's limit from
    :mod:`gis.incidents.limits`). Returns the audit event written (a dict with the columns of
    ``incident_event``); its detail holds the details given, the deadline of the step that
    ended (``step_due_at``), whether it ended in time (``on_time``) and the new deadline
    (``due_at``). Raises :class:`WorkflowError` for an illegal action, missing or unknown
    details, a naive ``at`` or an ``at`` before the current step started;
    :class:`NotFoundError` for an unknown incident.
    """
    if not isinstance(at, datetime) or at.tzinfo is None:
        msg = f"incident {incident_id}: 'at' must be a timezone-aware datetime, got {at!r}"
        raise WorkflowError(msg, action=action)
    row = conn.execute(sa.text("""
        select id, adcode, kind, status, level, step_seq, step_due_at, step_started_at,
               coalesce(step_started_at, reported_at, occurred_at) as started
        from incident where id = :id for update"""), {"id": incident_id}).mappings().first()
    if row is None:
        msg = f"incident {incident_id} does not exist"
        raise NotFoundError(msg)
    status = row["status"]
    new_status = next_status(status, action, incident_id)
    _check_details(incident_id, action, details)
    if row["started"] is not None and at < row["started"]:
        msg = f"incident {incident_id}: {action!r} at {at.isoformat()} is before its current " \
              f"step {status!r} started ({row['started'].isoformat()})"
        raise WorkflowError(msg, status=status, action=action,
                            allowed=allowed_actions(status))

    sets: dict[str, Any] = {}
    level = row["level"]
    if action == "dispatch":
        level = details.get("level") or settings.WORKFLOW_UNIT_TYPES[details["unit_type"]]
        sets |= {"unit_type": details["unit_type"], "unit_code": details["unit_code"],
                 "unit_name": details.get("unit_name"), "level": level}
    elif action == "resolve":
        sets |= {"feedback": details["feedback"], "resolved_at": at}
    elif action == "follow_up":
        sets["satisfaction"] = details["satisfaction"]
    elif action == "close":
        sets["closed_at"] = at
    elif action == "reopen":
        sets |= {"feedback": None, "satisfaction": None, "resolved_at": None, "closed_at": None}
    due = details.get("due_at") or limits.due_at(row["kind"], new_status, at)
    if due is not None and due <= at:
        msg = f"incident {incident_id}: due_at {due.isoformat()} is not after {at.isoformat()}"
        raise WorkflowError(msg, status=status, action=action)
    sets |= {"status": new_status, "step_started_at": at, "step_due_at": due,
             "updated_at": at}
    assign = ", ".join(f"{k} = :{k}" for k in sets)
    conn.execute(sa.text(f"update incident set {assign}, step_seq = step_seq + 1, "
                         "alert_stage = 0 where id = :id"), {**sets, "id": incident_id})

    old_due = row["step_due_at"]
    if row["step_started_at"] is None and row["started"] is not None:  # clock not started yet
        old_due = limits.due_at(row["kind"], status, row["started"])
    detail = {k: _json(v) for k, v in details.items()}
    detail |= {"step_due_at": _json(old_due),
               "on_time": None if old_due is None else at <= old_due,
               "due_at": _json(due)}
    return _insert_event(conn, adcode=row["adcode"], incident_id=incident_id, at=at,
                         actor=actor, kind="transition", action=action, from_status=status,
                         to_status=new_status, level=level, step_seq=row["step_seq"],
                         detail=detail)


def _insert_event(conn: Connection, **values: Any) -> dict[str, Any]:
    values["detail"] = json.dumps(values["detail"], ensure_ascii=False)
    row = conn.execute(sa.text("""
        insert into incident_event (adcode, incident_id, at, actor, kind, action, from_status,
                                    to_status, level, step_seq, detail)
        values (:adcode, :incident_id, :at, :actor, :kind, :action, :from_status, :to_status,
                :level, :step_seq, cast(:detail as jsonb))
        returning *"""), values).mappings().one()
    return dict(row)


def history(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The audit events of one incident, oldest first (by ``at``, then insertion order)."""
    rows = conn.execute(sa.text(
        "select * from incident_event where incident_id = :id order by at, id"),
        {"id": incident_id}).mappings().all()
    return [dict(r) for r in rows]


def remaining(conn: Connection, incident_id: int, now: datetime) -> timedelta | None:
    """Time left in the incident's current step at ``now`` (negative when overdue)."""
    due = conn.execute(sa.text("select step_due_at from incident where id = :id"),
                       {"id": incident_id}).scalar()
    return None if due is None else due - now
