"""Subscribing, confirming, preferences, unsubscribing, export and erasure.

Every change of consent appends a ConsentEvent in the same transaction; e-mails are never
sent from here, only written to the outbox (``Delivery``) for the sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from newsletter import audit, events
from newsletter.audit import Actor
from newsletter.db import get_or_404, utcnow
from newsletter.delivery import outbox
from newsletter.delivery.models import DeliveryKind
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.reference.models import Municipality
from newsletter.reference.service import find_municipality, topics_by_slug
from newsletter.subscriptions import rules
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    Frequency,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    normalize_email,
)
from newsletter.vocabulary import Locale


@dataclass(frozen=True)
class SubscribeRequest:
    """A validated subscribe form: the address, at least one topic (or a comune with
    ``local_news`` or ``alerts``: ``rules.has_choice``), and consent given. ``municipality``
    is a name or slug of the table; ``alerts`` (the comune's urgent alerts) needs one."""

    email: str
    topics: tuple[str, ...]
    frequency: Frequency
    locale: str
    municipality: str | None = None
    local_news: bool = False
    alerts: bool = False

    @property
    def alerts_only(self) -> bool:
        """The comune's urgent alerts and nothing else: no digest will follow (the answer
        page says so; it depends on what was typed, never on the address's state)."""
        return self.alerts and not rules.gets_a_digest(
            self.topics,
            institutional=False,
            municipality=self.municipality is not None,
            local_news=self.local_news,
        )


@dataclass(frozen=True)
class Preferences:
    topics: tuple[str, ...]
    frequency: Frequency
    locale: str
    municipality: str | None = None
    local_news: bool = False
    alerts: bool = False


def resolve_municipality(name: str | None) -> Municipality | None:
    """The comune a person chose (any spelling or slug); an unknown one is a field error."""
    if name is None or not name.strip():
        return None
    found = find_municipality(name)
    if found is None:
        raise ValidationError(
            f"unknown municipality: {name}", {"municipality": f"unknown municipality: {name}"}
        )
    return found


def check_choice(
    topics: tuple[str, ...], municipality: Municipality | None, local: bool, alerts: bool = False
) -> None:
    """Something to send: a topic, or a comune's news whatever the topic, or its urgent
    alerts alone (``rules.has_choice``, the rule of every door)."""
    if not rules.has_choice(
        topics, municipality=municipality is not None, local_news=local, alerts=alerts
    ):
        raise ValidationError(
            "choose at least one topic, or a municipality with all its news or its urgent alerts",
            {"topics": "choose at least one topic, or a municipality with local_news or alerts"},
        )


def check_alerts(alerts: bool, municipality: Municipality | None) -> None:
    """Urgent alerts go to the people of the comuni concerned: without a comune, nobody
    would ever be concerned, so asking for them without one is a mistake worth saying."""
    if alerts and municipality is None:
        raise ValidationError(
            "urgent alerts need a municipality",
            {"alerts": "urgent alerts need a municipality"},
        )


def notice_version() -> str:
    return str(current_app.config["PRIVACY_NOTICE_VERSION"])


def consent_channel(channel: str) -> ConsentChannel:
    try:
        return ConsentChannel(channel)
    except ValueError:
        raise ValueError(f"unknown consent channel {channel!r}") from None


def record_consent(
    subscriber: Subscriber | None,
    action: ConsentAction,
    channel: ConsentChannel | str,
    *,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> ConsentEvent:
    """Append one ledger entry (in the caller's transaction) with the notice version shown."""
    event = ConsentEvent(
        subscriber_id=subscriber.id if subscriber is not None else None,
        action=action,
        notice_version=notice_version(),
        channel=consent_channel(channel).value,
        actor=actor,
        details=details,
    )
    db.session.add(event)
    return event


def set_topics(subscriber: Subscriber, slugs: tuple[str, ...] | list[str]) -> None:
    """Replace the subscriber's topics; unknown slugs raise ValidationError."""
    wanted = {t.id: t for t in topics_by_slug(list(slugs))}
    for link in list(subscriber.subscriptions):
        if link.topic_id not in wanted:
            subscriber.subscriptions.remove(link)
    have = {link.topic_id for link in subscriber.subscriptions}
    for topic_id, topic in wanted.items():
        if topic_id not in have:
            subscriber.subscriptions.append(Subscription(topic_id=topic_id, topic=topic))


def cancel_queued_digests(subscriber_id: int) -> None:
    """Digests already queued for someone who leaves or changes their mind must not go out."""
    outbox.cancel(subscriber_id, kinds=[DeliveryKind.DIGEST])


def _find_for_update(email: str) -> Subscriber | None:
    """The row, locked on PostgreSQL so concurrent submissions of one address queue up."""
    return db.session.scalar(
        sa.select(Subscriber).where(Subscriber.email == email).with_for_update()
    )


def _may_send_service_mail(subscriber: Subscriber, kind: DeliveryKind, now: datetime) -> bool:
    """Against mail bombing, whatever the form is used for: one mail of a kind per
    CONFIRMATION_RESEND_WINDOW, and at most SERVICE_MAIL_PER_HOUR service mails of any kind
    in the last hour. A different kind is not held back by the other's window: someone who
    confirmed minutes ago and asks again (to change topics) gets their preferences link."""
    cfg = current_app.config
    hour = timedelta(hours=1)
    window = timedelta(seconds=int(cfg["CONFIRMATION_RESEND_WINDOW"]))
    sent = outbox.recent(subscriber.id, outbox.service_mail_kinds(), now - max(hour, window))
    if any(k is kind and now - created < window for k, created in sent):
        return False
    return sum(1 for _k, created in sent if now - created < hour) < int(
        cfg["SERVICE_MAIL_PER_HOUR"]
    )


def _enqueue_service_mail(subscriber: Subscriber, kind: DeliveryKind, now: datetime) -> None:
    """A service e-mail unless the limits say no; the outbox supersedes an older queued one."""
    if not _may_send_service_mail(subscriber, kind, now):
        return
    outbox.enqueue(kind, subscriber_id=subscriber.id, due=now, now=now)
    subscriber.confirmation_sent_at = now  # the last request: purge_pending counts from it


def subscribe(
    request: SubscribeRequest, *, channel: str = "web", now: datetime | None = None
) -> None:
    """Create or refresh a pending subscriber and queue the confirmation e-mail.

    Returns nothing on purpose: the caller shows the same answer whatever the address's state
    (new, pending, active, unsubscribed), so the form cannot be used to probe for addresses.
    An active address gets its preferences link instead; its settings are not changed by a
    form anyone could have filled in.
    """
    if not Locale.knows(request.locale):
        raise ValidationError("unknown language", {"locale": request.locale})
    topics_by_slug(list(request.topics))  # validate before touching anything
    municipality = resolve_municipality(request.municipality)
    check_alerts(request.alerts, municipality)
    check_choice(request.topics, municipality, request.local_news, request.alerts)
    email = normalize_email(request.email)
    for attempt in range(2):
        try:
            _subscribe_once(email, request, municipality, channel, now or utcnow())
            db.session.commit()
            return
        except IntegrityError:
            # Another request inserted the same new address a moment ago: retry as an update.
            db.session.rollback()
            if attempt:
                raise


def _subscribe_once(
    email: str,
    request: SubscribeRequest,
    municipality: Municipality | None,
    channel: str,
    now: datetime,
) -> None:
    subscriber = _find_for_update(email)
    if subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE:
        _enqueue_service_mail(subscriber, DeliveryKind.PREFERENCES, now)
        return
    if subscriber is None:
        subscriber = Subscriber(email=email, created_at=now)
        db.session.add(subscriber)
    subscriber.status = SubscriberStatus.PENDING
    subscriber.frequency = request.frequency
    subscriber.locale = request.locale
    subscriber.municipality_id = municipality.id if municipality is not None else None
    subscriber.local_news = bool(request.local_news and municipality is not None)
    subscriber.alerts = request.alerts
    set_topics(subscriber, request.topics)
    db.session.flush()
    record_consent(
        subscriber,
        ConsentAction.SUBSCRIBE,
        channel,
        details=_settings(subscriber),
    )
    _enqueue_service_mail(subscriber, DeliveryKind.CONFIRM, now)


def _settings(subscriber: Subscriber) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "topics": subscriber.topic_slugs,
        "frequency": subscriber.frequency.value,
        "locale": subscriber.locale,
    }
    if subscriber.municipality_id is not None:
        municipality = db.session.get(Municipality, subscriber.municipality_id)
        settings["municipality"] = municipality.name if municipality is not None else None
        settings["local_news"] = subscriber.local_news
        settings["alerts"] = subscriber.alerts  # a comune's alerts: none without one
    return settings


def get_subscriber(subscriber_id: int) -> Subscriber:
    return get_or_404(Subscriber, subscriber_id, "no such subscriber")


def confirm(subscriber_id: int, *, channel: str = "web", now: datetime | None = None) -> Subscriber:
    """Double opt-in, second step. Confirming twice is harmless and records nothing new.

    An unsubscribed person's old confirmation link does not bring them back: they subscribe
    again and get a fresh link.
    """
    subscriber = get_subscriber(subscriber_id)
    if subscriber.status is SubscriberStatus.PENDING:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = now or utcnow()
        subscriber.unsubscribed_at = None
        record_consent(subscriber, ConsentAction.CONFIRM, channel, details=_settings(subscriber))
        events.subscriber_confirmed.send(subscriber, channel=str(channel))
        db.session.commit()
    return subscriber


def update_preferences(
    subscriber_id: int, prefs: Preferences, *, channel: str = "web"
) -> Subscriber:
    if not Locale.knows(prefs.locale):
        raise ValidationError("unknown language", {"locale": prefs.locale})
    municipality = resolve_municipality(prefs.municipality)
    check_alerts(prefs.alerts, municipality)
    check_choice(prefs.topics, municipality, prefs.local_news, prefs.alerts)
    subscriber = get_subscriber(subscriber_id)
    alerts_before = (subscriber.alerts, subscriber.municipality_id)
    subscriber.municipality_id = municipality.id if municipality is not None else None
    subscriber.local_news = bool(prefs.local_news and municipality is not None)
    subscriber.alerts = prefs.alerts
    set_topics(subscriber, prefs.topics)
    subscriber.frequency = prefs.frequency
    subscriber.locale = prefs.locale
    db.session.flush()
    cancel_queued_digests(subscriber.id)
    if alerts_before[0] and alerts_before != (subscriber.alerts, subscriber.municipality_id):
        # Alerts turned off, or meant for a comune that is no longer theirs: not sent.
        outbox.cancel(subscriber.id, kinds=[DeliveryKind.ALERT])
    record_consent(subscriber, ConsentAction.PREFERENCES, channel, details=_settings(subscriber))
    db.session.commit()
    return subscriber


def unsubscribe(
    subscriber_id: int,
    *,
    channel: str = "web",
    now: datetime | None = None,
    actor: Actor | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Stop all mail to the subscriber. True if this call changed anything; repeating is
    harmless (and so is a token of a subscriber who has since been erased).

    ``actor``: staff acting for the person (audited); None when the person acts themself
    through their own link (the consent ledger is their record). ``details``: what the
    ledger entry says besides (e.g. the door: the alerts-only link)."""
    if actor is not None:
        audit.record(actor, "subscriber.unsubscribe", f"subscriber:{subscriber_id}")
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        if actor is not None:
            db.session.commit()
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = now or utcnow()
    outbox.cancel(subscriber.id)
    record_consent(subscriber, ConsentAction.UNSUBSCRIBE, channel, details=details)
    events.subscriber_left.send(subscriber.id, channel=str(channel), erased=False)
    db.session.commit()
    return True


def set_alerts(
    subscriber_id: int,
    on: bool,
    *,
    channel: str = "web",
    actor: Actor | None = None,
    change: str = "alerts",
) -> bool:
    """Turn the subscriber's urgent alerts for their comune on or off; the digests are not
    touched. True if this call changed anything (repeating is harmless). Commits.

    Alerts need a comune (a field error otherwise). Turning them off cancels the alert mail
    still queued; the consent ledger records the choice (``details.alerts``; ``change`` says
    which door: the preferences, the alerts-only unsubscribe link). ``actor`` as for
    unsubscribe: staff acting for the person (audited)."""
    if actor is not None:
        audit.record(actor, "subscriber.alerts", f"subscriber:{subscriber_id}", {"alerts": on})
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.alerts == on:
        if actor is not None:
            db.session.commit()
        return False
    check_alerts(on, subscriber.municipality)
    if not on and alerts_are_all(subscriber):
        # The preference centre's rule: keep one choice, or unsubscribe.
        raise ValidationError(
            "urgent alerts are this subscriber's only choice: unsubscribe instead",
            {"alerts": "the only choice: unsubscribe instead"},
        )
    subscriber.alerts = on
    if not on:
        outbox.cancel(subscriber.id, kinds=[DeliveryKind.ALERT], reason="alerts turned off")
    record_consent(
        subscriber,
        ConsentAction.PREFERENCES,
        channel,
        actor=actor.name if actor is not None else None,
        details={**_settings(subscriber), "alerts": on, "change": change},
    )
    db.session.commit()
    return True


def alerts_are_all(subscriber: Subscriber) -> bool:
    """Whether the urgent alerts are all this subscribed person receives: alerts on, and no
    digest could reach them without (a citizen with no topic and no comune's news)."""
    if not subscriber.alerts or subscriber.status not in _SUBSCRIBED:
        return False
    return not rules.gets_a_digest(
        subscriber.topic_slugs,
        institutional=subscriber.role is not Role.CITIZEN,
        municipality=subscriber.municipality_id is not None,
        local_news=subscriber.local_news,
    )


_SUBSCRIBED = frozenset({SubscriberStatus.ACTIVE, SubscriberStatus.PENDING})


def unsubscribe_alerts(
    subscriber_id: int, *, channel: str = "web", actor: Actor | None = None
) -> bool:
    """The alerts-only unsubscribe (the link and RFC 8058 one-click of every alert mail):
    no more urgent alerts, the newsletter keeps coming. True if this call changed anything.

    Someone who receives nothing but the alerts would otherwise stay "subscribed" to nothing:
    they are unsubscribed altogether (alerts off, status unsubscribed, every queued mail
    cancelled), with one ``unsubscribe`` ledger entry saying why (``via: alerts``)."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is not None and alerts_are_all(subscriber):
        subscriber.alerts = False
        details = {**_settings(subscriber), "via": "alerts", "reason": "alerts were all they had"}
        return unsubscribe(subscriber_id, channel=channel, actor=actor, details=details)
    return set_alerts(subscriber_id, False, channel=channel, actor=actor, change="unsubscribe")


def erase(subscriber_id: int, *, channel: str = "web", actor: Actor | None = None) -> None:
    """Delete the person and everything that names them; keep one anonymous ledger entry
    saying that an erasure happened (and under which notice). ``actor`` as for unsubscribe."""
    subscriber = get_subscriber(subscriber_id)
    if actor is not None:
        audit.record(actor, "subscriber.erase", f"subscriber:{subscriber_id}")
    db.session.delete(subscriber)
    db.session.flush()
    outbox.forget([subscriber_id])  # every delivery row that names them (no cascade there)
    record_consent(None, ConsentAction.ERASE, channel)
    events.subscriber_left.send(subscriber_id, channel=str(channel), erased=True)
    db.session.commit()


def export_data(subscriber_id: int) -> dict[str, Any]:
    """Everything we hold about one person, as plain JSON-ready values."""
    subscriber = get_subscriber(subscriber_id)
    ledger = db.session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber.id)
        .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
    )
    deliveries = outbox.deliveries_of(subscriber.id)

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status.value,
        "role": subscriber.role.value,
        "municipality": subscriber.municipality.name if subscriber.municipality else None,
        "local_news": subscriber.local_news,
        "alerts": subscriber.alerts,
        "topics": subscriber.topic_slugs,
        "frequency": subscriber.frequency.value,
        "locale": subscriber.locale,
        "created_at": iso(subscriber.created_at),
        "confirmed_at": iso(subscriber.confirmed_at),
        "unsubscribed_at": iso(subscriber.unsubscribed_at),
        "consent_events": [
            {
                "action": e.action.value,
                "occurred_at": iso(e.occurred_at),
                "notice_version": e.notice_version,
                "channel": e.channel,
                "actor": e.actor,
                "details": e.details,
            }
            for e in ledger
        ],
        "emails": [
            {
                "kind": d.kind.value,
                "status": d.status.value,
                "created_at": iso(d.created_at),
                "sent_at": iso(d.sent_at),
            }
            for d in deliveries
        ],
    }


consent_t = ConsentEvent.__table__
subscriber_t = Subscriber.__table__


def on_delivery_bounced(
    conn: sa.Connection,
    *,
    subscriber_id: int,
    hard: bool,
    reason: str,
    channel: str,
    notice_version: str,
    soft_limit: int,
    delivery_id: int | None,
    status: str | None = None,
    **_: Any,
) -> bool:
    """The receiver of ``events.delivery_bounced``: count a soft bounce, or suppress the
    address and write the ledger entry. Runs on the sender's (or bounce processor's)
    connection, outside any ORM session. True when the subscriber is now suppressed."""
    if not hard:
        conn.execute(
            sa.update(subscriber_t)
            .where(subscriber_t.c.id == subscriber_id)
            .values(soft_bounces=subscriber_t.c.soft_bounces + 1)
        )
        count = conn.execute(
            sa.select(subscriber_t.c.soft_bounces).where(subscriber_t.c.id == subscriber_id)
        ).scalar_one_or_none()
        if count is None or count < soft_limit:
            return False
        reason = f"{count} soft bounces, last {status or reason}"
    changed = conn.execute(
        sa.update(subscriber_t)
        .where(
            subscriber_t.c.id == subscriber_id,
            subscriber_t.c.status != SubscriberStatus.BOUNCED,
        )
        .values(status=SubscriberStatus.BOUNCED)
    ).rowcount
    if not changed:
        return False
    details: dict[str, Any] = {"reason": reason[:300]}
    if delivery_id is not None:
        details["delivery_id"] = delivery_id
    conn.execute(
        sa.insert(consent_t).values(
            subscriber_id=subscriber_id,
            action=ConsentAction.BOUNCE,
            occurred_at=utcnow(),
            notice_version=notice_version,
            channel=consent_channel(channel).value,
            actor=None,
            details=details,
        )
    )
    return True


def purge_pending(now: datetime | None = None) -> int:
    """Forget addresses never confirmed within PENDING_TTL_DAYS of their last request."""
    cutoff = (now or utcnow()) - timedelta(days=int(current_app.config["PENDING_TTL_DAYS"]))
    last_request = sa.func.coalesce(Subscriber.confirmation_sent_at, Subscriber.created_at)
    ids = list(
        db.session.scalars(
            sa.select(Subscriber.id).where(
                Subscriber.status == SubscriberStatus.PENDING, last_request < cutoff
            )
        )
    )
    for start in range(0, len(ids), 5_000):
        db.session.execute(
            sa.delete(Subscriber)
            .where(Subscriber.id.in_(ids[start : start + 5_000]))
            .execution_options(synchronize_session=False)
        )
    if ids:
        outbox.forget(ids)  # their confirmation mails (the outbox has no cascade)
    db.session.commit()
    return len(ids)


def count_by_status() -> dict[str, int]:
    """Subscribers per status, every status present (zero included)."""
    rows = db.session.execute(
        sa.select(Subscriber.status, sa.func.count()).group_by(Subscriber.status)
    ).all()
    counts = {str(s): 0 for s in SubscriberStatus}
    counts.update({str(s): n for s, n in rows})
    return counts
