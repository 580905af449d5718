"""Working days, public holidays, swapped days and lunar dates (Vietnam).

Public: `lunar_to_solar()`. (The working-day calendar is added by its own work item.)
Facts: Vietnam computes its lunar calendar for 105°E (UTC+7); vnlunar implements it
(DOMAIN.md §5). Lunar dates that do not exist (a 30th in a 29-day month) give None,
never the next day.
"""

from __future__ import annotations

from datetime import date

import vnlunar

__all__ = ["lunar_to_solar"]


def lunar_to_solar(day: int, month: int, year: int, *, leap: bool = False) -> date | None:
    """The solar date of lunar day/month/year (Vietnamese calendar), or None if it does not exist."""
    if not (1 <= day <= 30 and 1 <= month <= 12 and 1800 <= year <= 2199):
        return None
    solar = vnlunar.convert_lunar_to_solar(day, month, year, 1 if leap else 0)
    if solar is None:
        return None
    d, m, y = solar
    return date(y, m, d)
