"""Word documents (.docx) → `Document` → `Plan`.

Owns `read_docx(path, *, year=None, progress=None) -> Plan` and `docx_document(path)`.
python-docx opens the package (after safety.check_zip has bounded it); the body is
then walked in document order on its XML, which is both faster than python-docx's
objects and closer to what Word shows:
- body paragraphs (also inside content controls, w:sdt) are body lines, numbered as
  paragraphs (empty ones count), for metadata and report duties (header.py, duties.py);
- tables keep their grid: a horizontally merged cell (w:gridSpan) repeats its text in
  every column it covers and a vertically merged one (w:vMerge) in every row, as a
  reader sees them; rows starting late (w:gridBefore) are padded; a cell's paragraphs
  are kept apart by "\\n" (grid.cell_text joins them like wrapped lines);
- paragraph text includes tracked insertions (w:ins) and leaves out deletions, takes
  tabs as spaces and line breaks (w:br) as paragraph breaks; fallback copies of text
  boxes (mc:Fallback) are skipped so nothing is read twice;
- a table nested in a cell is not read: a problem names the cell.
Which table is the plan and what its columns mean is decided in grid.py.
Not here: limits (safety.py), rows → activities (grid.py, table.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from notifier.errors import PlanReadError, Problem
from notifier.importers.cells import Line
from notifier.importers.grid import Document, GridTable, Progress, plan_from_document
from notifier.importers.safety import check_zip
from notifier.plan import Plan
from notifier.text import clean

__all__ = ["docx_document", "read_docx"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_P, _TBL, _SDT, _SDT_CONTENT = f"{_W}p", f"{_W}tbl", f"{_W}sdt", f"{_W}sdtContent"
_TR, _TC, _T, _TAB, _BR, _CR = (f"{_W}{n}" for n in ("tr", "tc", "t", "tab", "br", "cr"))
_DEL, _FALLBACK = f"{_W}del", f"{_MC}Fallback"
_TCPR, _TRPR = f"{_W}tcPr", f"{_W}trPr"
_VAL = f"{_W}val"


def read_docx(path: Path, *, year: int | None = None, progress: Progress | None = None) -> Plan:
    """A Plan from a .docx file; PlanReadError if the file cannot be used at all."""
    return plan_from_document(docx_document(path), year=year, progress=progress)


def docx_document(path: Path) -> Document:
    """The body paragraphs and tables of a .docx, in document order."""
    check_zip(path, "DOCX")
    import docx  # python-docx: imported here so text-only imports stay light

    try:
        body = docx.Document(str(path)).element.body
    except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds on bad files
        raise PlanReadError(
            f"Không mở được {path.name} như tài liệu Word (.docx): {type(exc).__name__}. "
            "Hãy mở bằng Word/LibreOffice và lưu lại dạng .docx."
        ) from None
    doc = Document([], source=str(path))
    counter = {"p": 0, "tbl": 0}
    _walk(body, doc, counter)
    return doc


def _walk(container: Any, doc: Document, counter: dict[str, int]) -> None:
    for child in container.iterchildren():
        tag = child.tag
        if tag == _P:
            counter["p"] += 1
            for text in _paragraph_lines(child):
                doc.blocks.append(Line(counter["p"], text))
        elif tag == _TBL:
            counter["tbl"] += 1
            doc.blocks.append(_table(child, f"bảng {counter['tbl']}", doc))
        elif tag == _SDT:
            for content in child.iterchildren(_SDT_CONTENT):
                _walk(content, doc, counter)


def _paragraph_lines(p: Any) -> list[str]:
    """The cleaned, non-empty lines of one paragraph (a w:br starts a new line)."""
    parts: list[str] = []
    for el in p.iter(_T, _TAB, _BR, _CR):
        if _skipped(el, p):
            continue
        tag = el.tag
        if tag == _T:
            parts.append(el.text or "")
        elif tag == _TAB:
            parts.append(" ")
        else:
            parts.append("\n")
    return [t for t in (clean(x) for x in "".join(parts).split("\n")) if t]


def _skipped(el: Any, stop: Any) -> bool:
    """Inside a deletion or a text box's fallback copy (up to the paragraph `stop`)."""
    parent = el.getparent()
    while parent is not None and parent is not stop:
        if parent.tag in (_DEL, _FALLBACK):
            return True
        parent = parent.getparent()
    return False


def _table(tbl: Any, label: str, doc: Document) -> GridTable:
    """A w:tbl as a grid of cell texts; merged cells repeat their text."""
    rows: list[list[str]] = []
    above: dict[int, str] = {}  # grid column → text of the cell a vMerge continues
    for r, tr in enumerate(tbl.iterchildren(_TR), 1):
        cells: list[str] = [""] * _grid_before(tr)
        for tc in tr.iterchildren(_TC):
            span, merge = _cell_props(tc)
            if merge == "continue":
                text = above.get(len(cells), "")
            else:
                text = _cell_text(tc, doc, label, r)
            for _ in range(span):
                if merge is not None:
                    above[len(cells)] = text
                else:
                    above.pop(len(cells), None)
                cells.append(text)
        rows.append(cells)
    return GridTable(rows, label=label)


def _grid_before(tr: Any) -> int:
    trpr = tr.find(_TRPR)
    if trpr is None:
        return 0
    before = trpr.find(f"{_W}gridBefore")
    return _int(before.get(_VAL)) if before is not None else 0


def _cell_props(tc: Any) -> tuple[int, str | None]:
    """(grid span, vMerge: "restart", "continue" or None)."""
    tcpr = tc.find(_TCPR)
    if tcpr is None:
        return 1, None
    span_el = tcpr.find(f"{_W}gridSpan")
    span = max(1, min(_int(span_el.get(_VAL)) if span_el is not None else 1, 64))
    merge_el = tcpr.find(f"{_W}vMerge")
    merge = None if merge_el is None else (merge_el.get(_VAL) or "continue")
    return span, merge


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _cell_text(tc: Any, doc: Document, label: str, row: int) -> str:
    """A cell's paragraphs, "\\n"-separated; a nested table is reported, not read."""
    lines: list[str] = []
    for child in tc.iterchildren():
        if child.tag == _P:
            lines.extend(_paragraph_lines(child))
        elif child.tag == _TBL:
            doc.problems.append(
                Problem(
                    "Ô này chứa một bảng lồng bên trong; bảng lồng không được đọc, hãy chép "
                    "nội dung ra ô thường.",
                    file=f"{doc.source}, {label}" if doc.source else label,
                    line=row,
                    severity="warning",
                )
            )
        elif child.tag == _SDT:
            for content in child.iterchildren(_SDT_CONTENT):
                for p in content.iterchildren(_P):
                    lines.extend(_paragraph_lines(p))
    return "\n".join(lines)
