"""The daemon (`notifier run`): timers, reloads and lifecycle around the outbox.

Owns:
- `Snapshot`: config.toml + schedules/ loaded, validated (`notifier check`'s rules) and
  resolved once, immutable: plans, unit directory, working-day calendar, deadline rules,
  `[reminders]`/`[digest]`; `load_snapshot(...)`, `signature(...)`;
- `Reloader`: keeps the last good Snapshot and reloads it when config.toml or
  schedules/*.toml change (mtime, size, inode; polled every few seconds) or on SIGHUP. A
  broken config keeps the whole previous snapshot; a broken schedule file keeps that file's
  previous plan. Problems are logged as file:line: key and kept for the next digest;
- `Daemon`: one process, one asyncio loop: APScheduler 3.x timers, the feeds app of web.py
  under uvicorn, signals, a watcher task (reloads, feed rebuilds) and `Daemon.step()`, one
  sweep (-> `SweepReport`):
      plan the reminders due since the last sweep → Store.enqueue (once by key) →
      Store.skip_stale (due before now − grace: recorded as skipped, shown in the next
      digest) → send in order of due time → set the timer for the next due time;
  `Daemon.health()` is what /healthz and /metrics will show (issue 6);
- `DaemonOptions`, `run_daemon()` (what the CLI calls), `open_ready_store()`,
  `release_dead_owners()`, `feed_catalog()`, `owner_id()`, `setup_logging()`,
  `trim_memory()`.

Facts relied on:
- The outbox is the record of what was sent, never APScheduler's job store: several
  processes sharing one 3.x job store is unsupported by its maintainer, and its defaults
  (a one-second misfire grace, coalescing) drop or merge missed runs silently. Here the job
  store is in memory and jobs only set events; they run however late
  (misfire_grace_time=None) and missed runs coalesce into one: a sweep is idempotent.
- Reminders are enqueued when due, not ahead, so an edit made before the due time (a moved
  window, a new address) is what goes out. At start the daemon plans from the last sweep
  recorded in the database (`meta`), at least the grace window ([reminders] grace_hours):
  what fell due while it was down is sent if inside the grace window, else recorded as
  skipped. A first start records nothing older than the grace window: never a flood.
- Several daemons on PostgreSQL: one plans and enqueues at a time (Store.try_planning_lock);
  the others send what it commits meanwhile and, at their next sweep, plan only from where
  the meta `daemon.planned_until` says it got to (all of them read the same files; a
  reload makes each plan its grace window again). Planning 10,000 reminders in each daemon
  at once had cost each a few seconds before sending anything (benchmarks/multi.py).
- A claim is a lease (store.py): rows of a daemon killed with -9 come back when the lease
  runs out, or at once when a daemon on the same host sees the owner's process is gone
  (owner = "host:pid:random"). SIGTERM lets the messages in flight finish and gives the
  rest back (delivery.send_batch `stop`).
- When the mail server cannot be reached at all, the daemon stops spending attempts: it
  probes with one small batch at growing intervals, and once the server answers, every
  row waiting out a backoff becomes due at once (Store.retry_now), so they go in due order.
- glibc keeps freed heap memory; the feed build's transient peak stayed resident until
  `malloc_trim(0)` (docs/daemon.md has the figures).
Not here: what is due (reminders.py), SQL (store.py), the send loop and retry policy
(delivery.py), MIME and SMTP (mailer.py), feeds and HTTP (publish.py, web.py), the command
line (cli.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from notifier.clock import TZ, Clock
from notifier.delivery import BatchResult, RetryPolicy, drain, send_batch
from notifier.errors import ConfigError, DeliveryError, Problem, UserError

if TYPE_CHECKING:
    from notifier.config import Config
    from notifier.envelopes import RenderPool
    from notifier.mailer import Mailer, Transport
    from notifier.plan import Plan
    from notifier.publish import Catalog, FeedCache
    from notifier.reminders import Reminder
    from notifier.reporting import DeadlineRule
    from notifier.store import Store
    from notifier.workdays import WorkCalendar

__all__ = [
    "Daemon",
    "DaemonOptions",
    "ReloadResult",
    "Reloader",
    "Snapshot",
    "SweepReport",
    "feed_catalog",
    "load_snapshot",
    "open_ready_store",
    "owner_id",
    "release_dead_owners",
    "run_daemon",
    "setup_logging",
    "signature",
    "trim_memory",
]

log = logging.getLogger("notifier.daemon")

PLANNED_UNTIL = "daemon.planned_until"  # meta: reminders due before this were enqueued
DIGEST_SINCE = "daemon.digest_since"  # meta: deliveries reported by the last digest
Signature = tuple[tuple[str, int, int, int], ...]


def _log(level: int, message: str, **fields: Any) -> None:
    """One log line: a Vietnamese message plus machine-readable fields."""
    log.log(level, message, extra={"fields": fields})


# --- the snapshot: config + schedules, loaded once ---------------------------------------


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything a sweep plans from, loaded at one moment; replaced whole, never changed."""

    config: Config
    files: Mapping[str, Plan]  # schedule file → the plan used from it (maybe its last good one)
    problems: tuple[Problem, ...]  # errors of files in use anyway or kept at an older version
    signature: Signature
    loaded_at: datetime
    calendar: WorkCalendar
    deadlines: tuple[DeadlineRule, ...]

    @property
    def plans(self) -> tuple[Plan, ...]:
        return tuple(self.files.values())

    @property
    def directory(self) -> Any:
        return self.config.directory()

    def reminders(
        self,
        *,
        start: datetime,
        end: datetime,
        deliveries: Sequence[Mapping[str, Any]] = (),
        warnings: Sequence[str] = (),
        **acks: Any,
    ) -> list[Reminder]:
        """reminders.plan_reminders over this snapshot: every reminder due in [start, end);
        `acks`: links, acknowledged, opted_out (acks.planning_options)."""
        from notifier.reminders import plan_reminders

        config = self.config
        return plan_reminders(
            self.plans, self.directory, config.reminders, self.calendar, self.deadlines,
            start=start, end=end, on_day_off=str(config.calendar.deadline_on_day_off),
            digest=config.digest, public_url=config.notifier.public_url,
            deliveries=deliveries, warnings=warnings, **acks,
        )  # fmt: skip


def signature(config_path: Path, schedules_dir: Path) -> Signature:
    """What changes when an admin edits, adds or removes config.toml or a schedule file."""
    from notifier.schedules import schedule_paths

    from notifier.publish import file_signature

    paths = [config_path, schedules_dir]
    if schedules_dir.is_dir():
        paths += schedule_paths(schedules_dir)
    return file_signature(paths)


def load_snapshot(
    config_path: Path,
    *,
    now: datetime,
    environ: Mapping[str, str],
    previous: Snapshot | None = None,
) -> Snapshot:
    """Load and check config.toml and schedules/ as `notifier check` does.

    Raises ConfigError (every problem) when config.toml cannot be used. A schedule file with
    errors keeps its plan from `previous`; without one, its plan is used if it parses at all.
    """
    from notifier.check import check
    from notifier.config import load_config
    from notifier.schedules import schedule_paths
    from notifier.units import resolve_plan

    config = load_config(config_path, environ=environ, missing_ok=True)
    folder = config.schedules_path()
    sig = signature(config_path, folder)  # before reading: a later edit is seen next time
    read: dict[str, Plan] = {}  # each file parsed once, by check (it was parsed twice: +4 s)
    found = check(config_path, folder, today=now.date(), environ=environ, loaded=read)
    paths = schedule_paths(folder) if folder.is_dir() else []
    names = {str(p) for p in paths}
    errors = [p for p in found if p.severity == "error"]
    config_errors = [p for p in errors if p.file not in names]
    if config_errors:
        raise ConfigError(f"{config_path} có {len(config_errors)} lỗi.", config_errors)
    directory = config.directory()
    files: dict[str, Plan] = {}
    problems = list(errors)
    for path in paths:
        name = str(path)
        kept = previous.files.get(name) if previous is not None else None
        if kept is not None and any(p.file == name for p in errors):
            files[name] = kept
            problems.append(
                Problem("tệp lịch có lỗi; vẫn dùng bản trước cho đến khi sửa xong.", file=name)
            )
            continue
        plan = read.get(name)
        if plan is None:
            continue  # no version to use; its problems are in `errors`
        resolve_plan(plan, directory, on=now.date())
        files[name] = plan
    return Snapshot(
        config=config,
        files=MappingProxyType(files),
        problems=tuple(problems),
        signature=sig,
        loaded_at=now,
        calendar=config.work_calendar(),
        deadlines=tuple(config.deadline_rules()),
    )


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    at: datetime
    problems: tuple[Problem, ...] = ()
    reason: str = ""


class Reloader:
    """The last good Snapshot, reloaded when its files change or when asked (SIGHUP).

    Thread-safe: reloads run in worker threads (the sweep's and the feed builder's).
    `generation` grows with every snapshot taken into use; `warnings()` are the problems of
    failed reloads not yet shown in a digest.
    """

    def __init__(
        self,
        config_path: Path,
        snapshot: Snapshot,
        *,
        environ: Mapping[str, str],
        clock: Clock,
    ) -> None:
        self.config_path = config_path
        self.environ = environ
        self.clock = clock
        self._current = snapshot
        self._seen = snapshot.signature
        self._lock = threading.Lock()
        self._pending: dict[str, None] = {}
        self.generation = 0
        self.last = ReloadResult(True, snapshot.loaded_at, snapshot.problems, "khởi động")

    @property
    def current(self) -> Snapshot:
        return self._current

    def _signature(self) -> Signature:
        return signature(self.config_path, self._current.config.schedules_path())

    def reload(self, *, force: bool = False, reason: str = "tệp thay đổi") -> ReloadResult | None:
        """Reload if the files changed (or `force`); None when there was nothing to do."""
        with self._lock:
            before = self._signature()
            if not force and before == self._seen:
                return None
            now = self.clock.now()
            try:
                snap = load_snapshot(
                    self.config_path, now=now, environ=self.environ, previous=self._current
                )
            except UserError as exc:
                result = ReloadResult(
                    False, now, tuple(exc.problems) or (Problem(str(exc)),), reason
                )
            except Exception as exc:  # a bad edit must never stop the daemon
                log.exception("lỗi không lường trước khi nạp lại cấu hình")
                result = ReloadResult(
                    False, now, (Problem(f"{type(exc).__name__}: {exc}"),), reason
                )
            else:
                self._current, self._seen = snap, snap.signature
                self.generation += 1
                result = ReloadResult(True, now, snap.problems, reason)
            if not result.ok:
                self._seen = before  # wait for the next edit rather than retry the same file
                for problem in result.problems:
                    self._pending[f"Sửa cấu hình chưa được áp dụng: {problem}"] = None
            self.last = result
        _report_reload(result)
        if result.ok:
            _note_drafts(self._current.config.schedules_path())
        return result

    def warnings(self) -> list[str]:
        return list(self._pending)

    def clear_warnings(self, shown: Sequence[str]) -> None:
        with self._lock:
            for text in shown:
                self._pending.pop(text, None)


def _note_drafts(folder: Path) -> None:
    """Drafts waiting for `notifier approve` (never used until then): a notice, not a warning."""
    from notifier.schedules import draft_notices

    for note in draft_notices(folder):
        _log(logging.INFO, str(note))


def _report_reload(result: ReloadResult) -> None:
    if result.ok:
        _log(logging.INFO, "đã nạp lại cấu hình và lịch", reason=result.reason,
             problems=len(result.problems))  # fmt: skip
        for problem in result.problems:
            _log(logging.WARNING, str(problem))
        return
    for problem in result.problems:
        _log(logging.ERROR, str(problem))
    _log(logging.ERROR, "sửa đổi có lỗi; vẫn dùng cấu hình và lịch trước đó",
         reason=result.reason, problems=len(result.problems))  # fmt: skip


def feed_catalog(snapshot: Snapshot, config_path: Path, environ: Mapping[str, str]) -> Catalog:
    """The feeds' Catalog from a Snapshot (catalog.load_catalog's reading, without reading
    the files again), so feeds and reminders always come from the same last good version."""
    from notifier.catalog import STATE_FILE, duty_deadlines, feed_settings, read_tokens
    from notifier.publish import Catalog

    config = snapshot.config
    directory = snapshot.directory
    on_day_off = config.calendar.deadline_on_day_off
    problems = list(snapshot.problems)
    deadlines = {}
    for plan in snapshot.plans:
        found, missing = duty_deadlines(
            plan, snapshot.deadlines, snapshot.calendar, on_day_off, directory
        )
        deadlines[plan.slug] = found
        problems += missing
    tokens_file = config.feeds.tokens_file
    tokens_path = config_path.parent / tokens_file if tokens_file else None
    tokens, token_problems = read_tokens(environ, tokens_path, {u.slug for u in directory})
    watch = [config_path, config.schedules_path()]
    if tokens_path is not None:
        watch.append(tokens_path)
    return Catalog(
        plans=snapshot.plans,
        directory=directory,
        settings=feed_settings(config),
        deadlines=deadlines,
        tokens=tokens,
        watch=tuple(watch),
        state_path=config.var_path() / STATE_FILE,
        problems=tuple(problems + token_problems),
    )


# --- the database and the owner ----------------------------------------------------------


def open_ready_store(config: Config, environ: Mapping[str, str]) -> Store:
    """The outbox, checked to be migrated. Only the embedded default (SQLite in var/, no
    NOTIFIER_DATABASE, no [database] url) is created or upgraded here: a new user needs no
    second command, while a shared database is upgraded on purpose (`notifier db upgrade`)."""
    from notifier.store import database_url, open_store

    url = database_url(config, env=environ)
    store = open_store(url)
    try:
        store.check_migrated()
        return store
    except UserError:
        if environ.get("NOTIFIER_DATABASE") or config.database.url:
            store.close()
            raise
    try:
        store.upgrade()
        store.check_migrated()
    except Exception as exc:
        store.close()
        if isinstance(exc, UserError):
            raise
        raise UserError(f"Không tạo được cơ sở dữ liệu {url}: {exc}") from exc
    _log(logging.INFO, "đã tạo hoặc nâng cấp cơ sở dữ liệu mặc định", database=url)
    return store


def owner_id() -> str:
    """A lease owner unique per process, "host:pid:random": host and pid let a daemon on the
    same host see that the owner is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def release_dead_owners(store: Store, *, owner: str, now: datetime) -> int:
    """Give back rows leased by processes of this host that no longer run (kill -9, a
    crash), instead of waiting for their leases to run out. Other hosts' leases are left
    to expire. Returns how many rows came back."""
    host = owner.rsplit(":", 2)[0]
    mine = os.getpid()
    dead: dict[str, list[Any]] = {}
    for row in store.rows(statuses=["claimed"], limit=1_000_000):
        holder = row.lease_owner or ""
        parts = holder.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host or holder == owner or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid != mine and _alive(pid):
            continue  # (the same pid as ours but another owner: an earlier life of this pid)
        dead.setdefault(holder, []).append(row)
    released = sum(store.release(rows, owner=holder, now=now) for holder, rows in dead.items())
    if released:
        _log(logging.WARNING, "trả lại hàng đợi các thư của tiến trình đã chết",
             rows=released, owners=",".join(dead))  # fmt: skip
    return released


# --- the transport, watched ----------------------------------------------------------------


class _Watched:
    """The configured transport, telling whether the server could be reached at all during
    a batch: some failures without a reply code (refused, dropped, timed out, disk full) and
    not one message through."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.description = getattr(inner, "description", type(inner).__name__)
        self.concurrency = int(getattr(inner, "concurrency", 1))
        self.unreachable = 0
        self.through = 0
        self.streak = 0  # unreachable failures in a row
        self.error = ""

    def begin(self) -> None:
        """Start counting for a new run of batches."""
        self.unreachable = self.through = self.streak = 0

    @property
    def down(self) -> bool:
        """Nothing through since begin(), or every connection failed twice in a row since."""
        return (self.unreachable > 0 and self.through == 0) or self.streak >= 2 * self.concurrency

    async def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        try:
            reply = await self.inner.send(sender, recipients, data)
        except DeliveryError as exc:
            if not exc.permanent and getattr(exc, "code", None) is None:
                self.unreachable += 1
                self.streak += 1
                self.error = str(exc)
            raise
        self.through += 1
        self.streak = 0
        return reply

    async def close(self) -> None:
        await self.inner.close()


# --- the daemon ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DaemonOptions:
    """Timers and limits. The grace window is config ([reminders] grace_hours)."""

    sweep: float = 60.0  # seconds between periodic sweeps
    watch: float = 2.0  # seconds between checks for edited files
    lease: timedelta = timedelta(minutes=5)  # a dead daemon's rows come back after this
    # Rows claimed at once. None: 500 on SQLite (one machine; a claim costs ~4 ms plus ~40 µs
    # a row), 100 on PostgreSQL (smaller batches spread a burst over the daemons sharing it:
    # benchmarks/multi.py, 2 daemons 1.64× one with 100, 1.33× with 500).
    batch: int | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lookahead: timedelta = timedelta(days=1)  # how far ahead the next wake-up is looked for
    catch_up_limit: timedelta = timedelta(days=366)  # planning after a long stop goes this far back
    shutdown_timeout: float = 5.0  # for open HTTP connections
    # Processes that render and compose mail while this one sends (0: render here). None:
    # one per core beyond the first, started when at least `render_burst` messages are due
    # (a few render here sooner than a process starts). A pool idle for `render_idle`
    # seconds is stopped: a daemon waiting for tomorrow's 08:00 holds no idle processes.
    render_processes: int | None = None
    render_burst: int = 100
    render_idle: float = 120.0

    @classmethod
    def from_seconds(
        cls, *, sweep: float, lease: float, retry: float, render_processes: int | None = None,
        batch: int | None = None,
    ) -> DaemonOptions:
        """`notifier run --sweep --lease --retry --render-processes --batch`: the first retry
        after `retry` seconds, doubling up to an hour (or `retry`, if longer)."""
        first = timedelta(seconds=retry)
        policy = RetryPolicy(first=first, longest=max(first, RetryPolicy().longest))
        return cls(sweep=sweep, lease=timedelta(seconds=lease), retry=policy,
                   render_processes=render_processes, batch=batch)  # fmt: skip

    def batch_for(self, dialect: str) -> int:
        if self.batch is not None:
            return self.batch
        return 500 if dialect == "sqlite" else 100

    def render_pool_size(self, due: int) -> int:
        """Render processes for a run with `due` messages waiting (0: none)."""
        if self.render_processes is not None:
            return max(self.render_processes, 0)
        if due < self.render_burst:
            return 0
        return min(max((os.cpu_count() or 1) - 1, 0), 4)


@dataclass
class SweepReport:
    planned: int = 0
    enqueued: int = 0
    skipped: int = 0
    sent: BatchResult = field(default_factory=BatchResult)


class Daemon:
    """One notifier process: HTTP feeds, timers, reloads and the send loop in one asyncio loop.

    `await run()` until SIGTERM/SIGINT (or `request_stop()`); `await step()` is one sweep.
    `health()` is what /healthz and /metrics can show (issue 6); `app.state.daemon` is self.
    """

    def __init__(
        self,
        config_path: Path,
        *,
        clock: Clock,
        environ: Mapping[str, str] | None = None,
        host: str | None = None,
        port: int | None = None,
        options: DaemonOptions | None = None,
    ) -> None:
        self.config_path = config_path
        self.clock = clock
        self.environ = dict(os.environ if environ is None else environ)
        self.host, self.port = host, port
        self.options = options or DaemonOptions()
        self.owner = owner_id()
        self.reloader: Reloader | None = None
        self.store: Store | None = None
        self.cache: FeedCache | None = None
        self.url = ""
        self.last_sweep: datetime | None = None
        self.last_error = ""
        self._mailer: Mailer | None = None
        self._transport: _Watched | None = None
        self._pool: RenderPool | None = None  # render processes (envelopes.py), or none
        self._pool_used = 0.0  # monotonic time its last run of batches ended
        self._smtp: Any = None  # the [smtp] section the mailer was made from
        self._down = False
        self._probe = 0.0
        self._planned_until: datetime | None = None
        self._plan_later = False  # this sweep left planning to another daemon
        self._planned_from: Snapshot | None = None  # the snapshot the last plan used
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._watch = asyncio.Event()
        self._forced = False
        self._hup = False
        self._tasks: list[asyncio.Task[None]] = []
        self._server: Any = None
        self._server_task: asyncio.Task[None] | None = None
        self._scheduler: Any = None
        self._web: Any = None  # the [web] section the server was started with
        self._site: Any = None  # site.Site: the pages' cached rows

    # lifecycle

    async def run(self) -> int:
        """Start, serve and send until asked to stop; 0 after a clean stop."""
        try:
            await self.start()
            await self._stopping.wait()
        finally:
            await self.shutdown()
        return 1 if self._forced else 0

    async def start(self) -> None:
        """Load, open the outbox, serve HTTP, start the timers. Raises UserError (Vietnamese)."""
        now = self.clock.now()
        snapshot = await asyncio.to_thread(
            load_snapshot, self.config_path, now=now, environ=self.environ
        )
        if not self.config_path.exists():
            _log(logging.WARNING, "không có tệp cấu hình; dùng cấu hình mặc định (chưa có đơn vị nào)",
                 config=str(self.config_path))  # fmt: skip
        for problem in snapshot.problems:
            _log(logging.WARNING, str(problem))
        _note_drafts(snapshot.config.schedules_path())
        self.reloader = Reloader(self.config_path, snapshot, environ=self.environ, clock=self.clock)
        config = snapshot.config
        from notifier.store import database_url

        self.url = database_url(config, env=self.environ)
        self._web = config.web
        self.store = await asyncio.to_thread(open_ready_store, config, self.environ)
        await asyncio.to_thread(release_dead_owners, self.store, owner=self.owner, now=now)
        self._open_mailer(config)
        await self._serve(config)
        self._install_signals()
        self._start_timers()
        self._tasks = [
            asyncio.create_task(self._worker(), name="notifier-sweep"),
            asyncio.create_task(self._watcher(), name="notifier-watch"),
        ]

    def request_stop(self, why: str = "") -> None:
        if self._stopping.is_set():
            _log(logging.WARNING, "nhận tín hiệu dừng lần nữa: dừng ngay", signal=why)
            self._forced = True
            for task in self._tasks:
                task.cancel()
            return
        _log(logging.INFO, "đang dừng: gửi nốt thư đang gửi rồi thoát", signal=why)
        self._stopping.set()
        self._wake.set()
        self._watch.set()

    def request_reload(self) -> None:
        """SIGHUP: read config.toml and schedules/ again, changed or not."""
        self._hup = True
        self._watch.set()

    async def shutdown(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._watch.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._server_task
        if self._mailer is not None:
            with contextlib.suppress(Exception):
                await self._mailer.close()
        await self._retire_pool(idle=0.0)
        if self.store is not None:
            self.store.close()
        if self._server_task is not None:
            _log(logging.INFO, "đã dừng", owner=self.owner)

    def health(self) -> dict[str, Any]:
        """Facts without touching the database; notifier/health.py turns them into /healthz
        checks and /metrics (the sweep limit comes from `sweep_interval`)."""
        now = self.clock.now()
        last = self.reloader.last if self.reloader is not None else None
        return {
            "owner": self.owner,
            "stopping": self._stopping.is_set(),
            "sweep_interval": self.options.sweep,
            "last_sweep": self.last_sweep.isoformat() if self.last_sweep else None,
            "last_sweep_age": (now - self.last_sweep).total_seconds() if self.last_sweep else None,
            "last_error": self.last_error,
            "mail_server_down": self._down,
            "transport": self._transport.description if self._transport else "",
            "reload_ok": last.ok if last else None,
            "reload_at": last.at.isoformat() if last else None,
            "reload_problems": [str(p) for p in last.problems] if last else [],
        }

    # pieces of start()

    def _open_mailer(self, config: Config) -> None:
        from notifier.mailer import Mailer, open_transport, sender_from

        self._transport = _Watched(open_transport(config, environ=self.environ))
        self._mailer = Mailer(self._transport, sender_from(config))
        self._smtp = config.smtp
        self._down = False
        _log(logging.INFO, "gửi thư qua " + self._transport.description)

    async def _serve(self, config: Config) -> None:
        import uvicorn

        from notifier.publish import FeedCache
        from notifier.site import Site
        from notifier.web import bind, create_app

        reloader = self.reloader
        assert reloader is not None

        def loader(now: datetime) -> Catalog:
            reloader.reload()  # the feed builder may see an edit before the watcher does
            return feed_catalog(reloader.current, self.config_path, self.environ)

        self.cache = FeedCache(loader, clock=self.clock.now)
        cache = self.cache
        await asyncio.to_thread(lambda: cache.snapshot)  # errors now, in Vietnamese
        await asyncio.to_thread(trim_memory)
        self._site = Site.from_daemon(self)
        app = create_app(cache, poll_interval=None, site=self._site)  # the watcher refreshes it
        app.state.daemon = self
        host = self.host or config.web.host
        port = config.web.port if self.port is None else self.port
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise UserError(f"Không mở được cổng {host}:{port}: {exc.strerror or exc}") from exc
        uv = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=int(self.options.shutdown_timeout),
        )  # fmt: skip
        self._server = _quiet_server(uv)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()
                raise UserError("Máy chủ web không khởi động được; xem nhật ký ở trên.")
            await asyncio.sleep(0.01)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        _log(logging.INFO, f"notifier đang chạy: lịch tại http://{shown}:{bound}/",
             host=host, port=bound, owner=self.owner, database=_shown(self.url))  # fmt: skip

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def _start_timers(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        # Jobs only set events. None: run however late (after a suspend); coalesce: many
        # missed runs are one run, which is all an idempotent sweep needs.
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self._scheduler.add_job(
            self._alarm, "interval", args=["sweep"], id="sweep", seconds=self.options.sweep,
            next_run_time=datetime.now(UTC),
        )  # fmt: skip
        self._scheduler.add_job(
            self._alarm, "interval", args=["watch"], id="watch", seconds=self.options.watch
        )
        self._scheduler.start()

    async def _alarm(self, what: str) -> None:
        (self._watch if what == "watch" else self._wake).set()

    # the two loops

    async def _worker(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                await self.step()
                self.last_error = ""
            except Exception as exc:  # database or server away: try again later
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("lỗi khi quét hàng đợi; thử lại sau")
                self._set_timer(min(self.options.sweep, 5.0))

    async def _watcher(self) -> None:
        reloader, cache = self.reloader, self.cache
        assert reloader is not None and cache is not None
        while True:
            await self._watch.wait()
            self._watch.clear()
            if self._stopping.is_set():
                return
            before = reloader.generation
            rebuilt = False
            try:
                if self._hup:
                    self._hup = False
                    await asyncio.to_thread(reloader.reload, force=True, reason="SIGHUP")
                else:
                    await asyncio.to_thread(reloader.reload)
                rebuilt = await asyncio.to_thread(cache.refresh)  # feeds (and the tokens file)
            except Exception:  # keep watching
                log.exception("lỗi khi kiểm tra tệp đã sửa")
            if reloader.generation != before and self._site is not None:
                self._site.forget()  # else the pages hold the previous plans till asked
            if rebuilt or reloader.generation != before:
                await asyncio.to_thread(gc.collect)  # the previous plans, cycles included
                await asyncio.to_thread(trim_memory)
            if reloader.generation != before:
                self._warn_restart_needed(reloader.current.config)
                self._wake.set()  # plan again with what changed

    def _warn_restart_needed(self, config: Config) -> None:
        from notifier.store import database_url

        moved = []
        if database_url(config, env=self.environ) != self.url:
            moved.append("[database]")
        if (self.host is None and config.web.host != self._web.host) or (
            self.port is None and config.web.port != self._web.port
        ):
            moved.append("[web]")
        if moved:
            _log(logging.WARNING, "thay đổi này chỉ có hiệu lực sau khi khởi động lại",
                 sections=",".join(moved))  # fmt: skip

    # one sweep

    async def step(self) -> SweepReport:
        """Plan what is due, enqueue it once, skip what is too old, send in due order."""
        assert self.reloader is not None and self.store is not None
        snap = self.reloader.current
        if snap.config.smtp != self._smtp:
            await self._replace_mailer(snap.config)
        first = self.last_sweep is None
        replan = self._planned_until is None or snap is not self._planned_from  # a big sweep
        began = time.perf_counter()
        report = await self._enqueue(snap)
        report.sent = await self._send()
        await self._retire_pool(idle=self.options.render_idle)
        await self._schedule_next(snap)
        if replan:
            await asyncio.to_thread(trim_memory)  # what planning the whole grace window freed
        self.last_sweep = self.clock.now()
        sent = report.sent
        level = (
            logging.INFO
            if first or report.enqueued or report.skipped or sent.claimed
            else logging.DEBUG
        )
        _log(level, "quét lần đầu xong" if first else "quét xong",
             planned=report.planned, enqueued=report.enqueued, skipped=report.skipped,
             sent=sent.sent, retried=sent.retried, failed=sent.failed, released=sent.released,
             now=self.last_sweep.isoformat(timespec="seconds"),
             seconds=round(time.perf_counter() - began, 3))  # fmt: skip
        return report

    async def _replace_mailer(self, config: Config) -> None:
        old = self._mailer
        self._open_mailer(config)
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()

    async def _enqueue(self, snap: Snapshot) -> SweepReport:
        store, reloader = self.store, self.reloader
        assert store is not None and reloader is not None
        now = self.clock.now()
        grace = snap.config.reminders.grace
        # One daemon plans at a time; the others send what it enqueues meanwhile (it
        # commits 100, then 1,000 rows at a time) and plan only what it has not, next sweep.
        held = await asyncio.to_thread(store.try_planning_lock)
        if held is False:
            self._plan_later = True
            skipped = await asyncio.to_thread(store.skip_stale, now=now, grace=grace)
            return SweepReport(skipped=skipped)
        self._plan_later = False
        try:
            return await self._plan(snap, now, grace)
        finally:
            await asyncio.to_thread(store.planning_unlock, held)

    async def _plan(self, snap: Snapshot, now: datetime, grace: timedelta) -> SweepReport:
        store, reloader = self.store, self.reloader
        assert store is not None and reloader is not None
        stored = _instant(await asyncio.to_thread(store.get_meta, PLANNED_UNTIL))
        if self._planned_until is None or snap is not self._planned_from:
            # Start, or the plans changed: everything inside the grace window again, and
            # after a stop, from the last sweep any daemon recorded. (The snapshot itself
            # marks the version: a reload landing after this sweep took `snap` is planned
            # at the next sweep, where comparing generation numbers skipped it.)
            start = now - grace if stored is None else min(stored, now - grace)
            start = max(start, now - self.options.catch_up_limit)
            self._planned_from = snap
        else:
            start = min(self._planned_until, now)
            if stored is not None:  # another daemon, from the same files, enqueued up to there
                start = max(start, min(stored, now))
        end = now + timedelta(microseconds=1)  # due at `now` is due
        since = _instant(await asyncio.to_thread(store.get_meta, DIGEST_SINCE))
        if since is None:
            since = now - timedelta(days=snap.config.digest.horizon_days)
        deliveries = await asyncio.to_thread(store.delivery_problems, since)
        warnings = reloader.warnings() + [str(p) for p in snap.problems]
        from notifier.acks import planning_options  # links, acknowledged, opted out (engineer H)

        acks = await asyncio.to_thread(planning_options, snap.config, store, self.environ)
        due = await asyncio.to_thread(
            snap.reminders, start=start, end=end, deliveries=deliveries, warnings=warnings, **acks
        )
        self._render_pool(len(due))  # a burst: its render processes start while it is stored
        new = await asyncio.to_thread(store.enqueue, due, now=now) if due else 0
        skipped = await asyncio.to_thread(store.skip_stale, now=now, grace=grace)
        self._planned_until = end
        await asyncio.to_thread(store.set_meta, PLANNED_UNTIL, end.isoformat())
        if any(r.kind == "digest" for r in due):
            await asyncio.to_thread(store.set_meta, DIGEST_SINCE, now.isoformat())
            reloader.clear_warnings(warnings)
        return SweepReport(planned=len(due), enqueued=new, skipped=skipped)

    async def _send(self) -> BatchResult:
        store, mailer, transport = self.store, self._mailer, self._transport
        assert store is not None and mailer is not None and transport is not None
        total = BatchResult()
        if self._down:  # one small batch, earliest due first, to see if the server is back
            await asyncio.to_thread(store.retry_now, now=self.clock.now())
            transport.begin()
            probe = await send_batch(
                store, mailer, now=self.clock.now(), limit=mailer.concurrency, owner=self.owner,
                lease=self.options.lease, policy=self.options.retry, clock=self.clock.now,
                stop=self._stopping.is_set,
            )  # fmt: skip
            total.add(probe)
            if probe.claimed and transport.down:
                return total
            self._down = False
            if probe.claimed:
                _log(logging.INFO, "máy chủ thư hoạt động trở lại", transport=transport.description)
                await asyncio.to_thread(store.retry_now, now=self.clock.now())
        if self._stopping.is_set():
            return total
        # Batch after batch, the next claimed and rendering while one is sent; the rows not
        # started go back once the server cannot be reached (or the daemon stops).
        # (Also when nothing is due: claiming takes back the rows of a daemon that died.)
        # What is due decides only whether to start render processes on their defaults.
        count = self.options.render_processes is None and (self._pool is None or self._pool.broken)
        due = (await asyncio.to_thread(store.counts, now=self.clock.now())).due if count else 0
        pool = self._render_pool(due)
        transport.begin()
        result = await drain(
            store, mailer, now=self.clock.now, owner=self.owner,
            limit=self.options.batch_for(store.dialect),
            lease=self.options.lease, policy=self.options.retry,
            executor=pool.ready if pool is not None else None,
            stop=lambda: self._stopping.is_set() or transport.down,
        )  # fmt: skip
        if pool is not None:
            self._pool_used = time.monotonic()
        total.add(result)
        if transport.down:
            self._down = True
            self._probe = self.options.retry.first.total_seconds()
            _log(logging.WARNING, "không gửi được tới máy chủ thư; thư chờ và được thử lại",
                 error=transport.error, transport=transport.description)  # fmt: skip
        return total

    def _render_pool(self, due: int) -> RenderPool | None:
        """The render processes for `due` messages, started in the background if need be
        (a broken pool is replaced); None when mail is rendered here."""
        size = self.options.render_pool_size(due)
        if size == 0:
            return self._pool  # one already up is used for what comes meanwhile
        if self._pool is not None and not self._pool.broken:
            return self._pool
        from notifier.envelopes import RenderPool

        if self._pool is not None:
            _log(logging.WARNING, "tiến trình dựng thư dừng bất thường; khởi động lại")
            self._pool.shutdown(wait=False)
        self._pool = RenderPool(size)
        self._pool_used = time.monotonic()
        return self._pool

    async def _retire_pool(self, *, idle: float) -> None:
        """Stop the render processes once they have had nothing to do for `idle` seconds."""
        if self._pool is None or time.monotonic() - self._pool_used < idle:
            return
        pool, self._pool = self._pool, None
        await asyncio.to_thread(pool.shutdown, wait=True)

    async def _schedule_next(self, snap: Snapshot) -> None:
        """The timer for the next due reminder, retry or probe (the periodic sweep stays)."""
        if self._stopping.is_set():
            return
        store = self.store
        assert store is not None
        now = self.clock.now()
        if self._down:
            delay = self._probe
            self._probe = min(self._probe * 2, self.options.sweep)
            self._set_timer(delay)
            return
        counts = await asyncio.to_thread(store.counts, now=now)
        candidates = [counts.next_due] if counts.next_due is not None else []
        if self._plan_later:
            # Another daemon is planning: look again soon, for the rows it commits and to
            # plan what it has not; the pass over every plan below can wait for that.
            candidates.append(now + timedelta(seconds=0.2))
        else:
            upcoming = await asyncio.to_thread(
                snap.reminders, start=self._planned_until or now, end=now + self.options.lookahead
            )
            if upcoming:
                candidates.append(upcoming[0].due_at)
        if not candidates:
            return
        # A little late rather than early: the clock here and the timer's may differ by a hair.
        self._set_timer(max((min(candidates) - now).total_seconds(), 0.0) + 0.01)

    def _set_timer(self, seconds: float) -> None:
        if self._scheduler is None or self._stopping.is_set():
            return
        self._scheduler.add_job(
            self._alarm, "date", args=["due"], id="due", replace_existing=True,
            run_date=datetime.now(UTC) + timedelta(seconds=max(seconds, 0.05)),
        )  # fmt: skip


def trim_memory() -> None:
    """Give memory a rebuild freed back to the system (memory.trim): at 1,000 plans × 30
    activities the feed build's transient peak left ~370 MB resident, ~225 MB after this."""
    from notifier.memory import trim

    trim()


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=TZ)


def _shown(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def _quiet_server(config: Any) -> Any:
    """A uvicorn.Server without its own signal handling: the daemon owns SIGTERM/SIGINT
    (uvicorn would re-raise the signal after its shutdown, so the exit code would not be 0)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


def run_daemon(
    config_path: Path,
    *,
    clock: Clock,
    host: str | None = None,
    port: int | None = None,
    options: DaemonOptions | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """`notifier run`: the daemon until SIGTERM/SIGINT; the exit code."""
    from notifier.memory import limit_arenas

    limit_arenas()  # before any thread allocates (memory.limit_arenas says why)
    daemon = Daemon(config_path, clock=clock, environ=environ, host=host, port=port,
                    options=options)  # fmt: skip
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:  # Ctrl+C before the handlers were installed
        return 130
    except UserError as exc:
        if not _json_logs:
            raise  # the CLI prints it for a person at a terminal
        for problem in exc.problems:  # under --log-json even a refusal to start is JSON
            _log(logging.ERROR, str(problem))
        _log(logging.CRITICAL, f"không khởi động được: {exc}", problems=len(exc.problems))
        return 1


# --- logging -------------------------------------------------------------------------------


_RESERVED = frozenset({"ts", "level", "logger", "message"})
_json_logs = False  # setup_logging(json_lines=True) was called


class _Formatter(logging.Formatter):
    """`time level logger: message key=value …`, or one JSON object a line.

    JSON lines: `ts` (ISO 8601 with the Asia/Ho_Chi_Minh offset, milliseconds), `level`,
    `logger`, `message` (Vietnamese, NFC) and the event's fields at the top level (a field
    named like one of those four is kept as `field_<name>`); a traceback is the field
    `traceback`. Strings are NFC: plan text may arrive decomposed (NFD).
    """

    def __init__(self, *, json_lines: bool) -> None:
        super().__init__()
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        from notifier.text import nfc

        stamp = datetime.fromtimestamp(record.created, TZ).isoformat(timespec="milliseconds")
        fields: dict[str, Any] = dict(getattr(record, "fields", None) or {})
        message = nfc(record.getMessage()).rstrip("\n")
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        if self.json_lines:
            data: dict[str, Any] = {"ts": stamp, "level": record.levelname,
                                    "logger": record.name, "message": message}  # fmt: skip
            for key, value in fields.items():
                data[f"field_{key}" if key in _RESERVED else key] = _plain(value)
            return json.dumps(data, ensure_ascii=False, default=str)
        text = f"{stamp} {record.levelname} {record.name}: {message}"
        for key, value in fields.items():
            if key not in ("traceback", "stack"):
                text += f" {key}={_field(nfc(str(value)))}"
        for key in ("traceback", "stack"):
            if key in fields:
                text += "\n" + fields[key]
        return text


def _plain(value: Any) -> Any:
    """A field value for JSON: strings NFC, numbers and booleans as they are, the rest text."""
    from notifier.text import nfc

    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or Infinity
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, Mapping):
        return {nfc(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return nfc(str(value))


def _field(value: str) -> str:
    """A value as is, or quoted when it is empty or has spaces, quotes or '='."""
    if value and not any(c in value for c in ' "=\n'):
        return value
    return json.dumps(value, ensure_ascii=False)


def setup_logging(*, json_lines: bool = False, debug: bool = False) -> None:
    """Log lines to stderr; third-party chatter (APScheduler, uvicorn) only when it matters.

    Python warnings go through logging too, and with `json_lines` so do uncaught exceptions
    and a refusal to start (run_daemon): every line is JSON."""
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter(json_lines=json_lines))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.captureWarnings(True)
    global _json_logs
    _json_logs = json_lines
    if json_lines:  # an exception nobody caught is a log line too, not a bare traceback
        sys.excepthook = _log_uncaught
        threading.excepthook = lambda a: _log_uncaught(a.exc_type, a.exc_value, a.exc_traceback)
    for name in (
        "alembic",
        "apscheduler",
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "aiosmtplib",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def _log_uncaught(kind: type[BaseException], value: BaseException | None, tb: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        return
    log.critical("lỗi không lường trước", exc_info=(kind, value or kind(), tb))
