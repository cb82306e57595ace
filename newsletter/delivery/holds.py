"""Digests that stop themselves, and what the relays did: the delivery domain's read side for
the admin area and /metrics, and the pause written by the sender's recorder.

A digest whose first ``HOLD_WINDOW`` attempts (or all of them, for a smaller digest) include
more than ``SEND_ERROR_THRESHOLD`` permanent failures is paused as soon as that is certain: a
broken template, a wrong sender domain or a relay rejecting the list should not reach 20,000
people (digests for fewer than ``HOLD_MIN`` people are never paused). Its queued rows become
``paused`` and a ``DeliveryHold`` says why; an administrator resumes them (queued again, and
the digest is not judged again) or cancels them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryHold, DeliveryStatus, HoldResolution
from newsletter.exceptions import NotFound

HOLD_WINDOW = 500
HOLD_MIN = 20  # a digest for fewer people is never paused: one bad address is not a pattern

delivery_t = Delivery.__table__
hold_t = DeliveryHold.__table__


def judge(conn: sa.Connection, digest_ids: Iterable[int], *, threshold: float) -> list[int]:
    """Pause the digests among ``digest_ids`` (which just had a permanent failure) whose first
    attempts failed too often; returns those paused now. Runs in the caller's transaction."""
    if not 0 < threshold < 1:
        return []
    paused: list[int] = []
    for digest_id in sorted(set(digest_ids)):
        if conn.execute(
            sa.select(hold_t.c.digest_id).where(hold_t.c.digest_id == digest_id)
        ).first():
            continue  # paused already, or resumed by an administrator: judged once
        total = conn.execute(
            sa.select(sa.func.count()).where(delivery_t.c.digest_id == digest_id)
        ).scalar_one()
        first = (
            sa.select(delivery_t.c.status)
            .where(delivery_t.c.digest_id == digest_id, delivery_t.c.first_attempt_at.is_not(None))
            .order_by(delivery_t.c.first_attempt_at, delivery_t.c.id)
            .limit(HOLD_WINDOW)
            .subquery()
        )
        attempts, failures = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(first.c.status == DeliveryStatus.FAILED),
            )
        ).one()
        window = min(HOLD_WINDOW, total)
        if window < HOLD_MIN or failures <= threshold * window:
            continue
        last_error = conn.execute(
            sa.select(delivery_t.c.last_error)
            .where(
                delivery_t.c.digest_id == digest_id, delivery_t.c.status == DeliveryStatus.FAILED
            )
            .order_by(delivery_t.c.id.desc())
            .limit(1)
        ).scalar()
        count = conn.execute(
            sa.update(delivery_t)
            .where(
                delivery_t.c.digest_id == digest_id, delivery_t.c.status == DeliveryStatus.QUEUED
            )
            .values(status=DeliveryStatus.PAUSED)
        ).rowcount
        conn.execute(
            sa.insert(hold_t).values(
                digest_id=digest_id,
                reason=(
                    f"{failures} of the first {attempts} attempts failed permanently "
                    f"(more than {threshold:.0%} of {window}); last error: {last_error or '?'}"
                )[:2000],
                attempts=attempts,
                failures=failures,
                paused=count,
                created_at=utcnow(),
            )
        )
        paused.append(digest_id)
    return paused


def repause(conn: sa.Connection, ids: list[int]) -> None:
    """Rows given back unattempted (a sender stopping) whose digest is on hold stay paused."""
    if not ids:
        return
    open_holds = sa.select(hold_t.c.digest_id).where(hold_t.c.resolved_at.is_(None))
    conn.execute(
        sa.update(delivery_t)
        .where(
            delivery_t.c.id.in_(ids),
            delivery_t.c.status == DeliveryStatus.QUEUED,
            delivery_t.c.digest_id.in_(open_holds),
        )
        .values(status=DeliveryStatus.PAUSED)
    )


@dataclass(frozen=True)
class Hold:
    digest_id: int
    reason: str
    attempts: int
    failures: int
    paused: int  # rows still paused now
    created_at: datetime


def open_holds(session: Any) -> list[Hold]:
    """Paused digests awaiting an administrator, newest first."""
    still = (
        sa.select(sa.func.count())
        .where(
            delivery_t.c.digest_id == hold_t.c.digest_id,
            delivery_t.c.status == DeliveryStatus.PAUSED,
        )
        .scalar_subquery()
    )
    rows = session.execute(
        sa.select(hold_t, still.label("still"))
        .where(hold_t.c.resolved_at.is_(None))
        .order_by(hold_t.c.created_at.desc())
    ).all()
    return [
        Hold(r.digest_id, r.reason, r.attempts, r.failures, r.still, r.created_at) for r in rows
    ]


def resolve(session: Any, digest_id: int, resolution: HoldResolution, *, by: str) -> int:
    """Resume (queued again, due now) or cancel a paused digest's rows; returns how many.
    In the caller's transaction."""
    hold = session.get(DeliveryHold, digest_id)
    if hold is None or hold.resolved_at is not None:
        raise NotFound(f"digest {digest_id} is not paused")
    now = utcnow()
    values: dict[str, Any] = (
        {"status": DeliveryStatus.QUEUED, "next_attempt_at": now}
        if resolution is HoldResolution.RESUMED
        else {"status": DeliveryStatus.CANCELLED, "last_error": "cancelled by an administrator"}
    )
    count = session.execute(
        sa.update(delivery_t)
        .where(delivery_t.c.digest_id == digest_id, delivery_t.c.status == DeliveryStatus.PAUSED)
        .values(**values)
    ).rowcount
    hold.resolved_at = now
    hold.resolution = resolution
    hold.resolved_by = by[:320]
    return int(count)


@dataclass(frozen=True)
class RelayCount:
    relay: str
    sent: int
    failed: int


def relay_counts(session: Any) -> list[RelayCount]:
    """Rows by the relay that answered last: accepted (sent, later bounced) and failed."""
    rows = session.execute(
        sa.select(
            delivery_t.c.relay,
            sa.func.count().filter(
                delivery_t.c.status.in_((DeliveryStatus.SENT, DeliveryStatus.BOUNCED))
            ),
            sa.func.count().filter(delivery_t.c.status == DeliveryStatus.FAILED),
        )
        .where(delivery_t.c.relay.is_not(None))
        .group_by(delivery_t.c.relay)
        .order_by(delivery_t.c.relay)
    ).all()
    return [RelayCount(relay, sent, failed) for relay, sent, failed in rows]
