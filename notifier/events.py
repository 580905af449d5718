"""Plans → calendar events: the dated, all-day view of a plan that feeds show.

Owns: `Event` (one all-day calendar event with a stable UID), `Undated` (an activity
the calendar cannot place, with the reason), `DutyDeadline` (a report deadline that
reporting.py already computed), `PlanEvents`, `plan_events()`; and the versioning
that makes feeds honest: `EventVersion`, `Stamped`, `version_events()`; `forget()` empties
the memos once a build is done.

Rules (docs/feeds.md says why):
- a range, a single date and a continuous activity are one all-day event over their
  inclusive span; a deadline is a one-day event on its last day; a recurring one is a
  one-day event on its first occurrence carrying the RRULE (with UNTIL = its end);
- an accepted key date (KeyDate.accepted) adds a one-day event inside the window;
- conditional timings with a known window are placed on that window and say so; those
  without one, and undatable ones, are never invented into dates: they become `Undated`;
- a report duty gives one deadline event per computed `DutyDeadline`, owed by its owners.
UIDs come from the plan slug, the ref ("II.7") and a stable component (the key date or
the duty occurrence), never from content, so re-importing or editing keeps them.
`version_events` compares content fingerprints with the previous version map: a changed
event keeps its UID, its SEQUENCE grows and its LAST-MODIFIED moves to `now`; unchanged
ones keep their stamps, so the same data gives the same bytes.
Pure: no I/O, the clock is the `now` argument. Not here: unit membership and ICS
(feeds.py), report deadlines (reporting.py), persistence of versions (publish.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from notifier.plan import Activity, Plan, ReportDuty
from notifier.text import clean, slugify
from notifier.timing import Timing, TimingKind

__all__ = [
    "EventKind",
    "Event",
    "Undated",
    "DutyDeadline",
    "PlanEvents",
    "plan_events",
    "EventVersion",
    "Stamped",
    "version_events",
    "forget",
    "short_summary",
    "format_date",
    "plan_line",
]

_clean = functools.lru_cache(maxsize=16384)(clean)  # unit names and cells repeat a lot

SUMMARY_LIMIT = 72  # characters: what a phone's month view shows in about two lines
TOMBSTONE_DAYS = 800  # how long a removed event's SEQUENCE is remembered


class EventKind(StrEnum):
    ACTIVITY = "activity"  # an activity's window (range, date, continuous, recurring)
    DEADLINE = "deadline"  # an activity that must be done by a day
    KEY_DATE = "key-date"  # an accepted key date inside an activity's window
    REPORT = "report"  # a report duty's deadline


@dataclass(frozen=True, slots=True)
class DutyDeadline:
    """One computed deadline of a report duty (reporting.py computes it from config).

    `key` identifies the occurrence within the duty and must stay stable ("2024",
    "2024-H1"); `due` is the last day to submit, already moved off days off.
    """

    duty_id: str
    key: str
    due: date
    label: str = ""  # "6 tháng đầu năm 2024"
    wording: str = ""  # "trước ngày 15/6/2024"


@dataclass(frozen=True, slots=True)
class Event:
    """One all-day event. `start`/`end` are inclusive days (DTEND is end + 1 day)."""

    uid: str
    plan: str  # plan slug
    kind: EventKind
    ref: str  # "II.7", or the duty id for reports
    summary: str
    description: str
    start: date
    end: date
    rule: str | None = None  # RFC 5545 RRULE value, UNTIL included
    lead: tuple[str, ...] = ()  # units that lead it (activities) or owe it (reports)
    coordinating: tuple[str, ...] = ()
    receiver: str = ""  # reports: the unit the report goes to
    categories: tuple[str, ...] = ()
    url: str = ""
    conditional: bool = False

    def fingerprint(self) -> str:
        """Hash of everything a client shows; stamps and SEQUENCE excluded."""
        data = [
            self.uid, self.plan, self.kind.value, self.ref, self.summary, self.description,
            self.start.isoformat(), self.end.isoformat(), self.rule, list(self.lead),
            list(self.coordinating), self.receiver, list(self.categories), self.url,
            self.conditional,
        ]  # fmt: skip
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Undated:
    """An activity that has no place on the calendar, and why."""

    plan: str
    ref: str
    content: str
    timing_text: str
    reason: str
    lead: tuple[str, ...] = ()
    coordinating: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanEvents:
    """A plan's events (sorted by start, then UID) and its undated activities."""

    plan: Plan
    events: tuple[Event, ...]
    undated: tuple[Undated, ...] = ()


def format_date(day: date) -> str:
    """Vietnamese short date: 02/12/2024."""
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def short_summary(text: str, limit: int = SUMMARY_LIMIT, *, cleaned: bool = False) -> str:
    """One line that fits a phone: the first clause, cut at a word boundary with '…'."""
    line = " ".join((text if cleaned else clean(text)).split())
    if len(line) <= limit:
        return line
    clause = line.split(";", 1)[0].strip()
    if len(clause) <= limit:
        return clause
    cut = clause[: limit - 1]
    # Prefer ending at a comma (a whole phrase), else at a space, if not too early.
    for mark in (",", " "):
        at = cut.rfind(mark)
        if at >= limit * 3 // 5:
            cut = cut[:at]
            break
    return cut.rstrip(" ,.:;-") + "…"


def forget() -> None:
    """Empty this module's memos. A feed build calls it when done: entries a build adds are
    small objects scattered through the build's garbage, and each keeps a 1 MiB arena of it
    resident (~20 MB at 1,000 plans)."""
    for memo in (_clean, _plan_line, _first_occurrence):
        memo.cache_clear()


def plan_line(plan: Plan) -> str:
    """"Kế hoạch số 34/KH-UBND ngày 22/02/2024 của UBND tỉnh Đắk Lắk: <title>"."""
    return _plan_line(plan.number, plan.date, plan.issuer, plan.title)


@functools.lru_cache(maxsize=256)
def _plan_line(number: str, day: date | None, issuer: str, title: str) -> str:
    parts = [f"Kế hoạch số {number}" if number else "Kế hoạch"]
    if day:
        parts.append(f"ngày {format_date(day)}")
    if issuer:
        parts.append(f"của {issuer}")
    head = " ".join(parts)
    title = clean(title)
    return f"{head}: {title}" if title else head


def _plan_category(plan: Plan) -> str:
    return f"KH {plan.number}" if plan.number else short_summary(plan.title, 40)


def _page_url(base_url: str, plan: Plan, ref: str) -> str:
    if not base_url:
        return ""
    anchor = f"#hd-{slugify(ref)}" if ref else ""
    return f"{base_url.rstrip('/')}/plans/{plan.slug}{anchor}"


def _names(resolved: Sequence[str], written: str) -> tuple[str, ...]:
    """Canonical names when resolved; else the cell as written (never lose the text)."""
    if resolved:
        return tuple(c for c in map(_clean, resolved) if c)
    text = _clean(written)
    return (text,) if text else ()


def _span_text(timing: Timing, start: date, end: date) -> str:
    span = format_date(start) if start == end else f"{format_date(start)} – {format_date(end)}"
    text = _clean(timing.text)
    return f"{text} ({span})" if text else span


_ASCII_PART = re.compile(r"[^a-z0-9]+")


def _slug_part(part: str) -> str:
    """slugify, with a fast path for the ASCII refs plans use ("II.7")."""
    if part.isascii():
        return _ASCII_PART.sub("-", part.lower()).strip("-") or slugify(part)
    return slugify(part)


def _uid(plan: Plan, *parts: str, domain: str) -> str:
    return ".".join([plan.slug, *(_slug_part(p) for p in parts if p)]) + f"@{domain}"


@functools.lru_cache(maxsize=1024)
def _first_occurrence(rule: str, start: date, end: date) -> tuple[date, str] | None:
    """First day of `rule` in [start, end] and the rule with UNTIL; None if it never occurs."""
    from dateutil.rrule import rrulestr

    parts = [p for p in rule.strip().removeprefix("RRULE:").split(";") if p]
    if not any(p.upper().startswith(("UNTIL=", "COUNT=")) for p in parts):
        parts.append(f"UNTIL={end:%Y%m%d}")
    full = ";".join(parts)
    try:
        rr = rrulestr(full, dtstart=datetime(start.year, start.month, start.day))
        first = rr.after(datetime(start.year, start.month, start.day), inc=True)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if first is None or first.date() > end:
        return None
    return first.date(), full


def _activity_description(
    plan: Plan, act: Activity, lead: tuple[str, ...], coord: tuple[str, ...], when: str, url: str,
    content: str,
) -> str:
    lines = [content, ""]
    if lead:
        lines.append("Chủ trì: " + "; ".join(lead))
    if coord:
        lines.append("Phối hợp: " + "; ".join(coord))
    lines.append(f"Thời gian: {when}")
    if act.timing.kind is TimingKind.CONDITIONAL and act.timing.reason:
        lines.append(f"Điều kiện: {clean(act.timing.reason)}")
    if act.funding:
        lines.append(f"Kinh phí: {_clean(act.funding)}")
    section = f" ({_clean(act.section_title)})" if act.section_title else ""
    lines.append(f"Mục {act.ref}{section}")
    lines.append(plan_line(plan))
    for key in act.key_dates:
        mark = "" if key.accepted else " (gợi ý)"
        lines.append(f"Ngày đáng chú ý{mark}: {format_date(key.date)} – {clean(key.label)}")
    if url:
        lines.append(url)
    return "\n".join(lines)


def _activity_events(
    plan: Plan, act: Activity, *, base_url: str, domain: str
) -> tuple[list[Event], Undated | None]:
    timing = act.timing
    content = clean(act.content)
    lead = _names(act.lead, act.lead_text)
    coord = _names(act.coordinating, act.coordinating_text)

    def undated(reason: str) -> Undated:
        return Undated(plan.slug, act.ref, content, _clean(timing.text), reason, lead, coord)

    if timing.kind is TimingKind.UNDATABLE or timing.end is None:
        return [], undated(clean(timing.reason or "") or "Không xác định được ngày.")
    end = timing.end
    start = timing.start or end
    if start > end:
        return [], undated(f"Ngày bắt đầu {format_date(start)} sau ngày kết thúc {format_date(end)}.")
    kind = EventKind.ACTIVITY
    rule: str | None = None
    summary = short_summary(content, cleaned=True)
    if timing.kind is TimingKind.DEADLINE:
        kind, start, summary = EventKind.DEADLINE, end, short_summary("Hạn: " + content, cleaned=True)
    elif timing.kind is TimingKind.RECURRING and timing.rule:
        found = _first_occurrence(timing.rule, start, end)
        if found is None:
            return [], undated(f"Quy tắc lặp “{timing.rule}” không có ngày nào trong khoảng.")
        start, rule = found
        end = start
    url = _page_url(base_url, plan, act.ref)
    when = _span_text(timing, timing.start or timing.end, timing.end)
    categories: tuple[str, ...] = (_plan_category(plan), f"Mục {act.section}" if act.section else "")
    conditional = timing.kind is TimingKind.CONDITIONAL
    if conditional:
        categories += ("Có điều kiện",)
    base = Event(
        uid=_uid(plan, act.ref, domain=domain),
        plan=plan.slug,
        kind=kind,
        ref=act.ref,
        summary=summary,
        description=_activity_description(plan, act, lead, coord, when, url, content),
        start=start,
        end=end,
        rule=rule,
        lead=lead,
        coordinating=coord,
        categories=tuple(c for c in categories if c),
        url=url,
        conditional=conditional,
    )
    events = [base]
    for key in act.key_dates:
        if not key.accepted:
            continue
        label = clean(key.label)
        events.append(
            replace(
                base,
                uid=_uid(plan, act.ref, f"{key.date.year:04d}{key.date.month:02d}{key.date.day:02d}", domain=domain),
                kind=EventKind.KEY_DATE,
                summary=short_summary(f"{label}: {content}" if label else content, cleaned=True),
                start=key.date,
                end=key.date,
                rule=None,
                categories=base.categories + ("Ngày đáng chú ý",),
            )
        )
    return events, None


def _report_events(
    plan: Plan, duty: ReportDuty, deadlines: Sequence[DutyDeadline], *, base_url: str, domain: str
) -> list[Event]:
    owners = _names(duty.owners, duty.owners_text)
    receiver = clean(duty.to or duty.to_text)
    url = _page_url(base_url, plan, "")
    events = []
    for dl in deadlines:
        label = clean(dl.label)
        title = clean(duty.title) or "Báo cáo"
        lines = [title + (f" – {label}" if label else ""), ""]
        lines.append(f"Hạn: {clean(dl.wording) or format_date(dl.due)}")
        if owners:
            lines.append("Đơn vị báo cáo: " + "; ".join(owners))
        if receiver:
            lines.append(f"Gửi: {receiver}")
        if duty.source_text:
            lines.append(f"Căn cứ: {clean(duty.source_text)}")
        lines.append(plan_line(plan))
        if url:
            lines.append(url)
        events.append(
            Event(
                uid=_uid(plan, "bao-cao", duty.id, dl.key, domain=domain),
                plan=plan.slug,
                kind=EventKind.REPORT,
                ref=duty.id,
                summary=short_summary(f"Hạn: {title}" + (f" ({label})" if label else "")),
                description="\n".join(lines),
                start=dl.due,
                end=dl.due,
                lead=owners,
                receiver=receiver,
                categories=(_plan_category(plan), "Báo cáo"),
                url=url,
            )
        )
    return events


def plan_events(
    plan: Plan,
    *,
    deadlines: Mapping[str, Sequence[DutyDeadline]] | None = None,
    base_url: str = "",
    uid_domain: str = "notifier",
) -> PlanEvents:
    """Every event of `plan`, plus the activities that have no date.

    `deadlines` maps a ReportDuty.id to its computed deadlines; a duty without any
    gets no event (its deadline lives in config, never in code). `base_url` prefixes
    links to the plan's page; `uid_domain` (e.g. "dak-lak.notifier") keeps UIDs of two
    provinces' same-numbered plans apart.
    """
    events: list[Event] = []
    undated: list[Undated] = []
    for act in plan.activities:
        found, missing = _activity_events(plan, act, base_url=base_url, domain=uid_domain)
        events.extend(found)
        if missing:
            undated.append(missing)
    for duty in plan.reports:
        dls = (deadlines or {}).get(duty.id, ())
        events.extend(_report_events(plan, duty, dls, base_url=base_url, domain=uid_domain))
    events.sort(key=lambda e: (e.start, e.end, e.uid))
    return PlanEvents(plan, tuple(_unique(events)), tuple(undated))


def _unique(events: Iterable[Event]) -> list[Event]:
    """Two rows with the same ref (a plan typo) must not share a UID: suffix the later ones."""
    seen: dict[str, int] = {}
    out = []
    for event in events:
        n = seen.get(event.uid, 0)
        seen[event.uid] = n + 1
        if n:
            local, _, domain = event.uid.partition("@")
            event = replace(event, uid=f"{local}-{n + 1}@{domain}")
        out.append(event)
    return out


@dataclass(frozen=True, slots=True)
class EventVersion:
    """What a client last saw of one UID: its fingerprint, SEQUENCE and stamps."""

    fingerprint: str
    sequence: int
    created: datetime
    modified: datetime
    removed: datetime | None = None  # set while the event is gone from every feed

    def as_json(self) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint,
            "sequence": self.sequence,
            "created": self.created.isoformat(),
            "modified": self.modified.isoformat(),
            "removed": self.removed.isoformat() if self.removed else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> EventVersion:
        removed = data.get("removed")
        return cls(
            fingerprint=str(data["fingerprint"]),
            sequence=int(data["sequence"]),  # type: ignore[call-overload]
            created=datetime.fromisoformat(str(data["created"])),
            modified=datetime.fromisoformat(str(data["modified"])),
            removed=datetime.fromisoformat(str(removed)) if removed else None,
        )


@dataclass(frozen=True, slots=True)
class Stamped:
    """An event with the version a feed publishes it at."""

    event: Event
    version: EventVersion = field(compare=False)


def version_events(
    events: Iterable[Event], previous: Mapping[str, EventVersion], *, now: datetime
) -> tuple[list[Stamped], dict[str, EventVersion]]:
    """Stamp events against the previous version map; return them and the new map.

    Unchanged → same stamps. Changed (or back after removal) → SEQUENCE + 1 and
    LAST-MODIFIED = now, never earlier than before. Gone → kept as a tombstone
    (`removed`) so a return continues its SEQUENCE; old tombstones are dropped.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    new_map: dict[str, EventVersion] = {}
    stamped: list[Stamped] = []
    for event in events:
        fp = event.fingerprint()
        old = previous.get(event.uid)
        if old is None:
            version = EventVersion(fp, 0, now, now)
        elif old.fingerprint == fp and old.removed is None:
            version = old
        else:
            version = EventVersion(fp, old.sequence + 1, old.created, max(old.modified, now))
        new_map[event.uid] = version
        stamped.append(Stamped(event, version))
    horizon = now - timedelta(days=TOMBSTONE_DAYS)
    for uid, old in previous.items():
        if uid in new_map:
            continue
        if old.removed is None:
            new_map[uid] = replace(old, removed=now, modified=max(old.modified, now))
        elif old.removed > horizon:
            new_map[uid] = old
    return stamped, new_map
