"""The real ``newsletter send`` process with push rows: SIGKILL mid-run loses no notification,
and duplicates stay within the rows that were in flight."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter.delivery.models import Delivery, DeliveryKind
from newsletter.digests.service import build_digests
from newsletter.extensions import db
from newsletter.push import service
from tests.e2e.conftest import clean_env
from tests.e2e.test_delivery_processes import start_sender, wait_for
from tests.fixtures.digests import add_article
from tests.fixtures.push import PushService

BROWSERS = 150
WORKERS = 4
AT = datetime(2026, 11, 24, 9, 4, tzinfo=UTC)


@pytest.mark.slow
def test_sigkill_loses_no_push_notification(
    app: Flask, runner: FlaskCliRunner, push_service: PushService, database_url: str
) -> None:
    assert runner.invoke(args=["push", "keys"]).exit_code == 0
    browsers = [push_service.browser() for _ in range(BROWSERS)]
    for browser in browsers:
        choice = service.parse_choice(
            {"subscription": browser.subscription(), "topics": ["energy"]}
        )
        service.subscribe(choice)
    add_article("Nasce la comunità energetica", ["energy"], AT - timedelta(minutes=2))
    build_digests("immediate", AT + timedelta(minutes=10))
    push_service.delay = 0.01  # a push service that takes its time: kills land mid-run
    env = clean_env(
        Path(app.instance_path),
        NEWSLETTER_ENV="test",
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_CHANNEL_CONCURRENCY=str(WORKERS),
        NEWSLETTER_CHANNEL_BATCH_SIZE="50",
        NEWSLETTER_SEND_LEASE_SECONDS="2",
        NEWSLETTER_SEND_IDLE_SECONDS="0.2",
    )
    at_kill = []
    for _ in range(3):
        before = len(push_service.received)
        proc = start_sender(env)
        wait_for(lambda before=before: len(push_service.received) > before + 20)  # type: ignore[misc]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_kill.append(len(push_service.received))
    assert at_kill[-1] < BROWSERS, "every kill must hit the sender mid-run"

    time.sleep(2.5)  # the killed sender's leases expire
    final = start_sender(env, "--until-idle")
    output, _ = final.communicate(timeout=180)
    assert final.returncode == 0, output

    got: dict[str, int] = {}
    for received in push_service.received:
        got[received.token] = got.get(received.token, 0) + 1
    assert set(got) == {b.token for b in browsers}  # nobody lost
    duplicates = sum(got.values()) - len(got)
    assert duplicates <= 3 * 2 * WORKERS  # at most the rows in flight at each kill
    assert not push_service.errors
    db.session.expire_all()
    statuses = db.session.execute(
        sa.select(Delivery.status, sa.func.count())
        .where(Delivery.kind == DeliveryKind.PUSH)
        .group_by(Delivery.status)
    ).all()
    assert {str(s): n for s, n in statuses} == {"sent": BROWSERS}
