"""Documents made of paragraphs and tables → `Plan`: the path DOCX, XLSX, CSV, PDF and HTML share.

A format reader only extracts a `Document`: its blocks in reading order, each a body
`Line` (a paragraph, a line of text outside tables) or a `GridTable` (rows of cell
texts, a cell's paragraphs or visual lines separated by "\\n", with each row's address
in the source). `plan_from_document()` does the rest the same way for every format:

- finds the plan's table by its header (`find_grid_header`: roles from table.role_of,
  anywhere in the first rows, a second header row "Chủ trì | Phối hợp" under a merged
  "Đơn vị thực hiện" combined, the "(1) (2) (3)" numbering row skipped); the header
  repeated later (page breaks, tables pasted page by page) is skipped; a table without
  header right after the plan's table, with as many columns, continues it; other
  tables that look like plans are reported, layout tables (the heading "ỦY BAN NHÂN
  DÂN … | CỘNG HÒA …") are read as body text;
- metadata and report duties come from the body text (header.py, duties.py), exactly
  as for plain text; rows above the header (an XLSX title) are part of the heading;
- a cell's paragraphs are joined as the text importer joins wrapped lines
  (table.join_wrapped), and rows go through table.rows_from_grid and row_to_activity;
- when nothing gives the plan's year, the commonest year in the timing cells is used,
  with a warning (a CSV carries only the table).
Problems name where they are: "ke-hoach.docx, bảng 2:14" (row 14 of table 2), "…xlsx,
trang tính “Phụ lục”:9" (Excel row 9), "…csv:12" (line 12).

Public: `Document`, `GridTable`, `Progress`, `find_grid_header()`, `plan_from_document()`,
`activities_from_rows()`, `unsaved_columns()`, `cell_text()`.
Not here: reading any file format (docx.py, xlsx.py, csvfile.py, pdf.py, html.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from notifier.errors import Problem
from notifier.importers.cells import Line, flat_ascii
from notifier.importers.duties import read_duties
from notifier.importers.header import Metadata, plan_slug, read_metadata
from notifier.importers.table import (
    Columns,
    Role,
    Row,
    TimingReader,
    join_wrapped,
    role_of,
    row_to_activity,
    rows_from_grid,
)
from notifier.plan import Activity, Plan
from notifier.text import clean

__all__ = [
    "Document",
    "GridTable",
    "Progress",
    "activities_from_rows",
    "cell_text",
    "find_grid_header",
    "plan_from_document",
    "unsaved_columns",
]

# progress(stage, done, total): "Đọc hàng", 120, 2000. Called often enough for a bar,
# never per cell.
Progress = Callable[[str, int, int], None]

HEADER_SCAN_ROWS = 40
_COLUMN_NO = re.compile(r"^\(?\s*\d{1,2}\s*\)?$")
_YEAR = re.compile(r"(?<!\d)(20\d{2}|19\d{2})(?!\d)")
_UNSAVED = (Role.PRODUCT, Role.NOTE)


@dataclass(slots=True)
class GridTable:
    """A table as cell texts; `lines[i]` is row i's address (its number in `label`)."""

    rows: list[list[str]]
    lines: list[int] = field(default_factory=list)
    label: str = ""  # "bảng 2", "trang tính “Phụ lục”", "trang 3"; "" for the file itself
    # A page of a longer table (PDF): an unnumbered first row finishes the row above.
    continues: bool = False

    def __post_init__(self) -> None:
        if not self.lines:
            self.lines = list(range(1, len(self.rows) + 1))


@dataclass(slots=True)
class Document:
    """What a format reader extracts: blocks in reading order, and what it had to skip."""

    blocks: list[Line | GridTable]
    source: str = ""
    problems: list[Problem] = field(default_factory=list)


def cell_text(cell: str) -> str:
    """A cell's paragraphs (or visual lines) joined as a wrapped cell is."""
    if "\n" not in cell:
        return clean(cell)
    return join_wrapped([p for p in (clean(x) for x in cell.split("\n")) if p])


def find_grid_header(rows: Sequence[Sequence[str]]) -> tuple[int, int, Columns] | None:
    """(index of the header row, rows to skip from there, columns) in the first rows.

    A header row has a content column and either a number column ("Stt", "TT") and
    one more known column, or four known columns; a second header row made only of
    header words ("Chủ trì", "Phối hợp") is combined with it, and a numbering row
    "(1) (2) (3)" or "1 2 3" under it is skipped.
    """
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        texts = [cell_text(c) for c in row]
        roles = [role_of(t) if t else None for t in texts]
        known = {r for r in roles if r is not None}
        if Role.CONTENT not in known:
            continue
        if not (Role.NUMBER in known and len(known) >= 3) and len(known) < 4:
            continue
        used = 1
        if i + 1 < len(rows) and _sub_header(texts, [cell_text(c) for c in rows[i + 1]]):
            sub = [cell_text(c) for c in rows[i + 1]]
            texts = [
                s if s and role_of(s) is not None else t
                for t, s in zip(texts, sub + [""] * (len(texts) - len(sub)))
            ]
            used = 2
        if i + used < len(rows) and _numbering_row([cell_text(c) for c in rows[i + used]]):
            used += 1
        return i, used, Columns.from_headers(texts)
    return None


def _sub_header(top: list[str], sub: list[str]) -> bool:
    """A second header row: only header words, or repeats of the row above (merged)."""
    filled = [(j, s) for j, s in enumerate(sub) if s]
    if not filled:
        return False
    fresh = [s for j, s in filled if not (j < len(top) and top[j] == s)]
    return bool(fresh) and all(role_of(s) is not None and len(s) <= 40 for s in fresh)


def _numbering_row(texts: list[str]) -> bool:
    filled = [t for t in texts if t]
    return len(filled) >= 3 and all(_COLUMN_NO.match(t) for t in filled)


def _header_like(texts: list[str], columns: Columns) -> bool:
    """A repeated header (or its second row, or its numbering row) inside the table."""
    filled = [t for t in texts if t]
    if _numbering_row(texts):
        return True
    if len(filled) < 2:
        return False
    roles = [role_of(t) for t in filled]
    return all(r is not None and len(t) <= 60 for r, t in zip(roles, filled)) and (
        set(roles) <= set(columns.roles)
    )


@dataclass(slots=True)
class _PlanTable:
    columns: Columns
    rows: list[list[str]] = field(default_factory=list)
    addresses: list[tuple[str, int]] = field(default_factory=list)
    header_address: tuple[str, int] = ("", 0)
    width: int = 0


def plan_from_document(
    doc: Document, *, year: int | None = None, progress: Progress | None = None
) -> Plan:
    """A Plan from a document's body text and its plan table(s)."""
    source = doc.source
    problems: list[Problem] = list(doc.problems)
    head: list[Line] = []
    tail: list[Line] = []
    table: _PlanTable | None = None
    joinable = False  # the last block was the plan's table: a headerless table continues it
    for block in doc.blocks:
        if isinstance(block, Line):
            (head if table is None else tail).append(block)
            joinable = False
            continue
        header = find_grid_header(block.rows)
        if table is None and header is not None:
            table = _PlanTable(header[2], width=len(block.rows[header[0]]))
            table.header_address = (block.label, block.lines[header[0]])
            head.extend(_rows_as_lines(block, 0, header[0]))
            _take_rows(table, block, header[0] + header[1])
            joinable = True
        elif table is not None and header is not None and _same_roles(header[2], table.columns):
            tail.extend(_rows_as_lines(block, 0, header[0]))
            _take_rows(table, block, header[0] + header[1])
            joinable = True
        elif table is not None and joinable and _width(block) == table.width:
            _take_rows(table, block, 0)
        elif header is not None:
            problems.append(
                Problem(
                    "Bảng này cũng giống bảng kế hoạch nhưng có cột khác bảng chính; chưa "
                    "được đọc. Nếu cần, hãy tách thành một tệp riêng.",
                    file=_where(source, block.label),
                    line=block.lines[header[0]],
                    severity="warning",
                )
            )
            joinable = False
        else:
            (head if table is None else tail).extend(_rows_as_lines(block, 0, len(block.rows)))
            joinable = False
    body, heading = _split_appendix(head)
    body_text = "\n".join(line.text for line in body)
    meta = read_metadata(body, body_text, year=year, heading=heading)
    plan = plan_shell(meta, source)
    plan.reports, duty_problems = read_duties([*body, *tail])
    problems += [*meta.problems, *duty_problems]
    if table is None:
        problems.append(
            Problem(
                "Không tìm thấy bảng kế hoạch (dòng tiêu đề có “Stt”/“TT”, “Nội dung”/“Nhiệm "
                "vụ”, đơn vị chủ trì, thời gian …).",
                severity="error",
            )
        )
        plan.problems = _located(problems, source)
        return plan
    columns = table.columns
    plan.timing_header = columns.timing_header
    if plan.year is None:
        plan.year = _year_from_timings(table, problems)
    rows, row_problems = rows_from_grid(table.rows, columns, lines=range(len(table.rows)))
    # rows_from_grid numbers rows 0, 1, 2 …: each finding goes back to its row's address,
    # and the table's findings are listed in row order.
    found: list[tuple[int, Problem]] = []
    for p in row_problems:
        at = p.line or 0
        label, line = table.addresses[at]
        found.append((at, replace(p, file=_where(source, label), line=line)))
    ordinals = [row.line or 0 for row in rows]
    for row in rows:
        row.line = table.addresses[row.line or 0][1]
    timing = TimingReader(year=plan.year, deadline=plan.timing_is_deadline)
    plan.activities, activity_problems = activities_from_rows(rows, timing, progress)
    for p, index in activity_problems:
        at = ordinals[index]
        found.append((at, replace(p, file=_where(source, table.addresses[at][0]))))
    found.sort(key=lambda item: item[0])
    problems += [p for _, p in found]
    label, line = table.header_address
    unsaved = unsaved_columns(columns, line)
    if unsaved is not None:
        problems.append(replace(unsaved, file=_where(source, label)))
    if not plan.activities:
        problems.append(
            Problem("Bảng không có hàng nào đọc được.", file=_where(source, label), line=line)
        )
    plan.problems = _located(problems, source)
    return plan


def plan_shell(meta: Metadata, source: str) -> Plan:
    """An empty Plan carrying the metadata."""
    return Plan(
        slug=plan_slug(meta.number, meta.year, meta.title, Path(source).stem if source else ""),
        title=meta.title,
        number=meta.number,
        date=meta.date,
        issuer=meta.issuer,
        place=meta.place,
        year=meta.year,
        source=source,
    )


def activities_from_rows(
    rows: Sequence[Row], timing: TimingReader, progress: Progress | None = None
) -> tuple[list[Activity], list[tuple[Problem, int]]]:
    """Each row → Activity; problems come with the index of their row."""
    activities: list[Activity] = []
    problems: list[tuple[Problem, int]] = []
    total = len(rows)
    step = max(1, total // 100)
    for index, row in enumerate(rows):
        activity, row_problems = row_to_activity(row, timing)
        activities.append(activity)
        problems.extend((p, index) for p in row_problems)
        if progress is not None and (index % step == 0 or index + 1 == total):
            progress("Đọc hàng", index + 1, total)
    return activities, problems


def unsaved_columns(columns: Columns, line: int | None) -> Problem | None:
    """A warning naming the columns (Sản phẩm, Ghi chú) the schedule does not keep."""
    unsaved = [h for h, r in zip(columns.headers, columns.roles) if r in _UNSAVED]
    if not unsaved:
        return None
    return Problem(
        f"Cột {', '.join(f'“{h}”' for h in unsaved)} chưa được lưu vào lịch.",
        line=line,
        severity="warning",
    )


def _take_rows(table: _PlanTable, block: GridTable, start: int) -> None:
    first = True
    number_at = _number_position(table.columns)
    for raw, line in zip(block.rows[start:], block.lines[start:]):
        texts = [cell_text(c) for c in raw]
        if _header_like(texts, table.columns):
            continue
        if first and block.continues and table.rows and _cut_by_page(texts, number_at):
            previous = table.rows[-1]
            for j, text in enumerate(texts):
                if text and j < len(previous):
                    previous[j] = join_wrapped([previous[j], text]) if previous[j] else text
            first = False
            continue
        first = False
        table.rows.append(texts)
        table.addresses.append((block.label, line))


def _number_position(columns: Columns) -> int | None:
    if Role.NUMBER not in columns.roles:
        return None
    return columns.grid_positions[columns.roles.index(Role.NUMBER)]


def _cut_by_page(texts: list[str], number_at: int | None) -> bool:
    """The first row of a page with no number but other cells: the rest of a cut row."""
    if number_at is None or (number_at < len(texts) and texts[number_at]):
        return False
    return any(texts)


def _rows_as_lines(block: GridTable, start: int, stop: int) -> list[Line]:
    """Rows of a layout table (or above a header) as body lines: each cell's paragraphs."""
    out: list[Line] = []
    for raw, line in zip(block.rows[start:stop], block.lines[start:stop]):
        seen: set[str] = set()
        for cell in raw:
            if cell in seen:  # a merged cell repeats its text in every column
                continue
            seen.add(cell)
            out.extend(Line(line, t) for t in (clean(x) for x in cell.split("\n")) if t)
    return out


def _width(block: GridTable) -> int:
    return max((len(r) for r in block.rows), default=0)


def _same_roles(a: Columns, b: Columns) -> bool:
    return a.roles == b.roles


def _split_appendix(head: list[Line]) -> tuple[list[Line], list[Line]]:
    """(body, heading): the heading starts at "PHỤ LỤC" just before the table, if any."""
    for i in range(len(head) - 1, max(-1, len(head) - 9), -1):
        if flat_ascii(head[i].text).startswith("phu luc"):
            return head[:i], head[i:]
    return head, []


def _year_from_timings(table: _PlanTable, problems: list[Problem]) -> int | None:
    """The commonest year written in the timing cells, with a warning; None if none."""
    if Role.TIMING not in table.columns.roles:
        return None
    at = table.columns.grid_positions[table.columns.roles.index(Role.TIMING)]
    years = Counter(int(y) for row in table.rows if at < len(row) for y in _YEAR.findall(row[at]))
    if not years:
        return None
    found = years.most_common(1)[0][0]
    problems.append(
        Problem(
            f"Văn bản không ghi năm của kế hoạch; dùng năm {found}, năm xuất hiện nhiều nhất "
            "trong cột thời gian. Dùng --year nếu không đúng.",
            key="plan.year",
            severity="warning",
        )
    )
    return found


def _where(source: str, label: str) -> str:
    return f"{source}, {label}" if source and label else (label or source)


def _located(problems: list[Problem], source: str) -> list[Problem]:
    """Every problem names its file (body findings come first, then the table's)."""
    return [p if p.file or not source else replace(p, file=source) for p in problems]
