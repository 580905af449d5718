"""Whole timing cells in one match: the commonest shapes, read straight off the text.

Most cells are one period or two joined by a connector (or a list of quarters or months
with one year), perhaps after a deadline word, a filler or a lead word, or "thường xuyên",
"hằng …": "Quý II/2024", "tháng 3, 4/2024", "quý II, III, IV/2024",
"từ ngày 10/4 đến ngày 15/4/2024", "trước ngày 15/6/2024", "Dự kiến Quý II/2024",
"Thường xuyên trong năm 2024", "ngày 25 hằng tháng", "6 tháng, hằng năm"; or such a period
with one condition ("Quý IV/2025 (nếu có)", "Sau khi …, trong Quý III/2024"). Compiled
patterns (optional groups written as branches: `_optional_as_branch`), one per first
character and compiled on first use (`_Lazy`), hold every shape as a named alternative;
they are matched against the text as given (case and diacritics are folded by the
pattern itself: each letter of a keyword is the class of every character whose
`text.fold_ascii` is that letter), and `m.lastgroup` picks a small builder that
computes the answer with the calendar helpers of timing_spans. A period that cannot be
("Quý V/2024", "cuối tháng") is answered with the reason the full path gives, when that
reason is surely the same.
Public: `read(text, year, deadline)` → (kind, start, end, rule, reason, bound) with `kind`
a TimingKind value, or None when the cell is not one of these shapes (the full path then
answers); `read_loose(cleaned, …)`: the same for a wrapped cell or one with punctuation at
its ends; `ASCII_TABLE`: the per-letter fold used by timing.py's key; `MAX_LENGTH`.

Facts relied on: text this pattern matches is already what `text.clean` returns (only
NFC letters, ASCII digits and punctuation, single inner spaces, one line; tested), and reading it
gives exactly what timing.py's full path gives (hypothesis tests compare the two). Not
here: anything else (timing.py, timing_grammar.py), the calendar conventions (timing_spans).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from notifier.text import fold_ascii
from notifier.timing_grammar import _ERRORS, NO_YEAR, SOLAR_ONLY, _week, backwards, cover
from notifier.timing_rules import recurrence_rule
from notifier.timing_spans import (
    MAX_YEAR,
    MIN_YEAR,
    Span,
    SpanError,
    check_year,
    day_span,
    first_months,
    last_months,
    lunar_day,
    lunar_month,
    lunar_year,
    month_span,
    quarter_span,
    tet,
    tet_season,
    third_of,
    year_span,
)

if TYPE_CHECKING:
    from _typeshed import MaybeNone

    # A shape's groups as `re.Match.groups` types them: a group that did not take part is
    # None, typed `str | MaybeNone` (Any) by typeshed so that it needs no check once the
    # shape says it is set.
    _Groups = tuple[str | MaybeNone, ...]

__all__ = ["ASCII_TABLE", "MAX_LENGTH", "read", "read_loose"]

# What `read` answers: kind (a TimingKind value), start, end, rule, reason, bound.
_Reading = tuple[str, date | None, date | None, str | None, str | None, str | None]


def _ascii_table() -> dict[int, str]:
    """Every Latin letter whose `fold_ascii` is one ASCII character, for `str.translate`."""
    table: dict[int, str] = {ord("\n"): " "}
    for block in (range(0x41, 0x5B), range(0xC0, 0x250), range(0x1E00, 0x1F00)):
        for cp in block:
            folded = fold_ascii(chr(cp))
            if len(folded) == 1 and folded.isascii():
                table[cp] = folded
    return table


ASCII_TABLE = _ascii_table()


def _letter_classes() -> dict[str, str]:
    """a → "[aAàá…]": the NFC letters that fold to each ASCII letter (never a mark)."""
    members: dict[str, list[str]] = {c: [c] for c in "abcdefghijklmnopqrstuvwxyz"}
    for cp, folded in ASCII_TABLE.items():
        char = chr(cp)
        if (
            folded in members
            and char != folded
            and unicodedata.category(char)[0] == "L"
            and unicodedata.is_normalized("NFC", char)
        ):
            members[folded].append(char)
    return {c: "[" + "".join(chars) + "]" for c, chars in members.items()}


_CLASS = _letter_classes()


def _w(words: str) -> str:
    """Keywords as a pattern: each letter its class, a space a space, `|` and `()` kept."""
    pattern = "".join(_CLASS.get(c, c) for c in words)
    return f"(?:{pattern})" if "|" in words else pattern


def _optional_as_branch(pattern: str) -> str:
    """`(?:X)?` → `(?:X|)` and `(?P<n>X)?` → `(?:(?P<n>X)|)`: the same matches, in the same
    order (X first, then nothing). Why: CPython 3.11's re allocates and frees a repeat
    context each time it enters an optional group that is not one character wide (3,1 k
    of 5,3 k instructions of a whole-cell match of "Tháng 10/2024"); a branch costs none."""
    out: list[str] = []
    opened: list[int] = []  # where each group still open starts in `out`
    i = 0
    while i < len(pattern):
        c = pattern[i]
        step = 1
        if c == "\\":
            step = 2
        elif c == "[":  # a class (ours have no escapes): no group in it; "]" first is a member
            first = i + 2 if pattern[i + 1] == "^" else i + 1
            step = pattern.index("]", first + 1) - i + 1
        elif c == "(":
            opened.append(len(out))
        elif c == ")":
            start = opened.pop()
            if pattern[i + 1 : i + 2] == "?" and pattern[i + 2 : i + 3] not in ("?", "+"):
                group = "".join(out[start:]) + ")"
                del out[start:]
                out.append(group[:-1] + "|)" if group.startswith("(?:") else f"(?:{group}|)")
                i += 2  # the group and its "?"
                continue
        out.append(pattern[i : i + step])
        i += step
    return "".join(out)


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(_optional_as_branch(pattern))


# --- the shapes ----------------------------------------------------------------------------

_Y = "[0-9]{4}"
_Q = "(?:[iI][vV]|[iI]{1,3}|[1-4])"
_M = "(?:0?[1-9]|1[0-2])"
_D = "(?:0?[1-9]|[12][0-9]|3[01])"
_QUARTERS = {q: v for v, q in enumerate(["1", "2", "3", "4"], 1)} | {
    roman: v
    for v, r in enumerate(["i", "ii", "iii", "iv"], 1)
    for roman in {r, r.upper(), r.capitalize(), r[:-1] + r[-1].upper(), r.swapcase()}
}
_QUARTERS |= {"iV": 4, "Iv": 4, "iI": 2, "iiI": 3, "iIi": 3, "iII": 3, "IiI": 3, "IIi": 3, "Iii": 3}
# A year suffix: "/2024", " / 2024", " năm 2024", " 2024", and " - 2024" when it ends the cell.
_YS_FIRST = f"(?: ?/ ?| {_w('nam')} | | - (?=[0-9]{{4}}$))"
_YS_LAST = f"(?: ?/ ?| - | {_w('nam')} | )"
_LINKS = f" - |-| {_w('den|toi|va|hoac')} |, ?"
_QUY = f"(?:{_w('quy')} |{_w('q')})"
_LIST_LINK = f"(?:, ?| {_w('va|hoac')} )"
_THANG = _w("thang")


def _day(p: str, ys: str, first: bool) -> str:
    """ "ngày 2/12/2024", "mùng 2/9", "02/12", "ngày 02 tháng 12 năm 2024": groups p+d/m/y/n/z.

    A first day needs "ngày"/"mùng" or a "/month" after it; a second may be a bare number.
    """
    head = f"(?:{_w('ngay')} (?:{_w('mung|mong')} )?|{_w('mung|mong')} )"
    head = f"(?:{head}|(?=[0-9][0-9]?/))" if first else f"{head}?"
    slash = f"/(?P<{p}m>{_M})(?:/(?P<{p}y>{_Y}))?"
    worded = f" {_THANG} (?P<{p}n>{_M})(?:{ys}(?P<{p}z>{_Y}))?"
    return f"{head}(?P<{p}d>{_D})(?:{slash}|{worded})?"


_THIRD = _w("dau|giua|cuoi")
_WEEK = (
    f"{_w('tuan')} (?:(?P<wka>{_w('dau')})(?: {_w('tien')})?|(?P<wkb>{_w('cuoi')})(?: {_w('cung')})?"
    f"|{_w('thu')} (?P<wkn>[1-5]|{_w('tu|nhat|mot|hai|ba|nam')}))(?: {_w('cua')})?"
)


def _month_tail(p: str) -> str:
    return f"{_THANG} (?P<{p}m>{_M})(?:{_YS_LAST}(?P<{p}y>{_Y}))?"


_DIGITS = "0123456789"

# (name, the characters it can start with, pattern). One period or two joined by a link;
# the last two only without a prefix.
_SHAPES = [
    ("q", "q", (f"{_QUY}(?P<q1>{_Q})(?:{_YS_FIRST}(?P<qy1>{_Y}))?"
                f"(?:(?P<ql>{_LINKS}){_QUY}?(?P<q2>{_Q})(?:{_YS_LAST}(?P<qy2>{_Y}))?)?")),
    ("m", "t", (f"{_THANG} (?P<m1>{_M})(?:{_YS_FIRST}(?P<my1>{_Y}))?"
                f"(?:(?P<ml>{_LINKS})(?:{_THANG} )?(?P<m2>{_M})(?:{_YS_LAST}(?P<my2>{_Y}))?)?")),
    ("y", "n" + _DIGITS, (f"(?:{_w('nam')} )?(?P<y1>{_Y})"
                          f"(?:(?P<yl>{_LINKS})(?:{_w('nam')} )?(?P<y2>{_Y}))?|{_w('nam')}")),
    ("ms", _DIGITS, f"(?P<msm>{_M})/(?P<msy>{_Y})"),
    ("dmy", _DIGITS, f"(?P<cd>{_D})(?P<cs> ?[-.] ?)(?P<cm>{_M})(?P=cs)(?P<cy>{_Y})"),
    ("d", "nm" + _DIGITS, f"{_day('a', _YS_FIRST, True)}(?:(?P<dl>{_LINKS}){_day('b', _YS_LAST, False)})?"),
    ("first", _DIGITS, f"(?P<hn>[0-9]{{1,2}}) {_THANG} (?P<hw>{_w('dau|cuoi')}) {_w('nam')}(?: (?P<hy>{_Y}))?"),
    ("half", "n", f"{_w('nua')} (?P<nw>{_w('dau|cuoi|sau')}) {_w('nam')}(?: (?P<ny>{_Y}))?"),
    ("tm", "dgcth", f"(?:(?P<tw>{_THIRD})|(?P<tt>{_w('thuong|trung|ha')}) {_w('tuan')}) {_month_tail('t')}"),
    ("tq", "dgc", f"(?P<uw>{_THIRD}) {_w('quy')} (?P<uq>{_Q})(?:{_YS_LAST}(?P<uy>{_Y}))?"),
    ("ty", "dgc", f"(?P<vw>{_THIRD}) {_w('nam')}(?: (?P<vy>{_Y}))?"),
    ("wk", "t", f"{_WEEK} {_month_tail('k')}"),
    # lunar: "mùng 10 tháng 3 âm lịch", "tháng Chạp âm lịch năm 2023", "năm 2024 âm lịch"
    ("lday", "nm", (f"(?:{_w('ngay')} (?:{_w('mung|mong')} )?|{_w('mung|mong')} )(?P<ld>{_D}) {_THANG} "
                    f"(?P<lm>{_M}|{_w('gieng|chap')})(?P<ll> {_w('nhuan')})?(?:{_YS_FIRST}(?P<ly>{_Y}))?"
                    f" {_w('am lich')}(?:{_YS_LAST}(?P<lz>{_Y}))?")),
    ("lmonth", "t", (f"{_THANG} (?P<nm>{_M}|{_w('gieng|chap')})(?P<nl> {_w('nhuan')})?"
                     f"(?:{_YS_FIRST}(?P<nly>{_Y}))? {_w('am lich')}(?:{_YS_LAST}(?P<nlz>{_Y}))?")),
    ("lyear", "n", f"{_w('nam')} (?P<lyy>{_Y}) {_w('am lich')}"),
    # Tết and the named lunar days: "Tết Nguyên đán 2025", "dịp Tết", "mùng 3 Tết", "rằm tháng Giêng"
    ("tet", "t", f"{_w('tet')}(?: {_w('nguyen dan|am lich|co truyen')})?(?:{_YS_LAST}(?P<ety>{_Y}))?"),
    ("tetdl", "t", f"{_w('tet duong lich')}(?:{_YS_LAST}(?P<edy>{_Y}))?"),
    ("diptet", "dn", (f"{_w('dip|nhan dip')} {_w('tet')}(?: {_w('nguyen dan|am lich|co truyen')})?"
                      f"(?:{_YS_LAST}(?P<dty>{_Y}))?")),
    ("mungtet", "nm", (f"(?:{_w('ngay')} )?{_w('mung|mong')} (?P<mtd>[0-9]{{1,2}}) {_w('tet')}"
                       f"(?:{_YS_LAST}(?P<mty>{_Y}))?")),
    ("ram", "r", f"{_w('ram')} {_THANG} (?P<rm>{_M}|{_w('gieng|chap')})(?:{_YS_LAST}(?P<ry>{_Y}))?"),
    ("named", "tng", (f"(?P<nd>(?:{_w('tet')} )?{_w('trung thu|nguyen tieu')}|{_w('tet doan ngo')}"
                      f"|(?:{_w('ngay')} )?{_w('gio to')}(?: {_w('hung vuong')})?)(?:{_YS_LAST}(?P<ndy>{_Y}))?")),
    # lists of three or more, one year after the last: "quý II, III, IV/2024", "tháng 1, 3 và 5/2024"
    ("qn", "q", f"{_QUY}(?P<qn>{_Q}(?:{_LIST_LINK}{_QUY}?{_Q}){{2,}})(?:{_YS_LAST}(?P<qny>{_Y}))?"),
    ("mn", "t", f"{_THANG} (?P<mn>{_M}(?:{_LIST_LINK}(?:{_THANG} )?{_M}){{2,}})(?:{_YS_LAST}(?P<mny>{_Y}))?"),
    ("cont", "nt", f"(?:{_w('nhiem vu')} )?{_w('thuong xuyen')}(?: (?P<xt>{_w('trong nam')})(?: (?P<xy>{_Y}))?)?"),
    # "6 tháng, hằng năm": a report period listed before the recurrence (timing.py's _RECUR_MATE)
    ("rec", "dhtmnc6s3b9", (f"(?:(?P<rp>6|{_w('sau')}|3|{_w('ba')}|9|{_w('chin')}) {_THANG}, )?"
                       f"(?:(?P<ra>{_w('ngay')} {_D}(?:/{_M})?|{_w('thu')} {_w('hai|ba|tu|nam|sau|bay')}"
                       f"|{_w('chu nhat')}) )?(?:{_w('dinh ky')} )?{_w('hang|moi|theo')} "
                       f"(?P<rf>{_w('nam|quy|thang|tuan')})(?: (?:{_w('trong|giai doan')} )?(?:{_w('nam')} )?"
                       f"(?P<rty>{_Y})(?:(?: - |-| {_w('den|toi')} )(?:{_w('nam')} )?(?P<rtz>{_Y}))?)?")),
]  # fmt: skip
# Periods that cannot be, as the grammar reads them (timing_spans' or its own reason):
# "Quý V/2024", "tháng 13/2024", "cuối tháng" (which month?), "quý II âm lịch".
_SHAPES += [
    ("qx", "q", f"{_QUY}(?P<xq>[vV]|0|[5-9]|[1-9][0-9])(?:{_YS_FIRST}(?P<xqy>{_Y}))?"),
    ("mx", "t", f"{_THANG} (?P<xm>00?|1[3-9]|[2-9][0-9])(?:{_YS_FIRST}(?P<xmy>{_Y}))?"),
    ("tmx", "dgcth", f"(?:{_THIRD}|{_w('thuong|trung|ha')} {_w('tuan')}) {_THANG}"),
    ("tqx", "dgc", f"{_THIRD} {_w('quy')}"),
    ("qlunar", "q", f"{_QUY}{_Q}(?:{_YS_FIRST}(?P<lqy>{_Y}))? {_w('am lich')}"),
]  # fmt: skip
# A whole cell that only names a condition: "khi có yêu cầu", "theo chỉ đạo của UBND tỉnh"
# (timing.py's _COND and _ON_DEMAND), checked word by word in `_condition`.
_LETTER = "[" + "".join(_CLASS[c][1:-1] for c in sorted(_CLASS)) + "]"
_SHAPES += [
    ("ondemand", "tcdpkc", (f"(?:{_w('theo|tuy|can cu|dot xuat|phat sinh|chua xac dinh|chua co|khong xac dinh')}"
                            f"|{_w('khi co yeu cau|khi can|khi phat sinh|khi co chi dao')})(?: {_LETTER}+)*")),
    ("cond", "sknp", f"{_w('sau khi|khi|neu|phu thuoc')}(?: {_LETTER}+)*"),
]  # fmt: skip
_PERIOD_SHAPES = [shape for shape in _SHAPES if shape[0] not in ("cont", "rec", "ondemand", "cond")]


def _members(c: str) -> str:
    return c if c in _DIGITS else _CLASS[c][1:-1]


class _Lazy:
    """A pattern compiled on its first use, when it takes its own place in `table` for each
    of `chars`: later cells find the compiled pattern and pay nothing. Why: compiling the
    ~100 large patterns at import took 0.8 s, before `notifier timing "Quý II/2024"` (or
    `check`, `import`) could answer; a cell needs one or two of them. Two threads may both
    compile one: the same pattern, stored twice."""

    __slots__ = ("chars", "source", "table")

    def __init__(self, source: str, table: dict[str, _Pattern], chars: str) -> None:
        self.source, self.table, self.chars = source, table, chars

    def compiled(self) -> re.Pattern[str]:
        pattern = _compile(self.source)
        _note_widths(pattern)
        for char in self.chars:
            self.table[char] = pattern
        return pattern

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled().match(text, pos)

    def fullmatch(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled().fullmatch(text, pos)


_Pattern = re.Pattern[str] | _Lazy
_Shapes = dict[str, _Pattern]
# How many groups each shape has: they come just before its closing "_" + name group.
# Filled from each pattern as it is compiled (a shape has the same groups in every one).
_WIDTH: dict[str, int] = {}


def _note_widths(pattern: re.Pattern[str]) -> None:
    previous = 0
    for index, name in sorted((i, name) for name, i in pattern.groupindex.items() if name[0] == "_"):
        _WIDTH[name] = index - previous - 1
        previous = index


def _lazy_table(sources: dict[str, str]) -> _Shapes:
    """First character of a cell (an ASCII letter or digit) → its pattern, for every
    character that letter stands for ("q" for "q", "Q")."""
    table: _Shapes = {}
    for c, source in sources.items():
        lazy = _Lazy(source, table, _members(c))
        table.update(dict.fromkeys(_members(c), lazy))
    return table


def _by_first(shapes: list[tuple[str, str, str]]) -> _Shapes:
    """Every character a cell can start with → the shapes that can start with it, in order."""
    firsts = sorted({c for _, chars, _ in shapes for c in chars})
    return _lazy_table({
        c: "|".join(f"(?:{p})(?P<_{name}>)" for name, f, p in shapes if c in f) for c in firsts
    })  # fmt: skip


_FIRST = _by_first(_SHAPES)
_AFTER_PREFIX = _by_first(_PERIOD_SHAPES)
_REC = _compile(next(f"(?:{p})(?P<_rec>)" for name, _, p in _SHAPES if name == "rec"))
_note_widths(_REC)
_PLAIN = _by_first([shape for shape in _SHAPES if shape[0] not in ("ondemand", "cond")])
# timing.py's: longer text is not a timing; what `_take_bound` strips off the ends.
MAX_LENGTH = 400
_EDGES = " .,;:-/*\"'“”()[]…!?+&"

# Deadline words and fillers first (timing.py's _BY, _BEFORE, _WITHIN, then the grammar's
# fillers), in their order, keeping per first character only what can start with it.
_BY_LEADS = ["hoan thanh", "xong", "gui", "nop", "bao cao"]
_BY_WORDS = ["cham nhat", "muon nhat", "han chot", "han cuoi", "thoi han(?: hoan thanh)?",
             "khong qua", "khong muon hon", "den het", "den", "toi", "han"]  # fmt: skip
_BEFORE_LEADS = ["hoan thanh", "xong", "ket thuc", "gui", "nop", "bao cao"]
_FILLS = ["trong", "vao", "ca", "giai doan"]


def _alt(words: list[str], c: str | None = None) -> str | None:
    chosen = [w for w in words if c is None or w[0] == c]
    return _w("|".join(chosen)) if chosen else None


def _prefix(c: str) -> str | None:
    by = [f"{_alt(_BY_LEADS, c)} {_alt(_BY_WORDS)}" if _alt(_BY_LEADS, c) else None,
          _alt(_BY_WORDS, c)]  # fmt: skip
    before = [f"{_alt(_BEFORE_LEADS, c)} {_w('truoc')}" if _alt(_BEFORE_LEADS, c) else None,
              _w("truoc") if c == "t" else None]  # fmt: skip
    within = _alt(["hoan thanh", "xong"], c)
    bounds = []
    if any(by):
        bounds.append(f"(?P<by>{'|'.join(p for p in by if p)})(?: {_w('la')})? ")
    if any(before):
        bounds.append(f"(?P<before>{'|'.join(p for p in before if p)}) ")
    if within:
        bounds.append(f"(?P<within>{within}) ")
    fill = f"(?:(?P<open>{_w('tu')} )|{_alt(_FILLS)} )?"
    alternatives = [f"(?:{'|'.join(bounds)}){fill}"] if bounds else []
    if c == "t":
        alternatives.append(f"(?P<open2>{_w('tu')} )")
    if _alt(_FILLS, c):
        alternatives.append(f"{_alt(_FILLS, c)} ")
    if not alternatives:
        return None
    pattern = "|".join(alternatives)
    for name in ("by", "before", "within", "open", "open2"):  # every group, for .group()
        if f"(?P<{name}>" not in pattern:
            pattern += f"|(?P<{name}>(?!))"
    return pattern


_PREFIX = _lazy_table({c: p for c in "abcdefghijklmnopqrstuvwxyz" if (p := _prefix(c))})



def _bound_of(prefix: re.Match[str]) -> str | None:
    by, before, within = prefix.group("by", "before", "within")
    return "by" if by else "before" if before else "within" if within else None


_ONE_DAY = timedelta(days=1)
# The numbers the shapes capture (days, months, years 1000–2999) → int. A dict lookup costs
# a third of int() on a fresh string, and a parse converts two or three of them.
_NUM = {f"{n}": n for n in range(3000)} | {f"{n:02d}": n for n in range(10)}
_RANGE_LINKS = frozenset({"-", "den", "toi"})
_FREQ = {"nam": "year", "quy": "quarter", "thang": "month", "tuan": "week"}
_PERIOD_FREQ = {"6": "half", "sau": "half", "3": "quarter", "ba": "quarter", "9": "nine", "chin": "nine"}
_THIRDS = {"dau": 0, "giua": 1, "cuoi": 2, "thuong": 0, "trung": 1, "ha": 2}
_WEEK_NUMBERS = {"tu": 4, "nhat": 1, "mot": 1, "hai": 2, "ba": 3, "nam": 5}
# Words of timing.py's recurrence patterns: a condition naming one is not read here.
_RECURRENCE_WORD = _compile(
    f"(?:^| ){_w('hang|moi|dinh|ky|lan|nam|quy|thang|tuan|ngay|ba|chin')}(?= |$)"
)
_OPEN_END = "không ghi thời điểm kết thúc"
MISSING_YEAR = "thiếu năm: không ghi năm và không biết năm của kế hoạch (ghi rõ, ví dụ “năm 2024”)"


def _fold(word: str) -> str:
    """`fold_ascii` of a word the shapes matched: each of its letters is in a class of
    `_CLASS`, so folding is per letter (`ASCII_TABLE`), without `fold_ascii`'s passes."""
    return word.lower() if word.isascii() else word.translate(ASCII_TABLE)


def read_loose(cleaned: str, year: int | None, deadline: bool) -> _Reading | None:
    """`read` of clean text that is a shape once its lines are joined or its ends stripped
    of punctuation: "Từ tháng 3 đến\ntháng 5/2025", "- Quý II/2024;". timing.py's key and
    `_take_bound` see it alike; only answers that do not quote the text (it is kept as is)."""
    if "(" in cleaned or ")" in cleaned:
        return None
    text = cleaned.replace("\n", " ").strip(_EDGES)
    if text == cleaned or not text:
        return None
    found = read(text, year, deadline)
    return found if found is not None and found[0] not in _ECHOES else None


def read(
    text: str, year: int | None, deadline: bool, pos: int = 0, shapes: _Shapes = _FIRST
) -> _Reading | None:
    """The answer for a cell of one of the shapes above, or None (see the module doc).

    `pos` and `shapes` (by first character) are for `_unmatched` and `_with_condition`.
    """
    first = text[pos : pos + 1]
    bound = opened = m = None
    pattern = _PREFIX.get(first)
    prefix = pattern.match(text, pos) if pattern is not None else None
    if prefix is not None:  # a deadline word or a filler first: "trước ngày 15/6/2024", "từ 01/6/2024"
        # Tried before the whole-cell shapes: no cell is read both ways (tested), and the
        # failed whole-cell match of such a cell cost more than a failed prefix of others.
        bound = prefix.lastgroup  # by | before | within, or what follows them
        if bound == "open" or bound == "open2":
            opened = True
            bound = None if bound == "open2" else _bound_of(prefix)
        after = prefix.end()
        pattern = _AFTER_PREFIX.get(text[after : after + 1])
        m = pattern.fullmatch(text, after) if pattern is not None else None
        if (
            m is None
            and (bound == "before" or bound == "by")
            and opened is None
            and after == prefix.end(bound) + 1
        ):
            m = _REC.fullmatch(text, after)  # "trước ngày 15 hằng tháng"
        if m is None:
            bound = opened = None
    if m is None:
        pattern = shapes.get(first)
        m = pattern.fullmatch(text, pos) if pattern is not None else None
        if m is None:
            return _unmatched(text, pos, shapes, year, deadline)
    name: str = m.lastgroup  # type: ignore[assignment]  # each shape ends in a named group
    last: int = m.lastindex  # type: ignore[assignment]  # so both are set
    v = m.groups()[last - 1 - _WIDTH[name] : last - 1]  # the shape's own groups
    second = link = note = None
    try:
        if name == "_q":
            q1, y1, link, q2, y2 = v
            if link is None:
                start, end = quarter_span(_QUARTERS[q1], _NUM[y1] if y1 else check_year(year))  # type: ignore[arg-type]
            else:
                y1, y2 = _pair_years(y1, y2, year)
                start, end = quarter_span(_QUARTERS[q1], y1)
                second = quarter_span(_QUARTERS[q2], y2)
        elif name == "_m":
            m1, y1, link, m2, y2 = v
            if link is None:
                start, end = month_span(_NUM[m1], _NUM[y1] if y1 else check_year(year))  # type: ignore[arg-type]
            else:
                y1, y2 = _pair_years(y1, y2, year)
                start, end = month_span(_NUM[m1], y1)
                second = month_span(_NUM[m2], y2)
        elif name == "_d":
            days = _days(v, year)
            if days is None:
                return None
            (start, end), second, link = days
        elif name == "_y":
            y1, link, y2 = v
            start, end = year_span(_NUM[y1] if y1 else check_year(year))  # type: ignore[arg-type]
            if link is not None:
                second = year_span(_NUM[y2])
        elif name == "_qn" or name == "_mn":
            if opened is not None:
                return None  # "từ A, B, C": left to the full path
            items, y = v
            y = _NUM[y] if y else check_year(year)  # type: ignore[arg-type]
            if name == "_qn":
                spans = [quarter_span(_QUARTERS[q], y) for q in _QUARTER_ITEM.findall(items)]
            else:
                spans = [month_span(_NUM[mo], y) for mo in _MONTH_ITEM.findall(items)]
            start, end, note = cover(spans, "hoac" in _fold(items))
        elif name == "_ms":
            mo, y = v
            start, end = month_span(_NUM[mo], _NUM[y])
        elif name == "_dmy":
            d, _, mo, y = v
            start, end = day_span(_NUM[d], _NUM[mo], _NUM[y])
        elif name == "_cont":
            in_year, y = v
            if y is None and year is None:  # two wordings, by whether "trong năm" is written
                return "undatable", None, None, None, MISSING_YEAR if in_year is None else NO_YEAR, None
            start, end = year_span(_NUM[y] if y else year)
            return "continuous", start, end, None, None, None
        elif name == "_rec":  # alone, or after "trước", "chậm nhất" (timing.py's _recurring)
            mate, anchor, freq, from_year, to_year = v
            mate = _PERIOD_FREQ[_fold(mate)] if mate else ""
            rule, rest = _rule(_FREQ[_fold(freq)], mate, _fold(anchor) if anchor else "", bound == "before")
            if rest:
                return None
            if from_year is None and year is None:
                return "recurring", None, None, rule, MISSING_YEAR, bound
            start, end = year_span(_NUM[from_year] if from_year else year)
            if to_year is not None:
                if to_year < from_year:  # four digits each: compared as strings, alike
                    return None  # backwards: the full path names it
                end = year_span(_NUM[to_year])[1]
            return "recurring", start, end, rule, None, bound
        elif name == "_ondemand" or name == "_cond":
            if _RECURRENCE_WORD.search(text) is not None or len(text) > MAX_LENGTH:
                return None  # "theo quý", "khi … hằng năm": a recurrence comes first
            if name == "_cond":
                return "conditional", None, None, None, text, None
            return "undatable", None, None, None, f"không có ngày cụ thể ({text})", None
        elif name in _IMPOSSIBLE:
            _impossible(name, v, year)
        else:
            start, end = _other(name, v, year)
    except SpanError as exc:  # a period that does not exist
        return _no_such_period(name, m, v, exc)
    except TypeError:  # check_year(None): no year written, and no plan year
        if year is not None:
            raise  # a bug, not a missing year: parse_uncached takes the full path
        return "undatable", None, None, None, NO_YEAR, None
    except (_Unread, KeyError):  # KeyError: a year _NUM lacks ("0999"); the full path reads it
        return None
    if link is not None:
        later: Span = second  # type: ignore[assignment]  # every shape with a link sets it
        link = link.strip(" ,") or ","
        if link != "-" and link != ",":
            link = _fold(link)
        if link in _RANGE_LINKS:
            if start > later[1]:  # the grammar's _run says so
                return "undatable", None, None, None, backwards(start, later[1]), None
            end = max(end, later[1])
            opened = None  # "từ A đến B" has an end
        elif opened is not None:
            return None  # "từ A, B": left to the full path
        else:
            start, end, note = cover(((start, end), later), link == "hoac")
    if bound is not None:
        if bound == "before":
            return "deadline", None, start - _ONE_DAY, None, note, "before"
        if bound == "by":
            return "deadline", None, end, None, note, "by"
    if opened is not None:
        return "continuous", start, None, None, _OPEN_END, None
    if deadline or bound is not None:  # "within": done by the end, start kept
        return "deadline", start, end, None, note, "by"
    return ("date" if start == end else "range"), start, end, None, note, None


def _no_such_period(name: str, m: re.Match[str], v: _Groups, exc: SpanError) -> _Reading | None:
    """The full path's answer when it surely gives the same reason, else None.

    A recurrence: its rule is made first, then its years read (timing.py's _recurring).
    One period: the grammar checks a written year first, then dates the period with the
    same helper. Two periods: it may name the other, or say the range runs backwards.
    """
    if name == "_rec":
        return "undatable", None, None, None, str(exc), None
    link_group = _LINK_GROUP.get(name)
    if link_group is not None and m.group(link_group) is not None:
        return None
    years = [group for group in v if group and len(group) == 4 and group.isdigit()]
    if len(years) > 1:
        return None
    if years and not MIN_YEAR <= int(years[0]) <= MAX_YEAR:
        try:
            check_year(int(years[0]))
        except SpanError as first:
            exc = first
    return "undatable", None, None, None, str(exc), None


# Shapes of periods that cannot be: `_impossible` raises the grammar's reason.
_IMPOSSIBLE = frozenset({"_qx", "_mx", "_tmx", "_tqx", "_qlunar"})


def _impossible(name: str, v: _Groups, year: int | None) -> None:
    if name == "_tmx":
        raise SpanError(_ERRORS["e_thm"])
    if name == "_tqx":
        raise SpanError(_ERRORS["e_thq"])
    y = int(v[-1]) if v[-1] else check_year(year)  # type: ignore[arg-type]  # the year first
    if name == "_qx":
        written = _fold(v[0])
        quarter_span(int(written) if written.isdigit() else 5, y, written=written)
    elif name == "_mx":
        month_span(int(v[0]), y)
    raise SpanError(SOLAR_ONLY)  # "_qlunar", and what the helpers above raise


@lru_cache(maxsize=256)  # pure: a handful of (frequency, day) pairs in a plan
def _rule(freq: str, mate: str, anchor: str, before: bool) -> tuple[str, str]:
    return recurrence_rule({freq, mate} if mate else {freq}, anchor, before=before)


class _Unread(Exception):
    """A shape matched, but the full path reads it another way."""


# The connector group of the shapes that read two periods.
_LINK_GROUP = {"_q": "ql", "_m": "ml", "_y": "yl", "_d": "dl"}


# timing.py's _LEAD: words that carry nothing before a deadline word or a period.
_LEAD = _compile(f"(?:{_w('du kien|thoi gian thuc hien|thoi gian|thuc hien|trien khai|to chuc')}:? )+")
_LEAD_FIRST = frozenset(_members("d") + _members("t"))
# A condition as timing.py's _COND and _COND_START read it, in words only (so clean):
# "nếu có", "sau khi Đề án được phê duyệt". A recurrence word in it is read first there.
_CONDITION = _compile(
    f"(?:{_w('ngay')} )?{_w('sau khi|khi|neu|tuy|theo|phu thuoc|can cu|dot xuat|phat sinh')}"
    f"(?: {_LETTER}+)*"
)
_CONDITION_FIRST = frozenset("".join(_members(c) for c in "nsktpcd"))
# A delay after an event (timing.py's _RELATIVE before a condition that names one).
_AFTER_EVENT = _compile(
    f"(?:(?:{_alt(_BY_WORDS)})(?: {_w('la')})? |{_w('truoc')} )?(?:{_w('trong')} (?:{_w('vong')} )?)?"
    f"[0-9]{{1,3}} {_w('ngay|tuan|thang|nam')}(?: {_w('lam viec')})?(?: {_w('ke tu')})? "
    f"({_w('sau khi|khi|neu|phu thuoc')}(?: {_LETTER}+)*)"
)
_AFTER_EVENT_FIRST = frozenset(_DIGITS + "".join(_members(c) for c in "cmhtkd"))
_ON_DEMAND = _compile(f"{_w('khi co yeu cau|khi can|khi phat sinh|khi co chi dao')}(?: |$)")
_ECHOES = frozenset({"conditional", "undatable"})  # kinds whose reason may quote the text


def _unmatched(
    text: str, pos: int, shapes: _Shapes, year: int | None, deadline: bool
) -> _Reading | None:
    """`read`'s last tries on a whole cell (pos 0): after lead words ("Dự kiến …",
    "Thời gian: …"), then with one condition (not inside another, `_PLAIN`)."""
    if pos or shapes is _AFTER_PREFIX or len(text) > MAX_LENGTH:
        return None  # after lead words already; or not a timing: the full path says so
    found = None
    if text[:1] in _LEAD_FIRST:
        lead = _LEAD.match(text)
        if lead is not None:
            found = read(text, year, deadline, lead.end(), _AFTER_PREFIX)
    if found is not None or shapes is not _FIRST:
        return found
    if text[-1:] == ")" or text[:1] in _CONDITION_FIRST and ", " in text:
        return _with_condition(text, year, deadline)
    m = _AFTER_EVENT.fullmatch(text) if text[:1] in _AFTER_EVENT_FIRST else None
    if m is None or _ON_DEMAND.match(m.group(1)) or _RECURRENCE_WORD.search(m.group(1)):
        return None
    return "conditional", None, None, None, text, None  # timing.py's _without_span


def _with_condition(text: str, year: int | None, deadline: bool) -> _Reading | None:
    """A period with one condition: "Quý IV/2025 (nếu có)", "(nếu có)", "Sau khi …, trong
    Quý III/2024". The period's answer becomes conditional, the condition first in the
    reason (timing.py's _dated, _continuous, _recurring); an error stays as it is."""
    if text[-1:] == ")":
        cut = text.rfind("(")
        if cut == 0:  # the whole cell in brackets: read as without them
            inner = text[1:-1]
            return read(inner, year, deadline) if "(" not in inner else None
        if cut < 0 or text[cut - 1 : cut] != " ":
            return None
        head, condition = text[: cut - 1], text[cut + 1 : -1]
    else:
        cut = text.find(", ")
        head, condition = text[cut + 2 :], text[:cut]
    if _CONDITION.fullmatch(condition) is None or _RECURRENCE_WORD.search(condition) is not None:
        return None
    found = read(head, year, deadline, 0, _PLAIN)
    if found is None or found[0] == "undatable":  # a period that does not exist: that reason
        return found
    _, start, end, rule, reason, bound = found
    reason = condition if reason is None else f"{condition}; {reason}"
    return "conditional", start, end, rule, reason, bound


def _pair_years(y1: str | None, y2: str | None, year: int | None) -> tuple[int, int]:
    """Two periods' years: each as written, else its neighbour's, else the plan's."""
    if y2:
        second = _NUM[y2]
        return (_NUM[y1] if y1 else second), second
    if y1:
        first = _NUM[y1]
        return first, first
    year = check_year(year)  # type: ignore[arg-type]
    return year, year


def _days(v: _Groups, year: int | None) -> tuple[Span, Span | None, str | None] | None:
    """One day or two: a day without a month takes its neighbour's month and year."""
    d1, m1, y1, n1, z1, link, d2, m2, y2, n2, z2 = v
    if m1 is None:
        m1, y1 = n1, z1
    if link is None:
        if m1 is None:  # "ngày 15": the grammar's _resolve asks which month
            raise SpanError(f"thiếu tháng: ngày {_NUM[d1]} của tháng nào?")
        return day_span(_NUM[d1], _NUM[m1], _NUM[y1] if y1 else check_year(year)), None, None  # type: ignore[arg-type]
    if m2 is None:
        m2, y2 = n2, z2
    if m1 is None:
        if m2 is None:
            return None
        m1, y1 = m2, y2
    elif m2 is None:
        m2, y2 = m1, y1
    first, second = _pair_years(y1, y2, year)
    return day_span(_NUM[d1], _NUM[m1], first), day_span(_NUM[d2], _NUM[m2], second), link


# The periods of a list the shapes "qn" and "mn" matched, in order.
_QUARTER_ITEM = _compile(f"(?:{_QUY})?({_Q})(?=,| |$)")
_MONTH_ITEM = _compile(f"(?:{_THANG} )?({_M})(?=,| |$)")

_LUNAR_MONTHS = {"gieng": 1, "chap": 12}
# Named lunar days, as timing.py's _NAMED writes them: (day, month).
_NAMED_DAYS = {"trung thu": (15, 8), "nguyen tieu": (15, 1), "doan ngo": (5, 5), "gio to": (10, 3)}


def _lunar_month_of(text: str) -> int:
    return int(text) if text.isdigit() else _LUNAR_MONTHS[_fold(text)]


def _one_year(y: str | None, z: str | None, year: int | None) -> int:
    """The year written before or after "âm lịch" (not both), else the plan's."""
    if y and z:
        raise _Unread  # two years: the full path reads it
    y = y or z
    return _NUM[y] if y else check_year(year)  # type: ignore[arg-type]


def _l_day(v: _Groups, year: int | None) -> Span:
    d, mo, leap, y, z = v
    return lunar_day(_NUM[d], _lunar_month_of(mo), _one_year(y, z, year), leap=leap is not None)


def _l_month(v: _Groups, year: int | None) -> Span:
    mo, leap, y, z = v
    return lunar_month(_lunar_month_of(mo), _one_year(y, z, year), leap=leap is not None)


def _l_year(v: _Groups, year: int | None) -> Span:
    return lunar_year(_NUM[v[0]])


def _tet(v: _Groups, year: int | None) -> Span:
    return tet(_NUM[v[0]] if v[0] else check_year(year))  # type: ignore[arg-type]  # None: read's TypeError


def _tet_solar(v: _Groups, year: int | None) -> Span:
    return day_span(1, 1, _NUM[v[0]] if v[0] else check_year(year))  # type: ignore[arg-type]  # None: read's TypeError


def _tet_season(v: _Groups, year: int | None) -> Span:
    return tet_season(_NUM[v[0]] if v[0] else check_year(year))  # type: ignore[arg-type]  # None: read's TypeError


def _mung_tet(v: _Groups, year: int | None) -> Span:
    return lunar_day(_NUM[v[0]], 1, _NUM[v[1]] if v[1] else check_year(year))  # type: ignore[arg-type]  # None: read's TypeError


def _ram(v: _Groups, year: int | None) -> Span:
    return lunar_day(15, _lunar_month_of(v[0]), _NUM[v[1]] if v[1] else check_year(year))  # type: ignore[arg-type]  # None: read's TypeError


def _named(v: _Groups, year: int | None) -> Span:
    words = _fold(v[0]).split()
    key = " ".join(w for w in words if w not in ("tet", "ngay", "hung", "vuong"))
    day, month = _NAMED_DAYS[key]
    return lunar_day(day, month, _NUM[v[1]] if v[1] else check_year(year))  # type: ignore[arg-type]  # None: read's TypeError


_LUNAR = {
    "_lday": _l_day,
    "_lmonth": _l_month,
    "_lyear": _l_year,
    "_tet": _tet,
    "_tetdl": _tet_solar,
    "_diptet": _tet_season,
    "_mungtet": _mung_tet,
    "_ram": _ram,
    "_named": _named,
}


def _other(name: str, v: _Groups, year: int | None) -> Span:
    """The less common single periods: halves, thirds, weeks."""
    if name == "_first":
        n, word, y = v
        count, y = _NUM[n], _NUM[y] if y else check_year(year)  # type: ignore[arg-type]
        return first_months(count, y) if _fold(word) == "dau" else last_months(count, y)
    if name == "_half":
        word, y = v
        y = _NUM[y] if y else check_year(year)  # type: ignore[arg-type]
        return first_months(6, y) if _fold(word) == "dau" else last_months(6, y)
    if name == "_tm":
        word, ten, mo, y = v
        base = month_span(_NUM[mo], _NUM[y] if y else check_year(year))  # type: ignore[arg-type]
        return third_of(base, _THIRDS[_fold(word or ten)], by_month=False)
    if name == "_tq":
        word, q, y = v
        base = quarter_span(_QUARTERS[q], _NUM[y] if y else check_year(year))  # type: ignore[arg-type]
        return third_of(base, _THIRDS[_fold(word)], by_month=True)
    if name == "_ty":
        word, y = v
        base = year_span(_NUM[y] if y else check_year(year))  # type: ignore[arg-type]
        return third_of(base, _THIRDS[_fold(word)], by_month=True)
    if name in _LUNAR:
        return _LUNAR[name](v, year)
    # name == "_wk"
    first, last, nth, mo, y = v
    week = 1 if first else -1 if last else _NUM[nth] if nth.isdigit() else _WEEK_NUMBERS[_fold(nth)]
    return _week(week, _NUM[mo], _NUM[y] if y else check_year(year), False, False)  # type: ignore[arg-type]
