"""Domain events, sent by the operation that did the thing, and what the feeds make of them.

The WebSub ping of the digests feed used to hang on a session listener that never saw the
digests ``digests build`` inserts with SQLAlchemy Core: a real build pinged nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from blinker import Signal
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter import events
from newsletter.articles import service as articles
from newsletter.audit import Actor
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.extensions import db
from newsletter.subscriptions import service as subscriptions
from newsletter.subscriptions.models import Subscriber, SubscriberStatus

FEEDS = "https://newsletter.example.org/feeds"
HUB = "http://127.0.0.1:9/hub"  # never contacted: pings are only queued here


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"WEBSUB_HUB_URL": HUB}


@contextmanager
def recorded(signal: Signal) -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    seen: list[tuple[Any, dict[str, Any]]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append((sender, kwargs))

    signal.connect(receiver)
    try:
        yield seen
    finally:
        signal.disconnect(receiver)


def websub_urls() -> list[list[str]]:
    db.session.expire_all()
    rows = db.session.scalars(
        sa.select(Delivery)
        .where(Delivery.kind == DeliveryKind.WEBSUB, Delivery.status == DeliveryStatus.QUEUED)
        .order_by(Delivery.id)
    )
    return [sorted((row.payload or {}).get("topic_urls", [])) for row in rows]


def test_digests_build_queues_the_digests_feed_ping(
    app: Flask, digest_data: Callable[..., Any], runner: FlaskCliRunner
) -> None:
    digest_data()
    db.session.execute(sa.delete(Delivery).where(Delivery.kind == DeliveryKind.WEBSUB))
    db.session.commit()
    with recorded(events.digest_built) as built:
        result = runner.invoke(
            args=["digests", "build", "--frequency", "weekly", "--at", "2026-11-23T07:05+01:00"]
        )
    assert result.exit_code == 0, result.output
    digests_feed = sorted(f"{FEEDS}/digests.{fmt}" for fmt in ("atom", "json", "rss"))
    assert websub_urls() == [digests_feed]
    ((build, details),) = built
    assert (build.period_key, details["editions"]) == ("weekly:2026-W48", 2)

    again = runner.invoke(
        args=["digests", "build", "--frequency", "weekly", "--at", "2026-11-23T07:05+01:00"]
    )
    assert again.exit_code == 0, again.output
    assert websub_urls() == [digests_feed], "nothing new built, nothing new to announce"


def test_publishing_an_article_through_the_service_announces_it(app: Flask) -> None:
    source = articles.file_source()
    item = articles.parse_article(
        {
            "external_id": "ev-1",
            "title": "Nuove piste ciclabili a Crema",
            "url": "https://www.comune.crema.cr.it/notizie/ev-1",
            "published_at": "2026-11-20T10:00:00+01:00",
            "topics": ["mobility"],
        }
    )
    with recorded(events.article_published) as published:
        article, created = articles.upsert_and_commit(source, item)
        articles.upsert_and_commit(source, item)  # unchanged: nothing to announce
        articles.set_hidden(article.id, True, actor=Actor("tests"))
        articles.set_hidden(article.id, False, actor=Actor("tests"))
    assert created
    assert [(a.id, kw["created"]) for a, kw in published] == [
        (article.id, True),
        (article.id, False),
    ]
    assert any(f"{FEEDS}/mobility.atom" in urls for urls in websub_urls())


def test_subscriber_events_come_from_confirm_unsubscribe_and_erase(
    app: Flask, make_subscriber: Callable[..., Subscriber]
) -> None:
    pending = make_subscriber("ada@example.org", SubscriberStatus.PENDING)
    other = make_subscriber("bea@example.org")
    with (
        recorded(events.subscriber_confirmed) as confirmed,
        recorded(events.subscriber_left) as left,
    ):
        subscriptions.confirm(pending.id, channel="web")
        subscriptions.confirm(pending.id, channel="web")  # twice: nothing new happened
        subscriptions.unsubscribe(pending.id, channel="one-click")
        subscriptions.unsubscribe(pending.id, channel="one-click")
        subscriptions.erase(other.id, channel="admin")
    assert [(s.email, kw) for s, kw in confirmed] == [("ada@example.org", {"channel": "web"})]
    assert left == [
        (pending.id, {"channel": "one-click", "erased": False}),
        (other.id, {"channel": "admin", "erased": True}),
    ]
