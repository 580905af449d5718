"""A plan's metadata from its opening lines: number, date, place, issuer, title, year.

Owns `Metadata`, `read_metadata()` (the heading of an official kế hoạch), `plan_slug()`,
`find_number()` / `find_dated_place()` (also used by prose pages) and `recase()`.

Facts relied on (Nghị định 30/2020/NĐ-CP on the form of official documents):
- the number line reads "Số: 34/KH-UBND" (number / kind-issuer), the place-and-date
  line "Đắk Lắk, ngày 22 tháng 02 năm 2024", the title "KẾ HOẠCH" then the subject in
  capitals on the next line(s);
- the issuer code after the kind ("KH-UBND") names the issuing body; for UBND the
  level (tỉnh, thành phố, huyện) is the one the body itself writes ("UBND tỉnh …").
Titles are stored in sentence case, recovered rather than guessed: each run of title
words takes the casing it has where the same words occur in the body ("Ngoại giao văn
hóa năm 2024"), the place keeps its own casing, acronyms found in capitals in the body
stay capitals, other words go lower case. A title already in mixed case is kept as is.
Not here: report duties (duties.py), the table (flat.py), prose pages (prose.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from notifier.errors import Problem
from notifier.importers.cells import Line, flat_ascii
from notifier.text import fold, slugify

__all__ = [
    "Metadata",
    "find_dated_place",
    "find_number",
    "plan_slug",
    "read_metadata",
    "recase",
]

_NUMBER = re.compile(
    r"\bso\s*[:.]?\s*(\d{1,6}[a-z]?\s*/\s*[a-z0-9đ][a-z0-9\-.&]*(?:\s*/\s*[a-z0-9\-]+)*)"
)
_PLAN_NUMBER = re.compile(
    r"\bke\s+hoach\s+(?:hanh\s+dong\s+)?so\s*[:.]?\s*(\d{1,6}[a-z]?\s*/\s*[a-z0-9][a-z0-9\-.&]*)"
)
_DATED_PLACE = re.compile(
    r"^(?P<place>[^\d,;:()]{2,40}?)\s*,\s*ngay\s+(?P<d>\d{1,2})\s+thang\s+(?P<m>\d{1,2})\s+nam\s+(?P<y>\d{4})"
)
_ISSUER_LINE = re.compile(
    r"^(?:uy\s+ban\s+nhan\s+dan|ubnd)\s+(?P<level>tinh|thanh\s+pho|huyen|quan|thi\s+xa|xa|phuong)\s+(?P<place>.+)$"
)
_UBND_LEVEL = re.compile(
    r"\b(?:ubnd|uy\s+ban\s+nhan\s+dan)\s+(tinh|thanh\s+pho|huyen|thi\s+xa|quan)\b"
)
_YEAR = re.compile(r"\bnam\s+((?:19|20)\d{2})\b")
# Codes of central issuers (Nghị định 30/2020/NĐ-CP, Phụ lục III).
_CENTRAL = {"ttg": "Thủ tướng Chính phủ", "cp": "Chính phủ"}
_LEVELS = {
    "tinh": "tỉnh",
    "thanh pho": "thành phố",
    "huyen": "huyện",
    "quan": "quận",
    "thi xa": "thị xã",
    "xa": "xã",
    "phuong": "phường",
}


@dataclass(slots=True)
class Metadata:
    number: str = ""
    date: date | None = None
    place: str = ""
    issuer: str = ""
    title: str = ""
    year: int | None = None
    problems: list[Problem] = field(default_factory=list)


def find_number(text: str, *, plan_only: bool = False) -> str:
    """The document number in `text` ("Số: 34/KH-UBND" → "34/KH-UBND"), else ""."""
    folded = flat_ascii(text)
    m = (None if plan_only else _NUMBER.search(folded)) or _PLAN_NUMBER.search(folded)
    if m is None:
        return ""
    return re.sub(r"\s+", "", text[m.start(1) : m.end(1)]).rstrip(".")


def find_dated_place(text: str) -> tuple[str, date] | None:
    """("Đắk Lắk", 2024-02-22) from "Đắk Lắk, ngày 22 tháng 02 năm 2024", else None."""
    m = _DATED_PLACE.match(flat_ascii(text))
    if m is None:
        return None
    day = _date(int(m["y"]), int(m["m"]), int(m["d"]))
    if day is None:
        return None
    return text[m.start("place") : m.end("place")].strip(), day


def _date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def read_metadata(
    head: Sequence[Line],
    body_text: str,
    *,
    year: int | None = None,
    heading: Sequence[Line] = (),
) -> Metadata:
    """Metadata from the plan's opening lines; `body_text` lends casing to the title.

    `heading`: the appendix heading ("PHỤ LỤC" / "NỘI DUNG THỰC HIỆN KẾ HOẠCH …"), whose
    title is used when the opening lines have none.
    """
    meta = Metadata()
    top = head[:15]
    for line in top:
        if not meta.number and (number := find_number(line.text)):
            meta.number = number
        if meta.date is None and (found := find_dated_place(line.text)):
            meta.place, meta.date = found
    meta.title = (
        _title(top, body_text, meta.place)
        or _heading_title(heading, body_text, meta.place)
        # a plan issued with a decision: its "KẾ HOẠCH" heading follows the decision
        or _title(head[len(top) : 120], body_text, meta.place)
    )
    meta.issuer = _issuer(top, meta.number, body_text, meta.place)
    meta.year = year or _year_of(meta.title) or (meta.date.year if meta.date else None)
    _report_missing(meta, head[0].no if head else None)
    return meta


def _year_of(text: str) -> int | None:
    """The year a title names, not its horizon ("đến năm 2030 trong năm 2024" → 2024)."""
    folded = flat_ascii(text)
    for m in _YEAR.finditer(folded):
        if not _HORIZON.search(folded, 0, m.start()):
            return int(m.group(1))
    return None


_HORIZON = re.compile(r"(?:\bden|\btoi|\btam\s+nhin(?:\s+den)?)\s+$")


def _report_missing(meta: Metadata, line: int | None) -> None:
    missing = [
        label
        for label, value in (
            ("số kế hoạch", meta.number),
            ("ngày ban hành", meta.date),
            ("tên kế hoạch", meta.title),
            ("cơ quan ban hành", meta.issuer),
            ("năm thực hiện", meta.year),
        )
        if not value
    ]
    if missing:
        meta.problems.append(
            Problem(
                f"Không tìm thấy {', '.join(missing)} trong phần đầu văn bản; "
                "hãy bổ sung trong tệp lịch.",
                line=line,
                key="plan",
                severity="warning",
            )
        )


def _title(top: Sequence[Line], body_text: str, place: str) -> str:
    """ "KẾ HOẠCH" + the capitalised subject line(s) after it, in sentence case."""
    for i, line in enumerate(top):
        folded = flat_ascii(line.text)
        if not folded.startswith("ke hoach") or not _mostly_upper(line.text):
            continue
        words = line.text.split()[2:]
        for nxt in top[i + 1 : i + 4]:
            if not _mostly_upper(nxt.text) or find_dated_place(nxt.text):
                break
            words += nxt.text.split()
        if not words and i + 1 < len(top) and _looks_like_subject(top[i + 1].text):
            # A subject in sentence case is kept; only its first word takes the body's casing.
            subject = top[i + 1].text.split()
            others = body_text.replace(top[i + 1].text, "", 1)  # casing from elsewhere
            first = recase(subject[:2], others, place).split()[:1] if len(subject) > 1 else subject
            return " ".join(["Kế hoạch", *first, *subject[1:]])
        if words:
            return "Kế hoạch " + recase(words, body_text, place)
    return ""


def _heading_title(heading: Sequence[Line], body_text: str, place: str) -> str:
    """ "NỘI DUNG THỰC HIỆN KẾ HOẠCH X" under "PHỤ LỤC" → "Kế hoạch x"."""
    for line in heading:
        at = flat_ascii(line.text).find("ke hoach ")
        if at >= 0 and not line.text.startswith("(") and _mostly_upper(line.text):
            return "Kế hoạch " + recase(line.text[at + 9 :].split(), body_text, place)
    return ""


def _looks_like_subject(text: str) -> bool:
    folded = flat_ascii(text)
    return (
        len(text) <= 200
        and not text.endswith(":")
        and not re.match(r"(?:can cu|de |thuc hien|nham|theo )", folded)
    )


def _mostly_upper(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


_PUNCT = re.compile(r"^(\W*)(.*?)(\W*)$")


def recase(words: Sequence[str], body_text: str, place: str = "") -> str:
    """Sentence-case capitalised title words by the casing the same words have in the body."""
    # Lines in capitals (headings, the title itself) say nothing about casing.
    body = [w for ln in body_text.splitlines() if not _mostly_upper(ln) for w in ln.split()]
    body_keys = [fold(_PUNCT.match(w).group(2)) for w in body]  # type: ignore[union-attr]
    starts: dict[tuple[str, str], list[int]] = {}
    for p in range(len(body_keys) - 1):
        starts.setdefault((body_keys[p], body_keys[p + 1]), []).append(p)
    capitals = {k for w, k in zip(body, body_keys) if len(k) > 1 and w.strip(".,;:()").isupper()}
    place_words = {fold(w): w for w in place.split()}
    parts = [_PUNCT.match(w).groups() for w in words]  # type: ignore[union-attr]
    keys = [fold(core) for _, core, _ in parts]
    out: list[str] = []
    t = 0
    while t < len(parts):
        length, at = 0, -1
        if t + 1 < len(parts):
            for p in starts.get((keys[t], keys[t + 1]), []):
                n = 2
                while t + n < len(parts) and p + n < len(body) and keys[t + n] == body_keys[p + n]:
                    n += 1
                if n > length:
                    length, at = n, p
        if length >= 2:
            for n in range(length):
                lead, _, trail = parts[t + n]
                out.append(lead + _PUNCT.match(body[at + n]).group(2) + trail)  # type: ignore[union-attr]
            t += length
            continue
        lead, core, trail = parts[t]
        if keys[t] in place_words:
            core = place_words[keys[t]]
        elif keys[t] not in capitals:
            core = core.lower()
        out.append(lead + core + trail)
        t += 1
    return " ".join(out)


def _issuer(top: Sequence[Line], number: str, body_text: str, place: str) -> str:
    """The issuing body: an "ỦY BAN NHÂN DÂN TỈNH X" line, else the number's code + body."""
    for line in top[:6]:
        m = _ISSUER_LINE.match(flat_ascii(line.text))
        if m:
            where = line.text[m.start("place") :].strip()
            if place and fold(where) == fold(place):
                where = place
            elif _mostly_upper(where):
                where = " ".join(w.capitalize() for w in where.lower().split())
            level = _LEVELS[" ".join(m["level"].split())]
            return f"UBND {level} {where}"
    code = number.rsplit("-", 1)[-1] if "-" in number else ""
    if flat_ascii(code) in _CENTRAL:
        return _CENTRAL[flat_ascii(code)]
    if flat_ascii(code) != "ubnd":
        return ""
    m = _UBND_LEVEL.search(flat_ascii(body_text))
    level = _LEVELS[" ".join(m.group(1).split())] if m else "tỉnh"
    return f"UBND {level} {place}".strip()


def plan_slug(number: str, year: int | None, title: str = "", fallback: str = "") -> str:
    """File and URL name of a plan: "34/KH-UBND" + 2024 → "34-kh-ubnd-2024"."""
    name = number or title or fallback or "ke-hoach"
    return slugify(f"{name} {year}" if year else name)
