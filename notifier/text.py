"""Vietnamese text as data: normalisation, folding for matching, and ASCII slugs.

Owns: `nfc` (what we store and print), `clean` (NFC + tidy spaces and dashes),
`fold` (a matching key that ignores case, NFC/NFD, stray spaces, dash style and
old/new tone placement: "hoá" = "hóa", "thuỷ" = "thủy"), `fold_ascii` (the same
without any diacritics, for users who type without them) and `slugify` (ASCII
file and URL names).

Facts relied on: Vietnamese has five tone marks (grave, acute, tilde, hook above,
dot below); the other diacritics (circumflex, breve, horn, đ) change the letter.
The old ("hoá") and new ("hóa") styles differ only in which vowel carries the
tone mark, so moving every tone mark to the end of its syllable gives one key.
Not here: splitting cells into unit names (units.py), timings (timing.py).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "nfc", "clean", "fold", "fold_ascii", "slugify", "INVISIBLE", "INVISIBLE_CHARS", "TONE_MARKS",
    "WINDOWS_DEVICES", "DASH_CHARS", "COMBINING_MARKS",
]

# Combining grave, acute, tilde, hook above, dot below.
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")

# Unicode dashes (hyphen, figure dash, en and em dash, horizontal bar, minus): `clean` makes
# each one "-". COMBINING_MARKS: the accents of NFD text. Class bodies, for patterns that use them.
DASH_CHARS = "\u2010-\u2015\u2212"
COMBINING_MARKS = "\u0300-\u036f"
_DASHES = re.compile(f"[{DASH_CHARS}]")
_SPACES = re.compile(r"[ \t\u00a0\u2007\u202f\u200b\ufeff]+")
# Bidi controls and zero-width marks: they can make a name or a date read differently
# (docs/security.md). INVISIBLE_CHARS is the class body, for patterns that add to it.
INVISIBLE_CHARS = "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
INVISIBLE = re.compile(f"[{INVISIBLE_CHARS}]")
_WORD = re.compile(rf"[\w{COMBINING_MARKS}]+")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def nfc(text: str) -> str:
    """Unicode NFC: the form notifier stores, compares and prints."""
    return unicodedata.normalize("NFC", text)


def clean(text: str) -> str:
    """NFC, invisible marks removed, dashes unified to '-', runs of spaces collapsed."""
    # Most text is already clean: printable (no control, format, line or odd space
    # characters), single spaces, none at the ends, NFC, no Unicode dash. Return it as is.
    if not text.isprintable():
        return _clean_passes(text)
    spaced = "  " in text or text[:1] == " " or text[-1:] == " "
    if text.isascii():  # NFC, and no Unicode dash
        return " ".join(text.split()) if spaced else text
    # One normalisation: CPython returns the text itself when it is NFC already (checking
    # with is_normalized first normalised NFD text twice); an equal copy is simply tidied.
    composed = unicodedata.normalize("NFC", text)
    if composed is text and not spaced and _DASHES.search(text) is None:
        return text
    return _DASHES.sub("-", " ".join(composed.split()))  # one line: NFC, dashes, spaces


def _clean_passes(text: str) -> str:
    """What `clean` does to text that is not already clean."""
    text = INVISIBLE.sub("", nfc(text))
    text = _DASHES.sub("-", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(lines).strip()


def _move_tone_to_end(word: str) -> str:
    """In an NFD, lower-case word, move the tone mark to the word's end."""
    tones = [c for c in word if c in TONE_MARKS]
    if not tones:
        return word
    return "".join(c for c in word if c not in TONE_MARKS) + tones[-1]


def fold(text: str) -> str:
    """Key for matching Vietnamese text regardless of case, form and tone placement.

    The result is NFD-based and not meant for display.
    """
    decomposed = unicodedata.normalize("NFD", clean(text).casefold())
    decomposed = _SPACES.sub(" ", decomposed.replace("\n", " "))
    return _WORD.sub(lambda m: _move_tone_to_end(m.group(0)), decomposed)


def fold_ascii(text: str) -> str:
    """Like `fold`, but with every diacritic dropped ("Đắk Lắk" → "dak lak")."""
    decomposed = unicodedata.normalize("NFD", clean(text).casefold().replace("đ", "d"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped.replace("\n", " "))


def slugify(text: str, *, max_length: int = 80) -> str:
    """ASCII slug for file names and URLs: "Sở Văn hóa, Thể thao và Du lịch" → "so-van-hoa-the-thao-va-du-lich".

    Never empty (falls back to "x"), never contains '/', '.' or '..', never a Windows
    device name ("con" → "con-x").
    """
    slug = _NOT_SLUG.sub("-", fold_ascii(text)).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    if slug in WINDOWS_DEVICES:  # "nul.toml" cannot exist on Windows or a Windows share
        return slug + "-x"
    return slug or "x"


# Names Windows keeps for devices whatever the extension ("con.ics", "nul.toml").
WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))]
)
