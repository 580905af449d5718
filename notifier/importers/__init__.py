"""Plan documents → `Plan`: one entry point per source, one row model for every table.

Public: `read_plan(path, *, year=None, observances=(), progress=None)` reads a file and
dispatches by suffix (.txt/.md, .docx, .xlsx/.xlsm, .csv/.tsv, .pdf, .html/.htm);
`parse_text(text, *, source="", year=None, observances=())` reads plain text, telling a
flattened table (a "Stt" header then one cell a line) from prose (a news page or a plan
without a table), and cleaning gazette text (Công báo page furniture) first. Both
return a Plan whose `problems` list everything that could not be read; they never raise
on the content itself — `read_plan` raises PlanReadError only for files that cannot be
used (missing, too big, damaged or hostile, an unsupported format or encoding).
`progress(stage, done, total)`, if given, hears about long reads.

Modules: cells.py (what a line is), table.py (column roles, refs, row → Activity:
shared by every format), flat.py (flattened tables), gazette.py (text copied from a
Công báo PDF), header.py (metadata), duties.py (report duties), prose.py (prose pages),
grid.py (documents of paragraphs and tables: the path of every other format), docx.py,
xlsx.py, csvfile.py, pdf.py, html.py (one reader per format), encoding.py (UTF-8 and the
pre-Unicode encodings), safety.py (size, zip and XML bounds). Activity.lead/.coordinating
and ReportDuty.owners stay empty: units.resolve_plan fills them from the raw cells.
Key dates written in the content, and the observances passed in, are suggested on
each activity (keydates.py). Not here: unit matching (units.py), schedules on disk
(schedules.py), dating timings (timing.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import import_module
from pathlib import Path

from notifier.errors import PlanReadError, Problem
from notifier.importers.cells import split_lines
from notifier.importers.encoding import decode_text
from notifier.importers.flat import find_header, plan_from_flat
from notifier.importers.gazette import gazette_lines, is_gazette
from notifier.importers.grid import Progress
from notifier.importers.safety import read_bytes
from notifier.keydates import Observance, apply_key_dates
from notifier.plan import Plan

__all__ = ["SUFFIXES", "TEXT_SUFFIXES", "Progress", "parse_text", "read_plan"]

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ""})
_FORMATS = {
    ".docx": "docx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".csv": "csv",
    ".tsv": "csv",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
SUFFIXES = TEXT_SUFFIXES | frozenset(_FORMATS)
# Old binary formats: say how to get a supported one.
_RESAVE = {
    ".doc": "Word: mở tệp và “Lưu thành” .docx",
    ".docm": "Word: mở tệp và “Lưu thành” .docx (không macro)",
    ".xls": "Excel: mở tệp và “Lưu thành” .xlsx",
    ".rtf": "Word: mở tệp và “Lưu thành” .docx",
    ".odt": "LibreOffice Writer: “Lưu thành” .docx",
    ".ods": "LibreOffice Calc: “Lưu thành” .xlsx",
}


def read_plan(
    path: Path | str,
    *,
    year: int | None = None,
    observances: Sequence[Observance] = (),
    progress: Progress | None = None,
) -> Plan:
    """Read a plan file of any supported format (by its suffix).

    Raises PlanReadError only when the file itself cannot be used (missing, too big,
    damaged, an unsupported format or encoding); what the content lacks is a Problem.
    `progress(stage, done, total)` is called during long reads (rows, pages).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    kind = "text" if suffix in TEXT_SUFFIXES else _FORMATS.get(suffix)
    if kind is None:
        how = _RESAVE.get(suffix, "lưu kế hoạch thành .docx, .xlsx, .csv, .pdf hoặc .txt (UTF-8)")
        raise PlanReadError(f"Chưa hỗ trợ định dạng “{suffix or path.name}” ({path.name}); {how}.")
    if kind == "text":
        text, problems = _read_text(path)
        plan = parse_text(text, source=str(path), year=year, observances=observances)
        plan.problems[:0] = [replace(p, file=str(path)) for p in problems]
        return plan
    plan = _READERS[kind]()(path, year=year, progress=progress)
    apply_key_dates(plan, observances)
    plan.problems = [p if p.file else replace(p, file=str(path)) for p in plan.problems]
    return plan


def _reader(module: str, name: str) -> Callable[[], Callable[..., Plan]]:
    """Import a format's reader on first use (python-docx, openpyxl, pdfplumber are heavy)."""

    def load() -> Callable[..., Plan]:
        reader: Callable[..., Plan] = getattr(import_module(f"notifier.importers.{module}"), name)
        return reader

    return load


_READERS = {
    "docx": _reader("docx", "read_docx"),
    "xlsx": _reader("xlsx", "read_xlsx"),
    "csv": _reader("csvfile", "read_csv"),
    "pdf": _reader("pdf", "read_pdf"),
    "html": _reader("html", "read_html"),
}


def _read_text(path: Path) -> tuple[str, list[Problem]]:
    data = read_bytes(path)
    if b"\x00" in data[:4096]:
        raise PlanReadError(f"Tệp {path.name} không phải văn bản (có vẻ là tệp nhị phân).")
    return decode_text(data, path.name)


def parse_text(
    text: str,
    *,
    source: str = "",
    year: int | None = None,
    observances: Sequence[Observance] = (),
) -> Plan:
    """A Plan from plain text: a flattened table if a "Stt" header is found, else prose."""
    lines = split_lines(text)
    if is_gazette(lines):  # copied from a Công báo PDF: page furniture, glued cells
        lines = gazette_lines(lines)
    header = find_header(lines)
    if header is None:
        from notifier.importers.prose import parse_prose

        plan = parse_prose(lines, source=source, year=year)
    else:
        plan = plan_from_flat(lines, header, source=source, year=year)
    apply_key_dates(plan, observances)
    if source:  # "ke-hoach.txt:136: …" — every finding names the file it is about
        plan.problems = [p if p.file else replace(p, file=source) for p in plan.problems]
    return plan
