"""The outbox API: set-based, idempotent enqueueing; cancelling by kind; requeueing; bounces
reaching subscriptions through one function."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from newsletter.delivery import outbox
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.extensions import db
from newsletter.subscriptions import service
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
)
from tests.fixtures.delivery import add_subscribers, deliveries, make_digest


def _statuses() -> dict[int, tuple[str, str]]:
    return {d.id: (d.kind.value, d.status.value) for d in deliveries()}


def test_enqueue_many_inserts_once_per_subscriber_and_counts_what_it_inserted(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "CHUNK", 1000)  # three chunks, the last one short
    digest = make_digest()
    ids = add_subscribers(2_501)
    assert outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, ids) == 2_501
    db.session.commit()
    again = outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, [*ids[:10], *ids[-5:]])
    db.session.commit()
    assert again == 0
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery))
    assert count == 2_501
    rows = db.session.execute(
        sa.select(Delivery.subscriber_id, Delivery.status, Delivery.kind).order_by(
            Delivery.subscriber_id
        )
    ).all()
    assert [r.subscriber_id for r in rows] == ids
    assert {(r.status, r.kind) for r in rows} == {(DeliveryStatus.QUEUED, DeliveryKind.DIGEST)}


def test_enqueue_many_applies_the_callers_condition_inside_the_insert(app: Flask) -> None:
    digest = make_digest()
    active = add_subscribers(3, "active")
    gone = add_subscribers(2, "gone", SubscriberStatus.UNSUBSCRIBED)

    def still_active(subscriber_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        return sa.exists().where(
            Subscriber.id == subscriber_id, Subscriber.status == SubscriberStatus.ACTIVE
        )

    inserted = outbox.enqueue_many(
        DeliveryKind.DIGEST, digest.id, [*active, *gone], only=still_active
    )
    db.session.commit()
    assert inserted == 3
    assert sorted(d.subscriber_id for d in deliveries()) == active


def test_enqueue_many_is_one_statement_for_a_digest(app: Flask) -> None:
    """The ids travel as one parameter: 3,000 rows, one INSERT (plus the lock on PostgreSQL)."""
    digest = make_digest()
    ids = add_subscribers(3_000)
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split()[0].upper())

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, ids) == 3_000
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    db.session.commit()
    assert statements.count("INSERT") == 1
    assert len(deliveries()) == 3_000


@pytest.mark.postgres
def test_an_erasure_waits_for_a_build_inserting_rows_for_the_person_then_deletes_them(
    app: Flask,
) -> None:
    """Without a foreign key, the lock shared by enqueueing and taken by ``forget`` is what
    keeps an erasure complete while a build is writing rows for the same person."""
    digest = make_digest()
    [anna] = add_subscribers(1, "anna")
    db.session.commit()
    build = Session(db.engine)
    assert outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, [anna], session=build) == 1
    erased = threading.Event()
    errors: list[BaseException] = []

    def erase() -> None:
        try:
            with app.app_context():
                service.erase(anna)
                erased.set()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    eraser = threading.Thread(target=erase)
    eraser.start()
    time.sleep(1.0)
    assert not erased.is_set()  # waiting for the build's transaction
    build.commit()
    build.close()
    eraser.join(30)
    assert errors == []
    assert erased.is_set()
    assert [d.subscriber_id for d in deliveries()] == []


def test_unregistered_kinds_and_rows_without_their_subscriber_are_refused(app: Flask) -> None:
    with pytest.raises(ValueError, match="need a subscriber"):
        outbox.enqueue(DeliveryKind.CONFIRM)
    spec = outbox._KINDS.pop(DeliveryKind.TEST)
    try:
        with pytest.raises(ValueError, match="not registered"):
            outbox.enqueue(DeliveryKind.TEST, to_address="editor@example.org")
    finally:
        outbox.register_kind(spec)


def test_a_service_mail_supersedes_the_queued_one_and_cancel_picks_kinds(app: Flask) -> None:
    digest = make_digest()
    (reader,) = add_subscribers(1)
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, [reader])
    first = outbox.enqueue(DeliveryKind.CONFIRM, subscriber_id=reader)
    db.session.commit()
    second = outbox.enqueue(DeliveryKind.PREFERENCES, subscriber_id=reader)
    db.session.commit()
    assert _statuses()[first.id] == ("confirm", "cancelled")
    assert _statuses()[second.id] == ("preferences", "queued")

    assert outbox.cancel(reader, kinds=[DeliveryKind.DIGEST]) == 1
    db.session.commit()
    assert sorted(_statuses().values()) == [
        ("confirm", "cancelled"),
        ("digest", "cancelled"),
        ("preferences", "queued"),
    ]
    assert outbox.cancel(reader) == 1
    db.session.commit()
    assert {status for _kind, status in _statuses().values()} == {"cancelled"}


def test_requeue_puts_failed_rows_of_one_digest_back_keeping_attempts(app: Flask) -> None:
    digest = make_digest()
    ids = add_subscribers(3)
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, ids)
    db.session.execute(
        sa.update(Delivery)
        .where(Delivery.subscriber_id.in_(ids[:2]))
        .values(status=DeliveryStatus.FAILED, attempts=4, last_error="550 no")
    )
    db.session.commit()
    assert outbox.requeue(digest_id=digest.id) == 2
    db.session.commit()
    rows = deliveries()
    assert [(d.status, d.attempts, d.last_error) for d in rows] == [
        (DeliveryStatus.QUEUED, 4, None),
        (DeliveryStatus.QUEUED, 4, None),
        (DeliveryStatus.QUEUED, 0, None),
    ]


def test_mark_bounced_suppresses_through_subscriptions_and_cancels_queued_rows(
    app: Flask,
) -> None:
    digest = make_digest()
    (reader,) = add_subscribers(1)
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, [reader])
    db.session.commit()
    with db.engine.begin() as conn:
        soft = outbox.mark_bounced(
            conn, reader, reason="DSN 4.2.2", channel="dsn", notice_version="v1", hard=False,
            soft_limit=2, status="4.2.2",
        )  # fmt: skip
        hard = outbox.mark_bounced(
            conn, reader, reason="550 5.1.1 unknown user", channel="relay", notice_version="v1"
        )
        repeated = outbox.mark_bounced(
            conn, reader, reason="550 5.1.1 unknown user", channel="relay", notice_version="v1"
        )
    assert (soft, hard, repeated) == (False, True, False)
    db.session.expire_all()
    subscriber = db.session.get(Subscriber, reader)
    assert subscriber is not None
    assert (subscriber.status, subscriber.soft_bounces) == (SubscriberStatus.BOUNCED, 1)
    (event,) = db.session.scalars(sa.select(ConsentEvent))
    assert (event.action, event.channel) == (ConsentAction.BOUNCE, ConsentChannel.RELAY)
    assert event.details == {"reason": "550 5.1.1 unknown user"}
    assert [(d.status, d.last_error) for d in deliveries()] == [
        (DeliveryStatus.CANCELLED, "subscriber bounced")
    ]


def test_the_consent_channel_vocabulary_is_one_enum(app: Flask) -> None:
    from newsletter.subscriptions.service import record_consent

    assert {c.value for c in ConsentChannel} == {
        "web", "one-click", "email", "cli", "api", "admin", "dsn", "relay", "push"
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown consent channel"):
        record_consent(None, ConsentAction.ERASE, "fax")
