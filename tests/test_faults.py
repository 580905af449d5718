"""Fault scenarios at CI size (issue 6 item 2): real daemons, a real PostgreSQL, a counting sink.

The scenarios are benchmarks/faults.py's (which runs them at 10,000 reminders and prints the
figures); here they run small and each must deliver every due reminder exactly once:
(a) three daemons, one kill -9ed while the sink holds its messages, and restarted;
(b) the mail server away for seconds, then back: all delivered in order of due time;
(c) PostgreSQL restarted mid-run; (d) the maildir's disk full (a tmpfs; skipped where mount
is not permitted), then space returns; (e) broken edits of config.toml and a schedule.
PostgreSQL is a private cluster (tests/pg.sh on another port and folder), never the shared
test server: (c) restarts it. Also fast in-process tests of the maildir fixes (d) found.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A cluster of its own ((c) restarts it) on a free port in a folder of this run's: two runs at
# once on one machine must not stop each other's server (seen: a clone's CI run and a checkout's).
os.environ.setdefault("NOTIFIER_FAULTS_PG_PORT", str(_free_port()))
os.environ.setdefault(
    "NOTIFIER_FAULTS_PG_DIR", str(Path(tempfile.gettempdir()) / f"notifier-pg-faults-{os.getpid()}")
)

import faults

from notifier.mailer import MaildirTransport

faults.QUIET = 1.0  # a second without arrivals before counting is plenty at this size


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    if not list(Path("/usr/lib/postgresql").glob("*/bin")) and not os.environ.get(
        "NOTIFIER_REQUIRE_PG"
    ):
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    yield faults.pg_start()
    faults.pg_stop()
    shutil.rmtree(faults.PG_DIR, ignore_errors=True)


def passed(result: faults.Result) -> None:
    shown = result.show()
    print(shown)
    assert result.due > 0 and result.ok, shown
    assert (result.delivered, result.duplicated, result.lost) == (result.due, 0, 0), shown


@pytest.mark.slow
def test_a_kill_9_of_one_of_three_daemons_loses_nothing_and_sends_nothing_twice(pg: str) -> None:
    result = faults.scenario_kill9(
        pg, reminders=400, every=0.5, kills=1, gated=True, sink_delay=0.05, timeout=120
    )
    passed(result)
    assert "kill -9: 1 times" in result.notes  # it landed while messages were in flight


@pytest.mark.slow
def test_b_mail_server_away_then_back_delivers_all_in_due_order(pg: str) -> None:
    result = faults.scenario_smtp(pg, reminders=300, down=2.0, sink_delay=0.01, timeout=120)
    passed(result)
    assert result.checks["in order of due time (±8 places: 4 connections)"]


@pytest.mark.slow
def test_c_postgresql_restart_mid_run_daemons_carry_on(pg: str) -> None:
    result = faults.scenario_pg(
        pg, reminders=400, restarts=1, daemons=2, sink_delay=0.02, timeout=120
    )
    passed(result)
    assert all(t < 60 for t in result.recovery["restart → next 'sent' committed"])


@pytest.mark.slow
def test_d_maildir_disk_full_marks_nothing_sent_and_delivers_after_space_returns(pg: str) -> None:
    result = faults.scenario_disk(pg, reminders=200, full_for=2.0, timeout=120)
    if result.checks.get("tmpfs could be mounted") is False:
        pytest.skip("mount -t tmpfs is not permitted here")
    passed(result)


@pytest.mark.slow
def test_e_broken_edits_keep_the_last_good_version_name_file_line_key_and_recover(
    pg: str,
) -> None:
    # Nine edits: every kind once (bad TOML, unknown key, wrong type in config.toml and in a
    # schedule, unknown unit, impossible dates); SIGHUP makes each reload immediate.
    result = faults.scenario_edits(pg, mutations_=9, reminders=60, hup=True, timeout=30)
    passed(result)
    assert len(result.recovery["fixed → taken (problems=0)"]) == 9


# --- the maildir under a full disk (in-process, fast) -------------------------------------------


def test_maildir_in_an_existing_empty_folder_delivers(tmp_path: Path) -> None:
    box = tmp_path / "maildir"
    box.mkdir()  # a mount point, or a maildir someone emptied: no tmp/ new/ cur/
    reply = asyncio.run(
        MaildirTransport(box).send("a@example.org", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
    )
    assert reply.startswith("đã lưu ") and len(os.listdir(box / "new")) == 1


def test_maildir_write_failure_leaves_no_partial_file_and_is_temporary(tmp_path: Path) -> None:
    # A file size limit stands in for a full disk: the message fits the write buffer, so the
    # error comes at the final flush, which the stdlib's clean-up does not cover.
    child = textwrap.dedent(
        """
        import asyncio, os, resource, signal, sys
        from pathlib import Path
        from notifier.errors import DeliveryError
        from notifier.mailer import MaildirTransport
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        box = Path(sys.argv[1])
        t = MaildirTransport(box)
        asyncio.run(t.send("a@example.org", ["b@example.org"], b"Subject: x\\r\\n\\r\\nx\\r\\n"))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
        try:
            asyncio.run(t.send("a@example.org", ["b@example.org"], b"x" * 4000 + b"\\r\\n"))
        except DeliveryError as exc:
            print("temporary" if not exc.permanent else "permanent")
        print(len(os.listdir(box / "tmp")), len(os.listdir(box / "new")))
        """
    )
    box = tmp_path / "maildir"
    out = subprocess.run(
        [sys.executable, "-c", child, str(box)], capture_output=True, text=True, cwd=ROOT,
        timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["temporary", "0", "1"], out.stdout + out.stderr


# --- several daemons: one plans at a time, the others send what it commits (multi.py) ---------


def test_one_daemon_at_a_time_holds_the_planning_lock_and_it_dies_with_its_connection(
    pg: str,
) -> None:
    from notifier.store import open_store

    with faults.pg_schema(pg) as url, faults.pg_schema(pg) as elsewhere:
        a, b, c = open_store(url), open_store(url), open_store(elsewhere)
        try:
            held = a.try_planning_lock()
            assert held is not False
            assert b.try_planning_lock() is False  # another daemon is planning
            other = c.try_planning_lock()  # another schema: not the same outbox
            assert other is not False
            c.planning_unlock(other)
            a.planning_unlock(held)
            again = b.try_planning_lock()
            assert again is not False
            again.invalidate()  # its daemon died (kill -9): the server drops the lock
            again.close()
            last = a.try_planning_lock()
            assert last is not False
            a.planning_unlock(last)
        finally:
            for s in (a, b, c):
                s.close()


def test_enqueue_on_postgresql_commits_the_first_rows_before_building_the_rest(pg: str) -> None:
    from _stores import rems

    from notifier.store import open_store

    seen: list[int] = []

    class Watched:
        """A reminder whose subject, when built, counts what another connection sees."""

        def __init__(self, inner: Any, probe: bool) -> None:
            self._inner, self._probe = inner, probe

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        @property
        def subject(self) -> str:
            if self._probe:
                seen.append(other.counts(now=faults.NOW).pending)
            return str(self._inner.subject)

    with faults.pg_schema(pg) as url:
        faults.db_upgrade_url(url)
        store, other = open_store(url), open_store(url)
        try:
            batch = [Watched(r, i == 1500) for i, r in enumerate(rems(2000))]
            assert store.enqueue(batch, now=faults.NOW) == 2000
            assert seen == [1100]  # 100, then 1,000 committed while row 1,500 is built
            assert store.enqueue(batch, now=faults.NOW) == 0  # once by key, chunks or not
        finally:
            store.close()
            other.close()


def test_a_reload_landing_while_a_sweep_runs_is_planned_at_the_next_sweep(tmp_path: Path) -> None:
    # Found by (e) under load: a sweep took the snapshot, the reload finished before the sweep
    # compared generation numbers, so the sweep planned the old files and marked the new
    # version as planned; the new files' reminders waited for the next edit.
    from notifier.clock import FixedClock
    from notifier.daemon import Daemon, Reloader, load_snapshot
    from notifier.store import open_store

    config = faults.write_project(tmp_path, faults.Workload(2), smtp_port=None)
    clock = FixedClock(faults.NOW)
    url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    environ = {"NOTIFIER_DATABASE": url}
    daemon = Daemon(config, clock=clock, environ=environ)
    old = load_snapshot(config, now=clock.now(), environ=environ)
    daemon.reloader = Reloader(config, old, environ=environ, clock=clock)
    store = daemon.store = open_store(url)
    try:
        store.upgrade()
        faults.write_project(tmp_path, faults.Workload(3), smtp_port=None)  # a third unit
        result = daemon.reloader.reload()
        assert result is not None and result.ok
        asyncio.run(daemon._enqueue(old))  # the sweep that took the snapshot before it
        asyncio.run(daemon._enqueue(daemon.reloader.current))  # the next sweep
        assert store.counts(now=clock.now()).pending == 3
    finally:
        store.close()
