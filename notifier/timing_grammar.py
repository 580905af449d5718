"""The core of a timing expression: periods joined by ranges and lists → one span.

Reads what is left once timing.py has taken off the wrappers (conditions, deadline
words, recurrence, "thường xuyên", "âm lịch"): a folded ASCII string such as
"quy i, ii/2024", "tu thang 3 den thang 5/2024", "ngay 10-15/4/2024", "nam 2024 - 2025",
"tuan cuoi thang 6/2024", "6 thang dau nam 2024". Tokens, then periods read one at a
time by a compiled pattern whose alternatives are the period shapes in a fixed order
(khal's parse_datetime style, in one regex so the matching runs in C), then resolution:
- a missing year or month is shared from the right ("tháng 3, 4/2024"), then the left,
  then the plan's year; none at all is the error "thiếu năm";
- "-", "đến", "tới" make a range (its first start to its last end); ",", "và", "&"
  make a list, dated as the span that covers it, with a note when it has gaps;
- a bare number after a connector continues the previous unit ("Quý I, II", "10-15/4").
Public: `Core`, `parse_common(text)` (the commonest whole cells, one regex),
`parse_core(text, *, lunar, year)`: a `Core`, None when the text is not a timing, or
`SpanError` (timing_spans) with the Vietnamese reason; `cover(spans, choice)` and
`backwards(start, end)`, the list and range rules that timing_fast answers with too.
Not here: the calendar conventions (timing_spans.py), kinds and wrappers (timing.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache, partial
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

__all__ = ["NO_YEAR", "SOLAR_ONLY", "Core", "backwards", "cover", "parse_common", "parse_core"]

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


class _Item(NamedTuple):
    """One period as written; `_resolve` fills in a missing year, or a day's month."""

    unit: str  # day | month | quarter | year | first | last | third | week | tet | tet_season
    year: int | None
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


# NamedTuple's own constructor is Python code; these build the same tuples in C.
NO_YEAR = (
    "thiếu năm: biểu thức không ghi năm và không biết năm của kế hoạch (ghi rõ, ví dụ “Quý II/2024”)"
)
SOLAR_ONLY = "quý, nửa năm và phần của năm chỉ tính theo dương lịch; bỏ chữ “âm lịch”"
_item = partial(tuple.__new__, _Item)
_core = partial(tuple.__new__, Core)
_span_of = partial(tuple.__new__, Span)


# --- tokens ------------------------------------------------------------------------------

_ALIASES = {"mung": "ngay", "mong": "ngay"}  # "mùng 10", "mồng 2": a day
# Filler words at the start of a core, whole words: what `_tokens` would drop first.
_LEADING_FILLERS = re.compile(
    "(?:(?:"
    + "|".join(sorted((w for w in _FILLER if w.isalpha()), key=len, reverse=True))
    + ")(?![a-z]) ?)+",
    re.ASCII,
)


def _rewrite(text: str) -> str:
    """Dates with dots or dashes as slashes; "thứ tư" as "thứ 4"."""
    if "-" not in text and "." not in text and "thu tu" not in text:
        return text  # most cores: nothing to rewrite
    if text.count("-") > 1 or text.count(".") > 1:  # _DMY needs its separator twice
        text = _DMY.sub(r"\1/\3/\4", text)
    if "." in text:
        text = _MY_DOT.sub(r"\1/\2", text)
    if "thu tu" in text:  # "tuần thứ tư": "tư" is 4 here, not "từ"
        text = text.replace("thu tu", "thu 4")
    return text


def _tokens(text: str) -> list[str]:
    """The tokens of rewritten text: fillers left out, "mùng" read as "ngày" (once)."""
    tokens: list[str] = []
    for tok in _TOKEN.findall(text):
        tok = _ALIASES.get(tok, tok)
        if tok not in _FILLER and not (tok == "ngay" and tokens and tokens[-1] == "ngay"):
            tokens.append(tok)
    return tokens


# --- periods: compiled patterns over the text -------------------------------------------------
#
# The alternatives below are the period shapes, tried in this order; the first token decides
# which can apply (a number; "quý"; "tháng"; "ngày"; "năm"; "đầu/giữa/cuối"; "thượng/trung/
# hạ tuần"; "tuần"; "Tết"; "nửa"; a counted "sáu tháng"; a Roman numeral or a month name
# continuing a quarter or a month). A shape that starts right but is incomplete ("tháng"
# with no month) is an error: its Vietnamese message is in `_ERRORS`. Each alternative ends
# with an empty group named after it, so `match.lastgroup` says which matched (and most start
# with a letter, which lets the regex engine skip them at one character's cost).
#
# They read tokens as `_tokens` makes them: every word is a whole run of letters, every
# number a whole run of digits (the lookaheads), with or without a space between tokens of
# different kinds ("quy ii/2024" and "quy ii / 2024" read alike), and no filler is part of
# any pattern (`_tokens` drops them: "tư", "của", "."). So when the text itself matches, to
# its end, its tokens are what the patterns saw; otherwise the tokens joined by spaces are
# read instead (and only then is an error shape believed: "tháng từ 5" is "tháng 5").

_W = "(?![a-z])"  # a word ends here
_NUM = r"[0-9][0-9]?(?![0-9])"  # a day, a month, a quarter or a count: one or two digits
_YEAR = r"[0-9]{4}(?![0-9])"
_ROMAN_TOKEN = "(?:" + "|".join(sorted(_ROMAN, key=len, reverse=True)) + ")" + _W
_QUARTER_VALUE = f"(?:{_ROMAN_TOKEN}|{_NUM})"
_MONTH_VALUE = f"(?:gieng{_W}|chap{_W}|{_NUM})"  # a number, or a lunar month by name
_COUNT_WORDS = "nhat|mot|hai|ba|sau|chin"  # "năm" reads as a year first; "tư" is a filler
_LEAP = f" ?nhuan{_W}"


def _year_suffix(name: str) -> str:
    """ "/2024", " năm 2024", " 2024", or " - 2024" at the very end (optional)."""
    return rf"(?: ?(?:/ ?|nam{_W} ?|- ?(?=[0-9]{{4}}\Z))?(?P<{name}>{_YEAR}))?"


def _month_part(p: str) -> str:
    """A month (a number, "giêng", "chạp"), "nhuận", then a year suffix."""
    return f"(?P<{p}m>{_MONTH_VALUE})(?P<{p}l>{_LEAP})?{_year_suffix(p + 'y')}"


def _day_rest(p: str) -> str:
    """After a day number: "/12[ nhuận][/2024]", " tháng 12[ năm 2024]", or nothing."""
    return (
        rf"(?: ?/ ?(?P<{p}m>{_NUM})(?P<{p}l>{_LEAP})?{_year_suffix(p + 'y')}"
        rf"| ?thang{_W} ?(?P<{p}n>{_MONTH_VALUE})(?P<{p}k>{_LEAP})?{_year_suffix(p + 'z')})?"
    )


# "tuần đầu [tiên]", "tuần cuối [cùng]", "tuần thứ 2", "tuần 2" ("của" is a filler)
_WEEK = (
    rf"tuan{_W} ?(?:(?P<wka>dau{_W})(?: ?tien{_W})?|(?P<wkb>cuoi{_W})(?: ?cung{_W})?"
    rf"|thu{_W} ?(?P<wkn>[0-9][0-9]?(?![0-9])|(?:{_COUNT_WORDS}|nam){_W})|(?P<wkm>{_NUM}))"
)
_DIGITS = "0123456789"
# (the characters a shape can start with, the shape)
_PERIODS = [
    # quarters: "quý II/2024", "quý 2 năm 2024", "Q2/2024", "QII/2024"
    ("q", rf"q(?:uy)?{_W} ?(?P<quv>{_QUARTER_VALUE}){_year_suffix('quy')}(?P<qu>)"),
    ("q", rf"q(?:uy)?{_W}(?P<e_qu>)"),
    ("q", rf"q(?P<qrv>{_ROMAN_TOKEN}){_year_suffix('qry')}(?P<qr>)"),
    # months: "tháng 10/2024", "tháng 3 năm 2024", "tháng Giêng"
    ("t", rf"thang{_W} ?{_month_part('mt')}(?P<mt>)"),
    ("t", rf"thang{_W}(?P<e_mt>)"),
    # days: "ngày 02 tháng 12 năm 2024", "ngày 10", "ngày 2/9/2024"
    ("n", rf"ngay{_W} ?(?P<dgd>{_NUM}){_day_rest('dg')}(?P<dg>)"),
    # years: "năm 2024", and "năm" alone (the plan's year: "trong năm")
    ("n", rf"nam{_W}(?: ?(?P<yny>{_YEAR}))?(?P<yn>)"),
    # a number first: "2024" (four digits: only ever a year), "6 tháng đầu năm 2024",
    # "9 tháng năm 2024", "10/2024", "2/12"
    (_DIGITS, rf"(?P<yr>{_YEAR})"),
    (_DIGITS, (rf"[0-9][0-9]?(?![0-9]) ?thang{_W} ?(?P<mow>dau|cuoi){_W} ?nam{_W}"
              rf"{_year_suffix('moy')}(?P<mo>)")),
    (_DIGITS, rf"[0-9][0-9]?(?![0-9]) ?thang{_W} ?nam{_W} ?(?P<mony>{_YEAR})(?P<mon>)"),
    (_DIGITS, rf"(?P<mnm>{_NUM}) ?/ ?(?P<mny>{_YEAR})(?P<mn>)"),
    (_DIGITS, rf"(?P<dnd>{_NUM})(?= ?/ ?[0-9][0-9]?(?![0-9])){_day_rest('dn')}(?P<dn>)"),
    # thirds: "đầu/giữa/cuối tháng 5", "cuối quý II", "cuối năm 2024", "thượng tuần tháng 3"
    ("dgc", (rf"(?P<tw>dau|giua|cuoi){_W} ?(?:thang{_W} ?{_month_part('thm')}(?P<thm>)"
            rf"|thang{_W}(?P<e_thm>)"
            rf"|quy{_W} ?(?P<thqq>{_QUARTER_VALUE}){_year_suffix('thqy')}(?P<thq>)"
            rf"|quy{_W}(?P<e_thq>)"
            rf"|nam{_W}{_year_suffix('thny')}(?P<thn>)"
            rf"|(?P<thyy>{_YEAR})(?P<thy>))")),
    ("th", (rf"(?P<tt>thuong|trung|ha){_W} ?tuan{_W} ?thang{_W}"
           rf" ?(?:{_month_part('ttm')}(?P<ttm>)|(?P<e_ttm>))")),
    # weeks of a month: "tuần đầu tháng 5", "tuần cuối (của) tháng 6/2024"
    ("t", (rf"{_WEEK}(?: ?thang{_W} ?{_month_part('wkm')}(?P<wk>)"
          rf"| ?thang{_W}(?P<e_wkm>)|(?P<e_wk>))")),
    # Tết: "Tết Nguyên đán 2025" (timing.py wrote "tet"), "dịp Tết 2025" ("diptet")
    ("t", rf"tet{_W}{_year_suffix('tety')}(?P<tet>)"),
    ("d", rf"diptet{_W}{_year_suffix('dtety')}(?P<dtet>)"),
    # halves and counted months: "nửa đầu năm", "sáu tháng cuối năm"
    ("n", rf"nua{_W} ?(?P<nuaw>dau|cuoi|sau){_W} ?nam{_W}{_year_suffix('nuay')}(?P<nua>)"),
    ("nmhbsc", (rf"(?P<mwc>{_COUNT_WORDS}){_W} ?thang{_W} ?(?P<mww>dau|cuoi){_W} ?nam{_W}"
               rf"{_year_suffix('mwy')}(?P<mw>)")),
    ("nmhbsc", rf"(?P<mwnc>{_COUNT_WORDS}){_W} ?thang{_W} ?nam{_W} ?(?P<mwny>{_YEAR})(?P<mwn>)"),
]  # fmt: skip
_ERRORS = {
    "e_thm": "thiếu tháng: ghi rõ tháng nào, ví dụ “cuối tháng 6/2024”",
    "e_ttm": "thiếu tháng: ghi rõ tháng nào, ví dụ “cuối tháng 6/2024”",
    "e_thq": "thiếu quý: ghi rõ quý nào, ví dụ “đầu quý III/2024”",
    "e_wkm": "thiếu tháng: ghi rõ tháng nào, ví dụ “cuối tháng 6/2024”",
    "e_wk": "thiếu tháng: ghi rõ tuần của tháng nào, ví dụ “tuần đầu tháng 5/2024”",
    "e_qu": "thiếu quý: ghi rõ quý nào, ví dụ “Quý II/2024”",
    "e_mt": "thiếu tháng: ghi rõ tháng nào, ví dụ “Tháng 10/2024”",
}
# A bare number after a connector continues the previous period's unit ("Quý I, II",
# "tháng 3-5", "ngày 10-15/4"), unless a "/month" follows it (then it is a new day).
_NOT_DAY = r"(?! ?/ ?[0-9][0-9]?(?![0-9]))"
_CONTINUED = {
    "quarter": ("ivx" + _DIGITS, rf"(?P<cqv>{_QUARTER_VALUE}){_NOT_DAY}{_year_suffix('cqy')}(?P<cq>)"),
    "month": ("gc" + _DIGITS, rf"(?={_MONTH_VALUE}{_NOT_DAY}){_month_part('cm')}(?P<cm>)"),
    "day": (_DIGITS, rf"(?P<cdd>{_NUM}){_NOT_DAY}{_day_rest('cd')}(?P<cd>)"),
}  # fmt: skip


def _by_first_character(shapes: list[tuple[str, str]]) -> dict[str, re.Pattern[str]]:
    """One pattern per first character, of the shapes that can start with it, in order."""
    firsts = sorted({c for chars, _ in shapes for c in chars})
    return {
        c: re.compile("|".join(shape for chars, shape in shapes if c in chars), re.ASCII)
        for c in firsts
    }


_PERIOD = _by_first_character(_PERIODS)
# After a quarter, a month or a day: the same with the continuation tried first.
_AFTER = {unit: _by_first_character([shape, *_PERIODS]) for unit, shape in _CONTINUED.items()}
_LINK = re.compile(rf" ?(-|,|&|\+|;|den{_W}|toi{_W}|va{_W}|hoac{_W}) ?", re.ASCII)


def _year_of(text: str | None) -> int | None:
    return int(text) if text else None


def _quarter_value(tok: str) -> int:
    return _ROMAN[tok] if tok in _ROMAN else int(tok)


def _count(tok: str) -> int:
    return int(tok) if tok.isdigit() else _WORD_NUMBERS[tok]


def _leading_count(text: str) -> int:
    """The one- or two-digit number a match starts with."""
    return int(text[:2]) if text[1:2].isdigit() else int(text[0])


# The group names of `_month_part(p)` and `_day_rest(p)`, fetched in one `group()` call.
_MONTH_GROUPS = {p: (p + "m", p + "l", p + "y") for p in ("mt", "cm", "thm", "ttm", "wkm")}
_DAY_GROUPS = {p: tuple(p + g for g in "dmlynkz") for p in ("dg", "dn", "cd")}


def _month_item(unit: str, m: re.Match[str], p: str, value: int, of: str) -> _Item:
    """A month, or a third or a week of one: the groups of `_month_part(p)`."""
    written, leap, year = m.group(*_MONTH_GROUPS[p])
    if written in _LUNAR_MONTHS:
        month, lunar = _LUNAR_MONTHS[written], True
    else:
        month, lunar = int(written), False
    year = int(year) if year else None
    return _item((unit, year, month, None, value, 0, of, lunar, leap is not None, ""))


def _day_item(m: re.Match[str], p: str) -> _Item:
    """A day and what `_day_rest(p)` found after it."""
    day, slash_month, slash_leap, slash_year, written, leap, year = m.group(*_DAY_GROUPS[p])
    if slash_month is not None:
        year = int(slash_year) if slash_year else None
        return _item(("day", year, int(slash_month), int(day), 0, 0, "", False, slash_leap is not None, ""))  # fmt: skip
    if written is None:
        return _item(("day", None, None, int(day), 0, 0, "", False, False, ""))
    if written in _LUNAR_MONTHS:
        month, lunar = _LUNAR_MONTHS[written], True
    else:
        month, lunar = int(written), False
    year = int(year) if year else None
    return _item(("day", year, month, int(day), 0, 0, "", lunar, leap is not None, ""))


def _quarter_item(written: str, year: str | None) -> _Item:
    value = _ROMAN[written] if written in _ROMAN else int(written)
    return _item(("quarter", int(year) if year else None, None, None, value, 0, "", False, False, written))  # fmt: skip


def _read(m: re.Match[str], prev: _Item | None) -> _Item:
    """The period a match of a shape stands for; SpanError for an error shape."""
    name = m.lastgroup
    g = m.group
    if name == "qu":
        return _quarter_item(*g("quv", "quy"))
    if name == "mt":
        return _month_item("month", m, "mt", 0, "")
    if name == "dg" or name == "dn" or name == "cd":
        return _day_item(m, name)
    if name == "yr":
        return _item(("year", int(g("yr")), None, None, 0, 0, "", False, False, ""))
    if name == "yn":
        return _item(("year", _year_of(g("yny")), None, None, 0, 0, "", False, False, ""))
    if name == "cq":
        return _quarter_item(*g("cqv", "cqy"))
    if name == "cm":
        item = _month_item("month", m, "cm", 0, "")
        assert prev is not None  # continuations follow a period
        return item._replace(lunar=True) if prev.lunar and not item.lunar else item
    if name == "mn":
        month, year = g("mnm", "mny")
        return _item(("month", int(year), int(month), None, 0, 0, "", False, False, ""))
    if name == "thm":
        return _month_item("third", m, "thm", _THIRD_WORDS[g("tw")], "month")
    if name == "ttm":
        return _month_item("third", m, "ttm", _THIRD_WORDS[g("tt")], "month")
    if name == "thq":
        word, written, year = g("tw", "thqq", "thqy")
        value, quarter = _THIRD_WORDS[word], _quarter_value(written)
        return _item(("third", _year_of(year), None, None, value, quarter, "quarter", False, False, written))  # fmt: skip
    if name == "thn" or name == "thy":
        word, year = g("tw", name + "y")
        return _item(("third", _year_of(year), None, None, _THIRD_WORDS[word], 0, "year", False, False, ""))  # fmt: skip
    if name == "wk":
        first, last, nth, number = g("wka", "wkb", "wkn", "wkm")
        week = 1 if first else -1 if last else _count(nth or number)
        return _month_item("week", m, "wkm", week, "month")
    if name == "mo" or name == "mw":
        unit = "first" if g(name + "w") == "dau" else "last"
        count = _leading_count(g()) if name == "mo" else _WORD_NUMBERS[g("mwc")]
        return _item((unit, _year_of(g(name + "y")), None, None, count, 0, "", False, False, ""))  # fmt: skip
    if name == "mon" or name == "mwn":  # "6 tháng năm 2024": the reporting usage, from January
        count = _leading_count(g()) if name == "mon" else _WORD_NUMBERS[g("mwnc")]
        return _item(("first", int(g(name + "y")), None, None, count, 0, "", False, False, ""))
    if name == "nua":
        word, year = g("nuaw", "nuay")
        unit = "first" if word == "dau" else "last"
        return _item((unit, _year_of(year), None, None, 6, 0, "", False, False, ""))
    if name == "tet" or name == "dtet":
        unit = "tet" if name == "tet" else "tet_season"
        return _item((unit, _year_of(g(name + "y")), None, None, 0, 0, "", True, False, ""))
    if name == "qr":
        return _quarter_item(*g("qrv", "qry"))
    raise SpanError(_ERRORS[name])  # type: ignore[index]


# --- parsing and resolution --------------------------------------------------------------


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
    last = m.lastindex  # the last group of the alternative that matched
    if last == 4:
        quarter, year = m.group(3, 4)
        return quarter_span(_ROMAN[quarter] if quarter in _ROMAN else int(quarter), int(year))
    if last == 6:
        month, year = m.group(5, 6)
        return month_span(int(month), int(year))
    if last == 9:
        day, month, year = m.group(7, 8, 9)
        return day_span(int(day), int(month), int(year))
    return year_span(int(m.group(last)))  # type: ignore[arg-type]


def parse_core(text: str, *, lunar: bool, year: int | None, common: bool = True) -> Core | None:
    """Date the core expression; None if it is empty or not a timing; SpanError if wrong.

    `common=False` skips `parse_common`, for a caller that has just tried it on `text`.
    """
    if common and not lunar:
        found = parse_common(text)
        if found is not None:
            return _core((found[0], found[1], None, False))
    text = _rewrite(text)
    try:  # the text itself, when every token in it is part of a period or a connector
        read = _periods(text)
        if read is None:  # "từ …", "giai đoạn …", "trong …": the same without those words
            lead = _LEADING_FILLERS.match(text)
            if lead is not None:
                read = _periods(text[lead.end() :])
    except SpanError:
        read = None  # an error shape, but perhaps only because of a filler: ask the tokens
    if read is None:
        read = _periods(" ".join(_tokens(text)))
        if read is None:
            return None
    items, links = read
    open_start = text.startswith("tu ")
    item = items[0]
    if not links and item.year is not None and (item.month is not None or item.unit != "day"):
        span = _span(item, lunar, check_year(item.year))  # one period, nothing to share
        return _core((span[0], span[1], None, open_start))
    _resolve(items, year)
    spans = [_span(item, lunar, item.year) for item in items]  # type: ignore[arg-type]
    return _combine(spans, links, open_start)


def _periods(text: str) -> tuple[list[_Item], list[str]] | None:
    """The periods and the connectors between them, if they make up the whole text."""
    end = len(text)
    if not end:
        return None
    items: list[_Item] = []
    links: list[str] = []
    pos, patterns = 0, _PERIOD
    while True:
        pattern = patterns.get(text[pos])
        m = pattern.match(text, pos) if pattern is not None else None
        if m is None:
            return None
        item = _read(m, items[-1] if items else None)
        items.append(item)
        pos = m.end()
        if pos == end:
            return items, links
        link = _LINK.match(text, pos)
        if link is None:
            return None
        links.append(link.group(1))
        pos = link.end()
        if pos == end:
            return None
        patterns = _AFTER.get(item.unit, _PERIOD)


def _has_month(item: _Item) -> bool:
    return item.unit == "day" and item.month is not None


def _has_year(item: _Item) -> bool:
    return item.year is not None


def _resolve(items: list[_Item], default_year: int | None) -> None:
    """Share missing months (days only) and years: right first, then left, then the plan's."""
    for k, item in enumerate(items):
        if item.unit == "day" and item.month is None:
            donor = _nearest(items, k, _has_month)
            if donor is None:
                raise SpanError(f"thiếu tháng: ngày {item.day} của tháng nào?")
            year = donor.year if item.year is None else item.year
            lunar = item.lunar or donor.lunar
            items[k] = _item(("day", year, donor.month, item.day, 0, 0, "", lunar, donor.leap, ""))
    for k, item in enumerate(items):
        if item.year is None:
            donor = _nearest(items, k, _has_year)
            year = donor.year if donor is not None else default_year
            if year is None:
                raise SpanError(NO_YEAR)
            items[k] = item = _item((item[0], year, *item[2:]))
        check_year(item.year)  # type: ignore[arg-type]


def _nearest(items: list[_Item], k: int, ok: Callable[[_Item], bool]) -> _Item | None:
    for other in items[k + 1 :]:
        if ok(other):
            return other
    for other in reversed(items[:k]):
        if ok(other):
            return other
    return None


def _span(item: _Item, lunar_all: bool, year: int) -> Span:
    """The dates of a resolved period (`year` is its year, checked)."""
    unit = item.unit
    lunar = lunar_all or item.lunar
    if not lunar:
        if unit == "quarter":
            return quarter_span(item.value, year, written=item.written)
        if unit == "month":
            return month_span(item.month, year)
        if unit == "day":
            return day_span(item.day, item.month, year)
        if unit == "year":
            return year_span(year)
    if unit == "day":
        return lunar_day(item.day, item.month, year, leap=item.leap)
    if unit == "tet":
        return tet(year)
    if unit == "tet_season":
        return tet_season(year)
    if unit in ("month", "week") or (unit == "third" and item.of == "month"):
        assert item.month is not None
        if unit == "week":
            return _week(item.value, item.month, year, lunar, item.leap)
        base = (
            lunar_month(item.month, year, leap=item.leap) if lunar else month_span(item.month, year)
        )
        if unit == "month":
            return base
        return third_of(base, item.value, by_month=False)
    if unit == "year":
        return lunar_year(year)
    if lunar:
        raise SpanError(SOLAR_ONLY)
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


@lru_cache(maxsize=4096)  # pure: a week of a month (its name is only for the error)
def _week(week: int, month: int, year: int, lunar: bool, leap: bool) -> Span:
    base = lunar_month(month, year, leap=leap) if lunar else month_span(month, year)
    return week_of(base, week, label=f"{month_name(month, lunar=lunar)}/{year}")


def _dmy(d: date) -> str:
    return f"{d.day}/{d.month}/{d.year}"


def _combine(spans: list[Span], links: list[str], open_start: bool) -> Core:
    """Ranges join their first start to their last end; lists take the covering span."""
    if not links:
        return _core((spans[0].start, spans[0].end, None, open_start))
    if _LIST.isdisjoint(links):  # one range: "từ X đến Y" has an end, so it is not open
        run = _run(spans[0], spans[-1])
        return _core((run[0], run[1], None, False))
    runs: list[Span] = []
    run_start = spans[0]
    for k, link in enumerate(links):
        if link in _LIST:
            runs.append(_run(run_start, spans[k]))
            run_start = spans[k + 1]
    runs.append(_run(run_start, spans[-1]))
    if len(runs) == 1:  # one range: "từ X đến Y" has an end, so it is not open
        return _core((runs[0].start, runs[0].end, None, False))
    start, covered, note = cover(runs, "hoac" in links)
    return _core((start, covered, note, open_start and _RANGE.isdisjoint(links)))


def cover(spans: Sequence[tuple[date, date]], choice: bool) -> tuple[date, date, str | None]:
    """A list of periods (two or more): the span covering them all, noted when the list is a
    choice ("hoặc") or leaves gaps. timing_fast's list shapes answer with it too."""
    ordered = sorted(spans)
    start, covered, gaps = ordered[0][0], ordered[0][1], False
    for first, last in ordered[1:]:  # a gap: a period starting after everything before it ended
        gaps = gaps or (first - covered).days > 1
        covered = max(covered, last)
    if choice:
        return start, covered, f"có lựa chọn (“hoặc”); lấy khoảng bao trùm {_dmy(start)}–{_dmy(covered)}"
    if gaps:
        return start, covered, f"các khoảng không liền nhau; lấy khoảng bao trùm {_dmy(start)}–{_dmy(covered)}"
    return start, covered, None


def backwards(start: date, end: date) -> str:
    """Why a range that ends before it starts is not dated."""
    return f"khoảng thời gian ngược: bắt đầu {_dmy(start)} sau khi kết thúc {_dmy(end)}"


def _run(first: Span, last: Span) -> Span:
    if first.start > last.end:
        raise SpanError(backwards(first.start, last.end))
    return _span_of((first.start, max(first.end, last.end)))
