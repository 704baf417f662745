"""Time rules of patrols: ISO weeks in Beijing time, night patrols, parsing of times.

All times are stored as aware UTC datetimes; weeks and night hours are judged in
:data:`gis.settings.PATROL_TIMEZONE` (Asia/Shanghai, UTC+8, no daylight saving).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from gis import settings
from gis._errors import PatrolError

_WEEK_RE = re.compile(r"(\d{4})-?W(\d{1,2})")


def local_tz() -> ZoneInfo:
    """The time zone of weeks and night hours (:data:`settings.PATROL_TIMEZONE`)."""
    return ZoneInfo(settings.PATROL_TIMEZONE)


def parse_week(week: str) -> tuple[datetime, datetime]:
    """``"2026-W47"`` → (Monday 00:00, next Monday 00:00) in Beijing time (aware datetimes).

    Raises
    ------
    PatrolError
        The text is not an ISO week ``YYYY-Www`` (``W01`` … ``W52`` / ``W53`` of years that
        have one).
    """
    m = _WEEK_RE.fullmatch(str(week).strip().upper())
    if not m:
        msg = f"week {week!r} is not an ISO week; write it as YYYY-Www, e.g. 2026-W47"
        raise PatrolError(msg)
    y, w = int(m.group(1)), int(m.group(2))
    try:
        monday = date.fromisocalendar(y, w, 1)
    except ValueError as e:
        msg = f"week {week!r} does not exist: {y} has weeks W01 … " \
              f"W{date(y, 12, 28).isocalendar()[1]:02d}"
        raise PatrolError(msg) from e
    start = datetime.combine(monday, datetime.min.time(), local_tz())
    return start, start + timedelta(days=7)


def week_of(when: datetime | date) -> str:
    """ISO week (``YYYY-Www``) of a moment (judged in Beijing time) or a date."""
    d = when.astimezone(local_tz()).date() if isinstance(when, datetime) else when
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def last_complete_week(now: datetime | None = None) -> str:
    """The last ISO week that has ended before ``now`` (default: the current time)."""
    now = now or datetime.now(UTC)
    return week_of(now.astimezone(local_tz()) - timedelta(days=7))


def is_night(start: datetime | pd.Series, end: datetime | pd.Series,
             hours: tuple[int, int] | None = None) -> np.ndarray:
    """Whether the middle of each span (start + end) / 2 falls in the night window.

    Parameters
    ----------
    start, end : aware datetimes or Series of them (UTC or any zone).
    hours : (first hour, end hour) of night in Beijing time, wrapping past midnight when the
        first is larger; default :data:`settings.PATROL_NIGHT_HOURS` (22, 6).

    Returns
    -------
    numpy.ndarray of bool (one per span).
    """
    h0, h1 = hours or settings.PATROL_NIGHT_HOURS
    s = pd.to_datetime(pd.Series(np.atleast_1d(start)), utc=True)
    e = pd.to_datetime(pd.Series(np.atleast_1d(end)), utc=True)
    mid = (s + (e - s) / 2).dt.tz_convert(settings.PATROL_TIMEZONE)
    hour = (mid.dt.hour + mid.dt.minute / 60 + mid.dt.second / 3600).to_numpy(dtype=float)
    if h0 == h1:
        return np.zeros(len(hour), dtype=bool)
    if h0 < h1:
        return (hour >= h0) & (hour < h1)
    return (hour >= h0) | (hour < h1)


def epoch_seconds(times: pd.Series | list[datetime]) -> np.ndarray:
    """Seconds since 1970-01-01 UTC of aware datetimes (float, microseconds kept)."""
    ts = pd.to_datetime(pd.Series(times), utc=True)
    return (ts.dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)
            / 1e6)


def from_epoch(seconds: np.ndarray | float) -> pd.DatetimeIndex:
    """Aware UTC times of epoch seconds (rounded to the microsecond)."""
    us = np.round(np.atleast_1d(np.asarray(seconds, dtype=float)) * 1e6).astype(np.int64)
    return pd.to_datetime(us, unit="us", utc=True)
