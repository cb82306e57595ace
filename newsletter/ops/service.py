"""Health checks an operator (or a load balancer) can poll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.extensions import db


@dataclass(frozen=True)
class Health:
    database: bool
    oldest_due_age_seconds: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.database


def check_health(now: datetime | None = None) -> Health:
    now = now or utcnow()
    try:
        oldest = db.session.scalar(
            sa.select(sa.func.min(Delivery.next_attempt_at)).where(
                Delivery.status == DeliveryStatus.QUEUED, Delivery.next_attempt_at <= now
            )
        )
    except SQLAlchemyError as exc:
        db.session.rollback()
        return Health(database=False, oldest_due_age_seconds=None, error=type(exc).__name__)
    age = (now - oldest).total_seconds() if oldest is not None else None
    return Health(database=True, oldest_due_age_seconds=age)
