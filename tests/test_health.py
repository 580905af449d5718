"""/healthz, /metrics and JSON logs (notifier/health.py, daemon logging).

Readiness rules and the Prometheus text are pure and tested in-process (the text is read
back with prometheus_client's parser, not ours). The endpoints are tested on real servers:
the feeds app under uvicorn on 127.0.0.1 port 0 (what `notifier serve` runs: no daemon, no
store), and `notifier run --log-json` as a real process on SQLite, and on PostgreSQL behind
a TCP relay that the test can stall (a database that stops answering).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _stores import fresh_database
from feedkit import NOW as FEED_NOW
from feedkit import running
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from test_daemon import (  # noqa: F401 - `server` and `start` are fixtures
    NOW,
    OPENS,
    Daemon,
    clean_env,
    server,
    sqlite_url,
    start,
    units,
    wait_received,
    write_project,
)
from test_publish import Source

from notifier.clock import TZ, FixedClock
from notifier.health import (
    DB_TIMEOUT,
    SCRAPE_TIMEOUT,
    Facts,
    Probe,
    Probed,
    assess,
    exposition,
    health_json,
    sweep_limit,
)
from notifier.publish import FeedCache
from notifier.store import SCHEMA_REVISION, Counts, open_store
from notifier.web import create_app

MOMENT = datetime(2024, 3, 25, 9, 0, tzinfo=TZ)


# --- readiness, pure ----------------------------------------------------------------------


def daemon_facts(**changes: Any) -> dict[str, Any]:
    """What Daemon.health() says for a healthy daemon that swept 10 s ago."""
    base = {
        "owner": "may-1:4242:ab12cd34",
        "stopping": False,
        "sweep_interval": 60.0,
        "last_sweep": (MOMENT - timedelta(seconds=10)).isoformat(),
        "last_error": "",
        "mail_server_down": False,
        "transport": "SMTP 127.0.0.1:25",
        "reload_ok": True,
        "reload_at": MOMENT.isoformat(),
        "reload_problems": [],
    }
    return {**base, **changes}


def facts(daemon: dict[str, Any] | None = None, **changes: Any) -> Facts:
    base = Facts(
        now=MOMENT,
        started_at=1_700_000_000.0,
        version="0.1.0",
        daemon=daemon_facts() if daemon is None else daemon,
        feeds_built=True,
        feeds=7,
        feeds_built_at=MOMENT,
        database=Probed(True, 0.002, SCHEMA_REVISION),
        expected_revision=SCHEMA_REVISION,
    )
    return replace(base, **changes)


def is_vietnamese(text: str) -> bool:
    return unicodedata.is_normalized("NFC", text) and any(ord(c) > 0x7F for c in text)


def test_a_healthy_daemon_is_ready_with_every_check_named() -> None:
    health = assess(facts())
    assert (health.live, health.ready, health.status) == (True, True, "ok")
    assert [c.key for c in health.checks] == ["process", "database", "sweep", "feeds", "reload", "mail"]
    assert all(c.ok and is_vietnamese(c.message) for c in health.checks)


FAILURES = {
    "stopping": (facts(daemon=daemon_facts(stopping=True)), "process", "đang dừng"),
    "database timeout": (facts(database=Probed(False, 2.0, error="x", timed_out=True)), "database",
                         "không trả lời trong 2 giây"),
    "database error": (facts(database=Probed(False, 0.01, error="OperationalError: connection refused")),
                       "database", "connection refused"),
    "unmigrated": (facts(database=Probed(True, 0.01, None)), "database", "notifier db upgrade"),
    "never swept": (facts(daemon=daemon_facts(last_sweep=None, last_error="OSError: đĩa đầy"),
                          uptime=400), "sweep", "đĩa đầy"),
    "sweep too old": (facts(daemon=daemon_facts(last_sweep=(MOMENT - timedelta(seconds=400)).isoformat())),
                      "sweep", "quá giới hạn"),
    "feeds not built": (facts(feeds_built=False, feeds=0, feeds_built_at=None), "feeds", "chưa dựng"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failing_required_check_is_named_and_makes_it_unready(case: str) -> None:
    given_facts, key, words = FAILURES[case]
    health = assess(given_facts)
    assert not health.ready and health.status == "unavailable"
    assert health.failing == [key]
    failing = next(c for c in health.checks if c.key == key)
    assert words in failing.message and is_vietnamese(failing.message)
    body = health_json(given_facts, health)
    assert body["checks"][key]["ok"] is False and body["failing"] == [key]
    assert body["message"].startswith("Chưa sẵn sàng: ") and failing.message in body["message"]


WARNINGS = {
    "reload failed": (facts(daemon=daemon_facts(reload_ok=False, reload_problems=["config.toml:3: [smtp] port"])),
                      "reload", "config.toml:3"),
    "mail server down": (facts(daemon=daemon_facts(mail_server_down=True)), "mail", "máy chủ thư"),
    "feed rebuild failed": (facts(feeds_error="config.toml: lỗi thử"), "feeds_rebuild", "lỗi thử"),
}  # fmt: skip


def test_the_first_sweep_may_run_as_long_as_the_sweep_limit() -> None:
    first = daemon_facts(last_sweep=None)
    running_first = assess(facts(daemon=first, uptime=sweep_limit(60.0) - 1))
    assert running_first.ready and running_first.status == "ok"
    assert next(c for c in running_first.checks if c.key == "sweep").message == "lần quét đầu tiên đang chạy"
    assert assess(facts(daemon=first, uptime=sweep_limit(60.0) + 1)).failing == ["sweep"]


@pytest.mark.parametrize("case", list(WARNINGS))
def test_what_still_serves_the_last_good_version_is_a_warning_not_unready(case: str) -> None:
    given_facts, key, words = WARNINGS[case]
    health = assess(given_facts)
    assert health.ready and health.status == "degraded"
    assert health.failing == [] and health.warnings == [key]
    assert words in health.message and health.message.startswith("Sẵn sàng, có cảnh báo")


def test_under_serve_only_what_exists_is_checked() -> None:
    serve = replace(facts(), daemon=None, database=None)
    health = assess(serve)
    assert [c.key for c in health.checks] == ["process", "feeds"] and health.ready
    body = health_json(serve, health)
    assert "owner" not in body and body["feeds"] == 7


@given(interval=st.floats(0.1, 86_400), over=st.floats(0.001, 10_000))
def test_the_sweep_limit_grows_with_the_interval_and_is_a_sharp_edge(interval: float, over: float) -> None:
    limit = sweep_limit(interval)
    assert limit >= 3 * interval and limit >= interval + 300
    assert sweep_limit(interval * 2) >= limit

    def swept(age: float) -> bool:
        last = (MOMENT - timedelta(seconds=age)).isoformat()
        return assess(facts(daemon=daemon_facts(sweep_interval=interval, last_sweep=last))).ready

    assert swept(limit * 0.999)
    assert not swept(limit + over)


# --- metrics text, pure ---------------------------------------------------------------------


def parse(text: str) -> dict[str, Any]:
    """Families by name, read by prometheus_client's parser."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families: dict[str, Any], name: str, **labels: str) -> float:
    found = [s.value for s in families[name].samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, families[name].samples)
    return found[0]


label_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    version=label_text,
    transport=label_text,
    counts=st.tuples(*[st.integers(0, 10**9)] * 7),
    age=st.floats(0, 10**6),
    down=st.booleans(),
    reload_ok=st.booleans(),
)
def test_metrics_parse_back_with_prometheus_clients_parser(
    version: str, transport: str, counts: tuple[int, ...], age: float, down: bool, reload_ok: bool
) -> None:
    pending, due, retrying, claimed, sent, failed, skipped = counts
    c = Counts(pending=pending, due=due, retrying=retrying, claimed=claimed, sent=sent,
               failed=failed, skipped=skipped, next_due=MOMENT)  # fmt: skip
    last = MOMENT - timedelta(seconds=age)
    d = daemon_facts(transport=transport, mail_server_down=down, reload_ok=reload_ok,
                     last_sweep=last.isoformat(), reload_problems=[] if reload_ok else ["a", "b"])  # fmt: skip
    f = facts(daemon=d, version=version, counts=Probed(True, 0.01, c))
    families = parse(exposition(f))
    assert all(fam.type == "gauge" and fam.documentation for fam in families.values())
    for status in ("pending", "claimed", "sent", "failed", "skipped"):
        assert value(families, "notifier_reminders", status=status) == getattr(c, status)
    assert value(families, "notifier_reminders_due") == due
    assert value(families, "notifier_reminders_retry_backlog") == retrying
    assert value(families, "notifier_build_info", version=unicodedata.normalize("NFC", version)) == 1
    assert value(families, "notifier_mail_server_down") == (1 if down else 0)
    assert value(families, "notifier_reload_success") == (1 if reload_ok else 0)
    assert value(families, "notifier_reload_problems") == (0 if reload_ok else 2)
    assert value(families, "notifier_last_sweep_timestamp_seconds") == pytest.approx(last.timestamp())
    # instants carry microseconds: the age is exact to 1 µs
    assert value(families, "notifier_last_sweep_age_seconds") == pytest.approx(age, abs=1e-6)
    assert value(families, "notifier_ready") == (1 if assess(f).ready else 0)
    assert value(families, "notifier_database_up") == 1
    assert value(families, "process_start_time_seconds") == 1_700_000_000


def test_without_an_answer_from_the_database_the_outbox_families_are_left_out() -> None:
    f = facts(counts=Probed(False, 3.0, error="hết thời gian chờ", timed_out=True))
    families = parse(exposition(f))
    assert value(families, "notifier_database_up") == 0
    assert "notifier_reminders" not in families and "notifier_reminders_due" not in families
    under_serve = parse(exposition(replace(facts(), daemon=None, database=None)))
    assert "notifier_database_up" not in under_serve and "notifier_last_sweep_age_seconds" not in under_serve
    assert value(under_serve, "notifier_feeds") == 7


# --- the probe: real threads -----------------------------------------------------------------


def test_a_hung_call_times_out_and_later_callers_join_it_instead_of_starting_threads() -> None:
    release = threading.Event()
    calls: list[int] = []

    def stuck() -> str:
        calls.append(1)
        release.wait(10)
        return "0001"

    async def scenario() -> tuple[list[Probed], Probed, Probed]:
        probe = Probe()
        began = time.monotonic()
        hung = await asyncio.gather(*(probe.run("db", stuck, 0.2) for _ in range(8)))
        assert time.monotonic() - began < 2
        release.set()
        await asyncio.sleep(0.1)
        again = await probe.run("db", stuck, 1.0)
        failed = await probe.run("db", lambda: 1 / 0, 1.0)
        return hung, again, failed

    hung, again, failed = asyncio.run(scenario())
    assert all(p.timed_out and not p.ok for p in hung)
    assert again.ok and again.value == "0001"
    assert len(calls) == 2  # eight callers shared the hung call; the next one ran anew
    assert not failed.ok and failed.error.startswith("ZeroDivisionError")


# --- `notifier serve`'s app on a real server ---------------------------------------------------


@pytest.fixture
def feeds_app(tmp_path: Path) -> Iterator[tuple[httpx.Client, Source]]:
    src = Source(tmp_path)
    cache = FeedCache(src, clock=FixedClock(FEED_NOW).now)
    app = create_app(cache, poll_interval=0.05)
    with running(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client, src


def test_serve_is_ready_with_feeds_and_warns_when_a_rebuild_fails(
    feeds_app: tuple[httpx.Client, Source],
) -> None:
    client, src = feeds_app
    r = client.get("/healthz")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok" and body["ready"] and body["feeds"] > 0
    assert set(body["checks"]) == {"process", "feeds"}
    assert r.headers["cache-control"] == "no-store"
    m = client.get("/metrics")
    assert m.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = parse(m.text)
    assert value(families, "notifier_feeds") == body["feeds"]
    assert value(families, "notifier_feeds_rebuild_error") == 0
    assert "notifier_reminders" not in families

    src.title.write_text("LỖI cố ý", encoding="utf-8")
    deadline = time.monotonic() + 10
    while (body := client.get("/healthz").json())["status"] != "degraded":
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    assert body["ready"] and body["warnings"] == ["feeds_rebuild"]
    assert value(parse(client.get("/metrics").text), "notifier_feeds_rebuild_error") == 1
    live = client.get("/healthz?live")
    assert live.status_code == 200 and live.json() == {"status": "ok", "live": True,
                                                        "message": "tiến trình đang chạy"}  # fmt: skip


# --- a real daemon ------------------------------------------------------------------------------


def json_lines(daemon: Daemon) -> list[dict[str, Any]]:
    """Every line the daemon wrote, each of which must be one JSON object."""
    records = []
    for line in list(daemon.lines):
        record = json.loads(line)  # fails the test on any line that is not JSON
        assert isinstance(record, dict), line
        records.append(record)
    return records


def json_port(daemon: Daemon) -> int:
    return int(json.loads(daemon.wait_for(r'"message": "notifier đang chạy').string)["port"])


def get(port: int, path: str, timeout: float = 15) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_health(port: int, predicate: Callable[[int, dict[str, Any]], bool], daemon: Daemon,
                timeout: float = 30) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        code, text = get(port, "/healthz")
        body = json.loads(text)
        if predicate(code, body):
            return body
        assert time.monotonic() < deadline, (code, body, daemon.log_tail())
        time.sleep(0.1)


@pytest.mark.slow
def test_a_real_daemon_reports_health_metrics_and_logs_json_only(
    tmp_path: Path, server: Any, start: Callable[..., Daemon]  # noqa: F811 - fixtures
) -> None:
    due = units(5)
    config = write_project(tmp_path, server.port, [(u, OPENS) for u in due])
    daemon = start(args=("--log-json",))
    port = json_port(daemon)
    daemon.ready()
    wait_received(server, len(due), daemon)

    body = wait_health(port, lambda code, b: code == 200 and b["status"] == "ok", daemon)
    assert set(body["checks"]) == {"process", "database", "sweep", "feeds", "reload", "mail"}
    assert body["checks"]["sweep"]["limit_seconds"] == sweep_limit(1.0)
    assert body["checks"]["database"]["revision"] == SCHEMA_REVISION
    families = parse(get(port, "/metrics")[1])
    assert value(families, "notifier_reminders", status="sent") == len(server.received) == len(due)
    assert value(families, "notifier_reminders", status="pending") == 0
    assert value(families, "notifier_ready") == 1 and value(families, "notifier_reload_success") == 1
    assert value(families, "notifier_sweep_interval_seconds") == 1.0

    # The SQLite store backed up while the daemon runs (docs/operations.md), then read back.
    backup = tmp_path / "backup.sqlite3"
    live_db = sqlite_url(tmp_path).removeprefix("sqlite:///")
    if shutil.which("sqlite3"):
        subprocess.run(["sqlite3", live_db, f".backup '{backup}'"], check=True, timeout=30)
    else:  # the same online-backup API the sqlite3 shell uses
        with sqlite3.connect(live_db) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)
    copy = open_store(f"sqlite:///{backup}")
    try:
        copy.check_migrated()
        assert copy.counts(now=datetime.fromisoformat(NOW)).sent == len(due)
    finally:
        copy.close()

    # A broken edit: still ready (the last good version serves), reload named as a warning.
    good = config.read_text(encoding="utf-8")
    config.write_text(good.replace("grace_hours = 24", 'grace_hours = "nhiều"'), encoding="utf-8")
    daemon.proc.send_signal(signal.SIGHUP)
    body = wait_health(port, lambda code, b: b["status"] == "degraded", daemon)
    assert body["ready"] and body["warnings"] == ["reload"]
    assert "grace_hours" in body["checks"]["reload"]["message"]
    assert value(parse(get(port, "/metrics")[1]), "notifier_reload_success") == 0
    config.write_text(good, encoding="utf-8")
    wait_health(port, lambda code, b: b["status"] == "ok", daemon)

    code, _ = daemon.stop()
    assert code == 0
    records = json_lines(daemon)
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+07:00$")
    for record in records:
        assert stamp.match(record["ts"]), record
        assert record["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        assert record["logger"] and record["message"]
        assert unicodedata.is_normalized("NFC", record["message"])
    messages = [r["message"] for r in records]
    assert "quét lần đầu xong" in messages and "đã dừng" in messages
    sweep = next(r for r in records if r["message"] == "quét lần đầu xong")
    assert sweep["sent"] == len(due) and isinstance(sweep["seconds"], float)
    problem = next(r for r in records if r["level"] == "ERROR" and "grace_hours" in r["message"])
    assert problem["logger"] == "notifier.daemon"


# --- PostgreSQL that stops answering ------------------------------------------------------------


class Relay:
    """A TCP relay to PostgreSQL that can stall: while stalled it forwards nothing either way
    (a database host that stopped answering, connections left open)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                self.flowing.wait()
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        self.flowing.set()
        self.listener.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_stalled_postgresql_makes_healthz_503_in_time_and_never_hangs_scrapes(
    tmp_path: Path, server: Any, start: Callable[..., Daemon]  # noqa: F811 - fixtures
) -> None:
    import sqlalchemy as sa

    with fresh_database("postgresql", tmp_path) as url:
        store = open_store(url)
        store.upgrade()
        store.close()
        parsed = sa.make_url(url)
        relay = Relay(parsed.host or "127.0.0.1", parsed.port or 5432)
        via_relay = parsed.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
        try:
            due = units(3)
            write_project(tmp_path, server.port, [(u, OPENS) for u in due])
            daemon = start(args=("--log-json",), env=clean_env(NOTIFIER_DATABASE=via_relay))
            port = json_port(daemon)
            daemon.ready()
            wait_received(server, len(due), daemon)
            wait_health(port, lambda code, b: code == 200, daemon)

            relay.flowing.clear()
            time.sleep(1.5)  # a sweep or two start and hang on the database
            began = time.monotonic()
            with ThreadPoolExecutor(12) as pool:
                scrapes = list(pool.map(lambda _: get(port, "/metrics"), range(10)))
                health = pool.submit(get, port, "/healthz").result()
            took = time.monotonic() - began
            assert took < SCRAPE_TIMEOUT + DB_TIMEOUT + 3, took
            code, text = health
            body = json.loads(text)
            assert code == 503 and body["failing"][0] == "database", body
            assert "không trả lời" in body["checks"]["database"]["message"]
            for status, text in scrapes:
                assert status == 200
                assert value(parse(text), "notifier_database_up") == 0
            assert get(port, "/healthz?live")[0] == 200  # alive, only not ready

            relay.flowing.set()
            wait_health(port, lambda code, b: code == 200 and b["status"] == "ok", daemon)
            families = parse(get(port, "/metrics")[1])
            assert value(families, "notifier_database_up") == 1
            assert value(families, "notifier_reminders", status="sent") == len(due)
            assert daemon.stop()[0] == 0
            json_lines(daemon)  # every line JSON, the database errors included
        finally:
            relay.close()


@pytest.mark.slow
def test_under_log_json_even_a_refusal_to_start_is_json(tmp_path: Path) -> None:
    write_project(tmp_path, 9, [(u, OPENS) for u in units(1)])
    shared = f"sqlite:///{tmp_path / 'shared.sqlite3'}"  # named, so never upgraded silently
    daemon = Daemon(tmp_path, env=clean_env(NOTIFIER_DATABASE=shared), args=("--log-json",))
    assert daemon.proc.wait(30) == 1
    daemon._reader.join(5)
    records = json_lines(daemon)
    assert records[-1]["level"] == "CRITICAL"
    assert "notifier db upgrade" in records[-1]["message"]


# --- the JSON log formatter, in-process -----------------------------------------------------------


field_names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=12)
field_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.lists(st.text(max_size=10), max_size=3),
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(message=st.text(max_size=80), fields=st.dictionaries(field_names, field_values, max_size=6),
       level=st.sampled_from([logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]))  # fmt: skip
def test_every_record_is_one_json_line_with_ts_level_logger_and_nfc_text(
    message: str, fields: dict[str, Any], level: int
) -> None:
    from notifier.daemon import _Formatter

    decomposed = unicodedata.normalize("NFD", message)
    record = logging.LogRecord("notifier.daemon", level, __file__, 1, decomposed, None, None)
    record.fields = fields  # what daemon._log attaches
    line = _Formatter(json_lines=True).format(record)
    assert "\n" not in line and "\r" not in line.replace("\\r", "")
    data = json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+07:00", data["ts"])
    assert data["level"] == logging.getLevelName(level) and data["logger"] == "notifier.daemon"
    assert data["message"] == unicodedata.normalize("NFC", message).rstrip("\n")
    for key, val in fields.items():
        shown = data[f"field_{key}" if key in ("ts", "level", "logger", "message") else key]
        if isinstance(val, str):
            assert shown == unicodedata.normalize("NFC", val)
        elif isinstance(val, float) and not math.isfinite(val):
            assert shown == str(val)  # JSON has no NaN or Infinity
        elif isinstance(val, list):
            assert shown == [unicodedata.normalize("NFC", v) for v in val]
        else:
            assert shown == val
