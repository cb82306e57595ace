"""How prepared bytes reach the relay: a Protocol, an SMTP relay client and an in-memory one.

Each sending thread opens its own ``Session`` (one relay connection, reused across messages and
re-opened after a disconnect). A session answers every message with a ``SendResult``; it raises
``RelayUnavailable`` only when it cannot connect at all, which pauses sending without counting
as an attempt of any message.
"""

from __future__ import annotations

import contextlib
import enum
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from newsletter.exceptions import TransportError


class Outcome(enum.StrEnum):
    SENT = "sent"
    TEMPORARY = "temporary"  # 4xx, timeout, dropped connection: retry later
    PERMANENT = "permanent"  # 5xx for the message: never retry
    REJECTED = "rejected"  # 5xx for the recipient (550 5.1.1): the address is bad


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    code: int = 250
    detail: str = ""


class RelayUnavailable(TransportError):
    """The relay refused or ignored the connection: pause, do not burn attempts."""


class Session(Protocol):
    def send(self, sender: str, recipient: str, data: bytes) -> SendResult: ...

    def close(self) -> None: ...


class Transport(Protocol):
    def open_session(self) -> Session: ...


def _classify(code: int, message: bytes, recipient_level: bool = False) -> SendResult:
    detail = f"{code} {message.decode('utf-8', 'replace')}".strip()
    if 200 <= code < 300:
        return SendResult(Outcome.SENT, code, detail)
    if 400 <= code < 500 or code < 200:
        return SendResult(Outcome.TEMPORARY, code, detail)
    if recipient_level:
        return SendResult(Outcome.REJECTED, code, detail)
    return SendResult(Outcome.PERMANENT, code, detail)


_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def dot_stuff(data: bytes) -> bytes:
    """SMTP transparency (RFC 5321 4.5.2) for CRLF-terminated bytes, plus the final dot."""
    stuffed = _LEADING_DOT.sub(b"..", data)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


class _Client(smtplib.SMTP):
    """smtplib with a prepared-bytes send that pipelines MAIL/RCPT/DATA when the relay allows."""

    def send_prepared(self, sender: str, recipient: str, data: bytes) -> SendResult:
        envelope = f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\n"
        if self.has_extn("pipelining"):
            self.send(envelope + "DATA\r\n")
            mail = self.getreply()
            rcpt = self.getreply()
            data_reply = self.getreply()
        else:
            self.send(envelope.split("\r\n", 1)[0] + "\r\n")
            mail = self.getreply()
            if mail[0] != 250:
                self.rset()
                return _classify(*mail)
            self.send(f"RCPT TO:<{recipient}>\r\n")
            rcpt = self.getreply()
            if rcpt[0] not in (250, 251):
                self.rset()
                return _classify(*rcpt, recipient_level=True)
            self.send("DATA\r\n")
            data_reply = self.getreply()
        if mail[0] != 250 or rcpt[0] not in (250, 251) or data_reply[0] != 354:
            if data_reply[0] == 354:
                self.send(b".\r\n")
                self.getreply()
            self.rset()
            if mail[0] != 250:
                return _classify(*mail)
            if rcpt[0] not in (250, 251):
                return _classify(*rcpt, recipient_level=True)
            return _classify(*data_reply)
        self.send(dot_stuff(data))
        return _classify(*self.getreply())


class _SecureClient(smtplib.SMTP_SSL, _Client):
    pass


@dataclass
class SmtpRelayTransport:
    """The relay from the configuration: none, STARTTLS or implicit TLS, optional AUTH."""

    host: str
    port: int
    security: str = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None
    local_hostname: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> SmtpRelayTransport:
        return cls(
            host=config["SMTP_HOST"],
            port=int(config["SMTP_PORT"]),
            security=config["SMTP_SECURITY"],
            username=config.get("SMTP_USERNAME"),
            password=config.get("SMTP_PASSWORD"),
            timeout=float(config["SMTP_TIMEOUT"]),
            ca_file=config.get("SMTP_CA_FILE"),
        )

    def tls_context(self) -> ssl.SSLContext:
        """Certificates verified; ``SMTP_CA_FILE`` adds a trust anchor for a private relay."""
        context = ssl.create_default_context()
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)
        return context

    def connect(self) -> smtplib.SMTP:
        """A logged-in connection, or RelayUnavailable with a one-line reason."""
        client: _Client | None = None
        try:
            if self.security == "tls":
                client = _SecureClient(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self.tls_context(),
                )
            else:
                client = _Client(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            client.ehlo()
            if self.security == "starttls":
                if not client.has_extn("starttls"):
                    raise RelayUnavailable(f"{self.host}:{self.port} does not offer STARTTLS")
                client.starttls(context=self.tls_context())
                client.ehlo()
            if self.username:
                client.login(self.username, self.password or "")
            return client
        except RelayUnavailable:
            _quietly_close(client)
            raise
        except ssl.SSLError as exc:
            _quietly_close(client)
            reason = exc.reason or str(exc)
            raise RelayUnavailable(f"TLS with {self.host}:{self.port} failed: {reason}") from None
        except smtplib.SMTPAuthenticationError as exc:
            _quietly_close(client)
            raise RelayUnavailable(
                f"relay {self.host}:{self.port} refused the login: {exc.smtp_code}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            _quietly_close(client)
            raise RelayUnavailable(f"relay {self.host}:{self.port} unreachable: {exc}") from None

    def open_session(self) -> Session:
        return _RelaySession(self)


def _quietly_close(client: smtplib.SMTP | None) -> None:
    if client is None:
        return
    with contextlib.suppress(OSError):
        client.close()


class _RelaySession:
    def __init__(self, transport: SmtpRelayTransport) -> None:
        self.transport = transport
        self.client: Any = None

    def send(self, sender: str, recipient: str, data: bytes) -> SendResult:
        if self.client is None:
            self.client = self.transport.connect()
        try:
            return self.client.send_prepared(sender, recipient, data)  # type: ignore[no-any-return]
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            # The message may or may not have arrived: retry later (at-least-once).
            self.close()
            return SendResult(Outcome.TEMPORARY, 0, f"connection lost: {exc or type(exc).__name__}")
        except smtplib.SMTPResponseException as exc:
            self.close()
            error = exc.smtp_error
            return _classify(exc.smtp_code, error if isinstance(error, bytes) else error.encode())

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            _quietly_close(client)


@dataclass
class SentMessage:
    sender: str
    recipient: str
    data: bytes


@dataclass
class InMemoryTransport:
    """Keeps what it is given; ``replies`` maps a recipient to scripted results (consumed)."""

    sent: list[SentMessage] = field(default_factory=list)
    replies: dict[str, list[SendResult]] = field(default_factory=dict)
    unavailable: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open_session(self) -> Session:
        return _MemorySession(self)


class _MemorySession:
    def __init__(self, transport: InMemoryTransport) -> None:
        self.transport = transport

    def send(self, sender: str, recipient: str, data: bytes) -> SendResult:
        with self.transport._lock:
            if self.transport.unavailable:
                raise RelayUnavailable("in-memory relay switched off")
            scripted = self.transport.replies.get(recipient)
            if scripted:
                result = scripted.pop(0)
                if result.outcome is not Outcome.SENT:
                    return result
            self.transport.sent.append(SentMessage(sender, recipient, data))
            return SendResult(Outcome.SENT, 250, "250 queued in memory")

    def close(self) -> None:
        pass
