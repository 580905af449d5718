"""Health and metrics of a running notifier: what `/healthz` and `/metrics` answer.

Owns:
- `Facts`: what is known about the process at one moment (the daemon's `health()`, the feed
  cache, one database probe, the outbox counts), gathered by `gather(state, ...)`;
- `assess(facts) -> Health` (pure): the checks, each under a stable English key with `ok`,
  `required` and a Vietnamese `message`; ready = alive and every required check ok;
- `exposition(facts) -> str` (pure): Prometheus text exposition format 0.0.4;
- `Probe`: a blocking database call in a worker thread under a time limit;
- `healthz`, `metrics`: the Starlette handlers web.py routes.

Decisions (docs/operations.md):
- Required (503 when failing): the process is not stopping; the database answers (the
  schema revision, read within `DB_TIMEOUT`); the last sweep is no older than
  `sweep_limit(interval)` (before the first sweep ends: the process is younger than that);
  the feeds are built. Reported but not required (200,
  status "degraded"): a failed reload or feed rebuild (the last good version is still
  served, and every daemon reads the same files: taking them all out of the load balancer
  would turn a typo into an outage) and the mail server being down (mail waits in the
  outbox; the web side works). Alert on those through /metrics.
- Under `notifier serve` there is no daemon and maybe no store: the checks are what exists.
- A hung database must not hang probes: each call runs in a thread with a time limit, and
  while one call of a kind is still running, later requests wait on that same call rather
  than start another thread (a stuck database costs one thread per kind, not one a scrape).
- Outbox counts come from `Store.counts` (what `notifier status` shows): one GROUP BY over
  the (status, next_attempt_at) index plus one aggregate over pending rows. Several daemons
  on one database report the same counts: aggregate them with max(), not sum().
Not here: the facts themselves (daemon.py, publish.py, store.py), routing (web.py).
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from notifier.text import nfc

if TYPE_CHECKING:
    from notifier.clock import Clock

__all__ = [
    "CONTENT_TYPE",
    "DB_TIMEOUT",
    "SCRAPE_TIMEOUT",
    "Check",
    "Facts",
    "Health",
    "Probe",
    "Probed",
    "assess",
    "exposition",
    "gather",
    "health_json",
    "healthz",
    "metrics",
    "process_start_time",
    "sweep_limit",
]

DB_TIMEOUT = 2.0  # seconds /healthz waits for the database
SCRAPE_TIMEOUT = 3.0  # seconds /metrics waits for the outbox counts (Prometheus default: 10)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("pending", "claimed", "sent", "failed", "skipped")  # store.STATUSES, all always shown
T = TypeVar("T")


def sweep_limit(interval: float) -> float:
    """How old the last completed sweep may be: three periods, and at least five minutes
    more than one (a sweep that sends a large backlog finishes only when it is sent)."""
    return max(3 * interval, interval + 300.0)


# --- the facts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probed:
    """One timed database call: its value, or why there is none."""

    ok: bool
    seconds: float
    value: Any = None
    error: str = ""
    timed_out: bool = False


@dataclass(frozen=True)
class Facts:
    """What /healthz and /metrics report, read at one moment; built by `gather`."""

    now: datetime
    started_at: float  # process start, Unix seconds
    version: str
    uptime: float = 0.0  # seconds since the process started (real time, whatever --now says)
    daemon: Mapping[str, Any] | None = None  # daemon.Daemon.health(); None under `serve`
    feeds_built: bool = False
    feeds: int = 0
    feeds_built_at: datetime | None = None
    feeds_error: str = ""
    database: Probed | None = None  # the schema revision; None: no store here
    expected_revision: str = ""
    counts: Probed | None = None  # store.Counts; None: not asked or no store


@dataclass(frozen=True)
class Check:
    key: str
    ok: bool
    required: bool
    message: str  # Vietnamese, NFC
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "required": self.required, "message": self.message, **self.details}


@dataclass(frozen=True)
class Health:
    live: bool
    ready: bool
    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        """ok, degraded (ready, with something worth a look) or unavailable (not ready)."""
        if not self.ready:
            return "unavailable"
        return "ok" if all(c.ok for c in self.checks) else "degraded"

    @property
    def failing(self) -> list[str]:
        return [c.key for c in self.checks if c.required and not c.ok]

    @property
    def warnings(self) -> list[str]:
        return [c.key for c in self.checks if not c.required and not c.ok]

    @property
    def message(self) -> str:
        if not self.ready:
            return "Chưa sẵn sàng: " + "; ".join(
                c.message for c in self.checks if c.required and not c.ok
            ) + "."
        if self.warnings:
            return "Sẵn sàng, có cảnh báo: " + "; ".join(
                c.message for c in self.checks if not c.required and not c.ok
            ) + "."
        return "Sẵn sàng."


# --- readiness (pure) -------------------------------------------------------------------------


def _instant(text: Any) -> datetime | None:
    if not text:
        return None
    return text if isinstance(text, datetime) else datetime.fromisoformat(str(text))


def _seconds(value: float) -> str:
    """A duration as Vietnamese readers write it: "12 giây", "1,5 giây"."""
    shown = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
    return shown.replace(".", ",") + " giây"


def _process(facts: Facts) -> Check:
    stopping = bool(facts.daemon and facts.daemon.get("stopping"))
    if stopping:
        return Check("process", False, True, "tiến trình đang dừng")
    return Check("process", True, True, "tiến trình đang chạy", {"pid": os.getpid()})


def _database(probe: Probed, expected: str) -> Check:
    details = {"seconds": round(probe.seconds, 4)}
    if probe.timed_out:
        return Check("database", False, True,
                     f"cơ sở dữ liệu không trả lời trong {_seconds(probe.seconds)}", details)  # fmt: skip
    if not probe.ok:
        return Check("database", False, True,
                     f"không truy vấn được cơ sở dữ liệu: {probe.error}", details)  # fmt: skip
    if expected and probe.value != expected:
        found = probe.value or "trống"
        return Check("database", False, True,
                     f"cơ sở dữ liệu ở phiên bản {found}, cần {expected}; chạy: notifier db upgrade",
                     {**details, "revision": probe.value})  # fmt: skip
    ms = round(probe.seconds * 1000, 1)
    return Check("database", True, True, f"cơ sở dữ liệu trả lời sau {ms:g} ms".replace(".", ","),
                 {**details, "revision": probe.value})  # fmt: skip


def _sweep(daemon: Mapping[str, Any], now: datetime, uptime: float) -> Check:
    interval = float(daemon.get("sweep_interval") or 60.0)
    limit = sweep_limit(interval)
    last = _instant(daemon.get("last_sweep"))
    error = str(daemon.get("last_error") or "")
    details: dict[str, Any] = {
        "last_sweep": last.isoformat() if last else None,
        "age_seconds": None,
        "limit_seconds": limit,
    }
    tail = f"; lỗi gần nhất: {error}" if error else ""
    if last is None and uptime <= limit:  # the first sweep may send a backlog; the web serves
        return Check("sweep", True, True, "lần quét đầu tiên đang chạy" + tail, details)
    if last is None:
        return Check("sweep", False, True, "chưa quét hàng đợi lần nào kể từ khi khởi động" + tail,
                     details)  # fmt: skip
    age = max((now - last).total_seconds(), 0.0)
    details["age_seconds"] = round(age, 3)
    if age > limit:
        return Check("sweep", False, True,
                     f"lần quét gần nhất cách đây {_seconds(age)}, quá giới hạn {_seconds(limit)}{tail}",
                     details)  # fmt: skip
    return Check("sweep", True, True, f"lần quét gần nhất cách đây {_seconds(age)}", details)


def _reload(daemon: Mapping[str, Any]) -> Check:
    problems = list(daemon.get("reload_problems") or [])
    details = {"at": daemon.get("reload_at"), "problems": len(problems)}
    if daemon.get("reload_ok") is False:
        first = f": {problems[0]}" if problems else ""
        return Check("reload", False, False,
                     f"lần nạp lại cấu hình gần nhất có {len(problems)} lỗi, vẫn dùng bản trước{first}",
                     details)  # fmt: skip
    return Check("reload", True, False, "cấu hình và lịch đã nạp", details)


def _feeds(facts: Facts) -> list[Check]:
    if not facts.feeds_built:
        return [Check("feeds", False, True, "lịch chưa dựng xong")]
    built = facts.feeds_built_at.isoformat() if facts.feeds_built_at else None
    checks = [Check("feeds", True, True, f"đã dựng {facts.feeds} lịch",
                    {"count": facts.feeds, "built_at": built})]  # fmt: skip
    if facts.feeds_error:
        checks.append(Check("feeds_rebuild", False, False,
                            f"dựng lại lịch bị lỗi, vẫn phục vụ bản trước: {facts.feeds_error}"))  # fmt: skip
    return checks


def _mail(daemon: Mapping[str, Any]) -> Check:
    transport = str(daemon.get("transport") or "")
    details = {"transport": transport}
    if daemon.get("mail_server_down"):
        return Check("mail", False, False,
                     "không gửi được tới máy chủ thư; thư chờ trong hàng đợi và được thử lại",
                     details)  # fmt: skip
    return Check("mail", True, False, "gửi thư qua " + transport if transport else "gửi thư",
                 details)  # fmt: skip


def assess(facts: Facts) -> Health:
    """The checks for what exists here (daemon, store, feeds), and the verdict."""
    checks = [_process(facts)]
    if facts.database is not None:
        checks.append(_database(facts.database, facts.expected_revision))
    if facts.daemon is not None:
        checks.append(_sweep(facts.daemon, facts.now, facts.uptime))
    checks += _feeds(facts)
    if facts.daemon is not None:
        checks += [_reload(facts.daemon), _mail(facts.daemon)]
    checks = [Check(c.key, c.ok, c.required, nfc(c.message), c.details) for c in checks]
    live = checks[0].ok
    return Health(live=live, ready=live and all(c.ok for c in checks if c.required),
                  checks=tuple(checks))  # fmt: skip


def health_json(facts: Facts, health: Health) -> dict[str, Any]:
    """The /healthz body. `feeds` and `built_at` stay at the top (older clients read them)."""
    body: dict[str, Any] = {
        "status": health.status,
        "live": health.live,
        "ready": health.ready,
        "message": health.message,
        "failing": health.failing,
        "warnings": health.warnings,
        "checks": {c.key: c.as_json() for c in health.checks},
        "feeds": facts.feeds,
        "built_at": facts.feeds_built_at.isoformat() if facts.feeds_built_at else None,
        "now": facts.now.isoformat(),
        "version": facts.version,
    }
    if facts.daemon is not None:
        body["owner"] = facts.daemon.get("owner")
    return body


# --- metrics (pure) ---------------------------------------------------------------------------


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


class _Families:
    """Metric families in the order added, each with HELP, TYPE and its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def gauge(self, name: str, help_text: str,
              samples: Iterable[tuple[Mapping[str, str], float]] | float | None) -> None:  # fmt: skip
        if samples is None:
            return
        if isinstance(samples, (int, float)):
            samples = [({}, float(samples))]
        self.lines += [f"# HELP {name} {_escape_help(nfc(help_text))}", f"# TYPE {name} gauge"]
        for labels, value in samples:
            shown = ",".join(f'{k}="{_escape_label(nfc(str(v)))}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _stamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def exposition(facts: Facts, health: Health | None = None) -> str:
    """Prometheus text format 0.0.4. Families whose source is absent here are left out."""
    health = health or assess(facts)
    out = _Families()
    out.gauge("notifier_build_info", "Phiên bản notifier và Python đang chạy (luôn bằng 1).",
              [({"version": facts.version, "python": platform.python_version()}, 1)])  # fmt: skip
    out.gauge("process_start_time_seconds", "Thời điểm tiến trình khởi động (giây Unix).",
              facts.started_at)  # fmt: skip
    out.gauge("notifier_ready", "1 khi /healthz trả 200 (sẵn sàng), 0 khi không.",
              1 if health.ready else 0)  # fmt: skip
    out.gauge("notifier_check_ok", "Từng mục kiểm tra của /healthz: 1 đạt, 0 không đạt.",
              [({"check": c.key, "required": str(c.required).lower()}, 1 if c.ok else 0)
               for c in health.checks])  # fmt: skip
    counts = facts.counts
    if counts is not None:
        out.gauge("notifier_database_up", "1 khi cơ sở dữ liệu trả lời truy vấn đếm hàng đợi trong lần lấy số liệu này.",
                  1 if counts.ok else 0)  # fmt: skip
        out.gauge("notifier_database_query_seconds", "Thời gian truy vấn đếm hàng đợi (giây).",
                  counts.seconds)  # fmt: skip
    if counts is not None and counts.ok:
        c = counts.value
        out.gauge("notifier_reminders", "Số thư nhắc trong hàng đợi theo trạng thái.",
                  [({"status": s}, getattr(c, s)) for s in STATUSES])  # fmt: skip
        out.gauge("notifier_reminders_due", "Thư chờ gửi đã đến hạn (có thể gửi ngay).", c.due)
        out.gauge("notifier_reminders_retry_backlog",
                  "Thư chờ gửi lại sau ít nhất một lần gửi lỗi tạm thời.", c.retrying)  # fmt: skip
        out.gauge("notifier_reminders_next_due_timestamp_seconds",
                  "Thời điểm thư chờ gửi sớm nhất đến hạn (giây Unix).", _stamp(c.next_due))  # fmt: skip
    daemon = facts.daemon
    if daemon is not None:
        last = _instant(daemon.get("last_sweep"))
        if last is not None:
            out.gauge("notifier_last_sweep_timestamp_seconds",
                      "Thời điểm lần quét hàng đợi gần nhất xong (giây Unix).", _stamp(last))  # fmt: skip
            out.gauge("notifier_last_sweep_age_seconds", "Số giây từ lần quét gần nhất.",
                      max((facts.now - last).total_seconds(), 0.0))  # fmt: skip
        interval = float(daemon.get("sweep_interval") or 60.0)
        out.gauge("notifier_sweep_interval_seconds", "Chu kỳ quét hàng đợi (giây).", interval)
        out.gauge("notifier_sweep_age_limit_seconds",
                  "Lần quét gần nhất cũ hơn số giây này thì /healthz báo chưa sẵn sàng.",
                  sweep_limit(interval))  # fmt: skip
        if daemon.get("reload_ok") is not None:
            out.gauge("notifier_reload_success",
                      "1 khi lần nạp cấu hình và lịch gần nhất thành công, 0 khi có lỗi.",
                      1 if daemon.get("reload_ok") else 0)  # fmt: skip
            out.gauge("notifier_reload_timestamp_seconds",
                      "Thời điểm lần nạp cấu hình gần nhất (giây Unix).",
                      _stamp(_instant(daemon.get("reload_at"))))  # fmt: skip
            out.gauge("notifier_reload_problems", "Số lỗi của lần nạp cấu hình gần nhất.",
                      len(daemon.get("reload_problems") or []))  # fmt: skip
        out.gauge("notifier_mail_server_down",
                  "1 khi không gửi được tới máy chủ thư (thư chờ và được thử lại).",
                  1 if daemon.get("mail_server_down") else 0)  # fmt: skip
    if facts.feeds_built:
        out.gauge("notifier_feeds", "Số lịch ICS đang phục vụ.", facts.feeds)
        out.gauge("notifier_feeds_built_timestamp_seconds",
                  "Thời điểm dựng lịch gần nhất (giây Unix).", _stamp(facts.feeds_built_at))  # fmt: skip
    out.gauge("notifier_feeds_rebuild_error",
              "1 khi lần dựng lại lịch gần nhất lỗi (vẫn phục vụ bản trước).",
              1 if facts.feeds_error else 0)  # fmt: skip
    return out.text()


# --- gathering (I/O) --------------------------------------------------------------------------


class Probe:
    """Blocking calls in worker threads under a time limit, at most one in flight per name.

    A database that hangs keeps its thread; the caller gets a timed-out `Probed` at the
    limit, and later callers join the call still running instead of starting another.
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Any]] = {}

    async def run(self, name: str, fn: Callable[[], T], timeout: float) -> Probed:
        began = time.perf_counter()
        task = self._running.get(name)
        if task is None or task.done():
            task = asyncio.ensure_future(asyncio.to_thread(fn))
            task.add_done_callback(_consume)
            self._running[name] = task
        try:
            value = await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            return Probed(False, time.perf_counter() - began, error="hết thời gian chờ",
                          timed_out=True)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - any failure is a failed check, said briefly
            return Probed(False, time.perf_counter() - began, error=_brief(exc))
        return Probed(True, time.perf_counter() - began, value=value)


def _consume(task: asyncio.Future[Any]) -> None:
    """Fetch a finished call's exception so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


def _brief(exc: BaseException) -> str:
    """The error's first line, without SQL or parameters (SQLAlchemy appends both)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    text = f"{type(inner).__name__}: {text}" if text else type(inner).__name__
    return text[:300]


@functools.cache
def process_start_time() -> float:
    """When this process started (Unix seconds): from /proc on Linux, else when first asked."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, after "(comm)"
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def _version() -> str:
    from notifier import __version__

    return __version__


def _sources(state: Any) -> tuple[Any, Any, Any]:
    """(daemon, store, feed cache) of an app: the daemon's, or under `serve` the site's."""
    daemon = getattr(state, "daemon", None)
    if daemon is not None:
        return daemon, daemon.store, getattr(state, "cache", None)
    site = getattr(state, "site", None)
    return None, getattr(site, "store", None), getattr(state, "cache", None)


def _now(daemon: Any, state: Any) -> datetime:
    clock: Clock | None = getattr(daemon, "clock", None) or getattr(
        getattr(state, "site", None), "clock", None
    )
    if clock is not None:
        return clock.now()
    from notifier.clock import SystemClock

    return SystemClock().now()


async def gather(state: Any, *, counts: bool, timeout: float) -> Facts:
    """Read the facts of the app whose `state` this is; database calls under `timeout`."""
    from notifier.store import SCHEMA_REVISION

    daemon, store, cache = _sources(state)
    probe: Probe | None = getattr(state, "health_probe", None)
    if probe is None:
        probe = state.health_probe = Probe()
    now = _now(daemon, state)
    database = counted = None
    if store is not None:
        if counts:
            counted = await probe.run("counts", functools.partial(store.counts, now=now), timeout)
        else:
            database = await probe.run("revision", store.revision, timeout)
    # The cache's built snapshot without building it: `.snapshot` would build on the loop.
    snap = getattr(cache, "_snapshot", None) if cache is not None else None
    return Facts(
        now=now,
        started_at=process_start_time(),
        uptime=time.time() - process_start_time(),
        version=_version(),
        daemon=daemon.health() if daemon is not None else None,
        feeds_built=snap is not None,
        feeds=len(snap.feeds) if snap is not None else 0,
        feeds_built_at=snap.built_at if snap is not None else None,
        feeds_error=str(getattr(cache, "last_error", "") or ""),
        database=database,
        expected_revision=SCHEMA_REVISION,
        counts=counted,
    )


# --- the handlers -----------------------------------------------------------------------------


async def healthz(request: Any) -> Any:
    """GET /healthz: readiness, 200 or 503 with the failing checks. `?live`: liveness only
    (200 unless the process is stopping), without touching the database."""
    from starlette.responses import JSONResponse

    headers = {"cache-control": "no-store"}
    if "live" in request.query_params:
        daemon, _, _ = _sources(request.app.state)
        facts = Facts(now=_now(daemon, request.app.state), started_at=process_start_time(),
                      version=_version(), daemon=daemon.health() if daemon else None)  # fmt: skip
        check = _process(facts)
        body = {"status": "ok" if check.ok else "stopping", "live": check.ok,
                "message": nfc(check.message)}  # fmt: skip
        return JSONResponse(body, 200 if check.ok else 503, headers)
    facts = await gather(request.app.state, counts=False, timeout=DB_TIMEOUT)
    health = assess(facts)
    return JSONResponse(health_json(facts, health), 200 if health.ready else 503, headers)


async def metrics(request: Any) -> Any:
    """GET /metrics: Prometheus text; the outbox counts under SCRAPE_TIMEOUT."""
    from starlette.responses import Response

    facts = await gather(request.app.state, counts=True, timeout=SCRAPE_TIMEOUT)
    if facts.counts is not None:  # the scrape's one query also says whether the database answers
        facts = _with_database(facts, facts.counts)
    body = exposition(facts)
    return Response(body.encode(), 200, {"content-type": CONTENT_TYPE, "cache-control": "no-store"})


def _with_database(facts: Facts, counted: Probed) -> Facts:
    from dataclasses import replace

    # The counts answered, so the schema is there; its revision was checked at start.
    revision = facts.expected_revision if counted.ok else None
    probe = Probed(counted.ok, counted.seconds, revision, counted.error, counted.timed_out)
    return replace(facts, database=probe)
