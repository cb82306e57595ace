"""``/metrics``: Prometheus text computed from the database at scrape time.

Several web and worker processes share one database, so every number is a query (GROUP BY)
run when Prometheus scrapes, through a dedicated registry: no process-local counter that
would only know what its own process did. The "totals" are counters derived from the outbox
rows (sent rows, attempts beyond the first); they drop only when rows are erased.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from newsletter.db import utcnow
from newsletter.delivery import holds
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.delivery.queue import oldest_due_age
from newsletter.extensions import db
from newsletter.scheduling.models import JobRun
from newsletter.subscriptions.service import count_by_status


class DatabaseCollector(Collector):
    """Reads the outbox, the job runs and the subscriber list on every scrape."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("newsletter_database_up", "1 when the database answered the scrape")
        with self.app.app_context():
            try:
                metrics = list(_database_metrics(utcnow()))
            except SQLAlchemyError:
                db.session.rollback()
                up.add_metric([], 0)
                yield up
                return
            finally:
                db.session.remove()
        up.add_metric([], 1)
        yield up
        yield from metrics


def _database_metrics(now: datetime) -> Iterator[Metric]:
    by_status = GaugeMetricFamily(
        "newsletter_deliveries", "Outbox rows by kind and status", labels=["kind", "status"]
    )
    counts = {
        (str(kind), str(status)): n
        for kind, status, n in db.session.execute(
            sa.select(Delivery.kind, Delivery.status, sa.func.count()).group_by(
                Delivery.kind, Delivery.status
            )
        )
    }
    for kind in DeliveryKind:
        for status in DeliveryStatus:
            by_status.add_metric([str(kind), str(status)], counts.get((str(kind), str(status)), 0))
    yield by_status

    sent, retries = db.session.execute(
        sa.select(
            sa.func.count().filter(
                Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.BOUNCED))
            ),
            sa.func.coalesce(
                sa.func.sum(sa.case((Delivery.attempts > 1, Delivery.attempts - 1), else_=0)), 0
            ),
        )
    ).one()
    sent_total = CounterMetricFamily(
        "newsletter_deliveries_sent", "Messages the relay accepted (sent or later bounced)"
    )
    sent_total.add_metric([], sent)
    yield sent_total
    retry_total = CounterMetricFamily(
        "newsletter_delivery_retries", "Delivery attempts after the first (temporary failures)"
    )
    retry_total.add_metric([], int(retries))
    yield retry_total

    per_relay = CounterMetricFamily(
        "newsletter_relay_deliveries",
        "Messages by the relay that answered last (host:port) and outcome: sent (accepted, "
        "including later bounces) or failed",
        labels=["relay", "outcome"],
    )
    for count in holds.relay_counts(db.session):
        per_relay.add_metric([count.relay, "sent"], count.sent)
        per_relay.add_metric([count.relay, "failed"], count.failed)
    yield per_relay
    paused = GaugeMetricFamily(
        "newsletter_paused_digests",
        "Digests that paused themselves (too many permanent failures) awaiting an administrator",
    )
    paused.add_metric([], len(holds.open_holds(db.session)))
    yield paused

    age = oldest_due_age(now)
    oldest = GaugeMetricFamily(
        "newsletter_oldest_due_delivery_age_seconds",
        "How long the oldest due queued delivery has waited (0 when none is due)",
    )
    oldest.add_metric([], age or 0.0)
    yield oldest

    last_run = GaugeMetricFamily(
        "newsletter_job_last_run_timestamp_seconds",
        "Start of the latest run of each scheduled job (Unix time)",
        labels=["job"],
    )
    last_ok = GaugeMetricFamily(
        "newsletter_job_last_run_success",
        "1 when the latest run of the job ended ok (or skipped), 0 on error or still running",
        labels=["job"],
    )
    last_duration = GaugeMetricFamily(
        "newsletter_job_last_run_duration_seconds",
        "Duration of the latest finished run of each job",
        labels=["job"],
    )
    latest = (
        sa.select(JobRun.job, sa.func.max(JobRun.started_at).label("started_at"))
        .group_by(JobRun.job)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(JobRun.job, JobRun.started_at, JobRun.finished_at, JobRun.status)
        .join(latest, sa.and_(JobRun.job == latest.c.job, JobRun.started_at == latest.c.started_at))
        .order_by(JobRun.job, JobRun.id.desc())
    ).all()
    seen: set[str] = set()
    for job, started, finished, status in rows:
        if job in seen:
            continue
        seen.add(job)
        last_run.add_metric([job], started.timestamp())
        last_ok.add_metric([job], 1 if status in ("ok", "skipped") else 0)
        if finished is not None:
            last_duration.add_metric([job], (finished - started).total_seconds())
    yield last_run
    yield last_ok
    yield last_duration

    subscribers = GaugeMetricFamily(
        "newsletter_subscribers", "Subscribers by status", labels=["status"]
    )
    for sub_status, how_many in count_by_status().items():
        subscribers.add_metric([sub_status], how_many)
    yield subscribers


def make_registry(app: Flask) -> CollectorRegistry:
    """A registry of our own: the process-global default one would mix in stale state."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(app))
    return registry


def render(app: Flask, accept: str | None) -> tuple[bytes, str]:
    """The exposition the scraper asked for (Prometheus text, or OpenMetrics) and its type."""
    registry = app.extensions.get("newsletter_metrics")
    if registry is None:
        registry = app.extensions["newsletter_metrics"] = make_registry(app)
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
