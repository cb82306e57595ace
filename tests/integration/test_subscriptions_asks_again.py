"""A subscriber who asks again is answered, and nobody can be mail-bombed through the form.

Confirming sends nothing, but the confirmation mail minutes before used to count against the
one-mail-per-hour window: a person who confirmed and filled the form again (to change topics)
got no preferences link. Now each kind of service mail has its own window, and a cap counts
every kind together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.extensions import db
from newsletter.subscriptions import service
from newsletter.subscriptions.models import Frequency, SubscriberStatus
from newsletter.subscriptions.service import SubscribeRequest
from tests.fixtures.subscriptions import outbox, post_subscribe, subscriber_by_email

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def ask(email: str, at: datetime) -> None:
    service.subscribe(SubscribeRequest(email, ("welfare",), Frequency.WEEKLY, "it"), now=at)


def delivered() -> None:
    """What the sender does meanwhile: the queued service mails go out."""
    db.session.execute(
        sa.update(Delivery)
        .where(Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.SENT)
    )
    db.session.commit()


def kinds() -> list[tuple[DeliveryKind, DeliveryStatus]]:
    return [(d.kind, d.status) for d in outbox()]


def test_a_person_who_confirmed_minutes_ago_gets_the_preferences_link(app: Flask) -> None:
    ask("anna@example.org", T0)
    delivered()
    anna = subscriber_by_email("anna@example.org")
    assert anna is not None
    service.confirm(anna.id, now=T0 + timedelta(minutes=2))
    ask("anna@example.org", T0 + timedelta(minutes=5))  # to change topics
    assert kinds() == [
        (DeliveryKind.CONFIRM, DeliveryStatus.SENT),
        (DeliveryKind.PREFERENCES, DeliveryStatus.QUEUED),
    ]
    ask("anna@example.org", T0 + timedelta(minutes=6))  # and again: the window holds
    assert len(outbox(DeliveryKind.PREFERENCES)) == 1


def test_a_few_service_mails_per_hour_whatever_the_kind(app: Flask) -> None:
    app.config["CONFIRMATION_RESEND_WINDOW"] = 60  # an operator who allows quick resends
    app.config["SERVICE_MAIL_PER_HOUR"] = 3
    for minute in range(0, 30, 2):  # a request every two minutes for half an hour
        ask("bea@example.org", T0 + timedelta(minutes=minute))
        delivered()
    assert len(outbox()) == 3, "three mails in the hour, however often the form is posted"
    ask("bea@example.org", T0 + timedelta(minutes=61))
    assert len(outbox()) == 4, "the hour has passed: one more"


def test_the_page_says_the_same_for_every_address(app: Flask) -> None:
    client = app.test_client()
    ask("carla@example.org", T0)
    carla = subscriber_by_email("carla@example.org")
    assert carla is not None
    service.confirm(carla.id)
    answers = {
        email: post_subscribe(client, email, ip=f"198.51.100.{n}")
        for n, email in enumerate(["carla@example.org", "nuova@example.org"], start=10)
    }
    assert {r.status_code for r in answers.values()} == {200}
    bodies = {r.get_data(as_text=True) for r in answers.values()}
    assert len(bodies) == 1, "a confirmed address and a new one get the same page"
    carla = subscriber_by_email("carla@example.org")
    assert carla is not None
    assert carla.status is SubscriberStatus.ACTIVE
    assert [d.kind for d in outbox(subscriber_id=carla.id)] == [
        DeliveryKind.CONFIRM,
        DeliveryKind.PREFERENCES,
    ]
