"""KPI period strings: every accepted form, their local bounds, and clear errors."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from gis._errors import KpiError
from gis.kpi.period import parse_period, period_of

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(("text", "first", "end", "label"), [
    ("2026-W47", date(2026, 11, 16), date(2026, 11, 23), "2026-W47"),
    ("2026w1", date(2025, 12, 29), date(2026, 1, 5), "2026-W01"),  # ISO week 1 starts in 2025
    ("2026-W53", date(2026, 12, 28), date(2027, 1, 4), "2026-W53"),  # 2026 has 53 ISO weeks
    ("2026-11", date(2026, 11, 1), date(2026, 12, 1), "2026-11"),
    ("2026-12", date(2026, 12, 1), date(2027, 1, 1), "2026-12"),
    ("2024-2", date(2024, 2, 1), date(2024, 3, 1), "2024-02"),
    ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4"),
    ("2026q1", date(2026, 1, 1), date(2026, 4, 1), "2026-Q1"),
    ("2026", date(2026, 1, 1), date(2027, 1, 1), "2026"),
    ("2026-11-05", date(2026, 11, 5), date(2026, 11, 6), "2026-11-05"),
    (" 2026-11-01:2026-11-30 ", date(2026, 11, 1), date(2026, 12, 1), "2026-11-01:2026-11-30"),
    ("2026-11-30:2026-11-30", date(2026, 11, 30), date(2026, 12, 1), "2026-11-30:2026-11-30"),
])
def test_accepted_forms(text: str, first: date, end: date, label: str) -> None:
    p = parse_period(text)
    assert (p.first, p.end, p.label) == (first, end, label)
    assert p.days == (end - first).days and p.last == end - timedelta(days=1)


def test_bounds_are_shanghai_midnights() -> None:
    start, end = parse_period("2026-11").bounds()
    assert start == datetime(2026, 11, 1, tzinfo=CST)
    assert end == datetime(2026, 12, 1, tzinfo=CST)
    assert start.utcoffset() == timedelta(hours=8)
    utc_start, _ = parse_period("2026-11").bounds("UTC")
    assert utc_start - start == timedelta(hours=8)


@pytest.mark.parametrize(("text", "why"), [
    ("2026-13", "month 13 does not exist"),
    ("2026-W54", "has no ISO week 54"),
    ("2025-W53", "has no ISO week 53"),
    ("2026-02-30", "day is out of range"),
    ("2026-11-30:2026-11-01", "ends (2026-11-01) before it starts"),
    ("2026/11", ""),
    ("November", ""),
    ("", ""),
    ("2026-11-01:", "is not a date"),
])
def test_bad_periods_say_what_is_accepted(text: str, why: str) -> None:
    with pytest.raises(KpiError) as e:
        parse_period(text)
    msg = str(e.value)
    assert why in msg
    for form in ("2026-W47", "2026-11", "2026-11-01:2026-11-30"):
        assert form in msg


def test_period_of() -> None:
    assert period_of(date(2026, 11, 1), date(2026, 11, 8)).label == "2026-11-01:2026-11-07"
    assert period_of(date(2026, 11, 1), date(2026, 11, 2)).label == "2026-11-01"
    with pytest.raises(KpiError, match="must end after"):
        period_of(date(2026, 11, 2), date(2026, 11, 2))
