"""The outbox: one row per message to deliver, claimed by senders with a lease."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.db import str_enum, utcnow
from newsletter.extensions import db

if TYPE_CHECKING:
    from newsletter.digests.models import Digest
    from newsletter.subscriptions.models import Subscriber


class DeliveryKind(enum.StrEnum):
    DIGEST = "digest"  # a digest variant to one subscriber
    CONFIRM = "confirm"  # double opt-in confirmation
    PREFERENCES = "preferences"  # "you are already subscribed: here is your preferences link"
    TEST = "test"  # an editor's test send of a digest preview, to to_address
    WEBSUB = "websub"  # a ping to the WebSub hub, no e-mail at all
    PUSH = "push"  # a Web Push notification to one browser's push subscription (``target``)
    TELEGRAM = "telegram"  # a post of one article to one Telegram channel (``target``)
    UNLOCK = "unlock"  # a locked-out admin-area account's unlock link, to to_address
    ALERT = "alert"  # an urgent alert's e-mail (a rendition in ``payload``) to one subscriber


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a sender until lease_expires_at
    SENT = "sent"
    FAILED = "failed"  # permanent: a 5xx, or temporary failures for longer than RETRY_GIVE_UP
    BOUNCED = "bounced"  # a bounce arrived after the relay accepted it
    CANCELLED = "cancelled"  # the subscriber left before it was sent
    PAUSED = "paused"  # its digest failed too often (DeliveryHold); an administrator decides


class Delivery(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "delivery"
    __table_args__ = (
        # One delivery per (digest, subscriber), whoever enqueues and however often.
        sa.UniqueConstraint("digest_id", "subscriber_id"),
        # What a sender's claim queries walk: the priority lane's queued rows (a short range),
        # then the others in claim order, oldest first (the id breaks ties: a digest's
        # 100,000 rows share one next_attempt_at), stopping at the batch size.
        sa.Index("ix_delivery_claim", "status", "priority", "next_attempt_at", "id"),
        # Rows of a crashed sender: claimed again once their lease expired. Partial, like
        # ix_delivery_sent_at: a freshly queued row (a digest build writes 100,000 at once)
        # is in neither, which keeps bulk enqueueing cheap.
        sa.Index(
            "ix_delivery_lease",
            "lease_expires_at",
            postgresql_where=sa.text("status = 'sending'"),
            sqlite_where=sa.text("status = 'sending'"),
        ),
        sa.Index(
            "ix_delivery_sent_at",
            "sent_at",
            postgresql_where=sa.text("sent_at IS NOT NULL"),
            sqlite_where=sa.text("sent_at IS NOT NULL"),
        ),
        # Only channel rows (push, Telegram) have a target and a once-only key: e-mail rows,
        # the 100,000 of a digest, stay out of both indexes.
        sa.Index(
            "ix_delivery_target",
            "target",
            postgresql_where=sa.text("target IS NOT NULL"),
            sqlite_where=sa.text("target IS NOT NULL"),
        ),
        sa.Index(
            "uq_delivery_dedupe_key",
            "dedupe_key",
            unique=True,
            postgresql_where=sa.text("dedupe_key IS NOT NULL"),
            sqlite_where=sa.text("dedupe_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DeliveryKind] = mapped_column(str_enum(DeliveryKind, "delivery_kind"))
    # No foreign keys on the two columns a digest build fills 100,000 times at once, on
    # purpose: their per-row checks were over half of the insert's time (issue 16). Digests are
    # never deleted (a row whose digest is gone is cancelled by the sender); subscriptions
    # deletes a person's rows itself, through ``outbox.forget`` (erase, purge of pending),
    # under a lock that enqueueing shares, so no row of an erased person can appear later.
    digest_id: Mapped[int | None]
    subscriber_id: Mapped[int | None] = mapped_column(index=True)
    to_address: Mapped[str | None] = mapped_column(sa.String(320))  # only for TEST sends
    # Channels beyond e-mail: who receives it ("push:<id>", "@channel") and the key that makes
    # the same notification or post happen once, whoever enqueues it and however often.
    target: Mapped[str | None] = mapped_column(sa.String(300))
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(300))
    payload: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED
    )
    # 0: in turn; above 0: the priority lane, claimed before every other due row. Never
    # negative (the outbox writes max(0, level)): the claim asks for 0 and for above 0.
    priority: Mapped[int] = mapped_column(sa.SmallInteger, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_attempt_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(sa.String(120))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    message_id: Mapped[str | None] = mapped_column(sa.String(250))
    relay: Mapped[str | None] = mapped_column(sa.String(120))  # host:port that answered last
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    digest: Mapped[Digest | None] = relationship(
        primaryjoin="foreign(Delivery.digest_id) == Digest.id", viewonly=True
    )
    subscriber: Mapped[Subscriber | None] = relationship(
        primaryjoin="foreign(Delivery.subscriber_id) == Subscriber.id", viewonly=True
    )


class HoldResolution(enum.StrEnum):
    RESUMED = "resumed"
    CANCELLED = "cancelled"


class DeliveryHold(db.Model):  # type: ignore[name-defined,misc]
    """A digest whose sending stopped itself: too many permanent failures in its first
    attempts (``SEND_ERROR_THRESHOLD``). Its queued rows are ``paused`` until an administrator
    resumes (they are queued again and the digest is not judged again) or cancels them."""

    __tablename__ = "delivery_hold"

    digest_id: Mapped[int] = mapped_column(
        sa.ForeignKey("digest.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(sa.Text)
    attempts: Mapped[int]
    failures: Mapped[int]
    paused: Mapped[int] = mapped_column(default=0)  # rows paused when it stopped
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[HoldResolution | None] = mapped_column(
        str_enum(HoldResolution, "hold_resolution")
    )
    resolved_by: Mapped[str | None] = mapped_column(sa.String(320))
