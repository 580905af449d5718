"""Events → ICS feeds: one per plan, one per unit, one per coordinator, and their index.

Owns: `FeedSettings`, `Feed`, `FeedVersion`, `FeedState`, `Role`, `build_feeds()`,
`render_calendar()`, `index_entries()`, `index_json()`; `fold_line()` and `safe_text()` are
icstext.py's, re-exported.

Facts relied on (RFC 5545, RFC 7986; docs/feeds.md says what clients do):
- all-day events are DTSTART;VALUE=DATE with an exclusive DTEND, never equal to DTSTART;
  dates are floating, so no VTIMEZONE is needed; X-WR-TIMEZONE names Asia/Ho_Chi_Minh
  for clients that show floating times in it;
- a published feed says METHOD:PUBLISH; NAME (RFC 7986) and X-WR-CALNAME (Google,
  Outlook, Apple) name it; REFRESH-INTERVAL;VALUE=DURATION and X-PUBLISHED-TTL suggest
  how often to poll (icalendar writes neither correctly, so they are added here);
- lines are folded at 75 octets with CRLF + space, never inside a UTF-8 sequence, a
  backslash escape, or between a letter and its combining mark; every line, the last
  too, ends in CRLF; text is NFC and loses control characters, so plan text can never
  start a property of its own;
- DTSTAMP = LAST-MODIFIED = the event's last real change (events.version_events), so the
  same data gives the same bytes; icalendar's `new()` constructors, which stamp the
  current time and a random UID, are never used.
Unit membership goes through the directory: a unit's feed holds what it leads or
coordinates (named directly, through a group with members, or as successor of a unit
that was named), and the report deadlines it owes. A coordinator's feed holds every
event of the plans whose reports go to it (and of plans that name no receiver).
Pure: no I/O, clock passed as `now`. Not here: events (events.py), caching, files and
HTTP (publish.py, web.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from icalendar import Alarm, Calendar, vDuration, vRecur, vText
from icalendar import Event as IcsEvent

from notifier.events import (
    Event,
    EventKind,
    EventVersion,
    PlanEvents,
    Stamped,
    Undated,
    plan_line,
    short_summary,
    version_events,
)
from notifier.icstext import escape_text as _esc
from notifier.icstext import fold_line, safe_text
from notifier.text import clean, slugify
from notifier.units import Membership

__all__ = [
    "Feed",
    "FeedSettings",
    "FeedState",
    "FeedVersion",
    "Role",
    "build_feeds",
    "fold_line",
    "index_entries",
    "index_json",
    "render_calendar",
    "safe_text",
    "vevent_component",
]

PRODID = "-//notifier//Lich ke hoach//VI"


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """How feeds are written. Refresh values are chosen once: some clients keep the first."""

    refresh_interval: timedelta = timedelta(hours=1)
    published_ttl: timedelta = timedelta(hours=1)
    alarms: tuple[timedelta, ...] = ()  # VALARM triggers relative to the start; off by default
    timezone: str = "Asia/Ho_Chi_Minh"
    public_url: str = ""
    uid_domain: str = "notifier"


class Role(StrEnum):
    """What the feed's owner has to do with an event; shown in summary and categories."""

    PLAN = "plan"  # neutral: plan and coordinator feeds
    LEAD = "lead"
    COORDINATING = "coordinating"
    OWNER = "owner"  # owes the report
    RECEIVER = "receiver"  # receives the report


_ROLE_CATEGORY = {
    Role.LEAD: "Chủ trì",
    Role.COORDINATING: "Phối hợp",
    Role.OWNER: "Phải báo cáo",
    Role.RECEIVER: "Nhận báo cáo",
}


class UnitLike(Protocol):
    name: str
    slug: str
    coordinator: bool


class DirectoryLike(Protocol):
    """What feeds need of units.Directory."""

    def __iter__(self) -> Iterator[UnitLike]: ...
    def get(self, name: str) -> UnitLike | None: ...
    def recipients(self, name: str, on: date) -> list[UnitLike]: ...


@dataclass(frozen=True, slots=True)
class Feed:
    """One built calendar: its identity, where it is published, and its exact bytes."""

    kind: str  # "plan" | "unit" | "coordinator"
    name: str
    slug: str
    path: str  # relative to the feed root: "plans/<slug>.ics"
    events: int
    body: bytes
    modified: datetime  # last real change of this feed, deletions included


@dataclass(frozen=True, slots=True)
class FeedVersion:
    fingerprint: str
    modified: datetime


@dataclass(slots=True)
class FeedState:
    """Everything feeds remember between builds: event versions and feed versions."""

    events: dict[str, EventVersion] = field(default_factory=dict)
    feeds: dict[str, FeedVersion] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "version": 1,
            "events": {uid: v.as_json() for uid, v in sorted(self.events.items())},
            "feeds": {
                p: {"fingerprint": v.fingerprint, "modified": v.modified.isoformat()}
                for p, v in sorted(self.feeds.items())
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> FeedState:
        events = data.get("events") or {}
        feeds = data.get("feeds") or {}
        assert isinstance(events, dict) and isinstance(feeds, dict)
        return cls(
            events={uid: EventVersion.from_json(v) for uid, v in events.items()},
            feeds={
                p: FeedVersion(str(v["fingerprint"]), datetime.fromisoformat(str(v["modified"])))
                for p, v in feeds.items()
            },
        )


def _serialize(component: Calendar | IcsEvent) -> list[str]:
    """Unfolded content lines of a component, each folded; no trailing empty line."""
    return [fold_line(str(line)) for line in component.content_lines(sorted=False) if line]


# --- rendering ---------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _role_summary(event: Event, role: Role) -> str:
    summary = safe_text(event.summary, single_line=True)
    if role is Role.COORDINATING:
        return f"[Phối hợp] {summary}"
    return summary


def _categories(event: Event, role: Role) -> list[str]:
    cats = [safe_text(c, single_line=True) for c in event.categories]
    if role in _ROLE_CATEGORY:
        cats.append(_ROLE_CATEGORY[role])
    return [c for c in cats if c]


def vevent_component(item: Stamped, role: Role, settings: FeedSettings) -> IcsEvent:
    """The reference: one VEVENT built property by property with icalendar.

    `_vevent` writes the same lines directly (tests check byte equality), because
    icalendar's Component.add/to_ical costs ~0.4 ms an event and a 5,000-activity plan
    appears in several feeds.
    """
    event, version = item.event, item.version
    if event.end < event.start:
        raise ValueError(f"{event.uid}: kết thúc trước khi bắt đầu")
    ve = IcsEvent()
    ve.add("uid", safe_text(event.uid, single_line=True))
    ve.add("dtstamp", _utc(version.modified))
    ve.add("created", _utc(version.created))
    ve.add("last-modified", _utc(version.modified))
    ve.add("sequence", version.sequence)
    ve.add("dtstart", event.start)
    ve.add("dtend", event.end + timedelta(days=1))  # exclusive, so always after DTSTART
    if event.rule:
        ve.add("rrule", vRecur.from_ical(event.rule))
    ve.add("summary", _role_summary(event, role))
    ve.add("description", safe_text(event.description))
    categories = _categories(event, role)
    if categories:
        ve.add("categories", categories)
    if event.url:
        ve.add("url", _safe_uri(event.url))
    ve.add("status", "CONFIRMED")
    ve.add("class", "PUBLIC")
    ve.add("transp", "TRANSPARENT")  # a year-long span must not make a unit look busy
    ve.add("x-microsoft-cdo-alldayevent", vText("TRUE"))
    ve.add("x-microsoft-cdo-busystatus", vText("FREE"))
    for trigger in settings.alarms:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", trigger)
        alarm.add("description", _role_summary(event, role))
        ve.add_component(alarm)
    return ve


def _stamp(moment: datetime) -> str:
    u = _utc(moment)  # by hand: strftime costs more than the rest of a line
    return f"{u.year:04d}{u.month:02d}{u.day:02d}T{u.hour:02d}{u.minute:02d}{u.second:02d}Z"


def _day(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


@functools.lru_cache(maxsize=1024)
def _rrule(rule: str) -> str:
    ical: bytes = vRecur.from_ical(rule).to_ical()  # icalendar gives neither a return type
    return ical.decode()


class _Writer:
    """Writes VEVENTs line by line with icalendar's value encoders; one instance per build.

    Lines common to every role of an event are made once; only SUMMARY, CATEGORIES and
    the alarms' DESCRIPTION differ between a unit's "lead" and "coordinating" views.
    """

    def __init__(self, settings: FeedSettings) -> None:
        self.settings = settings
        self._common: dict[str, tuple[str, str, str]] = {}
        self._texts: dict[str, tuple[str, list[str]]] = {}  # uid → escaped summary, categories
        self._role_cats = {role: _esc(cat) for role, cat in _ROLE_CATEGORY.items()}
        trigger: Callable[[vDuration], bytes] = vDuration.to_ical  # unannotated in icalendar
        self._alarm_heads = [
            f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:{trigger(vDuration(t)).decode()}\r\n"
            for t in settings.alarms
        ]

    def _parts(self, item: Stamped) -> tuple[str, str, str]:
        event, version = item.event, item.version
        found = self._common.get(event.uid)
        if found is None:
            if event.end < event.start:
                raise ValueError(f"{event.uid}: kết thúc trước khi bắt đầu")
            modified = _stamp(version.modified)
            head = [
                "BEGIN:VEVENT",
                fold_line("UID:" + _esc(safe_text(event.uid, single_line=True))),
                f"DTSTAMP:{modified}",
                f"CREATED:{_stamp(version.created)}",
                f"LAST-MODIFIED:{modified}",
                f"SEQUENCE:{version.sequence}",
                f"DTSTART;VALUE=DATE:{_day(event.start)}",
                f"DTEND;VALUE=DATE:{_day(event.end + timedelta(days=1))}",
            ]
            if event.rule:
                head.append(fold_line("RRULE:" + _rrule(event.rule)))
            desc = fold_line("DESCRIPTION:" + _esc(safe_text(event.description)))
            tail = [fold_line("URL:" + _safe_uri(event.url))] if event.url else []
            tail += [
                "STATUS:CONFIRMED",
                "CLASS:PUBLIC",
                "TRANSP:TRANSPARENT",
                "X-MICROSOFT-CDO-ALLDAYEVENT:TRUE",
                "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
            ]
            found = ("\r\n".join(head) + "\r\n", desc + "\r\n", "\r\n".join(tail) + "\r\n")
            self._common[event.uid] = found
        return found

    def vevent(self, item: Stamped, role: Role) -> str:
        event = item.event
        head, desc, tail = self._parts(item)
        texts = self._texts.get(event.uid)
        if texts is None:  # escaping is per character, so role prefixes can be added after it
            cats = [_esc(c) for c in _categories(event, Role.PLAN)]
            texts = self._texts[event.uid] = (_esc(_role_summary(event, Role.PLAN)), cats)
        summary = _esc(_role_summary(event, role)) if role is Role.COORDINATING else texts[0]
        parts = [head, fold_line("SUMMARY:" + summary), "\r\n", desc]
        categories = texts[1] + ([self._role_cats[role]] if role in self._role_cats else [])
        if categories:
            parts += [fold_line("CATEGORIES:" + ",".join(categories)), "\r\n"]
        parts.append(tail)
        for alarm in self._alarm_heads:
            parts += [alarm, fold_line("DESCRIPTION:" + summary), "\r\nEND:VALARM\r\n"]
        parts.append("END:VEVENT\r\n")
        return "".join(parts)


_URI_OK = re.compile(r"[!#-\[\]_a-z~]*")  # printable ASCII without space " < > \\ ^ ` { | }


def _safe_uri(uri: str) -> str:
    """A URI cannot carry spaces, quotes or controls: percent-encode them."""
    if _URI_OK.fullmatch(uri):
        return uri
    out: list[str] = []
    for char in safe_text(uri, single_line=True):
        if char <= " " or char in '"<>\\^`{|}' or ord(char) > 126:
            out.extend(f"%{b:02X}" for b in char.encode())
        else:
            out.append(char)
    return "".join(out)


def _header(name: str, description: str, settings: FeedSettings) -> str:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    name = safe_text(name, single_line=True)
    cal.add("name", name)
    cal.add("x-wr-calname", vText(name))
    if description:
        cal.add("description", safe_text(description))
        cal.add("x-wr-caldesc", vText(safe_text(description)))
    cal.add("x-wr-timezone", vText(safe_text(settings.timezone, single_line=True)))
    cal.add("refresh-interval", vDuration(settings.refresh_interval), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(settings.published_ttl))
    lines = _serialize(cal)
    assert lines[-1] == "END:VCALENDAR"
    return "\r\n".join(lines[:-1]) + "\r\n"


def render_calendar(
    name: str,
    description: str,
    items: Iterable[tuple[Stamped, Role]],
    settings: FeedSettings,
    *,
    cache: dict[tuple[str, Role], bytes] | None = None,
    writer: _Writer | None = None,
) -> bytes:
    """A whole VCALENDAR as UTF-8 bytes, CRLF everywhere including the last line.

    `cache` (uid, role) → VEVENT bytes and `writer` let one build reuse events across feeds.
    Events are kept and joined as UTF-8 bytes: Vietnamese text as a str takes 2 bytes a
    character, and joining bytes never makes a whole-feed str (a coordinator's feed holds
    every event), which halved the build's peak.
    """
    writer = writer or _Writer(settings)
    parts = [_header(name, description, settings).encode("utf-8")]
    for item, role in items:
        key = (item.event.uid, role)
        data = cache.get(key) if cache is not None else None
        if data is None:
            data = writer.vevent(item, role).encode("utf-8")
            if cache is not None:
                cache[key] = data
        parts.append(data)
    parts.append(b"END:VCALENDAR\r\n")
    return b"".join(parts)


# --- which events go where ---------------------------------------------------------


def _undated_note(undated: Sequence[Undated]) -> str:
    if not undated:
        return ""
    lines = ["Chưa xếp lịch (không có ngày cụ thể):"]
    for item in undated:
        content = short_summary(safe_text(item.content, single_line=True))
        lines.append(f"- {item.ref} {content}: {safe_text(item.reason, single_line=True)}")
    return "\n".join(lines)


@dataclass(slots=True)
class _Draft:
    kind: str
    name: str
    slug: str
    description: str
    items: list[tuple[Stamped, Role]]
    undated: list[Undated] = field(default_factory=list)

    @property
    def path(self) -> str:
        folder = {"plan": "plans", "unit": "units", "coordinator": "coordinators"}[self.kind]
        return f"{folder}/{self.slug}.ics"


def _plan_name(plan_events: PlanEvents) -> str:
    plan = plan_events.plan
    title = clean(plan.title) or plan.slug
    number = " ".join(clean(plan.number).split())  # shown on the page and in index.json too
    return f"{number} – {title}" if number else title


def _drafts(
    plans: Sequence[PlanEvents],
    stamped: Mapping[str, Stamped],
    directory: DirectoryLike,
    on: date,
) -> list[_Draft]:
    members = Membership(directory, on)
    drafts: list[_Draft] = []
    for pe in plans:
        desc = "\n\n".join(p for p in (plan_line(pe.plan), _undated_note(pe.undated)) if p)
        items = [(stamped[e.uid], Role.PLAN) for e in pe.events]
        drafts.append(_Draft("plan", _plan_name(pe), pe.plan.slug, desc, items, list(pe.undated)))

    # Per unit: role of each event, computed once per event.
    roles: dict[str, list[tuple[Stamped, Role]]] = {}
    unit_undated: dict[str, list[Undated]] = {}
    for pe in plans:
        for e in pe.events:
            lead = members.all(e.lead)
            coord = members.all(e.coordinating) - lead
            own = Role.OWNER if e.kind is EventKind.REPORT else Role.LEAD
            for name in lead:
                roles.setdefault(name, []).append((stamped[e.uid], own))
            for name in coord:
                roles.setdefault(name, []).append((stamped[e.uid], Role.COORDINATING))
        for u in pe.undated:
            for name in members.all(u.lead) | members.all(u.coordinating):
                unit_undated.setdefault(name, []).append(u)

    # Plans each coordinator follows: those whose reports go to it, or that name no receiver.
    followed: dict[str, list[PlanEvents]] = {}
    coordinators = [u for u in directory if getattr(u, "coordinator", False)]
    for pe in plans:
        receivers = {e.receiver for e in pe.events if e.receiver}
        receivers |= {clean(r.to or r.to_text) for r in pe.plan.reports if clean(r.to or r.to_text)}
        holders = members.all(receivers)
        for unit in coordinators:
            if not receivers or unit.name in holders:
                followed.setdefault(unit.name, []).append(pe)

    for unit in directory:
        items = roles.get(unit.name, [])
        items.sort(key=lambda it: (it[0].event.start, it[0].event.end, it[0].event.uid))
        desc = f"Các hoạt động {unit.name} chủ trì, phối hợp và các hạn báo cáo của đơn vị."
        undated = unit_undated.get(unit.name, [])
        desc = "\n\n".join(p for p in (desc, _undated_note(undated)) if p)
        drafts.append(_Draft("unit", unit.name, unit.slug, desc, items, undated))
    for unit in coordinators:
        items = []
        undated = []
        for pe in followed.get(unit.name, []):
            for e in pe.events:
                receives = e.receiver and unit.name in members.holders(e.receiver)
                items.append((stamped[e.uid], Role.RECEIVER if receives else Role.PLAN))
            undated.extend(pe.undated)
        items.sort(key=lambda it: (it[0].event.start, it[0].event.end, it[0].event.uid))
        desc = f"Toàn bộ kế hoạch do {unit.name} theo dõi, tổng hợp."
        desc = "\n\n".join(p for p in (desc, _undated_note(undated)) if p)
        drafts.append(
            _Draft("coordinator", f"{unit.name} – theo dõi kế hoạch", unit.slug, desc, items, undated)
        )
    return _unique_paths(drafts)


def _unique_paths(drafts: list[_Draft]) -> list[_Draft]:
    """Two names with the same ASCII slug get -2, -3… in build order (stable)."""
    seen: dict[str, int] = {}
    for draft in drafts:
        base = draft.slug = slugify(draft.slug)
        n = seen.get(f"{draft.kind}/{base}", 0) + 1
        seen[f"{draft.kind}/{base}"] = n
        if n > 1:
            draft.slug = f"{base}-{n}"
    return drafts


def build_feeds(
    plans: Sequence[PlanEvents],
    directory: DirectoryLike,
    *,
    settings: FeedSettings,
    previous: FeedState | None = None,
    now: datetime,
    on: date | None = None,
) -> tuple[list[Feed], FeedState]:
    """Every feed as bytes, and the state to pass as `previous` next time.

    `on` (default: `now`'s date) decides successors and group membership. A feed whose
    bytes changed gets Last-Modified = now (never earlier than before), so removing an
    event also moves it forward.
    """
    previous = previous or FeedState()
    events = [e for pe in plans for e in pe.events]
    stamped_list, event_versions = version_events(events, previous.events, now=now)
    stamped = {s.event.uid: s for s in stamped_list}
    cache: dict[tuple[str, Role], bytes] = {}
    writer = _Writer(settings)
    feeds: list[Feed] = []
    feed_versions: dict[str, FeedVersion] = {}
    for draft in _drafts(plans, stamped, directory, on or now.date()):
        body = render_calendar(draft.name, draft.description, draft.items, settings, cache=cache, writer=writer)
        fp = hashlib.sha256(body).hexdigest()
        old = previous.feeds.get(draft.path)
        if old is not None and old.fingerprint == fp:
            version = old
        else:
            version = FeedVersion(fp, max(old.modified, now) if old else now)
        feed_versions[draft.path] = version
        feeds.append(
            Feed(draft.kind, draft.name, draft.slug, draft.path, len(draft.items), body, version.modified)
        )
    # Remember feeds that vanished, so one coming back never moves Last-Modified backwards.
    for path, old in previous.feeds.items():
        if path not in feed_versions:
            gone_now = bool(old.fingerprint)  # an empty fingerprint marks one already gone
            feed_versions[path] = FeedVersion("", max(old.modified, now) if gone_now else old.modified)
    return feeds, FeedState(event_versions, feed_versions)


# --- index ------------------------------------------------------------------------


def index_entries(feeds: Iterable[Feed], *, hidden: Callable[[Feed], bool] = lambda f: False) -> list[dict[str, object]]:
    """`[{"kind", "name", "slug", "path", "events"}]`, `path` relative to the feed root."""
    return [
        {"kind": f.kind, "name": f.name, "slug": f.slug, "path": f.path, "events": f.events}
        for f in feeds
        if not hidden(f)
    ]


def index_json(entries: list[dict[str, object]]) -> bytes:
    return (json.dumps(entries, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
