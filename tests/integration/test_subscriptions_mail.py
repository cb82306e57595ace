"""The service e-mails in the outbox: what the sender will render and send, per language.

Until the sender exists the confirmation sits in the outbox; these renderers are what it calls."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask

from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.hooks import registry
from newsletter.subscriptions.models import Subscriber, SubscriberStatus
from newsletter.subscriptions.tokens import Purpose, read_token
from tests.fixtures.subscriptions import outbox, queued, subscriber_by_email

MAKE = Callable[..., Subscriber]


def _link(text: str, purpose: Purpose) -> str:
    found = re.search(rf"https://newsletter\.example\.org/{purpose.value}/(\S+)", text)
    assert found, text
    return found.group(1)


def test_renderers_are_registered(app: Flask) -> None:
    kinds = registry(app).service_mail
    assert {"confirm", "preferences"} <= kinds.keys()


def test_confirmation_in_italian_with_a_working_link(app: Flask, make_subscriber: MAKE) -> None:
    anna = make_subscriber("anna@example.org", SubscriberStatus.PENDING, topics=("energy",))
    [row] = outbox(DeliveryKind.CONFIRM)
    mail = registry(app).service_mail["confirm"](row)
    assert mail is not None
    assert mail.to == "anna@example.org"
    assert mail.subject == "Conferma l'iscrizione alla newsletter dell'Area Omogenea Cremasca"
    assert "su questi temi: Energia." in mail.text
    token = _link(mail.text, Purpose.CONFIRM)
    assert read_token(Purpose.CONFIRM, token).subscriber_id == anna.id
    assert f'href="https://newsletter.example.org/confirm/{token}"' in mail.html
    assert '<html lang="it">' in mail.html
    assert "Conferma la mia iscrizione" in mail.html
    assert not mail.list_headers


def test_confirmation_in_english(app: Flask, make_subscriber: MAKE) -> None:
    make_subscriber("ben@example.org", SubscriberStatus.PENDING, locale="en")
    [row] = outbox(DeliveryKind.CONFIRM)
    mail = registry(app).service_mail["confirm"](row)
    assert mail is not None
    assert mail.subject == "Confirm your subscription to the Area Omogenea Cremasca newsletter"
    assert "To confirm, open this link" in mail.text
    assert "on these topics: Welfare, Energy." in mail.text
    assert '<html lang="en">' in mail.html


def test_preferences_mail_for_an_active_address(app: Flask, make_subscriber: MAKE) -> None:
    from newsletter.subscriptions import service
    from newsletter.subscriptions.models import Frequency

    anna = make_subscriber("anna@example.org", locale="en")
    service.subscribe(
        service.SubscribeRequest("anna@example.org", ("welfare",), Frequency.DAILY, "it")
    )
    [row] = queued(DeliveryKind.PREFERENCES)
    mail = registry(app).service_mail["preferences"](row)
    assert mail is not None
    assert mail.subject == "Your Area Omogenea Cremasca newsletter subscription"
    assert (
        read_token(Purpose.PREFERENCES, _link(mail.text, Purpose.PREFERENCES)).subscriber_id
        == anna.id
    )


def test_moot_rows_render_nothing(app: Flask, make_subscriber: MAKE) -> None:
    from newsletter.subscriptions import service

    make_subscriber("anna@example.org")
    [confirm_row] = outbox(DeliveryKind.CONFIRM)
    assert registry(app).service_mail["confirm"](confirm_row) is None  # already active
    anna = subscriber_by_email("anna@example.org")
    assert anna is not None
    ghost = Delivery(kind=DeliveryKind.PREFERENCES, subscriber_id=anna.id)
    service.unsubscribe(anna.id)
    assert registry(app).service_mail["preferences"](ghost) is None
    service.erase(anna.id)
    assert (
        registry(app).service_mail["confirm"](
            Delivery(kind=DeliveryKind.CONFIRM, subscriber_id=anna.id)
        )
        is None
    )
