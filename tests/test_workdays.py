"""notifier.workdays.WorkCalendar against the official civil-service schedules (DOMAIN.md §3–§4).

What holidays 0.109 (`holidays.VN`) gives, checked when these tests were written:
- 2024: Tết 8–14/2, 18/4, 29/4 (as "Ngày nghỉ (thay cho ngày 04/05/2024)"), 30/4, 1/5, 2–3/9
  all present; Saturday 4/5/2024 worked is missing (the library has no workday category).
- 2025: Tết 27/1–1/2, 7/4, 2/5 (swap) present; Saturday 26/4/2025 worked is missing;
  27/1/2025 is named "29 Tết" although it was 28 tháng Chạp (WorkCalendar corrects the name).
- 2026: 16–20/2 Tết, 27/4 "(nghỉ bù)", 31/8 swap (for Saturday 22/8, UNVERIFIED), 1–2/9 and
  24/11 present; the 2/1 day off and Saturday 10/1 worked (VPCP 12729/VPCP-KGVX) are missing.
The config extras below are what an admin writes for those announcements; the tests show
they close the gaps, and that without them the gaps are real.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.workdays import (
    MAX_SCAN_DAYS,
    DayOffRule,
    WorkCalendar,
    lunar_to_solar,
    weekday_name,
)


def span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# Each year: the config extras an admin writes, every weekday that is off, every
# weekend day that is worked. Sources: DOMAIN.md §4 (official schedules).
OFFICIAL = {
    2024: dict(
        extra_days_off=[],
        extra_workdays=[date(2024, 5, 4)],
        weekdays_off=[
            date(2024, 1, 1),
            *span(date(2024, 2, 8), date(2024, 2, 9)),
            *span(date(2024, 2, 12), date(2024, 2, 14)),
            date(2024, 4, 18),
            *span(date(2024, 4, 29), date(2024, 5, 1)),
            date(2024, 9, 2),
            date(2024, 9, 3),
        ],
        weekends_worked=[date(2024, 5, 4)],
    ),
    2025: dict(
        extra_days_off=[],
        extra_workdays=[date(2025, 4, 26)],
        weekdays_off=[
            date(2025, 1, 1),
            *span(date(2025, 1, 27), date(2025, 1, 31)),
            date(2025, 4, 7),
            *span(date(2025, 4, 30), date(2025, 5, 2)),
            date(2025, 9, 1),
            date(2025, 9, 2),
        ],
        weekends_worked=[date(2025, 4, 26)],
    ),
    2026: dict(
        extra_days_off=[date(2026, 1, 2)],
        extra_workdays=[date(2026, 1, 10)],
        weekdays_off=[
            date(2026, 1, 1),
            date(2026, 1, 2),
            *span(date(2026, 2, 16), date(2026, 2, 20)),
            date(2026, 4, 27),  # nghỉ bù for Giỗ Tổ on Sunday 26/4 (BLLĐ Art. 111(3))
            date(2026, 4, 30),
            date(2026, 5, 1),
            *span(date(2026, 8, 31), date(2026, 9, 2)),
            # Ngày Văn hóa Việt Nam (NQ 80-NQ/TW); the library has it, enactment UNVERIFIED.
            date(2026, 11, 24),
        ],
        weekends_worked=[date(2026, 1, 10)],
    ),
}

# The official blocks of consecutive days off, weekends included (DOMAIN.md §4).
OFFICIAL_BLOCKS = [
    (date(2024, 2, 8), date(2024, 2, 14)),
    (date(2024, 4, 27), date(2024, 5, 1)),
    (date(2024, 8, 31), date(2024, 9, 3)),
    (date(2025, 1, 25), date(2025, 2, 2)),
    (date(2025, 4, 30), date(2025, 5, 4)),
    (date(2025, 8, 30), date(2025, 9, 2)),
    (date(2026, 1, 1), date(2026, 1, 4)),
    (date(2026, 2, 14), date(2026, 2, 22)),
    (date(2026, 4, 25), date(2026, 4, 27)),
    (date(2026, 4, 30), date(2026, 5, 3)),
    (date(2026, 8, 29), date(2026, 9, 2)),
]


def official_calendar(year: int) -> WorkCalendar:
    spec = OFFICIAL[year]
    return WorkCalendar(spec["extra_days_off"], spec["extra_workdays"])


ALL_EXTRAS = WorkCalendar(
    [d for s in OFFICIAL.values() for d in s["extra_days_off"]],
    [d for s in OFFICIAL.values() for d in s["extra_workdays"]],
)


@pytest.mark.parametrize("year", sorted(OFFICIAL))
def test_every_weekday_off_and_weekend_worked_matches_the_official_schedule(year: int) -> None:
    cal = official_calendar(year)
    days = span(date(year, 1, 1), date(year, 12, 31))
    weekdays_off = [d for d in days if d.weekday() < 5 and not cal.is_working_day(d)]
    weekends_worked = [d for d in days if d.weekday() >= 5 and cal.is_working_day(d)]
    assert weekdays_off == OFFICIAL[year]["weekdays_off"]
    assert weekends_worked == OFFICIAL[year]["weekends_worked"]


@pytest.mark.parametrize(("first", "last"), OFFICIAL_BLOCKS)
def test_official_blocks_are_off_and_bounded_by_working_days(first: date, last: date) -> None:
    assert all(not ALL_EXTRAS.is_working_day(d) for d in span(first, last))
    assert ALL_EXTRAS.previous_working_day(first, strict=True) == first - timedelta(days=1)
    assert ALL_EXTRAS.next_working_day(last, strict=True) == last + timedelta(days=1)


def test_without_config_the_library_misses_the_announced_swaps() -> None:
    bare = WorkCalendar()
    assert not bare.is_working_day(date(2024, 5, 4))  # Saturday worked in 2024
    assert not bare.is_working_day(date(2025, 4, 26))  # Saturday worked in 2025
    assert bare.is_working_day(date(2026, 1, 2))  # announced day off, not in holidays 0.109
    assert not bare.is_working_day(date(2026, 1, 10))  # Saturday worked in 2026
    # ... while the library already has the matching days off of 2024 and 2025.
    assert "04/05/2024" in (bare.holiday_name(date(2024, 4, 29)) or "")
    assert "26/04/2025" in (bare.holiday_name(date(2025, 5, 2)) or "")


def test_nghi_bu_2026_is_in_the_library() -> None:
    cal = WorkCalendar()
    assert cal.holiday_name(date(2026, 4, 26)) == "Ngày Giỗ Tổ Hùng Vương"
    assert "nghỉ bù" in (cal.holiday_name(date(2026, 4, 27)) or "")
    assert not cal.is_working_day(date(2026, 4, 27))


@pytest.mark.parametrize("year", range(2027, 2036))
def test_library_gives_nghi_bu_for_fixed_holidays_on_a_weekend(year: int) -> None:
    """BLLĐ 2019 Art. 111(3): a holiday on a weekly rest day gives a weekday off after it."""
    cal = WorkCalendar()
    days = span(date(year, 1, 1), date(year, 12, 31))
    named = {d: cal.holiday_name(d) or "" for d in days}
    # Tết Nguyên Đán days are chosen by the PM (Art. 112(3)), so they are left out here.
    lunar_new_year = {d for d, n in named.items() if "Tết" in n and "Dương lịch" not in n}
    on_weekend = [d for d, n in named.items()
                  if n and d.weekday() >= 5 and d not in lunar_new_year]
    compensatory = [d for d, n in named.items() if "nghỉ bù" in n]
    assert len(compensatory) == len(on_weekend)
    for holiday, extra in zip(on_weekend, compensatory, strict=True):
        assert extra.weekday() < 5 and holiday < extra <= holiday + timedelta(days=4)


def test_holiday_names_are_vietnamese_nfc() -> None:
    cal = WorkCalendar()
    assert cal.holiday_name(date(2024, 2, 10)) == "Tết Nguyên Đán"
    assert cal.holiday_name(date(2024, 4, 18)) == "Ngày Giỗ Tổ Hùng Vương"
    assert cal.holiday_name(date(2025, 9, 2)) == "Quốc khánh"
    assert cal.holiday_name(date(2026, 1, 1)) == "Tết Dương lịch"
    assert cal.holiday_name(date(2026, 3, 2)) is None
    for year in (2024, 2025, 2026):
        for d in span(date(year, 1, 1), date(year, 12, 31)):
            name = cal.holiday_name(d)
            if name is not None:
                assert unicodedata.is_normalized("NFC", name)


def test_day_two_before_tet_is_named_by_its_lunar_day() -> None:
    """holidays.VN calls 27/1/2025 "29 Tết"; tháng Chạp had 29 days, so it was the 28th."""
    cal = WorkCalendar()
    assert lunar_to_solar(28, 12, 2024) == date(2025, 1, 27)
    assert cal.holiday_name(date(2025, 1, 27)) == "28 Tết"
    assert lunar_to_solar(29, 12, 2023) == date(2024, 2, 8)
    assert cal.holiday_name(date(2024, 2, 8)) == "29 Tết"


def test_config_names_and_overrides() -> None:
    cal = WorkCalendar({date(2026, 1, 2): "Nghỉ hoán đổi Tết Dương lịch"}, [date(2026, 11, 24)])
    assert cal.holiday_name(date(2026, 1, 2)) == "Nghỉ hoán đổi Tết Dương lịch"
    # An extra workday cancels a library holiday (e.g. if 24/11 were not enacted).
    assert cal.is_working_day(date(2026, 11, 24))
    assert cal.holiday_name(date(2026, 11, 24)) is None
    plain = WorkCalendar([date(2026, 1, 2)])
    assert plain.holiday_name(date(2026, 1, 2))  # a default Vietnamese label


def test_day_off_reason() -> None:
    cal = WorkCalendar()
    assert cal.day_off_reason(date(2024, 6, 15)) == "thứ Bảy"
    assert cal.day_off_reason(date(2024, 6, 16)) == "Chủ nhật"
    assert cal.day_off_reason(date(2024, 9, 2)) == "Quốc khánh"
    assert cal.day_off_reason(date(2024, 6, 17)) is None
    assert weekday_name(date(2026, 6, 15)) == "thứ Hai"


def test_moves_around_tet_2026() -> None:
    cal = official_calendar(2026)
    assert cal.next_working_day(date(2026, 2, 14)) == date(2026, 2, 23)
    assert cal.previous_working_day(date(2026, 2, 22)) == date(2026, 2, 13)
    assert cal.previous_working_day(date(2026, 2, 13)) == date(2026, 2, 13)
    assert cal.previous_working_day(date(2026, 2, 13), strict=True) == date(2026, 2, 12)
    assert cal.next_working_day(date(2026, 2, 13), strict=True) == date(2026, 2, 23)
    assert cal.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 23)
    assert cal.add_working_days(date(2026, 2, 23), -1) == date(2026, 2, 13)
    assert cal.add_working_days(date(2026, 2, 15), 0) == date(2026, 2, 15)
    assert cal.working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1
    assert cal.working_days_between(date(2026, 2, 23), date(2026, 2, 13)) == -1
    # January 2026: 22 weekdays, minus 1/1 and 2/1, plus Saturday 10/1.
    assert cal.working_days_between(date(2025, 12, 31), date(2026, 1, 31)) == 21


def test_reminders_and_deadlines_move_off_days_off() -> None:
    cal = official_calendar(2025)
    assert cal.move_reminder(date(2025, 5, 3)) == date(2025, 4, 29)
    assert cal.move_reminder(date(2025, 4, 26)) == date(2025, 4, 26)  # Saturday worked
    assert cal.move_deadline(date(2025, 4, 30)) == date(2025, 5, 5)
    assert cal.move_deadline(date(2025, 4, 30), "previous_working_day") == date(2025, 4, 29)
    assert cal.move_deadline(date(2025, 6, 14), DayOffRule.NEXT_WORKING_DAY) == date(2025, 6, 16)
    assert cal.move_deadline(date(2025, 6, 16), "previous_working_day") == date(2025, 6, 16)


def test_bad_rule_and_contradictory_config_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="next_working_day"):
        WorkCalendar().move_deadline(date(2025, 1, 1), "ngay_lam_viec_sau")
    with pytest.raises(ValueError, match="2026-01-02"):
        WorkCalendar([date(2026, 1, 2)], [date(2026, 1, 2)])
    with pytest.raises(ValueError, match="không phải là một ngày"):
        WorkCalendar(["2026-01-02"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.next_working_day(date(2026, 1, 1)),
        lambda c: c.previous_working_day(date(2026, 12, 31)),
        lambda c: c.add_working_days(date(2026, 6, 1), 3),
        lambda c: c.move_reminder(date(2026, 6, 1)),
    ],
)
def test_a_calendar_with_every_day_off_raises_instead_of_hanging(call) -> None:
    everything_off = WorkCalendar(span(date(2025, 1, 1), date(2027, 12, 31)))
    with pytest.raises(ValueError, match=str(MAX_SCAN_DAYS)):
        call(everything_off)


def test_edge_of_the_date_range_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        WorkCalendar().next_working_day(date.max, strict=True)
    with pytest.raises(ValueError):
        WorkCalendar([date(9999, 12, 31)]).next_working_day(date(9999, 12, 31))


def test_problems_flag_extras_that_change_nothing() -> None:
    assert official_calendar(2026).problems() == []
    found = WorkCalendar([date(2026, 1, 3), date(2026, 4, 30)], [date(2026, 1, 5)]).problems()
    assert len(found) == 3
    assert any("3/1/2026" in p and "thứ Bảy" in p for p in found)
    assert any("30/4/2026" in p for p in found)
    assert any("5/1/2026" in p for p in found)


def test_holiday_data_coverage() -> None:
    cal = WorkCalendar()
    assert cal.has_holiday_data(2026)
    assert not cal.has_holiday_data(2150)  # holidays.VN stops at 2100: only weekends apply


# --- properties --------------------------------------------------------------------

DAYS = st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31))
NEAR = st.dates(min_value=date(2025, 12, 1), max_value=date(2026, 3, 31))


@st.composite
def calendars(draw: st.DrawFn) -> tuple[WorkCalendar, set[date], set[date]]:
    off = draw(st.sets(NEAR, max_size=40))
    worked = draw(st.sets(NEAR, max_size=10)) - off
    return WorkCalendar(off, worked), off, worked


@settings(max_examples=150, deadline=None)
@given(calendars(), NEAR)
def test_nearest_working_days(cal_off_worked, d: date) -> None:
    cal, _, _ = cal_off_worked
    before, after = cal.previous_working_day(d), cal.next_working_day(d)
    assert before <= d <= after
    assert cal.is_working_day(before) and cal.is_working_day(after)
    # Nearest: nothing in between is a working day.
    assert not any(cal.is_working_day(x) for x in span(before, d)[1:])
    assert not any(cal.is_working_day(x) for x in span(d, after)[:-1])
    assert cal.previous_working_day(d, strict=True) < d < cal.next_working_day(d, strict=True)
    assert cal.move_reminder(d) == before


@settings(max_examples=150, deadline=None)
@given(calendars(), NEAR, st.integers(-30, 30), st.integers(-30, 30))
def test_add_working_days_is_monotone_and_inverse_of_counting(cal_off_worked, d, n, m) -> None:
    cal, _, _ = cal_off_worked
    lo, hi = sorted((n, m))
    assert cal.add_working_days(d, lo) <= cal.add_working_days(d, hi)
    target = cal.add_working_days(d, n)
    assert cal.working_days_between(d, target) == n
    if n != 0:
        assert cal.is_working_day(target)


@settings(max_examples=150, deadline=None)
@given(calendars())
def test_extras_always_win(cal_off_worked) -> None:
    cal, off, worked = cal_off_worked
    assert all(cal.is_working_day(d) for d in worked)
    assert all(not cal.is_working_day(d) for d in off)
    assert all(cal.holiday_name(d) for d in off)


@settings(max_examples=100, deadline=None)
@given(calendars(), NEAR, st.sampled_from(list(DayOffRule)))
def test_moved_deadline_is_the_nearest_working_day_in_its_direction(cal_off_worked, d, rule):
    cal, _, _ = cal_off_worked
    moved = cal.move_deadline(d, rule)
    assert cal.is_working_day(moved)
    if cal.is_working_day(d):
        assert moved == d
    elif rule is DayOffRule.NEXT_WORKING_DAY:
        assert moved > d and all(not cal.is_working_day(x) for x in span(d, moved)[:-1])
    else:
        assert moved < d and all(not cal.is_working_day(x) for x in span(moved, d)[1:])


@settings(max_examples=100, deadline=None)
@given(DAYS, DAYS, DAYS)
def test_counting_adds_up_along_the_way(a: date, b: date, c: date) -> None:
    a, b, c = sorted((a, b, c))
    cal = ALL_EXTRAS
    assert cal.working_days_between(a, b) + cal.working_days_between(b, c) == (
        cal.working_days_between(a, c)
    )
    assert 0 <= cal.working_days_between(a, c) <= (c - a).days
