"""Serialising a feed document: deterministic bytes, escaped text, RFC 822 dates in RSS."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import feedparser
from lxml import etree

from newsletter.feeds.service import (
    FeedDocument,
    FeedItem,
    FeedUrls,
    render_atom,
    render_json,
    render_rss,
)

URLS = FeedUrls(base_url="https://n.example.org", hub_url=None)
ITEM = FeedItem(
    id="tag:n.example.org,2024:article/7",
    title="Fish & chips <b>bold</b>",
    link="https://comune.example.it/a",
    published=datetime(2024, 11, 18, 9, 0, tzinfo=UTC),
    updated=datetime(2024, 11, 19, 10, 30, tzinfo=UTC),
    summary_html="<p>Testo</p>",
    summary_text="Testo",
    categories=(("energy", "Energia"),),
)
DOC = FeedDocument(
    id="tag:n.example.org,2024:feed/all",
    name="all",
    title="Tutte le notizie",
    description="Descrizione",
    home_url="https://n.example.org/",
    updated=ITEM.updated,
    items=(ITEM,),
)


def test_rendering_does_not_depend_on_the_clock() -> None:
    for render in (render_rss, render_atom, render_json):
        assert render(DOC, URLS) == render(DOC, URLS)
    rss = render_rss(DOC, URLS)
    assert b"<lastBuildDate>Tue, 19 Nov 2024 10:30:00 +0000</lastBuildDate>" in rss
    assert b"<pubDate>Mon, 18 Nov 2024 09:00:00 +0000</pubDate>" in rss
    assert b"<updated>2024-11-19T10:30:00+00:00</updated>" in render_atom(DOC, URLS)


def test_titles_are_text_not_markup() -> None:
    rss = render_rss(DOC, URLS)
    assert b"<title>Fish &amp; chips &lt;b&gt;bold&lt;/b&gt;</title>" in rss
    atom = render_atom(DOC, URLS)
    assert etree.fromstring(atom).findtext("{*}entry/{*}title") == ITEM.title
    body = render_json(DOC, URLS)
    assert b"<b>" not in body
    assert json.loads(body)["items"][0]["title"] == ITEM.title
    for data in (rss, atom):
        parsed = feedparser.parse(data)
        assert parsed.bozo == 0
        assert parsed.entries[0].title == ITEM.title


def test_rss_channel_links_to_the_site_and_names_itself() -> None:
    channel = etree.fromstring(render_rss(DOC, URLS)).find("channel")
    assert channel is not None
    assert channel.findtext("link") == "https://n.example.org/"
    self_link = channel.find("{http://www.w3.org/2005/Atom}link")
    assert self_link is not None
    assert self_link.get("rel") == "self"
    assert self_link.get("href") == "https://n.example.org/feeds/all.rss"
    assert channel.find("item/category") is not None
    assert channel.findtext("item/category") == "Energia"


def test_hub_link_in_every_format() -> None:
    urls = FeedUrls(base_url="https://n.example.org", hub_url="https://hub.example.org/")
    assert b'<atom:link href="https://hub.example.org/" rel="hub"/>' in render_rss(DOC, urls)
    assert b'<link href="https://hub.example.org/" rel="hub"/>' in render_atom(DOC, urls)
    assert json.loads(render_json(DOC, urls))["hubs"] == [
        {"type": "WebSub", "url": "https://hub.example.org/"}
    ]
