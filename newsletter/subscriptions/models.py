"""Subscribers, their topic subscriptions and the append-only consent ledger."""

from __future__ import annotations

import base64
import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from newsletter.db import link_key, str_enum, utcnow
from newsletter.extensions import db
from newsletter.vocabulary import Frequency as Frequency  # re-exported: the column type
from newsletter.vocabulary import Locale

if TYPE_CHECKING:
    from newsletter.reference.models import Municipality, Topic


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class Role(enum.StrEnum):
    CITIZEN = "citizen"
    MAYOR = "mayor"
    OFFICIAL = "official"


class ConsentAction(enum.StrEnum):
    SUBSCRIBE = "subscribe"
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"
    ERASE = "erase"
    IMPORT = "import"
    BOUNCE = "bounce"


class ConsentChannel(enum.StrEnum):
    """How a consent-ledger entry came about: the one vocabulary of ``consent_event.channel``."""

    WEB = "web"  # a form or link on the site
    ONE_CLICK = "one-click"  # RFC 8058 one-click unsubscribe from the mail client
    EMAIL = "email"  # a mail to the unsubscribe mailbox
    CLI = "cli"  # an operator at the console
    API = "api"  # an API client (the actor names its token)
    ADMIN = "admin"  # an administrator in the admin pages
    DSN = "dsn"  # a bounce report (RFC 3464) processed by ``bounces``
    RELAY = "relay"  # the relay refused the recipient while sending
    PUSH = "push"  # a browser's Web Push subscription (no e-mail address involved)


def new_link_key() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


def new_link_keys(count: int) -> list[str]:
    """``count`` keys like :func:`new_link_key`, from one read of the system's random source
    (a roster import makes 20,000 at once)."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(12 * count)).decode()
    return [text[i : i + 16] for i in range(0, 16 * count, 16)]


MAX_EMAIL_LENGTH = 320  # RFC 3696: 64 + "@" + 255; longer input is refused before parsing


def normalize_email(address: str) -> str:
    """One spelling per mailbox: trimmed and lower-cased (uniqueness is case-insensitive)."""
    return address.strip().lower()


class Subscriber(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "subscriber"
    __table_args__ = (
        # Stored lower-case, so the plain unique constraint is case-insensitive; the check
        # keeps raw SQL and future code from sneaking in a second spelling.
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
        sa.Index("ix_subscriber_status_frequency", "status", "frequency"),
        # Ids are never reused (SQLite would hand out an erased last row's id again): signed
        # links name an id, and must never come to mean somebody else.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(MAX_EMAIL_LENGTH), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    locale: Mapped[str] = mapped_column(sa.String(5), default=Locale.IT.value)
    status: Mapped[SubscriberStatus] = mapped_column(
        str_enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
    )
    role: Mapped[Role] = mapped_column(str_enum(Role, "subscriber_role"), default=Role.CITIZEN)
    frequency: Mapped[Frequency] = mapped_column(
        str_enum(Frequency, "subscriber_frequency"), default=Frequency.WEEKLY
    )
    municipality_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("municipality.id", ondelete="SET NULL"), index=True
    )
    # With a comune: every article about it, whatever the topic (not only the chosen topics').
    local_news: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # With a comune: its urgent alerts (road closed, weather warning), whatever the frequency.
    # Mayors and officials get them unless they turn them off.
    alerts: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    confirmation_sent_at: Mapped[datetime | None]
    soft_bounces: Mapped[int] = mapped_column(default=0)
    # Random, in every signed link's payload: a link opens nothing once the row is gone or the
    # key is replaced (erase), whatever id it names.
    link_key: Mapped[str] = mapped_column(sa.String(32), default=new_link_key)

    municipality: Mapped[Municipality | None] = relationship()
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("email")
    def _normalize(self, _key: str, value: str) -> str:
        return normalize_email(value)

    @property
    def topic_slugs(self) -> list[str]:
        return sorted(s.topic.slug for s in self.subscriptions)

    def __repr__(self) -> str:
        return f"<Subscriber {self.id} {self.status}>"


class Subscription(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "subscription"

    subscriber_id: Mapped[int] = link_key("subscriber.id")
    topic_id: Mapped[int] = link_key("topic.id", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    topic: Mapped[Topic] = relationship(lazy="joined")


class ConsentEvent(db.Model):  # type: ignore[name-defined,misc]
    """Append-only. Erasing a subscriber deletes their events and leaves one anonymous 'erase'."""

    __tablename__ = "consent_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("subscriber.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[ConsentAction] = mapped_column(str_enum(ConsentAction, "consent_action"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    notice_version: Mapped[str] = mapped_column(sa.String(40))
    channel: Mapped[str] = mapped_column(sa.String(40))  # a ConsentChannel value
    actor: Mapped[str | None] = mapped_column(sa.String(200))  # who acted for the subscriber
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
