"""CSV files → `Document` → `Plan` (named csvfile so it never shadows the stdlib csv).

Owns `read_csv(path, *, year=None, progress=None) -> Plan`, `csv_document(path)` and
`parse_csv(text, source)`.

Facts relied on:
- Excel writes CSV with the list separator of the machine's region: a comma, or a
  semicolon on Vietnamese/European settings; "Văn bản (phân cách bằng tab)" gives tabs.
  csv.Sniffer guesses the dialect from a sample; the guess is kept only if it yields a
  plan header (grid.find_grid_header), else each of ";", ",", tab is tried and the
  one whose header has the most known columns wins — a header is what a plan table
  cannot lack, and a sniffer fooled by commas inside quoted unit lists is common.
- Encodings: UTF-8 with or without BOM ("CSV UTF-8" in Excel); older files in
  Windows-1258 are converted, TCVN3/VNI refused with how to convert (encoding.py).
- A cell may hold line breaks inside quotes; they separate its paragraphs.
Problems carry the line where the record starts: "ke-hoach.csv:12".
Not here: decoding (encoding.py), rows → activities (grid.py, table.py).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from notifier.errors import PlanReadError, Problem
from notifier.importers.encoding import decode_text
from notifier.importers.grid import (
    Document,
    GridTable,
    Progress,
    find_grid_header,
    plan_from_document,
)
from notifier.importers.safety import read_bytes
from notifier.importers.table import role_of
from notifier.plan import Plan

__all__ = ["csv_document", "parse_csv", "read_csv"]

_DELIMITERS = (";", ",", "\t", "|")
_SNIFF_BYTES = 16 * 1024


def read_csv(path: Path, *, year: int | None = None, progress: Progress | None = None) -> Plan:
    """A Plan from a .csv file; PlanReadError if the file cannot be used at all."""
    return plan_from_document(csv_document(path), year=year, progress=progress)


def csv_document(path: Path) -> Document:
    """The CSV's records as one table; a Windows-1258 conversion is a warning."""
    text, problems = decode_text(read_bytes(path), path.name)
    if "\x00" in text:
        raise PlanReadError(f"Tệp {path.name} không phải văn bản CSV (có byte NUL).")
    doc = parse_csv(text, str(path))
    doc.problems[:0] = problems
    return doc


def parse_csv(text: str, source: str = "") -> Document:
    """A Document from CSV text: the dialect that yields a plan header, records as rows."""
    best: tuple[GridTable, int | None] | None = None
    best_score = -1
    candidates = _candidates(text)
    for delimiter in candidates:
        table, broken = _records(text, delimiter)
        score = _header_score(table)
        if score > best_score:
            best, best_score = (table, broken), score
        if score >= 3 and delimiter == candidates[0]:
            break  # the sniffer's guess gives a header: done
    doc = Document([], source=source)
    if best is not None:
        doc.blocks.append(best[0])
        if best[1] is not None:
            doc.problems.append(
                Problem(
                    "Không đọc tiếp được từ dòng này (dấu ngoặc kép không đóng hoặc ô quá "
                    "dài); các dòng sau bị bỏ qua.",
                    file=source,
                    line=best[1],
                )
            )
    return doc


def _candidates(text: str) -> list[str]:
    """The sniffed delimiter first, then the usual ones."""
    sample = text[:_SNIFF_BYTES]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    return [d for d in (sniffed, *_DELIMITERS) if d][:1] + [d for d in _DELIMITERS if d != sniffed]


def _records(text: str, delimiter: str) -> tuple[GridTable, int | None]:
    """Rows with the line each starts on (a quoted cell may span lines), and the line
    where reading broke off, if it did."""
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    start = 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                rows.append([cell.strip() for cell in record])
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error:  # a field over the csv module's size limit: keep what was read
        return GridTable(rows, lines), start
    return GridTable(rows, lines), None


def _header_score(table: GridTable) -> int:
    """Known columns in the table's plan header (0 when there is none)."""
    found = find_grid_header(table.rows)
    if found is None:
        return 0
    header = table.rows[found[0]]
    return sum(1 for cell in header if cell and role_of(cell) is not None)
