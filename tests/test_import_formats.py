"""DOCX, XLSX, CSV, PDF and HTML imports: the same plan gives the same activities in every
format, each real-world quirk has a fixture, hostile files are refused within bounds.

Every file is built here (tests/fixtures/builders.py, pdfgen.py) from the 2024 seed as
the text importer reads it (itself checked cell by cell in test_import_text.py), from
the other text fixtures, or from rows written in the same style; none is committed."""

from __future__ import annotations

import html
import io
import itertools
import zipfile
from datetime import date
from pathlib import Path

import pytest
from fixtures import pdfgen
from fixtures.builders import (
    HEADER,
    Spec,
    cp1258_bytes,
    csv_text,
    reorder,
    spec_from_plan,
    split_seed,
    tcvn3_bytes,
    write_csv,
    write_docx,
    write_xlsx,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.errors import PlanReadError
from notifier.importers import parse_text, read_plan, safety
from notifier.importers.csvfile import parse_csv
from notifier.importers.encoding import decode_text, legacy_encoding
from notifier.importers.grid import Document, GridTable, find_grid_header, plan_from_document
from notifier.importers.table import Columns, Role, role_of, rows_from_grid
from notifier.timing import TimingKind

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SEED_2024 = SEEDS / "000_6a99d0bb3ce2a896.txt"
SEED_2019 = SEEDS / "001_645accf3a744a29c.txt"
FIXTURES = Path(__file__).parent / "fixtures"

needs_seed = pytest.mark.skipif(not SEED_2024.exists(), reason="seed documents not present")


# --- the reference: the seed as the text importer reads it ----------------------------


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED_2024.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def text_plan(seed_text: str):
    return parse_text(seed_text, source=str(SEED_2024))


@pytest.fixture(scope="module")
def spec(seed_text: str, text_plan) -> Spec:
    body, heading = split_seed(seed_text)
    return spec_from_plan(text_plan, body, heading)


def activities(plan) -> list[tuple]:
    """What every format must agree on, row by row."""
    return [
        (
            a.ref,
            a.content,
            a.lead_text,
            a.coordinating_text,
            a.timing.text,
            a.timing.kind,
            a.timing.start,
            a.timing.end,
            a.funding,
            a.section,
            a.section_title,
        )
        for a in plan.activities
    ]


def metadata(plan) -> tuple:
    duties = [(r.id, r.period, r.title, r.to, r.owners_text) for r in plan.reports]
    return (plan.number, plan.date, plan.place, plan.issuer, plan.title, plan.year, duties)


def assert_same(plan, reference, *, with_metadata: bool = True) -> None:
    got, want = activities(plan), activities(reference)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w
    if with_metadata:
        assert metadata(plan) == metadata(reference)
    assert plan.timing_header == reference.timing_header


def errors(plan) -> list[str]:
    return [str(p) for p in plan.problems if p.severity == "error"]


# --- the central test: the seed in every format -------------------------------------


@needs_seed
@pytest.mark.parametrize(
    "quirks",
    [
        {},
        # a merged "I. Title" row, the heading in a layout table, the header repeated
        # every 7 rows, unit lists one paragraph per unit, a nested table
        {
            "merged_sections": "row",
            "heading_table": True,
            "repeat_header_every": 7,
            "paragraphs": True,
        },
        {"split_every": 9},  # one table per page, only the first with a header
    ],
    ids=["plain", "merged-heading-repeated-paragraphs", "split-tables"],
)
def test_docx_gives_the_text_import(tmp_path: Path, spec: Spec, text_plan, quirks):
    plan = read_plan(write_docx(spec, tmp_path / "ke-hoach.docx", **quirks))
    assert_same(plan, text_plan)
    assert errors(plan) == []
    assert not any("không có số thứ tự" in p.message for p in plan.problems)


@needs_seed
@pytest.mark.parametrize(
    "quirks",
    [{}, {"dates": True}, {"title_rows": False, "merged_sections": False}],
    ids=["title-merged", "dates", "bare"],
)
def test_xlsx_gives_the_text_import(tmp_path: Path, spec: Spec, text_plan, quirks):
    plan = read_plan(write_xlsx(spec, tmp_path / "ke-hoach.xlsx", **quirks))
    # A workbook carries the table (and its title), not the body: activities only.
    assert_same(plan, text_plan, with_metadata=False)
    assert plan.year == 2024
    assert errors(plan) == []


@needs_seed
@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
@pytest.mark.parametrize("bom", [False, True], ids=["utf8", "utf8-bom"])
def test_csv_gives_the_text_import(tmp_path: Path, spec: Spec, text_plan, delimiter, bom):
    plan = read_plan(write_csv(spec, tmp_path / "ke-hoach.csv", delimiter=delimiter, bom=bom))
    assert_same(plan, text_plan, with_metadata=False)
    assert errors(plan) == []
    # No year in a bare table: taken from the timing cells, and said so.
    assert plan.year == 2024
    assert any(p.key == "plan.year" for p in plan.problems)


@needs_seed
@pytest.mark.parametrize(
    "quirks",
    [{}, {"split_rows": True, "furniture": True}],
    ids=["ruled", "rows-cut-by-pages-gazette-headers"],
)
def test_pdf_gives_the_text_import(tmp_path: Path, spec: Spec, text_plan, quirks):
    data = pdfgen.table_pdf(spec.body, spec.heading, spec.header, spec.rows, **quirks)
    path = tmp_path / "ke-hoach.pdf"
    path.write_bytes(data)
    plan = read_plan(path)
    assert_same(plan, text_plan)
    assert errors(plan) == []
    assert not any("không có số thứ tự" in p.message for p in plan.problems)


@needs_seed
def test_pdf_fixture_really_cuts_rows_at_page_breaks(spec: Spec):
    """The page-break quirk is exercised: some page starts with an unnumbered row."""
    import pdfplumber

    data = pdfgen.table_pdf(spec.body, spec.heading, spec.header, spec.rows, split_rows=True)
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        first_rows = [t[1] for p in pdf.pages[1:] for t in p.extract_tables()[:1] if len(t) > 1]
    assert any(row[0] in ("", None) and any(row[1:]) for row in first_rows)


@needs_seed
def test_html_table_gives_the_text_import(tmp_path: Path, spec: Spec, text_plan):
    path = tmp_path / "ke-hoach.html"
    path.write_text(_html_table_page(spec), encoding="utf-8")
    plan = read_plan(path)
    assert_same(plan, text_plan)


def _html_table_page(spec: Spec) -> str:
    e = html.escape
    rows = ["<tr>" + "".join(f"<th>{e(h)}</th>" for h in spec.header) + "</tr>"]
    for row in spec.rows:
        if row[0] and not row[0][0].isdigit():
            rows.append(f'<tr><td>{e(row[0])}</td><td colspan="5"><b>{e(row[1])}</b></td></tr>')
        else:
            rows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    body = "".join(f"<p>{e(line)}</p>" for line in [*spec.body, *spec.heading])
    return (
        "<html><head><meta charset='utf-8'><script>var a='<table>';</script></head><body>"
        "<nav class='menu'><ul><li>Trang chủ</li><li>Văn bản</li></ul></nav>"
        f"<article>{body}<table border='1'>{''.join(rows)}</table></article>"
        "<footer>Cổng thông tin điện tử tỉnh</footer></body></html>"
    )


def test_html_rowspan_colspan_line_breaks_and_a_layout_table(tmp_path: Path):
    page = """<html><body>
    <table><tr><td>ỦY BAN NHÂN DÂN<br>TỈNH ĐẮK LẮK</td><td>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</td></tr>
    <tr><td>Số: 12/KH-UBND</td><td>Đắk Lắk, ngày 05 tháng 01 năm 2025</td></tr></table>
    <p>KẾ HOẠCH</p><p>THÔNG TIN ĐỐI NGOẠI NĂM 2025</p>
    <table border=1><thead><tr><th rowspan=2>TT</th><th rowspan=2>Nội dung</th>
    <th colspan=2>Đơn vị thực hiện</th><th rowspan=2>Thời gian thực hiện</th></tr>
    <tr><th>Chủ trì</th><th>Phối hợp</th></tr></thead>
    <tbody><tr><td>1</td><td>Tọa đàm<br/>về thông tin đối ngoại</td><td rowspan=2>Sở Ngoại vụ</td>
    <td>Sở Tư pháp</td><td>Quý I/2025</td></tr>
    <tr><td>2</td><td>Hội thảo</td><td>Công an tỉnh</td><td>Tháng 5/2025</td></tr></tbody></table>
    </body></html>"""
    path = tmp_path / "k.htm"
    path.write_text(page, encoding="utf-8")
    plan = read_plan(path)
    assert [
        (a.ref, a.content, a.lead_text, a.coordinating_text, a.timing.text) for a in plan.activities
    ] == [
        ("1", "Tọa đàm về thông tin đối ngoại", "Sở Ngoại vụ", "Sở Tư pháp", "Quý I/2025"),
        ("2", "Hội thảo", "Sở Ngoại vụ", "Công an tỉnh", "Tháng 5/2025"),
    ]
    assert (plan.number, plan.issuer, plan.date) == (
        "12/KH-UBND",
        "UBND tỉnh Đắk Lắk",
        date(2025, 1, 5),
    )


@pytest.mark.skipif(not SEED_2019.exists(), reason="seed documents not present")
def test_html_portal_page_gives_the_prose_import(tmp_path: Path):
    """The 2019 seed is the text of a portal page; as HTML, with the portal's chrome,
    it gives the same plan."""
    text = SEED_2019.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    e = html.escape
    article = "".join(
        f"<li>{e(line.lstrip('• '))}</li>" if line.startswith("•") else f"<p>{e(line)}</p>"
        for line in lines[3:]
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>x</title>"
        "<style>p{margin:0}</style><script>document.write('<p>quảng cáo</p>')</script></head>"
        f"<body><header><div class='logo'>{e(lines[0])}</div><nav><ul><li>Trang chủ</li>"
        "<li>Tin tức &amp; Sự kiện</li></ul></nav><form><input name='q'><button>Tìm</button>"
        "</form></header><div class='breadcrumb'>Trang chủ &raquo; Tin tức</div>"
        f"<div id='content'><div class='category'>{e(lines[1])}</div><h1>{e(lines[2])}</h1>"
        f"{article}</div><aside class='sidebar'><h3>Tin mới</h3><ul><li>Tin khác</li></ul>"
        "</aside><footer>Địa chỉ: 09 Lê Duẩn, TP Buôn Ma Thuột</footer></body></html>"
    )
    path = tmp_path / "tin.html"
    path.write_text(page, encoding="utf-8")
    plan, reference = read_plan(path), parse_text(text)
    assert_same(plan, reference)
    assert len(plan.activities) >= 5
    assert not any("quảng cáo" in a.content or "Trang chủ" in a.content for a in plan.activities)


# --- a plan in the same style: deadlines, Arabic sections, extra columns, any order --


@pytest.fixture(scope="module")
def arabic_plan():
    return read_plan(FIXTURES / "plan_deadline_arabic.txt")


@pytest.fixture(scope="module")
def arabic_spec(arabic_plan) -> Spec:
    text = (FIXTURES / "plan_deadline_arabic.txt").read_text(encoding="utf-8")
    body, heading = split_seed(text.replace("\nTT\n", "\nStt\n"))
    header = ["TT", "Nhiệm vụ", "Đơn vị chủ trì", "Đơn vị phối hợp", "Thời hạn hoàn thành"]
    return spec_from_plan(arabic_plan, body, heading, header)


def test_arabic_deadline_plan_reference(arabic_plan):
    """The text import of the reference: deadlines, rows "1.1" under Arabic sections."""
    assert [a.ref for a in arabic_plan.activities] == ["1.1", "1.2", "2.1", "2.2"]
    assert arabic_plan.timing_is_deadline
    assert {a.timing.kind for a in arabic_plan.activities} == {TimingKind.DEADLINE}


@pytest.mark.parametrize("fmt", ["docx", "xlsx", "csv", "pdf"])
def test_columns_in_any_order_and_wording(tmp_path: Path, arabic_spec, arabic_plan, fmt):
    """Timing before the units, "Cơ quan …" wording, an extra "Sản phẩm" and "Ghi chú":
    roles come from the header, and "Thời hạn hoàn thành" still makes deadlines."""
    spec = reorder(
        arabic_spec,
        [0, 1, 4, 2, 3, 5, 6],
        header=[
            "STT",
            "Nội dung nhiệm vụ",
            "Thời hạn hoàn thành",
            "Cơ quan chủ trì",
            "Cơ quan phối hợp",
            "Sản phẩm",
            "Ghi chú",
        ],
    )
    plan = _write_and_read(spec, tmp_path, fmt, year=2025)
    assert activities(plan) == activities(arabic_plan)
    assert plan.timing_header == "Thời hạn hoàn thành"
    assert any("Sản phẩm" in p.message and "Ghi chú" in p.message for p in plan.problems)


def _write_and_read(spec: Spec, tmp_path: Path, fmt: str, **kw):
    path = tmp_path / f"ke-hoach.{fmt}"
    if fmt == "docx":
        write_docx(spec, path)
    elif fmt == "xlsx":
        write_xlsx(spec, path)
    elif fmt == "csv":
        write_csv(spec, path, delimiter=";")
    else:
        path.write_bytes(pdfgen.table_pdf(spec.body, spec.heading, spec.header, spec.rows))
    return read_plan(path, **kw)


# --- grid quirks, format-independent -------------------------------------------------


def test_header_found_below_a_title_with_two_rows_and_a_numbering_row():
    rows = [
        ["PHỤ LỤC", "", "", "", "", ""],
        ["TT", "Nội dung", "Đơn vị thực hiện", "Đơn vị thực hiện", "Thời gian", "Kinh phí"],
        ["", "", "Chủ trì", "Phối hợp", "", ""],
        ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)"],
        ["1", "Tổ chức hội thảo", "Sở Ngoại vụ", "Sở Tư pháp", "Quý II/2024", "Không phát sinh"],
    ]
    found = find_grid_header(rows)
    assert found is not None
    index, used, columns = found
    assert (index, used) == (1, 3)
    assert columns.roles == (
        Role.NUMBER,
        Role.CONTENT,
        Role.LEAD,
        Role.COORDINATING,
        Role.TIMING,
        Role.FUNDING,
    )
    plan = plan_from_document(Document([GridTable(rows)]), year=2024)
    (a,) = plan.activities
    assert (a.lead_text, a.coordinating_text, a.timing.text) == (
        "Sở Ngoại vụ",
        "Sở Tư pháp",
        "Quý II/2024",
    )


def test_repeated_headers_continued_rows_and_unknown_columns():
    rows = [
        ["Stt", "Căn cứ", "Nội dung", "Đơn vị chủ trì", "Thời gian thực hiện"],
        ["I", "", "Thông tin đối ngoại", "", ""],
        ["1", "KH 09", "Tổ chức hội nghị", "Sở Ngoại vụ", "Quý I/2024"],
        ["Stt", "Căn cứ", "Nội dung", "Đơn vị chủ trì", "Thời gian thực hiện"],
        ["", "", "về công tác đối ngoại", "", ""],
        ["2", "", "Gặp mặt kiều bào", "Sở Ngoại vụ", "Tháng 2/2024"],
    ]
    plan = plan_from_document(Document([GridTable(rows)], source="x.csv"), year=2024)
    assert [(a.ref, a.content) for a in plan.activities] == [
        ("I.1", "Tổ chức hội nghị về công tác đối ngoại"),
        ("I.2", "Gặp mặt kiều bào"),
    ]
    (joined,) = [p for p in plan.problems if "đã nối vào hàng I.1" in p.message]
    assert (joined.file, joined.line, joined.severity) == ("x.csv", 5, "warning")


def test_section_rows_in_all_their_shapes():
    columns = Columns.from_headers(HEADER)
    grid = [
        ["I. Thông tin đối ngoại"] * 6,  # one merged cell, repeated by python-docx
        ["1", "Nội dung một", "Sở Ngoại vụ", "", "Quý I/2024", ""],
        ["", "II. Giao lưu văn hóa", "", "", "", ""],  # the mark in the content column
        ["01", "Nội dung hai", "Sở Ngoại vụ", "", "Quý I/2024", ""],  # "01" is row 1
        ["3", "Hợp tác quốc tế", "", "", "", ""],  # Arabic section: next row is 3.1
        ["3.1", "Nội dung ba", "Sở Ngoại vụ", "", "Quý I/2024", ""],
    ]
    rows, problems = rows_from_grid(grid, columns)
    assert [(r.ref, r.section_title) for r in rows] == [
        ("I.1", "Thông tin đối ngoại"),
        ("II.1", "Giao lưu văn hóa"),
        ("II.3.1", "Hợp tác quốc tế"),
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("header", "role"),
    [
        ("TT", Role.NUMBER),
        ("S.TT", Role.NUMBER),
        ("Số thứ tự", Role.NUMBER),
        ("Nhiệm vụ", Role.CONTENT),
        ("Nội dung công việc", Role.CONTENT),
        ("Cơ quan chủ trì", Role.LEAD),
        ("Đơn vị\nchủ trì", Role.LEAD),
        ("Cơ quan thực hiện", Role.LEAD),
        ("Cơ quan, đơn vị phối hợp", Role.COORDINATING),
        ("Thời hạn hoàn thành", Role.TIMING),
        ("THỜI GIAN THỰC HIỆN", Role.TIMING),
        ("Tiến độ", Role.TIMING),
        ("Sản phẩm", Role.PRODUCT),
        ("Dự kiến kinh phí", Role.FUNDING),
        ("Nguồn kinh phí", Role.FUNDING),
        ("Ghi chú", Role.NOTE),
        ("Căn cứ pháp lý", None),
    ],
)
def test_column_roles(header: str, role):
    assert role_of(header) is role


# --- DOCX quirks -------------------------------------------------------------------


def _docx_with_body_xml(path: Path, tbl_xml: str) -> Path:
    """A .docx whose body is `tbl_xml` (raw WordprocessingML), built with python-docx."""
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    document.add_paragraph("KẾ HOẠCH")
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    document.element.body.append(parse_xml(tbl_xml.replace("<w:tbl>", f"<w:tbl {ns}>", 1)))
    document.save(str(path))
    return path


def _tc(text: str, props: str = "") -> str:
    paras = "".join(f"<w:p><w:r><w:t>{html.escape(t)}</w:t></w:r></w:p>" for t in text.split("\n"))
    return f"<w:tc><w:tcPr>{props}</w:tcPr>{paras or '<w:p/>'}</w:tc>"


def test_docx_vertical_merges_tracked_changes_and_paragraphs(tmp_path: Path):
    header = "".join(_tc(h) for h in ["TT", "Nội dung", "Đơn vị chủ trì", "Thời gian thực hiện"])
    tracked = (
        "<w:tc><w:p><w:r><w:t>Tổ chức </w:t></w:r><w:del><w:r><w:delText>hội thảo</w:delText>"
        "</w:r></w:del><w:ins><w:r><w:t>hội nghị</w:t></w:r></w:ins><w:r><w:tab/><w:t>"
        "quốc tế</w:t></w:r></w:p></w:tc>"
    )
    rows = [
        f"<w:tr>{header}</w:tr>",
        "<w:tr>"
        + _tc("1")
        + tracked
        + _tc("Sở Ngoại vụ", '<w:vMerge w:val="restart"/>')
        + _tc("Quý II/\n2024")
        + "</w:tr>",
        "<w:tr>"
        + _tc("2")
        + _tc("Gặp mặt kiều bào\nđón Tết")
        + _tc("", "<w:vMerge/>")
        + _tc("Tháng 2/2024")
        + "</w:tr>",
    ]
    path = _docx_with_body_xml(tmp_path / "k.docx", f"<w:tbl>{''.join(rows)}</w:tbl>")
    plan = read_plan(path, year=2024)
    assert [(a.content, a.lead_text, a.timing.text) for a in plan.activities] == [
        ("Tổ chức hội nghị quốc tế", "Sở Ngoại vụ", "Quý II/2024"),
        ("Gặp mặt kiều bào đón Tết", "Sở Ngoại vụ", "Tháng 2/2024"),
    ]


@needs_seed
def test_docx_nested_table_is_reported_not_read(tmp_path: Path, spec: Spec, text_plan):
    plan = read_plan(write_docx(spec, tmp_path / "k.docx", nested=True))
    assert_same(plan, text_plan)
    (nested,) = [p for p in plan.problems if "bảng lồng" in p.message]
    assert nested.file.endswith("k.docx, bảng 1") and nested.line == 3


# --- XLSX quirks -------------------------------------------------------------------


def test_xlsx_sheets_numbers_dates_and_vertical_merges(tmp_path: Path):
    import openpyxl

    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Hướng dẫn"
    notes.append(["Bảng tổng hợp nhiệm vụ, không phải kế hoạch"])
    old = book.create_sheet("Năm trước")
    old.append(["TT", "Nhiệm vụ", "Cơ quan chủ trì", "Thời hạn"])
    old.append([1, "Nhiệm vụ cũ", "Sở Ngoại vụ", "Quý I/2023"])
    ws = book.create_sheet("Phụ lục")
    ws.append(["KẾ HOẠCH THÔNG TIN ĐỐI NGOẠI NĂM 2024"])
    ws.append([])
    ws.append(["Stt", "Nội dung", "Đơn vị chủ trì", "Thời gian thực hiện", "Kinh phí (đồng)"])
    ws.append([1.0, "Hội nghị gặp mặt", "Sở Ngoại vụ", date(2024, 12, 2), 150000000])
    ws.append([2, "Tọa đàm", None, "Quý II/2024", 0.5])
    ws.append([3, "Triển lãm ảnh", "Sở Văn hóa, Thể thao và Du lịch", "Tháng 9/2024", None])
    ws.merge_cells("C4:C5")  # one lead for rows 1 and 2
    ws["E4"].number_format = "#,##0"
    ws["D4"].number_format = "dd/mm/yyyy"
    path = tmp_path / "k.xlsx"
    book.save(path)
    plan = read_plan(path)
    assert [(a.ref, a.lead_text, a.timing.text, a.funding) for a in plan.activities] == [
        ("1", "Sở Ngoại vụ", "02/12/2024", "150.000.000"),
        ("2", "Sở Ngoại vụ", "Quý II/2024", "0,5"),
        ("3", "Sở Văn hóa, Thể thao và Du lịch", "Tháng 9/2024", ""),
    ]
    first = plan.activities[0].timing
    assert (first.start, first.end) == (date(2024, 12, 2), date(2024, 12, 2))
    assert plan.year == 2024 and plan.activities[0].line == 4
    (other,) = [p for p in plan.problems if "Năm trước" in p.message]
    assert other.severity == "warning"


# --- CSV quirks and encodings ---------------------------------------------------------

CSV_PLAN = Spec(
    body=[],
    heading=[],
    header=HEADER,
    rows=[
        ["I", "Thông tin đối ngoại", "", "", "", ""],
        [
            "1",
            "Tuyên truyền về Ngoại giao văn hóa",
            "Sở Ngoại vụ",
            "Các cơ quan, đơn vị liên quan",
            "Quý II/2024",
            "Không phát sinh",
        ],
        [
            "2",
            "Hội thảo “Đắk Lắk – điểm đến”; giao lưu",
            "Sở Văn hóa, Thể thao và Du lịch",
            "",
            "Tháng 10/2024",
            "Nguồn xã hội hoá",
        ],
    ],
)


def test_csv_quotes_commas_and_line_breaks_inside_cells(tmp_path: Path):
    rows = [list(r) for r in CSV_PLAN.rows]
    rows[1][1] = "Tuyên truyền\nvề Ngoại giao văn hóa"  # Alt+Enter in an Excel cell
    doc = parse_csv(csv_text(Spec([], [], HEADER, rows)), "k.csv")
    plan = plan_from_document(doc, year=2024)
    assert [a.content for a in plan.activities] == [
        "Tuyên truyền về Ngoại giao văn hóa",
        "Hội thảo “Đắk Lắk - điểm đến”; giao lưu",  # dashes tidied as in text imports
    ]
    assert plan.activities[0].coordinating_text == "Các cơ quan, đơn vị liên quan"
    assert plan.activities[1].line == 5  # the record after a two-line cell starts on line 5


def test_csv_windows_1258_is_converted_with_a_warning(tmp_path: Path):
    path = write_csv(CSV_PLAN, tmp_path / "k.csv", delimiter=";", encoding="cp1258")
    assert legacy_encoding(path.read_bytes()) == "cp1258"
    plan = read_plan(path, year=2024)
    assert next(a.content for a in plan.activities) == "Tuyên truyền về Ngoại giao văn hóa"
    assert any("Windows-1258" in p.message for p in plan.problems)


@pytest.mark.parametrize(
    ("encode", "name"),
    [(tcvn3_bytes, "TCVN3"), (lambda t: _vni_bytes(t), "VNI")],
    ids=["tcvn3", "vni"],
)
def test_csv_tcvn3_and_vni_are_refused_with_how_to_convert(tmp_path: Path, encode, name):
    path = tmp_path / "k.csv"
    path.write_bytes(encode(csv_text(CSV_PLAN)))
    with pytest.raises(PlanReadError, match=name) as caught:
        read_plan(path)
    assert "UTF-8" in caught.value.message and "Unikey" in caught.value.message


# VNI Windows: base letter, then the shape and tone marks as Latin-1 letters.
_VNI = {"ơ": "ô", "ư": "ö", "đ": "ñ", "ă": "a", "â": "a", "ê": "e", "ô": "o"}
_VNI_SHAPE = {"ă": "ê", "â": "â", "ê": "â", "ô": "â"}
_VNI_TONE = {"\u0301": "ù", "\u0300": "ø", "\u0309": "û", "\u0303": "õ", "\u0323": "ï"}


def _vni_bytes(text: str) -> bytes:
    import unicodedata

    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch.lower())
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _VNI_TONE))
        tone = "".join(_VNI_TONE.get(c, "") for c in parts)
        if base in ("ơ", "ư", "đ"):
            out.append(_VNI[base] + tone)
        elif base in _VNI_SHAPE:
            out.append(_VNI[base] + _VNI_SHAPE[base] + tone)
        else:
            out.append(base + tone)
    return "".join(out).encode("latin-1", errors="replace")


def test_decode_text_cases():
    assert decode_text("Kế hoạch".encode(), "a") == ("Kế hoạch", [])
    assert decode_text(b"\xef\xbb\xbf" + "Kế hoạch".encode(), "a")[0] == "Kế hoạch"
    text, problems = decode_text(cp1258_bytes("Kế hoạch Ngoại giao văn hóa"), "a")
    assert text == "Kế hoạch Ngoại giao văn hóa" and problems
    with pytest.raises(PlanReadError, match="không nhận ra bảng mã"):
        decode_text(bytes(range(0x80, 0x100)) * 4, "a")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_garbage_csv_is_a_plan_or_a_clear_error(tmp_path_factory, data: bytes):
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_bytes(data)
    try:
        plan = read_plan(path)
    except PlanReadError as exc:
        assert exc.message
    else:
        assert all(p.message for p in plan.problems)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["", "I", "1", "1.1", "2", "x", "Sở Ngoại vụ", "Quý II/2024"]),
            max_size=7,
        ),
        max_size=12,
    )
)
def test_any_grid_gives_rows_or_problems(grid: list[list[str]]):
    rows, problems = rows_from_grid(grid, Columns.from_headers(HEADER))
    assert all(r.ref for r in rows) and all(p.message for p in problems)


# --- progress -------------------------------------------------------------------------


@needs_seed
@pytest.mark.parametrize("fmt", ["docx", "xlsx", "pdf"])
def test_progress_reports_reach_the_end(tmp_path: Path, spec: Spec, fmt: str):
    calls: list[tuple[str, int, int]] = []
    path = tmp_path / f"k.{fmt}"
    if fmt == "docx":
        write_docx(spec, path)
    elif fmt == "xlsx":
        write_xlsx(spec, path)
    else:
        path.write_bytes(pdfgen.table_pdf(spec.body, spec.heading, spec.header, spec.rows))
    read_plan(path, progress=lambda *call: calls.append(call))
    rows = [c for c in calls if c[0] == "Đọc hàng"]
    assert rows[-1][1] == rows[-1][2] == 31
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(rows))


# --- hostile and broken files -----------------------------------------------------------


def _zip(path: Path, parts: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def test_zip_bomb_is_refused_before_parsing(tmp_path: Path, monkeypatch):
    """A document.xml that inflates 200-fold (the limit is lowered so the test is quick;
    the check reads only the declared sizes, so the real 200 MB limit works the same)."""
    monkeypatch.setattr(safety, "MAX_UNZIPPED_BYTES", 20 * 2**20)
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", b"<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as part:
            chunk = b" " * (1 << 20)
            for _ in range(25):
                part.write(chunk)
    assert path.stat().st_size < 200_000
    with pytest.raises(PlanReadError, match="bom nén"):
        read_plan(path)


def test_too_many_zip_entries_are_refused(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(safety, "MAX_ZIP_ENTRIES", 50)
    path = _zip(tmp_path / "many.xlsx", {f"xl/media/{i}.xml": b"<a/>" for i in range(60)})
    with pytest.raises(PlanReadError, match="60 phần"):
        read_plan(path)


def _billion_laughs() -> bytes:
    """The classic entity bomb: ten levels of ten references, 10⁹ "lol"s if expanded."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [' + "".join(entities) + "]>\n"
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    ).encode()


@pytest.mark.parametrize(
    ("fmt", "part"),
    [
        ("docx", "word/document.xml"),
        ("xlsx", "xl/worksheets/sheet1.xml"),
        ("docx", "customXml/item1.dat"),  # any part that starts like XML, whatever its name
    ],
)
def test_xml_entities_are_refused(tmp_path: Path, spec_file_factory, fmt: str, part: str):
    path = spec_file_factory(fmt)
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts[part] = _billion_laughs()
    evil = _zip(tmp_path / f"evil.{fmt}", parts)
    with pytest.raises(PlanReadError, match="DTD"):
        read_plan(evil)


@pytest.fixture
def spec_file_factory(tmp_path: Path):
    def make(fmt: str) -> Path:
        path = tmp_path / f"ok.{fmt}"
        return write_docx(CSV_PLAN, path) if fmt == "docx" else write_xlsx(CSV_PLAN, path)

    return make


@pytest.mark.parametrize("fmt", ["docx", "xlsx", "pdf"])
@pytest.mark.parametrize("how", ["random", "truncated", "empty-zip"])
def test_broken_files_are_clear_errors(tmp_path: Path, spec_file_factory, fmt: str, how: str):
    path = tmp_path / f"broken.{fmt}"
    if how == "random":
        path.write_bytes(bytes(range(256)) * 20)
    elif how == "truncated":
        good = (
            pdfgen.table_pdf([], [], CSV_PLAN.header, CSV_PLAN.rows)
            if fmt == "pdf"
            else spec_file_factory(fmt).read_bytes()
        )
        path.write_bytes(good[: len(good) // 2])
    else:
        _zip(path, {"hello.txt": b"xin chao"})
    with pytest.raises(PlanReadError) as caught:
        read_plan(path)
    assert path.name in caught.value.message


def test_pdf_without_text_and_over_the_page_limit(tmp_path: Path, monkeypatch):
    page = pdfgen._Page()
    page.line(40, 40, 500, 500)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(pdfgen.build([page]))
    with pytest.raises(PlanReadError, match="không có lớp chữ"):
        read_plan(scan)
    from notifier.importers import pdf as pdf_reader

    monkeypatch.setattr(pdf_reader, "MAX_PAGES", 2)
    long = tmp_path / "long.pdf"
    long.write_bytes(pdfgen.text_pages(["dòng"] * 10, per_page=3))
    with pytest.raises(PlanReadError, match="4 trang"):
        read_plan(long)


def test_encrypted_pdf_is_refused_with_what_to_do(tmp_path: Path):
    """A standard security handler whose user password is not empty."""
    data = pdfgen.text_pages(["Kế hoạch"])
    encrypt = (
        b"/Encrypt << /Filter /Standard /V 1 /R 2 /O <"
        + b"00" * 32
        + b"> /U <"
        + b"11" * 32
        + b"> /P -4 >> /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] "
    )
    path = tmp_path / "mat-khau.pdf"
    path.write_bytes(data.replace(b"trailer\n<< ", b"trailer\n<< " + encrypt))
    with pytest.raises(PlanReadError, match="mật khẩu"):
        read_plan(path)


def test_unsupported_and_oversized(tmp_path: Path, monkeypatch):
    with pytest.raises(PlanReadError, match="docx"):
        read_plan(tmp_path / "cu.doc")
    with pytest.raises(PlanReadError, match="xlsx"):
        read_plan(tmp_path / "cu.xls")
    monkeypatch.setattr(safety, "MAX_FILE_BYTES", 100)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 200)
    with pytest.raises(PlanReadError, match="quá lớn"):
        read_plan(big)
