"""API tokens: only a hash is stored; the token itself is shown once, at creation."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import utcnow
from newsletter.extensions import db


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 hex
    prefix: Mapped[str] = mapped_column(sa.String(12))  # first characters, to recognise it
    source_id: Mapped[int | None] = mapped_column(sa.ForeignKey("source.id", ondelete="SET NULL"))
    # Space-separated scopes (see api.service.SCOPES): what the token may do.
    scopes: Mapped[str] = mapped_column(
        sa.String(200), default="articles", server_default="articles"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()
