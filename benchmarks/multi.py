"""Several daemons on one PostgreSQL (issue 6): delivery rate with 1, 2 and 3 `notifier run`
processes sending the same workload to Postfix's smtp-sink, in one run.

The workload is faults.py's: N reminders (default 10,000: 100 plans × 100 units at
example.org) all due at 25/3/2024 08:00. For each daemon count: a fresh schema on a private
PostgreSQL cluster, `notifier db upgrade`, the daemons started with their clocks (`--now`)
`--lead` seconds before 08:00 so that all of them are up and idle when it strikes; then
each plans, enqueues (once by key) and sends on its own timer. The outbox is polled here:
the rate is N / (last "sent" − due time), and also over the sending phase alone (first to
last "sent"). Printed with it: each daemon's share (delivery_log owners), CPU milliseconds
per message in the daemons (from /proc), and the load average.
Target: 2 daemons ≥ 1.6 × one. On a 2-core machine a third daemon has no core of its own,
and the ceiling of any ratio is 2 cores / (CPU per message in the daemons + PostgreSQL)
divided by one daemon's rate: the CPU figures printed say how near a run came to it.
Scale-out is measured with one core a daemon (`--render-processes 0`): a daemon on its
defaults starts a render process for such a burst and alone keeps both cores busy, so a
second one on the same 2 cores has nothing to add. One such daemon is run as a reference.
CPU counts each daemon and the processes it started.

Run: .venv/bin/python benchmarks/multi.py [--reminders 10000] [--lead 45] [--counts 1 2 3]
     [--render-processes 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Its own PostgreSQL cluster: faults.py's may be restarted or stopped meanwhile.
os.environ.setdefault("NOTIFIER_FAULTS_PG_PORT", "54392")
os.environ.setdefault("NOTIFIER_FAULTS_PG_DIR", "/tmp/notifier-pg-multi")

import faults
from delivery import ensure_postfix, start_sink  # the same sink the delivery benchmark uses

TARGET = 1.6
DUE = datetime.fromisoformat("2024-03-25T08:00:00+07:00")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and the ones it started (a daemon's render processes, the
    PostgreSQL postmaster's backends)."""
    total = cpu_seconds(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                total += cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return total


def cluster_cpu() -> float:
    """CPU seconds of the PostgreSQL cluster: its postmaster and every backend under it."""
    try:
        postmaster = int(Path(faults.PG_DIR, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return tree_cpu(postmaster)


def sent_by_owner(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    from notifier.store import normalize_url

    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT owner, count(*) FROM delivery_log WHERE outcome = 'sent' GROUP BY owner"
            )
            return {str(o): int(n) for o, n in rows}
    finally:
        engine.dispose()


def one(
    count: int, *, pg_base: str, port: int, reminders: int, lead: float, render: str | None,
    batch: int | None = None,
) -> dict[str, float]:
    """`count` daemons (`--render-processes render`, unless None), the workload due `lead`
    seconds after they start; the figures."""
    root = Path(tempfile.mkdtemp(prefix=f"multi-{count}-"))
    work = faults.Workload(reminders)
    faults.write_project(root, work, smtp_port=port)
    daemons: list[faults.Daemon] = []
    try:
        with faults.pg_schema(pg_base) as url:
            faults.db_upgrade(root, url)
            env = faults.clean_env(NOTIFIER_DATABASE=url)
            epoch = time.monotonic()
            base = DUE - timedelta(seconds=lead)
            daemons = [
                faults.Daemon(
                    root,
                    epoch=epoch,
                    env=env,
                    name=f"d{i}",
                    base=base,
                    sweep=60.0,
                    lease=300.0,
                    extra=(*(() if render is None else ("--render-processes", render)),
                           *(("--batch", str(batch)) if batch else ())),
                )
                for i in range(1, count + 1)
            ]
            for d in daemons:
                d.ready(timeout=lead * 4)
            due = epoch + lead
            late = time.monotonic() - due
            if late > 0:
                print(f"   warning: the daemons were ready {late:.1f} s after the due time")
            time.sleep(max(0.0, due - time.monotonic() - 0.5))
            cpu0 = sum(tree_cpu(d.proc.pid) for d in daemons)
            pg0 = cluster_cpu()
            load0 = os.getloadavg()[0]
            first = None
            sent = 0
            deadline = time.monotonic() + 1800
            while sent < reminders and time.monotonic() < deadline:
                time.sleep(0.05)
                sent = max(faults.outbox_sent(url), 0)
                if sent and first is None:
                    first = time.monotonic()
                for d in daemons:
                    if d.proc.poll() is not None:
                        raise RuntimeError(f"{d.name} exited:\n{d.tail()}")
            last = time.monotonic()
            cpu = sum(tree_cpu(d.proc.pid) for d in daemons) - cpu0  # before they stop
            pg_cpu = cluster_cpu() - pg0  # backends that exited meanwhile are not counted
            shares = sorted(sent_by_owner(url).values(), reverse=True)
            for d in daemons:
                d.stop()
            if sent < reminders:
                raise RuntimeError(f"only {sent} of {reminders} sent in time")
            return {
                "rate": reminders / (last - due),
                "send_rate": reminders / (last - (first or due)),
                "seconds": last - due,
                "cpu_ms": cpu * 1000 / reminders,
                "pg_ms": pg_cpu * 1000 / reminders,
                "load": (load0 + os.getloadavg()[0]) / 2,
                "shares": shares,  # type: ignore[dict-item]
            }
    finally:
        for d in daemons:
            d.kill()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reminders", type=int, default=10_000)
    p.add_argument("--lead", type=float, default=45.0, help="seconds from start to due time")
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--batch", type=int, help="the daemons' --batch (default: theirs)")
    p.add_argument(
        "--render-processes", default="0",
        help="each daemon's render processes for the scale-out runs (default 0: one core a "
        "daemon, so that a 2-core machine has room for a second); a reference run of one "
        "daemon on its defaults is printed as well",
    )  # fmt: skip
    o = p.parse_args()
    base = faults.pg_start()
    ensure_postfix()  # installs Debian's postfix for smtp-sink when it is missing
    port = faults.free_port()
    sink = start_sink(port)
    print(f"{o.reminders} reminders due at once; smtp-sink on 127.0.0.1:{port}; PostgreSQL "
          f"{base}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    figures: dict[int, dict[str, float]] = {}
    runs: list[tuple[str, int, str | None]] = [("", c, o.render_processes) for c in o.counts]
    runs.append((" (reference: its default render processes)", 1, None))
    try:
        for label, count, render in runs:
            f = one(count, pg_base=base, port=port, reminders=o.reminders, lead=o.lead,
                    render=render, batch=o.batch)  # fmt: skip
            if not label:
                figures[count] = f
            print(f"{count} daemon(s){label}: {f['rate']:7.0f} messages/s due→all sent "
                  f"({f['seconds']:.1f} s), {f['send_rate']:7.0f}/s first→last sent, "
                  f"CPU/message {f['cpu_ms']:.2f} ms in the daemons + {f['pg_ms']:.2f} ms in "
                f"PostgreSQL (all cores busy: at most "
                f"{(os.cpu_count() or 1) * 1000 / (f['cpu_ms'] + f['pg_ms']):.0f}/s), "
                f"shares {f['shares']}, "
                  f"load average {f['load']:.2f}", flush=True)  # fmt: skip
    finally:
        sink.kill()
        sink.wait()
        faults.pg_stop()
    if 1 in figures:
        for count in sorted(figures):
            if count == 1:
                continue
            r = figures[count]["rate"] / figures[1]["rate"]
            s = figures[count]["send_rate"] / figures[1]["send_rate"]
            print(f"ratio {count}/1: {r:.2f} (due→all sent), {s:.2f} (sending phase)")
        if 2 in figures:
            r = figures[2]["rate"] / figures[1]["rate"]
            verdict = "PASS" if r >= TARGET else "FAIL"
            print(
                f"{verdict}: 2 daemons {r:.2f}× one (target ≥ {TARGET}); "
                f"load average now {os.getloadavg()[0]:.2f}"
            )
            return 0 if r >= TARGET else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
