"""Feeds benchmark: build time for a 5,000-activity plan, and HTTP throughput of the seed feed.

Run: `.venv/bin/python benchmarks/feeds.py [--duration 10] [--connections 32]`

1. Build: every feed of a generated 5,000-activity plan (plan, unit and coordinator
   feeds, gzip and ETags included), cold (no saved state) and warm (state from the
   previous build). Target: < 1 s.
2. Serving: wrk at 32 connections against the seed plan's feed, full GETs and
   conditional GETs (If-None-Match → 304), for four servers measured in the same run:
   nginx serving the exported file (the ceiling), Radicale 3 serving the same calendar
   (what a Python user would otherwise pick), a bare Starlette app on uvicorn returning
   the same bytes from memory (the floor; same worker count as notifier), and notifier
   (`notifier serve --workers 2` on a scratch copy of config.toml with the seed imported).
   The bare app runs under the same launcher as notifier (notifier.web.serve: uvicorn on
   a socket bound with IPPROTO_TCP, so TCP_NODELAY is on); a second row runs it under
   `uvicorn --workers 2`, whose own socket leaves Nagle on (≈ 40 ms stalls a request).
   Target: notifier ≥ 90 % of the bare app's rate, p99 < 20 ms.
Installs what is missing: wrk and nginx (apt-get), Radicale 3 (pip). Only 127.0.0.1;
every run is bounded; every server it started is stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"
ICT = timezone(timedelta(hours=7))
NOW = datetime(2024, 3, 1, 8, 0, tzinfo=ICT)
WORKERS = 2


# --- the bare floor, imported by uvicorn workers as `feeds:bare_app` ----------------------


def bare_app():  # noqa: ANN201 - a Starlette app
    """The same bytes from memory, with the one check a conditional GET needs."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    body = Path(os.environ["BENCH_FEED_FILE"]).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    async def feed(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        return Response(body, media_type="text/calendar", headers={"etag": etag})

    return Starlette(routes=[Route("/feeds/plans/{name}", feed)])


# --- 1. build time -------------------------------------------------------------------------


def generated_catalog(n: int):  # noqa: ANN201 - publish.Catalog
    """A plan of `n` activities over 40 units, 3 groups, every timing kind."""
    from notifier.events import DutyDeadline
    from notifier.feeds import FeedSettings
    from notifier.plan import Activity, Plan, ReportDuty
    from notifier.publish import Catalog
    from notifier.timing import Timing, TimingKind as K
    from notifier.units import Directory, Unit

    rnd = random.Random(42)
    names = [f"Sở Thử nghiệm số {i}, Phòng {i % 7}" for i in range(40)]
    units = [Unit(n_, coordinator=i < 2) for i, n_ in enumerate(names)]
    units += [Unit(f"Nhóm đơn vị {g}", is_group=True, members=tuple(names[g * 5 : g * 5 + 5])) for g in range(3)]
    directory = Directory(units)
    plan = Plan(slug="ke-hoach-5000", title="Kế hoạch thử nghiệm 5.000 hoạt động", number="999/KH-UBND",
                date=date(2024, 1, 5), issuer="UBND tỉnh Đắk Lắk", year=2024)  # fmt: skip
    words = "tuyên truyền quảng bá văn hóa ngoại giao hợp tác giao lưu hội nghị đoàn công tác tỉnh bạn".split()
    for i in range(n):
        q = rnd.randint(1, 4)
        kind = rnd.choice([K.RANGE, K.RANGE, K.RANGE, K.DEADLINE, K.CONTINUOUS, K.RECURRING, K.UNDATABLE])
        start, end = date(2024, 3 * q - 2, 1), date(2024, 3 * q, 28)
        timing = Timing(f"Quý {q}/2024", kind, start, end,
                        rule="FREQ=MONTHLY;BYMONTHDAY=15" if kind is K.RECURRING else None,
                        reason="khi có yêu cầu" if kind is K.UNDATABLE else None)  # fmt: skip
        content = " ".join(rnd.choice(words) for _ in range(rnd.randint(12, 40))).capitalize()
        lead = rnd.sample(names, rnd.randint(1, 2))
        coord = rnd.sample(names, rnd.randint(0, 3)) + ([f"Nhóm đơn vị {rnd.randint(0, 2)}"] if i % 4 == 0 else [])
        plan.activities.append(Activity(f"{['I', 'II', 'III', 'IV'][i % 4]}.{i + 1}", content, timing,
                                        section=["I", "II", "III", "IV"][i % 4], lead=lead, coordinating=coord,
                                        funding="Nguồn ngân sách nhà nước năm 2024"))  # fmt: skip
    plan.reports.append(ReportDuty("half-year", "half-year", "Báo cáo 6 tháng", to=names[0], owners=names[2:30]))
    deadlines = {plan.slug: {"half-year": [DutyDeadline("half-year", "2024", date(2024, 6, 14), "6 tháng 2024")]}}
    settings = FeedSettings(public_url="https://lich.example.org", uid_domain="dak-lak.notifier")
    return Catalog((plan,), directory, settings, deadlines)


def bench_build(n: int = 5000, repeat: int = 5) -> dict[str, float]:
    from notifier.feeds import FeedState
    from notifier.publish import build_snapshot

    catalog = generated_catalog(n)
    cold, warm = [], []
    state = FeedState()
    for _ in range(repeat):
        t0 = time.perf_counter()
        snap, state = build_snapshot(catalog, FeedState(), now=NOW)
        cold.append(time.perf_counter() - t0)
    for _ in range(repeat):
        t0 = time.perf_counter()
        snap, state = build_snapshot(catalog, state, now=NOW + timedelta(days=1))
        warm.append(time.perf_counter() - t0)
    size = sum(len(e.body) for e in snap.entries.values())
    return {"cold": min(cold), "warm": min(warm), "feeds": len(snap.entries), "bytes": size,
            "events": sum(1 for _ in catalog.plans[0].activities)}  # fmt: skip


# --- 2. serving ----------------------------------------------------------------------------


def ensure_tools() -> None:
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("nginx", "nginx-light")) if not shutil.which(tool)
               and not Path(f"/usr/sbin/{tool}").exists()]  # fmt: skip
    if missing:
        print(f"Installing {' '.join(missing)} with apt-get…", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    try:
        import radicale  # noqa: F401
    except ImportError:
        print("Installing Radicale 3 with pip…", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "radicale>=3.1,<4"], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30, headers: dict[str, str] | None = None) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2, headers=headers).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Servers:
    """Processes this run started; each is stopped (its whole group) at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)


def prepare_seed(work: Path) -> tuple[Path, Path]:
    """Import the seed into a scratch schedules/ beside a copy of config.toml; export it."""
    from notifier.catalog import load_catalog
    from notifier.importers import parse_text
    from notifier.publish import FeedCache, export
    from notifier.schedules import write_schedule

    config = work / "config.toml"
    shutil.copy(ROOT / "config.toml", config)
    plan = parse_text(SEED.read_text(encoding="utf-8"), source=str(SEED))
    write_schedule(plan, work / "schedules")
    cache = FeedCache(lambda now: load_catalog(config, now=now), clock=lambda: NOW)
    export(cache.snapshot, work / "export")
    feed = work / "export" / "plans" / f"{plan.slug}.ics"
    return config, feed


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> dict[str, float]:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rate, "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
            "non2xx": int(bad.group(1)) if bad else 0, "errors": errors.group(0) if errors else ""}  # fmt: skip


def status_of(url: str, headers: dict[str, str]) -> tuple[int, str, int]:
    import httpx

    r = httpx.get(url, headers=headers, timeout=10)
    return r.status_code, r.headers.get("etag", ""), len(r.content)


def start_nginx(servers: Servers, work: Path, root: Path, port: int) -> str:
    conf = work / "nginx.conf"
    conf.write_text(f"""user root;
worker_processes {WORKERS};
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.err warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  types {{ text/calendar ics; application/json json; }}
  charset utf-8; charset_types text/calendar;
  server {{ listen 127.0.0.1:{port}; root {root}; location /feeds/ {{ alias {root}/; }} }}
}}
""")
    servers.start(["nginx", "-c", str(conf), "-p", str(work)], log=work / "nginx.log")
    return f"http://127.0.0.1:{port}"


def start_radicale(servers: Servers, work: Path, body: bytes, port: int) -> str:
    import httpx

    rights = work / "radicale-rights"
    rights.write_text("[all]\nuser: .*\ncollection: .*\npermissions: RrWw\n")
    conf = work / "radicale.conf"
    conf.write_text(f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = none
[rights]
type = from_file
file = {rights}
[storage]
filesystem_folder = {work}/radicale-data
[web]
type = none
[logging]
level = warning
""")
    servers.start([sys.executable, "-m", "radicale", "--config", str(conf)], log=work / "radicale.log")
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/")
    httpx.request("MKCOL", f"{base}/bench/", timeout=30)  # the parent a calendar lives in
    r = httpx.put(f"{base}/bench/seed/", content=body, headers={"Content-Type": "text/calendar"}, timeout=30)
    if r.status_code not in (200, 201, 204):
        raise RuntimeError(f"Radicale refused the calendar: {r.status_code} {r.text[:200]}")
    return f"{base}/bench/seed/"


def start_served(servers: Servers, app: str, port: int, env: dict[str, str], log: Path) -> None:
    """`app` under notifier.web.serve (uvicorn on a socket with TCP_NODELAY), WORKERS workers."""
    servers.start([sys.executable, str(Path(__file__).resolve()), "--serve", app, str(port)], env=env, log=log)


def start_notifier(servers: Servers, config: Path, port: int, env: dict[str, str], log: Path) -> None:
    notifier = Path(sys.executable).with_name("notifier")
    servers.start([str(notifier), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(WORKERS)], env=env, log=log)  # fmt: skip


def start_uvicorn(servers: Servers, app: str, port: int, env: dict[str, str], log: Path) -> None:
    servers.start([sys.executable, "-m", "uvicorn", app, "--factory", "--app-dir", str(ROOT / "benchmarks"),
                   "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
                   "--no-access-log", "--log-level", "warning"], env=env, log=log)  # fmt: skip


def bench_serving(seconds: int, connections: int, rounds: int = 2) -> list[dict[str, object]]:
    """Every (server, mode) `rounds` times, interleaved; the best round counts (the machine
    is shared, so a slow round says more about the neighbours than about the server)."""
    ensure_tools()
    servers = Servers()
    work = Path(tempfile.mkdtemp(prefix="notifier-bench-"))
    results: list[dict[str, object]] = []
    try:
        config, feed = prepare_seed(work)
        body = feed.read_bytes()
        rel = feed.relative_to(work / "export").as_posix()
        env = {**os.environ, "NOTIFIER_CONFIG": str(config), "BENCH_FEED_FILE": str(feed)}
        targets = []
        port = free_port()
        targets.append(("nginx (file)", start_nginx(servers, work, work / "export", port) + f"/feeds/{rel}"))
        port = free_port()
        targets.append(("Radicale 3", start_radicale(servers, work, body, port)))
        port = free_port()
        start_uvicorn(servers, "feeds:bare_app", port, env, work / "bare-cli.log")
        targets.append(("bare, uvicorn CLI", f"http://127.0.0.1:{port}/feeds/{rel}"))
        port = free_port()
        start_served(servers, "feeds:bare_app", port, env, work / "bare.log")
        targets.append(("bare Starlette", f"http://127.0.0.1:{port}/feeds/{rel}"))
        port = free_port()
        start_notifier(servers, config, port, env, work / "notifier.log")
        targets.append(("notifier", f"http://127.0.0.1:{port}/feeds/{rel}"))
        probes = {}
        for name, url in targets:
            wait_http(url)
            status, etag, size = status_of(url, {"Accept-Encoding": "identity"})  # what wrk asks for
            cond_status, *_ = status_of(url, {"Accept-Encoding": "identity", "If-None-Match": etag})
            probes[name] = (status, etag, size, cond_status)
            for headers in ({}, {"If-None-Match": etag}):
                wrk(url, 2, connections, headers)  # warm-up
        best: dict[tuple[str, str], dict[str, object]] = {}
        for round_no in range(1, rounds + 1):
            for name, url in targets:
                status, etag, size, cond_status = probes[name]
                for mode, headers in (("full GET", {}), ("conditional GET", {"If-None-Match": etag})):
                    res = wrk(url, seconds, connections, headers)
                    res.update(server=name, mode=mode, status=cond_status if headers else status, size=size)
                    if (name, mode) not in best or res["rps"] > best[(name, mode)]["rps"]:  # type: ignore[operator]
                        best[(name, mode)] = res
                    print(f"  round {round_no}: {name:18} {mode:16} {res['rps']:10.0f} req/s  p99 {res['p99_ms']:8.2f} ms"
                          f"  (HTTP {res['status']}, {size} B){'  non-2xx/3xx: ' + str(res['non2xx']) if res['non2xx'] else ''}",
                          flush=True)  # fmt: skip
        results = list(best.values())
    finally:
        servers.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best counts")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--activities", type=int, default=5000)
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--serve", nargs=2, metavar=("APP", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:  # a child process: run one app the way `notifier serve` does
        from notifier.web import serve

        sys.path.insert(0, str(ROOT / "benchmarks"))
        serve(args.serve[0], host="127.0.0.1", port=int(args.serve[1]), workers=WORKERS)
        return 0

    print(f"1. Build: every feed of a generated {args.activities}-activity plan", flush=True)
    b = bench_build(args.activities)
    print(f"  cold (no state) {b['cold']:.3f} s, warm (saved state) {b['warm']:.3f} s; "
          f"{b['feeds']} files, {b['bytes'] / 1e6:.1f} MB; target < 1 s: "
          f"{'MET' if b['cold'] < 1 else 'MISSED'}")  # fmt: skip
    missed = b["cold"] >= 1
    if args.skip_serving:
        return 2 if missed else 0
    print(f"\n2. Serving the seed feed: wrk, {args.connections} connections, {args.rounds} × {args.duration} s, "
          f"{WORKERS} workers for uvicorn apps and nginx", flush=True)  # fmt: skip
    results = bench_serving(args.duration, args.connections, args.rounds)
    print()
    print(f"{'mode':16} {'server':18} {'req/s':>10} {'p99 ms':>8} {'× nginx':>8} {'× bare':>8}")
    for mode in ("full GET", "conditional GET"):
        rows = {r["server"]: r for r in results if r["mode"] == mode}
        ceiling, floor = rows["nginx (file)"]["rps"], rows["bare Starlette"]["rps"]
        for name, r in rows.items():
            print(f"{mode:16} {name:18} {r['rps']:10.0f} {r['p99_ms']:8.2f} "
                  f"{r['rps'] / ceiling:8.4f} {r['rps'] / floor:8.3f}")  # type: ignore[operator]
    for mode in ("full GET", "conditional GET"):
        rows = {r["server"]: r for r in results if r["mode"] == mode}
        ratio = rows["notifier"]["rps"] / rows["bare Starlette"]["rps"]  # type: ignore[operator]
        p99 = rows["notifier"]["p99_ms"]
        ok = ratio >= 0.9 and p99 < 20  # type: ignore[operator]
        missed = missed or not ok
        print(f"notifier {mode}: {ratio:.1%} of bare Starlette, p99 {p99:.2f} ms → target {'MET' if ok else 'MISSED'}")


    return 2 if missed else 0  # short of a target: make bench names it


if __name__ == "__main__":
    sys.exit(main())
