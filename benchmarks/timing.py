"""Timing benchmark: notifier.timing against dateparser 1.5 on the same corpus, same run.

Run: `.venv/bin/python benchmarks/timing.py [--rounds 5]`

Corpus: benchmarks/corpus/timing.tsv (the seed plan's 31 timing cells as written, with
their repeats and mixed NFC/NFD; the test table; the issue's examples; deadline-column
rows), each with the span an admin expects, plus one spelling variant of every non-seed
row (NFD, no diacritics, upper case, or extra spaces with en dashes) carrying the same
expectation.

Peers, as a Python user would call them: `dateparser.parse(text, languages=['vi'])`
(one datetime) and `dateparser.search.search_dates(text, languages=['vi'])` (every date
found; its span is earliest..latest). A dateparser answer counts as a correct span only
if both ends are right (a single date is the span d..d; for a deadline the comparison is
end..end); a row that has no date is right only if nothing is found. dateparser has no
"plan year" input, so rows that rely on it can only be right by chance: the count is also
shown for rows that state their year. Our answer counts only if kind, start and end match.

Throughput is timed in interleaved rounds (ours, then each peer) and the median round is
reported, so a busy machine slows all parsers alike. Ours is timed three ways: without
the result memo (`parse_uncached`: every expression parsed from scratch; the headline),
as one import (memo emptied, one pass: repeated cells hit it), and warm.
Target: ours ≥ 50× dateparser.parse. Exits 1 if our parser raises or reports an internal
error on any row. Installs dateparser 1.5 with pip if it is missing.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import statistics
import subprocess
import sys
import time
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "benchmarks" / "corpus" / "timing.tsv"
TARGET = 50.0

from notifier.timing import INTERNAL_ERROR, Timing, parse_timing, parse_uncached
from notifier.timing import _memo as memo


@dataclass(frozen=True, slots=True)
class Case:
    source: str
    text: str
    year: int | None
    deadline: bool
    kind: str
    start: date | None
    end: date | None

    @property
    def span(self) -> tuple[date, date] | None:
        """What a date finder must return: start..end, end..end for a deadline, or None."""
        return (self.start or self.end, self.end) if self.end else None


def ensure_dateparser() -> None:
    try:
        import dateparser  # noqa: F401
    except ImportError:
        print("dateparser missing: pip install 'dateparser==1.5.*'", flush=True)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "dateparser==1.5.*"])
        importlib.invalidate_caches()


def load_corpus(path: Path = CORPUS) -> list[Case]:
    text = path.read_text(encoding="utf-8")
    while text.startswith("#"):  # the header comment
        text = text.split("\n", 1)[1]
    rows = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    return [
        Case(
            r["source"], r["text"], int(r["year"]) if r["year"] else None, r["deadline"] == "1",
            r["kind"], date.fromisoformat(r["start"]) if r["start"] else None,
            date.fromisoformat(r["end"]) if r["end"] else None,
        )
        for r in rows
    ]  # fmt: skip


def _no_diacritics(text: str) -> str:
    stripped = "".join(
        c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)
    )
    return stripped.replace("đ", "d").replace("Đ", "D")


VARIANTS: list[tuple[str, Callable[[str], str]]] = [
    ("NFD", lambda s: unicodedata.normalize("NFD", s)),
    ("không dấu", _no_diacritics),
    ("CHỮ HOA", str.upper),
    ("dấu cách, gạch ngang", lambda s: " " + s.replace(" ", "  ").replace("-", " – ") + " "),
]


def with_variants(cases: list[Case]) -> list[Case]:
    out = list(cases)
    others = [c for c in cases if not c.source.startswith("seed")]
    for k, case in enumerate(others):
        name, change = VARIANTS[k % len(VARIANTS)]
        out.append(Case(f"{case.source} ({name})", change(case.text), *_tail(case)))
    return out


def _tail(case: Case) -> tuple[object, ...]:
    return case.year, case.deadline, case.kind, case.start, case.end


# --- answers -------------------------------------------------------------------------


def ours_right(case: Case, t: Timing) -> bool:
    return (t.kind.value, t.start, t.end) == (case.kind, case.start, case.end)


def dp_parse_span(text: str) -> tuple[date, date] | None:
    import dateparser

    found = dateparser.parse(text, languages=["vi"])
    return (found.date(), found.date()) if found else None


def dp_search_span(text: str) -> tuple[date, date] | None:
    from dateparser.search import search_dates

    found = search_dates(text, languages=["vi"]) or []
    days = [d.date() for _, d in found]
    return (min(days), max(days)) if days else None


def states_year(case: Case) -> bool:
    return any(tok.isdigit() and len(tok) == 4 for tok in case.text.replace("/", " ").split())


# --- timing --------------------------------------------------------------------------


def _pass(fn: Callable[[Case], object], cases: list[Case], repeat: int = 1) -> float:
    """Seconds per expression for `repeat` passes over the corpus."""
    start = time.perf_counter()
    for _ in range(repeat):
        for case in cases:
            fn(case)
    return (time.perf_counter() - start) / (repeat * len(cases))


def _import_pass(cases: list[Case]) -> float:
    memo.cache_clear()
    return _pass(lambda c: parse_timing(c.text, year=c.year, deadline=c.deadline), cases)


def measure(cases: list[Case], rounds: int) -> dict[str, float]:
    """Median seconds per expression of each contender over interleaved rounds."""
    contenders: dict[str, Callable[[], float]] = {
        "ours": lambda: _pass(
            lambda c: parse_uncached(c.text, year=c.year, deadline=c.deadline), cases, 20
        ),
        "ours_import": lambda: statistics.median(_import_pass(cases) for _ in range(20)),
        "ours_warm": lambda: _pass(
            lambda c: parse_timing(c.text, year=c.year, deadline=c.deadline), cases, 50
        ),
        "dateparser.parse": lambda: _pass(lambda c: dp_parse_span(c.text), cases),
        "dateparser.search_dates": lambda: _pass(lambda c: dp_search_span(c.text), cases),
    }
    for run in contenders.values():  # warm-up: dateparser loads its language data lazily
        run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            times[name].append(run())
    return {name: statistics.median(values) for name, values in times.items()}


def measure_seed(cases: list[Case], rounds: int) -> dict[str, float]:
    """A real plan: its cells repeat, and one import parses each distinct cell once."""
    contenders: dict[str, Callable[[], float]] = {
        "ours_import": lambda: statistics.median(_import_pass(cases) for _ in range(200)),
        "dateparser.parse": lambda: _pass(lambda c: dp_parse_span(c.text), cases, 3),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            times[name].append(run())
    return {name: statistics.median(values) for name, values in times.items()}


# --- main ------------------------------------------------------------------------------


def check_ours(cases: list[Case]) -> tuple[int, list[str]]:
    right, crashes = 0, []
    for case in cases:
        try:
            t = parse_uncached(case.text, year=case.year, deadline=case.deadline)
        except Exception as exc:  # noqa: BLE001 - reported, then exit 1
            crashes.append(f"{case.text!r}: {type(exc).__name__}: {exc}")
            continue
        if INTERNAL_ERROR in (t.reason or ""):
            crashes.append(f"{case.text!r}: {t.reason}")
        right += ours_right(case, t)
    return right, crashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ensure_dateparser()
    warnings.filterwarnings("ignore")
    import dateparser

    cases = with_variants(load_corpus())
    distinct = len({(c.text, c.year, c.deadline) for c in cases})
    with_year = [c for c in cases if states_year(c)]
    print(
        f"Corpus: {len(cases)} expressions ({distinct} distinct), {CORPUS.relative_to(ROOT)} + variants"
    )
    print(f"dateparser {dateparser.__version__}, Python {sys.version.split()[0]}\n")

    right, crashes = check_ours(cases)
    peers = {"dateparser.parse": dp_parse_span, "dateparser.search_dates": dp_search_span}
    peer_right = {name: sum(fn(c.text) == c.span for c in cases) for name, fn in peers.items()}
    peer_right_year = {
        name: sum(fn(c.text) == c.span for c in with_year) for name, fn in peers.items()
    }
    ours_year = sum(
        ours_right(c, parse_uncached(c.text, year=c.year, deadline=c.deadline)) for c in with_year
    )

    per_expr = measure(cases, args.rounds)
    base = per_expr["dateparser.parse"]
    rows = [
        ("notifier parse_uncached (no memo)", "ours", f"{right}", f"{ours_year}"),
        ("notifier parse_timing, one import", "ours_import", "", ""),
        ("notifier parse_timing, warm memo", "ours_warm", "", ""),
        ("dateparser.parse", "dateparser.parse", f"{peer_right['dateparser.parse']}", f"{peer_right_year['dateparser.parse']}"),
        ("dateparser.search_dates", "dateparser.search_dates", f"{peer_right['dateparser.search_dates']}", f"{peer_right_year['dateparser.search_dates']}"),
    ]  # fmt: skip
    print(
        f"{'parser':36} {'expr/s':>11} {'× parse':>8} {'µs/expr':>8}  correct/{len(cases)}  stating year/{len(with_year)}"
    )
    for label, key, ok, ok_year in rows:
        rate = 1 / per_expr[key]
        print(
            f"{label:36} {rate:11,.0f} {base / per_expr[key]:8.1f} {per_expr[key] * 1e6:8.1f}  {ok:>11}  {ok_year:>13}"
        )
    seed = [c for c in cases if c.source.startswith("seed")]
    if seed:
        print(
            f"\nThe seed plan's {len(seed)} timing cells as one import (memo emptied per import):"
        )
        seed_times = measure_seed(seed, args.rounds)
        for label, key in (
            ("notifier parse_timing", "ours_import"),
            ("dateparser.parse", "dateparser.parse"),
        ):
            print(
                f"{label:36} {1 / seed_times[key]:11,.0f} {seed_times['dateparser.parse'] / seed_times[key]:8.1f}"
            )
    ratio = base / per_expr["ours"]
    print(
        f"\nRatio without memo: {ratio:.1f}× dateparser.parse, "
        f"{per_expr['dateparser.search_dates'] / per_expr['ours']:.1f}× search_dates "
        f"(target ≥ {TARGET:.0f}×: {'met' if ratio >= TARGET else 'NOT met'}); "
        f"one import: {base / per_expr['ours_import']:.1f}×."
    )
    wrong = [
        c
        for c in cases
        if not ours_right(c, parse_uncached(c.text, year=c.year, deadline=c.deadline))
    ]
    for case in wrong[:10]:
        got = parse_uncached(case.text, year=case.year, deadline=case.deadline)
        print(
            f"  ours wrong: {case.text!r} → {got.kind.value} {got.start} {got.end}; expected {case.kind} {case.start} {case.end}"
        )
    if crashes:
        print(f"\nOUR PARSER FAILED on {len(crashes)} expressions:")
        for line in crashes[:20]:
            print("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
