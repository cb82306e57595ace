"""One row per (page, rating): a counter, nothing about who rated."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.extensions import db


class PageRating(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "page_rating"
    __table_args__ = (sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),)

    page: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    rating: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer, default=0)

    def __repr__(self) -> str:
        return f"<PageRating {self.page} {self.rating}×{self.count}>"
