"""Bounces: VERP return paths, DSN parsing (RFC 3464), and what a bounce does to a subscriber.

A hard bounce (5.x.x, or the relay's 550 5.1.1 while sending) suppresses the address: status
``bounced``, a consent-ledger entry, queued mail cancelled. Soft bounces (4.x.x) count towards
``SOFT_BOUNCE_LIMIT``. Both go through :func:`newsletter.delivery.outbox.mark_bounced`, which
lets subscriptions decide and write its own tables. The functions take a SQLAlchemy
connection so the sender's recording thread can call them outside any request or ORM session.
"""

from __future__ import annotations

import email
import email.policy
import logging
import mailbox
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer

from newsletter.delivery import outbox
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.signing import FastSigner, secret_keys
from newsletter.subscriptions.models import Subscriber

log = logging.getLogger(__name__)

VERP_PREFIX = "bounces+"
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")

delivery_t = Delivery.__table__
subscriber_t = Subscriber.__table__


class VerpSigner:
    """Makes and reads ``bounces+<signed delivery id>@<domain>`` return paths.

    ``secret`` is one key or itsdangerous's key list (``signing.secret_keys``): a bounce for mail
    sent before a key rotation still finds its delivery.
    """

    def __init__(self, secret: str | Sequence[str], domain: str) -> None:
        keys = [secret] if isinstance(secret, str) else list(secret)
        self._serializer = URLSafeSerializer(keys, salt="bounce")
        self._dumps = FastSigner(self._serializer).dumps  # one per message: the fast path
        self.domain = domain

    def address(self, delivery_id: int) -> str:
        return f"{VERP_PREFIX}{self._dumps(delivery_id)}@{self.domain}"

    def read(self, address: str) -> int | None:
        """The delivery id in a VERP address, or None when absent or forged."""
        local = address.strip().strip("<>").rpartition("@")[0]
        if not local.lower().startswith(VERP_PREFIX):
            return None
        try:
            value = self._serializer.loads(local[len(VERP_PREFIX) :])
        except BadSignature:
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def bounce_domain(config: Any) -> str:
    from newsletter.delivery.message import domain_of

    return str(config.get("MAIL_BOUNCE_DOMAIN") or domain_of(config["MAIL_FROM"]))


@dataclass(frozen=True)
class DsnRecipient:
    recipient: str | None
    status: str  # e.g. "5.1.1"
    action: str  # failed, delayed, delivered, relayed, expanded

    @property
    def hard(self) -> bool:
        return self.status.startswith("5")


def parse_dsn(message: Message) -> list[DsnRecipient]:
    """The per-recipient blocks of a message/delivery-status part (RFC 3464)."""
    found: list[DsnRecipient] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks: list[Message] = []
        if isinstance(payload, list):
            blocks = [b for b in payload if isinstance(b, Message)]
        elif isinstance(payload, str | bytes):
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
            blocks = [email.message_from_string(b) for b in re.split(r"\r?\n\r?\n", text) if b]
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            status = str(block.get("Status", "")).strip()
            action = str(block.get("Action", "")).strip().lower()
            match = _STATUS.search(status)
            if not match or action not in {"failed", "delayed"}:
                continue
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            address = str(recipient).split(";", 1)[-1].strip() if recipient else None
            found.append(DsnRecipient(address, match.group(0), action))
    return found


def _fallback_addresses(message: Message) -> set[str]:
    """flufl.bounce's heuristics for bounces without a DSN or VERP token."""
    from flufl.bounce import scan_message

    addresses: set[str] = set()
    for found in scan_message(message):
        raw = found.decode("utf-8", "replace") if isinstance(found, bytes) else str(found)
        addresses.add(raw.strip().lower())
    return addresses


@dataclass(frozen=True)
class BounceOutcome:
    subscriber_id: int | None
    delivery_id: int | None
    status: str
    hard: bool
    suppressed: bool

    def describe(self) -> str:
        kind = "hard" if self.hard else "soft"
        who = f"subscriber {self.subscriber_id}" if self.subscriber_id else "unknown recipient"
        effect = "suppressed" if self.suppressed else "counted"
        return f"{kind} bounce {self.status} for {who}: {effect}"


def record_bounce(
    conn: sa.Connection,
    *,
    subscriber_id: int,
    status: str,
    soft_limit: int,
    notice_version: str,
    delivery_id: int | None,
) -> BounceOutcome:
    hard = status.startswith("5")
    reason = f"DSN {status}"
    if delivery_id is not None and hard:
        outbox.mark_sent_bounced(conn, delivery_id, reason)
    suppressed = outbox.mark_bounced(
        conn,
        subscriber_id,
        reason=reason,
        channel="dsn",
        notice_version=notice_version,
        hard=hard,
        soft_limit=soft_limit,
        delivery_id=delivery_id,
        status=status,
    )
    return BounceOutcome(subscriber_id, delivery_id, status, hard, suppressed)


def process_bounce(
    conn: sa.Connection,
    raw: bytes,
    *,
    config: Any,
    envelope_recipients: Iterable[str] = (),
) -> list[BounceOutcome]:
    """Apply one bounce message found by its VERP token. Only with ``BOUNCE_ADDRESS_FALLBACK``
    does a message without one count, by the DSN's recipients or flufl.bounce's guesses, and
    then only for subscribers sent to within ``BOUNCE_FALLBACK_DAYS``."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    signer = VerpSigner(secret_keys(config), bounce_domain(config))
    candidates = [*envelope_recipients, *(str(v) for v in message.get_all("To", []))]
    candidates += [str(v) for v in message.get_all("Delivered-To", [])]
    delivery_id = next((d for d in map(signer.read, candidates) if d is not None), None)
    reports = parse_dsn(message)
    soft_limit = int(config["SOFT_BOUNCE_LIMIT"])
    notice = str(config["PRIVACY_NOTICE_VERSION"])
    outcomes: list[BounceOutcome] = []

    def bounce(subscriber: int, status: str, delivery: int | None) -> BounceOutcome:
        return record_bounce(
            conn,
            subscriber_id=subscriber,
            status=status,
            soft_limit=soft_limit,
            notice_version=notice,
            delivery_id=delivery,
        )

    if delivery_id is not None:
        subscriber_id = conn.execute(
            sa.select(delivery_t.c.subscriber_id).where(delivery_t.c.id == delivery_id)
        ).scalar_one_or_none()
        if subscriber_id is None:
            return []
        outcomes.append(bounce(subscriber_id, _worst(reports) or "5.0.0", delivery_id))
        return outcomes
    # Without a valid VERP token anybody can write a DSN naming any address: by default such a
    # message changes nothing. The operator may trust the addresses it names, but only for
    # addresses we really sent to lately (a relay that rewrites the return path, say).
    if not config.get("BOUNCE_ADDRESS_FALLBACK"):
        log.info("bounce without a valid VERP token ignored (%d DSN block(s))", len(reports))
        return []
    by_address: dict[str, str] = {}
    for report in reports:
        if report.recipient:
            by_address[report.recipient.lower()] = report.status
    if not by_address:
        by_address = {address: "5.0.0" for address in _fallback_addresses(message)}
    window = timedelta(days=float(config.get("BOUNCE_FALLBACK_DAYS", 7)))
    since = datetime.now(UTC) - window
    for address, status in sorted(by_address.items()):
        subscriber_id = conn.execute(
            sa.select(subscriber_t.c.id).where(subscriber_t.c.email == address[:320])
        ).scalar_one_or_none()
        if subscriber_id is None:
            continue
        if not _sent_to_recently(conn, subscriber_id, since):
            log.warning(
                "bounce without VERP token for subscriber %s ignored: not sent to since %s",
                subscriber_id,
                since.isoformat(timespec="minutes"),
            )
            continue
        outcomes.append(bounce(subscriber_id, status, None))
    return outcomes


def _sent_to_recently(conn: sa.Connection, subscriber_id: int, since: datetime) -> bool:
    """Whether the relay took a message for this subscriber since ``since``."""
    return (
        conn.execute(
            sa.select(delivery_t.c.id)
            .where(
                delivery_t.c.subscriber_id == subscriber_id,
                delivery_t.c.status.in_([DeliveryStatus.SENT, DeliveryStatus.BOUNCED]),
                delivery_t.c.sent_at >= since,
            )
            .limit(1)
        ).first()
        is not None
    )


def _worst(reports: list[DsnRecipient]) -> str | None:
    if not reports:
        return None
    return sorted(reports, key=lambda r: (not r.hard, r.status))[0].status


def split_messages(raw: bytes) -> list[bytes]:
    """One message, or every message of an mbox file."""
    if not raw.startswith(b"From "):
        return [raw]
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".mbox") as handle:
        handle.write(raw)
        handle.flush()
        box = mailbox.mbox(handle.name, create=False)
        try:
            return [box.get_bytes(key) for key in box.iterkeys()]
        finally:
            box.close()
