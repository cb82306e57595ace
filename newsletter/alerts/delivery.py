"""Urgent alerts by e-mail: the fan-out on ``events.alert_released`` and what the sender reads.

For each released message (an alert, an update, a cancellation): the people concerned, as
subscriptions defines them (``queries.alert_audience``: active, alerts on, their comune among
the message's, every earlier message's included); the mail rendered once per language they
read (``AlertRendition``); and one ``alert`` outbox row per person, keyed
``alert:<message id>:<subscriber id>``, so a retried release or two comuni of one person
never make a second mail. The rows sit in the outbox's priority lane and carry ``expires``:
the sender drops what is still queued when the alert runs out (and rows of people who left or
turned alerts off meanwhile), and builds each rendition's template once.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from newsletter.alerts import mail
from newsletter.alerts.models import AlertMessage, AlertNotice, AlertRendition, MessageStatus
from newsletter.delivery import outbox
from newsletter.delivery.models import DeliveryKind
from newsletter.extensions import db
from newsletter.hooks import MailVariant
from newsletter.reference.models import Municipality
from newsletter.subscriptions.queries import alert_audience

log = logging.getLogger(__name__)

LIST_LABEL = "alerts"  # List-Id <alerts.mail-domain>: one list for every alert
UNSUBSCRIBE_PURPOSE = "unsubscribe-alerts"  # subscriptions' alerts-only link


def enqueue_mail(notice: AlertNotice, *, now: datetime) -> int:
    """Render the message once per language of its audience and queue one row per person,
    in the releasing transaction. Returns how many rows were queued (0: nobody, or expired)."""
    if notice.expires_at <= now:
        return 0  # nobody needs to hear of an alert that has run out
    audience = alert_audience(None if notice.all_municipalities else notice.municipality_ids)
    by_locale: dict[str, list[int]] = {}
    for subscriber_id, locale in audience:
        by_locale.setdefault(locale, []).append(subscriber_id)
    queued = 0
    for locale, ids in sorted(by_locale.items()):
        rendition = _rendition(notice, locale)
        queued += outbox.enqueue_once_each(
            DeliveryKind.ALERT,
            ids,
            dedupe_prefix=f"alert:{notice.message_id}:",
            payload={"rendition": rendition.id, "expires": notice.expires_at.isoformat()},
            now=now,
        )
    log.info(
        "alert %s message %d: %d e-mails queued (%s)",
        notice.identifier,
        notice.sequence,
        queued,
        ", ".join(f"{locale} {len(ids)}" for locale, ids in sorted(by_locale.items())) or "nobody",
    )
    return queued


def _rendition(notice: AlertNotice, locale: str) -> AlertRendition:
    """The message's mail in one language, rendered now unless a retried release did already."""
    found = db.session.scalar(
        sa.select(AlertRendition).where(
            AlertRendition.message_id == notice.message_id, AlertRendition.locale == locale
        )
    )
    if found is not None:
        return found
    config = current_app.config
    message = db.session.get(AlertMessage, notice.message_id)
    # The comuni this message names (the audience is wider: every earlier message's too).
    everywhere = message.all_municipalities if message is not None else notice.all_municipalities
    area = message.municipality_ids if message is not None else notice.municipality_ids
    rendered = mail.render(
        notice,
        locale,
        everywhere=everywhere,
        municipalities=_names(tuple(area or ())),
        original_at=_original_release(notice),
        base_url=str(config["BASE_URL"]),
        timezone=str(config["TIMEZONE"]),
    )
    rendition = AlertRendition(
        message_id=notice.message_id,
        locale=locale,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        created_at=notice.released_at,
    )
    db.session.add(rendition)
    db.session.flush()
    return rendition


def _names(municipality_ids: tuple[int, ...]) -> list[str]:
    if not municipality_ids:
        return []
    return list(
        db.session.scalars(
            sa.select(Municipality.name)
            .where(Municipality.id.in_(municipality_ids))
            .order_by(Municipality.name)
        )
    )


def _original_release(notice: AlertNotice) -> datetime | None:
    """When the alert itself (message 1) went out: follow-ups refer to it."""
    return db.session.scalar(
        sa.select(AlertMessage.released_at).where(
            AlertMessage.alert_id == notice.alert_id,
            AlertMessage.status == MessageStatus.RELEASED,
            AlertMessage.sequence == 1,
        )
    )


def load_rendition(rendition_id: int) -> MailVariant | None:
    """What the sender needs to build a rendition's template once (None: it is gone)."""
    rendition = db.session.get(AlertRendition, rendition_id)
    if rendition is None:
        return None
    return MailVariant(
        subject=rendition.subject,
        text=rendition.text,
        html=rendition.html,
        list_label=LIST_LABEL,
        unsubscribe_purpose=UNSUBSCRIBE_PURPOSE,
    )


def renditions_of(message_id: int) -> list[AlertRendition]:
    """A message's renditions, by language (the admin area's preview, tests)."""
    return list(
        db.session.scalars(
            sa.select(AlertRendition)
            .where(AlertRendition.message_id == message_id)
            .order_by(AlertRendition.locale)
        )
    )
