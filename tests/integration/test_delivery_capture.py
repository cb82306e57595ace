"""The demo's mail capture: messages land as .eml files and demo-only pages show them."""

from __future__ import annotations

import smtplib
import threading
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from newsletter.delivery.capture import CaptureHandler, mail_folder
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.extensions import db
from newsletter.hooks import ServiceMail, register_service_mail
from newsletter.subscriptions.models import SubscriberStatus
from tests.conftest import make_app
from tests.fixtures.delivery import add_subscribers, free_tcp_port

CONFIRM_URL = "https://newsletter.example.org/confirm/abc.def"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"DEMO": True}


def capture_confirmation(app: Flask) -> Path:
    """Send a confirmation through the capture server, as the demo does."""
    (sid,) = add_subscribers(1, prefix="nuovo", status=SubscriberStatus.PENDING)
    register_service_mail(
        app,
        "confirm",
        lambda d: ServiceMail(
            to="nuovo0@example.org",
            subject="Conferma la tua iscrizione",
            text=f"Per confermare apri {CONFIRM_URL}\nGrazie.\n",
            html=f'<p><a href="{CONFIRM_URL}">Conferma</a></p><script>alert(1)</script>',
        ),
    )
    db.session.add(Delivery(kind=DeliveryKind.CONFIRM, subscriber_id=sid))
    db.session.commit()
    port = free_tcp_port()
    controller = Controller(CaptureHandler(mail_folder(app)), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(SMTP_PORT=port)
        report = Sender(app, SmtpRelayTransport.from_config(app.config)).run(
            threading.Event(), until_idle=True
        )
    finally:
        controller.stop()
    assert report.sent == 1
    (path,) = mail_folder(app).glob("*.eml")
    return path


def test_captured_mail_is_listed_and_shown_with_clickable_links(
    app: Flask, client: FlaskClient
) -> None:
    path = capture_confirmation(app)
    assert b"Conferma la tua iscrizione" in path.read_bytes()

    listing = client.get("/demo/mail")
    assert listing.status_code == 200
    assert "Conferma la tua iscrizione" in listing.text
    assert "nuovo0@example.org" in listing.text
    assert f'href="/demo/mail/{path.name}"' in listing.text

    shown = client.get(f"/demo/mail/{path.name}")
    assert shown.status_code == 200
    assert f'<a href="{CONFIRM_URL}">{CONFIRM_URL}</a>' in shown.text
    assert f'href="/demo/mail/{path.name}/html"' in shown.text

    html = client.get(f"/demo/mail/{path.name}/html")
    assert html.status_code == 200
    assert html.headers["Content-Security-Policy"].startswith("sandbox")
    assert "script-src" not in html.headers["Content-Security-Policy"]
    assert CONFIRM_URL in html.text


def test_unknown_or_malformed_names_are_404(app: Flask, client: FlaskClient) -> None:
    assert client.get("/demo/mail/20261121T100000-deadbeef.eml").status_code == 404
    assert client.get("/demo/mail/..%2Fsecret_key").status_code == 404


def test_the_pages_do_not_exist_outside_demo_mode(database_url: str, tmp_path: Path) -> None:
    plain = make_app(database_url, tmp_path / "plain")
    assert plain.test_client().get("/demo/mail").status_code == 404


def test_newest_first(app: Flask, client: FlaskClient) -> None:
    folder = mail_folder(app)
    folder.mkdir(parents=True, exist_ok=True)
    for name, subject in (
        ("20261120T080000-00000001.eml", "vecchio"),
        ("20261121T080000-00000002.eml", "nuovo"),
    ):
        (folder / name).write_bytes(
            f"From: a@b\r\nTo: c@d\r\nSubject: {subject}\r\n\r\nx\r\n".encode()
        )
    text = client.get("/demo/mail").text
    assert text.index("nuovo") < text.index("vecchio")
    assert "Posta catturata" in text  # Italian by default


def test_the_capture_handler_keeps_each_message(tmp_path: Path) -> None:
    port = free_tcp_port()
    controller = Controller(CaptureHandler(tmp_path / "mail"), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            for n in range(3):
                client.sendmail("a@example.org", ["b@example.org"], f"Subject: {n}\r\n\r\nx\r\n")
    finally:
        controller.stop()
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 3
