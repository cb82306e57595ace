"""Reference data: the topics people subscribe to and the area's municipalities."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import utcnow
from newsletter.extensions import db


class Topic(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "topic"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    name_it: Mapped[str] = mapped_column(sa.String(80))
    name_en: Mapped[str] = mapped_column(sa.String(80))
    description_it: Mapped[str] = mapped_column(sa.Text, default="")
    description_en: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_it

    def description(self, locale: str) -> str:
        return self.description_en if locale == "en" else self.description_it

    def __repr__(self) -> str:
        return f"<Topic {self.slug}>"


class Municipality(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "municipality"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    # Stable ASCII for URLs (``spino-d-adda``); a rename keeps the old one as an alias.
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    istat_code: Mapped[str | None] = mapped_column(sa.String(12), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Municipality {self.name}>"


class MunicipalityAlias(db.Model):  # type: ignore[name-defined,misc]
    """A comune's former slug: its old pages and feeds redirect instead of breaking."""

    __tablename__ = "municipality_alias"

    slug: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        sa.ForeignKey("municipality.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
