"""The outbox's JSON: `write_json`, `pack` and `read_json`, exact both ways and fast.

Owns how payloads (a reminder's context, its recipients) become text or bytes in the
database and come back: orjson for what it writes exactly, json.dumps for the rest, marked
so that `read_json` knows which reader to use; `pack` (SQLite's outbox) stores UTF-8 bytes,
zlib-compressed from `PACK_MIN` bytes on. Its own module so that a render process
(notifier.envelopes) reads payloads without importing the database layer.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson

__all__ = ["PACK_MIN", "pack", "read_json", "write_json"]

# From this many bytes of JSON on, `pack` compresses: digests and report reminders (100–300 kB
# of repetitive JSON, a tenth of that compressed) but not the 2 kB of a reminder's.
PACK_MIN = 16_384

# Dates and dataclasses are not JSON: refused (through json.dumps) as before, not written.
_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def write_json(value: Any) -> str:
    """Compact JSON text, Vietnamese kept as UTF-8 (half the size of \\uXXXX escapes).

    orjson writes the same text as json.dumps(ensure_ascii=False, separators=(",", ":"))
    five times faster (a payload is ~5 kB); what it does not take as plain JSON (keys that
    are not str, integers past 64 bits) goes to json.dumps, which then accepts or refuses
    it as before; that text starts with a space, so that read_json reads it exactly. Non-finite floats
    become null (standard JSON) rather than `Infinity`.
    """
    return _dumps(value).decode("utf-8")


def pack(value: Any) -> bytes:
    """`write_json`'s text as UTF-8 bytes; from `PACK_MIN` bytes on, zlib-compressed (level 1).

    What PostgreSQL's TOAST does to a large json value by itself, for SQLite's outbox: a
    10,000-reminder burst stored 54 MB of JSON, 34 MB of it in 168 digests and reports;
    storing, reading and handing those to a render process now moves a tenth of that.
    """
    data = _dumps(value)
    return zlib.compress(data, 1) if len(data) >= PACK_MIN else data


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=_ORJSON_STRICT)
    except TypeError:  # the leading space tells read_json to read it with json.loads
        return b" " + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_json(text: str | bytes) -> Any:
    """JSON text (or `pack`'s bytes) → value: orjson, or json.loads for what only it reads
    exactly or at all. A zlib stream starts with "x" (0x78), which no JSON text does.

    Text that `write_json` wrote through json.dumps starts with a space (still JSON): it may hold
    integers past 64 bits, which orjson would turn into floats silently. NaN and Infinity
    (json.dumps's extensions) are refused by orjson and read by json.loads too.
    """
    if isinstance(text, bytes) and text[:1] == b"x":
        text = zlib.decompress(text)
    if text[:1] in (" ", b" "):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
