"""``/metrics`` reads the database at scrape time; ``/healthz`` reports late mail."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.extensions import db
from newsletter.scheduling.models import JobRun
from newsletter.subscriptions.models import Subscriber, SubscriberStatus
from tests.conftest import make_app


def _scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _queue(n: int, **fields: object) -> list[Delivery]:
    rows = [Delivery(kind=DeliveryKind.CONFIRM, **fields) for _ in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def test_numbers_move_when_deliveries_are_sent(app: Flask, client: FlaskClient) -> None:
    now = utcnow()
    rows = _queue(3, next_attempt_at=now - timedelta(minutes=10))
    before = _scrape(client)
    queued = ("newsletter_deliveries", (("kind", "confirm"), ("status", "queued")))
    sent = ("newsletter_deliveries", (("kind", "confirm"), ("status", "sent")))
    assert before[queued] == 3
    assert before[sent] == 0
    assert before[("newsletter_deliveries_sent_total", ())] == 0
    assert before[("newsletter_oldest_due_delivery_age_seconds", ())] >= 600
    assert before[("newsletter_database_up", ())] == 1

    # A sender elsewhere (another process) delivers two of them, one after a retry.
    rows[0].status = DeliveryStatus.SENT
    rows[0].attempts = 1
    rows[0].sent_at = now
    rows[1].status = DeliveryStatus.SENT
    rows[1].attempts = 3
    rows[1].sent_at = now
    rows[2].attempts = 1
    rows[2].next_attempt_at = now + timedelta(minutes=5)
    db.session.commit()

    after = _scrape(client)
    assert after[queued] == 1
    assert after[sent] == 2
    assert after[("newsletter_deliveries_sent_total", ())] == 2
    assert after[("newsletter_delivery_retries_total", ())] == 2
    assert after[("newsletter_oldest_due_delivery_age_seconds", ())] == 0


def test_last_run_of_each_job(app: Flask, client: FlaskClient) -> None:
    now = utcnow()
    db.session.add_all(
        [
            JobRun(
                job="daily",
                scheduled_for=now - timedelta(days=1),
                started_at=now - timedelta(days=1),
                finished_at=now - timedelta(days=1),
                status="error",
            ),
            JobRun(
                job="daily",
                scheduled_for=now - timedelta(hours=1),
                started_at=now - timedelta(hours=1),
                finished_at=now - timedelta(hours=1) + timedelta(seconds=42),
                status="ok",
            ),
            JobRun(job="poll-sources", scheduled_for=now, started_at=now, status="running"),
        ]
    )
    db.session.commit()
    samples = _scrape(client)
    last = samples[("newsletter_job_last_run_timestamp_seconds", (("job", "daily"),))]
    assert abs(last - (now - timedelta(hours=1)).timestamp()) < 1
    assert samples[("newsletter_job_last_run_success", (("job", "daily"),))] == 1
    assert samples[("newsletter_job_last_run_duration_seconds", (("job", "daily"),))] == 42
    assert samples[("newsletter_job_last_run_success", (("job", "poll-sources"),))] == 0
    assert ("newsletter_job_last_run_duration_seconds", (("job", "poll-sources"),)) not in samples


def test_subscribers_by_status(app: Flask, client: FlaskClient) -> None:
    db.session.add_all(
        [
            Subscriber(email="a@example.org", status=SubscriberStatus.ACTIVE),
            Subscriber(email="b@example.org", status=SubscriberStatus.ACTIVE),
            Subscriber(email="c@example.org", status=SubscriberStatus.BOUNCED),
        ]
    )
    db.session.commit()
    samples = _scrape(client)
    assert samples[("newsletter_subscribers", (("status", "active"),))] == 2
    assert samples[("newsletter_subscribers", (("status", "bounced"),))] == 1
    assert samples[("newsletter_subscribers", (("status", "pending"),))] == 0


def test_metrics_use_their_own_registry(app: Flask, client: FlaskClient) -> None:
    """No process-global collectors (python_gc_*, process_*) that differ per worker."""
    text = client.get("/metrics").get_data(as_text=True)
    assert "python_gc" not in text
    assert "process_cpu" not in text
    assert re.search(r"^# TYPE newsletter_deliveries_sent_total counter$", text, re.M)


def test_metrics_report_a_database_outage(tmp_path: Path) -> None:
    """An unreachable database is a metric (database_up 0), not a 500 for the scraper."""
    unreachable = make_app(f"sqlite:///{tmp_path}/missing-dir/none.sqlite3", tmp_path / "i")
    response = unreachable.test_client().get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "newsletter_database_up 0.0" in text
    assert "newsletter_deliveries{" not in text


def test_healthz_degrades_when_due_mail_waits_too_long(app: Flask, client: FlaskClient) -> None:
    now = utcnow()
    limit = app.config["HEALTH_QUEUE_MAX_AGE"]
    _queue(1, next_attempt_at=now - timedelta(seconds=limit // 2))
    fresh = client.get("/healthz")
    assert fresh.status_code == 200
    assert fresh.json is not None
    assert fresh.json["status"] == "ok"
    _queue(1, next_attempt_at=now - timedelta(seconds=limit + 60))
    late = client.get("/healthz")
    assert late.status_code == 200  # the web side works; a monitor alerts on "degraded"
    assert late.json is not None
    assert late.json["status"] == "degraded"
    assert late.json["oldest_due_delivery_age_seconds"] >= limit + 60
