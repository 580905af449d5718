"""Mail out: RFC 5322 bytes from a rendered email, and the transports that carry them.

Owns:
- `Address`, `check_address()`, `encode_mailbox()`, `encode_text()`, `message_id()`;
- `compose()` / `Mailer.compose()`: one message as bytes, built once: headers encoded per
  RFC 2047 (display names cached, since the same units get mail every day),
  multipart/alternative text + HTML, attachments such as the reminder's .ics; all parts
  UTF-8 in base64, so the bytes are 7-bit ASCII and no server extension is needed;
- transports: `SmtpTransport` (aiosmtplib; STARTTLS or SSL; login; a small pool of
  connections reused across messages) and `MaildirTransport` (var/maildir, the embedded
  default when no SMTP host is configured); `SmtpSettings.from_config()`, `open_transport()`
  and `sender_from()` read config.py's `[smtp]` with NOTIFIER_SMTP_HOST, NOTIFIER_SMTP_PORT
  and NOTIFIER_SMTP_PASSWORD (or a password file outside the repository) applied;
- error sorting: every failure leaves as `DeliveryError(permanent=…)` (`SmtpError` adds the
  reply code): 5xx replies are permanent, the rest (4xx, refused or dropped connections,
  time-outs, a full disk) temporary.

Facts relied on: the standard email package needs ~2.5 ms to fold one header with a
Vietnamese display name (issue 5), so headers are written by hand here; RFC 2047 limits an
encoded word to 75 characters and forbids splitting a character across words; RFC 3834
`Auto-Submitted` keeps auto-responders quiet; a Message-ID derived from the reminder key
and the sender's full domain (some providers reject mail without one) lets a receiver see
a re-sent reminder as the same message. The composed bytes are already what SMTP's DATA
carries (CRLF only, no line starting with "."), so they skip aiosmtplib's rewrite of line
ends and dot-stuffing, half the CPU of a send (`_data`; other bytes still take it).
Safety: plan text is untrusted. Header text loses every control character and line break
before encoding; addresses and extra header names/values that could break a header are
refused with a permanent DeliveryError, never cleaned into something else.
Not here: templates (emails.py), what to send (reminders.py), the outbox (store.py),
claiming and retrying (delivery.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import mailbox
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, Protocol

from notifier.errors import DeliveryError
from notifier.text import INVISIBLE

if TYPE_CHECKING:
    from mailbox import _MessageData  # typeshed's alias for what Mailbox.add takes

    import aiosmtplib

    from notifier.config import Config
    from notifier.emails import Rendered

__all__ = [
    "DEFAULT_SENDER",
    "Address",
    "Envelope",
    "MaildirTransport",
    "Mailer",
    "SmtpError",
    "SmtpSettings",
    "SmtpTransport",
    "Transport",
    "check_address",
    "compose",
    "encode_mailbox",
    "encode_text",
    "message_id",
    "open_transport",
    "sender_from",
]

# --- header text -------------------------------------------------------------------------

# C0 (CR, LF, TAB, NUL ...), DEL, C1, NEL and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u0085\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
_ATEXT_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,60}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,900}")
LINE = 78  # RFC 5322's recommended line length, folding whitespace included
MAX_HEADER_CHARS = 400  # characters of subject or display name kept


# What header_text would change apart from the ends and the length (a rendered subject,
# already one line, has none of it): checked in one scan before doing the work.
_UNTIDY = re.compile(
    "[\x00-\x1f\x7f-\x9f\u0085\u2028\u2029\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff]|\\s\\s|[^\\S ]"
)


def header_text(text: str, *, limit: int = MAX_HEADER_CHARS) -> str:
    """NFC, one line: control characters and line breaks become spaces, invisibles go."""
    text = str(text)
    if _UNTIDY.search(text) or not unicodedata.is_normalized("NFC", text):
        text = INVISIBLE.sub("", unicodedata.normalize("NFC", text))
        text = _SPACES.sub(" ", _CONTROL.sub(" ", text))
    return text.strip()[:limit].rstrip()


def _word_bytes(room: int) -> int:
    """UTF-8 bytes that fit one "B" word in `room` characters (and RFC 2047's 75)."""
    return max(3, (min(room, 75) - len("=?utf-8?b??=")) // 4 * 3)


def _encoded_words(text: str, *, first_room: int) -> list[str]:
    """RFC 2047 "B" words, the first fitting `first_room` characters, the others a
    continuation line; never splitting a character.

    Words break after a space where they can, the space kept inside the earlier word:
    decoders drop the folding whitespace between encoded words (RFC 2047 §6.2), and one
    that wrongly keeps it (CPython < 3.14 in display names, gh-128110) then shows a double
    space rather than a space inside a word.
    """
    data = text.encode("utf-8")
    chunks: list[bytes] = []
    start, limit = 0, _word_bytes(first_room)
    while start < len(data):
        end = start + limit
        if end < len(data):
            space = data.rfind(b" ", start, end)
            if space > start:
                end = space + 1
            else:  # no space: cut before a UTF-8 lead byte, never inside a character
                while end > start + 1 and data[end] & 0xC0 == 0x80:
                    end -= 1
        chunks.append(data[start:end])
        start, limit = end, _word_bytes(LINE - 2)  # " " before, "," after at most
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks]


def encode_text(text: str, *, field: str = "Subject") -> str:
    """Header text as RFC 2047 encoded words folded onto continuation lines.

    Short printable ASCII that could not be mistaken for an encoded word stays as it is.
    """
    text = header_text(text)
    room = LINE - len(field) - 2
    if text.isascii() and "=?" not in text and len(text) <= room:
        return text
    return "\r\n ".join(_encoded_words(text, first_room=room))


@lru_cache(maxsize=4096)  # the same units' addresses, message after message (errors are not kept)
def check_address(address: str) -> str:
    """`address` if it is a plain ASCII mailbox; else a permanent DeliveryError."""
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        shown = header_text(address, limit=80)
        raise DeliveryError(f"Địa chỉ thư không hợp lệ: {shown!r}", permanent=True)
    return address


_MAILBOX_ROOM = LINE - len("From: ") - 1  # the first line; "," may follow the mailbox


@lru_cache(maxsize=4096)
def encode_mailbox(name: str, address: str) -> str:
    """'Name <addr>' for From/To, the name RFC 2047-encoded unless plain ASCII; cached.

    Fits lines of 78 characters after "From: " or "To: " with a "," after it.
    """
    address = check_address(address)
    name = header_text(name, limit=200)
    if not name:
        return address
    if _ATEXT_PHRASE.fullmatch(name) and len(name) <= _MAILBOX_ROOM:
        words = [name]
    elif name.isascii() and "=?" not in name and len(name) <= _MAILBOX_ROOM - 2:
        words = ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    else:
        words = _encoded_words(name, first_room=_MAILBOX_ROOM)
    angle = f"<{address}>"
    last_room = _MAILBOX_ROOM if len(words) == 1 else LINE - 2
    joiner = " " if len(words[-1]) + 1 + len(angle) <= last_room else "\r\n "
    return "\r\n ".join(words) + joiner + angle


@dataclass(frozen=True, slots=True)
class Address:
    """A display name (may be Vietnamese) and an ASCII address."""

    name: str
    address: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    def header(self) -> str:
        return encode_mailbox(self.name, self.address)


DEFAULT_SENDER = Address("Hệ thống nhắc việc", "nhacviec@example.org")


def message_id(key: str, domain: str) -> str:
    """'<sha256(key)[:32]@domain>': the same reminder always gets the same Message-ID."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


# --- composing ---------------------------------------------------------------------------


def _b64_lines(data: bytes) -> bytes:
    """Base64 in 76-character lines ending in CRLF (one C call, then slices: 2× faster
    than encoding 57-byte pieces)."""
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    return b"\r\n".join(lines) + b"\r\n"


def _crlf(text: str) -> bytes:
    """Text in canonical MIME form: UTF-8 with CRLF line ends."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.encode("utf-8").replace(b"\n", b"\r\n")  # bytes.replace: a third faster


_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_ICS_METHOD = re.compile(rb"^METHOD:([A-Za-z-]+)\r?$", re.MULTILINE)


@lru_cache(maxsize=1024)
def _safe_filename(filename: str) -> str:
    name = _SAFE_FILENAME.sub("-", unicodedata.normalize("NFKD", filename)).strip("-.")[-60:]
    return name.lstrip("-.") or "tep"


@lru_cache(maxsize=256)  # a batch is composed with one date
def _date_header(date: datetime) -> str:
    return format_datetime(date)


def _attachment(filename: str, content_type: str, data: bytes) -> bytes:
    name = _safe_filename(filename)
    ctype = content_type.lower().strip()
    if not _CONTENT_TYPE.fullmatch(ctype):
        ctype = "application/octet-stream"
    params = ""
    if ctype == "text/calendar":
        params = '; charset="utf-8"'
        method = _ICS_METHOD.search(data[:4096])
        if method:
            params += f";\r\n method={method.group(1).decode('ascii').upper()[:20]}"
    head = (
        f"Content-Type: {ctype}{params};\r\n"
        f' name="{name}"\r\n'
        "Content-Disposition: attachment;\r\n"
        f' filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode("ascii") + _b64_lines(data)


def _text_part(subtype: str, text: str) -> bytes:
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode("ascii") + _b64_lines(_crlf(text))


def _multipart(boundary: str, parts: Sequence[bytes]) -> bytes:
    sep = f"--{boundary}\r\n".encode("ascii")
    body = b"".join(sep + part for part in parts)
    return body + f"--{boundary}--\r\n".encode("ascii")


# Headers the composer writes itself or that would add recipients: never taken from outside.
_RESERVED = frozenset(
    [
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "sender",
        "reply-to",
        "return-path",
        "auto-submitted",
        "received",
        "delivered-to",
    ]
)


def _extra_headers(headers: Mapping[str, str]) -> str:
    lines = []
    for name, value in headers.items():
        lowered = name.lower()
        if (
            not _HEADER_NAME.fullmatch(name)
            or lowered in _RESERVED
            or lowered.startswith("content-")
            or not _HEADER_VALUE.fullmatch(value)
        ):
            raise DeliveryError(
                f"Tiêu đề thư không hợp lệ: {header_text(name, limit=60)!r}", permanent=True
            )
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


def compose(
    rendered: Rendered,
    *,
    sender: Address,
    to: Sequence[Address],
    key: str,
    date: datetime,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """One message as RFC 5322 bytes (7-bit). Raises a permanent DeliveryError on bad input."""
    if not to:
        raise DeliveryError("Thư không có người nhận.", permanent=True)
    if date.tzinfo is None:
        raise ValueError("date must be aware")
    mid = message_id(key, sender.domain)
    # Base64 output never contains "=_", so these boundaries cannot occur inside a part.
    tag = mid[1:17]
    alternative = _multipart(
        f"=_alt_{tag}",
        [_text_part("plain", rendered.text), _text_part("html", rendered.html)],
    )
    top = f'Content-Type: multipart/alternative; boundary="=_alt_{tag}"\r\n'
    body = alternative
    if rendered.attachments:
        top = f'Content-Type: multipart/mixed; boundary="=_mix_{tag}"\r\n'
        inner = f'Content-Type: multipart/alternative; boundary="=_alt_{tag}"\r\n\r\n'
        parts = [inner.encode("ascii") + alternative]
        parts += [_attachment(a.filename, a.content_type, a.data) for a in rendered.attachments]
        body = _multipart(f"=_mix_{tag}", parts)
    recipients = ",\r\n ".join(a.header() for a in to)
    head = (
        f"From: {sender.header()}\r\n"
        f"To: {recipients}\r\n"
        f"Subject: {encode_text(rendered.subject)}\r\n"
        f"Date: {_date_header(date)}\r\n"
        f"Message-ID: {mid}\r\n"
        "MIME-Version: 1.0\r\n"
        "Auto-Submitted: auto-generated\r\n"
        f"{_extra_headers(headers or {})}"
        f"{top}\r\n"
    )
    return head.encode("ascii") + body


@dataclass(frozen=True, slots=True)
class Envelope:
    """A composed message and where it goes.

    `smtp_ready`: `data` is `compose`'s output, CRLF line ends only and no line starting
    with "." by construction, so SMTP's DATA can carry it without checking or rewriting.
    """

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str
    smtp_ready: bool = False


# --- transports --------------------------------------------------------------------------


class Transport(Protocol):
    description: str
    concurrency: int  # messages it can carry at once

    async def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        """Deliver `data`; return the server's reply. Raise DeliveryError on failure."""
        ...

    async def close(self) -> None: ...


class SmtpError(DeliveryError):
    """A DeliveryError carrying the SMTP reply code, when the server gave one."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message, permanent=permanent)
        self.code = code


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server. The password never comes from config.toml."""

    host: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    pool_size: int = 4
    timeout: float = 30.0
    validate_certs: bool = True
    ca_file: str | None = None  # a private CA's certificate, for servers it signed

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str]) -> SmtpSettings | None:
        """`[smtp]` with NOTIFIER_SMTP_HOST/PORT/PASSWORD from `environ`; None without a host
        (mail then goes to the maildir). A private CA's certificate: SSL_CERT_FILE."""
        from notifier.config import apply_environment, smtp_password

        config = apply_environment(config, environ)
        smtp = config.smtp
        if not smtp.host:
            return None
        security: Literal["starttls", "ssl", "none"] = (
            "ssl" if smtp.ssl else "starttls" if smtp.starttls else "none"
        )
        port = smtp.port
        if security == "ssl" and "port" not in smtp.model_fields_set:
            port = 465  # the model's default is STARTTLS's 587
        password = smtp_password(config, environ)
        return cls(
            host=smtp.host,
            port=port,
            security=security,
            username=smtp.user or None,
            password=password.reveal() if password is not None else None,
        )


def _smtp_error(exc: BaseException, where: str) -> SmtpError:
    """Sort an aiosmtplib failure into temporary or permanent (STYLE.md practice 5)."""
    import aiosmtplib

    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [e.code for e in exc.recipients]
        detail = "; ".join(f"{e.recipient}: {e.code} {e.message}" for e in exc.recipients)
        return SmtpError(
            f"Máy chủ thư {where} từ chối mọi người nhận: {detail}",
            permanent=all(c >= 500 for c in codes),
            code=max(codes) if codes else None,
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Not the message's fault: keep it queued until the password is fixed.
        return SmtpError(
            f"Máy chủ thư {where} từ chối đăng nhập ({exc.code} {exc.message}); "
            "kiểm tra username và NOTIFIER_SMTP_PASSWORD.",
            permanent=False,
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SmtpError(
            f"Máy chủ thư {where} trả lời {exc.code} {exc.message}",
            permanent=exc.code >= 500,
            code=exc.code,
        )
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return SmtpError(f"Máy chủ thư {where} không trả lời kịp.", permanent=False)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return SmtpError(f"Máy chủ thư {where} không hỗ trợ: {exc}", permanent=False)
    return SmtpError(f"Không kết nối được máy chủ thư {where}: {exc}", permanent=False)


class _Stale(Exception):
    """The session was gone before MAIL FROM was answered: safe to try a fresh one."""


async def _transaction(
    client: aiosmtplib.SMTP,
    sender: str,
    recipients: Sequence[str],
    data: bytes,
    ready: bool = False,
) -> tuple[dict[str, int], str]:
    """MAIL, RCPT…, DATA over an open session: (refused recipient → code, final reply).

    Its replies are awaited without a timer each: the caller bounds the whole transaction
    with one (a timer per reply was a sixth of the sending loop's CPU).

    Like aiosmtplib's sendmail, minus its four email.utils.parseaddr calls per message
    (a third of its CPU here): `compose` and `check_address` have validated the
    addresses already, and the bytes are 7-bit with CRLF line ends.
    """
    import aiosmtplib

    for address in (sender, *recipients):
        check_address(address)
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    size = [f"SIZE={len(data) + 3}".encode("ascii")] if client.supports_extension("size") else []
    try:
        try:
            reply = await client.execute_command(
                b"MAIL", f"FROM:<{sender}>".encode("ascii"), *size, timeout=None
            )
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise _Stale(str(exc)) from exc  # nothing of this message reached the server
        if reply.code != 250:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
        refused: dict[str, aiosmtplib.SMTPResponse] = {}
        for recipient in recipients:
            reply = await client.execute_command(
                b"RCPT", f"TO:<{recipient}>".encode("ascii"), timeout=None
            )
            if reply.code not in (250, 251):
                refused[recipient] = reply
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(r.code, r.message, a) for a, r in refused.items()]
            )
        final = await _data(client, data, ready)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        try:  # leave the session clean for the next message
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
        raise
    return {a: r.code for a, r in refused.items()}, final.message


def _smtp_ready(data: bytes) -> bool:
    """True when `data` can go after DATA as it is: CRLF line ends only, ending in CRLF,
    no line starting with "." (what `compose` writes: ASCII headers, base64 bodies)."""
    crlf = data.count(b"\r\n")
    return (
        data.endswith(b"\r\n")
        and data.count(b"\n") == crlf
        and data.count(b"\r") == crlf
        and not data.startswith(b".")
        and b"\n." not in data
    )


async def _data(
    client: aiosmtplib.SMTP, data: bytes, ready: bool = False
) -> aiosmtplib.SMTPResponse:
    """DATA, the message, its final reply.

    aiosmtplib's `data()` rewrites every line ending and dot-stuffs the message with two
    regular expressions: half the CPU of sending a 12 kB message, for nothing when the
    bytes are already SMTP-ready (checked here in a few C scans). Those go out through
    the public DATA command, the protocol's write and read_response; others (and any
    server that answers DATA oddly) go the library's way.
    """
    import aiosmtplib

    protocol = client.protocol
    if protocol is None or not (ready or _smtp_ready(data)):
        return await client.data(data)
    reply = await client.execute_command(b"DATA", timeout=None)
    if reply.code != 354:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    try:
        protocol.write(data + b".\r\n")
        final = await protocol.read_response(timeout=None)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()  # as data() does: the session is in an unknown state
        raise
    if final.code != 250:
        raise aiosmtplib.SMTPDataError(final.code, final.message)
    return final


class SmtpTransport:
    """aiosmtplib over a pool of at most `pool_size` connections, kept open between messages."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.description = f"smtp://{settings.host}:{settings.port} ({settings.security})"
        self._where = f"{settings.host}:{settings.port}"
        self.concurrency = max(1, settings.pool_size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots: asyncio.Semaphore | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        import aiosmtplib

        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "ssl",
            start_tls=s.security == "starttls",
            username=s.username,
            password=s.password,
            timeout=s.timeout,
            validate_certs=s.validate_certs,
            cert_bundle=s.ca_file,
        )
        try:
            await client.connect()
        except BaseException:
            if client.is_connected:
                client.close()  # e.g. login refused after the session opened
            raise
        return client

    async def send(
        self, sender: str, recipients: Sequence[str], data: bytes, *, ready: bool = False
    ) -> str:
        """`ready`: `data` is known SMTP-ready (Envelope.smtp_ready), so it is not scanned."""
        import aiosmtplib

        failures = (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, self.settings.pool_size))
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            reused = client is not None and client.is_connected
            try:
                if not reused:
                    client = await self._connect()
                assert client is not None
                try:
                    async with asyncio.timeout(self.settings.timeout):
                        refused, reply = await _transaction(
                            client, sender, recipients, data, ready
                        )
                except _Stale:
                    if not reused:
                        raise
                    # A pooled session the server had closed (idle timeout): once more.
                    client.close()
                    client = await self._connect()
                    async with asyncio.timeout(self.settings.timeout):
                        refused, reply = await _transaction(
                            client, sender, recipients, data, ready
                        )
            except _Stale as exc:
                raise _smtp_error(aiosmtplib.SMTPServerDisconnected(str(exc)), self._where) from exc
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as exc:
                # A reply code: aiosmtplib has reset the envelope, the session stays usable.
                if client is not None and client.is_connected:
                    self._idle.append(client)
                raise _smtp_error(exc, self._where) from exc
            except failures as exc:
                if client is not None and client.is_connected:
                    client.close()
                raise _smtp_error(exc, self._where) from exc
            self._idle.append(client)
        if refused:
            reply += " (từ chối: " + ", ".join(f"{r} {code}" for r, code in refused.items()) + ")"
        return reply

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await asyncio.wait_for(client.quit(), timeout=5)
            except Exception:  # noqa: BLE001 - closing anyway
                client.close()


class _Maildir(mailbox.Maildir):
    """mailbox.Maildir whose add() removes its tmp/ file when writing fails: the stdlib's
    final flush (a full disk) is outside its clean-up, so each retry left a partial file."""

    _tmp_name = ""

    def _create_tmp(self) -> IO[bytes]:
        tmp: IO[bytes] = super()._create_tmp()  # type: ignore[misc]  # private stdlib method, not in typeshed
        self._tmp_name = tmp.name
        return tmp

    def add(self, message: _MessageData | mailbox.MaildirMessage) -> str:
        self._tmp_name = ""
        try:
            return super().add(message)
        except OSError:
            if self._tmp_name:
                try:
                    os.remove(self._tmp_name)
                except OSError:
                    pass
            raise


class MaildirTransport:
    """Delivers into a maildir (var/maildir): what a new user reads to see what would be sent."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = f"maildir:{self.path}"
        self.concurrency = 1
        self._box: _Maildir | None = None

    def _add(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        if self._box is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._box = _Maildir(self.path, create=True)
        for sub in ("tmp", "new", "cur"):  # Maildir(create=True) skips an existing folder
            (self.path / sub).mkdir(exist_ok=True)  # (a mount point, an emptied maildir)
        box = self._box
        trace = f"Return-Path: <{sender}>\r\n" + "".join(
            f"Delivered-To: {r}\r\n" for r in recipients
        )
        # Maildir files use the local line ending.
        return box.add((trace.encode("ascii") + data).replace(b"\r\n", os.linesep.encode()))

    async def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        for address in (sender, *recipients):
            check_address(address)
        try:
            name = await asyncio.to_thread(self._add, sender, recipients, data)
        except OSError as exc:
            raise DeliveryError(
                f"Không ghi được thư vào {self.path}: {exc.strerror or exc}", permanent=False
            ) from exc
        return f"đã lưu {name}"

    async def close(self) -> None:
        return None


def open_transport(
    config: Config | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    var_dir: Path | None = None,
) -> Transport:
    """SMTP when a host is configured (`[smtp] host` or NOTIFIER_SMTP_HOST), else the maildir
    `var/maildir` (the embedded default, so a new user sees what would be sent)."""
    from notifier.config import default_config

    config = config or default_config()
    settings = SmtpSettings.from_config(config, os.environ if environ is None else environ)
    if settings is None:
        return MaildirTransport((var_dir or config.var_path()) / "maildir")
    return SmtpTransport(settings)


def sender_from(config: Config | None) -> Address:
    """`[smtp] from_address` and `from_name`, else DEFAULT_SENDER."""
    smtp = getattr(config, "smtp", None)
    address = getattr(smtp, "from_address", None) or DEFAULT_SENDER.address
    name = getattr(smtp, "from_name", None) or DEFAULT_SENDER.name
    return Address(str(name), check_address(str(address)))


class Mailer:
    """Composes messages for one sender and hands them to a transport."""

    def __init__(self, transport: Transport, sender: Address = DEFAULT_SENDER) -> None:
        check_address(sender.address)
        self.transport = transport
        self.sender = sender

    def compose(
        self,
        rendered: Rendered,
        to: Sequence[Address],
        *,
        key: str,
        date: datetime,
        headers: Mapping[str, str] | None = None,
    ) -> Envelope:
        data = compose(rendered, sender=self.sender, to=to, key=key, date=date, headers=headers)
        return Envelope(
            self.sender.address,
            tuple(a.address for a in to),
            data,
            message_id(key, self.sender.domain),
            smtp_ready=True,
        )

    @property
    def concurrency(self) -> int:
        """How many messages the transport can carry at once."""
        return max(1, int(getattr(self.transport, "concurrency", 1)))

    async def send(self, envelope: Envelope) -> str:
        if type(self.transport) is SmtpTransport:  # the others take no `ready`
            return await self.transport.send(
                envelope.sender, envelope.recipients, envelope.data, ready=envelope.smtp_ready
            )
        return await self.transport.send(envelope.sender, envelope.recipients, envelope.data)

    async def close(self) -> None:
        await self.transport.close()

    def __repr__(self) -> str:  # never shows the password
        return f"Mailer({self.sender.address} via {self.transport.description})"
