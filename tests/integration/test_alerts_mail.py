"""Urgent alerts by e-mail: who gets them, how they read, the priority lane, the alerts-only
unsubscribe; the sender against a real aiosmtpd relay, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import lxml.html
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.alerts import delivery as alert_mail
from newsletter.alerts import service as alerts
from newsletter.alerts.models import AlertRendition
from newsletter.db import utcnow
from newsletter.delivery import store
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.delivery.outbox import PRIORITY_ALERT
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import SmtpRelayTransport
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.subscriptions import service as subscriptions
from newsletter.subscriptions.links import personal_url_for
from newsletter.subscriptions.models import ConsentEvent, Subscriber, SubscriberStatus
from newsletter.subscriptions.queries import alert_audience
from newsletter.subscriptions.tokens import Purpose, read_token
from tests.fixtures.alert_mail import EDITOR, alert_body, alert_reader, alert_rows, issue_alert
from tests.fixtures.delivery import Relay, add_subscribers, enqueue_digest, make_digest
from tests.fixtures.digests import add_subscriber

BASE_URL = "https://newsletter.example.org"
# 1 July 2030, 14:00 to 20:00 in Rome (summer time: UTC+2).
STARTS = datetime(2030, 7, 1, 12, 0, tzinfo=UTC)
EXPIRES = datetime(2030, 7, 1, 18, 0, tzinfo=UTC)


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def send_until_idle(app: Flask) -> None:
    db.session.remove()
    Sender(app, SmtpRelayTransport.from_config(app.config)).run(threading.Event(), until_idle=True)


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    municipality_id: int | None


def readers() -> dict[str, Person]:
    """Two comuni's opted-in people, and everyone who must not get their alert."""
    people = {
        "anna": alert_reader("anna@example.org", "Crema"),
        "bob": alert_reader("bob@example.org", "Crema", locale="en"),
        "carla": alert_reader("carla@example.org", "Offanengo"),
        "sindaca": alert_reader("sindaca@example.org", "Offanengo", role="mayor", topics=()),
        "dario": alert_reader("dario@example.org", "Offanengo", alerts=False),  # did not ask
        "elena": alert_reader("elena@example.org", "Ricengo"),  # a third comune
        "fabio": alert_reader("fabio@example.org", "Crema", status="pending"),  # unconfirmed
        "gina": alert_reader("gina@example.org", "Crema"),
        "nocomune": add_subscriber("nocomune@example.org", ["welfare"]),
    }
    subscriptions.unsubscribe(people["gina"].id)  # left
    return {n: Person(p.id, p.email, p.municipality_id) for n, p in people.items()}


def concerned(people: dict[str, Person]) -> set[int]:
    return {people[name].id for name in ("anna", "bob", "carla", "sindaca")}


def test_an_alert_reaches_the_opted_in_people_of_its_comuni_once_each(app: Flask) -> None:
    people = readers()
    message = issue_alert()
    rows = alert_rows(message.id)
    assert sorted(r.subscriber_id for r in rows) == sorted(concerned(people))  # type: ignore[type-var]
    assert {r.priority for r in rows} == {PRIORITY_ALERT}
    assert {r.status for r in rows} == {DeliveryStatus.QUEUED}
    assert {r.dedupe_key for r in rows} == {f"alert:{message.id}:{i}" for i in concerned(people)}
    renditions = alert_mail.renditions_of(message.id)
    assert [r.locale for r in renditions] == ["en", "it"]  # once per language present
    by_locale = {r.locale: r.id for r in renditions}
    for row in rows:
        assert row.payload is not None
        locale = "en" if row.subscriber_id == people["bob"].id else "it"
        assert row.payload["rendition"] == by_locale[locale]
        assert datetime.fromisoformat(row.payload["expires"]) == message.expires_at
    # Released again (a retry): no second row for anyone, no second rendering.
    notice = alerts.notice_of(message)
    assert alert_mail.enqueue_mail(notice, now=utcnow()) == 0
    db.session.commit()
    assert len(alert_rows(message.id)) == 4
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AlertRendition)) == 2


def test_the_audience_is_subscriptions_rule(app: Flask) -> None:
    people = readers()
    everyone = {sid for sid, _ in alert_audience(None)}
    assert everyone == concerned(people) | {people["elena"].id}
    assert alert_audience([]) == []
    locales = dict(alert_audience([people["bob"].municipality_id or 0]))
    assert locales[people["bob"].id] == "en"
    with pytest.raises(ValidationError, match="municipality"):
        subscriptions.set_alerts(people["nocomune"].id, True)


def test_an_alert_for_every_comune_reaches_everyone_who_asked(app: Flask) -> None:
    people = readers()
    message = issue_alert(municipalities=["*"], headline="Allerta meteo arancione nel Cremasco")
    assert {r.subscriber_id for r in alert_rows(message.id)} == concerned(people) | {
        people["elena"].id
    }
    it = next(r for r in alert_mail.renditions_of(message.id) if r.locale == "it")
    assert "Comuni: tutti i comuni dell'Area Omogenea Cremasca" in it.text


def test_the_mail_says_in_words_what_it_is_how_serious_where_and_when(app: Flask) -> None:
    readers()
    message = issue_alert(starts_at=STARTS.isoformat(), expires_at=EXPIRES.isoformat())
    it, en = (
        next(r for r in alert_mail.renditions_of(message.id) if r.locale == locale)
        for locale in ("it", "en")
    )
    number = f"AOC-{message.alert_id}"
    assert it.subject == (
        "Avviso — gravità: moderata · Crema e Offanengo: acqua non potabile fino a sera"
    )
    assert en.subject.startswith("Alert — severity: moderate · Crema and Offanengo: tap water")
    for text in (it.text,):
        assert text.startswith("Avviso — gravità: moderata\n\nCrema e Offanengo: acqua")
        assert "Comuni: Crema, Offanengo\n" in text
        assert "Inizio: 1 luglio 2030, 14:00\n" in text  # Europe/Rome, summer time
        assert "Scadenza: 1 luglio 2030, 20:00\n" in text
        assert f"Numero dell'avviso: {number}\n" in text
        assert "Maggiori informazioni: https://www.comune.crema.cr.it/acqua\n" in text
        assert f"L'avviso sul nostro sito: {BASE_URL}/avvisi/{message.alert_id}\n" in text
        assert "Autobotti in piazza Duomo" in text
        assert "Non ricevere più gli avvisi urgenti: %%UNSUBSCRIBE_URL%%" in text
        assert "Modifica le preferenze: %%PREFERENCES_URL%%" in text
    assert "Starts: 1 July 2030, 14:00\n" in en.text
    assert "Water tankers in piazza Duomo" in en.text
    page = lxml.html.fromstring(it.html)
    article = page.xpath("//*[@role='article']")
    assert len(article) == 1
    assert article[0].get("aria-label") == it.subject
    assert page.xpath("//h1")[0].text_content().strip().startswith("Crema e Offanengo")
    band = " ".join(page.xpath("//h1/preceding::p[1]")[0].text_content().split())
    assert band == "Avviso — gravità: moderata"  # in words, on the coloured band
    links = {a.get("href") for a in page.xpath("//a")}
    assert {"%%UNSUBSCRIBE_URL%%", "%%PREFERENCES_URL%%"} <= links
    assert f"{BASE_URL}/avvisi/{message.alert_id}" in links
    assert 'lang="it"' in it.html
    assert 'content="light dark"' in it.html


def test_follow_ups_reach_the_same_people_and_refer_to_the_original(app: Flask) -> None:
    people = readers()
    first = issue_alert(starts_at=STARTS.isoformat(), expires_at=EXPIRES.isoformat())
    number = f"AOC-{first.alert_id}"
    update = alerts.update(
        first.alert_id,
        alert_body(
            municipalities=["Crema"],
            severity="minor",
            headline="Crema: acqua di nuovo potabile in centro",
            headline_en=None,
            text_en=None,
            starts_at=STARTS.isoformat(),
            expires_at=EXPIRES.isoformat(),
        ),
        actor=EDITOR,
        note="riparato il guasto in centro",
    )
    db.session.commit()
    # Offanengo heard the alert: it hears the update too, though the update names only Crema.
    assert {r.subscriber_id for r in alert_rows(update.id)} == concerned(people)
    it = next(r for r in alert_mail.renditions_of(update.id) if r.locale == "it")
    en = next(r for r in alert_mail.renditions_of(update.id) if r.locale == "en")
    headline = "Crema: acqua di nuovo potabile in centro"
    assert it.subject == f"Aggiornamento dell'avviso {number} · {headline}"
    assert it.text.startswith(f"Aggiornamento dell'avviso {number} — gravità: lieve\n")
    assert f"Questo messaggio aggiorna l'avviso {number} del giorno " in it.text
    assert "Cosa cambia: riparato il guasto in centro" in it.text
    assert "Comune: Crema\n" in it.text
    assert en.subject == f"Update to alert {number} · {headline}"

    cancel = alerts.cancel(first.alert_id, actor=EDITOR, note="guasto riparato ovunque")
    db.session.commit()
    assert cancel is not None
    assert {r.subscriber_id for r in alert_rows(cancel.id)} == concerned(people)
    it = next(r for r in alert_mail.renditions_of(cancel.id) if r.locale == "it")
    en = next(r for r in alert_mail.renditions_of(cancel.id) if r.locale == "en")
    assert it.subject.startswith(f"Revoca dell'avviso {number} · ")
    assert it.text.startswith(f"Revoca dell'avviso {number}\n")
    assert f"L'avviso {number} del giorno " in it.text
    assert "è revocato: non è più in vigore." in it.text
    assert "Scadenza" not in it.text
    assert en.subject.startswith(f"Cancellation of alert {number} · ")
    assert "is withdrawn: it is no longer in force." in en.text


def test_alert_mail_goes_out_ahead_of_a_queued_digest_with_its_own_list(
    app: Flask, relay: Relay
) -> None:
    """The priority lane: 120 digest rows queued first, the alert's rows claimed and sent
    before any of them (one sending thread, so the relay sees the claim order)."""
    relay.configure(app, SEND_CONCURRENCY=1, SEND_BATCH_SIZE=50)
    digest = make_digest()
    enqueue_digest(digest.id, add_subscribers(120, prefix="lettore"))
    people = readers()
    message_id = issue_alert().id

    claimed = store.claim(db.engine, worker="probe", limit=10, lease_seconds=60)
    assert [c.kind for c in claimed[:4]] == [DeliveryKind.ALERT] * 4
    assert {c.kind for c in claimed[4:]} == {DeliveryKind.DIGEST}
    store.release(db.engine, [c.id for c in claimed])

    send_until_idle(app)

    received = relay.handler.received
    assert len(received) == 124
    first = [r.rcpt_tos[0] for r in received[:4]]
    assert sorted(first) == sorted(people[n].email for n in ("anna", "bob", "carla", "sindaca"))
    counts = relay.handler.by_recipient()
    assert all(counts[people[n].email] == 1 for n in ("anna", "bob", "carla", "sindaca"))
    for name in ("dario", "elena", "fabio", "gina", "nocomune"):
        assert people[name].email not in counts
    assert {r.status for r in alert_rows(message_id)} == {DeliveryStatus.SENT}
    for item in received[:4]:
        mail = parse(item.content)
        subscriber = db.session.scalar(
            sa.select(Subscriber).where(Subscriber.email == item.rcpt_tos[0])
        )
        assert subscriber is not None
        assert mail["List-Id"] == "<alerts.localhost>"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = mail["List-Unsubscribe"].split("<", 1)[1].split(">", 1)[0]
        assert url.startswith(f"{BASE_URL}/unsubscribe/alerts/")
        claim = read_token(Purpose.UNSUBSCRIBE_ALERTS, url.rsplit("/", 1)[1])
        assert claim.subscriber_id == subscriber.id
        text = mail.get_body(("plain",))
        html = mail.get_body(("html",))
        assert text is not None
        assert html is not None
        body = text.get_content()
        assert "%%" not in body
        assert "%%" not in html.get_content()
        assert url in body
        assert f'href="{url}"' in html.get_content()
        preferences = body.rsplit(f"{BASE_URL}/preferences/", 1)[1].split()[0]
        assert read_token(Purpose.PREFERENCES, preferences).subscriber_id == subscriber.id
        expected = "Alert — severity" if subscriber.locale == "en" else "Avviso — gravità"
        assert mail["Subject"].startswith(expected)


def test_queued_alert_mail_is_dropped_once_it_is_moot(app: Flask, relay: Relay) -> None:
    relay.configure(app)
    people = readers()
    message_id = issue_alert().id
    # Alerts turned off by a door that left the queued row alone (an import, a direct edit):
    # the sender checks again before sending.
    db.session.execute(
        sa.update(Subscriber).where(Subscriber.id == people["anna"].id).values(alerts=False)
    )
    db.session.commit()
    subscriptions.unsubscribe(people["carla"].id)  # cancels her queued rows at once
    send_until_idle(app)
    by_subscriber = {r.subscriber_id: r for r in alert_rows(message_id)}
    anna = by_subscriber[people["anna"].id]
    assert anna.status is DeliveryStatus.CANCELLED
    assert anna.last_error == "subscriber turned urgent alerts off"
    assert by_subscriber[people["carla"].id].status is DeliveryStatus.CANCELLED
    assert sorted(relay.handler.by_recipient()) == ["bob@example.org", "sindaca@example.org"]

    short_id = issue_alert(expires_at=(utcnow() + timedelta(seconds=1.5)).isoformat()).id
    time.sleep(1.6)
    send_until_idle(app)
    rows = alert_rows(short_id)
    assert len(rows) == 2
    assert {r.status for r in rows} == {DeliveryStatus.CANCELLED}
    assert {r.last_error for r in rows} == {"expired before it could be sent"}
    assert len(relay.handler.received) == 2


def test_one_click_alerts_only_unsubscribe_leaves_the_digests_alone(
    app: Flask, client: FlaskClient
) -> None:
    reader = alert_reader("anna@example.org", "Crema", topics=("welfare", "energy"))
    digest = make_digest()
    enqueue_digest(digest.id, [reader.id])
    message = issue_alert()
    url = personal_url_for(Purpose.UNSUBSCRIBE_ALERTS, reader, external=False)
    assert url.startswith("/unsubscribe/alerts/")

    page = client.get(url)
    assert page.status_code == 200
    assert "Non ricevere più gli avvisi urgenti" in page.get_data(as_text=True)
    assert db.session.get(Subscriber, reader.id).alerts is True  # type: ignore[union-attr]

    answer = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    db.session.expire_all()
    subscriber = db.session.get(Subscriber, reader.id)
    assert subscriber is not None
    assert subscriber.alerts is False
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert subscriber.topic_slugs == ["energy", "welfare"]
    rows = {r.kind: r for r in db.session.scalars(sa.select(Delivery))}
    assert rows[DeliveryKind.ALERT].status is DeliveryStatus.CANCELLED
    assert rows[DeliveryKind.DIGEST].status is DeliveryStatus.QUEUED
    ledger = db.session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == reader.id)
        .order_by(ConsentEvent.id)
    ).all()
    last = ledger[-1]
    assert (last.action.value, last.channel) == ("preferences", "one-click")
    assert last.details is not None
    assert last.details["alerts"] is False
    assert last.details["change"] == "unsubscribe"
    assert last.details["municipality"] == "Crema"

    again = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert db.session.scalar(
        sa.select(sa.func.count()).where(ConsentEvent.subscriber_id == reader.id)
    ) == len(ledger)
    done = client.get(url).get_data(as_text=True)
    assert "Questo indirizzo non riceve gli avvisi urgenti." in done
    # A later alert does not reach them; the next digest does (their subscription is intact).
    later = issue_alert(headline="Offanengo: strada chiusa")
    assert alert_rows(later.id) == []
    assert alert_rows(message.id)[0].status is DeliveryStatus.CANCELLED


def test_the_alerts_unsubscribe_page_and_bad_links(app: Flask, client: FlaskClient) -> None:
    reader = alert_reader("bob@example.org", "Crema", locale="en")
    url = personal_url_for(Purpose.UNSUBSCRIBE_ALERTS, reader, external=False)
    page = client.get(url).get_data(as_text=True)
    assert "Stop urgent alerts" in page  # the reader's language
    done = client.post(url)  # the page's own button: a page, not plain text
    assert done.status_code == 200
    assert "You will receive no more urgent alerts at this address." in done.get_data(as_text=True)
    assert "newsletter keeps coming" not in done.get_data(as_text=True)
    # A newsletter unsubscribe token is no alerts link, and the other way round.
    other = personal_url_for(Purpose.UNSUBSCRIBE, reader, external=False).rsplit("/", 1)[1]
    assert client.get(f"/unsubscribe/alerts/{other}").status_code == 400
    forged = client.post(f"/unsubscribe/alerts/{other}", data={"List-Unsubscribe": "One-Click"})
    assert forged.status_code == 400
    token = url.rsplit("/", 1)[1]
    assert client.post(f"/unsubscribe/{token}").status_code == 400
    db.session.expire_all()
    subscriber = db.session.get(Subscriber, reader.id)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.ACTIVE
