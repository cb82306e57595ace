"""Feeds of articles (everything, per topic) and of past digests, as RSS 2.0, Atom and JSON Feed.

A feed is identified by its *version*: one cheap aggregate query over what the feed shows. The
version names the ETag and the cache slot, so polling costs that one query and, when nothing
changed, nothing else. Rendering is deterministic (no "generated at" anywhere): the same rows give
the same bytes, so the ETag can be strong.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit

import nh3
import sqlalchemy as sa
from feedgen.feed import FeedGenerator
from flask import current_app
from lxml import etree
from sqlalchemy.orm import selectinload

from newsletter.alerts import service as alerts
from newsletter.articles.models import Article, ArticleMunicipality, ArticleTopic
from newsletter.articles.queries import visible_articles
from newsletter.digests.models import Digest, DigestKind
from newsletter.exceptions import NotFound
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
TAG_DATE = "2024"  # the tag: URI date; fixed forever, or every id would change
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "updated" of a feed with nothing in it yet

ALL = "all"
DIGESTS = "digests"
COMUNI = "comuni/"  # a comune's feed is named comuni/<slug>: /feeds/comuni/<slug>.rss
ALERTS = "avvisi"  # urgent alerts: /feeds/avvisi.rss; a comune's: comuni/<slug>/avvisi (Atom)
ALERTS_EN = "alerts"  # the same in English: /feeds/alerts.rss, comuni/<slug>/alerts
ALERT_FEEDS = {ALERTS: "it", ALERTS_EN: "en"}  # feed name -> language
CAP_INDEX = "cap"  # /feeds/avvisi.cap: an Atom index of the alerts' CAP 1.2 documents
CAP_MIMETYPE = "application/cap+xml"
CAP_ABOUT = "https://docs.oasis-open.org/emergency/cap/v1.2/CAP-v1.2-os.html"  # JSON "_cap"

SITE_NAME = "Area Omogenea Cremasca"
ALL_TITLE = f"{SITE_NAME} – Tutte le notizie"
ALL_DESCRIPTION = (
    "Le notizie dei 48 comuni dell'Area Omogenea Cremasca: welfare, mobilità, energia e governance."
)
DIGESTS_TITLE = f"{SITE_NAME} – Archivio della newsletter"
DIGESTS_DESCRIPTION = "Le edizioni passate della newsletter dell'Area Omogenea Cremasca."
AUTHOR = {"name": "Area Omogenea Cremasca – Consorzio.it"}


class FeedFormat(enum.StrEnum):
    RSS = "rss"
    ATOM = "atom"
    JSON = "json"

    @property
    def mimetype(self) -> str:
        return MIMETYPES[self]


MIMETYPES = {
    FeedFormat.RSS: "application/rss+xml",
    FeedFormat.ATOM: "application/atom+xml",
    FeedFormat.JSON: "application/feed+json",
}


@dataclass(frozen=True)
class FeedVersion:
    """What a feed depends on, summed up by one cheap query: when it changes, render again.

    ``state`` holds raw aggregates of the tables the feed reads (newest change, row counts,
    newest id); it may change when the feed's bytes do not (an article of another topic), which
    only costs one render: the ETag is the hash of the bytes, so readers see no change then.
    """

    name: str
    topic_id: int | None
    topic_name: str
    topic_description: str
    state: tuple[Any, ...]
    municipality_id: int | None = None  # a comune's feed: its articles (mentions)
    alerts: bool = False  # a feed of urgent alerts (all, or a comune's): feeds.alertfeeds
    language: str = "it"  # of the feed's own text (alerts: an English twin exists)


def body_etag(body: bytes) -> str:
    """A strong ETag: the bytes' own hash, so equal bytes get equal tags in every process."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class FeedItem:
    id: str
    title: str
    link: str
    published: datetime
    updated: datetime
    summary_html: str
    summary_text: str
    categories: tuple[tuple[str, str], ...] = ()  # (term, label)
    cap_url: str | None = None  # an alert's CAP 1.2 document (Atom: a second alternate link)
    cap_fields: tuple[tuple[str, str], ...] = ()  # CAP values (Atom CAP index, JSON "_cap")


@dataclass(frozen=True)
class FeedDocument:
    id: str
    name: str
    title: str
    description: str
    home_url: str
    updated: datetime
    items: tuple[FeedItem, ...]
    language: str = "it"


@dataclass(frozen=True)
class FeedUrls:
    base_url: str
    hub_url: str | None

    def feed(self, name: str, fmt: str) -> str:
        return f"{self.base_url}/feeds/{name}.{fmt}"


def feed_urls() -> FeedUrls:
    config = current_app.config
    return FeedUrls(
        base_url=str(config["BASE_URL"]).rstrip("/"),
        hub_url=config.get("WEBSUB_HUB_URL") or None,
    )


def tag_uri(kind: str, key: str | int) -> str:
    """A permanent id (RFC 4151) that survives a change of the article's URL or an edit."""
    host = urlsplit(feed_urls().base_url).hostname or "localhost"
    return f"tag:{host},{TAG_DATE}:{kind}/{key}"


# --- versions: the one query a request costs ---

# Each aggregate is a scalar subquery of its own so that both databases answer it from an index
# (max of an indexed column, max of the primary key) instead of scanning the table; the counts
# walk the narrowest index. Hiding or editing an article moves ``updated_at`` (onupdate), a
# deletion lowers a count, a new article raises the newest id: every change moves the state.
_ARTICLE_STATE = (
    sa.select(sa.func.max(Article.updated_at)).scalar_subquery(),
    sa.select(sa.func.count()).select_from(Article).scalar_subquery(),
    sa.select(sa.func.max(Article.id)).scalar_subquery(),
    sa.select(sa.func.count()).select_from(ArticleTopic).scalar_subquery(),
)
ALL_VERSION_SQL = sa.select(*_ARTICLE_STATE)
TOPIC_VERSION_SQL = sa.select(Topic.id, Topic.name_it, Topic.description_it, *_ARTICLE_STATE).where(
    Topic.slug == sa.bindparam("slug")
)
COMUNE_VERSION_SQL = sa.select(
    Municipality.id,
    Municipality.name,
    *_ARTICLE_STATE,
    # an editor adding or removing a comune on an article changes the comune's feed
    sa.select(sa.func.count()).select_from(ArticleMunicipality).scalar_subquery(),
).where(Municipality.slug == sa.bindparam("slug"))
ALERTS_VERSION_SQL = sa.select(*alerts.public_state())
COMUNE_ALERTS_VERSION_SQL = sa.select(
    Municipality.id, Municipality.name, *alerts.public_state()
).where(Municipality.slug == sa.bindparam("slug"))
DIGESTS_VERSION_SQL = sa.select(
    sa.func.max(Digest.id), sa.func.count(Digest.id), sa.func.max(Digest.created_at)
).where(Digest.kind == DigestKind.EDITION)


def feed_version(name: str) -> FeedVersion:
    """The version of the named feed; NotFound for a name that is no topic.

    Runs on a pooled connection of its own, not the ORM session: a poll that ends in a 304 or
    in cached bytes then never builds (or tears down) a session.
    """
    with db.engine.connect() as conn:
        if name == ALL:
            row = conn.execute(ALL_VERSION_SQL).one()
            return FeedVersion(name, None, "", "", tuple(row))
        if name == DIGESTS:
            row = conn.execute(DIGESTS_VERSION_SQL).one()
            return FeedVersion(name, None, "", "", tuple(row))
        if name in ALERT_FEEDS:
            row = conn.execute(ALERTS_VERSION_SQL).one()
            return FeedVersion(
                name, None, "", "", tuple(row), alerts=True, language=ALERT_FEEDS[name]
            )
        town_part, _slash, last = name.rpartition("/")
        if town_part.startswith(COMUNI) and last in ALERT_FEEDS:
            slug = town_part[len(COMUNI) :]
            town = conn.execute(COMUNE_ALERTS_VERSION_SQL, {"slug": slug}).first()
            if town is None:
                raise NotFound(f"no feed named {name!r}")
            town_id, town_name, *town_state = town
            return FeedVersion(
                name,
                None,
                town_name,
                "",
                tuple(town_state),
                int(town_id),
                alerts=True,
                language=ALERT_FEEDS[last],
            )
        if name.startswith(COMUNI):
            town = conn.execute(COMUNE_VERSION_SQL, {"slug": name[len(COMUNI) :]}).first()
            if town is None:
                raise NotFound(f"no feed named {name!r}")
            town_id, town_name, *town_state = town
            description = f"Le notizie che riguardano {town_name} (Area Omogenea Cremasca)."
            return FeedVersion(name, None, town_name, description, tuple(town_state), int(town_id))
        found = conn.execute(TOPIC_VERSION_SQL, {"slug": name}).first()
    if found is None:
        raise NotFound(f"no feed named {name!r}")
    topic_id, topic_name, description, *state = found
    return FeedVersion(name, int(topic_id), topic_name, description or "", tuple(state))


# --- the content of a feed ---


def _article_item(article: Article, base_url: str) -> FeedItem:
    topics = sorted((link.topic for link in article.topic_links), key=lambda t: t.position)
    if article.body_html:
        # Sanitised when it came in; cleaning again costs nothing per request (cached bytes).
        html = nh3.clean(article.body_html)
    elif article.summary:
        html = f"<p>{escape(article.summary)}</p>"
    else:
        html = f"<p>{escape(article.title)}</p>"
    published = article.published_at
    return FeedItem(
        id=tag_uri("article", article.id),
        title=article.title,
        link=article.url or f"{base_url}/",
        published=published,
        updated=max(article.updated_at, published),
        summary_html=html,
        summary_text=article.summary or article.body_text[:500],
        categories=tuple((topic.slug, topic.name_it) for topic in topics),
    )


def _digest_item(digest: Digest, base_url: str) -> FeedItem:
    text = digest.preheader or digest.subject
    return FeedItem(
        id=tag_uri("digest", digest.id),
        title=digest.subject,
        link=f"{base_url}/archive/{digest.id}",
        published=digest.created_at,
        updated=digest.created_at,
        summary_html=f"<p>{escape(text)}</p>",
        summary_text=text,
    )


def feed_document(version: FeedVersion) -> FeedDocument:
    """Gather what the feed of this version shows (newest FEED_ITEMS rows)."""
    base_url = feed_urls().base_url
    limit = int(current_app.config["FEED_ITEMS"])
    items: list[FeedItem]
    if version.name == DIGESTS:
        digests = db.session.scalars(
            sa.select(Digest)
            .where(Digest.kind == DigestKind.EDITION)
            .order_by(Digest.created_at.desc(), Digest.id.desc())
            .limit(limit)
        )
        items = [_digest_item(digest, base_url) for digest in digests]
        title, description = DIGESTS_TITLE, DIGESTS_DESCRIPTION
    else:
        query = (
            visible_articles(topic_id=version.topic_id)
            .limit(limit)
            .options(selectinload(Article.topic_links))
        )
        if version.municipality_id is not None:
            query = query.where(
                Article.id.in_(
                    sa.select(ArticleMunicipality.article_id).where(
                        ArticleMunicipality.municipality_id == version.municipality_id
                    )
                )
            )
            title = f"{SITE_NAME} – {version.topic_name}"
            description = version.topic_description
        elif version.topic_id is not None:
            title = f"{SITE_NAME} – {version.topic_name}"
            description = version.topic_description or ALL_DESCRIPTION
        else:
            title, description = ALL_TITLE, ALL_DESCRIPTION
        items = [_article_item(article, base_url) for article in db.session.scalars(query)]
    return FeedDocument(
        id=tag_uri("feed", version.name),
        name=version.name,
        title=title,
        description=description,
        home_url=(
            f"{base_url}/archive"
            if version.name == DIGESTS
            else f"{base_url}/{version.name}"
            if version.municipality_id is not None
            else f"{base_url}/"
        ),
        updated=max((item.updated for item in items), default=EPOCH),
        items=tuple(items),
    )


# --- serialisation ---


def mimetype_of(fmt: str) -> str:
    """The content type of a feed format (the CAP index is an Atom feed)."""
    return MIMETYPES[FeedFormat.ATOM] if fmt == CAP_INDEX else FeedFormat(fmt).mimetype


def feed_generator(doc: FeedDocument, fmt: str, urls: FeedUrls) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(doc.id)
    fg.title(doc.title)
    fg.subtitle(doc.description)
    fg.author(AUTHOR)
    fg.language(doc.language)
    fg.link(href=urls.feed(doc.name, fmt), rel="self", type=mimetype_of(fmt))
    if urls.hub_url and fmt in (FeedFormat.ATOM, CAP_INDEX):
        fg.link(href=urls.hub_url, rel="hub")
    fg.link(href=doc.home_url, rel="alternate", type="text/html")  # last: feedgen's RSS <link>
    fg.updated(doc.updated)  # feedgen defaults to "now": the bytes must not depend on the clock
    for item in doc.items:
        entry = fg.add_entry(order="append")
        entry.id(item.id)
        entry.title(item.title)
        entry.link(href=item.link, rel="alternate")
        entry.published(item.published)
        entry.updated(item.updated)
        entry.summary(item.summary_html, type="html")
        if item.categories:
            entry.category([{"term": term, "label": label} for term, label in item.categories])
    return fg


def render_rss(doc: FeedDocument, urls: FeedUrls) -> bytes:
    fg = feed_generator(doc, FeedFormat.RSS, urls)
    root, tree = fg._create_rss()
    if urls.hub_url:
        # feedgen writes only rel="self" into RSS; WebSub wants the hub beside it.
        channel = root.find("channel")
        etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=urls.hub_url, rel="hub")
    return bytes(etree.tostring(tree, encoding="UTF-8", xml_declaration=True))


def atom_tree(doc: FeedDocument, fmt: str, urls: FeedUrls) -> etree._ElementTree:
    """The Atom feed as a tree; an alert's entry gets a second alternate link, to its CAP
    document (feedgen 1.0 drops the ``rel`` and ``type`` of entry links: set here)."""
    feed, tree = feed_generator(doc, fmt, urls)._create_atom()
    # feedgen's elements carry no namespace: the default one is declared on <feed> as text.
    for entry, item in zip(feed.xpath("*[local-name()='entry']"), doc.items, strict=True):
        if item.cap_url:
            html = entry.find("link")
            html.set("rel", "alternate")
            html.set("type", "text/html")
            html.addprevious(
                etree.Element("link", href=item.cap_url, rel="alternate", type=CAP_MIMETYPE)
            )
    return tree


def render_atom(doc: FeedDocument, urls: FeedUrls) -> bytes:
    tree = atom_tree(doc, FeedFormat.ATOM, urls)
    return bytes(etree.tostring(tree, encoding="UTF-8", xml_declaration=True))


def render_json(doc: FeedDocument, urls: FeedUrls) -> bytes:
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": doc.title,
        "home_page_url": doc.home_url,
        "feed_url": urls.feed(doc.name, FeedFormat.JSON),
        "description": doc.description,
        "language": doc.language,
        "authors": [AUTHOR],
    }
    if urls.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": urls.hub_url}]
    feed["items"] = [
        {
            "id": item.id,
            "url": item.link,
            "title": item.title,
            "content_html": item.summary_html,
            **({"summary": item.summary_text} if item.summary_text else {}),
            "date_published": item.published.isoformat(),
            "date_modified": item.updated.isoformat(),
            **({"tags": [label for _term, label in item.categories]} if item.categories else {}),
            **(
                {"_cap": {"about": CAP_ABOUT, "url": item.cap_url, **dict(item.cap_fields)}}
                if item.cap_url
                else {}
            ),
        }
        for item in doc.items
    ]
    text = json.dumps(feed, ensure_ascii=False, indent=1)
    # Same values once decoded; no raw markup for anything that sniffs the body as HTML.
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


RENDERERS = {
    FeedFormat.RSS: render_rss,
    FeedFormat.ATOM: render_atom,
    FeedFormat.JSON: render_json,
}


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    etag: str
    last_modified: datetime | None  # the newest item's update, to the second


def render(version: FeedVersion, fmt: FeedFormat) -> RenderedFeed:
    doc = feed_document(version)
    body = RENDERERS[fmt](doc, feed_urls())
    newest = max((item.updated for item in doc.items), default=None)
    return RenderedFeed(body, body_etag(body), newest.replace(microsecond=0) if newest else None)


def feed_names(topics: Sequence[Topic]) -> list[str]:
    return [ALL, *(topic.slug for topic in topics)]
