"""Email rendering: template name + JSON context → subject, plain text, HTML, .ics.

Owns: `Attachment`, `Rendered`, `render()`, `render_subject()`, `one_line()`,
`vn_date()` (dates as "thứ Hai, ngày 15/6/2026"), `build_ics()` (the reminder's
events as a tiny all-day VCALENDAR so a unit adds them with one click) and `ics_fields()`
(an event's values as written there).
Templates live in templates/email/ as `<name>.subject.j2`, `<name>.text.j2`,
`<name>.html.j2` (names: reminder, report, overdue, digest, test); admins may edit them.

Facts relied on: Nghị định 30/2020/NĐ-CP writes a day below 10 and the months 1 and 2
with a leading zero ("ngày 05/01/2024", "22/02/2024", but "15/6/2026"); RFC 5545
all-day events use VALUE=DATE with an exclusive DTEND.
Safety: HTML is autoescaped, undefined names fail loudly (StrictUndefined), and the
subject is forced onto one line with control characters removed, because plan text
is untrusted and a subject becomes a mail header. Output is NFC.
Speed (benchmarks/delivery.py renders every message the daemon sends): templates are
compiled once per directory and run without Jinja's per-call globals merge; contexts are
JSON dicts, so `a.ref` looks up the key first (Jinja tries the attribute first and pays an
AttributeError for every lookup); macros with plain positional arguments are called
directly; escaped strings and date filters are cached; the .ics is written line by
line, folded by icstext.fold_line, instead of through icalendar's Component (tests compare
the bytes with icalendar's).
Not here: MIME composition, RFC 2047 encoding and sending (mailer.py); what to send
and when (reminders.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.runtime
import markupsafe
from markupsafe import Markup

from notifier.icstext import escape_text, fold_line, safe_text
from notifier.text import INVISIBLE, INVISIBLE_CHARS, nfc

__all__ = [
    "TEMPLATES",
    "TEMPLATES_DIR",
    "Attachment",
    "Rendered",
    "build_ics",
    "ics_fields",
    "one_line",
    "render",
    "render_subject",
    "vn_date",
    "vn_day",
]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
TEMPLATES = ("reminder", "report", "overdue", "digest", "test")
SUBJECT_MAX = 200  # characters; long plan titles are cut with "…"

_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
# C0/C1 controls, DEL, and Unicode line/paragraph separators: none may reach a header.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")
_SPACES = re.compile(r"\s+")
# Anything one_line would change apart from the ends (the common subject has none of it).
_UNTIDY = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085{INVISIBLE_CHARS}]|\\s\\s|[^\\S ]")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n){2,}")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


# --- formatting helpers (also exposed to templates as filters) ---


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@lru_cache(maxsize=4096)  # a batch names the same few hundred days again and again
def vn_day(value: date | str) -> str:
    """"15/6/2026", "05/01/2024", "22/02/2024": leading zero per NĐ 30/2020 (days < 10, months 1–2)."""
    d = _as_date(value)
    month = f"{d.month:02d}" if d.month <= 2 else str(d.month)
    return f"{d.day:02d}/{month}/{d.year}"


@lru_cache(maxsize=4096)
def vn_date(value: date | str) -> str:
    """"thứ Hai, ngày 15/6/2026"."""
    d = _as_date(value)
    return f"{_WEEKDAYS[d.weekday()]}, ngày {vn_day(d)}"


def vn_weekday(value: date | str) -> str:
    return _WEEKDAYS[_as_date(value).weekday()]


def one_line(text: str, *, limit: int = SUBJECT_MAX) -> str:
    """NFC, no control characters or line breaks, single spaces, at most `limit` characters."""
    text = str(text)
    if _UNTIDY.search(text) or not unicodedata.is_normalized("NFC", text):
        text = INVISIBLE.sub("", nfc(text))
        text = _SPACES.sub(" ", _CONTROL.sub(" ", text))
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _tidy(text: str) -> str:
    """Plain text: at most one blank line in a row (optional template blocks leave gaps)."""
    return _BLANK_LINES.sub("\n\n", text).strip() + "\n"


@lru_cache(maxsize=4096)
def _vn_span(start: str | None, end: str | None) -> str:
    """A window in words: "ngày 02/12/2024" or "từ ngày 01/4/2024 đến ngày 30/4/2024"."""
    if start and end and start != end:
        return f"từ ngày {vn_day(start)} đến ngày {vn_day(end)}"
    day = start or end
    return f"ngày {vn_day(day)}" if day else ""


# --- Jinja environments ---


class _Environment(jinja2.Environment):
    """Jinja for JSON contexts: `a.ref` reads the key of a dict first.

    Jinja's own order (attribute, then key) raises and catches an AttributeError at every
    `a.ref` of a dict: a quarter of a message's rendering time. A key that is missing
    still falls back to the attribute, then to StrictUndefined.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


class _Context(jinja2.runtime.Context):
    """A macro called with its positional arguments only (all the templates do) runs
    directly: Jinja's general call path (pass-argument probes, keyword and caller
    handling) cost more than the small macros it ran. Anything else goes that path."""

    def call(self, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if (
            type(obj) is jinja2.runtime.Macro
            and len(args) == obj._argument_count
            and not (obj.caller or obj.catch_kwargs or obj.catch_varargs)
            and kwargs.keys() <= _CALL_VARS
        ):
            try:
                rv = obj._func(*args)
            except StopIteration:
                return super().call(obj, *args, **kwargs)
            return Markup(rv) if self.eval_ctx.autoescape else rv
        return super().call(obj, *args, **kwargs)


_CALL_VARS = frozenset(("_block_vars", "_loop_vars"))


@lru_cache(maxsize=8192)
def _escape_text(text: str) -> Markup:
    return markupsafe.escape(text)


def _escape(value: Any) -> Markup:
    """markupsafe.escape, remembered for strings: unit names, links, dates and plan numbers
    come back message after message, and escaping was a quarter of an HTML body's time.
    A Markup is an immutable str, so one may be shared."""
    if type(value) is str:
        return _escape_text(value)
    return markupsafe.escape(value)


class _Template(jinja2.Template):
    """A compiled template whose `{{ … }}` output goes through `_escape`."""

    @classmethod
    def _from_namespace(cls, environment: Any, namespace: Any, globals: Any) -> Any:
        if namespace.get("escape") is markupsafe.escape:
            namespace["escape"] = _escape
        return super()._from_namespace(environment, namespace, globals)


def _environment(directory: Path, *, html: bool) -> jinja2.Environment:
    env = _Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        autoescape=html,
        auto_reload=False,  # no stat() per render; a new run (or reload) re-reads the files
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.context_class = _Context
    env.template_class = _Template
    env.filters.update(
        vn_date=vn_date, vn_day=vn_day, vn_weekday=vn_weekday, vn_span=_vn_span, one_line=one_line
    )
    return env


@lru_cache(maxsize=8)
def _environments(directory: Path) -> tuple[jinja2.Environment, jinja2.Environment]:
    """(plain: subject and text, html: autoescaped), cached per directory."""
    return _environment(directory, html=False), _environment(directory, html=True)


@lru_cache(maxsize=64)
def _compiled(directory: Path, name: str) -> tuple[jinja2.Template, dict[str, Any]]:
    """A template (html when `name` ends in .html.j2) and its globals as a plain dict."""
    env = _environments(directory)[name.endswith(".html.j2")]
    compiled = env.get_template(name)
    return compiled, dict(compiled.globals)


@lru_cache(maxsize=32)
def _parts(directory: Path, template: str) -> tuple[tuple[jinja2.Template, dict[str, Any]], ...]:
    """The subject, text and html templates of one email, found with one cache lookup."""
    _check_name(template)
    return tuple(_compiled(directory, f"{template}.{part}.j2") for part in ("subject", "text", "html"))


def _run(directory: Path, name: str, context: Mapping[str, Any]) -> str:
    return _run_compiled(_compiled(directory, name), context)


def _run_compiled(found: tuple[jinja2.Template, dict[str, Any]], context: Mapping[str, Any]) -> str:
    """Template.render without its per-call costs: merging the globals ChainMap into the
    context and copying its keys into a set (together as much as a subject takes)."""
    compiled, globals_ = found
    run = jinja2.runtime.new_context(
        compiled.environment, compiled.name, compiled.blocks, {**globals_, **context}, True
    )
    return compiled.environment.concat(compiled.root_render_func(run))


def _check_name(template: str) -> None:
    if not _NAME.fullmatch(template):
        raise ValueError(f"tên mẫu thư không hợp lệ: {template!r}")


_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def render_subject(
    template: str, context: Mapping[str, Any], *, directory: Path | None = None
) -> str:
    """Only the subject line (the planner uses it for previews)."""
    _check_name(template)
    return one_line(_run(directory or TEMPLATES_DIR, f"{template}.subject.j2", context))


def render(
    template: str, context: Mapping[str, Any], *, directory: Path | None = None
) -> Rendered:
    """Render `<template>.{subject,text,html}.j2` with `context`; attach its events as .ics.

    `context["events"]` (optional): list of {"uid", "summary", "start", "end", "description",
    "url"} with ISO dates (inclusive end); `context["stamp"]` (ISO instant) is the DTSTAMP,
    so rendering stays a pure function of its input.
    """
    subject_t, text_t, html_t = _parts(directory or TEMPLATES_DIR, template)
    subject = one_line(_run_compiled(subject_t, context))
    # Bidi controls and zero-width marks leave both bodies, as they leave the subject: plan
    # text must not make a name or a date read differently (docs/security.md).
    text = _tidy(INVISIBLE.sub("", nfc(_run_compiled(text_t, context))))
    body = INVISIBLE.sub("", nfc(_run_compiled(html_t, context)))
    attachments: tuple[Attachment, ...] = ()
    events = context.get("events") or ()
    if events:
        data = build_ics(events, stamp=context.get("stamp"))
        name = str(context.get("ics_name") or "nhac-viec") + ".ics"
        attachments = (Attachment(name, "text/calendar", data),)
    return Rendered(subject, text, body, attachments)


# --- .ics attachment ---

_ICS_HEAD = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//notifier//nhac viec//VI\r\n"
    "CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n"
)


def _ics_day(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def ics_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """One event's values as they are written: text made safe for a calendar, dates as
    date objects, DTEND the day after the (inclusive) end and never before the start."""
    start = _as_date(item["start"])
    end = max(_as_date(item.get("end") or item["start"]), start) + timedelta(days=1)
    summary = safe_text(one_line(str(item.get("summary", "")), limit=250), single_line=True)
    fields: dict[str, Any] = {
        "uid": safe_text(str(item["uid"]), single_line=True),
        "summary": summary,
        "dtstart": start,
        "dtend": end,
    }
    if item.get("description"):
        fields["description"] = safe_text(str(item["description"]))
    if item.get("url"):
        fields["url"] = safe_text(str(item["url"]), single_line=True)
    return fields


def build_ics(events: Sequence[Mapping[str, Any]], *, stamp: str | datetime | None = None) -> bytes:
    """A VCALENDAR (METHOD:PUBLISH) of all-day VEVENTs; DTEND is the day after `end`.

    Written line by line in the order icalendar's Component writes them (its `to_ical`
    cost half a message's rendering); lines folded by icstext.fold_line (75 octets, never
    inside a character or between a letter and its mark).
    """
    moment = _stamp(stamp)
    dtstamp = (
        f"DTSTAMP:{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}Z\r\n"
    )
    out = [_ICS_HEAD]
    for item in events:
        key = tuple(item.get(k) for k in _EVENT_KEYS)
        try:
            before, after = _vevent(key)
        except TypeError:  # a value that cannot be a cache key (not from JSON): as it is
            before, after = _vevent.__wrapped__(key)
        out += [before, dtstamp, after]
    out.append("END:VCALENDAR\r\n")
    return "".join(out).encode("utf-8")


_EVENT_KEYS = ("uid", "summary", "start", "end", "description", "url")


@lru_cache(maxsize=4096)  # an activity's event goes out with each of its reminders
def _vevent(values: tuple[Any, ...]) -> tuple[str, str]:
    """One VEVENT's lines before and after its DTSTAMP (the only line that differs
    between the reminders of one activity)."""
    item = {k: v for k, v in zip(_EVENT_KEYS, values, strict=True) if v is not None}
    item.setdefault("summary", "")
    f = ics_fields(item)
    before = (
        "BEGIN:VEVENT\r\n"
        + fold_line("SUMMARY:" + escape_text(f["summary"]))
        + f"\r\nDTSTART;VALUE=DATE:{_ics_day(f['dtstart'])}\r\n"
        + f"DTEND;VALUE=DATE:{_ics_day(f['dtend'])}\r\n"
    )
    after = [fold_line("UID:" + escape_text(f["uid"])), "\r\n"]
    if "description" in f:
        after += [fold_line("DESCRIPTION:" + escape_text(f["description"])), "\r\n"]
    after.append("TRANSP:TRANSPARENT\r\n")  # a long window must not block the calendar
    if "url" in f:
        after += [fold_line("URL:" + f["url"]), "\r\n"]
    after.append("END:VEVENT\r\n")
    return before, "".join(after)


def _stamp(value: str | datetime | None) -> datetime:
    """DTSTAMP: the reminder's due instant (UTC), so rendering stays a pure function."""
    if isinstance(value, datetime):
        moment = value
    elif value:
        moment = datetime.fromisoformat(str(value))
    else:
        moment = datetime(1970, 1, 1, tzinfo=UTC)  # deterministic, never the wall clock
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
