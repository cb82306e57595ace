"""A digest is one rendered variant (audience x period); deliveries point at it."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.db import link_key, str_enum, utcnow
from newsletter.extensions import db


class DigestKind(enum.StrEnum):
    CITIZEN = "citizen"  # daily or weekly, one topic set, one language
    IMMEDIATE = "immediate"  # a short batch of new articles
    INSTITUTIONAL = "institutional"  # mayors and officials: all topics, weekly
    EDITION = "edition"  # the all-topics edition of a period, for the archive


class Digest(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "digest"
    __table_args__ = (
        # The guarantee that a period's digest is never built twice, whoever builds it.
        sa.UniqueConstraint("audience_key", "period_key"),
        sa.Index("ix_digest_kind_window", "kind", "window_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    audience_key: Mapped[str] = mapped_column(sa.String(200))
    period_key: Mapped[str] = mapped_column(sa.String(60))
    kind: Mapped[DigestKind] = mapped_column(str_enum(DigestKind, "digest_kind"))
    frequency: Mapped[str] = mapped_column(sa.String(12))
    locale: Mapped[str] = mapped_column(sa.String(5))
    topic_slugs: Mapped[str] = mapped_column(sa.String(400), default="")  # ";"-separated
    municipality_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("municipality.id", ondelete="SET NULL")
    )
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    subject: Mapped[str] = mapped_column(sa.String(500))
    preheader: Mapped[str] = mapped_column(sa.String(500), default="")
    html: Mapped[str] = mapped_column(sa.Text)
    text: Mapped[str] = mapped_column(sa.Text)
    article_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article_links: Mapped[list[DigestArticle]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="DigestArticle.position"
    )


class DigestArticle(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "digest_article"

    digest_id: Mapped[int] = link_key("digest.id")
    article_id: Mapped[int] = link_key("article.id", index=True)
    position: Mapped[int] = mapped_column(default=0)
    section: Mapped[str] = mapped_column(sa.String(60))  # a topic slug, or "municipality"
