"""The unit directory: canonical unit names, aliases, emails, validity and successors.

Owns: `Unit` (one office or a generic group), `Directory` (`get`, `closest`,
`split` a lead/coordinating cell into units, `route`/`recipients`/`changes`: who
receives mail on a date and why, `by_slug`, `describe`), `Membership` (plan names →
the units they reach on a day, for feeds and pages), `Split`, `Route`,
`resolve_plan()` (fills Activity.lead/.coordinating and ReportDuty.to/.owners),
`directory_from_toml()` (the [[units]]/[[groups]] tables of an already-parsed
config document), `format_day()` and `validity_text()` for messages.

Facts relied on (shared/DOMAIN.md §7):
- Official unit names may contain commas and "và" ("Sở Văn hóa, Thể thao và Du
  lịch"), so a cell is split through the directory, longest known name first,
  never by raw commas.
- Plans abbreviate: "UBND" = "Ủy ban nhân dân", "TP" = "thành phố", "KH&CN" = "Khoa
  học và Công nghệ"; they mix case, NFC/NFD and old/new tone placement.
- Units change: district People's Committees ended on 30/6/2025, departments were
  merged in 2025. Each unit has valid_from/valid_until and successor links, and
  mail for a unit that no longer exists goes to its successors, with a warning.
- Generic phrases ("các cơ quan, đơn vị liên quan") are groups: kept as one name,
  expanded into units only when the config lists their `members`.

Matching key: notifier.text.fold per word, punctuation ignored, abbreviations
expanded. Without diacritics (fold_ascii) only as a last resort, only for text
typed entirely without diacritics, and only when exactly one unit fits.
Pure: no I/O, no clock. Not here: reading config.toml with line numbers
(config.py), sending mail (mailer.py), the plan model (plan.py).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from notifier.errors import ConfigError, Problem
from notifier.plan import Plan
from notifier.text import COMBINING_MARKS, WINDOWS_DEVICES, clean, fold, fold_ascii, slugify

__all__ = [
    "Directory",
    "Membership",
    "Route",
    "Split",
    "Unit",
    "directory_from_toml",
    "format_day",
    "resolve_plan",
    "validity_text",
]

# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unit:
    """An office (or, with is_group, a generic group phrase) that plans name.

    Text fields are stored as NFC with tidy spaces; `slug` defaults to slugify(name).
    `valid_until` is the last day the unit receives mail; after it, mail goes to
    `successors`. A group is sent to only through its `members`.
    """

    name: str
    slug: str = ""
    aliases: tuple[str, ...] = ()
    email: str | None = None
    coordinator: bool = False
    valid_from: date | None = None
    valid_until: date | None = None
    successors: tuple[str, ...] = ()
    kind: str = ""
    is_group: bool = False
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        tidy = _one_line
        object.__setattr__(self, "name", tidy(self.name))
        object.__setattr__(self, "slug", self.slug.strip() or slugify(self.name))
        object.__setattr__(self, "aliases", tuple(a for a in map(tidy, self.aliases) if a))
        object.__setattr__(self, "successors", tuple(s for s in map(tidy, self.successors) if s))
        object.__setattr__(self, "members", tuple(m for m in map(tidy, self.members) if m))
        object.__setattr__(self, "email", (self.email or "").strip() or None)

    def valid_on(self, day: date) -> bool:
        """True when the unit exists on `day` (bounds inclusive)."""
        return not self.expired_on(day) and not self.pending_on(day)

    def expired_on(self, day: date) -> bool:
        return self.valid_until is not None and day > self.valid_until

    def pending_on(self, day: date) -> bool:
        return self.valid_from is not None and day < self.valid_from

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "slug": self.slug,
            "aliases": list(self.aliases),
            "email": self.email,
            "coordinator": self.coordinator,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "successors": list(self.successors),
            "kind": self.kind,
            "is_group": self.is_group,
            "members": list(self.members),
        }


@dataclass(slots=True)
class Split:
    """A cell split into canonical names; `unknown` keeps the pieces as written."""

    names: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Route:
    """Who receives mail addressed to `name` on a day, and why (Vietnamese warnings)."""

    name: str
    units: tuple[Unit, ...]
    warnings: tuple[str, ...] = ()


def format_day(day: date) -> str:
    """Vietnamese day format used in messages: 01/07/2025."""
    return day.strftime("%d/%m/%Y")


def validity_text(unit: Unit) -> str:
    """Validity for people: "từ 01/07/2025", "đến 30/06/2025", "a – b" or "" (always)."""
    start, end = unit.valid_from, unit.valid_until
    if start and end:
        return f"{format_day(start)} – {format_day(end)}"
    if start:
        return f"từ {format_day(start)}"
    if end:
        return f"đến {format_day(end)}"
    return ""


def _one_line(text: str) -> str:
    return " ".join(clean(text).split())


# --- tokens and keys --------------------------------------------------------------------------

# Words (NFC letters, digits, stray combining marks), "&", and the separators that
# may stand between units. Everything else (spaces, dashes, dots, quotes) is ignored.
_TOKEN = re.compile(rf"[\w{COMBINING_MARKS}]+|&|[,;/\n]")
_SEPARATORS = frozenset(",;/\n")
_SUGGESTIONS = 20  # unknown pieces per cell that get a "có phải là …?" (difflib is costly)
_CONJUNCTION = fold("và")

# Abbreviations seen in plans, keyed by their ASCII-folded tokens ("&" kept as a token).
# Expansion makes "UBND huyện Ea Súp" and "Ủy ban nhân dân huyện Ea Súp" one key.
_ABBREVIATIONS: dict[tuple[str, ...], str] = {
    ("ubnd",): "ủy ban nhân dân",
    ("hdnd",): "hội đồng nhân dân",
    ("mttq",): "mặt trận tổ quốc",
    ("ubmttq",): "ủy ban mặt trận tổ quốc",
    ("tp",): "thành phố",
    ("tx",): "thị xã",
    ("vp",): "văn phòng",
    ("kh", "&", "cn"): "khoa học và công nghệ",
    ("khcn",): "khoa học và công nghệ",
    ("kh", "&", "dt"): "kế hoạch và đầu tư",
    ("khdt",): "kế hoạch và đầu tư",
    ("tt", "&", "tt"): "thông tin và truyền thông",
    ("tttt",): "thông tin và truyền thông",
    ("gd", "&", "dt"): "giáo dục và đào tạo",
    ("gddt",): "giáo dục và đào tạo",
    ("vh", "tt", "&", "dl"): "văn hóa thể thao và du lịch",
    ("vhttdl",): "văn hóa thể thao và du lịch",
    ("nn", "&", "mt"): "nông nghiệp và môi trường",
    ("nn", "&", "ptnt"): "nông nghiệp và phát triển nông thôn",
    ("tn", "&", "mt"): "tài nguyên và môi trường",
    ("ld", "tb", "&", "xh"): "lao động thương binh và xã hội",
}
_ABBREV_MAX = max(len(k) for k in _ABBREVIATIONS)

# First words that usually open a unit name: an unknown piece ends at a separator
# followed by one of these ("Sở Ngoai vu, Sở Tai chinh" is two pieces), while
# "Sở Tài nguyên và Môi trường" stays one piece. ASCII-folded.
_HEAD_WORDS = frozenset(
    [
        "so",
        "uy",
        "ubnd",
        "ubmttq",
        "ban",
        "hoi",
        "van",
        "lien",
        "trung",
        "cac",
        "truong",
        "cong",
        "bo",
        "dai",
        "bao",
        "cuc",
        "chi",
        "thanh",
        "thanh",
        "mat",
        "tinh",
        "huyen",
        "thi",
        "xa",
        "phuong",
        "dang",
        "ngan",
        "kho",
        "vien",
        "benh",
        "doan",
        "phong",
        "nha",
    ]
)


class _Word(NamedTuple):  # a NamedTuple: built thousands of times per plan
    key: str  # fold() of the word ("&" becomes "và")
    ascii: str  # fold_ascii() of the word
    start: int  # span of the source token in the cleaned text
    end: int
    head: bool  # first word of a source token (not inside an abbreviation's expansion)
    sep: str  # separator characters in the gap before this word ("" if none)
    bare: bool  # the source token was typed without diacritics


@functools.lru_cache(maxsize=8192)
def _folds(token: str) -> tuple[str, str]:
    """(fold, fold_ascii) of one token; cached because plans repeat the same few words."""
    if token == "&":
        token = _CONJUNCTION
    return fold(token), fold_ascii(token)


def _words(text: str) -> list[_Word]:
    """Tokenise cleaned text into matching words, expanding abbreviations."""
    raw: list[tuple[str, int, int, str]] = []  # (token, start, end, separators before)
    pending = ""
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok in _SEPARATORS:
            pending += tok
            continue
        raw.append((tok, m.start(), m.end(), pending))
        pending = ""
    plain = ["&" if t[0] == "&" else _folds(t[0])[1] for t in raw]
    out: list[_Word] = []
    i = 0
    while i < len(raw):
        size, expansion = 1, None
        for width in range(min(_ABBREV_MAX, len(raw) - i), 0, -1):
            expansion = _ABBREVIATIONS.get(tuple(plain[i : i + width]))
            if expansion is not None:
                size = width
                break
        tok, start, _, sep = raw[i]
        end = raw[i + size - 1][2]
        if expansion is None:
            key, ascii_key = _folds(tok)
            bare = key == ascii_key or tok == "&"
            out.append(_Word(key, ascii_key, start, end, True, sep, bare))
        else:
            for n, part in enumerate(expansion.split()):
                key, ascii_key = _folds(part)
                out.append(_Word(key, ascii_key, start, end, n == 0, sep if n == 0 else "", True))
        i += size
    return out


def _key(text: str) -> tuple[str, ...]:
    return tuple(w.key for w in _words(clean(text)))


def _is_boundary(words: Sequence[_Word], j: int) -> bool:
    """Can one unit end before words[j] and the next begin at it?"""
    if j >= len(words):
        return True
    w = words[j]
    return w.head and (bool(w.sep) or w.key == _CONJUNCTION)


# --- the directory ----------------------------------------------------------------------------


class Directory:
    """The known units and groups, indexed for fold-insensitive lookup and cell splitting.

    `province` ("Đắk Lắk") lets "Sở Ngoại vụ tỉnh Đắk Lắk" and "Hội ... tỉnh Đắk Lắk"
    match the shorter names plans usually use. Raises ConfigError listing every
    problem: names or aliases that collide once folded, duplicate or non-ASCII slugs,
    successors or members that name no known unit.
    """

    def __init__(self, units: Iterable[Unit], *, province: str = "") -> None:
        self._units: list[Unit] = list(units)
        self._by_name: dict[str, Unit] = {}
        self._by_slug: dict[str, Unit] = {}
        self._exact: dict[tuple[str, ...], str] = {}
        self._ascii: dict[tuple[str, ...], set[str]] = {}
        self._labels: list[tuple[str, str, str]] = []  # (folded label, ascii label, canonical)
        self._max_len = 1
        self._splits: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {}
        problems: list[Problem] = []
        explicit: dict[tuple[str, ...], tuple[str, str]] = {}  # key → (written form, unit)
        owner: dict[tuple[str, ...], int] = {}  # key → index of the unit that wrote it
        for index, unit in enumerate(self._units):
            problems += self._check_unit(unit)
            self._by_name.setdefault(unit.name, unit)
            for written in (unit.name, *unit.aliases):
                key = _key(written)
                if not key:
                    continue
                if owner.setdefault(key, index) != index:
                    problems.append(_collision(written, unit.name, *explicit[key]))
                    continue
                explicit.setdefault(key, (written, unit.name))
            other_slug = self._by_slug.setdefault(unit.slug, unit)
            if other_slug is not unit:
                problems.append(
                    Problem(
                        f"mã (slug) “{unit.slug}” của “{unit.name}” trùng với “{other_slug.name}”",
                        key="slug",
                        hint="Đặt slug khác cho một trong hai đơn vị.",
                    )
                )
        for key, (_, name) in explicit.items():
            self._add_key(key, name)
        self._add_province_variants(explicit, province)
        problems += self._check_links()
        if problems:
            raise ConfigError(
                f"Danh mục đơn vị có {len(problems)} lỗi; sửa [[units]]/[[groups]] trong config.toml.",
                problems,
            )

    # construction helpers

    def _check_unit(self, unit: Unit) -> list[Problem]:
        found: list[Problem] = []
        where = "[[groups]]" if unit.is_group else "[[units]]"
        if not unit.name or not _key(unit.name):
            found.append(Problem("đơn vị không có tên", key=f"{where} name"))
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", unit.slug) or unit.slug in WINDOWS_DEVICES:
            found.append(
                Problem(
                    f"mã (slug) “{unit.slug}” của “{unit.name}” chỉ được gồm chữ a-z, số và dấu '-'",
                    key=f"{where} slug",
                    hint=f'Ví dụ: slug = "{slugify(unit.name)}"',
                )
            )
        if unit.email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", unit.email):
            found.append(
                Problem(
                    f"địa chỉ email “{unit.email}” của “{unit.name}” không hợp lệ",
                    key=f"{where} email",
                    hint='Ví dụ: email = "songoaivu@example.org"',
                )
            )
        if unit.valid_from and unit.valid_until and unit.valid_from > unit.valid_until:
            found.append(
                Problem(
                    f"“{unit.name}”: valid_from ({format_day(unit.valid_from)}) sau valid_until "
                    f"({format_day(unit.valid_until)})",
                    key=f"{where} valid_until",
                )
            )
        if unit.members and not unit.is_group:
            found.append(
                Problem(
                    f"“{unit.name}” là đơn vị, không phải nhóm, nên không có members",
                    key="[[units]] members",
                    hint="Khai báo nhóm trong [[groups]].",
                )
            )
        return found

    def _add_key(self, key: tuple[str, ...], name: str) -> None:
        self._exact[key] = name
        ascii_key = tuple(fold_ascii(k) for k in key)
        self._ascii.setdefault(ascii_key, set()).add(name)
        self._labels.append((" ".join(key), " ".join(ascii_key), name))
        self._max_len = max(self._max_len, len(key))

    def _add_province_variants(
        self, explicit: Mapping[tuple[str, ...], tuple[str, str]], province: str
    ) -> None:
        """Province variants: "X tỉnh" also matches "X tỉnh Đắk Lắk", "X" matches "X tỉnh Đắk Lắk".

        Generated variants never override a written name; two units generating the
        same variant make it ambiguous, so neither gets it.
        """
        place = _key(province)
        if not place:
            return
        tinh = _key("tỉnh")
        generated: dict[tuple[str, ...], set[str]] = {}
        for key, (_, name) in explicit.items():
            variants = [key + place] if key[-1:] == tinh else [key + tinh + place]
            if key[-len(place) - 1 :] == tinh + place:
                variants.append(key[: -len(place)])
            for variant in variants:
                generated.setdefault(variant, set()).add(name)
        for variant, names in generated.items():
            if variant not in explicit and len(names) == 1:
                self._add_key(variant, next(iter(names)))

    def _check_links(self) -> list[Problem]:
        found: list[Problem] = []
        for unit in self._units:
            for label, targets in (("successors", unit.successors), ("members", unit.members)):
                for target in targets:
                    if self.get(target) is None:
                        guess = self.closest(target)
                        hint = f"Có phải là “{guess}”?" if guess else "Khai báo đơn vị này trước."
                        found.append(
                            Problem(
                                f"“{unit.name}”: {label} nhắc tới “{target}”, không có trong danh mục",
                                key=f"{'[[groups]]' if unit.is_group else '[[units]]'} {label}",
                                hint=hint,
                            )
                        )
        return found

    # lookup

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units)

    def __len__(self) -> int:
        return len(self._units)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get(self, name: str) -> Unit | None:
        """The unit a whole name denotes (fold-insensitive, aliases, abbreviations)."""
        words = _words(clean(name))
        if not words:
            return None
        found = self._exact.get(tuple(w.key for w in words))
        if found is None and all(w.bare for w in words):
            matches = self._ascii.get(tuple(w.ascii for w in words), set())
            found = next(iter(matches)) if len(matches) == 1 else None
        return self._by_name[found] if found is not None else None

    def by_slug(self, slug: str) -> Unit | None:
        return self._by_slug.get(slug.strip().lower())

    def closest(self, name: str) -> str | None:
        """The canonical name most like `name` (difflib on folded and ASCII-folded keys)."""
        words = _words(clean(name))
        if not words:
            return None
        folded = " ".join(w.key for w in words)
        plain = " ".join(w.ascii for w in words)
        best, best_score = None, 0.0
        for label, label_ascii, canonical in self._labels:
            for key, known in ((folded, label), (plain, label_ascii)):
                matcher = difflib.SequenceMatcher(None, key, known)
                # ratio() ≤ quick_ratio() ≤ real_quick_ratio() (difflib.get_close_matches):
                # skip a pair that cannot reach 0.6 or beat the best. Same answer; a 100 kB
                # piece no longer costs seconds per known name.
                if matcher.real_quick_ratio() < max(0.6, best_score) or matcher.quick_ratio() < 0.6:
                    continue
                score = matcher.ratio()
                if score > best_score:
                    best, best_score = canonical, score
        return best if best_score >= 0.6 else None

    def describe(self, *, on: date | None = None) -> list[dict[str, object]]:
        """Every unit and group as JSON rows; with `on`, who receives its mail that day."""
        rows: list[dict[str, object]] = []
        for unit in self._units:
            row = unit.as_json()
            row["validity"] = validity_text(unit)
            if on is not None:
                route = self.route(unit.name, on=on)
                row["on"] = on.isoformat()
                row["recipients"] = [u.name for u in route.units]
                row["recipient_emails"] = [u.email for u in route.units if u.email]
                row["warnings"] = list(route.warnings)
            rows.append(row)
        return rows

    # splitting

    def split(self, cell: str, *, on: date | None = None) -> Split:
        """Split a lead/coordinating cell into canonical unit and group names.

        Separators are ",", ";", "/", " và " and newlines, but a known name that
        contains them wins (longest match first). Unknown pieces are kept as written
        with a "có phải là …?" warning. With `on`, units no longer valid on that day
        add a warning naming who receives their mail.
        """
        cached = self._splits.get(cell)
        if cached is None:
            cached = self._split(cell)
            if len(self._splits) >= 4096:  # bounded: a daemon lives long
                self._splits.clear()
            self._splits[cell] = cached
        names, unknown, warnings = cached
        result = Split(list(names), list(unknown), list(warnings))
        if on is not None:
            for name in result.names:
                result.warnings += self.changes(name, on=on)
        return result

    def _split(self, cell: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        result = Split()
        text = _PARENTHESES.sub(lambda m: _drop_note(m, result), clean(cell))
        words = _words(text)
        i = 0
        while i < len(words):
            if words[i].key == _CONJUNCTION and words[i].head:
                i += 1  # a joiner between items: ", và các đơn vị liên quan"
                continue
            end, name, note = self._match_at(words, i)
            if name is not None:
                if name not in result.names:
                    result.names.append(name)
                if note:
                    result.warnings.append(
                        note.format(text=text[words[i].start : words[end - 1].end])
                    )
                i = end
                continue
            end = self._unknown_end(words, i)
            piece = text[words[i].start : words[end - 1].end].strip(" ,;/-.()")
            result.unknown.append(piece)
            if len(result.unknown) <= _SUGGESTIONS:
                result.warnings.append(self.unknown_message(piece))
            else:  # a cell of hundreds of unknown names is not a list of units: no guessing
                result.warnings.append(f"Không tìm thấy đơn vị “{piece}” trong danh mục.")
            i = end
        return tuple(result.names), tuple(result.unknown), tuple(result.warnings)

    def unknown_message(self, piece: str) -> str:
        """The user message for an unknown piece, with the closest known name if any."""
        guess = self.closest(piece)
        if guess is None:
            return f"Không tìm thấy đơn vị “{piece}” trong danh mục."
        return f"Không tìm thấy đơn vị “{piece}”; có phải là “{guess}”?"

    def _match_at(self, words: Sequence[_Word], i: int) -> tuple[int, str | None, str]:
        """Longest known name starting at words[i] and ending at a boundary.

        Returns (end index, canonical name or None, warning template). ASCII-only
        matching is the last resort: the span must be typed without diacritics and
        fit exactly one unit.
        """
        top = min(self._max_len, len(words) - i)
        for size in range(top, 0, -1):
            if not _is_boundary(words, i + size):
                continue
            name = self._exact.get(tuple(w.key for w in words[i : i + size]))
            if name is not None:
                return i + size, name, ""
        for size in range(top, 0, -1):
            span = words[i : i + size]
            if not _is_boundary(words, i + size) or not all(w.bare for w in span):
                continue
            names = self._ascii.get(tuple(w.ascii for w in span), set())
            if len(names) == 1:
                name = next(iter(names))
                return i + size, name, f"“{{text}}” viết không dấu, được hiểu là “{name}”."
        return i, None, ""

    def _unknown_end(self, words: Sequence[_Word], i: int) -> int:
        """Where an unknown piece starting at words[i] ends.

        At ";" always; at other separators and "và" only when what follows is a
        known name or opens like one ("Sở …", "UBND …", "các …").
        """
        j = i + 1
        while j < len(words):
            if _is_boundary(words, j):
                if ";" in words[j].sep:
                    return j
                nxt = j + 1 if words[j].key == _CONJUNCTION else j
                if nxt < len(words) and (
                    words[nxt].ascii in _HEAD_WORDS or self._match_at(words, nxt)[1] is not None
                ):
                    return j
            j += 1
        return j

    # who receives

    def route(self, name: str, *, on: date) -> Route:
        """Who receives mail addressed to `name` on `on`: successors followed, groups
        expanded through their members, cycles cut. Warnings say why."""
        unit = self.get(name)
        if unit is None:
            return Route(name, (), (self.unknown_message(name),))
        out: list[Unit] = []
        notes: list[tuple[str, str]] = []
        self._walk(unit, on, (), out, notes)
        return Route(unit.name, tuple(out), tuple(text for _, text in notes))

    def recipients(self, name: str, on: date) -> list[Unit]:
        """The units (never groups) that receive mail for `name` on `on`."""
        return list(self.route(name, on=on).units)

    def changes(self, name: str, *, on: date) -> list[str]:
        """Only the validity warnings for `name` on `on` (superseded, not yet valid, cycles)."""
        unit = self.get(name)
        if unit is None:
            return []
        notes: list[tuple[str, str]] = []
        self._walk(unit, on, (), [], notes, expand_groups=False)
        return [text for kind, text in notes if kind == "validity"]

    def _walk(
        self,
        unit: Unit,
        on: date,
        path: tuple[str, ...],
        out: list[Unit],
        notes: list[tuple[str, str]],
        *,
        expand_groups: bool = True,
    ) -> None:
        if unit.name in path:
            loop = " → ".join((*path[path.index(unit.name) :], unit.name))
            _note(notes, "validity", f"Vòng lặp đơn vị kế thừa: {loop}; dừng tại đây.")
            return
        path = (*path, unit.name)
        if unit.expired_on(on):
            self._walk_successors(unit, on, path, out, notes, expand_groups=expand_groups)
            return
        if unit.pending_on(on):
            assert unit.valid_from is not None
            _note(
                notes,
                "validity",
                f"{unit.name} chỉ có hiệu lực từ {format_day(unit.valid_from)}; "
                f"ngày {format_day(on)} chưa gửi thư cho đơn vị này.",
            )
            return
        if not unit.is_group:
            if unit not in out:
                out.append(unit)
            return
        if not expand_groups:
            return
        if not unit.members:
            _note(
                notes,
                "group",
                f"Nhóm “{unit.name}” chưa khai báo thành viên (members) nên không gửi thư.",
            )
        for member in unit.members:
            target = self.get(member)
            if target is not None:
                self._walk(target, on, path, out, notes)

    def _walk_successors(
        self,
        unit: Unit,
        on: date,
        path: tuple[str, ...],
        out: list[Unit],
        notes: list[tuple[str, str]],
        *,
        expand_groups: bool,
    ) -> None:
        assert unit.valid_until is not None
        since = format_day(unit.valid_until + timedelta(days=1))
        if not unit.successors:
            _note(
                notes,
                "validity",
                f"{unit.name} hết hiệu lực từ {since}; chưa khai báo đơn vị kế thừa (successors) nên không gửi thư.",
            )
            return
        _note(
            notes,
            "validity",
            f"{unit.name} hết hiệu lực từ {since}; thư gửi {', '.join(unit.successors)}.",
        )
        for successor in unit.successors:
            target = self.get(successor)
            if target is not None:
                self._walk(target, on, path, out, notes, expand_groups=expand_groups)


_PARENTHESES = re.compile(r"\(([^()]*)\)")


def _drop_note(match: re.Match[str], result: Split) -> str:
    """A remark in parentheses ("(chủ trì)", "(nếu có)") names no unit: drop it, say so."""
    if match.group(1).strip():
        result.warnings.append(f"Bỏ qua ghi chú trong ngoặc “{match.group(0)}”.")
    return ";"


def _note(notes: list[tuple[str, str]], kind: str, text: str) -> None:
    if (kind, text) not in notes:
        notes.append((kind, text))


def _collision(written: str, unit: str, other_written: str, other_unit: str) -> Problem:
    return Problem(
        f"tên “{written}” (đơn vị “{unit}”) trùng với “{other_written}” (đơn vị “{other_unit}”) "
        "khi so khớp không phân biệt hoa thường, dấu và cách viết tắt",
        key="name/aliases",
        hint="Mỗi tên và tên khác (aliases) chỉ được thuộc về một đơn vị; xóa hoặc sửa một trong hai.",
    )


class Membership:
    """Plan names → the canonical names they reach on `on`: the unit itself, a group's
    members, an ended unit's successors (what `recipients` follows). A name the directory
    does not know stands for itself. Memoised per name: one instance per (directory, day)
    serves a whole feed build or page.
    """

    def __init__(self, directory: Any, on: date) -> None:
        self._directory = directory
        self._on = on
        self._memo: dict[str, frozenset[str]] = {}

    def holders(self, name: str) -> frozenset[str]:
        found = self._memo.get(name)
        if found is None:
            unit = self._directory.get(name)
            names = {unit.name if unit is not None else name}
            if unit is not None:
                names.update(u.name for u in self._directory.recipients(unit.name, self._on))
            found = self._memo[name] = frozenset(names)
        return found

    def all(self, names: Iterable[str]) -> frozenset[str]:
        out: set[str] = set()
        for name in names:
            out |= self.holders(name)
        return frozenset(out)


# --- plans ------------------------------------------------------------------------------------


def resolve_plan(plan: Plan, directory: Directory, *, on: date) -> None:
    """Fill Activity.lead/.coordinating and ReportDuty.to/.owners with canonical names.

    Appends warnings (Problems, severity "warning") to plan.problems: one per unknown
    or ASCII-guessed piece, at the activity's line; and one per unit no longer valid
    on `on`, at its first line, listing where it is used. Running it twice adds
    nothing new. The plan keeps the names it used; `on` only decides the warnings.
    """
    uses: dict[str, list[tuple[str, int | None]]] = {}  # canonical name → (ref, line)

    def resolve(
        text: str, current: Sequence[str], where: str, line: int | None, ref: str
    ) -> list[str]:
        if text.strip():
            split = directory.split(text)
        else:  # no cell as written (e.g. loaded from a schedule): check each stored name
            split = Split()
            for written in current:
                unit = directory.get(written)
                if unit is None:
                    split.unknown.append(written)
                    split.warnings.append(directory.unknown_message(written))
                    split.names.append(written)
                elif unit.name not in split.names:
                    split.names.append(unit.name)
        for warning in split.warnings:
            _add_problem(
                plan, Problem(warning, line=line, key=where, severity="warning", hint=_HINT)
            )
        for name in split.names:
            uses.setdefault(name, []).append((ref, line))
        return split.names

    for act in plan.activities:
        ref = act.ref
        act.lead = resolve(act.lead_text, act.lead, f"{ref} chủ trì", act.line, ref)
        act.coordinating = resolve(
            act.coordinating_text, act.coordinating, f"{ref} phối hợp", act.line, ref
        )
    for duty in plan.reports:
        ref = duty.label
        to = resolve(duty.to_text, [duty.to] if duty.to else [], f"{ref} gửi", duty.line, ref)
        duty.to = to[0] if to else duty.to
        duty.owners = resolve(
            duty.owners_text, duty.owners, f"{ref} đơn vị báo cáo", duty.line, ref
        )
    for name, places in uses.items():
        for warning in directory.changes(name, on=on):
            refs = _short_list(list(dict.fromkeys(ref for ref, _ in places)))
            line = next((ln for _, ln in places if ln is not None), None)
            _add_problem(
                plan,
                Problem(
                    f"{warning} (dùng ở: {refs})",
                    line=line,
                    severity="warning",
                ),
            )


def _short_list(items: list[str], limit: int = 8) -> str:
    """Refs like "I.2, II.2 và 5 chỗ khác": long plans must not produce page-long warnings."""
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} và {len(items) - limit} chỗ khác"


_HINT = "Sửa tên trong lịch, hoặc thêm tên này vào aliases của đơn vị trong config.toml."


def _add_problem(plan: Plan, problem: Problem) -> None:
    if problem not in plan.problems:
        plan.problems.append(problem)


# --- config tables ----------------------------------------------------------------------------

_UNIT_KEYS = frozenset(
    [
        "name",
        "slug",
        "aliases",
        "email",
        "coordinator",
        "valid_from",
        "valid_until",
        "successors",
        "kind",
    ]
)
_GROUP_KEYS = frozenset(
    ["name", "slug", "aliases", "members", "kind", "valid_from", "valid_until", "successors"]
)


def directory_from_toml(doc: Mapping[str, Any]) -> Directory:
    """Build the Directory from an already-parsed config document ([[units]], [[groups]]).

    Reads [notifier].province for the "… tỉnh Đắk Lắk" variants. Raises ConfigError
    listing every problem (wrong types, unknown keys with the closest valid one,
    collisions). Line numbers are the config loader's business (config.py).
    """
    problems: list[Problem] = []
    units: list[Unit] = []
    for table, is_group in (("units", False), ("groups", True)):
        entries = doc.get(table, [])
        if not isinstance(entries, list):
            problems.append(Problem(f"[{table}] phải là danh sách bảng [[{table}]]", key=table))
            continue
        for index, entry in enumerate(entries, 1):
            unit = _unit_from_table(entry, table, index, is_group, problems)
            if unit is not None:
                units.append(unit)
    settings = doc.get("notifier", {})
    province = settings.get("province", "") if isinstance(settings, Mapping) else ""
    if problems:
        raise ConfigError(f"Danh mục đơn vị có {len(problems)} lỗi.", problems)
    return Directory(units, province=province if isinstance(province, str) else "")


def _unit_from_table(
    entry: object, table: str, index: int, is_group: bool, problems: list[Problem]
) -> Unit | None:
    where = f"[[{table}]] #{index}"
    if not isinstance(entry, Mapping):
        problems.append(Problem("phải là một bảng", key=where))
        return None
    allowed = _GROUP_KEYS if is_group else _UNIT_KEYS
    before = len(problems)
    for key in entry:
        if key not in allowed:
            guess = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = (
                f"có phải là “{guess[0]}”?"
                if guess
                else f"các khóa hợp lệ: {', '.join(sorted(allowed))}"
            )
            problems.append(Problem(f"khóa “{key}” không hợp lệ; {hint}", key=where))
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(
            Problem(
                "thiếu name (tên đầy đủ của đơn vị)",
                key=f"{where} name",
                hint='Ví dụ: name = "Sở Ngoại vụ"',
            )
        )
        return None
    where = f"{where} “{name.strip()}”"

    def text(key: str) -> str:
        value = entry.get(key, "")
        if not isinstance(value, str):
            problems.append(Problem(f"{key} phải là chuỗi", key=f"{where} {key}"))
            return ""
        return value

    def texts(key: str) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(
                Problem(
                    f"{key} phải là danh sách chuỗi",
                    key=f"{where} {key}",
                    hint=f'Ví dụ: {key} = ["Văn phòng UBND tỉnh"]',
                )
            )
            return ()
        return tuple(value)

    def day(key: str) -> date | None:
        value = entry.get(key)
        if value is None:
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        problems.append(
            Problem(
                f"{key} = {value!r} không phải ngày",
                key=f"{where} {key}",
                hint=f"Ví dụ: {key} = 2025-06-30",
            )
        )
        return None

    coordinator = entry.get("coordinator", False)
    if not isinstance(coordinator, bool):
        problems.append(Problem("coordinator phải là true hoặc false", key=f"{where} coordinator"))
        coordinator = False
    unit = Unit(
        name=name,
        slug=text("slug"),
        aliases=texts("aliases"),
        email=text("email") or None,
        coordinator=coordinator,
        valid_from=day("valid_from"),
        valid_until=day("valid_until"),
        successors=texts("successors"),
        kind=text("kind") or ("group" if is_group else ""),
        is_group=is_group,
        members=texts("members") if is_group else (),
    )
    return unit if len(problems) == before else None
