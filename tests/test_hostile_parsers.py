"""Hostile input to the parsers: crashes, broken invariants and runaway time.

Property tests (hypothesis) over arbitrary and grammar-shaped text for the timing parser,
the plain-text importer (flattened tables and prose), unit cells (units.split) and
schedule files (random TOML). Time is never asserted per call here (tests/fuzz/ measures
it); instead, pathological inputs (10,000-character cells, 100 kB cells, nested and
repeated structures: the shapes that make backtracking regexes or quadratic loops blow
up) are run in a child process that must finish within a generous limit.
The same parsers get coverage-guided fuzzing from tests/fuzz/ (`make fuzz`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
import tomlkit
from feedkit import directory as feed_directory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notifier.errors import Problem, ScheduleError
from notifier.importers import parse_text
from notifier.plan import Plan
from notifier.schedules import load_schedule, valid_slug
from notifier.text import clean
from notifier.timing import INTERNAL_ERROR, Timing, TimingKind, parse_uncached

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
import _harness  # tests/fuzz/_harness.py: the province-sized directory

# Characters plan text should never be trusted with: line breaks of every kind, NUL and
# other controls, bidi overrides and isolates, zero-width marks, a BOM, a lone combining mark.
HOSTILE_CHARS = (
    "\r\n\x00\x0b\x0c\x1b\x7f\x85\u2028\u2029\u202e\u202d\u2066\u2069\u200b\u200d\ufeff\u0301\t"
)
hostile_text = st.text(alphabet=st.sampled_from(HOSTILE_CHARS) | st.characters(), max_size=120)

# Pieces of timing expressions, in every spelling the parser folds, plus separators.
TIMING_WORDS = [
    "Quý", "quý", "QUÝ", "Quy", "Tháng", "tháng", "thang", "năm", "Năm", "ngày", "Ngày", "mùng",
    "trước", "chậm nhất", "đến", "từ", "Từ", "hằng", "hàng", "tuần", "đầu", "cuối", "giữa",
    "Thường xuyên", "trong", "sau khi", "khi có yêu cầu", "âm lịch", "(âm lịch)", "Tết",
    "Nguyên đán", "dịp", "6 tháng", "9 tháng", "đợt", "giai đoạn", "I", "II", "III", "IV", "V",
    "0", "1", "2", "10", "12", "13", "15", "29", "30", "31", "32", "99", "1899", "2024", "2025",
    "2199", "9999", "/", "-", "–", ",", ".", "(", ")", ";", ":", "và", "hoặc", "\u0301",
]  # fmt: skip
timing_like = st.lists(st.sampled_from(TIMING_WORDS), max_size=16).map(" ".join)
# Nested and repeated shapes: "((((Quý II/2024))))", "Quý I, Quý I, …".
nested_timing = st.builds(
    lambda word, depth, times, sep: "(" * depth + sep.join([word] * times) + ")" * depth,
    timing_like, st.integers(0, 60), st.integers(1, 60), st.sampled_from([", ", " - ", "/", " và ", " "]),
)  # fmt: skip
plan_years = st.one_of(st.none(), st.integers(1890, 2210))


def _check_timing(text: str, t: Timing) -> None:
    assert isinstance(t, Timing) and isinstance(t.kind, TimingKind)
    assert INTERNAL_ERROR not in (t.reason or ""), (text, t)  # a caught crash is still a crash
    if t.start is not None and t.end is not None:
        assert t.start <= t.end, (text, t)
    if t.kind in (TimingKind.UNDATABLE, TimingKind.CONDITIONAL):
        assert t.reason
    if t.kind is TimingKind.RECURRING:
        assert t.rule


@settings(max_examples=300, deadline=None)
@given(st.one_of(hostile_text, timing_like, nested_timing), plan_years, st.booleans())
@example("Quý II/2024\r\nSUMMARY:x", 2024, False)
@example("trước ngày 15/6/2024\u202e", None, True)
def test_timing_never_raises_and_start_is_never_after_end(
    text: str, year: int | None, deadline: bool
) -> None:
    _check_timing(text, parse_uncached(text, year=year, deadline=deadline))


# --- the plain-text importer ---------------------------------------------------------------

HEADER = ["Stt", "Nội dung", "Đơn vị chủ trì", "Đơn vị phối hợp", "Thời gian thực hiện", "Kinh phí"]
cell = st.one_of(
    hostile_text,
    timing_like,
    st.sampled_from(["Sở Ngoại vụ", "Các đơn vị liên quan", "I", "1", ""]),
)


@st.composite
def flattened_table(draw: st.DrawFn) -> str:
    """A plan whose appendix is flattened to one cell a line, with hostile cells."""
    lines = ["Số: 34/KH-UBND", "Đắk Lắk, ngày 22 tháng 02 năm 2024", draw(cell), "PHỤ LỤC", *HEADER]
    for n in range(1, draw(st.integers(0, 8)) + 1):
        if draw(st.booleans()):
            lines += [draw(st.sampled_from(["I", "II", "IV", "A"])), draw(cell)]
        lines += [str(n), *draw(st.lists(cell, min_size=1, max_size=7))]
    return "\n".join(lines)


prose = st.lists(st.one_of(cell, st.sampled_from([
    "UBND tỉnh ban hành Kế hoạch số 12/KH-UBND ngày 05/3/2024", "1. Tổ chức hội nghị", "- Giao Sở Ngoại vụ chủ trì",
    "Định kỳ 6 tháng, hằng năm báo cáo gửi Sở Ngoại vụ", "Tin đã đưa", "(Theo Báo Đắk Lắk)",
])), max_size=20).map("\n".join)  # fmt: skip


def _check_plan(plan: Plan) -> None:
    assert isinstance(plan, Plan)
    assert valid_slug(plan.slug), plan.slug  # the schedule file name: never a path
    assert plan.activities or plan.problems, "nothing read and no problem saying why"
    for problem in plan.problems:
        assert isinstance(problem, Problem) and str(problem)
    for a in plan.activities:
        _check_timing(a.timing.text, a.timing)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(flattened_table(), prose, hostile_text), plan_years)
def test_parse_text_never_raises_and_reports_problems_instead(text: str, year: int | None) -> None:
    _check_plan(parse_text(text, source="ke-hoach.txt", year=year))


# --- unit cells ----------------------------------------------------------------------------

DIRECTORY = feed_directory()
KNOWN = {u.name for u in DIRECTORY}
unit_cell = st.lists(
    st.one_of(st.sampled_from(sorted(KNOWN)), hostile_text, st.sampled_from(["và", ",", ";", "/", "(", ")", "UBND"])),
    max_size=12,
).map(" ".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(unit_cell)
def test_units_split_never_raises_and_names_only_known_units(text: str) -> None:
    split = DIRECTORY.split(text, on=date(2024, 3, 1))
    assert set(split.names) <= KNOWN
    assert len(split.warnings) >= len(split.unknown)
    for piece in split.unknown:
        assert piece in clean(text)  # kept as written, never invented


def _closest_reference(directory, name: str) -> str | None:
    """Directory.closest as it was before it skipped hopeless pairs: every pair scored."""
    import difflib

    from notifier.units import _words

    words = _words(clean(name))
    if not words:
        return None
    folded, plain = " ".join(w.key for w in words), " ".join(w.ascii for w in words)
    best, best_score = None, 0.0
    for label, label_ascii, canonical in directory._labels:
        score = max(
            difflib.SequenceMatcher(None, folded, label).ratio(),
            difflib.SequenceMatcher(None, plain, label_ascii).ratio(),
        )
        if score > best_score:
            best, best_score = canonical, score
    return best if best_score >= 0.6 else None


PROVINCE = _harness.province_directory()
near_names = st.builds(
    lambda name, cut, extra: name[:cut] + extra,
    st.sampled_from(sorted(u.name for u in PROVINCE)), st.integers(0, 60), st.text(max_size=12),
)  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(st.one_of(near_names, unit_cell, st.text(max_size=120)))
def test_closest_skips_only_pairs_that_cannot_win(name: str) -> None:
    # The 100 kB fix (upper bounds before ratio()) must not change a single suggestion.
    assert PROVINCE.closest(name) == _closest_reference(PROVINCE, name)


# --- schedule files: random TOML -----------------------------------------------------------

toml_scalar = st.one_of(
    st.text(max_size=30), st.integers(-(2**63), 2**63 - 1), st.booleans(), st.dates(), st.floats(allow_nan=False),
)  # fmt: skip
toml_value = st.recursive(
    toml_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
SCHEDULE_KEYS = ["ref", "content", "timing", "kind", "start", "end", "rule", "lead", "lead_text", "bound",
                 "key_dates", "title", "number", "year", "id", "period", "to", "owners", "source_line"]  # fmt: skip
table = st.dictionaries(
    st.sampled_from(SCHEDULE_KEYS) | st.text(min_size=1, max_size=8), toml_value, max_size=8
)
schedule_doc = st.fixed_dictionaries(
    {}, optional={"plan": table, "activities": st.lists(table, max_size=4), "reports": st.lists(table, max_size=3)}
) | st.dictionaries(st.text(min_size=1, max_size=10), toml_value, max_size=5)  # fmt: skip


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=schedule_doc, garble=st.one_of(st.none(), st.binary(max_size=40), st.integers(0, 400)))
def test_schedule_load_gives_a_plan_or_file_line_problems_never_a_crash(
    tmp_path: Path, doc, garble
) -> None:
    data = tomlkit.dumps(doc).encode("utf-8")
    if isinstance(garble, bytes):
        data += garble  # trailing junk: encodings, NULs, half a table header
    elif isinstance(garble, int):
        data = data[:garble]  # a file cut short while being written
    path = tmp_path / "ke-hoach-thu.toml"
    path.write_bytes(data)
    try:
        plan = load_schedule(path)
    except ScheduleError as exc:
        assert exc.problems and all(isinstance(p, Problem) and str(p) for p in exc.problems)
        return
    assert plan.slug == "ke-hoach-thu"
    for a in plan.activities:
        if a.timing.start and a.timing.end:
            assert a.timing.start <= a.timing.end


# --- pathological sizes and shapes, in a child process with a generous limit ----------------

# Each case runs in a fresh interpreter (no memo, no warm caches) and must finish well
# inside LIMIT seconds; on this machine each takes well under a second. A regex that
# backtracks catastrophically or a quadratic loop takes minutes on these inputs.
LIMIT = 60
PATHOLOGICAL = {
    "timing: 10,000-character cell": ("timing", "Quý II/2024 " * 834),
    "timing: nested parentheses": ("timing", "(" * 5000 + "Quý II/2024" + ")" * 5000),
    "timing: repeated dates": ("timing", "ngày 1/1/2024, " * 700 + "x"),
    "timing: digits and slashes": ("timing", "1/" * 5000 + "!"),
    "timing: spaces and marks": ("timing", " \u0301\u202e" * 3400 + "tháng"),
    "text: 100 kB content cell": ("text", "\n".join(["PHỤ LỤC", *HEADER, "1", "Nội dung " * 11_400,
                                                    "Sở Ngoại vụ", "", "Quý II/2024", "Không"])),
    "text: 100 kB timing cell": ("text", "\n".join(["PHỤ LỤC", *HEADER, "1", "x", "Sở Ngoại vụ", "",
                                                   "hằng năm, " * 10_000, "Không"])),
    "text: 5,000 rows": ("text", "\n".join(["PHỤ LỤC", *HEADER, *(f"{n % 999 + 1}\nx\nSở Ngoại vụ\n\nQuý I\n0"
                                                                 for n in range(5000))])),
    "text: one 100 kB prose line": ("text", "Báo cáo định kỳ " + "hằng năm, 6 tháng và " * 5000 + "gửi Sở"),
    "text: 50,000 short lines": ("text", "- a\n" * 50_000),
    "units: 100 kB cell of unknown names": ("units", "Sở Abc, Hội Xyz " * 6250),
    "units: 100 kB single unknown name": ("units", "Phòngbanxyz" * 9100),
    "units: 10,000 separators": ("units", ", ; / và " * 1250),
    "schedule: 100 kB string": ("schedule", '[plan]\ntitle = "' + "x" * 100_000 + '"\n'),
    "schedule: 2,000 activities": ("schedule", "".join(
        f'[[activities]]\nref = "I.{n}"\nkind = "range"\nstart = 2024-01-01\nend = 2024-01-02\n' for n in range(2000))),
    "schedule: deep arrays": ("schedule", "[plan]\nx = " + "[" * 400 + "]" * 400 + "\n"),
}  # fmt: skip

_CHILD = textwrap.dedent(
    """
    import json, sys, tempfile, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    kind, text = json.loads(sys.stdin.read())
    start = time.perf_counter()
    if kind == "timing":
        from notifier.timing import parse_uncached
        parse_uncached(text, year=2024)
    elif kind == "text":
        from notifier.importers import parse_text
        parse_text(text, year=2024)
    elif kind == "units":
        sys.path.insert(0, sys.argv[1] + "/fuzz")
        from _harness import province_directory
        directory = province_directory()
        start = time.perf_counter()
        directory.split(text)
    else:
        from notifier.errors import ScheduleError
        from notifier.schedules import load_schedule
        path = Path(tempfile.mkdtemp()) / "ke-hoach.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_schedule(path)
        except ScheduleError:
            pass
    print(json.dumps(time.perf_counter() - start))
    """
)


@pytest.mark.parametrize("case", list(PATHOLOGICAL))
def test_pathological_input_finishes(case: str) -> None:
    kind, text = PATHOLOGICAL[case]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT / "tests")],
        input=json.dumps([kind, text]),
        capture_output=True,
        text=True,
        timeout=LIMIT,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("depth", [40, 400, 5000])
def test_deeply_nested_toml_is_a_problem_with_file_and_line_not_a_recursion_error(
    tmp_path: Path, depth: int
) -> None:
    # Before the fix: RecursionError from tomllib (≥ ~1,000 levels) or from the error
    # formatter (~400 levels) escaped load_schedule, and a daemon reload with it.
    path = tmp_path / "ke-hoach.toml"
    path.write_text(
        '[plan]\ntitle = "x"\nbad = ' + "[" * depth + "]" * depth + "\n", encoding="utf-8"
    )
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    assert [(p.file, p.line) for p in caught.value.problems][:1] == [(str(path), 3)]
