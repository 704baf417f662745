"""四无 villages: no criminal case, no public-security case, no major dispute, no
level-skipping petition in a period (无刑事案件、无治安案件、无重大矛盾纠纷、无越级上访).

Criteria, over the incidents of the period located in the village (``occurred_at`` in the
period, whatever their status), each from the facts of :mod:`gis.kpi.facts`:

* ``criminal`` — incidents of a kind in :data:`gis.settings.SIWU_CRIMINAL_KINDS` (刑事案件,
  两抢一盗).
* ``public_security`` — kinds in :data:`gis.settings.SIWU_PUBLIC_SECURITY_KINDS` (治安案件).
* ``major_dispute`` — disputes (:data:`gis.settings.MEDIATION_KINDS`) handled at
  :data:`gis.settings.SIWU_MAJOR_DISPUTE_LEVEL` (county) or above at any time — dispatched
  or escalated there ("大事不出镇" missed) —, or with at least
  :data:`gis.settings.SIWU_MAJOR_DISPUTE_MIN_REPORTS` reports when that is set.
* ``skip_petition`` (越级上访) — petitions (:data:`gis.settings.SIWU_PETITION_KINDS`) first
  taken up at :data:`gis.settings.SIWU_SKIP_LEVEL` (county) or above: their first dispatch
  went there with no escalation before it (an escalation means the petition climbed the
  ladder from the village, which is not skipping); without an audit trail, their current
  level is there and they have no escalation. A petition from an intake source of
  :data:`gis.settings.SIWU_SKIP_SOURCES` (received at county level or above) skips levels
  whatever its workflow.

A village is 四无 when all four counts are 0.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import KpiError
from gis.kpi import compute
from gis.kpi import facts as fx
from gis.kpi.period import Period

CRITERIA: tuple[str, ...] = ("criminal", "public_security", "major_dispute", "skip_petition")
"""The four criteria, in the order of the 四无 goal."""


def _params() -> dict[str, object]:
    min_reports = settings.SIWU_MAJOR_DISPUTE_MIN_REPORTS
    if min_reports is not None and int(min_reports) < 1:
        msg = f"settings.SIWU_MAJOR_DISPUTE_MIN_REPORTS = {min_reports} must be 1 or more, " \
              "or None"
        raise KpiError(msg)
    return {"crim": list(settings.SIWU_CRIMINAL_KINDS),
            "ps": list(settings.SIWU_PUBLIC_SECURITY_KINDS),
            "pet": list(settings.SIWU_PETITION_KINDS),
            "major_pos": fx.ladder_pos(settings.SIWU_MAJOR_DISPUTE_LEVEL,
                                      "SIWU_MAJOR_DISPUTE_LEVEL"),
            "min_reports": None if min_reports is None else int(min_reports),
            "skip_pos": fx.ladder_pos(settings.SIWU_SKIP_LEVEL, "SIWU_SKIP_LEVEL"),
            "skip_sources": list(settings.SIWU_SKIP_SOURCES)}


_FLAGS = {
    "criminal": "f.kind = any(cast(:crim as text[]))",
    "public_security": "f.kind = any(cast(:ps as text[]))",
    "major_dispute": "f.is_mediation and (f.top_pos >= :major_pos or "
                     "(cast(:min_reports as int) is not null and f.n_reports >= :min_reports))",
    "skip_petition": "f.kind = any(cast(:pet as text[])) and (f.first_pos >= :skip_pos or "
                     "f.source = any(cast(:skip_sources as text[])))",
}
"""Criterion -> SQL condition on ``facts2 f`` (the module docstring in words)."""


def siwu_villages(conn: Connection, period: Period | tuple[datetime, datetime],
                  area: str | None = None) -> pd.DataFrame:
    """The 四无 check of every village inside ``area`` (None: all) for ``period``.

    Returns one row per village, sorted by code: ``code``, ``name``, ``township_code``,
    ``township_name``, for each criterion of :data:`CRITERIA` its count and ``<criterion>_ids``
    (the incident ids, ascending), ``siwu`` (True when all four counts are 0) and ``reasons``
    (the failing criteria, comma-separated, empty for a 四无 village). Villages without any
    incident are 四无.
    """
    start, end, last_day = compute.period_bounds(period)
    found = compute.resolve_area(conn, area)
    params = fx.facts_params(start, end, found["county_code"] if found else None)
    params |= _params()
    params["area"] = found["code"] if found else None
    cols = []
    for c, cond in _FLAGS.items():
        cols.append(f"count(*) filter (where {cond}) as {c}")
        cols.append(f"coalesce(array_agg(f.id order by f.id) filter (where {cond}), "
                    f"'{{}}') as {c}_ids")
    rows = conn.execute(sa.text(
        f"with {fx.FACTS_SQL} select f.village_code as code, " + ", ".join(cols)
        + f" from facts2 f where f.village_code is not null and {compute.AREA_FILTER} "
        "group by 1"), params).mappings().all()
    agg = pd.DataFrame(rows, columns=["code", *[x for c in CRITERIA for x in (c, f"{c}_ids")]])
    u = compute.units(conn, "village", last_day, found["code"] if found else None,
                      compute.enclosing_codes(found))
    u = u.rename(columns={"parent_name": "township_name"})[
        ["code", "name", "township_code", "township_name"]]
    extra = sorted(set(agg["code"]) - set(u["code"]))
    if extra:
        u = pd.concat([u, pd.DataFrame({"code": extra})], ignore_index=True)
    out = u.merge(agg, on="code", how="left")
    for c in CRITERIA:
        out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0).astype("int64")
        out[f"{c}_ids"] = [list(v) if isinstance(v, list) else [] for v in out[f"{c}_ids"]]
    out["siwu"] = (out[list(CRITERIA)] == 0).all(axis=1)
    out["reasons"] = [",".join(c for c in CRITERIA if r[c] > 0) for _, r in out.iterrows()]
    out = out.sort_values("code", kind="stable").reset_index(drop=True)
    out.attrs.update(period=period.label if isinstance(period, Period) else f"{start}/{end}",
                     area=found["code"] if found else None)
    return out


def siwu_summary(table: pd.DataFrame) -> dict[str, int]:
    """Counts of a :func:`siwu_villages` table: ``villages``, ``siwu`` (villages meeting the
    goal), ``failing`` and, per criterion, the villages failing it."""
    out = {"villages": len(table), "siwu": int(table["siwu"].sum()),
           "failing": int((~table["siwu"]).sum())}
    out |= {c: int((table[c] > 0).sum()) for c in CRITERIA}
    return out
