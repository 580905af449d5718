"""Plan documents → `Plan`: one entry point per source, one row model for every table.

Public: `read_plan(path, *, year=None, observances=())` reads a file and dispatches by
format; `parse_text(text, *, source="", year=None, observances=())` reads plain text,
telling a flattened table (a "Stt" header then one cell a line) from prose (a news
page or a plan without a table). Both return a Plan whose `problems` list everything
that could not be read; they never raise on the text itself.

Modules: cells.py (what a line is), table.py (column roles, refs, row → Activity:
shared by every format), flat.py (flattened tables), header.py (metadata), duties.py
(report duties), prose.py (prose pages). Activity.lead/.coordinating and
ReportDuty.owners stay empty: units.resolve_plan fills them from the raw cells.
Key dates written in the content, and the observances passed in, are suggested on
each activity (keydates.py). Not here: unit matching (units.py), schedules on disk
(schedules.py), dating timings (timing.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from notifier.errors import PlanReadError, Problem
from notifier.importers.cells import Line, flat_ascii, split_lines
from notifier.importers.duties import read_duties
from notifier.importers.flat import find_header, read_flat
from notifier.importers.header import Metadata, plan_slug, read_metadata
from notifier.importers.table import Role, TimingReader, row_to_activity
from notifier.keydates import Observance, apply_key_dates
from notifier.plan import Plan

__all__ = ["TEXT_SUFFIXES", "parse_text", "read_plan"]

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ""})
_MAX_BYTES = 50 * 1024 * 1024


def read_plan(
    path: Path | str, *, year: int | None = None, observances: Sequence[Observance] = ()
) -> Plan:
    """Read a plan file. Raises PlanReadError only when the file itself cannot be used."""
    path = Path(path)
    if path.suffix.lower() not in TEXT_SUFFIXES:
        raise PlanReadError(
            f"Chưa hỗ trợ định dạng “{path.suffix}” ({path.name}); hãy lưu kế hoạch thành "
            "tệp văn bản .txt (UTF-8)."
        )
    text = _read_text(path)
    return parse_text(text, source=str(path), year=year, observances=observances)


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise PlanReadError(f"Tệp {path.name} quá lớn (trên 50 MB) để là một kế hoạch.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise PlanReadError(f"Không tìm thấy tệp {path}.") from None
    except IsADirectoryError:
        raise PlanReadError(f"{path} là thư mục, không phải tệp kế hoạch.") from None
    except OSError as exc:
        raise PlanReadError(f"Không đọc được tệp {path}: {exc.strerror or exc}.") from None
    if b"\x00" in data[:4096]:
        raise PlanReadError(f"Tệp {path.name} không phải văn bản (có vẻ là tệp nhị phân).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanReadError(
            f"Tệp {path.name} không phải UTF-8 (byte lỗi ở vị trí {exc.start}); hãy lưu lại "
            "với bảng mã UTF-8 (Unicode). Tệp TCVN3/VNI cần chuyển mã trước."
        ) from None


def parse_text(
    text: str,
    *,
    source: str = "",
    year: int | None = None,
    observances: Sequence[Observance] = (),
) -> Plan:
    """A Plan from plain text: a flattened table if a "Stt" header is found, else prose."""
    lines = split_lines(text)
    header = find_header(lines)
    if header is None:
        from notifier.importers.prose import parse_prose

        plan = parse_prose(lines, source=source, year=year)
    else:
        plan = _parse_flat(lines, header, source=source, year=year)
    apply_key_dates(plan, observances)
    if source:  # "ke-hoach.txt:136: …" — every finding names the file it is about
        plan.problems = [p if p.file else replace(p, file=source) for p in plan.problems]
    return plan


def _parse_flat(lines: list[Line], header: tuple, *, source: str, year: int | None) -> Plan:
    start = header[0]
    appendix = _appendix_start(lines, start)
    body = lines[:appendix]
    body_text = "\n".join(line.text for line in body)
    meta = read_metadata(body, body_text, year=year, heading=lines[appendix:start])
    plan = _plan_from(meta, source)
    table = read_flat(lines, header)
    plan.timing_header = table.columns.timing_header
    plan.reports, duty_problems = read_duties(body)
    timing = TimingReader(year=plan.year, deadline=plan.timing_is_deadline)
    problems: list[Problem] = [*meta.problems, *duty_problems, *table.problems]
    for row in table.rows:
        activity, row_problems = row_to_activity(row, timing)
        plan.activities.append(activity)
        problems.extend(row_problems)
    unsaved = [h for h, r in zip(table.columns.headers, table.columns.roles) if r in _UNSAVED]
    if unsaved:
        problems.append(
            Problem(
                f"Cột {', '.join(f'“{h}”' for h in unsaved)} chưa được lưu vào lịch.",
                line=lines[start].no,
                severity="warning",
            )
        )
    if not plan.activities:
        problems.append(Problem("Bảng không có hàng nào đọc được.", line=lines[start].no))
    plan.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
    return plan


_UNSAVED = (Role.PRODUCT, Role.NOTE)


def _plan_from(meta: Metadata, source: str) -> Plan:
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


def _appendix_start(lines: list[Line], header: int) -> int:
    """Index of the "PHỤ LỤC" heading just before the table, else the header itself."""
    for i in range(header - 1, max(-1, header - 8), -1):
        if flat_ascii(lines[i].text).startswith("phu luc"):
            return i
    return header
