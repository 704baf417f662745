"""Synthetic workflow state of the demo incidents (受理 → 分流 → 督办 → 反馈 → 回访).

Older incidents are mostly closed, recent ones spread over the open states, so the demo's
queues, on-time rates and escalations look like a working command centre. SYNTHETIC.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

OPEN_MIX: dict[str, float] = {"received": 0.15, "dispatched": 0.25, "in_progress": 0.45,
                              "resolved": 0.15}
"""Share of each open state among incidents younger than :data:`OPEN_DAYS`."""

OPEN_DAYS: float = 3.0
"""Incidents younger than this (days) are still open with probability :data:`OPEN_SHARE`."""

OPEN_SHARE: float = 0.6
"""Probability that a recent incident is still open."""

SATISFACTION_P: dict[str, float] = {"satisfied": 0.86, "basically": 0.11, "unsatisfied": 0.03}
"""Follow-up satisfaction of closed incidents."""

FEEDBACK = "已处置完毕，当事人已告知（合成数据）"


def assign_lifecycle(incidents: pd.DataFrame, end: datetime, rng: np.random.Generator) -> pd.DataFrame:
    """Add status, resolved_at, closed_at, satisfaction and feedback columns (a copy).

    Times are after ``reported_at`` and not after ``end``; open incidents have no closing
    times. Durations are log-normal: a few hours to resolve, a day or two to close.
    """
    df = incidents.copy()
    n = len(df)
    if n == 0:
        for c in ("status", "resolved_at", "closed_at", "satisfaction", "feedback"):
            df[c] = pd.Series(dtype=object)
        return df
    reported = pd.to_datetime(df["reported_at"])
    age_days = (pd.Timestamp(end) - reported).dt.total_seconds().to_numpy() / 86_400
    is_open = (age_days < OPEN_DAYS) & (rng.random(n) < OPEN_SHARE * (1 - age_days / OPEN_DAYS))
    states = np.asarray(list(OPEN_MIX), dtype=object)
    status = np.where(is_open, states[rng.choice(len(states), n, p=list(OPEN_MIX.values()))],
                      "closed").astype(object)
    to_resolve = pd.to_timedelta(rng.lognormal(np.log(6 * 3600), 0.9, n).round(), unit="s")
    to_close = pd.to_timedelta(rng.lognormal(np.log(30 * 3600), 0.6, n).round(), unit="s")
    end_ts = pd.Timestamp(end)
    resolved_at = (reported + to_resolve).clip(upper=end_ts)
    closed_at = (resolved_at + to_close).clip(upper=end_ts)
    has_resolved = np.isin(status, ["resolved", "closed"])
    closed = status == "closed"
    sat = np.asarray(list(SATISFACTION_P), dtype=object)[
        rng.choice(len(SATISFACTION_P), n, p=list(SATISFACTION_P.values()))]
    df["status"] = status
    df["resolved_at"] = resolved_at.where(has_resolved)
    df["closed_at"] = closed_at.where(closed)
    df["satisfaction"] = np.where(closed, sat, None)
    df["feedback"] = np.where(has_resolved, FEEDBACK, None)
    return df
