"""Bounces: VERP tokens, DSN parsing, hard and soft bounces, the CLI and the SMTP listener."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

from newsletter.delivery.bounces import VerpSigner
from newsletter.delivery.cli import BounceHandler
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import InMemoryTransport
from newsletter.extensions import db
from newsletter.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from tests.fixtures.delivery import deliveries, enqueue_digest, free_tcp_port, make_digest

Outbox = Callable[..., Any]


def dsn(to: str, recipient: str, status: str, action: str = "failed") -> bytes:
    return (
        "From: MAILER-DAEMON@relay.example.org\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} mailbox problem\r\n\r\n"
        "--b1--\r\n"
    ).encode()


QMAIL = (
    b"From: MAILER-DAEMON@mx.example.org\r\nTo: newsletter@localhost\r\n"
    b"Subject: failure notice\r\n\r\n"
    b"Hi. This is the qmail-send program at mx.example.org.\r\n"
    b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
    b"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
    b"<reader2@example.org>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n"
)


def send_all(app: Flask) -> InMemoryTransport:
    transport = InMemoryTransport()
    Sender(app, transport).run(threading.Event(), until_idle=True)
    return transport


def subscriber(sid: int) -> Subscriber:
    db.session.expire_all()
    found = db.session.get(Subscriber, sid)
    assert found is not None
    return found


def test_verp_tokens_are_signed(app: Flask) -> None:
    signer = VerpSigner(app.config["SECRET_KEY"], "bounces.example.org")
    address = signer.address(1234)
    assert address.startswith("bounces+")
    assert address.endswith("@bounces.example.org")
    assert len(address.split("@")[0]) <= 64
    assert signer.read(address) == 1234
    assert signer.read(f"<{address.upper()}>") is None  # case-mangled: signature broken
    forged = address.replace(address.split("+")[1].split(".")[0], "MTIzNQ")
    assert signer.read(forged) is None
    assert VerpSigner("another key", "x").read(address) is None


def test_hard_dsn_via_verp_suppresses_the_subscriber(
    app: Flask, outbox: Outbox, runner: Any, tmp_path: Path
) -> None:
    _, ids = outbox(2)
    transport = send_all(app)
    later = make_digest(audience_key="daily:it:energy", period_key="2026-11-21")
    enqueue_digest(later.id, [ids[0]])
    message = transport.sent[0]
    assert message.recipient == "reader0@example.org"
    bounce = tmp_path / "bounce.eml"
    bounce.write_bytes(dsn(message.sender, "reader0@example.org", "5.1.1"))

    result = runner.invoke(args=["bounces", "process", str(bounce)])

    assert result.exit_code == 0, result.output
    assert "hard bounce 5.1.1" in result.output
    assert subscriber(ids[0]).status is SubscriberStatus.BOUNCED
    assert subscriber(ids[1]).status is SubscriberStatus.ACTIVE
    rows = {(r.digest_id, r.subscriber_id): r.status for r in deliveries()}
    assert rows[(later.id, ids[0])] is DeliveryStatus.CANCELLED
    bounced_row = next(r for r in deliveries() if r.subscriber_id == ids[0] and r.sent_at)
    assert bounced_row.status is DeliveryStatus.BOUNCED
    event = db.session.scalars(sa.select(ConsentEvent)).one()
    assert (event.action.value, event.channel) == ("bounce", "dsn")


def test_soft_bounces_count_towards_the_limit(app: Flask, outbox: Outbox, runner: Any) -> None:
    _, ids = outbox(1)
    transport = send_all(app)
    sender = transport.sent[0].sender
    from newsletter.delivery.cli import _apply

    for expected in (1, 2):
        (outcome,) = _apply(app, dsn(sender, "reader0@example.org", "4.2.2", "delayed"), [])
        assert not outcome.suppressed
        assert subscriber(ids[0]).soft_bounces == expected
        assert subscriber(ids[0]).status is SubscriberStatus.ACTIVE
    (outcome,) = _apply(app, dsn(sender, "reader0@example.org", "4.2.2", "delayed"), [])

    assert outcome.suppressed
    assert subscriber(ids[0]).status is SubscriberStatus.BOUNCED


def test_dsn_without_verp_and_flufl_fallback_in_an_mbox(
    app: Flask, outbox: Outbox, runner: Any, tmp_path: Path
) -> None:
    app.config["BOUNCE_ADDRESS_FALLBACK"] = True  # the operator trusts addresses in DSNs
    _, ids = outbox(3)
    send_all(app)  # the fallback only counts for addresses really sent to
    mbox = tmp_path / "bounces.mbox"
    mbox.write_bytes(
        b"From MAILER-DAEMON Sat Nov 21 10:00:00 2026\n"
        + dsn("newsletter@localhost", "reader1@example.org", "5.1.1").replace(b"\r\n", b"\n")
        + b"\nFrom MAILER-DAEMON Sat Nov 21 10:01:00 2026\n"
        + QMAIL.replace(b"\r\n", b"\n")
    )

    result = runner.invoke(args=["bounces", "process", str(mbox)])

    assert result.exit_code == 0, result.output
    assert "2 message(s) read, 2 bounce(s) applied" in result.output
    assert [subscriber(i).status for i in ids] == [
        SubscriberStatus.ACTIVE,
        SubscriberStatus.BOUNCED,
        SubscriberStatus.BOUNCED,
    ]


def test_bounces_process_reports_a_missing_file_in_one_line(runner: Any) -> None:
    result = runner.invoke(args=["bounces", "process", "/nonexistent/bounce.eml"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: /nonexistent/bounce.eml: no such file"


def test_the_bounce_listener_applies_dsns_sent_to_it(app: Flask, outbox: Outbox) -> None:
    _, ids = outbox(1)
    sender = send_all(app).sent[0].sender
    port = free_tcp_port()
    controller = Controller(BounceHandler(app), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("", [sender], dsn(sender, "reader0@example.org", "5.2.1"))
    finally:
        controller.stop()

    assert subscriber(ids[0]).status is SubscriberStatus.BOUNCED
    rows = db.session.scalars(sa.select(Delivery)).all()
    assert [r.status for r in rows] == [DeliveryStatus.BOUNCED]


# --- forged bounces (issue 12, item 8) -------------------------------------------------------


def _listen_and_send(app: Flask, recipients: list[str], message: bytes) -> None:
    """Hand a message to the real bounce listener (aiosmtpd) over SMTP on loopback."""
    port = free_tcp_port()
    controller = Controller(BounceHandler(app), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("", recipients, message)
    finally:
        controller.stop()


def test_a_dsn_without_a_valid_verp_token_changes_nothing(app: Flask, outbox: Outbox) -> None:
    """Anybody can mail the bounce address a DSN naming any subscriber."""
    _, ids = outbox(2)
    real = send_all(app).sent[0].sender
    forged_token = real.replace("bounces+", "bounces+x")
    for to in ("newsletter@localhost", forged_token):
        _listen_and_send(app, [to], dsn(to, "reader0@example.org", "5.1.1"))
        _listen_and_send(app, [to], QMAIL.replace(b"reader2", b"reader1"))
    assert [subscriber(i).status for i in ids] == [SubscriberStatus.ACTIVE] * 2
    assert [s.soft_bounces for s in map(subscriber, ids)] == [0, 0]
    rows = db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    ledger = db.session.scalars(sa.select(ConsentEvent.channel)).all()
    assert "dsn" not in ledger


def test_the_address_fallback_counts_only_for_addresses_sent_to_recently(
    app: Flask, outbox: Outbox
) -> None:
    app.config["BOUNCE_ADDRESS_FALLBACK"] = True
    _, sent_to = outbox(1, prefix="sent", period_key="2026-W46")
    _, long_ago = outbox(1, prefix="old", period_key="2026-W47")
    send_all(app)
    month_ago = datetime.now(UTC) - timedelta(days=30)
    db.session.execute(
        sa.update(Delivery).where(Delivery.subscriber_id == long_ago[0]).values(sent_at=month_ago)
    )
    db.session.commit()
    _, never = outbox(1, prefix="waiting", period_key="2026-W48")  # queued, not sent
    to = "newsletter@localhost"
    for address in ("sent0@example.org", "waiting0@example.org", "old0@example.org"):
        _listen_and_send(app, [to], dsn(to, address, "5.1.1"))
    assert subscriber(sent_to[0]).status is SubscriberStatus.BOUNCED
    assert subscriber(never[0]).status is SubscriberStatus.ACTIVE
    assert subscriber(long_ago[0]).status is SubscriberStatus.ACTIVE
