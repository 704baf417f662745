"""Read-side queries on incidents: aggregates per grid and per day (never raw millions).

All-time counts (no time window, no kind) are sums over ``incident_tally``, the tally of
incidents per grid and state kept by triggers (migration 0009): a few milliseconds for a
million incidents. Counts over a time window are index-only scans of the covering index
on ``occurred_at``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def counts_per_grid(conn: Connection, level: int, adcode: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    kind: str | None = None) -> pd.DataFrame:
    """Incident counts per grid code (level 1 = village, 2 = group) in [since, until).

    Returns a DataFrame with columns ``code`` and ``n`` (incidents), sorted by code; grids
    without incidents are absent.
    """
    col = "village_code" if level == 1 else "group_code"
    if since is None and until is None and kind is None:
        rows = conn.execute(sa.text(f"""
            select {col} as code, cast(sum(n) as bigint) as n from incident_tally
            where {col} is not null and (cast(:adcode as text) is null or adcode = :adcode)
            group by {col} having sum(n) <> 0 order by {col}"""), {"adcode": adcode})
        return pd.DataFrame(rows.all(), columns=["code", "n"])
    q = sa.text(f"""
        select {col} as code, count(*) as n from incident
        where {col} is not null
          and (cast(:adcode as text) is null or adcode = :adcode)
          and (cast(:since as timestamptz) is null or occurred_at >= :since)
          and (cast(:until as timestamptz) is null or occurred_at < :until)
          and (cast(:kind as text) is null or kind = :kind)
        group by {col} order by {col}""")
    rows = conn.execute(q, {"adcode": adcode, "since": since, "until": until, "kind": kind})
    return pd.DataFrame(rows.all(), columns=["code", "n"])


def counts_by_kind(conn: Connection, adcode: str | None = None, since: datetime | None = None,
                   until: datetime | None = None) -> pd.DataFrame:
    """Incident counts per kind in [since, until): columns ``kind``, ``n``."""
    q = sa.text("""
        select kind, count(*) as n from incident
        where (cast(:adcode as text) is null or adcode = :adcode)
          and (cast(:since as timestamptz) is null or occurred_at >= :since)
          and (cast(:until as timestamptz) is null or occurred_at < :until)
        group by kind order by n desc""")
    rows = conn.execute(q, {"adcode": adcode, "since": since, "until": until})
    return pd.DataFrame(rows.all(), columns=["kind", "n"])


def incident_total(conn: Connection, adcode: str | None = None) -> int:
    """Number of incidents (of ``adcode`` when given): the sum of the tally."""
    return int(conn.execute(sa.text(
        "select coalesce(sum(n), 0) from incident_tally "
        "where cast(:a as text) is null or adcode = :a"), {"a": adcode}).scalar_one())
