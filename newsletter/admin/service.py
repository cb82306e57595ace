"""What the admin pages show and do: audit log, dashboard aggregates, searches, hide/restore.

Every query here aggregates in SQL (GROUP BY); Python only fills the empty buckets. Nothing
is counted per person: there are no opens or clicks to count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from newsletter.admin.models import AuditEntry, User
from newsletter.articles.models import Article, ArticleTopic, Source
from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.exceptions import NotFound
from newsletter.extensions import db
from newsletter.reference.models import Topic
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
    normalize_email,
)

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


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _page(query: sa.Select[Any], page: int) -> Page:
    size = int(current_app.config["ADMIN_PAGE_SIZE"])
    page = max(page, 1)
    rows = db.session.scalars(query.limit(size + 1).offset((page - 1) * size)).unique().all()
    return Page(items=rows[:size], page=page, has_next=len(rows) > size)


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
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound("no such subscriber")
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
    article = db.session.get(Article, article_id)
    if article is None:
        raise NotFound("no such article")
    return article


def set_article_hidden(article_id: int, hidden: bool) -> Article:
    """Hide an article from digests, feeds and the site, or bring it back; audited."""
    article = get_article(article_id)
    if article.hidden != hidden:
        article.hidden = hidden
        audit(
            "article.hide" if hidden else "article.restore",
            f"article:{article.id}",
            {"title": article.title[:200]},
        )
    db.session.commit()
    return article


def list_sources() -> Sequence[Source]:
    return db.session.scalars(sa.select(Source).order_by(Source.name)).all()


def article_counts_by_source() -> dict[int, int]:
    rows = db.session.execute(
        sa.select(Article.source_id, sa.func.count()).group_by(Article.source_id)
    ).all()
    return {source_id: n for source_id, n in rows}


def list_users() -> Sequence[User]:
    return db.session.scalars(sa.select(User).order_by(User.email)).all()
