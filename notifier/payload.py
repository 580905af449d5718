"""The outbox's JSON text: `write_json` and `read_json`, exact both ways and fast.

Owns how payloads (a reminder's context, its recipients) become text in the database and
come back: orjson for what it writes exactly, json.dumps for the rest, marked so that
`read_json` knows which reader to use. Its own module so that a render process
(notifier.envelopes) reads payloads without importing the database layer.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["read_json", "write_json"]

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
    try:
        return orjson.dumps(value, option=_ORJSON_STRICT).decode("utf-8")
    except TypeError:  # the leading space tells read_json to read it with json.loads
        return " " + json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def read_json(text: str | bytes) -> Any:
    """JSON text → value: orjson, or json.loads for what only it reads exactly or at all.

    Text that `write_json` wrote through json.dumps starts with a space (still JSON): it may hold
    integers past 64 bits, which orjson would turn into floats silently. NaN and Infinity
    (json.dumps's extensions) are refused by orjson and read by json.loads too.
    """
    if text[:1] in (" ", b" "):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
