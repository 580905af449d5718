"""PDF files with a text layer → `Plan`: ruled tables as grids, else the gazette text reader.

Owns `read_pdf(path, *, year=None, progress=None) -> Plan`, `pdf_content(path)` (the
Document) and `pdf_text(path)` (the text layer, for the gazette reader).

How a page is read (pdfplumber over pdfminer):
- ruled tables (page.find_tables: cells bounded by drawn lines) become `GridTable`s,
  one per page and table ("trang 3"), each cell's visual lines kept apart by "\\n"
  (grid.cell_text joins them like wrapped lines); cells covered by a merged cell come
  back empty, as in XLSX;
- the text outside the tables becomes body lines in reading order, visual lines of one
  paragraph joined again (a line reaching the right edge goes on in the next one,
  unless the next opens a list item), page furniture ("CÔNG BÁO/Số …", page numbers)
  dropped — so metadata and report duties are read as from the original text;
- a table on a later page continues the plan's table: the header repeated there is
  skipped, and a first row without a number is the rest of the row the page break cut
  (joined silently, grid.GridTable.continues);
- when no page has a ruled table with a plan header, the extracted text goes to the
  gazette reader (gazette.py), which reads flattened tables and removes furniture.
Bounds: 50 MB and 500 pages at most, 5 million characters of text; encrypted files and
files with no text layer (scans) are refused with what to do instead.
Not here: which rows are what (grid.py, table.py), gazette quirks (gazette.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifier.errors import PlanReadError
from notifier.importers.cells import Line, key
from notifier.importers.gazette import is_furniture, parse_gazette
from notifier.importers.grid import (
    Document,
    GridTable,
    Progress,
    find_grid_header,
    plan_from_document,
)
from notifier.importers.safety import file_size
from notifier.plan import Plan
from notifier.text import clean

if TYPE_CHECKING:  # pdfplumber is imported on first use (_open)
    from pdfplumber.page import Page
    from pdfplumber.pdf import PDF

__all__ = ["MAX_PAGES", "pdf_content", "pdf_text", "read_pdf"]

MAX_PAGES = 500
MAX_CHARS = 5_000_000
_LIST_ITEM = re.compile(r"^(?:[-+•*]\s|\d{1,2}(?:\.\d{1,2})*[.)]\s|[IVXL]{1,5}[.)]\s|[a-zđ]\)\s)")
_FULL_LINE = 0.85  # a line reaching 85 % of the text width is wrapped, not ended


def read_pdf(path: Path, *, year: int | None = None, progress: Progress | None = None) -> Plan:
    """A Plan from a PDF with a text layer; PlanReadError if the file cannot be used."""
    doc = pdf_content(path, progress)
    if any(isinstance(b, GridTable) and find_grid_header(b.rows) is not None for b in doc.blocks):
        return plan_from_document(doc, year=year, progress=progress)
    plan = parse_gazette(pdf_text(path), source=str(path), year=year)
    plan.problems[:0] = doc.problems
    return plan


def pdf_content(path: Path, progress: Progress | None = None) -> Document:
    """The pages as a Document: body lines and ruled tables, in reading order."""
    with _open(path) as pdf:
        pages = _pages(pdf, path)
        doc = Document([], source=str(path))
        chars = 0
        counter = [0]
        for number, page in enumerate(pages, 1):
            try:
                chars += _page(page, number, doc, counter)
            except Exception as exc:  # noqa: BLE001 - pdfminer raises many kinds
                raise _unreadable(path, exc, page=number) from None
            if chars > MAX_CHARS:
                raise PlanReadError(
                    f"Tệp {path.name} có quá nhiều chữ (trên 5 triệu ký tự) để là một kế hoạch; "
                    "không đọc để tránh treo máy."
                )
            page.close()  # drop the page's cached objects: memory stays flat
            if progress is not None:
                progress("Đọc trang PDF", number, len(pages))
        if chars == 0:
            raise PlanReadError(
                f"Tệp {path.name} không có lớp chữ (có lẽ là bản quét ảnh); hãy dùng bản PDF "
                "gốc xuất từ Word, hoặc nhận dạng chữ (OCR) rồi lưu thành .docx."
            )
    return doc


def pdf_text(path: Path) -> str:
    """The whole text layer, page after page (what copying the PDF gives)."""
    with _open(path) as pdf:
        texts = []
        for number, page in enumerate(_pages(pdf, path), 1):
            try:
                texts.append(page.extract_text())
            except Exception as exc:  # noqa: BLE001
                raise _unreadable(path, exc, page=number) from None
            page.close()
    return "\n".join(texts)


def _open(path: Path) -> PDF:
    file_size(path)
    import pdfplumber  # imported here so text-only imports stay light

    try:
        return pdfplumber.open(path)
    except Exception as exc:  # noqa: BLE001 - pdfminer raises many kinds on bad files
        raise _unreadable(path, exc) from None


def _pages(pdf: PDF, path: Path) -> list[Page]:
    try:
        pages = pdf.pages
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(path, exc) from None
    if len(pages) > MAX_PAGES:
        raise PlanReadError(
            f"Tệp {path.name} có {len(pages)} trang (giới hạn {MAX_PAGES}); hãy tách phần "
            "phụ lục kế hoạch ra một tệp riêng."
        )
    return pages


def _unreadable(path: Path, exc: Exception, *, page: int | None = None) -> PlanReadError:
    # pdfplumber wraps pdfminer's errors: name the one inside.
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
    name = type(inner).__name__
    if "Password" in name or "Encrypt" in name:
        return PlanReadError(
            f"Tệp {path.name} được đặt mật khẩu/mã hóa; hãy lưu một bản PDF không mật khẩu."
        )
    where = f" (trang {page})" if page else ""
    return PlanReadError(
        f"Không đọc được {path.name} như tệp PDF{where}: {name}. Hãy mở và xuất lại PDF, hoặc "
        "lưu kế hoạch thành .docx."
    )


def _page(page: Any, number: int, doc: Document, counter: list[int]) -> int:
    """Add one page's blocks to `doc`; return how many characters the page holds."""
    tables = page.find_tables()
    boxes = [t.bbox for t in tables]
    outside = page.filter(lambda obj: not _inside(obj, boxes)) if boxes else page
    raw_lines = outside.extract_text_lines(return_chars=False)
    grids = [[[clean(c or "") for c in row] for row in t.extract()] for t in tables]
    size = len(page.chars)
    items: list[tuple[float, Line | GridTable]] = []
    width = max((t["x1"] for t in raw_lines), default=0.0)
    left = min((t["x0"] for t in raw_lines), default=0.0)
    for top, text in _paragraphs(raw_lines, left, width):
        if is_furniture(text) or (text.isdigit() and len(text) <= 4):
            continue  # running header, page number
        counter[0] += 1
        items.append((top, Line(counter[0], text)))
    for k, (table, rows) in enumerate(zip(tables, grids), 1):
        label = f"trang {number}" if len(tables) == 1 else f"trang {number}, bảng {k}"
        items.append((table.bbox[1], GridTable(rows, label=label, continues=True)))
    items.sort(key=lambda item: item[0])
    doc.blocks.extend(block for _, block in items)
    return size


def _inside(obj: dict[str, Any], boxes: Iterable[tuple[float, float, float, float]]) -> bool:
    if obj.get("object_type") != "char":
        return False
    x = (obj["x0"] + obj["x1"]) / 2
    y = (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)


def _paragraphs(lines: list[dict[str, Any]], left: float, right: float) -> list[tuple[float, str]]:
    """Visual lines joined into paragraphs: a line that reaches the right edge goes on."""
    out: list[tuple[float, str]] = []
    span = max(right - left, 1.0)
    open_line = False
    for line in lines:
        text = clean(line["text"])
        if not text:
            continue
        if open_line and out and not _LIST_ITEM.match(text) and not _heading(text):
            top, before = out[-1]
            out[-1] = (top, f"{before} {text}")
        else:
            out.append((line["top"], text))
        open_line = (line["x1"] - left) / span >= _FULL_LINE and not text.endswith(":")
    return out


def _heading(text: str) -> bool:
    """All-capital lines ("KẾ HOẠCH", "PHỤ LỤC") stand alone."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters) and key(text)[:1].isalpha()
