"""Gazette text: a national plan as copied from a Công báo PDF (tests/fixtures/
gazette_qd_ttg_2024.txt, written in the style of a Quyết định of the Thủ tướng with its
Kế hoạch and appendix), its page furniture in every form, glued cells, wrapped cells
across page breaks, Arabic and Roman sections, and the same text inside a PDF."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fixtures import pdfgen
from hypothesis import given
from hypothesis import strategies as st

from notifier.importers import parse_text, read_plan
from notifier.importers.cells import split_lines
from notifier.importers.gazette import gazette_lines, is_furniture, is_gazette, split_glued
from notifier.timing import TimingKind

FIXTURE = Path(__file__).parent / "fixtures" / "gazette_qd_ttg_2024.txt"
SEED_2024 = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"

BNG = "Bộ Ngoại giao"
VH = "Bộ Văn hóa, Thể thao và Du lịch"
UBT = "Ủy ban nhân dân các tỉnh, thành phố"
TT = "Bộ Thông tin và Truyền thông"

# Read off the fixture by hand: ref, lead, coordinating, timing, its last day.
ROWS = [
    (
        "1.1",
        BNG,
        "Bộ Văn hóa, Thể thao và Du lịch; các bộ, ngành liên quan",
        "Quý I/2024",
        date(2024, 3, 31),
    ),
    ("1.2", BNG, TT, "Quý II/2024", date(2024, 6, 30)),
    ("1.3", BNG, UBT, "Nhiệm vụ thường xuyên", date(2024, 12, 31)),
    (
        "2.1",
        VH,
        "Bộ Ngoại giao; các cơ quan đại diện Việt Nam ở nước ngoài",
        "Quý III/2024",
        date(2024, 9, 30),
    ),
    ("2.2", TT, BNG, "Tháng 10/2024", date(2024, 10, 31)),
    ("2.3", VH, UBT, "Hằng năm", date(2024, 12, 31)),
    ("2.4", VH, "Ủy ban nhân dân thành phố Hà Nội", "Tháng 11/2024", date(2024, 11, 30)),
    ("3.1", BNG, "Các bộ, ngành, địa phương", "Trước ngày 15/12/2024", date(2024, 12, 14)),
]


@pytest.fixture(scope="module")
def text() -> str:
    return FIXTURE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def plan(text: str):
    return parse_text(text, source=str(FIXTURE))


def cells(plan) -> list[tuple]:
    return [
        (a.ref, a.lead_text, a.coordinating_text, a.timing.text, a.timing.end)
        for a in plan.activities
    ]


def test_every_row_with_its_cells(plan):
    assert cells(plan) == ROWS


def test_contents_wrapped_and_continued_across_a_page_break(plan):
    assert plan.activity("1.1").content == (
        "Tổ chức hội nghị tổng kết 10 năm thực hiện Chiến lược Ngoại giao văn hóa và triển "
        "khai Chiến lược đến năm 2030"
    )
    # 2.3 starts on page 39; its last two lines come after page 40's header and table header.
    assert plan.activity("2.3").content == (
        "Hỗ trợ các địa phương xây dựng hồ sơ đề nghị UNESCO ghi danh di sản văn hóa phi vật "
        "thể, trong đó ưu tiên các di sản của đồng bào dân tộc thiểu số"
    )
    assert plan.activity("2.4").content == "Tổ chức Liên hoan phim quốc tế Hà Nội lần thứ VII"


def test_thoi_han_hoan_thanh_makes_deadlines_and_arabic_sections(plan):
    assert plan.timing_header == "Thời hạn hoàn thành"
    kinds = {a.ref: a.timing.kind for a in plan.activities}
    assert kinds["1.1"] is TimingKind.DEADLINE and kinds["3.1"] is TimingKind.DEADLINE
    assert kinds["1.3"] is TimingKind.CONTINUOUS and kinds["2.3"] is TimingKind.RECURRING
    assert [(a.section, a.section_title) for a in plan.activities][::3] == [
        ("1", "Nâng cao nhận thức về ngoại giao văn hóa"),
        ("2", "Quảng bá hình ảnh đất nước, con người Việt Nam"),
        ("2", "Quảng bá hình ảnh đất nước, con người Việt Nam"),
    ]


def test_decision_metadata_and_report_duties(plan):
    assert (plan.number, plan.date, plan.place, plan.issuer, plan.year) == (
        "95/QĐ-TTg",
        date(2024, 1, 25),
        "Hà Nội",
        "Thủ tướng Chính phủ",
        2024,  # "… đến năm 2030 trong năm 2024": the year, not the horizon
    )
    assert plan.title == (
        "Kế hoạch thực hiện Chiến lược Ngoại giao văn hóa đến năm 2030 trong năm 2024"
    )
    assert [(r.period, r.to) for r in plan.reports] == [("half-year", BNG), ("annual", BNG)]


def test_only_honest_findings(plan):
    """No stray line (furniture and repeated headers are gone); the "Sản phẩm" column
    is said to be unsaved; "Bộ tài liệu" (a product that reads like a unit) is flagged."""
    messages = [p.message for p in plan.problems]
    assert not any("không thuộc hàng nào" in m for m in messages)
    assert any("Sản phẩm" in m for m in messages)
    assert [p.key for p in plan.problems if "không chắc" in p.message] == ["1.2"]


# --- page furniture in its other forms ---------------------------------------------

_HEADER_BLOCK = re.compile(r"CÔNG BÁO/Số 123 \+ 124/Ngày 15-02-2024\n(\d+)\n")


@pytest.mark.parametrize(
    "form",
    [
        lambda n: f"{n}\nCÔNG BÁO/Số 123 + 124/Ngày 15-02-2024\n",  # number first
        lambda n: f"{n} CÔNG BÁO/Số 123 + 124/Ngày 15-02-2024\n",  # even page, one line
        lambda n: f"CÔNG BÁO/Số 123 + 124/Ngày 15-02-2024 {n}\n",  # odd page, one line
        lambda n: f"CÔNG BÁO\nSố 123 + 124\nNgày 15-02-2024\n{n}\n",  # three lines
        lambda n: f"CONG BAO/So 123 + 124/Ngay 15-02-2024\n{n}\n",  # no diacritics
        lambda n: f"- {n} -\n",  # a footer only
        lambda n: f"Trang {n}\n",
    ],
    ids=["number-first", "even", "odd", "three-lines", "ascii", "dash-footer", "trang"],
)
def test_furniture_forms(text: str, plan, form):
    variant = _HEADER_BLOCK.sub(lambda m: form(m.group(1)), text)
    assert variant != text
    assert cells(parse_text(variant)) == ROWS


def test_a_row_number_before_a_page_header_is_kept(text: str):
    """ "3" ends page 40 and is the next row's number, not a page number."""
    variant = text.replace(
        "Tháng 11/2024\n3.\nTổng kết, đánh giá\n3.1\n",
        "Tháng 11/2024\n3.\nTổng kết, đánh giá\n3.1\nCÔNG BÁO/Số 123 + 124/Ngày 15-02-2024\n41\n",
    )
    assert variant != text
    assert cells(parse_text(variant)) == ROWS


def test_furniture_recogniser():
    assert is_furniture("CÔNG BÁO/Số 123 + 124/Ngày 15-02-2024")
    assert is_furniture("- 12 -") and is_furniture("Trang 3/40")
    assert not is_furniture("Công báo điện tử đăng tải Quyết định số 95/QĐ-TTg")
    assert is_gazette(split_lines(FIXTURE.read_text(encoding="utf-8")))


@pytest.mark.skipif(not SEED_2024.exists(), reason="seed documents not present")
def test_plain_text_is_not_gazette():
    assert not is_gazette(split_lines(SEED_2024.read_text(encoding="utf-8")))


# --- glued cells ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "parts"),
    [
        ("Bộ Ngoại giao Ủy ban nhân dân các", ["Bộ Ngoại giao", "Ủy ban nhân dân các"]),
        ("Hồ sơ di sản Hằng năm", ["Hồ sơ di sản", "Hằng năm"]),
        ("Bộ Tư pháp Quý IV/2024", ["Bộ Tư pháp", "Quý IV/2024"]),
        (
            "Báo cáo Thủ tướng Chính phủ Tháng 12/2024",
            ["Báo cáo Thủ tướng Chính phủ", "Tháng 12/2024"],
        ),
        (
            "Sở Ngoại vụ Các cơ quan, đơn vị liên quan",
            ["Sở Ngoại vụ", "Các cơ quan, đơn vị liên quan"],
        ),
        ("Trong năm 2024 Không phát sinh", ["Trong năm 2024", "Không phát sinh"]),
        # one cell each: lists, names containing heads, timings inside sentences
        ("Bộ Quốc phòng, Bộ Công an", ["Bộ Quốc phòng, Bộ Công an"]),
        ("Bộ Công an", ["Bộ Công an"]),
        ("Ban Tuyên giáo Trung ương", ["Ban Tuyên giáo Trung ương"]),
        ("Ủy ban nhân dân thành phố Hà Nội", ["Ủy ban nhân dân thành phố Hà Nội"]),
        ("Chương trình Ngày Việt Nam", ["Chương trình Ngày Việt Nam"]),
        ("tổ chức vào Quý III/2024", ["tổ chức vào Quý III/2024"]),
        ("Quý I/2024", ["Quý I/2024"]),
        ("1.1", ["1.1"]),
        ("II. Nhiệm vụ cụ thể", ["II. Nhiệm vụ cụ thể"]),
    ],
)
def test_split_glued(line: str, parts: list[str]):
    assert split_glued(line) == parts


_WORDS = st.sampled_from(
    [
        "Bộ",
        "Ngoại",
        "giao",
        "Ủy",
        "ban",
        "Quý",
        "II/2024",
        "Hằng",
        "năm",
        "các",
        "và",
        "Sở",
        "Tư",
        "pháp",
        ",",
    ]
)


@given(st.lists(_WORDS, min_size=1, max_size=10))
def test_split_glued_keeps_every_word(words: list[str]):
    line = " ".join(words)
    parts = split_glued(line)
    assert 1 <= len(parts) <= 2 and " ".join(parts) == line


# --- Roman sections and windows; the same text in a PDF ---------------------------------

ROMAN = """CÔNG BÁO/Số 45 + 46/Ngày 10-03-2025
21
PHỤ LỤC
TT
Nội dung
Cơ quan chủ trì
Cơ quan phối hợp
Thời gian thực
hiện
I
NHIỆM VỤ CHUNG
1
Phổ biến Kế hoạch tới các cơ quan,
đơn vị
Bộ Nội vụ Các bộ, ngành
Quý II/2025
2
Kiểm tra việc thực hiện
Bộ Nội vụ
CÔNG BÁO/Số 45 + 46/Ngày 10-03-2025
22
TT
Nội dung
Cơ quan chủ trì
Cơ quan phối hợp
Thời gian thực
hiện
Văn phòng Chính phủ
Quý IV/2025
"""


def test_roman_sections_and_window_timings():
    """Same gazette form, "Thời gian thực hiện": Quý II/2025 is a window here, not a
    deadline; the coordinating cell cut by the page break is the row's own."""
    plan = parse_text(ROMAN, year=2025)
    assert plan.timing_header == "Thời gian thực hiện"
    got = [(a.ref, a.lead_text, a.coordinating_text, a.timing.kind) for a in plan.activities]
    assert got == [
        ("I.1", "Bộ Nội vụ", "Các bộ, ngành", TimingKind.RANGE),
        ("I.2", "Bộ Nội vụ", "Văn phòng Chính phủ", TimingKind.RANGE),
    ]
    assert plan.activity("I.1").content == "Phổ biến Kế hoạch tới các cơ quan, đơn vị"


def test_gazette_text_in_an_unruled_pdf(tmp_path: Path, text: str, plan):
    """A PDF whose table is not ruled gives its text to the gazette reader."""
    path = tmp_path / "cong-bao.pdf"
    path.write_bytes(pdfgen.text_pages(text.splitlines(), per_page=45))
    from_pdf = read_plan(path)
    assert cells(from_pdf) == ROWS
    assert [a.content for a in from_pdf.activities] == [a.content for a in plan.activities]
    assert (from_pdf.number, from_pdf.title, from_pdf.year) == (plan.number, plan.title, 2024)


def test_gazette_lines_only_split_inside_the_table(text: str):
    lines = gazette_lines(split_lines(text))
    texts = [line.text for line in lines]
    assert "Bộ Ngoại giao" in texts and "Ủy ban nhân dân các" in texts
    assert "THỦ TƯỚNG CHÍNH PHỦ" in texts  # body lines untouched
    assert not any(t.startswith("CÔNG BÁO") for t in texts)


_PIECES = st.sampled_from(
    [
        "CÔNG BÁO/Số 1 + 2/Ngày 01-01-2024",
        "CÔNG BÁO",
        "Số 12",
        "12",
        "1.",
        "1.1",
        "II",
        "TT",
        "Nhiệm vụ",
        "Cơ quan chủ",
        "trì",
        "Thời hạn hoàn",
        "thành",
        "Bộ Ngoại giao Ủy ban nhân dân",
        "Hồ sơ Hằng năm",
        "- 3 -",
        "Quý II/2024",
        "",
    ]
)


@given(st.lists(st.one_of(_PIECES, st.text(max_size=30)), max_size=40))
def test_gazette_like_garbage_never_raises(pieces: list[str]):
    plan = parse_text("\n".join(pieces))
    assert all(p.message for p in plan.problems)
