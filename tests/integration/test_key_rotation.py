"""Rotating ``SECRET_KEY``: mail sent before the rotation keeps working after it.

The mail goes out through the real sender to an aiosmtpd relay under the old key; then the
service restarts the way an operator would rotate (``NEWSLETTER_SECRET_KEY`` = a new key,
``NEWSLETTER_SECRET_KEY_FALLBACKS`` = the old one) on the same database. The links in the
received mail (body and ``List-Unsubscribe``, RFC 8058 one-click included), its VERP return
path, an admin session and an open admin form must all still be accepted, while everything new
is signed with the new key only.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from itsdangerous import BadSignature, URLSafeTimedSerializer

from newsletter.delivery.bounces import VerpSigner, process_bounce
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.extensions import db
from newsletter.signing import secret_keys
from newsletter.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from newsletter.subscriptions.tokens import Purpose, make_token
from tests.conftest import make_app
from tests.fixtures.admin import ADMIN_EMAIL, FAST_HASHING, csrf_token, login
from tests.fixtures.delivery import Relay

Outbox = Callable[..., Any]
NEW_KEY = "the-new-key-after-rotation-0123456789abcdef"
RETIRED_KEY = "a-key-retired-long-ago-0123456789abcdef"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def links(message: EmailMessage) -> tuple[str, str, str]:
    """The one-click URL from List-Unsubscribe, and the unsubscribe/preferences body links."""
    header = message["List-Unsubscribe"].split("<", 1)[1].split(">", 1)[0]
    text = next(p for p in message.iter_parts() if p.get_content_type() == "text/plain")
    body = text.get_content().replace("\r\n", "\n")
    unsubscribe = re.search(r"Annulla l'iscrizione: (\S+)", body)
    preferences = re.search(r"Preferenze: (\S+)", body)
    assert unsubscribe
    assert preferences
    return header, unsubscribe.group(1), preferences.group(1)


def path_of(url: str) -> str:
    assert url.startswith("https://newsletter.example.org/")
    return url[len("https://newsletter.example.org") :]


def rotated_app(
    monkeypatch: pytest.MonkeyPatch, database_url: str, instance: Path, fallbacks: str | None
) -> Flask:
    """The service restarted with a new key, configured through the environment."""
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", NEW_KEY)
    if fallbacks is None:
        monkeypatch.delenv("NEWSLETTER_SECRET_KEY_FALLBACKS", raising=False)
    else:
        monkeypatch.setenv("NEWSLETTER_SECRET_KEY_FALLBACKS", fallbacks)
    return make_app(database_url, instance, **FAST_HASHING)


def status_of(subscriber_id: int) -> SubscriberStatus:
    db.session.expire_all()
    found = db.session.get(Subscriber, subscriber_id)
    assert found is not None
    return found.status


def test_mail_sent_before_a_rotation_still_unsubscribes_after_it(
    app: Flask,
    relay: Relay,
    outbox: Outbox,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_key = str(app.config["SECRET_KEY"])
    relay.configure(app)
    _digest, ids = outbox(3)
    Sender(app, SmtpRelayTransport.from_config(app.config)).run(threading.Event(), until_idle=True)
    received = {r.rcpt_tos[0]: r for r in relay.handler.received}
    assert len(received) == 3
    mails = [parse(received[f"reader{n}@example.org"].content) for n in range(3)]
    bounce_to = received["reader2@example.org"].mail_from

    # Without the fallback, the old links are dead: this is what the setting prevents.
    broken = rotated_app(monkeypatch, database_url, tmp_path / "no-fallback", fallbacks=None)
    one_click, _unsubscribe, _preferences = links(mails[0])
    refused = broken.test_client(use_cookies=False).post(
        path_of(one_click), data={"List-Unsubscribe": "One-Click"}
    )
    assert refused.status_code == 400
    assert broken.test_client().get(path_of(_preferences)).status_code != 200

    rotated = rotated_app(
        monkeypatch, database_url, tmp_path / "rotated", fallbacks=f"{old_key}, {RETIRED_KEY}"
    )
    assert rotated.config["SECRET_KEY"] == NEW_KEY
    assert rotated.config["SECRET_KEY_FALLBACKS"] == [old_key, RETIRED_KEY]
    with rotated.app_context():
        # RFC 8058 one-click, as a mail client posts it: no cookies, no CSRF token.
        mail_client = rotated.test_client(use_cookies=False)
        response = mail_client.post(path_of(one_click), data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert status_of(ids[0]) is SubscriberStatus.UNSUBSCRIBED

        # The body link: the page, then its button; and the preference centre still opens.
        browser = rotated.test_client()
        _header, unsubscribe, preferences = links(mails[1])
        assert browser.get(path_of(preferences)).status_code == 200
        page = browser.get(path_of(unsubscribe))
        assert page.status_code == 200
        assert status_of(ids[1]) is SubscriberStatus.ACTIVE  # GET never unsubscribes
        done = browser.post(path_of(unsubscribe))
        assert done.status_code == 200
        assert status_of(ids[1]) is SubscriberStatus.UNSUBSCRIBED
        channels = sorted(e.channel for e in db.session.query(ConsentEvent).all())
        assert channels == ["one-click", "web"]

        # A bounce for the old mail still finds its delivery through the VERP return path.
        dsn = (
            f"From: MAILER-DAEMON@relay.example.org\r\nTo: {bounce_to}\r\n"
            "Subject: Undelivered\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; relay.example.org\r\n\r\n"
            "Final-Recipient: rfc822; reader2@example.org\r\nAction: failed\r\n"
            "Status: 5.1.1\r\n\r\n--b--\r\n"
        ).encode()
        with db.engine.begin() as conn:
            outcomes = process_bounce(conn, dsn, config=rotated.config)
        assert [o.subscriber_id for o in outcomes] == [ids[2]]
        assert status_of(ids[2]) is SubscriberStatus.BOUNCED

        # New links and return paths are signed with the new key only.
        fresh = make_token(Purpose.UNSUBSCRIBE, ids[0], "key")
        salt = "newsletter.unsubscribe"
        assert URLSafeTimedSerializer(NEW_KEY, salt=salt).loads(fresh) == [ids[0], "key"]
        with pytest.raises(BadSignature):
            URLSafeTimedSerializer(old_key, salt=salt).loads(fresh)
        address = VerpSigner(secret_keys(rotated.config), "localhost").address(7)
        assert VerpSigner(NEW_KEY, "localhost").read(address) == 7
        assert VerpSigner(old_key, "localhost").read(address) is None


def test_an_admin_session_and_an_open_form_survive_the_rotation(
    app: Flask,
    admin_user: Any,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_key = str(app.config["SECRET_KEY"])
    before = login(app.test_client(), ADMIN_EMAIL)
    form = before.get("/admin/tokens")
    assert form.status_code == 200
    token = csrf_token(form.get_data(as_text=True))
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    cookie = before.get_cookie(cookie_name)
    assert cookie is not None

    rotated = rotated_app(monkeypatch, database_url, tmp_path / "rotated", fallbacks=old_key)
    with rotated.app_context():
        after = rotated.test_client()
        after.set_cookie(cookie_name, cookie.value, domain=cookie.domain or "localhost")
        assert after.get("/admin/tokens").status_code == 200  # still signed in
        created = after.post("/admin/tokens", data={"name": "cms", "csrf_token": token})
        assert created.status_code == 200, created.get_data(as_text=True)[:300]
        assert "cms" in created.get_data(as_text=True)
