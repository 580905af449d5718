"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, port 0, in its own thread.

`SmtpServer` records every accepted message (so tests count deliveries at the server),
can answer the next messages or chosen recipients with an error code, can stop and
start again on the same port (an outage), and can require STARTTLS + AUTH.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)  # consumed one per DATA
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → reply
    on_data: Callable[[Received], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            item = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            self.received.append(item)
        if self.on_data:
            self.on_data(item)
        return "250 2.0.0 OK"


class SmtpServer:
    """aiosmtpd in a thread; `port` stays the same across stop()/start()."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        login: tuple[str, str] | None = None,
        idle_timeout: float = 300,
    ) -> None:
        self.handler = handler or Handler()
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.login = login
        self.port = 0
        self.connections = 0
        self.idle_timeout = idle_timeout
        self._sessions: list[SMTP] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.base_events.Server | None = None

    def _auth(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.login is not None
            and (data.login.decode(), data.password.decode()) == self.login
        )
        return AuthResult(success=ok, handled=False)

    def _factory(self) -> SMTP:
        self.connections += 1
        options: dict[str, Any] = {
            "hostname": "mail.test",
            "enable_SMTPUTF8": False,
            "timeout": self.idle_timeout,
        }
        if self.tls is not None and not self.implicit_tls:
            options.update(tls_context=self.tls, require_starttls=True)
        if self.login is not None:
            # Over implicit TLS the whole session is encrypted; aiosmtpd only knows STARTTLS.
            options.update(
                authenticator=self._auth, auth_required=True, auth_require_tls=not self.implicit_tls
            )
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without STARTTLS; under implicit TLS that is wrong.
            warnings.simplefilter("ignore", UserWarning)
            session = SMTP(self.handler, **options)
        self._sessions.append(session)
        return session

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> SmtpServer:
        async def go() -> asyncio.base_events.Server:
            ssl_context = self.tls if self.implicit_tls else None
            return await self._loop.create_server(
                self._factory, "127.0.0.1", self.port, ssl=ssl_context
            )

        self._server = self._call(go())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None

        async def halt() -> None:
            server.close()  # stops listening; the open sessions are dropped too, as in a crash
            for session in self._sessions:
                if session.transport is not None:
                    session.transport.close()
            self._sessions.clear()
            await server.wait_closed()

        self._call(halt())

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def self_signed(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for "localhost"/127.0.0.1 and the certificate file."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
