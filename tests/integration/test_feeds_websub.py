"""WebSub: feeds name the hub, changes queue one ping in the outbox, the handler publishes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import feedparser
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.exceptions import TransportError
from newsletter.extensions import db
from newsletter.feeds import websub
from newsletter.hooks import registry
from tests.e2e.conftest import free_port
from tests.fixtures.feeds import MakeArticle, MakeDigest

BASE = "https://newsletter.example.org/feeds"


class Hub:
    """A local WebSub hub that records publish pings and answers with ``status``."""

    def __init__(self) -> None:
        self.pings: list[list[tuple[str, str]]] = []
        self.status = 204
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hub.pings.append(parse_qsl(self.rfile.read(length).decode()))
                self.send_response(hub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub()
    thread = threading.Thread(target=hub.server.serve_forever, daemon=True)
    thread.start()
    yield hub
    hub.server.shutdown()
    hub.server.server_close()


@pytest.fixture
def app_overrides(hub: Hub) -> dict[str, Any]:
    return {"WEBSUB_HUB_URL": hub.url, "FEEDS_VERSION_TTL": 0}


def pings() -> list[Delivery]:
    return list(
        db.session.scalars(
            sa.select(Delivery).where(Delivery.kind == DeliveryKind.WEBSUB).order_by(Delivery.id)
        )
    )


def feed_set(*names: str) -> list[str]:
    return sorted(f"{BASE}/{name}.{fmt}" for name in names for fmt in ("rss", "atom", "json"))


@pytest.mark.usefixtures("feed_cache")
def test_feeds_advertise_the_hub_and_self(client: FlaskClient, hub: Hub) -> None:
    atom = feedparser.parse(client.get("/feeds/all.atom").data)
    assert {(link.rel, link.href) for link in atom.feed.links} >= {
        ("hub", hub.url),
        ("self", f"{BASE}/all.atom"),
    }
    rss = feedparser.parse(client.get("/feeds/energy.rss").data)
    assert rss.bozo == 0
    assert {(link.rel, link.href) for link in rss.feed.links} >= {
        ("hub", hub.url),
        ("self", f"{BASE}/energy.rss"),
    }
    json_feed = client.get("/feeds/all.json").json
    assert json_feed is not None
    assert json_feed["hubs"] == [{"type": "WebSub", "url": hub.url}]
    assert json_feed["feed_url"] == f"{BASE}/all.json"


def test_outbox_handler_is_registered(app: Flask) -> None:
    assert registry(app).outbox_handlers["websub"] is websub.deliver_ping


def test_new_article_queues_one_ping_in_the_same_transaction(
    make_article: MakeArticle, hub: Hub
) -> None:
    make_article("Nuovo orario dei treni", topics=["mobility"])
    (ping,) = pings()
    assert ping.status == DeliveryStatus.QUEUED
    assert ping.payload == {"topic_urls": feed_set("all", "mobility")}
    assert hub.pings == [], "nothing is sent from the request"


def test_rolled_back_article_queues_nothing(make_article: MakeArticle) -> None:
    from newsletter.articles.models import Article, Source, SourceKind
    from newsletter.db import utcnow

    source = Source(name="rollback", kind=SourceKind.FILE)
    db.session.add(Article(source=source, external_id="x", title="Mai", published_at=utcnow()))
    db.session.flush()
    assert len(pings()) == 1
    db.session.rollback()
    assert pings() == []


def test_pings_coalesce_while_one_is_queued(make_article: MakeArticle) -> None:
    make_article("Prima", topics=["mobility"])
    make_article("Seconda", topics=["mobility"])
    assert len(pings()) == 1
    make_article("Terza", topics=["energy"])
    assert [p.payload for p in pings()] == [
        {"topic_urls": feed_set("all", "mobility")},
        {"topic_urls": feed_set("all", "energy")},
    ]
    for ping in pings():
        ping.status = DeliveryStatus.SENT
    db.session.commit()
    make_article("Quarta", topics=["mobility"])
    assert [p.status for p in pings()] == [
        DeliveryStatus.SENT,
        DeliveryStatus.SENT,
        DeliveryStatus.QUEUED,
    ]


def test_edit_and_hide_queue_a_ping(make_article: MakeArticle) -> None:
    article = make_article("Da correggere", topics=["welfare"])
    db.session.execute(sa.delete(Delivery))
    db.session.commit()
    article.title = "Corretta"
    db.session.commit()
    assert [p.payload for p in pings()] == [{"topic_urls": feed_set("all", "welfare")}]
    db.session.execute(sa.delete(Delivery))
    db.session.commit()
    article.hidden = True
    db.session.commit()
    assert len(pings()) == 1
    db.session.execute(sa.delete(Delivery))
    db.session.commit()
    db.session.refresh(article)
    db.session.commit()
    assert pings() == [], "loading an article without changing it pings nobody"


def test_new_edition_pings_the_digests_feed(make_digest: MakeDigest) -> None:
    make_digest()
    assert [p.payload for p in pings()] == [{"topic_urls": feed_set("digests")}]


def test_handler_publishes_every_url(make_article: MakeArticle, hub: Hub) -> None:
    make_article("Da annunciare", topics=["energy"])
    (ping,) = pings()
    websub.deliver_ping(ping)
    assert hub.pings == [
        [("hub.mode", "publish"), ("hub.url", url)] for url in feed_set("all", "energy")
    ]


def test_handler_failure_is_a_transport_error_so_the_sender_retries(
    make_article: MakeArticle, hub: Hub, app: Flask
) -> None:
    make_article("Da annunciare", topics=["energy"])
    (ping,) = pings()
    hub.status = 503
    with pytest.raises(TransportError, match="503"):
        websub.deliver_ping(ping)
    app.config["WEBSUB_HUB_URL"] = f"http://127.0.0.1:{free_port()}/hub"
    with pytest.raises(TransportError, match="unreachable"):
        websub.deliver_ping(ping)
