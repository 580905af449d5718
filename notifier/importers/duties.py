"""Report duties a plan's body sets: who reports, to whom, for which periods.

Owns `read_duties()`: sentences like "… báo cáo kết quả thực hiện trong báo cáo công
tác đối ngoại 6 tháng, hằng năm của cơ quan, đơn vị gửi Sở Ngoại vụ tổng hợp …" →
one ReportDuty per period (half-year, annual), titled "Báo cáo công tác đối ngoại 6
tháng" / "… hằng năm", to "Sở Ngoại vụ", owed by the sentence's subject.

The rule, so it never invents duties: a duty needs the word "báo cáo" followed within
a dozen words by a list of reporting periods — "6 tháng", "9 tháng", "hằng/hàng năm",
"hằng quý", "hằng tháng", "định kỳ …", and the bare "năm", "quý", "tháng" only inside
such a list ("6 tháng và năm", "định kỳ 6 tháng, năm") and never before a number
("năm 2024" is a year, not a period). "Sở Ngoại vụ tổng hợp, báo cáo tình hình thực
hiện Kế hoạch" names no period and sets no duty. Dates in the sentence ("trước ngày
15/6") are kept in source_text and reported as a warning: deadlines come from the
config ([[reports.deadlines]]), never from the plan text (DOMAIN.md §1–§2).
Importers leave ReportDuty.owners empty and `to` as written; units.resolve_plan fills
canonical names. Not here: cut-off windows and deadlines (reporting.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from notifier.errors import Problem
from notifier.importers.cells import Line, flat_ascii, is_unit_like
from notifier.plan import ReportDuty
from notifier.text import fold

__all__ = ["read_duties"]

_P = (
    r"(?:(?:hang|dinh\s+ky\s+hang)\s+(?:nam|quy|thang)"
    r"|(?:6|06|sau)\s+thang(?:\s+(?:dau\s+nam|cuoi\s+nam))?"
    r"|(?:9|09|chin)\s+thang"
    r"|(?:ca\s+)?nam(?![\s/.-]*\d)|quy(?![\s/.-]*[ivx\d]|\s+(?:co\s+quan|don\s+vi|vi)\b)"
    r"|thang(?![\s/.-]*\d))"
)
_LIST = re.compile(rf"(?:dinh\s+ky\s+)?(?P<list>{_P}(?:\s*(?:,|va|hoac|/)\s*{_P})*)\b")
_LIST_BEFORE = re.compile(rf"(?:dinh\s+ky\s+)?(?P<list>{_P}(?:\s*(?:,|va|hoac|/)\s*{_P})*)\s*$")
_ONE = re.compile(_P)
_STRONG = re.compile(r"hang|dinh\s+ky|\d|sau|chin")
_REPORT = re.compile(r"\bbao\s+cao\b")
_DATES = re.compile(
    r"(?:\b(?:truoc|cham\s+nhat|den|vao)\s+)?ngay\s+\d{1,2}(?:\s*(?:/|-|\.|thang)\s*\d{1,2})?"
    r"(?:\s*(?:/|-|\.|nam)\s*\d{2,4})?|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?"
)
_TO = re.compile(r"\b(?:gui\s+(?:ve\s+)?|ve\s+|qua\s+|den\s+)(?=\S)")
_TO_STOP = re.compile(
    r"\s(?:tong\s+hop|theo|truoc|de|trong|cham|vao|nham|dinh\s+ky|hang|truc\s+tiep|qua|"
    r"ngay|dong\s+thoi|va\s+(?:bao|gui|de)|chu\s+tri|tham\s+muu|xem\s+xet)\b|[.;:()#]"
)
_ENUM = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[a-zđ]\)|[-+•*])\s*", re.IGNORECASE)
_ASKER = re.compile(r"(?:ubnd|uy\s+ban\s+nhan\s+dan)\s+\S+\s+(?:de\s+nghi|yeu\s+cau|giao)\s+")
_VERBS = re.compile(
    r"\s(?:chu\s+dong|chu\s+tri|co\s+trach\s+nhiem|can\s+cu|trien\s+khai|thuc\s+hien|bao\s+cao|"
    r"(?<!cac\s)to\s+chuc\s(?!doan)|phoi\s+hop|xay\s+dung|tham\s+muu|dinh\s+ky|tong\s+hop|gui|"
    r"nghiem\s+tuc|khan\s+truong|day\s+manh|lam\s+viec|theo\s+doi|kiem\s+tra|cap\s+nhat)\b"
)
_PERIOD_ORDER = ("monthly", "quarterly", "half-year", "nine-month", "annual")
_TITLE_TRIM = re.compile(r"(?:\s+(?:dinh\s+ky|trong|theo|cua|vao|ve|cac|cho|dinh))+$")


def _period(text: str) -> str:
    if re.search(r"\b(?:6|06|sau)\s+thang", text):
        return "half-year"
    if re.search(r"\b(?:9|09|chin)\s+thang", text):
        return "nine-month"
    if "quy" in text:
        return "quarterly"
    if "thang" in text:
        return "monthly"
    return "annual"


def _sentences(text: str) -> list[str]:
    """Split a paragraph at ". " (or "!", "?") followed by a capital letter."""
    out, start = [], 0
    for m in re.finditer(r"[.!?]\s+(?=\w)", text):
        if text[m.end()].isupper():
            out.append(text[start : m.start() + 1])
            start = m.end()
    out.append(text[start:])
    return [s for s in out if s.strip()]


def read_duties(body: Sequence[Line]) -> tuple[list[ReportDuty], list[Problem]]:
    """Every report duty the body's sentences set, in order, without duplicates."""
    duties: list[ReportDuty] = []
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for line in body:
        for sentence in _sentences(line.text):
            for duty, dated in _duties_in(sentence, line.no):
                marker = (duty.period, fold(duty.to_text))
                if marker in seen:
                    continue
                seen.add(marker)
                same = sum(d.period == duty.period for d in duties)
                duty.id = duty.period if not same else f"{duty.period}-{same + 1}"
                duties.append(duty)
                if not duty.to_text:
                    problems.append(
                        Problem(
                            f"Nhiệm vụ “{duty.title}”: không rõ nơi nhận báo cáo; hãy ghi "
                            "trong tệp lịch.",
                            line=line.no,
                            key=f"reports.{duty.id}",
                            severity="warning",
                        )
                    )
                if dated:
                    problems.append(
                        Problem(
                            f"Nhiệm vụ “{duty.title}”: văn bản ghi thời hạn ({dated}); hạn dùng "
                            "để nhắc lấy từ [[reports.deadlines]] trong config.toml.",
                            line=line.no,
                            key=f"reports.{duty.id}",
                            severity="warning",
                        )
                    )
    return duties, problems


def _duties_in(sentence: str, line: int) -> list[tuple[ReportDuty, str]]:
    folded = flat_ascii(sentence)
    masked = _DATES.sub(lambda m: "#" * len(m.group(0)), folded)
    dates = ", ".join(sentence[m.start() : m.end()] for m in _DATES.finditer(folded))
    found: list[tuple[ReportDuty, str]] = []
    used: set[int] = set()
    for report in _REPORT.finditer(masked):
        window_end = _window_end(masked, report.end())
        m = _LIST.search(masked, report.end(), window_end)
        before = m is None
        if before:  # "định kỳ 6 tháng, năm báo cáo kết quả …": the list leads
            m = _LIST_BEFORE.search(masked, max(0, report.start() - 80), report.start())
        if m is None or m.start() in used or not _STRONG.search(m.group(0)):
            continue
        used.add(m.start())  # "báo cáo … trong báo cáo X 6 tháng": one list, one set of duties
        if before:
            name = _name_after(sentence, masked, report.start())
            to, to_text = _recipient(sentence, masked, report.end())
        else:
            name = _title_name(sentence, folded, report.start(), m.start())
            to, to_text = _recipient(sentence, masked, m.end())
        owners = _owners(sentence, folded)
        if owners and fold(owners) == fold(to) and " (qua " in to_text:
            to = to_text.split(" (qua ", 1)[0]  # the relaying unit reports on to the other
        periods: dict[str, str] = {}
        for one in _ONE.finditer(masked, m.start("list"), m.end("list")):
            periods.setdefault(_period(one.group(0)), sentence[one.start() : one.end()])
        for period in sorted(periods, key=_PERIOD_ORDER.index):
            duty = ReportDuty(
                id=period,
                period=period,
                title=f"{name} {periods[period]}",
                to=to,
                to_text=to_text,
                owners_text=owners,
                source_text=sentence,
                line=line,
            )
            found.append((duty, dates))
    return found


def _window_end(masked: str, start: int) -> int:
    """A period list must begin within about a dozen words after "báo cáo"."""
    words = list(re.finditer(r"\S+", masked[start : start + 400]))
    limit = words[min(12, len(words) - 1)].end() if words else 0
    return start + limit + 40  # room for the list itself


def _title_name(sentence: str, folded: str, start: int, end: int) -> str:
    """ "báo cáo công tác đối ngoại" → "Báo cáo công tác đối ngoại" (trailing joiners trimmed)."""
    # A later "báo cáo" closer to the list names the report ("… trong báo cáo công tác …").
    last = start
    for m in _REPORT.finditer(folded, start, end):
        last = m.start()
    name_folded = _TITLE_TRIM.sub("", folded[last:end].rstrip(" ,"))
    name = sentence[last : last + len(name_folded)].strip()
    return "B" + name[1:] if name else "Báo cáo"


def _name_after(sentence: str, masked: str, start: int) -> str:
    """ "báo cáo kết quả thực hiện về Sở X" → "Báo cáo kết quả thực hiện"."""
    to = next(
        (t for t in _TO.finditer(masked, start) if is_unit_like(sentence[t.end() :][:120])), None
    )
    stop = re.compile(r"[,;.(#]").search(masked, start)
    ends = [x.start() for x in (to, stop) if x is not None]
    end = min(ends) if ends else len(sentence)
    words = sentence[start:end].split()[:8]
    name = _TITLE_TRIM.sub("", flat_ascii(" ".join(words)))
    text = " ".join(words)[: len(name)].strip()
    return "B" + text[1:] if text else "Báo cáo"


def _recipient(sentence: str, masked: str, after: int) -> tuple[str, str]:
    """(unit, as written) after "gửi (về)", "về", "qua" following the periods (else anywhere).

    "về UBND tỉnh (qua Sở Ngoại vụ)": the report reaches UBND tỉnh through Sở Ngoại vụ,
    which is the unit that receives it (`to`); `to_text` keeps the whole phrase.
    """
    for start in (after, 0):
        for m in _TO.finditer(masked, start):
            rest = sentence[m.end() :]
            if not is_unit_like(rest[:120]):
                continue
            stop = _TO_STOP.search(masked, m.end())
            end = stop.start() if stop else len(sentence)
            unit = sentence[m.end() : end].strip(" ,")
            via = re.compile(r"\s*\(\s*qua\s+([^()]{3,80})\)").match(masked, end)
            if via and is_unit_like(sentence[via.start(1) : via.end(1)]):
                through = sentence[via.start(1) : via.end(1)].strip()
                return through, f"{unit} (qua {through})"
            return unit, unit
    return "", ""


def _owners(sentence: str, folded: str) -> str:
    """The sentence's subject, up to its first verb, when it names units."""
    start = 0
    if m := _ENUM.match(sentence):
        start = m.end()
    if m := _ASKER.search(folded, start):
        start = m.end()  # "UBND tỉnh giao Sở X …": the duty is Sở X's
    verb = _VERBS.search(folded, start)
    if verb is None:
        return ""
    subject = sentence[start : verb.start()].strip(" ,;")
    if not subject or not is_unit_like(subject[:120]):
        return ""
    return subject[0].upper() + subject[1:]
