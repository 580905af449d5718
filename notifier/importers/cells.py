"""What a line of a plan is: a timing, a funding note, a unit list, a number or a section mark.

Owns the recognisers every text-like importer shares (flattened tables now, PDF text
later): `Line` (a cleaned source line with its 1-based number), `split_lines()`,
`Kind` and `kind_of()` (TIMING, FUNDING, UNIT, OTHER), `is_timing_like()`,
`is_funding_like()`, `is_unit_like()`, `continues()` (does a line look like the
wrapped rest of the previous one), `roman_value()` and the marker regexes.

Facts relied on: cells of Vietnamese plan tables open with a small vocabulary —
timings with "Thường xuyên", "Trong năm", "Quý", "Tháng", "hằng năm", dates;
funding with "Không phát sinh", "Nguồn ngân sách…", "Kinh phí…", "Xã hội hoá";
units with a head noun ("Sở", "UBND", "Hội …", "Liên hiệp", "Ban", "Các cơ quan…").
A wrapped cell continues with a lower-case word or after a joining word/punctuation.
Matching folds each character to its lower-case base letter (`flat_ascii`, offsets kept),
so NFD, upper case, old tone placement and text typed without diacritics are recognised
alike; heads that collide without diacritics ("Bản"/"Ban") are checked with them.
Not here: dating a timing (timing.py), splitting a unit cell into units (units.py),
deciding which column a line belongs to (flat.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from notifier.text import clean

__all__ = [
    "ROMAN",
    "Kind",
    "Line",
    "continues",
    "ends_with_joiner",
    "flat_ascii",
    "is_funding_like",
    "is_timing_like",
    "is_unit_like",
    "key",
    "kind_of",
    "roman_value",
    "split_lines",
    "starts_lower",
]


@dataclass(frozen=True, slots=True)
class Line:
    """One non-empty source line, cleaned (NFC, tidy spaces and dashes)."""

    no: int  # 1-based line number in the source
    text: str


def split_lines(text: str) -> list[Line]:
    """Clean every line of `text`; keep the non-empty ones with their original numbers."""
    # One clean() over the whole text is several times faster than one per line; the
    # leading "x" line keeps clean()'s final strip from removing leading blank lines,
    # so the n-th cleaned line is the n-th source line.
    cleaned = clean("x\n" + text).split("\n")[1:]
    return [Line(no, line) for no, line in enumerate(cleaned, 1) if line]


class Kind(Enum):
    TIMING = "timing"
    FUNDING = "funding"
    UNIT = "unit"
    OTHER = "other"


@lru_cache(maxsize=8192)
def key(text: str) -> str:
    """Matching key of a line's opening: lower case, no diacritics (cached: cells repeat).

    Lines are already clean (NFC, tidy spaces), so a per-character fold is enough.
    """
    head = text[:80]
    return flat_ascii(head if unicodedata.is_normalized("NFC", head) else clean(head))


# Timing cells: what opens them. Anchored at the start; the whole cell stays short.
class _AsciiTable(dict[int, str]):
    """str.translate table: a character → its lower-case base letter, filled on demand."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        base = unicodedata.normalize("NFD", ch)[:1].lower() or ch
        if base == "đ":
            base = "d"
        out = base if len(base) == 1 else ch
        self[code] = out
        return out


_ASCII = _AsciiTable()


def flat_ascii(text: str) -> str:
    """Lower case without diacritics, one character per character of `text` (NFC input).

    Unlike text.fold_ascii it keeps offsets, so a match found here slices the original.
    """
    return text.translate(_ASCII)


_TIMING = re.compile(
    r"""^(?:
      thuong\ xuyen | lien\ tuc | dinh\ ky | ca\ nam | nhiem\ vu\ thuong
    | hang\ (?:nam|quy|thang|tuan|ngay)
    | trong\ (?:nam|quy|thang|tuan|dot|giai\ doan|\d)
    | nam\ (?:hoc\ )?\d{4} | \d{4}(?:\s*[-/]\s*\d{4})?\b
    | quy\ (?:[ivx]+\b|\d) | thang\ (?:\d|gieng|chap|gieng|[a-z]+\ am\ lich)
    | tuan\ (?:dau|cuoi|\d|thu|[ivx]+\b)
    | ngay\ \d | mung\ \d | \d{1,2}\s*[/.-]\s*\d{1,2}(?:\s*[/.-]\s*\d{2,4})?(?![\d.,])
    | tu\ (?:ngay|thang|quy|nam|tuan|\d)
    | truoc\ (?:ngay|thang|quy|nam|\d|dip|tet|le)
    | cham\ nhat | hoan\ thanh\ (?:trong|truoc|cham|vao|nam|quy|thang|ngay)
    | (?:dau|giua|cuoi)\ (?:nam|quy|thang|tuan)
    | (?:6|06|9|09|sau|chin)\ thang\ (?:dau|cuoi|nam)
    | sau\ khi | khi\ co | (?:theo|khi)\ (?:chi\ dao|yeu\ cau|ke\ hoach|tien\ do|lo\ trinh)
    | giai\ doan\ \d | den\ (?:nam|ngay|thang|quy|het) | dip\ (?:tet|le)
    | vao\ (?:dip|ngay|thang|quy|nam|cuoi|dau|giua)
    # an opening word alone on a line: the rest wrapped onto the next line
    | (?:nam|quy|thang|trong|thuong|tu|truoc|hang|dau|cuoi|giua|khi|theo|dinh|ca|tuan|ngay
       |giai|cham|\d{1,2}\ thang|hoan\ thanh|sau)$
    )""",
    re.VERBOSE,
)

_FUNDING = re.compile(
    r"""^(?:
      khong\ phat\ sinh | khong\ (?:co\ )?kinh\ phi | khong\ su\ dung\ kinh\ phi
    | nguon\ (?:ngan\ sach|von|kinh\ phi|xa\ hoi|ns|tai\ tro|hop\ phap|thu|chi|dong\ gop
              |su\ nghiep|quy|khac|tu|van\ dong|ho\ tro)
    | ngan\ sach | kinh\ phi | xa\ hoi\ hoa | ns(?:nn|tw|dp)\b | ns\ (?:tw|dp|tinh|huyen|xa)
    | von\ | tai\ tro | tu\ (?:nguon|can\ doi|dam\ bao|bao\ dam|tuc|chu)
    | (?:trong|theo|tu)\ du\ toan | du\ toan
    | long\ ghep\ (?:trong\ (?:kinh\ phi|nguon|du\ toan)|tu\ nguon|nguon|kinh\ phi)
    | su\ dung\ (?:nguon|kinh\ phi)
    | [\d.,]+\s*(?:trieu|ty|nghin|ngan|dong|d\b|vnd)
    | \d{1,3}(?:[.,]\d{3})+\s*$
    | (?:nguon(?:\ [a-z]+)?|khong(?:\ phat)?|kinh|ngan|long(?:\ ghep)?|xa(?:\ hoi)?)$
    )""",
    re.VERBOSE,
)

# Head nouns of unit names; the negative look-aheads keep out events that share a head
# ("Hội thi", "Hội chợ", "Ban hành", "Báo cáo", "Đại hội" folds like "Đài").
_UNIT = re.compile(
    r"""^(?:
      so(?:\ |$)| ubnd | uy\ ban | hdnd | hoi\ dong\ (?!thi\b) | mttq | mat\ tran
    | hoi(?:$|\ (?!thi\b|cho\b|nghi\b|thao\b|dien\b|trai\b|he\b|xuan\b|sach\b|khoe\b|lang\b|dua\b
            |dam\b|tu\b|y\b|tuong\b|nhap\b|ngo\b|hoa\b|bao\b|van\b|an\b|dong\ (?:thi|tuyen)))
    | lien\ hiep | lien\ doan | lien\ minh | hiep\ hoi
    | ban(?:$|\ (?!hanh\b|do\b|tin\b|sao\b|ve\b|giao\b|dau\b))
    | cac\ (?:co\ quan|don\ vi|so|ban|nganh|dia\ phuong|to\ chuc|hoi|doan\ the|huyen|xa|phuong
            |truong|phong|doanh\ nghiep|tinh|dai|bao|trung\ tam|lien|cap|bo|thanh\ vien|ca\ nhan)
    | trung\ tam | cong\ an | bo\ chi\ huy | bo\ doi | bo(?:$|\ (?!sung\b|tri\b|tuc\b))
    | dai\ (?:phat|truyen|pt) | bao(?:$|\ (?!cao\b|ve\b|dam\b|ton\b|quan\b|chi\b|tri\b|hiem\b))
    | truong(?:$|\ (?!hop\b)) | van\ phong | tinh\ (?:doan|uy|hoi) | thanh\ (?:doan|uy)
    | doan\ (?:thanh\ nien|tncs|ca\ mua|nghe\ thuat|luat\ su)
    | thanh\ tra | cuc(?:\ |$)| chi\ cuc | bao\ tang | nha\ hat | thu\ vien | kho\ bac | ngan\ hang
    | benh\ vien | dai\ hoc | hoc\ vien | vien(?:\ |$)| thuong\ truc | co\ quan | don\ vi
    | tong\ cong\ ty | cong\ ty | phong(?:\ |$)| hat\ kiem\ lam | vuon\ quoc\ gia | toa\ an
    | canh\ sat | bien\ phong | bo\ doi\ bien\ phong | quan\ khu | lhpn | doanh\ nghiep
    | chu\ tich | cuu\ chien\ binh | huyen\ (?:doan|uy) | ubmttq
    # a head noun alone on a line: the rest of the name wrapped onto the next line
    | (?:tinh|cong|trung|lien|van|dai|cac|chi|nha|kho|ngan|benh|hoc|thuong|tong|hat|vuon|toa
       |canh|bien|quan|uy|mat|hiep|doan|thanh|hoi\ dong|uy\ ban|van\ phong|trung\ tam)$
    # … or a head and one word, unless that pair is a common noun ("Hội nghị", "Báo cáo")
    | (?!hoi\ (?:thi|cho|nghi|thao|dien|trai|he|xuan|sach|khoe|lang|dua|dam|tu|y|tuong|nhap|ngo|hoa|an)$)
      (?!ban\ (?:hanh|do|tin|sao|ve|giao|dau)$)(?!bao\ (?:cao|ve|dam|ton|quan|chi|tri|hiem)$)
      (?:cac|so|hoi|ban|ubnd|lien|trung|cong|tinh|dai|bao|truong|van|bo|uy)\ [a-z]+$
    )""",
    re.VERBOSE,
)

_JOIN_WORDS = frozenset(
    [
        "va",
        "voi",
        "cua",
        "cac",
        "cho",
        "tai",
        "trong",
        "ve",
        "de",
        "giua",
        "hoac",
        "cung",
        "nhung",
        "theo",
        "tu",
        "den",
        "o",
        "la",
        "thuoc",
        "nhan",
        "dip",
        "nham",
        "hay",
        "nhu",
        "gom",
        "ke",
        "sau",
        "truoc",
        "khi",
        "bang",
        "qua",
        "tren",
        "duoi",
        "vao",
    ]
)
_JOIN_TAIL = re.compile(r"[,;:(/&+\-]$")
_CONTINUE_HEAD = re.compile(r"^[(\[),;:/&+.\-]")

# Markers. A Roman numeral (or a capital letter A-H) alone on a line, or followed by a
# title; an Arabic number, possibly dotted ("1.1"), alone or glued to its content.
ROMAN = re.compile(r"^(?P<mark>[IVXL]{1,7})\s*[.:)]?$")
ROMAN_TITLED = re.compile(r"^(?P<mark>[IVXL]{1,7})\s*[.:)-]\s*(?P<title>\S.*)$")
LETTER = re.compile(r"^(?P<mark>[A-H])\s*[.:)]?$")
NUMBER = re.compile(r"^(?P<num>\d{1,3}(?:\.\d{1,3})*)\s*[.)]?$")
NUMBER_GLUED = re.compile(r"^(?P<num>\d{1,3}(?:\.\d{1,3})*)(?:[.)]\s*|\s+)(?P<rest>\S.*)$")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50}


def roman_value(mark: str) -> int | None:
    """The value of a well-formed Roman numeral ("IV" → 4), else None."""
    total, prev = 0, 0
    for ch in reversed(mark):
        value = _ROMAN_VALUES.get(ch)
        if value is None:
            return None
        total = total - value if value < prev else total + value
        prev = max(prev, value)
    return total if total > 0 and _to_roman(total) == mark else None


def _to_roman(n: int) -> str:
    out = []
    for value, sym in ((50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out.append(sym)
            n -= value
    return "".join(out)


def is_timing_like(text: str) -> bool:
    """A cell that reads as a timing: opens with timing vocabulary and stays short."""
    return len(text) <= 90 and bool(_TIMING.match(key(text)))


def is_funding_like(text: str) -> bool:
    """A cell that reads as a funding note ("Không phát sinh", "Nguồn ngân sách …")."""
    return len(text) <= 160 and bool(_FUNDING.match(key(text)))


# Without diacritics some heads collide with ordinary words ("Bản" / "Ban", "Sổ" / "Sở",
# "Phong trào" / "Phòng"); text written with diacritics must use the real head.
_HEAD_FORMS = {
    "so": {"sở"},
    "ban": {"ban"},
    "bao": {"báo", "bảo"},
    "dai": {"đài", "đại"},
    "hoi": {"hội"},
    "cuc": {"cục"},
    "phong": {"phòng"},
    "bo": {"bộ"},
    "vien": {"viện"},
    "truong": {"trường"},
    "tinh": {"tỉnh"},
    "cong": {"công"},
    "van": {"văn"},
    "lien": {"liên"},
    "cac": {"các"},
    "doan": {"đoàn"},
    "nha": {"nhà"},
    "ngan": {"ngân"},
    "don": {"đơn"},
    "co": {"cơ"},
    "uy": {"ủy", "uỷ"},
    "mat": {"mặt"},
    "hiep": {"hiệp"},
    "toa": {"tòa", "toà"},
    "thanh": {"thanh", "thành"},
    "chi": {"chi"},
    "kho": {"kho"},
    "trung": {"trung"},
}


def is_unit_like(text: str) -> bool:
    """A cell that opens with a unit's head noun ("Sở …", "UBND …", "Các cơ quan …")."""
    if len(text) > 300 or not _UNIT.match(key(text)):
        return False
    if text.isascii():
        return True  # typed without diacritics: the folded match is all there is
    first = text.split(" ", 1)[0].lower()
    forms = _HEAD_FORMS.get(key(first))
    return forms is None or first in forms


@lru_cache(maxsize=16384)
def kind_of(text: str) -> Kind:
    """What a line looks like on its own; timing and funding win over unit names."""
    if is_timing_like(text):
        return Kind.TIMING
    if is_funding_like(text):
        return Kind.FUNDING
    if is_unit_like(text):
        return Kind.UNIT
    return Kind.OTHER


def starts_lower(text: str) -> bool:
    """Opens with a lower-case letter: the rest of a wrapped phrase."""
    first = text[:1]
    return first.isalpha() and first.islower()


def ends_with_joiner(text: str) -> bool:
    """Ends with punctuation or a word that cannot end a cell ("…, ", "… và", "… của",
    "… Việt" of "Việt Nam")."""
    if _JOIN_TAIL.search(text):
        return True
    last = text.rsplit(" ", 1)[-1]
    return key(last) in _JOIN_WORDS or last in _UNFINISHED  # "… đại diện Việt" / "Nam …"


# First words of names that never end a cell ("Việt Nam", "Đắk Lắk", "Hồ Chí Minh").
_UNFINISHED = frozenset({"Việt", "Đắk", "Chí"})
_COUNTED = frozenset({"nam", "thang", "quy", "ngay", "tuan", "thu", "so", "lan", "khoa", "giai"})
_NUMERAL_HEAD = re.compile(r"^(?:\d|[IVX]+\b)")


def continues(prev: str, text: str) -> bool:
    """Evidence that `text` is the wrapped rest of the cell `prev` ends.

    A lower-case start, a closing or joining mark, a joining word at the end of `prev`,
    or a number after the noun it counts ("năm" / "2024", "Quý" / "II/2024").
    """
    if starts_lower(text) or _CONTINUE_HEAD.match(text) or ends_with_joiner(prev):
        return True
    return bool(_NUMERAL_HEAD.match(text)) and key(prev.rsplit(" ", 1)[-1]) in _COUNTED
