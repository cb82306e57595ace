"""What readers may see, defined once: the site, the feeds, the archive, the digests and the
API all ask here, so hiding an article takes it out of every one of them."""

from __future__ import annotations

import sqlalchemy as sa

from newsletter.articles.models import Article, ArticleTopic
from newsletter.reference.models import Topic


def is_visible() -> sa.ColumnElement[bool]:
    """The condition: not hidden by an editor."""
    return Article.hidden.is_(False)


def newest_first(query: sa.Select[tuple[Article]]) -> sa.Select[tuple[Article]]:
    return query.order_by(Article.published_at.desc(), Article.id.desc())


def in_topic(
    query: sa.Select[tuple[Article]], *, slug: str | None = None, topic_id: int | None = None
) -> sa.Select[tuple[Article]]:
    """Articles filed under a topic, by slug or by id (neither given: unchanged)."""
    if topic_id is not None:
        return query.where(
            Article.id.in_(
                sa.select(ArticleTopic.article_id).where(ArticleTopic.topic_id == topic_id)
            )
        )
    if slug is not None:
        return query.where(
            Article.id.in_(
                sa.select(ArticleTopic.article_id)
                .join(Topic, Topic.id == ArticleTopic.topic_id)
                .where(Topic.slug == slug)
            )
        )
    return query


def visible_articles(
    *, topic: str | None = None, topic_id: int | None = None
) -> sa.Select[tuple[Article]]:
    """Visible articles, newest first, optionally of one topic; callers add limits and loads."""
    return newest_first(
        in_topic(sa.select(Article).where(is_visible()), slug=topic, topic_id=topic_id)
    )


def search_articles(
    text: str = "", *, topic: str | None = None, hidden: bool | None = None
) -> sa.Select[tuple[Article]]:
    """Editors' search: title words (case-blind), a topic, hidden or not (None: both)."""
    query = sa.select(Article)
    if text.strip():
        escaped = text.strip().lower().replace("\\", "\\\\")
        escaped = escaped.replace("%", "\\%").replace("_", "\\_")
        query = query.where(sa.func.lower(Article.title).like(f"%{escaped}%", escape="\\"))
    if hidden is not None:
        query = query.where(Article.hidden.is_(hidden))
    return newest_first(in_topic(query, slug=topic or None))
