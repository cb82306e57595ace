"""A citizen finds their comune's page, subscribes with the comune pre-set (phone and desktop,
axe clean), confirms, and the next weekly digest opens with "Nel tuo comune"."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.digests.models import Digest
from newsletter.digests.service import build_digests, period_due
from newsletter.extensions import db
from newsletter.subscriptions.mail import render_confirm
from newsletter.subscriptions.models import Subscriber, SubscriberStatus
from tests.fixtures.browser import LiveServer, assert_accessible
from tests.fixtures.digests import add_article
from tests.fixtures.subscriptions import outbox, subscriber_by_email

pytestmark = pytest.mark.browser


def _check(page: Any, name: str, viewport: dict[str, int]) -> None:
    assert_accessible(page)
    shots = os.environ.get("PLACES_SHOTS_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{shots}/{viewport['width']}-{name}.png", full_page=True)


def test_subscribe_from_a_comunes_page_and_the_digest_opens_with_it(
    page: Any, live_server: LiveServer, app: Flask, viewport: dict[str, int]
) -> None:
    week = period_due("weekly")
    add_article(
        "Offanengo, nuova mensa scolastica",
        ["welfare"],
        week.start + timedelta(hours=5),
        municipalities=["Offanengo"],
    )
    add_article(
        "Offanengo, la sagra torna in piazza",
        ["governance"],
        week.start + timedelta(hours=6),
        municipalities=["Offanengo"],
    )
    page.goto(f"{live_server.url}/comuni")
    _check(page, "1-comuni", viewport)
    page.get_by_role("link", name="Offanengo", exact=True).click()
    expect(page.locator("h1")).to_have_text("Offanengo")
    assert page.locator("#municipality").input_value() == "offanengo"
    _check(page, "2-comune", viewport)

    address = f"ofelia-{viewport['width']}@example.org"
    page.locator("#email").fill(address)
    page.locator('input[name="topics"][value="welfare"]').check()
    page.get_by_label("Anche tutte le notizie su Offanengo, di qualsiasi tema").check()
    page.locator("#consent").check()
    page.get_by_role("button", name="Iscriviti").click()
    expect(page.locator("h1")).to_have_text("Controlla la tua casella di posta")
    _check(page, "3-check-inbox", viewport)

    person = subscriber_by_email(address)
    assert person is not None
    assert person.municipality is not None
    assert (person.municipality.name, person.local_news) == ("Offanengo", True)
    [row] = outbox(DeliveryKind.CONFIRM, person.id)
    mail = render_confirm(row)
    assert mail is not None
    link = re.search(r"/confirm/\S+", mail.text)
    assert link
    page.goto(live_server.url + link.group(0))
    page.get_by_role("button", name="Conferma la mia iscrizione").click()
    expect(page.locator("h1")).to_have_text("Iscrizione confermata")
    person = subscriber_by_email(address)
    assert person is not None
    assert person.status is SubscriberStatus.ACTIVE

    page.get_by_role("link", name="Gestisci la mia iscrizione").click()
    assert page.locator("#p-municipality").input_value() == "offanengo"
    expect(page.locator("#p-local-news")).to_be_checked()
    _check(page, "4-preferences", viewport)

    build_digests("weekly", week.end)
    digest = db.session.scalar(
        sa.select(Digest)
        .join(Delivery, Delivery.digest_id == Digest.id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Subscriber.email == address)
    )
    assert digest is not None
    assert digest.text.index("Nel tuo comune: Offanengo") < digest.text.index("nuova mensa")
    assert "la sagra torna in piazza" in digest.text  # off-topic, there through local_news
    page.goto("about:blank")
    page.set_content(digest.html)  # the digest as a mail client shows it
    assert page.get_by_role("heading", name="Nel tuo comune: Offanengo").is_visible()
    _check(page, "5-digest", viewport)
