"""The import use case: a plan document + config → a resolved Plan, and its schedule file.

Public: `import_plan(path, config, *, year, today) -> Plan` (read the document, resolve
unit cells through the directory as of `today`, suggest key dates from the config's
observances) and `save_plan(plan, config) -> Path` (write or update
schedules/<slug>.toml, keeping admins' edits), `summary(plan) -> ImportSummary`.
Not here: reading formats (importers/), matching names (units.py), the file format
(schedules.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from notifier.config import Config
from notifier.importers import Progress, read_plan
from notifier.plan import Plan
from notifier.schedules import write_schedule
from notifier.units import resolve_plan

__all__ = ["ImportSummary", "import_plan", "save_plan", "summary"]


def import_plan(
    path: Path, config: Config, *, year: int | None, today: date, progress: Progress | None = None
) -> Plan:
    """Read `path` into a Plan whose unit cells are resolved and key dates suggested;
    `progress(stage, done, total)` hears about long reads (pages, rows)."""
    plan = read_plan(path, year=year, observances=config.observances(), progress=progress)
    resolve_plan(plan, config.directory(), on=today)
    return plan


def save_plan(plan: Plan, config: Config) -> Path:
    """Write the plan to the schedules folder; an existing file keeps its hand edits."""
    return write_schedule(plan, config.schedules_path())


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
    unknown = sum(1 for p in plan.problems if p.key in {"lead", "coordinating"} or "Không tìm thấy đơn vị" in p.message)
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
