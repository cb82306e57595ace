"""The subscription journey in a real browser, in Italian and English, on a phone and a desktop:
subscribe -> confirm -> preferences -> unsubscribe, with axe-core (WCAG 2.1 A + AA) on each page.

Set ``SUBSCRIPTIONS_SHOTS_DIR`` to keep a full-page screenshot of every page visited."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from newsletter.delivery.models import DeliveryKind
from newsletter.subscriptions.mail import render_confirm
from newsletter.subscriptions.models import SubscriberStatus
from tests.fixtures.browser import LiveServer, assert_accessible
from tests.fixtures.subscriptions import outbox, subscriber_by_email

pytestmark = pytest.mark.browser

TEXT = {
    "it": {
        "subscribe": "Iscriviti",
        "done": "Controlla la tua casella di posta",
        "confirm": "Conferma la mia iscrizione",
        "confirmed": "Iscrizione confermata",
        "manage": "Gestisci la mia iscrizione",
        "save": "Salva le preferenze",
        "saved": "Le tue preferenze sono state salvate.",
        "unsubscribe": "Annulla l'iscrizione",
        "unsubscribed": "La tua iscrizione è annullata",
        "email_error": "Inserisci un indirizzo e-mail nella forma nome@esempio.it.",
        "weekly": "Una volta alla settimana",
        "daily": "Una volta al giorno",
    },
    "en": {
        "subscribe": "Subscribe",
        "done": "Check your inbox",
        "confirm": "Confirm my subscription",
        "confirmed": "Subscription confirmed",
        "manage": "Manage my subscription",
        "save": "Save preferences",
        "saved": "Your preferences have been saved.",
        "unsubscribe": "Unsubscribe",
        "unsubscribed": "You are unsubscribed",
        "email_error": "Enter an e-mail address in the form name@example.com.",
        "weekly": "Once a week",
        "daily": "Once a day",
    },
}


def _check(page: Any, name: str, request: pytest.FixtureRequest) -> None:
    """axe on the page as it is; optionally a full-page screenshot for people to look at."""
    assert_accessible(page)
    shots = os.environ.get("SUBSCRIPTIONS_SHOTS_DIR")
    if shots:
        viewport = request.node.callspec.params.get("viewport", "x")
        lang = request.node.callspec.params.get("lang", "x")
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/{viewport}-{lang}-{name}.png", full_page=True)


@pytest.mark.parametrize("lang", ["it", "en"])
def test_subscribe_confirm_preferences_unsubscribe(
    page: Any, live_server: LiveServer, app: Flask, lang: str, request: pytest.FixtureRequest
) -> None:
    t = TEXT[lang]
    address = f"journey-{lang}@example.org"
    page.goto(f"{live_server.url}/subscribe?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    _check(page, "1-subscribe", request)

    # A mistake first: the error is shown on the field, in the page's language, and announced.
    page.get_by_label(re.compile("e-mail", re.I)).first.fill("not-an-address")
    page.get_by_role("button", name=t["subscribe"]).click()
    email = page.locator("#email")
    assert email.get_attribute("aria-invalid") == "true"
    assert page.locator("#email-error").inner_text().endswith(t["email_error"])
    _check(page, "2-errors", request)

    email.fill(address)
    page.locator('input[name="topics"][value="energy"]').check()
    page.locator('input[name="topics"][value="mobility"]').check()
    page.get_by_label(t["weekly"]).check()
    page.locator(f'input[name="locale"][value="{lang}"]').check()
    page.locator("#consent").check()
    page.get_by_role("button", name=t["subscribe"]).click()
    expect(page.locator("h1")).to_have_text(t["done"])
    _check(page, "3-check-inbox", request)

    subscriber = subscriber_by_email(address)
    assert subscriber is not None
    assert subscriber.locale == lang
    [row] = outbox(DeliveryKind.CONFIRM, subscriber.id)
    mail = render_confirm(row)
    assert mail is not None
    page.goto("about:blank")  # leave the site, and its CSP, before showing the e-mail
    page.set_content(mail.html)  # the confirmation e-mail's HTML part, as a mail client shows it
    assert page.locator("html").get_attribute("lang") == lang
    _check(page, "3b-confirmation-email", request)
    link = re.search(r"/confirm/\S+", mail.text)
    assert link
    page.goto(live_server.url + link.group(0))
    _check(page, "4-confirm", request)
    page.get_by_role("button", name=t["confirm"]).click()
    expect(page.locator("h1")).to_have_text(t["confirmed"])
    _check(page, "5-confirmed", request)
    subscriber = subscriber_by_email(address)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.ACTIVE

    page.get_by_role("link", name=t["manage"]).click()
    expect(page.locator('input[value="energy"]')).to_be_checked()
    _check(page, "6-preferences", request)
    page.locator('input[name="topics"][value="governance"]').check()
    page.get_by_label(t["daily"]).check()
    page.get_by_role("button", name=t["save"]).click()
    expect(page.get_by_role("status")).to_have_text(t["saved"])
    _check(page, "7-saved", request)
    subscriber = subscriber_by_email(address)
    assert subscriber is not None
    assert subscriber.topic_slugs == ["energy", "governance", "mobility"]

    page.get_by_role("link", name=t["unsubscribe"]).click()
    _check(page, "8-unsubscribe", request)
    page.get_by_role("button", name=t["unsubscribe"]).click()
    expect(page.locator("h1")).to_have_text(t["unsubscribed"])
    _check(page, "9-unsubscribed", request)
    subscriber = subscriber_by_email(address)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.UNSUBSCRIBED
    # Not one cookie for the whole journey, forms included; in English only the language the
    # person chose with ?lang= against the browser's Italian (the privacy notice says so).
    cookies = page.context.cookies()
    assert [c["name"] for c in cookies] == ([] if lang == "it" else ["session"])


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("path", ["/", "/privacy", "/accessibility", "/topics/mobility", "/nope"])
def test_other_public_pages_are_accessible(
    page: Any, live_server: LiveServer, lang: str, path: str, request: pytest.FixtureRequest
) -> None:
    page.goto(f"{live_server.url}{path}?lang={lang}")
    expect(page.locator("footer a[href='/accessibility']")).to_have_count(1)
    name = {"/": "home", "/nope": "404"}.get(path, path.strip("/").replace("/", "-"))
    _check(page, f"0-{name}", request)
