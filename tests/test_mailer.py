"""notifier.mailer: the bytes it composes, read back by Python's email package, and its
transports against a real aiosmtpd server on 127.0.0.1 and a real maildir."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from _smtp import SmtpServer, self_signed
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.clock import TZ
from notifier.config import Config
from notifier.emails import Attachment, Rendered
from notifier.errors import ConfigError, DeliveryError
from notifier.mailer import (
    Address,
    MaildirTransport,
    Mailer,
    SmtpError,
    SmtpSettings,
    SmtpTransport,
    compose,
    header_text,
    message_id,
    open_transport,
    sender_from,
)

SENDER = Address("Hệ thống nhắc việc — Sở Ngoại vụ tỉnh Đắk Lắk", "nhacviec@mail.example.org")
VH = Address("Sở Văn hóa, Thể thao và Du lịch", "sovhttdl@example.org")
NGV = Address("Sở Ngoại vụ", "songoaivu@example.org")
WHEN = datetime(2024, 3, 25, 8, 0, tzinfo=TZ)
ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//notifier//VI\r\nMETHOD:PUBLISH\r\n"
    b"BEGIN:VEVENT\r\nUID:ii7@notifier\r\nDTSTAMP:20240325T010000Z\r\n"
    b"SUMMARY:Giao l\xc6\xb0u v\xc4\x83n h\xc3\xb3a\r\nDTSTART;VALUE=DATE:20240401\r\n"
    b"DTEND;VALUE=DATE:20240701\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
RENDERED = Rendered(
    subject="Nhắc việc: hoạt động II.7 (Quý II/2024) bắt đầu từ ngày 01/4/2024",
    text="Kính gửi: Sở Văn hóa, Thể thao và Du lịch\n\nII.7 — Quý II/2024\n.\n.leading dot\n",
    html="<p>Kính gửi: <b>Sở Văn hóa, Thể thao và Du lịch</b></p><p>Quý II/2024</p>",
    attachments=(Attachment("nhac-viec-34-kh-ubnd.ics", "text/calendar", ICS),),
)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def names(header: object) -> list[tuple[str, str]]:
    """(display name, address) pairs; spaces collapsed, because CPython < 3.14 keeps the
    folding space between two encoded words of a display name (gh-128110)."""
    return [
        (" ".join(a.display_name.split()), a.addr_spec)
        for a in header.addresses  # type: ignore[attr-defined]
    ]


# --- composing ---


def test_composed_message_reads_back_whole() -> None:
    data = compose(
        RENDERED, sender=SENDER, to=[VH, NGV], key="34/II.7/start-5/2024-04-01", date=WHEN
    )
    assert data.isascii()
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    m = parse(data)
    assert m["Subject"] == RENDERED.subject
    assert names(m["From"]) == [(SENDER.name, SENDER.address)]
    assert names(m["To"]) == [(VH.name, VH.address), (NGV.name, NGV.address)]
    assert m["Date"].datetime == WHEN
    assert m["Auto-Submitted"] == "auto-generated"
    assert m.get_content_type() == "multipart/mixed"
    plain = m.get_body(("plain",))
    html = m.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == RENDERED.text
    assert html.get_content().replace("\r\n", "\n") == RENDERED.html
    (ics,) = list(m.iter_attachments())
    assert ics.get_filename() == "nhac-viec-34-kh-ubnd.ics"
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_param("method") == "PUBLISH"
    assert ics.get_payload(decode=True) == ICS


def test_ics_attachment_parses_as_a_calendar() -> None:
    from icalendar import Calendar

    m = parse(compose(RENDERED, sender=SENDER, to=[VH], key="k", date=WHEN))
    (ics,) = list(m.iter_attachments())
    (event,) = Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Giao lưu văn hóa"


def test_without_attachments_the_message_is_multipart_alternative() -> None:
    bare = Rendered(RENDERED.subject, RENDERED.text, RENDERED.html)
    m = parse(compose(bare, sender=SENDER, to=[VH], key="k", date=WHEN))
    assert m.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in m.iter_parts()] == ["text/plain", "text/html"]


def test_message_id_comes_from_the_key_and_the_senders_full_domain() -> None:
    key = "34-kh-ubnd-2024/II.7/so-van-hoa/start-5/2024-04-01"
    m = parse(compose(RENDERED, sender=SENDER, to=[VH], key=key, date=WHEN))
    expected = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@mail.example.org>"
    assert m["Message-ID"] == expected == message_id(key, "mail.example.org")
    other = parse(compose(RENDERED, sender=SENDER, to=[VH], key=key + "x", date=WHEN))
    assert other["Message-ID"] != expected


def test_long_vietnamese_subject_is_folded_into_short_encoded_words() -> None:
    subject = "Đôn đốc: " + "báo cáo kết quả công tác đối ngoại 6 tháng đầu năm 2024 " * 4
    data = compose(Rendered(subject, "x", "<p>x</p>"), sender=SENDER, to=[VH], key="k", date=WHEN)
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    words = re.findall(r"=\?utf-8\?b\?[A-Za-z0-9+/=]*\?=", head)
    assert words and all(len(w) <= 75 for w in words)
    assert parse(data)["Subject"] == header_text(subject)


def test_extra_headers_are_written_and_reserved_ones_refused() -> None:
    headers = {
        "List-Unsubscribe": "<http://127.0.0.1:8080/units/so-ngoai-vu/digest/unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    m = parse(compose(RENDERED, sender=SENDER, to=[VH], key="k", date=WHEN, headers=headers))
    assert m["List-Unsubscribe"] == headers["List-Unsubscribe"]
    for bad in (
        {"Bcc": "evil@example.net"},
        {"Content-Type": "text/plain"},
        {"X-Note": "a\r\nBcc: evil@example.net"},
        {"X-Bad Name": "v"},
        {"X-Note": "tiếng Việt"},
    ):
        with pytest.raises(DeliveryError) as info:
            compose(RENDERED, sender=SENDER, to=[VH], key="k", date=WHEN, headers=bad)
        assert info.value.permanent


# --- header injection ---

INJECTIONS = [
    "Nhắc việc\r\nBcc: evil@example.net",
    "Nhắc việc\nBcc: evil@example.net",
    "Nhắc việc\rBcc: evil@example.net",
    "Nhắc việc\u2028Bcc: evil@example.net",
    "Nhắc việc\x85Bcc: evil@example.net",
    "Nhắc việc\x00\x1b[31m\x7f",
    "=?utf-8?q?Bcc:_evil@example.net?=",
    "\u202eNhắc việc\u200b",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_plan_text_cannot_add_headers_through_subject_or_names(text: str) -> None:
    sender = Address(text, "nhacviec@mail.example.org")
    data = compose(
        Rendered(text, text, text),
        sender=sender,
        to=[Address(text, "a@example.org")],
        key=text,
        date=WHEN,
    )
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc" not in head and b"\nBcc" not in head
    m = parse(data)
    assert m["Bcc"] is None and m.defects == []
    assert set(m.keys()) == {
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Auto-Submitted",
        "Content-Type",
    }
    subject = str(m["Subject"])
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202e\u200b]", subject)
    assert subject == header_text(text)
    assert [a for _, a in names(m["To"])] == ["a@example.org"]


@pytest.mark.parametrize(
    "address",
    [
        "a@example.org\r\nBcc: evil@example.net",
        "a@example.org>, evil@example.net",
        "Sở <a@example.org>",
        "a@exam ple.org",
        "a@example.org\n",
        "",
        "@example.org",
        "tiếngviệt@example.org",
        "a" * 250 + "@example.org",
    ],
)
def test_bad_addresses_are_refused_not_repaired(address: str) -> None:
    with pytest.raises(DeliveryError) as info:
        compose(RENDERED, sender=SENDER, to=[VH, Address("X", address)], key="k", date=WHEN)
    assert info.value.permanent
    assert "Địa chỉ thư không hợp lệ" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(subject=st.text(max_size=300), name=st.text(max_size=120))
def test_any_text_gives_the_same_headers_and_reads_back(subject: str, name: str) -> None:
    data = compose(
        Rendered(subject, "x", "<p>x</p>"),
        sender=SENDER,
        to=[Address(name, "a@example.org")],
        key=subject,
        date=WHEN,
    )
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    m = parse(data)
    assert len(m.keys()) == 8 and m["Bcc"] is None
    assert str(m["Subject"]) == header_text(subject)
    ((shown, address),) = names(m["To"])
    assert address == "a@example.org"
    # Python < 3.14 may add a space where a long name breaks between encoded words
    # (gh-128110); the exact form is checked with the RFC 2047 decoder below.
    assert "".join(shown.split()) == "".join(header_text(name, limit=200).split())


@pytest.mark.parametrize("name", [SENDER.name, VH.name, "Ủy ban nhân dân tỉnh Đắk Lắk " * 4])
def test_display_names_decode_exactly_per_rfc_2047(name: str) -> None:
    from email.header import decode_header, make_header

    data = compose(RENDERED, sender=SENDER, to=[Address(name, "a@example.org")], key="k", date=WHEN)
    raw = email.message_from_bytes(data, policy=email.policy.compat32)["To"]
    assert str(make_header(decode_header(raw))) == f"{header_text(name, limit=200)} <a@example.org>"


# --- SMTP against aiosmtpd ---


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    s = SmtpServer().start()
    yield s
    s.close()


def smtp(server: SmtpServer, **options: object) -> SmtpTransport:
    return SmtpTransport(SmtpSettings("127.0.0.1", server.port, security="none", **options))  # type: ignore[arg-type]


async def send_all(mailer: Mailer, envelopes: list) -> list:
    try:
        return await asyncio.gather(*(mailer.send(e) for e in envelopes), return_exceptions=True)
    finally:
        await mailer.close()


def test_delivered_message_parses_with_the_right_recipients_subject_parts_and_ics(
    server: SmtpServer,
) -> None:
    mailer = Mailer(smtp(server), SENDER)
    envelope = mailer.compose(RENDERED, [VH, NGV], key="34/II.7", date=WHEN)
    (reply,) = asyncio.run(send_all(mailer, [envelope]))
    assert isinstance(reply, str)
    (got,) = server.received
    assert got.mail_from == SENDER.address
    assert got.rcpt_tos == [VH.address, NGV.address]
    m = parse(got.data)
    assert m["Subject"] == RENDERED.subject
    assert names(m["To"]) == [(VH.name, VH.address), (NGV.name, NGV.address)]
    assert m["Message-ID"] == envelope.message_id
    assert "Quý II/2024" in m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Quý II/2024" in m.get_body(("html",)).get_content()  # type: ignore[union-attr]
    (ics,) = list(m.iter_attachments())
    assert ics.get_payload(decode=True) == ICS
    # The leading dots survived SMTP's dot-stuffing.
    assert "\n.leading dot" in m.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def test_connections_are_reused_across_messages(server: SmtpServer) -> None:
    mailer = Mailer(smtp(server, pool_size=3), SENDER)
    envelopes = [mailer.compose(RENDERED, [VH], key=f"k{i}", date=WHEN) for i in range(30)]
    replies = asyncio.run(send_all(mailer, envelopes))
    assert all(isinstance(r, str) for r in replies)
    assert len(server.received) == 30
    assert 1 <= server.connections <= 3
    assert len({parse(r.data)["Message-ID"] for r in server.received}) == 30


@pytest.mark.parametrize(
    ("reply", "permanent", "code"),
    [
        ("451 4.3.0 He thong ban, thu lai sau", False, 451),
        ("421 4.7.0 Try again later", False, 421),
        ("550 5.1.1 Mailbox unavailable", True, 550),
        ("554 5.7.1 Message rejected", True, 554),
    ],
)
def test_smtp_replies_are_sorted_into_temporary_and_permanent(
    server: SmtpServer, reply: str, permanent: bool, code: int
) -> None:
    server.handler.data_replies.append(reply)
    mailer = Mailer(smtp(server, pool_size=1), SENDER)
    first = mailer.compose(RENDERED, [VH], key="a", date=WHEN)
    second = mailer.compose(RENDERED, [VH], key="b", date=WHEN)

    async def go() -> tuple[BaseException | None, str]:
        try:
            try:
                await mailer.send(first)
            except DeliveryError as exc:
                failure: BaseException | None = exc
            else:
                failure = None
            return failure, await mailer.send(second)  # the same connection goes on
        finally:
            await mailer.close()

    failure, _ = asyncio.run(go())
    assert isinstance(failure, SmtpError)
    assert (failure.permanent, failure.code) == (permanent, code)
    assert [parse(r.data)["Message-ID"] for r in server.received] == [second.message_id]


def test_refused_recipients(server: SmtpServer) -> None:
    server.handler.refuse[NGV.address] = "550 5.1.1 Mailbox unavailable"
    mailer = Mailer(smtp(server), SENDER)
    some = mailer.compose(RENDERED, [VH, NGV], key="some", date=WHEN)
    none = mailer.compose(RENDERED, [NGV], key="none", date=WHEN)
    partly, refused = asyncio.run(send_all(mailer, [some, none]))
    assert isinstance(partly, str) and NGV.address in partly  # delivered to VH, noted
    assert isinstance(refused, SmtpError) and refused.permanent and refused.code == 550
    assert [r.rcpt_tos for r in server.received] == [[VH.address]]


def test_server_down_is_temporary_and_up_again_delivers_once() -> None:
    server = SmtpServer().start()
    server.stop()
    try:
        mailer = Mailer(smtp(server, timeout=2), SENDER)
        envelope = mailer.compose(RENDERED, [VH], key="k", date=WHEN)

        async def go() -> DeliveryError:
            try:
                await mailer.send(envelope)
            except DeliveryError as exc:
                failure = exc
            else:
                raise AssertionError("sent to a server that is down")
            server.start()
            await mailer.send(envelope)
            await mailer.close()
            return failure

        failure = asyncio.run(go())
        assert not failure.permanent and "127.0.0.1" in str(failure)
        assert len(server.received) == 1
    finally:
        server.close()


@pytest.mark.parametrize("pause", [0.0, 0.05], ids=["unnoticed", "noticed"])
def test_server_restart_between_messages_reconnects(server: SmtpServer, pause: float) -> None:
    mailer = Mailer(smtp(server, pool_size=1), SENDER)

    async def go() -> None:
        await mailer.send(mailer.compose(RENDERED, [VH], key="1", date=WHEN))
        server.stop()  # the pooled connection dies with the server
        server.start()
        # Without a pause the client has not yet seen the hang-up: MAIL FROM meets a dead
        # session, and the transport retries once on a new one.
        await asyncio.sleep(pause)
        await mailer.send(mailer.compose(RENDERED, [VH], key="2", date=WHEN))
        await mailer.close()

    asyncio.run(go())
    assert len(server.received) == 2


def test_sessions_the_server_closed_while_idle_are_replaced() -> None:
    server = SmtpServer(idle_timeout=0.2).start()
    try:
        mailer = Mailer(smtp(server, pool_size=2), SENDER)

        async def go() -> None:
            await mailer.send(mailer.compose(RENDERED, [VH], key="1", date=WHEN))
            await asyncio.sleep(0.6)  # the server hangs up on the idle pooled session
            await mailer.send(mailer.compose(RENDERED, [VH], key="2", date=WHEN))
            await mailer.close()

        asyncio.run(go())
        assert len(server.received) == 2 and server.connections == 2
    finally:
        server.close()


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "ssl"])
def test_tls_and_login_with_the_password_from_the_environment(
    tmp_path: Path, implicit: bool
) -> None:
    context, cert = self_signed(tmp_path)
    server = SmtpServer(tls=context, implicit_tls=implicit, login=("nhacviec", "mật-khẩu")).start()
    try:
        tls = {"ssl": True, "starttls": False} if implicit else {"starttls": True}
        config = Config.model_validate(
            {"smtp": {"host": "127.0.0.1", "port": server.port, "user": "nhacviec", **tls}}
        )

        def settings_with(password: str) -> SmtpSettings:
            found = SmtpSettings.from_config(config, {"NOTIFIER_SMTP_PASSWORD": password})
            assert found is not None and password not in repr(found)
            assert found.security == ("ssl" if implicit else "starttls")
            return replace(found, ca_file=str(cert))  # or SSL_CERT_FILE in production

        settings = settings_with("mật-khẩu")
        mailer = Mailer(SmtpTransport(settings), SENDER)
        envelope = mailer.compose(RENDERED, [VH], key="tls", date=WHEN)
        asyncio.run(send_all(mailer, [envelope]))
        assert len(server.received) == 1

        bad = Mailer(SmtpTransport(settings_with("sai")), SENDER)
        (failure,) = asyncio.run(send_all(bad, [envelope]))
        assert isinstance(failure, SmtpError) and not failure.permanent
        assert "NOTIFIER_SMTP_PASSWORD" in str(failure)
        assert len(server.received) == 1
    finally:
        server.close()


def test_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    context, _ = self_signed(tmp_path)
    server = SmtpServer(tls=context).start()
    try:
        mailer = Mailer(SmtpTransport(SmtpSettings("127.0.0.1", server.port, timeout=5)), SENDER)
        envelope = mailer.compose(RENDERED, [VH], key="tls", date=WHEN)
        (failure,) = asyncio.run(send_all(mailer, [envelope]))
        assert isinstance(failure, DeliveryError) and not failure.permanent
        assert server.received == []
    finally:
        server.close()


# --- settings and the maildir default ---


def test_settings_come_from_config_and_environment(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("bí-mật\n", encoding="utf-8")
    config = Config.model_validate(
        {
            "smtp": {
                "host": "mail.example.org",
                "ssl": True,
                "starttls": False,
                "user": "u",
                "password_file": str(secret),
                "from_address": "nhacviec@mail.example.org",
                "from_name": "Sở Ngoại vụ tỉnh Đắk Lắk",
            }
        }
    )
    s = SmtpSettings.from_config(config, {})
    assert s is not None
    assert (s.host, s.port, s.security, s.username, s.password) == (
        "mail.example.org",
        465,
        "ssl",
        "u",
        "bí-mật",
    )
    s = SmtpSettings.from_config(
        config,
        {
            "NOTIFIER_SMTP_HOST": "127.0.0.1",
            "NOTIFIER_SMTP_PORT": "2525",
            "NOTIFIER_SMTP_PASSWORD": "env",
        },
    )
    assert s is not None and (s.host, s.port, s.password) == ("127.0.0.1", 2525, "env")
    assert sender_from(config) == Address("Sở Ngoại vụ tỉnh Đắk Lắk", "nhacviec@mail.example.org")
    assert sender_from(None).address == "nhacviec@example.org"
    assert SmtpSettings.from_config(Config(), {}) is None
    with pytest.raises(ConfigError):
        SmtpSettings.from_config(Config(), {"NOTIFIER_SMTP_HOST": "h", "NOTIFIER_SMTP_PORT": "25a"})
    missing = config.model_copy(
        update={"smtp": config.smtp.model_copy(update={"password_file": str(tmp_path / "missing")})}
    )
    with pytest.raises(ConfigError):
        SmtpSettings.from_config(missing, {})


def test_no_smtp_host_means_the_maildir(tmp_path: Path) -> None:
    transport = open_transport(None, environ={}, var_dir=tmp_path / "var")
    assert isinstance(transport, MaildirTransport)
    assert isinstance(open_transport(None, environ={"NOTIFIER_SMTP_HOST": "h"}), SmtpTransport)
    mailer = Mailer(transport, SENDER)
    envelope = mailer.compose(RENDERED, [VH, NGV], key="k", date=WHEN)
    asyncio.run(send_all(mailer, [envelope]))
    (stored,) = list((tmp_path / "var" / "maildir" / "new").iterdir())
    m = parse(stored.read_bytes())
    assert m.get_all("Delivered-To") == [VH.address, NGV.address]
    assert m["Subject"] == RENDERED.subject and m["Message-ID"] == envelope.message_id
    assert list((tmp_path / "var" / "maildir" / "tmp").iterdir()) == []


def test_unwritable_maildir_is_a_temporary_failure(tmp_path: Path) -> None:
    (tmp_path / "maildir").write_text("not a directory")
    mailer = Mailer(MaildirTransport(tmp_path / "maildir"), SENDER)
    (failure,) = asyncio.run(send_all(mailer, [mailer.compose(RENDERED, [VH], key="k", date=WHEN)]))
    assert isinstance(failure, DeliveryError) and not failure.permanent
    assert "Không ghi được thư" in str(failure)
