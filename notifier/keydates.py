"""Dates hidden in an activity's content, suggested as key dates inside its window.

"Gặp mặt … nhân dịp Quốc khánh Lào (02/12/2024)" under "Tháng 12/2024" points to 02/12;
"kỷ niệm 55 năm thiết lập quan hệ Ngoại giao Việt Nam - Thụy Điển (1969 - 2024)" under
"Trong năm 2024" points to the anniversary, 11/01/2024. The plan's window stays the
truth: these are suggestions (`KeyDate.accepted=False`) that an admin accepts in the
schedule.

Public: `Observance` (a recurring day from the config's [[observances]] and
[[anniversaries]]: solar or lunar month/day, founding year for anniversaries),
`suggest_key_dates(activity, observances)`, `anniversary_problems(activity,
observances)` (the content's "n năm (a - b)" disagreeing with itself, the window year
or the configured founding year) and `apply_key_dates(plan, observances)`.

Rules: explicit dates count when they fall inside the activity's window (a date
without a year takes the window's year); dates of cited documents ("Quyết định số
208/QĐ-TTg ngày 14/02/2011") are skipped. An observance counts when one of its
keywords occurs in the content (notifier.text.fold: case, NFD, tone placement); an
anniversary also needs an anniversary cue ("kỷ niệm", "thiết lập", "thành lập",
"quan hệ ngoại giao"), so "Chúc mừng năm mới Nhật Bản" does not suggest 21/9. Lunar
observances are converted with workdays.lunar_to_solar (Vietnamese calendar, UTC+7).
Not here: loading the config tables (config.py), dating the window (timing.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from notifier.errors import Problem
from notifier.plan import Activity, KeyDate
from notifier.text import COMBINING_MARKS, fold
from notifier.workdays import lunar_to_solar

if TYPE_CHECKING:
    from notifier.plan import Plan

__all__ = [
    "Observance",
    "anniversary_problems",
    "apply_key_dates",
    "suggest_key_dates",
]


@dataclass(frozen=True, slots=True)
class Observance:
    """A recurring day: "Quốc khánh Lào" 12-02, or an anniversary with its founding year."""

    name: str
    keywords: tuple[str, ...]
    month: int
    day: int
    lunar: bool = False
    founded: int | None = None

    def on(self, year: int) -> list[date]:
        """Its solar dates that fall in `year` (a lunar date may fall in Jan of year+1)."""
        if not self.lunar:
            try:
                return [date(year, self.month, self.day)]
            except ValueError:  # 29 February in a common year
                return []
        found = (lunar_to_solar(self.day, self.month, y) for y in (year - 1, year))
        return [d for d in found if d is not None and d.year == year]


_DIGIT = re.compile(r"\d")
_FULL = re.compile(r"(?<!\d)(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})(?!\d)")
_WORDS = re.compile(r"\bngay\s+(\d{1,2})\s+thang\s+(\d{1,2})(?:\s+nam\s+(\d{4}))?", re.IGNORECASE)
_PARTIAL = re.compile(r"(?<![\d/.-])(\d{1,2})/(\d{1,2})(?![\d/]|\.\d)")
_CITATION = re.compile(r"\bso\s*[:.]?\s*\d+\w*\s*/\s*\S+\s+(?:ngay\s+)?$")
_CUE = re.compile(r"nhan\s+dip|vao\s+dip|dip|nhan\s+ngay|vao\s+ngay|ky\s+niem|ngay")
_ANNIVERSARY_CUE = ("kỷ niệm", "thiết lập", "thành lập", "quan hệ ngoại giao")
_COUNT = re.compile(r"\bky\s+niem\s+(?:lan\s+thu\s+)?(\d{1,3})\s+nam\b")
_SPAN = re.compile(r"\(\s*(\d{4})\s*-\s*(\d{4})\s*\)")


def _ascii(text: str) -> str:
    from notifier.importers.cells import flat_ascii  # same-length folding, offsets kept

    return flat_ascii(text)


def _window(activity: Activity) -> tuple[date, date] | None:
    timing = activity.timing
    if timing.end is None:
        return None
    return timing.start or date(timing.end.year, 1, 1), timing.end


def _explicit(content: str, window: tuple[date, date] | None) -> list[KeyDate]:
    if not _DIGIT.search(content):
        return []
    folded = _ascii(content)
    found: dict[date, KeyDate] = {}
    spans: list[tuple[int, int]] = []
    for pattern in (_FULL, _WORDS, _PARTIAL):
        for m in pattern.finditer(folded):
            if any(s <= m.start() < e for s, e in spans):
                continue
            spans.append((m.start(), m.end()))
            if _CITATION.search(folded[max(0, m.start() - 60) : m.start()]):
                continue  # the date of a cited document, not of the activity
            day = _make_date(m, window)
            if day is None or (window and not window[0] <= day <= window[1]):
                continue
            found.setdefault(day, KeyDate(day, _label(content, folded, m.start()), "content"))
    return list(found.values())


def _make_date(m: re.Match[str], window: tuple[date, date] | None) -> date | None:
    d, mo = int(m.group(1)), int(m.group(2))
    year_text = m.group(3) if m.re.groups >= 3 else None
    year = int(year_text) if year_text else (window[0].year if window else None)
    if year is None:
        return None
    try:
        return date(year, mo, d)
    except ValueError:
        return None


def _label(content: str, folded: str, at: int) -> str:
    """What the date marks: the words before it, after "nhân dịp"/"kỷ niệm" when present."""
    start = max(folded.rfind(sep, 0, at) for sep in (",", ";", ":")) + 1
    head = folded[start:at]
    cue = None
    for cue in _CUE.finditer(head):
        pass
    if cue is not None:
        start += cue.end()
    label = content[start:at].strip(" (-")
    words = label.split()
    return " ".join(words[-8:]) if words else " ".join(content.split()[:8])


@lru_cache(maxsize=1024)
def _keyword(keyword: str) -> re.Pattern[str] | None:
    """A whole-word pattern for a folded keyword ("Lào" must not match "Lao")."""
    key = fold(keyword)
    if not key:
        return None
    return re.compile(rf"(?<![\w{COMBINING_MARKS}]){re.escape(key)}(?![\w{COMBINING_MARKS}])")


_CUES = tuple(fold(c) for c in _ANNIVERSARY_CUE)


def _matching(activity: Activity, observances: Sequence[Observance]) -> list[Observance]:
    if not observances:
        return []
    content = fold(activity.content)
    cue = any(c in content for c in _CUES)
    found = []
    for o in observances:
        if o.founded is not None and not cue:
            continue
        patterns = (_keyword(k) for k in o.keywords)
        if any(p is not None and p.search(content) for p in patterns):
            found.append(o)
    return found


def suggest_key_dates(activity: Activity, observances: Sequence[Observance]) -> list[KeyDate]:
    """Key dates for one activity, by date: explicit dates first, then observances."""
    window = _window(activity)
    found = {k.date: k for k in _explicit(activity.content, window)}
    if window is not None:
        for obs in _matching(activity, observances):
            for year in range(window[0].year, window[1].year + 1):
                for day in obs.on(year):
                    if not window[0] <= day <= window[1] or day in found:
                        continue
                    years = day.year - obs.founded if obs.founded is not None else None
                    label = f"{obs.name} ({years} năm)" if years else obs.name
                    source = "anniversary" if obs.founded is not None else "observance"
                    found[day] = KeyDate(day, label, source, years=years)
    return sorted(found.values(), key=lambda k: k.date)


def anniversary_problems(
    activity: Activity, observances: Sequence[Observance] = ()
) -> list[Problem]:
    """Warnings when "kỷ niệm n năm … (a - b)" disagrees with itself, the year or the config."""
    if not _DIGIT.search(activity.content):
        return []
    folded = _ascii(activity.content)
    count_m, span_m = _COUNT.search(folded), _SPAN.search(folded)
    if count_m is None and span_m is None:
        return []
    count = int(count_m.group(1)) if count_m else None
    span = (int(span_m.group(1)), int(span_m.group(2))) if span_m else None
    window = _window(activity)
    year = window[1].year if window and window[0].year == window[1].year else None
    founded = next((o for o in _matching(activity, observances) if o.founded is not None), None)
    issues: list[str] = []
    if count is not None and span is not None and span[1] - span[0] != count:
        issues.append(f"{span[1]} - {span[0]} = {span[1] - span[0]}, không phải {count}")
    if span is not None and year is not None and span[1] != year:
        issues.append(f"năm kết thúc {span[1]} khác năm thực hiện {year}")
    if founded is not None and founded.founded is not None:
        if span is not None and span[0] != founded.founded:
            issues.append(f"cấu hình ghi năm bắt đầu {founded.founded} ({founded.name})")
        if count is not None and year is not None and year - founded.founded != count:
            issues.append(
                f"năm {year} là {year - founded.founded} năm kể từ {founded.founded} ({founded.name})"
            )
    if not issues:
        return []
    written = activity.content[count_m.start() : count_m.end()] if count_m else ""
    shown = ", ".join(x for x in (written, span_m.group(0) if span_m else "") if x)
    return [
        Problem(
            f"Hàng {activity.ref}: số năm kỷ niệm không khớp ({shown}): {'; '.join(issues)}. "
            "Kiểm tra lại nội dung và ngày gợi ý.",
            line=activity.line,
            key=f"{activity.ref}.key_dates",
            severity="warning",
        )
    ]


def apply_key_dates(plan: Plan, observances: Sequence[Observance] = ()) -> None:
    """Suggest key dates on every activity (accepted ones are kept) and add warnings."""
    known = {p.message for p in plan.problems}
    for activity in plan.activities:
        kept = {k.date: k for k in activity.key_dates if k.accepted}
        for suggestion in suggest_key_dates(activity, observances):
            kept.setdefault(suggestion.date, suggestion)
        activity.key_dates = sorted(kept.values(), key=lambda k: k.date)
        for problem in anniversary_problems(activity, observances):
            if problem.message not in known:
                plan.problems.append(problem)
                known.add(problem.message)
