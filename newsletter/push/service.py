"""Web Push subscriptions and the notifications of each immediate batch.

Subscribing needs no e-mail address: the browser's subscription (endpoint and keys), the topics
and optionally a comune. The endpoint is a URL the server will POST to, so only ``https://``
URLs of the known push services are accepted, on public addresses (``PUSH_ENDPOINT_HOSTS``;
``PUSH_INSECURE_ENDPOINTS`` lifts both for tests and the demo). Stopping needs the
subscription's ``auth`` secret: only the browser that holds it can stop it.

Each immediate batch (``digests build --frequency immediate``) gives every subscription whose
topics or comune match one row in the outbox: one article, or a group ("3 nuove notizie su
Mobilità"). Inside the quiet hours the row is held until they end, and the batches of one night
are merged into it, so the morning brings one grouped notification.

Urgent alerts (``events.alert_released``) reach the subscriptions that asked for their comune's
alerts at once, whatever the quiet hours: one notification per message and browser, in the
outbox's priority lane, with ``Urgency: high`` and a TTL that ends when the alert expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext

from newsletter import fetch
from newsletter.alerts.words import severity_word
from newsletter.db import utcnow
from newsletter.delivery import outbox
from newsletter.delivery.models import DeliveryKind
from newsletter.exceptions import ConfigurationError, ValidationError
from newsletter.extensions import db
from newsletter.push.models import PushSubscription, push_target
from newsletter.reference.models import Topic
from newsletter.reference.service import find_municipality
from newsletter.subscriptions.models import ConsentAction, ConsentChannel
from newsletter.subscriptions.service import record_consent
from newsletter.vocabulary import Locale

if TYPE_CHECKING:
    from newsletter.alerts.models import AlertNotice

log = logging.getLogger(__name__)

MAX_ARTICLES = 8  # listed in one grouped payload; the count says how many in all
MAX_ENDPOINT = 1000


# --- configuration ---------------------------------------------------------------------------


def parse_quiet_hours(value: str | None) -> tuple[time, time] | None:
    """``"21:00-07:00"`` -> (21:00, 07:00); empty -> None."""
    if not value or not value.strip():
        return None
    try:
        start, end = (part.strip() for part in value.split("-"))
        parsed = (time.fromisoformat(start), time.fromisoformat(end))
    except ValueError:
        raise ConfigurationError(
            f"NEWSLETTER_QUIET_HOURS must look like 21:00-07:00, not {value!r}"
        ) from None
    if parsed[0] == parsed[1]:
        raise ConfigurationError("NEWSLETTER_QUIET_HOURS: start and end are the same")
    return parsed


def quiet_until(at: datetime, quiet: tuple[time, time] | None, timezone: str) -> datetime | None:
    """When the quiet hours around ``at`` end (UTC), or None when ``at`` is not inside them."""
    if quiet is None:
        return None
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    start, end = quiet
    now = local.time()
    inside = (start <= now or now < end) if start > end else (start <= now < end)
    if not inside:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def check_config(cfg: Any) -> None:
    parse_quiet_hours(cfg.get("QUIET_HOURS"))
    if cfg.get("ENV_NAME") == "production":
        if cfg.get("PUSH_INSECURE_ENDPOINTS"):
            raise ConfigurationError(
                "NEWSLETTER_PUSH_INSECURE_ENDPOINTS=1 is for tests and the demo; "
                "production refuses to start with it"
            )
        subject = cfg.get("VAPID_SUBJECT")
        if subject and not str(subject).startswith(("mailto:", "https://")):
            raise ConfigurationError("NEWSLETTER_VAPID_SUBJECT must be a mailto: or https URL")


def vapid_subject() -> str:
    """The contact push services see in the JWT; required in production."""
    cfg = current_app.config
    subject = cfg.get("VAPID_SUBJECT")
    if subject:
        return str(subject)
    if cfg.get("ENV_NAME") == "production":
        raise ConfigurationError("NEWSLETTER_VAPID_SUBJECT (mailto: or https URL) is required")
    address = str(cfg["MAIL_FROM"]).rsplit("<", 1)[-1].rstrip(">").strip()
    return f"mailto:{address}"


# --- validating what a browser sends ---------------------------------------------------------


def _b64(value: Any, name: str, size: int) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationError(f"subscription.keys.{name} is missing", {name: "required"})
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValidationError(
            f"subscription.keys.{name} is not base64url", {name: "invalid"}
        ) from None
    if len(raw) != size or (name == "p256dh" and raw[0] != 4):
        raise ValidationError(f"subscription.keys.{name} has the wrong length", {name: "invalid"})
    return value.rstrip("=")


def check_endpoint(endpoint: Any) -> str:
    """A push service's https URL on the allowed hosts and public addresses, or a 422."""
    cfg = current_app.config
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise ValidationError("subscription.endpoint is missing", {"endpoint": "required"})
    parts = urlsplit(endpoint)
    insecure = bool(cfg.get("PUSH_INSECURE_ENDPOINTS"))
    if parts.scheme != "https" and not (insecure and parts.scheme == "http"):
        raise ValidationError("the endpoint must be an https URL", {"endpoint": "not https"})
    host = (parts.hostname or "").lower()
    if not insecure:
        allowed = [h.lower() for h in cfg["PUSH_ENDPOINT_HOSTS"]]
        if not any(host == h or (h.startswith(".") and host.endswith(h)) for h in allowed):
            raise ValidationError(
                "the endpoint is not one of the known push services",
                {"endpoint": "push service not allowed"},
            )
        try:
            fetch.check_url(endpoint, fetch.Policy())  # push has its own switch
        except fetch.FetchError as exc:
            log.warning("push endpoint refused: %s (%s)", host, exc)
            raise ValidationError(
                "the endpoint is not allowed", {"endpoint": "address not allowed"}
            ) from None
    return endpoint


@dataclass(frozen=True)
class Choice:
    endpoint: str
    p256dh: str
    auth: str
    topics: tuple[str, ...]
    municipality_id: int | None
    local_news: bool
    locale: str
    alerts: bool = False


def _municipality(name: Any) -> int | None:
    if name in (None, ""):
        return None
    if not isinstance(name, str):
        raise ValidationError("municipality must be a name", {"municipality": "invalid"})
    found = find_municipality(name)  # accents and case ignored
    if found is None:
        raise ValidationError(f"unknown municipality: {name}", {"municipality": name})
    return int(found.id)


def parse_choice(data: Any) -> Choice:
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    subscription = data.get("subscription")
    if not isinstance(subscription, dict):
        raise ValidationError("subscription is missing", {"subscription": "required"})
    keys = subscription.get("keys")
    if not isinstance(keys, dict):
        raise ValidationError("subscription.keys is missing", {"keys": "required"})
    endpoint = check_endpoint(subscription.get("endpoint"))
    p256dh = _b64(keys.get("p256dh"), "p256dh", 65)
    auth = _b64(keys.get("auth"), "auth", 16)
    raw_topics = data.get("topics") or []
    if not isinstance(raw_topics, list) or not all(isinstance(t, str) for t in raw_topics):
        raise ValidationError("topics must be a list of slugs", {"topics": "invalid"})
    known = set(db.session.scalars(sa.select(Topic.slug)))
    unknown = sorted(set(raw_topics) - known)
    if unknown:
        raise ValidationError(f"unknown topics: {', '.join(unknown)}", {"topics": unknown})
    municipality_id = _municipality(data.get("municipality"))
    local_news = bool(data.get("local_news")) and municipality_id is not None
    alerts = data.get("alerts") or False
    if not isinstance(alerts, bool):
        raise ValidationError("alerts must be true or false", {"alerts": "invalid"})
    if alerts and municipality_id is None:
        raise ValidationError(
            "urgent alerts are for a comune: choose one", {"alerts": "needs a municipality"}
        )
    if not raw_topics and not local_news and not alerts:
        raise ValidationError(
            "choose at least one topic, or a comune with all its news or its urgent alerts",
            {"topics": "required"},
        )
    locale = data.get("locale") or "it"
    if not Locale.knows(locale):
        raise ValidationError(f"unknown language: {locale}", {"locale": locale})
    return Choice(
        endpoint,
        p256dh,
        auth,
        tuple(sorted(set(raw_topics))),
        municipality_id,
        local_news,
        str(locale),
        alerts,
    )


# --- subscribing and stopping ----------------------------------------------------------------


def _fingerprint(endpoint: str) -> str:
    """The ledger names a push subscription by a hash: the endpoint itself is not kept there."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:24]


def subscribe(choice: Choice) -> tuple[PushSubscription, bool]:
    """Store or update the browser's subscription; True when it is new. Commits."""
    found = db.session.scalar(
        sa.select(PushSubscription).where(PushSubscription.endpoint == choice.endpoint)
    )
    created = found is None
    if found is None:
        found = PushSubscription(endpoint=choice.endpoint)
        db.session.add(found)
    found.p256dh = choice.p256dh
    found.auth = choice.auth
    found.topics = list(choice.topics)
    found.municipality_id = choice.municipality_id
    found.local_news = choice.local_news
    found.alerts = choice.alerts
    found.locale = choice.locale
    found.updated_at = utcnow()
    record_consent(
        None,
        ConsentAction.SUBSCRIBE if created else ConsentAction.PREFERENCES,
        ConsentChannel.PUSH,
        details={
            "push": _fingerprint(choice.endpoint),
            "topics": list(choice.topics),
            "municipality_id": choice.municipality_id,
            "local_news": choice.local_news,
            "alerts": choice.alerts,
        },
    )
    db.session.commit()
    log.info("push subscription %s", "created" if created else "updated")
    return found, created


def find(endpoint: str) -> PushSubscription | None:
    return db.session.scalar(
        sa.select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    )


def _forget(found: PushSubscription, *, reason: str, action: ConsentAction) -> None:
    outbox.cancel_target(DeliveryKind.PUSH, found.target, reason=reason)
    record_consent(
        None, action, ConsentChannel.PUSH, details={"push": _fingerprint(found.endpoint)}
    )
    db.session.delete(found)


def unsubscribe(endpoint: Any, auth: Any) -> bool:
    """Erase the subscription when ``auth`` proves the caller holds it. Commits."""
    if not isinstance(endpoint, str) or not isinstance(auth, str):
        raise ValidationError("endpoint and auth are required", {"endpoint": "required"})
    found = find(endpoint)
    if found is None or not _same_secret(found.auth, auth):
        return False
    _forget(found, reason="push subscription stopped", action=ConsentAction.UNSUBSCRIBE)
    db.session.commit()
    log.info("push subscription erased by its browser")
    return True


def _same_secret(stored: str, given: str) -> bool:
    return hmac.compare_digest(stored.rstrip("="), given.rstrip("="))


def forget_gone(subscription_id: int, status: int) -> None:
    """The push service said the subscription is gone (404/410): erase it. Commits."""
    found = db.session.get(PushSubscription, subscription_id)
    if found is None:
        return
    _forget(found, reason=f"push subscription gone ({status})", action=ConsentAction.ERASE)
    db.session.commit()
    log.info("push subscription %s gone (%s): erased", subscription_id, status)


def count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(PushSubscription)) or 0)


# --- the notifications of a batch -----------------------------------------------------------


@dataclass(frozen=True)
class BatchArticle:
    id: int
    title: str
    url: str | None
    summary: str
    topics: tuple[str, ...]
    municipality_ids: tuple[int, ...]


def _matches(
    topics: frozenset[str], municipality_id: int | None, local_news: bool, article: BatchArticle
) -> bool:
    """The article is on one of the chosen topics, or about the comune whose news they want."""
    if topics.intersection(article.topics):
        return True
    return local_news and municipality_id in article.municipality_ids


def _entry(article: BatchArticle) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title[:200],
        "url": article.url,
        "summary": article.summary[:240],
        "topics": list(article.topics),
    }


def enqueue_batch(period_key: str, period_end: datetime, articles: Sequence[BatchArticle]) -> int:
    """One outbox row per subscription with new matching articles (in the caller's
    transaction). Inside the quiet hours the row waits for their end and absorbs the night's
    later batches. Returns the number of subscriptions notified or updated."""
    if not articles:
        return 0
    cfg = current_app.config
    release = quiet_until(period_end, parse_quiet_hours(cfg.get("QUIET_HOURS")), cfg["TIMEZONE"])
    subscriptions = db.session.execute(
        sa.select(
            PushSubscription.id,
            PushSubscription.endpoint,
            PushSubscription.topics,
            PushSubscription.municipality_id,
            PushSubscription.local_news,
            PushSubscription.locale,
        )
    ).all()
    wanted: dict[str, outbox.Keyed] = {}
    for row in subscriptions:
        topics = frozenset(row.topics or ())
        matched = [a for a in articles if _matches(topics, row.municipality_id, row.local_news, a)]
        if not matched:
            continue
        target = push_target(row.id)
        key = f"{target}:held:{release.isoformat()}" if release else f"{target}:{period_key}"
        wanted[key] = outbox.Keyed(
            target=target,
            dedupe_key=key,
            payload={
                "subscription_id": row.id,
                "host": urlsplit(row.endpoint).hostname or "",
                "locale": row.locale,
                "topics": list(row.topics or []),
                "articles": [_entry(a) for a in matched],
            },
            due=release,
        )
    if release is not None and wanted:
        held = outbox.queued_by_keys(DeliveryKind.PUSH, list(wanted))
        merged: dict[str, dict[str, Any]] = {}
        for key, payload in held.items():
            fresh = wanted.pop(key).payload
            seen = {a["id"] for a in payload.get("articles", [])}
            extra = [a for a in fresh["articles"] if a["id"] not in seen]
            merged[key] = {**payload, "articles": [*payload.get("articles", []), *extra]}
        outbox.replace_payloads(DeliveryKind.PUSH, merged)
        updated = len(merged)
    else:
        updated = 0
    inserted = outbox.enqueue_keyed(DeliveryKind.PUSH, list(wanted.values()))
    log.info(
        "push batch %s: %d notifications queued, %d held ones extended%s",
        period_key,
        inserted,
        updated,
        f" (quiet hours until {release.isoformat()})" if release else "",
    )
    return inserted + updated


def batch_articles(snapshots: Iterable[Any]) -> list[BatchArticle]:
    """From the digest build's article snapshots (duck-typed: id, title, url, summary, ...)."""
    return [
        BatchArticle(
            int(s.id),
            str(s.title),
            s.url,
            str(s.summary or ""),
            tuple(s.topics),
            tuple(s.municipality_ids),
        )
        for s in snapshots
    ]


# --- urgent alerts ---------------------------------------------------------------------------

#: The longest TTL push services keep a message (FCM's four weeks); an alert's runs to its expiry.
MAX_ALERT_TTL = 28 * 24 * 3600
MAX_ALERT_BODY = 300  # characters: what a notification shows without being cut by the system


def shorten(text: str, limit: int) -> str:
    """Whitespace folded, and cut at a word boundary with "…" when longer than ``limit``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:  # a word boundary not too far back; else a hard cut
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def alert_url(alert_id: int) -> str:
    """The alert's public page (``/avvisi/<id>``), where every notification of it leads."""
    return f"{str(current_app.config['BASE_URL']).rstrip('/')}/avvisi/{alert_id}"


def alert_notification(notice: AlertNotice, locale: str) -> dict[str, Any]:
    """The JSON the service worker shows for an alert message, in ``locale``: "Avviso: ..."
    with the severity in words; an update or a cancellation says so and replaces the
    notification of the same alert (same ``tag``). Alerts stay on screen until dismissed."""
    kind = str(notice.msg_type)  # CAP's msgType: alert, update, cancel
    with force_locale(locale):
        headline = shorten(notice.headline_in(locale), 120)
        if kind == "cancel":
            title = gettext("Alert cancelled: %(headline)s", headline=headline)
            body = (
                gettext("No longer in force: %(note)s", note=notice.note)
                if notice.note
                else gettext("This alert is no longer in force.")
            )
        else:
            if kind == "update":
                title = gettext("Alert update: %(headline)s", headline=headline)
            else:
                title = gettext("Alert: %(headline)s", headline=headline)
            level = severity_word(notice.severity, locale)
            body = f"{gettext('Severity: %(level)s', level=level)}. {notice.text_in(locale)}"
    return {
        "title": title,
        "body": shorten(body, MAX_ALERT_BODY),
        "url": alert_url(notice.alert_id),
        "tag": f"alert-{notice.alert_id}",
        "lang": locale,
        "requireInteraction": kind != "cancel",
        "renotify": True,
    }


def enqueue_alert(notice: AlertNotice) -> int:
    """One row per push subscription that wants its comune's alerts, for a comune concerned
    (any, when the alert is for all of them), in the caller's transaction and the priority
    lane, due now: quiet hours never hold an alert. The key (message, subscription) makes a
    retried release add nothing. Returns the number queued."""
    query = sa.select(
        PushSubscription.id, PushSubscription.endpoint, PushSubscription.locale
    ).where(PushSubscription.alerts.is_(True), PushSubscription.municipality_id.is_not(None))
    if not notice.all_municipalities:
        if not notice.municipality_ids:
            return 0
        query = query.where(PushSubscription.municipality_id.in_(notice.municipality_ids))
    rendered = {locale: alert_notification(notice, locale) for locale in Locale.values()}
    common = {
        "urgency": "high",
        "alert_id": notice.alert_id,
        "message_id": notice.message_id,
        "expires_at": notice.expires_at.isoformat(),
    }
    rows = [
        outbox.Keyed(
            target=push_target(row.id),
            dedupe_key=f"{push_target(row.id)}:alert:{notice.message_id}",
            payload={
                **common,
                "subscription_id": row.id,
                "host": urlsplit(row.endpoint).hostname or "",
                "locale": row.locale,
                "notification": rendered.get(row.locale, rendered[Locale.IT.value]),
            },
        )
        for row in db.session.execute(query)
    ]
    inserted = outbox.enqueue_keyed(DeliveryKind.PUSH, rows, priority=outbox.PRIORITY_ALERT)
    log.info(
        "push alert %s message %d (%s): %d notifications queued",
        notice.identifier,
        notice.sequence,
        notice.msg_type,
        inserted,
    )
    return inserted


def alert_ttl(payload: dict[str, Any], now: datetime) -> int | None:
    """Seconds until an alert row's alert expires (capped), 0 once it has; None for news."""
    expires = payload.get("expires_at")
    if not expires:
        return None
    left = (datetime.fromisoformat(str(expires)) - now).total_seconds()
    return max(0, min(MAX_ALERT_TTL, int(left)))
