"""notifier.delivery: outbox → real aiosmtpd server, counted at the server.

Every test runs on SQLite and (with NOTIFIER_TEST_PG_URL) PostgreSQL.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from _smtp import SmtpServer
from _stores import Rem, at, db_url_fixture, rems, store_fixture  # noqa: F401 - fixtures
from hypothesis import given
from hypothesis import strategies as st

from notifier.delivery import RetryPolicy, drain, send_batch, send_next
from notifier.emails import Rendered
from notifier.mailer import Address, Mailer, SmtpSettings, SmtpTransport
from notifier.store import Store, open_store

SENDER = Address("Hệ thống nhắc việc", "nhacviec@mail.example.org")
LEASE = timedelta(minutes=10)


def sample(template: str, context: Mapping[str, Any]) -> Rendered:
    """A render stand-in that is fast and shows which row it rendered."""
    return Rendered(f"Nhắc việc {context.get('n', '')}", "Quý II/2024", "<p>Quý II/2024</p>")


def template_rems(n: int) -> list[Rem]:
    """n reminders for the real "test" template, due one minute apart from 08:00."""
    return [
        Rem(f"k/{i}", at(1, 8, i), template="test", context=template_context(f"k/{i}", i))
        for i in range(n)
    ]


def template_context(key: str, n: int) -> dict[str, Any]:
    """A context for the real "test" template (templates/email/test.*.j2)."""
    return {
        "n": n,
        "to": "Sở Văn hóa, Thể thao và Du lịch",
        "stamp": "2024-03-25T08:00:00+07:00",
        "public_url": "http://127.0.0.1:8080",
        "events": [
            {
                "uid": f"{key}@notifier",
                "summary": "Giao lưu văn hóa",
                "start": "2024-04-01",
                "end": "2024-06-30",
            }
        ],
    }


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    s = SmtpServer().start()
    yield s
    s.close()


def mailer_for(server: SmtpServer, pool: int = 4) -> Mailer:
    settings = SmtpSettings("127.0.0.1", server.port, security="none", pool_size=pool, timeout=5)
    return Mailer(SmtpTransport(settings), SENDER)


def run(coro_factory: Any, mailer: Mailer) -> Any:
    async def go() -> Any:
        try:
            return await coro_factory()
        finally:
            await mailer.close()

    return asyncio.run(go())


def message_ids(server: SmtpServer) -> list[str]:
    return [
        email.message_from_bytes(r.data, policy=email.policy.default)["Message-ID"]
        for r in server.received
    ]


def test_due_rows_are_rendered_sent_and_recorded_in_due_order(
    store: Store, server: SmtpServer
) -> None:
    batch = template_rems(6)
    store.enqueue(list(reversed(batch)), now=at(1, 0))
    mailer = mailer_for(server, pool=1)
    result = run(lambda: send_batch(store, mailer, now=at(1, 8, 3), owner="a"), mailer)
    assert (result.claimed, result.sent, result.failed) == (4, 4, 0)
    assert [r.rcpt_tos for r in server.received] == [["sovhttdl@example.org"]] * 4
    sent = [store.get(f"k/{i}") for i in range(4)]
    assert [s.message_id for s in sent] == message_ids(server)  # type: ignore[union-attr]
    assert all(s.status == "sent" and s.sent_at == at(1, 8, 3) for s in sent)  # type: ignore[union-attr]
    m = email.message_from_bytes(server.received[0].data, policy=email.policy.default)
    assert m["Subject"] == "Thư thử nghiệm từ hệ thống nhắc việc"
    assert [p.get_content_type() for p in m.iter_attachments()] == ["text/calendar"]
    assert store.get("k/5").status == "pending"  # type: ignore[union-attr]  # not due yet


def test_send_next_is_one_step(store: Store, server: SmtpServer) -> None:
    store.enqueue(rems(2), now=at(1, 0))
    mailer = mailer_for(server)

    async def steps() -> list[bool]:
        return [
            await send_next(store, mailer, now=at(2), owner="a", render=sample) for _ in range(3)
        ]

    assert run(steps, mailer) == [True, True, False]
    assert len(server.received) == 2


def test_temporary_failure_is_retried_with_backoff_then_delivered_once(
    store: Store, server: SmtpServer
) -> None:
    store.enqueue(rems(1, start=at(2)), now=at(1, 0))
    server.handler.data_replies += ["451 4.3.0 try later", "421 4.7.0 busy"]
    mailer = mailer_for(server)

    async def go() -> list[int]:
        sent = []
        for now in (at(2), at(2) + timedelta(seconds=30), at(2, 8, 1), at(2, 8, 2), at(2, 8, 3)):
            sent.append((await send_batch(store, mailer, now=now, owner="a", render=sample)).sent)
        return sent

    # 08:00 fails (retry 08:01), 08:00:30 nothing due, 08:01 fails (retry 08:03), 08:03 sent.
    sent = run(go, mailer)
    assert sent == [0, 0, 0, 0, 1], store.log("k/00000")
    row = store.get("k/00000")
    assert row is not None and (row.status, row.attempts) == ("sent", 3)
    assert [e["outcome"] for e in store.log("k/00000")] == ["retry", "retry", "sent"]
    assert [e["smtp_code"] for e in store.log("k/00000")][:2] == [451, 421]
    assert len(server.received) == 1


def test_permanent_failure_is_recorded_for_the_digest_and_never_retried(
    store: Store, server: SmtpServer
) -> None:
    store.enqueue(rems(2), now=at(1, 0))
    server.handler.data_replies.append("550 5.1.1 mailbox unavailable")
    mailer = mailer_for(server, pool=1)
    result = run(lambda: drain(store, mailer, now=at(2), owner="a", render=sample), mailer)
    assert (result.sent, result.failed, result.retried) == (1, 1, 0)
    (problem,) = store.problems_since(at(2))
    assert problem.status == "failed" and "550" in (problem.last_error or "")
    run(
        lambda: drain(store, mailer_for(server), now=at(20), owner="a", render=sample),
        mailer_for(server),
    )
    assert len(server.received) == 1


def test_retries_stop_at_the_horizon(store: Store) -> None:
    store.enqueue(rems(1), now=at(1, 0))
    down = SmtpServer().start()
    down.stop()
    policy = RetryPolicy(
        first=timedelta(hours=1), longest=timedelta(hours=3), horizon=timedelta(hours=2)
    )
    try:
        mailer = mailer_for(down)

        async def go() -> None:
            for now in (at(1, 8), at(1, 9), at(1, 11)):
                await send_batch(store, mailer, now=now, owner="a", render=sample, policy=policy)

        run(go, mailer)
    finally:
        down.close()
    row = store.get("k/00000")
    assert row is not None and row.status == "failed" and row.attempts == 2
    assert "hết thời hạn thử lại" in (row.last_error or "")


def test_broken_template_fails_that_row_only(store: Store, server: SmtpServer) -> None:
    store.enqueue([Rem("bad", at(1), template="test", context={})] + rems(2), now=at(1, 0))
    mailer = mailer_for(server)

    def render(template: str, context: Mapping[str, Any]) -> Rendered:
        if not context:
            from notifier.emails import render as real

            return real(template, context)  # StrictUndefined: raises
        return sample(template, context)

    store.enqueue([Rem("ok", at(1), template="test", context=template_context("ok", 1))], now=at(1))
    result = run(lambda: drain(store, mailer, now=at(2), owner="a", render=render), mailer)
    assert (result.sent, result.failed) == (3, 1)
    bad = store.get("bad")
    assert bad is not None and bad.status == "failed" and "mẫu" in (bad.last_error or "")


def test_rendering_in_a_worker_process(store: Store, server: SmtpServer) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    good = template_rems(5)
    store.enqueue(good + [Rem("bad", at(1, 8, 9), template="test", context={})], now=at(1, 0))
    mailer = mailer_for(server, pool=2)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = run(lambda: drain(store, mailer, now=at(2), owner="a", executor=pool), mailer)
    assert (result.sent, result.failed) == (5, 1)
    assert sorted(message_ids(server)) == sorted(
        store.get(r.key).message_id
        for r in good  # type: ignore[union-attr]
    )
    bad = store.get("bad")
    assert bad is not None and bad.status == "failed" and "UndefinedError" in (bad.last_error or "")


def test_server_down_for_a_while_then_every_reminder_once_in_due_order(store: Store) -> None:
    server = SmtpServer().start()
    server.stop()
    store.enqueue(rems(40), now=at(1, 0))  # due 08:00 … 08:39
    mailer = mailer_for(server, pool=1)

    async def go() -> None:
        for minute in range(0, 40, 5):  # down: every attempt fails, rows wait
            await drain(store, mailer, now=at(1, 8, minute), owner="a", render=sample)
        server.start()
        await drain(store, mailer, now=at(1, 12), owner="a", render=sample)

    try:
        run(go, mailer)
        ids = message_ids(server)
        assert len(ids) == len(set(ids)) == 40
        expected = [store.get(f"k/{i:05d}").message_id for i in range(40)]  # type: ignore[union-attr]
        assert ids == expected  # one connection: the order of due time
    finally:
        server.close()


def test_two_concurrent_senders_never_send_a_key_twice(db_url: str, server: SmtpServer) -> None:
    setup = open_store(db_url)
    setup.upgrade()
    setup.enqueue(rems(400), now=at(1, 0))
    setup.close()
    server.handler.on_data = lambda _r: time.sleep(0.001)  # let the senders overlap
    counts: dict[str, int] = {}

    def sender(owner: str) -> None:
        own = open_store(db_url)  # each daemon its own engine and connections
        mailer = mailer_for(server, pool=4)
        try:
            result = run(
                lambda: drain(
                    store=own, mailer=mailer, now=at(2), owner=owner, limit=10, render=sample
                ),
                mailer,
            )
            counts[owner] = result.sent
        finally:
            own.close()

    threads = [threading.Thread(target=sender, args=(f"daemon-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = message_ids(server)
    duplicates = [k for k, n in Counter(ids).items() if n > 1]
    assert duplicates == [] and len(ids) == 400
    assert sum(counts.values()) == 400 and min(counts.values()) > 0
    check = open_store(db_url)
    assert check.counts(now=at(2)).sent == 400
    check.close()


def test_dead_senders_rows_are_taken_over_after_the_lease(store: Store, server: SmtpServer) -> None:
    store.enqueue(rems(5), now=at(1, 0))
    dead = store.claim_due("dead", now=at(2), limit=3, lease=LEASE)  # then it is killed
    assert len(dead) == 3
    mailer = mailer_for(server)
    early = run(lambda: drain(store, mailer, now=at(2, 8, 5), owner="b", render=sample), mailer)
    assert early.sent == 2  # the dead sender's three are still leased
    mailer = mailer_for(server)
    late = run(lambda: drain(store, mailer, now=at(2) + LEASE, owner="b", render=sample), mailer)
    assert late.sent == 3
    ids = message_ids(server)
    assert len(ids) == len(set(ids)) == 5
    assert [e["outcome"] for e in store.log(dead[0].key)] == ["expired", "sent"]


def test_a_batch_gives_back_what_it_cannot_start_within_its_lease(
    store: Store, server: SmtpServer
) -> None:
    store.enqueue(rems(10), now=at(1, 0))
    server.handler.on_data = lambda _r: time.sleep(0.15)  # a slow server
    mailer = mailer_for(server, pool=1)
    result = run(
        lambda: send_batch(
            store,
            mailer,
            now=at(2),
            owner="a",
            limit=10,
            lease=timedelta(seconds=0.5),
            render=sample,
        ),
        mailer,
    )
    assert result.sent + result.released == 10 and result.released > 0
    counts = store.counts(now=at(2))
    assert (counts.sent, counts.pending, counts.claimed) == (result.sent, result.released, 0)
    server.handler.on_data = None
    mailer = mailer_for(server)
    run(lambda: drain(store, mailer, now=at(2), owner="b", render=sample), mailer)
    ids = message_ids(server)
    assert len(ids) == len(set(ids)) == 10


@given(
    attempts=st.integers(1, 40),
    minutes=st.integers(0, 10_000),
    first=st.integers(1, 120),
    horizon=st.integers(1, 72),
)
def test_backoff_grows_is_capped_and_stops_at_the_horizon(
    attempts: int, minutes: int, first: int, horizon: int
) -> None:
    policy = RetryPolicy(first=timedelta(seconds=first), horizon=timedelta(hours=horizon))
    due = datetime(2024, 3, 1, 8, 0).astimezone()
    now = due + timedelta(minutes=minutes)
    this = policy.retry_at(attempts=attempts, due_at=due, now=now)
    following = policy.retry_at(attempts=attempts + 1, due_at=due, now=now)
    if this is None:
        assert following is None  # a longer wait cannot come back inside the horizon
        return
    assert now < this <= due + policy.horizon
    assert this - now <= max(policy.longest, policy.first)
    if following is not None:
        assert following >= this


# --- the commands: notifier db upgrade, status, send-test ---


def test_commands_upgrade_show_status_and_send_a_test(
    tmp_path: Any, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from notifier.cli import app

    url = f"sqlite:///{tmp_path / 'n.sqlite3'}"
    monkeypatch.setenv("NOTIFIER_DATABASE", url)
    monkeypatch.setenv("NOTIFIER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFIER_SMTP_PORT", str(server.port))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("[smtp]\nstarttls = false\n", encoding="utf-8")
    runner = CliRunner()

    refused = runner.invoke(app, ["status"])
    assert refused.exit_code == 1
    assert "Cơ sở dữ liệu chưa được nâng cấp; chạy: notifier db upgrade" in refused.output

    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    s = open_store(url)
    s.enqueue(rems(3), now=at(1, 0))
    s.close()
    shown = runner.invoke(app, ["status", "--json", "--now", "2024-03-01T08:01:30+07:00"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert (data["due"], data["pending"], data["sent"]) == (2, 3, 0)
    assert data["transport"].startswith(f"smtp://127.0.0.1:{server.port}")

    sent = runner.invoke(app, ["send-test", "songoaivu@example.org", "--name", "Sở Ngoại vụ"])
    assert sent.exit_code == 0, sent.output
    (got,) = server.received
    m = email.message_from_bytes(got.data, policy=email.policy.default)
    assert got.rcpt_tos == ["songoaivu@example.org"]
    assert m["Subject"] == "Thư thử nghiệm từ hệ thống nhắc việc"
    assert m["Message-ID"] in sent.output
    assert [p.get_filename() for p in m.iter_attachments()] == ["thu-thu-nghiem.ics"]

    bad = runner.invoke(app, ["send-test", "a@example.org\r\nBcc: evil@example.net"])
    assert bad.exit_code == 1 and "Địa chỉ thư không hợp lệ" in bad.output
    assert len(server.received) == 1


def test_unwritable_maildir_marks_nothing_sent(store: Store, tmp_path: Any) -> None:
    from notifier.mailer import MaildirTransport

    (tmp_path / "maildir").write_text("a file where the maildir should be")
    store.enqueue(rems(3), now=at(1, 0))
    mailer = Mailer(MaildirTransport(tmp_path / "maildir"), SENDER)
    result = run(lambda: drain(store, mailer, now=at(1, 9), owner="a", render=sample), mailer)
    assert (result.sent, result.retried) == (0, 3)
    counts = store.counts(now=at(1, 9))
    assert (counts.sent, counts.retrying) == (0, 3)
    assert all("Không ghi được thư" in (store.get(r.key).last_error or "") for r in rems(3))  # type: ignore[union-attr]
    (tmp_path / "maildir").unlink()  # the disk is fixed
    mailer = Mailer(MaildirTransport(tmp_path / "maildir"), SENDER)
    run(lambda: drain(store, mailer, now=at(1, 10), owner="a", render=sample), mailer)
    assert store.counts(now=at(1, 10)).sent == 3
    assert len(list((tmp_path / "maildir" / "new").iterdir())) == 3


def test_a_busy_render_pool_gives_its_last_chunks_back_to_the_sending_loop(
    store: Store, server: SmtpServer
) -> None:
    """The pool's only worker is stuck on the first chunk: the loop renders the chunks it
    has not started itself, each row once, and every message goes out once."""
    from concurrent.futures import ThreadPoolExecutor

    n = 150  # chunks of 4, 8, 16, 32, 64, 26 rows
    store.enqueue([Rem(r.key, r.due_at, context={"n": i}) for i, r in enumerate(rems(n))],
                  now=at(1, 0))
    where: Counter[str] = Counter()
    rendered: Counter[str] = Counter()
    released = threading.Event()
    lock = threading.Lock()

    def render(template: str, context: Mapping[str, Any]) -> Rendered:
        in_pool = threading.current_thread() is not threading.main_thread()
        if in_pool and not where["pool"]:
            released.wait(10)  # its first row: until the loop has rendered what it took back
        with lock:
            where["pool" if in_pool else "loop"] += 1
            rendered[str(context.get("n"))] += 1
            if where["loop"] >= 64:
                released.set()
        return sample(template, context)

    mailer = mailer_for(server, pool=2)
    with ThreadPoolExecutor(1) as pool:
        result = run(
            lambda: drain(store, mailer, now=at(2), owner="a", render=render, executor=pool,
                          limit=n),
            mailer,
        )
    assert result.sent == n and len(set(message_ids(server))) == n
    assert where["loop"] >= 64 and where["pool"] >= 4  # both rendered, the loop the tail
    assert sum(rendered.values()) == n and set(rendered.values()) == {1}  # each row once


def test_a_render_process_that_dies_leaves_its_rows_to_the_sending_loop(
    store: Store, server: SmtpServer
) -> None:
    import multiprocessing
    import os
    import signal
    from concurrent.futures import ProcessPoolExecutor

    good = template_rems(30)
    store.enqueue(good, now=at(1, 0))
    mailer = mailer_for(server, pool=2)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(time.sleep, 0).result()  # started
        for pid in list(pool._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        result = run(
            lambda: drain(store, mailer, now=at(2), owner="a", executor=pool, limit=10), mailer
        )
    assert (result.sent, result.failed) == (30, 0)
    assert Counter(message_ids(server)) == Counter(store.get(r.key).message_id for r in good)  # type: ignore[union-attr]
