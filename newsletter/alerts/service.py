"""Issuing, approving, updating and cancelling urgent alerts. The only writer of the alert tables.

Every operation takes an explicit ``Actor``, writes an audit row and logs what it did, in the
caller's transaction (the caller commits: the outbox rows land with the state change, or not at
all). Releasing a message announces ``events.alert_released``: this domain's e-mail fan-out and
the push and Telegram domains queue their deliveries in that same transaction.

Four eyes: a ``severe`` or ``extreme`` message waits for a second person's approval, unless an
administrator releases it alone and says why (``override_reason``, audited). A cancellation
never waits: withdrawing a warning must be as fast as possible.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from newsletter import audit, events
from newsletter.alerts import cap
from newsletter.alerts.models import (
    MAX_NOTE,
    Alert,
    AlertArea,
    AlertMessage,
    AlertNotice,
    AlertState,
    MessageStatus,
    MessageType,
)
from newsletter.alerts.schemas import ALL, AlertIn, AlertMessageOut, AlertOut, PublicStatus
from newsletter.audit import Actor
from newsletter.db import utcnow
from newsletter.exceptions import Conflict, Forbidden, NotFound, ValidationError
from newsletter.extensions import db
from newsletter.paging import Page, paginate
from newsletter.reference.models import Municipality, MunicipalityAlias, Topic
from newsletter.reference.service import find_municipality, list_topics

log = logging.getLogger(__name__)


# --- reading -------------------------------------------------------------------------------


def get_alert(alert_id: int) -> Alert:
    """Any alert, pending ones included (the admin area)."""
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}", {"alert": alert_id})
    return alert


def public_alert(alert_id: int) -> Alert:
    """An alert the public may see: published or cancelled (pending and rejected are not)."""
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.state not in (AlertState.PUBLISHED, AlertState.CANCELLED):
        raise NotFound(f"no alert {alert_id}", {"alert": alert_id})
    return alert


def get_message(message_id: int) -> AlertMessage:
    message = db.session.get(AlertMessage, message_id)
    if message is None:
        raise NotFound(f"no alert message {message_id}", {"message": message_id})
    return message


def _in_area(municipality_id: int) -> sa.ColumnElement[bool]:
    return sa.or_(
        Alert.all_municipalities.is_(True),
        sa.exists().where(
            AlertArea.alert_id == Alert.id, AlertArea.municipality_id == municipality_id
        ),
    )


def active_query(now: datetime, municipality_id: int | None = None) -> sa.Select[tuple[Alert]]:
    """Published alerts not yet expired, the most serious and newest first."""
    severity_rank = sa.case(
        {"extreme": 0, "severe": 1, "moderate": 2, "minor": 3}, value=Alert.severity
    )
    query = (
        sa.select(Alert)
        .where(Alert.state == AlertState.PUBLISHED, Alert.expires_at > now)
        .order_by(severity_rank, Alert.updated_at.desc(), Alert.id.desc())
    )
    if municipality_id is not None:
        query = query.where(_in_area(municipality_id))
    return query


def active_alerts(now: datetime | None = None, municipality_id: int | None = None) -> list[Alert]:
    return list(db.session.scalars(active_query(now or utcnow(), municipality_id)))


def past_query(now: datetime, municipality_id: int | None = None) -> sa.Select[tuple[Alert]]:
    """Alerts no longer in force (expired or cancelled), newest first."""
    query = (
        sa.select(Alert)
        .where(
            sa.or_(
                Alert.state == AlertState.CANCELLED,
                sa.and_(Alert.state == AlertState.PUBLISHED, Alert.expires_at <= now),
            )
        )
        .order_by(Alert.updated_at.desc(), Alert.id.desc())
    )
    if municipality_id is not None:
        query = query.where(_in_area(municipality_id))
    return query


def past_alerts(page: int, per_page: int = 20, now: datetime | None = None) -> Page:
    return paginate(past_query(now or utcnow()), page, per_page)


def recent_public(limit: int = 50, municipality_id: int | None = None) -> list[Alert]:
    """The feeds' entries: every public alert (active, expired, cancelled), latest change
    first."""
    query = (
        sa.select(Alert)
        .where(Alert.state.in_([AlertState.PUBLISHED, AlertState.CANCELLED]))
        .order_by(Alert.updated_at.desc(), Alert.id.desc())
        .limit(limit)
        .options(selectinload(Alert.messages))  # each entry names its latest message
    )
    if municipality_id is not None:
        query = query.where(_in_area(municipality_id))
    return list(db.session.scalars(query))


def awaiting_approval() -> list[AlertMessage]:
    """Messages a second person must approve, oldest first."""
    return list(
        db.session.scalars(
            sa.select(AlertMessage)
            .where(AlertMessage.status == MessageStatus.AWAITING_APPROVAL)
            .order_by(AlertMessage.issued_at, AlertMessage.id)
        )
    )


def awaiting_count() -> int:
    """How many messages wait for a second person (the admin navigation shows it)."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AlertMessage)
            .where(AlertMessage.status == MessageStatus.AWAITING_APPROVAL)
        )
        or 0
    )


def waiting_alert_ids(alert_ids: list[int]) -> set[int]:
    """Which of these alerts have a message awaiting approval (one query for a list page)."""
    if not alert_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(AlertMessage.alert_id)
            .where(
                AlertMessage.alert_id.in_(alert_ids),
                AlertMessage.status == MessageStatus.AWAITING_APPROVAL,
            )
            .distinct()
        )
    )


def list_alerts(page: int, per_page: int = 25) -> Page:
    """Every alert for the admin area, newest first."""
    return paginate(sa.select(Alert).order_by(Alert.id.desc()), page, per_page)


def recent_alerts(limit: int) -> list[Alert]:
    """The newest alerts whatever their state (API clients following up on theirs)."""
    return list(db.session.scalars(sa.select(Alert).order_by(Alert.id.desc()).limit(limit)))


def municipality_names() -> dict[int, str]:
    """Every comune's name by id: a message keeps ids, people read names."""
    return dict(db.session.execute(sa.select(Municipality.id, Municipality.name)).tuples().all())


def message_area_names(message: AlertMessage, names: dict[int, str] | None = None) -> list[str]:
    """The names of the comuni a message concerns, alphabetical; ``["*"]`` for all of them."""
    if message.all_municipalities:
        return [ALL]
    names = municipality_names() if names is None else names
    return sorted(names[i] for i in message.municipality_ids or [] if i in names)


def released_messages(alert: Alert) -> list[AlertMessage]:
    return [m for m in alert.messages if m.status is MessageStatus.RELEASED]


PUBLIC_STATES = (AlertState.PUBLISHED, AlertState.CANCELLED)


def public_state() -> tuple[sa.ScalarSelect[Any], ...]:
    """What the alert feeds show depends on, as scalar subqueries for the feeds' one version
    query: the newest change of a public alert (every release moves ``updated_at``), how many
    there are, the newest id, and the number of former comune slugs (a rename changes the names
    in the entries). Expiry is not in it: the feeds list past alerts too, unchanged."""
    public = Alert.state.in_(PUBLIC_STATES)
    return (
        sa.select(sa.func.max(Alert.updated_at)).where(public).scalar_subquery(),
        sa.select(sa.func.count(Alert.id)).where(public).scalar_subquery(),
        sa.select(sa.func.max(Alert.id)).where(public).scalar_subquery(),
        sa.select(sa.func.count()).select_from(MunicipalityAlias).scalar_subquery(),
    )


def message_area(message: AlertMessage) -> list[Municipality]:
    """The comuni a message named, by name (every comune for an all-area message)."""
    query = sa.select(Municipality).order_by(Municipality.name)
    if not message.all_municipalities:
        query = query.where(Municipality.id.in_(list(message.municipality_ids or [])))
    return list(db.session.scalars(query))


def alert_sender() -> str:
    """CAP ``sender``: the site's host name, unique to this service and stable."""
    return urlsplit(str(current_app.config["BASE_URL"])).hostname or "localhost"


def cap_identifier(alert_id: int, sequence: int) -> str:
    """The CAP ``identifier`` of an alert's message (unique, stable)."""
    return cap.message_identifier(alert_sender(), alert_id, sequence)


def cap_document(alert_id: int) -> bytes:
    """The public alert's CAP 1.2 document (its latest released message); NotFound for an
    alert the public may not see."""
    alert = public_alert(alert_id)
    messages = released_messages(alert)
    latest = messages[-1]
    topic = db.session.get(Topic, latest.topic_id) if latest.topic_id is not None else None
    base_url = str(current_app.config["BASE_URL"]).rstrip("/")
    source = cap.CapSource(
        alert_id=alert.id,
        messages=messages,
        places=[cap.Place(m.name, m.istat_code) for m in message_area(latest)],
        everywhere=latest.all_municipalities,
        topic_slug=topic.slug if topic is not None else None,
        topic_names=(topic.name_it, topic.name_en) if topic is not None else None,
        sender=alert_sender(),
        sender_name=f"{cap.ALL_AREA} – {current_app.config['ORGANISATION_NAME']}",
        web=f"{base_url}/avvisi/{alert.id}",
        tz=ZoneInfo(str(current_app.config["TIMEZONE"])),
    )
    return cap.build(source)


# --- writing -------------------------------------------------------------------------------


def _resolve(data: AlertIn) -> tuple[list[Municipality], Topic | None]:
    """The comuni and topic an alert names; unknown names are one error listing them all."""
    municipalities: list[Municipality] = []
    if not data.everywhere:
        unknown: list[str] = []
        for name in data.municipalities:
            found = find_municipality(name)
            if found is None:
                unknown.append(name)
            elif found not in municipalities:
                municipalities.append(found)
        if unknown:
            message = f"unknown municipality: {', '.join(unknown)}"
            raise ValidationError(message, {"municipalities": message})
    topic = None
    if data.topic is not None:
        # Compared in Python, exactly: the slug is never sent to the database as typed.
        topic = next((t for t in list_topics() if t.slug == data.topic), None)
        if topic is None:
            message = f"unknown topic: {data.topic}"
            raise ValidationError(message, {"topic": message})
    return municipalities, topic


def _check_times(data: AlertIn, now: datetime) -> tuple[datetime, datetime]:
    starts = data.starts_at or now
    if data.expires_at <= now:
        raise ValidationError("expires_at is in the past", {"expires_at": "must be in the future"})
    if data.expires_at <= starts:
        raise ValidationError(
            "expires_at must be after starts_at", {"expires_at": "must be after starts_at"}
        )
    return starts, data.expires_at


def _approval(
    data: AlertIn, may_override: bool, override_reason: str | None
) -> tuple[bool, str | None]:
    """Whether the message may go out now (False: it waits for a second person), and the
    override reason that lets it (None when it needs none or has none)."""
    reason = (override_reason or "").strip() or None
    if reason is not None and not may_override:
        raise Forbidden("only an administrator may release a severe alert alone")
    if not data.severity.needs_approval:
        return True, None
    return reason is not None, reason


@dataclass(frozen=True)
class Draft:
    """An alert as it would go out, checked as issuing checks it, before anything is written:
    the admin area's preview."""

    municipalities: tuple[str, ...]  # names, alphabetical; empty when ``everywhere``
    everywhere: bool
    topic: Topic | None
    starts_at: datetime
    starts_now: bool
    expires_at: datetime
    releases_now: bool  # False: it waits for a second person's approval
    override_reason: str | None  # an administrator releases it alone, and why


def check(
    data: AlertIn,
    *,
    alert_id: int | None = None,
    may_override: bool = False,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> Draft:
    """What ``issue`` (or ``update`` of ``alert_id``) would do with ``data``: the same errors,
    nothing written."""
    now = now or utcnow()
    if alert_id is not None:
        _updatable(get_alert(alert_id))
    checked = _checked(data, now, may_override, override_reason)
    return Draft(
        municipalities=tuple(sorted(m.name for m in checked.municipalities)),
        everywhere=data.everywhere,
        topic=checked.topic,
        starts_at=checked.starts,
        starts_now=data.starts_at is None,
        expires_at=checked.expires,
        releases_now=checked.release_now,
        override_reason=checked.reason,
    )


@dataclass(frozen=True)
class _Checked:
    """An issuer's data, resolved and judged: what a new message is made of."""

    municipalities: list[Municipality]
    topic: Topic | None
    starts: datetime
    expires: datetime
    release_now: bool  # False: it waits for a second person
    reason: str | None  # an administrator's reason for releasing it alone


def _checked(
    data: AlertIn, now: datetime, may_override: bool, override_reason: str | None
) -> _Checked:
    """The same checks for issuing, updating and previewing, in the same order."""
    municipalities, topic = _resolve(data)
    starts, expires = _check_times(data, now)
    release_now, reason = _approval(data, may_override, override_reason)
    return _Checked(municipalities, topic, starts, expires, release_now, reason)


def _new_message(
    alert: Alert,
    data: AlertIn,
    msg_type: MessageType,
    checked: _Checked,
    *,
    actor: Actor,
    now: datetime,
    note: str | None,
) -> AlertMessage:
    sequence = 1 + max((m.sequence for m in alert.messages), default=0)
    message = AlertMessage(
        alert=alert,
        sequence=sequence,
        msg_type=msg_type,
        status=MessageStatus.AWAITING_APPROVAL,
        headline=data.headline,
        text=data.text,
        headline_en=data.headline_en,
        text_en=data.text_en,
        severity=data.severity,
        topic_id=checked.topic.id if checked.topic else None,
        all_municipalities=data.everywhere,
        municipality_ids=[m.id for m in checked.municipalities],
        starts_at=checked.starts,
        expires_at=checked.expires,
        url=data.url,
        note=note,
        issued_by=actor.name,
        issued_by_user_id=actor.user_id,
        issued_at=now,
        override_reason=checked.reason,
    )
    db.session.add(message)
    return message


#: What an alert says, held alike by the alert (its public state) and each of its messages.
CONTENT = (
    "headline",
    "text",
    "headline_en",
    "text_en",
    "severity",
    "topic_id",
    "all_municipalities",
    "starts_at",
    "expires_at",
    "url",
)


def _copy_content(source: Alert | AlertMessage, target: Alert | AlertMessage) -> None:
    for name in CONTENT:
        setattr(target, name, getattr(source, name))


def _go_out_if_allowed(
    message: AlertMessage, actor: Actor, checked: _Checked, now: datetime
) -> None:
    """Release the message now unless it waits for a second person."""
    if checked.release_now:
        _record_override(message, actor)
        _release(message, approved_by=None, now=now)


def _record_override(message: AlertMessage, actor: Actor) -> None:
    """An administrator released a severe or extreme message without a second person: its
    own audit row, so the log can be filtered for exactly these."""
    if message.override_reason:
        audit.record(
            actor,
            "alert.override",
            message.alert.identifier,
            {
                "sequence": message.sequence,
                "severity": message.severity.value,
                "reason": message.override_reason,
            },
        )


def issue(
    data: AlertIn,
    *,
    actor: Actor,
    may_override: bool = False,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> AlertMessage:
    """A new alert. Released at once, or left awaiting approval (severe, extreme)."""
    now = now or utcnow()
    checked = _checked(data, now, may_override, override_reason)
    alert = Alert(state=AlertState.PENDING, created_at=now)
    alert.municipalities = checked.municipalities
    db.session.add(alert)
    message = _new_message(alert, data, MessageType.ALERT, checked, actor=actor, now=now, note=None)
    _copy_content(message, alert)  # shown once released; a pending alert is not public
    db.session.flush()
    audit.record(
        actor,
        "alert.issue",
        alert.identifier,
        {
            "severity": data.severity.value,
            "headline": data.headline,
            "override": bool(message.override_reason),
        },
    )
    log.info("%s issued alert %s (%s)", actor.name, alert.identifier, data.severity.value)
    _go_out_if_allowed(message, actor, checked, now)
    return message


def update(
    alert_id: int,
    data: AlertIn,
    *,
    actor: Actor,
    note: str | None = None,
    may_override: bool = False,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> AlertMessage:
    """New content for a published alert, sent as a follow-up that refers to the original.
    The same approval rule as issuing applies to the new severity."""
    now = now or utcnow()
    alert = get_alert(alert_id)
    _updatable(alert)
    checked = _checked(data, now, may_override, override_reason)
    note = (note or "").strip() or None
    message = _new_message(
        alert, data, MessageType.UPDATE, checked, actor=actor, now=now, note=note
    )
    db.session.flush()
    audit.record(
        actor, "alert.update", alert.identifier, {"sequence": message.sequence, "note": note}
    )
    log.info("%s updated alert %s (message %d)", actor.name, alert.identifier, message.sequence)
    _go_out_if_allowed(message, actor, checked, now)
    return message


def cancel(
    alert_id: int, *, actor: Actor, note: str | None = None, now: datetime | None = None
) -> AlertMessage | None:
    """Withdraw an alert. A published one gets a cancellation that goes out at once (no
    approval); one still awaiting approval is simply refused (nothing was sent: returns None)."""
    now = now or utcnow()
    alert = get_alert(alert_id)
    if alert.state is AlertState.PENDING:
        for waiting in alert.messages:
            if waiting.status is MessageStatus.AWAITING_APPROVAL:
                _reject(waiting, actor, note or "withdrawn before approval")
        alert.state = AlertState.REJECTED
        audit.record(actor, "alert.withdraw", alert.identifier, {"note": note})
        log.info("%s withdrew pending alert %s", actor.name, alert.identifier)
        return None
    if alert.state is not AlertState.PUBLISHED:
        raise Conflict(f"alert {alert.identifier} is {alert.state.value}: nothing to cancel")
    for waiting in alert.messages:  # a pending update of a cancelled alert means nothing now
        if waiting.status is MessageStatus.AWAITING_APPROVAL:
            _reject(waiting, actor, "the alert was cancelled")
    current = released_messages(alert)[-1]
    message = AlertMessage(
        alert=alert,
        sequence=1 + max(m.sequence for m in alert.messages),
        msg_type=MessageType.CANCEL,
        status=MessageStatus.AWAITING_APPROVAL,
        municipality_ids=list(current.municipality_ids or []),
        note=note,
        issued_by=actor.name,
        issued_by_user_id=actor.user_id,
        issued_at=now,
    )
    _copy_content(current, message)  # a cancellation says what it withdraws
    db.session.add(message)
    db.session.flush()
    audit.record(actor, "alert.cancel", alert.identifier, {"note": note})
    log.info("%s cancelled alert %s", actor.name, alert.identifier)
    _release(message, approved_by=None, now=now)
    return message


def approve(message_id: int, *, actor: Actor, now: datetime | None = None) -> AlertMessage:
    """The second person's yes: the message is released. Its issuer cannot approve it."""
    now = now or utcnow()
    message = _waiting(message_id)
    if same_person(message, actor):
        raise Forbidden("a second person must approve: you issued this alert")
    audit.record(actor, "alert.approve", message.alert.identifier, {"sequence": message.sequence})
    log.info(
        "%s approved alert %s message %d", actor.name, message.alert.identifier, message.sequence
    )
    _release(message, approved_by=actor, now=now)
    return message


def release_alone(
    message_id: int,
    *,
    actor: Actor,
    reason: str,
    may_override: bool,
    now: datetime | None = None,
) -> AlertMessage:
    """An administrator sends a waiting message without a second person, saying why: the
    override of ``issue``, for a message already in the queue (at night, nobody else awake)."""
    now = now or utcnow()
    message = _waiting(message_id)
    if not may_override:
        raise Forbidden("only an administrator may release a severe alert alone")
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            "say why it cannot wait for a second person", {"override_reason": "required"}
        )
    if len(reason) > MAX_NOTE:
        raise ValidationError(
            f"the reason is longer than {MAX_NOTE} characters",
            {"override_reason": f"at most {MAX_NOTE} characters"},
        )
    message.override_reason = reason
    _record_override(message, actor)
    log.info(
        "%s released alert %s message %d alone: %s",
        actor.name,
        message.alert.identifier,
        message.sequence,
        reason,
    )
    _release(message, approved_by=None, now=now)
    return message


def reject(message_id: int, *, actor: Actor, reason: str) -> AlertMessage:
    """The second person's no: nothing is sent; a first message leaves the alert rejected."""
    message = _waiting(message_id)
    if not reason.strip():
        raise ValidationError("say why the alert is rejected", {"reason": "required"})
    _reject(message, actor, reason.strip())
    if message.sequence == 1:
        message.alert.state = AlertState.REJECTED
    audit.record(
        actor,
        "alert.reject",
        message.alert.identifier,
        {"sequence": message.sequence, "reason": reason.strip()},
    )
    log.info(
        "%s rejected alert %s message %d", actor.name, message.alert.identifier, message.sequence
    )
    return message


def _reject(message: AlertMessage, actor: Actor, reason: str) -> None:
    message.status = MessageStatus.REJECTED
    message.rejected_by = actor.name
    message.note = (message.note + " — " if message.note else "") + reason


def _waiting(message_id: int) -> AlertMessage:
    message = get_message(message_id)
    if message.status is not MessageStatus.AWAITING_APPROVAL:
        raise Conflict(
            f"alert {message.alert.identifier} message {message.sequence} is "
            f"{message.status.value}, not awaiting approval"
        )
    return message


def _updatable(alert: Alert) -> None:
    if alert.state is not AlertState.PUBLISHED:
        raise Conflict(f"alert {alert.identifier} is {alert.state.value}: it cannot be updated")
    _no_message_waiting(alert)


def _no_message_waiting(alert: Alert) -> None:
    if any(m.status is MessageStatus.AWAITING_APPROVAL for m in alert.messages):
        raise Conflict(
            f"alert {alert.identifier} has a message awaiting approval: approve or reject it first"
        )


def same_person(message: AlertMessage, actor: Actor) -> bool:
    """Whether ``actor`` issued ``message`` (by account when both are accounts)."""
    if actor.user_id is not None and message.issued_by_user_id is not None:
        return actor.user_id == message.issued_by_user_id
    return actor.name.lower() == message.issued_by.lower()


def _release(message: AlertMessage, *, approved_by: Actor | None, now: datetime) -> None:
    """Make the message the alert's public state and announce it to every channel."""
    alert = message.alert
    message.status = MessageStatus.RELEASED
    message.released_at = now
    if approved_by is not None:
        message.approved_by = approved_by.name
        message.approved_at = now
    if message.msg_type is MessageType.CANCEL:
        alert.state = AlertState.CANCELLED
        alert.cancelled_at = now
    else:
        alert.state = AlertState.PUBLISHED
        _copy_content(message, alert)
        alert.municipalities = [
            m for m in (db.session.get(Municipality, i) for i in message.municipality_ids) if m
        ]
    alert.published_at = alert.published_at or now
    alert.updated_at = now
    db.session.flush()
    events.alert_released.send(notice_of(message), now=now)


def notice_of(message: AlertMessage) -> AlertNotice:
    """The released message as channels see it. A follow-up reaches everyone the earlier
    messages reached too: its comuni are those of every released message of the alert."""
    released = [m for m in message.alert.messages if m.status is MessageStatus.RELEASED]
    everywhere = any(m.all_municipalities for m in released)
    ids: set[int] = set()
    for m in released:
        ids.update(m.municipality_ids or [])
    assert message.released_at is not None
    return AlertNotice(
        alert_id=message.alert_id,
        message_id=message.id,
        sequence=message.sequence,
        msg_type=message.msg_type,
        headline=message.headline,
        text=message.text,
        headline_en=message.headline_en,
        text_en=message.text_en,
        severity=message.severity,
        all_municipalities=everywhere,
        municipality_ids=tuple(sorted(ids)),
        starts_at=message.starts_at,
        expires_at=message.expires_at,
        url=message.url,
        note=message.note,
        released_at=message.released_at,
    )


# --- the API's view of an alert ---------------------------------------------------------


def public_status(message: AlertMessage) -> PublicStatus:
    """A message's status in the API's words: released is what the contract calls "sent"."""
    return {
        MessageStatus.RELEASED: "sent",
        MessageStatus.AWAITING_APPROVAL: "awaiting_approval",
        MessageStatus.REJECTED: "rejected",
    }[message.status]  # type: ignore[return-value]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso_or_none(value: datetime | None) -> str | None:
    return _iso(value) if value is not None else None


def describe(alerts: list[Alert], now: datetime | None = None) -> list[AlertOut]:
    """Alerts with their messages, as the API answers them (one query for the names)."""
    now = now or utcnow()
    names = municipality_names()
    return [
        AlertOut(
            id=alert.id,
            identifier=alert.identifier,
            state=alert.state.value,
            active=alert.is_active(now),
            headline=alert.headline,
            text=alert.text,
            headline_en=alert.headline_en,
            text_en=alert.text_en,
            severity=alert.severity,
            municipalities=[ALL]
            if alert.all_municipalities
            else [m.name for m in alert.municipalities],
            topic=alert.topic.slug if alert.topic else None,
            starts_at=_iso(alert.starts_at),
            expires_at=_iso(alert.expires_at),
            url=alert.url,
            created_at=_iso(alert.created_at),
            published_at=_iso_or_none(alert.published_at),
            updated_at=_iso_or_none(alert.updated_at),
            cancelled_at=_iso_or_none(alert.cancelled_at),
            messages=[
                AlertMessageOut(
                    sequence=m.sequence,
                    type=m.msg_type.value,
                    status=public_status(m),
                    headline=m.headline,
                    severity=m.severity,
                    municipalities=message_area_names(m, names),
                    starts_at=_iso(m.starts_at),
                    expires_at=_iso(m.expires_at),
                    note=m.note,
                    issued_by=m.issued_by,
                    issued_at=_iso(m.issued_at),
                    approved_by=m.approved_by,
                    approved_at=_iso_or_none(m.approved_at),
                    override_reason=m.override_reason,
                    rejected_by=m.rejected_by,
                    released_at=_iso_or_none(m.released_at),
                )
                for m in alert.messages
            ],
        )
        for alert in alerts
    ]
