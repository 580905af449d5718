"""The plan model: `Plan`, `Section`, `Activity`, `ReportDuty`, `KeyDate`.

A Plan is what an importer produces and what a schedule file stores: the plan's
metadata, its activities (each with its timing as written and as dated) and the
report duties its body sets. Unit cells are kept as written (`lead_text`) beside
the canonical unit names they resolve to (`lead`), so nothing the plan said is lost.
Pure data with JSON helpers; no I/O. Not here: parsing (importers/), unit matching
(units.py), file formats (schedules.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from notifier.errors import Problem
from notifier.text import fold_ascii
from notifier.timing import Timing

__all__ = ["KeyDate", "Activity", "ReportDuty", "Plan"]


@dataclass(frozen=True, slots=True)
class KeyDate:
    """A date the content points to inside the activity's window, suggested to the admin.

    `source`: "content" (written in the text), "observance" or "anniversary" (from config).
    `years`: for anniversaries, how many years it marks ("55 năm").
    """

    date: date
    label: str
    source: str = "content"
    years: int | None = None
    accepted: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "date": self.date.isoformat(),
            "label": self.label,
            "source": self.source,
            "years": self.years,
            "accepted": self.accepted,
        }


@dataclass(slots=True)
class Activity:
    """One row of the plan's appendix."""

    ref: str  # section and number, e.g. "II.7"
    content: str
    timing: Timing
    section: str = ""  # "II"
    section_title: str = ""
    lead_text: str = ""
    lead: list[str] = field(default_factory=list)  # canonical unit or group names
    coordinating_text: str = ""
    coordinating: list[str] = field(default_factory=list)
    funding: str = ""
    key_dates: list[KeyDate] = field(default_factory=list)
    line: int | None = None  # where the row starts in the source

    def as_json(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "section": self.section,
            "section_title": self.section_title,
            "content": self.content,
            "lead": list(self.lead),
            "lead_text": self.lead_text,
            "coordinating": list(self.coordinating),
            "coordinating_text": self.coordinating_text,
            "timing": self.timing.as_json(),
            "funding": self.funding,
            "key_dates": [k.as_json() for k in self.key_dates],
            "line": self.line,
        }


@dataclass(slots=True)
class ReportDuty:
    """A report the plan requires: who owes it, to whom, for which period.

    `period`: "half-year" (6 tháng), "annual" (hằng năm), "quarterly", "monthly",
    "nine-month". Cut-off windows and deadlines are computed from config (reporting.py),
    never stored here as facts of the plan.
    """

    id: str  # stable within the plan, e.g. "half-year"
    period: str
    title: str  # "Báo cáo công tác đối ngoại 6 tháng"
    to: str  # canonical name of the receiving unit
    to_text: str = ""
    owners: list[str] = field(default_factory=list)
    owners_text: str = ""
    source_text: str = ""  # the sentence that sets the duty
    line: int | None = None

    @property
    def label(self) -> str:
        """How messages name the duty: its Vietnamese title ("Báo cáo công tác đối ngoại 6 tháng")."""
        return self.title or f"báo cáo {self.id}"

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "period": self.period,
            "title": self.title,
            "to": self.to,
            "to_text": self.to_text,
            "owners": list(self.owners),
            "owners_text": self.owners_text,
            "source_text": self.source_text,
            "line": self.line,
        }


@dataclass(slots=True)
class Plan:
    """A kế hoạch: metadata, activities and report duties, plus what could not be read."""

    slug: str
    title: str
    number: str = ""  # "34/KH-UBND"
    date: date | None = None  # date the plan was issued
    issuer: str = ""  # "UBND tỉnh Đắk Lắk"
    place: str = ""  # "Đắk Lắk"
    year: int | None = None  # the year the plan is for
    timing_header: str = "Thời gian thực hiện"
    activities: list[Activity] = field(default_factory=list)
    reports: list[ReportDuty] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    source: str = ""  # file it was imported from

    @property
    def timing_is_deadline(self) -> bool:
        """A "Thời hạn hoàn thành" column makes every timing a deadline."""
        return "han" in fold_ascii(self.timing_header).split()

    def activity(self, ref: str) -> Activity | None:
        return next((a for a in self.activities if a.ref == ref), None)

    def as_json(self) -> dict[str, object]:
        return {
            "plan": {
                "slug": self.slug,
                "title": self.title,
                "number": self.number,
                "date": self.date.isoformat() if self.date else None,
                "issuer": self.issuer,
                "place": self.place,
                "year": self.year,
                "timing_header": self.timing_header,
                "source": self.source,
            },
            "activities": [a.as_json() for a in self.activities],
            "reports": [r.as_json() for r in self.reports],
            "problems": [
                {
                    "line": p.line,
                    "message": p.message,
                    "key": p.key,
                    "severity": p.severity,
                    "text": str(p),
                }
                for p in self.problems
            ],
        }
