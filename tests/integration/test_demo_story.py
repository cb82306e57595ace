"""``newsletter demo``'s story: a season of use, so every chart and the archive have data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter.admin import dashboard as admin
from newsletter.alerts import service as alert_service
from newsletter.alerts.models import AlertState
from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.digests import service as digests
from newsletter.extensions import db
from newsletter.ops import story
from newsletter.subscriptions.models import Role, Subscriber
from tests.fixtures.admin import FAST_HASHING, csrf_token

LABELS = {"subscribe": "S", "confirm": "C", "sent": "ok", "failed": "ko", "bounced": "b"}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return dict(FAST_HASHING)


def test_the_story_fills_every_chart_and_the_archive(app: Flask, capsys: Any) -> None:
    now = utcnow()
    story.load_story(app)
    printed = capsys.readouterr().out
    assert "48 mayors" in printed

    subscribers = list(db.session.scalars(sa.select(Subscriber)))
    mayors = [s for s in subscribers if s.role is Role.MAYOR]
    assert len(mayors) == 48
    assert len({m.municipality_id for m in mayors}) == 48
    citizens = [s for s in subscribers if s.role is Role.CITIZEN]
    assert len(citizens) >= 300
    assert {s.locale for s in citizens} == {"it", "en"}
    assert {s.frequency.value for s in citizens} == {"immediate", "daily", "weekly"}
    assert {slug for s in citizens for slug in s.topic_slugs} == {
        "welfare",
        "mobility",
        "energy",
        "governance",
    }
    first = min(s.created_at for s in citizens)
    assert now - first > timedelta(weeks=11)  # sign-ups spread over three months

    for locale in ("it", "en"):
        assert len(digests.list_editions(locale).items) == 6
    edition = digests.list_editions("it").items[0]
    assert digests.edition_sections(edition, "it")  # the editions have articles

    data = admin.dashboard("it", LABELS, now)
    for chart in (
        data.subscribers_by_topic,
        data.signups_vs_confirmations,
        data.deliveries_per_day,
    ):
        for series in chart.series:
            assert sum(series.values) > 0, series.key
    # Everything of the past was sent; only today's alerts wait for the demo's sender.
    queued_now = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Delivery)
        .where(Delivery.status == DeliveryStatus.QUEUED, Delivery.kind != DeliveryKind.ALERT)
    )
    assert queued_now == 0

    # Urgent alerts: two in force (a severe one approved by a second person), one withdrawn.
    active = alert_service.active_alerts()
    assert [a.severity.value for a in active] == ["severe", "moderate"]
    weather = active[0]
    assert weather.all_municipalities
    assert weather.messages[0].approved_by == story.ADMIN_EMAIL
    assert weather.messages[0].issued_by != story.ADMIN_EMAIL
    past = alert_service.past_alerts(1).items
    assert [a.state for a in past] == [AlertState.CANCELLED]
    assert all(m.alerts for m in mayors)
    assert any(c.alerts for c in citizens)
    assert not all(c.alerts for c in citizens)

    # The printed admin account signs in.
    line = next(x for x in printed.splitlines() if x.startswith("Demo admin"))
    password = line.rsplit(" ", 1)[1]
    assert (Path(app.instance_path) / "demo-admin.txt").read_text().strip() == password
    client = app.test_client()
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login",
        data={"email": story.ADMIN_EMAIL, "password": password, "csrf_token": token},
    )
    assert response.status_code == 302

    # A second start leaves the story alone and prints the same credentials.
    story.load_story(app)
    again = capsys.readouterr().out
    assert "Demo story" not in again
    assert password in again
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == len(subscribers)
