"""Health checks an operator (or a load balancer) can poll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from newsletter.db import utcnow
from newsletter.delivery.queue import oldest_due_age
from newsletter.extensions import db


@dataclass(frozen=True)
class Health:
    database: bool
    oldest_due_age_seconds: float | None
    error: str | None = None
    queue_max_age_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.database

    @property
    def queue_late(self) -> bool:
        """Due mail has waited longer than the threshold: no sender running, or a slow relay."""
        return (
            self.queue_max_age_seconds is not None
            and self.oldest_due_age_seconds is not None
            and self.oldest_due_age_seconds > self.queue_max_age_seconds
        )

    @property
    def status(self) -> str:
        if not self.ok:
            return "unavailable"
        return "degraded" if self.queue_late else "ok"


def check_health(now: datetime | None = None, queue_max_age: float | None = None) -> Health:
    now = now or utcnow()
    try:
        age = oldest_due_age(now)
    except SQLAlchemyError as exc:
        db.session.rollback()
        return Health(database=False, oldest_due_age_seconds=None, error=type(exc).__name__)
    return Health(database=True, oldest_due_age_seconds=age, queue_max_age_seconds=queue_max_age)
