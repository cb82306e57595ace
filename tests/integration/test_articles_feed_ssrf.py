"""Feed URLs cannot reach inside addresses, on any hop, in any spelling.

The tests turn the guard on (FETCH_ALLOW_PRIVATE off) and let exactly 127.0.0.1 through
(FETCH_ALLOWED_NETWORKS), so a feed server on 127.0.0.1 is "the outside" and every other
inside address, including 127.0.0.2 where a second server listens, must stay unreached.
Names are resolved in the test by replacing ``socket.getaddrinfo`` (DNS only).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter import fetch
from newsletter.articles import feeds_import
from newsletter.articles.models import Source
from newsletter.audit import Actor
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from tests.fixtures.articles import FeedServer
from tests.integration.test_articles_feed_limits import FEED, send, serving


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"FETCH_ALLOW_PRIVATE": False, "FETCH_ALLOWED_NETWORKS": ("127.0.0.1/32",)}


@pytest.fixture
def inside_server() -> Iterator[tuple[int, list[str]]]:
    """A server on 127.0.0.2, an inside address nobody may reach: it counts its requests."""
    with serving(lambda h: send(h, FEED), host="127.0.0.2") as (base, seen):
        yield int(base.rsplit(":", 1)[1]), seen


def fake_dns(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> list[str]:
    """Answer ``getaddrinfo`` for the given names (DNS only; anything else is refused)."""
    asked: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, int(port or 0)),
            )
            for a in names[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706434/feed.xml",  # 127.0.0.2
        "http://0x7f.2/feed.xml",
        "http://0177.0.0.2/feed.xml",
        "http://127.0.0.2/feed.xml",
        "http://[::1]/feed.xml",
        "http://10.0.0.1/feed.xml",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_inside_addresses_cannot_be_added(app: Flask, url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        feeds_import.add_source(url, actor=Actor("tests"))
    assert caught.value.details == {"url": fetch.REFUSED_MESSAGE}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Source)) == 0


def test_a_name_that_resolves_inside_is_refused_with_a_generic_error(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_dns(monkeypatch, {"intranet.comune.example": ["10.20.30.40"]})
    caplog.set_level(logging.WARNING)
    with pytest.raises(ValidationError) as caught:
        feeds_import.add_source("https://intranet.comune.example/feed", actor=Actor("tests"))
    assert "10.20.30.40" not in caught.value.message  # the editor learns nothing inside
    assert caught.value.details == {"url": fetch.REFUSED_MESSAGE}
    assert "10.20.30.40" in caplog.text  # the log keeps the detail
    assert "private" in caplog.text


def test_every_hop_is_checked_and_inside_servers_stay_unreached(
    app: Flask, feed_server: FeedServer, inside_server: tuple[int, list[str]]
) -> None:
    port, inside_seen = inside_server
    source = feeds_import.add_source(feed_server.url, "rimbalzo", actor=Actor("tests"))
    for target in (
        f"http://127.0.0.2:{port}/feed.xml",
        f"http://2130706434:{port}/feed.xml",
        f"http://0x7f.2:{port}/feed.xml",
        f"http://0177.0.0.2:{port}/feed.xml",
    ):
        feed_server.status = 302
        feed_server.headers = {"Location": target}
        with pytest.raises(feeds_import.FeedError) as caught:
            feeds_import.fetch_source(source)
        assert caught.value.message.endswith(fetch.REFUSED_MESSAGE)
        assert str(port) not in caught.value.message
    assert len(feed_server.requests) == 4  # the outside server was asked each time...
    assert inside_seen == []  # ...and the inside one never
    db.session.expire_all()
    stored = db.session.get(Source, source.id)
    assert stored is not None
    assert stored.last_error is not None
    assert "127.0.0.2" not in stored.last_error


def test_a_name_is_resolved_and_the_connection_pinned_to_the_checked_address(
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    feed_server: FeedServer,
    inside_server: tuple[int, list[str]],
) -> None:
    """The fetch connects to the address it checked; a name with one inside answer among
    public ones is refused as a whole (no second chance for a rebinding DNS)."""
    port = int(feed_server.url.split(":")[2].split("/")[0])
    inside_port, inside_seen = inside_server
    asked = fake_dns(
        monkeypatch,
        {
            "feeds.comune.example": ["127.0.0.1"],
            "mixed.comune.example": ["127.0.0.1", "127.0.0.2"],
            "rebind.comune.example": ["127.0.0.2"],
        },
    )
    feed_server.body = FEED
    feed_server.headers = {"Content-Type": "application/rss+xml"}
    good = feeds_import.add_source(
        f"http://feeds.comune.example:{port}/feed.xml", "buono", actor=Actor("tests")
    )
    assert feeds_import.fetch_source(good).counts.created == 1
    assert feed_server.requests[-1]["host"] == f"feeds.comune.example:{port}"
    assert "feeds.comune.example" in asked

    for name in ("mixed", "rebind"):
        source = db.session.scalar(sa.select(Source).where(Source.name == "buono"))
        assert source is not None
        source.url = f"http://{name}.comune.example:{inside_port}/feed.xml"
        source.etag = None
        db.session.commit()
        with pytest.raises(feeds_import.FeedError, match=fetch.REFUSED_MESSAGE):
            feeds_import.fetch_source(source)
    assert inside_seen == []


def test_without_the_switch_even_loopback_is_refused(app: Flask, feed_server: FeedServer) -> None:
    app.config["FETCH_ALLOWED_NETWORKS"] = ()
    with pytest.raises(ValidationError):
        feeds_import.add_source(feed_server.url, actor=Actor("tests"))
    app.config["FETCH_ALLOW_PRIVATE"] = True
    source = feeds_import.add_source(feed_server.url, actor=Actor("tests"))
    app.config["FETCH_ALLOW_PRIVATE"] = False
    with pytest.raises(feeds_import.FeedError, match=fetch.REFUSED_MESSAGE):
        feeds_import.fetch_source(source)
    assert feed_server.requests == []


def test_the_websub_hub_goes_through_the_same_guard(app: Flask) -> None:
    from newsletter.delivery.models import Delivery, DeliveryKind
    from newsletter.exceptions import TransportError
    from newsletter.feeds.websub import deliver_ping

    app.config["WEBSUB_HUB_URL"] = "http://2130706434:9/hub"
    delivery = Delivery(kind=DeliveryKind.WEBSUB, payload={"topic_urls": ["https://x/a.rss"]})
    with pytest.raises(TransportError, match=r"127\.0\.0\.2"):
        deliver_ping(delivery)


def test_an_editor_sees_only_the_generic_refusal(
    editor_client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.fixtures.admin import csrf_token

    fake_dns(monkeypatch, {"cms.intranet.example": ["192.168.10.20"]})
    caplog.set_level(logging.WARNING)
    token = csrf_token(editor_client.get("/admin/sources").get_data(as_text=True))
    page = editor_client.post(
        "/admin/sources/add",
        data={"csrf_token": token, "url": "http://cms.intranet.example/rss", "name": "x"},
        follow_redirects=True,
    )
    text = page.get_data(as_text=True)
    assert fetch.REFUSED_MESSAGE in text
    assert "192.168.10.20" not in text
    assert "private" not in text
    assert "192.168.10.20" in caplog.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Source)) == 0
