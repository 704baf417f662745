"""Review periods: ISO weeks (周例会) and runs of two weeks (双周研判), in Asia/Shanghai.

A period is ``weeks`` whole ISO weeks ending with the week named ``YYYY-Www``: it starts on
a Monday 00:00 and ends (exclusive) on a Monday 00:00, local time of
:data:`gis.settings.WALL_TIMEZONE`. The previous period has the same length and ends where
this one starts (week-over-week, or fortnight-over-fortnight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import settings
from gis._errors import ReportError

WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
"""``2026-W47``, ``2026W47`` or ``2026-w7``."""


PeriodError = ReportError
"""A review period that cannot be understood (bad ISO week, bad number of weeks)."""


def tz() -> ZoneInfo:
    """Time zone of calendar weeks (``settings.WALL_TIMEZONE``, Asia/Shanghai)."""
    return ZoneInfo(settings.WALL_TIMEZONE)


@dataclass(frozen=True)
class Period:
    """``weeks`` ISO weeks ending with ISO week ``week`` of ``year``.

    Attributes
    ----------
    year, week : int
        ISO year and week number of the last week of the period.
    weeks : int
        Length in weeks (1: weekly meeting; 2: bi-weekly analysis).
    """

    year: int
    week: int
    weeks: int = 1

    def __post_init__(self) -> None:
        if self.weeks < 1 or self.weeks > 53:
            msg = f"a review period is 1 to 53 weeks long, got {self.weeks}"
            raise PeriodError(msg)
        try:
            date.fromisocalendar(self.year, self.week, 1)
        except ValueError as e:
            msg = f"{self.year}-W{self.week:02d} is not an ISO week ({e})"
            raise PeriodError(msg) from None

    @property
    def label(self) -> str:
        """``2026-W47`` (one week) or ``2026-W46-W47`` (the first and last week)."""
        last = f"{self.year}-W{self.week:02d}"
        if self.weeks == 1:
            return last
        first = self.first_day.isocalendar()
        return f"{first.year}-W{first.week:02d}-W{self.week:02d}"

    @property
    def slug(self) -> str:
        """File-name part: ``2026-W47`` or ``2026-W46-W47``."""
        return self.label

    @property
    def first_day(self) -> date:
        """Monday of the first week (local date)."""
        return date.fromisocalendar(self.year, self.week, 1) - timedelta(weeks=self.weeks - 1)

    @property
    def last_day(self) -> date:
        """Sunday of the last week (local date, included)."""
        return date.fromisocalendar(self.year, self.week, 7)

    @property
    def start(self) -> datetime:
        """Local midnight starting the period (aware, Asia/Shanghai)."""
        d = self.first_day
        return datetime(d.year, d.month, d.day, tzinfo=tz())

    @property
    def end(self) -> datetime:
        """Local midnight ending the period (exclusive, aware)."""
        d = self.last_day + timedelta(days=1)
        return datetime(d.year, d.month, d.day, tzinfo=tz())

    @property
    def days(self) -> list[date]:
        """Local dates of the period, in order."""
        return [self.first_day + timedelta(days=i) for i in range(7 * self.weeks)]

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        d = self.first_day - timedelta(days=1)
        iso = d.isocalendar()
        return Period(iso.year, iso.week, self.weeks)

    def shifted(self, weeks: int) -> Period:
        """The period of the same length whose last week is ``weeks`` weeks later."""
        d = date.fromisocalendar(self.year, self.week, 1) + timedelta(weeks=weeks)
        iso = d.isocalendar()
        return Period(iso.year, iso.week, self.weeks)


def parse_period(text: str, weeks: int = 1) -> Period:
    """Period of ``weeks`` weeks ending with ISO week ``text`` (``YYYY-Www``).

    Raises
    ------
    PeriodError
        When ``text`` is not an ISO week such as ``2026-W47``.
    """
    m = WEEK_RE.match(str(text or ""))
    if not m:
        msg = f"--week {text!r}: write an ISO week as YYYY-Www, e.g. 2026-W47"
        raise PeriodError(msg)
    return Period(int(m.group(1)), int(m.group(2)), int(weeks))


def period_of(when: datetime | date, weeks: int = 1) -> Period:
    """The period of ``weeks`` weeks ending with the ISO week of ``when`` (local date)."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=tz())
        when = when.astimezone(tz()).date()
    iso = when.isocalendar()
    return Period(iso.year, iso.week, weeks)


def latest_full_week(conn: Connection, adcode: str | None, now: datetime | None = None,
                     weeks: int = 1) -> Period:
    """The last whole week before ``now`` that has incidents (else the week before ``now``).

    The default period of the review page: the last week that is over, stepping back to the
    newest incident when the data end earlier (demo data, a stopped feed).
    """
    now = now or datetime.now(tz())
    if now.tzinfo is None:
        now = now.replace(tzinfo=tz())
    last = period_of(now).previous()
    newest = conn.execute(sa.text(
        "select max(occurred_at) from incident where (cast(:a as text) is null or adcode = :a) "
        "and occurred_at < :e"), {"a": adcode, "e": last.end}).scalar()
    if newest is not None and newest < last.start:
        last = period_of(newest)
        if newest.astimezone(tz()).date() < last.last_day:  # that week is not complete
            last = last.previous()
    return Period(last.year, last.week, weeks)
