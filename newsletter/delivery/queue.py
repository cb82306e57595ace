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
    """Seconds the oldest due queued delivery has waited; one index lookup per lane of
    ix_delivery_claim (status, priority, next_attempt_at, id): priority 0 and above 0."""
    found = [
        db.session.scalar(
            sa.select(sa.func.min(Delivery.next_attempt_at)).where(
                Delivery.status == DeliveryStatus.QUEUED, level, Delivery.next_attempt_at <= now
            )
        )
        for level in (Delivery.priority == 0, Delivery.priority > 0)
    ]
    moments = [moment for moment in found if moment is not None]
    if not moments:
        return None
    oldest = min(moments)
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
