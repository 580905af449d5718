"""Working days, public holidays, swapped days and lunar dates (Vietnam).

Owns the Vietnamese civil-service calendar and every "move to a working day" rule:
- `WorkCalendar(extra_days_off=(), extra_workdays=())`: `is_working_day`, `holiday_name`,
  `day_off_reason`, `previous_working_day` / `next_working_day` (on or before / on or
  after; `strict=True` for strictly before / after), `add_working_days`,
  `working_days_between`, `move_reminder`, `move_deadline`, `has_holiday_data`, `problems`.
  "Working day on or before d" (what reminders need) is `previous_working_day(d)`.
- `DayOffRule`: what a deadline on a day off does ("next_working_day" | "previous_working_day").
- `weekday_name(d)`: "thứ Hai" … "Chủ nhật". `lunar_to_solar()`: lunar → solar date.
Pure: no I/O, no clock. Not here: cut-off windows and report deadlines (reporting.py),
reading the config (config.py), when reminders fire (reminders.py).

Facts relied on (DOMAIN.md §3–§5; docs/calendar.md):
- Saturday and Sunday are off for the civil service; public holidays are Bộ luật Lao động
  2019 Art. 112, with nghỉ bù (Art. 111(3)) — both taken from `holidays.VN`, which also
  lists observed days (2026-04-27 "nghỉ bù") and several announced swaps as days off.
- The library has no "Saturday worked" category and misses some announced swaps
  (2026-01-02), so the config's `extra_days_off` / `extra_workdays` complete it; an extra
  workday beats a weekend or a holiday, an extra day off beats a weekday.
- Bộ luật Dân sự 2015 Art. 148(5): a period whose last day is a day off ends at the end of
  the next working day (the default `DayOffRule`); Art. 147: the first day is not counted.
- Vietnam computes its lunar calendar for 105°E (UTC+7); vnlunar implements it. Lunar
  dates that do not exist (a 30th in a 29-day month) give None, never the next day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum

import holidays
import vnlunar

__all__ = [
    "DayOffRule",
    "MAX_SCAN_DAYS",
    "WorkCalendar",
    "lunar_to_solar",
    "weekday_name",
]

# A year plus a day: no real calendar has a whole year off, so a longer search means
# the configuration is wrong (e.g. every day listed in extra_days_off).
MAX_SCAN_DAYS = 366

_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
_EXTRA_DAY_OFF = "Ngày nghỉ theo thông báo (cấu hình)"
_ONE_DAY = timedelta(days=1)


class DayOffRule(StrEnum):
    """Where a deadline that falls on a day off goes (config `deadline_on_day_off`)."""

    NEXT_WORKING_DAY = "next_working_day"  # BLDS 2015 Art. 148(5), the default
    PREVIOUS_WORKING_DAY = "previous_working_day"

    @classmethod
    def parse(cls, value: str | DayOffRule) -> DayOffRule:
        """The rule named by `value`; ValueError (Vietnamese) for anything else."""
        try:
            return cls(str(value).strip())
        except ValueError:
            allowed = " hoặc ".join(f'"{r.value}"' for r in cls)
            raise ValueError(
                f"quy tắc ngày nghỉ {value!r} không hợp lệ; chỉ nhận {allowed}"
            ) from None


def weekday_name(d: date) -> str:
    """Vietnamese weekday as written in official text: "thứ Hai", …, "Chủ nhật"."""
    return _WEEKDAYS[d.weekday()]


def _dmy(d: date) -> str:
    return f"{d.day}/{d.month}/{d.year}"


class WorkCalendar:
    """The civil-service calendar: weekends, `holidays.VN`, then the config's swaps.

    `extra_days_off`: dates or a {date: name} mapping (the yearly announced days off);
    `extra_workdays`: dates worked although weekend or holiday (e.g. Saturday 2026-01-10).
    A date in both lists is a contradiction: ValueError.
    """

    def __init__(
        self,
        extra_days_off: Iterable[date] | Mapping[date, str] = (),
        extra_workdays: Iterable[date] = (),
    ) -> None:
        if isinstance(extra_days_off, Mapping):
            self._days_off: dict[date, str] = {d: str(n) for d, n in extra_days_off.items()}
        else:
            self._days_off = {d: _EXTRA_DAY_OFF for d in extra_days_off}
        self._workdays: frozenset[date] = frozenset(extra_workdays)
        for d in (*self._days_off, *self._workdays):
            if not isinstance(d, date) or isinstance(d, datetime):
                raise ValueError(f"{d!r} không phải là một ngày (YYYY-MM-DD)")
        both = sorted(self._workdays.intersection(self._days_off))
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(
                f"ngày {listed} vừa là ngày nghỉ vừa là ngày làm việc bù; chỉ giữ ở một danh sách"
            )
        self._years: dict[int, dict[date, str]] = {}

    @property
    def extra_days_off(self) -> frozenset[date]:
        return frozenset(self._days_off)

    @property
    def extra_workdays(self) -> frozenset[date]:
        return self._workdays

    # --- facts about one day ---------------------------------------------------------

    def _public_holidays(self, year: int) -> dict[date, str]:
        """`holidays.VN` for one year, Vietnamese names, computed once per year."""
        table = self._years.get(year)
        if table is None:
            # holidays.VN(...), typed: strict mypy sees neither its re-export nor an __init__ type
            lib = holidays.country_holidays("VN", years=year, language="vi")
            table = {d: _fix_name(d, name) for d, name in lib.items()}
            self._years[year] = table
        return table

    def has_holiday_data(self, year: int) -> bool:
        """Whether `holidays.VN` knows this year's holidays (it covers ~1976–2100)."""
        return bool(self._public_holidays(year))

    def holiday_name(self, d: date) -> str | None:
        """Vietnamese name of the holiday or configured day off on `d`, else None.

        None also when an extra workday cancels the holiday (it is then a working day).
        """
        if d in self._workdays:
            return None
        name = self._days_off.get(d)
        return name if name is not None else self._public_holidays(d.year).get(d)

    def is_working_day(self, d: date) -> bool:
        if d in self._workdays:
            return True
        if d in self._days_off or d.weekday() >= 5:
            return False
        return d not in self._public_holidays(d.year)

    def day_off_reason(self, d: date) -> str | None:
        """Why `d` is off, in Vietnamese ("Tết Nguyên Đán", "Chủ nhật"), or None if worked."""
        if self.is_working_day(d):
            return None
        return self.holiday_name(d) or weekday_name(d)

    # --- moving and counting ---------------------------------------------------------

    def _scan(self, d: date, step: timedelta) -> date:
        """First working day from `d` (included) in direction `step`, bounded."""
        start = d
        for _ in range(MAX_SCAN_DAYS + 1):
            if self.is_working_day(d):
                return d
            try:
                d += step
            except OverflowError:
                break
        where = "sau" if step.days > 0 else "trước"
        raise ValueError(
            f"không có ngày làm việc nào trong {MAX_SCAN_DAYS} ngày {where} ngày "
            f"{_dmy(start)}; kiểm tra extra_days_off trong cấu hình"
        )

    def previous_working_day(self, d: date, *, strict: bool = False) -> date:
        """The nearest working day on or before `d` (strictly before with `strict`)."""
        return self._scan(_shift(d, -1) if strict else d, -_ONE_DAY)

    def next_working_day(self, d: date, *, strict: bool = False) -> date:
        """The nearest working day on or after `d` (strictly after with `strict`)."""
        return self._scan(_shift(d, 1) if strict else d, _ONE_DAY)

    def add_working_days(self, d: date, n: int) -> date:
        """Step `n` working days from `d`: n > 0 gives the n-th working day after `d`,
        n < 0 the |n|-th before it, n == 0 gives `d` itself (even if it is a day off)."""
        step = self.next_working_day if n > 0 else self.previous_working_day
        for _ in range(abs(n)):
            d = step(d, strict=True)
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Signed count of working days stepped on going from `a` to `b`.

        `a` is never counted, `b` is (BLDS 2015 Art. 147: the first day is not counted):
        forward, the working days in (a, b]; backward, minus those in [b, a). So
        `working_days_between(a, add_working_days(a, n)) == n` for every n.
        """
        if a == b:
            return 0
        lo, hi, sign = (a + _ONE_DAY, b, 1) if a < b else (b, a - _ONE_DAY, -1)
        count = 0
        d = lo
        while d <= hi:
            count += self.is_working_day(d)
            d += _ONE_DAY
        return sign * count

    def move_reminder(self, d: date) -> date:
        """A reminder never goes out on a day off: the working day on or before `d`."""
        return self.previous_working_day(d)

    def move_deadline(
        self, d: date, rule: DayOffRule | str = DayOffRule.NEXT_WORKING_DAY
    ) -> date:
        """The last day of a period, moved off a day off per `rule` (default BLDS Art. 148(5))."""
        if DayOffRule.parse(rule) is DayOffRule.NEXT_WORKING_DAY:
            return self.next_working_day(d)
        return self.previous_working_day(d)

    # --- checking the configuration --------------------------------------------------

    def problems(self) -> list[str]:
        """Vietnamese warnings about config extras that change nothing (likely typos)."""
        found: list[str] = []
        for d in sorted(self._days_off):
            lib = self._public_holidays(d.year).get(d)
            if d.weekday() >= 5 or lib is not None:
                why = lib or weekday_name(d)
                found.append(
                    f"extra_days_off: ngày {_dmy(d)} vốn đã là ngày nghỉ ({why});"
                    " có nhầm ngày không?"
                )
        for d in sorted(self._workdays):
            if d.weekday() < 5 and d not in self._public_holidays(d.year):
                found.append(
                    f"extra_workdays: ngày {_dmy(d)} ({weekday_name(d)}) vốn đã là ngày làm việc;"
                    " ngày làm bù thường là thứ Bảy"
                )
        return found


def _shift(d: date, days: int) -> date:
    try:
        return d + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"ngày {_dmy(d)} nằm ngoài phạm vi lịch") from None


def _fix_name(d: date, name: str) -> str:
    """Correct the library's "29 Tết" for a day that was 28 Chạp (2025-01-27).

    holidays.VN names the second day before Tết "29 Tết"; when tháng Chạp has 29 days it is
    the 28th. The lunar day from vnlunar says which.
    """
    if name.startswith("29 Tết"):
        lunar = vnlunar.convert_solar_to_lunar(d.day, d.month, d.year, 7.0)
        if lunar is not None and lunar["month"] == 12 and lunar["day"] != 29:
            return f"{lunar['day']} Tết" + name.removeprefix("29 Tết")
    return name


def lunar_to_solar(day: int, month: int, year: int, *, leap: bool = False) -> date | None:
    """The solar date of lunar day/month/year (Vietnamese calendar), or None if it does not exist."""
    if not (1 <= day <= 30 and 1 <= month <= 12 and 1800 <= year <= 2199):
        return None
    solar = vnlunar.convert_lunar_to_solar(day, month, year, 1 if leap else 0)
    if solar is None:
        return None
    d, m, y = solar
    return date(y, m, d)
