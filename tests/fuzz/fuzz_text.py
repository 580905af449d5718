"""Fuzz notifier.importers.parse_text on flattened tables and prose: never raises, and
whatever it cannot read becomes a problem, never a crash or a half-made plan.

Run: `python tests/fuzz/fuzz_text.py --runs 10000` (see tests/fuzz/_harness.py).
Input: byte 0 picks the plan year (none or 1990–2244), the rest is the document as UTF-8.
Seeds: the two seed documents (their opening and their appendix table, 4 KB each) and
the plan fixtures of tests/fixtures/.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

with _harness.instrument():
    from notifier.errors import Problem
    from notifier.importers import parse_text
    from notifier.plan import Plan
    from notifier.schedules import valid_slug
    from notifier.timing import INTERNAL_ERROR


def one_input(data: bytes) -> None:
    year = None if not data or data[0] < 16 else 1990 + data[0] - 16
    text = _harness.text_of(data[1:])
    plan = parse_text(text, source="fuzz.txt", year=year)
    assert isinstance(plan, Plan)
    assert valid_slug(plan.slug), plan.slug  # the schedule file name it would get
    assert plan.activities or plan.problems, "no activity and no problem saying why"
    for p in plan.problems:
        assert isinstance(p, Problem) and str(p)
    for a in plan.activities:
        t = a.timing
        assert INTERNAL_ERROR not in (t.reason or ""), (a.ref, t)
        if t.start is not None and t.end is not None:
            assert t.start <= t.end, (a.ref, t)


def _documents() -> list[str]:
    files = sorted((_harness.ROOT.parent / "shared" / "seeds").glob("*.txt"))
    files += sorted((_harness.ROOT / "tests" / "fixtures").glob("*.txt"))
    return [f.read_text(encoding="utf-8") for f in files]


def seeds() -> list[bytes]:
    out = []
    for doc in _documents():
        raw = doc.encode("utf-8")
        out.append(b"\x00" + raw[:4000])
        stt = doc.find("\nStt\n")
        if stt > 0:
            head = doc[: doc.find("\n", 200) + 1] if len(doc) > 200 else ""
            out.append(b"\x00" + (head + doc[stt + 1 :]).encode("utf-8")[:4000])
    return out


if __name__ == "__main__":
    _harness.main("text", one_input, seeds)
