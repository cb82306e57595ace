"""Messages prepared once per variant as bytes, then patched per recipient.

Building a MIME message with the ``email`` package costs ~10 ms; doing it once per digest
variant and splicing the few per-recipient values into prepared bytes costs microseconds.
Bodies are quoted-printable, encoded in segments around the placeholders: each placeholder sits
between two soft line breaks, and the URL that replaces it is wrapped with soft breaks too, so
no line exceeds 76 characters and nothing has to be re-encoded per recipient.
"""

from __future__ import annotations

import binascii
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from newsletter import mailparts

# Slots a template leaves open; the values are supplied per recipient.
TO = "to"
DATE = "date"
MESSAGE_ID = "message_id"
UNSUBSCRIBE_HEADER = "unsubscribe_header"
UNSUBSCRIBE_BODY = "unsubscribe_body"
PREFERENCES_BODY = "preferences_body"

QP_LINE = 73  # characters of a wrapped URL per line, leaving room for the "=" soft break
CRLF = b"\r\n"


@dataclass(frozen=True)
class Template:
    """A message with holes: ``parts[0] slot[0] parts[1] slot[1] ... parts[-1]``."""

    parts: tuple[bytes, ...]
    slots: tuple[str, ...]
    domain: str  # the sending domain, for Message-IDs

    def render(self, values: Mapping[str, bytes]) -> bytes:
        pieces: list[bytes] = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            pieces.append(values[slot])
            pieces.append(part)
        return b"".join(pieces)


@dataclass(frozen=True)
class Recipient:
    """What changes per message."""

    address: str
    message_id: str
    unsubscribe_url: str = ""
    preferences_url: str = ""


def domain_of(address: str) -> str:
    """The domain of an address or a ``Name <address>`` string."""
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


def new_message_id(delivery_id: int, domain: str) -> str:
    return f"<{delivery_id}.{secrets.token_hex(8)}@{domain}>"


def list_id(audience_key: str, domain: str) -> str:
    """``List-Id`` value: one list per audience, so clients can filter and unsubscribe per list."""
    label = "".join(c if c.isalnum() or c == "-" else "-" for c in audience_key.lower()).strip("-")
    label = "-".join(filter(None, label.split("-")))[:60] or "newsletter"
    return f"<{label}.{domain}>"


class HeaderInjection(ValueError):
    """A value meant for one header line carries a line break (or another control character)."""


# CR and LF end a header line; NUL and the other C0 controls (but tab) have no place in one.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u0085\u2028\u2029]+")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII but ":"


def header_text(value: str) -> str:
    """Free text for a header (a subject, a display name): line breaks and control characters
    fold into one space, whatever produced the value (a topic name, an article title, config)."""
    return _CONTROLS.sub(" ", value).strip()


def header_token(value: str, what: str = "header value") -> str:
    """A value that must stay as it is (an address, a URL, a Message-ID): refused, never
    repaired, when it carries a line break or a control character."""
    if _CONTROLS.search(value):
        raise HeaderInjection(f"{what} contains a line break or control character")
    return value


def _header(name: str, value: str) -> bytes:
    """A header whose value may need RFC 2047 encoding, folded by the ``email`` package."""
    if not _HEADER_NAME.fullmatch(name):
        raise HeaderInjection(f"not a header name: {name!r}")
    value = header_text(value)
    try:
        value.encode("ascii")
        encoded = value if len(value) < 900 else Header(value, "utf-8").encode(linesep="\r\n")
    except UnicodeEncodeError:
        encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


def _from_header(mail_from: str) -> bytes:
    name, address = parseaddr(header_text(mail_from))
    header_token(address, "From address")
    return f"From: {formataddr((name, address), charset='utf-8')}\r\n".encode("ascii")


def _qp_segments(text: str, placeholders: Mapping[str, str]) -> tuple[list[bytes], list[str]]:
    """Quoted-printable body split around placeholders (mapping placeholder -> slot)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normalised.endswith("\n"):
        normalised += "\n"
    parts: list[bytes] = [b""]
    slots: list[str] = []
    rest = normalised
    while True:
        found = [(rest.find(p), p) for p in placeholders if p in rest]
        if not found:
            parts[-1] += _qp(rest)
            break
        index, placeholder = min(found)
        before = rest[:index]
        if before:
            parts[-1] += _qp(before) + b"=\r\n"
        slots.append(placeholders[placeholder])
        parts.append(b"=\r\n")
        rest = rest[index + len(placeholder) :]
    return parts, slots


def _qp(text: str) -> bytes:
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


def qp_url(url: str) -> bytes:
    """A URL for a quoted-printable body: ASCII without ``=``, wrapped with soft breaks."""
    raw = url.encode("ascii")
    if b"=" in raw:
        raw = raw.replace(b"=", b"=3D")
    if len(raw) <= QP_LINE:
        return raw
    return b"=\r\n".join(raw[i : i + QP_LINE] for i in range(0, len(raw), QP_LINE))


def build_template(
    *,
    mail_from: str,
    subject: str,
    text: str,
    html: str,
    list_id_value: str | None = None,
    unsubscribe_mailto: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> Template:
    """Serialise a multipart/alternative message once; ``list_id_value`` adds the List-* headers."""
    domain = domain_of(mail_from)
    boundary = f"=_aoc_{secrets.token_hex(12)}"
    parts: list[bytes] = []
    slots: list[str] = []

    def hole(slot: str) -> None:
        slots.append(slot)
        parts.append(b"")

    parts.append(_from_header(mail_from) + b"To: ")
    hole(TO)
    parts[-1] += b"\r\n" + _header("Subject", subject) + b"Date: "
    hole(DATE)
    parts[-1] += b"\r\nMessage-ID: "
    hole(MESSAGE_ID)
    parts[-1] += b"\r\nMIME-Version: 1.0\r\n"
    for name, value in extra_headers:
        parts[-1] += _header(name, value)
    if list_id_value is not None:
        header_token(list_id_value, "List-Id")
        parts[-1] += f"List-Id: {list_id_value}\r\nList-Unsubscribe: <".encode("ascii")
        hole(UNSUBSCRIBE_HEADER)
        tail = ">"
        if unsubscribe_mailto:
            header_token(unsubscribe_mailto, "unsubscribe mailto")
            tail += f",\r\n <mailto:{unsubscribe_mailto}?subject=unsubscribe>"
        parts[-1] += (
            tail.encode("ascii") + b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        )
    parts[-1] += (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii")
    body_slots = {
        mailparts.UNSUBSCRIBE_URL: UNSUBSCRIBE_BODY,
        mailparts.PREFERENCES_URL: PREFERENCES_BODY,
    }
    for index, body in enumerate((text, html)):
        if index == 1:
            parts[-1] += (
                f"--{boundary}\r\n"
                'Content-Type: text/html; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            ).encode("ascii")
        body_parts, body_slot_names = _qp_segments(body, body_slots)
        parts[-1] += body_parts[0]
        parts.extend(body_parts[1:])
        slots.extend(body_slot_names)
        parts[-1] += CRLF  # the CRLF before a boundary belongs to the boundary
    parts[-1] += f"--{boundary}--\r\n".encode("ascii")
    return Template(parts=tuple(parts), slots=tuple(slots), domain=domain)


_date_cache: tuple[int, str] = (0, "")


def rfc5322_now() -> str:
    """The Date header for now, in UTC (computed once per second)."""
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, format_datetime(datetime.fromtimestamp(second, UTC)))
    return _date_cache[1]


def personalise(template: Template, recipient: Recipient, date: str | None = None) -> bytes:
    """The bytes for one recipient: no ``email`` package, a handful of joins. A value with a
    line break raises HeaderInjection (a ValueError): it would start a header of its own."""
    values = {
        TO: header_token(recipient.address, "address").encode("ascii"),
        DATE: header_token(date or rfc5322_now(), "date").encode("ascii"),
        MESSAGE_ID: header_token(recipient.message_id, "Message-ID").encode("ascii"),
        UNSUBSCRIBE_HEADER: header_token(recipient.unsubscribe_url, "URL").encode("ascii"),
        UNSUBSCRIBE_BODY: qp_url(recipient.unsubscribe_url),
        PREFERENCES_BODY: qp_url(recipient.preferences_url),
    }
    return template.render(values)
