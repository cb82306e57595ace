"""What the admin pages show and do: audit log, dashboard aggregates, searches, hide/restore.

Every query here aggregates in SQL (GROUP BY); Python only fills the empty buckets. Nothing
is counted per person: there are no opens or clicks to count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from newsletter.admin.models import AuditEntry, User
from newsletter.articles import service as articles_service
from newsletter.articles.models import Article, ArticleTopic, Source
from newsletter.db import get_or_404, utcnow
from newsletter.delivery import holds, outbox
from newsletter.delivery.models import Delivery, DeliveryStatus, HoldResolution
from newsletter.digests.models import Digest
from newsletter.exceptions import NewsletterError, ValidationError
from newsletter.extensions import db
from newsletter.hooks import ServiceMail
from newsletter.paging import Page, paginate
from newsletter.reference.models import Municipality, Topic
from newsletter.scheduling.models import JobRun
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
    normalize_email,
)
from newsletter.vocabulary import Frequency, Locale

log = logging.getLogger(__name__)

WEEKS = 12
DAYS = 14


# --- audit -------------------------------------------------------------------------------


def audit(
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    user: User | None = None,
) -> AuditEntry:
    """Record a state-changing admin action; added to the caller's transaction, not committed.

    ``user`` defaults to the signed-in account; the CLI passes its own actor via ``user=None``
    outside a request and gets ``actor="cli"``.
    """
    from flask import has_request_context

    if user is None and has_request_context():
        from newsletter.admin.auth import current_user

        user = current_user()
    entry = AuditEntry(
        user_id=user.id if user else None,
        actor=user.email if user else "cli",
        action=action,
        target=target,
        details=details,
    )
    db.session.add(entry)
    return entry


def _page(query: sa.Select[Any], page: int) -> Page:
    return paginate(query, page, int(current_app.config["ADMIN_PAGE_SIZE"]))


def audit_log(page: int = 1, action: str | None = None) -> Page:
    query = sa.select(AuditEntry).order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    return _page(query, page)


def audit_actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).distinct().order_by("action")))


# --- dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class TimeChart:
    """Counts per period: ``labels[i]`` names period i, each series has one value per period."""

    labels: tuple[str, ...]
    starts: tuple[date, ...]
    series: tuple[Series, ...]


@dataclass(frozen=True)
class QueueState:
    queued: int
    due: int
    sending: int
    oldest_due_age_seconds: float | None


@dataclass(frozen=True)
class Dashboard:
    subscribers_by_topic: TimeChart
    signups_vs_confirmations: TimeChart
    deliveries_per_day: TimeChart
    queue: QueueState
    subscribers_by_status: dict[str, int]
    generated_at: datetime
    relays: list[holds.RelayCount] = field(default_factory=list)
    paused_digests: int = 0


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def week_starts(now: datetime, weeks: int = WEEKS) -> list[datetime]:
    """Monday 00:00 local time of the last ``weeks`` weeks (this one last), plus next Monday."""
    local_today = now.astimezone(_tz()).date()
    monday = local_today - timedelta(days=local_today.weekday())
    days = [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks + 1)]
    return [datetime.combine(d, time(), _tz()).astimezone(UTC) for d in days]


def day_starts(now: datetime, days: int = DAYS) -> list[datetime]:
    """Local midnights of the last ``days`` days (today last), plus tomorrow's: DST-proof."""
    today = now.astimezone(_tz()).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days + 1)]
    return [datetime.combine(d, time(), _tz()).astimezone(UTC) for d in dates]


def _bucket(column: Any, bounds: list[datetime]) -> sa.ColumnElement[int]:
    """Index of the period a timestamp falls in: -1 before the window, None after it.

    A CASE over the period boundaries works the same on SQLite and PostgreSQL and lets the
    database do the GROUP BY in local-time periods (DST included).
    """
    whens = [(column < bounds[0], -1)]
    whens += [(column < bounds[i + 1], i) for i in range(len(bounds) - 1)]
    return sa.case(*whens, else_=None)


def _local_dates(bounds: list[datetime]) -> tuple[date, ...]:
    return tuple(b.astimezone(_tz()).date() for b in bounds[:-1])


def subscribers_by_topic(now: datetime, locale: str) -> TimeChart:
    """Active subscribers per topic at the end of each week, by when they took up the topic.

    Only today's active subscribers are counted (statuses are not historised), so the lines
    show how today's audience grew rather than past audiences.
    """
    bounds = week_starts(now)
    bucket = _bucket(Subscription.created_at, bounds).label("bucket")
    rows = db.session.execute(
        sa.select(Subscription.topic_id, bucket, sa.func.count())
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscriber.status == SubscriberStatus.ACTIVE, Subscription.created_at < bounds[-1])
        .group_by(Subscription.topic_id, bucket)
    ).all()
    new: dict[tuple[int, int], int] = {(t, b): n for t, b, n in rows}
    topics = db.session.scalars(sa.select(Topic).order_by(Topic.position, Topic.id)).all()
    series = []
    for topic in topics:
        total = new.get((topic.id, -1), 0)
        values = []
        for i in range(WEEKS):
            total += new.get((topic.id, i), 0)
            values.append(total)
        series.append(Series(topic.slug, topic.name(locale), tuple(values)))
    starts = _local_dates(bounds)
    return TimeChart(tuple(_week_label(d) for d in starts), starts, tuple(series))


def signups_vs_confirmations(now: datetime, labels: dict[str, str]) -> TimeChart:
    """Sign-ups (consent 'subscribe') and confirmations (consent 'confirm') per week."""
    bounds = week_starts(now)
    bucket = _bucket(ConsentEvent.occurred_at, bounds).label("bucket")
    actions = (ConsentAction.SUBSCRIBE, ConsentAction.CONFIRM)
    rows = db.session.execute(
        sa.select(ConsentEvent.action, bucket, sa.func.count())
        .where(
            ConsentEvent.action.in_(actions),
            ConsentEvent.occurred_at >= bounds[0],
            ConsentEvent.occurred_at < bounds[-1],
        )
        .group_by(ConsentEvent.action, bucket)
    ).all()
    counts = {(str(a), b): n for a, b, n in rows}
    series = tuple(
        Series(str(a), labels[str(a)], tuple(counts.get((str(a), i), 0) for i in range(WEEKS)))
        for a in actions
    )
    starts = _local_dates(bounds)
    return TimeChart(tuple(_week_label(d) for d in starts), starts, series)


DAY_STATUSES = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)


def deliveries_per_day(now: datetime, labels: dict[str, str]) -> TimeChart:
    """Sent, failed and bounced deliveries per local day over the last two weeks.

    A row counts on the day it was sent; a failed one that never was, on its first attempt.
    """
    bounds = day_starts(now)
    when = sa.func.coalesce(Delivery.sent_at, Delivery.first_attempt_at, Delivery.created_at)
    bucket = _bucket(when, bounds).label("bucket")
    rows = db.session.execute(
        sa.select(Delivery.status, bucket, sa.func.count())
        .where(Delivery.status.in_(DAY_STATUSES), when >= bounds[0], when < bounds[-1])
        .group_by(Delivery.status, bucket)
    ).all()
    counts = {(str(s), b): n for s, b, n in rows}
    series = tuple(
        Series(str(s), labels[str(s)], tuple(counts.get((str(s), i), 0) for i in range(DAYS)))
        for s in DAY_STATUSES
    )
    starts = _local_dates(bounds)
    return TimeChart(tuple(f"{d.day}/{d.month}" for d in starts), starts, series)


def queue_state(now: datetime) -> QueueState:
    row = db.session.execute(
        sa.select(
            sa.func.count().filter(Delivery.status == DeliveryStatus.QUEUED),
            sa.func.count().filter(
                Delivery.status == DeliveryStatus.QUEUED, Delivery.next_attempt_at <= now
            ),
            sa.func.count().filter(Delivery.status == DeliveryStatus.SENDING),
            sa.func.min(Delivery.next_attempt_at).filter(
                Delivery.status == DeliveryStatus.QUEUED, Delivery.next_attempt_at <= now
            ),
        ).where(Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)))
    ).one()
    queued, due, sending, oldest = row
    if isinstance(oldest, str):  # SQLite hands back aggregates of a filtered column as text
        oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
    age = (now - oldest).total_seconds() if oldest is not None else None
    return QueueState(queued=queued, due=due, sending=sending, oldest_due_age_seconds=age)


def subscribers_by_status() -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Subscriber.status, sa.func.count()).group_by(Subscriber.status)
    ).all()
    counts = {str(s): 0 for s in SubscriberStatus}
    counts.update({str(s): n for s, n in rows})
    return counts


def dashboard(locale: str, labels: dict[str, str], now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    return Dashboard(
        subscribers_by_topic=subscribers_by_topic(now, locale),
        signups_vs_confirmations=signups_vs_confirmations(now, labels),
        deliveries_per_day=deliveries_per_day(now, labels),
        queue=queue_state(now),
        subscribers_by_status=subscribers_by_status(),
        generated_at=now,
        relays=holds.relay_counts(db.session),
        paused_digests=len(holds.open_holds(db.session)),
    )


def _week_label(start: date) -> str:
    return f"{start.day}/{start.month}"


# --- subscribers -------------------------------------------------------------------------


def search_subscribers(query: str, *, exact: bool = False, page: int = 1) -> Page:
    """By address: the whole address (exact) or any part of it."""
    text = normalize_email(query)
    stmt = sa.select(Subscriber).options(
        selectinload(Subscriber.subscriptions), selectinload(Subscriber.municipality)
    )
    if exact:
        stmt = stmt.where(Subscriber.email == text)
    elif text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Subscriber.email.like(f"%{escaped}%", escape="\\"))
    return _page(stmt.order_by(Subscriber.email), page)


@dataclass(frozen=True)
class SubscriberDetail:
    subscriber: Subscriber
    consent: Sequence[ConsentEvent]


def subscriber_detail(subscriber_id: int) -> SubscriberDetail:
    subscriber = get_or_404(Subscriber, subscriber_id, "no such subscriber")
    events = db.session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber_id)
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
    ).all()
    return SubscriberDetail(subscriber=subscriber, consent=events)


# --- articles and sources ----------------------------------------------------------------


def list_articles(
    query: str = "", topic: str | None = None, hidden: bool | None = None, page: int = 1
) -> Page:
    stmt = sa.select(Article).options(
        selectinload(Article.topic_links), selectinload(Article.source)
    )
    if query.strip():
        escaped = query.strip().lower().replace("\\", "\\\\")
        escaped = escaped.replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(sa.func.lower(Article.title).like(f"%{escaped}%", escape="\\"))
    if topic:
        stmt = stmt.where(
            Article.id.in_(
                sa.select(ArticleTopic.article_id)
                .join(Topic, Topic.id == ArticleTopic.topic_id)
                .where(Topic.slug == topic)
            )
        )
    if hidden is not None:
        stmt = stmt.where(Article.hidden.is_(hidden))
    return _page(stmt.order_by(Article.published_at.desc(), Article.id.desc()), page)


def get_article(article_id: int) -> Article:
    return get_or_404(Article, article_id, "no such article")


def set_article_hidden(article_id: int, hidden: bool) -> Article:
    """Hide an article from digests, feeds and the site, or bring it back; audited in the same
    transaction as the change, which the articles service makes (and commits)."""
    article = get_article(article_id)
    if article.hidden != hidden:
        audit(
            "article.hide" if hidden else "article.restore",
            f"article:{article.id}",
            {"title": article.title[:200]},
        )
    return articles_service.set_hidden(article_id, hidden)


def list_sources() -> Sequence[Source]:
    return db.session.scalars(sa.select(Source).order_by(Source.name)).all()


def article_counts_by_source() -> dict[int, int]:
    rows = db.session.execute(
        sa.select(Article.source_id, sa.func.count()).group_by(Article.source_id)
    ).all()
    return {source_id: n for source_id, n in rows}


def list_users() -> Sequence[User]:
    return db.session.scalars(sa.select(User).order_by(User.email)).all()


# --- digests: previews, test sends, deliveries, schedule ----------------------------------


@dataclass(frozen=True)
class PreviewRequest:
    """One digest variant: what the preview page and a test send's payload both describe."""

    frequency: str
    topics: tuple[str, ...]
    lang: str
    mayor: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "topics": list(self.topics),
            "lang": self.lang,
            "mayor": self.mayor,
        }

    def query_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"frequency": self.frequency, "topics": list(self.topics)}
        args["lang"] = self.lang
        if self.mayor:
            args["mayor"] = self.mayor
        return args

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> PreviewRequest:
        return cls(
            frequency=str(data.get("frequency") or Frequency.WEEKLY),
            topics=tuple(str(t) for t in data.get("topics") or ()),
            lang=str(data.get("lang") or Locale.IT),
            mayor=data.get("mayor") or None,
        )


def render_preview(request: PreviewRequest) -> Any:
    """The variant rendered as the builder would render it; nothing stored or sent."""
    from newsletter.digests.service import preview_digest

    if not Frequency.knows(request.frequency):
        raise ValidationError(
            f"unknown frequency: {request.frequency}", {"frequency": request.frequency}
        )
    return preview_digest(request.frequency, request.topics, request.lang, mayor=request.mayor)


def queue_test_send(to_address: str, request: PreviewRequest) -> Delivery:
    """An outbox row the sender delivers; the request itself never talks to the relay."""
    from newsletter.delivery.models import DeliveryKind
    from newsletter.subscriptions.roster import check_address

    address = check_address(to_address)
    _check_test_send_allowed(address)
    render_preview(request)  # a variant that cannot render is refused now, not in the worker
    delivery = outbox.enqueue(DeliveryKind.TEST, to_address=address, payload=request.payload())
    audit("digest.test_send", address, request.payload())
    db.session.commit()
    return delivery


def _check_test_send_allowed(address: str) -> None:
    from flask import has_request_context

    from newsletter.admin import testsends
    from newsletter.admin.auth import current_user

    testsends.check_allowed(address, current_user() if has_request_context() else None, utcnow())


def render_test_mail(delivery: Delivery) -> ServiceMail | None:
    """The service-mail renderer for kind "test": the preview, marked as a test, with the
    personal links pointing at the public subscribe page (a tester has no token)."""
    from newsletter import mailparts

    if not delivery.to_address:
        return None
    try:
        rendered = render_preview(PreviewRequest.from_payload(delivery.payload or {}))
    except NewsletterError as exc:
        # The variant no longer exists (a municipality renamed since): cancel, do not retry.
        log.warning("test send %s cancelled: %s", delivery.id, exc.message)
        return None
    subscribe_url = current_app.config["BASE_URL"].rstrip("/") + "/subscribe"

    def links(body: str) -> str:
        return body.replace(mailparts.UNSUBSCRIBE_URL, subscribe_url).replace(
            mailparts.PREFERENCES_URL, subscribe_url
        )

    return ServiceMail(
        to=delivery.to_address,
        subject=f"[TEST] {rendered.subject}",
        text=links(rendered.text),
        html=links(rendered.html),
    )


@dataclass(frozen=True)
class DigestRow:
    digest: Digest
    by_status: dict[str, int]


def list_digests(page: int = 1) -> tuple[Page, list[DigestRow]]:
    result = _page(sa.select(Digest).order_by(Digest.created_at.desc(), Digest.id.desc()), page)
    ids = [d.id for d in result.items]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        rows = db.session.execute(
            sa.select(Delivery.digest_id, Delivery.status, sa.func.count())
            .where(Delivery.digest_id.in_(ids))
            .group_by(Delivery.digest_id, Delivery.status)
        )
        for digest_id, status, n in rows:
            counts[digest_id][str(getattr(status, "value", status))] = n
    return result, [DigestRow(d, counts[d.id]) for d in result.items]


def retry_failed(digest_id: int) -> int:
    """Failed deliveries of a digest back in the queue, due now; attempts are kept, so the
    backoff and the give-up limit still apply."""
    get_or_404(Digest, digest_id, f"no digest {digest_id}")
    count = outbox.requeue(digest_id=digest_id, status=DeliveryStatus.FAILED)
    audit("digest.retry_failed", f"digest:{digest_id}", {"deliveries": count})
    db.session.commit()
    return count


def paused_digests() -> list[tuple[holds.Hold, Digest | None]]:
    """Digests that stopped themselves, with why, for the digests page."""
    found = holds.open_holds(db.session)
    return [(hold, db.session.get(Digest, hold.digest_id)) for hold in found]


def resolve_hold(digest_id: int, resume: bool) -> int:
    """An administrator's decision on a paused digest: send the rest, or cancel it."""
    from newsletter.admin.auth import current_user

    user = current_user()
    resolution = HoldResolution.RESUMED if resume else HoldResolution.CANCELLED
    count = holds.resolve(
        db.session, digest_id, resolution, by=user.email if user is not None else "cli"
    )
    audit(f"digest.{resolution.value}_paused", f"digest:{digest_id}", {"deliveries": count})
    db.session.commit()
    return count


@dataclass(frozen=True)
class JobSchedule:
    name: str
    next_run: datetime | None
    last_run: JobRun | None


def job_schedule(now: datetime | None = None) -> list[JobSchedule]:
    """Each registered job's next fire time (its APScheduler trigger in the configured time
    zone, as the worker builds it) and its latest recorded run."""
    from newsletter.scheduling.service import all_jobs
    from newsletter.scheduling.worker import make_trigger

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    now = now or utcnow()
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    result = []
    for job in all_jobs(app):
        trigger = make_trigger(app, job)
        next_run = trigger.get_next_fire_time(None, now.astimezone(tz))
        last = db.session.scalar(
            sa.select(JobRun)
            .where(JobRun.job == job.name)
            .order_by(JobRun.scheduled_for.desc(), JobRun.id.desc())
            .limit(1)
        )
        result.append(JobSchedule(job.name, next_run, last))
    return sorted(result, key=lambda j: (j.next_run is None, j.next_run or now, j.name))


def municipality_names() -> list[str]:
    return list(db.session.scalars(sa.select(Municipality.name).order_by(Municipality.name)))


# --- roster, municipalities, subscribers -------------------------------------------------


def import_roster_file(text: str, *, dry_run: bool, reactivate: bool = False) -> Any:
    """The roster CSV through the subscriptions service (all or nothing), audited when real."""
    from newsletter.admin.auth import current_user
    from newsletter.subscriptions.roster import import_roster

    user = current_user()
    actor = user.email if user else "admin"
    if not dry_run:
        audit("roster.import", None, {"bytes": len(text), "reactivate": reactivate})
    report = import_roster(
        text, actor=actor, dry_run=dry_run, channel="admin", reactivate=reactivate
    )
    return report


def import_municipalities_file(text: str) -> Any:
    from newsletter.reference.service import import_municipalities

    audit("municipalities.import", None, {"bytes": len(text)})
    return import_municipalities(text)


def unsubscribe_subscriber(subscriber_id: int) -> bool:
    from newsletter.subscriptions.service import get_subscriber, unsubscribe

    get_subscriber(subscriber_id)
    audit("subscriber.unsubscribe", f"subscriber:{subscriber_id}")
    return unsubscribe(subscriber_id, channel="admin")


def erase_subscriber(subscriber_id: int) -> None:
    from newsletter.subscriptions.service import erase

    audit("subscriber.erase", f"subscriber:{subscriber_id}")
    erase(subscriber_id, channel="admin")


def set_article_topics(article_id: int, slugs: list[str]) -> Article:
    from newsletter.articles.service import set_topics_by_editor

    audit("article.topics", f"article:{article_id}", {"topics": sorted(slugs)})
    return set_topics_by_editor(article_id, slugs)


def set_article_municipality(article_id: int, municipality_id: int, included: bool) -> Article:
    """An editor adds or removes a comune on an article; audited, and kept over re-imports."""
    from newsletter.articles.service import set_municipality_by_editor

    entry = audit(
        "article.municipality.add" if included else "article.municipality.remove",
        f"article:{article_id}",
        {"municipality_id": municipality_id},
    )
    return set_municipality_by_editor(article_id, municipality_id, included, entry.actor)


# --- sources, API tokens, users ------------------------------------------------------------


def add_feed_source(url: str, name: str | None) -> Source:
    from newsletter.articles.feeds_import import add_source, check_feed_url

    audit("source.add", check_feed_url(url), {"name": name})
    return add_source(url, name or None)


def poll_source(source_id: int) -> Any:
    """Fetch one feed now; a failure is recorded on the source and raised as FeedError."""
    from newsletter.articles.feeds_import import fetch_source
    from newsletter.articles.models import SourceKind

    source = get_or_404(Source, source_id, f"no source {source_id}")
    if source.kind != SourceKind.FEED:
        raise ValidationError(f"{source.name} is not an RSS/Atom feed: nothing to poll")
    audit("source.poll", f"source:{source_id}")
    db.session.commit()
    return fetch_source(source)


def create_api_token(name: str, scopes: list[str] | None = None) -> tuple[Any, str]:
    from newsletter.api.service import check_scopes, create_token

    granted = check_scopes(scopes)
    audit("api_token.create", name.strip(), {"scopes": list(granted)})
    return create_token(name, list(granted))


def revoke_api_token(name: str) -> Any:
    from newsletter.api.service import revoke_token

    audit("api_token.revoke", name.strip())
    return revoke_token(name)


def create_account(email: str, role: str, password: str) -> User:
    from newsletter.admin.auth import create_user

    user = create_user(email, role, password)
    audit("user.create", f"user:{user.id}", {"email": user.email, "role": str(user.role)})
    db.session.commit()
    return user
