"""schedules/<plan-slug>.toml: the reviewed, hand-editable form of a plan.

Public: `write_schedule(plan, directory, *, existing=None) -> Path`,
`load_schedule(path) -> Plan`, `read_schedule(path) -> ScheduleFile` (the plan plus the
line of every key, for `check`), `load_schedules(directory) -> (plans, problems)`,
`schedule_schema()`, `SCHEDULE_KEYS` and the pydantic models of the file.

The file: Vietnamese comments on top (what it is, how to override), `[plan]`, one
`[[activities]]` table per activity with the timing as written (`timing = "Quý II/2024"`)
beside the dates it gives (`start`, `end`, `kind`, `rule`, `reason`, `bound`), the
suggested `key_dates` (inline tables with `accepted = false`), and one `[[reports]]`
table per report duty. The file's dates win over the timing text; `check` says when
they differ ("ngày đã được sửa tay").

Re-writing keeps what admins did: the file is loaded with tomlkit and updated in
place, so comments stay, and a value is replaced only when its source changed. With
`existing` (the plan as it was when the file was last written) that is a three-way
merge per key. Without it, values derived from a source cell (dates from `timing`,
`lead` from `lead_text`, `coordinating` from `coordinating_text`, `key_dates` from
`content`+`timing`, a report's `to`/`owners` from `to_text`/`owners_text`) are kept
while that cell is unchanged; the cells themselves follow the source.

Drafts (review before it counts, docs/importing.md): `<slug>.draft.toml` beside the live
file is an import waiting for `notifier approve`. `schedule_paths` (the one list every
loader uses: daemon, check, catalog, timeline) never includes it; `draft_paths`,
`draft_path`, `live_path`, `is_draft` and `draft_notices` name them. Hidden folders under
schedules/ (`.imported/`, `.history/`) hold review's bookkeeping and are never loaded.
Review's merge works on plain rows: `plan_row`, `activity_row`, `report_row` (a table's
keys → plain NFC values, as the file stores them) and `plan_from_rows` (rows → Plan,
validated like a file); `schedule_text(plan, old_text, activity_tables=…)` rewrites a
file's text keeping comments, with the pairing of rows to old tables given by the caller;
`write_text(path, text)` is the atomic write.

Safety: the file name is only ever the plan's ASCII slug (never text from the plan);
writes go to a temporary file in the same directory, then `os.replace`. Every string
is NFC on the way out and on the way in. Not here: parsing plans (importers/),
resolving unit names (units.py), cross-file checks (check.py), the merge and diff
(review.py).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import tomlkit
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from notifier.config import _day, _for_taplo
from notifier.errors import Problem, ScheduleError
from notifier.plan import Activity, KeyDate, Plan, ReportDuty
from notifier.reporting import Period
from notifier.text import WINDOWS_DEVICES, nfc, slugify
from notifier.timing import Timing, TimingKind
from notifier.tomlfile import (
    Lines,
    TomlSyntaxError,
    key_label,
    read_toml,
    sentence,
    validation_problems,
)

__all__ = [
    "DRAFT_SUFFIX",
    "SCHEMA_DIRECTIVE",
    "ScheduleFile",
    "ScheduleModel",
    "activity_row",
    "draft_notices",
    "draft_path",
    "draft_paths",
    "is_draft",
    "live_path",
    "load_schedule",
    "load_schedules",
    "plan_from_rows",
    "plan_row",
    "read_schedule",
    "report_row",
    "schedule_paths",
    "schedule_schema",
    "schedule_text",
    "valid_slug",
    "write_schedule",
    "write_text",
]

# Taplo / Even Better TOML read this first-line directive; the path is relative to the file.
SCHEMA_DIRECTIVE = "#:schema ../docs/schema/schedule.schema.json"

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def valid_slug(slug: str) -> bool:
    """An ASCII slug safe as a file name: a-z, 0-9 and single '-' (so never '/', '.' or '..'),
    and not a Windows device name ("nul", "com1")."""
    return bool(_SLUG.fullmatch(slug)) and len(slug) <= 120 and slug not in WINDOWS_DEVICES


# --- the file model (validation and JSON Schema) -------------------------------------------------


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("không được để trống")
    return value


Day = Annotated[date, BeforeValidator(_day)]
Text = Annotated[str, AfterValidator(nfc)]
Label = Annotated[str, AfterValidator(nfc), AfterValidator(_not_blank)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanTable(_Table):
    """[plan] Thông tin văn bản kế hoạch."""

    number: Text = Field("", description="Số hiệu văn bản.", examples=["34/KH-UBND"])
    date: Day | None = Field(
        None, description="Ngày ban hành (NĂM-THÁNG-NGÀY).", examples=[date(2024, 2, 22)]
    )
    issuer: Text = Field("", description="Cơ quan ban hành.", examples=["UBND tỉnh Đắk Lắk"])
    place: Text = Field("", description="Địa danh.", examples=["Đắk Lắk"])
    title: Text = Field(
        "", description="Trích yếu.", examples=["Kế hoạch công tác ngoại giao văn hóa năm 2024"]
    )
    year: Annotated[int, Field(ge=1900, le=2200)] | None = Field(
        None,
        description="Năm thực hiện kế hoạch (dùng khi thời gian không ghi năm).",
        examples=[2024],
    )
    timing_header: Text = Field(
        "Thời gian thực hiện",
        description="Tên cột thời gian; “Thời hạn hoàn thành” "
        "nghĩa là mỗi thời gian là một hạn chót.",
        examples=["Thời gian thực hiện"],
    )
    source: Text = Field("", description="Tệp gốc đã nhập.", examples=["000_6a99d0bb3ce2a896.txt"])


class KeyDateTable(_Table):
    """Một ngày chính được gợi ý trong khoảng thời gian của hoạt động."""

    date: Day = Field(description="Ngày (NĂM-THÁNG-NGÀY).", examples=[date(2024, 12, 2)])
    label: Label = Field(description="Vì sao có ngày này.", examples=["Quốc khánh Lào"])
    source: Literal["content", "observance", "anniversary"] = Field(
        "content",
        description="content = ghi trong nội dung; observance/anniversary = từ config.toml.",
        examples=["content"],
    )
    years: int | None = Field(None, description="Số năm kỷ niệm.", examples=[55])
    accepted: bool = Field(
        False, description="true = dùng làm ngày chính của hoạt động.", examples=[True]
    )


class ActivityTable(_Table):
    """[[activities]] Một hoạt động của kế hoạch."""

    ref: Label = Field(description="Mục và số thứ tự, ví dụ II.7.", examples=["II.7"])
    section: Text = Field("", description="Số mục (La Mã).", examples=["II"])
    section_title: Text = Field(
        "", description="Tên mục.", examples=["Hoạt động đối ngoại văn hóa"]
    )
    content: Text = Field("", description="Nội dung hoạt động.", examples=["Tổ chức gặp mặt …"])
    lead_text: Text = Field(
        "", description="Ô “Đơn vị chủ trì” như văn bản viết.", examples=["Sở Ngoại vụ"]
    )
    lead: list[Label] = Field(
        default_factory=list,
        description="Tên chuẩn của đơn vị chủ trì (danh mục trong config.toml).",
        examples=[["Sở Ngoại vụ"]],
    )
    coordinating_text: Text = Field(
        "",
        description="Ô “Đơn vị phối hợp” như văn bản viết.",
        examples=["Các cơ quan, đơn vị liên quan"],
    )
    coordinating: list[Label] = Field(
        default_factory=list,
        description="Tên chuẩn của đơn vị phối hợp.",
        examples=[["Các cơ quan, đơn vị liên quan"]],
    )
    funding: Text = Field("", description="Kinh phí.", examples=["Ngân sách tỉnh"])
    timing: Text = Field("", description="Thời gian như văn bản viết.", examples=["Quý II/2024"])
    kind: TimingKind = Field(
        description="range, date, deadline, continuous, recurring, conditional, undatable.",
        examples=["range"],
    )
    start: Day | None = Field(
        None, description="Ngày bắt đầu; sửa để ghi đè.", examples=[date(2024, 4, 1)]
    )
    end: Day | None = Field(
        None,
        description="Ngày kết thúc (hoặc hạn chót); sửa để ghi đè.",
        examples=[date(2024, 6, 30)],
    )
    rule: Text | None = Field(
        None, description="Quy tắc lặp RRULE (RFC 5545).", examples=["FREQ=MONTHLY"]
    )
    reason: Text | None = Field(
        None,
        description="Vì sao không xác định được ngày, hoặc điều kiện.",
        examples=["khi có yêu cầu"],
    )
    bound: Literal["before", "by"] | None = Field(
        None,
        description="Hạn chót: before = “trước ngày X”, by = “chậm nhất ngày X”.",
        examples=["by"],
    )
    key_dates: list[KeyDateTable] = Field(
        default_factory=list, description="Ngày chính được gợi ý."
    )
    source_line: int | None = Field(
        None, description="Dòng của hoạt động trong văn bản gốc.", examples=[120]
    )


class ReportTable(_Table):
    """[[reports]] Một nghĩa vụ báo cáo do kế hoạch đặt ra; hạn nộp lấy từ config.toml."""

    id: Label = Field(description="Mã duy nhất trong kế hoạch.", examples=["half-year"])
    period: Period = Field(description="Kỳ báo cáo.", examples=["half-year"])
    title: Text = Field(
        "", description="Tên báo cáo.", examples=["Báo cáo công tác đối ngoại 6 tháng"]
    )
    to: Text = Field("", description="Tên chuẩn của đơn vị nhận báo cáo.", examples=["Sở Ngoại vụ"])
    to_text: Text = Field("", description="Nơi nhận như văn bản viết.", examples=["Sở Ngoại vụ"])
    owners: list[Label] = Field(
        default_factory=list,
        description="Tên chuẩn của các đơn vị phải báo cáo.",
        examples=[["Các cơ quan, đơn vị liên quan"]],
    )
    owners_text: Text = Field(
        "", description="Đơn vị báo cáo như văn bản viết.", examples=["các đơn vị"]
    )
    source_text: Text = Field(
        "", description="Câu trong văn bản đặt ra nghĩa vụ.", examples=["… gửi Sở Ngoại vụ"]
    )
    source_line: int | None = Field(None, description="Dòng trong văn bản gốc.", examples=[40])


class ScheduleModel(_Table):
    """Tệp lịch của một kế hoạch (schedules/<mã>.toml)."""

    plan: PlanTable = Field(default_factory=PlanTable)
    activities: list[ActivityTable] = Field(default_factory=list)
    reports: list[ReportTable] = Field(default_factory=list)


SCHEDULE_KEYS = {
    "plan": tuple(PlanTable.model_fields),
    "activities": tuple(ActivityTable.model_fields),
    "reports": tuple(ReportTable.model_fields),
}


def schedule_schema() -> dict[str, Any]:
    """JSON Schema of schedule files (Vietnamese descriptions), in the shape Taplo reads."""
    return _for_taplo(ScheduleModel.model_json_schema(), "Tệp lịch kế hoạch của notifier")


# --- reading -------------------------------------------------------------------------------------


@dataclass(slots=True)
class ScheduleFile:
    """A loaded schedule: the plan, and where each key is (for check's messages)."""

    path: Path
    file: str
    plan: Plan
    lines: Lines

    def line(self, *path: str | int) -> int | None:
        return self.lines.line(path)


def read_schedule(path: Path, *, name: str | None = None) -> ScheduleFile:
    """Read and validate one schedule file; ScheduleError listing every problem at once."""
    file = name if name is not None else str(path)
    problems: list[Problem] = []
    slug = path.name.removesuffix(DRAFT_SUFFIX) if is_draft(path) else path.stem
    if not valid_slug(slug):
        problems.append(
            Problem(
                "tên tệp lịch phải là mã ASCII (chữ thường a-z, số, dấu -).",
                file=file,
                hint=f"Đổi tên tệp thành {slugify(slug)}.toml",
            )
        )
    try:
        parsed = read_toml(path, name=file)
    except TomlSyntaxError as exc:
        raise ScheduleError(f"{file}: không đọc được tệp lịch.", [*problems, exc.problem]) from None
    except OSError as exc:
        raise ScheduleError(
            f"{file}: không đọc được tệp lịch.",
            [Problem(f"không đọc được tệp ({exc.strerror}).", file=file)],
        ) from None
    lines = parsed.lines
    try:
        model = ScheduleModel.model_validate(parsed.data)
    except ValidationError as exc:
        problems += validation_problems(exc, model=ScheduleModel, file=file, lines=lines)
        raise ScheduleError(f"{file} có {len(problems)} lỗi.", problems) from None
    problems += _consistency_problems(model, file, lines)
    if problems:
        raise ScheduleError(f"{file} có {len(problems)} lỗi.", problems)
    return ScheduleFile(path, file, _to_plan(model, slug), lines)


def load_schedule(path: Path) -> Plan:
    """The plan stored in a schedule file; ScheduleError with file:line:key problems."""
    return read_schedule(path).plan


def _consistency_problems(model: ScheduleModel, file: str, lines: Lines) -> list[Problem]:
    """Start after end, duplicate refs and report ids."""
    found: list[Problem] = []

    def problem(path: tuple[str | int, ...], value: Any, message: str, hint: str = "") -> None:
        found.append(
            Problem(
                sentence(message),
                file=file,
                line=lines.line(path),
                key=key_label(path, value, lines),
                hint=hint,
            )
        )

    seen: dict[str, int] = {}
    for n, act in enumerate(model.activities):
        if act.start is not None and act.end is not None and act.start > act.end:
            problem(
                ("activities", n, "end"),
                act.end,
                f"ngày kết thúc trước ngày bắt đầu ({act.start.isoformat()})",
                f"Ví dụ: start = {act.end.isoformat()}, end = {act.start.isoformat()}",
            )
        first = seen.setdefault(act.ref, n)
        if first != n:
            problem(
                ("activities", n, "ref"),
                act.ref,
                f"mã hoạt động trùng với hoạt động ở dòng {lines.line(('activities', first, 'ref'))}",
                "Mỗi hoạt động cần một ref riêng, ví dụ II.7a.",
            )
    ids: dict[str, int] = {}
    for n, rep in enumerate(model.reports):
        first = ids.setdefault(rep.id, n)
        if first != n:
            problem(
                ("reports", n, "id"),
                rep.id,
                f"mã báo cáo trùng với báo cáo ở dòng {lines.line(('reports', first, 'id'))}",
                "Mỗi báo cáo cần một id riêng.",
            )
    return found


def _to_plan(model: ScheduleModel, slug: str) -> Plan:
    p = model.plan
    return Plan(
        slug=slug,
        title=p.title,
        number=p.number,
        date=p.date,
        issuer=p.issuer,
        place=p.place,
        year=p.year,
        timing_header=p.timing_header,
        source=p.source,
        activities=[_to_activity(a) for a in model.activities],
        reports=[_to_report(r) for r in model.reports],
    )


@lru_cache(maxsize=8192)
def _timing(text: str, kind: TimingKind, start: date | None, end: date | None, rule: str | None,
            reason: str | None, bound: str | None) -> Timing:  # fmt: skip
    """One Timing (frozen) for each distinct cell: "Tháng 3/2024" recurs across plans."""
    return Timing(text=_share(text), kind=TimingKind(kind), start=start, end=end, rule=rule,
                  reason=reason, bound=bound)  # fmt: skip


# Refs, section titles, unit names recur across plans: one copy of each (the daemon holds
# every plan; 1,000 plans × 30 activities: -24 MB resident, benchmarks/memory.py).
_share = sys.intern


def _to_activity(a: ActivityTable) -> Activity:
    timing = _timing(a.timing, a.kind, a.start, a.end, a.rule, a.reason, a.bound)
    return Activity(
        ref=_share(a.ref),
        content=a.content,
        timing=timing,
        section=_share(a.section),
        section_title=_share(a.section_title),
        lead_text=_share(a.lead_text),
        lead=[_share(n) for n in a.lead],
        coordinating_text=_share(a.coordinating_text),
        coordinating=[_share(n) for n in a.coordinating],
        funding=_share(a.funding),
        key_dates=[
            KeyDate(date=k.date, label=k.label, source=k.source, years=k.years, accepted=k.accepted)
            for k in a.key_dates
        ],
        line=a.source_line,
    )


def _to_report(r: ReportTable) -> ReportDuty:
    return ReportDuty(
        id=r.id,
        period=Period(r.period).value,
        title=r.title,
        to=r.to,
        to_text=r.to_text,
        owners=list(r.owners),
        owners_text=r.owners_text,
        source_text=r.source_text,
        line=r.source_line,
    )


def load_schedules(directory: Path) -> tuple[list[Plan], list[Problem]]:
    """Every valid plan in `directory` (by file name), and the problems of the broken files."""
    plans, problems = [], []
    if not directory.is_dir():
        return [], [
            Problem(
                "thư mục lịch không tồn tại; chưa nhập kế hoạch nào.",
                file=str(directory),
                hint="Chạy `notifier import TỆP_KẾ_HOẠCH`.",
                severity="warning",
            )
        ]
    for path in schedule_paths(directory):
        try:
            plans.append(load_schedule(path))
        except ScheduleError as exc:
            problems += exc.problems
    return plans, problems


def schedule_paths(directory: Path) -> list[Path]:
    """The live schedule files of a directory: *.toml, not hidden, not drafts, sorted by name."""
    return sorted(
        p
        for p in directory.glob("*.toml")
        if not p.name.startswith(".") and not is_draft(p) and p.is_file()
    )


# --- drafts: imports waiting for `notifier approve` ----------------------------------------------

DRAFT_SUFFIX = ".draft.toml"


def is_draft(path: Path) -> bool:
    return path.name.endswith(DRAFT_SUFFIX)


def draft_path(directory: Path, slug: str) -> Path:
    """Where the draft of plan `slug` lives: beside its live file."""
    return directory / f"{slug}{DRAFT_SUFFIX}"


def live_path(draft: Path) -> Path:
    """The live schedule a draft would replace."""
    return draft.with_name(draft.name.removesuffix(DRAFT_SUFFIX) + ".toml")


def draft_paths(directory: Path) -> list[Path]:
    """The pending drafts of a directory, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.glob(f"*{DRAFT_SUFFIX}") if not p.name.startswith(".") and p.is_file()
    )


def draft_notices(directory: Path) -> list[Problem]:
    """One note ("info", never an error) per draft not yet approved, for check and the daemon."""
    return [
        Problem(
            "bản nháp chưa được duyệt; lịch đang dùng vẫn là "
            f"{live_path(p).name if live_path(p).exists() else '(chưa có)'}.",
            file=str(p),
            severity="info",
            hint=f"Xem: notifier diff {p}  ·  duyệt: notifier approve {p}",
        )
        for p in draft_paths(directory)
    ]


# --- writing -------------------------------------------------------------------------------------

_HEADER = """\
Lịch của kế hoạch: {plan}
Tệp do `notifier import` tạo từ văn bản kế hoạch. Cán bộ quản trị được sửa tay; sau khi sửa,
chạy `notifier check` để kiểm tra (lỗi được báo kèm số dòng và cách sửa).
- Mỗi khối [[activities]] là một hoạt động. `timing` giữ nguyên cách ghi trong kế hoạch;
  `start` / `end` là ngày chương trình hiểu được (NĂM-THÁNG-NGÀY, không có ngoặc kép).
  Muốn đổi ngày, sửa `start` / `end`: ngày trong tệp được dùng, `notifier check` ghi
  nhận là "ngày đã được sửa tay".
- `lead` / `coordinating`: tên chuẩn của đơn vị chủ trì / phối hợp theo danh mục trong
  config.toml; `lead_text` / `coordinating_text` là ô gốc của kế hoạch.
- `key_dates`: ngày chính được gợi ý; đổi `accepted = false` thành `accepted = true` để dùng.
- Nhập lại kế hoạch: `notifier import` ghi bản nháp <mã>.draft.toml, `notifier diff` cho xem
  thay đổi, `notifier approve` đưa vào dùng. Ghi chú (#) và chỗ sửa tay được giữ, trừ khi văn
  bản nguồn sửa chính giá trị đó (khi đó `diff` báo xung đột và vẫn giữ bản sửa tay).
- Hạn nộp của các [[reports]] lấy từ [[reports.deadlines]] trong config.toml."""


def _plan_label(plan: Plan) -> str:
    parts = [f"Kế hoạch số {plan.number}" if plan.number else "Kế hoạch"]
    if plan.date:
        parts.append(f"ngày {plan.date:%d/%m/%Y}")
    if plan.issuer:
        parts.append(f"của {plan.issuer}")
    label = " ".join(parts)
    if plan.title:
        label += f": {plan.title}"
    # One printable line: a newline would end the comment, a control character is not TOML.
    return " ".join("".join(c if c.isprintable() else " " for c in nfc(label)).split())


def _string(value: str) -> Any:
    value = nfc(value)
    # Multi-line strings read "\r\n" back as "\n"; keep those single-line with escapes.
    return tomlkit.string(value, multiline="\n" in value and "\r" not in value)


def _item(value: Any) -> Any:
    """A Python value as a tomlkit item, formatted for people."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        array = tomlkit.array()
        for element in value:
            if isinstance(element, dict):
                inline = tomlkit.inline_table()
                for k, v in element.items():
                    inline.append(k, _item(v))
                array.append(inline)
            else:
                array.append(_item(element))
        wide = any(isinstance(e, dict) for e in value) or sum(len(str(e)) for e in value) > 60
        return array.multiline(wide and len(value) > 0)
    return tomlkit.item(value)


def _plan_fields(plan: Plan) -> list[tuple[str, Any]]:
    return [
        ("number", plan.number),
        ("date", plan.date),
        ("issuer", plan.issuer),
        ("place", plan.place),
        ("title", plan.title),
        ("year", plan.year),
        ("timing_header", plan.timing_header),
        ("source", plan.source),
    ]


_TIMING_KEYS = ("kind", "start", "end", "rule", "reason", "bound")


def _activity_fields(a: Activity) -> list[tuple[str, Any]]:
    t = a.timing
    return [
        ("ref", a.ref),
        ("section", a.section),
        ("section_title", a.section_title),
        ("content", a.content),
        ("lead_text", a.lead_text),
        ("lead", list(a.lead)),
        ("coordinating_text", a.coordinating_text),
        ("coordinating", list(a.coordinating)),
        ("funding", a.funding),
        ("timing", t.text),
        ("kind", TimingKind(t.kind).value),
        ("start", t.start),
        ("end", t.end),
        ("rule", t.rule),
        ("reason", t.reason),
        ("bound", t.bound),
        ("key_dates", [_key_date(k) for k in a.key_dates]),
        ("source_line", a.line),
    ]


def _key_date(k: KeyDate) -> dict[str, Any]:
    fields: dict[str, Any] = {"date": k.date, "label": k.label, "source": k.source}
    if k.years is not None:
        fields["years"] = k.years
    fields["accepted"] = k.accepted
    return fields


def _report_fields(r: ReportDuty) -> list[tuple[str, Any]]:
    return [
        ("id", r.id),
        ("period", _period(r.period)),
        ("title", r.title),
        ("to", r.to),
        ("to_text", r.to_text),
        ("owners", list(r.owners)),
        ("owners_text", r.owners_text),
        ("source_text", r.source_text),
        ("source_line", r.line),
    ]


def _period(value: str) -> str:
    """The config name of a period ("6 tháng" → "half-year"); unknown text is kept for check."""
    try:
        return Period.parse(value).value
    except ValueError:
        return value


def _plain(value: Any) -> Any:
    """A tomlkit value (or a Python value) as plain, NFC Python for comparisons."""
    if hasattr(value, "unwrap"):
        value = value.unwrap()
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _fill(table: Table, fields: Sequence[tuple[str, Any]]) -> Table:
    for key, value in fields:
        if value is not None:
            table.add(key, _item(value))
    return table


# --- the fast writer for new files ---------------------------------------------------------------
# tomlkit builds a document item by item (seconds for thousands of activities); a new file has
# nothing to preserve, so it is written directly. Re-writes go through tomlkit (comments).

_ESCAPES = {i: f"\\u{i:04x}" for i in (*range(0x20), 0x7F)}
_ESCAPES.update(
    {
        0x08: "\\b",
        0x09: "\\t",
        0x0A: "\\n",
        0x0C: "\\f",
        0x0D: "\\r",
        ord('"'): '\\"',
        ord("\\"): "\\\\",
    }
)
_ESCAPES_MULTILINE = {**_ESCAPES, 0x0A: "\n", 0x09: "\t"}


def _toml_string(value: str) -> str:
    value = nfc(value)
    if "\n" in value and "\r" not in value:  # the same choice as _string()
        body = value.translate(_ESCAPES_MULTILINE)
        if body.startswith("\n"):  # a newline right after the opening quotes is dropped
            body = "\\n" + body[1:]
        return f'"""{body}"""'
    return f'"{value.translate(_ESCAPES)}"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, date)):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    items = [_toml_value(v) for v in value]
    wide = any(isinstance(v, dict) for v in value) or sum(len(str(v)) for v in value) > 60
    if wide and items:
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    return "[" + ", ".join(items) + "]"


def _toml_table(header: str, fields: Sequence[tuple[str, Any]]) -> str:
    lines = [header]
    lines += [f"{key} = {_toml_value(value)}" for key, value in fields if value is not None]
    return "\n".join(lines) + "\n"


def _emit(plan: Plan, schema: str | None) -> str:
    """The text of a new schedule file, formatted as tomlkit formats the tables it adds."""
    head = [schema] if schema else []
    head += [f"# {line}".rstrip() for line in _HEADER.format(plan=_plan_label(plan)).splitlines()]
    parts = ["\n".join(head) + "\n", _toml_table("[plan]", _plan_fields(plan))]
    parts += [_toml_table("[[activities]]", _activity_fields(a)) for a in plan.activities]
    parts += [_toml_table("[[reports]]", _report_fields(r)) for r in plan.reports]
    return "\n".join(parts)


Keep = Callable[[str], bool]


def _update(table: Table, fields: Sequence[tuple[str, Any]], keep: Keep) -> None:
    """Set each key to its new value unless `keep(key)`; an unchanged value is left untouched
    (so its formatting and trailing comment stay)."""
    for key, value in fields:
        if keep(key) and key in table:
            continue
        if value is None:
            if key in table:
                del table[key]
            continue
        if key in table and _plain(table[key]) == _plain(value):
            continue
        table[key] = _item(value)


def _base_keep(
    base_fields: Sequence[tuple[str, Any]] | None, new_fields: Sequence[tuple[str, Any]]
) -> Keep:
    """Three-way rule: keep the file's value where the source value did not change."""
    if base_fields is None:
        return lambda key: False
    base = dict(base_fields)
    new = dict(new_fields)
    return lambda key: key in base and _plain(base[key]) == _plain(new.get(key))


def _derived_keep(table: Table, new: dict[str, Any], rules: dict[str, tuple[str, ...]]) -> Keep:
    """Without a base: keep a derived key while the source keys it comes from are unchanged."""
    unchanged = {
        key: all(_plain(table.get(src, "")) == _plain(new.get(src) or "") for src in sources)
        for key, sources in rules.items()
    }
    return lambda key: unchanged.get(key, False)


_ACTIVITY_DERIVED: dict[str, tuple[str, ...]] = {
    **{key: ("timing",) for key in _TIMING_KEYS},
    "lead": ("lead_text",),
    "coordinating": ("coordinating_text",),
    "key_dates": ("content", "timing"),
}
_REPORT_DERIVED: dict[str, tuple[str, ...]] = {"to": ("to_text",), "owners": ("owners_text",)}


def _carry_accepted(table: Table, fields: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """New key_dates keep the `accepted` an admin gave the same date and label."""
    old = _plain(table.get("key_dates", []))
    accepted = {
        (k.get("date"), k.get("label")) for k in old if isinstance(k, dict) and k.get("accepted")
    }
    out = []
    for key, value in fields:
        if key == "key_dates":
            value = [
                {**k, "accepted": k["accepted"] or (k["date"], nfc(k["label"])) in accepted}
                for k in value
            ]
        out.append((key, value))
    return out


def _merge_tables(
    old: AoT | None,
    items: Sequence[Any],
    ident: str,
    fields_of: Callable[[Any], list[tuple[str, Any]]],
    base_items: dict[str, Any] | None,
    derived: dict[str, tuple[str, ...]],
) -> AoT | None:
    """The array of tables for `items`: existing tables (matched by `ident`) updated in place,
    new ones inserted where the source has them, ones no longer in the source dropped.
    None when there are no items (the key is then left out of the file)."""
    if not items:
        return None
    new_ids = [_plain(fields_of(item)[0][1]) for item in items]
    tables = list(old or [])
    old_ids = [_plain(t.get(ident)) for t in tables]
    kept = [i for i in old_ids if i in new_ids]
    if (
        old is None
        or kept != [i for i in new_ids if i in old_ids]
        or len(set(old_ids)) != len(old_ids)
    ):
        out = tomlkit.aot()  # order changed: rebuild from the same tables (comments travel along)
        by_id = dict(zip(old_ids, tables, strict=True))
        for item in items:
            fields = fields_of(item)
            out.append(
                _merged_table(
                    by_id.pop(_plain(fields[0][1]), None), item, fields_of, base_items, derived
                )
            )
        return out
    for index in reversed(range(len(tables))):
        if old_ids[index] not in new_ids:
            del old[index]
    for position, item in enumerate(items):
        fields = fields_of(item)
        if _plain(fields[0][1]) in old_ids:
            _merged_table(old[position], item, fields_of, base_items, derived)
        else:
            table = _merged_table(None, item, fields_of, base_items, derived)
            table.trivia.indent = "\n"  # a blank line before the new header, like the others
            old.insert(position, table)
    return old


def _merged_table(
    table: Table | None,
    item: Any,
    fields_of: Callable[[Any], list[tuple[str, Any]]],
    base_items: dict[str, Any] | None,
    derived: dict[str, tuple[str, ...]],
) -> Table:
    fields = fields_of(item)
    if table is None:
        return _fill(tomlkit.table(), fields)
    new = dict(fields)
    if base_items is not None:
        base = base_items.get(fields[0][1])
        keep = _base_keep(fields_of(base) if base is not None else [], fields)
    else:
        keep = _derived_keep(table, new, derived)
        if "key_dates" in new and not keep("key_dates"):
            fields = _carry_accepted(table, fields)
    _update(table, fields, keep)
    return table


def _merge(doc: TOMLDocument, plan: Plan, existing: Plan | None) -> None:
    plan_fields = _plan_fields(plan)
    if "plan" not in doc:
        doc.add("plan", tomlkit.table())
    plan_table = doc["plan"]
    assert isinstance(plan_table, Table)
    _update(
        plan_table,
        plan_fields,
        _base_keep(_plan_fields(existing) if existing else None, plan_fields),
    )
    for key, items, ident, fields_of, base, derived in (
        (
            "activities",
            plan.activities,
            "ref",
            _activity_fields,
            {a.ref: a for a in existing.activities} if existing else None,
            _ACTIVITY_DERIVED,
        ),
        (
            "reports",
            plan.reports,
            "id",
            _report_fields,
            {r.id: r for r in existing.reports} if existing else None,
            _REPORT_DERIVED,
        ),
    ):
        old = doc.get(key)
        merged = _merge_tables(
            old if isinstance(old, AoT) else None, items, ident, fields_of, base, derived
        )
        if merged is None:
            if key in doc:
                del doc[key]
        elif merged is not old:
            doc[key] = merged


def write_schedule(
    plan: Plan,
    directory: Path,
    *,
    existing: Plan | None = None,
    schema: str | None = SCHEMA_DIRECTIVE,
) -> Path:
    """Write (or update in place) directory/<plan.slug>.toml and return its path.

    `existing`: the plan this file was last written from, for a three-way merge; see the
    module docstring. Raises ScheduleError for an unsafe slug or an existing file that
    cannot be read (it is then left untouched, never overwritten).
    """
    if not valid_slug(plan.slug):
        raise ScheduleError(
            f"Mã kế hoạch “{plan.slug}” không dùng được làm tên tệp.",
            [
                Problem(
                    f"mã kế hoạch “{plan.slug}” chỉ được gồm chữ thường a-z, số và dấu '-'.",
                    key="slug",
                    hint=f"Ví dụ: {slugify(plan.slug)}",
                )
            ],
        )
    path = directory / f"{plan.slug}.toml"
    if path.exists():
        try:
            old_text = path.read_text(encoding="utf-8-sig")
            if old_text == _emit(plan, schema):
                return path  # as we would write it: no hand edits, no source change
            doc = tomlkit.parse(old_text)
        except (TOMLKitError, UnicodeDecodeError, ValueError) as exc:
            problem = Problem(
                "tệp lịch hiện có bị lỗi nên không ghi đè (để không mất chỗ sửa tay).",
                file=str(path),
                line=getattr(exc, "line", None),
                hint="Sửa lỗi (xem `notifier check`) hoặc đổi tên tệp cũ rồi nhập lại.",
            )
            raise ScheduleError(f"{path}: không cập nhật được tệp lịch.", [problem]) from None
        _merge(doc, plan, existing)
        text = tomlkit.dumps(doc)
        if text == old_text:
            return path  # nothing changed: leave the file (and its mtime) alone
    else:
        text = _emit(plan, schema)
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text)
    return path


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers never see half a file."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temporary file beside it, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text)


# --- rows: the plain form review.py merges -------------------------------------------------------

Row = dict[str, Any]


def _row(fields: Sequence[tuple[str, Any]]) -> Row:
    return {key: _plain(value) for key, value in fields if value is not None}


def plan_row(plan: Plan) -> Row:
    """[plan]'s keys → plain values, as the file stores them (absent keys left out)."""
    return _row(_plan_fields(plan))


def activity_row(activity: Activity) -> Row:
    """An [[activities]] table's keys → plain values (dates stay `date`, kinds are text)."""
    return _row(_activity_fields(activity))


def report_row(report: ReportDuty) -> Row:
    return _row(_report_fields(report))


def plan_from_rows(slug: str, plan: Row, activities: Sequence[Row], reports: Sequence[Row]) -> Plan:
    """The Plan of merged rows, validated as a file is (ScheduleError listing every problem)."""
    data = {"plan": plan, "activities": list(activities), "reports": list(reports)}
    try:
        model = ScheduleModel.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(f"{'.'.join(map(str, e['loc']))}: {e['msg']}", key=str(e["loc"][-1]))
            for e in exc.errors()
        ]
        raise ScheduleError(f"Kết quả gộp có {len(problems)} lỗi.", problems) from None
    return _to_plan(model, slug)


def schedule_text(
    plan: Plan,
    old_text: str | None = None,
    *,
    activity_tables: Sequence[int | None] | None = None,
    report_tables: Sequence[int | None] | None = None,
    old_plan: Plan | None = None,
    schema: str | None = SCHEMA_DIRECTIVE,
) -> str:
    """The text of `plan`'s schedule. With `old_text`, that file is updated in place: its
    comments and formatting stay; activity i is written into the old file's table
    `activity_tables[i]` (None: a new table), so a row whose ref shifted keeps its comments.
    Every value is the plan's: the merge has already decided (review.py). `old_plan`, the
    plan `old_text` holds, allows a shortcut: a file exactly as the fast writer writes its
    values holds nothing else to keep, so the new text is written the fast way too."""
    if old_text is None or (old_plan is not None and old_text == _emit(old_plan, schema)):
        return _emit(plan, schema)
    doc = tomlkit.parse(old_text)
    if "plan" not in doc:
        doc.add("plan", tomlkit.table())
    plan_table = doc["plan"]
    assert isinstance(plan_table, Table)
    _update(plan_table, _plan_fields(plan), lambda key: False)
    for key, items, fields_of, origins in (
        ("activities", plan.activities, _activity_fields, activity_tables),
        ("reports", plan.reports, _report_fields, report_tables),
    ):
        old = doc.get(key)
        placed = _place_tables(old if isinstance(old, AoT) else None, items, fields_of, origins)
        if placed is None:
            if key in doc:
                del doc[key]
        elif placed is not old:
            doc[key] = placed
    return tomlkit.dumps(doc)


def _place_tables(
    old: AoT | None,
    items: Sequence[Any],
    fields_of: Callable[[Any], list[tuple[str, Any]]],
    origins: Sequence[int | None] | None,
) -> AoT | None:
    """`items` written into the old tables named by `origins` (by ident when None)."""
    if not items:
        return None
    tables = list(old or [])
    if origins is None:  # pair by the first key (ref / id), each old table used once
        ident = fields_of(items[0])[0][0]
        by_id: dict[Any, int] = {}
        for index, table in enumerate(tables):
            by_id.setdefault(_plain(table.get(ident)), index)
        origins = [by_id.pop(_plain(fields_of(item)[0][1]), None) for item in items]
    never: Keep = lambda key: False
    if old is not None and list(origins) == list(range(len(tables))):
        for table, item in zip(tables, items, strict=True):
            _update(table, fields_of(item), never)
        return old
    out = tomlkit.aot()
    for item, origin in zip(items, origins, strict=True):
        if origin is None or not 0 <= origin < len(tables):
            out.append(_fill(tomlkit.table(), fields_of(item)))
        else:
            table = tables[origin]
            _update(table, fields_of(item), never)
            out.append(table)
    return out
