"""SmtpTransport's DATA step against a real aiosmtpd server.

Composed messages (CRLF only, no line starting with ".") go out as they are, skipping
aiosmtplib's line-ending and dot-stuffing rewrite; any other bytes take aiosmtplib's
path. Either way the server must receive exactly the message meant, and its replies to
DATA must be sorted as before (5xx permanent, 4xx temporary).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import pytest
from _smtp import SmtpServer
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.clock import TZ
from notifier.emails import Rendered
from notifier.mailer import (
    Address,
    Envelope,
    Mailer,
    SmtpError,
    SmtpSettings,
    SmtpTransport,
    _smtp_ready,
    compose,
)

SENDER = Address("Hệ thống nhắc việc", "nhacviec@mail.example.org")
VH = Address("Sở Văn hóa, Thể thao và Du lịch", "sovhttdl@example.org")
WHEN = datetime(2024, 3, 25, 8, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    s = SmtpServer().start()
    yield s
    s.close()


def send(server: SmtpServer, *payloads: bytes) -> list[str | BaseException]:
    mailer = Mailer(SmtpTransport(SmtpSettings("127.0.0.1", server.port, security="none")), SENDER)

    async def go() -> list[str | BaseException]:
        out: list[str | BaseException] = []
        try:
            for data in payloads:  # one after another on the same session
                try:
                    out.append(await mailer.send(Envelope(SENDER.address, (VH.address,), data, "<x@y>")))
                except SmtpError as exc:
                    out.append(exc)
        finally:
            await mailer.close()
        return out

    return asyncio.run(go())


def received(server: SmtpServer, count: int) -> list[bytes]:
    return [r.data for r in server.received[-count:]]


def test_a_composed_message_arrives_byte_for_byte(server: SmtpServer) -> None:
    text = "Kính gửi: Sở Văn hóa\n.\n.. hai chấm\n" * 50
    data = compose(Rendered("Nhắc việc", text, f"<p>{text}</p>"), sender=SENDER, to=[VH],
                   key="k", date=WHEN)  # fmt: skip
    assert _smtp_ready(data)
    assert isinstance(send(server, data)[0], str)
    assert received(server, 1) == [data]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([b"Subject: x", b".", b"..", b".a", b"a", b"", b"\r", b"\n"]),
                min_size=1, max_size=12))  # fmt: skip
def test_other_bytes_go_aiosmtplibs_way_and_arrive_as_meant(server: SmtpServer, pieces) -> None:
    data = b"Subject: x\r\n\r\n" + b"\r\n".join(pieces)
    lines = data.split(b"\r\n")
    rest = b"".join(lines)
    safe = data.endswith(b"\r\n") and b"\r" not in rest and b"\n" not in rest
    assert _smtp_ready(data) == (safe and not any(line.startswith(b".") for line in lines))
    assert isinstance(send(server, data)[0], str)
    # What a server stores is the message with every line end made CRLF and a final CRLF.
    meant = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if not meant.endswith(b"\r\n"):
        meant += b"\r\n"
    assert received(server, 1) == [meant]


@pytest.mark.parametrize(("reply", "permanent"), [("552 5.3.4 Too big", True),
                                                   ("452 4.3.1 Full", False)])  # fmt: skip
def test_replies_to_the_message_are_sorted_and_the_session_goes_on(
    server: SmtpServer, reply: str, permanent: bool
) -> None:
    data = compose(Rendered("s", "t", "<p>h</p>"), sender=SENDER, to=[VH], key="r", date=WHEN)
    server.handler.data_replies.append(reply)
    failed, ok = send(server, data, data)
    assert isinstance(failed, SmtpError) and failed.permanent is permanent
    assert failed.code == int(reply[:3])
    assert isinstance(ok, str)
    assert received(server, 1) == [data]


def test_a_server_that_stops_answering_is_a_temporary_failure_within_the_timeout() -> None:
    import time

    slow = SmtpServer().start()
    slow.handler.on_data = lambda _r: time.sleep(1.5)  # the reply to the message never comes in time
    transport = SmtpTransport(SmtpSettings("127.0.0.1", slow.port, security="none", timeout=0.4))
    mailer = Mailer(transport, SENDER)
    data = compose(Rendered("s", "t", "<p>h</p>"), sender=SENDER, to=[VH], key="t", date=WHEN)

    async def go() -> tuple[BaseException | None, float, int]:
        started = time.monotonic()
        try:
            await mailer.send(Envelope(SENDER.address, (VH.address,), data, "<t@x>"))
        except SmtpError as exc:
            return exc, time.monotonic() - started, len(transport._idle)
        finally:
            await mailer.close()
        return None, time.monotonic() - started, len(transport._idle)

    try:
        failure, took, idle = asyncio.run(go())
    finally:
        slow.close()
    assert isinstance(failure, SmtpError) and not failure.permanent
    assert 0.3 < took < 1.4 and idle == 0  # the session in an unknown state is not reused


def _header_text_reference(text: str, limit: int = 400) -> str:
    """header_text as first written (every step always), the oracle for its fast path."""
    import re
    import unicodedata

    control = re.compile("[\x00-\x1f\x7f-\x9f\u0085\u2028\u2029]+")
    invisible = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
    text = invisible.sub("", unicodedata.normalize("NFC", text))
    return re.sub(r"\s+", " ", control.sub(" ", text)).strip()[:limit].rstrip()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60) | st.sampled_from(["Nhắc việc: nhiệm vụ II.7 bắt đầu", " a  b ", "x\u00a0y"]))
def test_header_text_fast_path_changes_nothing(text: str) -> None:
    from notifier.mailer import header_text

    assert header_text(text) == _header_text_reference(text)
    assert header_text(text, limit=7) == _header_text_reference(text, 7)


@settings(max_examples=150, deadline=None)
@given(
    subject=st.text(max_size=80),
    text=st.text(max_size=300),
    html=st.text(max_size=300),
    name=st.text(max_size=40),
    ics=st.binary(max_size=300),
)
def test_whatever_compose_writes_is_smtp_ready(subject, text, html, name, ics) -> None:
    from notifier.emails import Attachment

    rendered = Rendered(subject, text, html, (Attachment(".x.ics", "text/calendar", ics),))
    data = compose(rendered, sender=SENDER, to=[Address(name, "a@example.org")], key=subject,
                   date=WHEN, headers={"List-Unsubscribe": "<https://x.example.org/u>"})  # fmt: skip
    assert _smtp_ready(data)  # so Envelope.smtp_ready may skip the check


def test_mailer_envelopes_are_marked_ready_and_arrive_whole(server: SmtpServer) -> None:
    mailer = Mailer(SmtpTransport(SmtpSettings("127.0.0.1", server.port, security="none")), SENDER)
    envelope = mailer.compose(Rendered("s", ".\n..\n", "<p>.</p>"), [VH], key="r", date=WHEN)
    assert envelope.smtp_ready

    async def go() -> str:
        try:
            return await mailer.send(envelope)
        finally:
            await mailer.close()

    assert isinstance(asyncio.run(go()), str)
    assert received(server, 1) == [envelope.data]
