"""Web Push end to end against a real push service on loopback: subscribe over HTTP, publish,
build the immediate batch, send; the service decrypts what a browser would show."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.digests.service import build_digests
from newsletter.extensions import db
from newsletter.push import service
from newsletter.push.models import PushSubscription
from newsletter.subscriptions.models import ConsentEvent
from tests.fixtures.digests import add_article
from tests.fixtures.push import Browser, PushService

AT = datetime(2026, 11, 24, 9, 4, tzinfo=UTC)  # 10:04 in Rome: not quiet
BATCH = AT + timedelta(minutes=10)


@pytest.fixture
def keys(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["push", "keys"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def _csrf(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found, "the home page carries the CSRF token for the push control"
    return found.group(1)


def _subscribe(client: FlaskClient, browser: Browser, **choice: Any) -> Any:
    body = {"subscription": browser.subscription(), "topics": ["mobility"], **choice}
    return client.post("/push/subscriptions", json=body, headers={"X-CSRFToken": _csrf(client)})


def _send(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["send", "--until-idle"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_keys_are_made_once_and_published(runner: FlaskCliRunner, client: FlaskClient) -> None:
    assert client.get("/push/key").status_code == 404  # no key yet: a clear answer, no 500
    first = runner.invoke(args=["push", "keys"])
    assert first.exit_code == 0
    public = first.output.strip().splitlines()[-1]
    assert client.get("/push/key").get_json() == {"public_key": public}
    again = runner.invoke(args=["push", "keys"])
    assert again.exit_code != 0
    assert "--force" in again.output
    forced = runner.invoke(args=["push", "keys", "--force"])
    assert forced.exit_code == 0
    assert forced.output.strip().splitlines()[-1] != public


def test_subscribe_update_and_stop_with_proof_of_the_secret(
    app: Flask, client: FlaskClient, push_service: PushService, keys: str
) -> None:
    browser = push_service.browser()
    created = _subscribe(client, browser, municipality="Crema")
    assert created.status_code == 201, created.get_json()
    updated = _subscribe(client, browser, topics=["energy", "mobility"])
    assert updated.status_code == 200
    stored = db.session.scalar(sa.select(PushSubscription))
    assert stored is not None
    assert stored.topics == ["energy", "mobility"]

    token = _csrf(client)
    wrong = client.delete(
        "/push/subscriptions",
        json={"endpoint": browser.endpoint, "auth": "A" * 22},
        headers={"X-CSRFToken": token},
    )
    assert wrong.status_code == 404
    no_csrf = client.delete(
        "/push/subscriptions",
        json={"endpoint": browser.endpoint, "auth": browser.subscription()["keys"]["auth"]},
    )
    assert no_csrf.status_code == 400
    gone = client.delete(
        "/push/subscriptions",
        json={"endpoint": browser.endpoint, "auth": browser.subscription()["keys"]["auth"]},
        headers={"X-CSRFToken": token},
    )
    assert gone.status_code == 204
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PushSubscription)) == 0
    ledger = db.session.scalars(sa.select(ConsentEvent).where(ConsentEvent.channel == "push"))
    actions = [e.action.value for e in ledger]
    assert actions == ["subscribe", "preferences", "unsubscribe"]
    assert browser.endpoint not in json.dumps([e.details for e in ledger])  # hashed, not kept


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s["keys"].update(p256dh="abc"), "p256dh"),
        (lambda s: s["keys"].update(auth="!!"), "auth"),
        (lambda s: s.update(endpoint="ftp://example.org/x"), "endpoint"),
        (lambda s: s.pop("keys"), "keys"),
    ],
)
def test_a_bad_subscription_is_a_422_naming_the_field(
    client: FlaskClient, push_service: PushService, keys: str, change: Any, field: str
) -> None:
    subscription = push_service.browser().subscription()
    change(subscription)
    answer = client.post(
        "/push/subscriptions",
        json={"subscription": subscription, "topics": ["mobility"]},
        headers={"X-CSRFToken": _csrf(client)},
    )
    assert answer.status_code == 422
    assert field in json.dumps(answer.get_json()["details"])


@pytest.fixture
def strict(app: Flask) -> Any:
    app.config["PUSH_INSECURE_ENDPOINTS"] = False
    yield
    app.config["PUSH_INSECURE_ENDPOINTS"] = True


def test_only_https_endpoints_of_known_push_services_on_public_addresses(
    client: FlaskClient, push_service: PushService, keys: str, strict: Any, monkeypatch: Any
) -> None:
    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        fake = {"fcm.googleapis.com": "10.1.2.3", "updates.push.services.mozilla.com": "34.1.2.3"}
        if host in fake:  # resolved here: no name leaves this machine
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (fake[host], 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    browser = push_service.browser()

    def attempt(endpoint: str) -> int:
        subscription = {**browser.subscription(), "endpoint": endpoint}
        return int(
            client.post(
                "/push/subscriptions",
                json={"subscription": subscription, "topics": ["energy"]},
                headers={"X-CSRFToken": _csrf(client)},
            ).status_code
        )

    assert attempt(browser.endpoint) == 422  # http on loopback: tests and the demo only
    assert attempt("https://evil.example/push/1") == 422  # not a push service
    assert attempt("https://fcm.googleapis.com.evil.example/x") == 422
    assert attempt("https://fcm.googleapis.com/fcm/send/abc") == 422  # resolves to 10.1.2.3
    assert attempt("https://updates.push.services.mozilla.com/wpush/v2/abc") == 201


def test_production_refuses_insecure_endpoints(app: Flask) -> None:
    from newsletter.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="PUSH_INSECURE_ENDPOINTS"):
        service.check_config({"ENV_NAME": "production", "PUSH_INSECURE_ENDPOINTS": True})


def test_a_published_article_reaches_the_browser_decrypted_and_signed(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    push_service: PushService,
    keys: str,
) -> None:
    browser = push_service.browser()
    other = push_service.browser()
    assert _subscribe(client, browser).status_code == 201
    assert _subscribe(client, other, topics=["welfare"]).status_code == 201
    add_article(
        "Nuova ciclabile tra Crema e Ricengo",
        ["mobility"],
        AT - timedelta(minutes=2),
        created_at=AT - timedelta(minutes=1),
        summary="Quattro chilometri lungo il Serio.",
        url="https://www.example.org/news/ciclabile",
    )
    built = runner.invoke(
        args=["digests", "build", "--frequency", "immediate", "--at", BATCH.isoformat()]
    )
    assert built.exit_code == 0, built.output
    output = _send(runner)
    assert "channels: 1 sent" in output
    (got,) = push_service.wait_for(1)
    assert not push_service.errors
    assert got.token == browser.token  # the welfare browser gets nothing
    assert got.payload == {
        "title": "Nuova ciclabile tra Crema e Ricengo",
        "body": "Quattro chilometri lungo il Serio.",
        "url": "https://www.example.org/news/ciclabile",
        "tag": got.payload["tag"],
        "lang": "it",
    }
    assert got.payload["tag"].startswith("article-")
    assert got.vapid_key == keys == client.get("/push/key").get_json()["public_key"]
    assert got.claims["aud"] == push_service.origin
    assert got.claims["sub"].startswith("mailto:")
    assert got.headers["ttl"] == "86400"
    assert got.headers["urgency"] == "normal"
    assert got.headers["topic"]
    # built again: the unique key adds nothing, and nothing is sent twice
    again = runner.invoke(
        args=["digests", "build", "--frequency", "immediate", "--at", BATCH.isoformat()]
    )
    assert again.exit_code == 0
    _send(runner)
    assert len(push_service.received) == 1


def test_several_articles_become_one_grouped_notification(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, push_service: PushService, keys: str
) -> None:
    browser = push_service.browser()
    assert _subscribe(client, browser, topics=["mobility", "energy"]).status_code == 201
    for n, title in enumerate(["Bus elettrici", "Nuovo orario Trenord", "Pista ciclabile"]):
        add_article(
            title, ["mobility"], AT - timedelta(minutes=3), created_at=AT - timedelta(minutes=n)
        )
    build_digests("immediate", BATCH)
    _send(runner)
    (got,) = push_service.wait_for(1)
    assert got.payload["title"] == "3 nuove notizie su Mobilità"
    assert got.payload["url"].endswith("/topics/mobility")
    assert "Bus elettrici" in got.payload["body"]
    assert len(json.dumps(got.payload).encode()) < 3000


def _rows() -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.kind == DeliveryKind.PUSH)))


def test_gone_subscriptions_are_erased_with_their_queue(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, push_service: PushService, keys: str
) -> None:
    browser = push_service.browser()
    assert _subscribe(client, browser).status_code == 201
    browser.answers.append((410, {}))
    add_article("Treni sostitutivi", ["mobility"], AT - timedelta(minutes=2))
    build_digests("immediate", BATCH)
    _send(runner)
    (row,) = _rows()
    assert row.status is DeliveryStatus.FAILED
    assert row.last_error is not None
    assert row.last_error.startswith("gone: 410")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PushSubscription)) == 0
    actions = db.session.scalars(
        sa.select(ConsentEvent.action).where(ConsentEvent.channel == "push")
    ).all()
    assert [a.value for a in actions] == ["subscribe", "erase"]


def test_429_waits_for_retry_after_and_413_fails_for_good(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, push_service: PushService, keys: str
) -> None:
    busy, large = push_service.browser(), push_service.browser()
    assert _subscribe(client, busy).status_code == 201
    assert _subscribe(client, large).status_code == 201
    busy.answers.append((429, {"Retry-After": "600"}))
    large.answers.append((413, {}))
    add_article("Rotatoria a Madignano", ["mobility"], AT - timedelta(minutes=2))
    build_digests("immediate", BATCH)
    started = datetime.now(UTC)
    _send(runner)
    rows = {r.target: r for r in _rows()}
    waiting = rows[f"push:{service.find(busy.endpoint).id}"]  # type: ignore[union-attr]
    assert waiting.status is DeliveryStatus.QUEUED
    assert waiting.next_attempt_at >= started + timedelta(seconds=599)
    failed = rows[f"push:{service.find(large.endpoint).id}"]  # type: ignore[union-attr]
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.startswith("413")


def test_quiet_hours_hold_then_release_one_grouped_notification(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, push_service: PushService, keys: str
) -> None:
    app.config["QUIET_HOURS"] = "21:00-07:00"
    browser = push_service.browser()
    assert _subscribe(client, browser).status_code == 201
    night = datetime(2026, 11, 24, 22, 4, tzinfo=UTC)  # 23:04 in Rome
    add_article(
        "Chiusa la Paullese",
        ["mobility"],
        night - timedelta(minutes=2),
        created_at=night - timedelta(minutes=1),
    )
    build_digests("immediate", night + timedelta(minutes=10))
    later = night + timedelta(hours=2)
    add_article(
        "Treni in ritardo",
        ["mobility"],
        later - timedelta(minutes=2),
        created_at=later - timedelta(minutes=1),
    )
    build_digests("immediate", later + timedelta(minutes=10))
    (held,) = _rows()
    morning = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 07:00 in Rome
    assert held.next_attempt_at == morning
    assert [a["title"] for a in held.payload["articles"]] == [
        "Chiusa la Paullese",
        "Treni in ritardo",
    ]
    with time_machine.travel(later + timedelta(minutes=30), tick=True):
        _send(runner)
    assert push_service.received == []  # still night: held
    with time_machine.travel(morning + timedelta(minutes=1), tick=True):
        _send(runner)
    (got,) = push_service.wait_for(1)
    assert got.payload["title"] == "2 nuove notizie su Mobilità"


def test_the_dashboard_counts_push_subscriptions_without_listing_them(
    app: Flask,
    client: FlaskClient,
    push_service: PushService,
    keys: str,
    editor_client: FlaskClient,
) -> None:
    browsers = [push_service.browser() for _ in range(3)]
    for browser in browsers:
        assert _subscribe(client, browser).status_code == 201
    page = editor_client.get("/admin/").get_data(as_text=True)
    stat = page.split("Browser con le notifiche push", 1)[1].split("</dd>", 1)[0]
    assert stat.rsplit(">", 1)[-1].strip() == "3"
    assert all(b.endpoint not in page for b in browsers)
