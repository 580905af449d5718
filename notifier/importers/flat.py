"""Flattened tables: a plan's appendix copied as text, one cell a line.

Owns `find_header()` (where the table starts: "Stt" then header cells, one a line),
`read_flat()` (the rows after it) and `assign_cells()` (which column each line of a row
belongs to). The rows go to table.py like every other format's rows.

How a row is read. Its number line ("7", "1.1", or "7. Nội dung…" glued) starts it;
the lines up to the next number or section mark are its cells, in column order, but a
cell may be missing (the coordinating unit often is) and a cell may wrap over several
lines. So each line is told by what it is (cells.kind_of: timing, funding, unit, other)
and by whether it continues the line before (cells.continues), and a small dynamic
programme picks the best split of the row's lines into the header's columns: one pass
over lines × columns, scoring "this line starts column c" by how well its kind fits c,
"this line continues the cell" by the wrap evidence, and a missing column by how
often that column is empty in real plans. The whole row decides, so "Sở Ngoại vụ" then
"Sở Văn hóa, Thể thao và Du lịch" is lead + coordinating, while a unit list broken
after "và" or a comma is one cell. Rows split with weak evidence get a warning.

Facts relied on: sections are Roman numerals (or letters A-H, or an Arabic number whose
rows are "1.1"), alone on a line or followed by their title; row numbers follow each
other (a gap of up to 3 is accepted with a warning); the header may repeat after page
breaks and may be followed by a line of column numbers "1 2 3 …" or "(1) (2) …".
Not here: the plan's metadata (header.py), column roles and refs (table.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from notifier.errors import Problem
from notifier.importers.cells import (
    LETTER,
    NUMBER,
    NUMBER_GLUED,
    ROMAN,
    ROMAN_TITLED,
    Kind,
    Line,
    continues,
    key,
    kind_of,
    roman_value,
    starts_lower,
)
from notifier.importers.duties import read_duties
from notifier.importers.grid import Progress, activities_from_rows, plan_shell, unsaved_columns
from notifier.importers.header import read_metadata
from notifier.importers.table import (
    Columns,
    Numbering,
    Role,
    Row,
    TimingReader,
    join_wrapped,
    role_of,
)
from notifier.plan import Plan

__all__ = ["FlatTable", "assign_cells", "find_header", "plan_from_flat", "read_flat"]

# Lines that end the table (source notes, signatures) or are page furniture to skip.
_FOOTER = re.compile(
    r"^(?:nguon\s*tra\s*cuu|nguon\s*:|noi\s*nhan|kt\.?\s*chu\s*tich|tm\.?\s*(?:uy\s*ban|ubnd)"
    r"|ghi\s*chu\s*:|https?://|www\.)"
)
_NOISE = re.compile(r"^(?:cong\s*bao\b|trang\s*\d+\s*$)")
_COLUMN_NO = re.compile(r"^\(\s*\d{1,2}\s*\)$")
_TIMING_TAIL = frozenset({"thang", "quy", "nam", "ngay", "tuan", "tu", "den", "dip"})


@dataclass(slots=True)
class FlatTable:
    """What read_flat found: the columns, the rows, and what it could not read."""

    columns: Columns
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    end: int = 0  # index (in the lines given) just after the table


def find_header(
    lines: Sequence[Line], start: int = 0, stop: int | None = None
) -> tuple[int, int, Columns] | None:
    """(index of the "Stt" line, index after the header, columns), or None if no table.

    A header is a number-column cell followed by at least two more recognised header
    cells, one a line; a cell wrapped over two lines ("Đơn vị chủ" / "trì") is joined.
    """
    for i in range(start, len(lines) if stop is None else min(stop, len(lines))):
        if len(lines[i].text) > 12 or role_of(lines[i].text) is not Role.NUMBER:
            continue
        headers, j = _header_cells(lines, i + 1)
        roles = {role_of(h) for h in headers}
        if len(headers) >= 2 and Role.CONTENT in roles:
            columns = Columns.from_headers([lines[i].text, *headers])
            return i, _skip_column_numbers(lines, j, len(columns.roles)), columns
    return None


def _header_cells(lines: Sequence[Line], j: int) -> tuple[list[str], int]:
    headers: list[str] = []
    while j < len(lines):
        text = lines[j].text
        if role_of(text) is not None and role_of(text) is not Role.NUMBER:
            # "Thời hạn hoàn" / "thành": a wrapped word with no role of its own joins.
            if (
                j + 1 < len(lines)
                and starts_lower(lines[j + 1].text)
                and role_of(lines[j + 1].text) is None
                and role_of(f"{text} {lines[j + 1].text}") is role_of(text)
            ):
                headers.append(f"{text} {lines[j + 1].text}")
                j += 2
                continue
            headers.append(text)
            j += 1
        elif (
            j + 1 < len(lines)
            and len(text) < 40
            and continues(text, lines[j + 1].text)  # "Đơn vị chủ" / "trì"
            and role_of(f"{text} {lines[j + 1].text}")
        ):
            headers.append(f"{text} {lines[j + 1].text}")
            j += 2
        else:
            break
    return headers, j


def _skip_column_numbers(lines: Sequence[Line], j: int, width: int) -> int:
    """Skip a line of column numbers under the header: "(1)" "(2)" … or "1" … "width"."""
    k = j
    while k < len(lines) and _COLUMN_NO.match(lines[k].text):
        k += 1
    if k > j:
        return k
    n = 0
    while j + n < len(lines) and lines[j + n].text == str(n + 1):
        n += 1
    return j + n if n >= 3 and n == width else j


# --- scoring a row's split into columns --------------------------------------------

_START = {
    Role.CONTENT: {Kind.OTHER: 0.0, Kind.UNIT: 0.0, Kind.TIMING: 0.0, Kind.FUNDING: 0.0},
    Role.LEAD: {Kind.UNIT: 3.0, Kind.OTHER: -3.0, Kind.TIMING: -6.0, Kind.FUNDING: -6.0},
    Role.TIMING: {Kind.TIMING: 4.0, Kind.OTHER: -5.0, Kind.UNIT: -7.0, Kind.FUNDING: -7.0},
    Role.FUNDING: {Kind.FUNDING: 4.0, Kind.OTHER: -3.0, Kind.UNIT: -6.0, Kind.TIMING: -6.0},
    Role.PRODUCT: {Kind.OTHER: 1.0, Kind.UNIT: -1.0, Kind.TIMING: -2.0, Kind.FUNDING: -2.0},
}
_START[Role.COORDINATING] = _START[Role.LEAD]
_START[Role.NOTE] = _START[Role.PRODUCT]

# How often a column is empty decides what skipping it costs: content never, the
# coordinating unit very often.
_SKIP = {
    Role.CONTENT: -100.0,
    Role.LEAD: -8.0,
    Role.COORDINATING: -1.0,
    Role.TIMING: -5.0,
    Role.FUNDING: -2.0,
    Role.PRODUCT: -1.0,
    Role.NOTE: -0.5,
}

# Continuing a cell without wrap evidence, by the line's own kind.
_JOIN_BARE = {
    Role.CONTENT: {Kind.OTHER: 1.0, Kind.UNIT: -2.0, Kind.TIMING: -5.0, Kind.FUNDING: -5.0},
    Role.LEAD: {Kind.OTHER: -1.0, Kind.UNIT: -3.0, Kind.TIMING: -6.0, Kind.FUNDING: -6.0},
    Role.TIMING: {Kind.OTHER: -2.0, Kind.TIMING: -1.0, Kind.UNIT: -6.0, Kind.FUNDING: -6.0},
    Role.FUNDING: {Kind.OTHER: -1.5, Kind.FUNDING: -2.0, Kind.UNIT: -4.0, Kind.TIMING: -6.0},
    Role.PRODUCT: {Kind.OTHER: 0.0, Kind.UNIT: -2.0, Kind.TIMING: -2.0, Kind.FUNDING: -2.0},
}
_JOIN_BARE[Role.COORDINATING] = _JOIN_BARE[Role.LEAD]
_JOIN_BARE[Role.NOTE] = _JOIN_BARE[Role.PRODUCT]
_JOIN_EVIDENT = 5.0  # beats starting the next column (3) plus skipping an optional one
_WEAK = -0.5  # a start or join scoring below this is "weak evidence"


def _evidence(texts: Sequence[str]) -> tuple[list[bool], list[bool]]:
    """Per line: does it continue the line before (any cell; a timing cell)?"""
    evident = [False] * len(texts)
    timing_tail = [False] * len(texts)
    for i in range(1, len(texts)):
        prev, text = texts[i - 1], texts[i]
        evident[i] = continues(prev, text)
        # "Quý II/" then "2024", "Trước ngày" then "15/6/2024": the timing goes on.
        timing_tail[i] = evident[i] or key(prev.rsplit(" ", 1)[-1]) in _TIMING_TAIL
    return evident, timing_tail


_KINDS = tuple(Kind)


def _join_score(role: Role, evident: bool, kind: Kind) -> float:
    if evident:
        if kind in (Kind.TIMING, Kind.FUNDING) and role not in (Role.TIMING, Role.FUNDING):
            return 1.0 if role is Role.CONTENT else 0.0
        return _JOIN_EVIDENT
    return _JOIN_BARE[role][kind]


# What _tables gives for one tuple of roles (cached in _TABLES).
_Tables = tuple[list[list[float]], list[list[float]], list[list[float]], list[float]]


def _tables(roles: tuple[Role, ...]) -> _Tables:
    """Per column, scores by kind index: start, join with evidence, join without; skips."""
    start = [[_START[r][k] for k in _KINDS] for r in roles]
    join_ev = [[_join_score(r, True, k) for k in _KINDS] for r in roles]
    join_bare = [[_join_score(r, False, k) for k in _KINDS] for r in roles]
    return start, join_ev, join_bare, [_SKIP[r] for r in roles]


_TABLES: dict[tuple[Role, ...], _Tables] = {}


def assign_cells(texts: Sequence[str], roles: Sequence[Role]) -> tuple[list[int], bool]:
    """Column index (into `roles`) for each line of one row, and whether every step was sure.

    Columns are filled in order; each line either continues the current cell or starts a
    later column, skipping the ones between. Runs in O(lines × columns²).
    """
    n, k = len(texts), len(roles)
    if n == 0 or k == 0:
        return [], n == 0
    kinds = [kind_of(t) for t in texts]
    evident, timing_tail = _evidence(texts)
    for i in range(n - 1):
        # A cell's opening words wrapped alone ("Lồng ghép trong" / "kinh phí …",
        # "Nhiệm vụ thường" / "xuyên"): the line is what it is together with its rest.
        if kinds[i] is Kind.OTHER and evident[i + 1]:
            kinds[i] = kind_of(f"{texts[i]} {texts[i + 1]}")
    roles = tuple(roles)
    tables = _TABLES.get(roles)
    if tables is None:
        tables = _TABLES[roles] = _tables(roles)
    start, join_ev, join_bare, skip = tables
    timing_cols = [r is Role.TIMING for r in roles]
    kx = [_KINDS.index(kd) for kd in kinds]
    neg = float("-inf")
    skip_before = [0.0] * (k + 1)  # skip_before[c] = cost of skipping columns 0..c-1
    for c in range(k):
        skip_before[c + 1] = skip_before[c] + skip[c]
    best = [[skip_before[c] + start[c][kx[0]] for c in range(k)]]
    back = [[-1] * k]
    for i in range(1, n):
        ki, prev_row = kx[i], best[i - 1]
        row, arrow = [neg] * k, [-1] * k
        for c in range(k):
            ev = timing_tail[i] if timing_cols[c] else evident[i]
            score = prev_row[c] + (join_ev if ev else join_bare)[c][ki]
            arg = c
            begin = start[c][ki]
            skipped = 0.0
            for p in range(c - 1, -1, -1):  # start column c after column p
                candidate = prev_row[p] + skipped + begin
                if candidate > score:
                    score, arg = candidate, p
                skipped += skip[p]
            row[c], arrow[c] = score, arg
        best.append(row)
        back.append(arrow)
    last = max(range(k), key=lambda c: best[n - 1][c] + skip_before[k] - skip_before[c + 1])
    cols = [0] * n
    c = last
    for i in range(n - 1, -1, -1):
        cols[i] = c
        c = back[i][c] if i else c
    # Sure unless some line was placed against the evidence (a weak start or join).
    for i, c in enumerate(cols):
        if roles[c] is Role.CONTENT:
            continue
        if i and cols[i - 1] == c:
            ev = timing_tail[i] if timing_cols[c] else evident[i]
            score = (join_ev if ev else join_bare)[c][kx[i]]
        else:
            score = start[c][kx[i]]
        if score < _WEAK:
            return cols, False
    return cols, True


# --- the table -----------------------------------------------------------------


@dataclass(slots=True)
class _Open:
    """The block being collected: a row (number) or a section title."""

    number: str | None
    line: int
    texts: list[Line] = field(default_factory=list)
    ref: str = ""
    section: str = ""
    mark: str = ""


def read_flat(lines: Sequence[Line], header: tuple[int, int, Columns]) -> FlatTable:
    """Rows of the flattened table whose header `find_header` found."""
    _, start, columns = header
    table = FlatTable(columns)
    numbering = Numbering()
    roles = columns.cell_roles
    current: _Open | None = None
    last_section = last_sub = 0
    i = start
    while i < len(lines):
        line = lines[i]
        text = line.text
        if not _maybe_mark(text):  # most lines are plain cell text: skip the mark tests
            if current is None:
                _stray(table, line)
            else:
                current.texts.append(line)
            i += 1
            continue
        folded = key(text)
        if _FOOTER.match(folded):
            break
        if _NOISE.match(folded):
            i += 1
            continue
        if (found := find_header(lines, i, i + 1)) is not None:
            i = found[1]  # the header repeated after a page break
            continue
        mark = _section_mark(text, last_section)
        sub = _subsection_mark(lines, i, last_sub) if mark is None else None
        if mark is not None or sub is not None:
            _close(current, numbering, roles, table)
            if mark is not None:
                last_section, name, title = mark
                last_sub = 0
            else:
                last_sub, name, title = sub  # type: ignore[misc]
            numbering.open_section(name, title, sub=sub is not None)
            current = _Open(None, line.no, mark=name)
            if title:
                current.texts.append(Line(line.no, title))
            i += 1
            continue
        number, rest = _row_number(text, numbering, current)
        if number is not None:
            _close(current, numbering, roles, table)
            ref = numbering.accept(number, line.no)
            current = _Open(number, line.no, ref=ref, section=numbering.section)
            if rest:
                current.texts.append(Line(line.no, rest))
            i += 1
            continue
        if current is None:
            _stray(table, line)
        else:
            current.texts.append(line)
        i += 1
    _close(current, numbering, roles, table)
    table.problems.extend(numbering.problems)
    table.end = i
    return table


def _maybe_mark(text: str) -> bool:
    """Could this line be a number, a section mark, a header or a footer? (cheap test)"""
    first = text[0]
    return first.isdigit() or len(text) <= 12 or first in _MARK_INITIALS


# Initials of Roman/letter marks with a title, and of footers ("Nguồn tra cứu", "Nơi
# nhận", "KT. CHỦ TỊCH", "TM. …", "Ghi chú:", "http…", "www.").
_MARK_INITIALS = frozenset("IVXLNnKkTtGgHhWw")


def _stray(table: FlatTable, line: Line) -> None:
    table.problems.append(
        Problem(
            f"Dòng không thuộc hàng nào của bảng, đã bỏ qua: “{line.text[:100]}”.",
            line=line.no,
            severity="warning",
        )
    )


def _section_mark(text: str, last: int) -> tuple[int, str, str] | None:
    """(value, mark, title) when `text` opens the next section: "II", "II. Tên", "B"."""
    m = ROMAN.match(text) or ROMAN_TITLED.match(text)
    if m:
        value = roman_value(m.group("mark"))
        if value is not None and value in (last + 1, 1):
            title = m.groupdict().get("title") or ""
            # "I. Tên mục" is a section; "I - 2024" or a long sentence is not.
            if not title or (len(title) <= 200 and title[:1].isupper()):
                return value, m.group("mark"), title
        return None
    m = LETTER.match(text)
    if m:
        value = ord(m.group("mark")) - ord("A") + 1
        if value in (last + 1, 1):
            return value, m.group("mark"), ""
    return None


def _row_number(text: str, numbering: Numbering, current: _Open | None) -> tuple[str | None, str]:
    """(number, rest of the line) when `text` starts the next row; (None, "") otherwise."""
    m = NUMBER.match(text)
    if m and numbering.expects(m.group("num")):
        return m.group("num"), ""
    # "7. Tổ chức …" glued: only the exact next number, text that opens like a cell, and
    # never the rest of a wrapped cell ("Tháng" / "3 - 4/2024").
    m = NUMBER_GLUED.match(text)
    if (
        m
        and numbering.expects(m.group("num")) == "ok"
        and m.group("rest")[:1].isupper()
        and _row_complete(current)
        and not (current and current.texts and continues(current.texts[-1].text, text))
    ):
        return m.group("num"), m.group("rest")
    return None, ""


def _row_complete(current: _Open | None) -> bool:
    """A number glued to text starts a row only once the open row has its cells."""
    if current is None or current.number is None:
        return True
    return any(kind_of(t.text) in (Kind.TIMING, Kind.FUNDING) for t in current.texts[1:])


def _subsection_mark(lines: Sequence[Line], i: int, last: int) -> tuple[int, str, str] | None:
    """(value, mark, title) when an Arabic "2" (or "2. Tên") heads rows "2.1", "2.2" …"""
    m = NUMBER.match(lines[i].text) or NUMBER_GLUED.match(lines[i].text)
    if m is None or "." in m.group("num") or int(m.group("num")) not in (last + 1, 1):
        return None
    number = m.group("num")
    child = f"{number}.1"
    for j in range(i + 1, min(i + 5, len(lines))):
        n = NUMBER.match(lines[j].text) or NUMBER_GLUED.match(lines[j].text)
        if n:
            if n.group("num") != child:
                return None
            title = m.groupdict().get("rest") or ""
            return int(number), number, title
    return None


def _close(
    current: _Open | None, numbering: Numbering, roles: Sequence[Role], table: FlatTable
) -> None:
    """Finish the open block: a section's title, or a row split into its cells."""
    if current is None:
        return
    if current.number is None:
        numbering.title_section(" ".join(t.text for t in current.texts))
        return
    if not current.texts:
        table.problems.append(
            Problem(
                f"Hàng {current.ref} chỉ có số thứ tự, không có nội dung; đã bỏ qua.",
                line=current.line,
            )
        )
        return
    texts = [t.text for t in current.texts]
    cols, sure = assign_cells(texts, roles)
    cells: dict[Role, list[str]] = {}
    for text, c in zip(texts, cols):
        cells.setdefault(roles[c], []).append(text)
    row = Row(
        number=current.number,
        cells={role: _join(parts) for role, parts in cells.items()},
        line=current.line,
        ref=current.ref,
        section=current.section,
        section_title=numbering.title_of(current.section),
    )
    table.rows.append(row)
    if not sure:
        table.problems.append(
            Problem(
                f"Hàng {row.ref}: không chắc cách tách ô (dòng {current.texts[0].no}-"
                f"{current.texts[-1].no}); kiểm tra đơn vị, thời gian và kinh phí.",
                line=current.line,
                key=row.ref,
                severity="warning",
            )
        )


def _join(parts: list[str]) -> str:
    """Join a wrapped cell's lines (the rule every format shares: table.join_wrapped)."""
    return join_wrapped(parts)


# --- the plan ------------------------------------------------------------------


def plan_from_flat(
    lines: list[Line],
    header: tuple[int, int, Columns],
    *,
    source: str = "",
    year: int | None = None,
    progress: Progress | None = None,
) -> Plan:
    """A Plan from text holding a flattened table: metadata and duties from the body
    before the appendix, activities from the table's rows."""
    start = header[0]
    appendix = _appendix_start(lines, start)
    body = lines[:appendix]
    body_text = "\n".join(line.text for line in body)
    meta = read_metadata(body, body_text, year=year, heading=lines[appendix:start])
    plan = plan_shell(meta, source)
    table = read_flat(lines, header)
    plan.timing_header = table.columns.timing_header
    plan.reports, duty_problems = read_duties(body)
    timing = TimingReader(year=plan.year, deadline=plan.timing_is_deadline)
    problems: list[Problem] = [*meta.problems, *duty_problems, *table.problems]
    plan.activities, row_problems = activities_from_rows(table.rows, timing, progress)
    problems.extend(p for p, _ in row_problems)
    unsaved = unsaved_columns(table.columns, lines[start].no)
    if unsaved is not None:
        problems.append(unsaved)
    if not plan.activities:
        problems.append(Problem("Bảng không có hàng nào đọc được.", line=lines[start].no))
    plan.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
    return plan


def _appendix_start(lines: list[Line], header: int) -> int:
    """Index of the "PHỤ LỤC" heading just before the table, else the header itself."""
    for i in range(header - 1, max(-1, header - 8), -1):
        if key(lines[i].text).startswith("phu luc"):
            return i
    return header
