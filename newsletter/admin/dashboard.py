"""The dashboard's aggregates: who subscribes to what, sign-ups, deliveries per day, the queue.

Every query here aggregates in SQL (GROUP BY over local-time periods); Python only fills the
empty buckets. Nothing is counted per person: there are no opens or clicks to count. The queue
and the subscriber counts are their domains' own reads, shared with /healthz and /metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from newsletter.db import utcnow
from newsletter.delivery import holds
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.delivery.queue import QueueState, queue_state
from newsletter.extensions import db
from newsletter.reference.models import Topic
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.subscriptions.service import count_by_status

WEEKS = 12
DAYS = 14


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


def _counts_per_period(
    key: Any, when: Any, keys: tuple[Any, ...], bounds: list[datetime], labels: dict[str, str]
) -> tuple[Series, ...]:
    """One series per value of ``key``: how many rows have it in each period of ``bounds``."""
    bucket = _bucket(when, bounds).label("bucket")
    rows = db.session.execute(
        sa.select(key, bucket, sa.func.count())
        .where(key.in_(keys), when >= bounds[0], when < bounds[-1])
        .group_by(key, bucket)
    ).all()
    counts = {(str(k), b): n for k, b, n in rows}
    periods = range(len(bounds) - 1)
    return tuple(
        Series(str(k), labels[str(k)], tuple(counts.get((str(k), i), 0) for i in periods))
        for k in keys
    )


def signups_vs_confirmations(now: datetime, labels: dict[str, str]) -> TimeChart:
    """Sign-ups (consent 'subscribe') and confirmations (consent 'confirm') per week."""
    bounds = week_starts(now)
    actions = (ConsentAction.SUBSCRIBE, ConsentAction.CONFIRM)
    series = _counts_per_period(
        ConsentEvent.action, ConsentEvent.occurred_at, actions, bounds, labels
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
    series = _counts_per_period(Delivery.status, when, DAY_STATUSES, bounds, labels)
    starts = _local_dates(bounds)
    return TimeChart(tuple(f"{d.day}/{d.month}" for d in starts), starts, series)


def dashboard(locale: str, labels: dict[str, str], now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    return Dashboard(
        subscribers_by_topic=subscribers_by_topic(now, locale),
        signups_vs_confirmations=signups_vs_confirmations(now, labels),
        deliveries_per_day=deliveries_per_day(now, labels),
        queue=queue_state(now),
        subscribers_by_status=count_by_status(),
        generated_at=now,
        relays=holds.relay_counts(db.session),
        paused_digests=len(holds.open_holds(db.session)),
    )


def _week_label(start: date) -> str:
    return f"{start.day}/{start.month}"
