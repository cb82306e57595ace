"""One meaning of "visible": a hidden article is out of every reader's view at once (site,
topic page, feeds, API, digests), and back everywhere when restored; one pager for lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.articles.service import set_hidden
from newsletter.audit import Actor
from newsletter.db import get_or_404, utcnow
from newsletter.digests import service as digests
from newsletter.digests import windows
from newsletter.exceptions import NotFound
from newsletter.extensions import db
from newsletter.feeds.cache import FeedCache
from newsletter.paging import paginate
from newsletter.subscriptions.models import Subscriber
from tests.fixtures.admin import make_article, make_source


def places(client: FlaskClient, auth: dict[str, str], cache: FeedCache) -> dict[str, bool]:
    """Where the article titled "Bus notturni" shows up (feed versions are not kept between)."""
    title = "Bus notturni"
    now = utcnow()
    cache.clear()
    period = windows.Period("weekly", "w", now - timedelta(days=7), now + timedelta(days=1))
    return {
        "home": title in client.get("/").get_data(as_text=True),
        "topic page": title in client.get("/topics/mobility").get_data(as_text=True),
        "feed": title in client.get("/feeds/all.atom").get_data(as_text=True),
        "topic feed": title in client.get("/feeds/mobility.json").get_data(as_text=True),
        "api": title in client.get("/api/v1/articles", headers=auth).get_data(as_text=True),
        "digests": any(a.title == title for a in digests.load_articles(period)),
    }


def test_hidden_means_the_same_everywhere(
    app: Flask, client: FlaskClient, auth: dict[str, str], feed_cache: FeedCache
) -> None:
    source = make_source()
    article = make_article(
        source, "Bus notturni", ("mobility",), published_at=utcnow() - timedelta(hours=1)
    )
    make_article(source, "Sportello famiglie", ("welfare",))
    db.session.commit()
    assert set(places(client, auth, feed_cache).values()) == {True}

    set_hidden(article.id, True, actor=Actor("tests"))
    assert set(places(client, auth, feed_cache).values()) == {False}

    set_hidden(article.id, False, actor=Actor("tests"))
    assert set(places(client, auth, feed_cache).values()) == {True}


def test_one_pager_with_and_without_a_count(app: Flask) -> None:
    db.session.add_all(
        Subscriber(email=f"p{n:02d}@example.org", locale="it", role="citizen") for n in range(7)
    )
    db.session.commit()
    query = sa.select(Subscriber).order_by(Subscriber.email)
    first = paginate(query, 1, 3)
    assert [s.email for s in first.items] == [
        "p00@example.org",
        "p01@example.org",
        "p02@example.org",
    ]
    assert (first.has_prev, first.has_next, first.pages) == (False, True, None)
    last = paginate(query, 3, 3)
    assert [s.email for s in last.items] == ["p06@example.org"]
    assert (last.has_prev, last.has_next) == (True, False)
    beyond = paginate(query, 9, 3, count=True)  # past the end: the last page, counted
    assert (beyond.page, beyond.pages, len(beyond.items)) == (3, 3, 1)


def test_get_or_404_names_what_is_missing(app: Flask) -> None:
    with pytest.raises(NotFound) as caught:
        get_or_404(Subscriber, 424242)
    assert caught.value.status_code == 404
    assert caught.value.message == "no subscriber 424242"
    with pytest.raises(NotFound, match=r"^no such subscriber$"):
        get_or_404(Subscriber, 424242, "no such subscriber")
