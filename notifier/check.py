"""`notifier check`: is config.toml usable, and does every schedule fit it?

Public: `check(config_path, schedules_dir=None, *, today, environ=None) -> list[Problem]`,
`summary(problems) -> str` ("2 lỗi, 1 cảnh báo"), `write_schemas(directory) -> list[Path]`.

What it finds, each with file, line and key:
- errors: config.toml and schedule files that do not validate (config.py, schedules.py);
  unit names in a schedule that the directory does not know (with the closest name);
  two [[reports.deadlines]] entries for one report;
- warnings: units no longer valid on `today` (who receives their mail instead); report
  deadlines leaving under one working day after the data cut-off (Nghị định 09/2019
  Art. 8(5)(b), computed by reporting.py); report duties with no configured deadline;
  datable activities without an end date; calendar extras that change nothing;
- notes (severity "info"): dates an admin changed by hand, i.e. start/end/kind in the
  file differ from what the timing text parses to (the file wins).
`today` is an argument (the clock is read only by the CLI). Not here: how problems are
printed (cli.py), the rules themselves (reporting.py, workdays.py, units.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from notifier.config import Config, config_schema, read_config
from notifier.errors import Problem, ScheduleError
from notifier.plan import Plan
from notifier.schedules import ScheduleFile, draft_notices, read_schedule, schedule_paths, schedule_schema
from notifier.tomlfile import key_label, sentence

__all__ = ["SCHEMA_FILES", "check", "summary", "write_schemas"]

_UNIT_HINT = "Thêm đơn vị (hoặc tên khác trong aliases) vào [[units]] của config.toml, hoặc sửa tên trong tệp lịch."
_DATABLE = {"range", "date", "deadline", "continuous"}


def check(
    config_path: Path,
    schedules_dir: Path | None = None,
    *,
    today: date,
    environ: Mapping[str, str] | None = None,
    loaded: dict[str, Plan] | None = None,
) -> list[Problem]:
    """Every problem with config.toml and the schedules, config first, each file by line.

    `loaded`, if given, receives each schedule file's plan that could be read (by path), so a
    caller that checks and then uses the plans (the daemon) parses every file only once."""
    problems: list[Problem] = []
    if not config_path.exists():
        problems.append(
            Problem(
                "không có tệp cấu hình; dùng cấu hình mặc định (chưa có đơn vị nào).",
                file=str(config_path),
                severity="warning",
                hint="Chép config.toml mẫu của dự án, rồi sửa danh mục đơn vị.",
            )
        )
    config, found = read_config(config_path, environ=environ, missing_ok=True)
    problems += found
    if config is not None:
        problems += _config_findings(config)
    folder = schedules_dir or (
        config.schedules_path() if config is not None else config_path.parent / "schedules"
    )
    if not folder.is_dir():
        problems.append(
            Problem(
                "thư mục lịch không tồn tại; chưa nhập kế hoạch nào.",
                file=str(folder),
                severity="warning",
                hint="Chạy `notifier import TỆP_KẾ_HOẠCH`.",
            )
        )
        return problems
    for path in schedule_paths(folder):
        try:
            schedule = read_schedule(path)
        except ScheduleError as exc:
            problems += exc.problems
            continue
        if loaded is not None:
            loaded[str(path)] = schedule.plan
        if config is not None:
            problems += _schedule_findings(schedule, config, today)
    return problems + draft_notices(folder)  # drafts wait for `notifier approve` (a note)


def summary(problems: list[Problem]) -> str:
    """ "2 lỗi, 1 cảnh báo" (and notes), or "Không có lỗi." """
    counts = {s: sum(1 for p in problems if p.severity == s) for s in ("error", "warning", "info")}
    parts = [f"{counts['error']} lỗi", f"{counts['warning']} cảnh báo"]
    if counts["info"]:
        parts.append(f"{counts['info']} ghi chú")
    if not any(counts.values()):
        return "Không có lỗi."
    return ", ".join(parts)


# --- config-wide findings ------------------------------------------------------------------------


def _config_findings(config: Config) -> list[Problem]:
    from notifier.reporting import deadline_problems

    found: list[Problem] = []
    try:
        calendar = config.work_calendar()
    except ValueError:
        return found  # read_config already reported the contradiction
    found += deadline_problems(
        config.deadline_rules(), calendar, config.calendar.deadline_on_day_off
    )
    for text in calendar.problems():
        found.append(_calendar_warning(config, text))
    return sorted(found, key=lambda p: p.line or 0)


_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _calendar_warning(config: Config, text: str) -> Problem:
    """Place a workdays.py warning ("extra_days_off: ngày 02/01/2026 …") on its list element."""
    key, _, message = text.partition(": ")
    path: tuple[str | int, ...] = ("calendar", key)
    values = getattr(config.calendar, key, None)
    value: Any = None
    m = _DMY.search(message)
    if m and isinstance(values, list):
        day = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        if day in values:
            path, value = ("calendar", key, values.index(day)), day
    return Problem(
        sentence(message or text),
        file=config.file,
        line=config.line(*path),
        key=key_label(path, value, config._lines),
        severity="warning",
    )


# --- per-schedule findings -----------------------------------------------------------------------


def _schedule_findings(loaded: ScheduleFile, config: Config, today: date) -> list[Problem]:
    found = _unit_findings(loaded, config, today)
    found += _timing_findings(loaded)
    found += _report_findings(loaded, config)
    return sorted(found, key=lambda p: p.line or 0)


def _problem(
    loaded: ScheduleFile,
    path: tuple[str | int, ...],
    value: Any,
    message: str,
    hint: str = "",
    severity: str = "error",
) -> Problem:
    return Problem(
        sentence(message),
        file=loaded.file,
        line=loaded.line(*path),
        key=key_label(path, value, loaded.lines),
        hint=hint,
        severity=severity,
    )


def _unit_findings(loaded: ScheduleFile, config: Config, today: date) -> list[Problem]:
    """Unknown unit names (errors, one per place) and superseded units (one warning per unit)."""
    directory = config.directory()
    found: list[Problem] = []
    uses: dict[str, list[tuple[str, tuple[str | int, ...]]]] = {}

    def names(
        table: str, n: int, ref: str, key: str, values: list[str], text_key: str, text: str
    ) -> None:
        if values:
            for j, name in enumerate(values):
                unit = directory.get(name)
                if unit is None:
                    guess = directory.closest(name)
                    found.append(
                        _problem(
                            loaded, (table, n, key, j), name, _unknown(name, guess), _UNIT_HINT
                        )
                    )
                else:
                    uses.setdefault(unit.name, []).append((ref, (table, n, key, j)))
        elif text.strip():
            split = directory.split(text)
            for piece in split.unknown:
                found.append(
                    _problem(
                        loaded,
                        (table, n, text_key),
                        text,
                        _unknown(piece, directory.closest(piece)),
                        _UNIT_HINT,
                    )
                )
            for name in split.names:
                uses.setdefault(name, []).append((ref, (table, n, text_key)))

    plan = loaded.plan
    for n, act in enumerate(plan.activities):
        names("activities", n, act.ref, "lead", act.lead, "lead_text", act.lead_text)
        names(
            "activities",
            n,
            act.ref,
            "coordinating",
            act.coordinating,
            "coordinating_text",
            act.coordinating_text,
        )
    for n, duty in enumerate(plan.reports):
        names(
            "reports",
            n,
            duty.label,
            "to",
            [duty.to] if duty.to else [],
            "to_text",
            duty.to_text,
        )
        names(
            "reports",
            n,
            duty.label,
            "owners",
            duty.owners,
            "owners_text",
            duty.owners_text,
        )
    for name, places in uses.items():
        notes = directory.changes(name, on=today)
        if not notes:
            continue
        refs = list(dict.fromkeys(ref for ref, _ in places))
        shown = ", ".join(refs[:6]) + (f" và {len(refs) - 6} chỗ khác" if len(refs) > 6 else "")
        path = places[0][1]
        found.append(
            _problem(
                loaded,
                path,
                name,
                f"“{name}” (dùng ở {shown}): " + " ".join(notes),
                "Không cần sửa nếu đúng; sửa valid_until/successors trong config.toml nếu sai.",
                severity="warning",
            )
        )
    return found


def _unknown(name: str, guess: str | None) -> str:
    if guess:
        return f"không tìm thấy đơn vị “{name}” trong danh mục; có phải là “{guess}”?"
    return f"không tìm thấy đơn vị “{name}” trong danh mục"


def _timing_findings(loaded: ScheduleFile) -> list[Problem]:
    """Hand-edited dates (info) and datable activities that lost their end date (warning)."""
    from notifier.timing import parse_timing

    plan = loaded.plan
    found: list[Problem] = []
    parser_ready = True
    for n, act in enumerate(plan.activities):
        t = act.timing
        if str(t.kind) in _DATABLE and t.end is None:
            found.append(
                _problem(
                    loaded,
                    ("activities", n, "kind"),
                    str(t.kind),
                    "hoạt động có loại thời gian này nhưng không có ngày kết thúc (end) nên "
                    "không được nhắc",
                    f"Ví dụ: end = {date(plan.year or 2024, 6, 30).isoformat()}",
                    severity="warning",
                )
            )
        if not parser_ready or not t.text.strip():
            continue
        try:
            parsed = parse_timing(t.text, year=plan.year, deadline=plan.timing_is_deadline)
        except NotImplementedError:  # timing parser not built yet: nothing to compare with
            parser_ready = False
            continue
        ours = (str(parsed.kind), parsed.start, parsed.end)
        theirs = (str(t.kind), t.start, t.end)
        if ours == theirs:
            continue
        key = "start" if parsed.start != t.start else "end" if parsed.end != t.end else "kind"
        value = {"start": t.start, "end": t.end, "kind": str(t.kind)}[key]
        found.append(
            _problem(
                loaded,
                ("activities", n, key),
                value,
                f"ngày đã được sửa tay: “{t.text}” cho {_span(*ours)}, tệp dùng {_span(*theirs)} (ngày trong tệp "
                "được dùng)",
                severity="info",
            )
        )
    return found


def _span(kind: str, start: date | None, end: date | None) -> str:
    def day(d: date | None) -> str:
        return d.strftime("%d/%m/%Y") if d else "?"

    if start is None and end is None:
        return f"{kind} (không có ngày)"
    if start == end or start is None:
        return f"{kind} {day(end)}"
    return f"{kind} {day(start)}–{day(end)}"


def _report_findings(loaded: ScheduleFile, config: Config) -> list[Problem]:
    """Report duties whose deadline config.toml does not give (warnings). A quarterly or
    monthly duty needs a deadline for every quarter or month of the plan's year."""
    from notifier.reporting import Period, period_label, report_deadline

    plan = loaded.plan
    found: list[Problem] = []
    if not plan.reports:
        return found
    try:
        calendar = config.work_calendar()
    except ValueError:
        return found
    rules = config.deadline_rules()
    for n, duty in enumerate(plan.reports):
        if plan.year is None:
            found.append(
                _problem(
                    loaded,
                    ("plan", "year"),
                    None,
                    f"kế hoạch không ghi năm nên không tính được hạn báo cáo “{duty.id}”",
                    "Ví dụ: year = 2024",
                    severity="warning",
                )
            )
            continue
        period = Period.parse(duty.period)
        indexes = (
            range(1, period.count + 1) if period in (Period.MONTHLY, Period.QUARTERLY) else [None]
        )
        missing = []
        for index in indexes:
            result = report_deadline(
                period,
                plan.year,
                rules,
                calendar,
                config.calendar.deadline_on_day_off,
                to=duty.to or None,
                index=index,
            )
            if not result:
                missing.append((index, getattr(result, "reason", "")))
        if not missing:
            continue
        if len(missing) == 1:
            message = missing[0][1]
        else:
            labels = ", ".join(period_label(period, plan.year, i) for i, _ in missing)
            message = (
                f"Cấu hình chưa có hạn báo cáo {labels}. Thêm các mục [[reports.deadlines]] với "
                f'period = "{period.value}", year = {plan.year}, index, date và wording'
            )
        found.append(
            _problem(loaded, ("reports", n, "period"), duty.period, message, severity="warning")
        )
    return found


# --- JSON Schemas --------------------------------------------------------------------------------

SCHEMA_FILES = {"config.schema.json": config_schema, "schedule.schema.json": schedule_schema}


def write_schemas(directory: Path) -> list[Path]:
    """Write the JSON Schemas of config.toml and schedule files into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in SCHEMA_FILES.items():
        path = directory / name
        path.write_text(json.dumps(build(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
