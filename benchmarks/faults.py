"""Fault scenarios (issue 6 item 2): real daemons, a real PostgreSQL, a counting mail sink.

Each scenario writes a project (config.toml with generated units at example.org, schedules/
with many activities) so that N reminders are due at one instant, runs `notifier db upgrade`
and then `notifier run --now … --port 0` processes, breaks something, and counts at the sink:

    (a) kill9     three daemons on one PostgreSQL, one of them `kill -9`ed while it holds
                  claimed rows and restarted, every few seconds; each kill lands while the
                  sink holds the messages in flight unanswered (then refuses them);
    (A) crash     the same, the kill at any moment: a message the server accepted in the
                  last ~50 ms before the kill (its 250 in, "sent" not yet committed) is sent
                  again by the heir with the same Message-ID. SMTP has no way to ask a server
                  whether it took a message (RFC 1047), so this window can be narrowed, not
                  closed; such duplicates are counted (exit 1) and listed with their distance
                  to the kill;
    (b) smtp      the mail server down for a while (SIGTERM: it stops listening and drops
                  its connections), then back: all delivered, in order of due time;
    (c) pg        PostgreSQL restarted mid-run (pg_ctl restart -m fast);
    (d) disk      the maildir (var/maildir, no [smtp] host) on a small tmpfs that fills up,
                  then grows (mount -o remount,size=…): a clear error, nothing marked sent
                  that was not, all delivered after space returns;
    (e) edits     generated broken edits of config.toml and a schedule file (bad TOML,
                  unknown key, wrong type, unknown unit, impossible date): the daemon keeps
                  its last good version, logs file:line: key, recovers when the file is fixed.

Counting: the sink (aiosmtpd on 127.0.0.1, a separate process: `faults.py sink`) appends
each message's Message-ID and arrival time to a file before it answers 250; a reminder's
Message-ID is derived from its key (mailer.message_id), and the expected keys come from the
planner run here on the same files, so duplicates and losses are exact. The outbox is read
at the end too: its "sent" rows must be exactly what the sink (or the maildir) holds.

Each prints: reminders due, delivered, duplicated, lost, recovery times; exit 1 when any
duplicate or loss (or a check above) fails. tests/test_faults.py runs the same scenarios at
CI size.

Run: .venv/bin/python benchmarks/faults.py [a A b c d e | all] [--reminders N] [--down S]
     [--every S] [--mutations N]
PostgreSQL: a private cluster (tests/pg.sh with NOTIFIER_PG_PORT=54391,
NOTIFIER_PG_DIR=/tmp/notifier-pg-faults), never the shared test server, since (c) restarts it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NOW = datetime.fromisoformat("2024-03-25T09:00:00+07:00")  # Monday, after 08:00's reminders
OPENS = date(2024, 4, 1)  # a window opening then: its start-5 reminder is 25/3/2024 08:00
DOMAIN = "mail.example.org"
PG_PORT = int(os.environ.get("NOTIFIER_FAULTS_PG_PORT", "54391"))
PG_DIR = os.environ.get("NOTIFIER_FAULTS_PG_DIR", "/tmp/notifier-pg-faults")
PY = sys.executable
QUIET = 2.0  # seconds without a new arrival before counting (late duplicates show); tests: 1


# --- the counting sink (a separate process) --------------------------------------------------


_MID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def sink_main(port: int, out: Path, delay: float = 0.0, gate: Path | None = None) -> None:
    """aiosmtpd on 127.0.0.1:`port`; each accepted message's Message-ID and arrival time
    appended to `out` before the 250 is written (no await in between, so a graceful stop
    never records a message whose sender did not get its 250). SIGTERM: stop listening,
    close every session after its current reply, exit."""
    from aiosmtpd.smtp import SMTP

    sink = out.open("a", encoding="ascii", buffering=1)
    held = out.with_suffix(".held").open("a", encoding="ascii", buffering=1)
    sessions: list[Any] = []

    class Handler:
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
        ) -> str:
            # A slower server, so that runs last long enough for faults to land mid-way; the
            # wait is before DATA, so it does not widen the time between accepting a message
            # and the sender hearing so (a sender killed then would send it again).
            if delay:
                await asyncio.sleep(delay)
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if gate is not None and gate.exists():
                # Held unanswered while the gate file exists, then refused: a sender killed
                # meanwhile had nothing accepted (`held` counts the messages held).
                held.write("held\n")
                while gate.exists():
                    await asyncio.sleep(0.01)
                return "451 4.3.0 try again later"
            found = _MID.search(envelope.content)
            mid = found.group(1).decode("ascii", "replace") if found else "<none>"
            sink.write(f"{mid}\t{time.time():.6f}\n")
            return "250 2.0.0 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        def factory() -> Any:
            s = SMTP(Handler(), hostname="sink.test", enable_SMTPUTF8=False, timeout=600)
            sessions.append(s)
            return s

        server = await loop.create_server(factory, "127.0.0.1", port, reuse_address=True)
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
        print("ready", flush=True)
        await stopped.wait()
        server.close()
        for s in sessions:
            if s.transport is not None:
                s.transport.close()  # flushes what is buffered (a 250 already written)
        await asyncio.sleep(0.05)

    asyncio.run(serve())
    sink.close()


class Sink:
    """The counting sink as a process on a fixed port; `down()` and `up()` for outages."""

    def __init__(self, path: Path, port: int | None = None, delay: float = 0.0) -> None:
        self.path = path
        self.port = port or free_port()
        self.delay = delay
        self.gate = path.with_suffix(".gate")
        self.proc: subprocess.Popen[str] | None = None

    def up(self) -> Sink:
        self.proc = subprocess.Popen(
            [PY, __file__, "sink", "--port", str(self.port), "--out", str(self.path),
             "--delay", str(self.delay), "--gate", str(self.gate)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("mail sink did not start")
        return self

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None

    def arrivals(self) -> list[tuple[str, float]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text("ascii").splitlines():
            mid, _, stamp = line.partition("\t")
            if stamp:
                out.append((mid, float(stamp)))
        return out

    def held(self) -> int:
        held = self.path.with_suffix(".held")
        return len(held.read_bytes().splitlines()) if held.exists() else 0

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            return sum(1 for _ in f)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the workload --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """`plans` schedule files × `units` units: one reminder per (plan, unit), all due at
    25/3/2024 08:00, or spread over `units` distinct send times (06:00, 06:01, …)."""

    reminders: int
    units: int = 100
    spread: bool = False

    @property
    def plans(self) -> int:
        return max(1, -(-self.reminders // self.units))

    def unit_names(self) -> list[tuple[str, str]]:
        return [
            (f"Trung tâm Văn hóa số {i:03d}", f"donvi{i:03d}@example.org")
            for i in range(1, min(self.units, self.reminders) + 1)
        ]


def config_text(
    work: Workload, *, smtp_port: int | None, grace_hours: float = 24, extra: str = ""
) -> str:
    units = work.unit_names()
    blocks = "".join(f'\n[[units]]\nname = "{n}"\nemail = "{e}"\n' for n, e in units)
    overrides = ""
    if work.spread:  # each unit its own send time: as many distinct due times as units
        overrides = "".join(
            f'\n[[reminders.overrides]]\nunit = "{n}"\nsend_time = "{6 + i // 60:02d}:{i % 60:02d}"\n'
            for i, (n, _) in enumerate(units)
        )
    smtp = f'host = "127.0.0.1"\nport = {smtp_port}\nstarttls = false\n' if smtp_port else ""
    return f"""\
[notifier]
province = "Đắk Lắk"

[smtp]
{smtp}from_address = "nhacviec@{DOMAIN}"
from_name = "Hệ thống nhắc việc"

[reminders]
before_start = [5]
before_end = []
grace_hours = {grace_hours}

[digest]
enabled = false
{extra}{overrides}{blocks}"""


def schedule_text(number: int, leads: Sequence[str], opens: date = OPENS) -> str:
    """Plan `number`: one single-day activity per lead unit, all opening on `opens`."""
    out = [
        "[plan]",
        f'number = "{number}/KH-UBND"',
        "date = 2024-01-15",
        'issuer = "UBND tỉnh Đắk Lắk"',
        f'title = "Kế hoạch thử nghiệm số {number} năm 2024"',
        "year = 2024",
    ]
    for n, lead in enumerate(leads, 1):
        out += [
            "",
            "[[activities]]",
            f'ref = "I.{n}"',
            f'content = "Hoạt động giao lưu văn hóa số {n} của kế hoạch {number}"',
            f'lead = ["{lead}"]',
            f'timing = "Ngày {opens.day:02d}/{opens.month}/{opens.year}"',
            'kind = "date"',
            f"start = {opens.isoformat()}",
            f"end = {opens.isoformat()}",
        ]
    return "\n".join(out) + "\n"


def write_project(
    root: Path, work: Workload, *, smtp_port: int | None, grace_hours: float = 24
) -> Path:
    """config.toml + schedules/ under `root`; the config's path."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.toml"
    config.write_text(config_text(work, smtp_port=smtp_port, grace_hours=grace_hours), "utf-8")
    folder = root / "schedules"
    folder.mkdir(exist_ok=True)
    names = [n for n, _ in work.unit_names()]
    left = work.reminders
    for p in range(1, work.plans + 1):
        leads = names[: min(len(names), left)]
        left -= len(leads)
        path = folder / f"{100 + p}-kh-ubnd-2024.toml"
        path.write_text(schedule_text(100 + p, leads), "utf-8")
    return config


def expected(config: Path, now: datetime = NOW) -> dict[str, datetime]:
    """Message-ID → due time of every reminder due at `now` (the planner, run here)."""
    from notifier.daemon import load_snapshot
    from notifier.mailer import message_id

    snap = load_snapshot(config, now=now, environ={})
    grace = snap.config.reminders.grace
    due = snap.reminders(start=now - grace, end=now + timedelta(microseconds=1))
    return {message_id(r.key, DOMAIN): r.due_at for r in due}


# --- PostgreSQL (a private cluster) -----------------------------------------------------------


def pg_env() -> dict[str, str]:
    return {**os.environ, "NOTIFIER_PG_PORT": str(PG_PORT), "NOTIFIER_PG_DIR": PG_DIR}


def pg_start() -> str:
    """Start (installing if needed) the private cluster; its base URL."""
    out = subprocess.run(
        ["bash", str(ROOT / "tests" / "pg.sh")], env=pg_env(), check=True,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def pg_stop() -> None:
    subprocess.run(["bash", str(ROOT / "tests" / "pg.sh"), "stop"], env=pg_env(), check=False)


def _pg_bin() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    return str(found[-1])


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg_restart() -> float:
    """pg_ctl restart -m fast; seconds it took until it accepts connections again."""
    started = time.monotonic()
    subprocess.run(
        _as_pg([f"{_pg_bin()}/pg_ctl", "-D", PG_DIR, "restart", "-m", "fast", "-w", "-t", "60"]),
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.monotonic() - started


@contextlib.contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A fresh schema on the cluster, as a URL whose search_path is that schema."""
    import sqlalchemy as sa

    from notifier.store import normalize_url

    schema = f"f_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(base))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{normalize_url(base)}{sep}options=-c%20search_path%3D{schema}"
    finally:
        with contextlib.suppress(Exception), admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def db_upgrade(root: Path, url: str) -> None:
    subprocess.run(
        [PY, "-m", "notifier.cli", "db", "upgrade", "--config", str(root / "config.toml")],
        cwd=root, env=clean_env(NOTIFIER_DATABASE=url), check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def db_upgrade_url(url: str) -> None:
    """The schema at `url` brought up by the Alembic migrations, in-process."""
    from notifier.store import upgrade

    upgrade(url)


def claimed_by(url: str, pid: int) -> int:
    """Rows leased by the daemon with process id `pid` (owner "host:pid:random")."""
    import sqlalchemy as sa

    from notifier.store import normalize_url

    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT count(*) FROM outbox WHERE status = 'claimed' AND lease_owner LIKE %s",
                (f"%:{pid}:%",),
            )
            return int(found.scalar() or 0)
    except Exception:  # noqa: BLE001 - the server is coming back
        return 0
    finally:
        engine.dispose()


def outbox_counts(url: str) -> dict[str, int]:
    """Rows by status, and the sent rows' Message-IDs count (read-only, short)."""
    import sqlalchemy as sa

    from notifier.store import normalize_url

    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT status, count(*) FROM outbox GROUP BY status")
            return {str(s): int(n) for s, n in rows}
    finally:
        engine.dispose()


def sent_ids(url: str) -> Counter[str]:
    import sqlalchemy as sa

    from notifier.store import normalize_url

    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT message_id FROM outbox WHERE status = 'sent'")
            return Counter(str(m) for (m,) in found)
    finally:
        engine.dispose()


# --- daemon processes ----------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


class Daemon:
    """`notifier run` in a subprocess, its clock at NOW + (time since `epoch`), log collected."""

    def __init__(
        self,
        root: Path,
        *,
        epoch: float,
        env: dict[str, str],
        sweep: float = 1.0,
        retry: float = 0.3,
        lease: float = 60.0,
        name: str = "d",
        base: datetime = NOW,
        extra: Sequence[str] = (),
    ) -> None:
        now = base + timedelta(seconds=time.monotonic() - epoch)
        cmd = [
            PY, "-m", "notifier.cli", "run", "--config", str(root / "config.toml"),
            "--host", "127.0.0.1", "--port", "0", "--now", now.isoformat(),
            "--sweep", str(sweep), "--retry", str(retry), "--lease", str(lease), *extra,
        ]  # fmt: skip
        self.name = name
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, encoding="utf-8", errors="replace",
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

    def wait_for(self, pattern: str, timeout: float = 60.0, *, after: int = 0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    if m := regex.search(line):
                        return m
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(
                        f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.name}: no /{pattern}/ in {timeout}s:\n{self.tail()}")
                self._cond.wait(min(left, 0.2))

    def tail(self, n: int = 30) -> str:
        with self._cond:
            return "\n".join(self.lines[-n:])

    @property
    def log(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    @property
    def port(self) -> int:
        return int(self.wait_for(r"notifier đang chạy: .* port=(\d+)").group(1))

    def ready(self, timeout: float = 120.0) -> Daemon:
        self.wait_for("quét lần đầu xong", timeout)
        return self

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self._reader.join(5)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(30)
        self._reader.join(5)
        return code


# --- results ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    due: int
    delivered: int = 0
    duplicated: int = 0
    lost: int = 0
    unexpected: int = 0
    seconds: float = 0.0
    recovery: dict[str, list[float]] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.duplicated == 0 and self.lost == 0 and self.unexpected == 0
            and all(self.checks.values())
        )  # fmt: skip

    def show(self) -> str:
        head = (
            f"== ({self.name}) due {self.due}, delivered {self.delivered}, duplicated "
            f"{self.duplicated}, lost {self.lost}, unexpected {self.unexpected}, "
            f"{self.seconds:.1f} s, {'PASS' if self.ok else 'FAIL'}"
        )
        lines = [head]
        for what, times in self.recovery.items():
            if times:
                ordered = sorted(times)
                lines.append(
                    f"   recovery {what}: n={len(times)} median {ordered[len(ordered) // 2]:.2f} s,"
                    f" max {ordered[-1]:.2f} s"
                )
        for what, good in self.checks.items():
            lines.append(f"   check {what}: {'ok' if good else 'FAILED'}")
        lines += [f"   {n}" for n in self.notes]
        return "\n".join(lines)


def tally(result: Result, want: dict[str, datetime], got: Sequence[str]) -> Counter[str]:
    """Fill delivered/duplicated/lost/unexpected from the Message-IDs that arrived."""
    seen = Counter(got)
    result.delivered = sum(1 for m in seen if m in want)
    result.duplicated = sum(n - 1 for n in seen.values() if n > 1)
    result.unexpected = sum(n for m, n in seen.items() if m not in want)
    result.lost = len(want) - result.delivered
    return seen


def wait_until(
    done: Callable[[], bool],
    timeout: float,
    *,
    daemons: Sequence[Daemon] = (),
    poll: float = 0.1,
) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        for d in daemons:
            if d.proc.poll() is not None:
                raise RuntimeError(f"{d.name} exited:\n{d.tail()}")
        time.sleep(poll)
    return True


def settle(count: Callable[[], int], quiet: float = 1.5, timeout: float = 30.0) -> int:
    """Wait until `count()` has not changed for `quiet` seconds (late duplicates show)."""
    last, since = count(), time.monotonic()
    deadline = since + timeout
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.1)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


def check_outbox(result: Result, url: str, seen: Counter[str]) -> None:
    """The outbox's "sent" rows are exactly the messages that arrived, each once."""
    marked = sent_ids(url)
    result.checks["outbox sent = arrived"] = set(marked) == set(seen) and all(
        n == 1 for n in marked.values()
    )
    counts = outbox_counts(url)
    result.notes.append("outbox: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    result.checks["nothing left claimed"] = counts.get("claimed", 0) == 0


# --- one run: a project, a sink, a schema, daemons -------------------------------------------


class Run:
    """A project under a temporary folder, its sink and database; daemons started here are
    stopped (or killed) at the end, the schema dropped, the folder removed."""

    def __init__(
        self,
        work: Workload,
        *,
        pg_base: str,
        name: str,
        smtp: bool = True,
        sink_delay: float = 0.0,
        keep: bool = False,
    ) -> None:
        self.work = work
        self.pg_base = pg_base
        self.root = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
        self.sink = Sink(self.root / "arrivals.tsv", delay=sink_delay) if smtp else None
        self.config = write_project(
            self.root, work, smtp_port=self.sink.port if self.sink else None
        )
        self.want = expected(self.config)
        self.daemons: list[Daemon] = []
        self.keep = keep
        self.epoch = time.monotonic()
        self.url = ""
        self._schema: contextlib.AbstractContextManager[str] | None = None

    def __enter__(self) -> Run:  # noqa: PYI034 - a Run is not subclassed
        self._schema = pg_schema(self.pg_base)
        self.url = self._schema.__enter__()
        db_upgrade(self.root, self.url)
        if self.sink is not None:
            self.sink.up()
        self.epoch = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        for d in self.daemons:
            if d.proc.poll() is None:
                d.kill()
        if self.sink is not None:
            self.sink.down()
        if self._schema is not None:
            self._schema.__exit__(None, None, None)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def env(self) -> dict[str, str]:
        return clean_env(NOTIFIER_DATABASE=self.url)

    def start(self, name: str, **options: Any) -> Daemon:
        d = Daemon(self.root, epoch=self.epoch, env=self.env, name=name, **options)
        self.daemons.append(d)
        return d

    def arrived(self) -> int:
        assert self.sink is not None
        return self.sink.count()

    def distinct(self) -> int:
        assert self.sink is not None
        return len({m for m, _ in self.sink.arrivals()})

    def finish(self, result: Result, live: Sequence[Daemon], *, timeout: float) -> None:
        """Wait for every due message (or `timeout`), let late duplicates show, stop the
        daemons with SIGTERM (exit 0 expected), count."""
        assert self.sink is not None
        wait_until(lambda: self.distinct() >= len(self.want), timeout, daemons=live, poll=0.25)
        settle(self.arrived, quiet=QUIET)
        codes = [d.stop() for d in live]
        result.checks["daemons stop with 0"] = all(c == 0 for c in codes)
        seen = tally(result, self.want, [m for m, _ in self.sink.arrivals()])
        check_outbox(result, self.url, seen)
        result.seconds = time.monotonic() - self.epoch

    def in_due_order(self, window: int) -> tuple[int, int]:
        """(messages that arrived after one due later than them by more than `window`
        places, the largest such displacement): a pool of connections reorders a little."""
        assert self.sink is not None
        dues = [self.want[m] for m, _ in self.sink.arrivals() if m in self.want]
        late, worst, latest = 0, 0, []
        for i, due in enumerate(dues):
            latest.append(max(latest[-1], due) if latest else due)
            if i > window and latest[i - window - 1] > due:
                late += 1
                back = i - next(j for j in range(i) if latest[j] > due)
                worst = max(worst, back)
        return late, worst


# --- the scenarios -----------------------------------------------------------------------------


def scenario_kill9(
    pg_base: str, *, reminders: int = 10_000, every: float = 3.0, daemons: int = 3,
    sink_delay: float = 0.0, gated: bool = False, kills: int | None = None,
    timeout: float = 900.0,
) -> Result:  # fmt: skip
    """(a) `daemons` daemons; the last one kill -9ed `every` seconds after it became ready,
    and restarted at once, until everything is delivered (or after `kills` kills).

    `gated`: each kill lands while the sink holds every message unanswered (and then refuses
    them), so nothing the server accepted can be unrecorded at that moment: exactly once is
    then a guarantee. Ungated, a kill can fall between the server's 250 and the sender's
    commit of "sent" (about record_window + one commit): that message goes out again, with
    the same Message-ID; such duplicates are counted and listed with their distance to the kill.
    """
    work = Workload(reminders)
    result = Result(f"a: kill -9 one of {daemons} daemons{' (gated)' if gated else ''}", reminders)
    rng = random.Random(6)
    with Run(work, pg_base=pg_base, name="kill9", sink_delay=sink_delay) as run:
        live = [run.start(f"d{i}") for i in range(1, daemons + 1)]
        for d in live:
            d.port  # noqa: B018 - serving
        assert run.sink is not None
        done = 0
        restart: list[float] = []
        killed_at: list[float] = []
        holding: list[int] = []  # rows the victim had claimed when it was killed
        while run.distinct() < len(run.want) and time.monotonic() - run.epoch < timeout:
            if kills is not None and done >= kills:
                break
            time.sleep(every * rng.uniform(0.5, 1.5))
            if run.distinct() >= len(run.want):
                break
            # Mid-send: wait (a while) until the victim holds claimed rows, then kill it.
            victim = live[-1].proc.pid
            wait_until(lambda victim=victim: claimed_by(run.url, victim) > 0, 10, poll=0.02)
            if gated:
                held = run.sink.held()
                run.sink.gate.touch()
                wait_until(lambda held=held: run.sink.held() > held, 30, poll=0.02)  # type: ignore[misc,union-attr]
                time.sleep(0.5)  # what got its 250 before the gate is recorded by now
            holding.append(claimed_by(run.url, victim))
            live[-1].kill()
            killed = time.monotonic()
            killed_at.append(time.time())
            run.sink.gate.unlink(missing_ok=True)
            done += 1
            live[-1] = run.start(f"d{daemons}.{done}")
            live[-1].port  # noqa: B018 - serving: the dead one's rows were given back first
            restart.append(time.monotonic() - killed)
        result.recovery["kill → restarted daemon serving (dead one's rows given back)"] = restart
        result.notes.append(f"kill -9: {done} times")
        result.notes.append(f"rows the victim held at each kill: {holding}")
        run.finish(result, live, timeout=timeout)
        if result.duplicated:
            first = {}
            for mid, at in run.sink.arrivals():
                first.setdefault(mid, at)
            twice = [m for m, n in Counter(m for m, _ in run.sink.arrivals()).items() if n > 1]
            gaps = sorted(
                min((k - first[m] for k in killed_at if k >= first[m]), default=float("inf"))
                for m in twice
            )
            result.notes.append(
                "duplicates: first copy accepted this long before a kill (ms): "
                + ", ".join(f"{g * 1000:.0f}" for g in gaps[:20])
            )
        released = sum(
            d.log.count("trả lại hàng đợi các thư của tiến trình đã chết") for d in run.daemons
        )
        result.notes.append(f"dead owners' rows given back at restart: {released} times")
    return result


def scenario_smtp(
    pg_base: str, *, reminders: int = 10_000, down: float = 120.0, sink_delay: float = 0.0,
    timeout: float = 900.0,
) -> Result:  # fmt: skip
    """(b) one daemon; the mail server goes away (stops listening, drops its connections)
    once a third is delivered, for `down` seconds, then comes back."""
    work = Workload(reminders, spread=True)
    result = Result(f"b: mail server down {down:g} s", reminders)
    with Run(work, pg_base=pg_base, name="smtp", sink_delay=sink_delay) as run:
        assert run.sink is not None
        daemon = run.start("d1", sweep=2.0)
        wait_until(lambda: run.arrived() >= len(run.want) // 3, timeout, daemons=[daemon])
        mark = daemon.mark()  # before: the daemon may notice while the sink is still stopping
        run.sink.down()
        went = time.monotonic()
        before = run.arrived()
        daemon.wait_for("không gửi được tới máy chủ thư", timeout=60, after=mark)
        noticed = time.monotonic() - went
        time.sleep(max(0.0, down - (time.monotonic() - went)))
        run.sink.up()
        back = time.monotonic()
        wait_until(lambda: run.arrived() > before, timeout, daemons=[daemon], poll=0.02)
        first = time.monotonic() - back
        wait_until(lambda: run.distinct() >= len(run.want), timeout, daemons=[daemon])
        result.recovery["server back → first message"] = [first]
        result.recovery["server back → all delivered"] = [time.monotonic() - back]
        result.notes.append(f"down after {before} messages; the daemon noticed in {noticed:.2f} s")
        run.finish(result, [daemon], timeout=timeout)
        late, worst = run.in_due_order(window=8)
        result.checks["in order of due time (±8 places: 4 connections)"] = late == 0
        result.notes.append(f"out of due order: {late} messages, worst {worst} places")
        result.checks["'máy chủ thư hoạt động trở lại' logged"] = (
            "máy chủ thư hoạt động trở lại" in daemon.log
        )
    return result


def scenario_pg(
    pg_base: str, *, reminders: int = 10_000, restarts: int = 2, daemons: int = 3,
    sink_delay: float = 0.0, timeout: float = 900.0,
) -> Result:  # fmt: skip
    """(c) `daemons` daemons; PostgreSQL restarted (pg_ctl restart -m fast) `restarts`
    times while they send."""
    work = Workload(reminders)
    result = Result(f"c: PostgreSQL restarted {restarts}× mid-run", reminders)
    with Run(work, pg_base=pg_base, name="pg", sink_delay=sink_delay) as run:
        live = [run.start(f"d{i}") for i in range(1, daemons + 1)]
        took, resumed = [], []
        for k in range(1, restarts + 1):
            goal = len(run.want) * k // (restarts + 1)
            wait_until(lambda goal=goal: run.arrived() >= goal, timeout, daemons=live)
            took.append(pg_restart())
            count = sum(outbox_sent(run.url) for _ in range(1))
            back = time.monotonic()
            ok = wait_until(
                lambda count=count: outbox_sent(run.url) > count or run.distinct() >= len(run.want),
                120,
            )
            resumed.append(time.monotonic() - back if ok else float("inf"))
        result.recovery["pg_ctl restart -m fast"] = took
        result.recovery["restart → next 'sent' committed"] = resumed
        run.finish(result, live, timeout=timeout)
        errors = sum(d.log.count("lỗi khi quét hàng đợi") for d in live)
        retried = sum(d.log.count("ghi kết quả gửi thư thất bại; thử lại") for d in live)
        result.notes.append(
            f"sweeps that failed and were retried: {errors}; outcome commits retried: {retried}"
        )
    return result


# (d) disk full ------------------------------------------------------------------------------


def mount_tmpfs(path: Path, size_kb: int) -> bool:
    """A tmpfs of `size_kb` at `path`; False when this machine does not allow it."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    return done.returncode == 0


def resize_tmpfs(path: Path, size_kb: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(path)], check=True)


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False, stderr=subprocess.DEVNULL)


def maildir_ids(box: Path) -> list[str]:
    """Message-IDs of the messages delivered into maildir `box` (new/ and cur/)."""
    out = []
    for sub in ("new", "cur"):
        folder = box / sub
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            head = f.read_bytes()[:8192]
            found = _MID.search(head.replace(b"\n", b"\r\n") if b"\r\n" not in head else head)
            out.append(found.group(1).decode("ascii", "replace") if found else "<none>")
    return out


def maildir_count(box: Path) -> int:
    return sum(len(os.listdir(box / s)) for s in ("new", "cur") if (box / s).is_dir())


def scenario_disk(
    pg_base: str,
    *,
    reminders: int = 3000,
    room: float = 0.3,
    full_for: float = 10.0,
    timeout: float = 600.0,
) -> Result:
    """(d) no [smtp] host: mail goes to var/maildir, here a tmpfs with room for about
    `room` of the messages. It fills up; then it grows (remount) and the rest goes."""
    work = Workload(reminders)
    result = Result("d: maildir's disk full, then space returns", reminders)
    with Run(work, pg_base=pg_base, name="disk", smtp=False) as run:
        box = run.root / "var" / "maildir"
        size_kb = max(256, int(reminders * room * 13))  # a message is 11–12 kB
        if not mount_tmpfs(box, size_kb):
            result.notes.append("SKIPPED: mount -t tmpfs is not permitted on this machine")
            result.checks["tmpfs could be mounted"] = False
            result.due = 0
            return result
        result.notes.append(f"var/maildir: tmpfs of {size_kb} kB (mount -t tmpfs -o size=…)")
        try:
            daemon = run.start("d1", sweep=1.0, retry=0.3)
            daemon.wait_for(r"Không ghi được thư vào .*maildir", timeout=timeout)
            full = time.monotonic()
            time.sleep(full_for)  # probes fail meanwhile
            stuck = maildir_count(box)
            result.checks["outbox sent = messages on disk while full"] = (
                outbox_sent(run.url) == stuck
            )
            leftovers = len(os.listdir(box / "tmp")) if (box / "tmp").is_dir() else 0
            result.checks["no half-written file left in tmp/"] = leftovers == 0
            line = daemon.wait_for(r"không gửi được tới máy chủ thư.*").group(0)
            result.notes.append(f"while full ({stuck} on disk): {line[line.find('không') :][:160]}")
            resize_tmpfs(box, size_kb * 5)
            back = time.monotonic()
            wait_until(lambda: maildir_count(box) >= len(run.want), timeout, daemons=[daemon])
            result.recovery["space returns → all delivered"] = [time.monotonic() - back]
            result.notes.append(f"full for {back - full:.1f} s")
            settle(lambda: maildir_count(box), quiet=QUIET)
            result.checks["daemons stop with 0"] = daemon.stop() == 0
            seen = tally(result, run.want, maildir_ids(box))
            check_outbox(result, run.url, seen)
            result.seconds = time.monotonic() - run.epoch
        finally:
            for d in run.daemons:
                d.kill()
            umount(box)
    return result


# (e) broken edits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """A broken edit: the file, the new text, the line and key the error must name."""

    kind: str
    path: Path
    text: str
    line: int
    key: str | None
    config: bool  # config.toml: the whole previous version stays; else that file's plan


def _lines_with(text: str, prefix: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if line.startswith(prefix)]


def _replace_line(text: str, index: int, new: str) -> str:
    lines = text.splitlines()
    lines[index] = new
    return "\n".join(lines) + "\n"


def _insert_line(text: str, index: int, new: str) -> str:
    lines = text.splitlines()
    lines.insert(index, new)
    return "\n".join(lines) + "\n"


def mutations(config: Path, schedule: Path, n: int, seed: int = 6) -> list[Mutation]:
    """`n` broken edits, cycling through the kinds, each at a random place (seeded)."""
    rng = random.Random(seed)
    good_c, good_s = config.read_text("utf-8"), schedule.read_text("utf-8")
    c_lines = good_c.splitlines()

    def pick(text: str, prefix: str) -> int:
        return rng.choice(_lines_with(text, prefix))

    def config_bad_toml() -> Mutation:
        i = pick(good_c, "name = ")
        return Mutation("bad TOML", config, _replace_line(good_c, i, c_lines[i][:-1]), i + 1,
                        None, True)  # fmt: skip

    def config_unknown_key() -> Mutation:
        i = c_lines.index("[reminders]") + 1
        return Mutation("unknown key", config, _insert_line(good_c, i, "tan_suat = 3"), i + 1,
                        "tan_suat", True)  # fmt: skip

    def config_wrong_type() -> Mutation:
        key, bad = rng.choice(
            [("grace_hours", '"nhiều"'), ("before_start", '"năm"'), ("port", '"abc"')]
        )
        i = pick(good_c, f"{key} = ")
        return Mutation("wrong type", config, _replace_line(good_c, i, f"{key} = {bad}"), i + 1,
                        key, True)  # fmt: skip

    def schedule_unknown_unit() -> Mutation:
        i = pick(good_s, "lead = ")
        new = 'lead = ["Đơn vị không tồn tại"]'
        return Mutation("unknown unit", schedule, _replace_line(good_s, i, new), i + 1,
                        "lead", False)  # fmt: skip

    def schedule_impossible_date() -> Mutation:
        field_, day = rng.choice([("start", "2024-02-30"), ("end", "2024-13-01"),
                                  ("start", "2024-04-31")])  # fmt: skip
        i = pick(good_s, f"{field_} = ")
        return Mutation("impossible date", schedule, _replace_line(good_s, i, f"{field_} = {day}"),
                        i + 1, None, False)  # fmt: skip

    def schedule_wrong_type() -> Mutation:
        i = pick(good_s, "year = ")
        return Mutation("wrong type", schedule, _replace_line(good_s, i, 'year = "hai nghìn"'),
                        i + 1, "year", False)  # fmt: skip

    def schedule_unknown_key() -> Mutation:
        i = pick(good_s, "kind = ") + 1
        return Mutation("unknown key", schedule, _insert_line(good_s, i, "uu_tien = 1"), i + 1,
                        "uu_tien", False)  # fmt: skip

    def schedule_bad_toml() -> Mutation:
        i = pick(good_s, "[[activities]]")
        return Mutation("bad TOML", schedule, _replace_line(good_s, i, "[[activities]"), i + 1,
                        None, False)  # fmt: skip

    def schedule_end_before_start() -> Mutation:
        i = pick(good_s, "end = ")
        return Mutation("impossible date", schedule, _replace_line(good_s, i, "end = 2024-03-01"),
                        i + 1, "end", False)  # fmt: skip

    makers = [
        config_bad_toml, schedule_unknown_unit, config_unknown_key, schedule_impossible_date,
        config_wrong_type, schedule_wrong_type, schedule_unknown_key, schedule_bad_toml,
        schedule_end_before_start,
    ]  # fmt: skip
    return [makers[i % len(makers)]() for i in range(n)]


def http_json(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def scenario_edits(
    pg_base: str, *, mutations_: int = 50, reminders: int = 200, hup: bool = False,
    timeout: float = 60.0,
) -> Result:  # fmt: skip
    """(e) one daemon; each broken edit is written, noticed (the file watcher, or SIGHUP
    when `hup`), must be named file:line: key with the last good version kept (feeds list
    every plan, /healthz answers), then the good text is written back and must be taken."""
    work = Workload(reminders, units=20)
    result = Result(f"e: {mutations_} broken edits of config.toml and a schedule", reminders)
    with Run(work, pg_base=pg_base, name="edits") as run:
        daemon = run.start("d1", sweep=1.0)
        port = daemon.port
        daemon.ready()
        schedule = min((run.root / "schedules").glob("*.toml"))
        goods = {p: p.read_text("utf-8") for p in (run.config, schedule)}
        plans = {p.stem for p in (run.root / "schedules").glob("*.toml")}
        noticed, recovered = [], []
        failures: list[str] = []
        kinds: Counter[str] = Counter()
        shown = 0  # broken config.toml edits /healthz reported (reload: ok false)
        for m in mutations(run.config, schedule, mutations_):
            kinds[m.kind] += 1
            mark = daemon.mark()
            started = time.monotonic()
            m.path.write_text(m.text, "utf-8")
            if hup:
                daemon.proc.send_signal(signal.SIGHUP)
            try:
                named = daemon.wait_for(re.escape(f"{m.path}:{m.line}: "), timeout, after=mark)
                if m.config:
                    daemon.wait_for("vẫn dùng cấu hình và lịch trước đó", timeout, after=mark)
                else:
                    daemon.wait_for(r"đã nạp lại cấu hình và lịch .*problems=[1-9]", timeout,
                                    after=mark)  # fmt: skip
            except RuntimeError as exc:
                failures.append(f"{m.kind} {m.path.name}:{m.line}: not named ({exc})"[:300])
                m.path.write_text(goods[m.path], "utf-8")
                continue
            noticed.append(time.monotonic() - started)
            if m.key is not None and m.key not in named.string:
                failures.append(f"{m.kind}: key {m.key} missing in: {named.string[:200]}")
            status, body = http_json(port, "/healthz")
            checks = (body or {}).get("checks", {}) if isinstance(body, dict) else {}
            reload = checks.get("reload") if isinstance(checks, dict) else None
            if status != 200:
                failures.append(f"{m.kind}: /healthz {status} while the last good version runs")
            elif m.config and isinstance(reload, dict) and reload.get("ok") is not False:
                failures.append(f"{m.kind}: /healthz does not show the failed reload")
            elif m.config and isinstance(reload, dict):
                shown += 1
            _, index = http_json(port, "/feeds/index.json")
            listed = json.dumps(index, ensure_ascii=False)
            if not all(p in listed for p in plans):
                failures.append(f"{m.kind}: a plan is missing from the feeds while broken")
            mark = daemon.mark()
            fixed = time.monotonic()
            m.path.write_text(goods[m.path], "utf-8")
            if hup:
                daemon.proc.send_signal(signal.SIGHUP)
            try:
                daemon.wait_for(r"đã nạp lại cấu hình và lịch .*problems=0\b", timeout, after=mark)
            except RuntimeError as exc:
                failures.append(f"{m.kind}: not recovered after the fix ({exc})"[:300])
                continue
            recovered.append(time.monotonic() - fixed)
        status, body = http_json(port, "/healthz")
        reload = (body or {}).get("checks", {}).get("reload", {}) if status == 200 else {}
        result.checks["/healthz after the last fix: reload ok"] = status == 200 and (
            not reload
            or (reload.get("ok") is True and reload.get("details", {}).get("problems") in (0, None))
        )
        result.recovery["broken edit → named in the log"] = noticed
        result.recovery["fixed → taken (problems=0)"] = recovered
        result.checks[
            "every edit named file:line: key, last good version kept, recovered"
        ] = not failures
        result.notes.append("edits: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
        result.notes.append(
            f"/healthz showed the failed reload for {shown} broken config.toml edits"
        )
        result.notes += failures[:10]
        run.finish(result, [daemon], timeout=timeout)
    return result


def outbox_sent(url: str) -> int:
    try:
        return outbox_counts(url).get("sent", 0)
    except Exception:  # noqa: BLE001 - the server is still coming back
        return -1


# --- command line ----------------------------------------------------------------------------

SCENARIOS = "aAbcde"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sink"]:
        p = argparse.ArgumentParser(prog="faults.py sink")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--delay", type=float, default=0.0)
        p.add_argument("--gate", type=Path)
        o = p.parse_args(args[1:])
        sink_main(o.port, o.out, o.delay, o.gate)
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("which", nargs="*", default=["all"], help="a A b c d e, or all")
    p.add_argument("--reminders", type=int, default=10_000)
    p.add_argument("--down", type=float, default=120.0, help="seconds the mail server is away")
    p.add_argument("--every", type=float, default=3.0, help="seconds between kill -9s")
    p.add_argument("--mutations", type=int, default=50)
    o = p.parse_args(args)
    which = SCENARIOS if "all" in o.which else "".join(o.which)
    base = pg_start()
    print(f"PostgreSQL {base} (private cluster in {PG_DIR}); {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    runs: dict[str, Callable[[], Result]] = {
        # (a) twice: kills while the sink holds the messages in flight (exactly once is
        # then guaranteed), and kills at any moment of a batch (what a crash does: a message
        # the server took in the ~50 ms before the sender committed "sent" goes again).
        "a": lambda: scenario_kill9(base, reminders=o.reminders, every=o.every, gated=True),
        "A": lambda: scenario_kill9(base, reminders=o.reminders, every=o.every),
        "b": lambda: scenario_smtp(base, reminders=o.reminders, down=o.down),
        "c": lambda: scenario_pg(base, reminders=o.reminders),
        "d": lambda: scenario_disk(base, reminders=min(o.reminders, 3000)),
        "e": lambda: scenario_edits(base, mutations_=o.mutations),
    }
    results = []
    try:
        for key in which:
            started = time.monotonic()
            print(f"-- ({key}) running", flush=True)
            r = runs[key]()
            results.append(r)
            print(r.show(), f"\n   load average {os.getloadavg()[0]:.2f}, "
                  f"{time.monotonic() - started:.0f} s wall", flush=True)  # fmt: skip
    finally:
        pg_stop()
    bad = [r.name for r in results if not r.ok]
    print("ALL PASS" if not bad else f"FAIL: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
