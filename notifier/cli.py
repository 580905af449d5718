"""The `notifier` command: parses arguments, calls the core, prints with Rich.

Commands stay thin; `_run` is the one place that turns NotifierError into a
Vietnamese message and exit code 1 (traceback only with --debug). Heavy modules
are imported inside commands so `notifier --help` answers fast.
Every command takes --config (default ./config.toml) and --now (the injectable clock).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from notifier.config import Config
    from notifier.errors import Problem
    from notifier.importers import Progress as ImportProgress
    from notifier.importing import Approved, Review
    from notifier.plan import Plan
    from notifier.publish import FeedCache
    from notifier.reminders import Reminder
    from notifier.review import Changes, RowChange
    from notifier.schedules import Row
    from notifier.site import Site
    from notifier.store import Counts, OutboxRow
    from notifier.units import Directory

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

_FAR = date(9999, 12, 31)  # sorts undated activities last


def _console(stderr: bool = False) -> Console:  # rich is imported lazily
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def parse_day(value: str | None, option: str) -> date | None:
    """A day option (--from, --to, --on): YYYY-MM-DD or DD/MM/YYYY; None when not given."""
    if value is None:
        return None
    text = value.strip()
    try:
        if "/" in text:
            return datetime.strptime(text, "%d/%m/%Y").date()
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{option} {value!r} không phải ngày. Ví dụ: {option} 2024-06-01 hoặc 01/06/2024"
        ) from None


def parse_now(value: str | None) -> datetime:
    """The clock: --now as an aware datetime (naive input is Asia/Ho_Chi_Minh), else the real time."""
    from notifier.clock import SystemClock, aware

    if value is None:
        return SystemClock().now()
    try:
        return aware(datetime.fromisoformat(value))
    except ValueError:
        raise typer.BadParameter(
            f"--now {value!r} không phải thời điểm ISO 8601. Ví dụ: --now 2024-06-01T08:00+07:00"
        ) from None


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
    """Đổi biểu thức thời gian tiếng Việt thành khoảng ngày (JSON, mỗi dòng một đối tượng).

    Ví dụ: notifier timing --year 2024 "Quý II/2024" "tháng 3, 4". Với '-', mỗi dòng của
    stdin là một biểu thức và cho đúng một dòng JSON (dòng trống cũng vậy), để ghép lại
    được với cột thời gian đã đưa vào.
    """
    from notifier.timing import parse_timing

    def expressions() -> Iterator[str]:
        for text in texts:
            if text == "-":
                yield from (line.rstrip("\r\n") for line in sys.stdin)
            else:
                yield text

    for text in expressions():
        result = parse_timing(text, year=year, deadline=deadline)
        sys.stdout.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")


@app.command()
def units(
    on: Annotated[
        str | None,
        typer.Option("--on", help="Xem ai nhận thư vào ngày này (YYYY-MM-DD hoặc DD/MM/YYYY)."),
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Liệt kê danh mục đơn vị và nhóm trong config.toml (tên, mã, email, hiệu lực, kế thừa)."""
    day = parse_day(on, "--on")

    def body() -> list[dict[str, object]]:
        return _load_config_or_default(config).directory().describe(on=day)

    rows = _run(body, debug=debug)
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    from rich.table import Table

    out = _console()

    def lines(row: dict[str, object], key: str) -> str:
        return "\n".join(map(str, row[key]))  # type: ignore[call-overload]

    for groups in (False, True):
        table = Table(title="Nhóm đơn vị" if groups else "Danh mục đơn vị", show_lines=True)
        third = "Thành viên" if groups else "Email"
        for column in ("Tên", "Mã", third, "Đầu mối", "Hiệu lực", "Kế thừa", "Tên khác"):
            table.add_column(column, overflow="fold")
        if day is not None:
            table.add_column(f"Nhận thư ngày {day:%d/%m/%Y}", overflow="fold")
        for row in rows:
            if row["is_group"] is not groups:
                continue
            cells = [
                str(row["name"]),
                str(row["slug"]),
                lines(row, "members") if groups else str(row["email"] or "—"),
                "có" if row["coordinator"] else "",
                str(row["validity"]) or "còn hiệu lực",
                lines(row, "successors"),
                lines(row, "aliases"),
            ]
            if day is not None:
                cells.append(lines(row, "recipients") or "(không gửi)")
            table.add_row(*cells)
        out.print(table)
    if day is not None:
        notes = dict.fromkeys(w for row in rows for w in row["warnings"])  # type: ignore[attr-defined]
        for note in notes:
            out.print(f"• {note}", markup=False)


_KIND_LABELS = {
    "activity-start": "bắt đầu",
    "activity-end": "kết thúc",
    "report-due": "hạn báo cáo",
    "report-overdue": "đôn đốc",
    "digest": "tổng hợp",
}


@app.command()
def preview(
    start: Annotated[
        str | None, typer.Option("--from", help="Từ ngày (YYYY-MM-DD); mặc định hôm nay.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Đến hết ngày (YYYY-MM-DD); mặc định 30 ngày sau.")
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Xem trước mọi thư nhắc việc và thư tổng hợp sẽ gửi trong khoảng ngày, không gửi thư nào."""
    from datetime import timedelta

    moment = parse_now(now)
    first = parse_day(start, "--from") or moment.date()
    last = parse_day(until, "--to") or first + timedelta(days=30)
    if last < first:
        raise typer.BadParameter(f"--to {last:%d/%m/%Y} đứng trước --from {first:%d/%m/%Y}.")

    def body() -> list[Reminder]:
        from notifier.config import load_config
        from notifier.reminders import TZ, prepare, reminders_from_config
        from notifier.schedules import load_schedules
        from notifier.units import resolve_plan

        cfg = load_config(config)
        plans, problems = load_schedules(cfg.schedules_path())
        for plan in plans:  # schedules written by `import` are resolved already
            if any(a.lead_text and not a.lead for a in plan.activities):
                resolve_plan(plan, cfg.directory(), on=moment.date())
        err = _console(stderr=True)
        for problem in problems:
            err.print(str(problem), markup=False)
        window = (datetime.combine(first, datetime.min.time(), tzinfo=TZ),
                  datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=TZ))
        from notifier.acks import preview_options  # acknowledged items, opt-outs (engineer H)

        found = reminders_from_config(cfg, plans, start=window[0], end=window[1],
                                      warnings=[str(p) for p in problems], **preview_options(cfg))
        prepare(found)  # every subject now, in one go
        return found

    found = _run(body, debug=debug)
    if as_json:
        from notifier.reminders import reminder_json

        for item in found:
            sys.stdout.write(json.dumps(reminder_json(item), ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"Thư sẽ gửi từ {first:%d/%m/%Y} đến hết {last:%d/%m/%Y}: {len(found)}",
                  show_lines=True)
    for column in ("Thời điểm", "Loại", "Gửi đến", "Tiêu đề", "Mục"):
        table.add_column(column, overflow="fold")
    for item in found:
        table.add_row(
            f"{item.due_at:%H:%M %d/%m/%Y}",
            _KIND_LABELS.get(item.kind, item.kind),
            "\n".join(f"{n} <{a}>" for n, a in zip(item.to_names, item.to, strict=False)),
            item.subject,
            ", ".join(item.refs),
        )
    _console().print(table)


feeds_app = typer.Typer(help="Lịch ICS: xuất ra tệp.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")


def _feed_cache(config: Path, now: str | None) -> FeedCache:  # publish is imported lazily
    """A FeedCache over config.toml and schedules/, with --now as its clock."""
    from notifier.catalog import load_catalog
    from notifier.clock import ShiftedClock, SystemClock
    from notifier.publish import FeedCache

    clock = ShiftedClock(parse_now(now)) if now else SystemClock()
    return FeedCache(lambda moment: load_catalog(config, now=moment), clock=clock.now)


@feeds_app.command("export")
def feeds_export(
    target: Annotated[Path, typer.Argument(help="Thư mục đích (tạo nếu chưa có).")],
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Ghi DIR/plans/<mã>.ics, DIR/units/<mã>.ics, DIR/coordinators/<mã>.ics và DIR/index.json."""
    from notifier.publish import export

    def body() -> int:
        snap = _feed_cache(config, now).snapshot
        err = _console(stderr=True)
        for problem in snap.problems:
            err.print(str(problem), markup=False)
        return len(export(snap, target)) - 1

    count = _run(body, debug=debug)
    _console().print(f"Đã ghi {count} lịch và index.json vào {target}.", markup=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Địa chỉ lắng nghe; mặc định [web] host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Cổng; mặc định [web] port.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Số tiến trình phục vụ.")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log", help="Ghi nhật ký từng yêu cầu.")] = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Phục vụ lịch ICS qua HTTP (/feeds/…, trang /), tự dựng lại khi lịch hoặc cấu hình đổi."""
    import os

    from notifier.web import create_app, serve as run_server

    def settings() -> tuple[str, int]:
        from notifier.config import load_config

        web = load_config(config).web
        return host or web.host, web.port if port is None else port

    bind_host, bind_port = _run(settings, debug=debug)
    cache = _feed_cache(config, now)
    _run(lambda: cache.snapshot, debug=debug)  # fail fast, in Vietnamese, on bad config or schedules
    if workers > 1:  # each worker imports the factory; the state file keeps their bytes equal
        os.environ["NOTIFIER_CONFIG"] = str(config.resolve())
        run_server("notifier.web:app_from_env", host=bind_host, port=bind_port, workers=workers,
                   access_log=access_log)  # fmt: skip
        return
    run_server(create_app(cache, site=_site(config, now)), host=bind_host, port=bind_port, access_log=access_log)


def _site(config: Path, now: str | None) -> Site:  # site is imported lazily
    """The pages' data (site.Site) over the same config and --now clock as the feeds."""
    from notifier.clock import ShiftedClock, SystemClock
    from notifier.site import Site

    return Site(config, clock=ShiftedClock(parse_now(now)) if now else SystemClock())


@app.command("check")
def check_command(
    schedules: Annotated[
        Path | None,
        typer.Option("--schedules", help="Thư mục lịch (mặc định: schedules_dir trong config.toml)."),
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Kiểm tra config.toml và các tệp lịch: mỗi lỗi kèm tệp, dòng, khóa và cách sửa."""
    import os

    today = parse_now(now).date()

    def body() -> list[Problem]:
        from notifier.check import check

        return check(config, schedules, today=today, environ=dict(os.environ))

    problems = _run(body, debug=debug)
    from notifier.check import summary

    errors = sum(1 for p in problems if p.severity == "error")
    if as_json:
        rows = [{"file": p.file, "line": p.line, "key": p.key, "severity": p.severity,
                 "message": p.message, "hint": p.hint, "text": str(p)} for p in problems]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    else:
        out = _console()
        styles = {"error": "red", "warning": "yellow", "info": "cyan"}
        for problem in problems:
            out.print(str(problem), style=styles.get(problem.severity, ""), markup=False,
                      soft_wrap=True)
        warned = any(p.severity == "warning" for p in problems)
        style = "bold red" if errors else "bold yellow" if warned else "bold green"
        out.print(summary(problems), style=style, markup=False)
    if errors:
        raise typer.Exit(1)


@app.command("schema")
def schema_command(
    directory: Annotated[
        Path, typer.Argument(help="Thư mục ghi JSON Schema (mặc định docs/schema).")
    ] = Path("docs/schema"),
    debug: DebugOpt = False,
) -> None:
    """Ghi JSON Schema của config.toml và tệp lịch, để Taplo / VS Code gợi ý và kiểm tra khóa."""

    def body() -> list[Path]:
        from notifier.check import write_schemas

        return write_schemas(directory)

    out = _console()
    for path in _run(body, debug=debug):
        out.print(f"Đã ghi {path}", markup=False)


def _delivery_setup(config: Path) -> Config:  # config.py is imported lazily
    """config.toml (embedded defaults if absent) with the NOTIFIER_* environment applied."""
    import os

    from notifier.config import load_config

    return load_config(config, environ=dict(os.environ), missing_ok=True)


def _shown_url(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


db_app = typer.Typer(help="Cơ sở dữ liệu (hàng đợi thư, nhật ký gửi).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = Path("config.toml"), debug: DebugOpt = False) -> None:
    """Tạo hoặc nâng cấp cơ sở dữ liệu lên phiên bản mới nhất (NOTIFIER_DATABASE hoặc [database] url)."""
    import os

    def body() -> tuple[str, str]:
        from notifier.store import database_url, upgrade

        url = database_url(_delivery_setup(config), env=os.environ)
        return url, upgrade(url)

    url, revision = _run(body, debug=debug)
    _console().print(f"Cơ sở dữ liệu {_shown_url(url)} đã ở phiên bản {revision}.", markup=False)


_STATUS_LABELS = {"pending": "chờ gửi", "claimed": "đang gửi", "sent": "đã gửi",
                  "failed": "lỗi", "skipped": "bỏ qua"}


@app.command("status")
def status_command(
    as_json: JsonOpt = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Hàng đợi thư: đến hạn, chờ gửi, đã gửi, lỗi, bỏ qua; thư sắp gửi và lỗi gần đây."""
    import os

    moment = parse_now(now)

    def body() -> tuple[str, str, Counts, list[OutboxRow], list[OutboxRow]]:
        from notifier.mailer import open_transport
        from notifier.store import database_url, open_store

        cfg = _delivery_setup(config)
        url = database_url(cfg, env=os.environ)
        store = open_store(url)
        try:
            store.check_migrated()
            counts = store.counts(now=moment)
            upcoming = store.rows(statuses=["pending", "claimed"], limit=10)
            problems = store.rows(statuses=["failed", "skipped"], limit=10, newest_first=True)
        finally:
            store.close()
        return url, open_transport(cfg, environ=os.environ).description, counts, upcoming, problems

    url, transport, counts, upcoming, problems = _run(body, debug=debug)
    fields = ("due", "pending", "retrying", "claimed", "sent", "failed", "skipped")
    if as_json:
        def row(r: OutboxRow) -> dict[str, object]:
            return {"key": r.key, "status": r.status, "due": r.due_at.isoformat(),
                    "next_attempt": r.next_attempt_at.isoformat(), "attempts": r.attempts,
                    "to": [a for _, a in r.recipients], "subject": r.subject, "error": r.last_error}

        data = {"database": _shown_url(url), "transport": transport,
                **{f: getattr(counts, f) for f in fields},
                "next_due": counts.next_due.isoformat() if counts.next_due else None,
                "upcoming": [row(r) for r in upcoming], "problems": [row(r) for r in problems]}
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    from rich.table import Table

    from notifier.clock import TZ as tz

    out = _console()
    out.print(f"Cơ sở dữ liệu: {_shown_url(url)}  ·  gửi qua: {transport}", markup=False)
    labels = {"due": "đến hạn", "pending": "chờ gửi", "retrying": "đang thử lại",
              "claimed": "đang gửi", "sent": "đã gửi", "failed": "lỗi", "skipped": "bỏ qua"}
    summary = Table(title=f"Hàng đợi thư lúc {moment:%H:%M %d/%m/%Y}")
    for f in fields:
        summary.add_column(labels[f], justify="right")
    summary.add_row(*(str(getattr(counts, f)) for f in fields))
    out.print(summary)
    for title, rows, when in (("Sắp gửi", upcoming, "next_attempt_at"),
                              ("Lỗi và bỏ qua gần đây", problems, "updated_at")):
        if not rows:
            continue
        table = Table(title=title, show_lines=True)
        for column in ("Thời điểm", "Trạng thái", "Gửi đến", "Tiêu đề", "Lỗi"):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row(f"{getattr(r, when).astimezone(tz):%H:%M %d/%m/%Y}",
                          _STATUS_LABELS.get(r.status, r.status),
                          "\n".join(a for _, a in r.recipients), r.subject, r.last_error or "")
        out.print(table)


@app.command("send-test")
def send_test_command(
    address: Annotated[str, typer.Argument(help="Địa chỉ nhận thư thử nghiệm.")],
    name: Annotated[str, typer.Option("--name", help="Tên hiển thị của người nhận.")] = "",
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Gửi một thư thử nghiệm (kèm tệp lịch .ics) tới ADDRESS bằng cấu hình gửi thư hiện tại."""
    import asyncio
    import os

    moment = parse_now(now)

    def body() -> tuple[str, str, str]:
        from notifier.delivery import send_test
        from notifier.mailer import Mailer, open_transport, sender_from

        cfg = _delivery_setup(config)
        mailer = Mailer(open_transport(cfg, environ=os.environ), sender_from(cfg))

        async def go() -> tuple[str, str]:
            try:
                envelope, reply = await send_test(
                    mailer, address, now=moment, public_url=cfg.notifier.public_url, name=name
                )
            finally:
                await mailer.close()
            return envelope.message_id, reply

        message_id, reply = asyncio.run(go())
        return mailer.transport.description, message_id, reply

    where, message_id, reply = _run(body, debug=debug)
    _console().print(f"Đã gửi thư thử nghiệm tới {address} qua {where}.\n"
                     f"Message-ID: {message_id}\nMáy chủ trả lời: {reply}", markup=False)


def _load_config_or_default(config: Path) -> Config:  # config.py is imported lazily
    """config.toml if it exists, else the embedded defaults."""
    from notifier.config import load_config

    return load_config(config, missing_ok=True)


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="Tệp kế hoạch: .txt, .docx, .xlsx, .csv, .pdf, .html.")],
    year: Annotated[int | None, typer.Option("--year", help="Năm của kế hoạch nếu văn bản không ghi.")] = None,
    approve_now: Annotated[
        bool, typer.Option("--approve", help="Duyệt ngay bản nháp (như chạy thêm `notifier approve`).")
    ] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Nhập một kế hoạch thành bản nháp schedules/<mã>.draft.toml (hoặc in JSON với --json).

    Bản nháp chưa được dùng: xem thay đổi bằng `notifier diff`, dùng bằng `notifier approve`
    (hoặc --approve). Chỗ quản trị sửa tay trong lịch đang dùng được giữ, trừ khi văn bản
    nguồn sửa chính hàng đó."""
    moment = parse_now(now)

    def body() -> tuple[Plan, Review | None, Approved | None]:
        from notifier.importing import approve, import_plan, save_plan

        cfg = _load_config_or_default(config)
        with _import_progress() as progress:
            plan = import_plan(path, cfg, year=year, today=moment.date(), progress=progress)
        if as_json:
            return plan, None, None
        review = save_plan(plan, cfg)
        approved = approve(review.written, now=moment) if approve_now and review.written else None
        return plan, review, approved

    plan, review, approved = _run(body, debug=debug)
    if review is None:  # --json: the plan is printed, not saved
        sys.stdout.write(json.dumps(plan.as_json(), ensure_ascii=False, indent=2) + "\n")
        return
    _print_import_summary(plan, review, approved)


def _review_target(target: Path, cfg: Config, *, year: int | None, today: date) -> Review:
    """A draft path → its review; any other file → a plan document imported in memory."""
    from notifier.importing import import_plan, review_draft, review_import
    from notifier.schedules import is_draft

    if is_draft(target):
        return review_draft(target)
    with _import_progress() as progress:
        plan = import_plan(target, cfg, year=year, today=today, progress=progress)
    return review_import(plan, cfg.schedules_path())


@app.command("diff")
def diff_command(
    target: Annotated[
        Path | None,
        typer.Argument(help="Văn bản kế hoạch hoặc bản nháp <mã>.draft.toml; bỏ trống: mọi bản nháp."),
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help="Năm của kế hoạch nếu văn bản không ghi.")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Xem một lần nhập sẽ đổi gì trong lịch đang dùng: hoạt động thêm, bỏ, đổi ngày, sửa nội
    dung/đơn vị/kinh phí, và xung đột với chỗ sửa tay. Không ghi gì.

    Mã thoát (như lệnh diff): 0 = không có gì thay đổi, 1 = duyệt sẽ đổi lịch, 2 = lỗi."""
    today = parse_now(now).date()

    def body() -> list[Review]:
        from notifier.importing import review_draft
        from notifier.schedules import draft_paths

        cfg = _load_config_or_default(config)
        if target is not None:
            return [_review_target(target, cfg, year=year, today=today)]
        return [review_draft(d) for d in draft_paths(cfg.schedules_path())]

    try:
        reviews = _run(body, debug=debug)
    except typer.Exit:
        raise typer.Exit(2) from None
    if as_json:
        data = [{**r.changes.as_json(), "live": str(r.live), "draft": str(r.written or "")}
                for r in reviews]  # fmt: skip
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        out = _console()
        if not reviews:
            out.print("Không có bản nháp nào chờ duyệt.", markup=False)
        for review in reviews:
            _print_changes(review.changes, title=f"{review.slug}: {review.live.name}")
    if any(r.changes.changes_schedule for r in reviews):
        raise typer.Exit(1)


@app.command("approve")
def approve_command(
    target: Annotated[Path, typer.Argument(help="Bản nháp <mã>.draft.toml, hoặc văn bản kế hoạch (nhập rồi duyệt).")],
    year: Annotated[int | None, typer.Option("--year", help="Năm của kế hoạch nếu văn bản không ghi.")] = None,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Duyệt: thay lịch đang dùng bằng bản nháp (ghi nguyên khối, bản cũ lưu ở
    schedules/.history/). Daemon tự nạp lại lịch mới."""
    moment = parse_now(now)

    def body() -> Approved | None:
        from notifier.importing import approve, import_plan, save_plan
        from notifier.schedules import is_draft

        if is_draft(target):
            return approve(target, now=moment)
        cfg = _load_config_or_default(config)
        with _import_progress() as progress:
            plan = import_plan(target, cfg, year=year, today=moment.date(), progress=progress)
        review = save_plan(plan, cfg)
        return approve(review.written, now=moment) if review.written else None

    approved = _run(body, debug=debug)
    out = _console()
    if approved is None:
        out.print("Không có gì thay đổi: lịch đang dùng đã đúng như văn bản.", markup=False)
        return
    _print_approved(approved)


def _print_approved(approved: Approved) -> None:
    c = approved.changes.counts()
    out = _console()
    if approved.changes.new_file:
        facts = f"lịch mới: {c['added']} hoạt động, {c['reports']} báo cáo"
    else:
        facts = (f"{c['added']} thêm, {c['removed']} bỏ, {c['redated']} đổi ngày, {c['changed']} sửa"
                 + (f", {c['conflicts']} xung đột giữ bản sửa tay" if c["conflicts"] else ""))
    out.print(f"Đã duyệt: {approved.live} ({facts}).", markup=False, soft_wrap=True)
    if approved.backup is not None:
        out.print(f"Bản trước lưu ở {approved.backup}.", markup=False, soft_wrap=True)


def _span(row: Row) -> str:
    start, end = row.get("start"), row.get("end")
    if start is None and end is None:
        return "không có ngày"
    shown = [f"{d:%d/%m/%Y}" if d else "…" for d in (start, end)]
    return shown[0] if start == end else f"{shown[0]}–{shown[1]}"


def _short(value: object, width: int = 60) -> str:
    if isinstance(value, list):
        text = "; ".join(str(v.get("label", v)) if isinstance(v, dict) else str(v) for v in value)
    else:
        text = "—" if value in (None, "") else f"{value:%d/%m/%Y}" if isinstance(value, date) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _change(old: object, new: object, width: int = 40) -> str:
    """"old → new"; two long texts show the part that differs, with a little context."""
    if not (isinstance(old, str) and isinstance(new, str)) or max(len(old), len(new)) <= width:
        return f"{_short(old, width)} → {_short(new, width)}"
    head = next((n for n, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    tail = next((n for n, (a, b) in enumerate(zip(old[::-1], new[::-1])) if a != b), 0)
    tail = min(tail, len(old) - head, len(new) - head)
    start = max(0, head - 15)

    def part(text: str) -> str:
        middle = text[start : len(text) - tail]
        return ("…" if start else "") + _short(middle, width) + ("…" if tail else "")

    return f"{part(old)} → {part(new)}"


def _print_changes(changes: Changes, *, title: str, rows: bool = True) -> None:
    from rich.table import Table
    from rich.text import Text

    from notifier.review import key_label

    out = _console()
    table = Table(title=Text(title), show_lines=True)
    for column, style in (("Thay đổi", "bold"), ("Mục", ""), ("Nội dung", ""), ("Chi tiết", "")):
        table.add_column(column, style=style, overflow="fold")

    def add(*cells: object, style: str = "") -> None:  # Text: plan text is never Rich markup
        table.add_row(*(Text(str(c)) for c in cells), style=style)

    def details(c: RowChange) -> str:
        return "\n".join(f"{key_label(k)}: {_change(c.old.get(k), c.new.get(k))}" for k in c.fields)

    for row in changes.added:
        add("thêm", row.get("ref", ""), _short(row.get("content")), _span(row))
    for row in changes.removed:
        add("bỏ", row.get("ref", ""), _short(row.get("content")), _span(row))
    for c in changes.redated:
        add("đổi ngày", _ref(c), _short(c.new.get("content")), f"{_span(c.old)} → {_span(c.new)}")
    for c in changes.changed:
        add("sửa", _ref(c), _short(c.new.get("content")), details(c))
    for row in changes.reports_added:
        add("thêm báo cáo", row.get("id", ""), _short(row.get("title")), "")
    for row in changes.reports_removed:
        add("bỏ báo cáo", row.get("id", ""), _short(row.get("title")), "")
    for c in changes.reports_changed:
        add("sửa báo cáo", _ref(c), _short(c.new.get("title")), details(c))
    for key, old, new in changes.plan_fields:
        add("sửa [plan]", key_label(key), "", _change(old, new))
    for conflict in changes.conflicts:
        source = "\n".join(f"{key_label(k)}: {_short(v, 40)}" for k, v in conflict.source.items())
        add("xung đột", conflict.ident, conflict.message(), f"văn bản nguồn:\n{source or '(bỏ hàng này)'}",
            style="yellow")  # fmt: skip
    if table.row_count and rows:
        out.print(table)
    counts = changes.counts()
    if changes.new_file:
        head = f"Lịch mới: {counts['added']} hoạt động, {len(changes.reports_added)} báo cáo."
    elif changes.changes_schedule:
        head = (f"{counts['added']} thêm, {counts['removed']} bỏ, {counts['redated']} đổi ngày, "
                f"{counts['changed']} sửa, {counts['reports']} báo cáo, {counts['plan']} thông tin kế hoạch")
        if changes.renumbered:
            head += f"; {len(changes.renumbered)} hàng chỉ đánh số lại"
        if changes.moved:
            head += f"; {changes.moved} hàng chỉ đổi số dòng trong văn bản gốc"
        head += "."
    else:
        head = "Không có gì thay đổi trong lịch đang dùng."
    if changes.conflicts:
        head += f" {counts['conflicts']} xung đột: giữ bản sửa tay."
    out.print(head, markup=False)


def _ref(change: RowChange) -> str:
    return change.ref if change.ref == change.old_ref else f"{change.old_ref} → {change.ref}"


@contextmanager
def _import_progress() -> Iterator[ImportProgress | None]:  # rich is imported lazily
    """A progress bar on stderr for long imports (pages, rows), only on a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=_console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _print_import_summary(plan: Plan, review: Review, approved: Approved | None) -> None:
    from rich.table import Table

    from notifier.importing import summary

    facts = summary(plan)
    out = _console()
    from rich.markup import escape

    table = Table(title=escape(f"Kế hoạch {plan.number or plan.slug}: {plan.title}"), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    kinds = ", ".join(f"{kind}: {count}" for kind, count in facts.kinds.items())
    table.add_row("Hoạt động", f"{facts.activities} (có ngày: {facts.datable}; {kinds})")
    table.add_row("Đơn vị khớp danh mục", str(facts.units_matched))
    table.add_row("Tên đơn vị chưa khớp", str(facts.units_unknown))
    table.add_row("Nghĩa vụ báo cáo", str(facts.reports))
    table.add_row("Lỗi / cảnh báo", f"{facts.errors} / {facts.warnings}")
    if approved is not None:
        table.add_row("Đã duyệt", escape(str(approved.live)))
    elif review.written is not None:
        table.add_row("Bản nháp", escape(str(review.written)))
    else:
        table.add_row("Lịch", escape(f"{review.live} (không có gì thay đổi)"))
    out.print(table)
    for problem in plan.problems:
        style = "red" if problem.severity == "error" else "yellow"
        out.print(f"• {problem}", style=style, markup=False)
    if approved is not None:
        _print_approved(approved)
    elif review.written is not None:
        _print_changes(review.changes, title=f"Thay đổi so với {review.live.name}",
                       rows=not review.changes.new_file)  # fmt: skip
        out.print(f"Bản nháp chưa được dùng. Xem: notifier diff {review.written}  ·  duyệt: "
                  f"notifier approve {review.written}", markup=False, soft_wrap=True)  # fmt: skip


@app.command()
def timeline(
    as_json: JsonOpt = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """In các hoạt động đã có ngày của mọi kế hoạch trong schedules/, theo thứ tự thời gian."""

    def body() -> tuple[list[Plan], list[Problem]]:
        from notifier.errors import ScheduleError
        from notifier.schedules import load_schedules

        cfg = _load_config_or_default(config)
        plans, problems = load_schedules(cfg.schedules_path())
        if problems and not plans:
            raise ScheduleError("Không đọc được lịch nào trong schedules/.", problems)
        return plans, problems

    plans, problems = _run(body, debug=debug)
    rows = sorted(
        ((plan, a) for plan in plans for a in plan.activities),
        key=lambda pa: (pa[1].timing.start or pa[1].timing.end or _FAR, pa[0].slug, pa[1].line or 0),
    )
    if as_json:
        for plan, a in rows:
            record = {"plan": plan.slug, "ref": a.ref, "lead": a.lead, **a.timing.as_json()}
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    out = _console()
    for plan in plans:
        table = Table(title=f"{plan.number or plan.slug}: {plan.title}", title_justify="left")
        table.add_column("Mục", no_wrap=True)
        table.add_column("Từ", no_wrap=True)
        table.add_column("Đến", no_wrap=True)
        table.add_column("Thời gian (nguyên văn)", ratio=1, overflow="fold")
        table.add_column("Chủ trì", ratio=1, overflow="fold")
        table.add_column("Nội dung", ratio=2, overflow="fold")
        for _, a in (row for row in rows if row[0] is plan):
            t = a.timing
            table.add_row(
                a.ref,
                f"{t.start:%d/%m/%y}" if t.start else "—",
                f"{t.end:%d/%m/%y}" if t.end else "—",
                t.text if t.datable else f"{t.text} ({_KIND_VI.get(t.kind.value, t.kind.value)})",
                "; ".join(a.lead) or a.lead_text,
                a.content if len(a.content) <= 80 else a.content[:79] + "…",
            )
        out.print(table)
    for problem in problems:
        out.print(f"• {problem}", style="yellow", markup=False)


_KIND_VI = {
    "range": "khoảng",
    "date": "ngày",
    "deadline": "hạn",
    "continuous": "thường xuyên",
    "recurring": "định kỳ",
    "conditional": "có điều kiện",
    "undatable": "không xác định",
}


@app.command("run")
def run_command(
    host: Annotated[str | None, typer.Option("--host", help="Địa chỉ lắng nghe; mặc định [web] host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Cổng (0 = tự chọn); mặc định [web] port.")] = None,
    sweep: Annotated[float, typer.Option("--sweep", min=0.1, help="Số giây giữa hai lần quét hàng đợi thư.")] = 60.0,
    lease: Annotated[float, typer.Option("--lease", min=1.0, help="Số giây giữ chỗ một lô thư; tiến trình chết thì sau chừng ấy giây thư được gửi lại.")] = 300.0,
    retry: Annotated[float, typer.Option("--retry", min=0.1, help="Số giây chờ trước lần thử lại đầu tiên khi máy chủ thư lỗi tạm thời (sau đó gấp đôi, tối đa 1 giờ).")] = 60.0,
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Số thư nhận một lần để gửi; mặc định 500 với SQLite, 100 với PostgreSQL (chia đều cho các daemon).")] = None,
    render_processes: Annotated[int | None, typer.Option("--render-processes", min=0, help="Số tiến trình phụ dựng thư trong khi tiến trình chính gửi; 0 = dựng tại chỗ. Mặc định: số lõi CPU trừ 1 (tối đa 4), chỉ khi có từ 100 thư đến hạn trở lên; dừng sau 2 phút rảnh.")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Ghi nhật ký dạng JSON, mỗi dòng một bản ghi.")] = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Chạy daemon: phục vụ lịch ICS và gửi thư nhắc việc đúng hạn, tự nạp lại khi sửa cấu hình
    hoặc lịch (và khi nhận SIGHUP). Dừng: Ctrl+C hoặc SIGTERM (gửi nốt thư đang gửi)."""
    from notifier.clock import ShiftedClock, SystemClock
    from notifier.daemon import DaemonOptions, run_daemon, setup_logging

    clock = ShiftedClock(parse_now(now)) if now else SystemClock()
    setup_logging(json_lines=log_json, debug=debug)
    options = DaemonOptions.from_seconds(
        sweep=sweep, lease=lease, retry=retry, render_processes=render_processes, batch=batch
    )
    code = _run(lambda: run_daemon(config, clock=clock, host=host, port=port, options=options),
                debug=debug)  # fmt: skip
    if code:
        raise typer.Exit(code)


RestoreOpt = Annotated[
    str | None,
    typer.Option("--restore", metavar="ĐƠN_VỊ",
                 help="Cho đơn vị này nhận lại thư tổng hợp (tên, tên khác hoặc mã, như trong config.toml)."),
]


def _optout_slug(directory: Directory, text: str, opted: set[str]) -> str:
    """The slug --restore names: a unit of the directory by name, alias or slug (any case,
    NFC or NFD), or the slug of an opt-out whose unit has left config.toml."""
    from notifier.errors import UserError

    unit = directory.get(text) or directory.by_slug(text)
    if unit is not None:
        return unit.slug
    if text.strip().lower() in opted:
        return text.strip().lower()
    raise UserError(directory.unknown_message(text) + " Xem danh mục: notifier units")


@app.command("digest-optouts")
def digest_optouts_command(
    restore: RestoreOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = Path("config.toml"),
    now: NowOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Đơn vị đã ngừng nhận thư tổng hợp (liên kết “Ngừng nhận thư tổng hợp” hoặc nút “Hủy
    đăng ký” của Gmail, Outlook); --restore ĐƠN_VỊ cho một đơn vị nhận lại."""
    import os

    moment = parse_now(now)

    def body() -> tuple[Directory, list[dict[str, Any]], tuple[str, str] | None]:
        from notifier.errors import UserError
        from notifier.store import Attempt, database_url, open_store

        cfg = _delivery_setup(config)
        directory = cfg.directory()
        store = open_store(database_url(cfg, env=os.environ))
        try:
            store.check_migrated()
            rows = store.opt_outs()
            if restore is None:
                return directory, rows, None
            slug = _optout_slug(directory, restore, {r["unit"] for r in rows})
            unit = directory.by_slug(slug)
            name = unit.name if unit is not None else slug
            attempt = Attempt(moment, None, None, "notifier digest-optouts --restore")
            if not store.opt_in(slug, attempt=attempt):
                others = ", ".join(_optout_name(directory, r["unit"]) for r in rows)
                raise UserError(f"“{name}” chưa ngừng nhận thư tổng hợp (vẫn đang nhận), không "
                                "có gì để khôi phục. Đơn vị đã ngừng nhận: "
                                + (others or "không có."))
            return directory, rows, (slug, name)
        finally:
            store.close()

    directory, rows, restored = _run(body, debug=debug)
    if restored is not None:
        slug, name = restored
        if as_json:
            data = {"restored": slug, "name": name}
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        else:
            _console().print(f"Đã cho “{name}” ({slug}) nhận lại thư tổng hợp từ kỳ gửi tiếp theo.",
                             markup=False)
        return
    if as_json:
        listing = [{"unit": r["unit"], "name": _optout_name(directory, r["unit"]),
                    "known": directory.by_slug(r["unit"]) is not None, "at": r["at"].isoformat(),
                    "link_id": r["link_id"]} for r in rows]
        sys.stdout.write(json.dumps(listing, ensure_ascii=False, indent=2) + "\n")
        return
    from rich.table import Table

    from notifier.clock import TZ as tz

    out = _console()
    if not rows:
        out.print("Không có đơn vị nào ngừng nhận thư tổng hợp.", markup=False)
        return
    table = Table(title=f"Đơn vị đã ngừng nhận thư tổng hợp: {len(rows)}")
    for column in ("Đơn vị", "Mã", "Từ lúc", "Mã liên kết"):
        table.add_column(column, overflow="fold")
    for r in rows:
        name = _optout_name(directory, r["unit"])
        if directory.by_slug(r["unit"]) is None:
            name += " (không còn trong danh mục)"
        table.add_row(name, r["unit"], f"{r['at'].astimezone(tz):%H:%M %d/%m/%Y}",
                      r["link_id"] or "—")
    out.print(table)
    out.print("Cho nhận lại: notifier digest-optouts --restore <tên hoặc mã đơn vị>", markup=False)


def _optout_name(directory: Directory, slug: str) -> str:
    unit = directory.by_slug(slug)
    return unit.name if unit is not None else slug


# --- end of commands ---


def main() -> None:
    app()


if __name__ == "__main__":
    main()
