"""An outbox row → the bytes to send: render (notifier.emails) and compose (notifier.mailer).

Owns what a render process runs and all it imports (the database layer is not among them,
so a process of the daemon's render pool starts small and fast):

    build_envelope(row, sender, date, render=None) -> Envelope | (Vietnamese error, permanent)
    build_jobs(jobs, sender, date, render=None)     several rows: one task of a render process
    job(row) -> Job                                  what a render process needs of a row
    warm_up()                                        a render pool's initializer
    start_pool(size) -> ProcessPoolExecutor          render processes (spawned, warmed)
    RenderPool(size): .ready() -> executor | None    the daemon's: used once they are up

Exception-free: a row whose template or context is broken gives its error, permanent,
and the batch goes on. Not here: claiming, sending and recording (delivery.py).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from notifier.errors import DeliveryError
from notifier.mailer import Address, Envelope, compose, message_id
from notifier.payload import read_json

if TYPE_CHECKING:
    from notifier.store import OutboxRow

__all__ = [
    "Built",
    "Job",
    "RenderFn",
    "RenderPool",
    "build_envelope",
    "build_jobs",
    "job",
    "start_pool",
    "warm_up",
]

RenderFn = Callable[[str, Mapping[str, Any]], Any]  # (template, context) -> emails.Rendered
Built = Envelope | tuple[str, bool]  # the message, or (error, permanent)


def _default_render() -> RenderFn:
    from notifier.emails import render

    return render


def _headers(payload: Mapping[str, Any]) -> dict[str, str]:
    extra = payload.get("headers") or {}
    return {str(k): str(v) for k, v in extra.items()} if isinstance(extra, Mapping) else {}


def build_envelope(
    row: OutboxRow, sender: Address, date: datetime, render: RenderFn | None = None
) -> Built:
    """Render and compose one row: the Envelope, or (Vietnamese error, permanent).

    Module-level and exception-free so it can run in a render process. The cyclic
    collector is paused meanwhile (see `build_jobs`): in the daemon, with its plans in
    memory, the collections that rendering set off scanned them all, over and over.
    """
    return build_jobs([job(row)], sender, date, render)[0]


# What a render process needs of a row: key, template, payload (as stored), recipients.
# Plain tuples: pickling whole OutboxRows (six datetimes each) cost as much as composing.
Job = tuple[str, str, str | bytes, tuple[tuple[str, str], ...]]


def job(row: OutboxRow) -> Job:
    return (row.key, row.template, row.payload_json, row.recipients)


def _build(job: Job, sender: Address, date: datetime, render: RenderFn | None) -> Built:
    key, template, payload_json, recipients = job
    try:
        payload = read_json(payload_json) if payload_json else {}
        if not isinstance(payload, dict):
            payload = {}
        rendered = (render or _default_render())(template, payload)
    except DeliveryError as exc:
        return str(exc), exc.permanent
    except Exception as exc:  # noqa: BLE001 - a broken template or context must not stop the batch
        return f"Không dựng được thư từ mẫu {template!r}: {type(exc).__name__}: {exc}", True
    try:
        to = [Address(name, address) for name, address in recipients]
        data = compose(
            rendered, sender=sender, to=to, key=key, date=date, headers=_headers(payload)
        )
    except DeliveryError as exc:
        return str(exc), exc.permanent
    return Envelope(
        sender.address,
        tuple(a.address for a in to),
        data,
        message_id(key, sender.domain),
        smtp_ready=True,
    )


def build_jobs(
    jobs: list[Job], sender: Address, date: datetime, render: RenderFn | None = None
) -> list[Built]:
    """`build_envelope` for several rows: one task for a worker process.

    The cyclic collector is paused meanwhile: decoding and rendering make many small
    containers and no cycles that must go at once (a tenth of a worker's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [_build(j, sender, date, render) for j in jobs]
    finally:
        if enabled:
            gc.enable()


def warm_up(parent: int | None = None) -> None:
    """Import the renderer and compile every template (a pool's `initializer`), so the
    first batch a worker process renders does not also pay for that; and, given the pid of
    the process that started this one, exit once that one is gone."""
    if parent is not None:
        _exit_with_parent(parent)
    from notifier import emails

    for name in emails.TEMPLATES:
        for part in ("subject", "text", "html"):
            emails._compiled(emails.TEMPLATES_DIR, f"{name}.{part}.j2")
    gc.freeze()  # modules and templates live as long as the process: never scan them again


def start_pool(size: int) -> ProcessPoolExecutor:
    """`size` render processes, started on their first task; each compiles the templates
    first. Spawned, not forked: the daemon has threads (HTTP server, to_thread workers)."""
    import multiprocessing

    return ProcessPoolExecutor(
        size,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=warm_up,
        initargs=(os.getpid(),),
    )


class RenderPool:
    """Render processes that start in the background: `ready()` is the executor once they
    can take work (a spawned process takes ~0.2 s to import and compile, more on a busy
    machine), None
    before that or once one of them has died. Until then the sending loop renders itself."""

    def __init__(self, size: int) -> None:
        self.executor = start_pool(size)
        self._up = [self.executor.submit(os.getpid) for _ in range(size)]  # they start them

    @property
    def broken(self) -> bool:
        return bool(getattr(self.executor, "_broken", False))

    def ready(self) -> ProcessPoolExecutor | None:
        if self.broken or not all(f.done() for f in self._up):
            return None
        return self.executor

    def shutdown(self, *, wait: bool = True) -> None:
        self.executor.shutdown(wait=wait, cancel_futures=True)


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """A render process whose daemon died (kill -9, out of memory) exits: it would wait for
    work forever, since it holds its task queue's write end itself. `parent` is passed in,
    not read here: the daemon may have died while this process was still starting."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="notifier-parent-watch", daemon=True).start()
