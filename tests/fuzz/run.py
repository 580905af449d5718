"""Run every fuzz harness of tests/fuzz/ in batches; print inputs, time and findings.

    python tests/fuzz/run.py                       # one CI-sized batch: 10,000 inputs a parser
    python tests/fuzz/run.py --batches 10          # 100,000 a parser, in 10 batches
    python tests/fuzz/run.py --only timing text    # some harnesses

Each batch is a fresh process per harness with its own seed (batch number), so the
batches explore differently and a batch's memory is returned when it ends; harnesses run
side by side on the available cores. Exits 1 if any batch reports a finding or dies.
The crash inputs are kept under --artifacts (default var/fuzz/).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESSES = ("timing", "text", "units", "schedules")


def _batch(name: str, batch: int, args: argparse.Namespace) -> dict[str, object]:
    command = [sys.executable, str(HERE / f"fuzz_{name}.py"), "--runs", str(args.runs),
               "--seed", str(batch + 1), "--engine", args.engine,
               "--artifacts", str(args.artifacts / name)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"harness"')]
    result: dict[str, object] = json.loads(lines[-1]) if lines else {"harness": name, "inputs": 0}
    result.update(batch=batch + 1, wall=round(wall, 1), status=done.returncode)
    if done.returncode != 0 or result.get("findings"):
        tail = "\n".join(done.stderr.splitlines()[-40:])
        print(f"--- {name} batch {batch + 1}: exit {done.returncode}\n{tail}", file=sys.stderr)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000, help="inputs per harness and batch")
    parser.add_argument("--batches", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=HARNESSES, default=list(HARNESSES))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engine", choices=("auto", "atheris", "plain"), default="auto")
    parser.add_argument("--artifacts", type=Path, default=HERE.parents[1] / "var" / "fuzz")
    args = parser.parse_args()
    jobs = [(name, batch) for batch in range(args.batches) for name in args.only]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda job: _batch(*job, args), jobs))
    total = time.perf_counter() - started
    print(f"{'harness':<10} {'engine':<8} {'batches':>7} {'inputs':>9} {'seconds':>10} "
          f"{'slowest ms':>10} {'findings':>8}")  # fmt: skip
    failed = False
    for name in args.only:
        rows = [r for r in results if r["harness"] == name]
        inputs = sum(int(r.get("inputs", 0)) for r in rows)
        seconds = sum(float(r.get("wall", 0)) for r in rows)
        slowest = max(float(r.get("slowest_ms", 0)) for r in rows)
        findings = sum(int(r.get("findings", 0)) for r in rows)
        bad = findings or any(r["status"] != 0 for r in rows)
        failed |= bool(bad)
        engine = str(rows[0].get("engine", "?"))
        print(f"{name:<10} {engine:<8} {len(rows):>7} {inputs:>9,} {seconds:>10.1f} {slowest:>10.1f} "
              f"{findings:>8}{'  FAILED' if bad else ''}")  # fmt: skip
    print(
        f"wall-clock {total:.1f} s on {args.jobs} worker(s); {'FAILED' if failed else 'no findings'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
