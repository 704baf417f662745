"""Rankings of villages and townships (排名): a composite score and one rank per KPI.

**Composite score** (0–100 points): the weighted mean of a unit's rates
(:data:`gis.settings.KPI_RANK_WEIGHTS`, normalised) × 100, over the rates the unit *has*: a
rate whose denominator is below :data:`gis.settings.KPI_RANK_MIN_BASE` (or 0) is left out
and the weights of the others are renormalised. A unit with none of the weighted rates has
no score and ranks after every unit with one.

**Ranks**: 1 is best; equal values share the best rank of their group ("min" method, as in
sports tables: 1, 2, 2, 4); units without the value get no rank (null). ``rank`` orders the
composite score; ``rank_<kpi>`` orders each single rate (higher is better, every rate
counts whatever its denominator), ``escalations`` (fewer is better) and
``med_to_resolve_min`` (faster is better).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import KpiError
from gis.kpi import compute
from gis.kpi import definitions as d
from gis.kpi.period import Period

RANK_LEVELS: tuple[str, ...] = ("village", "township")
"""Levels that are ranked (other levels are accepted too by :func:`rank_table`)."""

LOWER_IS_BETTER: tuple[str, ...] = ("escalations", "med_to_resolve_min")
"""Single KPIs ranked ascending besides the rates."""


def check_weights(weights: dict[str, float] | None = None) -> dict[str, float]:
    """The rank weights (default :data:`gis.settings.KPI_RANK_WEIGHTS`), normalised to sum
    1; :class:`KpiError` for an unknown KPI, a negative weight or an all-zero set."""
    w = dict(settings.KPI_RANK_WEIGHTS if weights is None else weights)
    rates = d.rate_keys()
    unknown = sorted(set(w) - set(rates))
    if unknown:
        msg = f"rank weights name unknown rate KPI(s) {', '.join(unknown)}; use " \
              f"{', '.join(rates)} (settings.KPI_RANK_WEIGHTS)"
        raise KpiError(msg)
    bad = {k: v for k, v in w.items() if not np.isfinite(float(v)) or float(v) < 0}
    if bad:
        msg = f"rank weights must be finite and 0 or more, got {bad} (settings.KPI_RANK_WEIGHTS)"
        raise KpiError(msg)
    total = float(sum(w.values()))
    if total <= 0:
        msg = "rank weights are all 0: give at least one rate a positive weight " \
              "(settings.KPI_RANK_WEIGHTS)"
        raise KpiError(msg)
    return {k: float(v) / total for k, v in w.items() if float(v) > 0}


def _rank(values: pd.Series, ascending: bool) -> pd.Series:
    r = values.astype(float).round(9).rank(method="min", ascending=ascending, na_option="keep")
    return r.astype("Int64")


def rank_table(table: pd.DataFrame, weights: dict[str, float] | None = None,
               min_base: int | None = None) -> pd.DataFrame:
    """Add ``score``, ``score_rates`` (number of rates in the score), ``rank`` and the
    single ranks ``rank_<kpi>`` to a KPI table (:func:`gis.kpi.compute.kpi_table`); return
    it sorted by rank (units without a score last), then code."""
    w = check_weights(weights)
    base = int(settings.KPI_RANK_MIN_BASE if min_base is None else min_base)
    out = table.copy()
    num = np.zeros(len(out))
    wsum = np.zeros(len(out))
    used = np.zeros(len(out), dtype="int64")
    for key, weight in w.items():
        rate = out[key].astype(float).to_numpy()
        ok = (out[f"{key}_den"].to_numpy() >= max(base, 1)) & np.isfinite(rate)
        num += np.where(ok, weight * np.nan_to_num(rate), 0.0)
        wsum += np.where(ok, weight, 0.0)
        used += ok
    out["score"] = np.where(wsum > 0, 100.0 * num / np.where(wsum > 0, wsum, 1.0), np.nan)
    out["score_rates"] = used
    out["rank"] = _rank(out["score"], ascending=False)
    for key in d.rate_keys():
        out[f"rank_{key}"] = _rank(out[key], ascending=False)
    for key in LOWER_IS_BETTER:
        out[f"rank_{key}"] = _rank(out[key], ascending=True)
    order = out["rank"].astype("float").fillna(np.inf)
    out = out.assign(_o=order).sort_values(["_o", "code"], kind="stable").drop(columns="_o")
    out = out.reset_index(drop=True)
    out.attrs = dict(table.attrs) | {"weights": w, "min_base": base}
    return out


def rank_units(conn: Connection, period: Period | tuple[datetime, datetime],
               level: str = "village", area: str | None = None,
               weights: dict[str, float] | None = None,
               min_base: int | None = None) -> pd.DataFrame:
    """The KPI table of ``level`` (village or township; any level is accepted) for
    ``period`` inside ``area``, ranked (:func:`rank_table`)."""
    return rank_table(compute.kpi_table(conn, period, level, area), weights, min_base)
