"""The one way the server fetches a URL: public addresses only, bounded in bytes and in time.

Every outgoing HTTP request (feeds, the WebSub hub) goes through :func:`fetch`, because an editor
can type any URL and a feed host can answer anything:

- **Addresses.** Each hop's host is resolved here and every address it resolves to must be public
  (:func:`check_address`); the socket then connects to one of the checked addresses, so a second
  DNS answer cannot swap in another. Loopback, private, link-local, shared, multicast, reserved
  and unspecified addresses are refused, also when written as numbers (``2130706433``,
  ``0x7f.1``, ``017700000001``) or inside IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64).
  ``FETCH_ALLOW_PRIVATE`` turns this off (tests, the demo); ``FETCH_ALLOWED_NETWORKS`` lets
  chosen networks through (an intranet CMS).
- **Redirects** are followed here, at most ``max_redirects``, each hop checked as the first.
- **Bytes.** The body is read in chunks; the raw bytes and the decoded bytes (gzip, deflate) are
  capped separately, so 1.5 MB of gzip that inflates to 1.5 GB stops at the cap.
- **Time.** One deadline covers every hop, connecting, headers and body: a watchdog shuts the
  socket when it passes, so a server that drips one byte every few seconds fails in time.

Refusals raise :class:`FetchRefused`, whose message is the same generic sentence whatever the
reason (an editor learns nothing about the inside network); the detail goes to the log.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi
from flask import current_app, has_app_context

from newsletter.exceptions import NewsletterError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED_MESSAGE = "this address cannot be fetched"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024

# Inside these IPv6 prefixes sits an IPv4 address that decides (NAT64 well-known prefix).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
# Not covered by the flags of ``ipaddress`` in every Python version.
_EXTRA_BLOCKED: tuple[Network, ...] = (
    ipaddress.IPv4Network("0.0.0.0/8"),
    ipaddress.IPv4Network("100.64.0.0/10"),  # carrier-grade NAT
    ipaddress.IPv4Network("192.0.0.0/24"),
    ipaddress.IPv4Network("198.18.0.0/15"),
    ipaddress.IPv4Network("240.0.0.0/4"),
    ipaddress.IPv6Network("fc00::/7"),
    ipaddress.IPv6Network("fec0::/10"),
)


class FetchError(NewsletterError):
    """The URL could not be fetched (network, HTTP status, size, time): says which, safely."""

    status_code = 502


class FetchRefused(FetchError):
    """The URL may not be fetched at all (its address, its scheme): a generic message."""

    status_code = 422

    def __init__(self, detail: str) -> None:
        super().__init__(REFUSED_MESSAGE)
        self.detail = detail  # for the log only


class FetchTimeout(FetchError):
    """The deadline passed before the whole answer arrived."""


class FetchTooLarge(FetchError):
    """More bytes than allowed, before or after decoding."""


@dataclass(frozen=True)
class Policy:
    """Which addresses a fetch may reach."""

    allow_private: bool = False
    allowed_networks: tuple[Network, ...] = ()


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10_000_000  # decoded body
    max_raw_bytes: int = 10_000_000  # body as it travels (compressed)
    deadline: float = 60.0  # seconds for everything, every hop included
    connect_timeout: float = 5.0
    read_timeout: float = 20.0  # between two packets
    max_redirects: int = 5


@dataclass(frozen=True)
class Response:
    url: str  # the last hop's URL
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    redirects: tuple[str, ...] = field(default=())


def policy_from_config(config: Mapping[str, Any] | None = None) -> Policy:
    """The policy the app's settings ask for (strict outside an app context)."""
    if config is None:
        if not has_app_context():
            return Policy()
        config = current_app.config
    networks = config.get("FETCH_ALLOWED_NETWORKS") or ()
    if isinstance(networks, str):
        networks = [part for part in networks.split(",") if part.strip()]
    return Policy(
        allow_private=bool(config.get("FETCH_ALLOW_PRIVATE")),
        allowed_networks=tuple(
            ipaddress.ip_network(str(n).strip(), strict=False) for n in networks
        ),
    )


def limits_from_config(config: Mapping[str, Any] | None = None, **overrides: Any) -> Limits:
    cfg = config if config is not None else current_app.config
    values: dict[str, Any] = {
        "max_bytes": int(cfg["SOURCE_MAX_BYTES"]),
        "max_raw_bytes": int(cfg.get("SOURCE_MAX_RAW_BYTES") or cfg["SOURCE_MAX_BYTES"]),
        "deadline": float(cfg.get("SOURCE_DEADLINE") or 60.0),
        "connect_timeout": float(cfg["SOURCE_CONNECT_TIMEOUT"]),
        "read_timeout": float(cfg["SOURCE_READ_TIMEOUT"]),
        "max_redirects": int(cfg.get("SOURCE_MAX_REDIRECTS", 5)),
    }
    values.update(overrides)
    return Limits(**values)


# --- addresses -------------------------------------------------------------------------------

_NUMERIC_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a numeric host means to ``inet_aton`` (``2130706433``, ``0x7f.1``,
    ``0177.0.0.1``, ``127.1``), or None when the host is not such a number."""
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.fullmatch(p) for p in parts):
        return None
    try:
        numbers = [int(p, 0) if not re.fullmatch(r"0[0-7]+", p) else int(p, 8) for p in parts]
    except ValueError:
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = (value << (8 * (5 - len(parts)))) | last
    return ipaddress.IPv4Address(value)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host spells directly (IPv6 in brackets, dotted or numeric IPv4)."""
    host = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return numeric_ipv4(host)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address is not public (``"loopback"``, ``"private"``...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = blocked_reason(inner)
            return f"{reason} (inside {address})" if reason else None
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("not global", not address.is_global),
        (
            "reserved",
            any(address in net for net in _EXTRA_BLOCKED if net.version == address.version),
        ),
    )
    return next((name for name, hit in checks if hit), None)


def check_address(address: str | IPAddress, policy: Policy | None = None) -> IPAddress:
    """The address, if the server may connect to it; FetchRefused otherwise.

    The reusable guard: anything that connects to a URL someone else chose (feeds, push
    endpoints) calls this with each address it is about to use."""
    policy = policy if policy is not None else policy_from_config()
    if isinstance(address, str):
        parsed = literal_address(address)
        if parsed is None:
            raise FetchRefused(f"{address!r} is not an IP address")
        address = parsed
    if policy.allow_private or any(
        address in net for net in policy.allowed_networks if net.version == address.version
    ):
        return address
    reason = blocked_reason(address)
    if reason is not None:
        raise FetchRefused(f"address {address} is {reason}")
    return address


def resolve(host: str, port: int, policy: Policy | None = None) -> list[IPAddress]:
    """Every address of ``host``, all checked: one blocked answer refuses the host, so a name
    cannot pair a public address with an inside one and hope for the second."""
    policy = policy if policy is not None else policy_from_config()
    literal = literal_address(host)
    if literal is not None:
        return [check_address(literal, policy)]
    if not host or len(host) > 253:
        raise FetchRefused(f"bad host name {host!r}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(raw)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"cannot resolve {host}")
    try:
        for address in addresses:
            check_address(address, policy)
    except FetchRefused as exc:
        raise FetchRefused(f"{host} resolves to {exc.detail}") from None
    return addresses


def split_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an http(s) URL; FetchRefused for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchRefused(f"unreadable URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused(f"not an http(s) URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("URL with credentials")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def check_url(url: str, policy: Policy | None = None, *, resolve_names: bool = True) -> None:
    """Refuse a URL whose host is (or resolves to) an address the server must not reach.
    A name that does not resolve passes here when ``resolve_names`` is off or DNS fails: the
    fetch checks again, on every hop."""
    policy = policy if policy is not None else policy_from_config()
    _, host, port = split_url(url)
    if policy.allow_private:
        return
    if literal_address(host) is not None:
        resolve(host, port, policy)
    elif resolve_names:
        try:
            resolve(host, port, policy)
        except FetchRefused:
            raise
        except FetchError:
            pass


# --- connections -----------------------------------------------------------------------------


class _Watchdog:
    """Shuts the sockets of one fetch when its deadline passes, waking any blocked read."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # time.monotonic() value
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise FetchTimeout("no complete answer within the time limit")
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.fired:
                sock.close()
                raise FetchTimeout("no complete answer within the time limit")
            self._sockets.append(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _connector(host: str, port: int, policy: Policy, limits: Limits, watchdog: _Watchdog) -> Any:
    """A replacement for ``socket.create_connection`` that connects only to checked addresses."""

    def create_connection(
        _address: tuple[str, int], timeout: float | None = None, source_address: Any = None
    ) -> socket.socket:
        last: OSError | None = None
        for address in resolve(host, port, policy):
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(min(limits.connect_timeout, watchdog.remaining()))
                watchdog.watch(sock)
                sock.connect((str(address), port))
            except OSError as exc:
                sock.close()
                last = exc
                continue
            sock.settimeout(limits.read_timeout)
            return sock
        raise last or OSError(f"cannot connect to {host}")

    return create_connection


def _connection(
    scheme: str, host: str, port: int, policy: Policy, limits: Limits, watchdog: _Watchdog
) -> http.client.HTTPConnection:
    conn: http.client.HTTPConnection
    if scheme == "https":
        context = ssl.create_default_context(cafile=certifi.where())
        conn = http.client.HTTPSConnection(host, port, timeout=limits.read_timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=limits.read_timeout)
    # http.client opens its socket through this attribute; TLS (SNI, certificate) then wraps
    # that socket for ``host`` as usual.
    conn._create_connection = _connector(host, port, policy, limits, watchdog)  # type: ignore[attr-defined]
    return conn


class _Decoder:
    """Content-Encoding undone chunk by chunk, never producing more than the cap."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r}")

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise FetchTooLarge(f"answer larger than {self.limit} bytes once decoded")
        self.parts.append(data)

    def feed(self, data: bytes) -> None:
        if self._zlib is None:
            self._add(data)
            return
        try:
            # At most one byte past the cap per call: a bomb never gets room to inflate.
            while data:
                out = self._zlib.decompress(data, self.limit - self.size + 1)
                self._add(out)
                data = self._zlib.unconsumed_tail
                if self._zlib.eof:
                    break
        except zlib.error as exc:
            raise FetchError(f"bad compressed data ({exc})") from None

    def finish(self) -> bytes:
        if self._zlib is not None:
            try:
                self._add(self._zlib.flush(self.limit - self.size + 1))
            except zlib.error as exc:
                raise FetchError(f"bad compressed data ({exc})") from None
        return b"".join(self.parts)


def _read_body(response: http.client.HTTPResponse, limits: Limits, watchdog: _Watchdog) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > limits.max_raw_bytes:
        raise FetchTooLarge(f"answer larger than {limits.max_raw_bytes} bytes")
    encoding = response.getheader("Content-Encoding") or ""
    if "," in encoding:
        raise FetchError(f"unsupported Content-Encoding {encoding!r}")
    decoder = _Decoder(encoding, limits.max_bytes)
    raw = 0
    while True:
        watchdog.remaining()
        chunk = response.read1(CHUNK)
        if not chunk:
            break
        raw += len(chunk)
        if raw > limits.max_raw_bytes:
            raise FetchTooLarge(f"answer larger than {limits.max_raw_bytes} bytes")
        decoder.feed(chunk)
    if watchdog.fired:  # the watchdog's shutdown looks like the end of the answer
        raise FetchTimeout("no complete answer within the time limit")
    if declared and declared.strip().isdigit() and raw < int(declared) and not response.chunked:
        raise FetchError("the answer was cut short")
    return decoder.finish()


def _headers(message: Message) -> dict[str, str]:
    return {name.lower(): str(value) for name, value in message.items()}


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    limits: Limits | None = None,
    policy: Policy | None = None,
    accept_statuses: Iterable[int] | None = None,
) -> Response:
    """Fetch ``url`` under the address policy and the limits; redirects followed and checked.

    Raises FetchRefused (address or scheme not allowed), FetchTimeout, FetchTooLarge or
    FetchError (network, protocol). Any HTTP status is returned; only the body of a status in
    ``accept_statuses`` (default: 2xx) is read, the others come back with an empty body."""
    limits = limits or limits_from_config()
    policy = policy if policy is not None else policy_from_config()
    accepted = set(accept_statuses) if accept_statuses is not None else set(range(200, 300))
    watchdog = _Watchdog(time.monotonic() + limits.deadline)
    hops: list[str] = []
    try:
        while True:
            scheme, host, port = split_url(url)
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            request_headers = {"Accept-Encoding": "gzip, deflate", **(headers or {})}
            conn = _connection(scheme, host, port, policy, limits, watchdog)
            try:
                try:
                    conn.request(method, target, body=body, headers=request_headers)
                    response = conn.getresponse()
                    status = response.status
                    location = response.getheader("Location")
                    if status in REDIRECTS and location:
                        response.close()
                    else:
                        data = _read_body(response, limits, watchdog) if status in accepted else b""
                        return Response(url, status, _headers(response.msg), data, tuple(hops))
                except FetchError:
                    raise
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    if watchdog.fired:
                        raise FetchTimeout("no complete answer within the time limit") from None
                    if isinstance(exc, TimeoutError | socket.timeout):
                        raise FetchTimeout("no answer within the time limit") from None
                    verb = "connect" if isinstance(exc, OSError) else "read the answer"
                    raise FetchError(f"cannot {verb} ({type(exc).__name__})") from None
            finally:
                conn.close()
            if len(hops) >= limits.max_redirects:
                raise FetchError(f"more than {limits.max_redirects} redirects")
            hops.append(url)
            url = urljoin(url, location.strip())
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
    finally:
        watchdog.cancel()
