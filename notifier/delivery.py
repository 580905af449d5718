"""Sending the outbox: claim due rows, render, send, record; one claimable step at a time.

Owns the delivery steps the daemon and the CLI drive (healthchecks' sendalerts shape):

    await send_next(store, mailer, *, now, owner) -> bool      one row; False when idle
    await send_batch(store, mailer, *, now, owner, limit) -> BatchResult
    await drain(store, mailer, *, now, owner) -> BatchResult   batches until nothing is due
    await send_test(mailer, address, *, now, public_url) -> (Envelope, reply)   `notifier send-test`
    warm_up()   a render process pool's initializer (notifier.envelopes: what a render process runs)
    RetryPolicy: when a temporary failure is tried again, and when it stops being tried.

Each claimed row is rendered (notifier.emails.render, or an injected `render`), composed
once into bytes by the mailer, sent, and its outcome recorded: "sent"; a temporary failure
comes back after an exponential backoff (1, 2, 4 … minutes, at most an hour apart) until
`horizon` after its due time, then it is "failed"; a permanent failure (5xx, a bad
address, a template that cannot render) is "failed" at once and shows in the next digest.
Rows go out in order of due time. `drain` claims the next batch (and starts rendering
it) while the one before is being sent. Outcomes are written by a group-committing recorder
while later messages are in flight, so the gap between the server's "250" and the
database saying "sent" stays short (`record_window`, 10 ms, plus one commit).

Facts relied on: the store's claim is a lease (a dead sender's rows return when it runs
out), so a batch gives back what it has not started once most of its lease is used, rather
than racing a daemon that took the rows over. Exactly once holds between senders; a crash
in the gap above can repeat one message, which then carries the same Message-ID.
Not here: the schedule of sweeps and catch-up (daemon.py), what is due (reminders.py),
MIME and SMTP (mailer.py), SQL (store.py), turning a row into bytes (envelopes.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notifier.envelopes import Built, RenderFn, build_envelope, build_jobs, job, warm_up
from notifier.errors import DeliveryError
from notifier.mailer import Address, Envelope, Mailer, SmtpError
from notifier.store import OutboxRow, Outcome, Store

__all__ = [
    "BatchResult",
    "RenderFn",
    "RetryPolicy",
    "build_envelope",
    "drain",
    "prepare",
    "send_batch",
    "send_next",
    "send_test",
    "warm_up",
]

log = logging.getLogger("notifier.delivery")



@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for temporary failures: first, first·factor, … capped at `longest`;
    no attempt later than `horizon` after the reminder's due time."""

    first: timedelta = timedelta(minutes=1)
    factor: float = 2.0
    longest: timedelta = timedelta(hours=1)
    horizon: timedelta = timedelta(hours=24)

    def retry_at(self, *, attempts: int, due_at: datetime, now: datetime) -> datetime | None:
        """When to try again after `attempts` failed attempts, or None to give up."""
        exponent = min(max(attempts - 1, 0), 64)  # past 2**64 the cap has long applied
        seconds = self.first.total_seconds() * self.factor**exponent
        when = now + timedelta(seconds=min(seconds, self.longest.total_seconds()))
        return when if when <= due_at + self.horizon else None


@dataclass(slots=True)
class BatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0

    def add(self, other: BatchResult) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.released += other.released


# Rows per worker task: a few at first so sending starts at once, then more, because a
# process pool's cost per task (pickling, queues, a wake-up of this loop) is near a render's.
RENDER_CHUNKS = (4, 8, 16, 32, 64)


def prepare(row: OutboxRow, mailer: Mailer, render: RenderFn | None, *, now: datetime) -> Envelope:
    """Render and compose one row here. Raises DeliveryError when it cannot be built."""
    return _envelope(build_envelope(row, mailer.sender, now, render))


def _envelope(built: Built) -> Envelope:
    """The envelope; a row that could not be built raises its DeliveryError."""
    if isinstance(built, tuple):
        raise DeliveryError(built[0], permanent=built[1])
    return built


class _Recorder:
    """Writes outcomes in a worker thread, committing what queued up in `window` seconds
    at once: one commit per outcome cost 3× the CPU of the SMTP send it records."""

    def __init__(self, store: Store, owner: str, window: float) -> None:
        self.store = store
        self.owner = owner
        self.window = window
        self.queue: list[Outcome] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, outcome: Outcome) -> None:
        self.queue.append(outcome)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self.queue:
            if self.window > 0:
                await asyncio.sleep(self.window)
            batch, self.queue = self.queue, []
            for attempt in range(6):
                try:
                    await asyncio.to_thread(self.store.record, batch, owner=self.owner)
                    break
                except Exception:  # database briefly away: keep the outcome, try again
                    if attempt == 5:
                        raise
                    log.warning("ghi kết quả gửi thư thất bại; thử lại", exc_info=True)
                    await asyncio.sleep(0.5 * 2**attempt)

    async def drain(self) -> None:
        while self.task is not None and not self.task.done():
            await self.task
        if self.task is not None:
            self.task.result()  # surface a recording failure
        if self.queue:
            self.task = asyncio.create_task(self._flush())
            await self.task


def _failure(row: OutboxRow, exc: DeliveryError, *, now: datetime, policy: RetryPolicy) -> Outcome:
    code = exc.code if isinstance(exc, SmtpError) else None
    message = str(exc)
    if not exc.permanent:
        when = policy.retry_at(attempts=row.attempts + 1, due_at=row.due_at, now=now)
        if when is not None:
            return Outcome(
                row.id, row.key, "retry", now, smtp_code=code, message=message, retry_at=when
            )
        message = f"{message} (hết thời hạn thử lại sau {row.attempts + 1} lần)"
    return Outcome(row.id, row.key, "failed", now, smtp_code=code, message=message)


class _Batch:
    """Claimed rows, rendering in the executor (if any) from the moment they are claimed.

    When a message's rendering is not ready, this loop does not just wait: it takes back the
    last chunk the pool has not started and renders those rows itself, one between two
    turns of the loop. On two cores the render process was the bottleneck while this one
    sat idle for almost half of the time (benchmarks/delivery.py)."""

    def __init__(
        self,
        rows: list[OutboxRow],
        mailer: Mailer,
        *,
        render: RenderFn | None,
        executor: Executor | None,
        when: datetime,
        deadline: float,
    ) -> None:
        self.rows = rows
        self.mailer = mailer
        self.render = render
        self.when = when
        self.deadline = deadline  # monotonic: start nothing after it (the lease runs out)
        # Row id → (the chunk's future, its index), or None once taken back from the pool.
        self.built: dict[int, tuple[asyncio.Future[list[Built]], int] | None] = {}
        self._chunks: list[tuple[Future[list[Built]], list[OutboxRow]]] = []  # submit order
        self._taken: deque[OutboxRow] = deque()  # taken back, not rendered yet
        self._ready: dict[int, Built] = {}  # rendered here
        if executor is None:
            return
        start, sizes = 0, iter(RENDER_CHUNKS)
        while start < len(rows):
            size = next(sizes, RENDER_CHUNKS[-1])
            chunk = rows[start : start + size]
            jobs = [job(r) for r in chunk]
            try:
                submitted = executor.submit(build_jobs, jobs, mailer.sender, when, render)
            except BrokenExecutor:  # the rest are rendered here (the daemon starts a new pool)
                log.warning("tiến trình dựng thư dừng bất thường; dựng thư tại chỗ")
                break
            future = asyncio.wrap_future(submitted)
            self._chunks.append((submitted, chunk))
            self.built.update({r.id: (future, i) for i, r in enumerate(chunk)})
            start += size

    async def envelope(self, row: OutboxRow, now: datetime) -> Envelope:
        built = self._ready.pop(row.id, None)
        pending = self.built.pop(row.id, None)
        if built is None:
            if pending is None:  # no pool, or taken back and not rendered yet
                return prepare(row, self.mailer, self.render, now=now)
            future, index = pending
            while not future.done() and self._render_one():
                await asyncio.sleep(0)  # let replies and finished renders in between
            try:
                built = (await future)[index]
            except BrokenExecutor:  # a render process died (killed, out of memory): here, then
                log.warning("tiến trình dựng thư dừng bất thường; dựng thư tại chỗ")
                return prepare(row, self.mailer, self.render, now=now)
        return _envelope(built)

    def _render_one(self) -> bool:
        """Render one row taken back from the pool here; False when there is none to take."""
        while self._taken or self._take_back():
            row = self._taken.popleft()
            if row.id in self.built:  # else its turn came first and it was rendered then
                self._ready[row.id] = build_envelope(row, self.mailer.sender, self.when,
                                                     self.render)
                return True
        return False

    def _take_back(self) -> bool:
        """Cancel the last chunk the pool has not started; its rows are rendered here."""
        if not self._chunks:
            return False
        submitted, chunk = self._chunks[-1]
        # Not a chunk whose rows are already awaited (their senders hold its future), nor
        # one the pool has started (then so has it every chunk before: it takes them in order).
        if any(self.built.get(r.id) is None for r in chunk) or not submitted.cancel():
            self._chunks.clear()
            return False
        self._chunks.pop()
        for r in chunk:
            self.built[r.id] = None
        self._taken.extend(chunk)
        return True

    def cancel(self) -> None:
        """Rows that were never started: their rendering is not needed."""
        for submitted, _ in self._chunks:
            submitted.cancel()
        self._chunks.clear()
        self._taken.clear()
        self.built.clear()


async def _claim(
    store: Store, owner: str, *, now: datetime, limit: int, lease: timedelta
) -> tuple[list[OutboxRow], float]:
    """Claimed rows and the monotonic time by which to have started them (80% of the
    lease, counted from before the claim)."""
    started = time.monotonic()
    rows = await asyncio.to_thread(store.claim_due, owner, now=now, limit=limit, lease=lease)
    return rows, started + lease.total_seconds() * 0.8


async def _deliver(
    batch: _Batch,
    mailer: Mailer,
    recorder: _Recorder,
    *,
    policy: RetryPolicy,
    stamp: Callable[[], datetime],
    stop: Callable[[], bool] | None,
) -> BatchResult:
    """Send a batch's rows over the mailer's pool, earliest due first; record each outcome."""
    rows = batch.rows
    result = BatchResult(claimed=len(rows))
    queue = list(reversed(rows))  # pop() takes the earliest due first

    async def deliver(row: OutboxRow) -> None:
        try:
            envelope = await batch.envelope(row, stamp())
            reply = await mailer.send(envelope)
        except DeliveryError as exc:
            outcome = _failure(row, exc, now=stamp(), policy=policy)
            if outcome.status == "retry":
                result.retried += 1
            else:
                result.failed += 1
            recorder.add(outcome)
            return
        result.sent += 1
        recorder.add(
            Outcome(
                row.id,
                row.key,
                "sent",
                stamp(),
                message_id=envelope.message_id,
                message=reply[:500],
            )
        )

    async def worker() -> None:
        while queue:
            row = queue.pop()
            stopping = stop is not None and stop()
            if stopping or time.monotonic() > batch.deadline:
                # Leave it to whoever takes it over rather than send after the lease ends.
                result.released += 1
                why = "dừng chương trình" if stopping else "hết thời gian giữ chỗ"
                recorder.add(Outcome(row.id, row.key, "released", stamp(), message=why))
                continue
            await deliver(row)

    try:
        await asyncio.gather(*(worker() for _ in range(min(mailer.concurrency, len(rows)))))
    finally:
        batch.cancel()
    return result


async def send_batch(
    store: Store,
    mailer: Mailer,
    *,
    now: datetime,
    owner: str,
    limit: int = 50,
    lease: timedelta = timedelta(minutes=10),
    policy: RetryPolicy = RetryPolicy(),
    render: RenderFn | None = None,
    clock: Callable[[], datetime] | None = None,
    executor: Executor | None = None,
    record_window: float = 0.01,
    stop: Callable[[], bool] | None = None,
) -> BatchResult:
    """Claim up to `limit` due rows and deliver them concurrently over the mailer's pool.

    `now` is the claim time; `clock` (default: `now` itself) stamps each outcome.
    `executor` (e.g. a ProcessPoolExecutor, `initializer=warm_up`) renders and composes on
    other cores while this loop sends; `render` must then be picklable (a module-level
    function). `record_window`: outcomes are committed together at most this many seconds
    after the first of them; it bounds what a crash (kill -9) can make us send twice.
    `stop`: once it returns True (the daemon is shutting down), messages in flight finish
    and the rows not yet started are released.
    """
    rows, deadline = await _claim(store, owner, now=now, limit=limit, lease=lease)
    if not rows:
        return BatchResult()
    stamp = clock or (lambda: now)
    batch = _Batch(
        rows, mailer, render=render, executor=executor, when=stamp(), deadline=deadline
    )
    recorder = _Recorder(store, owner, record_window)
    try:
        return await _deliver(batch, mailer, recorder, policy=policy, stamp=stamp, stop=stop)
    finally:
        await recorder.drain()


async def send_next(
    store: Store,
    mailer: Mailer,
    *,
    now: datetime,
    owner: str,
    **options: Any,
) -> bool:
    """Claim the most overdue row, send it, record the outcome; False if nothing is due."""
    result = await send_batch(store, mailer, now=now, owner=owner, limit=1, **options)
    return result.claimed > 0


async def drain(
    store: Store,
    mailer: Mailer,
    *,
    now: datetime | Callable[[], datetime],
    owner: str,
    limit: int = 200,
    max_batches: int | None = None,
    lease: timedelta = timedelta(minutes=10),
    policy: RetryPolicy = RetryPolicy(),
    render: RenderFn | None = None,
    executor: Executor | Callable[[], Executor | None] | None = None,
    record_window: float = 0.01,
    stop: Callable[[], bool] | None = None,
) -> BatchResult:
    """Send batch after batch until nothing is due (or `max_batches`). `now` may be a clock,
    `executor` a function giving the executor for the next batch (None: render here), as
    envelopes.RenderPool.ready does while its processes start.

    Each next batch is claimed (and starts rendering in `executor`) while the one before
    is being sent, so neither the claim nor the first renders leave the connections idle;
    one recorder writes the outcomes of all of them. Options as `send_batch`.
    """
    clock = now if callable(now) else (lambda: now)
    recorder = _Recorder(store, owner, record_window)
    total = BatchResult()
    batches = 0

    async def claim() -> _Batch:
        rows, deadline = await _claim(store, owner, now=clock(), limit=limit, lease=lease)
        # Rendering starts now, queued behind the batch being sent, not after it.
        pool = executor() if callable(executor) else executor
        return _Batch(rows, mailer, render=render, executor=pool, when=clock(), deadline=deadline)

    upcoming: asyncio.Task[_Batch] | None = asyncio.create_task(claim())
    try:
        while upcoming is not None:
            batch = await upcoming
            upcoming = None
            batches += 1
            if not batch.rows:
                break
            if max_batches is None or batches < max_batches:
                upcoming = asyncio.create_task(claim())
            result = await _deliver(batch, mailer, recorder, policy=policy, stamp=clock, stop=stop)
            total.add(result)
            if result.claimed == result.released:  # stopping, or out of lease time
                break
    finally:
        if upcoming is not None:  # claimed ahead but not to be sent now: give them back
            await _give_back(upcoming, recorder, clock)
        await recorder.drain()
    return total


async def _give_back(
    upcoming: asyncio.Task[_Batch], recorder: _Recorder, clock: Callable[[], datetime]
) -> None:
    try:
        batch = await upcoming
    except Exception:  # the claim failed: nothing was taken
        log.warning("nhận trước lô thư kế tiếp thất bại", exc_info=True)
        return
    batch.cancel()
    for row in batch.rows:
        recorder.add(Outcome(row.id, row.key, "released", clock(), message="trả lại"))


async def send_test(
    mailer: Mailer,
    address: str,
    *,
    now: datetime,
    public_url: str,
    name: str = "",
    render: RenderFn | None = None,
) -> tuple[Envelope, str]:
    """Send the "test" template (with a one-event .ics) to `address`, outside the outbox."""
    from notifier.mailer import check_address

    check_address(address)
    day = now.date().isoformat()
    key = f"_/send-test/{address}/{now.isoformat()}"
    context = {
        "to": name or address,
        "stamp": now.isoformat(),
        "public_url": public_url,
        "ics_name": "thu-thu-nghiem",
        "events": [
            {
                "uid": f"send-test-{now:%Y%m%dT%H%M%S}@notifier",
                "summary": "Thư thử nghiệm",
                "start": day,
                "end": day,
                "url": public_url,
            }
        ],
    }
    if render is None:
        from notifier.emails import render as render_email

        render = render_email
    rendered = render("test", context)
    envelope = mailer.compose(rendered, [Address(name, address)], key=key, date=now)
    return envelope, await mailer.send(envelope)
