"""WebSub: tell the hub that feeds changed, through the outbox, never from the web request.

Two ways in, both adding one ``websub`` outbox row to the same transaction, naming the feed URLs
to ping: the domain events ``article_published``, ``digest_built`` and ``alert_released`` (sent
by the operations that publish; ``digests build`` writes its rows with SQLAlchemy Core, which no
session listener sees), and a session ``before_flush`` listener that catches article edits made
through the ORM anywhere (an editor's change, a hidden article, a shell session). While an
identical ping is still queued, no second one is added. The sender hands the row to
:func:`deliver_ping`, which POSTs ``hub.mode=publish`` to the hub for each URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from newsletter import events, fetch
from newsletter.alerts.models import AlertNotice
from newsletter.articles.models import Article, ArticleTopic
from newsletter.delivery import outbox
from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.digests.models import Digest, DigestKind
from newsletter.exceptions import TransportError
from newsletter.extensions import db
from newsletter.feeds.alertfeeds import comune_alerts_name
from newsletter.feeds.service import (
    ALERT_FEEDS,
    ALL,
    CAP_INDEX,
    DIGESTS,
    FeedFormat,
    FeedUrls,
    feed_urls,
)
from newsletter.reference.models import Municipality, Topic

PING_TIMEOUT = 10.0
ENABLED_KEY = "newsletter.feeds.websub"


def urls_for(names: set[str], urls: FeedUrls) -> list[str]:
    return sorted(urls.feed(name, fmt) for name in names for fmt in FeedFormat)


def _topic_slug(session: Session, link: ArticleTopic) -> str | None:
    topic = link.topic
    if topic is None and link.topic_id is not None:
        topic = session.get(Topic, link.topic_id)
    return topic.slug if topic is not None else None


def changed_feeds(session: Session) -> set[str]:
    """Names of the feeds whose content this flush changes."""
    names: set[str] = set()
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, Article):
            if obj in session.dirty and not session.is_modified(obj):
                continue
            names.add(ALL)
            for link in obj.topic_links:
                slug = _topic_slug(session, link)
                if slug:
                    names.add(slug)
        elif isinstance(obj, ArticleTopic):
            names.add(ALL)
            slug = _topic_slug(session, obj)
            if slug:
                names.add(slug)
        elif isinstance(obj, Digest) and obj in session.new and obj.kind == DigestKind.EDITION:
            names.add(DIGESTS)
    return names


def _already_queued(session: Session, wanted: list[str]) -> bool:
    """Coalescing: an identical ping that has not gone yet makes this one redundant."""
    return any(
        set(wanted) <= set(payload.get("topic_urls", []))
        for payload in outbox.queued_payloads(DeliveryKind.WEBSUB, session)
    )


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not has_app_context() or not current_app.extensions.get(ENABLED_KEY):
        return
    if not current_app.config.get("WEBSUB_HUB_URL"):
        return
    with session.no_autoflush:
        names = changed_feeds(session)
        if not names:
            return
        wanted = urls_for(names, feed_urls())
        if _already_queued(session, wanted):
            return
        outbox.enqueue(DeliveryKind.WEBSUB, payload={"topic_urls": wanted}, session=session)


def _queue_ping(names: set[str], wanted: list[str] | None = None) -> None:
    if not current_app.extensions.get(ENABLED_KEY) or not current_app.config.get("WEBSUB_HUB_URL"):
        return
    wanted = wanted if wanted is not None else urls_for(names, feed_urls())
    with db.session.no_autoflush:
        if not _already_queued(db.session(), wanted):
            outbox.enqueue(DeliveryKind.WEBSUB, payload={"topic_urls": wanted})


def on_digest_built(_result: Any, *, editions: int = 0, **_: Any) -> None:
    """New archive editions change the digests feed."""
    if editions:
        _queue_ping({DIGESTS})


def on_article_published(article: Article, **_: Any) -> None:
    """The article's feeds: all, and one per topic."""
    with db.session.no_autoflush:
        slugs = {slug for link in article.topic_links if (slug := _topic_slug(db.session(), link))}
    _queue_ping({ALL, *slugs})


def on_alert_released(notice: AlertNotice, **_: Any) -> None:
    """A released alert message changes the alert feeds (every format, the CAP index) and the
    Atom feed of each comune it concerns: readers of urgent alerts should not wait for a poll."""
    urls = feed_urls()
    wanted = [urls.feed(name, fmt) for name in ALERT_FEEDS for fmt in (*FeedFormat, CAP_INDEX)]
    towns = sa.select(Municipality.slug)
    if not notice.all_municipalities:
        towns = towns.where(Municipality.id.in_(notice.municipality_ids))
    with db.session.no_autoflush:
        slugs = sorted(db.session.scalars(towns))
    wanted += [
        urls.feed(comune_alerts_name(slug, language), FeedFormat.ATOM)
        for slug in slugs
        for language in ALERT_FEEDS.values()
    ]
    _queue_ping(set(), sorted(wanted))


def listen() -> None:
    """Register the listener once per process, for every session (apps opt in by config)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
    events.digest_built.connect(on_digest_built, weak=False)
    events.article_published.connect(on_article_published, weak=False)
    events.alert_released.connect(on_alert_released, weak=False)


def deliver_ping(delivery: Delivery) -> None:
    """The outbox handler: publish every URL of the row; any failure means "retry later"."""
    hub = current_app.config.get("WEBSUB_HUB_URL")
    topic_urls = list((delivery.payload or {}).get("topic_urls", []))
    if not hub or not topic_urls:
        return  # nothing to tell, or nobody to tell it to: done
    limits = fetch.Limits(
        max_bytes=65536, max_raw_bytes=65536, deadline=PING_TIMEOUT, max_redirects=0
    )
    for url in topic_urls:
        body = urlencode({"hub.mode": "publish", "hub.url": url}).encode("ascii")
        try:
            response = fetch.fetch(
                hub,
                method="POST",
                body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                limits=limits,
                accept_statuses=(),
            )
        except fetch.FetchError as exc:
            detail = exc.detail if isinstance(exc, fetch.FetchRefused) else exc.message
            raise TransportError(f"WebSub hub unreachable: {detail}") from exc
        if not 200 <= response.status < 300:
            raise TransportError(
                f"WebSub hub answered {response.status} for {url}",
                details={"status": response.status, "url": url},
            )
