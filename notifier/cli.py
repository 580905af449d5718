"""The `notifier` command: parses arguments, calls the core, prints with Rich.

Commands stay thin; `_run` is the one place that turns NotifierError into a
Vietnamese message and exit code 1 (traceback only with --debug). Heavy modules
are imported inside commands so `notifier --help` answers fast.
Every command takes --config (default ./config.toml) and --now (the injectable clock).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer

app = typer.Typer(
    help="notifier: kế hoạch → lịch ICS và email nhắc việc cho cơ quan hành chính.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

ConfigOpt = Annotated[
    Path, typer.Option("--config", help="Tệp cấu hình.", envvar="NOTIFIER_CONFIG")
]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="Giờ hiện tại giả định (ISO 8601), để xem trước ở bất kỳ ngày nào."),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="In traceback khi có lỗi.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="In JSON thay vì bảng.")]

T = TypeVar("T")


@app.callback()
def _root() -> None:
    """notifier: kế hoạch → lịch ICS và email nhắc việc cho cơ quan hành chính."""

TZ_NAME = "Asia/Ho_Chi_Minh"


def _console(stderr: bool = False):  # noqa: ANN202 - rich is imported lazily
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def parse_now(value: str | None) -> datetime:
    """The clock: --now as an aware datetime (naive input is Asia/Ho_Chi_Minh), else the real time."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(TZ_NAME)
    if value is None:
        return datetime.now(tz)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"--now {value!r} không phải thời điểm ISO 8601. Ví dụ: --now 2024-06-01T08:00+07:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _run(fn: Callable[[], T], *, debug: bool = False) -> T:
    """Run a command body; print NotifierErrors for humans and exit 1."""
    from notifier.errors import NotifierError, UserError

    try:
        return fn()
    except NotifierError as exc:
        if debug:
            raise
        err = _console(stderr=True)
        if isinstance(exc, UserError):
            for problem in exc.problems:
                err.print(str(problem), markup=False)
        err.print(f"Lỗi: {exc}", style="bold red", markup=False)
        raise typer.Exit(1) from None


@app.command()
def timing(
    texts: Annotated[list[str], typer.Argument(help="Biểu thức thời gian; '-' để đọc từng dòng từ stdin.")],
    year: Annotated[int | None, typer.Option("--year", help="Năm khi biểu thức không ghi năm.")] = None,
    deadline: Annotated[
        bool, typer.Option("--deadline", help="Hiểu như cột 'Thời hạn hoàn thành'.")
    ] = False,
    as_json: JsonOpt = True,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
) -> None:
    """Đổi biểu thức thời gian tiếng Việt thành khoảng ngày (JSON, mỗi dòng một đối tượng)."""
    from notifier.timing import parse_timing

    if texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for text in texts:
        result = parse_timing(text, year=year, deadline=deadline)
        sys.stdout.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")


# --- end of commands ---


def main() -> None:
    app()


if __name__ == "__main__":
    main()
