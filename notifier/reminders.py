"""Reminder intents: (plans, unit directory, rules, working-day calendar, clock) → `Reminder`s.

Owns:
- the `[reminders]` and `[digest]` config sections (`ReminderRules`, `RuleOverride`,
  `DigestRules`: pydantic models in config.py's style, which `Config` holds as fields);
- `Reminder` and the planners `plan_reminders(...)` (every reminder due in [start, end)) and
  `due_reminders(...)` (those due now, within the catch-up grace window).
Kinds: "activity-start", "activity-end" (nhắc việc to each lead unit), "report-due" (a
warning as a report deadline nears), "report-overdue" (đôn đốc, after the deadline) and
"digest" (one per coordinator: what opens, closes, is due, is overdue; plus failed or
skipped deliveries and configuration warnings handed in by the caller).

Rules (docs/reminders.md):
- Offsets count working days by default (`count = "working"`): "5" = the 5th working day
  before. With `count = "calendar"` an offset counts calendar days and a reminder that lands
  on a day off moves to the working day before it (DOMAIN.md §3). Either way a reminder is
  only ever due on a working day, at `send_time` in Asia/Ho_Chi_Minh.
- A report's last day: "trước ngày X" is X − 1, "chậm nhất ngày X" is X; a last day on a
  day off moves per `[calendar] deadline_on_day_off` (BLDS 2015 Art. 148: next working day).
- Activities of one plan led by one unit whose window opens (or closes) on the same day are
  one email. A unit writes one periodic report for all plans, so it gets one warning per
  report deadline and rule, listing its activities from every plan. A reminder due before
  the plan was issued is dropped, and so is an "activity-end" reminder due before its window
  opens. A unit reached twice (directly and through a group) still gets one email.
- Keys are `plan/item/unit/rule/date`: `34-kh-ubnd-2024/activities/<unit>/start-5/2024-04-01`,
  `_/half-year-1.<receiver>/<unit>/due-7/2024-06-14` (a report spans plans: plan "_"),
  `_/digest/<unit>/weekly/2024-06-03`. The date is the window boundary or last day the mail
  is about, not the send day, so re-running, re-importing or editing holidays never changes
  a key, while changing a window or deadline does.
- Closing the loop (acks.py): each activity reminder carries one signed "Đã hoàn thành" link
  per activity and each report reminder one "Đã báo cáo" link (`links`); what a unit has
  acknowledged (`acknowledged`) is not reminded again and gets no đôn đốc; digests list,
  per report and per activity that ended, who has acknowledged and who has not, carry a
  signed one-click unsubscribe link, and are not sent to units in `opted_out`.
- A `Reminder`'s context and subject (from the email templates, so the preview shows what is
  sent) are built on first use: a year for a thousand plans plans in about a second.
Pure: no I/O, no clock (`now`, `start`, `end` are arguments).
Not here: the working-day calendar (workdays.py), cut-off windows (reporting.py), unit
matching (units.py), rendering bodies (emails.py), the outbox and sending (store.py,
mailer.py, delivery.py).
"""

from __future__ import annotations

import bisect
import gc
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache, partial
from operator import attrgetter
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from notifier.acks import activity_key, report_key
from notifier.plan import Activity, Plan, ReportDuty
from notifier.reporting import DeadlineRule, NoDeadline, Period, ReportDeadline, report_deadline
from notifier.text import fold, fold_ascii, nfc, slugify
from notifier.timing import TimingKind

__all__ = [
    "KINDS",
    "TZ",
    "DigestRules",
    "Reminder",
    "ReminderRules",
    "RuleOverride",
    "acknowledgement_items",
    "due_reminders",
    "plan_reminders",
    "prepare",
    "reminder_json",
    "reminders_from_config",
]

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
KINDS = ("activity-start", "activity-end", "report-due", "report-overdue", "digest")
_TEMPLATES = {
    "activity-start": "reminder",
    "activity-end": "reminder",
    "report-due": "report",
    "report-overdue": "overdue",
    "digest": "digest",
}
_WEEKDAY_NAMES = {  # fold_ascii of what an admin may type → Python weekday
    **{n: i for i, n in enumerate(("thu hai", "thu ba", "thu tu", "thu nam", "thu sau", "thu bay"))},
    **{f"thu {i + 2}": i for i in range(6)},
    **{f"t{i + 2}": i for i in range(6)},
    "chu nhat": 6,
    "cn": 6,
    **{n: i for i, n in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                   "saturday", "sunday"))},
}
# Timing kinds that give a window with an opening and a closing day.
_WINDOW_KINDS = frozenset(k.value for k in (TimingKind.RANGE, TimingKind.CONTINUOUS,
                                            TimingKind.RECURRING))


# --- configuration: [reminders] and [digest] -------------------------------------------


# Offsets are working days (or calendar days with count = "calendar"), at most a year.
Offsets = Annotated[tuple[Annotated[int, Field(ge=0, le=366)], ...], Field(max_length=10)]
AfterOffsets = Annotated[tuple[Annotated[int, Field(ge=1, le=366)], ...], Field(max_length=10)]


class _Section(BaseModel):
    """Like config.py's sections: unknown keys are errors; values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleOverride(_Section):
    """[[reminders.overrides]] Nhắc khác cho một kế hoạch, một đơn vị, hoặc cả hai.

    Khóa nào không ghi thì giữ giá trị chung. Mục cụ thể hơn thắng (kế hoạch + đơn vị,
    rồi đơn vị, rồi kế hoạch)."""

    plan: str = Field("", description="Tên tệp lịch (slug) hoặc số kế hoạch.",
                      examples=["34/KH-UBND"])
    unit: str = Field("", description="Tên hoặc tên viết tắt của đơn vị.",
                      examples=["Sở Văn hóa, Thể thao và Du lịch"])
    enabled: bool | None = Field(None, description="false để không nhắc.", examples=[False])
    before_start: Offsets | None = Field(None, description="Số ngày trước khi bắt đầu.",
                                         examples=[[10, 3]])
    before_end: Offsets | None = Field(None, description="Số ngày trước khi kết thúc.",
                                       examples=[[5]])
    before_deadline: Offsets | None = Field(None, description="Số ngày trước hạn báo cáo.",
                                            examples=[[7, 1]])
    after_deadline: AfterOffsets | None = Field(None, description="Số ngày sau hạn báo cáo.",
                                                examples=[[1, 5]])
    send_time: time | None = Field(None, description="Giờ gửi.", examples=["08:00"])

    @model_validator(mode="after")
    def _names_something(self) -> RuleOverride:
        if not (self.plan.strip() or self.unit.strip()):
            raise ValueError('cần ghi "plan" hoặc "unit". Ví dụ: unit = "Sở Ngoại vụ"')
        return self


class ReminderRules(_Section):
    """[reminders] Nhắc việc cho đơn vị chủ trì: trước khi bắt đầu, trước khi kết thúc,
    trước và sau hạn báo cáo."""

    enabled: bool = Field(True, description="false để tắt mọi thư nhắc việc.", examples=[True])
    send_time: time = Field(time(8, 0), description="Giờ gửi trong ngày (giờ Việt Nam).",
                            examples=["08:00"])
    count: Literal["working", "calendar"] = Field(
        "working", description='"working": đếm ngày làm việc; "calendar": đếm ngày lịch, '
        "rơi vào ngày nghỉ thì lùi về ngày làm việc liền trước.", examples=["working"])
    before_start: Offsets = Field((5, 1), description="Nhắc trước khi thời gian thực hiện bắt "
                                  "đầu bao nhiêu ngày.", examples=[[5, 1]])
    before_end: Offsets = Field((5,), description="Nhắc trước khi thời gian thực hiện kết "
                                "thúc bao nhiêu ngày.", examples=[[5]])
    before_deadline: Offsets = Field((7, 1), description="Nhắc trước hạn gửi báo cáo bao nhiêu "
                                     "ngày.", examples=[[7, 1]])
    after_deadline: AfterOffsets = Field((1,), description="Đôn đốc sau hạn gửi báo cáo bao "
                                         "nhiêu ngày làm việc (≥ 1).", examples=[[1, 5]])
    grace_hours: float = Field(24.0, ge=0, le=744, description="Thư đến hạn lúc chương trình "
                               "không chạy vẫn được gửi nếu chưa trễ quá số giờ này; trễ hơn "
                               "thì ghi là bỏ qua.", examples=[24])
    overrides: tuple[RuleOverride, ...] = Field((), description="Nhắc khác cho từng kế hoạch "
                                                "hoặc đơn vị.")

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.grace_hours)


class DigestRules(_Section):
    """[digest] Thư tổng hợp cho đơn vị đầu mối (coordinator = true)."""

    enabled: bool = Field(True, description="false để tắt thư tổng hợp.", examples=[True])
    frequency: Literal["daily", "weekly"] = Field(
        "weekly", description='"daily": mỗi ngày làm việc; "weekly": mỗi tuần.',
        examples=["weekly"])
    weekday: str = Field("thứ Hai", description="Ngày gửi thư tổng hợp hằng tuần; rơi vào ngày "
                         "nghỉ thì gửi ngày làm việc liền trước.", examples=["thứ Hai"])
    send_time: time = Field(time(7, 30), description="Giờ gửi (giờ Việt Nam).",
                            examples=["07:30"])
    horizon_days: int = Field(14, ge=1, le=366, description="Liệt kê những gì bắt đầu, kết "
                              "thúc, đến hạn trong bao nhiêu ngày tới (và quá hạn trong bấy "
                              "nhiêu ngày qua).", examples=[14])
    send_empty: bool = Field(False, description="true để gửi cả khi không có gì mới.",
                             examples=[False])

    @field_validator("weekday")
    @classmethod
    def _known_weekday(cls, value: str) -> str:
        if fold_ascii(value) not in _WEEKDAY_NAMES:
            raise ValueError(f"không hiểu ngày {value!r}; ghi từ “thứ Hai” đến “Chủ nhật”")
        return value

    @property
    def weekday_index(self) -> int:
        return _WEEKDAY_NAMES[fold_ascii(self.weekday)]


@dataclass(frozen=True, slots=True)
class _Offsets:
    enabled: bool
    before_start: tuple[int, ...]
    before_end: tuple[int, ...]
    before_deadline: tuple[int, ...]
    after_deadline: tuple[int, ...]
    send_time: time


@dataclass(frozen=True, init=False)
class Reminder:
    """One email to send: its key, when, to whom, with which template.

    `context` (JSON-serialisable, dates as ISO strings; read-only, pieces are shared between
    reminders) and `subject` (rendered from `<template>.subject.j2`) are built on first use
    and then kept: planning a year of reminders for thousands of plans only pays for the ones
    that are shown or sent.
    """

    key: str  # deterministic, see the module docstring: plan / item / unit / rule / date
    kind: str  # "activity-start" | "activity-end" | "report-due" | "report-overdue" | "digest"
    due_at: datetime  # aware, Asia/Ho_Chi_Minh, on a working day at the configured send time
    to: tuple[str, ...]  # addresses
    to_names: tuple[str, ...]  # display names (Vietnamese unit names)
    units: tuple[str, ...]  # canonical unit names
    plan: str  # plan slug ("_" when a report reminder covers several plans, or a digest)
    refs: tuple[str, ...]  # activity refs ("plan-slug:II.7" when several plans)
    template: str  # "reminder" | "report" | "overdue" | "digest"
    build: Callable[[], dict[str, Any]] = field(repr=False, compare=False)

    def __init__(self, key: str, kind: str, due_at: datetime, to: tuple[str, ...],
                 to_names: tuple[str, ...], units: tuple[str, ...], plan: str,
                 refs: tuple[str, ...], template: str, build: Callable[[], dict[str, Any]]) -> None:
        # Frozen: one __dict__ update instead of ten object.__setattr__ calls (planning a
        # year for 1,000 plans makes ~70,000 of these).
        self.__dict__.update(key=key, kind=kind, due_at=due_at, to=to, to_names=to_names,
                             units=units, plan=plan, refs=refs, template=template, build=build)

    @cached_property
    def context(self) -> Mapping[str, Any]:
        ctx = self.build()
        ctx.update(kind=self.kind, key=self.key, stamp=self.due_at.isoformat(),
                   today=self.due_at.date().isoformat())
        return ctx

    @cached_property
    def subject(self) -> str:
        from notifier.emails import render_subject

        return render_subject(self.template, self.context)


# --- what the planner needs from its collaborators (units.py, workdays.py) -------------


class _Directory(Protocol):
    def get(self, name: str) -> Any: ...
    def recipients(self, name: str, on: date) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class _Calendar(Protocol):
    def is_working_day(self, d: date) -> bool: ...
    def previous_working_day(self, d: date, *, strict: bool = False) -> date: ...
    def next_working_day(self, d: date, *, strict: bool = False) -> date: ...


class _Links(Protocol):
    """acks.Links: signed URLs for "Đã báo cáo" / "Đã hoàn thành" and digest unsubscribe."""

    def acknowledge(self, action: str, key: str, unit: str, last_day: date, source: str
                    ) -> str: ...
    def unsubscribe(self, unit: str, sent: date, source: str) -> str: ...
    def unsubscribe_headers(self, url: str) -> dict[str, str]: ...


# --- the planner ------------------------------------------------------------------------


@dataclass(slots=True)
class _Event:
    """Something a reminder or digest is about: a window boundary or a report deadline."""

    kind: str  # activity-start | activity-end | report-due
    day: date  # the boundary or last day
    plan: Plan
    units: tuple[str, ...]  # canonical lead or owner names, as the plan resolves them
    activity: Activity | None = None
    duty: ReportDuty | None = None
    deadline: ReportDeadline | None = None
    opens: date | None = None  # activities: the window's first day, if it has one


@dataclass
class _Planner:
    """One planning run; caches what repeats (working days, recipients, offsets)."""

    directory: _Directory
    rules: ReminderRules
    digest: DigestRules
    calendar: _Calendar
    public_url: str
    deliveries: Sequence[Mapping[str, Any]]
    warnings: list[str]
    links: _Links | None = None
    acknowledged: frozenset[tuple[str, str, str]] = frozenset()  # (action, key, unit slug)
    opted_out: frozenset[str] = frozenset()  # unit slugs that stopped the digest
    _working: dict[date, bool] = field(default_factory=dict)
    _before: dict[tuple[date, int], date] = field(default_factory=dict)
    _at: dict[tuple[date, time], datetime] = field(default_factory=dict)
    _report_sends: dict[tuple[date, Any], list[tuple[str, str, int, date]]] = field(
        default_factory=dict)
    _sends: dict[tuple[date, tuple[int, ...]], list[tuple[int, date]]] = field(default_factory=dict)
    _recipients: dict[tuple[str, int], tuple[Any, ...]] = field(default_factory=dict)
    _changes: list[date] | None = None
    _stretches: dict[date, int] = field(default_factory=dict)
    _offsets: dict[tuple[str, str], _Offsets] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)
    _led: dict[tuple[int, date, date, int], dict[str, list[Activity]]] = field(default_factory=dict)
    _reach: dict[tuple[str, int], tuple[Any, ...]] = field(default_factory=dict)
    _receivers: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict)
    _items: dict[int, tuple[_Event, dict[str, Any]]] = field(default_factory=dict)
    shared: _Shared = field(init=False)

    def __post_init__(self) -> None:
        self.shared = _Shared(self.public_url)

    # working days
    def working(self, d: date) -> bool:
        hit = self._working.get(d)
        if hit is None:
            hit = self._working[d] = self.calendar.is_working_day(d)
        return hit

    def on_or_before(self, d: date) -> date:
        for _ in range(400):
            if self.working(d):
                return d
            d -= timedelta(days=1)
        return self.calendar.previous_working_day(d)  # raises its own clear error

    def working_days_before(self, d: date, n: int) -> date:
        for _ in range(n):
            d = self.on_or_before(d - timedelta(days=1))
        return self.on_or_before(d)

    def on_or_after(self, d: date) -> date:
        for _ in range(400):
            if self.working(d):
                return d
            d += timedelta(days=1)
        return self.calendar.next_working_day(d)  # raises its own clear error

    def working_days_after(self, d: date, n: int) -> date:
        """The n-th working day after `d` (n ≥ 1; `d` itself not counted)."""
        for _ in range(n):
            d = self.on_or_after(d + timedelta(days=1))
        return d

    def at(self, day: date, when: time) -> datetime:
        """The send instant; one shared datetime per (day, time)."""
        hit = self._at.get((day, when))
        if hit is None:
            hit = self._at[(day, when)] = _at(day, when)
        return hit

    def send_day_before(self, anchor: date, n: int) -> date:
        hit = self._before.get((anchor, n))
        if hit is None:
            if self.rules.count == "calendar":
                hit = self.on_or_before(anchor - timedelta(days=n))
            else:
                hit = self.working_days_before(anchor, n)
            self._before[(anchor, n)] = hit
        return hit

    # units
    def recipients(self, name: str, on: date) -> tuple[Any, ...]:
        """directory.recipients, cached per stretch of days in which no unit starts or ends:
        a route depends on the day only through valid_from / valid_until."""
        key = (name, self._stretch(on))
        hit = self._recipients.get(key)
        if hit is None:
            found = self.directory.recipients(name, on=on)
            hit = self._recipients[key] = tuple(found or ())
        return hit

    def reachable(self, name: str, on: date) -> tuple[Any, ...]:
        """The recipients that have an address (groups never do)."""
        key = (name, self._stretch(on))
        hit = self._reach.get(key)
        if hit is None:
            hit = self._reach[key] = tuple(
                u for u in self.recipients(name, on) if u.email and not getattr(u, "is_group", False))
        return hit

    def _stretch(self, on: date) -> int:
        """Which stretch between unit validity changes `on` falls in."""
        hit = self._stretches.get(on)
        if hit is None:
            if self._changes is None:
                self._changes = _validity_changes(self.directory)
            hit = self._stretches[on] = bisect.bisect_right(self._changes, on)
        return hit

    def led_by(self, plan: Plan, lo: date, hi: date, on: date) -> dict[str, list[Activity]]:
        """The plan's activities overlapping [lo, hi], by the slug of each unit that receives
        their lead's mail on `on` (a group lead counts for each of its members)."""
        stretch = self._stretch(on)
        key = (id(plan), lo, hi, stretch)
        hit = self._led.get(key)
        if hit is None:
            hit = self._led[key] = {}
            for activity in plan.activities:
                if activity.lead and _overlaps(activity, lo, hi):
                    for slug in self._receiving(activity, on, stretch):
                        hit.setdefault(slug, []).append(activity)
        return hit

    def _receiving(self, activity: Activity, on: date, stretch: int) -> tuple[str, ...]:
        """Slugs of the units that get the activity's lead mail (asked once per report)."""
        key = (id(activity), stretch)
        hit = self._receivers.get(key)
        if hit is None:
            hit = self._receivers[key] = tuple(dict.fromkeys(
                u.slug for lead in activity.lead for u in self.recipients(lead, on)))
        return hit

    def canonical(self, name: str) -> str:
        """The directory's name for `name` (aliases, case, tone placement), else `name`."""
        hit = self._names.get(name)
        if hit is None:
            unit = self.directory.get(name)
            hit = self._names[name] = unit.name if unit is not None else name
        return hit

    def offsets(self, plan: Plan, unit: str) -> _Offsets:
        if not self.rules.overrides:  # the common case: one set of rules for everyone
            key: tuple[str, str] = ("", "")
        else:
            key = (plan.slug, unit)
        hit = self._offsets.get(key)
        if hit is None:
            hit = self._offsets[key] = _resolve_offsets(self.rules, plan, unit, self.canonical)
        return hit


def _validity_changes(directory: _Directory) -> list[date]:
    """The days on which some unit starts (valid_from) or stops (valid_until + 1), sorted."""
    days: set[date] = set()
    for unit in directory:
        if getattr(unit, "valid_from", None):
            days.add(unit.valid_from)
        if getattr(unit, "valid_until", None):
            days.add(unit.valid_until + timedelta(days=1))
    return sorted(days)


def _resolve_offsets(
    rules: ReminderRules, plan: Plan, unit: str, canonical: Callable[[str], str]
) -> _Offsets:
    plan_keys = {fold(plan.slug), fold(plan.number)} - {""}
    unit_key = fold(canonical(unit))

    def matches(o: RuleOverride) -> int:
        """0 = no match; else specificity (3 = plan+unit, 2 = unit, 1 = plan)."""
        p = fold(o.plan) if o.plan.strip() else None
        u = fold(canonical(o.unit)) if o.unit.strip() else None
        if (p is not None and p not in plan_keys) or (u is not None and u != unit_key):
            return 0
        return (2 if u is not None else 0) + (1 if p is not None else 0)

    values = {
        "enabled": rules.enabled,
        "before_start": rules.before_start,
        "before_end": rules.before_end,
        "before_deadline": rules.before_deadline,
        "after_deadline": rules.after_deadline,
        "send_time": rules.send_time,
    }
    for override in sorted((o for o in rules.overrides if matches(o)), key=matches):
        for name in values:
            value = getattr(override, name)
            if value is not None:
                values[name] = value
    return _Offsets(**values)  # type: ignore[arg-type]


def _window(activity: Activity, deadline_column: bool) -> tuple[date | None, date | None]:
    """(opens, closes) of the activity; None where there is nothing to remind about.

    `deadline_column`: the plan's timing column is "Thời hạn hoàn thành" (every timing is
    a deadline)."""
    t = activity.timing
    if t.end is None:
        return None, None
    kind = t.kind
    if kind == "deadline" or deadline_column:
        return None, t.end
    if kind == "date" or t.start is None or t.start == t.end:
        return t.start or t.end, None
    if kind in _WINDOW_KINDS:
        return t.start, t.end
    return None, None


def _lead_names(activity: Activity) -> tuple[str, ...]:
    lead = activity.lead
    if len(lead) == 1 and lead[0]:  # the common case
        return (lead[0],)
    return tuple(dict.fromkeys(n for n in lead if n))


def _events(plans: Sequence[Plan], deadlines: _Deadlines, warnings: list[str]) -> list[_Event]:
    """Every window boundary and report deadline of the plans, sorted by day."""
    out: list[_Event] = []
    for plan in plans:
        deadline_column = plan.timing_is_deadline
        for activity in plan.activities:
            units = _lead_names(activity)
            if not units:
                continue
            opens, closes = _window(activity, deadline_column)
            if opens is not None:
                out.append(_Event("activity-start", opens, plan, units, activity=activity,
                                  opens=opens))
            if closes is not None:
                out.append(_Event("activity-end", closes, plan, units, activity=activity,
                                  opens=opens))
        for duty in plan.reports:
            for found in deadlines.of(plan, duty, warnings):
                units = _report_units(plan, duty, found)
                out.append(_Event("report-due", found.due, plan, units, duty=duty, deadline=found))
    out.sort(key=attrgetter("day"))  # stable: plans and activities keep their order in a day
    return out


@dataclass
class _Deadlines:
    """Report deadlines of plan duties, via reporting.report_deadline, cached per report."""

    rules: Sequence[DeadlineRule]
    calendar: Any
    on_day_off: str
    directory: _Directory
    _cache: dict[tuple[Any, ...], ReportDeadline | str] = field(default_factory=dict)
    _names: dict[str, str | None] = field(default_factory=dict)

    def of(self, plan: Plan, duty: ReportDuty, warnings: list[str]) -> list[ReportDeadline]:
        try:
            period = Period.parse(duty.period)
        except ValueError as exc:
            warnings.append(f"Kế hoạch {plan.number or plan.slug}, báo cáo “{duty.id}”: {exc}.")
            return []
        found: list[ReportDeadline] = []
        for year in sorted(_plan_years(plan)):
            missing: list[str] = []
            for index in self._indexes(period, year):
                got = self._get(period, year, index, self._canonical(duty.to))
                if isinstance(got, str):
                    missing.append(got)
                else:
                    found.append(got)
            if missing:  # one note per report and year, not one per month
                warnings.append(f"Kế hoạch {plan.number or plan.slug}: {missing[0]} "
                                "Chưa nhắc hạn báo cáo này.")
        return found

    def _canonical(self, name: str) -> str | None:
        """The receiver's directory name, so a rule's `to` matches however the plan spelt it."""
        if name not in self._names:
            unit = self.directory.get(name) if name else None
            self._names[name] = unit.name if unit is not None else (name or None)
        return self._names[name]

    def _indexes(self, period: Period, year: int) -> list[int | None]:
        """Which reports of the period a year has: every month/quarter; the first half, and
        the second only when configured (the annual report usually covers it); else one."""
        if period is Period.HALF_YEAR:
            second = any(r.period is period and r.year == year and r.index == 2 for r in self.rules)
            return [1, 2] if second else [1]
        if period.count == 1:
            return [None]
        return list(range(1, period.count + 1))

    def _get(self, period: Period, year: int, index: int | None, to: str | None
             ) -> ReportDeadline | str:
        key = (period, year, index, to)
        hit = self._cache.get(key)
        if hit is None:
            try:
                got = report_deadline(period, year, self.rules, self.calendar, self.on_day_off,
                                      to=to, index=index)
                hit = got.reason if isinstance(got, NoDeadline) else got
            except ValueError as exc:
                hit = str(exc)
            self._cache[key] = hit
        return hit


def _plan_years(plan: Plan) -> set[int]:
    if plan.year:
        return {plan.year}
    years = {y for a in plan.activities for y in _span_years(a)}
    if not years and plan.date:
        years.add(plan.date.year)
    return years


def _span_years(activity: Activity) -> range:
    t = activity.timing
    if t.end is None:
        return range(0)
    return range((t.start or t.end).year, t.end.year + 1)


def _overlaps(activity: Activity, lo: date, hi: date) -> bool:
    t = activity.timing
    if t.end is None:
        return False
    return (t.start or t.end) <= hi and t.end >= lo


def _report_units(plan: Plan, duty: ReportDuty, deadline: ReportDeadline) -> tuple[str, ...]:
    """Who owes the report: its owners plus every unit leading an activity in the period."""
    lo, hi = deadline.cutoff
    names: list[str] = []
    for activity in plan.activities:
        if _overlaps(activity, lo, hi):
            names.extend(_lead_names(activity))
    names.extend(duty.owners)  # after the leads: a lead's own name reads best in the letter
    return tuple(dict.fromkeys(n for n in names if n))


# --- building reminders -------------------------------------------------------------------
# Context dicts for a plan, an activity and a unit's links are built once per planning run
# and shared by every reminder that shows them: treat a Reminder's context as read-only.


def _at(day: date, when: time) -> datetime:
    return datetime.combine(day, when, tzinfo=TZ)


def _links(public_url: str, slug: str) -> dict[str, str]:
    base = public_url.rstrip("/")
    return {"feed": f"{base}/feeds/units/{slug}.ics", "page": f"{base}/units/{slug}"}


def _plan_ctx(plan: Plan) -> dict[str, Any]:
    from notifier.emails import vn_day

    if plan.number:
        citation = f"Kế hoạch số {plan.number}"
        if plan.date:
            citation += f" ngày {vn_day(plan.date)}"
        if plan.issuer:
            citation += f" của {plan.issuer}"
    else:
        citation = f"Kế hoạch {plan.title}".strip()
    return {
        "slug": plan.slug,
        "title": plan.title,
        "number": plan.number,
        "date": plan.date.isoformat() if plan.date else None,
        "issuer": plan.issuer,
        "citation": citation,
    }


def _activity_ctx(activity: Activity, plan: Plan) -> dict[str, Any]:
    t = activity.timing
    return {
        "ref": activity.ref,
        "content": activity.content,
        "timing": t.text,
        "kind": str(t.kind),
        "start": t.start.isoformat() if t.start else None,
        "end": t.end.isoformat() if t.end else None,
        "lead": list(activity.lead),
        "lead_text": activity.lead_text,
        "coordinating_text": activity.coordinating_text,
        "plan_number": plan.number,
        "plan_slug": plan.slug,
    }


def _unit_ctx(unit: Any) -> dict[str, Any]:
    return {"name": unit.name, "slug": unit.slug, "email": unit.email}


@dataclass
class _Shared:
    """The per-run cache of context pieces (see the note above)."""

    public_url: str
    _plans: dict[int, dict[str, Any]] = field(default_factory=dict)
    _activities: dict[int, dict[str, Any]] = field(default_factory=dict)
    _units: dict[str, tuple[dict[str, Any], dict[str, str]]] = field(default_factory=dict)
    _events: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)

    def plan(self, plan: Plan) -> dict[str, Any]:
        hit = self._plans.get(id(plan))
        if hit is None:
            hit = self._plans[id(plan)] = _plan_ctx(plan)
        return hit

    def activity(self, activity: Activity, plan: Plan) -> dict[str, Any]:
        hit = self._activities.get(id(activity))
        if hit is None:
            hit = self._activities[id(activity)] = _activity_ctx(activity, plan)
        return hit

    def unit(self, unit: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """(recipient, links) of a unit."""
        hit = self._units.get(unit.slug)
        if hit is None:
            hit = self._units[unit.slug] = (_unit_ctx(unit), _links(self.public_url, unit.slug))
        return hit

    def ics_event(self, activity: Activity, plan: Plan, unit: Any) -> dict[str, Any]:
        """The activity as an all-day event; one UID per (plan, activity, unit), so adding
        the start and the end reminder's attachment updates one calendar entry."""
        hit = self._events.get((id(activity), unit.slug))
        if hit is None:
            t = activity.timing
            hit = self._events[(id(activity), unit.slug)] = {
                "uid": f"{plan.slug}/{activity.ref}/{unit.slug}@notifier",
                "summary": f"[{activity.ref}] {activity.content}",
                "start": (t.start or t.end).isoformat() if t.end else None,
                "end": t.end.isoformat() if t.end else None,
                "description": f"{t.text}\nKế hoạch số {plan.number}" if plan.number else t.text,
                "url": self.unit(unit)[1]["page"],
            }
        return hit


def _citation(plans: Sequence[dict[str, Any]]) -> str:
    """ "Kế hoạch số 34/KH-UBND ngày 22/02/2024 của UBND tỉnh Đắk Lắk", or several joined."""
    return "; ".join(p["citation"] for p in plans)


# Words that end a duty title and name its period ("... 6 tháng", "... hằng năm"); the
# period's full label ("6 tháng đầu năm 2024") replaces them.
_PERIOD_TAIL = re.compile(
    r"(?:\s+(?:6|sáu|9|chín|tháng|quý|năm|hằng|hàng|định|kỳ|đầu|cuối|cả|\d{4}))+\s*$",
    re.IGNORECASE,
)


def _report_title(duty: ReportDuty, deadline: ReportDeadline) -> str:
    """ "Báo cáo công tác đối ngoại 6 tháng đầu năm 2024" from the duty title and the period."""
    base = _PERIOD_TAIL.sub("", nfc(duty.title or "").strip()) or "Báo cáo"
    return f"{base} {deadline.label}"


def _report_ctx(duty: ReportDuty, deadline: ReportDeadline, to_name: str) -> dict[str, Any]:
    stated = deadline.stated
    return {
        "id": duty.id,
        "period": deadline.period.value,
        "period_label": deadline.label,
        "year": deadline.year,
        "title": _report_title(duty, deadline),
        "to": to_name,
        "to_as_written": duty.to,
        "date": stated.date.isoformat(),
        "wording": stated.wording.value,
        "last_day": deadline.due.isoformat(),
        "moved": deadline.moved,
        "note": deadline.note,
        "cutoff_start": deadline.cutoff.start.isoformat(),
        "cutoff_end": deadline.cutoff.end.isoformat(),
    }


def _reminder(
    kind: str, key: str, due_at: datetime, unit: Any, plan: str, refs: tuple[str, ...],
    build: Callable[[], dict[str, Any]],
) -> Reminder:
    to, names = _addressed(unit.email, unit.name)
    return Reminder(key, kind, due_at, to, names, names, plan, refs, _TEMPLATES[kind], build)


@lru_cache(maxsize=1024)
def _addressed(email: str, name: str) -> tuple[tuple[str], tuple[str]]:
    """(to, names) tuples shared by every reminder to one unit."""
    return (email,), (name,)


def _send_days(p: _Planner, anchor: date, offsets: tuple[int, ...]) -> list[tuple[int, date]]:
    """(offset, send day) for each offset; two offsets landing on one day keep the smaller."""
    hit = p._sends.get((anchor, offsets))
    if hit is None:
        by_day: dict[date, int] = {}
        for n in sorted(set(offsets)):
            by_day.setdefault(p.send_day_before(anchor, n), n)
        hit = p._sends[(anchor, offsets)] = [(n, d) for d, n in by_day.items()]
    return hit


def _unreachable(directory: _Directory, events: Sequence[_Event]) -> list[str]:
    """Notes for coordinators: units the plans name that have no address.

    Computed from all events, not the planned range, so a digest reads the same whatever
    range the caller plans (the daemon plans in slices)."""
    notes: list[str] = []
    for name in dict.fromkeys(n for e in events for n in e.units):
        unit = directory.get(name)
        if unit is not None and not unit.email and not getattr(unit, "is_group", False):
            notes.append(f"{unit.name} chưa có địa chỉ email trong config.toml ([[units]]); "
                         "chưa gửi được nhắc việc cho đơn vị này.")
    return notes


@lru_cache(maxsize=4096)
def _ref_order(ref: str) -> tuple[tuple[int, int | str], ...]:
    """ "II.7" < "II.10": numbers compare as numbers, Roman sections as text after them."""
    return tuple((0, int(x)) if x.isdigit() else (1, x) for x in ref.split("."))


@dataclass(slots=True)
class _Letter:
    """One report reminder being gathered: a unit owes one report however many plans ask for
    it and through however many leads (itself, a group it belongs to) it is reached."""

    kind: str
    due_at: datetime
    unit: Any
    day: date  # the deadline's last day
    n: int  # the rule's offset (negative: days after the deadline)
    deadline: ReportDeadline
    duty: ReportDuty  # the first plan's duty: its title names the report
    sources: list[tuple[_Event, str, date]] = field(default_factory=list)  # (event, lead, send)
    leads: list[str] = field(default_factory=list)  # filled by _gather
    plans: list[Plan] = field(default_factory=list)
    activities: list[list[Activity]] = field(default_factory=list)  # per plan, as `plans`
    ack_key: str = ""  # acks.report_key of the report

    def lead_as_written(self) -> str:
        """The unit's own name if a plan used it, else the lead (group, predecessor) as written."""
        return self.unit.name if self.unit.name in self.leads else self.leads[0]

    def ordered(self) -> list[tuple[Plan, Activity]]:
        """By ref within one plan ("II.7" before "II.10"); across plans, plan by plan in the
        order the plans were met and each plan's activities in document order."""
        if len(self.plans) == 1:
            return [(self.plans[0], a) for a in sorted(self.activities[0],
                                                       key=lambda a: _ref_order(a.ref))]
        return [(p, a) for p, group in zip(self.plans, self.activities) for a in group]

    def refs(self) -> tuple[str, ...]:
        if len(self.plans) == 1:
            return tuple(a.ref for _, a in self.ordered())
        return tuple([f"{p.slug}:{a.ref}" for p, group in zip(self.plans, self.activities)
                      for a in group])


def _activity_reminders(
    p: _Planner, events: Sequence[_Event], start: datetime, end: datetime
) -> Iterator[Reminder]:
    """Group each plan's activities by (unit, boundary) and emit one reminder per offset.

    This is the planner's hot loop (tens of thousands of reminders a year for a large
    province), so it gathers plain tuples and builds each context only when asked."""
    # (plan, kind, lead, boundary) → [plan, activities, first opening day among them]
    groups: dict[tuple[int, str, str, date], list[Any]] = {}
    for e in events:
        activity = e.activity
        if activity is None:
            continue
        for lead in e.units:
            ident = (id(e.plan), e.kind, lead, e.day)
            group = groups.get(ident)
            if group is None:
                groups[ident] = [e.plan, [activity], e.opens]
            else:
                group[1].append(activity)
                if e.opens is not None and (group[2] is None or e.opens < group[2]):
                    group[2] = e.opens
    # (plan, unit, rule, day) → (kind, due_at, unit, n, plan, [(lead, activities), ...])
    found: dict[tuple[int, str, str, date],
                tuple[str, datetime, Any, int, Plan, list[tuple[str, list[Activity]]]]] = {}
    # Local caches: this loop runs ~10⁵ times for a large province's year.
    reach: dict[tuple[str, date], tuple[Any, ...]] = {}
    sends: dict[tuple[date, tuple[int, ...], str], list[tuple[int, date, str]]] = {}
    instants: dict[tuple[date, time], datetime | None] = {}  # None: outside [start, end)
    for (plan_id, kind, lead, day), (plan, activities, opens) in groups.items():
        rules = p.offsets(plan, lead)
        if not rules.enabled:
            continue
        ending = kind == "activity-end"
        offsets, word = (rules.before_end, "end") if ending else (rules.before_start, "start")
        days = sends.get((day, offsets, word))
        if days is None:
            days = sends[(day, offsets, word)] = [
                (n, send, f"{word}-{n}") for n, send in _send_days(p, day, offsets)]
        for n, send, rule in days:
            if (send, rules.send_time) in instants:
                due_at = instants[(send, rules.send_time)]
            else:
                due_at = p.at(send, rules.send_time)
                due_at = instants[(send, rules.send_time)] = due_at if start <= due_at < end else None
            if due_at is None or (plan.date and send < plan.date):
                continue
            # An "activity-end" reminder never precedes the window's opening.
            if ending and opens is not None and send < opens:
                continue
            units = reach.get((lead, send))
            if units is None:
                units = reach[(lead, send)] = p.reachable(lead, send)
            for unit in units:
                ident = (plan_id, unit.slug, rule, day)
                hit = found.get(ident)
                if hit is None:
                    found[ident] = (kind, due_at, unit, n, plan, [(lead, activities)])
                else:  # the unit leads directly and through a group: one email
                    hit[5].append((lead, activities))
    done = p.acknowledged
    for (_, unit_slug, rule, day), (kind, due_at, unit, n, plan, parts) in found.items():
        key = f"{plan.slug}/activities/{unit_slug}/{rule}/{day.isoformat()}"
        if len(parts) == 1 and len(parts[0][1]) == 1:  # the common case: one lead, one activity
            leads, activities = [parts[0][0]], parts[0][1]
            refs: tuple[str, ...] = (activities[0].ref,)
        else:
            leads, activities = _merge_parts(parts)
            refs = tuple(a.ref for a in activities)
        if done:  # what the unit marked "Đã hoàn thành" is not reminded again
            activities = [a for a in activities if ("activity-done", activity_key(plan.slug, a.ref),
                                                    unit_slug) not in done]
            if not activities:
                continue
            refs = tuple(a.ref for a in activities)
        build = partial(_activity_context, p, unit, plan, day, n, leads, activities, key)
        yield _reminder(kind, key, due_at, unit, plan.slug, refs, build)


def _merge_parts(parts: list[tuple[str, list[Activity]]]) -> tuple[list[str], list[Activity]]:
    """The leads and their activities (each once, by ref) gathered under one key."""
    if len(parts) == 1:
        lead, activities = parts[0]
        leads = [lead]
    else:
        leads = list(dict.fromkeys(lead for lead, _ in parts))
        seen: set[int] = set()
        activities = [a for _, group in parts for a in group
                      if id(a) not in seen and not seen.add(id(a))]  # type: ignore[func-returns-value]
    if len(activities) > 1:
        activities = sorted(activities, key=lambda a: _ref_order(a.ref))
    return leads, activities


@lru_cache(maxsize=4096)
def _ics_name(number: str) -> str:
    """The .ics attachment's name for a plan: slugify once a plan, not once a reminder."""
    return f"nhac-viec-{slugify(number, max_length=40)}"


def _activity_context(p: _Planner, unit: Any, plan: Plan, day: date, n: int, leads: list[str],
                      activities: list[Activity], key: str = "") -> dict[str, Any]:
    recipient, links = p.shared.unit(unit)
    plan_ctx = p.shared.plan(plan)
    return {
        "recipient": recipient,
        # The unit's own name if the plan used it, else the lead (group, predecessor) as written.
        "lead_as_written": unit.name if unit.name in leads else leads[0],
        "plan": plan_ctx,
        "plans": [plan_ctx],
        "citation": plan_ctx["citation"],
        "links": links,
        "boundary": day.isoformat(),
        "days_before": n,
        "count": p.rules.count,
        "activities": [p.shared.activity(a, plan) for a in activities],
        "ics_name": _ics_name(plan.number or plan.slug),
        "events": [p.shared.ics_event(a, plan, unit) for a in activities
                   if a.timing.end is not None],
        "acks": _activity_acks(p, unit, plan, activities, key),
    }


def _activity_acks(p: _Planner, unit: Any, plan: Plan, activities: list[Activity], source: str
                   ) -> list[dict[str, Any]]:
    """One "Đã hoàn thành" link per activity (the unit may finish them one by one)."""
    links = p.links
    if links is None:
        return []
    out = []
    for a in activities:
        t = a.timing
        last = t.end or t.start
        if last is None:
            continue
        key = activity_key(plan.slug, a.ref)
        out.append({"action": "activity-done", "label": "Đã hoàn thành", "ref": a.ref,
                    "content": a.content,
                    "url": links.acknowledge("activity-done", key, unit.slug, last, source)})
    return out


def _report_reminders(
    p: _Planner, events: Sequence[_Event], start: datetime, end: datetime
) -> Iterator[Reminder]:
    """Warnings before each report deadline and đôn đốc after it, to each unit that owes it.

    A unit writes one periodic report (e.g. "báo cáo công tác đối ngoại 6 tháng") covering
    every plan, so plans that share a report and a deadline give that unit one email a rule
    listing its activities from all of them; the key names the report, not a plan.
    """
    letters: dict[tuple[str, str, str, str, date], _Letter] = {}
    for e in events:
        if e.duty is None or e.deadline is None:
            continue
        deadline = e.deadline
        # The receiver compiles the report; it is not reminded to send one to itself.
        receivers = p.recipients(e.duty.to, deadline.due) if e.duty.to else ()
        receiver_slugs = {u.slug for u in receivers}
        to_slug = receivers[0].slug if receivers else slugify(e.duty.to or "x")
        report_id = f"{deadline.period.value}{'-' + str(deadline.index) if deadline.index else ''}"
        for lead in e.units:
            rules = p.offsets(e.plan, lead)
            if not rules.enabled:
                continue
            for kind, rule, n, send in _report_sends(p, deadline.due, rules):
                due_at = p.at(send, rules.send_time)
                if not start <= due_at < end or (e.plan.date and send < e.plan.date):
                    continue
                for unit in p.reachable(lead, send):
                    if unit.slug in receiver_slugs:
                        continue
                    ident = (report_id, to_slug, unit.slug, rule, deadline.due)
                    letter = letters.get(ident)
                    if letter is None:
                        letter = letters[ident] = _Letter(kind, due_at, unit, deadline.due, n,
                                                          deadline, e.duty)
                    letter.sources.append((e, lead, send))
    for (report_id, to_slug, unit_slug, rule, due), letter in letters.items():
        key = f"_/{report_id}.{to_slug}/{unit_slug}/{rule}/{due.isoformat()}"
        d = letter.deadline
        letter.ack_key = report_key(d.period.value, d.index, d.year, to_slug, due)
        if ("report-sent", letter.ack_key, unit_slug) in p.acknowledged:
            continue  # "Đã báo cáo": no more warnings, no đôn đốc
        _gather(p, letter)
        yield _report_reminder(p, key, letter)


def _gather(p: _Planner, letter: _Letter) -> None:
    """The unit's activities in the report's cut-off window, plan by plan (each plan once:
    a unit reached through two leads of one plan sees the same activities)."""
    plans: set[int] = set()
    for e, lead, send in sorted(letter.sources, key=lambda s: s[0].plan.slug):
        if lead not in letter.leads:
            letter.leads.append(lead)
        if id(e.plan) in plans:
            continue
        plans.add(id(e.plan))
        letter.plans.append(e.plan)
        lo, hi = letter.deadline.cutoff
        letter.activities.append(p.led_by(e.plan, lo, hi, send).get(letter.unit.slug, []))
    letter.sources.clear()


def _report_sends(p: _Planner, due: date, rules: _Offsets) -> list[tuple[str, str, int, date]]:
    """(kind, rule, offset, send day): warnings before the last day, đôn đốc after it."""
    hit = p._report_sends.get((due, rules))
    if hit is None:
        hit = [("report-due", f"due-{n}", n, d) for n, d in _send_days(p, due, rules.before_deadline)]
        hit += [("report-overdue", f"overdue+{n}", -n, p.working_days_after(due, n))
                for n in sorted(set(rules.after_deadline))]
        p._report_sends[(due, rules)] = hit
    return hit


def _report_reminder(p: _Planner, key: str, letter: _Letter) -> Reminder:
    plan = letter.plans[0].slug if len(letter.plans) == 1 else "_"
    build = partial(_report_context, p, key, letter)
    return _reminder(letter.kind, key, letter.due_at, letter.unit, plan, letter.refs(), build)


def _report_context(p: _Planner, key: str, letter: _Letter) -> dict[str, Any]:
    duty, deadline, unit = letter.duty, letter.deadline, letter.unit
    to_units = p.recipients(duty.to, letter.due_at.date()) if duty.to else ()
    to_name = to_units[0].name if to_units else (duty.to or "")
    report = _report_ctx(duty, deadline, to_name)
    recipient, links = p.shared.unit(unit)
    plans = [p.shared.plan(plan) for plan in letter.plans]
    citation = _citation(plans)
    ctx: dict[str, Any] = {
        "recipient": recipient,
        "lead_as_written": letter.lead_as_written(),
        "plan": plans[0],
        "plans": plans,
        "citation": citation,
        "links": links,
        "report": report,
        "days_before": letter.n,
        "count": p.rules.count,
        "activities": [p.shared.activity(a, pl) for pl, a in letter.ordered()],
        "ics_name": f"han-bao-cao-{slugify(report['id'], max_length=30)}-{deadline.year}",
        "events": [{
            # One UID per (report, unit, deadline): adding it twice updates, not duplicates.
            "uid": f"{key.split('/')[1]}/{unit.slug}/{deadline.due.isoformat()}@notifier",
            "summary": f"Hạn gửi {report['title']}",
            "start": deadline.due.isoformat(),
            "end": deadline.due.isoformat(),
            "description": f"Gửi {to_name}. {citation}.",
            "url": links["page"],
        }],
        "acks": [] if p.links is None else [{
            "action": "report-sent", "label": "Đã báo cáo", "ref": "", "title": report["title"],
            "url": p.links.acknowledge("report-sent", letter.ack_key, unit.slug, deadline.due,
                                       key)}],
    }
    return ctx


# --- digests ------------------------------------------------------------------------------


def _digest_days(p: _Planner, start: datetime, end: datetime) -> Iterator[date]:
    """Days a digest goes out, in [start, end); weekly ones move off days off to the day before."""
    rules = p.digest
    first = start.astimezone(TZ).date() - timedelta(days=7)
    last = end.astimezone(TZ).date() + timedelta(days=7)
    d = first
    seen: set[date] = set()
    weekday = rules.weekday_index
    while d <= last:
        if rules.frequency == "daily":
            send = d if p.working(d) else None
        else:
            send = p.on_or_before(d) if d.weekday() == weekday else None
        if send is not None and send not in seen:
            seen.add(send)
            if start <= _at(send, rules.send_time) < end:
                yield send
        d += timedelta(days=1)


def _item(p: _Planner, e: _Event) -> dict[str, Any]:
    """One line of a digest: an activity boundary or a report deadline. Built once per event
    and shared: an event is in about four weekly digests (two ahead, two looking back), and
    the items were most of a digest's cost (about 7 ms each at 1,000 plans)."""
    hit = p._items.get(id(e))
    if hit is None or hit[0] is not e:  # `is`: an id is only unique while its object lives
        hit = p._items[id(e)] = (e, _new_item(p, e))
    return hit[1]


def _new_item(p: _Planner, e: _Event) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": e.kind,
        "day": e.day.isoformat(),
        "plan": e.plan.slug,
        "plan_number": e.plan.number,
        "units": list(e.units),
    }
    if e.activity is not None:
        base.update(p.shared.activity(e.activity, e.plan))
        owing = {u.slug: u.name for n in e.units for u in p.reachable(n, e.day)}
        base.update(_ack_split(p, "activity-done", activity_key(e.plan.slug, e.activity.ref),
                               owing))
    if e.duty is not None and e.deadline is not None:
        # Who owes it, as units that get the reminders (groups expanded, receiver left out).
        receivers = p.recipients(e.duty.to, e.day) if e.duty.to else ()
        slugs = {u.slug for u in receivers}
        owing = {u.slug: u.name for n in e.units for u in p.reachable(n, e.day)
                 if u.slug not in slugs}
        base.update(report_id=e.duty.id, title=_report_title(e.duty, e.deadline), to=e.duty.to,
                    units=list(owing.values()))
        d = e.deadline
        to_slug = receivers[0].slug if receivers else slugify(e.duty.to or "x")
        base.update(_ack_split(p, "report-sent",
                               report_key(d.period.value, d.index, d.year, to_slug, d.due), owing))
    return base


def _ack_split(p: _Planner, action: str, key: str, owing: Mapping[str, str]) -> dict[str, Any]:
    """Who of `owing` (slug → name) has acknowledged `key` (acks.py's item key), who has not."""
    done = p.acknowledged
    return {"ack_action": action, "ack_key": key,
            "acknowledged": [n for s, n in owing.items() if (action, key, s) in done],
            "pending": [n for s, n in owing.items() if (action, key, s) not in done]}


@dataclass(frozen=True, slots=True)
class _DigestSpan:
    """What one digest covers: events in [send, horizon) and those overdue in the span before."""

    send: date
    horizon: date
    upcoming: Sequence[_Event]
    past: Sequence[_Event]

    def empty(self) -> bool:
        return not self.upcoming and not any(e.kind == "report-due" for e in self.past)

    def sections(self, p: _Planner) -> dict[str, list[dict[str, Any]]]:
        return {
            "opens": [_item(p, e) for e in self.upcoming if e.kind == "activity-start"],
            "closes": [_item(p, e) for e in self.upcoming if e.kind == "activity-end"],
            "due": [_item(p, e) for e in self.upcoming if e.kind == "report-due"],
            "overdue": [_item(p, e) for e in self.past if e.kind == "report-due"],
            # Windows closed in the span before: who has said "Đã hoàn thành", who has not.
            "ended": [_item(p, e) for e in self.past if e.kind == "activity-end"],
        }

    def refs(self) -> tuple[str, ...]:
        shown = [e for e in self.upcoming if e.activity is not None]
        several = len({id(e.plan) for e in shown}) > 1
        return tuple(dict.fromkeys(
            f"{e.plan.slug}:{e.activity.ref}" if several else e.activity.ref
            for e in shown if e.activity is not None))


def _digest_reminders(
    p: _Planner, events: Sequence[_Event], start: datetime, end: datetime
) -> Iterator[Reminder]:
    rules = p.digest
    if not rules.enabled:
        return
    days = [e.day for e in events]
    coordinators = [u for u in p.directory if getattr(u, "coordinator", False)]
    horizon_days = timedelta(days=rules.horizon_days)
    for send in _digest_days(p, start, end):
        span = _DigestSpan(
            send, send + horizon_days,
            events[bisect.bisect_left(days, send): bisect.bisect_left(days, send + horizon_days)],
            events[bisect.bisect_left(days, send - horizon_days): bisect.bisect_left(days, send)],
        )
        if not rules.send_empty and span.empty() and not p.deliveries and not p.warnings:
            continue
        sent_to: set[str] = set()
        for coordinator in coordinators:
            for unit in p.reachable(coordinator.name, send):
                if unit.slug in p.opted_out:  # unsubscribed (RFC 8058 one-click, acks.py)
                    continue
                if unit.slug not in sent_to:
                    sent_to.add(unit.slug)
                    key = f"_/digest/{unit.slug}/{rules.frequency}/{send.isoformat()}"
                    build = partial(_digest_context, p, span, unit, key)
                    yield _reminder("digest", key, _at(send, rules.send_time), unit, "_",
                                    span.refs(), build)


def _digest_context(p: _Planner, span: _DigestSpan, unit: Any, key: str = "") -> dict[str, Any]:
    recipient, links = p.shared.unit(unit)
    base = p.public_url.rstrip("/")
    # The signed /u/ link (acks.py); without links (no secret given) no unsubscribe at all,
    # rather than a link that cannot work.
    unsubscribe = p.links.unsubscribe(unit.slug, span.send, key) if p.links else ""
    return {
        "recipient": recipient,
        "frequency": p.digest.frequency,
        "period": {"start": span.send.isoformat(),
                   "end": (span.horizon - timedelta(days=1)).isoformat()},
        "horizon_days": p.digest.horizon_days,
        **span.sections(p),
        "deliveries": [dict(d) for d in p.deliveries],
        "warnings": list(dict.fromkeys(p.warnings)),
        "links": {**links, "home": base + "/", "unsubscribe": unsubscribe},
        # For the mailer: RFC 2369 / RFC 8058 one-click unsubscribe (served by acks.py).
        "headers": p.links.unsubscribe_headers(unsubscribe) if p.links else {},
    }


# --- public entry points ----------------------------------------------------------------


def plan_reminders(
    plans: Iterable[Plan],
    directory: _Directory,
    rules: ReminderRules,
    calendar: _Calendar,
    deadlines: Sequence[DeadlineRule],
    *,
    start: datetime,
    end: datetime,
    on_day_off: str = "next_working_day",
    digest: DigestRules | None = None,
    public_url: str = "http://127.0.0.1:8080",
    deliveries: Sequence[Mapping[str, Any]] = (),
    warnings: Sequence[str] = (),
    links: _Links | None = None,
    acknowledged: Iterable[tuple[str, str, str]] = (),
    opted_out: Iterable[str] = (),
) -> list[Reminder]:
    """Every reminder and digest whose due time falls in [start, end), sorted by (due_at, key).

    `deadlines`: the `[[reports.deadlines]]` rules; `on_day_off`: `[calendar]
    deadline_on_day_off`. `digest`: `[digest]` (None = no digests); `public_url`: base of links.
    `deliveries`: failed or skipped deliveries to show in digests, as mappings with "key",
    "status" ("failed" | "skipped"), "to", "subject", "at", "error". `warnings`: other
    Vietnamese notes for coordinators (e.g. a broken config edit).
    `links` (acks.Links): signed "Đã báo cáo" / "Đã hoàn thành" and unsubscribe links in the
    emails (None: none). `acknowledged`: (action, item key, unit slug) triples the units
    confirmed (store.acknowledged()): those activities and reports get no more reminders or
    đôn đốc, and digests show who has and who has not. `opted_out`: unit slugs that
    unsubscribed from the digest.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start/end phải có múi giờ (aware datetime)")
    plans = list(plans)
    p = _Planner(directory, rules, digest or DigestRules(enabled=False), calendar, public_url,
                 deliveries, list(warnings), links, frozenset(acknowledged), frozenset(opted_out))
    with no_cyclic_gc():
        events = _events(plans, _Deadlines(deadlines, calendar, on_day_off, directory),
                         p.warnings)
        p.warnings.extend(_unreachable(directory, events))
        out = [*_activity_reminders(p, events, start, end),
               *_report_reminders(p, events, start, end)]
        out += _digest_reminders(p, events, start, end)
        out.sort(key=lambda r: (r.due_at, r.key))
    return out


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while planning (and while the store enqueues).

    Planning builds ~10⁵ small tuples and lists that form no cycles; each allocation burst
    triggers a collection that walks every live object, which was two thirds of the
    planner's time for 1,000 plans. Reference counting still frees everything; the
    collector's previous state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def acknowledgement_items(
    plans: Iterable[Plan],
    directory: _Directory,
    *,
    first: date,
    last: date,
    acknowledged: Iterable[tuple[str, str, str]] = (),
    calendar: _Calendar | None = None,
    deadlines: Sequence[DeadlineRule] = (),
    on_day_off: str = "next_working_day",
) -> list[dict[str, Any]]:
    """What units can acknowledge whose last day falls in [first, last], with who has and who
    has not: digest items of each activity's last day and, given a calendar and deadline
    rules, each report deadline, with "ack_action", "ack_key" (acks.py's item key),
    "acknowledged" and "pending" (unit names). For the coordinator's page (acks.status)."""
    plans = list(plans)
    warnings: list[str] = []
    p = _Planner(directory, ReminderRules(), DigestRules(enabled=False), calendar,  # type: ignore[arg-type]
                 "", (), warnings, None, frozenset(acknowledged))
    found = _events(plans, _Deadlines(deadlines if calendar is not None else (), calendar,
                                      on_day_off, directory), warnings)
    out: list[dict[str, Any]] = []
    for e in found:
        if not first <= e.day <= last:
            continue
        if e.activity is not None:
            closes = _window(e.activity, e.plan.timing_is_deadline)[1]
            if e.kind == "activity-start" and closes is not None:
                continue  # the activity's last day is its closing day, listed there
            out.append(_item(p, e))
        elif e.duty is not None and e.deadline is not None:
            out.append(_item(p, e))
    return out


def due_reminders(
    plans: Iterable[Plan],
    directory: _Directory,
    rules: ReminderRules,
    calendar: _Calendar,
    deadlines: Sequence[DeadlineRule],
    *,
    now: datetime,
    **options: Any,
) -> list[Reminder]:
    """The reminders due at `now` that are still worth sending: due in [now − grace, now]."""
    return plan_reminders(
        plans, directory, rules, calendar, deadlines,
        start=now - rules.grace, end=now + timedelta(microseconds=1), **options,
    )


def prepare(reminders: Iterable[Reminder]) -> None:
    """Build every context and subject now, with the collector paused (see `no_cyclic_gc`):
    for showing a long preview or filling the outbox in one go."""
    with no_cyclic_gc():
        for r in reminders:
            r.subject  # noqa: B018 - builds the context, then the subject, and keeps both


def reminder_json(r: Reminder) -> dict[str, Any]:
    """The preview's JSON object for one reminder."""
    return {
        "at": r.due_at.isoformat(),
        "kind": r.kind,
        "key": r.key,
        "to": list(r.to),
        "units": list(r.units),
        "subject": r.subject,
        "refs": list(r.refs),
    }


# --- the adapter from the loaded config (duck-typed: the core does not import config.py) ----


def reminders_from_config(
    config: Any,
    plans: Iterable[Plan],
    *,
    start: datetime,
    end: datetime,
    deliveries: Sequence[Mapping[str, Any]] = (),
    warnings: Sequence[str] = (),
    **acks: Any,
) -> list[Reminder]:
    """`plan_reminders` with every input taken from a `config.Config`; `acks` are
    plan_reminders' `links`, `acknowledged`, `opted_out` (acks.planning_options).

    Uses `config.directory()`, `.work_calendar()`, `.deadline_rules()`, `.calendar.
    deadline_on_day_off`, `.notifier.public_url` and the `[reminders]`/`[digest]` sections
    (defaults when the model has none). Plans must already be resolved (units.resolve_plan).
    """
    rules = getattr(config, "reminders", None) or ReminderRules()
    digest = getattr(config, "digest", None) or DigestRules()
    return plan_reminders(
        plans, config.directory(), rules, config.work_calendar(), config.deadline_rules(),
        start=start, end=end, on_day_off=str(config.calendar.deadline_on_day_off),
        digest=digest, public_url=config.notifier.public_url,
        deliveries=deliveries, warnings=warnings, **acks,
    )
