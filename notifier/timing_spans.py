"""Calendar spans behind timing expressions: the conventions, as pure functions.

Owns the arithmetic that turns a named period into inclusive dates (docs/timing.md):
years, quarters, months, halves ("6 tháng đầu năm"), thirds ("đầu/giữa/cuối tháng/quý/
năm"), weeks of a month ("tuần đầu tháng 5") and the lunar ones (a lunar day, a lunar
month, a lunar year, Tết). Every function returns a `Span` or raises `SpanError` whose
message is the Vietnamese reason shown to the user; nothing is clamped silently.
Public: `Span`, `SpanError`, `MIN_YEAR`, `MAX_YEAR`, `check_year`, `year_span`,
`quarter_span`, `month_span`, `day_span`, `first_months`, `last_months`, `third_of`,
`week_of`, `lunar_day`, `lunar_month`, `lunar_year`, `tet`, `tet_season`, `month_name`.

Facts relied on: a quarter is three calendar months (quý I = tháng 1–3); the
traditional thirds of a month are thượng tuần (1–10), trung tuần (11–20) and hạ tuần
(21–end); the Vietnamese lunar calendar (105°E) comes from `workdays.lunar_to_solar`,
which returns None for a day that does not exist, so a lunar month is "mùng 1 of that
month to the day before mùng 1 of the next" and no "30 tháng Chạp" is ever made up.
Not here: reading text (timing.py, timing_grammar.py), working days (workdays.py).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple

from notifier.workdays import lunar_to_solar as _lunar_to_solar

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "Span",
    "SpanError",
    "check_year",
    "day_span",
    "first_months",
    "last_months",
    "lunar_day",
    "lunar_month",
    "lunar_year",
    "month_name",
    "month_span",
    "quarter_span",
    "tet",
    "tet_season",
    "third_of",
    "week_of",
    "year_span",
]

# Plans are modern documents; a year outside this is a typo ("2204"), not a plan.
# The upper bound is also where the lunar tables of vnlunar stop.
MIN_YEAR = 1900
MAX_YEAR = 2198

_ONE_DAY = timedelta(days=1)

# vnlunar recomputes new moons on every call; a plan asks for a handful of lunar dates.
lunar_to_solar = lru_cache(maxsize=4096)(_lunar_to_solar)


class Span(NamedTuple):
    start: date
    end: date


class SpanError(ValueError):
    """A period that does not exist; the message is the Vietnamese reason."""


def check_year(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise SpanError(f"năm {year} nằm ngoài khoảng hỗ trợ ({MIN_YEAR}–{MAX_YEAR})")
    return year


def month_name(month: int, *, lunar: bool = False) -> str:
    """ "tháng 3"; lunar months 1 and 12 by their names, "tháng Giêng", "tháng Chạp"."""
    if lunar and month == 1:
        return "tháng Giêng"
    if lunar and month == 12:
        return "tháng Chạp"
    return f"tháng {month}"


def _check_month(month: int) -> None:
    if not 1 <= month <= 12:
        raise SpanError(f"không có tháng {month} (chỉ có tháng 1–12)")


@lru_cache(maxsize=4096)  # pure; plans ask for the same few periods again and again
def year_span(year: int) -> Span:
    check_year(year)
    return Span(date(year, 1, 1), date(year, 12, 31))


@lru_cache(maxsize=4096)
def month_span(month: int, year: int) -> Span:
    _check_month(month)
    check_year(year)
    return Span(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=4096)
def quarter_span(quarter: int, year: int, *, written: str | None = None) -> Span:
    if not 1 <= quarter <= 4:
        shown = written.upper() if written else str(quarter)
        raise SpanError(f"không có quý {shown} (chỉ có quý I–IV)")
    first = 3 * quarter - 2
    return Span(month_span(first, year).start, month_span(first + 2, year).end)


@lru_cache(maxsize=4096)
def day_span(day: int, month: int, year: int) -> Span:
    _check_month(month)
    check_year(year)
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise SpanError(
            f"ngày {day}/{month}/{year} không tồn tại (tháng {month}/{year} có {last} ngày)"
        )
    d = date(year, month, day)
    return Span(d, d)


@lru_cache(maxsize=4096)
def first_months(count: int, year: int) -> Span:
    """ "6 tháng đầu năm": month 1 to month `count`."""
    if not 1 <= count <= 12:
        raise SpanError(f"một năm không có {count} tháng")
    return Span(month_span(1, year).start, month_span(count, year).end)


@lru_cache(maxsize=4096)
def last_months(count: int, year: int) -> Span:
    """ "6 tháng cuối năm": the last `count` months of the year."""
    if not 1 <= count <= 12:
        raise SpanError(f"một năm không có {count} tháng")
    return Span(month_span(13 - count, year).start, month_span(12, year).end)


@lru_cache(maxsize=4096)
def third_of(span: Span, part: int, *, by_month: bool) -> Span:
    """Part 0/1/2 ("đầu/giữa/cuối") of a period: by days for a month, by months otherwise.

    A month splits 1–10, 11–20, 21–end (thượng/trung/hạ tuần), counted from its first
    day, so the same rule serves lunar months. A quarter or a year splits into equal
    runs of whole months (one month, four months).
    """
    if not by_month:
        first = span.start + timedelta(days=10 * part)
        last = span.end if part == 2 else first + timedelta(days=9)
        return Span(first, last)
    months = (span.end.year - span.start.year) * 12 + span.end.month - span.start.month + 1
    size = months // 3
    index = span.start.month - 1 + size * part
    year, first_month = span.start.year + index // 12, index % 12 + 1
    index_last = index + size - 1
    last_year, last_month = span.start.year + index_last // 12, index_last % 12 + 1
    return Span(month_span(first_month, year).start, month_span(last_month, last_year).end)


def week_of(span: Span, week: int, *, label: str) -> Span:
    """Week `week` (1-based; -1 = the last) of a month: runs of 7 days from its first day.

    The last week is the month's last 7 days; the fifth is day 29 to the month's end
    and does not exist in a 28-day month. `label` names the month in the error.
    """
    if week == -1:
        return Span(span.end - timedelta(days=6), span.end)
    if not 1 <= week <= 5:
        raise SpanError(f"{label} không có tuần thứ {week}")
    first = span.start + timedelta(days=7 * (week - 1))
    if first > span.end:
        raise SpanError(f"{label} không có tuần thứ {week} (chỉ có {span.end.day} ngày)")
    return Span(first, min(first + timedelta(days=6), span.end))


# --- lunar ---------------------------------------------------------------------------


def _lunar_label(day: int | None, month: int, year: int, leap: bool) -> str:
    name = month_name(month, lunar=True) + (" nhuận" if leap else "")
    prefix = f"ngày {day} " if day is not None else ""
    return f"{prefix}{name} năm {year} âm lịch"


@lru_cache(maxsize=4096)
def lunar_day(day: int, month: int, year: int, *, leap: bool = False) -> Span:
    _check_month(month)
    check_year(year)
    if not 1 <= day <= 30:
        raise SpanError(
            f"không có {_lunar_label(day, month, year, leap)} (tháng âm lịch có 29 hoặc 30 ngày)"
        )
    solar = lunar_to_solar(day, month, year, leap=leap)
    if solar is None:
        if leap and lunar_to_solar(1, month, year, leap=True) is None:
            raise SpanError(f"năm {year} âm lịch không có {month_name(month, lunar=True)} nhuận")
        raise SpanError(
            f"{_lunar_label(day, month, year, leap)} không tồn tại (tháng thiếu, chỉ có 29 ngày)"
        )
    return Span(solar, solar)


def _next_lunar_month_start(month: int, year: int, leap: bool) -> date:
    """mùng 1 of the month after (month, leap) in lunar `year`: its leap twin if any."""
    if not leap:
        twin = lunar_to_solar(1, month, year, leap=True)
        if twin is not None:
            return twin
    following = lunar_to_solar(1, month % 12 + 1, year + (month == 12))
    if following is None:
        raise SpanError(f"không tính được {_lunar_label(None, month, year, leap)}")
    return following


@lru_cache(maxsize=4096)
def lunar_month(month: int, year: int, *, leap: bool = False) -> Span:
    """A lunar month: mùng 1 to the day before the next mùng 1 (never a made-up 30th)."""
    start = lunar_day(1, month, year, leap=leap).start
    return Span(start, _next_lunar_month_start(month, year, leap) - _ONE_DAY)


@lru_cache(maxsize=4096)
def lunar_year(year: int) -> Span:
    """A lunar year: Tết of `year` to the day before the next Tết (Giao thừa)."""
    start = tet(year).start
    return Span(start, tet(check_year(year + 1)).start - _ONE_DAY)


@lru_cache(maxsize=4096)
def tet(year: int) -> Span:
    """Tết Nguyên đán of lunar `year`: mùng 1 tháng Giêng."""
    return lunar_day(1, 1, year)


@lru_cache(maxsize=4096)
def tet_season(year: int) -> Span:
    """ "dịp Tết": 23 tháng Chạp (ông Công ông Táo) of the year before to mùng 7 (hạ nêu)."""
    check_year(year - 1)
    return Span(lunar_day(23, 12, year - 1).start, lunar_day(7, 1, year).start)
