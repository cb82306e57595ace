"""Autodiscovery: public pages announce the feeds (HTTP Link now, <link> tags via a helper)."""

from __future__ import annotations

from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_babel import refresh
from lxml import html


def test_home_page_announces_the_feeds_in_a_link_header(client: FlaskClient) -> None:
    response = client.get("/")
    link = response.headers["Link"]
    for fmt, mimetype in (
        ("rss", "application/rss+xml"),
        ("atom", "application/atom+xml"),
        ("json", "application/feed+json"),
    ):
        assert (
            f'<https://newsletter.example.org/feeds/all.{fmt}>; rel="alternate"; type="{mimetype}"'
        ) in link
    assert "Link" not in client.get("/feeds/all.rss").headers
    assert "Link" not in client.get("/healthz").headers


def test_link_tags_for_a_topic_page_in_the_page_language(app: Flask) -> None:
    template = "<head>{{ feed_link_tags('energy', 'Energia & clima') }}</head>"
    with app.test_request_context("/?lang=it"):
        italian = html.fromstring(render_template_string(template))
    links = italian.xpath("//link[@rel='alternate']")
    site = "https://newsletter.example.org/feeds"
    expected = [
        (mimetype, f"{site}/{name}.{fmt}", f"{title} ({label})")
        for name, title in (("all", "Tutte le notizie"), ("energy", "Notizie: Energia & clima"))
        for fmt, mimetype, label in (
            ("rss", "application/rss+xml", "RSS"),
            ("atom", "application/atom+xml", "Atom"),
            ("json", "application/feed+json", "JSON Feed"),
        )
    ]
    assert [(el.get("type"), el.get("href"), el.get("title")) for el in links] == expected
    with app.test_request_context("/?lang=en"):
        refresh()  # the test's app context outlives the request: drop its cached locale
        english = render_template_string("{{ feed_link_tags() }}")
    assert 'title="All news (Atom)"' in english
    assert "energy" not in english


def test_home_and_topic_pages_carry_the_link_tags(client: FlaskClient) -> None:
    site = "https://newsletter.example.org/feeds"
    home = html.fromstring(client.get("/").get_data(as_text=True))
    hrefs = [el.get("href") for el in home.xpath("//head/link[@rel='alternate']")]
    assert hrefs == [
        f"{site}/all.rss",
        f"{site}/all.atom",
        f"{site}/all.json",
        # urgent alerts, announced on the home page like its banner
        f"{site}/avvisi.rss",
        f"{site}/avvisi.atom",
        f"{site}/avvisi.json",
        f"{site}/avvisi.cap",
    ]
    topic = html.fromstring(client.get("/topics/mobility").get_data(as_text=True))
    hrefs = [el.get("href") for el in topic.xpath("//head/link[@rel='alternate']")]
    assert f"{site}/mobility.atom" in hrefs
    assert f"{site}/all.atom" in hrefs
    assert not any("energy" in href for href in hrefs)
