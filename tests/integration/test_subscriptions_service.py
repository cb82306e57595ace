"""Subscriptions service on both databases: double opt-in, the outbox, the consent ledger,
preferences, unsubscribe, export, erasure and the purge of stale pending addresses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.hooks import registry
from newsletter.subscriptions import service
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Frequency,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscriptions.service import Preferences, SubscribeRequest
from tests.fixtures.subscriptions import outbox, queued, subscriber_by_email

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _request(email: str = "anna@example.org", **kw: Any) -> SubscribeRequest:
    values: dict[str, Any] = {
        "topics": ("welfare", "mobility"),
        "frequency": Frequency.DAILY,
        "locale": "it",
    }
    values.update(kw)
    return SubscribeRequest(email=email, **values)


def _events(subscriber_id: int | None = None) -> list[ConsentEvent]:
    query = sa.select(ConsentEvent).order_by(ConsentEvent.id)
    if subscriber_id is not None:
        query = query.where(ConsentEvent.subscriber_id == subscriber_id)
    return list(db.session.scalars(query))


def test_subscribe_writes_pending_subscriber_confirm_row_and_ledger(app: Flask) -> None:
    service.subscribe(_request("Anna@Example.org", locale="en"), now=T0)
    anna = subscriber_by_email("anna@example.org")
    assert anna is not None
    assert anna.status is SubscriberStatus.PENDING
    assert anna.topic_slugs == ["mobility", "welfare"]
    assert (anna.frequency, anna.locale) == (Frequency.DAILY, "en")
    rows = outbox()
    assert [(d.kind, d.subscriber_id, d.status) for d in rows] == [
        (DeliveryKind.CONFIRM, anna.id, DeliveryStatus.QUEUED)
    ]
    [event] = _events(anna.id)
    assert event.action is ConsentAction.SUBSCRIBE
    assert event.channel == "web"
    assert event.notice_version == app.config["PRIVACY_NOTICE_VERSION"]
    assert event.details == {
        "topics": ["mobility", "welfare"],
        "frequency": "daily",
        "locale": "en",
    }


def test_fifty_submissions_make_one_confirmation(app: Flask) -> None:
    for i in range(50):
        service.subscribe(_request(), now=T0 + timedelta(seconds=i))
    assert len(outbox(DeliveryKind.CONFIRM)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 1


def test_another_confirmation_after_the_window_supersedes_the_first(app: Flask) -> None:
    window = app.config["CONFIRMATION_RESEND_WINDOW"]
    service.subscribe(_request(), now=T0)
    service.subscribe(_request(), now=T0 + timedelta(seconds=window - 1))
    assert len(outbox(DeliveryKind.CONFIRM)) == 1
    service.subscribe(_request(), now=T0 + timedelta(seconds=window))
    rows = outbox(DeliveryKind.CONFIRM)
    assert [d.status for d in rows] == [DeliveryStatus.CANCELLED, DeliveryStatus.QUEUED]


def test_active_address_gets_its_preferences_link_and_keeps_its_settings(
    app: Flask, make_subscriber: Callable[..., Subscriber]
) -> None:
    anna = make_subscriber("anna@example.org", topics=("energy",))
    confirms_before = len(outbox(DeliveryKind.CONFIRM))
    service.subscribe(_request(topics=("governance",)), now=T0)
    service.subscribe(_request(topics=("governance",)), now=T0 + timedelta(seconds=5))
    again = subscriber_by_email("anna@example.org")
    assert again is not None
    assert again.status is SubscriberStatus.ACTIVE
    assert again.topic_slugs == ["energy"]
    assert len(outbox(DeliveryKind.CONFIRM)) == confirms_before
    assert [d.subscriber_id for d in queued(DeliveryKind.PREFERENCES)] == [anna.id]


def test_unsubscribed_address_can_subscribe_again(
    app: Flask, make_subscriber: Callable[..., Subscriber]
) -> None:
    anna = make_subscriber("anna@example.org", SubscriberStatus.UNSUBSCRIBED)
    service.subscribe(_request(), now=T0)
    again = subscriber_by_email("anna@example.org")
    assert again is not None
    assert again.id == anna.id
    assert again.status is SubscriberStatus.PENDING
    assert len(queued(DeliveryKind.CONFIRM)) == 1


def test_unknown_topic_is_rejected_before_anything_is_written(app: Flask) -> None:
    with pytest.raises(ValidationError, match="sport"):
        service.subscribe(_request(topics=("sport",)), now=T0)
    assert subscriber_by_email("anna@example.org") is None
    assert outbox() == []


def test_confirm_activates_once(app: Flask) -> None:
    service.subscribe(_request(), now=T0)
    anna = subscriber_by_email("anna@example.org")
    assert anna is not None
    service.confirm(anna.id, now=T0 + timedelta(hours=1))
    service.confirm(anna.id, now=T0 + timedelta(hours=2))
    db.session.expire_all()
    assert anna.status is SubscriberStatus.ACTIVE
    assert anna.confirmed_at == T0 + timedelta(hours=1)
    assert [e.action for e in _events(anna.id)] == [ConsentAction.SUBSCRIBE, ConsentAction.CONFIRM]


def test_preferences_change_is_recorded_and_cancels_queued_digests(
    app: Flask,
    make_subscriber: Callable[..., Subscriber],
    queued_digest: Callable[[Subscriber], Delivery],
) -> None:
    anna = make_subscriber("anna@example.org")
    waiting = queued_digest(anna)
    service.update_preferences(anna.id, Preferences(("governance",), Frequency.IMMEDIATE, "en"))
    db.session.expire_all()
    assert anna.topic_slugs == ["governance"]
    assert (anna.frequency, anna.locale) == (Frequency.IMMEDIATE, "en")
    assert db.session.get(Delivery, waiting.id).status is DeliveryStatus.CANCELLED
    last = _events(anna.id)[-1]
    assert last.action is ConsentAction.PREFERENCES
    assert last.details == {"topics": ["governance"], "frequency": "immediate", "locale": "en"}


def test_unsubscribe_cancels_queued_mail_and_repeats_harmlessly(
    app: Flask,
    make_subscriber: Callable[..., Subscriber],
    queued_digest: Callable[[Subscriber], Delivery],
) -> None:
    anna = make_subscriber("anna@example.org")
    waiting = queued_digest(anna)
    assert service.unsubscribe(anna.id, channel="one-click") is True
    assert service.unsubscribe(anna.id, channel="one-click") is False
    db.session.expire_all()
    assert anna.status is SubscriberStatus.UNSUBSCRIBED
    assert db.session.get(Delivery, waiting.id).status is DeliveryStatus.CANCELLED
    unsubscribes = [e for e in _events(anna.id) if e.action is ConsentAction.UNSUBSCRIBE]
    assert [e.channel for e in unsubscribes] == ["one-click"]


def _text_columns() -> list[tuple[sa.Table, sa.Column[Any]]]:
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.String | sa.Text | sa.JSON | sa.Enum):
                found.append((table, column))
    return found


def _tables_mentioning(needle: str) -> list[str]:
    hits = []
    for table, column in _text_columns():
        values = db.session.execute(sa.select(column).select_from(table)).scalars()
        if any(needle in str(v).lower() for v in values if v is not None):
            hits.append(f"{table.name}.{column.name}")
    return hits


def test_erase_leaves_no_trace_of_the_address(
    app: Flask,
    make_subscriber: Callable[..., Subscriber],
    queued_digest: Callable[[Subscriber], Delivery],
) -> None:
    anna = make_subscriber("Anna.Rossi@Example.org")
    make_subscriber("bruno@example.org")
    queued_digest(anna)
    service.subscribe(_request("anna.rossi@example.org"), now=T0)  # a preferences-link row
    service.update_preferences(anna.id, Preferences(("energy",), Frequency.DAILY, "it"))
    assert _tables_mentioning("anna.rossi@example.org") == ["subscriber.email"]

    service.erase(anna.id)

    assert _tables_mentioning("anna.rossi") == []
    assert db.session.get(Subscriber, anna.id) is None
    assert outbox(subscriber_id=anna.id) == []
    erasures = [e for e in _events() if e.action is ConsentAction.ERASE]
    assert [(e.subscriber_id, e.details, e.actor) for e in erasures] == [(None, None, None)]
    assert subscriber_by_email("bruno@example.org") is not None


def test_erase_deletes_every_delivery_row_of_the_person_sent_ones_too(
    app: Flask,
    make_subscriber: Callable[..., Subscriber],
    queued_digest: Callable[[Subscriber], Delivery],
) -> None:
    """The outbox has no foreign key to cascade from (bulk speed): erase deletes the rows
    itself, whatever their kind or status, and nobody else's."""
    anna = make_subscriber("anna@example.org")
    bruno = make_subscriber("bruno@example.org")
    sent = queued_digest(anna)
    queued_digest(bruno)
    db.session.execute(
        sa.update(Delivery).where(Delivery.id == sent.id).values(status=DeliveryStatus.SENT)
    )
    db.session.commit()
    assert [d.status for d in outbox(subscriber_id=anna.id, kind=DeliveryKind.DIGEST)] == [
        DeliveryStatus.SENT
    ]
    assert len(outbox(subscriber_id=anna.id)) == 2  # and the confirmation mail

    service.erase(anna.id)

    assert outbox(subscriber_id=anna.id) == []
    assert [d.kind for d in outbox(subscriber_id=bruno.id)] == [
        DeliveryKind.CONFIRM,
        DeliveryKind.DIGEST,
    ]


def test_export_holds_everything_about_the_person(
    app: Flask, make_subscriber: Callable[..., Subscriber]
) -> None:
    anna = make_subscriber("anna@example.org", locale="en", topics=("energy", "welfare"))
    data = service.export_data(anna.id)
    assert data["email"] == "anna@example.org"
    assert data["status"] == "active"
    assert data["topics"] == ["energy", "welfare"]
    assert data["locale"] == "en"
    assert [e["action"] for e in data["consent_events"]] == ["subscribe", "confirm"]
    assert [e["kind"] for e in data["emails"]] == ["confirm"]


def test_pending_addresses_are_purged_after_the_ttl(
    app: Flask, make_subscriber: Callable[..., Subscriber]
) -> None:
    ttl = timedelta(days=app.config["PENDING_TTL_DAYS"])
    service.subscribe(_request("old@example.org"), now=T0)
    service.subscribe(_request("fresh@example.org"), now=T0 + ttl)
    make_subscriber("active@example.org")  # created long ago, but confirmed

    assert service.purge_pending(now=T0 + ttl - timedelta(minutes=1)) == 0
    assert service.purge_pending(now=T0 + ttl + timedelta(minutes=1)) == 1

    assert subscriber_by_email("old@example.org") is None
    assert subscriber_by_email("fresh@example.org") is not None
    assert subscriber_by_email("active@example.org") is not None
    assert all(d.subscriber_id is not None for d in outbox())
    assert len(outbox(DeliveryKind.CONFIRM)) == 2  # fresh's and active's, old's went with it


def test_purge_job_is_registered_daily(app: Flask) -> None:
    jobs = {job.name: job for job in registry(app).jobs}
    assert jobs["purge-pending"].trigger(app) == {"trigger": "cron", "hour": 3, "minute": 30}
    service.subscribe(_request("old@example.org"), now=T0 - timedelta(days=30))
    jobs["purge-pending"].func()
    assert subscriber_by_email("old@example.org") is None
