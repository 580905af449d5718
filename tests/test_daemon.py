"""`notifier run` as a real process, counted at a real SMTP server (aiosmtpd on 127.0.0.1).

Each test writes a small project (config.toml with [smtp] pointing at the test server,
schedules/, SQLite in var/), starts `notifier run --now …` so reminders are due, and counts
what the server accepted. A reminder's Message-ID is derived from its key, so "exactly once"
is checked as: one accepted message per unit, and no Message-ID twice.

The snapshot and lease helpers are also tested in-process (fast); the processes are `slow`.

Dates used (working days counted by the planner, Asia/Ho_Chi_Minh): a window opening on
Monday 01/4/2024 gets its "5 working days before" reminder on Monday 25/3/2024 at 08:00.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _smtp import Handler, SmtpServer
from _stores import at, db_url_fixture, fresh_database, rems, store_fixture  # noqa: F401

from notifier.clock import FixedClock
from notifier.daemon import Reloader, load_snapshot, release_dead_owners
from notifier.store import Store, open_store

NOW = "2024-03-25T09:00:00+07:00"  # Monday, an hour after the 08:00 reminders
OPENS = date(2024, 4, 1)  # its start-5 reminder: 25/3/2024 08:00
PLAN = "99-kh-ubnd-2024"
TIMEOUT = 30.0  # seconds any wait may take before the test fails


# --- the project -------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    name: str
    email: str


def units(n: int, start: int = 1) -> list[Unit]:
    return [
        Unit(f"Trung tâm Văn hóa số {i:02d}", f"donvi{i:02d}@example.org")
        for i in range(start, start + n)
    ]


def config_text(port: int, known: list[Unit], *, grace_hours: float = 24, extra: str = "") -> str:
    blocks = "".join(f'\n[[units]]\nname = "{u.name}"\nemail = "{u.email}"\n' for u in known)
    return f"""\
[notifier]
province = "Đắk Lắk"

[smtp]
host = "127.0.0.1"
port = {port}
starttls = false
from_address = "nhacviec@mail.example.org"
from_name = "Hệ thống nhắc việc"

[reminders]
before_start = [5]
before_end = []
grace_hours = {grace_hours}

[digest]
enabled = false
{extra}{blocks}"""


def schedule_text(activities: list[tuple[str, date]]) -> str:
    """One activity a (lead unit, opening day), each a single day."""
    out = [
        "[plan]",
        'number = "99/KH-UBND"',
        "date = 2024-01-15",
        'issuer = "UBND tỉnh Đắk Lắk"',
        'title = "Kế hoạch thử nghiệm năm 2024"',
        "year = 2024",
    ]
    for n, (lead, day) in enumerate(activities, 1):
        out += [
            "",
            "[[activities]]",
            f'ref = "I.{n}"',
            f'content = "Hoạt động giao lưu văn hóa số {n}"',
            f'lead = ["{lead}"]',
            f'timing = "Ngày {day.day:02d}/{day.month}/{day.year}"',
            'kind = "date"',
            f"start = {day.isoformat()}",
            f"end = {day.isoformat()}",
        ]
    return "\n".join(out) + "\n"


def write_project(
    root: Path,
    port: int,
    activities: list[tuple[Unit, date]],
    *,
    known: list[Unit] | None = None,
    grace_hours: float = 24,
    lead_only: list[tuple[str, date]] = (),  # type: ignore[assignment]
    send_times: dict[str, str] | None = None,  # unit name → "HH:MM" ([[reminders.overrides]])
) -> Path:
    """config.toml + schedules/99-kh-ubnd-2024.toml under `root`; the config's path."""
    known = known if known is not None else list(dict.fromkeys(u for u, _ in activities))
    extra = "".join(
        f'\n[[reminders.overrides]]\nunit = "{name}"\nsend_time = "{at}"\n'
        for name, at in (send_times or {}).items()
    )
    config = root / "config.toml"
    text = config_text(port, known, grace_hours=grace_hours, extra=extra)
    config.write_text(text, encoding="utf-8")
    (root / "schedules").mkdir(exist_ok=True)
    rows = [(u.name, d) for u, d in activities] + list(lead_only)
    (root / "schedules" / f"{PLAN}.toml").write_text(schedule_text(rows), encoding="utf-8")
    return config


def sqlite_url(root: Path) -> str:
    return f"sqlite:///{root / 'var' / 'notifier.sqlite3'}"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


# --- the daemon process ------------------------------------------------------------------


class Daemon:
    """`notifier run` in a subprocess, its log lines collected as they come."""

    def __init__(
        self,
        root: Path,
        *,
        now: str = NOW,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        cmd = [
            sys.executable, "-m", "notifier.cli", "run",
            "--config", str(root / "config.toml"),
            "--host", "127.0.0.1", "--port", "0", "--now", now,
            "--sweep", "1", "--retry", "0.3", *args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=root, env=env or clean_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, encoding="utf-8",
        )  # fmt: skip
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def log(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = TIMEOUT, *, after: int = 0) -> re.Match[str]:
        """The first log line (from line `after`) matching `pattern`; fails on timeout or exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    if m := regex.search(line):
                        return m
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"daemon exited ({self.proc.returncode}):\n{self.log_tail()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no log line /{pattern}/ in {timeout}s:\n{self.log_tail()}"
                    )
                self._cond.wait(min(left, 0.2))

    def log_tail(self) -> str:
        return "\n".join(self.lines[-40:])

    @property
    def port(self) -> int:
        return int(self.wait_for(r"notifier đang chạy: .* port=(\d+)").group(1))

    def ready(self) -> Daemon:
        self.wait_for("quét lần đầu xong")
        return self

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, timeout: float = TIMEOUT
    ) -> tuple[int, float]:
        """Send `sig`; (exit code, seconds it took to exit)."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code, time.monotonic() - started

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(TIMEOUT)
        self._reader.join(5)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start daemons; whatever still runs at the end is killed (and its log shown)."""
    started: list[Daemon] = []

    def go(root: Path = tmp_path, **kwargs: Any) -> Daemon:
        d = Daemon(root, **kwargs)
        started.append(d)
        return d

    yield go
    for d in started:
        if d.proc.poll() is None:
            d.kill()


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    s = SmtpServer().start()
    yield s
    s.close()


# --- what the server accepted --------------------------------------------------------------


def parsed(server: SmtpServer) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(r.data, policy=email.policy.default)  # type: ignore[misc]
        for r in list(server.received)
    ]


def wait_received(server: SmtpServer, n: int, daemon: Daemon, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while len(server.received) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(server.received)} of {n} received:\n{daemon.log_tail()}")
        if daemon.proc.poll() is not None:
            raise AssertionError(f"daemon exited:\n{daemon.log_tail()}")
        time.sleep(0.05)


def assert_once_each(server: SmtpServer, expected: list[Unit]) -> list[str]:
    """Every expected unit got exactly one message, nobody else got any, no Message-ID twice."""
    messages = parsed(server)
    ids = [m["Message-ID"] for m in messages]
    twice = [i for i, n in Counter(ids).items() if n > 1]
    assert twice == [], f"Message-ID delivered twice: {twice}"
    rcpts = Counter(a for r in server.received for a in r.rcpt_tos)
    assert rcpts == Counter(u.email for u in expected)
    assert all(i.endswith("@mail.example.org>") for i in ids)
    return ids


def outbox(url: str) -> Store:
    return open_store(url)


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_run_delivers_each_due_reminder_once_and_nothing_else(
    tmp_path: Path, server: SmtpServer, start: Callable[..., Daemon]
) -> None:
    due = units(12)
    later, stale = (
        Unit("Trung tâm Văn hóa số 90", "donvi90@example.org"),
        Unit("Trung tâm Văn hóa số 91", "donvi91@example.org"),
    )
    write_project(
        tmp_path,
        server.port,
        # later: opens 02/4 → due 26/3 08:00 (tomorrow); stale: opens 28/3 → due 21/3
        # 08:00, before the 24-hour grace window: a first start neither sends nor records it.
        [(u, OPENS) for u in due] + [(later, date(2024, 4, 2)), (stale, date(2024, 3, 28))],
    )
    daemon = start().ready()
    wait_received(server, len(due), daemon)
    time.sleep(1.5)  # a few more sweeps (--sweep 1): nothing else may come
    code, _ = daemon.stop()
    assert code == 0, daemon.log_tail()
    assert_once_each(server, due)
    store = outbox(sqlite_url(tmp_path))  # the embedded default, created by the daemon itself
    try:
        counts = store.counts(now=datetime.fromisoformat(NOW))
        assert (counts.sent, counts.pending, counts.claimed, counts.skipped) == (12, 0, 0, 0)
        assert store.get(f"{PLAN}/activities/trung-tam-van-hoa-so-91/start-5/2024-03-28") is None
    finally:
        store.close()
    first = parsed(server)[0]
    assert "Nhắc việc" in first["Subject"]
    assert [p.get_content_type() for p in first.iter_attachments()] == ["text/calendar"]


@pytest.mark.slow
def test_restart_sends_nothing_twice_and_catch_up_respects_the_grace_window(
    tmp_path: Path, server: SmtpServer, start: Callable[..., Daemon]
) -> None:
    due = units(12)
    missed = Unit("Trung tâm Văn hóa số 80", "donvi80@example.org")  # due 26/3 08:00
    inside = Unit("Trung tâm Văn hóa số 81", "donvi81@example.org")  # due 27/3 08:00
    write_project(
        tmp_path,
        server.port,
        [(u, OPENS) for u in due] + [(missed, date(2024, 4, 2)), (inside, date(2024, 4, 3))],
    )
    first = start().ready()
    wait_received(server, 12, first)
    assert first.stop()[0] == 0

    again = start().ready()  # same --now: everything due is already in the outbox
    time.sleep(1.5)
    assert again.stop()[0] == 0
    assert len(server.received) == 12

    # Down until 27/3 10:00: 26/3 08:00 is older than the 24-hour grace → skipped, recorded;
    # 27/3 08:00 is inside it → sent.
    later = start(now="2024-03-27T10:00:00+07:00").ready()
    wait_received(server, 13, later)
    time.sleep(1.0)
    assert later.stop()[0] == 0
    assert_once_each(server, [*due, inside])
    store = outbox(sqlite_url(tmp_path))
    try:
        skipped = store.get(f"{PLAN}/activities/trung-tam-van-hoa-so-80/start-5/2024-04-02")
        sent = store.get(f"{PLAN}/activities/trung-tam-van-hoa-so-81/start-5/2024-04-03")
        assert skipped is not None and skipped.status == "skipped" and skipped.attempts == 0
        assert sent is not None and sent.status == "sent"
    finally:
        store.close()
    assert "skipped=1" in later.log


@dataclass
class GateHandler(Handler):
    """Accepts `open_for` messages, then holds every DATA without answering until `release`,
    and then answers 451: a message the client never got a 250 for was never accepted."""

    open_for: int = 10**9
    closed: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.closed.is_set() or len(self.received) >= self.open_for:
            self.closed.set()
            self.held += 1
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 thử lại sau"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_kill_9_mid_batch_loses_nothing_and_sends_nothing_twice(
    kind: str, tmp_path: Path, start: Callable[..., Daemon]
) -> None:
    gate = GateHandler(open_for=7)
    server = SmtpServer(gate).start()
    due = units(40)
    write_project(tmp_path, server.port, [(u, OPENS) for u in due])
    with fresh_database(kind, tmp_path) as url:
        env = clean_env()
        if kind == "postgresql":
            from notifier.store import upgrade

            upgrade(url)  # a shared database is upgraded on purpose, never by the daemon
            env["NOTIFIER_DATABASE"] = url
        else:
            url = sqlite_url(tmp_path)
        try:
            victim = start(env=env)
            victim.port  # noqa: B018 - wait until it serves
            assert gate.closed.wait(TIMEOUT), victim.log_tail()
            deadline = time.monotonic() + TIMEOUT
            while gate.held == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.5)  # what got its 250 is recorded within record_window + a commit
            victim.kill()  # messages are in flight: the server holds them unanswered
            gate.release.set()
            accepted = len(server.received)
            store = outbox(url)
            try:
                counts = store.counts(now=datetime.fromisoformat(NOW))
            finally:
                store.close()
            assert accepted == 7 and counts.sent == accepted  # nothing accepted went unrecorded
            assert counts.claimed > 0  # the dead process still holds leases

            gate.closed.clear()
            gate.open_for = 10**9
            heir = start(env=env)
            wait_received(server, len(due), heir)
            heir.wait_for("trả lại hàng đợi các thư của tiến trình đã chết")  # not after the lease
            time.sleep(1.0)
            assert heir.stop()[0] == 0
            assert_once_each(server, due)
        finally:
            server.close()


@pytest.mark.slow
def test_mail_server_down_at_start_then_up_delivers_all_once_in_due_order(
    tmp_path: Path, start: Callable[..., Daemon]
) -> None:
    server = SmtpServer().start()
    server.stop()  # the port stays reserved for start() later
    due = units(20)
    # Each unit its own send time, 06:00, 06:05 … 07:35 on 25/3: twenty distinct due times.
    times = {u.name: f"{6 + n // 12:02d}:{n * 5 % 60:02d}" for n, u in enumerate(due)}
    write_project(tmp_path, server.port, [(u, OPENS) for u in reversed(due)], send_times=times)
    try:
        daemon = start()
        daemon.wait_for("không gửi được tới máy chủ thư")
        time.sleep(1.5)  # a few probes fail
        assert server.received == []
        server.start()
        wait_received(server, len(due), daemon)
        daemon.wait_for("máy chủ thư hoạt động trở lại")
        time.sleep(1.0)
        assert daemon.stop()[0] == 0
        ids = assert_once_each(server, due)
        store = outbox(sqlite_url(tmp_path))
        try:
            rows = {r.message_id: r for r in store.rows(statuses=["sent"], limit=100)}
        finally:
            store.close()
        order = sorted(rows.values(), key=lambda r: r.due_at)
        assert len({r.due_at for r in order}) == len(due)
        rank = {r.message_id: n for n, r in enumerate(order)}
        # Four connections carry messages at once; each arrives within four of its place.
        displaced = [(n, rank[i]) for n, i in enumerate(ids) if abs(rank[i] - n) >= 4]
        assert displaced == [], [rank[i] for i in ids]
    finally:
        server.close()


def _get(port: int, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.read()


@pytest.mark.slow
def test_broken_config_edit_keeps_the_last_good_version_and_a_fix_is_picked_up(
    tmp_path: Path, server: SmtpServer, start: Callable[..., Daemon]
) -> None:
    due = units(3)
    newcomer = Unit("Sở Mới", "somoi@example.org")  # led in the plan, unknown to the config
    config = write_project(
        tmp_path, server.port, [(u, OPENS) for u in due], lead_only=[(newcomer.name, OPENS)]
    )
    daemon = start()
    port = daemon.port
    daemon.ready()
    wait_received(server, 3, daemon)
    assert _get(port, "/feeds/index.json")[0] == 200

    good = config.read_text(encoding="utf-8")
    line = good.splitlines().index("grace_hours = 24") + 1
    for broken, named in (("grace_hours = ", ""), ('grace_hours = "nhiều"', "grace_hours")):
        mark = len(daemon.lines)
        config.write_text(good.replace("grace_hours = 24", broken), encoding="utf-8")
        problem = daemon.wait_for(rf"config\.toml:(\d+): .*{named}", after=mark)
        assert int(problem.group(1)) == line, problem.string
        daemon.wait_for("vẫn dùng cấu hình và lịch trước đó", after=mark)
        assert daemon.proc.poll() is None
    status, body = _get(port, "/feeds/index.json")
    assert status == 200 and b"so-moi" not in body
    assert _get(port, "/")[0] == 200

    mark = len(daemon.lines)
    config.write_text(
        good + f'\n[[units]]\nname = "{newcomer.name}"\nemail = "{newcomer.email}"\n',
        encoding="utf-8",
    )
    daemon.wait_for("đã nạp lại cấu hình và lịch", after=mark)
    wait_received(server, 4, daemon)  # the newcomer's reminder, due at 08:00, inside the grace
    deadline = time.monotonic() + TIMEOUT
    while b"so-moi" not in _get(port, "/feeds/index.json")[1]:  # feeds follow the same snapshot
        assert time.monotonic() < deadline, daemon.log_tail()
        time.sleep(0.2)

    mark = len(daemon.lines)
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for("đã nạp lại cấu hình và lịch reason=SIGHUP", after=mark)
    time.sleep(1.0)
    assert daemon.stop()[0] == 0
    assert_once_each(server, [*due, newcomer])


@pytest.mark.slow
def test_sigterm_finishes_the_mail_in_flight_and_exits_0(
    tmp_path: Path, server: SmtpServer, start: Callable[..., Daemon]
) -> None:
    due = units(20)
    write_project(tmp_path, server.port, [(u, OPENS) for u in due])
    server.handler.on_data = lambda _r: time.sleep(0.2)  # a slow server: a batch takes seconds
    daemon = start()
    wait_received(server, 3, daemon)
    code, took = daemon.stop(signal.SIGTERM)
    assert code == 0 and took < 5, daemon.log_tail()
    store = outbox(sqlite_url(tmp_path))
    try:
        counts = store.counts(now=datetime.fromisoformat(NOW))
    finally:
        store.close()
    # Every accepted message is recorded as sent, nothing stays leased, the rest waits.
    assert counts.claimed == 0 and counts.sent == len(server.received) < len(due)
    assert counts.pending == len(due) - counts.sent

    server.handler.on_data = None
    again = start()
    wait_received(server, len(due), again)
    time.sleep(1.0)
    assert again.stop(signal.SIGINT)[0] == 0
    assert_once_each(server, due)


@pytest.mark.slow
def test_an_idle_daemon_stops_promptly_and_a_shared_database_must_be_upgraded_first(
    tmp_path: Path, server: SmtpServer, start: Callable[..., Daemon]
) -> None:
    write_project(tmp_path, server.port, [(u, OPENS) for u in units(2)])
    daemon = start().ready()
    code, took = daemon.stop()
    assert code == 0 and took < 5

    other = tmp_path / "shared.sqlite3"
    refused = start(env=clean_env(NOTIFIER_DATABASE=f"sqlite:///{other}"))
    assert refused.proc.wait(TIMEOUT) == 1
    refused._reader.join(5)
    assert "Cơ sở dữ liệu chưa được nâng cấp; chạy: notifier db upgrade" in refused.log


# --- in-process: the snapshot, reloads and leases -------------------------------------------


def test_reloads_keep_the_last_good_version_per_file_and_name_file_line_key(
    tmp_path: Path,
) -> None:
    config = write_project(tmp_path, 2525, [(u, OPENS) for u in units(2)])
    schedule = tmp_path / "schedules" / f"{PLAN}.toml"
    good_config, good_schedule = config.read_text("utf-8"), schedule.read_text("utf-8")
    clock = FixedClock(datetime.fromisoformat(NOW))
    reloader = Reloader(
        config, load_snapshot(config, now=clock.now(), environ={}), environ={}, clock=clock
    )
    window = {"start": clock.now() - timedelta(hours=2), "end": clock.now()}
    assert len(reloader.current.reminders(**window)) == 2
    assert reloader.reload() is None  # nothing changed

    # A schedule naming a unit the directory does not know: that file keeps its last plan.
    schedule.write_text(good_schedule.replace("số 02", "số 99"), encoding="utf-8")
    result = reloader.reload()
    assert result is not None and result.ok and reloader.generation == 1
    leads = [a.lead for p in reloader.current.plans for a in p.activities]
    assert leads == [["Trung tâm Văn hóa số 01"], ["Trung tâm Văn hóa số 02"]]
    assert any("vẫn dùng bản trước" in str(p) and p.file == str(schedule) for p in result.problems)

    # A broken config: the whole snapshot stays, the problem waits for the next digest.
    before = reloader.current
    config.write_text(good_config.replace("grace_hours = 24", 'grace_hours = "nhiều"'), "utf-8")
    result = reloader.reload()
    assert result is not None and not result.ok
    assert reloader.current is before and reloader.generation == 1
    line = good_config.splitlines().index("grace_hours = 24") + 1
    assert any(f"config.toml:{line}: [reminders] grace_hours" in w for w in reloader.warnings())
    assert reloader.reload() is None  # the same broken files are not read again

    config.write_text(good_config, encoding="utf-8")
    schedule.write_text(good_schedule.replace("số 02", "số 01"), encoding="utf-8")
    result = reloader.reload()
    assert result is not None and result.ok and reloader.generation == 2
    assert [r.to for r in reloader.current.reminders(**window)] == [("donvi01@example.org",)]
    shown = reloader.warnings()
    reloader.clear_warnings(shown)
    assert shown and reloader.warnings() == []
    assert reloader.reload(force=True, reason="SIGHUP") is not None and reloader.generation == 3


def test_leases_of_dead_processes_on_this_host_come_back_at_once(store: Store) -> None:
    import socket

    store.enqueue(rems(6), now=at(1, 0))
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    host = socket.gethostname()
    store.claim_due(f"{host}:{finished.pid}:dead", now=at(2), limit=2)
    store.claim_due(f"{host}:{os.getppid()}:alive", now=at(2), limit=2)
    store.claim_due(f"elsewhere.example.org:{finished.pid}:far", now=at(2), limit=2)
    released = release_dead_owners(store, owner=f"{host}:{os.getpid()}:me", now=at(2, 8, 1))
    counts = store.counts(now=at(2, 8, 1))
    assert released == 2 and (counts.pending, counts.claimed) == (2, 4)
    assert {r.lease_owner for r in store.rows(statuses=["claimed"])} == {
        f"{host}:{os.getppid()}:alive",
        f"elsewhere.example.org:{finished.pid}:far",  # another host: its lease must run out
    }


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _still_running(pids: list[int], *, within: float) -> list[int]:
    """Those of `pids` still alive (not zombies) after up to `within` seconds."""

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + within
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.slow
def test_render_processes_exit_when_the_daemon_is_killed(
    tmp_path: Path, server: SmtpServer, start: Callable[..., Daemon]
) -> None:
    due = units(3)
    write_project(tmp_path, server.port, [(u, OPENS) for u in due])
    daemon = start(args=("--render-processes", "1")).ready()
    wait_received(server, len(due), daemon)
    workers = _children(daemon.proc.pid)
    assert workers, "no render process"
    daemon.kill()  # SIGKILL: nothing of the daemon runs any more
    assert _still_running(workers, within=10) == []


@pytest.mark.slow
def test_a_killed_render_process_is_replaced_and_nothing_is_lost(
    tmp_path: Path, server: SmtpServer, start: Callable[..., Daemon]
) -> None:
    first, then = units(6), units(6, start=7)
    write_project(tmp_path, server.port, [(u, OPENS) for u in first])
    daemon = start(args=("--render-processes", "1")).ready()
    wait_received(server, len(first), daemon)
    workers = _children(daemon.proc.pid)
    assert workers, "no render process"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    mark = len(daemon.lines)
    write_project(tmp_path, server.port, [(u, OPENS) for u in first + then])  # six more due now
    daemon.wait_for("đã nạp lại cấu hình và lịch", after=mark)
    wait_received(server, len(first) + len(then), daemon)
    daemon.wait_for("tiến trình dựng thư dừng bất thường", after=mark)
    replaced = _children(daemon.proc.pid)
    assert replaced and not set(replaced) & set(workers), "the render process was not replaced"
    assert daemon.stop()[0] == 0
    assert_once_each(server, first + then)
    assert _still_running(replaced, within=5) == []  # they stop with the daemon


def test_render_processes_start_for_a_burst_and_stop_once_idle(tmp_path: Path) -> None:
    from notifier.daemon import Daemon as Notifier
    from notifier.daemon import DaemonOptions

    auto = DaemonOptions()
    assert auto.render_pool_size(auto.render_burst - 1) == 0  # a few: rendered in the loop
    assert auto.render_pool_size(auto.render_burst) == min(max((os.cpu_count() or 1) - 1, 0), 4)
    assert DaemonOptions(render_processes=2).render_pool_size(0) == 2  # asked for: always
    assert DaemonOptions(render_processes=0).render_pool_size(10**6) == 0
    # Claims: larger on SQLite (one machine), smaller where daemons share PostgreSQL.
    assert (auto.batch_for("sqlite"), auto.batch_for("postgresql")) == (500, 100)
    assert DaemonOptions(batch=7).batch_for("postgresql") == 7

    daemon = Notifier(
        tmp_path / "config.toml",
        clock=FixedClock(datetime.fromisoformat(NOW)),
        options=DaemonOptions(render_processes=1),
    )

    async def go() -> None:
        pool = daemon._render_pool(1)
        assert pool is not None and daemon._render_pool(1) is pool  # kept between runs
        assert pool.ready() is None  # starting: the loop renders meanwhile
        deadline = time.monotonic() + TIMEOUT
        while (executor := pool.ready()) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert executor.submit(int, "7").result() == 7
        daemon._pool_used = time.monotonic()
        await daemon._retire_pool(idle=60)
        assert daemon._pool is pool
        await daemon._retire_pool(idle=0)
        assert daemon._pool is None
        with pytest.raises(RuntimeError):  # shut down
            executor.submit(int, "7")

    asyncio.run(go())
