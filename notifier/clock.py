"""The injectable clock. Only the CLI and the daemon create one; the core takes `now`.

Public: `Clock` (protocol), `SystemClock`, `ShiftedClock` (starts at a given instant
and advances with real time: `notifier run --now …`), `FixedClock` (tests, previews).
All instants are timezone-aware; naive input is read as Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = ["TZ", "Clock", "SystemClock", "ShiftedClock", "FixedClock", "aware"]

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def aware(moment: datetime) -> datetime:
    """`moment` with a timezone: naive values are taken as Asia/Ho_Chi_Minh."""
    return moment if moment.tzinfo else moment.replace(tzinfo=TZ)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real time, in Asia/Ho_Chi_Minh."""

    def now(self) -> datetime:
        return datetime.now(TZ)


class ShiftedClock:
    """Starts at `start` and advances with the monotonic clock from there."""

    def __init__(self, start: datetime) -> None:
        self._start = aware(start)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


class FixedClock:
    """Stands still until moved; for tests."""

    def __init__(self, moment: datetime) -> None:
        self.moment = aware(moment)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta
