"""The core of a timing expression: periods joined by ranges and lists → one span.

Reads what is left once timing.py has taken off the wrappers (conditions, deadline
words, recurrence, "thường xuyên", "âm lịch"): a folded ASCII string such as
"quy i, ii/2024", "tu thang 3 den thang 5/2024", "ngay 10-15/4/2024", "nam 2024 - 2025",
"tuan cuoi thang 6/2024", "6 thang dau nam 2024". Tokens, then an ordered list of small
item recognisers (khal's parse_datetime style), then resolution:
- a missing year or month is shared from the right ("tháng 3, 4/2024"), then the left,
  then the plan's year; none at all is the error "thiếu năm";
- "-", "đến", "tới" make a range (its first start to its last end); ",", "và", "&"
  make a list, dated as the span that covers it, with a note when it has gaps;
- a bare number after a connector continues the previous unit ("Quý I, II", "10-15/4").
Public: `Core`, `parse_core(text, *, lunar, year)`: a `Core`, None when the text is not
a timing, or `SpanError` (timing_spans) with the Vietnamese reason.
Not here: the calendar conventions (timing_spans.py), kinds and wrappers (timing.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from notifier.timing_spans import (
    Span,
    SpanError,
    check_year,
    day_span,
    first_months,
    last_months,
    lunar_day,
    lunar_month,
    lunar_year,
    month_name,
    month_span,
    quarter_span,
    tet,
    tet_season,
    third_of,
    week_of,
    year_span,
)

__all__ = ["Core", "parse_common", "parse_core"]

_TOKEN = re.compile(r"\d+|[a-z]+|[^\sa-z\d]", re.ASCII)
# "2-12-2024", "02.12.2024" → "2/12/2024"; "12.2024" → "12/2024". A lone "10-15" stays a range.
_DMY = re.compile(r"\b(\d{1,2}) ?([.-]) ?(\d{1,2}) ?\2 ?(\d{4})\b", re.ASCII)
_MY_DOT = re.compile(r"\b(\d{1,2})\.(\d{4})\b", re.ASCII)

_RANGE = frozenset({"-", "den", "toi"})
_LIST = frozenset({",", "va", "&", "+", ";", "hoac"})
# Words that carry no date: "trong năm", "vào tháng", "giai đoạn", "dự kiến", "đến hết".
_FILLER = frozenset(
    [
        "trong",
        "vao",
        "khoang",
        "cac",
        "cua",
        "het",
        "giai",
        "doan",
        "tu",
        "du",
        "kien",
        "thoi",
        "gian",
        "thuc",
        "hien",
        "cho",
        "luc",
        "nhung",
        "suot",
        "dip",
        "nhan",
        "ca",
        ":",
        ".",
        "(",
        ")",
        '"',
        "'",
    ]
)
_ROMAN = {
    "i": 1,
    "ii": 2,
    "iii": 3,
    "iv": 4,
    "v": 5,
    "vi": 6,
    "vii": 7,
    "viii": 8,
    "ix": 9,
    "x": 10,
}
_WORD_NUMBERS = {"nhat": 1, "mot": 1, "hai": 2, "ba": 3, "tu": 4, "nam": 5, "sau": 6, "chin": 9}
_LUNAR_MONTHS = {"gieng": 1, "chap": 12}
_THIRD_WORDS = {"dau": 0, "giua": 1, "cuoi": 2, "thuong": 0, "trung": 1, "ha": 2}


@dataclass(slots=True)
class _Item:
    """One period as written; missing fields are filled in by `_resolve`."""

    unit: str  # day | month | quarter | year | first | last | third | week | tet | tet_season
    year: int | None = None
    month: int | None = None
    day: int | None = None
    value: int = 0  # quarter, number of months, third (0–2) or week (1–5, -1 = last)
    quarter: int = 0  # the quarter a third belongs to ("cuối quý II")
    of: str = ""  # what a third or a week is part of: month | quarter | year
    lunar: bool = False
    leap: bool = False
    written: str = ""  # the quarter as written, for messages ("V")


class Core(NamedTuple):
    start: date
    end: date
    note: str | None  # a list with gaps or a choice ("hoặc"): how the span was taken
    open_start: bool  # "từ X" with no end: only `start` is meant


# --- token helpers ---------------------------------------------------------------------


def _is_number(tok: str) -> bool:
    """ASCII digits only: "²".isdigit() is True, but int("²") fails."""
    return tok.isascii() and tok.isdigit()


_PAD = 8  # more than any recogniser looks ahead, so `t[i]` needs no bounds check


class _Tokens(list[str]):
    """The tokens, padded with "" at the end; `n` is the real length."""

    def __init__(self, tokens: list[str]) -> None:
        super().__init__(tokens)
        self.n = len(tokens)
        self.extend([""] * _PAD)

    def number(self, i: int) -> int | None:
        tok = self[i]
        return int(tok) if len(tok) <= 2 and _is_number(tok) else None

    def year(self, i: int) -> int | None:
        tok = self[i]
        return int(tok) if len(tok) == 4 and _is_number(tok) else None

    def year_suffix(self, i: int) -> tuple[int | None, int]:
        """ "/2024", ".2024", "năm 2024", " 2024", or "- 2024" at the very end."""
        sep = self[i]
        if sep in ("/", ".", "nam") and self.year(i + 1) is not None:
            return self.year(i + 1), i + 2
        if self.year(i) is not None:
            return self.year(i), i + 1
        if sep == "-" and self.year(i + 1) is not None and i + 2 == self.n:
            return self.year(i + 1), i + 2
        return None, i

    def month_value(self, i: int) -> tuple[int, bool, bool, int] | None:
        """Month number, lunar by name ("Giêng", "Chạp"), leap ("nhuận"), next index."""
        tok = self[i]
        if tok in _LUNAR_MONTHS:
            month, lunar = _LUNAR_MONTHS[tok], True
        elif len(tok) <= 2 and _is_number(tok):
            month, lunar = int(tok), False
        else:
            return None
        leap = self[i + 1] == "nhuan"
        return month, lunar, leap, i + 1 + leap


def _quarter_value(tok: str) -> int | None:
    if tok in _ROMAN:
        return _ROMAN[tok]
    return int(tok) if _is_number(tok) and len(tok) <= 2 else None


_Parsed = tuple[_Item, int] | None


# --- item recognisers, tried in order ----------------------------------------------------


def _months_of_year(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """ "6 tháng đầu năm", "6 tháng cuối năm 2024", "nửa đầu năm", "9 tháng năm 2024"."""
    tok = t[i]
    if tok == "nua" and t[i + 1] in ("dau", "cuoi", "sau") and t[i + 2] == "nam":
        unit = "first" if t[i + 1] == "dau" else "last"
        year, j = t.year_suffix(i + 3)
        return _Item(unit, year=year, value=6), j
    count = t.number(i) if _is_number(tok) else _WORD_NUMBERS.get(tok)
    if count is None or t[i + 1] != "thang":
        return None
    if t[i + 2] in ("dau", "cuoi") and t[i + 3] == "nam":
        year, j = t.year_suffix(i + 4)
        return _Item("first" if t[i + 2] == "dau" else "last", year=year, value=count), j
    if t[i + 2] == "nam" and t.year(i + 3) is not None:  # "6 tháng năm 2024": reporting usage
        return _Item("first", year=t.year(i + 3), value=count), i + 4
    return None


def _period_of(t: _Tokens, i: int, unit: str, value: int) -> _Parsed:
    """After "đầu/giữa/cuối" or "tuần …": "tháng 5[/2024]", "quý II[/2024]", "năm [2024]"."""
    tok = t[i]
    if tok == "thang":
        found = t.month_value(i + 1)
        if found is None:
            raise SpanError("thiếu tháng: ghi rõ tháng nào, ví dụ “cuối tháng 6/2024”")
        month, lunar, leap, j = found
        year, j = t.year_suffix(j)
        return _Item(
            unit, year=year, month=month, value=value, of="month", lunar=lunar, leap=leap
        ), j
    if unit == "third" and tok == "quy":
        quarter = _quarter_value(t[i + 1])
        if quarter is None:
            raise SpanError("thiếu quý: ghi rõ quý nào, ví dụ “đầu quý III/2024”")
        year, j = t.year_suffix(i + 2)
        return _Item(
            unit, year=year, quarter=quarter, value=value, of="quarter", written=t[i + 1]
        ), j
    if unit == "third" and tok == "nam":
        year, j = t.year_suffix(i + 1)
        return _Item(unit, year=year, value=value, of="year"), j
    if unit == "third" and t.year(i) is not None:
        return _Item(unit, year=t.year(i), value=value, of="year"), i + 1
    return None


def _third(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """ "đầu/giữa/cuối tháng 5", "cuối quý II/2024", "cuối năm", "thượng tuần tháng 3"."""
    tok = t[i]
    if tok not in _THIRD_WORDS:
        return None
    j = i + 1
    if tok in ("thuong", "trung", "ha"):
        if t[j] != "tuan":
            return None
        j += 1
        if t[j] != "thang":  # "hạ tuần tháng 5"; also "hạ tuần 5" is not Vietnamese
            return None
    return _period_of(t, j, "third", _THIRD_WORDS[tok])


def _week(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """ "tuần đầu tháng 5", "tuần cuối (của) tháng 6/2024", "tuần thứ 2 tháng 5"."""
    if t[i] != "tuan":
        return None
    tok, j = t[i + 1], i + 2
    if tok == "dau":
        week, j = 1, j + (t[j] == "tien")
    elif tok == "cuoi":
        week, j = -1, j + (t[j] == "cung")
    elif tok == "thu":
        word = t[j]
        number = t.number(j) if _is_number(word) else _WORD_NUMBERS.get(word)
        if number is None:
            return None
        week, j = number, j + 1
    elif _is_number(tok) and len(tok) <= 2:
        week = int(tok)
    else:
        return None
    j += t[j] == "cua"
    found = _period_of(t, j, "week", week)
    if found is None:
        raise SpanError("thiếu tháng: ghi rõ tuần của tháng nào, ví dụ “tuần đầu tháng 5/2024”")
    return found


def _tet(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """ "Tết Nguyên đán 2025" (mùng 1), "dịp Tết 2025" (the season); timing.py rewrites."""
    tok = t[i]
    if tok not in ("tet", "diptet"):
        return None
    year, j = t.year_suffix(i + 1)
    return _Item("tet" if tok == "tet" else "tet_season", year=year, lunar=True), j


def _quarter(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """ "quý II/2024", "quý 2 năm 2024", "Q2/2024"."""
    tok = t[i]
    if tok in ("quy", "q"):
        written, j = t[i + 1], i + 2
    elif len(tok) > 1 and tok[0] == "q" and tok[1:] in _ROMAN:  # "QII/2024"
        written, j = tok[1:], i + 1
    else:
        return None
    quarter = _quarter_value(written)
    if quarter is None:
        raise SpanError("thiếu quý: ghi rõ quý nào, ví dụ “Quý II/2024”")
    year, j = t.year_suffix(j)
    return _Item("quarter", year=year, value=quarter, written=written), j


def _month(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """ "tháng 10/2024", "tháng 3 năm 2024", "tháng Giêng", "10/2024"."""
    if t[i] == "thang":
        found = t.month_value(i + 1)
        if found is None:
            raise SpanError("thiếu tháng: ghi rõ tháng nào, ví dụ “Tháng 10/2024”")
        month, lunar, leap, j = found
        year, j = t.year_suffix(j)
        return _Item("month", year=year, month=month, lunar=lunar, leap=leap), j
    month = t.number(i)
    if month is not None and t[i + 1] in ("/", ".") and t.year(i + 2) is not None:
        return _Item("month", year=t.year(i + 2), month=month), i + 3
    return None


def _day_rest(t: _Tokens, day: int, j: int) -> _Parsed:
    """After a day number: "/12[/2024]", " tháng 12 [năm 2024]" or nothing."""
    month, lunar, leap = None, False, False
    if t[j] == "/" and t.number(j + 1) is not None:
        month, j = t.number(j + 1), j + 2
        leap, j = t[j] == "nhuan", j + (t[j] == "nhuan")
    elif t[j] == "thang" and t.month_value(j + 1) is not None:
        month, lunar, leap, j = t.month_value(j + 1)  # type: ignore[misc]
    year = None
    if month is not None:
        year, j = t.year_suffix(j)
    return _Item("day", year=year, month=month, day=day, lunar=lunar, leap=leap), j


def _day(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """ "02/12/2024", "ngày 02 tháng 12 năm 2024", "ngày 10", "2/12"."""
    if t[i] == "ngay":
        day = t.number(i + 1)
        return None if day is None else _day_rest(t, day, i + 2)
    day = t.number(i)
    if day is not None and t[i + 1] == "/" and t.number(i + 2) is not None:
        return _day_rest(t, day, i + 1)
    return None


def _year(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """ "năm 2024", "2024", and "năm" alone (the plan's year: "trong năm")."""
    if t[i] == "nam":
        year = t.year(i + 1)
        return _Item("year", year=year), i + 1 + (year is not None)
    year = t.year(i)
    return (_Item("year", year=year), i + 1) if year is not None else None


def _continued(t: _Tokens, i: int, prev: _Item | None) -> _Parsed:
    """A bare number after a connector keeps the previous unit: "Quý I, II", "tháng 3-5"."""
    if prev is None or (t[i + 1] == "/" and t.number(i + 2) is not None):
        return None  # "tháng 5 - 15/6/2024": a new day, not a continued month
    tok = t[i]
    if prev.unit == "quarter" and _quarter_value(tok) is not None:
        year, j = t.year_suffix(i + 1)
        return _Item("quarter", year=year, value=_quarter_value(tok), written=tok), j  # type: ignore[arg-type]
    if prev.unit == "month":
        found = t.month_value(i)
        if found is not None:
            month, lunar, leap, j = found
            year, j = t.year_suffix(j)
            return _Item("month", year=year, month=month, lunar=lunar or prev.lunar, leap=leap), j
    if prev.unit == "day" and t.number(i) is not None:
        return _day_rest(t, t.number(i), i + 1)  # type: ignore[arg-type]
    return None


_RECOGNISERS = (_continued, _months_of_year, _third, _week, _tet, _quarter, _month, _day, _year)
# The same order, cut down to the recognisers that can accept a given first token.
_BY_NUMBER = (_continued, _months_of_year, _month, _day, _year)
_BY_WORD = {
    "quy": (_quarter,), "q": (_quarter,), "thang": (_month,), "ngay": (_day,), "nam": (_year,),
    "tuan": (_week,), "nua": (_months_of_year,), "tet": (_tet,), "diptet": (_tet,),
    **{word: (_third,) for word in _THIRD_WORDS},
}  # fmt: skip


def _recognisers(tok: str) -> tuple:
    if _is_number(tok):
        return _BY_NUMBER
    return _BY_WORD.get(tok, _RECOGNISERS)


# --- parsing and resolution --------------------------------------------------------------


_ALIASES = {"mung": "ngay", "mong": "ngay"}  # "mùng 10", "mồng 2": a day


def _tokens(text: str) -> list[str]:
    if "." in text or "-" in text:
        text = _MY_DOT.sub(r"\1/\2", _DMY.sub(r"\1/\3/\4", text))
    if "thu tu" in text:  # "tuần thứ tư": "tư" is 4 here, not "từ"
        text = text.replace("thu tu", "thu 4")
    tokens: list[str] = []
    for tok in _TOKEN.findall(text):
        tok = _ALIASES.get(tok, tok)
        if tok not in _FILLER and not (tok == "ngay" and tokens and tokens[-1] == "ngay"):
            tokens.append(tok)
    return tokens


# The commonest cells in one pattern, dated without tokens: "năm 2024", "Quý II/2024",
# "tháng 10/2024", "02/12/2024". Anything else, and every error, takes the general path.
_FAST = re.compile(
    r"(?:(?:trong|vao|ca) )?(?:nam (?P<y>\d{4})|(?P<y2>\d{4})"
    r"|quy (?P<q>iv|i{1,3}|[1-4])(?:/| nam | - | )(?P<qy>\d{4})"
    r"|thang (?P<m>[1-9]|1[0-2])(?:/| nam | - | )(?P<my>\d{4})"
    r"|(?:ngay )?(?P<d>\d{1,2})/(?P<dm>\d{1,2})/(?P<dy>\d{4}))",
    re.ASCII,
)


def parse_common(text: str) -> Span | None:
    """The span of `text` when the whole of it is one of the commonest cells, else None.

    Raises SpanError as `parse_core` does (a day or year that does not exist).
    """
    m = _FAST.fullmatch(text)
    if m is None:
        return None
    y, y2, q, qy, month, my, day, dm, dy = m.groups()
    if y or y2:
        span = year_span(int(y or y2))
    elif q:
        span = quarter_span(_ROMAN.get(q) or int(q), int(qy))
    elif month:
        span = month_span(int(month), int(my))
    else:
        span = day_span(int(day), int(dm), int(dy))
    return span


def parse_core(text: str, *, lunar: bool, year: int | None) -> Core | None:
    """Date the core expression; None if it is empty or not a timing; SpanError if wrong."""
    if not lunar:
        common = parse_common(text)
        if common is not None:
            return Core(common.start, common.end, None, False)
    open_start = text.startswith("tu ")
    t = _Tokens(_tokens(text))
    items: list[_Item] = []
    links: list[str] = []
    i, prev = 0, None
    while i < t.n:
        if items:  # a connector must separate two periods
            tok = t[i]
            if tok not in _RANGE and tok not in _LIST:
                return None
            links.append(tok)
            i += 1
        for recognise in _recognisers(t[i]):
            found = recognise(t, i, prev)
            if found is not None:
                break
        else:
            return None
        prev, i = found
        items.append(prev)
    if not items:
        return None
    spans = [_span(item, lunar) for item in _resolve(items, year)]
    return _combine(spans, links, open_start)


def _resolve(items: list[_Item], default_year: int | None) -> list[_Item]:
    """Share missing months (days only) and years: right first, then left, then the plan's."""
    for k, item in enumerate(items):
        if item.unit == "day" and item.month is None:
            donor = _nearest(items, k, lambda o: o.unit == "day" and o.month is not None)
            if donor is None:
                raise SpanError(f"thiếu tháng: ngày {item.day} của tháng nào?")
            item.month, item.leap, item.lunar = donor.month, donor.leap, item.lunar or donor.lunar
            if item.year is None:
                item.year = donor.year
    for k, item in enumerate(items):
        if item.year is None:
            donor = _nearest(items, k, lambda o: o.year is not None)
            item.year = donor.year if donor is not None else default_year
            if item.year is None:
                raise SpanError(
                    "thiếu năm: biểu thức không ghi năm và không biết năm của kế hoạch"
                    " (ghi rõ, ví dụ “Quý II/2024”)"
                )
        check_year(item.year)
    return items


def _nearest(items: list[_Item], k: int, ok) -> _Item | None:
    for other in items[k + 1 :]:
        if ok(other):
            return other
    for other in reversed(items[:k]):
        if ok(other):
            return other
    return None


def _span(item: _Item, lunar_all: bool) -> Span:
    lunar = lunar_all or item.lunar
    year = item.year
    assert year is not None  # _resolve filled it or raised
    unit = item.unit
    if unit == "day":
        assert item.day is not None and item.month is not None
        if lunar:
            return lunar_day(item.day, item.month, year, leap=item.leap)
        return day_span(item.day, item.month, year)
    if unit == "tet":
        return tet(year)
    if unit == "tet_season":
        return tet_season(year)
    if unit in ("month", "week") or (unit == "third" and item.of == "month"):
        assert item.month is not None
        base = (
            lunar_month(item.month, year, leap=item.leap) if lunar else month_span(item.month, year)
        )
        if unit == "month":
            return base
        if unit == "week":
            return week_of(base, item.value, label=f"{month_name(item.month, lunar=lunar)}/{year}")
        return third_of(base, item.value, by_month=False)
    if unit == "year":
        return lunar_year(year) if lunar else year_span(year)
    if lunar:
        raise SpanError("quý, nửa năm và phần của năm chỉ tính theo dương lịch; bỏ chữ “âm lịch”")
    if unit == "quarter":
        return quarter_span(item.value, year, written=item.written)
    if unit == "first":
        return first_months(item.value, year)
    if unit == "last":
        return last_months(item.value, year)
    # unit == "third" of a quarter or of a year
    if item.of == "quarter":
        base = quarter_span(item.quarter, year, written=item.written)
    else:
        base = year_span(year)
    return third_of(base, item.value, by_month=True)


def _dmy(d: date) -> str:
    return f"{d.day}/{d.month}/{d.year}"


def _combine(spans: list[Span], links: list[str], open_start: bool) -> Core:
    """Ranges join their first start to their last end; lists take the covering span."""
    if not links:
        return Core(spans[0].start, spans[0].end, None, open_start)
    runs: list[Span] = []
    run_start = spans[0]
    for k, link in enumerate(links):
        if link in _LIST:
            runs.append(_run(run_start, spans[k]))
            run_start = spans[k + 1]
    runs.append(_run(run_start, spans[-1]))
    if len(runs) == 1:  # one range: "từ X đến Y" has an end, so it is not open
        return Core(runs[0].start, runs[0].end, None, False)
    runs.sort()
    start, covered, gaps = runs[0].start, runs[0].end, False
    for run in runs[1:]:  # a gap: a run starting after everything before it has ended
        gaps = gaps or (run.start - covered).days > 1
        covered = max(covered, run.end)
    note = None
    if "hoac" in links:
        note = f"có lựa chọn (“hoặc”); lấy khoảng bao trùm {_dmy(start)}–{_dmy(covered)}"
    elif gaps:
        note = f"các khoảng không liền nhau; lấy khoảng bao trùm {_dmy(start)}–{_dmy(covered)}"
    return Core(start, covered, note, open_start and not any(link in _RANGE for link in links))


def _run(first: Span, last: Span) -> Span:
    if first.start > last.end:
        raise SpanError(
            f"khoảng thời gian ngược: bắt đầu {_dmy(first.start)} sau khi kết thúc {_dmy(last.end)}"
        )
    return Span(first.start, max(first.end, last.end))
