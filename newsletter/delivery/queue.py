"""How the outbox is doing, for the dashboard, /healthz and /metrics alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from newsletter.delivery import store
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.extensions import db


@dataclass(frozen=True)
class QueueState:
    queued: int
    due: int
    sending: int
    oldest_due_age_seconds: float | None


def oldest_due_age(now: datetime) -> float | None:
    """Seconds the oldest due queued delivery has waited (index lookups, see
    :func:`store.earliest_queued`)."""
    oldest = store.earliest_queued(db.session.connection(), Delivery.next_attempt_at <= now)
    if oldest is None:
        return None
    return max((now - oldest).total_seconds(), 0.0)


def queue_state(now: datetime) -> QueueState:
    """Queued, due and in-flight rows in one aggregate, and how long the oldest due one waits."""
    queued, due, sending = db.session.execute(
        sa.select(
            sa.func.count().filter(Delivery.status == DeliveryStatus.QUEUED),
            sa.func.count().filter(
                Delivery.status == DeliveryStatus.QUEUED, Delivery.next_attempt_at <= now
            ),
            sa.func.count().filter(Delivery.status == DeliveryStatus.SENDING),
        ).where(Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)))
    ).one()
    return QueueState(
        queued=queued, due=due, sending=sending, oldest_due_age_seconds=oldest_due_age(now)
    )
