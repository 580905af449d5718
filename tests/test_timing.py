"""notifier.timing: real expressions and their spans, conventions, and parser properties.

The table holds the expressions of the seed plan (34/KH-UBND, 2024), of the Gia Lai and
Khánh Hòa fixtures, and every example of issue 3, each with the (kind, start, end) an
admin expects; docs/timing.md explains the conventions the table encodes.
"""

from __future__ import annotations

import calendar
import json
import unicodedata
from datetime import date, datetime
from pathlib import Path

import pytest
from dateutil.rrule import rrulestr
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import notifier.text as text_module
import notifier.timing as timing_module
import notifier.timing_grammar as grammar_module
from notifier.cli import app
from notifier.text import clean, fold_ascii
from notifier.timing import INTERNAL_ERROR, Timing, TimingKind, parse_timing, parse_uncached

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"

D = date.fromisoformat
R, DT, DL = TimingKind.RANGE, TimingKind.DATE, TimingKind.DEADLINE
CO, RE, CN, UN = (
    TimingKind.CONTINUOUS,
    TimingKind.RECURRING,
    TimingKind.CONDITIONAL,
    TimingKind.UNDATABLE,
)

# (text, plan year, kind, start, end, extra): extra checks bound, rule, and text in reason.
# fmt: off
TABLE: list[tuple[str, int | None, TimingKind, str | None, str | None, dict[str, str]]] = [
    # the seed plan's timing cells
    ("Thường xuyên trong năm 2024", None, CO, "2024-01-01", "2024-12-31", {}),
    ("Trong năm 2024", None, R, "2024-01-01", "2024-12-31", {}),
    ("Quý II/2024", None, R, "2024-04-01", "2024-06-30", {}),
    ("Quý III/2024", None, R, "2024-07-01", "2024-09-30", {}),
    ("Tháng 10/2024", None, R, "2024-10-01", "2024-10-31", {}),
    ("Tháng 4/2024", None, R, "2024-04-01", "2024-04-30", {}),
    ("Tháng 6/2024", None, R, "2024-06-01", "2024-06-30", {}),
    ("Tháng 12/2024", None, R, "2024-12-01", "2024-12-31", {}),
    # fixtures (Gia Lai 2025, Khánh Hòa 2025)
    ("Quý I, II/2025", None, R, "2025-01-01", "2025-06-30", {}),
    ("Từ tháng 3 đến\ntháng 5/2025", None, R, "2025-03-01", "2025-05-31", {}),
    ("Trước ngày 30/6/2025", None, DL, None, "2025-06-29", {"bound": "before"}),
    # years, quarters
    ("quý 2 năm 2024", None, R, "2024-04-01", "2024-06-30", {}),
    ("Quý I - Quý II năm 2025", None, R, "2025-01-01", "2025-06-30", {}),
    ("Quý III và Quý IV/2024", None, R, "2024-07-01", "2024-12-31", {}),
    ("quý II, III, IV/2024", None, R, "2024-04-01", "2024-12-31", {}),
    ("quý 2-3/2024", None, R, "2024-04-01", "2024-09-30", {}),
    ("Quý IV/2024 - Quý I/2025", None, R, "2024-10-01", "2025-03-31", {}),
    ("Q2/2024", None, R, "2024-04-01", "2024-06-30", {}),
    ("Quý II – 2024", None, R, "2024-04-01", "2024-06-30", {}),
    ("Quý I và Quý III/2024", None, R, "2024-01-01", "2024-09-30", {"reason": "không liền nhau"}),
    ("Quý II hoặc Quý III/2024", None, R, "2024-04-01", "2024-09-30", {"reason": "hoặc"}),
    ("Năm 2024", None, R, "2024-01-01", "2024-12-31", {}),
    ("cả năm 2024", None, R, "2024-01-01", "2024-12-31", {}),
    ("năm 2024 - 2025", None, R, "2024-01-01", "2025-12-31", {}),
    ("giai đoạn 2021-2025", None, R, "2021-01-01", "2025-12-31", {}),
    ("2024-2025", None, R, "2024-01-01", "2025-12-31", {}),
    ("Trong năm", 2024, R, "2024-01-01", "2024-12-31", {}),
    # months
    ("tháng 3, 4/2024", None, R, "2024-03-01", "2024-04-30", {}),
    ("tháng 3, 4", 2024, R, "2024-03-01", "2024-04-30", {}),
    ("từ tháng 3 đến tháng 5/2024", None, R, "2024-03-01", "2024-05-31", {}),
    ("tháng 3-5/2024", None, R, "2024-03-01", "2024-05-31", {}),
    ("tháng 6 – 8/2024", None, R, "2024-06-01", "2024-08-31", {}),
    ("Tháng 5, tháng 6 năm 2024", None, R, "2024-05-01", "2024-06-30", {}),
    ("Tháng 10 năm 2024", None, R, "2024-10-01", "2024-10-31", {}),
    ("tháng 11/2024 - tháng 2/2025", None, R, "2024-11-01", "2025-02-28", {}),
    ("10/2024", None, R, "2024-10-01", "2024-10-31", {}),
    ("Tháng 2/2024", None, R, "2024-02-01", "2024-02-29", {}),
    # halves, parts, weeks
    ("6 tháng đầu năm 2024", None, R, "2024-01-01", "2024-06-30", {}),
    ("6 tháng cuối năm", 2024, R, "2024-07-01", "2024-12-31", {}),
    ("nửa đầu năm 2025", None, R, "2025-01-01", "2025-06-30", {}),
    ("9 tháng đầu năm 2024", None, R, "2024-01-01", "2024-09-30", {}),
    ("đầu tháng 5/2024", None, R, "2024-05-01", "2024-05-10", {}),
    ("giữa tháng 5/2024", None, R, "2024-05-11", "2024-05-20", {}),
    ("cuối tháng 2/2024", None, R, "2024-02-21", "2024-02-29", {}),
    ("thượng tuần tháng 3/2024", None, R, "2024-03-01", "2024-03-10", {}),
    ("hạ tuần tháng 2/2023", None, R, "2023-02-21", "2023-02-28", {}),
    ("đầu quý II/2024", None, R, "2024-04-01", "2024-04-30", {}),
    ("giữa quý II/2024", None, R, "2024-05-01", "2024-05-31", {}),
    ("cuối quý IV", 2024, R, "2024-12-01", "2024-12-31", {}),
    ("đầu năm 2024", None, R, "2024-01-01", "2024-04-30", {}),
    ("giữa năm 2024", None, R, "2024-05-01", "2024-08-31", {}),
    ("cuối năm 2024", None, R, "2024-09-01", "2024-12-31", {}),
    ("tuần đầu tháng 5", 2024, R, "2024-05-01", "2024-05-07", {}),
    ("tuần cuối tháng 6/2024", None, R, "2024-06-24", "2024-06-30", {}),
    ("tuần thứ 2 tháng 5/2024", None, R, "2024-05-08", "2024-05-14", {}),
    ("tuần thứ tư tháng 5/2024", None, R, "2024-05-22", "2024-05-28", {}),
    ("Tuần đầu tiên của tháng 5/2024", None, R, "2024-05-01", "2024-05-07", {}),
    ("tuần thứ 5 tháng 3/2024", None, R, "2024-03-29", "2024-03-31", {}),
    # explicit days
    ("02/12/2024", None, DT, "2024-12-02", "2024-12-02", {}),
    ("2-12-2024", None, DT, "2024-12-02", "2024-12-02", {}),
    ("02.12.2024", None, DT, "2024-12-02", "2024-12-02", {}),
    ("ngày 02 tháng 12 năm 2024", None, DT, "2024-12-02", "2024-12-02", {}),
    ("ngày mùng 2/9/2024", None, DT, "2024-09-02", "2024-09-02", {}),
    ("2/12", 2024, DT, "2024-12-02", "2024-12-02", {}),
    ("ngày 10-15/4/2024", None, R, "2024-04-10", "2024-04-15", {}),
    ("từ ngày 10/4 đến ngày 15/4/2024", None, R, "2024-04-10", "2024-04-15", {}),
    ("10/4 - 15/4/2024", None, R, "2024-04-10", "2024-04-15", {}),
    ("từ 20/12/2024 đến 10/1/2025", None, R, "2024-12-20", "2025-01-10", {}),
    ("ngày 30/4 và 1/5/2024", None, R, "2024-04-30", "2024-05-01", {}),
    ("ngày 10, 15/4/2024", None, R, "2024-04-10", "2024-04-15", {"reason": "không liền nhau"}),
    ("Tết Dương lịch 2025", None, DT, "2025-01-01", "2025-01-01", {}),
    # deadlines
    ("trước ngày 15/6/2024", None, DL, None, "2024-06-14", {"bound": "before"}),
    ("Trước 15/6/2024", None, DL, None, "2024-06-14", {"bound": "before"}),
    ("chậm nhất ngày 30/6", 2024, DL, None, "2024-06-30", {"bound": "by"}),
    ("chậm nhất là ngày 30/6", 2024, DL, None, "2024-06-30", {"bound": "by"}),
    ("hạn chót 30/6/2024", None, DL, None, "2024-06-30", {"bound": "by"}),
    ("không quá ngày 30/6/2024", None, DL, None, "2024-06-30", {"bound": "by"}),
    ("hoàn thành trong tháng 6/2024", None, DL, "2024-06-01", "2024-06-30", {"bound": "by"}),
    ("Hoàn thành Quý II/2024", None, DL, "2024-04-01", "2024-06-30", {"bound": "by"}),
    ("trước tháng 6/2024", None, DL, None, "2024-05-31", {"bound": "before"}),
    ("trước Quý III/2024", None, DL, None, "2024-06-30", {"bound": "before"}),
    ("đến hết năm 2025", None, DL, None, "2025-12-31", {"bound": "by"}),
    ("Dự kiến hoàn thành trước ngày 01/3/2024", None, DL, None, "2024-02-29", {"bound": "before"}),
    # continuous, recurring
    ("Thường xuyên", 2024, CO, "2024-01-01", "2024-12-31", {}),
    ("Nhiệm vụ thường xuyên", 2024, CO, "2024-01-01", "2024-12-31", {}),
    ("THƯỜNG XUYÊN", 2025, CO, "2025-01-01", "2025-12-31", {}),
    ("Thường xuyên", None, UN, None, None, {"reason": "thiếu năm"}),
    ("từ 01/6/2024", None, CO, "2024-06-01", None, {"reason": "kết thúc"}),
    ("hằng năm", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=-1"}),
    ("hàng năm", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=-1"}),
    ("Hằng năm giai đoạn 2021-2025", None, RE, "2021-01-01", "2025-12-31", {"rule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=-1"}),
    ("định kỳ hằng quý", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1"}),
    ("theo quý", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1"}),
    ("hằng tháng", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=MONTHLY;BYMONTHDAY=-1"}),
    ("ngày 25 hằng tháng", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=MONTHLY;BYMONTHDAY=25"}),
    ("hằng tuần", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=WEEKLY;BYDAY=SU"}),
    ("thứ Hai hằng tuần", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=WEEKLY;BYDAY=MO"}),
    ("6 tháng, hằng năm", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=YEARLY;BYMONTH=6,12;BYMONTHDAY=-1"}),
    ("ngày 2/9 hằng năm", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=YEARLY;BYMONTH=9;BYMONTHDAY=2"}),
    ("trước ngày 15 hằng tháng", 2024, RE, "2024-01-01", "2024-12-31", {"rule": "FREQ=MONTHLY;BYMONTHDAY=14", "bound": "before"}),
    ("hằng năm", None, RE, None, None, {"rule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=-1", "reason": "thiếu năm"}),
    # lunar
    ("mùng 10 tháng 3 âm lịch", 2024, DT, "2024-04-18", "2024-04-18", {}),
    ("ngày 15 tháng 8 âm lịch", 2024, DT, "2024-09-17", "2024-09-17", {}),
    ("Giỗ Tổ Hùng Vương 2009", None, DT, "2009-04-04", "2009-04-04", {}),
    ("rằm tháng Giêng 2024", None, DT, "2024-02-24", "2024-02-24", {}),
    ("mùng 3 Tết 2025", None, DT, "2025-01-31", "2025-01-31", {}),
    ("tháng Giêng âm lịch", 2024, R, "2024-02-10", "2024-03-09", {}),
    ("tháng Chạp âm lịch", 2024, R, "2024-12-31", "2025-01-28", {}),
    ("tháng Chạp âm lịch năm 2023", None, R, "2024-01-11", "2024-02-09", {}),
    ("tháng 2 nhuận âm lịch 2023", None, R, "2023-03-22", "2023-04-19", {}),
    ("năm 2024 âm lịch", None, R, "2024-02-10", "2025-01-28", {}),
    ("Tết Nguyên đán 2025", None, DT, "2025-01-29", "2025-01-29", {}),
    ("dịp Tết Nguyên đán 2025", None, R, "2025-01-22", "2025-02-04", {}),
    ("trước Tết Nguyên đán 2025", None, DL, None, "2025-01-28", {"bound": "before"}),
    ("ngày 30 tháng Chạp năm 2024 âm lịch", None, UN, None, None, {"reason": "không tồn tại"}),
    ("tháng 4 nhuận âm lịch 2023", None, UN, None, None, {"reason": "không có tháng 4 nhuận"}),
    ("quý II âm lịch", 2024, UN, None, None, {"reason": "dương lịch"}),
    # conditional and undatable
    ("sau khi Đề án được phê duyệt", 2024, CN, None, None, {"reason": "sau khi Đề án được phê duyệt"}),
    ("khi được phê duyệt", 2024, CN, None, None, {"reason": "khi được phê duyệt"}),
    ("(nếu có)", 2024, CN, None, None, {"reason": "nếu có"}),
    ("Trong năm 2024 (nếu có)", None, CN, "2024-01-01", "2024-12-31", {"reason": "nếu có"}),
    ("Quý III/2024 (sau khi Đề án được phê duyệt)", None, CN, "2024-07-01", "2024-09-30", {"reason": "sau khi Đề án được phê duyệt"}),
    ("Sau khi Đề án được phê duyệt, trong Quý III/2024", None, CN, "2024-07-01", "2024-09-30", {"reason": "Đề án"}),
    ("chậm nhất 30 ngày sau khi được phê duyệt", 2024, CN, None, None, {"reason": "30 ngày sau khi"}),
    ("khi có yêu cầu", 2024, UN, None, None, {"reason": "khi có yêu cầu"}),
    ("theo chỉ đạo", 2024, UN, None, None, {"reason": "theo chỉ đạo"}),
    ("Theo chỉ đạo của UBND tỉnh", 2024, UN, None, None, {"reason": "theo chỉ đạo của UBND tỉnh"}),
    ("theo kế hoạch của Bộ", 2024, UN, None, None, {"reason": "theo kế hoạch của Bộ"}),
    ("Đột xuất", 2024, UN, None, None, {"reason": "Đột xuất"}),
    ("", 2024, UN, None, None, {"reason": "trống"}),
    ("-", 2024, UN, None, None, {"reason": "không có thời gian"}),
    ("–", 2024, UN, None, None, {"reason": "không có thời gian"}),
    ("Liên hoan văn nghệ", 2024, UN, None, None, {"reason": "không nhận ra"}),
    # spelling variants
    ("quy II/2024", None, R, "2024-04-01", "2024-06-30", {}),
    ("thang 10/2024", None, R, "2024-10-01", "2024-10-31", {}),
    ("Qúy II/2024", None, R, "2024-04-01", "2024-06-30", {}),
    ("  Quý   II / 2024 .", None, R, "2024-04-01", "2024-06-30", {}),
    ("- Quý II/2024;", None, R, "2024-04-01", "2024-06-30", {}),
    # impossible or incomplete
    ("31/2/2024", None, UN, None, None, {"reason": "31/2/2024 không tồn tại"}),
    ("29/2/2023", None, UN, None, None, {"reason": "29/2/2023 không tồn tại"}),
    ("Quý V/2024", None, UN, None, None, {"reason": "quý V"}),
    ("Quý 5/2024", None, UN, None, None, {"reason": "quý 5"}),
    ("tháng 13/2024", None, UN, None, None, {"reason": "tháng 13"}),
    ("tháng 11 - tháng 2/2025", None, UN, None, None, {"reason": "ngược"}),
    ("tuần thứ 5 tháng 2/2023", None, UN, None, None, {"reason": "tuần thứ 5"}),
    ("năm 2204", None, UN, None, None, {"reason": "2204"}),
    ("Quý II", None, UN, None, None, {"reason": "thiếu năm"}),
    ("ngày 15", 2024, UN, None, None, {"reason": "thiếu tháng"}),
    ("cuối tháng", 2024, UN, None, None, {"reason": "thiếu tháng"}),
    ("ngày 20 hằng quý", 2024, UN, None, None, {"reason": "mốc lặp lại"}),
]
# fmt: on

DEADLINE_TABLE = [
    ("Quý II/2024", DL, "2024-04-01", "2024-06-30", "by"),
    ("Tháng 6/2025", DL, "2025-06-01", "2025-06-30", "by"),
    ("02/12/2024", DL, "2024-12-02", "2024-12-02", "by"),
    ("Trước ngày 30/6/2025", DL, None, "2025-06-29", "before"),
    ("Thường xuyên trong năm 2024", CO, "2024-01-01", "2024-12-31", None),
    ("Quý IV/2025 (nếu có)", CN, "2025-10-01", "2025-12-31", "by"),
    ("từ 01/6/2024", CO, "2024-06-01", None, None),
]


def _d(value: str | None) -> date | None:
    return D(value) if value else None


def _check(
    t: Timing, kind: TimingKind, start: str | None, end: str | None, extra: dict[str, str]
) -> None:
    assert (t.kind, t.start, t.end) == (kind, _d(start), _d(end)), t
    if "bound" in extra:
        assert t.bound == extra["bound"], t
    elif kind is not DL:
        assert t.bound is None, t
    assert t.rule == extra.get("rule"), t
    if "reason" in extra:
        assert t.reason and extra["reason"].casefold() in t.reason.casefold(), t
    if kind in (UN, CN):
        assert t.reason, t


@pytest.mark.parametrize(
    ("text", "year", "kind", "start", "end", "extra"), TABLE, ids=[r[0] for r in TABLE]
)
def test_real_expressions(
    text: str,
    year: int | None,
    kind: TimingKind,
    start: str | None,
    end: str | None,
    extra: dict[str, str],
) -> None:
    t = parse_timing(text, year=year)
    _check(t, kind, start, end, extra)
    assert t.text == clean(text)
    assert INTERNAL_ERROR not in (t.reason or "")


def test_table_is_large_and_covers_every_kind() -> None:
    assert len(TABLE) >= 80
    assert {row[2] for row in TABLE} == set(TimingKind)


@pytest.mark.parametrize(("text", "kind", "start", "end", "bound"), DEADLINE_TABLE)
def test_deadline_column_turns_windows_into_deadlines(
    text: str, kind: TimingKind, start: str | None, end: str | None, bound: str | None
) -> None:
    t = parse_timing(text, deadline=True)
    assert (t.kind, t.start, t.end, t.bound) == (kind, _d(start), _d(end), bound)


def test_seed_timings_are_all_dated() -> None:
    """Every timing cell of the seed plan gives a dated span inside 2024."""
    if not SEED.exists():
        pytest.skip(f"seed plan not found at {SEED}")
    lines = SEED.read_text(encoding="utf-8").splitlines()
    cells = [
        ln
        for ln in lines
        if ln.strip() and fold_ascii(ln).startswith(("trong nam", "thuong xuyen", "quy ", "thang "))
    ]
    assert len(cells) == 31
    for cell in cells:
        t = parse_timing(cell, year=2024)
        assert t.kind in (R, CO) and t.start and t.end, t
        assert t.start.year == t.end.year == 2024


# --- lunar regression (DOMAIN.md §5: dates where the Vietnamese and Chinese calendars differ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tết Nguyên đán 1985", date(1985, 1, 21)),
        ("Tết Nguyên đán 2007", date(2007, 2, 17)),
        ("Tết Nguyên đán 2030", date(2030, 2, 2)),
        ("Tết Nguyên đán 2024", date(2024, 2, 10)),
        ("mùng 1 tháng Giêng âm lịch năm 2030", date(2030, 2, 2)),
        ("Giỗ Tổ Hùng Vương 2009", date(2009, 4, 4)),
        ("mùng 10 tháng 3 âm lịch năm 2009", date(2009, 4, 4)),
        ("mùng 10 tháng 3 âm lịch năm 2024", date(2024, 4, 18)),
        ("ngày 10/3 âm lịch", date(2024, 4, 18)),
    ],
)
def test_lunar_dates_follow_the_vietnamese_calendar(text: str, expected: date) -> None:
    t = parse_timing(text, year=2024)
    assert (t.kind, t.start, t.end) == (DT, expected, expected), t


@given(st.integers(1901, 2196), st.integers(1, 12))
def test_lunar_months_tile_the_lunar_year(year: int, month: int) -> None:
    """Each lunar month ends the day before the next begins; none has a made-up 30th."""
    this = parse_timing(f"tháng {month} âm lịch năm {year}")
    assert this.kind is R and this.start and this.end
    assert 29 <= (this.end - this.start).days + 1 <= 30
    following = parse_timing(f"ngày 1 tháng {month % 12 + 1} âm lịch năm {year + (month == 12)}")
    leap = parse_timing(f"tháng {month} nhuận âm lịch năm {year}")
    nxt = leap.start if leap.kind is R else following.start
    assert nxt is not None and (nxt - this.end).days == 1


# --- properties ------------------------------------------------------------------------

WORDS = [
    "quý",
    "tháng",
    "ngày",
    "năm",
    "tuần",
    "đầu",
    "giữa",
    "cuối",
    "thượng",
    "hạ",
    "trung",
    "thứ",
    "nửa",
    "sáu",
    "từ",
    "đến",
    "và",
    "hoặc",
    "trước",
    "chậm",
    "nhất",
    "hạn",
    "chót",
    "hoàn",
    "thành",
    "trong",
    "thường",
    "xuyên",
    "hằng",
    "hàng",
    "định",
    "kỳ",
    "mỗi",
    "theo",
    "khi",
    "sau",
    "nếu",
    "có",
    "âm",
    "lịch",
    "mùng",
    "rằm",
    "Giêng",
    "Chạp",
    "Tết",
    "Nguyên",
    "đán",
    "dịp",
    "Giỗ",
    "Tổ",
    "Hùng",
    "Vương",
    "giai",
    "đoạn",
    "I",
    "II",
    "III",
    "IV",
    "V",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "9",
    "10",
    "12",
    "13",
    "15",
    "29",
    "30",
    "31",
    "99",
    "1899",
    "2024",
    "2025",
    "2199",
    "/",
    "-",
    "–",
    ",",
    ".",
    "(",
    ")",
    ";",
    ":",
]
timing_like = st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)
plan_years = st.one_of(st.none(), st.integers(1890, 2210))


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=80), timing_like), plan_years, st.booleans())
@example("ngày 31 tháng 12 năm 2198 âm lịch", None, False)
@example("Tết 2198", None, False)
@example("dịp Tết 1900", None, False)
@example("tháng Chạp âm lịch 2198", None, False)
@example("x" * 5000, None, False)
@example("\ud800", None, False)
def test_never_raises_and_spans_are_ordered(text: str, year: int | None, deadline: bool) -> None:
    t = parse_uncached(text, year=year, deadline=deadline)
    assert isinstance(t, Timing) and isinstance(t.kind, TimingKind)
    if t.start and t.end:
        assert t.start <= t.end
    if t.kind in (UN, CN):
        assert t.reason
    if t.kind is RE:
        assert t.rule
    if t.kind is DL:
        assert t.end and t.bound in ("before", "by")
    if "\ud800" not in text:
        assert t.text == clean(text)
        assert INTERNAL_ERROR not in (t.reason or ""), t


@given(st.one_of(st.text(max_size=60), timing_like), plan_years)
@example("THEO:MOI QUY", 1900)  # a conditional recurrence keeps its rule, no bound
@example("Quý IV/2025 (nếu có)", None)  # a conditional window becomes "done by" its end
def test_deadline_flag_only_changes_windows(text: str, year: int | None) -> None:
    window, due = parse_uncached(text, year=year), parse_uncached(text, year=year, deadline=True)
    if window.kind in (R, DT):
        assert (due.kind, due.start, due.end, due.bound) == (DL, window.start, window.end, "by")
    elif window.kind is CN and window.bound is None and window.end and window.rule is None:
        assert (due.start, due.end, due.bound) == (window.start, window.end, "by")
    elif window.kind is not CN or window.rule is not None:
        assert due == window  # a recurrence, conditional or not, is dated by its rule


ROMAN = ["", "I", "II", "III", "IV"]
quarter_word = st.sampled_from(["Quý", "quý", "QUÝ", "quy", "Qúy", "Q"])
year_sep = st.sampled_from(["/", " năm ", " / ", " – ", "/ "])
years = st.integers(1950, 2150)


@given(st.integers(1, 4), years, quarter_word, st.booleans(), year_sep)
def test_quarters_round_trip(quarter: int, year: int, word: str, roman: bool, sep: str) -> None:
    text = f"{word} {ROMAN[quarter] if roman else quarter}{sep}{year}"
    t = parse_timing(text)
    first = 3 * quarter - 2
    expected = (
        date(year, first, 1),
        date(year, first + 2, calendar.monthrange(year, first + 2)[1]),
    )
    assert (t.kind, t.start, t.end) == (R, *expected), text


@given(st.integers(1, 12), years, st.sampled_from(["Tháng", "tháng", "THÁNG", "thang"]), year_sep)
def test_months_round_trip(month: int, year: int, word: str, sep: str) -> None:
    t = parse_timing(f"{word} {month}{sep}{year}")
    assert (t.kind, t.start, t.end) == (
        R,
        date(year, month, 1),
        date(year, month, calendar.monthrange(year, month)[1]),
    )


DAY_FORMATS = [
    "{d}/{m}/{y}", "{d:02d}/{m:02d}/{y}", "{d}-{m}-{y}", "{d:02d}.{m:02d}.{y}",
    "ngày {d} tháng {m} năm {y}", "ngày {d:02d}/{m:02d}/{y}", "Ngày {d}.{m}.{y}", "mùng {d} tháng {m} năm {y}",
]  # fmt: skip


@given(st.dates(date(1950, 1, 1), date(2150, 12, 31)), st.sampled_from(DAY_FORMATS))
def test_days_round_trip(day: date, fmt: str) -> None:
    text = fmt.format(d=day.day, m=day.month, y=day.year)
    t = parse_timing(text)
    assert (t.kind, t.start, t.end) == (DT, day, day), text


@given(st.integers(1, 12), years, st.integers(29, 31), st.sampled_from(DAY_FORMATS))
def test_impossible_days_are_named_not_clamped(month: int, year: int, day: int, fmt: str) -> None:
    if day <= calendar.monthrange(year, month)[1]:
        return
    t = parse_timing(fmt.format(d=day, m=month, y=year))
    assert t.kind is UN and t.start is None and t.end is None
    assert f"{day}/{month}/{year} không tồn tại" in (t.reason or "")


# Expressions that name their years: the span must stay inside them.
def _stated(draw: st.DrawFn) -> tuple[str, set[int]]:
    y = draw(years)
    y2 = draw(st.integers(y, y + 5))
    q, q2 = sorted(draw(st.lists(st.integers(1, 4), min_size=2, max_size=2)))
    m, m2 = sorted(draw(st.lists(st.integers(1, 12), min_size=2, max_size=2)))
    third = draw(st.sampled_from(["đầu", "giữa", "cuối"]))
    choices = [
        (f"Quý {ROMAN[q]} - Quý {ROMAN[q2]} năm {y}", {y}),
        (f"Quý {ROMAN[q]}, {ROMAN[q2]}/{y}", {y}),
        (f"Quý {ROMAN[q]}/{y} - Quý {ROMAN[q2]}/{y2}", {y, y2} | set(range(y, y2 + 1))),
        (f"từ tháng {m} đến tháng {m2}/{y}", {y}),
        (f"tháng {m}, {m2}/{y}", {y}),
        (f"tháng {m}-{m2}/{y}", {y}),
        (f"năm {y} - {y2}", set(range(y, y2 + 1))),
        (f"giai đoạn {y}-{y2}", set(range(y, y2 + 1))),
        (f"6 tháng {draw(st.sampled_from(['đầu', 'cuối']))} năm {y}", {y}),
        (f"{third} tháng {m}/{y}", {y}),
        (f"{third} quý {ROMAN[q]}/{y}", {y}),
        (f"{third} năm {y}", {y}),
        (f"tuần {draw(st.sampled_from(['đầu', 'cuối', 'thứ 2', 'thứ ba']))} tháng {m}/{y}", {y}),
        (f"Thường xuyên trong năm {y}", {y}),
        (f"trước ngày {draw(st.integers(2, 28))}/{m}/{y}", {y}),
        (f"hoàn thành trong tháng {m}/{y}", {y}),
    ]
    return draw(st.sampled_from(choices))


stated = st.composite(_stated)()


@given(stated, plan_years)
def test_spans_lie_in_the_stated_years(case: tuple[str, set[int]], year: int | None) -> None:
    text, in_years = case
    t = parse_timing(text, year=year)
    assert t.end is not None, t
    assert t.end.year in in_years and (t.start is None or t.start.year in in_years), t


# --- spelling variants give the same result ------------------------------------------

OLD_TONES = {
    "Quý": "Qúy",
    "quý": "qúy",
    "QUÝ": "QÚY",
    "hóa": "hoá",
    "Hóa": "Hoá",
    "tùy": "tuỳ",
    "Thủy": "Thuỷ",
    "thủy": "thuỷ",
}


def _no_diacritics(text: str) -> str:
    stripped = "".join(
        c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)
    )
    return stripped.replace("đ", "d").replace("Đ", "D")


def _old_tone(text: str) -> str:
    for new, old in OLD_TONES.items():
        text = text.replace(new, old)
    return text


VARIANTS = {
    "nfd": lambda s: unicodedata.normalize("NFD", s),
    "no_diacritics": _no_diacritics,
    "upper": str.upper,
    "lower": str.lower,
    "old_tone": _old_tone,
    "spaces": lambda s: "  " + s.replace(" ", " \u00a0 ") + "\t ",
    "en_dash": lambda s: s.replace("-", "–"),
}


def _signature(t: Timing) -> tuple[object, ...]:
    return (t.kind, t.start, t.end, t.rule, t.bound, fold_ascii(t.reason or ""))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_spelling_variants_parse_alike(variant: str) -> None:
    change = VARIANTS[variant]
    for text, year, *_ in TABLE:
        canonical, changed = parse_timing(text, year=year), parse_timing(change(text), year=year)
        assert _signature(changed) == _signature(canonical), (variant, text, changed)


@given(
    st.sampled_from([row[0] for row in TABLE]),
    st.lists(st.sampled_from(sorted(VARIANTS)), max_size=4),
)
def test_combined_variants_parse_alike(text: str, names: list[str]) -> None:
    changed = text
    for name in names:
        changed = VARIANTS[name](changed)
    assert _signature(parse_timing(changed, year=2024)) == _signature(parse_timing(text, year=2024))


# --- internals that must not change answers -----------------------------------------


# Pieces of cores, glued or spaced at random: "quy ii/2024", "thang3-5 / 2024", "02 . 2023".
_CORE_PIECES = ["quý", "Q", "II", "iv", "2", "12", "31", "tháng", "ngày", "mùng", "năm",
                "2024", "2025", "/", ".", "-", ",", "và", "hoặc", "đến", "từ", "đầu", "cuối",
                "tuần", "thứ", "tư", "nhuận", "Giêng", "Tết", "nửa", "6", "10/4", "02.2023"]  # fmt: skip
core_like = st.lists(
    st.tuples(st.sampled_from(_CORE_PIECES), st.sampled_from(["", " ", " "])), max_size=8
).map(lambda pairs: "".join(piece + gap for piece, gap in pairs))


@settings(max_examples=300)
@given(st.one_of(timing_like, core_like, st.sampled_from([row[0] for row in TABLE])), plan_years)
@example("02 . 2023", None)  # "." is a filler: "02 2023", not a month
@example("quý ii . 2024", None)
@example("tháng từ 5/2024", None)  # "từ" is a filler: "tháng 5/2024", not "tháng" alone
@example("ngày ngày 5/4/2024", None)
@example("mùng 5 tháng Giêng 2024", None)
@example("2 - 12 - 2024", None)
@example("tuần thứ tư của tháng 5/2024", None)
@example("tuần đầu tiên tháng5", 2024)
@example("thang5-8/2024", None)
@example("qii/2024 - quy i/2025", None)
@example("ngày 10-15/4", 2024)
@example("quý I, II", 2024)
def test_shortcuts_change_no_answer(text: str, year: int | None) -> None:
    """The keyword gates, the whole-cell and common-cell shortcuts and the untokenised reading
    are only shortcuts: with every step run, no shortcut and always the tokens, the same."""
    fast = parse_uncached(text, year=year)
    saved = (timing_module._step_words, grammar_module._FAST, grammar_module._periods,
             timing_module.fast_read)  # fmt: skip
    periods = grammar_module._periods

    def tokens_only(text: str):
        return periods(" ".join(grammar_module._tokens(text)))

    try:
        timing_module._step_words = lambda key: timing_module._STEP_WORDS  # every step runs
        grammar_module._FAST = grammar_module.re.compile(r"(?!)" + "()" * 9)  # never matches
        grammar_module._periods = tokens_only
        timing_module.fast_read = lambda *args: None  # no whole-cell match (timing_fast)
        slow = parse_uncached(text, year=year)
    finally:
        (timing_module._step_words, grammar_module._FAST, grammar_module._periods,
         timing_module.fast_read) = saved  # fmt: skip
    assert slow == fast


# Pieces that decide whether `clean` may return its input as is: NFD marks, odd spaces,
# runs of spaces, dashes, line breaks, invisible marks.
_TIDY_PIECES = ["Quý", "Qu\u0301y", "2024", "/", " ", "  ", "-", "–", "\u2212", "\u00a0",
                "\t", "\n", "\r", "\u2028", "\u200b", "\u00ad", "đ", "x"]  # fmt: skip


@given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(_TIDY_PIECES)).map("".join)))
@example("Quý  II")
@example(" Quý II")
@example("Quý II ")
@example("Quý II – 2024")
@example("Qu\u0301y II")
def test_clean_shortcut_changes_nothing(text: str) -> None:
    """`text.clean` returns clean input as is (the parser's first step): same as the passes."""
    assert clean(text) == text_module._clean_passes(text)


_KEY_PIECES = ["Quý", "QUÝ", "Qu\u0301y", "đầu", "Đắk", "thường", "2024", "/", " ", "\n",
               "é", "ß", "ſ", "İ", "≠", "“", "…", "Ω", "ﬁ"]  # fmt: skip


@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(_KEY_PIECES)).map("".join)))
@example("a\n\nb")
@example("≠\nQuý")
def test_key_is_fold_ascii(text: str) -> None:
    """The key is `fold_ascii` up to runs of spaces; the same length when it is ASCII."""
    cleaned = clean(text)
    key = timing_module._key(cleaned)
    assert key.split() == fold_ascii(cleaned).split()
    table = cleaned.translate(timing_module._ASCII)  # the per-letter table, the reference
    if table.isascii():
        assert key == table


def test_memo_returns_the_same_answer() -> None:
    assert parse_timing("Quý II/2024") == parse_uncached("Quý II/2024")


def test_a_parsed_timing_is_a_value() -> None:
    """What the memo and every caller rely on: the answer built at the end of a parse (one
    C call, not Timing(...)) is a Timing like any other, immutable, equal and hashable by
    value, with its fields where their names say."""
    parsed = parse_uncached("trước ngày 15/6/2024")
    built = Timing(
        "trước ngày 15/6/2024", TimingKind.DEADLINE, None, date(2024, 6, 14), bound="before"
    )
    assert type(parsed) is Timing and type(parsed.kind) is TimingKind
    assert parsed == built and hash(parsed) == hash(built)
    assert (parsed.end, parsed.bound, parsed.rule) == (date(2024, 6, 14), "before", None)
    assert parsed.as_json()["end"] == "2024-06-14" and parsed.datable
    with pytest.raises(AttributeError):
        parsed.end = date(2024, 6, 15)  # type: ignore[misc]


# --- recurrence rules expand as documented ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "first_three"),
    [
        ("hằng năm", ["2024-12-31"]),
        ("định kỳ hằng quý", ["2024-03-31", "2024-06-30", "2024-09-30"]),
        ("hằng tháng", ["2024-01-31", "2024-02-29", "2024-03-31"]),
        ("ngày 25 hằng tháng", ["2024-01-25", "2024-02-25", "2024-03-25"]),
        ("6 tháng, hằng năm", ["2024-06-30", "2024-12-31"]),
        ("hằng tuần", ["2024-01-07", "2024-01-14", "2024-01-21"]),
        ("thứ Sáu hằng tuần", ["2024-01-05", "2024-01-12", "2024-01-19"]),
        ("ngày 2/9 hằng năm", ["2024-09-02"]),
        ("trước ngày 1 hằng tháng", ["2024-01-31", "2024-02-29", "2024-03-31"]),
        ("Quý II hằng năm", ["2024-06-30"]),
    ],
)
def test_rules_expand_with_dateutil(text: str, first_three: list[str]) -> None:
    t = parse_timing(text, year=2024)
    assert t.kind is RE and t.rule and t.start and t.end
    rule = rrulestr(
        t.rule + f";UNTIL={t.end:%Y%m%d}", dtstart=datetime.combine(t.start, datetime.min.time())
    )
    got = [d.date().isoformat() for d in rule][:3]
    assert got == first_three


# --- the command -----------------------------------------------------------------------


def test_cli_prints_one_json_object_a_line() -> None:
    result = CliRunner().invoke(app, ["timing", "--year", "2024", "Quý II/2024", "tháng 3, 4"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["kind"], r["start"], r["end"]) for r in rows] == [
        ("range", "2024-04-01", "2024-06-30"),
        ("range", "2024-03-01", "2024-04-30"),
    ]
    assert set(rows[0]) == {"text", "kind", "start", "end", "rule", "reason", "bound"}


def test_cli_reads_stdin_one_line_each() -> None:
    stdin = "Quý II/2024\n\ntrước ngày 15/6\nkhi có yêu cầu\n"
    result = CliRunner().invoke(app, ["timing", "--year", "2024", "--deadline", "-"], input=stdin)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["deadline", "undatable", "deadline", "undatable"]
    assert rows[2]["end"] == "2024-06-14" and rows[2]["bound"] == "before"
    assert rows[3]["reason"] == "không có ngày cụ thể (khi có yêu cầu)"


def test_benchmark_corpus_expectations_hold() -> None:
    """benchmarks/corpus/timing.tsv: every row dated as its expected span says."""
    import csv
    import io

    text = (ROOT / "benchmarks" / "corpus" / "timing.tsv").read_text(encoding="utf-8")
    body = "".join(line for line in io.StringIO(text, newline="") if not line.startswith("#"))
    rows = list(csv.DictReader(io.StringIO(body, newline=""), delimiter="\t"))
    assert len(rows) >= 150
    for row in rows:
        t = parse_timing(
            row["text"],
            year=int(row["year"]) if row["year"] else None,
            deadline=row["deadline"] == "1",
        )
        assert (t.kind.value, t.start, t.end) == (row["kind"], _d(row["start"]), _d(row["end"])), (
            row
        )
