"""Accuracy of an address matcher on addresses with known answers (see ``data.addresses``).

Each row gets one outcome:

* ``correct`` — status ``matched`` and code equal to the true code (group, or the village when
  the address gives no group, or the township when it names only a township); for a row
  whose address names no existing grid (``true_code`` None): status ``review`` or
  ``unmatched``, i.e. nothing was guessed.
* ``wrong`` — status ``matched`` with any other code, including a group when the truth is its
  village, or any grid when the truth is None. These are the errors above the confidence
  threshold; the target is none.
* ``coarse`` — matched to a true ancestor of the answer (the right village, group not read).
* ``review`` — sent to review although a true grid exists.
* ``missed`` — ``unmatched`` although a true grid exists.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from gis import settings
from gis._errors import AddressError

__all__ = ["OUTCOMES", "evaluate", "outcomes"]

OUTCOMES = ("correct", "wrong", "coarse", "review", "missed")


def _outcome(code: object, status: str, true_code: object) -> str:
    if true_code is None or pd.isna(true_code):
        return "wrong" if status == "matched" else "correct"
    if status == "review":
        return "review"
    if status == "unmatched":
        return "missed"
    if code == true_code:
        return "correct"
    if isinstance(code, str) and str(true_code).startswith(code) and len(code) < len(true_code):
        return "coarse"
    return "wrong"


def outcomes(matcher: Any, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the match (code, level, confidence, status) and the ``outcome`` of each row."""
    missing = {"address", "true_code"} - set(df.columns)
    if missing:
        msg = (f"evaluate: the table lacks column(s) {sorted(missing)}; give address and "
               "true_code (e.g. from data.addresses.noisy_addresses)")
        raise AddressError(msg)
    ms = matcher.match_many(df["address"].tolist())
    out = df.copy()
    out["code"] = [m.code for m in ms]
    out["level"] = [m.level for m in ms]
    out["confidence"] = [m.confidence for m in ms]
    out["status"] = [m.status for m in ms]
    true = out["true_code"].astype(object).where(out["true_code"].notna(), None)
    out["outcome"] = [_outcome(c, s, t) for c, s, t in
                      zip(out["code"], out["status"], true, strict=True)]
    return out


def _shares(frame: pd.DataFrame) -> dict[str, float]:
    counts = frame["outcome"].value_counts()
    n = max(len(frame), 1)
    return {k: round(float(counts.get(k, 0)) / n, 4) for k in OUTCOMES}


def evaluate(matcher: Any, df: pd.DataFrame) -> dict[str, Any]:
    """Accuracy figures of ``matcher`` on ``df`` (columns address, true_code[, noise]).

    Parameters
    ----------
    matcher : AddressMatcher
        Anything with ``match_many(list[str]) -> list[Match]``.
    df : DataFrame
        ``address`` and ``true_code`` (None where the address names no existing grid);
        ``noise`` (tags joined by ``+``) for the per-noise breakdown.

    Returns
    -------
    dict
        ``n``; the shares ``correct``, ``wrong_above_threshold`` (the ``wrong`` outcome),
        ``coarse``, ``review`` (sent to review although a grid exists), ``missed``;
        ``status`` (share of each status over all rows); ``threshold``; ``seconds``; and
        ``by_noise``: for each noise tag, ``n`` and the same outcome shares over the rows
        that carry it.
    """
    t0 = time.perf_counter()
    out = outcomes(matcher, df)
    seconds = time.perf_counter() - t0
    shares = _shares(out)
    by_noise: dict[str, dict[str, float]] = {}
    if "noise" in out.columns:
        tags = out["noise"].fillna("clean").astype(str).str.split("+")
        exploded = out.assign(tag=tags).explode("tag")
        for tag, part in exploded.groupby("tag", sort=True):
            by_noise[str(tag)] = {"n": len(part), **_shares(part)}
    status = out["status"].value_counts(normalize=True)
    return {
        "n": len(out),
        "correct": shares["correct"],
        "wrong_above_threshold": shares["wrong"],
        "coarse": shares["coarse"],
        "review": shares["review"],
        "missed": shares["missed"],
        "status": {s: round(float(status.get(s, 0.0)), 4)
                   for s in ("matched", "review", "unmatched")},
        "threshold": getattr(matcher, "min_confidence", settings.ADDRESS_MIN_CONFIDENCE),
        "seconds": round(seconds, 3),
        "by_noise": by_noise,
    }
