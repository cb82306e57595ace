"""Every kind of mail, as the sender hands it to a real (aiosmtpd) relay: the kit's identity,
readable without images and in dark mode, a plain-text part, and a SpamAssassin score of 0.0
with its local rules (``spamassassin -L -t``, Debian package ``spamassassin``) where installed.
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import subprocess
import threading
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.digests import service as digests
from newsletter.extensions import db
from tests.fixtures.alert_mail import alert_reader, issue_alert
from tests.fixtures.delivery import Relay
from tests.fixtures.digests import WEEKLY_FIRE, add_article, add_subscriber
from tests.fixtures.subscriptions import post_subscribe

BASE_URL = "https://newsletter.example.org"
SPAM_STATUS = re.compile(r"score=(-?\d+\.\d+)")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {
        "BASE_URL": BASE_URL,
        "MAIL_FROM": "Area Omogenea Cremasca <newsletter@newsletter.example.org>",
    }


def every_kind_of_mail(app: Flask, client: FlaskClient, relay: Relay) -> dict[str, EmailMessage]:
    """A weekly digest (Italian and English citizens, a mayor), a confirmation and a
    preferences mail, an urgent alert (Italian and English), each delivered once through the
    real sender."""
    relay.configure(app)
    app.config["RETRY_SCHEDULE_SECONDS"] = (0.0,)
    published = WEEKLY_FIRE - timedelta(days=2)
    add_article(
        "Rete ciclabile del Cremasco: nuovo tratto tra Ricengo e Pianengo",
        ["mobility"],
        published,
        summary="Tre chilometri separati dalla provinciale, illuminati e collegati alle scuole.",
        municipalities=["Crema"],
    )
    add_article(
        "Comunità energetiche: sportello di consulenza per i comuni",
        ["energy"],
        published - timedelta(hours=5),
        summary="Tecnici del Consorzio aiutano comuni e cittadini a costituire nuove comunità.",
    )
    add_subscriber("lettrice@example.org", ["mobility", "energy"])
    add_subscriber("reader@example.org", ["mobility"], locale="en")
    add_subscriber("sindaco@example.org", (), role="mayor", municipality="Crema")
    add_subscriber("gia.iscritta@example.org", ["energy"])
    digests.build_digests("weekly", at=WEEKLY_FIRE)
    post_subscribe(client, email="nuova@example.org", topics=["energy"])
    post_subscribe(client, email="gia.iscritta@example.org", topics=["energy"])
    alert_reader("avvisi@example.org", "Crema")
    alert_reader("alerts@example.org", "Offanengo", locale="en")
    issue_alert()
    db.session.remove()
    Sender(app, SmtpRelayTransport.from_config(app.config)).run(threading.Event(), until_idle=True)
    by_recipient = {}
    for received in relay.handler.received:
        message = email.message_from_bytes(received.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        by_recipient[received.rcpt_tos[0]] = message
    return {
        "digest-it": by_recipient["lettrice@example.org"],
        "digest-en": by_recipient["reader@example.org"],
        "digest-mayor": by_recipient["sindaco@example.org"],
        "confirm": by_recipient["nuova@example.org"],
        "preferences": by_recipient["gia.iscritta@example.org"],
        "alert-it": by_recipient["avvisi@example.org"],
        "alert-en": by_recipient["alerts@example.org"],
    }


def test_every_mail_carries_the_identity_and_stays_readable(
    app: Flask, client: FlaskClient, relay: Relay
) -> None:
    for kind, message in every_kind_of_mail(app, client, relay).items():
        text = message.get_body(("plain",))
        html_part = message.get_body(("html",))
        assert text is not None, kind
        assert html_part is not None, kind
        assert len(text.get_content().strip()) > 100, kind
        html = html_part.get_content()
        assert re.search(r'<meta name="color-scheme" content="light dark" ?/?>', html), kind
        assert "prefers-color-scheme: dark" in html, kind
        assert "Titillium Web" in html, kind  # first in the stack...
        assert re.search(r"Titillium Web'?,[^;\"]*sans-serif", html), kind  # ...with fallbacks
        assert "#0066cc" in html.lower(), kind  # the kit's primary blue
        assert "Area Omogenea Cremasca" in html, kind
        articles = lxml.html.fromstring(html).xpath("//*[@role='article']")
        assert len(articles) == 1, kind
        assert articles[0].get("aria-label", "").strip() == message["Subject"], kind
        # No text baked into images: every image is an article photo with its alt text.
        for image in re.findall(r"<img [^>]*>", html):
            assert 'alt="' in image, kind
        # The hidden preheader is hidden by display:none, not by a colour or size trick.
        hidden = re.findall(r'<div style="display:none;[^"]*">', html)
        assert len(hidden) <= 1, kind
        assert not re.search(r"color:\s*#f[0-9a-f]{5};[^>]*font-size:\s*1px", html), kind


@pytest.mark.skipif(shutil.which("spamassassin") is None, reason="spamassassin not installed")
def test_every_mail_scores_zero_with_spamassassin(
    app: Flask, client: FlaskClient, relay: Relay
) -> None:
    scores = {}
    for kind, message in every_kind_of_mail(app, client, relay).items():
        checked = subprocess.run(
            ["spamassassin", "-L", "-t"],
            input=message.as_bytes(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        report = checked.stdout.decode("utf-8", "replace")
        status = re.search(r"^X-Spam-Status: .*?(?=^\S)", report, re.M | re.S)
        assert status is not None, report[-2000:]
        score = SPAM_STATUS.search(status.group(0))
        assert score is not None, status.group(0)
        scores[kind] = (float(score.group(1)), " ".join(status.group(0).split()))
    assert {kind: s for kind, (s, _) in scores.items()} == dict.fromkeys(scores, 0.0), scores
