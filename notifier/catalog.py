"""Loading what feeds are built from: config.toml + schedules/ → a publish.Catalog.

Owns: `load_catalog(config_path, *, now)` (the loader FeedCache calls on every
rebuild), `feed_settings(config)`, `duty_deadlines(...)` (report duties → computed
deadlines for events.py), `read_tokens(...)` (secret feed tokens per unit slug).

Facts relied on: schedules are resolved against the unit directory as of `now` (units
that ended get their successors, with warnings kept as problems); report deadlines
come from config ([[reports.deadlines]]) through reporting.report_deadline, never from
code; feed tokens are secrets, so they come from the environment
(NOTIFIER_FEED_TOKENS="slug=token,slug=token") or a file named by
NOTIFIER_FEED_TOKENS_FILE or [feeds] tokens_file, kept outside the repository, in TOML
(`so-ngoai-vu = "…"`) — never from config.toml itself.
Not here: parsing config (config.py), schedule files (schedules.py), building (feeds.py).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.errors import ConfigError, Problem
from notifier.events import DutyDeadline
from notifier.feeds import FeedSettings
from notifier.plan import Plan, ReportDuty
from notifier.publish import Catalog
from notifier.text import slugify

__all__ = ["load_catalog", "feed_settings", "duty_deadlines", "read_tokens", "parse_duration"]

STATE_FILE = "feeds-state.json"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


def parse_duration(value: str | timedelta, *, key: str) -> timedelta:
    """An RFC 5545 duration ("PT1H", "-PT15H", "P1D") or a timedelta."""
    if isinstance(value, timedelta):
        return value
    from icalendar import vDuration

    from_ical: Callable[[str], timedelta] = vDuration.from_ical  # unannotated in icalendar
    try:
        return from_ical(str(value).strip())
    except ValueError:
        raise ConfigError(
            f"[feeds] {key} = {value!r}: không phải khoảng thời gian RFC 5545.",
            [Problem(f"{value!r} không phải khoảng thời gian", key=f"[feeds] {key}",
                     hint='Ví dụ: "PT1H" (1 giờ), "P1D" (1 ngày), "-PT15H" (15 giờ trước).')],
        ) from None


def _section(config: Any, name: str) -> Any:
    return getattr(config, name, None)


def feed_settings(config: Any) -> FeedSettings:
    """FeedSettings from [notifier] and [feeds]; defaults where [feeds] says nothing."""
    base = _section(config, "notifier")
    feeds = _section(config, "feeds")
    province = getattr(base, "province", "") or ""
    defaults = FeedSettings()
    refresh = getattr(feeds, "refresh_interval", None) or defaults.refresh_interval
    ttl = getattr(feeds, "published_ttl", None) or refresh
    alarms = tuple(parse_duration(a, key="alarms") for a in (getattr(feeds, "alarms", None) or ()))
    return FeedSettings(
        refresh_interval=parse_duration(refresh, key="refresh_interval"),
        published_ttl=parse_duration(ttl, key="published_ttl"),
        alarms=alarms,
        timezone=getattr(base, "timezone", "") or defaults.timezone,
        public_url=(getattr(base, "public_url", "") or "").rstrip("/"),
        uid_domain=f"{slugify(province)}.notifier" if province else defaults.uid_domain,
    )


def _years(plan: Plan) -> list[int]:
    if plan.year:
        return [plan.year]
    years = {
        y
        for a in plan.activities
        if a.timing.end is not None
        for y in range((a.timing.start or a.timing.end).year, a.timing.end.year + 1)
    }
    if not years and plan.date:
        years.add(plan.date.year)
    return sorted(years)


def duty_deadlines(
    plan: Plan, rules: Sequence[Any], calendar: Any, on_day_off: Any, directory: Any
) -> tuple[dict[str, list[DutyDeadline]], list[Problem]]:
    """Each report duty's configured deadlines in the plan's years, and what is missing."""
    from notifier.reporting import NoDeadline, Period, report_deadline

    out: dict[str, list[DutyDeadline]] = {}
    problems: list[Problem] = []
    for duty in plan.reports:
        try:
            period = Period.parse(duty.period)
        except ValueError as exc:
            problems.append(Problem(str(exc), key=f"báo cáo {duty.id}", severity="warning"))
            continue
        to = _canonical(directory, duty)
        for year in _years(plan):
            for index in _indexes(period, year, rules):
                found = report_deadline(period, year, rules, calendar, on_day_off, to=to, index=index)
                if isinstance(found, NoDeadline):
                    problems.append(Problem(found.reason, key=f"báo cáo {duty.id}", severity="warning"))
                    continue
                wording = found.stated.text + (f". {found.note}" if found.note else "")
                key = f"{year}" if index is None else f"{year}-{index}"
                out.setdefault(duty.id, []).append(DutyDeadline(duty.id, key, found.due, found.label, wording))
    return out, problems


def _canonical(directory: Any, duty: ReportDuty) -> str | None:
    name = duty.to or duty.to_text
    unit = directory.get(name) if name else None
    return unit.name if unit is not None else (name or None)


def _indexes(period: Any, year: int, rules: Sequence[Any]) -> list[int | None]:
    """Same reading as reminders.py: every month/quarter; first half, second if configured."""
    from notifier.reporting import Period

    if period is Period.HALF_YEAR:
        second = any(r.period is period and r.year == year and r.index == 2 for r in rules)
        return [1, 2] if second else [1]
    if period.count == 1:
        return [None]
    return list(range(1, period.count + 1))


def read_tokens(
    environ: Mapping[str, str], tokens_file: Path | None, slugs: set[str]
) -> tuple[dict[str, str], list[Problem]]:
    """Secret feed tokens by unit slug: the file first, then NOTIFIER_FEED_TOKENS over it."""
    tokens: dict[str, str] = {}
    problems: list[Problem] = []
    path = environ.get("NOTIFIER_FEED_TOKENS_FILE") or (str(tokens_file) if tokens_file else "")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Không thấy tệp mã bí mật của lịch: {path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Tệp mã bí mật của lịch {path} không đọc được: {exc}") from None
        table = data.get("tokens", data)
        tokens.update({str(k): str(v) for k, v in table.items() if isinstance(v, str)})
    for pair in filter(None, (p.strip() for p in environ.get("NOTIFIER_FEED_TOKENS", "").split(","))):
        slug, _, token = pair.partition("=")
        tokens[slug.strip()] = token.strip()
    for slug, token in list(tokens.items()):
        if not _TOKEN.match(token):
            raise ConfigError(
                f"Mã bí mật của lịch “{slug}” không hợp lệ: cần 8–128 ký tự A-Z, a-z, 0-9, '-' hoặc '_'."
            )
        if slug not in slugs:
            problems.append(Problem(f"mã bí mật cho “{slug}” nhưng không có đơn vị nào có mã này",
                                    key="NOTIFIER_FEED_TOKENS", severity="warning"))  # fmt: skip
            del tokens[slug]
    return tokens, problems


def load_catalog(
    config_path: Path, *, now: datetime, environ: Mapping[str, str] | None = None
) -> Catalog:
    """Read config.toml and schedules/, resolve units as of `now`, compute report deadlines."""
    from notifier.config import load_config
    from notifier.schedules import load_schedules
    from notifier.units import resolve_plan

    environ = os.environ if environ is None else environ
    config = load_config(config_path)
    directory = config.directory()
    schedules = Path(config.schedules_path())
    plans, problems = load_schedules(schedules)
    problems = list(problems)
    on: date = now.date()
    rules = config.deadline_rules()
    calendar = config.work_calendar()
    on_day_off = config.calendar.deadline_on_day_off
    deadlines: dict[str, dict[str, list[DutyDeadline]]] = {}
    for plan in plans:
        resolve_plan(plan, directory, on=on)
        found, missing = duty_deadlines(plan, rules, calendar, on_day_off, directory)
        deadlines[plan.slug] = found
        problems += missing
    feeds = _section(config, "feeds")
    tokens_file = getattr(feeds, "tokens_file", None)
    base = config_path.parent
    tokens_path = (base / tokens_file) if tokens_file else None
    tokens, token_problems = read_tokens(environ, tokens_path, {u.slug for u in directory})
    watch = [config_path, schedules]
    if tokens_path is not None:
        watch.append(tokens_path)
    return Catalog(
        plans=tuple(plans),
        directory=directory,
        settings=feed_settings(config),
        deadlines=deadlines,
        tokens=tokens,
        watch=tuple(watch),
        state_path=Path(config.var_path()) / STATE_FILE,
        problems=tuple(problems + token_problems),
    )
