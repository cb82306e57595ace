"""What the public pages show, gathered in one place so views stay thin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from newsletter.alerts import service as alerts
from newsletter.alerts.models import Alert
from newsletter.articles.models import Article, ArticleMunicipality
from newsletter.articles.queries import is_visible, visible_articles
from newsletter.db import utcnow
from newsletter.exceptions import NotFound
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic
from newsletter.reference.service import list_municipalities, list_topics


@dataclass(frozen=True)
class HomeContent:
    topics: list[Topic]
    latest: list[Article]
    alerts: list[Alert]  # in force now, the most serious first (the banner)


@dataclass(frozen=True)
class TopicContent:
    topic: Topic
    articles: list[Article]


def home_content(limit: int = 6) -> HomeContent:
    latest = list(db.session.scalars(visible_articles().limit(limit)))
    return HomeContent(topics=list_topics(), latest=latest, alerts=alerts.active_alerts())


def topic_content(slug: str, limit: int = 20) -> TopicContent:
    topic = db.session.scalar(sa.select(Topic).where(Topic.slug == slug))
    if topic is None:
        raise NotFound(f"unknown topic: {slug}")
    articles = list(db.session.scalars(visible_articles(topic_id=topic.id).limit(limit)))
    return TopicContent(topic=topic, articles=articles)


@dataclass(frozen=True)
class ComuneSummary:
    municipality: Municipality
    recent: int  # visible articles naming it, published in the last RECENT_DAYS


@dataclass(frozen=True)
class ComuneContent:
    municipality: Municipality
    articles: list[Article]
    topic: Topic | None  # the topic filter, when one is chosen
    topics: list[Topic]
    alerts: list[Alert]  # in force now for this comune (its own and the all-area ones)


def comuni_overview(days: int, now: datetime | None = None) -> list[ComuneSummary]:
    """The 48 comuni by name, each with its number of recent articles (one grouped query)."""
    since = (now or utcnow()) - timedelta(days=days)
    counts: dict[int, int] = {
        int(town): int(n)
        for town, n in db.session.execute(
            sa.select(ArticleMunicipality.municipality_id, sa.func.count())
            .join(Article, Article.id == ArticleMunicipality.article_id)
            .where(is_visible(), Article.published_at >= since)
            .group_by(ArticleMunicipality.municipality_id)
        )
    }
    return [ComuneSummary(m, int(counts.get(m.id, 0))) for m in list_municipalities()]


def comune_content(slug: str, topic: str | None = None, limit: int = 30) -> ComuneContent:
    """A comune's articles (those naming it or its localities), newest first; NotFound for an
    unknown slug or topic. A former slug is the caller's to redirect (``municipality_by_slug``)."""
    municipality = db.session.scalar(sa.select(Municipality).where(Municipality.slug == slug))
    if municipality is None:
        raise NotFound(f"unknown municipality: {slug}")
    chosen = None
    if topic:
        chosen = db.session.scalar(sa.select(Topic).where(Topic.slug == topic))
        if chosen is None:
            raise NotFound(f"unknown topic: {topic}")
    query = visible_articles(topic_id=chosen.id if chosen is not None else None).where(
        Article.id.in_(
            sa.select(ArticleMunicipality.article_id).where(
                ArticleMunicipality.municipality_id == municipality.id
            )
        )
    )
    articles = list(db.session.scalars(query.limit(limit)))
    in_force = alerts.active_alerts(municipality_id=municipality.id)
    return ComuneContent(municipality, articles, chosen, list_topics(), in_force)


def topics() -> list[Topic]:
    return list_topics()


def municipalities() -> list[Municipality]:
    return list_municipalities()


def municipality_choices() -> dict[str, str]:
    """Slug -> name of the 48 comuni, for the forms' select."""
    return {m.slug: m.name for m in list_municipalities()}


def known_topic_slugs() -> set[str]:
    return set(db.session.scalars(sa.select(Topic.slug)))
