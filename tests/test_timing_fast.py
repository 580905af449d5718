"""notifier.timing_fast: the one-match reading of whole cells changes no answer.

The fast path is only a shortcut: on generated cells built from the pieces its shapes are
made of (and their spellings: upper case, no diacritics, NFD, old tone placement), the
answer with it equals the answer of the full path alone, and whatever it reads is text
that `clean` leaves as it is.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import notifier.timing as timing_module
import notifier.timing_fast as fast_module
from notifier.text import clean, fold_ascii
from notifier.timing import parse_uncached

# Words and values the shapes are made of, a few that look alike but are not, and the
# values that do not exist (quý V, tháng 13, 31/2, năm 1899) so the fallback is exercised.
_PIECES = [
    "Quý", "quý", "QUÝ", "Qúy", "Q", "q", "II", "ii", "IV", "iIi", "V", "I", "1", "2", "4", "5",
    "tháng", "Tháng", "THÁNG", "ngày", "Ngày", "mùng", "mồng", "năm", "Năm", "nam",
    "3", "6", "9", "10", "12", "13", "15", "29", "30", "31", "02", "0", "00", "05", "2/9",
    "2024", "2025", "2023", "1899", "2199", "2198", "1900", "10/4", "15/4/2024", "31/2/2024",
    "29/2/2023", "/", " / ", "-", " - ", "–", ".", ",", ", ", "và", "hoặc", "đến", "tới",
    "từ", "Từ", "trong", "Trong", "vào", "cả", "giai đoạn", "trước", "Trước", "chậm nhất",
    "chậm nhất là", "hạn chót", "không quá", "đến hết", "hoàn thành", "Hoàn thành", "xong",
    "nộp", "báo cáo", "kết thúc", "thời hạn", "dự kiến", "đầu", "giữa", "cuối", "Cuối",
    "thượng", "trung", "hạ", "tuần", "tiên", "cùng", "thứ", "tư", "hai", "nhất", "của",
    "nửa", "sau", "thường xuyên", "Thường xuyên", "nhiệm vụ", "hằng", "hàng", "định kỳ",
    "Tết", "âm lịch", "(", ")", "nếu có", "khi", "x", "Giêng", "Chạp", "nhuận", "rằm", "dịp",
    "Nguyên đán", "Dương lịch", "Trung thu", "giỗ Tổ", "Hùng Vương", "đoan ngọ", "al",
    "(nếu có)", "sau khi", "Dự kiến", "thời gian:", "\n", ";", "*", "…",
]  # fmt: skip
_GLUE = ["", " ", " ", " ", "  "]
pieces = st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_GLUE)), max_size=9).map(
    lambda pairs: "".join(piece + glue for piece, glue in pairs).strip()
)
# Whole cells of the shapes, with values drawn freely.
_num = st.sampled_from(["1", "2", "3", "4", "5", "6", "9", "10", "12", "13", "15", "30", "31", "0",
                        "01", "I", "II", "iii", "IV", "V", "2024", "2025", "1899"])  # fmt: skip
_templates = st.sampled_from([
    "Quý {a}/{y}", "quý {a} năm {y}", "Q{a}/{y}", "Quý {a}, {b}/{y}", "Quý {a} - Quý {b} năm {y}",
    "Quý {a}/{y} - Quý {b}/{z}", "Quý {a} hoặc Quý {b}/{y}", "quý {a} - {y}", "Quý {a}",
    "Tháng {a}/{y}", "tháng {a}, {b}/{y}", "từ tháng {a} đến tháng {b}/{y}", "tháng {a}-{b}",
    "tháng {a}/{y} - tháng {b}/{z}", "{a}/{y}", "{a}/{b}/{y}", "{a}-{b}-{y}", "{a}.{b}.{y}",
    "ngày {a}/{b}", "ngày {a} tháng {b} năm {y}", "ngày {a}-{b}/4/{y}", "ngày {a}, {b}/5/{y}",
    "từ ngày {a}/4 đến ngày {b}/5/{y}", "{a}/4 - {b}/3/{y}", "ngày {a}/4 và {b}/5/{y}",
    "từ {a}/6/{y}", "trước ngày {a}/{b}/{y}", "chậm nhất là ngày {a}/{b}", "hạn chót {a}/{b}/{y}",
    "hoàn thành trong tháng {a}/{y}", "trước quý {a}/{y}", "đến hết năm {y}", "Năm {y}",
    "năm {y} - {z}", "giai đoạn {y}-{z}", "{y}-{z}", "Trong năm", "cả năm {y}",
    "{a} tháng đầu năm {y}", "{a} tháng cuối năm", "nửa đầu năm {y}", "nửa sau năm",
    "đầu tháng {a}/{y}", "giữa quý {a}/{y}", "cuối quý {a}", "cuối năm {y}", "giữa năm",
    "thượng tuần tháng {a}/{y}", "hạ tuần tháng {a}", "tuần đầu tháng {a}", "tuần cuối tháng {a}/{y}",
    "tuần thứ {a} tháng {b}/{y}", "tuần thứ tư của tháng {a}/{y}", "tuần đầu tiên của tháng {a}",
    "Thường xuyên trong năm {y}", "thường xuyên", "nhiệm vụ thường xuyên", "Thường xuyên trong năm",
    "hằng năm", "định kỳ hằng quý", "hằng tháng", "hằng tuần", "hàng năm", "từ tháng {a}, {b}/{y}",
    "xong tháng {a}/{y}", "không quá ngày {a}/{b}/{y}", "từ quý {a} đến quý {b}/{y}",
    "mùng {a} tháng {b} âm lịch", "ngày {a} tháng Chạp năm {y} âm lịch", "tháng {a} nhuận âm lịch {y}",
    "tháng Giêng âm lịch", "tháng {a} âm lịch năm {y}", "năm {y} âm lịch", "ngày {a} tháng {b} âm lịch {y}",
    "Tết Nguyên đán {y}", "Tết", "dịp Tết Nguyên đán {y}", "nhân dịp Tết {y}", "Tết Dương lịch {y}",
    "mùng {a} Tết {y}", "rằm tháng Giêng {y}", "rằm tháng {a}", "Giỗ Tổ Hùng Vương {y}",
    "trước Tết Nguyên đán {y}", "Tết Trung thu {y}", "tết đoan ngọ", "vào dịp Tết {y}", "Tết Âm lịch",
    "Tết Nguyên tiêu {y}", "ngày {a} hằng tháng", "ngày {a} hằng quý", "ngày {a}/{b} hằng năm",
    "thứ Hai hằng tuần", "thứ tư hằng tháng", "chủ nhật hằng tuần", "theo quý", "mỗi tháng",
    "ngày {a} định kỳ hằng tháng", "định kỳ hằng năm", "ngày {a} hằng ngày",
    "khi có yêu cầu", "theo chỉ đạo của UBND tỉnh", "đột xuất", "sau khi Đề án được phê duyệt",
    "khi được phê duyệt", "theo kế hoạch hằng năm", "khi cần thiết", "khi canh tác", "chưa rõ",
    "chưa có", "tùy theo tình hình", "nếu có", "phụ thuộc kinh phí", "theo tháng", "khi phát sinh", "ngày giỗ tổ", "mùng {a} tháng {b} nhuận âm lịch {y}", "tháng Chạp {y}",
    # one condition beside a period (timing_fast._with_condition)
    "Quý {a}/{y} (nếu có)", "Trong năm {y} (nếu có)", "Quý {a}/{y} (sau khi Đề án được phê duyệt)",
    "Sau khi Đề án được phê duyệt, trong Quý {a}/{y}", "khi có kinh phí, tháng {a}/{y}",
    "Thường xuyên trong năm {y} (nếu có)", "hằng năm (khi cần)", "ngày {a} hằng tháng (nếu có)",
    "(nếu có)", "(theo chỉ đạo)", "(hằng năm)", "(Quý {a}/{y})", "trước ngày {a}/{b}/{y} (nếu có)",
    "từ {a}/6/{y} (nếu có)", "tháng {a} - tháng {b}/{y} (nếu có)", "Quý {a}/{y} (nếu có hằng năm)",
    "Quý {a}/{y}(nếu có)", "Quý {a} (nếu có)", "Tết {y} (nếu có)", "(nếu có) Quý {a}/{y}",
    "Quý {a}/{y} (dự kiến)", "Quý {a}/{y} (âm lịch)", "khi có yêu cầu, Quý {a}/{y}",
    "theo chỉ đạo, tháng {a}", "nếu có, tháng {a}/{y} hằng năm", "Quý {a}/{y} (khi cần), ngày {b}",
    "ngày sau khi ký, năm {y}", "Quý {a}/{y} (Quý {b}/{z})", "(nếu có) (khi cần)", "tháng {a}/{b}/{y} (nếu có)",
    # a report period before a recurrence
    "6 tháng, hằng năm", "sáu tháng, hằng quý năm {y}", "{a} tháng, hằng năm", "chín tháng, định kỳ hằng năm",
    "3 tháng, ngày {a} hằng tháng", "trước 6 tháng, hằng năm", "ba tháng, mỗi tuần", "6 tháng, hằng năm (nếu có)",
    "6 tháng, hằng năm giai đoạn {y}-{z}", "chậm nhất 9 tháng, hằng quý", "{a} tháng, thứ hai hằng tuần",
    # lists of three or more periods
    "quý {a}, {b}, IV/{y}", "Quý {a}, {b} và Quý {a}/{y}", "tháng {a}, {b}, {a}/{y}", "tháng {a},{b},12",
    "tháng {a}, tháng {b} hoặc tháng 12", "trước quý {a}, {b}, III năm {y}", "từ tháng {a}, {b}, 5/{y}",
    "Q{a}, Q{b}, Q4 - {y}", "tháng {a}, {b}, 3/{y} (nếu có)", "hoàn thành tháng 1, {a}, {b}/{y}",
    "quý {a}/{y}, {b}, III", "tháng {a}, {b} - 7/{y}", "tháng {a}, {b}, {a} năm {y} - {z}",
    # a lead word, wrapped lines, punctuation at the ends (lead: _read; the rest: read_loose)
    "Dự kiến hoàn thành trước ngày {a}/{b}/{y}", "dự kiến Quý {a}/{y}", "Thời gian: tháng {a}/{y}",
    "thời gian thực hiện: từ tháng {a} đến tháng {b}/{y}", "tổ chức trong quý {a}", "dự kiến thường xuyên",
    "Từ tháng {a} đến\ntháng {b}/{y}", "Quý {a}/{y}\n(nếu có)", "- Quý {a}/{y};", "Quý {a}/{y} .",
    "* năm {y}", "tháng {a}/{y}...", "“Quý {a}/{y}”", "khi cần.", "- hằng năm", "dự kiến: ngày {a}/{b}",
    "{a} - {b} - {y}", "{a} . {b}.{y}",
    # recurrences after a deadline word or over years; missing months and years; backwards
    "trước ngày {a} hằng tháng", "chậm nhất ngày {a}/{b} hằng năm", "trước hằng quý", "từ ngày {a} hằng tháng",
    "đến hết ngày {a} hằng tháng", "trước trong ngày {a} hằng tháng", "hoàn thành ngày {a} hằng tháng",
    "Hằng năm giai đoạn {y}-{z}", "hằng quý năm {y}", "ngày {a} hằng tháng trong năm {y}", "hằng năm {z} - {y}",
    "hằng tháng từ năm {y}", "thứ hai hằng tuần năm {y} đến năm {z}", "hằng năm giai đoạn {y} - {a}",
    "ngày {a}", "mùng {a}", "ngày {a}-{b}", "trước ngày {a}", "ngày {a} và {b}", "tháng {a} - tháng {b}/{y}",
    "từ ngày {a}/{b} đến ngày 1/1/{y}", "quý {a} - quý {b}", "năm {z} - {y}", "Quý {a}, {b}",
    # periods that cannot be, a delay after an event
    "Quý {a} âm lịch", "quý {a}/{y} âm lịch", "Q{a} năm {y} âm lịch", "cuối tháng", "thượng tuần tháng", "giữa quý",
    "trước cuối tháng", "từ cuối quý", "cuối tháng (nếu có)", "Quý 5/{y}", "Quý 12", "Q0/{y}", "QV/{y}",
    "tháng 00/{y}", "tháng {a}{b}/{y}", "quý {a}{b} năm {y}", "Thường xuyên trong năm", "nhiệm vụ thường xuyên",
    "chậm nhất {a} ngày sau khi được phê duyệt", "trong vòng {a} ngày làm việc kể từ khi ký", "{a} tháng sau khi có vốn",
    "trước {a} tuần khi khai mạc", "chậm nhất là {a} năm sau khi xong", "{a} ngày khi có yêu cầu", "{a} ngày khi cần",
    "{a} ngày sau khi có kế hoạch hằng năm", "{a} ngày theo chỉ đạo", "chậm nhất {a} ngày", "{a} ngày ngày sau khi ký",
])  # fmt: skip
cells = st.builds(
    lambda t, a, b, y, z: t.format(a=a, b=b, y=y, z=z),
    _templates, _num, _num, st.sampled_from(["2024", "2025", "2023", "1899", "2199", "0999", "3024"]),
    st.sampled_from(["2025", "2024", "2026"]),
)  # fmt: skip


def _no_marks(text: str) -> str:
    nfd = unicodedata.normalize("NFD", text)
    return "".join(c for c in nfd if not unicodedata.combining(c)).replace("đ", "d").replace("Đ", "D")


_SPELLINGS = {
    "as is": lambda s: s,
    "upper": str.upper,
    "no marks": _no_marks,
    "nfd": lambda s: unicodedata.normalize("NFD", s),
    "old tone": lambda s: s.replace("uý", "úy").replace("oà", "òa"),
    "spaces": lambda s: " " + s.replace(" ", "  ") + " ",
    "en dash": lambda s: s.replace("-", " – "),
}
spelled = st.tuples(st.one_of(cells, cells, cells, pieces), st.sampled_from(sorted(_SPELLINGS))).map(
    lambda pair: _SPELLINGS[pair[1]](pair[0])
)
plan_years = st.one_of(st.none(), st.sampled_from([2024, 1899, 2199]))


def _full_path(text: str, year: int | None, deadline: bool):
    saved = timing_module.fast_read
    timing_module.fast_read = lambda *args: None
    try:
        return parse_uncached(text, year=year, deadline=deadline)
    finally:
        timing_module.fast_read = saved


@settings(max_examples=2500)
@given(spelled, plan_years, st.booleans())
@example("Quý II/2024", None, False)
@example("quý II, III, IV/2024", None, False)
@example("tháng 1, tháng 2 hoặc tháng 3/2024", 1899, True)
@example("quý ii - 2024", None, True)
@example("từ tháng 3, 4/2024", None, False)
@example("tháng 11 - tháng 2/2025", None, False)
@example("ngày 10-15/4", 2024, False)
@example("trước từ 1/6/2024", None, False)
@example("hoàn thành từ 1/6/2024", None, True)
@example("đầu Q2/2024", None, False)
@example("tuần thứ 5 tháng 2/2023", None, False)
@example("hằng năm", None, False)
@example("1 tháng 1", 2024, False)  # a bare day needs "ngày" or "/month"
@example("ngày 30 tháng Chạp năm 2024 âm lịch", None, False)
@example("dịp Tết Nguyên đán 1899", None, False)  # the written year is checked first
@example("13 tháng đầu năm 1899", None, False)
@example("ngày 20 hằng quý", 2024, False)  # a rule that cannot be: the same reason
@example("ngày 1/5/0999", None, False)  # a year outside timing_fast._NUM: the full path reads it
@example("khi " + "có " * 200 + "vốn", None, False)  # too long to be a timing
@example("Quý II/2024 (nếu " + "có " * 200 + "vốn)", None, False)
def test_fast_path_changes_no_answer(text: str, year: int | None, deadline: bool) -> None:
    fast = parse_uncached(text, year=year, deadline=deadline)
    assert fast == _full_path(text, year, deadline)


@settings(max_examples=800)
@given(st.one_of(spelled, st.text(max_size=30)), plan_years)
@example("Từ tháng 3 đến\ntháng 5/2025", None)
@example("Quý II/2024\n(nếu có)", None)
def test_what_the_fast_path_reads_is_clean(text: str, year: int | None) -> None:
    """Timing.text must be `clean(text)`: the fast path answers only for clean text, and
    never for text on several lines (timing.py then skips it: only `read_loose` can)."""
    if fast_module.read(text, year if year else 2024, False) is not None:
        assert clean(text) == text
        assert "\n" not in text


@pytest.mark.parametrize(
    "text",
    ["Quý II/2024", "THÁNG 3, 4/2024", "ngay 10-15/4/2024", "Trước ngày 15/6/2024",
     "Thường xuyên trong năm 2024", "6 tháng đầu năm 2024", "tuần đầu tiên của tháng 5/2024",
     "quý II, III, IV/2024", "tháng 1, 3 và 5/2024", "6 tháng, hằng năm"],
)  # fmt: skip
def test_common_cells_take_the_fast_path(text: str) -> None:
    """The shapes are really read in one match (a test of the shortcut, not of answers)."""
    assert fast_module.read(text, 2024, False) is not None


@pytest.mark.parametrize(
    "text", ["31/2/2024", "tháng 4 nhuận âm lịch 2023", "TUẦN THỨ 5 THÁNG 2/2023", "ngày 20 hằng quý"]
)
def test_periods_that_do_not_exist_take_the_fast_path(text: str) -> None:
    """One period that does not exist is answered in one match, with the full path's reason."""
    found = fast_module.read(text, 2024, False)
    assert found is not None and found[0] == "undatable"
    assert found[4] == _full_path(text, 2024, False).reason


@pytest.mark.parametrize("text", ["Quý II/0999", "tháng 5/0100", "ngày 1/5/0999 - 2/5/2024"])
def test_years_outside_the_number_table_are_left_to_the_full_path(text: str) -> None:
    """timing_fast turns captured digits into numbers by a table of 0–2999; a year it lacks
    is not an error: the fast path declines and the full path names the year."""
    assert fast_module.read(text, None, False) is None
    answer = parse_uncached(text)
    assert answer.kind.value == "undatable" and "năm" in (answer.reason or "")
    assert "lỗi nội bộ" not in (answer.reason or "")


def test_fold_of_matched_words_is_fold_ascii() -> None:
    """`_fold` folds letter by letter: what `fold_ascii` gives for every letter the shapes match."""
    letters = "".join(fast_module._CLASS[c][1:-1] for c in sorted(fast_module._CLASS))
    assert [fast_module._fold(c) for c in letters] == [fold_ascii(c) for c in letters]
    assert fast_module._fold("NGÀY 25 HẰNG THÁNG") == "ngay 25 hang thang"


@settings(max_examples=1000)
@given(spelled)
@example("trước ngày 15/6/2024")
@example("Trong năm 2024")
@example("từ tháng 3 đến tháng 5/2024")
def test_no_cell_is_read_both_with_and_without_a_prefix(text: str) -> None:
    """`read` tries a deadline word or filler first: that order must not matter."""
    prefix, whole = fast_module._PREFIX.get(text[:1]), fast_module._FIRST.get(text[:1])
    found = prefix.match(text) if prefix is not None and whole is not None else None
    if found is not None:
        after = fast_module._AFTER_PREFIX.get(text[found.end() : found.end() + 1])
        if after is not None and after.fullmatch(text, found.end()) is not None:
            assert whole.fullmatch(text) is None


_BOTH_WAYS = [(re.compile(p), fast_module._compile(p)) for _, _, p in fast_module._SHAPES]


@settings(max_examples=300)
@given(spelled)
@example("quý II, III, IV/2024")
@example("tuần đầu tiên của tháng 5/2024")
def test_optional_groups_as_branches_match_alike(text: str) -> None:
    """`_optional_as_branch` changes how a shape is compiled, never what it matches."""
    for written, compiled in _BOTH_WAYS:
        a, b = written.fullmatch(text), compiled.fullmatch(text)
        assert (a and a.groupdict()) == (b and b.groupdict())


def test_patterns_compile_on_first_use_and_then_take_their_place() -> None:
    """Importing compiles none of the large patterns (`notifier timing` answers without
    compiling ~100 of them); the first cell that needs one compiles it once, for every
    character its letter stands for, and later cells find the compiled pattern itself."""
    probe = """
import re
import subprocess
import sys
import notifier.timing_fast as f
tables = (f._FIRST, f._AFTER_PREFIX, f._PLAIN, f._PREFIX)
assert all(isinstance(p, f._Lazy) for t in tables for p in t.values())
assert f._FIRST["Q"] is f._FIRST["q"]
from notifier.timing import parse_uncached
assert parse_uncached("Quý II/2024").end.isoformat() == "2024-06-30"
assert isinstance(f._FIRST["Q"], re.Pattern) and f._FIRST["Q"] is f._FIRST["q"]
assert isinstance(f._FIRST["t"], f._Lazy)
assert f.read("quý III/2024", None, False)[2].isoformat() == "2024-09-30"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr
