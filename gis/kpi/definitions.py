"""The exact definition of every KPI, in one place.

Every KPI is computed over the **incidents of the period**: incidents whose ``occurred_at``
lies in [start, end) (local calendar days, :mod:`gis.kpi.period`) and whose location lies in
the unit (group grid ``group_code``, village ``village_code``, township = the village's
township, county ``adcode``). Incidents without a village (``outside`` / no location) count
for their county only. Figures describe the incidents' state *as recorded when the KPI is
computed*: a period's rates rise while its open incidents are worked off.

Each KPI is one function below returning a :class:`Kpi`; its docstring is the definition.
They read the per-incident **facts** of :mod:`gis.kpi.facts` (one row per incident of the
period, alias ``f``: ``resolved``, ``on_time``, ``answered``, ``satisfied``, ``is_mediation``,
``mediated``, ``mediation_ok``, ``onsite``, ``escalations``, …, each defined there); the
docstrings below restate what they use, so each one is a complete definition.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from gis import settings
from gis._errors import KpiError
from gis.kpi.facts import FACTS_SQL, ON_TIME_STEPS, STAYS_SQL, facts_params, ladder_pos

__all__ = ["FACTS_SQL", "ON_TIME_STEPS", "STAYS_SQL", "Kpi", "definitions", "facts_params",
           "label_key", "ladder_pos", "rate_keys", "registry"]

STEP_NAMES: tuple[str, ...] = ("received", "dispatched", "in_progress", "resolved",
                               "followed_up", "reopened")
"""Workflow steps with a median time: the status an incident waits in (received → dispatch,
dispatched → accept, in_progress → resolve, resolved → follow_up, followed_up → close,
reopened → dispatch / accept)."""

# --- the KPI catalogue ---------------------------------------------------------------------

@dataclass(frozen=True)
class Kpi:
    """One KPI: how it is aggregated from the facts, its target and its definition.

    Attributes
    ----------
    key : str
        Column name in the KPI table (and ``kpi.<key>`` in the translation table).
    kind : {"count", "rate", "median"}
        ``count``: ``expr`` is an aggregate over ``facts2 f``; ``rate``: ``expr`` /
        ``den`` are the numerator / denominator conditions (columns ``<key>``,
        ``<key>_num``, ``<key>_den``, ``<key>_pass``); ``median``: the median of ``expr``
        (minutes) over the rows where ``where`` holds, from ``source``.
    source : {"facts", "stays"}
        Rows the median is taken over.
    target : str or None
        Name of the settings attribute holding the target (rates).
    higher_is_better : bool
        Direction for ranking.
    doc : str
        The definition (the defining function's docstring).
    """

    key: str
    kind: Literal["count", "rate", "median"]
    expr: str
    den: str | None = None
    where: str | None = None
    source: Literal["facts", "stays"] = "facts"
    target: str | None = None
    higher_is_better: bool = True
    doc: str = ""

    @property
    def target_value(self) -> float | None:
        """The target (share 0–1) from the settings, or None."""
        if self.target is None:
            return None
        value = getattr(settings, self.target)
        if value is not None and not 0 <= float(value) <= 1:
            msg = f"settings.{self.target} = {value} must be a share between 0 and 1 or None"
            raise KpiError(msg)
        return None if value is None else float(value)


def _kpi(fn: Callable[[], Kpi]) -> Callable[[], Kpi]:
    """Attach the function's docstring to the Kpi it returns."""

    @functools.wraps(fn)
    def wrapper() -> Kpi:
        return replace(fn(), doc=fn.__doc__ or "")

    return wrapper


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@_kpi
def incidents() -> Kpi:
    """Incidents (事件数): the number of incidents of the period in the unit."""
    return Kpi("incidents", "count", "count(*)", higher_is_better=False)


def incidents_by_kind() -> list[Kpi]:
    """Incidents by kind: one count ``n_<kind>`` per kind of
    :data:`gis.settings.INCIDENT_KINDS` (incidents of the period with that kind), and
    ``n_other`` for kinds outside the catalogue."""
    kinds = list(settings.INCIDENT_KINDS)
    out = [Kpi(f"n_{k}", "count", f"count(*) filter (where f.kind = {_lit(k)})",
               higher_is_better=False,
               doc=f"Incidents of kind {k!r} ({settings.INCIDENT_KINDS[k]}) in the period.")
           for k in kinds]
    other = "count(*) filter (where not (f.kind = any(array[" \
            + ", ".join(_lit(k) for k in kinds) + "]::text[])))" if kinds else "count(*)"
    out.append(Kpi("n_other", "count", other, higher_is_better=False,
                   doc="Incidents whose kind is not in settings.INCIDENT_KINDS."))
    return out


@_kpi
def on_time_rate() -> Kpi:
    """On-time closure rate (按时办结率) = on time / resolved.

    Denominator: incidents of the period that are resolved (status ``resolved``,
    ``followed_up`` or ``closed``). Numerator: those of them not late — with an audit trail,
    no ``warning`` or ``escalation`` event and no transition after its step's deadline;
    without one, ``coalesce(resolved_at, closed_at)`` within the sum of the kind's limits of
    the steps received + dispatched + in_progress after ``coalesce(reported_at,
    occurred_at)``. Target :data:`gis.settings.KPI_ON_TIME_TARGET`. The wall display's
    on-time rate (:func:`gis.incidents.stats.window_rates`) is this definition.
    """
    return Kpi("on_time_rate", "rate", "f.on_time", "f.resolved", target="KPI_ON_TIME_TARGET")


@_kpi
def fulfilment_rate() -> Kpi:
    """Fulfilment rate (办结率 / 落实到位率) = resolved / incidents.

    Denominator: every incident of the period. Numerator: those resolved now (status
    ``resolved``, ``followed_up`` or ``closed``). Target
    :data:`gis.settings.KPI_FULFILMENT_TARGET`.
    """
    return Kpi("fulfilment_rate", "rate", "f.resolved", "true",
               target="KPI_FULFILMENT_TARGET")


@_kpi
def satisfaction_rate() -> Kpi:
    """Follow-up satisfaction rate (回访满意率) = (satisfied + basically) / answered.

    Denominator: incidents of the period with a follow-up answer (``satisfaction`` not
    null; a reopening clears it). Numerator: answers ``satisfied`` (满意) or ``basically``
    (基本满意). Target :data:`gis.settings.KPI_SATISFACTION_TARGET`.
    """
    return Kpi("satisfaction_rate", "rate", "f.satisfied", "f.answered",
               target="KPI_SATISFACTION_TARGET")


@_kpi
def mediation_success_rate() -> Kpi:
    """Mediation success rate (调解成功率) = successful / mediated disputes.

    Denominator: disputes (kinds :data:`gis.settings.MEDIATION_KINDS`) of the period whose
    mediation was concluded at least once — resolved now, or with a ``resolve`` transition
    in the trail (reopened since). Numerator: those resolved now, never reopened, whose
    follow-up answer is not ``unsatisfied`` and whose feedback has none of
    :data:`gis.settings.MEDIATION_FAILURE_MARKERS` (调解不成, 引导诉讼, …). Target
    :data:`gis.settings.MEDIATION_SUCCESS_TARGET` (96 %).
    """
    return Kpi("mediation_success_rate", "rate", "f.mediation_ok", "f.mediated",
               target="MEDIATION_SUCCESS_TARGET")


@_kpi
def onsite_mediation_rate() -> Kpi:
    """On-site mediation rate (现场调解率, 就地化解, 小事不出村) = settled in the village /
    disputes.

    Denominator: every dispute (kinds :data:`gis.settings.MEDIATION_KINDS`) of the period.
    Numerator: those mediated successfully (as in :func:`mediation_success_rate`) that never
    left the village level: current level and every event of the trail at ``village`` (no
    escalation, no dispatch to a township / county unit or police post). Target
    :data:`gis.settings.ONSITE_MEDIATION_TARGET` (58 %).
    """
    return Kpi("onsite_mediation_rate", "rate", "f.onsite", "f.is_mediation",
               target="ONSITE_MEDIATION_TARGET")


@_kpi
def eventual_closure_rate() -> Kpi:
    """Eventual closure rate (后期办结率) = concluded / disputes not settled on site.

    "现场调处不成，责任单位进一步化解后期办结率达到99%以上": denominator: disputes of the
    period that are not settled on site (not counted by :func:`onsite_mediation_rate`:
    escalated or dispatched upwards, failed, reopened, or still open). Numerator: those of
    them resolved now (status ``resolved``, ``followed_up`` or ``closed``), whatever the
    outcome. Target :data:`gis.settings.EVENTUAL_CLOSURE_TARGET` (99 %).
    """
    return Kpi("eventual_closure_rate", "rate", "f.resolved",
               "f.is_mediation and not f.onsite", target="EVENTUAL_CLOSURE_TARGET")


@_kpi
def escalations() -> Kpi:
    """Escalations (自动跳级): the number of ``escalation`` events in the audit trails of the
    incidents of the period (an incident escalated village → township → county counts 2)."""
    return Kpi("escalations", "count", "coalesce(sum(f.escalations), 0)",
               higher_is_better=False)


@_kpi
def escalated() -> Kpi:
    """Escalated incidents: incidents of the period with at least one ``escalation``
    event."""
    return Kpi("escalated", "count", "count(*) filter (where f.escalations > 0)",
               higher_is_better=False)


def step_medians() -> list[Kpi]:
    """Median time per step, minutes (``med_<step>_min``): for each step of
    :data:`STEP_NAMES`, the median over the stays in that status of the incidents of the
    period (audit trail only: a stay runs from the transition into the status — or the
    report time for ``received`` — to the transition out of it; a re-dispatch 改派 ends a
    ``dispatched`` stay). Null when no stay ended in the step."""
    return [Kpi(f"med_{s}_min", "median", "minutes", where=f"s.step = {_lit(s)}",
                source="stays", higher_is_better=False,
                doc=f"Median time in step {s!r} ({_STEP_EXITS[s]}), minutes: over the "
                    f"transitions out of {s!r} of the incidents of the period, the time "
                    "since the transition into it (or since the report for 'received'); "
                    "audit trail only, null when no incident left the step.")
            for s in STEP_NAMES]


_STEP_EXITS: dict[str, str] = {
    "received": "received → dispatched, 分流", "dispatched": "dispatched → in_progress, 签收",
    "in_progress": "in_progress → resolved, 办结", "resolved": "resolved → followed_up, 回访",
    "followed_up": "followed_up → closed, 归档",
    "reopened": "reopened → dispatched / in_progress"}


@_kpi
def med_to_resolve_min() -> Kpi:
    """Median time to resolution, minutes: over the resolved incidents of the period with a
    ``resolved_at``, the median of ``resolved_at − coalesce(reported_at, occurred_at)``
    (also for incidents without an audit trail)."""
    return Kpi("med_to_resolve_min", "median", "f.to_resolve_min",
               where="f.resolved and f.to_resolve_min is not null", higher_is_better=False)


@_kpi
def med_to_close_min() -> Kpi:
    """Median time to closure, minutes: over the closed incidents of the period, the median
    of ``closed_at − coalesce(reported_at, occurred_at)``."""
    return Kpi("med_to_close_min", "median", "f.to_close_min",
               where="f.closed and f.to_close_min is not null", higher_is_better=False)


def registry() -> list[Kpi]:
    """Every KPI, in the column order of the KPI table (read from the settings now)."""
    return [incidents(), *incidents_by_kind(), on_time_rate(), fulfilment_rate(),
            satisfaction_rate(), mediation_success_rate(), onsite_mediation_rate(),
            eventual_closure_rate(), escalations(), escalated(), *step_medians(),
            med_to_resolve_min(), med_to_close_min()]


def rate_keys() -> list[str]:
    """Keys of the rate KPIs (the ones with targets and pass flags)."""
    return [k.key for k in registry() if k.kind == "rate"]


def definitions() -> dict[str, str]:
    """key -> definition text (the docstring, whitespace folded) of every KPI."""
    return {k.key: " ".join(k.doc.split()) for k in registry()}


def label_key(column: str) -> str:
    """Translation key (:mod:`layers.i18n`) of a KPI-table column: ``kind.<kind>`` for the
    per-kind counts ``n_<kind>``, ``kpi.<key>`` for a KPI and for its ``_num`` / ``_den`` /
    ``_pass`` companions (the pages add "numerator" / "target met" themselves)."""
    if column.startswith("n_") and column[2:] in settings.INCIDENT_KINDS:
        return f"kind.{column[2:]}"
    for suffix in ("_num", "_den", "_pass"):
        if column.endswith(suffix) and column.removesuffix(suffix) in rate_keys():
            return f"kpi.{column.removesuffix(suffix)}"
    return f"kpi.{column}"
