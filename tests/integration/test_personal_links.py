"""Personal links are built in one place; one from each place that hands them out opens its page.

The places: the service mails (confirmation, preferences link), a digest as the sender delivers
it to a relay (``List-Unsubscribe`` header and the footer's links), and the pages themselves
(the confirmed page's preferences link, the preference centre's export and unsubscribe links).
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Callable
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.delivery import outbox
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.extensions import db
from newsletter.hooks import registry
from newsletter.subscriptions.links import ENDPOINTS, personal_url
from newsletter.subscriptions.models import Subscriber, SubscriberStatus
from newsletter.subscriptions.tokens import Purpose
from tests.fixtures.delivery import Relay, make_digest

BASE = "https://newsletter.example.org"
HEADINGS = {
    Purpose.CONFIRM: "<h1>Confirm your subscription</h1>",
    Purpose.PREFERENCES: "<h1>Your preferences</h1>",
    Purpose.UNSUBSCRIBE: "<h1>Unsubscribe</h1>",
}
URL = re.compile(r"https?://[^\s\"'<>]+")


def opens(client: FlaskClient, url: str, purpose: Purpose) -> None:
    """The link is ours, routes to the page of its purpose, and that page answers."""
    assert url.startswith(f"{BASE}/") or url.startswith("/"), url
    path = url.removeprefix(BASE)
    endpoint, _args = client.application.url_map.bind("localhost").match(path, method="GET")
    assert endpoint == ENDPOINTS[purpose], url
    response = client.get(path)
    assert response.status_code == 200, (url, response.status_code)
    if purpose is Purpose.EXPORT:
        assert response.get_json()["email"] == "ada@example.org"
    else:
        assert HEADINGS[purpose] in response.get_data(as_text=True)


def service_mail_url(kind: DeliveryKind, subscriber: Subscriber) -> str:
    delivery = db.session.scalar(
        sa.select(Delivery).where(Delivery.kind == kind, Delivery.subscriber_id == subscriber.id)
    )
    assert delivery is not None
    mail = registry().service_mail[kind.value](delivery)
    assert mail is not None
    (url,) = {u for u in URL.findall(mail.text) if f"/{kind.value}/" in u}
    assert url in mail.html
    return url


@pytest.fixture
def ada(make_subscriber: Callable[..., Subscriber]) -> Subscriber:
    return make_subscriber("ada@example.org", SubscriberStatus.PENDING, locale="en")


def test_links_in_the_service_mails_open_their_pages(app: Flask, ada: Subscriber) -> None:
    client = app.test_client()
    opens(client, service_mail_url(DeliveryKind.CONFIRM, ada), Purpose.CONFIRM)
    ada.status = SubscriberStatus.ACTIVE
    outbox.enqueue(DeliveryKind.PREFERENCES, subscriber_id=ada.id)
    db.session.commit()
    opens(client, service_mail_url(DeliveryKind.PREFERENCES, ada), Purpose.PREFERENCES)


def test_links_in_a_delivered_digest_open_their_pages(
    app: Flask, ada: Subscriber, relay: Relay
) -> None:
    ada.status = SubscriberStatus.ACTIVE
    digest = make_digest()
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, [ada.id])
    db.session.commit()
    relay.configure(app)
    Sender(app, SmtpRelayTransport.from_config(app.config)).run(threading.Event(), until_idle=True)
    (received,) = relay.handler.received
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    header = message["List-Unsubscribe"].split("<", 1)[1].split(">", 1)[0]
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = text.get_content()
    unsubscribe = re.search(r"Annulla l'iscrizione: (\S+)", body)
    preferences = re.search(r"Preferenze: (\S+)", body)
    assert unsubscribe
    assert preferences

    client = app.test_client()
    opens(client, header, Purpose.UNSUBSCRIBE)
    opens(client, unsubscribe.group(1), Purpose.UNSUBSCRIBE)
    opens(client, preferences.group(1), Purpose.PREFERENCES)


def test_links_on_the_pages_open_their_pages(app: Flask, ada: Subscriber) -> None:
    client = app.test_client()
    confirm = personal_url(Purpose.CONFIRM, ada.id, ada.link_key)
    page = client.get(confirm.removeprefix(BASE))
    form = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert form
    confirmed = client.post(confirm.removeprefix(BASE), data={"csrf_token": form.group(1)})
    assert confirmed.status_code == 200
    (preferences,) = re.findall(r'href="(/preferences/[^"]+)"', confirmed.get_data(as_text=True))
    opens(client, preferences, Purpose.PREFERENCES)

    centre = client.get(preferences).get_data(as_text=True)
    (export,) = re.findall(r'href="(/export/[^"]+)"', centre)
    (unsubscribe,) = re.findall(r'href="(/unsubscribe/[^"]+)"', centre)
    opens(client, export, Purpose.EXPORT)
    opens(client, unsubscribe, Purpose.UNSUBSCRIBE)


def test_mail_links_follow_base_url_including_a_path(app: Flask, ada: Subscriber) -> None:
    app.config["BASE_URL"] = "https://comuni.example.org/newsletter"
    url = personal_url(Purpose.UNSUBSCRIBE, ada.id, ada.link_key)
    assert url.startswith("https://comuni.example.org/newsletter/unsubscribe/")
    assert personal_url("preferences", ada.id, ada.link_key, external=False).startswith(
        "/newsletter/preferences/"
    )
