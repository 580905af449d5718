"""Fuzz notifier.schedules.load_schedule on broken and strange TOML: a Plan or a
ScheduleError with problems, never any other exception.

Run: `python tests/fuzz/fuzz_schedules.py --runs 10000` (see tests/fuzz/_harness.py).
Input: the file's bytes, written to one temporary `<slug>.toml` and loaded from there.
Seeds: a schedule written by write_schedule from the feed tests' plan (every timing kind,
key dates, a report), and the opening 8 KB of the committed seed schedule.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

with _harness.instrument("tomllib"):
    from notifier.errors import Problem, ScheduleError
    from notifier.plan import Plan
    from notifier.schedules import load_schedule, write_schedule

FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-schedules-"))
TARGET = FOLDER / "ke-hoach-fuzz.toml"


def one_input(data: bytes) -> None:
    TARGET.write_bytes(data)
    try:
        plan = load_schedule(TARGET)
    except ScheduleError as exc:
        assert exc.problems, exc
        for p in exc.problems:
            assert isinstance(p, Problem) and str(p)
        return
    assert isinstance(plan, Plan) and plan.slug == "ke-hoach-fuzz"
    for a in plan.activities:
        if a.timing.start and a.timing.end:
            assert a.timing.start <= a.timing.end, a  # the model refuses start > end


def seeds() -> list[bytes]:
    from feedkit import plan

    out = [write_schedule(plan(), Path(tempfile.mkdtemp())).read_bytes()]
    committed = _harness.ROOT / "schedules" / "34-kh-ubnd-2024.toml"
    if committed.exists():
        out.append(committed.read_bytes()[:8192])
    out.append(
        b'[plan]\ntitle = "x"\n[[activities]]\nref = "I.1"\nkind = "range"\nstart = 2024-01-01\n'
    )
    return out


if __name__ == "__main__":
    _harness.main("schedules", one_input, seeds, max_len=8192)
