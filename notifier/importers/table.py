"""The shared row model: column roles from the header, numbering into refs, row → Activity.

Every table-shaped source (flattened text now; DOCX, XLSX, CSV, PDF later) ends here:
the importer finds the header cells and the rows, and this module decides what the
columns mean and turns each row into an `Activity` the same way for every format.

Owns: `Role` and `role_of()` (a header cell → its role, whatever the order, spelling
or wording), `Columns` (the roles of one table and its timing header), `Numbering`
(sections and row numbers → refs "II.7", "1.1", with gap warnings), `Row`,
`TimingReader` (parse_timing with the plan's year and the header's meaning, cached),
`row_to_activity()` and `rows_from_grid()` (a grid of cells, as DOCX/XLSX/CSV give).

Facts relied on: the timing column's header decides what a timing means — "Thời gian
thực hiện" is a window, "Thời hạn hoàn thành" a deadline (Plan.timing_is_deadline).
Refs are section + row number ("II.7"); dotted rows ("1.1") already carry their section.
Not here: telling cells apart in flattened text (flat.py), dating (timing.py), units.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from notifier.errors import Problem
from notifier.importers.cells import LETTER, NUMBER, ROMAN, ROMAN_TITLED, key, roman_value
from notifier.plan import Activity
from notifier.text import clean
from notifier.timing import Timing, TimingKind, parse_timing

__all__ = [
    "DEFAULT_ROLES",
    "Columns",
    "Numbering",
    "Role",
    "Row",
    "TimingReader",
    "join_wrapped",
    "role_of",
    "row_to_activity",
    "rows_from_grid",
]


class Role(Enum):
    NUMBER = "stt"
    CONTENT = "content"
    LEAD = "lead"
    COORDINATING = "coordinating"
    TIMING = "timing"
    FUNDING = "funding"
    PRODUCT = "product"
    NOTE = "note"


# Order matters: "Thời gian thực hiện" and "Kinh phí thực hiện" contain "thực hiện",
# which alone means the executing unit.
_ROLE_WORDS: tuple[tuple[Role, re.Pattern[str]], ...] = (
    (Role.NUMBER, re.compile(r"^(?:s\.?\s?tt|tt|so\s+(?:tt|thu\s+tu))\.?$")),
    (Role.COORDINATING, re.compile(r"phoi\s*hop")),
    (Role.LEAD, re.compile(r"chu\s*tri")),
    (Role.TIMING, re.compile(r"thoi\s*(?:gian|han|diem)|tien\s*do|moc\s*thoi")),
    (Role.FUNDING, re.compile(r"kinh\s*phi|nguon\s*(?:von|kinh|ngan)|du\s*toan")),
    (Role.PRODUCT, re.compile(r"san\s*pham|ket\s*qua|hinh\s*thuc\s*van\s*ban")),
    (Role.NOTE, re.compile(r"ghi\s*chu")),
    (Role.CONTENT, re.compile(r"noi\s*dung|nhiem\s*vu|hoat\s*dong|cong\s*viec|giai\s*phap")),
    (Role.LEAD, re.compile(r"(?:don\s*vi|co\s*quan)(?:\s*thuc\s*hien)?$|thuc\s*hien$")),
)

DEFAULT_ROLES = (
    Role.NUMBER,
    Role.CONTENT,
    Role.LEAD,
    Role.COORDINATING,
    Role.TIMING,
    Role.FUNDING,
)
DEFAULT_TIMING_HEADER = "Thời gian thực hiện"


def role_of(header: str) -> Role | None:
    """The role of one header cell ("Đơn vị chủ   trì" → LEAD), or None if unknown."""
    text = key(clean(header)).strip(" .:")
    if not text or len(text) > 60:
        return None
    for role, pattern in _ROLE_WORDS:
        if pattern.search(text):
            return role
    return None


@dataclass(frozen=True, slots=True)
class Columns:
    """The roles of a table's columns, in order, and the timing header as written.

    `positions[k]` is the grid column holding `roles[k]` (a grid may have columns with
    no known role, which are skipped); empty means roles sit in columns 0, 1, 2 …
    """

    roles: tuple[Role, ...] = DEFAULT_ROLES
    headers: tuple[str, ...] = ()
    timing_header: str = DEFAULT_TIMING_HEADER
    positions: tuple[int, ...] = ()

    @classmethod
    def from_headers(cls, headers: Sequence[str]) -> Columns:
        """Columns from header cells; unknown headers are dropped, duplicates keep the first."""
        roles: list[Role] = []
        kept: list[str] = []
        positions: list[int] = []
        timing_header = DEFAULT_TIMING_HEADER
        for index, cell in enumerate(headers):
            role = role_of(cell)
            if role is None or role in roles:
                continue
            roles.append(role)
            kept.append(clean(cell).replace("\n", " "))
            positions.append(index)
            if role is Role.TIMING:
                timing_header = kept[-1]
        return cls(tuple(roles), tuple(kept), timing_header, tuple(positions))

    @property
    def grid_positions(self) -> tuple[int, ...]:
        """The grid column of each role (columns 0, 1, 2 … when not given)."""
        return self.positions or tuple(range(len(self.roles)))

    @property
    def cell_roles(self) -> tuple[Role, ...]:
        """Roles after the number column: what follows a row's number."""
        return tuple(r for r in self.roles if r is not Role.NUMBER)


@dataclass(slots=True)
class Row:
    """One table row: its number as written, its cells by role, where it starts."""

    number: str
    cells: dict[Role, str]
    line: int | None = None
    ref: str = ""
    section: str = ""
    section_title: str = ""


@dataclass(slots=True)
class Numbering:
    """Tracks sections and row numbers; gives refs and tells a number from a stray digit.

    A row number is accepted when it follows the previous one (or restarts at 1 after a
    section); a small gap (up to 3) is accepted with a warning, since plans do skip.
    """

    section: str = ""
    section_title: str = ""
    top: str = ""  # top-level (Roman/letter) section, for subsections "II" + "1"
    top_title: str = ""
    last: tuple[int, ...] = ()
    fresh: bool = True  # no row yet since the last section mark
    titles: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def open_section(self, mark: str, title: str = "", *, sub: bool = False) -> None:
        """Start a section: Roman/letter at top level, or an Arabic subsection ("1")."""
        if sub:
            self.section = f"{self.top}.{mark}" if self.top else mark
            self.last = (int(mark), 0)
        else:
            self.section = self.top = mark
            self.top_title = title
        self.section_title = title
        self.titles[self.section] = title
        self.fresh = True

    def title_section(self, title: str) -> None:
        """Set the open section's title once its lines are read."""
        self.section_title = title
        self.titles[self.section] = title
        if self.section == self.top:
            self.top_title = title

    def title_of(self, section: str) -> str:
        return self.titles.get(section, "")

    def expects(self, number: str) -> str | None:
        """'ok', 'gap' or None (not a plausible next row number)."""
        parts = tuple(int(p) for p in number.split("."))
        if self.fresh:
            # After a section mark (or at the start) numbering restarts at 1 or goes on.
            if parts[-1] == 1 or (self.last and _next(self.last, parts) == "ok"):
                return "ok"
            if not self.last and parts[-1] <= 3:
                return "gap"
        return _next(self.last, parts) if self.last else None

    def accept(self, number: str, line: int | None) -> str:
        """Record a row number and return its ref."""
        verdict = self.expects(number)
        if verdict == "gap":
            self.problems.append(
                Problem(
                    f"Số thứ tự {number} không liền sau số trước đó; kiểm tra xem có hàng bị thiếu.",
                    line=line,
                    key="stt",
                    severity="warning",
                )
            )
        self.last = tuple(int(p) for p in number.split("."))
        self.fresh = False
        return self.ref(number)

    def ref(self, number: str) -> str:
        """Section + number; a dotted number already names its (sub)section."""
        if "." in number:
            return f"{self.top}.{number}" if self.top and self.top != self.section else number
        return f"{self.section}.{number}" if self.section else number


def _next(last: tuple[int, ...], parts: tuple[int, ...]) -> str | None:
    """Is `parts` the row after `last`? Same depth, same prefix, next value (or a short gap)."""
    if len(parts) != len(last) or parts[:-1] != last[:-1]:
        return None
    step = parts[-1] - last[-1]
    if step == 1:
        return "ok"
    if 1 < step <= 3:
        return "gap"
    return None


class TimingReader:
    """parse_timing with the plan's year and deadline meaning; cached, never raises.

    Cells repeat ("Trong năm 2024" dozens of times), so results are cached per text.
    A failure inside the parser becomes an undatable timing plus an error Problem,
    so one bad cell never costs the whole import.
    """

    def __init__(self, *, year: int | None, deadline: bool) -> None:
        self.year = year
        self.deadline = deadline
        self._cache: dict[str, Timing | Exception] = {}

    def __call__(self, text: str) -> tuple[Timing, str | None]:
        """(timing, error message or None)."""
        cached = self._cache.get(text)
        if cached is None:
            try:
                cached = parse_timing(text, year=self.year, deadline=self.deadline)
            except Exception as exc:  # noqa: BLE001 - user text must never crash an import
                cached = exc
            self._cache[text] = cached
        if isinstance(cached, Exception):
            reason = "chưa đọc được thời gian (bộ phân tích thời gian gặp lỗi)"
            return Timing(text, TimingKind.UNDATABLE, reason=reason), (
                f"Không đọc được thời gian “{text}”: {type(cached).__name__}."
            )
        return cached, None


def row_to_activity(row: Row, timing: TimingReader) -> tuple[Activity, list[Problem]]:
    """One Row → Activity; missing lead or timing become warnings, never a lost row."""
    problems: list[Problem] = []
    cells = row.cells
    content = cells.get(Role.CONTENT, "")
    timing_text = cells.get(Role.TIMING, "")
    if timing_text:
        parsed, error = timing(timing_text)
        if error:
            problems.append(Problem(error, line=row.line, key=f"{row.ref}.timing"))
    else:
        parsed = Timing("", TimingKind.UNDATABLE, reason="hàng không ghi thời gian thực hiện")
        problems.append(
            Problem(
                f"Hàng {row.ref} không có ô thời gian; cần nhập tay.",
                line=row.line,
                key=f"{row.ref}.timing",
                severity="warning",
            )
        )
    if not cells.get(Role.LEAD):
        problems.append(
            Problem(
                f"Hàng {row.ref} không có đơn vị chủ trì.",
                line=row.line,
                key=f"{row.ref}.lead",
                severity="warning",
            )
        )
    if not content:
        problems.append(
            Problem(f"Hàng {row.ref} không có nội dung.", line=row.line, key=f"{row.ref}.content")
        )
    activity = Activity(
        ref=row.ref,
        content=content,
        timing=parsed,
        section=row.section,
        section_title=row.section_title,
        lead_text=cells.get(Role.LEAD, ""),
        coordinating_text=cells.get(Role.COORDINATING, ""),
        funding=cells.get(Role.FUNDING, ""),
        line=row.line,
    )
    return activity, problems


def _section_mark(number_cell: str) -> tuple[str, str] | None:
    """A Roman/letter section mark in a number cell: (mark, title-in-cell)."""
    for pattern in (ROMAN, LETTER):
        m = pattern.match(number_cell)
        if m and (pattern is LETTER or roman_value(m.group("mark"))):
            return m.group("mark"), ""
    m = ROMAN_TITLED.match(number_cell)
    if m and roman_value(m.group("mark")):
        return m.group("mark"), m.group("title")
    return None


def rows_from_grid(
    grid: Iterable[Sequence[str]],
    columns: Columns,
    *,
    first_line: int = 1,
    lines: Sequence[int] | None = None,
) -> tuple[list[Row], list[Problem]]:
    """Rows of a table already split into cells (DOCX, XLSX, CSV, PDF), header excluded.

    A row whose number cell is a Roman numeral or a letter (its other cells empty or
    repeating the title, as merged cells do), or "I. Tên mục" in one merged cell, opens a
    section; so does a plain "1" whose next numbered row is "1.1" (Arabic sections). Any
    other row with a number is an activity. A row with cells but no number continues
    the row above (a cell broken over two table rows, as page breaks do), with a
    warning; a row with a number that is none of these is reported, never dropped.
    `lines[i]` (else first_line + i) is where row i is in the source.
    """
    positions = columns.grid_positions
    table = [{role: _cell(raw, at) for role, at in zip(columns.roles, positions)} for raw in grid]
    numbers = [cells.pop(Role.NUMBER, "") for cells in table]
    numbering = Numbering()
    rows: list[Row] = []
    problems: list[Problem] = []
    for index, (cells, number) in enumerate(zip(table, numbers)):
        line = lines[index] if lines is not None else first_line + index
        others = [v for v in cells.values() if v]
        if not number and not others:
            continue
        mark = _section_mark(number) or (_section_mark(others[0]) if not number else None)
        if mark is not None and (number or len(set(others)) == 1):
            title = mark[1] or next((v for v in others if v != number), "")
            numbering.open_section(mark[0], title)
            continue
        m = NUMBER.match(number) or _NUMBER_TITLED.match(number)
        if m is None:
            if not number and rows:
                _continue_row(rows[-1], cells, line, problems)
                continue
            problems.append(
                Problem(
                    f"Hàng không có số thứ tự hợp lệ (“{number}”); không đọc được: "
                    f"{' | '.join(others)[:120]}",
                    line=line,
                )
            )
            continue
        num = ".".join(str(int(part)) for part in m.group("num").split("."))  # "01" → "1"
        if _heads_subsection(num, m, others, numbers, index):
            title = m.groupdict().get("title") or next(iter(others), "")
            numbering.open_section(num, title, sub=True)
            continue
        if m.groupdict().get("title"):  # "7. Tổ chức …" in a merged cell: the content
            cells.setdefault(Role.CONTENT, m.group("title"))
        ref = numbering.accept(num, line)
        rows.append(
            Row(
                number=num,
                cells={k: v for k, v in cells.items() if v},
                line=line,
                ref=ref,
                section=numbering.section,
                section_title=numbering.section_title,
            )
        )
    problems.extend(numbering.problems)
    return rows, problems


_NUMBER_TITLED = re.compile(r"^(?P<num>\d{1,3}(?:\.\d{1,3})*)[.)]\s*(?P<title>\S.*)$", re.DOTALL)


def _cell(raw: Sequence[str], at: int) -> str:
    return clean(raw[at]) if at < len(raw) and raw[at] else ""


def _heads_subsection(
    num: str, m: re.Match[str], others: list[str], numbers: list[str], index: int
) -> bool:
    """Is the plain number `num` an Arabic section mark: its next numbered row is "num.1"?"""
    if "." in num:
        return False
    for later in numbers[index + 1 : index + 6]:
        n = NUMBER.match(later) or _NUMBER_TITLED.match(later)
        if n is not None:
            return n.group("num") == f"{num}.1"
    return False


def _continue_row(row: Row, cells: dict[Role, str], line: int, problems: list[Problem]) -> None:
    """Append an unnumbered row's cells to the row above (a cell broken across rows)."""
    for role, text in cells.items():
        if text:
            row.cells[role] = join_wrapped([row.cells[role], text]) if row.cells.get(role) else text
    problems.append(
        Problem(
            f"Hàng không có số thứ tự, đã nối vào hàng {row.ref} (ô bị ngắt sang hàng sau?): "
            f"{' | '.join(v for v in cells.values() if v)[:120]}",
            line=line,
            key=row.ref,
            severity="warning",
        )
    )


def join_wrapped(parts: Sequence[str]) -> str:
    """Join a wrapped cell's pieces: a space, except after a slash or an opening
    parenthesis and before closing marks ("Quý II/" + "2024", "(" + "…", "…" + ",")."""
    out = parts[0]
    for part in parts[1:]:
        if not part:
            continue
        if not out or out.endswith(("/", "(")) or part.startswith((")", ",", ";", ".")):
            out += part
        else:
            out += " " + part
    return out
