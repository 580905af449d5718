"""Reporting periods, data cut-off windows and report deadlines (Nghị định 09/2019/NĐ-CP).

Owns:
- `Period` ("monthly", "quarterly", "half-year", "nine-month", "annual"), `period_label()`;
- `CutoffWindow` and `cutoff_window(period, year, index=None)`: the chốt số liệu window;
- `Wording` and `Deadline`: a deadline as written ("trước ngày X" / "chậm nhất ngày X");
- `DeadlineRule`: one `[[reports.deadlines]]` entry as plain values (config.py builds it);
- `report_deadline(...)`: the configured deadline of one report, moved off a day off,
  as a `ReportDeadline`, or a falsy `NoDeadline` carrying the reason when config has none;
- `deadline_problems(...)`: `Problem`s for `notifier check`.
Pure: no I/O, no clock. Not here: the working-day calendar and the day-off rule
(workdays.py), reading config (config.py), which duties a plan sets (importers, plan.py),
reminders about deadlines (reminders.py).

Facts relied on (DOMAIN.md §1–§3; docs/calendar.md):
- ND 09/2019 Art. 12: monthly window 15th of the previous month – 14th; quarterly 15th of
  the month before the quarter – 14th of its last month; 6-month 15/12 (previous year) –
  14/6, second half 15/6–14/12; annual 15/12 (previous year) – 14/12. The decree has no
  9-month window; provinces that add one use 15/12–14/9 (Khánh Hòa QĐ 01/2023/QĐ-UBND).
- ND 09/2019 Art. 8(5)(b): the deadline leaves at least one working day after the cut-off.
- Deadlines differ by province and year and are never hard-coded: they come from config.
  "trước ngày 15/6" means the last day is 14/6; "chậm nhất ngày 15/6" means 15/6.
- BLDS 2015 Art. 148(5): a last day that is a day off moves to the next working day
  (config may choose the previous working day instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import date as _date  # for annotations in classes whose field `date` hides it
from enum import StrEnum
from typing import NamedTuple

from notifier.errors import Problem
from notifier.text import clean, fold
from notifier.workdays import DayOffRule, WorkCalendar, weekday_name

__all__ = [
    "CutoffWindow",
    "Deadline",
    "DeadlineRule",
    "NoDeadline",
    "Period",
    "ReportDeadline",
    "Wording",
    "cutoff_window",
    "deadline_problems",
    "period_label",
    "report_deadline",
]

_ROMAN = ("", "I", "II", "III", "IV")
_ND09_ART8 = "Nghị định 09/2019/NĐ-CP, Điều 8 khoản 5 điểm b"
_BLDS_ART148 = "Bộ luật Dân sự 2015, Điều 148 khoản 5"


class Period(StrEnum):
    """A reporting period; values are the config's `period` strings."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEAR = "half-year"
    NINE_MONTH = "nine-month"
    ANNUAL = "annual"

    @property
    def label(self) -> str:
        """Vietnamese name: "tháng", "quý", "6 tháng", "9 tháng", "năm"."""
        return _LABELS[self]

    @property
    def count(self) -> int:  # type: ignore[override]  # hides str.count on purpose
        """How many periods of this kind a year has (indexes run 1..count)."""
        return _COUNTS[self]

    @classmethod
    def parse(cls, value: str | Period) -> Period:
        """The period named by a config string or a Vietnamese name ("6 tháng", "hằng năm")."""
        text = str(value)
        try:
            return cls(text.strip())
        except ValueError:
            pass
        found = _ALIASES.get(fold(text))
        if found is None:
            allowed = ", ".join(f'"{p.value}"' for p in cls)
            raise ValueError(f"kỳ báo cáo {text!r} không hợp lệ; chỉ nhận {allowed}")
        return found


_LABELS = {
    Period.MONTHLY: "tháng",
    Period.QUARTERLY: "quý",
    Period.HALF_YEAR: "6 tháng",
    Period.NINE_MONTH: "9 tháng",
    Period.ANNUAL: "năm",
}
_COUNTS = {
    Period.MONTHLY: 12,
    Period.QUARTERLY: 4,
    Period.HALF_YEAR: 2,
    Period.NINE_MONTH: 1,
    Period.ANNUAL: 1,
}
_ALIASES = {
    fold(alias): period
    for period, aliases in {
        Period.MONTHLY: ("tháng", "hằng tháng", "hàng tháng"),
        Period.QUARTERLY: ("quý", "hằng quý", "hàng quý"),
        Period.HALF_YEAR: ("6 tháng", "sáu tháng", "6 tháng đầu năm"),
        Period.NINE_MONTH: ("9 tháng", "chín tháng"),
        Period.ANNUAL: ("năm", "hằng năm", "hàng năm", "cả năm"),
    }.items()
    for alias in aliases
}


def _index(period: Period, index: int | None) -> int | None:
    """Validated index: month 1–12, quarter 1–4, half 1–2 (None = first); else None."""
    if period.count == 1:
        if index not in (None, 1):
            raise ValueError(f"kỳ báo cáo {period.label} chỉ có một kỳ mỗi năm (index = {index})")
        return None
    if index is None and period is Period.HALF_YEAR:
        return 1
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= period.count:
        what = {Period.MONTHLY: "tháng", Period.QUARTERLY: "quý"}.get(period, "nửa năm")
        raise ValueError(
            f"kỳ báo cáo {period.label} cần chỉ rõ {what} (1–{period.count}), không phải {index!r}"
        )
    return index


def _year(year: int) -> int:
    if isinstance(year, bool) or not isinstance(year, int) or not 1 < year <= 9999:
        raise ValueError(f"năm {year!r} không hợp lệ")
    return year


def period_label(period: Period | str, year: int, index: int | None = None) -> str:
    """Vietnamese name of one period: "quý II/2024", "6 tháng đầu năm 2024", "năm 2024"."""
    period = Period.parse(period)
    index = _index(period, index)
    match period:
        case Period.MONTHLY:
            return f"tháng {index}/{year}"
        case Period.QUARTERLY:
            return f"quý {_ROMAN[index or 0]}/{year}"
        case Period.HALF_YEAR:
            return f"6 tháng {'đầu' if index == 1 else 'cuối'} năm {year}"
        case Period.NINE_MONTH:
            return f"9 tháng năm {year}"
    return f"năm {year}"


class CutoffWindow(NamedTuple):
    """Data cut-off window (chốt số liệu), both ends inclusive."""

    start: date
    end: date

    def covers(self, first: date, last: date | None = None) -> bool:
        """Whether the day, or the span first..last, overlaps the window."""
        return first <= self.end and (last or first) >= self.start


def cutoff_window(period: Period | str, year: int, index: int | None = None) -> CutoffWindow:
    """ND 09/2019 Art. 12 window: from the 15th after the previous period to the 14th.

    `index`: month (1–12) for monthly, quarter (1–4) for quarterly, half (1 or 2; default 1)
    for half-year; none for nine-month and annual. Windows of one kind tile the year.
    """
    period = Period.parse(period)
    year = _year(year)
    index = _index(period, index)
    months = 12 // period.count if period is not Period.NINE_MONTH else 9
    end_month = (index or 1) * months
    start_month = end_month - months  # 0 = December of the previous year
    start = date(year if start_month else year - 1, start_month or 12, 15)
    return CutoffWindow(start, date(year, end_month, 14))


class Wording(StrEnum):
    """How a plan states a deadline; the two differ by one day."""

    BEFORE = "before"  # "trước ngày X": the last day is X - 1
    BY = "by"  # "chậm nhất ngày X", "hạn cuối ngày X": the last day is X

    @classmethod
    def parse(cls, value: str | Wording) -> Wording:
        text = str(value).strip()
        try:
            return cls(text)
        except ValueError:
            pass
        folded = fold(text).removesuffix(" " + fold("ngày"))
        if folded == fold("trước"):
            return cls.BEFORE
        if folded in (fold("chậm nhất"), fold("hạn cuối"), fold("muộn nhất")):
            return cls.BY
        raise ValueError(
            f'cách ghi hạn {text!r} không hợp lệ; chỉ nhận "before" (trước ngày X)'
            ' hoặc "by" (chậm nhất ngày X)'
        )


def _dmy(d: date) -> str:
    return f"{d.day}/{d.month}/{d.year}"


def _day(d: date) -> str:
    """ "thứ Hai, ngày 15/6/2026" (DOMAIN.md §7)."""
    return f"{weekday_name(d)}, ngày {_dmy(d)}"


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline as written: the date named and the wording around it."""

    date: date
    wording: Wording

    def __post_init__(self) -> None:
        wording = Wording.parse(self.wording)
        if wording is Wording.BEFORE and self.date == date.min:
            raise ValueError("hạn nằm ngoài phạm vi lịch")
        object.__setattr__(self, "wording", wording)

    @property
    def last_day(self) -> _date:
        """The last day the report may arrive: the day before for "trước ngày"."""
        return self.date - timedelta(days=1) if self.wording is Wording.BEFORE else self.date

    @property
    def text(self) -> str:
        """ "trước ngày 15/6/2024" or "chậm nhất ngày 15/6/2024"."""
        lead = "trước ngày" if self.wording is Wording.BEFORE else "chậm nhất ngày"
        return f"{lead} {_dmy(self.date)}"


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """One `[[reports.deadlines]]` entry. Invalid values raise ValueError (Vietnamese).

    `to`: only duties sent to this unit (canonical name; None = every receiver).
    `index`: month or quarter for monthly/quarterly rules (required), half (1 = default, 2).
    `file`/`line`: where the entry is, for Problems; not part of equality.
    """

    period: Period
    year: int
    date: date
    wording: Wording
    to: str | None = None
    index: int | None = None
    file: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        period = Period.parse(self.period)
        object.__setattr__(self, "period", period)
        object.__setattr__(self, "year", _year(self.year))
        if not isinstance(self.date, date) or isinstance(self.date, datetime):
            raise ValueError(f"hạn {self.date!r} không phải là một ngày (YYYY-MM-DD)")
        object.__setattr__(self, "wording", Deadline(self.date, self.wording).wording)
        object.__setattr__(self, "index", _index(period, self.index))
        to = clean(self.to) if self.to is not None else ""
        object.__setattr__(self, "to", to or None)

    @property
    def deadline(self) -> Deadline:
        return Deadline(self.date, self.wording)

    @property
    def window(self) -> CutoffWindow:
        return cutoff_window(self.period, self.year, self.index)

    @property
    def label(self) -> str:
        return period_label(self.period, self.year, self.index)

    @property
    def key(self) -> str:
        """How `notifier check` names this entry: "[reports.deadlines] date = 2024-06-15"."""
        return f"[reports.deadlines] date = {self.date.isoformat()}"


@dataclass(frozen=True, slots=True)
class ReportDeadline:
    """The deadline of one report: as configured, and the day it really falls on.

    `due` is the last allowed day after the day-off rule; `note` explains a move in
    Vietnamese (empty when not moved).
    """

    period: Period
    year: int
    index: int | None
    to: str | None
    stated: Deadline
    due: date
    cutoff: CutoffWindow
    on_day_off: DayOffRule
    rule: DeadlineRule
    note: str = ""

    @property
    def moved(self) -> bool:
        return self.due != self.stated.last_day

    @property
    def label(self) -> str:
        return period_label(self.period, self.year, self.index)

    @property
    def text(self) -> str:
        """ "chậm nhất thứ Hai, ngày 17/6/2024": the real last day, for reminders."""
        return f"chậm nhất {_day(self.due)}"

    # Flat views for consumers (reminders, events): the stated date and wording, the real
    # last day, and the cut-off ends.
    @property
    def last_day(self) -> date:
        return self.due

    @property
    def wording(self) -> Wording:
        return self.stated.wording

    @property
    def cutoff_start(self) -> date:
        return self.cutoff.start

    @property
    def cutoff_end(self) -> date:
        return self.cutoff.end

    @property
    def date(self) -> date:  # noqa: F811 - the stated date, as config wrote it
        return self.stated.date

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class NoDeadline:
    """No configured deadline for this report: falsy, with the reason in Vietnamese."""

    period: Period
    year: int
    index: int | None
    to: str | None
    reason: str

    def __bool__(self) -> bool:
        return False


def _same_unit(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and fold(a) == fold(b)


def _pick(
    rules: Iterable[DeadlineRule], period: Period, year: int, index: int | None, to: str | None
) -> tuple[DeadlineRule | None, list[DeadlineRule]]:
    """The rule for this report (one naming `to` beats a general one), and all of the period."""
    same_period = [r for r in rules if r.period is period and r.year == year and r.index == index]
    specific = [r for r in same_period if _same_unit(r.to, to)]
    general = [r for r in same_period if r.to is None]
    chosen = next(iter(specific or general), None)
    return chosen, same_period


def _move_note(cal: WorkCalendar, last: date, due: date, rule: DayOffRule) -> str:
    if due == last:
        return ""
    why = cal.day_off_reason(last) or weekday_name(last)
    where = "tiếp theo" if rule is DayOffRule.NEXT_WORKING_DAY else "liền trước"
    source = f" ({_BLDS_ART148})" if rule is DayOffRule.NEXT_WORKING_DAY else " (theo cấu hình)"
    return (
        f"Ngày {_dmy(last)} là ngày nghỉ ({why}) nên hạn chuyển sang ngày làm việc {where}: "
        f"{_day(due)}{source}."
    )


def report_deadline(
    period: Period | str,
    year: int,
    deadlines: Iterable[DeadlineRule],
    calendar: WorkCalendar,
    on_day_off: DayOffRule | str = DayOffRule.NEXT_WORKING_DAY,
    *,
    to: str | None = None,
    index: int | None = None,
) -> ReportDeadline | NoDeadline:
    """The configured deadline of the report for (period, year[, index]) sent to `to`.

    A rule naming `to` (matched regardless of case and diacritic form) wins over a rule
    without `to`; among equals the first in config order wins (`deadline_problems` flags
    such duplicates). Returns a falsy `NoDeadline` with the reason when nothing applies.
    Raises ValueError for an invalid period/index/rule name, or a calendar with no working day.
    """
    period = Period.parse(period)
    index = _index(period, index)
    rule_name = DayOffRule.parse(on_day_off)
    label = period_label(period, year, index)
    chosen, same_period = _pick(deadlines, period, year, index, to)
    if chosen is None:
        return NoDeadline(period, year, index, to, _missing_reason(period, year, index, label,
                                                                   to, same_period))
    stated = chosen.deadline
    due = calendar.move_deadline(stated.last_day, rule_name)
    return ReportDeadline(
        period=period,
        year=year,
        index=index,
        to=chosen.to,
        stated=stated,
        due=due,
        cutoff=cutoff_window(period, year, index),
        on_day_off=rule_name,
        rule=chosen,
        note=_move_note(calendar, stated.last_day, due, rule_name),
    )


def _missing_reason(
    period: Period,
    year: int,
    index: int | None,
    label: str,
    to: str | None,
    same_period: list[DeadlineRule],
) -> str:
    reason = f"Cấu hình chưa có hạn báo cáo {label}"
    if same_period:
        others = ", ".join(sorted({r.to or "" for r in same_period}))
        reason += f" gửi {to or '(không rõ nơi nhận)'}; chỉ có hạn cho: {others}"
    example = f'period = "{period.value}", year = {year}'
    if index is not None and period is not Period.HALF_YEAR:
        example += f", index = {index}"
    return f"{reason}. Thêm một mục [[reports.deadlines]] với {example}, date và wording."


def deadline_problems(
    rules: Sequence[DeadlineRule],
    calendar: WorkCalendar,
    on_day_off: DayOffRule | str = DayOffRule.NEXT_WORKING_DAY,
) -> list[Problem]:
    """Findings about the configured deadlines, in config order.

    Warning: a deadline (after the day-off rule) that leaves less than one working day
    after the cut-off (ND 09/2019 Art. 8(5)(b)). Error: two entries for the same report.
    """
    rule_name = DayOffRule.parse(on_day_off)
    found: list[Problem] = []
    seen: dict[tuple[Period, int, int | None, str], DeadlineRule] = {}
    for rule in rules:
        ident = (rule.period, rule.year, rule.index, fold(rule.to or ""))
        first = seen.setdefault(ident, rule)
        if first is not rule:
            found.append(_duplicate(rule, first))
            continue
        problem = _gap_problem(rule, calendar, rule_name)
        if problem is not None:
            found.append(problem)
    return found


def _problem(rule: DeadlineRule, message: str, hint: str = "", severity: str = "error") -> Problem:
    return Problem(message, rule.file, rule.line, rule.key, hint, severity)


def _duplicate(rule: DeadlineRule, first: DeadlineRule) -> Problem:
    at = f" (dòng {first.line})" if first.line is not None else ""
    unit = f" gửi {rule.to}" if rule.to else ""
    return _problem(
        rule,
        f"hạn báo cáo {rule.label}{unit} đã được khai báo ở mục trước{at}.",
        "Chỉ giữ một mục cho mỗi kỳ báo cáo và nơi nhận.",
    )


def _gap_problem(rule: DeadlineRule, cal: WorkCalendar, on_day_off: DayOffRule) -> Problem | None:
    """Warning if the deadline leaves under one working day after the cut-off's last day."""
    cutoff_end = rule.window.end
    try:
        due = cal.move_deadline(rule.deadline.last_day, on_day_off)
        gap = cal.working_days_between(cutoff_end, due)
        earliest = cal.next_working_day(cutoff_end, strict=True)
    except ValueError as exc:
        return _problem(rule, f"không tính được hạn báo cáo {rule.label}: {exc}")
    if gap >= 1:
        return None
    moved = f", tức {_dmy(due)} sau khi tránh ngày nghỉ" if due != rule.deadline.last_day else ""
    return _problem(
        rule,
        f"hạn báo cáo {rule.label} ({rule.deadline.text}: ngày cuối {_dmy(rule.deadline.last_day)}"
        f"{moved}) không để lại ít nhất 01 ngày làm việc sau ngày chốt số liệu "
        f"{_dmy(cutoff_end)} ({_ND09_ART8}).",
        f'Ví dụ: date = {earliest.isoformat()} và wording = "by" ({_day(earliest)}).',
        "warning",
    )
