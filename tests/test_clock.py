"""notifier.clock: aware instants, and a shifted clock that advances."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from notifier.clock import TZ, FixedClock, ShiftedClock, SystemClock, aware


def test_naive_is_read_as_vietnam_time() -> None:
    moment = aware(datetime(2024, 6, 1, 8, 0))
    assert moment.utcoffset() == timedelta(hours=7)


def test_shifted_clock_starts_at_given_instant_and_advances() -> None:
    clock = ShiftedClock(datetime(2024, 3, 1, 8, 0, tzinfo=TZ))
    first = clock.now()
    time.sleep(0.01)
    second = clock.now()
    assert datetime(2024, 3, 1, 8, 0, tzinfo=TZ) <= first < second < first + timedelta(seconds=5)


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2024, 3, 1, 8, 0))
    assert clock.now() == clock.now()
    clock.advance(timedelta(days=1))
    assert clock.now().day == 2


def test_system_clock_is_aware() -> None:
    assert SystemClock().now().tzinfo is not None
