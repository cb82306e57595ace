"""Where articles come from, the articles themselves, their topics and named municipalities."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.db import link_key, str_enum, utcnow
from newsletter.extensions import db

if TYPE_CHECKING:
    from newsletter.reference.models import Municipality, Topic


class SourceKind(enum.StrEnum):
    FEED = "feed"  # an RSS/Atom URL polled by the worker
    PUSH = "push"  # the CMS pushing through the API
    FILE = "file"  # JSON files imported from the command line


class TopicAssignment(enum.StrEnum):
    AUTO = "auto"  # the classifier chose it
    SOURCE = "source"  # the source (CMS, import file) said so
    EDITOR = "editor"  # an editor chose it in the admin area: never undone by a re-import


class Source(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "source"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    kind: Mapped[SourceKind] = mapped_column(str_enum(SourceKind, "source_kind"))
    url: Mapped[str | None] = mapped_column(sa.String(2000), unique=True)
    poll: Mapped[bool] = mapped_column(default=False)
    etag: Mapped[str | None] = mapped_column(sa.String(500))
    last_modified: Mapped[str | None] = mapped_column(sa.String(100))
    last_fetched_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(sa.String(40))  # ok, not-modified, error
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Article(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "article"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "external_id"),
        sa.Index("ix_article_visible_published", "hidden", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("source.id", ondelete="RESTRICT"))
    external_id: Mapped[str] = mapped_column(sa.String(500))
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    title: Mapped[str] = mapped_column(sa.String(500))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    body_html: Mapped[str] = mapped_column(sa.Text, default="")  # sanitised on the way in
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    image_url: Mapped[str | None] = mapped_column(sa.String(2000))
    image_alt: Mapped[str | None] = mapped_column(sa.String(500))
    language: Mapped[str] = mapped_column(sa.String(5), default="it")
    published_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    hidden: Mapped[bool] = mapped_column(default=False)
    topics_edited_at: Mapped[datetime | None]  # set when an editor overrides the topics

    source: Mapped[Source] = relationship()
    topic_links: Mapped[list[ArticleTopic]] = relationship(
        back_populates="article", cascade="all, delete-orphan", passive_deletes=True
    )
    municipality_links: Mapped[list[ArticleMunicipality]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def topic_slugs(self) -> list[str]:
        return sorted(link.topic.slug for link in self.topic_links)


class ArticleTopic(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "article_topic"

    article_id: Mapped[int] = link_key("article.id")
    topic_id: Mapped[int] = link_key("topic.id", index=True)
    assigned_by: Mapped[TopicAssignment] = mapped_column(
        str_enum(TopicAssignment, "topic_assignment")
    )
    score: Mapped[float | None]  # the classifier's score, for editors to judge

    article: Mapped[Article] = relationship(back_populates="topic_links")
    topic: Mapped[Topic] = relationship(lazy="joined")


class ArticleMunicipality(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "article_municipality"

    article_id: Mapped[int] = link_key("article.id")
    municipality_id: Mapped[int] = link_key("municipality.id", index=True)

    municipality: Mapped[Municipality] = relationship(lazy="joined")


class ArticleMunicipalityEdit(db.Model):  # type: ignore[name-defined,misc]
    """An editor's correction of the mentions: add (``included``) or remove a comune.

    Kept apart from the detected links so re-imports and refreshes re-detect and then apply
    the corrections again: the editor's word wins for that comune, detection for the rest.
    """

    __tablename__ = "article_municipality_edit"

    article_id: Mapped[int] = link_key("article.id")
    municipality_id: Mapped[int] = link_key("municipality.id")
    included: Mapped[bool]
    edited_by: Mapped[str | None] = mapped_column(sa.String(320))
    edited_at: Mapped[datetime] = mapped_column(default=utcnow)
