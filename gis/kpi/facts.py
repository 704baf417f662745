"""Per-incident facts, the atoms every KPI is aggregated from (:mod:`gis.kpi.definitions`).

:data:`FACTS_SQL` yields one row per incident of the period (``occurred_at`` in
[start, end), optionally of one county), its own columns plus ``t0`` =
``coalesce(reported_at, occurred_at)``, ``township_code`` (the village's township from
``territory_unit``, else from the level-1 grid) and:

* ``resolved`` — 办结: status is ``resolved``, ``followed_up`` or ``closed``.
* ``closed`` — status is ``closed``.
* ``late`` / ``on_time`` — with an audit trail (any ``incident_event`` row): late when the
  trail has a ``warning`` (a step's time limit passed) or an ``escalation``, or a transition
  that ended its step after the step's deadline (``detail.on_time = false``); without a
  trail (imported history): late when ``coalesce(resolved_at, closed_at)`` is unknown or
  later than ``t0`` + the sum of the kind's limits of the steps :data:`ON_TIME_STEPS`
  (:data:`gis.settings.WORKFLOW_LIMITS_H`). ``on_time`` = ``resolved`` and not ``late``.
* ``answered`` / ``satisfied`` — the follow-up call has an answer / the answer is
  ``satisfied`` (满意) or ``basically`` (基本满意).
* ``is_mediation`` — its kind is in :data:`gis.settings.MEDIATION_KINDS` (矛盾纠纷).
* ``reopened`` / ``ever_resolved`` — a ``reopen`` / ``resolve`` transition in its trail.
* ``mediated`` — a mediation case concluded at least once: ``resolved`` or ``ever_resolved``.
* ``failure_marker`` — its feedback contains one of
  :data:`gis.settings.MEDIATION_FAILURE_MARKERS` (调解不成, 引导诉讼, …).
* ``mediation_ok`` — a mediation case that is resolved now, was never reopened, whose
  follow-up answer is not ``unsatisfied`` and without ``failure_marker``. The data model has
  no mediation-outcome field; this is how success is read from the workflow.
* ``in_village`` — never handled above the lowest level of
  :data:`gis.settings.ESCALATION_LADDER` (village): its current ``level`` and the level of
  every event of its trail are ``village`` (no escalation, no dispatch upwards).
* ``onsite`` — ``mediation_ok`` and ``in_village`` (就地化解, 小事不出村).
* ``escalations`` — number of ``escalation`` events in its trail.
* ``top_pos`` — highest ladder position it was ever handled at (1 = village).
* ``first_pos`` — ladder position where it was first taken up: the level of its first
  ``dispatch`` transition, or 1 when an escalation came first (it climbed the ladder);
  without either, its current level.
* ``n_reports`` — rows in ``incident_report`` (0 when it came by bulk ingest only).
* ``to_resolve_min`` / ``to_close_min`` — minutes from ``t0`` to ``resolved_at`` /
  ``closed_at``.

:data:`STAYS_SQL` adds the time spent in each workflow step, from the audit trail: one
*stay* per transition event, from the previous transition (or ``t0`` for the first) to it,
named by the status it left (``from_status``).
"""

from __future__ import annotations

from gis import settings
from gis._errors import KpiError
from gis.incidents import limits

ON_TIME_STEPS: tuple[str, ...] = ("received", "dispatched", "in_progress")
"""Steps whose limits add up to the time allowed from report to resolution (used for
incidents without an audit trail)."""

FACTS_SQL = """
tot as (
    select * from unnest(cast(:ot_kinds as text[]), cast(:ot_hours as float8[]))
        as t(kind, hours)),
inc as not materialized (
    select i.id, i.adcode, i.source, i.kind, i.status, i.level, i.village_code, i.group_code,
           i.feedback, i.satisfaction, i.resolved_at, i.closed_at, i.occurred_at,
           coalesce(i.reported_at, i.occurred_at) as t0
    from incident i
    where i.occurred_at >= :start and i.occurred_at < :end
      and (cast(:adcode as text) is null or i.adcode = :adcode)),
ev as (
    select e.incident_id,
           count(*) filter (where e.kind = 'escalation') as escalations,
           bool_or(e.kind in ('warning', 'escalation')
                   or (e.kind = 'transition' and e.detail ->> 'on_time' = 'false')) as late,
           bool_or(e.kind = 'transition' and e.action = 'reopen') as reopened,
           bool_or(e.kind = 'transition' and e.action = 'resolve') as ever_resolved,
           max(array_position(cast(:ladder as text[]), e.level)) as top_pos,
           cast((min(array[extract(epoch from e.at), e.id,
                           case when e.kind = 'escalation' then 1
                                else array_position(cast(:ladder as text[]), e.level) end])
                 filter (where e.kind = 'escalation'
                         or (e.kind = 'transition' and e.action = 'dispatch')))[3] as int)
               as first_pos
    from incident_event e join inc on inc.id = e.incident_id
    group by e.incident_id),
rep as (
    select r.incident_id, count(*) as n from incident_report r
    join inc on inc.id = r.incident_id group by r.incident_id),
vmap as (
    select distinct on (code) code, township_code from (
        select code, parent_code as township_code, 0 as pri from territory_unit
        where level = 'village'
        union all
        select code, township_code, 1 from grid where level = 1 and township_code is not null
    ) s order by code, pri),
base as (
    select inc.*, vmap.township_code,
           inc.status in ('resolved', 'followed_up', 'closed') as resolved,
           inc.status = 'closed' as closed,
           case when ev.incident_id is not null then ev.late
                else coalesce(coalesce(inc.resolved_at, inc.closed_at)
                              > inc.t0 + coalesce(tk.hours, cast(:ot_default as float8), 1e9)
                                         * interval '1 hour',
                              true) end as late,
           inc.satisfaction is not null as answered,
           coalesce(inc.satisfaction in ('satisfied', 'basically'), false) as satisfied,
           inc.kind = any(cast(:mediation_kinds as text[])) as is_mediation,
           coalesce(ev.reopened, false) as reopened,
           coalesce(ev.ever_resolved, false) as ever_resolved,
           coalesce(inc.feedback, '') like any(cast(:marker_likes as text[]))
               as failure_marker,
           coalesce(ev.escalations, 0) as escalations,
           greatest(array_position(cast(:ladder as text[]), inc.level),
                    ev.top_pos) as top_pos,
           coalesce(ev.first_pos, array_position(cast(:ladder as text[]), inc.level))
               as first_pos,
           coalesce(rep.n, 0) as n_reports,
           extract(epoch from inc.resolved_at - inc.t0) / 60.0 as to_resolve_min,
           extract(epoch from inc.closed_at - inc.t0) / 60.0 as to_close_min
    from inc
    left join ev on ev.incident_id = inc.id
    left join rep on rep.incident_id = inc.id
    left join vmap on vmap.code = inc.village_code
    left join tot tk on tk.kind = inc.kind),
facts as (
    select b.*,
           b.resolved and not b.late as on_time,
           b.is_mediation and (b.resolved or b.ever_resolved) as mediated,
           b.is_mediation and b.resolved and not b.reopened and not b.failure_marker
               and coalesce(b.satisfaction, '') <> 'unsatisfied' as mediation_ok,
           coalesce(b.top_pos, 1) <= 1 as in_village
    from base b),
facts2 as (
    select f.*, f.mediation_ok and f.in_village as onsite from facts f)
"""
"""Common table expressions ending in ``facts2`` (one row per incident of the period, see
the module docstring); parameters from :func:`facts_params`. Use as
``with {FACTS_SQL} select … from facts2 f``."""

STAYS_SQL = """
stays as (
    select e.incident_id, e.from_status as step,
           extract(epoch from e.at - coalesce(
               lag(e.at) over (partition by e.incident_id order by e.at, e.id), inc.t0)) / 60.0
               as minutes
    from incident_event e join inc on inc.id = e.incident_id
    where e.kind = 'transition')
"""
"""One row per transition of an incident of the period: the ``step`` it left
(``from_status``) and the ``minutes`` spent in it; append after :data:`FACTS_SQL`
(``with {FACTS_SQL}, {STAYS_SQL} select …``)."""


def facts_params(start: object, end: object, adcode: str | None = None) -> dict[str, object]:
    """Bind parameters of :data:`FACTS_SQL` for the period [start, end) (timezone-aware
    datetimes) and an optional county, from the current settings."""
    ladder = list(settings.ESCALATION_LADDER)
    if not ladder:
        msg = "settings.ESCALATION_LADDER is empty; list the levels, lowest first"
        raise KpiError(msg)
    allowed = allowed_hours()
    return {"start": start, "end": end, "adcode": adcode,
            "ot_kinds": [k for k in allowed if k != "default"],
            "ot_hours": [h for k, h in allowed.items() if k != "default"],
            "ot_default": allowed.get("default"),
            "ladder": ladder, "mediation_kinds": list(settings.MEDIATION_KINDS),
            "marker_likes": [_like(m) for m in settings.MEDIATION_FAILURE_MARKERS if m]}


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (``%``, ``_`` and ``\\`` escaped)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def allowed_hours() -> dict[str, float | None]:
    """Kind -> hours allowed from report to resolution (sum of the kind's limits of
    :data:`ON_TIME_STEPS`; steps without a clock add nothing; None when none of them has
    one: no limit), for every kind of the settings and ``"default"`` (other kinds)."""
    kinds, steps, hours = limits.limit_rows()
    out: dict[str, float | None] = {}
    for kind, step, h in zip(kinds, steps, hours, strict=True):
        if step in ON_TIME_STEPS:
            out.setdefault(kind, None)
            if h is not None:
                out[kind] = (out[kind] or 0.0) + h
    return out


def ladder_pos(level: str, setting: str) -> int:
    """1-based position of ``level`` in :data:`gis.settings.ESCALATION_LADDER`;
    :class:`KpiError` naming ``setting`` when it is not on the ladder."""
    ladder = tuple(settings.ESCALATION_LADDER)
    if level not in ladder:
        msg = f"settings.{setting} = {level!r} is not a level of settings.ESCALATION_LADDER " \
              f"{ladder}"
        raise KpiError(msg)
    return ladder.index(level) + 1
