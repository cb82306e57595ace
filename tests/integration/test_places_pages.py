"""/comuni, /comuni/<slug> and the comuni's feeds: every page and feed valid, stable ids,
ETag/304, topic filter, the subscribe form pre-set, renamed comuni redirect."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from newsletter.articles import service as articles
from newsletter.articles.models import SourceKind
from newsletter.audit import Actor
from newsletter.extensions import db
from newsletter.reference import service as reference
from tests.integration.test_feeds_http import ATOM_SCHEMA, MIMETYPES, assert_valid_json_feed

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"FEEDS_VERSION_TTL": 0}


def _article(external_id: str, title: str, body: str, topics: list[str], age_days: float) -> int:
    source = articles.get_or_create_source("cms-places", SourceKind.PUSH)
    item = articles.parse_article(
        {
            "external_id": external_id,
            "title": title,
            "url": f"https://www.comune.example.it/{external_id}",
            "published_at": (NOW - timedelta(days=age_days)).isoformat(),
            "body": body,
            "topics": topics,
        }
    )
    article, _ = articles.upsert_and_commit(source, item)
    return int(article.id)


@pytest.fixture
def news(app: Flask) -> dict[str, int]:
    names = ", ".join(m.name for m in reference.list_municipalities())
    return {
        "all": _article(
            "tutti",
            "L'assemblea dei sindaci dell'Area Omogenea",
            f"Presenti i sindaci di {names}.",
            ["governance"],
            age_days=3,
        ),
        "ombriano": _article(
            "ombriano",
            "Nuovo centro diurno a Ombriano",
            "Il servizio apre a gennaio.",
            ["welfare"],
            age_days=1,
        ),
        "old": _article(
            "vecchia",
            "Crema, la pista ciclabile di due mesi fa",
            "Notizia di mobilità.",
            ["mobility"],
            age_days=60,
        ),
        "spino": _article(
            "spino",
            "Spino, lavori sulla Paullese",
            "La strada resta aperta.",
            ["mobility"],
            age_days=2,
        ),
    }


def test_comuni_lists_the_48_with_their_recent_articles(
    client: FlaskClient, news: dict[str, int]
) -> None:
    html = client.get("/comuni").get_data(as_text=True)
    cards = re.findall(r'<a href="/comuni/([a-z0-9-]+)">([^<]+)</a>', html)
    assert len(cards) == 48
    assert ("spino-d-adda", "Spino d&#39;Adda") in cards
    # Crema: the assembly and Ombriano (the article of 60 days ago is not recent)
    crema = html.split('href="/comuni/crema"')[1].split("</li>")[0]
    assert "2 articoli recenti" in crema
    pandino = html.split('href="/comuni/pandino"')[1].split("</li>")[0]
    assert "1 articolo recente" in pandino


def test_a_comunes_page_newest_first_with_its_localities_and_a_topic_filter(
    client: FlaskClient, news: dict[str, int]
) -> None:
    response = client.get("/comuni/crema")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.index("Nuovo centro diurno a Ombriano") < html.index("L&#39;assemblea dei sindaci")
    assert html.index("L&#39;assemblea dei sindaci") < html.index("la pista ciclabile")
    assert "Spino, lavori" not in html
    welfare = client.get("/comuni/crema?topic=welfare").get_data(as_text=True)
    assert "Nuovo centro diurno a Ombriano" in welfare
    assert "assemblea dei sindaci" not in welfare
    assert 'aria-current="page">Welfare' in welfare
    assert client.get("/comuni/crema?topic=sport").status_code == 404
    assert client.get("/comuni/cremona").status_code == 404


def test_a_comunes_page_presets_the_form_and_advertises_its_feeds(
    client: FlaskClient, news: dict[str, int]
) -> None:
    html = client.get("/comuni/spino-d-adda").get_data(as_text=True)
    assert '<option value="spino-d-adda" selected>' in html
    assert "Anche tutte le notizie su Spino d&#39;Adda, di qualsiasi tema" in html
    for fmt, mimetype in (
        ("rss", "application/rss+xml"),
        ("atom", "application/atom+xml"),
        ("json", "application/feed+json"),
    ):
        href = f"https://newsletter.example.org/feeds/comuni/spino-d-adda.{fmt}"
        assert f'<link rel="alternate" type="{mimetype}"' in html
        assert f'href="{href}"' in html


def test_every_page_and_all_144_feeds_validate(client: FlaskClient, news: dict[str, int]) -> None:
    slugs = [m.slug for m in reference.list_municipalities()]
    assert len(slugs) == 48
    all_ids = {entry.id for entry in feedparser.parse(client.get("/feeds/all.atom").data).entries}
    for slug in slugs:
        page = client.get(f"/comuni/{slug}")
        assert page.status_code == 200, slug
        etree.fromstring(page.data, etree.HTMLParser(recover=False))
        for fmt in ("rss", "atom", "json"):
            path = f"/feeds/comuni/{slug}.{fmt}"
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["Content-Type"] == MIMETYPES[fmt]
            if fmt == "json":
                feed = json.loads(response.data)
                assert_valid_json_feed(feed)
                assert feed["feed_url"] == f"https://newsletter.example.org{path}"
                assert feed["home_page_url"] == f"https://newsletter.example.org/comuni/{slug}"
                continue
            parsed = feedparser.parse(response.data)
            assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
            assert parsed.entries, path
            assert [link.href for link in parsed.feed.links if link.rel == "self"] == [
                f"https://newsletter.example.org{path}"
            ]
            if fmt == "atom":
                assert ATOM_SCHEMA.validate(etree.fromstring(response.data)), ATOM_SCHEMA.error_log
                # the same stable ids as the site-wide feed
                assert {entry.id for entry in parsed.entries} <= all_ids


def test_a_comunes_feed_holds_its_articles_and_answers_304(
    client: FlaskClient, news: dict[str, int]
) -> None:
    first = client.get("/feeds/comuni/crema.atom")
    titles = [entry.title for entry in feedparser.parse(first.data).entries]
    assert titles == [
        "Nuovo centro diurno a Ombriano",
        "L'assemblea dei sindaci dell'Area Omogenea",
        "Crema, la pista ciclabile di due mesi fa",
    ]
    etag = first.headers["ETag"]
    assert client.get("/feeds/comuni/crema.atom", headers={"If-None-Match": etag}).status_code == (
        304
    )
    # an article elsewhere changes nothing readers see: same bytes, same tag
    _article("altrove", "Notizia di Soncino", "Solo Soncino.", ["energy"], age_days=0.5)
    assert client.get("/feeds/comuni/crema.atom").headers["ETag"] == etag
    # an editor removing Crema from an article changes the feed
    articles.set_municipality_by_editor(
        news["old"],
        reference.municipality_by_name("Crema").id,
        False,
        actor=Actor("editor@example.org"),
    )
    after = client.get("/feeds/comuni/crema.atom", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["ETag"] != etag
    assert "due mesi fa" not in after.get_data(as_text=True)


def test_a_renamed_comune_keeps_its_old_addresses(
    client: FlaskClient, news: dict[str, int]
) -> None:
    reference.rename_municipality("Torlino Vimercati", "Torlino", actor=Actor("tests"))
    db.session.commit()
    page = client.get("/comuni/torlino-vimercati?topic=governance")
    assert page.status_code == 301
    assert page.headers["Location"].endswith("/comuni/torlino?topic=governance")
    feed = client.get("/feeds/comuni/torlino-vimercati.rss")
    assert feed.status_code == 301
    assert feed.headers["Location"].endswith("/feeds/comuni/torlino.rss")
    assert client.get("/feeds/comuni/torlino.rss").status_code == 200
    assert client.get("/feeds/comuni/nowhere.rss").status_code == 404
