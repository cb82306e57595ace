"""Feeds pulled from a local HTTP server: conditional GET, failures recorded, nothing lost."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter.articles import feeds_import
from newsletter.articles.models import Article, Source
from newsletter.audit import Actor
from newsletter.extensions import db
from newsletter.hooks import registry
from tests.fixtures.articles import FeedServer

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Comune</title><link>https://comune.example/</link>
<description>Notizie</description>
<item><guid>https://comune.example/n/1</guid><title>Bollette più leggere con il fotovoltaico</title>
<link>https://comune.example/n/1</link><pubDate>Thu, 19 Nov 2026 08:00:00 +0100</pubDate>
<description>&lt;p&gt;A Crema i pannelli solari &lt;script&gt;alert(1)&lt;/script&gt;
riducono le bollette.&lt;/p&gt;</description>
</item>
<item><guid isPermaLink="false">item-2</guid><title>Nuovi orari dell'autobus</title>
<link>https://comune.example/n/2</link><pubDate>Fri, 20 Nov 2026 08:00:00 +0100</pubDate>
<category>mobility</category><description>Corse in più per i pendolari.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Area</title><id>urn:area</id>
<updated>2026-11-20T08:00:00Z</updated>
<entry><id>urn:area:1</id><title>Regolamento approvato</title>
<link href="https://area.example/1"/><updated>2026-11-20T08:00:00Z</updated>
<content type="html">&lt;p&gt;L'assemblea dei sindaci approva il regolamento.&lt;/p&gt;
</content></entry>
</feed>"""


def _articles() -> list[Article]:
    return list(db.session.scalars(sa.select(Article).order_by(Article.external_id)))


def _serve(server: FeedServer, body: str, **headers: str) -> None:
    server.status = 200
    server.body = body.encode("utf-8")
    server.headers = {"Content-Type": "application/rss+xml; charset=utf-8", **headers}


def test_rss_import_then_304_changes_nothing(
    runner: FlaskCliRunner, feed_server: FeedServer, municipalities: None
) -> None:
    _serve(feed_server, RSS, ETag='"v1"', **{"Last-Modified": "Fri, 20 Nov 2026 08:00:00 GMT"})
    result = runner.invoke(args=["articles", "import", feed_server.url])
    assert result.exit_code == 0, result.output
    assert "created 2, updated 0, skipped 0" in result.output
    first = feed_server.requests[0]
    assert first["user-agent"].startswith("newsletter-cremasco/")
    assert "(+https://newsletter.example.org)" in first["user-agent"]
    assert "if-none-match" not in first
    articles = _articles()
    assert [a.external_id for a in articles] == ["https://comune.example/n/1", "item-2"]
    assert "<script" not in articles[0].body_html
    assert articles[0].topic_slugs == ["energy"]
    assert [m.municipality.name for m in articles[0].municipality_links] == ["Crema"]
    assert articles[1].topic_slugs == ["mobility"]  # the feed's own category
    versions = [a.updated_at for a in articles]

    result = runner.invoke(args=["articles", "import", feed_server.url])
    assert result.exit_code == 0, result.output
    assert "not modified" in result.output
    assert feed_server.requests[1]["if-none-match"] == '"v1"'
    assert feed_server.requests[1]["if-modified-since"] == "Fri, 20 Nov 2026 08:00:00 GMT"
    db.session.expire_all()
    assert [a.updated_at for a in _articles()] == versions
    source = db.session.scalar(sa.select(Source).where(Source.url == feed_server.url))
    assert source is not None
    assert source.last_status == "not-modified"


def test_changed_feed_updates_in_place(runner: FlaskCliRunner, feed_server: FeedServer) -> None:
    _serve(feed_server, RSS, ETag='"v1"')
    runner.invoke(args=["articles", "import", feed_server.url])
    _serve(feed_server, RSS.replace("Nuovi orari dell'autobus", "Orari estivi"), ETag='"v2"')
    result = runner.invoke(args=["articles", "import", feed_server.url])
    assert "created 0, updated 1, skipped 1" in result.output
    assert [a.title for a in _articles()][1] == "Orari estivi"
    source = db.session.scalar(sa.select(Source).where(Source.url == feed_server.url))
    assert source is not None
    assert source.etag == '"v2"'


def test_atom_entries_upsert_by_id(runner: FlaskCliRunner, feed_server: FeedServer) -> None:
    _serve(feed_server, ATOM)
    assert "created 1" in runner.invoke(args=["articles", "import", feed_server.url]).output
    assert "skipped 1" in runner.invoke(args=["articles", "import", feed_server.url]).output
    (article,) = _articles()
    assert article.external_id == "urn:area:1"
    assert article.topic_slugs == ["governance"]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, "oops", "HTTP 500"),
        (200, "<html><body>not a feed", "not a readable RSS/Atom feed"),
        (200, "<?xml version='1.0'?><rss><channel><item><title>x</ti", "not a readable"),
    ],
)
def test_broken_source_is_reported_and_loses_nothing(
    runner: FlaskCliRunner, feed_server: FeedServer, status: int, body: str, message: str
) -> None:
    _serve(feed_server, RSS)
    runner.invoke(args=["articles", "import", feed_server.url])
    feed_server.status, feed_server.body = status, body.encode()
    feed_server.headers = {"Content-Type": "text/html"}
    result = runner.invoke(args=["articles", "import", feed_server.url])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert len(_articles()) == 2
    source = db.session.scalar(sa.select(Source).where(Source.url == feed_server.url))
    assert source is not None
    assert source.last_status == "error"
    assert source.last_error is not None
    assert message in source.last_error


def test_timeout_is_recorded_and_poller_goes_on(
    app: Flask, runner: FlaskCliRunner, feed_server: FeedServer
) -> None:
    app.config["SOURCE_READ_TIMEOUT"] = 0.5
    slow = feeds_import.add_source(feed_server.url, "lento", actor=Actor("tests"))
    _serve(feed_server, ATOM)
    feed_server.delay = 5
    result = runner.invoke(args=["articles", "sources", "poll"])
    assert result.exit_code == 1
    assert "no answer within the time limit" in result.output
    db.session.expire_all()
    assert db.session.get(Source, slow.id).last_status == "timeout"  # type: ignore[union-attr]
    assert _articles() == []
    feed_server.delay = 0
    feeds_import.poll_all_sources()
    assert len(_articles()) == 1
    assert db.session.get(Source, slow.id).last_status == "ok"  # type: ignore[union-attr]


def test_unreachable_source_does_not_stop_the_others(app: Flask, feed_server: FeedServer) -> None:
    feeds_import.add_source("http://127.0.0.1:9/feed.xml", "spento", actor=Actor("tests"))
    feeds_import.add_source(feed_server.url, "acceso", actor=Actor("tests"))
    _serve(feed_server, RSS)
    feeds_import.poll_all_sources()
    assert len(_articles()) == 2
    statuses = {s.name: s.last_status for s in feeds_import.list_sources()}
    assert statuses == {"spento": "error", "acceso": "ok"}


def test_sources_cli_and_poll_job(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["articles", "sources", "add", "https://comune.example/rss", "--name", "Comune"]
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["articles", "sources", "add", "https://comune.example/rss"])
    assert again.exit_code == 1
    assert "exists already" in again.output
    bad = runner.invoke(args=["articles", "sources", "add", "ftp://x"])
    assert bad.exit_code == 1
    listed = runner.invoke(args=["articles", "sources", "list"])
    assert "Comune\thttps://comune.example/rss\tpolled\t-\tnever" in listed.output
    (job,) = [j for j in registry(app).jobs if j.name == "poll-sources"]
    assert job.trigger(app) == {"trigger": "interval", "minutes": 15}
    assert job.func is feeds_import.poll_all_sources
