"""Polls of a fresh, cached feed are answered before Flask, exactly as Flask would answer."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter.feeds.cache import FeedCache
from tests.fixtures.feeds import MakeArticle


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"FEEDS_VERSION_TTL": 60.0}


def comparable(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Date")
    return response.status_code, headers, response.data


@pytest.mark.usefixtures("feed_cache")
@pytest.mark.parametrize("path", ["/feeds/all.rss", "/feeds/energy.atom", "/feeds/all.json"])
def test_fast_answers_match_the_apps(
    app: Flask, client: FlaskClient, make_article: MakeArticle, path: str
) -> None:
    entered: list[str] = []
    app.before_request(lambda: entered.append("flask") and None)
    make_article("Energia per tutti", topics=["energy"])
    slow = client.get(path)
    assert entered == ["flask"]
    fast = client.get(path)
    assert entered == ["flask"], "the second poll never entered Flask"
    assert comparable(fast) == comparable(slow)
    assert fast.headers["X-Content-Type-Options"] == "nosniff"

    etag = slow.headers["ETag"]
    fast_304 = client.get(path, headers={"If-None-Match": etag})
    assert fast_304.status_code == 304
    assert entered == ["flask"]
    app.config["FEEDS_VERSION_TTL"] = 0  # now every poll goes through the app again
    app.extensions["newsletter.feeds.versions"].clear()
    slow_304 = client.get(path, headers={"If-None-Match": etag})
    assert entered == ["flask", "flask"]
    assert comparable(fast_304) == comparable(slow_304)
    since = {"If-Modified-Since": slow.headers["Last-Modified"]}
    assert client.get(path, headers=since).status_code == 304


@pytest.mark.usefixtures("feed_cache")
def test_head_and_unknown_feeds(client: FlaskClient, make_article: MakeArticle) -> None:
    make_article("Una")
    body = client.get("/feeds/all.rss").data
    head = client.head("/feeds/all.rss")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(body))
    assert client.get("/feeds/sport.rss").status_code == 404
    assert client.get("/feeds/sport.rss").status_code == 404
    assert client.post("/feeds/all.rss").status_code in (400, 405)


def test_cleared_cache_or_expired_version_goes_back_to_the_app(
    app: Flask, client: FlaskClient, make_article: MakeArticle, feed_cache: FeedCache
) -> None:
    entered: list[str] = []
    app.before_request(lambda: entered.append("flask") and None)
    make_article("Una")
    client.get("/feeds/all.rss")
    feed_cache.clear()
    client.get("/feeds/all.rss")
    assert entered == ["flask", "flask"]
    app.extensions["newsletter.feeds.versions"].clear()
    make_article("Due")
    assert b"Due" in client.get("/feeds/all.rss").data
    assert entered == ["flask", "flask", "flask"]
