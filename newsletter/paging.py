"""One pager for every list that has pages (admin lists, the public archive)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from newsletter.extensions import db


@dataclass(frozen=True)
class Page:
    """One page of rows. ``pages`` is known only when the caller asked for a count."""

    items: Sequence[Any]
    page: int
    has_next: bool
    pages: int | None = None

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def paginate(query: sa.Select[Any], page: int, per_page: int, *, count: bool = False) -> Page:
    """Rows ``page`` (1-based) of an ordered query, ``per_page`` at a time.

    Without ``count`` one extra row tells whether a next page exists (no COUNT over a large
    table); with it, ``pages`` is the total and a page past the end shows the last one.
    """
    per_page = max(1, per_page)
    page = max(page, 1)
    pages = None
    if count:
        total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        pages = max(1, -(-total // per_page))
        page = min(page, pages)
    rows = db.session.scalars(query.limit(per_page + 1).offset((page - 1) * per_page))
    items = rows.unique().all()
    return Page(items=items[:per_page], page=page, has_next=len(items) > per_page, pages=pages)
