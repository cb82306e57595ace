"""What the public pages show, gathered in one place so views stay thin."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from newsletter.articles.models import Article
from newsletter.extensions import db
from newsletter.reference.models import Topic
from newsletter.reference.service import list_topics


@dataclass(frozen=True)
class HomeContent:
    topics: list[Topic]
    latest: list[Article]


def home_content(limit: int = 6) -> HomeContent:
    latest = list(
        db.session.scalars(
            sa.select(Article)
            .where(Article.hidden.is_(False))
            .order_by(Article.published_at.desc(), Article.id.desc())
            .limit(limit)
        )
    )
    return HomeContent(topics=list_topics(), latest=latest)
