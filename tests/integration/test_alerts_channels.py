"""Urgent alerts on Web Push and Telegram, end to end: subscribe over HTTP, issue an alert with
the alerts service, send with ``newsletter send``; a real push service on loopback checks VAPID
and decrypts what the browser would show, a local Bot API records the posts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.alerts import service as alerts
from newsletter.alerts.schemas import AlertIn
from newsletter.audit import Actor
from newsletter.db import utcnow
from newsletter.delivery import outbox
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.digests.service import build_digests
from newsletter.exceptions import ConfigurationError
from newsletter.extensions import db
from newsletter.push import service as push
from newsletter.push.models import PushSubscription
from newsletter.subscriptions.models import ConsentEvent
from newsletter.telegram import service as telegram
from tests.fixtures.digests import add_article
from tests.fixtures.push import Browser, PushService, TelegramApi

EDITOR = Actor("editor@example.org")
ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def keys(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["push", "keys"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def _csrf(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found
    return found.group(1)


def _subscribe(client: FlaskClient, browser: Browser, **choice: Any) -> Any:
    body = {"subscription": browser.subscription(), "topics": ["mobility"], **choice}
    return client.post("/push/subscriptions", json=body, headers={"X-CSRFToken": _csrf(client)})


def _send(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["send", "--until-idle"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def _alert(**changes: Any) -> AlertIn:
    body: dict[str, Any] = {
        "headline": "Crema: via Mazzini chiusa dalle 14:00",
        "text": "Lavori sulla rete idrica: la strada resta chiusa fino a sera.",
        "severity": "moderate",
        "municipalities": ["Crema", "Offanengo"],
        "expires_at": (utcnow() + timedelta(hours=6)).isoformat(),
        "headline_en": "Crema: via Mazzini closed from 2 pm",
        "text_en": "Water mains works: the street stays closed until the evening.",
    }
    body.update(changes)
    return AlertIn.model_validate(body)


def _issue(**changes: Any) -> int:
    message = alerts.issue(_alert(**changes), actor=EDITOR)
    db.session.commit()
    return int(message.alert_id)


def _quiet_hours_around_now() -> str:
    """Quiet hours from an hour ago to two hours from now (Rome wall clock)."""
    now = datetime.now(ROME)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return f"{start:%H:%M}-{end:%H:%M}"


def _minutes_into_a_batch(ago: timedelta) -> datetime:
    """Five minutes into the ten-minute batch window of ``ago`` before now: an article made a
    minute earlier is in the window the build at +10 minutes takes."""
    at = utcnow() - ago
    return at.replace(minute=at.minute - at.minute % 10 + 5, second=0, microsecond=0)


def _rows(kind: DeliveryKind) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.kind == kind)))


# --- push ------------------------------------------------------------------------------------


def test_an_alert_reaches_its_comuni_opted_in_browsers_once_urgently_and_first(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, push_service: PushService, keys: str
) -> None:
    crema, offanengo, crema_en = (push_service.browser() for _ in range(3))
    crema_news_only, elsewhere = push_service.browser(), push_service.browser()
    for browser, choice in [
        (crema, {"municipality": "Crema", "alerts": True}),
        (offanengo, {"municipality": "Offanengo", "alerts": True, "topics": []}),
        (crema_en, {"municipality": "Crema", "alerts": True, "locale": "en"}),
        (crema_news_only, {"municipality": "Crema", "local_news": True}),
        (elsewhere, {"municipality": "Madignano", "alerts": True}),
    ]:
        answer = _subscribe(client, browser, **choice)
        assert answer.status_code == 201, answer.get_json()
        assert answer.get_json()["subscription"]["alerts"] is bool(choice.get("alerts"))

    # A batch of news queued and due (built three hours ago, outside the quiet hours) ...
    past = _minutes_into_a_batch(timedelta(hours=3))
    add_article(
        "Nuova ciclabile tra Crema e Ricengo",
        ["mobility"],
        past - timedelta(minutes=2),
        created_at=past - timedelta(minutes=1),
    )
    build_digests("immediate", past + timedelta(minutes=10))
    db.session.commit()
    news = _rows(DeliveryKind.PUSH)
    assert len(news) == 4  # every browser on mobility
    assert {r.priority for r in news} == {0}

    # ... then, inside the quiet hours, an alert for two comuni.
    app.config.update(QUIET_HOURS=_quiet_hours_around_now(), CHANNEL_CONCURRENCY=1)
    alert_id = _issue()
    queued = [r for r in _rows(DeliveryKind.PUSH) if r.priority > 0]
    assert len(queued) == 3
    assert {r.priority for r in queued} == {outbox.PRIORITY_ALERT}
    assert all(r.next_attempt_at <= utcnow() for r in queued)  # not held for the morning

    output = _send(runner)
    assert "channels: 7 sent" in output
    received = push_service.wait_for(7)
    assert not push_service.errors
    urgent = [r for r in received if r.payload["tag"] == f"alert-{alert_id}"]
    assert sorted(r.token for r in urgent) == sorted(b.token for b in (crema, offanengo, crema_en))
    # one at a time (CHANNEL_CONCURRENCY=1): every alert went out before the queued news
    assert [r.payload["tag"].startswith("alert-") for r in received] == [True] * 3 + [False] * 4
    for got in urgent:
        assert got.headers["urgency"] == "high"
        assert got.headers["topic"] == f"alert-{alert_id}"
        assert 6 * 3600 - 120 <= int(got.headers["ttl"]) <= 6 * 3600  # until it expires
        assert got.payload["url"] == f"https://newsletter.example.org/avvisi/{alert_id}"
        assert got.payload["requireInteraction"] is True
    italian = next(r for r in urgent if r.token == crema.token).payload
    assert italian["title"] == "Avviso: Crema: via Mazzini chiusa dalle 14:00"
    assert italian["body"] == (
        "Gravità: moderata. Lavori sulla rete idrica: la strada resta chiusa fino a sera."
    )
    assert italian["lang"] == "it"
    english = next(r for r in urgent if r.token == crema_en.token).payload
    assert english["title"] == "Alert: Crema: via Mazzini closed from 2 pm"
    assert english["body"].startswith("Severity: moderate. Water mains works")
    assert english["lang"] == "en"

    # a release announced again (a retry) queues nothing new; nothing is sent twice
    message = alerts.released_messages(alerts.get_alert(alert_id))[0]
    assert push.enqueue_alert(alerts.notice_of(message)) == 0
    _send(runner)
    assert len(push_service.received) == 7


def test_update_and_cancellation_follow_to_every_browser_the_alert_reached(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, push_service: PushService, keys: str
) -> None:
    crema, offanengo = push_service.browser(), push_service.browser()
    assert _subscribe(client, crema, municipality="Crema", alerts=True).status_code == 201
    assert _subscribe(client, offanengo, municipality="Offanengo", alerts=True).status_code == 201
    alert_id = _issue()
    _send(runner)
    alerts.update(
        alert_id,
        _alert(
            municipalities=["Crema"],  # Offanengo heard of it: it hears the update too
            headline="Crema: via Mazzini riaperta a senso unico",
            text="Una corsia riaperta; fine lavori alle 20.",
            severity="minor",
        ),
        actor=EDITOR,
        note="una corsia riaperta",
    )
    alerts.cancel(alert_id, actor=EDITOR, note="lavori finiti")
    db.session.commit()
    # queued together, sent by one sender with a slow push service: still in their order
    push_service.delay = 0.2
    _send(runner)
    received = push_service.wait_for(6)
    assert not push_service.errors
    for browser in (crema, offanengo):
        got = [r.payload for r in push_service.for_browser(browser)]
        assert [p["title"] for p in got] == [
            "Avviso: Crema: via Mazzini chiusa dalle 14:00",
            "Aggiornamento dell'avviso: Crema: via Mazzini riaperta a senso unico",
            "Avviso revocato: Crema: via Mazzini riaperta a senso unico",
        ]
        assert {p["tag"] for p in got} == {f"alert-{alert_id}"}  # each replaces the last
        assert got[1]["body"].startswith("Gravità: lieve. Una corsia riaperta")
        assert got[2]["body"] == "Non più in vigore: lavori finiti"
        assert got[2]["requireInteraction"] is False
    assert len(received) == 6
    assert {r.headers["urgency"] for r in received} == {"high"}


def test_an_alert_for_every_comune_reaches_every_opted_in_browser(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, push_service: PushService, keys: str
) -> None:
    near, far, none = push_service.browser(), push_service.browser(), push_service.browser()
    assert _subscribe(client, near, municipality="Crema", alerts=True).status_code == 201
    assert _subscribe(client, far, municipality="Casaletto Vaprio", alerts=True).status_code == 201
    assert _subscribe(client, none, municipality="Crema").status_code == 201
    alert_id = _issue(municipalities=["*"], severity="minor")
    _send(runner)
    got = push_service.wait_for(2)
    assert sorted(r.token for r in got) == sorted([near.token, far.token])
    assert {r.payload["tag"] for r in got} == {f"alert-{alert_id}"}


def test_an_alert_that_expired_while_queued_is_not_sent(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, push_service: PushService, keys: str
) -> None:
    browser = push_service.browser()
    assert _subscribe(client, browser, municipality="Crema", alerts=True).status_code == 201
    _issue(expires_at=(utcnow() + timedelta(hours=1)).isoformat())
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=2), tick=True):
        assert "channels: 0 sent, 0 to retry, 0 failed, 1 dropped" in _send(runner)
    (row,) = _rows(DeliveryKind.PUSH)
    assert row.status is DeliveryStatus.CANCELLED
    assert row.last_error == "alert expired before it could be sent"
    assert push_service.received == []


def test_alerts_need_a_comune_and_are_recorded_in_the_ledger(
    app: Flask, client: FlaskClient, push_service: PushService, keys: str
) -> None:
    browser = push_service.browser()
    refused = _subscribe(client, browser, alerts=True)
    assert refused.status_code == 422
    assert refused.get_json()["details"] == {"alerts": "needs a municipality"}
    assert "comune" in refused.get_json()["error"]
    wrong = _subscribe(client, browser, municipality="Crema", alerts="yes")
    assert wrong.status_code == 422
    assert wrong.get_json()["details"] == {"alerts": "invalid"}
    only_alerts = _subscribe(client, browser, topics=[], municipality="Crema", alerts=True)
    assert only_alerts.status_code == 201, only_alerts.get_json()
    assert only_alerts.get_json()["subscription"]["alerts"] is True
    off = _subscribe(client, browser, municipality="Crema", alerts=False)
    assert off.get_json()["subscription"]["alerts"] is False
    stored = db.session.scalar(sa.select(PushSubscription))
    assert stored is not None
    assert stored.alerts is False
    ledger = db.session.scalars(
        sa.select(ConsentEvent).where(ConsentEvent.channel == "push").order_by(ConsentEvent.id)
    ).all()
    assert [e.details["alerts"] for e in ledger] == [True, False]


def test_alert_notification_text_is_cut_at_a_word(app: Flask) -> None:
    assert push.shorten("una  strada\nchiusa", 50) == "una strada chiusa"
    cut = push.shorten("parola " * 100, 60)
    assert len(cut) <= 60
    assert cut.endswith("parola…")


# --- Telegram --------------------------------------------------------------------------------


@pytest.fixture
def channels(app: Flask, telegram_api: TelegramApi) -> TelegramApi:
    app.config.update(
        TELEGRAM_BOT_TOKEN="123:secret-token",
        TELEGRAM_API_URL=telegram_api.url,
        TELEGRAM_CHANNELS=(
            "comune:crema=@cremasco_centro,comune:offanengo=@cremasco_centro,"
            "comune:madignano=@madignano,alerts=@allerte_cremasco,all=@cremasco,"
            "mobility=@cremasco_mobilita"
        ),
        TELEGRAM_POST_INTERVAL=0.0,
    )
    return telegram_api


def test_one_post_per_channel_even_when_two_comuni_share_it(
    app: Flask, runner: FlaskCliRunner, channels: TelegramApi
) -> None:
    alert_id = _issue(url="https://www.example.org/lavori?via=mazzini&ora=14")
    rows = _rows(DeliveryKind.TELEGRAM)
    assert {r.priority for r in rows} == {outbox.PRIORITY_ALERT}
    _send(runner)
    assert sorted(p["chat_id"] for p in channels.posts) == ["@allerte_cremasco", "@cremasco_centro"]
    post = channels.posts[0]
    assert post["parse_mode"] == "HTML"
    text = post["text"]
    assert text.startswith("⚠️ <b>AVVISO</b> · gravità moderata")
    assert "<b>Crema: via Mazzini chiusa dalle 14:00</b>" in text
    assert "Lavori sulla rete idrica: la strada resta chiusa fino a sera." in text
    assert "Comuni: Crema, Offanengo" in text
    expires = alerts.get_alert(alert_id).expires_at.astimezone(ROME)
    assert f"Valido fino al {expires:%d/%m/%Y %H:%M}" in text
    assert f'<a href="https://newsletter.example.org/avvisi/{alert_id}">' in text
    assert '<a href="https://www.example.org/lavori?via=mazzini&amp;ora=14">' in text

    # announced again: nothing new; the update and the cancellation: one post each per channel
    message = alerts.released_messages(alerts.get_alert(alert_id))[0]
    assert telegram.enqueue_alert(alerts.notice_of(message)) == 0
    alerts.update(
        alert_id,
        _alert(severity="severe"),
        actor=EDITOR,
        may_override=True,
        override_reason="esondazione",
        note="livello del Serio in crescita",
    )
    alerts.cancel(alert_id, actor=EDITOR)
    db.session.commit()
    _send(runner)
    by_chat: dict[str, list[str]] = {}
    for p in channels.posts:
        by_chat.setdefault(p["chat_id"], []).append(p["text"].split("\n")[0])
    assert by_chat == {
        chat: [
            "⚠️ <b>AVVISO</b> · gravità moderata",
            "⚠️ <b>AVVISO · AGGIORNAMENTO</b> · gravità grave",
            "✅ <b>AVVISO REVOCATO</b>",
        ]
        for chat in ("@allerte_cremasco", "@cremasco_centro")
    }
    update = next(p["text"] for p in channels.posts if "AGGIORNAMENTO" in p["text"])
    assert "<i>livello del Serio in crescita</i>" in update
    cancel = channels.posts[-1]["text"]
    assert "L'avviso non è più in vigore." in cancel
    assert {r.status for r in _rows(DeliveryKind.TELEGRAM)} == {DeliveryStatus.SENT}


def test_an_alert_goes_ahead_of_queued_article_posts_and_articles_skip_the_alerts_channel(
    app: Flask, runner: FlaskCliRunner, channels: TelegramApi
) -> None:
    past = _minutes_into_a_batch(timedelta(hours=1))
    for n in range(3):
        add_article(
            f"Notizia {n} <su Crema>",
            ["mobility"],
            past - timedelta(minutes=3),
            created_at=past - timedelta(minutes=1),
            municipalities=["Crema"],
        )
    build_digests("immediate", past + timedelta(minutes=10))
    db.session.commit()
    articles = _rows(DeliveryKind.TELEGRAM)
    assert "@allerte_cremasco" not in {r.target for r in articles}  # alerts only
    app.config["CHANNEL_CONCURRENCY"] = 1
    _issue(municipalities=["Madignano"])
    _send(runner)
    firsts = [p["text"].startswith("⚠️") for p in channels.posts]
    assert firsts == [True, True] + [False] * len(articles)
    assert {p["chat_id"] for p in channels.posts[:2]} == {"@madignano", "@allerte_cremasco"}


def test_the_alerts_route_is_a_channel_setting() -> None:
    routes = telegram.parse_channels("alerts=@allerte, comune:crema=-100123")
    assert [(r.scope, r.for_articles) for r in routes] == [
        ("alerts", False),
        ("comune:crema", True),
    ]


def test_an_english_channel_gets_the_alert_in_english(
    app: Flask, runner: FlaskCliRunner, channels: TelegramApi
) -> None:
    """``@channel:en``: the issuer's English headline and text, English fixed words, the page
    in English; the Italian channels keep Italian. Without an English text, the Italian one."""
    app.config["TELEGRAM_CHANNELS"] = (
        "alerts=@allerte_cremasco,alerts=@cremasco_alerts:en,comune:crema=@cremasco_alerts:en"
    )
    alert_id = _issue(url="https://www.example.org/lavori")
    _send(runner)
    by_chat = {p["chat_id"]: p["text"] for p in channels.posts}
    assert sorted(by_chat) == ["@allerte_cremasco", "@cremasco_alerts"]  # one post each
    english = by_chat["@cremasco_alerts"]
    assert english.startswith("⚠️ <b>ALERT</b> · severity moderate")
    assert "<b>Crema: via Mazzini closed from 2 pm</b>" in english
    assert "Water mains works: the street stays closed until the evening." in english
    assert "Comuni: Crema, Offanengo" in english
    expires = alerts.get_alert(alert_id).expires_at.astimezone(ROME)
    assert f"Valid until {expires:%d/%m/%Y %H:%M}" in english
    page = f"https://newsletter.example.org/avvisi/{alert_id}?lang=en"
    assert f'<a href="{page}">Read alert AOC-{alert_id}</a>' in english
    assert ">More information</a>" in english
    assert "Lavori sulla rete idrica" not in english
    assert by_chat["@allerte_cremasco"].startswith("⚠️ <b>AVVISO</b> · gravità moderata")

    alerts.cancel(alert_id, actor=EDITOR, note="lavori finiti")
    _issue(headline_en=None, text_en=None, municipalities=["*"], headline="Nebbia fitta")
    _send(runner)
    english_posts = [p["text"] for p in channels.posts if p["chat_id"] == "@cremasco_alerts"]
    assert english_posts[1].startswith("✅ <b>ALERT CANCELLED</b>")
    assert "The alert is no longer in force: lavori finiti" in english_posts[1]
    assert "<b>Nebbia fitta</b>" in english_posts[2]  # no English given: the Italian
    assert "Comuni: every comune of the Area Omogenea Cremasca" in english_posts[2]


def test_a_channel_has_one_language() -> None:
    routes = telegram.parse_channels("alerts=@allerte, all=@aoc_news:en, mobility=@aoc_news:EN")
    assert [(r.chat, r.language) for r in routes] == [
        ("@allerte", "it"),
        ("@aoc_news", "en"),
        ("@aoc_news", "en"),
    ]
    assert telegram.parse_channels("alerts=@a:")[0].language == "it"  # empty: the default
    for bad in ("alerts=@a:fr", "alerts=@a:en,all=@a"):
        with pytest.raises(ConfigurationError, match="TELEGRAM_CHANNELS"):
            telegram.parse_channels(bad)


def test_a_post_whose_alert_expired_while_queued_is_dropped(
    app: Flask, runner: FlaskCliRunner, channels: TelegramApi
) -> None:
    _issue(expires_at=(utcnow() + timedelta(hours=1)).isoformat())
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=2), tick=True):
        _send(runner)
    rows = _rows(DeliveryKind.TELEGRAM)
    assert {r.status for r in rows} == {DeliveryStatus.CANCELLED}
    assert {r.last_error for r in rows} == {"alert expired before it could be posted"}
    assert channels.posts == []


def test_keyed_rows_are_counted_once_each_across_chunks(app: Flask) -> None:
    """``enqueue_keyed`` (one statement run for many rows) reports only the rows it wrote."""

    def keyed(numbers: range) -> list[outbox.Keyed]:
        return [
            outbox.Keyed(target=f"push:{n}", dedupe_key=f"push:{n}:alert:1", payload={"n": n})
            for n in numbers
        ]

    assert outbox.enqueue_keyed(DeliveryKind.PUSH, keyed(range(0, 2500))) == 2500
    again = outbox.enqueue_keyed(
        DeliveryKind.PUSH, keyed(range(2000, 4500)), priority=outbox.PRIORITY_ALERT
    )
    assert again == 2000
    db.session.commit()
    rows = _rows(DeliveryKind.PUSH)
    assert len(rows) == 4500
    assert sum(r.priority == outbox.PRIORITY_ALERT for r in rows) == 2000
    assert next(r for r in rows if r.target == "push:4499").payload == {"n": 4499}
