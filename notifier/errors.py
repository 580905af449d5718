"""The exception tree. Every error carries its fields; one CLI handler turns them into text.

    NotifierError
    ├── UserError            problems a user can fix; carries a list of Problems
    │   ├── ConfigError      config.toml is invalid (file:line:key messages)
    │   ├── ScheduleError    a schedules/*.toml file is invalid
    │   └── PlanReadError    a plan document cannot be read at all
    └── DeliveryError        sending mail failed; `permanent` decides retry

Messages shown to users are Vietnamese. Not here: how they are printed (cli.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a file: where, which key, what is wrong, how to fix it."""

    message: str
    file: str = ""
    line: int | None = None
    key: str = ""
    hint: str = ""
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"dòng {self.line}"
        parts = [p for p in (where, self.key) if p]
        head = ": ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.hint:
            text += f" {self.hint}"
        return text


class NotifierError(Exception):
    """Base of every error notifier raises on purpose."""


class UserError(NotifierError):
    """Something the user can fix; `problems` lists every finding at once."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])


class ConfigError(UserError):
    """config.toml cannot be used."""


class ScheduleError(UserError):
    """A schedule file cannot be used."""


class PlanReadError(UserError):
    """A plan document cannot be read at all (wrong format, empty, unreadable)."""


class DeliveryError(NotifierError):
    """Sending one message failed. Temporary failures are retried; permanent ones are not."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
