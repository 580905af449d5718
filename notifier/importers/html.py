"""Web pages (.html) of provincial portals → `Plan`: page chrome stripped, then text or grid.

Owns `read_html(path, *, year=None, progress=None) -> Plan`, `html_document(markup)` and
`decode_html(data, name)`. Pure stdlib (html.parser); nothing is fetched.

What a portal page is made of, and what is kept:
- chrome is dropped whole: <script>, <style>, <noscript>, <template>, <svg>, <iframe>,
  <form>, <button>, <select>, <nav>, <aside>, a page-level <header>/<footer> (inside
  <article>/<main> they are the article's own and kept), and containers whose class or
  id names chrome ("menu", "nav", "breadcrumb", "sidebar", "footer", "banner", "share",
  "social", "comment", "related", "quang-cao" …) as older portals mark them;
- block elements (p, div, li, h1-h6, tr, br …) end a line; whitespace collapses as a
  browser shows it; entities are decoded;
- tables keep their grid: colspan repeats a cell's text across the columns it covers
  and rowspan down the rows, as merged cells do in DOCX; a table nested in a cell
  reads as the cell's text.
A page with a plan table (grid.find_grid_header) goes through the grid path like a
DOCX; any other page is read as text (`parse_text`: prose news pages like the 2019
seed, flattened tables), which also cuts the navigation after the article ("Tin đã
đưa", "Tin liên quan" …). Encoding: BOM, then <meta charset>, else UTF-8 /
Windows-1258 as for text files (encoding.py).
Not here: reading prose (prose.py), rows (grid.py, table.py).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from notifier.errors import Problem
from notifier.importers.cells import Line
from notifier.importers.encoding import decode_text
from notifier.importers.grid import (
    Document,
    GridTable,
    Progress,
    find_grid_header,
    plan_from_document,
)
from notifier.importers.safety import read_bytes
from notifier.plan import Plan
from notifier.text import clean

__all__ = ["decode_html", "html_document", "read_html"]

_DROP = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "iframe",
        "form",
        "button",
        "select",
        "nav",
        "aside",
        "object",
        "embed",
        "canvas",
        "audio",
        "video",
        "map",
    ]
)
_BLOCK = frozenset(
    [
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "blockquote",
        "pre",
        "dd",
        "dt",
        "dl",
        "hr",
        "figure",
        "figcaption",
        "address",
        "center",
        "caption",
        "tbody",
        "thead",
    ]
)
_VOID = frozenset(
    [
        "br",
        "hr",
        "img",
        "input",
        "meta",
        "link",
        "area",
        "base",
        "col",
        "embed",
        "source",
        "track",
        "wbr",
    ]
)
_CHROME = re.compile(
    r"(?:^|[\s_-])(?:menu|nav|navbar|navigation|breadcrumbs?|sidebar|side-bar|footer|banner"
    r"|share|social|comments?|related|tin-?lien-?quan|quang-?cao|advert|ads|cookie|search"
    r"|header-top|topbar|top-bar|login)(?:$|[\s_-])",
    re.IGNORECASE,
)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_-]+)""", re.IGNORECASE)


def read_html(path: Path, *, year: int | None = None, progress: Progress | None = None) -> Plan:
    """A Plan from a saved web page; PlanReadError if the file cannot be used at all."""
    markup, problems = decode_html(read_bytes(path), path.name)
    doc = html_document(markup, source=str(path))
    doc.problems[:0] = problems
    if any(isinstance(b, GridTable) and find_grid_header(b.rows) is not None for b in doc.blocks):
        return plan_from_document(doc, year=year, progress=progress)
    from notifier.importers import parse_text

    text = "\n".join(_text_lines(doc))
    plan = parse_text(text, source=str(path), year=year)
    plan.problems[:0] = doc.problems
    return plan


def decode_html(data: bytes, name: str) -> tuple[str, list[Problem]]:
    """The page's text: a declared charset is trusted when it decodes, else encoding.py."""
    if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        m = _CHARSET.search(data[:4096])
        if m:
            charset = m.group(1).decode("ascii").lower()
            if charset not in ("utf-8", "utf8"):
                try:
                    return data.decode(charset), []
                except (LookupError, UnicodeDecodeError):
                    pass
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), []
    return decode_text(data, name)


def html_document(markup: str, *, source: str = "") -> Document:
    """The page's visible text as lines and its tables as grids, in reading order."""
    parser = _PageParser()
    parser.feed(markup)
    parser.close()
    parser.flush()
    doc = Document([], source=source)
    for n, block in enumerate(parser.blocks, 1):
        if isinstance(block, str):
            doc.blocks.append(Line(n, block))
        else:
            block.label = f"bảng {parser.tables.index(block) + 1}"
            block.lines = list(range(1, len(block.rows) + 1))
            doc.blocks.append(block)
    return doc


def _text_lines(doc: Document) -> list[str]:
    """The page as text: body lines, and tables row by row (cells one per line)."""
    out: list[str] = []
    for block in doc.blocks:
        if isinstance(block, Line):
            out.append(block.text)
        else:
            for row in block.rows:
                seen: list[str] = []
                for cell in row:
                    if cell and cell not in seen:
                        seen.append(cell)
                        out.extend(p for p in cell.split("\n") if p)
    return out


class _Cell:
    __slots__ = ("colspan", "parts", "rowspan")

    def __init__(self, colspan: int, rowspan: int) -> None:
        self.parts: list[str] = []
        self.colspan = colspan
        self.rowspan = rowspan


class _Table:
    def __init__(self) -> None:
        self.rows: list[list[_Cell]] = []
        self.cell: _Cell | None = None

    def grid(self) -> GridTable:
        """Cells placed on the grid: colspan repeats across, rowspan down."""
        out: list[list[str]] = []
        pending: dict[int, tuple[str, int]] = {}  # column → (text, rows left)
        for row in self.rows:
            cells: list[str] = []
            queue = list(row)
            col = 0
            while queue or any(c >= col for c in pending):
                if col in pending:
                    text, left = pending[col]
                    cells.append(text)
                    if left <= 1:
                        del pending[col]
                    else:
                        pending[col] = (text, left - 1)
                    col += 1
                    continue
                if not queue:
                    break
                cell = queue.pop(0)
                text = "\n".join(
                    p for p in (clean(x) for x in "".join(cell.parts).split("\n")) if p
                )
                for _ in range(cell.colspan):
                    if cell.rowspan > 1:
                        pending[col] = (text, cell.rowspan - 1)
                    cells.append(text)
                    col += 1
            out.append(cells)
        return GridTable(out)


def _int_attr(value: str | None, limit: int) -> int:
    try:
        return max(1, min(int(value or 1), limit))
    except ValueError:
        return 1


class _PageParser(HTMLParser):
    """Collects visible lines and tables; skips chrome subtrees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str | GridTable] = []
        self.tables: list[GridTable] = []
        self.line: list[str] = []
        self.skip: tuple[str, int] | None = None  # (tag, depth) of the dropped subtree
        self.stack: list[_Table] = []  # open tables; nested ones read as cell text
        self.content_depth = 0  # inside <article>/<main>: headers/footers are content

    # --- structure -------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip is not None:
            if tag == self.skip[0]:
                self.skip = (tag, self.skip[1] + 1)
            return
        if self._chrome(tag, attrs):
            if tag not in _VOID:
                self.skip = (tag, 1)
            return
        if tag in ("article", "main"):
            self.content_depth += 1
        if tag == "table":
            if self.stack and self.stack[-1].cell is not None:
                self._text("\n")  # a nested table: its text goes into the cell
                self.stack.append(_Table())
                self.stack[-1].cell = None
                return
            self.flush()
            self.stack.append(_Table())
            return
        if self.stack:
            table = self.stack[-1]
            if tag == "tr" and len(self.stack) == 1:
                table.rows.append([])
                table.cell = None
                return
            if tag in ("td", "th") and len(self.stack) == 1:
                if not table.rows:
                    table.rows.append([])
                a = dict(attrs)
                table.cell = _Cell(
                    _int_attr(a.get("colspan"), 64), _int_attr(a.get("rowspan"), 1000)
                )
                table.rows[-1].append(table.cell)
                return
        if tag == "br" or tag in _BLOCK:
            self._text("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skip is not None:
            if tag == self.skip[0]:
                depth = self.skip[1] - 1
                self.skip = None if depth == 0 else (tag, depth)
            return
        if tag in ("article", "main") and self.content_depth:
            self.content_depth -= 1
        if tag == "table" and self.stack:
            table = self.stack.pop()
            if self.stack:  # the end of a nested table
                self._text("\n")
                return
            grid = table.grid()
            self.blocks.append(grid)
            self.tables.append(grid)
            return
        if self.stack and len(self.stack) == 1 and tag in ("td", "th", "tr"):
            if tag != "tr":
                self.stack[-1].cell = None
            return
        if tag in _BLOCK:
            self._text("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self.skip is None:
            self._text(re.sub(r"\s+", " ", data))

    # --- helpers ---------------------------------------------------------------

    def _chrome(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in _DROP:
            return True
        if tag in ("header", "footer") and not self.content_depth:
            return True
        if tag in ("div", "ul", "section", "table", "span", "p", "ol"):
            names = " ".join(v or "" for k, v in attrs if k in ("class", "id"))
            return bool(names and _CHROME.search(names))
        return False

    def _text(self, text: str) -> None:
        if self.stack:
            table = self.stack[0]
            cell = table.cell
            if cell is not None:
                cell.parts.append(text)
            return
        if text == "\n":
            self.flush()
        else:
            self.line.append(text)

    def flush(self) -> None:
        line = clean("".join(self.line))
        self.line = []
        if line:
            self.blocks.append(line)
