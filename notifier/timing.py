"""Timing expressions → Timing: kind + inclusive all-day dates (Asia/Ho_Chi_Minh).

Reads the timing column of Vietnamese plans: "Quý II/2024", "Tháng 10/2024",
"Thường xuyên trong năm 2024", "trước ngày 15/6/2024", "mùng 10 tháng 3 âm lịch".
Public: `TimingKind`, `Timing`, `parse_timing()`. Never raises, never guesses:
text it cannot date gets kind `undatable` (or `conditional`) and a reason.
Not here: working days and lunar arithmetic (workdays.py), reminders (reminders.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = ["TimingKind", "Timing", "parse_timing"]


class TimingKind(StrEnum):
    RANGE = "range"  # a window with a start and an end ("Quý II/2024")
    DATE = "date"  # a single day ("02/12/2024")
    DEADLINE = "deadline"  # done by `end` ("trước ngày 15/6/2024"); `start` may be None
    CONTINUOUS = "continuous"  # ongoing over the span ("Thường xuyên trong năm 2024")
    RECURRING = "recurring"  # repeats by `rule` ("hằng quý"), within start..end when known
    CONDITIONAL = "conditional"  # depends on an event ("sau khi Đề án được phê duyệt")
    UNDATABLE = "undatable"  # no date can be derived ("khi có yêu cầu")


@dataclass(frozen=True, slots=True)
class Timing:
    """A parsed timing. `start`/`end` are inclusive; `text` is the input as NFC."""

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


def parse_timing(text: str, *, year: int | None = None, deadline: bool = False) -> Timing:
    """Parse one timing expression.

    `year` fills in a missing year (the plan's year). With `deadline=True` (the
    column is "Thời hạn hoàn thành") a window means "done by its last day".
    """
    raise NotImplementedError  # filled in by the timing parser work
