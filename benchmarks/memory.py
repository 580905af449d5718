"""Memory benchmark: the daemon's resident memory at 1,000 plans × 30 activities (target < 200 MB).

Generates the planner benchmark's plans (benchmarks/planner.py: same shapes, same seed)
as schedule files in a temporary folder beside a copy of config.toml, starts
`notifier run` on them as a subprocess (127.0.0.1, a free port, `--now` set, mail to the
maildir in the temporary var/), waits until it serves /feeds/index.json and its CPU time
stops moving (the first sweep done), and reads VmRSS and VmHWM from /proc/<pid>/status.
Then edits one schedule file (a reload: schedules and feeds rebuilt) and reads them again.
The anchor, measured in the same run: a bare `python -c "import notifier.daemon, uvicorn"`
process (what the imported modules alone cost). Prints the figures and PASS/FAIL against
200 MB after start; stops the daemon and removes the temporary folder.

Run: .venv/bin/python benchmarks/memory.py [--plans 1000] [--activities 30] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET_MB = 200.0
NOW = "2024-06-03T07:00:00+07:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB (Linux /proc)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def children_mb(pid: int) -> tuple[int, float]:
    """How many processes `pid` started (its render processes) and their VmRSS in MB."""
    n, total = 0, 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                n += 1
                total += status_mb(int(stat.parent.name)).get("VmRSS", 0.0)
        except (OSError, ValueError, IndexError):
            continue
    return n, total


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 1.5, timeout: float = 300) -> None:
    """Wait until the process has used no CPU for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = cpu_seconds(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if now - last > 0.02:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise TimeoutError("the daemon never went idle")


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 300) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"notifier run exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def generate(work: Path, n_plans: int, n_activities: int) -> Path:
    """config.toml (the project's, with its units) and schedules/ with the generated plans."""
    from planner import YEAR, make_plans

    from notifier.config import load_config
    from notifier.schedules import write_schedule

    config_path = work / "config.toml"
    shutil.copy(ROOT / "config.toml", config_path)
    config = load_config(config_path)
    leads = [u.name for u in config.directory() if not u.is_group and u.email and u.valid_on(date(YEAR, 6, 1))]
    folder = config.schedules_path()
    folder.mkdir(parents=True, exist_ok=True)
    for plan in make_plans(n_plans, n_activities, leads):
        write_schedule(plan, folder)
    return config_path


def modules_only() -> float:
    """RSS of a process that only imports what the daemon imports (the anchor)."""
    code = (
        "import notifier.daemon, notifier.publish, notifier.web, notifier.check, notifier.store, "
        "uvicorn, apscheduler, sqlalchemy, aiosmtplib, jinja2, icalendar, holidays; "
        "import pathlib; print([l for l in pathlib.Path('/proc/self/status').read_text().splitlines() "
        "if l.startswith('VmRSS')][0].split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plans", type=int, default=1000)
    ap.add_argument("--activities", type=int, default=30)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="notifier-memory-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        config_path = generate(work, args.plans, args.activities)
        gen_s = time.perf_counter() - t0
        anchor = modules_only()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
        with open(work / "daemon.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "notifier.cli", "run", "--config", str(config_path),
                 "--host", "127.0.0.1", "--port", str(port), "--now", NOW],
                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        ready_s = wait_ready(proc, f"http://127.0.0.1:{port}/feeds/index.json")
        settle(proc.pid)
        started = status_mb(proc.pid)
        started_kids = children_mb(proc.pid)

        # A reload: one schedule file edited (its mtime and size change).
        first = min((work / "schedules").glob("*.toml"))
        with open(first, "a", encoding="utf-8") as fh:
            fh.write("\n# sửa để nạp lại\n")
        time.sleep(1.0)
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        settle(proc.pid)
        reloaded = status_mb(proc.pid)
        reloaded_kids = children_mb(proc.pid)

        print(f"memory: notifier run, {args.plans} plans × {args.activities} activities "
              f"(generated in {gen_s:.1f} s), --now {NOW}")
        print(f"  anchor (imports only, same run): {anchor:.0f} MB")
        print(f"  after start (ready in {ready_s:.1f} s, first sweep done): VmRSS {started['VmRSS']:.0f} MB, "
              f"VmHWM {started['VmHWM']:.0f} MB; {started['VmRSS'] - anchor:+.0f} MB over the anchor")
        print(f"  after a reload: VmRSS {reloaded['VmRSS']:.0f} MB, VmHWM {reloaded['VmHWM']:.0f} MB")
        for when, (n, mb) in (("after start", started_kids), ("after a reload", reloaded_kids)):
            print(f"  {when}: {n} process(es) it started (render pool, multiprocessing's "
                  f"resource tracker): VmRSS {mb:.0f} MB together")
        # The target counts the daemon with what it started (pages shared between them are
        # counted twice, so this is an upper bound).
        worst = max(started["VmRSS"] + started_kids[1], reloaded["VmRSS"] + reloaded_kids[1])
        verdict = "PASS" if worst < TARGET_MB else "FAIL"
        print(f"  target {TARGET_MB:.0f} MB resident (daemon + its processes): {worst:.0f} MB, "
              f"{worst / TARGET_MB:.2f}× the target → {verdict}")
        return 0 if verdict == "PASS" else 2  # short of the target: make bench names it
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if args.keep:
            print(f"  kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
