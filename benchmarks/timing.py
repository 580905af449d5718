"""Timing benchmark: notifier.timing against dateparser 1.5 on the same corpus, same run.

Run: `.venv/bin/python benchmarks/timing.py [--rounds 5]`
Instructions, not time (deterministic on a shared machine): `--passes N` only parses the
distinct expressions N times with our parser, nothing else; under
`PYTHONHASHSEED=0 valgrind --tool=callgrind`, (instructions of --passes 6 − of --passes 1)
/ (5 × 310) is the count per expression (docs/timing.md §11).

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

Throughput (the headline) is measured on the distinct expressions (each (text, plan year,
column) once, so nothing repeats): ours without the result memo (`parse_uncached`: every
expression parsed from scratch) against `dateparser.parse`, in interleaved rounds (ours,
then each peer), taking the median round; times are this process's CPU time, so other
work on a shared machine does not count against either side. Secondary figures: our
parser as one plan import over all rows (memo emptied, repeated cells hit it) and warm.
Target: ours (uncached, distinct) ≥ 50× dateparser.parse; the last line says PASS or FAIL.
Exits 1 if our parser raises or reports an internal error on any row, 2 if it is short of
the target or dates a row wrongly (as benchmarks/import.py does), so `make bench` names it.
Installs dateparser 1.5 with pip if it is missing.
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
    """CPU seconds per expression for `repeat` passes over `cases`."""
    start = time.process_time()
    for _ in range(repeat):
        for case in cases:
            fn(case)
    return (time.process_time() - start) / (repeat * len(cases))


def _import_pass(cases: list[Case]) -> float:
    memo.cache_clear()
    return _pass(lambda c: parse_timing(c.text, year=c.year, deadline=c.deadline), cases)


def _uncached(case: Case) -> Timing:
    return parse_uncached(case.text, year=case.year, deadline=case.deadline)


def measure(distinct: list[Case], cases: list[Case], rounds: int) -> dict[str, float]:
    """Median CPU seconds per expression of each contender over interleaved rounds.

    The headline contenders run on `distinct`; the memo figures on every row of `cases`.
    """
    contenders: dict[str, Callable[[], float]] = {
        "ours": lambda: _pass(_uncached, distinct, 20),
        "dateparser.parse": lambda: _pass(lambda c: dp_parse_span(c.text), distinct),
        "dateparser.search_dates": lambda: _pass(lambda c: dp_search_span(c.text), distinct),
        "ours_import": lambda: statistics.median(_import_pass(cases) for _ in range(20)),
        "ours_warm": lambda: _pass(
            lambda c: parse_timing(c.text, year=c.year, deadline=c.deadline), cases, 50
        ),
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


def distinct_cases(cases: list[Case]) -> list[Case]:
    """Each (text, plan year, column) once, in corpus order."""
    seen: set[tuple[str, int | None, bool]] = set()
    out = []
    for case in cases:
        key = (case.text, case.year, case.deadline)
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, help="only parse the distinct expressions N times")
    args = parser.parse_args()
    if args.passes is not None:  # for callgrind: our parser alone, no dateparser, no timing
        distinct = distinct_cases(with_variants(load_corpus()))
        for _ in range(args.passes):
            for case in distinct:
                _uncached(case)
        print(f"{len(distinct)} expressions × {args.passes} passes")
        return 0
    ensure_dateparser()
    warnings.filterwarnings("ignore")
    import dateparser

    cases = with_variants(load_corpus())
    distinct = distinct_cases(cases)
    with_year = [c for c in distinct if states_year(c)]
    print(
        f"Corpus: {CORPUS.relative_to(ROOT)} + variants: {len(cases)} rows, {len(distinct)} distinct"
    )
    print(f"dateparser {dateparser.__version__}, Python {sys.version.split()[0]}, "
          f"{args.rounds} interleaved rounds (median), CPU time\n")  # fmt: skip

    right, crashes = check_ours(distinct)
    ours_year = sum(ours_right(c, _uncached(c)) for c in with_year)
    peers = {"dateparser.parse": dp_parse_span, "dateparser.search_dates": dp_search_span}
    peer_right = {name: sum(fn(c.text) == c.span for c in distinct) for name, fn in peers.items()}
    peer_year = {name: sum(fn(c.text) == c.span for c in with_year) for name, fn in peers.items()}

    per_expr = measure(distinct, cases, args.rounds)
    base = per_expr["dateparser.parse"]
    print(f"Headline: the {len(distinct)} distinct expressions, each parsed from scratch")
    print(f"{'parser':34} {'expr/s':>10} {'µs/expr':>8} {'× parse':>8} "
          f"{'correct/' + str(len(distinct)):>12} {'stating year/' + str(len(with_year)):>17}")  # fmt: skip
    rows = [
        ("notifier parse_uncached (no memo)", "ours", right, ours_year),
        ("dateparser.parse", "dateparser.parse", peer_right["dateparser.parse"], peer_year["dateparser.parse"]),
        ("dateparser.search_dates", "dateparser.search_dates", peer_right["dateparser.search_dates"], peer_year["dateparser.search_dates"]),
    ]  # fmt: skip
    for label, key, ok, ok_year in rows:
        print(f"{label:34} {1 / per_expr[key]:10,.0f} {per_expr[key] * 1e6:8.1f} "
              f"{base / per_expr[key]:8.1f} {ok:12} {ok_year:17}")  # fmt: skip

    print(f"\nWith the result memo, all {len(cases)} rows (plans repeat cells):")
    for label, key in (("notifier parse_timing, one import", "ours_import"),
                       ("notifier parse_timing, warm memo", "ours_warm")):  # fmt: skip
        print(
            f"{label:34} {1 / per_expr[key]:10,.0f} {per_expr[key] * 1e6:8.1f} {base / per_expr[key]:8.1f}"
        )
    seed = [c for c in cases if c.source.startswith("seed")]
    if seed:
        seed_times = measure_seed(seed, args.rounds)
        print(f"The seed plan's {len(seed)} timing cells as one import (memo emptied per import):")
        for label, key in (
            ("notifier parse_timing", "ours_import"),
            ("dateparser.parse", "dateparser.parse"),
        ):
            print(f"{label:34} {1 / seed_times[key]:10,.0f} {seed_times[key] * 1e6:8.1f} "
                  f"{seed_times['dateparser.parse'] / seed_times[key]:8.1f}")  # fmt: skip

    wrong = [c for c in distinct if not ours_right(c, _uncached(c))]
    for case in wrong[:10]:
        got = _uncached(case)
        print(f"  ours wrong: {case.text!r} → {got.kind.value} {got.start} {got.end}; "
              f"expected {case.kind} {case.start} {case.end}")  # fmt: skip
    if crashes:
        print(f"\nOUR PARSER FAILED on {len(crashes)} expressions:")
        for line in crashes[:20]:
            print("  " + line)
    ratio = base / per_expr["ours"]
    verdict = "PASS" if ratio >= TARGET and not wrong and not crashes else "FAIL"
    print(f"\nnotifier {1 / per_expr['ours']:,.0f} expr/s, dateparser.parse {1 / base:,.0f} expr/s: "
          f"{ratio:.1f}× (uncached, distinct); correct {right}/{len(distinct)} vs "
          f"{peer_right['dateparser.parse']}/{len(distinct)}")  # fmt: skip
    print(f"{verdict}: target ≥ {TARGET:.0f}× dateparser.parse with every row right")
    return 1 if crashes else 0 if verdict == "PASS" else 2


if __name__ == "__main__":
    sys.exit(main())
