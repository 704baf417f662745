"""KPI periods: calendar spans of local dates, parsed from short strings.

A period is the half-open span [first day 00:00, day after the last day 00:00) in the time
zone :data:`gis.settings.KPI_TIMEZONE` (Asia/Shanghai). Accepted strings
(:data:`PERIOD_FORMS`):

* ``2026-W47`` — ISO week 47 of 2026 (Monday to Sunday);
* ``2026-11`` — a calendar month;
* ``2026-Q4`` — a calendar quarter;
* ``2026`` — a calendar year;
* ``2026-11-05`` — one day;
* ``2026-11-01:2026-11-30`` — a range of days, both ends included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gis import settings
from gis._errors import KpiError

PERIOD_FORMS: tuple[str, ...] = ("2026-W47 (ISO week)", "2026-11 (month)", "2026-Q4 (quarter)",
                                 "2026 (year)", "2026-11-05 (day)",
                                 "2026-11-01:2026-11-30 (days, both included)")
"""The accepted forms, as listed in error messages."""

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    """Local calendar days [``first``, ``end``) with the string they were parsed from.

    Attributes
    ----------
    first : date
        First day (included).
    end : date
        Day after the last day (excluded).
    label : str
        Canonical name: ``2026-W47``, ``2026-11``, ``2026-Q4``, ``2026``, ``2026-11-05`` or
        ``2026-11-01:2026-11-30``.
    """

    first: date
    end: date
    label: str

    @property
    def last(self) -> date:
        """Last day (included)."""
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        """Number of days."""
        return (self.end - self.first).days

    def bounds(self, tz: str | None = None) -> tuple[datetime, datetime]:
        """(start, end) as timezone-aware local midnights in ``tz`` (default
        :data:`gis.settings.KPI_TIMEZONE`); incidents with ``start <= occurred_at < end``
        belong to the period."""
        z = ZoneInfo(tz or settings.KPI_TIMEZONE)
        return (datetime(self.first.year, self.first.month, self.first.day, tzinfo=z),
                datetime(self.end.year, self.end.month, self.end.day, tzinfo=z))


def _bad(text: str, why: str = "") -> KpiError:
    msg = f"period {text!r} is not understood{': ' + why if why else ''}; use one of " \
          + ", ".join(PERIOD_FORMS)
    return KpiError(msg)


def _day(text: str, whole: str) -> date:
    if not _DAY.match(text):
        raise _bad(whole, f"{text!r} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise _bad(whole, str(e)) from None


def parse_period(text: str) -> Period:
    """Parse a period string (see :data:`PERIOD_FORMS`); :class:`KpiError` when it is not
    one of them, names a day that does not exist, or a range ends before it starts."""
    s = (text or "").strip()
    if m := _WEEK.match(s):
        y, w = int(m[1]), int(m[2])
        try:
            first = date.fromisocalendar(y, w, 1)
        except ValueError:
            raise _bad(text, f"{y} has no ISO week {w}") from None
        return Period(first, first + timedelta(days=7), f"{y}-W{w:02d}")
    if m := _QUARTER.match(s):
        y, q = int(m[1]), int(m[2])
        first = date(y, 3 * q - 2, 1)
        end = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
        return Period(first, end, f"{y}-Q{q}")
    if m := _MONTH.match(s):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise _bad(text, f"month {mo} does not exist")
        end = date(y + 1, 1, 1) if mo == 12 else date(y, mo + 1, 1)
        return Period(date(y, mo, 1), end, f"{y}-{mo:02d}")
    if m := _YEAR.match(s):
        y = int(m[1])
        return Period(date(y, 1, 1), date(y + 1, 1, 1), f"{y}")
    if ":" in s:
        a, _, b = s.partition(":")
        first, last = _day(a.strip(), text), _day(b.strip(), text)
        if last < first:
            raise _bad(text, f"the range ends ({last}) before it starts ({first})")
        return Period(first, last + timedelta(days=1), f"{first}:{last}")
    if _DAY.match(s):
        d = _day(s, text)
        return Period(d, d + timedelta(days=1), d.isoformat())
    raise _bad(text)


def period_of(start: date, end: date) -> Period:
    """The period of local days [``start``, ``end``) (``end`` excluded)."""
    if end <= start:
        msg = f"a KPI period must end after it starts, got [{start}, {end})"
        raise KpiError(msg)
    last = end - timedelta(days=1)
    return Period(start, end, start.isoformat() if last == start else f"{start}:{last}")
