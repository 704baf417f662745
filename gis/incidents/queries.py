"""Read-side queries on incidents: aggregates per grid and per day (never raw millions)."""

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
    """Number of incidents (of ``adcode`` when given)."""
    return int(conn.execute(sa.text(
        "select count(*) from incident where cast(:a as text) is null or adcode = :a"),
        {"a": adcode}).scalar_one())
