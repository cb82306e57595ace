"""The public subscription pages over HTTP: forms, CSRF, honeypot, rate limit, signed links,
RFC 8058 one-click, preference centre, export, erasure, languages and headers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.extensions import db
from newsletter.subscriptions.mail import render_confirm
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscriptions.tokens import Purpose, token_for
from tests.fixtures.subscriptions import (
    csrf_token,
    outbox,
    post_subscribe,
    queued,
    subscriber_by_email,
)

MAKE = Callable[..., Subscriber]


def _token_in(text: str, purpose: str) -> str:
    found = re.search(rf"/{purpose}/([A-Za-z0-9_.\-]+)", text)
    assert found, f"no /{purpose}/ link in {text!r}"
    return found.group(1)


# --- subscribe form -------------------------------------------------------------------------


def test_subscribe_queues_confirmation_in_chosen_language(client: FlaskClient) -> None:
    response = post_subscribe(
        client, "Carla@Example.org", topics=["energy", "welfare"], locale="en"
    )
    assert response.status_code == 200
    assert "Controlla la tua casella di posta" in response.get_data(as_text=True)
    carla = subscriber_by_email("carla@example.org")
    assert carla is not None
    assert carla.locale == "en"
    [row] = outbox(DeliveryKind.CONFIRM)
    mail = render_confirm(row)
    assert mail is not None
    assert mail.to == "carla@example.org"
    assert mail.subject == "Confirm your subscription to the Area Omogenea Cremasca newsletter"


def test_form_errors_are_per_field_linked_and_translated(client: FlaskClient) -> None:
    response = client.post(
        "/subscribe",
        data={"csrf_token": csrf_token(client), "email": "not-an-address", "frequency": "weekly"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Inserisci un indirizzo e-mail nella forma nome@esempio.it." in html
    assert "Scegli almeno un tema, oppure il tuo comune" in html
    assert "spunta la casella" in html
    assert re.search(r'id="email"[^>]*aria-describedby="email-hint email-error"', html)
    assert 'id="email-error"' in html
    assert re.search(r'id="topics-field"[^>]*aria-describedby="topics-error"', html)
    assert re.search(r'id="consent"[^>]*aria-describedby="consent-error"', html)
    assert 'value="not-an-address"' in html  # what was typed is kept
    assert outbox() == []

    english = client.post(
        "/subscribe?lang=en",
        data={"csrf_token": csrf_token(client), "email": "", "topics": "welfare", "consent": "1"},
    )
    assert "Enter your e-mail address." in english.get_data(as_text=True)


def test_malformed_address_needs_no_network(client: FlaskClient) -> None:
    response = post_subscribe(client, "someone@nonexistent-domain.invalid")
    # Syntax only: the reserved .invalid TLD is refused by email-validator without DNS.
    assert response.status_code == 400
    assert subscriber_by_email("someone@nonexistent-domain.invalid") is None


def test_csrf_is_required_on_the_forms(client: FlaskClient, make_subscriber: MAKE) -> None:
    response = client.post(
        "/subscribe",
        data={
            "email": "dora@example.org",
            "topics": "welfare",
            "frequency": "weekly",
            "locale": "it",
            "consent": "1",
        },
    )
    assert response.status_code == 400
    assert subscriber_by_email("dora@example.org") is None

    anna = make_subscriber("anna@example.org", SubscriberStatus.PENDING)
    confirm = client.post(f"/confirm/{token_for(Purpose.CONFIRM, anna)}")
    assert confirm.status_code == 400
    prefs_token = token_for(Purpose.PREFERENCES, anna)
    assert client.post(f"/preferences/{prefs_token}", data={"topics": "energy"}).status_code == 400
    assert client.post(f"/preferences/{prefs_token}/erase").status_code == 400
    db.session.expire_all()
    assert anna.status is SubscriberStatus.PENDING


def test_honeypot_answers_as_usual_and_writes_nothing(client: FlaskClient, app: Flask) -> None:
    field = app.config["SUBSCRIBE_HONEYPOT_FIELD"]
    trapped = post_subscribe(client, "bot@example.org", extra={field: "http://spam.example"})
    honest = post_subscribe(client, "human@example.org")
    assert trapped.status_code == honest.status_code == 200
    assert trapped.get_data() == honest.get_data()
    assert subscriber_by_email("bot@example.org") is None
    assert subscriber_by_email("human@example.org") is not None


def test_same_answer_for_new_pending_active_and_unsubscribed(
    client: FlaskClient, make_subscriber: MAKE
) -> None:
    make_subscriber("pending@example.org", SubscriberStatus.PENDING)
    make_subscriber("active@example.org", SubscriberStatus.ACTIVE)
    make_subscriber("gone@example.org", SubscriberStatus.UNSUBSCRIBED)
    bodies = {}
    for address in (
        "new@example.org",
        "pending@example.org",
        "active@example.org",
        "gone@example.org",
    ):
        response = post_subscribe(client, address)
        bodies[address] = (
            response.status_code,
            response.headers.get("Content-Length"),
            response.get_data(),
        )
    assert len(set(bodies.values())) == 1, bodies.keys()
    active = subscriber_by_email("active@example.org")
    assert active is not None
    assert [d.subscriber_id for d in queued(DeliveryKind.PREFERENCES)] == [active.id]


def test_fifty_posts_of_one_address_make_one_confirmation(client: FlaskClient, app: Flask) -> None:
    app.config["RATELIMIT_SUBSCRIBE"] = "1000 per minute"
    for i in range(50):
        response = post_subscribe(client, "eva@example.org", ip=f"203.0.113.{i + 1}")
        assert response.status_code == 200
    assert len(outbox(DeliveryKind.CONFIRM)) == 1


def test_subscribe_is_rate_limited_per_ip_with_a_friendly_page(
    client: FlaskClient, app: Flask
) -> None:
    app.config["RATELIMIT_SUBSCRIBE"] = "3 per minute"
    for i in range(3):
        assert post_subscribe(client, f"p{i}@example.org", ip="192.0.2.1").status_code == 200
    blocked = post_subscribe(client, "p3@example.org", ip="192.0.2.1")
    assert blocked.status_code == 429
    assert "Troppi tentativi" in blocked.get_data(as_text=True)
    assert subscriber_by_email("p3@example.org") is None
    assert post_subscribe(client, "p4@example.org", ip="192.0.2.2").status_code == 200


# --- confirm --------------------------------------------------------------------------------


def test_confirm_get_shows_a_button_and_post_confirms(client: FlaskClient) -> None:
    post_subscribe(client, "fabio@example.org")
    [row] = outbox(DeliveryKind.CONFIRM)
    mail = render_confirm(row)
    assert mail is not None
    token = _token_in(mail.text, "confirm")
    assert f"https://newsletter.example.org/confirm/{token}" in mail.text

    page = client.get(f"/confirm/{token}")
    assert page.status_code == 200
    assert 'type="submit"' in page.get_data(as_text=True)
    fabio = subscriber_by_email("fabio@example.org")
    assert fabio is not None
    assert fabio.status is SubscriberStatus.PENDING

    done = client.post(
        f"/confirm/{token}", data={"csrf_token": csrf_token(client, f"/confirm/{token}")}
    )
    assert done.status_code == 200
    fabio = subscriber_by_email("fabio@example.org")
    assert fabio is not None
    assert fabio.status is SubscriberStatus.ACTIVE
    assert render_confirm(row) is None  # moot once active


@pytest.mark.parametrize("path", ["confirm", "preferences", "unsubscribe", "export"])
def test_forged_expired_and_cross_purpose_tokens_are_rejected(
    client: FlaskClient, app: Flask, make_subscriber: MAKE, path: str
) -> None:
    anna = make_subscriber("anna@example.org", SubscriberStatus.PENDING)
    purpose = Purpose(path)
    good = token_for(purpose, anna)
    forged = good[:-3] + ("xyz" if not good.endswith("xyz") else "abc")
    other = next(p for p in Purpose if p is not purpose)
    for bad in (forged, token_for(other, anna), "nonsense"):
        response = client.get(f"/{path}/{bad}")
        assert response.status_code == 400, bad
        assert "Questo link non funziona" in response.get_data(as_text=True)
    if purpose in (Purpose.CONFIRM, Purpose.EXPORT):
        key = "CONFIRM_TOKEN_MAX_AGE" if purpose is Purpose.CONFIRM else "EXPORT_TOKEN_MAX_AGE"
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=app.config[key] + 60)):
            expired = client.get(f"/{path}/{good}")
        assert expired.status_code == 400
        assert "scaduto" in expired.get_data(as_text=True)
    db.session.expire_all()
    assert anna.status is SubscriberStatus.PENDING


def test_post_with_bad_token_changes_nothing(client: FlaskClient, make_subscriber: MAKE) -> None:
    anna = make_subscriber("anna@example.org")
    wrong = token_for(Purpose.PREFERENCES, anna)
    response = client.post(f"/unsubscribe/{wrong}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400
    db.session.expire_all()
    assert anna.status is SubscriberStatus.ACTIVE


# --- unsubscribe ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_rfc8058_one_click_without_cookies(
    app: Flask,
    make_subscriber: MAKE,
    queued_digest: Callable[[Subscriber], Delivery],
    encoding: str,
) -> None:
    anna = make_subscriber("anna@example.org")
    waiting = queued_digest(anna)
    token = token_for(Purpose.UNSUBSCRIBE, anna)
    client = app.test_client(use_cookies=False)
    content_type = (
        "application/x-www-form-urlencoded" if encoding == "urlencoded" else "multipart/form-data"
    )
    for _ in range(2):  # repeating is harmless
        response = client.post(
            f"/unsubscribe/{token}",
            data={"List-Unsubscribe": "One-Click"},
            content_type=content_type,
        )
        assert response.status_code == 200
        assert "Location" not in response.headers
    db.session.expire_all()
    assert anna.status is SubscriberStatus.UNSUBSCRIBED
    assert db.session.get(Delivery, waiting.id).status is DeliveryStatus.CANCELLED
    events = (
        db.session.query(ConsentEvent)
        .filter_by(subscriber_id=anna.id, action=ConsentAction.UNSUBSCRIBE)
        .all()
    )
    assert [e.channel for e in events] == ["one-click"]


def test_unsubscribe_get_never_unsubscribes_and_the_button_does(
    client: FlaskClient, make_subscriber: MAKE
) -> None:
    anna = make_subscriber("anna@example.org", locale="en")
    token = token_for(Purpose.UNSUBSCRIBE, anna)
    for _ in range(3):
        page = client.get(f"/unsubscribe/{token}")
        assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'lang="en"' in html  # the subscriber's language, not the default
    assert "Press the button" in html
    db.session.expire_all()
    assert anna.status is SubscriberStatus.ACTIVE
    done = client.post(f"/unsubscribe/{token}")
    assert done.status_code == 200
    assert "You are unsubscribed" in done.get_data(as_text=True)
    db.session.expire_all()
    assert anna.status is SubscriberStatus.UNSUBSCRIBED


# --- preference centre ----------------------------------------------------------------------


def test_preferences_change_topics_frequency_language(
    client: FlaskClient, make_subscriber: MAKE, queued_digest: Callable[[Subscriber], Delivery]
) -> None:
    anna = make_subscriber("anna@example.org")
    waiting = queued_digest(anna)
    path = f"/preferences/{token_for(Purpose.PREFERENCES, anna)}"
    page = client.get(path)
    assert page.status_code == 200
    assert "anna@example.org" in page.get_data(as_text=True)
    response = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "topics": ["mobility", "governance"],
            "frequency": "daily",
            "locale": "en",
        },
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert anna.topic_slugs == ["governance", "mobility"]
    assert (anna.frequency.value, anna.locale) == ("daily", "en")
    assert db.session.get(Delivery, waiting.id).status is DeliveryStatus.CANCELLED
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your preferences have been saved." in shown


def test_preferences_without_topics_is_a_form_error(
    client: FlaskClient, make_subscriber: MAKE
) -> None:
    anna = make_subscriber("anna@example.org")
    path = f"/preferences/{token_for(Purpose.PREFERENCES, anna)}"
    response = client.post(
        path, data={"csrf_token": csrf_token(client, path), "frequency": "daily", "locale": "it"}
    )
    assert response.status_code == 400
    assert "Scegli almeno un tema" in response.get_data(as_text=True)
    db.session.expire_all()
    assert anna.topic_slugs == ["energy", "welfare"]


def test_export_link_downloads_my_data(client: FlaskClient, make_subscriber: MAKE) -> None:
    anna = make_subscriber("anna@example.org")
    page = client.get(f"/preferences/{token_for(Purpose.PREFERENCES, anna)}")
    export_token = _token_in(page.get_data(as_text=True), "export")
    response = client.get(f"/export/{export_token}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["email"] == "anna@example.org"
    assert data["topics"] == ["energy", "welfare"]


def test_erase_asks_first_then_erases(client: FlaskClient, make_subscriber: MAKE) -> None:
    anna = make_subscriber("anna@example.org")
    path = f"/preferences/{token_for(Purpose.PREFERENCES, anna)}/erase"
    ask = client.get(path)
    assert ask.status_code == 200
    assert subscriber_by_email("anna@example.org") is not None  # GET erases nothing
    done = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert done.status_code == 200
    assert subscriber_by_email("anna@example.org") is None
    assert client.get(f"/preferences/{token_for(Purpose.PREFERENCES, anna)}").status_code == 404


# --- pages, feeds, headers ------------------------------------------------------------------


def test_home_has_topics_form_feeds_and_autodiscovery(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    for slug in ("welfare", "mobility", "energy", "governance"):
        assert f'href="/topics/{slug}"' in html
        assert f'href="/feeds/{slug}.rss"' in html
        assert f'href="/feeds/{slug}.atom"' in html
    assert '<link rel="alternate" type="application/rss+xml"' in html
    assert 'type="application/atom+xml"' in html
    assert 'href="/feeds/all.atom"' in html
    assert 'type="application/feed+json"' in html
    assert 'href="/feeds/all.json"' in html
    assert 'action="/subscribe"' in html
    assert 'name="consent"' in html


def test_topic_page_has_its_feed(client: FlaskClient) -> None:
    html = client.get("/topics/energy?lang=en").get_data(as_text=True)
    assert '<link rel="alternate" type="application/rss+xml"' in html
    assert 'href="/feeds/energy.rss"' in html
    assert client.get("/topics/sport").status_code == 404


@pytest.mark.parametrize(
    "path", ["/", "/subscribe", "/privacy", "/accessibility", "/topics/welfare", "/nope"]
)
def test_every_page_links_the_statements_and_has_security_headers(
    client: FlaskClient, path: str
) -> None:
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert 'href="/accessibility"' in html
    assert 'href="/privacy"' in html
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "Strict-Transport-Security" not in response.headers
    secure = client.get(path, base_url="https://newsletter.example.org")
    assert "max-age=" in secure.headers["Strict-Transport-Security"]


def test_privacy_notice_shows_its_version(client: FlaskClient, app: Flask) -> None:
    html = client.get("/privacy?lang=en").get_data(as_text=True)
    assert f"Version {app.config['PRIVACY_NOTICE_VERSION']}" in html


def test_english_is_complete_on_the_form(client: FlaskClient) -> None:
    html = client.get("/subscribe?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    for text in ("Your e-mail address", "How often", "Once a week", "privacy notice", "Mobility"):
        assert text in html
    assert "Mobilità" not in html
    italian = client.get("/subscribe?lang=it").get_data(as_text=True)
    for text in ("Il tuo indirizzo e-mail", "Ogni quanto", "Una volta alla settimana", "Mobilità"):
        assert text in italian


def test_latest_articles_on_home_and_per_topic(client: FlaskClient) -> None:
    from newsletter.articles.models import (
        Article,
        ArticleTopic,
        Source,
        SourceKind,
        TopicAssignment,
    )
    from newsletter.reference.service import topics_by_slug

    source = Source(name="Comune di Crema", kind=SourceKind.FILE)
    db.session.add(source)
    db.session.flush()
    by_slug = {t.slug: t for t in topics_by_slug(["energy", "mobility"])}
    energy, mobility = by_slug["energy"], by_slug["mobility"]
    for i, (title, topic) in enumerate(
        [("Comunità energetica a Offanengo", energy), ("Ciclabile Crema-Lodi", mobility)]
    ):
        article = Article(
            source_id=source.id,
            external_id=f"a{i}",
            title=title,
            url=f"https://source.example/{i}",
            published_at=datetime(2026, 11, 10 + i, tzinfo=UTC),
        )
        article.topic_links.append(ArticleTopic(topic=topic, assigned_by=TopicAssignment.SOURCE))
        db.session.add(article)
    db.session.commit()
    home = client.get("/").get_data(as_text=True)
    assert home.index("Ciclabile Crema-Lodi") < home.index("Comunità energetica a Offanengo")
    topic = client.get("/topics/energy").get_data(as_text=True)
    assert "Comunità energetica a Offanengo" in topic
    assert "Ciclabile" not in topic
    assert 'href="/subscribe?topics=energy"' in topic
    form = client.get("/subscribe?topics=energy").get_data(as_text=True)
    assert re.search(r'value="energy" id="topic-energy" checked', form)
