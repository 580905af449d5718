"""Timing expressions → Timing: kind + inclusive all-day dates (Asia/Ho_Chi_Minh).

Reads the timing column of Vietnamese plans: "Quý II/2024", "Tháng 10/2024",
"Thường xuyên trong năm 2024", "trước ngày 15/6/2024", "mùng 10 tháng 3 âm lịch".
Public: `TimingKind`, `Timing`, `parse_timing()`. Never raises, never guesses:
text it cannot date gets kind `undatable` (or `conditional`) and a Vietnamese reason.

How (docs/timing.md has the conventions and why):
1. most cells are one of the shapes of `timing_fast` ("Quý II/2024", "tháng 3, 4/2024",
   "trước ngày 15/6/2024", "Thường xuyên trong năm 2024", "mùng 10 tháng 3 âm lịch",
   "khi có yêu cầu", "Quý IV/2025 (nếu có)", "Quý V/2024"): one match on the text as
   given (or once `text.clean`ed, or joined and stripped: `read_loose`) answers;
2. otherwise normalise once: `text.clean` (NFC, dashes, spaces) for what is stored, and
   an ASCII key equal to `text.fold_ascii` (case, NFD/NFC, tone placement and missing
   diacritics all fold alike), one letter per character so spans map back;
3. an ordered list of small steps takes the wrappers off the key: recurrence
   ("hằng quý"), conditions ("sau khi …", "(nếu có)", "theo chỉ đạo"), "thường xuyên",
   named lunar days and "âm lịch" — each only when the key has a word it looks for —
   then deadline words ("trước", "chậm nhất");
4. what is left is dated by `timing_grammar.parse_core` with the conventions of
   `timing_spans` (recurrences get their RRULE from `timing_rules`); the steps'
   findings decide the kind.
Speed (benchmarks/timing.py): the steps return plain tuples and one `Timing` is built
per parse; the shortcuts of 1. and 3. are checked against the full path by tests
(tests/test_timing_fast.py, test_shortcuts_change_no_answer).
Not here: working days and lunar arithmetic (workdays.py), reminders (reminders.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from notifier.text import COMBINING_MARKS, DASH_CHARS, clean, fold_ascii
from notifier.timing_fast import ASCII_TABLE, MAX_LENGTH, MISSING_YEAR, read_loose
from notifier.timing_fast import read as fast_read
from notifier.timing_grammar import Core, parse_core
from notifier.timing_rules import recurrence_rule
from notifier.timing_spans import SpanError, check_year, year_span

__all__ = ["Timing", "TimingKind", "parse_timing", "parse_uncached"]


class TimingKind(StrEnum):
    RANGE = "range"  # a window with a start and an end ("Quý II/2024")
    DATE = "date"  # a single day ("02/12/2024")
    DEADLINE = "deadline"  # done by `end` ("trước ngày 15/6/2024"); `start` may be None
    CONTINUOUS = "continuous"  # ongoing over the span ("Thường xuyên trong năm 2024")
    RECURRING = "recurring"  # repeats by `rule` ("hằng quý"), within start..end when known
    CONDITIONAL = "conditional"  # depends on an event ("sau khi Đề án được phê duyệt")
    UNDATABLE = "undatable"  # no date can be derived ("khi có yêu cầu")


class Timing(NamedTuple):
    """A parsed timing. `start`/`end` are inclusive; `text` is the input as NFC.

    A named tuple, not a dataclass: immutable and compared by value alike, and built in
    one C call (`_tuple_new`) at the end of every parse, where a frozen dataclass's
    __dict__ took a tenth of a typical parse."""

    text: str
    kind: TimingKind
    start: date | None = None
    end: date | None = None
    rule: str | None = None  # RFC 5545 RRULE value, e.g. "FREQ=MONTHLY;BYMONTHDAY=25"
    reason: str | None = None  # Vietnamese: why it is not datable, or the condition
    bound: str | None = None  # deadlines: "before" ("trước ngày X": end = X - 1) or "by"

    @property
    def datable(self) -> bool:
        return self.end is not None

    def as_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "kind": self.kind.value,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "rule": self.rule,
            "reason": self.reason,
            "bound": self.bound,
        }


# What `text.clean` changes in one-line text beyond spaces: a combining mark (NFD text) or a
# Unicode dash ("Quý II – 2024"). No fast shape matches either, so such text is cleaned first.
_UNCLEAN = re.compile(f"[{COMBINING_MARKS}{DASH_CHARS}]")
_tuple_new = tuple.__new__

# A timing cell is a phrase (MAX_LENGTH, timing_fast): longer text is a paragraph pasted
# into the wrong column.
INTERNAL_ERROR = "lỗi nội bộ khi đọc thời gian"
UNRECOGNISED = (
    "không nhận ra cách ghi thời gian; hãy ghi ví dụ “Quý II/2024”, “Tháng 10/2024”,"
    " “15/6/2024” hoặc “trước ngày 15/6/2024”"
)
_KINDS: dict[str, TimingKind] = {kind: kind for kind in TimingKind}  # value or member → member
_ONE_DAY = timedelta(days=1)


def parse_timing(text: str, *, year: int | None = None, deadline: bool = False) -> Timing:
    """Parse one timing expression.

    `year` fills in a missing year (the plan's year). With `deadline=True` (the
    column is "Thời hạn hoàn thành") a window means "done by its last day".
    """
    if not isinstance(text, str):
        text = str(text)
    return _memo(text, year, deadline)


@lru_cache(maxsize=8192)  # cells repeat ("Trong năm 2024" dozens of times a plan)
def _memo(text: str, year: int | None, deadline: bool) -> Timing:
    return parse_uncached(text, year=year, deadline=deadline)


def parse_uncached(text: str, *, year: int | None = None, deadline: bool = False) -> Timing:
    """`parse_timing` without the memo: what the benchmark times, what tests compare."""
    try:  # most cells: one match on the text as given (timing_fast), clean already
        if (
            type(text) is str
            and text[:1] != " "
            and "\n" not in text
            and (text.isascii() or not _UNCLEAN.search(text))
        ):
            found = fast_read(text, year, deadline)
        else:  # spaces, NFD marks, dashes, lines: no shape matches before `clean` (isascii: O(1))
            found = None
    except Exception:  # noqa: BLE001 - a shortcut only: the full path answers
        found = None
    if found is None:
        try:
            cleaned = clean(text)
        except Exception as exc:  # noqa: BLE001 - e.g. lone surrogates: still answer
            return Timing(
                repr(text), TimingKind.UNDATABLE, reason=f"{INTERNAL_ERROR} ({type(exc).__name__})"
            )
        try:
            if cleaned is not text and "\n" not in cleaned:  # NFD, stray spaces, dashes
                found = fast_read(cleaned, year, deadline)  # the same shapes, once clean
            if found is None:  # wrapped, or punctuation at the ends: still one match
                found = read_loose(cleaned, year, deadline)
            if found is None:
                found = _parse(cleaned, year, deadline)
        except Exception as exc:  # noqa: BLE001 - the contract is "never raises"; tests watch this
            return Timing(
                cleaned, TimingKind.UNDATABLE, reason=f"{INTERNAL_ERROR} ({type(exc).__name__})"
            )
        text = cleaned
    # What Timing(...) does, without its Python-level __new__: every parse ends here.
    kind, start, end, rule, reason, bound = found
    return _tuple_new(Timing, (text, _KINDS[kind], start, end, rule, reason, bound))


# What the steps below answer: kind, start, end, rule, reason, bound.
_Result = tuple[TimingKind, date | None, date | None, str | None, str | None, str | None]


# --- normalisation -------------------------------------------------------------------


_ASCII = ASCII_TABLE  # every letter whose fold is one ASCII letter (timing_fast builds it)
_nfd = unicodedata.normalize


def _key(cleaned: str) -> str:
    """`fold_ascii(cleaned)` by translation (same length, so spans map back), else itself."""
    if cleaned.isascii():  # what the table does to ASCII, without a lookup per character
        key = cleaned.lower()
        return key.replace("\n", " ") if "\n" in key else key
    if "\n" not in cleaned:
        # The table's letters, faster: in NFD every one is one ASCII letter and marks, and
        # encoding drops the marks. Any other character is dropped whole (or is "≠", "≮",
        # "≯", which fold_ascii folds alike), so an equal length means the same key.
        folded = _nfd("NFD", cleaned.replace("đ", "d").replace("Đ", "D")).encode("ascii", "ignore")
        if len(folded) == len(cleaned):
            return folded.lower().decode()
    key = cleaned.translate(_ASCII)
    return key if key.isascii() else fold_ascii(cleaned)


# --- the wrappers around the core ----------------------------------------------------


@dataclass(slots=True)
class _Found:
    """What the steps took off the key, in the order they ran."""

    cleaned: str
    key: str  # blanked in place (same length) until conditions are out, so slices map back
    freqs: set[str] = field(default_factory=set)
    conditions: list[tuple[str, bool]] = field(default_factory=list)  # (as written, on demand)
    continuous: bool = False
    lunar: bool = False
    bound: str | None = None  # before | by | within

    def blank(self, start: int, end: int) -> None:
        self.key = self.key[:start] + " " * (end - start) + self.key[end:]

    def written(self, start: int, end: int) -> str:
        source = self.cleaned if len(self.cleaned) == len(self.key) else self.key
        return source[start:end].strip(" ,;:.()-")


_FREQ_UNITS = {"nam": "year", "quy": "quarter", "thang": "month", "tuan": "week", "ngay": "day"}
_RECUR = re.compile(
    r"\b(?:dinh ky\s+)?(?:(?:hang|moi|theo)\s+|dinh ky\s+)(nam|quy|thang|tuan|ngay)\b(?!\s+dinh)"
    r"|\b(?:dinh ky\s+)?(6|sau|3|ba)\s+thang\s*(?:(?:mot|1)\s+lan|/\s*lan)\b"
    r"|\bdinh ky\s+(6|sau|3|ba)\s+thang\b",
    re.ASCII,
)
# Report periods listed beside a recurrence: "6 tháng, hằng năm" = half-yearly and yearly.
_RECUR_MATE = re.compile(r"\b(6|sau|3|ba|9|chin)\s+thang\b(?!\s*(?:dau|cuoi|nam|/|\d))", re.ASCII)
_PERIOD_FREQ = {
    "6": "half",
    "sau": "half",
    "3": "quarter",
    "ba": "quarter",
    "9": "nine",
    "chin": "nine",
}


def _take_recurrence(found: _Found) -> None:
    for m in _RECUR.finditer(found.key):
        unit, period = m.group(1), m.group(2) or m.group(3)
        found.freqs.add(_FREQ_UNITS[unit] if unit else _PERIOD_FREQ[period])
        found.blank(*m.span())
    if found.freqs:
        for m in _RECUR_MATE.finditer(found.key):
            found.freqs.add(_PERIOD_FREQ[m.group(1)])
            found.blank(*m.span())


_COND = re.compile(
    r"\(([^()]*)\)"
    r"|(?:(?<!\d )\bngay\s+)?\b(?:sau khi|khi|neu|tuy|theo|phu thuoc|can cu|dot xuat|phat sinh"
    r"|chua xac dinh|chua co|khong xac dinh)\b[^,;()]*",
    re.ASCII,
)
_COND_START = re.compile(
    r"\s*(?:ngay\s+)?(?:sau khi|khi|neu|tuy|theo|phu thuoc|can cu|dot xuat|phat sinh"
    r"|chua xac dinh|chua co|khong xac dinh)\b",
    re.ASCII,
)
# Conditions that name no event, only someone's later decision: alone they are undatable.
_ON_DEMAND = re.compile(
    r"\s*(?:theo|tuy|can cu|dot xuat|phat sinh|chua|khong xac dinh|khi co yeu cau"
    r"|khi can|khi phat sinh|khi co chi dao)\b",
    re.ASCII,
)


def _take_conditions(found: _Found) -> None:
    for m in _COND.finditer(found.key):
        inner = m.group(1)
        if inner is not None and not _COND_START.match(inner):
            continue  # "(dự kiến)", "(âm lịch)", "(02/12/2024)": left to later steps
        start, end = m.span(1) if inner is not None else m.span()
        phrase = found.key[start:end]
        found.conditions.append((found.written(start, end), bool(_ON_DEMAND.match(phrase))))
        found.blank(*m.span())


_CONTINUOUS = re.compile(r"\b(?:nhiem vu\s+)?(?:thuong xuyen|lien tuc|quanh nam)\b", re.ASCII)


def _take_continuous(found: _Found) -> None:
    m = _CONTINUOUS.search(found.key)
    if m:
        found.continuous = True
        found.blank(*m.span())


# Named days; lunar ones set the lunar flag. "Tết" alone is the Tết item of the grammar.
_NAMED = (
    (re.compile(r"\btet\s+duong lich\b", re.ASCII), " ngay 1/1 ", False),
    (
        re.compile(r"\b(?:dip|nhan dip)\s+tet(?:\s+(?:nguyen dan|am lich|co truyen))?\b", re.ASCII),
        " diptet ",
        False,
    ),
    (re.compile(r"\btet\s+(?:nguyen dan|am lich|co truyen)\b", re.ASCII), " tet ", False),
    (
        re.compile(r"\b(?:ngay\s+)?(?:mung|mong)\s+(\d{1,2})\s+tet\b", re.ASCII),
        r" ngay \1/1 ",
        True,
    ),
    (re.compile(r"\b(?:tet\s+)?trung thu\b", re.ASCII), " ngay 15/8 ", True),
    (
        re.compile(r"\b(?:tet\s+)?nguyen tieu\b|\bram\s+thang\s+gieng\b", re.ASCII),
        " ngay 15/1 ",
        True,
    ),
    (re.compile(r"\btet\s+doan ngo\b", re.ASCII), " ngay 5/5 ", True),
    (re.compile(r"\b(?:ngay\s+)?gio to(?:\s+hung vuong)?\b", re.ASCII), " ngay 10/3 ", True),
    (re.compile(r"\bram\s+thang\b", re.ASCII), " ngay 15 thang ", True),
)
_LUNAR = re.compile(r"\(?\s*\b(?:theo\s+)?(?:am lich|al)\b\s*\)?", re.ASCII)
_SOLAR = re.compile(r"\(?\s*\b(?:theo\s+)?(?:duong lich|dl)\b\s*\)?", re.ASCII)


def _take_calendar(found: _Found, words: frozenset[str]) -> None:
    key = found.key
    if not _NAMED_WORDS.isdisjoint(words):
        for pattern, replacement, lunar in _NAMED:
            key, count = pattern.subn(replacement, key)
            found.lunar = found.lunar or (lunar and count > 0)
    if not _CALENDAR_WORDS.isdisjoint(words):
        key, count = _LUNAR.subn(" ", key)
        found.lunar = found.lunar or count > 0
        key = _SOLAR.sub(" ", key)
    found.key = key


_EDGES = " .,;:-/*\"'“”()[]…!?+&"  # timing_fast.read_loose strips the same
_LEAD = re.compile(
    r"^(?:(?:du kien|thoi gian(?: thuc hien)?|thuc hien|trien khai|to chuc)\b\s*:?\s*)+", re.ASCII
)
_BY = re.compile(
    r"^(?:(?:hoan thanh|xong|gui|nop|bao cao)\s+)?(?:cham nhat|muon nhat|han chot|han cuoi"
    r"|thoi han(?:\s+hoan thanh)?|khong qua|khong muon hon|truoc hoac trong|truoc hoac vao"
    r"|den het|den|toi|han)\b\s*(?:la\b\s*)?:?\s*",
    re.ASCII,
)
_BEFORE = re.compile(r"^(?:(?:hoan thanh|xong|ket thuc|gui|nop|bao cao)\s+)?truoc\b\s*", re.ASCII)
_WITHIN = re.compile(r"^(?:hoan thanh|xong)\b\s*", re.ASCII)


# The first word of every phrase above: a core starting with another word has none.
_BOUND_FIRST = frozenset({
    "du", "thoi", "thuc", "trien", "to", "hoan", "xong", "gui", "nop", "bao", "cham", "muon",
    "han", "khong", "truoc", "den", "toi", "ket",
})  # fmt: skip
_FIRST_WORD = re.compile(r"[a-z]+")


def _take_bound(key: str) -> tuple[str, str | None]:
    """The key collapsed to the core, a leading deadline word taken off: (core, bound)."""
    if key.isprintable() and "  " not in key:  # one space between words already
        rest = key.strip(_EDGES)
    else:
        rest = " ".join(key.split()).strip(_EDGES)
    first = rest.partition(" ")[0]
    if first not in _BOUND_FIRST:
        if first.isascii() and first.isalpha():
            return rest, None  # the first word is another word
        word = _FIRST_WORD.match(rest)  # a word glued to something else: "đến,", "2024"
        if word is None or word.group() not in _BOUND_FIRST:
            return rest, None
    rest = _LEAD.sub("", rest).strip(_EDGES)
    for bound, pattern in (("by", _BY), ("before", _BEFORE), ("within", _WITHIN)):
        m = pattern.match(rest)
        if m:
            return rest[m.end() :].strip(_EDGES), bound
    return rest, None


# The whole words each step's patterns need, at least one of them (a step's patterns
# start and end at word boundaries or brackets, so blanking never makes a new word, and
# the named days write only "ngay", "thang", "tet", "diptet" and digits): a key with none
# of them skips the step. Most cells ("Quý II/2024", "tháng 3, 4/2024") skip them all.
_RECUR_WORDS = frozenset({"hang", "moi", "theo", "ky", "lan"})
_COND_WORDS = frozenset(
    {"khi", "neu", "tuy", "theo", "thuoc", "cu", "xuat", "sinh", "chua", "khong"}
)  # and "(": see _steps
_CONTINUOUS_WORDS = frozenset({"xuyen", "tuc", "quanh"})
_NAMED_WORDS = frozenset({"tet", "trung", "tieu", "ram", "gio"})
_CALENDAR_WORDS = frozenset({"lich", "al", "dl"})
_STEP_WORDS = _RECUR_WORDS | _COND_WORDS | _CONTINUOUS_WORDS | _NAMED_WORDS | _CALENDAR_WORDS
_LETTERS = re.compile(r"[a-z]+")  # every whole word of the key is one of these runs
# ASCII keys as bytes: everything but a letter made a space, `split()` gives the same runs.
_ONLY_LETTERS = bytes(c if 0x61 <= c <= 0x7A else 0x20 for c in range(256))
_STEP_BYTES = frozenset(word.encode() for word in _STEP_WORDS)
_NO_WORDS: frozenset[str] = frozenset()


def _step_words(key: str) -> frozenset[str]:
    """The words of `key` that some step looks for."""
    if not key.isascii():
        return _STEP_WORDS.intersection(_LETTERS.findall(key))
    words = key.encode().translate(_ONLY_LETTERS).split()
    if _STEP_BYTES.isdisjoint(words):
        return _NO_WORDS
    return _STEP_WORDS.intersection(word.decode() for word in words)


def _steps(found: _Found, words: frozenset[str]) -> None:
    """Take off the wrappers the key has words for (`_step_words`), in order."""
    key = found.key
    if not _RECUR_WORDS.isdisjoint(words):
        _take_recurrence(found)
    if "(" in key or not _COND_WORDS.isdisjoint(words):
        _take_conditions(found)
    if not _CONTINUOUS_WORDS.isdisjoint(words):
        _take_continuous(found)
    if words:
        _take_calendar(found, words)


# --- putting it together -------------------------------------------------------------

_BLANK = _EDGES + "x_–—"  # a cell with only these says nothing


def _undatable(reason: str) -> _Result:
    return TimingKind.UNDATABLE, None, None, None, reason, None


def _parse(cleaned: str, year: int | None, deadline: bool) -> _Result:
    if not cleaned.strip(_BLANK):
        shown = f"chỉ ghi “{cleaned}”" if cleaned else "ô thời gian trống"
        return _undatable(f"không có thời gian ({shown})")
    if len(cleaned) > MAX_LENGTH:
        return _undatable(
            f"ô thời gian quá dài ({len(cleaned)} ký tự), không phải một biểu thức thời gian"
        )
    key = _key(cleaned)
    try:
        words = _step_words(key)
        if words or "(" in key:
            return _wrapped(cleaned, key, words, year, deadline)
        rest, bound = _take_bound(key)  # no wrapper: only a deadline word to take off
        core = parse_core(rest, lunar=False, year=year, common=False) if rest else None
    except SpanError as exc:
        return _undatable(str(exc))
    if core is None:
        return _undatable(UNRECOGNISED)
    if bound is None and not deadline and not core.open_start:  # a plain window
        kind = TimingKind.DATE if core.start == core.end else TimingKind.RANGE
        return kind, core.start, core.end, None, core.note, None
    return _dated(cleaned, core, bound, (), deadline)


def _wrapped(
    cleaned: str, key: str, words: frozenset[str], year: int | None, deadline: bool
) -> _Result:
    """A key with words for the steps: recurrence, conditions, "thường xuyên", lunar dates."""
    found = _Found(cleaned, key)
    _steps(found, words)
    rest, found.bound = _take_bound(found.key)
    if found.freqs:
        return _recurring(found, rest, year)
    try:
        core = parse_core(rest, lunar=found.lunar, year=year) if rest else None
    except SpanError as exc:
        return _undatable(str(exc))
    if found.continuous:
        return _continuous(found, core, rest, year)
    if core is None:
        return _without_span(found, rest)
    return _dated(cleaned, core, found.bound, found.conditions, deadline)


# A delay counted from the condition: "30 ngày", "trong vòng 15 ngày làm việc".
_RELATIVE = re.compile(
    r"(?:trong\s+(?:vong\s+)?)?\d{1,3}\s+(?:ngay|tuan|thang|nam)(?:\s+lam viec)?(?:\s+ke tu)?",
    re.ASCII,
)


def _without_span(found: _Found, rest: str) -> _Result:
    """Nothing datable: a condition, something on demand, or text we do not read."""
    cleaned, conditions = found.cleaned, found.conditions
    if not conditions:
        return _undatable(UNRECOGNISED)
    if all(on_demand for _, on_demand in conditions):
        listed = "; ".join(text for text, _ in conditions)
        return _undatable(f"không có ngày cụ thể ({listed})")
    if not rest:
        reason = "; ".join(t for t, _ in conditions)
        return TimingKind.CONDITIONAL, None, None, None, reason, None
    if _RELATIVE.fullmatch(rest):  # "chậm nhất 30 ngày sau khi …": the whole sentence
        return TimingKind.CONDITIONAL, None, None, None, cleaned, None
    return _undatable(UNRECOGNISED)


def _dated(
    cleaned: str,
    core: Core,
    found_bound: str | None,
    conditions: list[tuple[str, bool]] | tuple[()],
    deadline: bool,
) -> _Result:
    start: date | None = core.start
    end: date | None = core.end
    kind = TimingKind.DATE if core.start == core.end else TimingKind.RANGE
    bound: str | None = None
    reason = core.note
    if found_bound == "before":
        kind, start, end, bound = TimingKind.DEADLINE, None, core.start - _ONE_DAY, "before"
    elif found_bound == "by":
        kind, start, bound = TimingKind.DEADLINE, None, "by"
    elif core.open_start:  # "từ 01/6/2024": a start, even in a deadline column
        kind, end, reason = TimingKind.CONTINUOUS, None, "không ghi thời điểm kết thúc"
    elif found_bound == "within" or deadline:
        kind, bound = TimingKind.DEADLINE, "by"
    if conditions:
        kind = TimingKind.CONDITIONAL
        reason = "; ".join([text for text, _ in conditions] + ([reason] if reason else []))
    return kind, start, end, None, reason, bound


def _plan_year_span(rest: str, found: _Found, year: int | None) -> tuple[Core | None, str | None]:
    """The span a continuous or recurring timing runs over: as written, else the plan's year."""
    try:
        core = parse_core(rest, lunar=found.lunar, year=year) if rest else None
        if core is None and not rest and year is not None:
            span = year_span(check_year(year))
            core = Core(span.start, span.end, None, False)
    except SpanError as exc:
        return None, str(exc)
    if core is None:
        return None, MISSING_YEAR if not rest else UNRECOGNISED
    return core, None


def _continuous(found: _Found, core: Core | None, rest: str, year: int | None) -> _Result:
    if core is None:
        core, problem = _plan_year_span(rest, found, year)
        if core is None:
            return _undatable(problem)  # type: ignore[arg-type]
    kind = TimingKind.CONDITIONAL if found.conditions else TimingKind.CONTINUOUS
    reasons = [text for text, _ in found.conditions] + ([core.note] if core.note else [])
    end = None if core.open_start else core.end
    if end is None:
        reasons.append("không ghi thời điểm kết thúc")
    return kind, core.start, end, None, "; ".join(reasons) or None, None


# --- recurrence ----------------------------------------------------------------------


def _recurring(found: _Found, rest: str, year: int | None) -> _Result:
    """A rule from timing_rules, over the years written or the plan's year."""
    try:
        rule, rest = recurrence_rule(found.freqs, rest, before=found.bound == "before")
    except SpanError as exc:
        return _undatable(str(exc))
    core, problem = _plan_year_span(rest, found, year)
    conditions = [text for text, _ in found.conditions]
    kind = TimingKind.CONDITIONAL if conditions else TimingKind.RECURRING
    bound = found.bound if found.bound in ("before", "by") else None
    if core is None:
        if problem != MISSING_YEAR:
            return _undatable(problem)  # type: ignore[arg-type]
        missing = "; ".join([*conditions, problem])
        return kind, None, None, rule, missing, bound
    reason = "; ".join(conditions + ([core.note] if core.note else [])) or None
    end = None if core.open_start else core.end
    return kind, core.start, end, rule, reason, bound
