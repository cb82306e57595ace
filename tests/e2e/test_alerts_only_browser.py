"""Only the urgent alerts, in a real browser (phone and desktop, axe clean on every page): a
person ticks nothing but "Avvisi urgenti per il mio comune" and a comune, confirms through the
mail the sender delivered to a local relay (aiosmtpd), receives an alert from that relay, is
told in the preference centre what they receive and cannot untick their only choice, and the
alert mail's own "stop urgent alerts" link ends their subscription.

Set ``ALERTS_ONLY_SHOTS_DIR`` to keep a full-page screenshot of every page visited."""

from __future__ import annotations

import email
import email.policy
import os
import re
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.extensions import db
from newsletter.subscriptions.models import SubscriberStatus
from tests.fixtures.alert_mail import issue_alert
from tests.fixtures.browser import LiveServer, assert_accessible
from tests.fixtures.delivery import Relay
from tests.fixtures.subscriptions import subscriber_by_email

pytestmark = pytest.mark.browser

ALERTS_LABEL = "Avvisi urgenti per il mio comune"


def _check(page: Any, name: str, viewport: dict[str, int]) -> None:
    assert_accessible(page)
    shots = os.environ.get("ALERTS_ONLY_SHOTS_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/{viewport['width']}-{name}.png", full_page=True)


def _send(app: Flask) -> None:
    db.session.remove()
    Sender(app, SmtpRelayTransport.from_config(app.config)).run(threading.Event(), until_idle=True)


def _mails_to(relay: Relay, address: str) -> list[EmailMessage]:
    found = []
    for received in relay.handler.received:
        if address in received.rcpt_tos:
            message = email.message_from_bytes(received.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def _text(message: EmailMessage) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return str(part.get_content())


def _path(text: str, base_url: str, prefix: str) -> str:
    found = re.search(rf"{re.escape(base_url)}({re.escape(prefix)}\S+)", text)
    assert found, text
    return found.group(1)


def test_subscribe_to_the_alerts_alone_through_the_browser(
    page: Any, live_server: LiveServer, app: Flask, relay: Relay, viewport: dict[str, int]
) -> None:
    address = f"sola-{viewport['width']}@example.org"
    base_url = app.config["BASE_URL"]
    relay.configure(app)

    # Only the alerts box and a comune: no topic, no comune's news.
    page.goto(f"{live_server.url}/subscribe")
    assert page.locator("#frequency-hint").inner_text() == (
        "Per la newsletter. Gli avvisi urgenti arrivano subito, qualunque sia la frequenza."
    )
    page.locator("#email").fill(address)
    page.locator("#municipality").select_option("offanengo")
    page.get_by_label(ALERTS_LABEL).check()
    page.locator("#consent").check()
    expect(page.locator('input[name="topics"]:checked')).to_have_count(0)
    _check(page, "1-subscribe", viewport)
    page.get_by_role("button", name="Iscriviti").click()
    expect(page.locator("h1")).to_have_text("Controlla la tua casella di posta")
    assert "Hai chiesto solo gli avvisi urgenti per Offanengo" in page.content()
    _check(page, "2-check-your-inbox", viewport)
    person = subscriber_by_email(address)
    assert person is not None
    assert (person.status, person.topic_slugs, person.alerts) == (
        SubscriberStatus.PENDING,
        [],
        True,
    )

    # Double opt-in through the mail the sender delivered to a real SMTP server.
    _send(app)
    [confirmation] = _mails_to(relay, address)
    assert "avvisi urgenti dell'Area Omogenea Cremasca per Offanengo" in _text(confirmation)
    page.goto(live_server.url + _path(_text(confirmation), base_url, "/confirm/"))
    page.get_by_role("button", name="Conferma la mia iscrizione").click()
    expect(page.locator("h1")).to_have_text("Iscrizione confermata")
    assert "riceverai per e-mail gli avvisi urgenti per Offanengo" in page.content()
    _check(page, "3-confirmed", viewport)
    person = subscriber_by_email(address)
    assert person is not None
    assert (person.status, person.topic_slugs, person.alerts) == (
        SubscriberStatus.ACTIVE,
        [],
        True,
    )

    # The preference centre says what they get; unticking the only choice is refused.
    page.get_by_role("link", name="Gestisci la mia iscrizione").click()
    assert "Al momento ricevi solo gli avvisi urgenti per Offanengo" in page.content()
    expect(page.get_by_label(ALERTS_LABEL)).to_be_checked()
    _check(page, "4-preferences", viewport)
    page.locator('label[for="p-alerts"]').click()  # the kit's label covers the box
    expect(page.get_by_label(ALERTS_LABEL)).not_to_be_checked()
    page.get_by_role("button", name="Salva le preferenze").click()
    summary = page.locator(".error-summary")
    assert "Per non ricevere più nulla da noi" in summary.inner_text()
    assert summary.get_by_role("link").get_attribute("href") == "#topics-field"
    assert page.locator("#p-municipality").input_value() == "offanengo"
    _check(page, "5-only-choice-error", viewport)
    person = subscriber_by_email(address)
    assert person is not None
    assert person.alerts is True

    # An alert for Offanengo reaches them through the relay.
    issue_alert(municipalities=["Offanengo"], headline="Offanengo: acqua non potabile")
    _send(app)
    confirmation_again, alert = _mails_to(relay, address)  # in the order received
    assert confirmation_again["Message-ID"] == confirmation["Message-ID"]
    assert alert["Subject"].startswith("Avviso — gravità: moderata · Offanengo")

    # The alert's own link: the page warns, the button ends the subscription.
    page.goto(live_server.url + _path(_text(alert), base_url, "/unsubscribe/alerts/"))
    assert "Gli avvisi urgenti sono tutto ciò che ricevi da noi" in page.content()
    _check(page, "6-stop-alerts", viewport)
    page.get_by_role("button", name="Non ricevere più gli avvisi urgenti").click()
    expect(page.locator("h1")).to_have_text("La tua iscrizione è annullata")
    _check(page, "7-unsubscribed", viewport)
    person = subscriber_by_email(address)
    assert person is not None
    assert (person.status, person.alerts) == (SubscriberStatus.UNSUBSCRIBED, False)
