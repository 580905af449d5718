"""TOML files as admins write them: values, the line of every key, and Vietnamese problems.

Owns what config.py and schedules.py share:
- `read_toml(path)` / `parse_toml(text, file=)` → `Parsed(data, lines)`: the values (every
  string NFC) and a `Lines` map from a key path such as ("units", 3, "email") to its line;
  a syntax error raises `TomlSyntaxError` carrying one `Problem` with file, line, column
  and what was expected, in Vietnamese.
- `validation_problems(error, model=, file=, lines=)`: a pydantic `ValidationError` →
  one `Problem` per finding, "[smtp] port = "587a"", a Vietnamese message and a
  "Ví dụ: port = 587" fix taken from the field's `examples`; misspelt keys get
  "có phải là “email”?" (difflib over the model's own keys).
- `key_label(path, value, lines)`, `toml_literal(value)`, `suggest(word, choices)`.

Why a scanner of our own: tomllib gives values and good error positions, tomlkit keeps
comments for writing, but neither says on which line a key was. The scanner here walks
text tomllib has already accepted (so it can be lenient) and records the first line of
every key, table header, array element and inline-table key. On a syntax error it runs
strict to point at where an unclosed string or list *began*, which tomllib reports only
as "at end of document".
Not here: which keys exist (the pydantic models in config.py and schedules.py).
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from notifier.errors import Problem
from notifier.text import nfc

__all__ = [
    "KeyPath",
    "Lines",
    "Parsed",
    "TomlSyntaxError",
    "field_at",
    "key_label",
    "parse_toml",
    "read_toml",
    "sentence",
    "suggest",
    "toml_literal",
    "validation_problems",
]

KeyPath = tuple[str | int, ...]  # a key path: table names, keys and 0-based array indexes


class TomlSyntaxError(Exception):
    """The text is not TOML (or not UTF-8); `problem` says where and how to fix it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class Lines:
    """Line numbers (1-based) of key paths, and which paths are table headers.

    Built from the text on first use: loading a valid file never needs them, so the
    scan is paid only when a problem is reported (or `check` asks).
    """

    __slots__ = ("_headers", "_lines", "_text")

    def __init__(
        self,
        text: str = "",
        *,
        lines: dict[KeyPath, int] | None = None,
        headers: dict[KeyPath, str] | None = None,
    ) -> None:
        self._text = text
        self._lines = lines
        self._headers = headers

    def _scan(self) -> None:
        found = _Scanner(self._text).run()
        self._lines, self._headers = found._lines, found._headers

    @property
    def lines(self) -> dict[KeyPath, int]:
        if self._lines is None:
            self._scan()
        return self._lines  # type: ignore[return-value]

    @property
    def headers(self) -> dict[KeyPath, str]:
        """path → "table" | "array" for [table] and [[array]] headers."""
        if self._headers is None:
            self._scan()
        return self._headers  # type: ignore[return-value]

    def exact(self, path: KeyPath) -> int | None:
        return self.lines.get(tuple(path))

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, or of its nearest ancestor that is in the file."""
        lines = self.lines
        path = tuple(path)
        while path:
            found = lines.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return None


@dataclass(slots=True)
class Parsed:
    data: dict[str, Any]
    lines: Lines


# --- reading -----------------------------------------------------------------------------------


def read_toml(path: Path, *, name: str | None = None) -> Parsed:
    """Read and parse a UTF-8 TOML file; `name` is how problems name the file."""
    file = name if name is not None else str(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TomlSyntaxError(
            Problem(
                "tệp không được lưu bằng mã hóa UTF-8 (có thể là Windows-1258 hoặc TCVN3).",
                file=file,
                line=line,
                hint="Mở tệp bằng trình soạn thảo và lưu lại với mã hóa UTF-8.",
            )
        ) from None
    return parse_toml(text, file=file)


def parse_toml(text: str, *, file: str = "") -> Parsed:
    """Values (strings and keys NFC) and key lines of a TOML text; TomlSyntaxError if invalid."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlSyntaxError(_syntax_problem(text, str(exc), file)) from None
    except RecursionError:  # tomllib recurses once per level: "x = [[[[…" a thousand deep
        data = None
    if data is None or _too_deep(data, MAX_DEPTH):  # the tree walkers here recurse too
        raise TomlSyntaxError(_deep_problem(text, file))
    return Parsed(_nfc_tree(data), Lines(text))


MAX_DEPTH = 32  # arrays and tables nested in one file; config and schedules need 5


def _too_deep(value: Any, room: int) -> bool:
    """True if `value` nests deeper than `room` levels (recursion stops there)."""
    if isinstance(value, dict | list):
        if room == 0:
            return True
        items = value.values() if isinstance(value, dict) else value
        return any(_too_deep(v, room - 1) for v in items)
    return False


def _deep_problem(text: str, file: str) -> Problem:
    lines = text.splitlines() or [""]
    line = max(range(len(lines)), key=lambda i: lines[i].count("[") + lines[i].count("{"))
    return Problem(
        f"giá trị lồng nhau quá sâu (quá {MAX_DEPTH} tầng mảng hoặc bảng).",
        file=file,
        line=line + 1,
        hint="Kiểm tra các dấu [ ] và { } bị lặp; tệp cấu hình và tệp lịch chỉ cần vài tầng.",
    )


def _nfc_tree(value: Any) -> Any:
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, dict):
        return {nfc(k): _nfc_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc_tree(v) for v in value]
    return value


# tomllib's messages (stable since Python 3.11) → Vietnamese message and fix.
_MESSAGES: list[tuple[str, str, str]] = [
    (
        r"Invalid date or datetime",
        "ngày hoặc giờ không tồn tại hoặc viết sai",
        "Ngày viết NĂM-THÁNG-NGÀY, không có ngoặc kép. Ví dụ: 2024-06-30",
    ),
    (
        r"Expected newline or end of document after a statement",
        "sau giá trị còn ký tự thừa; mỗi dòng chỉ ghi một khóa = giá trị",
        (
            'Chữ phải đặt trong ngoặc kép (ví dụ: port = 587, tên = "Sở Ngoại vụ"); '
            "ghi chú phải bắt đầu bằng #."
        ),
    ),
    (
        r"Invalid value",
        "giá trị không hợp lệ",
        (
            'Chuỗi đặt trong ngoặc kép ("..."), ngày viết 2024-06-30, đúng/sai viết true/false, '
            "danh sách viết [..]."
        ),
    ),
    (
        r"Expected '\]' at the end of a table declaration",
        "thiếu dấu ] ở cuối tên bảng",
        "Ví dụ: [smtp] hoặc [[units]]",
    ),
    (
        r"Expected '\]\]' at the end of an array declaration",
        "thiếu dấu ]] ở cuối tên bảng",
        "Ví dụ: [[units]]",
    ),
    (
        r"Unclosed array",
        "danh sách chưa đóng hoặc thiếu dấu phẩy giữa các phần tử",
        'Ví dụ: aliases = ["SNgV", "Sở Ngoại vụ tỉnh"]',
    ),
    (
        r"Unclosed inline table",
        "bảng viết trên một dòng chưa đóng: thiếu dấu }",
        'Ví dụ: { date = 2024-12-02, label = "Quốc khánh Lào" }',
    ),
    (
        r"Unterminated string|Expected \"'\"|Expected '\"'",
        "chuỗi chưa đóng: thiếu dấu ngoặc kép",
        'Ví dụ: name = "Sở Ngoại vụ"',
    ),
    (
        r"Cannot overwrite a value",
        "khóa này đã được khai báo trước đó",
        "Mỗi khóa chỉ ghi một lần trong một bảng; xóa dòng trùng.",
    ),
    (
        r"Cannot declare .* twice|Cannot mutate immutable namespace",
        "bảng này đã được khai báo",
        "Mỗi [bảng] chỉ ghi một lần; các mục lặp lại dùng [[bảng]].",
    ),
    (
        r"Illegal character|Found invalid character",
        "chuỗi chứa ký tự điều khiển không được phép",
        'Xóa ký tự đó, hoặc dùng chuỗi nhiều dòng """...""" nếu cần xuống dòng.',
    ),
    (
        r"Unescaped '\\' in a string",
        "dấu \\ trong chuỗi phải viết thành \\\\",
        "Hoặc dùng ngoặc đơn: 'C:\\thu muc'",
    ),
    (
        r"Invalid initial character for a key part|Invalid statement",
        "dòng không phải “khóa = giá trị” hay [bảng] (tên khóa sai hoặc có dấu phẩy thừa?)",
        'Ví dụ: email = "songoaivu@example.org"',
    ),
    (r"Expected '=' after a key", "thiếu dấu = sau tên khóa", "Ví dụ: port = 587"),
    (
        r"Invalid hex value|Unescaped|Invalid escape",
        "chuỗi có ký tự thoát (\\) không hợp lệ",
        'Viết \\\\ cho dấu \\, \\" cho dấu ngoặc kép.',
    ),
]

_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*$")


def _syntax_problem(text: str, error: str, file: str) -> Problem:
    """A Vietnamese Problem for a tomllib error, with the best line we can find."""
    match = _POSITION.search(error)
    english = error[: match.start()] if match else error
    line = int(match.group(1)) if match and match.group(1) else None
    column = int(match.group(2)) if match and match.group(2) else None
    message, hint = f"cú pháp TOML không hợp lệ ({english})", ""
    for pattern, vietnamese, fix in _MESSAGES:
        if re.search(pattern, english):
            message, hint = vietnamese, fix
            break
    duplicate = english.startswith(("Cannot overwrite", "Cannot declare"))
    # For these the scanner knows better: where the string or list was opened, which key
    # was declared first. Otherwise tomllib's own position stands.
    unclosed = english.startswith(("Unclosed", "Unterminated", "Illegal character '\\n'"))
    if line is None or duplicate or unclosed:
        try:
            _Scanner(text, strict=True).run()
        except _ScanError as found:
            if line is None or found.duplicate or unclosed:
                line, column, message = found.line, found.column, found.message
                hint = found.hint or hint
    if line is None:
        line = text.count("\n") + 1
    where = f"cột {column}: " if column is not None else ""
    return Problem(sentence(f"lỗi cú pháp TOML, {where}{message}"), file=file, line=line, hint=hint)


# --- the line scanner ----------------------------------------------------------------------------


class _ScanError(Exception):
    def __init__(
        self, line: int, column: int, message: str, hint: str = "", duplicate: bool = False
    ) -> None:
        super().__init__(message)
        self.line, self.column, self.message, self.hint = line, column, message, hint
        self.duplicate = duplicate


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = re.compile(r"[,\]}#\n]")
_BLANKS = re.compile(r"[ \t]*")
_BLANKS_LINES = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
# Closed strings, matched whole (the scanner is hot on big schedules). A multi-line string may
# end with up to two extra quotes that belong to its content.
_STRINGS = {
    '"""': re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""(?:""|")?', re.DOTALL),
    "'''": re.compile(r"'''(?:[^']|'(?!''))*'''(?:''|')?", re.DOTALL),
    '"': re.compile(r'"(?:[^"\\\n]|\\[^\n])*"'),
    "'": re.compile(r"'[^'\n]*'"),
}


class _Scanner:
    """Records the line of every key path in a TOML text (see the module docstring)."""

    def __init__(self, text: str, *, strict: bool = False) -> None:
        self.s = text
        self.i = 0
        self.strict = strict
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.out = Lines(lines={}, headers={})
        self.arrays: dict[KeyPath, int] = {}  # array-of-tables path → current index
        self.defined: dict[KeyPath, int] = {}  # key/value and [table] paths → line (strict)

    # positions

    def line(self, i: int | None = None) -> int:
        return bisect.bisect_right(self.starts, self.i if i is None else i)

    def column(self, i: int) -> int:
        return i - self.starts[self.line(i) - 1] + 1

    def fail(self, start: int, message: str, hint: str = "", duplicate: bool = False) -> None:
        raise _ScanError(self.line(start), self.column(start), message, hint, duplicate)

    def peek(self, n: int = 1) -> str:
        return self.s[self.i : self.i + n]

    def skip_space(self, newlines: bool = False) -> None:
        """Skip blanks (and newlines and comments when `newlines`)."""
        self.i = (_BLANKS_LINES if newlines else _BLANKS).match(self.s, self.i).end()  # type: ignore[union-attr]

    def record(self, path: KeyPath, at: int) -> None:
        self.out._lines.setdefault(path, self.line(at))  # type: ignore[union-attr]

    # statements

    def run(self) -> Lines:
        current: KeyPath = ()
        while True:
            self.skip_space(newlines=True)
            if self.i >= len(self.s):
                return self.out
            if self.peek() == "[":
                current = self.header()
            else:
                self.keyval(current)
            self.skip_space()
            if self.peek() == "#":
                self.skip_space(newlines=True)

    def resolve(self, parts: Sequence[str]) -> KeyPath:
        """Table names → path, adding the current index of each array of tables."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in self.arrays:
                path = (*path, self.arrays[path])
        return path

    def header(self) -> KeyPath:
        start = self.i
        is_array = self.peek(2) == "[["
        self.i += 2 if is_array else 1
        self.skip_space()
        parts = self.key()
        self.skip_space()
        closing = "]]" if is_array else "]"
        if self.peek(len(closing)) != closing:
            self.fail(
                self.i,
                f"thiếu dấu {closing} ở cuối tên bảng",
                f"Ví dụ: {'[[units]]' if is_array else '[smtp]'}",
            )
        self.i += len(closing)
        if is_array:
            base = (*self.resolve(parts[:-1]), parts[-1])
            index = self.arrays.get(base, -1) + 1
            self.arrays[base] = index
            self.out._headers.setdefault(base, "array")  # type: ignore[union-attr]
            self.record(base, start)
            path = (*base, index)
            self.record(path, start)
            self.out._headers[path] = "array"  # type: ignore[index]
            return path
        path = self.resolve(parts)
        self.check_new(path, start, f"bảng [{'.'.join(parts)}]")
        self.record(path, start)
        self.out._headers[path] = "table"  # type: ignore[index]
        return path

    def check_new(self, path: KeyPath, start: int, what: str) -> None:
        if not self.strict:
            return
        first = self.defined.get(path)
        if first is not None:
            self.fail(
                start,
                f"{what} đã được khai báo ở dòng {first}",
                "Xóa một trong hai, hoặc gộp lại.",
                duplicate=True,
            )
        self.defined[path] = self.line(start)

    def keyval(self, table: KeyPath) -> None:
        start = self.i
        parts = self.key()
        path = (*table, *parts)
        for n in range(1, len(parts)):
            self.record((*table, *parts[:n]), start)
        self.check_new(path, start, f"khóa “{'.'.join(parts)}”")
        self.record(path, start)
        self.skip_space()
        if self.peek() != "=":
            self.fail(self.i, "thiếu dấu = sau tên khóa", "Ví dụ: port = 587")
        self.i += 1
        self.skip_space()
        self.value(path)

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_space()
            c = self.peek()
            if c in ('"', "'"):
                start = self.i
                self.string()
                parts.append(nfc(_unquote(self.s[start : self.i])))
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    self.fail(
                        self.i, "tên khóa không hợp lệ", 'Ví dụ: email = "songoaivu@example.org"'
                    )
                    return parts  # lenient: unreachable, fail raises
                parts.append(m.group(0))
                self.i = m.end()
            self.skip_space()
            if self.peek() != ".":
                return parts
            self.i += 1

    # values

    def value(self, path: KeyPath) -> None:
        c = self.peek()
        if c in ('"', "'"):
            self.string()
        elif c == "[":
            self.array(path)
        elif c == "{":
            self.inline_table(path)
        else:
            m = _SCALAR_END.search(self.s, self.i)
            end = m.start() if m else len(self.s)
            if self.strict and not self.s[self.i : end].strip():
                self.fail(self.i, "thiếu giá trị sau dấu =", "Ví dụ: port = 587")
            self.i = end

    def string(self) -> None:
        start = self.i
        quote = self.s[self.i]
        opener = quote * 3 if self.peek(3) == quote * 3 else quote
        m = _STRINGS[opener].match(self.s, self.i)
        if m is not None:
            self.i = m.end()
            return
        self.fail(
            start,
            "chuỗi mở ở đây chưa đóng: thiếu dấu ngoặc kép"
            if quote == '"'
            else "chuỗi mở ở đây chưa đóng: thiếu dấu nháy đơn",
            'Ví dụ: name = "Sở Ngoại vụ"; chuỗi nhiều dòng dùng """...""".',
        )
        self.i = len(self.s)

    def array(self, path: KeyPath) -> None:
        start = self.i
        self.i += 1
        index = 0
        while True:
            self.skip_space(newlines=True)
            if self.i >= len(self.s):
                self.fail(
                    start,
                    "danh sách mở ở đây chưa đóng: thiếu dấu ]",
                    'Ví dụ: aliases = ["SNgV", "Sở Ngoại vụ tỉnh"]',
                )
                return
            if self.peek() == "]":
                self.i += 1
                return
            element = (*path, index)
            self.record(element, self.i)
            self.value(element)
            index += 1
            self.skip_space(newlines=True)
            if self.peek() == ",":
                self.i += 1
            elif self.i >= len(self.s):
                self.fail(
                    start,
                    "danh sách mở ở đây chưa đóng: thiếu dấu ]",
                    'Ví dụ: aliases = ["SNgV", "Sở Ngoại vụ tỉnh"]',
                )
            elif self.peek() != "]":
                self.fail(
                    self.i,
                    "thiếu dấu phẩy giữa các phần tử, hoặc dấu ] đóng danh sách mở ở "
                    f"dòng {self.line(start)}",
                    'Ví dụ: aliases = ["SNgV", "Sở Ngoại vụ tỉnh"]',
                )
                return

    def inline_table(self, path: KeyPath) -> None:
        start = self.i
        self.i += 1
        self.skip_space()
        if self.peek() == "}":
            self.i += 1
            return
        while True:
            self.skip_space()
            if self.i >= len(self.s) or self.peek() == "\n":
                self.fail(
                    start,
                    "bảng viết trên một dòng mở ở đây chưa đóng: thiếu dấu }",
                    'Ví dụ: { date = 2024-12-02, label = "Quốc khánh Lào" }',
                )
                return
            self.keyval(path)
            self.skip_space()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() == "}":
                self.i += 1
                return
            else:
                self.fail(
                    start,
                    "bảng viết trên một dòng mở ở đây chưa đóng: thiếu dấu } hoặc dấu phẩy",
                    'Ví dụ: { date = 2024-12-02, label = "Quốc khánh Lào" }',
                )
                return


def _unquote(token: str) -> str:
    try:
        return str(tomllib.loads(f"k = {token}")["k"])
    except tomllib.TOMLDecodeError:
        return token.strip("\"'")


# --- rendering keys and values -------------------------------------------------------------------


def toml_literal(value: Any, *, limit: int = 60) -> str:
    """A value as the admin would write it in TOML, shortened to `limit` characters."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, (date, datetime, time)):
        text = value.isoformat()
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, Mapping):
        text = "{ " + ", ".join(f"{k} = {toml_literal(v)}" for k, v in value.items()) + " }"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(toml_literal(v) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def key_label(
    path: Sequence[str | int],
    value: Any = None,
    lines: Lines | None = None,
    *,
    with_value: bool = True,
) -> str:
    """ "[smtp] port = "587a"", "[[units]] email = "x"", "[calendar] extra_days_off = 5".

    The table part is the longest prefix the file declares as a header; without a
    file, every leading name but the last is taken as the table.
    """
    path = tuple(path)
    headers = lines.headers if lines is not None else {}
    cut = 0
    for n in range(len(path), 0, -1):
        if path[:n] in headers:
            cut = n
            break
    if not headers:
        names = [i for i, p in enumerate(path) if isinstance(p, str)]
        cut = names[-1] if names else 0
    table = [p for p in path[:cut] if isinstance(p, str)]
    rest = [p for p in path[cut:] if isinstance(p, str)]
    is_array = cut and (headers.get(path[:cut]) == "array" or isinstance(path[cut - 1], int))
    head = ""
    if table:
        name = ".".join(table)
        head = f"[[{name}]]" if is_array else f"[{name}]"
    key = ".".join(rest)
    label = " ".join(p for p in (head, key) if p)
    if with_value and key and value is not None and not isinstance(value, (dict, Mapping)):
        label += f" = {toml_literal(value)}"
    return label


def sentence(text: str) -> str:
    """`text` ending with a full stop (kept as is if it already ends with . ? ! or …)."""
    text = text.rstrip()
    return text if not text or text[-1] in ".?!…" else text + "."


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to a misspelt key ("emial" → "email"), or None."""
    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --- pydantic errors → Problems -------------------------------------------------------------------


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside list[...] / X | None / Annotated[...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _enum_values(annotation: Any) -> list[str]:
    import enum

    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    for arg in typing.get_args(annotation):
        found = _enum_values(arg)
        if found:
            return found
    return []


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the key written in the file (the alias when there is one)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def field_at(
    model: type[BaseModel], loc: Sequence[str | int]
) -> tuple[FieldInfo | None, type[BaseModel] | None]:
    """The field a pydantic `loc` names and the model owning its last key (None if unknown)."""
    current: type[BaseModel] | None = model
    found: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None:
            return None, None
        info = _fields(current).get(part)
        if info is None:
            return None, current
        found = info
        owner = current
        current = _inner_model(info.annotation)
    return (found, owner) if found is not None else (None, current)


def example_hint(info: FieldInfo | None, key: str) -> str:
    """ "Ví dụ: port = 587" from the field's first example, or ""."""
    if info is None or not info.examples:
        return ""
    return f"Ví dụ: {key} = {toml_literal(info.examples[0], limit=120)}"


def _message(
    err: ErrorDetails, info: FieldInfo | None, owner: type[BaseModel] | None, key: str
) -> tuple[str, str]:
    """Vietnamese (message, hint) for one pydantic error."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    example = example_hint(info, key)
    if kind == "extra_forbidden":
        choices = list(_fields(owner)) if owner is not None else []
        guess = suggest(key, choices)
        if guess:
            return f"khóa “{key}” không hợp lệ; có phải là “{guess}”?", ""
        allowed = ", ".join(choices)
        return f"khóa “{key}” không hợp lệ", (f"Các khóa hợp lệ: {allowed}." if allowed else "")
    if kind == "missing":
        return f"thiếu khóa bắt buộc “{key}”", example
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", err.get("msg", "")))
        return text.removeprefix("Value error, "), example
    if kind in ("enum", "literal_error"):
        values = _enum_values(info.annotation) if info is not None else []
        allowed = " hoặc ".join(f'"{v}"' for v in values) or str(ctx.get("expected", ""))
        return f"giá trị không hợp lệ; chỉ nhận {allowed}", example
    simple = {
        "int_type": "không phải số nguyên",
        "int_parsing": "không phải số nguyên",
        "int_from_float": "không phải số nguyên",
        "bool_type": "phải là true hoặc false (không có ngoặc kép)",
        "bool_parsing": "phải là true hoặc false (không có ngoặc kép)",
        "string_type": "phải là chuỗi đặt trong ngoặc kép",
        "list_type": "phải là danh sách trong ngoặc vuông [...]",
        "tuple_type": "phải là danh sách trong ngoặc vuông [...]",
        "model_type": "phải là một bảng",
        "dict_type": "phải là một bảng",
        "model_attributes_type": "phải là một bảng",
        "string_too_short": "không được để trống",
        "too_short": "danh sách không được để trống",
    }
    if kind in simple:
        return simple[kind], example
    bounds = {
        "greater_than_equal": ("ge", "≥"),
        "less_than_equal": ("le", "≤"),
        "greater_than": ("gt", ">"),
        "less_than": ("lt", "<"),
    }
    if kind in bounds:
        name, sign = bounds[kind]
        return f"phải {sign} {ctx.get(name)}", example
    return "giá trị không hợp lệ", example


def validation_problems(
    error: ValidationError,
    *,
    model: type[BaseModel],
    file: str = "",
    lines: Lines | None = None,
    prefix: KeyPath = (),
) -> list[Problem]:
    """One Problem per pydantic finding, sorted by line; `prefix` is prepended to each loc."""
    found: list[tuple[int, int, Problem]] = []
    for order, err in enumerate(error.errors(include_url=False)):
        loc = tuple(p for p in err["loc"] if isinstance(p, (str, int)))
        info, owner = field_at(model, loc)
        names = [p for p in loc if isinstance(p, str)]
        key = names[-1] if names else ""
        message, hint = _message(err, info, owner, key)
        path = (*prefix, *loc)
        show_value = err["type"] not in ("missing",) and not isinstance(err.get("input"), dict)
        label = key_label(path, err.get("input"), lines, with_value=show_value)
        line = lines.line(path) if lines is not None else None
        problem = Problem(sentence(message), file=file, line=line, key=label, hint=hint)
        found.append((line or 0, order, problem))
    return [p for _, _, p in sorted(found, key=lambda t: (t[0], t[1]))]
