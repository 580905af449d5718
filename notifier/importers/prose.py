"""Prose plans: a news page or a text about a plan, with activities in sentences.

Owns `parse_prose()`. What it reads, and the rules it follows (docs/importing.md):
- The page's furniture is cut away: the portal heading before the article, and after
  it everything from the first navigation mark ("Tin đã đưa", "Tin liên quan",
  "VIDEO CLIP", "Xem thêm" …), bullet list ("• … ( 07/06/2019 )") or signature line
  ("X.L", "PV", "Theo …", "Nguồn: …").
- Metadata from the sentence that announces the plan: "ngày 21/5/2019, UBND tỉnh ban
  hành Kế hoạch số 4045/KH-UBND về Ngoại giao Văn hóa năm 2019 …" → number, date,
  issuer; the title is the headline when it starts with "Kế hoạch", else "Kế hoạch"
  + the subject after "về".
- Activities are the numbered paragraphs (or the "-" items after an introduction
  ending with ":"). A paragraph that introduces a list with a colon and separates its
  items with semicolons ("Tổ chức các hoạt động giao lưu văn hóa như: a; b; c") gives
  one activity per item, refs "2.1", "2.2" …, its lead-in as the section title; other
  paragraphs are one activity each (ref "1").
- The lead unit comes from the paragraph ("giao Sở X chủ trì …", "Sở X chủ trì"), else
  from the plan's general assignment ("UBND tỉnh giao Sở Ngoại vụ là cơ quan đầu mối,
  phối hợp với các cơ quan, đơn vị liên quan …"), with one warning saying so.
- The timing is the one the item states ("trong tháng 6/2019", "Quý III/2019"); when
  none is stated it is "Trong năm <plan year>", and one warning lists those refs, so
  the admin sees which timings were inferred and not written.
Not here: tables (flat.py), metadata of official headings (header.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from notifier.errors import Problem
from notifier.importers.cells import Line, flat_ascii, is_unit_like, starts_lower
from notifier.importers.duties import read_duties
from notifier.importers.header import find_number, plan_slug
from notifier.importers.table import Role, Row, TimingReader, row_to_activity
from notifier.plan import Plan

__all__ = ["parse_prose"]

_NAV = re.compile(
    r"^(?:tin\s+(?:da\s+dua|lien\s+quan|khac|cung\s+chuyen\s+muc|moi(?:\s+nhat)?|doc\s+nhieu|noi\s+bat)"
    r"|cac\s+tin\s+(?:khac|da\s+dua)|bai\s+(?:viet\s+)?lien\s+quan|xem\s+them|video(?:\s+clip)?"
    r"|y\s+kien\s+ban\s+doc|binh\s+luan|chia\s+se|in\s+bai|ban\s+in|gui\s+bai|quay\s+lai|tro\s+ve"
    r"|lien\s+ket(?:\s+website)?|tu\s+khoa|tags?|gop\s+y|dau\s+trang|thong\s+ke\s+truy\s+cap)\b"
)
_BULLET = re.compile(r"^[•·▪►»›◦■□]")
_LISTED = re.compile(r"\(\s*\d{1,2}/\d{1,2}/\d{4}\s*\)\s*$")
_SIGNATURE = re.compile(
    r"^(?:[A-ZĐ]{1,3}(?:\s?\.\s?[A-ZĐ]{1,3})+\.?|(?:PV|BTV|CTV|TTXVN)\b.*|\(?(?:Theo|Nguồn)\b.{0,60}\)?)$"
)
_NUMBERED = re.compile(r"^(\d{1,2})\s*[.)]\s+(\S.*)$")
_DASHED = re.compile(r"^[-+*]\s+(\S.*)$")
_DATE = re.compile(
    r"\bngay\s+(\d{1,2})\s*(?:/|-|\.|\s+thang\s+)\s*(\d{1,2})\s*(?:/|-|\.|\s+nam\s+)\s*(\d{4})"
)
_ISSUER = re.compile(
    r"\b(?:ubnd|uy\s+ban\s+nhan\s+dan)\s+(tinh|thanh\s+pho|huyen)\b(?:\s+(?P<place>[^,;.]{2,30}?))?"
    r"\s+(?:da\s+)?(?:ky\s+)?ban\s+hanh"
)
_PLACE_AFTER = re.compile(r"\b(?:tinh|thanh\s+pho)\s+(?=\S)")
_ASSIGN = re.compile(r"\bgiao\s+(?:cho\s+)?(?=\S)")
_LEAD_STOP = re.compile(
    r"\s(?:la\s+(?:co\s+quan|don\s+vi)|chu\s+tri|phoi\s+hop|tham\s+muu|thuc\s+hien|trien\s+khai"
    r"|co\s+trach\s+nhiem|to\s+chuc|xay\s+dung|theo\s+doi|huong\s+dan|lam\s+dau\s+moi)\b|[;.:]"
)
_CHAIRS = re.compile(r"\(([^()]{3,120}?)\s+chu\s+tri\b")
_COORD = re.compile(r"\bphoi\s+hop\s+(?:voi\s+)?(?=\S)")
_COORD_STOP = re.compile(
    r"\s(?:tham\s+muu|trien\s+khai|to\s+chuc|thuc\s+hien|de|nham|xay\s+dung|theo\s+doi"
    r"|huong\s+dan|kiem\s+tra|bao\s+cao)\b|[;.:)]"
)
_STATED_TIMING = re.compile(
    r"\b(?:(?:trong|vao|tu|truoc|den|dip)\s+)?(?:"
    r"(?:thang|quy)\s+(?:[ivx]+|\d{1,2})(?:\s*(?:,|-|va|den)\s*(?:thang\s+|quy\s+)?(?:[ivx]+|\d{1,2}))*"
    r"(?:\s*/\s*\d{4}|\s+nam\s+\d{4})"
    r"|(?<=\s)(?:ngay\s+)?\d{1,2}\s*[/-]\s*\d{1,2}(?:\s*[/-]\s*\d{4})?"
    r"|(?:6|sau)\s+thang\s+(?:dau|cuoi)\s+nam(?:\s+\d{4})?)"
)
_LEAD_IN_TAIL = re.compile(r"(?:\s+(?:nhu|gom|sau|bao\s+gom|cu\s+the))+\s*$")


@dataclass(slots=True)
class _Item:
    ref: str
    content: str
    line: int
    section: str = ""
    section_title: str = ""
    paragraph: str = ""


def parse_prose(lines: Sequence[Line], *, source: str = "", year: int | None = None) -> Plan:
    """A Plan from prose; everything it had to infer or could not find is a Problem."""
    problems: list[Problem] = []
    paragraphs = _paragraphs(_article(lines))
    heading, body = _split_heading(paragraphs)
    announce = next((p for p in body if find_number(p.text, plan_only=True)), None)
    number = find_number(announce.text, plan_only=True) if announce else ""
    issued, issuer, place = _announcement(announce, heading)
    title = _title(heading, announce)
    plan_year = year or _year_of(title) or (issued.year if issued else None)
    plan = Plan(
        slug=plan_slug(number, plan_year, title, _stem(source)),
        title=title,
        number=number,
        date=issued,
        issuer=issuer,
        place=place,
        year=plan_year,
        source=source,
    )
    if not number or plan_year is None:
        problems.append(
            Problem(
                "Không tìm thấy câu giới thiệu kế hoạch (“… ban hành Kế hoạch số …”); "
                "kiểm tra số, ngày và năm của kế hoạch trong tệp lịch.",
                line=body[0].no if body else None,
                key="plan",
                severity="warning",
            )
        )
    items = _items(body, announce)
    general = _general_assignment(body)
    timing = TimingReader(year=plan_year, deadline=False)
    inferred: list[str] = []
    used_general = False
    assigned: dict[str, tuple[str, str]] = {}
    for item in items:
        if item.paragraph not in assigned:  # items of one paragraph share its assignment
            assigned[item.paragraph] = _assignment(item.paragraph)
        lead, coord = assigned[item.paragraph]
        if not lead and general:
            lead, coord, used_general = general[0], coord or general[1], True
        stated = _stated_timing(item.content)
        if not stated and plan_year is not None:
            stated = f"Trong năm {plan_year}"
            inferred.append(item.ref)
        cells = {Role.CONTENT: item.content, Role.LEAD: lead, Role.COORDINATING: coord}
        cells[Role.TIMING] = stated
        row = Row(
            item.ref,
            {k: v for k, v in cells.items() if v},
            item.line,
            item.ref,
            item.section,
            item.section_title,
        )
        activity, row_problems = row_to_activity(row, timing)
        plan.activities.append(activity)
        problems.extend(row_problems)
    if inferred:
        problems.append(
            Problem(
                f"Văn bản không ghi thời gian cho {len(inferred)} hoạt động "
                f"({', '.join(inferred)}); tạm lấy “Trong năm {plan_year}” theo năm của kế "
                "hoạch. Hãy sửa trong tệp lịch nếu biết thời gian cụ thể.",
                line=items[0].line if items else None,
                key="inferred.timing",
                severity="warning",
            )
        )
    if used_general and general:
        problems.append(
            Problem(
                f"Đơn vị chủ trì “{general[0]}” lấy từ câu giao nhiệm vụ chung "
                f"(dòng {general[2]}), không ghi riêng cho từng hoạt động.",
                line=general[2],
                key="inferred.lead",
                severity="warning",
            )
        )
    if not items:
        problems.append(
            Problem(
                "Không tìm thấy hoạt động nào (đoạn đánh số “1.”, “2.” … hoặc gạch đầu dòng).",
                line=body[0].no if body else None,
            )
        )
    plan.reports, duty_problems = read_duties(body)
    plan.problems = sorted([*problems, *duty_problems], key=lambda p: (p.line is None, p.line or 0))
    return plan


def _stem(source: str) -> str:
    from pathlib import Path

    return Path(source).stem if source else ""


def _article(lines: Sequence[Line]) -> list[Line]:
    """The lines up to the first navigation mark, bullet list or signature."""
    seen_paragraph = False
    for i, line in enumerate(lines):
        text = line.text
        if seen_paragraph and (
            (len(text) <= 60 and _NAV.match(flat_ascii(text)))
            or _BULLET.match(text)
            or _LISTED.search(text)
            or (len(text) <= 60 and _SIGNATURE.match(text))
        ):
            return list(lines[:i])
        seen_paragraph = seen_paragraph or len(text) > 80
    return list(lines)


def _paragraphs(lines: list[Line]) -> list[Line]:
    """Join a line that starts in lower case to the one before (a wrapped paragraph)."""
    out: list[Line] = []
    for line in lines:
        if out and starts_lower(line.text) and not _NUMBERED.match(line.text):
            out[-1] = Line(out[-1].no, f"{out[-1].text} {line.text}")
        else:
            out.append(line)
    return out


def _split_heading(paragraphs: list[Line]) -> tuple[list[Line], list[Line]]:
    """Short lines before the first real paragraph are the portal heading and headline."""
    for i, p in enumerate(paragraphs):
        if len(p.text) > 120 or _NUMBERED.match(p.text):
            return paragraphs[:i], paragraphs[i:]
    return [], paragraphs


def _announcement(announce: Line | None, heading: list[Line]) -> tuple[date | None, str, str]:
    """(date, issuer, place) from the sentence that announces the plan."""
    issued = issuer = None
    place = _place(heading)
    if announce is not None:
        folded = flat_ascii(announce.text)
        plan_at = re.search(r"ke\s+hoach\s+so\b", folded)
        at = plan_at.start() if plan_at else 0
        dates = [m for m in _DATE.finditer(folded) if not _cited(folded, m.start())]
        after = [m for m in dates if m.start() > at and m.start() - at < 60]
        before = [m for m in dates if m.start() < at]
        pick = after[0] if after else (before[-1] if before else None)
        if pick is not None:
            issued = _safe_date(int(pick.group(3)), int(pick.group(2)), int(pick.group(1)))
        m = _ISSUER.search(folded)
        if m:
            level = {"tinh": "tỉnh", "huyen": "huyện"}.get(m.group(1), "thành phố")
            named = (
                announce.text[m.start("place") : m.end("place")].strip() if m.group("place") else ""
            )
            if named[:1].isupper():
                place = named
            issuer = f"UBND {level} {place}".strip()
    return issued, issuer or "", place


def _cited(folded: str, at: int) -> bool:
    """A date right after another document's number ("Quyết định số 208/QĐ-TTg ngày …")."""
    return re.search(r"\bso\s*\d+\w*\s*/\s*\S+\s+$", folded[max(0, at - 50) : at]) is not None and (
        "ke hoach so" not in folded[max(0, at - 50) : at]
    )


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _place(heading: list[Line]) -> str:
    """ "tỉnh Đắk Lắk" in the headline, or "ỦY BAN NHÂN DÂN TỈNH ĐẮK LẮK" above it."""
    for line in reversed(heading):
        folded = flat_ascii(line.text)
        for m in _PLACE_AFTER.finditer(folded):
            words = line.text[m.end() :].split()
            name = []
            for w in words[:4]:
                if not w[:1].isupper():
                    break
                name.append(w.strip(",.;:"))
            if name:
                return " ".join(w if not w.isupper() else w.capitalize() for w in name)
    return ""


def _title(heading: list[Line], announce: Line | None) -> str:
    """The headline when it names the plan, else "Kế hoạch" + the announced subject."""
    for line in reversed(heading):
        if flat_ascii(line.text).startswith("ke hoach") and not line.text.isupper():
            return line.text
    if announce is None:
        return ""
    folded = flat_ascii(announce.text)
    m = re.search(r"ke\s+hoach\s+so\s+\S+(?:\s+ngay\s+\S+)?\s+(?:ve\s+(?:viec\s+)?)?", folded)
    if m is None:
        return ""
    end = re.search(r"\s(?:tren\s+dia\s+ban|gom|voi|nham)\b|[,;:.]", folded[m.end() :])
    subject = announce.text[m.end() : m.end() + end.start() if end else None].strip()
    return f"Kế hoạch {subject}" if subject else ""


def _year_of(text: str) -> int | None:
    m = re.search(r"\bnam\s+((?:19|20)\d{2})\b", flat_ascii(text))
    return int(m.group(1)) if m else None


def _items(body: list[Line], announce: Line | None) -> list[_Item]:
    """Numbered paragraphs (or dashed items) after the announcement, split into activities."""
    start = body.index(announce) + 1 if announce in body else 0
    numbered = [p for p in body[start:] if _NUMBERED.match(p.text)]
    items: list[_Item] = []
    if numbered:
        for p in _run(body[start:], _NUMBERED):
            m = _NUMBERED.match(p.text)
            assert m is not None
            items.extend(_split(m.group(1), m.group(2), p.no))
        return items
    for n, p in enumerate(_run(body[start:], _DASHED), 1):
        m = _DASHED.match(p.text)
        assert m is not None
        items.extend(_split(str(n), m.group(1), p.no))
    return items


def _run(paragraphs: list[Line], pattern: re.Pattern[str]) -> list[Line]:
    """The first contiguous run of paragraphs matching `pattern`."""
    run: list[Line] = []
    for p in paragraphs:
        if pattern.match(p.text):
            run.append(p)
        elif run:
            break
    return run


def _split(number: str, text: str, line: int) -> list[_Item]:
    """ "Lead-in như: a; b; c" → items number.1, number.2 …; anything else → one item."""
    colon = _top_level(text, ":")
    if colon:
        lead_in = text[: colon[0]].strip()
        parts = [text[colon[0] + 1 :]]
        cut = _top_level(parts[0], ";")
        pieces = [p.strip(" .;") for p in _cut(parts[0], cut)]
        pieces = [p for p in pieces if p]
        if len(pieces) >= 2:
            title = _LEAD_IN_TAIL.sub("", flat_ascii(lead_in))
            section_title = lead_in[: len(title)].strip(" ,")
            return [
                _Item(f"{number}.{k}", _capital(p), line, number, section_title, text)
                for k, p in enumerate(pieces, 1)
            ]
    return [_Item(number, _capital(text.strip().rstrip(".;").strip()), line, paragraph=text)]


def _top_level(text: str, mark: str) -> list[int]:
    """Positions of `mark` outside parentheses and quotes."""
    depth, quoted, found = 0, False, []
    for i, ch in enumerate(text):
        if ch in "(“[":
            depth += 1
        elif ch in ")”]":
            depth = max(0, depth - 1)
        elif ch == '"':
            quoted = not quoted
        elif ch == mark and depth == 0 and not quoted:
            found.append(i)
    return found


def _cut(text: str, at: list[int]) -> list[str]:
    bounds = [-1, *at, len(text)]
    return [text[a + 1 : b] for a, b in pairwise(bounds)]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _assignment(text: str) -> tuple[str, str]:
    """(lead, coordinating) a paragraph names: "giao Sở X chủ trì, phối hợp với Y"."""
    folded = flat_ascii(text)
    lead = ""
    for m in _ASSIGN.finditer(folded):
        if is_unit_like(text[m.end() : m.end() + 120]):
            stop = _LEAD_STOP.search(folded, m.end())
            lead = text[m.end() : stop.start() if stop else len(text)].strip(" ,")
            break
    if (
        not lead
        and (chair := _CHAIRS.search(folded))
        and is_unit_like(text[chair.start(1) : chair.end(1)])
    ):
        lead = text[chair.start(1) : chair.end(1)].strip()
    coord = ""
    if lead:
        for m in _COORD.finditer(folded):
            stop = _COORD_STOP.search(folded, m.end())
            candidate = text[m.end() : stop.start() if stop else len(text)].strip(" ,")
            if is_unit_like(candidate):
                coord = candidate
                break
    return lead, coord


def _general_assignment(body: list[Line]) -> tuple[str, str, int] | None:
    """The plan-wide "UBND tỉnh giao Sở X là cơ quan đầu mối …" outside the numbered items."""
    for p in body:
        if _NUMBERED.match(p.text) or "ke hoach" not in flat_ascii(p.text):
            continue
        lead, coord = _assignment(p.text)
        if lead:
            return lead, coord, p.no
    return None


def _stated_timing(content: str) -> str:
    """A timing the item states itself ("trong tháng 6/2019"), capitalised; else ""."""
    folded = flat_ascii(content)
    for m in _STATED_TIMING.finditer(folded):
        # A date needs its preposition ("vào ngày 21/6"), and cited documents' dates
        # ("Quyết định số 208/QĐ-TTg ngày 14/02/2011") are not timings.
        if _cited(folded, m.start()) or (
            folded[m.start()].isdigit() or folded.startswith("ngay", m.start())
        ):
            continue
        return _capital(content[m.start() : m.end()])
    return ""
