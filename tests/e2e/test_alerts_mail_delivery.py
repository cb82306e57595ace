"""End to end: an urgent alert issued while a digest waits in the outbox, ``newsletter send
--until-idle`` (the real console script) to a real SMTP server (aiosmtpd): the alert's people,
once each and first; then the one-click alerts-only unsubscribe from the mail's own header, an
update and a cancellation that reach the same people but the one who left the alerts, whose
digests keep coming."""

from __future__ import annotations

import email
import subprocess
import sys
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

from newsletter.alerts import service as alerts
from newsletter.extensions import db
from newsletter.subscriptions.models import Subscriber
from tests.conftest import make_app
from tests.e2e.conftest import clean_env, free_port
from tests.fixtures.alert_mail import EDITOR, alert_body, alert_reader
from tests.fixtures.delivery import add_subscribers, enqueue_digest, make_digest
from tests.fixtures.digests import add_subscriber

BASE_URL = "https://newsletter.example.org"
CONCERNED = ["anna@example.org", "bob@example.org", "carla@example.org", "sindaca@example.org"]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        for rcpt in envelope.rcpt_tos:
            self.messages.append((rcpt, message))
        return "250 OK"

    def take(self) -> list[tuple[str, EmailMessage]]:
        taken, self.messages = self.messages, []
        return taken


def _send(env: dict[str, str], port: int, inbox: Inbox) -> list[tuple[str, EmailMessage]]:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "newsletter.cli", "send", "--until-idle"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        controller.stop()
    assert done.returncode == 0, done.stderr
    return inbox.take()


def _alert_mail(received: list[tuple[str, EmailMessage]]) -> dict[str, EmailMessage]:
    found = {rcpt: m for rcpt, m in received if m["List-Id"] == "<alerts.localhost>"}
    assert len(found) == sum(1 for _, m in received if m["List-Id"] == "<alerts.localhost>")
    return found


def test_an_alert_for_two_comuni_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    instance = tmp_path / "instance"
    env = clean_env(
        instance,
        NEWSLETTER_BASE_URL=BASE_URL,
        NEWSLETTER_SMTP_PORT=str(port),
        NEWSLETTER_SECRET_KEY="e2e-secret",
        NEWSLETTER_SEND_CONCURRENCY="1",  # one relay session: the relay sees the claim order
        NEWSLETTER_SEND_BATCH_SIZE="50",
    )
    upgraded = subprocess.run(
        [sys.executable, "-m", "newsletter.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    app: Flask = make_app(
        f"sqlite:///{instance / 'newsletter.sqlite3'}",
        instance,
        BASE_URL=BASE_URL,
        SECRET_KEY="e2e-secret",
    )
    with app.app_context():
        digest = make_digest()
        enqueue_digest(digest.id, add_subscribers(150, prefix="lettore"))  # queued first
        alert_reader("anna@example.org", "Crema")
        alert_reader("bob@example.org", "Crema", locale="en")
        alert_reader("carla@example.org", "Offanengo")
        alert_reader("sindaca@example.org", "Offanengo", role="mayor", topics=())
        alert_reader("dario@example.org", "Offanengo", alerts=False)
        alert_reader("elena@example.org", "Ricengo")  # a third comune
        add_subscriber("nocomune@example.org", ["welfare"])
        first = alerts.issue(alert_body(), actor=EDITOR)
        db.session.commit()
        alert_id = first.alert_id
        db.engine.dispose()

    inbox = Inbox()
    received = _send(env, port, inbox)
    assert len(received) == 154
    assert sorted(rcpt for rcpt, _ in received[:4]) == CONCERNED  # ahead of the digest
    mail = _alert_mail(received)
    assert sorted(mail) == CONCERNED  # exactly them, once each
    assert mail["anna@example.org"]["Subject"].startswith("Avviso — gravità: moderata · ")
    assert mail["bob@example.org"]["Subject"].startswith("Alert — severity: moderate · ")
    recipients = [rcpt for rcpt, _ in received]
    for nobody in ("dario@example.org", "elena@example.org", "nocomune@example.org"):
        assert nobody not in recipients

    # Bob leaves the alerts with his mail client's one-click button (RFC 8058).
    header = mail["bob@example.org"]["List-Unsubscribe"]
    url = header.split("<", 1)[1].split(">", 1)[0]
    assert url.startswith(f"{BASE_URL}/unsubscribe/alerts/")
    assert mail["bob@example.org"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    answer = app.test_client().post(
        url.removeprefix(BASE_URL), data={"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 200

    with app.app_context():
        update = alerts.update(
            alert_id,
            alert_body(municipalities=["Crema"], headline="Crema: acqua di nuovo potabile"),
            actor=EDITOR,
            note="riparato il guasto",
        )
        db.session.commit()
        assert update.sequence == 2
        later = make_digest(audience_key="weekly:en:mobility", period_key="2026-W48")
        bob = db.session.scalars(
            sa.select(Subscriber.id).where(Subscriber.email == "bob@example.org")
        ).one()
        enqueue_digest(later.id, [bob])  # his newsletter keeps coming
        db.engine.dispose()

    received = _send(env, port, inbox)
    mail = _alert_mail(received)
    following = ["anna@example.org", "carla@example.org", "sindaca@example.org"]
    assert sorted(mail) == following  # Offanengo too: it heard the alert
    assert all(
        m["Subject"] == f"Aggiornamento dell'avviso AOC-{alert_id} · Crema: acqua di nuovo potabile"
        for m in mail.values()
    )
    text = mail["carla@example.org"].get_body(("plain",))
    assert text is not None
    assert f"Questo messaggio aggiorna l'avviso AOC-{alert_id} del giorno " in text.get_content()
    assert [rcpt for rcpt, m in received if m["List-Id"] != "<alerts.localhost>"] == [
        "bob@example.org"
    ]

    with app.app_context():
        alerts.cancel(alert_id, actor=EDITOR, note="acqua di nuovo potabile ovunque")
        db.session.commit()
        db.engine.dispose()
    received = _send(env, port, inbox)
    mail = _alert_mail(received)
    assert sorted(mail) == following
    assert all(
        m["Subject"].startswith(f"Revoca dell'avviso AOC-{alert_id} · ") for m in mail.values()
    )
    body = mail["anna@example.org"].get_body(("plain",))
    assert body is not None
    assert "è revocato: non è più in vigore." in body.get_content()
