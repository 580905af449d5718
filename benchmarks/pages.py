"""Pages benchmark: server-side time of the plan, unit and coordinator pages, in-process.

Run: `.venv/bin/python benchmarks/pages.py [--requests 300] [--big 1000]`

What is measured: the whole app (web.create_app with its Guard, the routes, site.Site,
pages.py, the Jinja templates) called as ASGI in this process, so sockets and HTTP
parsing are out of it: one request = scope in, every body byte out. The project is the
repository's config.toml with the seed plan 34/KH-UBND imported into schedules/ (as
`notifier import` reads it), a real SQLite outbox of 300 rows for the coordinator page,
and the clock fixed at 10/5/2024 09:00 (statuses: upcoming, in progress, over). A second
project adds a generated plan of `--big` activities (the seed's rows repeated with spans
spread over 2024 and leads cycling through the directory's units).
Figures: p50 and p95 wall time per request over `--requests` requests after a warm-up
(first requests compile templates and build the cached rows, shown apart), and the ratio
to the anchor measured in the same run: GET of the plan's ICS feed, bytes already in
memory (publish.FeedCache), the cheapest request the app serves.
Target: every seed page p95 < 100 ms; the last line says PASS or FAIL. The load average is
printed: on a shared machine, compare ratios, and repeat when it is high.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = ROOT.parent / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"
SLUG = "34-kh-ubnd-2024"
TARGET_MS = 100.0


def build_project(root: Path, big: int) -> None:
    """config.toml + schedules/ (seed, and a generated plan when big > 0) + an outbox."""
    from notifier.config import load_config
    from notifier.importing import import_plan
    from notifier.schedules import write_schedule

    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    (root / "config.toml").write_text(text.replace('public_url = "http://127.0.0.1:8080"',
                                                   'public_url = "https://lich.example.org"'), encoding="utf-8")  # fmt: skip
    config = load_config(root / "config.toml")
    plan = import_plan(SEED, config, year=None, today=date(2024, 3, 1))
    write_schedule(plan, config.schedules_path())
    if big:
        write_schedule(big_plan(plan, config, big), config.schedules_path())
    fill_outbox(config, 300)


def big_plan(seed, config, n: int):
    """`n` activities: the seed's rows repeated, spans spread over 2024, leads cycling."""
    from dataclasses import replace

    from notifier.plan import Plan
    from notifier.timing import Timing, TimingKind
    from notifier.units import resolve_plan

    rng = random.Random(7)
    units = [u.name for u in config.directory() if not u.is_group]
    acts = []
    for i in range(n):
        base = seed.activities[i % len(seed.activities)]
        section = ["I", "II", "III", "IV", "V", "VI"][i % 6]
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 330))
        end = start + timedelta(days=rng.choice([0, 6, 30, 90, 180]))
        end = min(end, date(2024, 12, 31))
        kind = TimingKind.UNDATABLE if i % 50 == 49 else TimingKind.RANGE
        timing = Timing("khi có yêu cầu", kind, reason="Không có ngày.") if kind is TimingKind.UNDATABLE \
            else Timing(f"Từ {start:%d/%m/%Y} đến {end:%d/%m/%Y}", kind, start, end)  # fmt: skip
        lead = units[i % len(units)]
        acts.append(replace(base, ref=f"{section}.{i // 6 + 1}", section=section, section_title=f"Nhóm việc {section}",
                            timing=timing, lead_text=lead, lead=[], coordinating_text=units[(i * 7) % len(units)],
                            coordinating=[], key_dates=[]))  # fmt: skip
    plan = Plan("ke-hoach-lon-2024", f"Kế hoạch thử {n} hoạt động năm 2024", number="999/KH-UBND",
                date=date(2024, 1, 2), issuer="UBND tỉnh Đắk Lắk", year=2024, activities=acts,
                reports=list(seed.reports))  # fmt: skip
    resolve_plan(plan, config.directory(), on=date(2024, 3, 1))
    return plan


def fill_outbox(config, n: int) -> None:
    from dataclasses import dataclass, field

    from notifier.clock import TZ
    from notifier.store import Outcome, database_url, open_store, upgrade

    @dataclass(frozen=True)
    class Rem:
        key: str
        due_at: datetime
        kind: str = "activity-start"
        to: tuple[str, ...] = ("songoaivu@example.org",)
        to_names: tuple[str, ...] = ("Sở Ngoại vụ",)
        units: tuple[str, ...] = ("Sở Ngoại vụ",)
        plan: str = SLUG
        refs: tuple[str, ...] = ("II.7",)
        subject: str = "Nhắc việc: hoạt động II.7 bắt đầu ngày 01/4/2024"
        context: dict = field(default_factory=dict)
        template: str = "reminder"

    url = database_url(config, env={})
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    store = open_store(url)
    start = datetime(2024, 4, 1, 8, 0, tzinfo=TZ)
    store.enqueue([Rem(f"r/{i:04d}", start + timedelta(minutes=i)) for i in range(n)], now=start)
    now = start + timedelta(days=1)
    rows = store.claim_due("bench", now=now, limit=n, lease=timedelta(minutes=5))
    store.record([Outcome(r.id, r.key, "sent" if r.id % 5 else "failed", now, message_id=f"<{r.id}@x>",
                          message="" if r.id % 5 else "550 Hộp thư không tồn tại") for r in rows], owner="bench")  # fmt: skip
    store.close()


def make_app(root: Path):
    from notifier.catalog import load_catalog
    from notifier.clock import TZ, FixedClock
    from notifier.publish import FeedCache
    from notifier.site import Site
    from notifier.web import create_app

    clock = FixedClock(datetime(2024, 5, 10, 9, 0, tzinfo=TZ))
    env: dict[str, str] = {}
    cache = FeedCache(lambda now: load_catalog(root / "config.toml", now=now, environ=env), clock=clock.now)
    cache.snapshot  # noqa: B018 - built before timing, as the server's lifespan does
    site = Site(root / "config.toml", clock=clock, environ=env)
    site.data()  # as create_app's lifespan does before the first request
    return create_app(cache, site=site, poll_interval=None)


async def call(app, target: str) -> tuple[int, int]:
    """One GET through the ASGI app; (status, body bytes)."""
    path, _, query = target.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "headers": [(b"host", b"127.0.0.1:8080"), (b"accept-encoding", b"identity")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080)}  # fmt: skip
    status, size = 0, 0

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, size


async def measure(app, target: str, n: int) -> dict:
    t0 = time.perf_counter()
    status, size = await call(app, target)
    first = time.perf_counter() - t0
    if status != 200:
        raise SystemExit(f"{target}: HTTP {status}")
    for _ in range(5):
        await call(app, target)
    times = []
    cpu0 = time.process_time()
    for _ in range(n):
        t = time.perf_counter()
        await call(app, target)
        times.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / n
    times.sort()
    return {"target": target, "bytes": size, "first": first * 1000, "p50": statistics.median(times) * 1000,
            "p95": times[int(0.95 * (len(times) - 1))] * 1000, "cpu": cpu * 1000}  # fmt: skip


def show(r: dict, anchor: float) -> str:
    return (f"  {r['target']:<62} {r['bytes'] / 1024:6.1f} kB  first {r['first']:6.1f} ms  "
            f"p50 {r['p50']:6.2f} ms  p95 {r['p95']:6.2f} ms  cpu {r['cpu']:6.2f} ms  {r['p50'] / anchor:6.1f}x feed")  # fmt: skip


async def run(args: argparse.Namespace) -> int:
    seed_pages = [f"/plans/{SLUG}", f"/plans/{SLUG}?unit=so-van-hoa-the-thao-va-du-lich&status=in-progress",
                  "/units/so-van-hoa-the-thao-va-du-lich", "/units/so-ngoai-vu", "/coordinators/so-ngoai-vu", "/"]  # fmt: skip
    results: list[tuple[str, list[dict], float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "seed", Path(tmp) / "big"
        small.mkdir()
        large.mkdir()
        build_project(small, 0)
        app = make_app(small)
        anchor = await measure(app, f"/feeds/plans/{SLUG}.ics", args.requests)
        rows = [await measure(app, t, args.requests) for t in seed_pages]
        results.append((f"seed plan 34/KH-UBND (31 activities), {args.requests} requests each", rows, anchor["p50"]))
        print(f"anchor: {show(anchor, anchor['p50']).strip()}")
        if args.big:
            build_project(large, args.big)
            app = make_app(large)
            big_anchor = await measure(app, "/feeds/plans/ke-hoach-lon-2024.ics", max(20, args.requests // 10))
            big_pages = ["/plans/ke-hoach-lon-2024", "/plans/ke-hoach-lon-2024?status=upcoming",
                         "/plans/ke-hoach-lon-2024?unit=so-ngoai-vu", "/units/so-ngoai-vu", "/coordinators/so-ngoai-vu"]  # fmt: skip
            rows = [await measure(app, t, max(20, args.requests // 10)) for t in big_pages]
            results.append((f"plan of {args.big} activities (+ the seed), {max(20, args.requests // 10)} requests each",
                            rows, big_anchor["p50"]))  # fmt: skip
    for title, rows, anchor_p50 in results:
        print(title)
        for r in rows:
            print(show(r, anchor_p50))
    worst = max(r["p95"] for r in results[0][1])
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores")
    verdict = "PASS" if worst < TARGET_MS else "FAIL"
    print(f"{verdict}: slowest seed page p95 {worst:.1f} ms (target < {TARGET_MS:.0f} ms server-side)")
    return 0 if verdict == "PASS" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--big", type=int, default=1000, help="activities of the generated plan (0: skip)")
    args = parser.parse_args()
    if not SEED.exists():
        print(f"Không thấy kế hoạch mẫu: {SEED}", file=sys.stderr)
        return 2
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
