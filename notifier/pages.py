"""View models of the web pages: plans + directory + today + outbox rows → dataclasses.

Owns: `plan_page()` (header, timeline by month, table by section, filters by unit and
status, undatable activities with their reason), `unit_page()` (a unit's activities
across plans, lead or coordinating, and its report deadlines), `coordinator_page()` (what
opens, closes and is due in the next 30 days; the outbox; acknowledgements), `status()`
and the `Membership` helper; the dataclasses the templates render (`PlanPage`, `Row`,
`Timeline`, `Bar`, `UnitPage`, `UnitItem`, `DeadlineItem`, `CoordinatorPage`, `Happening`,
`OutboxItem`, `AckItem`, `Choice`).

Facts relied on:
- an activity's span is its timing's inclusive [start or end, end] (timing.py); a timing
  without an end has no place on the calendar and is listed with its reason, never dated;
- status is relative to `today` (the site's clock, Asia/Ho_Chi_Minh): "upcoming" before
  the span, "in-progress" inside it, "over" after it; every dated activity is in exactly one;
- who takes part goes through the directory, as the feeds do (feeds._Members): a name
  counts for itself, its members and its successors on `today`;
- a coordinator follows the plans whose reports go to it, or that name no receiver
  (feeds.py, same rule), and is sent what those plans' reminders send;
- row anchors are "hd-" + slugify(ref), the fragment events.py puts in every event's URL.
Pure: no I/O, no clock (`today` is an argument); text is `clean`ed (NFC, bidi and
zero-width marks dropped, docs/security.md) and escaped by the templates, never here.
Not here: routes, caching and the store (site.py), HTML (templates/web/*).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from notifier.clock import TZ
from notifier.events import short_summary
from notifier.plan import Activity, Plan
from notifier.text import clean, fold, slugify
from notifier.timing import TimingKind
from notifier.units import Membership

__all__ = [
    "STATUSES",
    "STATUS_LABELS",
    "WINDOW_DAYS",
    "AckItem",
    "Bar",
    "Choice",
    "CoordinatorPage",
    "DeadlineItem",
    "Happening",
    "Membership",
    "Month",
    "Nav",
    "OutboxItem",
    "PlanPage",
    "Row",
    "Section",
    "Timeline",
    "UnitItem",
    "UnitPage",
    "anchor",
    "coordinator_page",
    "day_text",
    "followed_plans",
    "nav",
    "outbox_items",
    "plan_label",
    "plan_page",
    "rows",
    "span_text",
    "status",
    "timeline",
    "unit_page",
]

STATUSES = ("upcoming", "in-progress", "over")
STATUS_LABELS = {"upcoming": "Sắp tới", "in-progress": "Đang thực hiện", "over": "Đã qua"}
OUTBOX_LABELS = {"sent": "Đã gửi", "failed": "Gửi lỗi", "skipped": "Bỏ qua"}
WINDOW_DAYS = 30  # the coordinator's "next 30 days": today and the 29 days after it
SHORT_LIMIT = 60  # characters of an activity's content on the timeline
MAX_MONTHS = 36  # the timeline's widest span; longer plans are clipped (and say so)
_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
_clean = functools.lru_cache(maxsize=16384)(clean)  # unit names and cells repeat


def _text(value: str | None) -> str:
    return _clean(value) if value else ""


def status(start: date, end: date, today: date) -> str:
    """"upcoming", "in-progress" or "over" for the inclusive span [start, end] on `today`."""
    if today < start:
        return "upcoming"
    if today > end:
        return "over"
    return "in-progress"


def anchor(ref: str) -> str:
    """The row's id: the fragment events.py writes into each event's URL."""
    return f"hd-{slugify(ref)}" if ref else ""


def day_text(day: date, *, weekday: bool = False) -> str:
    """02/12/2024, or "thứ Hai, ngày 02/12/2024" (DOMAIN.md §7 wording)."""
    short = f"{day.day:02d}/{day.month:02d}/{day.year}"
    return f"{_WEEKDAYS[day.weekday()]}, ngày {short}" if weekday else short


def span_text(start: date, end: date) -> str:
    return day_text(start) if start == end else f"{day_text(start)} – {day_text(end)}"


def plan_label(plan: Plan) -> str:
    """ "34/KH-UBND – Kế hoạch …", as the feeds name a plan."""
    title = _text(plan.title) or plan.slug
    number = " ".join(_text(plan.number).split())
    return f"{number} – {title}" if number else title


# --- who takes part ------------------------------------------------------------------------


def _names(resolved: Sequence[str], written: str) -> tuple[str, ...]:
    """Canonical names when resolved; else the cell as written (nothing the plan said is lost)."""
    if resolved:
        return tuple(n for n in map(_text, resolved) if n)
    text = _text(written)
    return (text,) if text else ()


def followed_plans(plans: Sequence[Plan], unit_name: str, members: Membership) -> list[Plan]:
    """Plans a coordinator follows: whose reports go to it, or that name no receiver."""
    out = []
    for plan in plans:
        receivers = {_text(r.to or r.to_text) for r in plan.reports} - {""}
        if not receivers or unit_name in members.all(receivers):
            out.append(plan)
    return out


# --- the plan page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a filter's <select>."""

    value: str
    label: str
    selected: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """One activity as the table, the timeline and the unit page show it."""

    ref: str
    anchor: str
    content: str
    section: str
    section_title: str
    lead: tuple[str, ...]
    coordinating: tuple[str, ...]
    timing_text: str
    kind: str
    start: date | None
    end: date | None
    span: str  # "01/04/2024 – 30/06/2024", "" when undatable
    funding: str
    status: str | None  # None when undatable
    reason: str  # why it has no date (undatable), or its condition (conditional)
    units: frozenset[str]  # canonical names reached through lead and coordinating
    lead_units: frozenset[str]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status] if self.status else "Chưa xếp lịch"

    @property
    def short(self) -> str:
        """The content in one phone line (the timeline's label; the table has it whole)."""
        return short_summary(self.content, SHORT_LIMIT, cleaned=True)


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Month:
    index: int  # 1-based column of the timeline
    year: int
    month: int

    @property
    def label(self) -> str:
        """ "T5"; a January after the first column says its year ("T1/25"): columns are narrow."""
        return f"T1/{self.year % 100:02d}" if self.month == 1 and self.index > 1 else f"T{self.month}"

    @property
    def name(self) -> str:
        return f"tháng {self.month}/{self.year}"


@dataclass(frozen=True, slots=True)
class Bar:
    """One activity on the timeline: columns first..last (1-based months), clipped or not."""

    row: Row
    first: int
    last: int
    clipped_before: bool
    clipped_after: bool
    text: str  # what a screen reader hears instead of the bar


@dataclass(frozen=True, slots=True)
class Timeline:
    months: tuple[Month, ...]
    bars: tuple[Bar, ...]
    active: tuple[tuple[Month, tuple[str, ...]], ...]  # each month → refs active in it
    clipped: bool  # the plan spans more than MAX_MONTHS


@dataclass(frozen=True, slots=True)
class PlanPage:
    slug: str
    number: str
    title: str
    issuer: str
    year: int | None
    date: str
    timing_header: str
    sections: tuple[Section, ...]
    timeline: Timeline
    undated: tuple[Row, ...]
    unit_choices: tuple[Choice, ...]
    status_choices: tuple[Choice, ...]
    unit: str  # the unit filter in effect (slug), "" for all
    unit_name: str
    status: str  # the status filter in effect, "" for all
    counts: Mapping[str, int]  # status → activities (before filtering), and "undated"
    total: int
    shown: int
    today: str
    ignored: tuple[str, ...] = ()  # filter values that named nothing (said on the page)

    @property
    def filtered(self) -> bool:
        return bool(self.unit or self.status)


def _row(act: Activity, today: date, members: Membership) -> Row:
    timing = act.timing
    lead = _names(act.lead, act.lead_text)
    coord = _names(act.coordinating, act.coordinating_text)
    lead_units = members.all(lead)
    start = end = None
    state = None
    reason = _text(timing.reason)
    if timing.kind is not TimingKind.UNDATABLE and timing.end is not None:
        start, end = timing.start or timing.end, timing.end
        if start > end:  # an edit gone wrong: listed, never drawn backwards
            reason = f"Ngày bắt đầu {day_text(start)} sau ngày kết thúc {day_text(end)}."
            start = end = None
        else:
            state = status(start, end, today)
    elif not reason:
        reason = "Không xác định được ngày."
    return Row(
        ref=_text(act.ref),
        anchor=anchor(act.ref),
        content=_text(act.content),
        section=_text(act.section),
        section_title=_text(act.section_title),
        lead=lead,
        coordinating=coord,
        timing_text=_text(timing.text),
        kind=timing.kind.value,
        start=start,
        end=end,
        span=span_text(start, end) if start and end else "",
        funding=_text(act.funding),
        status=state,
        reason=reason,
        units=lead_units | members.all(coord),
        lead_units=lead_units,
    )


def rows(plan: Plan, today: date, members: Membership) -> list[Row]:
    """Every activity of the plan as a Row, in plan order."""
    return [_row(a, today, members) for a in plan.activities]


def _months(first: date, last: date) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month) and len(out) < MAX_MONTHS:
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def timeline(all_rows: Sequence[Row], shown: Sequence[Row], plan_year: int | None) -> Timeline:
    """Columns from every dated activity (so filters keep the grid), bars for `shown`."""
    dated = [r for r in all_rows if r.start is not None and r.end is not None]
    if not dated:
        return Timeline((), (), (), False)
    first = min(r.start for r in dated if r.start)
    last = max(r.end for r in dated if r.end)
    if plan_year and first.year >= plan_year and last.year <= plan_year:
        first, last = date(plan_year, 1, 1), date(plan_year, 12, 31)
    pairs = _months(first, last)
    months = tuple(Month(i, y, m) for i, (y, m) in enumerate(pairs, 1))
    column = {pair: i for i, pair in enumerate(pairs, 1)}
    end_pair = pairs[-1]
    bars = []
    active: dict[int, list[str]] = {}
    for r in shown:
        if r.start is None or r.end is None:
            continue
        s, e = (r.start.year, r.start.month), (r.end.year, r.end.month)
        if e < pairs[0] or s > end_pair:
            continue
        a = column.get(s, 1)
        b = column.get(e, len(pairs))
        for i in range(a, b + 1):
            active.setdefault(i, []).append(r.ref)
        what = f"tháng {r.start.month}/{r.start.year}"
        if s != e:
            what = f"từ {what} đến tháng {r.end.month}/{r.end.year}"
        bars.append(Bar(r, a, b, s < pairs[0], e > end_pair, f"{what}, {STATUS_LABELS[r.status or 'over'].lower()}"))
    by_month = tuple((m, tuple(active.get(m.index, ()))) for m in months)
    return Timeline(months, tuple(bars), by_month, end_pair < (last.year, last.month))


def _unit_choices(all_rows: Sequence[Row], directory: Any, selected: str) -> list[Choice]:
    names = set().union(*(r.units for r in all_rows)) if all_rows else set()
    units = [u for u in (directory.get(n) for n in names) if u is not None and u.name in names]
    units.sort(key=lambda u: fold(u.name))
    return [Choice("", "Tất cả đơn vị", not selected)] + [
        Choice(u.slug, u.name, u.slug == selected) for u in units
    ]


def plan_page(
    plan: Plan,
    directory: Any,
    *,
    today: date,
    unit: str = "",
    state: str = "",
    members: Membership | None = None,
    all_rows: Sequence[Row] | None = None,
) -> PlanPage:
    """The plan page, filtered by unit slug and status; unknown filter values are ignored
    and named in `ignored`. `all_rows` may be passed in when the caller cached them."""
    members = members or Membership(directory, today)
    every = list(all_rows) if all_rows is not None else rows(plan, today, members)
    ignored = []
    wanted = directory.by_slug(unit) if unit else None
    if unit and wanted is None:
        ignored.append(f"đơn vị “{clean(unit)[:80]}”")
    if state and state not in STATUSES:
        ignored.append(f"trạng thái “{clean(state)[:80]}”")
        state = ""
    unit_slug = wanted.slug if wanted is not None else ""
    shown = [
        r for r in every
        if (wanted is None or wanted.name in r.units) and (not state or r.status == state)
    ]  # fmt: skip
    sections: dict[str, list[Row]] = {}
    titles: dict[str, str] = {}
    for r in shown:
        if r.status is None:
            continue
        sections.setdefault(r.section, []).append(r)
        titles.setdefault(r.section, r.section_title)
    counts = {s: 0 for s in STATUSES} | {"undated": 0}
    for r in every:
        counts[r.status or "undated"] += 1
    return PlanPage(
        slug=plan.slug,
        number=_text(plan.number),
        title=_text(plan.title) or plan.slug,
        issuer=_text(plan.issuer),
        year=plan.year,
        date=day_text(plan.date) if plan.date else "",
        timing_header=_text(plan.timing_header) or "Thời gian thực hiện",
        sections=tuple(Section(k, titles[k], tuple(v)) for k, v in sections.items()),
        timeline=timeline(every, shown, plan.year),
        undated=tuple(r for r in shown if r.status is None and not state),
        unit_choices=tuple(_unit_choices(every, directory, unit_slug)),
        status_choices=(Choice("", "Tất cả trạng thái", not state),)
        + tuple(Choice(s, STATUS_LABELS[s], s == state) for s in STATUSES),
        unit=unit_slug,
        unit_name=wanted.name if wanted is not None else "",
        status=state,
        counts=counts,
        total=len(every),
        shown=len(shown),
        today=day_text(today, weekday=True),
        ignored=tuple(ignored),
    )


# --- the unit page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitItem:
    plan_slug: str
    plan_label: str
    row: Row
    role: str  # "Chủ trì" or "Phối hợp"


@dataclass(frozen=True, slots=True)
class DeadlineItem:
    plan_slug: str
    plan_label: str
    title: str  # "Báo cáo công tác đối ngoại 6 tháng"
    period: str  # "6 tháng đầu năm 2024"
    due: date
    due_text: str  # "thứ Sáu, ngày 14/06/2024"
    wording: str  # as the rule says it: "trước ngày 15/6/2024"
    to: str
    over: bool
    days_left: int


@dataclass(frozen=True, slots=True)
class UnitPage:
    name: str
    slug: str
    kind: str
    is_group: bool
    coordinator: bool
    validity: str
    items: tuple[UnitItem, ...]
    deadlines: tuple[DeadlineItem, ...]
    lead_count: int
    coordinating_count: int
    today: str


def _duty_deadlines(
    plans: Sequence[Plan],
    deadlines: Mapping[str, Mapping[str, Sequence[Any]]],
    wanted: Callable[[tuple[str, ...], str], bool],
    today: date,
) -> list[DeadlineItem]:
    out = []
    for plan in plans:
        for duty in plan.reports:
            owners = _names(duty.owners, duty.owners_text)
            to = _text(duty.to or duty.to_text)
            if not wanted(owners, to):
                continue
            for dl in deadlines.get(plan.slug, {}).get(duty.id, ()):
                out.append(DeadlineItem(
                    plan.slug, plan_label(plan), _text(duty.title) or "Báo cáo", _text(dl.label), dl.due,
                    day_text(dl.due, weekday=True), _text(dl.wording), to, dl.due < today,
                    (dl.due - today).days,
                ))  # fmt: skip
    out.sort(key=lambda d: (d.due, d.plan_slug, d.title))
    return out


def unit_page(
    unit: Any,
    plans: Sequence[Plan],
    directory: Any,
    deadlines: Mapping[str, Mapping[str, Sequence[Any]]],
    *,
    today: date,
    members: Membership | None = None,
    plan_rows: Mapping[str, Sequence[Row]] | None = None,
) -> UnitPage:
    """A unit's activities across plans (leading first within each plan's order) and the
    report deadlines it owes."""
    from notifier.units import validity_text

    members = members or Membership(directory, today)
    items = []
    for plan in plans:
        found = plan_rows.get(plan.slug) if plan_rows is not None else None
        for r in found if found is not None else rows(plan, today, members):
            if unit.name in r.units:
                role = "Chủ trì" if unit.name in r.lead_units else "Phối hợp"
                items.append(UnitItem(plan.slug, plan_label(plan), r, role))
    due = _duty_deadlines(plans, deadlines, lambda owners, _to: unit.name in members.all(owners), today)
    return UnitPage(
        name=unit.name,
        slug=unit.slug,
        kind=_text(unit.kind),
        is_group=bool(unit.is_group),
        coordinator=bool(unit.coordinator),
        validity=validity_text(unit),
        items=tuple(items),
        deadlines=tuple(due),
        lead_count=sum(1 for i in items if i.role == "Chủ trì"),
        coordinating_count=sum(1 for i in items if i.role == "Phối hợp"),
        today=day_text(today, weekday=True),
    )


# --- the coordinator page ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Happening:
    """Something in the next 30 days: an activity opens or closes, a deadline falls."""

    day: date
    day_text: str
    what: str  # "Bắt đầu", "Kết thúc", "Diễn ra", "Hạn hoàn thành", "Hạn báo cáo"
    plan_slug: str
    ref: str
    anchor: str
    content: str
    units: tuple[str, ...]
    in_days: int


@dataclass(frozen=True, slots=True)
class OutboxItem:
    status: str  # "sent" | "failed" | "skipped"
    status_label: str
    subject: str
    to: tuple[str, ...]
    due: str
    at: str  # when it was sent, or last changed
    reason: str  # the last error, or why it was skipped
    plan: str
    refs: tuple[str, ...]
    attempts: int


@dataclass(frozen=True, slots=True)
class AckItem:
    """Who has and who has not acknowledged one thing (acks.status gives them)."""

    what: str
    done: tuple[str, ...]
    missing: tuple[str, ...]
    day: str = ""  # the activity's last day or the report's deadline
    notes: tuple[tuple[str, str], ...] = ()  # (unit, note) of those who wrote one


@dataclass(frozen=True, slots=True)
class CoordinatorPage:
    name: str
    slug: str
    plans: tuple[tuple[str, str], ...]  # (slug, label)
    start: str
    end: str
    opens: tuple[Happening, ...]
    closes: tuple[Happening, ...]
    due: tuple[Happening, ...]
    outbox: tuple[OutboxItem, ...]
    outbox_counts: Mapping[str, int]
    outbox_note: str  # why the outbox cannot be shown, if it cannot
    acks: tuple[AckItem, ...] | None  # None: acknowledgements not available here
    today: str


@functools.lru_cache(maxsize=8192)  # the same outbox rows are shown again and again
def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(TZ)
    return f"{local:%H:%M} {day_text(local.date())}"


def outbox_items(outbox_rows: Iterable[Any]) -> list[OutboxItem]:
    """store.OutboxRow-like rows (sent, failed, skipped) → what the page lists, newest first."""
    out = []
    for r in outbox_rows:
        if r.status not in OUTBOX_LABELS:
            continue
        when = r.sent_at if r.status == "sent" and r.sent_at else r.updated_at
        to = tuple(_text(n) or _text(a) for n, a in r.recipients)
        out.append(OutboxItem(
            r.status, OUTBOX_LABELS[r.status], _text(r.subject), to, _local(r.due_at), _local(when),
            _text(r.last_error) or ("Quá hạn gửi khi hệ thống không chạy." if r.status == "skipped" else ""),
            _text(r.plan), tuple(_text(x) for x in r.refs), r.attempts,
        ))  # fmt: skip
    return out


def coordinator_page(
    unit: Any,
    plans: Sequence[Plan],
    directory: Any,
    deadlines: Mapping[str, Mapping[str, Sequence[Any]]],
    *,
    today: date,
    outbox_rows: Iterable[Any] = (),
    outbox_note: str = "",
    acks: Sequence[AckItem] | None = None,
    members: Membership | None = None,
    plan_rows: Mapping[str, Sequence[Row]] | None = None,
) -> CoordinatorPage:
    """The coordinator's page over the plans it follows: [today, today + 29] and the outbox."""
    members = members or Membership(directory, today)
    followed = followed_plans(plans, unit.name, members)
    last = today + timedelta(days=WINDOW_DAYS - 1)
    opens, closes, due = [], [], []

    def happening(day: date, what: str, plan: Plan, r: Row) -> Happening:
        units = r.lead or r.coordinating
        return Happening(day, day_text(day, weekday=True), what, plan.slug, r.ref, r.anchor, r.content,
                         units, (day - today).days)  # fmt: skip

    for plan in followed:
        found = plan_rows.get(plan.slug) if plan_rows is not None else None
        for r in found if found is not None else rows(plan, today, members):
            if r.start is None or r.end is None:
                continue
            if r.kind == TimingKind.DEADLINE.value:
                if today <= r.end <= last:
                    due.append(happening(r.end, "Hạn hoàn thành", plan, r))
                continue
            if r.start == r.end:
                if today <= r.start <= last:
                    opens.append(happening(r.start, "Diễn ra", plan, r))
                continue
            if today <= r.start <= last:
                opens.append(happening(r.start, "Bắt đầu", plan, r))
            if today <= r.end <= last:
                closes.append(happening(r.end, "Kết thúc", plan, r))
    for d in _duty_deadlines(followed, deadlines, lambda _owners, _to: True, today):
        if today <= d.due <= last:
            title = f"{d.title} ({d.period})" if d.period else d.title
            due.append(Happening(d.due, d.due_text, "Hạn báo cáo", d.plan_slug, "", "", title,
                                 (), d.days_left))  # fmt: skip
    key: Callable[[Happening], tuple[Any, ...]] = lambda h: (h.day, h.plan_slug, h.ref, h.what)
    items = outbox_items(outbox_rows)
    counts = {s: 0 for s in OUTBOX_LABELS}
    for i in items:
        counts[i.status] += 1
    return CoordinatorPage(
        name=unit.name,
        slug=unit.slug,
        plans=tuple((p.slug, plan_label(p)) for p in followed),
        start=day_text(today),
        end=day_text(last),
        opens=tuple(sorted(opens, key=key)),
        closes=tuple(sorted(closes, key=key)),
        due=tuple(sorted(due, key=key)),
        outbox=tuple(items),
        outbox_counts=counts,
        outbox_note=outbox_note,
        acks=tuple(acks) if acks is not None else None,
        today=day_text(today, weekday=True),
    )


@dataclass(frozen=True, slots=True)
class Nav:
    """What the home page links to: plan pages and unit pages."""

    plans: tuple[tuple[str, str], ...] = ()
    units: tuple[tuple[str, str], ...] = ()


def nav(plans: Sequence[Plan], directory: Any) -> Nav:
    units = sorted((u for u in directory), key=lambda u: fold(u.name))
    return Nav(
        tuple((p.slug, plan_label(p)) for p in plans),
        tuple((u.slug, u.name) for u in units),
    )
