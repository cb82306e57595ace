"""A browser's Web Push subscription: where to POST, the keys to encrypt for, what it wants.

No e-mail address, no name: the endpoint URL and its two keys are all the service keeps, with
the topics (and comune) chosen. Deleted outright when the person stops or the push service
says it is gone (404/410).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import utcnow
from newsletter.extensions import db


def push_target(subscription_id: int) -> str:
    """How outbox rows name the push subscription they go to."""
    return f"push:{subscription_id}"


class PushSubscription(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "push_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint: Mapped[str] = mapped_column(sa.String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(sa.String(200))  # the browser's P-256 key, base64url
    auth: Mapped[str] = mapped_column(sa.String(100))  # the 16-byte auth secret, base64url
    topics: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # topic slugs
    municipality_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("municipality.id", ondelete="SET NULL"), index=True
    )
    local_news: Mapped[bool] = mapped_column(default=False)
    # The comune's urgent alerts (with ``Urgency: high``, whatever the quiet hours).
    alerts: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    locale: Mapped[str] = mapped_column(sa.String(5), default="it")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime | None]

    @property
    def target(self) -> str:
        return push_target(self.id)

    def public(self) -> dict[str, Any]:
        """What the browser may see of its own subscription (no keys)."""
        return {
            "topics": list(self.topics or []),
            "municipality_id": self.municipality_id,
            "local_news": self.local_news,
            "alerts": self.alerts,
            "locale": self.locale,
        }
