"""The dashboard: aggregate numbers that match the rows, charts screen readers can describe."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from newsletter.admin import dashboard as service
from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.extensions import db
from newsletter.reference.models import Topic
from newsletter.subscriptions.models import (
    ConsentAction,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from tests.fixtures.admin import FAST_HASHING, DemoData

LABELS = {"subscribe": "S", "confirm": "C", "sent": "ok", "failed": "ko", "bounced": "b"}


def test_aggregates_match_the_rows(app: Flask, demo_data: DemoData) -> None:
    now = utcnow()
    data = service.dashboard("it", LABELS, now)
    # Subscribers per topic: the last point is every active subscription up to now.
    for series in data.subscribers_by_topic.series:
        expected = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Subscription)
            .join(Subscriber)
            .join(Topic)
            .where(Topic.slug == series.key, Subscriber.status == SubscriberStatus.ACTIVE)
        )
        assert series.values[-1] == expected
        assert list(series.values) == sorted(series.values)  # cumulative
    assert len(data.subscribers_by_topic.labels) == 12
    # Sign-ups and confirmations: the window holds every event after the first Monday.
    start = service.week_starts(now)[0]
    signups = dict((s.key, sum(s.values)) for s in data.signups_vs_confirmations.series)
    for action in (ConsentAction.SUBSCRIBE, ConsentAction.CONFIRM):
        expected = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ConsentEvent)
            .where(ConsentEvent.action == action, ConsentEvent.occurred_at >= start)
        )
        assert signups[str(action)] == expected > 0
    per_day = {s.key: sum(s.values) for s in data.deliveries_per_day.series}
    assert per_day == {
        "sent": demo_data.sent,
        "failed": demo_data.failed,
        "bounced": demo_data.bounced,
    }
    assert data.queue.due == demo_data.queued_due == 7
    assert data.queue.queued == 12
    assert 24 * 60 < (data.queue.oldest_due_age_seconds or 0) < 26 * 60
    assert data.subscribers_by_status["active"] == demo_data.active


def test_weeks_follow_rome_mondays_across_dst(app: Flask) -> None:
    from datetime import UTC, datetime

    bounds = service.week_starts(datetime(2026, 11, 22, 12, tzinfo=UTC))
    assert bounds[-1] == datetime(2026, 11, 22, 23, tzinfo=UTC)  # Mon 23 Nov 00:00 CET
    assert datetime(2026, 10, 4, 22, tzinfo=UTC) in bounds  # Mon 5 Oct 00:00 CEST


def test_an_event_lands_in_its_week(app: Flask) -> None:
    now = utcnow()
    subscriber = Subscriber(email="uno@example.org", status=SubscriberStatus.PENDING)
    db.session.add(subscriber)
    db.session.flush()
    db.session.add(
        ConsentEvent(
            subscriber_id=subscriber.id,
            action=ConsentAction.SUBSCRIBE,
            occurred_at=now - timedelta(weeks=3),
            notice_version="2026-11",
            channel="web",
        )
    )
    db.session.commit()
    chart = service.signups_vs_confirmations(now, LABELS)
    signups = chart.series[0].values
    assert sum(signups) == 1
    assert signups[-4] == 1 or signups[-5] == 1  # three weeks back, give or take a weekday


def test_dashboard_page_has_accessible_charts_and_tables(
    editor_client: FlaskClient, demo_data: DemoData
) -> None:
    page = editor_client.get("/admin/").get_data(as_text=True)
    assert page.count('role="img"') == 3
    assert page.count("<desc id=") == 3
    assert page.count("<details") == 3
    assert page.count("<table") == 3
    assert f"<dd>{demo_data.active}</dd>" in page
    assert "<dd>7</dd>" in page  # due now
    assert "persona0" not in page  # aggregates only: no addresses on the dashboard


def test_dashboard_with_no_data_at_all(editor_client: FlaskClient) -> None:
    page = editor_client.get("/admin/")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('role="img"') == 3


def test_delivery_bucketing_uses_sent_time(app: Flask) -> None:
    now = utcnow()
    db.session.add_all(
        [
            Delivery(kind="confirm", status=DeliveryStatus.SENT, sent_at=now - timedelta(days=1)),
            Delivery(kind="confirm", status=DeliveryStatus.SENT, sent_at=now - timedelta(days=30)),
            Delivery(kind="confirm", status=DeliveryStatus.QUEUED),
        ]
    )
    db.session.commit()
    chart = service.deliveries_per_day(now, LABELS)
    sent = chart.series[0].values
    assert sum(sent) == 1
    assert sent[-2] == 1 or sent[-1] == 1


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)
