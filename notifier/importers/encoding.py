"""Bytes of a text-like plan file (TXT, CSV, HTML) → text: UTF-8, or the legacy encodings.

Owns `decode_text(data, name) -> (text, problems)` and `legacy_encoding(data)`.

Facts relied on. Vietnamese files from before Unicode (and some still made today) come in:
- Windows-1258 (CP1258): base letters with precomposed â ê ô ă ơ ư đ plus combining tone
  marks (bytes 0xCC 0xEC 0xD2 0xDE 0xF2). Python's codec decodes it losslessly, and NFC
  recomposes the tones, so such files are converted (with a warning saying so).
- TCVN3 (ABC, fonts ".VnTime"): one byte per toned lower-case letter, many in 0xA1-0xBF
  (ư 0xAD, đ 0xAE, à 0xB5, á 0xB8, ạ 0xB9 …). Capitals used a second font with the
  same codes, so the bytes alone cannot restore upper case: refused, with how to convert.
- VNI (fonts "VNI-Times"): an ASCII vowel followed by a mark byte ("Keá hoaïch"):
  refused the same way.
UTF-8 is tried first (with or without BOM): valid UTF-8 is never a legacy file in practice.
Not here: what the text means (the readers).
"""

from __future__ import annotations

import unicodedata

from notifier.errors import PlanReadError, Problem

__all__ = ["decode_text", "legacy_encoding"]

_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
_VOWELS = "aăâeêioôơuưy"
VIETNAMESE = frozenset(
    unicodedata.normalize("NFC", base + tone)
    for vowel in _VOWELS
    for base in (vowel, vowel.upper())
    for tone in _TONES
) | frozenset("đĐ")
# Non-ASCII characters a CP1258 file legitimately holds besides letters: typographic
# punctuation and a few symbols ("…", "–", "“ ”", "•", "°", "§", "±", "×", no-break space).
_CP1258_PUNCT = frozenset("…–—‘’“”•·°§±×«»\u00a0€")
_VNI_MARKS = frozenset(
    b"\xd8\xd9\xdb\xd5\xcf\xf8\xf9\xfb\xf5\xef\xe1\xe0\xe5\xe3\xe4\xc1\xc0\xc5\xc3\xc4\xe2\xc2\xea\xca\xf6\xd6\xf4\xd4\xf1\xd1"
)
_ASCII_VOWELS = frozenset(b"aeiouyAEIOUY")

_HOW_TO = (
    "Hãy chuyển sang Unicode rồi lưu lại với bảng mã UTF-8: dùng Unikey (Công cụ chuyển mã, "
    "bảng mã nguồn {source}, bảng mã đích Unicode), hoặc mở tệp trong Excel/LibreOffice, chọn "
    "bảng mã {source} và lưu thành “CSV UTF-8” / “Văn bản Unicode (UTF-8)”."
)


def decode_text(data: bytes, name: str) -> tuple[str, list[Problem]]:
    """Text of `data` (named `name` in messages) and a warning if it had to be converted.

    Raises PlanReadError for TCVN3, VNI and undecidable bytes, naming the encoding and
    how to re-save the file as UTF-8.
    """
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    found = legacy_encoding(data)
    if found == "cp1258":
        text = unicodedata.normalize("NFC", data.decode("cp1258"))
        return text, [
            Problem(
                f"Tệp {name} dùng bảng mã Windows-1258 (không phải UTF-8); đã tự chuyển sang "
                "Unicode. Nên lưu lại tệp với bảng mã UTF-8.",
                severity="warning",
            )
        ]
    if found in ("tcvn3", "vni"):
        source = "TCVN3 (ABC)" if found == "tcvn3" else "VNI Windows"
        raise PlanReadError(
            f"Tệp {name} dùng bảng mã {source} (kiểu chữ "
            f"{'.VnTime' if found == 'tcvn3' else 'VNI-Times'}), không phải UTF-8. "
            + _HOW_TO.format(source=source)
        )
    raise PlanReadError(
        f"Tệp {name} không phải UTF-8 (byte lỗi ở vị trí {bad_at}) và không nhận ra bảng mã "
        "cũ nào (Windows-1258, TCVN3, VNI). " + _HOW_TO.format(source="của tệp")
    )


def legacy_encoding(data: bytes) -> str | None:
    """'cp1258', 'tcvn3', 'vni' or None: which pre-Unicode encoding `data` looks like."""
    high = [i for i, b in enumerate(data) if b >= 0x80]
    if not high:
        return None
    if _reads_as_cp1258(data):
        return "cp1258"
    # TCVN3 spends a quarter or more of its high bytes on 0xA1-0xBF (ư đ â ê ô à á ạ …),
    # which VNI and CP1258 text barely use; VNI's marks follow an ASCII vowel.
    symbols = sum(1 for i in high if 0xA1 <= data[i] <= 0xBF)
    if symbols * 4 >= len(high):
        return "tcvn3"
    after_vowel = sum(
        1 for i in high if data[i] in _VNI_MARKS and i and data[i - 1] in _ASCII_VOWELS
    )
    if after_vowel * 2 >= len(high):
        return "vni"
    return None


def _reads_as_cp1258(data: bytes) -> bool:
    """Do the bytes decode as CP1258 into Vietnamese letters (and common punctuation) only?"""
    text = unicodedata.normalize("NFC", data.decode("cp1258", errors="replace"))
    letters = 0
    for ch in text:
        if ch < "\x80":
            continue
        if ch in VIETNAMESE:
            letters += 1
        elif ch not in _CP1258_PUNCT:
            return False  # a stray symbol, an uncomposed tone, or an undefined byte
    return letters > 0
