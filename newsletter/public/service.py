"""What the public pages show, gathered in one place so views stay thin."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from newsletter.articles.models import Article
from newsletter.articles.queries import visible_articles
from newsletter.exceptions import NotFound
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic
from newsletter.reference.service import list_municipalities, list_topics


@dataclass(frozen=True)
class HomeContent:
    topics: list[Topic]
    latest: list[Article]


@dataclass(frozen=True)
class TopicContent:
    topic: Topic
    articles: list[Article]


def home_content(limit: int = 6) -> HomeContent:
    latest = list(db.session.scalars(visible_articles().limit(limit)))
    return HomeContent(topics=list_topics(), latest=latest)


def topic_content(slug: str, limit: int = 20) -> TopicContent:
    topic = db.session.scalar(sa.select(Topic).where(Topic.slug == slug))
    if topic is None:
        raise NotFound(f"unknown topic: {slug}")
    articles = list(db.session.scalars(visible_articles(topic_id=topic.id).limit(limit)))
    return TopicContent(topic=topic, articles=articles)


def topics() -> list[Topic]:
    return list_topics()


def municipalities() -> list[Municipality]:
    return list_municipalities()


def municipality_choices() -> dict[str, str]:
    """Slug -> name of the 48 comuni, for the forms' select."""
    return {m.slug: m.name for m in list_municipalities()}


def known_topic_slugs() -> set[str]:
    return set(db.session.scalars(sa.select(Topic.slug)))
