"""The sender against a real aiosmtpd relay with scripted replies, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter.db import utcnow
from newsletter.delivery.bounces import VerpSigner
from newsletter.delivery.cli import run_send
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.delivery.sender import Sender
from newsletter.delivery.store import SenderLock
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.exceptions import Conflict, TransportError
from newsletter.extensions import db
from newsletter.hooks import ServiceMail, register_outbox_handler, register_service_mail
from newsletter.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from newsletter.subscriptions.tokens import Purpose, read_token
from tests.fixtures.delivery import (
    ACCENTED_SUBJECT,
    DROP,
    Certificate,
    Relay,
    add_subscribers,
    deliveries,
    enqueue_digest,
    free_tcp_port,
    make_digest,
)

Outbox = Callable[..., Any]


def send_until_idle(app: Flask) -> Any:
    return Sender(app, SmtpRelayTransport.from_config(app.config)).run(
        threading.Event(), until_idle=True
    )


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture(autouse=True)
def immediate_retries(app: Flask) -> None:
    """Retries due at once, so one ``until_idle`` run covers a 4xx and its retry."""
    app.config["RETRY_SCHEDULE_SECONDS"] = (0.0,)


def test_delivers_each_message_once_with_list_headers(
    app: Flask, relay: Relay, outbox: Outbox
) -> None:
    relay.configure(app, MAIL_UNSUBSCRIBE_MAILTO="unsubscribe@newsletter.example.org")
    _digest, ids = outbox(5)

    report = send_until_idle(app)

    assert report.sent == 5
    assert sorted(relay.handler.by_recipient().values()) == [1] * 5
    rows = deliveries()
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    by_id = {r.subscriber_id: r for r in rows}
    signer = VerpSigner(app.config["SECRET_KEY"], "localhost")
    for received in relay.handler.received:
        message = parse(received.content)
        subscriber = db.session.get(Subscriber, ids[int(received.rcpt_tos[0][6:].split("@")[0])])
        assert subscriber is not None
        row = by_id[subscriber.id]
        assert signer.read(received.mail_from) == row.id
        assert message["To"] == subscriber.email
        assert message["Message-ID"] == row.message_id
        assert row.message_id.startswith(f"<{row.id}.")
        assert row.message_id.endswith("@localhost>")
        assert message["From"].addresses[0].addr_spec == "newsletter@localhost"
        assert message["Subject"] == ACCENTED_SUBJECT
        assert b"Subject: =?utf-8?" in received.content
        assert abs(parsedate_to_datetime(message["Date"]) - utcnow()) < timedelta(minutes=5)
        assert message["MIME-Version"] == "1.0"
        assert message["List-Id"] == "<weekly-it-welfare-mobility.localhost>"
        unsubscribe = message["List-Unsubscribe"]
        url = unsubscribe.split("<", 1)[1].split(">", 1)[0]
        assert url.startswith("https://newsletter.example.org/unsubscribe/")
        assert read_token(Purpose.UNSUBSCRIBE, url.rsplit("/", 1)[1]).subscriber_id == subscriber.id
        assert "<mailto:unsubscribe@newsletter.example.org?subject=unsubscribe>" in unsubscribe
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.get_content_type() == "multipart/alternative"
        parts = list(message.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        assert all(p.get_content_charset() == "utf-8" for p in parts)
        text, html = (p.get_content().replace("\r\n", "\n") for p in parts)
        assert "%%" not in text
        assert "%%" not in html
        assert f"Annulla l'iscrizione: {url}\n" in text
        assert "Città di Crema: novità" in text
        assert "\n.una riga che inizia con un punto\n" in text
        preferences = text.split("Preferenze: ", 1)[1].split("\n", 1)[0]
        assert (
            read_token(Purpose.PREFERENCES, preferences.rsplit("/", 1)[1]).subscriber_id
            == subscriber.id
        )
        assert f'href="{url}"' in html
        assert f'href="{preferences}"' in html
        head, body = received.content.split(b"\r\n\r\n", 1)
        assert max(len(line) for line in body.split(b"\r\n")) <= 76  # quoted-printable
        assert max(len(line) for line in head.split(b"\r\n")) <= 200


def test_a_4xx_is_retried_and_delivered_once(app: Flask, relay: Relay, outbox: Outbox) -> None:
    relay.configure(app)
    relay.handler.data_replies = ["451 4.3.0 try again later"]
    outbox(1)

    report = send_until_idle(app)

    assert report.sent == 1
    assert report.retried == 1
    assert len(relay.handler.received) == 1
    (row,) = deliveries()
    assert row.status is DeliveryStatus.SENT
    assert row.attempts == 2
    assert row.first_attempt_at is not None


def test_a_recipient_5xx_fails_for_good_and_bounces_the_subscriber(
    app: Flask, relay: Relay, outbox: Outbox
) -> None:
    relay.configure(app)
    relay.handler.rcpt_replies = {"reader1@example.org": ["550 5.1.1 no such mailbox"] * 5}
    digest, ids = outbox(3)
    other = make_digest(audience_key="daily:it:energy", period_key="2026-11-20")
    enqueue_digest(other.id, [ids[1]])
    db.session.execute(
        sa.update(Delivery)
        .where(Delivery.digest_id == other.id)
        .values(next_attempt_at=utcnow() + timedelta(hours=1))
    )
    db.session.commit()

    send_until_idle(app)
    send_until_idle(app)

    assert relay.handler.rcpt_seen.count("reader1@example.org") == 1
    rows = {(r.digest_id, r.subscriber_id): r for r in deliveries()}
    failed = rows[(digest.id, ids[1])]
    assert failed.status is DeliveryStatus.FAILED
    assert failed.attempts == 1
    assert "550 5.1.1" in (failed.last_error or "")
    assert rows[(other.id, ids[1])].status is DeliveryStatus.CANCELLED
    assert rows[(digest.id, ids[0])].status is DeliveryStatus.SENT
    bounced = db.session.get(Subscriber, ids[1])
    assert bounced is not None
    assert bounced.status is SubscriberStatus.BOUNCED
    event = db.session.scalars(sa.select(ConsentEvent)).one()
    assert (event.action.value, event.channel, event.subscriber_id) == ("bounce", "relay", ids[1])


def test_a_message_level_5xx_fails_without_retry(app: Flask, relay: Relay, outbox: Outbox) -> None:
    relay.configure(app)
    relay.handler.data_replies = ["554 5.7.1 message refused"]
    _, ids = outbox(1)

    send_until_idle(app)
    send_until_idle(app)

    (row,) = deliveries()
    assert row.status is DeliveryStatus.FAILED
    assert row.attempts == 1
    assert relay.handler.received == []
    subscriber = db.session.get(Subscriber, ids[0])
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.ACTIVE


def test_a_connection_dropped_during_data_is_retried(
    app: Flask, relay: Relay, outbox: Outbox
) -> None:
    relay.configure(app)
    relay.handler.data_replies = [DROP]
    outbox(2)

    report = send_until_idle(app)

    assert report.sent == 2
    assert report.retried == 1
    assert sorted(relay.handler.by_recipient().values()) == [1, 1]
    rows = deliveries()
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert sorted(r.attempts for r in rows) == [1, 2]


def test_gives_up_after_the_configured_time(app: Flask, relay: Relay, outbox: Outbox) -> None:
    relay.configure(app, RETRY_GIVE_UP=3600)
    relay.handler.data_replies = ["421 4.7.0 busy"]
    outbox(1)
    db.session.execute(sa.update(Delivery).values(first_attempt_at=utcnow() - timedelta(hours=2)))
    db.session.commit()

    send_until_idle(app)

    (row,) = deliveries()
    assert row.status is DeliveryStatus.FAILED
    assert (row.last_error or "").startswith("gave up: 421")


def test_an_unreachable_relay_pauses_without_burning_attempts(
    app: Flask, outbox: Outbox, runner: Any
) -> None:
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_tcp_port())
    outbox(3)

    result = runner.invoke(args=["send", "--until-idle"])

    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: relay 127.0.0.1:")
    assert "unreachable" in lines[0]
    rows = deliveries()
    assert {(r.status, r.attempts, r.leased_by) for r in rows} == {(DeliveryStatus.QUEUED, 0, None)}


def test_inactive_subscribers_are_cancelled_not_sent(
    app: Flask, relay: Relay, outbox: Outbox
) -> None:
    relay.configure(app)
    _, ids = outbox(2)
    db.session.execute(
        sa.update(Subscriber)
        .where(Subscriber.id == ids[0])
        .values(status=SubscriberStatus.UNSUBSCRIBED)
    )
    db.session.commit()

    send_until_idle(app)

    statuses = {r.subscriber_id: r.status for r in deliveries()}
    assert statuses == {ids[0]: DeliveryStatus.CANCELLED, ids[1]: DeliveryStatus.SENT}
    assert list(relay.handler.by_recipient()) == ["reader1@example.org"]


def test_service_mail_has_no_list_headers_and_none_cancels(app: Flask, relay: Relay) -> None:
    relay.configure(app)
    ids = add_subscribers(2, prefix="pending", status=SubscriberStatus.PENDING)

    def render(delivery: Delivery) -> ServiceMail | None:
        if delivery.subscriber_id == ids[1]:
            return None
        assert delivery.subscriber is not None
        return ServiceMail(
            to=delivery.subscriber.email,
            subject="Conferma l'iscrizione",
            text="Conferma: https://newsletter.example.org/confirm/abc\n",
            html='<p><a href="https://newsletter.example.org/confirm/abc">Conferma</a></p>',
        )

    register_service_mail(app, "confirm", render)
    for sid in ids:
        db.session.add(Delivery(kind=DeliveryKind.CONFIRM, subscriber_id=sid))
    db.session.commit()

    send_until_idle(app)

    statuses = {r.subscriber_id: r.status for r in deliveries()}
    assert statuses == {ids[0]: DeliveryStatus.SENT, ids[1]: DeliveryStatus.CANCELLED}
    (received,) = relay.handler.received
    message = parse(received.content)
    assert message["To"] == "pending0@example.org"
    assert message["Subject"] == "Conferma l'iscrizione"
    assert not [h for h in message if h.lower().startswith("list-")]
    assert (
        "https://newsletter.example.org/confirm/abc" in message.get_body(("plain",)).get_content()
    )


def test_websub_rows_call_the_handler_and_retry_on_transport_errors(
    app: Flask, relay: Relay
) -> None:
    relay.configure(app)
    calls: list[int] = []

    def ping(delivery: Delivery) -> None:
        calls.append(delivery.id)
        if len(calls) == 1:
            raise TransportError("hub unreachable")

    register_outbox_handler(app, "websub", ping)
    db.session.add(Delivery(kind=DeliveryKind.WEBSUB, payload={"topic": "feed"}))
    db.session.commit()

    send_until_idle(app)

    (row,) = deliveries()
    assert len(calls) == 2
    assert row.status is DeliveryStatus.SENT
    assert row.attempts == 2
    assert relay.handler.received == []


def test_expired_leases_are_claimed_again(app: Flask, relay: Relay, outbox: Outbox) -> None:
    relay.configure(app)
    outbox(2)
    db.session.execute(
        sa.update(Delivery).values(
            status=DeliveryStatus.SENDING,
            leased_by="crashed:1",
            lease_expires_at=utcnow() - timedelta(seconds=1),
        )
    )
    db.session.commit()

    send_until_idle(app)

    assert {r.status for r in deliveries()} == {DeliveryStatus.SENT}
    assert len(relay.handler.received) == 2


def test_live_leases_are_left_alone(app: Flask, relay: Relay, outbox: Outbox) -> None:
    relay.configure(app)
    outbox(1)
    db.session.execute(
        sa.update(Delivery).values(
            status=DeliveryStatus.SENDING,
            leased_by="other:1",
            lease_expires_at=utcnow() + timedelta(minutes=5),
        )
    )
    db.session.commit()

    send_until_idle(app)

    assert relay.handler.received == []
    assert deliveries()[0].status is DeliveryStatus.SENDING


def test_rate_limit_is_respected(app: Flask, relay: Relay, outbox: Outbox) -> None:
    relay.configure(app, SEND_RATE=20.0, SEND_CONCURRENCY=4)
    outbox(50)

    started = time.monotonic()
    send_until_idle(app)
    elapsed = time.monotonic() - started

    assert len(relay.handler.received) == 50
    # A bucket of 20 tokens refilled at 20/s: the other 30 messages need at least 1.5 s.
    assert elapsed >= 1.45


def test_starttls_with_an_untrusted_certificate_is_refused(
    app: Flask, relay_factory: Callable[..., Relay], self_signed: Certificate, outbox: Outbox
) -> None:
    relay = relay_factory(certificate=self_signed)
    relay.configure(app, SMTP_SECURITY="starttls")
    outbox(1)

    report = send_until_idle(app)

    assert report.relay_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in report.relay_error
    assert relay.handler.received == []
    (row,) = deliveries()
    assert (row.status, row.attempts) == (DeliveryStatus.QUEUED, 0)

    app.config["SMTP_CA_FILE"] = str(self_signed.cert_file)
    report = send_until_idle(app)

    assert report.relay_error is None
    assert report.sent == 1
    assert len(relay.handler.received) == 1


def test_implicit_tls_verifies_the_certificate(
    app: Flask, relay_factory: Callable[..., Relay], self_signed: Certificate, outbox: Outbox
) -> None:
    relay = relay_factory(certificate=self_signed, implicit_tls=True)
    relay.configure(app, SMTP_SECURITY="tls")
    outbox(1)

    assert send_until_idle(app).relay_error is not None
    app.config["SMTP_CA_FILE"] = str(self_signed.cert_file)
    assert send_until_idle(app).sent == 1
    assert len(relay.handler.received) == 1


def test_auth_over_starttls(
    app: Flask, relay_factory: Callable[..., Relay], self_signed: Certificate, outbox: Outbox
) -> None:
    relay = relay_factory(certificate=self_signed, auth=("relayuser", "s3cret"))
    relay.configure(
        app,
        SMTP_SECURITY="starttls",
        SMTP_CA_FILE=str(self_signed.cert_file),
        SMTP_USERNAME="relayuser",
        SMTP_PASSWORD="wrong",
    )
    outbox(2)

    report = send_until_idle(app)
    assert report.relay_error is not None
    assert "refused the login" in report.relay_error
    assert relay.handler.received == []

    app.config["SMTP_PASSWORD"] = "s3cret"
    assert send_until_idle(app).sent == 2
    assert len(relay.handler.received) == 2
    assert relay.handler.logins
    assert set(relay.handler.logins) == {"relayuser"}


@pytest.mark.sqlite  # PostgreSQL allows several senders
def test_a_second_sender_on_sqlite_is_refused(app: Flask, outbox: Outbox, runner: Any) -> None:
    outbox(1)
    lock = SenderLock(app.instance_path)
    lock.acquire()
    try:
        result = runner.invoke(args=["send", "--until-idle"])
        with pytest.raises(Conflict):
            run_send(
                app,
                SmtpRelayTransport.from_config(app.config),
                until_idle=True,
                stop=threading.Event(),
            )
    finally:
        lock.release()
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "another sender is already running" in result.output
    assert deliveries()[0].status is DeliveryStatus.QUEUED


def test_recorded_times_are_stored_as_utc(
    app: Flask, relay: Relay, outbox: Outbox, backend: str
) -> None:
    relay.configure(app)
    relay.handler.data_replies = ["451 4.3.0 later"]
    outbox(2)
    before = utcnow()

    send_until_idle(app)

    raw = db.session.execute(
        sa.text("SELECT first_attempt_at, sent_at FROM delivery ORDER BY id")
    ).all()
    for first, sent in raw:
        for value in (first, sent):
            assert value is not None
            if backend == "sqlite":  # UTCDateTime keeps naive UTC text there, no offset
                assert "+" not in str(value)
    for row in deliveries():
        assert row.first_attempt_at is not None
        assert row.sent_at is not None
        assert before - timedelta(seconds=1) <= row.first_attempt_at <= row.sent_at


def test_send_until_idle_reports_progress_in_logs(
    app: Flask, relay: Relay, outbox: Outbox, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay.configure(app)
    outbox(60)
    monkeypatch.setattr("newsletter.progress.EVERY", 0.0)  # a line for every group recorded

    result = runner.invoke(args=["send", "--until-idle"])

    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("sending: ")
    assert "/60 (" in lines[0]
    assert lines[-1].startswith("sending: 60 in ")
    assert result.stdout.strip().startswith("sent 60,")
