"""The real ``newsletter send`` process: SIGKILL at random moments, SIGTERM, two senders."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.extensions import db
from tests.e2e.conftest import clean_env
from tests.fixtures.delivery import Relay

CONCURRENCY = 2
WINDOW = 8  # SEND_MAX_UNRECORDED: most messages a sender has sent but not yet recorded


def sender_env(app: Flask, relay: Relay, database_url: str, **extra: str) -> dict[str, str]:
    return clean_env(
        Path(app.instance_path),
        NEWSLETTER_ENV="test",
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SMTP_PORT=str(relay.port),
        NEWSLETTER_SEND_CONCURRENCY=str(CONCURRENCY),
        NEWSLETTER_SEND_BATCH_SIZE="100",
        NEWSLETTER_SEND_LEASE_SECONDS="2",
        NEWSLETTER_SEND_IDLE_SECONDS="0.2",
        NEWSLETTER_SEND_MAX_UNRECORDED=str(WINDOW),
        **extra,
    )


def start_sender(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter.cli", "send", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def statuses() -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)
    ).all()
    return {str(status): count for status, count in rows}


@pytest.mark.slow
def test_sigkill_three_times_loses_nothing_and_duplicates_stay_in_the_window(
    app: Flask, relay: Relay, outbox: Callable[..., Any], database_url: str
) -> None:
    _, _ids = outbox(2000)
    # At full speed a sender finishes the 2,000 within a second, before the third kill; at 500
    # a second each run sends at most ~450 before it is killed, so every kill hits mid-run.
    env = sender_env(app, relay, database_url, NEWSLETTER_SEND_RATE="500")
    rng = random.Random()
    delivered_at_kill = []
    for _ in range(3):
        before = len(relay.handler.received)
        proc = start_sender(env)
        wait_for(lambda before=before: len(relay.handler.received) > before + 20)  # type: ignore[misc]
        time.sleep(rng.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        delivered_at_kill.append(len(relay.handler.received))
    assert delivered_at_kill[-1] < 2000 + 3 * WINDOW, "every kill must hit a sender mid-run"
    assert statuses().get("sent", 0) < 2000

    time.sleep(2.5)  # the killed senders' leases expire
    final = start_sender(env, "--until-idle")
    output, _ = final.communicate(timeout=180)
    assert final.returncode == 0, output

    counts = relay.handler.by_recipient()
    assert set(counts) == {f"reader{n}@example.org" for n in range(2000)}
    duplicates = sum(counts.values()) - len(counts)
    assert duplicates <= 3 * WINDOW
    assert statuses() == {"sent": 2000}


@pytest.mark.slow
def test_sigterm_finishes_the_message_in_flight_and_exits_0(
    app: Flask, relay: Relay, outbox: Callable[..., Any], database_url: str
) -> None:
    outbox(3000)
    env = sender_env(app, relay, database_url, NEWSLETTER_SEND_RATE="300")
    proc = start_sender(env)
    wait_for(lambda: len(relay.handler.received) > 50)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=20)

    assert proc.returncode == 0, output
    counts = statuses()
    assert "sending" not in counts, "claimed rows are given back on SIGTERM"
    assert 0 < counts["sent"] < 3000
    assert counts["sent"] == len(relay.handler.received)
    assert max(relay.handler.by_recipient().values()) == 1


@pytest.mark.postgres
@pytest.mark.slow
def test_two_senders_on_postgres_deliver_5000_without_duplicates(
    app: Flask, relay: Relay, outbox: Callable[..., Any], database_url: str
) -> None:
    outbox(5000)
    env = sender_env(app, relay, database_url)
    senders = [start_sender(env, "--until-idle") for _ in range(2)]
    outputs = [proc.communicate(timeout=300)[0].decode() for proc in senders]

    assert [proc.returncode for proc in senders] == [0, 0], outputs
    counts = relay.handler.by_recipient()
    assert len(counts) == 5000
    assert set(counts.values()) == {1}
    assert statuses() == {"sent": 5000}
    workers = db.session.execute(
        sa.select(sa.func.count(sa.distinct(Delivery.message_id))).where(
            Delivery.status == DeliveryStatus.SENT
        )
    ).scalar_one()
    assert workers == 5000
    sent_by = [int(o.split("sent ", 1)[1].split(",", 1)[0]) for o in outputs]
    assert sum(sent_by) == 5000
    assert min(sent_by) > 0, f"both senders took part: {sent_by}"
