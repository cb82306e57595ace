"""Opting in to urgent alerts in a real browser (phone and desktop, axe clean on every page):
the box ticked without a comune is an error that keeps what was typed; with a comune the person
subscribes, confirms through the link of the mail the sender delivered to a local relay
(aiosmtpd), and ends up active with alerts on; the preference centre shows the box ticked.

Set ``ALERTS_SHOTS_DIR`` to keep a full-page screenshot of every page visited."""

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
from newsletter.subscriptions.models import SubscriberStatus
from tests.fixtures.browser import LiveServer, assert_accessible
from tests.fixtures.delivery import Relay
from tests.fixtures.subscriptions import subscriber_by_email

pytestmark = pytest.mark.browser

ALERTS_LABEL = "Avvisi urgenti per il mio comune"
NEEDS_COMUNE = (
    "Gli avvisi urgenti riguardano un comune: scegli il tuo qui sopra, oppure togli la spunta."
)


def _check(page: Any, name: str, viewport: dict[str, int]) -> None:
    assert_accessible(page)
    shots = os.environ.get("ALERTS_SHOTS_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/{viewport['width']}-{name}.png", full_page=True)
        comune = page.locator("#municipality-field")
        if comune.count():  # the new box in its fieldset, at full size
            comune.screenshot(path=f"{shots}/{viewport['width']}-{name}-comune.png")


def _confirm_link(relay: Relay, address: str, base_url: str) -> str:
    """The confirmation link of the mail the relay received for ``address``, as a path."""
    [received] = [r for r in relay.handler.received if address in r.rcpt_tos]
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    found = re.search(rf"{re.escape(base_url)}(/confirm/\S+)", text.get_content())
    assert found, text.get_content()
    return found.group(1)


def test_opt_in_to_alerts_through_the_browser(
    page: Any, live_server: LiveServer, app: Flask, relay: Relay, viewport: dict[str, int]
) -> None:
    address = f"alba-{viewport['width']}@example.org"
    page.goto(f"{live_server.url}/subscribe")
    box = page.get_by_label(ALERTS_LABEL)
    expect(box).not_to_be_checked()
    _check(page, "1-subscribe", viewport)

    # Ticked without a comune: an error on the box, summarised at the top; nothing is lost.
    page.locator("#email").fill(address)
    page.locator('input[name="topics"][value="mobility"]').check()
    box.check()
    page.locator("#consent").check()
    page.get_by_role("button", name="Iscriviti").click()
    assert page.locator("#alerts-error").inner_text().endswith(NEEDS_COMUNE)
    summary = page.locator(".error-summary")
    assert summary.get_by_role("link", name=NEEDS_COMUNE).get_attribute("href") == "#alerts-field"
    box = page.get_by_label(ALERTS_LABEL)
    assert box.get_attribute("aria-invalid") == "true"
    expect(box).to_be_checked()
    assert page.locator("#email").input_value() == address
    expect(page.locator('input[name="topics"][value="mobility"]')).to_be_checked()
    expect(page.locator("#consent")).to_be_checked()
    assert subscriber_by_email(address) is None
    _check(page, "2-alerts-need-a-comune", viewport)

    # The fix is choosing the comune.
    page.locator("#municipality").select_option("offanengo")
    page.get_by_role("button", name="Iscriviti").click()
    expect(page.locator("h1")).to_have_text("Controlla la tua casella di posta")
    person = subscriber_by_email(address)
    assert person is not None
    assert person.status is SubscriberStatus.PENDING

    # The sender delivers the confirmation to a real SMTP server; its link confirms.
    relay.configure(app)
    Sender(app, SmtpRelayTransport.from_config(app.config)).run(threading.Event(), until_idle=True)
    page.goto(live_server.url + _confirm_link(relay, address, app.config["BASE_URL"]))
    page.get_by_role("button", name="Conferma la mia iscrizione").click()
    expect(page.locator("h1")).to_have_text("Iscrizione confermata")
    person = subscriber_by_email(address)
    assert person is not None
    assert person.municipality is not None
    assert (person.status, person.municipality.name, person.alerts) == (
        SubscriberStatus.ACTIVE,
        "Offanengo",
        True,
    )

    page.get_by_role("link", name="Gestisci la mia iscrizione").click()
    expect(page.get_by_label(ALERTS_LABEL)).to_be_checked()
    assert page.locator("#p-municipality").input_value() == "offanengo"
    _check(page, "3-preferences", viewport)
