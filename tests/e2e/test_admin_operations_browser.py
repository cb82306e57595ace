"""Admin round 2 in a real browser, phone and desktop: an editor edits an article's topics,
previews a mayor's digest and sends a test that reaches a real aiosmtpd relay; an admin dry-runs
a roster CSV with a bad row. axe finds no WCAG 2.1 AA violation on any of the new pages."""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from newsletter.admin.models import User
from newsletter.articles.models import Article, TopicAssignment
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.digests.service import period_due
from newsletter.extensions import db
from newsletter.reference.models import Municipality
from newsletter.subscriptions.models import Subscriber
from tests.fixtures.admin import (
    ADMIN_EMAIL,
    EDITOR_EMAIL,
    FAST_HASHING,
    PASSWORD,
    make_article,
    make_source,
)
from tests.fixtures.browser import LiveServer, assert_accessible
from tests.fixtures.delivery import Relay, add_subscribers

pytestmark = pytest.mark.browser


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def _sign_in(page: Any, server: LiveServer, email_address: str) -> None:
    page.goto(server.url + "/admin/")
    page.get_by_label("E-mail").fill(email_address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(server.url + "/admin/")


def _seeded_crema() -> None:
    """Crema is seeded by migration 0002; the tests give it its ISTAT code."""
    crema = db.session.scalar(sa.select(Municipality).where(Municipality.name == "Crema"))
    assert crema is not None
    crema.istat_code = "019035"


def test_editor_edits_topics_previews_a_mayors_digest_and_sends_a_test(
    app: Flask, page: Any, live_server: LiveServer, editor_user: User, relay: Relay
) -> None:
    _seeded_crema()
    published = period_due("weekly").start + timedelta(hours=3)  # inside the week the preview shows
    article = make_article(
        make_source(),
        "Nuove corse del bus per Crema",
        ("mobility",),
        published_at=published,
        created_at=published,
    )
    db.session.commit()
    _sign_in(page, live_server, EDITOR_EMAIL)

    page.goto(f"{live_server.url}/admin/articles/{article.id}")
    assert_accessible(page)
    page.locator("input[name=topics][value=mobility]").uncheck()
    page.locator("input[name=topics][value=energy]").check()
    page.get_by_role("button", name="Salva i temi").click()
    expect(page.get_by_role("status").get_by_text("Temi salvati")).to_have_count(1)
    assert_accessible(page)
    db.session.expire_all()
    links = db.session.get(Article, article.id).topic_links  # type: ignore[union-attr]
    assert [(link.topic.slug, link.assigned_by) for link in links] == [
        ("energy", TopicAssignment.EDITOR)
    ]

    nav = page.get_by_role("navigation", name="Area di amministrazione")
    nav.get_by_role("link", name="Anteprima").click()
    assert_accessible(page)
    page.locator("#frequency").select_option("weekly")
    page.locator("#mayor").select_option("Crema")
    page.get_by_role("button", name="Mostra l'anteprima").click()
    frame = page.frame_locator("iframe.preview-frame")
    frame.get_by_text("Nuove corse del bus per Crema").first.wait_for()
    assert "Nuove corse del bus per Crema" in page.locator("pre.preview-text").inner_text()
    assert_accessible(page)

    page.get_by_label("Invia una prova di questo notiziario a").fill("sindaco.prova@example.org")
    page.get_by_role("button", name="Invia una prova", exact=True).click()
    expect(page.get_by_role("status").get_by_text("sindaco.prova@example.org")).to_have_count(1)
    assert_accessible(page)
    assert relay.handler.received == []  # queued, not sent by the web request

    relay.configure(app)
    report = Sender(app, SmtpRelayTransport.from_config(app.config)).run(
        threading.Event(), until_idle=True
    )
    assert report.sent == 1
    (received,) = relay.handler.received
    assert received.rcpt_tos == ["sindaco.prova@example.org"]
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert str(message["Subject"]).startswith("[TEST] ")
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Nuove corse del bus per Crema" in text
    db.session.expire_all()
    assert db.session.scalar(
        sa.select(Delivery.payload).where(Delivery.kind == DeliveryKind.TEST)
    ) == {"frequency": "weekly", "topics": [], "lang": "it", "mayor": "Crema"}

    nav.get_by_role("link", name="Notiziari").click()
    expect(page.get_by_role("heading", name="Attività pianificate")).to_have_count(1)
    assert_accessible(page)


def test_admin_dry_runs_a_roster_with_a_bad_row(
    page: Any, live_server: LiveServer, admin_user: User
) -> None:
    _seeded_crema()
    (sid,) = add_subscribers(1, prefix="persona")
    db.session.commit()
    _sign_in(page, live_server, ADMIN_EMAIL)
    nav = page.get_by_role("navigation", name="Area di amministrazione")
    nav.get_by_role("link", name="Elenco istituzionale").click()
    assert_accessible(page)
    csv_text = (
        "email,role,municipality,topics,frequency,locale,name\n"
        "sindaco@comune.crema.cr.it,mayor,Crema,welfare,weekly,it,Sindaco\n"
        "vice@comune.crema.cr.it,wizard,Crema,welfare,weekly,it,Vice\n"
    )
    page.get_by_label("File CSV dell'elenco").set_input_files(
        files=[{"name": "roster.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
    )
    page.get_by_role("button", name="Carica").click()
    expect(page.get_by_role("heading", name="Prova: non è stato importato nulla")).to_have_count(1)
    errors = page.locator("ul.row-errors li")
    expect(errors).to_have_count(1)
    assert errors.first.inner_text().startswith("line 3:")
    assert_accessible(page)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 1

    page.goto(f"{live_server.url}/admin/subscribers/{sid}")
    expect(page.get_by_role("button", name="Cancella", exact=True)).to_have_count(1)
    assert_accessible(page)

    nav.get_by_role("link", name="Token API").click()
    page.get_by_label("Nome (il CMS che lo usa)").fill("CMS del Comune di Crema")
    page.get_by_role("button", name="Crea il token").click()
    assert page.locator("code.new-token").inner_text().strip()
    expect(page.get_by_role("button", name="Revoca")).to_have_count(1)
    assert_accessible(page)
    # A second token for the registry office: subscribers only, ticked in the form.
    page.get_by_label("Nome (il CMS che lo usa)").fill("Anagrafe")
    page.get_by_role("checkbox", name="articles").uncheck()
    page.get_by_role("checkbox", name="subscribers").check()
    page.get_by_role("button", name="Crea il token").click()
    row = page.get_by_role("row").filter(has_text="Anagrafe")
    row.wait_for()  # the page after the POST, not the form still showing
    assert row.locator("code").all_inner_texts()[1:] == ["subscribers"]
    assert_accessible(page)

    nav.get_by_role("link", name="Utenti").click()
    page.get_by_label("E-mail").fill("nuova.redattrice@consorzio.example")
    page.get_by_label("Password").fill("Salva-la-torta-bertolina")
    page.get_by_role("button", name="Crea l'account").click()
    expect(
        page.get_by_role("status").get_by_text("nuova.redattrice@consorzio.example")
    ).to_have_count(1)
    assert_accessible(page)

    nav.get_by_role("link", name="Fonti").click()
    expect(page.get_by_label("URL del feed")).to_have_count(1)
    assert_accessible(page)
