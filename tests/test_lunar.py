"""Regression for the Vietnamese lunar calendar (vnlunar behind workdays.lunar_to_solar).

DOMAIN.md §5: Vietnam computes its lunar calendar for 105°E (UTC+7), China for UTC+8; the
dates below are the ones where the two differ (the VN date is expected). vnlunar has one
maintainer, so a change of version must keep these.
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.workdays import lunar_to_solar

ONE = timedelta(days=1)


@pytest.mark.parametrize(
    ("lunar", "solar"),
    [
        ((1, 1, 1985), date(1985, 1, 21)),  # Tết; China: 20/2/1985
        ((1, 1, 2007), date(2007, 2, 17)),  # Tết; China: 18/2/2007
        ((1, 1, 2030), date(2030, 2, 2)),  # Tết; China: 3/2/2030
        ((10, 3, 2009), date(2009, 4, 4)),  # Giỗ Tổ; China: 5/4
        ((10, 3, 2037), date(2037, 4, 24)),  # Giỗ Tổ; China: 25/4
        ((10, 3, 2038), date(2038, 4, 13)),  # Giỗ Tổ; China: 14/4
        ((15, 8, 2034), date(2034, 9, 26)),  # Trung thu; China: 27/9
    ],
)
def test_vietnamese_not_chinese_dates(lunar: tuple[int, int, int], solar: date) -> None:
    assert lunar_to_solar(*lunar) == solar


@pytest.mark.parametrize("lunar_year", [2024, 2025])
def test_thirtieth_of_chap_that_did_not_exist(lunar_year: int) -> None:
    """Never store "30 tháng Chạp": Giao thừa is the day before mùng 1."""
    assert lunar_to_solar(30, 12, lunar_year) is None
    eve = lunar_to_solar(29, 12, lunar_year)
    assert eve is not None and eve + ONE == lunar_to_solar(1, 1, lunar_year + 1)


def test_a_year_with_a_thirtieth_of_chap() -> None:
    eve = lunar_to_solar(30, 12, 2023)
    assert eve == date(2024, 2, 9)
    assert holidays.VN(years=2024, language="vi").get(eve) == "Giao thừa Tết Nguyên Đán"


def test_leap_month() -> None:
    """Ất Tỵ 2025 has a leap sixth month (tháng 6 nhuận), and no leap fifth month."""
    first, leap = lunar_to_solar(1, 6, 2025), lunar_to_solar(1, 6, 2025, leap=True)
    assert first is not None and leap is not None
    assert 29 <= (leap - first).days <= 30
    assert lunar_to_solar(1, 5, 2025, leap=True) is None


@pytest.mark.parametrize("year", range(2024, 2030))
def test_tet_and_gio_to_agree_with_holidays_vn(year: int) -> None:
    named = {n: d for d, n in holidays.VN(years=year, language="vi").items()}
    assert lunar_to_solar(1, 1, year) == named["Tết Nguyên Đán"]
    assert lunar_to_solar(10, 3, year) == named["Ngày Giỗ Tổ Hùng Vương"]


@given(st.integers(-5, 40), st.integers(-2, 14), st.integers(1700, 2300), st.booleans())
def test_never_raises(day: int, month: int, year: int, leap: bool) -> None:
    result = lunar_to_solar(day, month, year, leap=leap)
    assert result is None or isinstance(result, date)


@given(st.integers(1, 12), st.integers(1800, 2198))
def test_months_have_29_or_30_consecutive_days(month: int, year: int) -> None:
    first = lunar_to_solar(1, month, year)
    assert first is not None
    days = [lunar_to_solar(d, month, year) for d in range(1, 31)]
    length = 30 if days[29] is not None else 29
    assert days[:length] == [first + ONE * i for i in range(length)]
