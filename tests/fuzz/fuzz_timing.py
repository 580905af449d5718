"""Fuzz notifier.timing.parse_timing: never raises, never an internal error, start ≤ end.

Run: `python tests/fuzz/fuzz_timing.py --runs 10000` (see tests/fuzz/_harness.py).
Input: byte 0 picks the plan year (none or 1890–2144), byte 1 the deadline column, the rest
is the cell as UTF-8. Seeds: every expression of benchmarks/corpus/timing.tsv.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

with _harness.instrument():
    from notifier.timing import INTERNAL_ERROR, Timing, TimingKind, parse_uncached

KINDS = set(TimingKind)


def one_input(data: bytes) -> None:
    year = None if not data or data[0] < 6 else 1890 + data[0] - 6
    deadline = len(data) > 1 and data[1] & 1 == 1
    text = _harness.text_of(data[2:])
    t = parse_uncached(text, year=year, deadline=deadline)
    assert isinstance(t, Timing) and t.kind in KINDS, t
    assert INTERNAL_ERROR not in (t.reason or ""), (text, t)
    if t.start is not None and t.end is not None:
        assert t.start <= t.end, (text, t)
    if t.kind is TimingKind.RECURRING:
        assert t.rule, (text, t)
    if t.kind in (TimingKind.UNDATABLE, TimingKind.CONDITIONAL):
        assert t.reason, (text, t)


def seeds() -> list[bytes]:
    corpus = _harness.ROOT / "benchmarks" / "corpus" / "timing.tsv"
    rows = [
        r
        for r in csv.reader(corpus.open(encoding="utf-8"), delimiter="\t")
        if r and not r[0].startswith("#")
    ]
    out = []
    for row in rows[1:]:
        year = int(row[2]) - 1890 + 6 if row[2].isdigit() and 1890 <= int(row[2]) <= 2139 else 0
        out.append(bytes([year, 1 if row[3] == "1" else 0]) + row[1].encode("utf-8"))
    out.append(b"\x00\x00" + "hằng tháng, ngày 25 ".encode() * 40)
    out.append(b"\x00\x00" + b"(((((((" * 50 + "Quý II/2024".encode())
    return out


if __name__ == "__main__":
    _harness.main("timing", one_input, seeds)
