"""What every fuzz harness in tests/fuzz/ shares: arguments, the engine, the seeds, the report.

A harness is a script: `python tests/fuzz/fuzz_timing.py --runs 10000`. It defines
`one_input(data: bytes) -> None`, which raises on a finding (an exception escaping a
parser, a broken invariant, a call slower than `--slow-ms`), and `seeds() -> list[bytes]`.

Engine: atheris (libFuzzer, coverage-guided; `pip install -e '.[fuzz]'`) when it can be
imported, else a plain mutator (random byte edits and splices of the seeds, seeded by
`--seed`), so a harness runs wherever Python does. libFuzzer writes the inputs it finds
interesting into its corpus folder, so the seeds are copied to a temporary folder first:
a run never writes into the repository. A crash leaves `crash-<sha1>` in `--artifacts`
(default: a temporary folder) and exits non-zero; `python tests/fuzz/fuzz_X.py FILE` replays it.

Time is measured, never asserted against a tight bound: each input's parse time is
recorded and the slowest is reported; only a call slower than `--slow-ms` (default 2000 ms,
about 1,000 times the usual cost) counts as a finding, and libFuzzer's `-timeout` catches a
call that never returns. The last line is one JSON object: harness, engine, inputs,
seconds, slowest_ms, findings.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests"):  # `notifier` and the shared test builders, run from anywhere
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

try:  # optional: the fallback mutator needs nothing
    import atheris
except ImportError:  # pragma: no cover - depends on the machine
    atheris = None


class SlowInput(AssertionError):
    """One call took longer than --slow-ms: runaway time (e.g. regex backtracking)."""


class _Stats:
    def __init__(self, name: str, engine: str) -> None:
        self.name, self.engine = name, engine
        self.inputs = 0
        self.started = time.perf_counter()
        self.slowest = 0.0
        self.slowest_len = 0
        self.findings = 0

    def line(self) -> str:
        return json.dumps({
            "harness": self.name,
            "engine": self.engine,
            "inputs": self.inputs,
            "seconds": round(time.perf_counter() - self.started, 2),
            "slowest_ms": round(self.slowest * 1000, 2),
            "slowest_input_bytes": self.slowest_len,
            "findings": self.findings,
        })  # fmt: skip


def _arguments(argv: list[str], max_len: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run one fuzz harness.")
    parser.add_argument("replay", nargs="*", help="input files to replay instead of fuzzing")
    parser.add_argument("--runs", type=int, default=10_000, help="inputs to try (default 10,000)")
    parser.add_argument("--max-len", type=int, default=max_len, help="largest input in bytes")
    parser.add_argument("--slow-ms", type=float, default=2000.0, help="a slower call is a finding")
    parser.add_argument("--timeout", type=int, default=20, help="libFuzzer: seconds before a hang")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0: libFuzzer picks)")
    parser.add_argument("--engine", choices=("auto", "atheris", "plain"), default="auto")
    parser.add_argument("--artifacts", type=Path, default=None, help="folder for crash inputs")
    return parser.parse_args(argv)


def main(
    name: str,
    one_input: Callable[[bytes], None],
    seeds: Callable[[], list[bytes]],
    *,
    max_len: int = 4096,
) -> None:
    """Parse arguments, then replay files or fuzz `one_input` for --runs inputs."""
    args = _arguments(sys.argv[1:], max_len)
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if atheris is not None else "plain"
    if engine == "atheris" and atheris is None:
        sys.exit("atheris is not installed: pip install -e '.[fuzz]' (or --engine plain)")
    stats = _Stats(name, engine)

    def timed(data: bytes) -> None:
        stats.inputs += 1
        start = time.perf_counter()
        try:
            one_input(data)
            spent = time.perf_counter() - start
            if spent * 1000 > args.slow_ms:
                raise SlowInput(f"{name}: one input took {spent * 1000:.0f} ms ({len(data)} bytes)")
        except BaseException:
            stats.findings += 1
            print(stats.line(), flush=True)
            raise
        if spent > stats.slowest:
            stats.slowest, stats.slowest_len = spent, len(data)
        if stats.inputs >= args.runs and engine == "atheris":
            # libFuzzer leaves with _exit(), past atexit: count and report here, then stop.
            print(stats.line(), flush=True)
            os._exit(0)

    if args.replay:
        for file in args.replay:
            timed(Path(file).read_bytes())
        print(stats.line(), flush=True)
        return
    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix=f"{name}-crashes-"))
    artifacts.mkdir(parents=True, exist_ok=True)
    if engine == "atheris":
        _atheris(args, timed, seeds(), artifacts, stats)
    else:
        _plain(args, timed, seeds(), artifacts, stats)


def _atheris(args: argparse.Namespace, timed: Callable[[bytes], None], seeds: list[bytes],
             artifacts: Path, stats: _Stats) -> None:  # fmt: skip
    corpus = Path(tempfile.mkdtemp(prefix=f"{stats.name}-corpus-"))
    for seed in seeds:
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed[: args.max_len])
    flags = [
        "-runs=-1",  # `timed` stops after exactly --runs inputs
        f"-max_len={args.max_len}",
        f"-timeout={args.timeout}",
        "-rss_limit_mb=2048",
        "-print_final_stats=0",
        f"-artifact_prefix={artifacts}/",
        *([f"-seed={args.seed}"] if args.seed else []),
    ]
    atheris.Setup([sys.argv[0], *flags, str(corpus)], timed)
    atheris.Fuzz()


def _plain(args: argparse.Namespace, timed: Callable[[bytes], None], seeds: list[bytes],
           artifacts: Path, stats: _Stats) -> None:  # fmt: skip
    rng = random.Random(args.seed)
    pool = [s[: args.max_len] for s in seeds] or [b""]
    for _ in range(args.runs):
        data = _mutate(rng, rng.choice(pool), pool, args.max_len)
        try:
            timed(data)
        except Exception:  # noqa: BLE001 - any exception is a finding
            out = artifacts / f"crash-{hashlib.sha1(data).hexdigest()}"
            out.write_bytes(data)
            traceback.print_exc()
            print(f"finding saved to {out}", file=sys.stderr)
            sys.exit(1)
        if len(pool) < 4096 and rng.random() < 0.01:
            pool.append(data)  # keep some mutants as new starting points
    print(stats.line(), flush=True)


_INTERESTING = [
    b"\r\n", b"\r", b"\n", b"\x00", b"\t", b"\xe2\x80\xae", b"\xe2\x80\x8b", b"\xef\xbb\xbf",
    b"\xcc\x81", b"/", b"-", b"..", b"(", b")", b"[", b"]", b"\"", b"'", b"=", b"#", b"\\",
    b"<script>", b"2024", b"99999999999999999999", b"0", b"31/2/2024", b"Q\xc3\xbd II",
]  # fmt: skip


def _mutate(rng: random.Random, data: bytes, pool: list[bytes], max_len: int) -> bytes:
    """A few random edits: flip, insert, delete, duplicate a slice, splice another seed."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = rng.choice(_INTERESTING)
        elif op == 2 and buf:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 3 and buf:
            start = rng.randrange(len(buf))
            piece = buf[start : start + rng.randint(1, 64)]
            buf[pos:pos] = piece * rng.randint(1, 64)  # repetitions: backtracking bait
        elif op == 4:
            other = rng.choice(pool)
            cut = rng.randint(0, len(other))
            buf[pos:] = other[cut:]
        else:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(buf[:max_len])


def text_of(data: bytes) -> str:
    """Bytes → text as a reader would decode a file: UTF-8, bad bytes replaced."""
    return data.decode("utf-8", "replace")


def instrument(*extra: str) -> object:
    """Context manager instrumenting the imports inside it (atheris only): notifier and
    the `extra` modules (e.g. "tomllib") whose branches should guide the search too."""
    import contextlib

    argv = sys.argv[1:]
    plain = "--engine=plain" in argv or ("--engine", "plain") in itertools.pairwise(argv)
    if atheris is None or plain:
        return contextlib.nullcontext()
    return atheris.instrument_imports(include=["notifier", *extra])


def province_directory() -> object:
    """A directory the size of a province's: config.toml's units and groups, plus 100
    communes ("UBND xã Ea Tul"), as after the 2025 reform (communes under the province)."""
    from notifier.config import load_config
    from notifier.units import Directory, Unit

    units = list(load_config(ROOT / "config.toml").directory())
    taken = {u.name for u in units}
    firsts = ["Ea", "Cư", "Krông", "Buôn", "Hòa", "Tân", "Phú", "Đông", "Yang", "Dray"]
    seconds = ["Tul", "Mgar", "Pắc", "Đôn", "Thắng", "Lập", "Xuân", "Sơn", "Reh", "Sáp", "Kar"]
    names = [f"UBND xã {a} {b}" for a in firsts for b in seconds]
    units += [Unit(n) for n in names if n not in taken][:100]
    return Directory(units, province="Đắk Lắk")
