"""Urgent alerts in a real browser, phone and desktop: an editor writes a severe alert, checks
the preview, goes back and forth without losing anything, sends it for approval; a second
person (an administrator, in a browser of their own) approves it from the queue. axe finds no
WCAG 2.1 AA violation on any alert page, errors included."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from newsletter.admin.models import User
from newsletter.alerts.models import Alert, AlertState, MessageStatus
from newsletter.db import utcnow
from newsletter.extensions import db
from tests.fixtures.admin import ADMIN_EMAIL, EDITOR_EMAIL, FAST_HASHING, PASSWORD
from tests.fixtures.browser import LiveServer, assert_accessible

pytestmark = pytest.mark.browser

# Set to a folder (e.g. /tmp/alerts-admin-shots) to keep screenshots of each step for review.
SHOTS = os.environ.get("ALERTS_SCREENSHOTS")
HEADLINE = "Crema e Offanengo: esondazione del Serio, evacuare i piani terra"


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)


def _sign_in(page: Any, server: LiveServer, email: str) -> None:
    page.goto(server.url + "/admin/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(server.url + "/admin/")


def _nav(page: Any) -> Any:
    return page.get_by_role("navigation", name="Area di amministrazione")


def test_editor_issues_a_severe_alert_and_a_second_person_approves_it(
    page: Any,
    chromium: Any,
    viewport: dict[str, int],
    live_server: LiveServer,
    editor_user: User,
    admin_user: User,
) -> None:
    _sign_in(page, live_server, EDITOR_EMAIL)
    _nav(page).get_by_role("link", name="Avvisi").click()
    expect(page.get_by_text("Nessun avviso per ora.")).to_have_count(1)
    assert_accessible(page)
    page.get_by_role("link", name="Nuovo avviso").click()
    assert_accessible(page)
    _shot(page, "alert-form")

    # Nothing filled in: every error is named, at the top and at its field.
    page.get_by_role("button", name="Anteprima").click()
    summary = page.get_by_role("alert")
    expect(summary.get_by_text("Scegli almeno un comune, o tutti.")).to_have_count(1)
    assert page.locator("[aria-invalid=true]").count() >= 3
    assert_accessible(page)
    _shot(page, "alert-form-errors")

    until = (utcnow() + timedelta(hours=12)).astimezone(ZoneInfo("Europe/Rome"))
    page.get_by_label("Titolo", exact=True).fill(HEADLINE)
    page.get_by_label("Testo", exact=True).fill(
        "Il Serio supera la soglia di guardia.\nChi abita ai piani terra salga ai piani alti."
    )
    page.get_by_label("Gravità").select_option("severe")
    page.get_by_label("Crema", exact=True).check()
    page.get_by_label("Offanengo", exact=True).check()
    page.get_by_label("Fine", exact=True).fill(until.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_text("Versione inglese (facoltativa)").click()
    page.get_by_label("Titolo in inglese (facoltativo)").fill(
        "Crema and Offanengo: the Serio floods, leave the ground floors"
    )
    page.get_by_role("button", name="Anteprima").click()

    page.get_by_role("heading", name="Anteprima del nuovo avviso").wait_for()
    expect(page.get_by_text("Attende l'approvazione di una seconda persona.")).to_have_count(1)
    expect(page.get_by_text(f"Avviso — gravità: grave · {HEADLINE}")).to_have_count(1)
    expect(page.get_by_text("Crema, Offanengo")).to_have_count(2)  # Italian and English cards
    # The public page's own block: its severity badge, its facts.
    assert page.locator(".alert-preview .alert-severity").first.inner_text().endswith("Grave")
    assert_accessible(page)
    _shot(page, "alert-preview")

    # Back to the form: everything is still there, the line break in the text too.
    page.get_by_role("button", name="Torna a modificare").click()
    assert page.get_by_label("Titolo", exact=True).input_value() == HEADLINE
    assert "\n" in page.get_by_label("Testo", exact=True).input_value()
    expect(page.get_by_label("Offanengo", exact=True)).to_be_checked()
    assert page.get_by_label("Gravità").input_value() == "severe"
    page.get_by_role("button", name="Anteprima").click()
    page.get_by_role("button", name="Invia per l'approvazione").click()
    page.get_by_role("heading", level=1).get_by_text(HEADLINE).wait_for()
    expect(page.get_by_role("status").get_by_text("attende l'approvazione")).to_have_count(1)
    assert_accessible(page)
    _shot(page, "alert-detail-pending")

    # The issuer sees the message in the queue but cannot approve it.
    page.get_by_role("link", name="Apri la coda di approvazione").click()
    expect(page.get_by_text("Hai emesso tu questo messaggio")).to_have_count(1)
    expect(page.get_by_role("button", name="Approva e invia")).to_have_count(0)
    assert_accessible(page)
    _shot(page, "alert-queue-issuer")

    # A second person, in a browser of their own.
    context = chromium.new_context(viewport=viewport, locale="it-IT")
    try:
        second = context.new_page()
        _sign_in(second, live_server, ADMIN_EMAIL)
        badge = _nav(second).get_by_role("link", name="Avvisi (1 in attesa di approvazione)")
        expect(badge).to_have_count(1)
        assert_accessible(second)
        badge.click()
        second.get_by_role("link", name="Coda di approvazione").click()
        expect(second.get_by_text(HEADLINE).first).to_be_attached()
        expect(second.get_by_text("Il Serio supera la soglia di guardia.")).to_have_count(1)
        assert_accessible(second)
        _shot(second, "alert-queue")
        second.get_by_role("button", name="Approva e invia").click()
        expect(second.get_by_role("status").get_by_text("Approvato")).to_have_count(1)
        expect(second.get_by_text("Nessun messaggio in attesa di approvazione.")).to_have_count(1)
        assert_accessible(second)

        _nav(second).get_by_role("link", name="Avvisi").click()
        second.get_by_role("link", name=HEADLINE).click()
        expect(second.get_by_text(f"approvato da {ADMIN_EMAIL}")).to_have_count(1)
        expect(second.get_by_text("in vigore").first).to_be_attached()
        assert_accessible(second)
        _shot(second, "alert-detail")
    finally:
        context.close()

    db.session.expire_all()
    alert = db.session.scalars(sa.select(Alert)).one()
    assert alert.state is AlertState.PUBLISHED
    assert alert.messages[0].status is MessageStatus.RELEASED
    assert alert.messages[0].issued_by == EDITOR_EMAIL
    assert alert.messages[0].approved_by == ADMIN_EMAIL
    assert alert.headline_en == "Crema and Offanengo: the Serio floods, leave the ground floors"


def test_an_administrator_alone_at_night_sends_their_own_waiting_alert(
    page: Any, live_server: LiveServer, admin_user: User
) -> None:
    _sign_in(page, live_server, ADMIN_EMAIL)
    _nav(page).get_by_role("link", name="Avvisi").click()
    page.get_by_role("link", name="Nuovo avviso").click()
    page.get_by_label("Titolo", exact=True).fill(HEADLINE)
    page.get_by_label("Testo", exact=True).fill("Il Serio supera la soglia di guardia.")
    page.get_by_label("Gravità").select_option("severe")
    page.get_by_label("Crema", exact=True).check()
    until = (utcnow() + timedelta(hours=6)).astimezone(ZoneInfo("Europe/Rome"))
    page.get_by_label("Fine", exact=True).fill(until.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Anteprima").click()
    page.get_by_role("button", name="Invia per l'approvazione").click()
    page.get_by_role("link", name="Apri la coda di approvazione").click()
    expect(page.get_by_text("Hai emesso tu questo messaggio")).to_have_count(1)
    assert_accessible(page)
    _shot(page, "alert-queue-admin-alone")

    page.get_by_label("Come amministratore puoi inviarlo da solo").fill(
        "notte: nessun altro reperibile, il Serio cresce"
    )
    page.get_by_role("button", name="Invialo da solo").click()
    expect(
        page.get_by_role("status").get_by_text("Inviato senza seconda approvazione")
    ).to_have_count(1)
    expect(page.get_by_text("Nessun messaggio in attesa di approvazione.")).to_have_count(1)
    assert_accessible(page)

    db.session.expire_all()
    message = db.session.scalars(sa.select(Alert)).one().messages[0]
    assert message.status is MessageStatus.RELEASED
    assert message.override_reason == "notte: nessun altro reperibile, il Serio cresce"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)
