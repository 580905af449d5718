"""Text in iCalendar content lines (RFC 5545): made safe, escaped and folded.

Owns `safe_text` (NFC, no control, bidi or zero-width characters; no line breaks if asked),
`escape_text` (TEXT escaping exactly as icalendar's vText writes it) and `fold_line` (≤ 75
octets a line, never inside a character, before a combining mark or inside an escape).
feeds.py (the ICS feeds) and emails.py (the .ics attachment) both write with them; its own
module so that a render process writes an attachment without importing the feed builder
(and through it the plan model and the timing parser).
"""

from __future__ import annotations

import re
import unicodedata

from notifier.text import INVISIBLE_CHARS, nfc

__all__ = ["FOLD_OCTETS", "escape_text", "fold_line", "safe_text"]

FOLD_OCTETS = 75

# Line breaks of every kind become "\n" (escaped by icalendar as the two characters \n);
# other controls (C0 but TAB, DEL, C1), lone surrogates, bidi controls and zero-width
# marks (they can make a name or date read differently: docs/security.md) are dropped.
_BREAKS = re.compile("\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile(f"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff{INVISIBLE_CHARS}]")
_UNSAFE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff{INVISIBLE_CHARS}]")


def safe_text(text: str, *, single_line: bool = False) -> str:
    """NFC text a calendar property can carry: no control characters; no line breaks if asked."""
    if _UNSAFE.search(text) or not unicodedata.is_normalized("NFC", text):
        text = _CONTROLS.sub("", _BREAKS.sub("\n", nfc(text))).replace("\t", " ")
    if single_line:
        return " ".join(text.split())
    return text.strip()


def _no_break_before(char: str) -> bool:
    """Characters a fold must not precede: combining marks, joiners, variation selectors."""
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char in "\u200d\u200c"
        or "\ufe00" <= char <= "\ufe0f"
    )


def _char_at(data: bytes, pos: int) -> str:  # pos is the lead byte of a UTF-8 sequence
    lead = data[pos]
    size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return data[pos : pos + size].decode("utf-8", "replace")


def _cut(data: bytes, start: int, cut: int) -> int:
    """Move `cut` back to a place a fold may go; `start` if there is none."""
    while cut > start:
        while cut > start and (data[cut] & 0xC0) == 0x80:  # inside a UTF-8 sequence
            cut -= 1
        if cut > start and data[cut] >= 0xCC and _no_break_before(_char_at(data, cut)):
            cut -= 1
            continue
        run = 0
        while cut - run - 1 >= start and data[cut - run - 1] == 0x5C:  # backslashes
            run += 1
        if run % 2:  # the last one opens an escape: keep it with its letter
            cut -= 1
            continue
        return cut
    return start


def fold_line(line: str, limit: int = FOLD_OCTETS) -> str:
    """Fold one content line (RFC 5545 §3.1): ≤ `limit` octets a line, CRLF + space.

    Cuts only between whole characters, never before a combining mark or inside a
    backslash escape. Works on the UTF-8 bytes and looks only at the cut points.
    """
    data = line.encode("utf-8")
    if len(data) <= limit:
        return line
    pieces: list[bytes] = []
    pos, room = 0, limit
    while len(data) - pos > room:
        cut = _cut(data, pos, pos + room)
        if cut == pos:  # one unbreakable cluster longer than a line: end it where it ends
            cut = pos + room
            while cut < len(data) and ((data[cut] & 0xC0) == 0x80 or _no_break_before(_char_at(data, cut))):
                cut += 1
        pieces.append(data[pos:cut])
        pos, room = cut, limit - 1  # continuation lines start with a space
    pieces.append(data[pos:])
    return b"\r\n ".join(pieces).decode("utf-8")


def escape_text(text: str) -> str:
    """TEXT escaping (RFC 5545 §3.3.11) exactly as icalendar's vText writes it; tests
    compare with icalendar. Input is already free of CR (safe_text)."""
    return (
        text.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\n", "\\n")
    )
