"""Urgent alerts: the public alert (one page, one CAP identifier) and every message about it.

An ``Alert`` is what the public sees now: the content of its latest released message. Each
``AlertMessage`` is one thing said about it (CAP's ``msgType``: the alert itself, an update, a
cancellation) with a full snapshot of its content, who asked for it and who approved it; it is
what deliveries go out for, once per message. ``AlertRendition`` is a message's e-mail, rendered
once per language (MJML + text) and shared by every recipient of that language.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.db import link_key, str_enum, utcnow
from newsletter.extensions import db
from newsletter.vocabulary import AlertSeverity

if TYPE_CHECKING:
    from newsletter.reference.models import Municipality, Topic

MAX_HEADLINE = 120
MAX_TEXT = 1000
MAX_URL = 500
MAX_NOTE = 500


class AlertState(enum.StrEnum):
    """Where an alert stands for the public (expiry is read from ``expires_at``)."""

    PENDING = "pending"  # its first message awaits approval: not public, nothing sent
    PUBLISHED = "published"  # released; active until it expires
    CANCELLED = "cancelled"  # a cancellation went out: no longer in force
    REJECTED = "rejected"  # its first message was refused by the approver: never public


class MessageType(enum.StrEnum):
    """CAP 1.2 ``msgType`` (lower case here; CAP documents write them capitalised)."""

    ALERT = "alert"
    UPDATE = "update"
    CANCEL = "cancel"


class MessageStatus(enum.StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"  # severe or extreme: a second person decides
    RELEASED = "released"  # approved (or needing no approval): delivered to the audience
    REJECTED = "rejected"  # the second person said no: nothing was sent


class Alert(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "alert"
    __table_args__ = (sa.Index("ix_alert_state_expires", "state", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[AlertState] = mapped_column(
        str_enum(AlertState, "alert_state"), default=AlertState.PENDING
    )
    headline: Mapped[str] = mapped_column(sa.String(MAX_HEADLINE))
    text: Mapped[str] = mapped_column(sa.Text)
    headline_en: Mapped[str | None] = mapped_column(sa.String(MAX_HEADLINE))
    text_en: Mapped[str | None] = mapped_column(sa.Text)
    severity: Mapped[AlertSeverity] = mapped_column(str_enum(AlertSeverity, "alert_severity"))
    topic_id: Mapped[int | None] = mapped_column(sa.ForeignKey("topic.id", ondelete="SET NULL"))
    all_municipalities: Mapped[bool] = mapped_column(default=False)
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    url: Mapped[str | None] = mapped_column(sa.String(MAX_URL))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]  # its first message released
    updated_at: Mapped[datetime | None]  # its latest message released
    cancelled_at: Mapped[datetime | None]

    topic: Mapped[Topic | None] = relationship(lazy="joined")
    municipalities: Mapped[list[Municipality]] = relationship(
        secondary="alert_area", order_by="Municipality.name", lazy="selectin"
    )
    messages: Mapped[list[AlertMessage]] = relationship(
        back_populates="alert",
        order_by="AlertMessage.sequence",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def identifier(self) -> str:
        """The alert's number as people and CAP documents name it (stable, never reused)."""
        return f"AOC-{self.id}"

    def is_active(self, now: datetime) -> bool:
        """In force or about to be: published, not cancelled, not expired (one that starts
        later is listed as active too, with its start time)."""
        return self.state is AlertState.PUBLISHED and self.expires_at > now

    def __repr__(self) -> str:
        return f"<Alert {self.id} {self.state} {self.severity}>"


class AlertArea(db.Model):  # type: ignore[name-defined,misc]
    """The comuni an alert concerns now (empty with ``all_municipalities``)."""

    __tablename__ = "alert_area"

    alert_id: Mapped[int] = link_key("alert.id")
    municipality_id: Mapped[int] = link_key("municipality.id", index=True)


class AlertMessage(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "alert_message"
    __table_args__ = (
        # One message per step of an alert, whoever writes it: the CAP references follow it.
        sa.UniqueConstraint("alert_id", "sequence"),
        sa.Index("ix_alert_message_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id", ondelete="CASCADE"))
    sequence: Mapped[int]  # 1 for the alert itself, then 2, 3, ... for its follow-ups
    msg_type: Mapped[MessageType] = mapped_column(str_enum(MessageType, "alert_msg_type"))
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus, "alert_message_status"))
    # The content as it was said (an update replaces the alert's; earlier messages keep theirs).
    headline: Mapped[str] = mapped_column(sa.String(MAX_HEADLINE))
    text: Mapped[str] = mapped_column(sa.Text)
    headline_en: Mapped[str | None] = mapped_column(sa.String(MAX_HEADLINE))
    text_en: Mapped[str | None] = mapped_column(sa.Text)
    severity: Mapped[AlertSeverity] = mapped_column(
        str_enum(AlertSeverity, "alert_message_severity")
    )
    topic_id: Mapped[int | None] = mapped_column(sa.ForeignKey("topic.id", ondelete="SET NULL"))
    all_municipalities: Mapped[bool] = mapped_column(default=False)
    municipality_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    url: Mapped[str | None] = mapped_column(sa.String(MAX_URL))
    note: Mapped[str | None] = mapped_column(sa.String(MAX_NOTE))  # what changed, why cancelled
    issued_by: Mapped[str] = mapped_column(sa.String(320))  # an Actor's name
    issued_by_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(sa.String(320))
    approved_at: Mapped[datetime | None]
    # An administrator released a severe or extreme message alone, and said why (audited too).
    override_reason: Mapped[str | None] = mapped_column(sa.String(MAX_NOTE))
    rejected_by: Mapped[str | None] = mapped_column(sa.String(320))
    released_at: Mapped[datetime | None] = mapped_column(index=True)

    alert: Mapped[Alert] = relationship(back_populates="messages")
    renditions: Mapped[list[AlertRendition]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<AlertMessage {self.alert_id}.{self.sequence} {self.msg_type} {self.status}>"


class AlertRendition(db.Model):  # type: ignore[name-defined,misc]
    """A released message's e-mail in one language: rendered once, sent to everyone."""

    __tablename__ = "alert_rendition"
    __table_args__ = (sa.UniqueConstraint("message_id", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("alert_message.id", ondelete="CASCADE"))
    locale: Mapped[str] = mapped_column(sa.String(5))
    subject: Mapped[str] = mapped_column(sa.String(500))
    html: Mapped[str] = mapped_column(sa.Text)
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class AlertNotice:
    """A released message as the channels see it (``events.alert_released``): plain values,
    no ORM objects, so a receiver in another domain needs nothing of ours."""

    alert_id: int
    message_id: int
    sequence: int
    msg_type: MessageType
    headline: str
    text: str
    headline_en: str | None
    text_en: str | None
    severity: AlertSeverity
    all_municipalities: bool
    municipality_ids: tuple[int, ...]  # the comuni concerned; with follow-ups, every earlier one
    starts_at: datetime
    expires_at: datetime
    url: str | None
    note: str | None
    released_at: datetime

    @property
    def identifier(self) -> str:
        return f"AOC-{self.alert_id}"

    def headline_in(self, locale: str) -> str:
        return (self.headline_en or self.headline) if locale == "en" else self.headline

    def text_in(self, locale: str) -> str:
        return (self.text_en or self.text) if locale == "en" else self.text
