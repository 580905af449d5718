"""Gazette text: what a Công báo PDF yields when its text is copied or extracted.

The official gazette (Công báo) prints national plans — a Quyết định of the Thủ tướng
with its Kế hoạch and appendix table — and copying the PDF gives a flattened table
with the printer's marks left in. This module removes them and hands the lines to the
flattened-table reader (flat.py), so the same rows come out as from clean text.

Owns `parse_gazette(text, *, source="", year=None)`, `is_gazette(lines)`,
`gazette_lines(lines)` (furniture removed, glued cells split), `is_furniture(text)`.

Facts relied on (how Công báo pages and their extracted text look):
- every page starts with a running header "CÔNG BÁO/Số 123 + 124/Ngày 15-02-2024"
  (or the three parts on separate lines) and a page number just before or after it,
  sometimes on the same line ("38 CÔNG BÁO/…"); footers "- 38 -" or "Trang 38";
- the table header is printed again on every page (flat.py skips it), and a cell cut
  by a page break goes on after that header;
- a cell is wrapped one visual line per text line, timing cells too ("Nhiệm vụ
  thường" / "xuyên"), and the wrapped header words ("Thời hạn hoàn" / "thành");
- when two cells sit on the same visual line, extraction glues them: "Bộ Ngoại giao
  Ủy ban nhân dân các" (a unit, then the next unit cell's start), "Hồ sơ di sản Hằng
  năm" (a product, then the timing). Such a line is split where the second cell opens
  with a capital: a complete timing at the end of the line, or a unit head after a
  complete unit name of two words or more — never after a comma, a semicolon or a
  joining word ("và", "các" …), which keep a list inside one cell;
- sections are Roman ("I. …") or Arabic ("1." with rows "1.1"), and extra columns such
  as "Sản phẩm" appear; "Thời hạn hoàn thành" makes every timing a deadline.
Not here: reading the rows (flat.py), metadata (header.py), PDF files (pdf.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from notifier.importers.cells import (
    NUMBER,
    NUMBER_GLUED,
    ROMAN,
    ROMAN_TITLED,
    Line,
    ends_with_joiner,
    flat_ascii,
    is_funding_like,
    is_timing_like,
    is_unit_like,
    split_lines,
)
from notifier.plan import Plan
from notifier.timing import TimingKind, parse_timing

__all__ = ["gazette_lines", "is_furniture", "is_gazette", "parse_gazette"]

_RUNNING = re.compile(
    r"^(?:\d{1,4}\s+)?cong\s*bao\b(?:\s*[/|-]?\s*so\s*\d+(?:\s*\+\s*\d+)*)?"
    r"(?:\s*[/|-]?\s*ngay\s*\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{4})?(?:\s+\d{1,4})?$"
)
_ISSUE = re.compile(r"^so\s*\d+(?:\s*\+\s*\d+)*$")
_ISSUE_DATE = re.compile(r"^ngay\s*\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{4}$")
_PAGE_NO = re.compile(r"^\d{1,4}$")
_FOOTER = re.compile(r"^(?:[-–]\s*\d{1,4}\s*[-–]|trang\s*\d{1,4}(?:\s*/\s*\d{1,4})?)$")


_RUNNING_INITIALS = frozenset("Cc0123456789")
_FOOTER_INITIALS = frozenset("-–Tt")


def is_furniture(text: str) -> bool:
    """A running header or footer line ("CÔNG BÁO/Số …", "- 38 -", "Trang 38")."""
    folded = flat_ascii(text)
    return bool(_RUNNING.match(folded) or _FOOTER.match(folded))


def is_gazette(lines: Sequence[Line]) -> bool:
    """Was the text extracted from printed pages: a gazette running header, or page
    footers ("- 38 -", "Trang 38") on at least two pages?"""
    footers = 0
    for line in lines:
        text = line.text
        # cheap pre-test: a running header opens with "C" or its page number, a footer
        # with a dash or "Trang" and is short
        if not (
            (text[0] in _RUNNING_INITIALS and len(text) <= 60 and ("B" in text or "b" in text))
            or (text[0] in _FOOTER_INITIALS and len(text) <= 14)
        ):
            continue
        folded = flat_ascii(text)
        if _RUNNING.match(folded):
            return True
        footers += bool(_FOOTER.match(folded))
    return footers >= 2


def parse_gazette(text: str, *, source: str = "", year: int | None = None) -> Plan:
    """A Plan from gazette text (furniture removed, glued cells split), else as prose."""
    from notifier.importers.flat import find_header, plan_from_flat
    from notifier.importers.prose import parse_prose

    lines = gazette_lines(split_lines(text))
    header = find_header(lines)
    if header is None:
        return parse_prose(lines, source=source, year=year)
    return plan_from_flat(lines, header, source=source, year=year)


def gazette_lines(lines: Sequence[Line]) -> list[Line]:
    """The lines without page furniture; inside the table, glued cells split in two."""
    from notifier.importers.flat import find_header

    kept = _without_furniture(lines)
    header = find_header(kept)
    if header is None:
        return kept
    out = kept[: header[1]]
    for line in kept[header[1] :]:
        out.extend(Line(line.no, part) for part in split_glued(line.text))
    return out


def _without_furniture(lines: Sequence[Line]) -> list[Line]:
    """Drop running headers, the issue/date lines under a bare "CÔNG BÁO", footers, and
    the page number printed beside each running header.

    The page number may come out just after the header or just before it; pages follow
    each other, so the number that continues the sequence is the page number — a row
    number ending the previous page ("5" then "CÔNG BÁO …") is kept.
    """
    drop = [False] * len(lines)
    last_page: int | None = None
    for i, line in enumerate(lines):
        folded = flat_ascii(line.text)
        if _FOOTER.match(folded):
            drop[i] = True
        if not _RUNNING.match(folded):
            continue
        drop[i] = True
        j = i + 1
        while j < len(lines) and j <= i + 2:
            nxt = flat_ascii(lines[j].text)
            if _ISSUE.match(nxt) or _ISSUE_DATE.match(nxt):
                drop[j] = True
                j += 1
            else:
                break
        if re.search(r"\d\s*$|^\s*\d", folded) and _page_in_line(folded, last_page):
            last_page = _page_in_line(folded, last_page)
            continue
        after = j if j < len(lines) and _PAGE_NO.match(lines[j].text) else None
        before = i - 1 if i and _PAGE_NO.match(lines[i - 1].text) and not drop[i - 1] else None
        for at in (after, before):
            if at is not None and _next_page(int(lines[at].text), last_page):
                drop[at] = True
                last_page = int(lines[at].text)
                break
    return [line for line, gone in zip(lines, drop) if not gone]


def _next_page(number: int, last: int | None) -> bool:
    """Does `number` continue the page sequence (any number starts it)?"""
    return last is None or 0 < number - last <= 2


def _page_in_line(folded: str, last: int | None) -> int | None:
    """A page number printed on the header line itself ("38 CÔNG BÁO/…", "…/2024 39")."""
    m = re.match(r"^(\d{1,4})\s+cong", folded) or re.search(r"\d{4}\s+(\d{1,4})$", folded)
    if m and _next_page(int(m.group(1)), last):
        return int(m.group(1))
    return None


def split_glued(text: str) -> list[str]:
    """One line, or two cells that extraction glued together (see the module notes)."""
    if NUMBER.match(text) or ROMAN.match(text) or ROMAN_TITLED.match(text):
        return [text]
    if NUMBER_GLUED.match(text):
        return [text]  # "7. Tổ chức …": flat.py reads glued row numbers itself
    words = text.split(" ")
    if len(words) < 2:
        return [text]
    cut = _timing_cut(words) or _unit_cut(words) or _funding_cut(words)
    if cut is None:
        return [text]
    return [" ".join(words[:cut]), " ".join(words[cut:])]


def _timing_cut(words: list[str]) -> int | None:
    """Where a complete timing that ends the line starts ("… Hằng năm", "… Quý IV/2024")."""
    for k in range(1, len(words)):
        head = words[k]
        if not (head[:1].isupper() or head[:1].isdigit()):
            continue
        before = " ".join(words[:k])
        rest = " ".join(words[k:])
        if ends_with_joiner(before) or not is_timing_like(rest) or is_timing_like(before):
            continue
        # "Nam" alone (of "Việt Nam") reads as a year word: a timing needs a number or
        # two words ("Hằng năm", "Nhiệm vụ thường xuyên").
        if (k < len(words) - 1 or any(c.isdigit() for c in rest)) and _complete_timing(rest):
            return k
    return None


def _complete_timing(text: str) -> bool:
    try:
        timing = parse_timing(text, year=2000)
    except Exception:  # noqa: BLE001 - a parser failure only means "not a timing"
        return False
    return timing.kind is not TimingKind.UNDATABLE


def _unit_cut(words: list[str]) -> int | None:
    """Where a second unit name starts after a complete first one ("Bộ Ngoại giao Ủy ban …")."""
    if not is_unit_like(" ".join(words[:2])):
        return None
    for k in range(2, len(words) - 1):
        if not words[k][:1].isupper():
            continue
        before = " ".join(words[:k])
        if ends_with_joiner(before) or before.endswith((",", ";", ".", ":")):
            continue
        rest = " ".join(words[k:])
        if _STRONG_HEAD.match(flat_ascii(rest)) and _names_a_unit(before):
            return k
    return None


def _funding_cut(words: list[str]) -> int | None:
    """Where a funding note starts after a complete timing ("Trong năm 2024 Không phát sinh")."""
    for k in range(1, len(words)):
        if not words[k][:1].isupper():
            continue
        before, rest = " ".join(words[:k]), " ".join(words[k:])
        if is_timing_like(before) and is_funding_like(rest) and _complete_timing(before):
            return k
    return None


# Heads that open a second unit name for sure; weaker ones ("Trung ương", "Ban" + one
# word) also end names and never start a cut.
_STRONG_HEAD = re.compile(
    r"^(?:bo|so|uy\s+ban|ubnd|cac|co\s+quan|hoi|trung\s+tam|van\s+phong|tong\s+cuc|cuc"
    r"|vien|dai|thong\s+tan|cong\s+an|ngan\s+hang|toa\s+an|kiem\s+toan|bao\s+hiem"
    r"|hoc\s+vien|dai\s+hoc|tinh\s+uy|thanh\s+uy|mat\s+tran|lien\s+hiep|tong\s+lien\s+doan"
    r"|bo\s+tu\s+lenh|quan\s+khu)\s+\S"
)


def _names_a_unit(text: str) -> bool:
    """A unit name, not just its head: "Bộ Ngoại giao", not "Bộ" or "Ủy ban"."""
    folded = flat_ascii(text).split()
    return len(folded) >= 2 and not (len(folded) == 2 and folded[0] in {"uy", "co", "don"})
