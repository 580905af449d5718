"""Recurrence in a timing → an RFC 5545 RRULE: "hằng quý", "ngày 25 hằng tháng".

Owns the rule conventions of docs/timing.md §7: each occurrence is the last day of its
period (when that period's work falls due) unless a day is written with the frequency
("ngày 25 hằng tháng", "ngày 2/9 hằng năm", "tháng 4 hằng năm", "Quý II hằng năm",
"thứ Hai hằng tuần"); quarters and halves are pinned with BYMONTH (3,6,9,12 / 6,12), not
INTERVAL, which would count from DTSTART and drift off calendar quarters; "trước ngày X"
makes the occurrence X − 1.
Public: `FREQ_MONTHS`, `recurrence_rule(freqs, rest, *, before) -> (rule, rest left)`,
raising `timing_spans.SpanError` with the Vietnamese reason when the day written does not
fit the frequency. Not here: finding the frequency words (timing.py), expanding rules
(events.py, with dateutil).
"""

from __future__ import annotations

import re

from notifier.timing_spans import SpanError

__all__ = ["FREQ_MONTHS", "recurrence_rule"]

# The month each period ends in, per frequency found in the text.
FREQ_MONTHS = {
    "year": (12,),
    "half": (6, 12),
    "quarter": (3, 6, 9, 12),
    "nine": (9,),
    "month": tuple(range(1, 13)),
}
_WEEKDAYS = {
    "thu hai": "MO", "thu ba": "TU", "thu tu": "WE", "thu nam": "TH",
    "thu sau": "FR", "thu bay": "SA", "chu nhat": "SU",
}  # fmt: skip
_LEAD = r"^(?:(?:vao|trong)\s+)?"
_ANCHORS = (
    ("day_month", re.compile(_LEAD + r"(?:ngay\s+)?(\d{1,2})\s*/\s*(\d{1,2})\b(?!\s*/)", re.ASCII)),
    ("day", re.compile(_LEAD + r"(?:ngay|mung|mong)\s+(\d{1,2})\b(?!\s*/)", re.ASCII)),
    ("month", re.compile(_LEAD + r"thang\s+(\d{1,2})\b(?!\s*/)", re.ASCII)),
    ("quarter", re.compile(_LEAD + r"quy\s+(iv|i{1,3}|\d)\b(?!\s*/)", re.ASCII)),
    ("weekday", re.compile(_LEAD + r"(thu (?:hai|ba|tu|nam|sau|bay)|chu nhat)\b", re.ASCII)),
)
# The first word of every anchor above (or a digit): `rest` comes with single spaces.
_ANCHOR_FIRST = frozenset({"vao", "trong", "ngay", "mung", "mong", "thang", "quy", "thu", "chu"})
_QUARTERS = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_EDGES = " .,;:-/"


def recurrence_rule(freqs: set[str], rest: str, *, before: bool) -> tuple[str, str]:
    """The RRULE for `freqs` and a day written at the start of `rest`; what is left of `rest`."""
    anchor, which = None, ""
    if rest[:1].isdigit() or rest.partition(" ")[0] in _ANCHOR_FIRST:
        for name, pattern in _ANCHORS:
            anchor = pattern.match(rest)
            if anchor:
                which, rest = name, rest[anchor.end() :].strip(_EDGES)
                break
    return _rule(freqs, anchor, which, before), rest


def _rule(freqs: set[str], anchor: re.Match[str] | None, which: str, before: bool) -> str:
    if "day" in freqs:
        if anchor is not None:
            raise SpanError("“hằng ngày” không đi với một ngày cụ thể")
        return "FREQ=DAILY"
    if "week" in freqs:
        if anchor is None:
            return "FREQ=WEEKLY;BYDAY=SU"
        if which != "weekday" or len(freqs) > 1:
            raise SpanError("“hằng tuần” chỉ đi với một thứ trong tuần, ví dụ “thứ Hai hằng tuần”")
        return f"FREQ=WEEKLY;BYDAY={_WEEKDAYS[anchor.group(1)]}"
    months = sorted({m for f in freqs for m in FREQ_MONTHS[f]})
    if anchor is None:
        if len(months) == 12:
            return "FREQ=MONTHLY;BYMONTHDAY=-1"
        return "FREQ=YEARLY;BYMONTH=" + ",".join(map(str, months)) + ";BYMONTHDAY=-1"
    if which == "day" and len(months) == 12:
        day = int(anchor.group(1))
        _check_day_month(day, 1)
        return "FREQ=MONTHLY;BYMONTHDAY=" + ("-1" if before and day == 1 else str(day - before))
    if months != [12]:
        raise SpanError(
            "không rõ mốc lặp lại: mỗi kỳ ứng với ngày nào (ví dụ “ngày 25 hằng tháng”)"
        )
    if which == "day_month":
        day, month = int(anchor.group(1)), int(anchor.group(2))
        _check_day_month(day, month)
        if before and day == 1:  # the last day of the month before
            return f"FREQ=YEARLY;BYMONTH={(month - 2) % 12 + 1};BYMONTHDAY=-1"
        return f"FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={day - before}"
    if which == "month":
        month = int(anchor.group(1))
        _check_day_month(1, month)
        return f"FREQ=YEARLY;BYMONTH={month};BYMONTHDAY=-1"
    if which == "quarter":
        token = anchor.group(1)
        quarter = _QUARTERS.get(token) or int(token)
        if not 1 <= quarter <= 4:
            raise SpanError(f"không có quý {token.upper()} (chỉ có quý I–IV)")
        return f"FREQ=YEARLY;BYMONTH={3 * quarter};BYMONTHDAY=-1"
    raise SpanError("không rõ mốc lặp lại: mỗi năm vào ngày nào (ví dụ “ngày 2/9 hằng năm”)")


def _check_day_month(day: int, month: int) -> None:
    """The day exists in some year (29/2 included: the rule then fires in leap years)."""
    if not 1 <= month <= 12:
        raise SpanError(f"không có tháng {month} (chỉ có tháng 1–12)")
    if not 1 <= day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31):
        raise SpanError(f"không có ngày {day}/{month}")
