"""Record and summarise page ratings. The only writer of ``page_rating``."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.feedback.models import PageRating

RATINGS = (1, 2, 3, 4, 5)
MAX_PAGE_LENGTH = 200


@dataclass(frozen=True)
class PageSummary:
    page: str
    counts: tuple[int, ...]  # ratings 1..5

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def average(self) -> float:
        return sum(r * n for r, n in zip(RATINGS, self.counts, strict=True)) / self.total


def record(page: str, rating: int) -> None:
    """Add one rating of ``page`` (a site path such as ``/topics/energy``)."""
    if rating not in RATINGS:
        raise ValidationError("rating must be 1 to 5", {"rating": rating})
    if not page.startswith("/") or len(page) > MAX_PAGE_LENGTH:
        raise ValidationError("unknown page", {"page": page[:MAX_PAGE_LENGTH]})
    # One UPDATE first: concurrent raters of an existing row never conflict.
    updated = db.session.execute(
        sa.update(PageRating)
        .where(PageRating.page == page, PageRating.rating == rating)
        .values(count=PageRating.count + 1)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        try:
            with db.session.begin_nested():
                db.session.add(PageRating(page=page, rating=rating, count=1))
        except sa.exc.IntegrityError:  # someone inserted it meanwhile
            db.session.execute(
                sa.update(PageRating)
                .where(PageRating.page == page, PageRating.rating == rating)
                .values(count=PageRating.count + 1)
            )
    db.session.commit()


def summary() -> list[PageSummary]:
    """Every rated page with its counts per rating, most rated first."""
    by_page: dict[str, list[int]] = {}
    for row in db.session.scalars(sa.select(PageRating)):
        by_page.setdefault(row.page, [0] * len(RATINGS))[row.rating - 1] = row.count
    pages = [PageSummary(page, tuple(counts)) for page, counts in by_page.items()]
    return sorted(pages, key=lambda s: (-s.total, s.page))
