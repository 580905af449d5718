"""notifier.reporting: ND 09/2019 cut-off windows, configured deadlines, the Art. 8(5)(b) check."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.reporting import (
    CutoffWindow,
    Deadline,
    DeadlineRule,
    NoDeadline,
    Period,
    ReportDeadline,
    Wording,
    cutoff_window,
    deadline_problems,
    period_label,
    report_deadline,
)
from notifier.workdays import DayOffRule, WorkCalendar

CAL = WorkCalendar([date(2026, 1, 2)], [date(2024, 5, 4), date(2025, 4, 26), date(2026, 1, 10)])
ONE = timedelta(days=1)


# --- periods and windows -----------------------------------------------------------

@pytest.mark.parametrize(
    ("period", "index", "start", "end"),
    [  # ND 09/2019 Art. 12, written out for 2024 (DOMAIN.md §1)
        ("monthly", 1, date(2023, 12, 15), date(2024, 1, 14)),
        ("monthly", 3, date(2024, 2, 15), date(2024, 3, 14)),
        ("monthly", 12, date(2024, 11, 15), date(2024, 12, 14)),
        ("quarterly", 1, date(2023, 12, 15), date(2024, 3, 14)),
        ("quarterly", 2, date(2024, 3, 15), date(2024, 6, 14)),
        ("quarterly", 4, date(2024, 9, 15), date(2024, 12, 14)),
        ("half-year", None, date(2023, 12, 15), date(2024, 6, 14)),
        ("half-year", 2, date(2024, 6, 15), date(2024, 12, 14)),
        ("nine-month", None, date(2023, 12, 15), date(2024, 9, 14)),
        ("annual", None, date(2023, 12, 15), date(2024, 12, 14)),
    ],
)
def test_cutoff_windows_of_nd_09_2019(period: str, index: int | None, start: date, end: date):
    assert cutoff_window(period, 2024, index) == (start, end)
    assert cutoff_window(Period(period), 2024, index) == CutoffWindow(start, end)


@settings(max_examples=50)
@given(st.integers(1900, 2200))
def test_windows_tile_the_year(year: int) -> None:
    months = [cutoff_window("monthly", year, m) for m in range(1, 13)]
    quarters = [cutoff_window("quarterly", year, q) for q in range(1, 5)]
    halves = [cutoff_window("half-year", year, h) for h in (1, 2)]
    annual = cutoff_window("annual", year)
    for tiles in (months, quarters, halves):
        assert tiles[0].start == cutoff_window("annual", year - 1).end + ONE
        assert all(a.end + ONE == b.start for a, b in zip(tiles, tiles[1:]))
        assert tiles[-1].end == annual.end
        assert all(w.start <= w.end for w in tiles)
    for q, window in enumerate(quarters, start=1):
        assert window == (months[3 * q - 3].start, months[3 * q - 1].end)
    assert cutoff_window("nine-month", year) == (annual.start, quarters[2].end)
    assert cutoff_window("annual", year + 1).start == annual.end + ONE


def test_window_covers_days_and_spans() -> None:
    window = cutoff_window("half-year", 2024)
    assert window.covers(date(2024, 6, 14)) and not window.covers(date(2024, 6, 15))
    assert window.covers(date(2023, 12, 1), date(2023, 12, 15))
    assert not window.covers(date(2023, 12, 1), date(2023, 12, 14))


def test_period_names_and_labels() -> None:
    names = ["monthly", "quarterly", "half-year", "nine-month", "annual"]
    assert [p.value for p in Period] == names
    assert Period.parse("6 tháng") is Period.HALF_YEAR
    assert Period.parse(unicodedata.normalize("NFD", "Hằng Năm")) is Period.ANNUAL
    assert Period.parse(" quarterly ") is Period.QUARTERLY
    with pytest.raises(ValueError, match='"half-year"'):
        Period.parse("semester")
    assert period_label("quarterly", 2024, 2) == "quý II/2024"
    assert period_label("half-year", 2024) == "6 tháng đầu năm 2024"
    assert period_label("half-year", 2024, 2) == "6 tháng cuối năm 2024"
    assert period_label("monthly", 2024, 10) == "tháng 10/2024"
    assert period_label("nine-month", 2024) == "9 tháng năm 2024"
    assert period_label("annual", 2024) == "năm 2024"


@pytest.mark.parametrize(
    ("period", "index"),
    [("monthly", None), ("monthly", 13), ("quarterly", 0), ("quarterly", True),
     ("half-year", 3), ("annual", 2), ("nine-month", 2)],
)
def test_bad_index_is_a_vietnamese_value_error(period: str, index: int | None) -> None:
    with pytest.raises(ValueError, match="kỳ báo cáo"):
        cutoff_window(period, 2024, index)


# --- deadlines as written ------------------------------------------------------------

def test_wording_decides_the_last_day() -> None:
    before, by = Deadline(date(2024, 6, 15), "before"), Deadline(date(2024, 6, 15), "by")
    assert before.last_day == date(2024, 6, 14) and before.text == "trước ngày 15/6/2024"
    assert by.last_day == date(2024, 6, 15) and by.text == "chậm nhất ngày 15/6/2024"
    assert Wording.parse("Trước ngày") is Wording.BEFORE
    assert Wording.parse("chậm nhất") is Wording.BY
    with pytest.raises(ValueError, match='"before"'):
        Wording.parse("sau ngày")


def test_deadline_rule_validates_and_normalises() -> None:
    rule = DeadlineRule("6 tháng", 2024, date(2024, 6, 15), "by",
                        to=unicodedata.normalize("NFD", " Sở Ngoại vụ "))
    assert rule.period is Period.HALF_YEAR and rule.index == 1 and rule.wording is Wording.BY
    assert rule.to == "Sở Ngoại vụ"
    assert DeadlineRule("annual", 2024, date(2024, 12, 20), "by", to="").to is None
    for bad in (
        dict(period="weekly"),
        dict(wording="after"),
        dict(period="quarterly"),  # which quarter?
        dict(date=datetime(2024, 6, 15, 8, 0)),
        dict(date="2024-06-15"),
        dict(year=True),
    ):
        values = dict(period="half-year", year=2024, date=date(2024, 6, 15), wording="by") | bad
        with pytest.raises(ValueError):
            DeadlineRule(**values)  # type: ignore[arg-type]


# --- report_deadline ---------------------------------------------------------------

RULES = [
    DeadlineRule("half-year", 2024, date(2024, 6, 15), "by", line=10),
    DeadlineRule("half-year", 2024, date(2024, 6, 20), "before", to="Sở Ngoại vụ", line=15),
    DeadlineRule("annual", 2024, date(2024, 12, 20), "before", to="Sở Ngoại vụ", line=20),
    DeadlineRule("quarterly", 2026, date(2026, 4, 30), "by", index=1, line=25),
]


def test_configured_date_moves_to_the_next_working_day() -> None:
    found = report_deadline("half-year", 2024, RULES, CAL)
    assert isinstance(found, ReportDeadline) and found
    assert found.stated.last_day == date(2024, 6, 15)  # a Saturday
    assert found.due == date(2024, 6, 17) and found.moved
    assert found.cutoff == (date(2023, 12, 15), date(2024, 6, 14))
    assert "Điều 148" in found.note and "thứ Bảy" in found.note
    assert found.text == "chậm nhất thứ Hai, ngày 17/6/2024"
    flat = (found.date, found.wording, found.last_day, found.cutoff_start, found.cutoff_end)
    assert flat == (date(2024, 6, 15), "by", found.due, *found.cutoff)


def test_previous_working_day_rule_from_config() -> None:
    found = report_deadline("half-year", 2024, RULES, CAL, "previous_working_day")
    assert isinstance(found, ReportDeadline)
    assert found.due == date(2024, 6, 14) and found.on_day_off is DayOffRule.PREVIOUS_WORKING_DAY


def test_holidays_push_a_deadline_past_the_whole_break() -> None:
    found = report_deadline("quarterly", 2026, RULES, CAL, index=1)
    assert isinstance(found, ReportDeadline)
    assert found.due == date(2026, 5, 4)  # 30/4–3/5/2026 off
    assert "Ngày Chiến thắng" in found.note


def test_rule_for_the_receiving_unit_wins_matched_by_folded_name() -> None:
    found = report_deadline("half-year", 2024, RULES, CAL, to="SỞ NGOẠI VỤ")
    assert isinstance(found, ReportDeadline)
    assert found.stated == Deadline(date(2024, 6, 20), Wording.BEFORE)
    assert found.due == date(2024, 6, 19) and not found.moved and found.note == ""
    other = report_deadline("half-year", 2024, RULES, CAL, to="Văn phòng UBND tỉnh")
    assert isinstance(other, ReportDeadline) and other.rule.line == 10


def test_no_deadline_is_falsy_and_says_what_to_add() -> None:
    missing = report_deadline("half-year", 2025, RULES, CAL)
    assert isinstance(missing, NoDeadline) and not missing
    assert "6 tháng đầu năm 2025" in missing.reason and "[[reports.deadlines]]" in missing.reason
    only_other = report_deadline("annual", 2024, RULES, CAL, to="Văn phòng UBND tỉnh")
    assert not only_other and "Sở Ngoại vụ" in only_other.reason
    assert not report_deadline("quarterly", 2026, RULES, CAL, index=2)


@st.composite
def rules(draw: st.DrawFn) -> DeadlineRule:
    period = draw(st.sampled_from(list(Period)))
    index = draw(st.integers(1, period.count)) if period.count > 1 else None
    year = draw(st.integers(2023, 2027))
    end = cutoff_window(period, year, index).end
    when = end + timedelta(days=draw(st.integers(-20, 40)))
    wording = draw(st.sampled_from(list(Wording)))
    return DeadlineRule(period, year, when, wording, index=index)


@settings(max_examples=200, deadline=None)
@given(rules(), st.sampled_from(list(DayOffRule)))
def test_deadline_comes_from_config_and_lands_on_a_working_day(rule: DeadlineRule, how) -> None:
    found = report_deadline(rule.period, rule.year, [rule], CAL, how, index=rule.index)
    assert isinstance(found, ReportDeadline)
    assert CAL.is_working_day(found.due)
    last = rule.deadline.last_day
    assert last == (rule.date - ONE if rule.wording is Wording.BEFORE else rule.date)
    days_off = (last + ONE * i for i in range(abs((found.due - last).days)))
    if how is DayOffRule.PREVIOUS_WORKING_DAY:
        days_off = (last - ONE * i for i in range(abs((found.due - last).days)))
    assert not any(CAL.is_working_day(d) for d in days_off)
    assert found.moved == (not CAL.is_working_day(last))


# --- deadline_problems -------------------------------------------------------------

def test_before_the_15th_leaves_no_working_day_after_the_cutoff() -> None:
    rule = DeadlineRule("half-year", 2024, date(2024, 6, 15), "before", file="config.toml", line=7)
    (problem,) = deadline_problems([rule], CAL)
    assert problem.severity == "warning"
    assert (problem.file, problem.line) == ("config.toml", 7)
    assert "01 ngày làm việc" in problem.message and "14/6/2024" in problem.message
    assert str(problem).startswith("config.toml:7: [reports.deadlines] date = 2024-06-15:")
    assert "date = 2024-06-17" in problem.hint  # 15/6/2024 Saturday, 16/6 Sunday
    fixed = DeadlineRule("half-year", 2024, date(2024, 6, 17), "by")
    assert deadline_problems([fixed], CAL) == []


def test_same_wording_passes_when_the_last_day_is_a_day_off() -> None:
    """'trước ngày 15/6/2025': the last day, Saturday 14/6, moves to Monday 16/6 (Art. 148(5))."""
    rule = DeadlineRule("half-year", 2025, date(2025, 6, 15), "before")
    assert deadline_problems([rule], CAL) == []
    assert deadline_problems([rule], CAL, "previous_working_day") != []


def test_day_off_rule_can_create_the_problem() -> None:
    by_saturday = DeadlineRule("half-year", 2024, date(2024, 6, 15), "by")
    assert deadline_problems([by_saturday], CAL, "next_working_day") == []  # → Monday 17/6
    (problem,) = deadline_problems([by_saturday], CAL, "previous_working_day")  # → 14/6
    assert "14/6/2024" in problem.message


def test_duplicates_are_errors_naming_the_first_entry() -> None:
    first = DeadlineRule("annual", 2024, date(2024, 12, 20), "by", to="Sở Ngoại vụ", line=3)
    again = DeadlineRule("annual", 2024, date(2024, 12, 25), "by", to="sở ngoại vụ", line=9)
    other_unit = DeadlineRule("annual", 2024, date(2024, 12, 25), "by", line=12)
    found = deadline_problems([first, again, other_unit], CAL)
    assert [(p.severity, p.line) for p in found] == [("error", 9)]
    assert "dòng 3" in found[0].message


def test_a_calendar_without_working_days_is_reported_not_raised() -> None:
    closed = WorkCalendar([date(2024, 1, 1) + ONE * i for i in range(800)])
    rule = DeadlineRule("half-year", 2024, date(2024, 6, 20), "by")
    (problem,) = deadline_problems([rule], closed)
    assert problem.severity == "error" and "366" in problem.message


@settings(max_examples=200, deadline=None)
@given(rules(), st.sampled_from(list(DayOffRule)))
def test_warning_exactly_when_no_working_day_follows_the_cutoff(rule: DeadlineRule, how) -> None:
    due = CAL.move_deadline(rule.deadline.last_day, how)
    end = rule.window.end
    after_cutoff = [end + ONE * i for i in range(1, (due - end).days + 1)]
    ok = any(CAL.is_working_day(d) for d in after_cutoff)
    problems = deadline_problems([rule], CAL, how)
    assert (problems == []) == ok
    for problem in problems:
        suggestion = date.fromisoformat(problem.hint.split("date = ")[1][:10])
        assert CAL.is_working_day(suggestion) and suggestion > end
        assert deadline_problems([DeadlineRule(rule.period, rule.year, suggestion, "by",
                                               index=rule.index)], CAL, how) == []
