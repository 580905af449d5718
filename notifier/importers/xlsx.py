"""Excel workbooks (.xlsx, .xlsm) → `Document` → `Plan`.

Owns `read_xlsx(path, *, year=None, progress=None) -> Plan` and `xlsx_document(path)`.
openpyxl reads in read-only mode with cached formula values (data_only), after
safety.check_zip has bounded the package. What a sheet gives:
- the plan's sheet is the one with the largest table under a plan header
  (grid.find_grid_header: the header need not be the first row; rows above it are the
  title); other sheets that also look like plans are reported, not read;
- merged cells (read from the sheet's <mergeCells>, which read-only mode skips) repeat
  their value over the whole range, as DOCX merged cells do: a section title merged
  across the row, a unit merged down several rows;
- values become the text a reader sees: whole numbers without ".0" ("1", not "1.0"),
  thousands grouped with "." when the cell's format groups them, decimals with a
  comma, dates (the timing column typed as Excel dates) as dd/mm/yyyy for the timing
  parser; line breaks inside a cell separate its paragraphs;
- rows are read up to 100,000 and 64 columns, and reading stops after 1,000 empty rows
  (formatting alone can make a sheet claim a million rows).
Problems name the sheet and the Excel row: "ke-hoach.xlsx, trang tính “Phụ lục”:14".
Not here: limits (safety.py), which rows are sections or activities (grid.py, table.py).
"""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import iterparse

from notifier.errors import PlanReadError, Problem
from notifier.importers.grid import (
    Document,
    GridTable,
    Progress,
    find_grid_header,
    plan_from_document,
)
from notifier.importers.safety import check_zip
from notifier.plan import Plan

__all__ = ["read_xlsx", "xlsx_document"]

MAX_ROWS = 100_000
MAX_COLUMNS = 64
EMPTY_RUN = 1_000
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REF = re.compile(r"^([A-Z]{1,3})(\d+)(?::([A-Z]{1,3})(\d+))?$")


def read_xlsx(path: Path, *, year: int | None = None, progress: Progress | None = None) -> Plan:
    """A Plan from an .xlsx workbook; PlanReadError if the file cannot be used at all."""
    return plan_from_document(xlsx_document(path, progress), year=year, progress=progress)


def xlsx_document(path: Path, progress: Progress | None = None) -> Document:
    """The plan sheet as one table (title rows included), other plan-like sheets reported."""
    check_zip(path, "XLSX")
    import openpyxl  # imported here so text-only imports stay light

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on bad files
        raise PlanReadError(
            f"Không mở được {path.name} như bảng tính Excel (.xlsx): {type(exc).__name__}. "
            "Hãy mở bằng Excel/LibreOffice và lưu lại dạng .xlsx."
        ) from None
    try:
        return _document(book, path, progress)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, EOFError) as exc:
        raise PlanReadError(
            f"Bảng tính {path.name} bị hỏng ({type(exc).__name__}); hãy mở bằng Excel và lưu lại."
        ) from None
    finally:
        book.close()


def _document(book: Any, path: Path, progress: Progress | None) -> Document:
    """The sheet with the largest plan table; the other plan-like sheets are reported."""
    doc = Document([], source=str(path))
    sheets = list(book.worksheets)
    found: list[tuple[int, GridTable]] = []
    for index, ws in enumerate(sheets):
        table = _sheet_table(ws, f"trang tính “{ws.title}”", progress, (index, len(sheets)))
        header = find_grid_header(table.rows)
        if header is not None:
            found.append((len(table.rows) - header[0] - header[1], table))
    if not found:  # no header anywhere: the first sheet, so the error names its rows
        doc.blocks.append(_sheet_table(sheets[0], f"trang tính “{sheets[0].title}”", None, None))
        return doc
    chosen = max(found, key=lambda item: item[0])[1]
    doc.blocks.append(chosen)
    for _, table in found:
        if table is not chosen:
            doc.problems.append(
                Problem(
                    f"{table.label[0].upper()}{table.label[1:]} cũng có bảng kế hoạch nhưng chỉ "
                    f"{chosen.label} (bảng lớn nhất) được đọc; hãy nhập trang này thành một tệp "
                    "riêng nếu cần.",
                    file=f"{path}, {table.label}",
                    severity="warning",
                )
            )
    return doc


def _sheet_table(
    ws: Any,
    label: str,
    progress: Progress | None,
    sheet_at: tuple[int, int] | None,
) -> GridTable:
    """A sheet's rows as text, merged ranges filled; empty rows dropped, numbers kept."""
    merges = _merged_ranges(ws)
    rows: list[list[str]] = []
    lines: list[int] = []
    empty = 0
    for excel_row, cells in enumerate(ws.iter_rows(max_col=MAX_COLUMNS), 1):
        if excel_row > MAX_ROWS:
            break
        texts = [_text(c) for c in cells]
        while texts and not texts[-1]:
            texts.pop()
        if not texts:
            empty += 1
            if empty >= EMPTY_RUN and rows:
                break
            continue
        empty = 0
        rows.append(texts)
        lines.append(excel_row)
        if progress is not None and sheet_at is not None and excel_row % 500 == 0:
            progress("Đọc bảng tính", excel_row, max(excel_row, ws.max_row or excel_row))
    if merges:
        _fill_merges(rows, lines, merges)
    return GridTable(rows, lines, label)


def _text(cell: Any) -> str:
    """What a reader sees in the cell, as text."""
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        fmt = getattr(cell, "number_format", "") or ""
        if "#,##0" in fmt and abs(value) >= 1000:
            return f"{value:,}".replace(",", ".")
        return str(value)
    if isinstance(value, float):
        return f"{value:.10g}".replace(".", ",")
    return str(value)


def _merged_ranges(ws: Any) -> list[tuple[int, int, int, int]]:
    """(min_row, min_col, max_row, max_col) of each merged range, from the sheet XML."""
    merged = getattr(ws, "merged_cells", None)
    if merged is not None:  # a writable worksheet knows them already
        return [(r.min_row, r.min_col, r.max_row, r.max_col) for r in merged.ranges]
    out: list[tuple[int, int, int, int]] = []
    with ws._get_source() as src:  # read-only worksheets skip <mergeCells>
        for _, el in iterparse(src):
            if el.tag == f"{_MAIN}mergeCell":
                m = _REF.match(el.get("ref", ""))
                if m and m.group(3):
                    out.append(
                        (int(m.group(2)), _col(m.group(1)), int(m.group(4)), _col(m.group(3)))
                    )
            elif el.tag == f"{_MAIN}row":
                el.clear()  # keep memory flat over a large sheet
    return out


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _fill_merges(
    rows: list[list[str]], lines: list[int], merges: list[tuple[int, int, int, int]]
) -> None:
    """Copy each merged range's top-left value into every cell of the range."""
    where = {line: i for i, line in enumerate(lines)}
    for r1, c1, r2, c2 in merges:
        if c1 > MAX_COLUMNS or r1 not in where:
            continue
        top = rows[where[r1]]
        value = top[c1 - 1] if c1 - 1 < len(top) else ""
        if not value:
            continue
        for r in range(r1, min(r2, r1 + MAX_ROWS) + 1):
            i = where.get(r)
            if i is None:
                continue
            row = rows[i]
            last = min(c2, MAX_COLUMNS)
            if len(row) < last:
                row.extend([""] * (last - len(row)))
            for c in range(c1, last + 1):
                row[c - 1] = value
