"""How the outbox is doing, for the dashboard, /healthz and /metrics alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.extensions import db


@dataclass(frozen=True)
class QueueState:
    queued: int
    due: int
    sending: int
    oldest_due_age_seconds: float | None


def oldest_due_age(now: datetime) -> float | None:
    """Seconds the oldest due queued delivery has waited; one index lookup (ix_delivery_claim)."""
    oldest = db.session.scalar(
        sa.select(sa.func.min(Delivery.next_attempt_at)).where(
            Delivery.status == DeliveryStatus.QUEUED, Delivery.next_attempt_at <= now
        )
    )
    if oldest is None:
        return None
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
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
