"""Time limits of the workflow steps (限期办结), read from :data:`gis.settings.WORKFLOW_LIMITS_H`.

A *step* is named by the status an incident waits in (``received``, ``dispatched``,
``in_progress``, ``resolved``, ``followed_up``, ``reopened``); its limit is the time allowed
to leave that status. ``closed`` has no clock. Settings are read at call time, so assigning
to ``gis.settings.WORKFLOW_LIMITS_H`` (CLI, tests) takes effect for the next step started.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gis import settings
from gis._errors import ConfigError

STEPS: tuple[str, ...] = ("received", "dispatched", "in_progress", "resolved", "followed_up",
                          "reopened")
"""Statuses that run a clock (every status but ``closed``)."""


def limit_hours(kind: str, step: str) -> float | None:
    """Hours allowed in ``step`` for an incident of ``kind``; None when the step has no clock.

    A kind missing from the settings, or a step missing for the kind, falls back to the
    ``"default"`` entry; a limit of ``None`` or 0 means no clock.
    """
    if step not in STEPS:
        return None
    table = settings.WORKFLOW_LIMITS_H
    per_kind = table.get(kind) or {}
    hours = per_kind[step] if step in per_kind else table.get("default", {}).get(step)
    if hours is None or hours == 0:
        return None
    if hours < 0:
        msg = f"settings.WORKFLOW_LIMITS_H[{kind!r}][{step!r}] = {hours} is negative; " \
              "give the hours allowed for the step (or None for no clock)"
        raise ConfigError(msg)
    return float(hours)


def due_at(kind: str, step: str, start: datetime) -> datetime | None:
    """Deadline of ``step`` started at ``start``; None when the step has no clock."""
    hours = limit_hours(kind, step)
    return None if hours is None else start + timedelta(hours=hours)


def limit_rows() -> tuple[list[str], list[str], list[float | None]]:
    """The whole limits table as three parallel lists (kind, step, hours) for SQL ``unnest``.

    Every kind of the settings and of :data:`gis.settings.INCIDENT_KINDS` is expanded over
    every step (with the default filled in), plus the ``"default"`` rows for other kinds.
    """
    kinds = dict.fromkeys([*settings.INCIDENT_KINDS, *settings.WORKFLOW_LIMITS_H, "default"])
    out: tuple[list[str], list[str], list[float | None]] = ([], [], [])
    for kind in kinds:
        for step in STEPS:
            out[0].append(kind)
            out[1].append(step)
            out[2].append(limit_hours(kind, step))
    return out
