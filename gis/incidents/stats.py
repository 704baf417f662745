"""The live picture of incidents for the wall display: SQL aggregates, never raw millions.

Every function takes the reference time ``now`` (timezone-aware) and a time zone for
calendar days (default :data:`gis.settings.WALL_TIMEZONE`, Asia/Shanghai): "today" is the
local calendar day of ``now`` there, and daily trends are bucketed by local date.

Definitions (the figures of the KPI tiles):

* **today** — incidents whose ``occurred_at`` falls on the local calendar day of ``now``.
* **open** — incidents not ``closed``.
* **overdue** — open incidents whose current step is past its time limit
  (``step_due_at < now``).
* **escalated** — open incidents handled above the village level (``level`` township /
  county, after an automatic escalation or a dispatch upwards) or with an ``escalation``
  event in their audit trail.
* **on-time closure rate** — of the incidents that occurred in the window (the last
  ``window_days`` days) and are resolved (status resolved, followed up or closed), the
  share resolved on time: without any ``warning`` or ``escalation`` event, nor a transition
  after its step's deadline, when the incident has an audit trail; for incidents without
  one (imported history), resolved within the sum of the time limits of the steps
  received + dispatched + in progress of its kind (:mod:`gis.incidents.limits`). This is
  :func:`gis.kpi.definitions.on_time_rate`, computed by :func:`gis.kpi.compute.totals`.
* **satisfaction rate** — of the incidents of the window with a follow-up answer, the share
  answered ``satisfied`` or ``basically`` (满意 + 基本满意).

Every query uses an index or an aggregate: the covering index on ``occurred_at`` (today,
window, trend, counts per grid: index-only scans), the partial index on ``step_due_at``
(overdue), the primary key (newest), and the tally of incidents per state kept by triggers
(open, awaiting, escalated; see :func:`open_counts`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import WorkflowError
from gis.kpi import compute as kpi_compute
from gis.kpi import facts as kpi_facts

ON_TIME_STEPS: tuple[str, ...] = kpi_facts.ON_TIME_STEPS
"""Steps whose limits add up to the time allowed from report to resolution (defined in
:mod:`gis.kpi.facts`)."""

ESCALATED_PROBE_MAX = 50_000
"""Open village-level incidents up to which :func:`open_counts` looks up each one's
escalation events (index probes); above, it starts from the escalation events instead."""

FEED_COLUMNS: tuple[str, ...] = (
    "id", "kind", "occurred_at", "reported_at", "status", "level", "village_code",
    "group_code", "step_due_at", "alert_stage", "address")
"""Columns of the feed rows (:func:`newest`, :func:`overdue`), plus ``overdue`` and
``escalated`` flags."""


def _tz(tz: str | None) -> ZoneInfo:
    return ZoneInfo(tz or settings.WALL_TIMEZONE)


def _check_now(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None:
        msg = f"'now' must be a timezone-aware datetime, got {now!r}"
        raise WorkflowError(msg)


def day_start(now: datetime, tz: str | None = None, days_back: int = 0) -> datetime:
    """Local midnight (in ``tz``) of the calendar day of ``now``, ``days_back`` days earlier.

    Built from the local date, so it stays midnight across daylight-saving changes of
    zones that have them.
    """
    _check_now(now)
    z = _tz(tz)
    d = now.astimezone(z).date() - timedelta(days=days_back)
    return datetime(d.year, d.month, d.day, tzinfo=z)


def open_counts(conn: Connection, now: datetime, adcode: str | None = None) -> dict[str, int]:
    """Open, overdue and escalated incidents at ``now``.

    Returns ``open``, ``awaiting`` (received or reopened: waiting for dispatch),
    ``overdue``, ``escalated``, and ``township`` / ``county`` (open incidents handled at
    that level).

    Open / awaiting / township / county are sums over the tally of incidents per state
    (``incident_tally``, kept by triggers: migration 0009), about a millisecond however many
    incidents are open; ``overdue`` is an index-only scan of the partial index on
    ``step_due_at``; the village-level incidents with an ``escalation`` event come from
    the partial indexes of open village-level incidents and of escalation events, from
    the smaller side. Exact whatever the time limits of the settings (a step without a
    limit has no clock, and is open all the same). Under row-level security the tally is
    filtered like ``incident`` (by village), so a scoped connection counts its own
    jurisdiction.
    """
    _check_now(now)
    params = {"a": adcode, "now": now}
    row = conn.execute(sa.text("""
        select coalesce(sum(n) filter (where status <> 'closed'), 0) as open,
               coalesce(sum(n) filter (where status in ('received', 'reopened')), 0)
                   as awaiting,
               coalesce(sum(n) filter (where status <> 'closed' and level = 'township'), 0)
                   as township,
               coalesce(sum(n) filter (where status <> 'closed' and level = 'county'), 0)
                   as county,
               coalesce(sum(n) filter (where status <> 'closed' and level <> 'village'), 0)
                   as above
        from incident_tally where cast(:a as text) is null or adcode = :a"""),
        params).mappings().one()
    overdue_n = conn.execute(sa.text("""
        select count(*) from incident
        where step_due_at < :now and status <> 'closed'
          and (cast(:a as text) is null or adcode = :a)"""), params).scalar_one()
    # open village-level incidents with an escalation event: probe the events of each
    # open village-level incident when they are few (the usual case), else go from the
    # escalation events (a backlog of hundreds of thousands of open incidents)
    open_village = int(row["open"]) - int(row["above"])
    if open_village <= ESCALATED_PROBE_MAX:
        escalated_v = conn.execute(sa.text("""
            select count(*) from incident i
            where i.status <> 'closed' and i.level = 'village'
              and (cast(:a as text) is null or i.adcode = :a)
              and (select true from incident_event e
                   where e.incident_id = i.id and e.kind = 'escalation' limit 1)"""),
            params).scalar_one()
    else:
        escalated_v = conn.execute(sa.text("""
            select count(*) from incident i
            where i.id in (select e.incident_id from incident_event e
                           where e.kind = 'escalation')
              and i.status <> 'closed' and i.level = 'village'
              and (cast(:a as text) is null or i.adcode = :a)"""), params).scalar_one()
    return {"open": int(row["open"]), "awaiting": int(row["awaiting"]),
            "overdue": int(overdue_n), "escalated": int(row["above"]) + int(escalated_v),
            "township": int(row["township"]), "county": int(row["county"])}


def change_mark(conn: Connection, adcode: str | None = None) -> tuple[int, int]:
    """A cheap fingerprint of the incidents: (highest incident id, highest id of the tally
    of incidents per state). It changes when an incident is added, deleted, or moves to
    another status, level or grid (two index lookups); caches of aggregates compare it to
    decide whether to rebuild. Changes of other columns (time limits, feedback) do not
    change it."""
    a, b = conn.execute(sa.text("""
        select (select max(id) from incident where cast(:a as text) is null or adcode = :a),
               (select max(id) from incident_tally
                where cast(:a as text) is null or adcode = :a)"""), {"a": adcode}).one()
    return int(a or 0), int(b or 0)


def compact_tally(conn: Connection, min_rows: int = 0) -> int:
    """Fold the deltas of ``incident_tally`` into one row per key (migration 0009).

    Call in a transaction of its own (``engine.begin()``): it deletes and re-inserts rows.
    Does nothing when the table has fewer than ``min_rows`` rows, or when another session
    is compacting (advisory lock). The sums per key never change.

    Returns
    -------
    int
        Rows removed.
    """
    return int(conn.execute(sa.text("select incident_tally_compact(:m)"),
                            {"m": int(min_rows)}).scalar_one())


def window_rates(conn: Connection, now: datetime, adcode: str | None = None,
                 window_days: float | None = None) -> dict[str, Any]:
    """On-time closure and satisfaction over the incidents of the last ``window_days`` days.

    Returns ``incidents``, ``resolved``, ``on_time``, ``on_time_rate`` (None when nothing is
    resolved), ``answered``, ``satisfied``, ``satisfaction_rate`` (None without answers) and
    ``window_days``.
    """
    _check_now(now)
    days = float(settings.WALL_WINDOW_DAYS if window_days is None else window_days)
    out: dict[str, Any] = dict(kpi_compute.totals(conn, now - timedelta(days=days), now, adcode))
    out["on_time_rate"] = out["on_time"] / out["resolved"] if out["resolved"] else None
    out["satisfaction_rate"] = out["satisfied"] / out["answered"] if out["answered"] else None
    out["window_days"] = days
    return out


def count_between(conn: Connection, since: datetime, until: datetime,
                  adcode: str | None = None) -> int:
    """Incidents with ``since <= occurred_at < until``."""
    return int(conn.execute(sa.text("""
        select count(*) from incident where occurred_at >= :s and occurred_at < :e
          and (cast(:a as text) is null or adcode = :a)"""),
        {"s": since, "e": until, "a": adcode}).scalar_one())


def today_count(conn: Connection, now: datetime, adcode: str | None = None,
                tz: str | None = None) -> int:
    """Incidents that occurred on the local calendar day of ``now`` (in ``tz``)."""
    return count_between(conn, day_start(now, tz), day_start(now, tz, days_back=-1), adcode)


def today_by_kind(conn: Connection, now: datetime, adcode: str | None = None,
                  tz: str | None = None) -> dict[str, int]:
    """Incidents of the local calendar day of ``now`` per kind (kinds without any absent)."""
    rows = conn.execute(sa.text("""
        select kind, count(*) from incident where occurred_at >= :s and occurred_at < :e
          and (cast(:a as text) is null or adcode = :a)
        group by kind"""),
        {"s": day_start(now, tz), "e": day_start(now, tz, days_back=-1), "a": adcode}).all()
    return {str(k): int(n) for k, n in rows}


def kpis(conn: Connection, now: datetime, adcode: str | None = None, tz: str | None = None,
         window_days: float | None = None) -> dict[str, Any]:
    """The KPI tiles: ``today``, ``open``, ``overdue``, ``escalated`` and the window rates
    of :func:`window_rates` (see the module docstring for the definitions)."""
    out: dict[str, Any] = {"today": today_count(conn, now, adcode, tz)}
    out |= open_counts(conn, now, adcode)
    out |= window_rates(conn, now, adcode, window_days)
    return out


def _feed(rows: Any) -> pd.DataFrame:
    df = pd.DataFrame(rows.all(), columns=list(FEED_COLUMNS) + ["overdue", "escalated"])
    for col in ("occurred_at", "reported_at", "step_due_at"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


_FEED_SELECT = """
    select {cols}, (step_due_at < :now and status <> 'closed') as overdue,
           (level <> 'village') as escalated
    from incident"""


def newest(conn: Connection, now: datetime, adcode: str | None = None,
           limit: int = 10) -> pd.DataFrame:
    """The ``limit`` incidents entered last (highest id first), whatever their state.

    Ordered by entry (the id), not by ``occurred_at``: an incident reported late still
    comes on top when it is entered. Columns :data:`FEED_COLUMNS` + ``overdue``,
    ``escalated``.
    """
    _check_now(now)
    q = _FEED_SELECT.format(cols=", ".join(FEED_COLUMNS)) + """
        where cast(:a as text) is null or adcode = :a
        order by id desc limit :n"""
    return _feed(conn.execute(sa.text(q), {"a": adcode, "n": int(limit), "now": now}))


def overdue(conn: Connection, now: datetime, adcode: str | None = None,
            limit: int = 8) -> pd.DataFrame:
    """Open incidents past their step's limit: the highest level first (county, township,
    village), then the longest overdue. Columns as :func:`newest`."""
    _check_now(now)
    q = _FEED_SELECT.format(cols=", ".join(FEED_COLUMNS)) + """
        where step_due_at < :now and status <> 'closed'
          and (cast(:a as text) is null or adcode = :a)
        order by case level when 'county' then 0 when 'township' then 1 else 2 end,
                 step_due_at, id
        limit :n"""
    return _feed(conn.execute(sa.text(q), {"a": adcode, "n": int(limit), "now": now}))


def daily_counts(conn: Connection, now: datetime, days: int | None = None,
                 adcode: str | None = None, tz: str | None = None,
                 include_today: bool = True) -> pd.DataFrame:
    """Incidents per local calendar day and kind over the last ``days`` days (today
    included so far, unless ``include_today`` is False): columns ``day``
    (datetime.date), ``kind``, ``n``; days or kinds without incidents are absent."""
    n_days = int(settings.WALL_TREND_DAYS if days is None else days)
    start = day_start(now, tz, days_back=n_days - 1)
    end = day_start(now, tz, days_back=-1 if include_today else 0)
    rows = conn.execute(sa.text("""
        select cast(occurred_at at time zone :tz as date) as day, kind, count(*) as n
        from incident where occurred_at >= :s and occurred_at < :e
          and (cast(:a as text) is null or adcode = :a)
        group by 1, 2 order by 1, 2"""),
        {"tz": str(_tz(tz)), "s": start, "e": end, "a": adcode})
    df = pd.DataFrame(rows.all(), columns=["day", "kind", "n"])
    df["n"] = df["n"].astype("int64")
    return df


def counts_since(conn: Connection, level: int, since: datetime,
                 adcode: str | None = None) -> dict[str, int]:
    """Incidents per grid code (level 1 village, 2 group) since ``since``."""
    col = "village_code" if level == 1 else "group_code"
    rows = conn.execute(sa.text(f"""
        select {col}, count(*) from incident
        where occurred_at >= :s and {col} is not null
          and (cast(:a as text) is null or adcode = :a)
        group by 1"""), {"s": since, "a": adcode}).all()
    return {str(c): int(n) for c, n in rows}
