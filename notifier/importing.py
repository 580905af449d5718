"""The import use case: a plan document + config → a resolved Plan, a draft, its approval.

Public: `import_plan(path, config, *, year, today) -> Plan` (read the document, resolve
unit cells through the directory as of `today`, suggest key dates from the config's
observances); `save_plan(plan, config) -> Review` (merge with the live schedule and write
the draft schedules/<slug>.draft.toml); `review_import(plan, directory) -> Review` (the
same without writing: `notifier diff SOURCE`); `review_draft(draft) -> Review`;
`approve(draft, *, now) -> Approved` (publish a draft); `summary(plan) -> ImportSummary`.

Files (docs/importing.md, "Duyệt trước khi dùng"), all under the schedules folder:
- `<slug>.toml`: the live schedule, the only one the daemon, feeds and reminders read;
- `<slug>.draft.toml`: the merged result waiting for approval (marked in its first lines);
- `.imported/<slug>.toml`: what the source gave at the last approval (the merge's base);
- `.imported/<slug>.draft.toml` + `.draft.json`: what this import gave, and the hashes of
  the live file and the draft when the draft was written (approve re-merges if the live
  file was edited since, and refuses if both were);
- `.history/<slug>.<YYYYmmddTHHMMSS>.toml`: the live file as it was before each approval.
Every write is atomic (schedules.write_text). Not here: reading formats (importers/),
matching names (units.py), the merge and diff (review.py), the file format (schedules.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from notifier.config import Config
from notifier.errors import Problem, ScheduleError, UserError
from notifier.importers import Progress, read_plan
from notifier.plan import Plan
from notifier.review import Changes, Conflict, diff, merge
from notifier.schedules import (
    SCHEMA_DIRECTIVE,
    draft_path,
    is_draft,
    live_path,
    plan_from_rows,
    read_schedule,
    schedule_text,
    write_text,
)
from notifier.units import resolve_plan

__all__ = [
    "Approved",
    "ImportSummary",
    "Review",
    "approve",
    "base_path",
    "import_plan",
    "review_draft",
    "review_import",
    "save_plan",
    "summary",
]

IMPORTED = ".imported"
HISTORY = ".history"


def import_plan(
    path: Path, config: Config, *, year: int | None, today: date, progress: Progress | None = None
) -> Plan:
    """Read `path` into a Plan whose unit cells are resolved and key dates suggested;
    `progress(stage, done, total)` hears about long reads (pages, rows)."""
    plan = read_plan(path, year=year, observances=config.observances(), progress=progress)
    resolve_plan(plan, config.directory(), on=today)
    return plan


# --- drafts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Review:
    """An import (or a draft) against the live schedule: what approving it would change.

    `written` is the draft file when one was written (None: nothing to approve)."""

    slug: str
    live: Path
    draft: Path
    result: Plan
    text: str  # the draft's text, without the draft mark
    changes: Changes
    written: Path | None = None


def base_path(directory: Path, slug: str) -> Path:
    """What the source gave at the last approval: the merge's base."""
    return directory / IMPORTED / f"{slug}.toml"


def _pending_path(directory: Path, slug: str) -> Path:
    return directory / IMPORTED / f"{slug}.draft.toml"


def _meta_path(directory: Path, slug: str) -> Path:
    return directory / IMPORTED / f"{slug}.draft.json"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None


def _digest(text: str | None) -> str | None:
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None


def _optional_plan(path: Path) -> Plan | None:
    """A bookkeeping file's plan; a missing or unreadable one is as if there were none
    (the merge then keeps derived values while their cells are unchanged)."""
    try:
        return read_schedule(path).plan if path.exists() else None
    except ScheduleError:
        return None


def review_import(plan: Plan, directory: Path) -> Review:
    """Merge an import with the live schedule (three-way, with the stored base). Writes nothing.

    Raises ScheduleError when the live file has errors: it is never merged over (hand
    edits could be lost); fix it first (`notifier check`)."""
    live = directory / f"{plan.slug}.toml"
    live_text = _read(live)
    live_plan = read_schedule(live).plan if live_text is not None else None
    merged = merge(_optional_plan(base_path(directory, plan.slug)), plan, live_plan)
    result = plan_from_rows(plan.slug, merged.plan, merged.activities, merged.reports)
    changes = diff(live_plan, result, merged.conflicts)
    if live_text is not None and not changes.changes_schedule:
        text = live_text  # nothing to write: skip tomlkit (seconds for thousands of rows)
    else:
        text = schedule_text(
            result,
            live_text,
            activity_tables=merged.activity_tables,
            report_tables=merged.report_tables,
            old_plan=live_plan,
        )
    return Review(plan.slug, live, draft_path(directory, plan.slug), result, text, changes)


def review_draft(draft: Path) -> Review:
    """A draft (perhaps edited by hand since) against the live schedule; conflicts come
    from merging again the import the draft was made from."""
    if not draft.exists():
        raise UserError(
            f"Không có bản nháp {draft}.",
            [
                Problem(
                    "không có tệp này.",
                    file=str(draft),
                    hint="Chạy `notifier import TỆP_KẾ_HOẠCH`.",
                )
            ],
        )
    directory, result = draft.parent, read_schedule(draft).plan
    live = live_path(draft)
    live_plan = read_schedule(live).plan if live.exists() else None
    incoming = _optional_plan(_pending_path(directory, result.slug))
    conflicts: tuple[Conflict, ...] = ()
    if incoming is not None and live_plan is not None:
        base = _optional_plan(base_path(directory, result.slug))
        conflicts = merge(base, incoming, live_plan).conflicts
    text = _unmark(_read(draft) or "")
    return Review(result.slug, live, draft, result, text, diff(live_plan, result, conflicts), draft)


def save_plan(plan: Plan, config: Config | Path) -> Review:
    """Merge the import with the live schedule and write it as a draft (never the live file).

    A new import replaces the plan's older draft; no draft is written (and the older one is
    removed) when approving would change nothing: same schedule, same source as the last
    approval. A draft edited by hand since it was written is never replaced (UserError)."""
    directory = config if isinstance(config, Path) else config.schedules_path()
    review = review_import(plan, directory)
    source_text = schedule_text(plan)
    pending, meta = _pending_path(directory, plan.slug), _meta_path(directory, plan.slug)
    _refuse_edited_draft(review.draft, _read(meta))
    if (
        not review.changes.changes_schedule
        and _read(base_path(directory, plan.slug)) == source_text
    ):
        for stale in (review.draft, pending, meta):
            stale.unlink(missing_ok=True)
        return review
    marked = _mark(review.text, review.draft)
    write_text(pending, source_text)
    write_text(review.draft, marked)
    record = {"live_sha256": _digest(_read(review.live)), "draft_sha256": _digest(marked)}
    write_text(meta, json.dumps(record, indent=2) + "\n")
    return dataclasses.replace(review, written=review.draft)


def _refuse_edited_draft(draft: Path, meta: str | None) -> None:
    """A pending draft that differs from what was written (or has no record) holds edits."""
    text = _read(draft)
    if text is None:
        return
    try:
        written = json.loads(meta)["draft_sha256"] if meta else None
    except (ValueError, KeyError, TypeError):
        written = None
    if written != _digest(text):
        raise UserError(
            f"Chưa nhập: bản nháp {draft} đã được sửa tay và chưa duyệt.",
            [Problem("bản nháp có chỗ sửa tay; nhập lại sẽ ghi đè mất.", file=str(draft),
                     hint=f"Duyệt nó trước (notifier approve {draft}), hoặc xóa tệp này rồi nhập lại.")],
        )  # fmt: skip


# The draft's mark: read by people (and editors), removed on approval.
_MARK = "# BẢN NHÁP, CHƯA DÙNG: notifier chưa xuất lịch hay gửi nhắc việc theo tệp này."


def _mark(text: str, draft: Path) -> str:
    lines = [
        _MARK,
        f"# Xem thay đổi: notifier diff {draft}  ·  duyệt để dùng: notifier approve {draft}",
    ]
    if text.startswith(SCHEMA_DIRECTIVE):  # the directive must stay the first line
        first, _, rest = text.partition("\n")
        return "\n".join([first, *lines, rest])
    return "\n".join([*lines, text])


def _unmark(text: str) -> str:
    lines = text.split("\n")
    for index, line in enumerate(lines[:4]):
        if line.startswith(_MARK):
            drop = (
                2 if index + 1 < len(lines) and lines[index + 1].startswith("# Xem thay đổi") else 1
            )
            return "\n".join(lines[:index] + lines[index + drop :])
    return text


# --- approval ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Approved:
    """A published draft: the live file, the backup of the previous version, what changed."""

    live: Path
    backup: Path | None
    changes: Changes


def approve(draft: Path, *, now: datetime) -> Approved:
    """Publish a draft: back up the live file under .history/, replace it atomically, and
    record the draft's import as the next merge's base. The daemon sees the new file on its
    next reload. Raises (changing nothing) when the draft has errors, or when both the live
    file and the draft were edited since the import."""
    if not is_draft(draft):
        raise UserError(
            f"{draft} không phải bản nháp.",
            [Problem("bản nháp có tên <mã>.draft.toml.", file=str(draft),
                     hint="Duyệt văn bản kế hoạch: notifier approve TỆP_KẾ_HOẠCH")],
        )  # fmt: skip
    review = review_draft(draft)
    directory, slug = draft.parent, review.slug
    live_text = _read(review.live)
    meta = _read(_meta_path(directory, slug))
    record = json.loads(meta) if meta else {}
    text = review.text
    if record and record.get("live_sha256") != _digest(live_text):
        incoming = _optional_plan(_pending_path(directory, slug))
        if record.get("draft_sha256") != _digest(_read(draft)) or incoming is None:
            raise UserError(
                f"Chưa duyệt {draft}: cả lịch đang dùng và bản nháp đều đã được sửa sau khi nhập.",
                [Problem("lịch đang dùng đã được sửa sau khi tạo bản nháp.", file=str(review.live),
                         hint="Nhập lại văn bản kế hoạch (notifier import …) để gộp lại, rồi duyệt.")],
            )  # fmt: skip
        review = review_import(incoming, directory)  # the live file changed: merge again
        text = review.text
    backup = None
    if live_text is not None:
        backup = _backup_path(directory, slug, now)
        write_text(backup, live_text)
    write_text(review.live, text)
    pending = _pending_path(directory, slug)
    if pending.exists():
        os.replace(pending, base_path(directory, slug))
    for done in (draft, _meta_path(directory, slug)):
        done.unlink(missing_ok=True)
    return Approved(review.live, backup, review.changes)


def _backup_path(directory: Path, slug: str, now: datetime) -> Path:
    stem = f"{slug}.{now:%Y%m%dT%H%M%S}"
    path, n = directory / HISTORY / f"{stem}.toml", 1
    while path.exists():
        n += 1
        path = directory / HISTORY / f"{stem}-{n}.toml"
    return path


@dataclass(frozen=True, slots=True)
class ImportSummary:
    activities: int
    datable: int
    kinds: dict[str, int]
    units_matched: int
    units_unknown: int
    reports: int
    errors: int
    warnings: int


def summary(plan: Plan) -> ImportSummary:
    """Counts an admin checks after an import."""
    kinds = Counter(a.timing.kind.value for a in plan.activities)
    names = {n for a in plan.activities for n in (*a.lead, *a.coordinating)}
    unknown = sum(
        1
        for p in plan.problems
        if p.key in {"lead", "coordinating"} or "Không tìm thấy đơn vị" in p.message
    )
    return ImportSummary(
        activities=len(plan.activities),
        datable=sum(1 for a in plan.activities if a.timing.datable),
        kinds=dict(sorted(kinds.items())),
        units_matched=len(names),
        units_unknown=unknown,
        reports=len(plan.reports),
        errors=sum(1 for p in plan.problems if p.severity == "error"),
        warnings=sum(1 for p in plan.problems if p.severity == "warning"),
    )
