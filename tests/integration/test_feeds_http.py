"""The feeds as readers see them: valid, stable, conditional, cheap, on both databases."""

from __future__ import annotations

import email.utils
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.http import http_date

from newsletter.articles.models import Article
from newsletter.db import utcnow
from newsletter.extensions import db
from newsletter.feeds.cache import FeedCache
from tests.fixtures.feeds import MakeArticle, MakeDigest

ATOM_SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parents[1] / "data" / "atom.rng")))
TOPICS = ("welfare", "mobility", "energy", "governance")
ALL_FEEDS = [
    f"/feeds/{name}.{fmt}"
    for name in ("all", *TOPICS, "digests")
    for fmt in ("rss", "atom", "json")
]
RFC822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$")
MIMETYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Every request asks the database for the version (the TTL has a test of its own)."""
    return {"FEEDS_VERSION_TTL": 0}


def assert_valid_json_feed(feed: dict[str, object]) -> None:
    """JSON Feed 1.1: version and title required; items with an id and some content; dates in
    RFC 3339; URLs absolute."""
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str)
    assert feed["title"]
    for key in ("home_page_url", "feed_url"):
        assert str(feed[key]).startswith("https://newsletter.example.org/")
    items = feed["items"]
    assert isinstance(items, list)
    assert items
    for item in items:
        assert isinstance(item["id"], str)
        assert item["id"]
        assert isinstance(item.get("content_html") or item.get("content_text"), str)
        assert str(item["url"]).startswith("https://")
        for key in ("date_published", "date_modified"):
            assert datetime.fromisoformat(item[key]).tzinfo is not None
        assert all(isinstance(tag, str) for tag in item.get("tags", []))


@pytest.fixture
def some_articles(make_article: MakeArticle, make_digest: MakeDigest) -> list[Article]:
    made = [
        make_article("Rete ciclabile del Cremasco: incontro in Regione", topics=["mobility"]),
        make_article("Comunità energetiche rinnovabili a Crema", topics=["energy", "governance"]),
        make_article("Welfare locale, convegno dell'Area Omogenea", topics=["welfare"]),
    ]
    make_digest()
    make_digest()
    return made


@pytest.mark.usefixtures("some_articles", "feed_cache")
@pytest.mark.parametrize("path", ALL_FEEDS)
def test_every_feed_parses_cleanly_with_its_content_type(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MIMETYPES[path.rsplit(".", 1)[1]]
    assert response.headers["Cache-Control"] == "public, max-age=300"
    if path.endswith(".json"):
        # feedparser 6.0 reads no JSON Feed: check the 1.1 spec's requirements directly.
        assert_valid_json_feed(json.loads(response.data))
        return
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.entries, "every feed of the fixture has entries"
    assert parsed.feed.language == "it"
    self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert self_links == [f"https://newsletter.example.org{path}"]
    if path.endswith(".atom"):
        document = etree.fromstring(response.data)
        assert ATOM_SCHEMA.validate(document), ATOM_SCHEMA.error_log


@pytest.mark.usefixtures("feed_cache")
def test_rss_items_have_guid_rfc822_dates_and_categories(
    client: FlaskClient, make_article: MakeArticle
) -> None:
    article = make_article("Ponte sul Serio", topics=["mobility", "governance"])
    root = etree.fromstring(client.get("/feeds/all.rss").data)
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == "Area Omogenea Cremasca – Tutte le notizie"
    assert channel.findtext("link") == "https://newsletter.example.org/"
    (item,) = channel.findall("item")
    guid = item.find("guid")
    assert guid is not None
    assert guid.text == f"tag:newsletter.example.org,2024:article/{article.id}"
    assert guid.get("isPermaLink") == "false"
    pub_date = item.findtext("pubDate") or ""
    assert RFC822.match(pub_date), pub_date
    assert email.utils.parsedate_to_datetime(pub_date) == article.published_at
    assert sorted(c.text or "" for c in item.findall("category")) == ["Governance", "Mobilità"]
    assert item.findtext("link") == article.url


@pytest.mark.usefixtures("feed_cache")
def test_article_without_url_links_to_the_site(
    client: FlaskClient, make_article: MakeArticle
) -> None:
    make_article("Senza indirizzo", url=None)
    parsed = feedparser.parse(client.get("/feeds/all.atom").data)
    assert parsed.entries[0].link == "https://newsletter.example.org/"


@pytest.mark.usefixtures("feed_cache")
def test_json_feed_has_the_required_fields(client: FlaskClient, make_article: MakeArticle) -> None:
    article = make_article("Bandi per il trasporto pubblico", topics=["mobility"])
    feed = json.loads(client.get("/feeds/mobility.json").data)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "Area Omogenea Cremasca – Mobilità"
    assert feed["feed_url"] == "https://newsletter.example.org/feeds/mobility.json"
    assert feed["home_page_url"] == "https://newsletter.example.org/"
    (item,) = feed["items"]
    assert item["id"] == f"tag:newsletter.example.org,2024:article/{article.id}"
    assert item["url"] == article.url
    assert item["title"] == "Bandi per il trasporto pubblico"
    assert item["content_html"] == article.body_html
    assert item["date_published"] == article.published_at.isoformat()
    assert item["tags"] == ["Mobilità"]
    assert "hubs" not in feed


@pytest.mark.usefixtures("feed_cache")
def test_topic_feed_holds_only_its_topic_with_italian_channel(
    client: FlaskClient, make_article: MakeArticle
) -> None:
    make_article("Solo mobilità", topics=["mobility"])
    make_article("Solo energia", topics=["energy"])
    make_article("Energia e mobilità", topics=["energy", "mobility"])
    make_article("Senza tema", topics=[])
    energy = feedparser.parse(client.get("/feeds/energy.rss").data)
    assert {e.title for e in energy.entries} == {"Solo energia", "Energia e mobilità"}
    assert energy.feed.title == "Area Omogenea Cremasca – Energia"
    assert energy.feed.subtitle.startswith("Comunità energetiche rinnovabili")
    everything = feedparser.parse(client.get("/feeds/all.rss").data)
    assert len(everything.entries) == 4


@pytest.mark.usefixtures("feed_cache")
def test_newest_feed_items_only_newest_first(
    client: FlaskClient, make_article: MakeArticle
) -> None:
    limit = 50
    for n in range(limit + 3):
        make_article(f"Notizia {n}", published_at=utcnow() - timedelta(days=100 - n))
    parsed = feedparser.parse(client.get("/feeds/all.atom").data)
    assert len(parsed.entries) == limit
    assert parsed.entries[0].title == f"Notizia {limit + 2}"
    assert parsed.entries[-1].title == "Notizia 3"


@pytest.mark.usefixtures("feed_cache")
def test_unknown_topic_is_404(client: FlaskClient) -> None:
    assert client.get("/feeds/sport.rss").status_code == 404
    assert client.get("/feeds/sport.atom", headers={"Accept": "application/json"}).json == {
        "error": "no feed named 'sport'",
        "details": None,
    }
    assert client.get("/feeds/all.xml").status_code == 404


@pytest.mark.usefixtures("feed_cache")
def test_hidden_article_is_absent_and_hiding_changes_the_etag(
    client: FlaskClient, make_article: MakeArticle
) -> None:
    make_article("Visibile")
    hidden = make_article("Da nascondere")
    before = client.get("/feeds/mobility.rss")
    assert b"Da nascondere" in before.data
    hidden.hidden = True
    db.session.commit()
    after = client.get("/feeds/mobility.rss", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b"Da nascondere" not in after.data
    assert b"Visibile" in after.data
    make_article("Nascosta dall'inizio", hidden=True)
    assert b"Nascosta" not in client.get("/feeds/all.json").data


@pytest.mark.usefixtures("feed_cache")
def test_deleted_article_disappears(client: FlaskClient, make_article: MakeArticle) -> None:
    make_article("Resta")
    gone = make_article("Cancellata")
    first = client.get("/feeds/all.atom")
    assert b"Cancellata" in first.data
    db.session.delete(gone)
    db.session.commit()
    second = client.get("/feeds/all.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert b"Cancellata" not in second.data
    assert b"Resta" in second.data


@pytest.mark.usefixtures("feed_cache")
def test_200_then_304_then_new_etag_after_a_new_article(
    client: FlaskClient, make_article: MakeArticle
) -> None:
    make_article("Prima")
    first = client.get("/feeds/all.rss")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "a strong ETag"
    again = client.get("/feeds/all.rss", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "public, max-age=300"
    make_article("Seconda")
    changed = client.get("/feeds/all.rss", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert b"Seconda" in changed.data


@pytest.mark.usefixtures("feed_cache")
def test_if_modified_since(client: FlaskClient, make_article: MakeArticle) -> None:
    article = make_article("Datata")
    first = client.get("/feeds/all.atom")
    last_modified = first.headers["Last-Modified"]
    assert last_modified == http_date(article.updated_at.replace(microsecond=0))
    assert (
        client.get("/feeds/all.atom", headers={"If-Modified-Since": last_modified}).status_code
        == 304
    )
    earlier = http_date(article.updated_at - timedelta(minutes=1))
    assert client.get("/feeds/all.atom", headers={"If-Modified-Since": earlier}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    stale = client.get(
        "/feeds/all.atom", headers={"If-Modified-Since": last_modified, "If-None-Match": '"old"'}
    )
    assert stale.status_code == 200


def test_regeneration_is_byte_identical_with_the_same_etag(
    client: FlaskClient, make_article: MakeArticle, feed_cache: FeedCache
) -> None:
    make_article("Stabile", topics=["welfare", "energy"])
    make_article("Anche questa", topics=["welfare"])
    for path in ("/feeds/all.rss", "/feeds/welfare.atom", "/feeds/all.json"):
        feed_cache.clear()
        first = client.get(path)
        feed_cache.clear()
        second = client.get(path)
        assert first.headers["ETag"] == second.headers["ETag"]
        assert first.data == second.data
    rss = client.get("/feeds/all.rss").data
    build_date = re.search(rb"<lastBuildDate>(.*?)</lastBuildDate>", rss)
    assert build_date is not None
    newest = max(a.updated_at for a in db.session.scalars(db.select(Article))).replace(
        microsecond=0
    )
    assert email.utils.parsedate_to_datetime(build_date.group(1).decode()) == newest


@pytest.mark.usefixtures("feed_cache")
def test_edit_moves_updated_not_id(client: FlaskClient, make_article: MakeArticle) -> None:
    article = make_article("Titolo iniziale")
    before = feedparser.parse(client.get("/feeds/all.atom").data).entries[0]
    article.title = "Titolo corretto"
    article.updated_at = article.updated_at + timedelta(hours=1)
    db.session.commit()
    after = feedparser.parse(client.get("/feeds/all.atom").data).entries[0]
    assert after.id == before.id
    assert after.title == "Titolo corretto"
    assert after.updated_parsed > before.updated_parsed
    assert after.published == before.published


@pytest.mark.usefixtures("feed_cache")
@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_hostile_title_is_escaped_and_the_feed_still_parses(
    client: FlaskClient, make_article: MakeArticle, fmt: str
) -> None:
    title = "Bandi <script>alert('x')</script> & avvisi"
    make_article(title)
    response = client.get(f"/feeds/all.{fmt}")
    assert b"<script>" not in response.data
    if fmt == "json":
        assert json.loads(response.data)["items"][0]["title"] == title
    else:
        parsed = feedparser.parse(response.data)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.entries[0].title == title
        assert b"&lt;script&gt;" in response.data
        assert b"&amp; avvisi" in response.data
        raw_title = etree.fromstring(response.data).findtext(
            ".//{*}item/{*}title" if fmt == "rss" else ".//{*}entry/{*}title"
        )
        assert raw_title == title


@pytest.mark.usefixtures("some_articles", "feed_cache")
def test_digests_feed_links_to_the_archive(client: FlaskClient, make_digest: MakeDigest) -> None:
    from newsletter.digests.models import DigestKind

    make_digest(kind=DigestKind.CITIZEN, audience_key="citizen:mobility:it")
    response = client.get("/feeds/digests.atom")
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0
    assert parsed.feed.title == "Area Omogenea Cremasca – Archivio della newsletter"
    assert len(parsed.entries) == 2, "only editions, not citizens' digests"
    assert all(
        re.fullmatch(r"https://newsletter\.example\.org/archive/\d+", e.link)
        for e in parsed.entries
    )
    assert parsed.entries[0].title.startswith("La settimana nell'Area Omogenea Cremasca n. 2")
    assert ATOM_SCHEMA.validate(etree.fromstring(response.data)), ATOM_SCHEMA.error_log


@pytest.mark.usefixtures("feed_cache")
def test_empty_feeds_are_still_valid(client: FlaskClient) -> None:
    for path in ("/feeds/all.atom", "/feeds/welfare.atom", "/feeds/digests.atom"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Last-Modified" not in response.headers
        assert ATOM_SCHEMA.validate(etree.fromstring(response.data)), ATOM_SCHEMA.error_log
    assert feedparser.parse(client.get("/feeds/all.rss").data).bozo == 0


def test_one_query_per_request_once_cached(
    client: FlaskClient, make_article: MakeArticle, feed_cache: FeedCache
) -> None:
    import sqlalchemy as sa

    make_article("Una")
    client.get("/feeds/mobility.rss")
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get("/feeds/mobility.rss").status_code == 200
        assert client.get("/feeds/mobility.rss", headers={"If-None-Match": "*"}).status_code == 304
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 2, statements


def test_no_hub_configured_means_no_ping_and_no_hub_link(
    client: FlaskClient, make_article: MakeArticle, feed_cache: FeedCache
) -> None:
    from newsletter.delivery.models import Delivery

    make_article("Senza hub")
    assert db.session.scalars(db.select(Delivery)).all() == []
    assert b'rel="hub"' not in client.get("/feeds/all.atom").data


def test_version_ttl_spares_the_query_and_then_sees_the_change(
    app: Flask,
    client: FlaskClient,
    make_article: MakeArticle,
    feed_cache: FeedCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqlalchemy as sa

    from newsletter.feeds import views

    now = [1000.0]
    monkeypatch.setattr(views, "_clock", lambda: now[0])
    app.config["FEEDS_VERSION_TTL"] = 5.0
    make_article("Prima")
    first = client.get("/feeds/all.rss")
    statements: list[str] = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    make_article("Seconda")
    statements.clear()
    now[0] += 4.0
    within = client.get("/feeds/all.rss", headers={"If-None-Match": first.headers["ETag"]})
    assert within.status_code == 304, "within the TTL the known version stands"
    assert statements == [], "and no query was made"
    now[0] += 2.0
    after = client.get("/feeds/all.rss", headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200
    assert b"Seconda" in after.data
    assert client.get("/feeds/nope.rss").status_code == 404
